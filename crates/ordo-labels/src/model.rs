//! Plain input types shared by the documents. Everything is passed in by the caller
//! (addresses as fields, weights in grams, dates as already-formatted text), so rendering
//! needs no clock, no locale data and no database.

use serde::{Deserialize, Serialize};

use crate::error::Errors;

/// A postal address, with the same field names as `ordo-domain`'s `Address`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper case (`DE`, `US`).
    pub country: String,
    pub phone: Option<String>,
}

impl Address {
    /// Checks what a courier needs to deliver, reporting fields under `path`.
    pub(crate) fn check(&self, path: &str, errors: &mut Errors) {
        for (field, value) in [
            ("name", &self.name),
            ("line1", &self.line1),
            ("city", &self.city),
        ] {
            if value.trim().is_empty() {
                errors.add(format!("{path}.{field}"), "is required");
            }
        }
        let c = self.country.as_bytes();
        if c.len() != 2 || !c.iter().all(|b| b.is_ascii_uppercase()) {
            errors.add(
                format!("{path}.country"),
                "must be an ISO 3166-1 alpha-2 code such as DE or US",
            );
        }
    }

    /// The address as printed, one entry per line: name, company, street lines, then the
    /// locality in the order the destination's post expects (`City REGION 12345` in the US,
    /// Canada and Australia; city and postcode on separate lines in the UK and Ireland;
    /// `12345 City` elsewhere), and the country code when `international`.
    /// Blank optional fields are skipped.
    pub fn lines(&self, international: bool) -> Vec<String> {
        let mut lines = vec![self.name.trim().to_owned()];
        lines.extend(non_blank(&self.company));
        lines.push(self.line1.trim().to_owned());
        lines.extend(non_blank(&self.line2));
        lines.extend(self.locality_lines());
        if international {
            lines.push(self.country.clone());
        }
        lines.retain(|l| !l.is_empty());
        lines
    }

    /// The locality lines alone (see [`Address::lines`]).
    pub fn locality_lines(&self) -> Vec<String> {
        let city = self.city.trim().to_owned();
        let region = non_blank(&self.region);
        let postal = non_blank(&self.postal_code);
        match self.country.as_str() {
            "US" | "CA" | "AU" => vec![join([Some(city), region, postal])],
            "GB" | "IE" => [Some(city), region, postal].into_iter().flatten().collect(),
            _ => {
                let mut lines = vec![join([postal, Some(city)])];
                lines.extend(region);
                lines
            }
        }
    }
}

/// The trimmed value, or `None` when missing or blank.
pub(crate) fn non_blank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn join<const N: usize>(parts: [Option<String>; N]) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
}

/// Paper size of packing slips and manifests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageSize {
    /// 210 × 297 mm.
    #[default]
    A4,
    /// 8.5 × 11 in.
    Letter,
}

impl PageSize {
    /// Width and height in points (1/72 in).
    pub fn points(self) -> (f64, f64) {
        match self {
            PageSize::A4 => (595.276, 841.89),
            PageSize::Letter => (612.0, 792.0),
        }
    }
}

/// How weights are shown; they are always passed in grams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightUnit {
    #[default]
    Kg,
    Lb,
}

/// Formats a weight in grams for people: kilograms exactly (`1.25 kg`, `0.8 kg`), or pounds
/// rounded *up* to the hundredth (`2.21 lb` for 1000 g), because a declared weight below
/// the real one is what gets a parcel re-billed or refused.
pub fn format_weight(grams: u64, unit: WeightUnit) -> String {
    match unit {
        WeightUnit::Kg => {
            let frac = format!("{:03}", grams % 1000);
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{} kg", grams / 1000)
            } else {
                format!("{}.{} kg", grams / 1000, frac)
            }
        }
        WeightUnit::Lb => {
            // 1 lb = 453.59237 g exactly, so hundredths = grams × 10^7 / 45 359 237.
            let num = u128::from(grams) * 10_000_000;
            let hundredths = num.div_ceil(45_359_237);
            format!("{}.{:02} lb", hundredths / 100, hundredths % 100)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(format_weight(1250, WeightUnit::Kg), "1.25 kg");
        assert_eq!(format_weight(800, WeightUnit::Kg), "0.8 kg");
        assert_eq!(format_weight(2000, WeightUnit::Kg), "2 kg");
        assert_eq!(format_weight(5, WeightUnit::Kg), "0.005 kg");
        assert_eq!(format_weight(1000, WeightUnit::Lb), "2.21 lb");
        // 453 g is 0.9987 lb: shown rounded up, never down.
        assert_eq!(format_weight(453, WeightUnit::Lb), "1.00 lb");
        assert_eq!(format_weight(454, WeightUnit::Lb), "1.01 lb");
    }

    #[test]
    fn locality_order_follows_the_destination() {
        let mut a = Address {
            name: "Ana".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            region: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: "US".into(),
            ..Address::default()
        };
        assert_eq!(a.locality_lines(), vec!["Springfield IL 62701"]);
        a.country = "GB".into();
        a.region = None;
        a.postal_code = Some("SW1A 1AA".into());
        assert_eq!(a.locality_lines(), vec!["Springfield", "SW1A 1AA"]);
        a.country = "DE".into();
        a.postal_code = Some("10115".into());
        assert_eq!(a.locality_lines(), vec!["10115 Springfield"]);
        assert_eq!(a.lines(true).last().map(String::as_str), Some("DE"));
    }
}
