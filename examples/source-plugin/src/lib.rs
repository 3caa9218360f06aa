//! A minimal third-party Agora source plugin: reads `key=value` lines from one file.
//!
//! Copy this crate to start your own plugin. It depends only on `agora-plugin-api`, the crate
//! that defines Agora's C ABI. A line such as
//!
//! ```text
//! user=u1 item=i9 kind=view ts=2024-01-02T03:04:05Z
//! ```
//!
//! becomes the record `{"user":"u1","item":"i9","kind":"view","ts":"2024-01-02T03:04:05Z"}`.
//! Values are strings; the host coerces them to the types of the fields they are mapped to.
//! A line with a token that has no `=` becomes an error line (`malformed_line`) so the host can
//! quarantine it: a plugin never drops a record silently.
//!
//! The plugin reads a file once (no tailing). Its checkpoint is the number of bytes consumed,
//! as decimal ASCII (`"1234"`): the host hands it back on every poll and after a restart.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};

use agora_plugin_api::{push_error_line, push_json_string, push_record_line, PollResult, SourcePlugin};

/// One open source. The host creates it with `open` and calls `poll` on one thread at a time.
pub struct KvSource {
    path: String,
    reader: BufReader<File>,
    /// Bytes consumed so far: where `reader` stands.
    position: u64,
}

impl SourcePlugin for KvSource {
    fn open(config: &[u8], checkpoint: &[u8]) -> Result<Self, String> {
        // `config` is the source's `params` table as JSON, e.g. {"path": "logs/events.kv"}.
        let config = std::str::from_utf8(config).map_err(|_| "example-kv params are not UTF-8".to_string())?;
        let path = string_param(config, "path")?;
        let file = File::open(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        let mut source = Self { path, reader: BufReader::new(file), position: 0 };
        source.seek_to(parse_checkpoint(checkpoint)?)?;
        Ok(source)
    }

    fn poll(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<PollResult, String> {
        // Resume from the checkpoint the host passes. Usually it is the one our last poll
        // returned, so we are already there; after a restart it is the last committed one.
        self.seek_to(parse_checkpoint(checkpoint)?)?;
        let mut result = PollResult::default();
        let mut line = Vec::new();
        while result.records < u64::from(max_records) {
            line.clear();
            let read = self.reader.read_until(b'\n', &mut line).map_err(|err| format!("cannot read {}: {err}", self.path))?;
            if read == 0 {
                break; // end of file
            }
            // The locator tells the host (and a person reading a quarantine report) where the
            // record came from: "<path>@<byte offset of the line>".
            let offset = format!("{}@{}", self.path, self.position);
            self.position += read as u64;
            match line_to_json(&line) {
                Ok(None) => continue, // a blank line is not a record
                Ok(Some(fields)) => push_record_line(&mut result.batch, &offset, &fields),
                Err(reason) => push_error_line(&mut result.batch, &offset, reason, String::from_utf8_lossy(&line).trim_end()),
            }
            result.records += 1;
        }
        let size = self.reader.get_ref().metadata().map_err(|err| format!("cannot read {}: {err}", self.path))?.len();
        result.checkpoint = self.position.to_string().into_bytes();
        result.progress = (self.position, size);
        result.caught_up = self.position >= size;
        Ok(result)
    }
}

impl KvSource {
    /// Moves the reader to byte `offset` (no work when it is already there).
    fn seek_to(&mut self, offset: u64) -> Result<(), String> {
        if offset != self.position {
            self.reader.seek(SeekFrom::Start(offset)).map_err(|err| format!("cannot seek {} to byte {offset}: {err}", self.path))?;
            self.position = offset;
        }
        Ok(())
    }
}

/// Turns one line into a JSON object of its `key=value` tokens; `None` for a blank line, or
/// the error reason.
fn line_to_json(line: &[u8]) -> Result<Option<String>, &'static str> {
    let text = std::str::from_utf8(line).map_err(|_| "invalid_utf8")?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut json = Vec::from(&b"{"[..]);
    for (index, token) in text.split_whitespace().enumerate() {
        let (key, value) = token.split_once('=').ok_or("malformed_line")?;
        if index > 0 {
            json.push(b',');
        }
        push_json_string(&mut json, key);
        json.push(b':');
        push_json_string(&mut json, value);
    }
    json.push(b'}');
    Ok(Some(String::from_utf8(json).expect("built only from UTF-8 text")))
}

/// The checkpoint is the byte offset in decimal; empty means "start from the beginning".
fn parse_checkpoint(checkpoint: &[u8]) -> Result<u64, String> {
    if checkpoint.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(checkpoint)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("invalid checkpoint {:?}: expected a byte offset", String::from_utf8_lossy(checkpoint)))
}

/// Finds `"name": "value"` in the params JSON and returns the value.
///
/// A deliberately minimal parser, to keep this example free of dependencies. Limitations: it
/// takes the first occurrence of `"name"` anywhere in the text (even inside another string),
/// ignores every other key, and only understands the escapes `\"`, `\\` and `\/`. A real plugin
/// should use `serde_json` and reject unknown keys.
fn string_param(config: &str, name: &str) -> Result<String, String> {
    let missing = || format!("example-kv params: missing string parameter `{name}` (valid keys: {name})");
    let after_key = config.find(&format!("\"{name}\"")).ok_or_else(missing)? + name.len() + 2;
    let rest = config[after_key..].trim_start().strip_prefix(':').ok_or_else(missing)?;
    let mut chars = rest.trim_start().strip_prefix('"').ok_or_else(missing)?.chars();
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(format!("example-kv params: `{name}` is an unterminated string")),
            Some('"') => return Ok(value),
            Some('\\') => match chars.next() {
                Some(escaped @ ('"' | '\\' | '/')) => value.push(escaped),
                _ => return Err(format!("example-kv params: `{name}` uses an escape this example does not support")),
            },
            Some(other) => value.push(other),
        }
    }
}

// Exports the three C symbols Agora looks for. `name` is what a source's `plugin = "..."` names.
agora_plugin_api::export_source! {
    plugin: KvSource,
    name: "example-kv",
    version: env!("CARGO_PKG_VERSION"),
    capabilities: "file",
    description: "example plugin: reads key=value lines from one file",
}

#[cfg(test)]
mod tests;
