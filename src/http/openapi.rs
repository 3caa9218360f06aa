//! `GET /api/v1/openapi.json`: the OpenAPI 3 description of every route, kept in
//! `openapi.json` beside this file (a unit test checks it lists exactly the registered routes).

use actix_web::HttpResponse;

const DOCUMENT: &str = include_str!("openapi.json");

/// The document, with this build's version.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.replace("\"VERSION\"", &format!("\"{}\"", env!("CARGO_PKG_VERSION"))))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(method, path)` of every `.route(...)` in `mod.rs`, with `{param}` placeholders.
    fn registered() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let mut routes = BTreeSet::new();
        let mut scope = String::new();
        for line in source.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("web::scope(\"") {
                scope = rest.split('"').next().unwrap().to_string();
            }
            if let Some(rest) = line.strip_prefix(".route(\"") {
                let path = rest.split('"').next().unwrap();
                let method = rest.split("web::").nth(1).unwrap().split('(').next().unwrap();
                routes.insert((method.to_string(), format!("{scope}{path}")));
                // The scope's last route closes it: `...)),`.
                if line.ends_with(")),") {
                    scope.clear();
                }
            }
        }
        routes
    }

    #[test]
    fn the_document_lists_exactly_the_registered_routes() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut documented = BTreeSet::new();
        for (path, methods) in document["paths"].as_object().unwrap() {
            for method in methods.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let registered = registered();
        assert!(registered.len() >= 14, "{registered:?}");
        assert_eq!(documented, registered);
    }
}
