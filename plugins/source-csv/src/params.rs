//! The csv plugin's params and their validation.

use std::collections::HashSet;

use agora_source_kit::{parse_params, FileParams};
use serde::Deserialize;

/// The keys the csv plugin adds to the kit's file params.
const OWN_KEYS: &[&str] = &["delimiter", "quote", "header", "columns", "flexible", "offset_column"];

/// The `delimiter` value that selects whitespace-separated fields.
pub const WHITESPACE: &str = "whitespace";

/// `params` of a csv source, as configured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvParams {
    #[serde(flatten)]
    files: FileParams,
    /// Field separator: one ASCII character, or `"whitespace"`.
    #[serde(default = "default_delimiter")]
    delimiter: String,
    /// Quote character, one ASCII character (default `"`); not with `"whitespace"`.
    #[serde(default)]
    quote: Option<String>,
    /// The first row names the columns.
    #[serde(default = "default_header")]
    header: bool,
    /// Column names; with `header` they replace the header's names.
    #[serde(default)]
    columns: Option<Vec<String>>,
    /// Rows may have a different number of fields than the header.
    #[serde(default)]
    flexible: bool,
    /// A field of this name holds each record's start byte offset in its file.
    #[serde(default)]
    offset_column: Option<String>,
}

fn default_delimiter() -> String {
    ",".to_string()
}

fn default_header() -> bool {
    true
}

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// CSV: this byte separates fields, which may be quoted.
    Byte(u8),
    /// Runs of spaces and tabs separate fields; leading and trailing ones are ignored; no quoting.
    Whitespace,
}

/// The validated options the format works with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: Delimiter,
    /// The quote character (unused with [`Delimiter::Whitespace`]).
    pub quote: u8,
    pub header: bool,
    pub columns: Option<Vec<String>>,
    pub flexible: bool,
    /// The name of the field holding each record's start byte offset, if any.
    pub offset_column: Option<String>,
}

