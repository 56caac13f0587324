//! Fulfillment orders: the part of an order one location ships. Routing creates one per
//! location; operators move, split and merge them; 3PL and marketplace locations accept
//! or reject them. Every rule about what may change lives here.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::catalog::LocationKind;
use crate::error::{Errors, Problem};
use crate::order::order_number;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    Open,
    OnHold,
    InProgress,
    Picked,
    Packed,
    Shipped,
    Cancelled,
}

impl FulfillmentStatus {
    pub const ALL: [FulfillmentStatus; 7] = [
        FulfillmentStatus::Open,
        FulfillmentStatus::OnHold,
        FulfillmentStatus::InProgress,
        FulfillmentStatus::Picked,
        FulfillmentStatus::Packed,
        FulfillmentStatus::Shipped,
        FulfillmentStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FulfillmentStatus::Open => "open",
            FulfillmentStatus::OnHold => "on_hold",
            FulfillmentStatus::InProgress => "in_progress",
            FulfillmentStatus::Picked => "picked",
            FulfillmentStatus::Packed => "packed",
            FulfillmentStatus::Shipped => "shipped",
            FulfillmentStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Work has not started, so the lines may still be moved, split or merged.
    pub fn is_editable(self) -> bool {
        matches!(self, FulfillmentStatus::Open | FulfillmentStatus::OnHold)
    }
    /// Still holds reserved stock.
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            FulfillmentStatus::Shipped | FulfillmentStatus::Cancelled
        )
    }
    /// The status a new fulfillment order gets on an order that is or is not on hold.
    pub fn initial(order_on_hold: bool) -> Self {
        if order_on_hold {
            FulfillmentStatus::OnHold
        } else {
            FulfillmentStatus::Open
        }
    }
}

/// Where a request to an outside fulfiller (3PL, marketplace) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Unsubmitted,
    Submitted,
    Accepted,
    Rejected,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [
        RequestStatus::Unsubmitted,
        RequestStatus::Submitted,
        RequestStatus::Accepted,
        RequestStatus::Rejected,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Unsubmitted => "unsubmitted",
            RequestStatus::Submitted => "submitted",
            RequestStatus::Accepted => "accepted",
            RequestStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Locations run by someone else must accept the work; own locations just do it.
    pub fn initial(kind: LocationKind) -> Option<Self> {
        matches!(kind, LocationKind::ThirdParty | LocationKind::Marketplace)
            .then_some(RequestStatus::Unsubmitted)
    }
}

/// What an outside fulfiller says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Submit,
    Accept,
    Reject,
}

impl RequestAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestAction::Submit => "submit",
            RequestAction::Accept => "accept",
            RequestAction::Reject => "reject",
        }
    }
}

/// The request status after `action`, or 409 naming the current one.
pub fn request_transition(
    current: Option<RequestStatus>,
    status: FulfillmentStatus,
    action: RequestAction,
) -> Result<RequestStatus, Problem> {
    let Some(current) = current else {
        return Err(Problem::Conflict {
            message: "only 3PL and marketplace locations take fulfillment requests".into(),
            current: None,
        });
    };
    let next = match (current, action) {
        (RequestStatus::Unsubmitted, RequestAction::Submit) => RequestStatus::Submitted,
        (RequestStatus::Submitted, RequestAction::Accept) => RequestStatus::Accepted,
        (RequestStatus::Unsubmitted | RequestStatus::Submitted, RequestAction::Reject) => {
            RequestStatus::Rejected
        }
        _ => {
            return Err(Problem::Conflict {
                message: format!(
                    "cannot {} a request that is {}",
                    action.as_str(),
                    current.as_str()
                ),
                current: Some(current.as_str().into()),
            });
        }
    };
    if !status.is_active() {
        return Err(Problem::Conflict {
            message: format!(
                "the fulfillment order is {}; its request cannot change",
                status.as_str()
            ),
            current: Some(status.as_str().into()),
        });
    }
    Ok(next)
}

/// `SO-000123-2`: the order's number and the fulfillment order's place in it.
pub fn fulfillment_order_id(order: i64, fo_no: i32) -> String {
    format!("{}-{fo_no}", order_number(order))
}

/// The order number and fulfillment order number in an id such as `SO-000123-2`.
pub fn parse_fulfillment_order_id(id: &str) -> Option<(i64, i32)> {
    let rest = id.trim().strip_prefix("SO-")?;
    let (order, fo) = rest.rsplit_once('-')?;
    if order.is_empty() || fo.is_empty() {
        return None;
    }
    let order: i64 = order.parse().ok()?;
    let fo: i32 = fo.parse().ok()?;
    (order > 0 && fo > 0).then_some((order, fo))
}

/// One order line's units in a fulfillment order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FulfillmentLine {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
}

