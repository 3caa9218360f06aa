//! Agora source plugin `csv`: CSV files (one file, a directory or a glob), optionally tailed.
//!
//! Params (JSON): the kit's `path`, `extension`, `follow`, plus
//! - `delimiter` (one ASCII character, default `","`), `quote` (default `"\""`, doubled to escape);
//! - `header` (default `true`): the first row of each file names the columns; it is read from
//!   the start of the file even when resuming in the middle, and cached per file identity;
//! - `columns`: names that replace the header's (or name a headerless file's columns); without
//!   them a headerless file's columns are `c0`, `c1`, ...;
//! - `flexible` (default `false`): allow rows with a different number of fields; extra fields
//!   are named `c<index>`, missing ones are left out.
//!
//! Each row becomes `{"column": "value", ...}` with every value a JSON string (an empty cell is
//! `""`); the host coerces types. Blank lines are skipped. A row that is not a record becomes an
//! error line with its raw text: `invalid_utf8`, `wrong_field_count` (not `flexible`) or
//! `malformed_csv` (the file ends inside a quoted field). Parsing is otherwise as lenient as the
//! csv crate's: a quote inside an unquoted field is kept as text. Empty header names become
//! `c<index>`; a repeated header name gets `_2`, `_3`, ... appended.

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
