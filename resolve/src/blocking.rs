//! Blocking: which pairs of records are worth comparing at all. Three methods, each bounded so
//! the work stays near-linear in the number of records, and the union of their pairs, deduplicated:
//! token blocking (blocks larger than `max_block_size` and stop tokens are dropped; optionally only
//! each record's `top_k` partners by shared rare blocks are kept), sorted neighbourhood (a window
//! over records sorted by a key), and nearest neighbours on caller-supplied embedding vectors
//! (brute force for small inputs, random-hyperplane LSH otherwise).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::matcher::SplitMix;
use crate::record::{field, Entity};
use crate::text;
use crate::{ResolveError, Result};

/// Token blocking settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenBlocking {
    /// Fields whose tokens (and model codes) make blocks.
    pub fields: Vec<String>,
    /// Blocks with more records than this are dropped (too common to say anything).
    pub max_block_size: usize,
    /// Tokens that never make a block.
    pub stop_tokens: Vec<String>,
    /// Shorter tokens never make a block.
    pub min_token_len: usize,
    /// Keep only each record's this-many best partners by shared blocks, weighted by rarity (0: all).
    pub top_k: usize,
}

impl Default for TokenBlocking {
    fn default() -> Self {
        Self {
            fields: vec![field::TITLE.into(), field::BRAND.into(), field::MODEL.into()],
            max_block_size: 100,
            stop_tokens: ["and", "the", "for", "with", "of", "in", "new"].map(String::from).to_vec(),
            min_token_len: 2,
            top_k: 10,
        }
    }
}

/// The key records are sorted by for the sorted-neighbourhood method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// The record's model codes (each code is a key; records without codes are left out).
    Model,
    /// The title's tokens.
    Title,
    /// Brand, then the title's tokens.
    BrandTitle,
}

/// Sorted-neighbourhood settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SortedNeighbourhood {
    /// Each record is paired with the next `window - 1` records in key order.
    pub window: usize,
    pub keys: Vec<SortKey>,
}

impl Default for SortedNeighbourhood {
    fn default() -> Self {
        Self { window: 5, keys: vec![SortKey::Model, SortKey::BrandTitle] }
    }
}

/// Embedding nearest-neighbour settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NeighbourBlocking {
    /// Neighbours kept per record.
    pub k: usize,
    /// Pairs below this cosine are not kept.
    pub min_cosine: f64,
    /// Up to this many records, compare every pair exactly; above, use LSH.
    pub brute_force_limit: usize,
    /// LSH: hash tables, and hyperplanes per table (0: about log2(records / 8), so buckets stay
    /// small as the input grows).
    pub tables: usize,
    pub bits: usize,
    /// LSH: buckets larger than this are searched only through their first this-many members.
    pub max_bucket: usize,
    pub seed: u64,
}

impl Default for NeighbourBlocking {
    fn default() -> Self {
        Self { k: 5, min_cosine: 0.5, brute_force_limit: 5_000, tables: 8, bits: 0, max_bucket: 64, seed: 11 }
    }
}

/// All blocking settings; a method left out (`None`) does not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockingConfig {
    pub token: Option<TokenBlocking>,
    pub sorted: Option<SortedNeighbourhood>,
    pub neighbours: Option<NeighbourBlocking>,
    /// Pair only records of different sources (the default: sources are deduplicated already).
    pub cross_source_only: bool,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        Self {
            token: Some(TokenBlocking::default()),
            sorted: Some(SortedNeighbourhood::default()),
            neighbours: Some(NeighbourBlocking::default()),
            cross_source_only: true,
        }
    }
}

impl BlockingConfig {
    /// Reports every bad value at once, each naming its key under `prefix`.
    ///
    /// # Errors
    /// [`ResolveError::Config`] for the first problem, listing all of them.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let mut problems = Vec::new();
        if let Some(token) = &self.token {
            if token.max_block_size < 2 {
                problems.push((format!("{prefix}.token.max_block_size"), "must be at least 2".to_string()));
            }
            if token.fields.is_empty() {
                problems.push((format!("{prefix}.token.fields"), "must name at least one field".to_string()));
            }
        }
        if let Some(sorted) = &self.sorted {
            if sorted.window < 2 {
                problems.push((format!("{prefix}.sorted.window"), "must be at least 2".to_string()));
            }
        }
        if let Some(neighbours) = &self.neighbours {
            if neighbours.k == 0 {
                problems.push((format!("{prefix}.neighbours.k"), "must be at least 1".to_string()));
            }
            if neighbours.bits > 63 {
                problems.push((format!("{prefix}.neighbours.bits"), "must be in 0..=63 (0: automatic)".to_string()));
            }
        }
        config_problems(problems)
    }
}

