//! The Analyst agent: user-behaviour analysis over the store — sessions, funnels, retention
//! cohorts, RFM segments and lifetime value — recomputed from the canonical events and orders
//! every `analytics.refresh_ms`, and served by message.
//!
//! Threading: a sync actor on its own thread; a refresh scans the store and fits the CLV models,
//! which blocks. Queries between refreshes answer from the last finished snapshot.

use std::sync::Arc;

use actix::{Actor, Handler, Message, SyncContext};
use agora_analytics::behaviour::{
    BehaviourIndex, CohortReport, FunnelOptions, FunnelRow, Period, PurchaseOptions, RfmConfig, RfmRules, SegmentRule, SessionOptions,
};
use agora_analytics::profile::{build_profiles, CustomerProfile, ProfileReport};
use agora_core::config::AnalyticsConfig;
use agora_core::record::{Record, RecordKind};
use agora_core::store::Store;
use serde::Serialize;

use crate::error::AgentError;
use crate::state::{AgentState, AgentStatus, GetState};

/// Name of the Analyst agent.
pub const ANALYST_NAME: &str = "analyst";

/// Rebuilds the analysis from the store.
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct Refresh;

/// One customer's profile (RFM segment, expected purchases, probability alive, CLV).
#[derive(Message)]
#[rtype(result = "Result<Option<CustomerProfile>, AgentError>")]
pub struct GetProfile {
    pub user_id: String,
}

/// View → cart → purchase funnel rows for sessions starting in `[from, to)`.
#[derive(Message)]
#[rtype(result = "Result<Vec<FunnelRow>, AgentError>")]
pub struct GetFunnel {
    /// Only this category (all categories, plus the `*` total, when `None`).
    pub category: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub period: Period,
}

/// Retention cohorts by first-purchase month, with repeat-purchase and inter-purchase figures.
#[derive(Message)]
#[rtype(result = "Result<CohortReport, AgentError>")]
pub struct GetCohorts;

/// The segment sizes and fitted models of the last refresh.
#[derive(Message)]
#[rtype(result = "Result<AnalysisSummary, AgentError>")]
pub struct GetSummary;

/// What the last refresh computed, without the per-customer profiles.
#[derive(Clone, Debug, Serialize)]
pub struct AnalysisSummary {
    pub as_of: i64,
    pub customers: usize,
    pub events: usize,
    pub order_lines: usize,
    pub segments: std::collections::BTreeMap<String, u64>,
    pub models: agora_analytics::profile::FittedModels,
}

/// A finished analysis.
struct Snapshot {
    index: BehaviourIndex,
    profiles: ProfileReport,
    cohorts: CohortReport,
}

/// The Analyst agent.
pub struct Analyst {
    store: Arc<dyn Store>,
    config: AnalyticsConfig,
    rules: RfmRules,
    snapshot: Option<Snapshot>,
    state: AgentState,
}

impl Actor for Analyst {
    type Context = SyncContext<Self>;
}

/// Compiles the configured segment rules (the built-in ones when none are configured).
///
/// # Errors
/// [`AgentError::Config`] naming each bad rule under `analytics.segments`.
pub fn segment_rules(config: &AnalyticsConfig) -> Result<RfmRules, AgentError> {
    let rfm = if config.segments.is_empty() {
        RfmConfig { fallback: config.fallback_segment.clone(), ..RfmConfig::default() }
    } else {
        RfmConfig {
            segments: config.segments.iter().map(|rule| SegmentRule { name: rule.name.clone(), rule: rule.rule.clone() }).collect(),
            fallback: config.fallback_segment.clone(),
        }
    };
    rfm.compile().map_err(|err| AgentError::Config(format!("analytics.segments: {err}")))
}

impl Analyst {
    /// A new Analyst; it computes nothing until it receives [`Refresh`].
    ///
    /// # Errors
    /// Bad segment rules.
    pub fn new(store: Arc<dyn Store>, config: AnalyticsConfig) -> Result<Self, AgentError> {
        let rules = segment_rules(&config)?;
        Ok(Self { store, config, rules, snapshot: None, state: AgentState::starting(ANALYST_NAME, "analyse", 0) })
    }

    fn refresh(&mut self) -> Result<(), AgentError> {
        let index = load_index(self.store.as_ref(), &self.config)?;
        let as_of = latest_time(&index).unwrap_or_else(agora_core::now_ms);
        let profiles = build_profiles(&index, as_of, self.config.horizon_weeks, &self.rules)?;
        let cohorts = index.cohorts();
        self.state.processed = (index.event_count() + index.order_line_count()) as u64;
        self.snapshot = Some(Snapshot { index, profiles, cohorts });
        Ok(())
    }

    fn snapshot(&self) -> Result<&Snapshot, AgentError> {
        self.snapshot.as_ref().ok_or_else(|| AgentError::NotReady("the first analysis has not finished yet".to_string()))
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions { gap_ms: self.config.session_gap_minutes as i64 * 60_000, use_source_session: false }
    }
}

