//! Tests of the cleaning rules on hand-written batch lines.

use super::*;
use crate::config::AgoraConfig;

fn rules(source_toml: &str) -> SourceRules {
    let config = AgoraConfig::from_toml_str(source_toml).expect("valid config");
    let (name, source) = config.sources.iter().next().expect("one source");
    SourceRules::compile(name, source, &config.clean, true).expect("rules compile")
}

const ORDERS: &str = r#"
    [sources.orders]
    plugin = "csv"
    record = "order"
    dedup_key = ["order_id", "line"]
    timezone = "Europe/Paris"
    ids = { lowercase = true, strip_prefixes = ["sku-"], trim_leading_zeros = true }
    [sources.orders.fields]
    order_id = "id"
    line = "line"
    user_id = "customer"
    item_id = "sku"
    quantity = { from = "qty", missing = "default", default = 1 }
    unit_price = { from = "price", missing = "impute" }
    ts = "at"
    status = { from = "status", max_len = 8 }
"#;

fn line(fields: &str) -> String {
    format!("{{\"offset\":\"f@0\",\"fields\":{fields}}}\n")
}

fn clean(rules: &SourceRules, lines: &[String]) -> (CleanedBatch, SourceStats) {
    let mut stats = SourceStats::default();
    let batch = rules.clean_batch(lines.concat().as_bytes(), &mut stats, 0);
    (batch, stats)
}

#[test]
fn an_order_is_mapped_coerced_and_normalised() {
    let rules = rules(ORDERS);
    let (batch, _) = clean(
        &rules,
        &[line(
            r#"{"id":"A1","line":"2","customer":" U7 ","sku":"SKU-0042","qty":"3","price":"12,50","at":"2024-01-15 10:00","status":"paid"}"#,
        )],
    );
    assert!(batch.quarantine.is_empty(), "{:?}", batch.quarantine);
    let Record::Order(order) = &batch.records[0].record else { panic!("an order") };
    assert_eq!(order.order_id, "a1");
    assert_eq!(order.line, Some(2));
    assert_eq!(order.user_id, "u7");
    assert_eq!(order.item_id, "42");
    assert_eq!(order.quantity, 3.0);
    assert_eq!(order.unit_price, Some(12.5));
    // 10:00 in Paris in January is 09:00 UTC.
    assert_eq!(order.ts, 1_705_309_200_000);
    assert_eq!(batch.records[0].raw.as_deref().map(|raw| raw.contains("SKU-0042")), Some(true));
}

