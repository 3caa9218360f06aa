//! One row at a time from a `BufRead`: CSV rows with `csv_core` (the csv crate's parser), or
//! whitespace-separated rows with a plain byte scanner. Either way: the fields, the raw bytes as
//! read, where the row starts after the blank lines before it, and whether it ended with its
//! terminator.

use std::io::{self, BufRead};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::params::Delimiter;

const BYTE_ORDER_MARK: &[u8] = b"\xef\xbb\xbf";

/// The bytes that end a whitespace-separated field: space, tab and the line breaks.
const ENDS_FIELD: [bool; 256] = {
    let mut table = [false; 256];
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table[b'\n' as usize] = true;
    table[b'\r' as usize] = true;
    table
};

/// A row just read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Bytes of blank lines consumed before the row: it starts this far after where the read began.
    pub skipped: u64,
    /// The row's line terminator was read (false: the input ended first).
    pub terminated: bool,
}

/// How a row is split into fields.
#[derive(Debug)]
enum Splitter {
    Csv { core: Box<Reader>, delimiter: u8, quote: u8 },
    Whitespace,
}

/// The row last read: unescaped field bytes back to back, where each field ends, and the raw
/// bytes. The vectors only grow; `*_len` say how much of them the row uses.
#[derive(Debug)]
struct RowBuf {
    fields: Vec<u8>,
    ends: Vec<usize>,
    fields_len: usize,
    ends_len: usize,
    /// The row's bytes exactly as read, terminator included.
    raw: Vec<u8>,
}

impl RowBuf {
    fn clear(&mut self) {
        self.fields_len = 0;
        self.ends_len = 0;
        self.raw.clear();
    }

    /// Appends `bytes` to the current field.
    fn push_field_bytes(&mut self, bytes: &[u8]) {
        let needed = self.fields_len + bytes.len();
        if needed > self.fields.len() {
            self.fields.resize(needed.max(self.fields.len() * 2), 0);
        }
        self.fields[self.fields_len..needed].copy_from_slice(bytes);
        self.fields_len = needed;
    }

    /// Drops a UTF-8 byte-order mark that starts the row from its first field (and the field, if
    /// nothing else is in it). Whitespace-separated rows only: the mark is then always the start
    /// of the first field.
    fn strip_byte_order_mark(&mut self) {
        if !self.raw.starts_with(BYTE_ORDER_MARK) {
            return;
        }
        let mark = BYTE_ORDER_MARK.len();
        self.fields.copy_within(mark..self.fields_len, 0);
        self.fields_len -= mark;
        for end in &mut self.ends[..self.ends_len] {
            *end -= mark;
        }
        if self.ends[0] == 0 {
            self.ends.copy_within(1..self.ends_len, 0);
            self.ends_len -= 1;
        }
    }

    /// Ends the current field.
    fn end_field(&mut self) {
        if self.ends_len == self.ends.len() {
            self.ends.resize(self.ends.len() * 2, 0);
        }
        self.ends[self.ends_len] = self.fields_len;
        self.ends_len += 1;
    }
}

/// Reads rows; the last row read stays available until the next read.
#[derive(Debug)]
pub struct RowParser {
    splitter: Splitter,
    row: RowBuf,
}

impl RowParser {
    /// A parser for `delimiter`-separated fields; CSV fields may be quoted with `quote` (doubled
    /// to escape).
    pub fn new(delimiter: Delimiter, quote: u8) -> Self {
        let splitter = match delimiter {
            Delimiter::Byte(delimiter) => {
                let core = Box::new(ReaderBuilder::new().delimiter(delimiter).quote(quote).double_quote(true).build());
                Splitter::Csv { core, delimiter, quote }
            }
            Delimiter::Whitespace => Splitter::Whitespace,
        };
        let row = RowBuf { fields: vec![0; 4096], ends: vec![0; 64], fields_len: 0, ends_len: 0, raw: Vec::new() };
        Self { splitter, row }
    }

