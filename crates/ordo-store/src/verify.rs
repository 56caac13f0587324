//! The consistency check behind `ordo verify`, once for every backend: a backend loads the
//! figures from one snapshot, this decides what disagrees.

use std::collections::{HashMap, HashSet};

use ordo_domain::inventory::{Balance, StockState};
use ordo_domain::order::order_number;

use crate::{Discrepancy, VerifyReport};

/// One order line with the sum of its open allocations.
#[derive(Debug, Clone)]
pub struct LineCheck {
    pub order_number: i64,
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub allocated: i64,
    pub backordered: i64,
    pub shipped: i64,
    pub cancelled: bool,
    pub reserved: i64,
}

/// Everything verify compares, read from one snapshot.
#[derive(Debug, Default)]
pub struct VerifyInput {
    /// Sum of ledger deltas per (sku, location, state).
    pub ledger: HashMap<(String, String, String), i64>,
    /// Sum of open allocations per (sku, location).
    pub open: HashMap<(String, String), i64>,
    pub balances: Vec<(String, String, Balance)>,
    pub lines: Vec<LineCheck>,
    /// Allocations not held by an active fulfillment order at their own location.
    pub stray_allocations: Vec<StrayAllocation>,
}

/// An allocation whose fulfillment order is missing, closed, or at another location.
#[derive(Debug, Clone)]
pub struct StrayAllocation {
    pub order_number: i64,
    pub fo_no: i32,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub fo_location: Option<String>,
    pub fo_status: Option<String>,
}

/// Balances must equal the fold of the ledger; `allocated` must equal the open allocations;
/// each line's allocated and backordered must match its reservations.
pub fn verify_report(input: VerifyInput) -> VerifyReport {
    let VerifyInput {
        ledger,
        mut open,
        balances,
        lines,
        stray_allocations,
    } = input;
    let mut report = VerifyReport::default();
    for a in stray_allocations {
        let id = ordo_domain::fulfillment::fulfillment_order_id(a.order_number, a.fo_no);
        report.discrepancies.push(Discrepancy {
            sku: a.sku,
            location: a.location,
            state: "allocated".into(),
            recorded: a.quantity,
            expected: 0,
            source: match (a.fo_location, a.fo_status) {
                (None, _) => format!("fulfillment order {id} (missing)"),
                (Some(l), Some(s)) => format!("fulfillment order {id} ({s} at {l})"),
                (Some(l), None) => format!("fulfillment order {id} (at {l})"),
            },
        });
    }
    let mut seen = HashSet::new();
    for (sku, location, balance) in balances {
        report.balances_checked += 1;
        for state in StockState::ALL {
            let key = (sku.clone(), location.clone(), state.as_str().to_string());
            let expected = ledger.get(&key).copied().unwrap_or(0);
            seen.insert(key);
            if balance.get(state) != expected {
                report.discrepancies.push(Discrepancy {
                    sku: sku.clone(),
                    location: location.clone(),
                    state: state.as_str().into(),
                    recorded: balance.get(state),
                    expected,
                    source: "ledger".into(),
                });
            }
        }
        let reserved = open.remove(&(sku.clone(), location.clone())).unwrap_or(0);
        if balance.allocated != reserved {
            report.discrepancies.push(Discrepancy {
                sku,
                location,
                state: "allocated".into(),
                recorded: balance.allocated,
                expected: reserved,
                source: "open allocations".into(),
            });
        }
    }
    for ((sku, location, state), v) in ledger {
        if v != 0 && !seen.contains(&(sku.clone(), location.clone(), state.clone())) {
            report.discrepancies.push(Discrepancy {
                sku,
                location,
                state,
                recorded: 0,
                expected: v,
                source: "ledger without balance".into(),
            });
        }
    }
    for ((sku, location), v) in open {
        report.discrepancies.push(Discrepancy {
            sku,
            location,
            state: "allocated".into(),
            recorded: 0,
            expected: v,
            source: "allocations without balance".into(),
        });
    }
    let mut orders = HashSet::new();
    for l in lines {
        orders.insert(l.order_number);
        let expected_backorder = if l.cancelled {
            0
        } else {
            l.quantity - l.allocated - l.shipped
        };
        if l.allocated != l.reserved || l.backordered != expected_backorder {
            report.discrepancies.push(Discrepancy {
                sku: l.sku,
                location: format!("{} line {}", order_number(l.order_number), l.line_no),
                state: "line".into(),
                recorded: l.allocated,
                expected: l.reserved,
                source: format!(
                    "order line (backordered {}, expected {expected_backorder})",
                    l.backordered
                ),
            });
        }
    }
    report.orders_checked = orders.len() as i64;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreeing_figures_are_clean_and_each_kind_of_drift_is_named() {
        let b = Balance {
            on_hand: 5,
            allocated: 2,
            ..Default::default()
        };
        let mut input = VerifyInput {
            ledger: HashMap::from([
                (("A".into(), "L".into(), "on_hand".into()), 5),
                (("A".into(), "L".into(), "allocated".into()), 2),
            ]),
            open: HashMap::from([(("A".into(), "L".into()), 2)]),
            balances: vec![("A".into(), "L".into(), b)],
            lines: vec![LineCheck {
                order_number: 1,
                line_no: 1,
                sku: "A".into(),
                quantity: 3,
                allocated: 2,
                backordered: 1,
                shipped: 0,
                cancelled: false,
                reserved: 2,
            }],
            stray_allocations: vec![],
        };
        let clean = verify_report(std::mem::take(&mut input));
        assert!(clean.is_clean(), "{:?}", clean.discrepancies);
        assert_eq!((clean.balances_checked, clean.orders_checked), (1, 1));

        let drifted = verify_report(VerifyInput {
            ledger: HashMap::from([(("A".into(), "L".into(), "on_hand".into()), 4)]),
            open: HashMap::from([(("B".into(), "L".into()), 1)]),
            balances: vec![("A".into(), "L".into(), b)],
            lines: vec![],
            stray_allocations: vec![StrayAllocation {
                order_number: 7,
                fo_no: 2,
                sku: "A".into(),
                location: "L".into(),
                quantity: 1,
                fo_location: Some("M".into()),
                fo_status: Some("open".into()),
            }],
        });
        let sources: Vec<&str> = drifted
            .discrepancies
            .iter()
            .map(|d| d.source.as_str())
            .collect();
        assert!(sources.contains(&"ledger"));
        assert!(sources.contains(&"open allocations"));
        assert!(sources.contains(&"allocations without balance"));
        assert!(sources.contains(&"fulfillment order SO-000007-2 (open at M)"));
    }
}
