use super::*;
use crate::packing::PackingPolicy;
use crate::shipping::ServiceLevel;
use HandlingClass::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn d(l: i64, w: i64, h: i64) -> Dimensions {
    Dimensions {
        length_mm: l,
        width_mm: w,
        height_mm: h,
    }
}

fn bx(code: &str, inner: Dimensions, cost: i64) -> BoxType {
    BoxType {
        code: code.into(),
        inner,
        outer: None,
        max_weight_g: 20_000,
        tare_g: 100,
        cost_minor: cost,
        features: vec![],
    }
}

fn item(sku: &str, dims: Dimensions, weight_g: i64, quantity: i64) -> PackItem {
    PackItem {
        sku: sku.into(),
        dimensions: dims,
        weight_g,
        handling_classes: vec![],
        quantity,
    }
}

fn with(mut i: PackItem, classes: &[HandlingClass]) -> PackItem {
    i.handling_classes = classes.to_vec();
    i
}

fn boxes() -> Vec<BoxType> {
    vec![
        bx("S", d(200, 150, 100), 100),
        bx("M", d(300, 200, 150), 150),
        bx("L", d(400, 300, 250), 250),
    ]
}

/// Checks everything a plan promises; panics with the reason.
fn check_plan(
    plan: &PackingPlan,
    items: &[PackItem],
    boxes: &[BoxType],
    policies: &PackingPolicies,
) {
    let mut want: BTreeMap<&str, i64> = BTreeMap::new();
    for it in items {
        *want.entry(it.sku.as_str()).or_default() += it.quantity;
    }
    let mut got: BTreeMap<&str, i64> = BTreeMap::new();
    let find = |sku: &str| items.iter().find(|i| i.sku == sku).unwrap();
    for p in &plan.packages {
        let b = boxes
            .iter()
            .find(|b| b.code == p.box_code)
            .expect("a known box");
        assert_eq!(p.cost_minor, b.cost_minor);
        let inner = dims(&b.inner);
        // Placements: right size, inside the box with padding, no overlaps.
        let mut env: Vec<Pos> = Vec::new();
        for pl in &p.placements {
            let it = find(&pl.sku);
            let mut a = [pl.length_mm, pl.width_mm, pl.height_mm];
            let mut e = dims(&it.dimensions);
            a.sort_unstable();
            e.sort_unstable();
            assert_eq!(a, e, "{} is placed at its own size", pl.sku);
            assert_eq!(pl.padding_mm, policies.padding_mm(&it.handling_classes));
            let pad = pl.padding_mm;
            env.push(Pos {
                at: [pl.x_mm - pad, pl.y_mm - pad, pl.z_mm - pad],
                size: [
                    pl.length_mm + 2 * pad,
                    pl.width_mm + 2 * pad,
                    pl.height_mm + 2 * pad,
                ],
            });
            *got.entry(find(&pl.sku).sku.as_str()).or_default() += 1;
        }
        let sizes: Vec<[i64; 3]> = env.iter().map(|e| e.size).collect();
        assert!(valid_placement(inner, &sizes, &env), "placements of {p:?}");
        let per_sku: i64 = p.items.iter().map(|i| i.quantity).sum();
        assert_eq!(per_sku as usize, p.placements.len());
        // Weight.
        let content: i64 = p.placements.iter().map(|pl| find(&pl.sku).weight_g).sum();
        assert_eq!(p.content_weight_g, content);
        let classes: Vec<HandlingClass> = p
            .placements
            .iter()
            .flat_map(|pl| find(&pl.sku).handling_classes.clone())
            .collect();
        let rules = policies.rules(&classes);
        assert_eq!(p.gross_weight_g, content + b.tare_g + rules.added_weight_g);
        assert!(p.gross_weight_g <= b.max_weight_g, "over max weight");
        // Separation and box features.
        for x in &p.placements {
            for y in &p.placements {
                let (a, c) = (find(&x.sku), find(&y.sku));
                if std::ptr::eq(x, y) {
                    continue;
                }
                assert!(
                    policies
                        .can_share((&a.sku, &a.handling_classes), (&c.sku, &c.handling_classes)),
                    "{} and {} share a box",
                    a.sku,
                    c.sku
                );
            }
        }
        assert!(rules.box_features.iter().all(|f| b.features.contains(f)));
    }
    assert_eq!(got, want, "every unit packed exactly once");
    assert_eq!(
        plan.cost_minor,
        plan.packages.iter().map(|p| p.cost_minor).sum::<i64>()
    );
    assert!(
        plan.cost_minor >= plan.lower_bound_minor,
        "{} < bound {}",
        plan.cost_minor,
        plan.lower_bound_minor
    );
}

