//! Agora source plugin `csv`: CSV files (one file, a directory or a glob), optionally tailed.
//!
//! Params (JSON): the kit's `path`, `extension`, `follow`, plus
//! - `delimiter` (default `","`): one ASCII character other than a line break (e.g. `","`,
//!   `";"`, `"\t"`), or `"whitespace"`: fields are separated by runs of spaces and/or tabs,
//!   spaces and tabs at the start and end of a line are ignored, and nothing is quoted (a quote
//!   is ordinary text). This reads fixed-width research files such as CDNOW's
//!   ` 00001 19970101  1   11.77`. A line of only spaces and tabs is blank. Lines end at `\n`,
//!   `\r\n` or `\r`, as in CSV mode;
//! - `quote` (default `"\""`, doubled to escape): one ASCII character other than the delimiter;
//!   refused with `"whitespace"`;
//! - `header` (default `true`): the first row of each file names the columns; it is read from
//!   the start of the file even when resuming in the middle, and cached per file identity;
//! - `columns`: names that replace the header's (or name a headerless file's columns); without
//!   them a headerless file's columns are `c0`, `c1`, ...;
//! - `flexible` (default `false`): allow rows with a different number of fields; extra fields
//!   are named `c<index>`, missing ones are left out;
//! - `offset_column` (optional): the name of a field added to every record, holding the byte
//!   offset in its file where the record starts (its first byte after any blank lines), as a
//!   decimal string such as `"1234"` (the same number as the record's locator
//!   `<path>@<offset>`). A file without an id column can use it as a stable per-line id: the
//!   same line gets the same value on every re-read and after a resume from a checkpoint, and
//!   no two records of a file share one (records of different files can: add the file's own id
//!   if a directory or glob is read; a rewritten or truncated file's lines get new offsets).
//!   Works with every `delimiter`. A name that another field has is refused: one of `columns`,
//!   a `c<index>` name when such names are generated (headerless without `columns`, or
//!   `flexible`) at open, a name in a file's header when that header is read (the poll fails).
//!
//! Each row becomes `{"column": "value", ...}` with every value a JSON string (an empty cell is
//! `""`); the host coerces types. Blank lines are skipped. A row that is not a record becomes an
//! error line with its raw text: `invalid_utf8`, `wrong_field_count` (not `flexible`) or
//! `malformed_csv` (the file ends inside a quoted field; never with `"whitespace"`). Parsing is
//! otherwise as lenient as the csv crate's: a quote inside an unquoted field is kept as text.
//! Empty header names become `c<index>`; a repeated header name gets `_2`, `_3`, ... appended.
//! When tailing, a last line without its terminator is held back until it is complete.

mod format;
mod params;
mod parser;

pub use format::CsvFormat;
pub use params::CsvOptions;

/// The csv source plugin.
pub type CsvSource = agora_source_kit::FileSource<CsvFormat>;

agora_plugin_api::export_source! {
    plugin: CsvSource,
    name: "csv",
    version: env!("CARGO_PKG_VERSION"),
    capabilities: "file,dir,glob,tail",
    description: "reads CSV files: one file, a directory or a glob, optionally tailing them",
}

#[cfg(test)]
mod tests;
