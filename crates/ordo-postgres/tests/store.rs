//! The PostgreSQL store against a real server: the behaviour the SQLite backend defines.

mod common;

use common::*;
use ordo_domain::Problem;
use ordo_domain::order::{HoldReason, OrderStatus, Transition};
use ordo_postgres::{PgStore, migrate};
use ordo_store::*;
use serde_json::json;

fn invalid_fields(e: StoreError) -> Vec<(String, String)> {
    match e {
        StoreError::Problem(Problem::Invalid(fields)) => {
            fields.into_iter().map(|f| (f.field, f.message)).collect()
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Problem(Problem::Conflict { .. }))
}

async fn created(
    store: &PgStore,
    order: ordo_domain::order::NewOrder,
) -> Created<ordo_domain::order::Order> {
    match store.capture_order(order, &ctx()).await.expect("capture") {
        Outcome::Done(c) => c,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

fn change(transition: Transition) -> OrderChange {
    OrderChange {
        transition,
        hold_reason: None,
        note: None,
    }
}

async fn assert_clean(store: &PgStore) {
    let report = store.verify().await.expect("verify");
    assert!(
        report.is_clean(),
        "verify found discrepancies: {:?}",
        report.discrepancies
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_safe_to_race() {
    let Some(url) = database("migrations") else {
        return;
    };
    let all = migrate(&url).await.unwrap();
    assert!(all >= 2, "{all}");
    assert_eq!(migrate(&url).await.unwrap(), 0);
    let store = PgStore::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    assert!(
        store.describe().starts_with("postgres 127.0.0.1:"),
        "{}",
        store.describe()
    );
    store.close().await;

    let Some(url) = database("migrations_race") else {
        return;
    };
    let runs: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { migrate(&url).await.unwrap() }
            })
        })
        .collect();
    let mut total = 0;
    for r in runs {
        total += r.await.unwrap();
    }
    assert_eq!(total, all, "exactly one process applies each migration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_get_and_list_orders() {
    let Some((store, _)) = store("capture").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH2", 5), &ctx())
        .await
        .unwrap();

    let first = created(&store, order("ext-1", &[("SKU-A", 3)])).await;
    assert!(first.created);
    let o = &first.value;
    assert_eq!(o.status, OrderStatus::Allocated);
    assert_eq!(o.lines[0].allocated, 3);
    assert_eq!(o.lines[0].allocations[0].location, "WH2");
    assert_eq!(o.totals.total, "30.00");

    // What capture answered is exactly what a read returns.
    let by_number = store
        .get_order(&o.number)
        .await
        .unwrap()
        .expect("by number");
    let by_id = store
        .get_order(&o.id.to_string())
        .await
        .unwrap()
        .expect("by id");
    assert_eq!(
        serde_json::to_value(&by_number).unwrap(),
        serde_json::to_value(o).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&by_id).unwrap(),
        serde_json::to_value(o).unwrap()
    );
    assert!(store.get_order("SO-999999").await.unwrap().is_none());
    assert!(store.get_order("nonsense").await.unwrap().is_none());

    let second = created(&store, order("ext-2", &[("SKU-A", 3), ("SKU-B", 1)]))
        .await
        .value;
    assert_eq!(second.status, OrderStatus::PartiallyAllocated);
    assert_eq!(second.lines[0].allocated, 2);
    assert_eq!(second.lines[0].backordered, 1);
    assert_eq!(second.lines[1].backordered, 1);
    let held = created(
        &store,
        order_with(
            "ext-3",
            &[("SKU-B", 1)],
            json!({"payment": {"status": "pending"}}),
        ),
    )
    .await
    .value;
    assert_eq!(held.status, OrderStatus::OnHold);
    assert_eq!(held.hold_reason, Some(HoldReason::PaymentPending));
    assert_eq!(held.fill_status, OrderStatus::Backordered);

    let all = store
        .list_orders(&OrderFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let numbers: Vec<_> = all.items.iter().map(|s| s.number.clone()).collect();
    assert_eq!(
        numbers,
        vec![held.number.clone(), second.number.clone(), o.number.clone()]
    );
    assert!(all.next_cursor.is_none());
    assert_eq!(all.items[2].total, "30.00");
    assert_eq!(all.items[2].units, 3);

    let page1 = store
        .list_orders(
            &OrderFilter::default(),
            &PageRequest {
                limit: Some(2),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 2);
    let page2 = store
        .list_orders(
            &OrderFilter::default(),
            &PageRequest {
                limit: Some(2),
                cursor: page1.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert_eq!(page2.items[0].number, o.number);
    let bad = store
        .list_orders(
            &OrderFilter::default(),
            &PageRequest {
                limit: None,
                cursor: Some("zz".into()),
            },
        )
        .await;
    assert_eq!(invalid_fields(bad.unwrap_err())[0].0, "cursor");

    let filtered = |f: OrderFilter| {
        let store = &store;
        async move {
            store
                .list_orders(&f, &PageRequest::default())
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(
        filtered(OrderFilter {
            status: Some(OrderStatus::OnHold),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        filtered(OrderFilter {
            sku: Some("SKU-B".into()),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        filtered(OrderFilter {
            q: Some("ext-2".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        filtered(OrderFilter {
            q: Some("EXT-1@example.com".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        filtered(OrderFilter {
            q: Some(o.number.clone()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        filtered(OrderFilter {
            channel: Some("other".into()),
            ..Default::default()
        })
        .await,
        0
    );
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(
        filtered(OrderFilter {
            placed_after: Some(later),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        filtered(OrderFilter {
            placed_before: Some(later),
            ..Default::default()
        })
        .await,
        3
    );

    let events = store.order_events(&o.number).await.unwrap().unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["order.created", "order.allocated"]);
    assert_eq!(events[0].order_id, Some(o.id));
    assert_eq!(events[1].data["allocations"][0]["location"], "WH2");
    let held_events = store
        .order_events(&held.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held_events.last().unwrap().kind, "order.held");
    assert!(store.order_events("SO-424242").await.unwrap().is_none());

    let balance = store
        .list_balances(
            &BalanceFilter {
                sku: Some("SKU-A".into()),
                location: None,
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(balance.items.len(), 1);
    assert_eq!(balance.items[0].balance.allocated, 5);
    assert_eq!(balance.items[0].available, 0);
    assert_clean(&store).await;
    store.close().await;
    assert!(
        store.get_order(&o.number).await.is_err(),
        "a closed store refuses work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_by_external_id_and_idempotency_key() {
    let Some((store, _)) = store("replay").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 10), &ctx())
        .await
        .unwrap();

    let first = created(&store, order("ext-1", &[("SKU-A", 2)])).await;
    let again = created(&store, order("ext-1", &[("SKU-A", 2)])).await;
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(again.value.id, first.value.id);

    let keyed_new = store
        .capture_order(order("ext-2", &[("SKU-A", 1)]), &keyed("k1"))
        .await
        .unwrap();
    let Outcome::Done(done) = keyed_new else {
        panic!("first use of a key acts")
    };
    assert!(done.created);
    // Same key, even with another body: the first answer comes back.
    match store
        .capture_order(order("ext-3", &[("SKU-A", 1)]), &keyed("k1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 201);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                serde_json::to_value(&done.value).unwrap()
            );
        }
        Outcome::Done(_) => panic!("expected a replay"),
    }
    match store
        .capture_order(order("ext-1", &[("SKU-A", 2)]), &keyed("k2"))
        .await
        .unwrap()
    {
        Outcome::Done(c) => assert!(!c.created),
        Outcome::Replayed { .. } => panic!("new key"),
    }
    match store
        .capture_order(order("ext-1", &[("SKU-A", 2)]), &keyed("k2"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, .. } => assert_eq!(status, 200),
        Outcome::Done(_) => panic!("expected a replay"),
    }

    // Many copies at once, some sharing a key: one order, every answer about it.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = &store;
            async move {
                let ctx = if i % 2 == 0 { keyed("k3") } else { ctx() };
                store
                    .capture_order(order("ext-9", &[("SKU-A", 1)]), &ctx)
                    .await
                    .unwrap()
            }
        })
        .collect();
    let answers = futures_join_all(tasks).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut creations = 0;
    for a in answers {
        match a {
            Outcome::Done(c) => {
                creations += usize::from(c.created);
                ids.insert(c.value.id);
            }
            Outcome::Replayed { body, .. } => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                ids.insert(v["id"].as_str().unwrap().parse().unwrap());
            }
        }
    }
    assert_eq!(creations, 1);
    assert_eq!(ids.len(), 1);

    // A stock write replays too.
    let w1 = store
        .write_stock(adjust("SKU-A", "WH1", 1), &keyed("adj-1"))
        .await
        .unwrap();
    let w2 = store
        .write_stock(adjust("SKU-A", "WH1", 1), &keyed("adj-1"))
        .await
        .unwrap();
    assert!(matches!(w1, Outcome::Done(_)));
    assert!(matches!(w2, Outcome::Replayed { status: 201, .. }));
    let balance = store
        .list_balances(&BalanceFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(balance.items[0].balance.on_hand, 11);
    assert_clean(&store).await;
}

/// Polls the futures together on this task.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("finished")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_references_are_rejected_and_nothing_is_written() {
    let Some((store, _)) = store("badrefs").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    product(&store, "SKU-OLD", false).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 4), &ctx())
        .await
        .unwrap();
    let events_before = store.list_events(0, 1000).await.unwrap().len();

    let e = store
        .capture_order(
            order_with("x1", &[("SKU-A", 1)], json!({"channel": "nope"})),
            &keyed("bad-1"),
        )
        .await;
    assert_eq!(
        invalid_fields(e.unwrap_err()),
        vec![("channel".to_string(), "unknown channel 'nope'".to_string())]
    );
    let e = store
        .capture_order(
            order("x2", &[("SKU-A", 1), ("NOPE", 1), ("SKU-OLD", 1)]),
            &ctx(),
        )
        .await;
    assert_eq!(
        invalid_fields(e.unwrap_err()),
        vec![
            ("lines[1].sku".to_string(), "unknown SKU 'NOPE'".to_string()),
            (
                "lines[2].sku".to_string(),
                "product 'SKU-OLD' is inactive".to_string()
            ),
        ]
    );
    // A failed request does not burn its idempotency key.
    assert!(matches!(
        store
            .capture_order(order("x1", &[("SKU-A", 1)]), &keyed("bad-1"))
            .await
            .unwrap(),
        Outcome::Done(_)
    ));

    let e = store
        .write_stock(adjust("NOPE", "WHX", 1), &ctx())
        .await
        .unwrap_err();
    let fields: Vec<String> = invalid_fields(e).into_iter().map(|f| f.0).collect();
    assert_eq!(fields, ["sku", "location"]);

    let channel = serde_json::from_value::<ordo_domain::catalog::ChannelInput>(json!({
        "code": "shop", "name": "Shop", "kind": "shopify", "currency": "EUR", "locations": ["WH1", "WH9"],
    }))
    .unwrap()
    .validate()
    .unwrap();
    let e = store.put_channel(channel, &ctx()).await.unwrap_err();
    assert_eq!(
        invalid_fields(e),
        vec![(
            "locations[1]".to_string(),
            "unknown location 'WH9'".to_string()
        )]
    );
    assert!(store.get_channel("shop").await.unwrap().is_none());

    let orders = store
        .list_orders(&OrderFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(orders.items.len(), 1, "only the valid retry was stored");
    // The valid order's two events are the only new ones.
    assert_eq!(
        store.list_events(0, 1000).await.unwrap().len(),
        events_before + 2
    );
    let balances = store
        .list_balances(&BalanceFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(balances.items.len(), 1);
    assert_eq!(balances.items[0].balance.allocated, 1);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjust_move_count_and_compare_and_swap() {
    let Some((store, _)) = store("stock").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    let Outcome::Done(r) = store
        .write_stock(adjust("SKU-A", "WH1", 10), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.balance.balance.on_hand, 10);
    assert_eq!(r.movements.len(), 1);
    assert_eq!((r.movements[0].before, r.movements[0].after), (0, 10));

    let Outcome::Done(r) = store
        .write_stock(
            move_units("SKU-A", "WH1", "available", "damaged", 2),
            &ctx(),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.balance.balance.damaged, 2);
    assert_eq!(r.balance.available, 8);

    let e = store
        .write_stock(adjust("SKU-A", "WH1", -100), &ctx())
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = store
        .write_stock(count("SKU-A", "WH1", 7, Some(9)), &ctx())
        .await
        .unwrap_err();
    match e {
        StoreError::Problem(Problem::Conflict { current, .. }) => {
            assert_eq!(current.as_deref(), Some("10"))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let Outcome::Done(r) = store
        .write_stock(count("SKU-A", "WH1", 7, Some(10)), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.balance.balance.on_hand, 7);
    assert_eq!(r.movements[0].delta, -3);

    let movements = store
        .list_movements(
            &BalanceFilter {
                sku: Some("SKU-A".into()),
                location: None,
            },
            &PageRequest {
                limit: Some(2),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(movements.items.len(), 2);
    assert!(
        movements.items[0].seq > movements.items[1].seq,
        "newest first"
    );
    let rest = store
        .list_movements(
            &BalanceFilter::default(),
            &PageRequest {
                limit: Some(10),
                cursor: movements.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].after, 10);

    store
        .write_stock(adjust("SKU-A", "WH2", 1), &ctx())
        .await
        .unwrap();
    let page = store
        .list_balances(
            &BalanceFilter::default(),
            &PageRequest {
                limit: Some(1),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].location, "WH1");
    let page = store
        .list_balances(
            &BalanceFilter::default(),
            &PageRequest {
                limit: Some(1),
                cursor: page.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].location, "WH2");

    let availability = store
        .channel_availability("web", Some("SKU-A"), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(availability.items[0].available_to_sell, 6);
    let all = store
        .channel_availability("web", None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    assert!(matches!(
        store
            .channel_availability("nope", None, &PageRequest::default())
            .await
            .unwrap_err(),
        StoreError::Problem(Problem::NotFound(_))
    ));
    let inventory_events = store
        .list_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "inventory.changed")
        .count();
    assert_eq!(inventory_events, 4);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_releases_and_reallocates_to_backorders() {
    let Some((store, _)) = store("cancel").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 3), &ctx())
        .await
        .unwrap();
    let a = created(&store, order("a", &[("SKU-A", 3)])).await.value;
    let b = created(&store, order("b", &[("SKU-A", 2)])).await.value;
    let c = created(
        &store,
        order_with("c", &[("SKU-A", 2)], json!({"priority": 5})),
    )
    .await
    .value;
    assert_eq!(a.status, OrderStatus::Allocated);
    assert_eq!(b.status, OrderStatus::Backordered);

    let Outcome::Done(cancelled) = store
        .transition_order(
            &a.number,
            OrderChange {
                transition: Transition::Cancel,
                hold_reason: None,
                note: Some("customer".into()),
            },
            &ctx(),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.cancel_reason.as_deref(), Some("customer"));
    assert_eq!(cancelled.lines[0].allocated, 0);
    // Priority first: c takes 2, b the last unit.
    let c_now = store.get_order(&c.number).await.unwrap().unwrap();
    let b_now = store.get_order(&b.number).await.unwrap().unwrap();
    assert_eq!(c_now.status, OrderStatus::Allocated);
    assert_eq!(b_now.status, OrderStatus::PartiallyAllocated);
    assert_eq!(b_now.lines[0].allocated, 1);
    let kinds: Vec<_> = store
        .order_events(&b.number)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.last().map(String::as_str), Some("order.reallocated"));

    // New stock goes to what still waits; a count that finds less takes it back.
    let Outcome::Done(r) = store
        .write_stock(adjust("SKU-A", "WH2", 4), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.reallocated_orders, vec![b.number.clone()]);
    assert_eq!(
        store.get_order(&b.number).await.unwrap().unwrap().status,
        OrderStatus::Allocated
    );
    let Outcome::Done(r) = store
        .write_stock(count("SKU-A", "WH1", 1, None), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    // Two units short at WH1: b (lower priority) loses its unit there first, then c one.
    assert_eq!(r.shorted_orders, vec![b.number.clone(), c.number.clone()]);
    // WH2 still has 3 spare: served again, higher priority first.
    assert_eq!(
        r.reallocated_orders,
        vec![c.number.clone(), b.number.clone()]
    );
    for n in [&b.number, &c.number] {
        assert_eq!(
            store.get_order(n).await.unwrap().unwrap().status,
            OrderStatus::Allocated
        );
    }
    assert_clean(&store).await;
    let events = store.list_events(0, 1000).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(events.iter().any(|e| e.kind == "order.stock_shortage"));
    assert_eq!(
        store.list_events(events[3].seq, 2).await.unwrap()[0].seq,
        events[4].seq
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_release_and_illegal_transitions() {
    let Some((store, _)) = store("transitions").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 1), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("h", &[("SKU-A", 2)])).await.value;
    assert_eq!(o.status, OrderStatus::PartiallyAllocated);

    let hold = OrderChange {
        transition: Transition::Hold,
        hold_reason: Some(HoldReason::FraudReview),
        note: Some("check".into()),
    };
    let Outcome::Done(held) = store
        .transition_order(&o.number, hold.clone(), &keyed("hold-1"))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(held.status, OrderStatus::OnHold);
    assert_eq!(held.hold_reason, Some(HoldReason::FraudReview));
    assert!(matches!(
        store
            .transition_order(&o.number, hold.clone(), &keyed("hold-1"))
            .await
            .unwrap(),
        Outcome::Replayed { status: 200, .. }
    ));
    assert!(is_conflict(
        &store
            .transition_order(&o.number, hold.clone(), &ctx())
            .await
            .unwrap_err()
    ));

    // Stock arriving while on hold is reserved, but the order stays on hold.
    store
        .write_stock(adjust("SKU-A", "WH1", 1), &ctx())
        .await
        .unwrap();
    let now = store.get_order(&o.id.to_string()).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::OnHold);
    assert_eq!(now.fill_status, OrderStatus::Allocated);

    let Outcome::Done(released) = store
        .transition_order(&o.number, change(Transition::Release), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(released.status, OrderStatus::Allocated);
    assert_eq!(released.hold_reason, None);
    assert!(is_conflict(
        &store
            .transition_order(&o.number, change(Transition::Release), &ctx())
            .await
            .unwrap_err()
    ));
    store
        .transition_order(&o.number, change(Transition::Cancel), &ctx())
        .await
        .unwrap();
    for t in [Transition::Cancel, Transition::Hold, Transition::Release] {
        let e = store
            .transition_order(&o.number, change(t), &ctx())
            .await
            .unwrap_err();
        match e {
            StoreError::Problem(Problem::Conflict { current, .. }) => {
                assert_eq!(current.as_deref(), Some("cancelled"))
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    assert!(matches!(
        store
            .transition_order("SO-000404", change(Transition::Hold), &ctx())
            .await
            .unwrap_err(),
        StoreError::Problem(Problem::NotFound(_))
    ));
    let kinds: Vec<_> = store
        .order_events(&o.number)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "order.created",
            "order.partially_allocated",
            "order.held",
            "order.reallocated",
            "order.released",
            "order.cancelled"
        ]
    );
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_and_api_keys() {
    let Some((store, _)) = store("catalog").await else {
        return;
    };
    seed(&store, &["B-1", "A-1", "C-1"]).await;
    let page = store
        .list_products(&PageRequest {
            limit: Some(2),
            cursor: None,
        })
        .await
        .unwrap();
    let skus: Vec<_> = page.items.iter().map(|p| p.sku.as_str()).collect();
    assert_eq!(skus, ["A-1", "B-1"]);
    let rest = store
        .list_products(&PageRequest {
            limit: Some(2),
            cursor: page.next_cursor.clone(),
        })
        .await
        .unwrap();
    assert_eq!(rest.items[0].sku, "C-1");
    assert!(rest.next_cursor.is_none());
    let p = store.get_product("A-1").await.unwrap().unwrap();
    let again = store.put_product(p.clone(), &ctx()).await.unwrap();
    assert!(!again.created);
    assert_eq!(store.list_locations().await.unwrap().len(), 2);
    assert_eq!(
        store.get_location("WH2").await.unwrap().unwrap().priority,
        2
    );
    assert_eq!(store.list_channels().await.unwrap()[0].code, "web");

    assert_eq!(store.count_api_keys().await.unwrap(), 0);
    let key = store
        .create_api_key("ops", Role::Manager, "hash-1")
        .await
        .unwrap();
    let found = store.find_api_key("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.role, found.created_at),
        (key.id, Role::Manager, key.created_at)
    );
    assert!(store.find_api_key("other").await.unwrap().is_none());
    assert_eq!(store.count_api_keys().await.unwrap(), 1);
    let kinds: Vec<_> = store
        .list_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "product.updated").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "location.created").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sessions_and_dashboard() {
    let Some((store, _)) = store("users").await else {
        return;
    };
    let user = store
        .create_user("ada", Role::Admin, "argon-hash")
        .await
        .unwrap();
    assert!(is_conflict(
        &store
            .create_user("ada", Role::Readonly, "x")
            .await
            .unwrap_err()
    ));
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    store
        .record_login(user.id, false, Some(until))
        .await
        .unwrap();
    let record = store.find_user("ada").await.unwrap().unwrap();
    assert_eq!(
        (record.failed_attempts, record.password_hash.as_str()),
        (1, "argon-hash")
    );
    assert!(record.locked_until.is_some());
    store.record_login(user.id, true, None).await.unwrap();
    let record = store.find_user("ada").await.unwrap().unwrap();
    assert_eq!((record.failed_attempts, record.locked_until), (0, None));
    assert!(store.find_user("bob").await.unwrap().is_none());

    let now = time::OffsetDateTime::now_utc();
    let session = NewSession {
        token_hash: "t1".into(),
        user_id: user.id,
        csrf_token: "c1".into(),
        expires_at: now + time::Duration::hours(1),
    };
    store.create_session(&session).await.unwrap();
    let found = store.find_session("t1", now).await.unwrap().unwrap();
    assert_eq!(
        (found.user.username.as_str(), found.csrf_token.as_str()),
        ("ada", "c1")
    );
    assert!(
        store
            .find_session("t1", now + time::Duration::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    store.delete_session("t1").await.unwrap();
    assert!(store.find_session("t1", now).await.unwrap().is_none());

    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 3), &ctx())
        .await
        .unwrap();
    created(&store, order("d1", &[("SKU-A", 2)])).await;
    created(&store, order("d2", &[("SKU-A", 2)])).await;
    let midnight = now.replace_time(time::Time::MIDNIGHT);
    let d = store.dashboard(midnight, 7).await.unwrap();
    assert_eq!(d.today.len(), 1);
    assert_eq!((d.today[0].orders, d.today[0].revenue_minor), (2, 4000));
    assert_eq!(d.partially_allocated, 1);
    assert_eq!(d.out_of_stock, 2);
    assert_eq!(d.low_stock.len(), 2);
    assert_eq!(d.daily.len(), 1);
}
