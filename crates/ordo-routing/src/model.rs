//! What the router is asked and what it knows about locations.

use ordo_domain::catalog::{Address, Channel, HandlingClass, Location, LocationKind};
use ordo_domain::order::PaymentStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::geo::{Centroids, GeoPoint};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RouteLine {
    pub sku: String,
    pub quantity: i64,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub handling_classes: Vec<HandlingClass>,
}

impl RouteLine {
    pub fn new(sku: impl Into<String>, quantity: i64) -> Self {
        Self {
            sku: sku.into(),
            quantity,
            category: None,
            handling_classes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Destination {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

impl Destination {
    pub fn in_country(country: impl Into<String>) -> Self {
        Self {
            country: country.into(),
            ..Default::default()
        }
    }

    /// `None` when the address has no country: without one no location can be checked
    /// against its shipping area.
    pub fn from_address(address: &Address) -> Option<Self> {
        let country = address.country.as_deref()?.trim();
        if country.is_empty() {
            return None;
        }
        Some(Self {
            country: country.to_ascii_uppercase(),
            region: address.region.clone(),
            postal_code: address.postal_code.clone(),
            latitude: address.latitude,
            longitude: address.longitude,
        })
    }

    /// The address's own coordinates, else its postal-zone or country centroid.
    pub fn point(&self, centroids: &Centroids) -> Option<GeoPoint> {
        GeoPoint::from_parts(self.latitude, self.longitude)
            .or_else(|| centroids.locate(&self.country, self.postal_code.as_deref()))
    }
}

/// Whether a channel's orders may leave in more than one shipment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SplitPolicy {
    #[default]
    Allow,
    Never,
    /// Splits only when the order is worth more than this many minor units, because a
    /// second parcel costs the same whatever the basket is worth.
    AllowIfOrderValueAbove(i64),
}

impl SplitPolicy {
    pub fn allows(self, order_value_minor: i64) -> bool {
        match self {
            SplitPolicy::Allow => true,
            SplitPolicy::Never => false,
            SplitPolicy::AllowIfOrderValueAbove(x) => order_value_minor > x,
        }
    }
}

/// The parts of a channel's settings routing depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelPolicy {
    pub code: String,
    #[serde(default)]
    pub split: SplitPolicy,
    /// Locations whose stock the channel may sell; empty means all of them.
    #[serde(default)]
    pub allowed_locations: Vec<String>,
}

impl SplitPolicy {
    /// The policy a channel's settings describe.
    pub fn of_channel(channel: &Channel) -> Self {
        use ordo_domain::catalog::SplitPolicy as Setting;
        match channel.split_policy {
            Setting::Allow => SplitPolicy::Allow,
            Setting::Never => SplitPolicy::Never,
            Setting::AllowIfOrderValueAbove => {
                SplitPolicy::AllowIfOrderValueAbove(channel.split_threshold_minor().unwrap_or(0))
            }
        }
    }
}

impl ChannelPolicy {
    pub fn from_channel(channel: &Channel, split: SplitPolicy) -> Self {
        Self {
            code: channel.code.clone(),
            split,
            allowed_locations: channel.locations.clone(),
        }
    }

    pub fn may_sell_from(&self, location: &str) -> bool {
        self.allowed_locations.is_empty() || self.allowed_locations.iter().any(|l| l == location)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoutingRequest {
    pub lines: Vec<RouteLine>,
    pub destination: Destination,
    /// Goods value in the shop's minor units; rules and the split policy compare against it.
    #[serde(default)]
    pub order_value_minor: i64,
    #[serde(default)]
    pub total_weight_g: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    pub payment_status: PaymentStatus,
    #[serde(default)]
    pub service_level: Option<String>,
    pub channel: ChannelPolicy,
    /// The customer or channel asked for one parcel: ship whole from one location or wait.
    #[serde(default)]
    pub single_shipment: bool,
}

impl RoutingRequest {
    /// A paid order to `destination` on a channel that may split, for tests and examples.
    pub fn new(lines: Vec<RouteLine>, destination: Destination) -> Self {
        Self {
            lines,
            destination,
            order_value_minor: 0,
            total_weight_g: 0,
            tags: Vec::new(),
            payment_status: PaymentStatus::Paid,
            service_level: None,
            channel: ChannelPolicy::default(),
            single_shipment: false,
        }
    }
}

/// A location as the router sees it: the catalog entry plus its operational limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocationProfile {
    pub code: String,
    pub kind: LocationKind,
    pub active: bool,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Used with `postal_code` for a centroid when the location has no coordinates.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Lower ships first when all else is equal.
    #[serde(default)]
    pub priority: i32,
    /// Fixed cost of one shipment leaving this location (picking, packing, carrier pickup).
    #[serde(default)]
    pub handling_cost_minor: i64,
    /// ISO country codes this location ships to; empty means everywhere.
    #[serde(default)]
    pub ships_to: Vec<String>,
    #[serde(default)]
    pub cannot_ship: Vec<HandlingClass>,
    /// Maximum orders per local day; `None` means unlimited.
    #[serde(default)]
    pub daily_capacity: Option<u32>,
    /// Orders already routed here since the location's local midnight (see
    /// [`crate::capacity::DailyCount`]).
    #[serde(default)]
    pub orders_today: u32,
    /// Units of every SKU kept back from routing, so a store keeps display stock and
    /// a miscounted shelf does not oversell.
    #[serde(default)]
    pub routing_safety_stock: i64,
}

impl LocationProfile {
    /// The location as the catalog describes it, limits included; `orders_today` is the
    /// caller's to fill in.
    pub fn from_location(location: &Location) -> Self {
        Self {
            code: location.code.clone(),
            kind: location.kind,
            active: location.active,
            latitude: location.latitude.or(location.address.latitude),
            longitude: location.longitude.or(location.address.longitude),
            country: location.address.country.clone(),
            postal_code: location.address.postal_code.clone(),
            priority: location.priority,
            handling_cost_minor: location.routing.handling_cost_minor(),
            ships_to: location.ships_to.clone(),
            cannot_ship: location.routing.cannot_ship.clone(),
            daily_capacity: location.routing.daily_capacity,
            orders_today: 0,
            routing_safety_stock: location.routing.safety_stock,
        }
    }

    /// A minimal active warehouse, for tests and examples.
    pub fn warehouse(code: impl Into<String>, lat: f64, lon: f64) -> Self {
        Self {
            code: code.into(),
            kind: LocationKind::Warehouse,
            active: true,
            latitude: Some(lat),
            longitude: Some(lon),
            country: None,
            postal_code: None,
            priority: 100,
            handling_cost_minor: 0,
            ships_to: Vec::new(),
            cannot_ship: Vec::new(),
            daily_capacity: None,
            orders_today: 0,
            routing_safety_stock: 0,
        }
    }

    pub fn point(&self, centroids: &Centroids) -> Option<GeoPoint> {
        GeoPoint::from_parts(self.latitude, self.longitude).or_else(|| {
            self.country
                .as_deref()
                .and_then(|c| centroids.locate(c, self.postal_code.as_deref()))
        })
    }

    pub fn ships_to_country(&self, country: &str) -> bool {
        self.ships_to.is_empty()
            || self
                .ships_to
                .iter()
                .any(|c| c.eq_ignore_ascii_case(country.trim()))
    }

    pub fn at_capacity(&self) -> bool {
        self.daily_capacity
            .is_some_and(|cap| self.orders_today >= cap)
    }
}

/// Turns a candidate location into the cost of one shipment from it. Only the relative
/// cost of locations matters: the router first minimises the number of shipments and only
/// then compares costs between plans with the same count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CostModel {
    /// Paid once per shipment whatever its origin, so a split is never free.
    pub per_shipment_minor: i64,
    /// Per kilometre of great-circle distance, as a stand-in for carrier zone pricing.
    pub per_km_minor: f64,
    /// Per point of location priority, so a lower priority number wins among near-equals.
    pub per_priority_minor: i64,
    /// Distance assumed when neither coordinates nor a centroid are known; large enough
    /// that a location with a known short distance wins.
    pub unknown_distance_km: f64,
    /// Taken off the cost of a location a rule prefers.
    pub preferred_discount_minor: i64,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            per_shipment_minor: 500,
            per_km_minor: 1.0,
            per_priority_minor: 2,
            unknown_distance_km: 1_500.0,
            preferred_discount_minor: 10_000,
        }
    }
}