fn run(items: &[PackItem], boxes: &[BoxType], policies: &PackingPolicies) -> PackingPlan {
    let plan = cartonize(items, boxes, policies).unwrap();
    check_plan(&plan, items, boxes, policies);
    plan
}

fn codes(plan: &PackingPlan) -> Vec<&str> {
    let mut c: Vec<&str> = plan.packages.iter().map(|p| p.box_code.as_str()).collect();
    c.sort();
    c
}

#[test]
fn one_item_takes_the_cheapest_box_it_fits() {
    let p = PackingPolicies::default();
    let plan = run(&[item("A", d(100, 100, 50), 500, 1)], &boxes(), &p);
    assert_eq!(codes(&plan), ["S"]);
    assert_eq!(plan.method, Method::Exact);
    assert_eq!(plan.lower_bound_minor, 100);
    assert_eq!(plan.packages[0].gross_weight_g, 600);
}

#[test]
fn items_are_turned_to_fit() {
    // 140 tall does not fit S's 100 height standing, but fits lying down.
    let plan = run(
        &[item("A", d(60, 60, 140), 100, 1)],
        &boxes(),
        &PackingPolicies::default(),
    );
    assert_eq!(codes(&plan), ["S"]);
    let pl = &plan.packages[0].placements[0];
    assert!(pl.height_mm <= 100);
}

#[test]
fn volume_alone_is_not_proof() {
    // Two 160 mm cubes: 8.2 dm³ fit M's 9 dm³ by volume, but not side by side in 300×200×150.
    let plan = run(
        &[item("C", d(160, 160, 140), 100, 2)],
        &boxes(),
        &PackingPolicies::default(),
    );
    assert_eq!(codes(&plan), ["L"]);
    // Three M-sized items: L holds two side by side (400 ≥ 2 × 200? no: 300 × 200 × 150
    // twice needs 300 × 400 × 150 → fits 400 × 300 × 250 turned).
    let plan = run(
        &[item("M", d(300, 200, 150), 100, 3)],
        &boxes(),
        &PackingPolicies::default(),
    );
    assert_eq!(plan.cost_minor, 250 + 150);
}

#[test]
fn fragile_padding_needs_room() {
    let p = PackingPolicies::default();
    // 170 × 120 × 70 fits S bare, but with 20 mm on every side it is 210 × 160 × 110.
    let plain = run(&[item("G", d(170, 120, 70), 100, 1)], &boxes(), &p);
    assert_eq!(codes(&plain), ["S"]);
    let glass = run(
        &[with(item("G", d(170, 120, 70), 100, 1), &[Fragile])],
        &boxes(),
        &p,
    );
    assert_eq!(codes(&glass), ["M"]);
    let pkg = &glass.packages[0];
    assert_eq!(pkg.markings, ["FRAGILE"]);
    assert_eq!(pkg.materials, ["bubble_wrap"]);
    assert!(pkg.instructions.iter().any(|i| i.contains("20 mm")));
    let pl = &pkg.placements[0];
    assert_eq!(pl.padding_mm, 20);
    assert!(pl.x_mm >= 20 && pl.y_mm >= 20 && pl.z_mm >= 20);
}

#[test]
fn weight_counts_the_tare() {
    let mut b = boxes();
    b[0].max_weight_g = 1_000;
    // 950 g + 100 g tare > 1000 g: S is out although the item fits.
    let plan = run(
        &[item("H", d(50, 50, 50), 950, 1)],
        &b,
        &PackingPolicies::default(),
    );
    assert_eq!(codes(&plan), ["M"]);
    // Two of 460 g: 920 g + tare is over S's limit, and one M is cheaper than two S.
    let plan = run(
        &[item("H", d(50, 50, 50), 460, 2)],
        &b,
        &PackingPolicies::default(),
    );
    assert_eq!(codes(&plan), ["M"]);
}

#[test]
fn hazmat_travels_alone_and_fragile_never_with_it() {
    let p = PackingPolicies::default();
    let items = [
        with(item("AERO", d(60, 60, 150), 300, 2), &[Hazmat]),
        with(item("LAMP", d(80, 80, 80), 300, 1), &[Fragile]),
        with(item("BATT", d(40, 40, 40), 100, 1), &[Hazmat]),
        item("SOCK", d(100, 80, 30), 100, 1),
    ];
    let plan = run(&items, &boxes(), &p);
    // AERO×2 together, BATT alone, LAMP + SOCK together.
    assert_eq!(plan.packages.len(), 3);
    let hazmat: Vec<&Package> = plan
        .packages
        .iter()
        .filter(|p| p.handling_classes.contains(&Hazmat))
        .collect();
    assert_eq!(hazmat.len(), 2);
    for h in hazmat {
        assert_eq!(h.items.len(), 1);
        assert_eq!(h.service.service_levels, Some(vec![ServiceLevel::Ground]));
    }
}

