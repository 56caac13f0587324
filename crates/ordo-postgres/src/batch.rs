//! Order capture with group commit.
//!
//! Callers queue their orders; a worker takes everything queued and handles it in one
//! transaction with a fixed number of round trips, whatever the batch size:
//!
//! 1. advisory locks on every `(channel, external_id)` and idempotency key (sorted), then
//!    the lookups (existing orders, stored answers, channels, locations, routing rules,
//!    products), the day counters of locations with a daily capacity (locked `FOR UPDATE`
//!    in location order) and the stock rows of every SKU in the batch, locked `FOR UPDATE`
//!    in `(sku, location)` order;
//! 2. only when some orders already exist: loading them;
//! 3. order numbers for the new orders;
//! 4. every insert and the stock update as multi-row statements, the events last under
//!    the event lock, and COMMIT.
//!
//! Stock and capacity are decided in memory in arrival order against the locked rows, so
//! an order sees what the earlier ones in its batch took. Callers hear back only after the commit.
//! Advisory locks come before row locks, and row locks are taken in one global order, so
//! batches of several processes cannot deadlock each other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ordo_domain::Problem;
use ordo_domain::allocation::StockView;
use ordo_domain::catalog::Product;
use ordo_domain::error::Errors;
use ordo_domain::inventory::Balance;
use ordo_domain::order::{HoldReason, NewOrder, Order, order_number};
use ordo_store::{
    Created, Outcome, RoutingContext, StoreError, WriteContext, needs_products, plan_capture,
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::Config;
use uuid::Uuid;

use crate::conn::{
    BEGIN_WRITE_SQL, Conn, EVENT_LOCK_SQL, Error, EventColumns, INSERT_EVENTS_SQL, PendingEvent,
    Result, closed, db_time, describe_db_error, internal, lock_key, now,
};
use crate::reads;

/// Most orders one transaction takes: bounds the wait of the first one in a batch.
const MAX_BATCH: usize = 512;
/// Queued orders beyond which callers wait to enqueue.
const QUEUE: usize = 8192;
/// Extra attempts after a deadlock or serialisation failure.
const RETRIES: usize = 3;

type Answer = ordo_store::Result<Outcome<Created<Order>>>;

struct Job {
    order: NewOrder,
    ctx: WriteContext,
    reply: oneshot::Sender<Answer>,
}

struct Item {
    order: NewOrder,
    ctx: WriteContext,
}

pub(crate) struct Batcher {
    tx: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    workers: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Batcher {
    pub fn start(config: Config, workers: usize) -> Batcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let handles = (0..workers.max(1))
            .map(|_| tokio::spawn(worker(config.clone(), rx.clone())))
            .collect();
        Batcher {
            tx: std::sync::Mutex::new(Some(tx)),
            workers: tokio::sync::Mutex::new(handles),
        }
    }

    pub async fn capture(&self, order: NewOrder, ctx: WriteContext) -> Answer {
        let sender = self
            .tx
            .lock()
            .expect("batcher lock")
            .clone()
            .ok_or_else(|| closed().into_store())?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { order, ctx, reply })
            .await
            .map_err(|_| closed().into_store())?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the capture was abandoned".into()))?
    }

    /// Stops taking orders, lets the workers finish what is queued, and waits for them.
    pub async fn shutdown(&self) {
        self.tx.lock().expect("batcher lock").take();
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.workers.lock().await);
        for h in handles {
            let _ = h.await;
        }
    }
}

async fn worker(config: Config, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let mut jobs = Vec::new();
        {
            // Holding the receiver while waiting lets a second worker collect the next batch
            // while this one commits.
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let mut items = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            items.push(Item {
                order: job.order,
                ctx: job.ctx,
            });
            replies.push(job.reply);
        }
        match run(&config, &mut conn, &items).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) if items.len() > 1 && conn.as_ref().is_some_and(|c| !c.is_closed()) => {
                // Something in one order (say, a character PostgreSQL refuses) must not fail
                // the others: take them one at a time.
                tracing::warn!(error = %describe(&e), orders = items.len(), "capture batch failed; retrying its orders one by one");
                for (item, reply) in items.iter().zip(replies) {
                    let answer = match run(&config, &mut conn, std::slice::from_ref(item)).await {
                        Ok(mut a) => a
                            .pop()
                            .unwrap_or_else(|| Err(StoreError::Internal("no answer".into()))),
                        Err(e) => Err(StoreError::Internal(describe(&e))),
                    };
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                let message = describe(&e);
                tracing::error!(error = %message, orders = items.len(), "capture batch failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Internal(message.clone())));
                }
            }
        }
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::Db(e) => describe_db_error(e),
        Error::Store(s) => s.to_string(),
    }
}

