//! Returns (RMA). The planning is `ordo_store::returns`'s; this module loads, locks and
//! writes.
//!
//! Locks: asking for a return locks the order row, so returns of one order take turns and
//! each sees what the ones before it took (two can never together return more than
//! shipped). The later steps lock the return row first (only return writers take it, and
//! always first), then — when stock moves — the balance rows in `(sku, location)` order
//! and the order row, as every other stock writer does; re-allocation of restocked units
//! comes last.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ordo_domain::Problem;
use ordo_domain::catalog::Product;
use ordo_domain::returns::{Grade, ReceivedLine, ReturnInput, ReturnStep};
use ordo_store::*;
use time::OffsetDateTime;

use crate::conn::{Conn, Result, internal, now};
use crate::ops::{self, FO_LOCK_ORDER_SQL, FO_PRODUCTS_SQL, LockedStock};
use crate::reads;

const RETURN_INSERT_SQL: &str = "INSERT INTO returns (number, order_number, status, currency, doc, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const RETURN_UPDATE_SQL: &str =
    "UPDATE returns SET status = $2, doc = $3, updated_at = $4 WHERE number = $1";
const ENSURE_BALANCES_SQL: &str = "INSERT INTO balances (sku, location) \
     SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2 ON CONFLICT (sku, location) DO NOTHING";
const LOCK_PAIRS_SQL: &str = "SELECT sku, location, on_hand, allocated, damaged, quality_control, \
     safety_stock, incoming FROM balances \
     WHERE (sku, location) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
     ORDER BY sku, location FOR UPDATE";

async fn update_return(c: &mut Conn, row: &ReturnRow) -> Result<()> {
    let changed = c
        .execute(
            RETURN_UPDATE_SQL,
            &[
                &row.number,
                &row.status.as_str(),
                &row.doc_json(),
                &row.updated_at,
            ],
        )
        .await?;
    if changed != 1 {
        return Err(internal(format!(
            "return {} vanished",
            rma_number(row.number)
        )));
    }
    Ok(())
}

/// Asks for a return of an order, in the caller's transaction.
pub(crate) async fn create_return(
    c: &mut Conn,
    input: &ReturnInput,
    ctx: &WriteContext,
) -> Result<Outcome<Created<Rma>>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let key = input.order.clone().unwrap_or_default();
    let unknown = || Problem::invalid("order", format!("unknown order '{key}'"));
    let Some(number) = reads::resolve_order(c, &key).await? else {
        return Err(unknown().into());
    };
    // The order's lock: returns of one order take turns, and what earlier ones took is
    // read after it.
    if c.query_opt(FO_LOCK_ORDER_SQL, &[&number]).await?.is_none() {
        return Err(unknown().into());
    }
    let order = reads::load_order(c, number).await?;
    let others = reads::order_returns(c, number).await?;
    let mut products: HashMap<String, Product> = HashMap::new();
    for r in &c.query(FO_PRODUCTS_SQL, &[&number]).await? {
        let doc: &str = r.try_get(1)?;
        products.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
    }
    let policy = reads::return_policy(c, &order.channel).await?;
    let delivered = reads::delivered_at(c, number).await?;
    let at = now();
    // Refusals come before a number is taken, so they leave no gap in the numbering.
    plan_return(
        &order,
        input.clone(),
        &policy,
        &others,
        &products,
        delivered,
        0,
        at,
    )?;
    let rma: i64 = c
        .query_one("SELECT nextval('return_number_seq')", &[])
        .await?
        .try_get(0)?;
    let (row, events) = plan_return(
        &order,
        input.clone(),
        &policy,
        &others,
        &products,
        delivered,
        rma,
        at,
    )?;
    c.execute(
        RETURN_INSERT_SQL,
        &[
            &row.number,
            &row.order_number,
            &row.status.as_str(),
            &row.currency,
            &row.doc_json(),
            &row.created_at,
            &row.updated_at,
        ],
    )
    .await?;
    for e in &events {
        c.event(e.kind, Some(number), &ctx.actor, at, &e.data);
    }
    let view = row.view();
    ops::remember(c, ctx, 201, &view).await?;
    Ok(Outcome::Done(Created {
        value: view,
        created: true,
    }))
}

/// The return `id`, locked.
async fn lock_return(c: &mut Conn, id: &str) -> Result<ReturnRow> {
    let not_found = || Problem::NotFound(format!("return {id}"));
    let number = parse_rma_number(id).ok_or_else(not_found)?;
    Ok(reads::lock_return(c, number).await?.ok_or_else(not_found)?)
}

