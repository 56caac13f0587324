//! The router behind the domain's [`AllocationStrategy`] interface, so the existing
//! capture path can switch engines without changing its signature.

use ordo_domain::allocation::{AllocationStrategy, Candidate, Demand, LinePlan, StockView};
use ordo_domain::catalog::{Address, Location, LocationKind};

use crate::engine::Router;
use crate::model::{
    ChannelPolicy, CostModel, Destination, LocationProfile, RouteLine, RoutingRequest, SplitPolicy,
};

/// Routes with what the strategy interface carries, plus, when built with
/// [`RoutingStrategy::for_order`], the destination and the locations' full profiles
/// (coordinates, handling cost), so cost includes distance. It assumes:
/// - every candidate is active, may be sold from and ships to the destination (the
///   caller's candidate filter has already checked that);
/// - without a destination or coordinates, cost comes from location priority alone and
///   the engine minimises shipments, then the sum of priorities;
/// - no handling-class limits, daily capacity, safety stock or rules;
/// - lines may split unless `allow_split` is false, because the order value is unknown.
///
/// Full routing needs [`Router::route`] with real location profiles.
#[derive(Debug, Clone)]
pub struct RoutingStrategy {
    pub cost: CostModel,
    pub allow_split: bool,
    /// Where the order goes; unknown by default.
    pub destination: Destination,
    /// Full profiles of locations; a candidate without one gets a bare profile.
    pub profiles: Vec<LocationProfile>,
}

impl RoutingStrategy {
    /// The strategy for one order shipping to `address` from any of `locations`.
    pub fn for_order(address: &Address, locations: &[Location]) -> Self {
        Self {
            destination: Destination::from_address(address).unwrap_or_default(),
            profiles: locations
                .iter()
                .map(LocationProfile::from_location)
                .collect(),
            ..Self::default()
        }
    }
}

impl Default for RoutingStrategy {
    fn default() -> Self {
        Self {
            cost: CostModel::default(),
            allow_split: true,
            destination: Destination::default(),
            profiles: Vec::new(),
        }
    }
}

