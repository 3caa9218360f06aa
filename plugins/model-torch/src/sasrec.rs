//! `rec.sasrec`: a sequential recommender of the SASRec family (Kang & McAuley 2018): causal
//! self-attention over a user's last items, trained with full cross-entropy over the catalogue at
//! every position (as Klenitskiy & Vasilev 2023 train it, in place of SASRec's one sampled
//! negative), the output scores tied to the item embeddings.
//!
//! `fit` gets the host's `Interactions` (every user's items in time order) and trains on each
//! sequence of at least 2 items: at every position the next item is the target. Each step takes
//! `batch_size` sequences, left-padded to the longest of them (at most `max_length` positions);
//! positions count back from the last item, so the newest item always has the same position.
//! AdamW with linear warm-up over the first epoch and cosine decay; progress is reported after
//! every step; a fixed `seed` and `threads` give the same weights.
//!
//! Params (JSON object, every key optional, an unknown key refused):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `hidden` | 64 | item embedding and hidden width |
//! | `blocks` | 2 | self-attention blocks |
//! | `heads` | 1 | attention heads (must divide `hidden`) |
//! | `max_length` | 50 | most recent items a sequence keeps |
//! | `dropout` | 0.2 | on the embeddings, attention weights and each block's outputs while training |
//! | `epochs` | 20 | passes over the sequences |
//! | `batch_size` | 128 | sequences per step |
//! | `lr` | 1e-3 | AdamW's peak learning rate |
//! | `weight_decay` | 0.0 | AdamW's decoupled weight decay |
//! | `seed` | 0 | initial weights, sequence order and dropout |
//! | `threads` | 0 | libtorch CPU threads (0: leave libtorch's setting) |
//!
//! Requests, as the `classic` plugin's `rec.*` tasks answer them (item ids are `0..n_items`):
//! `{"op":"scores","history":[...]}` answers one little-endian `f32` per item (the logits after
//! the history's last `max_length` items; all zero for an empty history);
//! `{"op":"explain","history":[...],"items":[...]}` answers `[{"item","because"}]`, `because`
//! being the history item whose embedding is most similar to the item's (when positive);
//! `{"op":"similar","item":i,"k":k}` answers `[{"item","score"}]`, the `k` items with the most
//! similar embeddings (cosine), best first; `{"op":"describe"}` answers JSON with the params, the
//! training loss of each epoch and the fit seconds.
//!
//! The snapshot: magic `AGSR`, format version, a JSON header (items, params, losses, fit seconds,
//! the weights' names and shapes), then the weights as `f32`s (see [`framed`](crate::framed)).

use std::sync::Mutex;
use std::time::Instant;

use agora_plugin_api::model::{encode_f32s, Interactions};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::framed::{self, Frame, WeightShape};
use crate::rng::{self, SplitMix};

/// The task name.
pub const TASK_SASREC: &str = "rec.sasrec";

const FRAME: Frame = Frame { task: TASK_SASREC, magic: b"AGSR", version: 1 };
/// Histories scored per forward pass by [`SasRec::scores_batch`].
const SCORE_BATCH: usize = 256;

/// `fit` params of `rec.sasrec` (see the module doc for each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub hidden: i64,
    pub blocks: usize,
    pub heads: i64,
    pub max_length: usize,
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
            hidden: 64,
            blocks: 2,
            heads: 1,
            max_length: 50,
            dropout: 0.2,
            epochs: 20,
            batch_size: 128,
            lr: 1e-3,
            weight_decay: 0.0,
            seed: 0,
            threads: 0,
        }
    }
}

