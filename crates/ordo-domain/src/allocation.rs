//! Deciding which locations reserve stock for an order.
//!
//! Strategies are pure: they see the order's demand, the candidate locations (already
//! filtered and ordered) and a view of available stock, and return a plan. The caller
//! applies the plan inside the transaction that holds the stock, so the view is current.

use std::collections::HashMap;

use crate::catalog::{Channel, Location};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub location: String,
    pub priority: i32,
}

/// The locations an order from `channel` to `country` may be served from, best first.
pub fn candidates<'a>(
    channel: &Channel,
    locations: impl IntoIterator<Item = &'a Location>,
    country: &str,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = locations
        .into_iter()
        .filter(|l| l.active)
        .filter(|l| channel.locations.is_empty() || channel.locations.contains(&l.code))
        .filter(|l| l.ships_to.is_empty() || l.ships_to.iter().any(|c| c == country))
        .map(|l| Candidate {
            location: l.code.clone(),
            priority: l.priority,
        })
        .collect();
    out.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.location.cmp(&b.location))
    });
    out
}

pub trait StockView {
    fn available(&self, sku: &str, location: &str) -> i64;
}

impl StockView for HashMap<(String, String), i64> {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.get(&(sku.to_string(), location.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand<'a> {
    pub sku: &'a str,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinePlan {
    /// (index into candidates, quantity), each quantity > 0.
    pub allocations: Vec<(usize, i64)>,
    pub backordered: i64,
}

impl LinePlan {
    pub fn allocated(&self) -> i64 {
        self.allocations.iter().map(|(_, q)| q).sum()
    }
}

pub trait AllocationStrategy: Send + Sync {
    fn plan(
        &self,
        demand: &[Demand<'_>],
        candidates: &[Candidate],
        stock: &dyn StockView,
    ) -> Vec<LinePlan>;
}

/// The backbone strategy: candidates in priority order; the whole line from the first
/// location that has it, otherwise split across locations in order, otherwise backorder.
#[derive(Debug, Default, Clone, Copy)]
pub struct PriorityStrategy;

impl AllocationStrategy for PriorityStrategy {
    fn plan(
        &self,
        demand: &[Demand<'_>],
        candidates: &[Candidate],
        stock: &dyn StockView,
    ) -> Vec<LinePlan> {
        // Several lines may ask for the same SKU: what one line takes, the next cannot.
        let mut taken: HashMap<(&str, usize), i64> = HashMap::new();
        let left = |sku: &str, idx: usize, taken: &HashMap<(&str, usize), i64>| {
            (stock.available(sku, &candidates[idx].location)
                - taken.get(&(sku, idx)).copied().unwrap_or(0))
            .max(0)
        };
        demand
            .iter()
            .map(|line| {
                let mut plan = LinePlan::default();
                if line.quantity <= 0 {
                    return plan;
                }
                if let Some(idx) =
                    (0..candidates.len()).find(|&i| left(line.sku, i, &taken) >= line.quantity)
                {
                    *taken.entry((line.sku, idx)).or_default() += line.quantity;
                    plan.allocations.push((idx, line.quantity));
                    return plan;
                }
                let mut remaining = line.quantity;
                for idx in 0..candidates.len() {
                    if remaining == 0 {
                        break;
                    }
                    let q = left(line.sku, idx, &taken).min(remaining);
                    if q > 0 {
                        *taken.entry((line.sku, idx)).or_default() += q;
                        plan.allocations.push((idx, q));
                        remaining -= q;
                    }
                }
                plan.backordered = remaining;
                plan
            })
            .collect()
    }
}

/// Shares `available` units among waiting lines in the given (already prioritised) order:
/// each line takes what it still needs while units remain.
pub fn fill_waiting(available: i64, waiting: &[i64]) -> Vec<i64> {
    let mut left = available.max(0);
    waiting
        .iter()
        .map(|&need| {
            let q = need.max(0).min(left);
            left -= q;
            q
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cands(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                location: format!("L{i}"),
                priority: i as i32,
            })
            .collect()
    }

    fn stock(entries: &[(&str, &str, i64)]) -> HashMap<(String, String), i64> {
        entries
            .iter()
            .map(|(s, l, q)| ((s.to_string(), l.to_string()), *q))
            .collect()
    }

    #[test]
    fn prefers_one_location_for_the_whole_line() {
        let s = stock(&[("A", "L0", 2), ("A", "L1", 5)]);
        let plan = PriorityStrategy.plan(
            &[Demand {
                sku: "A",
                quantity: 3,
            }],
            &cands(2),
            &s,
        );
        assert_eq!(plan[0].allocations, vec![(1, 3)]);
    }

    #[test]
    fn splits_then_backorders() {
        let s = stock(&[("A", "L0", 2), ("A", "L1", 1)]);
        let plan = PriorityStrategy.plan(
            &[Demand {
                sku: "A",
                quantity: 5,
            }],
            &cands(2),
            &s,
        );
        assert_eq!(plan[0].allocations, vec![(0, 2), (1, 1)]);
        assert_eq!(plan[0].backordered, 2);
    }

    #[test]
    fn same_sku_on_two_lines_is_not_double_counted() {
        let s = stock(&[("A", "L0", 3)]);
        let plan = PriorityStrategy.plan(
            &[
                Demand {
                    sku: "A",
                    quantity: 2,
                },
                Demand {
                    sku: "A",
                    quantity: 2,
                },
            ],
            &cands(1),
            &s,
        );
        assert_eq!(plan[0].allocated() + plan[1].allocated(), 3);
        assert_eq!(plan[1].backordered, 1);
    }

    proptest! {
        #[test]
        fn never_allocates_beyond_stock(
            avail in prop::collection::vec(-3i64..10, 4),
            lines in prop::collection::vec((0usize..2, 1i64..12), 1..6),
        ) {
            let skus = ["A", "B"];
            let c = cands(2);
            let s: HashMap<(String, String), i64> = (0..4)
                .map(|i| ((skus[i / 2].to_string(), format!("L{}", i % 2)), avail[i]))
                .collect();
            let demand: Vec<Demand> = lines.iter().map(|&(k, q)| Demand { sku: skus[k], quantity: q }).collect();
            let plan = PriorityStrategy.plan(&demand, &c, &s);
            let mut used: HashMap<(usize, usize), i64> = HashMap::new();
            for (line, p) in lines.iter().zip(&plan) {
                prop_assert_eq!(p.allocated() + p.backordered, line.1);
                for &(idx, q) in &p.allocations {
                    prop_assert!(q > 0);
                    *used.entry((line.0, idx)).or_default() += q;
                }
            }
            for ((k, idx), q) in used {
                prop_assert!(q <= avail[k * 2 + idx].max(0));
            }
        }

        #[test]
        fn fill_waiting_never_exceeds_supply(avail in -5i64..50, waiting in prop::collection::vec(0i64..20, 0..10)) {
            let got = fill_waiting(avail, &waiting);
            prop_assert!(got.iter().sum::<i64>() <= avail.max(0));
            for (g, w) in got.iter().zip(&waiting) { prop_assert!(*g <= *w && *g >= 0); }
        }
    }
}
