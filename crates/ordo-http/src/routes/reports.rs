//! Reports computed from the records: returns (rates by SKU, category, channel and reason,
//! restock rate, days from delivery to receipt).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use ordo_domain::order::Order;
use ordo_domain::return_report::{ReturnFacts, ReturnsReport, ShippedUnits, returns_report};
use ordo_domain::returns::Grade;
use ordo_domain::shipment::ShipmentStatus;
use ordo_store::{Event, PageRequest, Permission, ReturnFilter, ShipmentFilter, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::Caller;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodParams {
    /// RFC 3339 or a date (`2026-11-01`); default 30 days before `to`.
    pub from: Option<String>,
    /// RFC 3339 or a date, exclusive; default now.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnsReportView {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: OffsetDateTime,
    #[serde(flatten)]
    pub report: ReturnsReport,
}

fn instant(field: &str, text: &str) -> ApiResult<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| ApiError::field(field, "must be RFC 3339 or a date such as 2026-11-01"))
}

struct Orders<'a> {
    store: &'a dyn Store,
    orders: HashMap<String, Option<Order>>,
    events: HashMap<String, Vec<Event>>,
}

impl Orders<'_> {
    async fn order(&mut self, number: &str) -> ApiResult<Option<&Order>> {
        if !self.orders.contains_key(number) {
            let o = self.store.get_order(number).await?;
            self.orders.insert(number.to_string(), o);
        }
        Ok(self.orders[number].as_ref())
    }

    async fn events(&mut self, number: &str) -> ApiResult<&[Event]> {
        if !self.events.contains_key(number) {
            let e = self.store.order_events(number).await?.unwrap_or_default();
            self.events.insert(number.to_string(), e);
        }
        Ok(&self.events[number])
    }
}

/// Returns in a period: return rate (units returned / units shipped in the period) by SKU,
/// category and channel, units by reason, restock rate, and mean days from delivery to the
/// return's receipt.
#[utoipa::path(get, path = "/api/v1/reports/returns", tag = "reports", params(PeriodParams),
    responses((status = 200, body = ReturnsReportView), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn returns(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Json<ReturnsReportView>> {
    caller.require(Permission::Read)?;
    let to = match &p.to {
        Some(t) => instant("to", t)?,
        None => OffsetDateTime::now_utc(),
    };
    let from = match &p.from {
        Some(f) => instant("from", f)?,
        None => to - time::Duration::days(30),
    };
    if from >= to {
        return Err(ApiError::field("from", "must be before to"));
    }
    let store = s.store.as_ref();
    let mut orders = Orders {
        store,
        orders: HashMap::new(),
        events: HashMap::new(),
    };
    // Newest first: stop at the first one older than the period.
    let mut shipped = Vec::new();
    let mut cursor = None;
    'shipments: loop {
        let page = store
            .list_shipments(
                &ShipmentFilter::default(),
                &PageRequest {
                    limit: Some(500),
                    cursor,
                },
            )
            .await?;
        for sh in &page.items {
            if sh.created_at < from {
                break 'shipments;
            }
            if sh.created_at >= to || sh.status == ShipmentStatus::Voided {
                continue;
            }
            let Some(order) = orders.order(&sh.order).await? else {
                continue;
            };
            let channel = order.channel.clone();
            shipped.extend(sh.lines.iter().map(|l| ShippedUnits {
                sku: l.sku.clone(),
                channel: channel.clone(),
                quantity: l.quantity,
            }));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut facts = Vec::new();
    let mut cursor = None;
    'returns: loop {
        let page = store
            .list_returns(
                &ReturnFilter::default(),
                &PageRequest {
                    limit: Some(500),
                    cursor,
                },
            )
            .await?;
        for r in &page.items {
            if r.created_at < from {
                break 'returns;
            }
            if r.created_at >= to {
                continue;
            }
            let Some(order) = orders.order(&r.order).await? else {
                continue;
            };
            let channel = order.channel.clone();
            let events = orders.events(&r.order).await?;
            let delivered_at = events
                .iter()
                .find(|e| e.kind == "shipment.delivered")
                .map(|e| e.at);
            let received_at = events
                .iter()
                .find(|e| {
                    e.kind == "return.received" && e.data["return"] == serde_json::json!(r.id)
                })
                .map(|e| e.at);
            facts.push(ReturnFacts {
                channel,
                lines: r
                    .lines
                    .iter()
                    .map(|l| (l.sku.clone(), l.quantity, l.reason))
                    .collect(),
                received: r
                    .received
                    .iter()
                    .map(|l| (l.sku.clone(), l.quantity, l.condition))
                    .collect(),
                restocked_after_grading: r
                    .graded
                    .iter()
                    .filter(|g| g.grade == Grade::Restock)
                    .map(|g| g.quantity)
                    .sum(),
                delivered_at,
                received_at,
            });
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut categories: HashMap<String, Option<String>> = HashMap::new();
    let skus: std::collections::BTreeSet<String> = shipped
        .iter()
        .map(|x| x.sku.clone())
        .chain(
            facts
                .iter()
                .flat_map(|f| f.lines.iter().map(|l| l.0.clone())),
        )
        .collect();
    for sku in skus {
        let category = store.get_product(&sku).await?.and_then(|p| p.category);
        categories.insert(sku, category);
    }
    let report = returns_report(&shipped, &facts, |sku| {
        categories.get(sku).cloned().flatten()
    });
    Ok(Json(ReturnsReportView { from, to, report }))
}