/// One batch, retried on deadlocks and serialisation failures.
async fn run(config: &Config, slot: &mut Option<Conn>, items: &[Item]) -> Result<Vec<Answer>> {
    let mut attempt = 0;
    loop {
        if slot.as_ref().is_none_or(Conn::is_closed) {
            *slot = Some(Conn::open(config).await?);
        }
        let conn = slot.as_mut().expect("just opened");
        let result = attempt_batch(conn, items).await;
        match result {
            Ok(answers) => return Ok(answers),
            Err(e) => {
                if !conn.is_closed() {
                    conn.rollback().await;
                }
                if conn.is_closed() {
                    *slot = None;
                }
                if e.retryable() && attempt < RETRIES {
                    attempt += 1;
                    tracing::debug!(error = %describe(&e), attempt, "capture batch retried");
                    continue;
                }
                return Err(e);
            }
        }
    }
}

const LOCK_KEYS_SQL: &str = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS t(k)";
const EXISTING_SQL: &str = "SELECT o.number, o.channel, o.external_id FROM orders o \
     JOIN unnest($1::text[], $2::text[]) AS k(channel, external_id) \
     ON o.channel = k.channel AND o.external_id = k.external_id";
const STORED_ANSWERS_SQL: &str =
    "SELECT key, status, body FROM idempotency_keys WHERE key = ANY($1)";
const PRODUCTS_SQL: &str = "SELECT sku, active, doc FROM products WHERE sku = ANY($1)";
const LOCK_BALANCES_SQL: &str = "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
     FROM balances WHERE sku = ANY($1) ORDER BY sku, location FOR UPDATE";
const NUMBERS_SQL: &str = "SELECT nextval('order_number_seq') FROM generate_series(1, $1::int)";
const CUSTOMERS_SQL: &str = "INSERT INTO customers (email, name, phone, created_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) \
     ON CONFLICT (email) DO UPDATE SET name = COALESCE(EXCLUDED.name, customers.name), \
     phone = COALESCE(EXCLUDED.phone, customers.phone)";
// The division fails the transaction if a row went missing, before COMMIT can run. The
// customer is looked up row by row (by its unique email) rather than joined: a join may be
// planned as a scan of every customer.
const ORDERS_SQL: &str = "WITH ins AS (INSERT INTO orders (number, id, channel, external_id, status, fill_status, \
     hold_reason, placed_at, created_at, updated_at, customer_id, email, ship_country, currency, priority, total, units, doc) \
     SELECT u.number, u.id, u.channel, u.external_id, u.status, u.fill_status, u.hold_reason, u.placed_at, u.created_at, \
     u.created_at, (SELECT c.id FROM customers c WHERE c.email = u.email), u.email, u.ship_country, u.currency, u.priority, u.total, u.units, u.doc \
     FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], \
     $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::int[], $14::bigint[], $15::bigint[], $16::text[]) \
     AS u(number, id, channel, external_id, status, fill_status, hold_reason, placed_at, created_at, email, ship_country, \
     currency, priority, total, units, doc) RETURNING 1) \
     SELECT 1 / (CASE WHEN count(*) = cardinality($1::bigint[]) THEN 1 ELSE 0 END) FROM ins";
const LINES_SQL: &str = "INSERT INTO order_lines (order_number, line_no, sku, quantity, unit_price, discount, tax, \
     allocated, backordered) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], \
     $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])";
const ALLOCATIONS_SQL: &str = "INSERT INTO allocations (order_number, fo_no, line_no, location, quantity) \
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::bigint[])";
const FULFILLMENT_SQL: &str = "INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, \
     created_at, updated_at) SELECT u.n, u.f, u.l, u.s, u.r, u.t, u.t \
     FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS u(n, f, l, s, r, t)";
