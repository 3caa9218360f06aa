//! The Clean agents: one per source, each applying its source's rules to incoming batches and
//! committing records, dedup decisions, quarantine entries, counters and the source checkpoint
//! in one atomic store write.
//!
//! Threading: each is a sync actor on its own thread (SyncArbiter with one thread), because
//! cleaning and sled commits block. Sources clean in parallel; one thread per source keeps a
//! source's batches, counters and checkpoints in order, and the store serialises the commits
//! themselves, so dedup never races.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, Handler, Message, Recipient, SyncArbiter, SyncContext};
use agora_core::clean::{find_outliers, SourceRules, OUTLIER_FIELDS};
use agora_core::config::{AgoraConfig, OutlierMethod, ResolveConfig};
use agora_core::plugin::PluginHost;
use agora_core::quality::{OutlierCounts, SourceStats};
use agora_core::record::{EventKind, Record};
use agora_core::store::{CommitBatch, CommitReport, Store};

use crate::error::AgentError;
use crate::forecaster::NewSales;
use crate::recommender::NewInteractions;
use crate::resolution::{self, Matchers, ResolveSummary, TorchMatcherSource};
use crate::state::{AgentState, AgentStatus, GetState};

/// The agent name of a source's Clean agent.
pub fn cleaner_name(source: &str) -> String {
    format!("clean:{source}")
}

/// A batch from a source, in the `agora-batch/1` encoding, with the checkpoint it ends at.
#[derive(Message)]
#[rtype(result = "Result<CommitReport, AgentError>")]
pub struct CleanBatch {
    pub source: String,
    pub batch: Vec<u8>,
    /// `None` for push batches, which have no checkpoint.
    pub checkpoint: Option<Vec<u8>>,
}

/// Recomputes outlier flags on price and quantity over everything stored (any Clean agent
/// can do it; the result covers every source).
#[derive(Message)]
#[rtype(result = "Result<BTreeMap<String, OutlierCounts>, AgentError>")]
pub struct FlagOutliers;

/// The integration step: resolves catalogue items across sources into golden records when
/// `[resolve]` is enabled (answers `None` when it is not). Any Clean agent can do it; the
/// result covers every source. The matcher is trained on the first run and kept.
#[derive(Message)]
#[rtype(result = "Result<Option<ResolveSummary>, AgentError>")]
pub struct ResolveEntities;

/// Answers once every message sent before it has been handled: a barrier.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Barrier;

/// The Clean agent of one source.
pub struct Cleaner {
    store: Arc<dyn Store>,
    rules: SourceRules,
    stats: SourceStats,
    outlier_method: OutlierMethod,
    outlier_threshold: f64,
    state: AgentState,
    queued: Arc<AtomicU64>,
    /// Told about every committed batch's interactions (the Recommend agent), if any.
    interactions: Option<Recipient<NewInteractions>>,
    /// Told when a committed batch held sales (the Forecast agent), if any.
    sales: Option<Recipient<NewSales>>,
    event_kinds: Vec<EventKind>,
    resolve: Arc<ResolveConfig>,
    /// Model plugins, for `resolve.matcher = "torch"`, and the MiniLM folder that matcher reads.
    host: Option<Arc<PluginHost>>,
    minilm_dir: Arc<PathBuf>,
    /// The entity matchers, once trained.
    matcher: Option<Arc<Matchers>>,
}

impl Actor for Cleaner {
    type Context = SyncContext<Self>;
}

/// One source's Clean agent and the count of batches queued for it.
#[derive(Clone)]
struct Lane {
    addr: Addr<Cleaner>,
    queued: Arc<AtomicU64>,
}

/// The addresses of every source's Clean agent; routes batches by source.
#[derive(Clone)]
pub struct CleanerHandle {
    lanes: Arc<BTreeMap<String, Lane>>,
}

