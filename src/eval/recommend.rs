//! `agora eval recommend`: the S3-Rec benchmark files ingested through the `lists` source plugin,
//! every recommender component and the validation-chosen blend evaluated leave-one-out.

use std::path::Path;
use std::time::Instant;

use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_recommend::evaluate::{evaluate, Protocol};
use agora_recommend::split::{Holdout, Split};
use agora_recommend::train::{choose_weights, fit_split};
use agora_recommend::{Dataset, ModelPlugins};
use anyhow::{bail, Context};
use serde_json::json;

use super::{ingest, plugin_dirs, record_run};

/// A data set of the S3-Rec repository: its file stem and the published rows to print beside ours.
pub(crate) struct Benchmark {
    pub(crate) stem: &'static str,
    /// (model, protocol, [HR@5, NDCG@5, HR@10, NDCG@10, HR@20, NDCG@20, MRR]); NaN where not published.
    published: &'static [(&'static str, &'static str, [f64; 7])],
}

const N: f64 = f64::NAN;

impl Benchmark {
    /// The published full-ranking NDCG@10 of `model`, when there is one.
    pub(crate) fn published_ndcg10(&self, model: &str) -> Option<f64> {
        self.published.iter().find(|(name, protocol, _)| *name == model && *protocol == "full").map(|(_, _, values)| values[3])
    }
}

/// Published results from ../shared/data/s3rec-amazon/SOURCE.md (S3-Rec Table 2 and the
/// authors' full-ranking table; ICLRec's README).
pub(crate) fn benchmark(name: &str) -> Option<Benchmark> {
    Some(match name.to_ascii_lowercase().as_str() {
        "beauty" => Benchmark {
            stem: "Beauty",
            published: &[
                ("PopRec", "full", [0.0080, 0.0044, 0.0152, 0.0068, 0.0217, 0.0084, N]),
                ("SASRec", "full", [0.0387, 0.0249, 0.0605, 0.0318, 0.0902, 0.0394, N]),
                ("S3-Rec", "full", [0.0387, 0.0244, 0.0647, 0.0327, 0.0994, 0.0414, N]),
                ("ICLRec", "full", [0.0500, 0.0326, 0.0744, 0.0403, 0.1058, 0.0483, N]),
                ("PopRec", "sampled99", [0.2105, 0.1391, 0.3386, 0.1803, N, N, 0.1558]),
                ("SASRec", "sampled99", [0.3741, 0.2848, 0.4696, 0.3156, N, N, 0.2852]),
                ("S3-Rec", "sampled99", [0.4502, 0.3407, 0.5506, 0.3732, N, N, 0.3340]),
            ],
        },
        "sports" => Benchmark {
            stem: "Sports_and_Outdoors",
            published: &[
                ("PopRec", "full", [N, N, 0.0094, 0.0053, N, N, N]),
                ("SASRec", "full", [N, N, 0.0350, 0.0192, N, N, N]),
                ("S3-Rec", "full", [N, N, 0.0385, 0.0204, N, N, N]),
                ("ICLRec", "full", [0.0290, 0.0191, 0.0437, 0.0238, 0.0646, 0.0291, N]),
                ("PopRec", "sampled99", [N, N, 0.3423, 0.1902, N, N, N]),
                ("SASRec", "sampled99", [N, N, 0.4622, 0.2869, N, N, N]),
                ("S3-Rec", "sampled99", [N, N, 0.5614, 0.3538, N, N, N]),
            ],
        },
        "lastfm" => Benchmark {
            stem: "LastFM",
            published: &[
                ("PopRec", "full", [N, N, 0.0440, 0.0203, N, N, N]),
                ("SASRec", "full", [N, N, 0.0688, 0.0390, N, N, N]),
                ("S3-Rec", "full", [N, N, 0.0743, 0.0427, N, N, N]),
                ("PopRec", "sampled99", [N, N, 0.3037, 0.1687, N, N, N]),
                ("SASRec", "sampled99", [N, N, 0.4706, 0.2755, N, N, N]),
                ("S3-Rec", "sampled99", [N, N, 0.5835, 0.3583, N, N, N]),
            ],
        },
        _ => return None,
    })
}

/// Seed of the sampled negatives.
const NEGATIVES_SEED: u64 = 12345;

