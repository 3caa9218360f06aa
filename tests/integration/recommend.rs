//! Recommendations: the Encode → Fuse → Recommend agents serving the generated shop over HTTP
//! (reasons, business rules, cold start, live updates, errors), and `agora eval recommend` on
//! LastFM through the ingestion path.

use std::time::{Duration, Instant};

use actix_web::{test as web_test, App};
use agora::app::Node;
use agora_agents::Retrain;
use agora_core::plugin::PluginHost;
use agora_recommend::fused::FusedModel;
use agora_recommend::train::train;
use agora_recommend::{Dataset, ModelPlugins, RecommendRequest};
use serde_json::Value;

use crate::cli::{recorded_runs, run_eval_lines};
use crate::common::{ingest_once, plugin_dir, shared_data, wait_for_agent, TestShop};

fn item_ids(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|item| item["item_id"].as_str().unwrap().to_string()).collect()
}

#[actix_rt::test]
async fn recommendations_are_served_with_reasons_rules_cold_start_and_live_updates() {
    let shop = TestShop::small(71);
    // A new catalogue item nobody has touched yet, sharing a brand with the others.
    let catalog = shop.shop_dir().join("catalog.csv");
    // Generated names start with the brand ("Bluebell rake 1"); the file has deliberately bad bytes.
    let mut bytes = std::fs::read(&catalog).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let first_brand = text.lines().nth(1).unwrap().split(',').nth(1).unwrap().split(' ').next().unwrap().to_string();
    bytes.extend_from_slice(format!("SKU-09999,Brand new thing,A new arrival,{first_brand},Beauty > Hair,10.00,yes,red,M\n").as_bytes());
    std::fs::write(&catalog, bytes).unwrap();

    let mut config = shop.config();
    config.server.ingest_token = Some("tok".into());
    config.recommend.retrain_every_s = 0;
    let recommend_config = config.recommend.clone();
    let node = Node::start(config, false).unwrap();
    for source in ["orders", "events", "catalog"] {
        let read = shop.manifest.sources[source].read;
        wait_for_agent(&node, &format!("ingest:{source}"), Duration::from_secs(60), |state| state.processed >= read).await;
    }
    // Train (again) once everything is in, and wait for that model to serve.
    let expected = Dataset::from_store(node.store.as_ref(), &recommend_config).unwrap().version;
    let agents = node.recommend.clone().expect("recommend agents run under serve");
    let started = Instant::now();
    loop {
        if agents.handle.model().is_some_and(|model| model.info.data_version == expected) {
            break;
        }
        let _ = agents.recommender.send(Retrain).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(120), "no model trained on all the data");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let model = agents.handle.model().unwrap();
    assert!(model.info.validation.contains_key("blend"), "{:?}", model.info);
    let app = web_test::init_service(App::new().configure(agora::http::configure(node))).await;

    // A known user: k items with a score, a signal and a reason, none already seen.
    let user = model.catalog.user_ids.iter().enumerate().max_by_key(|(index, _)| model.histories[*index].len()).unwrap().1.clone();
    let (status, body) = get!(&app, &format!("/api/v1/users/{user}/recommendations?k=5"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["known_user"], true);
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    let seen: Vec<String> = model.histories[model.catalog.user(&user).unwrap() as usize]
        .iter()
        .map(|&item| model.catalog.item_ids[item as usize].clone())
        .collect();
    for item in body["items"].as_array().unwrap() {
        assert!(!seen.contains(&item["item_id"].as_str().unwrap().to_string()), "seen item recommended: {item}");
        assert!(item["score"].is_number() && !item["reason"].as_str().unwrap().is_empty(), "{item}");
    }
    let (_, with_seen) = get!(&app, &format!("/api/v1/users/{user}/recommendations?k=50&exclude_seen=false"));
    assert!(item_ids(&with_seen).iter().any(|item| seen.contains(item)), "exclude_seen=false may return seen items");

    // An unknown user gets what is popular, in the category when asked, never unavailable items.
    let (status, cold) = get!(&app, "/api/v1/users/nobody-at-all/recommendations?k=100");
    assert_eq!(status, 200, "{cold}");
    assert_eq!(cold["known_user"], false);
    assert!(cold["items"].as_array().unwrap().iter().all(|item| item["reason"].as_str().unwrap().starts_with("popular")), "{cold}");
    let unavailable: Vec<&String> = model
        .catalog
        .item_ids
        .iter()
        .zip(&model.catalog.items)
        .filter(|(_, meta)| meta.available == Some(false))
        .map(|(id, _)| id)
        .collect();
    assert!(!unavailable.is_empty(), "the generated shop has unavailable items");
    assert!(item_ids(&cold).iter().all(|item| !unavailable.contains(&item)), "unavailable items are hidden");
    let (status, sports) = get!(&app, "/api/v1/users/nobody-at-all/recommendations?k=5&category=Sports");
    assert_eq!(status, 200, "{sports}");
    for item in item_ids(&sports) {
        assert!(model.catalog.in_category(model.catalog.item(&item).unwrap(), "Sports"), "{item} is not in Sports");
    }
    assert!(sports["items"][0]["reason"].as_str().unwrap().contains("Sports"), "{sports}");

    // Similar items; a new item is matched by its attributes.
    let some_item = &seen[0];
    let (status, similar) = get!(&app, &format!("/api/v1/items/{some_item}/similar?k=4"));
    assert_eq!(status, 200, "{similar}");
    assert_eq!(similar["items"].as_array().unwrap().len(), 4);
    assert!(!item_ids(&similar).contains(some_item));
    let (status, fresh) = get!(&app, "/api/v1/items/9999/similar?k=3");
    assert_eq!(status, 200, "{fresh}");
    assert!(fresh["items"].as_array().unwrap().iter().all(|item| item["signal"] == "attributes"), "{fresh}");
    assert!(fresh["items"].as_array().unwrap().iter().any(|item| item["reason"].as_str().unwrap().starts_with("same brand as")), "{fresh}");

    // Errors: unknown ids 404, bad parameters 400, all as JSON.
    for (uri, status) in [
        ("/api/v1/items/no-such-item/similar", 404),
        ("/api/v1/users/u1/recommendations?category=Nowhere", 404),
        ("/api/v1/users/u1/recommendations?k=0", 400),
        ("/api/v1/users/u1/recommendations?k=1000", 400),
        ("/api/v1/users/u1/recommendations?k=ten", 400),
        ("/api/v1/users/u1/recommendations?exclude_seen=maybe", 400),
        ("/api/v1/users/u1/recommendations?colour=red", 400),
    ] {
        let (got, body) = get!(&app, uri);
        assert_eq!(got, status, "{uri}: {body}");
        assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()), "{uri}: {body}");
    }

    // A new event changes that user's recommendations within a second, without retraining.
    let before = get!(&app, &format!("/api/v1/users/{user}/recommendations?k=10")).1;
    let target = item_ids(&before)[0].clone();
    let event = format!(r#"{{"user":"{user}","item":"{target}","type":"purchase","ts":"2025-01-01T10:00:00Z"}}"#);
    let pushed = Instant::now();
    let response = web_test::call_service(
        &app,
        web_test::TestRequest::post()
            .uri("/api/v1/ingest/web")
            .insert_header(("Authorization", "Bearer tok"))
            .set_payload(event)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let after = loop {
        let (_, after) = get!(&app, &format!("/api/v1/users/{user}/recommendations?k=10"));
        if after["history_length"] != before["history_length"] {
            break after;
        }
        assert!(pushed.elapsed() < Duration::from_secs(1), "the new event did not reach the recommendations within 1 s");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(after["history_length"].as_u64().unwrap(), before["history_length"].as_u64().unwrap() + 1);
    assert!(!item_ids(&after).contains(&target), "the purchased item is now seen");
    assert_eq!(after["model"]["trained_at"], before["model"]["trained_at"], "no retraining happened");
}

#[test]
fn lastfm_evaluation_through_the_ingestion_path_beats_popularity() {
    let Some(data) = shared_data("s3rec-amazon", "LastFM.txt") else { return };
    let (lines, dir) = run_eval_lines("recommend", &data, "lastfm", &["--model", "all", "--protocol", "full,sampled99"]);
    let [full, sampled] = &lines[..] else { panic!("one JSON line per protocol: {lines:?}") };
    assert_eq!(full["data"], "users=1090 items=3646 interactions=52551", "every line and item ingested: {full}");
    assert_eq!((&full["protocol"], &sampled["protocol"]), (&"full".into(), &"sampled99".into()));
    assert_eq!(full["test_users"], 1090);
    let metric = |results: &Value, model: &str, name: &str| -> f64 {
        results["rows"].as_array().unwrap().iter().find(|row| row["model"] == model).unwrap()["metrics"][name].as_f64().unwrap()
    };
    // Popularity is the published PopRec (0.0440 HR@10 on this split): a check of the protocol.
    assert!((metric(full, "popularity", "hr10") - 0.0440).abs() < 0.003, "{full}");
    for results in [full, sampled] {
        for name in ["hr10", "ndcg10"] {
            assert!(metric(results, "blend", name) > metric(results, "popularity", name) * 1.2, "{name}: {results}");
            assert!(
                metric(results, "blend", name) >= metric(results, "ease", name),
                "{name}: the blend is no worse than its best part: {results}"
            );
        }
    }
    // ... and under 99 uniform negatives, the published PopRec 0.3037.
    assert!((metric(sampled, "popularity", "hr10") - 0.3037).abs() < 0.02, "{sampled}");
    assert!(metric(sampled, "blend", "hr10") > metric(full, "blend", "hr10") * 3.0, "99 negatives are easier than every item");
    let runs = recorded_runs(&dir);
    assert_eq!(runs.len(), 2, "one recorded run per protocol");
    assert_eq!((runs[0].kind.as_str(), runs[0].dataset.as_str()), ("recommend", "LastFM"));
    assert!(runs[0].config.contains("\"components\""), "the run's config is stored with it");
}

#[actix_rt::test]
async fn category_boosts_and_burials_reorder_what_is_served() {
    let shop = TestShop::small(72);
    let config = shop.config();
    let node = ingest_once(config.clone()).await;
    let dataset = Dataset::from_store(node.store.as_ref(), &config.recommend).unwrap();
    let plugins = ModelPlugins::single("classic", PluginHost::new(vec![plugin_dir()]).model("classic").unwrap());
    let snapshot = train(&plugins, &config.recommend, &dataset, &mut |_, _, _| {}).unwrap();
    let request = RecommendRequest { k: 10, category: None, exclude_seen: true };
    let sports_share = |boost: Option<f64>| {
        let mut recommend = config.recommend.clone();
        recommend.category_boosts.extend(boost.map(|factor| ("Sports".to_string(), factor)));
        let model = FusedModel::load(&plugins, snapshot.clone(), &recommend).unwrap();
        let top = model.recommend(&[], &request).unwrap();
        top.iter().filter(|item| model.catalog.in_category(model.catalog.item(&item.item_id).unwrap(), "Sports")).count()
    };
    let plain = sports_share(None);
    assert!(plain > 0 && plain < 10, "the popular items mix categories: {plain} of 10 are Sports");
    assert_eq!(sports_share(Some(1000.0)), 10, "a boost lifts Sports to the top");
    assert_eq!(sports_share(Some(0.001)), 0, "a burial pushes Sports out of the top");
}

#[actix_rt::test]
async fn a_blend_takes_components_from_several_model_plugins() {
    let library = crate::common::root()
        .join("plugins/model-torch/target/release")
        .join(format!("libagora_model_torch.{}", std::env::consts::DLL_EXTENSION));
    if !library.exists() {
        assert!(std::env::var_os("AGORA_REQUIRE_OPTIONAL").is_none(), "{} is missing", library.display());
        eprintln!("skipped: run scripts/setup-torch.sh for the torch plugin");
        return;
    }
    let shop = TestShop::small(73);
    let mut config = shop.config();
    let node = ingest_once(config.clone()).await;
    let dataset = Dataset::from_store(node.store.as_ref(), &config.recommend).unwrap();
    let host = PluginHost::new(vec![plugin_dir(), library.parent().unwrap().to_path_buf()]);

    config.recommend.components = vec!["popularity".into(), "transition".into(), "torch:sasrec".into()];
    config.recommend.params.insert("torch:sasrec".into(), serde_json::json!({ "epochs": 3, "hidden": 16, "threads": 1 }));
    let plugins = ModelPlugins::open(&host, &config.recommend).unwrap();
    let snapshot = train(&plugins, &config.recommend, &dataset, &mut |_, _, _| {}).unwrap();
    assert_eq!(snapshot.components.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["popularity", "transition", "torch:sasrec"]);
    let model = FusedModel::load(&plugins, snapshot, &config.recommend).unwrap();
    let history = &dataset.histories[0];
    let top = model.recommend(history, &RecommendRequest { k: 5, category: None, exclude_seen: true }).unwrap();
    assert_eq!(top.len(), 5);

    // A component naming a plugin that is not there, or a task a plugin lacks, is refused by name.
    config.recommend.components = vec!["nosuch:ease".into()];
    assert!(ModelPlugins::open(&host, &config.recommend).is_err());
    config.recommend.components = vec!["torch:ease".into()];
    let plugins = ModelPlugins::open(&host, &config.recommend).unwrap();
    let error = train(&plugins, &config.recommend, &dataset, &mut |_, _, _| {}).unwrap_err().to_string();
    assert!(error.contains("cannot do rec.ease (for \"torch:ease\")"), "{error}");
}
