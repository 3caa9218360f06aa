//! `text.classify`'s training: a linear probe on the frozen encoder's unit vectors, then AdamW on
//! the encoder's top layers and that head together (cross-entropy with label smoothing, dropout,
//! layer-wise learning-rate decay, linear warm-up and decay), on length-bucketed batches.

use tch::{Device, Kind, Reduction, Tensor};

use crate::bert::{self, Bert, Trainable};
use crate::classify::Params;
use crate::rng::{self, SplitMix};

/// Texts per length bucket, in batches: each epoch's shuffled order is cut into pools of this many
/// batches, each pool sorted by length and cut into batches, and the batches shuffled.
const POOL_BATCHES: usize = 16;
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// The classifier on the encoder's unit vectors: `logits = u · weightᵀ + bias`.
pub struct Head {
    /// `[labels, dims]`.
    pub weight: Tensor,
    /// `[labels]`.
    pub bias: Tensor,
}

impl Head {
    /// Logits `[batch, labels]` of unit vectors `[batch, dims]`.
    pub fn logits(&self, unit: &Tensor) -> Tensor {
        unit.linear(&self.weight, Some(&self.bias))
    }
}

/// What training returns besides the encoder's changed weights.
pub struct Trained {
    /// The head.
    pub head: Head,
    /// The probe's final loss.
    pub probe_loss: f64,
    /// Mean training loss of each fine-tuning epoch.
    pub epoch_losses: Vec<f64>,
}

/// One tensor AdamW updates, with its moments.
struct Slot {
    tensor: Tensor,
    first: Tensor,
    second: Tensor,
    /// Multiplies the learning rate (layer-wise decay).
    lr_scale: f64,
    /// Whether weight decay applies (matrices, not biases or LayerNorm scales).
    decays: bool,
}

/// AdamW with decoupled weight decay and a learning-rate multiplier per tensor.
struct AdamW {
    slots: Vec<Slot>,
    steps: i32,
}

impl AdamW {
    fn new(tensors: Vec<(Tensor, f64)>) -> Self {
        let slots = tensors
            .into_iter()
            .map(|(tensor, lr_scale)| {
                let tensor = tensor.set_requires_grad(true);
                Slot { first: tensor.zeros_like(), second: tensor.zeros_like(), decays: tensor.dim() >= 2, lr_scale, tensor }
            })
            .collect();
        Self { slots, steps: 0 }
    }

    /// Scales the gradients down to an L2 norm of at most `max` (0: no clipping).
    fn clip(&self, max: f64) {
        if max <= 0.0 {
            return;
        }
        let _no_grad = tch::no_grad_guard();
        let squares: f64 = self
            .slots
            .iter()
            .map(|slot| slot.tensor.grad())
            .filter(Tensor::defined)
            .map(|grad| grad.square().sum(Kind::Double).double_value(&[]))
            .sum();
        let norm = squares.sqrt();
        if norm > max {
            for slot in &self.slots {
                let mut grad = slot.tensor.grad();
                if grad.defined() {
                    grad *= max / norm;
                }
            }
        }
    }

    fn step(&mut self, lr: f64, weight_decay: f64) {
        let _no_grad = tch::no_grad_guard();
        self.steps += 1;
        let first_correction = 1.0 - BETA1.powi(self.steps);
        let second_correction = 1.0 - BETA2.powi(self.steps);
        for slot in &mut self.slots {
            let grad = slot.tensor.grad();
            if !grad.defined() {
                continue;
            }
            let lr = lr * slot.lr_scale;
            slot.first *= BETA1;
            slot.first += &grad * (1.0 - BETA1);
            slot.second *= BETA2;
            slot.second += grad.square() * (1.0 - BETA2);
            if slot.decays && weight_decay > 0.0 {
                slot.tensor *= 1.0 - lr * weight_decay;
            }
            let denominator = (&slot.second / second_correction).sqrt() + EPSILON;
            slot.tensor -= &slot.first / denominator * (lr / first_correction);
            slot.tensor.zero_grad();
        }
    }
}

