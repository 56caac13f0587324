//! The catalog: products, locations, channels and what a channel may sell.

use askama::Template;
use axum::extract::{Query, State};
use ordo_store::{PageRequest, Permission, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebResult, describe};
use crate::form::query;
use crate::orders::Opt;
use crate::session::Auth;
use crate::view::{PageCtx, group, humanize, page};

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
}

#[derive(Template)]
#[template(path = "locations.html")]
struct LocationsPage {
    ctx: PageCtx,
    rows: Vec<LocationRow>,
}

pub(crate) async fn locations(State(s): State<WebState>, auth: Auth) -> WebResult {
    auth.require(Permission::Read)?;
    let list = s.store.list_locations().await?;
    let p = LocationsPage {
        ctx: PageCtx::new(&auth, "locations"),
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
    let p = ChannelsPage {
        ctx: PageCtx::new(&auth, "channels"),
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
            .map(|c| ChannelRow {
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
