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
//! every step; a fixed `seed` and `threads` give the same weights. After every epoch but the last
//! a checkpoint (weights, optimiser moments, losses) goes to the host; a fit given one back
//! carries on from it (`fit`'s `resume`).
//!
//! With `fusion` other than `none`, an item's representation (its input embedding and what hidden
//! states are scored against) fuses its own embedding with its attributes' embeddings (see
//! [`net::Fusion`]). With `pretrain_epochs` > 0, the network is first pretrained without labels
//! on masked items and their attributes (see [`pretrain`]), then fine-tuned for `epochs`.
//!
//! With `tabular_codes` > 0, a tabular autoencoder ([`crate::tabular`]) is first fitted on the
//! items' numeric features (price, counts, recency: the interactions' `item_features`) and each
//! item's code, projected to `hidden`, joins the fusion as one more attribute. With `user_codes`
//! > 0, a second autoencoder is fitted on the users' numeric features (history length and the mean
//! of each item feature over the history; see [`net::user_feature_row`]); its frozen encoder
//! recomputes them after every prefix of a history, and the projected code is added to the
//! hidden states, so training and serving see the same user features. The codes and encoders are
//! kept in the snapshot; `describe` reports each autoencoder's held-out reconstruction error
//! beside PCA's.
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
//! | `fusion` | `"none"` | item-attribute fusion: `none`, `concat`, `gated` or `mean` |
//! | `pretrain_epochs` | 0 | self-supervised passes (masked items and attributes) before fine-tuning |
//! | `mask_prob` | 0.2 | the share of items masked in pretraining |
//! | `tabular_codes` | 0 | width of the items' tabular code fused in (0: none; needs a `fusion`) |
//! | `user_codes` | 0 | width of the users' tabular code added to the hidden states (0: none) |
//! | `tabular_steps` | 2000 | each tabular autoencoder's optimisation steps (256 rows each) |
//! | `device` | `"cpu"` | `cpu` or `cuda` (the CPU, with a logged line, when CUDA is absent) |
//! | `stop_after` | 0 | end this fit after that many epochs of the schedule (pretraining ones included), with a checkpoint of them, and return the network as it is then (0: the whole schedule); a fit given that checkpoint as `resume`, with a later or no `stop_after` and otherwise the same params, carries on (how `agora bench train` scores each epoch) |
//!
//! Requests, as the `classic` plugin's `rec.*` tasks answer them (item ids are `0..n_items`):
//! `{"op":"scores","history":[...]}` answers one little-endian `f32` per item (the logits after
//! the history's last `max_length` items; all zero for an empty history);
//! `{"op":"explain","history":[...],"items":[...]}` answers `[{"item","because"}]`, `because`
//! being the history item whose embedding is most similar to the item's (when positive);
//! `{"op":"similar","item":i,"k":k}` answers `[{"item","score"}]`, the `k` items with the most
//! similar embeddings (cosine), best first; `{"op":"describe"}` answers JSON with the params, the
//! loss of each pretraining and training epoch, the device and the fit seconds.
//!
//! The snapshot: magic `AGSR`, format version, a JSON header (items, their attributes when the
//! network uses them, params, losses, fit seconds, the weights' names and shapes), then the weights as `f32`s (see [`framed`](crate::framed)).

use std::sync::Mutex;
use std::time::Instant;

use agora_plugin_api::model::{encode_f32s, Interactions};
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Reduction, Tensor};

use crate::adamw::AdamW;
use crate::device::{self, DeviceChoice};
use crate::framed::{self, Frame, WeightShape};
use crate::rng::{self, SplitMix};
use crate::tabular::{self, AutoencoderParams};

pub mod net;
pub mod pretrain;

use net::{padded_rows, Fusion, ItemAttributes, Net};

/// The task name.
pub const TASK_SASREC: &str = "rec.sasrec";