/// Turns a list of (key, message) problems into one error naming every key.
pub(crate) fn config_problems(problems: Vec<(String, String)>) -> Result<()> {
    match problems.split_first() {
        None => Ok(()),
        Some(((key, message), rest)) => {
            let mut message = message.clone();
            for (other_key, other) in rest {
                message.push_str(&format!("; {other_key}: {other}"));
            }
            Err(ResolveError::Config { key: key.clone(), message })
        }
    }
}

/// The candidate pairs and where they came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Candidates {
    /// Distinct pairs `(i, j)`, `i < j`, indices into the records, sorted.
    pub pairs: Vec<(u32, u32)>,
    /// Pairs each method proposed (before the union).
    pub token_pairs: usize,
    pub sorted_pairs: usize,
    pub neighbour_pairs: usize,
    /// Token blocks dropped for being larger than `max_block_size`.
    pub dropped_blocks: usize,
}

/// Runs the configured methods over `entities` (and `embeddings`, one per entity, when given).
///
/// # Errors
/// Embeddings whose count differs from the records'.
pub fn candidates(entities: &[Entity], embeddings: Option<&[Vec<f32>]>, config: &BlockingConfig) -> Result<Candidates> {
    let mut out = Candidates::default();
    let mut all = Vec::new();
    let cross = |i: usize, j: usize| !config.cross_source_only || entities[i].source != entities[j].source;
    if let Some(token) = &config.token {
        let (pairs, dropped) = token_pairs(entities, token, &cross);
        out.token_pairs = pairs.len();
        out.dropped_blocks = dropped;
        all.extend(pairs);
    }
    if let Some(sorted) = &config.sorted {
        let pairs = sorted_pairs(entities, sorted, &cross);
        out.sorted_pairs = pairs.len();
        all.extend(pairs);
    }
    if let (Some(neighbours), Some(embeddings)) = (&config.neighbours, embeddings) {
        if embeddings.len() != entities.len() {
            return Err(ResolveError::Mismatch(format!("{} embeddings for {} records", embeddings.len(), entities.len())));
        }
        let pairs = neighbour_pairs(embeddings, neighbours, &cross);
        out.neighbour_pairs = pairs.len();
        all.extend(pairs);
    }
    all.sort_unstable();
    all.dedup();
    out.pairs = all;
    Ok(out)
}

fn ordered(i: usize, j: usize) -> (u32, u32) {
    if i < j {
        (i as u32, j as u32)
    } else {
        (j as u32, i as u32)
    }
}

/// The blocking keys of one record: its tokens and model codes in the configured fields.
fn block_keys(entity: &Entity, config: &TokenBlocking) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for name in &config.fields {
        if let Some(value) = entity.get(name) {
            keys.extend(text::tokens(value).into_iter().filter(|t| t.chars().count() >= config.min_token_len));
            for code in text::model_codes(value) {
                // Variants and reformatted codes share the stem (`ab1234xy` → `ab1234`) and the
                // digit run (`1234`).
                let stem = code.trim_end_matches(|c: char| c.is_alphabetic());
                if stem.len() >= 4 && stem.len() < code.len() {
                    keys.insert(stem.to_string());
                }
                let digits = code.split(|c: char| !c.is_ascii_digit()).max_by_key(|run| run.len()).unwrap_or("");
                if digits.len() >= 3 && digits.len() < code.len() {
                    keys.insert(digits.to_string());
                }
                keys.insert(code);
            }
        }
    }
    for stop in &config.stop_tokens {
        keys.remove(stop);
    }
    keys
}

