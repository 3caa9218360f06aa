//! The pairwise feature vector of two entities: token, TF-IDF and character similarities of the
//! titles, model-number agreement, number overlap, brand, price ratio, description similarity and
//! an optional caller-supplied embedding cosine. A missing value is explicit: the similarity is 0
//! and a `*_missing` feature is 1, so no model mistakes "unknown" for "different".

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::record::{field, Entity};
use crate::text::{self, SparseVector, TfIdf};

/// The names of the features, in order.
pub const FEATURE_NAMES: [&str; 33] = [
    "title_jaccard",
    "title_weighted_jaccard",
    "title_tfidf_cosine",
    "title_jaro_winkler",
    "title_levenshtein_ratio",
    "title_trigram_cosine",
    "title_overlap",
    "code_exact",
    "code_in_other",
    "code_best_similarity",
    "code_missing",
    "code_conflict",
    "numbers_jaccard",
    "numbers_missing",
    "brand_similarity",
    "brand_missing",
    "brand_in_other_title",
    "price_ratio",
    "price_missing",
    "price_log_diff",
    "description_cosine",
    "description_missing",
    "title_description_cross",
    "all_text_cosine",
    "title_length_ratio",
    "rare_token_mismatch",
    "shared_max_idf",
    "digit_tokens_jaccard",
    "digit_tokens_unmatched",
    "title_monge_elkan",
    "title_weighted_containment",
    "embedding_cosine",
    "embedding_missing",
];

/// How many features there are.
pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();

/// What the features need of one entity, computed once per entity.
#[derive(Debug, Clone)]
pub struct Prepared {
    title: String,
    title_tokens: HashSet<String>,
    title_vector: SparseVector,
    title_trigrams: Vec<f32>,
    codes: HashSet<String>,
    numbers: HashSet<String>,
    digit_tokens: HashSet<String>,
    all_squashed: String,
    all_tokens: HashSet<String>,
    brand: Option<String>,
    price: Option<f64>,
    description_vector: Option<SparseVector>,
    title_text_vector: SparseVector,
    all_vector: SparseVector,
    embedding: Option<Vec<f32>>,
}

/// Computes features with corpus statistics (IDF over titles, and over all text).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeatureExtractor {
    title_idf: TfIdf,
    text_idf: TfIdf,
}

fn all_text(entity: &Entity) -> String {
    [field::TITLE, field::BRAND, field::MODEL, field::DESCRIPTION].iter().filter_map(|name| entity.get(name)).collect::<Vec<_>>().join(" ")
}

