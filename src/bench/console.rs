//! `agora bench console`: how fast each console page answers with an S3-Rec data set (Beauty by
//! default) ingested, a recommender trained on it and the console logged in; sequential
//! requests over one keep-alive connection, each page's p50/p99/max beside the 200 ms target.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use agora_agents::fuser::RECOMMENDER_MODEL;
use agora_core::config::{AgoraConfig, EncoderChoice};
use agora_core::plugin::PluginHost;
use agora_core::store::{encode, Store};
use agora_recommend::train::train;
use agora_recommend::ModelPlugins;
use anyhow::{bail, Context};
use serde_json::json;

use super::serve::{start_server, wait_until_serving, Connection};
use crate::app::open_store;
use crate::eval::recommend::{benchmark, ingest_s3rec_into};

/// Every page must answer within this, milliseconds (issue #7).
const TARGET_MS: f64 = 200.0;
/// Requests per page before measuring.
const WARM_UP: usize = 3;

/// Ingests, trains, serves and times every console page `requests` times.
///
/// # Errors
/// The data set is missing, a page does not answer 200, or the server does not start.
pub fn console_bench(data_dir: &Path, dataset: &str, requests: usize, json: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    let Some(bench) = benchmark(dataset) else { bail!("unknown dataset {dataset:?} for `bench console`; valid: beauty, sports, lastfm") };
    if requests == 0 {
        bail!("--requests must be at least 1");
    }
    let work = tempfile::Builder::new().prefix("agora-bench-console").tempdir()?;
    let (data, mut serve_config) = ingest_s3rec_into(&bench, data_dir, &work.path().join("store.sled"), config)?;
    let host = PluginHost::new(serve_config.plugins.dirs.clone());
    eprintln!("training {} on {} ...", config.recommend.components.join(", "), bench.stem);
    let snapshot = train(&ModelPlugins::open(&host, &config.recommend)?, &config.recommend, &data, &mut |_, _, _| {})?;
    open_store(&serve_config)?.save_model(RECOMMENDER_MODEL, &encode(&snapshot)?)?;
    let (user, item) = (data.catalog.user_ids[0].clone(), data.catalog.item_ids[0].clone());
    drop((data, snapshot));

    let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
    serve_config.recommend = config.recommend.clone();
    serve_config.recommend.retrain_every_s = 0;
    serve_config.analytics.refresh_ms = 24 * 3_600_000;
    serve_config.qa.encoder = EncoderChoice::Hashing;
    serve_config.console.admin_token = Some(token.clone());
    let (address, server) = start_server(serve_config)?;
    wait_until_serving(address)?;

    let cookie = login(address, &token)?;
    let mut connection = Connection::open(address)?;
    connection.headers = format!("Cookie: {cookie}\r\n");
    let pages = [
        "/console/overview".to_string(),
        "/console/sources".to_string(),
        "/console/quality".to_string(),
        "/console/quality?source=interactions".to_string(),
        "/console/matches".to_string(),
        "/console/plugins".to_string(),
        "/console/models".to_string(),
        format!("/console/recommendations?user={user}"),
        format!("/console/recommendations?item={item}"),
        "/console/forecasts".to_string(),
        "/console/qa".to_string(),
        "/console/settings".to_string(),
        "/console/api/agents".to_string(),
    ];
    let mut rows = Vec::new();
    for page in &pages {
        let mut times = Vec::with_capacity(requests);
        for round in 0..WARM_UP + requests {
            let started = Instant::now();
            let status = connection.get(page)?;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            if status != 200 {
                bail!("{page} answered {status}: {}", String::from_utf8_lossy(&connection.body));
            }
            if round >= WARM_UP {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        rows.push(json!({ "page": page, "requests": requests, "bytes": connection.body.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0) }));
    }
    server.stop();
    let slowest = rows.iter().filter_map(|row| row["max_ms"].as_f64()).fold(0.0, f64::max);
    let results = json!({ "dataset": bench.stem, "pages": rows, "target_ms": TARGET_MS, "all_under_target": slowest < TARGET_MS });
    if json {
        println!("{results}");
        return Ok(());
    }
    println!("console pages, {} ingested and trained, one keep-alive connection, {requests} sequential requests per page\n", bench.stem);
    println!("| page | bytes | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            row["page"].as_str().unwrap_or(""),
            row["bytes"],
            row["p50_ms"].as_f64().unwrap_or(f64::NAN),
            row["p99_ms"].as_f64().unwrap_or(f64::NAN),
            row["max_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!("\ntarget: every page under {TARGET_MS} ms — {}", if slowest < TARGET_MS { "met" } else { "NOT met" });
    Ok(())
}

/// Logs in with the admin token and returns the session cookie (`name=value`).
fn login(address: std::net::SocketAddr, token: &str) -> anyhow::Result<String> {
    let body = format!("user=bench&password={token}&next=/console/overview");
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "POST /console/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie")))
        .and_then(|(_, value)| value.trim().split(';').next().map(str::to_string))
        .context("the console login did not set a session cookie")
}
