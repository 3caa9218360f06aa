//! Forecasting: the Forecast agent serving the generated shop's sales over HTTP (intervals around
//! the point forecast, category fallback for new items, errors, the stored set), `agora eval
//! forecast` on M4 Weekly and CDNOW, and `agora bench forecast` beside statsforecast.

use std::time::{Duration, Instant};

use actix_web::{test as web_test, App};
use agora::app::Node;
use agora_agents::forecaster::load_stored;
use agora_agents::RefreshForecasts;
use agora_core::config::ForecastConfig;
use agora_core::plugin::PluginHost;
use agora_sales::ensemble::Member;
use agora_sales::forecasts::forecast_all;
use agora_sales::{Granularity, SalesData};
use serde_json::Value;

use crate::cli::{agora, last_json, recorded_runs, run_eval};
use crate::common::{root, shared_data, wait_for_agent, TestShop};

/// Checks every forecast point: lower ≤ mean ≤ upper, all finite, dated one period apart.
fn check_points(body: &Value, horizon: usize) {
    let points = body["forecast"].as_array().unwrap_or_else(|| panic!("no forecast: {body}"));
    assert_eq!(points.len(), horizon, "{body}");
    for point in points {
        let (lower, mean, upper) = (point["lower"].as_f64().unwrap(), point["mean"].as_f64().unwrap(), point["upper"].as_f64().unwrap());
        assert!(lower <= mean && mean <= upper && lower >= 0.0, "the interval contains the point forecast: {point}");
    }
    assert!(points[0]["period_start"].as_str().unwrap() < points[1]["period_start"].as_str().unwrap(), "{body}");
}

