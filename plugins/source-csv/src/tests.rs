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

/// `CDNOW_master.txt`'s format: a header, CRLF lines, fields padded with runs of spaces.
const CDNOW_MASTER: &[u8] = b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n 00002 19970112  5   77.00\r\n";

/// `CDNOW_sample.txt`'s format: no header, five columns.
const CDNOW_SAMPLE: &[u8] = b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00004 0001 19970802  1   14.96\r\n";

/// The start offset of every non-blank line of `text` (after `skip` header lines).
fn line_starts(text: &[u8], skip: usize) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive(|byte| *byte == b'\n') {
        if line.iter().any(|byte| !byte.is_ascii_whitespace()) {
            starts.push(at);
        }
        at += line.len() as u64;
    }
    starts.split_off(skip)
}

#[test]
fn the_cdnow_master_format_reads_with_whitespace_delimiters() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "CDNOW_master.txt", CDNOW_MASTER);
    let out = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace"})), b"", 10).unwrap();
    assert_eq!(
        out.fields(),
        [
            json!({"customer_id": "00001", "date": "19970101", "number_of_cds": "1", "dollar_value": "11.77"}),
            json!({"customer_id": "00002", "date": "19970112", "number_of_cds": "1", "dollar_value": "12.00"}),
            json!({"customer_id": "00002", "date": "19970112", "number_of_cds": "5", "dollar_value": "77.00"}),
        ]
    );
    let shown = path.to_string_lossy();
    assert_eq!(out.offsets(), [format!("{shown}@48"), format!("{shown}@76"), format!("{shown}@104")]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
}

#[test]
fn the_cdnow_sample_format_reads_without_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "CDNOW_sample.txt", CDNOW_SAMPLE);
    let numbered = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace", "header": false})), b"", 10).unwrap();
    assert_eq!(numbered.fields()[0], json!({"c0": "00004", "c1": "0001", "c2": "19970101", "c3": "2", "c4": "29.33"}));
    assert_eq!(numbered.fields().len(), 3);
    let columns = json!(["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]);
    let named =
        drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace", "header": false, "columns": columns})), b"", 10).unwrap();
    assert_eq!(
        named.fields()[2],
        json!({"customer_id": "00004", "sample_id": "0001", "date": "19970802", "number_of_cds": "1", "dollar_value": "14.96"})
    );
}

#[test]
fn whitespace_fields_split_on_tabs_and_mixed_runs_and_quotes_are_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"\t id \t name\tnote  \n1\tann\t\"hi\n  2 \t \t bob  x,y  \r\n\n \t \n3 'c d'\n";
    let path = write(dir.path(), "a.txt", text);
    let out = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace"})), b"", 10).unwrap();
    assert_eq!(
        out.fields(),
        [
            json!({"id": "1", "name": "ann", "note": "\"hi"}),
            json!({"id": "2", "name": "bob", "note": "x,y"}),
            json!({"id": "3", "name": "'c", "note": "d'"}),
        ]
    );
    assert!(out.errors().is_empty(), "{:?}", out.errors());
}

#[test]
fn whitespace_rows_report_invalid_utf8_and_wrong_field_counts_unless_flexible() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.txt", b"a b\n1 ok\n2 bad\xff\n3\n4 5 6\n7  8\n");
    let strict = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace"})), b"", 10).unwrap();
    assert_eq!(strict.fields(), [json!({"a": "1", "b": "ok"}), json!({"a": "7", "b": "8"})]);
    assert_eq!(
        strict.errors(),
        [
            ("invalid_utf8".to_string(), "2 bad\u{fffd}".to_string()),
            ("wrong_field_count".to_string(), "3".to_string()),
            ("wrong_field_count".to_string(), "4 5 6".to_string()),
        ]
    );
    let flexible = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace", "flexible": true})), b"", 10).unwrap();
    assert_eq!(flexible.fields()[1..3], [json!({"a": "3"}), json!({"a": "4", "b": "5", "c2": "6"})]);
}