const STOCK_SQL: &str = "WITH upd AS (UPDATE balances b SET allocated = b.allocated + d.delta \
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS d(sku, location, delta) \
     WHERE b.sku = d.sku AND b.location = d.location RETURNING 1) \
     SELECT 1 / (CASE WHEN count(*) = cardinality($1::text[]) THEN 1 ELSE 0 END) FROM upd";
const MOVEMENTS_SQL: &str = "INSERT INTO movements (at, sku, location, state, delta, before, after, reason, reference, actor) \
     SELECT u.at, u.sku, u.location, 'allocated', u.delta, u.before, u.after, 'allocation', u.reference, u.actor \
     FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[]) \
     AS u(at, sku, location, delta, before, after, reference, actor)";
const ANSWERS_SQL: &str = "INSERT INTO idempotency_keys (key, status, body, created_at) \
     SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[]) ON CONFLICT (key) DO NOTHING";

/// The locked stock of the batch's SKUs, updated as orders take from it.
struct Stock(HashMap<String, HashMap<String, Balance>>);

impl StockView for Stock {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.0
            .get(sku)
            .and_then(|m| m.get(location))
            .map_or(0, Balance::available)
    }
}

enum Decision {
    /// The stored answer to an earlier request with the same idempotency key.
    Replay {
        status: u16,
        body: String,
    },
    /// Same idempotency key as an earlier order of this batch.
    ReplayOf(usize),
    /// Already stored before this batch.
    Existing(Box<Order>),
    /// Captured by an earlier order of this batch.
    ExistingOf(usize),
    Invalid(Problem),
    New,
}

/// What a new order of the batch became.
struct Captured {
    order: Order,
}

impl Captured {
    /// The order as a later read returns it: allocations sorted by location rather than
    /// in the order the strategy chose them.
    fn as_stored(&self) -> Order {
        let mut order = self.order.clone();
        for line in &mut order.lines {
            line.allocations.sort_by(|a, b| a.location.cmp(&b.location));
        }
        order
    }
}

#[derive(Default)]
struct OrderColumns {
    number: Vec<i64>,
    id: Vec<Uuid>,
    channel: Vec<String>,
    external_id: Vec<String>,
    status: Vec<&'static str>,
    fill_status: Vec<&'static str>,
    hold_reason: Vec<Option<&'static str>>,
    placed_at: Vec<OffsetDateTime>,
    created_at: Vec<OffsetDateTime>,
    email: Vec<String>,
    ship_country: Vec<String>,
    currency: Vec<String>,
    priority: Vec<i32>,
    total: Vec<i64>,
    units: Vec<i64>,
    doc: Vec<String>,
}

#[derive(Default)]
struct LineColumns {
    number: Vec<i64>,
    line_no: Vec<i32>,
    sku: Vec<String>,
    quantity: Vec<i64>,
    unit_price: Vec<i64>,
    discount: Vec<i64>,
    tax: Vec<i64>,
    allocated: Vec<i64>,
    backordered: Vec<i64>,
}

#[derive(Default)]
struct AllocationColumns {
    number: Vec<i64>,
    fo_no: Vec<i32>,
    line_no: Vec<i32>,
    location: Vec<String>,
    quantity: Vec<i64>,
}

#[derive(Default)]
struct FulfillmentColumns {
    number: Vec<i64>,
    fo_no: Vec<i32>,
    location: Vec<String>,
    status: Vec<&'static str>,
    request_status: Vec<Option<&'static str>>,
    at: Vec<OffsetDateTime>,
}

#[derive(Default)]
struct MovementColumns {
    at: Vec<OffsetDateTime>,
    sku: Vec<String>,
    location: Vec<String>,
    delta: Vec<i64>,
    before: Vec<i64>,
    after: Vec<i64>,
    reference: Vec<String>,
    actor: Vec<String>,
}

#[derive(Default)]
struct AnswerColumns {
    key: Vec<String>,
    status: Vec<i32>,
    body: Vec<String>,
    at: Vec<OffsetDateTime>,
}