impl CleanerHandle {
    fn lane(&self, source: &str) -> Result<&Lane, AgentError> {
        self.lanes.get(source).ok_or_else(|| AgentError::UnknownSource {
            source_name: source.to_string(),
            known: self.lanes.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Enqueues a batch now and returns a future of its commit report.
    ///
    /// The message is in the agent's mailbox when this returns (if the mailbox has room), so a
    /// caller can send several batches before awaiting any.
    ///
    /// # Errors
    /// The future yields [`AgentError::UnknownSource`], [`AgentError::Unreachable`] if the agent
    /// is gone, or the commit's own error.
    pub fn submit(&self, batch: CleanBatch) -> impl Future<Output = Result<CommitReport, AgentError>> + Send + 'static {
        let sent = self.lane(&batch.source).map(|lane| {
            lane.queued.fetch_add(1, Ordering::Relaxed);
            (lane.addr.send(batch), lane.queued.clone())
        });
        async move {
            let (request, queued) = sent?;
            match request.await {
                Ok(report) => report,
                Err(err) => {
                    queued.fetch_sub(1, Ordering::Relaxed);
                    Err(AgentError::Unreachable { agent: "clean".to_string(), reason: err.to_string() })
                }
            }
        }
    }

    /// Resolves once every batch sent for `source` before it has been handled.
    ///
    /// # Errors
    /// [`AgentError::UnknownSource`] or [`AgentError::Unreachable`].
    pub async fn barrier(&self, source: &str) -> Result<(), AgentError> {
        let lane = self.lane(source)?;
        lane.addr.send(Barrier).await.map_err(|err| AgentError::Unreachable { agent: cleaner_name(source), reason: err.to_string() })
    }

    /// Every Clean agent's address, by source.
    pub fn agents(&self) -> impl Iterator<Item = (&String, &Addr<Cleaner>)> {
        self.lanes.iter().map(|(source, lane)| (source, &lane.addr))
    }
}

impl Cleaner {
    /// Compiles every source's rules, loads the stored counters and starts one Clean agent per
    /// source, each on its own thread. `interactions`, when given, hears about every committed
    /// interaction (events of `recommend.event_kinds`, order lines, reviews); `sales` hears when
    /// a committed batch held order lines or purchase events; `host` provides the model plugin
    /// of `resolve.matcher = "torch"`.
    ///
    /// # Errors
    /// A config or store error found while preparing.
    pub fn start_all(
        config: &AgoraConfig,
        store: Arc<dyn Store>,
        host: Option<Arc<PluginHost>>,
        interactions: Option<Recipient<NewInteractions>>,
        sales: Option<Recipient<NewSales>>,
    ) -> Result<CleanerHandle, AgentError> {
        let event_kinds: Vec<EventKind> = config.recommend.event_kinds.iter().filter_map(|kind| EventKind::parse(kind)).collect();
        let mut stats: HashMap<String, SourceStats> = store.source_stats()?.into_iter().collect();
        let mut lanes = BTreeMap::new();
        let resolve = Arc::new(config.resolve.clone());
        let minilm_dir = Arc::new(config.qa.minilm_dir.clone());
        for (name, source) in &config.sources {
            let rules = SourceRules::compile(name, source, &config.clean, config.store.keep_raw)?;
            let stats = stats.remove(name).unwrap_or_default();
            let queued = Arc::new(AtomicU64::new(0));
            let (store, shared_queue, name_for_state) = (store.clone(), queued.clone(), cleaner_name(name));
            let (method, threshold) = (config.clean.outlier_method, config.clean.outlier_threshold);
            let (interactions, sales, event_kinds, resolve) = (interactions.clone(), sales.clone(), event_kinds.clone(), resolve.clone());
            let (host, minilm_dir) = (host.clone(), minilm_dir.clone());
            let addr = SyncArbiter::start(1, move || Cleaner {
                store: store.clone(),
                rules: rules.clone(),
                stats: stats.clone(),
                outlier_method: method,
                outlier_threshold: threshold,
                state: AgentState::starting(&name_for_state, "clean", 0),
                queued: shared_queue.clone(),
                interactions: interactions.clone(),
                sales: sales.clone(),
                event_kinds: event_kinds.clone(),
                resolve: resolve.clone(),
                host: host.clone(),
                minilm_dir: minilm_dir.clone(),
                matcher: None,
            });
            lanes.insert(name.clone(), Lane { addr, queued });
        }
        Ok(CleanerHandle { lanes: Arc::new(lanes) })
    }

    fn commit(&mut self, msg: CleanBatch) -> Result<CommitReport, AgentError> {
        if msg.source != self.rules.source() {
            return Err(AgentError::UnknownSource { source_name: msg.source, known: self.rules.source().to_string() });
        }
        let mut stats = self.stats.clone();
        let now = agora_core::now_ms();
        let cleaned = self.rules.clean_batch(&msg.batch, &mut stats, now);
        // The store does not say which records were duplicates, so all are forwarded: a replayed
        // interaction lands in the user's live history once more (back-to-back repeats collapse)
        // until the next retraining rebuilds histories from the store.
        let interactions = self
            .interactions
            .as_ref()
            .map(|_| NewInteractions::from_records(cleaned.records.iter().map(|record| &record.record), &self.event_kinds));
        let sales = cleaned.records.iter().any(|record| match &record.record {
            Record::Order(_) => true,
            Record::Event(event) => event.kind == EventKind::Purchase,
            _ => false,
        });
        let report = self.store.commit(CommitBatch {
            source: msg.source.clone(),
            records: cleaned.records,
            quarantine: cleaned.quarantine,
            checkpoint: msg.checkpoint,
            stats: stats.clone(),
            ingested_at: now,
        })?;
        // Mirror what the store now holds; the store added accepted and duplicates.
        stats.read += report.accepted + report.duplicates;
        stats.accepted += report.accepted;
        stats.duplicates += report.duplicates;
        self.stats = stats;
        if let (Some(recipient), Some(interactions)) = (&self.interactions, interactions) {
            if report.accepted > 0 && !interactions.0.is_empty() {
                recipient.do_send(interactions);
            }
        }
        if let Some(recipient) = self.sales.as_ref().filter(|_| sales && report.accepted > 0) {
            recipient.do_send(NewSales);
        }
        Ok(report)
    }

    fn flag_outliers(&self) -> Result<BTreeMap<String, OutlierCounts>, AgentError> {
        let mut flags: BTreeMap<_, Vec<String>> = BTreeMap::new();
        let mut counts: BTreeMap<String, OutlierCounts> = BTreeMap::new();
        for (kind, field) in OUTLIER_FIELDS {
            // Per source: one source's prices say nothing about another's currency or scale.
            let mut by_source: BTreeMap<String, (Vec<_>, Vec<f64>)> = BTreeMap::new();
            self.store.scan_records(kind, &mut |key, stored| {
                let value = match (&stored.record, field) {
                    (Record::Item(item), "price") => item.price,
                    (Record::Order(order), "quantity") => Some(order.quantity),
                    (Record::Order(order), "unit_price") => order.unit_price,
                    _ => None,
                };
                if let Some(value) = value {
                    let entry = by_source.entry(stored.provenance.source).or_default();
                    entry.0.push(key.to_vec());
                    entry.1.push(value);
                }
                true
            })?;
            for (source, (keys, values)) in by_source {
                let outliers = find_outliers(&values, self.outlier_method, self.outlier_threshold);
                if !outliers.is_empty() {
                    counts.entry(source).or_default().insert(field.to_string(), outliers.len() as u64);
                }
                for index in outliers {
                    flags.entry(keys[index].clone()).or_default().push(field.to_string());
                }
            }
        }
        self.store.replace_outliers(&flags, &counts)?;
        Ok(counts)
    }
}

impl Cleaner {
    fn resolve_entities(&mut self) -> Result<Option<ResolveSummary>, AgentError> {
        if !self.resolve.enabled {
            return Ok(None);
        }
        let entities = resolution::items_as_entities(self.store.as_ref())?;
        let torch = self.host.as_deref().map(|host| TorchMatcherSource { host, minilm_dir: &self.minilm_dir });
        let matcher = match &self.matcher {
            Some(matcher) => matcher.clone(),
            None => {
                let feedback = resolution::load_feedback(self.store.as_ref())?;
                let trained = Arc::new(resolution::train(&self.resolve, &entities, &feedback, torch)?);
                self.matcher = Some(trained.clone());
                trained
            }
        };
        let embeddings = resolution::embeddings(&self.resolve, &entities, torch.as_ref())?;
        let summary = resolution::run(self.store.as_ref(), &self.resolve, &matcher, &entities, embeddings.as_deref())?;
        tracing::info!(items = summary.items, matches = summary.matches, merged = summary.merged, "resolved items into golden records");
        Ok(Some(summary))
    }
}

/// Runs a handler body, turning a panic into an error so the agent keeps serving.
fn guard<T>(agent: &mut Cleaner, body: impl FnOnce(&mut Cleaner) -> Result<T, AgentError>) -> Result<T, AgentError> {
    let result = match catch_unwind(AssertUnwindSafe(|| body(agent))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(AgentError::Panicked { agent: agent.state.name.clone(), message })
        }
    };
    if let Err(err) = &result {
        agent.state.errors += 1;
        agent.state.last_error = Some(err.to_string());
        tracing::error!(agent = %agent.state.name, error = %err, "batch failed");
    }
    result
}

impl Handler<CleanBatch> for Cleaner {
    type Result = Result<CommitReport, AgentError>;

