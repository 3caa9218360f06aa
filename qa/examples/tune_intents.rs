//! Tries intent-classifier settings on BANKING77 with cached MiniLM embeddings:
//! `cargo run --release -p agora-qa --example tune_intents -- DATA_DIR CACHE_DIR [epochs lr l2 batch]...`
//! (the cache is written on first use; needs the torch plugin built and the MiniLM folder in .venv).

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
    for setting in args[2..].chunks(4) {
        let options = TrainOptions {
            epochs: setting[0].parse().unwrap(),
            learning_rate: setting[1].parse().unwrap(),
            l2: setting[2].parse().unwrap(),
            batch_size: setting[3].parse().unwrap(),
            seed: 0,
        };
        let started = std::time::Instant::now();
        let model = IntentClassifier::train(&train, &train_vectors, &options).unwrap();
        let correct =
            test.iter().zip(&test_vectors).filter(|(example, vector)| model.best(&example.text, vector).0 == example.label).count();
        println!(
            "{options:?}: {:.2}% loss {:.3} ({:.1} s)",
            100.0 * correct as f64 / test.len() as f64,
            model.training_loss(),
            started.elapsed().as_secs_f64()
        );
    }
}
