//! Fulfillment orders: the order page's section that splits, moves and merges them and
//! answers 3PL / marketplace requests, and the list across orders at `/fulfillment`.
//!
//! Every form posts normally (a redirect with a message on success, the page with the form
//! open and its errors on a refusal); with htmx the same answer re-renders only the section.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ordo_domain::catalog::Location;
use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, LineQuantityInput, RequestAction,
    RequestStatus, request_transition,
};
use ordo_domain::order::{Order, OrderStatus};
use ordo_domain::{FieldError, Problem};
use ordo_store::{
    BalanceFilter, FulfillmentChange, FulfillmentFilter, Outcome, PageRequest, Permission,
    StoreError,
};
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::{FormData, encode, query};
use crate::orders::{Opt, render_order};
use crate::session::{Auth, Posted};
use crate::view::{Flash, PageCtx, fmt_time, humanize, page};

const PAGE_SIZE: i64 = 50;
const MAX_REASON: usize = 500;

/// What the last fulfillment form did, to show on the re-rendered section.
pub(crate) struct FoFeedback {
    pub ok: bool,
    pub message: String,
    /// `split`, `move`, `submit`, `accept`, `reject`, `merge` or `ship`; `void` and
    /// `tracking` are the shipments section's forms.
    pub form: &'static str,
    /// The fulfillment order the form was for (for `merge`, the location; for the
    /// shipments section's forms, the shipment).
    pub target: String,
    /// Keyed by form field: `qty_{line_no}`, `location`, `reason`, `fo`, `carrier`,
    /// `service`, `tracking_number`, `pkg{n}_weight_g` …, `status`, `detail`.
    pub errors: Vec<FieldError>,
    pub values: Option<FormData>,
}

impl FoFeedback {
    pub fn done(message: String) -> Self {
        FoFeedback {
            ok: true,
            message,
            form: "",
            target: String::new(),
            errors: vec![],
            values: None,
        }
    }

    pub fn is(&self, form: &str, target: &str) -> bool {
        !self.ok && self.form == form && self.target == target
    }

