//! Leave-one-out tuning harness for the classic models on the S3-Rec benchmark files.
//!
//! ```text
//! cargo run --release -p agora-model-classic --example tune -- [options]
//!   --data DIR          folder with <NAME>.txt and <NAME>_item2attributes.json (default /work/shared/data/s3rec-amazon)
//!   --dataset NAME      Beauty (default), LastFM, Sports_and_Outdoors, ...
//!   --models a,b        tasks to evaluate alone (default: all six; `rec.` may be left out; `none` for none)
//!   --blend a,b         blend components, the first weighted 1 (default ease,transition,itemknn,attributes,als,popularity; `none`)
//!   --norm a,b          blend normalisations to try: max, zscore, none (default: all three)
//!   --set task=JSON     params for a task (default `{}`, the plugin's defaults)
//!   --sweep task=JSON   extra validation-only rows for one task with these params (repeatable)
//!   --no-test           stop after the validation split
//! ```
//!
//! Validation: every model is trained on s[:-2] of every user and predicts s[-2] from s[:-2];
//! test: trained on s[:-1], predicts s[-1] from s[:-1]. Every item is ranked, the user's input
//! history is masked, ties count half. Everything goes through the plugin's `ModelPlugin` API
//! (fit → snapshot → load → `scores`), so what is measured is what the plugin serves. Blend
//! weights are chosen by coordinate ascent on validation NDCG@10 and then applied, unchanged, to
//! models refitted for the test split.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use agora_core::eval::ranking::{rank_among_all, RankingMetrics};
use agora_model_classic::ClassicModels;
use agora_plugin_api::model::{decode_f32s, Interactions, ModelPlugin};

const TASKS: [&str; 6] = ["rec.popularity", "rec.itemknn", "rec.ease", "rec.als", "rec.transition", "rec.attributes"];
/// Candidate weights of one blend component during coordinate ascent.
const WEIGHT_GRID: [f32; 15] = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0];
const ASCENT_ROUNDS: usize = 2;
/// `scores` calls timed per model.
const LATENCY_CALLS: usize = 2000;

struct Options {
    data: PathBuf,
    dataset: String,
    models: Vec<String>,
    blend: Vec<String>,
    norms: Vec<Norm>,
    params: HashMap<String, String>,
    sweeps: Vec<(String, String)>,
    test: bool,
}

/// How each blend component's score vector is put on a common scale, per user, over the
/// unmasked items.
#[derive(Clone, Copy, Debug)]
enum Norm {
    /// Divided by its maximum (when positive).
    Max,
    /// Minus the mean, divided by the standard deviation.
    ZScore,
    /// Raw scores.
    Raw,
}

/// The benchmark data: item ids made dense (file id k → k − 1), likewise attributes.
struct Dataset {
    sequences: Vec<Vec<u32>>,
    n_items: u32,
    n_attributes: u32,
    item_attributes: Vec<Vec<u32>>,
}

/// One leave-one-out split: the training data (also every user's input history) and the targets.
struct Split {
    name: &'static str,
    data: Interactions,
    targets: Vec<u32>,
}

struct Fitted {
    label: String,
    model: ClassicModels,
    fit_seconds: f64,
    snapshot_mb: f64,
}

struct Row {
    label: String,
    metrics: RankingMetrics,
    fit_seconds: Option<f64>,
    snapshot_mb: Option<f64>,
    latency: Option<Latency>,
}

/// Wall time of the `scores` calls (request encoding, infer, response decoding).
struct Latency {
    median_us: f64,
    p99_us: f64,
}

