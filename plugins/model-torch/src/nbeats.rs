//! The network, its training and its forecasts.
//!
//! An N-BEATS-style stack (Oreshkin et al., ICLR 2020, "generic" blocks): each block is an MLP on
//! what the earlier blocks left of the input window; its backcast head takes its share out of
//! that residual and its forecast head adds to the sum of forecasts. The forecast heads emit
//! [`QUANTILES`] per step, trained with the pinball loss, so one network gives the median (the
//! point forecast) and both intervals.
//!
//! Every window is scaled by the mean absolute value of its input (1 when that is zero), so one
//! network serves series of any level; forecasts are scaled back. An input shorter than the
//! lookback is padded on the left with its first value.

use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::params::Params;
use crate::rng::{self, SplitMix};

/// The quantile levels the network forecasts, in increasing order: the 95% and 80% interval ends
/// and the median.
pub const QUANTILES: [f64; 5] = [0.025, 0.1, 0.5, 0.9, 0.975];

/// The shape of a network, all that is needed to rebuild it before loading its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Input window length.
    pub lookback: usize,
    /// Forecast steps.
    pub horizon: usize,
    /// Hidden units per layer.
    pub width: usize,
    /// Hidden layers per block.
    pub layers: usize,
    /// Blocks.
    pub blocks: usize,
}

impl Shape {
    /// The label forecasts carry in their `model` field.
    pub fn label(&self) -> String {
        format!("N-BEATS(lookback={},blocks={},layers={},width={},quantiles)", self.lookback, self.blocks, self.layers, self.width)
    }
}

struct Block {
    hidden: Vec<nn::Linear>,
    backcast: nn::Linear,
    forecast: nn::Linear,
}

/// The network; its variables live in the `VarStore` it was built on.
pub struct Net {
    shape: Shape,
    blocks: Vec<Block>,
}

impl Net {
    /// Builds a freshly initialised network under `root`.
    pub fn new(root: &nn::Path, shape: Shape) -> Self {
        let (lookback, width, outputs) = (shape.lookback as i64, shape.width as i64, (shape.horizon * QUANTILES.len()) as i64);
        let blocks = (0..shape.blocks)
            .map(|b| {
                let path = root / format!("block{b}");
                let hidden = (0..shape.layers)
                    .map(|l| nn::linear(&path / format!("fc{l}"), if l == 0 { lookback } else { width }, width, Default::default()))
                    .collect();
                let backcast = nn::linear(&path / "backcast", width, lookback, Default::default());
                let forecast = nn::linear(&path / "forecast", width, outputs, Default::default());
                Block { hidden, backcast, forecast }
            })
            .collect();
        Self { shape, blocks }
    }

    /// Scaled windows `[n, lookback]` → scaled quantile forecasts `[n, horizon, quantiles]`.
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let mut residual = input.shallow_clone();
        let mut forecast: Option<Tensor> = None;
        for block in &self.blocks {
            let mut hidden = residual.shallow_clone();
            for layer in &block.hidden {
                hidden = layer.forward(&hidden).relu();
            }
            residual = residual - block.backcast.forward(&hidden);
            let part = block.forecast.forward(&hidden);
            forecast = Some(match forecast {
                None => part,
                Some(sum) => sum + part,
            });
        }
        forecast.expect("at least one block").view([-1, self.shape.horizon as i64, QUANTILES.len() as i64])
    }
}

/// A window's input, left-padded with its first value to `lookback`, and its scale.
fn window_input(values: &[f64], lookback: usize, out: &mut Vec<f32>) -> f32 {
    let tail = &values[values.len().saturating_sub(lookback)..];
    let pad = lookback - tail.len();
    let scale = tail.iter().map(|v| v.abs()).sum::<f64>() / tail.len() as f64;
    let scale = if scale > 0.0 && scale.is_finite() { scale } else { 1.0 };
    out.extend(std::iter::repeat_n((tail[0] / scale) as f32, pad));
    out.extend(tail.iter().map(|v| (v / scale) as f32));
    scale as f32
}

/// Every training window: (series, cut) with the input ending just before `cut` and the target
/// `series[cut..cut + horizon]` inside the data. Cuts start once a full lookback is available
/// (or at the first value for a series too short for one) and, with `history` > 0, lie within the
/// last `history` × horizon values.
pub fn windows(series: &[&[f64]], shape: Shape, history: f64) -> Vec<(u32, u32)> {
    let h = shape.horizon;
    let mut out = Vec::new();
    for (index, values) in series.iter().enumerate() {
        if values.len() <= h {
            continue;
        }
        let last = values.len() - h;
        let mut first = shape.lookback.min(last).max(1);
        if history > 0.0 {
            first = first.max(last.saturating_sub((history * h as f64).ceil() as usize));
        }
        out.extend((first..=last).map(|cut| (index as u32, cut as u32)));
    }
    out
}

