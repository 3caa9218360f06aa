//! The command line: `agora ingest | train | serve | quality | plugins | generate | eval | bench | digest`.
//! Every command with `--json` prints one JSON object on the last line of stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpServer};
use agora_agents::{Shutdown, WaitForCompletion};
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::app::{open_store, quality_report, Node};
use crate::generate::{generate_shop, ShopSize};

/// Agora: fuse a shop's data sources; serve recommendations, forecasts and chatbot answers.
#[derive(Parser, Debug)]
#[command(name = "agora", version, about)]
pub struct Cli {
    /// Config file (TOML); `AGORA__SECTION__KEY` variables override it.
    #[arg(long, short, global = true, env = "AGORA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ingest every configured source into the store.
    Ingest {
        /// Stop when every source is caught up (otherwise follow sources until Ctrl-C).
        #[arg(long)]
        once: bool,
        #[arg(long)]
        json: bool,
    },
    /// Train the recommendation models on the store and keep the snapshot `serve` starts from.
    Train {
        #[arg(long)]
        json: bool,
    },
    /// Run the pipeline and serve the HTTP API and /metrics.
    Serve,
    /// Print the data-quality report of the store.
    Quality {
        #[arg(long)]
        json: bool,
    },
    /// Inspect plugins.
    Plugins {
        #[command(subcommand)]
        action: PluginsAction,
    },
    /// Write generated data sets.
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
    /// Evaluations on public data sets, printed beside the published results.
    Eval {
        #[command(subcommand)]
        what: crate::eval::EvalCommand,
    },
    /// Whole-system benchmarks that print a table.
    Bench {
        #[command(subcommand)]
        what: crate::bench::BenchCommand,
    },
    /// Print the store's content digest (records, quarantine, counters; ingest times excluded).
    Digest {
        #[arg(long)]
        json: bool,
    },
    /// Read a password from standard input and print its hash for `console.password_hash`.
    ConsolePassword,
}

#[derive(Subcommand, Debug)]
enum PluginsAction {
    /// List every plugin found in the plugin directories.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum GenerateWhat {
    /// A small, deliberately dirty shop (catalogue CSV, events JSONL, orders CSV) and its ledger.
    Shop {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = ShopSize::DEMO.items)]
        items: usize,
        #[arg(long, default_value_t = ShopSize::DEMO.events)]
        events: usize,
        #[arg(long, default_value_t = ShopSize::DEMO.orders)]
        orders: usize,
        #[arg(long, default_value_t = ShopSize::DEMO.dirty_rate)]
        dirty_rate: f64,
        #[arg(long)]
        json: bool,
    },
}

/// Runs the CLI and maps errors to an exit code (and a JSON error line with `--json`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,agora=info".into()))
        .with_writer(std::io::stderr)
        .init();
    let json = cli.wants_json();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if json {
                println!("{}", json!({ "error": format!("{err:#}") }));
            }
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    fn wants_json(&self) -> bool {
        match &self.command {
            Command::Ingest { json, .. } | Command::Quality { json } | Command::Digest { json } | Command::Train { json } => *json,
            Command::Plugins { action: PluginsAction::List { json } } => *json,
            Command::Generate { what: GenerateWhat::Shop { json, .. } } => *json,
            Command::Bench { what } => what.json(),
            Command::Eval { what } => what.json(),
            Command::Serve | Command::ConsolePassword => false,
        }
    }

    fn load_config(&self) -> anyhow::Result<AgoraConfig> {
        Ok(AgoraConfig::load(self.config.as_deref(), std::env::vars())?)
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Ingest { once, json } => ingest(cli.load_config()?, *once, *json),
        Command::Train { json } => crate::train::run(&cli.load_config()?, *json),
        Command::Serve => serve(cli.load_config()?),
        Command::Quality { json } => {
            let config = cli.load_config()?;
            let report = quality_report(&open_store(&config)?)?;
            if *json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        Command::Digest { json } => {
            let config = cli.load_config()?;
            let digest = agora_core::store::Store::digest(&open_store(&config)?)?;
            if *json {
                println!("{}", serde_json::to_string(&digest)?);
            } else {
                println!("{digest:#?}");
            }
            Ok(())
        }
        Command::Plugins { action: PluginsAction::List { json } } => list_plugins(&cli.load_config()?, *json),
        Command::Generate { what: GenerateWhat::Shop { out, seed, items, events, orders, dirty_rate, json } } => {
            let size = ShopSize { items: *items, events: *events, orders: *orders, dirty_rate: *dirty_rate };
            let manifest = generate_shop(out, *seed, size).with_context(|| format!("cannot write the shop into {}", out.display()))?;
            if *json {
                println!("{}", serde_json::to_string(&manifest)?);
            } else {
                println!("wrote a shop (seed {seed}) into {}; its ledger is manifest.json", out.display());
            }
            Ok(())
        }
        Command::Bench { what } => crate::bench::run(what, &cli.load_config()?),
        Command::Eval { what } => crate::eval::run(what, &cli.load_config()?),
        Command::ConsolePassword => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(password.chars().count() >= 8, "use a password of at least 8 characters");
            println!("{}", crate::console::hash_password(password));
            Ok(())
        }
    }
}

