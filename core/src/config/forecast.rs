//! `[forecast]`: which sales series the Forecaster builds, which model forecasts them, how far
//! ahead and how often.

use serde::{Deserialize, Serialize};

/// The sales forecasting pipeline (the Forecaster agent and `GET /api/v1/forecasts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Forecast under `agora serve`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The model plugin that forecasts.
    #[serde(default = "default_plugin")]
    pub plugin: String,
    /// Its `forecast.*` task; `forecast.auto` chooses an ensemble on held-out weeks/days.
    #[serde(default = "default_task")]
    pub task: String,
    /// Parameters passed to the task's `fit`.
    #[serde(default = "default_params")]
    pub params: serde_json::Value,
    /// More models to combine with it, as `"plugin:task"` (e.g. `"torch:forecast.nbeats"`): the
    /// mean of the combination of all of them that does best on held-out values serves.
    #[serde(default)]
    pub ensemble: Vec<String>,
    /// Days ahead forecast for daily series.
    #[serde(default = "default_daily_horizon")]
    pub daily_horizon: usize,
    /// Weeks ahead forecast for weekly series.
    #[serde(default = "default_weekly_horizon")]
    pub weekly_horizon: usize,
    /// Under `agora serve`, look for new sales this often, seconds, and forecast again when the
    /// sales changed; 0 looks only at start.
    #[serde(default = "default_refresh_every")]
    pub refresh_every_s: u64,
    /// After the Clean agents commit new sales, forecast again this many seconds later (batches
    /// arriving meanwhile join the same refresh); 0 leaves it to the `refresh_every_s` schedule.
    #[serde(default = "default_refresh_after_sales")]
    pub refresh_after_sales_s: u64,
    /// Order statuses whose lines are not sales (compared case-insensitively).
    #[serde(default = "default_excluded_statuses")]
    pub excluded_statuses: Vec<String>,
    /// Leave out order lines the cleaner flagged as outliers (a quantity of 500 among ones and
    /// twos is usually a typo); turn off where large orders are genuine and frequent.
    #[serde(default = "default_true")]
    pub exclude_outliers: bool,
    /// Also count purchase events as sales of one unit at the item's catalogue price (for shops
    /// whose purchases arrive as events rather than orders; leave off when both feeds carry them).
    #[serde(default)]
    pub purchase_events: bool,
    /// Items with fewer periods than this since their first sale get their category's forecast
    /// shared among the category's selling items instead of a model of their own.
    #[serde(default = "default_min_history")]
    pub min_item_history: usize,
}

fn default_true() -> bool {
    true
}
fn default_plugin() -> String {
    "classic".into()
}
fn default_task() -> String {
    "forecast.auto".into()
}
fn default_params() -> serde_json::Value {
    serde_json::json!({})
}
fn default_daily_horizon() -> usize {
    28
}
fn default_weekly_horizon() -> usize {
    13
}
fn default_refresh_every() -> u64 {
    300
}
fn default_refresh_after_sales() -> u64 {
    30
}
fn default_excluded_statuses() -> Vec<String> {
    ["cancelled", "canceled", "refunded", "returned", "failed"].map(String::from).to_vec()
}
fn default_min_history() -> usize {
    8
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            plugin: default_plugin(),
            task: default_task(),
            params: default_params(),
            ensemble: Vec::new(),
            daily_horizon: default_daily_horizon(),
            weekly_horizon: default_weekly_horizon(),
            refresh_every_s: default_refresh_every(),
            refresh_after_sales_s: default_refresh_after_sales(),
            excluded_statuses: default_excluded_statuses(),
            exclude_outliers: true,
            purchase_events: false,
            min_item_history: default_min_history(),
        }
    }
}

impl ForecastConfig {
    /// Every model to forecast with, as `(plugin, task)`: the configured one, then the ensemble's.
    pub fn members(&self) -> Vec<(&str, &str)> {
        std::iter::once((self.plugin.as_str(), self.task.as_str()))
            .chain(self.ensemble.iter().filter_map(|member| member.split_once(':')))
            .collect()
    }

    /// Adds a message per invalid key to `problems`.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if !self.task.starts_with("forecast.") {
            problems.push(format!("forecast.task: {:?} is not a forecasting task (they start with \"forecast.\")", self.task));
        }
        for member in &self.ensemble {
            if !member.split_once(':').is_some_and(|(plugin, task)| !plugin.is_empty() && task.starts_with("forecast.")) {
                problems.push(format!("forecast.ensemble: {member:?} is not \"plugin:forecast.task\" (e.g. \"torch:forecast.nbeats\")"));
            }
        }
        if !self.params.is_object() {
            problems.push("forecast.params: must be a table of parameters".into());
        }
        if !(1..=366).contains(&self.daily_horizon) {
            problems.push(format!("forecast.daily_horizon: must be 1 to 366 days, got {}", self.daily_horizon));
        }
        if !(1..=104).contains(&self.weekly_horizon) {
            problems.push(format!("forecast.weekly_horizon: must be 1 to 104 weeks, got {}", self.weekly_horizon));
        }
        if self.min_item_history == 0 {
            problems.push("forecast.min_item_history: must be at least 1".into());
        }
    }
}