impl Params {
    /// Parses and checks the params (empty bytes: every default).
    ///
    /// # Errors
    /// Malformed JSON, an unknown key, or a value out of range (naming the key).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let params: Self = framed::json_params(bytes, TASK_SASREC)?;
        let at_least_one = [
            ("hidden", params.hidden),
            ("blocks", params.blocks as i64),
            ("heads", params.heads),
            ("max_length", params.max_length as i64),
            ("epochs", i64::from(params.epochs)),
            ("batch_size", params.batch_size as i64),
        ];
        for (key, value) in at_least_one {
            if value < 1 {
                return Err(format!("{key} must be at least 1, not {value}"));
            }
        }
        if params.hidden % params.heads != 0 {
            return Err(format!("heads ({}) must divide hidden ({})", params.heads, params.hidden));
        }
        if !(0.0..1.0).contains(&params.dropout) {
            return Err(format!("dropout must be in [0, 1), not {}", params.dropout));
        }
        if !(params.lr.is_finite() && params.lr > 0.0) {
            return Err(format!("lr must be a positive number, not {}", params.lr));
        }
        if !(params.weight_decay.is_finite() && params.weight_decay >= 0.0) {
            return Err(format!("weight_decay must be a number ≥ 0, not {}", params.weight_decay));
        }
        Ok(params)
    }
}

/// One pre-norm transformer block: causal self-attention, then a position-wise feed-forward
/// layer, each added to its input.
struct Block {
    attention_norm: nn::LayerNorm,
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    output: nn::Linear,
    feed_norm: nn::LayerNorm,
    feed_in: nn::Linear,
    feed_out: nn::Linear,
}

impl Block {
    fn new(path: &nn::Path, hidden: i64) -> Self {
        let linear = |name: &str| nn::linear(path / name, hidden, hidden, Default::default());
        Self {
            attention_norm: nn::layer_norm(path / "attention_norm", vec![hidden], Default::default()),
            query: linear("query"),
            key: linear("key"),
            value: linear("value"),
            output: linear("output"),
            feed_norm: nn::layer_norm(path / "feed_norm", vec![hidden], Default::default()),
            feed_in: linear("feed_in"),
            feed_out: linear("feed_out"),
        }
    }
}

/// The network: item and position embeddings, the blocks, a final LayerNorm.
struct Net {
    /// `[n_items + 1, hidden]`; row 0 is padding, item `i` is row `i + 1`.
    items: nn::Embedding,
    /// `[max_length, hidden]`; row 0 is the newest item's position.
    positions: nn::Embedding,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    n_items: i64,
    hidden: i64,
    heads: i64,
}

impl Net {
    fn new(path: &nn::Path, n_items: i64, params: &Params) -> Self {
        let embedding = nn::EmbeddingConfig { padding_idx: 0, ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 }, ..Default::default() };
        Self {
            items: nn::embedding(path / "items", n_items + 1, params.hidden, embedding),
            positions: nn::embedding(path / "positions", params.max_length as i64, params.hidden, embedding),
            blocks: (0..params.blocks).map(|b| Block::new(&(path / format!("block{b}")), params.hidden)).collect(),
            norm: nn::layer_norm(path / "norm", vec![params.hidden], Default::default()),
            n_items,
            hidden: params.hidden,
            heads: params.heads,
        }
    }

    /// Hidden states `[batch, length, hidden]` of left-padded rows of item rows (0: padding).
    fn forward(&self, rows: &Tensor, dropout: f64, train: bool) -> Tensor {
        let (batch, length) = rows.size2().expect("a [batch, length] tensor");
        let padding = rows.eq(0);
        let keep = padding.logical_not().unsqueeze(-1).to_kind(Kind::Float);
        // Positions count back from the newest item (the last column).
        let positions = Tensor::arange_start_step(length - 1, -1, -1, (Kind::Int64, Device::Cpu));
        let mut x = self.items.forward(rows) * (self.hidden as f64).sqrt() + self.positions.forward(&positions).unsqueeze(0);
        x = x.dropout(dropout, train) * &keep;
        let future = Tensor::ones([length, length], (Kind::Bool, Device::Cpu)).triu(1);
        let blocked = future.unsqueeze(0).logical_or(&padding.unsqueeze(1)).unsqueeze(1);
        let head_width = self.hidden / self.heads;
        let split = |t: Tensor| t.view([batch, length, self.heads, head_width]).transpose(1, 2);
        for block in &self.blocks {
            let h = x.apply(&block.attention_norm);
            let (query, key, value) = (split(h.apply(&block.query)), split(h.apply(&block.key)), split(h.apply(&block.value)));
            let weights = (query.matmul(&key.transpose(-2, -1)) / (head_width as f64).sqrt())
                .masked_fill(&blocked, -1e9)
                .softmax(-1, Kind::Float)
                .dropout(dropout, train);
            let attended = weights.matmul(&value).transpose(1, 2).contiguous().view([batch, length, self.hidden]);
            x = x + attended.apply(&block.output).dropout(dropout, train);
            let h = x.apply(&block.feed_norm);
            let fed = h.apply(&block.feed_in).gelu("none").dropout(dropout, train).apply(&block.feed_out);
            x = (x + fed.dropout(dropout, train)) * &keep;
        }
        x.apply(&self.norm)
    }

    /// The item embeddings `[n_items, hidden]` (padding row left out).
    fn item_embeddings(&self) -> Tensor {
        self.items.ws.narrow(0, 1, self.n_items)
    }
}

