//! `agora bench ingest`: records/s through CSV + JSONL parsing, cleaning and commit into sled,
//! beside a raw sled batch insert of the same canonical records and the same cleaning in pandas.
//! Each measured path runs in a fresh child process so its peak memory is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agora_agents::{Shutdown, WaitForCompletion};
use agora_core::config::AgoraConfig;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Node;
use crate::generate::{generate_shop, ShopSize};

/// What one measured path reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseResult {
    pub records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub peak_rss_mib: f64,
}

/// One measured path in this process (`bench ingest-phase`): prints one JSON line.
pub fn phase(phase: &str, dir: &Path) -> anyhow::Result<()> {
    let result = match phase {
        "pipeline" => pipeline_phase(dir)?,
        "raw-sled" => raw_sled_phase(dir)?,
        other => bail!("unknown phase {other:?}; valid: pipeline, raw-sled"),
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn shop_size(records: usize) -> ShopSize {
    ShopSize { items: (records / 20).max(50), events: records / 2, orders: records * 9 / 20, dirty_rate: 0.02 }
}

pub fn ingest_bench(records: usize, skip_pandas: bool, json: bool) -> anyhow::Result<()> {
    let work = tempfile::Builder::new().prefix("agora-bench-ingest").tempdir()?;
    let small_dir = work.path().join("small");
    let large_dir = work.path().join("large");
    eprintln!("generating {records} records and a quarter-size copy in {} ...", work.path().display());
    generate_shop(&small_dir.join("shop"), 7, shop_size(records / 4))?;
    generate_shop(&large_dir.join("shop"), 7, shop_size(records))?;
    eprintln!("running the agora pipeline (quarter size, then full size) ...");
    let small = run_phase("pipeline", &small_dir)?;
    let agora = run_phase("pipeline", &large_dir)?;
    eprintln!("running raw sled batch inserts of the same canonical records ...");
    let raw = run_phase("raw-sled", &large_dir)?;
    let pandas = if skip_pandas {
        None
    } else {
        eprintln!("running the same cleaning in pandas ...");
        Some(run_pandas(&large_dir.join("shop"))?)
    };

    let raw_ratio = agora.records_per_second / raw.records_per_second;
    let pandas_ratio = pandas.as_ref().map(|pandas| agora.records_per_second / pandas.records_per_second);
    if json {
        println!(
            "{}",
            json!({
                "records": records,
                "agora": agora, "agora_quarter_size": small, "raw_sled": raw, "pandas": pandas,
                "ratio_vs_raw_sled": raw_ratio, "ratio_vs_pandas": pandas_ratio,
            })
        );
        return Ok(());
    }
    println!("ingest benchmark, {records} generated records (catalogue CSV + events JSONL + orders CSV, 2% dirty)\n");
    println!("| path | records | seconds | records/s | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|");
    let row = |name: &str, r: &PhaseResult| {
        println!("| {name} | {} | {:.2} | {:.0} | {:.0} |", r.records, r.seconds, r.records_per_second, r.peak_rss_mib)
    };
    row("agora: parse + clean + commit (quarter size)", &small);
    row("agora: parse + clean + commit", &agora);
    row("raw sled batch insert of the canonical records", &raw);
    match &pandas {
        Some(pandas) => row("pandas: same parsing and cleaning, no store", pandas),
        None => println!("| pandas | skipped (--skip-pandas) | | | |"),
    }
    println!();
    println!("agora / raw sled: {raw_ratio:.2}x (target >= 0.5x)");
    match pandas_ratio {
        Some(ratio) => println!("agora / pandas:   {ratio:.2}x (target >= 5x)"),
        None => println!("agora / pandas:   not measured"),
    }
    println!(
        "peak memory: {:.0} MiB at {} records, {:.0} MiB at {} records",
        small.peak_rss_mib, small.records, agora.peak_rss_mib, agora.records
    );
    Ok(())
}

/// Runs one phase in a child process of this binary and parses its JSON line.
fn run_phase(phase: &str, dir: &Path) -> anyhow::Result<PhaseResult> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe).args(["bench", "ingest-phase", phase]).arg(dir).output()?;
    if !output.status.success() {
        bail!("phase {phase} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("phase {phase} printed {last:?}"))
}

/// The config the benchmark ingests with: the bundled mapping, pointed at the generated files.
fn bench_config(dir: &Path) -> anyhow::Result<AgoraConfig> {
    let reference = std::fs::read_to_string(reference_config_path()).context("cannot read config/agora.toml")?;
    let text = reference.replace("data/shop/", &format!("{}/", dir.join("shop").display()));
    let mut config = AgoraConfig::from_toml_str(&text)?;
    config.store.path = dir.join("store.sled");
    config.sources.retain(|_, source| source.plugin != agora_core::config::PUSH_PLUGIN);
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin_dir) = exe.parent() {
            config.plugins.dirs.insert(0, bin_dir.to_path_buf());
        }
    }
    Ok(config)
}

