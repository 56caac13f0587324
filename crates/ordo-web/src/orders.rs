//! Orders: the filtered list with bulk actions and CSV export, and the order page.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use ordo_domain::Problem;
use ordo_domain::catalog::{Address, LocationKind};
use ordo_domain::order::{HoldReason, Order, OrderStatus, Transition, transition};
use ordo_store::{
    Event, OrderChange, OrderFilter, OrderSort, OrderSummary, Outcome, PageRequest, Permission,
    PickJobInput, StoreError,
};
use ordo_warehouse::picking::PickFilters;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::{FormData, query};
use crate::fulfillment::{FoFeedback, FulfillmentSection};
use crate::session::{Auth, Posted};
use crate::shipments::ShipmentsSection;
use crate::view::{PageCtx, fmt_time, group, humanize, page};

const PAGE_SIZE: i64 = 50;
const MAX_NOTE: usize = 500;

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    sku: Option<String>,
    placed_after: Option<String>,
    placed_before: Option<String>,
    q: Option<String>,
    location: Option<String>,
    tags: Option<String>,
    late: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    fn from_form(f: &FormData) -> Self {
        ListQuery {
            status: f.get("status"),
            channel: f.get("channel"),
            sku: f.get("sku"),
            placed_after: f.get("placed_after"),
            placed_before: f.get("placed_before"),
            q: f.get("q"),
            location: f.get("location"),
            tags: f.get("tags"),
            late: f.get("late"),
            sort: f.get("sort"),
            cursor: f.get("cursor"),
        }
    }

    fn text(v: &Option<String>) -> &str {
        v.as_deref().map(str::trim).unwrap_or("")
    }

    /// Only late orders: a checkbox sends `on`, links and the API say `true`.
    fn late(&self) -> bool {
        matches!(Self::text(&self.late), "true" | "on")
    }

    /// The filter part of the query string (no cursor).
    fn filter_query(&self) -> String {
        query([
            ("status", Self::text(&self.status)),
            ("channel", Self::text(&self.channel)),
            ("sku", Self::text(&self.sku)),
            ("placed_after", Self::text(&self.placed_after)),
            ("placed_before", Self::text(&self.placed_before)),
            ("q", Self::text(&self.q)),
            ("location", Self::text(&self.location)),
            ("tags", Self::text(&self.tags)),
            ("late", if self.late() { "true" } else { "" }),
            ("sort", Self::text(&self.sort)),
        ])
    }

    /// The filter with another sort, from the first page: what a column heading links to.
    fn sorted_by(&self, sort: OrderSort) -> String {
        let q = ListQuery {
            sort: (sort != OrderSort::Number).then(|| sort.as_str().to_string()),
            cursor: None,
            ..self.clone()
        };
        match q.filter_query() {
            qs if qs.is_empty() => "/orders".into(),
            qs => format!("/orders?{qs}"),
        }
    }

    fn with_cursor(&self, cursor: &str) -> String {
        let base = self.filter_query();
        let c = query([("cursor", cursor)]);
        match (base.is_empty(), c.is_empty()) {
            (true, _) => c,
            (false, true) => base,
            (false, false) => format!("{base}&{c}"),
        }
    }

    /// Checks the filter the way the API does; every bad field is reported.
    fn filter(&self) -> Result<OrderFilter, Vec<String>> {
        let mut errors = Vec::new();
        let status = match Self::text(&self.status) {
            "" => None,
            s => OrderStatus::parse(s).or_else(|| {
                errors.push("Status: choose one of the listed statuses.".to_string());
                None
            }),
        };
        let mut time = |label: &str, v: &Option<String>| match parse_day_or_time(Self::text(v)) {
            Ok(t) => t,
            Err(()) => {
                errors.push(format!(
                    "{label}: enter a date such as 2026-11-26 (or an RFC 3339 time)."
                ));
                None
            }
        };
        let placed_after = time("Placed on or after", &self.placed_after);
        let placed_before = time("Placed before", &self.placed_before);
        let sort = match Self::text(&self.sort) {
            "" => OrderSort::Number,
            v => OrderSort::parse(v).unwrap_or_else(|| {
                errors.push("Sort: choose one of the listed orders.".to_string());
                OrderSort::Number
            }),
        };
        let opt = |v: &Option<String>| Some(Self::text(v).to_string()).filter(|s| !s.is_empty());
        if errors.is_empty() {
            Ok(OrderFilter {
                status,
                channel: opt(&self.channel),
                sku: opt(&self.sku),
                placed_after,
                placed_before,
                q: opt(&self.q),
                location: opt(&self.location),
                tags: tag_list(Self::text(&self.tags)),
                late_on: self.late().then(|| OffsetDateTime::now_utc().date()),
                sort,
            })
        } else {
            Err(errors)
        }
    }
}