fn main() {
    let options = parse_options();
    let dataset = load_dataset(&options);
    println!(
        "{}: {} users, {} items, {} interactions, {} attributes",
        options.dataset,
        dataset.sequences.len(),
        dataset.n_items,
        dataset.sequences.iter().map(Vec::len).sum::<usize>(),
        dataset.n_attributes
    );
    let mut splits = vec![split(&dataset, "validation", 2)];
    if options.test {
        splits.push(split(&dataset, "test", 1));
    }
    let mut chosen_blend: Option<(Norm, Vec<f32>)> = None;
    for split in &splits {
        println!("\n== {} ({} users) ==", split.name, split.targets.len());
        let mut rows = Vec::new();
        let mut fitted: HashMap<String, Fitted> = HashMap::new();
        for task in options.models.iter().chain(&options.blend) {
            if !fitted.contains_key(task) {
                let params = options.params.get(task).map_or("{}", String::as_str);
                fitted.insert(task.clone(), fit(task, params, &split.data));
            }
        }
        for task in &options.models {
            let model = &fitted[task];
            let (metrics, latency) = (evaluate(&model.model, split), latency(&model.model, split));
            rows.push(Row {
                label: model.label.clone(),
                metrics,
                fit_seconds: Some(model.fit_seconds),
                snapshot_mb: Some(model.snapshot_mb),
                latency: Some(latency),
            });
            print_row(rows.last().unwrap());
        }
        if split.name == "validation" {
            for (task, params) in &options.sweeps {
                let model = fit(task, params, &split.data);
                let (metrics, latency) = (evaluate(&model.model, split), latency(&model.model, split));
                rows.push(Row {
                    label: model.label,
                    metrics,
                    fit_seconds: Some(model.fit_seconds),
                    snapshot_mb: Some(model.snapshot_mb),
                    latency: Some(latency),
                });
                print_row(rows.last().unwrap());
            }
        }
        if !options.blend.is_empty() {
            let components: Vec<&ClassicModels> = options.blend.iter().map(|task| &fitted[task].model).collect();
            let names = options.blend.iter().map(|task| task.trim_start_matches("rec.")).collect::<Vec<_>>().join("+");
            match &chosen_blend {
                None => {
                    let mut best: Option<(f64, Norm, Vec<f32>)> = None;
                    for &norm in &options.norms {
                        let (weights, metrics) = ascend(&components, split, norm);
                        println!("blend {names} ({norm:?}): weights {weights:?}");
                        rows.push(Row {
                            label: format!("blend {names} {norm:?} {weights:?}"),
                            metrics: metrics.clone(),
                            fit_seconds: None,
                            snapshot_mb: None,
                            latency: None,
                        });
                        print_row(rows.last().unwrap());
                        if best.as_ref().is_none_or(|(top, ..)| metrics.ndcg(10) > *top) {
                            best = Some((metrics.ndcg(10), norm, weights));
                        }
                    }
                    chosen_blend = best.map(|(_, norm, weights)| (norm, weights));
                }
                Some((norm, weights)) => {
                    let metrics = evaluate_blend(&components, split, *norm, std::slice::from_ref(weights)).remove(0);
                    rows.push(Row {
                        label: format!("blend {names} {norm:?} {weights:?}"),
                        metrics,
                        fit_seconds: None,
                        snapshot_mb: None,
                        latency: None,
                    });
                }
            }
        }
        print_table(&options.dataset, split, &rows);
    }
}

fn parse_options() -> Options {
    let mut options = Options {
        data: PathBuf::from("/work/shared/data/s3rec-amazon"),
        dataset: "Beauty".to_string(),
        models: TASKS.iter().map(|task| task.to_string()).collect(),
        blend: ["ease", "transition", "itemknn", "attributes", "als", "popularity"].iter().map(|task| format!("rec.{task}")).collect(),
        norms: vec![Norm::Max, Norm::ZScore, Norm::Raw],
        params: HashMap::new(),
        sweeps: Vec::new(),
        test: true,
    };
    let tasks = |list: &str| -> Vec<String> {
        if list == "none" {
            return Vec::new();
        }
        list.split(',').map(|task| if task.starts_with("rec.") { task.to_string() } else { format!("rec.{task}") }).collect()
    };
    let task_params = |value: &str| -> (String, String) {
        let (task, params) = value.split_once('=').unwrap_or_else(|| panic!("expected task=JSON, got {value}"));
        (tasks(task).remove(0), params.to_string())
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => options.data = PathBuf::from(value()),
            "--dataset" => options.dataset = value(),
            "--models" => options.models = tasks(&value()),
            "--blend" => options.blend = tasks(&value()),
            "--norm" => {
                options.norms = value()
                    .split(',')
                    .map(|norm| match norm {
                        "max" => Norm::Max,
                        "zscore" => Norm::ZScore,
                        "none" => Norm::Raw,
                        other => panic!("unknown normalisation {other} (max, zscore, none)"),
                    })
                    .collect()
            }
            "--set" => {
                let (task, params) = task_params(&value());
                options.params.insert(task, params);
            }
            "--sweep" => options.sweeps.push(task_params(&value())),
            "--no-test" => options.test = false,
            other => panic!("unknown option {other}; see the doc at the top of examples/tune.rs"),
        }
    }
    options
}

