//! The FAQ knowledge base: every phrasing of every entry (and its answer) indexed twice, by BM25
//! and by sentence embedding, and searched with a weighted mix of both.

use agora_core::record::FaqEntry;

use crate::bm25::Bm25;
use crate::embed::{dot, Embedder};
use crate::error::QaError;
use crate::text::terms;

/// An answer's own text counts for this share of a phrasing's when it matches.
const ANSWER_WEIGHT: f32 = 0.8;

/// One entry found for a question.
#[derive(Clone, Debug, PartialEq)]
pub struct FaqHit {
    /// Index of the entry.
    pub entry: usize,
    /// The hybrid score, 0–1: `dense_weight · cosine + (1 − dense_weight) · lexical`.
    pub score: f32,
    /// Cosine of the question and the best-matching text of the entry.
    pub cosine: f32,
    /// Share of the question's BM25 weight that text matched, 0–1.
    pub lexical: f32,
}

/// A searchable FAQ.
pub struct FaqIndex {
    entries: Vec<FaqEntry>,
    /// For each indexed text: its entry and whether it is the answer.
    texts: Vec<(usize, bool)>,
    bm25: Bm25,
    vectors: Vec<Vec<f32>>,
    dense_weight: f32,
}

impl FaqIndex {
    /// Indexes `entries`, embedding their phrasings and answers with `embedder`.
    ///
    /// # Errors
    /// The encoder fails.
    pub fn build(entries: Vec<FaqEntry>, embedder: &dyn Embedder, dense_weight: f32) -> Result<Self, QaError> {
        let mut texts = Vec::new();
        let mut strings = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            for question in &entry.questions {
                texts.push((index, false));
                strings.push(question.clone());
            }
            texts.push((index, true));
            strings.push(entry.answer.clone());
        }
        let bm25 = Bm25::new(&strings.iter().map(|text| terms(text)).collect::<Vec<_>>());
        let vectors = embedder.embed(&strings)?;
        Ok(Self { entries, texts, bm25, vectors, dense_weight })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the knowledge base is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `index`.
    pub fn entry(&self, index: usize) -> &FaqEntry {
        &self.entries[index]
    }

    /// The `k` best entries for `question` (whose embedding is `vector`), best first.
    pub fn search(&self, question: &str, vector: &[f32], k: usize) -> Vec<FaqHit> {
        let query = terms(question);
        let ideal = self.bm25.ideal(&query);
        let lexical = self.bm25.scores(&query);
        let mut best: Vec<Option<FaqHit>> = vec![None; self.entries.len()];
        for (text, &(entry, is_answer)) in self.texts.iter().enumerate() {
            let cosine = dot(&self.vectors[text], vector).max(0.0);
            let lexical = if ideal > 0.0 { (lexical[text] / ideal).min(1.0) } else { 0.0 };
            let mut score = self.dense_weight * cosine + (1.0 - self.dense_weight) * lexical;
            if is_answer {
                score *= ANSWER_WEIGHT;
            }
            if best[entry].as_ref().map_or(true, |hit| score > hit.score) {
                best[entry] = Some(FaqHit { entry, score, cosine, lexical });
            }
        }
        let mut hits: Vec<FaqHit> = best.into_iter().flatten().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
        hits.truncate(k);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashingEmbedder;

    fn entry(id: &str, questions: &[&str], answer: &str) -> FaqEntry {
        FaqEntry { faq_id: id.into(), questions: questions.iter().map(|q| q.to_string()).collect(), answer: answer.into() }
    }

    #[test]
    fn finds_the_entry_a_paraphrase_asks_for() {
        let embedder = HashingEmbedder::default();
        let index = FaqIndex::build(
            vec![
                entry(
                    "ship",
                    &["How long does shipping take?", "When will my parcel arrive?"],
                    "Standard delivery takes 3 to 5 working days.",
                ),
                entry("return", &["What is your return policy?"], "You can send items back within 30 days for a refund."),
                entry("pay", &["Which payment methods do you accept?"], "Cards, PayPal and gift cards."),
            ],
            &embedder,
            0.5,
        )
        .unwrap();
        let ask = |question: &str| {
            let vector = &embedder.embed(&[question.to_string()]).unwrap()[0];
            index.search(question, vector, 3)
        };
        let hits = ask("how many days does delivery take");
        assert_eq!(index.entry(hits[0].entry).faq_id, "ship");
        assert_eq!(index.entry(ask("can I pay with paypal")[0].entry).faq_id, "pay");
        assert_eq!(index.entry(ask("returning items policy")[0].entry).faq_id, "return");
        let unrelated = ask("what's the weather in Paris");
        assert!(unrelated.iter().all(|hit| hit.score < 0.2), "{unrelated:?}");
        assert!(hits[0].score > 0.3, "{hits:?}");
    }
}
