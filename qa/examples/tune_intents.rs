//! Tries intent-classifier settings on BANKING77 with cached MiniLM embeddings, fitting on the
//! training set less 10 examples per intent and scoring on those (and, for reference, the test set):
//! `cargo run --release -p agora-qa --example tune_intents -- DATA_DIR CACHE_DIR [epochs lr l2 batch]...`
//! (the cache is written on first use; needs the torch plugin built and the MiniLM folder in .venv).

use std::collections::HashMap;
use std::path::Path;

use agora_core::plugin::PluginHost;
use agora_qa::classifier::TrainOptions;
use agora_qa::embed::{minilm, minilm_dir};
use agora_qa::intent::{read_examples, Example, IntentClassifier};
use agora_qa::Embedder;

fn vectors(embedder: &mut Option<Box<dyn Embedder>>, examples: &[Example], cache: &Path) -> Vec<Vec<f32>> {
    if let Ok(bytes) = std::fs::read(cache) {
        let flat: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let dims = flat.len() / examples.len();
        return flat.chunks_exact(dims).map(<[f32]>::to_vec).collect();
    }
    let embedder = embedder.get_or_insert_with(|| {
        let host = PluginHost::new(vec!["plugins/model-torch/target/release".into()]);
        Box::new(minilm(&host, &minilm_dir(Path::new("")).expect("MiniLM folder")).expect("MiniLM loads"))
    });
    let texts: Vec<String> = examples.iter().map(|example| example.text.clone()).collect();
    let out: Vec<Vec<f32>> = texts.chunks(256).flat_map(|chunk| embedder.embed(chunk).expect("encodes")).collect();
    std::fs::write(cache, out.iter().flatten().flat_map(|value| value.to_le_bytes()).collect::<Vec<u8>>()).expect("cache written");
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, cache) = (Path::new(&args[0]), Path::new(&args[1]));
    std::fs::create_dir_all(cache).expect("cache dir");
    let train = read_examples(&data.join("train.csv")).expect("train.csv");
    let test = read_examples(&data.join("test.csv")).expect("test.csv");
    let mut embedder = None;
    let train_vectors = vectors(&mut embedder, &train, &cache.join("train.f32"));
    let test_vectors = vectors(&mut embedder, &test, &cache.join("test.f32"));
    // Validation: the last 10 training examples of every intent, left out of the fit.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut is_validation = vec![false; train.len()];
    for (index, example) in train.iter().enumerate().rev() {
        let count = seen.entry(example.label.as_str()).or_default();
        is_validation[index] = *count < 10;
        *count += 1;
    }
    let split = |validation: bool| {
        let rows: Vec<usize> = (0..train.len()).filter(|&index| is_validation[index] == validation).collect();
        (
            rows.iter().map(|&i| train[i].clone()).collect::<Vec<Example>>(),
            rows.iter().map(|&i| train_vectors[i].clone()).collect::<Vec<_>>(),
        )
    };
    let (fit, fit_vectors) = split(false);
    let (held, held_vectors) = split(true);
    let accuracy = |model: &IntentClassifier, examples: &[Example], vectors: &[Vec<f32>]| {
        let correct = examples.iter().zip(vectors).filter(|(example, vector)| model.best(&example.text, vector).0 == example.label).count();
        100.0 * correct as f64 / examples.len() as f64
    };
    for setting in args[2..].chunks(4) {
        let options = TrainOptions {
            epochs: setting[0].parse().unwrap(),
            learning_rate: setting[1].parse().unwrap(),
            l2: setting[2].parse().unwrap(),
            batch_size: setting[3].parse().unwrap(),
            min_steps: 0,
            seed: 0,
        };
        let started = std::time::Instant::now();
        let model = IntentClassifier::train(&fit, &fit_vectors, &options).unwrap();
        println!(
            "{options:?}: validation {:.2}% (test {:.2}%) loss {:.3} ({:.1} s)",
            accuracy(&model, &held, &held_vectors),
            accuracy(&model, &test, &test_vectors),
            model.loss_curve().last().copied().unwrap_or(f32::NAN),
            started.elapsed().as_secs_f64()
        );
    }
}
