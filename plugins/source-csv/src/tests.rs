//! Tests of the csv plugin through its `SourcePlugin` implementation and its C ABI.

use std::fs;
use std::io::Write;
use std::path::Path;

use agora_plugin_api::SourcePlugin;
use agora_source_kit::testing::{drain, drain_open, open, parse_batch};
use serde_json::{json, Value};

use crate::CsvSource;

fn params(path: &Path, extra: Value) -> Value {
    let mut params = json!({"path": path.to_string_lossy()});
    params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    params
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn append(path: &Path, bytes: &[u8]) {
    fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn quoted_fields_keep_embedded_delimiters_quotes_and_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"id,text,note\r\n1,\"a, b\",\"say \"\"hi\"\"\"\r\n2,\"two\nlines\",\r\n");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(
        out.fields(),
        [json!({"id": "1", "text": "a, b", "note": "say \"hi\""}), json!({"id": "2", "text": "two\nlines", "note": ""})]
    );
    let shown = path.to_string_lossy();
    assert_eq!(out.offsets(), [format!("{shown}@14"), format!("{shown}@37")]);
}

#[test]
fn a_semicolon_delimiter_and_a_single_quote() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a;b\n'x;y';2\n");
    let out = drain::<CsvSource>(&params(&path, json!({"delimiter": ";", "quote": "'"})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "x;y", "b": "2"})]);
}

#[test]
fn headerless_files_use_columns_or_numbered_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"u1,i1\nu2,i2\n");
    let named = drain::<CsvSource>(&params(&path, json!({"header": false, "columns": ["user", "item"]})), b"", 10).unwrap();
    assert_eq!(named.fields(), [json!({"user": "u1", "item": "i1"}), json!({"user": "u2", "item": "i2"})]);
    let numbered = drain::<CsvSource>(&params(&path, json!({"header": false})), b"", 10).unwrap();
    assert_eq!(numbered.fields(), [json!({"c0": "u1", "c1": "i1"}), json!({"c0": "u2", "c1": "i2"})]);
}

#[test]
fn columns_override_the_header_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"A,B\n1,2\n");
    let out = drain::<CsvSource>(&params(&path, json!({"columns": ["x", "y"]})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"x": "1", "y": "2"})]);
}

#[test]
fn an_invalid_utf8_row_is_an_error_line_and_later_rows_still_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,ok\n2,bad\xff\n3,fine\n");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "1", "b": "ok"}), json!({"a": "3", "b": "fine"})]);
    assert_eq!(out.errors(), [("invalid_utf8".to_string(), "2,bad\u{fffd}".to_string())]);
    assert_eq!(out.lines.len(), 3);
}

#[test]
fn a_multibyte_character_split_across_fields_is_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n\xc3,\xa9\n\xc3\xa9,x\n");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.errors()[0].0, "invalid_utf8");
    assert_eq!(out.fields(), [json!({"a": "é", "b": "x"})]);
}

#[test]
fn wrong_field_counts_are_error_lines_unless_flexible() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1\n1,2,3\n4,5\n");
    let strict = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(
        strict.errors(),
        [("wrong_field_count".to_string(), "1".to_string()), ("wrong_field_count".to_string(), "1,2,3".to_string())]
    );
    assert_eq!(strict.fields(), [json!({"a": "4", "b": "5"})]);
    let flexible = drain::<CsvSource>(&params(&path, json!({"flexible": true})), b"", 10).unwrap();
    assert_eq!(flexible.fields(), [json!({"a": "1"}), json!({"a": "1", "b": "2", "c2": "3"}), json!({"a": "4", "b": "5"})]);
}

#[test]
fn a_headerless_strict_file_takes_its_width_from_its_first_row_even_when_resuming() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"1,2\n3,4\n5\n");
    let config = params(&path, json!({"header": false}));
    let mut source: CsvSource = open(&config, b"").unwrap();
    let first = source.poll(1, b"").unwrap();
    let rest = drain::<CsvSource>(&config, &first.checkpoint, 10).unwrap();
    assert_eq!(rest.fields(), [json!({"c0": "3", "c1": "4"})]);
    assert_eq!(rest.errors(), [("wrong_field_count".to_string(), "5".to_string())]);
}

