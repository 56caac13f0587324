//! The catalog: products, locations, channels and what a channel may sell.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ordo_domain::catalog::{
    Channel, ChannelInput, HandlingClass, Location, LocationInput, LocationRouting,
    LocationRoutingInput, SplitPolicy,
};
use ordo_domain::{FieldError, Problem};
use ordo_store::{PageRequest, Permission, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::bins::{BinsForm, BinsSection, LayoutForm};
use crate::connectors::{Cards, Given, import_summary};
use crate::error::{WebError, WebResult, describe, sentence};
use crate::form::{FormData, query};
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::{Flash, PageCtx, group, humanize, page};

#[derive(Deserialize)]
pub(crate) struct CursorQuery {
    cursor: Option<String>,
}

struct ProductRow {
    sku: String,
    name: String,
    category: String,
    barcode: String,
    handling: String,
    weight_g: i64,
    price: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    ctx: PageCtx,
    rows: Vec<ProductRow>,
    can_import: bool,
    paged: bool,
    next_href: Option<String>,
}

pub(crate) async fn products(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<CursorQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let list = s
        .store
        .list_products(&PageRequest {
            limit: Some(50),
            cursor: cursor.clone(),
        })
        .await?;
    let p = ProductsPage {
        ctx: PageCtx::new(&auth, "products"),
        can_import: auth.allows(Permission::ManageCatalog),
        rows: list
            .items
            .iter()
            .map(|p| ProductRow {
                sku: p.sku.clone(),
                name: p.name.clone(),
                category: p.category.clone().unwrap_or_default(),
                barcode: p.barcode.clone().unwrap_or_default(),
                handling: p
                    .handling_classes
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                weight_g: p.weight_g,
                price: format!("{} {}", group(&p.price), p.currency),
                active: p.active,
            })
            .collect(),
        paged: cursor.is_some(),
        next_href: list
            .next_cursor
            .map(|c| format!("/products?{}", query([("cursor", c.as_str())]))),
    };
    page(&p.ctx, &p)
}

struct LocationRow {
    code: String,
    name: String,
    kind: String,
    place: String,
    priority: i32,
    ships_to: String,
    active: bool,
    routing: String,
}

#[derive(Template)]
#[template(path = "locations.html")]
struct LocationsPage {
    ctx: PageCtx,
    rows: Vec<LocationRow>,
    can_edit: bool,
    can_import_bins: bool,
}

pub(crate) async fn locations(State(s): State<WebState>, auth: Auth) -> WebResult {
    auth.require(Permission::Read)?;
    let list = s.store.list_locations().await?;
    let p = LocationsPage {
        ctx: PageCtx::new(&auth, "locations"),
        can_edit: auth.allows(Permission::ManageCatalog),
        can_import_bins: auth.allows(Permission::WriteStock),
        rows: list
            .iter()
            .map(|l| LocationRow {
                code: l.code.clone(),
                name: l.name.clone(),
                kind: humanize(l.kind.as_str()),
                place: [l.address.city.as_deref(), l.address.country.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                priority: l.priority,
                ships_to: if l.ships_to.is_empty() {
                    "everywhere".into()
                } else {
                    l.ships_to.join(", ")
                },
                active: l.active,
                routing: routing_summary(&l.routing),
            })
            .collect(),
    };
    page(&p.ctx, &p)
}

#[derive(Deserialize)]
pub(crate) struct ChannelQuery {
    channel: Option<String>,
    sku: Option<String>,
}

struct ChannelRow {
    code: String,
    name: String,
    kind: String,
    currency: String,
    locations: String,
    buffer: i64,
    max_listed: String,
    active: bool,
    split: String,
    /// `(text, badge class)` for channels on a platform.
    connection: Option<(&'static str, &'static str)>,
}

struct AvailabilityRow {
    sku: String,
    available_to_sell: i64,
    locations: String,
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    ctx: PageCtx,
    can_edit: bool,
    rows: Vec<ChannelRow>,
    channel_options: Vec<Opt>,
    sku: String,
    asked: bool,
    channel: String,
    availability: Vec<AvailabilityRow>,
    availability_error: Option<String>,
}

pub(crate) async fn channels(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ChannelQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let list = s.store.list_channels().await?;
    let channel = q
        .channel
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let sku = q
        .sku
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let mut availability = vec![];
    let mut availability_error = None;
    if let Some(code) = &channel {
        let page = PageRequest {
            limit: Some(25),
            cursor: None,
        };
        match s
            .store
            .channel_availability(code, sku.as_deref(), &page)
            .await
        {
            Ok(p) => {
                availability = p
                    .items
                    .into_iter()
                    .map(|a| AvailabilityRow {
                        sku: a.sku,
                        available_to_sell: a.available_to_sell,
                        locations: a
                            .locations
                            .iter()
                            .map(|l| format!("{}: {}", l.location, l.available))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                    .collect();
                if availability.is_empty() {
                    availability_error = Some("Nothing found for this channel and SKU.".into());
                }
            }
            Err(StoreError::Problem(p)) => {
                let (m, d) = describe(&p);
                availability_error =
                    Some(std::iter::once(m).chain(d).collect::<Vec<_>>().join(" "));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let current = channel.clone().unwrap_or_default();
    let mut badges = Vec::with_capacity(list.len());
    for c in &list {
        badges.push(crate::connectors::badge(&s, c).await);
    }
    let p = ChannelsPage {
        ctx: PageCtx::new(&auth, "channels"),
        can_edit: auth.allows(Permission::ManageCatalog),
        channel_options: list
            .iter()
            .map(|c| Opt {
                value: c.code.clone(),
                label: format!("{} ({})", c.name, c.code),
                selected: c.code == current,
            })
            .collect(),
        rows: list
            .iter()
            .zip(badges)
            .map(|(c, connection)| ChannelRow {
                connection,
                code: c.code.clone(),
                name: c.name.clone(),
                kind: humanize(c.kind.as_str()),
                currency: c.currency.clone(),
                locations: if c.locations.is_empty() {
                    "all active".into()
                } else {
                    c.locations.join(", ")
                },
                buffer: c.buffer,
                max_listed: c.max_listed.map_or_else(|| "—".into(), |m| m.to_string()),
                active: c.active,
                split: split_summary(c),
            })
            .collect(),
        sku: sku.unwrap_or_default(),
        asked: channel.is_some(),
        channel: current,
        availability,
        availability_error,
    };
    page(&p.ctx, &p)
}

/// `handling 1.50 · 200 a day · safety 2 · not fragile · UTC+01:00`.
pub(crate) fn routing_summary(r: &LocationRouting) -> String {
    let mut parts = vec![format!("handling {}", r.handling_cost)];
    parts.push(match r.daily_capacity {
        Some(c) => format!("{c} a day"),
        None => "no daily limit".into(),
    });
    if r.safety_stock > 0 {
        parts.push(format!("safety {}", r.safety_stock));
    }
    if !r.cannot_ship.is_empty() {
        parts.push(format!(
            "not {}",
            r.cannot_ship
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    parts.push(format!("UTC{}", r.utc_offset));
    parts.join(" · ")
}

fn split_summary(c: &Channel) -> String {
    match c.split_policy {
        SplitPolicy::Allow => "allowed".into(),
        SplitPolicy::Never => "never".into(),
        SplitPolicy::AllowIfOrderValueAbove => format!(
            "above {} {}",
            group(c.split_order_value_above.as_deref().unwrap_or("0")),
            c.currency
        ),
    }
}

const CLASSES: [HandlingClass; 4] = [
    HandlingClass::Fragile,
    HandlingClass::Perishable,
    HandlingClass::Hazmat,
    HandlingClass::Oversize,
];

/// A settings form: the values to show, and errors keyed by input name.
pub(crate) struct SettingsForm {
    pub values: Vec<(&'static str, String)>,
    pub checked: Vec<String>,
    pub errors: Vec<FieldError>,
    pub message: Option<String>,
}

impl SettingsForm {
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
    pub fn is_checked(&self, v: &str) -> bool {
        self.checked.iter().any(|c| c == v)
    }
}

/// Parse errors first, then the domain's, one per input; errors for fields this form has
/// no input for become the message.
fn refused(
    mut form: SettingsForm,
    parse: Vec<FieldError>,
    problem: Problem,
    rename: impl Fn(&str) -> Option<&'static str>,
) -> (StatusCode, SettingsForm) {
    let mut errors = parse;
    let mut loose = Vec::new();
    let status = match problem {
        Problem::Invalid(more) => {
            for e in more {
                match rename(&e.field) {
                    Some(name) => {
                        if !errors.iter().any(|p| p.field == name) {
                            errors.push(FieldError::new(name, e.message));
                        }
                    }
                    None => loose.push(format!("{}: {}", e.field, e.message)),
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Problem::Conflict { message, .. } => {
            loose.push(sentence(&message));
            StatusCode::CONFLICT
        }
        Problem::NotFound(what) => {
            loose.push(sentence(&format!("{what} was not found")));
            StatusCode::NOT_FOUND
        }
    };
    form.message = Some(if loose.is_empty() {
        "Not saved: please correct the fields marked below.".into()
    } else {
        format!("Not saved: {}", loose.join(" "))
    });
    form.errors = errors;
    (status, form)
}

fn whole(
    f: &FormData,
    name: &'static str,
    errors: &mut Vec<FieldError>,
    what: &str,
) -> Option<i64> {
    let v = f.get(name)?;
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(
                name,
                format!("must be a whole number{what}"),
            ));
            None
        }
    }
}

#[derive(Template)]
#[template(path = "location.html")]
struct LocationPage {
    ctx: PageCtx,
    l: Location,
    kind: String,
    place: String,
    ships_to: String,
    routing: String,
    can_edit: bool,
    form: SettingsForm,
    classes: Vec<Opt>,
    bins: BinsSection,
}

fn location_form(l: &Location) -> SettingsForm {
    let r = &l.routing;
    SettingsForm {
        values: vec![
            ("handling_cost", r.handling_cost.clone()),
            (
                "daily_capacity",
                r.daily_capacity.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("safety_stock", r.safety_stock.to_string()),
            ("utc_offset", r.utc_offset.clone()),
        ],
        checked: r
            .cannot_ship
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        errors: vec![],
        message: None,
    }
}

fn location_page(auth: &Auth, l: Location, form: SettingsForm, bins: BinsSection) -> LocationPage {
    LocationPage {
        bins,
        ctx: PageCtx::new(auth, "locations"),
        kind: humanize(l.kind.as_str()),
        place: [
            l.address.line1.as_deref(),
            l.address.postal_code.as_deref(),
            l.address.city.as_deref(),
            l.address.country.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
        ships_to: if l.ships_to.is_empty() {
            "everywhere".into()
        } else {
            l.ships_to.join(", ")
        },
        routing: routing_summary(&l.routing),
        can_edit: auth.allows(Permission::ManageCatalog),
        classes: CLASSES
            .iter()
            .map(|c| Opt {
                value: c.as_str().into(),
                label: humanize(c.as_str()),
                selected: form.is_checked(c.as_str()),
            })
            .collect(),
        form,
        l,
    }
}

/// `GET /locations/{code}`: the location and its routing settings.
pub(crate) async fn location(
    State(s): State<WebState>,
    auth: Auth,
    Path(code): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let Some(l) = s.store.get_location(&code).await? else {
        return Err(WebError::NotFound(format!("Location {code}")));
    };
    let form = location_form(&l);
    let bins = crate::bins::section(&s, &auth, &l.code, BinsForm::default(), None).await?;
    let p = location_page(&auth, l, form, bins);
    page(&p.ctx, &p)
}

/// The location page with the pick-bin form as given (after a refusal of a paste).
pub(crate) async fn location_response(
    s: &WebState,
    auth: &Auth,
    code: &str,
    bins_form: BinsForm,
    layout_form: Option<LayoutForm>,
) -> WebResult {
    let Some(l) = s.store.get_location(code).await? else {
        return Err(WebError::NotFound(format!("Location {code}")));
    };
    let form = location_form(&l);
    let bins = crate::bins::section(s, auth, &l.code, bins_form, layout_form).await?;
    let p = location_page(auth, l, form, bins);
    page(&p.ctx, &p)
}

/// `POST /locations/{code}/routing`: saves the routing settings, the rest of the location
/// as it is.
pub(crate) async fn save_location_routing(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let Some(l) = s.store.get_location(&code).await? else {
        return Err(WebError::NotFound(format!("Location {code}")));
    };
    let f = &p.form;
    let mut parse = Vec::new();
    let routing = LocationRoutingInput {
        handling_cost: f.get("handling_cost"),
        daily_capacity: whole(f, "daily_capacity", &mut parse, ", or empty for no limit"),
        safety_stock: whole(f, "safety_stock", &mut parse, ""),
        cannot_ship: f.all("cannot_ship"),
        utc_offset: f.get("utc_offset"),
    };
    let input = LocationInput {
        code: Some(l.code.clone()),
        name: Some(l.name.clone()),
        kind: Some(l.kind.as_str().to_string()),
        address: Some(l.address.clone()),
        latitude: l.latitude,
        longitude: l.longitude,
        priority: Some(l.priority),
        active: Some(l.active),
        ships_to: l.ships_to.clone(),
        routing: Some(routing),
        gs1_company_prefix: l.gs1_company_prefix.clone(),
    };
    let result = match input.validate() {
        Ok(valid) if parse.is_empty() => s
            .store
            .put_location(valid, &p.auth.context())
            .await
            .map(|_| ()),
        Ok(_) => Err(StoreError::Problem(Problem::Invalid(vec![]))),
        Err(problem) => Err(StoreError::Problem(problem)),
    };
    let problem = match result {
        Ok(()) => {
            return Ok(p.auth.redirect_with(
                "/locations",
                true,
                &format!("{code}: routing settings saved."),
            ));
        }
        Err(StoreError::Problem(problem)) => problem,
        Err(e) => return Err(e.into()),
    };
    let kept = SettingsForm {
        values: [
            "handling_cost",
            "daily_capacity",
            "safety_stock",
            "utc_offset",
        ]
        .into_iter()
        .map(|n| (n, f.raw(n)))
        .collect(),
        checked: f.all("cannot_ship"),
        errors: vec![],
        message: None,
    };
    let (status, form) = refused(kept, parse, problem, |field| {
        Some(match field {
            "routing.handling_cost" => "handling_cost",
            "routing.daily_capacity" => "daily_capacity",
            "routing.safety_stock" => "safety_stock",
            "routing.utc_offset" => "utc_offset",
            f if f.starts_with("routing.cannot_ship") => "cannot_ship",
            _ => return None,
        })
    });
    let bins = crate::bins::section(&s, &p.auth, &l.code, BinsForm::default(), None).await?;
    let page_view = location_page(&p.auth, l, form, bins);
    let mut r = page(&page_view.ctx, &page_view)?;
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Template)]
#[template(path = "channel.html")]
struct ChannelPage {
    ctx: PageCtx,
    c: Channel,
    kind: String,
    locations: String,
    split: String,
    can_edit: bool,
    form: SettingsForm,
    policies: Vec<Opt>,
    conn: Cards,
}

fn channel_form(c: &Channel) -> SettingsForm {
    SettingsForm {
        values: vec![
            ("split_policy", policy_str(c.split_policy).into()),
            (
                "split_order_value_above",
                c.split_order_value_above.clone().unwrap_or_default(),
            ),
        ],
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

fn policy_str(p: SplitPolicy) -> &'static str {
    match p {
        SplitPolicy::Allow => "allow",
        SplitPolicy::Never => "never",
        SplitPolicy::AllowIfOrderValueAbove => "allow_if_order_value_above",
    }
}

fn channel_page(auth: &Auth, c: Channel, form: SettingsForm, conn: Cards) -> ChannelPage {
    let current = form.val("split_policy").to_string();
    ChannelPage {
        conn,
        ctx: PageCtx::new(auth, "channels"),
        kind: humanize(c.kind.as_str()),
        locations: if c.locations.is_empty() {
            "all active locations".into()
        } else {
            c.locations.join(", ")
        },
        split: split_summary(&c),
        can_edit: auth.allows(Permission::ManageCatalog),
        policies: [
            (
                "allow",
                "Allowed: ship from several locations when cheaper or needed",
            ),
            (
                "never",
                "Never: one shipment, or wait for one location to hold it all",
            ),
            (
                "allow_if_order_value_above",
                "Only for orders worth more than a threshold",
            ),
        ]
        .into_iter()
        .map(|(v, l)| Opt {
            value: v.into(),
            label: l.into(),
            selected: v == current,
        })
        .collect(),
        form,
        c,
    }
}

#[derive(Deserialize)]
pub(crate) struct ChannelPageQuery {
    mappings_after: Option<String>,
}

/// `GET /channels/{code}`: the channel, its split policy and, for a channel on a platform,
/// its connection, sync, SKU mappings and waiting orders; order CSV imports for all.
pub(crate) async fn channel(
    State(s): State<WebState>,
    auth: Auth,
    Path(code): Path<String>,
    Query(q): Query<ChannelPageQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let Some(c) = s.store.get_channel(&code).await? else {
        return Err(WebError::NotFound(format!("Channel {code}")));
    };
    let after = q.mappings_after.filter(|a| !a.is_empty());
    channel_response(&s, &auth, c, None, Given::default(), after.as_deref()).await
}

/// The channel page with the forms as given (after a refusal, or an import's report).
pub(crate) async fn channel_response(
    s: &WebState,
    auth: &Auth,
    c: Channel,
    split_form: Option<SettingsForm>,
    given: Given,
    mappings_after: Option<&str>,
) -> WebResult {
    let form = split_form.unwrap_or_else(|| channel_form(&c));
    let mut flash = None;
    if let Some(r) = &given.report {
        flash = Some(Flash {
            ok: r.errors.is_empty(),
            text: import_summary(r),
        });
    }
    let conn = crate::connectors::cards(s, auth, &c, given, mappings_after).await?;
    let mut p = channel_page(auth, c, form, conn);
    if flash.is_some() {
        p.ctx.flash = flash;
    }
    page(&p.ctx, &p)
}

/// `POST /channels/{code}/split-policy`.
pub(crate) async fn save_split_policy(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let Some(c) = s.store.get_channel(&code).await? else {
        return Err(WebError::NotFound(format!("Channel {code}")));
    };
    let f = &p.form;
    let policy = f.get("split_policy");
    // The threshold only means something with its policy; another choice clears it.
    let threshold = f
        .get("split_order_value_above")
        .filter(|_| policy.as_deref() == Some("allow_if_order_value_above"));
    let input = ChannelInput {
        code: Some(c.code.clone()),
        name: Some(c.name.clone()),
        kind: Some(c.kind.as_str().to_string()),
        currency: Some(c.currency.clone()),
        locations: c.locations.clone(),
        buffer: Some(c.buffer),
        max_listed: c.max_listed,
        active: Some(c.active),
        split_policy: policy,
        split_order_value_above: threshold,
    };
    let result = match input.validate() {
        Ok(valid) => s
            .store
            .put_channel(valid, &p.auth.context())
            .await
            .map(|_| ()),
        Err(problem) => Err(StoreError::Problem(problem)),
    };
    let problem = match result {
        Ok(()) => {
            return Ok(p.auth.redirect_with(
                "/channels",
                true,
                &format!("{code}: split policy saved."),
            ));
        }
        Err(StoreError::Problem(problem)) => problem,
        Err(e) => return Err(e.into()),
    };
    let kept = SettingsForm {
        values: ["split_policy", "split_order_value_above"]
            .into_iter()
            .map(|n| (n, f.raw(n)))
            .collect(),
        checked: vec![],
        errors: vec![],
        message: None,
    };
    let (status, form) = refused(kept, vec![], problem, |field| match field {
        "split_policy" => Some("split_policy"),
        "split_order_value_above" => Some("split_order_value_above"),
        _ => None,
    });
    let mut r = channel_response(&s, &p.auth, c, Some(form), Given::default(), None).await?;
    *r.status_mut() = status;
    Ok(r)
}
