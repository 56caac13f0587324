//! Warehouse execution benchmark: a generated day of orders at one location.
//!
//! 1. **Pick path.** The same orders are picked four ways and the walks measured with the
//!    layout's Manhattan metres (start and end at the pack bench): one order at a time in
//!    arrival order with the lines as entered, the same in walk order, carts of several orders
//!    in walk order (`batch`), and the batches split into zone waves (one picker per zone).
//! 2. **Cartonisation.** Every order is cartonised against a stock of box types; the time
//!    per order is reported (mean, p50, p99, max), with the packages, cost and gap to the
//!    lower bound.
//! 3. **Service choice.** Every plan's parcels are offered to four carrier services.
//!
//! Run a release build for meaningful times:
//! `cargo run --release -p ordo-warehouse --bin warehouse-bench -- --out`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use ordo_domain::catalog::{Dimensions, HandlingClass};
use ordo_domain::money::format_amount;
use ordo_warehouse::bins::{BinRecord, Layout, LayoutConfig, Point};
use ordo_warehouse::cartonize::{BoxType, Method, PackItem, cartonize};
use ordo_warehouse::packing::{PackingPolicies, ServiceConstraints};
use ordo_warehouse::picking::{
    CandidateLine, CandidateOrder, PickLimits, PickRequest, PickStrategy, WaveBy, build_pick_lists,
};
use ordo_warehouse::shipping::{
    CarrierService, Cutoff, Parcel, RateBand, ServiceLevel, ShipmentRequest, choose_service,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::macros::{datetime, time};
use time::{Duration, OffsetDateTime};

#[derive(Parser, Debug)]
#[command(about = "Pick paths, cartonisation and service choice on a generated day of orders")]
struct Args {
    /// Orders in the day.
    #[arg(long, default_value_t = 600)]
    orders: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Distinct SKUs stocked at the location.
    #[arg(long, default_value_t = 1_500)]
    skus: usize,
    /// Orders per cart in batch picking.
    #[arg(long, default_value_t = 12)]
    cart_orders: u32,
    /// Timed runs per order; the fastest counts (other work on the machine only adds).
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Also write the report to crates/ordo-warehouse/warehouse-bench.md.
    #[arg(long)]
    out: bool,
}

const ZONES: [&str; 4] = ["A", "B", "C", "D"];
const AISLES: u32 = 8;
const BAYS: u32 = 20;
const LEVELS: [&str; 4] = ["A", "B", "C", "D"];
/// Metres between aisle centre lines, between bays, and between zones.
const AISLE_PITCH: f64 = 3.0;
const BAY_PITCH: f64 = 1.2;
const ZONE_GAP: f64 = 6.0;

struct Sku {
    code: String,
    bin: Option<String>,
    dims: Dimensions,
    weight_g: i64,
    classes: Vec<HandlingClass>,
}

fn layout() -> LayoutConfig {
    let mut bins = Vec::new();
    let zone_width = AISLES as f64 * AISLE_PITCH + ZONE_GAP;
    for (z, zone) in ZONES.iter().enumerate() {
        for aisle in 1..=AISLES {
            for bay in 1..=BAYS {
                for level in LEVELS {
                    bins.push(BinRecord {
                        code: format!("{zone}-{aisle:02}-{bay:02}-{level}"),
                        sequence: None,
                        position: Some(Point {
                            x_m: z as f64 * zone_width + aisle as f64 * AISLE_PITCH,
                            y_m: 2.0 + bay as f64 * BAY_PITCH,
                        }),
                    });
                }
            }
        }
    }
    LayoutConfig {
        bins,
        // The pack bench sits at the front, in the middle of the building.
        start: Some(Point {
            x_m: 2.0 * zone_width,
            y_m: 0.0,
        }),
        ..Default::default()
    }
}

fn catalog(rng: &mut StdRng, n: usize, bins: &[BinRecord]) -> Vec<Sku> {
    let mut free: Vec<&str> = bins.iter().map(|b| b.code.as_str()).collect();
    (0..n)
        .map(|i| {
            let bin = if rng.random_bool(0.02) || free.is_empty() {
                None
            } else {
                Some(
                    free.swap_remove(rng.random_range(0..free.len()))
                        .to_string(),
                )
            };
            let dims = Dimensions {
                length_mm: rng.random_range(60..=380),
                width_mm: rng.random_range(40..=260),
                height_mm: rng.random_range(10..=180),
            };
            let litres = (dims.length_mm * dims.width_mm * dims.height_mm) as f64 / 1e6;
            let density = rng.random_range(0.1..0.9); // kg per litre
            let roll: f64 = rng.random();
            let classes = if roll < 0.08 {
                vec![HandlingClass::Fragile]
            } else if roll < 0.12 {
                vec![HandlingClass::Perishable]
            } else if roll < 0.15 {
                vec![HandlingClass::Hazmat]
            } else {
                vec![]
            };
            Sku {
                code: format!("SKU-{i:05}"),
                bin,
                dims,
                weight_g: ((litres * density * 1000.0) as i64).max(20),
                classes,
            }
        })
        .collect()
}

fn boxes() -> Vec<BoxType> {
    let b = |code: &str, l, w, h, max_kg: i64, tare, cost, insulated: bool| BoxType {
        code: code.into(),
        inner: Dimensions {
            length_mm: l,
            width_mm: w,
            height_mm: h,
        },
        outer: Some(Dimensions {
            length_mm: l + 10,
            width_mm: w + 10,
            height_mm: h + 10,
        }),
        max_weight_g: max_kg * 1000,
        tare_g: tare,
        cost_minor: cost,
        features: if insulated {
            vec!["insulated".into()]
        } else {
            vec![]
        },
    };
    vec![
        b("XS", 220, 160, 90, 5, 80, 35, false),
        b("S", 300, 220, 140, 10, 150, 48, false),
        b("M", 400, 300, 220, 20, 280, 72, false),
        b("L", 500, 380, 320, 25, 450, 110, false),
        b("XL", 640, 440, 420, 30, 700, 165, false),
        b("COOL-S", 320, 240, 220, 12, 600, 390, true),
        b("COOL-L", 480, 360, 320, 20, 1100, 620, true),
    ]
}

fn services() -> Vec<CarrierService> {
    let svc = |code: &str, level, transit, weekend, base: i64| CarrierService {
        carrier: "ACME".into(),
        code: code.into(),
        name: code.into(),
        level,
        transit_days: transit,
        weekend_delivery: weekend,
        max_weight_g: 31_500,
        max_dimensions: Some(Dimensions {
            length_mm: 1200,
            width_mm: 600,
            height_mm: 600,
        }),
        volumetric_divisor: Some(5_000),
        rates: ["1", "2", "3"]
            .iter()
            .enumerate()
            .flat_map(|(z, zone)| {
                [2_000, 5_000, 10_000, 31_500]
                    .into_iter()
                    .enumerate()
                    .map(move |(w, max)| RateBand {
                        zone: zone.to_string(),
                        max_weight_g: max,
                        price_minor: base + 120 * w as i64 + 80 * z as i64,
                    })
            })
            .collect(),
        cutoffs: vec![Cutoff {
            location: "WH1".into(),
            time: time!(16:30),
        }],
    };
    vec![
        svc("ground", ServiceLevel::Ground, 3, false, 390),
        svc("standard", ServiceLevel::Standard, 2, false, 490),
        svc("express", ServiceLevel::Express, 1, false, 890),
        svc("overnight", ServiceLevel::Overnight, 1, true, 1390),
    ]
}

fn orders(rng: &mut StdRng, n: usize, skus: &[Sku]) -> Vec<CandidateOrder> {
    // Popularity: a long tail, as in most shops (weight 1 / (rank + 10)).
    let mut cumulative = Vec::with_capacity(skus.len());
    let mut total = 0.0;
    for r in 0..skus.len() {
        total += 1.0 / (r as f64 + 10.0);
        cumulative.push(total);
    }
    let pick_sku = |rng: &mut StdRng| {
        let x = rng.random::<f64>() * total;
        cumulative.partition_point(|c| *c < x).min(skus.len() - 1)
    };
    // A Friday: perishables must not sit in a depot over the weekend.
    let day: OffsetDateTime = datetime!(2026-03-06 07:00 UTC);
    let mut times: Vec<i64> = (0..n).map(|_| rng.random_range(0..10 * 3600)).collect();
    times.sort_unstable();
    times
        .into_iter()
        .enumerate()
        .map(|(i, secs)| {
            let roll: f64 = rng.random();
            let line_count = if roll < 0.55 {
                1
            } else if roll < 0.80 {
                2
            } else if roll < 0.98 {
                rng.random_range(3..=5)
            } else {
                rng.random_range(8..=12)
            };
            let mut lines: Vec<CandidateLine> = Vec::new();
            while lines.len() < line_count {
                let s = &skus[pick_sku(rng)];
                if lines.iter().any(|l| l.sku == s.code) {
                    continue;
                }
                lines.push(CandidateLine {
                    sku: s.code.clone(),
                    quantity: if rng.random_bool(0.8) {
                        1
                    } else {
                        rng.random_range(2..=3)
                    },
                    unit_weight_g: s.weight_g,
                    bin: s.bin.clone(),
                });
            }
            let p: f64 = rng.random();
            CandidateOrder {
                id: format!("SO-{:06}-1", i + 1),
                order_number: format!("SO-{:06}", i + 1),
                priority: if p < 0.85 {
                    0
                } else if p < 0.95 {
                    1
                } else {
                    2
                },
                placed_at: day + Duration::seconds(secs),
                channel: "web".into(),
                service_level: Some("standard".into()),
                tags: vec![],
                cutoff_at: None,
                lines,
            }
        })
        .collect()
}

#[derive(Default)]
struct Walk {
    trips: usize,
    metres: f64,
    steps: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let config = layout();
    let bin_count = config.bins.len();
    let skus = catalog(&mut rng, args.skus, &config.bins);
    let layout = Layout::new(config).expect("a valid generated layout");
    let day = orders(&mut rng, args.orders, &skus);
    let sku_index: HashMap<&str, &Sku> = skus.iter().map(|s| (s.code.as_str(), s)).collect();
    let units: i64 = day.iter().map(|o| o.units()).sum();

    // 1. Pick paths.
    let mut walks: Vec<(&str, Walk)> = Vec::new();
    let mut one_by_one = |name: &'static str, sort: bool| {
        let mut w = Walk::default();
        for o in &day {
            let mut bins: Vec<&str> = o.lines.iter().filter_map(|l| l.bin.as_deref()).collect();
            if sort {
                bins.sort_by_cached_key(|b| layout.walk_key(Some(b)));
            }
            let p = layout.path_length(bins);
            w.trips += 1;
            w.metres += p.metres.unwrap_or(0.0);
            w.steps += p.steps;
        }
        walks.push((name, w));
    };
    one_by_one("one order per trip, arrival order, lines as entered", false);
    one_by_one("one order per trip, arrival order, walk order", true);
    let limits = PickLimits {
        max_orders: Some(args.cart_orders),
        max_units: Some(40),
        max_weight_g: Some(25_000),
    };
    let started = Instant::now();
    let mut list_builds = 0u32;
    let mut oversize_trips = 0u32;
    for (name, strategy) in [
        (
            "batch carts (priority, then oldest), walk order",
            PickStrategy::Batch,
        ),
        (
            "batch carts split into zone waves, walk order",
            PickStrategy::Wave { by: WaveBy::Zone },
        ),
    ] {
        let mut w = Walk::default();
        let mut remaining = day.clone();
        while !remaining.is_empty() {
            let mut request = PickRequest {
                orders: remaining.clone(),
                filters: Default::default(),
                limits: limits.clone(),
                strategy,
            };
            let mut plan = build_pick_lists(&request, &layout).expect("valid generated orders");
            if plan.selected.is_empty() {
                // The next order is bigger than a cart: it gets a trip of its own.
                oversize_trips += 1;
                request.limits = PickLimits {
                    max_orders: Some(1),
                    ..Default::default()
                };
                plan = build_pick_lists(&request, &layout).expect("valid generated orders");
            }
            list_builds += 1;
            for l in &plan.lists {
                w.trips += 1;
                w.metres += l.path.metres.unwrap_or(0.0);
                w.steps += l.path.steps;
            }
            remaining.retain(|o| !plan.selected.contains(&o.id));
        }
        walks.push((name, w));
    }
    let build_us = started.elapsed().as_secs_f64() * 1e6 / list_builds as f64;

    // 2. Cartonisation and 3. service choice.
    let policies = PackingPolicies::default();
    let box_types = boxes();
    let carrier_services = services();
    let mut carton_us = Vec::with_capacity(day.len());
    let mut service_us = Vec::with_capacity(day.len());
    let (mut exact, mut heuristic, mut packages, mut cost, mut bound) = (0, 0, 0usize, 0i64, 0i64);
    let (mut failed, mut no_service, mut held, mut shipments) = (0, 0, 0, 0usize);
    let mut worst_gap = 0.0f64;
    for (i, o) in day.iter().enumerate() {
        let items: Vec<PackItem> = o
            .lines
            .iter()
            .map(|l| {
                let s = sku_index[l.sku.as_str()];
                PackItem {
                    sku: s.code.clone(),
                    dimensions: s.dims.clone(),
                    weight_g: s.weight_g,
                    handling_classes: s.classes.clone(),
                    quantity: l.quantity,
                }
            })
            .collect();
        // The fastest of a few runs: the machine may be busy with other work.
        let mut fastest = f64::INFINITY;
        let mut plan = cartonize(&items, &box_types, &policies);
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            plan = cartonize(&items, &box_types, &policies);
            fastest = fastest.min(t.elapsed().as_secs_f64() * 1e6);
        }
        carton_us.push(fastest);
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:?}", o.id);
                continue;
            }
        };
        match plan.method {
            Method::Exact => exact += 1,
            Method::Heuristic => heuristic += 1,
        }
        packages += plan.packages.len();
        cost += plan.cost_minor;
        bound += plan.lower_bound_minor;
        if plan.lower_bound_minor > 0 {
            worst_gap = worst_gap.max(plan.cost_minor as f64 / plan.lower_bound_minor as f64 - 1.0);
        }
        // Packages that need the same kind of service travel together (a perishable box and
        // a hazmat box of one order go by different services).
        let mut groups: Vec<(ServiceConstraints, Vec<Parcel>)> = Vec::new();
        for p in &plan.packages {
            match groups.iter_mut().find(|g| g.0 == p.service) {
                Some(g) => g.1.push(p.parcel()),
                None => groups.push((p.service.clone(), vec![p.parcel()])),
            }
        }
        let requests: Vec<ShipmentRequest> = groups
            .into_iter()
            .map(|(constraints, parcels)| ShipmentRequest {
                location: "WH1".into(),
                parcels,
                destination_zone: ["1", "2", "3"][i % 3].into(),
                ready_at: o.placed_at + Duration::hours(2),
                promised_by: Some(o.placed_at.date() + Duration::days(4)),
                constraints,
                order_level: None,
            })
            .collect();
        shipments += requests.len();
        let choose_all = || -> Vec<_> {
            requests
                .iter()
                .map(|r| choose_service(&carrier_services, r).chosen)
                .collect()
        };
        let mut fastest = f64::INFINITY;
        let mut chosen = choose_all();
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            chosen = choose_all();
            fastest = fastest.min(t.elapsed().as_secs_f64() * 1e6);
        }
        service_us.push(fastest);
        if chosen.iter().any(|c| c.is_none()) {
            no_service += 1;
        }
        if chosen.iter().flatten().any(|q| q.held_for_weekend) {
            held += 1;
        }
    }
    carton_us.sort_by(f64::total_cmp);
    service_us.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    let mut md = String::new();
    let _ = writeln!(md, "# Warehouse execution benchmark\n");
    let _ = writeln!(
        md,
        "{} orders ({} units) over one day at one location; {} SKUs in {} bins ({} zones × {} aisles × {} bays × {} levels, S-shaped walk, Manhattan metres from and back to the pack bench); seed {}. Build: {}.\n",
        day.len(),
        units,
        skus.len(),
        bin_count,
        ZONES.len(),
        AISLES,
        BAYS,
        LEVELS.len(),
        args.seed,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let _ = writeln!(md, "## Pick path\n");
    let _ = writeln!(
        md,
        "Carts hold at most {} orders, 40 units and 25 kg (an order larger than a cart is picked alone: {} such trips per strategy); wave lists are one trip per zone.\n",
        args.cart_orders,
        oversize_trips / 2
    );
    let _ = writeln!(
        md,
        "| strategy | trips | metres walked | metres per order | bin steps | vs one by one as entered |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    let base = walks[0].1.metres;
    for (name, w) in &walks {
        let _ = writeln!(
            md,
            "| {name} | {} | {:.0} | {:.1} | {} | {:+.1} % |",
            w.trips,
            w.metres,
            w.metres / day.len() as f64,
            w.steps,
            (w.metres / base - 1.0) * 100.0
        );
    }
    let _ = writeln!(
        md,
        "\nMetres are Manhattan distances between bin positions; they do not route around rack ends, which flatters the zig-zag of unsorted walks most, so the savings shown are on the low side. Bin steps count positions passed along the whole {bin_count}-bin walk sequence."
    );
    let _ = writeln!(
        md,
        "\nBuilding one cart's pick lists from the open orders takes {build_us:.0} µs on average.\n"
    );
    let _ = writeln!(md, "## Cartonisation and service choice\n");
    let _ = writeln!(
        md,
        "{} box types (2 insulated); default packing policies; exact up to {} units, heuristic beyond.\n",
        box_types.len(),
        ordo_warehouse::cartonize::MAX_EXACT_UNITS
    );
    let _ = writeln!(md, "| measure | value |");
    let _ = writeln!(md, "|---|---:|");
    let rows: Vec<(&str, String)> = vec![
        (
            "orders cartonised (exact / heuristic)",
            format!("{exact} / {heuristic}"),
        ),
        ("orders refused (a SKU fits no box)", failed.to_string()),
        (
            "cartonisation time per order, mean",
            format!("{:.1} µs", mean(&carton_us)),
        ),
        (
            "cartonisation time per order, p50",
            format!("{:.1} µs", percentile(&carton_us, 50.0)),
        ),
        (
            "cartonisation time per order, p99",
            format!("{:.1} µs", percentile(&carton_us, 99.0)),
        ),
        (
            "cartonisation time per order, max",
            format!("{:.1} µs", percentile(&carton_us, 100.0)),
        ),
        ("packages", packages.to_string()),
        ("box cost, total", format_amount(cost, 2)),
        (
            "box cost vs summed lower bounds",
            format!(
                "{:+.2} %",
                (cost as f64 / bound.max(1) as f64 - 1.0) * 100.0
            ),
        ),
        (
            "largest gap to an order's lower bound",
            format!("{:+.1} %", worst_gap * 100.0),
        ),
        (
            "shipments (packages grouped by the service they need)",
            shipments.to_string(),
        ),
        (
            "service choice time per order, mean",
            format!("{:.1} µs", mean(&service_us)),
        ),
        (
            "service choice time per order, p99",
            format!("{:.1} µs", percentile(&service_us, 99.0)),
        ),
        (
            "orders with a shipment no allowed service delivers by the promise",
            no_service.to_string(),
        ),
        (
            "orders held to avoid a weekend in transit",
            held.to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nCommand: `cargo run --release -p ordo-warehouse --bin warehouse-bench -- --orders {} --seed {}{}`",
        args.orders,
        args.seed,
        if args.out { " --out" } else { "" }
    );
    print!("{md}");
    if args.out {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/warehouse-bench.md");
        if let Err(e) = std::fs::write(path, &md) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {path}");
    }
    ExitCode::SUCCESS
}
