//! One test per constraint, rule action and explanation case, on a small European network.

use std::collections::HashMap;

use ordo_domain::catalog::HandlingClass;
use ordo_routing::{
    Actions, ChannelPolicy, Conditions, CostModel, Destination, LocationProfile, Outcome,
    ReasonCode, RouteLine, RoutingPlan, RoutingRequest, Rule, SplitPolicy, route,
};

type Stock = HashMap<(String, String), i64>;

fn network() -> Vec<LocationProfile> {
    vec![
        LocationProfile::warehouse("BER", 52.52, 13.40),
        LocationProfile::warehouse("MUC", 48.14, 11.58),
        LocationProfile::warehouse("PAR", 48.86, 2.35),
        LocationProfile::warehouse("MAD", 40.42, -3.70),
    ]
}

fn stock(entries: &[(&str, &str, i64)]) -> Stock {
    entries
        .iter()
        .map(|(s, l, q)| ((s.to_string(), l.to_string()), *q))
        .collect()
}

/// A paid order to central Berlin.
fn order(lines: &[(&str, i64)]) -> RoutingRequest {
    let mut d = Destination::in_country("DE");
    d.latitude = Some(52.50);
    d.longitude = Some(13.35);
    let mut r = RoutingRequest::new(
        lines.iter().map(|(s, q)| RouteLine::new(*s, *q)).collect(),
        d,
    );
    r.channel.code = "web".into();
    r
}

fn run(r: &RoutingRequest, locs: &[LocationProfile], s: &Stock, rules: &[Rule]) -> RoutingPlan {
    route(r, locs, s, rules, &CostModel::default())
}

fn shipped_from(plan: &RoutingPlan) -> Vec<&str> {
    plan.shipments.iter().map(|s| s.location.as_str()).collect()
}

fn reasons(plan: &RoutingPlan, loc: &str) -> Vec<ReasonCode> {
    plan.verdict(loc)
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.code)
        .collect()
}

#[test]
fn nearest_location_that_holds_everything() {
    let s = stock(&[("A", "BER", 5), ("A", "MUC", 5), ("A", "PAR", 5)]);
    let plan = run(&order(&[("A", 2)]), &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Allocated);
    assert_eq!(shipped_from(&plan), ["BER"]);
    assert!(plan.exact);
    assert!(plan.verdict("BER").unwrap().chosen);
    assert_eq!(reasons(&plan, "MUC"), [ReasonCode::HigherCost]);
    assert_eq!(reasons(&plan, "MAD"), [ReasonCode::OutOfStock]);
    assert!(plan.total_distance_km < 10.0);
}

#[test]
fn one_farther_shipment_beats_two_near_ones() {
    let s = stock(&[
        ("A", "BER", 5),
        ("B", "MUC", 5),
        ("A", "PAR", 5),
        ("B", "PAR", 5),
    ]);
    let plan = run(&order(&[("A", 1), ("B", 1)]), &network(), &s, &[]);
    assert_eq!(shipped_from(&plan), ["PAR"]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::MoreShipments]);
    assert_eq!(plan.lines[0].allocations[0].location, "PAR");
}

#[test]
fn splits_only_when_nothing_holds_the_whole_order() {
    let s = stock(&[("A", "BER", 5), ("B", "MUC", 5), ("B", "MAD", 5)]);
    let plan = run(&order(&[("A", 1), ("B", 1)]), &network(), &s, &[]);
    assert_eq!(shipped_from(&plan), ["BER", "MUC"]);
    assert_eq!(reasons(&plan, "MAD"), [ReasonCode::HigherCost]);
    assert_eq!(plan.shipments.len(), 2);
}

