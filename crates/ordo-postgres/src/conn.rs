//! Connections, the pool, and the error type shared by reads and writes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ordo_domain::Problem;
use ordo_store::StoreError;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Advisory lock (two-key form, so it can never collide with the one-key hashes of
/// external ids) held from the insertion of a transaction's events until its commit.
pub(crate) const EVENT_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(1330791503, 1)";
/// Serialises migrations run by several processes starting together.
pub(crate) const MIGRATION_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(1330791503, 2)";

pub(crate) const INSERT_EVENTS_SQL: &str = "INSERT INTO events (at, kind, order_number, actor, data) \
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::text[], $5::text[])";

#[derive(Debug)]
pub(crate) enum Error {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Db(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Store(StoreError::Problem(p))
    }
}

impl Error {
    /// Deadlocks and serialisation failures roll the whole transaction back, so running
    /// it again is safe.
    pub fn retryable(&self) -> bool {
        match self {
            Error::Db(e) => {
                matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
            }
            Error::Store(_) => false,
        }
    }

    pub fn into_store(self) -> StoreError {
        match self {
            Error::Db(e) => StoreError::Internal(describe_db_error(&e)),
            Error::Store(s) => s,
        }
    }
}

pub(crate) fn describe_db_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("postgres: {} ({})", db.message(), db.code().code()),
        None => format!("postgres: {e}"),
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Store(StoreError::Internal(e.to_string()))
}

/// `timestamptz` keeps microseconds. Values are cut exactly as the driver cuts them, so
/// what a write returns equals what a later read returns.
pub(crate) fn db_time(t: OffsetDateTime) -> OffsetDateTime {
    let base = PrimitiveDateTime::new(
        time::Date::from_ordinal_date(2000, 1).expect("valid date"),
        time::Time::MIDNIGHT,
    )
    .assume_utc();
    let micros = (t - base).whole_microseconds();
    match i64::try_from(micros) {
        Ok(us) => base + Duration::microseconds(us),
        Err(_) => t,
    }
}

pub(crate) fn now() -> OffsetDateTime {
    db_time(OffsetDateTime::now_utc())
}

/// A stable 64-bit hash (FNV-1a) naming an advisory lock; every process must agree on it.
pub(crate) fn lock_key(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // 0xff never occurs in UTF-8, so ("ab", "c") and ("a", "bc") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h as i64
}

pub(crate) struct PendingEvent {
    pub at: OffsetDateTime,
    pub kind: String,
    pub order_number: Option<i64>,
    pub actor: String,
    pub data: String,
}

/// Columns for [`INSERT_EVENTS_SQL`].
#[derive(Default)]
pub(crate) struct EventColumns {
    pub at: Vec<OffsetDateTime>,
    pub kind: Vec<String>,
    pub order_number: Vec<Option<i64>>,
    pub actor: Vec<String>,
    pub data: Vec<String>,
}

impl EventColumns {
    pub fn push(&mut self, e: PendingEvent) {
        self.at.push(e.at);
        self.kind.push(e.kind);
        self.order_number.push(e.order_number);
        self.actor.push(e.actor);
        self.data.push(e.data);
    }
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }
}

/// Starts a write transaction whose statements are planned for the tables' current sizes: a
/// generic plan made while a table was small (a fresh database's first minutes) would go on
/// scanning it whole once it is large. Planning is paid per statement, and the capture batch
/// runs each statement once for many orders. Reads keep their generic plans.
pub(crate) const BEGIN_WRITE_SQL: &str = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan";

pub(crate) struct Conn {
    pub client: Client,
    statements: HashMap<&'static str, Statement>,
    /// Set while a transaction may be open: a connection dropped in that state is closed
    /// rather than handed to the next user.
    in_tx: bool,
    events: Vec<PendingEvent>,
}

