//! `agora eval er`: entity matching on the ER-Magellan product benchmarks in the Ditto
//! serialisation (Abt-Buy, Amazon-Google): the pure-Rust matchers (logistic regression and
//! gradient-boosted trees over the pairwise features) are trained on `train`, their threshold is
//! chosen on `valid` (and the reported one by validation F1), and precision, recall and F1 of the
//! match class on `test` are printed beside the published Magellan, DeepMatcher and Ditto F1 from
//! the data set's SOURCE.md. With `--torch` the torch plugin's `match.mlp` (an MLP over the same
//! features and both records' MiniLM text vectors) joins them, trained through the plugin ABI.

use std::path::{Path, PathBuf};
use std::time::Instant;

use agora_agents::resolution::{PluginMatcher, TORCH_MATCH_TASK};
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_qa::embed::minilm_dir;
use agora_resolve::ditto::{self, LabelledPair};
use agora_resolve::features::FEATURE_COUNT;
use agora_resolve::gbt::GbtOptions;
use agora_resolve::logistic::LogisticOptions;
use agora_resolve::matcher::{Matcher, MatcherOptions, Scores};
use agora_resolve::pipeline::PairScorer;
use agora_resolve::pipeline::{feature_rows, TrainedMatcher, Vectors};
use agora_resolve::record::TRIGRAM_EMBEDDING_DIMS;
use agora_resolve::Entity;
use anyhow::{bail, Context};
use serde_json::json;

use super::{plugin_dirs, record_run};