/// The API view of a fulfillment order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FulfillmentOrder {
    /// `SO-000123-2`.
    pub id: String,
    /// The order's number (`SO-000123`).
    pub order: String,
    pub location: String,
    pub status: FulfillmentStatus,
    /// Only for 3PL and marketplace locations.
    pub request_status: Option<RequestStatus>,
    /// Why it was rejected, cancelled or merged away.
    pub reason: Option<String>,
    pub lines: Vec<FulfillmentLine>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl FulfillmentOrder {
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
}

/// Part of a fulfillment order, by order line number or SKU.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LineQuantityInput {
    pub line_no: Option<i32>,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
}

/// Resolves `wanted` against the lines a fulfillment order holds: every entry must name
/// one of them and ask for 1..=held units, and no line twice. Errors name `{path}[i]`.
pub fn resolve_lines(
    held: &[FulfillmentLine],
    wanted: &[LineQuantityInput],
    path: &str,
) -> Result<Vec<FulfillmentLine>, Problem> {
    let mut errors = Errors::default();
    if wanted.is_empty() {
        errors.add(path, "name at least one line");
    }
    let mut out: Vec<FulfillmentLine> = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        let found = match (w.line_no, w.sku.as_deref()) {
            (Some(n), sku) => held
                .iter()
                .find(|l| l.line_no == n && sku.is_none_or(|s| s == l.sku)),
            (None, Some(sku)) => held.iter().find(|l| l.sku == sku),
            (None, None) => {
                errors.add(format!("{path}[{i}]"), "give line_no or sku");
                continue;
            }
        };
        let Some(line) = found else {
            errors.add(
                format!("{path}[{i}]"),
                "is not a line of this fulfillment order",
            );
            continue;
        };
        let quantity = w.quantity.unwrap_or(line.quantity);
        if quantity < 1 || quantity > line.quantity {
            errors.add(
                format!("{path}[{i}].quantity"),
                format!("must be between 1 and {}", line.quantity),
            );
            continue;
        }
        if out.iter().any(|o| o.line_no == line.line_no) {
            errors.add(format!("{path}[{i}]"), "names a line twice");
            continue;
        }
        out.push(FulfillmentLine {
            line_no: line.line_no,
            sku: line.sku.clone(),
            quantity,
        });
    }
    errors.finish(|| out)
}

/// `held` minus `taken`, dropping lines that reach zero.
pub fn subtract_lines(held: &[FulfillmentLine], taken: &[FulfillmentLine]) -> Vec<FulfillmentLine> {
    held.iter()
        .filter_map(|l| {
            let t: i64 = taken
                .iter()
                .filter(|t| t.line_no == l.line_no)
                .map(|t| t.quantity)
                .sum();
            (l.quantity > t).then(|| FulfillmentLine {
                quantity: l.quantity - t,
                ..l.clone()
            })
        })
        .collect()
}

/// The union of several fulfillment orders' lines, summed per order line, in line order.
pub fn merge_lines<'a>(
    parts: impl IntoIterator<Item = &'a [FulfillmentLine]>,
) -> Vec<FulfillmentLine> {
    let mut out: Vec<FulfillmentLine> = Vec::new();
    for part in parts {
        for l in part {
            match out.iter_mut().find(|o| o.line_no == l.line_no) {
                Some(o) => o.quantity += l.quantity,
                None => out.push(l.clone()),
            }
        }
    }
    out.sort_by_key(|l| l.line_no);
    out
}

/// Why a fulfillment order cannot be reworked, or nothing.
pub fn check_editable(fo: &FulfillmentOrder) -> Result<(), Problem> {
    if fo.status.is_editable() {
        Ok(())
    } else {
        Err(Problem::Conflict {
            message: format!(
                "fulfillment order {} is {}; only open or on-hold ones can change",
                fo.id,
                fo.status.as_str()
            ),
            current: Some(fo.status.as_str().into()),
        })
    }
}

/// A split must leave units behind and take some; a merge needs two or more fulfillment
/// orders of one order at one location, all still editable.
pub fn check_split(fo: &FulfillmentOrder, taken: &[FulfillmentLine]) -> Result<(), Problem> {
    check_editable(fo)?;
    if subtract_lines(&fo.lines, taken).is_empty() {
        return Err(Problem::invalid(
            "lines",
            "a split must leave some units in the original fulfillment order",
        ));
    }
    Ok(())
}

