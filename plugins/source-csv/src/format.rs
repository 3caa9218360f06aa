//! The csv record format: header handling per file, field-count checks, and fields as JSON.

use std::collections::HashSet;
use std::io;

use agora_plugin_api::push_json_string;
use agora_source_kit::{push_decimal, Batch, FileCtx, FileParams, FileReader, RecordFormat, Step};

use crate::params::{self, CsvOptions};
use crate::parser::RowParser;

/// Buffer of the one-off reader that fetches a header when resuming in the middle of a file.
const HEADER_READ_BUFFER: usize = 64 * 1024;

/// Column keys and the expected field count of one file (or of every file).
#[derive(Debug, Default)]
pub struct Layout {
    /// `"name":` per column, JSON-encoded once.
    keys: Vec<Vec<u8>>,
    /// The field count every row must have; `None` when `flexible`.
    width: Option<usize>,
    /// Where the file's first row (the one that gave this layout) starts; `None` for the
    /// layout that applies to every file.
    first_row_at: Option<u64>,
}

/// Reads CSV rows as records whose fields are `{"column": "value", ...}`, all values strings.
#[derive(Debug)]
pub struct CsvFormat {
    options: CsvOptions,
    parser: RowParser,
    /// The layout when no per-file one applies (names from `columns`, or none).
    fixed: Layout,
    /// `"c0":`, `"c1":`, ... for columns without a name, grown on demand.
    generated: Vec<Vec<u8>>,
    /// `"<offset_column>":` when the option is set.
    offset_key: Option<Vec<u8>>,
}

impl CsvFormat {
    /// A format for validated options.
    pub fn new(options: CsvOptions) -> Self {
        let fixed = Layout {
            keys: options.columns.iter().flatten().map(|name| encode_key(name)).collect(),
            width: match (&options.columns, options.flexible) {
                (Some(columns), false) => Some(columns.len()),
                _ => None,
            },
            first_row_at: None,
        };
        let offset_key = options.offset_column.as_deref().map(encode_key);
        Self { parser: RowParser::new(options.delimiter, options.quote), options, fixed, generated: Vec::new(), offset_key }
    }

    /// Whether each file's first row decides its layout: it is the header, or (headerless,
    /// strict, no `columns`) it fixes the field count.
    fn layout_per_file(&self) -> bool {
        self.options.header || (self.options.columns.is_none() && !self.options.flexible)
    }

