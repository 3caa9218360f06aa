//! `text.classify`: an intent classifier trained from labelled texts: all-MiniLM-L6-v2 or
//! all-mpnet-base-v2 (the [`bert`](crate::bert) encoder of `text.minilm`), fine-tuned, with a
//! linear head on its unit vectors.
//!
//! `fit` data is JSON Lines, one example per line: `{"text": "...", "label": "..."}` (other keys
//! are ignored, blank lines skipped). Empty data, a line that is not such an object, an empty
//! text or label, or fewer than 2 distinct labels is an error, naming the line where there is one.
//! The head's labels are the distinct labels sorted (byte order).
//!
//! Training (see [`finetune`](crate::finetune)): each label's name joins the data as `label_names`
//! more examples of that label (BANKING77 10-shot, validation: +0.5 and +0.7 points on two draws);
//! then the frozen encoder's unit vectors of every text, a logistic-regression probe on them, then
//! `epochs` passes of AdamW over the top `train_layers` transformer layers and the head together,
//! cross-entropy with label smoothing, dropout, layer-wise learning-rate decay, linear warm-up and
//! decay, on batches of texts of similar length, each padded to its longest. Progress counts the
//! probe's encoding batches, the probe and every step. A fixed `seed` and `threads` give the same
//! weights (the snapshot differs only in the recorded fit time).
//!
//! Params (JSON object, an unknown key is refused; the defaults were chosen on BANKING77, see
//! `examples/banking77.rs`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `model_dir` | required | the encoder's folder, as for `text.minilm` (all-MiniLM-L6-v2, or all-mpnet-base-v2) |
//! | `max_length` | 128 | tokens per text, `[CLS]` and `[SEP]` included; longer texts are truncated |
//! | `batch_size` | 32 | texts per training step (and per forward pass when inferring) |
//! | `epochs` | 4 | fine-tuning passes over the data (0: the probe alone, the encoder frozen) |
//! | `label_names` | 1 | copies of each label's name, `_` and `-` read as spaces ("card_arrival" → "card arrival"), added to the training texts with that label |
//! | `min_steps` | 300 | more passes than `epochs` when it takes that many to reach this many steps (small data: 10 examples of 77 intents get 12 passes) |
//! | `lr` | 1e-4 | peak learning rate of the top transformer layer |
//! | `layer_decay` | 0.9 | each layer below the top gets this times the rate of the one above |
//! | `head_lr` | 1e-3 | peak learning rate of the head while fine-tuning |
//! | `weight_decay` | 0.01 | AdamW's decoupled weight decay of the matrices (probe included) |
//! | `warmup` | 0.1 | share of the steps over which the rate rises linearly from 0 (then falls linearly to 0) |
//! | `label_smoothing` | 0.1 | of the cross-entropy (probe included) |
//! | `dropout` | 0.1 | of the hidden states where BERT drops (embeddings, attention and feed-forward outputs) |
//! | `clip_norm` | 1.0 | gradients are scaled to at most this L2 norm (0: no clipping) |
//! | `train_layers` | 6 | transformer layers fine-tuned, from the top (0: none, only the head) |
//! | `train_embeddings` | false | also fine-tune the position and token-type embeddings and their LayerNorm |
//! | `probe_steps` | 300 | full-batch AdamW steps of the probe |
//! | `probe_lr` | 0.01 | the probe's learning rate |
//! | `seed` | 0 | batch order and dropout |
//! | `threads` | 0 | libtorch CPU threads while fitting and inferring (0: leave libtorch's setting) |
//!
//! The snapshot holds what was trained and refers to the rest: magic `AGTC`, format version (`u32`
//! LE), a JSON header's length (`u32` LE) and the header (the model folder's path and the xxh3
//! digests of its files, checked at `load` as `text.minilm` does; the params; the labels; the
//! losses; the fit seconds; the stored tensors' names and shapes), then the tensors: each
//! fine-tuned encoder weight as its change from the pretrained weight in `f16` (a change is small,
//! so `f16` keeps it to about 3 significant digits: the reloaded classifier's probabilities match
//! the fitted one's to about 1e-4), and the head as `f32`. With the default 6 layers that is 10.6 M
//! values, about 20 MiB.
//!
//! Requests:
//!
//! | request | response |
//! |---|---|
//! | `{"op":"classify","texts":[...]}` | JSON `{"labels":[every label, head order],"probabilities":[[one per label] per text]}` |
//! | `{"op":"encode","texts":[...]}` | `n × 384` little-endian `f32` unit vectors of the fine-tuned encoder (as `text.minilm`'s encode) |
//! | `{"op":"describe"}` | JSON: the labels, the settings, the probe's loss, the training loss per epoch, the fit seconds, the model folder and digests |

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::bert::{self, Encoder, FileDigest, Trainable};
use crate::finetune::{self, Head};
use crate::framed::{self, Frame};

