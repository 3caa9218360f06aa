//! `agora bench train`: the torch plugin's `rec.sasrec` trained on an S3-Rec data set (test
//! split) through the plugin ABI, beside the same network in Python PyTorch
//! (`benches/sasrec_torch.py`, the project venv's torch, the same thread count): training
//! throughput, the test NDCG@10 after every epoch and the training time until it first reaches
//! the published SASRec figure, and top-10 latency for one user as the Recommender serves it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_recommend::evaluate::{evaluate, Protocol};
use agora_recommend::fused::ComponentSnapshot;
use agora_recommend::split::{Holdout, Split};
use agora_recommend::train::load_split;
use agora_recommend::{FusedModel, ModelPlugins, RecommendRequest};
use anyhow::{bail, Context};
use serde_json::json;

use crate::eval::recommend::{benchmark, ingest_s3rec};

/// How many times the Python reference's training throughput Agora must reach.
const TARGET_SPEEDUP: f64 = 1.3;
/// The top-10 latency target for one user, milliseconds (p99).
const TARGET_P99_MS: f64 = 5.0;
/// The blend component the benchmark trains.
const COMPONENT: &str = "torch:sasrec";

/// Options of `agora bench train`.
pub struct TrainBench<'a> {
    pub data: &'a Path,
    pub dataset: &'a str,
    /// Epochs trained on each side: the first ones of a `schedule`-epoch learning-rate schedule.
    pub epochs: u32,
    pub schedule: u32,
    pub threads: u32,
    /// Top-10 requests timed for the latency figure.
    pub requests: usize,
    pub skip_python: bool,
    pub json: bool,
}