/// The batches of one epoch: the shuffled examples cut into pools of [`POOL_BATCHES`] batches,
/// each pool sorted by token count and cut into batches, then the batches shuffled.
fn epoch_batches(lengths: &[usize], batch_size: usize, rng: &mut SplitMix) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::new();
    for pool in order.chunks(batch_size * POOL_BATCHES) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&index| lengths[index]);
        out.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

/// Batches per epoch of `n` examples (see [`epoch_batches`]).
fn batches_per_epoch(n: usize, batch_size: usize) -> usize {
    let pool = batch_size * POOL_BATCHES;
    (n / pool) * POOL_BATCHES + (n % pool).div_ceil(batch_size)
}

fn loss(logits: &Tensor, targets: &Tensor, label_smoothing: f64) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(targets, None, Reduction::Mean, -100, label_smoothing)
}

/// The learning-rate factor at `step` of `total`: linear warm-up over the first `warmup` share,
/// then linear decay to 0.
fn schedule(step: usize, total: usize, warmup: f64) -> f64 {
    let warmup_steps = (warmup * total as f64).round() as usize;
    if step < warmup_steps {
        (step + 1) as f64 / warmup_steps as f64
    } else {
        (total - step) as f64 / (total - warmup_steps).max(1) as f64
    }
}

/// Unit vectors `[n, dims]` of the encoder (no dropout, no gradients) in `ids`' order, reporting
/// one progress unit per batch.
fn unit_vectors(bert: &Bert, ids: &[Vec<u32>], batch_size: usize, mut batch_done: impl FnMut()) -> Tensor {
    let _no_grad = tch::no_grad_guard();
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(ids[index].len()));
    let mut parts = Vec::new();
    for chunk in bert::batches(&order, |index| ids[index].len(), batch_size) {
        let tokens: Vec<&[u32]> = chunk.iter().map(|&index| ids[index].as_slice()).collect();
        let (flat, mask) = bert::padded(&tokens);
        parts.push(bert.embed(&flat, &mask));
        batch_done();
    }
    // Row r of the concatenation is text order[r]; put each text back at its index.
    let mut position = vec![0i64; ids.len()];
    for (row, &index) in order.iter().enumerate() {
        position[index] = row as i64;
    }
    Tensor::cat(&parts, 0).index_select(0, &Tensor::from_slice(&position))
}

/// Batches [`unit_vectors`] reports progress for.
fn vector_batches(ids: &[Vec<u32>], batch_size: usize) -> usize {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(ids[index].len()));
    bert::batches(&order, |index| ids[index].len(), batch_size).len()
}

/// L2-regularised logistic regression of `labels` on the unit vectors `features`: the mean
/// cross-entropy (with the fine-tuning's label smoothing) plus `‖weight‖² / (2 · probe_c · n)` (the
/// objective of scikit-learn's `LogisticRegression(C=probe_c)` divided by n), minimised by
/// full-batch Adam from zero weights. Gives the head fine-tuning starts from.
fn probe(features: &Tensor, targets: &Tensor, labels: usize, params: &Params) -> (Head, f64) {
    let dims = features.size()[1];
    let head = Head {
        weight: Tensor::zeros([labels as i64, dims], (Kind::Float, Device::Cpu)),
        bias: Tensor::zeros([labels as i64], (Kind::Float, Device::Cpu)),
    };
    let mut optimizer = AdamW::new(vec![(head.weight.shallow_clone(), 1.0), (head.bias.shallow_clone(), 1.0)]);
    let mut last = f64::NAN;
    let penalty = 1.0 / (2.0 * params.probe_c * features.size()[0] as f64);
    for _ in 0..params.probe_steps {
        let loss = loss(&head.logits(features), targets, params.label_smoothing) + head.weight.square().sum(Kind::Float) * penalty;
        loss.backward();
        optimizer.step(params.probe_lr, 0.0);
        last = loss.double_value(&[]);
    }
    let _no_grad = tch::no_grad_guard();
    (Head { weight: head.weight.detach(), bias: head.bias.detach() }, last)
}

