//! `match.mlp` through the plugin trait: trained on pairs of toy product records, it separates
//! held-out matches (the same product described differently) from non-matches, survives a
//! snapshot round trip, reports its loss curve, and refuses bad requests with the reason.
//! Without the MiniLM folder (see tests/minilm.rs) the test says so and checks nothing.

mod common;

use agora_model_torch::{TorchModels, TASK_MATCH};
use agora_plugin_api::model::ModelPlugin;

/// Each product as one source writes it and as another does.
const PRODUCTS: [(&str, &str); 16] = [
    ("sony bravia 40 inch lcd television", "sony 40in bravia hdtv lcd tv"),
    ("canon powershot digital camera silver", "canon power shot silver compact camera"),
    ("apple ipod nano 8gb blue", "ipod nano blue 8 gb by apple"),
    ("logitech wireless optical mouse", "logitech cordless optical mouse"),
    ("samsung stainless steel refrigerator", "samsung fridge in stainless steel"),
    ("bose noise cancelling headphones", "bose headphones with noise cancellation"),
    ("hp laserjet monochrome printer", "hp mono laser jet printer"),
    ("garmin portable gps navigator", "garmin gps portable navigation unit"),
    ("panasonic cordless phone with answering machine", "panasonic cordless telephone answering system"),
    ("kitchenaid stand mixer red", "red kitchen aid standing mixer"),
    ("nikon dslr camera body", "nikon digital slr body only"),
    ("western digital external hard drive 1tb", "wd 1 tb external hdd"),
    ("philips electric toothbrush", "philips sonicare power toothbrush"),
    ("dyson cordless vacuum cleaner", "dyson cord free vacuum"),
    ("lg blu-ray disc player", "lg bluray player"),
    ("epson inkjet photo printer", "epson photo ink jet printer"),
];

/// A crude pair feature: the share of shared words.
fn overlap(a: &str, b: &str) -> f64 {
    let (a, b): (std::collections::BTreeSet<&str>, std::collections::BTreeSet<&str>) = (a.split(' ').collect(), b.split(' ').collect());
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

fn pair(left: &str, right: &str, label: Option<bool>) -> serde_json::Value {
    let mut value = serde_json::json!({ "features": [overlap(left, right)], "left": left, "right": right });
    if let Some(label) = label {
        value["label"] = label.into();
    }
    value
}

/// Matches and shifted non-matches among `products`.
fn pairs(products: &[(&str, &str)], label: bool) -> Vec<serde_json::Value> {
    let n = products.len();
    let mut out = Vec::new();
    for (i, (left, right)) in products.iter().enumerate() {
        out.push(pair(left, right, label.then_some(true)));
        for shift in [1, 3] {
            out.push(pair(left, products[(i + shift) % n].1, label.then_some(false)));
        }
    }
    out
}

fn score(model: &TorchModels, pairs: &[serde_json::Value]) -> Vec<f64> {
    let response = model.infer(serde_json::json!({ "op": "score", "pairs": pairs }).to_string().as_bytes()).unwrap();
    serde_json::from_slice(&response).unwrap()
}

#[test]
fn learns_to_match_products_and_round_trips() {
    let Some(dir) = common::model_dir() else { return };
    let (train, test) = PRODUCTS.split_at(12);
    let data: String = pairs(train, true).iter().map(|pair| pair.to_string() + "\n").collect();
    let params = format!(r#"{{"model_dir":{},"threads":2,"epochs":60,"seed":3}}"#, serde_json::to_string(dir.to_str().unwrap()).unwrap());
    let mut progress = Vec::new();
    let snapshot =
        TorchModels::fit(TASK_MATCH, data.as_bytes(), params.as_bytes(), &mut |done, total| progress.push((done, total))).unwrap();
    assert!(progress.last().is_some_and(|&(done, total)| done == total && total > 60), "{progress:?}");
    let model = TorchModels::load(TASK_MATCH, &snapshot).unwrap();

    let held_out = pairs(test, false);
    let scores = score(&model, &held_out);
    assert_eq!(scores.len(), held_out.len());
    for (index, chunk) in scores.chunks(3).enumerate() {
        let (matched, others) = (chunk[0], &chunk[1..]);
        assert!(others.iter().all(|&other| matched > 0.5 && other < 0.5), "held-out product {index}: {chunk:?}");
    }

    // Reloaded, the same scores; describe has one loss per epoch, falling.
    let again = TorchModels::load(TASK_MATCH, &snapshot).unwrap();
    assert_eq!(score(&again, &held_out), scores);
    let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
    let losses: Vec<f64> = described["training_loss"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 60, "{described}");
    assert!(losses[59] < 0.5 * losses[0], "{losses:?}");

    let wrong_width = serde_json::json!({ "op": "score", "pairs": [{ "features": [0.1, 0.2], "left": "a", "right": "b" }] });
    assert!(model.infer(wrong_width.to_string().as_bytes()).unwrap_err().contains("trained on 1"));
    assert!(model.infer(br#"{"op":"classify","texts":[]}"#).unwrap_err().contains("bad request"));
    assert!(TorchModels::load(TASK_MATCH, b"AGTC....").err().unwrap().contains("bad magic"));
}
