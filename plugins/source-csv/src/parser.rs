//! One CSV row at a time from a `BufRead`, with `csv_core` (the csv crate's parser): fields,
//! the raw bytes as read, and whether the row ended with its terminator.

use std::io::{self, BufRead};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// How a row ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowEnd {
    /// The row's line terminator was read (false: the input ended first).
    pub terminated: bool,
}

/// Reads rows; the last row read stays available until the next read.
#[derive(Debug)]
pub struct RowParser {
    core: Reader,
    delimiter: u8,
    quote: u8,
    /// Unescaped field bytes of the row, back to back.
    fields: Vec<u8>,
    /// End of each field in `fields`.
    ends: Vec<usize>,
    fields_len: usize,
    ends_len: usize,
    /// The row's bytes exactly as read, terminator included.
    raw: Vec<u8>,
}

impl RowParser {
    /// A parser for `delimiter`-separated fields quoted with `quote` (doubled to escape).
    pub fn new(delimiter: u8, quote: u8) -> Self {
        let core = ReaderBuilder::new().delimiter(delimiter).quote(quote).double_quote(true).build();
        Self { core, delimiter, quote, fields: vec![0; 4096], ends: vec![0; 64], fields_len: 0, ends_len: 0, raw: Vec::new() }
    }

    /// Consumes line breaks before the next row, so the row's start offset is its first byte.
    ///
    /// # Errors
    /// The read's I/O error.
    pub fn skip_blank_lines(input: &mut impl BufRead) -> io::Result<()> {
        loop {
            let buf = input.fill_buf()?;
            let blank = buf.iter().take_while(|byte| matches!(byte, b'\r' | b'\n')).count();
            let done = blank < buf.len() || buf.is_empty();
            input.consume(blank);
            if done {
                return Ok(());
            }
        }
    }

    /// Reads the next row; `None` at the end of the input. Blank lines are not rows.
    ///
    /// # Errors
    /// The read's I/O error.
    pub fn read(&mut self, input: &mut impl BufRead) -> io::Result<Option<RowEnd>> {
        // Each row starts from a clean state: a row abandoned by an error leaves nothing behind.
        // (This also strips a UTF-8 byte-order mark at the start of any row, not only the first.)
        self.core.reset();
        self.raw.clear();
        self.fields_len = 0;
        self.ends_len = 0;
        loop {
            let buf = input.fill_buf()?;
            let at_end = buf.is_empty();
            let (result, read, written, ended) =
                self.core.read_record(buf, &mut self.fields[self.fields_len..], &mut self.ends[self.ends_len..]);
            self.raw.extend_from_slice(&buf[..read]);
            input.consume(read);
            self.fields_len += written;
            self.ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty if at_end => return Ok(None),
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.fields.resize(self.fields.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => return Ok(Some(RowEnd { terminated: !at_end })),
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// The row's unescaped field bytes, back to back, and where each field ends.
    pub fn fields(&self) -> (&[u8], &[usize]) {
        (&self.fields[..self.fields_len], &self.ends[..self.ends_len])
    }

    /// The row as read, without its line terminator, decoded lossily.
    pub fn raw_text(&self) -> String {
        let end = self.raw.iter().rposition(|byte| !matches!(byte, b'\r' | b'\n')).map_or(0, |at| at + 1);
        String::from_utf8_lossy(&self.raw[..end]).into_owned()
    }

    /// Whether the row's bytes end inside a quoted field: the input ended before its closing
    /// quote. Mirrors `csv_core`'s states (a quote only opens a field at the field's start).
    pub fn ends_inside_quotes(&self) -> bool {
        #[derive(PartialEq)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let raw = self.raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&self.raw);
        let mut state = State::FieldStart;
        for &byte in raw {
            state = match state {
                State::FieldStart | State::Unquoted | State::QuoteInQuoted if byte == self.delimiter => State::FieldStart,
                State::FieldStart if byte == self.quote => State::Quoted,
                State::Quoted if byte == self.quote => State::QuoteInQuoted,
                State::QuoteInQuoted if byte == self.quote => State::Quoted,
                State::Quoted => State::Quoted,
                State::FieldStart | State::Unquoted | State::QuoteInQuoted => State::Unquoted,
            };
        }
        state == State::Quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Vec<(Vec<String>, bool, String)> {
        let mut parser = RowParser::new(b',', b'"');
        let mut input = io::BufReader::with_capacity(3, text);
        let mut out = Vec::new();
        loop {
            RowParser::skip_blank_lines(&mut input).unwrap();
            let Some(end) = parser.read(&mut input).unwrap() else { break };
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
            out.push((fields, end.terminated, parser.raw_text()));
        }
        out
    }

    #[test]
    fn quoted_fields_keep_delimiters_quotes_and_newlines() {
        let got = rows(b"a,\"b,c\",\"say \"\"hi\"\"\"\r\n\n\"multi\nline\",x\n");
        assert_eq!(got[0].0, ["a", "b,c", "say \"hi\""]);
        assert_eq!(got[0].2, "a,\"b,c\",\"say \"\"hi\"\"\"");
        assert_eq!(got[1].0, ["multi\nline", "x"]);
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
        let got = rows(text.as_bytes());
        assert_eq!(got[0].0.len(), 101);
        assert_eq!(got[0].0[0], long);
    }

    #[test]
    fn an_unclosed_quote_is_detected() {
        let mut parser = RowParser::new(b',', b'"');
        let mut input: &[u8] = b"a,\"b\nc";
        parser.read(&mut input).unwrap();
        assert!(parser.ends_inside_quotes());
        let mut input: &[u8] = b"a,\"b\"\"\",c\"d";
        parser.read(&mut input).unwrap();
        assert!(!parser.ends_inside_quotes());
    }
}
