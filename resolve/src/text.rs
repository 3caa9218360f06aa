//! Text machinery for matching: normalised tokens, model-number extraction, numeric tokens,
//! string similarities (Jaccard, Jaro-Winkler, Levenshtein ratio), TF-IDF cosine over a corpus,
//! and a hashed character-trigram vector usable as a cheap embedding.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// Lower-cased alphanumeric tokens; a `.` between digits stays (`7.2`), other punctuation splits.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        let keep_dot = c == '.'
            && current.chars().last().is_some_and(|last| last.is_ascii_digit())
            && chars.get(index + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || keep_dot {
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The distinct tokens of `text`.
pub fn token_set(text: &str) -> HashSet<String> {
    tokens(text).into_iter().collect()
}

/// Whether a token is a number (`2007`, `7.2`).
pub fn is_numeric(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| c.is_ascii_digit() || c == '.') && token.chars().any(|c| c.is_ascii_digit())
}

/// The numbers among `text`'s tokens.
pub fn numeric_tokens(text: &str) -> HashSet<String> {
    tokens(text).into_iter().filter(|token| is_numeric(token)).collect()
}

/// `text` lower-cased with everything but letters and digits removed (`DVD-2930 CI` → `dvd2930ci`).
pub fn squash(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Model-number-like codes in `text`: whitespace-separated words that, with their punctuation
/// removed, mix letters and digits and have at least 4 characters (`dscw120p`, `dvd-2930ci` →
/// `dvd2930ci`), or are digit runs of 5 or more (part numbers), plus such codes inside words.
pub fn model_codes(text: &str) -> HashSet<String> {
    let mut codes = HashSet::new();
    for word in text.split_whitespace() {
        let squashed = squash(word);
        if is_code(&squashed) {
            codes.insert(squashed);
        }
        for part in tokens(word) {
            let part = part.replace('.', "");
            if is_code(&part) {
                codes.insert(part);
            }
        }
    }
    codes
}

fn is_code(token: &str) -> bool {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    let letters = token.chars().filter(|c| c.is_alphabetic()).count();
    (digits > 0 && letters > 0 && token.len() >= 4) || (letters == 0 && digits >= 5)
}

/// Jaccard similarity of two sets; `None` when both are empty.
pub fn jaccard<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> Option<f64> {
    if a.is_empty() && b.is_empty() {
        return None;
    }
    let shared = a.intersection(b).count();
    Some(shared as f64 / (a.len() + b.len() - shared) as f64)
}

/// Overlap coefficient (shared / smaller set); `None` when either is empty.
pub fn overlap<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some(a.intersection(b).count() as f64 / a.len().min(b.len()) as f64)
}

/// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, up to 4 characters).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_matched = vec![false; a.len()];
    let mut b_matched = vec![false; b.len()];
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let start = i.saturating_sub(window);
        let end = (i + window + 1).min(b.len());
        for j in start..end {
            if !b_matched[j] && b[j] == ca {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let a_seq = a.iter().zip(&a_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let b_seq = b.iter().zip(&b_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let transpositions = a_seq.zip(b_seq).filter(|(x, y)| x != y).count() / 2;
    let m = matches as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - transpositions as f64) / m) / 3.0;
    let prefix = a.iter().zip(&b).take(4).take_while(|(x, y)| x == y).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

/// 1 − Levenshtein distance / longer length, in [0, 1].
pub fn levenshtein_ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    1.0 - previous[b.len()] as f64 / longest as f64
}

/// Document frequencies over a corpus, for TF-IDF weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TfIdf {
    docs: usize,
    df: HashMap<String, u32>,
}

/// A sparse, L2-normalised TF-IDF vector, sorted by token.
pub type SparseVector = Vec<(String, f64)>;

impl TfIdf {
    /// Counts in how many of `docs` each token occurs.
    pub fn fit<'a>(docs: impl IntoIterator<Item = &'a str>) -> Self {
        let mut model = Self::default();
        for doc in docs {
            model.docs += 1;
            for token in token_set(doc) {
                *model.df.entry(token).or_default() += 1;
            }
        }
        model
    }

    /// Smoothed inverse document frequency; unseen tokens get the largest weight.
    pub fn idf(&self, token: &str) -> f64 {
        let df = self.df.get(token).copied().unwrap_or(0) as f64;
        ((1.0 + self.docs as f64) / (1.0 + df)).ln() + 1.0
    }

    /// The largest IDF any token can have (an unseen one's).
    pub fn max_idf(&self) -> f64 {
        (1.0 + self.docs as f64).ln() + 1.0
    }

    /// How many documents contain `token`.
    pub fn df(&self, token: &str) -> u32 {
        self.df.get(token).copied().unwrap_or(0)
    }

    /// The L2-normalised TF-IDF vector of `text` (sublinear term frequency).
    pub fn vector(&self, text: &str) -> SparseVector {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for token in tokens(text) {
            *counts.entry(token).or_default() += 1;
        }
        let mut vector: SparseVector = counts
            .into_iter()
            .map(|(token, count)| {
                let weight = (1.0 + (count as f64).ln()) * self.idf(&token);
                (token, weight)
            })
            .collect();
        vector.sort_by(|a, b| a.0.cmp(&b.0));
        let norm = vector.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, weight) in &mut vector {
                *weight /= norm;
            }
        }
        vector
    }

    /// IDF-weighted Jaccard of two token sets: shared weight over union weight.
    pub fn weighted_jaccard(&self, a: &HashSet<String>, b: &HashSet<String>) -> Option<f64> {
        if a.is_empty() && b.is_empty() {
            return None;
        }
        let shared: f64 = a.intersection(b).map(|token| self.idf(token)).sum();
        let union: f64 = a.union(b).map(|token| self.idf(token)).sum();
        Some(if union > 0.0 { shared / union } else { 0.0 })
    }
}

