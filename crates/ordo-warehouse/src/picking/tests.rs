use super::*;
use crate::bins::{BinFormat, BinRecord, LayoutConfig, Point};
use proptest::prelude::*;
use time::Duration;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn line(sku: &str, quantity: i64, bin: Option<&str>) -> CandidateLine {
    CandidateLine {
        sku: sku.into(),
        quantity,
        unit_weight_g: 100,
        bin: bin.map(Into::into),
    }
}

fn order(id: &str, priority: i32, minutes: i64, lines: Vec<CandidateLine>) -> CandidateOrder {
    CandidateOrder {
        id: id.into(),
        order_number: format!("SO-{id}"),
        priority,
        placed_at: t0() + Duration::minutes(minutes),
        channel: "web".into(),
        service_level: Some("standard".into()),
        tags: vec![],
        cutoff_at: None,
        lines,
    }
}

fn layout() -> Layout {
    let mut bins = Vec::new();
    for zone in ["A", "B"] {
        for aisle in 1..=3 {
            for bay in 1..=4 {
                let zx = if zone == "A" { 0.0 } else { 20.0 };
                bins.push(BinRecord {
                    code: format!("{zone}-{aisle:02}-{bay:02}-A"),
                    sequence: None,
                    position: Some(Point {
                        x_m: zx + aisle as f64 * 3.0,
                        y_m: bay as f64,
                    }),
                });
            }
        }
    }
    Layout::new(LayoutConfig {
        format: BinFormat::default(),
        bins,
        start: None,
    })
    .unwrap()
}

fn request(orders: Vec<CandidateOrder>, strategy: PickStrategy) -> PickRequest {
    PickRequest {
        orders,
        filters: PickFilters::default(),
        limits: PickLimits::default(),
        strategy,
    }
}

#[test]
fn batch_aggregates_per_sku_and_bin_in_walk_order() {
    let orders = vec![
        order(
            "1",
            0,
            10,
            vec![
                line("X", 1, Some("A-02-01-A")),
                line("Y", 2, Some("A-01-03-A")),
            ],
        ),
        order(
            "2",
            0,
            5,
            vec![line("X", 3, Some("A-02-01-A")), line("Z", 1, None)],
        ),
        order(
            "3",
            5,
            20,
            vec![
                line("Y", 1, Some("A-01-03-A")),
                line("W", 1, Some("A-02-04-A")),
            ],
        ),
    ];
    let plan = build_pick_lists(&request(orders, PickStrategy::Batch), &layout()).unwrap();
    // Priority 5 first, then the older of the two priority-0 orders.
    assert_eq!(plan.selected, ["3", "2", "1"]);
    assert_eq!(plan.lists.len(), 1);
    let list = &plan.lists[0];
    let totes: Vec<(u32, &str)> = list
        .totes
        .iter()
        .map(|t| (t.tote, t.fulfillment_order_id.as_str()))
        .collect();
    assert_eq!(totes, [(1, "3"), (2, "2"), (3, "1")]);
    let lines: Vec<(&str, Option<&str>, i64)> = list
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.bin.as_deref(), l.quantity))
        .collect();
    // Aisle 1 ascending, aisle 2 descending (bay 4 before bay 1), no bin last.
    assert_eq!(
        lines,
        [
            ("Y", Some("A-01-03-A"), 3),
            ("W", Some("A-02-04-A"), 1),
            ("X", Some("A-02-01-A"), 4),
            ("Z", None, 1),
        ]
    );
    let x = &list.lines[2];
    assert_eq!(
        x.totes
            .iter()
            .map(|t| (t.tote, t.quantity))
            .collect::<Vec<_>>(),
        [(2, 3), (3, 1)]
    );
    assert_eq!(list.lines[3].flag, Some(BinFlag::NoBin));
    assert_eq!(list.units, 9);
    assert_eq!(list.weight_g, 900);
    assert_eq!(list.path.stops, 3);
    assert!(list.path.metres.is_some());
}

