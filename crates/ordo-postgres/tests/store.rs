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
            &MovementFilter {
                sku: Some("SKU-A".into()),
                location: None,
                ..Default::default()
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
            &MovementFilter::default(),
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

    // Disabling ends the user's sessions in the same write; enabling lets them sign in anew.
    store.create_session(&session).await.unwrap();
    assert!(store.set_user_disabled("ada", true).await.unwrap());
    assert!(store.find_session("t1", now).await.unwrap().is_none());
    assert!(store.find_user("ada").await.unwrap().unwrap().user.disabled);
    assert!(store.list_users().await.unwrap()[0].disabled);
    assert!(!store.set_user_disabled("bob", true).await.unwrap());
    assert!(store.set_user_disabled("ada", false).await.unwrap());
    assert!(!store.find_user("ada").await.unwrap().unwrap().user.disabled);
    store.create_session(&session).await.unwrap();
    assert!(store.find_session("t1", now).await.unwrap().is_some());
    store.delete_session("t1").await.unwrap();

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

// ---------------------------------------------------------------------------------------
// Fulfillment orders.

use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, LineQuantityInput, RequestAction,
    RequestStatus,
};
use ordo_domain::order::Order;

async fn location(store: &PgStore, body: serde_json::Value) {
    let location = serde_json::from_value::<ordo_domain::catalog::LocationInput>(body)
        .unwrap()
        .validate()
        .unwrap();
    store.put_location(location, &ctx()).await.unwrap();
}

async fn fulfill(store: &PgStore, change: FulfillmentChange) -> Result<Order> {
    match store.change_fulfillment(change, &ctx()).await? {
        Outcome::Done(o) => Ok(o),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

fn fo(order: &Order, fo_no: i32) -> &FulfillmentOrder {
    let id = format!("{}-{fo_no}", order.number);
    order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("{id} in {:?}", order.fulfillment_orders))
}

fn active_at<'a>(order: &'a Order, location: &str) -> Vec<&'a FulfillmentOrder> {
    order
        .fulfillment_orders
        .iter()
        .filter(|f| f.location == location && f.status.is_active())
        .collect()
}

fn line(line_no: i32, sku: &str, quantity: i64) -> FulfillmentLine {
    FulfillmentLine {
        line_no,
        sku: sku.into(),
        quantity,
    }
}

fn take(line_no: i32, quantity: i64) -> LineQuantityInput {
    LineQuantityInput {
        line_no: Some(line_no),
        sku: None,
        quantity: Some(quantity),
    }
}

