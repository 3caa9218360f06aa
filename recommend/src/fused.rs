//! The served model: component snapshots loaded in the model plugin, their blend weights, the
//! catalogue, business rules and the one-line reason behind each result.

use std::collections::BTreeMap;

use agora_core::config::RecommendConfig;
use agora_core::eval::ranking::RankingSummary;
use agora_core::plugin::LoadedModel;
use agora_plugin_api::model::decode_f32s;
use serde::{Deserialize, Serialize};

use crate::blend::normalise;
use crate::dataset::Catalog;
use crate::error::RecommendError;
use crate::plugins::ModelPlugins;

/// The component unknown users and empty histories fall back to.
pub const POPULARITY: &str = "popularity";
/// The component new items (no interactions yet) are matched by.
pub const ATTRIBUTES: &str = "attributes";

/// How a fused model came to be: shown by the API and the console, stored with the snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelInfo {
    /// UTC milliseconds.
    pub trained_at: i64,
    pub data_version: String,
    pub weights: BTreeMap<String, f32>,
    /// Validation metrics of each component alone and of the blend (`"blend"`).
    pub validation: BTreeMap<String, RankingSummary>,
    pub fit_seconds: BTreeMap<String, f64>,
}

/// One fitted component as stored: `rec.<name>` snapshot bytes and its weight.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComponentSnapshot {
    pub name: String,
    pub weight: f32,
    pub snapshot: Vec<u8>,
}

/// Everything needed to serve again after a restart, without retraining.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FusedSnapshot {
    pub catalog: Catalog,
    pub histories: Vec<Vec<u32>>,
    pub components: Vec<ComponentSnapshot>,
    pub info: ModelInfo,
}

/// A loaded component.
#[derive(Debug)]
pub struct Component {
    pub name: String,
    pub weight: f32,
    pub model: LoadedModel,
}

/// What a recommendation request asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendRequest {
    pub k: usize,
    /// Only items in this category (any level of their path).
    pub category: Option<String>,
    /// Leave out items already in the user's history.
    pub exclude_seen: bool,
}

/// One recommended (or similar) item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    pub item_id: String,
    pub score: f32,
    /// The component whose signal ranked it: `transition`, `ease`, `attributes`, `popularity`, ...
    pub signal: String,
    /// One line for people: "often bought after X", "same brand as Y", "popular in Z".
    pub reason: String,
}

/// The served model. Immutable; a retrain builds a new one and swaps it in.
#[derive(Debug)]
pub struct FusedModel {
    pub catalog: Catalog,
    /// Each known user's history at training time (dense items, oldest first).
    pub histories: Vec<Vec<u32>>,
    pub components: Vec<Component>,
    /// How many users had each item, to tell new items apart.
    item_users: Vec<u32>,
    pub info: ModelInfo,
    hide_unavailable: bool,
    /// Per-item score multipliers from `category_boosts` (1 for most items).
    boosts: Vec<f32>,
    max_history: usize,
}

/// Blended scores and each component's weighted share of them.
pub struct Scored {
    pub total: Vec<f32>,
    pub parts: Vec<Vec<f32>>,
}

impl FusedModel {
    /// Loads a snapshot's components into their plugins and applies the serving rules of `config`.
    ///
    /// # Errors
    /// When a plugin is missing or refuses a component snapshot.
    pub fn load(plugins: &ModelPlugins, snapshot: FusedSnapshot, config: &RecommendConfig) -> Result<Self, RecommendError> {
        let FusedSnapshot { mut catalog, histories, components, info } = snapshot;
        catalog.index();
        let components = components
            .into_iter()
            .map(|component| {
                let (plugin, task) = plugins.task(&component.name)?;
                let model = plugin.load(&task, &component.snapshot)?;
                Ok(Component { name: component.name, weight: component.weight, model })
            })
            .collect::<Result<Vec<_>, RecommendError>>()?;
        let mut item_users = vec![0u32; catalog.n_items()];
        for history in &histories {
            for &item in history {
                item_users[item as usize] += 1;
            }
        }
        let boosts = (0..catalog.n_items() as u32)
            .map(|item| {
                config
                    .category_boosts
                    .iter()
                    .filter(|(category, _)| catalog.in_category(item, category))
                    .map(|(_, &factor)| factor as f32)
                    .product::<f32>()
            })
            .collect();
        Ok(Self {
            catalog,
            histories,
            components,
            item_users,
            info,
            hide_unavailable: config.hide_unavailable,
            boosts,
            max_history: config.max_history,
        })
    }