/// Cosine of two sorted, normalised sparse vectors; `None` when either is empty.
pub fn sparse_cosine(a: &SparseVector, b: &SparseVector) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    Some(dot)
}

/// Cosine of two dense vectors; `None` when lengths differ or either is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
}

/// A unit-length vector of `dim` hashed character trigrams of `text`'s squashed words: a cheap,
/// deterministic stand-in for a sentence embedding that tolerates typos.
pub fn trigram_vector(text: &str, dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let mut vector = vec![0.0f32; dim];
    for token in tokens(text) {
        let padded: Vec<char> = format!("#{token}#").chars().collect();
        for gram in padded.windows(3) {
            let hash = fnv1a(gram.iter().collect::<String>().as_bytes());
            let sign = if hash & 1 == 0 { 1.0 } else { -1.0 };
            vector[((hash >> 1) % dim as u64) as usize] += sign;
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// FNV-1a, 64 bit: a stable hash (std's hasher is not stable across releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_decimals_and_split_punctuation() {
        assert_eq!(tokens("Sony Cyber-shot 7.2 MP, DSC-W120/P."), ["sony", "cyber", "shot", "7.2", "mp", "dsc", "w120", "p"]);
    }

    #[test]
    fn model_codes_are_squashed() {
        let codes = model_codes("denon dvd-2930ci player 226540 cs3 2007");
        assert!(codes.contains("dvd2930ci") && codes.contains("226540"), "{codes:?}");
        assert!(!codes.contains("cs3") && !codes.contains("2007"));
    }

    #[test]
    fn similarities_behave() {
        assert!((jaro_winkler("martha", "marhta") - 0.9611).abs() < 1e-3);
        assert!((levenshtein_ratio("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-9);
        let model = TfIdf::fit(["a b c", "a b d", "a e f"]);
        let same = sparse_cosine(&model.vector("b c"), &model.vector("c b")).unwrap();
        assert!((same - 1.0).abs() < 1e-9);
        assert!(model.idf("a") < model.idf("c"));
        assert!(cosine(&trigram_vector("lds4821ww", 64), &trigram_vector("lds4821wh", 64)).unwrap() > 0.5);
    }
}