    fn handle(&mut self, msg: CleanBatch, _ctx: &mut SyncContext<Self>) -> Self::Result {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.state.status = AgentStatus::Running;
        let report = guard(self, |cleaner| cleaner.commit(msg))?;
        self.state.processed += report.accepted + report.duplicates + report.quarantined;
        Ok(report)
    }
}

impl Handler<FlagOutliers> for Cleaner {
    type Result = Result<BTreeMap<String, OutlierCounts>, AgentError>;

    fn handle(&mut self, _msg: FlagOutliers, _ctx: &mut SyncContext<Self>) -> Self::Result {
        guard(self, |cleaner| cleaner.flag_outliers())
    }
}

impl Handler<ResolveEntities> for Cleaner {
    type Result = Result<Option<ResolveSummary>, AgentError>;

    fn handle(&mut self, _msg: ResolveEntities, _ctx: &mut SyncContext<Self>) -> Self::Result {
        guard(self, Cleaner::resolve_entities)
    }
}

impl Handler<Barrier> for Cleaner {
    type Result = ();

    fn handle(&mut self, _msg: Barrier, _ctx: &mut SyncContext<Self>) {}
}

impl Handler<GetState> for Cleaner {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut SyncContext<Self>) -> Self::Result {
        let mut state = self.state.clone();
        state.backlog = self.queued.load(Ordering::Relaxed);
        // Its rules are compiled before it exists: with nothing queued it is idle, not starting.
        if state.backlog == 0 && matches!(state.status, AgentStatus::Running | AgentStatus::Starting) {
            state.status = AgentStatus::Idle;
        }
        actix::MessageResult(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::store::SledStore;

    const CONFIG: &str = r#"
        [sources.events]
        plugin = "jsonl"
        record = "event"
        fields = { user_id = "user", item_id = "item", kind = "type", ts = "ts" }
    "#;

    fn batch(lines: &[&str]) -> Vec<u8> {
        lines
            .iter()
            .enumerate()
            .map(|(n, fields)| format!("{{\"offset\":\"t@{n}\",\"fields\":{fields}}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[actix_rt::test]
    async fn commits_batches_counts_them_and_refuses_unknown_sources() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("s"), 16).unwrap());
        let config = AgoraConfig::from_toml_str(CONFIG).unwrap();
        let cleaners = Cleaner::start_all(&config, store.clone(), None, None, None).unwrap();
        let view = r#"{"user":"u1","item":"i1","type":"view","ts":1704067200}"#;
        let lines = batch(&[view, view, r#"{"user":"u1","item":"i1","type":"teleport","ts":1704067200}"#]);
        let report = cleaners.submit(CleanBatch { source: "events".into(), batch: lines, checkpoint: Some(b"7".to_vec()) }).await.unwrap();
        assert_eq!(report, CommitReport { accepted: 1, duplicates: 1, quarantined: 1 });
        assert_eq!(store.checkpoint("events").unwrap(), Some(b"7".to_vec()));
        let (_, addr) = cleaners.agents().next().unwrap();
        let state = addr.send(GetState).await.unwrap();
        assert_eq!((state.name.as_str(), state.processed, state.backlog, state.status), ("clean:events", 3, 0, AgentStatus::Idle));
        let unknown = cleaners.submit(CleanBatch { source: "nope".into(), batch: Vec::new(), checkpoint: None }).await;
        assert!(matches!(unknown, Err(AgentError::UnknownSource { .. })));
    }

    #[actix_rt::test]
    async fn the_integration_step_resolves_items_across_sources_into_golden_records() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("s"), 16).unwrap());
        let source = |name: &str| {
            format!(
                "[sources.{name}]\nplugin = \"jsonl\"\nrecord = \"item\"\ndedup_key = [\"item_id\"]\n\
                 fields = {{ item_id = \"id\", title = \"title\", brand = \"brand\", price = \"price\", attributes = {{ from = [\"model\"] }} }}\n"
            )
        };
        let text = format!(
            "{}{}[resolve]\nenabled = true\n[resolve.survivorship.fields.price]\nrule = \"prefer_source\"\nsources = [\"erp\"]\n",
            source("erp"),
            source("feed")
        );
        let config = AgoraConfig::from_toml_str(&text).unwrap();
        let cleaners = Cleaner::start_all(&config, store.clone(), None, None, None).unwrap();
        let erp = batch(&[
            r#"{"id":"e1","title":"sony cyber-shot dscw120 digital camera pink","brand":"sony","price":129.0,"model":"dscw120"}"#,
            r#"{"id":"e2","title":"lg lds4821ww semi integrated dishwasher white","brand":"lg","price":499.0,"model":"lds4821ww"}"#,
            r#"{"id":"e3","title":"apple ipod nano 8gb silver mb598ll","brand":"apple","price":149.0,"model":"mb598ll"}"#,
        ]);
        let feed = batch(&[
            r#"{"id":"f1","title":"SONY DSC-W120 Cyber-shot camera, pink","brand":"SONY","price":119.0}"#,
            r#"{"id":"f2","title":"LG LDS4821WW dishwasher semi-integrated","price":479.0}"#,
            r#"{"id":"f3","title":"samsung syncmaster 226bw 22 inch lcd monitor","brand":"samsung","price":259.0}"#,
        ]);
        cleaners.submit(CleanBatch { source: "erp".into(), batch: erp, checkpoint: None }).await.unwrap();
        cleaners.submit(CleanBatch { source: "feed".into(), batch: feed, checkpoint: None }).await.unwrap();
        let (_, addr) = cleaners.agents().next().unwrap();
        let summary = addr.send(ResolveEntities).await.unwrap().unwrap().expect("resolve is enabled");
        assert_eq!(summary.items, 6);
        assert_eq!(summary.merged, 2, "{summary:?}");
        let golden: Vec<serde_json::Value> =
            store.golden_records().unwrap().iter().map(|(_, json)| serde_json::from_slice(json).unwrap()).collect();
        assert_eq!(golden.len(), 4);
        let camera = golden.iter().find(|g| g["members"].as_array().unwrap().len() == 2 && g["id"] == "erp/e1").unwrap();
        assert_eq!(camera["version"], 1);
        assert_eq!(camera["fields"]["price"]["source"], "erp");
        assert_eq!(camera["fields"]["price"]["record_id"], "e1");
        let decisions = store.match_decisions().unwrap();
        assert!(decisions.iter().any(|(key, json)| {
            let decision: serde_json::Value = serde_json::from_slice(json).unwrap();
            key == "erp/e1|feed/f1" && decision["accepted"] == true && decision["evidence"]["code_in_other"].as_f64().unwrap() > 0.0
        }));

        // An operator rejects the camera match: the next run keeps the two apart.
        resolution::record_feedback(store.as_ref(), "feed/f1", "erp/e1", agora_resolve::feedback::Verdict::Reject).unwrap();
        let again = addr.send(ResolveEntities).await.unwrap().unwrap().unwrap();
        assert_eq!((again.merged, again.golden), (1, 5), "{again:?}");
    }
}
