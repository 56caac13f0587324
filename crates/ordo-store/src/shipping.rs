//! Backend-neutral planning of shipments: shipping a fulfillment order takes its units out
//! of `on_hand` and `allocated` in one transaction; voiding a label before hand-over puts
//! them back; tracking events move the shipment (and, once everything is delivered, the
//! order) forward.

use std::collections::HashMap;

use ordo_domain::Problem;
use ordo_domain::catalog::{Location, LocationKind, Product};
use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, RequestStatus, parse_fulfillment_order_id,
};
use ordo_domain::inventory::{Reason, StockState};
use ordo_domain::order::{Order, OrderStatus};
use ordo_domain::shipment::{
    NewShipment, Package, Shipment, ShipmentStatus, TrackingEvent, check_voidable, shipment_number,
    tracking_transition,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::capture::EventRow;
use crate::fulfillment::{FulfillmentPlan, FulfillmentWrite, StockDelta};

/// What a shipment row keeps besides its key columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShipmentDoc {
    pub packages: Vec<Package>,
    pub lines: Vec<FulfillmentLine>,
    pub tracking: Vec<TrackingEvent>,
    #[serde(default)]
    pub rate_choice: Option<serde_json::Value>,
}

/// One shipment as stored.
#[derive(Debug, Clone)]
pub struct ShipmentRow {
    pub number: i64,
    pub order_number: i64,
    pub fo_no: i32,
    pub location: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub doc: ShipmentDoc,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl ShipmentRow {
    pub fn doc_json(&self) -> String {
        serde_json::to_string(&self.doc).expect("shipment documents serialise")
    }

    pub fn view(&self) -> Shipment {
        let id = shipment_number(self.number);
        Shipment {
            labels: ordo_domain::shipment::label_links(&id, &self.doc.packages),
            id,
            order: ordo_domain::order::order_number(self.order_number),
            fulfillment_order: ordo_domain::fulfillment::fulfillment_order_id(
                self.order_number,
                self.fo_no,
            ),
            location: self.location.clone(),
            carrier: self.carrier.clone(),
            service: self.service.clone(),
            tracking_number: self.tracking_number.clone(),
            status: self.status,
            packages: self.doc.packages.clone(),
            lines: self.doc.lines.clone(),
            tracking: self.doc.tracking.clone(),
            rate_choice: self.doc.rate_choice.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ShipmentFilter {
    pub order: Option<String>,
    pub location: Option<String>,
    pub status: Option<ShipmentStatus>,
}

/// A shipment change: the fulfillment writes (reservations, stock, lines, events) and the
/// shipment row to insert or update.
#[derive(Debug, Clone)]
pub struct ShipmentPlan {
    pub fulfillment: FulfillmentPlan,
    pub shipment: ShipmentRow,
}

/// A tracking number for Ordo's own fleet: a UPU S10 number (`OR` + 8-digit serial + check
/// digit + the shipping location's country), unique because the serial is the shipment's
/// number.
pub fn own_fleet_tracking_number(number: i64, country: Option<&str>) -> Result<String, Problem> {
    let country = country
        .map(str::trim)
        .filter(|c| c.len() == 2)
        .unwrap_or("ZZ")
        .to_ascii_uppercase();
    let serial = u32::try_from(number % 100_000_000)
        .map_err(|_| Problem::conflict("shipment serial out of range"))?;
    let prefix = ordo_labels::S10Prefix::new("OR", &country)
        .or_else(|_| ordo_labels::S10Prefix::new("OR", "ZZ"))
        .map_err(|e| Problem::conflict(format!("tracking number: {e}")))?;
    prefix
        .number(serial)
        .map(|n| n.to_string())
        .map_err(|e| Problem::conflict(format!("tracking number: {e}")))
}

/// The tracking number of a return's label: a UPU S10 number with service indicator `RT`,
/// the return's number as serial, and the destination's country.
pub fn return_tracking_number(rma_number: i64, country: Option<&str>) -> Result<String, Problem> {
    let country = country
        .map(str::trim)
        .filter(|c| c.len() == 2)
        .unwrap_or("ZZ")
        .to_ascii_uppercase();
    let serial = u32::try_from(rma_number % 100_000_000)
        .map_err(|_| Problem::conflict("return serial out of range"))?;
    let prefix = ordo_labels::S10Prefix::new("RT", &country)
        .or_else(|_| ordo_labels::S10Prefix::new("RT", "ZZ"))
        .map_err(|e| Problem::conflict(format!("tracking number: {e}")))?;
    prefix
        .number(serial)
        .map(|n| n.to_string())
        .map_err(|e| Problem::conflict(format!("tracking number: {e}")))
}

fn fo_no(id: &str) -> i32 {
    parse_fulfillment_order_id(id).map_or(0, |(_, n)| n)
}

fn order_no(order: &Order) -> i64 {
    ordo_domain::order::parse_order_number(&order.number).unwrap_or(0)
}

/// Which of an order's fulfillment orders ships, and why not when it cannot.
fn shippable<'o>(
    order: &'o Order,
    id: &str,
    locations: &[Location],
) -> Result<&'o FulfillmentOrder, Problem> {
    let fo = order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| Problem::NotFound(format!("fulfillment order {id}")))?;
    if order.status == OrderStatus::OnHold {
        return Err(Problem::Conflict {
            message: format!("order {} is on hold; release it first", order.number),
            current: Some(order.status.as_str().into()),
        });
    }
    let ready = matches!(
        fo.status,
        FulfillmentStatus::Open
            | FulfillmentStatus::InProgress
            | FulfillmentStatus::Picked
            | FulfillmentStatus::Packed
    );
    if !ready || fo.lines.is_empty() {
        return Err(Problem::Conflict {
            message: format!(
                "fulfillment order {id} is {}; it cannot ship",
                fo.status.as_str()
            ),
            current: Some(fo.status.as_str().into()),
        });
    }
    let outside = locations
        .iter()
        .find(|l| l.code == fo.location)
        .is_some_and(|l| matches!(l.kind, LocationKind::ThirdParty | LocationKind::Marketplace));
    if outside && fo.request_status != Some(RequestStatus::Accepted) {
        let current = fo.request_status.map_or("none", RequestStatus::as_str);
        return Err(Problem::Conflict {
            message: format!(
                "{} is run by an outside fulfiller; its request must be accepted before it ships (it is {current})",
                fo.location
            ),
            current: Some(current.into()),
        });
    }
    Ok(fo)
}

/// Ships every unit of one fulfillment order. `number` is the new shipment's number and
/// `tracking_number` its tracking number (generated or the carrier's).
pub fn plan_shipment(
    order: &Order,
    input: &NewShipment,
    number: i64,
    tracking_number: String,
    locations: &[Location],
    products: &HashMap<String, Product>,
    now: OffsetDateTime,
) -> Result<ShipmentPlan, Problem> {
    let fo = shippable(order, &input.fulfillment_order, locations)?;
    let reference = shipment_number(number);
    let mut plan = FulfillmentPlan::default();
    plan.writes.push(FulfillmentWrite {
        fo_no: fo_no(&fo.id),
        location: fo.location.clone(),
        status: FulfillmentStatus::Shipped,
        request_status: fo.request_status,
        reason: Some(format!("shipped in {reference}")),
        closed_lines: Some(fo.lines.clone()),
        lines: Vec::new(),
        created: false,
    });
    for l in &fo.lines {
        for state in [StockState::OnHand, StockState::Allocated] {
            plan.stock.push(StockDelta {
                sku: l.sku.clone(),
                location: fo.location.clone(),
                state,
                delta: -l.quantity,
                reason: Reason::Shipped,
            });
        }
        plan.line_shipped.push((l.line_no, l.quantity));
    }
    let packages = if input.packages.is_empty() {
        // One parcel weighing what the catalog says the units weigh.
        let weight: i64 = fo
            .lines
            .iter()
            .map(|l| l.quantity * products.get(&l.sku).map_or(0, |p| p.weight_g))
            .sum();
        vec![Package {
            number: 1,
            weight_g: weight.max(1),
            length_mm: None,
            width_mm: None,
            height_mm: None,
        }]
    } else {
        input.packages.clone()
    };
    plan.events.push(EventRow {
        kind: "shipment.created",
        data: serde_json::json!({
            "number": order.number, "shipment": reference, "fulfillment_order": fo.id,
            "location": fo.location, "carrier": input.carrier, "service": input.service,
            "tracking_number": tracking_number, "packages": packages.len(),
            "lines": fo.lines.iter().map(|l| serde_json::json!({"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity})).collect::<Vec<_>>(),
        }),
    });
    Ok(ShipmentPlan {
        fulfillment: plan,
        shipment: ShipmentRow {
            number,
            order_number: order_no(order),
            fo_no: fo_no(&fo.id),
            location: fo.location.clone(),
            carrier: input.carrier.clone(),
            service: input.service.clone(),
            tracking_number,
            status: ShipmentStatus::LabelCreated,
            doc: ShipmentDoc {
                packages,
                lines: fo.lines.clone(),
                tracking: Vec::new(),
                rate_choice: input.rate_choice.clone(),
            },
            created_at: now,
            updated_at: now,
        },
    })
}

/// Voids a label not yet handed over: the units go back on the shelf and into the
/// fulfillment order's reservation, which is open again.
pub fn plan_void(
    order: &Order,
    shipment: &ShipmentRow,
    now: OffsetDateTime,
) -> Result<ShipmentPlan, Problem> {
    check_voidable(shipment.status)?;
    let id = ordo_domain::fulfillment::fulfillment_order_id(shipment.order_number, shipment.fo_no);
    let fo = order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| Problem::NotFound(format!("fulfillment order {id}")))?;
    let reference = shipment_number(shipment.number);
    let mut plan = FulfillmentPlan::default();
    plan.writes.push(FulfillmentWrite {
        fo_no: shipment.fo_no,
        location: shipment.location.clone(),
        status: FulfillmentStatus::initial(order.status == OrderStatus::OnHold),
        request_status: fo.request_status,
        reason: Some(format!("{reference} voided")),
        closed_lines: None,
        lines: shipment.doc.lines.clone(),
        created: false,
    });
    for l in &shipment.doc.lines {
        for state in [StockState::OnHand, StockState::Allocated] {
            plan.stock.push(StockDelta {
                sku: l.sku.clone(),
                location: shipment.location.clone(),
                state,
                delta: l.quantity,
                reason: Reason::ShipmentVoided,
            });
        }
        plan.line_shipped.push((l.line_no, -l.quantity));
    }
    plan.events.push(EventRow {
        kind: "shipment.voided",
        data: serde_json::json!({"number": order.number, "shipment": reference, "fulfillment_order": id}),
    });
    let mut row = shipment.clone();
    row.status = ShipmentStatus::Voided;
    row.updated_at = now;
    Ok(ShipmentPlan {
        fulfillment: plan,
        shipment: row,
    })
}

/// Records a carrier's tracking event; returns the updated row and the event to append.
pub fn plan_tracking(
    shipment: &ShipmentRow,
    event: TrackingEvent,
    now: OffsetDateTime,
) -> Result<(ShipmentRow, EventRow), Problem> {
    let status = tracking_transition(shipment.status, event.status)?;
    let mut row = shipment.clone();
    row.status = status;
    row.updated_at = now;
    row.doc.tracking.push(event.clone());
    let mut data = serde_json::json!({
        "number": ordo_domain::order::order_number(shipment.order_number),
        "shipment": shipment_number(shipment.number), "status": status.as_str(),
        "at": event.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "detail": event.detail,
    });
    // A carrier exception is where delivery claims start: the event carries the claim to
    // open (`POST /api/v1/orders/{number}/claims`), ready for a person or an automation.
    if status == ShipmentStatus::Exception {
        let lines: Vec<serde_json::Value> = shipment
            .doc
            .lines
            .iter()
            .map(|l| serde_json::json!({"sku": l.sku, "quantity": l.quantity}))
            .collect();
        data["claim_suggestion"] = serde_json::json!({
            "type": "damaged_in_transit", "shipment": shipment_number(shipment.number),
            "resolution": "reship", "lines": lines,
        });
    }
    Ok((
        row,
        EventRow {
            kind: match status {
                ShipmentStatus::Delivered => "shipment.delivered",
                ShipmentStatus::Exception => "shipment.exception",
                _ => "shipment.tracking",
            },
            data,
        },
    ))
}

/// The tag a carrier exception puts on its order, for after-sale follow-up; it stays when
/// the parcel is delivered after all, since the customer may still have a complaint.
pub const DELIVERY_EXCEPTION_TAG: &str = "delivery_exception";

/// What a tracking event does to its order's document: an exception adds
/// [`DELIVERY_EXCEPTION_TAG`] to the order's tags (`doc` is the stored order document) and
/// raises `order.flagged`. `None` when the order is left as it is.
pub fn plan_flag(doc: &str, updated: &ShipmentRow) -> Result<Option<(String, EventRow)>, Problem> {
    if updated.status != ShipmentStatus::Exception {
        return Ok(None);
    }
    // The document is kept as JSON so that fields this code does not know survive.
    let mut value: serde_json::Value = serde_json::from_str(doc)
        .map_err(|e| Problem::conflict(format!("the order document is unreadable: {e}")))?;
    let tags = value
        .as_object_mut()
        .ok_or_else(|| Problem::conflict("the order document is not an object"))?
        .entry("tags")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    let Some(tags) = tags.as_array_mut() else {
        return Err(Problem::conflict("the order's tags are not a list"));
    };
    if tags.iter().any(|t| t == DELIVERY_EXCEPTION_TAG) {
        return Ok(None);
    }
    tags.push(DELIVERY_EXCEPTION_TAG.into());
    let detail = updated.doc.tracking.last().and_then(|e| e.detail.clone());
    let event = EventRow {
        kind: "order.flagged",
        data: serde_json::json!({
            "number": ordo_domain::order::order_number(updated.order_number),
            "tag": DELIVERY_EXCEPTION_TAG,
            "reason": "carrier_exception",
            "shipment": shipment_number(updated.number),
            "detail": detail,
        }),
    };
    Ok(Some((value.to_string(), event)))
}

/// The parcels a shipment of `fo_lines` would hand over: the given packages, else the
/// packed boxes, else one parcel weighing what the catalog says.
pub fn parcels_for(
    packages: &[Package],
    packing: Option<&crate::packing::Packing>,
    fo_lines: &[FulfillmentLine],
    products: &HashMap<String, Product>,
) -> Vec<Package> {
    if !packages.is_empty() {
        return packages.to_vec();
    }
    if let Some(p) = packing {
        return p.packages();
    }
    let weight: i64 = fo_lines
        .iter()
        .map(|l| l.quantity * products.get(&l.sku).map_or(0, |p| p.weight_g))
        .sum();
    vec![Package {
        number: 1,
        weight_g: weight.max(1),
        length_mm: None,
        width_mm: None,
        height_mm: None,
    }]
}

/// What a carrier service must allow for a shipment: what the packed boxes require, or,
/// when the fulfillment order was not packed through Ordo, what the packing policies
/// require of the handling classes of the products in `fo_lines`.
pub fn service_constraints(
    packing: Option<&crate::packing::Packing>,
    fo_lines: &[FulfillmentLine],
    products: &HashMap<String, Product>,
    policies: &ordo_warehouse::packing::PackingPolicies,
) -> ordo_warehouse::packing::ServiceConstraints {
    let mut constraints = ordo_warehouse::packing::ServiceConstraints::default();
    match packing {
        Some(p) => {
            for package in &p.plan.packages {
                constraints = constraints.and(&package.service);
            }
        }
        None => {
            // One service carries every parcel, so it must suit every class, whichever
            // box each unit ends up in.
            for l in fo_lines {
                if let Some(p) = products.get(&l.sku) {
                    constraints = constraints.and(&policies.rules(&p.handling_classes).service);
                }
            }
        }
    }
    constraints
}

/// Chooses the cheapest configured service that collects at the location, takes every
/// parcel, is allowed by the packing policies of what is inside (perishable: express and
/// no weekend in transit; hazmat: ground; see [`service_constraints`]) and is at least as
/// fast as the level the order paid for. Returns the carrier, the service code and the
/// recorded choice.
pub fn choose_rate(
    order: &Order,
    location: &Location,
    parcels: &[Package],
    constraints: ordo_warehouse::packing::ServiceConstraints,
    services: &[ordo_warehouse::shipping::CarrierService],
    now: OffsetDateTime,
) -> Result<(String, String, serde_json::Value), Problem> {
    use ordo_warehouse::shipping::{Parcel, ServiceLevel, ShipmentRequest, choose_service};
    let fallback = ordo_domain::catalog::Dimensions {
        length_mm: 300,
        width_mm: 200,
        height_mm: 150,
    };
    let offset = time::UtcOffset::from_whole_seconds(location.routing.utc_offset_seconds())
        .unwrap_or(time::UtcOffset::UTC);
    let request = ShipmentRequest {
        location: location.code.clone(),
        parcels: parcels
            .iter()
            .map(|p| Parcel {
                weight_g: p.weight_g,
                dimensions: match (p.length_mm, p.width_mm, p.height_mm) {
                    (Some(l), Some(w), Some(h)) => ordo_domain::catalog::Dimensions {
                        length_mm: l,
                        width_mm: w,
                        height_mm: h,
                    },
                    _ => fallback.clone(),
                },
            })
            .collect(),
        destination_zone: order
            .shipping_address
            .country
            .clone()
            .unwrap_or_default()
            .to_ascii_uppercase(),
        ready_at: now.to_offset(offset),
        promised_by: order.shipping.promised_by,
        constraints,
        order_level: order
            .shipping
            .service_level
            .as_deref()
            .and_then(ServiceLevel::parse),
    };
    let choice = choose_service(services, &request);
    let recorded = serde_json::to_value(&choice).unwrap_or_default();
    match &choice.chosen {
        Some(q) => Ok((q.carrier.clone(), q.service.clone(), recorded)),
        None => Err(Problem::Conflict {
            message: format!(
                "no configured service can take this shipment: {}",
                choice
                    .alternatives
                    .iter()
                    .map(|a| format!(
                        "{}/{}: {}",
                        a.carrier,
                        a.service,
                        a.reasons
                            .iter()
                            .map(|r| r.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            current: None,
        }),
    }
}

/// An end-of-day hand-over: every shipment of one carrier at one location labelled since
/// the last manifest. Closing it hands them to the carrier (`in_transit`; no more voids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    /// `MF-000001`.
    pub id: String,
    pub location: String,
    pub carrier: String,
    /// Shipment ids (`SH-000001`), oldest first.
    pub shipments: Vec<String>,
    pub packages: u32,
    pub weight_g: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

pub fn manifest_number(n: i64) -> String {
    format!("MF-{n:06}")
}

pub fn parse_manifest_number(s: &str) -> Option<i64> {
    s.trim()
        .strip_prefix("MF-")?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// Closes a manifest over `rows` (the carrier's unmanifested, labelled shipments at the
/// location): each is handed over, with a tracking event saying so.
pub fn plan_manifest(
    number: i64,
    location: &str,
    carrier: &str,
    rows: &[ShipmentRow],
    now: OffsetDateTime,
) -> Result<(Manifest, Vec<ShipmentRow>, Vec<EventRow>), Problem> {
    if rows.is_empty() {
        return Err(Problem::invalid(
            "carrier",
            format!("no {carrier} shipment at {location} is waiting for a manifest"),
        ));
    }
    let id = manifest_number(number);
    let mut updated = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let event = TrackingEvent {
            status: ShipmentStatus::InTransit,
            at: now,
            detail: Some(format!("handed over to {carrier} on manifest {id}")),
        };
        let (next, e) = plan_tracking(row, event, now)?;
        updated.push(next);
        events.push(e);
    }
    let manifest = Manifest {
        id,
        location: location.to_string(),
        carrier: carrier.to_string(),
        shipments: rows.iter().map(|r| shipment_number(r.number)).collect(),
        packages: rows.iter().map(|r| r.doc.packages.len() as u32).sum(),
        weight_g: rows
            .iter()
            .flat_map(|r| r.doc.packages.iter())
            .map(|p| p.weight_g)
            .sum(),
        created_at: now,
    };
    Ok((manifest, updated, events))
}
