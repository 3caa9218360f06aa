//! The whole resolution step over a set of records: train a matcher from labelled pairs, then
//! block, score the candidate pairs, cluster the accepted ones with the conflict check and build
//! each cluster's golden record. This is what the Clean agent's integration step and
//! `agora eval er` call.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::blocking::{self, BlockingConfig, Candidates};
use crate::cluster::{self, ClusterOptions, Clustering, ScoredPair};
use crate::ditto::LabelledPair;
use crate::features::{FeatureExtractor, Prepared, FEATURE_NAMES};
use crate::feedback::{Feedback, Verdict};
use crate::golden::{golden_record, GoldenRecord, SurvivorshipConfig};
use crate::matcher::{Matcher, MatcherOptions, Scores};
use crate::record::Entity;
use crate::{ResolveError, Result};

/// Settings of a resolution run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResolveConfig {
    pub blocking: BlockingConfig,
    pub cluster: ClusterOptions,
    pub survivorship: SurvivorshipConfig,
}

impl ResolveConfig {
    /// Reports every bad value, each named under `prefix` (e.g. `resolve`).
    ///
    /// # Errors
    /// [`crate::ResolveError::Config`] naming the bad key.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        self.blocking.validate(&format!("{prefix}.blocking"))?;
        self.survivorship.validate(&format!("{prefix}.survivorship"))
    }
}

/// A feature extractor and a matcher trained together.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedMatcher {
    pub extractor: FeatureExtractor,
    pub matcher: Matcher,
    /// Trained with record vectors (the embedding-cosine feature), so it needs them to score.
    #[serde(default)]
    pub uses_vectors: bool,
}

/// Records' vectors by [`Entity::key`], for the embedding-cosine feature.
pub type Vectors = HashMap<String, Vec<f32>>;

/// The feature rows and labels of labelled pairs (with the records' `vectors`, when given).
pub fn feature_rows(extractor: &FeatureExtractor, pairs: &[LabelledPair], vectors: Option<&Vectors>) -> (Vec<Vec<f64>>, Vec<bool>) {
    let prepare = |entity: &Entity| extractor.prepare(entity, vectors.and_then(|all| all.get(&entity.key()).cloned()));
    let rows = pairs.iter().map(|pair| extractor.features(&prepare(&pair.left), &prepare(&pair.right))).collect();
    (rows, pairs.iter().map(|pair| pair.label).collect())
}

impl TrainedMatcher {
    /// Fits the IDF weights on the training pairs' distinct records, trains on `train` (with the
    /// records' `vectors`, when given) and picks the threshold on `valid`.
    ///
    /// # Errors
    /// Training data that cannot train a model.
    pub fn train(train: &[LabelledPair], valid: &[LabelledPair], options: &MatcherOptions, vectors: Option<&Vectors>) -> Result<Self> {
        let extractor = Self::extractor(train);
        let (train_rows, train_labels) = feature_rows(&extractor, train, vectors);
        let (valid_rows, valid_labels) = feature_rows(&extractor, valid, vectors);
        let matcher = Matcher::train(options, (&train_rows, &train_labels), (&valid_rows, &valid_labels))?;
        Ok(Self { extractor, matcher, uses_vectors: vectors.is_some() })
    }

    /// The feature extractor fitted on the distinct records of `train`.
    pub fn extractor(train: &[LabelledPair]) -> FeatureExtractor {
        let mut seen = std::collections::HashSet::new();
        FeatureExtractor::fit(train.iter().flat_map(|pair| [&pair.left, &pair.right]).filter(|entity| seen.insert(entity.key())))
    }

    /// Precision, recall and F1 on labelled pairs (whose records' `vectors` it needs when it was
    /// trained with vectors).
    pub fn evaluate(&self, pairs: &[LabelledPair], vectors: Option<&Vectors>) -> Scores {
        let (rows, labels) = feature_rows(&self.extractor, pairs, vectors);
        self.matcher.evaluate(&rows, &labels)
    }
}

/// What scores candidate pairs: the pure-Rust [`TrainedMatcher`] here, or a model plugin's
/// matcher (which the host implements over the plugin ABI).
pub trait PairScorer {
    /// Each pair's match score, given both records and their feature row.
    ///
    /// # Errors
    /// The scorer failed (its message).
    fn score_pairs(&self, pairs: &[(&Entity, &Entity, Vec<f64>)]) -> std::result::Result<Vec<f64>, String>;

