//! The HTTP layer of `agora serve`: JSON API under `/api/v1`, Prometheus `/metrics` and the
//! admin console under `/console`.
//! Handlers translate HTTP to messages for the pipeline; no engine logic lives here.

mod analytics;
mod error;
pub(crate) mod forecast;
mod health;
mod identity;
mod ingest;
mod metrics;
mod openapi;
mod qa;
pub(crate) mod recommend;
mod request;

use actix_web::web;

pub use error::ApiError;

use crate::app::Node;

/// Registers every route on an actix-web app; `main` and the tests share this.
pub fn configure(node: Node) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let max_body = node.config.server.max_body_bytes;
        crate::console::configure(&node, cfg);
        cfg.app_data(web::Data::new(node))
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::QueryConfig::default().error_handler(|err, _| ApiError::BadRequest(format!("bad query: {err}")).into()))
            .service(
                web::scope("/api/v1")
                    .route("/health", web::get().to(health::health))
                    .route("/pipeline", web::get().to(health::pipeline))
                    .route("/quality", web::get().to(health::quality))
                    .route("/ingest/{source}", web::post().to(ingest::push))
                    .route("/users/{id}/profile", web::get().to(analytics::profile))
                    .route("/identity/users/{id}", web::get().to(identity::user))
                    .route("/identity/sessions/{session}", web::put().to(identity::set_session))
                    .route("/analytics/funnel", web::get().to(analytics::funnel))
                    .route("/analytics/cohorts", web::get().to(analytics::cohorts))
                    .route("/analytics/summary", web::get().to(analytics::summary))
                    .route("/users/{id}/recommendations", web::get().to(recommend::recommendations))
                    .route("/items/{id}/similar", web::get().to(recommend::similar))
                    .route("/models/recommender", web::get().to(recommend::model_info))
                    .route("/forecasts", web::get().to(forecast::forecast))
                    .route("/qa", web::post().to(qa::ask))
                    .route("/openapi.json", web::get().to(openapi::document)),
            )
            .route("/metrics", web::get().to(metrics::metrics))
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such route".to_string())) }));
    }
}
