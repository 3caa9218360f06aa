//! Agora model plugin `classic`: pure-Rust classic recommenders, one `rec.*` task each, and the
//! classic forecasters of agora-forecast as `forecast.*` tasks (see [`forecasting`]).
//!
//! | task | model | `scores` for a history |
//! |---|---|---|
//! | `rec.popularity` | (time-decayed) interaction counts | the same for everyone |
//! | `rec.itemknn` | item-item cosine with shrinkage, top-k neighbours | Σ over history items of their similarity |
//! | `rec.ease` | EASE^R (Steck 2019), a closed-form item-item regression | Σ over history items of their weights |
//! | `rec.als` | implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) | the folded-in user vector · item factors |
//! | `rec.transition` | first-order item-to-next-item transitions | decayed Σ of transition rates out of recent items |
//! | `rec.attributes` | TF-IDF attribute cosine (content, works for cold items) | Σ over history items of their cosine |
//!
//! Each module's doc lists its params; the defaults (what `{}` gets) were chosen on the Amazon
//! Beauty leave-one-out validation split with `examples/tune.rs`. Snapshots are a small header
//! (magic, format version, task name) followed by the model's little-endian data.
//!
//! The score scales differ from model to model; when blending, z-scoring each model's vector
//! over the unmasked items worked best on Beauty (ahead of dividing by the maximum, and of raw
//! scores).

mod als;
mod attributes;
mod cooccurrence;
mod ease;
mod forecasting;
mod itemknn;
mod params;
mod popularity;
mod request;
mod snapshot;
mod sparse;
mod transition;

use agora_plugin_api::model::{Interactions, ModelPlugin};
use agora_plugin_api::series::SeriesSet;
use forecasting::ForecastSpec;

use params::Params;
use request::Request;
use snapshot::{Reader, Writer};

/// What every model answers once fitted or loaded.
trait Recommender: Send + Sync {
    /// Number of items the model scores.
    fn n_items(&self) -> usize;

    /// One score per item for a history (in time order, ids already checked), higher is better.
    fn scores(&self, history: &[u32]) -> Vec<f32>;

    /// The history item contributing most (and positively) to `item`'s score, if any.
    fn because(&self, history: &[u32], item: u32) -> Option<u32>;

    /// Up to `k` items most similar to `item`, best first, `item` excluded.
    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String>;

    /// Appends the model's data to a snapshot.
    fn encode(&self, out: &mut Writer);
}

/// The tasks this plugin can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Popularity,
    ItemKnn,
    Ease,
    Als,
    Transition,
    Attributes,
}

impl Task {
    const ALL: [Task; 6] = [Task::Popularity, Task::ItemKnn, Task::Ease, Task::Als, Task::Transition, Task::Attributes];

    fn name(self) -> &'static str {
        match self {
            Task::Popularity => "rec.popularity",
            Task::ItemKnn => "rec.itemknn",
            Task::Ease => "rec.ease",
            Task::Als => "rec.als",
            Task::Transition => "rec.transition",
            Task::Attributes => "rec.attributes",
        }
    }

    fn parse(name: &str) -> Result<Task, String> {
        Task::ALL.into_iter().find(|task| task.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Task::ALL.iter().map(|task| task.name()).collect();
            format!("unknown task `{name}` (this plugin does {}, {})", known.join(", "), forecasting::TASKS.join(", "))
        })
    }

    fn fit(self, data: &Interactions, params: &Params, progress: &mut dyn FnMut(u64, u64)) -> Result<Box<dyn Recommender>, String> {
        Ok(match self {
            Task::Popularity => Box::new(popularity::Popularity::fit(data, params)?),
            Task::ItemKnn => Box::new(itemknn::ItemKnn::fit(data, params)?),
            Task::Ease => Box::new(ease::Ease::fit(data, params, progress)?),
            Task::Als => Box::new(als::Als::fit(data, params, progress)?),
            Task::Transition => Box::new(transition::Transition::fit(data, params)?),
            Task::Attributes => Box::new(attributes::Attributes::fit(data, params)?),
        })
    }

    fn decode(self, reader: &mut Reader) -> Result<Box<dyn Recommender>, String> {
        Ok(match self {
            Task::Popularity => Box::new(popularity::Popularity::decode(reader)?),
            Task::ItemKnn => Box::new(itemknn::ItemKnn::decode(reader)?),
            Task::Ease => Box::new(ease::Ease::decode(reader)?),
            Task::Als => Box::new(als::Als::decode(reader)?),
            Task::Transition => Box::new(transition::Transition::decode(reader)?),
            Task::Attributes => Box::new(attributes::Attributes::decode(reader)?),
        })
    }
}

/// One loaded snapshot of any of the plugin's tasks.
pub struct ClassicModels(Loaded);

enum Loaded {
    Recommender(Box<dyn Recommender>),
    Forecaster(ForecastSpec),
}

impl ModelPlugin for ClassicModels {
    fn fit(task: &str, data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
        let params = Params::parse(params)?;
        if forecasting::TASKS.contains(&task) {
            let spec = ForecastSpec::fit(task, &SeriesSet::decode(data)?, &params, progress)?;
            let mut out = Writer::new(task);
            spec.encode(&mut out);
            return Ok(out.finish());
        }
        let task = Task::parse(task)?;
        let data = Interactions::decode(data)?;
        let model = task.fit(&data, &params, progress)?;
        let mut out = Writer::new(task.name());
        model.encode(&mut out);
        Ok(out.finish())
    }

