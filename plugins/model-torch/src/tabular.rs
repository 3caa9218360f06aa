//! A tabular autoencoder: rows of numeric features (NaN where unknown) standardised and squeezed
//! through a few codes by an MLP trained on the reconstruction MSE of the known cells, measured on
//! held-out rows beside PCA with as many components and the column means.

use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::rng::SplitMix;

/// Rows per optimisation step.
const BATCH: usize = 256;
/// Steps between two entries of the reported training loss.
const LOSS_EVERY: u32 = 100;
/// Share of the rows held out to measure the reconstruction.
const HELD_OUT: f64 = 0.2;
/// Share of the training rows that choose when to stop (the weights kept are those that
/// reconstructed them best, checked every [`LOSS_EVERY`] steps).
const STOPPING: f64 = 0.1;

/// How the autoencoder is shaped and trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoencoderParams {
    /// Width of the code (the bottleneck).
    pub codes: i64,
    /// Width of the encoder's and the decoder's hidden layer.
    pub hidden: i64,
    /// Optimisation steps of [`BATCH`] rows (a small table is passed over many times).
    pub steps: u32,
    pub lr: f64,
    pub seed: u64,
}

/// What fitting measured; reconstruction errors are mean squared errors over the held-out rows'
/// known cells, in standard deviations of each column (the column mean scores about 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The columns the codes describe.
    pub features: Vec<String>,
    /// Columns left out: constant, or known in fewer than two training rows.
    pub dropped: Vec<String>,
    pub rows: usize,
    pub held_out_rows: usize,
    pub codes: i64,
    /// Mean training MSE of each run of 100 steps.
    pub loss: Vec<f64>,
    /// `None` when there are too few rows to hold any out.
    pub held_out_mse: Option<f64>,
    pub pca_mse: Option<f64>,
    pub mean_mse: Option<f64>,
}

/// The fitted encoder half, small enough to keep in a JSON header: which raw columns it reads
/// and how it standardises them, and the weights of `input → hidden → codes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    /// Raw columns (NaN where unknown) an input row has.
    pub width: usize,
    /// The raw columns used, with their training mean and standard deviation.
    pub kept: Vec<usize>,
    pub means: Vec<f32>,
    pub sds: Vec<f32>,
    /// Positions in `kept` that also get a missing indicator (columns with unknown cells).
    pub indicators: Vec<usize>,
    pub hidden: i64,
    pub codes: i64,
    /// `[hidden, inputs]`, `[hidden]`, `[codes, hidden]`, `[codes]`, row-major.
    pub weights_in: Vec<f32>,
    pub bias_in: Vec<f32>,
    pub weights_out: Vec<f32>,
    pub bias_out: Vec<f32>,
    /// `[codes, inputs]`: the linear map added to the MLP's code.
    pub weights_linear: Vec<f32>,
    /// Each code dimension's mean and standard deviation over the fitted rows, to scale codes to 1.
    pub code_means: Vec<f32>,
    pub code_sds: Vec<f32>,
}

impl Encoder {
    /// Standardised values (0 where unknown), the known mask, both `[.., kept]`, and the network
    /// input `[.., kept + indicators]` of raw rows `[.., width]`.
    fn prepare(&self, raw: &Tensor) -> (Tensor, Tensor, Tensor) {
        let device = raw.device();
        let index = |positions: &[usize]| Tensor::from_slice(&positions.iter().map(|&p| p as i64).collect::<Vec<_>>()).to_device(device);
        let vector = |values: &[f32]| Tensor::from_slice(values).to_device(device);
        let last = raw.dim() as i64 - 1;
        let columns = raw.index_select(last, &index(&self.kept));
        let known = columns.isfinite();
        let standard = ((columns.nan_to_num(0.0, 0.0, 0.0) - vector(&self.means)) / vector(&self.sds)) * known.to_kind(Kind::Float);
        let known = known.to_kind(Kind::Float);
        let indicators = (known.ones_like() - &known).index_select(last, &index(&self.indicators));
        let input = Tensor::cat(&[&standard, &indicators], last);
        (standard, known, input)
    }