/// The task name.
pub const TASK_CLASSIFY: &str = "text.classify";

const FRAME: Frame = Frame { task: TASK_CLASSIFY, magic: b"AGTC", version: 1 };

/// `fit` params of `text.classify` (see the module doc for each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub model_dir: Option<PathBuf>,
    pub max_length: usize,
    pub batch_size: usize,
    pub epochs: u32,
    pub min_steps: u32,
    pub label_names: u32,
    pub lr: f64,
    pub layer_decay: f64,
    pub head_lr: f64,
    pub weight_decay: f64,
    pub warmup: f64,
    pub label_smoothing: f64,
    pub dropout: f64,
    pub clip_norm: f64,
    pub train_layers: usize,
    pub train_embeddings: bool,
    pub probe_steps: u32,
    pub probe_lr: f64,
    pub probe_c: f64,
    pub seed: u64,
    pub threads: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            model_dir: None,
            max_length: 128,
            batch_size: 32,
            epochs: 4,
            min_steps: 300,
            label_names: 1,
            lr: 1e-4,
            layer_decay: 0.9,
            head_lr: 1e-3,
            weight_decay: 0.01,
            warmup: 0.1,
            label_smoothing: 0.1,
            dropout: 0.1,
            clip_norm: 1.0,
            train_layers: 6,
            train_embeddings: false,
            probe_steps: 300,
            probe_lr: 0.01,
            probe_c: 1.0,
            seed: 0,
            threads: 0,
        }
    }
}

impl Params {
    /// Parses and checks the params (empty bytes: every default, which lacks `model_dir`).
    ///
    /// # Errors
    /// Malformed JSON, an unknown key, or a value out of range (naming the key).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let params: Self = framed::json_params(bytes, TASK_CLASSIFY)?;
        let positive = [
            ("lr", params.lr),
            ("head_lr", params.head_lr),
            ("probe_lr", params.probe_lr),
            ("probe_c", params.probe_c),
            ("layer_decay", params.layer_decay),
        ];
        for (key, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{key} must be a positive number, not {value}"));
            }
        }
        let shares = [("warmup", params.warmup), ("label_smoothing", params.label_smoothing)];
        for (key, value) in shares {
            if !(0.0..1.0).contains(&value) {
                return Err(format!("{key} must be in [0, 1), not {value}"));
            }
        }
        if !(0.0..1.0).contains(&params.dropout) {
            return Err(format!("dropout must be in [0, 1), not {}", params.dropout));
        }
        for (key, value) in [("weight_decay", params.weight_decay), ("clip_norm", params.clip_norm)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("{key} must be a number ≥ 0, not {value}"));
            }
        }
        if params.batch_size == 0 {
            return Err("batch_size must be at least 1".to_string());
        }
        Ok(params)
    }

    /// Fine-tuning passes for data of `steps_per_epoch` batches: `epochs`, or more to reach
    /// `min_steps` (none when `epochs` is 0).
    pub fn epochs_for(&self, steps_per_epoch: usize) -> u32 {
        if self.epochs == 0 {
            return 0;
        }
        let needed = (self.min_steps as usize).div_ceil(steps_per_epoch.max(1));
        self.epochs.max(needed as u32)
    }

    fn trainable(&self) -> Trainable {
        Trainable { layers: if self.epochs == 0 { 0 } else { self.train_layers }, embeddings: self.epochs > 0 && self.train_embeddings }
    }
}

/// One line of the data.
#[derive(Deserialize)]
struct Example {
    text: String,
    label: String,
}