#[test]
fn a_file_ending_inside_quotes_is_malformed_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,2\n3,\"open\nstill open");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "1", "b": "2"})]);
    assert_eq!(out.errors(), [("malformed_csv".to_string(), "3,\"open\nstill open".to_string())]);
}

#[test]
fn an_unterminated_last_row_is_read_without_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,2\n3,\"4\"");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "1", "b": "2"}), json!({"a": "3", "b": "4"})]);
}

#[test]
fn a_byte_order_mark_and_blank_lines_are_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"\xef\xbb\xbfid,name\n\n1,x\r\n\r\n\n2,y\n\n");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"id": "1", "name": "x"}), json!({"id": "2", "name": "y"})]);
}

#[test]
fn empty_and_repeated_header_names_are_made_unique() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,,a\n1,2,3\n");
    let out = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "1", "c1": "2", "a_2": "3"})]);
}

#[test]
fn resuming_from_any_checkpoint_gives_exactly_the_remaining_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"n,t\n1,a\n2,\"b\nb\"\n\n3,c\n4,\"d,\"\"d\"\"\"\n5,e\n");
    let config = params(&path, json!({}));
    let all = drain::<CsvSource>(&config, b"", 100).unwrap();
    assert_eq!(all.fields().len(), 5);
    for split in 0..5 {
        // Read `split` rows, then resume in a fresh plugin (the header is not in the checkpoint).
        let mut first: CsvSource = open(&config, b"").unwrap();
        let head = first.poll(split, b"").unwrap();
        let head_lines = parse_batch(&head).unwrap();
        let rest = drain::<CsvSource>(&config, &head.checkpoint, 2).unwrap();
        let mut joined = head_lines.clone();
        joined.extend(rest.lines);
        assert_eq!(joined, all.lines, "split after {split} rows");
    }
}

#[test]
fn follow_picks_up_appended_rows_and_holds_back_a_partial_last_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,x\n2,\"partial");
    let mut source: CsvSource = open(&params(&path, json!({"follow": true})), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    assert_eq!(out.fields(), [json!({"a": "1", "b": "x"})]);
    append(&path, b"\nstill\"\n3,y");
    let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(more.fields(), [json!({"a": "2", "b": "partial\nstill"})]);
    append(&path, b"\n");
    let last = drain_open(&mut source, &more.checkpoint, 10).unwrap();
    assert_eq!(last.fields(), [json!({"a": "3", "b": "y"})]);
    let size = fs::metadata(&path).unwrap().len();
    assert_eq!(last.progress, (size, size));
}

#[test]
fn a_header_still_being_written_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"id,na");
    let mut source: CsvSource = open(&params(&path, json!({"follow": true})), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    assert!(out.lines.is_empty());
    append(&path, b"me\n1,x\n");
    let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(more.fields(), [json!({"id": "1", "name": "x"})]);
}

#[test]
fn a_glob_reads_each_file_with_its_own_header() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "2024-01.csv", b"user,item\nu1,i1\n");
    write(dir.path(), "2024-02.csv", b"item,user\ni2,u2\ni3,u3\n");
    write(dir.path(), "notes.txt", b"not csv\n");
    let out = drain::<CsvSource>(&params(&dir.path().join("*.csv"), json!({})), b"", 2).unwrap();
    assert_eq!(
        out.fields(),
        [json!({"user": "u1", "item": "i1"}), json!({"item": "i2", "user": "u2"}), json!({"item": "i3", "user": "u3"})]
    );
    assert!(out.offsets()[1].contains("2024-02.csv@10"), "{:?}", out.offsets());
}

#[test]
fn a_truncated_file_restarts_with_its_new_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,2\n3,4\n");
    let mut source: CsvSource = open(&params(&path, json!({"follow": true})), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    assert_eq!(out.fields().len(), 2);
    fs::write(&path, b"x,y\n9,8\n").unwrap();
    let again = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(again.fields(), [json!({"x": "9", "y": "8"})]);
}

