//! One module per console page: each renders from the node's engine handles and, where the page
//! has one, handles its action.

pub mod forecasts;
pub mod matches;
pub mod models;
pub mod overview;
pub mod playground;
pub mod plugins;
pub mod quality;
pub mod recommendations;
pub mod settings;
pub mod sources;

use serde::Deserialize;

/// The `?flash=` message an action leaves for the page it redirects to.
#[derive(Deserialize)]
pub struct Flash {
    pub flash: Option<String>,
}

/// An error from the engine shown inside a page.
pub fn error_box(message: &str) -> String {
    format!(r#"<p class="flash error" role="alert">{}</p>"#, super::layout::esc(message))
}
