//! The supervisor: a plugin that panics, errors or hangs fails only its agent, which is
//! restarted from its committed checkpoint; other sources keep going.

use std::time::Duration;

use agora::app::Node;
use agora_agents::{AgentStatus, Shutdown, WaitForCompletion};
use agora_core::config::AgoraConfig;

use crate::common::{plugin_dir, wait_for_agent, TestShop};

/// A config with one faulty source (and the shop's catalogue beside it).
fn faulty_config(shop: &TestShop, mode: &str, marker: bool, extra: &str) -> AgoraConfig {
    let marker = if marker { format!(", marker = {:?}", shop.dir.path().join("failed-once").display().to_string()) } else { String::new() };
    let text = format!(
        r#"
        [store]
        path = {store:?}
        [plugins]
        dirs = [{plugins:?}]
        [ingest]
        batch_size = 100
        poll_timeout_ms = 2500
        restart_backoff_ms = 50
        once_max_restarts = 2
        {extra}
        [sources.flaky]
        plugin = "faulty"
        record = "event"
        params = {{ records = 1000, fail_at_record = 450, mode = "{mode}"{marker} }}
        fields = {{ user_id = "user", item_id = "item", kind = "type", ts = "ts" }}
        [sources.catalog]
        plugin = "csv"
        record = "item"
        params = {{ path = {catalog:?} }}
        dedup_key = ["item_id"]
        fields = {{ item_id = "sku", title = "name", price = {{ from = "price", missing = "null" }} }}
        "#,
        store = shop.store_dir().display().to_string(),
        plugins = plugin_dir().display().to_string(),
        catalog = shop.shop_dir().join("catalog.csv").display().to_string(),
    );
    AgoraConfig::from_toml_str(&text).expect("valid faulty config")
}

async fn transient_fault_is_restarted_and_loses_nothing(mode: &str) {
    let shop = TestShop::small(41);
    let node = Node::start(faulty_config(&shop, mode, true, ""), true).unwrap();
    node.supervisor.send(WaitForCompletion).await.unwrap().expect("both sources finish");
    let state = node.pipeline_state().await.unwrap();
    let flaky = state.agents.iter().find(|agent| agent.name == "ingest:flaky").unwrap();
    assert_eq!(flaky.restarts, 1, "{flaky:?}");
    assert_eq!(flaky.errors, 1, "{flaky:?}");
    let last_error = flaky.last_error.clone().unwrap_or_default();
    assert!(last_error.contains(if mode == "hang" { "hung" } else { "planted" }), "{last_error}");
    node.supervisor.send(Shutdown).await.unwrap().unwrap();
    let stats = node.store.source_stats().unwrap();
    assert_eq!(stats["flaky"].accepted, 1000, "every record exactly once after the restart");
    assert_eq!(stats["flaky"].duplicates, 0);
    assert_eq!(stats["catalog"].read, shop.manifest.sources["catalog"].read, "the other source is unaffected");
}

#[actix_rt::test]
async fn a_panicking_plugin_fails_only_its_agent_which_is_restarted() {
    transient_fault_is_restarted_and_loses_nothing("panic").await;
}

#[actix_rt::test]
async fn an_erroring_plugin_is_restarted() {
    transient_fault_is_restarted_and_loses_nothing("error").await;
}

#[actix_rt::test]
async fn a_hung_plugin_is_abandoned_and_restarted() {
    transient_fault_is_restarted_and_loses_nothing("hang").await;
}

#[actix_rt::test]
async fn a_permanent_fault_is_given_up_on_with_once_and_reported() {
    let shop = TestShop::small(42);
    let node = Node::start(faulty_config(&shop, "error", false, ""), true).unwrap();
    let outcome = node.supervisor.send(WaitForCompletion).await.unwrap();
    let error = outcome.expect_err("the flaky source gives up");
    assert!(error.contains("flaky") && error.contains("planted error"), "{error}");
    let state = node.pipeline_state().await.unwrap();
    let flaky = state.agents.iter().find(|agent| agent.name == "ingest:flaky").unwrap();
    assert_eq!(flaky.status, AgentStatus::GaveUp);
    assert_eq!(flaky.restarts, 2);
    assert_eq!(flaky.errors, 3);
    let catalog = state.agents.iter().find(|agent| agent.name == "ingest:catalog").unwrap();
    assert_eq!(catalog.status, AgentStatus::Finished);
}

#[actix_rt::test]
async fn an_unreadable_source_path_is_an_agent_error_not_a_crash() {
    let shop = TestShop::small(43);
    let mut config = shop.config();
    config.sources.get_mut("orders").unwrap().params.insert("path".into(), toml::Value::String("/nonexistent/orders.csv".into()));
    config.ingest.restart_backoff_ms = 50;
    let node = Node::start(config, false).unwrap();
    let orders = wait_for_agent(&node, "ingest:orders", Duration::from_secs(20), |state| state.restarts >= 2).await;
    assert!(orders.last_error.as_deref().unwrap_or_default().contains("/nonexistent/orders.csv"), "{orders:?}");
    let catalog_read = shop.manifest.sources["catalog"].read - shop.manifest.sources["catalog"].quarantined.values().sum::<u64>();
    wait_for_agent(&node, "ingest:catalog", Duration::from_secs(20), |state| state.processed >= catalog_read).await;
    node.supervisor.send(Shutdown).await.unwrap().unwrap();
}