/// Runs the evaluation under each of `protocols` (comma-separated): the components are fitted
/// once per split, and the blend weights are chosen on validation under each protocol in turn.
pub fn run(data_dir: &Path, dataset: &str, model: &str, protocols: &str, json: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    let Some(bench) = benchmark(dataset) else {
        bail!("unknown dataset {dataset:?} for `eval recommend`; valid: beauty, sports, lastfm");
    };
    let mut chosen_protocols = Vec::new();
    for name in protocols.split(',').map(str::trim) {
        let protocol = match name {
            "full" => Protocol::Full,
            "sampled99" => Protocol::Sampled { negatives: 99, seed: NEGATIVES_SEED },
            other => bail!("unknown protocol {other:?}; valid: full, sampled99 (or both, comma-separated)"),
        };
        if !chosen_protocols.contains(&protocol) {
            chosen_protocols.push(protocol);
        }
    }
    let recommend = &config.recommend;
    let models: Vec<String> = match model {
        "all" => recommend.components.iter().cloned().chain(["blend".to_string()]).collect(),
        "blend" => vec!["blend".into()],
        one if recommend.components.iter().any(|name| name == one) => vec![one.to_string()],
        other => bail!("unknown model {other:?}; valid: all, blend, {}", recommend.components.join(", ")),
    };
    let started = Instant::now();
    let (data, ingest_config) = ingest_s3rec(&bench, data_dir, config)?;
    let ingest_seconds = started.elapsed().as_secs_f64();

    let host = PluginHost::new(ingest_config.plugins.dirs.clone());
    let plugins = ModelPlugins::open(&host, recommend)?;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut last_done = String::new();
    let mut progress = |stage: &str, done: u64, total: u64| {
        if done == total && stage != last_done {
            eprintln!("  {stage}: done");
            last_done = stage.to_string();
        }
    };

    eprintln!("validation split: fitting {} to choose blend weights", recommend.components.join(", "));
    let validation = Split::new(&data, Holdout::Validation);
    let (validation_model, _) = fit_split(&plugins, recommend, &data, &validation, &mut progress)?;
    let mut chosen = Vec::with_capacity(chosen_protocols.len());
    for &protocol in &chosen_protocols {
        let weights = choose_weights(&validation_model, &data, &validation, recommend, protocol)?;
        let weight_list: Vec<String> =
            recommend.components.iter().zip(&weights.weights).map(|(name, weight)| format!("{name}={weight}")).collect();
        eprintln!("blend weights ({} NDCG@10 on {} validation users): {}", protocol.name(), weights.blend.users, weight_list.join(", "));
        chosen.push(weights);
    }
    drop(validation_model);

    eprintln!("test split: fitting on each user's history but the last item");
    let test = Split::new(&data, Holdout::Test);
    let (test_model, fit_seconds) = fit_split(&plugins, recommend, &data, &test, &mut progress)?;
    let described = test_model.descriptions();
    for (&protocol, chosen) in chosen_protocols.iter().zip(&chosen) {
        let mut rows = Vec::new();
        for name in &models {
            let weights: Vec<f32> = if name == "blend" {
                chosen.weights.clone()
            } else {
                recommend.components.iter().map(|component| if component == name { 1.0 } else { 0.0 }).collect()
            };
            let started = Instant::now();
            let metrics = evaluate(&test_model, &data, &test.cases, &weights, protocol, threads).context("evaluating")?;
            rows.push(json!({
                "model": name,
                "metrics": metrics.summary(),
                "fit_seconds": fit_seconds.get(name).copied().or_else(|| (name == "blend").then(|| fit_seconds.values().sum())),
                "eval_seconds": started.elapsed().as_secs_f64(),
            }));
        }
        let published: Vec<serde_json::Value> = bench
            .published
            .iter()
            .filter(|(_, on, _)| *on == protocol.name())
            .map(|(name, _, values)| {
                let value = |at: usize| if values[at].is_nan() { serde_json::Value::Null } else { json!(values[at]) };
                json!({"model": name, "hr5": value(0), "ndcg5": value(1), "hr10": value(2), "ndcg10": value(3), "hr20": value(4), "ndcg20": value(5), "mrr": value(6)})
            })
            .collect();
        let results = json!({
            "dataset": bench.stem,
            "protocol": protocol.name(),
            "data": data.version,
            "test_users": test.cases.len(),
            "ingest_seconds": ingest_seconds,
            "weights": recommend.components.iter().cloned().zip(chosen.weights.iter().copied()).collect::<std::collections::BTreeMap<_, _>>(),
            "validation_blend": chosen.blend.summary(),
            "rows": rows,
            "published": published,
            "described": described,
        });
        let run_config = json!({"recommend": recommend, "sources": ingest_config.sources}).to_string();
        record_run(config, "recommend", bench.stem, &run_config, &results);
        if json {
            println!("{results}");
        } else {
            print_table(&results);
            println!();
        }
    }
    Ok(())
}