/// The texts and labels of JSON Lines data.
///
/// # Errors
/// See the module doc.
pub fn parse_data(data: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("data is not UTF-8: {e}"))?;
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let example: Example = serde_json::from_str(line)
            .map_err(|e| format!("data line {number}: {e} (each line is {{\"text\": \"...\", \"label\": \"...\"}})"))?;
        if example.text.trim().is_empty() {
            return Err(format!("data line {number}: the text is empty"));
        }
        if example.label.trim().is_empty() {
            return Err(format!("data line {number}: the label is empty"));
        }
        texts.push(example.text);
        labels.push(example.label);
    }
    if texts.is_empty() {
        return Err(format!("no examples: {TASK_CLASSIFY} trains on JSON Lines, one {{\"text\": \"...\", \"label\": \"...\"}} per line"));
    }
    let distinct: BTreeSet<&String> = labels.iter().collect();
    if distinct.len() < 2 {
        return Err(format!("every example has the label {:?}: {TASK_CLASSIFY} needs at least 2 distinct labels", labels[0]));
    }
    Ok((texts, labels))
}

/// A label's name as a training text: `_` and `-` read as spaces, runs of spaces collapsed (`None`
/// when nothing is left).
fn label_text(label: &str) -> Option<String> {
    let words: Vec<&str> = label.split(|c: char| c == '_' || c == '-' || c.is_whitespace()).filter(|w| !w.is_empty()).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// `copies` of each label's name (see [`label_text`]) as `(text, label)` examples, in `labels`' order.
fn label_name_examples(labels: &[String], copies: u32) -> Vec<(String, String)> {
    labels
        .iter()
        .filter_map(|label| label_text(label).map(|text| (text, label.clone())))
        .flat_map(|example| std::iter::repeat_n(example, copies as usize))
        .collect()
}

/// A stored tensor: its name, shape and encoding in the snapshot's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTensor {
    name: String,
    shape: Vec<i64>,
    /// `f16-delta` (change from the pretrained weight) or `f32`.
    encoding: String,
}

const F16_DELTA: &str = "f16-delta";
const F32: &str = "f32";

/// The snapshot's JSON header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    task: String,
    model_dir: PathBuf,
    files: Vec<FileDigest>,
    params: Params,
    labels: Vec<String>,
    examples: usize,
    probe_loss: f64,
    epoch_losses: Vec<f64>,
    fit_seconds: f64,
    tensors: Vec<StoredTensor>,
}

