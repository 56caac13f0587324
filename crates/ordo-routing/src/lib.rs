//! Order routing: which locations ship which lines of an order, and why.
//!
//! Everything here is pure. The caller passes the order ([`RoutingRequest`]), the
//! candidate locations with their operational limits ([`LocationProfile`]), a stock view,
//! the active [`Rule`]s and a [`CostModel`]; [`route`] returns a [`RoutingPlan`] with the
//! allocations, the shipments, what the rules decided, and a verdict for every location.
//!
//! The plan respects the hard constraints (location active and shipping to the country,
//! channel allowed, stock net of routing safety stock, daily capacity, handling classes,
//! single-shipment and split policy), then ships as much as possible, in as few shipments
//! as possible, at the least cost, with ties broken by location code. See [`solver`] for
//! the search and its guarantees.
//!
//! ```
//! use std::collections::HashMap;
//! use ordo_routing::{
//!     route, Actions, CostModel, Destination, LocationProfile, ReasonCode, RouteLine,
//!     RoutingRequest, Rule,
//! };
//!
//! let locations = vec![
//!     LocationProfile::warehouse("BER", 52.52, 13.40),
//!     LocationProfile::warehouse("PAR", 48.86, 2.35),
//! ];
//! let stock: HashMap<(String, String), i64> = [
//!     (("A".to_string(), "BER".to_string()), 5),
//!     (("A".to_string(), "PAR".to_string()), 5),
//!     (("B".to_string(), "PAR".to_string()), 5),
//! ]
//! .into();
//! let mut destination = Destination::in_country("DE");
//! destination.postal_code = Some("10115".into());
//! let order = RoutingRequest::new(
//!     vec![RouteLine::new("A", 1), RouteLine::new("B", 1)],
//!     destination,
//! );
//! let rules = vec![Rule {
//!     name: "tag-everything".into(),
//!     actions: Actions { add_tags: vec!["routed".into()], ..Default::default() },
//!     ..Default::default()
//! }];
//!
//! let plan = route(&order, &locations, &stock, &rules, &CostModel::default());
//! // Berlin is closer, but only Paris ships the whole order in one parcel.
//! assert_eq!(plan.shipments.len(), 1);
//! assert_eq!(plan.shipments[0].location, "PAR");
//! assert_eq!(plan.verdict("BER").unwrap().reasons[0].code, ReasonCode::MoreShipments);
//! assert_eq!(plan.applied_rules, ["tag-everything"]);
//! ```

pub mod adapt;
pub mod baselines;
pub mod capacity;
pub mod config;
pub mod engine;
pub mod geo;
pub mod model;
pub mod replay;
pub mod rules;
pub mod solver;

pub use engine::{
    Allocation, Decision, LocationVerdict, Outcome, Prepared, Reason, ReasonCode, RoutedLine,
    Router, RoutingPlan, Shipment, ShipmentLine, route,
};
pub use geo::{Centroids, GeoPoint, haversine_km};
pub use model::{
    ChannelPolicy, CostModel, Destination, LocationProfile, RouteLine, RoutingRequest, SplitPolicy,
};
pub use rules::{Actions, Conditions, Rule, RuleOutcome, ValueRange, validate_rules};