    /// Skips blank lines, then reads the next row; `None` at the end of the input. With
    /// whitespace-separated fields a line of only spaces and tabs is blank too; such a line cut
    /// off by the end of the input is returned as an unterminated row without fields.
    ///
    /// # Errors
    /// The read's I/O error.
    pub fn read_row(&mut self, input: &mut impl BufRead) -> io::Result<Option<Row>> {
        let mut skipped = 0;
        loop {
            skipped += skip_line_breaks(input)?;
            let terminated = match &mut self.splitter {
                Splitter::Csv { core, .. } => read_csv(core, input, &mut self.row)?,
                Splitter::Whitespace => read_whitespace(input, &mut self.row)?,
            };
            let Some(terminated) = terminated else { return Ok(None) };
            if self.row.ends_len == 0 && terminated {
                skipped += self.row.raw.len() as u64;
                continue;
            }
            return Ok(Some(Row { skipped, terminated }));
        }
    }

    /// The row's unescaped field bytes, back to back, and where each field ends.
    pub fn fields(&self) -> (&[u8], &[usize]) {
        (&self.row.fields[..self.row.fields_len], &self.row.ends[..self.row.ends_len])
    }

    /// The row as read, without its line terminator, decoded lossily.
    pub fn raw_text(&self) -> String {
        let raw = &self.row.raw;
        let end = raw.iter().rposition(|byte| !matches!(byte, b'\r' | b'\n')).map_or(0, |at| at + 1);
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    /// Whether the row's bytes end inside a quoted field: the input ended before its closing
    /// quote. Mirrors `csv_core`'s states (a quote only opens a field at the field's start).
    /// Never for whitespace-separated fields, which are not quoted.
    pub fn ends_inside_quotes(&self) -> bool {
        #[derive(PartialEq)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let Splitter::Csv { delimiter, quote, .. } = self.splitter else { return false };
        let raw = self.row.raw.strip_prefix(BYTE_ORDER_MARK).unwrap_or(&self.row.raw);
        let mut state = State::FieldStart;
        for &byte in raw {
            state = match state {
                State::FieldStart | State::Unquoted | State::QuoteInQuoted if byte == delimiter => State::FieldStart,
                State::FieldStart if byte == quote => State::Quoted,
                State::Quoted if byte == quote => State::QuoteInQuoted,
                State::QuoteInQuoted if byte == quote => State::Quoted,
                State::Quoted => State::Quoted,
                State::FieldStart | State::Unquoted | State::QuoteInQuoted => State::Unquoted,
            };
        }
        state == State::Quoted
    }
}

/// Consumes line breaks before the next row, so the row's start offset is its first byte;
/// returns how many bytes it consumed.
fn skip_line_breaks(input: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = input.fill_buf()?;
        let blank = buf.iter().take_while(|byte| matches!(byte, b'\r' | b'\n')).count();
        let done = blank < buf.len() || buf.is_empty();
        input.consume(blank);
        skipped += blank as u64;
        if done {
            return Ok(skipped);
        }
    }
}

