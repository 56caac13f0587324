//! Request extractors: JSON bodies with field-precise errors, and API-key authentication.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use ordo_store::{ApiKey, Permission, WriteContext};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body. Unparseable JSON is 400; a well-formed body with a wrong type is 422 naming
/// the field; a body over the limit is 413.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Payload too large",
                    "the body exceeds 1 MiB",
                )
            } else {
                ApiError::bad_request(e.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs on every value: only pay for it to explain a failure.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || path == "." {
                Err(ApiError::bad_request(format!(
                    "the body is not valid JSON: {inner}"
                )))
            } else {
                let message = inner.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                Err(ApiError::field(&path, message))
            }
        }
    }
}

/// The authenticated caller.
#[derive(Clone)]
pub struct Caller {
    pub key: ApiKey,
    pub idempotency_key: Option<String>,
}

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.key.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the role '{}' may not do this",
                self.key.role.as_str()
            )))
        }
    }
    pub fn context(&self) -> WriteContext {
        WriteContext {
            actor: format!("key:{}", self.key.name),
            idempotency_key: self
                .idempotency_key
                .as_ref()
                .map(|k| format!("{}:{k}", self.key.id)),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("send an API key as 'Authorization: Bearer <key>'")
            })?;
        let key = state
            .auth
            .lookup(state.store.as_ref(), token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        let idempotency_key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?;
                if v.is_empty() || v.len() > 255 {
                    return Err(ApiError::field(
                        "Idempotency-Key",
                        "must be 1 to 255 characters",
                    ));
                }
                Some(v.to_string())
            }
        };
        Ok(Caller {
            key,
            idempotency_key,
        })
    }
}