fn load_dataset(options: &Options) -> Dataset {
    let path = options.data.join(format!("{}.txt", options.dataset));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let sequences: Vec<Vec<u32>> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split_whitespace().skip(1).map(|item| item.parse::<u32>().expect("item id") - 1).collect())
        .collect();
    let n_items = sequences.iter().flatten().max().map_or(0, |&max| max + 1);
    let path = options.data.join(format!("{}_item2attributes.json", options.dataset));
    let json: HashMap<String, Vec<u32>> = std::fs::read(&path)
        .map(|bytes| serde_json::from_slice(&bytes).expect("item2attributes JSON"))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut item_attributes = vec![Vec::new(); n_items as usize];
    let mut n_attributes = 0;
    for (item, attributes) in json {
        let item = item.parse::<u32>().expect("item id") - 1;
        if item < n_items {
            item_attributes[item as usize] = attributes.iter().map(|&attribute| attribute - 1).collect();
            n_attributes = n_attributes.max(attributes.iter().copied().max().unwrap_or(0));
        }
    }
    Dataset { sequences, n_items, n_attributes, item_attributes }
}

/// Training data = every sequence without its last `held_out` items; target = the first held-out item.
fn split(dataset: &Dataset, name: &'static str, held_out: usize) -> Split {
    let mut data =
        Interactions { n_items: dataset.n_items, n_attributes: dataset.n_attributes, seq_offsets: vec![0], ..Interactions::default() };
    let mut targets = Vec::new();
    for sequence in dataset.sequences.iter().filter(|sequence| sequence.len() > held_out) {
        let cut = sequence.len() - held_out;
        data.items.extend_from_slice(&sequence[..cut]);
        data.seq_offsets.push(data.items.len() as u64);
        targets.push(sequence[cut]);
    }
    data.timestamps = vec![0; data.items.len()];
    data.attr_offsets = vec![0];
    for attributes in &dataset.item_attributes {
        data.attributes.extend_from_slice(attributes);
        data.attr_offsets.push(data.attributes.len() as u64);
    }
    Split { name, data, targets }
}

fn fit(task: &str, params: &str, data: &Interactions) -> Fitted {
    let started = Instant::now();
    let snapshot =
        ClassicModels::fit(task, &data.encode(), params.as_bytes(), &mut |_, _| {}).unwrap_or_else(|error| panic!("{task}: {error}"));
    let fit_seconds = started.elapsed().as_secs_f64();
    let model = ClassicModels::load(task, &snapshot).unwrap_or_else(|error| panic!("{task}: {error}"));
    let label = if params == "{}" { task.to_string() } else { format!("{task} {params}") };
    Fitted { label, model, fit_seconds, snapshot_mb: snapshot.len() as f64 / 1e6 }
}

/// The model's `scores` answer for a history.
fn scores(model: &ClassicModels, history: &[u32]) -> Vec<f32> {
    let mut request = String::from(r#"{"op":"scores","history":["#);
    for (at, item) in history.iter().enumerate() {
        let _ = write!(request, "{}{item}", if at == 0 { "" } else { "," });
    }
    request.push_str("]}");
    decode_f32s(&model.infer(request.as_bytes()).expect("scores")).expect("f32 scores")
}

/// Runs `work(user, state)` for every user on all cores; returns each thread's state.
fn over_users<T: Send>(users: usize, init: impl Fn() -> T + Sync, work: impl Fn(usize, &mut T) + Sync) -> Vec<T> {
    let threads = thread::available_parallelism().map_or(1, |count| count.get());
    let results = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for first in 0..threads {
            let (init, work, results) = (&init, &work, &results);
            scope.spawn(move || {
                let mut state = init();
                (first..users).step_by(threads).for_each(|user| work(user, &mut state));
                results.lock().unwrap().push(state);
            });
        }
    });
    results.into_inner().unwrap()
}

fn mask(scores: &mut [f32], history: &[u32]) {
    history.iter().for_each(|&item| scores[item as usize] = f32::NEG_INFINITY);
}

fn evaluate(model: &ClassicModels, split: &Split) -> RankingMetrics {
    let parts = over_users(split.targets.len(), RankingMetrics::default, |user, metrics| {
        let history = split.data.sequence(user);
        let mut scores = scores(model, history);
        mask(&mut scores, history);
        metrics.add(rank_among_all(&scores, split.targets[user] as usize));
    });
    let mut metrics = RankingMetrics::default();
    parts.iter().for_each(|part| metrics.merge(part));
    metrics
}