const FRAME: Frame = Frame { task: TASK_SASREC, magic: b"AGSR", version: 1 };
const CHECKPOINT: Frame = Frame { task: TASK_SASREC, magic: b"AGSC", version: 1 };
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
    pub fusion: Fusion,
    pub pretrain_epochs: u32,
    pub mask_prob: f64,
    pub tabular_codes: i64,
    pub user_codes: i64,
    pub tabular_steps: u32,
    pub device: DeviceChoice,
    pub stop_after: u32,
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
            fusion: Fusion::None,
            pretrain_epochs: 0,
            mask_prob: 0.2,
            tabular_codes: 0,
            user_codes: 0,
            tabular_steps: 2000,
            device: DeviceChoice::Cpu,
            stop_after: 0,
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
        if !(params.mask_prob > 0.0 && params.mask_prob < 1.0) {
            return Err(format!("mask_prob must be in (0, 1), not {}", params.mask_prob));
        }
        if !(params.lr.is_finite() && params.lr > 0.0) {
            return Err(format!("lr must be a positive number, not {}", params.lr));
        }
        if !(params.weight_decay.is_finite() && params.weight_decay >= 0.0) {
            return Err(format!("weight_decay must be a number ≥ 0, not {}", params.weight_decay));
        }
        for (key, value) in [("tabular_codes", params.tabular_codes), ("user_codes", params.user_codes)] {
            if value < 0 {
                return Err(format!("{key} must be 0 (none) or more, not {value}"));
            }
        }
        if params.tabular_codes > 0 && params.fusion == Fusion::None {
            return Err("tabular_codes are fused into the item representation: set fusion to concat, gated or mean".into());
        }
        Ok(params)
    }

    /// Whether a checkpoint written under `self` belongs to a fit with `other`: the same params
    /// but for where the fit stops.
    fn same_schedule(&self, other: &Self) -> bool {
        Self { stop_after: 0, ..self.clone() } == Self { stop_after: 0, ..other.clone() }
    }

    /// The items' attributes when the network uses them: for a fusion, or for pretraining's
    /// attribute prediction when the data has attributes.
    ///
    /// # Errors
    /// A fusion asked for on data whose items have neither attributes nor (with `tabular_codes`)
    /// numeric features, or `tabular_codes` on data without numeric features.
    fn attributes_of(&self, data: &Interactions) -> Result<Option<ItemAttributes>, String> {
        for (key, value) in [("tabular_codes", self.tabular_codes), ("user_codes", self.user_codes)] {
            if value > 0 && data.feature_names.is_empty() {
                return Err(format!("{key} needs the items' numeric features, and the data has none; set {key} = 0"));
            }
        }
        let known =
            ItemAttributes { n_attributes: data.n_attributes, offsets: data.attr_offsets.clone(), attributes: data.attributes.clone() };
        let any = !data.attributes.is_empty();
        match (self.fusion, any || self.tabular_codes > 0) {
            (Fusion::None, _) => Ok((self.pretrain_epochs > 0 && any).then_some(known)),
            (_, true) => Ok(Some(known)),
            (fusion, false) => Err(format!(
                "fusion = {} needs item attributes (or tabular_codes), and no item in the data has any; use fusion = \"none\"",
                serde_json::to_value(fusion).expect("a fusion serialises")
            )),
        }
    }
}

/// The snapshot's JSON header.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    task: String,
    n_items: u32,
    sequences: usize,
    params: Params,
    /// The items' attributes, when the network has attribute embeddings.
    #[serde(default)]
    attributes: Option<ItemAttributes>,
    #[serde(default)]
    pretraining_loss: Vec<f64>,
    training_loss: Vec<f64>,
    /// What the items' tabular autoencoder measured, when the network fuses its codes.
    #[serde(default)]
    tabular: Option<tabular::Report>,
    /// The users' tabular encoder and what its autoencoder measured, when the network uses it.
    #[serde(default)]
    user_tabular: Option<(tabular::Encoder, tabular::Report)>,
    #[serde(default)]
    trained_on: String,
    fit_seconds: f64,
    tensors: Vec<WeightShape>,
}

/// A checkpoint's JSON header: what was done so far; its payload holds the weights and the
/// optimiser's moments.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointHeader {
    params: Params,
    /// Epochs finished, pretraining ones first.
    epochs_done: u32,
    pretraining_loss: Vec<f64>,
    training_loss: Vec<f64>,
    optimiser_steps: i64,
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

