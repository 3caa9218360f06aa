//! The intent classifier: labelled example questions (`text,category` CSV, the BANKING77 layout)
//! → logistic regression over the sentence embedding plus hashed words and word pairs.

use std::collections::BTreeMap;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::classifier::{LinearClassifier, Sparse, TrainOptions};
use crate::error::QaError;
use crate::text::{stem, words};

/// One labelled example question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub label: String,
}

/// Reads `text,category` CSV (with that header) from a file.
///
/// # Errors
/// The file cannot be read, or a row is malformed (named by its line).
pub fn read_examples(path: &Path) -> Result<Vec<Example>, QaError> {
    let text =
        std::fs::read_to_string(path).map_err(|err| QaError::Examples { file: path.display().to_string(), message: err.to_string() })?;
    parse_examples(&text, &path.display().to_string())
}

/// Parses `text,category` CSV; `name` says where it came from in errors.
///
/// # Errors
/// A missing header, a row without both fields, or an empty text or category.
pub fn parse_examples(csv_text: &str, name: &str) -> Result<Vec<Example>, QaError> {
    let fail = |message: String| QaError::Examples { file: name.to_string(), message };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|err| fail(err.to_string()))?.clone();
    let column = |wanted: &str| {
        headers.iter().position(|header| header.trim() == wanted).ok_or_else(|| fail(format!("no {wanted:?} column in the header")))
    };
    let (text_column, label_column) = (column("text")?, column("category")?);
    let mut examples = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|err| fail(err.to_string()))?;
        let line = row.position().map_or(0, |position| position.line());
        let field = |column: usize| row.get(column).map(str::trim).unwrap_or("");
        let (text, label) = (field(text_column), field(label_column));
        if text.is_empty() || label.is_empty() {
            return Err(fail(format!("line {line}: both text and category are needed")));
        }
        examples.push(Example { text: text.to_string(), label: label.to_string() });
    }
    if examples.is_empty() {
        return Err(fail("no examples".to_string()));
    }
    Ok(examples)
}

/// Hashed word and word-pair features live in this many dimensions after the embedding's.
const HASHED_DIMS: usize = 1 << 14;

/// Logistic regression on `[embedding × √dims, hashed words and word pairs]`.
#[derive(Clone, Debug)]
pub struct IntentClassifier {
    embedding_dims: usize,
    classifier: LinearClassifier,
}

/// The classifier's input for one text.
fn features(embedding: &[f32], text: &str) -> Sparse {
    let scale = (embedding.len() as f32).sqrt();
    let mut out: Sparse =
        embedding.iter().enumerate().filter(|(_, value)| **value != 0.0).map(|(index, value)| (index as u32, value * scale)).collect();
    let stems: Vec<String> = words(text).iter().map(|word| stem(word)).collect();
    let mut hashed: BTreeMap<u32, f32> = BTreeMap::new();
    let grams = stems.iter().map(|word| format!("w:{word}")).chain(stems.windows(2).map(|pair| format!("b:{} {}", pair[0], pair[1])));
    for gram in grams {
        let index = embedding.len() as u32 + (xxh3_64(gram.as_bytes()) % HASHED_DIMS as u64) as u32;
        *hashed.entry(index).or_default() += 1.0;
    }
    let norm = hashed.values().map(|count| count * count).sum::<f32>().sqrt().max(1.0);
    out.extend(hashed.into_iter().map(|(index, count)| (index, count / norm)));
    out
}

impl IntentClassifier {
    /// Trains on `examples`, whose sentence embeddings are `embeddings` (same order). Labels are
    /// sorted by name.
    ///
    /// # Errors
    /// Mismatched lengths, embeddings of different sizes, or fewer than two labels.
    pub fn train(examples: &[Example], embeddings: &[Vec<f32>], options: &TrainOptions) -> Result<Self, QaError> {
        if examples.len() != embeddings.len() {
            return Err(QaError::Training(format!("{} examples but {} embeddings", examples.len(), embeddings.len())));
        }
        let embedding_dims = embeddings.first().map_or(0, Vec::len);
        if embeddings.iter().any(|embedding| embedding.len() != embedding_dims) {
            return Err(QaError::Training("embeddings of different sizes".to_string()));
        }
        let labels: Vec<String> =
            examples.iter().map(|example| example.label.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let targets: Vec<usize> =
            examples.iter().map(|example| labels.binary_search(&example.label).expect("label is in the set")).collect();
        let inputs: Vec<Sparse> = examples.iter().zip(embeddings).map(|(example, embedding)| features(embedding, &example.text)).collect();
        let classifier = LinearClassifier::train(&inputs, &targets, labels, embedding_dims + HASHED_DIMS, options)?;
        Ok(Self { embedding_dims, classifier })
    }

    /// The labels, in the order [`Self::probabilities`] uses.
    pub fn labels(&self) -> &[String] {
        self.classifier.labels()
    }

    /// The probability of each label for `text` with sentence embedding `embedding`.
    pub fn probabilities(&self, text: &str, embedding: &[f32]) -> Vec<f32> {
        debug_assert_eq!(embedding.len(), self.embedding_dims);
        self.classifier.probabilities(&features(embedding, text))
    }

    /// The most likely label and its probability.
    pub fn best(&self, text: &str, embedding: &[f32]) -> (&str, f32) {
        let probs = self.probabilities(text, embedding);
        let (index, p) = probs.iter().enumerate().fold((0, f32::MIN), |best, (index, &p)| if p > best.1 { (index, p) } else { best });
        (&self.labels()[index], p)
    }

    /// Mean cross-entropy on the training examples, per epoch.
    pub fn loss_curve(&self) -> &[f32] {
        &self.classifier.loss_curve
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{Embedder, HashingEmbedder};

    #[test]
    fn parses_banking77_layout_and_names_bad_lines() {
        let examples = parse_examples("text,category\n\"Hi, where is it?\",order_status\nthanks,greeting\n", "t.csv").unwrap();
        assert_eq!(examples[0], Example { text: "Hi, where is it?".into(), label: "order_status".into() });
        let err = parse_examples("text,category\nfine,faq\n,faq\n", "t.csv").unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains("line 3"), "{err}");
        assert!(parse_examples("question,label\nx,y\n", "t.csv").unwrap_err().to_string().contains("\"text\""));
    }

    #[test]
    fn learns_intents_from_a_few_examples() {
        let csv = "text,category\n\
            where is my order,order_status\nhas my parcel shipped yet,order_status\nwhen will order 1042 arrive,order_status\n\
            how much is the blue mat,product_price\nwhat does the rake cost,product_price\nprice of the cream,product_price\n\
            hello there,greeting\nhi,greeting\ngood morning,greeting\n";
        let examples = parse_examples(csv, "t").unwrap();
        let embedder = HashingEmbedder::default();
        let embeddings = embedder.embed(&examples.iter().map(|e| e.text.clone()).collect::<Vec<_>>()).unwrap();
        let model = IntentClassifier::train(&examples, &embeddings, &TrainOptions::default()).unwrap();
        for (question, expected) in
            [("where's my parcel", "order_status"), ("how much does the mat cost", "product_price"), ("hello", "greeting")]
        {
            let embedding = &embedder.embed(&[question.to_string()]).unwrap()[0];
            assert_eq!(model.best(question, embedding).0, expected, "{question}");
        }
    }
}
