//! Tests of the example plugin.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use agora_plugin_api::SourcePlugin;

use super::*;

/// A file in the temp directory, removed when dropped (no test dependencies needed).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn open_file(text: &[u8], checkpoint: &[u8]) -> (TempFile, KvSource) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("agora-example-{}-{}-events.kv", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let file = TempFile(std::env::temp_dir().join(name));
    fs::write(&file.0, text).unwrap();
    let config = format!("{{\"path\": \"{}\"}}", file.0.display().to_string().replace('\\', "\\\\"));
    let source = KvSource::open(config.as_bytes(), checkpoint).unwrap();
    (file, source)
}

fn lines(result: &PollResult) -> Vec<String> {
    String::from_utf8(result.batch.clone()).unwrap().lines().map(|line| line.split_once(",").unwrap().1.to_string()).collect()
}

#[test]
fn key_value_lines_become_records_and_bad_tokens_error_lines() {
    let text = b"user=u1 item=i9 kind=view ts=2024-01-02T03:04:05Z\n\nuser=u2 oops\nk=\"q\"\n";
    let (_dir, mut source) = open_file(text, b"");
    let result = source.poll(10, b"").unwrap();
    assert_eq!(
        lines(&result),
        [
            r#""fields":{"user":"u1","item":"i9","kind":"view","ts":"2024-01-02T03:04:05Z"}}"#,
            r#""error":"malformed_line","raw":"user=u2 oops"}"#,
            r#""fields":{"k":"\"q\""}}"#,
        ]
    );
    assert_eq!(result.records, 3);
    assert!(result.caught_up);
    assert_eq!(result.checkpoint, text.len().to_string().into_bytes());
}

#[test]
fn polls_resume_from_the_checkpoint() {
    let (_dir, mut source) = open_file(b"a=1\nb=2\nc=3\n", b"");
    let first = source.poll(2, b"").unwrap();
    assert_eq!((first.records, first.checkpoint.as_slice(), first.caught_up), (2, &b"8"[..], false));
    assert!(String::from_utf8(first.batch).unwrap().contains("events.kv@4"));
    let rest = source.poll(10, &first.checkpoint).unwrap();
    assert_eq!(lines(&rest), [r#""fields":{"c":"3"}}"#]);
    // A fresh open from the same checkpoint gives the same rest.
    let (_dir, mut again) = open_file(b"a=1\nb=2\nc=3\n", b"8");
    assert_eq!(lines(&again.poll(10, b"8").unwrap()), [r#""fields":{"c":"3"}}"#]);
}

#[test]
fn invalid_utf8_is_an_error_line() {
    let (_dir, mut source) = open_file(b"a=\xff\n", b"");
    assert_eq!(lines(&source.poll(10, b"").unwrap()), ["\"error\":\"invalid_utf8\",\"raw\":\"a=\u{fffd}\"}"]);
}

#[test]
fn params_and_checkpoints_are_checked() {
    assert_eq!(string_param(r#"{ "path" : "a\"b\\c.kv" }"#, "path").unwrap(), "a\"b\\c.kv");
    assert!(string_param(r#"{"file": "x"}"#, "path").unwrap_err().contains("missing string parameter `path`"));
    assert!(string_param(r#"{"path": "\u0041"}"#, "path").unwrap_err().contains("escape"));
    assert!(parse_checkpoint(b"12x").unwrap_err().contains("invalid checkpoint"));
    assert!(KvSource::open(br#"{"path": "/no/such/file.kv"}"#, b"").err().unwrap().contains("/no/such/file.kv"));
}
