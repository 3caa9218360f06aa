//! `text.classify` through the plugin trait: a short fine-tune on a toy intent set learns it,
//! survives a snapshot round trip, and bad data, params and requests are refused with the reason.
//! Without the MiniLM folder (see tests/minilm.rs) each test says so and checks nothing.

mod common;

use agora_model_torch::{TorchModels, TASK_CLASSIFY};
use agora_plugin_api::model::{decode_f32s, ModelPlugin};

const EXAMPLES: [(&str, &str); 18] = [
    ("where is my parcel", "delivery"),
    ("my package has not arrived yet", "delivery"),
    ("when will the order be delivered", "delivery"),
    ("how long does shipping take", "delivery"),
    ("track my shipment please", "delivery"),
    ("the courier never came", "delivery"),
    ("I want my money back", "refund"),
    ("how do I get a refund", "refund"),
    ("please refund this purchase", "refund"),
    ("can I return this for a refund", "refund"),
    ("refund my payment", "refund"),
    ("I was charged but want a reimbursement", "refund"),
    ("I forgot my password", "account"),
    ("how do I change my email address", "account"),
    ("I cannot log in to my account", "account"),
    ("reset my login details", "account"),
    ("delete my account", "account"),
    ("update my profile name", "account"),
];

fn data() -> String {
    EXAMPLES.iter().map(|(text, label)| serde_json::json!({ "text": text, "label": label }).to_string() + "\n").collect()
}

fn params(dir: &std::path::Path, extra: &str) -> Vec<u8> {
    format!(r#"{{"model_dir":{},"threads":2{extra}}}"#, serde_json::to_string(dir.to_str().unwrap()).unwrap()).into_bytes()
}

fn classify(model: &TorchModels, texts: &[&str]) -> (Vec<String>, Vec<Vec<f64>>) {
    let response = model.infer(serde_json::json!({ "op": "classify", "texts": texts }).to_string().as_bytes()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&response).unwrap();
    let labels = value["labels"].as_array().unwrap().iter().map(|label| label.as_str().unwrap().to_string()).collect();
    let rows = value["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect())
        .collect();
    (labels, rows)
}

#[test]
fn a_short_fine_tune_learns_unseen_phrasings_and_round_trips() {
    let Some(dir) = common::model_dir() else { return };
    let mut steps = 0;
    let snapshot = TorchModels::fit(
        TASK_CLASSIFY,
        data().as_bytes(),
        &params(&dir, r#","epochs":2,"min_steps":0,"train_layers":2,"batch_size":6"#),
        &mut |done, _| steps = done,
    )
    .unwrap();
    assert!(steps > 0, "progress was reported");
    let model = TorchModels::load(TASK_CLASSIFY, &snapshot).unwrap();
    let questions = ["has my delivery been shipped", "I would like a refund of my money", "I need to reset my password"];
    let (labels, rows) = classify(&model, &questions);
    assert_eq!(labels, ["account", "delivery", "refund"]);
    for (row, expected) in rows.iter().zip(["delivery", "refund", "account"]) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row:?}");
        let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(labels[best], expected, "{row:?}");
    }
    // Loading the snapshot again gives the same answers.
    let again = TorchModels::load(TASK_CLASSIFY, &snapshot).unwrap();
    let (_, rows_again) = classify(&again, &questions);
    for (a, b) in rows.iter().flatten().zip(rows_again.iter().flatten()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // The fine-tuned encoder's vectors are unit length.
    let vectors = decode_f32s(&model.infer(br#"{"op":"encode","texts":["hello there"]}"#).unwrap()).unwrap();
    let norm: f32 = vectors.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(vectors.len() == 384 && (norm - 1.0).abs() < 1e-3, "{norm}");
}

#[test]
fn bad_data_params_and_requests_are_refused_with_the_reason() {
    let Some(dir) = common::model_dir() else { return };
    let fit = |data: &str, extra: &str| TorchModels::fit(TASK_CLASSIFY, data.as_bytes(), &params(&dir, extra), &mut |_, _| {}).unwrap_err();
    assert!(fit("", "").contains("no examples"));
    assert!(fit("{\"text\":\"a\",\"label\":\"x\"}\nnot json\n", "").contains("line 2"));
    assert!(fit("{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"x\"}\n", "").contains("2 distinct labels"));
    assert!(fit(&data(), r#","lr":-1"#).contains("lr"));
    assert!(fit(&data(), r#","colour":1"#).contains("colour"));
    let snapshot = TorchModels::fit(TASK_CLASSIFY, data().as_bytes(), &params(&dir, r#","epochs":0"#), &mut |_, _| {}).unwrap();
    let model = TorchModels::load(TASK_CLASSIFY, &snapshot).unwrap();
    assert!(model.infer(br#"{"op":"classify"}"#).is_err());
    assert!(model.infer(br#"{"op":"dance","texts":["a"]}"#).is_err());
    let describe: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
    assert_eq!(describe["labels"], serde_json::json!(["account", "delivery", "refund"]), "{describe}");
    assert!(TorchModels::load(TASK_CLASSIFY, &snapshot[..snapshot.len() / 2]).is_err());
}
