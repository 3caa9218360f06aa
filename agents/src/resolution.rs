//! The Clean agents' integration step: catalogue items from every source are resolved into
//! entities (blocking, the learned matcher, clustering with a conflict check) and each entity's
//! golden record, with per-field provenance, and every scored candidate pair with its evidence
//! replace the stored ones. Runs on the Clean agent's own thread (blocking work).

use std::collections::BTreeMap;
use std::path::Path;

use agora_core::config::ResolveConfig;
use agora_core::plugin::{LoadedModel, ModelPlugin, PluginHost};
use agora_core::record::{Record, RecordKind};
use agora_core::store::Store;
use agora_qa::embed::Embedder;
use agora_resolve::ditto::{self, LabelledPair};
use agora_resolve::feedback::{Feedback, Verdict};
use agora_resolve::gbt::GbtOptions;
use agora_resolve::golden::GoldenRecord;
use agora_resolve::logistic::LogisticOptions;
use agora_resolve::matcher::{best_threshold, MatcherOptions, Scores};
use agora_resolve::pipeline::{self, PairScorer, TrainedMatcher, Vectors};
use agora_resolve::record::field;
use agora_resolve::{generate, Entity};
use serde::{Deserialize, Serialize};

use crate::error::AgentError;

/// The model name under which operators' verdicts are stored (JSON [`Feedback`]).
pub const FEEDBACK_KEY: &str = "resolve.feedback";

/// Item attributes that hold a model number, in order of preference.
const MODEL_ATTRIBUTES: [&str; 4] = ["model", "mpn", "model_number", "modelno"];

/// What one integration run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveSummary {
    /// Items read, over every source.
    pub items: usize,
    /// Candidate pairs blocking proposed.
    pub candidates: usize,
    /// Pairs the matcher (or an operator) accepted.
    pub matches: usize,
    /// Golden records written (one per entity, single-record ones included).
    pub golden: usize,
    /// Golden records merged from more than one item.
    pub merged: usize,
    /// Accepted pairs dropped by the conflict check.
    pub conflicts: usize,
}

/// The version of the stored golden records and decisions (a field of each JSON value).
pub const RESOLUTION_FORMAT: u32 = 1;

/// One stored golden record: the record and the format version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredGolden {
    pub version: u32,
    #[serde(flatten)]
    pub record: GoldenRecord,
}

/// One stored match decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredDecision {
    pub version: u32,
    /// `source/id` of the two items.
    pub a: String,
    pub b: String,
    pub score: f64,
    pub accepted: bool,
    /// Each feature's name and value: why the matcher decided so.
    pub evidence: BTreeMap<String, f64>,
}

/// The stored catalogue items as entities (`source` = the item's source, `ts` = its ingest time).
///
/// # Errors
/// The store failed.
pub fn items_as_entities(store: &dyn Store) -> Result<Vec<Entity>, AgentError> {
    let mut entities = Vec::new();
    store.scan_records(RecordKind::Item, &mut |_, stored| {
        if let Record::Item(item) = stored.record {
            let mut entity = Entity::new(stored.provenance.source, item.item_id, stored.provenance.ingested_at);
            for (name, value) in &item.attributes {
                entity.set(name, value.clone());
            }
            if let Some(model) = MODEL_ATTRIBUTES.iter().find_map(|name| item.attributes.get(*name)) {
                entity.set(field::MODEL, model.clone());
            }
            entity.set(field::TITLE, item.title.unwrap_or_default());
            entity.set(field::DESCRIPTION, item.description.unwrap_or_default());
            entity.set(field::BRAND, item.brand.unwrap_or_default());
            entity.set(field::CATEGORY, item.categories.first().cloned().unwrap_or_default());
            if let Some(price) = item.price {
                entity.set(field::PRICE, format!("{price}"));
            }
            if let Some(available) = item.available {
                entity.set("available", available.to_string());
            }
            entities.push(entity);
        }
        true
    })?;
    Ok(entities)
}