impl CostModel {
    /// The cost of one shipment; may be negative for a preferred location, which the
    /// solver accounts for.
    pub fn shipment_cost(
        &self,
        distance_km: Option<f64>,
        priority: i32,
        handling_cost_minor: i64,
        preferred: bool,
    ) -> i64 {
        let km = distance_km.unwrap_or(self.unknown_distance_km).max(0.0);
        let distance = (km * self.per_km_minor).round();
        // Saturate rather than wrap on absurd configurations.
        let distance = if distance.is_finite() {
            distance.clamp(-1e15, 1e15) as i64
        } else {
            0
        };
        let mut cost = self
            .per_shipment_minor
            .saturating_add(handling_cost_minor)
            .saturating_add(distance)
            .saturating_add(self.per_priority_minor.saturating_mul(i64::from(priority)));
        if preferred {
            cost = cost.saturating_sub(self.preferred_discount_minor);
        }
        cost.clamp(-(1 << 40), 1 << 40)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_policy() {
        assert!(SplitPolicy::Allow.allows(0));
        assert!(!SplitPolicy::Never.allows(1_000_000));
        assert!(!SplitPolicy::AllowIfOrderValueAbove(5000).allows(5000));
        assert!(SplitPolicy::AllowIfOrderValueAbove(5000).allows(5001));
        let json = serde_json::to_string(&SplitPolicy::AllowIfOrderValueAbove(10)).unwrap();
        assert_eq!(json, r#"{"allow_if_order_value_above":10}"#);
        assert_eq!(
            serde_json::from_str::<SplitPolicy>(r#""never""#).unwrap(),
            SplitPolicy::Never
        );
    }

    #[test]
    fn destination_falls_back_to_centroids() {
        let c = Centroids::builtin();
        let mut d = Destination::in_country("DE");
        d.postal_code = Some("10115".into());
        assert_eq!(d.point(c).unwrap(), GeoPoint::new(52.6, 13.4));
        d.latitude = Some(50.0);
        d.longitude = Some(8.0);
        assert_eq!(d.point(c).unwrap(), GeoPoint::new(50.0, 8.0));
        assert!(Destination::in_country("ZZ").point(c).is_none());
        let addr = Address {
            country: Some("fr".into()),
            ..Default::default()
        };
        assert_eq!(Destination::from_address(&addr).unwrap().country, "FR");
        assert!(Destination::from_address(&Address::default()).is_none());
    }

    #[test]
    fn cost_model_components() {
        let m = CostModel::default();
        assert_eq!(m.shipment_cost(Some(100.0), 0, 0, false), 600);
        assert_eq!(m.shipment_cost(None, 0, 0, false), 2000);
        assert_eq!(m.shipment_cost(Some(0.0), 15, 70, false), 600);
        assert_eq!(m.shipment_cost(Some(0.0), 0, 0, true), 500 - 10_000);
    }
}