#[test]
fn single_gives_each_order_its_own_list() {
    let orders = vec![
        order("1", 0, 10, vec![line("X", 1, Some("A-02-01-A"))]),
        order("2", 1, 5, vec![line("X", 3, Some("A-02-01-A"))]),
    ];
    let plan = build_pick_lists(&request(orders, PickStrategy::Single), &layout()).unwrap();
    assert_eq!(plan.lists.len(), 2);
    assert_eq!(plan.lists[0].totes[0].fulfillment_order_id, "2");
    assert_eq!(plan.lists[0].totes[0].tote, 1);
    assert_eq!(plan.lists[1].totes[0].tote, 1);
    assert_eq!(
        plan.lists.iter().map(|l| l.number).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn wave_splits_by_zone_and_keeps_tote_numbers() {
    let orders = vec![
        order(
            "1",
            0,
            0,
            vec![
                line("X", 1, Some("B-01-01-A")),
                line("Y", 1, Some("A-01-01-A")),
            ],
        ),
        order(
            "2",
            0,
            1,
            vec![line("X", 2, Some("B-01-01-A")), line("Q", 1, Some("junk"))],
        ),
    ];
    let plan = build_pick_lists(
        &request(orders, PickStrategy::Wave { by: WaveBy::Zone }),
        &layout(),
    )
    .unwrap();
    let zones: Vec<Option<&str>> = plan.lists.iter().map(|l| l.zone.as_deref()).collect();
    assert_eq!(zones, [Some("A"), Some("B"), None]);
    // Order 2 is tote 2 in zone B even though zone A has only order 1.
    let b = &plan.lists[1];
    assert_eq!(b.totes.len(), 2);
    assert_eq!(b.totes[1].tote, 2);
    assert_eq!(plan.lists[0].totes.len(), 1);
    assert_eq!(plan.lists[2].lines[0].flag, Some(BinFlag::UnknownBin));
}

#[test]
fn filters_explain_each_order_left_out() {
    let mut orders = vec![
        order("ok", 3, 0, vec![line("X", 1, None)]),
        order("chan", 3, 0, vec![line("X", 1, None)]),
        order("level", 3, 0, vec![line("X", 1, None)]),
        order("prio", 0, 0, vec![line("X", 1, None)]),
        order("late", 3, 0, vec![line("X", 1, None)]),
        order("tags", 3, 0, vec![line("X", 1, None)]),
        order("multi", 3, 0, vec![line("X", 2, None)]),
    ];
    for o in &mut orders {
        o.tags = vec!["vip".into()];
        o.cutoff_at = Some(t0());
    }
    orders[1].channel = "amazon".into();
    orders[2].service_level = Some("express".into());
    orders[4].cutoff_at = Some(t0() + Duration::hours(5));
    orders[5].tags.clear();
    let mut req = request(orders, PickStrategy::Batch);
    req.filters = PickFilters {
        channels: vec!["web".into()],
        service_levels: vec!["standard".into()],
        min_priority: Some(1),
        cutoff_before: Some(t0() + Duration::hours(1)),
        tags: vec!["vip".into()],
        single_item_only: true,
        orders: vec![],
    };
    let plan = build_pick_lists(&req, &layout()).unwrap();
    assert_eq!(plan.selected, ["ok"]);
    let reasons: Vec<(&str, SkipReason)> = plan
        .skipped
        .iter()
        .map(|s| (s.fulfillment_order_id.as_str(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("chan", SkipReason::Channel),
            ("level", SkipReason::ServiceLevel),
            ("prio", SkipReason::Priority),
            ("late", SkipReason::Cutoff),
            ("tags", SkipReason::Tags),
            ("multi", SkipReason::NotSingleItem),
        ]
    );
}

#[test]
fn chosen_orders_are_the_only_ones_released() {
    let orders = vec![
        order("1", 0, 10, vec![line("X", 1, Some("A-01-01-A"))]),
        order("2", 5, 20, vec![line("Y", 1, Some("A-01-02-A"))]),
        order("3", 0, 30, vec![line("X", 2, Some("A-01-01-A"))]),
    ];
    let mut req = request(orders, PickStrategy::Batch);
    req.filters.orders = vec!["SO-3".into(), "SO-1".into()];
    let plan = build_pick_lists(&req, &layout()).unwrap();
    assert_eq!(plan.selected, ["1", "3"]);
    assert!(plan.skipped.is_empty(), "unchosen work is not reported");
    assert_eq!(plan.units, 3);

    // Other filters still apply to the chosen orders.
    req.filters.single_item_only = true;
    let plan = build_pick_lists(&req, &layout()).unwrap();
    assert_eq!(plan.selected, ["1"]);
    assert_eq!(plan.skipped[0].reason, SkipReason::NotSingleItem);

    // An order with nothing here, or named twice, is refused by its place in the list.
    req.filters.orders = vec!["SO-1".into(), "SO-9".into(), "SO-1".into()];
    let Err(Problem::Invalid(errors)) = build_pick_lists(&req, &layout()) else {
        panic!("expected a refusal");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["filters.orders[1]", "filters.orders[2]"]);
    assert!(
        errors[0]
            .message
            .starts_with("SO-9 has nothing to pick at this location"),
        "{}",
        errors[0].message
    );
}

#[test]
fn limits_skip_whole_orders_and_keep_going() {
    let orders = vec![
        order("a", 9, 0, vec![line("X", 3, None)]),
        order("b", 8, 0, vec![line("X", 5, None)]), // does not fit: 3 + 5 > 6
        order("c", 7, 0, vec![line("X", 2, None)]), // fits
        order("d", 6, 0, vec![line("X", 1, None)]), // fits units, but max 2 orders
    ];
    let mut req = request(orders, PickStrategy::Batch);
    req.limits = PickLimits {
        max_orders: Some(2),
        max_units: Some(6),
        max_weight_g: None,
    };
    let plan = build_pick_lists(&req, &layout()).unwrap();
    assert_eq!(plan.selected, ["a", "c"]);
    assert_eq!(
        plan.skipped.iter().map(|s| s.reason).collect::<Vec<_>>(),
        [SkipReason::MaxUnits, SkipReason::MaxOrders]
    );
    let mut req2 = req.clone();
    req2.limits = PickLimits {
        max_weight_g: Some(250),
        ..Default::default()
    };
    let plan = build_pick_lists(&req2, &layout()).unwrap();
    assert_eq!(plan.selected, ["c"]);
    assert_eq!(plan.weight_g, 200);
}

#[test]
fn refuses_malformed_requests() {
    let orders = vec![
        order("a", 0, 0, vec![line("X", 0, None)]),
        order("a", 0, 0, vec![line("", 1, None)]),
        order("b", 0, 0, vec![]),
    ];
    let err = build_pick_lists(&request(orders, PickStrategy::Batch), &layout()).unwrap_err();
    let Problem::Invalid(fields) = err else {
        panic!("expected invalid")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        names,
        [
            "orders[0].lines[0].quantity",
            "orders[1].id",
            "orders[1].lines[0].sku",
            "orders[2].lines"
        ]
    );
}

#[test]
fn request_round_trips_through_json() {
    let json = r#"{
        "orders": [{"id": "SO-1-1", "order_number": "SO-1", "placed_at": "2026-01-05T10:00:00Z",
                    "channel": "web", "lines": [{"sku": "A", "quantity": 2, "bin": "A-01-01-A"}]}],
        "strategy": {"kind": "wave", "by": "zone"},
        "limits": {"max_units": 10}
    }"#;
    let req: PickRequest = serde_json::from_str(json).unwrap();
    assert_eq!(req.strategy, PickStrategy::Wave { by: WaveBy::Zone });
    let plan = build_pick_lists(&req, &layout()).unwrap();
    let out = serde_json::to_value(&plan).unwrap();
    assert_eq!(out["lists"][0]["zone"], "A");
    assert_eq!(out["lists"][0]["lines"][0]["totes"][0]["tote"], 1);
    let back: PickRequest = serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
    assert_eq!(back, req);
}

// --- confirmation -------------------------------------------------------------------------

fn two_order_job() -> PickProgress {
    let orders = vec![
        order(
            "hi",
            5,
            0,
            vec![
                line("X", 2, Some("A-01-01-A")),
                line("Y", 1, Some("A-01-02-A")),
            ],
        ),
        order("lo", 0, 0, vec![line("X", 2, Some("A-01-01-A"))]),
    ];
    let plan = build_pick_lists(&request(orders, PickStrategy::Batch), &layout()).unwrap();
    PickProgress::new(&plan.lists)
}

fn scan(sku: &str, bin: Option<&str>, quantity: i64) -> Scan {
    Scan {
        sku: sku.into(),
        bin: bin.map(Into::into),
        quantity,
    }
}

#[test]
fn scans_fill_the_highest_priority_tote_first() {
    let mut p = two_order_job();
    assert_eq!(
        p.next(),
        Some(Expected {
            sku: "X".into(),
            bin: Some("A-01-01-A".into()),
            remaining: 4
        })
    );
    let u = p.scan(&scan("X", Some("A-01-01-A"), 3)).unwrap();
    assert_eq!(
        u.put
            .iter()
            .map(|t| (t.tote, t.quantity))
            .collect::<Vec<_>>(),
        [(1, 2), (2, 1)]
    );
    assert_eq!((u.line_picked, u.line_quantity, u.line_done), (3, 4, false));
    let u = p.scan(&scan("X", Some("A-01-01-A"), 1)).unwrap();
    assert!(u.line_done);
    assert_eq!(u.orders_picked, ["lo"]);
    let u = p.scan(&scan("Y", None, 1)).unwrap();
    assert_eq!(u.orders_picked, ["hi"]);
    assert!(u.complete);
    assert_eq!(p.scan(&scan("Y", None, 1)), Err(PickRefusal::Complete));
    assert!(p.orders.iter().all(|o| o.state == OrderPickState::Picked));
}

#[test]
fn refusals_name_what_was_expected_and_change_nothing() {
    let mut p = two_order_job();
    let before = p.clone();
    let e = p.scan(&scan("Q", Some("A-01-01-A"), 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "wrong item: scanned Q at A-01-01-A, expected X at A-01-01-A (4 left)"
    );
    let e = p.scan(&scan("Y", Some("A-01-01-A"), 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "wrong bin: Y is picked from A-01-02-A, not A-01-01-A"
    );
    let e = p.scan(&scan("X", Some("A-01-01-A"), 5)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "over-pick refused: 5 × X at A-01-01-A scanned, 4 left to pick"
    );
    let e = p.scan(&scan("X", None, 0)).unwrap_err();
    assert!(matches!(
        e,
        PickRefusal::InvalidQuantity { quantity: 0, .. }
    ));
    // A bin with nothing for us: the next line is named.
    let e = p.scan(&scan("Q", Some("B-03-03-A"), 1)).unwrap_err();
    assert!(e.to_string().ends_with("expected X at A-01-01-A (4 left)"));
    assert_eq!(p, before);
    // A finished line refuses more.
    p.scan(&scan("Y", None, 1)).unwrap();
    assert!(matches!(
        p.scan(&scan("Y", Some("A-01-02-A"), 1)),
        Err(PickRefusal::OverPick {
            remaining: 0,
            scanned: 1,
            ..
        })
    ));
}

#[test]
fn short_pick_takes_from_the_lowest_priority_order() {
    let mut p = two_order_job();
    // The bin holds 1 more after nothing was picked: "hi" gets it, "hi" loses 1, "lo" loses 2.
    let u = p.short_pick("X", Some("A-01-01-A"), 1).unwrap();
    assert_eq!(u.put.len(), 1);
    assert_eq!((u.put[0].tote, u.put[0].quantity), (1, 1));
    let losses: Vec<(&str, i64)> = u
        .losses
        .iter()
        .map(|l| (l.fulfillment_order_id.as_str(), l.units))
        .collect();
    assert_eq!(losses, [("lo", 2), ("hi", 1)]);
    assert_eq!(u.orders_emptied, ["lo"]);
    assert!(u.orders_picked.is_empty());
    let u = p.scan(&scan("Y", None, 1)).unwrap();
    assert_eq!(u.orders_picked, ["hi"]);
    let hi = p
        .orders
        .iter()
        .find(|o| o.fulfillment_order_id == "hi")
        .unwrap();
    assert_eq!(
        (hi.picked, hi.short, hi.state),
        (2, 1, OrderPickState::Picked)
    );
    assert!(p.short_pick("X", None, 0).is_err());
}

#[test]
fn short_after_partial_pick_spares_the_picked_units() {
    let mut p = two_order_job();
    p.scan(&scan("X", None, 3)).unwrap();
    let u = p.short_pick("X", None, 0).unwrap();
    assert_eq!(u.losses.len(), 1);
    assert_eq!(
        (u.losses[0].fulfillment_order_id.as_str(), u.losses[0].units),
        ("lo", 1)
    );
    assert!(matches!(
        p.short_pick("Y", None, 2),
        Err(PickRefusal::OverPick { remaining: 1, .. })
    ));
    assert!(matches!(
        p.short_pick("Y", None, -1),
        Err(PickRefusal::InvalidQuantity { .. })
    ));
}

#[test]
fn a_wave_order_is_picked_when_its_last_zone_is() {
    let orders = vec![order(
        "1",
        0,
        0,
        vec![
            line("X", 1, Some("A-01-01-A")),
            line("Y", 1, Some("B-01-01-A")),
        ],
    )];
    let plan = build_pick_lists(
        &request(orders, PickStrategy::Wave { by: WaveBy::Zone }),
        &layout(),
    )
    .unwrap();
    let mut p = PickProgress::new(&plan.lists);
    assert!(
        p.scan(&scan("X", None, 1))
            .unwrap()
            .orders_picked
            .is_empty()
    );
    let u = p.scan(&scan("Y", None, 1)).unwrap();
    assert_eq!(u.list, 2);
    assert_eq!(u.orders_picked, ["1"]);
}

// --- properties ---------------------------------------------------------------------------

fn arb_order(i: usize) -> impl Strategy<Value = CandidateOrder> {
    let bins = prop_oneof![
        3 => (0usize..2, 1u32..4, 1u32..5).prop_map(|(z, a, b)| Some(format!("{}-{a:02}-{b:02}-A", ["A", "B"][z]))),
        1 => Just(None),
    ];
    let line =
        ("[PQRST]", 1i64..4, 0i64..500, bins).prop_map(|(sku, quantity, w, bin)| CandidateLine {
            sku,
            quantity,
            unit_weight_g: w,
            bin,
        });
    (
        -1i32..3,
        0i64..50,
        prop::collection::vec(line, 1..4),
        prop::bool::ANY,
    )
        .prop_map(move |(priority, minutes, lines, web)| {
            let mut o = order(&format!("FO-{i:02}"), priority, minutes, lines);
            if !web {
                o.channel = "shop".into();
            }
            o
        })
}

fn arb_request() -> impl Strategy<Value = PickRequest> {
    let orders = (0usize..25).prop_flat_map(|n| (0..n).map(arb_order).collect::<Vec<_>>());
    let strategy = prop_oneof![
        Just(PickStrategy::Single),
        Just(PickStrategy::Batch),
        Just(PickStrategy::Wave { by: WaveBy::Zone })
    ];
    (
        orders,
        strategy,
        prop::option::of(0u32..10),
        prop::option::of(0i64..30),
        prop::option::of(0i64..5000),
        prop::bool::ANY,
    )
        .prop_map(|(orders, strategy, mo, mu, mw, web_only)| PickRequest {
            orders,
            filters: PickFilters {
                channels: if web_only { vec!["web".into()] } else { vec![] },
                ..Default::default()
            },
            limits: PickLimits {
                max_orders: mo,
                max_units: mu,
                max_weight_g: mw,
            },
            strategy,
        })
}

proptest! {
    /// Every unit of every selected order appears exactly once across the lists, in the
    /// order's tote; nothing else appears; limits hold; lines are in walk order.
    #[test]
    fn every_selected_unit_is_on_exactly_one_list(req in arb_request()) {
        let layout = layout();
        let plan = build_pick_lists(&req, &layout).unwrap();
        let mut seen: BTreeMap<(String, String, Option<String>), i64> = BTreeMap::new();
        for list in &plan.lists {
            for w in list.lines.windows(2) {
                prop_assert!(layout.walk_key(w[0].bin.as_deref()) <= layout.walk_key(w[1].bin.as_deref()));
            }
            for l in &list.lines {
                prop_assert_eq!(l.quantity, l.totes.iter().map(|t| t.quantity).sum::<i64>());
                for t in &l.totes {
                    let a = list.totes.iter().find(|a| a.tote == t.tote).unwrap();
                    prop_assert_eq!(&a.fulfillment_order_id, &t.fulfillment_order_id);
                    *seen.entry((t.fulfillment_order_id.clone(), l.sku.clone(), l.bin.clone())).or_default() += t.quantity;
                }
                if let Some(zone) = &list.zone {
                    let line_zone = layout.zone(l.bin.as_deref().unwrap());
                    prop_assert_eq!(line_zone.as_ref(), Some(zone));
                }
            }
        }
        let mut expected: BTreeMap<(String, String, Option<String>), i64> = BTreeMap::new();
        for o in req.orders.iter().filter(|o| plan.selected.contains(&o.id)) {
            for l in &o.lines {
                *expected.entry((o.id.clone(), l.sku.clone(), l.bin.clone())).or_default() += l.quantity;
            }
        }
        prop_assert_eq!(seen, expected);
        let chosen: Vec<&CandidateOrder> = plan.selected.iter().map(|id| req.orders.iter().find(|o| &o.id == id).unwrap()).collect();
        let units: i64 = chosen.iter().map(|o| o.units()).sum();
        let weight: i64 = chosen.iter().map(|o| o.weight_g()).sum();
        prop_assert_eq!(units, plan.units);
        prop_assert_eq!(plan.lists.iter().map(|l| l.units).sum::<i64>(), units);
        if let Some(m) = req.limits.max_units { prop_assert!(units <= m); }
        if let Some(m) = req.limits.max_weight_g { prop_assert!(weight <= m); }
        if let Some(m) = req.limits.max_orders { prop_assert!(chosen.len() <= m as usize); }
        prop_assert_eq!(plan.selected.len() + plan.skipped.len(), req.orders.len());
    }

    /// Selection follows the rank (priority desc, then oldest): selected orders come in rank
    /// order, their totes number up in that order, and an eligible order left out for a
    /// limit really would have broken it given the orders ranked above it.
    #[test]
    fn selection_follows_priority_then_age(req in arb_request()) {
        let plan = build_pick_lists(&req, &layout()).unwrap();
        let get = |id: &str| req.orders.iter().find(|o| o.id == id).unwrap();
        for w in plan.selected.windows(2) {
            prop_assert_eq!(rank(get(&w[0]), get(&w[1])), std::cmp::Ordering::Less);
        }
        if !matches!(req.strategy, PickStrategy::Single) {
            for list in &plan.lists {
                for w in list.totes.windows(2) {
                    prop_assert!(w[0].tote < w[1].tote);
                }
                for a in &list.totes {
                    let pos = plan.selected.iter().position(|s| *s == a.fulfillment_order_id).unwrap();
                    prop_assert_eq!(a.tote as usize, pos + 1);
                }
            }
        }
        for s in &plan.skipped {
            let o = get(&s.fulfillment_order_id);
            let above: Vec<&CandidateOrder> = plan.selected.iter().map(|id| get(id)).filter(|p| rank(p, o).is_lt()).collect();
            match s.reason {
                SkipReason::MaxOrders => prop_assert_eq!(above.len(), req.limits.max_orders.unwrap() as usize),
                SkipReason::MaxUnits => prop_assert!(above.iter().map(|p| p.units()).sum::<i64>() + o.units() > req.limits.max_units.unwrap()),
                SkipReason::MaxWeight => prop_assert!(above.iter().map(|p| p.weight_g()).sum::<i64>() + o.weight_g() > req.limits.max_weight_g.unwrap()),
                SkipReason::Channel => prop_assert_ne!(&o.channel, "web"),
                _ => prop_assert!(false, "unexpected reason {:?}", s.reason),
            }
        }
    }

    /// Any sequence of scans and short reports keeps the books straight: per tote picked +
    /// short never exceeds the quantity; shorts only ever hit totes after every picked one
    /// (lowest priority first); each order is reported finished exactly once, and when the
    /// job is complete every order is finished.
    #[test]
    fn confirmation_keeps_the_books(req in arb_request(), ops in prop::collection::vec((0usize..40, 0i64..4, prop::bool::weighted(0.2)), 0..80)) {
        let plan = build_pick_lists(&req, &layout()).unwrap();
        let mut p = PickProgress::new(&plan.lists);
        let mut finished: Vec<String> = Vec::new();
        for (i, q, short) in ops {
            if p.lines.is_empty() { break; }
            let l = &p.lines[i % p.lines.len()];
            let (sku, bin) = (l.sku.clone(), l.bin.clone());
            let before = p.clone();
            let r = if short { p.short_pick(&sku, bin.as_deref(), q) } else { p.scan(&Scan { sku, bin, quantity: q }) };
            match r {
                Ok(u) => {
                    finished.extend(u.orders_picked);
                    finished.extend(u.orders_emptied);
                    prop_assert_eq!(u.complete, p.is_complete());
                }
                Err(_) => prop_assert_eq!(&p, &before),
            }
        }
        // Finish the job.
        while let Some(e) = p.next() {
            let u = p.scan(&Scan { sku: e.sku, bin: e.bin, quantity: e.remaining }).unwrap();
            finished.extend(u.orders_picked);
            finished.extend(u.orders_emptied);
        }
        for l in &p.lines {
            prop_assert_eq!(l.picked + l.short, l.quantity);
            let mut seen_short = false;
            for t in &l.totes {
                prop_assert_eq!(t.picked + t.short, t.quantity);
                if seen_short { prop_assert_eq!(t.picked, 0); }
                if t.short > 0 { seen_short = true; }
            }
        }
        let mut all: Vec<String> = p.orders.iter().map(|o| o.fulfillment_order_id.clone()).collect();
        all.sort();
        finished.sort();
        prop_assert_eq!(all, finished);
        prop_assert!(p.orders.iter().all(|o| o.state != OrderPickState::Picking));
    }
}
