//! The record batch a poll returns, written straight into the `agora-batch/1` encoding.

use agora_plugin_api::push_json_string;

use crate::context::Locator;

/// The lines of one poll: record lines and error lines, counted.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    records: u64,
}

/// A point a batch can be rolled back to (see [`Batch::rollback`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    records: u64,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), records: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Lines written so far (records and errors).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends a record line whose `fields` object `write_fields` writes (it must write exactly
    /// one JSON object). Same bytes as [`agora_plugin_api::push_record_line`], without needing the
    /// fields as a separate string first.
    pub fn push_record(&mut self, at: &Locator<'_>, write_fields: impl FnOnce(&mut Vec<u8>)) {
        self.bytes.extend_from_slice(b"{\"offset\":");
        at.push_json(&mut self.bytes);
        self.bytes.extend_from_slice(b",\"fields\":");
        write_fields(&mut self.bytes);
        self.bytes.extend_from_slice(b"}\n");
        self.records += 1;
    }

    /// Appends a record line whose fields are already JSON object text.
    pub fn push_record_json(&mut self, at: &Locator<'_>, fields_json: &str) {
        self.push_record(at, |out| out.extend_from_slice(fields_json.as_bytes()));
    }

    /// Appends an error line: a record that was read but could not be parsed.
    pub fn push_error(&mut self, at: &Locator<'_>, reason: &str, raw: &str) {
        self.bytes.extend_from_slice(b"{\"offset\":");
        at.push_json(&mut self.bytes);
        self.bytes.extend_from_slice(b",\"error\":");
        push_json_string(&mut self.bytes, reason);
        self.bytes.extend_from_slice(b",\"raw\":");
        push_json_string(&mut self.bytes, raw);
        self.bytes.extend_from_slice(b"}\n");
        self.records += 1;
    }

    /// Remembers the current end of the batch.
    pub fn mark(&self) -> Mark {
        Mark { len: self.bytes.len(), records: self.records }
    }

    /// Drops every line written after `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.bytes.truncate(mark.len);
        self.records = mark.records;
    }

    /// The encoded lines.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::FileCtx;
    use crate::files::{FileKey, ListedFile};
    use agora_plugin_api::{push_error_line, push_record_line};
    use std::path::PathBuf;

    fn ctx() -> FileCtx {
        FileCtx::new(&ListedFile { path: PathBuf::from("a\\b.csv"), key: FileKey::Path(PathBuf::from("a")), size: 0 }, false)
    }

    #[test]
    fn lines_match_the_plugin_api_encoding() {
        let ctx = ctx();
        let mut batch = Batch::new();
        batch.push_record_json(&ctx.at(7), r#"{"a":"1"}"#);
        batch.push_error(&ctx.at(20), "invalid_utf8", "x\"\n");
        let mut expected = Vec::new();
        push_record_line(&mut expected, "a\\b.csv@7", r#"{"a":"1"}"#);
        push_error_line(&mut expected, "a\\b.csv@20", "invalid_utf8", "x\"\n");
        assert_eq!(batch.records(), 2);
        assert_eq!(String::from_utf8(batch.into_bytes()).unwrap(), String::from_utf8(expected).unwrap());
    }

    #[test]
    fn rollback_drops_lines_after_the_mark() {
        let ctx = ctx();
        let mut batch = Batch::new();
        batch.push_record_json(&ctx.at(0), "{}");
        let mark = batch.mark();
        batch.push_record_json(&ctx.at(3), "{}");
        batch.rollback(mark);
        assert_eq!(batch.records(), 1);
        assert_eq!(batch.into_bytes(), b"{\"offset\":\"a\\\\b.csv@0\",\"fields\":{}}\n");
    }
}
