//! `agora train`: fits the recommendation models on everything in the store, with a progress bar
//! per stage, stores the snapshot the Recommend agent serves, and prints the validation table.

use agora_agents::fuser::RECOMMENDER_MODEL;
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::{encode, Store};
use agora_recommend::train::train;
use agora_recommend::Dataset;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::open_store;

/// Trains, stores and reports.
///
/// # Errors
/// No interactions in the store, a missing model plugin, a failed fit.
pub fn run(config: &AgoraConfig, json: bool) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let dataset = Dataset::from_store(&store, &config.recommend)?;
    let plugin = PluginHost::new(config.plugins.dirs.clone()).model(&config.recommend.plugin)?;
    let style = ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len}").expect("valid template").progress_chars("=> ");
    let mut current: Option<(String, ProgressBar)> = None;
    let mut progress = |stage: &str, done: u64, total: u64| {
        if json {
            return;
        }
        if current.as_ref().is_none_or(|(name, _)| name != stage) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            current = Some((stage.to_string(), ProgressBar::new(total).with_style(style.clone()).with_prefix(stage.to_string())));
        }
        if let Some((_, bar)) = &current {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let snapshot = train(&plugin, &config.recommend, &dataset, &mut progress)?;
    if let Some((_, bar)) = current.take() {
        bar.finish();
    }
    store.save_model(RECOMMENDER_MODEL, &encode(&snapshot)?)?;
    let info = &snapshot.info;
    if json {
        println!("{}", serde_json::to_string(info)?);
        return Ok(());
    }
    println!("\ntrained on {} and stored as {RECOMMENDER_MODEL:?}; validation = each user's second-last item, full ranking\n", info.data_version);
    println!("| component | weight | HR@10 | NDCG@10 | fit s |");
    println!("|---|---:|---:|---:|---:|");
    for (name, weight) in &info.weights {
        let metrics = &info.validation[name];
        println!("| {name} | {weight:.2} | {:.4} | {:.4} | {:.2} |", metrics.hr10, metrics.ndcg10, info.fit_seconds.get(name).copied().unwrap_or(0.0));
    }
    let blend = &info.validation["blend"];
    println!("| blend | | {:.4} | {:.4} | |", blend.hr10, blend.ndcg10);
    Ok(())
}
