//! The `forecast.*` tasks: agora-forecast's models behind the forecasting protocol, and
//! `forecast.auto`, the ensemble chosen on held-out values of the training series.
//!
//! | task | model | params |
//! |---|---|---|
//! | `forecast.naive` | the last value | — |
//! | `forecast.snaive` | the value one season back | — |
//! | `forecast.naive2` | naive on seasonally adjusted data (M4's benchmark) | — |
//! | `forecast.ets` | exponential smoothing, error/trend/season chosen by AICc (damped trend included) | `window` |
//! | `forecast.theta` | dynamic optimised Theta | `window` |
//! | `forecast.croston` | Croston with the SBA correction, for intermittent demand | `alpha` |
//! | `forecast.tsb` | TSB, for intermittent demand that may stop | `alpha`, `beta` (both or neither: chosen by in-sample MSE) |
//! | `forecast.auto` | see below | `max_combined`, `intermittent_zero_share` |
//!
//! `window` fits on at most the last `window` values (default `max(4m, 208)`, 0 = all).
//!
//! `forecast.auto` sorts series into regular and intermittent ones (at least
//! `intermittent_zero_share`, default 0.3, of the values are zero). For each kind it holds out
//! the last `horizon` values of every training series long enough (with fewer than 24 series,
//! also windows ending 1, 2, ... steps earlier, for about 24 windows in all), forecasts them with every
//! candidate (ETS on two windows, dynamic optimised Theta, damped ETS, seasonal naive, naive, TSB,
//! Croston), and keeps the mean combination of up to `max_combined` (default 3) candidates with the
//! lowest OWA against Naive2 on those values. A kind without validation series keeps the default
//! (ETS + ETS + Theta for regular series, TSB for intermittent ones). The snapshot records the
//! choice and the validation table. Series of fewer than 3 values are forecast with the naive
//! method whatever the task.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use agora_forecast::metrics::owa;
use agora_forecast::models::{combine, Combine, Croston, Ets, Naive, Naive2, SeasonalNaive, Theta, Tsb};
use agora_forecast::{Forecast, Forecaster};
use agora_plugin_api::series::SeriesSet;
use serde::{Deserialize, Serialize};

use crate::params::{Params, Rule};
use crate::snapshot::{Reader, Writer};

/// The forecasting tasks.
pub(crate) const TASKS: [&str; 8] = [
    "forecast.naive",
    "forecast.snaive",
    "forecast.naive2",
    "forecast.ets",
    "forecast.theta",
    "forecast.croston",
    "forecast.tsb",
    "forecast.auto",
];

/// One base model with its settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
enum Member {
    Naive,
    SeasonalNaive,
    Naive2,
    Ets { window: usize },
    Theta { window: usize },
    Damped { window: usize },
    Croston { alpha: f64 },
    Tsb { smoothing: Option<(f64, f64)> },
}

impl Member {
    /// The forecaster for season length `m`.
    fn build(self, m: usize) -> Box<dyn Forecaster> {
        let window = |model_window: usize| if model_window == 0 { usize::MAX } else { model_window };
        match self {
            Member::Naive => Box::new(Naive),
            Member::SeasonalNaive => Box::new(SeasonalNaive::new(m)),
            Member::Naive2 => Box::new(Naive2::new(m)),
            Member::Ets { window: w } => Box::new(Ets::auto(m).with_window(window(w))),
            Member::Theta { window: w } => Box::new(Theta::dynamic_optimized(m).with_window(window(w))),
            Member::Damped { window: w } => Box::new(Ets::damped().with_window(window(w))),
            Member::Croston { alpha } => Box::new(Croston { alpha, sba: true }),
            Member::Tsb { smoothing } => Box::new(Tsb { alpha: smoothing }),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::Naive => write!(f, "naive"),
            Member::SeasonalNaive => write!(f, "snaive"),
            Member::Naive2 => write!(f, "naive2"),
            Member::Ets { window } => write!(f, "ets(w{window})"),
            Member::Theta { window } => write!(f, "theta(w{window})"),
            Member::Damped { window } => write!(f, "damped(w{window})"),
            Member::Croston { alpha } => write!(f, "croston(α{alpha})"),
            Member::Tsb { smoothing: Some((alpha, beta)) } => write!(f, "tsb(α{alpha},β{beta})"),
            Member::Tsb { smoothing: None } => write!(f, "tsb"),
        }
    }
}

