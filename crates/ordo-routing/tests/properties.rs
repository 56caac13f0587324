//! Properties over random networks: the plan never overdraws stock, never uses a location
//! a hard constraint rules out, never splits an order one location could ship, and the
//! exact solver agrees with exhaustive search.

use std::collections::HashMap;

use ordo_domain::catalog::HandlingClass;
use ordo_routing::solver::{self, DEFAULT_NODE_BUDGET, Instance, Site};
use ordo_routing::{
    Actions, Conditions, CostModel, Destination, LocationProfile, RouteLine, Router,
    RoutingRequest, Rule, SplitPolicy,
};
use proptest::prelude::*;

const SKUS: [&str; 4] = ["A", "B", "C", "D"];

#[derive(Debug, Clone)]
struct Net {
    locations: Vec<LocationProfile>,
    stock: HashMap<(String, String), i64>,
    request: RoutingRequest,
    rules: Vec<Rule>,
}

/// A rule as bit masks over the network's locations: (only for `vip` orders, restrict
/// mask, exclude mask, require single shipment, stop processing).
type RuleSpec = (bool, u8, u8, bool, bool);

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        prop::bool::weighted(0.3),
        prop_oneof![2 => Just(0u8), 1 => any::<u8>()],
        prop_oneof![1 => Just(0u8), 1 => any::<u8>()],
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
    )
}

fn codes(mask: u8, n: usize) -> Vec<String> {
    (0..n.min(8))
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| format!("L{i}"))
        .collect()
}

/// What the rules decide for the order, worked out here rather than by the engine: the
/// locations they keep out, and whether they require a single shipment.
fn rule_effects(n: &Net) -> (Vec<String>, bool) {
    let mut blocked = Vec::new();
    let mut single = false;
    for r in &n.rules {
        let matches = r.conditions.tags.iter().all(|t| n.request.tags.contains(t));
        if !matches {
            continue;
        }
        let a = &r.actions;
        for l in &n.locations {
            if a.exclude_locations.contains(&l.code)
                || (!a.restrict_to_locations.is_empty()
                    && !a.restrict_to_locations.contains(&l.code))
            {
                blocked.push(l.code.clone());
            }
        }
        single |= a.require_single_shipment;
        if r.stop_processing {
            break;
        }
    }
    (blocked, single)
}

/// A location, its stock of each SKU, and whether the order's channel may sell from it.
fn location() -> impl Strategy<Value = (LocationProfile, [i64; 4], bool)> {
    (
        (40.0f64..56.0, -5.0f64..20.0, 0i32..4, 0i64..300),
        (
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.8),
        ),
        (
            prop::option::of(0u32..3),
            0u32..3,
            0i64..3,
            prop::bool::weighted(0.8),
        ),
        [0i64..6, 0i64..6, 0i64..6, 0i64..6],
    )
        .prop_map(
            |(
                (lat, lon, priority, handling),
                (active, ships_de, can_hazmat),
                (cap, today, safety, channel_ok),
                stock,
            )| {
                let mut l = LocationProfile::warehouse("", lat, lon);
                l.priority = priority;
                l.handling_cost_minor = handling;
                l.active = active;
                if !ships_de {
                    l.ships_to = vec!["FR".into()];
                }
                if !can_hazmat {
                    l.cannot_ship = vec![HandlingClass::Hazmat];
                }
                l.daily_capacity = cap;
                l.orders_today = today;
                l.routing_safety_stock = safety;
                (l, stock, channel_ok)
            },
        )
}

fn net() -> impl Strategy<Value = Net> {
    (
        prop::collection::vec(location(), 1..7),
        prop::collection::vec((0usize..4, 1i64..5), 1..6),
        (
            prop::bool::weighted(0.15),
            0u8..3,
            prop::bool::ANY,
            0i64..8_000,
            prop::bool::ANY,
        ),
        prop::collection::vec(rule_spec(), 0..4),
    )
        .prop_map(
            |(locs, lines, (single, split, c_hazmat, value, vip), specs)| {
                let mut stock = HashMap::new();
                let mut allowed = Vec::new();
                let mut any_blocked = false;
                let locations: Vec<LocationProfile> = locs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (mut l, s, channel_ok))| {
                        l.code = format!("L{i}");
                        if channel_ok {
                            allowed.push(l.code.clone());
                        } else {
                            any_blocked = true;
                        }
                        for (k, q) in s.iter().enumerate() {
                            stock.insert((SKUS[k].to_string(), l.code.clone()), *q);
                        }
                        l
                    })
                    .collect();
                let mut request = RoutingRequest::new(
                    lines
                        .iter()
                        .map(|&(k, q)| {
                            let mut line = RouteLine::new(SKUS[k], q);
                            if k == 2 && c_hazmat {
                                line.handling_classes = vec![HandlingClass::Hazmat];
                            }
                            line
                        })
                        .collect(),
                    Destination {
                        country: "DE".into(),
                        latitude: Some(50.0),
                        longitude: Some(8.0),
                        ..Default::default()
                    },
                );
                request.single_shipment = single;
                // Around the threshold, so the value policy both allows and blocks splits.
                request.order_value_minor = value;
                request.channel.split = match split {
                    0 => SplitPolicy::Allow,
                    1 => SplitPolicy::Never,
                    _ => SplitPolicy::AllowIfOrderValueAbove(4_000),
                };
                if any_blocked {
                    request.channel.allowed_locations = allowed;
                }
                if vip {
                    request.tags = vec!["vip".into()];
                }
                let n = locations.len();
                let rules = specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (only_vip, restrict, exclude, single, stop))| Rule {
                        name: format!("r{i}"),
                        conditions: Conditions {
                            tags: if only_vip {
                                vec!["vip".into()]
                            } else {
                                Vec::new()
                            },
                            ..Default::default()
                        },
                        actions: Actions {
                            restrict_to_locations: codes(restrict, n),
                            exclude_locations: codes(exclude, n),
                            require_single_shipment: single,
                            ..Default::default()
                        },
                        stop_processing: stop,
                    })
                    .collect();
                Net {
                    locations,
                    stock,
                    request,
                    rules,
                }
            },
        )
}