    /// Codes `[.., codes]` (unit scale) of raw rows `[.., width]` (NaN where unknown).
    pub fn encode(&self, raw: &Tensor) -> Tensor {
        let device = raw.device();
        let matrix = |values: &[f32], rows: i64| Tensor::from_slice(values).view([rows, -1]).to_device(device);
        let vector = |values: &[f32]| Tensor::from_slice(values).to_device(device);
        let (_, _, input) = self.prepare(raw);
        let hidden = (input.matmul(&matrix(&self.weights_in, self.hidden).tr()) + vector(&self.bias_in)).tanh();
        let codes = hidden.matmul(&matrix(&self.weights_out, self.codes).tr())
            + vector(&self.bias_out)
            + input.matmul(&matrix(&self.weights_linear, self.codes).tr());
        (codes - vector(&self.code_means)) / vector(&self.code_sds)
    }
}

/// Fits the autoencoder on `rows` rows of `names.len()` columns (`values` row-major, NaN where
/// unknown) and returns its encoder, every row's code (`[rows, codes]`, each dimension scaled to
/// zero mean and unit variance) and the report. Draws initial weights from libtorch's global
/// generator: call it inside [`rng::seeded`](crate::rng::seeded) for repeatable codes.
///
/// # Errors
/// A table whose size does not match, or without a column that varies.
pub fn fit(names: &[String], values: &[f32], rows: usize, params: &AutoencoderParams) -> Result<(Encoder, Tensor, Report), String> {
    let width = names.len();
    if values.len() != rows * width {
        return Err(format!("{} feature values for {rows} rows × {width} columns", values.len()));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    SplitMix(params.seed ^ 0x7461_626c).shuffle(&mut order);
    let held_out_rows = if rows >= 10 { (rows as f64 * HELD_OUT).round() as usize } else { 0 };
    let (held_out, training) = order.split_at(held_out_rows);
    let stopping_rows = if training.len() >= 20 { (training.len() as f64 * STOPPING).round() as usize } else { 0 };
    let (stopping, fitting) = training.split_at(stopping_rows);

    // Standardise with the training rows' known cells; drop what does not vary.
    let mut encoder = Encoder {
        width,
        kept: Vec::new(),
        means: Vec::new(),
        sds: Vec::new(),
        indicators: Vec::new(),
        hidden: params.hidden,
        codes: params.codes,
        weights_in: Vec::new(),
        bias_in: Vec::new(),
        weights_out: Vec::new(),
        bias_out: Vec::new(),
        weights_linear: Vec::new(),
        code_means: vec![0.0; params.codes as usize],
        code_sds: vec![1.0; params.codes as usize],
    };
    let mut dropped = Vec::new();
    for (column, name) in names.iter().enumerate() {
        let cell = |row: usize| f64::from(values[row * width + column]);
        let known: Vec<f64> = training.iter().map(|&row| cell(row)).filter(|value| value.is_finite()).collect();
        let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
        let sd = (known.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / known.len().max(1) as f64).sqrt();
        if known.len() < 2 || sd < 1e-9 {
            dropped.push(name.clone());
            continue;
        }
        if (0..rows).any(|row| !cell(row).is_finite()) {
            encoder.indicators.push(encoder.kept.len());
        }
        encoder.kept.push(column);
        encoder.means.push(mean as f32);
        encoder.sds.push(sd as f32);
    }
    if encoder.kept.is_empty() {
        return Err(format!("no feature varies across the known values (columns: {})", names.join(", ")));
    }
    let raw = Tensor::from_slice(values).view([rows as i64, width as i64]);
    let (standard, known, input) = encoder.prepare(&raw);
    let rows_of = |which: &[usize]| Tensor::from_slice(&which.iter().map(|&row| row as i64).collect::<Vec<_>>());

    let vs = nn::VarStore::new(Device::Cpu);
    let directions = pca(&standard.index_select(0, &rows_of(fitting)), params.codes);
    let net = Autoencoder::new(&vs.root(), input.size()[1], &directions, params);
    let mut optimiser = nn::Adam::default().build(&vs, params.lr).map_err(|e| format!("tabular optimiser: {e}"))?;
    let mut shuffle = SplitMix(params.seed ^ 0x6570_6f63);
    let mut batch_order = fitting.to_vec();
    let mut loss = Vec::new();
    let masked_mse = |reconstruction: &Tensor, at: &Tensor| {
        let (values, known) = (standard.index_select(0, at), known.index_select(0, at));
        ((reconstruction - values) * &known).square().sum(Kind::Float) / known.sum(Kind::Float).clamp_min(1.0)
    };
    let (mut step, mut sum) = (0, 0.0);
    let stopping_at = rows_of(stopping);
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    let keep_if_best = |best: &mut Option<(f64, Vec<Tensor>)>| {
        if stopping.is_empty() {
            return;
        }
        let error = tch::no_grad(|| masked_mse(&net.reconstruct(&input.index_select(0, &stopping_at)), &stopping_at).double_value(&[]));
        if best.as_ref().is_none_or(|(lowest, _)| error < *lowest) {
            *best = Some((error, vs.trainable_variables().iter().map(Tensor::copy).collect()));
        }
    };
    keep_if_best(&mut best); // PCA's solution, where training starts
    'passes: while !fitting.is_empty() {
        shuffle.shuffle(&mut batch_order);
        for chunk in batch_order.chunks(BATCH) {
            if step == params.steps {
                break 'passes;
            }
            let at = rows_of(chunk);
            let step_loss = masked_mse(&net.reconstruct(&input.index_select(0, &at)), &at);
            optimiser.backward_step(&step_loss);
            sum += step_loss.double_value(&[]);
            step += 1;
            if step % LOSS_EVERY == 0 {
                loss.push(sum / f64::from(LOSS_EVERY));
                sum = 0.0;
                keep_if_best(&mut best);
            }
        }
    }

    let _no_grad = tch::no_grad_guard();
    if let Some((_, weights)) = best {
        for (mut variable, kept) in vs.trainable_variables().into_iter().zip(weights) {
            variable.copy_(&kept);
        }
    }
    let (held_out_mse, pca_mse, mean_mse) = if held_out.is_empty() {
        (None, None, None)
    } else {
        let test = rows_of(held_out);
        let values = standard.index_select(0, &test);
        let components = pca(&standard.index_select(0, &rows_of(training)), params.codes);
        let mse = |reconstruction: &Tensor| masked_mse(reconstruction, &test).double_value(&[]);
        (
            Some(mse(&net.reconstruct(&input.index_select(0, &test)))),
            Some(mse(&values.matmul(&components).matmul(&components.tr()))),
            Some(mse(&values.zeros_like())),
        )
    };
    let flat = |tensor: &Tensor| Vec::<f32>::try_from(tensor.contiguous().view([-1])).expect("float weights");
    encoder.weights_in = flat(&net.encoder_in.ws);
    encoder.bias_in = flat(net.encoder_in.bs.as_ref().expect("a bias"));
    encoder.weights_out = flat(&net.encoder_out.ws);
    encoder.bias_out = flat(net.encoder_out.bs.as_ref().expect("a bias"));
    encoder.weights_linear = flat(&net.encoder_linear.ws);
    let unscaled = encoder.encode(&raw);
    encoder.code_means = flat(&unscaled.mean_dim(0, false, Kind::Float));
    encoder.code_sds = flat(&unscaled.std_dim(0, false, false).clamp_min(1e-6));
    let codes = encoder.encode(&raw);
    let report = Report {
        features: encoder.kept.iter().map(|&column| names[column].clone()).collect(),
        dropped,
        rows,
        held_out_rows,
        codes: params.codes,
        loss,
        held_out_mse,
        pca_mse,
        mean_mse,
    };
    Ok((encoder, codes, report))
}