async fn allocated(store: &PgStore, sku: &str, location: &str) -> i64 {
    store
        .list_balances(
            &BalanceFilter {
                sku: Some(sku.into()),
                location: Some(location.into()),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .first()
        .map_or(0, |b| b.balance.allocated)
}

/// The order as capture or a change returned it is what a later read returns.
async fn assert_reads_back(store: &PgStore, order: &Order) {
    let read = store.get_order(&order.number).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(order).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_makes_one_fulfillment_order_per_location() {
    let Some((store, _)) = store("fo_capture").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 5), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-B", "WH2", 5), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("fo-1", &[("SKU-A", 2), ("SKU-B", 3)]))
        .await
        .value;
    assert_eq!(o.status, OrderStatus::Allocated);
    assert_eq!(o.fulfillment_orders.len(), 2, "{:?}", o.fulfillment_orders);
    let (one, two) = (fo(&o, 1), fo(&o, 2));
    assert_eq!(
        (one.location.as_str(), two.location.as_str()),
        ("WH1", "WH2")
    );
    assert_eq!(one.lines, vec![line(1, "SKU-A", 2)]);
    assert_eq!(two.lines, vec![line(2, "SKU-B", 3)]);
    for f in [one, two] {
        assert_eq!(f.status, FulfillmentStatus::Open);
        assert_eq!(f.request_status, None);
        assert_eq!(f.order, o.number);
    }
    assert_reads_back(&store, &o).await;
    assert_eq!(
        store.get_fulfillment_order(&two.id).await.unwrap().as_ref(),
        Some(two)
    );
    assert!(
        store
            .get_fulfillment_order("SO-999999-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_fulfillment_order("nonsense")
            .await
            .unwrap()
            .is_none()
    );

    // A second order; then the list, filtered and in pages.
    let p = created(&store, order("fo-2", &[("SKU-A", 1)])).await.value;
    let all = store
        .list_fulfillment_orders(&FulfillmentFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = all.items.iter().map(|f| f.id.clone()).collect();
    assert_eq!(ids, [one.id.clone(), two.id.clone(), fo(&p, 1).id.clone()]);
    assert!(all.next_cursor.is_none());
    let at_wh1 = store
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: Some("WH1".into()),
                status: Some(FulfillmentStatus::Open),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(at_wh1.items.len(), 2);
    assert!(at_wh1.items.iter().all(|f| f.location == "WH1"));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_fulfillment_orders(
                &FulfillmentFilter::default(),
                &PageRequest {
                    limit: Some(2),
                    cursor,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|f| f.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = store
        .list_fulfillment_orders(
            &FulfillmentFilter::default(),
            &PageRequest {
                limit: None,
                cursor: Some("zz".into()),
            },
        )
        .await;
    assert_eq!(invalid_fields(bad.unwrap_err())[0].0, "cursor");
    let cancelled = store
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: None,
                status: Some(FulfillmentStatus::Cancelled),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(cancelled.items.is_empty());
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_then_merge_gives_the_original_lines_back() {
    let Some((store, _)) = store("fo_split").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    for sku in ["SKU-A", "SKU-B"] {
        store
            .write_stock(adjust(sku, "WH1", 5), &ctx())
            .await
            .unwrap();
    }
    let o = created(&store, order("s-1", &[("SKU-A", 3), ("SKU-B", 2)]))
        .await
        .value;
    assert_eq!(o.fulfillment_orders.len(), 1);
    let original = fo(&o, 1).clone();
    assert_eq!(
        original.lines,
        vec![line(1, "SKU-A", 3), line(2, "SKU-B", 2)]
    );

    let split_change = FulfillmentChange::Split {
        id: original.id.clone(),
        lines: vec![take(1, 1), take(2, 2)],
    };
    let Outcome::Done(split) = store
        .change_fulfillment(split_change.clone(), &keyed("split-1"))
        .await
        .unwrap()
    else {
        panic!("first use of a key acts")
    };
    // The same key again: the first answer, nothing split twice.
    match store
        .change_fulfillment(split_change, &keyed("split-1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 200);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                serde_json::to_value(&split).unwrap()
            );
        }
        Outcome::Done(_) => panic!("expected a replay"),
    }
    assert_eq!(fo(&split, 1).lines, vec![line(1, "SKU-A", 2)]);
    assert_eq!(
        fo(&split, 2).lines,
        vec![line(1, "SKU-A", 1), line(2, "SKU-B", 2)]
    );
    assert_eq!(fo(&split, 2).location, "WH1");
    assert_eq!(fo(&split, 2).status, FulfillmentStatus::Open);
    assert_reads_back(&store, &split).await;
    assert_clean(&store).await;
    // Taking everything is not a split.
    let e = fulfill(
        &store,
        FulfillmentChange::Split {
            id: fo(&split, 1).id.clone(),
            lines: vec![take(1, 2)],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "lines");

    let merged = fulfill(
        &store,
        FulfillmentChange::Merge {
            ids: vec![fo(&split, 2).id.clone(), fo(&split, 1).id.clone()],
        },
    )
    .await
    .unwrap();
    assert_eq!(fo(&merged, 1).lines, original.lines);
    assert_eq!(fo(&merged, 1).status, FulfillmentStatus::Open);
    let gone = fo(&merged, 2);
    assert_eq!(gone.status, FulfillmentStatus::Cancelled);
    assert_eq!(
        gone.reason.as_deref(),
        Some(format!("merged into {}", original.id).as_str())
    );
    assert_eq!(
        gone.lines,
        vec![line(1, "SKU-A", 1), line(2, "SKU-B", 2)],
        "a closed fulfillment order keeps what it held"
    );
    assert_eq!(merged.lines[0].allocated, 3);
    assert_eq!(merged.lines[0].allocations.len(), 1);
    assert_eq!(merged.lines[0].allocations[0].quantity, 3);
    assert_eq!(allocated(&store, "SKU-A", "WH1").await, 3);
    assert_eq!(allocated(&store, "SKU-B", "WH1").await, 2);
    assert_reads_back(&store, &merged).await;
    let kinds: Vec<_> = store
        .order_events(&o.number)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds[2..],
        ["fulfillment_order.split", "fulfillment_order.merged"]
    );
    assert!(matches!(
        fulfill(
            &store,
            FulfillmentChange::Merge {
                ids: vec!["SO-999999-1".into(), "SO-999999-2".into()],
            },
        )
        .await
        .unwrap_err(),
        StoreError::Problem(Problem::NotFound(_))
    ));
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_takes_the_reservation_along() {
    let Some((store, _)) = store("fo_move").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 5), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-A", "WH2", 3), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("m-1", &[("SKU-A", 2)])).await.value;
    let from = fo(&o, 1).location.clone();
    let to = if from == "WH1" { "WH2" } else { "WH1" };
    assert_eq!(allocated(&store, "SKU-A", &from).await, 2);

    // Part of it first, then the rest.
    let part = fulfill(
        &store,
        FulfillmentChange::Move {
            id: fo(&o, 1).id.clone(),
            location: to.into(),
            lines: Some(vec![take(1, 1)]),
        },
    )
    .await
    .unwrap();
    assert_eq!(fo(&part, 1).lines, vec![line(1, "SKU-A", 1)]);
    assert_eq!(fo(&part, 2).location, to);
    assert_eq!(fo(&part, 2).lines, vec![line(1, "SKU-A", 1)]);
    assert_eq!(allocated(&store, "SKU-A", &from).await, 1);
    assert_eq!(allocated(&store, "SKU-A", to).await, 1);
    assert_clean(&store).await;

    let moved = fulfill(
        &store,
        FulfillmentChange::Move {
            id: fo(&o, 1).id.clone(),
            location: to.into(),
            lines: None,
        },
    )
    .await
    .unwrap();
    let old = fo(&moved, 1);
    assert_eq!(old.status, FulfillmentStatus::Cancelled);
    assert_eq!(
        old.reason.as_deref(),
        Some(format!("moved to {}-3", o.number).as_str())
    );
    assert_eq!(fo(&moved, 3).location, to);
    assert_eq!(allocated(&store, "SKU-A", &from).await, 0);
    assert_eq!(allocated(&store, "SKU-A", to).await, 2);
    assert_eq!(moved.lines[0].allocated, 2);
    assert_eq!(moved.lines[0].allocations.len(), 1);
    assert_eq!(moved.lines[0].allocations[0].location, to);
    assert_eq!(moved.status, OrderStatus::Allocated);
    assert_reads_back(&store, &moved).await;

    // Not enough at the target: refused, nothing written.
    let big = created(&store, order("m-2", &[("SKU-A", 3)])).await.value;
    let big_at = fo(&big, 1).location.clone();
    let elsewhere = if big_at == "WH1" { "WH2" } else { "WH1" };
    let e = fulfill(
        &store,
        FulfillmentChange::Move {
            id: fo(&big, 1).id.clone(),
            location: elsewhere.into(),
            lines: None,
        },
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_eq!(
        store
            .get_order(&big.number)
            .await
            .unwrap()
            .unwrap()
            .fulfillment_orders,
        big.fulfillment_orders
    );
    let e = fulfill(
        &store,
        FulfillmentChange::Move {
            id: fo(&big, 1).id.clone(),
            location: "NOWHERE".into(),
            lines: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "location");
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_3pl_request_is_routed_elsewhere_for_good() {
    let Some((store, _)) = store("fo_3pl").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    location(
        &store,
        json!({
            "code": "TPL", "name": "Outsourced", "kind": "3pl", "priority": 3,
            "address": {"name": "3PL", "line1": "Dock 1", "city": "Berlin", "country": "DE"},
        }),
    )
    .await;
    store
        .write_stock(adjust("SKU-A", "TPL", 10), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("t-1", &[("SKU-A", 3)])).await.value;
    let sent = fo(&o, 1);
    assert_eq!(sent.location, "TPL");
    assert_eq!(sent.request_status, Some(RequestStatus::Unsubmitted));
    // Own warehouses take no requests.
    store
        .write_stock(adjust("SKU-A", "WH1", 1), &ctx())
        .await
        .unwrap();

    let submitted = fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Submit,
            reason: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        fo(&submitted, 1).request_status,
        Some(RequestStatus::Submitted)
    );
    let e = fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Reject,
            reason: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "reason");

    let rejected = fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Reject,
            reason: Some("no capacity".into()),
        },
    )
    .await
    .unwrap();
    let old = fo(&rejected, 1);
    assert_eq!(old.status, FulfillmentStatus::Cancelled);
    assert_eq!(old.request_status, Some(RequestStatus::Rejected));
    assert_eq!(old.reason.as_deref(), Some("no capacity"));
    assert_eq!(old.lines, vec![line(1, "SKU-A", 3)]);
    // WH1 had one unit; the rest waits rather than going back to the 3PL.
    let new = fo(&rejected, 2);
    assert_eq!(new.location, "WH1");
    assert_eq!(new.request_status, None);
    assert_eq!(new.status, FulfillmentStatus::Open);
    assert_eq!(new.lines, vec![line(1, "SKU-A", 1)]);
    assert!(active_at(&rejected, "TPL").is_empty());
    assert_eq!(rejected.lines[0].allocated, 1);
    assert_eq!(rejected.lines[0].backordered, 2);
    assert_eq!(rejected.status, OrderStatus::PartiallyAllocated);
    assert_eq!(allocated(&store, "SKU-A", "TPL").await, 0);
    assert_eq!(allocated(&store, "SKU-A", "WH1").await, 1);
    assert_reads_back(&store, &rejected).await;
    assert_clean(&store).await;

    // More stock at the 3PL still does not go to this order; stock elsewhere does.
    store
        .write_stock(adjust("SKU-A", "TPL", 5), &ctx())
        .await
        .unwrap();
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert!(active_at(&now, "TPL").is_empty());
    assert_eq!(now.lines[0].backordered, 2);
    store
        .write_stock(adjust("SKU-A", "WH2", 2), &ctx())
        .await
        .unwrap();
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::Allocated);
    assert!(active_at(&now, "TPL").is_empty());
    assert_eq!(active_at(&now, "WH2")[0].lines, vec![line(1, "SKU-A", 2)]);
    // A rejected request cannot be answered again.
    let e = fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Accept,
            reason: None,
        },
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_hold_release_cancel_and_shortage_reach_fulfillment_orders() {
    let Some((store, _)) = store("fo_lifecycle").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 1), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("l-1", &[("SKU-A", 3)])).await.value;
    assert_eq!(o.fulfillment_orders.len(), 1);
    assert_eq!(fo(&o, 1).location, "WH1");

    let Outcome::Done(held) = store
        .transition_order(&o.number, change(Transition::Hold), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(fo(&held, 1).status, FulfillmentStatus::OnHold);
    // Stock while on hold: more into the fulfillment order at that place, or a new one
    // (on hold too) elsewhere.
    store
        .write_stock(adjust("SKU-A", "WH1", 1), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-A", "WH2", 1), &ctx())
        .await
        .unwrap();
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert_eq!(now.fulfillment_orders.len(), 2);
    assert_eq!(fo(&now, 1).lines, vec![line(1, "SKU-A", 2)]);
    assert_eq!(fo(&now, 2).location, "WH2");
    assert_eq!(fo(&now, 2).status, FulfillmentStatus::OnHold);
    assert_eq!(fo(&now, 2).lines, vec![line(1, "SKU-A", 1)]);
    assert_clean(&store).await;

    let Outcome::Done(released) = store
        .transition_order(&o.number, change(Transition::Release), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(
        released
            .fulfillment_orders
            .iter()
            .all(|f| f.status == FulfillmentStatus::Open)
    );

    // A count finds WH2 empty: its fulfillment order loses everything and closes.
    store
        .write_stock(count("SKU-A", "WH2", 0, None), &ctx())
        .await
        .unwrap();
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    let shorted = fo(&now, 2);
    assert_eq!(shorted.status, FulfillmentStatus::Cancelled);
    assert_eq!(shorted.reason.as_deref(), Some("stock shortage"));
    assert_eq!(shorted.lines, vec![line(1, "SKU-A", 1)]);
    assert_eq!(now.lines[0].backordered, 1);
    assert_clean(&store).await;

    let Outcome::Done(cancelled) = store
        .transition_order(&o.number, change(Transition::Cancel), &ctx())
        .await
        .unwrap()
    else {
        panic!()
    };
    let first = fo(&cancelled, 1);
    assert_eq!(first.status, FulfillmentStatus::Cancelled);
    assert_eq!(first.reason.as_deref(), Some("order cancelled"));
    assert_eq!(first.lines, vec![line(1, "SKU-A", 2)]);
    assert_eq!(
        fo(&cancelled, 2).reason.as_deref(),
        Some("stock shortage"),
        "already closed ones keep their reason"
    );
    assert_eq!(allocated(&store, "SKU-A", "WH1").await, 0);
    assert_reads_back(&store, &cancelled).await;
    assert!(is_conflict(
        &fulfill(
            &store,
            FulfillmentChange::Split {
                id: first.id.clone(),
                lines: vec![take(1, 1)],
            },
        )
        .await
        .unwrap_err()
    ));
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_capacity_holds_under_concurrent_captures() {
    let Some((a, url)) = store("fo_capacity").await else {
        return;
    };
    // A second process on the same database.
    let b = PgStore::connect(&url).await.unwrap();
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    // One SKU per order, so that no stock row serialises the captures: only the counter.
    let skus: Vec<String> = (0..10).map(|i| format!("SKU-{i}")).collect();
    let sku_refs: Vec<&str> = skus.iter().map(String::as_str).collect();
    seed(&a, &sku_refs).await;
    product(&a, "SKU-A", true).await;
    location(
        &a,
        json!({
            "code": "WH1", "name": "Warehouse WH1", "kind": "warehouse", "priority": 1,
            "address": {"name": "Depot", "line1": "Street 1", "city": "Berlin", "country": "DE"},
            "routing": {"daily_capacity": 2},
        }),
    )
    .await;
    for sku in skus.iter().map(String::as_str).chain(["SKU-A"]) {
        a.write_stock(adjust(sku, "WH1", 100), &ctx())
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let sku = format!("SKU-{i}");
                match store
                    .capture_order(order(&format!("cap-{i}"), &[(sku.as_str(), 1)]), &ctx())
                    .await
                    .unwrap()
                {
                    Outcome::Done(c) => c.value,
                    Outcome::Replayed { .. } => panic!("no key, no replay"),
                }
            })
        })
        .collect();
    let mut allocated_orders = 0;
    for t in tasks {
        let o = t.await.unwrap();
        if o.status == OrderStatus::Allocated {
            allocated_orders += 1;
            assert_eq!(o.fulfillment_orders.len(), 1);
        } else {
            assert_eq!(o.status, OrderStatus::Backordered);
            assert!(o.fulfillment_orders.is_empty());
        }
    }
    assert_eq!(allocated_orders, 2);
    let at_wh1 = a
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: Some("WH1".into()),
                status: None,
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(at_wh1.items.len(), 2, "{:?}", at_wh1.items);
    // The count is kept: a later order is still turned away today.
    let late = created(&b, order("cap-late", &[("SKU-A", 1)])).await.value;
    assert_eq!(late.status, OrderStatus::Backordered);
    assert_eq!(allocated(&a, "SKU-A", "WH1").await, 0);
    assert_clean(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_gives_existing_allocations_fulfillment_orders() {
    let Some((store, url)) = store("fo_migration").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 5), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-B", "WH2", 5), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("mig-1", &[("SKU-A", 2), ("SKU-B", 1)]))
        .await
        .value;
    let h = created(
        &store,
        order_with(
            "mig-2",
            &[("SKU-A", 1)],
            json!({"payment": {"status": "pending"}}),
        ),
    )
    .await
    .value;
    store.close().await;
    // Back to the schema before fulfillment orders, then forward again.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP TABLE fulfillment_orders; DROP TABLE location_day_counts; \
             ALTER TABLE allocations DROP CONSTRAINT allocations_pkey; \
             ALTER TABLE allocations DROP COLUMN fo_no; \
             ALTER TABLE allocations ADD PRIMARY KEY (order_number, line_no, location); \
             DELETE FROM schema_migrations WHERE version = 4;",
        )
        .await
        .unwrap();
    assert_eq!(migrate(&url).await.unwrap(), 1);
    let store = PgStore::connect(&url).await.unwrap();
    let after = store.get_order(&o.number).await.unwrap().unwrap();
    let shape = |o: &Order| -> Vec<_> {
        o.fulfillment_orders
            .iter()
            .map(|f| (f.id.clone(), f.location.clone(), f.status, f.lines.clone()))
            .collect()
    };
    assert_eq!(shape(&after), shape(&o));
    let held = store.get_order(&h.number).await.unwrap().unwrap();
    assert_eq!(shape(&held), shape(&h));
    assert_eq!(fo(&held, 1).status, FulfillmentStatus::OnHold);
    assert_clean(&store).await;

    // Verify notices a reservation left in a closed fulfillment order.
    let number = ordo_domain::order::parse_order_number(&h.number).unwrap();
    client
        .execute(
            "UPDATE fulfillment_orders SET status = 'cancelled' WHERE order_number = $1",
            &[&number],
        )
        .await
        .unwrap();
    let report = store.verify().await.unwrap();
    assert_eq!(report.discrepancies.len(), 1, "{:?}", report.discrepancies);
    assert_eq!(
        report.discrepancies[0].source,
        format!("fulfillment order {}-1 (cancelled at WH1)", h.number)
    );
}

async fn channel(store: &PgStore, body: serde_json::Value) {
    let channel = serde_json::from_value::<ordo_domain::catalog::ChannelInput>(body)
        .unwrap()
        .validate()
        .unwrap();
    store.put_channel(channel, &ctx()).await.unwrap();
}

async fn stock(store: &PgStore, write: ordo_domain::inventory::StockWrite) -> StockWriteResult {
    match store.write_stock(write, &ctx()).await.unwrap() {
        Outcome::Done(r) => r,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_orders_are_routed_again_by_the_engine() {
    let Some((store, _)) = store("backorder_routing").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B", "SKU-C"]).await;

    // (a) A channel that never splits: half an order at one place is no shipment.
    channel(
        &store,
        json!({"code": "whole", "name": "Whole orders", "kind": "web", "currency": "EUR", "split_policy": "never"}),
    )
    .await;
    let o = created(
        &store,
        order_with(
            "whole-1",
            &[("SKU-A", 2), ("SKU-B", 1)],
            json!({"channel": "whole"}),
        ),
    )
    .await
    .value;
    assert_eq!(o.status, OrderStatus::Backordered);
    let r = stock(&store, adjust("SKU-A", "WH1", 2)).await;
    assert!(r.reallocated_orders.is_empty(), "{r:?}");
    // The other SKU somewhere else does not make one shipment either.
    let r = stock(&store, adjust("SKU-B", "WH2", 1)).await;
    assert!(r.reallocated_orders.is_empty(), "{r:?}");
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::Backordered);
    assert!(now.fulfillment_orders.is_empty());
    assert_eq!(allocated(&store, "SKU-A", "WH1").await, 0);
    assert_eq!(allocated(&store, "SKU-B", "WH2").await, 0);
    // The second SKU where the first already is: the whole order ships from there.
    let r = stock(&store, adjust("SKU-B", "WH1", 1)).await;
    assert_eq!(r.reallocated_orders, vec![o.number.clone()]);
    assert_eq!(r.balance.balance.allocated, 1);
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::Allocated);
    assert_eq!(now.fulfillment_orders.len(), 1);
    let whole = fo(&now, 1);
    assert_eq!(whole.location, "WH1");
    assert_eq!(whole.status, FulfillmentStatus::Open);
    assert_eq!(whole.lines, vec![line(1, "SKU-A", 2), line(2, "SKU-B", 1)]);
    assert_eq!(allocated(&store, "SKU-A", "WH1").await, 2);
    assert_eq!(allocated(&store, "SKU-B", "WH1").await, 1);
    assert_eq!(allocated(&store, "SKU-B", "WH2").await, 0);
    let events = store.order_events(&o.number).await.unwrap().unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "order.reallocated")
            .count(),
        2
    );
    let movements = store
        .list_movements(
            &MovementFilter {
                sku: Some("SKU-A".into()),
                location: Some("WH1".into()),
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let reserved = movements
        .items
        .iter()
        .find(|m| m.state == "allocated")
        .expect("a reservation in the ledger");
    assert_eq!(reserved.delta, 2);
    assert_eq!(reserved.reason, "allocation");
    assert_eq!(
        reserved.reference.as_deref(),
        Some(format!("order:{}", o.number).as_str())
    );
    assert_clean(&store).await;

    // (b) A rule keeps orders away from WH2: stock there serves no one; stock at WH1 does.
    store
        .put_routing_rules(
            json!([{"name": "not from WH2", "actions": {"exclude_locations": ["WH2"]}}]),
            None,
            &ctx(),
        )
        .await
        .unwrap();
    let w = created(&store, order("rule-1", &[("SKU-C", 2)]))
        .await
        .value;
    assert_eq!(w.status, OrderStatus::Backordered);
    let r = stock(&store, adjust("SKU-C", "WH2", 5)).await;
    assert!(r.reallocated_orders.is_empty(), "{r:?}");
    assert_eq!(r.balance.balance.allocated, 0);
    let now = store.get_order(&w.number).await.unwrap().unwrap();
    assert_eq!(now.lines[0].backordered, 2);
    assert!(now.fulfillment_orders.is_empty());
    let r = stock(&store, adjust("SKU-C", "WH1", 1)).await;
    assert_eq!(r.reallocated_orders, vec![w.number.clone()]);
    let now = store.get_order(&w.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::PartiallyAllocated);
    assert_eq!(active_at(&now, "WH1")[0].lines, vec![line(1, "SKU-C", 1)]);
    assert!(active_at(&now, "WH2").is_empty());
    // More at WH1 goes into the same fulfillment order there.
    let r = stock(&store, adjust("SKU-C", "WH1", 3)).await;
    assert_eq!(r.reallocated_orders, vec![w.number.clone()]);
    assert_eq!(r.balance.balance.allocated, 2);
    let now = store.get_order(&w.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::Allocated);
    assert_eq!(now.fulfillment_orders.len(), 1);
    assert_eq!(fo(&now, 1).lines, vec![line(1, "SKU-C", 2)]);
    assert_eq!(allocated(&store, "SKU-C", "WH2").await, 0);
    assert_reads_back(&store, &now).await;
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reallocation_never_waits_for_rows_it_locks_late() {
    let Some((store, url)) = store("backorder_locks").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B", "SKU-C"]).await;
    channel(
        &store,
        json!({"code": "whole", "name": "Whole orders", "kind": "web", "currency": "EUR", "split_policy": "never"}),
    )
    .await;
    location(
        &store,
        json!({
            "code": "WH3", "name": "Warehouse WH3", "kind": "warehouse", "priority": 3,
            "address": {"name": "Depot", "line1": "Street 3", "city": "Berlin", "country": "DE"},
            "routing": {"daily_capacity": 5},
        }),
    )
    .await;
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let counter =
        |rows: Vec<tokio_postgres::Row>| -> Option<i64> { rows.first().map(|r| r.get(0)) };
    // A capacity has its day counter from the start.
    let before = other
        .query(
            "SELECT orders FROM location_day_counts WHERE location = 'WH3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(counter(before), Some(0));
    let limit = std::time::Duration::from_secs(20);

    // Another SKU's row at the place held elsewhere: it counts as nothing there.
    let o = created(
        &store,
        order_with(
            "locks-1",
            &[("SKU-A", 1), ("SKU-B", 1)],
            json!({"channel": "whole"}),
        ),
    )
    .await
    .value;
    stock(&store, adjust("SKU-B", "WH1", 1)).await;
    other.batch_execute("BEGIN").await.unwrap();
    other
        .query(
            "SELECT 1 FROM balances WHERE sku = 'SKU-B' AND location = 'WH1' FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    let r = tokio::time::timeout(limit, stock(&store, adjust("SKU-A", "WH1", 1)))
        .await
        .expect("re-allocation waited for a row lock");
    assert!(r.reallocated_orders.is_empty(), "{r:?}");
    other.batch_execute("ROLLBACK").await.unwrap();
    let r = stock(&store, adjust("SKU-A", "WH1", 1)).await;
    assert_eq!(r.reallocated_orders, vec![o.number.clone()]);
    let now = store.get_order(&o.number).await.unwrap().unwrap();
    assert_eq!(now.status, OrderStatus::Allocated);

    // The day counter held elsewhere: the place counts as full for now.
    let w = created(&store, order("locks-2", &[("SKU-C", 1)]))
        .await
        .value;
    assert_eq!(w.status, OrderStatus::Backordered);
    other.batch_execute("BEGIN").await.unwrap();
    other
        .query(
            "SELECT 1 FROM location_day_counts WHERE location = 'WH3' FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    let r = tokio::time::timeout(limit, stock(&store, adjust("SKU-C", "WH3", 1)))
        .await
        .expect("re-allocation waited for a day counter");
    assert!(r.reallocated_orders.is_empty(), "{r:?}");
    other.batch_execute("ROLLBACK").await.unwrap();
    let r = stock(&store, adjust("SKU-C", "WH3", 1)).await;
    assert_eq!(r.reallocated_orders, vec![w.number.clone()]);
    let now = store.get_order(&w.number).await.unwrap().unwrap();
    assert_eq!(active_at(&now, "WH3")[0].lines, vec![line(1, "SKU-C", 1)]);
    let after = other
        .query(
            "SELECT orders FROM location_day_counts WHERE location = 'WH3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        counter(after),
        Some(1),
        "the new fulfillment order is counted"
    );
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// Shipments.

use ordo_domain::inventory::Balance;
use ordo_domain::shipment::{NewShipment, Shipment, ShipmentStatus, TrackingEvent};

fn own_fleet(fulfillment_order: &str) -> NewShipment {
    NewShipment {
        fulfillment_order: fulfillment_order.into(),
        carrier: "own_fleet".into(),
        service: "standard".into(),
        tracking_number: None,
        packages: Vec::new(),
        auto: false,
        rate_choice: None,
    }
}

fn manual(fulfillment_order: &str, tracking_number: &str) -> NewShipment {
    NewShipment {
        carrier: "manual".into(),
        tracking_number: Some(tracking_number.into()),
        ..own_fleet(fulfillment_order)
    }
}

async fn ship(store: &PgStore, input: NewShipment) -> Result<Shipment> {
    match store.create_shipment(input, &ctx()).await? {
        Outcome::Done(c) => {
            assert!(c.created);
            Ok(c.value)
        }
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn void(store: &PgStore, id: &str) -> Result<Shipment> {
    match store.void_shipment(id, &ctx()).await? {
        Outcome::Done(s) => Ok(s),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn track(store: &PgStore, id: &str, status: ShipmentStatus) -> Result<Shipment> {
    let event = TrackingEvent {
        status,
        at: time::OffsetDateTime::now_utc(),
        detail: Some(format!("carrier says {}", status.as_str())),
    };
    match store.add_tracking_event(id, event, &ctx()).await? {
        Outcome::Done(s) => Ok(s),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn balance(store: &PgStore, sku: &str, location: &str) -> Balance {
    store
        .list_balances(
            &BalanceFilter {
                sku: Some(sku.into()),
                location: Some(location.into()),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .first()
        .map(|b| b.balance)
        .expect("a balance row")
}

/// The newest movements of (sku, location), newest first.
async fn movements(store: &PgStore, sku: &str, location: &str, n: i64) -> Vec<Movement> {
    store
        .list_movements(
            &MovementFilter {
                sku: Some(sku.into()),
                location: Some(location.into()),
                ..Default::default()
            },
            &PageRequest {
                limit: Some(n),
                cursor: None,
            },
        )
        .await
        .unwrap()
        .items
}

async fn order_now(store: &PgStore, number: &str) -> Order {
    store.get_order(number).await.unwrap().unwrap()
}

async fn shipments(store: &PgStore, filter: ShipmentFilter) -> Vec<String> {
    store
        .list_shipments(&filter, &PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_takes_the_units_out_of_stock_and_ships_the_order() {
    let Some((store, _)) = store("ship_one").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 5), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-B", "WH1", 5), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("s-1", &[("SKU-A", 2), ("SKU-B", 1)]))
        .await
        .value;
    assert_eq!(o.fulfillment_orders.len(), 1);
    let fo_id = fo(&o, 1).id.clone();

    let s = ship(&store, own_fleet(&fo_id)).await.unwrap();
    assert_eq!(s.id, "SH-000001");
    assert_eq!(s.order, o.number);
    assert_eq!(s.fulfillment_order, fo_id);
    assert_eq!(s.location, "WH1");
    assert_eq!(s.status, ShipmentStatus::LabelCreated);
    assert_eq!(s.lines, vec![line(1, "SKU-A", 2), line(2, "SKU-B", 1)]);
    assert_eq!(s.packages.len(), 1);
    assert!(
        s.tracking_number.starts_with("OR") && s.tracking_number.ends_with("DE"),
        "{}",
        s.tracking_number
    );
    assert!(s.tracking.is_empty());
    // What the write answered is what a read returns.
    assert_eq!(store.get_shipment(&s.id).await.unwrap().as_ref(), Some(&s));
    assert!(store.get_shipment("SH-000099").await.unwrap().is_none());
    assert!(store.get_shipment("nonsense").await.unwrap().is_none());

    // Both on_hand and allocated went down by the shipped units.
    let a = balance(&store, "SKU-A", "WH1").await;
    assert_eq!((a.on_hand, a.allocated), (3, 0));
    let b = balance(&store, "SKU-B", "WH1").await;
    assert_eq!((b.on_hand, b.allocated), (4, 0));
    let moved = movements(&store, "SKU-A", "WH1", 2).await;
    assert_eq!(moved.len(), 2);
    for m in &moved {
        assert_eq!(m.reason, "shipped");
        assert_eq!(m.reference.as_deref(), Some("shipment:SH-000001"));
        assert_eq!(m.delta, -2);
    }
    let mut states: Vec<_> = moved.iter().map(|m| m.state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(states, ["allocated", "on_hand"]);

    let shipped = order_now(&store, &o.number).await;
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(shipped.fill_status, OrderStatus::Shipped);
    let f = fo(&shipped, 1);
    assert_eq!(f.status, FulfillmentStatus::Shipped);
    assert_eq!(f.lines, vec![line(1, "SKU-A", 2), line(2, "SKU-B", 1)]);
    for (l, q) in shipped.lines.iter().zip([2, 1]) {
        assert_eq!((l.shipped, l.allocated, l.backordered), (q, 0, 0));
        assert!(l.allocations.is_empty());
    }
    let filtered = store
        .list_orders(
            &OrderFilter {
                status: Some(OrderStatus::Shipped),
                ..OrderFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);
    assert_clean(&store).await;

    // Shipped once is shipped: no second shipment, no hold, no cancel.
    let e = ship(&store, own_fleet(&fo_id)).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = store
        .transition_order(&o.number, change(Transition::Hold), &ctx())
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = store
        .transition_order(&o.number, change(Transition::Cancel), &ctx())
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = ship(&store, own_fleet("SO-999999-1")).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );
    let e = ship(&store, own_fleet(&format!("{}-7", o.number)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );

    // The carrier picks it up and delivers it.
    let moving = track(&store, &s.id, ShipmentStatus::InTransit)
        .await
        .unwrap();
    assert_eq!(moving.status, ShipmentStatus::InTransit);
    assert_eq!(moving.tracking.len(), 1);
    let e = void(&store, &s.id).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_eq!(
        order_now(&store, &o.number).await.status,
        OrderStatus::Shipped
    );
    let delivered = track(&store, &s.id, ShipmentStatus::Delivered)
        .await
        .unwrap();
    assert_eq!(delivered.status, ShipmentStatus::Delivered);
    assert_eq!(delivered.tracking.len(), 2);
    assert_eq!(
        store.get_shipment(&s.id).await.unwrap().as_ref(),
        Some(&delivered)
    );
    let done = order_now(&store, &o.number).await;
    assert_eq!(done.status, OrderStatus::Delivered);
    assert_eq!(done.fill_status, OrderStatus::Delivered);
    let e = track(&store, &s.id, ShipmentStatus::InTransit)
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = track(&store, "SH-000042", ShipmentStatus::InTransit)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );

    let kinds: Vec<String> = store
        .order_events(&o.number)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "shipment.created",
        "shipment.tracking",
        "shipment.delivered",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_shipments_void_and_delivery_of_every_shipment() {
    let Some((store, _)) = store("ship_two").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 2), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-B", "WH2", 3), &ctx())
        .await
        .unwrap();
    let o = created(&store, order("p-1", &[("SKU-A", 2), ("SKU-B", 3)]))
        .await
        .value;
    let (one, two) = (fo(&o, 1).clone(), fo(&o, 2).clone());
    assert_eq!(
        (one.location.as_str(), two.location.as_str()),
        ("WH1", "WH2")
    );

    let first = ship(&store, own_fleet(&one.id)).await.unwrap();
    let partly = order_now(&store, &o.number).await;
    assert_eq!(partly.status, OrderStatus::PartiallyShipped);
    assert_eq!(fo(&partly, 2).status, FulfillmentStatus::Open);
    let e = store
        .transition_order(&o.number, change(Transition::Cancel), &ctx())
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_clean(&store).await;

    // A voided label puts the stock back and reopens the fulfillment order.
    let voided = void(&store, &first.id).await.unwrap();
    assert_eq!(voided.status, ShipmentStatus::Voided);
    assert_eq!(
        store.get_shipment(&first.id).await.unwrap().as_ref(),
        Some(&voided)
    );
    let a = balance(&store, "SKU-A", "WH1").await;
    assert_eq!((a.on_hand, a.allocated), (2, 2));
    let back = movements(&store, "SKU-A", "WH1", 2).await;
    for m in &back {
        assert_eq!(m.reason, "shipment_voided");
        assert_eq!(
            m.reference.as_deref(),
            Some(format!("shipment:{}", first.id).as_str())
        );
        assert_eq!(m.delta, 2);
    }
    let reopened = order_now(&store, &o.number).await;
    assert_eq!(reopened.status, OrderStatus::Allocated);
    assert_eq!(reopened.fill_status, OrderStatus::Allocated);
    assert_eq!(fo(&reopened, 1).status, FulfillmentStatus::Open);
    assert_eq!(fo(&reopened, 1).lines, vec![line(1, "SKU-A", 2)]);
    assert_eq!(
        (reopened.lines[0].allocated, reopened.lines[0].shipped),
        (2, 0)
    );
    assert_reads_back(&store, &reopened).await;
    assert_clean(&store).await;
    let e = void(&store, &first.id).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = void(&store, "SH-000077").await.unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );

    // Both fulfillment orders ship; the order is delivered when every live shipment is.
    let again = ship(&store, own_fleet(&one.id)).await.unwrap();
    assert_ne!(again.id, first.id);
    assert_ne!(again.tracking_number, first.tracking_number);
    let other = ship(&store, manual(&two.id, "TRACK-0001")).await.unwrap();
    assert_eq!(other.carrier, "manual");
    assert_eq!(other.tracking_number, "TRACK-0001");
    assert_eq!(
        order_now(&store, &o.number).await.status,
        OrderStatus::Shipped
    );
    track(&store, &again.id, ShipmentStatus::Delivered)
        .await
        .unwrap();
    assert_eq!(
        order_now(&store, &o.number).await.status,
        OrderStatus::Shipped
    );
    track(&store, &other.id, ShipmentStatus::OutForDelivery)
        .await
        .unwrap();
    track(&store, &other.id, ShipmentStatus::Delivered)
        .await
        .unwrap();
    let delivered = order_now(&store, &o.number).await;
    assert_eq!(delivered.status, OrderStatus::Delivered);
    let b = balance(&store, "SKU-B", "WH2").await;
    assert_eq!((b.on_hand, b.allocated), (0, 0));
    assert_clean(&store).await;

    // The list: newest first, filtered, in pages.
    let all = shipments(&store, ShipmentFilter::default()).await;
    assert_eq!(all, [other.id.clone(), again.id.clone(), first.id.clone()]);
    let by_order = shipments(
        &store,
        ShipmentFilter {
            order: Some(o.number.clone()),
            ..ShipmentFilter::default()
        },
    )
    .await;
    assert_eq!(by_order, all);
    assert!(
        shipments(
            &store,
            ShipmentFilter {
                order: Some("SO-999999".into()),
                ..ShipmentFilter::default()
            },
        )
        .await
        .is_empty()
    );
    assert_eq!(
        shipments(
            &store,
            ShipmentFilter {
                status: Some(ShipmentStatus::Voided),
                ..ShipmentFilter::default()
            },
        )
        .await,
        vec![first.id.clone()]
    );
    assert_eq!(
        shipments(
            &store,
            ShipmentFilter {
                location: Some("WH2".into()),
                ..ShipmentFilter::default()
            },
        )
        .await,
        vec![other.id.clone()]
    );
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_shipments(
                &ShipmentFilter::default(),
                &PageRequest {
                    limit: Some(2),
                    cursor,
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|s| s.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all);
    let bad = store
        .list_shipments(
            &ShipmentFilter::default(),
            &PageRequest {
                limit: None,
                cursor: Some("zz".into()),
            },
        )
        .await;
    assert_eq!(invalid_fields(bad.unwrap_err())[0].0, "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_refusals_3pl_acceptance_and_idempotent_retries() {
    let Some((store, _)) = store("ship_rules").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 10), &ctx())
        .await
        .unwrap();

    // An order on hold does not ship.
    let held = created(
        &store,
        order_with(
            "r-1",
            &[("SKU-A", 1)],
            json!({"payment": {"status": "pending"}}),
        ),
    )
    .await
    .value;
    assert_eq!(held.status, OrderStatus::OnHold);
    let e = ship(&store, own_fleet(&fo(&held, 1).id)).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_eq!(balance(&store, "SKU-A", "WH1").await.on_hand, 10);
    assert!(
        shipments(&store, ShipmentFilter::default())
            .await
            .is_empty()
    );

    // Idempotent retries answer the first shipment and ship nothing more.
    let o = created(&store, order("r-2", &[("SKU-A", 2)])).await.value;
    let fo_id = fo(&o, 1).id.clone();
    let first = match store
        .create_shipment(manual(&fo_id, "T-1"), &keyed("ship-1"))
        .await
        .unwrap()
    {
        Outcome::Done(c) => c.value,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    };
    match store
        .create_shipment(manual(&fo_id, "T-1"), &keyed("ship-1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 201);
            let replayed: Shipment = serde_json::from_str(&body).unwrap();
            assert_eq!(replayed, first);
        }
        Outcome::Done(_) => panic!("shipped twice"),
    }
    assert_eq!(
        shipments(&store, ShipmentFilter::default()).await,
        vec![first.id.clone()]
    );
    assert_eq!(balance(&store, "SKU-A", "WH1").await.on_hand, 8);
    // The same key on void and tracking replays too.
    let voided = match store
        .void_shipment(&first.id, &keyed("void-1"))
        .await
        .unwrap()
    {
        Outcome::Done(s) => s,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    };
    assert!(matches!(
        store
            .void_shipment(&first.id, &keyed("void-1"))
            .await
            .unwrap(),
        Outcome::Replayed { status: 200, .. }
    ));
    assert_eq!(voided.status, ShipmentStatus::Voided);
    assert_eq!(balance(&store, "SKU-A", "WH1").await.on_hand, 10);

    // A carrier's tracking number names one shipment of that carrier only; a voided label
    // keeps its number.
    let other = created(&store, order("r-3", &[("SKU-A", 1)])).await.value;
    let e = ship(&store, manual(&fo(&other, 1).id, "T-1"))
        .await
        .unwrap_err();
    match &e {
        StoreError::Problem(Problem::Conflict { message, .. }) => {
            assert!(message.contains("T-1"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let fine = ship(&store, manual(&fo(&other, 1).id, "T-2"))
        .await
        .unwrap();
    assert_eq!(fine.tracking_number, "T-2");
    assert_clean(&store).await;

    // A 3PL's fulfillment order ships only once its request is accepted.
    product(&store, "SKU-T", true).await;
    location(
        &store,
        json!({
            "code": "TPL", "name": "Outsourced", "kind": "3pl", "priority": 3,
            "address": {"name": "3PL", "line1": "Dock 1", "city": "Vienna", "country": "AT"},
        }),
    )
    .await;
    store
        .write_stock(adjust("SKU-T", "TPL", 5), &ctx())
        .await
        .unwrap();
    let out = created(&store, order("r-4", &[("SKU-T", 3)])).await.value;
    let sent = fo(&out, 1).clone();
    assert_eq!(sent.location, "TPL");
    let e = ship(&store, own_fleet(&sent.id)).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Submit,
            reason: None,
        },
    )
    .await
    .unwrap();
    let e = ship(&store, own_fleet(&sent.id)).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    fulfill(
        &store,
        FulfillmentChange::Request {
            id: sent.id.clone(),
            action: RequestAction::Accept,
            reason: None,
        },
    )
    .await
    .unwrap();
    let s = ship(&store, own_fleet(&sent.id)).await.unwrap();
    assert!(s.tracking_number.ends_with("AT"), "{}", s.tracking_number);
    let t = balance(&store, "SKU-T", "TPL").await;
    assert_eq!((t.on_hand, t.allocated), (2, 0));
    let shipped = order_now(&store, &out.number).await;
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(
        fo(&shipped, 1).request_status,
        Some(RequestStatus::Accepted)
    );
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// Picking.

use ordo_warehouse::bins::{BinRecord, LayoutConfig, Point};

fn pick_input(body: serde_json::Value) -> PickJobInput {
    serde_json::from_value(body).unwrap()
}

fn scan(sku: &str, bin: Option<&str>, quantity: i64) -> PickInput {
    PickInput {
        sku: Some(sku.into()),
        bin: bin.map(Into::into),
        quantity: Some(quantity),
        ..PickInput::default()
    }
}

async fn new_job(store: &PgStore, location: &str, input: PickJobInput) -> Result<PickJob> {
    match store.create_pick_job(location, input, &ctx()).await? {
        Outcome::Done(c) => {
            assert!(c.created);
            Ok(c.value)
        }
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn pick(store: &PgStore, id: &str, input: PickInput) -> Result<PickResult> {
    match store.record_pick(id, input, &ctx()).await? {
        Outcome::Done(r) => Ok(r),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

fn bin_at(code: &str, x_m: f64, y_m: f64) -> BinRecord {
    BinRecord {
        code: code.into(),
        sequence: None,
        position: Some(Point { x_m, y_m }),
    }
}

async fn events_of(store: &PgStore, kind: &str) -> Vec<Event> {
    store
        .list_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_pick_in_walk_order_with_a_short_pick_rerouted() {
    let Some((store, _)) = store("pick_batch").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B", "SKU-C"]).await;
    let with_barcode = serde_json::from_value::<ordo_domain::catalog::ProductInput>(json!({
        "sku": "SKU-A", "name": "Product SKU-A", "price": "10.00", "unit_cost": "4.00",
        "barcode": "4006381333931",
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_product(with_barcode, &ctx()).await.unwrap();
    for (sku, location, units) in [
        ("SKU-A", "WH1", 10),
        ("SKU-B", "WH1", 10),
        ("SKU-B", "WH2", 5),
    ] {
        store
            .write_stock(adjust(sku, location, units), &ctx())
            .await
            .unwrap();
    }

    // Pick bins: refused as a whole when a SKU is unknown; an empty bin removes one.
    let bins = |pairs: &[(&str, &str)]| -> Vec<SkuBin> {
        pairs
            .iter()
            .map(|(sku, bin)| SkuBin {
                sku: (*sku).into(),
                bin: (*bin).into(),
            })
            .collect()
    };
    let e = store
        .put_sku_bins(
            "WH1",
            bins(&[("SKU-A", "A-01-03-1"), ("NOPE", "A-01-01-1")]),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        invalid_fields(e),
        vec![("bins[1].sku".to_string(), "unknown SKU 'NOPE'".to_string())]
    );
    assert!(store.sku_bins("WH1").await.unwrap().is_empty());
    let e = store
        .put_sku_bins("WH9", bins(&[("SKU-A", "A-01-03-1")]), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );
    store
        .put_sku_bins(
            "WH1",
            bins(&[
                ("SKU-B", "A-02-01-1"),
                ("SKU-A", "A-01-03-1"),
                ("SKU-C", " A-03-01-1 "),
            ]),
            &ctx(),
        )
        .await
        .unwrap();
    store
        .put_sku_bins("WH1", bins(&[("SKU-C", "  ")]), &ctx())
        .await
        .unwrap();
    assert_eq!(
        store.sku_bins("WH1").await.unwrap(),
        bins(&[("SKU-A", "A-01-03-1"), ("SKU-B", "A-02-01-1")])
    );
    assert_eq!(events_of(&store, "location.bins_assigned").await.len(), 2);

    // The layout: the bin master with where the picker stands.
    assert_eq!(store.get_layout("WH1").await.unwrap(), None);
    let layout = LayoutConfig {
        bins: vec![bin_at("A-01-03-1", 1.0, 3.0), bin_at("A-02-01-1", 4.0, 1.0)],
        start: Some(Point { x_m: 0.0, y_m: 0.0 }),
        ..LayoutConfig::default()
    };
    store
        .put_layout("WH1", layout.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(store.get_layout("WH1").await.unwrap(), Some(layout.clone()));
    let e = store.put_layout("WH9", layout, &ctx()).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );
    let changed = events_of(&store, "location.layout_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].data, json!({"location": "WH1", "bins": 2}));

    let mut orders = Vec::new();
    for (id, lines) in [
        ("p-1", vec![("SKU-A", 1), ("SKU-B", 1)]),
        ("p-2", vec![("SKU-B", 2)]),
        ("p-3", vec![("SKU-A", 1)]),
    ] {
        let o = created(&store, order(id, &lines)).await.value;
        assert_eq!(fo(&o, 1).location, "WH1");
        orders.push(o);
    }

    // Refusals: an unknown location, and nothing open there.
    let e = new_job(&store, "WH9", PickJobInput::default())
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "location");
    let e = new_job(&store, "WH2", PickJobInput::default())
        .await
        .unwrap_err();
    assert_eq!(
        invalid_fields(e),
        vec![(
            "filters".to_string(),
            "no open fulfillment order at WH2 matches".to_string()
        )]
    );

    let job = new_job(
        &store,
        "WH1",
        pick_input(json!({"strategy": {"kind": "batch"}, "limits": {"max_orders": 10}})),
    )
    .await
    .unwrap();
    assert_eq!(job.id, "PL-000001", "refusals took no number");
    assert_eq!(job.location, "WH1");
    assert_eq!(job.status, PickJobStatus::Open);
    assert_eq!(job.lists.len(), 1);
    let list = &job.lists[0];
    let walk: Vec<_> = list
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.bin.as_deref(), l.quantity))
        .collect();
    assert_eq!(
        walk,
        [
            ("SKU-A", Some("A-01-03-1"), 2),
            ("SKU-B", Some("A-02-01-1"), 3)
        ],
        "aisle 01 before aisle 02"
    );
    assert_eq!(list.totes.len(), 3);
    assert_eq!(list.path.stops, 2);
    assert!(list.path.metres.is_some(), "{:?}", list.path);
    let mut released: Vec<_> = released(&job);
    released.sort();
    let mut expected: Vec<_> = orders.iter().map(|o| fo(o, 1).id.clone()).collect();
    expected.sort();
    assert_eq!(released, expected);
    for o in &orders {
        assert_eq!(
            fo(&order_now(&store, &o.number).await, 1).status,
            FulfillmentStatus::InProgress
        );
    }
    let picking = events_of(&store, "fulfillment_order.picking").await;
    assert_eq!(picking.len(), 3);
    for e in &picking {
        assert!(e.order_id.is_some(), "{e:?}");
        assert_eq!(e.data["pick_list"], "PL-000001");
    }
    assert_eq!(
        store.get_pick_job(&job.id).await.unwrap().as_ref(),
        Some(&job)
    );
    assert!(store.get_pick_job("PL-000099").await.unwrap().is_none());
    assert!(store.get_pick_job("nonsense").await.unwrap().is_none());
    let e = new_job(&store, "WH1", PickJobInput::default())
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "filters", "nothing left to release");

    // A wrong item, a wrong bin or an over-pick is refused and changes nothing.
    let events_before = store.list_events(0, 10_000).await.unwrap().len();
    let e = pick(&store, &job.id, scan("SKU-C", None, 1))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "sku");
    let e = pick(&store, &job.id, scan("SKU-A", Some("A-02-01-1"), 1))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "bin");
    let e = pick(&store, &job.id, scan("SKU-A", None, 5))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "quantity");
    let e = pick(
        &store,
        &job.id,
        PickInput {
            barcode: Some("036000291452".into()),
            ..PickInput::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "barcode");
    assert!(matches!(
        pick(&store, "PL-000099", scan("SKU-A", None, 1)).await,
        Err(StoreError::Problem(Problem::NotFound(_)))
    ));
    assert_eq!(
        store.get_pick_job(&job.id).await.unwrap().as_ref(),
        Some(&job)
    );
    assert_eq!(
        store.list_events(0, 10_000).await.unwrap().len(),
        events_before
    );
    let a = balance(&store, "SKU-A", "WH1").await;
    assert_eq!((a.on_hand, a.allocated), (10, 2));

    // A barcode scan, retried with its idempotency key: applied once.
    let by_barcode = PickInput {
        barcode: Some("4006381333931".into()),
        bin: Some("A-01-03-1".into()),
        quantity: Some(2),
        ..PickInput::default()
    };
    let scanned = match store
        .record_pick(&job.id, by_barcode.clone(), &keyed("scan-1"))
        .await
        .unwrap()
    {
        Outcome::Done(r) => r,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    };
    assert_eq!(scanned.update.sku, "SKU-A");
    assert!(scanned.update.line_done);
    assert!(!scanned.update.complete);
    assert!(scanned.update.losses.is_empty());
    assert_eq!(scanned.job.history.len(), 1);
    match store
        .record_pick(&job.id, by_barcode, &keyed("scan-1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 200);
            let replayed: PickResult = serde_json::from_str(&body).unwrap();
            assert_eq!(replayed, scanned);
        }
        Outcome::Done(_) => panic!("picked twice"),
    }
    assert_eq!(
        store.get_pick_job(&job.id).await.unwrap().as_ref(),
        Some(&scanned.job)
    );
    // p-3 only wanted SKU-A: it is picked now.
    assert_eq!(
        scanned.update.orders_picked,
        vec![fo(&orders[2], 1).id.clone()]
    );
    assert_eq!(
        fo(&order_now(&store, &orders[2].number).await, 1).status,
        FulfillmentStatus::Picked
    );

    // The B bin holds 1 of the 3: the newest order (p-2) loses its 2, which are written
    // off here and routed to WH2, never back to WH1.
    let short = pick(
        &store,
        &job.id,
        PickInput {
            sku: Some("SKU-B".into()),
            found: Some(1),
            ..PickInput::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(short.update.losses.len(), 1, "{:?}", short.update.losses);
    assert_eq!(short.update.losses[0].units, 2);
    assert_eq!(
        short.update.losses[0].fulfillment_order_id,
        fo(&orders[1], 1).id
    );
    assert_eq!(short.update.put.len(), 1);
    assert_eq!(short.update.put[0].quantity, 1);
    assert_eq!(
        short.update.put[0].fulfillment_order_id,
        fo(&orders[0], 1).id
    );
    let b1 = balance(&store, "SKU-B", "WH1").await;
    assert_eq!((b1.on_hand, b1.allocated), (8, 1));
    let written_off = movements(&store, "SKU-B", "WH1", 1).await;
    assert_eq!(written_off[0].reason, "shrinkage");
    assert_eq!(written_off[0].state, "on_hand");
    assert_eq!(written_off[0].delta, -2);
    assert_eq!(written_off[0].reference.as_deref(), Some("pick:PL-000001"));
    let p2 = order_now(&store, &orders[1].number).await;
    assert_eq!(fo(&p2, 1).status, FulfillmentStatus::Cancelled);
    let live: Vec<_> = p2
        .fulfillment_orders
        .iter()
        .filter(|f| f.status.is_active())
        .collect();
    assert_eq!(live.len(), 1, "{:?}", p2.fulfillment_orders);
    assert_eq!(live[0].location, "WH2");
    assert_eq!(live[0].lines, vec![line(1, "SKU-B", 2)]);
    assert_eq!(p2.status, OrderStatus::Allocated);
    assert_eq!(balance(&store, "SKU-B", "WH2").await.allocated, 2);
    assert_eq!(
        events_of(&store, "fulfillment_order.short_picked")
            .await
            .len(),
        1
    );
    assert_clean(&store).await;

    // The unit the bin did hold went into the oldest order's tote: the job is done.
    assert!(short.update.complete);
    assert_eq!(short.job.status, PickJobStatus::Done);
    assert_eq!(
        short.update.orders_picked,
        vec![fo(&orders[0], 1).id.clone()]
    );
    for o in [&orders[0], &orders[2]] {
        assert_eq!(
            fo(&order_now(&store, &o.number).await, 1).status,
            FulfillmentStatus::Picked
        );
    }
    let picked = events_of(&store, "fulfillment_order.picked").await;
    assert_eq!(picked.len(), 2);
    assert!(picked.iter().all(|e| e.data["pick_list"] == "PL-000001"));
    assert_eq!(
        store.get_pick_job(&job.id).await.unwrap().as_ref(),
        Some(&short.job)
    );
    let e = pick(&store, &job.id, scan("SKU-B", None, 1))
        .await
        .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");

    // Lists, newest first, by location and status.
    let done = store
        .list_pick_jobs(
            Some("WH1"),
            Some(PickJobStatus::Done),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(done.items, vec![short.job.clone()]);
    assert!(done.next_cursor.is_none());
    for (location, status) in [
        (Some("WH1"), Some(PickJobStatus::Open)),
        (Some("WH2"), None),
    ] {
        let none = store
            .list_pick_jobs(location, status, &PageRequest::default())
            .await
            .unwrap();
        assert!(none.items.is_empty());
    }

    // Picked work ships.
    let s = ship(&store, own_fleet(&fo(&orders[0], 1).id))
        .await
        .unwrap();
    assert_eq!(s.lines, vec![line(1, "SKU-A", 1), line(2, "SKU-B", 1)]);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_job_pages_go_newest_first() {
    let Some((store, _)) = store("pick_pages").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 10), &ctx())
        .await
        .unwrap();
    for i in 0..5 {
        created(&store, order(&format!("pp-{i}"), &[("SKU-A", 1)])).await;
        new_job(
            &store,
            "WH1",
            pick_input(json!({"strategy": {"kind": "single"}})),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_pick_jobs(
                None,
                None,
                &PageRequest {
                    limit: Some(2),
                    cursor,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|j| j.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "PL-000005",
            "PL-000004",
            "PL-000003",
            "PL-000002",
            "PL-000001"
        ]
    );
    let bad = store
        .list_pick_jobs(
            None,
            None,
            &PageRequest {
                limit: None,
                cursor: Some("nonsense".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(bad)[0].0, "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pick_jobs_never_release_a_fulfillment_order_twice() {
    let Some((first, url)) = store("pick_race").await else {
        return;
    };
    seed(&first, &["SKU-A"]).await;
    first
        .write_stock(adjust("SKU-A", "WH1", 100), &ctx())
        .await
        .unwrap();
    let mut all = Vec::new();
    for i in 0..12 {
        let o = created(&first, order(&format!("race-{i}"), &[("SKU-A", 1)]))
            .await
            .value;
        all.push(fo(&o, 1).id.clone());
    }
    // Two processes, eight pick jobs of at most two orders each asked for at once.
    let second = PgStore::connect(&url).await.unwrap();
    let stores = [std::sync::Arc::new(first), std::sync::Arc::new(second)];
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                store
                    .create_pick_job(
                        "WH1",
                        pick_input(json!({"limits": {"max_orders": 2}})),
                        &ctx(),
                    )
                    .await
            })
        })
        .collect();
    let mut jobs = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Outcome::Done(c)) => jobs.push(c.value),
            Ok(Outcome::Replayed { .. }) => panic!("unexpected replay"),
            Err(e) => {
                assert_eq!(invalid_fields(e)[0].0, "filters");
                refused += 1;
            }
        }
    }
    assert_eq!((jobs.len(), refused), (6, 2), "each job took what was left");
    let mut released_ids: Vec<String> = jobs.iter().flat_map(released).collect();
    released_ids.sort();
    let before = released_ids.len();
    released_ids.dedup();
    assert_eq!(
        before,
        released_ids.len(),
        "a fulfillment order in two jobs"
    );
    all.sort();
    assert_eq!(released_ids, all);
    let mut numbers: Vec<_> = jobs.iter().map(|j| j.id.clone()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 6);
    let mut picking: Vec<String> = events_of(&stores[0], "fulfillment_order.picking")
        .await
        .into_iter()
        .map(|e| e.data["fulfillment_order"].as_str().unwrap().to_string())
        .collect();
    picking.sort();
    assert_eq!(picking, all, "one picking event per fulfillment order");
    let in_progress = stores[0]
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: Some("WH1".into()),
                status: Some(FulfillmentStatus::InProgress),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(in_progress.items.len(), 12);
    assert_clean(&stores[0]).await;
}

// ---------------------------------------------------------------------------------------
// Packing, box types and carrier services.

use ordo_domain::catalog::ProductInput;
use ordo_domain::shipment::Package;
use ordo_warehouse::cartonize::BoxType;
use ordo_warehouse::shipping::CarrierService;

/// A product with handling classes, dimensions, weight and barcode.
async fn classed_product(
    store: &PgStore,
    sku: &str,
    classes: &[&str],
    dims: [i64; 3],
    weight_g: i64,
    barcode: &str,
) {
    let product = serde_json::from_value::<ProductInput>(json!({
        "sku": sku, "name": sku, "price": "10.00", "handling_classes": classes,
        "weight_g": weight_g, "barcode": barcode,
        "dimensions": {"length_mm": dims[0], "width_mm": dims[1], "height_mm": dims[2]},
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_product(product, &ctx()).await.unwrap();
    store
        .write_stock(adjust(sku, "WH1", 10), &ctx())
        .await
        .unwrap();
}

/// Two locations, a channel, a fragile, a hazmat and a perishable product (10 each at WH1).
async fn seed_packing(store: &PgStore) {
    seed(store, &[]).await;
    classed_product(
        store,
        "FRAG-1",
        &["fragile"],
        [200, 150, 100],
        800,
        "4006381333931",
    )
    .await;
    classed_product(
        store,
        "HAZ-1",
        &["hazmat"],
        [100, 100, 100],
        400,
        "036000291452",
    )
    .await;
    classed_product(
        store,
        "COLD-1",
        &["perishable"],
        [150, 100, 100],
        500,
        "96385074",
    )
    .await;
}

fn pack_input(body: serde_json::Value) -> PackInput {
    serde_json::from_value(body).unwrap()
}

async fn pack(store: &PgStore, id: &str, input: PackInput) -> Result<Packing> {
    match store.pack_fulfillment_order(id, input, &ctx()).await? {
        Outcome::Done(p) => Ok(p),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

/// Everything a pack could change: the order, the stock, the ledger, the events.
async fn pack_snapshot(store: &PgStore, number: &str) -> serde_json::Value {
    let order = order_now(store, number).await;
    let balances = store
        .list_balances(&BalanceFilter::default(), &PageRequest::default())
        .await
        .unwrap()
        .items;
    let movements = store
        .list_movements(&MovementFilter::default(), &PageRequest::default())
        .await
        .unwrap()
        .items;
    let events = store.list_events(0, 10_000).await.unwrap();
    json!({"order": order, "balances": balances, "movements": movements, "events": events})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_checks_the_scans_and_boxes_by_product_class() {
    let Some((store, _)) = store("pack_classes").await else {
        return;
    };
    seed_packing(&store).await;
    let o1 = created(&store, order("pk-1", &[("FRAG-1", 1), ("HAZ-1", 1)]))
        .await
        .value;
    let o2 = created(&store, order("pk-2", &[("COLD-1", 2)])).await.value;
    let fo1 = o1.fulfillment_orders[0].id.clone();
    let fo2 = o2.fulfillment_orders[0].id.clone();

    // A wrong item (and a missing one) is refused, and nothing changes.
    let before = pack_snapshot(&store, &o1.number).await;
    let e = pack(
        &store,
        &fo1,
        pack_input(json!({"scans": [{"sku": "FRAG-1"}, {"sku": "COLD-1"}]})),
    )
    .await
    .unwrap_err();
    let messages: Vec<String> = invalid_fields(e).into_iter().map(|(_, m)| m).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("COLD-1 is not in this fulfillment order")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("HAZ-1: 0 of 1")),
        "{messages:?}"
    );
    assert_eq!(pack_snapshot(&store, &o1.number).await, before);
    assert!(store.get_packing(&fo1).await.unwrap().is_none());
    // An unknown barcode and an unknown box type are named.
    let e = pack(
        &store,
        &fo1,
        pack_input(json!({"scans": [{"barcode": "0000000000000"}]})),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "scans[0].barcode");
    let e = pack(
        &store,
        &fo1,
        pack_input(json!({"scans": [{"sku": "FRAG-1"}, {"sku": "HAZ-1"}], "boxes": ["NOPE"]})),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "boxes[0]");
    // Unknown fulfillment orders are not found.
    for id in ["SO-999999-1", "nonsense", &format!("{}-9", o1.number)] {
        let e = pack(
            &store,
            id,
            pack_input(json!({"scans": [{"sku": "FRAG-1"}]})),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, StoreError::Problem(Problem::NotFound(_))),
            "{id}: {e:?}"
        );
    }
    assert_eq!(pack_snapshot(&store, &o1.number).await, before);

    // Fragile and hazmat never share a box. The fragile one is scanned by barcode.
    let packing = pack(
        &store,
        &fo1,
        pack_input(
            json!({"scans": [{"barcode": "4006381333931"}, {"sku": "HAZ-1"}], "weight_g": 1500}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(packing.fulfillment_order, fo1);
    assert_eq!(packing.weighed_g, Some(1500));
    assert_eq!(packing.plan.packages.len(), 2, "{:?}", packing.plan);
    let fragile = packing
        .plan
        .packages
        .iter()
        .find(|p| p.items[0].sku == "FRAG-1")
        .expect("a box for the fragile item");
    assert_eq!(fragile.items.len(), 1, "{fragile:?}");
    assert!(
        fragile.markings.iter().any(|m| m == "FRAGILE"),
        "{fragile:?}"
    );
    let hazmat = packing
        .plan
        .packages
        .iter()
        .find(|p| p.items[0].sku == "HAZ-1")
        .expect("a box for the hazmat item");
    assert_eq!(hazmat.items.len(), 1, "{hazmat:?}");
    // The fulfillment order is packed, its reservation untouched; the packing reads back.
    let after = order_now(&store, &o1.number).await;
    assert_eq!(
        fo(&after, 1).status,
        ordo_domain::fulfillment::FulfillmentStatus::Packed
    );
    assert_eq!(fo(&after, 1).lines, o1.fulfillment_orders[0].lines);
    assert_eq!(after.status, o1.status);
    assert_eq!(
        store.get_packing(&fo1).await.unwrap().as_ref(),
        Some(&packing)
    );
    assert_eq!(allocated(&store, "FRAG-1", "WH1").await, 1);
    let packed = events_of(&store, "fulfillment_order.packed").await;
    assert_eq!(packed.len(), 1);
    assert_eq!(packed[0].data["fulfillment_order"], fo1.as_str());
    assert_eq!(packed[0].data["weight_g"], 1500);
    assert_eq!(packed[0].order_id, Some(o1.id));
    // Packed work is not packed again.
    let e = pack(
        &store,
        &fo1,
        pack_input(json!({"scans": [{"sku": "FRAG-1"}, {"sku": "HAZ-1"}]})),
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");

    // Perishables travel insulated.
    let cold = pack(
        &store,
        &fo2,
        pack_input(json!({"scans": [{"sku": "COLD-1", "quantity": 2}]})),
    )
    .await
    .unwrap();
    assert_eq!(cold.plan.packages.len(), 1, "{:?}", cold.plan);
    assert_eq!(cold.plan.packages[0].box_code, "COOL-M");
    assert_eq!(cold.plan.packages[0].items[0].quantity, 2);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_without_packages_ships_in_the_packed_boxes() {
    let Some((store, _)) = store("pack_ship").await else {
        return;
    };
    seed_packing(&store).await;
    let o1 = created(&store, order("ps-1", &[("FRAG-1", 1), ("HAZ-1", 1)]))
        .await
        .value;
    let o2 = created(&store, order("ps-2", &[("FRAG-1", 1), ("HAZ-1", 1)]))
        .await
        .value;
    let o3 = created(&store, order("ps-3", &[("COLD-1", 1)])).await.value;
    let (fo1, fo2, fo3) = (
        o1.fulfillment_orders[0].id.clone(),
        o2.fulfillment_orders[0].id.clone(),
        o3.fulfillment_orders[0].id.clone(),
    );
    let both = || json!({"scans": [{"sku": "FRAG-1"}, {"sku": "HAZ-1"}], "weight_g": 1500});

    // Retried with the same key, the pack is answered once.
    let first = store
        .pack_fulfillment_order(&fo1, pack_input(both()), &keyed("pack-1"))
        .await
        .unwrap();
    let Outcome::Done(packing) = first else {
        panic!("first pack replayed")
    };
    match store
        .pack_fulfillment_order(&fo1, pack_input(both()), &keyed("pack-1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 200);
            let replayed: Packing = serde_json::from_str(&body).unwrap();
            assert_eq!(replayed, packing);
        }
        Outcome::Done(_) => panic!("a retried pack acted twice"),
    }
    assert_eq!(events_of(&store, "fulfillment_order.packed").await.len(), 1);

    // No packages given: the packed boxes, sharing out the scale's weight.
    let shipped = ship(&store, own_fleet(&fo1)).await.unwrap();
    assert_eq!(shipped.packages, packing.packages());
    assert_eq!(shipped.packages.len(), 2);
    let total: i64 = shipped.packages.iter().map(|p| p.weight_g).sum();
    assert!((1498..=1500).contains(&total), "{total}");
    for (p, planned) in shipped.packages.iter().zip(&packing.plan.packages) {
        assert_eq!(p.length_mm, Some(planned.outer.length_mm));
        assert_eq!(p.width_mm, Some(planned.outer.width_mm));
        assert_eq!(p.height_mm, Some(planned.outer.height_mm));
    }
    assert_eq!(
        store.get_shipment(&shipped.id).await.unwrap().unwrap(),
        shipped
    );
    assert_eq!(
        fo(&order_now(&store, &o1.number).await, 1).status,
        ordo_domain::fulfillment::FulfillmentStatus::Shipped
    );

    // Packages given win over the packing.
    pack(&store, &fo2, pack_input(both())).await.unwrap();
    let given = vec![Package {
        number: 1,
        weight_g: 2000,
        length_mm: None,
        width_mm: None,
        height_mm: None,
    }];
    let shipped = ship(
        &store,
        NewShipment {
            packages: given.clone(),
            ..manual(&fo2, "MAN-1")
        },
    )
    .await
    .unwrap();
    assert_eq!(shipped.packages, given);

    // Unpacked work still ships as one parcel of the catalog weight.
    let shipped = ship(&store, own_fleet(&fo3)).await.unwrap();
    assert_eq!(shipped.packages.len(), 1);
    assert_eq!(shipped.packages[0].weight_g, 500);
    assert_eq!(shipped.packages[0].length_mm, None);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_services_and_box_types_round_trip() {
    let Some((store, _)) = store("pack_settings").await else {
        return;
    };
    // Carrier services: none until saved, then exactly what was saved, replaced whole.
    assert!(store.carrier_services().await.unwrap().is_empty());
    let service = |code: &str, level: &str, days: u32, price: i64| -> CarrierService {
        serde_json::from_value(json!({
            "carrier": "own_fleet", "code": code, "name": code, "level": level, "transit_days": days,
            "weekend_delivery": true, "max_weight_g": 30000,
            "max_dimensions": {"length_mm": 1200, "width_mm": 800, "height_mm": 800},
            "volumetric_divisor": 5000,
            "rates": [{"zone": "DE", "max_weight_g": 30000, "price_minor": price}],
            "cutoffs": [{"location": "WH1", "time": "16:30"}]
        }))
        .unwrap()
    };
    let services = vec![
        service("economy", "ground", 3, 400),
        service("express", "express", 1, 900),
    ];
    store
        .put_carrier_services(services.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(store.carrier_services().await.unwrap(), services);
    let fewer = vec![service("express", "express", 1, 950)];
    store
        .put_carrier_services(fewer.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(store.carrier_services().await.unwrap(), fewer);
    let changed = events_of(&store, "settings.changed").await;
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0].data["key"], "carrier_services");
    assert_eq!(changed[0].actor, "test");

    // Box types: the built-in set until one is saved, then the saved ones by code.
    assert_eq!(store.box_types().await.unwrap(), default_box_types());
    assert!(
        store
            .box_types()
            .await
            .unwrap()
            .iter()
            .any(|b| b.code == "COOL-M" && b.features == ["insulated"])
    );
    let mut tube: BoxType = serde_json::from_value(json!({
        "code": "TUBE", "inner": {"length_mm": 600, "width_mm": 80, "height_mm": 80},
        "outer": {"length_mm": 620, "width_mm": 90, "height_mm": 90},
        "max_weight_g": 2000, "tare_g": 150, "cost_minor": 80
    }))
    .unwrap();
    let mut flat = tube.clone();
    flat.code = "A-FLAT".into();
    flat.inner = ordo_domain::catalog::Dimensions {
        length_mm: 300,
        width_mm: 220,
        height_mm: 120,
    };
    flat.outer = None;
    flat.features = vec!["padded".into()];
    store.put_box_type(tube.clone(), &ctx()).await.unwrap();
    assert_eq!(store.box_types().await.unwrap(), vec![tube.clone()]);
    store.put_box_type(flat.clone(), &ctx()).await.unwrap();
    tube.cost_minor = 95;
    store.put_box_type(tube.clone(), &ctx()).await.unwrap();
    assert_eq!(store.box_types().await.unwrap(), vec![flat, tube]);
    let saved = events_of(&store, "box_type.saved").await;
    assert_eq!(saved.len(), 3);
    assert_eq!(saved[2].data["code"], "TUBE");

    // Packing then uses only the saved boxes.
    seed_packing(&store).await;
    let o = created(&store, order("bx-1", &[("HAZ-1", 1)])).await.value;
    let packing = pack(
        &store,
        &o.fulfillment_orders[0].id,
        pack_input(json!({"scans": [{"sku": "HAZ-1"}]})),
    )
    .await;
    match packing {
        Ok(p) => {
            let codes: Vec<&str> = p
                .plan
                .packages
                .iter()
                .map(|b| b.box_code.as_str())
                .collect();
            assert_eq!(codes, ["A-FLAT"], "the 10 cm cube fits only the flat box");
        }
        Err(e) => panic!("packing with saved boxes: {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Manifests and packing policies.

use ordo_warehouse::packing::PackingPolicies;

async fn manifest(store: &PgStore, location: &str, carrier: &str) -> Result<Manifest> {
    match store.close_manifest(location, carrier, &ctx()).await? {
        Outcome::Done(c) => {
            assert!(c.created);
            Ok(c.value)
        }
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn manifest_ids(store: &PgStore, location: Option<&str>, limit: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_manifests(
                location,
                &PageRequest {
                    limit: Some(limit),
                    cursor,
                },
            )
            .await
            .unwrap();
        out.extend(page.items.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_hands_over_the_labelled_shipments_of_one_carrier_and_location() {
    let Some((store, _)) = store("manifest").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 10), &ctx())
        .await
        .unwrap();
    store
        .write_stock(adjust("SKU-B", "WH2", 10), &ctx())
        .await
        .unwrap();
    let mut fos = Vec::new();
    let mut numbers = Vec::new();
    for (i, (sku, q)) in [
        ("SKU-A", 1),
        ("SKU-A", 1),
        ("SKU-A", 1),
        ("SKU-B", 1),
        ("SKU-A", 2),
        ("SKU-A", 1),
    ]
    .into_iter()
    .enumerate()
    {
        let o = created(&store, order(&format!("mf-{i}"), &[(sku, q)]))
            .await
            .value;
        fos.push(fo(&o, 1).id.clone());
        numbers.push(o.number.clone());
    }
    // Labelled own-fleet at WH1: the first and the last; the second is voided, the third
    // goes with another carrier, the fourth leaves WH2, the fifth is already on its way.
    let s1 = ship(&store, own_fleet(&fos[0])).await.unwrap();
    let s2 = ship(&store, own_fleet(&fos[1])).await.unwrap();
    let s3 = ship(&store, manual(&fos[2], "MAN-1")).await.unwrap();
    let s4 = ship(&store, own_fleet(&fos[3])).await.unwrap();
    assert_eq!(s4.location, "WH2");
    let s5 = ship(&store, own_fleet(&fos[4])).await.unwrap();
    let s6 = ship(&store, own_fleet(&fos[5])).await.unwrap();
    void(&store, &s2.id).await.unwrap();
    track(&store, &s5.id, ShipmentStatus::InTransit)
        .await
        .unwrap();
    let before = balance(&store, "SKU-A", "WH1").await;

    let m = manifest(&store, "WH1", "own_fleet").await.unwrap();
    assert_eq!(m.id, "MF-000001");
    assert_eq!(
        (m.location.as_str(), m.carrier.as_str()),
        ("WH1", "own_fleet")
    );
    assert_eq!(m.shipments, vec![s1.id.clone(), s6.id.clone()]);
    assert_eq!(m.packages, 2);
    let weight: i64 = [&s1, &s6]
        .iter()
        .flat_map(|s| s.packages.iter())
        .map(|p| p.weight_g)
        .sum();
    assert_eq!(m.weight_g, weight);
    // What the write answered is what a read returns.
    assert_eq!(store.get_manifest(&m.id).await.unwrap().as_ref(), Some(&m));
    assert!(store.get_manifest("MF-000099").await.unwrap().is_none());
    assert!(store.get_manifest("nonsense").await.unwrap().is_none());

    // Handed over: in transit, with a tracking event naming the manifest, and no more voids.
    for s in [&s1, &s6] {
        let now = store.get_shipment(&s.id).await.unwrap().unwrap();
        assert_eq!(now.status, ShipmentStatus::InTransit);
        assert_eq!(now.tracking.len(), 1);
        assert!(
            now.tracking[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("MF-000001")),
            "{:?}",
            now.tracking
        );
        let e = void(&store, &s.id).await.unwrap_err();
        assert!(is_conflict(&e), "{e:?}");
    }
    // Everything else stays as it was.
    let status = |id: String| {
        let store = &store;
        async move { store.get_shipment(&id).await.unwrap().unwrap() }
    };
    assert_eq!(status(s2.id.clone()).await.status, ShipmentStatus::Voided);
    assert_eq!(
        status(s3.id.clone()).await.status,
        ShipmentStatus::LabelCreated
    );
    assert_eq!(
        status(s4.id.clone()).await.status,
        ShipmentStatus::LabelCreated
    );
    let s5_now = status(s5.id.clone()).await;
    assert_eq!(s5_now.status, ShipmentStatus::InTransit);
    assert_eq!(s5_now.tracking.len(), 1);
    // No stock moved; the orders are still shipped.
    assert_eq!(balance(&store, "SKU-A", "WH1").await, before);
    for n in [&numbers[0], &numbers[5]] {
        assert_eq!(order_now(&store, n).await.status, OrderStatus::Shipped);
    }
    let tracking = events_of(&store, "shipment.tracking").await;
    let on_manifest: Vec<_> = tracking
        .iter()
        .filter(|e| {
            e.data["detail"]
                .as_str()
                .is_some_and(|d| d.contains("MF-000001"))
        })
        .collect();
    assert_eq!(on_manifest.len(), 2);
    assert_eq!(on_manifest[0].data["shipment"], s1.id.as_str());
    assert_eq!(on_manifest[0].data["status"], "in_transit");
    let o1 = order_now(&store, &numbers[0]).await;
    assert_eq!(on_manifest[0].order_id, Some(o1.id));

    // Nothing left to hand over, or an unknown location: refused, nothing written.
    let e = manifest(&store, "WH1", "own_fleet").await.unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "carrier");
    let e = manifest(&store, "NOPE", "own_fleet").await.unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "location");
    assert_eq!(manifest_ids(&store, None, 50).await, ["MF-000001"]);

    // A retried close is answered once.
    let first = store
        .close_manifest("WH1", "manual", &keyed("mf-manual"))
        .await
        .unwrap();
    let Outcome::Done(manual_manifest) = first else {
        panic!("first close replayed")
    };
    assert_eq!(manual_manifest.value.shipments, vec![s3.id.clone()]);
    match store
        .close_manifest("WH1", "manual", &keyed("mf-manual"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 201);
            let replayed: Manifest = serde_json::from_str(&body).unwrap();
            assert_eq!(replayed, manual_manifest.value);
        }
        Outcome::Done(_) => panic!("a retried close acted twice"),
    }
    let wh2 = manifest(&store, "WH2", "own_fleet").await.unwrap();
    assert_eq!(wh2.shipments, vec![s4.id.clone()]);

    // A shipment labelled later goes on the next manifest.
    let o = created(&store, order("mf-late", &[("SKU-A", 1)]))
        .await
        .value;
    let late = ship(&store, own_fleet(&fo(&o, 1).id)).await.unwrap();
    let next = manifest(&store, "WH1", "own_fleet").await.unwrap();
    assert_eq!(next.shipments, vec![late.id]);

    // Newest first, by location, page by page.
    let all = manifest_ids(&store, None, 50).await;
    assert_eq!(all, ["MF-000004", "MF-000003", "MF-000002", "MF-000001"]);
    assert_eq!(manifest_ids(&store, None, 1).await, all);
    assert_eq!(
        manifest_ids(&store, Some("WH1"), 2).await,
        ["MF-000004", "MF-000002", "MF-000001"]
    );
    assert_eq!(manifest_ids(&store, Some("WH2"), 50).await, ["MF-000003"]);
    assert!(manifest_ids(&store, Some("WH9"), 50).await.is_empty());
    let e = store
        .list_manifests(
            None,
            &PageRequest {
                limit: None,
                cursor: Some("garbage".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "cursor");
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_void_racing_a_manifest_either_wins_but_never_both() {
    let Some((store, url)) = store("manifest_race").await else {
        return;
    };
    // A second store on the same database stands for another process.
    let other = PgStore::connect(&url).await.expect("second process");
    seed(&store, &["SKU-A"]).await;
    store
        .write_stock(adjust("SKU-A", "WH1", 100), &ctx())
        .await
        .unwrap();
    let (mut voided, mut handed_over) = (0, 0);
    let cx = ctx();
    for round in 0..12 {
        let o = created(&store, order(&format!("race-{round}"), &[("SKU-A", 1)]))
            .await
            .value;
        let s = ship(&store, own_fleet(&fo(&o, 1).id)).await.unwrap();
        let (v, m) = tokio::join!(
            store.void_shipment(&s.id, &cx),
            other.close_manifest("WH1", "own_fleet", &cx),
        );
        let now = store.get_shipment(&s.id).await.unwrap().unwrap();
        match (v, m) {
            (Ok(_), Err(e)) => {
                assert_eq!(invalid_fields(e)[0].0, "carrier", "round {round}");
                assert_eq!(now.status, ShipmentStatus::Voided, "round {round}");
                voided += 1;
            }
            (Err(e), Ok(Outcome::Done(m))) => {
                assert!(is_conflict(&e), "round {round}: {e:?}");
                assert_eq!(m.value.shipments, vec![s.id.clone()], "round {round}");
                assert_eq!(now.status, ShipmentStatus::InTransit, "round {round}");
                handed_over += 1;
            }
            (v, m) => panic!("round {round}: exactly one must win: {v:?} / {m:?}"),
        }
        assert_clean(&store).await;
    }
    assert_eq!(voided + handed_over, 12);
    // Voided units are back on the shelf (and reserved again for their reopened fulfillment
    // orders); handed-over ones are gone.
    let b = balance(&store, "SKU-A", "WH1").await;
    assert_eq!((b.on_hand, b.allocated), (100 - handed_over, voided));

    // Two closes at once: one takes everything, the other finds nothing left.
    let mut labelled = Vec::new();
    for i in 0..3 {
        let o = created(&store, order(&format!("twice-{i}"), &[("SKU-A", 1)]))
            .await
            .value;
        labelled.push(ship(&store, own_fleet(&fo(&o, 1).id)).await.unwrap().id);
    }
    let (a, b) = tokio::join!(
        store.close_manifest("WH1", "own_fleet", &cx),
        other.close_manifest("WH1", "own_fleet", &cx),
    );
    let (won, lost) = match (a, b) {
        (Ok(Outcome::Done(m)), Err(e)) | (Err(e), Ok(Outcome::Done(m))) => (m.value, e),
        (a, b) => panic!("exactly one close must win: {a:?} / {b:?}"),
    };
    assert_eq!(won.shipments, labelled);
    assert_eq!(invalid_fields(lost)[0].0, "carrier");
    assert_clean(&store).await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_policies_fall_back_to_shop_wide_then_defaults() {
    let Some((store, _)) = store("policies").await else {
        return;
    };
    seed_packing(&store).await;
    let defaults = PackingPolicies::default();
    assert_eq!(store.packing_policies("WH1").await.unwrap(), defaults);
    assert_eq!(store.packing_policies("").await.unwrap(), defaults);

    // Shop-wide: every location without its own reads them.
    let mut shop = defaults.clone();
    shop.policies.retain(|p| p.class.as_str() != "hazmat");
    store
        .put_packing_policies(None, shop.clone(), &ctx())
        .await
        .unwrap();
    for l in ["WH1", "WH2", ""] {
        assert_eq!(store.packing_policies(l).await.unwrap(), shop, "{l}");
    }

    // WH1's own: only WH1 reads them; saving again replaces them.
    let mut own = defaults.clone();
    for p in &mut own.policies {
        if p.class.as_str() == "fragile" {
            p.markings = vec!["HANDLE WITH CARE".into()];
        }
    }
    store
        .put_packing_policies(Some("WH1"), shop.clone(), &ctx())
        .await
        .unwrap();
    store
        .put_packing_policies(Some("WH1"), own.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(store.packing_policies("WH1").await.unwrap(), own);
    assert_eq!(store.packing_policies("WH2").await.unwrap(), shop);
    let changed: Vec<String> = events_of(&store, "settings.changed")
        .await
        .iter()
        .map(|e| e.data["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "packing_policies",
            "packing_policies:WH1",
            "packing_policies:WH1"
        ]
    );

    // The pack station at WH1 follows WH1's policies.
    let o = created(&store, order("pol-1", &[("FRAG-1", 1)]))
        .await
        .value;
    let packing = pack(
        &store,
        &o.fulfillment_orders[0].id,
        pack_input(json!({"scans": [{"sku": "FRAG-1"}]})),
    )
    .await
    .unwrap();
    let markings = &packing.plan.packages[0].markings;
    assert!(
        markings.iter().any(|m| m == "HANDLE WITH CARE")
            && !markings.iter().any(|m| m == "FRAGILE"),
        "{markings:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Returns (RMA).

use ordo_domain::returns::{
    Condition, Grade, ReceivedLine, ReturnInput, ReturnLineInput, ReturnPolicy, ReturnStatus,
    ReturnStep,
};

fn return_input(order: &str, sku: &str, quantity: i64, reason: &str, method: &str) -> ReturnInput {
    ReturnInput {
        order: Some(order.into()),
        lines: vec![ReturnLineInput {
            sku: Some(sku.into()),
            line_no: None,
            quantity: Some(quantity),
            reason: Some(reason.into()),
        }],
        resolution: Some("refund".into()),
        method: Some(method.into()),
        notes: None,
        exchange_lines: Vec::new(),
    }
}

fn received(sku: &str, quantity: i64, condition: Condition) -> ReceivedLine {
    ReceivedLine {
        line_no: 1,
        sku: sku.into(),
        quantity,
        condition,
    }
}

async fn new_return(store: &PgStore, input: ReturnInput) -> Result<Rma> {
    match store.create_return(input, &ctx()).await? {
        Outcome::Done(c) => {
            assert!(c.created);
            Ok(c.value)
        }
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn step(store: &PgStore, id: &str, step: ReturnStep) -> Result<Rma> {
    match store.return_step(id, step, None, &ctx()).await? {
        Outcome::Done(r) => Ok(r),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn receive(
    store: &PgStore,
    id: &str,
    location: &str,
    lines: Vec<ReceivedLine>,
) -> Result<Rma> {
    match store.receive_return(id, location, lines, &ctx()).await? {
        Outcome::Done(r) => Ok(r),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

async fn grade(store: &PgStore, id: &str, sku: &str, quantity: i64, g: Grade) -> Result<Rma> {
    match store.grade_return(id, sku, quantity, g, &ctx()).await? {
        Outcome::Done(r) => Ok(r),
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    }
}

/// Captures an order for `lines`, ships every fulfillment order and has each delivered.
async fn delivered_order(store: &PgStore, external_id: &str, lines: &[(&str, i64)]) -> Order {
    let o = created(store, order(external_id, lines)).await.value;
    for f in &o.fulfillment_orders {
        let s = ship(store, own_fleet(&f.id)).await.unwrap();
        track(store, &s.id, ShipmentStatus::Delivered)
            .await
            .unwrap();
    }
    let o = order_now(store, &o.number).await;
    assert_eq!(o.status, OrderStatus::Delivered);
    o
}

async fn event_kinds(store: &PgStore, number: &str) -> Vec<String> {
    store
        .order_events(number)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_receive_by_condition_grade_and_refund() {
    let Some((store, _)) = store("returns").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    stock(&store, adjust("SKU-A", "WH1", 10)).await;
    assert_eq!(
        store.return_policy("web").await.unwrap(),
        ReturnPolicy::default()
    );
    let o = delivered_order(&store, "ret-1", &[("SKU-A", 4)]).await;
    let before = balance(&store, "SKU-A", "WH1").await;
    assert_eq!(
        (before.on_hand, before.allocated, before.available()),
        (6, 0, 6)
    );

    // Only shipped units, an existing order, a known reason.
    let e = new_return(
        &store,
        return_input(&o.number, "SKU-A", 5, "damaged", "drop_off"),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "lines[0].quantity");
    let e = new_return(
        &store,
        return_input("SO-999999", "SKU-A", 1, "damaged", "drop_off"),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "order");

    let r = new_return(
        &store,
        return_input(&o.number, "SKU-A", 3, "damaged", "drop_off"),
    )
    .await
    .unwrap();
    assert_eq!(r.id, "RMA-000001", "refusals take no number");
    assert_eq!(r.order, o.number);
    assert_eq!(r.status, ReturnStatus::Requested);
    assert_eq!(r.method.as_str(), "drop_off");
    // Three of four units at 10.00, no restocking fee for damaged goods.
    assert_eq!((r.refund.as_str(), r.currency.as_str()), ("30.00", "EUR"));
    assert_eq!(store.get_return(&r.id).await.unwrap().as_ref(), Some(&r));
    assert!(store.get_return("RMA-000099").await.unwrap().is_none());
    assert!(store.get_return("nonsense").await.unwrap().is_none());

    // Not approved yet: nothing can be received.
    let e = receive(
        &store,
        &r.id,
        "WH1",
        vec![received("SKU-A", 1, Condition::Resellable)],
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = step(&store, &r.id, ReturnStep::Close).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    let e = step(&store, "RMA-000042", ReturnStep::Approve)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Problem(Problem::NotFound(_))),
        "{e:?}"
    );
    // Approval with an idempotency key: a retry replays the answer.
    let approved = match store
        .return_step(&r.id, ReturnStep::Approve, None, &keyed("approve-1"))
        .await
        .unwrap()
    {
        Outcome::Done(r) => r,
        Outcome::Replayed { .. } => panic!("first approval replayed"),
    };
    assert_eq!(approved.status, ReturnStatus::Approved);
    match store
        .return_step(&r.id, ReturnStep::Approve, None, &keyed("approve-1"))
        .await
        .unwrap()
    {
        Outcome::Replayed { status, body } => {
            assert_eq!(status, 200);
            assert_eq!(serde_json::from_str::<Rma>(&body).unwrap(), approved);
        }
        Outcome::Done(_) => panic!("retry acted again"),
    }
    assert_eq!(
        step(&store, &r.id, ReturnStep::Ship).await.unwrap().status,
        ReturnStatus::InTransit
    );

    // More than authorised, or an unknown location: refused, nothing changed.
    let e = receive(
        &store,
        &r.id,
        "WH1",
        vec![
            received("SKU-A", 1, Condition::Resellable),
            received("SKU-A", 1, Condition::Defective),
            received("SKU-A", 2, Condition::Damaged),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "lines[2].quantity");
    let e = receive(
        &store,
        &r.id,
        "NOPE",
        vec![received("SKU-A", 1, Condition::Resellable)],
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "location");
    // Nothing changed but the parcel on its way back, counted as incoming since `ship`.
    let travelling = Balance {
        incoming: before.incoming + 3,
        ..before
    };
    assert_eq!(balance(&store, "SKU-A", "WH1").await, travelling);
    let unchanged = store.get_return(&r.id).await.unwrap().unwrap();
    assert_eq!(unchanged.status, ReturnStatus::InTransit);
    assert!(unchanged.received.is_empty());
    assert_clean(&store).await;

    // One resellable, one defective, one damaged unit.
    let got = receive(
        &store,
        &r.id,
        "WH1",
        vec![
            received("SKU-A", 1, Condition::Resellable),
            received("SKU-A", 1, Condition::Defective),
            received("SKU-A", 1, Condition::Damaged),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got.status, ReturnStatus::Inspected);
    assert_eq!(got.receiving_location.as_deref(), Some("WH1"));
    assert_eq!(got.received.len(), 3);
    assert_eq!(got.refund, "30.00");
    let after = balance(&store, "SKU-A", "WH1").await;
    assert_eq!(after.on_hand, before.on_hand + 3);
    assert_eq!(after.quality_control, before.quality_control + 1);
    assert_eq!(after.damaged, before.damaged + 1);
    assert_eq!(after.allocated, before.allocated);
    assert_eq!(after.available(), before.available() + 1);
    let moved = movements(&store, "SKU-A", "WH1", 5).await;
    assert_eq!(moved.len(), 5);
    for m in &moved {
        assert_eq!(m.reason, "return_restock");
        assert_eq!(m.reference.as_deref(), Some("return:RMA-000001"));
        assert_eq!(m.delta, 1);
    }
    let mut states: Vec<_> = moved.iter().map(|m| m.state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(
        states,
        [
            "damaged",
            "on_hand",
            "on_hand",
            "on_hand",
            "quality_control"
        ]
    );
    let events = store.order_events(&o.number).await.unwrap().unwrap();
    let due = events
        .iter()
        .find(|e| e.kind == "return.refund_due")
        .expect("refund due");
    assert_eq!(due.data["amount"], "30.00");
    assert_eq!(due.data["return"], "RMA-000001");
    // Received once is received.
    let e = receive(
        &store,
        &r.id,
        "WH1",
        vec![received("SKU-A", 1, Condition::Resellable)],
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_clean(&store).await;

    // Grading what waits in quality control: never more than is there.
    let e = grade(&store, &r.id, "SKU-A", 2, Grade::Restock)
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "quantity");
    let graded = grade(&store, &r.id, "SKU-A", 1, Grade::Restock)
        .await
        .unwrap();
    assert_eq!(graded.graded.len(), 1);
    let regraded = balance(&store, "SKU-A", "WH1").await;
    assert_eq!(regraded.quality_control, 0);
    assert_eq!(regraded.on_hand, after.on_hand);
    assert_eq!(regraded.available(), after.available() + 1);
    let m = &movements(&store, "SKU-A", "WH1", 1).await[0];
    assert_eq!(
        (m.state.as_str(), m.delta, m.reason.as_str()),
        ("quality_control", -1, "return_restock")
    );
    assert_eq!(m.reference.as_deref(), Some("return:RMA-000001"));
    let e = grade(&store, &r.id, "SKU-A", 1, Grade::WriteOff)
        .await
        .unwrap_err();
    let fields = invalid_fields(e);
    assert_eq!(fields[0].0, "quantity");
    assert!(fields[0].1.starts_with("0 unit(s)"), "{fields:?}");
    assert_eq!(balance(&store, "SKU-A", "WH1").await, regraded);
    assert_eq!(
        step(&store, &r.id, ReturnStep::Close).await.unwrap().status,
        ReturnStatus::Closed
    );

    // The last unit: a change of mind keeps a 10% restocking fee.
    let last = new_return(
        &store,
        return_input(&o.number, "SKU-A", 1, "no_longer_needed", "pickup"),
    )
    .await
    .unwrap();
    assert_eq!(
        (last.id.as_str(), last.refund.as_str()),
        ("RMA-000002", "9.00")
    );
    let e = new_return(
        &store,
        return_input(&o.number, "SKU-A", 1, "damaged", "drop_off"),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "lines[0].quantity");
    // A rejection says why, and frees the units for another return.
    let e = step(&store, &last.id, ReturnStep::Reject)
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "reason");
    let rejected = match store
        .return_step(&last.id, ReturnStep::Reject, Some("worn".into()), &ctx())
        .await
        .unwrap()
    {
        Outcome::Done(r) => r,
        Outcome::Replayed { .. } => panic!("unexpected replay"),
    };
    assert_eq!(rejected.status, ReturnStatus::Rejected);
    assert_eq!(
        (rejected.rejection.as_deref(), rejected.refund.as_str()),
        (Some("worn"), "0.00")
    );

    // Lists, newest first, filtered by order and status.
    let all = store
        .list_returns(&ReturnFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = all.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["RMA-000002", "RMA-000001"]);
    let page = store
        .list_returns(
            &ReturnFilter::default(),
            &PageRequest {
                limit: Some(1),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].id, "RMA-000002");
    let next = store
        .list_returns(
            &ReturnFilter::default(),
            &PageRequest {
                limit: Some(1),
                cursor: page.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(next.items[0].id, "RMA-000001");
    let closed = store
        .list_returns(
            &ReturnFilter {
                order: Some(o.number.clone()),
                status: Some(ReturnStatus::Closed),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(closed.items.len(), 1);
    let other = store
        .list_returns(
            &ReturnFilter {
                order: Some("SO-424242".into()),
                status: None,
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(other.items.is_empty());

    let kinds = event_kinds(&store, &o.number).await;
    for kind in [
        "return.requested",
        "return.approved",
        "return.in_transit",
        "return.received",
        "return.refund_due",
        "return.graded",
        "return.closed",
        "return.rejected",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_units_serve_waiting_orders_and_policies_apply() {
    let Some((store, _)) = store("returns_policy").await else {
        return;
    };
    seed(&store, &["SKU-B"]).await;
    let fish = serde_json::from_value::<ordo_domain::catalog::ProductInput>(json!({
        "sku": "FISH", "name": "Smoked fish", "price": "10.00", "unit_cost": "4.00",
        "handling_classes": ["perishable"],
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_product(fish, &ctx()).await.unwrap();
    stock(&store, adjust("SKU-B", "WH1", 1)).await;
    stock(&store, adjust("FISH", "WH1", 3)).await;

    // Nothing shipped yet: nothing to return.
    let waiting = created(&store, order("wait-0", &[("FISH", 1)])).await.value;
    let e = new_return(
        &store,
        return_input(&waiting.number, "FISH", 1, "damaged", "keep_item"),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(e)[0].0, "order");

    // A returned resellable unit goes to the order waiting for it.
    let first = delivered_order(&store, "ret-b1", &[("SKU-B", 1)]).await;
    let second = created(&store, order("ret-b2", &[("SKU-B", 1)]))
        .await
        .value;
    assert_eq!(second.lines[0].backordered, 1);
    let r = new_return(
        &store,
        return_input(&first.number, "SKU-B", 1, "wrong_item", "drop_off"),
    )
    .await
    .unwrap();
    step(&store, &r.id, ReturnStep::Approve).await.unwrap();
    receive(
        &store,
        &r.id,
        "WH1",
        vec![received("SKU-B", 1, Condition::Resellable)],
    )
    .await
    .unwrap();
    let served = order_now(&store, &second.number).await;
    assert_eq!(
        (served.lines[0].allocated, served.lines[0].backordered),
        (1, 0)
    );
    let b = balance(&store, "SKU-B", "WH1").await;
    assert_eq!((b.on_hand, b.allocated, b.available()), (1, 1, 0));
    assert_clean(&store).await;

    // Perishables come back only as keep_item, under the default policy.
    let f = delivered_order(&store, "ret-f1", &[("FISH", 1)]).await;
    let e = new_return(
        &store,
        return_input(&f.number, "FISH", 1, "damaged", "drop_off"),
    )
    .await
    .unwrap_err();
    let fields = invalid_fields(e);
    assert_eq!(fields[0].0, "lines[0].sku");
    assert!(
        fields[0].1.contains("perishable") && fields[0].1.contains("keep_item"),
        "{fields:?}"
    );
    let kept = new_return(
        &store,
        return_input(&f.number, "FISH", 1, "damaged", "keep_item"),
    )
    .await
    .unwrap();
    assert_eq!(kept.id, "RMA-000002");
    let e = receive(
        &store,
        &kept.id,
        "WH1",
        vec![received("FISH", 1, Condition::Resellable)],
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    step(&store, &kept.id, ReturnStep::Approve).await.unwrap();
    assert!(
        event_kinds(&store, &f.number)
            .await
            .iter()
            .any(|k| k == "return.refund_due")
    );
    assert_eq!(
        step(&store, &kept.id, ReturnStep::Close)
            .await
            .unwrap()
            .status,
        ReturnStatus::Closed
    );

    // A channel's own policy: perishables allowed back, auto-approval by amount.
    let policy = ReturnPolicy {
        window_days: 14,
        non_returnable: Vec::new(),
        auto_approve_up_to_minor: Some(5000),
        auto_approve_reasons: Vec::new(),
        ..ReturnPolicy::default()
    };
    store
        .put_return_policy("web", policy.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(store.return_policy("web").await.unwrap(), policy);
    assert_eq!(
        store.return_policy("other").await.unwrap(),
        ReturnPolicy::default()
    );
    let f2 = delivered_order(&store, "ret-f2", &[("FISH", 1)]).await;
    let auto = new_return(
        &store,
        return_input(&f2.number, "FISH", 1, "damaged", "drop_off"),
    )
    .await
    .unwrap();
    assert_eq!(auto.status, ReturnStatus::Approved);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_returns_never_exceed_what_shipped() {
    let Some((store, _)) = store("returns_race").await else {
        return;
    };
    seed(&store, &["SKU-A"]).await;
    stock(&store, adjust("SKU-A", "WH1", 20)).await;
    for round in 0..5 {
        let o = delivered_order(&store, &format!("race-{round}"), &[("SKU-A", 2)]).await;
        let (ca, cb) = (ctx(), ctx());
        let (a, b) = tokio::join!(
            store.create_return(
                return_input(&o.number, "SKU-A", 2, "damaged", "drop_off"),
                &ca
            ),
            store.create_return(
                return_input(&o.number, "SKU-A", 2, "defective", "pickup"),
                &cb
            ),
        );
        let (ok, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|r| r.is_ok());
        assert_eq!((ok.len(), refused.len()), (1, 1), "round {round}");
        for e in refused {
            assert_eq!(invalid_fields(e.unwrap_err())[0].0, "lines[0].quantity");
        }
        let listed = store
            .list_returns(
                &ReturnFilter {
                    order: Some(o.number.clone()),
                    status: None,
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].lines[0].quantity, 2);
    }
    assert_clean(&store).await;
}

// Connector state (`channel_sync`) and the ledger's change feed for stock pushes.

async fn sync_keys(store: &PgStore, prefix: &str, after: Option<&str>, limit: i64) -> Vec<String> {
    store
        .sync_list("shop", prefix, after, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_values_are_set_read_and_deleted() {
    let Some((store, _)) = store("sync_put").await else {
        return;
    };
    assert_eq!(store.sync_get("shop", "cursor").await.unwrap(), None);

    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store.sync_put("shop", "cursor", Some("1")).await.unwrap();
    let first = store.sync_get("shop", "cursor").await.unwrap().unwrap();
    assert_eq!((first.key.as_str(), first.value.as_str()), ("cursor", "1"));
    assert!(first.updated_at >= before, "{first:?}");
    assert_eq!(store.sync_get("other", "cursor").await.unwrap(), None);

    store.sync_put("shop", "cursor", Some("2")).await.unwrap();
    let second = store.sync_get("shop", "cursor").await.unwrap().unwrap();
    assert_eq!(second.value, "2");
    assert!(second.updated_at >= first.updated_at);

    store.sync_put("shop", "cursor", None).await.unwrap();
    assert_eq!(store.sync_get("shop", "cursor").await.unwrap(), None);
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

    // One transaction: a value PostgreSQL refuses (NUL) undoes the entries before it.
    store.sync_put("shop", "kept", Some("old")).await.unwrap();
    let entries = [
        ("a".to_string(), Some("1".to_string())),
        ("kept".to_string(), None),
        ("boom".to_string(), Some("x\0y".to_string())),
        ("z".to_string(), Some("26".to_string())),
    ];
    assert!(store.sync_put_many("shop", &entries).await.is_err());
    assert_eq!(store.sync_get("shop", "a").await.unwrap(), None);
    assert_eq!(
        store.sync_get("shop", "kept").await.unwrap().unwrap().value,
        "old"
    );
    assert_eq!(sync_keys(&store, "", None, 100).await, ["b", "c", "kept"]);
    store
        .sync_put_many(
            "shop",
            &[entries[0].clone(), entries[1].clone(), entries[3].clone()],
        )
        .await
        .unwrap();
    assert_eq!(sync_keys(&store, "", None, 100).await, ["a", "b", "c", "z"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_insert_if_absent_stores_once() {
    let Some((store, _)) = store("sync_absent").await else {
        return;
    };
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
    assert!(
        store
            .sync_insert_if_absent("other", "delivery:1", "x")
            .await
            .unwrap()
    );

    let store = std::sync::Arc::new(store);
    for round in 0..5 {
        let key = format!("lease:{round}");
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let (store, key) = (store.clone(), key.clone());
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_by_prefix_in_key_order_with_pages() {
    let Some((store, _)) = store("sync_list").await else {
        return;
    };
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
        "E:1",
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

    assert_eq!(sync_keys(&store, "map:", None, 2).await, ["map:a", "map:b"]);
    assert_eq!(
        sync_keys(&store, "map:", Some("map:b"), 2).await,
        ["map:c", "map:d"]
    );
    assert_eq!(sync_keys(&store, "map:", Some("map:d"), 2).await, ["map:e"]);
    assert!(sync_keys(&store, "map:", Some("map:e"), 2).await.is_empty());
    assert_eq!(sync_keys(&store, "map:", Some("a"), 1).await, ["map:a"]);
    assert!(sync_keys(&store, "map:", Some("n"), 10).await.is_empty());

    // LIKE wildcards in a prefix are plain characters.
    assert_eq!(sync_keys(&store, "50%", None, 10).await, ["50%:a", "50%:b"]);
    assert_eq!(sync_keys(&store, "50_", None, 10).await, ["50_:a"]);
    assert_eq!(sync_keys(&store, "a_", None, 10).await, ["a_b", "a_c"]);
    // Bytewise: case and accents matter, and the highest code point sorts last.
    assert_eq!(sync_keys(&store, "e", None, 10).await, ["e:1"]);
    assert_eq!(sync_keys(&store, "E", None, 10).await, ["E:1"]);
    assert_eq!(sync_keys(&store, "é", None, 10).await, ["é:1"]);
    assert_eq!(
        sync_keys(&store, "z\u{10FFFF}", None, 10).await,
        ["z\u{10FFFF}", "z\u{10FFFF}y", "z\u{10FFFF}\u{10FFFF}x"]
    );
    assert_eq!(
        sync_keys(&store, "\u{10FFFF}", None, 10).await,
        ["\u{10FFFF}"]
    );

    let mut sorted: Vec<String> = all.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(sync_keys(&store, "", None, 100).await, sorted);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = sync_keys(&store, "", after.as_deref(), 4).await;
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, sorted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_changes_follow_the_ledger() {
    let Some((store, _)) = store("stock_changes").await else {
        return;
    };
    seed(&store, &["SKU-A", "SKU-B", "SKU-C"]).await;
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let changes = |after: i64, since: time::OffsetDateTime| {
        let store = &store;
        async move { store.stock_changes(after, since, 50_000).await.unwrap() }
    };

    assert_eq!(changes(0, future).await, StockChanges::default());

    stock(&store, adjust("SKU-B", "WH1", 5)).await;
    stock(&store, adjust("SKU-A", "WH1", 7)).await;
    let first = changes(0, future).await;
    assert_eq!(first.skus, ["SKU-A", "SKU-B"]);
    assert!(first.last_movement >= 2, "{first:?}");
    assert_eq!(
        changes(first.last_movement, future).await,
        StockChanges {
            skus: vec![],
            last_movement: first.last_movement
        }
    );

    // An order capture reserves stock: a ledger change of its SKU.
    assert!(
        created(&store, order("sync-1", &[("SKU-A", 2)]))
            .await
            .created
    );
    let second = changes(first.last_movement, future).await;
    assert_eq!(second.skus, ["SKU-A"]);
    assert!(second.last_movement > first.last_movement, "{second:?}");
    assert_eq!(
        changes(second.last_movement, future).await,
        StockChanges {
            skus: vec![],
            last_movement: second.last_movement
        }
    );

    // Recent movements behind the cursor are read again (late commits), without moving it...
    let again = changes(second.last_movement, past).await;
    assert_eq!(again.skus, ["SKU-A", "SKU-B"]);
    assert_eq!(again.last_movement, second.last_movement);
    // ... but only within the last 10,000 movements.
    let far = second.last_movement + 10_000;
    assert_eq!(
        changes(far, past).await,
        StockChanges {
            skus: vec![],
            last_movement: far
        }
    );
    assert_eq!(changes(far - 1, past).await.skus, ["SKU-A"]);

    // At most `limit` movements are read; the cursor advances to the last one read.
    stock(&store, adjust("SKU-C", "WH1", 1)).await;
    stock(&store, adjust("SKU-B", "WH1", 1)).await;
    let one = store
        .stock_changes(second.last_movement, future, 1)
        .await
        .unwrap();
    assert_eq!(one.skus, ["SKU-C"]);
    assert!(one.last_movement > second.last_movement);
    let rest = changes(one.last_movement, future).await;
    assert_eq!(rest.skus, ["SKU-B"]);
    assert!(rest.last_movement > one.last_movement);
    assert_eq!(
        changes(rest.last_movement, future).await.skus,
        Vec::<String>::new()
    );
}