fn f16_bytes(tensor: &Tensor) -> Result<Vec<u8>, String> {
    let bits = Vec::<i16>::try_from(tensor.to_kind(Kind::Half).contiguous().view_dtype(Kind::Int16).view([-1]))
        .map_err(|e| format!("reading a weight: {e}"))?;
    Ok(bits.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn f32_bytes(tensor: &Tensor) -> Result<Vec<u8>, String> {
    let values = Vec::<f32>::try_from(tensor.contiguous().view([-1])).map_err(|e| format!("reading a weight: {e}"))?;
    Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Classify { texts: Vec<String> },
    Encode { texts: Vec<String> },
    Describe,
}

/// The answer to `classify`.
#[derive(Serialize)]
struct Classified<'a> {
    labels: &'a [String],
    probabilities: Vec<&'a [f32]>,
}

/// A loaded `text.classify` snapshot: the fine-tuned encoder and, behind its own mutex, the head
/// (a request locks the head, then the encoder).
pub struct Classifier {
    header: Header,
    encoder: Encoder,
    head: Mutex<Head>,
}

impl Classifier {
    /// Trains on JSON Lines `data` with JSON `params` and returns the snapshot bytes.
    ///
    /// # Errors
    /// Bad params or data (see the module doc), or a model folder the encoder cannot use.
    pub fn fit(data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let mut params = Params::parse(params)?;
        let model_dir = bert::model_dir(params.model_dir.take(), TASK_CLASSIFY)?;
        params.model_dir = Some(model_dir.clone());
        let (mut texts, mut labels) = parse_data(data)?;
        let examples = texts.len();
        let files = bert::digests(&model_dir)?;
        let encoder = Encoder::load(&model_dir, params.max_length)?;
        let names: Vec<String> = labels.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
        for (text, label) in label_name_examples(&names, params.label_names) {
            texts.push(text);
            labels.push(label);
        }
        let targets: Vec<i64> = labels.iter().map(|label| names.binary_search(label).expect("a label of the data") as i64).collect();
        let ids = encoder.tokenize(&texts)?;
        let bert = encoder.bert.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let trainable = params.trainable();
        let pretrained: Vec<Tensor> = bert.trainable(trainable).into_iter().map(|(_, _, tensor)| tensor.copy()).collect();
        let mut train = || finetune::train(&bert, &ids, &targets, names.len(), trainable, &params, progress);
        let trained = if params.threads > 0 { crate::with_threads(params.threads, train) } else { train() }?;

        let mut tensors = Vec::new();
        let mut payload = Vec::new();
        for ((name, _, tensor), before) in bert.trainable(trainable).into_iter().zip(&pretrained) {
            payload.extend(f16_bytes(&(&tensor - before))?);
            tensors.push(StoredTensor { name, shape: tensor.size(), encoding: F16_DELTA.to_string() });
        }
        for (name, tensor) in [("head.weight", &trained.head.weight), ("head.bias", &trained.head.bias)] {
            payload.extend(f32_bytes(tensor)?);
            tensors.push(StoredTensor { name: name.to_string(), shape: tensor.size(), encoding: F32.to_string() });
        }
        let header = Header {
            task: TASK_CLASSIFY.to_string(),
            model_dir,
            files,
            params,
            labels: names,
            examples,
            probe_loss: trained.probe_loss,
            epoch_losses: trained.epoch_losses,
            fit_seconds: started.elapsed().as_secs_f64(),
            tensors,
        };
        Ok(FRAME.encode(&header, &payload))
    }

    /// Loads a snapshot, refusing one whose model files changed.
    ///
    /// # Errors
    /// A malformed snapshot, a missing or changed model file.
    pub fn load(snapshot: &[u8]) -> Result<Self, String> {
        let (header, mut payload): (Header, &[u8]) = FRAME.decode(snapshot)?;
        FRAME.check_task(&header.task)?;
        bert::verify(&header.model_dir, &header.files, TASK_CLASSIFY)?;
        let encoder = Encoder::load(&header.model_dir, header.params.max_length)?;
        let mut encoder_tensors = {
            let bert = encoder.bert.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            bert.trainable(header.params.trainable())
        };
        let mut head = Vec::new();
        let _no_grad = tch::no_grad_guard();
        for stored in &header.tensors {
            let count = stored.shape.iter().product::<i64>() as usize;
            let width = if stored.encoding == F16_DELTA { 2 } else { 4 };
            let bytes = payload.get(..count * width).ok_or(format!("{TASK_CLASSIFY} snapshot is truncated (at {})", stored.name))?;
            payload = &payload[count * width..];
            if stored.encoding == F16_DELTA {
                let position = encoder_tensors
                    .iter()
                    .position(|(name, _, _)| *name == stored.name)
                    .ok_or(format!("snapshot has a change to {}, which the encoder does not fine-tune", stored.name))?;
                let (_, _, mut tensor) = encoder_tensors.swap_remove(position);
                if tensor.size() != stored.shape {
                    return Err(format!("snapshot weight {} has shape {:?}, the encoder {:?}", stored.name, stored.shape, tensor.size()));
                }
                let bits: Vec<i16> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                let delta = Tensor::from_slice(&bits).view_dtype(Kind::Half).to_kind(Kind::Float).view(stored.shape.as_slice());
                tensor += delta;
            } else if stored.encoding == F32 {
                let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                head.push(Tensor::from_slice(&values).view(stored.shape.as_slice()));
            } else {
                return Err(format!("snapshot weight {} has the unknown encoding {:?}", stored.name, stored.encoding));
            }
        }
        if let Some((name, _, _)) = encoder_tensors.first() {
            return Err(format!("snapshot lacks the fine-tuned weight {name}"));
        }
        if !payload.is_empty() {
            return Err(format!("{} trailing bytes after the {TASK_CLASSIFY} snapshot", payload.len()));
        }
        let [weight, bias]: [Tensor; 2] = head.try_into().map_err(|_| "snapshot lacks the head".to_string())?;
        let (labels, dims) = (header.labels.len() as i64, encoder.dims() as i64);
        if weight.size() != [labels, dims] || bias.size() != [labels] {
            return Err(format!(
                "snapshot head has shapes {:?} and {:?}, not [{labels}, {dims}] and [{labels}]",
                weight.size(),
                bias.size()
            ));
        }
        Ok(Self { header, encoder, head: Mutex::new(Head { weight, bias }) })
    }

    /// The labels, in the head's order.
    pub fn labels(&self) -> &[String] {
        &self.header.labels
    }

    /// Each text's probability of each label (in [`Classifier::labels`]' order), row-major.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index).
    pub fn probabilities(&self, texts: &[String]) -> Result<Vec<f32>, String> {
        let head = self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let params = &self.header.params;
        self.encoder.run(texts, params.batch_size, params.threads, self.labels().len(), |bert, ids, mask| {
            head.logits(&bert.embed(ids, mask)).softmax(-1, Kind::Float)
        })
    }

    /// Unit vectors of the fine-tuned encoder, 384 per text, row-major.
    ///
    /// # Errors
    /// When the tokenizer fails on a text (naming its index).
    pub fn encode(&self, texts: &[String]) -> Result<Vec<f32>, String> {
        self.encoder.encode(texts, self.header.params.batch_size, self.header.params.threads)
    }

    /// What `{"op":"describe"}` answers.
    pub fn describe(&self) -> serde_json::Value {
        let header = &self.header;
        let mut settings = serde_json::to_value(&header.params).expect("params serialise");
        settings.as_object_mut().expect("params are an object").remove("model_dir");
        serde_json::json!({
            "task": TASK_CLASSIFY,
            "model": format!("{} encoder fine-tuned, linear head on its mean-pooled unit vectors", self.encoder.config.model_type),
            "labels": header.labels,
            "settings": settings,
            "examples": header.examples,
            "probe_loss": header.probe_loss,
            "epoch_losses": header.epoch_losses,
            "fit_seconds": header.fit_seconds,
            "fine_tuned_tensors": header.tensors.iter().filter(|t| t.encoding == F16_DELTA).count(),
            "dims": self.encoder.dims(),
            "model_dir": header.model_dir,
            "files": header.files,
        })
    }

    /// Answers one request.
    ///
    /// # Errors
    /// A malformed request or a text the tokenizer refuses.
    pub fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        match serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))? {
            Request::Classify { texts } => {
                let probabilities = self.probabilities(&texts)?;
                let width = self.labels().len();
                let rows = probabilities.chunks(width).collect();
                Ok(serde_json::to_vec(&Classified { labels: self.labels(), probabilities: rows }).expect("answer serialises"))
            }
            Request::Encode { texts } => Ok(agora_plugin_api::model::encode_f32s(&self.encode(&texts)?)),
            Request::Describe => Ok(serde_json::to_vec(&self.describe()).expect("description serialises")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_data_gets_enough_steps() {
        let params = Params::default();
        // 10 examples of 77 intents in batches of 32: 25 steps a pass.
        assert_eq!(params.epochs_for(25), 12);
        // The whole BANKING77 training set: 313 steps a pass.
        assert_eq!(params.epochs_for(313), 4);
        assert_eq!(Params { epochs: 0, ..Params::default() }.epochs_for(25), 0);
        assert_eq!(Params { min_steps: 0, ..Params::default() }.epochs_for(25), 4);
    }

    #[test]
    fn label_names_become_examples() {
        assert_eq!(label_text("card_payment-fee  charged").as_deref(), Some("card payment fee charged"));
        assert_eq!(label_text("_-_"), None);
        let labels = ["age_limit".to_string(), "__".to_string(), "pin".to_string()];
        let examples = label_name_examples(&labels, 2);
        let expected = [("age limit", "age_limit"), ("age limit", "age_limit"), ("pin", "pin"), ("pin", "pin")];
        assert_eq!(examples, expected.map(|(text, label)| (text.to_string(), label.to_string())));
        assert!(label_name_examples(&labels, 0).is_empty());
    }
}