    /// The raw scores of one component for `history`.
    ///
    /// # Errors
    /// When the plugin fails or answers with the wrong number of scores.
    pub fn component_scores(&self, component: &Component, history: &[u32]) -> Result<Vec<f32>, RecommendError> {
        let request = serde_json::json!({"op": "scores", "history": history}).to_string();
        let scores = decode_f32s(&component.model.infer(request.as_bytes())?).map_err(RecommendError::BadResponse)?;
        if scores.len() != self.catalog.n_items() {
            return Err(RecommendError::BadResponse(format!(
                "{} returned {} scores for {} items",
                component.name,
                scores.len(),
                self.catalog.n_items()
            )));
        }
        Ok(scores)
    }

    /// Blends the components for `history` (its most recent `max_history` items). An empty
    /// history is scored by popularity alone.
    ///
    /// # Errors
    /// A plugin failure, or an empty history without a popularity component.
    pub fn score(&self, history: &[u32]) -> Result<Scored, RecommendError> {
        let weights: Vec<f32> = if history.is_empty() {
            if self.component(POPULARITY).is_none() {
                return Err(RecommendError::InvalidRequest(
                    "no history to go on and recommend.components has no \"popularity\" to fall back to".into(),
                ));
            }
            self.components.iter().map(|component| if component.name == POPULARITY { 1.0 } else { 0.0 }).collect()
        } else {
            self.components.iter().map(|component| component.weight).collect()
        };
        self.score_with(history, &weights)
    }

    /// Blends the components with explicit `weights` (one per component; 0 skips it) for the
    /// most recent `max_history` items of `history`.
    ///
    /// # Errors
    /// A plugin failure.
    pub fn score_with(&self, history: &[u32], weights: &[f32]) -> Result<Scored, RecommendError> {
        let history = &history[history.len().saturating_sub(self.max_history)..];
        let mut parts = Vec::with_capacity(self.components.len());
        for (component, &weight) in self.components.iter().zip(weights) {
            if weight == 0.0 {
                parts.push(Vec::new());
                continue;
            }
            let mut scores = self.component_scores(component, history)?;
            normalise(&mut scores, history);
            scores.iter_mut().for_each(|score| *score *= weight);
            parts.push(scores);
        }
        let mut total = vec![0.0; self.catalog.n_items()];
        for part in parts.iter().filter(|part| !part.is_empty()) {
            total.iter_mut().zip(part).for_each(|(sum, &score)| *sum += score);
        }
        Ok(Scored { total, parts })
    }

