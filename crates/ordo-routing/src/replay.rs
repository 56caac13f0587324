//! Replaying past orders through the router: what a rule set would have done compared with
//! what happened, so a merchant can try a rule before switching it on.

use std::collections::{BTreeSet, HashMap};

use ordo_domain::allocation::StockView;
use ordo_domain::fulfillment::FulfillmentStatus;
use ordo_domain::order::{Order, OrderStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::Router;
use crate::geo::Centroids;
use crate::model::{Destination, LocationProfile, RoutingRequest};
use crate::rules::Rule;

/// Totals over the replayed orders, one side of the comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReplayTotals {
    /// Shipments (locations shipping part of an order), summed over the orders.
    pub shipments: u64,
    /// Orders shipping from more than one location.
    pub split_orders: u64,
    /// Great-circle kilometres from each shipping location to its destination, summed
    /// (a postal or country centroid when the address has no coordinates).
    pub distance_km: f64,
    /// Units no location could take.
    pub backordered_units: i64,
}

/// One order the new rules would route differently.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReplayChange {
    pub order: String,
    /// Locations it ships from today.
    pub actual: Vec<String>,
    /// Locations the replay chose.
    pub replayed: Vec<String>,
    /// Rules that matched in the replay.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReplayReport {
    /// Orders replayed (cancelled ones are skipped).
    pub orders: u64,
    pub actual: ReplayTotals,
    pub replayed: ReplayTotals,
    /// Orders whose set of shipping locations would change.
    pub changed_orders: u64,
    /// Up to 50 of them, oldest first.
    pub changes: Vec<ReplayChange>,
}

/// Current stock with one order's own reservations given back, so the order can be
/// routed again as if it arrived now: what it holds counts as available to it.
pub struct WithOwn<'a> {
    stock: &'a dyn StockView,
    own: HashMap<(&'a str, &'a str), i64>,
}

impl<'a> WithOwn<'a> {
    /// Gives back what `order`'s fulfillment orders still hold (not shipped, not cancelled).
    pub fn new(stock: &'a dyn StockView, order: &'a Order) -> Self {
        let mut own: HashMap<(&str, &str), i64> = HashMap::new();
        for f in order
            .fulfillment_orders
            .iter()
            .filter(|f| f.status.is_active())
        {
            for l in &f.lines {
                *own.entry((l.sku.as_str(), f.location.as_str()))
                    .or_default() += l.quantity;
            }
        }
        Self { stock, own }
    }

    /// Units of `sku` the order holds at `location`.
    pub fn own(&self, sku: &str, location: &str) -> i64 {
        self.own.get(&(sku, location)).copied().unwrap_or(0)
    }
}

impl StockView for WithOwn<'_> {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.stock.available(sku, location) + self.own(sku, location)
    }
}

fn distance(
    destination: &Destination,
    location: &str,
    profiles: &[LocationProfile],
    centroids: &Centroids,
) -> f64 {
    let to = destination.point(centroids);
    let from = profiles
        .iter()
        .find(|p| p.code == location)
        .and_then(|p| p.point(centroids));
    match (to, from) {
        (Some(a), Some(b)) => a.distance_km(b),
        _ => 0.0,
    }
}

/// Replays `orders` (each with its routing request) against `stock` with `rules`.
/// Daily capacity is not replayed: what was full then is unknown now.
pub fn replay(
    router: &Router<'_>,
    orders: &[(Order, RoutingRequest)],
    profiles: &[LocationProfile],
    stock: &dyn StockView,
    rules: &[Rule],
) -> ReplayReport {
    let mut report = ReplayReport::default();
    for (order, request) in orders {
        if order.status == OrderStatus::Cancelled {
            continue;
        }
        report.orders += 1;
        let live = order
            .fulfillment_orders
            .iter()
            .filter(|f| f.status != FulfillmentStatus::Cancelled && !f.lines.is_empty());
        let actual: BTreeSet<String> = live.map(|f| f.location.clone()).collect();
        let view = WithOwn::new(stock, order);
        let decision = router.decide(request, profiles, &view, rules);
        let replayed: BTreeSet<String> = decision
            .lines
            .iter()
            .flat_map(|l| l.allocations.iter().map(|a| a.location.clone()))
            .collect();
        let tally = |totals: &mut ReplayTotals, places: &BTreeSet<String>, backordered: i64| {
            totals.shipments += places.len() as u64;
            totals.split_orders += u64::from(places.len() > 1);
            totals.distance_km += places
                .iter()
                .map(|p| distance(&request.destination, p, profiles, router.centroids))
                .sum::<f64>();
            totals.backordered_units += backordered;
        };
        tally(
            &mut report.actual,
            &actual,
            order.lines.iter().map(|l| l.backordered).sum(),
        );
        tally(
            &mut report.replayed,
            &replayed,
            decision.lines.iter().map(|l| l.backordered).sum(),
        );
        if actual != replayed {
            report.changed_orders += 1;
            if report.changes.len() < 50 {
                report.changes.push(ReplayChange {
                    order: order.number.clone(),
                    actual: actual.into_iter().collect(),
                    replayed: replayed.into_iter().collect(),
                    rules: decision.rules.applied.clone(),
                });
            }
        }
    }
    report.actual.distance_km = report.actual.distance_km.round();
    report.replayed.distance_km = report.replayed.distance_km.round();
    report
}
