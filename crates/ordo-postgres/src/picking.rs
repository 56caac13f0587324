//! Picking: bin layouts, pick bins, pick jobs, scans and short picks. The planning is
//! `ordo_store::picking`'s; this module loads, locks and writes.
//!
//! Lock order, as in `ops`: the advisory lock of the idempotency key; for a scan or short
//! pick the pick job row (only `record_pick` locks one, so it never waits behind anything
//! else); then, for a short pick, the day counters of capacity locations, the balance rows
//! of the affected orders' SKUs in `(sku, location)` order and the affected order rows in
//! number order, before the shortage is written through the same code as
//! `change_fulfillment` and the shrinkage through the same code as `write_stock`.
//!
//! Releasing work locks the order rows with an open fulfillment order at the location in
//! number order and reads them again after the lock, so two pick jobs made at the same time
//! take turns and never release one fulfillment order twice; the status change itself is
//! guarded (`open` only) as well.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ordo_domain::Problem;
use ordo_domain::catalog::{Location, Product};
use ordo_domain::error::Errors;
use ordo_domain::fulfillment::{FulfillmentLine, parse_fulfillment_order_id};
use ordo_domain::order::Order;
use ordo_store::*;
use ordo_warehouse::bins::LayoutConfig;
use time::OffsetDateTime;

use crate::conn::{Conn, Result, internal, now};
use crate::{ops, reads};

/// At most this many orders are considered for one pick job (oldest first).
const CANDIDATE_ORDERS: i64 = 5000;

/// Orders with an open fulfillment order at `$1`, oldest first, locked in number order.
const LOCK_CANDIDATES_SQL: &str = "SELECT o.number FROM orders o WHERE o.number IN \
     (SELECT f.order_number FROM fulfillment_orders f WHERE f.location = $1 AND f.status = 'open') \
     ORDER BY o.number LIMIT $2 FOR UPDATE OF o";
const ORDERS_PRODUCTS_SQL: &str = "SELECT sku, doc FROM products \
     WHERE sku IN (SELECT sku FROM order_lines WHERE order_number = ANY($1))";
/// Moves fulfillment orders `$5` → `$3`; only those still in `$5` change.
const SET_FO_STATUS_SQL: &str = "UPDATE fulfillment_orders f SET status = $3, updated_at = $4 \
     FROM unnest($1::bigint[], $2::int[]) AS u(order_number, fo_no) \
     WHERE f.order_number = u.order_number AND f.fo_no = u.fo_no AND f.status = $5 \
     RETURNING f.order_number, f.fo_no";
const LOCK_PICK_JOB_SQL: &str = "SELECT doc FROM pick_jobs WHERE number = $1 FOR UPDATE";
const INSERT_PICK_JOB_SQL: &str = "INSERT INTO pick_jobs (number, location, status, doc, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE_PICK_JOB_SQL: &str =
    "UPDATE pick_jobs SET status = $2, doc = $3, updated_at = $4 WHERE number = $1";

async fn known_location(c: &mut Conn, location: &str) -> Result<Location> {
    reads::get_doc::<Location>(c, "SELECT doc FROM locations WHERE code = $1", location)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("location {location}")).into())
}

pub(crate) async fn put_layout(
    c: &mut Conn,
    location: &str,
    layout: &LayoutConfig,
    ctx: &WriteContext,
) -> Result<()> {
    known_location(c, location).await?;
    let at = now();
    let doc = serde_json::to_string(layout).map_err(internal)?;
    c.execute(
        "INSERT INTO location_layouts (location, doc, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (location) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at",
        &[&location, &doc, &at],
    )
    .await?;
    c.event(
        "location.layout_changed",
        None,
        &ctx.actor,
        at,
        &serde_json::json!({"location": location, "bins": layout.bins.len()}),
    );
    Ok(())
}