fn list_plugins(config: &AgoraConfig, json: bool) -> anyhow::Result<()> {
    let host = PluginHost::new(config.plugins.dirs.clone());
    let (plugins, errors) = host.discover();
    if json {
        let refused: Vec<String> = errors.iter().map(ToString::to_string).collect();
        println!("{}", json!({ "plugins": plugins, "refused": refused }));
        return Ok(());
    }
    println!("{:<14} {:<9} {:<7} {:<24} file", "name", "version", "kind", "capabilities");
    for plugin in &plugins {
        println!(
            "{:<14} {:<9} {:<7} {:<24} {}",
            plugin.name,
            plugin.version,
            plugin.kind,
            plugin.capabilities.join(","),
            plugin.file.display()
        );
    }
    for error in &errors {
        println!("refused: {error}");
    }
    if plugins.is_empty() {
        println!("no plugins in {:?}: build them with `cargo build --workspace`", config.plugins.dirs);
    }
    Ok(())
}

/// Ingests until caught up (`once`) or until Ctrl-C, with a progress bar per source.
fn ingest(config: AgoraConfig, once: bool, json: bool) -> anyhow::Result<()> {
    let system = actix::System::new();
    system.block_on(async move {
        let node = Node::start(config, once)?;
        let bars = spawn_progress(node.clone());
        let outcome = if once {
            node.supervisor.send(WaitForCompletion).await?
        } else {
            actix_web::rt::signal::ctrl_c().await?;
            Ok(())
        };
        bars.abort();
        node.supervisor.send(Shutdown).await??;
        let report = quality_report(node.store.as_ref())?;
        if json {
            println!("{}", json!({ "quality": report, "errors": outcome.as_ref().err() }));
        } else {
            print!("{}", report.to_text());
        }
        outcome.map_err(anyhow::Error::msg)
    })
}

/// Shows one progress bar per source, fed from the agents' states, until aborted.
fn spawn_progress(node: Node) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{prefix:>18} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let mut bars: Vec<(String, ProgressBar)> = Vec::new();
        loop {
            if let Ok(state) = node.pipeline_state().await {
                for agent in state.agents.iter().filter(|agent| agent.role == "ingest") {
                    let bar = match bars.iter().find(|(name, _)| *name == agent.name) {
                        Some((_, bar)) => bar.clone(),
                        None => {
                            let bar = multi.add(ProgressBar::new(0).with_style(style.clone()).with_prefix(agent.name.clone()));
                            bars.push((agent.name.clone(), bar.clone()));
                            bar
                        }
                    };
                    if let Some((done, total)) = agent.progress {
                        bar.set_length(total.max(done));
                        bar.set_position(done);
                    }
                    bar.set_message(format!("{} records, {:?}", agent.processed, agent.status));
                }
            }
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Runs the pipeline and the HTTP server until Ctrl-C or SIGTERM.
fn serve(config: AgoraConfig) -> anyhow::Result<()> {
    let bind = config.server.bind.clone();
    let system = actix::System::new();
    system.block_on(async move {
        let node = Node::start(config, false)?;
        let app_node = node.clone();
        let server = HttpServer::new(move || App::new().configure(crate::http::configure(app_node.clone())))
            .bind(&bind)
            .with_context(|| format!("cannot listen on {bind} (server.bind)"))?
            .run();
        tracing::info!(%bind, "serving the API on http://{bind}/api/v1, metrics on http://{bind}/metrics, the console on http://{bind}/console");
        eprintln!("agora is serving on http://{bind} (API under /api/v1, metrics at /metrics, admin console at /console); Ctrl-C stops it");
        server.await?;
        node.supervisor.send(Shutdown).await??;
        Ok(())
    })
}
