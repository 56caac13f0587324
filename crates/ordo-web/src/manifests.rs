//! End of day at the dock (`/manifests`): the labelled shipments still waiting for their
//! carrier, grouped by location and carrier, a button that closes the manifest of a group
//! (the store hands every one of them over, exactly as `POST /api/v1/manifests` does), and
//! the closed manifests with their PDF for the driver to sign and their CSV.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ordo_domain::Problem;
use ordo_domain::shipment::{Shipment, ShipmentStatus};
use ordo_store::{Manifest, Outcome, PageRequest, Permission, ShipmentFilter, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::{encode, query};
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::shipments::carrier_name;
use crate::view::{PageCtx, fmt_time, group, page};

/// Waiting shipments read per page, and pages read at most: a dock with more than this
/// waiting has a bigger problem than this screen.
const OPEN_PAGE: i64 = 500;
const OPEN_PAGES: usize = 10;
/// Closed manifests listed.
const CLOSED: i64 = 50;

fn grams(g: i64) -> String {
    format!("{} g", group(&g.to_string()))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ManifestQuery {
    location: Option<String>,
}

struct WaitingShipment {
    id: String,
    order: String,
    service: String,
    parcels: usize,
}

/// The shipments of one carrier at one location that the next manifest will hand over.
struct OpenGroup {
    /// `WH1-own_fleet`, for the element ids.
    key: String,
    location: String,
    location_label: String,
    carrier: String,
    carrier_label: String,
    shipments: Vec<WaitingShipment>,
    parcels: usize,
    weight: String,
}

struct ClosedRow {
    id: String,
    location: String,
    carrier: String,
    shipments: usize,
    parcels: u32,
    weight: String,
    closed: String,
    pdf: String,
    csv: String,
}

impl ClosedRow {
    fn new(m: &Manifest) -> Self {
        ClosedRow {
            id: m.id.clone(),
            location: m.location.clone(),
            carrier: carrier_name(&m.carrier),
            shipments: m.shipments.len(),
            parcels: m.packages,
            weight: grams(m.weight_g),
            closed: fmt_time(m.created_at),
            pdf: format!("/manifests/{}/manifest.pdf", encode(&m.id)),
            csv: format!("/manifests/{}/manifest.csv", encode(&m.id)),
        }
    }
}

#[derive(Template)]
#[template(path = "manifests.html")]
struct ManifestsPage {
    ctx: PageCtx,
    locations: Vec<Opt>,
    location: String,
    can_close: bool,
    open: Vec<OpenGroup>,
    /// More shipments wait than were read: the groups are incomplete.
    open_more: bool,
    closed: Vec<ClosedRow>,
}

/// Every labelled shipment not handed over yet (closing a manifest moves them on to
/// `in_transit`, so `label_created` is exactly "on no manifest").
async fn waiting(s: &WebState, location: Option<&str>) -> WebResult<(Vec<Shipment>, bool)> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..OPEN_PAGES {
        let got = s
            .store
            .list_shipments(
                &ShipmentFilter {
                    order: None,
                    location: location.map(str::to_string),
                    status: Some(ShipmentStatus::LabelCreated),
                },
                &PageRequest {
                    limit: Some(OPEN_PAGE),
                    cursor,
                },
            )
            .await?;
        out.extend(got.items);
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((out, false)),
        }
    }
    Ok((out, true))
}

/// `GET /manifests`: what waits for each carrier, and the manifests closed so far.
pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ManifestQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let locations = s.store.list_locations().await?;
    let location = q
        .location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    if let Some(l) = &location
        && !locations.iter().any(|x| &x.code == l)
    {
        return Err(WebError::NotFound(format!("Location {l}")));
    }
    let label = |code: &str| {
        locations
            .iter()
            .find(|l| l.code == code)
            .map_or_else(|| code.to_string(), |l| format!("{} ({})", l.name, l.code))
    };
    let (shipments, open_more) = waiting(&s, location.as_deref()).await?;
    let mut groups: BTreeMap<(String, String), Vec<Shipment>> = BTreeMap::new();
    for sh in shipments {
        groups
            .entry((sh.location.clone(), sh.carrier.clone()))
            .or_default()
            .push(sh);
    }
    let open = groups
        .into_iter()
        .map(|((loc, carrier), mut list)| {
            // The driver's list runs oldest first, as the manifest prints it.
            list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            OpenGroup {
                key: format!("{loc}-{carrier}"),
                location_label: label(&loc),
                carrier_label: carrier_name(&carrier),
                parcels: list.iter().map(|s| s.packages.len()).sum(),
                weight: grams(
                    list.iter()
                        .flat_map(|s| &s.packages)
                        .map(|p| p.weight_g)
                        .sum(),
                ),
                shipments: list
                    .iter()
                    .map(|s| WaitingShipment {
                        id: s.id.clone(),
                        order: s.order.clone(),
                        service: s.service.clone(),
                        parcels: s.packages.len(),
                    })
                    .collect(),
                location: loc,
                carrier,
            }
        })
        .collect();
    let closed = s
        .store
        .list_manifests(
            location.as_deref(),
            &PageRequest {
                limit: Some(CLOSED),
                cursor: None,
            },
        )
        .await?;
    let chosen = location.clone().unwrap_or_default();
    let p = ManifestsPage {
        ctx: PageCtx::new(&auth, "manifests"),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == chosen,
            })
            .collect(),
        location: chosen,
        can_close: auth.allows(Permission::WriteStock),
        open,
        open_more,
        closed: closed.items.iter().map(ClosedRow::new).collect(),
    };
    page(&p.ctx, &p)
}

