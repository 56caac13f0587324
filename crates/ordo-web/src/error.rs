//! Failures as pages: business refusals explained, internal faults logged but never shown.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ordo_domain::Problem;
use ordo_store::StoreError;

#[derive(Debug)]
pub(crate) enum WebError {
    Problem(Problem),
    Forbidden(String),
    NotFound(String),
    Csrf,
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Problem(p) => WebError::Problem(p),
            StoreError::Internal(m) => WebError::Internal(m),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

pub(crate) type WebResult<T = Response> = Result<T, WebError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: String,
    details: Vec<String>,
}

/// One line per problem, in words an operator can act on.
pub(crate) fn describe(p: &Problem) -> (String, Vec<String>) {
    match p {
        Problem::Invalid(errors) => (
            "Some values were not accepted.".into(),
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
        ),
        Problem::NotFound(what) => (format!("{what} was not found."), vec![]),
        Problem::Conflict { message, .. } => (sentence(message), vec![]),
    }
}

/// Capitalised, with a full stop.
pub(crate) fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, message, details) = match self {
            WebError::Problem(p) => {
                let status = match p {
                    Problem::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    Problem::NotFound(_) => StatusCode::NOT_FOUND,
                    Problem::Conflict { .. } => StatusCode::CONFLICT,
                };
                let heading = match p {
                    Problem::Invalid(_) => "Not accepted",
                    Problem::NotFound(_) => "Not found",
                    Problem::Conflict { .. } => "Not possible right now",
                };
                let (m, d) = describe(&p);
                (status, heading, m, d)
            }
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m, vec![]),
            WebError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("{what} was not found."),
                vec![],
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form could not be verified: it may be from an old page or another site. \
                 Reload the page and try again."
                    .into(),
                vec![],
            ),
            WebError::Internal(m) => {
                tracing::error!(error = %m, "web page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete this request. It has been logged; \
                     please try again in a moment."
                        .into(),
                    vec![],
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            message,
            details,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, heading.to_string()).into_response(),
        }
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    ctx: crate::view::PageCtx,
    path: String,
}

/// Any path no page answers: a page with the navigation for a signed-in user, a plain one
/// otherwise. Paths of the API keep the API's own answer.
pub(crate) async fn not_found(
    axum::extract::State(s): axum::extract::State<crate::WebState>,
    req: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/api" || path.starts_with("/api/") {
        return ordo_http::error::ApiError::not_found("route").into_response();
    }
    let Ok(auth) = crate::session::Auth::from_request_parts(&mut parts, &s).await else {
        return WebError::NotFound("This page".into()).into_response();
    };
    let p = NotFoundPage {
        ctx: crate::view::PageCtx::new(&auth, ""),
        path: path.chars().take(200).collect(),
    };
    match crate::view::page(&p.ctx, &p) {
        Ok(mut r) => {
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Err(e) => e.into_response(),
    }
}