/// Trains a head for the `targets` (label indices below `labels`) of the token id lists `ids` and,
/// with `params.epochs` > 0, fine-tunes the weights of `bert` that `trainable` selects together
/// with it, in place. Reports `(done, total)` units: one per batch of the probe's encoding, one for
/// the probe, one per fine-tuning step.
///
/// # Errors
/// When libtorch fails.
pub fn train(
    bert: &Bert,
    ids: &[Vec<u32>],
    targets: &[i64],
    labels: usize,
    trainable: Trainable,
    params: &Params,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Trained, String> {
    let n = ids.len();
    let batch_size = params.batch_size.min(n);
    let steps_per_epoch = batches_per_epoch(n, batch_size);
    let epochs = params.epochs_for(steps_per_epoch);
    let total_steps = steps_per_epoch * epochs as usize;
    let encoding = vector_batches(ids, params.batch_size);
    let total = (encoding + 1 + total_steps) as u64;
    let mut done = 0u64;

    let features = unit_vectors(bert, ids, params.batch_size, || {
        done += 1;
        progress(done, total);
    });
    let all_targets = Tensor::from_slice(targets);
    let (head, probe_loss) = probe(&features, &all_targets, labels, params);
    done += 1;
    progress(done, total);
    drop(features);

    let mut tensors: Vec<(Tensor, f64)> =
        bert.trainable(trainable).into_iter().map(|(_, below_top, tensor)| (tensor, params.layer_decay.powi(below_top as i32))).collect();
    let head_scale = params.head_lr / params.lr;
    tensors.push((head.weight.shallow_clone(), head_scale));
    tensors.push((head.bias.shallow_clone(), head_scale));
    let mut optimizer = AdamW::new(tensors);
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let mut order_rng = SplitMix(params.seed ^ 0x636C_6173_7369_6679);
    let mut epoch_losses = Vec::with_capacity(epochs as usize);
    let mut step = 0usize;
    let sites = bert.dropout_sites();
    let hidden = bert.hidden();
    for _ in 0..epochs {
        let mut sum = 0.0;
        let batches = epoch_batches(&lengths, batch_size, &mut order_rng);
        debug_assert_eq!(batches.len(), steps_per_epoch);
        for batch in &batches {
            let tokens: Vec<&[u32]> = batch.iter().map(|&index| ids[index].as_slice()).collect();
            let (flat, mask) = bert::padded(&tokens);
            let batch_targets = Tensor::from_slice(&batch.iter().map(|&index| targets[index]).collect::<Vec<i64>>());
            let masks = (params.dropout > 0.0).then(|| {
                let shape = [batch.len() as i64, flat.size()[1], hidden];
                let keep = 1.0 - params.dropout;
                let seed = SplitMix(params.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).next();
                rng::seeded(seed, || {
                    (0..sites)
                        .map(|_| Tensor::rand(shape, (Kind::Float, Device::Cpu)).lt(keep).to_kind(Kind::Float) / keep)
                        .collect::<Vec<Tensor>>()
                })
            });
            let unit = bert::unit_rows(&bert.pooled(&flat, &mask, masks.as_deref()));
            let loss = loss(&head.logits(&unit), &batch_targets, params.label_smoothing);
            loss.backward();
            optimizer.clip(params.clip_norm);
            optimizer.step(params.lr * schedule(step, total_steps, params.warmup), params.weight_decay);
            sum += loss.double_value(&[]);
            step += 1;
            done += 1;
            progress(done, total);
        }
        epoch_losses.push(sum / batches.len() as f64);
    }
    for slot in &optimizer.slots {
        let _ = slot.tensor.set_requires_grad(false);
    }
    let _no_grad = tch::no_grad_guard();
    Ok(Trained { head: Head { weight: head.weight.detach(), bias: head.bias.detach() }, probe_loss, epoch_losses })
}