/// Parses and validates the csv plugin's JSON params.
///
/// # Errors
/// A message naming the bad parameter and what it accepts.
pub fn parse(config: &[u8]) -> Result<(FileParams, CsvOptions), String> {
    let params: CsvParams = parse_params("csv", config, OWN_KEYS)?;
    params.files.validate("csv")?;
    let delimiter = if params.delimiter == WHITESPACE {
        if let Some(quote) = &params.quote {
            return Err(format!(
                "csv params: quote cannot be used with delimiter \"whitespace\" (whitespace-separated fields are never quoted), \
                 got quote {quote:?}; leave quote out or use a single-character delimiter"
            ));
        }
        Delimiter::Whitespace
    } else {
        Delimiter::Byte(single_ascii("delimiter", &params.delimiter)?)
    };
    let quote = match &params.quote {
        Some(quote) => single_ascii("quote", quote)?,
        None => b'"',
    };
    if delimiter == Delimiter::Byte(quote) {
        return Err(format!("csv params: delimiter and quote must differ, both are {:?}", char::from(quote).to_string()));
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
    if let Some(name) = &params.offset_column {
        check_offset_column(name, &params)?;
    }
    let options = CsvOptions {
        delimiter,
        quote,
        header: params.header,
        columns: params.columns,
        flexible: params.flexible,
        offset_column: params.offset_column,
    };
    Ok((params.files, options))
}

/// An `offset_column` must be a name no other field can have: not one of `columns`, and not a
/// generated `c<index>` name when such names are in use. (A header's names are checked when
/// each file's header is read.)
fn check_offset_column(name: &str, params: &CsvParams) -> Result<(), String> {
    if name.is_empty() {
        return Err("csv params: offset_column must be a non-empty field name such as \"line_offset\" (or leave it out)".to_string());
    }
    if let Some(column) = params.columns.iter().flatten().find(|column| *column == name) {
        return Err(format!(
            "csv params: offset_column {name:?} collides with column {column:?} named in columns; choose another offset_column name"
        ));
    }
    let generated = name.strip_prefix('c').and_then(|digits| digits.parse::<usize>().ok()).is_some_and(|index| format!("c{index}") == name);
    let generates = params.flexible || (!params.header && params.columns.is_none());
    if generated && generates {
        return Err(format!(
            "csv params: offset_column {name:?} collides with the generated column name {name:?} (without header and columns, \
             columns are named c0, c1, ...; with flexible, extra fields are named c<index>); choose another offset_column name"
        ));
    }
    Ok(())
}

/// One ASCII character other than a line break, as a byte.
fn single_ascii(name: &str, value: &str) -> Result<u8, String> {
    let valid = if name == "delimiter" { "(e.g. \",\", \";\", \"\\t\") or \"whitespace\"" } else { "(e.g. \"\\\"\", \"'\")" };
    match value.as_bytes() {
        [byte] if *byte != b'\n' && *byte != b'\r' => Ok(*byte),
        _ => Err(format!("csv params: {name} must be a single ASCII character other than a line break {valid}, got {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(delimiter: Delimiter) -> CsvOptions {
        CsvOptions { delimiter, quote: b'"', header: true, columns: None, flexible: false, offset_column: None }
    }

    #[test]
    fn defaults_are_comma_double_quote_header_strict() {
        let (files, parsed) = parse(br#"{"path":"a.csv"}"#).unwrap();
        assert_eq!(files.path, "a.csv");
        assert_eq!(parsed, options(Delimiter::Byte(b',')));
    }

    #[test]
    fn every_key_is_read() {
        let config = br#"{"path":"d","extension":"csv","follow":true,"delimiter":"\t","quote":"'","header":false,"columns":["a","b"],"flexible":true,"offset_column":"at"}"#;
        let (files, parsed) = parse(config).unwrap();
        assert!(files.follow);
        assert_eq!(
            parsed,
            CsvOptions {
                delimiter: Delimiter::Byte(b'\t'),
                quote: b'\'',
                header: false,
                columns: Some(vec!["a".into(), "b".into()]),
                flexible: true,
                offset_column: Some("at".into()),
            }
        );
    }

    #[test]
    fn whitespace_is_a_delimiter_mode_without_quotes() {
        let (_, parsed) = parse(br#"{"path":"a.txt","delimiter":"whitespace"}"#).unwrap();
        assert_eq!(parsed, options(Delimiter::Whitespace));
        let err = parse(br#"{"path":"a","delimiter":"whitespace","quote":"'"}"#).unwrap_err();
        assert!(err.contains("quote cannot be used with delimiter \"whitespace\""), "{err}");
        // A single space is still a plain one-byte delimiter.
        assert_eq!(parse(br#"{"path":"a","delimiter":" "}"#).unwrap().1.delimiter, Delimiter::Byte(b' '));
    }

    #[test]
    fn bad_values_are_named_with_what_is_accepted() {
        let err = parse(br#"{"path":"a","delimiter":";;"}"#).unwrap_err();
        assert!(err.contains("delimiter must be a single ASCII character") && err.contains("or \"whitespace\""), "{err}");
        let err = parse(br#"{"path":"a","delimiter":"Whitespace"}"#).unwrap_err();
        assert!(err.contains("delimiter") && err.contains("\"whitespace\""), "{err}");
        let err = parse(r#"{"path":"a","delimiter":"é"}"#.as_bytes()).unwrap_err();
        assert!(err.contains("delimiter"), "{err}");
        let err = parse(br#"{"path":"a","quote":","}"#).unwrap_err();
        assert!(err.contains("delimiter and quote must differ"), "{err}");
        let err = parse(br#"{"path":"a","quote":"ab"}"#).unwrap_err();
        assert!(err.contains("quote must be a single ASCII character"), "{err}");
        let err = parse(br#"{"path":"a","columns":["x","x"]}"#).unwrap_err();
        assert!(err.contains("\"x\" twice"), "{err}");
        let err = parse(br#"{"path":"a","headers":false}"#).unwrap_err();
        assert!(err.contains("unknown field `headers`") && err.contains("header, columns, flexible, offset_column"), "{err}");
    }

    #[test]
    fn an_offset_column_colliding_with_a_column_is_refused_naming_both() {
        let err = parse(br#"{"path":"a","columns":["id","at"],"offset_column":"at"}"#).unwrap_err();
        assert!(err.contains("offset_column \"at\" collides with column \"at\""), "{err}");
        let err = parse(br#"{"path":"a","header":false,"offset_column":"c1"}"#).unwrap_err();
        assert!(err.contains("offset_column \"c1\" collides with the generated column name \"c1\""), "{err}");
        let err = parse(br#"{"path":"a","flexible":true,"offset_column":"c7"}"#).unwrap_err();
        assert!(err.contains("offset_column \"c7\""), "{err}");
        let err = parse(br#"{"path":"a","offset_column":""}"#).unwrap_err();
        assert!(err.contains("offset_column must be a non-empty"), "{err}");
        // Names that cannot be generated are fine.
        for ok in [r#"{"path":"a","header":false,"offset_column":"c01"}"#, r#"{"path":"a","offset_column":"c1"}"#] {
            assert!(parse(ok.as_bytes()).is_ok(), "{ok}");
        }
        let (_, parsed) = parse(br#"{"path":"a","header":false,"columns":["c0"],"offset_column":"c1"}"#).unwrap();
        assert_eq!(parsed.offset_column.as_deref(), Some("c1"));
    }
}
