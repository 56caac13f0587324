//! `/events/stream`: server-sent events for the dashboard. The outbox is polled; each new
//! `order.created` becomes a ready-rendered table row, so the browser only inserts it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use ordo_store::{OrderFilter, PageRequest, Permission, Store};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::WebState;
use crate::dashboard::{OrderRow, OrderRowFragment};
use crate::error::WebResult;
use crate::session::Auth;

const POLL: Duration = Duration::from_millis(500);
const BATCH: i64 = 200;
/// Browsers reconnect by themselves (resuming from the last id), so a stream can end any
/// time; ending regularly bounds how long a revoked session keeps receiving.
const SESSION_RECHECK: Duration = Duration::from_secs(60);
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

#[derive(Deserialize)]
pub(crate) struct StreamQuery {
    after: Option<i64>,
}

struct Live {
    store: Arc<dyn Store>,
    after: i64,
    token_hash: String,
    shutdown: watch::Receiver<bool>,
    started: Instant,
    checked: Instant,
    ready: VecDeque<SseEvent>,
}

impl Live {
    /// The next event to send, or `None` when the stream should end.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            if *self.shutdown.borrow() || self.started.elapsed() > MAX_LIFETIME {
                return None;
            }
            if self.checked.elapsed() > SESSION_RECHECK {
                self.checked = Instant::now();
                match self
                    .store
                    .find_session(&self.token_hash, OffsetDateTime::now_utc())
                    .await
                {
                    Ok(Some(_)) => {}
                    _ => return None,
                }
            }
            tokio::time::sleep(POLL).await;
            let events = self.store.list_events(self.after, BATCH).await.ok()?;
            for e in events {
                self.after = e.seq;
                if e.kind != "order.created" {
                    continue;
                }
                let Some(number) = e.data.get("number").and_then(|n| n.as_str()) else {
                    continue;
                };
                let filter = OrderFilter {
                    q: Some(number.to_string()),
                    ..Default::default()
                };
                let page = PageRequest {
                    limit: Some(1),
                    cursor: None,
                };
                let Ok(found) = self.store.list_orders(&filter, &page).await else {
                    continue;
                };
                let Some(summary) = found.items.first() else {
                    continue;
                };
                let fragment = OrderRowFragment {
                    o: OrderRow::from_summary(summary),
                };
                if let Ok(html) = fragment.render() {
                    self.ready.push_back(
                        SseEvent::default()
                            .event("order")
                            .id(e.seq.to_string())
                            .data(html),
                    );
                }
            }
        }
    }
}

pub(crate) async fn stream(
    State(s): State<WebState>,
    auth: Auth,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> WebResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    auth.require(Permission::Read)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = match resume.or(q.after) {
        Some(a) => a.max(0),
        None => s.store.last_event_seq().await?,
    };
    let live = Live {
        store: s.store.clone(),
        after,
        token_hash: auth.token_hash,
        shutdown: s.shutdown.clone(),
        started: Instant::now(),
        checked: Instant::now(),
        ready: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|e| (Ok(e), live))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
