//! Cartonisation: the cheapest set of boxes that holds an order.
//!
//! # What counts as "fits"
//!
//! A set of units fits a box when, together:
//!
//! * every pair of units may share a package under the [`PackingPolicies`] (`never_with`,
//!   isolation: hazmat only with units of its own SKU, fragile never with hazmat);
//! * the box has every feature the classes inside ask for (perishable: `insulated`);
//! * contents + tare + the policies' added weight (ice packs) ≤ the box's maximum weight;
//! * the units, each grown by its class padding on all six sides, can be **placed** in the
//!   box without overlapping, each in any of its six axis-aligned rotations.
//!
//! # Placement method and its guarantee
//!
//! Placement is guillotine packing: a free cuboid is cut into the unit and three disjoint
//! cuboids around it, so placed units can never overlap and never leave the box. Several
//! greedy passes (units by volume, by longest edge and by footprint; best-fit space or lowest
//! position first; the cut that keeps the largest free piece) are tried, and for up to
//! [`MAX_EXACT_UNITS`] units a bounded exhaustive search over free spaces, rotations and cut
//! orders follows. The method is **sound**: every placement it returns is checked geometry
//! (each plan carries the coordinates, and tests verify bounds and overlaps). It is **not
//! complete**: a non-guillotine arrangement, or one beyond the search budget, may be missed,
//! in which case a bigger or extra box is used. Volume alone is never taken as proof.
//!
//! # Choosing boxes
//!
//! Up to [`MAX_EXACT_UNITS`] units the choice is **exact**: dynamic programming over all
//! subsets of units (at most 2⁸ groups, 3⁸ subset pairs) finds the partition into groups,
//! each in its cheapest fitting box, with the least total cost (then fewest packages). It is
//! the optimum over every plan whose boxes pass the fit test above, which the property tests
//! check against a brute-force enumeration of all set partitions and box assignments.
//!
//! Beyond that a **heuristic** runs: first-fit decreasing (largest SKUs first; a run of
//! identical units is sized by bisection instead of unit by unit) into newly opened boxes
//! (largest box first, and best volume-for-money box first), each package then moved to the
//! cheapest box its contents fit, then, for plans of at most 64 packages, pairs of packages
//! merged while that saves money; the cheapest of these and of "every unit in its own
//! cheapest box" wins. It therefore never costs more than packing units one by one, and every
//! plan reports a **lower bound** (the most expensive unit alone, volume and weight at the
//! best price per mm³ or gram, summed over groups of units
//! that can never share a box), so the gap to the optimum is known.

use std::collections::HashMap;

use ordo_domain::catalog::{Dimensions, HandlingClass};
use ordo_domain::error::{Errors, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::packing::{PackingPolicies, ServiceConstraints};
use crate::shipping::Parcel;

/// Orders of up to this many units are cartonised exactly.
pub const MAX_EXACT_UNITS: usize = 8;
/// Most units one call accepts (the heuristic is quadratic in the number of packages).
pub const MAX_UNITS: i64 = 2_000;
/// Largest plan the heuristic still tries to improve by merging pairs of packages.
const MAX_MERGE_PACKAGES: usize = 64;
/// Search nodes the exhaustive placement may spend on one box after the greedy passes fail.
const PLACE_BUDGET: u32 = 400;

/// A box the packing bench stocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BoxType {
    pub code: String,
    /// Usable inside dimensions.
    pub inner: Dimensions,
    /// Outside dimensions, for carrier limits and volumetric weight; the inside ones when absent.
    #[serde(default)]
    pub outer: Option<Dimensions>,
    /// Most the packed box may weigh, tare included.
    pub max_weight_g: i64,
    pub tare_g: i64,
    pub cost_minor: i64,
    /// What the box offers (`insulated`), matched against the policies' `box_features`.
    #[serde(default)]
    pub features: Vec<String>,
}

/// `quantity` units of one SKU. Lines with the same SKU are merged (the first line's
/// dimensions, weight and classes count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackItem {
    pub sku: String,
    pub dimensions: Dimensions,
    pub weight_g: i64,
    #[serde(default)]
    pub handling_classes: Vec<HandlingClass>,
    pub quantity: i64,
}

