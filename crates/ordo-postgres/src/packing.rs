//! The pack station, box types and settings (carrier services). The planning is
//! `ordo_store::packing`'s; this module loads, locks and writes.
//!
//! Lock order, as in `ops`: the advisory lock of the idempotency key, the balance rows of
//! the order's SKUs in `(sku, location)` order, then the order row — the same locks as
//! shipping takes, so packing and shipping one fulfillment order take turns. Packing moves
//! no stock; the balance rows are locked only to keep the one global order.

use ordo_domain::Problem;
use ordo_domain::fulfillment::parse_fulfillment_order_id;
use ordo_store::*;
use ordo_warehouse::cartonize::BoxType;

use crate::conn::{Conn, Result, internal, now};
use crate::{ops, reads};

const PACKING_UPSERT_SQL: &str = "INSERT INTO packings (order_number, fo_no, doc, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (order_number, fo_no) \
     DO UPDATE SET doc = EXCLUDED.doc, created_at = EXCLUDED.created_at";

/// Inserts or replaces a box type.
pub(crate) async fn put_box_type(
    c: &mut Conn,
    box_type: &BoxType,
    ctx: &WriteContext,
) -> Result<()> {
    let doc = serde_json::to_string(box_type).map_err(internal)?;
    c.execute(
        "INSERT INTO box_types (code, doc) VALUES ($1, $2) \
         ON CONFLICT (code) DO UPDATE SET doc = EXCLUDED.doc",
        &[&box_type.code, &doc],
    )
    .await?;
    c.event(
        "box_type.saved",
        None,
        &ctx.actor,
        now(),
        &serde_json::json!({"code": box_type.code}),
    );
    Ok(())
}

/// Replaces a setting's document.
pub(crate) async fn put_setting(
    c: &mut Conn,
    key: &str,
    doc: &serde_json::Value,
    ctx: &WriteContext,
) -> Result<()> {
    let at = now();
    c.execute(
        "INSERT INTO settings (key, doc, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at",
        &[&key, &doc.to_string(), &at],
    )
    .await?;
    c.event(
        "settings.changed",
        None,
        &ctx.actor,
        at,
        &serde_json::json!({"key": key}),
    );
    Ok(())
}

/// Packs one fulfillment order in the caller's transaction: the scans are checked against
/// it, the boxes chosen, the fulfillment order becomes `packed` and the packing is kept
/// (replacing an earlier one) for the shipment.
pub(crate) async fn pack(
    c: &mut Conn,
    id: &str,
    input: &PackInput,
    ctx: &WriteContext,
) -> Result<Outcome<Packing>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let not_found = || Problem::NotFound(format!("fulfillment order {id}"));
    let (number, fo_no) = parse_fulfillment_order_id(id).ok_or_else(not_found)?;
    let Some(mut state) = ops::lock_for_shipment(c, number).await? else {
        return Err(not_found().into());
    };
    let boxes = reads::box_types(c).await?;
    let location = fulfillment_location(&state.order, id).unwrap_or_default();
    let policies = reads::packing_policies(c, location).await?;
    let at = now();
    let (plan, packing) = plan_pack(
        &state.order,
        id,
        input,
        &state.products,
        &boxes,
        &policies,
        at,
    )?;
    let reference = format!("order:{}", state.order.number);
    ops::apply_plan(
        c,
        number,
        &plan,
        &mut state.stock,
        &reference,
        &ctx.actor,
        at,
    )
    .await?;
    let doc = serde_json::to_string(&packing).map_err(internal)?;
    c.execute(PACKING_UPSERT_SQL, &[&number, &fo_no, &doc, &at])
        .await?;
    ops::remember(c, ctx, 200, &packing).await?;
    Ok(Outcome::Done(packing))
}