/// Operators' stored verdicts (none when nothing is stored).
///
/// # Errors
/// The store failed or the stored verdicts do not decode.
pub fn load_feedback(store: &dyn Store) -> Result<Feedback, AgentError> {
    match store.load_model(FEEDBACK_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|err| AgentError::Config(format!("stored {FEEDBACK_KEY}: {err}"))),
        None => Ok(Feedback::default()),
    }
}

/// Records an operator's verdict on two items (`source/id` keys): the next integration run
/// honours it (an accepted pair is merged, a rejected one never is) and the next training adds it.
///
/// # Errors
/// The store failed or the stored verdicts do not decode.
pub fn record_feedback(store: &dyn Store, a: &str, b: &str, verdict: Verdict) -> Result<(), AgentError> {
    let mut feedback = load_feedback(store)?;
    feedback.record(a, b, verdict, agora_core::now_ms());
    store.save_model(FEEDBACK_KEY, &to_json(&feedback))?;
    Ok(())
}

/// A model plugin's matcher task (the torch plugin's `match.mlp`): it scores a pair from its
/// feature row and both records' [`Entity::match_text`], and a pair at or above the threshold
/// chosen on validation pairs is a match.
pub struct PluginMatcher {
    model: LoadedModel,
    threshold: f64,
    /// The plugin's `describe` answer (params, training loss per epoch, ...).
    pub description: serde_json::Value,
}

/// One pair as the plugin reads it.
fn pair_line(left: &Entity, right: &Entity, features: &[f64], label: Option<bool>) -> serde_json::Value {
    let mut line = serde_json::json!({ "features": features, "left": left.match_text(), "right": right.match_text() });
    if let Some(label) = label {
        line["label"] = label.into();
    }
    line
}

impl PluginMatcher {
    /// Fits `task` of `plugin` with `params` on the `train` pairs and their feature rows, then
    /// picks the threshold with the best F1 on the `valid` ones; returns the matcher and that F1's
    /// scores.
    ///
    /// # Errors
    /// The plugin refused the data or params, or answered something other than scores.
    pub fn fit(
        plugin: &ModelPlugin,
        task: &str,
        params: &serde_json::Value,
        train: (&[LabelledPair], &[Vec<f64>]),
        valid: (&[LabelledPair], &[Vec<f64>]),
    ) -> Result<(Self, Scores), AgentError> {
        let data: String = train
            .0
            .iter()
            .zip(train.1)
            .map(|(pair, features)| pair_line(&pair.left, &pair.right, features, Some(pair.label)).to_string() + "\n")
            .collect();
        let snapshot = plugin.fit(task, data.as_bytes(), params.to_string().as_bytes(), |_, _| {})?;
        let model = plugin.load(task, &snapshot)?;
        let description = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#)?).unwrap_or(serde_json::Value::Null);
        let mut matcher = Self { model, threshold: 0.5, description };
        let rows: Vec<(&Entity, &Entity, Vec<f64>)> =
            valid.0.iter().zip(valid.1).map(|(pair, row)| (&pair.left, &pair.right, row.clone())).collect();
        let scores = matcher.score_pairs(&rows).map_err(AgentError::Config)?;
        let labels: Vec<bool> = valid.0.iter().map(|pair| pair.label).collect();
        let (threshold, valid_scores) = best_threshold(&scores, &labels);
        matcher.threshold = threshold;
        Ok((matcher, valid_scores))
    }
}

impl PairScorer for PluginMatcher {
    fn score_pairs(&self, pairs: &[(&Entity, &Entity, Vec<f64>)]) -> Result<Vec<f64>, String> {
        let lines: Vec<serde_json::Value> = pairs.iter().map(|(a, b, features)| pair_line(a, b, features, None)).collect();
        let answer =
            self.model.infer(serde_json::json!({ "op": "score", "pairs": lines }).to_string().as_bytes()).map_err(|err| err.to_string())?;
        serde_json::from_slice(&answer).map_err(|err| format!("the matcher answered something other than scores: {err}"))
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }
}

/// The trained matchers: the pure-Rust one (whose features every matcher reads) and, with
/// `resolve.matcher = "torch"`, the plugin's, which then scores.
pub struct Matchers {
    pub trained: TrainedMatcher,
    pub plugin: Option<PluginMatcher>,
}

