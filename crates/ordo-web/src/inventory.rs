//! Inventory: the SKU × location grid with adjust / move / count dialogs, and the ledger.
//!
//! A refused write re-renders the grid with the dialog open and every value kept, the
//! errors next to their fields.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ordo_domain::inventory::{
    AdjustmentInput, CountInput, MoveInput, Reason, StockCommand, StockWrite,
};
use ordo_domain::{FieldError, Problem};
use ordo_store::{
    BalanceFilter, MovementFilter, Outcome, PageRequest, Permission, StockWriteResult, StoreError,
};
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebResult, sentence};
use crate::form::{FormData, query};
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::{PageCtx, fmt_time, humanize, page};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GridQuery {
    sku: Option<String>,
    location: Option<String>,
    cursor: Option<String>,
}

impl GridQuery {
    fn from_back(f: &FormData) -> Self {
        let b = FormData::parse(f.raw("back").as_bytes());
        GridQuery {
            sku: b.get("sku"),
            location: b.get("location"),
            cursor: b.get("cursor"),
        }
    }
    fn sku(&self) -> &str {
        self.sku.as_deref().map(str::trim).unwrap_or("")
    }
    fn location(&self) -> &str {
        self.location.as_deref().map(str::trim).unwrap_or("")
    }
    fn cursor(&self) -> &str {
        self.cursor.as_deref().unwrap_or("")
    }
    fn filter(&self) -> BalanceFilter {
        BalanceFilter {
            sku: Some(self.sku().to_string()).filter(|s| !s.is_empty()),
            location: Some(self.location().to_string()).filter(|s| !s.is_empty()),
        }
    }
    fn page(&self) -> PageRequest {
        PageRequest {
            limit: Some(PAGE_SIZE),
            cursor: Some(self.cursor().to_string()).filter(|s| !s.is_empty()),
        }
    }
    fn query_with(&self, cursor: &str) -> String {
        query([
            ("sku", self.sku()),
            ("location", self.location()),
            ("cursor", cursor),
        ])
    }
    fn href(&self, base: &str, cursor: &str) -> String {
        let q = self.query_with(cursor);
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    }
}

struct GridRow {
    sku: String,
    location: String,
    on_hand: i64,
    allocated: i64,
    available: i64,
    damaged: i64,
    quality_control: i64,
    safety_stock: i64,
    incoming: i64,
    level: &'static str,
}

/// What each channel can sell of one SKU of the page: its locations' availability after the
/// channel's own rules (the locations it sells from, its buffer and listing cap): the figure
/// its stock feed sends.
struct SellableRow {
    sku: String,
    /// One figure per channel, in the order of the column headings; none where the channel
    /// does not list the SKU (an inactive product).
    per_channel: Vec<Option<i64>>,
}

/// The channels' availability of the grid page's SKUs. The grid lists SKUs in order, so one
/// run through each channel's availability pages, starting just before the first SKU, covers
/// them all: a call per channel rather than one per SKU and channel.
async fn sellable(
    s: &WebState,
    channels: &[ordo_domain::catalog::Channel],
    skus: &[&str],
) -> WebResult<Vec<SellableRow>> {
    let (Some(first), Some(last)) = (skus.first(), skus.last()) else {
        return Ok(vec![]);
    };
    // Availability pages hold the SKUs after the cursor's; a proper prefix of the first SKU
    // sorts before it.
    let mut before_first = first.to_string();
    before_first.pop();
    let mut found: HashMap<(usize, String), i64> = HashMap::new();
    for (i, c) in channels.iter().enumerate() {
        let mut cursor = Some(ordo_store::encode_cursor(&before_first)).filter(|c| !c.is_empty());
        let mut left = skus.len();
        loop {
            let page = s
                .store
                .channel_availability(
                    &c.code,
                    None,
                    &PageRequest {
                        limit: Some(skus.len() as i64 + 20),
                        cursor,
                    },
                )
                .await?;
            let mut past_last = false;
            for a in page.items {
                if a.sku.as_str() > *last {
                    past_last = true;
                    break;
                }
                if skus.contains(&a.sku.as_str()) {
                    left -= 1;
                    found.insert((i, a.sku), a.available_to_sell);
                }
            }
            match page.next_cursor {
                Some(next) if !past_last && left > 0 => cursor = Some(next),
                _ => break,
            }
        }
    }
    Ok(skus
        .iter()
        .map(|sku| SellableRow {
            sku: sku.to_string(),
            per_channel: (0..channels.len())
                .map(|i| found.get(&(i, sku.to_string())).copied())
                .collect(),
        })
        .collect())
}

