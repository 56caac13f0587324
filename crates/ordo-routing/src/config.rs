//! The cost model and centroid table a deployment routes with. `ordo serve` installs them
//! once at start-up (`--routing-cost`, `--centroids`); until then, and in tests of the pure
//! engine, the defaults and the shipped table apply. Every node of one deployment must
//! start with the same files, since they decide where orders go.

use std::sync::OnceLock;

use crate::geo::{CentroidError, Centroids};
use crate::model::CostModel;

struct Installed {
    cost: CostModel,
    centroids: Centroids,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("routing cost: {0}")]
    Cost(String),
    #[error("centroids line {}: {}", .0.line, .0.message)]
    Centroids(CentroidError),
    #[error("the routing configuration is already installed")]
    AlreadyInstalled,
}

/// Reads a cost model from JSON (any subset of [`CostModel`]'s fields; the rest keep their
/// defaults) and checks it.
pub fn cost_from_json(text: &str) -> Result<CostModel, ConfigError> {
    let cost: CostModel =
        serde_json::from_str(text).map_err(|e| ConfigError::Cost(e.to_string()))?;
    if !(cost.per_km_minor.is_finite() && cost.per_km_minor >= 0.0) {
        return Err(ConfigError::Cost("per_km_minor must be 0 or more".into()));
    }
    if !(cost.unknown_distance_km.is_finite() && cost.unknown_distance_km >= 0.0) {
        return Err(ConfigError::Cost(
            "unknown_distance_km must be 0 or more".into(),
        ));
    }
    if cost.per_shipment_minor < 0 || cost.per_priority_minor < 0 {
        return Err(ConfigError::Cost(
            "per_shipment_minor and per_priority_minor must be 0 or more".into(),
        ));
    }
    Ok(cost)
}

/// The shipped centroid table with `extra` rows (`country,postal_prefix,lat,lon`) added or
/// overriding it.
pub fn centroids_with(extra: &str) -> Result<Centroids, ConfigError> {
    let mut table = Centroids::builtin().clone();
    table
        .extend_from_csv(extra)
        .map_err(ConfigError::Centroids)?;
    Ok(table)
}

/// Installs the deployment's routing configuration; once per process.
pub fn install(cost: CostModel, centroids: Centroids) -> Result<(), ConfigError> {
    INSTALLED
        .set(Installed { cost, centroids })
        .map_err(|_| ConfigError::AlreadyInstalled)
}

impl CostModel {
    /// The installed cost model, or the default one.
    pub fn configured() -> CostModel {
        INSTALLED.get().map(|i| i.cost.clone()).unwrap_or_default()
    }
}

impl Centroids {
    /// The installed centroid table, or the shipped one.
    pub fn configured() -> &'static Centroids {
        INSTALLED
            .get()
            .map(|i| &i.centroids)
            .unwrap_or_else(Centroids::builtin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_read_partially_and_are_checked() {
        let c = cost_from_json(r#"{"per_km_minor": 2.5}"#).unwrap();
        assert_eq!(c.per_km_minor, 2.5);
        assert_eq!(
            c.per_shipment_minor,
            CostModel::default().per_shipment_minor
        );
        assert!(cost_from_json(r#"{"per_km_minor": -1}"#).is_err());
        assert!(cost_from_json(r#"{"per_kilometre": 1}"#).is_err());
    }

    #[test]
    fn extra_centroids_override_the_shipped_ones() {
        let t = centroids_with("country,postal_prefix,lat,lon\nDE,99,53.6,10.0\n").unwrap();
        let p = t.locate("DE", Some("99084")).unwrap();
        assert_eq!((p.lat, p.lon), (53.6, 10.0));
        let shipped = Centroids::builtin().locate("DE", Some("90402")).unwrap();
        assert_eq!(t.locate("DE", Some("90402")), Some(shipped));
        let e = centroids_with("DE,99,north,10\n").unwrap_err();
        assert!(e.to_string().starts_with("centroids line 1:"), "{e}");
    }
}