    fn load(task: &str, snapshot: &[u8]) -> Result<Self, String> {
        if forecasting::TASKS.contains(&task) {
            let mut reader = Reader::open(snapshot, task)?;
            let spec = ForecastSpec::decode(&mut reader)?;
            reader.finish()?;
            return Ok(ClassicModels(Loaded::Forecaster(spec)));
        }
        let task = Task::parse(task)?;
        let mut reader = Reader::open(snapshot, task.name())?;
        let model = task.decode(&mut reader)?;
        reader.finish()?;
        Ok(ClassicModels(Loaded::Recommender(model)))
    }

    fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        match &self.0 {
            Loaded::Recommender(model) => Request::parse(request, model.n_items())?.answer(model.as_ref()),
            Loaded::Forecaster(spec) => spec.answer(request),
        }
    }
}

agora_plugin_api::export_model! {
    plugin: ClassicModels,
    name: "classic",
    version: env!("CARGO_PKG_VERSION"),
    tasks: "rec.popularity,rec.itemknn,rec.ease,rec.als,rec.transition,rec.attributes,\
            forecast.naive,forecast.snaive,forecast.naive2,forecast.ets,forecast.theta,forecast.croston,forecast.tsb,forecast.auto",
    description: "classic recommenders (popularity, item-kNN, EASE^R, implicit ALS, item transitions, attribute similarity) \
                  and forecasters (naive, seasonal naive, Naive2, ETS, Theta, Croston, TSB, a validated ensemble) in pure Rust",
}

/// The history item with the largest positive contribution, the most recent one on ties;
/// `contribution` gets an item's position in the history and the item.
fn strongest(history: &[u32], contribution: impl Fn(usize, u32) -> f32) -> Option<u32> {
    let mut best: Option<(u32, f32)> = None;
    for (position, &item) in history.iter().enumerate().rev() {
        let value = contribution(position, item);
        let better = match best {
            Some((_, top)) => value > top,
            None => value > 0.0,
        };
        if better {
            best = Some((item, value));
        }
    }
    best.map(|(item, _)| item)
}

/// The history's distinct items (order not kept): set-based models count a repeat once.
fn distinct(history: &[u32]) -> Vec<u32> {
    let mut items = history.to_vec();
    items.sort_unstable();
    items.dedup();
    items
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use agora_plugin_api::model::ModelPlugin;
    use serde_json::json;

    use crate::testing::{ask, fit, interactions, scores, with_attributes};
    use crate::ClassicModels;

    #[test]
    fn every_task_round_trips_through_its_snapshot() {
        let data = with_attributes(interactions(4, &[&[0, 1, 2], &[1, 2], &[2, 3, 0]]), 2, &[&[0], &[0, 1], &[1], &[]]);
        for task in ["rec.popularity", "rec.itemknn", "rec.ease", "rec.als", "rec.transition", "rec.attributes"] {
            let snapshot = fit(task, &data, "{}").unwrap();
            let model = ClassicModels::load(task, &snapshot).unwrap();
            let refit = ClassicModels::load(task, &fit(task, &data, "{}").unwrap()).unwrap();
            assert_eq!(scores(&model, &[0, 1]), scores(&refit, &[0, 1]), "{task}");
            assert_eq!(scores(&model, &[0, 1]).len(), 4, "{task}");
            let other = if task == "rec.ease" { "rec.itemknn" } else { "rec.ease" };
            assert!(ClassicModels::load(other, &snapshot).err().unwrap().contains(&format!("snapshot is for task `{task}`")), "{task}");
            assert!(ClassicModels::load(task, &snapshot[..snapshot.len() - 1]).is_err(), "{task}");
            assert!(ClassicModels::load(task, b"AGCM garbage").is_err(), "{task}");
            assert!(fit(task, &data, r#"{"nonsense": 1}"#).unwrap_err().contains("unknown param `nonsense`"), "{task}");
        }
    }

    #[test]
    fn unknown_tasks_bad_data_and_bad_requests_are_refused() {
        let data = interactions(3, &[&[0, 1]]);
        assert!(fit("rec.magic", &data, "{}").unwrap_err().contains("unknown task `rec.magic`"));
        assert!(ClassicModels::fit("rec.ease", b"nope", b"{}", &mut |_, _| {}).unwrap_err().contains("bad magic"));
        assert!(ClassicModels::load("rec.magic", b"").err().unwrap().contains("unknown task"));
        let model = ClassicModels::load("rec.itemknn", &fit("rec.itemknn", &data, "").unwrap()).unwrap();
        assert!(ask(&model, json!({"op": "predict"})).unwrap_err().contains("unknown variant `predict`"));
        assert!(ask(&model, json!({"op": "similar", "item": 3, "k": 1})).unwrap_err().contains("item 3 out of range (n_items = 3)"));
        assert!(model.infer(br#"{"op":"scores","history":[5]}"#).unwrap_err().contains("history item 5 out of range"));
    }

    #[test]
    fn fit_reports_progress_up_to_done() {
        let data = interactions(3, &[&[0, 1], &[1, 2]]);
        for task in ["rec.ease", "rec.als"] {
            let mut reports = Vec::new();
            ClassicModels::fit(task, &data.encode(), br#"{}"#, &mut |done, total| reports.push((done, total))).unwrap();
            let &(done, total) = reports.last().unwrap();
            assert!(done == total && reports.len() > 1, "{task}: {reports:?}");
        }
    }
}