/// The top `k` principal directions `[columns, k]` of centred-enough `values` (standardised),
/// zero columns past the rank.
fn pca(values: &Tensor, k: i64) -> Tensor {
    let (_, _, v) = values.svd(true, true);
    let found = v.narrow(1, 0, k.min(v.size()[1]));
    let missing = k - found.size()[1];
    if missing == 0 {
        found
    } else {
        Tensor::cat(&[&found, &found.zeros_like().narrow(1, 0, 1).repeat([1, missing])], 1)
    }
}

/// Encoder `input → codes` and decoder `codes → columns`, each a linear map plus an MLP with
/// one tanh hidden layer. It starts as PCA: the linear maps hold the principal directions of the
/// fitting rows and the MLPs' output layers are zero, so training departs from PCA's solution.
struct Autoencoder {
    encoder_in: nn::Linear,
    encoder_out: nn::Linear,
    encoder_linear: nn::Linear,
    decoder_in: nn::Linear,
    decoder_out: nn::Linear,
    decoder_linear: nn::Linear,
}

impl Autoencoder {
    /// `directions`: `[columns, codes]`, the principal directions (zero columns past the rank).
    fn new(path: &nn::Path, input: i64, directions: &Tensor, params: &AutoencoderParams) -> Self {
        let columns = directions.size()[0];
        let no_bias = nn::LinearConfig { bias: false, ..Default::default() };
        let zero_out = nn::LinearConfig { ws_init: nn::Init::Const(0.0), bs_init: Some(nn::Init::Const(0.0)), bias: true };
        let net = Self {
            encoder_in: nn::linear(path / "encoder_in", input, params.hidden, Default::default()),
            encoder_out: nn::linear(path / "encoder_out", params.hidden, params.codes, zero_out),
            encoder_linear: nn::linear(path / "encoder_linear", input, params.codes, no_bias),
            decoder_in: nn::linear(path / "decoder_in", params.codes, params.hidden, Default::default()),
            decoder_out: nn::linear(path / "decoder_out", params.hidden, columns, zero_out),
            decoder_linear: nn::linear(path / "decoder_linear", params.codes, columns, no_bias),
        };
        tch::no_grad(|| {
            // Indicator inputs (after the columns) start with no say in the code.
            let mut encoder_linear = net.encoder_linear.ws.shallow_clone();
            let _ = encoder_linear.zero_();
            encoder_linear.narrow(1, 0, columns).copy_(&directions.tr());
            net.decoder_linear.ws.shallow_clone().copy_(directions);
        });
        net
    }