impl AllocationStrategy for RoutingStrategy {
    fn plan(
        &self,
        demand: &[Demand<'_>],
        candidates: &[Candidate],
        stock: &dyn StockView,
    ) -> Vec<LinePlan> {
        let locations: Vec<LocationProfile> = candidates
            .iter()
            .map(
                |c| match self.profiles.iter().find(|p| p.code == c.location) {
                    Some(p) => LocationProfile {
                        active: true,
                        priority: c.priority,
                        ..p.clone()
                    },
                    None => LocationProfile {
                        code: c.location.clone(),
                        kind: LocationKind::Warehouse,
                        active: true,
                        latitude: None,
                        longitude: None,
                        country: None,
                        postal_code: None,
                        priority: c.priority,
                        handling_cost_minor: 0,
                        ships_to: Vec::new(),
                        cannot_ship: Vec::new(),
                        daily_capacity: None,
                        orders_today: 0,
                        routing_safety_stock: 0,
                    },
                },
            )
            .collect();
        let mut request = RoutingRequest::new(
            demand
                .iter()
                .map(|d| RouteLine::new(d.sku, d.quantity))
                .collect(),
            self.destination.clone(),
        );
        request.channel = ChannelPolicy {
            code: String::new(),
            split: if self.allow_split {
                SplitPolicy::Allow
            } else {
                SplitPolicy::Never
            },
            allowed_locations: Vec::new(),
        };
        Router::new(self.cost.clone())
            .allocate(&request, &locations, stock, &[])
            .iter()
            .map(|line| LinePlan {
                allocations: line
                    .allocations
                    .iter()
                    .filter_map(|a| {
                        candidates
                            .iter()
                            .position(|c| c.location == a.location)
                            .map(|i| (i, a.quantity))
                    })
                    .collect(),
                backordered: line.backordered,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_domain::allocation::PriorityStrategy;
    use std::collections::HashMap;

    fn stock(entries: &[(&str, &str, i64)]) -> HashMap<(String, String), i64> {
        entries
            .iter()
            .map(|(s, l, q)| ((s.to_string(), l.to_string()), *q))
            .collect()
    }

    fn cands() -> Vec<Candidate> {
        ["L0", "L1", "L2"]
            .iter()
            .enumerate()
            .map(|(i, l)| Candidate {
                location: l.to_string(),
                priority: i as i32,
            })
            .collect()
    }

    #[test]
    fn with_a_destination_the_nearer_location_wins_over_priority() {
        let place = |code: &str, lat: f64, lon: f64, priority: i32| {
            ordo_domain::catalog::LocationInput {
                code: Some(code.into()),
                name: Some(code.into()),
                kind: Some("warehouse".into()),
                latitude: Some(lat),
                longitude: Some(lon),
                priority: Some(priority),
                ..Default::default()
            }
            .validate()
            .unwrap()
        };
        let locations = [place("BER", 52.52, 13.40, 1), place("MUC", 48.14, 11.58, 2)];
        let candidates = vec![
            Candidate {
                location: "BER".into(),
                priority: 1,
            },
            Candidate {
                location: "MUC".into(),
                priority: 2,
            },
        ];
        let s = stock(&[("A", "BER", 5), ("A", "MUC", 5)]);
        let demand = [Demand {
            sku: "A",
            quantity: 1,
        }];
        let munich = Address {
            country: Some("DE".into()),
            latitude: Some(48.13),
            longitude: Some(11.56),
            ..Default::default()
        };
        let plan = RoutingStrategy::for_order(&munich, &locations).plan(&demand, &candidates, &s);
        assert_eq!(plan[0].allocations, vec![(1, 1)]);
        // Without a destination, priority decides.
        let plan = RoutingStrategy::default().plan(&demand, &candidates, &s);
        assert_eq!(plan[0].allocations, vec![(0, 1)]);
    }

    #[test]
    fn avoids_the_split_the_priority_strategy_makes() {
        // L0 has A, L1 has B, L2 has both: priority order splits, routing does not.
        let s = stock(&[
            ("A", "L0", 5),
            ("B", "L1", 5),
            ("A", "L2", 5),
            ("B", "L2", 5),
        ]);
        let demand = [
            Demand {
                sku: "A",
                quantity: 1,
            },
            Demand {
                sku: "B",
                quantity: 1,
            },
        ];
        let old = PriorityStrategy.plan(&demand, &cands(), &s);
        assert_eq!(old[0].allocations, vec![(0, 1)]);
        assert_eq!(old[1].allocations, vec![(1, 1)]);
        let new = RoutingStrategy::default().plan(&demand, &cands(), &s);
        assert_eq!(new[0].allocations, vec![(2, 1)]);
        assert_eq!(new[1].allocations, vec![(2, 1)]);
    }

    #[test]
    fn priority_breaks_ties_and_backorders_are_reported() {
        let s = stock(&[("A", "L0", 1), ("A", "L1", 5)]);
        let demand = [
            Demand {
                sku: "A",
                quantity: 1,
            },
            Demand {
                sku: "A",
                quantity: 0,
            },
            Demand {
                sku: "C",
                quantity: 2,
            },
        ];
        let plan = RoutingStrategy::default().plan(&demand, &cands(), &s);
        assert_eq!(plan[0].allocations, vec![(0, 1)]);
        assert_eq!(plan[1], LinePlan::default());
        assert_eq!(plan[2].backordered, 2);
        let whole = RoutingStrategy {
            allow_split: false,
            ..Default::default()
        };
        let demand = [Demand {
            sku: "A",
            quantity: 3,
        }];
        assert_eq!(
            whole.plan(&demand, &cands(), &s)[0].allocations,
            vec![(1, 3)]
        );
    }
}