#[test]
fn perishables_need_an_insulated_box() {
    let p = PackingPolicies::default();
    let items = [with(item("FISH", d(100, 100, 50), 500, 1), &[Perishable])];
    let err = cartonize(&items, &boxes(), &p).unwrap_err();
    assert_eq!(
        err,
        Problem::invalid("items[0]", "FISH needs a box that is insulated")
    );
    let mut b = boxes();
    let mut cool = bx("COOL", d(300, 200, 200), 600);
    cool.features = vec!["insulated".into()];
    b.push(cool);
    let mut p2 = p.clone();
    p2.policies[1].added_weight_g = 400;
    let plan = run(&items, &b, &p2);
    assert_eq!(codes(&plan), ["COOL"]);
    let pkg = &plan.packages[0];
    assert_eq!(pkg.gross_weight_g, 500 + 100 + 400);
    assert!(pkg.service.no_weekend_transit);
    assert_eq!(pkg.parcel().weight_g, 1_000);
    assert_eq!(pkg.parcel().dimensions, d(300, 200, 200));
}

#[test]
fn refuses_what_no_box_can_take() {
    let p = PackingPolicies::default();
    let err = cartonize(&[item("BIG", d(500, 100, 100), 1, 1)], &boxes(), &p).unwrap_err();
    assert_eq!(
        err,
        Problem::invalid("items[0]", "BIG is larger than every suitable box")
    );
    let err = cartonize(
        &[with(item("V", d(360, 290, 200), 1, 1), &[Fragile])],
        &boxes(),
        &p,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Problem::invalid(
            "items[0]",
            "V is larger than every suitable box with 20 mm padding"
        )
    );
    let err = cartonize(&[item("LEAD", d(10, 10, 10), 30_000, 1)], &boxes(), &p).unwrap_err();
    assert_eq!(
        err,
        Problem::invalid("items[0]", "LEAD is heavier than any suitable box takes")
    );
    let Err(Problem::Invalid(f)) = cartonize(&[item("", d(0, 1, 1), -1, 0)], &[], &p) else {
        panic!()
    };
    let fields: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "items[0].sku",
            "items[0].dimensions",
            "items[0].weight_g",
            "items[0].quantity",
            "boxes"
        ]
    );
    assert_eq!(run(&[], &boxes(), &p).packages.len(), 0);
}

#[test]
fn large_orders_use_the_heuristic_and_stay_valid() {
    let p = PackingPolicies::default();
    let items = [
        item("BOOK", d(240, 170, 30), 600, 12),
        with(item("MUG", d(120, 90, 100), 350, 6), &[Fragile]),
        with(item("SPRAY", d(60, 60, 200), 250, 3), &[Hazmat]),
        item("TEE", d(250, 200, 20), 180, 5),
    ];
    let plan = run(&items, &boxes(), &p);
    assert_eq!(plan.method, Method::Heuristic);
    let bs = boxes();
    let mut s = Solver::new(&items, &bs, &p);
    let n = s.kinds.len();
    let mut singles = 0;
    for i in 0..n {
        let mut c = vec![0u16; n];
        c[i] = 1;
        let b = s.cheapest(&c).unwrap();
        singles += s.kinds[i].quantity as i64 * s.cost(b);
    }
    assert!(plan.cost_minor <= singles);
    // 12 books of 240 × 170 × 30 stack in L twice over; the whole order needs few boxes.
    assert!(plan.packages.len() <= 6, "{:?}", codes(&plan));
}

#[test]
fn many_identical_units_stack() {
    let plan = run(
        &[item("CD", d(142, 125, 10), 80, 40)],
        &boxes(),
        &PackingPolicies::none(),
    );
    // 40 cases of 10 mm fit in four stacks of 10 in one L box, or fewer smaller boxes.
    assert!(plan.cost_minor <= 250, "{:?}", codes(&plan));
}