#[test]
fn rows_equal_what_the_csv_crate_reads() {
    let text: &[u8] = b"h1,h2,h3\n\"a\"\"b\",c d,\"e\nf\"\nx\"y,\"z\"w,\n,,\n\"\",\" \",\"\"\"\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", text);
    let ours = drain::<CsvSource>(&params(&path, json!({})), b"", 10).unwrap().fields();
    let mut reader = csv::ReaderBuilder::new().from_reader(text);
    let headers = reader.headers().unwrap().clone();
    let theirs: Vec<Value> = reader
        .records()
        .map(|row| Value::Object(headers.iter().zip(row.unwrap().iter()).map(|(k, v)| (k.to_string(), json!(v))).collect()))
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn bad_params_and_missing_files_fail_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = open::<CsvSource>(&json!({"path": dir.path().join("x.csv").to_string_lossy(), "delimiter": "ab"}), b"").unwrap_err();
    assert!(err.contains("delimiter"), "{err}");
    let err = open::<CsvSource>(&json!({"path": dir.path().join("x.csv").to_string_lossy()}), b"").unwrap_err();
    assert!(err.contains("x.csv"), "{err}");
}

#[test]
fn the_exported_c_abi_opens_polls_and_closes() {
    use agora_plugin_api::{ByteSlice, PluginDeclaration, PollOutput, STATUS_ERROR, STATUS_OK};
    use std::ffi::CStr;

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a\n1\n2\n");
    assert_eq!(crate::agora_plugin_abi_version(), agora_plugin_api::ABI_VERSION);
    // SAFETY: the declaration is a static with NUL-terminated static strings.
    let declaration: &PluginDeclaration = unsafe { &*crate::agora_plugin_declaration() };
    // SAFETY: as above.
    let (name, capabilities) = unsafe { (CStr::from_ptr(declaration.name), CStr::from_ptr(declaration.capabilities)) };
    assert_eq!((name.to_str().unwrap(), capabilities.to_str().unwrap()), ("csv", "file,dir,glob,tail"));
    // SAFETY: the table is a static.
    let table = unsafe { &*crate::agora_source_vtable() };
    let config = params(&path, json!({})).to_string();
    let mut handle = std::ptr::null_mut();
    // SAFETY: valid slices and out pointer, as the ABI requires.
    let status = unsafe { (table.open)(ByteSlice::new(config.as_bytes()), ByteSlice::new(b""), &mut handle) };
    assert_eq!(status, STATUS_OK);
    let mut out = PollOutput::empty();
    // SAFETY: a live handle from open and a writable output.
    let status = unsafe { (table.poll)(handle, 10, ByteSlice::new(b""), &mut out) };
    assert_eq!((status, out.records, out.caught_up), (STATUS_OK, 2, 1));
    // SAFETY: buffers from this plugin's poll, freed once each after reading.
    unsafe {
        assert!(out.batch.as_slice().starts_with(b"{\"offset\":"));
        (table.free_buffer)(out.batch);
        (table.free_buffer)(out.checkpoint);
    }
    let mut out = PollOutput::empty();
    // SAFETY: as above; a garbage checkpoint must fail cleanly.
    let status = unsafe { (table.poll)(handle, 10, ByteSlice::new(b"garbage"), &mut out) };
    assert_eq!(status, STATUS_ERROR);
    // SAFETY: the message buffer comes from this plugin and is taken back once.
    let message = unsafe { (table.last_error)().into_vec() };
    assert!(String::from_utf8(message).unwrap().starts_with("invalid checkpoint"));
    // SAFETY: closed once.
    unsafe { (table.close)(handle) };
}

/// Throughput check: `cargo test --release -p agora-source-csv -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run, not a correctness test"]
fn a_million_rows_stream_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::from("user_id,item_id,kind,ts,price\n");
    for i in 0..1_000_000 {
        text.push_str(&format!("u{},i{},view,2024-01-02T03:04:{:02}Z,{}.99\n", i % 5000, i % 777, i % 60, i % 100));
    }
    fs::write(&path, &text).unwrap();
    let config = params(&path, json!({}));
    let mut source: CsvSource = open(&config, b"").unwrap();
    let started = std::time::Instant::now();
    let (mut records, mut checkpoint, mut bytes) = (0, Vec::new(), 0);
    loop {
        let result = source.poll(4096, &checkpoint).unwrap();
        records += result.records;
        bytes += result.batch.len();
        checkpoint = result.checkpoint;
        if result.caught_up {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(records, 1_000_000);
    assert_eq!(source.reader_opens(), 1);
    println!("csv: 1,000,000 rows ({} MB in, {} MB of batches) in {elapsed:?}", text.len() / 1_000_000, bytes / 1_000_000);
}
