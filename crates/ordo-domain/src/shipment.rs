//! Shipments: what leaves a location for a customer, with its parcels, carrier, tracking
//! number and delivery progress. Shipping a fulfillment order takes its units out of stock.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::{Errors, Problem};
use crate::fulfillment::FulfillmentLine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Label printed; the parcel has not been handed to the carrier yet (it can be voided).
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    /// The carrier reports a problem; after-sale follows up.
    Exception,
    ReturnedToSender,
    /// Cancelled before hand-over; its stock went back.
    Voided,
    /// Declared lost (a claim says so); its units were reshipped or refunded.
    Lost,
}

impl ShipmentStatus {
    pub const ALL: [ShipmentStatus; 8] = [
        ShipmentStatus::LabelCreated,
        ShipmentStatus::InTransit,
        ShipmentStatus::OutForDelivery,
        ShipmentStatus::Delivered,
        ShipmentStatus::Exception,
        ShipmentStatus::ReturnedToSender,
        ShipmentStatus::Voided,
        ShipmentStatus::Lost,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::LabelCreated => "label_created",
            ShipmentStatus::InTransit => "in_transit",
            ShipmentStatus::OutForDelivery => "out_for_delivery",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Exception => "exception",
            ShipmentStatus::ReturnedToSender => "returned_to_sender",
            ShipmentStatus::Voided => "voided",
            ShipmentStatus::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// What a carrier may report (`label_created` and `voided` are Ordo's own).
    pub fn parse_tracking(s: &str) -> Option<Self> {
        Self::parse(s)
            .filter(|s| !matches!(s, ShipmentStatus::LabelCreated | ShipmentStatus::Voided))
    }
}

/// The status after a carrier's tracking event, or 409 when the shipment is closed.
pub fn tracking_transition(
    current: ShipmentStatus,
    reported: ShipmentStatus,
) -> Result<ShipmentStatus, Problem> {
    match current {
        ShipmentStatus::Voided | ShipmentStatus::Delivered | ShipmentStatus::ReturnedToSender => {
            Err(Problem::Conflict {
                message: format!(
                    "the shipment is {}; no further tracking events are accepted",
                    current.as_str()
                ),
                current: Some(current.as_str().into()),
            })
        }
        _ => Ok(reported),
    }
}

/// Only a label not yet handed to the carrier can be voided.
pub fn check_voidable(current: ShipmentStatus) -> Result<(), Problem> {
    if current == ShipmentStatus::LabelCreated {
        Ok(())
    } else {
        Err(Problem::Conflict {
            message: format!(
                "the shipment is {}; only a label not yet handed over can be voided",
                current.as_str()
            ),
            current: Some(current.as_str().into()),
        })
    }
}

/// One parcel of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Package {
    /// 1-based: "package n of m" on the label.
    pub number: u32,
    pub weight_g: i64,
    pub length_mm: Option<i64>,
    pub width_mm: Option<i64>,
    pub height_mm: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PackageInput {
    pub weight_g: Option<i64>,
    pub length_mm: Option<i64>,
    pub width_mm: Option<i64>,
    pub height_mm: Option<i64>,
}

/// A tracking event as reported by a carrier (or entered by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrackingEvent {
    pub status: ShipmentStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TrackingEventInput {
    /// in_transit, out_for_delivery, delivered, exception or returned_to_sender.
    pub status: Option<String>,
    /// RFC 3339; defaults to now.
    pub at: Option<String>,
    pub detail: Option<String>,
}

impl TrackingEventInput {
    pub fn validate(self, now: OffsetDateTime) -> Result<TrackingEvent, Problem> {
        let mut errors = Errors::default();
        let status = self
            .status
            .as_deref()
            .and_then(ShipmentStatus::parse_tracking);
        if status.is_none() {
            errors.add(
                "status",
                "must be one of in_transit, out_for_delivery, delivered, exception, returned_to_sender",
            );
        }
        let at = match self.at.as_deref() {
            None => Some(now),
            Some(text) => {
                let parsed =
                    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                        .ok();
                if parsed.is_none() {
                    errors.add("at", "must be an RFC 3339 timestamp");
                }
                parsed
            }
        };
        if self.detail.as_ref().is_some_and(|d| d.len() > 500) {
            errors.add("detail", "must be at most 500 characters");
        }
        errors.finish(|| TrackingEvent {
            status: status.unwrap_or(ShipmentStatus::InTransit),
            at: at.unwrap_or(now),
            detail: self.detail,
        })
    }
}

/// Body of `POST /api/v1/shipments`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ShipmentInput {
    /// The fulfillment order to ship (`SO-000123-1`); all of its units leave together.
    pub fulfillment_order: Option<String>,
    /// `own_fleet` (Ordo's numbers) or another carrier's code with its `tracking_number`.
    /// Leave carrier and service out to let Ordo choose the cheapest configured service that
    /// the packages' classes and the order's service level allow.
    pub carrier: Option<String>,
    pub service: Option<String>,
    /// A carrier-issued tracking number (required for `manual`; generated for `own_fleet`).
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub packages: Vec<PackageInput>,
}

/// A validated shipment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShipment {
    pub fulfillment_order: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: Option<String>,
    /// Empty: the packed boxes, or one package whose weight the store works out.
    pub packages: Vec<Package>,
    /// Neither carrier nor service was given: choose among the configured services.
    pub auto: bool,
    /// The service choice and its alternatives, recorded with the shipment.
    pub rate_choice: Option<serde_json::Value>,
}

