//! Shipments: the ship form of a fulfillment order, the order page's shipments section
//! (labels, void, tracking events), the list across orders at `/shipments`, and the
//! labels themselves under the session.
//!
//! Like the fulfillment forms, every form posts normally (a redirect with a message on
//! success, the page with the form open and its errors on a refusal); with htmx the same
//! answer re-renders the sections in place.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::fulfillment::FulfillmentOrder;
use ordo_domain::order::{OrderStatus, parse_order_number};
use ordo_domain::shipment::{
    NewShipment, Package, PackageInput, Shipment, ShipmentInput, ShipmentStatus, TrackingEventInput,
};
use ordo_domain::{FieldError, Problem};
use ordo_store::{Outcome, Page, PageRequest, Permission, ShipmentFilter, StoreError};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::WebState;
use crate::error::{WebError, WebResult};
use crate::form::{FormData, encode, query};
use crate::fulfillment::{FoFeedback, PACKAGE_ROWS, answer, done_in, lines_text, refused};
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::{Flash, PageCtx, fmt_time, group, humanize, page};

const PAGE_SIZE: i64 = 50;
/// Shipments shown on an order page; more than that links to the filtered list.
const ORDER_SHIPMENTS: i64 = 50;

/// `own_fleet` as the shipments section names it (the form says more).
pub(crate) fn carrier_name(code: &str) -> String {
    match code {
        "own_fleet" => "Own fleet".into(),
        other => humanize(other),
    }
}

/// A package's figures: `900 g · 300 × 200 × 100 mm`.
fn package_text(p: &Package) -> String {
    let mut text = format!("{} g", group(&p.weight_g.to_string()));
    let dims: Vec<String> = [p.length_mm, p.width_mm, p.height_mm]
        .into_iter()
        .flatten()
        .map(|d| group(&d.to_string()))
        .collect();
    if !dims.is_empty() {
        text.push_str(&format!(" · {} mm", dims.join(" × ")));
    }
    text
}

pub(crate) fn label_href(id: &str, package: u32, ext: &str) -> String {
    let base = format!("/shipments/{}/label.{ext}", encode(id));
    if package == 1 {
        base
    } else {
        format!("{base}?package={package}")
    }
}

/// A shipment that is still valid (not voided) has printable labels.
fn has_labels(s: &Shipment) -> bool {
    s.status != ShipmentStatus::Voided
}

/// Tracking reports are no longer accepted once a shipment is closed.
fn is_closed(s: ShipmentStatus) -> bool {
    matches!(
        s,
        ShipmentStatus::Voided | ShipmentStatus::Delivered | ShipmentStatus::ReturnedToSender
    )
}

/// The carrier's likely next report, preselected in the tracking form.
fn next_status(s: ShipmentStatus) -> ShipmentStatus {
    match s {
        ShipmentStatus::InTransit => ShipmentStatus::OutForDelivery,
        ShipmentStatus::OutForDelivery => ShipmentStatus::Delivered,
        _ => ShipmentStatus::InTransit,
    }
}

// ---------------------------------------------------------------------------------------
// The ship form

fn whole(form: &FormData, key: String, unit: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let text = form.get(&key)?;
    match text.parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError::new(
                key,
                format!("must be a whole number of {unit}"),
            ));
            None
        }
    }
}

