//! The `agora` binary: config errors, `--json` output, plugin listing, resuming runs.

use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{plugin_dir, TestShop};

pub fn agora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora")).args(args).env("RUST_LOG", "warn").output().expect("run agora")
}

/// Runs `agora eval <kind> --data <data> --dataset <dataset> <extra> --json` with a config whose
/// store lies in a fresh directory; returns the results and that directory (the run is recorded
/// in `main.sled` there).
pub fn run_eval(kind: &str, data: &std::path::Path, dataset: &str, extra: &[&str]) -> (Value, tempfile::TempDir) {
    let (mut lines, dir) = run_eval_lines(kind, data, dataset, extra);
    (lines.pop().expect("at least one JSON line"), dir)
}

/// As [`run_eval`], every JSON line of stdout (one per protocol of `eval recommend`).
pub fn run_eval_lines(kind: &str, data: &std::path::Path, dataset: &str, extra: &[&str]) -> (Vec<Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agora.toml");
    std::fs::write(&config, format!("[store]\npath = {:?}\n", dir.path().join("main.sled").display().to_string())).unwrap();
    let mut args = vec!["--config", config.to_str().unwrap(), "eval", kind, "--data", data.to_str().unwrap(), "--dataset", dataset];
    args.extend_from_slice(extra);
    args.push("--json");
    let output = agora(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert!(!lines.is_empty(), "no JSON line on stdout; stderr: {}", String::from_utf8_lossy(&output.stderr));
    (lines, dir)
}

/// The recorded evaluation runs of the store in `dir` (see [`run_eval`]).
pub fn recorded_runs(dir: &tempfile::TempDir) -> Vec<agora_core::store::EvalRun> {
    let store = agora_core::store::SledStore::open(&dir.path().join("main.sled"), 16).unwrap();
    agora_core::store::Store::eval_runs(&store).unwrap()
}

/// The JSON object on the last line of stdout.
pub fn last_json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|err| panic!("last line {last:?} is not JSON: {err}; stderr: {}", String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn a_bad_config_key_stops_start_up_naming_the_key() {
    let shop = TestShop::small(21);
    let config = shop.config_file(|text| text.replace("batch_size = 4096", "batch_sise = 4096"));
    let output = agora(&["--config", config.to_str().unwrap(), "ingest", "--once", "--json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ingest") && stderr.contains("batch_sise") && stderr.contains("batch_size"), "{stderr}");
    assert!(last_json(&output)["error"].as_str().unwrap().contains("batch_sise"));
}

#[test]
fn an_environment_override_with_a_bad_value_is_named() {
    let shop = TestShop::small(22);
    let config = shop.config_file(|text| text);
    let output = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["--config", config.to_str().unwrap(), "quality", "--json"])
        .env("AGORA__CLEAN__OUTLIER_METHOD", "zscore")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = last_json(&output)["error"].as_str().unwrap().to_string();
    assert!(error.contains("clean.outlier_method") && error.contains("robust_z"), "{error}");
}

#[test]
fn plugins_list_shows_each_plugin_and_refuses_the_wrong_abi() {
    let dir = plugin_dir();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), format!("[plugins]\ndirs = [{:?}]\n", dir.display().to_string())).unwrap();
    let output = agora(&["--config", config.path().to_str().unwrap(), "plugins", "list", "--json"]);
    assert!(output.status.success());
    let listed = last_json(&output);
    let names: Vec<&str> = listed["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["csv", "jsonl", "example-kv", "faulty"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let csv = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "csv").unwrap();
    assert_eq!(csv["kind"], "source");
    assert!(csv["capabilities"].as_array().unwrap().iter().any(|c| c == "tail"));
    assert!(csv["file"].as_str().unwrap().ends_with(&format!("libagora_source_csv.{}", std::env::consts::DLL_EXTENSION)));
    let refused = listed["refused"].to_string();
    assert!(refused.contains("999") && refused.contains(&format!("host ABI version {}", agora_plugin_api::ABI_VERSION)), "{refused}");
    let classic = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "classic").expect("the classic model plugin");
    assert_eq!(classic["kind"], "model");
    assert!(classic["capabilities"].as_array().unwrap().iter().any(|c| c == "rec.ease"), "{classic}");
    let table = agora(&["--config", config.path().to_str().unwrap(), "plugins", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("csv") && text.contains("file,dir,glob,tail"), "{text}");
}

#[test]
fn a_second_run_resumes_from_checkpoints_and_adds_nothing() {
    let shop = TestShop::small(23);
    let config = shop.config_file(|text| text);
    let config = config.to_str().unwrap();
    let first = agora(&["--config", config, "ingest", "--once", "--json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let before = last_json(&agora(&["--config", config, "digest", "--json"]));
    let second = agora(&["--config", config, "ingest", "--once", "--json"]);
    assert!(second.status.success());
    assert_eq!(last_json(&agora(&["--config", config, "digest", "--json"])), before);
    assert_eq!(before["records"].as_u64().unwrap(), shop.manifest.sources.values().map(|e| e.accepted).sum::<u64>());
    let quality = last_json(&agora(&["--config", config, "quality", "--json"]));
    assert_eq!(quality["sources"]["orders"]["read"].as_u64().unwrap(), shop.manifest.sources["orders"].read);
}
