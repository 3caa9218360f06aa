//! Ingestion and cleaning of the generated dirty shop: exact counts, quarantine, ids, resume,
//! follow mode and back-pressure.

use std::io::Write;
use std::time::Duration;

use agora::app::{quality_report, Node};
use agora::generate::ShopSize;
use agora_agents::{AgentStatus, Shutdown};
use agora_core::quality::Reason;
use agora_core::record::{Record, RecordKind};

use crate::common::{ingest_once, wait_for_agent, TestShop};

#[actix_rt::test]
async fn counts_match_the_generators_ledger_exactly() {
    let shop = TestShop::small(11);
    let node = ingest_once(shop.config()).await;
    let stats = node.store.source_stats().unwrap();
    let report = quality_report(node.store.as_ref()).unwrap();
    for (source, expected) in &shop.manifest.sources {
        let stats = &stats[source];
        let quality = &report.sources[source];
        assert_eq!(stats.read, expected.read, "{source} read");
        assert_eq!(stats.accepted, expected.accepted, "{source} accepted");
        assert_eq!(stats.duplicates, expected.duplicates, "{source} duplicates");
        assert_eq!(quality.quarantined_by_reason, expected.quarantined, "{source} quarantined by reason");
        assert_eq!(stats.missing, expected.missing, "{source} missing per field");
        assert_eq!(stats.filled, expected.filled, "{source} filled per field");
        assert_eq!(quality.outliers, expected.outliers, "{source} outliers per field");
        // Every generated feed is dirty; the hand-written FAQ is clean.
        assert!(source == "faq" || expected.quarantined.values().sum::<u64>() > 0, "{source}: the shop must be dirty");
    }
    // Everything read is accounted for: accepted + duplicates + quarantined.
    for (source, quality) in &report.sources {
        assert_eq!(quality.read, quality.accepted + quality.duplicates + quality.quarantined, "{source}");
    }
    assert_eq!(node.store.count_records(RecordKind::Item).unwrap(), shop.manifest.sources["catalog"].accepted);
}

#[actix_rt::test]
async fn quarantine_keeps_the_raw_record_offset_and_reason() {
    let shop = TestShop::small(12);
    let node = ingest_once(shop.config()).await;
    let entries: Vec<_> = node.store.quarantine(Some("catalog"), 0, 1000).unwrap().into_iter().map(|found| found.entry).collect();
    assert_eq!(entries.len() as u64, shop.manifest.sources["catalog"].quarantined.values().sum::<u64>());
    let utf8 = entries.iter().find(|entry| entry.reason == Reason::InvalidUtf8).expect("an invalid UTF-8 row");
    assert!(utf8.raw.contains("caf"), "raw row kept: {}", utf8.raw);
    assert!(utf8.offset.contains("catalog.csv@"), "offset names file and byte: {}", utf8.offset);
    let long = entries.iter().find(|entry| entry.reason == Reason::FieldTooLong).expect("an overlong row");
    assert!(long.detail.contains("description"), "{}", long.detail);
    let orders: Vec<_> = node.store.quarantine(Some("orders"), 0, 1000).unwrap().into_iter().map(|found| found.entry).collect();
    let bad_time = orders.iter().find(|entry| entry.reason == Reason::InvalidTimestamp).expect("a bad timestamp");
    assert!(bad_time.detail.contains("31/02/2024"), "{}", bad_time.detail);
}

