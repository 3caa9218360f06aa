//! `agora eval qa`: intent classification on BANKING77 (full training set or N examples per
//! intent, several seeds) and FAQ answering on the e-commerce FAQ with the team's held-out
//! paraphrases and out-of-scope questions, printed beside the published numbers.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use agora_core::config::{AgoraConfig, EncoderChoice, QaConfig};
use agora_core::plugin::PluginHost;
use agora_core::record::FaqEntry;
use agora_qa::classifier::TrainOptions;
use agora_qa::intent::{read_examples, Example, IntentClassifier};
use agora_qa::responder::{router_examples, Knowledge, QaEngine};
use agora_qa::shop::{Orders, Products};
use agora_qa::{embed, Ask, Context, Embedder};
use anyhow::{bail, Context as _};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;
use serde_json::json;

use super::{plugin_dirs, record_run};

/// BANKING77 published accuracies (%), from ../shared/data/banking77/SOURCE.md.
const PUBLISHED_FULL: [(&str, f64); 2] = [("BERT-tuned (Casanueva et al. 2020)", 93.66), ("USE+ConveRT (Casanueva et al. 2020)", 93.36)];
const PUBLISHED_10_SHOT: [(&str, f64); 4] =
    [("USE+ConveRT", 85.19), ("DNNC (EMNLP 2020)", 86.71), ("CPFT (EMNLP 2021)", 87.20), ("ICDA (EACL 2023)", 89.79)];

/// What `agora eval qa` was asked.
pub struct QaEval<'a> {
    pub data: &'a Path,
    pub dataset: &'a str,
    pub shots: Option<usize>,
    pub seeds: usize,
    pub encoder: EncoderChoice,
    /// `lr` or `torch`.
    pub classifier: &'a str,
    /// text.classify params (JSON object) for `torch`.
    pub params: &'a str,
    pub heldout: &'a Path,
    pub json: bool,
}

/// Runs the evaluation and records it in the configured store.
///
/// # Errors
/// Unknown data set, unreadable files, or an encoder that cannot load.
pub fn run(eval: &QaEval<'_>, config: &AgoraConfig) -> anyhow::Result<()> {
    let host = PluginHost::new(plugin_dirs(config));
    let qa = QaConfig { encoder: eval.encoder, ..config.qa.clone() };
    let results = match (eval.dataset, eval.classifier) {
        ("banking77", "torch") => banking77_torch(eval, &host, &qa)?,
        (_, "lr") => run_lr(eval, &host, &qa)?,
        (_, other) => bail!("unknown --classifier {other:?}; valid: lr, torch (banking77 only)"),
    };
    let run_config = json!({ "shots": eval.shots, "seeds": eval.seeds, "encoder": results["encoder"], "classifier": eval.classifier, "params": eval.params }).to_string();
    record_run(config, "qa", eval.dataset, &run_config, &results);
    if eval.json {
        println!("{results}");
    } else if eval.dataset == "banking77" {
        print_banking77(&results);
    } else {
        print_faq(&results);
    }
    Ok(())
}

fn run_lr(eval: &QaEval<'_>, host: &PluginHost, qa: &QaConfig) -> anyhow::Result<serde_json::Value> {
    let embedder = embed::open(qa, host)?;
    Ok(match eval.dataset {
        "banking77" => banking77(eval, embedder.as_ref())?,
        "ecommerce-faq" => ecommerce_faq(eval, embedder, qa)?,
        other => bail!("unknown dataset {other:?} for `eval qa`; valid: banking77, ecommerce-faq"),
    })
}

fn embed_all(embedder: &dyn Embedder, examples: &[Example]) -> anyhow::Result<Vec<Vec<f32>>> {
    let texts: Vec<String> = examples.iter().map(|example| example.text.clone()).collect();
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        out.extend(embedder.embed(chunk)?);
    }
    Ok(out)
}

