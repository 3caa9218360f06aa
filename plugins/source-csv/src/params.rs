//! The csv plugin's params and their validation.

use std::collections::HashSet;

use agora_source_kit::{parse_params, FileParams};
use serde::Deserialize;

/// The keys the csv plugin adds to the kit's file params.
const OWN_KEYS: &[&str] = &["delimiter", "quote", "header", "columns", "flexible"];

/// `params` of a csv source, as configured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvParams {
    #[serde(flatten)]
    files: FileParams,
    /// Field separator, one ASCII character.
    #[serde(default = "default_delimiter")]
    delimiter: String,
    /// Quote character, one ASCII character.
    #[serde(default = "default_quote")]
    quote: String,
    /// The first row names the columns.
    #[serde(default = "default_header")]
    header: bool,
    /// Column names; with `header` they replace the header's names.
    #[serde(default)]
    columns: Option<Vec<String>>,
    /// Rows may have a different number of fields than the header.
    #[serde(default)]
    flexible: bool,
}

fn default_delimiter() -> String {
    ",".to_string()
}

fn default_quote() -> String {
    "\"".to_string()
}

fn default_header() -> bool {
    true
}

/// The validated options the format works with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
    pub columns: Option<Vec<String>>,
    pub flexible: bool,
}

/// Parses and validates the csv plugin's JSON params.
///
/// # Errors
/// A message naming the bad parameter and what it accepts.
pub fn parse(config: &[u8]) -> Result<(FileParams, CsvOptions), String> {
    let params: CsvParams = parse_params("csv", config, OWN_KEYS)?;
    params.files.validate("csv")?;
    let delimiter = single_ascii("delimiter", &params.delimiter)?;
    let quote = single_ascii("quote", &params.quote)?;
    if delimiter == quote {
        return Err(format!("csv params: delimiter and quote must differ, both are {:?}", params.quote));
    }
    if let Some(columns) = &params.columns {
        if columns.is_empty() {
            return Err("csv params: columns must name at least one column (or leave it out)".to_string());
        }
        let mut seen = HashSet::new();
        if let Some(dup) = columns.iter().find(|name| !seen.insert(name.as_str())) {
            return Err(format!("csv params: columns names {dup:?} twice"));
        }
    }
    let options = CsvOptions { delimiter, quote, header: params.header, columns: params.columns, flexible: params.flexible };
    Ok((params.files, options))
}

/// One ASCII character other than a line break, as a byte.
fn single_ascii(name: &str, value: &str) -> Result<u8, String> {
    match value.as_bytes() {
        [byte] if *byte != b'\n' && *byte != b'\r' => Ok(*byte),
        _ => Err(format!(
            "csv params: {name} must be a single ASCII character other than a line break (e.g. \",\", \";\", \"\\t\"), got {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_comma_double_quote_header_strict() {
        let (files, options) = parse(br#"{"path":"a.csv"}"#).unwrap();
        assert_eq!(files.path, "a.csv");
        assert_eq!(options, CsvOptions { delimiter: b',', quote: b'"', header: true, columns: None, flexible: false });
    }

    #[test]
    fn every_key_is_read() {
        let config = br#"{"path":"d","extension":"csv","follow":true,"delimiter":"\t","quote":"'","header":false,"columns":["a","b"],"flexible":true}"#;
        let (files, options) = parse(config).unwrap();
        assert!(files.follow);
        assert_eq!(
            options,
            CsvOptions { delimiter: b'\t', quote: b'\'', header: false, columns: Some(vec!["a".into(), "b".into()]), flexible: true }
        );
    }

    #[test]
    fn bad_values_are_named_with_what_is_accepted() {
        let err = parse(br#"{"path":"a","delimiter":";;"}"#).unwrap_err();
        assert!(err.contains("delimiter must be a single ASCII character"), "{err}");
        let err = parse(r#"{"path":"a","delimiter":"é"}"#.as_bytes()).unwrap_err();
        assert!(err.contains("delimiter"), "{err}");
        let err = parse(br#"{"path":"a","quote":","}"#).unwrap_err();
        assert!(err.contains("delimiter and quote must differ"), "{err}");
        let err = parse(br#"{"path":"a","columns":["x","x"]}"#).unwrap_err();
        assert!(err.contains("\"x\" twice"), "{err}");
        let err = parse(br#"{"path":"a","headers":false}"#).unwrap_err();
        assert!(err.contains("unknown field `headers`") && err.contains("header, columns"), "{err}");
    }
}
