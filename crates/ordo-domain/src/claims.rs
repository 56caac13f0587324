//! Delivery problems (claims): what went wrong with an order that left, and how it is put
//! right — reship the affected lines, refund them, or nothing. Pure rules; the store keeps
//! the claim and the after-sale service reships through an ordinary order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Errors, Problem};
use crate::money::{Currency, format_amount, parse_amount};
use crate::order::{Order, OrderStatus};

macro_rules! words {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == s)
            }
            pub fn list() -> String {
                Self::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

words!(ClaimType {
    MissingItems => "missing_items",
    DamagedInTransit => "damaged_in_transit",
    Lost => "lost",
    Late => "late",
});

words!(ClaimResolution {
    Reship => "reship",
    Refund => "refund",
    NoAction => "no_action",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ClaimLineInput {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
}

/// Body of `POST /api/v1/orders/{id}/claims`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ClaimInput {
    /// missing_items, damaged_in_transit, lost or late.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub lines: Vec<ClaimLineInput>,
    /// reship (default for missing, damaged and lost), refund or no_action (default for late).
    pub resolution: Option<String>,
    /// The shipment concerned (`SH-000042`); required for a lost parcel.
    pub shipment: Option<String>,
    pub notes: Option<String>,
}

/// A claim checked against its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub kind: ClaimType,
    pub resolution: ClaimResolution,
    pub lines: Vec<ClaimLine>,
    pub shipment: Option<String>,
    pub notes: Option<String>,
    /// For a refund: what the affected units were paid (price, discount and tax pro rata),
    /// minor units of the order's currency.
    pub refund_minor: i64,
}

impl ClaimInput {
    /// Only an order that left can have a delivery problem; lines name shipped units; a lost
    /// parcel names its shipment; a reship or refund names what it is for.
    pub fn validate(self, order: &Order) -> Result<NewClaim, Problem> {
        if !matches!(
            order.status,
            OrderStatus::PartiallyShipped | OrderStatus::Shipped | OrderStatus::Delivered
        ) {
            return Err(Problem::Conflict {
                message: "only an order that has shipped can have a delivery claim".into(),
                current: Some(order.status.as_str().into()),
            });
        }
        let mut errors = Errors::default();
        let kind = match self.kind.as_deref().map(ClaimType::parse) {
            Some(Some(k)) => Some(k),
            _ => {
                errors.add("type", format!("must be one of {}", ClaimType::list()));
                None
            }
        };
        let resolution = match self.resolution.as_deref() {
            None => kind.map(|k| {
                if k == ClaimType::Late {
                    ClaimResolution::NoAction
                } else {
                    ClaimResolution::Reship
                }
            }),
            Some(r) => match ClaimResolution::parse(r) {
                Some(r) => Some(r),
                None => {
                    errors.add(
                        "resolution",
                        format!("must be one of {}", ClaimResolution::list()),
                    );
                    None
                }
            },
        };
        let shipment = self
            .shipment
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if kind == Some(ClaimType::Lost) && shipment.is_none() {
            errors.add("shipment", "a lost parcel names its shipment");
        }
        if self.notes.as_ref().is_some_and(|n| n.len() > 2000) {
            errors.add("notes", "must be at most 2000 characters");
        }
        let mut lines: Vec<ClaimLine> = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let sku = l.sku.clone().unwrap_or_default().trim().to_string();
            let quantity = l.quantity.unwrap_or(1);
            let shipped: i64 = order
                .lines
                .iter()
                .filter(|o| o.sku == sku)
                .map(|o| o.shipped)
                .sum();
            let earlier: i64 = lines
                .iter()
                .filter(|c| c.sku == sku)
                .map(|c| c.quantity)
                .sum();
            if sku.is_empty() {
                errors.add(format!("lines[{i}].sku"), "is required");
            } else if !order.lines.iter().any(|o| o.sku == sku) {
                errors.add(format!("lines[{i}].sku"), "is not a line of this order");
            } else if quantity < 1 || quantity + earlier > shipped {
                errors.add(
                    format!("lines[{i}].quantity"),
                    format!(
                        "must be between 1 and {} (units of {sku} shipped)",
                        (shipped - earlier).max(0)
                    ),
                );
            } else {
                lines.push(ClaimLine { sku, quantity });
            }
        }
        if lines.is_empty()
            && self.lines.is_empty()
            && matches!(
                resolution,
                Some(ClaimResolution::Reship | ClaimResolution::Refund)
            )
        {
            errors.add("lines", "name the units to reship or refund");
        }
        let refund_minor = if resolution == Some(ClaimResolution::Refund) {
            paid_for(order, &lines)
        } else {
            0
        };
        errors.finish(|| NewClaim {
            kind: kind.expect("checked"),
            resolution: resolution.expect("checked"),
            lines,
            shipment,
            notes: self.notes,
            refund_minor,
        })
    }
}

/// What the customer paid for these units: each order line's price less its discount plus
/// its tax, pro rata, in minor units.
pub fn paid_for(order: &Order, lines: &[ClaimLine]) -> i64 {
    let Some(currency) = Currency::parse(&order.currency) else {
        return 0;
    };
    let minor = |t: &str| parse_amount(t, currency).unwrap_or(0);
    let mut total = 0i64;
    for c in lines {
        let mut left = c.quantity;
        for l in order
            .lines
            .iter()
            .filter(|l| l.sku == c.sku && l.quantity > 0)
        {
            let take = left.min(l.shipped);
            if take <= 0 {
                continue;
            }
            let paid = minor(&l.unit_price) * l.quantity - minor(&l.discount) + minor(&l.tax);
            total += (paid as i128 * take as i128 / l.quantity as i128) as i64;
            left -= take;
        }
    }
    total
}

pub fn format_refund(order: &Order, minor: i64) -> String {
    format_amount(
        minor,
        Currency::parse(&order.currency).map_or(2, |c| c.exponent),
    )
}