    /// Pairs scoring at or above this are matches.
    fn threshold(&self) -> f64;
}

impl PairScorer for TrainedMatcher {
    fn score_pairs(&self, pairs: &[(&Entity, &Entity, Vec<f64>)]) -> std::result::Result<Vec<f64>, String> {
        Ok(pairs.iter().map(|(_, _, features)| self.matcher.score(features)).collect())
    }

    fn threshold(&self) -> f64 {
        self.matcher.threshold
    }
}

/// One scored candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchDecision {
    pub a: u32,
    pub b: u32,
    pub score: f64,
    /// Scored at or above the threshold.
    pub accepted: bool,
}

/// What a resolution run found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolution {
    pub candidates: Candidates,
    pub decisions: Vec<MatchDecision>,
    pub clustering: Clustering,
    /// One per cluster, in `clustering.clusters` order.
    pub golden: Vec<GoldenRecord>,
}

/// The evidence for a pair (of records with these vectors, if the matcher uses them): each
/// feature's name and value.
pub fn evidence(trained: &TrainedMatcher, a: (&Entity, Option<&[f32]>), b: (&Entity, Option<&[f32]>)) -> Vec<(&'static str, f64)> {
    let prepare = |(entity, vector): (&Entity, Option<&[f32]>)| {
        trained.extractor.prepare(entity, vector.filter(|_| trained.uses_vectors).map(<[f32]>::to_vec))
    };
    let values = trained.extractor.features(&prepare(a), &prepare(b));
    FEATURE_NAMES.iter().copied().zip(values).collect()
}

/// Resolves `entities` (with one embedding each for nearest-neighbour blocking, when given):
/// `trained`'s features of each candidate pair, scored by `scorer` (often `trained` itself). Operator `feedback` overrides the
/// matcher: an accepted pair is a match (score 1) even when blocking missed it, a rejected one
/// is a cannot-link.
///
/// # Errors
/// Embeddings whose count differs from the records', or a failing scorer.
pub fn resolve(
    entities: &[Entity],
    embeddings: Option<&[Vec<f32>]>,
    trained: &TrainedMatcher,
    scorer: &dyn PairScorer,
    feedback: &Feedback,
    config: &ResolveConfig,
) -> Result<Resolution> {
    let mut candidates = blocking::candidates(entities, embeddings, &config.blocking)?;
    let index: HashMap<String, u32> = entities.iter().enumerate().map(|(i, entity)| (entity.key(), i as u32)).collect();
    let mut cannot_link = Vec::new();
    for entry in feedback.entries() {
        if let (Some(&a), Some(&b)) = (index.get(&entry.a), index.get(&entry.b)) {
            let pair = (a.min(b), a.max(b));
            match entry.verdict {
                Verdict::Accept => candidates.pairs.push(pair),
                Verdict::Reject => cannot_link.push(pair),
            }
        }
    }
    candidates.pairs.sort_unstable();
    candidates.pairs.dedup();
    // Features as the matcher was trained: with the records' vectors or without.
    if trained.uses_vectors && embeddings.is_none() {
        return Err(ResolveError::Mismatch("the matcher was trained with record vectors (embedding cosine); pass them".into()));
    }
    let vector = |index: usize| embeddings.filter(|_| trained.uses_vectors).map(|all| all[index].clone());
    let prepared: Vec<Prepared> =
        entities.iter().enumerate().map(|(index, entity)| trained.extractor.prepare(entity, vector(index))).collect();
    let mut decisions = Vec::with_capacity(candidates.pairs.len());
    let mut to_score = Vec::new();
    for &(a, b) in &candidates.pairs {
        let (ea, eb) = (&entities[a as usize], &entities[b as usize]);
        match feedback.verdict(&ea.key(), &eb.key()) {
            Some(Verdict::Accept) => decisions.push(MatchDecision { a, b, score: 1.0, accepted: true }),
            Some(Verdict::Reject) => decisions.push(MatchDecision { a, b, score: 0.0, accepted: false }),
            None => to_score.push((a, b)),
        }
    }
    let rows: Vec<(&Entity, &Entity, Vec<f64>)> = to_score
        .iter()
        .map(|&(a, b)| {
            (&entities[a as usize], &entities[b as usize], trained.extractor.features(&prepared[a as usize], &prepared[b as usize]))
        })
        .collect();
    let scores = scorer.score_pairs(&rows).map_err(ResolveError::Scorer)?;
    if scores.len() != rows.len() {
        return Err(ResolveError::Scorer(format!("asked for {} scores, got {}", rows.len(), scores.len())));
    }
    let threshold = scorer.threshold();
    decisions.extend(to_score.iter().zip(scores).map(|(&(a, b), score)| MatchDecision { a, b, score, accepted: score >= threshold }));
    decisions.sort_by_key(|decision| (decision.a, decision.b));
    let accepted: Vec<ScoredPair> =
        decisions.iter().filter(|d| d.accepted).map(|d| ScoredPair { a: d.a, b: d.b, score: d.score }).collect();
    let sources: Vec<&str> = entities.iter().map(|entity| entity.source.as_str()).collect();
    let clustering = cluster::cluster(&sources, &accepted, &cannot_link, &config.cluster);
    let golden = clustering
        .clusters
        .iter()
        .map(|members| {
            let records: Vec<&Entity> = members.iter().map(|&m| &entities[m as usize]).collect();
            golden_record(&records, &config.survivorship)
        })
        .collect();
    Ok(Resolution { candidates, decisions, clustering, golden })
}

