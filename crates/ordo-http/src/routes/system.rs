//! Health, metrics, and the API's own documentation.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub database: &'static str,
}

/// Liveness and readiness: 200 when the database answers.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(s): State<AppState>) -> Response {
    let ok = s.store.count_api_keys().await.is_ok();
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        database: s.store.backend(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

pub async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = DOCUMENT.get_or_init(|| crate::ApiDoc::openapi().to_json().unwrap_or_default());
    let mut r = json.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

pub async fn swagger_js() -> Response {
    asset(
        include_bytes!("../../assets/swagger-ui-bundle.js"),
        "application/javascript",
    )
}

pub async fn swagger_css() -> Response {
    asset(include_bytes!("../../assets/swagger-ui.css"), "text/css")
}
