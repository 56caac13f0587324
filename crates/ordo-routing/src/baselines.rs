//! The allocation policies other order management systems ship, for comparison in the
//! routing benchmark. Each works on the same [`Prepared`] instance as the router, so all
//! of them see the same hard constraints and the same stock net of safety stock.

use crate::engine::Prepared;
use crate::model::LocationProfile;
use crate::solver;

/// Per request line, `(site, quantity)` pairs into `Prepared::instance.sites`.
pub type LineParts = Vec<Vec<(usize, i64)>>;

pub trait Baseline {
    fn name(&self) -> &'static str;
    fn plan(&self, prepared: &Prepared, locations: &[LocationProfile]) -> LineParts;
}

/// Sites by location priority, then code: the "source priority" order.
fn by_priority(p: &Prepared, locations: &[LocationProfile]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.instance.sites.len()).collect();
    order.sort_by_key(|&s| (locations[p.site_location[s]].priority, s));
    order
}

/// Takes as much of each line as possible from each site in turn, in the order `rank`
/// gives for that line's item, sharing stock between lines of the same SKU.
fn fill_in_order(p: &Prepared, rank: impl Fn(usize, &[Vec<i64>]) -> Vec<usize>) -> LineParts {
    let mut left: Vec<Vec<i64>> = p.instance.sites.iter().map(|s| s.stock.clone()).collect();
    p.line_items
        .iter()
        .map(|li| {
            let Some((item, qty)) = *li else {
                return Vec::new();
            };
            let mut need = qty;
            let mut parts = Vec::new();
            for site in rank(item, &left) {
                if need == 0 {
                    break;
                }
                let q = left[site][item].min(need);
                if q > 0 {
                    left[site][item] -= q;
                    need -= q;
                    parts.push((site, q));
                }
            }
            parts
        })
        .collect()
}

/// Magento MSI's "source priority" and Saleor's "prioritize sorting order": every line
/// drains locations in their configured order, splitting wherever stock runs out.
#[derive(Debug, Default, Clone, Copy)]
pub struct PriorityGreedy;

impl Baseline for PriorityGreedy {
    fn name(&self) -> &'static str {
        "priority greedy"
    }
    fn plan(&self, p: &Prepared, locations: &[LocationProfile]) -> LineParts {
        let order = by_priority(p, locations);
        fill_in_order(p, |_, _| order.clone())
    }
}

/// Saleor's "prioritize high stock": every line drains the location with most of its
/// SKU first.
#[derive(Debug, Default, Clone, Copy)]
pub struct MostStockFirst;

impl Baseline for MostStockFirst {
    fn name(&self) -> &'static str {
        "most stock first"
    }
    fn plan(&self, p: &Prepared, _: &[LocationProfile]) -> LineParts {
        fill_in_order(p, |item, left| {
            let mut order: Vec<usize> = (0..left.len()).collect();
            order.sort_by_key(|&s| (std::cmp::Reverse(left[s][item]), s));
            order
        })
    }
}

/// Linnworks' and Brightpearl's default: the first location in priority order that holds
/// the whole order ships it; otherwise the whole order waits.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleOrBackorder;

impl Baseline for SingleOrBackorder {
    fn name(&self) -> &'static str {
        "single location or backorder"
    }
    fn plan(&self, p: &Prepared, locations: &[LocationProfile]) -> LineParts {
        let whole = by_priority(p, locations)
            .into_iter()
            .find(|&s| p.instance.fits_whole(s));
        match whole {
            Some(s) => solver::assign(&p.instance, &p.solver_lines(), &[s]),
            None => vec![Vec::new(); p.line_items.len()],
        }
    }
}

/// The optimum by exhaustive search over location sets, with the router's own objective.
/// Exponential; for tests and the benchmark's check at small location counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct BruteForce;

impl Baseline for BruteForce {
    fn name(&self) -> &'static str {
        "exact optimum (brute force)"
    }
    fn plan(&self, p: &Prepared, _: &[LocationProfile]) -> LineParts {
        let sites = solver::brute_force(&p.instance).expect("at most 20 candidate locations");
        solver::assign(&p.instance, &p.solver_lines(), &sites)
    }
}

/// Shipments, known distance and backordered units of a baseline's plan.
pub fn measure(p: &Prepared, parts: &LineParts) -> (usize, f64, i64) {
    let mut used: Vec<usize> = parts.iter().flatten().map(|x| x.0).collect();
    used.sort_unstable();
    used.dedup();
    let distance = used.iter().filter_map(|&s| p.site_distance_km[s]).sum();
    let wanted: i64 = p.line_items.iter().flatten().map(|x| x.1).sum();
    let got: i64 = parts.iter().flatten().map(|x| x.1).sum();
    (used.len(), distance, wanted - got)
}