/// Trains a network on `series` (already checked non-empty), reporting `(step, steps)`; returns
/// its variables and the mean training loss of each epoch.
///
/// # Errors
/// When no series is longer than the horizon, or libtorch fails.
pub fn train(
    series: &[&[f64]],
    shape: Shape,
    params: &Params,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(nn::VarStore, Vec<f64>), String> {
    let windows_all = windows(series, shape, params.history);
    if windows_all.is_empty() {
        return Err(format!("no series is longer than the horizon {}: nothing to train on", shape.horizon));
    }
    let vs = nn::VarStore::new(Device::Cpu);
    // The initial weights are libtorch's only draws (training itself draws nothing).
    let net = rng::seeded(params.seed, || Net::new(&vs.root(), shape));
    let mut optimizer = nn::Adam::default().build(&vs, params.learning_rate).map_err(|e| format!("optimizer: {e}"))?;
    let levels = Tensor::from_slice(&QUANTILES.map(|q| q as f32));
    let mut rng = SplitMix(params.seed ^ 0x6E62_6561_7473);
    let mut order = windows_all;
    let batch = (params.batch_size as usize).min(order.len());
    let steps_per_epoch = order.len().div_ceil(batch);
    let total = (steps_per_epoch * params.epochs as usize) as u64;
    let (lookback, h) = (shape.lookback, shape.horizon);
    let mut inputs = Vec::with_capacity(batch * lookback);
    let mut targets = Vec::with_capacity(batch * h);
    let mut step = 0u64;
    let mut epoch_losses = Vec::with_capacity(params.epochs as usize);
    for _ in 0..params.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(batch) {
            inputs.clear();
            targets.clear();
            for &(index, cut) in chunk {
                let values = series[index as usize];
                let cut = cut as usize;
                let scale = window_input(&values[..cut], lookback, &mut inputs) as f64;
                targets.extend(values[cut..cut + h].iter().map(|v| (v / scale) as f32));
            }
            let n = chunk.len() as i64;
            let x = Tensor::from_slice(&inputs).view([n, lookback as i64]);
            let y = Tensor::from_slice(&targets).view([n, h as i64, 1]);
            let error = y - net.forward(&x);
            // Pinball loss: max(τ e, (τ − 1) e), averaged over windows, steps and levels.
            let loss = (&error * &levels).maximum(&(&error * (&levels - 1.0))).mean(Kind::Float);
            let progress_share = step as f64 / total as f64;
            optimizer.set_lr(params.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress_share).cos())));
            optimizer.backward_step(&loss);
            loss_sum += loss.double_value(&[]) * n as f64;
            step += 1;
            progress(step, total);
        }
        epoch_losses.push(loss_sum / order.len() as f64);
    }
    Ok((vs, epoch_losses))
}

/// Forecasts `horizon` ≤ `net`'s horizon steps for each (non-empty) series: per series the
/// [`QUANTILES`], sorted within each step, as `[step][level]`. Forecasts of a series with no
/// negative value are clipped at 0.
pub fn forecast(net: &Net, series: &[Vec<f64>], horizon: usize) -> Vec<Vec<[f64; 5]>> {
    let shape = net.shape;
    let mut inputs = Vec::with_capacity(series.len() * shape.lookback);
    let scales: Vec<f32> = series.iter().map(|values| window_input(values, shape.lookback, &mut inputs)).collect();
    let x = Tensor::from_slice(&inputs).view([series.len() as i64, shape.lookback as i64]);
    let out: Vec<f32> = tch::no_grad(|| Vec::<f32>::try_from(net.forward(&x).contiguous().view([-1]))).expect("f32 forecasts");
    let levels = QUANTILES.len();
    series
        .iter()
        .zip(&scales)
        .enumerate()
        .map(|(s, (values, &scale))| {
            let floor = if values.iter().all(|v| *v >= 0.0) { 0.0 } else { f64::NEG_INFINITY };
            (0..horizon)
                .map(|t| {
                    let at = (s * shape.horizon + t) * levels;
                    let mut q = [0.0; 5];
                    for (k, slot) in q.iter_mut().enumerate() {
                        *slot = (f64::from(out[at + k]) * f64::from(scale)).max(floor);
                    }
                    q.sort_by(f64::total_cmp);
                    q
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_targets_inside_and_respect_history() {
        let shape = Shape { lookback: 4, horizon: 2, width: 8, layers: 1, blocks: 1 };
        let long: Vec<f64> = (0..20).map(f64::from).collect();
        let short = [1.0, 2.0, 3.0];
        let tiny = [1.0, 2.0];
        let w = windows(&[&long, &short, &tiny], shape, 0.0);
        // long: cuts 4..=18; short: cut 1 only (3 - 2); tiny: none.
        assert_eq!(w.iter().filter(|w| w.0 == 0).count(), 15);
        assert_eq!(w.iter().filter(|w| w.0 == 1).map(|w| w.1).collect::<Vec<_>>(), [1]);
        assert!(w.iter().all(|&(s, cut)| s != 2 && cut as usize + 2 <= [20, 3][s as usize]));
        let recent = windows(&[&long], shape, 3.0);
        assert_eq!(recent.first().map(|w| w.1), Some(12));
        assert_eq!(recent.len(), 7);
    }

    #[test]
    fn inputs_are_padded_with_the_first_value_and_scaled() {
        let mut out = Vec::new();
        let scale = window_input(&[2.0, 4.0], 4, &mut out);
        assert_eq!(scale, 3.0);
        assert_eq!(out, [2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 4.0 / 3.0]);
        out.clear();
        assert_eq!(window_input(&[0.0, 0.0, 5.0, -5.0, 0.0], 2, &mut out), 2.5);
        out.clear();
        assert_eq!(window_input(&[0.0, 0.0], 2, &mut out), 1.0);
    }
}
