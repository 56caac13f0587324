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

pub fn reship_external_id(claim: &str) -> String {
    format!("{claim}-R")
}

/// Opens a claim as the API and the back office both do: checked against the order and
/// its shipment, recorded with its events, a lost parcel's shipment marked lost, and a
/// reshipment captured as a zero-price order (each its own transaction, safe to repeat).
pub async fn open_claim(
    store: &dyn crate::Store,
    order_key: &str,
    input: ordo_domain::claims::ClaimInput,
    ctx: &crate::WriteContext,
) -> crate::Result<Claim> {
    use ordo_domain::Problem;
    use ordo_domain::shipment::{ShipmentStatus, TrackingEvent};
    let order = store
        .get_order(order_key)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("order {order_key}")))?;
    let new = input.validate(&order)?;
    if let Some(shipment) = &new.shipment {
        match store.get_shipment(shipment).await? {
            Some(sh) if sh.order == order.number => {
                if new.kind == ClaimType::Lost && sh.status == ShipmentStatus::Delivered {
                    return Err(Problem::Conflict {
                        message: format!(
                            "{shipment} was delivered; claim missing items instead of a lost parcel"
                        ),
                        current: Some(sh.status.as_str().into()),
                    }
                    .into());
                }
            }
            _ => {
                return Err(Problem::invalid(
                    "shipment",
                    format!("{shipment} is not a shipment of {}", order.number),
                )
                .into());
            }
        }
    }
    // Follow-up writes carry no idempotency key: it belongs to the claim itself.
    let follow = crate::WriteContext {
        actor: ctx.actor.clone(),
        idempotency_key: None,
    };
    let lost = (new.kind == ClaimType::Lost)
        .then(|| new.shipment.clone())
        .flatten();
    let lines: Vec<(String, i64)> = new
        .lines
        .iter()
        .map(|l| (l.sku.clone(), l.quantity))
        .collect();
    let mut claim = store.create_claim(&order.number, new, ctx).await?;
    if let Some(shipment) = lost {
        let event = TrackingEvent {
            status: ShipmentStatus::Lost,
            at: OffsetDateTime::now_utc(),
            detail: Some(format!("declared lost ({})", claim.id)),
        };
        store.add_tracking_event(&shipment, event, &follow).await?;
    }
    if claim.resolution == ClaimResolution::Reship {
        let note = format!("reshipment for {} (order {})", claim.id, order.number);
        let number = crate::linked_order(
            store,
            &order,
            &reship_external_id(&claim.id),
            &lines,
            "reship",
            &note,
            &follow,
        )
        .await?;
        claim.reship_order = Some(number);
    }
    Ok(claim)
}

/// An order's claims with their reshipment orders.
pub async fn order_claims(
    store: &dyn crate::Store,
    order: &ordo_domain::order::Order,
) -> crate::Result<Vec<Claim>> {
    let mut out = Vec::new();
    for mut claim in store.list_claims(Some(&order.number), 1000).await? {
        if claim.resolution == ClaimResolution::Reship {
            claim.reship_order = store
                .find_channel_order(&order.channel, &reship_external_id(&claim.id))
                .await?
                .map(|o| o.number);
        }
        out.push(claim);
    }
    Ok(out)
}