/// The ship form as the API's `ShipmentInput`, checked the same way. Package rows left
/// empty are skipped; the domain's `packages[i].…` errors come back as the row's inputs.
fn ship_input(form: &FormData, id: &str) -> Result<NewShipment, Problem> {
    const FIELDS: [&str; 4] = ["weight_g", "length_mm", "width_mm", "height_mm"];
    let mut errors = Vec::new();
    let mut packages = Vec::new();
    let mut rows = Vec::new();
    for n in 1..=PACKAGE_ROWS {
        let key = |k: &str| format!("pkg{n}_{k}");
        if FIELDS.iter().all(|k| form.get(&key(k)).is_none()) {
            continue;
        }
        let weight_g = whole(form, key("weight_g"), "grams", &mut errors);
        if form.get(&key("weight_g")).is_none() {
            errors.push(FieldError::new(
                key("weight_g"),
                "enter the package's weight in grams",
            ));
        }
        let length_mm = whole(form, key("length_mm"), "millimetres", &mut errors);
        let width_mm = whole(form, key("width_mm"), "millimetres", &mut errors);
        let height_mm = whole(form, key("height_mm"), "millimetres", &mut errors);
        packages.push(PackageInput {
            weight_g,
            length_mm,
            width_mm,
            height_mm,
        });
        rows.push(n);
    }
    let input = ShipmentInput {
        fulfillment_order: Some(id.to_string()),
        carrier: form.get("carrier"),
        service: form.get("service"),
        tracking_number: form.get("tracking_number"),
        packages,
    };
    let checked = input.validate();
    if let Err(Problem::Invalid(domain)) = &checked {
        for mut e in domain.iter().cloned() {
            if let Some(rest) = e.field.strip_prefix("packages[")
                && let Some((i, name)) = rest.split_once("].")
                && let Some(n) = i.parse::<usize>().ok().and_then(|i| rows.get(i))
            {
                e.field = format!("pkg{n}_{name}");
            }
            if !errors.iter().any(|have| have.field == e.field) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        checked
    } else {
        Err(Problem::Invalid(errors))
    }
}

/// `POST /orders/{number}/fulfillment/{id}/ship` (routed through the fulfillment actions):
/// every unit of the fulfillment order leaves in one shipment with its label.
pub(crate) async fn ship(
    s: &WebState,
    auth: &Auth,
    headers: &HeaderMap,
    number: &str,
    fo: &FulfillmentOrder,
    form: FormData,
) -> WebResult {
    let result = match ship_input(&form, &fo.id) {
        Ok(input) => s.store.create_shipment(input, &auth.context()).await,
        Err(p) => Err(StoreError::Problem(p)),
    };
    match result {
        Ok(Outcome::Done(created)) => {
            let sh = created.value;
            let text = format!(
                "{} shipped as {} ({}, {}); tracking number {}.",
                fo.id,
                sh.id,
                carrier_name(&sh.carrier),
                sh.service,
                sh.tracking_number
            );
            done_in(
                s,
                auth,
                headers,
                number,
                FoFeedback::done(text),
                "shipments",
            )
            .await
        }
        Ok(Outcome::Replayed { .. }) => {
            let fb = FoFeedback::done("This change was already applied.".into());
            done_in(s, auth, headers, number, fb, "shipments").await
        }
        Err(StoreError::Problem(problem)) => {
            let (status, mut fb) = refused(problem, "ship", &fo.id, &[]);
            fb.values = Some(form);
            answer(s, auth, number, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------
// The order page's shipments section

pub(crate) struct PackageView {
    pub number: u32,
    pub count: usize,
    pub text: String,
    pub pdf: String,
    pub zpl: String,
}

pub(crate) struct TrackView {
    pub at: String,
    pub status: &'static str,
    pub label: String,
    pub detail: String,
}

pub(crate) struct ShipmentView {
    pub id: String,
    pub fulfillment_order: String,
    pub location: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    pub status: &'static str,
    pub status_label: String,
    pub created: String,
    pub lines: String,
    pub packages: Vec<PackageView>,
    pub tracking: Vec<TrackView>,
    pub labels: bool,
    pub closed: bool,
    pub can_void: bool,
    pub can_track: bool,
    pub void_open: bool,
    pub void_message: Option<String>,
    pub track_open: bool,
    pub track_message: Option<String>,
    pub statuses: Vec<Opt>,
    pub status_error: Option<String>,
    pub detail_value: String,
    pub detail_error: Option<String>,
}

pub(crate) struct ShipmentsSection {
    pub items: Vec<ShipmentView>,
    pub message: Option<Flash>,
    /// The list of this order's shipments, when the page shows only the newest.
    pub more_href: Option<String>,
}

fn packages_of(s: &Shipment) -> Vec<PackageView> {
    s.packages
        .iter()
        .map(|p| PackageView {
            number: p.number,
            count: s.packages.len(),
            text: package_text(p),
            pdf: label_href(&s.id, p.number, "pdf"),
            zpl: label_href(&s.id, p.number, "zpl"),
        })
        .collect()
}

fn shipment_view(s: &Shipment, write: bool, fb: &FoFeedback) -> ShipmentView {
    let void_open = fb.is("void", &s.id);
    let track_open = fb.is("tracking", &s.id);
    let chosen = if track_open {
        fb.value("status").unwrap_or_default()
    } else {
        next_status(s.status).as_str().to_string()
    };
    ShipmentView {
        id: s.id.clone(),
        fulfillment_order: s.fulfillment_order.clone(),
        location: s.location.clone(),
        carrier: carrier_name(&s.carrier),
        service: humanize(&s.service),
        tracking_number: s.tracking_number.clone(),
        status: s.status.as_str(),
        status_label: humanize(s.status.as_str()),
        created: fmt_time(s.created_at),
        lines: lines_text(&s.lines),
        packages: packages_of(s),
        tracking: s
            .tracking
            .iter()
            .map(|t| TrackView {
                at: fmt_time(t.at),
                status: t.status.as_str(),
                label: humanize(t.status.as_str()),
                detail: t.detail.clone().unwrap_or_default(),
            })
            .collect(),
        labels: has_labels(s),
        closed: is_closed(s.status),
        can_void: write && s.status == ShipmentStatus::LabelCreated,
        can_track: write && !is_closed(s.status),
        void_open,
        void_message: void_open.then(|| fb.message.clone()),
        track_open,
        track_message: track_open.then(|| fb.message.clone()),
        statuses: ShipmentStatus::ALL
            .iter()
            .filter(|st| ShipmentStatus::parse_tracking(st.as_str()).is_some())
            .map(|st| Opt {
                value: st.as_str().into(),
                label: humanize(st.as_str()),
                selected: st.as_str() == chosen,
            })
            .collect(),
        status_error: if track_open { fb.err("status") } else { None },
        detail_value: if track_open {
            fb.value("detail").unwrap_or_default()
        } else {
            String::new()
        },
        detail_error: if track_open { fb.err("detail") } else { None },
    }
}

/// The order's shipments, newest first, with the forms the user's role allows.
pub(crate) async fn section(
    s: &WebState,
    number: &str,
    auth: &Auth,
    fb: &FoFeedback,
) -> WebResult<ShipmentsSection> {
    let page = s
        .store
        .list_shipments(
            &ShipmentFilter {
                order: Some(number.to_string()),
                location: None,
                status: None,
            },
            &PageRequest {
                limit: Some(ORDER_SHIPMENTS),
                cursor: None,
            },
        )
        .await?;
    let write = auth.allows(Permission::WriteStock);
    let items: Vec<ShipmentView> = page
        .items
        .iter()
        .map(|sh| shipment_view(sh, write, fb))
        .collect();
    let shown_in_form = items.iter().any(|v| {
        (v.void_message.is_some() && v.can_void) || (v.track_message.is_some() && v.can_track)
    });
    let message =
        (fb.for_shipments() && !fb.message.is_empty() && (fb.ok || !shown_in_form)).then(|| {
            Flash {
                ok: fb.ok,
                text: fb.message.clone(),
            }
        });
    Ok(ShipmentsSection {
        items,
        message,
        more_href: page
            .next_cursor
            .map(|_| format!("/shipments?{}", query([("order", number)]))),
    })
}

/// `POST /orders/{number}/shipments/{id}/{action}`: `void` or `tracking`.
pub(crate) async fn act(
    State(s): State<WebState>,
    Path((number, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    let kind: &'static str = match action.as_str() {
        "void" => "void",
        "tracking" => "tracking",
        _ => return Err(WebError::NotFound(format!("The action '{action}'"))),
    };
    auth.require(Permission::WriteStock)?;
    let ours = s
        .store
        .get_shipment(&id)
        .await?
        .is_some_and(|sh| sh.order == number);
    if !ours {
        return Err(WebError::NotFound(format!("Shipment {id} of {number}")));
    }
    let ctx = auth.context();
    let result = if kind == "void" {
        s.store.void_shipment(&id, &ctx).await
    } else {
        let input = TrackingEventInput {
            status: form.get("status"),
            at: None,
            detail: form.get("detail"),
        };
        match input.validate(OffsetDateTime::now_utc()) {
            Ok(event) => s.store.add_tracking_event(&id, event, &ctx).await,
            Err(p) => Err(StoreError::Problem(p)),
        }
    };
    let text = match result {
        Ok(Outcome::Done(after)) if kind == "void" => format!(
            "{id} was voided: its units are back in stock at {} and {} is open again.",
            after.location, after.fulfillment_order
        ),
        Ok(Outcome::Done(after)) => {
            let mut text = format!("{id}: {} recorded.", humanize(after.status.as_str()));
            if after.status == ShipmentStatus::Delivered
                && let Some(o) = s.store.get_order(&number).await?
                && o.status == OrderStatus::Delivered
            {
                text.push_str(&format!(" {number} is delivered."));
            }
            text
        }
        Ok(Outcome::Replayed { .. }) => "This change was already applied.".into(),
        Err(StoreError::Problem(problem)) => {
            let (status, mut fb) = refused(problem, kind, &id, &[]);
            fb.values = Some(form);
            return answer(&s, &auth, &number, status, fb).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut fb = FoFeedback::done(text);
    fb.form = kind;
    fb.target = id;
    done_in(&s, &auth, &headers, &number, fb, "shipments").await
}

// ---------------------------------------------------------------------------------------
// Labels

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LabelQuery {
    package: Option<String>,
}

impl LabelQuery {
    fn package(&self) -> WebResult<u32> {
        match self
            .package
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => Ok(1),
            Some(p) => p.parse().map_err(|_| {
                WebError::Problem(Problem::invalid("package", "must be a whole number"))
            }),
        }
    }
}

fn label_file(id: &str, package: u32, ext: &str) -> String {
    // Shipment ids are `SH-000001`; anything else is left out of the file name.
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("label-{safe}-{package}.{ext}")
}

/// `GET /shipments/{id}/label.pdf`: the 4×6 in label, as the API builds it.
pub(crate) async fn label_pdf(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<LabelQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let package = q.package()?;
    let label = ordo_http::documents::shipping_label(s.store.as_ref(), &id, package).await?;
    let pdf = label.to_pdf().map_err(crate::labels::document_error)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}\"", label_file(&id, package, "pdf")),
            ),
        ],
        pdf,
    )
        .into_response())
}

/// `GET /shipments/{id}/label.zpl`: the same label for 203-dpi thermal printers.
pub(crate) async fn label_zpl(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<LabelQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let package = q.package()?;
    let label = ordo_http::documents::shipping_label(s.store.as_ref(), &id, package).await?;
    let zpl = label.to_zpl().map_err(crate::labels::document_error)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    label_file(&id, package, "zpl")
                ),
            ),
        ],
        zpl,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------
