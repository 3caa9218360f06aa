//! The toy walks `rec.sasrec`'s tests train on, and a helper to score a history.

use agora_model_torch::TorchModels;
use agora_plugin_api::model::{decode_f32s, Interactions, ModelPlugin};

pub const ITEMS: u32 = 12;

/// Users walk the items up (0, 1, 2, ...) or down (0, 11, 10, ...): after item `i` comes `i + 1`
/// or `i − 1` depending on the direction, which only the item before `i` tells.
pub fn interactions() -> Interactions {
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
        ..Interactions::default()
    }
}

pub fn scores(model: &TorchModels, history: &[u32]) -> Vec<f32> {
    let request = serde_json::json!({ "op": "scores", "history": history }).to_string();
    decode_f32s(&model.infer(request.as_bytes()).unwrap()).unwrap()
}

/// The walks over items 0..12, plus 12 "twin" items 12..24 nobody interacted with: item `k` and
/// its twin `12 + k` share attribute `k`, which no other item has.
pub fn interactions_with_twins() -> Interactions {
    let mut data = interactions();
    data.n_items = 2 * ITEMS;
    data.n_attributes = ITEMS;
    data.attr_offsets = (0..=2 * ITEMS as u64).collect();
    data.attributes = (0..2 * ITEMS).map(|item| item % ITEMS).collect();
    data
}

/// The walks over items 0..12, plus 12 twins 12..24 nobody interacted with, told apart from the
/// others by numeric features only (no attributes): item `k` and its twin `12 + k` share the point
/// of angle `2πk/12` on a curve of three harmonics.
#[allow(dead_code)] // tests/sasrec.rs only
pub fn interactions_with_numeric_twins() -> Interactions {
    let mut data = interactions();
    data.n_items = 2 * ITEMS;
    data.attr_offsets = vec![0; 2 * ITEMS as usize + 1];
    data.feature_names = ["cos1", "sin1", "cos2", "sin2", "cos3", "sin3"].map(String::from).to_vec();
    data.item_features = (0..2 * ITEMS)
        .flat_map(|item| {
            let angle = std::f32::consts::TAU * (item % ITEMS) as f32 / ITEMS as f32;
            [1.0f32, 2.0, 3.0].into_iter().flat_map(move |harmonic| [(harmonic * angle).cos(), (harmonic * angle).sin()])
        })
        .collect();
    data
}
