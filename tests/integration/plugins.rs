//! The plugin host: what it loads, and what it refuses with which message.

use std::path::PathBuf;

use agora_core::plugin::{PluginHost, SourceInstance, LIBRARY_EXTENSION};

use crate::common::plugin_dir;

fn library(name: &str) -> PathBuf {
    plugin_dir().join(format!("lib{name}.{LIBRARY_EXTENSION}"))
}

#[test]
fn the_example_third_party_plugin_loads_and_reads_its_format() {
    let host = PluginHost::new(vec![plugin_dir()]);
    let plugin = host.load_source(&library("agora_example_source")).expect("example plugin loads");
    assert_eq!(plugin.info.name, "example-kv");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.txt");
    std::fs::write(&file, "user=u1 item=i9 kind=view ts=2024-01-02T03:04:05Z\nno-equals-here\n").unwrap();
    let params = serde_json::json!({ "path": file.display().to_string() }).to_string();
    let mut source = SourceInstance::open(&plugin, params.as_bytes(), b"").unwrap();
    let polled = source.poll(100, b"").unwrap();
    assert_eq!(polled.records, 2);
    let text = String::from_utf8(polled.batch).unwrap();
    assert!(text.contains("\"user\":\"u1\""), "{text}");
    assert!(text.contains("malformed_line"), "{text}");
    // Resuming from the returned checkpoint reads nothing twice.
    let again = source.poll(100, &polled.checkpoint).unwrap();
    assert_eq!(again.records, 0);
}

#[test]
fn a_wrong_abi_version_is_refused_naming_both_versions() {
    let host = PluginHost::new(vec![plugin_dir()]);
    let err = host.load_source(&library("agora_test_wrong_abi")).unwrap_err().to_string();
    assert!(
        err.contains("plugin ABI version 999") && err.contains(&format!("host ABI version {}", agora_plugin_api::ABI_VERSION)),
        "{err}"
    );
}

#[test]
fn a_library_without_the_abi_symbol_is_not_a_plugin() {
    // A proc-macro library is a real shared object without Agora's symbols.
    let deps = plugin_dir().join("deps");
    let proc_macro = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("libserde_derive-") && name.ends_with(LIBRARY_EXTENSION)
        })
        .expect("serde_derive's shared library in target/debug/deps");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(format!("libnot_a_plugin.{LIBRARY_EXTENSION}"));
    std::fs::copy(proc_macro, &copy).unwrap();
    let host = PluginHost::new(vec![dir.path().to_path_buf()]);
    let err = host.load_source(&copy).unwrap_err().to_string();
    assert!(err.contains("not an agora plugin") && err.contains("agora_plugin_abi_version"), "{err}");
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(format!("libfake.{LIBRARY_EXTENSION}"));
    std::fs::write(&fake, b"this is not ELF").unwrap();
    let host = PluginHost::new(vec![dir.path().to_path_buf()]);
    let err = host.load_source(&fake).unwrap_err().to_string();
    assert!(err.contains("not a loadable library"), "{err}");
    let (found, refused) = host.discover();
    assert!(found.is_empty());
    assert_eq!(refused.len(), 1);
}

#[test]
fn a_path_outside_the_plugin_directories_is_refused() {
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join(format!("libagora_source_csv.{LIBRARY_EXTENSION}"));
    std::fs::copy(library("agora_source_csv"), &copy).unwrap();
    let host = PluginHost::new(vec![plugin_dir()]);
    let err = host.load_source(&copy).unwrap_err().to_string();
    assert!(err.contains("outside the plugin directories"), "{err}");
}

#[test]
fn an_unknown_plugin_name_lists_what_was_found() {
    let host = PluginHost::new(vec![plugin_dir()]);
    let err = host.source("parquet").unwrap_err().to_string();
    assert!(err.contains("no plugin named \"parquet\"") && err.contains("csv (source)"), "{err}");
}