async fn attempt_batch(c: &mut Conn, items: &[Item]) -> Result<Vec<Answer>> {
    let mut keys: Vec<i64> = Vec::with_capacity(items.len() * 2);
    let mut pair_channels: Vec<&str> = Vec::with_capacity(items.len());
    let mut pair_external: Vec<&str> = Vec::with_capacity(items.len());
    let mut answer_keys: Vec<&str> = Vec::new();
    let mut skus: BTreeSet<&str> = BTreeSet::new();
    for it in items {
        keys.push(lock_key(&[
            "order",
            &it.order.channel,
            &it.order.external_id,
        ]));
        pair_channels.push(&it.order.channel);
        pair_external.push(&it.order.external_id);
        if let Some(k) = &it.ctx.idempotency_key {
            keys.push(lock_key(&["idempotency", k]));
            answer_keys.push(k);
        }
        skus.extend(it.order.lines.iter().map(|l| l.sku.as_str()));
    }
    // One global order for advisory locks, so two batches never wait on each other in a cycle.
    keys.sort_unstable();
    keys.dedup();
    let skus: Vec<&str> = skus.into_iter().collect();

    let lock_keys = c.prep(LOCK_KEYS_SQL).await?;
    let existing_sql = c.prep(EXISTING_SQL).await?;
    let answers_sql = c.prep(STORED_ANSWERS_SQL).await?;
    let channels_sql = c.prep(reads::CHANNEL_DOCS_SQL).await?;
    let locations_sql = c.prep(reads::LOCATION_DOCS_SQL).await?;
    let rules_sql = c.prep(reads::RULES_SQL).await?;
    let products_sql = c.prep(PRODUCTS_SQL).await?;
    let ensure_counters_sql = c.prep(reads::ENSURE_COUNTERS_SQL).await?;
    let counters_sql = c.prep(reads::LOCK_COUNTERS_SQL).await?;
    let balances_sql = c.prep(LOCK_BALANCES_SQL).await?;

    c.mark_in_tx(true);
    let client = &c.client;
    let (
        begin,
        locked,
        existing,
        stored,
        channels,
        locations,
        rules,
        products,
        ensured,
        counters,
        balances,
    ) = tokio::join!(
        client.batch_execute(BEGIN_WRITE_SQL),
        async { client.execute(&lock_keys, &[&keys]).await },
        async {
            client
                .query(&existing_sql, &[&pair_channels, &pair_external])
                .await
        },
        async { client.query(&answers_sql, &[&answer_keys]).await },
        async { client.query(&channels_sql, &[]).await },
        async { client.query(&locations_sql, &[]).await },
        async { client.query(&rules_sql, &[]).await },
        async { client.query(&products_sql, &[&skus]).await },
        async { client.execute(&ensure_counters_sql, &[]).await },
        async { client.query(&counters_sql, &[]).await },
        async { client.query(&balances_sql, &[&skus]).await },
    );
    begin?;
    locked?;
    ensured?;
    let (existing, stored, channels, locations, rules, products, counters, balances) = (
        existing?, stored?, channels?, locations?, rules?, products?, counters?, balances?,
    );

    let catalog = reads::catalog_from(&channels, &locations)?;
    let rules = reads::rules_from(&rules)?;
    let mut day_counts = reads::DayCounts::default();
    day_counts.add_rows(&counters)?;
    let missing = day_counts.missing(&catalog.locations);
    if !missing.is_empty() {
        // A capacity saved between the statements above: lock its counter now.
        let rows = c.query(reads::LOCK_MORE_COUNTERS_SQL, &[&missing]).await?;
        day_counts.add_rows(&rows)?;
    }
    let has_capacity = catalog
        .locations
        .iter()
        .any(|l| l.routing.daily_capacity.is_some());
    let load_products = needs_products(&rules, &catalog.locations);
    let mut stored_answers: HashMap<String, (u16, String)> = HashMap::with_capacity(stored.len());
    for r in &stored {
        let status: i32 = r.try_get(1)?;
        stored_answers.insert(
            r.try_get(0)?,
            (u16::try_from(status).map_err(internal)?, r.try_get(2)?),
        );
    }
    let mut active: HashMap<String, bool> = HashMap::with_capacity(products.len());
    let mut product_docs: HashMap<String, Product> = HashMap::new();
    for r in &products {
        let sku: String = r.try_get(0)?;
        if load_products {
            let doc: &str = r.try_get(2)?;
            product_docs.insert(sku.clone(), serde_json::from_str(doc).map_err(internal)?);
        }
        active.insert(sku, r.try_get(1)?);
    }
    let mut stock = Stock(HashMap::new());
    for r in &balances {
        let sku: String = r.try_get(0)?;
        let location: String = r.try_get(1)?;
        stock
            .0
            .entry(sku)
            .or_default()
            .insert(location, reads::balance_from(r, 2)?);
    }
    let mut existing_numbers: HashMap<(String, String), i64> =
        HashMap::with_capacity(existing.len());
    for r in &existing {
        existing_numbers.insert((r.try_get(1)?, r.try_get(2)?), r.try_get(0)?);
    }
    let mut existing_orders = if existing_numbers.is_empty() {
        HashMap::new()
    } else {
        let numbers: Vec<i64> = existing_numbers.values().copied().collect();
        reads::load_orders(c, &numbers).await?
    };

    // Decide each order in arrival order, as if they had come one after another.
    let mut decisions: Vec<Decision> = Vec::with_capacity(items.len());
    let mut answered_in_batch: HashMap<&str, usize> = HashMap::new();
    let mut captured_in_batch: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        let key = it.ctx.idempotency_key.as_deref();
        if let Some(k) = key {
            if let Some((status, body)) = stored_answers.get(k) {
                decisions.push(Decision::Replay {
                    status: *status,
                    body: body.clone(),
                });
                continue;
            }
            if let Some(&first) = answered_in_batch.get(k) {
                decisions.push(Decision::ReplayOf(first));
                continue;
            }
        }
        let pair = (it.order.channel.as_str(), it.order.external_id.as_str());
        let decision =
            if let Some(n) = existing_numbers.get(&(pair.0.to_string(), pair.1.to_string())) {
                match existing_orders.get(n) {
                    Some(o) => Decision::Existing(Box::new(o.clone())),
                    None => return Err(internal(format!("order {} vanished", order_number(*n)))),
                }
            } else if let Some(&first) = captured_in_batch.get(&pair) {
                Decision::ExistingOf(first)
            } else {
                match check(&it.order, &catalog, &active) {
                    Ok(()) => {
                        captured_in_batch.insert(pair, i);
                        Decision::New
                    }
                    Err(p) => Decision::Invalid(p),
                }
            };
        if let Some(k) = key
            && !matches!(decision, Decision::Invalid(_))
        {
            answered_in_batch.insert(k, i);
        }
        decisions.push(decision);
    }
    existing_orders.clear();

    let new_count = decisions
        .iter()
        .filter(|d| matches!(d, Decision::New))
        .count();
    let mut numbers: Vec<i64> = if new_count > 0 {
        let n = i32::try_from(new_count).map_err(internal)?;
        let rows = c.query(NUMBERS_SQL, &[&n]).await?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?
    } else {
        Vec::new()
    };
    numbers.sort_unstable();
    let mut numbers = numbers.into_iter();

    let mut captured: HashMap<usize, Captured> = HashMap::with_capacity(new_count);
    let mut orders = OrderColumns::default();
    let mut lines = LineColumns::default();
    let mut allocs = AllocationColumns::default();
    let mut fos = FulfillmentColumns::default();
    let mut bumps = reads::Bumps::default();
    let mut moves = MovementColumns::default();
    let mut events = EventColumns::default();
    let mut deltas: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut customers: BTreeMap<&str, (Option<&str>, Option<&str>, OffsetDateTime)> =
        BTreeMap::new();
    for (i, (it, decision)) in items.iter().zip(&decisions).enumerate() {
        let Decision::New = decision else {
            continue;
        };
        let number = numbers
            .next()
            .ok_or_else(|| internal("fewer order numbers than orders"))?;
        let at = now();
        let channel = catalog
            .channels
            .get(&it.order.channel)
            .ok_or_else(|| internal("checked channel vanished"))?;
        let today = if has_capacity {
            day_counts.orders_today(&catalog.locations, at)
        } else {
            HashMap::new()
        };
        let routing = RoutingContext {
            channel,
            locations: &catalog.locations,
            rules: &rules,
            orders_today: &today,
            products: &product_docs,
        };
        let mut plan = plan_capture(&it.order, number, Uuid::now_v7(), at, &routing, &stock);
        for (location, day) in &plan.capacity_used {
            day_counts.bump(location, *day);
            bumps.add(location, *day);
        }
        for f in &plan.fulfillment {
            fos.number.push(number);
            fos.fo_no.push(f.fo_no);
            fos.location.push(f.location.clone());
            fos.status.push(f.status.as_str());
            fos.request_status
                .push(f.request_status.map(|r| r.as_str()));
            fos.at.push(f.created_at);
        }
        plan.header.placed_at = db_time(plan.header.placed_at);
        plan.order.placed_at = plan.header.placed_at;
        let reference = format!("order:{}", order_number(number));
        for a in &plan.allocations {
            let balance = stock
                .0
                .get_mut(&a.sku)
                .and_then(|m| m.get_mut(&a.location))
                .ok_or_else(|| internal("allocation without a balance"))?;
            let before = balance.allocated;
            balance.allocated += a.quantity;
            moves.at.push(at);
            moves.sku.push(a.sku.clone());
            moves.location.push(a.location.clone());
            moves.delta.push(a.quantity);
            moves.before.push(before);
            moves.after.push(balance.allocated);
            moves.reference.push(reference.clone());
            moves.actor.push(it.ctx.actor.clone());
            *deltas
                .entry((a.sku.clone(), a.location.clone()))
                .or_default() += a.quantity;
            allocs.number.push(number);
            allocs.fo_no.push(a.fo_no);
            allocs.line_no.push(a.line_no);
            allocs.location.push(a.location.clone());
            allocs.quantity.push(a.quantity);
        }
        for l in &plan.lines {
            lines.number.push(number);
            lines.line_no.push(l.line_no);
            lines.sku.push(l.sku.clone());
            lines.quantity.push(l.quantity);
            lines.unit_price.push(l.unit_price);
            lines.discount.push(l.discount);
            lines.tax.push(l.tax);
            lines.allocated.push(l.allocated);
            lines.backordered.push(l.backordered);
        }
        let h = &plan.header;
        orders.number.push(number);
        orders.id.push(h.id);
        orders.channel.push(h.channel.clone());
        orders.external_id.push(h.external_id.clone());
        orders.status.push(h.status.as_str());
        orders.fill_status.push(h.fill_status.as_str());
        orders
            .hold_reason
            .push(h.hold_reason.map(HoldReason::as_str));
        orders.placed_at.push(h.placed_at);
        orders.created_at.push(h.created_at);
        orders.email.push(h.email.clone());
        orders.ship_country.push(h.ship_country.clone());
        orders.currency.push(h.currency.clone());
        orders.priority.push(h.priority);
        orders.total.push(h.total);
        orders.units.push(h.units);
        orders.doc.push(h.doc.clone());
        for e in &plan.events {
            events.push(PendingEvent {
                at,
                kind: e.kind.to_string(),
                order_number: Some(number),
                actor: it.ctx.actor.clone(),
                data: e.data.to_string(),
            });
        }
        // Later orders of the batch win, as consecutive upserts would.
        let customer = &it.order.customer;
        let entry = customers
            .entry(customer.email.as_str())
            .or_insert((None, None, at));
        entry.0 = customer.name.as_deref().or(entry.0);
        entry.1 = customer.phone.as_deref().or(entry.1);
        captured.insert(i, Captured { order: plan.order });
    }

    // Every caller's answer, and the answers kept for idempotency keys.
    let mut answers: Vec<Answer> = Vec::with_capacity(items.len());
    let mut kept: Vec<Option<(u16, String)>> = Vec::with_capacity(items.len());
    let mut keep = AnswerColumns::default();
    let at = now();
    for (i, (it, decision)) in items.iter().zip(decisions).enumerate() {
        let answer: Answer = match decision {
            Decision::Replay { status, body } => Ok(Outcome::Replayed { status, body }),
            Decision::ReplayOf(first) => {
                let (status, body) = kept[first]
                    .clone()
                    .ok_or_else(|| internal("replay of an unanswered order"))?;
                Ok(Outcome::Replayed { status, body })
            }
            Decision::Invalid(p) => Err(p.into()),
            Decision::Existing(order) => Ok(Outcome::Done(Created {
                value: *order,
                created: false,
            })),
            Decision::ExistingOf(first) => {
                let order = captured
                    .get(&first)
                    .ok_or_else(|| internal("missing captured order"))?
                    .as_stored();
                Ok(Outcome::Done(Created {
                    value: order,
                    created: false,
                }))
            }
            Decision::New => {
                let order = captured
                    .get(&i)
                    .ok_or_else(|| internal("missing captured order"))?
                    .order
                    .clone();
                Ok(Outcome::Done(Created {
                    value: order,
                    created: true,
                }))
            }
        };
        let body = match &answer {
            Ok(Outcome::Done(created)) if it.ctx.idempotency_key.is_some() => Some((
                if created.created { 201 } else { 200 },
                serde_json::to_string(&created.value).map_err(internal)?,
            )),
            _ => None,
        };
        if let (Some(key), Some((status, body))) = (&it.ctx.idempotency_key, &body) {
            keep.key.push(key.clone());
            keep.status.push(i32::from(*status));
            keep.body.push(body.clone());
            keep.at.push(at);
        }
        kept.push(body);
        answers.push(answer);
    }

    let mut customer_email: Vec<&str> = Vec::with_capacity(customers.len());
    let mut customer_name: Vec<Option<&str>> = Vec::with_capacity(customers.len());
    let mut customer_phone: Vec<Option<&str>> = Vec::with_capacity(customers.len());
    let mut customer_at: Vec<OffsetDateTime> = Vec::with_capacity(customers.len());
    for (email, (name, phone, at)) in &customers {
        customer_email.push(email);
        customer_name.push(*name);
        customer_phone.push(*phone);
        customer_at.push(*at);
    }
    let mut delta_sku: Vec<&str> = Vec::with_capacity(deltas.len());
    let mut delta_location: Vec<&str> = Vec::with_capacity(deltas.len());
    let mut delta_quantity: Vec<i64> = Vec::with_capacity(deltas.len());
    for ((sku, location), q) in &deltas {
        delta_sku.push(sku);
        delta_location.push(location);
        delta_quantity.push(*q);
    }

    let customers_sql = c.prep(CUSTOMERS_SQL).await?;
    let orders_sql = c.prep(ORDERS_SQL).await?;
    let lines_sql = c.prep(LINES_SQL).await?;
    let allocations_sql = c.prep(ALLOCATIONS_SQL).await?;
    let fulfillment_sql = c.prep(FULFILLMENT_SQL).await?;
    let bump_sql = c.prep(reads::BUMP_COUNTERS_SQL).await?;
    let (bump_location, bump_day, bump_orders) = bumps.columns();
    let has_fulfillment = !fos.number.is_empty();
    let has_bumps = !bump_location.is_empty();
    let stock_sql = c.prep(STOCK_SQL).await?;
    let movements_sql = c.prep(MOVEMENTS_SQL).await?;
    let keep_sql = c.prep(ANSWERS_SQL).await?;
    let event_lock = c.prep(EVENT_LOCK_SQL).await?;
    let events_sql = c.prep(INSERT_EVENTS_SQL).await?;
    let has_orders = !orders.number.is_empty();
    let has_stock = !deltas.is_empty();
    let has_keep = !keep.key.is_empty();
    let has_events = !events.is_empty();
    let client = &c.client;
    // Sent together; the server runs them in this order. Statements with nothing to do are
    // skipped so that a batch of replays takes no lock it does not need.
    let (
        r_customers,
        r_orders,
        r_lines,
        r_fos,
        r_allocs,
        r_stock,
        r_moves,
        r_bumps,
        r_keep,
        r_lock,
        r_events,
        r_commit,
    ) = tokio::join!(
        async {
            if has_orders {
                client
                    .execute(
                        &customers_sql,
                        &[
                            &customer_email,
                            &customer_name,
                            &customer_phone,
                            &customer_at,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_orders {
                client
                    .execute(
                        &orders_sql,
                        &[
                            &orders.number,
                            &orders.id,
                            &orders.channel,
                            &orders.external_id,
                            &orders.status,
                            &orders.fill_status,
                            &orders.hold_reason,
                            &orders.placed_at,
                            &orders.created_at,
                            &orders.email,
                            &orders.ship_country,
                            &orders.currency,
                            &orders.priority,
                            &orders.total,
                            &orders.units,
                            &orders.doc,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_orders {
                client
                    .execute(
                        &lines_sql,
                        &[
                            &lines.number,
                            &lines.line_no,
                            &lines.sku,
                            &lines.quantity,
                            &lines.unit_price,
                            &lines.discount,
                            &lines.tax,
                            &lines.allocated,
                            &lines.backordered,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_fulfillment {
                client
                    .execute(
                        &fulfillment_sql,
                        &[
                            &fos.number,
                            &fos.fo_no,
                            &fos.location,
                            &fos.status,
                            &fos.request_status,
                            &fos.at,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_stock {
                client
                    .execute(
                        &allocations_sql,
                        &[
                            &allocs.number,
                            &allocs.fo_no,
                            &allocs.line_no,
                            &allocs.location,
                            &allocs.quantity,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_stock {
                client
                    .execute(&stock_sql, &[&delta_sku, &delta_location, &delta_quantity])
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_stock {
                client
                    .execute(
                        &movements_sql,
                        &[
                            &moves.at,
                            &moves.sku,
                            &moves.location,
                            &moves.delta,
                            &moves.before,
                            &moves.after,
                            &moves.reference,
                            &moves.actor,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_bumps {
                client
                    .execute(&bump_sql, &[&bump_location, &bump_day, &bump_orders])
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_keep {
                client
                    .execute(&keep_sql, &[&keep.key, &keep.status, &keep.body, &keep.at])
                    .await
            } else {
                Ok(0)
            }
        },
        async {
            if has_events {
                client.execute(&event_lock, &[]).await
            } else {
                Ok(0)
            }
        },
        async {
            if has_events {
                client
                    .execute(
                        &events_sql,
                        &[
                            &events.at,
                            &events.kind,
                            &events.order_number,
                            &events.actor,
                            &events.data,
                        ],
                    )
                    .await
            } else {
                Ok(0)
            }
        },
        client.batch_execute("COMMIT"),
    );
    // COMMIT after a failed statement is a rollback: the transaction is over either way.
    c.mark_in_tx(false);
    for r in [
        r_customers,
        r_orders,
        r_lines,
        r_fos,
        r_allocs,
        r_stock,
        r_moves,
        r_bumps,
        r_keep,
        r_lock,
        r_events,
    ] {
        r?;
    }
    r_commit?;
    Ok(answers)
}

/// The checks that need the database: the channel and every SKU must exist and be active.
fn check(
    order: &NewOrder,
    catalog: &reads::Catalog,
    active: &HashMap<String, bool>,
) -> Result<(), Problem> {
    let Some(channel) = catalog.channels.get(&order.channel) else {
        return Err(Problem::invalid(
            "channel",
            format!("unknown channel '{}'", order.channel),
        ));
    };
    if !channel.active {
        return Err(Problem::invalid(
            "channel",
            format!("channel '{}' is inactive", order.channel),
        ));
    }
    let mut errors = Errors::default();
    for (i, line) in order.lines.iter().enumerate() {
        if order.is_unmapped(i) {
            // Held until mapped: the channel's reference names no product.
            continue;
        }
        match active.get(&line.sku) {
            None => errors.add(
                format!("lines[{i}].sku"),
                format!("unknown SKU '{}'", line.sku),
            ),
            Some(false) => errors.add(
                format!("lines[{i}].sku"),
                format!("product '{}' is inactive", line.sku),
            ),
            Some(true) => {}
        }
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0));
    }
    Ok(())
}
