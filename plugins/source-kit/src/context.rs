//! What a format is told about the file it reads, and record locators (`<path>@<byte offset>`).

use std::fmt;
use std::path::{Path, PathBuf};

use agora_plugin_api::push_json_string;

use crate::files::{FileKey, ListedFile};

/// The file a format is reading from.
#[derive(Debug)]
pub struct FileCtx {
    path: PathBuf,
    key: FileKey,
    follow: bool,
    /// The path as shown in locators.
    shown: String,
    /// `"<path>@` JSON-escaped, without the closing quote: the locator up to its offset.
    json_prefix: Vec<u8>,
}

impl FileCtx {
    /// Context for `file`; `follow` is the source's tail mode.
    pub fn new(file: &ListedFile, follow: bool) -> Self {
        let shown = file.path.to_string_lossy().into_owned();
        let mut json_prefix = Vec::with_capacity(shown.len() + 3);
        push_json_string(&mut json_prefix, &shown);
        json_prefix.pop();
        json_prefix.push(b'@');
        Self { path: file.path.clone(), key: file.key.clone(), follow, shown, json_prefix }
    }

    /// The file's path as listed this poll.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's identity (cache per-file state under it).
    pub fn key(&self) -> &FileKey {
        &self.key
    }

    /// Whether the source tails its files (an unterminated last record will be held back).
    pub fn follow(&self) -> bool {
        self.follow
    }

    /// The locator of the record starting at byte `start`.
    pub fn at(&self, start: u64) -> Locator<'_> {
        Locator { file: self, start }
    }
}

/// Where a record starts; displays as `<path>@<byte offset>`.
#[derive(Clone, Copy, Debug)]
pub struct Locator<'a> {
    file: &'a FileCtx,
    start: u64,
}

impl Locator<'_> {
    /// The byte offset of the record's first byte.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Appends the locator as a JSON string.
    pub(crate) fn push_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.file.json_prefix);
        push_decimal(out, self.start);
        out.push(b'"');
    }
}

impl fmt::Display for Locator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.file.shown, self.start)
    }
}

/// Appends `value` in decimal ASCII (no allocation; on every record's hot path).
pub fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_display_and_encode_path_at_offset() {
        let file = ListedFile { path: PathBuf::from("dir/a\"b.csv"), key: FileKey::Path(PathBuf::from("x")), size: 0 };
        let ctx = FileCtx::new(&file, false);
        assert_eq!(ctx.at(1234).to_string(), "dir/a\"b.csv@1234");
        let mut out = Vec::new();
        ctx.at(0).push_json(&mut out);
        assert_eq!(out, br#""dir/a\"b.csv@0""#);
        out.clear();
        ctx.at(u64::MAX).push_json(&mut out);
        assert_eq!(out, format!("\"dir/a\\\"b.csv@{}\"", u64::MAX).as_bytes());
    }
}
