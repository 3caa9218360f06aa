//! `agora bench serve`: recommendation latency over HTTP on loopback. An S3-Rec data set goes
//! through ingestion and training, the snapshot is stored, and `agora serve`'s app loads it; a
//! load generator (plain keep-alive HTTP/1.1 over TCP) then sends a fixed rate of requests for
//! random users, measuring each from its scheduled send time (so a stalled server cannot hide
//! its queueing), and finally runs flat out to find the throughput ceiling.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use agora_agents::fuser::RECOMMENDER_MODEL;
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::{encode, Store};
use agora_recommend::train::train;
use agora_recommend::ModelPlugins;
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::app::{open_store, Node};
use crate::eval::recommend::{benchmark, ingest_s3rec};

/// Gorse's published serving latencies, as quoted in the issue that asked for this benchmark
/// (Gorse's benchmark documentation): a cached top-100 recommendation and an item-based one.
const GORSE_PUBLISHED: [(&str, f64); 2] = [("gorse cached top-100 (published)", 0.50), ("gorse item-based (published)", 4.35)];

/// How hard and how long to load the server.
pub struct LoadPlan {
    pub rate: u32,
    pub seconds: u64,
    pub connections: usize,
}

/// What one load run measured.
#[derive(Debug, Serialize)]
struct RunReport {
    name: String,
    requests: usize,
    errors: usize,
    seconds: f64,
    requests_per_second: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub fn serve_bench(plan: &LoadPlan, data_dir: &Path, dataset: &str, json: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    let Some(bench) = benchmark(dataset) else {
        bail!("unknown dataset {dataset:?} for `bench serve`; valid: beauty, sports, lastfm");
    };
    if plan.rate == 0 || plan.seconds == 0 || plan.connections == 0 {
        bail!("--rate, --seconds and --connections must be at least 1");
    }
    let (data, ingest_config) = ingest_s3rec(&bench, data_dir, config)?;
    let host = PluginHost::new(ingest_config.plugins.dirs.clone());
    let plugins = ModelPlugins::open(&host, &config.recommend)?;
    eprintln!("training {} on all of {} ...", config.recommend.components.join(", "), bench.stem);
    let started = Instant::now();
    let snapshot = train(&plugins, &config.recommend, &data, &mut |_, _, _| {})?;
    let train_seconds = started.elapsed().as_secs_f64();

    // A serving store holding only the snapshot; the node loads it instead of training.
    let work = tempfile::Builder::new().prefix("agora-bench-serve").tempdir()?;
    let mut serve_config =
        AgoraConfig { plugins: ingest_config.plugins.clone(), recommend: config.recommend.clone(), ..AgoraConfig::default() };
    serve_config.store.path = work.path().join("serve.sled");
    serve_config.recommend.retrain_every_s = 0;
    serve_config.analytics.refresh_ms = 24 * 3_600_000;
    {
        let store = open_store(&serve_config)?;
        store.save_model(RECOMMENDER_MODEL, &encode(&snapshot)?)?;
    }
    let users = data.catalog.user_ids.clone();
    drop((data, snapshot));

    let (address, server) = start_server(serve_config)?;
    wait_until_serving(address)?;
    let mut rng = StdRng::seed_from_u64(7);
    let paths: Vec<String> =
        (0..4096).map(|_| format!("/api/v1/users/{}/recommendations?k=10", users[rng.gen_range(0..users.len())])).collect();
    eprintln!("warming up, then {} requests/s for {} s over {} connections ...", plan.rate, plan.seconds, plan.connections);
    load(address, &paths, Schedule::Closed { requests: 500 }, plan.connections, "warm-up")?;
    let fixed = load(
        address,
        &paths,
        Schedule::Fixed { rate: plan.rate, requests: plan.rate as usize * plan.seconds as usize },
        plan.connections,
        &format!("agora, {} req/s fixed rate", plan.rate),
    )?;
    eprintln!("flat out for {} s ...", plan.seconds);
    let flat_out = load(address, &paths, Schedule::For { seconds: plan.seconds }, plan.connections, "agora, flat out")?;
    server.stop();

    let results = json!({
        "dataset": bench.stem,
        "users": users.len(),
        "train_seconds": train_seconds,
        "connections": plan.connections,
        "runs": [fixed, flat_out],
        "published": GORSE_PUBLISHED.iter().map(|(name, latency)| json!({"name": name, "latency_ms": latency})).collect::<Vec<_>>(),
        "target": {"p99_ms_below": 5.0, "at_rate": 1000, "errors": 0},
    });
    if json {
        println!("{results}");
        return Ok(());
    }
    println!("recommendation serving, {} ({} users), GET /api/v1/users/{{id}}/recommendations?k=10 on loopback", bench.stem, users.len());
    println!(
        "model trained in {train_seconds:.1} s; {} keep-alive connections; latency from each request's scheduled time\n",
        plan.connections
    );
    println!("| run | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in [&fixed, &flat_out] {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            run.name, run.requests, run.errors, run.requests_per_second, run.p50_ms, run.p90_ms, run.p99_ms, run.max_ms
        );
    }
    for (name, latency) in GORSE_PUBLISHED {
        println!("| {name} | | | | {latency:.2} | | | |");
    }
    println!("\ntarget: p99 under 5 ms at 1000 requests/s with zero errors");
    Ok(())
}

