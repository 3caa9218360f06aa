//! Entity resolution through the binary: `agora eval er` on a small generated fixture in the
//! Ditto format (not the real benchmarks, to stay fast), and `agora bench er` at a small size.

use crate::cli::{agora, last_json, recorded_runs, run_eval};

#[test]
fn eval_er_on_a_generated_ditto_fixture_reports_both_matchers_beside_the_published_numbers() {
    let data = tempfile::tempdir().unwrap();
    let pairs = agora_resolve::generate::write_ditto_fixture(data.path(), 500, 3).unwrap();
    assert!(pairs > 500, "{pairs} labelled pairs");
    let (results, dir) = run_eval("er", data.path(), "amazon-google", &[]);
    assert_eq!(results["dataset"], "amazon-google");
    let test = &results["splits"]["test"];
    assert!(test["pairs"].as_u64().unwrap() > 50 && test["matches"].as_u64().unwrap() > 10, "{test}");
    let models = results["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["logistic regression", "gradient-boosted trees"]);
    for model in models {
        for key in ["precision", "recall", "f1", "valid_f1"] {
            let value = model[key].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&value), "{key} = {value}");
        }
        assert!(model["f1"].as_f64().unwrap() > 80.0, "the planted duplicates are easy: {model}");
        assert!(model["train_seconds"].as_f64().unwrap() >= 0.0);
        assert!((0.0..=1.0).contains(&model["threshold"].as_f64().unwrap()));
    }
    let published = results["published"].as_array().unwrap();
    assert_eq!(published.len(), 3);
    assert!(published.iter().any(|p| p["model"] == "Ditto" && p["f1"] == 75.58));
    let runs = recorded_runs(&dir);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].kind.as_str(), runs[0].dataset.as_str()), ("er", "amazon-google"));
}

#[test]
fn eval_er_names_the_valid_datasets() {
    let data = tempfile::tempdir().unwrap();
    let output = agora(&["eval", "er", "--data", data.path().to_str().unwrap(), "--dataset", "walmart", "--json"]);
    assert!(!output.status.success());
    let error = last_json(&output)["error"].as_str().unwrap().to_string();
    assert!(error.contains("abt-buy") && error.contains("amazon-google"), "{error}");
}

#[test]
fn bench_er_keeps_the_planted_matches_with_few_pairs_per_record() {
    let output = agora(&["bench", "er", "--records", "4000", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results = last_json(&output);
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8, "four methods at two sizes");
    let union = runs.iter().find(|r| r["records"] == 4000 && r["method"] == "union").unwrap();
    assert!(union["pair_completeness"].as_f64().unwrap() > 95.0, "{union}");
    assert!(union["pairs_per_record"].as_f64().unwrap() < 20.0, "{union}");
}

#[actix_rt::test]
async fn ingestion_with_resolve_enabled_merges_a_second_catalogue_into_golden_records() {
    resolve_two_catalogues(41, |_| {}).await;
}

/// The same with the torch plugin's `match.mlp` as the Clean agent's matcher and its MiniLM
/// vectors for nearest-neighbour blocking (skipped, or failed under AGORA_REQUIRE_OPTIONAL, when
/// the plugin is not built).
#[actix_rt::test]
async fn the_torch_matcher_resolves_the_catalogues_in_the_clean_agent() {
    let dir = crate::common::root().join("plugins/model-torch/target/release");
    if !dir.join(format!("libagora_model_torch.{}", std::env::consts::DLL_EXTENSION)).exists() {
        assert!(std::env::var_os("AGORA_REQUIRE_OPTIONAL").is_none(), "the torch plugin is not built (scripts/setup-torch.sh)");
        eprintln!("skipped: run scripts/setup-torch.sh for the torch plugin");
        return;
    }
    resolve_two_catalogues(42, |config| {
        config.resolve.matcher = "torch".into();
        config.resolve.embeddings = "minilm".into();
        config.plugins.dirs.push(dir);
    })
    .await;
}

/// Ingests a shop whose catalogue arrives twice (the copy keyed by name) with resolution on, and
/// checks that the copies merge into golden records that keep the preferred source's price.
async fn resolve_two_catalogues(seed: u64, edit: impl FnOnce(&mut agora_core::config::AgoraConfig)) {
    use agora_core::record::RecordKind;

    let shop = crate::common::TestShop::small(seed);
    let mut config = shop.config_with(|text| {
        let start = text.find("[sources.catalog]").expect("the reference config has a catalogue");
        let end = start + text[start..].find("# Behaviour events").expect("events follow the catalogue");
        // The store deduplicates items by id across sources, so the copy takes its ids from the names.
        let copy = text[start..end].replace("[sources.catalog", "[sources.catalog_copy").replace("item_id = \"sku\"", "item_id = \"name\"");
        text.replace("enabled = false\n# The matcher", "enabled = true\n# The matcher") + "\n" + &copy
    });
    edit(&mut config);
    assert!(config.resolve.enabled);
    let node = crate::common::ingest_once(config).await;
    let items = node.store.count_records(RecordKind::Item).unwrap() as usize;
    let golden: Vec<serde_json::Value> =
        node.store.golden_records().unwrap().iter().map(|(_, json)| serde_json::from_slice(json).unwrap()).collect();
    let merged: Vec<&serde_json::Value> = golden.iter().filter(|g| g["members"].as_array().unwrap().len() > 1).collect();
    assert!(items > 100, "{items} items");
    assert!(merged.len() * 2 >= items * 9 / 10, "{} merged golden records of {items} items", merged.len());
    for record in &merged {
        let members = record["members"].as_array().unwrap();
        let sources: Vec<&str> = members.iter().map(|m| m["source"].as_str().unwrap()).collect();
        assert!(sources.contains(&"catalog") && sources.contains(&"catalog_copy"), "{record}");
        if let Some(price) = record["fields"].get("price") {
            assert_eq!(price["source"], "catalog", "the reference config prefers the catalogue's price: {record}");
        }
    }
    assert!(!node.store.match_decisions().unwrap().is_empty());
}
