//! Connector state (`channel_sync`) and the ledger's change feed for stock pushes.

use std::collections::BTreeSet;

use ordo_store::{Result, StockChanges, SyncEntry, format_time, parse_time};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::internal;
use crate::writer::Writer;

/// Rows re-read behind the cursor when looking for late commits.
const LATE_WINDOW_ROWS: i64 = 10_000;

fn entry(key: String, value: String, at: String) -> Result<SyncEntry> {
    Ok(SyncEntry {
        key,
        value,
        updated_at: parse_time(&at).map_err(internal)?,
    })
}

pub(crate) fn get(c: &Connection, channel: &str, key: &str) -> Result<Option<SyncEntry>> {
    let row = c
        .prepare_cached(
            "SELECT value, updated_at FROM channel_sync WHERE channel = ?1 AND key = ?2",
        )
        .map_err(internal)?
        .query_row(params![channel, key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(internal)?;
    row.map(|(v, at)| entry(key.to_string(), v, at)).transpose()
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

/// Keys starting with `prefix`: `key >= prefix AND key < prefix_end(prefix)` is a range
/// scan on the primary key (BINARY collation: bytewise), with no LIKE wildcards to escape.
pub(crate) fn list(
    c: &Connection,
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
    let row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    };
    let rows = match prefix_end(prefix) {
        Some(upper) => c
            .prepare_cached(
                "SELECT key, value, updated_at FROM channel_sync \
                 WHERE channel = ?1 AND key >= ?2 AND key < ?3 AND key > ?4 ORDER BY key LIMIT ?5",
            )
            .and_then(|mut s| {
                s.query_map(params![channel, prefix, upper, lower, limit], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }),
        None => c
            .prepare_cached(
                "SELECT key, value, updated_at FROM channel_sync \
                 WHERE channel = ?1 AND key >= ?2 AND key > ?3 ORDER BY key LIMIT ?4",
            )
            .and_then(|mut s| {
                s.query_map(params![channel, prefix, lower, limit], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }),
    }
    .map_err(internal)?;
    rows.into_iter().map(|(k, v, at)| entry(k, v, at)).collect()
}

pub(crate) fn put(
    w: &mut Writer,
    channel: &str,
    entries: &[(String, Option<String>)],
) -> Result<()> {
    let at = format_time(OffsetDateTime::now_utc());
    for (key, value) in entries {
        match value {
            Some(v) => w
                .conn
                .prepare_cached(
                    "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .map_err(internal)?
                .execute(params![channel, key, v, at])
                .map_err(internal)?,
            None => w
                .conn
                .prepare_cached("DELETE FROM channel_sync WHERE channel = ?1 AND key = ?2")
                .map_err(internal)?
                .execute(params![channel, key])
                .map_err(internal)?,
        };
    }
    Ok(())
}

pub(crate) fn insert_if_absent(
    w: &mut Writer,
    channel: &str,
    key: &str,
    value: &str,
) -> Result<bool> {
    let at = format_time(OffsetDateTime::now_utc());
    let n = w
        .conn
        .prepare_cached(
            "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (channel, key) DO NOTHING",
        )
        .map_err(internal)?
        .execute(params![channel, key, value, at])
        .map_err(internal)?;
    Ok(n == 1)
}

pub(crate) fn stock_changes(
    c: &Connection,
    after: i64,
    since: OffsetDateTime,
    limit: i64,
) -> Result<StockChanges> {
    let since = format_time(since);
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, sku FROM movements WHERE seq > ?1 AND (seq > ?2 OR at >= ?3) ORDER BY seq LIMIT ?4",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(
            params![
                (after - LATE_WINDOW_ROWS).max(0),
                after,
                since,
                limit.max(1)
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .map_err(internal)?;
    let mut skus = BTreeSet::new();
    let mut last = after;
    for row in rows {
        let (seq, sku) = row.map_err(internal)?;
        last = last.max(seq);
        skus.insert(sku);
    }
    Ok(StockChanges {
        skus: skus.into_iter().collect(),
        last_movement: last,
    })
}

pub(crate) fn list_api_keys(c: &Connection) -> Result<Vec<ordo_store::ApiKey>> {
    let mut stmt = c
        .prepare_cached("SELECT id, name, role, created_at FROM api_keys ORDER BY id")
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, role, at) = row.map_err(internal)?;
        out.push(ordo_store::ApiKey {
            id,
            name,
            role: ordo_store::Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
            created_at: parse_time(&at).map_err(internal)?,
        });
    }
    Ok(out)
}

pub(crate) fn delete_api_key(w: &mut Writer, id: i64) -> Result<bool> {
    let n = w
        .conn
        .prepare_cached("DELETE FROM api_keys WHERE id = ?1")
        .map_err(internal)?
        .execute(params![id])
        .map_err(internal)?;
    Ok(n == 1)
}

pub(crate) fn list_users(c: &Connection) -> Result<Vec<ordo_store::User>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, username, role, disabled_at IS NOT NULL FROM users ORDER BY username",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, username, role, disabled) = row.map_err(internal)?;
        out.push(ordo_store::User {
            id,
            username,
            role: ordo_store::Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
            disabled,
        });
    }
    Ok(out)
}

pub(crate) fn create_claim(
    w: &mut Writer,
    order: &str,
    claim: ordo_domain::claims::NewClaim,
    ctx: &ordo_store::WriteContext,
) -> Result<ordo_store::Claim> {
    let number = crate::reads::resolve_order(&w.conn, order)?
        .ok_or_else(|| ordo_domain::Problem::NotFound(format!("order {order}")))?;
    let currency: String = w
        .conn
        .prepare_cached("SELECT currency FROM orders WHERE number = ?1")
        .map_err(internal)?
        .query_row(params![number], |r| r.get(0))
        .map_err(internal)?;
    let doc = ordo_store::ClaimDoc::new(claim);
    let now = ordo_store::to_micros(OffsetDateTime::now_utc());
    let at = format_time(now);
    w.conn
        .prepare_cached(
            "INSERT INTO claims (order_number, currency, doc, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(internal)?
        .execute(params![
            number,
            currency,
            serde_json::to_string(&doc).map_err(internal)?,
            at
        ])
        .map_err(internal)?;
    let id = w.conn.last_insert_rowid();
    for e in doc.events(id, number, &currency) {
        crate::ops::append_event(&w.conn, e.kind, Some(number), &ctx.actor, &at, &e.data)?;
    }
    Ok(doc.view(id, number, &currency, now))
}

pub(crate) fn list_claims(
    c: &Connection,
    order: Option<&str>,
    limit: i64,
) -> Result<Vec<ordo_store::Claim>> {
    let order_number = match order {
        Some(o) => match crate::reads::resolve_order(c, o)? {
            Some(n) => Some(n),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let mut stmt = c
        .prepare_cached(
            "SELECT number, order_number, currency, doc, created_at FROM claims \
             WHERE (?1 IS NULL OR order_number = ?1) ORDER BY number DESC LIMIT ?2",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![order_number, limit.clamp(1, 100_000)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (number, order, currency, doc, at) = row.map_err(internal)?;
        let doc: ordo_store::ClaimDoc = serde_json::from_str(&doc).map_err(internal)?;
        out.push(doc.view(number, order, &currency, parse_time(&at).map_err(internal)?));
    }
    Ok(out)
}

pub(crate) fn add(w: &mut Writer, channel: &str, key: &str, delta: i64) -> Result<i64> {
    let at = format_time(OffsetDateTime::now_utc());
    w.conn
        .prepare_cached(
            "INSERT INTO channel_sync (channel, key, value, updated_at) VALUES (?1, ?2, CAST(?3 AS TEXT), ?4) \
             ON CONFLICT (channel, key) DO UPDATE SET \
             value = CAST(CAST(value AS INTEGER) + ?3 AS TEXT), updated_at = excluded.updated_at \
             RETURNING CAST(value AS INTEGER)",
        )
        .map_err(internal)?
        .query_row(params![channel, key, delta, at], |r| r.get(0))
        .map_err(internal)
}

pub(crate) fn channel_order_number(
    c: &Connection,
    channel: &str,
    external_id: &str,
) -> Result<Option<i64>> {
    c.prepare_cached("SELECT number FROM orders WHERE channel = ?1 AND external_id = ?2")
        .map_err(internal)?
        .query_row(params![channel, external_id], |r| r.get(0))
        .optional()
        .map_err(internal)
}
