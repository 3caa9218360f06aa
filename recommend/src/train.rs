//! Training: fit every component through the model plugin, choose blend weights on the
//! validation split, then refit on all data for serving.

use std::collections::BTreeMap;
use std::time::Instant;

use agora_core::config::RecommendConfig;
use agora_core::eval::ranking::RankingMetrics;
use agora_plugin_api::model::Interactions;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::blend::{score_weights, search_weights, CachedCase};
use crate::dataset::Dataset;
use crate::error::RecommendError;
use crate::evaluate::{sample_negatives, Protocol};
use crate::fused::{ComponentSnapshot, FusedModel, FusedSnapshot, ModelInfo};
use crate::plugins::ModelPlugins;
use crate::split::{Holdout, Split};

/// Seed of the validation-user sample.
const VALIDATION_SEED: u64 = 20_201_122;

/// Progress of a training run: `(stage, done, total)`, e.g. `("fit ease", 3, 15)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Fits each configured component on `data`; returns the snapshots (weight 1) and fit seconds.
///
/// # Errors
/// A plugin lacks a task, or a fit fails.
pub fn fit_components(
    plugins: &ModelPlugins,
    config: &RecommendConfig,
    data: &Interactions,
    progress: Progress<'_>,
) -> Result<(Vec<ComponentSnapshot>, BTreeMap<String, f64>), RecommendError> {
    let encoded = data.encode();
    let mut snapshots = Vec::new();
    let mut seconds = BTreeMap::new();
    for name in &config.components {
        let params = config.params.get(name).cloned().unwrap_or_else(|| serde_json::json!({})).to_string();
        let started = Instant::now();
        let stage = format!("fit {name}");
        let snapshot = plugins.fit(name, &encoded, params.as_bytes(), |done, total| progress(&stage, done, total.max(1)))?;
        progress(&stage, 1, 1);
        seconds.insert(name.clone(), started.elapsed().as_secs_f64());
        snapshots.push(ComponentSnapshot { name: name.clone(), weight: 1.0, snapshot });
    }
    Ok((snapshots, seconds))
}

/// Models fitted on the `holdout` split's training data (all weights 1), ready to score its cases.
///
/// # Errors
/// As [`fit_components`].
pub fn fit_split(
    plugins: &ModelPlugins,
    config: &RecommendConfig,
    dataset: &Dataset,
    split: &Split,
    progress: Progress<'_>,
) -> Result<(FusedModel, BTreeMap<String, f64>), RecommendError> {
    let (components, fit_seconds) = fit_components(plugins, config, &split.train, progress)?;
    Ok((load_split(plugins, config, dataset, split, components)?, fit_seconds))
}

/// The model of `components` fitted on the `holdout` split's training data (all weights 1), ready
/// to score its cases.
///
/// # Errors
/// A snapshot the plugin cannot load.
pub fn load_split(
    plugins: &ModelPlugins,
    config: &RecommendConfig,
    dataset: &Dataset,
    split: &Split,
    components: Vec<ComponentSnapshot>,
) -> Result<FusedModel, RecommendError> {
    let histories =
        dataset.histories.iter().map(|history| history[..history.len().saturating_sub(split.holdout.hidden())].to_vec()).collect();
    let snapshot = FusedSnapshot { catalog: dataset.catalog.clone(), histories, components, info: ModelInfo::default() };
    FusedModel::load(plugins, snapshot, config)
}

/// The blend weights and what they (and each component alone) score on validation.
#[derive(Clone, Debug)]
pub struct Weights {
    pub weights: Vec<f32>,
    pub blend: RankingMetrics,
    pub components: Vec<RankingMetrics>,
}

/// Scores a seeded sample of validation cases with every component, then searches the weights
/// that rank the held-out items best under `protocol` (serving uses [`Protocol::Full`]).
///
/// # Errors
/// A plugin failure, or no user with a history long enough to validate on.
pub fn choose_weights(
    model: &FusedModel,
    dataset: &Dataset,
    split: &Split,
    config: &RecommendConfig,
    protocol: Protocol,
) -> Result<Weights, RecommendError> {
    let mut cases = split.cases.clone();
    if cases.is_empty() {
        return Err(RecommendError::NoData("no user has the three interactions needed to choose blend weights on validation".into()));
    }
    cases.shuffle(&mut rand::rngs::StdRng::seed_from_u64(VALIDATION_SEED));
    cases.truncate(config.validation_users);
    let ones = vec![1.0; model.components.len()];
    let cached = std::thread::scope(|scope| {
        let workers: Vec<_> = cases
            .chunks(cases.len().div_ceil(2))
            .map(|chunk| {
                let ones = &ones;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|case| {
                            let history = &dataset.histories[case.user as usize][..case.seen];
                            let parts = model.score_with(history, ones)?.parts;
                            let negatives = match protocol {
                                Protocol::Full => None,
                                Protocol::Sampled { negatives, seed } => Some(sample_negatives(dataset, case.user, negatives, seed)),
                            };
                            Ok(CachedCase { parts, history: history.to_vec(), target: case.target, negatives })
                        })
                        .collect::<Result<Vec<_>, RecommendError>>()
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("validation worker panicked")).collect::<Result<Vec<_>, _>>()
    })?;
    let cached: Vec<CachedCase> = cached.into_iter().flatten().collect();
    let count = model.components.len();
    let components = (0..count)
        .map(|index| score_weights(&cached, &(0..count).map(|other| if other == index { 1.0 } else { 0.0 }).collect::<Vec<_>>()))
        .collect();
    let (weights, blend) = search_weights(&cached, count);
    Ok(Weights { weights, blend, components })
}

/// The whole training run for serving: weights from the validation split, components refitted
/// on every interaction.
///
/// # Errors
/// As [`fit_components`] and [`choose_weights`].
pub fn train(
    plugins: &ModelPlugins,
    config: &RecommendConfig,
    dataset: &Dataset,
    progress: Progress<'_>,
) -> Result<FusedSnapshot, RecommendError> {
    if dataset.interactions() == 0 {
        return Err(RecommendError::NoData("the store holds no events, orders or reviews".into()));
    }
    let split = Split::new(dataset, Holdout::Validation);
    let (validation_model, _) = fit_split(plugins, config, dataset, &split, progress)?;
    progress("choose weights", 0, 1);
    let chosen = choose_weights(&validation_model, dataset, &split, config, Protocol::Full)?;
    progress("choose weights", 1, 1);
    drop(validation_model);

    let all = dataset.interactions_for(|len| len);
    let (mut components, fit_seconds) = fit_components(plugins, config, &all, progress)?;
    for (component, &weight) in components.iter_mut().zip(&chosen.weights) {
        component.weight = weight;
    }
    let mut validation: BTreeMap<_, _> =
        config.components.iter().cloned().zip(chosen.components.iter().map(RankingMetrics::summary)).collect();
    validation.insert("blend".into(), chosen.blend.summary());
    let info = ModelInfo {
        trained_at: agora_core::now_ms(),
        data_version: dataset.version.clone(),
        weights: config.components.iter().cloned().zip(chosen.weights).collect(),
        validation,
        fit_seconds,
    };
    Ok(FusedSnapshot { catalog: dataset.catalog.clone(), histories: dataset.histories.clone(), components, info })
}
