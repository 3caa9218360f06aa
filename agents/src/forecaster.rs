//! The Forecast agent: keeps the sales forecasts in service. At start it serves the stored set;
//! every `forecast.refresh_every_s`, and `forecast.refresh_after_sales_s` after the Clean agents
//! report new sales, it rebuilds the sales series from the store and, when their data version
//! changed, forecasts them again on a worker thread, stores the new set in sled and swaps it in.
//! HTTP reads forecasts through a [`ForecasterHandle`], never the mailbox.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture};
use agora_core::config::ForecastConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::{decode, encode, Store};
use agora_sales::ensemble::Member;
use agora_sales::forecasts::forecast_all;
use agora_sales::{ForecastSet, SalesData};

use crate::error::AgentError;
use crate::state::{AgentStatus, GetState};
use crate::worker::{run_blocking, SharedState};

/// Name of the Forecast agent.
pub const FORECASTER_NAME: &str = "forecast";
/// The store key of the forecast set.
pub const FORECASTS_MODEL: &str = "forecasts";

/// How long to wait before looking again when there were no sales yet.
const NO_DATA_RETRY: Duration = Duration::from_secs(5);

/// Re-forecasts now, even if the data did not change (unless a refresh is already running).
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct RefreshForecasts;

/// A Clean agent committed order lines or purchase events.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct NewSales;

/// What the HTTP layer reads: the forecast set in service. Cheap to clone.
#[derive(Clone, Default)]
pub struct ForecasterHandle(Arc<RwLock<Option<Arc<ForecastSet>>>>);

impl ForecasterHandle {
    /// The forecasts in service, if any were made or loaded.
    pub fn current(&self) -> Option<Arc<ForecastSet>> {
        self.0.read().expect("forecast lock poisoned").clone()
    }

    fn swap(&self, set: Arc<ForecastSet>) {
        *self.0.write().expect("forecast lock poisoned") = Some(set);
    }
}