pub(crate) async fn put_sku_bins(
    c: &mut Conn,
    location: &str,
    bins: &[SkuBin],
    ctx: &WriteContext,
) -> Result<()> {
    known_location(c, location).await?;
    let skus: Vec<&str> = bins.iter().map(|b| b.sku.as_str()).collect();
    let rows = c
        .query("SELECT sku FROM products WHERE sku = ANY($1)", &[&skus])
        .await?;
    let known: BTreeSet<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut errors = Errors::default();
    for (i, b) in bins.iter().enumerate() {
        if !known.contains(&b.sku) {
            errors.add(format!("bins[{i}].sku"), format!("unknown SKU '{}'", b.sku));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }
    // The last entry of a SKU decides, as if the entries were applied one after another.
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for b in bins {
        last.insert(b.sku.as_str(), b.bin.trim());
    }
    let (cleared, set): (Vec<_>, Vec<_>) = last.into_iter().partition(|(_, bin)| bin.is_empty());
    let cleared: Vec<&str> = cleared.into_iter().map(|(sku, _)| sku).collect();
    let (set_skus, set_bins): (Vec<&str>, Vec<&str>) = set.into_iter().unzip();
    if !cleared.is_empty() {
        c.execute(
            "DELETE FROM sku_bins WHERE location = $1 AND sku = ANY($2)",
            &[&location, &cleared],
        )
        .await?;
    }
    if !set_skus.is_empty() {
        c.execute(
            "INSERT INTO sku_bins (location, sku, bin) \
             SELECT $1::text, u.sku, u.bin FROM unnest($2::text[], $3::text[]) AS u(sku, bin) \
             ON CONFLICT (location, sku) DO UPDATE SET bin = EXCLUDED.bin",
            &[&location, &set_skus, &set_bins],
        )
        .await?;
    }
    c.event(
        "location.bins_assigned",
        None,
        &ctx.actor,
        now(),
        &serde_json::json!({"location": location, "skus": bins.len()}),
    );
    Ok(())
}

/// Moves the fulfillment orders `ids` from `from` to `to`, each only if it is still in
/// `from`. Returns the ids that changed with their order numbers, in the order given.
async fn set_fulfillment_status(
    c: &mut Conn,
    ids: &[String],
    from: &str,
    to: &str,
    at: OffsetDateTime,
) -> Result<Vec<(String, i64)>> {
    let parsed: Vec<(&String, (i64, i32))> = ids
        .iter()
        .filter_map(|id| parse_fulfillment_order_id(id).map(|k| (id, k)))
        .collect();
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let numbers: Vec<i64> = parsed.iter().map(|(_, (n, _))| *n).collect();
    let fo_nos: Vec<i32> = parsed.iter().map(|(_, (_, f))| *f).collect();
    let rows = c
        .query(SET_FO_STATUS_SQL, &[&numbers, &fo_nos, &to, &at, &from])
        .await?;
    let mut changed: BTreeSet<(i64, i32)> = BTreeSet::new();
    for r in &rows {
        changed.insert((r.try_get(0)?, r.try_get(1)?));
    }
    Ok(parsed
        .into_iter()
        .filter(|(_, k)| changed.contains(k))
        .map(|(id, (n, _))| (id.clone(), n))
        .collect())
}

/// Releases open fulfillment orders at `location` into a new pick job, in the caller's
/// transaction.
pub(crate) async fn create_pick_job(
    c: &mut Conn,
    location: &str,
    input: &PickJobInput,
    ctx: &WriteContext,
) -> Result<Outcome<Created<PickJob>>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let place =
        reads::get_doc::<Location>(c, "SELECT doc FROM locations WHERE code = $1", location)
            .await?
            .ok_or_else(|| {
                Problem::invalid("location", format!("unknown location '{location}'"))
            })?;
    // Locked, then read: a pick job made at the same time waits here and then sees the
    // fulfillment orders this one released as `in_progress`.
    let rows = c
        .query(LOCK_CANDIDATES_SQL, &[&location, &CANDIDATE_ORDERS])
        .await?;
    let numbers: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut loaded = reads::load_orders(c, &numbers).await?;
    let orders: Vec<Order> = numbers.iter().filter_map(|n| loaded.remove(n)).collect();
    let products_sql = c.prep(ORDERS_PRODUCTS_SQL).await?;
    let (products, bins, layout) = {
        let client = &c.client;
        let (products, bins, layout) = tokio::join!(
            async { client.query(&products_sql, &[&numbers]).await },
            async {
                client
                    .query(
                        "SELECT sku, bin FROM sku_bins WHERE location = $1",
                        &[&location],
                    )
                    .await
            },
            async {
                client
                    .query_opt(
                        "SELECT doc FROM location_layouts WHERE location = $1",
                        &[&location],
                    )
                    .await
            },
        );
        (products?, bins?, layout?)
    };
    let mut product_docs: HashMap<String, Product> = HashMap::new();
    for r in &products {
        let doc: &str = r.try_get(1)?;
        product_docs.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
    }
    let mut sku_bins: HashMap<String, String> = HashMap::new();
    for r in &bins {
        sku_bins.insert(r.try_get(0)?, r.try_get(1)?);
    }
    let layout: Option<LayoutConfig> = match &layout {
        Some(r) => Some(serde_json::from_str(r.try_get(0)?).map_err(internal)?),
        None => None,
    };
    let layout = layout_of(layout)?;
    let mut candidates = pick_candidates(&orders, &place, &product_docs, &sku_bins);
    let services = reads::carrier_services(c).await?;
    apply_cutoffs(&mut candidates, &place, &services, now());
    let at = now();
    // Planned before a number is taken, so a refusal leaves no gap in the numbering.
    let Some(mut job) = plan_pick_job(0, location, input, candidates, &layout, at)? else {
        return Err(Problem::invalid(
            "filters",
            format!("no open fulfillment order at {location} matches"),
        )
        .into());
    };
    let number: i64 = c
        .query_one("SELECT nextval('pick_job_number_seq')", &[])
        .await?
        .try_get(0)?;
    job.id = pick_job_number(number);
    let doc = serde_json::to_string(&job).map_err(internal)?;
    c.execute(
        INSERT_PICK_JOB_SQL,
        &[
            &number,
            &job.location,
            &job.status.as_str(),
            &doc,
            &job.created_at,
            &job.updated_at,
        ],
    )
    .await?;
    let ids = released(&job);
    let changed = set_fulfillment_status(c, &ids, "open", "in_progress", at).await?;
    if changed.len() != ids.len() {
        // Not reachable while every writer of fulfillment orders locks their order first;
        // a job must never share a fulfillment order with another.
        let lost: Vec<&String> = ids
            .iter()
            .filter(|id| !changed.iter().any(|(done, _)| done == *id))
            .collect();
        return Err(Problem::conflict(format!(
            "fulfillment orders {lost:?} changed while the pick list was made; try again"
        ))
        .into());
    }
    for (id, order) in changed {
        c.event(
            "fulfillment_order.picking",
            Some(order),
            &ctx.actor,
            at,
            &serde_json::json!({"fulfillment_order": id, "pick_list": job.id}),
        );
    }
    ops::remember(c, ctx, 201, &job).await?;
    Ok(Outcome::Done(Created {
        value: job,
        created: true,
    }))
}