#[cfg(test)]
mod tests {
    /// The real benchmarks, when they sit beside the checkout (`cargo test -p agora-resolve --
    /// --ignored benchmarks --nocapture`); for trying features without building the binary.
    /// `SWEEP=1` also tries other tree settings and seeds; `ALL_IDF=1` fits IDF on every split.
    #[test]
    #[ignore]
    fn benchmarks() {
        use super::*;
        use crate::gbt::GbtOptions;
        use crate::logistic::LogisticOptions;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/er-products");
        for (dir, left, right) in [("Textual/Abt-Buy", "abt", "buy"), ("Structured/Amazon-Google", "amazon", "google")] {
            let read = |split: &str| crate::ditto::read(&root.join(dir).join(format!("{split}.txt")), left, right).unwrap();
            let (train, valid, test) = (read("train"), read("valid"), read("test"));
            let corpus: Vec<&LabelledPair> = if std::env::var_os("ALL_IDF").is_some() {
                train.iter().chain(&valid).chain(&test).collect()
            } else {
                train.iter().collect()
            };
            let mut seen = std::collections::HashSet::new();
            let extractor = FeatureExtractor::fit(corpus.iter().flat_map(|p| [&p.left, &p.right]).filter(|e| seen.insert(e.key())));
            // NO_VECTORS=1 leaves the embedding-cosine feature out.
            let vectors: Vectors = [&train, &valid, &test]
                .iter()
                .flat_map(|pairs| pairs.iter().flat_map(|pair| [&pair.left, &pair.right]))
                .map(|entity| (entity.key(), entity.trigram_embedding()))
                .collect();
            let vectors = Some(&vectors).filter(|_| std::env::var_os("NO_VECTORS").is_none());
            let (tr, trl) = feature_rows(&extractor, &train, vectors);
            let (va, val) = feature_rows(&extractor, &valid, vectors);
            let (te, tel) = feature_rows(&extractor, &test, vectors);
            let mut all = vec![MatcherOptions::Logistic(LogisticOptions::default()), MatcherOptions::Gbt(GbtOptions::default())];
            if std::env::var_os("SWEEP").is_some() {
                for (trees, depth, rate) in [(300, 4, 0.08), (300, 6, 0.05), (500, 4, 0.05), (200, 3, 0.1)] {
                    for seed in [7] {
                        all.push(MatcherOptions::Gbt(GbtOptions {
                            trees,
                            max_depth: depth,
                            learning_rate: rate,
                            seed,
                            ..GbtOptions::default()
                        }));
                    }
                }
            }
            for options in all {
                let started = std::time::Instant::now();
                let matcher = Matcher::train(&options, (&tr, &trl), (&va, &val)).unwrap();
                let seconds = started.elapsed().as_secs_f64();
                let scores = matcher.evaluate(&te, &tel);
                let valid_f1 = matcher.evaluate(&va, &val).f1;
                let kind = match &options {
                    MatcherOptions::Gbt(o) => format!("gbt {} {} {} s{} x{}", o.trees, o.max_depth, o.learning_rate, o.seed, o.bags),
                    MatcherOptions::Logistic(_) => "lr".into(),
                };
                println!(
                    "{dir} {kind}: valid F1 {:.2}; test P {:.1} R {:.1} F1 {:.2} ({seconds:.1} s)",
                    100.0 * valid_f1,
                    100.0 * scores.precision,
                    100.0 * scores.recall,
                    100.0 * scores.f1
                );
            }
        }
    }

