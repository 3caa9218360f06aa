//! The file parameters every file-reading plugin accepts, and strict parsing of a plugin's params.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Where a file source reads from. A plugin embeds it in its own params struct with
/// `#[serde(flatten)]` and puts `#[serde(deny_unknown_fields)]` on that struct.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FileParams {
    /// A file, a directory (its regular files, non-recursive, in name order) or a glob pattern
    /// such as `data/*.csv`.
    pub path: String,
    /// Only files with this extension (`"csv"` or `".csv"`, any case), for directories and globs.
    #[serde(default)]
    pub extension: Option<String>,
    /// Tail mode: keep watching for appended data and new files.
    #[serde(default)]
    pub follow: bool,
}

impl FileParams {
    /// The keys [`FileParams`] reads, for "valid keys" lists in error messages.
    pub const KEYS: &'static [&'static str] = &["path", "extension", "follow"];

    /// Checks what serde cannot: a non-empty path and a plain extension.
    ///
    /// # Errors
    /// A message naming the parameter.
    pub fn validate(&self, plugin: &str) -> Result<(), String> {
        if self.path.trim().is_empty() {
            return Err(format!("{plugin} params: path must name a file, a directory or a glob pattern"));
        }
        if let Some(extension) = &self.extension {
            let bare = extension.trim_start_matches('.');
            if bare.is_empty() || bare.contains(['/', '\\', '*', '?', '[']) {
                return Err(format!("{plugin} params: extension must be a plain extension such as \"csv\", got {extension:?}"));
            }
        }
        Ok(())
    }
}

/// Parses a plugin's JSON `params` into `T`; empty params read as `{}`.
///
/// `own_keys` are the keys `T` adds to [`FileParams::KEYS`]; they are listed when a key is
/// unknown or a value has the wrong type, since a flattened struct's error does not list them.
///
/// # Errors
/// `"<plugin> params: <what serde said> (valid keys: ...)"`.
pub fn parse_params<T: DeserializeOwned>(plugin: &str, config: &[u8], own_keys: &[&str]) -> Result<T, String> {
    let text: &[u8] = if config.iter().all(u8::is_ascii_whitespace) { b"{}" } else { config };
    serde_json::from_slice(text).map_err(|err| {
        let keys: Vec<&str> = FileParams::KEYS.iter().chain(own_keys).copied().collect();
        format!("{plugin} params: {err} (valid keys: {})", keys.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(flatten)]
        files: FileParams,
        #[serde(default)]
        sep: Option<char>,
    }

    #[test]
    fn flattened_params_read_file_keys_and_own_keys() {
        let demo: Demo = parse_params("demo", br#"{"path":"a/*.csv","follow":true,"sep":";"}"#, &["sep"]).unwrap();
        assert_eq!(demo.files, FileParams { path: "a/*.csv".into(), extension: None, follow: true });
        assert_eq!(demo.sep, Some(';'));
    }

    #[test]
    fn unknown_keys_are_rejected_and_valid_keys_listed() {
        let err = parse_params::<Demo>("demo", br#"{"path":"a","folow":true}"#, &["sep"]).unwrap_err();
        assert!(err.starts_with("demo params: unknown field `folow`"), "{err}");
        assert!(err.contains("valid keys: path, extension, follow, sep"), "{err}");
    }

    #[test]
    fn missing_path_and_wrong_types_are_named() {
        let err = parse_params::<Demo>("demo", b"", &[]).unwrap_err();
        assert!(err.contains("missing field `path`"), "{err}");
        let err = parse_params::<Demo>("demo", br#"{"path":"a","follow":"yes"}"#, &[]).unwrap_err();
        assert!(err.contains("follow") || err.contains("boolean"), "{err}");
    }

    #[test]
    fn validate_rejects_empty_path_and_pattern_extensions() {
        let mut params = FileParams { path: " ".into(), extension: None, follow: false };
        assert!(params.validate("demo").unwrap_err().contains("path"));
        params.path = "data".into();
        params.extension = Some(".csv".into());
        assert!(params.validate("demo").is_ok());
        params.extension = Some("*.csv".into());
        assert!(params.validate("demo").unwrap_err().contains("extension"));
    }
}