impl Matchers {
    /// The matcher that scores candidate pairs.
    pub fn scorer(&self) -> &dyn PairScorer {
        match &self.plugin {
            Some(plugin) => plugin,
            None => &self.trained,
        }
    }
}

/// Where the torch matcher comes from: the plugin host and the MiniLM folder it reads.
#[derive(Clone, Copy)]
pub struct TorchMatcherSource<'a> {
    pub host: &'a PluginHost,
    pub minilm_dir: &'a Path,
}

/// Trains the configured matcher on `resolve.training` (or generated products with planted
/// duplicates) plus the operators' verdicts on `entities`; every fifth pair validates. With
/// `resolve.matcher = "torch"` the torch plugin's `match.mlp` is fitted on the same pairs (on
/// the gradient-boosted trees' features) through `torch`.
///
/// # Errors
/// An unreadable training file, training data of one class, or (torch) a missing plugin or
/// MiniLM folder.
pub fn train(
    config: &ResolveConfig,
    entities: &[Entity],
    feedback: &Feedback,
    torch: Option<TorchMatcherSource<'_>>,
) -> Result<Matchers, AgentError> {
    let mut pairs: Vec<LabelledPair> = match &config.training {
        Some(path) => {
            ditto::read(path, "left", "right").map_err(|err| AgentError::Config(format!("resolve.training: {}: {err}", path.display())))?
        }
        None => generate::labelled_pairs(&generate::products(2_000, 0.8, 17), 4, 18),
    };
    pairs.extend(feedback.labelled_pairs(entities));
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (index, pair) in pairs.into_iter().enumerate() {
        if index % 5 == 4 {
            valid.push(pair);
        } else {
            train.push(pair);
        }
    }
    let options = match config.matcher.as_str() {
        "logistic" => MatcherOptions::Logistic(LogisticOptions::default()),
        _ => MatcherOptions::Gbt(GbtOptions::default()),
    };
    // The embedding-cosine feature reads the same vectors blocking does.
    let mut seen = std::collections::HashSet::new();
    let records: Vec<Entity> =
        train.iter().chain(&valid).flat_map(|pair| [&pair.left, &pair.right]).filter(|e| seen.insert(e.key())).cloned().collect();
    let vectors: Option<Vectors> =
        embeddings(config, &records, torch.as_ref())?.map(|vectors| records.iter().map(Entity::key).zip(vectors).collect());
    let trained = TrainedMatcher::train(&train, &valid, &options, vectors.as_ref())?;
    if config.matcher != "torch" {
        return Ok(Matchers { trained, plugin: None });
    }
    let torch = torch.ok_or_else(|| AgentError::Config("resolve.matcher = \"torch\" needs the plugin host".into()))?;
    let model_dir = agora_qa::embed::minilm_dir(torch.minilm_dir).ok_or_else(|| {
        AgentError::Config(
            "resolve.matcher = \"torch\": no all-MiniLM-L6-v2 folder (set qa.minilm_dir or run scripts/setup-torch.sh)".into(),
        )
    })?;
    let plugin = torch.host.model("torch")?;
    let (train_rows, _) = pipeline::feature_rows(&trained.extractor, &train, vectors.as_ref());
    let (valid_rows, _) = pipeline::feature_rows(&trained.extractor, &valid, vectors.as_ref());
    let params = serde_json::json!({ "model_dir": model_dir });
    let (matcher, valid_scores) = PluginMatcher::fit(&plugin, TORCH_MATCH_TASK, &params, (&train, &train_rows), (&valid, &valid_rows))?;
    tracing::info!(valid_f1 = valid_scores.f1, threshold = matcher.threshold, "trained the torch entity matcher");
    Ok(Matchers { trained, plugin: Some(matcher) })
}

/// The torch plugin's matcher task.
pub const TORCH_MATCH_TASK: &str = "match.mlp";

