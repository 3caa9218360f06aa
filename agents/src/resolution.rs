//! The Clean agents' integration step: catalogue items from every source are resolved into
//! entities (blocking, the learned matcher, clustering with a conflict check) and each entity's
//! golden record, with per-field provenance, and every scored candidate pair with its evidence
//! replace the stored ones. Runs on the Clean agent's own thread (blocking work).

use std::collections::BTreeMap;

use agora_core::config::ResolveConfig;
use agora_core::record::{Record, RecordKind};
use agora_core::store::Store;
use agora_resolve::ditto::{self, LabelledPair};
use agora_resolve::feedback::{Feedback, Verdict};
use agora_resolve::gbt::GbtOptions;
use agora_resolve::golden::GoldenRecord;
use agora_resolve::logistic::LogisticOptions;
use agora_resolve::matcher::MatcherOptions;
use agora_resolve::pipeline::{self, TrainedMatcher};
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

/// Trains the configured matcher on `resolve.training` (or generated products with planted
/// duplicates) plus the operators' verdicts on `entities`; every fifth pair validates.
///
/// # Errors
/// An unreadable training file or training data of one class.
pub fn train(config: &ResolveConfig, entities: &[Entity], feedback: &Feedback) -> Result<TrainedMatcher, AgentError> {
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
    Ok(TrainedMatcher::train(&train, &valid, &options)?)
}

/// Resolves the stored items with `trained` and replaces the stored golden records and match
/// decisions.
///
/// # Errors
/// The store failed.
pub fn run(store: &dyn Store, config: &ResolveConfig, trained: &TrainedMatcher, entities: &[Entity]) -> Result<ResolveSummary, AgentError> {
    let feedback = load_feedback(store)?;
    let settings = pipeline::ResolveConfig {
        blocking: config.blocking.clone(),
        cluster: config.cluster.clone(),
        survivorship: config.survivorship.clone(),
    };
    let resolution = pipeline::resolve(entities, None, trained, &feedback, &settings)?;
    let mut golden = BTreeMap::new();
    for record in &resolution.golden {
        golden.insert(record.id.clone(), to_json(&StoredGolden { version: RESOLUTION_FORMAT, record: record.clone() }));
    }
    let mut decisions = BTreeMap::new();
    for decision in &resolution.decisions {
        let (a, b) = (&entities[decision.a as usize], &entities[decision.b as usize]);
        let stored = StoredDecision {
            version: RESOLUTION_FORMAT,
            a: a.key(),
            b: b.key(),
            score: decision.score,
            accepted: decision.accepted,
            evidence: pipeline::evidence(trained, a, b).into_iter().map(|(name, value)| (name.to_string(), value)).collect(),
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
