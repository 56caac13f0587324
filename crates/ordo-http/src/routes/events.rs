//! The event feed (transactional outbox).

use axum::Json;
use axum::extract::{Query, State};
use ordo_store::{Event, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::Caller;

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventParams {
    /// Return events with a sequence number greater than this (default 0).
    pub after: Option<i64>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Pass as `after` to continue; equal to `after` when there is nothing new.
    pub last_seq: i64,
}

/// Events in commit order. Poll with `after` = the last `seq` you processed.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventPage)), security(("api_key" = [])))]
pub async fn list_events(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<EventParams>,
) -> ApiResult<Json<EventPage>> {
    caller.require(Permission::Read)?;
    let after = p.after.unwrap_or(0);
    let items = s
        .store
        .list_events(after, p.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let last_seq = items.last().map_or(after, |e| e.seq);
    s.consumed_seq
        .fetch_max(last_seq, std::sync::atomic::Ordering::Relaxed);
    Ok(Json(EventPage { items, last_seq }))
}