/// Left-padded item rows `[len(histories), longest]` of the histories' last `max_length` items.
fn padded_rows(histories: &[&[u32]], max_length: usize) -> Tensor {
    let longest = histories.iter().map(|h| h.len().min(max_length)).max().unwrap_or(0).max(1);
    let mut rows = vec![0i64; histories.len() * longest];
    for (row, history) in histories.iter().enumerate() {
        let kept = &history[history.len().saturating_sub(max_length)..];
        let start = row * longest + longest - kept.len();
        for (slot, &item) in rows[start..].iter_mut().zip(kept) {
            *slot = i64::from(item) + 1;
        }
    }
    Tensor::from_slice(&rows).view([histories.len() as i64, longest as i64])
}

/// The snapshot's JSON header.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    task: String,
    n_items: u32,
    sequences: usize,
    params: Params,
    training_loss: Vec<f64>,
    fit_seconds: f64,
    tensors: Vec<WeightShape>,
}

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Scores { history: Vec<u32> },
    Explain { history: Vec<u32>, items: Vec<u32> },
    Similar { item: u32, k: usize },
    Describe,
}

/// A fitted or loaded `rec.sasrec` model (libtorch tensors are not `Sync`: the network sits
/// behind a mutex).
pub struct SasRec {
    header: Header,
    network: Mutex<(nn::VarStore, Net)>,
}

