//! What the plugin's integration tests share: the sentence encoders' model folders.

use std::path::PathBuf;

/// The all-MiniLM-L6-v2 folder (`AGORA_MINILM_MODEL_DIR` from the environment, else the one
/// build.rs found), or `None` with a note when it is not installed: the caller then checks nothing.
pub fn model_dir() -> Option<PathBuf> {
    installed(std::env::var_os("AGORA_MINILM_MODEL_DIR").map(PathBuf::from), option_env!("AGORA_MINILM_MODEL_DIR"), "all-MiniLM-L6-v2")
}

/// The all-mpnet-base-v2 folder (`AGORA_MPNET_MODEL_DIR`, as [`model_dir`]).
#[allow(dead_code)]
pub fn mpnet_dir() -> Option<PathBuf> {
    installed(std::env::var_os("AGORA_MPNET_MODEL_DIR").map(PathBuf::from), option_env!("AGORA_MPNET_MODEL_DIR"), "all-mpnet-base-v2")
}

fn installed(from_environment: Option<PathBuf>, from_build: Option<&str>, model: &str) -> Option<PathBuf> {
    let dir = from_environment.or_else(|| from_build.map(PathBuf::from))?;
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no {model} model folder at {} (run scripts/setup-torch.sh, which installs it)", dir.display());
        None
    }
}