pub fn check_merge(fos: &[FulfillmentOrder]) -> Result<(), Problem> {
    if fos.len() < 2 {
        return Err(Problem::invalid(
            "fulfillment_orders",
            "name two or more fulfillment orders",
        ));
    }
    let first = &fos[0];
    for (i, fo) in fos.iter().enumerate() {
        if fos[..i].iter().any(|o| o.id == fo.id) {
            return Err(Problem::invalid(
                format!("fulfillment_orders[{i}]"),
                "is named twice",
            ));
        }
        if fo.order != first.order {
            return Err(Problem::invalid(
                format!("fulfillment_orders[{i}]"),
                "belongs to another order",
            ));
        }
        if fo.location != first.location {
            return Err(Problem::invalid(
                format!("fulfillment_orders[{i}]"),
                format!(
                    "ships from {}, not {}; move it first",
                    fo.location, first.location
                ),
            ));
        }
        check_editable(fo)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(line_no: i32, quantity: i64) -> FulfillmentLine {
        FulfillmentLine {
            line_no,
            sku: format!("SKU-{line_no}"),
            quantity,
        }
    }

    fn fo(id: &str, location: &str, lines: Vec<FulfillmentLine>) -> FulfillmentOrder {
        FulfillmentOrder {
            id: id.into(),
            order: "SO-000001".into(),
            location: location.into(),
            status: FulfillmentStatus::Open,
            request_status: None,
            reason: None,
            lines,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(fulfillment_order_id(123, 2), "SO-000123-2");
        assert_eq!(parse_fulfillment_order_id("SO-000123-2"), Some((123, 2)));
        assert_eq!(
            parse_fulfillment_order_id("SO-12345678-10"),
            Some((12345678, 10))
        );
        assert_eq!(parse_fulfillment_order_id("SO-000123"), None);
        assert_eq!(parse_fulfillment_order_id("SO-000123-0"), None);
        assert_eq!(parse_fulfillment_order_id("XX-1-1"), None);
    }

    #[test]
    fn request_statuses_move_forward_only() {
        use RequestAction::*;
        use RequestStatus::*;
        let open = FulfillmentStatus::Open;
        assert_eq!(
            request_transition(Some(Unsubmitted), open, Submit),
            Ok(Submitted)
        );
        assert_eq!(
            request_transition(Some(Submitted), open, Accept),
            Ok(Accepted)
        );
        assert_eq!(
            request_transition(Some(Submitted), open, Reject),
            Ok(Rejected)
        );
        assert!(request_transition(Some(Accepted), open, Reject).is_err());
        assert!(request_transition(Some(Unsubmitted), open, Accept).is_err());
        assert!(request_transition(None, open, Submit).is_err());
        assert!(request_transition(Some(Submitted), FulfillmentStatus::Cancelled, Reject).is_err());
    }

    #[test]
    fn resolving_lines_names_each_problem() {
        let held = vec![line(1, 3), line(2, 1)];
        let ok = resolve_lines(
            &held,
            &[
                LineQuantityInput {
                    line_no: Some(1),
                    quantity: Some(2),
                    ..Default::default()
                },
                LineQuantityInput {
                    sku: Some("SKU-2".into()),
                    ..Default::default()
                },
            ],
            "lines",
        )
        .unwrap();
        assert_eq!(ok, vec![line(1, 2), line(2, 1)]);
        let Err(Problem::Invalid(errors)) = resolve_lines(
            &held,
            &[
                LineQuantityInput {
                    line_no: Some(9),
                    ..Default::default()
                },
                LineQuantityInput {
                    line_no: Some(1),
                    quantity: Some(4),
                    ..Default::default()
                },
                LineQuantityInput::default(),
            ],
            "lines",
        ) else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lines[0]", "lines[1].quantity", "lines[2]"]);
    }

    #[test]
    fn split_must_leave_something_and_merge_needs_one_place() {
        let a = fo("SO-000001-1", "BER", vec![line(1, 2)]);
        assert!(check_split(&a, &[line(1, 1)]).is_ok());
        assert!(check_split(&a, &[line(1, 2)]).is_err());
        let b = fo("SO-000001-2", "BER", vec![line(2, 1)]);
        let c = fo("SO-000001-3", "PAR", vec![line(3, 1)]);
        assert!(check_merge(&[a.clone(), b.clone()]).is_ok());
        assert!(check_merge(std::slice::from_ref(&a)).is_err());
        assert!(check_merge(&[a.clone(), c]).is_err());
        assert!(check_merge(&[a.clone(), a.clone()]).is_err());
        let mut busy = b;
        busy.status = FulfillmentStatus::InProgress;
        assert!(check_merge(&[a, busy]).is_err());
    }

    proptest! {
        /// Taking lines out and merging them back in gives the original back.
        #[test]
        fn split_then_merge_conserves_units(
            quantities in proptest::collection::vec(1i64..20, 1..6),
            takes in proptest::collection::vec(0i64..20, 6),
        ) {
            let held: Vec<_> = quantities.iter().enumerate().map(|(i, &q)| line(i as i32 + 1, q)).collect();
            let taken: Vec<_> = held.iter().zip(&takes)
                .filter_map(|(l, &t)| {
                    let t = t.min(l.quantity);
                    (t > 0).then(|| FulfillmentLine { quantity: t, ..l.clone() })
                })
                .collect();
            let rest = subtract_lines(&held, &taken);
            let back = merge_lines([rest.as_slice(), taken.as_slice()]);
            prop_assert_eq!(back, held);
        }
    }
}