fn eligible(n: &Net, l: &LocationProfile) -> bool {
    l.active
        && l.ships_to_country("DE")
        && n.request.channel.may_sell_from(&l.code)
        && !l.at_capacity()
        && !rule_effects(n).0.contains(&l.code)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn plans_respect_stock_and_hard_constraints(n in net()) {
        let router = Router::new(CostModel::default());
        let plan = router.route(&n.request, &n.locations, &n.stock, &n.rules);
        // The capture path's lean allocation is the plan's, without the explanation.
        prop_assert_eq!(&router.allocate(&n.request, &n.locations, &n.stock, &n.rules), &plan.lines);
        let (blocked, rule_single) = rule_effects(&n);
        let mut used: HashMap<(String, String), i64> = HashMap::new();
        for (line, routed) in n.request.lines.iter().zip(&plan.lines) {
            prop_assert_eq!(routed.allocated() + routed.backordered, line.quantity);
            for a in &routed.allocations {
                prop_assert!(a.quantity > 0);
                let loc = n.locations.iter().find(|l| l.code == a.location).unwrap();
                prop_assert!(!blocked.contains(&loc.code), "a rule keeps {} out", loc.code);
                prop_assert!(eligible(&n, loc), "{} is not eligible", loc.code);
                prop_assert!(
                    !line.handling_classes.iter().any(|c| loc.cannot_ship.contains(c)),
                    "{} cannot ship {:?}", loc.code, line.handling_classes
                );
                *used.entry((line.sku.clone(), a.location.clone())).or_default() += a.quantity;
            }
        }
        for ((sku, code), q) in &used {
            let loc = n.locations.iter().find(|l| l.code == *code).unwrap();
            let avail = n.stock[&(sku.clone(), code.clone())] - loc.routing_safety_stock;
            prop_assert!(*q <= avail.max(0), "{sku}@{code}: {q} > {avail}");
        }
        prop_assert!(plan.exact);
        prop_assert_eq!(plan.explanation.len(), n.locations.len());
        for v in &plan.explanation {
            prop_assert_eq!(v.chosen, plan.shipments.iter().any(|s| s.location == v.location));
        }
        let split_allowed = !n.request.single_shipment
            && !rule_single
            && n.request.channel.split.allows(n.request.order_value_minor);
        // Single-shipment orders (asked for, required by a rule, or a channel that may not
        // split this order) ship whole from one place or wait.
        if !split_allowed {
            prop_assert!(plan.shipments.len() <= 1);
            prop_assert!(plan.allocated_units() == 0 || plan.backordered_units() == 0);
        }
        // An order one eligible location can ship whole is never split.
        let mut demand: HashMap<&str, i64> = HashMap::new();
        for l in &n.request.lines {
            *demand.entry(l.sku.as_str()).or_default() += l.quantity;
        }
        let fits = n.locations.iter().any(|l| {
            eligible(&n, l)
                && demand.iter().all(|(sku, q)| {
                    let hazmat = n.request.lines.iter().any(|x| x.sku == *sku && !x.handling_classes.is_empty());
                    (!hazmat || l.cannot_ship.is_empty())
                        && n.stock[&(sku.to_string(), l.code.clone())] - l.routing_safety_stock >= *q
                })
        });
        if fits {
            prop_assert_eq!(plan.shipments.len(), 1);
            prop_assert_eq!(plan.backordered_units(), 0);
        }
        // Shipment count and cost agree with exhaustive search on the same instance.
        let p = router.prepare(&n.request, &n.locations, &n.stock, &n.rules);
        if split_allowed {
            let brute = solver::brute_force(&p.instance).unwrap();
            prop_assert_eq!(plan.shipments.len(), brute.len());
            prop_assert_eq!(plan.total_cost_minor, p.instance.cost_of(&brute));
            prop_assert_eq!(plan.backordered_units(),
                p.instance.demand.iter().sum::<i64>() - p.instance.target().iter().sum::<i64>());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn exact_solver_equals_brute_force(
        sites in prop::collection::vec((-3i64..6, prop::collection::vec(0i64..4, 5)), 1..13),
        demand in prop::collection::vec(0i64..6, 1..6),
    ) {
        let m = demand.len();
        let inst = Instance {
            demand,
            sites: sites
                .into_iter()
                .enumerate()
                .map(|(i, (c, s))| Site { code: format!("S{i:02}"), cost: c * 10, stock: s[..m].to_vec() })
                .collect(),
        };
        let sel = solver::solve(&inst, DEFAULT_NODE_BUDGET);
        let brute = solver::brute_force(&inst).unwrap();
        prop_assert!(sel.exact);
        prop_assert_eq!(&sel.sites, &brute);
        prop_assert!(inst.covers_target(&sel.sites));
        // Every chosen site ships something once quantities are assigned.
        let lines: Vec<(usize, i64)> = inst.demand.iter().copied().enumerate().collect();
        let parts = solver::assign(&inst, &lines, &sel.sites);
        for &s in &sel.sites {
            prop_assert!(parts.iter().flatten().any(|&(x, q)| x == s && q > 0));
        }
        let shipped: i64 = parts.iter().flatten().map(|x| x.1).sum();
        prop_assert_eq!(shipped, inst.target().iter().sum::<i64>());
        // The greedy heuristic is a valid cover too.
        prop_assert!(inst.covers_target(&solver::greedy(&inst)));
    }
}

/// The largest orders in the exact range stay exact and quick: 10 SKUs over 30 locations
/// with thin, scattered stock, so covers need several shipments.
#[test]
fn exact_range_edge_is_solved_exactly() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(7);
    let started = std::time::Instant::now();
    let mut shipments = Vec::new();
    for _ in 0..40 {
        let inst = Instance {
            demand: (0..10).map(|_| rng.random_range(1..4)).collect(),
            sites: (0..30)
                .map(|i| Site {
                    code: format!("S{i:02}"),
                    cost: rng.random_range(100..2_000),
                    stock: (0..10)
                        .map(|_| {
                            if rng.random_bool(0.25) {
                                rng.random_range(1..3)
                            } else {
                                0
                            }
                        })
                        .collect(),
                })
                .collect(),
        };
        let sel = solver::solve(&inst, DEFAULT_NODE_BUDGET);
        assert!(sel.exact);
        assert!(inst.covers_target(&sel.sites));
        let greedy = solver::greedy(&inst);
        assert!(sel.sites.len() <= greedy.len());
        if sel.sites.len() == greedy.len() {
            assert!(inst.cost_of(&sel.sites) <= inst.cost_of(&greedy));
        }
        shipments.push(sel.sites.len());
    }
    assert!(shipments.iter().any(|&k| k >= 3), "{shipments:?}");
    assert!(started.elapsed().as_secs() < 20);
}

/// Mid-sized instances with many shipments, still small enough for exhaustive search.
#[test]
fn many_shipment_covers_equal_brute_force() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..30 {
        let inst = Instance {
            demand: (0..10).map(|_| rng.random_range(1..4)).collect(),
            sites: (0..15)
                .map(|i| Site {
                    code: format!("S{i:02}"),
                    cost: rng.random_range(0..5) * 100,
                    stock: (0..10)
                        .map(|_| {
                            if rng.random_bool(0.3) {
                                rng.random_range(1..3)
                            } else {
                                0
                            }
                        })
                        .collect(),
                })
                .collect(),
        };
        let sel = solver::solve(&inst, DEFAULT_NODE_BUDGET);
        assert!(sel.exact);
        assert_eq!(sel.sites, solver::brute_force(&inst).unwrap());
    }
}

