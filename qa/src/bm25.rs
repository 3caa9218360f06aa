//! Okapi BM25 over a small in-memory collection of term lists, with the score a query would get
//! against a copy of itself, so a match can be expressed as a share of the best possible.

use std::collections::HashMap;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// An inverted index of documents given as term lists.
#[derive(Debug, Default)]
pub struct Bm25 {
    postings: HashMap<String, Vec<(u32, u32)>>,
    doc_len: Vec<u32>,
    avg_len: f32,
}

impl Bm25 {
    /// Indexes `docs` (each a list of terms); document `i` is `docs[i]`.
    pub fn new<T: AsRef<[String]>>(docs: &[T]) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut doc_len = Vec::with_capacity(docs.len());
        for (doc, terms) in docs.iter().enumerate() {
            let terms = terms.as_ref();
            doc_len.push(terms.len() as u32);
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for term in terms {
                *counts.entry(term).or_default() += 1;
            }
            for (term, count) in counts {
                postings.entry(term.to_string()).or_default().push((doc as u32, count));
            }
        }
        let avg_len = if doc_len.is_empty() { 1.0 } else { doc_len.iter().sum::<u32>() as f32 / doc_len.len() as f32 };
        Self { postings, doc_len, avg_len: avg_len.max(1.0) }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// Inverse document frequency; a term no document has gets the highest.
    pub fn idf(&self, term: &str) -> f32 {
        let n = self.doc_len.len() as f32;
        let df = self.postings.get(term).map_or(0, Vec::len) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The score of every document for `query`, in document order.
    pub fn scores(&self, query: &[String]) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.doc_len.len()];
        for term in unique(query) {
            let Some(postings) = self.postings.get(term) else { continue };
            let idf = self.idf(term);
            for &(doc, tf) in postings {
                let len_norm = 1.0 - B + B * self.doc_len[doc as usize] as f32 / self.avg_len;
                let tf = tf as f32;
                scores[doc as usize] += idf * tf * (K1 + 1.0) / (tf + K1 * len_norm);
            }
        }
        scores
    }

    /// What a document of average length holding each query term once would score: the
    /// denominator that turns a score into "how much of the question was matched".
    pub fn ideal(&self, query: &[String]) -> f32 {
        unique(query).map(|term| self.idf(term)).sum()
    }
}

/// Each term once, in first-seen order.
fn unique(query: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = std::collections::HashSet::new();
    query.iter().map(String::as_str).filter(move |term| seen.insert(*term))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::terms;

    fn index(docs: &[&str]) -> Bm25 {
        Bm25::new(&docs.iter().map(|doc| terms(doc)).collect::<Vec<_>>())
    }

    #[test]
    fn the_matching_document_scores_highest() {
        let bm25 = index(&["how long does shipping take", "what is your return policy", "can I pay with paypal"]);
        let scores = bm25.scores(&terms("returning an item, what's the policy?"));
        assert!(scores[1] > scores[0] && scores[1] > scores[2], "{scores:?}");
        assert_eq!(bm25.scores(&terms("weather tomorrow")), vec![0.0; 3]);
    }

    #[test]
    fn a_rare_term_weighs_more_than_a_common_one() {
        let bm25 = index(&["order shipping", "order return", "order paypal"]);
        assert!(bm25.idf("paypal") > bm25.idf("order"));
        assert!(bm25.idf("unseen") > bm25.idf("paypal"));
    }

    #[test]
    fn a_full_match_reaches_about_the_ideal_score() {
        let bm25 = index(&["return policy", "shipping time", "gift card"]);
        let query = terms("return policy");
        let best = bm25.scores(&query)[0];
        let ideal = bm25.ideal(&query);
        assert!((best / ideal - 1.0).abs() < 0.2, "{best} vs {ideal}");
        let half = bm25.scores(&terms("return something"))[0] / bm25.ideal(&terms("return something"));
        assert!(half < 0.6, "{half}");
    }
}