#[test]
fn inactive_country_and_channel_constraints() {
    let mut locs = network();
    locs[0].active = false;
    locs[1].ships_to = vec!["AT".into(), "CH".into()];
    let s = stock(&[
        ("A", "BER", 5),
        ("A", "MUC", 5),
        ("A", "PAR", 5),
        ("A", "MAD", 5),
    ]);
    let mut r = order(&[("A", 1)]);
    r.channel.allowed_locations = vec!["BER".into(), "MUC".into(), "MAD".into()];
    let plan = run(&r, &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["MAD"]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::Inactive]);
    assert_eq!(reasons(&plan, "MUC"), [ReasonCode::CountryNotServed]);
    assert_eq!(reasons(&plan, "PAR"), [ReasonCode::ChannelNotAllowed]);
}

#[test]
fn safety_stock_is_held_back() {
    let mut locs = network();
    locs[0].routing_safety_stock = 2;
    locs[2].routing_safety_stock = 9;
    let s = stock(&[("A", "BER", 3), ("A", "MUC", 5), ("A", "PAR", 9)]);
    let plan = run(&order(&[("A", 2)]), &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::MoreShipments]);
    assert_eq!(reasons(&plan, "PAR"), [ReasonCode::OutOfStock]);
    assert!(
        plan.verdict("PAR").unwrap().reasons[0]
            .message
            .contains("safety stock")
    );
    // Only one unit is free in Berlin.
    let plan = run(&order(&[("A", 7)]), &locs, &s, &[]);
    assert_eq!(plan.lines[0].backordered, 1);
    assert_eq!(plan.outcome, Outcome::PartiallyAllocated);
}

#[test]
fn daily_capacity_blocks_a_full_location() {
    let mut locs = network();
    locs[0].daily_capacity = Some(10);
    locs[0].orders_today = 10;
    locs[1].daily_capacity = Some(10);
    locs[1].orders_today = 9;
    let s = stock(&[("A", "BER", 5), ("A", "MUC", 5)]);
    let plan = run(&order(&[("A", 1)]), &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::OverCapacity]);
}

#[test]
fn handling_classes_a_location_cannot_ship() {
    let mut locs = network();
    locs[0].cannot_ship = vec![HandlingClass::Hazmat];
    let s = stock(&[("H", "BER", 5), ("A", "BER", 5), ("H", "MUC", 5)]);
    let mut r = order(&[("H", 1)]);
    r.lines[0].handling_classes = vec![HandlingClass::Hazmat];
    let plan = run(&r, &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::HandlingClass]);
    // Berlin still ships what it may.
    r.lines.push(RouteLine::new("A", 1));
    let plan = run(&r, &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["BER", "MUC"]);
    assert_eq!(plan.lines[0].allocations[0].location, "MUC");
    assert_eq!(plan.lines[1].allocations[0].location, "BER");
    assert!(plan.verdict("BER").unwrap().has(ReasonCode::HandlingClass));
}

#[test]
fn single_shipment_waits_and_is_rerouted_when_stock_arrives() {
    let s = stock(&[("A", "BER", 5), ("B", "MUC", 5)]);
    let mut r = order(&[("A", 1), ("B", 2)]);
    r.single_shipment = true;
    let plan = run(&r, &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::WaitingForSingleLocation);
    assert_eq!(plan.allocated_units(), 0);
    assert_eq!(plan.backordered_units(), 3);
    assert!(plan.shipments.is_empty());
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::CannotShipWhole]);

    let again = plan.remaining(&r).unwrap();
    assert_eq!(again.lines.len(), 2);
    let s = stock(&[
        ("A", "BER", 5),
        ("B", "MUC", 5),
        ("A", "MAD", 1),
        ("B", "MAD", 2),
    ]);
    let plan = run(&again, &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Allocated);
    assert_eq!(shipped_from(&plan), ["MAD"]);
    assert!(plan.remaining(&again).is_none());
}