#[test]
fn line_order_does_not_change_the_plan() {
    let p = PackingPolicies::default();
    let a = [
        item("A", d(100, 100, 100), 100, 2),
        with(item("B", d(50, 50, 50), 100, 1), &[Fragile]),
        item("C", d(150, 100, 50), 100, 1),
    ];
    let mut b = a.clone();
    b.reverse();
    assert_eq!(cartonize(&a, &boxes(), &p), cartonize(&b, &boxes(), &p));
}

#[test]
fn plan_serialises() {
    let plan = run(
        &[item("A", d(100, 100, 50), 500, 1)],
        &boxes(),
        &PackingPolicies::default(),
    );
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(v["method"], "exact");
    assert_eq!(v["packages"][0]["box_code"], "S");
    let back: PackingPlan = serde_json::from_value(v).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn guillotine_cuts_partition_the_space() {
    let sp = Space {
        o: [1, 2, 3],
        s: [10, 20, 30],
    };
    for p in PERMS {
        let pieces = cut(sp, [4, 5, 6], p);
        let total: i128 = pieces.iter().map(|x| volume(x.s)).sum::<i128>() + volume([4, 5, 6]);
        assert_eq!(total, volume(sp.s));
        let mut all: Vec<Pos> = pieces.iter().map(|x| Pos { at: x.o, size: x.s }).collect();
        all.push(Pos {
            at: sp.o,
            size: [4, 5, 6],
        });
        let shifted: Vec<Pos> = all
            .iter()
            .map(|x| Pos {
                at: [x.at[0] - 1, x.at[1] - 2, x.at[2] - 3],
                size: x.size,
            })
            .collect();
        let sizes: Vec<[i64; 3]> = shifted.iter().map(|x| x.size).collect();
        assert!(valid_placement(sp.s, &sizes, &shifted));
    }
}

// --- properties ---------------------------------------------------------------------------

/// The reference: every set partition of the units, each block in its cheapest box that
/// passes the same fit test. Exponential; only for ≤ 8 units.
fn brute_force(items: &[PackItem], boxes: &[BoxType], policies: &PackingPolicies) -> Option<i64> {
    let mut s = Solver::new(items, boxes, policies);
    let units: Vec<usize> = s
        .kinds
        .iter()
        .enumerate()
        .flat_map(|(k, kind)| std::iter::repeat_n(k, kind.quantity))
        .collect();
    fn go(
        s: &mut Solver,
        units: &[usize],
        i: usize,
        blocks: &mut Vec<Vec<usize>>,
        best: &mut Option<i64>,
    ) {
        if i == units.len() {
            let mut total = 0;
            for b in blocks.iter() {
                let c = s.counts_of(b);
                let mut cheapest: Option<i64> = None;
                for bx in 0..s.boxes.len() {
                    if s.fits(&c, bx) {
                        let cost = s.boxes[bx].cost_minor;
                        cheapest = Some(cheapest.map_or(cost, |x: i64| x.min(cost)));
                    }
                }
                match cheapest {
                    Some(c) => total += c,
                    None => return,
                }
            }
            if best.is_none_or(|b| total < b) {
                *best = Some(total);
            }
            return;
        }
        for k in 0..blocks.len() {
            blocks[k].push(units[i]);
            go(s, units, i + 1, blocks, best);
            blocks[k].pop();
        }
        blocks.push(vec![units[i]]);
        go(s, units, i + 1, blocks, best);
        blocks.pop();
    }
    let mut best = None;
    go(&mut s, &units, 0, &mut Vec::new(), &mut best);
    if units.is_empty() {
        best = Some(0);
    }
    best
}

fn arb_classes() -> impl Strategy<Value = Vec<HandlingClass>> {
    prop_oneof![
        6 => Just(vec![]),
        2 => Just(vec![Fragile]),
        1 => Just(vec![Perishable]),
        1 => Just(vec![Hazmat]),
        1 => Just(vec![Fragile, Perishable]),
    ]
}

fn arb_items(max_units: usize) -> impl Strategy<Value = Vec<PackItem>> {
    let it = (
        20i64..220,
        20i64..220,
        10i64..160,
        10i64..4000,
        arb_classes(),
        1i64..4,
    );
    prop::collection::vec(it, 1..5).prop_map(move |v| {
        let mut left = max_units as i64;
        let mut out = Vec::new();
        for (i, (l, w, h, g, classes, q)) in v.into_iter().enumerate() {
            let q = q.min(left);
            if q == 0 {
                break;
            }
            left -= q;
            out.push(PackItem {
                sku: format!("S{i}"),
                dimensions: d(l, w, h),
                weight_g: g,
                handling_classes: classes,
                quantity: q,
            });
        }
        out
    })
}

fn arb_boxes() -> impl Strategy<Value = Vec<BoxType>> {
    let b = (
        100i64..450,
        80i64..350,
        60i64..300,
        2_000i64..15_000,
        20i64..400,
        50i64..900,
        prop::bool::weighted(0.3),
    );
    prop::collection::vec(b, 1..4).prop_map(|v| {
        let mut out: Vec<BoxType> = v
            .into_iter()
            .enumerate()
            .map(|(i, (l, w, h, max, tare, cost, insulated))| BoxType {
                code: format!("B{i}"),
                inner: d(l, w, h),
                outer: None,
                max_weight_g: max,
                tare_g: tare,
                cost_minor: cost,
                features: if insulated {
                    vec!["insulated".into()]
                } else {
                    vec![]
                },
            })
            .collect();
        // A big, dear box so every unit fits somewhere on its own.
        out.push(BoxType {
            code: "XL".into(),
            inner: d(600, 600, 600),
            outer: None,
            max_weight_g: 40_000,
            tare_g: 800,
            cost_minor: 2_000,
            features: vec!["insulated".into()],
        });
        out
    })
}

fn policies_with_ice() -> PackingPolicies {
    let mut p = PackingPolicies::default();
    p.policies.push(PackingPolicy::plain(Oversize));
    p.policies[1].added_weight_g = 300;
    p
}

proptest! {
    /// On small orders the exact method costs exactly what exhaustive enumeration of all
    /// partitions and boxes finds, and its plan keeps every rule.
    #[test]
    fn exact_equals_brute_force(items in arb_items(MAX_EXACT_UNITS), boxes in arb_boxes()) {
        let p = policies_with_ice();
        let plan = cartonize(&items, &boxes, &p).unwrap();
        check_plan(&plan, &items, &boxes, &p);
        prop_assert_eq!(plan.method, Method::Exact);
        prop_assert_eq!(Some(plan.cost_minor), brute_force(&items, &boxes, &p));
        // The heuristic, run on the same small order, never beats the optimum.
        let mut s = Solver::new(&items, &boxes, &p);
        let units: Vec<usize> = s.kinds.iter().enumerate().flat_map(|(k, kind)| std::iter::repeat_n(k, kind.quantity)).collect();
        let h: i64 = s.heuristic(&units).iter().map(|(_, b)| s.cost(*b)).sum();
        prop_assert!(h >= plan.cost_minor);
    }

    /// Larger orders: the heuristic keeps every rule, never beats the lower bound, and never
    /// costs more than one unit per box.
    #[test]
    fn heuristic_plans_are_valid(items in arb_items(30), boxes in arb_boxes()) {
        let p = policies_with_ice();
        let plan = cartonize(&items, &boxes, &p).unwrap();
        check_plan(&plan, &items, &boxes, &p);
        let mut s = Solver::new(&items, &boxes, &p);
        let units: Vec<usize> = s.kinds.iter().enumerate().flat_map(|(k, kind)| std::iter::repeat_n(k, kind.quantity)).collect();
        let singles: i64 = units.iter().map(|&u| { let c = s.counts_of(&[u]); let b = s.cheapest(&c).unwrap(); s.cost(b) }).sum();
        prop_assert!(plan.cost_minor <= singles);
    }

    /// Placement never returns an arrangement that leaves the box or overlaps.
    #[test]
    fn placements_are_sound(
        inner in (50i64..400, 50i64..400, 50i64..400),
        items in prop::collection::vec((10i64..250, 10i64..250, 10i64..250), 1..12),
    ) {
        let inner = [inner.0, inner.1, inner.2];
        let items: Vec<[i64; 3]> = items.into_iter().map(|(a, b, c)| [a, b, c]).collect();
        if let Some(p) = place(inner, &items) {
            prop_assert!(valid_placement(inner, &items, &p));
        }
        // One item alone is placed exactly when some rotation fits.
        let one = [items[0]];
        let mut a = items[0];
        let mut b = inner;
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(place(inner, &one).is_some(), fits(a, b));
    }

    /// Identical cubes that tile the box exactly are always found (the guillotine passes
    /// are complete for such grids).
    #[test]
    fn exact_grids_are_found(nx in 1i64..4, ny in 1i64..4, nz in 1i64..4, s in 10i64..60) {
        let inner = [nx * s, ny * s, nz * s];
        let items = vec![[s, s, s]; (nx * ny * nz) as usize];
        let p = place(inner, &items);
        prop_assert!(p.is_some());
        prop_assert!(valid_placement(inner, &items, &p.unwrap()));
    }
}
