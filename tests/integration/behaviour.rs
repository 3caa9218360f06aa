//! User-behaviour analysis: the Analyst's HTTP routes on the generated shop, and
//! `agora eval behaviour` on CDNOW against the published parameters.

use std::time::Duration;

use actix_web::{test as web_test, App};
use agora::app::Node;
use serde_json::Value;

use crate::cli::{recorded_runs, run_eval};
use crate::common::{shared_data, wait_for_agent, TestShop};

#[actix_rt::test]
async fn profiles_funnels_and_cohorts_are_served() {
    let shop = TestShop::small(61);
    let mut config = shop.config();
    config.analytics.refresh_ms = 300;
    let node = Node::start(config, false).unwrap();
    let orders = shop.manifest.sources["orders"].accepted;
    for source in ["orders", "events", "catalog"] {
        let read = shop.manifest.sources[source].read;
        wait_for_agent(&node, &format!("ingest:{source}"), Duration::from_secs(30), |state| state.processed >= read).await;
    }
    let app = web_test::init_service(App::new().configure(agora::http::configure(node))).await;
    // Poll until a refresh that started after everything was committed has finished.
    let events = shop.manifest.sources["events"].accepted;
    let started = std::time::Instant::now();
    let summary: Value = loop {
        let response = web_test::call_service(&app, web_test::TestRequest::get().uri("/api/v1/analytics/summary").to_request()).await;
        if response.status() == 200 {
            let summary: Value = web_test::read_body_json(response).await;
            if summary["events"].as_u64() == Some(events) && summary["order_lines"].as_u64() == Some(orders) {
                break summary;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the analysis never caught up with the store");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(summary["customers"].as_u64().unwrap() > 50, "{summary}");
    assert!(summary["models"]["bgnbd"]["r"].as_f64().is_some(), "BG/NBD fitted on the shop: {summary}");
    let profile: Value =
        web_test::call_and_read_body_json(&app, web_test::TestRequest::get().uri("/api/v1/users/u60/profile").to_request()).await;
    assert!(profile["rfm"]["segment"].is_string(), "{profile}");
    let alive = profile["probability_alive"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&alive), "{profile}");
    assert!(profile["clv"].as_f64().unwrap() >= 0.0, "{profile}");
    let missing = web_test::call_service(&app, web_test::TestRequest::get().uri("/api/v1/users/nobody/profile").to_request()).await;
    assert_eq!(missing.status(), 404);

    let funnel: Value =
        web_test::call_and_read_body_json(&app, web_test::TestRequest::get().uri("/api/v1/analytics/funnel?category=*").to_request()).await;
    let row = &funnel["rows"][0];
    assert_eq!(row["category"], "*");
    let (viewed, carted, purchased) =
        (row["viewed"].as_u64().unwrap(), row["carted"].as_u64().unwrap(), row["purchased"].as_u64().unwrap());
    assert!(viewed >= carted && carted >= purchased && purchased > 0, "{row}");
    let january: Value = web_test::call_and_read_body_json(
        &app,
        web_test::TestRequest::get().uri("/api/v1/analytics/funnel?category=*&from=2024-01-01&to=2024-01-02").to_request(),
    )
    .await;
    assert!(january["rows"][0]["units"].as_u64().unwrap() < row["units"].as_u64().unwrap(), "the time filter narrows the sessions");
    let bad = web_test::call_service(&app, web_test::TestRequest::get().uri("/api/v1/analytics/funnel?from=soon").to_request()).await;
    assert_eq!(bad.status(), 400);

    let cohorts: Value =
        web_test::call_and_read_body_json(&app, web_test::TestRequest::get().uri("/api/v1/analytics/cohorts").to_request()).await;
    assert!(!cohorts["cohorts"].as_array().unwrap().is_empty(), "{cohorts}");
    assert!(cohorts["repeat_purchase_rate"].as_f64().unwrap() > 0.0);
}

#[test]
fn cdnow_parameters_match_the_published_ones_through_the_ingestion_path() {
    let Some(data) = shared_data("cdnow", "CDNOW_sample.txt") else { return };
    let (results, dir) = run_eval("behaviour", &data, "cdnow", &[]);
    assert_eq!(results["customers"], 2357);
    assert_eq!(results["records_ingested"], 6919);
    let close = |got: &Value, want: f64| (got.as_f64().unwrap() - want).abs() / want < 0.005;
    for (model, names) in [("bgnbd", ["r", "alpha", "a", "b"]), ("paretonbd", ["r", "alpha", "s", "beta"])] {
        for name in names {
            let (got, want) = (&results[model][name], results[model]["published"][name].as_f64().unwrap());
            assert!(close(got, want), "{model}.{name}: {got} vs published {want}");
        }
    }
    assert!((results["bgnbd"]["log_likelihood"].as_f64().unwrap() + 9582.4).abs() < 0.1);
    let actual = results["holdout"]["actual"].as_f64().unwrap();
    let predicted = results["holdout"]["bgnbd"]["predicted"].as_f64().unwrap();
    assert!((predicted - actual).abs() / actual < 0.2, "holdout {predicted} vs {actual}");
    let curve = results["cumulative_repeat_purchases"].as_array().unwrap();
    assert_eq!(curve.len(), 78, "one point per week");
    let last = &curve[77];
    let (observed, expected) = (last["actual"].as_f64().unwrap(), last["bgnbd"].as_f64().unwrap());
    assert!((expected - observed).abs() / observed < 0.1, "week 78: {expected} vs {observed}");
    // The run is recorded in the configured store.
    let runs = recorded_runs(&dir);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].kind.as_str(), runs[0].dataset.as_str()), ("behaviour", "cdnow"));
}
