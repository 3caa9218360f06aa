//! `agora bench`: whole-system benchmarks that print a table beside their named peers.

mod console;
mod er;
mod forecast;
mod ingest;
mod qa;
mod serve;
mod train;

use std::path::PathBuf;

use agora_core::config::AgoraConfig;
use clap::Subcommand;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Ingestion throughput beside raw sled and pandas, with peak memory at two input sizes.
    Ingest {
        /// Records to generate (catalogue + events + orders).
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Skip the pandas comparison (it needs the project's Python venv).
        #[arg(long)]
        skip_pandas: bool,
        #[arg(long)]
        json: bool,
    },
    /// Forecast accuracy and fit time on M4 Weekly: Agora's `forecast.auto` beside statsforecast's
    /// AutoETS, AutoTheta, AutoARIMA and their mean (from the venv scripts/setup-python.sh makes).
    Forecast {
        /// The M4 Weekly directory (../shared/data/m4-weekly).
        #[arg(long)]
        data: PathBuf,
        /// Score on the last 13 training weeks instead of the test set.
        #[arg(long)]
        holdout: bool,
        /// Only the first this-many series.
        #[arg(long)]
        series: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// The chatbot's latency per question, encoding included, with the hashing and MiniLM
    /// encoders, on the configured shop (ingested into a scratch store).
    Qa {
        /// Questions answered per encoder.
        #[arg(long, default_value_t = 2000)]
        questions: usize,
        #[arg(long)]
        json: bool,
    },
    /// Entity-resolution blocking on generated products from two sources with planted matches:
    /// pair completeness, candidate pairs per record and time, per method and for their union.
    Er {
        /// Records to generate.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        #[arg(long)]
        json: bool,
    },
    /// How fast every admin-console page answers with an S3-Rec data set ingested and a
    /// recommender trained on it (target: each under 200 ms).
    Console {
        /// The S3-Rec directory.
        #[arg(long, default_value = "../shared/data/s3rec-amazon")]
        data: PathBuf,
        /// beauty, sports or lastfm.
        #[arg(long, default_value = "beauty")]
        dataset: String,
        /// Measured requests per page.
        #[arg(long, default_value_t = 50)]
        requests: usize,
        #[arg(long)]
        json: bool,
    },
    /// `rec.sasrec` training throughput, the test NDCG@10 it reaches and top-10 latency on an
    /// S3-Rec data set, beside the same network in Python PyTorch (benches/sasrec_torch.py).
    Train {
        /// The S3-Rec directory.
        #[arg(long, default_value = "../shared/data/s3rec-amazon")]
        data: PathBuf,
        /// beauty, sports or lastfm.
        #[arg(long, default_value = "beauty")]
        dataset: String,
        /// Training epochs on each side (the test split is scored after each).
        #[arg(long, default_value_t = 3)]
        epochs: u32,
        /// The learning-rate schedule's length in epochs (warm-up over the first, cosine decay
        /// to the last), of which `--epochs` are trained: 20 is `rec.sasrec`'s default.
        #[arg(long, default_value_t = 20)]
        schedule_epochs: u32,
        /// libtorch threads on each side.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Top-10 requests timed for the latency figure.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Skip the PyTorch reference (it needs the project venv scripts/setup-torch.sh makes).
        #[arg(long)]
        skip_python: bool,
        #[arg(long)]
        json: bool,
    },
    /// One measured path in this process (used by `bench ingest`; prints one JSON line).
    #[command(hide = true)]
    IngestPhase {
        /// `pipeline` or `raw-sled`.
        phase: String,
        dir: PathBuf,
    },
    /// Recommendation latency and throughput over HTTP on loopback: an S3-Rec data set is
    /// ingested and trained, then `agora serve`'s routes are loaded at a fixed rate and flat out.
    Serve {
        /// The S3-Rec directory (../shared/data/s3rec-amazon).
        #[arg(long)]
        data: PathBuf,
        /// beauty, sports or lastfm.
        #[arg(long, default_value = "beauty")]
        dataset: String,
        /// Requests per second of the fixed-rate run.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Length of each run, seconds (the fixed-rate run sends rate × seconds requests).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent keep-alive connections of the load generator.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        #[arg(long)]
        json: bool,
    },
}

impl BenchCommand {
    /// Whether the command prints JSON.
    pub fn json(&self) -> bool {
        match self {
            Self::Ingest { json, .. }
            | Self::Serve { json, .. }
            | Self::Forecast { json, .. }
            | Self::Qa { json, .. }
            | Self::Er { json, .. }
            | Self::Console { json, .. }
            | Self::Train { json, .. } => *json,
            Self::IngestPhase { .. } => true,
        }
    }
}

/// Runs a benchmark command.
///
/// # Errors
/// Anything that stops the benchmark from measuring honestly.
pub fn run(command: &BenchCommand, config: &AgoraConfig) -> anyhow::Result<()> {
    match command {
        BenchCommand::IngestPhase { phase, dir } => ingest::phase(phase, dir),
        BenchCommand::Ingest { records, skip_pandas, json } => ingest::ingest_bench(*records, *skip_pandas, *json),
        BenchCommand::Forecast { data, holdout, series, json } => {
            forecast::forecast_bench(&forecast::ForecastBench { data, holdout: *holdout, series: *series, json: *json }, config)
        }
        BenchCommand::Er { records, json } => er::er_bench(*records, *json),
        BenchCommand::Console { data, dataset, requests, json } => console::console_bench(data, dataset, *requests, *json, config),
        BenchCommand::Qa { questions, json } => qa::qa_bench(*questions, *json, config),
        BenchCommand::Train { data, dataset, epochs, schedule_epochs, threads, requests, skip_python, json } => train::train_bench(
            &train::TrainBench {
                data,
                dataset,
                epochs: *epochs,
                schedule: *schedule_epochs,
                threads: *threads,
                requests: *requests,
                skip_python: *skip_python,
                json: *json,
            },
            config,
        ),
        BenchCommand::Serve { data, dataset, rate, seconds, connections, json } => {
            serve::serve_bench(&serve::LoadPlan { rate: *rate, seconds: *seconds, connections: *connections }, data, dataset, *json, config)
        }
    }
}