    pub fn err(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    pub fn value(&self, field: &str) -> Option<String> {
        self.values.as_ref().map(|v| v.raw(field))
    }

    /// The outcome belongs to the shipments section (void, tracking), not this one.
    pub fn for_shipments(&self) -> bool {
        matches!(self.form, "void" | "tracking")
    }
}

/// Rows of the ship form's package inputs: enough for most parcels without script.
pub(crate) const PACKAGE_ROWS: usize = 3;

/// One package row of the ship form, with what was typed and what was wrong.
pub(crate) struct PackageRow {
    pub n: usize,
    /// Packages after the first sit in a closed "add package" disclosure until used.
    pub open: bool,
    pub weight: String,
    pub length: String,
    pub width: String,
    pub height: String,
    pub weight_error: Option<String>,
    pub length_error: Option<String>,
    pub width_error: Option<String>,
    pub height_error: Option<String>,
}

pub(crate) struct FoLine {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub split_value: String,
    pub split_error: Option<String>,
    pub move_value: String,
    pub move_error: Option<String>,
}

pub(crate) struct FoView {
    pub id: String,
    pub location: String,
    pub location_label: String,
    pub status: &'static str,
    pub status_label: String,
    /// Empty for locations run in-house.
    pub request_status: &'static str,
    pub request_label: String,
    pub reason: Option<String>,
    pub lines: Vec<FoLine>,
    pub units: i64,
    pub active: bool,
    pub can_split: bool,
    pub can_move: bool,
    pub can_submit: bool,
    pub can_accept: bool,
    pub can_reject: bool,
    pub targets: Vec<Opt>,
    pub split_open: bool,
    pub move_open: bool,
    pub reject_open: bool,
    pub split_message: Option<String>,
    pub move_message: Option<String>,
    pub request_message: Option<String>,
    pub location_error: Option<String>,
    pub reason_value: String,
    pub reason_error: Option<String>,
    pub can_ship: bool,
    pub ship_open: bool,
    pub ship_message: Option<String>,
    pub carriers: Vec<Opt>,
    pub carrier_error: Option<String>,
    pub tracking_value: String,
    pub tracking_error: Option<String>,
    pub service_value: String,
    pub service_error: Option<String>,
    pub packages: Vec<PackageRow>,
}

impl FoView {
    pub fn has_actions(&self) -> bool {
        self.can_split
            || self.can_move
            || self.can_submit
            || self.can_accept
            || self.can_reject
            || self.can_ship
    }
}

pub(crate) struct MergeItem {
    pub id: String,
    pub units: i64,
    pub checked: bool,
}

pub(crate) struct MergeGroup {
    pub location: String,
    pub label: String,
    pub items: Vec<MergeItem>,
    pub open: bool,
    pub message: Option<String>,
}

pub(crate) struct FulfillmentSection {
    pub fos: Vec<FoView>,
    pub merges: Vec<MergeGroup>,
    pub message: Option<Flash>,
}

fn location_label(locations: &[Location], code: &str) -> String {
    locations
        .iter()
        .find(|l| l.code == code)
        .map_or_else(|| code.to_string(), |l| format!("{} ({})", l.name, l.code))
}

pub(crate) fn lines_text(lines: &[FulfillmentLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{} × {}", l.quantity, l.sku))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Available units per (SKU, location) for the SKUs an editable fulfillment order holds,
/// so the move form can say what each target has.
pub(crate) async fn stock_for(
    s: &WebState,
    order: &Order,
) -> WebResult<HashMap<(String, String), i64>> {
    let mut skus: Vec<&str> = order
        .fulfillment_orders
        .iter()
        .filter(|f| f.status.is_editable())
        .flat_map(|f| f.lines.iter().map(|l| l.sku.as_str()))
        .collect();
    skus.sort_unstable();
    skus.dedup();
    let mut out = HashMap::new();
    for sku in skus {
        let rows = s
            .store
            .list_balances(
                &BalanceFilter {
                    sku: Some(sku.to_string()),
                    location: None,
                },
                &PageRequest {
                    limit: Some(500),
                    cursor: None,
                },
            )
            .await?;
        for r in rows.items {
            out.insert((r.sku, r.location), r.available);
        }
    }
    Ok(out)
}

/// The section's view: every fulfillment order with only the actions its state and the
/// user's role allow, and the last form's outcome.
pub(crate) fn section(
    order: &Order,
    locations: &[Location],
    stock: &HashMap<(String, String), i64>,
    auth: &Auth,
    fb: &FoFeedback,
) -> FulfillmentSection {
    let manage = auth.allows(Permission::ManageOrders);
    let answer = auth.allows(Permission::AnswerFulfillment);
    let ship = Ship {
        allowed: auth.allows(Permission::WriteStock) && order.status != OrderStatus::OnHold,
        service: order
            .shipping
            .service_level
            .clone()
            .filter(|s| !s.trim().is_empty() && s.len() <= 64)
            .unwrap_or_else(|| "standard".into()),
    };
    let fos: Vec<FoView> = order
        .fulfillment_orders
        .iter()
        .map(|f| fo_view(f, locations, stock, manage, answer, &ship, fb))
        .collect();
    let mut merges: Vec<MergeGroup> = Vec::new();
    if manage {
        for f in order
            .fulfillment_orders
            .iter()
            .filter(|f| f.status.is_editable())
        {
            let i = match merges.iter().position(|g| g.location == f.location) {
                Some(i) => i,
                None => {
                    let open = fb.is("merge", &f.location);
                    merges.push(MergeGroup {
                        location: f.location.clone(),
                        label: location_label(locations, &f.location),
                        items: vec![],
                        open,
                        message: open.then(|| fb.message.clone()),
                    });
                    merges.len() - 1
                }
            };
            let g = &mut merges[i];
            let checked = if g.open {
                fb.values
                    .as_ref()
                    .is_some_and(|v| v.all("fo").contains(&f.id))
            } else {
                true
            };
            g.items.push(MergeItem {
                id: f.id.clone(),
                units: f.units(),
                checked,
            });
        }
        merges.retain(|g| g.items.len() >= 2);
    }
    // A refusal shows in its form; the top carries successes, and refusals whose form
    // is no longer offered (the state changed meanwhile).
    let shown_in_form = fos.iter().any(|f| {
        (f.split_message.is_some() && f.can_split)
            || (f.move_message.is_some() && f.can_move)
            || (f.request_message.is_some() && (f.can_submit || f.can_accept || f.can_reject))
            || (f.ship_message.is_some() && f.can_ship)
    }) || merges.iter().any(|g| g.message.is_some());
    let mine = !fb.message.is_empty() && !fb.for_shipments();
    let message = (mine && (fb.ok || !shown_in_form)).then(|| Flash {
        ok: fb.ok,
        text: fb.message.clone(),
    });
    FulfillmentSection {
        fos,
        merges,
        message,
    }
}

/// Whether the ship form is offered, and what its service field starts with.
struct Ship {
    /// The user may write stock and the order is not on hold.
    allowed: bool,
    service: String,
}

/// What `ordo_store` ships, as far as the page can tell: work not finished, and for an
/// outside fulfiller an accepted request. Anything else the store still refuses in place.
fn ready_to_ship(f: &FulfillmentOrder) -> bool {
    matches!(
        f.status,
        FulfillmentStatus::Open
            | FulfillmentStatus::InProgress
            | FulfillmentStatus::Picked
            | FulfillmentStatus::Packed
    ) && !f.lines.is_empty()
        && f.request_status
            .is_none_or(|r| r == RequestStatus::Accepted)
}

fn carrier_label(code: &str) -> String {
    match code {
        "own_fleet" => "Own fleet".into(),
        "manual" => "Other carrier".into(),
        other => humanize(other),
    }
}

fn fo_view(
    f: &FulfillmentOrder,
    locations: &[Location],
    stock: &HashMap<(String, String), i64>,
    manage: bool,
    answer: bool,
    ship: &Ship,
    fb: &FoFeedback,
) -> FoView {
    let editable = f.status.is_editable();
    let targets: Vec<Opt> = if manage && editable {
        let chosen = if fb.is("move", &f.id) {
            fb.value("location").unwrap_or_default()
        } else {
            String::new()
        };
        locations
            .iter()
            .filter(|l| l.active && l.code != f.location)
            .map(|l| {
                let have = f
                    .lines
                    .iter()
                    .map(|line| {
                        let n = stock
                            .get(&(line.sku.clone(), l.code.clone()))
                            .copied()
                            .unwrap_or(0)
                            .max(0);
                        format!("{}: {n}", line.sku)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                Opt {
                    value: l.code.clone(),
                    label: format!("{} ({}) — available {have}", l.name, l.code),
                    selected: l.code == chosen,
                }
            })
            .collect()
    } else {
        vec![]
    };
    let may = |a| answer && request_transition(f.request_status, f.status, a).is_ok();
    let split_open = fb.is("split", &f.id);
    let move_open = fb.is("move", &f.id);
    let ship_open = fb.is("ship", &f.id);
    let ship_value = |k: &str| {
        if ship_open {
            fb.value(k).map(|v| v.trim().to_string())
        } else {
            None
        }
    };
    let ship_err = |k: &str| if ship_open { fb.err(k) } else { None };
    let request_form = ["submit", "accept", "reject"]
        .into_iter()
        .find(|k| fb.is(k, &f.id));
    let lines = f
        .lines
        .iter()
        .map(|l| {
            let key = format!("qty_{}", l.line_no);
            FoLine {
                line_no: l.line_no,
                sku: l.sku.clone(),
                quantity: l.quantity,
                split_value: if split_open {
                    fb.value(&key).unwrap_or_default()
                } else {
                    "0".into()
                },
                split_error: if split_open { fb.err(&key) } else { None },
                move_value: if move_open {
                    fb.value(&key).unwrap_or_default()
                } else {
                    l.quantity.to_string()
                },
                move_error: if move_open { fb.err(&key) } else { None },
            }
        })
        .collect();
    FoView {
        id: f.id.clone(),
        location: f.location.clone(),
        location_label: location_label(locations, &f.location),
        status: f.status.as_str(),
        status_label: humanize(f.status.as_str()),
        request_status: f.request_status.map_or("", |r| r.as_str()),
        request_label: f
            .request_status
            .map_or_else(String::new, |r| humanize(r.as_str())),
        reason: f.reason.clone(),
        lines,
        units: f.units(),
        active: f.status.is_active(),
        can_split: manage && editable && f.units() >= 2,
        can_move: manage && editable && !targets.is_empty(),
        can_submit: may(RequestAction::Submit),
        can_accept: may(RequestAction::Accept),
        can_reject: may(RequestAction::Reject),
        targets,
        split_open,
        move_open,
        reject_open: request_form == Some("reject"),
        split_message: split_open.then(|| fb.message.clone()),
        move_message: move_open.then(|| fb.message.clone()),
        request_message: request_form.map(|_| fb.message.clone()),
        location_error: if move_open { fb.err("location") } else { None },
        reason_value: if request_form == Some("reject") {
            fb.value("reason").unwrap_or_default()
        } else {
            String::new()
        },
        reason_error: if request_form == Some("reject") {
            fb.err("reason")
        } else {
            None
        },
        can_ship: ship.allowed && ready_to_ship(f),
        ship_open,
        ship_message: ship_open.then(|| fb.message.clone()),
        carriers: {
            let chosen = ship_value("carrier").unwrap_or_else(|| "own_fleet".into());
            ordo_domain::shipment::CARRIERS
                .iter()
                .map(|c| Opt {
                    value: c.to_string(),
                    label: carrier_label(c),
                    selected: *c == chosen,
                })
                .collect()
        },
        carrier_error: ship_err("carrier"),
        tracking_value: ship_value("tracking_number").unwrap_or_default(),
        tracking_error: ship_err("tracking_number"),
        service_value: ship_value("service").unwrap_or_else(|| ship.service.clone()),
        service_error: ship_err("service"),
        packages: (1..=PACKAGE_ROWS)
            .map(|n| {
                let v = |k: &str| ship_value(&format!("pkg{n}_{k}")).unwrap_or_default();
                let e = |k: &str| ship_err(&format!("pkg{n}_{k}"));
                let mut row = PackageRow {
                    n,
                    open: false,
                    weight: v("weight_g"),
                    length: v("length_mm"),
                    width: v("width_mm"),
                    height: v("height_mm"),
                    weight_error: e("weight_g"),
                    length_error: e("length_mm"),
                    width_error: e("width_mm"),
                    height_error: e("height_mm"),
                };
                row.open = n == 1
                    || [&row.weight, &row.length, &row.width, &row.height]
                        .iter()
                        .any(|v| !v.trim().is_empty())
                    || [
                        &row.weight_error,
                        &row.length_error,
                        &row.width_error,
                        &row.height_error,
                    ]
                    .iter()
                    .any(|e| e.is_some());
                row
            })
            .collect(),
    }
}

pub(crate) fn is_htmx(headers: &HeaderMap) -> bool {
    headers
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
}

/// Quantities typed per line (`qty_{line_no}`); empty or 0 leaves the line out. Returns
/// the entries and, per entry, its line number (to put the domain's `lines[i]` errors
/// next to the right input).
fn quantities(
    form: &FormData,
    fo: &FulfillmentOrder,
    errors: &mut Vec<FieldError>,
) -> (Vec<LineQuantityInput>, Vec<i32>) {
    let mut out = Vec::new();
    let mut index = Vec::new();
    for l in &fo.lines {
        let key = format!("qty_{}", l.line_no);
        let Some(text) = form.get(&key) else { continue };
        match text.parse::<i64>() {
            Ok(0) => {}
            Ok(n) if n < 0 => errors.push(FieldError::new(key, "must not be negative")),
            Ok(n) => {
                out.push(LineQuantityInput {
                    line_no: Some(l.line_no),
                    sku: None,
                    quantity: Some(n),
                });
                index.push(l.line_no);
            }
            Err(_) => errors.push(FieldError::new(key, "must be a whole number")),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "lines",
            "Enter a quantity for at least one line.",
        ));
    }
    (out, index)
}

/// The domain's field paths (`lines[1].quantity`) as this form's inputs (`qty_3`).
fn form_errors(errors: Vec<FieldError>, index: &[i32]) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(rest) = e.field.strip_prefix("lines[")
                && let Some((i, _)) = rest.split_once(']')
                && let Some(line_no) = i.parse::<usize>().ok().and_then(|i| index.get(i))
            {
                e.field = format!("qty_{line_no}");
            }
            e
        })
        .collect()
}

/// The message above a refused form: the errors no input shows, or a general hint.
fn refusal_message(errors: &[FieldError], shown: &[&str]) -> String {
    let loose: Vec<String> = errors
        .iter()
        .filter(|e| {
            !shown.contains(&e.field.as_str())
                && !e.field.starts_with("qty_")
                && !e.field.starts_with("pkg")
        })
        .map(|e| {
            if e.field == "lines" {
                sentence(&e.message)
            } else {
                format!("{}: {}", humanize(&e.field), e.message)
            }
        })
        .collect();
    if loose.is_empty() {
        "Not saved: please correct the fields marked below.".into()
    } else {
        format!("Not saved: {}", loose.join(" "))
    }
}

fn ids_of(o: &Order) -> Vec<String> {
    o.fulfillment_orders.iter().map(|f| f.id.clone()).collect()
}

fn units(n: i64) -> String {
    format!("{n} unit{}", if n == 1 { "" } else { "s" })
}

/// What happened, in words, from the order before and after.
fn summary(action: &str, id: &str, before: &Order, after: &Order, taken: i64) -> String {
    let old = ids_of(before);
    let new: Vec<&FulfillmentOrder> = after
        .fulfillment_orders
        .iter()
        .filter(|f| !old.contains(&f.id))
        .collect();
    let fo_after = after.fulfillment_orders.iter().find(|f| f.id == id);
    let location = fo_after.map(|f| f.location.as_str()).unwrap_or("");
    match action {
        "split" => format!(
            "{id} was split: {} now in {}.",
            units(taken),
            new.first()
                .map_or("a new fulfillment order", |f| f.id.as_str())
        ),
        "move" => match new.first() {
            Some(n) => format!(
                "{} of {id} moved to {} as {}; the reservation moved too.",
                units(taken),
                n.location,
                n.id
            ),
            None => format!("{id} was moved."),
        },
        "submit" => format!("{id} was submitted to {location}."),
        "accept" => format!("{location} accepted {id}."),
        "reject" => {
            let mut text = format!("{id} was rejected by {location}.");
            if new.is_empty() {
                text.push_str(" No other location has the stock; its units wait as backorders.");
            } else {
                text.push_str(&format!(
                    " Its units were routed again: {}.",
                    new.iter()
                        .map(|f| format!("{} at {} ({})", f.id, f.location, lines_text(&f.lines)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            text
        }
        _ => String::new(),
    }
}

/// Renders the order page with the feedback; a refusal keeps its status code.
pub(crate) async fn answer(
    s: &WebState,
    auth: &Auth,
    number: &str,
    status: StatusCode,
    fb: FoFeedback,
) -> WebResult {
    let p = render_order(s, auth, number, Some(fb)).await?;
    let mut r = page(&p.ctx, &p)?;
    *r.status_mut() = status;
    Ok(r)
}

pub(crate) fn refused(
    problem: Problem,
    form: &'static str,
    target: &str,
    index: &[i32],
) -> (StatusCode, FoFeedback) {
    let (status, errors, message) = match problem {
        Problem::Invalid(errors) => {
            let errors = form_errors(errors, index);
            let message = refusal_message(
                &errors,
                &[
                    "location",
                    "reason",
                    "fo",
                    "carrier",
                    "service",
                    "tracking_number",
                    "status",
                    "detail",
                ],
            );
            (StatusCode::UNPROCESSABLE_ENTITY, errors, message)
        }
        Problem::Conflict { message, .. } => (
            StatusCode::CONFLICT,
            vec![],
            format!("Not possible: {}", sentence(&message)),
        ),
        Problem::NotFound(what) => (
            StatusCode::NOT_FOUND,
            vec![],
            sentence(&format!("{what} was not found")),
        ),
    };
    (
        status,
        FoFeedback {
            ok: false,
            message,
            form,
            target: target.to_string(),
            errors,
            values: None,
        },
    )
}

/// `POST /orders/{number}/fulfillment/{id}/{action}`: split, move, submit, accept, reject.
pub(crate) async fn act(
    State(s): State<WebState>,
    Path((number, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    let (form_kind, permission): (&'static str, Permission) = match action.as_str() {
        "split" => ("split", Permission::ManageOrders),
        "move" => ("move", Permission::ManageOrders),
        "submit" => ("submit", Permission::AnswerFulfillment),
        "accept" => ("accept", Permission::AnswerFulfillment),
        "reject" => ("reject", Permission::AnswerFulfillment),
        "ship" => ("ship", Permission::WriteStock),
        _ => return Err(WebError::NotFound(format!("The action '{action}'"))),
    };
    auth.require(permission)?;
    let Some(before) = s.store.get_order(&number).await? else {
        return Err(WebError::NotFound(format!("Order {number}")));
    };
    let Some(fo) = before
        .fulfillment_orders
        .iter()
        .find(|f| f.id == id)
        .cloned()
    else {
        return Err(WebError::NotFound(format!(
            "Fulfillment order {id} of {number}"
        )));
    };
    if form_kind == "ship" {
        return crate::shipments::ship(&s, &auth, &headers, &number, &fo, form).await;
    }
    let mut errors = Vec::new();
    let mut index = Vec::new();
    let mut taken = 0;
    let change = match form_kind {
        "split" => {
            let (lines, idx) = quantities(&form, &fo, &mut errors);
            index = idx;
            taken = lines.iter().filter_map(|l| l.quantity).sum();
            FulfillmentChange::Split {
                id: id.clone(),
                lines,
            }
        }
        "move" => {
            let location = form.get("location").unwrap_or_else(|| {
                errors.push(FieldError::new("location", "choose where to ship from"));
                String::new()
            });
            let (lines, idx) = quantities(&form, &fo, &mut errors);
            index = idx;
            taken = lines.iter().filter_map(|l| l.quantity).sum();
            let whole = lines.len() == fo.lines.len()
                && lines
                    .iter()
                    .zip(&fo.lines)
                    .all(|(w, l)| w.quantity == Some(l.quantity));
            FulfillmentChange::Move {
                id: id.clone(),
                location,
                lines: (!whole).then_some(lines),
            }
        }
        kind => {
            let action = match kind {
                "submit" => RequestAction::Submit,
                "accept" => RequestAction::Accept,
                _ => RequestAction::Reject,
            };
            let reason = form.get("reason");
            if reason
                .as_ref()
                .is_some_and(|r| r.chars().count() > MAX_REASON)
            {
                errors.push(FieldError::new(
                    "reason",
                    format!("must be at most {MAX_REASON} characters"),
                ));
            }
            FulfillmentChange::Request {
                id: id.clone(),
                action,
                reason: (action == RequestAction::Reject)
                    .then_some(reason)
                    .flatten(),
            }
        }
    };
    let result = if errors.is_empty() {
        s.store.change_fulfillment(change, &auth.context()).await
    } else {
        Err(StoreError::Problem(Problem::Invalid(errors)))
    };
    match result {
        Ok(Outcome::Done(after)) => {
            let text = summary(form_kind, &id, &before, &after, taken);
            done(&s, &auth, &headers, &number, text).await
        }
        Ok(Outcome::Replayed { .. }) => {
            done(
                &s,
                &auth,
                &headers,
                &number,
                "This change was already applied.".into(),
            )
            .await
        }
        Err(StoreError::Problem(problem)) => {
            let (status, mut fb) = refused(problem, form_kind, &id, &index);
            fb.values = Some(form);
            answer(&s, &auth, &number, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn done(
    s: &WebState,
    auth: &Auth,
    headers: &HeaderMap,
    number: &str,
    text: String,
) -> WebResult {
    done_in(
        s,
        auth,
        headers,
        number,
        FoFeedback::done(text),
        "fulfillment",
    )
    .await
}

/// A success: with htmx the order page (its sections swapped in place), otherwise a
/// redirect to `#anchor` with the message.
pub(crate) async fn done_in(
    s: &WebState,
    auth: &Auth,
    headers: &HeaderMap,
    number: &str,
    fb: FoFeedback,
    anchor: &str,
) -> WebResult {
    if is_htmx(headers) {
        answer(s, auth, number, StatusCode::OK, fb).await
    } else {
        Ok(auth.redirect_with(
            &format!("/orders/{}#{anchor}", encode(number)),
            true,
            &fb.message,
        ))
    }
}

/// `POST /orders/{number}/fulfillment/merge`: the checked fulfillment orders into one.
pub(crate) async fn merge(
    State(s): State<WebState>,
    Path(number): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::ManageOrders)?;
    let Some(before) = s.store.get_order(&number).await? else {
        return Err(WebError::NotFound(format!("Order {number}")));
    };
    let ids = form.all("fo");
    let location = form.get("location").unwrap_or_default();
    for id in &ids {
        if !before.fulfillment_orders.iter().any(|f| &f.id == id) {
            return Err(WebError::NotFound(format!(
                "Fulfillment order {id} of {number}"
            )));
        }
    }
    let result = if ids.len() < 2 {
        Err(StoreError::Problem(Problem::invalid(
            "fo",
            "select two or more fulfillment orders",
        )))
    } else {
        s.store
            .change_fulfillment(
                FulfillmentChange::Merge { ids: ids.clone() },
                &auth.context(),
            )
            .await
    };
    match result {
        Ok(_) => {
            let mut sorted = ids.clone();
            sorted.sort_by_key(|i| {
                ordo_domain::fulfillment::parse_fulfillment_order_id(i).map_or(0, |x| x.1)
            });
            let text = format!("Merged {} into {}.", sorted[1..].join(", "), sorted[0]);
            done(&s, &auth, &headers, &number, text).await
        }
        Err(StoreError::Problem(problem)) => {
            let problem = match problem {
                // Paths such as `fulfillment_orders[1]` are about the checkboxes.
                Problem::Invalid(errors) => Problem::Invalid(
                    errors
                        .into_iter()
                        .map(|mut e| {
                            if e.field.starts_with("fulfillment_orders") {
                                e.field = "fo".into();
                            }
                            e
                        })
                        .collect(),
                ),
                other => other,
            };
            let (status, mut fb) = refused(problem, "merge", &location, &[]);
            if let Some(e) = fb.err("fo") {
                fb.message = format!("Not merged: {}", sentence(&e));
            }
            fb.values = Some(form);
            answer(&s, &auth, &number, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    location: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    fn text(v: &Option<String>) -> &str {
        v.as_deref().map(str::trim).unwrap_or("")
    }
    fn href(&self, cursor: &str) -> String {
        let q = query([
            ("location", Self::text(&self.location)),
            ("status", Self::text(&self.status)),
            ("cursor", cursor),
        ]);
        if q.is_empty() {
            "/fulfillment".into()
        } else {
            format!("/fulfillment?{q}")
        }
    }
}

struct ListRow {
    id: String,
    order: String,
    location: String,
    status: &'static str,
    status_label: String,
    request_label: String,
    reason: String,
    lines: String,
    units: i64,
    updated: String,
}

#[derive(Template)]
#[template(path = "fulfillment.html")]
struct ListPage {
    ctx: PageCtx,
    locations: Vec<Opt>,
    statuses: Vec<Opt>,
    error: Option<String>,
    rows: Vec<ListRow>,
    filtered: bool,
    paged: bool,
    first_href: String,
    next_href: Option<String>,
}

/// `GET /fulfillment`: fulfillment orders across orders, oldest order first.
pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    auth.require(Permission::Read)?;
    let locations = s.store.list_locations().await?;
    let location = ListQuery::text(&q.location);
    let status_text = ListQuery::text(&q.status);
    let mut error = None;
    let status = match status_text {
        "" => None,
        t => FulfillmentStatus::parse(t).or_else(|| {
            error = Some("Status: choose one of the listed statuses.".to_string());
            None
        }),
    };
    let cursor = ListQuery::text(&q.cursor).to_string();
    let (items, next) = if error.is_some() {
        (vec![], None)
    } else {
        let got = s
            .store
            .list_fulfillment_orders(
                &FulfillmentFilter {
                    location: Some(location.to_string()).filter(|l| !l.is_empty()),
                    status,
                },
                &PageRequest {
                    limit: Some(PAGE_SIZE),
                    cursor: Some(cursor.clone()).filter(|c| !c.is_empty()),
                },
            )
            .await;
        match got {
            Ok(p) => (p.items, p.next_cursor),
            Err(StoreError::Problem(p)) => {
                let (m, d) = crate::error::describe(&p);
                error = Some(std::iter::once(m).chain(d).collect::<Vec<_>>().join(" "));
                (vec![], None)
            }
            Err(e) => return Err(e.into()),
        }
    };
    let p = ListPage {
        ctx: PageCtx::new(&auth, "fulfillment"),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == location,
            })
            .collect(),
        statuses: FulfillmentStatus::ALL
            .iter()
            .map(|st| Opt {
                value: st.as_str().into(),
                label: humanize(st.as_str()),
                selected: st.as_str() == status_text,
            })
            .collect(),
        error,
        rows: items
            .iter()
            .map(|f| ListRow {
                id: f.id.clone(),
                order: f.order.clone(),
                location: f.location.clone(),
                status: f.status.as_str(),
                status_label: humanize(f.status.as_str()),
                request_label: f
                    .request_status
                    .map_or_else(String::new, |r| humanize(r.as_str())),
                reason: f.reason.clone().unwrap_or_default(),
                lines: lines_text(&f.lines),
                units: f.units(),
                updated: fmt_time(f.updated_at),
            })
            .collect(),
        filtered: !location.is_empty() || !status_text.is_empty(),
        paged: !cursor.is_empty(),
        first_href: q.href(""),
        next_href: next.map(|c| q.href(&c)),
    };
    Ok(page(&p.ctx, &p)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_paths_become_inputs() {
        let e = form_errors(
            vec![
                FieldError::new("lines[1].quantity", "must be between 1 and 2"),
                FieldError::new("lines", "a split must leave some units"),
                FieldError::new("location", "unknown"),
            ],
            &[2, 5],
        );
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["qty_5", "lines", "location"]);
        assert_eq!(
            refusal_message(&e, &["location"]),
            "Not saved: A split must leave some units."
        );
    }
}