fn reference_config_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/agora.toml")
}

fn pipeline_phase(dir: &Path) -> anyhow::Result<PhaseResult> {
    let config = bench_config(dir)?;
    let system = actix::System::new();
    system.block_on(async move {
        let started = Instant::now();
        let node = Node::start(config, true)?;
        node.supervisor.send(WaitForCompletion).await?.map_err(anyhow::Error::msg)?;
        let seconds = started.elapsed().as_secs_f64();
        node.supervisor.send(Shutdown).await??;
        let stats = node.store.source_stats()?;
        let records: u64 = stats.values().map(|stats| stats.read).sum();
        Ok(PhaseResult { records, seconds, records_per_second: records as f64 / seconds, peak_rss_mib: peak_rss_mib() })
    })
}

/// Copies the pipeline's stored records into a fresh sled tree with plain batch inserts, in key
/// order (sled's best case).
fn raw_sled_phase(dir: &Path) -> anyhow::Result<PhaseResult> {
    let store = agora_core::store::SledStore::open(&dir.join("store.sled"), 256)?;
    // The records as the pipeline stored them (not its dedup index, counters or checkpoints).
    let source = store.ingest_tree().scan_prefix(b"r");
    let target = sled::Config::new()
        .path(dir.join("raw.sled"))
        .cache_capacity(256 * 1024 * 1024)
        .flush_every_ms(Some(200))
        .mode(sled::Mode::HighThroughput)
        .open()?;
    let tree = target.open_tree("records")?;
    let mut pending = Vec::with_capacity(4096);
    let mut records = 0u64;
    let mut inserting = std::time::Duration::ZERO;
    let mut flush = |pending: &mut Vec<(sled::IVec, sled::IVec)>| -> anyhow::Result<()> {
        let started = Instant::now();
        let mut batch = sled::Batch::default();
        for (key, value) in pending.drain(..) {
            batch.insert(key, value);
        }
        tree.apply_batch(batch)?;
        inserting += started.elapsed();
        Ok(())
    };
    for entry in source {
        pending.push(entry?);
        records += 1;
        if pending.len() == 4096 {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    let started = Instant::now();
    target.flush()?;
    let seconds = inserting.as_secs_f64() + started.elapsed().as_secs_f64();
    Ok(PhaseResult { records, seconds, records_per_second: records as f64 / seconds, peak_rss_mib: peak_rss_mib() })
}

/// Runs `benches/clean_pandas.py` with the project's venv Python (or `python3`).
fn run_pandas(shop: &Path) -> anyhow::Result<PhaseResult> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv/bin/python");
    let python = if venv.exists() { venv } else { PathBuf::from("python3") };
    let output = Command::new(&python)
        .arg(root.join("benches/clean_pandas.py"))
        .arg(shop)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "the pandas comparison failed (install it with scripts/setup-python.sh, or pass --skip-pandas): {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("pandas script printed {last:?}"))
}

/// Peak resident memory of this process (VmHWM), in MiB; 0 where /proc is unavailable.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|line| line.starts_with("VmHWM:")).and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}