/// A running server and the means to stop it.
pub(super) struct Server {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub(super) fn stop(mut self) {
        futures::executor::block_on(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a node and the HTTP app on 127.0.0.1 (a free port) in its own actix system.
pub(super) fn start_server(config: AgoraConfig) -> anyhow::Result<(SocketAddr, Server)> {
    let (sender, receiver) = mpsc::channel();
    let thread = std::thread::spawn(move || -> anyhow::Result<()> {
        let system = actix::System::new();
        system.block_on(async move {
            let node = Node::start(config, false)?;
            let app_node = node.clone();
            let server =
                HttpServer::new(move || App::new().configure(crate::http::configure(app_node.clone()))).workers(2).bind("127.0.0.1:0")?;
            let address = server.addrs()[0];
            let server = server.run();
            let _ = sender.send((address, server.handle()));
            server.await?;
            Ok(())
        })
    });
    let (address, handle) = receiver.recv_timeout(Duration::from_secs(60)).context("the server did not start")?;
    Ok((address, Server { handle, thread: Some(thread) }))
}

pub(super) fn wait_until_serving(address: SocketAddr) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut connection = Connection::open(address)?;
    loop {
        if connection.get("/api/v1/models/recommender").map(|status| status == 200).unwrap_or(false) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the stored model was not served within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
        connection = Connection::open(address)?;
    }
}

/// When requests go out.
#[derive(Clone, Copy)]
enum Schedule {
    /// `requests` evenly spaced at `rate` per second.
    Fixed { rate: u32, requests: usize },
    /// Back to back for `seconds`.
    For { seconds: u64 },
    /// `requests` back to back.
    Closed { requests: usize },
}

fn load(address: SocketAddr, paths: &[String], schedule: Schedule, connections: usize, name: &str) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|worker| {
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = 0usize;
                    let mut connection = Connection::open(address).ok();
                    let mut index = worker;
                    loop {
                        let scheduled = match schedule {
                            Schedule::Fixed { rate, requests } if index < requests => {
                                started + Duration::from_secs_f64(index as f64 / f64::from(rate))
                            }
                            Schedule::Closed { requests } if index < requests => Instant::now(),
                            Schedule::For { seconds } if started.elapsed() < Duration::from_secs(seconds) => Instant::now(),
                            _ => break,
                        };
                        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let ok = match connection.as_mut().map(|conn| conn.get(&paths[index % paths.len()])) {
                            Some(Ok(200)) => true,
                            Some(Ok(_)) => false,
                            _ => {
                                connection = Connection::open(address).ok();
                                false
                            }
                        };
                        latencies.push(scheduled.elapsed().as_secs_f64() * 1000.0);
                        errors += usize::from(!ok);
                        index += connections;
                    }
                    (latencies, errors)
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("load worker panicked")).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|(_, errors)| errors).sum();
    let mut latencies: Vec<f64> = results.into_iter().flat_map(|(latencies, _)| latencies).collect();
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies.get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN);
    Ok(RunReport {
        name: name.to_string(),
        requests: latencies.len(),
        errors,
        seconds,
        requests_per_second: latencies.len() as f64 / seconds,
        p50_ms: quantile(0.50),
        p90_ms: quantile(0.90),
        p99_ms: quantile(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    })
}

/// A keep-alive HTTP/1.1 connection that sends GETs and reads whole responses.
pub(super) struct Connection {
    reader: BufReader<TcpStream>,
    pub(super) body: Vec<u8>,
    /// Header lines sent with every request (e.g. a session cookie), each ending in CRLF.
    pub(super) headers: String,
}

impl Connection {
    pub(super) fn open(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self { reader: BufReader::new(stream), body: Vec::new(), headers: String::new() })
    }

    /// Sends one GET and returns the status code.
    pub(super) fn get(&mut self, path: &str) -> anyhow::Result<u16> {
        write!(self.reader.get_mut(), "GET {path} HTTP/1.1\r\nHost: bench\r\n{}\r\n", self.headers)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.split(' ').nth(1).and_then(|code| code.parse().ok()).context("malformed status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("connection closed mid-response");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body)?;
        Ok(status)
    }
}
