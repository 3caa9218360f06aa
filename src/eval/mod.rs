//! `agora eval`: whole-system evaluations on public data sets. Each ingests its data through the
//! normal pipeline into a scratch store, runs the same code that serves, prints a table beside the
//! published numbers (or JSON), and records the run in the configured store.

mod behaviour;
mod er;
pub(crate) mod forecast;
mod qa;
pub(crate) mod recommend;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agora_agents::{Shutdown, WaitForCompletion};
use agora_core::config::{AgoraConfig, EncoderChoice};
use agora_core::store::{EvalRun, Store};
use anyhow::Context;
use clap::Subcommand;

use crate::app::{open_store, Node};

/// The evaluations.
#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Customer-lifetime-value models on CDNOW: parameters, likelihood, holdout accuracy.
    Behaviour {
        /// The data set's directory (e.g. ../shared/data/cdnow).
        #[arg(long)]
        data: PathBuf,
        /// The data set: cdnow.
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        json: bool,
    },
    /// Recommenders on the S3-Rec files, leave-one-out: HR@{5,10,20}, NDCG@{5,10,20}, MRR beside
    /// the published results.
    Recommend {
        /// The data set's directory (e.g. ../shared/data/s3rec-amazon).
        #[arg(long)]
        data: PathBuf,
        /// beauty, sports or lastfm.
        #[arg(long)]
        dataset: String,
        /// A component of recommend.components, `blend` (weights chosen on validation) or `all`.
        #[arg(long, default_value = "all")]
        model: String,
        /// full (rank against every item), sampled99 (against 99 sampled negatives) or both,
        /// comma-separated (one fit; one table, or one JSON line, per protocol).
        #[arg(long, default_value = "full")]
        protocol: String,
        #[arg(long)]
        json: bool,
    },
    /// Forecasters on M4 Weekly (h = 13; sMAPE, MASE, OWA against Naive2, MSIS, interval coverage
    /// beside the published M4 table) or on CDNOW's weekly spend (rolling origin over the last 13 weeks).
    Forecast {
        /// The data set's directory (../shared/data/m4-weekly or ../shared/data/cdnow).
        #[arg(long)]
        data: PathBuf,
        /// m4-weekly or cdnow.
        #[arg(long)]
        dataset: String,
        /// The model plugin.
        #[arg(long, default_value = "classic")]
        plugin: String,
        /// `all` (every classic forecasting task) or a comma-separated list of tasks (`auto,ets`).
        #[arg(long, default_value = "all")]
        model: String,
        /// Params (JSON) passed to every task's `fit`.
        #[arg(long, default_value = "{}")]
        params: String,
        /// M4: also score the validated ensemble of these `plugin:task` models (comma-separated),
        /// as `forecast.ensemble` would serve it.
        #[arg(long)]
        ensemble: Option<String>,
        /// M4: score on the last 13 training weeks instead of the test set (for choosing settings).
        #[arg(long)]
        holdout: bool,
        /// M4: only the first this-many series.
        #[arg(long)]
        series: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Entity matching on the ER-Magellan product benchmarks (Ditto format): precision, recall, F1
    /// on test beside the published Magellan / DeepMatcher / Ditto numbers.
    Er {
        /// er-products or one benchmark's directory (e.g. ../shared/data/er-products).
        #[arg(long)]
        data: PathBuf,
        /// abt-buy or amazon-google.
        #[arg(long)]
        dataset: String,
        /// Also train the torch plugin's `match.mlp` (pair features + MiniLM vectors of both texts).
        #[arg(long)]
        torch: bool,
        /// With --torch: match.mlp params as JSON (model_dir is added).
        #[arg(long, default_value = "{}")]
        params: String,
        #[arg(long)]
        json: bool,
    },
    /// Customer-service QA: intent accuracy on BANKING77 (full or N-shot, beside the published
    /// numbers), or FAQ answering on the e-commerce FAQ with held-out paraphrases and
    /// out-of-scope questions (top-1, MRR@5, hand-off rates).
    Qa {
        /// The data set's directory (../shared/data/banking77 or ../shared/data/ecommerce-faq).
        #[arg(long)]
        data: PathBuf,
        /// banking77 or ecommerce-faq.
        #[arg(long)]
        dataset: String,
        /// BANKING77: train on this many examples per intent instead of the whole training set.
        #[arg(long)]
        shots: Option<usize>,
        /// BANKING77: seeds to average over (the sample and the training order change with it).
        #[arg(long, default_value_t = 1)]
        seeds: usize,
        /// The sentence encoder: auto, minilm or hashing (as qa.encoder).
        #[arg(long, value_parser = parse_encoder, default_value = "auto")]
        encoder: EncoderChoice,
        /// BANKING77: `lr` (the router's logistic regression on the encoder's vectors and hashed
        /// words) or `torch` (an encoder fine-tuned by the torch plugin's text.classify).
        #[arg(long, default_value = "lr")]
        classifier: String,
        /// BANKING77 with `--classifier torch`: text.classify params as JSON (model_dir, when
        /// absent, is the MiniLM folder; all-mpnet-base-v2's folder is the larger encoder).
        #[arg(long, default_value = "{}")]
        params: String,
        /// ecommerce-faq: the held-out questions (JSON Lines with question, faq, also).
        #[arg(long, default_value = "data/qa/ecommerce-faq-heldout.jsonl")]
        heldout: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn parse_encoder(text: &str) -> Result<EncoderChoice, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| format!("{text:?}: use auto, minilm or hashing"))
}

