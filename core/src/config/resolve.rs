//! `[resolve]`: entity resolution of catalogue items across sources, the Clean agents'
//! integration step (blocking, a learned matcher, clustering with a conflict check, golden
//! records by survivorship rules).

use std::path::PathBuf;

use agora_resolve::blocking::BlockingConfig;
use agora_resolve::cluster::ClusterOptions;
use agora_resolve::golden::SurvivorshipConfig;
use serde::{Deserialize, Serialize};

/// Entity resolution of items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveConfig {
    /// Resolve items across sources after ingestion (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// The matcher: `gbt` (gradient-boosted trees), `logistic`, or `torch` (the torch plugin's
    /// `match.mlp` on the trees' features and the MiniLM vectors of both titles).
    #[serde(default = "default_matcher")]
    pub matcher: String,
    /// Labelled pairs in the Ditto format (`COL attr VAL value ... \t ... \t label`) to train the
    /// matcher on; without it, generated products with planted duplicates train it. Operators'
    /// accepted and rejected matches are added either way.
    #[serde(default)]
    pub training: Option<PathBuf>,
    /// The vectors nearest-neighbour blocking compares: `trigram` (hashed character trigrams of
    /// title, brand and model number; pure Rust), `minilm` (the torch plugin's all-MiniLM-L6-v2
    /// sentence vectors of the same text) or `none` (no nearest-neighbour blocking).
    #[serde(default = "default_embeddings")]
    pub embeddings: String,
    #[serde(default)]
    pub blocking: BlockingConfig,
    #[serde(default)]
    pub cluster: ClusterOptions,
    /// Which record survives per field (`[resolve.survivorship.fields.price] rule = "prefer_source"`).
    #[serde(default)]
    pub survivorship: SurvivorshipConfig,
}

fn default_matcher() -> String {
    "gbt".into()
}

fn default_embeddings() -> String {
    "trigram".into()
}

impl Default for ResolveConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            matcher: default_matcher(),
            training: None,
            embeddings: default_embeddings(),
            blocking: BlockingConfig::default(),
            cluster: ClusterOptions::default(),
            survivorship: SurvivorshipConfig::default(),
        }
    }
}

impl ResolveConfig {
    /// Adds one line per problem, each naming its key.
    pub(crate) fn validate(&self, problems: &mut Vec<String>) {
        if !matches!(self.matcher.as_str(), "gbt" | "logistic" | "torch") {
            problems.push(format!("resolve.matcher: unknown matcher {:?}; valid: gbt, logistic, torch", self.matcher));
        }
        if !matches!(self.embeddings.as_str(), "trigram" | "minilm" | "none") {
            problems.push(format!("resolve.embeddings: unknown embeddings {:?}; valid: trigram, minilm, none", self.embeddings));
        }
        if let Err(err) = self.blocking.validate("resolve.blocking") {
            problems.push(err.to_string());
        }
        if let Err(err) = self.survivorship.validate("resolve.survivorship") {
            problems.push(err.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::AgoraConfig;

    #[test]
    fn bad_resolve_settings_are_named_by_key() {
        let text = "[resolve]\nmatcher = \"svm\"\nembeddings = \"bert\"\n[resolve.survivorship.fields.price]\nrule = \"prefer_source\"\n";
        let err = AgoraConfig::from_toml_str(text).unwrap_err().to_string();
        assert!(err.contains("resolve.matcher") && err.contains("gbt, logistic, torch"), "{err}");
        assert!(err.contains("resolve.embeddings") && err.contains("trigram, minilm, none"), "{err}");
        assert!(err.contains("resolve.survivorship.fields.price.sources"), "{err}");
        let typo = AgoraConfig::from_toml_str("[resolve.blocking]\nwindow = 3\n").unwrap_err().to_string();
        assert!(typo.contains("resolve.blocking") && typo.contains("window"), "{typo}");
        let fine = AgoraConfig::from_toml_str("[resolve]\nenabled = true\n[resolve.blocking.sorted]\nwindow = 8\n").unwrap();
        assert!(fine.resolve.enabled);
        assert_eq!(fine.resolve.blocking.sorted.unwrap().window, 8);
    }
}
