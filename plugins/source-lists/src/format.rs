//! The lists record formats: `id_list` lines and `json_object` files.

use std::io::{BufRead, Read};

use agora_plugin_api::push_json_string;
use agora_source_kit::{parse_params, push_decimal, Batch, FileCtx, FileParams, FileReader, RecordFormat, Step};
use serde::Deserialize;

const OWN_KEYS: &[&str] = &["layout", "key_field", "value_field", "position_field"];

/// `params` of a lists source, as configured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsParams {
    #[serde(flatten)]
    files: FileParams,
    #[serde(default)]
    layout: Layout,
    #[serde(default = "default_key_field")]
    key_field: String,
    #[serde(default = "default_value_field")]
    value_field: String,
    #[serde(default = "default_position_field")]
    position_field: String,
}

fn default_key_field() -> String {
    "key".into()
}
fn default_value_field() -> String {
    "value".into()
}
fn default_position_field() -> String {
    "position".into()
}

/// How a file holds its lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `key value value ...` per line.
    #[default]
    IdList,
    /// One JSON object of key to value per file.
    JsonObject,
}

/// Reads list-shaped files into one record per value (or entry).
#[derive(Debug)]
pub struct ListsFormat {
    layout: Layout,
    /// `"<key_field>":`, `,"<value_field>":` and `,"<position_field>":`, JSON-encoded once.
    key_prefix: Vec<u8>,
    value_prefix: Vec<u8>,
    position_prefix: Vec<u8>,
    /// The line or file being read, reused across records.
    buffer: Vec<u8>,
}

fn field_prefix(leading: &str, name: &str) -> Vec<u8> {
    let mut out = leading.as_bytes().to_vec();
    push_json_string(&mut out, name);
    out.push(b':');
    out
}

impl RecordFormat for ListsFormat {
    type FileState = ();

    fn from_config(config: &[u8]) -> Result<(FileParams, Self), String> {
        let params: ListsParams = parse_params("lists", config, OWN_KEYS)?;
        params.files.validate("lists")?;
        if params.layout == Layout::JsonObject && params.files.follow {
            return Err("lists params: follow cannot be used with layout \"json_object\" (a JSON object is read whole)".into());
        }
        let names = [&params.key_field, &params.value_field, &params.position_field];
        if names.iter().any(|name| name.trim().is_empty()) {
            return Err("lists params: key_field, value_field and position_field must not be empty".into());
        }
        if names[0] == names[1] || names[0] == names[2] || names[1] == names[2] {
            return Err(format!("lists params: key_field, value_field and position_field must differ, got {names:?}"));
        }
        let format = Self {
            layout: params.layout,
            key_prefix: field_prefix("{", &params.key_field),
            value_prefix: field_prefix(",", &params.value_field),
            position_prefix: field_prefix(",", &params.position_field),
            buffer: Vec::new(),
        };
        Ok((params.files, format))
    }

    fn read_record(&mut self, file: &FileCtx, _state: &mut (), reader: &mut FileReader, batch: &mut Batch) -> Result<Step, String> {
        match self.layout {
            Layout::IdList => self.read_line(file, reader, batch),
            Layout::JsonObject => self.read_object(file, reader, batch),
        }
    }
}

impl ListsFormat {
    fn read_line(&mut self, file: &FileCtx, reader: &mut FileReader, batch: &mut Batch) -> Result<Step, String> {
        loop {
            let start = reader.position();
            self.buffer.clear();
            let read = reader.read_until(b'\n', &mut self.buffer).map_err(|err| format!("cannot read {}: {err}", file.path().display()))?;
            if read == 0 {
                return Ok(Step::Eof);
            }
            let terminated = self.buffer.ends_with(b"\n");
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                let raw = String::from_utf8_lossy(&self.buffer);
                batch.push_error(&file.at(start), "invalid_utf8", raw.trim_end_matches(['\r', '\n']));
                return Ok(Step::Consumed { terminated });
            };
            let mut tokens = text.split_ascii_whitespace();
            let Some(key) = tokens.next() else {
                if terminated {
                    continue;
                }
                return Ok(Step::Consumed { terminated });
            };
            let mut position = 0u64;
            for value in tokens {
                batch.push_record(&file.at(start), |out| {
                    out.extend_from_slice(&self.key_prefix);
                    push_json_string(out, key);
                    out.extend_from_slice(&self.value_prefix);
                    push_json_string(out, value);
                    out.extend_from_slice(&self.position_prefix);
                    push_decimal(out, position);
                    out.push(b'}');
                });
                position += 1;
            }
            if position == 0 {
                batch.push_error(&file.at(start), "no_values", text.trim_end_matches(['\r', '\n']));
            }
            return Ok(Step::Consumed { terminated });
        }
    }

    fn read_object(&mut self, file: &FileCtx, reader: &mut FileReader, batch: &mut Batch) -> Result<Step, String> {
        let start = reader.position();
        self.buffer.clear();
        reader.read_to_end(&mut self.buffer).map_err(|err| format!("cannot read {}: {err}", file.path().display()))?;
        if self.buffer.iter().all(u8::is_ascii_whitespace) {
            return Ok(Step::Eof);
        }
        let text = String::from_utf8_lossy(&self.buffer);
        match serde_json::from_slice::<serde_json::Value>(&self.buffer) {
            Ok(serde_json::Value::Object(entries)) => {
                for (key, value) in &entries {
                    batch.push_record(&file.at(start), |out| {
                        out.extend_from_slice(&self.key_prefix);
                        push_json_string(out, key);
                        out.extend_from_slice(&self.value_prefix);
                        serde_json::to_writer(&mut *out, value).expect("writing JSON to a Vec cannot fail");
                        out.push(b'}');
                    });
                }
            }
            Ok(_) => batch.push_error(&file.at(start), "not_an_object", &text),
            Err(_) if std::str::from_utf8(&self.buffer).is_err() => batch.push_error(&file.at(start), "invalid_utf8", &text),
            Err(_) => batch.push_error(&file.at(start), "malformed_json", &text),
        }
        Ok(Step::Consumed { terminated: true })
    }
}