fn token_pairs(entities: &[Entity], config: &TokenBlocking, cross: &dyn Fn(usize, usize) -> bool) -> (Vec<(u32, u32)>, usize) {
    let mut blocks: HashMap<String, Vec<u32>> = HashMap::new();
    let mut record_keys = Vec::with_capacity(entities.len());
    for (index, entity) in entities.iter().enumerate() {
        let keys = block_keys(entity, config);
        for key in &keys {
            blocks.entry(key.clone()).or_default().push(index as u32);
        }
        record_keys.push(keys);
    }
    let dropped = blocks.values().filter(|members| members.len() > config.max_block_size).count();
    blocks.retain(|_, members| members.len() >= 2 && members.len() <= config.max_block_size);
    let mut pairs = Vec::new();
    if config.top_k == 0 {
        for members in blocks.values() {
            for (a, &i) in members.iter().enumerate() {
                for &j in &members[a + 1..] {
                    if cross(i as usize, j as usize) {
                        pairs.push(ordered(i as usize, j as usize));
                    }
                }
            }
        }
    } else {
        // Meta-blocking: score partners by shared blocks, a small block counting more.
        let mut score = vec![0.0f32; entities.len()];
        let mut touched: Vec<u32> = Vec::new();
        for (i, keys) in record_keys.iter().enumerate() {
            for key in keys {
                let Some(members) = blocks.get(key) else { continue };
                let weight = 1.0 / (members.len() as f32).ln_1p();
                for &j in members {
                    if j as usize != i && cross(i, j as usize) {
                        if score[j as usize] == 0.0 {
                            touched.push(j);
                        }
                        score[j as usize] += weight;
                    }
                }
            }
            touched.sort_by(|&a, &b| score[b as usize].total_cmp(&score[a as usize]).then(a.cmp(&b)));
            for &j in touched.iter().take(config.top_k) {
                pairs.push(ordered(i, j as usize));
            }
            for &j in &touched {
                score[j as usize] = 0.0;
            }
            touched.clear();
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    (pairs, dropped)
}

fn sort_keys(entity: &Entity, key: SortKey) -> Vec<String> {
    let title_key = || text::tokens(entity.title()).join(" ");
    match key {
        SortKey::Model => {
            let mut source = entity.title().to_string();
            if let Some(model) = entity.get(field::MODEL) {
                source = format!("{model} {source}");
            }
            text::model_codes(&source).into_iter().collect()
        }
        SortKey::Title => vec![title_key()],
        SortKey::BrandTitle => vec![format!("{} {}", entity.get(field::BRAND).unwrap_or("").to_lowercase(), title_key())],
    }
}

fn sorted_pairs(entities: &[Entity], config: &SortedNeighbourhood, cross: &dyn Fn(usize, usize) -> bool) -> Vec<(u32, u32)> {
    let mut pairs = Vec::new();
    for &key in &config.keys {
        let mut keyed: Vec<(String, u32)> = Vec::new();
        for (index, entity) in entities.iter().enumerate() {
            keyed.extend(sort_keys(entity, key).into_iter().filter(|k| !k.trim().is_empty()).map(|k| (k, index as u32)));
        }
        keyed.sort_unstable();
        for (position, (_, i)) in keyed.iter().enumerate() {
            for (_, j) in keyed.iter().skip(position + 1).take(config.window.saturating_sub(1)) {
                if i != j && cross(*i as usize, *j as usize) {
                    pairs.push(ordered(*i as usize, *j as usize));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Each record's `k` nearest neighbours by cosine.
fn neighbour_pairs(vectors: &[Vec<f32>], config: &NeighbourBlocking, cross: &dyn Fn(usize, usize) -> bool) -> Vec<(u32, u32)> {
    let unit: Vec<Vec<f32>> = vectors
        .iter()
        .map(|v| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter().map(|x| x / norm).collect()
            } else {
                v.clone()
            }
        })
        .collect();
    let dot = |a: usize, b: usize| unit[a].iter().zip(&unit[b]).map(|(x, y)| x * y).sum::<f32>();
    let mut pairs = Vec::new();
    let mut keep = |i: usize, candidates: &mut Vec<(f32, usize)>| {
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.dedup_by_key(|c| c.1);
        for &(_, j) in candidates.iter().filter(|c| f64::from(c.0) >= config.min_cosine).take(config.k) {
            pairs.push(ordered(i, j));
        }
    };
    if unit.len() <= config.brute_force_limit {
        for i in 0..unit.len() {
            let mut candidates: Vec<(f32, usize)> = (0..unit.len()).filter(|&j| j != i && cross(i, j)).map(|j| (dot(i, j), j)).collect();
            keep(i, &mut candidates);
        }
    } else {
        let dim = unit.iter().map(Vec::len).max().unwrap_or(0);
        let mut rng = SplitMix(config.seed);
        let mut buckets: Vec<HashMap<u64, Vec<u32>>> = Vec::with_capacity(config.tables);
        let mut signatures: Vec<Vec<u64>> = vec![Vec::with_capacity(config.tables); unit.len()];
        let bits = if config.bits == 0 { ((unit.len() as f64 / 8.0).log2().ceil() as usize).clamp(4, 24) } else { config.bits };
        for _ in 0..config.tables {
            let planes: Vec<Vec<f32>> = (0..bits).map(|_| (0..dim).map(|_| rng.normal() as f32).collect()).collect();
            let mut table: HashMap<u64, Vec<u32>> = HashMap::new();
            for (index, vector) in unit.iter().enumerate() {
                let mut signature = 0u64;
                for (bit, plane) in planes.iter().enumerate() {
                    if plane.iter().zip(vector).map(|(p, x)| p * x).sum::<f32>() >= 0.0 {
                        signature |= 1 << bit;
                    }
                }
                table.entry(signature).or_default().push(index as u32);
                signatures[index].push(signature);
            }
            buckets.push(table);
        }
        // The last record each candidate was compared with, so a pair met in several tables is
        // compared once.
        let mut seen_for = vec![usize::MAX; unit.len()];
        for (i, own) in signatures.iter().enumerate() {
            let mut candidates = Vec::new();
            for (table, signature) in buckets.iter().zip(own) {
                if let Some(members) = table.get(signature) {
                    for &j in members.iter().take(config.max_bucket) {
                        let j = j as usize;
                        if j != i && seen_for[j] != i && cross(i, j) {
                            seen_for[j] = i;
                            candidates.push((dot(i, j), j));
                        }
                    }
                }
            }
            keep(i, &mut candidates);
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(source: &str, id: &str, title: &str) -> Entity {
        Entity::new(source, id, 0).with("title", title)
    }

    #[test]
    fn each_method_finds_its_pairs_and_the_union_is_deduplicated() {
        let entities = vec![
            product("a", "1", "sony camera dscw120 pink"),
            product("b", "1", "sony dsc-w120 digital camera"),
            product("a", "2", "lg dishwasher lds4821ww"),
            product("b", "2", "lg lds4821wh dishwasher white"),
            product("b", "3", "apple ipod nano 8gb"),
        ];
        let embeddings: Vec<Vec<f32>> = entities.iter().map(|e| text::trigram_vector(e.title(), 64)).collect();
        let config = BlockingConfig { cross_source_only: true, ..BlockingConfig::default() };
        let found = candidates(&entities, Some(&embeddings), &config).unwrap();
        assert!(found.pairs.contains(&(0, 1)) && found.pairs.contains(&(2, 3)), "{:?}", found.pairs);
        assert!(found.pairs.windows(2).all(|w| w[0] < w[1]));
        assert!(found.pairs.iter().all(|&(i, j)| entities[i as usize].source != entities[j as usize].source));
        assert!(found.token_pairs > 0 && found.sorted_pairs > 0 && found.neighbour_pairs > 0);
    }

    #[test]
    fn oversized_blocks_are_dropped() {
        let entities: Vec<Entity> = (0..20).map(|i| product("a", &i.to_string(), &format!("widget item{i}x"))).collect();
        let config = TokenBlocking { max_block_size: 10, top_k: 0, ..TokenBlocking::default() };
        let (pairs, dropped) = token_pairs(&entities, &config, &|_, _| true);
        assert!(pairs.is_empty());
        assert_eq!(dropped, 1);
    }

    #[test]
    fn a_bad_setting_is_named() {
        let config = BlockingConfig { sorted: Some(SortedNeighbourhood { window: 1, keys: vec![] }), ..BlockingConfig::default() };
        let err = config.validate("resolve.blocking").unwrap_err().to_string();
        assert!(err.contains("resolve.blocking.sorted.window"), "{err}");
    }
}