/// Each entity's vector for nearest-neighbour blocking, as `resolve.embeddings` says (`None` for
/// `none`), computed from [`Entity::match_text`].
///
/// # Errors
/// `minilm` without the torch plugin or the MiniLM folder, or a failing encoder.
pub fn embeddings(
    config: &ResolveConfig,
    entities: &[Entity],
    torch: Option<&TorchMatcherSource<'_>>,
) -> Result<Option<Vec<Vec<f32>>>, AgentError> {
    match config.embeddings.as_str() {
        "none" => Ok(None),
        "minilm" => {
            let torch = torch.ok_or_else(|| AgentError::Config("resolve.embeddings = \"minilm\" needs the plugin host".into()))?;
            let model_dir = agora_qa::embed::minilm_dir(torch.minilm_dir).ok_or_else(|| {
                AgentError::Config(
                    "resolve.embeddings = \"minilm\": no all-MiniLM-L6-v2 folder (set qa.minilm_dir or run scripts/setup-torch.sh)".into(),
                )
            })?;
            let encoder = agora_qa::embed::minilm(torch.host, &model_dir)?;
            Ok(Some(encoder.embed(&entities.iter().map(Entity::match_text).collect::<Vec<_>>())?))
        }
        _ => Ok(Some(entities.iter().map(Entity::trigram_embedding).collect())),
    }
}

/// Resolves the stored items with `trained` (blocking also on `embeddings`, one per entity, when
/// given) and replaces the stored golden records and match decisions.
///
/// # Errors
/// The store failed.
pub fn run(
    store: &dyn Store,
    config: &ResolveConfig,
    matchers: &Matchers,
    entities: &[Entity],
    embeddings: Option<&[Vec<f32>]>,
) -> Result<ResolveSummary, AgentError> {
    let trained = &matchers.trained;
    let feedback = load_feedback(store)?;
    let settings = pipeline::ResolveConfig {
        blocking: config.blocking.clone(),
        cluster: config.cluster.clone(),
        survivorship: config.survivorship.clone(),
    };
    let resolution = pipeline::resolve(entities, embeddings, trained, matchers.scorer(), &feedback, &settings)?;
    let mut golden = BTreeMap::new();
    for record in &resolution.golden {
        golden.insert(record.id.clone(), to_json(&StoredGolden { version: RESOLUTION_FORMAT, record: record.clone() }));
    }
    let vector = |index: u32| embeddings.map(|all| all[index as usize].as_slice());
    let mut decisions = BTreeMap::new();
    for decision in &resolution.decisions {
        let (a, b) = (&entities[decision.a as usize], &entities[decision.b as usize]);
        let stored = StoredDecision {
            version: RESOLUTION_FORMAT,
            a: a.key(),
            b: b.key(),
            score: decision.score,
            accepted: decision.accepted,
            evidence: pipeline::evidence(trained, (a, vector(decision.a)), (b, vector(decision.b)))
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        };
        decisions.insert(format!("{}|{}", stored.a, stored.b), to_json(&stored));
    }
    store.replace_resolution(&golden, &decisions)?;
    Ok(ResolveSummary {
        items: entities.len(),
        candidates: resolution.candidates.pairs.len(),
        matches: resolution.decisions.iter().filter(|d| d.accepted).count(),
        golden: resolution.golden.len(),
        merged: resolution.golden.iter().filter(|g| g.members.len() > 1).count(),
        conflicts: resolution.clustering.dropped.len(),
    })
}

/// The JSON encoding of a stored value (golden records and decisions hold only strings, numbers
/// and maps, which always serialise).
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("golden records and decisions serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_vectors_follow_resolve_embeddings() {
        let entities = [
            Entity::new("a", "1", 0).with(field::TITLE, "Sony Bravia 40"),
            Entity::new("b", "2", 0).with(field::TITLE, "sony bravia 40in"),
        ];
        let mut config = ResolveConfig::default();
        let vectors = embeddings(&config, &entities, None).unwrap().expect("trigram vectors by default");
        assert_eq!((vectors.len(), vectors[0].len()), (2, agora_resolve::record::TRIGRAM_EMBEDDING_DIMS));
        let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(x, y)| x * y).sum();
        assert!(cosine > 0.5, "near-identical titles are near neighbours: {cosine}");
        config.embeddings = "none".into();
        assert!(embeddings(&config, &entities, None).unwrap().is_none());
        config.embeddings = "minilm".into();
        assert!(embeddings(&config, &entities, None).unwrap_err().to_string().contains("needs the plugin host"));
    }
}
