//! The jsonl record format: one JSON object per line, passed through as the record's fields.

use std::io::BufRead;

use agora_source_kit::{parse_params, Batch, FileCtx, FileParams, FileReader, RecordFormat, Step};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// `params` of a jsonl source: just the kit's file params.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlParams {
    #[serde(flatten)]
    files: FileParams,
}

/// Reads lines that are JSON objects.
#[derive(Debug, Default)]
pub struct JsonlFormat {
    /// The line being read, reused across records.
    line: Vec<u8>,
}

/// What a line turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Verdict<'a> {
    Object(&'a str),
    Blank,
    Error(&'static str),
}

/// Classifies one line (terminator included).
fn classify(line: &[u8]) -> Verdict<'_> {
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Verdict::Error("invalid_utf8");
    };
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Verdict::Blank;
    }
    // Validating into `IgnoredAny` checks the syntax (and that nothing trails the value) without
    // building it; a valid JSON text is an object exactly when it starts with `{`.
    match serde_json::from_str::<IgnoredAny>(text) {
        Err(_) => Verdict::Error("malformed_json"),
        Ok(_) if text.starts_with('{') => Verdict::Object(text),
        Ok(_) => Verdict::Error("not_an_object"),
    }
}

impl RecordFormat for JsonlFormat {
    type FileState = ();

    fn from_config(config: &[u8]) -> Result<(FileParams, Self), String> {
        let params: JsonlParams = parse_params("jsonl", config, &[])?;
        params.files.validate("jsonl")?;
        Ok((params.files, Self::default()))
    }

    fn read_record(&mut self, file: &FileCtx, _state: &mut (), reader: &mut FileReader, batch: &mut Batch) -> Result<Step, String> {
        loop {
            let start = reader.position();
            self.line.clear();
            let read = reader.read_until(b'\n', &mut self.line).map_err(|err| format!("cannot read {}: {err}", file.path().display()))?;
            if read == 0 {
                return Ok(Step::Eof);
            }
            let terminated = self.line.ends_with(b"\n");
            match classify(&self.line) {
                Verdict::Blank if terminated => continue,
                Verdict::Blank => {}
                Verdict::Object(text) => batch.push_record_json(&file.at(start), text),
                Verdict::Error(reason) => {
                    let raw = String::from_utf8_lossy(&self.line);
                    batch.push_error(&file.at(start), reason, raw.trim_end_matches(['\r', '\n']));
                }
            }
            return Ok(Step::Consumed { terminated });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified() {
        assert_eq!(classify(b"  {\"a\": [1, {\"b\": null}]} \r\n"), Verdict::Object("{\"a\": [1, {\"b\": null}]}"));
        assert_eq!(classify(b"\xef\xbb\xbf{}\n"), Verdict::Object("{}"));
        assert_eq!(classify(b" \t\r\n"), Verdict::Blank);
        assert_eq!(classify(b"{\"a\":1\n"), Verdict::Error("malformed_json"));
        assert_eq!(classify(b"{\"a\":1} {}\n"), Verdict::Error("malformed_json"));
        assert_eq!(classify(b"[1,2]\n"), Verdict::Error("not_an_object"));
        assert_eq!(classify(b"\"{}\"\n"), Verdict::Error("not_an_object"));
        assert_eq!(classify(b"{\"a\":\"\xff\"}\n"), Verdict::Error("invalid_utf8"));
    }
}
