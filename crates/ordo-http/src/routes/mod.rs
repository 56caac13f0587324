pub mod access;
pub mod catalog;
pub mod claims;
pub mod connectors;
pub mod events;
pub mod fulfillment;
pub mod inventory;
pub mod orders;
pub mod packing;
pub mod picking;
pub mod reports;
pub mod returns;
pub mod routing;
pub mod shipments;
pub mod system;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo_store::{Created, Outcome};
use serde::Serialize;

pub fn created<T: Serialize>(c: Created<T>) -> Response {
    let status = if c.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(c.value)).into_response()
}

/// A write's answer; a replayed idempotent request gets the first answer byte for byte.
pub fn outcome<T>(o: Outcome<T>, fresh: impl FnOnce(T) -> Response) -> Response {
    match o {
        Outcome::Done(v) => fresh(v),
        Outcome::Replayed { status, body } => {
            let mut r =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            r
        }
    }
}