/// One candidate's validation scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Candidate {
    /// The members, joined with ` + `.
    pub(crate) members: String,
    /// OWA against Naive2 on the held-out values.
    pub(crate) owa: f64,
}

/// What a fitted forecasting task is: everything `infer` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ForecastSpec {
    season_length: usize,
    /// The mean of these forecasts for regular series.
    regular: Vec<Member>,
    /// The mean of these for series with at least `intermittent_zero_share` zeros.
    intermittent: Vec<Member>,
    intermittent_zero_share: f64,
    /// `forecast.auto`'s validation: the best candidates per kind, best first (empty otherwise).
    validation: Vec<(String, Vec<Candidate>)>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Forecast { horizon: usize, series: Vec<Vec<f64>> },
    Describe,
}

const DEFAULT_ZERO_SHARE: f64 = 0.3;

/// `forecast.auto` scores candidates on at least this many hold-out windows when the series allow.
const VALIDATION_CASES: usize = 24;

impl ForecastSpec {
    /// Fits `task` on `data` (only `forecast.auto` looks at the values).
    pub(crate) fn fit(task: &str, data: &SeriesSet, params: &Params, progress: &mut dyn FnMut(u64, u64)) -> Result<Self, String> {
        let m = data.season_length as usize;
        let default_window = (4 * m).max(208);
        let window = || -> Result<usize, String> { Ok(params.count("window", default_window as u64, 0)? as usize) };
        let single = |member: Member| ForecastSpec {
            season_length: m,
            regular: vec![member],
            intermittent: vec![member],
            intermittent_zero_share: DEFAULT_ZERO_SHARE,
            validation: Vec::new(),
        };
        let spec = match task {
            "forecast.naive" | "forecast.snaive" | "forecast.naive2" => {
                params.only(task, &[])?;
                single(match task {
                    "forecast.naive" => Member::Naive,
                    "forecast.snaive" => Member::SeasonalNaive,
                    _ => Member::Naive2,
                })
            }
            "forecast.ets" | "forecast.theta" => {
                params.only(task, &["window"])?;
                let window = window()?;
                single(if task == "forecast.ets" { Member::Ets { window } } else { Member::Theta { window } })
            }
            "forecast.croston" => {
                params.only(task, &["alpha"])?;
                single(Member::Croston { alpha: params.number("alpha", 0.1, Rule::Fraction)? })
            }
            "forecast.tsb" => {
                params.only(task, &["alpha", "beta"])?;
                let smoothing = match (params.optional_number("alpha", Rule::Fraction)?, params.optional_number("beta", Rule::Fraction)?) {
                    (Some(alpha), Some(beta)) => Some((alpha, beta)),
                    (None, None) => None,
                    _ => return Err("forecast.tsb takes both `alpha` and `beta`, or neither".to_string()),
                };
                single(Member::Tsb { smoothing })
            }
            "forecast.auto" => {
                params.only(task, &["max_combined", "intermittent_zero_share"])?;
                let max_combined = params.count("max_combined", 3, 1)? as usize;
                let zero_share = params.number("intermittent_zero_share", DEFAULT_ZERO_SHARE, Rule::Fraction)?;
                choose(data, max_combined, zero_share, progress)
            }
            other => return Err(format!("unknown forecasting task `{other}`")),
        };
        progress(1, 1);
        Ok(spec)
    }

    /// Appends the spec to a snapshot.
    pub(crate) fn encode(&self, out: &mut Writer) {
        out.text(&serde_json::to_string(self).expect("a spec always serialises"));
    }

    /// Reads a spec written by [`ForecastSpec::encode`].
    pub(crate) fn decode(reader: &mut Reader) -> Result<Self, String> {
        serde_json::from_str(reader.text()?).map_err(|error| format!("corrupt snapshot: forecasting spec: {error}"))
    }