/// `POST /manifests`: closes the manifest of one carrier at one location; every labelled
/// shipment of theirs is handed over (`in_transit`, no more voids).
pub(crate) async fn close(State(s): State<WebState>, p: Posted) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let location = form.get("location").unwrap_or_default();
    let carrier = form.get("carrier").unwrap_or_default();
    let back = match form.get("back_location") {
        Some(l) => format!("/manifests?{}", query([("location", l.as_str())])),
        None => "/manifests".to_string(),
    };
    let result = if location.is_empty() || carrier.is_empty() {
        Err(StoreError::Problem(Problem::invalid(
            if location.is_empty() {
                "location"
            } else {
                "carrier"
            },
            "choose the group to close",
        )))
    } else {
        s.store
            .close_manifest(&location, &carrier, &auth.context())
            .await
    };
    match result {
        Ok(Outcome::Done(created)) => {
            let m = created.value;
            let text = format!(
                "{} closed: {} ({}, {}) handed over to {} at {}. Print it for the driver to sign.",
                m.id,
                plural(m.shipments.len(), "shipment", "shipments"),
                plural(m.packages as usize, "parcel", "parcels"),
                grams(m.weight_g),
                carrier_name(&m.carrier),
                m.location
            );
            Ok(auth.redirect_with(&back, true, &text))
        }
        Ok(Outcome::Replayed { .. }) => {
            Ok(auth.redirect_with(&back, true, "This manifest was already closed."))
        }
        Err(StoreError::Problem(problem)) => {
            let text = match problem {
                Problem::Invalid(errors) => format!(
                    "No manifest closed: {}",
                    errors
                        .iter()
                        .map(|e| sentence(&e.message))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Problem::Conflict { message, .. } => {
                    format!("No manifest closed: {}", sentence(&message))
                }
                Problem::NotFound(what) => sentence(&format!("{what} was not found")),
            };
            Ok(auth.redirect_with(&back, false, &text))
        }
        Err(e) => Err(e.into()),
    }
}

fn file_name(id: &str, ext: &str) -> String {
    // Manifest ids are `MF-000001`; anything else is left out of the file name.
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("manifest-{safe}.{ext}")
}

/// `GET /manifests/{id}/manifest.pdf`: the manifest as the API prints it.
pub(crate) async fn pdf(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let doc = ordo_http::documents::manifest(s.store.as_ref(), &id).await?;
    let pdf = doc.to_pdf().map_err(crate::labels::document_error)?;
    Ok(document(
        pdf,
        "application/pdf",
        "inline",
        &file_name(&id, "pdf"),
    ))
}

/// `GET /manifests/{id}/manifest.csv`: one row per parcel and a total row.
pub(crate) async fn csv(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let doc = ordo_http::documents::manifest(s.store.as_ref(), &id).await?;
    let csv = doc.to_csv().map_err(crate::labels::document_error)?;
    Ok(document(
        csv.into_bytes(),
        "text/csv; charset=utf-8",
        "attachment",
        &file_name(&id, "csv"),
    ))
}

fn document(body: Vec<u8>, content_type: &str, disposition: &str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_name("MF-000012", "pdf"), "manifest-MF-000012.pdf");
        assert_eq!(file_name("a\"/b", "csv"), "manifest-ab.csv");
        assert_eq!(plural(1, "parcel", "parcels"), "1 parcel");
        assert_eq!(grams(12500), "12,500 g");
    }
}
