//! Two stores on one database stand for two `ordo serve` processes: stock must hold
//! across them, and event consumers must never miss an event.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use ordo_domain::order::{OrderStatus, Transition};
use ordo_postgres::PgStore;
use ordo_store::*;

async fn two_stores(name: &str) -> Option<(Arc<PgStore>, Arc<PgStore>)> {
    let (a, url) = store(name).await?;
    let b = PgStore::connect(&url).await.expect("second process");
    Some((Arc::new(a), Arc::new(b)))
}

async fn all_orders(store: &PgStore) -> Vec<OrderSummary> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_orders(
                &OrderFilter::default(),
                &PageRequest {
                    limit: Some(500),
                    cursor,
                },
            )
            .await
            .unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_oversell() {
    let Some((a, b)) = two_stores("oversell").await else {
        return;
    };
    seed(&a, &["HOT"]).await;
    a.write_stock(adjust("HOT", "WH1", 20), &ctx())
        .await
        .unwrap();
    b.write_stock(adjust("HOT", "WH2", 17), &ctx())
        .await
        .unwrap();

    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut allocated = 0;
                for i in 0..14 {
                    let answer = store
                        .capture_order(order(&format!("t{t}-{i}"), &[("HOT", 1)]), &ctx())
                        .await
                        .unwrap();
                    let Outcome::Done(c) = answer else {
                        panic!("no key, no replay")
                    };
                    assert!(c.created);
                    allocated += c.value.lines[0].allocated;
                    assert_eq!(c.value.lines[0].allocated + c.value.lines[0].backordered, 1);
                }
                allocated
            })
        })
        .collect();
    let mut allocated = 0;
    for t in tasks {
        allocated += t.await.unwrap();
    }
    assert_eq!(allocated, 37, "exactly the units on hand are promised");

    let orders = all_orders(&b).await;
    assert_eq!(orders.len(), 224);
    let ids: BTreeSet<_> = orders.iter().map(|o| o.id).collect();
    let externals: BTreeSet<_> = orders.iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(
        (ids.len(), externals.len()),
        (224, 224),
        "no duplicate orders"
    );
    let backordered = orders
        .iter()
        .filter(|o| o.status == OrderStatus::Backordered)
        .count();
    assert_eq!(backordered, 224 - 37);
    let balances = a
        .list_balances(&BalanceFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let per_location: Vec<_> = balances
        .items
        .iter()
        .map(|r| (r.location.as_str(), r.balance.allocated))
        .collect();
    assert_eq!(per_location, [("WH1", 20), ("WH2", 17)]);
    for store in [&a, &b] {
        let report = store.verify().await.unwrap();
        assert!(report.is_clean(), "{:?}", report.discrepancies);
        assert_eq!(report.orders_checked, 224);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replays_across_processes_make_one_order() {
    let Some((a, b)) = two_stores("replays").await else {
        return;
    };
    seed(&a, &["SKU-A"]).await;
    a.write_stock(adjust("SKU-A", "WH1", 100), &ctx())
        .await
        .unwrap();
    for round in 0..5 {
        let external = format!("dup-{round}");
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let external = external.clone();
                tokio::spawn(async move {
                    let ctx = if i % 3 == 0 {
                        keyed(&format!("key-{external}"))
                    } else {
                        ctx()
                    };
                    store
                        .capture_order(order(&external, &[("SKU-A", 1)]), &ctx)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut created = 0;
        let mut ids = BTreeSet::new();
        for t in tasks {
            match t.await.unwrap() {
                Outcome::Done(c) => {
                    created += usize::from(c.created);
                    ids.insert(c.value.id.to_string());
                }
                Outcome::Replayed { body, .. } => {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    ids.insert(v["id"].as_str().unwrap().to_string());
                }
            }
        }
        assert_eq!(created, 1, "round {round}");
        assert_eq!(ids.len(), 1, "round {round}");
    }
    assert_eq!(all_orders(&a).await.len(), 5);
    let balances = b
        .list_balances(&BalanceFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(balances.items[0].balance.allocated, 5);
    assert!(a.verify().await.unwrap().is_clean());
}

/// Captures, cancels, restocks and counts from two processes at once; afterwards the books
/// balance and a consumer that polled `events?after=` throughout saw every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_writers_keep_the_books_and_the_event_order() {
    let Some((a, b)) = two_stores("mixed").await else {
        return;
    };
    seed(&a, &["S1", "S2", "S3"]).await;
    for sku in ["S1", "S2", "S3"] {
        a.write_stock(adjust(sku, "WH1", 15), &ctx()).await.unwrap();
        a.write_stock(adjust(sku, "WH2", 10), &ctx()).await.unwrap();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (store, done) = (b.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let batch = store.list_events(after, 1000).await.unwrap();
                if let Some(last) = batch.last() {
                    after = last.seq;
                }
                let empty = batch.is_empty();
                seen.extend(batch.into_iter().map(|e| e.seq));
                if finished && empty {
                    return seen;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    let skus = ["S1", "S2", "S3"];
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for i in 0..30 {
                    let lines = [(skus[i % 3], 2), (skus[(i + t) % 3], 1)];
                    let Outcome::Done(c) = store
                        .capture_order(order(&format!("m{t}-{i}"), &lines), &ctx())
                        .await
                        .unwrap()
                    else {
                        panic!()
                    };
                    match i % 5 {
                        0 => {
                            store
                                .transition_order(
                                    &c.value.number,
                                    OrderChange {
                                        transition: Transition::Cancel,
                                        hold_reason: None,
                                        note: None,
                                    },
                                    &ctx(),
                                )
                                .await
                                .unwrap();
                        }
                        1 => {
                            store
                                .write_stock(
                                    adjust(
                                        skus[(i + t) % 3],
                                        if t % 2 == 0 { "WH1" } else { "WH2" },
                                        2,
                                    ),
                                    &ctx(),
                                )
                                .await
                                .unwrap();
                        }
                        2 if t == 3 => {
                            store
                                .write_stock(count(skus[i % 3], "WH1", 3, None), &ctx())
                                .await
                                .unwrap();
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let seen = poller.await.unwrap();
    let all: Vec<i64> = a
        .list_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    let mut everything = all.clone();
    let mut after = *all.last().unwrap();
    loop {
        let more = a.list_events(after, 1000).await.unwrap();
        let Some(last) = more.last() else { break };
        after = last.seq;
        everything.extend(more.into_iter().map(|e| e.seq));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen, everything, "a consumer polling by seq missed events");
    for store in [&a, &b] {
        let report = store.verify().await.unwrap();
        assert!(report.is_clean(), "{:?}", report.discrepancies);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insert_if_absent_has_one_winner_across_processes() {
    let Some((a, b)) = two_stores("sync_absent_two").await else {
        return;
    };
    for round in 0..10 {
        let key = format!("delivery:{round}");
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let store = if t % 2 == 0 { a.clone() } else { b.clone() };
                let key = key.clone();
                tokio::spawn(async move {
                    store
                        .sync_insert_if_absent("shop", &key, &format!("task-{t}"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "round {round}");
        assert!(b.sync_get("shop", &key).await.unwrap().is_some());
    }
}

/// A stock pusher polling `stock_changes` with a look-back window sees every SKU written by
/// two processes, even when a movement commits after a higher one was already read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_changes_miss_no_sku_across_processes() {
    let Some((a, b)) = two_stores("stock_changes_two").await else {
        return;
    };
    let skus: Vec<String> = (0..40).map(|i| format!("SKU-{i:02}")).collect();
    let names: Vec<&str> = skus.iter().map(String::as_str).collect();
    seed(&a, &names).await;

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = tokio::spawn({
        let (a, done) = (a.clone(), done.clone());
        async move {
            let mut seen = BTreeSet::new();
            let mut cursor = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(30);
                let changes = a.stock_changes(cursor, since, 50_000).await.unwrap();
                assert!(changes.last_movement >= cursor);
                cursor = changes.last_movement;
                seen.extend(changes.skus);
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        }
    });
    let writers: Vec<_> = skus
        .chunks(5)
        .enumerate()
        .map(|(t, chunk)| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                for sku in chunk {
                    store
                        .write_stock(adjust(&sku, "WH1", 3), &ctx())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let seen = poller.await.unwrap();
    assert_eq!(seen, skus.into_iter().collect::<BTreeSet<_>>());
}
