//! The csv record format: header handling per file, field-count checks, and fields as JSON.

use std::collections::HashSet;
use std::io;

use agora_plugin_api::push_json_string;
use agora_source_kit::{Batch, FileCtx, FileParams, FileReader, RecordFormat, Step};

use crate::params::{self, CsvOptions};
use crate::parser::{RowEnd, RowParser};

/// Buffer of the one-off reader that fetches a header when resuming in the middle of a file.
const HEADER_READ_BUFFER: usize = 64 * 1024;

/// Column keys and the expected field count of one file (or of every file).
#[derive(Debug, Default)]
pub struct Layout {
    /// `"name":` per column, JSON-encoded once.
    keys: Vec<Vec<u8>>,
    /// The field count every row must have; `None` when `flexible`.
    width: Option<usize>,
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
        };
        Self { parser: RowParser::new(options.delimiter, options.quote), options, fixed, generated: Vec::new() }
    }

    /// Whether each file's first row decides its layout: it is the header, or (headerless,
    /// strict, no `columns`) it fixes the field count.
    fn layout_per_file(&self) -> bool {
        self.options.header || (self.options.columns.is_none() && !self.options.flexible)
    }

    /// The layout given by the row just parsed, as the first row of its file.
    fn layout_from_row(&self) -> Layout {
        let (bytes, ends) = self.parser.fields();
        let width = (!self.options.flexible).then_some(ends.len());
        if !self.options.header {
            return Layout { keys: Vec::new(), width };
        }
        if let Some(columns) = &self.options.columns {
            return Layout { keys: columns.iter().map(|name| encode_key(name)).collect(), width: width.map(|_| columns.len()) };
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
            keys.push(encode_key(&unique));
        }
        Layout { keys, width }
    }

    /// Reads the first row of `file` from its start, for a reader resuming in the middle.
    fn load_layout(&mut self, file: &FileCtx) -> Result<Layout, String> {
        let mut head = FileReader::with_capacity(file.path(), 0, HEADER_READ_BUFFER)?;
        RowParser::skip_blank_lines(&mut head).map_err(|err| read_error(file, &err))?;
        if self.parser.read(&mut head).map_err(|err| read_error(file, &err))?.is_none() {
            return Err(format!("cannot read the first row of {}: the file has no rows", file.path().display()));
        }
        Ok(self.layout_from_row())
    }

    /// Writes the row just parsed as a record line, or as an error line saying why it is not one.
    fn emit(&self, file: &FileCtx, layout: &Layout, start: u64, end: RowEnd, batch: &mut Batch) {
        let at = file.at(start);
        if !end.terminated && self.parser.ends_inside_quotes() {
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
        let first_row = reader.position() == 0;
        if self.layout_per_file() && !first_row && state.is_none() {
            *state = Some(self.load_layout(file)?);
        }
        RowParser::skip_blank_lines(reader).map_err(|err| read_error(file, &err))?;
        let start = reader.position();
        let Some(end) = self.parser.read(reader).map_err(|err| read_error(file, &err))? else {
            return Ok(Step::Eof);
        };
        if first_row && self.layout_per_file() {
            *state = Some(self.layout_from_row());
            if self.options.header {
                return Ok(Step::Consumed { terminated: end.terminated });
            }
        }
        let fields = self.parser.fields().1.len();
        while self.generated.len() < fields {
            self.generated.push(encode_key(&format!("c{}", self.generated.len())));
        }
        self.emit(file, state.as_ref().unwrap_or(&self.fixed), start, end, batch);
        Ok(Step::Consumed { terminated: end.terminated })
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
