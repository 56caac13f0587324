//! Choosing the set of locations that ship an order.
//!
//! Every shipment from a location costs that location's shipment cost whatever it carries,
//! so a plan's cost depends only on *which* locations ship, not on how units are divided
//! among them. The problem is therefore a capacitated set cover: pick locations whose
//! stock covers the order, lexicographically minimising
//!
//! 1. units left unshipped (ship complete where possible),
//! 2. the number of locations (shipments),
//! 3. the sum of their shipment costs,
//! 4. the sorted list of location indices (indices follow location code order), so equal
//!    plans always resolve the same way.
//!
//! Rule 1 is met by every set whose coverage equals that of all candidates together, so
//! the search only ever looks at full covers of that "target".
//!
//! [`solve`] is exact within [`MAX_EXACT_ITEMS`] distinct SKUs and [`MAX_EXACT_SITES`]
//! locations: iterative deepening on the number of shipments, and within a depth a branch
//! and bound over location sets visited cheapest first. It prunes on coverage (what the
//! remaining locations can still supply), on the least number of further shipments that
//! could close the largest gap, and on cost (what has been spent plus the cheapest
//! locations still available). Beyond the range, or when the search exceeds its node
//! budget, [`greedy`] answers instead.

/// Distinct SKUs the exact search handles; coverage state lives in a fixed array this long.
pub const MAX_EXACT_ITEMS: usize = 10;
/// Candidate locations the exact search handles; sets are bitmasks.
pub const MAX_EXACT_SITES: usize = 30;
/// Search nodes before the exact search gives up. Realistic orders need a few hundred.
pub const DEFAULT_NODE_BUDGET: u64 = 2_000_000;

/// A candidate location, already cleared by every hard constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub code: String,
    /// Cost of one shipment from here; any sign.
    pub cost: i64,
    /// Units usable per item, net of safety stock and never negative.
    pub stock: Vec<i64>,
}

/// One order's routing problem: demand per distinct SKU ("item") and the candidate sites,
/// in tie-break order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    pub demand: Vec<i64>,
    pub sites: Vec<Site>,
}

impl Instance {
    /// Per item, the most any plan can ship: demand capped by total stock.
    pub fn target(&self) -> Vec<i64> {
        self.demand
            .iter()
            .enumerate()
            .map(|(s, &d)| {
                let total: i64 = self.sites.iter().map(|site| site.stock[s]).sum();
                d.max(0).min(total)
            })
            .collect()
    }

    /// Units a set of sites can ship towards the demand.
    pub fn coverage(&self, set: &[usize]) -> i64 {
        self.demand
            .iter()
            .enumerate()
            .map(|(s, &d)| {
                let total: i64 = set.iter().map(|&l| self.sites[l].stock[s]).sum();
                d.max(0).min(total)
            })
            .sum()
    }

    pub fn covers_target(&self, set: &[usize]) -> bool {
        self.coverage(set) == self.target().iter().sum::<i64>()
    }

    /// Whether `site` alone holds the whole order.
    pub fn fits_whole(&self, site: usize) -> bool {
        self.demand
            .iter()
            .zip(&self.sites[site].stock)
            .all(|(&d, &a)| a >= d)
    }

    pub fn cost_of(&self, set: &[usize]) -> i64 {
        set.iter().map(|&l| self.sites[l].cost).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Site indices, ascending.
    pub sites: Vec<usize>,
    /// Whether the selection is proven optimal.
    pub exact: bool,
}

/// The cheapest site that holds the whole order, for orders that may not split.
pub fn solve_single(inst: &Instance) -> Option<usize> {
    (0..inst.sites.len())
        .filter(|&l| inst.fits_whole(l))
        .min_by_key(|&l| (inst.sites[l].cost, l))
}

/// The best set of sites under the objective in the module documentation.
pub fn solve(inst: &Instance, node_budget: u64) -> Selection {
    let target = inst.target();
    if target.iter().all(|&t| t == 0) {
        return Selection {
            sites: Vec::new(),
            exact: true,
        };
    }
    if let Some(search) = Exact::new(inst, &target, None)
        && let Ok(Some((_, mask))) = search.minimum(node_budget)
    {
        return Selection {
            sites: mask_sites(mask),
            exact: true,
        };
    }
    Selection {
        sites: greedy(inst),
        exact: false,
    }
}

/// What the best plan containing a given site looks like, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithSite {
    /// No plan with the optimal number of shipments uses the site.
    MoreShipments,
    /// The cheapest plan with the optimal number of shipments that uses the site.
    Cost(i64),
    /// The search ran out of budget.
    Unknown,
}