    /// Answers a `forecast` request (a JSON array of forecasts, one per series) or `describe`
    /// (this spec as JSON).
    pub(crate) fn answer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let (horizon, series) = match serde_json::from_slice(request).map_err(|error| format!("bad request: {error}"))? {
            Request::Forecast { horizon, series } => (horizon, series),
            Request::Describe => return Ok(serde_json::to_vec(self).expect("a spec always serialises")),
        };
        if horizon == 0 {
            return Err("horizon must be at least 1".to_string());
        }
        if let Some(index) = series.iter().position(Vec::is_empty) {
            return Err(format!("series {index} is empty"));
        }
        if let Some((index, _)) = series.iter().enumerate().find(|(_, values)| values.iter().any(|value| !value.is_finite())) {
            return Err(format!("series {index} has a value that is not finite"));
        }
        let forecasts = parallel_map(&series, |values| self.forecast(values, horizon))
            .into_iter()
            .enumerate()
            .map(|(index, result)| result.map_err(|error| format!("series {index}: {error}")))
            .collect::<Result<Vec<Forecast>, String>>()?;
        Ok(serde_json::to_vec(&forecasts).expect("forecasts always serialise"))
    }

    fn forecast(&self, values: &[f64], horizon: usize) -> Result<Forecast, String> {
        if values.len() < 3 {
            return Naive.forecast(values, horizon).map_err(|error| error.to_string());
        }
        let members = if zero_share(values) >= self.intermittent_zero_share { &self.intermittent } else { &self.regular };
        mean_of(members, self.season_length, values, horizon)
    }
}

/// The mean forecast of `members`, clamped at zero for non-negative data.
fn mean_of(members: &[Member], m: usize, values: &[f64], horizon: usize) -> Result<Forecast, String> {
    let forecasts = members
        .iter()
        .map(|member| member.build(m).forecast(values, horizon).map_err(|error| format!("{member}: {error}")))
        .collect::<Result<Vec<_>, String>>()?;
    if let [only] = forecasts.as_slice() {
        return Ok(only.clone().clamp_like(values));
    }
    let names: Vec<&str> = forecasts.iter().map(|forecast| forecast.model.as_str()).collect();
    let model = format!("mean[{}]", names.join(" + "));
    Ok(combine(&forecasts, Combine::Mean, model).map_err(|error| error.to_string())?.clamp_like(values))
}

fn zero_share(values: &[f64]) -> f64 {
    values.iter().filter(|&&value| value == 0.0).count() as f64 / values.len().max(1) as f64
}

/// The candidates `forecast.auto` validates, for season length `m`.
fn candidates(m: usize) -> Vec<Member> {
    let (w4, w5) = ((4 * m).max(208), (5 * m).max(260));
    vec![
        Member::Ets { window: w4 },
        Member::Ets { window: w5 },
        Member::Theta { window: w4 },
        Member::Damped { window: w4 },
        Member::SeasonalNaive,
        Member::Naive,
        Member::Tsb { smoothing: None },
        Member::Croston { alpha: 0.1 },
    ]
}