/// Approve, reject, label, ship or close, in the caller's transaction. No stock moves.
pub(crate) async fn return_step(
    c: &mut Conn,
    id: &str,
    step: ReturnStep,
    reason: Option<String>,
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let row = lock_return(c, id).await?;
    let at = now();
    // Goods on their way back are expected where the order left from.
    let expected: Option<String> = if step == ReturnStep::Ship {
        c.query_opt(
            "SELECT location FROM fulfillment_orders WHERE order_number = $1 \
             ORDER BY (status = 'shipped') DESC, fo_no LIMIT 1",
            &[&row.order_number],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
    } else {
        None
    };
    let (updated, plan) = plan_return_step(&row, step, reason, expected.as_deref(), at)?;
    if plan.stock.is_empty() {
        update_return(c, &updated).await?;
        for e in &plan.events {
            c.event(e.kind, Some(row.order_number), &ctx.actor, at, &e.data);
        }
    } else {
        apply_return_plan(c, &updated, &plan, &ctx.actor, at).await?;
    }
    let view = updated.view();
    ops::remember(c, ctx, 200, &view).await?;
    Ok(Outcome::Done(view))
}

/// Writes a return's stock plan (the return row is locked by the caller): the balance rows
/// it touches locked in `(sku, location)` order, then the order row; the changes in the
/// ledger under `return:RMA-…`; the return itself; then restocked units offered to orders
/// waiting for them.
async fn apply_return_plan(
    c: &mut Conn,
    updated: &ReturnRow,
    plan: &FulfillmentPlan,
    actor: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let pairs: BTreeSet<(&str, &str)> = plan
        .stock
        .iter()
        .map(|d| (d.sku.as_str(), d.location.as_str()))
        .collect();
    let skus: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    let locations: Vec<&str> = pairs.iter().map(|p| p.1).collect();
    c.execute(ENSURE_BALANCES_SQL, &[&skus, &locations]).await?;
    let rows = c.query(LOCK_PAIRS_SQL, &[&skus, &locations]).await?;
    let mut stock = LockedStock(BTreeMap::new());
    for r in &rows {
        stock
            .0
            .insert((r.try_get(0)?, r.try_get(1)?), reads::balance_from(r, 2)?);
    }
    c.query_one(FO_LOCK_ORDER_SQL, &[&updated.order_number])
        .await?;
    let reference = format!("return:{}", rma_number(updated.number));
    ops::apply_plan(
        c,
        updated.order_number,
        plan,
        &mut stock,
        &reference,
        actor,
        at,
    )
    .await?;
    update_return(c, updated).await?;
    let mut routing = None;
    for key in restocks(plan) {
        let mut balance = stock
            .0
            .get(&key)
            .copied()
            .ok_or_else(|| internal(format!("balance of {} at {} not locked", key.0, key.1)))?;
        ops::reallocate(c, &mut routing, &key.0, &key.1, &mut balance, actor, at).await?;
        stock.0.insert(key, balance);
    }
    Ok(())
}

/// Receives and inspects returned units at `location`, in the caller's transaction.
pub(crate) async fn receive_return(
    c: &mut Conn,
    id: &str,
    location: &str,
    lines: &[ReceivedLine],
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let known: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM locations WHERE code = $1)",
            &[&location],
        )
        .await?
        .try_get(0)?;
    if !known {
        return Err(Problem::invalid("location", format!("unknown location '{location}'")).into());
    }
    let row = lock_return(c, id).await?;
    let at = now();
    let (updated, plan) = plan_return_receipt(&row, location, lines, at)?;
    apply_return_plan(c, &updated, &plan, &ctx.actor, at).await?;
    let view = updated.view();
    ops::remember(c, ctx, 200, &view).await?;
    Ok(Outcome::Done(view))
}

/// Grades units the return left in quality control, in the caller's transaction.
pub(crate) async fn grade_return(
    c: &mut Conn,
    id: &str,
    sku: &str,
    quantity: i64,
    grade: Grade,
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let row = lock_return(c, id).await?;
    let at = now();
    let (updated, plan) = plan_grade(&row, sku, quantity, grade, at)?;
    apply_return_plan(c, &updated, &plan, &ctx.actor, at).await?;
    let view = updated.view();
    ops::remember(c, ctx, 200, &view).await?;
    Ok(Outcome::Done(view))
}
