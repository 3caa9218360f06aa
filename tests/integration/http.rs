//! The HTTP API of `agora serve`: health, metrics, and push ingestion with its guards.

use actix_web::{test, App};
use agora::app::Node;
use serde_json::Value;

use crate::common::TestShop;

const ADMIN: &str = "admin-token-0123456789abcdef";

async fn node_with_token(shop: &TestShop, token: Option<&str>, max_body: usize) -> Node {
    let mut config = shop.config();
    config.console.admin_token = Some(ADMIN.into());
    config.server.ingest_token = token.map(str::to_string);
    config.server.max_body_bytes = max_body;
    Node::start(config, false).unwrap()
}

#[actix_rt::test]
async fn health_and_metrics_report_the_agents() {
    let shop = TestShop::small(51);
    let node = node_with_token(&shop, None, 1024).await;
    let app = test::init_service(App::new().configure(agora::http::configure(node))).await;
    let health: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/api/v1/health").to_request()).await;
    assert_eq!(health["status"], "ok");
    let refused = test::call_service(&app, test::TestRequest::get().uri("/api/v1/pipeline").to_request()).await;
    assert_eq!(refused.status(), 401, "the operator API needs the admin token");
    let pipeline = test::TestRequest::get().uri("/api/v1/pipeline").insert_header(("Authorization", format!("Bearer {ADMIN}")));
    let pipeline: Value = test::call_and_read_body_json(&app, pipeline.to_request()).await;
    let names: Vec<&str> = pipeline["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "clean:catalog",
            "clean:events",
            "clean:faq",
            "clean:orders",
            "clean:web",
            "analyst",
            "encode",
            "fuse",
            "recommend",
            "forecast",
            "qa",
            "ingest:catalog",
            "ingest:events",
            "ingest:faq",
            "ingest:orders"
        ]
    );
    for field in ["status", "processed", "backlog", "errors", "last_error", "restarts"] {
        assert!(pipeline["agents"][0].get(field).is_some(), "GetState has {field}");
    }
    let metrics = test::call_and_read_body(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(metrics.contains("# TYPE agora_agent_processed_total counter"), "{metrics}");
    assert!(metrics.contains("agora_agent_restarts_total{agent=\"ingest:orders\"}"), "{metrics}");
    let missing = test::call_service(&app, test::TestRequest::get().uri("/api/v1/nope").to_request()).await;
    assert_eq!(missing.status(), 404);
    let body: Value = test::read_body_json(missing).await;
    assert_eq!(body["code"], "not_found");
}

#[actix_rt::test]
async fn push_ingestion_is_off_without_a_token() {
    let shop = TestShop::small(52);
    let node = node_with_token(&shop, None, 1024).await;
    let app = test::init_service(App::new().configure(agora::http::configure(node))).await;
    let response = test::call_service(&app, test::TestRequest::post().uri("/api/v1/ingest/web").set_payload("{}").to_request()).await;
    assert_eq!(response.status(), 403);
}

#[actix_rt::test]
async fn push_ingestion_checks_token_size_and_source_then_commits() {
    let shop = TestShop::small(53);
    let node = node_with_token(&shop, Some("s3cret"), 600).await;
    let store = node.store.clone();
    let app = test::init_service(App::new().configure(agora::http::configure(node))).await;
    let body = concat!(
        r#"{"user":"U7","item":"SKU-00003","type":"cart","ts":"2024-05-01T10:00:00Z","session":"w1"}"#,
        "\n",
        r#"{"user":"U7","item":"SKU-00003","type":"cart","ts":"2024-05-01T10:00:00Z","session":"w1"}"#,
        "\n",
        "not json\n",
        r#"{"user":"U8","type":"view","ts":"2024-05-01T10:00:00Z"}"#,
        "\n",
    );
    let post = |token: &str, uri: &str, body: String| {
        test::TestRequest::post().uri(uri).insert_header(("Authorization", format!("Bearer {token}"))).set_payload(body).to_request()
    };
    let wrong = test::call_service(&app, post("nope", "/api/v1/ingest/web", body.to_string())).await;
    assert_eq!(wrong.status(), 401);
    let unknown = test::call_service(&app, post("s3cret", "/api/v1/ingest/catalog", body.to_string())).await;
    assert_eq!(unknown.status(), 404, "catalog is not a push source");
    let too_big = test::call_service(&app, post("s3cret", "/api/v1/ingest/web", "x".repeat(601))).await;
    assert_eq!(too_big.status(), 413);
    let too_big: Value = test::read_body_json(too_big).await;
    assert!(too_big["message"].as_str().unwrap().contains("max_body_bytes"));
    let ok: Value = test::call_and_read_body_json(&app, post("s3cret", "/api/v1/ingest/web", body.to_string())).await;
    assert_eq!((ok["accepted"].as_u64(), ok["duplicates"].as_u64(), ok["quarantined"].as_u64()), (Some(1), Some(1), Some(2)), "{ok}");
    let stats = store.source_stats().unwrap();
    assert_eq!(stats["web"].accepted, 1);
    let quarantined = store.quarantine(Some("web"), 0, 10).unwrap();
    let reasons: Vec<&str> = quarantined.iter().map(|found| found.entry.reason.as_str()).collect();
    assert_eq!(reasons, ["malformed_json", "missing_field"]);
}
