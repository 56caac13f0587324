//! Products, locations and channels: the catalog every order and stock movement refers to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Errors, Problem};
use crate::money::{Currency, format_amount, parse_amount};
use crate::refdata::is_country;

/// A SKU is 1–64 characters, case-sensitive, without whitespace.
pub fn check_sku(sku: &str) -> Result<(), &'static str> {
    if sku.is_empty() || sku.chars().count() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if sku.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace");
    }
    Ok(())
}

/// Codes of locations and channels: 1–32 characters of letters, digits, `-` and `_`.
pub fn check_code(code: &str) -> Result<(), &'static str> {
    if code.is_empty() || code.len() > 32 {
        return Err("must be 1 to 32 characters");
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("may contain only letters, digits, '-' and '_'");
    }
    Ok(())
}

/// GTIN-8, UPC-A (12), EAN-13 or GTIN-14 with a valid mod-10 check digit.
pub fn check_barcode(code: &str) -> Result<(), &'static str> {
    if !matches!(code.len(), 8 | 12 | 13 | 14) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a GTIN of 8, 12, 13 or 14 digits");
    }
    let digits: Vec<u32> = code.bytes().map(|b| (b - b'0') as u32).collect();
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    if (10 - sum % 10) % 10 != check[0] {
        return Err("has an invalid check digit");
    }
    Ok(())
}

/// Appends the check digit to a GTIN body (used by the demo data generator).
pub fn with_check_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 0 { d * 3 } else { d }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandlingClass {
    Fragile,
    Perishable,
    Hazmat,
    Oversize,
}

impl HandlingClass {
    pub fn as_str(self) -> &'static str {
        match self {
            HandlingClass::Fragile => "fragile",
            HandlingClass::Perishable => "perishable",
            HandlingClass::Hazmat => "hazmat",
            HandlingClass::Oversize => "oversize",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fragile" => HandlingClass::Fragile,
            "perishable" => HandlingClass::Perishable,
            "hazmat" => HandlingClass::Hazmat,
            "oversize" => HandlingClass::Oversize,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dimensions {
    pub length_mm: i64,
    pub width_mm: i64,
    pub height_mm: i64,
}

/// A product as stored and returned. Money is in the shop's base currency, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub barcode: Option<String>,
    pub category: Option<String>,
    pub handling_classes: Vec<HandlingClass>,
    pub weight_g: i64,
    pub dimensions: Option<Dimensions>,
    /// Decimal string in `currency`.
    pub unit_cost: String,
    /// Decimal string in `currency`.
    pub price: String,
    pub currency: String,
    pub active: bool,
}

/// Body of `PUT /api/v1/products/{sku}` and `POST /api/v1/products`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProductInput {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub barcode: Option<String>,
    pub category: Option<String>,
    #[serde(default)]
    pub handling_classes: Vec<String>,
    pub weight_g: Option<i64>,
    pub dimensions: Option<Dimensions>,
    pub unit_cost: Option<String>,
    pub price: Option<String>,
    /// ISO 4217 code; defaults to EUR.
    pub currency: Option<String>,
    pub active: Option<bool>,
}