/// Tags typed as a comma-separated list.
fn tag_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn sort_label(s: OrderSort) -> &'static str {
    match s {
        OrderSort::Number => "Newest captured first",
        OrderSort::PlacedDesc => "Placed: newest first",
        OrderSort::PlacedAsc => "Placed: oldest first",
        OrderSort::TotalDesc => "Total: largest first",
        OrderSort::TotalAsc => "Total: smallest first",
    }
}

/// A sortable column heading: where a click goes and what `aria-sort` says now.
pub(crate) struct SortHead {
    pub href: String,
    /// `ascending`, `descending` or `none`.
    pub aria: &'static str,
    pub arrow: &'static str,
}

fn sort_head(q: &ListQuery, current: OrderSort, desc: OrderSort, asc: OrderSort) -> SortHead {
    // The first click sorts descending; a click on the sorted column turns it around.
    let (next, aria, arrow) = if current == desc {
        (asc, "descending", " ↓")
    } else if current == asc {
        (desc, "ascending", " ↑")
    } else {
        (desc, "none", "")
    };
    SortHead {
        href: q.sorted_by(next),
        aria,
        arrow,
    }
}

/// A date from `<input type=date>` means midnight UTC of that day.
pub(crate) fn parse_day_or_time(v: &str) -> Result<Option<OffsetDateTime>, ()> {
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(Some(d.with_time(Time::MIDNIGHT).assume_utc()));
    }
    OffsetDateTime::parse(v, &Rfc3339).map(Some).map_err(|_| ())
}

pub(crate) struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn options<'a>(values: impl IntoIterator<Item = &'a str>, current: &str) -> Vec<Opt> {
    values
        .into_iter()
        .map(|v| Opt {
            value: v.to_string(),
            label: humanize(v),
            selected: v == current,
        })
        .collect()
}

pub(crate) fn hold_reason_options() -> Vec<Opt> {
    options(HoldReason::ALL.iter().map(|r| r.as_str()), "manual")
}

struct ListRow {
    number: String,
    placed: String,
    channel: String,
    external_id: String,
    email: String,
    status: &'static str,
    status_label: String,
    units: i64,
    total: String,
}