/// Times [`LATENCY_CALLS`] `scores` calls one after another on one thread (the histories of
/// the first users).
fn latency(model: &ClassicModels, split: &Split) -> Latency {
    let mut micros: Vec<f64> = (0..LATENCY_CALLS.min(split.targets.len()))
        .map(|user| {
            let started = Instant::now();
            std::hint::black_box(scores(model, split.data.sequence(user)));
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    Latency { median_us: micros[micros.len() / 2], p99_us: micros[micros.len() * 99 / 100] }
}

/// Puts one masked score vector on the blend scale, over its unmasked entries.
fn normalise(scores: &mut [f32], norm: Norm) {
    let open = || scores.iter().copied().filter(|score| score.is_finite());
    match norm {
        Norm::Raw => {}
        Norm::Max => {
            let max = open().fold(f32::NEG_INFINITY, f32::max);
            if max > 0.0 {
                scores.iter_mut().for_each(|score| *score /= max);
            }
        }
        Norm::ZScore => {
            let count = open().count().max(1) as f64;
            let mean = open().map(f64::from).sum::<f64>() / count;
            let deviation = (open().map(|score| (score as f64 - mean).powi(2)).sum::<f64>() / count).sqrt();
            let scale = if deviation > 0.0 { 1.0 / deviation } else { 0.0 };
            scores.iter_mut().for_each(|score| *score = ((*score as f64 - mean) * scale) as f32);
        }
    }
}

/// Metrics of each candidate weight vector (one weight per component) on a split.
fn evaluate_blend(components: &[&ClassicModels], split: &Split, norm: Norm, candidates: &[Vec<f32>]) -> Vec<RankingMetrics> {
    let used: Vec<usize> = (0..components.len()).filter(|&c| candidates.iter().any(|weights| weights[c] != 0.0)).collect();
    let parts = over_users(
        split.targets.len(),
        || vec![RankingMetrics::default(); candidates.len()],
        |user, metrics| {
            let history = split.data.sequence(user);
            let vectors: Vec<(usize, Vec<f32>)> = used
                .iter()
                .map(|&c| {
                    let mut scores = scores(components[c], history);
                    mask(&mut scores, history);
                    normalise(&mut scores, norm);
                    (c, scores)
                })
                .collect();
            let mut blended = vec![0f32; split.data.n_items as usize];
            for (weights, metrics) in candidates.iter().zip(metrics.iter_mut()) {
                blended.fill(0.0);
                for (c, vector) in &vectors {
                    if weights[*c] != 0.0 {
                        blended.iter_mut().zip(vector).for_each(|(total, score)| *total += weights[*c] * score);
                    }
                }
                mask(&mut blended, history);
                metrics.add(rank_among_all(&blended, split.targets[user] as usize));
            }
        },
    );
    let mut totals = vec![RankingMetrics::default(); candidates.len()];
    for part in parts {
        totals.iter_mut().zip(&part).for_each(|(total, part)| total.merge(part));
    }
    totals
}

/// Coordinate ascent on NDCG@10: the first component keeps weight 1, each other one in turn
/// takes the best weight of [`WEIGHT_GRID`] with the rest fixed.
fn ascend(components: &[&ClassicModels], split: &Split, norm: Norm) -> (Vec<f32>, RankingMetrics) {
    let mut weights = vec![0.0; components.len()];
    weights[0] = 1.0;
    let mut best = evaluate_blend(components, split, norm, std::slice::from_ref(&weights)).remove(0);
    for _ in 0..ASCENT_ROUNDS {
        for c in 1..components.len() {
            let candidates = vary(&weights, c);
            let results = evaluate_blend(components, split, norm, &candidates);
            for (candidate, metrics) in candidates.into_iter().zip(results) {
                if metrics.ndcg(10) > best.ndcg(10) {
                    (weights, best) = (candidate, metrics);
                }
            }
        }
    }
    (weights, best)
}

/// `weights` with `component` set to each value of [`WEIGHT_GRID`] in turn.
fn vary(weights: &[f32], component: usize) -> Vec<Vec<f32>> {
    WEIGHT_GRID
        .iter()
        .map(|&weight| {
            let mut candidate = weights.to_vec();
            candidate[component] = weight;
            candidate
        })
        .collect()
}

fn print_row(row: &Row) {
    let summary = row.metrics.summary();
    println!("  {:<60} HR@10 {:.4} NDCG@10 {:.4}", row.label, summary.hr10, summary.ndcg10);
}

fn print_table(dataset: &str, split: &Split, rows: &[Row]) {
    println!("\n{dataset} {} ({} users, full ranking, history masked)", split.name, split.targets.len());
    println!("| model | HR@5 | HR@10 | HR@20 | NDCG@5 | NDCG@10 | NDCG@20 | MRR | fit s | snapshot MB | scores µs median / p99 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let s = row.metrics.summary();
        let optional = |value: Option<f64>, digits: usize| value.map_or("".to_string(), |value| format!("{value:.digits$}"));
        let latency = row.latency.as_ref().map_or(String::new(), |latency| format!("{:.0} / {:.0}", latency.median_us, latency.p99_us));
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} |",
            row.label,
            s.hr5,
            s.hr10,
            s.hr20,
            s.ndcg5,
            s.ndcg10,
            s.ndcg20,
            s.mrr,
            optional(row.fit_seconds, 1),
            optional(row.snapshot_mb, 1),
            latency
        );
    }
}