    /// The layout given by the row just parsed, which starts at byte `start`, as the first row of
    /// its file.
    ///
    /// # Errors
    /// A header name that is also the `offset_column`.
    fn layout_from_row(&self, file: &FileCtx, start: u64) -> Result<Layout, String> {
        let (bytes, ends) = self.parser.fields();
        let width = (!self.options.flexible).then_some(ends.len());
        let first_row_at = Some(start);
        if !self.options.header {
            return Ok(Layout { keys: Vec::new(), width, first_row_at });
        }
        if let Some(columns) = &self.options.columns {
            let keys = columns.iter().map(|name| encode_key(name)).collect();
            return Ok(Layout { keys, width: width.map(|_| columns.len()), first_row_at });
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::with_capacity(ends.len());
        let mut from = 0;
        for (index, &to) in ends.iter().enumerate() {
            let name = String::from_utf8_lossy(&bytes[from..to]);
            from = to;
            let base = if name.is_empty() { format!("c{index}") } else { name.into_owned() };
            let mut unique = base.clone();
            let mut copy = 2;
            while !seen.insert(unique.clone()) {
                unique = format!("{base}_{copy}");
                copy += 1;
            }
            if self.options.offset_column.as_ref() == Some(&unique) {
                return Err(format!(
                    "csv: offset_column {unique:?} collides with column {unique:?} of the header of {}; choose another offset_column name",
                    file.path().display()
                ));
            }
            keys.push(encode_key(&unique));
        }
        Ok(Layout { keys, width, first_row_at })
    }

    /// Reads the first row of `file` from its start, for a reader resuming in the middle;
    /// `None` when the file has no row yet (only blank lines so far).
    fn load_layout(&mut self, file: &FileCtx) -> Result<Option<Layout>, String> {
        let mut head = FileReader::with_capacity(file.path(), 0, HEADER_READ_BUFFER)?;
        match self.parser.read_row(&mut head).map_err(|err| read_error(file, &err))? {
            Some(row) if !self.parser.fields().1.is_empty() => self.layout_from_row(file, row.skipped).map(Some),
            _ => Ok(None),
        }
    }

    /// Writes the row just parsed as a record line, or as an error line saying why it is not one.
    fn emit(&self, file: &FileCtx, layout: &Layout, start: u64, terminated: bool, batch: &mut Batch) {
        let at = file.at(start);
        if !terminated && self.parser.ends_inside_quotes() {
            return batch.push_error(&at, "malformed_csv", &self.parser.raw_text());
        }
        let (bytes, ends) = self.parser.fields();
        // Valid as a whole and cut at character boundaries means every field is valid.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) if ends.iter().all(|&to| text.is_char_boundary(to)) => text,
            _ => return batch.push_error(&at, "invalid_utf8", &self.parser.raw_text()),
        };
        if layout.width.is_some_and(|width| width != ends.len()) {
            return batch.push_error(&at, "wrong_field_count", &self.parser.raw_text());
        }
        let generated = &self.generated;
        batch.push_record(&at, |out| {
            out.push(b'{');
            let mut from = 0;
            for (index, &to) in ends.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(layout.keys.get(index).unwrap_or(&generated[index]));
                push_json_string(out, &text[from..to]);
                from = to;
            }
            if let Some(key) = &self.offset_key {
                if !ends.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(key);
                out.push(b'"');
                push_decimal(out, start);
                out.push(b'"');
            }
            out.push(b'}');
        });
    }
}

impl RecordFormat for CsvFormat {
    /// The layout the file's first row gives (its header, or a headerless file's width).
    type FileState = Option<Layout>;

    fn from_config(config: &[u8]) -> Result<(FileParams, Self), String> {
        let (files, options) = params::parse(config)?;
        Ok((files, Self::new(options)))
    }

    fn read_record(
        &mut self,
        file: &FileCtx,
        state: &mut Option<Layout>,
        reader: &mut FileReader,
        batch: &mut Batch,
    ) -> Result<Step, String> {
        if self.layout_per_file() && state.is_none() && reader.position() != 0 {
            // Resuming past the first row (or past blank lines only): find the first row.
            *state = self.load_layout(file)?;
        }
        let before = reader.position();
        let Some(row) = self.parser.read_row(reader).map_err(|err| read_error(file, &err))? else {
            return Ok(Step::Eof);
        };
        let fields = self.parser.fields().1.len();
        if fields == 0 {
            // A line of blanks cut off by the end of the file: nothing yet (held back when tailing).
            return Ok(Step::Consumed { terminated: row.terminated });
        }
        let start = before + row.skipped;
        // The first row of its file: no layout yet, or the row that gave it read again (a
        // header still being written is rolled back and re-read when tailing).
        let first_row = state.as_ref().is_none_or(|layout| layout.first_row_at == Some(start));
        if first_row && self.layout_per_file() {
            *state = Some(self.layout_from_row(file, start)?);
            if self.options.header {
                return Ok(Step::Consumed { terminated: row.terminated });
            }
        }
        while self.generated.len() < fields {
            self.generated.push(encode_key(&format!("c{}", self.generated.len())));
        }
        self.emit(file, state.as_ref().unwrap_or(&self.fixed), start, row.terminated, batch);
        Ok(Step::Consumed { terminated: row.terminated })
    }
}

/// `"name":` as JSON.
fn encode_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 3);
    push_json_string(&mut key, name);
    key.push(b':');
    key
}

fn read_error(file: &FileCtx, err: &io::Error) -> String {
    format!("cannot read {}: {err}", file.path().display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for value in [0, 7, 10, 1234, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
    }
}
