//! `match.mlp`: an entity matcher — an MLP over a record pair's features and the MiniLM embeddings of its two texts.
//!
//! `fit` data is JSON Lines, one labelled pair per line:
//! `{"features": [f64, ...], "left": "text", "right": "text", "label": true}` (the host's
//! pairwise features, e.g. agora-resolve's string similarities and price ratio, and each side's
//! text). Every line must have as many features as the first; an empty text is allowed; both
//! classes must occur. Blank lines are skipped; a bad line is an error naming it.
//!
//! The network's input is the features standardised with the training pairs' mean and standard
//! deviation, then `|u − v|` and `u ⊙ v` of the two texts' unit vectors from the frozen
//! all-MiniLM-L6-v2 encoder (the `text.minilm` one); one ReLU hidden layer with dropout, then a
//! logit. Training is AdamW on the binary cross-entropy with the positives weighted by
//! negatives/positives (matches are rare), for `epochs` passes of shuffled `batch_size` pairs.
//! Progress counts the encoding batches and the epochs. A fixed `seed` and `threads` give the same
//! weights.
//!
//! Params (JSON object, every key optional except `model_dir`; an unknown key is refused):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `model_dir` | required | the all-MiniLM-L6-v2 folder, as for `text.minilm` |
//! | `max_length` | 64 | tokens per text (longer texts are truncated) |
//! | `hidden` | 256 | units of the hidden layer |
//! | `dropout` | 0.2 | on the input and the hidden layer while training |
//! | `epochs` | 40 | passes over the pairs |
//! | `batch_size` | 64 | pairs per step |
//! | `lr` | 1e-3 | AdamW's learning rate (cosine decay to 5% of it) |
//! | `weight_decay` | 1e-3 | AdamW's decoupled weight decay |
//! | `seed` | 0 | initial weights, pair order and dropout |
//! | `threads` | 0 | libtorch CPU threads (0: leave libtorch's setting) |
//!
//! The snapshot: magic `AGTP`, format version (`u32` LE), a JSON header's length (`u32` LE) and
//! the header (the model folder and its file digests, checked at `load`; the params; the feature
//! means and deviations; the training loss per epoch; the fit seconds), then the MLP's weights as
//! `f32`s in the header's order.
//!
//! Requests: `{"op":"score","pairs":[{"features":[...],"left":"...","right":"..."}, ...]}` answers
//! a JSON array with each pair's match probability; `{"op":"describe"}` answers JSON with the
//! params, the training loss per epoch (`training_loss`) and the fit seconds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::bert::{self, Encoder, FileDigest};
use crate::framed::{self, Frame, WeightShape};
use crate::rng::{self, SplitMix};

/// The task name.
pub const TASK_MATCH: &str = "match.mlp";

const FRAME: Frame = Frame { task: TASK_MATCH, magic: b"AGTP", version: 1 };
/// Texts per encoder forward pass.
const ENCODE_BATCH: usize = 64;

/// `fit` params of `match.mlp` (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub model_dir: Option<PathBuf>,
    pub max_length: usize,
    pub hidden: i64,
    pub dropout: f64,
    pub epochs: u32,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub threads: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            model_dir: None,
            max_length: 64,
            hidden: 256,
            dropout: 0.2,
            epochs: 40,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 1e-3,
            seed: 0,
            threads: 0,
        }
    }
}

impl Params {
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let params: Self = framed::json_params(bytes, TASK_MATCH)?;
        if !(params.lr.is_finite() && params.lr > 0.0) {
            return Err(format!("lr must be a positive number, not {}", params.lr));
        }
        if !(0.0..1.0).contains(&params.dropout) {
            return Err(format!("dropout must be in [0, 1), not {}", params.dropout));
        }
        if !(params.weight_decay.is_finite() && params.weight_decay >= 0.0) {
            return Err(format!("weight_decay must be a number ≥ 0, not {}", params.weight_decay));
        }
        for (key, value) in [("hidden", params.hidden as usize), ("batch_size", params.batch_size), ("max_length", params.max_length)] {
            if value == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        Ok(params)
    }
}

/// One pair: its features and texts (and, in `fit` data, its label).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    features: Vec<f64>,
    left: String,
    right: String,
    #[serde(default)]
    label: Option<bool>,
}