/// `forecast.auto`'s choice per kind of series.
fn choose(data: &SeriesSet, max_combined: usize, zero_share_at: f64, progress: &mut dyn FnMut(u64, u64)) -> ForecastSpec {
    let m = data.season_length as usize;
    let h = data.horizon as usize;
    let all = candidates(m);
    let defaults = (all[..3].to_vec(), vec![Member::Tsb { smoothing: None }]);
    // Validation cases: the training part must leave at least two values for the MASE scale.
    // With few series one hold-out window is a noisy judge, so each series then gives several,
    // ending one step earlier each time, for about VALIDATION_CASES cases in all.
    let long_enough: Vec<&[f64]> = data.iter().filter(|values| values.len() >= h + 3).collect();
    let origins = VALIDATION_CASES.div_ceil(long_enough.len().max(1)).clamp(1, h);
    let (mut regular, mut intermittent) = (Vec::new(), Vec::new());
    for values in long_enough {
        for back in (0..origins).filter(|back| values.len() >= h + 3 + back) {
            let (train, rest) = values[..values.len() - back].split_at(values.len() - back - h);
            let kind = if zero_share(train) >= zero_share_at { &mut intermittent } else { &mut regular };
            kind.push((train, rest));
        }
    }
    let total = (regular.len() + intermittent.len()) as u64 + 1;
    let mut done = 0;
    let mut validation = Vec::new();
    let mut pick = |name: &str, cases: &[(&[f64], &[f64])], default: Vec<Member>| -> Vec<Member> {
        if cases.is_empty() {
            return default;
        }
        let scores = parallel_map(cases, |&(train, held_out)| CaseScores::of(&all, m, train, held_out));
        done += cases.len() as u64;
        progress(done, total);
        let mut table: Vec<(Vec<usize>, f64)> =
            subsets(all.len(), max_combined).into_iter().map(|subset| (subset.clone(), combined_owa(&scores, &subset))).collect();
        table.sort_by(|a, b| a.1.total_cmp(&b.1));
        let describe = |subset: &[usize]| subset.iter().map(|&i| all[i].to_string()).collect::<Vec<_>>().join(" + ");
        validation.push((
            format!("{name} ({} hold-out windows)", cases.len()),
            table.iter().take(5).map(|(subset, owa)| Candidate { members: describe(subset), owa: *owa }).collect(),
        ));
        table[0].0.iter().map(|&i| all[i]).collect()
    };
    let regular = pick("regular", &regular, defaults.0);
    let intermittent = pick("intermittent", &intermittent, defaults.1);
    ForecastSpec { season_length: m, regular, intermittent, intermittent_zero_share: zero_share_at, validation }
}

/// Every candidate's held-out point forecast for one series, with Naive2's errors as the yardstick.
struct CaseScores {
    held_out: Vec<f64>,
    /// One point forecast per candidate (`None` where the candidate failed on this series).
    forecasts: Vec<Option<Vec<f64>>>,
    /// The in-sample mean absolute one-step change (MASE's scale with m = 1), 0 when flat.
    scale: f64,
    naive2_smape: f64,
    naive2_mae: f64,
}

impl CaseScores {
    fn of(all: &[Member], m: usize, train: &[f64], held_out: &[f64]) -> Self {
        let h = held_out.len();
        let point = |member: &Member| member.build(m).forecast(train, h).ok().map(|forecast| forecast.clamp_like(train).mean);
        let naive2 = point(&Member::Naive2).unwrap_or_else(|| vec![*train.last().unwrap(); h]);
        let scale = train.windows(2).map(|pair| (pair[1] - pair[0]).abs()).sum::<f64>() / (train.len() - 1) as f64;
        Self {
            forecasts: all.iter().map(point).collect(),
            scale,
            naive2_smape: smape(held_out, &naive2),
            naive2_mae: mae(held_out, &naive2),
            held_out: held_out.to_vec(),
        }
    }
}

/// OWA against Naive2, M4-style (ratios of the means), of the mean combination `subset`; series
/// where a member failed count with that member left out, and a flat training part (no MASE scale)
/// counts in the sMAPE term only.
fn combined_owa(cases: &[CaseScores], subset: &[usize]) -> f64 {
    let (mut smape_sum, mut smape_naive2, mut mase_sum, mut mase_naive2) = (0.0, 0.0, 0.0, 0.0);
    for case in cases {
        let members: Vec<&Vec<f64>> = subset.iter().filter_map(|&i| case.forecasts[i].as_ref()).collect();
        let point: Vec<f64> = if members.is_empty() {
            vec![f64::MAX; case.held_out.len()]
        } else {
            (0..case.held_out.len()).map(|step| members.iter().map(|f| f[step]).sum::<f64>() / members.len() as f64).collect()
        };
        smape_sum += smape(&case.held_out, &point);
        smape_naive2 += case.naive2_smape;
        if case.scale > 0.0 {
            mase_sum += mae(&case.held_out, &point) / case.scale;
            mase_naive2 += case.naive2_mae / case.scale;
        }
    }
    if mase_naive2 > 0.0 && smape_naive2 > 0.0 {
        owa(smape_sum, mase_sum, smape_naive2, mase_naive2)
    } else if smape_naive2 > 0.0 {
        smape_sum / smape_naive2
    } else {
        mase_sum + smape_sum
    }
}