#[test]
fn backorders_are_rerouted_by_the_same_engine() {
    let s = stock(&[("A", "BER", 2)]);
    let r = order(&[("A", 5), ("B", 1)]);
    let plan = run(&r, &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::PartiallyAllocated);
    let rest = plan.remaining(&r).unwrap();
    assert_eq!(
        rest.lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect::<Vec<_>>(),
        [("A", 3), ("B", 1)]
    );
    let s = stock(&[("A", "PAR", 3), ("B", "PAR", 1)]);
    let plan = run(&rest, &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Allocated);
    assert_eq!(shipped_from(&plan), ["PAR"]);
}

#[test]
fn split_policies() {
    let s = stock(&[("A", "BER", 5), ("B", "MUC", 5)]);
    let mut r = order(&[("A", 1), ("B", 1)]);
    r.channel.split = SplitPolicy::Never;
    assert_eq!(
        run(&r, &network(), &s, &[]).outcome,
        Outcome::WaitingForSingleLocation
    );
    r.channel.split = SplitPolicy::AllowIfOrderValueAbove(10_000);
    r.order_value_minor = 10_000;
    assert_eq!(
        run(&r, &network(), &s, &[]).outcome,
        Outcome::WaitingForSingleLocation
    );
    r.order_value_minor = 10_001;
    let plan = run(&r, &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Allocated);
    assert_eq!(plan.shipments.len(), 2);
}

#[test]
fn a_single_shipment_order_picks_the_cheapest_whole_location() {
    let s = stock(&[
        ("A", "BER", 5),
        ("A", "MUC", 5),
        ("B", "MUC", 5),
        ("A", "MAD", 5),
        ("B", "MAD", 5),
    ]);
    let mut r = order(&[("A", 1), ("B", 1)]);
    r.channel.split = SplitPolicy::Never;
    let plan = run(&r, &network(), &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert_eq!(reasons(&plan, "MAD"), [ReasonCode::HigherCost]);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::CannotShipWhole]);
}

#[test]
fn ties_go_to_the_lower_location_code() {
    let locs = vec![
        LocationProfile::warehouse("ZZ", 50.0, 10.0),
        LocationProfile::warehouse("AA", 50.0, 10.0),
    ];
    let s = stock(&[("A", "ZZ", 1), ("A", "AA", 1)]);
    let plan = run(&order(&[("A", 1)]), &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["AA"]);
    assert_eq!(reasons(&plan, "ZZ"), [ReasonCode::TieBreak]);
    // The caller's order of locations does not matter.
    let rev: Vec<_> = locs.into_iter().rev().collect();
    assert_eq!(
        shipped_from(&run(&order(&[("A", 1)]), &rev, &s, &[])),
        ["AA"]
    );
}