impl SasRec {
    /// Trains on `Interactions` data with JSON `params` and returns the snapshot bytes.
    ///
    /// # Errors
    /// Bad params, undecodable data, or no sequence of at least 2 items.
    pub fn fit(data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let params = Params::parse(params)?;
        let interactions = Interactions::decode(data)?;
        // Each sequence's last max_length + 1 items: max_length inputs, each with its next item.
        let sequences: Vec<&[u32]> = (0..interactions.n_users())
            .map(|user| interactions.sequence(user))
            .filter(|sequence| sequence.len() >= 2)
            .map(|sequence| &sequence[sequence.len().saturating_sub(params.max_length + 1)..])
            .collect();
        if sequences.is_empty() {
            return Err(format!("{TASK_SASREC} needs at least one user with 2 or more interactions"));
        }
        let n_items = i64::from(interactions.n_items);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let mut train = || -> Result<(Net, Vec<f64>), String> {
            rng::seeded(params.seed, || {
                let net = Net::new(&vs.root(), n_items, &params);
                let mut optimizer =
                    nn::AdamW::default().wd(params.weight_decay).build(&vs, params.lr).map_err(|e| format!("optimizer: {e}"))?;
                let steps_per_epoch = sequences.len().div_ceil(params.batch_size);
                let total = steps_per_epoch * params.epochs as usize;
                let mut order: Vec<usize> = (0..sequences.len()).collect();
                let mut shuffle = SplitMix(params.seed ^ 0x7361_7372_6563);
                let mut losses = Vec::with_capacity(params.epochs as usize);
                let mut step = 0usize;
                for _ in 0..params.epochs {
                    shuffle.shuffle(&mut order);
                    let mut sum = 0.0;
                    for chunk in order.chunks(params.batch_size) {
                        let inputs: Vec<&[u32]> = chunk.iter().map(|&s| &sequences[s][..sequences[s].len() - 1]).collect();
                        let targets: Vec<&[u32]> = chunk.iter().map(|&s| &sequences[s][1..]).collect();
                        let rows = padded_rows(&inputs, params.max_length);
                        // Target rows share the inputs' padding; only real positions are scored.
                        let target_rows = padded_rows(&targets, params.max_length).view([-1]);
                        let at = target_rows.ne(0).nonzero().squeeze_dim(1);
                        let hidden = net.forward(&rows, params.dropout, true).view([-1, params.hidden]).index_select(0, &at);
                        let logits = hidden.matmul(&net.item_embeddings().tr());
                        let loss = logits.cross_entropy_loss::<Tensor>(&(target_rows.index_select(0, &at) - 1), None, Reduction::Mean, -100, 0.0);
                        let warmup = (step + 1) as f64 / steps_per_epoch as f64;
                        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos());
                        optimizer.set_lr(params.lr * warmup.min(1.0) * cosine);
                        optimizer.backward_step(&loss);
                        sum += loss.double_value(&[]);
                        step += 1;
                        progress(step as u64, total as u64);
                    }
                    losses.push(sum / steps_per_epoch as f64);
                }
                Ok((net, losses))
            })
        };
        let (net, training_loss) = if params.threads > 0 { crate::with_threads(params.threads, train) } else { train() }?;
        drop(net);
        vs.freeze();
        let (tensors, payload) = framed::weights(&vs)?;
        let header = Header {
            task: TASK_SASREC.to_string(),
            n_items: interactions.n_items,
            sequences: sequences.len(),
            params,
            training_loss,
            fit_seconds: started.elapsed().as_secs_f64(),
            tensors,
        };
        Ok(FRAME.encode(&header, &payload))
    }

    /// Loads a snapshot.
    ///
    /// # Errors
    /// A malformed snapshot or one for another network.
    pub fn load(snapshot: &[u8]) -> Result<Self, String> {
        let (header, payload): (Header, &[u8]) = FRAME.decode(snapshot)?;
        FRAME.check_task(&header.task)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), i64::from(header.n_items), &header.params);
        framed::load_weights(&mut vs, &header.tensors, payload, TASK_SASREC)?;
        Ok(Self { header, network: Mutex::new((vs, net)) })
    }

    fn n_items(&self) -> usize {
        self.header.n_items as usize
    }

    /// Every item's score after each history, row-major (`histories.len() × n_items`).
    pub fn scores_batch(&self, histories: &[&[u32]]) -> Vec<f32> {
        let guard = self.network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let net = &guard.1;
        let _no_grad = tch::no_grad_guard();
        let run = || {
            let mut out = Vec::with_capacity(histories.len() * self.n_items());
            for chunk in histories.chunks(SCORE_BATCH) {
                let hidden = net.forward(&padded_rows(chunk, self.header.params.max_length), 0.0, false);
                let last = hidden.select(1, -1);
                let mut scores = last.matmul(&net.item_embeddings().tr());
                let empty: Vec<i64> = chunk.iter().enumerate().filter(|(_, h)| h.is_empty()).map(|(row, _)| row as i64).collect();
                if !empty.is_empty() {
                    let _ = scores.index_fill_(0, &Tensor::from_slice(&empty), 0.0);
                }
                out.extend(Vec::<f32>::try_from(scores.contiguous().view([-1])).expect("float scores"));
            }
            out
        };
        let threads = self.header.params.threads;
        if threads > 0 {
            crate::with_threads(threads, run)
        } else {
            run()
        }
    }

    /// Unit-length item embeddings `[n_items, hidden]`.
    fn unit_embeddings(&self) -> Tensor {
        let guard = self.network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let embeddings = guard.1.item_embeddings().detach();
        &embeddings / embeddings.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12)
    }

    /// The history item most similar to `item` (positive cosine), if any.
    fn because(&self, unit: &Tensor, history: &[u32], item: u32) -> Option<u32> {
        let row = unit.get(i64::from(item));
        history
            .iter()
            .map(|&h| (h, unit.get(i64::from(h)).dot(&row).double_value(&[])))
            .filter(|&(h, cosine)| h != item && cosine > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(h, _)| h)
    }

    fn describe(&self) -> serde_json::Value {
        let header = &self.header;
        serde_json::json!({
            "task": TASK_SASREC,
            "model": format!("SASRec, {} blocks × {} heads, hidden {}, last {} items, full cross-entropy", header.params.blocks, header.params.heads, header.params.hidden, header.params.max_length),
            "n_items": header.n_items,
            "sequences": header.sequences,
            "params": header.params,
            "training_loss": header.training_loss,
            "fit_seconds": header.fit_seconds,
        })
    }

    /// Answers one request.
    ///
    /// # Errors
    /// A malformed request or an item id out of range.
    pub fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let request: Request = serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))?;
        let n_items = self.n_items();
        let check = |what: &str, items: &[u32]| match items.iter().find(|&&item| item as usize >= n_items) {
            Some(item) => Err(format!("{what} {item} out of range (n_items = {n_items})")),
            None => Ok(()),
        };
        match request {
            Request::Scores { history } => {
                check("history item", &history)?;
                Ok(encode_f32s(&self.scores_batch(&[&history])))
            }
            Request::Explain { history, items } => {
                check("history item", &history)?;
                check("item", &items)?;
                let unit = self.unit_embeddings();
                let answers: Vec<serde_json::Value> = items
                    .iter()
                    .map(|&item| serde_json::json!({ "item": item, "because": self.because(&unit, &history, item) }))
                    .collect();
                Ok(serde_json::to_vec(&answers).expect("explanations serialise"))
            }
            Request::Similar { item, k } => {
                check("item", &[item])?;
                let unit = self.unit_embeddings();
                let cosines = Vec::<f32>::try_from(unit.mv(&unit.get(i64::from(item)))).expect("float cosines");
                let mut ranked: Vec<(u32, f32)> =
                    cosines.into_iter().enumerate().filter(|&(i, _)| i != item as usize).map(|(i, c)| (i as u32, c)).collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                ranked.truncate(k);
                let answers: Vec<serde_json::Value> =
                    ranked.into_iter().map(|(item, score)| serde_json::json!({ "item": item, "score": score })).collect();
                Ok(serde_json::to_vec(&answers).expect("neighbours serialise"))
            }
            Request::Describe => Ok(serde_json::to_vec(&self.describe()).expect("description serialises")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_naming_the_key() {
        assert_eq!(Params::parse(b"").unwrap(), Params::default());
        assert!(Params::parse(br#"{"heads":3}"#).unwrap_err().contains("heads (3) must divide hidden (64)"));
        assert!(Params::parse(br#"{"epochs":0}"#).unwrap_err().contains("epochs must be at least 1"));
        assert!(Params::parse(br#"{"dropout":1.0}"#).unwrap_err().contains("dropout"));
        assert!(Params::parse(br#"{"layers":2}"#).unwrap_err().contains("unknown field `layers`"));
    }

    #[test]
    fn rows_are_left_padded_and_keep_the_newest_items() {
        let rows = padded_rows(&[&[4, 5, 6], &[7]], 2);
        assert_eq!(Vec::<i64>::try_from(rows.view([-1])).unwrap(), vec![6, 7, 0, 8]);
    }
}
