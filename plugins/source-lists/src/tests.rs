//! Tests of the lists plugin through its `SourcePlugin` implementation.

use std::path::Path;

use agora_source_kit::testing::drain;
use serde_json::{json, Value};

use crate::ListsSource;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn id_lists_become_one_record_per_value_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "seq.txt", b"1 10 11 12\n\n2  7\t3\r\n3\n\xff 1\n4 9");
    let params = json!({"path": path, "key_field": "user", "value_field": "item"});
    let out = drain::<ListsSource>(&params, b"", 2).unwrap();
    let expected: Vec<Value> = [("1", "10", 0), ("1", "11", 1), ("1", "12", 2), ("2", "7", 0), ("2", "3", 1), ("4", "9", 0)]
        .iter()
        .map(|(user, item, position)| json!({"user": user, "item": item, "position": position}))
        .collect();
    assert_eq!(out.fields(), expected);
    let reasons: Vec<String> = out.errors().into_iter().map(|(reason, _)| reason).collect();
    assert_eq!(reasons, ["no_values", "invalid_utf8"]);
    // The three values of the first line share its locator.
    assert!(out.lines[..3].iter().all(|line| line.offset() == format!("{path}@0")));
}

#[test]
fn resuming_from_a_checkpoint_gives_exactly_the_remaining_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "seq.txt", b"1 10 11\n2 12\n3 13 14 15\n");
    let params = json!({"path": path});
    let all = drain::<ListsSource>(&params, b"", 100).unwrap();
    assert_eq!(all.fields().len(), 6);
    let first = drain::<ListsSource>(&params, b"", 1).unwrap();
    assert_eq!(first.fields(), all.fields());
}

#[test]
fn a_json_object_becomes_one_record_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "attrs.json", b"{\"4\": [1, 2, 3],\n \"83\": [4]}\n");
    let params = json!({"path": path, "layout": "json_object", "key_field": "item", "value_field": "tags"});
    let out = drain::<ListsSource>(&params, b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"item": "4", "tags": [1, 2, 3]}), json!({"item": "83", "tags": [4]})]);

    let bad = write(dir.path(), "bad.json", b"[1, 2]");
    let out = drain::<ListsSource>(&json!({"path": bad, "layout": "json_object"}), b"", 10).unwrap();
    assert_eq!(out.errors(), [("not_an_object".to_string(), "[1, 2]".to_string())]);
}

#[test]
fn bad_params_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.json", b"{}");
    let err = drain::<ListsSource>(&json!({"path": path, "layout": "json_object", "follow": true}), b"", 10).unwrap_err();
    assert!(err.contains("follow cannot be used"), "{err}");
    let err = drain::<ListsSource>(&json!({"path": path, "layot": "id_list"}), b"", 10).unwrap_err();
    assert!(err.contains("layot") && err.contains("valid keys"), "{err}");
    let err = drain::<ListsSource>(&json!({"path": path, "key_field": "x", "value_field": "x"}), b"", 10).unwrap_err();
    assert!(err.contains("must differ"), "{err}");
}
