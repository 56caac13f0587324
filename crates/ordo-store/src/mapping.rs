//! Mapping a line a channel sent with an item Ordo does not know (held `unmapped_sku`) to an
//! Ordo SKU. Backends check the product, then write what [`plan_line_mapping`] decides and
//! offer the line to the stock of its new SKU like any backorder.

use ordo_domain::Problem;
use ordo_domain::order::{HoldReason, Order, OrderStatus, PaymentStatus};

use crate::capture::OrderDoc;

/// What mapping one line changes.
#[derive(Debug, Clone)]
pub struct LineMapping {
    pub line_no: i32,
    pub sku: String,
    pub channel_ref: String,
    /// The order's document without the mapped line in `unmapped_lines`.
    pub doc_json: String,
    /// Every line now names an Ordo SKU and the order was held for that: it is released
    /// (and held again for payment when the channel has not been paid yet).
    pub release: bool,
    pub hold_for_payment: bool,
    pub event: serde_json::Value,
}

/// The order's stored document, rebuilt from its API view.
pub fn order_doc(order: &Order) -> OrderDoc {
    OrderDoc {
        customer: order.customer.clone(),
        shipping_address: order.shipping_address.clone(),
        billing_address: order.billing_address.clone(),
        shipping: order.shipping.clone(),
        payment: order.payment.clone(),
        tags: order.tags.clone(),
        notes: order.notes.clone(),
        totals: order.totals.clone(),
        unmapped_lines: order.unmapped_lines.clone(),
    }
}

/// Checks that `line_no` of `order` still waits for a SKU and that `sku` (an active product,
/// which the backend checked) may take its place.
pub fn plan_line_mapping(order: &Order, line_no: i32, sku: &str) -> Result<LineMapping, Problem> {
    if order.status == OrderStatus::Cancelled {
        return Err(Problem::Conflict {
            message: format!("order {} is cancelled", order.number),
            current: Some(order.status.as_str().to_string()),
        });
    }
    let Some(line) = order.lines.iter().find(|l| l.line_no == line_no) else {
        return Err(Problem::NotFound(format!(
            "line {line_no} of order {}",
            order.number
        )));
    };
    let Some(waiting) = order.unmapped_lines.iter().find(|u| u.line_no == line_no) else {
        return Err(Problem::Conflict {
            message: format!(
                "line {line_no} of order {} is already SKU {}",
                order.number, line.sku
            ),
            current: Some(line.sku.clone()),
        });
    };
    if let Some(other) = order
        .lines
        .iter()
        .find(|l| l.line_no != line_no && l.sku == sku)
    {
        return Err(Problem::invalid(
            "sku",
            format!(
                "{sku} is already line {} of order {}; an order names each SKU once",
                other.line_no, order.number
            ),
        ));
    }
    let mut doc = order_doc(order);
    doc.unmapped_lines.retain(|u| u.line_no != line_no);
    let release = doc.unmapped_lines.is_empty()
        && order.status == OrderStatus::OnHold
        && order.hold_reason == Some(HoldReason::UnmappedSku);
    Ok(LineMapping {
        line_no,
        sku: sku.to_string(),
        channel_ref: waiting.channel_ref.clone(),
        doc_json: serde_json::to_string(&doc).expect("order documents serialise"),
        release,
        hold_for_payment: release && order.payment.status == PaymentStatus::Pending,
        event: serde_json::json!({
            "number": order.number, "line_no": line_no,
            "channel_ref": waiting.channel_ref, "sku": sku,
            "still_unmapped": doc.unmapped_lines.iter().map(|u| &u.channel_ref).collect::<Vec<_>>(),
        }),
    })
}