#[actix_rt::test]
async fn forecasts_are_served_with_intervals_history_fallbacks_and_errors() {
    let shop = TestShop::small(73);
    // A catalogue item that never sold: it gets a share of its category's forecast.
    let catalog = shop.shop_dir().join("catalog.csv");
    let mut bytes = std::fs::read(&catalog).unwrap();
    bytes.extend_from_slice(b"SKU-09999,Brand new thing,A new arrival,Nordwind,Sports > Running,10.00,yes,red,M\n");
    std::fs::write(&catalog, bytes).unwrap();
    let mut config = shop.config();
    config.recommend.enabled = false;
    config.forecast.refresh_every_s = 0;
    let forecast_config = config.forecast.clone();
    let node = Node::start(config, false).unwrap();
    for source in ["orders", "catalog"] {
        let read = shop.manifest.sources[source].read;
        wait_for_agent(&node, &format!("ingest:{source}"), Duration::from_secs(60), |state| state.processed >= read).await;
    }
    // Forecast again once everything is in, and wait for that set to serve.
    let expected = SalesData::from_store(node.store.as_ref(), &forecast_config).unwrap().stats.data_version;
    let (forecaster, handle) = node.forecast.clone().expect("the forecast agent runs under serve");
    let started = Instant::now();
    while handle.current().is_none_or(|set| set.data_version != expected) {
        let _ = forecaster.send(RefreshForecasts).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(120), "no forecasts made from all the sales");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let set = handle.current().unwrap();
    let app = web_test::init_service(App::new().configure(agora::http::configure(node.clone()))).await;

    // The whole shop, weekly units by default, 95% interval, with the history used.
    let (status, total) = get!(&app, "/api/v1/forecasts?total");
    assert_eq!(status, 200, "{total}");
    check_points(&total, forecast_config.weekly_horizon);
    assert_eq!(
        (total["granularity"].as_str(), total["metric"].as_str(), total["interval"].as_u64()),
        (Some("week"), Some("units"), Some(95))
    );
    assert!(total["history"].as_array().unwrap().len() >= 8, "{total}");
    assert_eq!(total["model_version"]["members"], serde_json::json!(["classic:forecast.auto"]));
    assert!(total["model_version"]["fitted"]["validation"].is_array(), "forecast.auto says what it chose: {total}");
    assert_eq!(total["data_version"], expected.as_str());
    assert!(total["fallback"].is_null());

    // Daily revenue for a category, 80% interval, a shorter horizon; the 80% band sits inside the 95% one.
    let (status, daily) = get!(&app, "/api/v1/forecasts?category=Sports&granularity=day&metric=revenue&interval=80&horizon=7");
    assert_eq!(status, 200, "{daily}");
    check_points(&daily, 7);
    let (_, daily95) = get!(&app, "/api/v1/forecasts?category=Sports&granularity=day&metric=revenue&horizon=7");
    for (p80, p95) in daily["forecast"].as_array().unwrap().iter().zip(daily95["forecast"].as_array().unwrap()) {
        assert!(p95["lower"].as_f64() <= p80["lower"].as_f64() && p80["upper"].as_f64() <= p95["upper"].as_f64(), "{p80} {p95}");
    }

    // An item with its own history, and the never-sold one on its category's share.
    let sold = set
        .forecasts
        .iter()
        .find_map(|((_, _, scope), found)| match scope {
            agora_sales::Scope::Item(id) if found.fallback.is_none() => Some(id.clone()),
            _ => None,
        })
        .expect("some item sells often enough for a model of its own");
    let (status, item) = get!(&app, &format!("/api/v1/forecasts?item={sold}"));
    assert_eq!(status, 200, "{item}");
    check_points(&item, forecast_config.weekly_horizon);
    let (status, fresh) = get!(&app, "/api/v1/forecasts?item=9999");
    assert_eq!(status, 200, "{fresh}");
    check_points(&fresh, forecast_config.weekly_horizon);
    assert!(fresh["fallback"].as_str().unwrap().contains("category \"Running\""), "{fresh}");
    assert!(fresh["history"].as_array().unwrap().is_empty(), "{fresh}");
    let (_, running) = get!(&app, "/api/v1/forecasts?category=Running");
    let share = fresh["forecast"][0]["mean"].as_f64().unwrap() / running["forecast"][0]["mean"].as_f64().unwrap();
    assert!(share > 0.0 && share < 0.5, "a share of the category: {share}");

    // Errors: 404 for what has no sales or catalogue entry, 400 for bad parameters, all JSON.
    for (uri, status, message) in [
        ("/api/v1/forecasts?item=no-such-item", 404, "no sales or catalogue entry"),
        ("/api/v1/forecasts?item=1&total", 400, "exactly one of"),
        ("/api/v1/forecasts", 400, "exactly one of"),
        ("/api/v1/forecasts?total&interval=90", 400, "interval must be 80 or 95"),
        ("/api/v1/forecasts?total&horizon=500", 400, "horizon must be between 1 and 13"),
        ("/api/v1/forecasts?total&granularity=month", 400, "not day or week"),
        ("/api/v1/forecasts?total&metric=profit", 400, "not units or revenue"),
        ("/api/v1/forecasts?total&colour=red", 400, "unknown field"),
    ] {
        let (got, body) = get!(&app, uri);
        assert_eq!(got, status, "{uri}: {body}");
        assert!(body["message"].as_str().unwrap().contains(message), "{uri}: {body}");
    }

    // The set is in sled with its versions, so a restart serves it without forecasting again.
    let stored = load_stored(node.store.as_ref()).unwrap().expect("stored");
    assert_eq!(stored.data_version, expected);
    assert_eq!(stored.models, set.models);
}