/// One of the three stock dialogs, with the values to show in it.
pub(crate) struct Dialog {
    pub open: bool,
    pub sku: String,
    pub location: String,
    pub values: Vec<(&'static str, String)>,
    pub errors: Vec<FieldError>,
    pub message: Option<String>,
    pub reasons: Vec<Opt>,
    pub states: Vec<Opt>,
    pub froms: Vec<Opt>,
    pub tos: Vec<Opt>,
}

impl Dialog {
    fn new(kind: &str, values: Vec<(&'static str, String)>) -> Self {
        let get = |k: &str| {
            values
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let default_reason = match kind {
            "count" => "cycle_count",
            "move" => "quality_control",
            _ => "received",
        };
        let reason = match get("reason") {
            "" => default_reason,
            r => r,
        };
        let opts = |vals: &[&str], current: &str| {
            vals.iter()
                .map(|v| Opt {
                    value: v.to_string(),
                    label: humanize(v),
                    selected: *v == current,
                })
                .collect::<Vec<_>>()
        };
        let user_reasons: Vec<&str> = Reason::ALL
            .iter()
            .filter(|r| !r.is_system())
            .map(|r| r.as_str())
            .collect();
        let sides = [
            "available",
            "damaged",
            "quality_control",
            "safety_stock",
            "incoming",
        ];
        Dialog {
            open: false,
            sku: get("sku").to_string(),
            location: get("location").to_string(),
            reasons: opts(&user_reasons, reason),
            states: opts(
                &[
                    "on_hand",
                    "damaged",
                    "quality_control",
                    "safety_stock",
                    "incoming",
                ],
                match get("state") {
                    "" => "on_hand",
                    s => s,
                },
            ),
            froms: opts(
                &sides,
                match get("from") {
                    "" => "available",
                    s => s,
                },
            ),
            tos: opts(
                &sides[..4],
                match get("to") {
                    "" => "quality_control",
                    s => s,
                },
            ),
            values,
            errors: vec![],
            message: None,
        }
    }

    pub fn val(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn err(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.as_str())
    }

    /// Errors for fields the dialog has no input for (e.g. an unknown SKU).
    pub fn other_errors(&self) -> Vec<String> {
        const SHOWN: [&str; 9] = [
            "state",
            "delta",
            "from",
            "to",
            "quantity",
            "on_hand",
            "reason",
            "reference",
            "expected_on_hand",
        ];
        self.errors
            .iter()
            .filter(|e| !SHOWN.contains(&e.field.as_str()))
            .map(|e| format!("{}: {}", humanize(&e.field), e.message))
            .collect()
    }
}

#[derive(Template)]
#[template(path = "inventory.html")]
struct InventoryPage {
    ctx: PageCtx,
    sku: String,
    locations: Vec<Opt>,
    rows: Vec<GridRow>,
    channels: Vec<String>,
    sellable: Vec<SellableRow>,
    paged: bool,
    first_href: String,
    export_href: String,
    next_href: Option<String>,
    back: String,
    can_write: bool,
    adjust: Dialog,
    mv: Dialog,
    count: Dialog,
}

async fn render_grid(
    s: &WebState,
    auth: &Auth,
    q: &GridQuery,
    open: Option<(&str, Dialog)>,
) -> WebResult<InventoryPage> {
    let locations = s.store.list_locations().await?;
    let balances = s.store.list_balances(&q.filter(), &q.page()).await?;
    let channels = s.store.list_channels().await?;
    let mut skus: Vec<&str> = balances.items.iter().map(|b| b.sku.as_str()).collect();
    skus.dedup();
    let sellable = sellable(s, &channels, &skus).await?;
    let mut adjust = Dialog::new("adjust", vec![]);
    let mut mv = Dialog::new("move", vec![]);
    let mut count = Dialog::new("count", vec![]);
    if let Some((kind, mut d)) = open {
        d.open = true;
        match kind {
            "adjust" => adjust = d,
            "move" => mv = d,
            _ => count = d,
        }
    }
    Ok(InventoryPage {
        ctx: PageCtx::new(auth, "inventory"),
        sku: q.sku().to_string(),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == q.location(),
            })
            .collect(),
        rows: balances
            .items
            .iter()
            .map(|r| GridRow {
                sku: r.sku.clone(),
                location: r.location.clone(),
                on_hand: r.balance.on_hand,
                allocated: r.balance.allocated,
                available: r.available,
                damaged: r.balance.damaged,
                quality_control: r.balance.quality_control,
                safety_stock: r.balance.safety_stock,
                incoming: r.balance.incoming,
                level: if r.available <= 0 {
                    "out"
                } else if r.available <= 5 {
                    "low"
                } else {
                    ""
                },
            })
            .collect(),
        channels: channels.iter().map(|c| c.code.clone()).collect(),
        sellable,
        paged: !q.cursor().is_empty(),
        first_href: q.href("/inventory", ""),
        export_href: q.href("/inventory/export.csv", ""),
        next_href: balances.next_cursor.map(|c| q.href("/inventory", &c)),
        back: q.query_with(q.cursor()),
        can_write: auth.allows(Permission::WriteStock),
        adjust,
        mv,
        count,
    })
}

pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<GridQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let p = render_grid(&s, &auth, &q, None).await?;
    page(&p.ctx, &p)
}