impl ProductInput {
    pub fn validate(self) -> Result<Product, Problem> {
        let mut errors = Errors::default();
        let sku = self.sku.unwrap_or_default();
        if let Err(e) = check_sku(&sku) {
            errors.add("sku", e);
        }
        let name = self.name.unwrap_or_default().trim().to_string();
        if name.is_empty() || name.len() > 200 {
            errors.add("name", "is required (at most 200 characters)");
        }
        if let Some(b) = &self.barcode
            && let Err(e) = check_barcode(b)
        {
            errors.add("barcode", e);
        }
        let mut classes = Vec::new();
        for (i, c) in self.handling_classes.iter().enumerate() {
            match HandlingClass::parse(c) {
                Some(c) if !classes.contains(&c) => classes.push(c),
                Some(_) => {}
                None => errors.add(
                    format!("handling_classes[{i}]"),
                    "must be one of fragile, perishable, hazmat, oversize",
                ),
            }
        }
        let weight_g = self.weight_g.unwrap_or(0);
        if weight_g < 0 {
            errors.add("weight_g", "must not be negative");
        }
        if let Some(d) = &self.dimensions
            && (d.length_mm < 0 || d.width_mm < 0 || d.height_mm < 0)
        {
            errors.add("dimensions", "must not be negative");
        }
        let currency_code = self.currency.unwrap_or_else(|| "EUR".into());
        let currency = Currency::parse(&currency_code);
        if currency.is_none() {
            errors.add("currency", "must be an ISO 4217 currency code");
        }
        let mut money = |field: &str, value: Option<String>| -> String {
            let Some(currency) = currency else {
                return String::new();
            };
            match parse_amount(value.as_deref().unwrap_or("0"), currency) {
                Ok(minor) => format_amount(minor, currency.exponent),
                Err(e) => {
                    errors.add(field, e.to_string());
                    String::new()
                }
            }
        };
        let unit_cost = money("unit_cost", self.unit_cost);
        let price = money("price", self.price);
        errors.finish(|| Product {
            sku,
            name,
            barcode: self.barcode,
            category: self.category,
            handling_classes: classes,
            weight_g,
            dimensions: self.dimensions,
            unit_cost,
            price,
            currency: currency_code,
            active: self.active.unwrap_or(true),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    Store,
    #[serde(rename = "3pl")]
    ThirdParty,
    Marketplace,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Warehouse => "warehouse",
            LocationKind::Store => "store",
            LocationKind::ThirdParty => "3pl",
            LocationKind::Marketplace => "marketplace",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "warehouse" => LocationKind::Warehouse,
            "store" => LocationKind::Store,
            "3pl" => LocationKind::ThirdParty,
            "marketplace" => LocationKind::Marketplace,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub phone: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl Address {
    /// Checks a shipping-grade address, reporting fields under `path`.
    pub fn check(&self, path: &str, errors: &mut Errors) {
        for (field, value) in [
            ("name", &self.name),
            ("line1", &self.line1),
            ("city", &self.city),
            ("country", &self.country),
        ] {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                errors.add(format!("{path}.{field}"), "is required");
            }
        }
        if let Some(country) = &self.country
            && !country.trim().is_empty()
            && !is_country(country)
        {
            errors.add(
                format!("{path}.country"),
                "must be an ISO 3166-1 alpha-2 code such as DE",
            );
        }
        if let Some(lat) = self.latitude
            && !(-90.0..=90.0).contains(&lat)
        {
            errors.add(format!("{path}.latitude"), "must be between -90 and 90");
        }
        if let Some(lon) = self.longitude
            && !(-180.0..=180.0).contains(&lon)
        {
            errors.add(format!("{path}.longitude"), "must be between -180 and 180");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub address: Address,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Lower ships first when all else is equal.
    pub priority: i32,
    pub active: bool,
    /// ISO country codes this location ships to; empty means everywhere.
    pub ships_to: Vec<String>,
    /// How order routing treats this location.
    #[serde(default)]
    pub routing: LocationRouting,
    /// The GS1 Company Prefix this location labels parcels under (6–12 digits): its
    /// shipping labels then carry an SSCC-18.
    #[serde(default)]
    pub gs1_company_prefix: Option<String>,
}

/// A location's operational limits for order routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct LocationRouting {
    /// Cost of one shipment leaving here (picking, packing, carrier pickup), a decimal in
    /// the same units as distance cost (1.00 = 100 km).
    pub handling_cost: String,
    /// Most fulfillment orders routed here per local day; absent means unlimited.
    pub daily_capacity: Option<u32>,
    /// Units of every SKU routing leaves untouched here (display stock, miscount margin).
    pub safety_stock: i64,
    /// Handling classes this location cannot ship (e.g. a shop without cold storage).
    pub cannot_ship: Vec<HandlingClass>,
    /// The location's clock as an offset from UTC (`+01:00`); its day, and its daily
    /// capacity, start at its local midnight.
    pub utc_offset: String,
}

impl Default for LocationRouting {
    fn default() -> Self {
        Self {
            handling_cost: "0.00".into(),
            daily_capacity: None,
            safety_stock: 0,
            cannot_ship: Vec::new(),
            utc_offset: "+00:00".into(),
        }
    }
}

impl LocationRouting {
    /// The handling cost in hundredths.
    pub fn handling_cost_minor(&self) -> i64 {
        parse_amount(&self.handling_cost, COST_UNITS).unwrap_or(0)
    }

    /// The UTC offset in seconds (0 when unset).
    pub fn utc_offset_seconds(&self) -> i32 {
        parse_utc_offset(&self.utc_offset).unwrap_or(0)
    }
}

/// Costs that are not a sale price (handling, distance) use two decimals.
const COST_UNITS: Currency = Currency {
    code: "cost",
    exponent: 2,
};

/// `+HH:MM`, `-HH:MM` or `Z`, within ±18 hours.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    if s == "Z" {
        return Some(0);
    }
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i32 = s.get(1..3)?.parse().ok()?;
    let m: i32 = s.get(4..6)?.parse().ok()?;
    if h > 18 || m > 59 || (h == 18 && m > 0) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LocationRoutingInput {
    pub handling_cost: Option<String>,
    pub daily_capacity: Option<i64>,
    pub safety_stock: Option<i64>,
    #[serde(default)]
    pub cannot_ship: Vec<String>,
    pub utc_offset: Option<String>,
}

impl LocationRoutingInput {
    fn validate(self, errors: &mut Errors) -> LocationRouting {
        let handling_cost = match self.handling_cost {
            Some(text) => match parse_amount(&text, COST_UNITS) {
                Ok(minor) => format_amount(minor, 2),
                Err(e) => {
                    errors.add("routing.handling_cost", e.to_string());
                    "0.00".into()
                }
            },
            None => "0.00".into(),
        };
        let daily_capacity = match self.daily_capacity {
            Some(c) if !(1..=u32::MAX as i64).contains(&c) => {
                errors.add("routing.daily_capacity", "must be at least 1");
                None
            }
            c => c.map(|c| c as u32),
        };
        let safety_stock = self.safety_stock.unwrap_or(0);
        if safety_stock < 0 {
            errors.add("routing.safety_stock", "must not be negative");
        }
        let mut cannot_ship = Vec::new();
        for (i, c) in self.cannot_ship.iter().enumerate() {
            match HandlingClass::parse(c) {
                Some(class) => cannot_ship.push(class),
                None => errors.add(
                    format!("routing.cannot_ship[{i}]"),
                    "must be one of fragile, perishable, hazmat, oversize",
                ),
            }
        }
        let utc_offset = self.utc_offset.unwrap_or_else(|| "+00:00".into());
        if parse_utc_offset(&utc_offset).is_none() {
            errors.add(
                "routing.utc_offset",
                "must be an offset such as +01:00 or -05:00",
            );
        }
        LocationRouting {
            handling_cost,
            daily_capacity,
            safety_stock,
            cannot_ship,
            utc_offset,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LocationInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub address: Option<Address>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub priority: Option<i32>,
    pub active: Option<bool>,
    #[serde(default)]
    pub ships_to: Vec<String>,
    pub routing: Option<LocationRoutingInput>,
    pub gs1_company_prefix: Option<String>,
}

impl LocationInput {
    pub fn validate(self) -> Result<Location, Problem> {
        let mut errors = Errors::default();
        let code = self.code.unwrap_or_default();
        if let Err(e) = check_code(&code) {
            errors.add("code", e);
        }
        let name = self.name.unwrap_or_default();
        if name.trim().is_empty() {
            errors.add("name", "is required");
        }
        let kind = LocationKind::parse(self.kind.as_deref().unwrap_or(""));
        if kind.is_none() {
            errors.add("kind", "must be one of warehouse, store, 3pl, marketplace");
        }
        let address = self.address.unwrap_or_default();
        if let Some(country) = &address.country
            && !is_country(country)
        {
            errors.add("address.country", "must be an ISO 3166-1 alpha-2 code");
        }
        if let Some(lat) = self.latitude
            && !(-90.0..=90.0).contains(&lat)
        {
            errors.add("latitude", "must be between -90 and 90");
        }
        if let Some(lon) = self.longitude
            && !(-180.0..=180.0).contains(&lon)
        {
            errors.add("longitude", "must be between -180 and 180");
        }
        for (i, c) in self.ships_to.iter().enumerate() {
            if !is_country(c) {
                errors.add(
                    format!("ships_to[{i}]"),
                    "must be an ISO 3166-1 alpha-2 code",
                );
            }
        }
        let routing = self.routing.unwrap_or_default().validate(&mut errors);
        let gs1_company_prefix = self.gs1_company_prefix.filter(|p| !p.trim().is_empty());
        if gs1_company_prefix
            .as_ref()
            .is_some_and(|p| !(6..=12).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.add("gs1_company_prefix", "must be 6 to 12 digits");
        }
        errors.finish(|| Location {
            routing,
            gs1_company_prefix,
            code,
            name,
            kind: kind.unwrap_or(LocationKind::Warehouse),
            address,
            latitude: self.latitude,
            longitude: self.longitude,
            priority: self.priority.unwrap_or(100),
            active: self.active.unwrap_or(true),
            ships_to: self.ships_to,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Web,
    Shopify,
    Woocommerce,
    Amazon,
    Ebay,
    Pos,
    Manual,
    Csv,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 8] = [
        ChannelKind::Web,
        ChannelKind::Shopify,
        ChannelKind::Woocommerce,
        ChannelKind::Amazon,
        ChannelKind::Ebay,
        ChannelKind::Pos,
        ChannelKind::Manual,
        ChannelKind::Csv,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Web => "web",
            ChannelKind::Shopify => "shopify",
            ChannelKind::Woocommerce => "woocommerce",
            ChannelKind::Amazon => "amazon",
            ChannelKind::Ebay => "ebay",
            ChannelKind::Pos => "pos",
            ChannelKind::Manual => "manual",
            ChannelKind::Csv => "csv",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub code: String,
    pub name: String,
    pub kind: ChannelKind,
    pub currency: String,
    /// Locations whose stock this channel may sell; empty means every active location.
    pub locations: Vec<String>,
    /// Units per SKU held back from what the channel is told it can sell.
    pub buffer: i64,
    /// Caps the quantity the channel is told it can sell.
    pub max_listed: Option<i64>,
    pub active: bool,
    /// Whether this channel's orders may leave in more than one shipment.
    #[serde(default)]
    pub split_policy: SplitPolicy,
    /// With `allow_if_order_value_above`: the goods value (in the channel's currency)
    /// an order must exceed before it may be split.
    #[serde(default)]
    pub split_order_value_above: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SplitPolicy {
    #[default]
    Allow,
    Never,
    AllowIfOrderValueAbove,
}

impl Channel {
    /// The split threshold in minor units of the channel's currency.
    pub fn split_threshold_minor(&self) -> Option<i64> {
        let currency = Currency::parse(&self.currency)?;
        parse_amount(self.split_order_value_above.as_deref()?, currency).ok()
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ChannelInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub currency: Option<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    pub buffer: Option<i64>,
    pub max_listed: Option<i64>,
    pub active: Option<bool>,
    /// `allow` (default), `never` or `allow_if_order_value_above`.
    pub split_policy: Option<String>,
    pub split_order_value_above: Option<String>,
}

impl ChannelInput {
    /// Checks the fields; whether the named locations exist is the store's check.
    pub fn validate(self) -> Result<Channel, Problem> {
        let mut errors = Errors::default();
        let code = self.code.unwrap_or_default();
        if let Err(e) = check_code(&code) {
            errors.add("code", e);
        }
        let name = self.name.unwrap_or_default();
        if name.trim().is_empty() {
            errors.add("name", "is required");
        }
        let kind = ChannelKind::parse(self.kind.as_deref().unwrap_or(""));
        if kind.is_none() {
            errors.add(
                "kind",
                "must be one of web, shopify, woocommerce, amazon, ebay, pos, manual, csv",
            );
        }
        let currency = self.currency.unwrap_or_default();
        if Currency::parse(&currency).is_none() {
            errors.add("currency", "must be an ISO 4217 currency code");
        }
        let buffer = self.buffer.unwrap_or(0);
        if buffer < 0 {
            errors.add("buffer", "must not be negative");
        }
        if self.max_listed.is_some_and(|m| m < 0) {
            errors.add("max_listed", "must not be negative");
        }
        let split_policy = match self.split_policy.as_deref() {
            None | Some("allow") => SplitPolicy::Allow,
            Some("never") => SplitPolicy::Never,
            Some("allow_if_order_value_above") => SplitPolicy::AllowIfOrderValueAbove,
            Some(_) => {
                errors.add(
                    "split_policy",
                    "must be one of allow, never, allow_if_order_value_above",
                );
                SplitPolicy::Allow
            }
        };
        let mut split_order_value_above = None;
        match (&self.split_order_value_above, split_policy) {
            (Some(v), SplitPolicy::AllowIfOrderValueAbove) => {
                if let Some(c) = Currency::parse(&currency) {
                    match parse_amount(v, c) {
                        Ok(minor) => {
                            split_order_value_above = Some(format_amount(minor, c.exponent))
                        }
                        Err(e) => errors.add("split_order_value_above", e.to_string()),
                    }
                }
            }
            (None, SplitPolicy::AllowIfOrderValueAbove) => errors.add(
                "split_order_value_above",
                "is required with split_policy allow_if_order_value_above",
            ),
            (Some(_), _) => errors.add(
                "split_order_value_above",
                "only applies with split_policy allow_if_order_value_above",
            ),
            (None, _) => {}
        }
        errors.finish(|| Channel {
            split_policy,
            split_order_value_above,
            code,
            name,
            kind: kind.unwrap_or(ChannelKind::Manual),
            currency,
            locations: self.locations,
            buffer,
            max_listed: self.max_listed,
            active: self.active.unwrap_or(true),
        })
    }
}

/// Available-to-sell for one channel and SKU: the sum of `available` over its locations,
/// minus its buffer, capped by its max-listed quantity, never below zero.
pub fn available_to_sell(
    available_per_location: impl IntoIterator<Item = i64>,
    channel: &Channel,
) -> i64 {
    let total: i64 = available_per_location.into_iter().map(|a| a.max(0)).sum();
    let after_buffer = (total - channel.buffer).max(0);
    match channel.max_listed {
        Some(cap) => after_buffer.min(cap),
        None => after_buffer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barcodes() {
        assert!(check_barcode("4006381333931").is_ok());
        assert!(check_barcode("036000291452").is_ok());
        assert!(check_barcode("96385074").is_ok());
        assert!(check_barcode("4006381333932").is_err());
        assert!(check_barcode("40063813339").is_err());
        assert!(check_barcode("400638133393a").is_err());
        assert_eq!(with_check_digit("400638133393"), "4006381333931");
    }

    #[test]
    fn skus() {
        assert!(check_sku("ABC-1").is_ok());
        assert!(check_sku("").is_err());
        assert!(check_sku("a b").is_err());
        assert!(check_sku(&"x".repeat(65)).is_err());
        assert!(check_sku(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn availability_to_sell_applies_buffer_and_cap() {
        let mut ch = ChannelInput {
            code: Some("web".into()),
            name: Some("Web".into()),
            kind: Some("web".into()),
            currency: Some("EUR".into()),
            buffer: Some(2),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(available_to_sell([5, 3, -4], &ch), 6);
        assert_eq!(available_to_sell([1], &ch), 0);
        ch.max_listed = Some(4);
        assert_eq!(available_to_sell([50], &ch), 4);
    }

    #[test]
    fn product_validation_names_fields() {
        let err = ProductInput {
            sku: Some("bad sku".into()),
            barcode: Some("123".into()),
            handling_classes: vec!["explosive".into()],
            price: Some("1.999".into()),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let Problem::Invalid(fields) = err else {
            panic!()
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            ["sku", "name", "barcode", "handling_classes[0]", "price"]
        );
    }
}