    fn encode(&self, input: &Tensor) -> Tensor {
        input.apply(&self.encoder_in).tanh().apply(&self.encoder_out) + input.apply(&self.encoder_linear)
    }

    fn reconstruct(&self, input: &Tensor) -> Tensor {
        let codes = self.encode(input);
        codes.apply(&self.decoder_in).tanh().apply(&self.decoder_out) + codes.apply(&self.decoder_linear)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(codes: i64) -> AutoencoderParams {
        AutoencoderParams { codes, hidden: 32, steps: 1500, lr: 1e-2, seed: 3 }
    }

    /// Rows on a curve: every column a different nonlinear function of one hidden number.
    fn curve(rows: usize) -> (Vec<String>, Vec<f32>) {
        let names = ["t", "square", "sine", "cosine"].map(String::from).to_vec();
        let mut draw = SplitMix(11);
        let values = (0..rows)
            .flat_map(|_| {
                let t = (draw.below(10_000) as f32 / 5_000.0) - 1.0;
                [t, t * t, (3.0 * t).sin(), (3.0 * t).cos()]
            })
            .collect();
        (names, values)
    }

    #[test]
    fn a_one_number_code_of_a_curve_reconstructs_held_out_rows_better_than_pca() {
        let (names, values) = curve(2000);
        let (encoder, codes, report) = crate::rng::seeded(0, || fit(&names, &values, 2000, &params(1))).unwrap();
        // The encoder alone (as kept in a snapshot) gives the same codes.
        let raw = Tensor::from_slice(&values).view([2000, 4]);
        assert!((encoder.encode(&raw) - &codes).abs().max().double_value(&[]) < 1e-5);
        assert_eq!(codes.size(), [2000, 1]);
        let (autoencoder, pca, mean) = (report.held_out_mse.unwrap(), report.pca_mse.unwrap(), report.mean_mse.unwrap());
        eprintln!("held-out MSE: autoencoder {autoencoder:.4}, PCA {pca:.4}, column means {mean:.4}");
        assert!((0.8..1.2).contains(&mean), "the column means score about 1: {mean}");
        assert!(pca > 0.3, "one linear direction cannot follow the curve: {pca}");
        assert!(autoencoder < 0.5 * pca, "autoencoder {autoencoder} vs PCA {pca}");
        assert!(report.loss.last().unwrap() < &report.loss[0]);
    }

    #[test]
    fn unknown_cells_are_masked_and_constant_columns_dropped() {
        let (mut names, values) = curve(300);
        names.push("constant".into());
        let mut table = Vec::new();
        for (row, chunk) in values.chunks(4).enumerate() {
            table.extend_from_slice(chunk);
            table.push(7.0);
            if row % 3 == 0 {
                let at = table.len() - 4;
                table[at] = f32::NAN; // "square" unknown in a third of the rows
            }
        }
        let (encoder, codes, report) = crate::rng::seeded(0, || fit(&names, &table, 300, &params(2))).unwrap();
        assert_eq!(report.dropped, ["constant"]);
        assert_eq!((encoder.kept.clone(), encoder.indicators.clone()), (vec![0, 1, 2, 3], vec![1]));
        assert_eq!(report.features.len(), 4);
        assert!(report.held_out_mse.unwrap().is_finite() && codes.isnan().any().int64_value(&[]) == 0);
        let nothing = vec![f32::NAN; 20];
        let err = fit(&["a".into(), "b".into()], &nothing, 10, &params(2)).unwrap_err();
        assert!(err.contains("no feature varies"), "{err}");
    }
}