/// Ordo's own carrier: it issues check-digited tracking numbers itself.
pub const OWN_FLEET: &str = "own_fleet";

/// Carriers that work with no configuration: Ordo's own fleet, and `manual` for any other
/// carrier whose tracking number is typed in.
pub const CARRIERS: [&str; 2] = [OWN_FLEET, "manual"];

/// Carrier codes are short lowercase words (`own_fleet`, `dhl`, `ups`, `manual`).
pub fn is_carrier_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl ShipmentInput {
    pub fn validate(self) -> Result<NewShipment, Problem> {
        self.validate_with(|_| false)
    }

    /// `booked` says which carriers have an adapter that books the parcel and returns
    /// the tracking number; for the others (but Ordo's own fleet) the number is required.
    pub fn validate_with(self, booked: impl Fn(&str) -> bool) -> Result<NewShipment, Problem> {
        let mut errors = Errors::default();
        let fulfillment_order = self.fulfillment_order.unwrap_or_default();
        if crate::fulfillment::parse_fulfillment_order_id(&fulfillment_order).is_none() {
            errors.add(
                "fulfillment_order",
                "must be a fulfillment order id such as SO-000123-1",
            );
        }
        let auto = self.carrier.is_none() && self.service.is_none();
        let carrier = self.carrier.unwrap_or_else(|| OWN_FLEET.into());
        if !is_carrier_code(&carrier) {
            errors.add(
                "carrier",
                "must be a carrier code such as own_fleet, manual or dhl",
            );
        }
        let tracking_number = self.tracking_number.filter(|t| !t.trim().is_empty());
        if !auto && carrier != OWN_FLEET && !booked(&carrier) && tracking_number.is_none() {
            errors.add(
                "tracking_number",
                format!("is required for carrier {carrier} (the carrier's own number)"),
            );
        }
        if carrier == OWN_FLEET && tracking_number.is_some() {
            errors.add(
                "tracking_number",
                "is generated for own_fleet shipments; leave it out",
            );
        }
        if tracking_number.as_ref().is_some_and(|t| {
            t.len() > 64 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }) {
            errors.add(
                "tracking_number",
                "must be at most 64 letters, digits or dashes",
            );
        }
        let service = self.service.unwrap_or_else(|| "standard".into());
        if service.trim().is_empty() || service.len() > 64 {
            errors.add("service", "must be 1 to 64 characters");
        }
        if self.packages.len() > 99 {
            errors.add("packages", "at most 99 packages per shipment");
        }
        let mut packages = Vec::new();
        for (i, p) in self.packages.into_iter().enumerate() {
            let weight = p.weight_g.unwrap_or(0);
            if weight <= 0 {
                errors.add(format!("packages[{i}].weight_g"), "must be positive");
            }
            for (name, v) in [
                ("length_mm", p.length_mm),
                ("width_mm", p.width_mm),
                ("height_mm", p.height_mm),
            ] {
                if v.is_some_and(|v| v <= 0) {
                    errors.add(format!("packages[{i}].{name}"), "must be positive");
                }
            }
            packages.push(Package {
                number: i as u32 + 1,
                weight_g: weight,
                length_mm: p.length_mm,
                width_mm: p.width_mm,
                height_mm: p.height_mm,
            });
        }
        errors.finish(|| NewShipment {
            fulfillment_order,
            carrier,
            service,
            tracking_number,
            packages,
            auto,
            rate_choice: None,
        })
    }
}

/// The API view of a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    /// `SH-000001`.
    pub id: String,
    pub order: String,
    pub fulfillment_order: String,
    pub location: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub packages: Vec<Package>,
    /// Where each package's 4×6 label is printed from, in the order of `packages`.
    #[serde(default)]
    pub labels: Vec<LabelLinks>,
    pub lines: Vec<FulfillmentLine>,
    pub tracking: Vec<TrackingEvent>,
    /// How the service was chosen: the chosen quote and every alternative with why not.
    pub rate_choice: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// The label URLs of one package of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LabelLinks {
    /// The package's number (1-based).
    pub package: u32,
    /// `/api/v1/shipments/{id}/label.pdf?package=n`
    pub pdf: String,
    /// `/api/v1/shipments/{id}/label.zpl?package=n`
    pub zpl: String,
}

/// The label URLs of every package of shipment `id`; a shipment always has a label, so one
/// without recorded packages still gets the first.
pub fn label_links(id: &str, packages: &[Package]) -> Vec<LabelLinks> {
    let numbers: Vec<u32> = if packages.is_empty() {
        vec![1]
    } else {
        packages.iter().map(|p| p.number).collect()
    };
    numbers
        .into_iter()
        .map(|n| LabelLinks {
            package: n,
            pdf: format!("/api/v1/shipments/{id}/label.pdf?package={n}"),
            zpl: format!("/api/v1/shipments/{id}/label.zpl?package={n}"),
        })
        .collect()
}

pub fn shipment_number(n: i64) -> String {
    format!("SH-{n:06}")
}

pub fn parse_shipment_number(s: &str) -> Option<i64> {
    s.trim()
        .strip_prefix("SH-")?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}