/// sMAPE in percent; a step where both values are zero counts as 0.
fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let terms =
        actual.iter().zip(forecast).map(|(&a, &f)| if a == 0.0 && f == 0.0 { 0.0 } else { 2.0 * (a - f).abs() / (a.abs() + f.abs()) });
    100.0 * terms.sum::<f64>() / actual.len() as f64
}

fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    actual.iter().zip(forecast).map(|(a, f)| (a - f).abs()).sum::<f64>() / actual.len() as f64
}

/// Every set of 1..=`max` indices out of `0..n`, as sorted index lists.
fn subsets(n: usize, max: usize) -> Vec<Vec<usize>> {
    (1usize..1 << n)
        .filter(|mask| mask.count_ones() as usize <= max)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

/// `f` over `items` on all available cores, results in order. Threads take the next item as they
/// finish one, so a few long series do not leave a core idle.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { return mine };
                        mine.push((index, f(item)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("forecasting thread panicked")).collect()
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use agora_plugin_api::model::ModelPlugin;
    use agora_plugin_api::series::SeriesSet;
    use serde_json::{json, Value};

    use crate::ClassicModels;

    fn fit(task: &str, series: &[Vec<f64>], m: u32, h: u32, params: &str) -> Result<ClassicModels, String> {
        let snapshot = ClassicModels::fit(task, &SeriesSet::new(m, h, series).encode(), params.as_bytes(), &mut |_, _| {})?;
        ClassicModels::load(task, &snapshot)
    }

    fn forecast(model: &ClassicModels, series: &[Vec<f64>], h: usize) -> Result<Vec<Value>, String> {
        let response = model.infer(json!({"op": "forecast", "horizon": h, "series": series}).to_string().as_bytes())?;
        Ok(serde_json::from_slice(&response).unwrap())
    }

    fn mean(forecast: &Value) -> Vec<f64> {
        forecast["mean"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    }

    fn mae(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
    }

    /// A weekly-seasonal daily series with trend and a little deterministic noise.
    fn seasonal(days: usize, offset: usize) -> Vec<f64> {
        (0..days)
            .map(|t| 50.0 + 0.2 * t as f64 + [0.0, 5.0, 10.0, 8.0, 3.0, 25.0, 30.0][(t + offset) % 7] + ((t * 37 % 11) as f64 - 5.0) * 0.3)
            .collect()
    }

    /// Demand on roughly one day in four, of varying size.
    fn intermittent(days: usize) -> Vec<f64> {
        (0..days).map(|t| if (t * 7 + 3) % 4 == 0 { 2.0 + (t % 3) as f64 } else { 0.0 }).collect()
    }

    #[test]
    fn every_task_forecasts_with_nested_intervals_and_round_trips() {
        let series = vec![seasonal(120, 0), intermittent(90), vec![4.0, 6.0]];
        for task in super::TASKS {
            let model = fit(task, &series, 7, 14, "{}").unwrap_or_else(|error| panic!("{task}: {error}"));
            let forecasts = forecast(&model, &series, 14).unwrap();
            assert_eq!(forecasts.len(), 3, "{task}");
            for forecast in &forecasts {
                let band = |key: &str| forecast[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>();
                let (lo95, lo80, mid, hi80, hi95) = (band("lower95"), band("lower80"), mean(forecast), band("upper80"), band("upper95"));
                for step in 0..14 {
                    assert!(
                        lo95[step] <= lo80[step] && lo80[step] <= mid[step] && mid[step] <= hi80[step] && hi80[step] <= hi95[step],
                        "{task}"
                    );
                    assert!(lo95[step] >= 0.0, "{task}: sales forecasts stay non-negative");
                }
                assert!(forecast["model"].as_str().is_some_and(|name| !name.is_empty()), "{task}");
            }
            let other = if task == "forecast.ets" { "forecast.theta" } else { "forecast.ets" };
            let snapshot = ClassicModels::fit(task, &SeriesSet::new(7, 14, &series).encode(), b"{}", &mut |_, _| {}).unwrap();
            assert!(ClassicModels::load(other, &snapshot).err().unwrap().contains("snapshot is for task"), "{task}");
        }
    }

    #[test]
    fn seasonal_models_beat_naive_on_a_seasonal_series_and_tsb_on_intermittent_demand() {
        let history = seasonal(140, 0);
        let future = &seasonal(154, 0)[140..];
        let naive = fit("forecast.naive", &[], 7, 14, "").unwrap();
        let naive_error = mae(&mean(&forecast(&naive, std::slice::from_ref(&history), 14).unwrap()[0]), future);
        for task in ["forecast.snaive", "forecast.ets", "forecast.theta", "forecast.auto"] {
            let model = fit(task, &[history.clone(), seasonal(140, 3)], 7, 14, "").unwrap();
            let error = mae(&mean(&forecast(&model, std::slice::from_ref(&history), 14).unwrap()[0]), future);
            assert!(error < 0.5 * naive_error, "{task}: MAE {error} vs naive {naive_error}");
        }
        // Intermittent demand: the naive forecast repeats the last value (0 or a spike); TSB forecasts the rate.
        let demand = intermittent(200);
        let rate = demand.iter().sum::<f64>() / demand.len() as f64;
        let tsb = mean(&forecast(&fit("forecast.tsb", &[], 1, 7, "").unwrap(), std::slice::from_ref(&demand), 7).unwrap()[0]);
        assert!(tsb.iter().all(|&value| (value - rate).abs() < 0.5 * rate), "{tsb:?} vs rate {rate}");
    }

    #[test]
    fn auto_records_its_validated_choice_per_kind() {
        let series: Vec<Vec<f64>> = (0..6).map(|offset| seasonal(150, offset)).chain((0..3).map(|_| intermittent(150))).collect();
        let data = SeriesSet::new(7, 14, &series);
        let snapshot = ClassicModels::fit("forecast.auto", &data.encode(), b"{}", &mut |_, _| {}).unwrap();
        let model = ClassicModels::load("forecast.auto", &snapshot).unwrap();
        let spec: super::ForecastSpec = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
        assert_eq!(spec.validation.len(), 2, "{spec:?}");
        assert!(spec.validation[0].0.starts_with("regular (18 hold-out windows)"), "{spec:?}");
        assert!(spec.validation[1].0.starts_with("intermittent (9 hold-out windows)"), "{spec:?}");
        let best = &spec.validation[0].1[0];
        assert!(best.owa < 1.0, "the chosen combination beats Naive2 on held-out values: {best:?}");
        assert!(!spec.regular.contains(&super::Member::Naive), "{spec:?}");
    }

    #[test]
    fn bad_params_and_requests_are_refused_with_the_reason() {
        assert!(fit("forecast.ets", &[], 7, 14, r#"{"alpha": 1}"#).err().unwrap().contains("unknown param `alpha` for forecast.ets"));
        assert!(fit("forecast.tsb", &[], 7, 14, r#"{"alpha": 0.2}"#).err().unwrap().contains("both `alpha` and `beta`"));
        assert!(fit("forecast.tsb", &[], 7, 14, r#"{"alpha": 2, "beta": 0.1}"#)
            .err()
            .unwrap()
            .contains("`alpha` must be a number from 0 to 1"));
        let model = fit("forecast.naive", &[], 1, 3, "").unwrap();
        assert!(forecast(&model, &[vec![1.0], vec![]], 3).unwrap_err().contains("series 1 is empty"));
        assert!(forecast(&model, &[vec![1.0]], 0).unwrap_err().contains("horizon must be at least 1"));
        assert!(model.infer(br#"{"op":"scores","history":[]}"#).unwrap_err().contains("bad request"));
        assert!(ClassicModels::fit("forecast.ets", b"AGIX", b"", &mut |_, _| {}).unwrap_err().contains("bad magic"));
    }

    #[test]
    fn metric_helpers_match_hand_computed_values() {
        // 100/2 · (2·1/3 + 0) and |1-2| + |2-2| over 2
        assert!((super::smape(&[1.0, 2.0], &[2.0, 2.0]) - 100.0 / 3.0).abs() < 1e-12);
        assert_eq!(super::smape(&[0.0], &[0.0]), 0.0);
        assert_eq!(super::mae(&[1.0, 2.0], &[2.0, 2.0]), 0.5);
        assert_eq!(super::subsets(3, 2), vec![vec![0], vec![1], vec![0, 1], vec![2], vec![0, 2], vec![1, 2]]);
    }
}
