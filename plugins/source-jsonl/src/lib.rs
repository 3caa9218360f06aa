//! Agora source plugin `jsonl`: JSON Lines files (one file, a directory or a glob), optionally
//! tailed.
//!
//! Params (JSON): only the kit's `path`, `extension` and `follow`.
//!
//! Each non-blank line must be one JSON object; its text is passed through unchanged (not
//! re-serialised) as the record's `fields`. Blank lines are skipped; a UTF-8 byte-order mark at
//! the start of a line is ignored. Any other line becomes an error line with its raw text:
//! `invalid_utf8`, `malformed_json`, or `not_an_object` (valid JSON, but not an object).

mod format;

pub use format::JsonlFormat;

/// The jsonl source plugin.
pub type JsonlSource = agora_source_kit::FileSource<JsonlFormat>;

agora_plugin_api::export_source! {
    plugin: JsonlSource,
    name: "jsonl",
    version: env!("CARGO_PKG_VERSION"),
    capabilities: "file,dir,glob,tail",
    description: "reads JSON Lines files: one file, a directory or a glob, optionally tailing them",
}

#[cfg(test)]
mod tests;