impl ListRow {
    fn new(o: &OrderSummary) -> Self {
        ListRow {
            number: o.number.clone(),
            placed: fmt_time(o.placed_at),
            channel: o.channel.clone(),
            external_id: o.external_id.clone(),
            email: o.email.clone(),
            status: o.status.as_str(),
            status_label: humanize(o.status.as_str()),
            units: o.units,
            total: format!("{} {}", group(&o.total), o.currency),
        }
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    ctx: PageCtx,
    statuses: Vec<Opt>,
    channels: Vec<Opt>,
    sku: String,
    placed_after: String,
    placed_before: String,
    q: String,
    locations: Vec<Opt>,
    tags: String,
    late: bool,
    sorts: Vec<Opt>,
    sort_placed: SortHead,
    sort_total: SortHead,
    sort_caption: &'static str,
    errors: Vec<String>,
    rows: Vec<ListRow>,
    filtered: bool,
    paged: bool,
    next_href: Option<String>,
    first_href: String,
    export_href: String,
    back: String,
    can_manage: bool,
    can_pick: bool,
    pick_locations: Vec<Opt>,
    hold_reasons: Vec<Opt>,
}

pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let channels = s.store.list_channels().await?;
    let locations = s.store.list_locations().await?;
    let (rows, next, errors) = match q.filter() {
        Ok(filter) => {
            let page = s
                .store
                .list_orders(
                    &filter,
                    &PageRequest {
                        limit: Some(PAGE_SIZE),
                        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
                    },
                )
                .await;
            match page {
                Ok(p) => (p.items, p.next_cursor, vec![]),
                Err(StoreError::Problem(p)) => {
                    let (m, d) = crate::error::describe(&p);
                    (vec![], None, std::iter::once(m).chain(d).collect())
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(errors) => (vec![], None, errors),
    };
    let filter_query = q.filter_query();
    let with = |qs: String| {
        if qs.is_empty() {
            "/orders".to_string()
        } else {
            format!("/orders?{qs}")
        }
    };
    let current = ListQuery::text(&q.status);
    let channel = ListQuery::text(&q.channel);
    let sort = OrderSort::parse(ListQuery::text(&q.sort)).unwrap_or_default();
    let ctx = PageCtx::new(&auth, "orders");
    let p = OrdersPage {
        statuses: options(OrderStatus::ALL.iter().map(|s| s.as_str()), current),
        channels: channels
            .iter()
            .map(|c| Opt {
                value: c.code.clone(),
                label: format!("{} ({})", c.name, c.code),
                selected: c.code == channel,
            })
            .collect(),
        sku: ListQuery::text(&q.sku).to_string(),
        placed_after: ListQuery::text(&q.placed_after).to_string(),
        placed_before: ListQuery::text(&q.placed_before).to_string(),
        q: ListQuery::text(&q.q).to_string(),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == ListQuery::text(&q.location),
            })
            .collect(),
        tags: ListQuery::text(&q.tags).to_string(),
        late: q.late(),
        sorts: OrderSort::ALL
            .iter()
            .map(|o| Opt {
                value: if *o == OrderSort::Number {
                    String::new()
                } else {
                    o.as_str().to_string()
                },
                label: sort_label(*o).to_string(),
                selected: *o == sort,
            })
            .collect(),
        sort_placed: sort_head(&q, sort, OrderSort::PlacedDesc, OrderSort::PlacedAsc),
        sort_total: sort_head(&q, sort, OrderSort::TotalDesc, OrderSort::TotalAsc),
        sort_caption: sort_label(sort),
        errors,
        rows: rows.iter().map(ListRow::new).collect(),
        filtered: !filter_query.is_empty(),
        paged: q.cursor.as_deref().is_some_and(|c| !c.is_empty()),
        next_href: next.map(|c| with(q.with_cursor(&c))),
        first_href: with(filter_query.clone()),
        export_href: if filter_query.is_empty() {
            "/orders/export.csv".into()
        } else {
            format!("/orders/export.csv?{filter_query}")
        },
        back: q.with_cursor(ListQuery::text(&q.cursor)),
        can_manage: auth.allows(Permission::ManageOrders),
        can_pick: auth.allows(Permission::WriteStock),
        // Where the list is filtered by location, that is where to pick.
        pick_locations: locations
            .iter()
            .filter(|l| !matches!(l.kind, LocationKind::ThirdParty | LocationKind::Marketplace))
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == ListQuery::text(&q.location),
            })
            .collect(),
        hold_reasons: hold_reason_options(),
        ctx,
    };
    page(&p.ctx, &p)
}