/// A whole number, or a field error in the user's words.
fn int(f: &FormData, name: &'static str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let v = f.get(name)?;
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(name, "must be a whole number"));
            None
        }
    }
}

fn kept(f: &FormData, names: &[&'static str]) -> Vec<(&'static str, String)> {
    names.iter().map(|n| (*n, f.raw(n))).collect()
}

/// Parse errors first; the domain's own check then reports the rest, without repeating a field.
fn merge(
    mut parse: Vec<FieldError>,
    domain: Result<StockWrite, Problem>,
) -> Result<StockWrite, Problem> {
    match domain {
        Ok(w) if parse.is_empty() => Ok(w),
        Ok(_) => Err(Problem::Invalid(parse)),
        Err(Problem::Invalid(more)) => {
            for e in more {
                if !parse.iter().any(|p| p.field == e.field) {
                    parse.push(e);
                }
            }
            Err(Problem::Invalid(parse))
        }
        Err(other) if parse.is_empty() => Err(other),
        Err(_) => Err(Problem::Invalid(parse)),
    }
}

fn summary(w: &StockWrite, r: &StockWriteResult) -> String {
    let what = match &w.command {
        StockCommand::Adjust { state, delta } => {
            format!("{} {delta:+}", humanize(state.as_str()).to_lowercase())
        }
        StockCommand::Move { quantity, .. } => format!("{quantity} moved"),
        StockCommand::Count { on_hand, .. } => format!("counted {on_hand}"),
    };
    let b = &r.balance;
    let mut text = format!(
        "{} at {}: {what} ({}). On hand {}, available {}.",
        w.sku,
        w.location,
        humanize(w.reason.as_str()).to_lowercase(),
        b.balance.on_hand,
        b.available
    );
    if !r.reallocated_orders.is_empty() {
        text.push_str(&format!(
            " Stock went to {} waiting order(s): {}.",
            r.reallocated_orders.len(),
            r.reallocated_orders.join(", ")
        ));
    }
    if !r.shorted_orders.is_empty() {
        text.push_str(&format!(
            " {} order(s) lost stock the count proved missing: {}.",
            r.shorted_orders.len(),
            r.shorted_orders.join(", ")
        ));
    }
    text
}

async fn write(
    s: WebState,
    p: Posted,
    kind: &'static str,
    parsed: Result<StockWrite, Problem>,
    mut values: Vec<(&'static str, String)>,
) -> WebResult {
    p.auth.require(Permission::WriteStock)?;
    let q = GridQuery::from_back(&p.form);
    let back = q.href("/inventory", q.cursor());
    let problem = match parsed {
        Ok(w) => match s.store.write_stock(w.clone(), &p.auth.context()).await {
            Ok(Outcome::Done(r)) => {
                return Ok(p.auth.redirect_with(&back, true, &summary(&w, &r)));
            }
            Ok(Outcome::Replayed { .. }) => {
                return Ok(p
                    .auth
                    .redirect_with(&back, true, "This change was already applied."));
            }
            Err(StoreError::Problem(pr)) => pr,
            Err(e) => return Err(e.into()),
        },
        Err(pr) => pr,
    };
    let (status, errors, message) = match problem {
        Problem::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            Some("Please correct the fields marked below.".to_string()),
        ),
        Problem::NotFound(what) => (
            StatusCode::NOT_FOUND,
            vec![],
            Some(sentence(&format!("{what} was not found"))),
        ),
        Problem::Conflict { message, current } => {
            let text = if kind == "count"
                && let Some(c) = &current
            {
                let shown = p.form.raw("expected_on_hand");
                // The next attempt is checked against the figure the user has now seen.
                for v in values.iter_mut() {
                    if v.0 == "expected_on_hand" {
                        v.1 = c.clone();
                    }
                }
                format!(
                    "Not saved: on hand is now {c}, not {shown} as when this form was opened. \
                     Someone changed the stock meanwhile. Count again and submit the new figure."
                )
            } else {
                format!("Not saved: {}", sentence(&message))
            };
            (StatusCode::CONFLICT, vec![], Some(text))
        }
    };
    let mut d = Dialog::new(kind, values);
    d.errors = errors;
    d.message = message;
    let page_view = render_grid(&s, &p.auth, &q, Some((kind, d))).await?;
    let mut r = page(&page_view.ctx, &page_view)?;
    *r.status_mut() = status;
    Ok(r.into_response())
}

pub(crate) async fn adjust(State(s): State<WebState>, p: Posted) -> WebResult {
    let f = &p.form;
    let mut errors = vec![];
    let input = AdjustmentInput {
        sku: f.get("sku"),
        location: f.get("location"),
        state: f.get("state"),
        delta: int(f, "delta", &mut errors),
        reason: f.get("reason"),
        reference: f.get("reference"),
    };
    let parsed = merge(errors, input.validate());
    let values = kept(
        f,
        &["sku", "location", "state", "delta", "reason", "reference"],
    );
    write(s, p, "adjust", parsed, values).await
}

pub(crate) async fn move_stock(State(s): State<WebState>, p: Posted) -> WebResult {
    let f = &p.form;
    let mut errors = vec![];
    let input = MoveInput {
        sku: f.get("sku"),
        location: f.get("location"),
        from: f.get("from"),
        to: f.get("to"),
        quantity: int(f, "quantity", &mut errors),
        reason: f.get("reason"),
        reference: f.get("reference"),
    };
    let parsed = merge(errors, input.validate());
    let values = kept(
        f,
        &[
            "sku",
            "location",
            "from",
            "to",
            "quantity",
            "reason",
            "reference",
        ],
    );
    write(s, p, "move", parsed, values).await
}

pub(crate) async fn count(State(s): State<WebState>, p: Posted) -> WebResult {
    let f = &p.form;
    let mut errors = vec![];
    let input = CountInput {
        sku: f.get("sku"),
        location: f.get("location"),
        on_hand: int(f, "on_hand", &mut errors),
        expected_on_hand: int(f, "expected_on_hand", &mut errors),
        reason: f.get("reason"),
        reference: f.get("reference"),
    };
    let parsed = merge(errors, input.validate());
    let values = kept(
        f,
        &[
            "sku",
            "location",
            "on_hand",
            "expected_on_hand",
            "reason",
            "reference",
        ],
    );
    write(s, p, "count", parsed, values).await
}

struct MovementRow {
    seq: i64,
    at: String,
    sku: String,
    location: String,
    state: String,
    delta: String,
    before: i64,
    after: i64,
    reason: String,
    reference: String,
    actor: String,
}

#[derive(Template)]
#[template(path = "movements.html")]
struct MovementsPage {
    ctx: PageCtx,
    sku: String,
    locations: Vec<Opt>,
    reasons: Vec<Opt>,
    from: String,
    to: String,
    errors: Vec<String>,
    rows: Vec<MovementRow>,
    paged: bool,
    first_href: String,
    next_href: Option<String>,
}

/// The ledger's filters: the grid's SKU and location, plus a reason and a range of days.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MovementQuery {
    #[serde(flatten)]
    grid: GridQuery,
    reason: Option<String>,
    /// First day shown (a date, or an RFC 3339 time).
    from: Option<String>,
    /// Last day shown, inclusive: a day means through its end.
    to: Option<String>,
}