/// Ingests an S3-Rec data set into a scratch store through the `lists` plugin and reads it back
/// as the recommendation dataset; returns it with the ingestion config (plugin dirs included).
pub(crate) fn ingest_s3rec(bench: &Benchmark, data_dir: &Path, config: &AgoraConfig) -> anyhow::Result<(Dataset, AgoraConfig)> {
    let work = tempfile::Builder::new().prefix("agora-s3rec").tempdir()?;
    ingest_s3rec_into(bench, data_dir, &work.path().join("store.sled"), config)
}

/// As [`ingest_s3rec`], into a store at `store` that outlives the call.
pub(crate) fn ingest_s3rec_into(
    bench: &Benchmark,
    data_dir: &Path,
    store: &Path,
    config: &AgoraConfig,
) -> anyhow::Result<(Dataset, AgoraConfig)> {
    let sequences = data_dir.join(format!("{}.txt", bench.stem));
    let attributes = data_dir.join(format!("{}_item2attributes.json", bench.stem));
    for file in [&sequences, &attributes] {
        if !file.exists() {
            bail!("{} is missing: --data must be the S3-Rec directory (../shared/data/s3rec-amazon)", file.display());
        }
    }
    let ingest_config = ingest_config(&sequences, &attributes, store, config)?;
    let started = Instant::now();
    let store = ingest(ingest_config.clone(), bench.stem)?;
    let data = Dataset::from_store(store.as_ref(), &config.recommend)?;
    eprintln!("ingested {} through the lists plugin in {:.1} s: {}", bench.stem, started.elapsed().as_secs_f64(), data.version);
    Ok((data, ingest_config))
}

/// Sequences as reviews (their order kept in `seq`), attribute lists as item categories.
fn ingest_config(sequences: &Path, attributes: &Path, store: &Path, base: &AgoraConfig) -> anyhow::Result<AgoraConfig> {
    let text = format!(
        r#"
        [store]
        path = {store:?}
        keep_raw = false
        [plugins]
        dirs = {dirs:?}
        [ingest]
        batch_size = 16384
        # One line per user: `user item item ...`, oldest first; each item is one review.
        [sources.interactions]
        plugin = "lists"
        record = "review"
        params = {{ path = {sequences:?}, key_field = "user", value_field = "item", position_field = "position" }}
        dedup_key = ["user_id", "seq"]
        [sources.interactions.fields]
        user_id = "user"
        item_id = "item"
        seq = "position"
        # One JSON object: item id -> attribute ids (categories and brand, anonymised).
        [sources.attributes]
        plugin = "lists"
        record = "item"
        params = {{ path = {attributes:?}, layout = "json_object", key_field = "item", value_field = "attributes" }}
        dedup_key = ["item_id"]
        [sources.attributes.fields]
        item_id = "item"
        categories = "attributes"
        "#,
        store = store.display().to_string(),
        dirs = plugin_dirs(base).iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>(),
        sequences = sequences.display().to_string(),
        attributes = attributes.display().to_string(),
    );
    let mut config = AgoraConfig::from_toml_str(&text)?;
    config.recommend = base.recommend.clone();
    Ok(config)
}

fn print_table(results: &serde_json::Value) {
    let cell = |value: &serde_json::Value| value.as_f64().map_or("-".to_string(), |number| format!("{number:.4}"));
    println!(
        "{} ({}), leave-one-out, {} protocol, {} test users; history masked, ties counted half",
        results["dataset"].as_str().unwrap_or(""),
        results["data"].as_str().unwrap_or(""),
        results["protocol"].as_str().unwrap_or(""),
        results["test_users"]
    );
    println!("blend weights chosen on validation: {}\n", results["weights"]);
    println!("| model | HR@5 | NDCG@5 | HR@10 | NDCG@10 | HR@20 | NDCG@20 | MRR | fit s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let metrics = |values: &serde_json::Value| -> String {
        ["hr5", "ndcg5", "hr10", "ndcg10", "hr20", "ndcg20", "mrr"].iter().map(|name| cell(&values[*name])).collect::<Vec<_>>().join(" | ")
    };
    for row in results["rows"].as_array().into_iter().flatten() {
        let fit = row["fit_seconds"].as_f64().map_or("-".to_string(), |seconds| format!("{seconds:.1}"));
        println!("| agora {} | {} | {fit} |", row["model"].as_str().unwrap_or(""), metrics(&row["metrics"]));
    }
    for row in results["published"].as_array().into_iter().flatten() {
        println!("| published {} | {} | |", row["model"].as_str().unwrap_or(""), metrics(row));
    }
    for (name, description) in results["described"].as_object().into_iter().flatten() {
        for line in crate::train::tabular_lines(description) {
            println!("\n{name}: {line}");
        }
    }
}
