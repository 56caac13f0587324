//! Distances between locations and destinations, and the centroid table that stands in
//! for coordinates an address does not carry.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Mean Earth radius of the IUGG; good to about 0.5 % anywhere, which is far below the
/// error of routing to a centroid instead of a street address.
const EARTH_RADIUS_KM: f64 = 6371.0088;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }

    /// Builds a point only when both halves are present and on the globe, so a half-filled
    /// address falls back to its centroid rather than to (0, 0).
    pub fn from_parts(lat: Option<f64>, lon: Option<f64>) -> Option<Self> {
        match (lat, lon) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some(Self { lat, lon })
            }
            _ => None,
        }
    }

    pub fn distance_km(self, other: GeoPoint) -> f64 {
        haversine_km(self, other)
    }
}

/// Great-circle distance. Road distance is longer, but roughly proportionally so, which is
/// all a cost comparison between locations needs.
pub fn haversine_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    // Rounding can push `h` a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.min(1.0).sqrt().asin()
}

/// The table Ordo ships: every EU country plus its neighbours and main overseas markets,
/// with a few postal-zone examples (German one-digit zones, Paris, Lyon, Marseille).
pub const BUILTIN_CENTROIDS_CSV: &str = include_str!("../data/centroids.csv");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("centroid table line {line}: {message}")]
pub struct CentroidError {
    pub line: usize,
    pub message: String,
}

/// Country and postal-prefix centroids, looked up by longest matching prefix.
#[derive(Debug, Clone, Default)]
pub struct Centroids {
    countries: HashMap<String, GeoPoint>,
    /// Per country, longest prefix first so the first match is the most specific.
    prefixes: HashMap<String, Vec<(String, GeoPoint)>>,
}

impl Centroids {
    /// The built-in table, parsed once.
    pub fn builtin() -> &'static Centroids {
        static TABLE: OnceLock<Centroids> = OnceLock::new();
        TABLE.get_or_init(|| {
            Centroids::from_csv(BUILTIN_CENTROIDS_CSV).expect("the built-in centroid table parses")
        })
    }

    /// Parses `country,postal_prefix,lat,lon` rows. Blank lines, `#` comments and a header
    /// row starting with `country` are skipped; fields are not quoted because none of them
    /// can contain a comma.
    pub fn from_csv(text: &str) -> Result<Self, CentroidError> {
        let mut table = Centroids::default();
        table.extend_from_csv(text)?;
        Ok(table)
    }

    /// Adds or overrides rows, so a deployment can refine the shipped table with its own.
    pub fn extend_from_csv(&mut self, text: &str) -> Result<(), CentroidError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let row = raw.trim();
            if row.is_empty() || row.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            if fields[0].eq_ignore_ascii_case("country") {
                continue;
            }
            let err = |message: &str| CentroidError {
                line,
                message: message.to_string(),
            };
            let [country, prefix, lat, lon] = fields[..] else {
                return Err(err("expected 4 fields: country,postal_prefix,lat,lon"));
            };
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(err("country must be an ISO 3166-1 alpha-2 code"));
            }
            let lat: f64 = lat.parse().map_err(|_| err("lat is not a number"))?;
            let lon: f64 = lon.parse().map_err(|_| err("lon is not a number"))?;
            let point = GeoPoint::from_parts(Some(lat), Some(lon))
                .ok_or_else(|| err("lat/lon out of range"))?;
            self.insert(country, prefix, point);
        }
        Ok(())
    }

    /// `prefix` empty sets the country centroid.
    pub fn insert(&mut self, country: &str, prefix: &str, point: GeoPoint) {
        let country = country.to_ascii_uppercase();
        let prefix = normalise_postal(prefix);
        if prefix.is_empty() {
            self.countries.insert(country, point);
            return;
        }
        let list = self.prefixes.entry(country).or_default();
        list.retain(|(p, _)| *p != prefix);
        list.push((prefix, point));
        list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    /// The most specific centroid known for a postal code in `country`.
    pub fn locate(&self, country: &str, postal_code: Option<&str>) -> Option<GeoPoint> {
        let country = country.trim().to_ascii_uppercase();
        if let Some(postal) = postal_code.map(normalise_postal)
            && let Some(list) = self.prefixes.get(&country)
            && let Some((_, p)) = list.iter().find(|(prefix, _)| postal.starts_with(prefix))
        {
            return Some(*p);
        }
        self.countries.get(&country).copied()
    }

    pub fn countries(&self) -> impl Iterator<Item = &str> {
        self.countries.keys().map(String::as_str)
    }
}

/// Postal codes are compared without spaces or dashes and in upper case, so "SW1A 1AA",
/// "sw1a1aa" and rule prefixes such as "SW1" agree.
pub fn normalise_postal(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        let berlin = GeoPoint::new(52.5200, 13.4050);
        let paris = GeoPoint::new(48.8566, 2.3522);
        let d = haversine_km(berlin, paris);
        assert!((d - 878.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km(berlin, berlin), 0.0);
        let antipode = GeoPoint::new(-52.52, 13.405 - 180.0);
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!((haversine_km(berlin, antipode) - half).abs() < 1.0);
        assert!((haversine_km(berlin, paris) - haversine_km(paris, berlin)).abs() < 1e-9);
    }

    #[test]
    fn builtin_table_covers_europe_and_main_markets() {
        let t = Centroids::builtin();
        for c in [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "GB",
            "US", "CA", "CH", "NO",
        ] {
            assert!(t.locate(c, None).is_some(), "{c}");
        }
    }

    #[test]
    fn postal_prefix_beats_country_and_falls_back() {
        let t = Centroids::builtin();
        let munich = t.locate("de", Some("80331")).unwrap();
        assert_eq!(munich, GeoPoint::new(48.1, 11.6));
        let country = t.locate("DE", Some("X")).unwrap();
        assert_eq!(country, t.locate("DE", None).unwrap());
        assert!(t.locate("ZZ", Some("123")).is_none());
    }

    #[test]
    fn longest_prefix_wins_and_rows_override() {
        let mut t =
            Centroids::from_csv("country,postal_prefix,lat,lon\nGB,,53,-2\nGB,SW,51.4,-0.2\n")
                .unwrap();
        t.extend_from_csv("GB,SW1A,51.50,-0.14").unwrap();
        assert_eq!(t.locate("GB", Some("sw1a 1aa")).unwrap().lat, 51.50);
        assert_eq!(t.locate("GB", Some("SW19")).unwrap().lat, 51.4);
        t.extend_from_csv("GB,SW,51.0,-0.2").unwrap();
        assert_eq!(t.locate("GB", Some("SW19")).unwrap().lat, 51.0);
        assert_eq!(t.locate("GB", Some("M1")).unwrap().lat, 53.0);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = Centroids::from_csv("# c\nDE,,51,10\nDE,1,abc,13\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(Centroids::from_csv("DE,,91,10").is_err());
        assert!(Centroids::from_csv("DEU,,50,10").is_err());
        assert!(Centroids::from_csv("DE,50,10").is_err());
    }

    #[test]
    fn half_coordinates_are_ignored() {
        assert!(GeoPoint::from_parts(Some(1.0), None).is_none());
        assert!(GeoPoint::from_parts(Some(100.0), Some(0.0)).is_none());
        assert!(GeoPoint::from_parts(Some(1.0), Some(2.0)).is_some());
    }
}