#[test]
fn missing_values_follow_their_policy() {
    let rules = rules(ORDERS);
    let base = r#""customer":"u1","sku":"1","at":"2024-01-15T10:00:00Z""#;
    let (batch, stats) = clean(
        &rules,
        &[
            line(&format!(r#"{{"id":"1","line":"1",{base},"qty":"2","price":"10"}}"#)),
            line(&format!(r#"{{"id":"1","line":"2",{base},"qty":"","price":"30"}}"#)),
            line(&format!(r#"{{"id":"1","line":"3",{base},"qty":"1","price":"n/a"}}"#)),
            line(&format!(r#"{{"id":"","line":"4",{base},"qty":"1","price":"5"}}"#)),
        ],
    );
    assert_eq!(batch.records.len(), 3);
    let quantities: Vec<f64> = batch
        .records
        .iter()
        .map(|r| match &r.record {
            Record::Order(o) => o.quantity,
            _ => 0.0,
        })
        .collect();
    assert_eq!(quantities, [2.0, 1.0, 1.0], "default quantity 1");
    let Record::Order(imputed) = &batch.records[2].record else { panic!() };
    let price = imputed.unit_price.unwrap();
    assert!((price - 10.0).abs() <= 0.2, "median of 10 and 30 is reported as the lower middle, got {price}");
    assert_eq!(batch.records[1].filled, ["quantity"]);
    assert_eq!(batch.records[2].filled, ["unit_price"]);
    assert_eq!(batch.quarantine[0].reason, Reason::MissingField);
    assert!(batch.quarantine[0].detail.contains("order_id"));
    assert_eq!(stats.missing.get("quantity"), Some(&1));
    assert_eq!(stats.missing.get("unit_price"), Some(&1));
    assert_eq!(stats.missing.get("order_id"), Some(&1));
    assert_eq!(stats.filled.get("unit_price"), Some(&1));
    assert_eq!(stats.mapped, 4);
}

#[test]
fn bad_values_are_quarantined_with_the_reason_and_field() {
    let rules = rules(ORDERS);
    let ok = r#""id":"9","line":"1","customer":"u1","sku":"1","price":"1""#;
    let cases = [
        (format!(r#"{{{ok},"qty":"two","at":"2024-01-01T00:00:00Z"}}"#), Reason::InvalidType, "quantity"),
        (format!(r#"{{{ok},"qty":"-1","at":"2024-01-01T00:00:00Z"}}"#), Reason::InvalidValue, "quantity"),
        (format!(r#"{{{ok},"qty":"1","at":"someday"}}"#), Reason::InvalidTimestamp, "someday"),
        (format!(r#"{{{ok},"qty":"1","at":"2024-01-01T00:00:00Z","status":"way too long"}}"#), Reason::FieldTooLong, "status"),
        (format!(r#"{{{ok},"qty":{{"n":1}},"at":"2024-01-01T00:00:00Z"}}"#), Reason::InvalidType, "quantity"),
    ];
    for (fields, reason, named) in cases {
        let (batch, stats) = clean(&rules, &[line(&fields)]);
        assert_eq!(batch.quarantine.len(), 1, "{fields}");
        assert_eq!(batch.quarantine[0].reason, reason, "{fields}");
        assert!(batch.quarantine[0].detail.contains(named), "{} should name {named}", batch.quarantine[0].detail);
        assert_eq!(batch.quarantine[0].raw, fields, "raw record kept as read");
        assert_eq!(stats.quarantined.get(&reason), Some(&1));
    }
}

#[test]
fn plugin_error_lines_and_garbage_are_quarantined_not_dropped() {
    let rules = rules(ORDERS);
    let mut stats = SourceStats::default();
    let batch = concat!(
        "{\"offset\":\"f@9\",\"error\":\"invalid_utf8\",\"raw\":\"caf\\ufffd\"}\n",
        "this is not a batch line\n",
        "{\"offset\":\"f@12\",\"fields\":[1,2]}\n",
    );
    let cleaned = rules.clean_batch(batch.as_bytes(), &mut stats, 0);
    let reasons: Vec<Reason> = cleaned.quarantine.iter().map(|q| q.reason).collect();
    assert_eq!(reasons, [Reason::InvalidUtf8, Reason::Unparseable, Reason::MalformedJson]);
    assert_eq!(cleaned.quarantine[0].offset, "f@9");
    assert_eq!(stats.read, 3);
    assert_eq!(stats.mapped, 0);
}

#[test]
fn dedup_keys_use_the_configured_fields_or_the_whole_content() {
    let orders = rules(ORDERS);
    let a = line(r#"{"id":"1","line":"1","customer":"u1","sku":"1","qty":"1","price":"1","at":"2024-01-01T00:00:00Z","status":"paid"}"#);
    let b = a.replace("paid", "refunded");
    let (batch, _) = clean(&orders, &[a.clone(), b]);
    assert_eq!(batch.records[0].key, batch.records[1].key, "same order line, different status: same key");
    let events = rules(
        r#"
        [sources.events]
        plugin = "jsonl"
        record = "event"
        fields = { user_id = "user.id", item_id = "item", kind = "type", ts = "ts" }
        "#,
    );
    let view = line(r#"{"user":{"id":"u1"},"item":"i","type":"view","ts":1704067200}"#);
    let cart = view.replace("view", "add_to_cart");
    let (batch, _) = clean(&events, &[view.clone(), view, cart]);
    assert_eq!(batch.records[0].key, batch.records[1].key);
    assert_ne!(batch.records[0].key, batch.records[2].key);
    let Record::Event(event) = &batch.records[2].record else { panic!() };
    assert_eq!((event.user_id.as_str(), event.kind), ("u1", EventKind::Cart), "nested path and kind synonym");
    assert_eq!(batch.records[0].key[0], RecordKind::Event.tag());
}

#[test]
fn a_default_that_does_not_fit_its_field_is_a_config_error() {
    let text = ORDERS.replace("default = 1", "default = \"lots\"");
    let config = AgoraConfig::from_toml_str(&text).unwrap();
    let err = SourceRules::compile("orders", &config.sources["orders"], &config.clean, false).unwrap_err().to_string();
    assert!(err.contains("sources.orders.fields.quantity.default") && err.contains("lots"), "{err}");
}
