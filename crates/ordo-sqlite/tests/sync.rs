//! Connector state (`channel_sync`) and the ledger's change feed for stock pushes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ordo_domain::catalog::{ChannelInput, LocationInput, ProductInput};
use ordo_domain::inventory::{AdjustmentInput, StockWrite};
use ordo_domain::order::{NewOrder, OrderInput};
use ordo_sqlite::SqliteStore;
use ordo_store::{Outcome, StockChanges, Store, WriteContext};
use serde_json::json;
use time::{Duration, OffsetDateTime};

static N: AtomicU32 = AtomicU32::new(0);

fn ctx() -> WriteContext {
    WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    }
}

/// A fresh database file.
fn db_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ordo-sync-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("t.db")
}

fn open(name: &str) -> SqliteStore {
    SqliteStore::open(db_path(name)).unwrap()
}

/// One warehouse, a web channel selling from it, and products.
async fn seed(store: &SqliteStore, skus: &[&str]) {
    let location = serde_json::from_value::<LocationInput>(json!({
        "code": "WH1", "name": "Warehouse 1", "kind": "warehouse", "priority": 1,
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_location(location, &ctx()).await.unwrap();
    let channel = serde_json::from_value::<ChannelInput>(json!({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_channel(channel, &ctx()).await.unwrap();
    for sku in skus {
        let product = serde_json::from_value::<ProductInput>(json!({
            "sku": sku, "name": format!("Product {sku}"), "price": "10.00",
        }))
        .unwrap()
        .validate()
        .unwrap();
        store.put_product(product, &ctx()).await.unwrap();
    }
}

fn adjust(sku: &str, delta: i64) -> StockWrite {
    serde_json::from_value::<AdjustmentInput>(json!({
        "sku": sku, "location": "WH1", "delta": delta, "reason": "received",
    }))
    .unwrap()
    .validate()
    .unwrap()
}

fn order(external_id: &str, sku: &str, quantity: i64) -> NewOrder {
    serde_json::from_value::<OrderInput>(json!({
        "channel": "web",
        "external_id": external_id,
        "currency": "EUR",
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "shipping_address": {"name": "Ada", "line1": "Main St 1", "city": "Berlin", "country": "DE"},
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "10.00"}],
        "payment": {"status": "paid"},
    }))
    .unwrap()
    .validate(OffsetDateTime::now_utc())
    .unwrap()
}

async fn keys(store: &SqliteStore, prefix: &str, after: Option<&str>, limit: i64) -> Vec<String> {
    store
        .sync_list("shop", prefix, after, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_set_read_and_deleted() {
    let store = open("put");
    assert_eq!(store.sync_get("shop", "cursor").await.unwrap(), None);

    let before = OffsetDateTime::now_utc() - Duration::seconds(1);
    store.sync_put("shop", "cursor", Some("1")).await.unwrap();
    let first = store.sync_get("shop", "cursor").await.unwrap().unwrap();
    assert_eq!((first.key.as_str(), first.value.as_str()), ("cursor", "1"));
    assert!(first.updated_at >= before, "{first:?}");
    // Channels do not share keys.
    assert_eq!(store.sync_get("other", "cursor").await.unwrap(), None);

    store.sync_put("shop", "cursor", Some("2")).await.unwrap();
    let second = store.sync_get("shop", "cursor").await.unwrap().unwrap();
    assert_eq!(second.value, "2");
    assert!(second.updated_at >= first.updated_at);

    store.sync_put("shop", "cursor", None).await.unwrap();
    assert_eq!(store.sync_get("shop", "cursor").await.unwrap(), None);
    // Deleting what is not there is fine.
    store.sync_put("shop", "cursor", None).await.unwrap();

    store
        .sync_put_many(
            "shop",
            &[
                ("a".into(), Some("1".into())),
                ("b".into(), Some("2".into())),
                ("c".into(), Some("3".into())),
            ],
        )
        .await
        .unwrap();
    store
        .sync_put_many(
            "shop",
            &[("a".into(), None), ("b".into(), Some("20".into()))],
        )
        .await
        .unwrap();
    let all = store.sync_list("shop", "", None, 100).await.unwrap();
    let pairs: Vec<_> = all
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(pairs, [("b", "20"), ("c", "3")]);

    // Survives a reopen.
    let path = store.path().to_path_buf();
    store.close().await;
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.sync_get("shop", "b").await.unwrap().unwrap().value,
        "20"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_many_is_one_transaction() {
    let store = open("atomic");
    store.sync_put("shop", "kept", Some("old")).await.unwrap();
    // Another process makes one key fail: the entries before it must not stay written.
    rusqlite::Connection::open(store.path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON channel_sync WHEN NEW.key = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let entries = [
        ("a".to_string(), Some("1".to_string())),
        ("kept".to_string(), None),
        ("boom".to_string(), Some("x".to_string())),
        ("z".to_string(), Some("26".to_string())),
    ];
    let err = store.sync_put_many("shop", &entries).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(store.sync_get("shop", "a").await.unwrap(), None);
    assert_eq!(
        store.sync_get("shop", "kept").await.unwrap().unwrap().value,
        "old"
    );
    assert_eq!(keys(&store, "", None, 100).await, ["kept"]);

    // The store still works, and the same batch without the refused key goes through whole.
    store
        .sync_put_many(
            "shop",
            &[entries[0].clone(), entries[1].clone(), entries[3].clone()],
        )
        .await
        .unwrap();
    assert_eq!(keys(&store, "", None, 100).await, ["a", "z"]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_if_absent_stores_once() {
    let store = open("absent");
    assert!(
        store
            .sync_insert_if_absent("shop", "delivery:1", "first")
            .await
            .unwrap()
    );
    assert!(
        !store
            .sync_insert_if_absent("shop", "delivery:1", "second")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .sync_get("shop", "delivery:1")
            .await
            .unwrap()
            .unwrap()
            .value,
        "first"
    );
    // Another channel has its own keys.
    assert!(
        store
            .sync_insert_if_absent("other", "delivery:1", "x")
            .await
            .unwrap()
    );

    // Many callers on two stores sharing the file (two processes): exactly one wins.
    let a = Arc::new(store);
    let b = Arc::new(SqliteStore::open(a.path()).unwrap());
    for round in 0..5 {
        let key = format!("lease:{round}");
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
        assert!(a.sync_get("shop", &key).await.unwrap().is_some());
    }
    b.close().await;
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_by_prefix_in_key_order_with_pages() {
    let store = open("list");
    let all = [
        "map:a",
        "map:b",
        "map:c",
        "map:d",
        "map:e",
        "map",
        "mapx",
        "map;",
        "m",
        "pushed:a",
        "50%:a",
        "50%:b",
        "500:a",
        "50_:a",
        "5a_:a",
        "a_b",
        "a_c",
        "axb",
        "\u{10FFFF}",
        "z\u{10FFFF}",
        "z\u{10FFFF}\u{10FFFF}x",
        "z\u{10FFFF}y",
        "za",
        "é:1",
        "e:1",
    ];
    let entries: Vec<_> = all
        .iter()
        .map(|k| (k.to_string(), Some(format!("v-{k}"))))
        .collect();
    store.sync_put_many("shop", &entries).await.unwrap();
    store
        .sync_put("other", "map:zz", Some("elsewhere"))
        .await
        .unwrap();

    let listed = store.sync_list("shop", "map:", None, 100).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["map:a", "map:b", "map:c", "map:d", "map:e"]
    );
    assert!(listed.iter().all(|e| e.value == format!("v-{}", e.key)));

    // Pages: after the last key of the previous page.
    assert_eq!(keys(&store, "map:", None, 2).await, ["map:a", "map:b"]);
    assert_eq!(
        keys(&store, "map:", Some("map:b"), 2).await,
        ["map:c", "map:d"]
    );
    assert_eq!(keys(&store, "map:", Some("map:d"), 2).await, ["map:e"]);
    assert!(keys(&store, "map:", Some("map:e"), 2).await.is_empty());
    // A cursor before the prefix starts at its first key; one past it gives nothing.
    assert_eq!(keys(&store, "map:", Some("a"), 1).await, ["map:a"]);
    assert!(keys(&store, "map:", Some("n"), 10).await.is_empty());

    // LIKE wildcards in a prefix are plain characters.
    assert_eq!(keys(&store, "50%", None, 10).await, ["50%:a", "50%:b"]);
    assert_eq!(keys(&store, "50_", None, 10).await, ["50_:a"]);
    assert_eq!(keys(&store, "a_", None, 10).await, ["a_b", "a_c"]);
    // Bytewise order, and the highest code point.
    assert_eq!(keys(&store, "e", None, 10).await, ["e:1"]);
    assert_eq!(keys(&store, "é", None, 10).await, ["é:1"]);
    assert_eq!(
        keys(&store, "z\u{10FFFF}", None, 10).await,
        ["z\u{10FFFF}", "z\u{10FFFF}y", "z\u{10FFFF}\u{10FFFF}x"]
    );
    assert_eq!(keys(&store, "\u{10FFFF}", None, 10).await, ["\u{10FFFF}"]);

    // The empty prefix lists everything of the channel, in byte order.
    let mut sorted: Vec<String> = all.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(keys(&store, "", None, 100).await, sorted);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = keys(&store, "", after.as_deref(), 4).await;
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, sorted);
    store.close().await;
}

async fn changes(store: &SqliteStore, after: i64, since: OffsetDateTime) -> StockChanges {
    store.stock_changes(after, since, 50_000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_changes_follow_the_ledger() {
    let store = open("changes");
    seed(&store, &["SKU-A", "SKU-B", "SKU-C"]).await;
    let future = OffsetDateTime::now_utc() + Duration::hours(1);
    let past = OffsetDateTime::now_utc() - Duration::hours(1);

    let none = changes(&store, 0, future).await;
    assert_eq!(none, StockChanges::default());

    store.write_stock(adjust("SKU-B", 5), &ctx()).await.unwrap();
    store.write_stock(adjust("SKU-A", 7), &ctx()).await.unwrap();
    let first = changes(&store, 0, future).await;
    assert_eq!(first.skus, ["SKU-A", "SKU-B"]);
    assert!(first.last_movement >= 2, "{first:?}");
    // Nothing new after the cursor.
    assert_eq!(
        changes(&store, first.last_movement, future).await,
        StockChanges {
            skus: vec![],
            last_movement: first.last_movement
        }
    );

    // An order capture reserves stock: a ledger change of its SKU.
    match store
        .capture_order(order("o-1", "SKU-A", 2), &ctx())
        .await
        .unwrap()
    {
        Outcome::Done(c) => assert!(c.created),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
    let second = changes(&store, first.last_movement, future).await;
    assert_eq!(second.skus, ["SKU-A"]);
    assert!(second.last_movement > first.last_movement, "{second:?}");
    assert_eq!(
        changes(&store, second.last_movement, future).await,
        StockChanges {
            skus: vec![],
            last_movement: second.last_movement
        }
    );

    // Recent movements behind the cursor are read again (late commits), without moving it.
    let again = changes(&store, second.last_movement, past).await;
    assert_eq!(again.skus, ["SKU-A", "SKU-B"]);
    assert_eq!(again.last_movement, second.last_movement);
    // ... but only within the last 10,000 movements.
    let far = second.last_movement + 10_000;
    assert_eq!(
        changes(&store, far, past).await,
        StockChanges {
            skus: vec![],
            last_movement: far
        }
    );
    assert_eq!(changes(&store, far - 1, past).await.skus, ["SKU-A"]);

    // At most `limit` movements are read; the cursor advances to the last one read.
    store.write_stock(adjust("SKU-C", 1), &ctx()).await.unwrap();
    store.write_stock(adjust("SKU-B", 1), &ctx()).await.unwrap();
    let one = store
        .stock_changes(second.last_movement, future, 1)
        .await
        .unwrap();
    assert_eq!(one.skus, ["SKU-C"]);
    assert_eq!(one.last_movement, second.last_movement + 1);
    let rest = changes(&store, one.last_movement, future).await;
    assert_eq!(rest.skus, ["SKU-B"]);
    assert_eq!(rest.last_movement, one.last_movement + 1);
    store.close().await;
}
