//! The checkpoint of a file source: for each file, its identity and how many bytes were consumed.
//!
//! Wire form (JSON): `{"v":1,"files":[{"path":"a.csv","dev":2049,"ino":1234,"offset":4096}]}`.
//! `dev`/`ino` are 0 on platforms without inodes, where the path is the identity. Empty bytes mean
//! a fresh start.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::files::FileKey;

/// The checkpoint format version this kit writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// How far one file has been read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePosition {
    /// Where the file was when the checkpoint was taken (informational; identity is `key`).
    pub path: String,
    pub key: FileKey,
    /// Bytes consumed from the start of the file.
    pub offset: u64,
}

/// Every known file's position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub files: Vec<FilePosition>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    files: Vec<WireFile>,
}

#[derive(Serialize, Deserialize)]
struct WireFile {
    path: String,
    #[serde(default)]
    dev: u64,
    #[serde(default)]
    ino: u64,
    offset: u64,
}

impl Checkpoint {
    /// Reads a checkpoint; empty bytes are a fresh start.
    ///
    /// # Errors
    /// A message when the bytes are not a version-1 checkpoint.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let wire: Wire = serde_json::from_slice(bytes).map_err(|err| format!("invalid checkpoint: {err}"))?;
        if wire.v != CHECKPOINT_VERSION {
            return Err(format!("unsupported checkpoint version {} (this plugin reads version {CHECKPOINT_VERSION})", wire.v));
        }
        let files = wire
            .files
            .into_iter()
            .map(|file| FilePosition {
                key: FileKey::from_checkpoint(&file.path, file.dev, file.ino),
                path: file.path,
                offset: file.offset,
            })
            .collect();
        Ok(Self { files })
    }

    /// Writes the checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|file| {
                let (dev, ino) = file.key.dev_ino();
                WireFile { path: file.path.clone(), dev, ino, offset: file.offset }
            })
            .collect();
        serde_json::to_vec(&Wire { v: CHECKPOINT_VERSION, files }).expect("a checkpoint of strings and integers always serialises")
    }

    /// Offsets by identity, for lookups while resuming.
    pub fn offsets(&self) -> HashMap<&FileKey, u64> {
        self.files.iter().map(|file| (&file.key, file.offset)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bytes_are_a_fresh_start() {
        assert_eq!(Checkpoint::decode(b"").unwrap(), Checkpoint::default());
    }

    #[test]
    fn a_checkpoint_round_trips() {
        let checkpoint = Checkpoint {
            files: vec![FilePosition {
                path: "data/a \"1\".csv".into(),
                key: FileKey::from_checkpoint("data/a \"1\".csv", 7, 42),
                offset: 99,
            }],
        };
        let bytes = checkpoint.encode();
        assert_eq!(Checkpoint::decode(&bytes).unwrap(), checkpoint);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"v":1,"files":[{"path":"data/a \"1\".csv","#), "{text}");
        assert!(text.contains(r#""offset":99"#), "{text}");
    }

    #[test]
    fn other_versions_and_garbage_are_rejected() {
        let err = Checkpoint::decode(br#"{"v":2,"files":[]}"#).unwrap_err();
        assert!(err.contains("version 2"), "{err}");
        let err = Checkpoint::decode(b"1234").unwrap_err();
        assert!(err.starts_with("invalid checkpoint"), "{err}");
    }
}
