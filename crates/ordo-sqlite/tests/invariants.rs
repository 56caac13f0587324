//! Random sequences of every stock and order command against a real SQLite file keep the
//! ledger, the balances and the reservations consistent, and never oversell.

use std::sync::atomic::{AtomicU32, Ordering};

use ordo_domain::catalog::{Address, ChannelInput, LocationInput, ProductInput};
use ordo_domain::fulfillment::{LineQuantityInput, RequestAction};
use ordo_domain::inventory::{AdjustmentInput, CountInput, MoveInput};
use ordo_domain::order::{CustomerInput, LineInput, OrderInput, Transition};
use ordo_domain::shipment::ShipmentInput;
use ordo_sqlite::SqliteStore;
use ordo_store::{
    BalanceFilter, FulfillmentChange, OrderChange, Outcome, PageRequest, Store, WriteContext,
};
use proptest::prelude::*;

const SKUS: [&str; 3] = ["A", "B", "C"];
const LOCATIONS: [&str; 2] = ["L1", "L2"];

#[derive(Debug, Clone)]
enum Op {
    Adjust {
        sku: usize,
        loc: usize,
        delta: i64,
    },
    Move {
        sku: usize,
        loc: usize,
        to_damaged: bool,
        quantity: i64,
    },
    Count {
        sku: usize,
        loc: usize,
        on_hand: i64,
    },
    Capture {
        lines: Vec<(usize, i64)>,
        pending: bool,
    },
    Cancel(usize),
    Hold(usize),
    Release(usize),
    /// Void the n-th shipment (refused once it is handed over or already void).
    Void(i64),
    /// Ask to return `quantity` of the k-th order's line, approve it, receive it in
    /// `condition`, and grade what went to quality control.
    Return {
        k: usize,
        quantity: i64,
        condition: usize,
        grade: bool,
    },
    /// Fulfillment-order commands on the k-th order's j-th fulfillment order.
    Fulfil {
        k: usize,
        j: usize,
        what: FoOp,
    },
}

#[derive(Debug, Clone)]
enum FoOp {
    Move { loc: usize, partial: bool },
    Split,
    Merge,
    Submit,
    Accept,
    Reject,
    Ship,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..2usize, -5i64..15).prop_map(|(sku, loc, delta)| Op::Adjust { sku, loc, delta }),
        1 => (0..3usize, 0..2usize, any::<bool>(), 1i64..5).prop_map(|(sku, loc, to_damaged, quantity)| Op::Move { sku, loc, to_damaged, quantity }),
        1 => (0..3usize, 0..2usize, 0i64..12).prop_map(|(sku, loc, on_hand)| Op::Count { sku, loc, on_hand }),
        4 => (prop::collection::vec((0..3usize, 1i64..6), 1..4), prop::bool::weighted(0.2)).prop_map(|(lines, pending)| Op::Capture { lines, pending }),
        1 => (0..40usize).prop_map(Op::Cancel),
        1 => (0..40usize).prop_map(Op::Hold),
        1 => (0..40usize).prop_map(Op::Release),
        1 => (1..20i64).prop_map(Op::Void),
        2 => (0..40usize, 1i64..4, 0..4usize, any::<bool>()).prop_map(|(k, quantity, condition, grade)| Op::Return { k, quantity, condition, grade }),
        3 => (0..40usize, 0..4usize, prop_oneof![
            (0..2usize, any::<bool>()).prop_map(|(loc, partial)| FoOp::Move { loc, partial }),
            Just(FoOp::Split),
            Just(FoOp::Merge),
            Just(FoOp::Submit),
            Just(FoOp::Accept),
            Just(FoOp::Reject),
            Just(FoOp::Ship),
        ]).prop_map(|(k, j, what)| Op::Fulfil { k, j, what }),
    ]
}

static N: AtomicU32 = AtomicU32::new(0);

fn ctx() -> WriteContext {
    WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    }
}