#[actix_rt::test]
async fn new_sales_are_forecast_again_without_being_asked() {
    let shop = TestShop::small(74);
    let mut config = shop.config();
    config.recommend.enabled = false;
    config.server.ingest_token = Some("tok".into());
    config.forecast.refresh_every_s = 0;
    config.forecast.refresh_after_sales_s = 1;
    config.forecast.purchase_events = true;
    let forecast_config = config.forecast.clone();
    let node = Node::start(config, false).unwrap();
    for source in ["orders", "events", "catalog"] {
        let read = shop.manifest.sources[source].read;
        wait_for_agent(&node, &format!("ingest:{source}"), Duration::from_secs(60), |state| state.processed >= read).await;
    }
    let (_, handle) = node.forecast.clone().unwrap();
    // Only the Clean agents' NewSales messages drive the refreshes here (no schedule, no RefreshForecasts).
    let caught_up = |expected: String| {
        let handle = handle.clone();
        async move {
            let started = Instant::now();
            while handle.current().is_none_or(|set| set.data_version != expected) {
                assert!(started.elapsed() < Duration::from_secs(60), "the forecasts never caught up with the sales");
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    caught_up(SalesData::from_store(node.store.as_ref(), &forecast_config).unwrap().stats.data_version).await;
    let before = handle.current().unwrap();

    // A purchase pushed through the API changes the sales, and the forecasts follow.
    let app = web_test::init_service(App::new().configure(agora::http::configure(node.clone()))).await;
    let body = r#"{"user":"U7","item":"SKU-00003","type":"purchase","ts":"2024-12-30T10:00:00Z","session":"w1"}"#;
    let request = web_test::TestRequest::post()
        .uri("/api/v1/ingest/web")
        .insert_header(("Authorization", "Bearer tok"))
        .set_payload(body)
        .to_request();
    let pushed: Value = web_test::call_and_read_body_json(&app, request).await;
    assert_eq!(pushed["accepted"], 1, "{pushed}");
    let after = SalesData::from_store(node.store.as_ref(), &forecast_config).unwrap();
    assert_ne!(after.stats.data_version, before.data_version);
    assert!(after.stats.purchase_events > 0, "purchase events count as sales here");
    caught_up(after.stats.data_version).await;
    assert!(handle.current().unwrap().generated_at > before.generated_at);
}

#[test]
fn an_ensemble_across_tasks_keeps_what_does_best_on_held_out_days() {
    // 20 weeks of daily sales with a strong weekly pattern: the seasonal naive forecast wins.
    let day_ms = 86_400_000;
    let start = 1_704_067_200_000; // 2024-01-01, a Monday
    let pattern = [1.0, 1.0, 2.0, 2.0, 8.0, 12.0, 3.0];
    let sales: Vec<(i64, &str, f64, f64)> = (0..140)
        .flat_map(|day| ["a", "b"].map(move |item| (start + day * day_ms + 3_600_000, item, pattern[day as usize % 7], 10.0)))
        .collect();
    let data = SalesData::from_sales(&[("a", &["Home"]), ("b", &["Home"])], &sales);
    let plugin = PluginHost::new(vec![crate::common::plugin_dir()]).model("classic").unwrap();
    let member = |task: &str| Member { plugin: &plugin, task: task.into(), params: "{}".into() };
    let config = ForecastConfig { daily_horizon: 14, weekly_horizon: 4, ..ForecastConfig::default() };
    let set = forecast_all(&[member("forecast.naive"), member("forecast.snaive")], &config, &data, &mut |_, _, _| {}).unwrap();
    let daily = &set.models[&Granularity::Day];
    assert_eq!(daily.members, ["classic:forecast.snaive"], "{daily:?}");
    let table: Value = serde_json::from_str(daily.description.as_deref().unwrap()).unwrap();
    assert_eq!(table.as_array().unwrap().len(), 3, "naive, snaive and their mean were scored: {table}");
    assert!(table[0]["relative_error"].as_f64().unwrap() < 0.1, "{table}");
    let total = set.get(Granularity::Day, agora_sales::Metric::Units, &agora_sales::Scope::Total).unwrap();
    assert_eq!(total.forecast.mean[..7], [2.0, 2.0, 4.0, 4.0, 16.0, 24.0, 6.0], "the weekly pattern continues");
}

#[test]
fn m4_weekly_evaluation_reproduces_naive2_and_the_ensemble_beats_it() {
    let Some(data) = shared_data("m4-weekly", "Weekly-train.csv") else { return };
    // All 359 series with the cheap models: Naive2 must match the published 9.161 / 2.777.
    let (results, dir) = run_eval("forecast", &data, "m4-weekly", &["--model", "naive"]);
    assert_eq!(results["series"], 359);
    assert_eq!(results["naive2_reproduces_published"], true, "{results}");
    assert_eq!(recorded_runs(&dir)[0].kind, "forecast");
    // The served ensemble on the first 60 series of the test set.
    let (results, _) = run_eval("forecast", &data, "m4-weekly", &["--model", "auto", "--series", "60"]);
    let auto = &results["models"].as_array().unwrap()[1];
    assert_eq!(auto["model"], "forecast.auto");
    assert!(auto["owa"].as_f64().unwrap() < 0.85, "{auto}");
    assert!(auto["coverage95"].as_f64().unwrap() > 0.85, "the 95% intervals cover most held-out weeks: {auto}");
    assert!(auto["fitted"]["validation"][0][1][0]["owa"].as_f64().unwrap() < 1.0, "{auto}");
}

#[test]
fn cdnow_weekly_spend_is_forecast_from_ingested_orders() {
    let Some(data) = shared_data("cdnow", "CDNOW_master.txt") else { return };
    let (results, _) = run_eval("forecast", &data, "cdnow", &["--model", "auto,theta"]);
    // Every line of the cohort entered through ingestion; 1997-01-01 .. 1998-06-28 is 78 full weeks.
    assert_eq!(results["order_lines"], 69_659, "{results}");
    assert_eq!((results["weeks"].as_u64(), results["first_week"].as_str()), (Some(78), Some("1996-12-30")), "{results}");
    let models: Vec<&str> = results["models"].as_array().unwrap().iter().map(|row| row["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["forecast.naive", "forecast.auto", "forecast.theta"]);
    for row in results["models"].as_array().unwrap() {
        let (smape, mase) = (row["smape"].as_f64().unwrap(), row["mase"].as_f64().unwrap());
        assert!(smape > 0.0 && smape < 60.0 && mase > 0.0 && mase < 2.0, "{row}");
    }
}

#[test]
fn the_torch_plugin_forecasts_through_the_host() {
    let library =
        root().join("plugins/model-torch/target/release").join(format!("libagora_model_torch.{}", std::env::consts::DLL_EXTENSION));
    let data = root().join("../shared/data/m4-weekly");
    if !library.exists() || !data.exists() {
        assert!(std::env::var_os("AGORA_REQUIRE_OPTIONAL").is_none(), "{} or {} is missing", library.display(), data.display());
        eprintln!("skipped: run scripts/setup-torch.sh for the torch plugin");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agora.toml");
    let dirs = [crate::common::plugin_dir(), library.parent().unwrap().to_path_buf()].map(|dir| dir.display().to_string());
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n[plugins]\ndirs = {dirs:?}\n", dir.path().join("main.sled").display().to_string()),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap(), "eval", "forecast", "--data", data.to_str().unwrap(), "--dataset", "m4-weekly"];
    let output =
        agora(&[&args[..], &["--plugin", "torch", "--model", "nbeats", "--params", r#"{"epochs": 5}"#, "--holdout", "--json"]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results = last_json(&output);
    let nbeats = &results["models"][1];
    assert_eq!(nbeats["model"], "forecast.nbeats", "{results}");
    assert!(nbeats["owa"].as_f64().unwrap() < 1.0, "the deep model beats Naive2 on held-out weeks: {nbeats}");
    assert!(nbeats["coverage95"].as_f64().unwrap() > 0.8, "{nbeats}");
}

#[test]
fn bench_forecast_compares_with_statsforecast_in_one_run() {
    let python = root().join(".venv-forecast/bin/python");
    let data = root().join("../shared/data/m4-weekly");
    if !python.exists() || !data.exists() {
        // CI sets AGORA_REQUIRE_OPTIONAL after installing the venv, so there this cannot be skipped.
        assert!(std::env::var_os("AGORA_REQUIRE_OPTIONAL").is_none(), "{} or {} is missing", python.display(), data.display());
        eprintln!("skipped: run scripts/setup-python.sh for the statsforecast venv");
        return;
    }
    let output = agora(&["bench", "forecast", "--data", data.to_str().unwrap(), "--series", "3", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results = last_json(&output);
    let rows: Vec<&str> = results["rows"].as_array().unwrap().iter().map(|row| row["model"].as_str().unwrap()).collect();
    assert_eq!(rows[0], "agora forecast.auto");
    assert!(rows.iter().any(|row| row.starts_with("statsforecast mean(")), "{rows:?}");
    assert!(results["statsforecast_ensemble_cpu_seconds"].as_f64().unwrap() > 0.0, "{results}");
    assert!(results["targets"]["at_least_5x_faster"].is_boolean(), "{results}");
}