/// The network of a loaded model and what serving needs of it, computed once at load.
struct Loaded {
    _vs: nn::VarStore,
    net: Net,
    table: Tensor,
}

/// A fitted or loaded `rec.sasrec` model (libtorch tensors are not `Sync`: the network sits
/// behind a mutex).
pub struct SasRec {
    header: Header,
    network: Mutex<Loaded>,
    /// Unit-length item representations (fused with attributes when trained so), row-major
    /// `n_items × hidden`: explanations and neighbours read them without libtorch or the lock.
    unit: Vec<f32>,
}

/// The dot product of two equally long rows.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The learning rate at `step`: linear warm-up over `warmup` steps, cosine decay to 0 at `total`.
fn scheduled_lr(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    let warm = ((step + 1) as f64 / warmup as f64).min(1.0);
    peak * warm * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}

/// What a training run learned: the network and each pretraining and training epoch's loss.
struct Trained {
    net: Net,
    pretraining_loss: Vec<f64>,
    training_loss: Vec<f64>,
}

impl SasRec {
    /// Trains on `Interactions` data with JSON `params` and returns the snapshot bytes; carries on
    /// from `resume` (a checkpoint this fit wrote before it was interrupted) when given, and hands
    /// `checkpoint` one after every epoch but the last (ending early, with one, at `stop_after`).
    ///
    /// # Errors
    /// Bad params, undecodable data, a fusion without attributes, no sequence of at least 2
    /// items, or a checkpoint of another fit.
    pub fn fit(
        data: &[u8],
        params: &[u8],
        resume: Option<&[u8]>,
        progress: &mut dyn FnMut(u64, u64),
        checkpoint: &mut dyn FnMut(&[u8]),
    ) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let params = Params::parse(params)?;
        let interactions = Interactions::decode(data)?;
        let attributes = params.attributes_of(&interactions)?;
        // Each sequence's last max_length + 1 items: max_length inputs, each with its next item.
        let sequences: Vec<&[u32]> = (0..interactions.n_users())
            .map(|user| interactions.sequence(user))
            .filter(|sequence| sequence.len() >= 2)
            .map(|sequence| &sequence[sequence.len().saturating_sub(params.max_length + 1)..])
            .collect();
        if sequences.is_empty() {
            return Err(format!("{TASK_SASREC} needs at least one user with 2 or more interactions"));
        }
        let device = params.device.resolve(TASK_SASREC);
        let mut vs = nn::VarStore::new(device);
        let n_items = i64::from(interactions.n_items);
        let mut train = || {
            rng::seeded(params.seed, || {
                let tabular = (params.tabular_codes > 0).then(|| item_codes(&interactions, &params)).transpose()?;
                let users = (params.user_codes > 0).then(|| user_encoder(&interactions, &params)).transpose()?;
                let side = Side {
                    item_codes: tabular.as_ref().map(|(codes, _)| codes),
                    users: users.as_ref().map(|(encoder, _)| (encoder, interactions.item_features.as_slice())),
                };
                let trained = train(&mut vs, &sequences, n_items, attributes.as_ref(), side, &params, resume, progress, checkpoint)?;
                Ok::<_, String>((trained, tabular.map(|(_, report)| report), users))
            })
        };
        let (trained, tabular, user_tabular) = if params.threads > 0 { crate::with_threads(params.threads, train) } else { train() }?;
        drop(trained.net);
        vs.freeze();
        let (tensors, payload) = framed::weights(&vs)?;
        let header = Header {
            task: TASK_SASREC.to_string(),
            n_items: interactions.n_items,
            sequences: sequences.len(),
            params,
            attributes,
            pretraining_loss: trained.pretraining_loss,
            training_loss: trained.training_loss,
            tabular,
            user_tabular,
            trained_on: device::name(device),
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
        let mut vs = nn::VarStore::new(header.params.device.resolve(TASK_SASREC));
        let mut net = Net::new(&vs.root(), i64::from(header.n_items), &header.params, header.attributes.as_ref());
        if let Some((encoder, _)) = &header.user_tabular {
            net = net.with_user_codes(&vs.root(), encoder.clone());
        }
        framed::load_weights(&mut vs, &header.tensors, payload, TASK_SASREC)?;
        let (table, unit) = tch::no_grad(|| {
            let table = net.item_table();
            let embeddings = net.scored(&table).to_device(Device::Cpu);
            let unit = &embeddings / embeddings.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12);
            (table, Vec::<f32>::try_from(unit.contiguous().view([-1])).expect("float embeddings"))
        });
        Ok(Self { header, network: Mutex::new(Loaded { _vs: vs, net, table }), unit })
    }

    fn n_items(&self) -> usize {
        self.header.n_items as usize
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.network.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every item's score after each history, row-major (`histories.len() × n_items`).
    pub fn scores_batch(&self, histories: &[&[u32]]) -> Vec<f32> {
        let loaded = self.loaded();
        let (net, table) = (&loaded.net, &loaded.table);
        let _no_grad = tch::no_grad_guard();
        let run = || {
            let mut out = Vec::with_capacity(histories.len() * self.n_items());
            for chunk in histories.chunks(SCORE_BATCH) {
                let rows = padded_rows(chunk, self.header.params.max_length, net.device());
                let last = net.forward(table, &rows, 0.0, false, true).select(1, -1);
                let mut scores = last.matmul(&net.scored(table).tr()).to_device(Device::Cpu);
                let empty: Vec<i64> = chunk.iter().enumerate().filter(|(_, h)| h.is_empty()).map(|(row, _)| row as i64).collect();
                if !empty.is_empty() {
                    let _ = scores.index_fill_(0, &Tensor::from_slice(&empty), 0.0);
                }
                out.extend(Vec::<f32>::try_from(scores.contiguous().view([-1])).expect("float scores"));
            }
            out
        };
        // One history is too little work to share between threads: handing it to a pool costs
        // more than it saves, and the waits make the slowest answers slower still.
        let threads = if histories.len() == 1 { 1 } else { self.header.params.threads };
        if threads > 0 {
            crate::with_threads(threads, run)
        } else {
            run()
        }
    }

    /// Item `item`'s unit-length representation.
    fn unit_row<'a>(&self, unit: &'a [f32], item: u32) -> &'a [f32] {
        let hidden = self.header.params.hidden as usize;
        &unit[item as usize * hidden..][..hidden]
    }

    /// The history item most similar to `item` (positive cosine), if any.
    fn because(&self, unit: &[f32], history: &[u32], item: u32) -> Option<u32> {
        let row = self.unit_row(unit, item);
        history
            .iter()
            .map(|&h| (h, dot(self.unit_row(unit, h), row)))
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
            "fusion": header.params.fusion,
            "pretraining_loss": header.pretraining_loss,
            "training_loss": header.training_loss,
            "tabular": header.tabular,
            "user_tabular": header.user_tabular.as_ref().map(|(_, report)| report),
            "trained_on": header.trained_on,
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
                let unit = &self.unit;
                let answers: Vec<serde_json::Value> =
                    items.iter().map(|&item| serde_json::json!({ "item": item, "because": self.because(unit, &history, item) })).collect();
                Ok(serde_json::to_vec(&answers).expect("explanations serialise"))
            }
            Request::Similar { item, k } => {
                check("item", &[item])?;
                let unit = &self.unit;
                let row = self.unit_row(unit, item);
                let mut ranked: Vec<(u32, f32)> = (0..self.header.n_items)
                    .filter(|&other| other != item)
                    .map(|other| (other, dot(self.unit_row(unit, other), row)))
                    .collect();
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

/// Pretrains (when asked) and trains the network under `vs`, carrying on from `resume` (a
/// checkpoint) when given, up to `stop_after`, reporting every step to `progress` and handing a
/// checkpoint to `checkpoint` after every epoch but the schedule's last. Each epoch draws its
/// order, masks and dropout from the seed and its own index, so a resumed fit takes the same
/// steps as an uninterrupted one.
fn train(
    vs: &mut nn::VarStore,
    sequences: &[&[u32]],
    n_items: i64,
    attributes: Option<&ItemAttributes>,
    side: Side<'_>,
    params: &Params,
    resume: Option<&[u8]>,
    progress: &mut dyn FnMut(u64, u64),
    checkpoint: &mut dyn FnMut(&[u8]),
) -> Result<Trained, String> {
    let mut net = Net::new(&vs.root(), n_items, params, attributes);
    if let Some(codes) = side.item_codes {
        net.set_tabular_codes(&codes.to_device(net.device()));
    }
    if let Some((encoder, item_features)) = side.users {
        net = net.with_user_codes(&vs.root(), encoder.clone());
        net.set_item_features(item_features);
    }
    let steps_per_epoch = sequences.len().div_ceil(params.batch_size);
    let all_epochs = params.pretrain_epochs + params.epochs;
    let total = (steps_per_epoch * all_epochs as usize) as u64;
    let mut optimizer = AdamW::new(vs, params.weight_decay);
    let mut losses = (Vec::new(), Vec::new());
    let mut first_epoch = 0;
    if let Some(bytes) = resume {
        let (header, payload): (CheckpointHeader, &[u8]) = CHECKPOINT.decode(bytes)?;
        if !header.params.same_schedule(params) {
            return Err(format!("the {TASK_SASREC} checkpoint to resume from was written with other params"));
        }
        let (moments, weights) = framed::decode_tensors(&header.tensors, payload, TASK_SASREC)?
            .into_iter()
            .partition(|(name, _)| name.starts_with("first/") || name.starts_with("second/"));
        framed::copy_into(vs, &weights)?;
        optimizer.restore(&moments, header.optimiser_steps)?;
        first_epoch = header.epochs_done;
        losses = (header.pretraining_loss, header.training_loss);
        progress(u64::from(first_epoch) * steps_per_epoch as u64, total);
    }
    let last_epoch = if params.stop_after > 0 { params.stop_after.min(all_epochs) } else { all_epochs };
    if first_epoch >= last_epoch {
        return Err(format!(
            "stop_after = {} asks for no more epochs than the checkpoint to resume from has done ({first_epoch})",
            params.stop_after
        ));
    }
    for epoch in first_epoch..last_epoch {
        let pretraining = epoch < params.pretrain_epochs;
        if epoch == params.pretrain_epochs && epoch > 0 {
            // Fine-tuning starts with fresh moments and its own warm-up.
            optimizer = AdamW::new(vs, params.weight_decay);
        }
        let epoch_seed = params.seed ^ u64::from(epoch).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tch::manual_seed(epoch_seed as i64);
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        SplitMix(epoch_seed ^ 0x7361_7372_6563).shuffle(&mut order);
        let mut masking = SplitMix(epoch_seed ^ 0x6d61_736b);
        let (phase_start, phase_epochs) = if pretraining { (0, params.pretrain_epochs) } else { (params.pretrain_epochs, params.epochs) };
        let mut sum = 0.0;
        for (step, chunk) in order.chunks(params.batch_size).enumerate() {
            let batch: Vec<&[u32]> = chunk.iter().map(|&s| sequences[s]).collect();
            let loss = if pretraining {
                let masked = pretrain::mask(&batch, params.max_length, params.mask_prob, net.mask_row(), &mut masking);
                pretrain::loss(&net, &masked, attributes, params.dropout, params.hidden)
            } else {
                next_item_loss(&net, &batch, params)
            };
            let phase_step = (epoch - phase_start) as usize * steps_per_epoch + step;
            optimizer.step(&loss, scheduled_lr(params.lr, phase_step, steps_per_epoch, steps_per_epoch * phase_epochs as usize));
            sum += loss.double_value(&[]);
            progress((epoch as usize * steps_per_epoch + step + 1) as u64, total);
        }
        let epoch_losses = if pretraining { &mut losses.0 } else { &mut losses.1 };
        epoch_losses.push(sum / steps_per_epoch as f64);
        if epoch + 1 < all_epochs {
            let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            tensors.extend(optimizer.moments());
            let (shapes, payload) = framed::encode_tensors(&tensors)?;
            let header = CheckpointHeader {
                params: params.clone(),
                epochs_done: epoch + 1,
                pretraining_loss: losses.0.clone(),
                training_loss: losses.1.clone(),
                optimiser_steps: optimizer.steps(),
                tensors: shapes,
            };
            checkpoint(&CHECKPOINT.encode(&header, &payload));
        }
    }
    Ok(Trained { net, pretraining_loss: losses.0, training_loss: losses.1 })
}

/// What the network fuses besides items and attributes: the items' tabular codes, and the user
/// encoder with the items' raw features it reads.
struct Side<'a> {
    item_codes: Option<&'a Tensor>,
    users: Option<(&'a tabular::Encoder, &'a [f32])>,
}