fn parse_data(data: &[u8]) -> Result<Vec<Pair>, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("data is not UTF-8: {e}"))?;
    let mut pairs: Vec<Pair> = Vec::new();
    for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let pair: Pair = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", index + 1))?;
        if pair.label.is_none() {
            return Err(format!("line {}: a training pair needs a \"label\"", index + 1));
        }
        if let Some(first) = pairs.first() {
            if pair.features.len() != first.features.len() {
                return Err(format!("line {}: {} features, the first pair has {}", index + 1, pair.features.len(), first.features.len()));
            }
        }
        if pair.features.iter().any(|x| !x.is_finite()) {
            return Err(format!("line {}: a feature is not a finite number", index + 1));
        }
        pairs.push(pair);
    }
    let positives = pairs.iter().filter(|pair| pair.label == Some(true)).count();
    if positives == 0 || positives == pairs.len() {
        return Err(format!("the {} training pairs must include both matches and non-matches", pairs.len()));
    }
    Ok(pairs)
}

/// The snapshot's JSON header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    task: String,
    model_dir: PathBuf,
    files: Vec<FileDigest>,
    params: Params,
    feature_mean: Vec<f64>,
    feature_std: Vec<f64>,
    pairs: usize,
    training_loss: Vec<f64>,
    fit_seconds: f64,
    /// The MLP's weights in payload order: name and shape.
    tensors: Vec<WeightShape>,
}

/// The network: standardised features ⊕ |u − v| ⊕ u ⊙ v → hidden (ReLU) → logit.
struct Mlp {
    hidden: nn::Linear,
    out: nn::Linear,
    dropout: f64,
}

impl Mlp {
    fn new(root: &nn::Path, inputs: i64, params: &Params) -> Self {
        Self {
            hidden: nn::linear(root / "hidden", inputs, params.hidden, Default::default()),
            out: nn::linear(root / "out", params.hidden, 1, Default::default()),
            dropout: params.dropout,
        }
    }

    fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x.dropout(self.dropout, train);
        self.out.forward(&self.hidden.forward(&x).relu().dropout(self.dropout, train)).squeeze_dim(-1)
    }
}

/// Distinct texts and, per pair, the indices of its two texts among them.
fn distinct_texts(pairs: &[Pair]) -> (Vec<String>, Vec<(usize, usize)>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut texts = Vec::new();
    let mut sides = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let mut side = [0usize; 2];
        for (slot, text) in side.iter_mut().zip([pair.left.as_str(), pair.right.as_str()]) {
            let next = index.len();
            *slot = *index.entry(text).or_insert(next);
            if *slot == next {
                texts.push(text.to_string());
            }
        }
        sides.push((side[0], side[1]));
    }
    (texts, sides)
}

/// The network inputs of `pairs`, `[n, features + 2 × dims]`.
fn inputs(pairs: &[Pair], sides: &[(usize, usize)], embeddings: &Tensor, mean: &[f64], std: &[f64]) -> Tensor {
    let n = pairs.len() as i64;
    let features: Vec<f32> =
        pairs.iter().flat_map(|pair| pair.features.iter().zip(mean).zip(std).map(|((x, m), s)| ((x - m) / s) as f32)).collect();
    let features = Tensor::from_slice(&features).view([n, mean.len() as i64]);
    let left = embeddings.index_select(0, &Tensor::from_slice(&sides.iter().map(|s| s.0 as i64).collect::<Vec<_>>()));
    let right = embeddings.index_select(0, &Tensor::from_slice(&sides.iter().map(|s| s.1 as i64).collect::<Vec<_>>()));
    Tensor::cat(&[features, (&left - &right).abs(), &left * &right], 1)
}

/// A loaded `match.mlp` snapshot: the frozen encoder and, behind a mutex, the network.
pub struct PairMatcher {
    header: Header,
    encoder: Encoder,
    network: Mutex<(nn::VarStore, Mlp)>,
}