#[test]
fn centroid_fallback_for_destinations_without_coordinates() {
    let s = stock(&[("A", "BER", 5), ("A", "MUC", 5)]);
    let mut r = order(&[("A", 1)]);
    r.destination = Destination {
        country: "DE".into(),
        postal_code: Some("80331".into()),
        ..Default::default()
    };
    let plan = run(&r, &network(), &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert!(plan.shipments[0].distance_km.unwrap() < 20.0);
    r.destination.postal_code = Some("10115".into());
    assert_eq!(shipped_from(&run(&r, &network(), &s, &[])), ["BER"]);
    // Unknown everywhere: distance is unknown, priority decides.
    r.destination = Destination::in_country("ZZ");
    let mut locs = network();
    locs[1].priority = 1;
    let plan = run(&r, &locs, &s, &[]);
    assert_eq!(shipped_from(&plan), ["MUC"]);
    assert_eq!(plan.shipments[0].distance_km, None);
}

#[test]
fn the_same_sku_on_two_lines_shares_stock() {
    let s = stock(&[("A", "BER", 3), ("A", "MUC", 1)]);
    let plan = run(&order(&[("A", 2), ("A", 2)]), &network(), &s, &[]);
    assert_eq!(plan.allocated_units(), 4);
    assert_eq!(plan.shipments.len(), 2);
    let used_ber: i64 = plan
        .lines
        .iter()
        .flat_map(|l| &l.allocations)
        .filter(|a| a.location == "BER")
        .map(|a| a.quantity)
        .sum();
    assert_eq!(used_ber, 3);
}

fn rule(name: &str, conditions: Conditions, actions: Actions) -> Rule {
    Rule {
        name: name.into(),
        conditions,
        actions,
        stop_processing: false,
    }
}

#[test]
fn rule_restrict_and_exclude() {
    let s = stock(&[("A", "BER", 5), ("A", "MUC", 5), ("A", "PAR", 5)]);
    let rules = vec![
        rule(
            "only-south",
            Conditions::default(),
            Actions {
                restrict_to_locations: vec!["MUC".into(), "PAR".into(), "MAD".into()],
                ..Default::default()
            },
        ),
        rule(
            "no-munich",
            Conditions::default(),
            Actions {
                exclude_locations: vec!["MUC".into()],
                ..Default::default()
            },
        ),
    ];
    let plan = run(&order(&[("A", 1)]), &network(), &s, &rules);
    assert_eq!(shipped_from(&plan), ["PAR"]);
    assert_eq!(plan.applied_rules, ["only-south", "no-munich"]);
    let ber = &plan.verdict("BER").unwrap().reasons[0];
    assert_eq!(ber.code, ReasonCode::NotInRuleRestriction);
    assert_eq!(ber.rule.as_deref(), Some("only-south"));
    let muc = &plan.verdict("MUC").unwrap().reasons[0];
    assert_eq!(muc.code, ReasonCode::ExcludedByRule);
    assert_eq!(muc.rule.as_deref(), Some("no-munich"));
}

#[test]
fn rule_preference_moves_a_whole_order_but_never_splits_it() {
    let s = stock(&[("A", "BER", 5), ("B", "BER", 5), ("A", "MAD", 5)]);
    let prefer_mad = rule(
        "prefer-madrid",
        Conditions::default(),
        Actions {
            prefer_locations: vec!["MAD".into()],
            ..Default::default()
        },
    );
    let plan = run(
        &order(&[("A", 1)]),
        &network(),
        &s,
        std::slice::from_ref(&prefer_mad),
    );
    assert_eq!(shipped_from(&plan), ["MAD"]);
    assert!(
        plan.verdict("MAD")
            .unwrap()
            .has(ReasonCode::PreferredByRule)
    );
    let plan = run(&order(&[("A", 1), ("B", 1)]), &network(), &s, &[prefer_mad]);
    assert_eq!(shipped_from(&plan), ["BER"]);
}

#[test]
fn rule_requires_single_shipment_for_matching_orders() {
    let s = stock(&[("A", "BER", 5), ("B", "MUC", 5)]);
    let rules = vec![rule(
        "gifts-in-one-box",
        Conditions {
            tags: vec!["gift".into()],
            ..Default::default()
        },
        Actions {
            require_single_shipment: true,
            ..Default::default()
        },
    )];
    let mut r = order(&[("A", 1), ("B", 1)]);
    assert_eq!(run(&r, &network(), &s, &rules).shipments.len(), 2);
    r.tags.push("gift".into());
    let plan = run(&r, &network(), &s, &rules);
    assert_eq!(plan.outcome, Outcome::WaitingForSingleLocation);
    assert!(
        plan.verdict("BER").unwrap().reasons[0]
            .message
            .contains("gifts-in-one-box")
    );
}

#[test]
fn rule_hold_tags_priority_and_service_level() {
    let s = stock(&[("A", "BER", 5)]);
    let rules = vec![
        rule(
            "big-orders",
            Conditions {
                order_value: Some(ordo_routing::ValueRange {
                    min: Some(100_000),
                    max: None,
                }),
                ..Default::default()
            },
            Actions {
                hold: Some("review orders above 1000".into()),
                add_tags: vec!["big".into()],
                set_priority: Some(1),
                set_service_level: Some("express".into()),
                ..Default::default()
            },
        ),
        Rule {
            name: "stop-after-big".into(),
            conditions: Conditions {
                tags: vec!["big".into()],
                ..Default::default()
            },
            actions: Actions::default(),
            stop_processing: true,
        },
        rule(
            "never",
            Conditions::default(),
            Actions {
                set_priority: Some(9),
                ..Default::default()
            },
        ),
    ];
    let mut r = order(&[("A", 1)]);
    r.order_value_minor = 150_000;
    let plan = run(&r, &network(), &s, &rules);
    assert_eq!(plan.hold.as_deref(), Some("review orders above 1000"));
    assert_eq!(plan.added_tags, ["big"]);
    assert_eq!(plan.priority, Some(1));
    assert_eq!(plan.service_level.as_deref(), Some("express"));
    assert_eq!(plan.applied_rules, ["big-orders", "stop-after-big"]);
    // A hold does not take the order's claim on stock away.
    assert_eq!(plan.outcome, Outcome::Allocated);

    r.order_value_minor = 5_000;
    let plan = run(&r, &network(), &s, &rules);
    assert_eq!(plan.hold, None);
    assert_eq!(plan.priority, Some(9));
    assert_eq!(plan.applied_rules, ["never"]);
}

#[test]
fn plans_serialise_with_snake_case_reasons() {
    let s = stock(&[("A", "BER", 5)]);
    let mut locs = network();
    locs[3].active = false;
    let plan = run(&order(&[("A", 1)]), &locs, &s, &[]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["outcome"], "allocated");
    let mad = json["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["location"] == "MAD")
        .unwrap();
    assert_eq!(mad["reasons"][0]["code"], "inactive");
    assert_eq!(mad["reasons"][0]["message"], "location is inactive");
    let req: RoutingRequest = serde_json::from_value(serde_json::json!({
        "lines": [{"sku": "A", "quantity": 1, "handling_classes": ["fragile"]}],
        "destination": {"country": "DE", "postal_code": "10115"},
        "payment_status": "paid",
        "channel": {"code": "web", "split": {"allow_if_order_value_above": 5000}},
    }))
    .unwrap();
    assert_eq!(req.channel.split, SplitPolicy::AllowIfOrderValueAbove(5000));
    assert_eq!(
        req.channel,
        ChannelPolicy {
            code: "web".into(),
            split: SplitPolicy::AllowIfOrderValueAbove(5000),
            allowed_locations: vec![],
        }
    );
}

#[test]
fn every_location_gets_a_verdict() {
    let s = stock(&[("A", "BER", 5), ("A", "MUC", 5)]);
    let mut locs = network();
    locs.push(LocationProfile::warehouse("AMS", 52.37, 4.90));
    let plan = run(&order(&[("A", 1), ("Z", 0)]), &locs, &s, &[]);
    let codes: Vec<_> = plan
        .explanation
        .iter()
        .map(|v| v.location.as_str())
        .collect();
    assert_eq!(codes, ["AMS", "BER", "MAD", "MUC", "PAR"]);
    assert!(plan.explanation.iter().all(|v| !v.reasons.is_empty()));
    assert_eq!(plan.lines[1].backordered, 0);
}

#[test]
fn orders_without_demand_route_to_nothing() {
    let s = stock(&[("A", "BER", 5)]);
    let plan = run(&order(&[("A", 0)]), &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Allocated);
    assert!(plan.shipments.is_empty());
    let plan = run(&order(&[]), &network(), &s, &[]);
    assert!(plan.lines.is_empty());
    let plan = run(&order(&[("Q", 2)]), &network(), &s, &[]);
    assert_eq!(plan.outcome, Outcome::Backordered);
    assert_eq!(reasons(&plan, "BER"), [ReasonCode::OutOfStock]);
}