/// Reads the sales from `store` and forecasts them, unless `current` already has their data
/// version (then `None`); stores a new set before returning it.
///
/// # Errors
/// No sales yet ([`AgentError::is_waiting_for_data`]), a plugin, fit or store failure.
pub fn refresh(
    store: &dyn Store,
    host: &PluginHost,
    config: &ForecastConfig,
    current: Option<&ForecastSet>,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Option<ForecastSet>, AgentError> {
    let data = SalesData::from_store(store, config)?;
    if current.is_some_and(|set| set.data_version == data.stats.data_version) {
        return Ok(None);
    }
    let plugins = config.members().into_iter().map(|(plugin, _)| host.model(plugin)).collect::<Result<Vec<_>, _>>()?;
    let members: Vec<Member<'_>> = plugins
        .iter()
        .zip(config.members())
        .enumerate()
        .map(|(index, (plugin, (_, task)))| Member {
            plugin,
            task: task.to_string(),
            // `forecast.params` are the configured task's; ensemble members fit with their defaults.
            params: if index == 0 { config.params.to_string() } else { "{}".into() },
        })
        .collect();
    let set = forecast_all(&members, config, &data, progress)?;
    store.save_model(FORECASTS_MODEL, &encode(&set)?)?;
    tracing::info!(data = %set.data_version, series = set.forecasts.len(), "forecasts refreshed");
    Ok(Some(set))
}

/// The stored forecast set, if any.
///
/// # Errors
/// A store error, or a stored set this build cannot read.
pub fn load_stored(store: &dyn Store) -> Result<Option<ForecastSet>, AgentError> {
    let Some(bytes) = store.load_model(FORECASTS_MODEL)? else { return Ok(None) };
    Ok(Some(decode(&bytes)?))
}

/// The Forecast agent.
pub struct Forecaster {
    store: Arc<dyn Store>,
    host: Arc<PluginHost>,
    config: ForecastConfig,
    handle: ForecasterHandle,
    state: SharedState,
    refreshing: bool,
    /// A refresh for new sales is scheduled.
    sales_refresh_due: bool,
}

impl Forecaster {
    pub fn new(store: Arc<dyn Store>, host: Arc<PluginHost>, config: ForecastConfig) -> Self {
        Self {
            store,
            host,
            config,
            handle: ForecasterHandle::default(),
            state: SharedState::new(FORECASTER_NAME, "forecast"),
            refreshing: false,
            sales_refresh_due: false,
        }
    }

    /// The handle the HTTP layer serves from.
    pub fn handle(&self) -> ForecasterHandle {
        self.handle.clone()
    }

    /// The refresh `NewSales` scheduled; while another refresh runs (it may have read the store
    /// before these sales), it waits for that one to finish.
    fn refresh_for_sales(&mut self, ctx: &mut Context<Self>) {
        if self.refreshing {
            ctx.run_later(Duration::from_secs(1), |forecaster, ctx| forecaster.refresh_for_sales(ctx));
            return;
        }
        self.sales_refresh_due = false;
        self.refresh(false, ctx);
    }

    fn refresh(&mut self, force: bool, ctx: &mut Context<Self>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        let (store, host, config, state) = (self.store.clone(), self.host.clone(), self.config.clone(), self.state.clone());
        let current = if force { None } else { self.handle.current() };
        let job = run_blocking(self.state.clone(), move || {
            let mut progress = |stage: &str, done: u64, total: u64| {
                state.update(|state| state.progress = Some((done, total)));
                tracing::debug!(stage, done, total, "forecasting");
            };
            refresh(store.as_ref(), &host, &config, current.as_deref(), &mut progress)
        });
        ctx.spawn(job.into_actor(self).map(|result, forecaster, ctx| {
            forecaster.refreshing = false;
            match result {
                Ok(Some(set)) => {
                    forecaster.handle.swap(Arc::new(set));
                    forecaster.state.update(|state| state.processed += 1);
                }
                Ok(None) => {}
                Err(err) if err.is_waiting_for_data() && forecaster.handle.current().is_none() => {
                    tracing::info!(reason = %err, "no sales to forecast yet; looking again shortly");
                    ctx.run_later(NO_DATA_RETRY, |forecaster, ctx| forecaster.refresh(false, ctx));
                }
                Err(err) => tracing::error!(error = %err, "forecast refresh failed; the previous forecasts keep serving"),
            }
        }));
    }
}

impl Actor for Forecaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match load_stored(self.store.as_ref()) {
            Ok(Some(set)) => {
                tracing::info!(data = %set.data_version, "serving the stored forecasts");
                self.handle.swap(Arc::new(set));
                self.state.update(|state| state.status = AgentStatus::Idle);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "the stored forecasts could not be read; forecasting again"),
        }
        // A refresh at start is a no-op when the stored set matches the store's sales.
        self.refresh(false, ctx);
        if self.config.refresh_every_s > 0 {
            ctx.run_interval(Duration::from_secs(self.config.refresh_every_s), |forecaster, ctx| forecaster.refresh(false, ctx));
        }
    }
}

impl Handler<NewSales> for Forecaster {
    type Result = ();

    fn handle(&mut self, _msg: NewSales, ctx: &mut Context<Self>) {
        if self.config.refresh_after_sales_s > 0 && !self.sales_refresh_due {
            self.sales_refresh_due = true;
            ctx.run_later(Duration::from_secs(self.config.refresh_after_sales_s), |forecaster, ctx| forecaster.refresh_for_sales(ctx));
        }
    }
}

impl Handler<RefreshForecasts> for Forecaster {
    type Result = ResponseActFuture<Self, Result<(), AgentError>>;

    fn handle(&mut self, _msg: RefreshForecasts, ctx: &mut Context<Self>) -> Self::Result {
        let already = self.refreshing;
        self.refresh(true, ctx);
        Box::pin(
            async move {
                if already {
                    Err(AgentError::NotReady("a forecast refresh is already running".into()))
                } else {
                    Ok(())
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<GetState> for Forecaster {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.state.get())
    }
}