/// Every location that could have shipped gets a comparative verdict, even for orders
/// that need many shipments.
#[test]
fn large_orders_are_explained_exactly() {
    use ordo_routing::ReasonCode;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(3);
    let locations: Vec<LocationProfile> = (0..30)
        .map(|i| {
            LocationProfile::warehouse(
                format!("L{i:02}"),
                rng.random_range(40.0..56.0),
                rng.random_range(-5.0..20.0),
            )
        })
        .collect();
    let mut stock = HashMap::new();
    for l in &locations {
        for k in 0..10 {
            if rng.random_bool(0.25) {
                stock.insert((format!("S{k}"), l.code.clone()), rng.random_range(1..3));
            }
        }
    }
    let request = RoutingRequest::new(
        (0..10)
            .map(|k| RouteLine::new(format!("S{k}"), 2))
            .collect(),
        Destination::in_country("DE"),
    );
    let plan = Router::new(CostModel::default()).route(&request, &locations, &stock, &[]);
    assert!(plan.exact);
    assert!(plan.shipments.len() >= 3);
    for v in plan.explanation.iter().filter(|v| !v.chosen) {
        assert!(
            v.has(ReasonCode::MoreShipments)
                || v.has(ReasonCode::HigherCost)
                || v.has(ReasonCode::TieBreak)
                || v.has(ReasonCode::OutOfStock),
            "{v:?}"
        );
    }
}