impl MovementQuery {
    fn text(v: &Option<String>) -> &str {
        v.as_deref().map(str::trim).unwrap_or("")
    }

    fn href(&self, cursor: &str) -> String {
        let q = query([
            ("sku", self.grid.sku()),
            ("location", self.grid.location()),
            ("reason", Self::text(&self.reason)),
            ("from", Self::text(&self.from)),
            ("to", Self::text(&self.to)),
            ("cursor", cursor),
        ]);
        if q.is_empty() {
            "/inventory/movements".into()
        } else {
            format!("/inventory/movements?{q}")
        }
    }

    /// Every bad field is reported in the user's words.
    fn filter(&self) -> Result<MovementFilter, Vec<String>> {
        let mut errors = Vec::new();
        let reason = match Self::text(&self.reason) {
            "" => None,
            r => match Reason::parse(r) {
                Some(r) => Some(r.as_str().to_string()),
                None => {
                    errors.push("Reason: choose one of the listed reasons.".to_string());
                    None
                }
            },
        };
        let mut day = |label: &str, v: &Option<String>, end_of_day: bool| {
            let text = Self::text(v);
            match crate::orders::parse_day_or_time(text) {
                // A day typed as the end of the range includes that whole day.
                Ok(Some(t)) if end_of_day && !text.contains('T') => {
                    Some(t + time::Duration::days(1))
                }
                Ok(t) => t,
                Err(()) => {
                    errors.push(format!(
                        "{label}: enter a date such as 2026-11-26 (or an RFC 3339 time)."
                    ));
                    None
                }
            }
        };
        let after = day("From", &self.from, false);
        let before = day("To", &self.to, true);
        if errors.is_empty() {
            let g = self.grid.filter();
            Ok(MovementFilter {
                sku: g.sku,
                location: g.location,
                reason,
                after,
                before,
            })
        } else {
            Err(errors)
        }
    }
}