impl EvalCommand {
    /// Whether the command prints JSON.
    pub fn json(&self) -> bool {
        match self {
            Self::Behaviour { json, .. }
            | Self::Recommend { json, .. }
            | Self::Forecast { json, .. }
            | Self::Qa { json, .. }
            | Self::Er { json, .. } => *json,
        }
    }
}

/// Runs an evaluation and records it in the configured store.
///
/// # Errors
/// Unknown data set, unreadable data, a failed ingestion, fit or evaluation.
pub fn run(command: &EvalCommand, config: &AgoraConfig) -> anyhow::Result<()> {
    match command {
        EvalCommand::Behaviour { data, dataset, json } => behaviour::run(data, dataset, *json, config),
        EvalCommand::Er { data, dataset, torch, params, json } => er::run(data, dataset, torch.then_some(params.as_str()), *json, config),
        EvalCommand::Recommend { data, dataset, model, protocol, json } => recommend::run(data, dataset, model, protocol, *json, config),
        EvalCommand::Forecast { data, dataset, plugin, model, params, ensemble, holdout, series, json } => forecast::run(
            &forecast::ForecastEval {
                data,
                dataset,
                plugin,
                model,
                params,
                ensemble: ensemble.as_deref(),
                holdout: *holdout,
                series: *series,
                json: *json,
            },
            config,
        ),
        EvalCommand::Qa { data, dataset, shots, seeds, encoder, classifier, params, heldout, json } => qa::run(
            &qa::QaEval {
                data,
                dataset,
                shots: *shots,
                seeds: (*seeds).max(1),
                encoder: *encoder,
                classifier,
                params,
                heldout,
                json: *json,
            },
            config,
        ),
    }
}

/// The configured plugin directories, with the running binary's own directory first.
pub(crate) fn plugin_dirs(config: &AgoraConfig) -> Vec<PathBuf> {
    let mut dirs = config.plugins.dirs.clone();
    if let Some(bin_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        dirs.insert(0, bin_dir);
    }
    dirs
}

/// Ingests every source of `config` once through the supervisor's pipeline and returns the store.
pub(crate) fn ingest(config: AgoraConfig, what: &str) -> anyhow::Result<Arc<dyn Store>> {
    let system = actix::System::new();
    system.block_on(async move {
        let node = Node::start(config, true)?;
        node.supervisor.send(WaitForCompletion).await?.map_err(anyhow::Error::msg).with_context(|| format!("ingesting {what}"))?;
        node.supervisor.send(Shutdown).await??;
        Ok(node.store.clone())
    })
}

/// The ingestion config for a CDNOW file (`CDNOW_sample.txt`, headerless with the master id
/// first, or `CDNOW_master.txt`, with a header) as order lines: the line's byte offset is its
/// order id, and its dollar value is the price of one unit, so revenue is the spend (the CD
/// count is not used).
fn cdnow_config(file: &Path, store: &Path, base: &AgoraConfig) -> anyhow::Result<AgoraConfig> {
    let sample = file.file_name().is_some_and(|name| name == "CDNOW_sample.txt");
    let layout = if sample {
        r#"header = false, columns = ["master_id", "customer", "date", "cds", "dollars"]"#
    } else {
        r#"header = true, columns = ["customer", "date", "cds", "dollars"]"#
    };
    let text = format!(
        r#"
        [store]
        path = {store:?}
        [plugins]
        dirs = {dirs:?}
        [sources.cdnow]
        plugin = "csv"
        record = "order"
        params = {{ path = {file:?}, delimiter = "whitespace", {layout}, offset_column = "line_offset" }}
        dedup_key = ["order_id"]
        timestamp_formats = ["%Y%m%d"]
        [sources.cdnow.fields]
        order_id = "line_offset"
        user_id = "customer"
        item_id = {{ from = "item", missing = "default", default = "cd" }}
        quantity = {{ from = "quantity", missing = "default", default = 1 }}
        unit_price = "dollars"
        ts = "date"
        "#,
        store = store.display().to_string(),
        dirs = plugin_dirs(base).iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>(),
        file = file.display().to_string(),
    );
    Ok(AgoraConfig::from_toml_str(&text)?)
}

/// Records a run in the configured store; a failure to record is a warning, not a failed eval.
fn record_run(config: &AgoraConfig, kind: &str, dataset: &str, run_config: &str, results: &serde_json::Value) {
    let recorded = open_store(config).and_then(|main| {
        main.record_eval_run(&EvalRun {
            kind: kind.into(),
            dataset: dataset.into(),
            at: agora_core::now_ms(),
            config: run_config.into(),
            results: results.to_string(),
        })?;
        Ok(())
    });
    if let Err(err) = &recorded {
        eprintln!("warning: the run was not recorded: {err:#}");
    }
}