/// `shots` examples of every label, drawn with `seed`.
fn sample(train: &[Example], shots: usize, seed: u64) -> Vec<usize> {
    let mut by_label: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
    for (index, example) in train.iter().enumerate() {
        by_label.entry(&example.label).or_default().push(index);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for indices in by_label.values_mut() {
        indices.shuffle(&mut rng);
        chosen.extend(indices.iter().take(shots));
    }
    chosen
}

fn banking77(eval: &QaEval<'_>, embedder: &dyn Embedder) -> anyhow::Result<serde_json::Value> {
    let train = read_examples(&eval.data.join("train.csv")).context("--data must be the BANKING77 directory")?;
    let test = read_examples(&eval.data.join("test.csv"))?;
    let started = Instant::now();
    let test_vectors = embed_all(embedder, &test)?;
    let encode_test_s = started.elapsed().as_secs_f64();
    let all_vectors = match eval.shots {
        None => Some(embed_all(embedder, &train)?),
        Some(_) => None,
    };
    let mut runs = Vec::new();
    for seed in 0..eval.seeds as u64 {
        let examples = training_set(&train, eval.shots, seed);
        let vectors = match &all_vectors {
            Some(all) => all.clone(),
            None => embed_all(embedder, &examples)?,
        };
        let started = Instant::now();
        let options = TrainOptions { seed, ..TrainOptions::default() };
        let model = IntentClassifier::train(&examples, &vectors, &options)?;
        let train_s = started.elapsed().as_secs_f64();
        let correct =
            test.iter().zip(&test_vectors).filter(|(example, vector)| model.best(&example.text, vector).0 == example.label).count();
        let accuracy = 100.0 * correct as f64 / test.len() as f64;
        eprintln!("seed {seed}: {} training examples, accuracy {accuracy:.2}% (trained in {train_s:.1} s)", examples.len());
        runs.push(json!({ "seed": seed, "examples": examples.len(), "accuracy": accuracy, "train_seconds": train_s }));
    }
    let accuracies: Vec<f64> = runs.iter().map(|run| run["accuracy"].as_f64().unwrap_or(0.0)).collect();
    let (mean, std) = mean_std(&accuracies);
    Ok(json!({
        "dataset": "banking77",
        "encoder": embedder.name(),
        "classifier": "logistic regression on the sentence embedding + hashed words and word pairs",
        "classifier_short": format!("{} + LR", embedder.name()),
        "shots": eval.shots,
        "test_questions": test.len(),
        "accuracy_mean": mean,
        "accuracy_std": std,
        "runs": runs,
        "encode_ms_per_question": 1000.0 * encode_test_s / test.len() as f64,
    }))
}

/// The training examples of one seed's run: all of them, or `shots` per intent.
fn training_set(train: &[Example], shots: Option<usize>, seed: u64) -> Vec<Example> {
    match shots {
        Some(shots) => sample(train, shots, seed).into_iter().map(|index| train[index].clone()).collect(),
        None => train.to_vec(),
    }
}

/// BANKING77 with an encoder (MiniLM unless the params' `model_dir` names another) fine-tuned by the
/// torch plugin (`text.classify`), through the plugin ABI.
fn banking77_torch(eval: &QaEval<'_>, host: &PluginHost, qa: &QaConfig) -> anyhow::Result<serde_json::Value> {
    let train = read_examples(&eval.data.join("train.csv")).context("--data must be the BANKING77 directory")?;
    let test = read_examples(&eval.data.join("test.csv"))?;
    let mut params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(eval.params).context("--params must be a JSON object of text.classify params")?;
    // The encoder: the params' model_dir (all-mpnet-base-v2's folder, say), else MiniLM's.
    if !params.contains_key("model_dir") {
        let model_dir =
            embed::minilm_dir(&qa.minilm_dir).context("no all-MiniLM-L6-v2 folder: set qa.minilm_dir or run scripts/setup-torch.sh")?;
        params.insert("model_dir".into(), json!(model_dir));
    }
    let plugin = host.model("torch")?;
    let texts: Vec<&str> = test.iter().map(|example| example.text.as_str()).collect();
    let mut runs = Vec::new();
    let mut encoder = String::new();
    for seed in 0..eval.seeds as u64 {
        let examples = training_set(&train, eval.shots, seed);
        let data: String =
            examples.iter().map(|example| json!({ "text": example.text, "label": example.label }).to_string() + "\n").collect();
        params.insert("seed".into(), json!(seed));
        let started = Instant::now();
        let snapshot =
            plugin.fit("text.classify", data.as_bytes(), serde_json::Value::Object(params.clone()).to_string().as_bytes(), |_, _| {})?;
        let train_s = started.elapsed().as_secs_f64();
        let model = plugin.load("text.classify", &snapshot)?;
        let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#)?)?;
        encoder = described["model"].as_str().unwrap_or("?").to_string();
        let started = Instant::now();
        let response: serde_json::Value =
            serde_json::from_slice(&model.infer(json!({ "op": "classify", "texts": texts }).to_string().as_bytes())?)?;
        let infer_s = started.elapsed().as_secs_f64();
        let labels: Vec<&str> =
            response["labels"].as_array().context("classify answered without labels")?.iter().filter_map(|label| label.as_str()).collect();
        let probabilities = response["probabilities"].as_array().context("classify answered without probabilities")?;
        let correct = test
            .iter()
            .zip(probabilities)
            .filter(|(example, row)| {
                let row: Vec<f64> = row.as_array().map(|row| row.iter().filter_map(|p| p.as_f64()).collect()).unwrap_or_default();
                let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b]));
                best.is_some_and(|best| labels.get(best) == Some(&example.label.as_str()))
            })
            .count();
        let accuracy = 100.0 * correct as f64 / test.len() as f64;
        eprintln!("seed {seed}: {} training examples, accuracy {accuracy:.2}% (fine-tuned in {train_s:.0} s)", examples.len());
        runs.push(
            json!({ "seed": seed, "examples": examples.len(), "accuracy": accuracy, "train_seconds": train_s, "infer_seconds": infer_s }),
        );
    }
    let accuracies: Vec<f64> = runs.iter().map(|run| run["accuracy"].as_f64().unwrap_or(0.0)).collect();
    let (mean, std) = mean_std(&accuracies);
    let infer_s: f64 = runs.iter().filter_map(|run| run["infer_seconds"].as_f64()).sum::<f64>() / runs.len().max(1) as f64;
    params.remove("seed");
    Ok(json!({
        "dataset": "banking77",
        "encoder": format!("torch:text.classify ({encoder})"),
        "classifier": format!("text.classify, params {}", serde_json::Value::Object(params)),
        "classifier_short": "torch:text.classify",
        "shots": eval.shots,
        "test_questions": test.len(),
        "accuracy_mean": mean,
        "accuracy_std": std,
        "runs": runs,
        "encode_ms_per_question": 1000.0 * infer_s / test.len() as f64,
    }))
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn print_banking77(results: &serde_json::Value) {
    let shots = results["shots"].as_u64().map_or_else(|| "full".to_string(), |shots| format!("{shots}-shot"));
    println!("BANKING77 intent accuracy on the test set ({} questions, 77 intents), {shots}", results["test_questions"]);
    println!("{:<62} {:>16}", "model", "accuracy %");
    let runs = results["runs"].as_array().map_or(0, Vec::len);
    println!(
        "{:<62} {:>8.2} ± {:<5.2}",
        format!("agora: {} ({runs} seed{})", results["classifier_short"].as_str().unwrap_or("?"), if runs == 1 { "" } else { "s" }),
        results["accuracy_mean"].as_f64().unwrap_or(f64::NAN),
        results["accuracy_std"].as_f64().unwrap_or(f64::NAN)
    );
    let published: &[(&str, f64)] = if results["shots"].is_null() { &PUBLISHED_FULL } else { &PUBLISHED_10_SHOT };
    for (name, accuracy) in published {
        println!("{:<62} {accuracy:>8.2}   (published{})", name, if results["shots"].is_null() { "" } else { ", 10-shot" });
    }
    println!("encoding: {:.1} ms per question", results["encode_ms_per_question"].as_f64().unwrap_or(f64::NAN));
}

