//! Agora source plugin `lists`: files where one line or one JSON entry holds a key and a list of
//! values, such as the S3-Rec benchmark files (`user item item ...` sequences and an
//! `{"item": [attribute, ...]}` object).
//!
//! Params (JSON), besides the kit's `path`, `extension` and `follow`:
//! - `layout`: `"id_list"` (default) or `"json_object"`.
//! - `key_field` (default `"key"`), `value_field` (default `"value"`): the names of the fields
//!   records carry.
//! - `position_field` (default `"position"`, `id_list` only): the value's zero-based position in
//!   its line, which keeps the order of a sequence that has no timestamps.
//!
//! `id_list`: each non-blank line is whitespace-separated `key value value ...`; every value
//! becomes one record `{key_field: key, value_field: value, position_field: n}`. A line with a
//! key and no values is an error line `no_values`; a line that is not UTF-8 is `invalid_utf8`.
//!
//! `json_object`: the whole file is one JSON object; every entry becomes one record
//! `{key_field: key, value_field: value}` with the value as it is (a list, usually). A file that
//! is not a JSON object is one error line (`malformed_json` or `not_an_object`). This layout
//! reads whole files, so it cannot `follow` them.
//!
//! All records of one line (or file) share its locator `<path>@<byte offset>` and are committed
//! together with the checkpoint after it.

mod format;

pub use format::ListsFormat;

/// The lists source plugin.
pub type ListsSource = agora_source_kit::FileSource<ListsFormat>;

agora_plugin_api::export_source! {
    plugin: ListsSource,
    name: "lists",
    version: env!("CARGO_PKG_VERSION"),
    capabilities: "file,dir,glob,tail",
    description: "reads `key value value ...` lines or a JSON object of key to list, one record per value or entry",
}

#[cfg(test)]
mod tests;