/// Values a spreadsheet would run as a formula are prefixed, so opening the export is safe.
pub(crate) fn csv_field(out: &mut String, v: &str) {
    let risky = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = risky || v.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
        if risky {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn csv_row(o: &OrderSummary) -> String {
    let mut line = String::with_capacity(160);
    let placed = o.placed_at.format(&Rfc3339).unwrap_or_default();
    let units = o.units.to_string();
    let fields = [
        o.number.as_str(),
        placed.as_str(),
        o.channel.as_str(),
        o.external_id.as_str(),
        o.status.as_str(),
        o.email.as_str(),
        o.currency.as_str(),
        o.total.as_str(),
        units.as_str(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(&mut line, f);
    }
    line.push_str("\r\n");
    line
}

/// Every order matching the filter, read page by page while the download runs.
pub(crate) async fn export_csv(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let filter = q.filter().map_err(|errors| {
        WebError::Problem(Problem::Invalid(
            errors
                .into_iter()
                .map(|e| ordo_domain::FieldError::new("filter", e))
                .collect(),
        ))
    })?;
    const HEADER: &str =
        "number,placed_at,channel,external_id,status,email,currency,total,units\r\n";
    // State: None before the first page, Some(None) after the last.
    let stream = futures_util::stream::unfold(
        (s.store.clone(), filter, Some(None::<String>), true),
        |(store, filter, cursor, first)| async move {
            let cursor = cursor?;
            let page = store
                .list_orders(
                    &filter,
                    &PageRequest {
                        limit: Some(500),
                        cursor: cursor.clone(),
                    },
                )
                .await;
            match page {
                Ok(p) => {
                    let mut chunk = String::with_capacity(p.items.len() * 120 + 100);
                    if first {
                        chunk.push_str(HEADER);
                    }
                    for o in &p.items {
                        chunk.push_str(&csv_row(o));
                    }
                    let next = p.next_cursor.map(Some);
                    Some((Ok::<_, StoreError>(chunk), (store, filter, next, false)))
                }
                Err(e) => Some((Err(e), (store, filter, None, false))),
            }
        },
    );
    let name = format!(
        "orders-{}.csv",
        crate::view::fmt_date(OffsetDateTime::now_utc())
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn parse_action(a: &str) -> Option<Transition> {
    Some(match a {
        "hold" => Transition::Hold,
        "release" => Transition::Release,
        "cancel" => Transition::Cancel,
        _ => return None,
    })
}

fn past_tense(t: Transition) -> &'static str {
    match t {
        Transition::Hold => "held",
        Transition::Release => "released",
        Transition::Cancel => "cancelled",
    }
}

/// The change an operator asked for, checked as the API checks it.
fn order_change(t: Transition, f: &FormData) -> Result<OrderChange, String> {
    let note = f.get("note");
    if note.as_ref().is_some_and(|n| n.len() > MAX_NOTE) {
        return Err(format!("The note must be at most {MAX_NOTE} characters."));
    }
    let hold_reason = match t {
        Transition::Hold => Some(match f.get("hold_reason") {
            None => HoldReason::Manual,
            Some(r) => HoldReason::parse(&r)
                .ok_or_else(|| "Choose a hold reason from the list.".to_string())?,
        }),
        _ => None,
    };
    Ok(OrderChange {
        transition: t,
        hold_reason,
        note,
    })
}

/// "SO-000004 is cancelled" rather than the state machine's wording.
fn refusal(number: &str, t: Transition, e: &StoreError) -> String {
    match e {
        StoreError::Problem(Problem::Conflict {
            current: Some(c), ..
        }) => {
            if t == Transition::Release && c != "cancelled" {
                format!("{number} is not on hold")
            } else {
                format!("{number} is {}", humanize(c).to_lowercase())
            }
        }
        StoreError::Problem(Problem::NotFound(_)) => format!("{number} was not found"),
        StoreError::Problem(p) => format!("{number}: {p}"),
        StoreError::Internal(_) => format!("{number} could not be changed (server error)"),
    }
}

fn back_to_list(f: &FormData) -> String {
    // Rebuilt from known fields, so the redirect can only go to the orders list.
    let qs = ListQuery::from_form(&FormData::parse(f.raw("back").as_bytes()));
    let query = qs.with_cursor(ListQuery::text(&qs.cursor));
    if query.is_empty() {
        "/orders".into()
    } else {
        format!("/orders?{query}")
    }
}

/// The selected orders' open work at one location, released as one batch pick list. An
/// order with nothing to pick there refuses the whole release, each such order named.
async fn bulk_pick(s: &WebState, p: &Posted, back: &str) -> WebResult {
    p.auth.require(Permission::WriteStock)?;
    let numbers: Vec<String> = p.form.all("order").into_iter().take(500).collect();
    if numbers.is_empty() {
        return Ok(p
            .auth
            .redirect_with(back, false, "Select at least one order first."));
    }
    let Some(location) = p.form.get("pick_location") else {
        return Ok(p
            .auth
            .redirect_with(back, false, "Choose the location to pick at."));
    };
    let input = PickJobInput {
        location: Some(location.clone()),
        filters: PickFilters {
            orders: numbers,
            ..Default::default()
        },
        limits: Default::default(),
        strategy: Default::default(),
    };
    match s
        .store
        .create_pick_job(&location, input, &p.auth.context())
        .await
    {
        Ok(Outcome::Done(c)) => {
            let job = c.value;
            let orders = job.progress.orders.len();
            Ok(p.auth.redirect_with(
                &format!("/picking/{}", job.id),
                true,
                &format!(
                    "Pick list {} created at {location} for {orders} fulfillment order{}.",
                    job.id,
                    if orders == 1 { "" } else { "s" }
                ),
            ))
        }
        Ok(Outcome::Replayed { .. }) => {
            Ok(p.auth.redirect_with("/picking", true, "Already created."))
        }
        Err(StoreError::Problem(Problem::Invalid(errors))) => {
            let text = errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            Ok(p.auth.redirect_with(
                back,
                false,
                &format!("No pick list created. {}.", sentence(&text)),
            ))
        }
        Err(StoreError::Problem(e)) => Ok(p.auth.redirect_with(
            back,
            false,
            &format!("No pick list created: {}.", sentence(&e.to_string())),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn bulk(State(s): State<WebState>, p: Posted) -> WebResult {
    let back = back_to_list(&p.form);
    if p.form.get("action").as_deref() == Some("pick") {
        return bulk_pick(&s, &p, &back).await;
    }
    p.auth.require(Permission::ManageOrders)?;
    let Some(t) = p.form.get("action").as_deref().and_then(parse_action) else {
        return Ok(p.auth.redirect_with(&back, false, "Choose an action."));
    };
    let numbers = p.form.all("order");
    if numbers.is_empty() {
        return Ok(p
            .auth
            .redirect_with(&back, false, "Select at least one order first."));
    }
    let change = match order_change(t, &p.form) {
        Ok(c) => c,
        Err(m) => return Ok(p.auth.redirect_with(&back, false, &m)),
    };
    let ctx = p.auth.context();
    let mut done = 0;
    let mut refused = Vec::new();
    for n in numbers.iter().take(500) {
        match s.store.transition_order(n, change.clone(), &ctx).await {
            Ok(_) => done += 1,
            Err(StoreError::Internal(m)) if done == 0 && refused.is_empty() => {
                return Err(WebError::Internal(m));
            }
            Err(e) => refused.push(refusal(n, t, &e)),
        }
    }
    let mut text = format!("{done} {}", past_tense(t));
    if !refused.is_empty() {
        text.push_str(&format!(
            ", {} refused: {}",
            refused.len(),
            refused.join("; ")
        ));
    }
    Ok(p.auth.redirect_with(&back, refused.is_empty(), &text))
}

struct LineView {
    line_no: i32,
    sku: String,
    /// The channel's reference when no Ordo SKU is mapped to the line yet.
    unmapped: Option<String>,
    quantity: i64,
    unit_price: String,
    discount: String,
    tax: String,
    allocated: i64,
    backordered: i64,
    shipped: i64,
    /// Units received back through returns.
    returned: i64,
    allocations: String,
}

struct EventView {
    at: String,
    kind: String,
    actor: String,
    details: String,
}

#[derive(Template)]
#[template(path = "order.html")]
pub(crate) struct OrderPage {
    pub ctx: PageCtx,
    o: Order,
    status: &'static str,
    status_label: String,
    fill_label: String,
    hold_reason: Option<String>,
    placed: String,
    updated: String,
    payment_status: String,
    shipping_address: Vec<String>,
    billing_address: Option<Vec<String>>,
    lines: Vec<LineView>,
    events: Vec<EventView>,
    can_hold: bool,
    can_release: bool,
    can_cancel: bool,
    /// May map a channel's unmapped item to an Ordo SKU.
    can_manage: bool,
    hold_reasons: Vec<Opt>,
    fo: FulfillmentSection,
    sh: ShipmentsSection,
    rt: crate::returns::ReturnsSection,
    cl: crate::claims::ClaimsSection,
}

impl OrderPage {
    /// The page with its returns section replaced (a refused request shown in place).
    pub(crate) fn with_returns(mut self, rt: crate::returns::ReturnsSection) -> Self {
        self.rt = rt;
        self
    }
}

fn address_lines(a: &Address) -> Vec<String> {
    let city = [a.postal_code.as_deref(), a.city.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    [
        a.name.clone(),
        a.company.clone(),
        a.line1.clone(),
        a.line2.clone(),
        Some(city),
        a.region.clone(),
        a.country.clone(),
        a.phone.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect()
}

fn event_details(e: &Event) -> String {
    let d = &e.data;
    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match e.kind.as_str() {
        "order.created" => format!(
            "{} units, total {} {}, from {} ({})",
            d.get("units").and_then(|v| v.as_i64()).unwrap_or(0),
            s("total").unwrap_or_default(),
            s("currency").unwrap_or_default(),
            s("channel").unwrap_or_default(),
            s("external_id").unwrap_or_default()
        ),
        "order.held" => format!(
            "Reason: {}",
            humanize(&s("reason").unwrap_or_else(|| "manual".into())).to_lowercase()
        ),
        "fulfillment_order.split" => format!(
            "{} → {}: {}",
            s("fulfillment_order").unwrap_or_default(),
            s("into").unwrap_or_default(),
            json_lines(d.get("lines"))
        ),
        "fulfillment_order.moved" => format!(
            "{} from {} to {} as {}: {}",
            s("fulfillment_order").unwrap_or_default(),
            s("from").unwrap_or_default(),
            s("to").unwrap_or_default(),
            s("into").unwrap_or_default(),
            json_lines(d.get("lines"))
        ),
        "fulfillment_order.merged" => format!(
            "{} into {}",
            d.get("merged")
                .and_then(|v| v.as_array())
                .map(|a| a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            s("into").unwrap_or_default()
        ),
        "fulfillment_order.submitted" | "fulfillment_order.accepted" => format!(
            "{} at {}",
            s("fulfillment_order").unwrap_or_default(),
            s("location").unwrap_or_default()
        ),
        "shipment.created" => {
            let mut text = format!(
                "{} of {} from {}: {} {}, tracking number {}",
                s("shipment").unwrap_or_default(),
                s("fulfillment_order").unwrap_or_default(),
                s("location").unwrap_or_default(),
                match s("carrier").as_deref() {
                    Some("own_fleet") => "own fleet".to_string(),
                    Some(c) => c.to_string(),
                    None => String::new(),
                },
                s("service").unwrap_or_default(),
                s("tracking_number").unwrap_or_default()
            );
            let lines = json_lines(d.get("lines"));
            if !lines.is_empty() {
                text.push_str(&format!("; {lines}"));
            }
            text
        }
        "shipment.voided" => format!(
            "{} voided; {} is open again",
            s("shipment").unwrap_or_default(),
            s("fulfillment_order").unwrap_or_default()
        ),
        "shipment.tracking" | "shipment.delivered" | "shipment.exception" => {
            let mut text = format!(
                "{}: {}",
                s("shipment").unwrap_or_default(),
                humanize(&s("status").unwrap_or_default()).to_lowercase()
            );
            if let Some(detail) = s("detail") {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        "fulfillment_order.rejected" => {
            let mut text = format!(
                "{} at {}: {}",
                s("fulfillment_order").unwrap_or_default(),
                s("location").unwrap_or_default(),
                s("reason").unwrap_or_default()
            );
            let rerouted: Vec<String> = d
                .get("rerouted")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            format!(
                                "{} at {} ({})",
                                r.get("fulfillment_order")
                                    .and_then(|v| v.as_str())
                                    .unwrap_or(""),
                                r.get("location").and_then(|v| v.as_str()).unwrap_or(""),
                                json_lines(r.get("lines"))
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !rerouted.is_empty() {
                text.push_str(&format!("; routed again: {}", rerouted.join(", ")));
            }
            let backordered = json_lines(d.get("backordered"));
            if !backordered.is_empty() {
                text.push_str(&format!("; backordered: {backordered}"));
            }
            text
        }
        _ => {
            let mut parts = Vec::new();
            if let Some(allocs) = d.get("allocations").and_then(|v| v.as_array()) {
                let list: Vec<String> = allocs
                    .iter()
                    .map(|a| {
                        format!(
                            "{} × {} at {}",
                            a.get("quantity").and_then(|v| v.as_i64()).unwrap_or(0),
                            a.get("sku").and_then(|v| v.as_str()).unwrap_or(""),
                            a.get("location").and_then(|v| v.as_str()).unwrap_or("")
                        )
                    })
                    .collect();
                if !list.is_empty() {
                    parts.push(list.join(", "));
                }
            }
            if let Some(obj) = d.as_object() {
                for (k, v) in obj {
                    if matches!(k.as_str(), "number" | "allocations") {
                        continue;
                    }
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    parts.push(format!("{}: {text}", humanize(k)));
                }
            }
            parts.join("; ")
        }
    }
}

/// `[{"sku": "A", "quantity": 2}]` as `2 × A`.
fn json_lines(v: Option<&serde_json::Value>) -> String {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|l| {
                    format!(
                        "{} × {}",
                        l.get("quantity").and_then(|v| v.as_i64()).unwrap_or(0),
                        l.get("sku").and_then(|v| v.as_str()).unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub(crate) async fn detail(
    State(s): State<WebState>,
    auth: Auth,
    Path(number): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let p = render_order(&s, &auth, &number, None).await?;
    page(&p.ctx, &p)
}

/// The order page, with the outcome of a fulfillment form when there was one.
pub(crate) async fn render_order(
    s: &WebState,
    auth: &Auth,
    number: &str,
    fb: Option<FoFeedback>,
) -> WebResult<OrderPage> {
    let Some(mut o) = s.store.get_order(number).await? else {
        return Err(WebError::NotFound(format!("Order {number}")));
    };
    let events = s.store.order_events(&o.number).await?.unwrap_or_default();
    if let Some(hold) = ordo_http::routes::routing::rule_hold(&o, &events) {
        o.hold_rule = hold.rule;
        o.hold_note = hold.note;
    }
    let locations = s.store.list_locations().await?;
    let stock = if auth.allows(Permission::ManageOrders) {
        crate::fulfillment::stock_for(s, &o).await?
    } else {
        Default::default()
    };
    let fb = fb.unwrap_or_else(|| FoFeedback::done(String::new()));
    let fo = crate::fulfillment::section(&o, &locations, &stock, auth, &fb);
    let sh = crate::shipments::section(s, &o.number, auth, &fb).await?;
    let rt = crate::returns::section(s, &o, auth, None).await?;
    let returned = crate::returns::returned_units(s, &o.number).await?;
    let cl = crate::claims::section(s, &o, auth).await?;
    let manage = auth.allows(Permission::ManageOrders);
    let allowed = |t| manage && transition(o.status, o.fill_status, t).is_ok();
    let ctx = PageCtx::new(auth, "orders");
    Ok(OrderPage {
        fo,
        sh,
        rt,
        cl,
        status: o.status.as_str(),
        status_label: humanize(o.status.as_str()),
        fill_label: humanize(o.fill_status.as_str()),
        hold_reason: o.hold_reason.map(|r| {
            let why = humanize(r.as_str());
            match (&o.hold_rule, &o.hold_note) {
                (Some(rule), Some(note)) => format!("{why} ({rule}): {note}"),
                (None, Some(note)) => format!("{why}: {note}"),
                _ => why,
            }
        }),
        placed: fmt_time(o.placed_at),
        updated: fmt_time(o.updated_at),
        payment_status: humanize(match o.payment.status {
            ordo_domain::order::PaymentStatus::Pending => "pending",
            ordo_domain::order::PaymentStatus::Authorized => "authorized",
            ordo_domain::order::PaymentStatus::Paid => "paid",
        }),
        shipping_address: address_lines(&o.shipping_address),
        billing_address: o.billing_address.as_ref().map(address_lines),
        lines: o
            .lines
            .iter()
            .map(|l| LineView {
                line_no: l.line_no,
                sku: l.sku.clone(),
                unmapped: o
                    .unmapped_lines
                    .iter()
                    .find(|u| u.line_no == l.line_no)
                    .map(|u| u.channel_ref.clone()),
                quantity: l.quantity,
                unit_price: group(&l.unit_price),
                discount: group(&l.discount),
                tax: group(&l.tax),
                allocated: l.allocated,
                backordered: l.backordered,
                shipped: l.shipped,
                returned: returned.get(&l.line_no).copied().unwrap_or(0),
                allocations: {
                    // One entry per location, however many fulfillment orders ship from it.
                    let mut per: Vec<(&str, i64)> = Vec::new();
                    for a in &l.allocations {
                        match per.iter_mut().find(|(c, _)| *c == a.location) {
                            Some((_, q)) => *q += a.quantity,
                            None => per.push((&a.location, a.quantity)),
                        }
                    }
                    per.iter()
                        .map(|(c, q)| format!("{c}: {q}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
            .collect(),
        events: events
            .iter()
            .map(|e| EventView {
                at: fmt_time(e.at),
                kind: humanize(&e.kind),
                actor: e.actor.clone(),
                details: event_details(e),
            })
            .collect(),
        can_hold: allowed(Transition::Hold),
        can_release: allowed(Transition::Release),
        can_cancel: allowed(Transition::Cancel),
        can_manage: manage && o.status != ordo_domain::order::OrderStatus::Cancelled,
        hold_reasons: hold_reason_options(),
        ctx,
        o,
    })
}

pub(crate) async fn act(
    State(s): State<WebState>,
    Path((number, action)): Path<(String, String)>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageOrders)?;
    let Some(t) = parse_action(&action) else {
        return Err(WebError::NotFound(format!("The action '{action}'")));
    };
    let here = format!("/orders/{}", crate::form::encode(&number));
    let change = match order_change(t, &p.form) {
        Ok(c) => c,
        Err(m) => return Ok(p.auth.redirect_with(&here, false, &m)),
    };
    match s
        .store
        .transition_order(&number, change, &p.auth.context())
        .await
    {
        Ok(_) => {
            let what = match t {
                Transition::Hold => "is now on hold",
                Transition::Release => "was released",
                Transition::Cancel => "was cancelled; its stock was released",
            };
            Ok(p.auth
                .redirect_with(&here, true, &format!("{number} {what}.")))
        }
        Err(e) => refused(&p.auth, &here, &number, e),
    }
}

/// A change to an order the store refused: an unknown order is a 404 page, a broken rule
/// goes back to the order page as the message.
fn refused(auth: &Auth, here: &str, number: &str, e: StoreError) -> WebResult {
    match e {
        StoreError::Problem(Problem::NotFound(_)) => {
            Err(WebError::NotFound(format!("Order {number}")))
        }
        StoreError::Problem(pr) => {
            let (m, d) = crate::error::describe(&pr);
            let text = std::iter::once(m).chain(d).collect::<Vec<_>>().join(" ");
            Ok(auth.redirect_with(here, false, &sentence(&text)))
        }
        e => Err(e.into()),
    }
}

/// `POST /orders/{number}/lines/{line_no}/sku`: names the Ordo SKU of a line the channel
/// sent with an item no SKU is mapped to; the order is released with its last such line.
pub(crate) async fn map_line(
    State(s): State<WebState>,
    Path((number, line_no)): Path<(String, i32)>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageOrders)?;
    let here = format!("/orders/{}", crate::form::encode(&number));
    let sku = p.form.get("sku").unwrap_or_default();
    let sku = sku.trim();
    if let Err(e) = ordo_domain::catalog::check_sku(sku) {
        return Ok(p
            .auth
            .redirect_with(&here, false, &format!("Ordo SKU: {}", sentence(e))));
    }
    match s
        .store
        .map_order_line(&number, line_no, sku, &p.auth.context())
        .await
    {
        Ok(outcome) => {
            let mut text = format!("Line {line_no} is now {sku}.");
            if let ordo_store::Outcome::Done(order) = outcome
                && order.unmapped_lines.is_empty()
            {
                let state = s.connectors.state(&order.channel);
                ordo_connectors::import::forget_attention_once_mapped(&state, &order).await;
                text.push_str(&format!(
                    " Every item is mapped; the order is {}.",
                    humanize(order.status.as_str()).to_lowercase()
                ));
            }
            Ok(p.auth.redirect_with(&here, true, &text))
        }
        Err(e) => refused(&p.auth, &here, &number, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_and_defuses_formulas() {
        let mut s = String::new();
        csv_field(&mut s, "plain");
        s.push(',');
        csv_field(&mut s, "a,\"b\"");
        s.push(',');
        csv_field(&mut s, "=HYPERLINK(1)");
        assert_eq!(s, "plain,\"a,\"\"b\"\"\",\"'=HYPERLINK(1)\"");
    }

    #[test]
    fn dates_mean_midnight_utc() {
        let t = parse_day_or_time("2026-11-26").unwrap().unwrap();
        assert_eq!(t.format(&Rfc3339).unwrap(), "2026-11-26T00:00:00Z");
        assert!(parse_day_or_time("26.11.2026").is_err());
        assert_eq!(parse_day_or_time("").unwrap(), None);
    }

    #[test]
    fn back_link_keeps_only_filters() {
        let f = FormData::parse(b"back=status%3Don_hold%26evil%3D1%26cursor%3Dabc");
        assert_eq!(back_to_list(&f), "/orders?status=on_hold&cursor=abc");
    }
}