/// Runs both sides and prints the table (or JSON).
///
/// # Errors
/// Unreadable data, the torch plugin missing, a failed fit, or the Python reference failing.
pub fn train_bench(options: &TrainBench<'_>, config: &AgoraConfig) -> anyhow::Result<()> {
    let Some(bench) = benchmark(options.dataset) else {
        bail!("unknown dataset {:?} for `bench train`; valid: beauty, sports, lastfm", options.dataset);
    };
    if options.epochs == 0 || options.epochs > options.schedule {
        bail!("--epochs must be between 1 and --schedule-epochs ({}), not {}", options.schedule, options.epochs);
    }
    let published = bench.published_ndcg10("SASRec").context("no published SASRec full-ranking NDCG@10 for this data set")?;
    let (data, ingest_config) = ingest_s3rec(&bench, options.data, config)?;
    let split = Split::new(&data, Holdout::Test);
    let sequences = (0..split.train.n_users()).filter(|&user| split.train.sequence(user).len() >= 2).count();

    let mut recommend = config.recommend.clone();
    recommend.components = vec![COMPONENT.to_string()];
    recommend.params.clear();
    let host = PluginHost::new(ingest_config.plugins.dirs.clone());
    let plugins = ModelPlugins::open(&host, &recommend)
        .context("the torch model plugin is needed: run scripts/setup-torch.sh (the README's run command does)")?;
    let (plugin, task) = plugins.task(COMPONENT)?;
    let encoded = split.train.encode();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    eprintln!(
        "agora rec.sasrec: {} epochs of a {}-epoch schedule over {sequences} sequences, {} threads, the test split scored after each ...",
        options.epochs, options.schedule, options.threads
    );
    // Each epoch is a fit that stops after it and the next carries on from its checkpoint, so the
    // test split can be scored in between; fit seconds count the fits only.
    let (mut resume, mut fit_seconds, mut per_epoch, mut reached, mut model) = (None::<Vec<u8>>, 0.0, Vec::new(), None, None::<FusedModel>);
    for epoch in 1..=options.epochs {
        let params = json!({ "epochs": options.schedule, "stop_after": epoch, "threads": options.threads, "seed": 0 }).to_string();
        let mut written = None;
        let started = Instant::now();
        let snapshot = plugin.fit_resuming(
            &task,
            &encoded,
            params.as_bytes(),
            resume.as_deref(),
            |_, _| {},
            |bytes| written = Some(bytes.to_vec()),
        )?;
        fit_seconds += started.elapsed().as_secs_f64();
        resume = written;
        drop(model.take()); // the previous epoch's network, before the next is loaded
        let component = ComponentSnapshot { name: COMPONENT.to_string(), weight: 1.0, snapshot };
        let fitted = load_split(&plugins, &recommend, &data, &split, vec![component])?;
        let metrics = evaluate(&fitted, &data, &split.cases, &[1.0], Protocol::Full, threads)?.summary();
        eprintln!("  epoch {epoch}: test NDCG@10 {:.4} after {fit_seconds:.0} s of training", metrics.ndcg10);
        if reached.is_none() && metrics.ndcg10 >= published {
            reached = Some(json!({ "epoch": epoch, "fit_seconds": fit_seconds }));
        }
        per_epoch.push(metrics);
        model = Some(fitted);
    }
    let (model, metrics) = (model.expect("at least one epoch"), per_epoch.last().expect("at least one epoch").clone());

    let request = RecommendRequest { k: 10, category: None, exclude_seen: true };
    let mut latencies = Vec::with_capacity(options.requests);
    for case in split.cases.iter().cycle().take(options.requests) {
        let history = &data.histories[case.user as usize][..case.seen];
        let started = Instant::now();
        let top = model.recommend(history, &request)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        if top.len() != 10 {
            bail!("asked for 10 recommendations, got {}", top.len());
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];

    let agora = json!({
        "side": "agora rec.sasrec (tch, plugin ABI)",
        "sequences": sequences,
        "epochs": options.epochs,
        "fit_seconds": fit_seconds,
        "sequences_per_second": (sequences as f64 * f64::from(options.epochs)) / fit_seconds,
        "hr10": metrics.hr10,
        "ndcg10": metrics.ndcg10,
        "ndcg10_per_epoch": per_epoch.iter().map(|m| m.ndcg10).collect::<Vec<_>>(),
        "reached_published": reached,
    });
    let mut sides = vec![agora];
    if !options.skip_python {
        let file = options.data.join(format!("{}.txt", bench.stem));
        // The reference as it is usually run, with per-batch padding, and with the allocator
        // settings agora's binary makes (see `keep_large_allocations` in main.rs).
        for (padding, tunables) in [("fixed", None), ("dynamic", None), ("fixed", Some(AGORA_MALLOC_TUNABLES))] {
            eprintln!("python reference, padding {padding}{} ...", if tunables.is_some() { ", agora's malloc settings" } else { "" });
            let mut side = run_reference(&file, padding, tunables, published, options)?;
            let seconds = side["fit_seconds"].as_f64().context("reference output has no fit_seconds")?;
            let epochs = side["epochs"].as_f64().unwrap_or(0.0);
            side["sequences_per_second"] = json!(side["sequences"].as_f64().unwrap_or(0.0) * epochs / seconds);
            side["side"] = json!(match tunables {
                None => format!("python torch, padding {padding}"),
                Some(_) => format!("python torch, padding {padding}, GLIBC_TUNABLES as agora"),
            });
            sides.push(side);
        }
    }
    let speedup_over = |at: usize| {
        sides.get(at).and_then(|reference| Some(sides[0]["sequences_per_second"].as_f64()? / reference["sequences_per_second"].as_f64()?))
    };
    let (speedup, speedup_tuned) = (speedup_over(1), speedup_over(3));
    // How many times sooner agora's training first reaches the published figure than the reference's.
    let reached_seconds = |at: usize| sides.get(at).and_then(|side| side["reached_published"]["fit_seconds"].as_f64());
    let sooner = reached_seconds(0).zip(reached_seconds(1)).map(|(agora, reference)| reference / agora);
    let report = json!({
        "dataset": bench.stem,
        "threads": options.threads,
        "schedule_epochs": options.schedule,
        "sides": sides,
        "published_sasrec_ndcg10": published,
        "speedup_over_reference": speedup,
        "speedup_over_reference_with_agora_malloc": speedup_tuned,
        "time_to_published_speedup": sooner,
        "latency_ms": { "requests": latencies.len(), "p50": at(0.5), "p99": at(0.99), "max": at(1.0) },
        "targets": { "speedup": TARGET_SPEEDUP, "p99_ms_below": TARGET_P99_MS },
    });
    if options.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(())
}

/// glibc settings equal to what `agora`'s `main` sets with `mallopt`, for a Python process.
const AGORA_MALLOC_TUNABLES: &str = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647";

/// Runs `benches/sasrec_torch.py` with the project venv's Python (the torch the plugin links),
/// under `tunables` (`GLIBC_TUNABLES`) when given.
fn run_reference(
    file: &Path,
    padding: &str,
    tunables: Option<&str>,
    target_ndcg: f64,
    options: &TrainBench<'_>,
) -> anyhow::Result<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        bail!("{} is missing: run scripts/setup-torch.sh and scripts/setup-torch-reference.sh for the PyTorch reference, or pass --skip-python", python.display());
    }
    let mut command = Command::new(&python);
    if let Some(tunables) = tunables {
        command.env("GLIBC_TUNABLES", tunables);
    }
    let output = command
        .arg(root.join("benches/sasrec_torch.py"))
        .args(["--data", &file.to_string_lossy(), "--padding", padding])
        .args(["--epochs", &options.epochs.to_string(), "--schedule-epochs", &options.schedule.to_string()])
        .args(["--threads", &options.threads.to_string(), "--target-ndcg", &target_ndcg.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        if String::from_utf8_lossy(&output.stderr).contains("import torch") {
            bail!("the venv's torch does not import from Python: run scripts/setup-torch-reference.sh (or pass --skip-python)");
        }
        bail!("the PyTorch reference failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("the PyTorch reference printed no JSON")
}

fn print_table(report: &serde_json::Value) {
    let published = report["published_sasrec_ndcg10"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{} test split, full ranking, {} threads, the first epochs of a {}-epoch schedule\n",
        report["dataset"].as_str().unwrap_or("?"),
        report["threads"],
        report["schedule_epochs"]
    );
    println!("| side | epochs | fit s | s/epoch | sequences/s | HR@10 | NDCG@10 | first reached SASRec's published NDCG@10 {published} |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for side in report["sides"].as_array().into_iter().flatten() {
        let number = |key: &str| side[key].as_f64().unwrap_or(f64::NAN);
        let epochs = number("epochs");
        let reached = match side["reached_published"].as_object() {
            Some(at) => format!("epoch {}, after {:.0} s of training", at["epoch"], at["fit_seconds"].as_f64().unwrap_or(f64::NAN)),
            None => "not in these epochs".to_string(),
        };
        println!(
            "| {} | {epochs} | {:.1} | {:.1} | {:.0} | {:.4} | {:.4} | {reached} |",
            side["side"].as_str().unwrap_or("?"),
            number("fit_seconds"),
            number("fit_seconds") / epochs,
            number("sequences_per_second"),
            number("hr10"),
            number("ndcg10"),
        );
    }
    match report["speedup_over_reference"].as_f64() {
        Some(speedup) => {
            println!("\nagora / python reference (fixed padding) throughput: {speedup:.2}× (target ≥ {TARGET_SPEEDUP}×)");
            if let Some(tuned) = report["speedup_over_reference_with_agora_malloc"].as_f64() {
                println!("agora / python reference given agora's malloc settings: {tuned:.2}×");
            }
        }
        None => println!("\n(no Python reference run: --skip-python)"),
    }
    if let Some(sooner) = report["time_to_published_speedup"].as_f64() {
        println!("agora reaches the published NDCG@10 {sooner:.2}× as fast as the python reference (training seconds)");
    }
    let latency = &report["latency_ms"];
    println!(
        "top-10 for one user as served ({} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < {TARGET_P99_MS} ms)",
        latency["requests"],
        latency["p50"].as_f64().unwrap_or(f64::NAN),
        latency["p99"].as_f64().unwrap_or(f64::NAN),
        latency["max"].as_f64().unwrap_or(f64::NAN)
    );
}