impl Conn {
    pub async fn open(config: &Config) -> Result<Conn> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "postgres connection ended");
            }
        });
        // Explicit, whatever the server's default: an order is acknowledged only once durable.
        client.batch_execute("SET synchronous_commit = on").await?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            in_tx: false,
            events: Vec::new(),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub async fn prep(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.prep(sql).await?;
        Ok(self.client.query(&s, params).await?)
    }

    pub async fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let s = self.prep(sql).await?;
        Ok(self.client.query_opt(&s, params).await?)
    }

    pub async fn query_one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let s = self.prep(sql).await?;
        Ok(self.client.query_one(&s, params).await?)
    }

    pub async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let s = self.prep(sql).await?;
        Ok(self.client.execute(&s, params).await?)
    }

    pub fn mark_in_tx(&mut self, on: bool) {
        self.in_tx = on;
    }

    pub async fn begin(&mut self) -> Result<()> {
        self.in_tx = true;
        self.events.clear();
        self.client.batch_execute(BEGIN_WRITE_SQL).await?;
        Ok(())
    }

    /// Queues an event; [`Conn::commit`] appends the queued events last.
    pub fn event(
        &mut self,
        kind: &str,
        order_number: Option<i64>,
        actor: &str,
        at: OffsetDateTime,
        data: &serde_json::Value,
    ) {
        self.events.push(PendingEvent {
            at,
            kind: kind.to_string(),
            order_number,
            actor: actor.to_string(),
            data: data.to_string(),
        });
    }

    /// Commits, appending the queued events under the event lock first: the lock is held
    /// until the commit is durable, so `seq` increases in commit order.
    pub async fn commit(&mut self) -> Result<()> {
        let mut columns = EventColumns::default();
        for e in self.events.drain(..) {
            columns.push(e);
        }
        let result = self.commit_with_events(&columns).await;
        self.in_tx = false;
        result
    }

    /// Appends `events` (if any) and commits, all in one round trip.
    pub async fn commit_with_events(&mut self, events: &EventColumns) -> Result<()> {
        if events.is_empty() {
            let r = self.client.batch_execute("COMMIT").await;
            self.in_tx = false;
            return Ok(r?);
        }
        let lock = self.prep(EVENT_LOCK_SQL).await?;
        let insert = self.prep(INSERT_EVENTS_SQL).await?;
        let client = &self.client;
        let (a, b, c) = tokio::join!(
            async { client.execute(&lock, &[]).await },
            async {
                client
                    .execute(
                        &insert,
                        &[
                            &events.at,
                            &events.kind,
                            &events.order_number,
                            &events.actor,
                            &events.data,
                        ],
                    )
                    .await
            },
            client.batch_execute("COMMIT"),
        );
        // A failed statement makes the server turn COMMIT into a rollback: either way the
        // transaction is over.
        self.in_tx = false;
        a?;
        b?;
        c?;
        Ok(())
    }

    pub async fn rollback(&mut self) {
        self.events.clear();
        if self.client.batch_execute("ROLLBACK").await.is_ok() {
            self.in_tx = false;
        }
    }
}

pub(crate) struct Pool {
    config: Config,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

pub(crate) struct Pooled {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(config: Config, size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
            closed: AtomicBool::new(false),
        })
    }

    pub async fn get(self: &Arc<Self>) -> Result<Pooled> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        loop {
            let conn = self.idle.lock().expect("pool lock").pop();
            match conn {
                Some(c) if !c.is_closed() => {
                    return Ok(Pooled {
                        conn: Some(c),
                        pool: self.clone(),
                        _permit: permit,
                    });
                }
                Some(_) => continue,
                None => break,
            }
        }
        let conn = Conn::open(&self.config).await?;
        Ok(Pooled {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        })
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        self.idle.lock().expect("pool lock").clear();
    }
}

pub(crate) fn closed() -> Error {
    Error::Store(StoreError::Internal("the store is closed".into()))
}

impl std::ops::Deref for Pooled {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.in_tx
            && !conn.is_closed()
            && !self.pool.closed.load(Ordering::Acquire)
        {
            self.pool.idle.lock().expect("pool lock").push(conn);
        }
    }
}