impl FeatureExtractor {
    /// Fits the IDF weights on a corpus of entities (labels are not used).
    pub fn fit<'a>(entities: impl IntoIterator<Item = &'a Entity>) -> Self {
        let entities: Vec<&Entity> = entities.into_iter().collect();
        let titles: Vec<String> = entities.iter().map(|entity| title_text(entity)).collect();
        let texts: Vec<String> = entities.iter().map(|entity| all_text(entity)).collect();
        Self { title_idf: TfIdf::fit(titles.iter().map(String::as_str)), text_idf: TfIdf::fit(texts.iter().map(String::as_str)) }
    }

    /// Prepares one entity; `embedding` is the caller's vector for it, if any.
    pub fn prepare(&self, entity: &Entity, embedding: Option<Vec<f32>>) -> Prepared {
        let title = title_text(entity);
        let all = all_text(entity);
        let brand = entity.get(field::BRAND).map(str::to_lowercase).or_else(|| text::tokens(entity.title()).into_iter().next());
        let mut code_text = title.clone();
        if let Some(model) = entity.get(field::MODEL) {
            code_text.push(' ');
            code_text.push_str(model);
        }
        Prepared {
            title_tokens: text::token_set(&title),
            title_vector: self.title_idf.vector(&title),
            title_trigrams: text::trigram_vector(&title, 256),
            codes: text::model_codes(&code_text),
            numbers: text::numeric_tokens(&title),
            digit_tokens: text::token_set(&title).into_iter().filter(|t| t.chars().any(|c| c.is_ascii_digit())).collect(),
            all_squashed: text::squash(&all),
            all_tokens: text::token_set(&all),
            brand,
            price: entity.price(),
            description_vector: entity.get(field::DESCRIPTION).map(|text| self.text_idf.vector(text)).filter(|v| !v.is_empty()),
            title_text_vector: self.text_idf.vector(&title),
            all_vector: self.text_idf.vector(&all),
            embedding,
            title: title.chars().take(120).collect(),
        }
    }

    /// The features of a pair, in [`FEATURE_NAMES`] order; symmetric in `a` and `b`.
    pub fn features(&self, a: &Prepared, b: &Prepared) -> Vec<f64> {
        let mut out = Vec::with_capacity(FEATURE_COUNT);
        out.push(text::jaccard(&a.title_tokens, &b.title_tokens).unwrap_or(0.0));
        out.push(self.title_idf.weighted_jaccard(&a.title_tokens, &b.title_tokens).unwrap_or(0.0));
        out.push(text::sparse_cosine(&a.title_vector, &b.title_vector).unwrap_or(0.0));
        let jw = text::jaro_winkler(&a.title, &b.title).max(text::jaro_winkler(&b.title, &a.title));
        out.push(jw);
        out.push(text::levenshtein_ratio(&a.title, &b.title));
        out.push(text::cosine(&a.title_trigrams, &b.title_trigrams).unwrap_or(0.0));
        out.push(text::overlap(&a.title_tokens, &b.title_tokens).unwrap_or(0.0));

        // Model numbers: the decisive evidence on product data.
        let code_missing = a.codes.is_empty() || b.codes.is_empty();
        let exact = !a.codes.is_disjoint(&b.codes);
        let contained = |codes: &HashSet<String>, other: &str| {
            if codes.is_empty() {
                0.0
            } else {
                codes.iter().filter(|code| other.contains(code.as_str())).count() as f64 / codes.len() as f64
            }
        };
        let in_other = contained(&a.codes, &b.all_squashed).max(contained(&b.codes, &a.all_squashed));
        let best = a.codes.iter().flat_map(|x| b.codes.iter().map(move |y| text::levenshtein_ratio(x, y))).fold(0.0f64, f64::max);
        out.push(f64::from(u8::from(exact)));
        out.push(in_other);
        out.push(best);
        out.push(f64::from(u8::from(code_missing)));
        out.push(f64::from(u8::from(!code_missing && !exact && in_other == 0.0 && best < 0.8)));

        match text::jaccard(&a.numbers, &b.numbers) {
            Some(value) if !a.numbers.is_empty() && !b.numbers.is_empty() => out.extend([value, 0.0]),
            _ => out.extend([0.0, 1.0]),
        }
        match (&a.brand, &b.brand) {
            (Some(x), Some(y)) => {
                out.extend([text::jaro_winkler(x, y), 0.0]);
                let in_title = a.all_tokens.contains(y.as_str()) || b.all_tokens.contains(x.as_str());
                out.push(f64::from(u8::from(in_title)));
            }
            _ => out.extend([0.0, 1.0, 0.0]),
        }
        match (a.price, b.price) {
            (Some(x), Some(y)) => out.extend([x.min(y) / x.max(y), 0.0, (x.ln() - y.ln()).abs().min(5.0)]),
            _ => out.extend([0.0, 1.0, 0.0]),
        }
        match (&a.description_vector, &b.description_vector) {
            (Some(x), Some(y)) => out.extend([text::sparse_cosine(x, y).unwrap_or(0.0), 0.0]),
            _ => out.extend([0.0, 1.0]),
        }
        let cross_ab = b.description_vector.as_ref().and_then(|d| text::sparse_cosine(&a.title_text_vector, d)).unwrap_or(0.0);
        let cross_ba = a.description_vector.as_ref().and_then(|d| text::sparse_cosine(&b.title_text_vector, d)).unwrap_or(0.0);
        out.push(cross_ab.max(cross_ba));
        out.push(text::sparse_cosine(&a.all_vector, &b.all_vector).unwrap_or(0.0));
        let (la, lb) = (a.title_tokens.len() as f64, b.title_tokens.len() as f64);
        out.push(if la.max(lb) > 0.0 { la.min(lb) / la.max(lb) } else { 0.0 });

        // The rarest title token of one side that the other side's text lacks, and the rarest
        // shared one, as a share of the largest possible IDF.
        let max_idf = self.title_idf.max_idf();
        let rare_missing = |x: &Prepared, y: &Prepared| {
            x.title_tokens.iter().filter(|t| !y.all_tokens.contains(*t)).map(|t| self.title_idf.idf(t)).fold(0.0f64, f64::max)
        };
        out.push(rare_missing(a, b).max(rare_missing(b, a)) / max_idf);
        let shared = a.title_tokens.intersection(&b.title_tokens).map(|t| self.title_idf.idf(t)).fold(0.0f64, f64::max);
        out.push(shared / max_idf);

        // Versions, sizes, editions: any title token with a digit (`cs3`, `7.0`, `2007`).
        out.push(text::jaccard(&a.digit_tokens, &b.digit_tokens).unwrap_or(1.0));
        let unmatched = |x: &Prepared, y: &Prepared| {
            x.digit_tokens.iter().filter(|t| !y.all_tokens.contains(*t) && !y.all_squashed.contains(&text::squash(t))).count()
        };
        out.push((unmatched(a, b) + unmatched(b, a)).min(4) as f64);
        out.push((monge_elkan(&a.title_tokens, &b.title_tokens) + monge_elkan(&b.title_tokens, &a.title_tokens)) / 2.0);
        // How much of the shorter title (by IDF mass) the other side's text covers.
        let (short, long) = if a.title_tokens.len() <= b.title_tokens.len() { (a, b) } else { (b, a) };
        let mass: f64 = short.title_tokens.iter().map(|t| self.title_idf.idf(t)).sum();
        let covered: f64 = short.title_tokens.iter().filter(|t| long.all_tokens.contains(*t)).map(|t| self.title_idf.idf(t)).sum();
        out.push(if mass > 0.0 { covered / mass } else { 0.0 });

        match (&a.embedding, &b.embedding) {
            (Some(x), Some(y)) => match text::cosine(x, y) {
                Some(cosine) => out.extend([cosine, 0.0]),
                None => out.extend([0.0, 1.0]),
            },
            _ => out.extend([0.0, 1.0]),
        }
        debug_assert_eq!(out.len(), FEATURE_COUNT);
        // Round away float noise (set iteration order changes summation order), so equal
        // similarities are equal and the trees' cut points do not depend on the run.
        for value in &mut out {
            *value = (*value * 1e6).round() / 1e6;
        }
        out
    }
}

