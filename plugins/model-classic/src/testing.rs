//! Helpers for the unit tests: tiny hand-made interactions and round trips through the plugin API.

use agora_plugin_api::model::{decode_f32s, Interactions, ModelPlugin};

use crate::ClassicModels;

/// Interactions over `n_items` items, one sequence per user, zero timestamps, no attributes.
pub(crate) fn interactions(n_items: u32, sequences: &[&[u32]]) -> Interactions {
    let mut data = Interactions { n_items, seq_offsets: vec![0], attr_offsets: vec![0; n_items as usize + 1], ..Interactions::default() };
    for sequence in sequences {
        data.items.extend_from_slice(sequence);
        data.seq_offsets.push(data.items.len() as u64);
    }
    data.timestamps = vec![0; data.items.len()];
    data
}

/// Gives each item the attributes listed for it.
pub(crate) fn with_attributes(mut data: Interactions, n_attributes: u32, attributes: &[&[u32]]) -> Interactions {
    assert_eq!(attributes.len(), data.n_items as usize);
    data.n_attributes = n_attributes;
    data.attr_offsets = vec![0];
    data.attributes.clear();
    for item_attributes in attributes {
        data.attributes.extend_from_slice(item_attributes);
        data.attr_offsets.push(data.attributes.len() as u64);
    }
    data
}

/// The snapshot `fit` makes, or its error.
pub(crate) fn fit(task: &str, data: &Interactions, params: &str) -> Result<Vec<u8>, String> {
    ClassicModels::fit(task, &data.encode(), params.as_bytes(), &mut |_, _| {})
}

/// Fits and loads through the plugin API.
pub(crate) fn fit_load(task: &str, data: &Interactions, params: &str) -> ClassicModels {
    ClassicModels::load(task, &fit(task, data, params).unwrap()).unwrap()
}

/// The `scores` answer for a history.
pub(crate) fn scores(model: &ClassicModels, history: &[u32]) -> Vec<f32> {
    let request = serde_json::json!({"op": "scores", "history": history}).to_string();
    decode_f32s(&model.infer(request.as_bytes()).unwrap()).unwrap()
}

/// A JSON answer (`explain`, `similar`) or the error message.
pub(crate) fn ask(model: &ClassicModels, request: serde_json::Value) -> Result<serde_json::Value, String> {
    model.infer(request.to_string().as_bytes()).map(|bytes| serde_json::from_slice(&bytes).unwrap())
}

/// The `because` of each item in an `explain` answer.
pub(crate) fn because(model: &ClassicModels, history: &[u32], items: &[u32]) -> Vec<Option<u64>> {
    let answer = ask(model, serde_json::json!({"op": "explain", "history": history, "items": items})).unwrap();
    answer.as_array().unwrap().iter().map(|entry| entry["because"].as_u64()).collect()
}

/// The item ids of a `similar` answer.
pub(crate) fn similar(model: &ClassicModels, item: u32, k: usize) -> Vec<u64> {
    let answer = ask(model, serde_json::json!({"op": "similar", "item": item, "k": k})).unwrap();
    answer.as_array().unwrap().iter().map(|entry| entry["item"].as_u64().unwrap()).collect()
}