/// The cheapest cover of the target with exactly `k` sites that includes `site`.
pub fn best_with(inst: &Instance, site: usize, k: usize, node_budget: u64) -> WithSite {
    let target = inst.target();
    let Some(mut search) = Exact::new(inst, &target, Some(site)) else {
        return WithSite::Unknown;
    };
    let mut deficit = [0i64; MAX_EXACT_ITEMS];
    let mut contributes = false;
    for (s, d) in deficit.iter_mut().enumerate().take(search.m) {
        let a = inst.sites[site].stock[search.items[s]];
        contributes |= a > 0 && search.target[s] > 0;
        *d = (search.target[s] - a).max(0);
    }
    if !contributes || k == 0 {
        return WithSite::MoreShipments;
    }
    search.budget = node_budget;
    let shift = search.shift;
    match search.dfs(0, k - 1, &deficit, inst.sites[site].cost - shift, 1 << site) {
        Err(Budget) => WithSite::Unknown,
        Ok(()) => match search.best {
            Some((cost, _)) => WithSite::Cost(cost + shift * k as i64),
            None => WithSite::MoreShipments,
        },
    }
}

/// Greedy cover by largest marginal coverage, then reverse deletion of sites that turned
/// out redundant.
///
/// Unit coverage `f(S) = Σ_items min(target, Σ_{l∈S} stock)` is monotone submodular and
/// integer-valued, so by Wolsey's bound (1982) the greedy cover uses at most
/// `(1 + ln max_l f({l})) × OPT` sites. In practice orders beyond the exact range are
/// large B2B baskets where the greedy cover is within one shipment of the optimum.
pub fn greedy(inst: &Instance) -> Vec<usize> {
    let target = inst.target();
    let mut deficit = target.clone();
    let mut chosen: Vec<usize> = Vec::new();
    while deficit.iter().any(|&d| d > 0) {
        let gain = |l: usize| -> i64 {
            deficit
                .iter()
                .zip(&inst.sites[l].stock)
                .map(|(&d, &a)| d.min(a).max(0))
                .sum()
        };
        let Some((best, g)) = (0..inst.sites.len())
            .filter(|l| !chosen.contains(l))
            .map(|l| (l, gain(l)))
            .max_by(|a, b| {
                a.1.cmp(&b.1)
                    .then_with(|| inst.sites[b.0].cost.cmp(&inst.sites[a.0].cost))
                    .then_with(|| b.0.cmp(&a.0))
            })
        else {
            break;
        };
        if g == 0 {
            break;
        }
        for (d, a) in deficit.iter_mut().zip(&inst.sites[best].stock) {
            *d = (*d - a).max(0);
        }
        chosen.push(best);
    }
    let full = target.iter().sum::<i64>();
    let mut by_cost = chosen.clone();
    by_cost.sort_by(|&a, &b| inst.sites[b].cost.cmp(&inst.sites[a].cost).then(b.cmp(&a)));
    for l in by_cost {
        let without: Vec<usize> = chosen.iter().copied().filter(|&x| x != l).collect();
        if inst.coverage(&without) == full {
            chosen = without;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Exhaustive search over every subset of sites, for checking [`solve`]. Exponential:
/// refuses more than 20 sites.
pub fn brute_force(inst: &Instance) -> Option<Vec<usize>> {
    let n = inst.sites.len();
    if n > 20 {
        return None;
    }
    let m = inst.demand.len();
    let target = inst.target();
    let full = 1usize << n;
    // Per-subset totals built from the subset without its lowest site.
    let mut sums = vec![0i64; full * m];
    let mut costs = vec![0i64; full];
    let mut best: Option<(u32, i64, usize)> = None;
    for mask in 0..full {
        if mask > 0 {
            let low = mask.trailing_zeros() as usize;
            let prev = mask & (mask - 1);
            for s in 0..m {
                sums[mask * m + s] = sums[prev * m + s] + inst.sites[low].stock[s];
            }
            costs[mask] = costs[prev] + inst.sites[low].cost;
        }
        if (0..m).any(|s| sums[mask * m + s] < target[s]) {
            continue;
        }
        let key = (mask.count_ones(), costs[mask]);
        let better = match best {
            None => true,
            Some((k, c, b)) => {
                key < (k, c) || (key == (k, c) && tie_smaller(mask as u64, b as u64))
            }
        };
        if better {
            best = Some((key.0, key.1, mask));
        }
    }
    best.map(|(_, _, mask)| (0..n).filter(|&l| mask >> l & 1 == 1).collect())
}

/// Between two sets of equal size, the one whose sorted index list is lexicographically
/// smaller: it holds the lowest index the two disagree on.
fn tie_smaller(a: u64, b: u64) -> bool {
    let x = a ^ b;
    x != 0 && a & (x & x.wrapping_neg()) != 0
}

fn mask_sites(mask: u32) -> Vec<usize> {
    (0..32).filter(|&l| mask >> l & 1 == 1).collect()
}

/// Splits each line's quantity among the chosen sites. Costs do not depend on the split,
/// so it favours whole lines (fewer parcels to reconcile per line): the cheapest chosen
/// site that holds the whole line takes it, otherwise the sites with most stock take
/// their share. Every chosen site ends up shipping something, because a minimal cover
/// holds no redundant site.
///
/// `lines` are `(item, quantity)`; the result has, per line, `(site, quantity)` pairs.
pub fn assign(inst: &Instance, lines: &[(usize, i64)], sites: &[usize]) -> Vec<Vec<(usize, i64)>> {
    let mut order: Vec<usize> = sites.to_vec();
    order.sort_by_key(|&l| (inst.sites[l].cost, l));
    let mut left: Vec<Vec<i64>> = inst.sites.iter().map(|s| s.stock.clone()).collect();
    let mut budget = vec![0i64; inst.demand.len()];
    for (s, b) in budget.iter_mut().enumerate() {
        let total: i64 = sites.iter().map(|&l| inst.sites[l].stock[s]).sum();
        *b = inst.demand[s].max(0).min(total);
    }
    lines
        .iter()
        .map(|&(item, qty)| {
            if qty <= 0 {
                return Vec::new();
            }
            let want = qty.min(budget[item]);
            budget[item] -= want;
            let mut out = Vec::new();
            if want == 0 {
                return out;
            }
            if let Some(&l) = order.iter().find(|&&l| left[l][item] >= want) {
                left[l][item] -= want;
                out.push((l, want));
                return out;
            }
            let mut by_stock = order.clone();
            by_stock.sort_by_key(|&l| std::cmp::Reverse(left[l][item]));
            let mut need = want;
            for l in by_stock {
                let q = left[l][item].min(need);
                if q > 0 {
                    left[l][item] -= q;
                    need -= q;
                    out.push((l, q));
                }
                if need == 0 {
                    break;
                }
            }
            out.sort_unstable();
            out
        })
        .collect()
}

#[derive(Debug)]
struct Budget;

/// Branch and bound state. Sites are visited by position, cheapest first; `idx` maps a
/// position back to the site index used in masks and tie-breaks.
struct Exact {
    m: usize,
    /// Instance item behind each searched item (items with a zero target are dropped).
    items: Vec<usize>,
    target: [i64; MAX_EXACT_ITEMS],
    idx: Vec<usize>,
    cost: Vec<i64>,
    avail: Vec<[i64; MAX_EXACT_ITEMS]>,
    /// `suffix[p][s]`: stock of item `s` over positions `p..`.
    suffix: Vec<[i64; MAX_EXACT_ITEMS]>,
    /// `suffix_max[p][s]`: largest single stock of item `s` over positions `p..`.
    suffix_max: Vec<[i64; MAX_EXACT_ITEMS]>,
    cost_prefix: Vec<i64>,
    /// Subtracted from every cost so all are non-negative, which the cost bound needs;
    /// harmless because only sets of equal size are ever compared on cost.
    shift: i64,
    nodes: u64,
    budget: u64,
    best: Option<(i64, u32)>,
}

impl Exact {
    /// `None` when the instance is outside the exact range.
    fn new(inst: &Instance, target_all: &[i64], skip: Option<usize>) -> Option<Self> {
        let items: Vec<usize> = (0..inst.demand.len())
            .filter(|&s| target_all[s] > 0)
            .collect();
        let m = items.len();
        if m > MAX_EXACT_ITEMS || inst.sites.len() > MAX_EXACT_SITES {
            return None;
        }
        let mut target = [0i64; MAX_EXACT_ITEMS];
        for (s, &item) in items.iter().enumerate() {
            target[s] = target_all[item];
        }
        let shift = inst.sites.iter().map(|s| s.cost).min().unwrap_or(0);
        let mut idx: Vec<usize> = (0..inst.sites.len())
            .filter(|&l| Some(l) != skip)
            .filter(|&l| items.iter().any(|&it| inst.sites[l].stock[it] > 0))
            .collect();
        idx.sort_by_key(|&l| (inst.sites[l].cost, l));
        let n = idx.len();
        let cost: Vec<i64> = idx.iter().map(|&l| inst.sites[l].cost - shift).collect();
        let avail: Vec<[i64; MAX_EXACT_ITEMS]> = idx
            .iter()
            .map(|&l| {
                let mut a = [0i64; MAX_EXACT_ITEMS];
                for (s, &item) in items.iter().enumerate() {
                    a[s] = inst.sites[l].stock[item].min(target[s]);
                }
                a
            })
            .collect();
        let mut suffix = vec![[0i64; MAX_EXACT_ITEMS]; n + 1];
        let mut suffix_max = vec![[0i64; MAX_EXACT_ITEMS]; n + 1];
        for p in (0..n).rev() {
            for s in 0..m {
                suffix[p][s] = suffix[p + 1][s] + avail[p][s];
                suffix_max[p][s] = suffix_max[p + 1][s].max(avail[p][s]);
            }
        }
        let mut cost_prefix = vec![0i64; n + 1];
        for p in 0..n {
            cost_prefix[p + 1] = cost_prefix[p] + cost[p];
        }
        Some(Self {
            m,
            items,
            target,
            idx,
            cost,
            avail,
            suffix,
            suffix_max,
            cost_prefix,
            shift,
            nodes: 0,
            budget: DEFAULT_NODE_BUDGET,
            best: None,
        })
    }

    /// Fewest shipments first, then cheapest: deepen one shipment at a time, so the first
    /// depth with any cover is the optimal count.
    fn minimum(mut self, budget: u64) -> Result<Option<(i64, u32)>, Budget> {
        self.budget = budget;
        let n = self.idx.len();
        let target = self.target;
        let start = self.min_extra(0, &target).unwrap_or(n + 1);
        for k in start.max(1)..=n {
            self.dfs(0, k, &target, 0, 0)?;
            if let Some((cost, mask)) = self.best {
                return Ok(Some((cost + self.shift * k as i64, mask)));
            }
        }
        Ok(None)
    }

    /// A lower bound on the sites still needed from positions `pos..`, or `None` if they
    /// cannot close the gap at all. Per item, the largest stocks taken first.
    fn min_extra(&self, pos: usize, deficit: &[i64; MAX_EXACT_ITEMS]) -> Option<usize> {
        let mut need = 0;
        let mut sorted: Vec<i64> = Vec::new();
        for s in 0..self.m {
            let d = deficit[s];
            if d <= 0 {
                continue;
            }
            if self.suffix[pos][s] < d {
                return None;
            }
            if self.suffix_max[pos][s] >= d {
                need = need.max(1);
                continue;
            }
            sorted.clear();
            sorted.extend(self.avail[pos..].iter().map(|a| a[s]).filter(|&a| a > 0));
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            let mut got = 0;
            for (i, a) in sorted.iter().enumerate() {
                got += a;
                if got >= d {
                    need = need.max(i + 1);
                    break;
                }
            }
        }
        Some(need)
    }

    fn better(&self, cost: i64, mask: u32) -> bool {
        match self.best {
            None => true,
            Some((c, m)) => cost < c || (cost == c && tie_smaller(u64::from(mask), u64::from(m))),
        }
    }

    fn dfs(
        &mut self,
        pos: usize,
        picks: usize,
        deficit: &[i64; MAX_EXACT_ITEMS],
        cost: i64,
        mask: u32,
    ) -> Result<(), Budget> {
        self.nodes += 1;
        if self.nodes > self.budget {
            return Err(Budget);
        }
        let open = deficit[..self.m].iter().any(|&d| d > 0);
        if !open {
            if self.better(cost, mask) {
                self.best = Some((cost, mask));
            }
            return Ok(());
        }
        if picks == 0 {
            return Ok(());
        }
        let n = self.idx.len();
        // A cheap necessary condition before the sorted bound: `picks` sites, none bigger
        // than the biggest left, must close every gap.
        for (s, &d) in deficit.iter().enumerate().take(self.m) {
            if d > 0 && (self.suffix[pos][s] < d || self.suffix_max[pos][s] * (picks as i64) < d) {
                return Ok(());
            }
        }
        let Some(need) = self.min_extra(pos, deficit) else {
            return Ok(());
        };
        if need > picks || pos + need > n {
            return Ok(());
        }
        for i in pos..n {
            // Positions are sorted by cost, so the cheapest completion through `i` only
            // grows with `i`: once it cannot beat the incumbent, no later position can.
            let rest_end = (i + need).min(n);
            let bound =
                cost + self.cost[i] + (self.cost_prefix[rest_end] - self.cost_prefix[i + 1]);
            if let Some((best, _)) = self.best
                && bound > best
            {
                break;
            }
            let a = self.avail[i];
            // A site that closes no open gap would be redundant in any cover through here,
            // and a smaller cover was already ruled out at a shallower depth.
            if !(0..self.m).any(|s| deficit[s] > 0 && a[s] > 0) {
                continue;
            }
            let mut next = *deficit;
            for s in 0..self.m {
                next[s] = (next[s] - a[s]).max(0);
            }
            self.dfs(
                i + 1,
                picks - 1,
                &next,
                cost + self.cost[i],
                mask | 1 << self.idx[i],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(demand: &[i64], sites: &[(i64, &[i64])]) -> Instance {
        Instance {
            demand: demand.to_vec(),
            sites: sites
                .iter()
                .enumerate()
                .map(|(i, (c, s))| Site {
                    code: format!("L{i:02}"),
                    cost: *c,
                    stock: s.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_site_that_fits_beats_two_cheaper_ones() {
        let i = inst(&[1, 1], &[(10, &[1, 0]), (10, &[0, 1]), (500, &[1, 1])]);
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![2]);
        assert_eq!(brute_force(&i).unwrap(), vec![2]);
    }

    #[test]
    fn cheapest_cover_among_equal_counts() {
        let i = inst(
            &[2, 1],
            &[(300, &[2, 0]), (100, &[1, 0]), (50, &[1, 1]), (90, &[0, 1])],
        );
        // {0,2}: 350 vs {0,3}: 390 vs {1,2}: covers 2 of A? 1+1=2 yes, B 1 → 150.
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![1, 2]);
    }

    #[test]
    fn ties_go_to_the_lower_codes() {
        let i = inst(&[1], &[(5, &[1]), (5, &[1]), (5, &[1])]);
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![0]);
        let i = inst(
            &[1, 1],
            &[(5, &[0, 1]), (5, &[1, 0]), (5, &[1, 0]), (5, &[0, 1])],
        );
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![0, 1]);
        assert_eq!(brute_force(&i).unwrap(), vec![0, 1]);
    }

    #[test]
    fn partial_stock_still_ships_what_exists() {
        let i = inst(&[5, 1], &[(1, &[2, 0]), (1, &[1, 0]), (9, &[0, 0])]);
        assert_eq!(i.target(), vec![3, 0]);
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![0, 1]);
        let none = inst(&[1], &[(1, &[0])]);
        assert_eq!(solve(&none, DEFAULT_NODE_BUDGET).sites, Vec::<usize>::new());
    }

    #[test]
    fn negative_costs_are_handled() {
        let i = inst(&[1, 1], &[(-100, &[1, 0]), (20, &[0, 1]), (-30, &[1, 1])]);
        assert_eq!(solve(&i, DEFAULT_NODE_BUDGET).sites, vec![2]);
        assert_eq!(
            best_with(&i, 0, 1, DEFAULT_NODE_BUDGET),
            WithSite::MoreShipments
        );
        let j = inst(&[1], &[(-100, &[1]), (20, &[1])]);
        assert_eq!(best_with(&j, 1, 1, DEFAULT_NODE_BUDGET), WithSite::Cost(20));
    }

    #[test]
    fn greedy_fallback_beyond_the_exact_range() {
        let demand = vec![1; MAX_EXACT_ITEMS + 2];
        let sites: Vec<(i64, Vec<i64>)> = (0..demand.len())
            .map(|s| {
                let mut v = vec![0; demand.len()];
                v[s] = 1;
                (1, v)
            })
            .chain(std::iter::once((1, vec![1; demand.len()])))
            .collect();
        let refs: Vec<(i64, &[i64])> = sites.iter().map(|(c, v)| (*c, v.as_slice())).collect();
        let i = inst(&demand, &refs);
        let sel = solve(&i, DEFAULT_NODE_BUDGET);
        assert!(!sel.exact);
        assert_eq!(sel.sites, vec![demand.len()]);
    }

    #[test]
    fn budget_exhaustion_falls_back_to_greedy() {
        let i = inst(&[3], &[(1, &[1]), (1, &[1]), (1, &[1]), (1, &[1])]);
        let sel = solve(&i, 2);
        assert!(!sel.exact);
        assert_eq!(sel.sites.len(), 3);
    }

    #[test]
    fn assignment_prefers_whole_lines_and_uses_every_site() {
        let i = inst(&[5, 1], &[(10, &[3, 0]), (20, &[5, 1])]);
        let a = assign(&i, &[(0, 5), (1, 1)], &[1]);
        assert_eq!(a, vec![vec![(1, 5)], vec![(1, 1)]]);
        let i = inst(&[5, 2], &[(10, &[3, 2]), (20, &[2, 0])]);
        let a = assign(&i, &[(0, 5), (1, 2)], &[0, 1]);
        assert_eq!(a, vec![vec![(0, 3), (1, 2)], vec![(0, 2)]]);
        // Two lines of one SKU share its stock rather than both claiming it.
        let i = inst(&[4], &[(1, &[3])]);
        assert_eq!(
            assign(&i, &[(0, 2), (0, 2)], &[0]),
            vec![vec![(0, 2)], vec![(0, 1)]]
        );
    }
}
