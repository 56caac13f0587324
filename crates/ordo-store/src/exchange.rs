//! Exchanges and replacements: the customer's new goods travel as a linked order on the
//! same channel, at zero price, routed like any other — at once (advance exchange) or
//! once the returned goods arrive (held `awaiting_return` until then), per the channel's
//! return policy. The link is the new order's external id, `RMA-000042-X`, which also
//! makes every step here safe to repeat.

use ordo_domain::Problem;
use ordo_domain::order::{
    CustomerInput, HoldReason, LineInput, Order, OrderInput, OrderStatus, PaymentInput,
    ShippingInput, Transition,
};
use ordo_domain::returns::{ExchangeTiming, Resolution, ReturnStatus};
use time::OffsetDateTime;

use crate::{OrderChange, Outcome, Result, Rma, Store, StoreError, WriteContext};

pub fn exchange_external_id(rma: &str) -> String {
    format!("{rma}-X")
}

fn sends_goods(rma: &Rma) -> bool {
    matches!(
        rma.resolution,
        Resolution::Exchange | Resolution::Replacement
    ) && !rma.exchange_lines.is_empty()
}

/// The replacement order's number, if it exists.
pub async fn exchange_order(store: &dyn Store, rma: &Rma) -> Result<Option<String>> {
    if !sends_goods(rma) {
        return Ok(None);
    }
    let Some(original) = store.get_order(&rma.order).await? else {
        return Ok(None);
    };
    Ok(store
        .find_channel_order(&original.channel, &exchange_external_id(&rma.id))
        .await?
        .map(|o| o.number))
}

/// Creates, holds or releases the replacement order as the return's state requires;
/// returns the return with `exchange_order` filled in.
pub async fn settle_exchange(store: &dyn Store, mut rma: Rma, ctx: &WriteContext) -> Result<Rma> {
    if !sends_goods(&rma) || matches!(rma.status, ReturnStatus::Requested | ReturnStatus::Rejected)
    {
        rma.exchange_order = exchange_order(store, &rma).await?;
        return Ok(rma);
    }
    let original = store
        .get_order(&rma.order)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("order {}", rma.order)))?;
    let policy = store.return_policy(&original.channel).await?;
    let received = matches!(
        rma.status,
        ReturnStatus::Received | ReturnStatus::Inspected | ReturnStatus::Closed
    );
    let number = match exchange_order(store, &rma).await? {
        Some(number) => number,
        None => {
            let lines: Vec<(String, i64)> = rma
                .exchange_lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect();
            let note = format!(
                "{} for {} (order {})",
                rma.resolution.as_str(),
                rma.id,
                rma.order
            );
            linked_order(
                store,
                &original,
                &exchange_external_id(&rma.id),
                &lines,
                rma.resolution.as_str(),
                &note,
                ctx,
            )
            .await?
        }
    };
    let wait = policy.exchange_timing == ExchangeTiming::OnReceipt
        && rma.resolution == Resolution::Exchange
        && !received;
    if let Some(order) = store.get_order(&number).await? {
        let held_for_return = order.status == OrderStatus::OnHold
            && order.hold_reason == Some(HoldReason::AwaitingReturn);
        let change = if wait
            && order.status != OrderStatus::OnHold
            && order.status != OrderStatus::Cancelled
        {
            Some((
                Transition::Hold,
                Some(HoldReason::AwaitingReturn),
                "waiting for the returned goods",
            ))
        } else if !wait && held_for_return {
            Some((Transition::Release, None, "the returned goods arrived"))
        } else {
            None
        };
        if let Some((transition, hold_reason, note)) = change {
            let change = OrderChange {
                transition,
                hold_reason,
                note: Some(format!("{note} ({})", rma.id)),
            };
            match store.transition_order(&number, change, ctx).await {
                Ok(_) | Err(StoreError::Problem(Problem::Conflict { .. })) => {}
                Err(e) => return Err(e),
            }
        }
    }
    rma.exchange_order = Some(number);
    Ok(rma)
}

/// A zero-price order on the original's channel, for the same customer and address, that
/// sends `lines` (an exchange, a replacement, a reshipment). Captured like any order —
/// routed, reserved — and idempotent by `external_id`. Returns its number.
pub async fn linked_order(
    store: &dyn Store,
    original: &Order,
    external_id: &str,
    lines: &[(String, i64)],
    tag: &str,
    note: &str,
    ctx: &WriteContext,
) -> Result<String> {
    let input = OrderInput {
        channel: Some(original.channel.clone()),
        external_id: Some(external_id.to_string()),
        placed_at: None,
        currency: Some(original.currency.clone()),
        customer: Some(CustomerInput {
            email: Some(original.customer.email.clone()),
            name: original.customer.name.clone(),
            phone: original.customer.phone.clone(),
        }),
        shipping_address: Some(original.shipping_address.clone()),
        billing_address: original.billing_address.clone(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| LineInput {
                sku: Some(sku.clone()),
                quantity: Some(*quantity),
                unit_price: Some("0".into()),
                discount: None,
                tax: None,
            })
            .collect(),
        shipping: Some(ShippingInput {
            method: original.shipping.method.clone(),
            service_level: original.shipping.service_level.clone(),
            price: Some("0".into()),
            promised_by: None,
        }),
        payment: Some(PaymentInput {
            status: Some("paid".into()),
            method: Some(tag.into()),
            reference: Some(original.number.clone()),
        }),
        tags: vec![tag.into()],
        notes: Some(note.into()),
        priority: Some(original.priority),
    };
    let new = input
        .validate(OffsetDateTime::now_utc())
        .map_err(StoreError::Problem)?;
    match store.capture_order(new, ctx).await? {
        Outcome::Done(c) => Ok(c.value.number),
        Outcome::Replayed { .. } => Err(StoreError::internal(
            "a linked order carries no idempotency key",
        )),
    }
}