/// Locks what writing the shortages of `numbers` needs, in the global lock order: the day
/// counters of capacity locations, the balance rows of the orders' SKUs, then the orders.
async fn lock_for_shortage(c: &mut Conn, numbers: &[i64]) -> Result<()> {
    c.execute(reads::ENSURE_COUNTERS_SQL, &[]).await?;
    c.query(reads::LOCK_COUNTERS_SQL, &[]).await?;
    let rows = c
        .query(
            "SELECT DISTINCT sku FROM order_lines WHERE order_number = ANY($1) ORDER BY sku",
            &[&numbers],
        )
        .await?;
    let skus: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    ops::lock_balances(c, &skus).await?;
    c.query(
        "SELECT number FROM orders WHERE number = ANY($1) ORDER BY number FOR UPDATE",
        &[&numbers],
    )
    .await?;
    Ok(())
}

/// A scan or short pick on pick job `id`, in the caller's transaction.
pub(crate) async fn record_pick(
    c: &mut Conn,
    id: &str,
    input: &PickCommand,
    ctx: &WriteContext,
) -> Result<Outcome<PickResult>> {
    if let Some(replay) = ops::idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let not_found = || Problem::NotFound(format!("pick list {id}"));
    let number = parse_pick_job_number(id).ok_or_else(not_found)?;
    let row = c
        .query_opt(LOCK_PICK_JOB_SQL, &[&number])
        .await?
        .ok_or_else(not_found)?;
    let job: PickJob = serde_json::from_str(row.try_get(0)?).map_err(internal)?;
    // A barcode is looked up among the products of the job's SKUs only.
    let mut owner = None;
    let sku_given = input
        .pick
        .sku
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    if let (Some(code), false) = (&input.pick.barcode, sku_given) {
        let skus: Vec<&str> = job
            .lists
            .iter()
            .flat_map(|l| l.lines.iter().map(|x| x.sku.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let rows = c
            .query(
                "SELECT sku, doc FROM products WHERE sku = ANY($1)",
                &[&skus],
            )
            .await?;
        let mut by_sku: BTreeMap<String, Product> = BTreeMap::new();
        for r in &rows {
            let doc: &str = r.try_get(1)?;
            by_sku.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
        }
        owner = by_sku
            .into_values()
            .find(|p| p.barcode.as_deref() == Some(code.as_str()));
        // A product off the list is a wrong item, which the answer explains, not an
        // unknown barcode.
        if owner.is_none()
            && let Some(r) = c
                .query_opt(
                    "SELECT doc FROM products WHERE doc::jsonb ->> 'barcode' = $1 ORDER BY sku LIMIT 1",
                    &[&code.as_str()],
                )
                .await?
        {
            owner = Some(serde_json::from_str(r.try_get(0)?).map_err(internal)?);
        }
    }
    let action = resolve_pick(input.clone(), owner.as_ref())?;
    let at = now();
    // A first pass refuses a wrong scan before anything is locked, and says which
    // fulfillment orders lose units.
    let dry = plan_pick(&job, &action, |_| Vec::new(), at)?;
    let losing: BTreeSet<i64> = dry
        .update
        .losses
        .iter()
        .filter_map(|l| parse_fulfillment_order_id(&l.fulfillment_order_id).map(|(n, _)| n))
        .collect();
    let mut held: HashMap<String, Vec<FulfillmentLine>> = HashMap::new();
    if !losing.is_empty() {
        let numbers: Vec<i64> = losing.into_iter().collect();
        lock_for_shortage(c, &numbers).await?;
        for order in reads::load_orders(c, &numbers).await?.into_values() {
            for f in order.fulfillment_orders {
                held.insert(f.id, f.lines);
            }
        }
    }
    let outcome = plan_pick(
        &job,
        &action,
        |fo| held.get(fo).cloned().unwrap_or_default(),
        at,
    )?;
    // Units the bin did not hold: each fulfillment order gives them up and they are routed
    // again elsewhere; then the location writes them off.
    let inner = WriteContext {
        actor: ctx.actor.clone(),
        idempotency_key: None,
    };
    let mut missing: BTreeMap<String, i64> = BTreeMap::new();
    for (fo_id, lines) in &outcome.losses {
        for l in lines {
            *missing.entry(l.sku.clone()).or_default() += l.quantity;
        }
        let change = FulfillmentChange::Shortage {
            id: fo_id.clone(),
            lines: lines.clone(),
        };
        ops::change_fulfillment(c, &change, &inner).await?;
    }
    let mut recount = None;
    for write in shortage_writes(&job, &action, &missing) {
        if let Outcome::Done(result) = ops::write_stock(c, &write, &inner).await? {
            recount = recount.or(recount_of(&write, &result));
        }
    }
    let picked = set_fulfillment_status(
        c,
        &outcome.update.orders_picked,
        "in_progress",
        "picked",
        at,
    )
    .await?;
    for (fo_id, order) in picked {
        c.event(
            "fulfillment_order.picked",
            Some(order),
            &ctx.actor,
            at,
            &serde_json::json!({"fulfillment_order": fo_id, "pick_list": job.id}),
        );
    }
    let doc = serde_json::to_string(&outcome.job).map_err(internal)?;
    c.execute(
        UPDATE_PICK_JOB_SQL,
        &[
            &number,
            &outcome.job.status.as_str(),
            &doc,
            &outcome.job.updated_at,
        ],
    )
    .await?;
    let result = PickResult {
        job: outcome.job,
        update: outcome.update,
        recount,
    };
    ops::remember(c, ctx, 200, &result).await?;
    Ok(Outcome::Done(result))
}