/// Where one unit sits: its corner nearest the box origin and its size as turned, both
/// without padding (the padding surrounds it on every side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Placement {
    pub sku: String,
    pub x_mm: i64,
    pub y_mm: i64,
    pub z_mm: i64,
    pub length_mm: i64,
    pub width_mm: i64,
    pub height_mm: i64,
    pub padding_mm: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackedSku {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Package {
    pub box_code: String,
    pub cost_minor: i64,
    pub items: Vec<PackedSku>,
    pub placements: Vec<Placement>,
    pub content_weight_g: i64,
    /// Contents, tare and added materials (ice packs): what the carrier weighs.
    pub gross_weight_g: i64,
    pub outer: Dimensions,
    pub handling_classes: Vec<HandlingClass>,
    pub materials: Vec<String>,
    pub markings: Vec<String>,
    /// For the packer, in plain words.
    pub instructions: Vec<String>,
    /// What a carrier service must allow for this package.
    pub service: ServiceConstraints,
}

impl Package {
    /// The package as the carrier sees it.
    pub fn parcel(&self) -> Parcel {
        Parcel {
            weight_g: self.gross_weight_g,
            dimensions: self.outer.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Optimal over plans whose boxes pass the fit test.
    Exact,
    /// Best of several constructions; see `lower_bound_minor` for how far off it can be.
    Heuristic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackingPlan {
    pub packages: Vec<Package>,
    pub cost_minor: i64,
    pub method: Method,
    /// No plan can cost less than this.
    pub lower_bound_minor: i64,
}

/// Chooses boxes for `items` (see the module docs for the rules and guarantees). Refuses
/// malformed input and any SKU that fits no box on its own, naming the field and why.
pub fn cartonize(
    items: &[PackItem],
    boxes: &[BoxType],
    policies: &PackingPolicies,
) -> Result<PackingPlan, Problem> {
    validate(items, boxes)?;
    let mut s = Solver::new(items, boxes, policies);
    s.check_each_fits_alone()?;
    let units: Vec<usize> = s
        .kinds
        .iter()
        .enumerate()
        .flat_map(|(k, kind)| std::iter::repeat_n(k, kind.quantity))
        .collect();
    let lower_bound = s.lower_bound(&units);
    let (groups, method) = if units.len() <= MAX_EXACT_UNITS {
        (s.exact(&units), Method::Exact)
    } else {
        (s.heuristic(&units), Method::Heuristic)
    };
    let packages: Vec<Package> = groups.iter().map(|(c, b)| s.package(c, *b)).collect();
    Ok(PackingPlan {
        cost_minor: packages.iter().map(|p| p.cost_minor).sum(),
        packages,
        method,
        lower_bound_minor: lower_bound,
    })
}

fn dims(d: &Dimensions) -> [i64; 3] {
    [d.length_mm, d.width_mm, d.height_mm]
}

fn validate(items: &[PackItem], boxes: &[BoxType]) -> Result<(), Problem> {
    let mut errors = Errors::default();
    let mut total = 0i64;
    for (i, it) in items.iter().enumerate() {
        let f = |n: &str| format!("items[{i}].{n}");
        if it.sku.is_empty() {
            errors.add(f("sku"), "is required");
        }
        if dims(&it.dimensions)
            .iter()
            .any(|d| !(1..=100_000).contains(d))
        {
            errors.add(f("dimensions"), "must be 1 to 100000 mm on every side");
        }
        if !(0..=10_000_000).contains(&it.weight_g) {
            errors.add(f("weight_g"), "must be 0 to 10000000");
        }
        if !(1..=MAX_UNITS).contains(&it.quantity) {
            errors.add(f("quantity"), format!("must be 1 to {MAX_UNITS}"));
        }
        total += it.quantity.clamp(0, MAX_UNITS);
    }
    if total > MAX_UNITS {
        errors.add("items", format!("hold more than {MAX_UNITS} units"));
    }
    if boxes.is_empty() {
        errors.add("boxes", "at least one box type is needed");
    }
    for (j, b) in boxes.iter().enumerate() {
        let f = |n: &str| format!("boxes[{j}].{n}");
        if b.code.is_empty() {
            errors.add(f("code"), "is required");
        } else if boxes[..j].iter().any(|o| o.code == b.code) {
            errors.add(f("code"), "appears twice");
        }
        if dims(&b.inner).iter().any(|d| !(1..=100_000).contains(d)) {
            errors.add(f("inner"), "must be 1 to 100000 mm on every side");
        }
        for (name, v) in [
            ("max_weight_g", b.max_weight_g),
            ("tare_g", b.tare_g),
            ("cost_minor", b.cost_minor),
        ] {
            if !(0..=1_000_000_000).contains(&v) {
                errors.add(f(name), "must be 0 to 1000000000");
            }
        }
    }
    errors.finish(|| ())
}

// ---------------------------------------------------------------------------------------
// Placement (guillotine)
// ---------------------------------------------------------------------------------------

/// A placed (padded) unit: corner and size as turned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub at: [i64; 3],
    pub size: [i64; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Space {
    o: [i64; 3],
    s: [i64; 3],
}

fn volume(s: [i64; 3]) -> i128 {
    s[0] as i128 * s[1] as i128 * s[2] as i128
}

const PERMS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// The distinct axis-aligned orientations of a cuboid (1, 3 or 6).
fn rotations(d: [i64; 3]) -> Vec<[i64; 3]> {
    let mut out: Vec<[i64; 3]> = Vec::with_capacity(6);
    for p in PERMS {
        let r = [d[p[0]], d[p[1]], d[p[2]]];
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn fits(size: [i64; 3], space: [i64; 3]) -> bool {
    size[0] <= space[0] && size[1] <= space[1] && size[2] <= space[2]
}

/// Cuts `sp` around a unit of `size` at its corner: first along axis `p[0]`, then `p[1]`,
/// then `p[2]`. The three pieces and the unit are disjoint and fill `sp` exactly.
fn cut(sp: Space, size: [i64; 3], p: [usize; 3]) -> [Space; 3] {
    let mut a = sp;
    a.o[p[0]] += size[p[0]];
    a.s[p[0]] -= size[p[0]];
    let mut b = sp;
    b.s[p[0]] = size[p[0]];
    b.o[p[1]] += size[p[1]];
    b.s[p[1]] -= size[p[1]];
    let mut c = sp;
    c.s[p[0]] = size[p[0]];
    c.s[p[1]] = size[p[1]];
    c.o[p[2]] += size[p[2]];
    c.s[p[2]] -= size[p[2]];
    [a, b, c]
}

/// The cut that leaves the largest single free piece (big pieces take big units later).
fn best_cut(sp: Space, size: [i64; 3]) -> [Space; 3] {
    PERMS
        .iter()
        .map(|p| cut(sp, size, *p))
        .max_by_key(|pieces| pieces.iter().map(|x| volume(x.s)).max())
        .expect("six cuts")
}

fn push_pieces(free: &mut Vec<Space>, pieces: [Space; 3]) {
    free.extend(pieces.into_iter().filter(|x| x.s.iter().all(|d| *d > 0)));
}

#[derive(Clone, Copy)]
enum Pick {
    /// The smallest free space the unit fits.
    BestFit,
    /// The lowest, then rearmost, then leftmost free space.
    Lowest,
}

fn greedy(inner: [i64; 3], items: &[[i64; 3]], order: &[usize], pick: Pick) -> Option<Vec<Pos>> {
    let mut free = vec![Space {
        o: [0; 3],
        s: inner,
    }];
    let mut out = vec![
        Pos {
            at: [0; 3],
            size: [0; 3]
        };
        items.len()
    ];
    for &i in order {
        let mut best: Option<((i128, i64, i64, i64, i64, i64), usize, [i64; 3])> = None;
        for (si, sp) in free.iter().enumerate() {
            for r in rotations(items[i]) {
                if !fits(r, sp.s) {
                    continue;
                }
                let key = match pick {
                    Pick::BestFit => (volume(sp.s), sp.o[2], sp.o[1], sp.o[0], r[2], r[1]),
                    Pick::Lowest => (sp.o[2] as i128, sp.o[1], sp.o[0], r[2], r[1], 0),
                };
                if best.as_ref().is_none_or(|b| key < b.0) {
                    best = Some((key, si, r));
                }
            }
        }
        let (_, si, r) = best?;
        let sp = free.swap_remove(si);
        out[i] = Pos { at: sp.o, size: r };
        push_pieces(&mut free, best_cut(sp, r));
    }
    Some(out)
}

fn dfs(
    items: &[[i64; 3]],
    order: &[usize],
    free: &[Space],
    out: &mut [Pos],
    budget: &mut u32,
    left_volume: i128,
) -> bool {
    let Some((&i, rest)) = order.split_first() else {
        return true;
    };
    if *budget == 0 || free.iter().map(|s| volume(s.s)).sum::<i128>() < left_volume {
        return false;
    }
    // Free spaces only shrink, and a unit lies within one of them: every unit still to place
    // must fit one now.
    let sorted = |mut d: [i64; 3]| {
        d.sort_unstable();
        d
    };
    let spaces: Vec<[i64; 3]> = free.iter().map(|s| sorted(s.s)).collect();
    if !order
        .iter()
        .all(|&j| spaces.iter().any(|sp| fits(sorted(items[j]), *sp)))
    {
        return false;
    }
    *budget -= 1;
    let v = volume(items[i]);
    for (si, sp) in free.iter().enumerate() {
        for r in rotations(items[i]) {
            if !fits(r, sp.s) {
                continue;
            }
            let mut tried: Vec<[Space; 3]> = Vec::new();
            for p in PERMS {
                let pieces = cut(*sp, r, p);
                if tried.contains(&pieces) {
                    continue;
                }
                tried.push(pieces);
                let mut next: Vec<Space> = free.to_vec();
                next.swap_remove(si);
                push_pieces(&mut next, pieces);
                if dfs(items, rest, &next, out, budget, left_volume - v) {
                    out[i] = Pos { at: sp.o, size: r };
                    return true;
                }
                if *budget == 0 {
                    return false;
                }
            }
        }
    }
    false
}

/// Places `items` (padded sizes) in a box of `inner` size, or says it could not. A pure
/// function of its inputs; see the module docs for the guarantee.
pub(crate) fn place(inner: [i64; 3], items: &[[i64; 3]]) -> Option<Vec<Pos>> {
    if items.iter().map(|d| volume(*d)).sum::<i128>() > volume(inner) {
        return None;
    }
    let mut sorted_inner = inner;
    sorted_inner.sort_unstable();
    for d in items {
        let mut s = *d;
        s.sort_unstable();
        if !fits(s, sorted_inner) {
            return None;
        }
    }
    let n = items.len();
    let by = |key: &dyn Fn(&[i64; 3]) -> i128| {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by_key(|&i| std::cmp::Reverse(key(&items[i])));
        o
    };
    let orders = [
        by(&|d| volume(*d)),
        by(&|d| *d.iter().max().unwrap() as i128),
        by(&|d| {
            let mut s = *d;
            s.sort_unstable();
            s[1] as i128 * s[2] as i128
        }),
    ];
    for order in &orders {
        for pick in [Pick::BestFit, Pick::Lowest] {
            if let Some(p) = greedy(inner, items, order, pick) {
                return Some(p);
            }
        }
    }
    if n <= MAX_EXACT_UNITS {
        let mut out = vec![
            Pos {
                at: [0; 3],
                size: [0; 3]
            };
            n
        ];
        let mut budget = PLACE_BUDGET;
        let total = items.iter().map(|d| volume(*d)).sum();
        let free = [Space {
            o: [0; 3],
            s: inner,
        }];
        if dfs(items, &orders[0], &free, &mut out, &mut budget, total) {
            return Some(out);
        }
    }
    None
}

/// Every placement lies inside the box and no two overlap (used by the tests and as a
/// debug assertion).
pub(crate) fn valid_placement(inner: [i64; 3], items: &[[i64; 3]], pos: &[Pos]) -> bool {
    if pos.len() != items.len() {
        return false;
    }
    for (p, d) in pos.iter().zip(items) {
        let (mut a, mut b) = (p.size, *d);
        a.sort_unstable();
        b.sort_unstable();
        if a != b || (0..3).any(|k| p.at[k] < 0 || p.at[k] + p.size[k] > inner[k]) {
            return false;
        }
    }
    for i in 0..pos.len() {
        for j in i + 1..pos.len() {
            let (a, b) = (pos[i], pos[j]);
            if (0..3).all(|k| a.at[k] < b.at[k] + b.size[k] && b.at[k] < a.at[k] + a.size[k]) {
                return false;
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------------------
// Choosing boxes
// ---------------------------------------------------------------------------------------

/// One SKU of the order, as the solver sees it.
struct Kind {
    sku: String,
    /// Index into the caller's items.
    item: usize,
    quantity: usize,
    pad: i64,
    padded: [i64; 3],
    weight: i64,
    classes: Vec<HandlingClass>,
    class_mask: u8,
}

fn class_bit(c: HandlingClass) -> u8 {
    match c {
        HandlingClass::Fragile => 1,
        HandlingClass::Perishable => 2,
        HandlingClass::Hazmat => 4,
        HandlingClass::Oversize => 8,
    }
}

const CLASSES: [HandlingClass; 4] = [
    HandlingClass::Fragile,
    HandlingClass::Perishable,
    HandlingClass::Hazmat,
    HandlingClass::Oversize,
];

fn classes_of(mask: u8) -> Vec<HandlingClass> {
    CLASSES
        .into_iter()
        .filter(|c| mask & class_bit(*c) != 0)
        .collect()
}

/// Units of each kind in a group (a package's contents).
type Counts = Vec<u16>;

pub(crate) struct Solver<'a> {
    kinds: Vec<Kind>,
    boxes: &'a [BoxType],
    /// Box indices by cost, then volume, then code.
    by_cost: Vec<usize>,
    policies: &'a PackingPolicies,
    compat: Vec<Vec<bool>>,
    /// Per class combination: which boxes have the features it needs, and the weight it adds.
    box_ok: Vec<Vec<bool>>,
    added: Vec<i64>,
    /// Whether each kind fits each box on its own (some rotation), padding included.
    alone: Vec<Vec<bool>>,
    fit_memo: HashMap<(usize, Counts), Option<Vec<Pos>>>,
    /// Per group: how many boxes (in cost order) are known not to fit, and the first that does.
    cheapest_memo: HashMap<Counts, (usize, Option<usize>)>,
}

impl<'a> Solver<'a> {
    pub(crate) fn new(
        items: &[PackItem],
        boxes: &'a [BoxType],
        policies: &'a PackingPolicies,
    ) -> Self {
        // Merge repeated SKUs; kinds are ordered by padded volume (largest first) so the
        // unit order, and with it every tie, does not depend on the caller's line order.
        let mut kinds: Vec<Kind> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if let Some(k) = kinds.iter_mut().find(|k| k.sku == it.sku) {
                k.quantity += it.quantity as usize;
                continue;
            }
            let pad = policies.padding_mm(&it.handling_classes);
            let mut padded = dims(&it.dimensions).map(|d| d + 2 * pad);
            padded.sort_unstable_by(|a, b| b.cmp(a));
            let mut classes = it.handling_classes.clone();
            classes.sort_by_key(|c| class_bit(*c));
            classes.dedup();
            kinds.push(Kind {
                sku: it.sku.clone(),
                item: i,
                quantity: it.quantity as usize,
                pad,
                padded,
                weight: it.weight_g,
                class_mask: classes.iter().fold(0, |m, c| m | class_bit(*c)),
                classes,
            });
        }
        kinds.sort_by(|a, b| {
            volume(b.padded)
                .cmp(&volume(a.padded))
                .then(a.sku.cmp(&b.sku))
        });
        let compat = kinds
            .iter()
            .map(|a| {
                kinds
                    .iter()
                    .map(|b| policies.can_share((&a.sku, &a.classes), (&b.sku, &b.classes)))
                    .collect()
            })
            .collect();
        let mut by_cost: Vec<usize> = (0..boxes.len()).collect();
        by_cost.sort_by(|&a, &b| {
            let (x, y) = (&boxes[a], &boxes[b]);
            x.cost_minor
                .cmp(&y.cost_minor)
                .then(volume(dims(&x.inner)).cmp(&volume(dims(&y.inner))))
                .then(x.code.cmp(&y.code))
        });
        let mut box_ok = Vec::with_capacity(16);
        let mut added = Vec::with_capacity(16);
        for mask in 0u8..16 {
            let rules = policies.rules(&classes_of(mask));
            box_ok.push(
                boxes
                    .iter()
                    .map(|b| rules.box_features.iter().all(|f| b.features.contains(f)))
                    .collect(),
            );
            added.push(rules.added_weight_g);
        }
        let alone = kinds
            .iter()
            .map(|k| {
                let mut d = k.padded;
                d.sort_unstable();
                boxes
                    .iter()
                    .map(|b| {
                        let mut i = dims(&b.inner);
                        i.sort_unstable();
                        fits(d, i)
                    })
                    .collect()
            })
            .collect();
        Solver {
            alone,
            kinds,
            boxes,
            by_cost,
            policies,
            compat,
            box_ok,
            added,
            fit_memo: HashMap::new(),
            cheapest_memo: HashMap::new(),
        }
    }

    fn counts_of(&self, units: &[usize]) -> Counts {
        let mut c = vec![0u16; self.kinds.len()];
        for &u in units {
            c[u] += 1;
        }
        c
    }

    fn compatible(&self, c: &[u16]) -> bool {
        for (a, &ca) in c.iter().enumerate() {
            if ca == 0 {
                continue;
            }
            if ca > 1 && !self.compat[a][a] {
                return false;
            }
            for (b, &cb) in c.iter().enumerate().skip(a + 1) {
                if cb > 0 && !self.compat[a][b] {
                    return false;
                }
            }
        }
        true
    }

    fn mask(&self, c: &[u16]) -> u8 {
        c.iter()
            .zip(&self.kinds)
            .filter(|(n, _)| **n > 0)
            .fold(0, |m, (_, k)| m | k.class_mask)
    }

    fn content_weight(&self, c: &[u16]) -> i64 {
        c.iter()
            .zip(&self.kinds)
            .map(|(n, k)| *n as i64 * k.weight)
            .sum()
    }

    fn items_of(&self, c: &[u16]) -> Vec<[i64; 3]> {
        c.iter()
            .zip(&self.kinds)
            .flat_map(|(n, k)| std::iter::repeat_n(k.padded, *n as usize))
            .collect()
    }

    /// The checks that need no placement: compatibility, box features, weight, every unit
    /// fitting the box on its own, total volume.
    fn quick_fit(&self, c: &[u16], b: usize) -> bool {
        let bx = &self.boxes[b];
        let mask = self.mask(c) as usize;
        let present = || {
            c.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, _)| k)
        };
        self.box_ok[mask][b]
            && self.content_weight(c) + bx.tare_g + self.added[mask] <= bx.max_weight_g
            && present().all(|k| self.alone[k][b])
            && c.iter()
                .zip(&self.kinds)
                .map(|(n, k)| *n as i128 * volume(k.padded))
                .sum::<i128>()
                <= volume(dims(&bx.inner))
            && self.compatible(c)
    }

    /// The one fit test every method uses: the quick checks, then placement.
    pub(crate) fn fits(&mut self, c: &[u16], b: usize) -> bool {
        if !self.quick_fit(c, b) {
            return false;
        }
        let key = (b, c.to_vec());
        if let Some(r) = self.fit_memo.get(&key) {
            return r.is_some();
        }
        let inner = dims(&self.boxes[b].inner);
        let items = self.items_of(c);
        let placed = place(inner, &items);
        debug_assert!(
            placed
                .as_ref()
                .is_none_or(|p| valid_placement(inner, &items, p))
        );
        let ok = placed.is_some();
        self.fit_memo.insert(key, placed);
        ok
    }

    /// The cheapest box the group fits.
    pub(crate) fn cheapest(&mut self, c: &[u16]) -> Option<usize> {
        self.cheapest_within(c, i64::MAX)
    }

    /// The cheapest box the group fits if it costs at most `cap`. Boxes dearer than the cap
    /// are not tried, which spares placements that could not improve a plan; the answer is
    /// the same box [`Solver::cheapest`] finds whenever that one is within the cap.
    fn cheapest_within(&mut self, c: &[u16], cap: i64) -> Option<usize> {
        let (mut tried, found) = self.cheapest_memo.get(c).copied().unwrap_or((0, None));
        if let Some(b) = found {
            return (self.cost(b) <= cap).then_some(b);
        }
        let mut found = None;
        while tried < self.by_cost.len() {
            let b = self.by_cost[tried];
            if self.cost(b) > cap {
                break;
            }
            if self.fits(c, b) {
                found = Some(b);
                break;
            }
            tried += 1;
        }
        self.cheapest_memo.insert(c.to_vec(), (tried, found));
        found
    }

    fn check_each_fits_alone(&mut self) -> Result<(), Problem> {
        let mut errors = Errors::default();
        for k in 0..self.kinds.len() {
            let mut c = vec![0u16; self.kinds.len()];
            c[k] = 1;
            if self.cheapest(&c).is_some() {
                continue;
            }
            let kind = &self.kinds[k];
            let mask = kind.class_mask as usize;
            let why = if !self.box_ok[mask].iter().any(|ok| *ok) {
                let rules = self.policies.rules(&kind.classes);
                format!("needs a box that is {}", rules.box_features.join(" and "))
            } else if !self.boxes.iter().enumerate().any(|(b, bx)| {
                self.box_ok[mask][b]
                    && kind.weight + bx.tare_g + self.added[mask] <= bx.max_weight_g
            }) {
                "is heavier than any suitable box takes".to_string()
            } else if kind.pad > 0 {
                format!(
                    "is larger than every suitable box with {} mm padding",
                    kind.pad
                )
            } else {
                "is larger than every suitable box".to_string()
            };
            errors.add(
                format!("items[{}]", kind.item),
                format!("{} {why}", kind.sku),
            );
        }
        errors.finish(|| ())
    }

    fn cost(&self, b: usize) -> i64 {
        self.boxes[b].cost_minor
    }

    /// Optimal partition by dynamic programming over subsets (`units.len()` ≤ 16).
    ///
    /// `best[m]` is the cheapest plan (then fewest packages) for the units in `m`: the group
    /// holding the lowest unit of `m`, in its cheapest box, plus `best` of the rest. Groups
    /// are priced lazily and only against boxes cheap enough to beat the best plan found so
    /// far for `m` (the single-unit group is tried first to set that bar), which skips most
    /// placements without changing the optimum.
    pub(crate) fn exact(&mut self, units: &[usize]) -> Vec<(Counts, usize)> {
        let n = units.len();
        if n == 0 {
            return Vec::new();
        }
        let full = (1usize << n) - 1;
        let counts = |g: usize| -> Counts {
            let mut c = vec![0u16; self.kinds.len()];
            for (i, u) in units.iter().enumerate() {
                if g >> i & 1 == 1 {
                    c[*u] += 1;
                }
            }
            c
        };
        let all: Vec<Counts> = (0..=full).map(counts).collect();
        // (cost, packages, group, box) of the best plan for each subset.
        let mut best: Vec<Option<(i64, u32, usize, usize)>> = vec![None; full + 1];
        best[0] = Some((0, 0, 0, 0));
        for mask in 1..=full {
            let low = mask & mask.wrapping_neg();
            let rest = mask ^ low;
            let mut cur: Option<(i64, u32, usize, usize)> = None;
            // Sub-masks of `rest`: 0 first (the unit alone), then from `rest` downwards.
            let mut sub = 0usize;
            loop {
                let g = sub | low;
                if let Some((rc, rp, _, _)) = best[mask ^ g] {
                    let cap = match cur {
                        None => i64::MAX,
                        Some((c, p, _, _)) => c - rc - i64::from(rp + 1 >= p),
                    };
                    if cap >= 0
                        && self.compatible(&all[g])
                        && let Some(b) = self.cheapest_within(&all[g], cap)
                    {
                        let cand = (rc + self.cost(b), rp + 1);
                        if cur.is_none_or(|x| cand < (x.0, x.1)) {
                            cur = Some((cand.0, cand.1, g, b));
                        }
                    }
                }
                sub = if sub == 0 { rest } else { (sub - 1) & rest };
                if sub == 0 {
                    break;
                }
            }
            best[mask] = cur;
        }
        let mut out = Vec::new();
        let mut mask = full;
        while mask != 0 {
            let (_, _, g, b) = best[mask].expect("every unit fits some box alone");
            out.push((all[g].clone(), b));
            mask ^= g;
        }
        out
    }

    /// First-fit decreasing, repack, merge; the cheapest of several starts (module docs).
    pub(crate) fn heuristic(&mut self, units: &[usize]) -> Vec<(Counts, usize)> {
        let singles: Vec<(Counts, usize)> = units
            .iter()
            .map(|&u| {
                let c = self.counts_of(&[u]);
                let b = self.cheapest(&c).expect("every unit fits some box alone");
                (c, b)
            })
            .collect();
        let mut plans = vec![singles];
        for open in [Open::Largest, Open::BestValue] {
            let mut plan = self.first_fit(units, open);
            self.rebox(&mut plan);
            self.merge(&mut plan);
            plans.push(plan);
        }
        plans
            .into_iter()
            .min_by_key(|p| (p.iter().map(|(_, b)| self.cost(*b)).sum::<i64>(), p.len()))
            .expect("at least one plan")
    }

    /// The most units of `kind` (at most `left`) that can join `package`, found by
    /// bisection so a run of identical units costs a few placements, not one per unit.
    /// Bisection assumes fewer units fit whenever more do; when the placement disagrees the
    /// result is merely smaller, never invalid (every accepted count passed the fit test).
    fn room_for(&mut self, package: &(Counts, usize), kind: usize, left: u16) -> u16 {
        let with = |m: u16| {
            let mut c = package.0.clone();
            c[kind] += m;
            c
        };
        if self.fits(&with(left), package.1) {
            return left;
        }
        let (mut lo, mut hi) = (0u16, left);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.fits(&with(mid), package.1) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// First-fit decreasing: kinds largest first; each kind's units go into the first
    /// packages with room, then into new boxes chosen by `open`.
    fn first_fit(&mut self, units: &[usize], open: Open) -> Vec<(Counts, usize)> {
        let mut packages: Vec<(Counts, usize)> = Vec::new();
        let mut per_kind = vec![0u16; self.kinds.len()];
        for &u in units {
            per_kind[u] += 1;
        }
        for (kind, mut left) in per_kind.into_iter().enumerate() {
            for package in packages.iter_mut() {
                if left == 0 {
                    break;
                }
                let m = self.room_for(package, kind, left);
                package.0[kind] += m;
                left -= m;
            }
            while left > 0 {
                let mut c = vec![0u16; self.kinds.len()];
                c[kind] = 1;
                let mut candidates: Vec<usize> = Vec::new();
                for b in 0..self.boxes.len() {
                    if self.fits(&c, b) {
                        candidates.push(b);
                    }
                }
                let pick = match open {
                    Open::Largest => candidates.iter().copied().max_by(|&a, &b| {
                        let (x, y) = (&self.boxes[a], &self.boxes[b]);
                        volume(dims(&x.inner))
                            .cmp(&volume(dims(&y.inner)))
                            .then(y.cost_minor.cmp(&x.cost_minor))
                            .then(y.code.cmp(&x.code))
                    }),
                    // Least cost per mm³; cross-multiplied to stay exact.
                    Open::BestValue => candidates.iter().copied().min_by(|&a, &b| {
                        let (x, y) = (&self.boxes[a], &self.boxes[b]);
                        (x.cost_minor as i128 * volume(dims(&y.inner)))
                            .cmp(&(y.cost_minor as i128 * volume(dims(&x.inner))))
                            .then(volume(dims(&y.inner)).cmp(&volume(dims(&x.inner))))
                            .then(x.code.cmp(&y.code))
                    }),
                };
                let package = (c, pick.expect("every unit fits some box alone"));
                let m = 1 + self.room_for(&package, kind, left - 1);
                let mut package = package;
                package.0[kind] = m;
                left -= m;
                packages.push(package);
            }
        }
        packages
    }

    fn rebox(&mut self, plan: &mut [(Counts, usize)]) {
        for (c, b) in plan.iter_mut() {
            if let Some(cheaper) = self.cheapest(c)
                && self.cost(cheaper) <= self.cost(*b)
            {
                *b = cheaper;
            }
        }
    }

    /// Merges the pair of packages that saves most while any pair saves anything. Skipped
    /// above [`MAX_MERGE_PACKAGES`] packages, where the pairs get too many to try.
    fn merge(&mut self, plan: &mut Vec<(Counts, usize)>) {
        if plan.len() > MAX_MERGE_PACKAGES {
            return;
        }
        for _ in 0..plan.len() {
            let mut best: Option<(i64, usize, usize, usize)> = None;
            for i in 0..plan.len() {
                for j in i + 1..plan.len() {
                    let c: Counts = plan[i]
                        .0
                        .iter()
                        .zip(&plan[j].0)
                        .map(|(a, b)| a + b)
                        .collect();
                    if !self.compatible(&c) {
                        continue;
                    }
                    let before = self.cost(plan[i].1) + self.cost(plan[j].1);
                    // Only boxes cheaper than the two together can save anything.
                    let Some(b) = self.cheapest(&c) else { continue };
                    let saving = before - self.cost(b);
                    if saving > 0 && best.is_none_or(|x| saving > x.0) {
                        best = Some((saving, i, j, b));
                    }
                }
            }
            let Some((_, i, j, b)) = best else { return };
            let merged: Counts = plan[i]
                .0
                .iter()
                .zip(&plan[j].0)
                .map(|(a, b)| a + b)
                .collect();
            plan.swap_remove(j);
            plan[i] = (merged, b);
        }
    }

    /// No plan costs less (module docs). Groups of units that can never share a box are
    /// bounded separately and summed.
    pub(crate) fn lower_bound(&mut self, units: &[usize]) -> i64 {
        let k = self.kinds.len();
        // Connected components of the compatibility graph.
        let mut comp: Vec<usize> = (0..k).collect();
        fn root(comp: &mut [usize], mut x: usize) -> usize {
            while comp[x] != x {
                comp[x] = comp[comp[x]];
                x = comp[x];
            }
            x
        }
        for a in 0..k {
            for b in a + 1..k {
                if self.compat[a][b] {
                    let (ra, rb) = (root(&mut comp, a), root(&mut comp, b));
                    comp[ra] = rb;
                }
            }
        }
        let mut total = 0i64;
        let roots: Vec<usize> = (0..k).map(|x| root(&mut comp, x)).collect();
        let mut seen = Vec::new();
        for &r in &roots {
            if seen.contains(&r) {
                continue;
            }
            seen.push(r);
            let members: Vec<usize> = units.iter().copied().filter(|&u| roots[u] == r).collect();
            if members.is_empty() {
                continue;
            }
            let mut single = 0i64;
            let (mut by_volume, mut by_weight) = (0f64, 0f64);
            for kind in 0..k {
                let n = members.iter().filter(|&&u| u == kind).count();
                if n == 0 {
                    continue;
                }
                let mut c = vec![0u16; k];
                c[kind] = 1;
                if let Some(b) = self.cheapest(&c) {
                    single = single.max(self.cost(b));
                }
                let mask = self.kinds[kind].class_mask as usize;
                let (mut per_mm3, mut per_g) = (f64::INFINITY, f64::INFINITY);
                for (b, bx) in self.boxes.iter().enumerate() {
                    if !self.box_ok[mask][b] {
                        continue;
                    }
                    per_mm3 = per_mm3.min(bx.cost_minor as f64 / volume(dims(&bx.inner)) as f64);
                    if bx.max_weight_g > bx.tare_g {
                        per_g =
                            per_g.min(bx.cost_minor as f64 / (bx.max_weight_g - bx.tare_g) as f64);
                    }
                }
                if per_mm3.is_finite() {
                    by_volume += n as f64 * volume(self.kinds[kind].padded) as f64 * per_mm3;
                }
                if per_g.is_finite() {
                    by_weight += n as f64 * self.kinds[kind].weight as f64 * per_g;
                }
            }
            let relaxed = by_volume.max(by_weight);
            // Float error must never push the bound above a true cost.
            let relaxed = (relaxed * (1.0 - 1e-9) - 1e-6).ceil().max(0.0) as i64;
            total += single.max(relaxed);
        }
        total
    }

    fn package(&self, c: &[u16], b: usize) -> Package {
        let bx = &self.boxes[b];
        let pos = self
            .fit_memo
            .get(&(b, c.to_vec()))
            .and_then(|p| p.as_ref())
            .expect("a chosen group was placed");
        let mut placements = Vec::new();
        let mut i = 0;
        for (n, kind) in c.iter().zip(&self.kinds) {
            for _ in 0..*n {
                let p = pos[i];
                i += 1;
                placements.push(Placement {
                    sku: kind.sku.clone(),
                    x_mm: p.at[0] + kind.pad,
                    y_mm: p.at[1] + kind.pad,
                    z_mm: p.at[2] + kind.pad,
                    length_mm: p.size[0] - 2 * kind.pad,
                    width_mm: p.size[1] - 2 * kind.pad,
                    height_mm: p.size[2] - 2 * kind.pad,
                    padding_mm: kind.pad,
                });
            }
        }
        let mask = self.mask(c);
        let classes = classes_of(mask);
        let rules = self.policies.rules(&classes);
        let content = self.content_weight(c);
        let mut items: Vec<PackedSku> = c
            .iter()
            .zip(&self.kinds)
            .filter(|(n, _)| **n > 0)
            .map(|(n, k)| PackedSku {
                sku: k.sku.clone(),
                quantity: *n as i64,
            })
            .collect();
        items.sort_by(|a, b| a.sku.cmp(&b.sku));
        Package {
            box_code: bx.code.clone(),
            cost_minor: bx.cost_minor,
            items,
            placements,
            content_weight_g: content,
            gross_weight_g: content + bx.tare_g + rules.added_weight_g,
            outer: bx.outer.clone().unwrap_or_else(|| bx.inner.clone()),
            instructions: self.policies.instructions(&classes),
            handling_classes: classes,
            materials: rules.materials,
            markings: rules.markings,
            service: rules.service,
        }
    }
}

#[derive(Clone, Copy)]
enum Open {
    Largest,
    BestValue,
}

#[cfg(test)]
mod tests;