/// Builds a behaviour index from every stored event (stitched to users), order and item.
///
/// # Errors
/// A store read fails.
pub fn load_index(store: &dyn Store, config: &AnalyticsConfig) -> Result<BehaviourIndex, AgentError> {
    let mut index = BehaviourIndex::new(PurchaseOptions { excluded_statuses: config.excluded_statuses.clone() });
    let items = collect(store, RecordKind::Item, |record| match record {
        Record::Item(item) => Some(item),
        _ => None,
    })?;
    index.add_items(&items, config.category_depth);
    let mut events = collect(store, RecordKind::Event, |record| match record {
        Record::Event(event) => Some(event),
        _ => None,
    })?;
    // Anonymous events belong to the user their session logged in as (see agora_core::identity).
    let links = store.identity_links()?;
    for event in &mut events {
        event.user_id = links.resolve(&event.user_id).to_string();
    }
    events.sort_by_key(|event| event.ts);
    index.add_events(&events);
    let orders = collect(store, RecordKind::Order, |record| match record {
        Record::Order(order) => Some(order),
        _ => None,
    })?;
    index.add_orders(&orders);
    Ok(index)
}

/// Every stored record of a kind, unwrapped by `pick`.
fn collect<T>(store: &dyn Store, kind: RecordKind, pick: impl Fn(Record) -> Option<T>) -> Result<Vec<T>, AgentError> {
    let mut found = Vec::new();
    store.scan_records(kind, &mut |_, stored| {
        found.extend(pick(stored.record));
        true
    })?;
    Ok(found)
}

/// The end of the data: one millisecond after its latest purchase or session.
fn latest_time(index: &BehaviourIndex) -> Option<i64> {
    let purchases = index.purchases().iter().map(|purchase| purchase.ts).max();
    let sessions = index.sessions(&SessionOptions::default()).iter().map(|session| session.end).max();
    purchases.max(sessions).map(|ts| ts + 1)
}

impl Handler<Refresh> for Analyst {
    type Result = Result<(), AgentError>;

    fn handle(&mut self, _msg: Refresh, _ctx: &mut SyncContext<Self>) -> Self::Result {
        self.state.status = AgentStatus::Running;
        let result = self.refresh();
        match &result {
            Ok(()) => self.state.status = AgentStatus::Idle,
            Err(err) => {
                self.state.status = AgentStatus::Failed;
                self.state.errors += 1;
                self.state.last_error = Some(err.to_string());
                tracing::error!(agent = ANALYST_NAME, error = %err, "analysis failed");
            }
        }
        result
    }
}

impl Handler<GetProfile> for Analyst {
    type Result = Result<Option<CustomerProfile>, AgentError>;

    fn handle(&mut self, msg: GetProfile, _ctx: &mut SyncContext<Self>) -> Self::Result {
        Ok(self.snapshot()?.profiles.profiles.get(&msg.user_id).cloned())
    }
}

impl Handler<GetFunnel> for Analyst {
    type Result = Result<Vec<FunnelRow>, AgentError>;

    fn handle(&mut self, msg: GetFunnel, _ctx: &mut SyncContext<Self>) -> Self::Result {
        let snapshot = self.snapshot()?;
        let sessions: Vec<_> = snapshot
            .index
            .sessions(&self.session_options())
            .into_iter()
            .filter(|session| msg.from.is_none_or(|from| session.start >= from) && msg.to.is_none_or(|to| session.start < to))
            .collect();
        let options = FunnelOptions { period: msg.period, ..FunnelOptions::default() };
        let rows = agora_analytics::behaviour::funnel(&sessions, snapshot.index.categories(), &options);
        Ok(match msg.category {
            Some(category) => rows.into_iter().filter(|row| row.category == category).collect(),
            None => rows,
        })
    }
}

impl Handler<GetCohorts> for Analyst {
    type Result = Result<CohortReport, AgentError>;

    fn handle(&mut self, _msg: GetCohorts, _ctx: &mut SyncContext<Self>) -> Self::Result {
        Ok(self.snapshot()?.cohorts.clone())
    }
}

impl Handler<GetSummary> for Analyst {
    type Result = Result<AnalysisSummary, AgentError>;

    fn handle(&mut self, _msg: GetSummary, _ctx: &mut SyncContext<Self>) -> Self::Result {
        let snapshot = self.snapshot()?;
        Ok(AnalysisSummary {
            as_of: snapshot.profiles.as_of,
            customers: snapshot.profiles.profiles.len(),
            events: snapshot.index.event_count(),
            order_lines: snapshot.index.order_line_count(),
            segments: snapshot.profiles.segments.clone(),
            models: snapshot.profiles.models.clone(),
        })
    }
}

impl Handler<GetState> for Analyst {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut SyncContext<Self>) -> Self::Result {
        actix::MessageResult(self.state.clone())
    }
}