/// Reads one CSV row into `row` with `core`: `Some(terminated)`, or `None` at the end of the input.
fn read_csv(core: &mut Reader, input: &mut impl BufRead, row: &mut RowBuf) -> io::Result<Option<bool>> {
    // Each row starts from a clean state: a row abandoned by an error leaves nothing behind.
    // (This also strips a UTF-8 byte-order mark at the start of any row, not only the first.)
    core.reset();
    row.clear();
    loop {
        let buf = input.fill_buf()?;
        let at_end = buf.is_empty();
        let (result, read, written, ended) = core.read_record(buf, &mut row.fields[row.fields_len..], &mut row.ends[row.ends_len..]);
        row.raw.extend_from_slice(&buf[..read]);
        input.consume(read);
        row.fields_len += written;
        row.ends_len += ended;
        match result {
            ReadRecordResult::InputEmpty if at_end => return Ok(None),
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => row.fields.resize(row.fields.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => row.ends.resize(row.ends.len() * 2, 0),
            ReadRecordResult::Record => return Ok(Some(!at_end)),
            ReadRecordResult::End => return Ok(None),
        }
    }
}

/// Reads one line of whitespace-separated fields into `row`: `Some(terminated)`, or `None` when
/// the input is at its end. `\n` and `\r` end a line (`\r\n` leaves a blank line behind, skipped
/// by the next read); spaces and tabs separate fields; every other byte, quotes included, is
/// field text. A UTF-8 byte-order mark at the start of the line is dropped, as `csv_core` does.
fn read_whitespace(input: &mut impl BufRead, row: &mut RowBuf) -> io::Result<Option<bool>> {
    row.clear();
    let mut in_field = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            if in_field {
                row.end_field();
            }
            row.strip_byte_order_mark();
            return Ok((!row.raw.is_empty()).then_some(false));
        }
        let mut at = 0;
        // Where the current field starts in `buf` (0 when it began in an earlier buffer).
        let mut field_from = 0;
        let mut terminated = false;
        while at < buf.len() {
            if !in_field {
                while at < buf.len() && matches!(buf[at], b' ' | b'\t') {
                    at += 1;
                }
                match buf.get(at) {
                    None => break,
                    Some(b'\n' | b'\r') => {
                        terminated = true;
                        break;
                    }
                    Some(_) => {
                        in_field = true;
                        field_from = at;
                    }
                }
            }
            while at < buf.len() && !ENDS_FIELD[usize::from(buf[at])] {
                at += 1;
            }
            if at == buf.len() {
                break;
            }
            row.push_field_bytes(&buf[field_from..at]);
            row.end_field();
            in_field = false;
        }
        if in_field {
            // The field goes on in the next buffer.
            row.push_field_bytes(&buf[field_from..at]);
        }
        if terminated {
            at += 1;
        }
        row.raw.extend_from_slice(&buf[..at]);
        input.consume(at);
        if terminated {
            row.strip_byte_order_mark();
            return Ok(Some(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A `BufRead` over `data` that hands out at most `chunk` bytes per fill and knows its position.
    struct Chunked<'a> {
        data: &'a [u8],
        at: usize,
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(out.len());
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl BufRead for Chunked<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.data[self.at..self.data.len().min(self.at + self.chunk)])
        }
        fn consume(&mut self, amount: usize) {
            self.at += amount;
        }
    }

    /// Every row of `text`: (fields, terminated, raw text, start offset), read `chunk` bytes at a time.
    fn rows_in_chunks(text: &[u8], delimiter: Delimiter, chunk: usize) -> Vec<(Vec<String>, bool, String, u64)> {
        let mut parser = RowParser::new(delimiter, b'"');
        let mut input = Chunked { data: text, at: 0, chunk };
        let mut out = Vec::new();
        loop {
            let before = input.at as u64;
            let Some(row) = parser.read_row(&mut input).unwrap() else { break };
            let (bytes, ends) = parser.fields();
            let mut start = 0;
            let fields = ends
                .iter()
                .map(|&end| {
                    let field = String::from_utf8_lossy(&bytes[start..end]).into_owned();
                    start = end;
                    field
                })
                .collect();
            out.push((fields, row.terminated, parser.raw_text(), before + row.skipped));
        }
        out
    }

    /// As [`rows_in_chunks`], checking that every chunk size from 1 byte up gives the same rows.
    fn rows_with(text: &[u8], delimiter: Delimiter) -> Vec<(Vec<String>, bool, String, u64)> {
        let whole = rows_in_chunks(text, delimiter, text.len().max(1));
        for chunk in 1..text.len() {
            assert_eq!(rows_in_chunks(text, delimiter, chunk), whole, "read {chunk} bytes at a time");
        }
        whole
    }

    fn rows(text: &[u8]) -> Vec<(Vec<String>, bool, String, u64)> {
        rows_with(text, Delimiter::Byte(b','))
    }

    fn words(text: &[u8]) -> Vec<(Vec<String>, bool, String, u64)> {
        rows_with(text, Delimiter::Whitespace)
    }

    #[test]
    fn quoted_fields_keep_delimiters_quotes_and_newlines() {
        let got = rows(b"a,\"b,c\",\"say \"\"hi\"\"\"\r\n\n\"multi\nline\",x\n");
        assert_eq!(got[0].0, ["a", "b,c", "say \"hi\""]);
        assert_eq!(got[0].2, "a,\"b,c\",\"say \"\"hi\"\"\"");
        assert_eq!(got[1].0, ["multi\nline", "x"]);
        assert_eq!((got[0].3, got[1].3), (0, 23));
        assert!(got.iter().all(|row| row.1));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_row_cut_by_the_end_of_input_is_unterminated() {
        let got = rows(b"a,b\nc,d");
        assert_eq!((got[1].0.clone(), got[1].1), (vec!["c".to_string(), "d".to_string()], false));
    }

    #[test]
    fn long_rows_grow_the_buffers() {
        let long = "x".repeat(10_000);
        let text = format!("{long},{}\n", vec!["y"; 100].join(","));
        let got = rows_in_chunks(text.as_bytes(), Delimiter::Byte(b','), 3);
        assert_eq!(got[0].0.len(), 101);
        assert_eq!(got[0].0[0], long);
        let got = rows_in_chunks(text.replace(',', " \t ").as_bytes(), Delimiter::Whitespace, 3);
        assert_eq!((got[0].0.len(), got[0].0[0].len()), (101, 10_000));
    }

    #[test]
    fn an_unclosed_quote_is_detected() {
        let mut parser = RowParser::new(Delimiter::Byte(b','), b'"');
        let mut input: &[u8] = b"a,\"b\nc";
        parser.read_row(&mut input).unwrap();
        assert!(parser.ends_inside_quotes());
        let mut input: &[u8] = b"a,\"b\"\"\",c\"d";
        parser.read_row(&mut input).unwrap();
        assert!(!parser.ends_inside_quotes());
    }

    #[test]
    fn whitespace_runs_of_spaces_and_tabs_separate_fields() {
        let got = words(b" 00001 19970101  1   11.77\r\n\t a\t\tb \t c\t \n\"x y\" it's\n");
        assert_eq!(got[0].0, ["00001", "19970101", "1", "11.77"]);
        assert_eq!(got[0].2, " 00001 19970101  1   11.77");
        assert_eq!(got[1].0, ["a", "b", "c"]);
        assert_eq!(got[2].0, ["\"x", "y\"", "it's"]);
        assert_eq!(got.iter().map(|row| row.3).collect::<Vec<_>>(), [0, 28, 41]);
        assert!(got.iter().all(|row| row.1));
    }

    #[test]
    fn whitespace_only_lines_are_blank_and_rows_start_at_their_line() {
        let got = words(b"\n  \t \r\n\r\n  a b\n \n\tc\n");
        assert_eq!(got.iter().map(|row| (row.0.join("|"), row.3)).collect::<Vec<_>>(), [("a|b".to_string(), 9), ("c".to_string(), 17)]);
        let got = words(b"\xef\xbb\xbf x y\n");
        assert_eq!((got[0].0.clone(), got[0].3), (vec!["x".to_string(), "y".to_string()], 0));
        let got = words(b"\xef\xbb\xbfa b\n\xef\xbb\xbf\nc\n");
        assert_eq!(got.iter().map(|row| (row.0.join("|"), row.3)).collect::<Vec<_>>(), [("a|b".to_string(), 0), ("c".to_string(), 11)]);
    }

    #[test]
    fn whitespace_rows_cut_by_the_end_of_input_are_unterminated() {
        let got = words(b"a b\n c d  ");
        assert_eq!((got[1].0.join("|"), got[1].1, got[1].2.as_str()), ("c|d".to_string(), false, " c d  "));
        // A line of blanks cut off is an unterminated row without fields (held back when tailing).
        let got = words(b"a\n \t ");
        assert_eq!(got.len(), 2);
        assert!(got[1].0.is_empty() && !got[1].1, "{got:?}");
        assert!(words(b"\n\r\n").is_empty());
    }
}
