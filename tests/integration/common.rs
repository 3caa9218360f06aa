//! The test harness: plugin directory, generated shops, configs, and an in-process node.

/// GET `uri` from an actix-web test app: (status, JSON body).
macro_rules! get {
    ($app:expr, $uri:expr) => {{
        let response = actix_web::test::call_service($app, actix_web::test::TestRequest::get().uri($uri).to_request()).await;
        let status = response.status().as_u16();
        let body: serde_json::Value = actix_web::test::read_body_json(response).await;
        (status, body)
    }};
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agora::app::Node;
use agora::generate::{generate_shop, ShopManifest, ShopSize};
use agora_agents::{AgentState, Shutdown, WaitForCompletion};
use agora_core::config::AgoraConfig;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/<set>` when it holds `file`; otherwise says the test is skipped and gives
/// `None` (the public data sets sit beside the checkout, not in it).
pub fn shared_data(set: &str, file: &str) -> Option<PathBuf> {
    let dir = root().join("../shared/data").join(set);
    if dir.join(file).exists() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is not here", dir.join(file).display());
        None
    }
}

/// The directory the plugin libraries are built into.
pub fn plugin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = target.join("debug");
    let csv = dir.join(format!("libagora_source_csv.{}", std::env::consts::DLL_EXTENSION));
    assert!(csv.exists(), "{} is missing: run `cargo build --workspace` before the tests (scripts/test.sh does)", csv.display());
    dir
}

/// A generated shop in a temporary directory.
pub struct TestShop {
    pub dir: tempfile::TempDir,
    pub manifest: ShopManifest,
}

impl TestShop {
    pub fn new(seed: u64, size: ShopSize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = generate_shop(&dir.path().join("shop"), seed, size).expect("generate shop");
        Self { dir, manifest }
    }

    pub fn small(seed: u64) -> Self {
        Self::new(seed, ShopSize { items: 300, events: 3000, orders: 1500, dirty_rate: 0.08 })
    }

    pub fn shop_dir(&self) -> PathBuf {
        self.dir.path().join("shop")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store.sled")
    }

    /// The reference config, pointed at this shop, this store and the built plugins.
    pub fn config(&self) -> AgoraConfig {
        self.config_with(|text| text)
    }

    /// The reference config after a text edit (applied before the paths are rewritten).
    pub fn config_with(&self, edit: impl FnOnce(String) -> String) -> AgoraConfig {
        config_for(&self.shop_dir(), &self.store_dir(), edit)
    }

    /// Writes the config to a file, for tests that run the binary.
    pub fn config_file(&self, edit: impl FnOnce(String) -> String) -> PathBuf {
        let text = config_text(&self.shop_dir(), &self.store_dir(), edit);
        let path = self.dir.path().join("agora.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

fn config_text(shop: &Path, store: &Path, edit: impl FnOnce(String) -> String) -> String {
    let reference = std::fs::read_to_string(root().join("config/agora.toml")).expect("config/agora.toml");
    edit(reference)
        .replace("data/shop/", &format!("{}/", shop.display()))
        .replace("path = \"data/agora.sled\"", &format!("path = {:?}", store.display().to_string()))
        .replace(
            "dirs = [\"target/release\", \"target/debug\", \"plugins/model-torch/target/release\"]",
            &format!("dirs = [{:?}]", plugin_dir().display().to_string()),
        )
}

pub fn config_for(shop: &Path, store: &Path, edit: impl FnOnce(String) -> String) -> AgoraConfig {
    AgoraConfig::from_toml_str(&config_text(shop, store, edit)).expect("valid test config")
}

/// Runs a `--once` ingestion in this actix system and shuts the pipeline down.
pub async fn ingest_once(config: AgoraConfig) -> Node {
    let node = Node::start(config, true).expect("node starts");
    node.supervisor.send(WaitForCompletion).await.expect("supervisor alive").expect("all sources finished");
    node.supervisor.send(Shutdown).await.expect("supervisor alive").expect("clean shutdown");
    node
}

/// Polls the pipeline until `check` holds for the named agent, or panics after `timeout`.
pub async fn wait_for_agent(node: &Node, agent: &str, timeout: Duration, check: impl Fn(&AgentState) -> bool) -> AgentState {
    let started = Instant::now();
    loop {
        let state = node.pipeline_state().await.expect("pipeline state");
        if let Some(found) = state.agents.iter().find(|state| state.name == agent) {
            if check(found) {
                return found.clone();
            }
            if started.elapsed() > timeout {
                panic!("agent {agent} did not reach the expected state in {timeout:?}; last: {found:?}");
            }
        } else if started.elapsed() > timeout {
            panic!("agent {agent} not found in {:?}", state.agents);
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}
