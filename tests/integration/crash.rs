//! Exactly-once under SIGKILL: kill an ingesting process at random moments, restart it each
//! time, and compare the final store with an uninterrupted run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agora::generate::ShopSize;
use rand::{Rng, SeedableRng};

use crate::cli::{agora, last_json};
use crate::common::{config_for, TestShop};

#[test]
fn sigkill_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let shop = TestShop::new(31, ShopSize { items: 2_000, events: 40_000, orders: 20_000, dirty_rate: 0.03 });
    let small_batches = |text: String| text.replace("batch_size = 4096", "batch_size = 300");
    let crashed = shop.config_file(small_batches);
    let crashed = crashed.to_str().unwrap();

    // The reference: the same data, uninterrupted, into its own store.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_config = clean_dir.path().join("clean.toml");
    let mut reference = config_for(&shop.shop_dir(), &clean_dir.path().join("store.sled"), small_batches);
    reference.sources.retain(|_, source| source.plugin != "push");
    let text = std::fs::read_to_string(crashed)
        .unwrap()
        .replace(&shop.store_dir().display().to_string(), &clean_dir.path().join("store.sled").display().to_string());
    std::fs::write(&clean_config, text).unwrap();
    let run = agora(&["--config", clean_config.to_str().unwrap(), "ingest", "--once", "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let expected = last_json(&agora(&["--config", clean_config.to_str().unwrap(), "digest", "--json"]));
    let total = expected["records"].as_u64().unwrap();
    assert_eq!(total, shop.manifest.sources.values().map(|e| e.accepted).sum::<u64>());

    let seed: u64 = std::env::var("AGORA_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut partial_kills = 0;
    let mut kills = 0;
    let mut last_records = 0;
    while kills < 8 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["--config", crashed, "ingest", "--once"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let wait = Duration::from_millis(rng.gen_range(120..600));
        let mut exited = false;
        while started.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if exited {
            break; // it finished before the kill: nothing left to interrupt
        }
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        kills += 1;
        let digest = last_json(&agora(&["--config", crashed, "digest", "--json"]));
        let records = digest["records"].as_u64().unwrap();
        assert!(records >= last_records, "committed records never go back: {records} < {last_records}");
        last_records = records;
        if records > 0 && records < total {
            partial_kills += 1;
        }
    }
    assert!(kills >= 5, "only {kills} kills landed before ingestion finished (seed {seed}); use more data");
    assert!(partial_kills >= 3, "only {partial_kills} kills interrupted ingestion mid-way (seed {seed})");

    let finish = agora(&["--config", crashed, "ingest", "--once", "--json"]);
    assert!(finish.status.success(), "{}", String::from_utf8_lossy(&finish.stderr));
    let actual = last_json(&agora(&["--config", crashed, "digest", "--json"]));
    assert_eq!(actual, expected, "store after {kills} kills (seed {seed}) differs from the uninterrupted run");
}

#[test]
fn sigkill_mid_training_resumes_from_the_last_checkpoint() {
    use std::io::{BufRead, BufReader};

    let torch = crate::common::root().join("plugins/model-torch/target/release");
    if !torch.join(format!("libagora_model_torch.{}", std::env::consts::DLL_EXTENSION)).exists() {
        assert!(std::env::var_os("AGORA_REQUIRE_OPTIONAL").is_none(), "the torch plugin is missing");
        eprintln!("skipped: run scripts/setup-torch.sh for the torch plugin");
        return;
    }
    let shop = TestShop::small(37);
    let config = shop.config_file(|text| {
        let dirs = format!("dirs = [{:?}, {:?}]", crate::common::plugin_dir().display().to_string(), torch.display().to_string());
        text.replace("dirs = [\"target/release\", \"target/debug\", \"plugins/model-torch/target/release\"]", &dirs)
            .replace(
                "components = [\"ease\", \"transition\", \"itemknn\", \"attributes\", \"popularity\"]",
                "components = [\"popularity\", \"torch:sasrec\"]",
            )
            // The first `params = {}` is [recommend]'s.
            .replacen("params = {}", "params = { \"torch:sasrec\" = { epochs = 150, hidden = 16, threads = 1 } }", 1)
    });
    let config = config.to_str().unwrap();
    let ingest = agora(&["--config", config, "ingest", "--once", "--json"]);
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
    let train = || {
        Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["--config", config, "train", "--json"])
            .env("RUST_LOG", "warn,agora_recommend=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // Kill the first run once a few epochs' checkpoints are in the store.
    let mut child = train();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut stored = 0;
    for line in stderr.lines() {
        if line.unwrap().contains("fit checkpoint stored") {
            stored += 1;
            if stored == 5 {
                break;
            }
        }
    }
    assert_eq!(stored, 5, "the fit wrote no checkpoints before it ended");
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();

    // The next run carries on from the checkpoint instead of starting over, and finishes.
    let resumed = train().wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{log}");
    assert_eq!(log.matches("resuming the fit from its last checkpoint").count(), 1, "{log}");

    // A finished fit leaves no checkpoint behind: a third run starts from the beginning.
    let again = train().wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(!log.contains("resuming"), "{log}");
}