fn autoencoder_params(codes: i64, params: &Params) -> AutoencoderParams {
    AutoencoderParams { codes, hidden: 32, steps: params.tabular_steps, lr: 1e-2, seed: params.seed }
}

/// The items' tabular autoencoder's code of every item (`[n_items, tabular_codes]`) and its report.
fn item_codes(data: &Interactions, params: &Params) -> Result<(Tensor, tabular::Report), String> {
    let shape = autoencoder_params(params.tabular_codes, params);
    let (_, codes, report) = tabular::fit(&data.feature_names, &data.item_features, data.n_items as usize, &shape)?;
    Ok((codes, report))
}

/// The users' tabular autoencoder, fitted on every user's features after their whole history.
fn user_encoder(data: &Interactions, params: &Params) -> Result<(tabular::Encoder, tabular::Report), String> {
    let width = data.feature_names.len();
    let names: Vec<String> =
        std::iter::once("log_history_length".to_string()).chain(data.feature_names.iter().map(|name| format!("mean_{name}"))).collect();
    let histories: Vec<&[u32]> = (0..data.n_users()).map(|user| data.sequence(user)).filter(|history| !history.is_empty()).collect();
    let rows: Vec<f32> = histories.iter().flat_map(|history| net::user_feature_row(history, &data.item_features, width)).collect();
    let (encoder, _, report) = tabular::fit(&names, &rows, histories.len(), &autoencoder_params(params.user_codes, params))?;
    Ok((encoder, report))
}

