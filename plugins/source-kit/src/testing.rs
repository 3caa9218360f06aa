//! Test support for plugin authors: drive a [`SourcePlugin`] and look at what it produced.
//!
//! ```ignore
//! let out = drain::<CsvSource>(&json!({"path": path}), b"", 2).unwrap();
//! assert_eq!(out.fields(), vec![json!({"a": "1"})]);
//! ```

use agora_plugin_api::{PollResult, SourcePlugin};
use serde_json::Value;

/// The most polls [`drain`] makes before deciding the plugin never catches up.
pub const MAX_POLLS: usize = 100_000;

/// One line of a batch, decoded and checked against the `agora-batch/1` encoding.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Record { offset: String, fields: Value },
    Error { offset: String, reason: String, raw: String },
}

impl Line {
    /// The line's locator (`<path>@<byte offset>`).
    pub fn offset(&self) -> &str {
        match self {
            Self::Record { offset, .. } | Self::Error { offset, .. } => offset,
        }
    }
}

/// Everything a run of polls produced.
#[derive(Clone, Debug, Default)]
pub struct Drained {
    pub lines: Vec<Line>,
    /// The checkpoint after the last poll.
    pub checkpoint: Vec<u8>,
    pub polls: usize,
    /// Progress reported by the last poll.
    pub progress: (u64, u64),
}

impl Drained {
    /// The `fields` of every record line, in order.
    pub fn fields(&self) -> Vec<Value> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Record { fields, .. } => Some(fields.clone()),
                Line::Error { .. } => None,
            })
            .collect()
    }

    /// `(reason, raw)` of every error line, in order.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Error { reason, raw, .. } => Some((reason.clone(), raw.clone())),
                Line::Record { .. } => None,
            })
            .collect()
    }

    /// The locator of every line, in order.
    pub fn offsets(&self) -> Vec<String> {
        self.lines.iter().map(|line| line.offset().to_string()).collect()
    }
}

/// Decodes a batch, checking each line's shape and the record count.
///
/// # Errors
/// A message describing the first line that does not follow the encoding.
pub fn parse_batch(result: &PollResult) -> Result<Vec<Line>, String> {
    let text = std::str::from_utf8(&result.batch).map_err(|err| format!("batch is not UTF-8: {err}"))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("batch does not end with a newline".to_string());
    }
    let lines: Vec<Line> = text.lines().map(parse_line).collect::<Result<_, _>>()?;
    if lines.len() as u64 != result.records {
        return Err(format!("batch has {} lines but records = {}", lines.len(), result.records));
    }
    Ok(lines)
}

fn parse_line(line: &str) -> Result<Line, String> {
    let value: Value = serde_json::from_str(line).map_err(|err| format!("batch line is not JSON ({err}): {line}"))?;
    let object = value.as_object().ok_or_else(|| format!("batch line is not an object: {line}"))?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
    let offset = text("offset").ok_or_else(|| format!("batch line has no string offset: {line}"))?;
    match (object.get("fields"), text("error"), text("raw")) {
        (Some(fields @ Value::Object(_)), None, None) if object.len() == 2 => Ok(Line::Record { offset, fields: fields.clone() }),
        (None, Some(reason), Some(raw)) if object.len() == 3 => Ok(Line::Error { offset, reason, raw }),
        _ => Err(format!("batch line is neither a record nor an error line: {line}")),
    }
}

/// Polls an open plugin, feeding each poll the previous checkpoint, until it reports caught up.
///
/// # Errors
/// The plugin's error, a malformed batch, or no catching up within [`MAX_POLLS`].
pub fn drain_open<P: SourcePlugin>(plugin: &mut P, checkpoint: &[u8], max_records: u32) -> Result<Drained, String> {
    let mut out = Drained { checkpoint: checkpoint.to_vec(), ..Drained::default() };
    while out.polls < MAX_POLLS {
        let result = plugin.poll(max_records, &out.checkpoint)?;
        let lines = parse_batch(&result)?;
        // Only the records of one source line (sharing its locator) may run past the limit.
        let limit = max_records as usize;
        if lines.len() > limit
            && lines[limit.saturating_sub(1)..].iter().any(|line| line.offset() != lines[limit.saturating_sub(1)].offset())
        {
            return Err(format!("poll returned {} records, more than max_records = {max_records}", result.records));
        }
        out.lines.extend(lines);
        out.checkpoint = result.checkpoint;
        out.progress = result.progress;
        out.polls += 1;
        if result.caught_up {
            return Ok(out);
        }
    }
    Err(format!("not caught up after {MAX_POLLS} polls"))
}

/// Opens `P` with `config` (the params as JSON) and `checkpoint`, then [`drain_open`]s it.
///
/// # Errors
/// The plugin's open or poll error, or what [`drain_open`] reports.
pub fn drain<P: SourcePlugin>(config: &Value, checkpoint: &[u8], max_records: u32) -> Result<Drained, String> {
    let mut plugin = open::<P>(config, checkpoint)?;
    drain_open(&mut plugin, checkpoint, max_records)
}

/// Opens `P` with `config` (the params as JSON).
///
/// # Errors
/// The plugin's open error.
pub fn open<P: SourcePlugin>(config: &Value, checkpoint: &[u8]) -> Result<P, String> {
    P::open(config.to_string().as_bytes(), checkpoint)
}
