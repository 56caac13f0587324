//! Claims as stored: key columns plus a document, and the API view.

use ordo_domain::claims::{ClaimLine, ClaimResolution, ClaimType, NewClaim};
use ordo_domain::money::{Currency, format_amount};
use ordo_domain::order::order_number;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::capture::EventRow;

/// A delivery claim (`CLM-000042`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Claim {
    pub id: String,
    pub order: String,
    #[serde(rename = "type")]
    pub kind: ClaimType,
    pub resolution: ClaimResolution,
    pub lines: Vec<ClaimLine>,
    pub shipment: Option<String>,
    pub notes: Option<String>,
    /// Due to the customer for a `refund` resolution; decimal string.
    pub refund: String,
    pub currency: String,
    /// The zero-price order that reships the lines (`reship`).
    #[serde(default)]
    pub reship_order: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDoc {
    pub kind: ClaimType,
    pub resolution: ClaimResolution,
    pub lines: Vec<ClaimLine>,
    pub shipment: Option<String>,
    pub notes: Option<String>,
    pub refund_minor: i64,
}

impl ClaimDoc {
    pub fn new(c: NewClaim) -> Self {
        ClaimDoc {
            kind: c.kind,
            resolution: c.resolution,
            lines: c.lines,
            shipment: c.shipment,
            notes: c.notes,
            refund_minor: c.refund_minor,
        }
    }

    pub fn view(
        &self,
        number: i64,
        order: i64,
        currency: &str,
        created_at: OffsetDateTime,
    ) -> Claim {
        Claim {
            id: claim_number(number),
            order: order_number(order),
            kind: self.kind,
            resolution: self.resolution,
            lines: self.lines.clone(),
            shipment: self.shipment.clone(),
            notes: self.notes.clone(),
            refund: format_amount(
                self.refund_minor,
                Currency::parse(currency).map_or(2, |c| c.exponent),
            ),
            currency: currency.to_string(),
            reship_order: None,
            created_at,
        }
    }

    /// `claim.created`, and `claim.refund_due` for a refund, so a payment integration can pay it.
    pub fn events(&self, number: i64, order: i64, currency: &str) -> Vec<EventRow> {
        let view = self.view(number, order, currency, OffsetDateTime::UNIX_EPOCH);
        let mut out = vec![EventRow {
            kind: "claim.created",
            data: serde_json::json!({"number": view.order, "claim": view.id, "type": self.kind.as_str(),
                "resolution": self.resolution.as_str(), "shipment": self.shipment, "lines": self.lines}),
        }];
        if self.resolution == ClaimResolution::Refund {
            out.push(EventRow {
                kind: "claim.refund_due",
                data: serde_json::json!({"number": view.order, "claim": view.id, "amount": view.refund, "currency": currency}),
            });
        }
        out
    }
}

pub fn claim_number(n: i64) -> String {
    format!("CLM-{n:06}")
}
