//! Backend-neutral planning of returns (RMA): the request checked against what shipped,
//! the window and the channel's policy; its steps; the receipt whose units go back into
//! stock by condition; quality-control grading; and the refund due.

use std::collections::HashMap;

use ordo_domain::Problem;
use ordo_domain::catalog::Product;
use ordo_domain::inventory::StockState;
use ordo_domain::money::{Currency, format_amount, parse_amount};
use ordo_domain::order::{Order, order_number};
use ordo_domain::returns::{
    ExchangeLine, Grade, RECEIPT_REASON, ReceivedLine, Resolution, ReturnInput, ReturnLine,
    ReturnMethod, ReturnPolicy, ReturnStatus, ReturnStep, ReturnableLine, plan_receipt,
    return_transition,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::capture::EventRow;
use crate::fulfillment::{FulfillmentPlan, StockDelta};

/// Units graded out of quality control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GradedUnits {
    pub sku: String,
    pub quantity: i64,
    pub grade: Grade,
}

/// What a return row keeps besides its key columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnDoc {
    pub lines: Vec<ReturnLine>,
    pub resolution: Resolution,
    pub method: ReturnMethod,
    pub notes: Option<String>,
    #[serde(default)]
    pub received: Vec<ReceivedLine>,
    #[serde(default)]
    pub receiving_location: Option<String>,
    #[serde(default)]
    pub graded: Vec<GradedUnits>,
    /// What the customer gets back, in minor units of the order's currency.
    #[serde(default)]
    pub refund_minor: i64,
    #[serde(default)]
    pub rejection: Option<String>,
    /// What an exchange or replacement sends instead.
    #[serde(default)]
    pub exchange_lines: Vec<ExchangeLine>,
    /// Units counted as `incoming` while the parcel travels back, and where.
    #[serde(default)]
    pub incoming: Vec<IncomingUnits>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingUnits {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct ReturnRow {
    pub number: i64,
    pub order_number: i64,
    pub status: ReturnStatus,
    pub currency: String,
    pub doc: ReturnDoc,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The API view of a return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rma {
    /// `RMA-000042`.
    pub id: String,
    pub order: String,
    pub status: ReturnStatus,
    pub resolution: Resolution,
    pub method: ReturnMethod,
    pub lines: Vec<ReturnLine>,
    pub received: Vec<ReceivedLine>,
    pub receiving_location: Option<String>,
    pub graded: Vec<GradedUnits>,
    /// Decimal string in the order's currency.
    pub refund: String,
    pub currency: String,
    pub notes: Option<String>,
    pub rejection: Option<String>,
    /// What an exchange or replacement sends instead.
    #[serde(default)]
    pub exchange_lines: Vec<ExchangeLine>,
    /// The replacement order of an exchange or replacement, once created.
    #[serde(default)]
    pub exchange_order: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

pub fn rma_number(n: i64) -> String {
    format!("RMA-{n:06}")
}

pub fn parse_rma_number(s: &str) -> Option<i64> {
    s.trim()
        .strip_prefix("RMA-")?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

fn exponent(currency: &str) -> u8 {
    Currency::parse(currency).map_or(2, |c| c.exponent)
}

impl ReturnRow {
    pub fn doc_json(&self) -> String {
        serde_json::to_string(&self.doc).expect("return documents serialise")
    }

    pub fn view(&self) -> Rma {
        Rma {
            id: rma_number(self.number),
            order: order_number(self.order_number),
            status: self.status,
            resolution: self.doc.resolution,
            method: self.doc.method,
            lines: self.doc.lines.clone(),
            received: self.doc.received.clone(),
            receiving_location: self.doc.receiving_location.clone(),
            graded: self.doc.graded.clone(),
            refund: format_amount(self.doc.refund_minor, exponent(&self.currency)),
            currency: self.currency.clone(),
            notes: self.doc.notes.clone(),
            rejection: self.doc.rejection.clone(),
            exchange_lines: self.doc.exchange_lines.clone(),
            exchange_order: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReturnFilter {
    /// An order number (`SO-000123`).
    pub order: Option<String>,
    pub status: Option<ReturnStatus>,
}

fn minor(order: &Order, text: &str) -> i64 {
    Currency::parse(&order.currency)
        .and_then(|c| parse_amount(text, c).ok())
        .unwrap_or(0)
}

/// The order's lines as returns see them: shipped units, units already on other returns
/// that were not rejected, classes and the net value of one unit.
pub fn returnable_lines(
    order: &Order,
    others: &[ReturnRow],
    products: &HashMap<String, Product>,
) -> Vec<ReturnableLine> {
    order
        .lines
        .iter()
        .map(|l| {
            let already: i64 = others
                .iter()
                .filter(|r| r.status != ReturnStatus::Rejected)
                .flat_map(|r| r.doc.lines.iter())
                .filter(|r| r.line_no == l.line_no)
                .map(|r| r.quantity)
                .sum();
            let gross = minor(order, &l.unit_price) * l.quantity - minor(order, &l.discount)
                + minor(order, &l.tax);
            ReturnableLine {
                line_no: l.line_no,
                sku: l.sku.clone(),
                shipped: l.shipped,
                already_returned: already,
                classes: products
                    .get(&l.sku)
                    .map(|p| p.handling_classes.clone())
                    .unwrap_or_default(),
                unit_value_minor: if l.quantity > 0 {
                    gross / l.quantity
                } else {
                    0
                },
            }
        })
        .collect()
}

/// A restocking fee is kept when the customer changed their mind; none when the goods or
/// the delivery were at fault.
/// The refund for `lines`: each line's share of what was paid for it (price, discount and
/// tax pro rata), minus the policy's restocking fee for its reason, plus the policy's return
/// shipping when the merchant is at fault; never more than what is left of the order's
/// total after earlier refunds.
pub fn refund_for(
    order: &Order,
    lines: &[ReturnLine],
    others: &[ReturnRow],
    policy: &ReturnPolicy,
) -> i64 {
    let mut due = 0i64;
    for r in lines {
        let Some(l) = order.lines.iter().find(|l| l.line_no == r.line_no) else {
            continue;
        };
        if l.quantity <= 0 {
            continue;
        }
        let paid = minor(order, &l.unit_price) * l.quantity - minor(order, &l.discount)
            + minor(order, &l.tax);
        let share = (paid as i128 * r.quantity as i128 / l.quantity as i128) as i64;
        let percent = policy
            .restocking_fee_percent
            .get(&r.reason)
            .copied()
            .unwrap_or(0);
        let fee = if r.reason.merchant_at_fault() {
            0
        } else {
            share * percent / 100
        };
        due += share - fee;
    }
    if lines.iter().any(|r| r.reason.merchant_at_fault())
        && let Some(shipping) = &policy.return_shipping_refund
    {
        due += minor(order, shipping);
    }
    let refunded: i64 = others
        .iter()
        .filter(|o| o.status != ReturnStatus::Rejected)
        .map(|o| o.doc.refund_minor)
        .sum();
    let total = minor(order, &order.totals.total);
    due.clamp(0, (total - refunded).max(0))
}

fn refund_event(row: &ReturnRow) -> Option<EventRow> {
    matches!(
        row.doc.resolution,
        Resolution::Refund | Resolution::StoreCredit
    )
    .then(|| EventRow {
        kind: "return.refund_due",
        data: serde_json::json!({
            "number": order_number(row.order_number), "return": rma_number(row.number),
            "resolution": row.doc.resolution.as_str(),
            "amount": format_amount(row.doc.refund_minor, exponent(&row.currency)),
            "currency": row.currency,
        }),
    })
}

/// A new return for `order`. `delivered_at` is when its goods arrived (or left, when
/// delivery is unknown); `others` are its earlier returns.
pub fn plan_return(
    order: &Order,
    input: ReturnInput,
    policy: &ReturnPolicy,
    others: &[ReturnRow],
    products: &HashMap<String, Product>,
    delivered_at: Option<OffsetDateTime>,
    number: i64,
    now: OffsetDateTime,
) -> Result<(ReturnRow, Vec<EventRow>), Problem> {
    let lines = returnable_lines(order, others, products);
    let new = input.validate(&lines, policy, delivered_at, now)?;
    // An exchange or replacement is settled in goods, not money.
    let refund = match new.resolution {
        Resolution::Exchange | Resolution::Replacement => 0,
        Resolution::Refund | Resolution::StoreCredit => {
            refund_for(order, &new.lines, others, policy)
        }
    };
    let status = if new.auto_approved {
        ReturnStatus::Approved
    } else {
        ReturnStatus::Requested
    };
    let row = ReturnRow {
        number,
        order_number: ordo_domain::order::parse_order_number(&order.number).unwrap_or(0),
        status,
        currency: order.currency.clone(),
        doc: ReturnDoc {
            lines: new.lines,
            resolution: new.resolution,
            method: new.method,
            notes: new.notes,
            received: Vec::new(),
            receiving_location: None,
            graded: Vec::new(),
            refund_minor: refund,
            rejection: None,
            exchange_lines: new.exchange_lines,
            incoming: Vec::new(),
        },
        created_at: now,
        updated_at: now,
    };
    let data = serde_json::json!({
        "number": order.number, "return": rma_number(number),
        "resolution": row.doc.resolution.as_str(), "method": row.doc.method.as_str(),
        "lines": row.doc.lines,
    });
    let mut events = vec![EventRow {
        kind: "return.requested",
        data: data.clone(),
    }];
    if new.auto_approved {
        events.push(EventRow {
            kind: "return.approved",
            data: serde_json::json!({"number": order.number, "return": rma_number(number), "automatic": true}),
        });
    }
    Ok((row, events))
}

/// A step of the return (approve, reject with a reason, label, ship, close). A keep-item
/// return settles at approval: its refund is due then. Shipping counts the units as
/// `incoming` at `expected_location` (where the order left from) until they are received.
pub fn plan_return_step(
    row: &ReturnRow,
    step: ReturnStep,
    reason: Option<String>,
    expected_location: Option<&str>,
    now: OffsetDateTime,
) -> Result<(ReturnRow, FulfillmentPlan), Problem> {
    if step == ReturnStep::Receive || step == ReturnStep::Inspect {
        return Err(Problem::invalid(
            "step",
            "receiving and inspection happen through the receipt",
        ));
    }
    let next = return_transition(row.status, row.doc.method, step)?;
    if step == ReturnStep::Reject && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Problem::invalid("reason", "say why the return is rejected"));
    }
    let mut updated = row.clone();
    updated.status = next;
    updated.updated_at = now;
    if step == ReturnStep::Reject {
        updated.doc.rejection = reason.clone();
        updated.doc.refund_minor = 0;
    }
    let mut events = vec![EventRow {
        kind: match step {
            ReturnStep::Approve => "return.approved",
            ReturnStep::Reject => "return.rejected",
            ReturnStep::IssueLabel => "return.label_issued",
            ReturnStep::Ship => "return.in_transit",
            _ => "return.closed",
        },
        data: serde_json::json!({
            "number": order_number(row.order_number), "return": rma_number(row.number),
            "status": next.as_str(), "reason": reason,
        }),
    }];
    if step == ReturnStep::Approve
        && row.doc.method == ReturnMethod::KeepItem
        && let Some(e) = refund_event(&updated)
    {
        events.push(e);
    }
    let mut plan = FulfillmentPlan {
        events,
        ..Default::default()
    };
    if step == ReturnStep::Ship
        && row.doc.incoming.is_empty()
        && let Some(location) = expected_location
    {
        for line in &row.doc.lines {
            plan.stock.push(StockDelta {
                sku: line.sku.clone(),
                location: location.to_string(),
                state: ordo_domain::inventory::StockState::Incoming,
                delta: line.quantity,
                reason: ordo_domain::inventory::Reason::ReturnInTransit,
            });
            updated.doc.incoming.push(IncomingUnits {
                sku: line.sku.clone(),
                location: location.to_string(),
                quantity: line.quantity,
            });
        }
    }
    Ok((updated, plan))
}

/// Receives and inspects returned units at `location`: each unit goes into stock as its
/// condition says (resellable available again, damaged and defective held apart), as ledger
/// movements referencing the return. Receiving more than authorised or twice is refused.
pub fn plan_return_receipt(
    row: &ReturnRow,
    location: &str,
    receipt: &[ReceivedLine],
    now: OffsetDateTime,
) -> Result<(ReturnRow, FulfillmentPlan), Problem> {
    return_transition(row.status, row.doc.method, ReturnStep::Receive)?;
    let planned = plan_receipt(&row.doc.lines, &row.doc.received, receipt)?;
    let mut plan = FulfillmentPlan::default();
    // The parcel arrived: what travelled is no longer incoming, whatever it turned out to hold.
    for units in &row.doc.incoming {
        plan.stock.push(StockDelta {
            sku: units.sku.clone(),
            location: units.location.clone(),
            state: ordo_domain::inventory::StockState::Incoming,
            delta: -units.quantity,
            reason: ordo_domain::inventory::Reason::ReturnInTransit,
        });
    }
    for (line, states) in &planned {
        for state in states.iter() {
            plan.stock.push(StockDelta {
                sku: line.sku.clone(),
                location: location.to_string(),
                state: *state,
                delta: line.quantity,
                reason: RECEIPT_REASON,
            });
        }
    }
    let mut updated = row.clone();
    updated.doc.incoming.clear();
    updated.doc.received.extend(receipt.iter().cloned());
    updated.doc.receiving_location = Some(location.to_string());
    updated.status = ReturnStatus::Inspected;
    updated.updated_at = now;
    plan.events.push(EventRow {
        kind: "return.received",
        data: serde_json::json!({
            "number": order_number(row.order_number), "return": rma_number(row.number),
            "location": location, "lines": receipt,
        }),
    });
    if let Some(e) = refund_event(&updated) {
        plan.events.push(e);
    }
    Ok((updated, plan))
}

/// Grades units waiting in quality control at the receiving location: back to sale, or
/// written off. Never more than were received as defective and not graded yet.
pub fn plan_grade(
    row: &ReturnRow,
    sku: &str,
    quantity: i64,
    grade: Grade,
    now: OffsetDateTime,
) -> Result<(ReturnRow, FulfillmentPlan), Problem> {
    let Some(location) = row.doc.receiving_location.clone() else {
        return Err(Problem::Conflict {
            message: "nothing of this return has been received".into(),
            current: Some(row.status.as_str().into()),
        });
    };
    let in_qc: i64 = row
        .doc
        .received
        .iter()
        .filter(|r| r.sku == sku && r.condition == ordo_domain::returns::Condition::Defective)
        .map(|r| r.quantity)
        .sum();
    let graded: i64 = row
        .doc
        .graded
        .iter()
        .filter(|g| g.sku == sku)
        .map(|g| g.quantity)
        .sum();
    if quantity < 1 || quantity > in_qc - graded {
        return Err(Problem::invalid(
            "quantity",
            format!(
                "{} unit(s) of {sku} wait in quality control from this return",
                (in_qc - graded).max(0)
            ),
        ));
    }
    let (changes, reason) = grade.changes(quantity);
    let mut plan = FulfillmentPlan::default();
    for (state, delta) in changes {
        plan.stock.push(StockDelta {
            sku: sku.to_string(),
            location: location.clone(),
            state,
            delta,
            reason,
        });
    }
    let mut updated = row.clone();
    updated.doc.graded.push(GradedUnits {
        sku: sku.to_string(),
        quantity,
        grade,
    });
    updated.updated_at = now;
    plan.events.push(EventRow {
        kind: "return.graded",
        data: serde_json::json!({
            "number": order_number(row.order_number), "return": rma_number(row.number),
            "sku": sku, "quantity": quantity, "grade": grade, "location": location,
        }),
    });
    Ok((updated, plan))
}

/// Whether the plan puts sellable units back, so waiting orders should be offered them.
pub fn restocks(plan: &FulfillmentPlan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = plan
        .stock
        .iter()
        .filter(|d| {
            (d.state == StockState::OnHand && d.delta > 0)
                || (d.state == StockState::QualityControl && d.delta < 0)
        })
        .map(|d| (d.sku.clone(), d.location.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}