#[actix_rt::test]
async fn values_are_normalised_and_ids_resolve_across_sources() {
    let shop = TestShop::small(13);
    let node = ingest_once(shop.config()).await;
    let mut item_ids = std::collections::HashSet::new();
    let mut titles_with_entities = 0;
    node.store
        .scan_records(RecordKind::Item, &mut |_, stored| {
            if let Record::Item(item) = stored.record {
                let title = item.title.unwrap_or_default();
                assert!(!title.contains("&amp;") && !title.contains("  ") && title == title.trim(), "{title:?}");
                titles_with_entities += usize::from(title.contains(" & friends"));
                assert_eq!(item.categories.len(), 2, "category path split on '>'");
                item_ids.insert(item.item_id);
            }
            true
        })
        .unwrap();
    assert!(titles_with_entities > 0, "the generator plants HTML entities in titles");
    // Orders write 00042, sku-42, SKU-00042 or 42; all must resolve to the catalogue's id.
    let (mut orders, mut resolved) = (0, 0);
    node.store
        .scan_records(RecordKind::Order, &mut |_, stored| {
            if let Record::Order(order) = stored.record {
                orders += 1;
                assert!(order.item_id.parse::<u64>().is_ok(), "canonical id: {}", order.item_id);
                assert!(order.user_id.starts_with('u'), "lower-cased user id: {}", order.user_id);
                resolved += usize::from(item_ids.contains(&order.item_id));
            }
            true
        })
        .unwrap();
    // Only items quarantined from the catalogue can be missing.
    let quarantined_items = shop.manifest.sources["catalog"].quarantined.values().sum::<u64>() as f64;
    assert!(resolved as f64 >= orders as f64 * (1.0 - 2.0 * quarantined_items / 300.0), "{resolved}/{orders} resolved");
    // Zone-less Paris times are converted: every order lies in 2024 UTC.
    node.store
        .scan_records(RecordKind::Order, &mut |_, stored| {
            if let Record::Order(order) = stored.record {
                assert!((1_704_060_000_000..1_735_689_600_000).contains(&order.ts), "{}", order.ts);
            }
            true
        })
        .unwrap();
}

#[actix_rt::test]
async fn follow_mode_picks_up_appended_records() {
    let shop = TestShop::new(15, ShopSize { items: 60, events: 200, orders: 100, dirty_rate: 0.0 });
    let config =
        shop.config_with(|text| text.replace("follow = false", "follow = true").replace("poll_interval_ms = 500", "poll_interval_ms = 50"));
    let node = Node::start(config, false).unwrap();
    let events = shop.manifest.sources["events"].accepted;
    wait_for_agent(&node, "ingest:events", Duration::from_secs(20), |state| state.processed == events).await;
    let mut file = std::fs::OpenOptions::new().append(true).open(shop.shop_dir().join("events.jsonl")).unwrap();
    for n in 0..25 {
        writeln!(file, r#"{{"user":{{"id":"u{n}"}},"item":"sku-{n}","type":"view","ts":"2024-06-01T10:{n:02}:00Z","session":"x"}}"#)
            .unwrap();
    }
    // A line without its newline yet is held back while following.
    write!(file, r#"{{"user":{{"id":"u99"}},"item":"1","type":"cart","ts":"2024-06-01T11:00:00Z""#).unwrap();
    file.flush().unwrap();
    let state = wait_for_agent(&node, "ingest:events", Duration::from_secs(20), |state| state.processed == events + 25).await;
    assert_ne!(state.status, AgentStatus::Failed);
    writeln!(file, r#","session":"y"}}"#).unwrap();
    wait_for_agent(&node, "ingest:events", Duration::from_secs(20), |state| state.processed == events + 26).await;
    node.supervisor.send(Shutdown).await.unwrap().unwrap();
    assert_eq!(node.store.source_stats().unwrap()["events"].accepted, events + 26);
}

#[actix_rt::test]
async fn in_flight_batches_stay_bounded() {
    let shop = TestShop::new(16, ShopSize { items: 50, events: 20_000, orders: 50, dirty_rate: 0.01 });
    let config = shop.config_with(|text| {
        text.replace("batch_size = 4096", "batch_size = 100").replace("in_flight_batches = 2", "in_flight_batches = 3")
    });
    let node = Node::start(config, true).unwrap();
    let mut max_backlog = 0;
    loop {
        let state = node.pipeline_state().await.unwrap();
        for agent in &state.agents {
            max_backlog = max_backlog.max(agent.backlog);
        }
        if state.agents.iter().filter(|agent| agent.role == "ingest").all(|agent| agent.status == AgentStatus::Finished) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    // Each source holds at most 3 uncommitted batches; the Clean agent's queue at most 3 per source.
    assert!(max_backlog <= 9, "backlog reached {max_backlog}");
    node.supervisor.send(Shutdown).await.unwrap().unwrap();
}