pub(crate) async fn movements(
    State(s): State<WebState>,
    auth: Auth,
    Query(mq): Query<MovementQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let locations = s.store.list_locations().await?;
    let q = &mq.grid;
    let (list, errors) = match mq.filter() {
        Ok(filter) => (s.store.list_movements(&filter, &q.page()).await?, vec![]),
        Err(errors) => (
            ordo_store::Page {
                items: vec![],
                next_cursor: None,
            },
            errors,
        ),
    };
    let reason = MovementQuery::text(&mq.reason);
    let p = MovementsPage {
        ctx: PageCtx::new(&auth, "movements"),
        reasons: Reason::ALL
            .iter()
            .map(|r| Opt {
                value: r.as_str().to_string(),
                label: humanize(r.as_str()),
                selected: r.as_str() == reason,
            })
            .collect(),
        from: MovementQuery::text(&mq.from).to_string(),
        to: MovementQuery::text(&mq.to).to_string(),
        errors,
        sku: q.sku().to_string(),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == q.location(),
            })
            .collect(),
        rows: list
            .items
            .iter()
            .map(|m| MovementRow {
                seq: m.seq,
                at: fmt_time(m.at),
                sku: m.sku.clone(),
                location: m.location.clone(),
                state: humanize(&m.state),
                delta: format!("{:+}", m.delta),
                before: m.before,
                after: m.after,
                reason: humanize(&m.reason),
                reference: m.reference.clone().unwrap_or_default(),
                actor: m.actor.clone(),
            })
            .collect(),
        paged: !q.cursor().is_empty(),
        first_href: mq.href(""),
        next_href: list.next_cursor.map(|c| mq.href(&c)),
    };
    page(&p.ctx, &p)
}