impl PairMatcher {
    /// Trains on JSON Lines `data` with JSON `params` and returns the snapshot bytes.
    ///
    /// # Errors
    /// Bad params or data (see the module doc), or a model folder the encoder cannot use.
    pub fn fit(data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let mut params = Params::parse(params)?;
        let model_dir = bert::model_dir(params.model_dir.take(), TASK_MATCH)?;
        params.model_dir = Some(model_dir.clone());
        let pairs = parse_data(data)?;
        let files = bert::digests(&model_dir)?;
        let encoder = Encoder::load(&model_dir, params.max_length)?;
        let mut work = || -> Result<(nn::VarStore, Vec<f64>, Vec<f64>, Vec<f64>), String> {
            let (texts, sides) = distinct_texts(&pairs);
            let batches = texts.len().div_ceil(ENCODE_BATCH) as u64;
            let total = batches + u64::from(params.epochs);
            let mut vectors = Vec::with_capacity(texts.len() * encoder.dims());
            for (done, chunk) in texts.chunks(ENCODE_BATCH).enumerate() {
                vectors.extend(encoder.encode(chunk, ENCODE_BATCH, params.threads)?);
                progress(done as u64 + 1, total);
            }
            let embeddings = Tensor::from_slice(&vectors).view([texts.len() as i64, encoder.dims() as i64]);
            let width = pairs[0].features.len();
            let n = pairs.len() as f64;
            let mean: Vec<f64> = (0..width).map(|f| pairs.iter().map(|p| p.features[f]).sum::<f64>() / n).collect();
            let std: Vec<f64> = (0..width)
                .map(|f| (pairs.iter().map(|p| (p.features[f] - mean[f]).powi(2)).sum::<f64>() / n).sqrt())
                .map(|s| if s > 1e-9 { s } else { 1.0 })
                .collect();
            let x = inputs(&pairs, &sides, &embeddings, &mean, &std);
            let labels: Vec<f32> = pairs.iter().map(|pair| f32::from(u8::from(pair.label == Some(true)))).collect();
            let y = Tensor::from_slice(&labels);
            let positives = labels.iter().filter(|&&l| l > 0.5).count() as f64;
            let pos_weight = Tensor::from_slice(&[((n - positives) / positives) as f32]);

            let vs = nn::VarStore::new(Device::Cpu);
            let (mlp, losses) = rng::seeded(params.seed, || -> Result<(Mlp, Vec<f64>), String> {
                let mlp = Mlp::new(&vs.root(), x.size()[1], &params);
                let mut optimizer =
                    nn::AdamW::default().wd(params.weight_decay).build(&vs, params.lr).map_err(|e| format!("optimizer: {e}"))?;
                let mut order: Vec<i64> = (0..pairs.len() as i64).collect();
                let mut shuffle = SplitMix(params.seed ^ 0x6D61_7463_68);
                let steps = (order.len().div_ceil(params.batch_size) * params.epochs as usize).max(1);
                let mut step = 0usize;
                let mut losses = Vec::with_capacity(params.epochs as usize);
                for epoch in 0..params.epochs {
                    shuffle.shuffle(&mut order);
                    let mut sum = 0.0;
                    for chunk in order.chunks(params.batch_size) {
                        let at = Tensor::from_slice(chunk);
                        let logits = mlp.logits(&x.index_select(0, &at), true);
                        let loss = logits.binary_cross_entropy_with_logits::<&Tensor>(
                            &y.index_select(0, &at),
                            None,
                            Some(&pos_weight),
                            Reduction::Mean,
                        );
                        let share = step as f64 / steps as f64;
                        optimizer.set_lr(params.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * share).cos())));
                        optimizer.backward_step(&loss);
                        sum += loss.double_value(&[]) * chunk.len() as f64;
                        step += 1;
                    }
                    losses.push(sum / order.len() as f64);
                    progress(batches + u64::from(epoch) + 1, total);
                }
                Ok((mlp, losses))
            })?;
            drop(mlp);
            Ok((vs, mean, std, losses))
        };
        let (vs, feature_mean, feature_std, training_loss) =
            if params.threads > 0 { crate::with_threads(params.threads, work) } else { work() }?;

        let (tensors, payload) = framed::weights(&vs)?;
        let header = Header {
            task: TASK_MATCH.to_string(),
            model_dir,
            files,
            params,
            feature_mean,
            feature_std,
            pairs: pairs.len(),
            training_loss,
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
        let (header, payload): (Header, &[u8]) = FRAME.decode(snapshot)?;
        FRAME.check_task(&header.task)?;
        bert::verify(&header.model_dir, &header.files, TASK_MATCH)?;
        let encoder = Encoder::load(&header.model_dir, header.params.max_length)?;
        let inputs = (header.feature_mean.len() + 2 * encoder.dims()) as i64;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), inputs, &header.params);
        framed::load_weights(&mut vs, &header.tensors, payload, TASK_MATCH)?;
        Ok(Self { header, encoder, network: Mutex::new((vs, mlp)) })
    }

    /// Each pair's match probability.
    ///
    /// # Errors
    /// A pair with the wrong number of features, or a text the tokenizer refuses.
    fn score(&self, pairs: &[Pair]) -> Result<Vec<f64>, String> {
        let width = self.header.feature_mean.len();
        if let Some(index) = pairs.iter().position(|pair| pair.features.len() != width) {
            return Err(format!("pair {index} has {} features, the matcher was trained on {width}", pairs[index].features.len()));
        }
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let (texts, sides) = distinct_texts(pairs);
        let threads = self.header.params.threads;
        let run = || -> Result<Vec<f64>, String> {
            let vectors = self.encoder.encode(&texts, ENCODE_BATCH, threads)?;
            let embeddings = Tensor::from_slice(&vectors).view([texts.len() as i64, self.encoder.dims() as i64]);
            let x = inputs(pairs, &sides, &embeddings, &self.header.feature_mean, &self.header.feature_std);
            let guard = self.network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let probabilities = tch::no_grad(|| guard.1.logits(&x, false).sigmoid().to_kind(Kind::Double));
            Vec::<f64>::try_from(probabilities).map_err(|e| format!("reading scores: {e}"))
        };
        run()
    }

    /// What `{"op":"describe"}` answers.
    fn describe(&self) -> serde_json::Value {
        let header = &self.header;
        let mut settings = serde_json::to_value(&header.params).expect("params serialise");
        settings.as_object_mut().expect("params are an object").remove("model_dir");
        serde_json::json!({
            "task": TASK_MATCH,
            "model": "MLP on standardised pair features, |u-v| and u*v of frozen all-MiniLM-L6-v2 text vectors",
            "params": settings,
            "features": header.feature_mean.len(),
            "pairs": header.pairs,
            "loss": "binary cross-entropy, matches weighted by negatives/positives",
            "training_loss": header.training_loss,
            "fit_seconds": header.fit_seconds,
            "model_dir": header.model_dir,
        })
    }

    /// Answers one request.
    ///
    /// # Errors
    /// A malformed request, see [`PairMatcher::score`].
    pub fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        #[derive(Deserialize)]
        #[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
        enum Request {
            Score { pairs: Vec<Pair> },
            Describe,
        }
        match serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))? {
            Request::Score { pairs } => Ok(serde_json::to_vec(&self.score(&pairs)?).expect("scores serialise")),
            Request::Describe => Ok(serde_json::to_vec(&self.describe()).expect("description serialises")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_params_are_checked_with_the_line_or_key() {
        let good = r#"{"features":[1.0,0.5],"left":"a","right":"b","label":true}
{"features":[0.0,0.1],"left":"c","right":"d","label":false}"#;
        assert_eq!(parse_data(good.as_bytes()).unwrap().len(), 2);
        let short = format!("{good}\n{{\"features\":[1.0],\"left\":\"a\",\"right\":\"b\",\"label\":true}}");
        assert!(parse_data(short.as_bytes()).unwrap_err().starts_with("line 3: 1 features"));
        let one_class = r#"{"features":[1.0],"left":"a","right":"b","label":true}"#;
        assert!(parse_data(one_class.as_bytes()).unwrap_err().contains("both matches and non-matches"));
        let unlabelled = r#"{"features":[1.0],"left":"a","right":"b"}"#;
        assert!(parse_data(unlabelled.as_bytes()).unwrap_err().contains("needs a \"label\""));
        assert!(Params::parse(br#"{"hiden": 3}"#).unwrap_err().contains("unknown field `hiden`"));
        assert!(Params::parse(br#"{"dropout": 1.0}"#).unwrap_err().contains("dropout"));
    }

    #[test]
    fn repeated_texts_are_encoded_once() {
        let pairs = parse_data(
            br#"{"features":[1],"left":"a","right":"b","label":true}
{"features":[0],"left":"b","right":"c","label":false}"#,
        )
        .unwrap();
        let (texts, sides) = distinct_texts(&pairs);
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(sides, [(0, 1), (1, 2)]);
    }
}