    use super::*;
    use crate::gbt::GbtOptions;
    use crate::generate;
    use crate::logistic::LogisticOptions;

    #[test]
    fn a_matcher_trained_on_a_fixture_finds_the_planted_duplicates() {
        // Train on one generated catalogue, resolve another one it never saw.
        let training = generate::products(600, 0.8, 1);
        let pairs = generate::labelled_pairs(&training, 4, 2);
        let (train, valid) = pairs.split_at(pairs.len() * 3 / 4);
        for options in
            [MatcherOptions::Gbt(GbtOptions { trees: 120, ..GbtOptions::default() }), MatcherOptions::Logistic(LogisticOptions::default())]
        {
            let vectors: Vectors =
                pairs.iter().flat_map(|pair| [&pair.left, &pair.right]).map(|e| (e.key(), e.trigram_embedding())).collect();
            let trained = TrainedMatcher::train(train, valid, &options, Some(&vectors)).unwrap();
            let saved: TrainedMatcher = serde_json::from_str(&serde_json::to_string(&trained).unwrap()).unwrap();
            assert_eq!(saved.evaluate(valid, Some(&vectors)), trained.evaluate(valid, Some(&vectors)), "a saved matcher scores the same");
            let fresh = generate::products(400, 0.8, 9);
            let embeddings: Vec<Vec<f32>> = fresh.entities.iter().map(Entity::trigram_embedding).collect();
            let config = ResolveConfig {
                blocking: BlockingConfig { cross_source_only: true, ..BlockingConfig::default() },
                ..ResolveConfig::default()
            };
            let resolution = resolve(&fresh.entities, Some(&embeddings), &trained, &trained, &Feedback::default(), &config).unwrap();
            let mut cluster_of = vec![usize::MAX; fresh.entities.len()];
            for (index, members) in resolution.clustering.clusters.iter().enumerate() {
                for &m in members {
                    cluster_of[m as usize] = index;
                }
            }
            let found = fresh.matches.iter().filter(|(a, b)| cluster_of[*a as usize] == cluster_of[*b as usize]).count();
            let recall = found as f64 / fresh.matches.len() as f64;
            let merged_pairs: usize = resolution.clustering.clusters.iter().map(|m| m.len() * (m.len() - 1) / 2).sum();
            let precision = found as f64 / merged_pairs.max(1) as f64;
            assert!(recall > 0.85 && precision > 0.85, "{options:?}: recall {recall:.3}, precision {precision:.3}");
            assert_eq!(resolution.golden.len(), resolution.clustering.clusters.len());
            let merged = resolution.golden.iter().find(|g| g.members.len() == 2).expect("a merged golden record");
            assert!(merged.fields.values().all(|v| merged.members.iter().any(|m| m.source == v.source && m.id == v.record_id)));

            // An operator rejects one found match: the pair splits and the decision says why.
            let (a, b) = fresh.matches.iter().copied().find(|(a, b)| cluster_of[*a as usize] == cluster_of[*b as usize]).unwrap();
            let mut feedback = Feedback::default();
            feedback.record(&fresh.entities[a as usize].key(), &fresh.entities[b as usize].key(), Verdict::Reject, 1);
            let again = resolve(&fresh.entities, Some(&embeddings), &trained, &trained, &feedback, &config).unwrap();
            assert!(!again.clustering.clusters.iter().any(|m| m.contains(&a) && m.contains(&b)));
            assert!(again.decisions.iter().any(|d| (d.a, d.b) == (a, b) && !d.accepted && d.score == 0.0));
            let why = evidence(
                &trained,
                (&fresh.entities[a as usize], Some(&embeddings[a as usize])),
                (&fresh.entities[b as usize], Some(&embeddings[b as usize])),
            );
            assert_eq!(why.len(), FEATURE_NAMES.len());
            assert!(why.iter().any(|&(name, value)| name == "embedding_missing" && value == 0.0), "the vectors are used: {why:?}");
            let without = resolve(&fresh.entities, None, &trained, &trained, &feedback, &config).unwrap_err();
            assert!(without.to_string().contains("trained with record vectors"), "{without}");
        }
    }
}