    /// What each component that answers `describe` says about its fit (network, losses, the
    /// tabular autoencoder's reconstruction error, ...), by component name.
    pub fn descriptions(&self) -> BTreeMap<String, serde_json::Value> {
        self.components
            .iter()
            .filter_map(|component| {
                let answer = component.model.infer(br#"{"op":"describe"}"#).ok()?;
                Some((component.name.clone(), serde_json::from_slice(&answer).ok()?))
            })
            .collect()
    }

    fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|component| component.name == name)
    }

    /// The history of a known user at training time followed by `live` items since, collapsed
    /// where an item repeats back to back.
    pub fn history_with(&self, user: Option<u32>, live: &[u32]) -> Vec<u32> {
        let mut history = user.map(|user| self.histories[user as usize].clone()).unwrap_or_default();
        for &item in live {
            if history.last() != Some(&item) {
                history.push(item);
            }
        }
        history
    }

    /// Top `request.k` items for a user with `history`, after business rules, with reasons.
    ///
    /// # Errors
    /// An unknown category, or a plugin failure.
    pub fn recommend(&self, history: &[u32], request: &RecommendRequest) -> Result<Vec<Recommendation>, RecommendError> {
        if let Some(category) = &request.category {
            if !self.catalog.has_category(category) {
                return Err(RecommendError::Unknown { kind: "category", id: category.clone() });
            }
        }
        let mut scored = self.score(history)?;
        self.apply_rules(&mut scored.total, request.category.as_deref());
        if request.exclude_seen {
            history.iter().for_each(|&item| scored.total[item as usize] = f32::NEG_INFINITY);
        }
        let top = top_k(&scored.total, request.k);
        self.explain(&scored, history, &top, request.category.as_deref())
    }

    /// The `k` items most like `item`: what the components predict after it, or, for a new item
    /// without interactions, what shares its attributes.
    ///
    /// # Errors
    /// No attributes component for a new item, or a plugin failure.
    pub fn similar(&self, item: u32, k: usize) -> Result<Vec<Recommendation>, RecommendError> {
        let history = [item];
        let mut scored = if self.item_users[item as usize] == 0 {
            if self.component(ATTRIBUTES).is_none() {
                return Err(RecommendError::InvalidRequest(format!(
                    "item {:?} has no interactions yet and recommend.components has no \"attributes\" to match it by",
                    self.catalog.item_ids[item as usize]
                )));
            }
            let weights: Vec<f32> = self.components.iter().map(|component| if component.name == ATTRIBUTES { 1.0 } else { 0.0 }).collect();
            self.score_with(&history, &weights)?
        } else {
            self.score(&history)?
        };
        self.apply_rules(&mut scored.total, None);
        scored.total[item as usize] = f32::NEG_INFINITY;
        let top = top_k(&scored.total, k);
        self.explain(&scored, &history, &top, None)
    }

    fn apply_rules(&self, scores: &mut [f32], category: Option<&str>) {
        for (item, score) in scores.iter_mut().enumerate() {
            let meta = &self.catalog.items[item];
            if (self.hide_unavailable && meta.available == Some(false))
                || category.is_some_and(|c| !self.catalog.in_category(item as u32, c))
            {
                *score = f32::NEG_INFINITY;
                continue;
            }
            let boost = self.boosts[item];
            if boost != 1.0 {
                *score = if *score >= 0.0 { *score * boost } else { *score / boost };
            }
        }
    }

    /// Names each result's strongest signal and asks that component which history item drove it.
    fn explain(
        &self,
        scored: &Scored,
        history: &[u32],
        top: &[u32],
        category: Option<&str>,
    ) -> Result<Vec<Recommendation>, RecommendError> {
        let strongest: Vec<Option<usize>> = top
            .iter()
            .map(|&item| {
                (0..self.components.len())
                    .filter(|&index| !scored.parts[index].is_empty() && scored.parts[index][item as usize] > 0.0)
                    .max_by(|&a, &b| scored.parts[a][item as usize].total_cmp(&scored.parts[b][item as usize]))
            })
            .collect();
        let mut because: BTreeMap<u32, Option<u32>> = BTreeMap::new();
        for (index, component) in self.components.iter().enumerate() {
            let items: Vec<u32> = top.iter().zip(&strongest).filter(|(_, best)| **best == Some(index)).map(|(&item, _)| item).collect();
            if items.is_empty() || component.name == POPULARITY {
                continue;
            }
            let request = serde_json::json!({"op": "explain", "history": history, "items": items}).to_string();
            let answer: Vec<Explained> = serde_json::from_slice(&component.model.infer(request.as_bytes())?)
                .map_err(|err| RecommendError::BadResponse(format!("{} explain: {err}", component.name)))?;
            because.extend(answer.into_iter().map(|explained| (explained.item, explained.because)));
        }
        Ok(top
            .iter()
            .zip(&strongest)
            .map(|(&item, best)| {
                let signal = best.map_or(POPULARITY, |index| self.components[index].name.as_str());
                let reason = self.reason(item, signal, because.get(&item).copied().flatten(), category);
                Recommendation {
                    item_id: self.catalog.item_ids[item as usize].clone(),
                    score: scored.total[item as usize],
                    signal: signal.to_string(),
                    reason,
                }
            })
            .collect())
    }

    fn reason(&self, item: u32, signal: &str, because: Option<u32>, category: Option<&str>) -> String {
        let Some(because) = because else {
            let context = category.map(str::to_string).or_else(|| self.catalog.items[item as usize].categories.first().cloned());
            return match context {
                Some(category) => format!("popular in {category}"),
                None => "popular overall".to_string(),
            };
        };
        let name = self.catalog.item_name(because);
        match signal {
            "transition" => format!("often bought after {name}"),
            ATTRIBUTES => {
                let (a, b) = (&self.catalog.items[item as usize], &self.catalog.items[because as usize]);
                if a.brand.is_some() && a.brand == b.brand {
                    format!("same brand as {name}")
                } else if let Some(shared) = a.categories.iter().rev().find(|category| b.categories.contains(category)) {
                    format!("also in {shared}, like {name}")
                } else {
                    format!("similar to {name}")
                }
            }
            _ => format!("often bought together with {name}"),
        }
    }
}

#[derive(Deserialize)]
struct Explained {
    item: u32,
    because: Option<u32>,
}

/// The `k` best items with a finite score, best first (ties by item id).
pub fn top_k(scores: &[f32], k: usize) -> Vec<u32> {
    let mut candidates: Vec<u32> = (0..scores.len() as u32).filter(|&item| scores[item as usize].is_finite()).collect();
    let order = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]).then(a.cmp(b));
    if candidates.len() > k && k > 0 {
        candidates.select_nth_unstable_by(k - 1, order);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(order);
    candidates.truncate(k);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_skips_masked_items_and_orders_best_first() {
        let scores = [0.5, f32::NEG_INFINITY, 0.9, 0.5, 0.1];
        assert_eq!(top_k(&scores, 3), [2, 0, 3]);
        assert_eq!(top_k(&scores, 10), [2, 0, 3, 4]);
        assert!(top_k(&scores, 0).is_empty());
    }
}