// The list across orders

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    location: Option<String>,
    status: Option<String>,
    order: Option<String>,
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
            ("order", Self::text(&self.order)),
            ("cursor", cursor),
        ]);
        if q.is_empty() {
            "/shipments".into()
        } else {
            format!("/shipments?{q}")
        }
    }
}

struct ListRow {
    id: String,
    order: String,
    fulfillment_order: String,
    location: String,
    carrier: String,
    service: String,
    tracking_number: String,
    status: &'static str,
    status_label: String,
    packages: String,
    lines: String,
    created: String,
    labels: bool,
    pdf: String,
    zpl: String,
}

impl ListRow {
    fn new(s: &Shipment) -> Self {
        let weight: i64 = s.packages.iter().map(|p| p.weight_g).sum();
        let n = s.packages.len();
        ListRow {
            id: s.id.clone(),
            order: s.order.clone(),
            fulfillment_order: s.fulfillment_order.clone(),
            location: s.location.clone(),
            carrier: carrier_name(&s.carrier),
            service: humanize(&s.service),
            tracking_number: s.tracking_number.clone(),
            status: s.status.as_str(),
            status_label: humanize(s.status.as_str()),
            packages: format!(
                "{n} parcel{} · {} g",
                if n == 1 { "" } else { "s" },
                group(&weight.to_string())
            ),
            lines: lines_text(&s.lines),
            created: fmt_time(s.created_at),
            labels: has_labels(s),
            pdf: label_href(&s.id, 1, "pdf"),
            zpl: label_href(&s.id, 1, "zpl"),
        }
    }
}