/// Monge-Elkan: the mean over `a`'s tokens of the best Jaro-Winkler with a token of `b`
/// (tolerates misspelt and abbreviated words).
fn monge_elkan(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let total: f64 = a.iter().map(|x| b.iter().map(|y| text::jaro_winkler(x, y)).fold(0.0, f64::max)).sum();
    total / a.len() as f64
}

/// The title, or the model number when there is no title.
fn title_text(entity: &Entity) -> String {
    entity.get(field::TITLE).or_else(|| entity.get(field::MODEL)).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_numbers_and_missing_values_are_explicit() {
        let a = Entity::new("abt", "1", 0).with("title", "sony cyber-shot dsc-w120 pink").with("price", "129.99");
        let b = Entity::new("buy", "2", 0).with("title", "sony dscw120 digital camera").with("price", "119.99");
        let c = Entity::new("buy", "3", 0).with("title", "sony dscw150 digital camera");
        let extractor = FeatureExtractor::fit([&a, &b, &c]);
        let (pa, pb, pc) = (extractor.prepare(&a, None), extractor.prepare(&b, None), extractor.prepare(&c, None));
        let index = |name: &str| FEATURE_NAMES.iter().position(|n| *n == name).unwrap();
        let ab = extractor.features(&pa, &pb);
        let ac = extractor.features(&pa, &pc);
        assert_eq!(ab.len(), FEATURE_COUNT);
        assert_eq!(ab[index("code_exact")], 1.0);
        assert_eq!(ac[index("code_exact")], 0.0);
        assert_eq!(ab[index("price_missing")], 0.0);
        assert_eq!(ac[index("price_missing")], 1.0);
        assert_eq!(ab[index("embedding_missing")], 1.0);
        let ba = extractor.features(&pb, &pa);
        assert!(ab.iter().zip(&ba).all(|(x, y)| (x - y).abs() < 1e-9), "symmetric");
    }
}