/// Full cross-entropy of each sequence's next items, at every real position.
fn next_item_loss(net: &Net, batch: &[&[u32]], params: &Params) -> Tensor {
    let device = net.device();
    let inputs: Vec<&[u32]> = batch.iter().map(|s| &s[..s.len() - 1]).collect();
    let targets: Vec<&[u32]> = batch.iter().map(|s| &s[1..]).collect();
    let rows = padded_rows(&inputs, params.max_length, device);
    // Target rows share the inputs' padding; only real positions are scored.
    let target_rows = padded_rows(&targets, params.max_length, device).view([-1]);
    let at = target_rows.ne(0).nonzero().squeeze_dim(1);
    let table = net.item_table();
    let hidden = net.forward(&table, &rows, params.dropout, true, true).view([-1, params.hidden]).index_select(0, &at);
    let logits = hidden.matmul(&net.scored(&table).tr());
    logits.cross_entropy_loss::<Tensor>(&(target_rows.index_select(0, &at) - 1), None, Reduction::Mean, -100, 0.0)
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
        assert!(Params::parse(br#"{"fusion":"sum"}"#).unwrap_err().contains("unknown variant `sum`"));
        assert!(Params::parse(br#"{"mask_prob":0}"#).unwrap_err().contains("mask_prob must be in (0, 1)"));
        assert!(Params::parse(br#"{"tabular_codes":4}"#).unwrap_err().contains("set fusion to concat, gated or mean"));
        assert!(Params::parse(br#"{"tabular_codes":-1}"#).unwrap_err().contains("tabular_codes must be 0"));
        let chosen = Params::parse(br#"{"fusion":"gated","pretrain_epochs":3,"device":"cuda"}"#).unwrap();
        assert_eq!((chosen.fusion, chosen.pretrain_epochs, chosen.device), (Fusion::Gated, 3, DeviceChoice::Cuda));
    }
}
