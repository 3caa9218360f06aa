//! Tests of the jsonl plugin through its `SourcePlugin` implementation.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use agora_plugin_api::SourcePlugin;
use agora_source_kit::testing::{drain, drain_open, open, parse_batch};
use serde_json::{json, Value};

use crate::JsonlSource;

fn params(path: &Path, follow: bool) -> Value {
    json!({"path": path.to_string_lossy(), "follow": follow})
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn append(path: &Path, bytes: &[u8]) {
    fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn objects_pass_through_unchanged_with_locators() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{\"b\": 1.50, \"a\": {\"x\": [true]}}\n\n{\"u\":\"\\u00e9\"}\r\n");
    let mut source: JsonlSource = open(&params(&path, false), b"").unwrap();
    let result = source.poll(10, b"").unwrap();
    let batch = String::from_utf8(result.batch.clone()).unwrap();
    // The original text, spacing and number spelling included, is the fields value.
    assert!(batch.contains(r#""fields":{"b": 1.50, "a": {"x": [true]}}}"#), "{batch}");
    let lines = parse_batch(&result).unwrap();
    let shown = path.to_string_lossy();
    assert_eq!(lines.iter().map(|l| l.offset().to_string()).collect::<Vec<_>>(), [format!("{shown}@0"), format!("{shown}@33")]);
    assert!(result.caught_up);
}

#[test]
fn bad_lines_become_error_lines_and_later_lines_still_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{\"n\":1}\n{\"n\":\"\xff\"}\nnot json\n[1]\n42\n{\"n\":2}\n");
    let out = drain::<JsonlSource>(&params(&path, false), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"n": 1}), json!({"n": 2})]);
    let reasons: Vec<String> = out.errors().into_iter().map(|(reason, _)| reason).collect();
    assert_eq!(reasons, ["invalid_utf8", "malformed_json", "not_an_object", "not_an_object"]);
    assert_eq!(out.errors()[0].1, "{\"n\":\"\u{fffd}\"}");
    assert_eq!(out.errors()[1].1, "not json");
}

#[test]
fn resuming_from_any_checkpoint_gives_exactly_the_remaining_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{\"n\":1}\n{\"n\":2}\n\nbad\n{\"n\":3}\n{\"n\":4}");
    let config = params(&path, false);
    let all = drain::<JsonlSource>(&config, b"", 100).unwrap();
    assert_eq!(all.lines.len(), 5);
    for split in 0..5 {
        let mut first: JsonlSource = open(&config, b"").unwrap();
        let head = first.poll(split, b"").unwrap();
        let mut joined = parse_batch(&head).unwrap();
        joined.extend(drain::<JsonlSource>(&config, &head.checkpoint, 2).unwrap().lines);
        assert_eq!(joined, all.lines, "split after {split} lines");
    }
}

#[test]
fn follow_picks_up_appended_lines_and_holds_back_a_partial_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{\"n\":1}\n{\"n\":");
    let mut source: JsonlSource = open(&params(&path, true), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"n": 1})]);
    assert_eq!(out.progress, (8, 13));
    append(&path, b"2}");
    let waiting = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert!(waiting.lines.is_empty(), "a complete object without its newline still waits");
    append(&path, b"\n{\"n\":3}\n");
    let more = drain_open(&mut source, &waiting.checkpoint, 10).unwrap();
    assert_eq!(more.fields(), [json!({"n": 2}), json!({"n": 3})]);
}

#[test]
fn a_glob_reads_files_in_path_order_and_sees_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.jsonl", b"{\"f\":\"b\"}\n");
    write(dir.path(), "a.jsonl", b"{\"f\":\"a\"}\n");
    let pattern = dir.path().join("*.jsonl");
    let mut source: JsonlSource = open(&params(&pattern, true), b"").unwrap();
    let out = drain_open(&mut source, b"", 1).unwrap();
    assert_eq!(out.fields(), [json!({"f": "a"}), json!({"f": "b"})]);
    write(dir.path(), "c.jsonl", b"{\"f\":\"c\"}\n");
    let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(more.fields(), [json!({"f": "c"})]);
}

#[test]
fn a_truncated_file_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{\"n\":1}\n{\"n\":2}\n");
    let mut source: JsonlSource = open(&params(&path, true), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    fs::write(&path, b"{\"n\":9}\n").unwrap();
    let again = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(again.fields(), [json!({"n": 9})]);
}

#[test]
fn unknown_params_and_missing_files_fail_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", b"{}\n");
    let err = open::<JsonlSource>(&json!({"path": path.to_string_lossy(), "delimiter": ","}), b"").unwrap_err();
    assert!(err.contains("unknown field `delimiter`") && err.contains("valid keys: path, extension, follow"), "{err}");
    let err = open::<JsonlSource>(&params(&dir.path().join("nope.jsonl"), false), b"").unwrap_err();
    assert!(err.contains("nope.jsonl"), "{err}");
    let err = open::<JsonlSource>(&params(&dir.path().join("*.json"), false), b"").unwrap_err();
    assert!(err.starts_with("no files match"), "{err}");
}

#[test]
fn the_declaration_names_the_plugin() {
    // SAFETY: the declaration is a static with NUL-terminated static strings.
    let declaration = unsafe { &*crate::agora_plugin_declaration() };
    // SAFETY: as above.
    let name = unsafe { std::ffi::CStr::from_ptr(declaration.name) };
    assert_eq!(name.to_str().unwrap(), "jsonl");
    assert_eq!(declaration.kind, agora_plugin_api::KIND_SOURCE);
}

/// Throughput check: `cargo test --release -p agora-source-jsonl -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run, not a correctness test"]
fn a_million_lines_stream_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut text = String::new();
    for i in 0..1_000_000 {
        text.push_str(&format!(
            "{{\"user_id\":\"u{}\",\"item_id\":\"i{}\",\"kind\":\"view\",\"ts\":\"2024-01-02T03:04:{:02}Z\",\"price\":{}.99}}\n",
            i % 5000,
            i % 777,
            i % 60,
            i % 100
        ));
    }
    fs::write(&path, &text).unwrap();
    let mut source: JsonlSource = open(&params(&path, false), b"").unwrap();
    let started = std::time::Instant::now();
    let (mut records, mut checkpoint) = (0, Vec::new());
    loop {
        let result = source.poll(4096, &checkpoint).unwrap();
        records += result.records;
        checkpoint = result.checkpoint;
        if result.caught_up {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(records, 1_000_000);
    assert_eq!(source.reader_opens(), 1);
    println!("jsonl: 1,000,000 lines ({} MB) in {elapsed:?}", text.len() / 1_000_000);
}
