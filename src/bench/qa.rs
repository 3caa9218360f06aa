//! `agora bench qa`: the chatbot's latency per question, encoding included. The configured shop
//! is ingested into a scratch store, an engine is built with each encoder (pure-Rust hashing and,
//! when installed, MiniLM through the torch plugin), and a fixed mix of questions — FAQ
//! paraphrases, product, order and out-of-scope questions — is answered one at a time.

use std::time::Instant;

use agora_agents::responder::build_engine;
use agora_core::config::{AgoraConfig, EncoderChoice, QaConfig};
use agora_core::plugin::PluginHost;
use agora_core::store::Store;
use agora_qa::shop::{Orders, Products};
use agora_qa::{Ask, Context, Knowledge};
use anyhow::bail;
use serde_json::json;

use crate::eval::{ingest, plugin_dirs};

/// The target: p99 per question, milliseconds.
const TARGET_P99_MS: f64 = 30.0;

const OUT_OF_SCOPE: [&str; 6] = [
    "what is the capital of mongolia?",
    "can you write me a poem about the sea",
    "how many moons does jupiter have",
    "what's the weather tomorrow in lisbon",
    "explain quantum entanglement simply",
    "who won the world cup in 1998?",
];

/// Benchmarks `questions` answers per encoder; prints a table (or JSON).
///
/// # Errors
/// Ingestion fails or no engine can be built.
pub fn qa_bench(questions: usize, json: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    if questions == 0 {
        bail!("--questions must be at least 1");
    }
    let work = tempfile::Builder::new().prefix("agora-bench-qa").tempdir()?;
    let mut ingest_config = config.clone();
    ingest_config.store.path = work.path().join("store.sled");
    ingest_config.plugins.dirs = plugin_dirs(config);
    let store = ingest(ingest_config, "the shop")?;
    let mix = question_mix(store.as_ref(), questions)?;
    let host = PluginHost::new(plugin_dirs(config));
    let mut runs = Vec::new();
    for encoder in [EncoderChoice::Hashing, EncoderChoice::Minilm] {
        let qa = QaConfig { encoder, ..config.qa.clone() };
        let (engine, _) = match build_engine(store.as_ref(), &host, &qa, None) {
            Ok(built) => built,
            Err(err) if encoder == EncoderChoice::Minilm => {
                eprintln!("minilm skipped: {err}");
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        // Warm up caches and lazily initialised state.
        for (question, user) in mix.iter().take(20) {
            engine.answer(&ask(question, user.as_deref()), Context::default(), None, agora_core::now_ms())?;
        }
        let mut latencies = Vec::with_capacity(mix.len());
        let mut handoffs = 0;
        let started = Instant::now();
        for (question, user) in &mix {
            let asked = Instant::now();
            let (answer, _) = engine.answer(&ask(question, user.as_deref()), Context::default(), None, agora_core::now_ms())?;
            latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
            handoffs += usize::from(answer.handoff);
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let quantile = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        runs.push(json!({
            "encoder": engine.info().encoder,
            "questions": latencies.len(),
            "questions_per_second": latencies.len() as f64 / seconds,
            "p50_ms": quantile(0.50),
            "p90_ms": quantile(0.90),
            "p99_ms": quantile(0.99),
            "max_ms": latencies[latencies.len() - 1],
            "handoff_share": handoffs as f64 / latencies.len() as f64,
        }));
    }
    let report = json!({ "runs": runs, "target": { "p99_ms_below": TARGET_P99_MS }, "threads": 1 });
    if json {
        println!("{report}");
        return Ok(());
    }
    println!("QA latency per question (one at a time, encoding and routing included; {} questions)", mix.len());
    println!("| encoder | q/s | p50 ms | p90 ms | p99 ms | max ms | handed off |");
    println!("|---|---|---|---|---|---|---|");
    for run in &runs {
        let value = |key: &str| run[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% |",
            run["encoder"].as_str().unwrap_or("?"),
            value("questions_per_second"),
            value("p50_ms"),
            value("p90_ms"),
            value("p99_ms"),
            value("max_ms"),
            100.0 * value("handoff_share")
        );
    }
    println!("\ntarget: p99 under {TARGET_P99_MS} ms per question on CPU");
    Ok(())
}

fn ask(question: &str, user: Option<&str>) -> Ask {
    Ask { question: question.to_string(), user_id: user.map(str::to_string), conversation_id: None }
}

/// `count` questions cycling through FAQ paraphrases (each entry's own questions reworded),
/// product questions, the busiest customers' order questions and out-of-scope ones.
fn question_mix(store: &dyn Store, count: usize) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let knowledge = Knowledge::from_store(store)?;
    let Knowledge { faq, products, orders } = knowledge;
    if faq.is_empty() || products.is_empty() {
        bail!("the configured shop has no FAQ entries or no catalogue: bench qa needs both (config/agora.toml's bundled shop has them)");
    }
    let mut pool: Vec<(String, Option<String>)> = Vec::new();
    for entry in &faq {
        for question in &entry.questions {
            pool.push((format!("hi, {} thanks", question.to_lowercase().trim_end_matches('?')), None));
        }
    }
    pool.extend(product_questions(&products));
    pool.extend(order_questions(&orders));
    pool.extend(OUT_OF_SCOPE.iter().map(|question| (question.to_string(), None)));
    Ok(pool.iter().cycle().take(count).cloned().collect())
}

fn product_questions(products: &Products) -> Vec<(String, Option<String>)> {
    let templates = ["how much is the {}?", "is the {} in stock?", "who makes the {}?", "tell me about the {}"];
    (0..products.len().min(50))
        .filter_map(|index| products.item(index).title.clone())
        .zip(templates.iter().cycle())
        .map(|(title, template)| (template.replace("{}", &title), None))
        .collect()
}

fn order_questions(orders: &Orders) -> Vec<(String, Option<String>)> {
    let mut users: Vec<(&str, &[agora_qa::shop::OrderSummary])> = orders.iter().collect();
    users.sort_by_key(|(user, orders)| (std::cmp::Reverse(orders.len()), user.to_string()));
    users
        .into_iter()
        .take(20)
        .flat_map(|(user, orders)| {
            [
                (format!("where is my order {}?", orders[0].order_id), Some(user.to_string())),
                ("what did I buy last month?".to_string(), Some(user.to_string())),
            ]
        })
        .collect()
}