#[test]
fn whitespace_resume_from_any_checkpoint_gives_exactly_the_remaining_rows_and_the_same_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = CDNOW_MASTER.to_vec();
    text.extend_from_slice(b"\r\n   \r\n\t00003\t19970102 2 20.76\n 00003 19970330  2   20.76");
    let path = write(dir.path(), "CDNOW_master.txt", &text);
    let config = params(&path, json!({"delimiter": "whitespace", "offset_column": "line_offset"}));
    let all = drain::<CsvSource>(&config, b"", 100).unwrap();
    assert_eq!(all.fields().len(), 5);
    let offsets: Vec<Value> = all.fields().iter().map(|fields| fields["line_offset"].clone()).collect();
    let expected: Vec<Value> = line_starts(&text, 1).iter().map(|at| json!(at.to_string())).collect();
    assert_eq!(offsets, expected);
    assert_eq!(
        all.fields()[4],
        json!({"customer_id": "00003", "date": "19970330", "number_of_cds": "2", "dollar_value": "20.76", "line_offset": "163"})
    );
    for split in 0..=5 {
        // Read `split` rows, then resume in a fresh plugin (the header is not in the checkpoint).
        let mut first: CsvSource = open(&config, b"").unwrap();
        let head = first.poll(split, b"").unwrap();
        let mut joined = parse_batch(&head).unwrap();
        let rest = drain::<CsvSource>(&config, &head.checkpoint, 2).unwrap();
        assert_eq!(rest.fields().len(), 5 - split as usize, "split after {split} rows");
        joined.extend(rest.lines);
        assert_eq!(joined, all.lines, "split after {split} rows");
    }
}

#[test]
fn offset_column_holds_each_records_start_offset_in_every_delimiter_mode() {
    let dir = tempfile::tempdir().unwrap();
    let csv_text: &[u8] = b"\xef\xbb\xbfid,text\r\n1,\"two\nlines\"\r\n\r\n2,x\n3,\"a,b\"";
    let tsv_text: &[u8] = b"id\ttext\n\n1\tx\n2\ty\n";
    let ws_text: &[u8] = b"  \n id  text\n \n 1 x\n\t2\ty  \n";
    for (name, text, extra) in [
        ("a.csv", csv_text, json!({})),
        ("a.tsv", tsv_text, json!({"delimiter": "\t"})),
        ("a.txt", ws_text, json!({"delimiter": "whitespace"})),
    ] {
        let path = write(dir.path(), name, text);
        let mut extra = extra;
        extra["offset_column"] = json!("at");
        let out = drain::<CsvSource>(&params(&path, extra), b"", 10).unwrap();
        let shown = path.to_string_lossy();
        let got: Vec<(String, String)> =
            out.fields().iter().zip(out.offsets()).map(|(fields, locator)| (fields["at"].as_str().unwrap().to_string(), locator)).collect();
        let expected: Vec<(String, String)> = match name {
            // A record spanning lines has one offset; its second line is no record.
            "a.csv" => [12u64, 29, 33].iter().map(|at| (at.to_string(), format!("{shown}@{at}"))).collect(),
            _ => line_starts(text, 1).iter().map(|at| (at.to_string(), format!("{shown}@{at}"))).collect(),
        };
        assert_eq!(got, expected, "{name}");
        assert!(out.fields().iter().all(|fields| fields.as_object().unwrap().len() == 3), "{name}: {:?}", out.fields());
    }
}

#[test]
fn offset_column_values_are_stable_across_resumes_and_follow_polls() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", b"a,b\n1,x\n\n2,y\n3,z\n");
    let config = params(&path, json!({"offset_column": "row_id"}));
    let all = drain::<CsvSource>(&config, b"", 100).unwrap();
    let ids: Vec<Value> = all.fields().iter().map(|fields| fields["row_id"].clone()).collect();
    assert_eq!(ids, [json!("4"), json!("9"), json!("13")]);
    for split in 0..3 {
        let mut first: CsvSource = open(&config, b"").unwrap();
        let head = first.poll(split, b"").unwrap();
        let rest = drain::<CsvSource>(&config, &head.checkpoint, 1).unwrap();
        let rest_ids: Vec<Value> = rest.fields().iter().map(|fields| fields["row_id"].clone()).collect();
        assert_eq!(rest_ids, ids[split as usize..], "split after {split} rows");
    }
    // Tailing a whitespace file written in pieces gives the offsets of reading it whole.
    let path = write(dir.path(), "b.txt", b" n  v\n 1");
    let config = params(&path, json!({"delimiter": "whitespace", "offset_column": "row_id", "follow": true}));
    let mut source: CsvSource = open(&config, b"").unwrap();
    let first = drain_open(&mut source, b"", 10).unwrap();
    assert!(first.lines.is_empty());
    append(&path, b"  a\n \t");
    let second = drain_open(&mut source, &first.checkpoint, 10).unwrap();
    assert_eq!(second.fields(), [json!({"n": "1", "v": "a", "row_id": "6"})]);
    append(&path, b" \n 2 b\n");
    let third = drain_open(&mut source, &second.checkpoint, 10).unwrap();
    assert_eq!(third.fields(), [json!({"n": "2", "v": "b", "row_id": "16"})]);
}