/// A store on a fresh database file, and the directory to remove once the case passed.
async fn setup() -> (SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ordo-prop-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(dir.join("t.db")).unwrap();
    for (i, code) in LOCATIONS.iter().enumerate() {
        let l = LocationInput {
            code: Some((*code).into()),
            name: Some((*code).into()),
            // L2 is run by a 3PL, so its work can be submitted and rejected.
            kind: Some(if i == 0 { "warehouse" } else { "3pl" }.into()),
            priority: Some(i as i32),
            ..Default::default()
        };
        store
            .put_location(l.validate().unwrap(), &ctx())
            .await
            .unwrap();
    }
    let ch = ChannelInput {
        code: Some("web".into()),
        name: Some("Web".into()),
        kind: Some("web".into()),
        currency: Some("EUR".into()),
        ..Default::default()
    };
    store
        .put_channel(ch.validate().unwrap(), &ctx())
        .await
        .unwrap();
    for sku in SKUS {
        let p = ProductInput {
            sku: Some(sku.into()),
            name: Some(sku.into()),
            ..Default::default()
        };
        store
            .put_product(p.validate().unwrap(), &ctx())
            .await
            .unwrap();
    }
    (store, dir)
}

async fn apply(store: &SqliteStore, op: &Op, orders: &mut Vec<String>, n: usize) {
    let sku = |i: usize| Some(SKUS[i].to_string());
    let loc = |i: usize| Some(LOCATIONS[i].to_string());
    let pick = |orders: &Vec<String>, k: usize| orders.get(k % orders.len().max(1)).cloned();
    match op {
        Op::Adjust {
            sku: s,
            loc: l,
            delta,
        } => {
            let w = AdjustmentInput {
                sku: sku(*s),
                location: loc(*l),
                delta: Some(*delta),
                reason: Some("correction".into()),
                ..Default::default()
            };
            if let Ok(w) = w.validate() {
                let _ = store.write_stock(w, &ctx()).await;
            }
        }
        Op::Move {
            sku: s,
            loc: l,
            to_damaged,
            quantity,
        } => {
            let (from, to) = if *to_damaged {
                ("available", "damaged")
            } else {
                ("damaged", "available")
            };
            let w = MoveInput {
                sku: sku(*s),
                location: loc(*l),
                from: Some(from.into()),
                to: Some(to.into()),
                quantity: Some(*quantity),
                reason: Some("damage".into()),
                ..Default::default()
            };
            let _ = store.write_stock(w.validate().unwrap(), &ctx()).await;
        }
        Op::Count {
            sku: s,
            loc: l,
            on_hand,
        } => {
            let w = CountInput {
                sku: sku(*s),
                location: loc(*l),
                on_hand: Some(*on_hand),
                ..Default::default()
            };
            store
                .write_stock(w.validate().unwrap(), &ctx())
                .await
                .unwrap();
        }
        Op::Capture { lines, pending } => {
            let input = OrderInput {
                channel: Some("web".into()),
                external_id: Some(format!("o-{n}")),
                currency: Some("EUR".into()),
                customer: Some(CustomerInput {
                    email: Some("a@example.com".into()),
                    ..Default::default()
                }),
                shipping_address: Some(Address {
                    name: Some("A".into()),
                    line1: Some("x".into()),
                    city: Some("B".into()),
                    country: Some("DE".into()),
                    ..Default::default()
                }),
                lines: lines
                    .iter()
                    .map(|(s, q)| LineInput {
                        sku: sku(*s),
                        quantity: Some(*q),
                        unit_price: Some("1.00".into()),
                        ..Default::default()
                    })
                    .collect(),
                payment: pending.then(|| ordo_domain::order::PaymentInput {
                    status: Some("pending".into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let order = input.validate(time::OffsetDateTime::now_utc()).unwrap();
            if let Outcome::Done(c) = store.capture_order(order, &ctx()).await.unwrap() {
                orders.push(c.value.number);
            }
        }
        Op::Cancel(k) | Op::Hold(k) | Op::Release(k) => {
            let Some(number) = pick(orders, *k) else {
                return;
            };
            let transition = match op {
                Op::Cancel(_) => Transition::Cancel,
                Op::Hold(_) => Transition::Hold,
                _ => Transition::Release,
            };
            // Illegal transitions are refused; that is part of what is exercised.
            let _ = store
                .transition_order(
                    &number,
                    OrderChange {
                        transition,
                        hold_reason: None,
                        note: None,
                    },
                    &ctx(),
                )
                .await;
        }
        Op::Return {
            k,
            quantity,
            condition,
            grade,
        } => {
            let Some(number) = pick(orders, *k) else {
                return;
            };
            let order = store.get_order(&number).await.unwrap().unwrap();
            let Some(line) = order.lines.iter().find(|l| l.shipped > 0) else {
                return;
            };
            let input = ordo_domain::returns::ReturnInput {
                order: Some(number.clone()),
                lines: vec![ordo_domain::returns::ReturnLineInput {
                    sku: Some(line.sku.clone()),
                    line_no: Some(line.line_no),
                    quantity: Some(*quantity),
                    reason: Some("damaged".into()),
                }],
                resolution: Some("refund".into()),
                method: Some("drop_off".into()),
                notes: None,
                exchange_lines: Vec::new(),
            };
            // Asking for more than shipped is refused; that is exercised too.
            let Ok(Outcome::Done(created)) = store.create_return(input, &ctx()).await else {
                return;
            };
            let id = created.value.id;
            store
                .return_step(&id, ordo_domain::returns::ReturnStep::Approve, None, &ctx())
                .await
                .unwrap();
            let condition = ordo_domain::returns::Condition::ALL[*condition];
            let received = store
                .receive_return(
                    &id,
                    LOCATIONS[0],
                    vec![ordo_domain::returns::ReceivedLine {
                        line_no: line.line_no,
                        sku: line.sku.clone(),
                        quantity: *quantity,
                        condition,
                    }],
                    &ctx(),
                )
                .await;
            assert!(received.is_ok(), "{received:?}");
            if *grade && condition == ordo_domain::returns::Condition::Defective {
                store
                    .grade_return(
                        &id,
                        &line.sku,
                        *quantity,
                        ordo_domain::returns::Grade::Restock,
                        &ctx(),
                    )
                    .await
                    .unwrap();
            }
        }
        Op::Void(n) => {
            let _ = store.void_shipment(&format!("SH-{n:06}"), &ctx()).await;
        }
        Op::Fulfil { k, j, what } => {
            let Some(number) = pick(orders, *k) else {
                return;
            };
            let order = store.get_order(&number).await.unwrap().unwrap();
            let fos = &order.fulfillment_orders;
            if fos.is_empty() {
                return;
            }
            let fo = &fos[j % fos.len()];
            let first_line = fo.lines.first().map(|l| LineQuantityInput {
                line_no: Some(l.line_no),
                quantity: Some(1),
                ..Default::default()
            });
            let change = match what {
                FoOp::Move { loc: l, partial } => FulfillmentChange::Move {
                    id: fo.id.clone(),
                    location: LOCATIONS[*l].into(),
                    lines: partial.then(|| first_line.into_iter().collect()),
                },
                FoOp::Split => FulfillmentChange::Split {
                    id: fo.id.clone(),
                    lines: first_line.into_iter().collect(),
                },
                FoOp::Merge => FulfillmentChange::Merge {
                    ids: fos
                        .iter()
                        .filter(|f| f.location == fo.location)
                        .map(|f| f.id.clone())
                        .collect(),
                },
                FoOp::Submit => FulfillmentChange::Request {
                    id: fo.id.clone(),
                    action: RequestAction::Submit,
                    reason: None,
                },
                FoOp::Reject => FulfillmentChange::Request {
                    id: fo.id.clone(),
                    action: RequestAction::Reject,
                    reason: Some("no capacity".into()),
                },
                FoOp::Accept => FulfillmentChange::Request {
                    id: fo.id.clone(),
                    action: RequestAction::Accept,
                    reason: None,
                },
                FoOp::Ship => {
                    let shipment = ShipmentInput {
                        fulfillment_order: Some(fo.id.clone()),
                        ..Default::default()
                    };
                    let _ = store
                        .create_shipment(shipment.validate().unwrap(), &ctx())
                        .await;
                    return;
                }
            };
            // Refusals (closed, not enough stock, nothing to split) are part of what is exercised.
            let _ = store.change_fulfillment(change, &ctx()).await;
        }
    }
}

/// Each order's active fulfillment orders hold exactly what its lines have allocated.
async fn fulfillment_matches_lines(store: &SqliteStore, orders: &[String]) -> Result<(), String> {
    for number in orders {
        let order = store.get_order(number).await.unwrap().unwrap();
        for line in &order.lines {
            let held: i64 = order
                .fulfillment_orders
                .iter()
                .filter(|f| f.status.is_active())
                .flat_map(|f| f.lines.iter())
                .filter(|l| l.line_no == line.line_no)
                .map(|l| l.quantity)
                .sum();
            let shipped: i64 = order
                .fulfillment_orders
                .iter()
                .filter(|f| f.status == ordo_domain::fulfillment::FulfillmentStatus::Shipped)
                .flat_map(|f| f.lines.iter())
                .filter(|l| l.line_no == line.line_no)
                .map(|l| l.quantity)
                .sum();
            if shipped != line.shipped {
                return Err(format!(
                    "{number} line {}: shipped fulfillment orders hold {shipped}, line shipped {}",
                    line.line_no, line.shipped
                ));
            }
            let returns = store
                .list_returns(
                    &ordo_store::ReturnFilter {
                        order: Some(number.clone()),
                        status: None,
                    },
                    &PageRequest {
                        limit: Some(500),
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            let returned: i64 = returns
                .items
                .iter()
                .flat_map(|r| r.lines.iter())
                .filter(|r| r.line_no == line.line_no)
                .map(|r| r.quantity)
                .sum();
            if returned > line.shipped {
                return Err(format!(
                    "{number} line {}: {returned} returned, {} shipped",
                    line.line_no, line.shipped
                ));
            }
            // Amounts in cents: EUR strings carry two decimals.
            let cents = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
            let refunded: i64 = returns.items.iter().map(|r| cents(&r.refund)).sum();
            let paid = cents(&order.totals.total);
            if refunded > paid {
                return Err(format!(
                    "{number}: refunds {refunded} exceed the total {paid}"
                ));
            }
            if held != line.allocated {
                return Err(format!(
                    "{number} line {}: fulfillment orders hold {held}, line allocated {}",
                    line.line_no, line.allocated
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_command_sequence_keeps_stock_consistent(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let (store, dir) = setup().await;
            let mut orders = Vec::new();
            for (n, op) in ops.iter().enumerate() {
                apply(&store, op, &mut orders, n).await;
                let report = store.verify().await.unwrap();
                prop_assert!(report.is_clean(), "after {:?}: {:?}", op, report.discrepancies);
                if let Err(e) = fulfillment_matches_lines(&store, &orders).await {
                    prop_assert!(false, "after {:?}: {}", op, e);
                }
                let balances = store.list_balances(&BalanceFilter::default(), &PageRequest { limit: Some(500), cursor: None }).await.unwrap();
                for b in balances.items {
                    // Only a count may leave available negative, and then nothing stays promised.
                    prop_assert!(b.available >= 0 || b.balance.allocated == 0, "after {:?}: {:?}", op, b);
                    prop_assert!(b.balance.allocated <= b.balance.on_hand, "oversold after {:?}: {:?}", op, b);
                }
            }
            store.close().await;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        })?;
    }
}
