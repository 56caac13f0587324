//! Connector state (`channel_sync`) and the ledger's change feed for stock pushes.

use std::collections::BTreeSet;

use ordo_store::{StockChanges, SyncEntry};
use time::OffsetDateTime;

use crate::conn::{Conn, Result, now};

/// Rows re-read behind the cursor when looking for late commits.
const LATE_WINDOW_ROWS: i64 = 10_000;

pub(crate) async fn get(c: &mut Conn, channel: &str, key: &str) -> Result<Option<SyncEntry>> {
    let row = c
        .query_opt(
            "SELECT value, updated_at FROM channel_sync WHERE channel = $1 AND key = $2",
            &[&channel, &key],
        )
        .await?;
    Ok(row.map(|r| SyncEntry {
        key: key.to_string(),
        value: r.get(0),
        updated_at: r.get(1),
    }))
}

/// The least string above every string that starts with `prefix` (UTF-8 byte order is code
/// point order): trailing U+10FFFF dropped, the last character then incremented. `None`
/// when there is none (empty prefix, or only U+10FFFF): every key at or above `prefix`
/// then starts with it.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Keys starting with `prefix`: `key >= prefix AND key < prefix_end(prefix)` is a range on
/// the primary key (`COLLATE "C"`: bytewise), with no LIKE wildcards to escape.
pub(crate) async fn list(
    c: &mut Conn,
    channel: &str,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<SyncEntry>> {
    let lower = match after {
        Some(a) if a >= prefix => a.to_string(),
        _ => String::new(),
    };
    let limit = limit.clamp(1, 10_000);
    let rows = match prefix_end(prefix) {
        Some(upper) => {
            c.query(
                "SELECT key, value, updated_at FROM channel_sync \
                 WHERE channel = $1 AND key >= $2 AND key < $3 AND key > $4 ORDER BY key LIMIT $5",
                &[&channel, &prefix, &upper, &lower, &limit],
            )
            .await?
        }
        None => {
            c.query(
                "SELECT key, value, updated_at FROM channel_sync \
                 WHERE channel = $1 AND key >= $2 AND key > $3 ORDER BY key LIMIT $4",
                &[&channel, &prefix, &lower, &limit],
            )
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| SyncEntry {
            key: r.get(0),
            value: r.get(1),
            updated_at: r.get(2),
        })
        .collect())
}

pub(crate) async fn put(
    c: &mut Conn,
    channel: &str,
    entries: &[(String, Option<String>)],
) -> Result<()> {
    let at = now();
    for (key, value) in entries {
        match value {
            Some(v) => {
                c.execute(
                    "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (channel, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
                    &[&channel, key, v, &at],
                )
                .await?
            }
            None => {
                c.execute("DELETE FROM channel_sync WHERE channel = $1 AND key = $2", &[&channel, key])
                    .await?
            }
        };
    }
    Ok(())
}

pub(crate) async fn insert_if_absent(
    c: &mut Conn,
    channel: &str,
    key: &str,
    value: &str,
) -> Result<bool> {
    commit_without_waiting(c).await?;
    let n = c
        .execute(
            "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (channel, key) DO NOTHING",
            &[&channel, &key, &value, &now()],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn stock_changes(
    c: &mut Conn,
    after: i64,
    since: OffsetDateTime,
    limit: i64,
) -> Result<StockChanges> {
    let rows = c
        .query(
            "SELECT seq, sku FROM movements WHERE seq > $1 AND (seq > $2 OR at >= $3) ORDER BY seq LIMIT $4",
            &[&(after - LATE_WINDOW_ROWS).max(0), &after, &since, &limit.max(1)],
        )
        .await?;
    let mut skus = BTreeSet::new();
    let mut last = after;
    for r in rows {
        last = last.max(r.get::<_, i64>(0));
        skus.insert(r.get::<_, String>(1));
    }
    Ok(StockChanges {
        skus: skus.into_iter().collect(),
        last_movement: last,
    })
}

pub(crate) async fn list_api_keys(c: &mut Conn) -> Result<Vec<ordo_store::ApiKey>> {
    let rows = c
        .query(
            "SELECT id, name, role, created_at FROM api_keys ORDER BY id",
            &[],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            let role: String = r.try_get(2)?;
            Ok(ordo_store::ApiKey {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: ordo_store::Role::parse(&role)
                    .ok_or_else(|| crate::conn::internal("unknown role"))?,
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

pub(crate) async fn delete_api_key(c: &mut Conn, id: i64) -> Result<bool> {
    Ok(c.execute("DELETE FROM api_keys WHERE id = $1", &[&id])
        .await?
        == 1)
}

pub(crate) async fn list_users(c: &mut Conn) -> Result<Vec<ordo_store::User>> {
    let rows = c
        .query(
            "SELECT id, username, role, disabled_at IS NOT NULL FROM users ORDER BY username",
            &[],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            let role: String = r.try_get(2)?;
            Ok(ordo_store::User {
                id: r.try_get(0)?,
                username: r.try_get(1)?,
                role: ordo_store::Role::parse(&role)
                    .ok_or_else(|| crate::conn::internal("unknown role"))?,
                disabled: r.try_get(3)?,
            })
        })
        .collect()
}

pub(crate) async fn create_claim(
    c: &mut Conn,
    order: &str,
    claim: ordo_domain::claims::NewClaim,
    ctx: &ordo_store::WriteContext,
) -> Result<ordo_store::Claim> {
    let number = crate::reads::resolve_order(c, order)
        .await?
        .ok_or_else(|| {
            crate::conn::Error::from(ordo_domain::Problem::NotFound(format!("order {order}")))
        })?;
    let row = c
        .query_one("SELECT currency FROM orders WHERE number = $1", &[&number])
        .await?;
    let currency: String = row.try_get(0)?;
    let doc = ordo_store::ClaimDoc::new(claim);
    let at = now();
    let text = serde_json::to_string(&doc).map_err(crate::conn::internal)?;
    let row = c
        .query_one(
            "INSERT INTO claims (order_number, currency, doc, created_at) VALUES ($1, $2, $3, $4) RETURNING number",
            &[&number, &currency, &text, &at],
        )
        .await?;
    let id: i64 = row.try_get(0)?;
    for e in doc.events(id, number, &currency) {
        c.event(e.kind, Some(number), &ctx.actor, at, &e.data);
    }
    Ok(doc.view(id, number, &currency, at))
}

pub(crate) async fn list_claims(
    c: &mut Conn,
    order: Option<&str>,
    limit: i64,
) -> Result<Vec<ordo_store::Claim>> {
    let order_number = match order {
        Some(o) => match crate::reads::resolve_order(c, o).await? {
            Some(n) => Some(n),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let rows = c
        .query(
            "SELECT number, order_number, currency, doc, created_at FROM claims \
             WHERE ($1::bigint IS NULL OR order_number = $1) ORDER BY number DESC LIMIT $2",
            &[&order_number, &limit.clamp(1, 100_000)],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            let doc: String = r.try_get(3)?;
            let doc: ordo_store::ClaimDoc =
                serde_json::from_str(&doc).map_err(crate::conn::internal)?;
            let currency: String = r.try_get(2)?;
            Ok(doc.view(r.try_get(0)?, r.try_get(1)?, &currency, r.try_get(4)?))
        })
        .collect()
}

/// Delivery ids, sync leases and counters are safe to lose in a crash (a redelivery is
/// captured idempotently, a lease expires, a counter is a statistic), so their commits do
/// not wait for the WAL flush: a webhook pays one synchronous commit (its order), not three.
async fn commit_without_waiting(c: &mut Conn) -> Result<()> {
    c.execute("SET LOCAL synchronous_commit TO OFF", &[])
        .await?;
    Ok(())
}

pub(crate) async fn add(c: &mut Conn, channel: &str, key: &str, delta: i64) -> Result<i64> {
    commit_without_waiting(c).await?;
    let row = c
        .query_one(
            "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES ($1, $2, $3::bigint::text, $4) \
             ON CONFLICT (channel, key) DO UPDATE SET \
             value = (channel_sync.value::bigint + $3::bigint)::text, updated_at = EXCLUDED.updated_at \
             RETURNING value::bigint",
            &[&channel, &key, &delta, &now()],
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub(crate) async fn channel_order_number(
    c: &mut Conn,
    channel: &str,
    external_id: &str,
) -> Result<Option<i64>> {
    let row = c
        .query_opt(
            "SELECT number FROM orders WHERE channel = $1 AND external_id = $2",
            &[&channel, &external_id],
        )
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}