#[test]
fn an_offset_column_colliding_with_a_column_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.txt", b"id date\n1 2\n");
    let err = open::<CsvSource>(&params(&path, json!({"columns": ["id", "date"], "offset_column": "date"})), b"").unwrap_err();
    assert!(err.contains("offset_column \"date\" collides with column \"date\""), "{err}");
    // A header is only known once read: the poll fails, naming the column and the file.
    let config = params(&path, json!({"delimiter": "whitespace", "offset_column": "date"}));
    let err = drain::<CsvSource>(&config, b"", 10).unwrap_err();
    assert!(err.contains("offset_column \"date\" collides with column \"date\" of the header of") && err.contains("a.txt"), "{err}");
    let ok = drain::<CsvSource>(&params(&path, json!({"delimiter": "whitespace", "offset_column": "at"})), b"", 10).unwrap();
    assert_eq!(ok.fields(), [json!({"id": "1", "date": "2", "at": "8"})]);
}

#[test]
fn whitespace_follow_holds_back_a_partial_last_line_and_waits_for_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.txt", b"\n  \n id  na");
    let mut source: CsvSource = open(&params(&path, json!({"delimiter": "whitespace", "follow": true})), b"").unwrap();
    let out = drain_open(&mut source, b"", 10).unwrap();
    assert!(out.lines.is_empty());
    append(&path, b"me\r\n 1 x\r\n 2 ");
    let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
    assert_eq!(more.fields(), [json!({"id": "1", "name": "x"})]);
    append(&path, b"y\r\n");
    let last = drain_open(&mut source, &more.checkpoint, 10).unwrap();
    assert_eq!(last.fields(), [json!({"id": "2", "name": "y"})]);
    let size = fs::metadata(&path).unwrap().len();
    assert_eq!(last.progress, (size, size));
}

#[test]
fn blank_lines_before_the_header_then_the_header_arriving_later_in_every_mode() {
    for (delimiter, header, row) in [(",", "a,b\n", "1,2\n"), ("whitespace", " a b\n", " 1 2\n")] {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.txt", b"\n\r\n");
        let config = params(&path, json!({"delimiter": delimiter, "follow": true}));
        let mut source: CsvSource = open(&config, b"").unwrap();
        let out = drain_open(&mut source, b"", 10).unwrap();
        assert!(out.lines.is_empty());
        append(&path, format!("{header}{row}").as_bytes());
        let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
        assert_eq!(more.fields(), [json!({"a": "1", "b": "2"})], "{delimiter}");
        // And a fresh plugin resuming from the checkpoint taken among the blank lines.
        let resumed = drain::<CsvSource>(&config, &out.checkpoint, 10).unwrap();
        assert_eq!(resumed.fields(), [json!({"a": "1", "b": "2"})], "{delimiter}");
    }
}

/// Throughput check: `cargo test --release -p agora-source-csv -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run, not a correctness test"]
fn a_million_rows_stream_through() {
    stream_a_million_rows(",", ",");
    stream_a_million_rows("whitespace", "  ");
}

fn stream_a_million_rows(delimiter: &str, separator: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = ["user_id", "item_id", "kind", "ts", "price"].join(separator) + "\n";
    for i in 0..1_000_000 {
        let row = [
            format!("u{}", i % 5000),
            format!("i{}", i % 777),
            "view".into(),
            format!("2024-01-02T03:04:{:02}Z", i % 60),
            format!("{}.99", i % 100),
        ];
        text.push_str(&row.join(separator));
        text.push('\n');
    }
    fs::write(&path, &text).unwrap();
    let config = params(&path, json!({"delimiter": delimiter}));
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
    println!(
        "csv (delimiter {delimiter:?}): 1,000,000 rows ({} MB in, {} MB of batches) in {elapsed:?}",
        text.len() / 1_000_000,
        bytes / 1_000_000
    );
}