#[derive(Template)]
#[template(path = "shipments.html")]
struct ListPage {
    ctx: PageCtx,
    locations: Vec<Opt>,
    statuses: Vec<Opt>,
    order: String,
    errors: Vec<String>,
    rows: Vec<ListRow>,
    filtered: bool,
    paged: bool,
    first_href: String,
    next_href: Option<String>,
}

/// `GET /shipments`: shipments across orders, newest first.
pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    auth.require(Permission::Read)?;
    let locations = s.store.list_locations().await?;
    let location = ListQuery::text(&q.location);
    let status_text = ListQuery::text(&q.status);
    let order = ListQuery::text(&q.order);
    let mut errors = Vec::new();
    let status = match status_text {
        "" => None,
        t => ShipmentStatus::parse(t).or_else(|| {
            errors.push("Status: choose one of the listed statuses.".to_string());
            None
        }),
    };
    if !order.is_empty() && parse_order_number(order).is_none() {
        errors.push("Order: enter an order number such as SO-000123.".to_string());
    }
    let cursor = ListQuery::text(&q.cursor).to_string();
    let (items, next) = if !errors.is_empty() {
        (vec![], None)
    } else {
        let got = s
            .store
            .list_shipments(
                &ShipmentFilter {
                    order: Some(order.to_string()).filter(|o| !o.is_empty()),
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
            Ok(Page { items, next_cursor }) => (items, next_cursor),
            Err(StoreError::Problem(p)) => {
                let (m, d) = crate::error::describe(&p);
                errors.push(std::iter::once(m).chain(d).collect::<Vec<_>>().join(" "));
                (vec![], None)
            }
            Err(e) => return Err(e.into()),
        }
    };
    let p = ListPage {
        ctx: PageCtx::new(&auth, "shipments"),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == location,
            })
            .collect(),
        statuses: ShipmentStatus::ALL
            .iter()
            .map(|st| Opt {
                value: st.as_str().into(),
                label: humanize(st.as_str()),
                selected: st.as_str() == status_text,
            })
            .collect(),
        order: order.to_string(),
        errors,
        rows: items.iter().map(ListRow::new).collect(),
        filtered: !location.is_empty() || !status_text.is_empty() || !order.is_empty(),
        paged: !cursor.is_empty(),
        first_href: q.href(""),
        next_href: next.map(|c| q.href(&c)),
    };
    Ok(page(&p.ctx, &p)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        FormData::parse(body.as_bytes())
    }

    fn fields(r: Result<NewShipment, Problem>) -> Vec<String> {
        match r {
            Err(Problem::Invalid(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_package_rows_are_skipped() {
        let s = ship_input(
            &form(&[
                ("carrier", "own_fleet"),
                ("service", "express"),
                ("pkg1_weight_g", ""),
                ("pkg2_weight_g", "900"),
                ("pkg2_length_mm", "300"),
            ]),
            "SO-000001-1",
        )
        .unwrap();
        assert_eq!(s.service, "express");
        assert_eq!(s.packages.len(), 1);
        assert_eq!(s.packages[0].weight_g, 900);
        assert_eq!(s.packages[0].length_mm, Some(300));
        let s = ship_input(&form(&[]), "SO-000001-1").unwrap();
        assert!(s.packages.is_empty(), "the store weighs from the catalog");
        assert_eq!(s.carrier, "own_fleet");
    }

    #[test]
    fn errors_name_the_row_inputs() {
        let r = ship_input(
            &form(&[
                ("carrier", "manual"),
                ("pkg1_weight_g", "1.5"),
                ("pkg3_weight_g", "-4"),
                ("pkg3_height_mm", "0"),
                ("pkg2_width_mm", "10"),
            ]),
            "SO-000001-1",
        );
        assert_eq!(
            fields(r),
            [
                "pkg1_weight_g",
                "pkg2_weight_g",
                "tracking_number",
                "pkg3_weight_g",
                "pkg3_height_mm"
            ]
        );
    }

    #[test]
    fn page_links_keep_the_filters() {
        let q = ListQuery {
            location: Some("WH1".into()),
            status: Some(" voided ".into()),
            order: Some("SO-000001".into()),
            cursor: Some("old".into()),
        };
        assert_eq!(
            q.href("abc"),
            "/shipments?location=WH1&status=voided&order=SO-000001&cursor=abc"
        );
        assert_eq!(ListQuery::default().href(""), "/shipments");
    }

    #[test]
    fn label_files_are_plain() {
        assert_eq!(label_file("SH-000001", 2, "zpl"), "label-SH-000001-2.zpl");
        assert_eq!(label_file("a\"b", 1, "pdf"), "label-ab-1.pdf");
        assert_eq!(
            label_href("SH-000001", 1, "pdf"),
            "/shipments/SH-000001/label.pdf"
        );
        assert_eq!(
            label_href("SH-000001", 2, "zpl"),
            "/shipments/SH-000001/label.zpl?package=2"
        );
    }
}