/// A benchmark: its directory under er-products, its two sources, and the published test F1 (%)
/// of Magellan, DeepMatcher (best) and Ditto from ../shared/data/er-products/SOURCE.md.
struct Benchmark {
    dir: &'static str,
    left: &'static str,
    right: &'static str,
    published: [(&'static str, f64); 3],
}

fn benchmark(dataset: &str) -> anyhow::Result<Benchmark> {
    Ok(match dataset {
        "abt-buy" => Benchmark {
            dir: "Textual/Abt-Buy",
            left: "abt",
            right: "buy",
            published: [("Magellan", 43.6), ("DeepMatcher (best)", 62.8), ("Ditto", 89.33)],
        },
        "amazon-google" => Benchmark {
            dir: "Structured/Amazon-Google",
            left: "amazon",
            right: "google",
            published: [("Magellan", 49.1), ("DeepMatcher (best)", 69.3), ("Ditto", 75.58)],
        },
        other => bail!("unknown dataset {other:?} for `eval er`; valid: abt-buy, amazon-google"),
    })
}

/// `dir` itself when it holds the split files, else its benchmark subdirectory.
fn split_dir(data: &Path, benchmark: &Benchmark) -> PathBuf {
    if data.join("train.txt").exists() {
        data.to_path_buf()
    } else {
        data.join(benchmark.dir)
    }
}

/// Runs the evaluation and records it in the configured store.
///
/// # Errors
/// Unknown data set, unreadable or malformed pair files, or training data of one class.
pub fn run(data: &Path, dataset: &str, torch_params: Option<&str>, json_out: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    let benchmark = benchmark(dataset)?;
    let dir = split_dir(data, &benchmark);
    let read = |split: &str| -> anyhow::Result<Vec<LabelledPair>> {
        let path = dir.join(format!("{split}.txt"));
        ditto::read(&path, benchmark.left, benchmark.right)
            .with_context(|| format!("reading {} (--data must be er-products or its {} directory)", path.display(), benchmark.dir))
    };
    let (train, valid, test) = (read("train")?, read("valid")?, read("test")?);

    let started = Instant::now();
    let extractor = TrainedMatcher::extractor(&train);
    // The embedding-cosine feature compares hashed-trigram vectors of title, brand and model number.
    let vectors: Vectors = [&train, &valid, &test]
        .iter()
        .flat_map(|pairs| pairs.iter().flat_map(|pair| [&pair.left, &pair.right]))
        .map(|entity| (entity.key(), entity.trigram_embedding()))
        .collect();
    let (train_rows, train_labels) = feature_rows(&extractor, &train, Some(&vectors));
    let (valid_rows, valid_labels) = feature_rows(&extractor, &valid, Some(&vectors));
    let (test_rows, test_labels) = feature_rows(&extractor, &test, Some(&vectors));
    let feature_seconds = started.elapsed().as_secs_f64();

    let mut models = Vec::new();
    for (name, options) in [
        ("logistic regression", MatcherOptions::Logistic(LogisticOptions::default())),
        ("gradient-boosted trees", MatcherOptions::Gbt(GbtOptions::default())),
    ] {
        let started = Instant::now();
        let matcher = Matcher::train(&options, (&train_rows, &train_labels), (&valid_rows, &valid_labels))?;
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_scores = matcher.evaluate(&valid_rows, &valid_labels);
        let scores = matcher.evaluate(&test_rows, &test_labels);
        models.push(model_row(name, json!(options), matcher.threshold, &valid_scores, &scores, train_seconds));
    }
    if let Some(params) = torch_params {
        let started = Instant::now();
        let (described, threshold, valid_scores, scores) =
            torch_matcher(config, params, [(&train, &train_rows), (&valid, &valid_rows), (&test, &test_rows)])?;
        let seconds = started.elapsed().as_secs_f64();
        let mut row =
            model_row("MLP on features + MiniLM (torch)", described["params"].clone(), threshold, &valid_scores, &scores, seconds);
        row["training_loss"] = described["training_loss"].clone();
        models.push(row);
    }
    // The reported matcher is the one with the better validation F1: test decides nothing.
    let selected = models
        .iter()
        .max_by(|a, b| a["valid_f1"].as_f64().unwrap_or(f64::NAN).total_cmp(&b["valid_f1"].as_f64().unwrap_or(f64::NAN)))
        .map(|model| model["model"].clone());
    let count = |pairs: &[LabelledPair]| json!({ "pairs": pairs.len(), "matches": pairs.iter().filter(|p| p.label).count() });
    let results = json!({
        "dataset": dataset,
        "protocol": "train on train, threshold for best F1 on valid, precision/recall/F1 (%) of the match class on test",
        "splits": { "train": count(&train), "valid": count(&valid), "test": count(&test) },
        "features": FEATURE_COUNT,
        "embedding": format!("hashed character trigrams of title, brand and model number ({TRIGRAM_EMBEDDING_DIMS} dimensions)"),
        "feature_seconds": feature_seconds,
        "models": models,
        "selected_on_valid": selected,
        "published": benchmark.published.iter().map(|(name, f1)| json!({ "model": name, "f1": f1 })).collect::<Vec<_>>(),
    });
    record_run(config, "er", dataset, &json!({ "data": dir }).to_string(), &results);
    if json_out {
        println!("{results}");
    } else {
        print_table(&results);
    }
    Ok(())
}

/// One matcher's row of the results: its settings, threshold, test scores (%) and validation F1.
fn model_row(
    name: &str,
    options: serde_json::Value,
    threshold: f64,
    valid: &Scores,
    test: &Scores,
    train_seconds: f64,
) -> serde_json::Value {
    json!({
        "model": name,
        "options": options,
        "threshold": threshold,
        "precision": 100.0 * test.precision,
        "recall": 100.0 * test.recall,
        "f1": 100.0 * test.f1,
        "valid_f1": 100.0 * valid.f1,
        "true_positives": test.true_positives,
        "false_positives": test.false_positives,
        "false_negatives": test.false_negatives,
        "train_seconds": train_seconds,
    })
}

/// Trains the torch plugin's `match.mlp` on the train split (through the plugin ABI, threshold on
/// valid) and scores test: (its description, the threshold, valid and test scores).
fn torch_matcher(
    config: &AgoraConfig,
    params: &str,
    [train, valid, test]: [(&[LabelledPair], &[Vec<f64>]); 3],
) -> anyhow::Result<(serde_json::Value, f64, Scores, Scores)> {
    let mut params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params).context("--params must be a JSON object of match.mlp params")?;
    let model_dir =
        minilm_dir(&config.qa.minilm_dir).context("no all-MiniLM-L6-v2 folder: set qa.minilm_dir or run scripts/setup-torch.sh")?;
    params.insert("model_dir".into(), json!(model_dir));
    let host = PluginHost::new(plugin_dirs(config));
    let plugin = host.model("torch").context("--torch needs the torch plugin (scripts/setup-torch.sh)")?;
    eprintln!("training match.mlp on {} pairs (MiniLM vectors of every text first) ...", train.0.len());
    let (matcher, valid_scores) = PluginMatcher::fit(&plugin, TORCH_MATCH_TASK, &serde_json::Value::Object(params), train, valid)?;
    let rows: Vec<(&Entity, &Entity, Vec<f64>)> =
        test.0.iter().zip(test.1).map(|(pair, row)| (&pair.left, &pair.right, row.clone())).collect();
    let scores = matcher.score_pairs(&rows).map_err(anyhow::Error::msg)?;
    let labels: Vec<bool> = test.0.iter().map(|pair| pair.label).collect();
    let test_scores = Scores::of(scores.iter().map(|score| *score >= matcher.threshold()), &labels);
    Ok((matcher.description.clone(), matcher.threshold(), valid_scores, test_scores))
}

fn print_table(results: &serde_json::Value) {
    let number = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
    println!(
        "entity matching on {} (test: {} pairs, {} matches; {} features)",
        results["dataset"].as_str().unwrap_or("?"),
        results["splits"]["test"]["pairs"],
        results["splits"]["test"]["matches"],
        results["features"]
    );
    println!("| model | precision % | recall % | F1 % | valid F1 % | threshold | train s |");
    println!("|---|---|---|---|---|---|---|");
    for model in results["models"].as_array().into_iter().flatten() {
        let selected = if model["model"] == results["selected_on_valid"] { " (selected on valid)" } else { "" };
        println!(
            "| agora: {}{selected} | {:.1} | {:.1} | {:.2} | {:.2} | {:.3} | {:.1} |",
            model["model"].as_str().unwrap_or("?"),
            number(&model["precision"]),
            number(&model["recall"]),
            number(&model["f1"]),
            number(&model["valid_f1"]),
            number(&model["threshold"]),
            number(&model["train_seconds"])
        );
    }
    for published in results["published"].as_array().into_iter().flatten() {
        println!("| {} (published) | | | {:.2} | | | |", published["model"].as_str().unwrap_or("?"), number(&published["f1"]));
    }
    println!(
        "features computed in {:.1} s; published numbers from ../shared/data/er-products/SOURCE.md",
        number(&results["feature_seconds"])
    );
}
