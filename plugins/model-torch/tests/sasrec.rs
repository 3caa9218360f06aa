//! `rec.sasrec` through the plugin trait: on toy sequences whose next item depends on the last
//! two (so no first-order model can tell), it ranks the right next item first, survives a snapshot
//! round trip with identical scores, answers `similar`, `explain` and `describe`, and refuses bad
//! requests and data with the reason.

use agora_model_torch::{TorchModels, TASK_SASREC};
use agora_plugin_api::model::{decode_f32s, Interactions, ModelPlugin};

const ITEMS: u32 = 12;

/// Users walk the items up (0, 1, 2, ...) or down (0, 11, 10, ...): after item `i` comes `i + 1`
/// or `i − 1` depending on the direction, which only the item before `i` tells.
fn interactions() -> Interactions {
    let mut seq_offsets = vec![0u64];
    let mut items = Vec::new();
    for user in 0..240u32 {
        let start = user % ITEMS;
        let up = user % 2 == 0;
        let length = 6 + user % 5;
        for step in 0..length {
            let item = if up { (start + step) % ITEMS } else { (start + ITEMS * 4 - step) % ITEMS };
            items.push(item);
        }
        seq_offsets.push(items.len() as u64);
    }
    Interactions {
        n_items: ITEMS,
        n_attributes: 0,
        timestamps: vec![0; items.len()],
        seq_offsets,
        items,
        attr_offsets: vec![0; ITEMS as usize + 1],
        attributes: Vec::new(),
    }
}

fn best(scores: &[f32]) -> usize {
    (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap()
}

fn scores(model: &TorchModels, history: &[u32]) -> Vec<f32> {
    let request = serde_json::json!({ "op": "scores", "history": history }).to_string();
    decode_f32s(&model.infer(request.as_bytes()).unwrap()).unwrap()
}

#[test]
fn sasrec_learns_which_way_a_sequence_runs() {
    let params = br#"{"hidden":32,"heads":2,"epochs":30,"batch_size":32,"lr":0.005,"dropout":0.1,"threads":2}"#;
    let mut steps = 0;
    let snapshot = TorchModels::fit(TASK_SASREC, &interactions().encode(), params, &mut |done, _| steps = done).unwrap();
    assert_eq!(steps, 30 * 240u64.div_ceil(32));
    let model = TorchModels::load(TASK_SASREC, &snapshot).unwrap();

    // After 4, 5 the walk goes up to 6; after 6, 5 it goes down to 4.
    let up = scores(&model, &[3, 4, 5]);
    let down = scores(&model, &[7, 6, 5]);
    assert_eq!(up.len(), ITEMS as usize);
    assert_eq!((best(&up), best(&down)), (6, 4));
    assert!(scores(&model, &[]).iter().all(|&score| score == 0.0));

    let reloaded = TorchModels::load(TASK_SASREC, &snapshot).unwrap();
    assert_eq!(scores(&reloaded, &[3, 4, 5]), up);

    let similar: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"similar","item":2,"k":3}"#).unwrap()).unwrap();
    let similar = similar.as_array().unwrap();
    assert_eq!(similar.len(), 3);
    assert!(similar.iter().all(|n| n["item"] != 2));
    let explained: serde_json::Value =
        serde_json::from_slice(&model.infer(br#"{"op":"explain","history":[3,4,5],"items":[6]}"#).unwrap()).unwrap();
    assert_eq!(explained[0]["item"], 6);
    let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
    let losses = described["training_loss"].as_array().unwrap();
    assert_eq!(losses.len(), 30);
    assert!(losses[29].as_f64().unwrap() < 0.5 * losses[0].as_f64().unwrap(), "{losses:?}");

    let refused = |request: &str| model.infer(request.as_bytes()).unwrap_err();
    assert!(refused(r#"{"op":"scores","history":[12]}"#).contains("history item 12 out of range (n_items = 12)"));
    assert!(refused(r#"{"op":"similar","item":99,"k":1}"#).contains("item 99 out of range"));
    assert!(refused(r#"{"op":"train"}"#).contains("bad request"));
}

#[test]
fn sasrec_refuses_data_it_cannot_learn_from() {
    let mut data = interactions();
    data.seq_offsets = vec![0, 1];
    data.items.truncate(1);
    data.timestamps.truncate(1);
    let error = TorchModels::fit(TASK_SASREC, &data.encode(), b"{}", &mut |_, _| {}).unwrap_err();
    assert!(error.contains("at least one user with 2 or more interactions"), "{error}");
    assert!(TorchModels::fit(TASK_SASREC, b"junk", b"{}", &mut |_, _| {}).is_err());
    assert!(TorchModels::load(TASK_SASREC, b"AGTPjunkjunk").err().unwrap().contains("bad magic"));
}