/// The e-commerce FAQ file: `{"questions":[{"question","answer"}]}`.
#[derive(Deserialize)]
struct FaqFile {
    questions: Vec<FaqPair>,
}

#[derive(Deserialize)]
struct FaqPair {
    question: String,
    answer: String,
}

/// One held-out question: the entry that answers it (none: out of scope) and others that also do.
#[derive(Deserialize)]
struct Heldout {
    question: String,
    faq: Option<usize>,
    #[serde(default)]
    also: Vec<usize>,
}

fn ecommerce_faq(eval: &QaEval<'_>, embedder: Arc<dyn Embedder>, qa: &QaConfig) -> anyhow::Result<serde_json::Value> {
    let kb_file = eval.data.join("Ecommerce_FAQ_Chatbot_dataset.json");
    let kb: FaqFile = serde_json::from_slice(&std::fs::read(&kb_file).with_context(|| format!("reading {}", kb_file.display()))?)
        .with_context(|| format!("parsing {}", kb_file.display()))?;
    let entries: Vec<FaqEntry> = kb
        .questions
        .into_iter()
        .enumerate()
        .map(|(index, pair)| FaqEntry { faq_id: index.to_string(), questions: vec![pair.question], answer: pair.answer })
        .collect();
    let heldout_text = std::fs::read_to_string(eval.heldout).with_context(|| format!("reading {}", eval.heldout.display()))?;
    let heldout: Vec<Heldout> = heldout_text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| serde_json::from_str(line).with_context(|| format!("{} line {}", eval.heldout.display(), number + 1)))
        .collect::<anyhow::Result<_>>()?;
    let knowledge = Knowledge { faq: entries, products: Products::new(Vec::new()), orders: Orders::default() };
    let engine = QaEngine::build(knowledge, embedder.clone(), &router_examples(qa)?, qa)?;
    let (mut in_scope, mut top1, mut reciprocal, mut answered_right, mut answered_wrong, mut handed_in) = (0, 0, 0.0, 0, 0, 0);
    let (mut out_scope, mut handed_out) = (0, 0);
    let mut latencies = Vec::new();
    // (top FAQ score, whether the top entry is right; None when out of scope) for the threshold sweep.
    let mut scored: Vec<(f32, Option<bool>)> = Vec::new();
    // Which routes answered out-of-scope questions instead of handing them off.
    let mut out_answered_by = std::collections::BTreeMap::new();
    for question in &heldout {
        let started = Instant::now();
        let ask = Ask { question: question.question.clone(), user_id: None, conversation_id: None };
        let (answer, _) = engine.answer(&ask, Context::default(), None, agora_core::now_ms())?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let ranked = engine.rank_faq(&question.question, 5)?;
        let top_score = ranked.first().map_or(0.0, |(_, score)| *score);
        let Some(expected) = question.faq else {
            out_scope += 1;
            handed_out += usize::from(answer.handoff);
            if !answer.handoff {
                *out_answered_by.entry(answer.intent.clone()).or_insert(0usize) += 1;
            }
            scored.push((top_score, None));
            continue;
        };
        in_scope += 1;
        let right = |id: &str| id.parse::<usize>().is_ok_and(|id| id == expected || question.also.contains(&id));
        scored.push((top_score, Some(ranked.first().is_some_and(|(id, _)| right(id)))));
        if ranked.first().is_some_and(|(id, _)| right(id)) {
            top1 += 1;
        }
        if let Some(rank) = ranked.iter().position(|(id, _)| right(id)) {
            reciprocal += 1.0 / (rank + 1) as f64;
        }
        if answer.handoff {
            handed_in += 1;
        } else if answer.sources.iter().any(|source| source.kind == "faq" && right(&source.id)) {
            answered_right += 1;
        } else {
            answered_wrong += 1;
        }
    }
    let share = |count: usize, of: usize| if of == 0 { f64::NAN } else { 100.0 * count as f64 / of as f64 };
    // What the FAQ route alone would do at each threshold on its top score.
    let sweep: Vec<serde_json::Value> = (2..=14)
        .map(|step| {
            let threshold = step as f32 * 0.05;
            let right = scored.iter().filter(|(score, right)| *score >= threshold && *right == Some(true)).count();
            let wrong = scored.iter().filter(|(score, right)| *score >= threshold && *right == Some(false)).count();
            let out_answered = scored.iter().filter(|(score, right)| *score >= threshold && right.is_none()).count();
            json!({
                "min_confidence": threshold,
                "answered_right": share(right, in_scope),
                "answered_wrong": share(wrong, in_scope),
                "handoff_out_of_scope": share(out_scope - out_answered, out_scope),
            })
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let p99 = latencies.get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
    Ok(json!({
        "dataset": "ecommerce-faq",
        "encoder": embedder.name(),
        "kb_entries": engine.info().faq_entries,
        "in_scope": in_scope,
        "out_of_scope": out_scope,
        "retrieval_top1": share(top1, in_scope),
        "retrieval_mrr5": reciprocal / in_scope.max(1) as f64,
        "answered_right": share(answered_right, in_scope),
        "answered_wrong": share(answered_wrong, in_scope),
        "handoff_in_scope": share(handed_in, in_scope),
        "handoff_out_of_scope": share(handed_out, out_scope),
        "min_confidence": qa.min_confidence,
        "latency_p99_ms": p99,
        "threshold_sweep": sweep,
        "out_of_scope_answered_by": out_answered_by,
    }))
}

fn print_faq(results: &serde_json::Value) {
    let value = |key: &str| results[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "E-commerce FAQ ({} entries), {} held-out paraphrases and {} out-of-scope questions, encoder {}, min_confidence {}",
        results["kb_entries"],
        results["in_scope"],
        results["out_of_scope"],
        results["encoder"].as_str().unwrap_or("?"),
        results["min_confidence"]
    );
    println!("{:<52} {:>8}", "measure", "value");
    println!("{:<52} {:>7.1}%", "retrieval top-1 accuracy (paraphrases)", value("retrieval_top1"));
    println!("{:<52} {:>8.3}", "retrieval MRR@5", value("retrieval_mrr5"));
    println!("{:<52} {:>7.1}%", "engine answered with the right entry", value("answered_right"));
    println!("{:<52} {:>7.1}%", "engine answered with a wrong entry", value("answered_wrong"));
    println!("{:<52} {:>7.1}%", "engine handed off an in-scope question", value("handoff_in_scope"));
    println!("{:<52} {:>7.1}%", "engine handed off an out-of-scope question", value("handoff_out_of_scope"));
    println!("{:<52} {:>8}", "routes that answered out-of-scope questions", results["out_of_scope_answered_by"].to_string());
    println!("{:<52} {:>6.1} ms", "latency p99 per question", value("latency_p99_ms"));
    println!("\nThe FAQ route alone at other thresholds on its top score (qa.min_confidence):");
    println!("| min_confidence | answered right | answered wrong | out-of-scope handed off |");
    println!("|---|---|---|---|");
    for row in results["threshold_sweep"].as_array().into_iter().flatten() {
        let value = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {:.2} | {:.1}% | {:.1}% | {:.1}% |",
            value("min_confidence"),
            value("answered_right"),
            value("answered_wrong"),
            value("handoff_out_of_scope")
        );
    }
    println!("(no published numbers exist for this set; the paraphrases are the team's own, see data/qa/SOURCE.md)");
}
