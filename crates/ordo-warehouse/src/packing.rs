//! Packing policies per handling class, as data.
//!
//! A policy says what a class of goods needs in the box (materials, markings, padding),
//! what it may not travel with, which boxes may hold it and which carrier services may take
//! it. Policies are data rather than code so a shop can change padding or service rules
//! without a release: they load from JSON or from CSV rows, and [`PackingPolicies::default`]
//! holds sensible starting points:
//!
//! * `fragile`: bubble wrap, a `FRAGILE` marking, at least 20 mm padding on each side,
//!   never in the same package as hazmat;
//! * `perishable`: an insulated box with ice packs, express or overnight services only, and
//!   never in transit over a weekend (a parcel that sits in a depot from Friday to Monday
//!   spoils);
//! * `hazmat`: a package of its own (only units of the same SKU together, since different
//!   dangerous goods may react and are declared separately), ground services only (air
//!   transport of dangerous goods needs declarations this module does not produce).

use ordo_domain::catalog::HandlingClass;
use ordo_domain::error::{Errors, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::shipping::ServiceLevel;

/// Which other units may share a package with a unit of the class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Any unit allowed by `never_with`.
    #[default]
    None,
    /// Only units that have this class too.
    SameClass,
    /// Only units of the same SKU.
    SameSku,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::None => "none",
            Isolation::SameClass => "same_class",
            Isolation::SameSku => "same_sku",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Isolation::None, Isolation::SameClass, Isolation::SameSku]
            .into_iter()
            .find(|i| i.as_str() == s)
    }
}

/// What one handling class needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackingPolicy {
    pub class: HandlingClass,
    /// Packing materials to use (`bubble_wrap`, `ice_packs`, …), shown to the packer.
    #[serde(default)]
    pub materials: Vec<String>,
    /// Markings on the outside of the package (`FRAGILE`).
    #[serde(default)]
    pub markings: Vec<String>,
    /// Free space around every unit of the class, on each of its six sides.
    #[serde(default)]
    pub padding_mm: i64,
    /// Classes that may never share a package with this one.
    #[serde(default)]
    pub never_with: Vec<HandlingClass>,
    #[serde(default)]
    pub isolation: Isolation,
    /// Features a box must have to hold the class (`insulated`).
    #[serde(default)]
    pub box_features: Vec<String>,
    /// Weight added once per package holding the class (ice packs), counted against the
    /// box's maximum weight and billed by the carrier.
    #[serde(default)]
    pub added_weight_g: i64,
    /// Service levels that may carry the class; empty means any.
    #[serde(default)]
    pub service_levels: Vec<ServiceLevel>,
    /// The parcel may not be in transit over a Saturday or Sunday.
    #[serde(default)]
    pub no_weekend_transit: bool,
}

impl PackingPolicy {
    /// A policy that asks for nothing.
    pub fn plain(class: HandlingClass) -> Self {
        PackingPolicy {
            class,
            materials: vec![],
            markings: vec![],
            padding_mm: 0,
            never_with: vec![],
            isolation: Isolation::None,
            box_features: vec![],
            added_weight_g: 0,
            service_levels: vec![],
            no_weekend_transit: false,
        }
    }
}

/// What a carrier service must offer for a package, derived from the classes inside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ServiceConstraints {
    /// Allowed service levels; `None` means any. `Some(vec![])` means none can carry it
    /// (conflicting policies, e.g. perishable and hazmat in one package).
    pub service_levels: Option<Vec<ServiceLevel>>,
    pub no_weekend_transit: bool,
}

impl ServiceConstraints {
    pub fn allows(&self, level: ServiceLevel) -> bool {
        self.service_levels
            .as_ref()
            .is_none_or(|l| l.contains(&level))
    }

    /// Both sets of constraints at once (for a shipment of several packages).
    pub fn and(&self, other: &ServiceConstraints) -> ServiceConstraints {
        let service_levels = match (&self.service_levels, &other.service_levels) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(a.iter().filter(|l| b.contains(l)).copied().collect()),
        };
        ServiceConstraints {
            service_levels,
            no_weekend_transit: self.no_weekend_transit || other.no_weekend_transit,
        }
    }
}

/// What a package needs, from every class inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackageRules {
    pub materials: Vec<String>,
    pub markings: Vec<String>,
    pub box_features: Vec<String>,
    pub added_weight_g: i64,
    pub service: ServiceConstraints,
}

/// The policies of a shop, one per class at most. Classes without a policy need nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackingPolicies {
    pub policies: Vec<PackingPolicy>,
}

impl Default for PackingPolicies {
    fn default() -> Self {
        PackingPolicies {
            policies: vec![
                PackingPolicy {
                    materials: vec!["bubble_wrap".into()],
                    markings: vec!["FRAGILE".into()],
                    padding_mm: 20,
                    never_with: vec![HandlingClass::Hazmat],
                    ..PackingPolicy::plain(HandlingClass::Fragile)
                },
                PackingPolicy {
                    // The insulated box is a box feature (the box types say which boxes
                    // are insulated); the ice packs go in it.
                    materials: vec!["ice_packs".into()],
                    box_features: vec!["insulated".into()],
                    service_levels: vec![ServiceLevel::Express, ServiceLevel::Overnight],
                    no_weekend_transit: true,
                    ..PackingPolicy::plain(HandlingClass::Perishable)
                },
                PackingPolicy {
                    isolation: Isolation::SameSku,
                    service_levels: vec![ServiceLevel::Ground],
                    ..PackingPolicy::plain(HandlingClass::Hazmat)
                },
            ],
        }
    }
}

/// The CSV columns, in order. List cells separate values with `;`.
pub const CSV_COLUMNS: [&str; 10] = [
    "class",
    "materials",
    "markings",
    "padding_mm",
    "never_with",
    "isolation",
    "box_features",
    "added_weight_g",
    "service_levels",
    "no_weekend_transit",
];

impl PackingPolicies {
    pub fn none() -> Self {
        PackingPolicies { policies: vec![] }
    }

    pub fn get(&self, class: HandlingClass) -> Option<&PackingPolicy> {
        self.policies.iter().find(|p| p.class == class)
    }

    /// One policy per class, no negative padding or weight.
    pub fn validate(&self) -> Result<(), Problem> {
        let mut errors = Errors::default();
        for (i, p) in self.policies.iter().enumerate() {
            if self.policies[..i].iter().any(|q| q.class == p.class) {
                errors.add(format!("policies[{i}].class"), "has a policy already");
            }
            if !(0..=1000).contains(&p.padding_mm) {
                errors.add(format!("policies[{i}].padding_mm"), "must be 0 to 1000");
            }
            if !(0..=100_000).contains(&p.added_weight_g) {
                errors.add(
                    format!("policies[{i}].added_weight_g"),
                    "must be 0 to 100000",
                );
            }
        }
        errors.finish(|| ())
    }

    /// Parses and validates `{"policies": [...]}`.
    pub fn from_json(text: &str) -> Result<Self, Problem> {
        let p: PackingPolicies =
            serde_json::from_str(text).map_err(|e| Problem::invalid("policies", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Parses CSV with a header row naming any of [`CSV_COLUMNS`] (`class` is required),
    /// one policy per row. Lists use `;` (`bubble_wrap;tape`), booleans `true`/`false`,
    /// empty cells mean the default. Errors name the row and column (`rows[2].padding_mm`).
    pub fn from_csv(text: &str) -> Result<Self, Problem> {
        let mut rows = parse_csv(text).into_iter();
        let header = rows.next().unwrap_or_default();
        let mut errors = Errors::default();
        for h in &header {
            if !CSV_COLUMNS.contains(&h.as_str()) {
                errors.add(format!("header.{h}"), "is not a policy column");
            }
        }
        if !header.iter().any(|h| h == "class") {
            errors.add("header.class", "is required");
        }
        if !errors.is_empty() {
            return Err(errors.finish(|| ()).unwrap_err());
        }
        let mut policies = Vec::new();
        for (r, row) in rows.enumerate() {
            if row.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let cell = |name: &str| -> &str {
                header
                    .iter()
                    .position(|h| h == name)
                    .and_then(|i| row.get(i))
                    .map_or("", |s| s.trim())
            };
            let list = |name: &str| -> Vec<String> {
                cell(name)
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            };
            let mut err = |col: &str, msg: &str| errors.add(format!("rows[{r}].{col}"), msg);
            let Some(class) = HandlingClass::parse(cell("class")) else {
                err(
                    "class",
                    "must be one of fragile, perishable, hazmat, oversize",
                );
                continue;
            };
            let mut p = PackingPolicy::plain(class);
            p.materials = list("materials");
            p.markings = list("markings");
            for (col, slot) in [
                ("padding_mm", &mut p.padding_mm),
                ("added_weight_g", &mut p.added_weight_g),
            ] {
                match cell(col) {
                    "" => {}
                    v => match v.parse() {
                        Ok(n) => *slot = n,
                        Err(_) => err(col, "must be a whole number"),
                    },
                }
            }
            for c in list("never_with") {
                match HandlingClass::parse(&c) {
                    Some(c) => p.never_with.push(c),
                    None => err("never_with", "must list handling classes"),
                }
            }
            match cell("isolation") {
                "" => {}
                v => match Isolation::parse(v) {
                    Some(i) => p.isolation = i,
                    None => err("isolation", "must be none, same_class or same_sku"),
                },
            }
            p.box_features = list("box_features");
            for l in list("service_levels") {
                match ServiceLevel::parse(&l) {
                    Some(l) => p.service_levels.push(l),
                    None => err(
                        "service_levels",
                        "must list ground, standard, express or overnight",
                    ),
                }
            }
            match cell("no_weekend_transit") {
                "" | "false" => {}
                "true" => p.no_weekend_transit = true,
                _ => err("no_weekend_transit", "must be true or false"),
            }
            policies.push(p);
        }
        errors.finish(|| ())?;
        let p = PackingPolicies { policies };
        p.validate()?;
        Ok(p)
    }

    /// Writes the policies as CSV that [`PackingPolicies::from_csv`] reads back.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push('\n');
        let join = |v: Vec<&str>| v.join(";");
        for p in &self.policies {
            let cells = [
                p.class.as_str().to_string(),
                join(p.materials.iter().map(String::as_str).collect()),
                join(p.markings.iter().map(String::as_str).collect()),
                p.padding_mm.to_string(),
                join(p.never_with.iter().map(|c| c.as_str()).collect()),
                p.isolation.as_str().to_string(),
                join(p.box_features.iter().map(String::as_str).collect()),
                p.added_weight_g.to_string(),
                join(p.service_levels.iter().map(|l| l.as_str()).collect()),
                p.no_weekend_transit.to_string(),
            ];
            let quoted: Vec<String> = cells.iter().map(|c| csv_quote(c)).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        }
        out
    }

    /// Padding around a unit with these classes: the largest any of them asks for.
    pub fn padding_mm(&self, classes: &[HandlingClass]) -> i64 {
        classes
            .iter()
            .filter_map(|c| self.get(*c))
            .map(|p| p.padding_mm)
            .max()
            .unwrap_or(0)
    }

    /// Whether two units (SKU and classes) may share a package. Symmetric.
    pub fn can_share(&self, a: (&str, &[HandlingClass]), b: (&str, &[HandlingClass])) -> bool {
        self.allows(a, b) && self.allows(b, a)
    }

    fn allows(
        &self,
        (sku, classes): (&str, &[HandlingClass]),
        other: (&str, &[HandlingClass]),
    ) -> bool {
        classes.iter().filter_map(|c| self.get(*c)).all(|p| {
            !p.never_with.iter().any(|n| other.1.contains(n))
                && match p.isolation {
                    Isolation::None => true,
                    Isolation::SameClass => other.1.contains(&p.class),
                    Isolation::SameSku => other.0 == sku,
                }
        })
    }

    /// Everything a package holding units of `classes` needs.
    pub fn rules(&self, classes: &[HandlingClass]) -> PackageRules {
        let mut r = PackageRules::default();
        let mut seen: Vec<HandlingClass> = Vec::new();
        for c in classes {
            if seen.contains(c) {
                continue;
            }
            seen.push(*c);
            let Some(p) = self.get(*c) else { continue };
            for (from, to) in [
                (&p.materials, &mut r.materials),
                (&p.markings, &mut r.markings),
                (&p.box_features, &mut r.box_features),
            ] {
                for m in from {
                    if !to.contains(m) {
                        to.push(m.clone());
                    }
                }
            }
            r.added_weight_g += p.added_weight_g;
            r.service = r.service.and(&ServiceConstraints {
                service_levels: (!p.service_levels.is_empty()).then(|| p.service_levels.clone()),
                no_weekend_transit: p.no_weekend_transit,
            });
        }
        r
    }

    /// The packer's instructions for a package holding units of `classes`, in plain words.
    pub fn instructions(&self, classes: &[HandlingClass]) -> Vec<String> {
        let r = self.rules(classes);
        let mut out = Vec::new();
        if !r.box_features.is_empty() {
            out.push(format!(
                "Use a box that is {}",
                r.box_features.join(" and ")
            ));
        }
        for m in &r.materials {
            out.push(format!("Add {}", m.replace('_', " ")));
        }
        let pad = self.padding_mm(classes);
        if pad > 0 {
            out.push(format!(
                "Leave at least {pad} mm of padding on every side of each item"
            ));
        }
        for m in &r.markings {
            out.push(format!("Mark the package \"{m}\""));
        }
        for c in classes {
            if let Some(p) = self.get(*c)
                && p.isolation == Isolation::SameSku
            {
                out.push(format!(
                    "Pack {} items apart from everything else",
                    c.as_str()
                ));
            }
        }
        out.dedup();
        out
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 4180 rows: commas, double-quoted cells with `""` escapes, `\n` or `\r\n` endings.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use HandlingClass::*;

    #[test]
    fn defaults_follow_the_house_rules() {
        let p = PackingPolicies::default();
        p.validate().unwrap();
        let fragile = p.get(Fragile).unwrap();
        assert_eq!(fragile.padding_mm, 20);
        assert_eq!(fragile.markings, ["FRAGILE"]);
        assert_eq!(fragile.materials, ["bubble_wrap"]);
        assert!(!p.can_share(("A", &[Fragile]), ("B", &[Hazmat])));
        assert!(!p.can_share(("B", &[Hazmat]), ("A", &[Fragile])));
        // Hazmat only with units of the same SKU.
        assert!(p.can_share(("H", &[Hazmat]), ("H", &[Hazmat])));
        assert!(!p.can_share(("H", &[Hazmat]), ("G", &[Hazmat])));
        assert!(!p.can_share(("H", &[Hazmat]), ("P", &[])));
        assert!(p.can_share(("A", &[Fragile]), ("B", &[Perishable])));
        assert!(p.can_share(("A", &[]), ("B", &[Oversize])));
        let perishable = p.rules(&[Perishable]);
        assert_eq!(perishable.box_features, ["insulated"]);
        assert!(perishable.service.no_weekend_transit);
        assert!(perishable.service.allows(ServiceLevel::Express));
        assert!(!perishable.service.allows(ServiceLevel::Ground));
        assert!(p.rules(&[Hazmat]).service.allows(ServiceLevel::Ground));
        assert!(!p.rules(&[Hazmat]).service.allows(ServiceLevel::Express));
        assert!(p.rules(&[]).service.allows(ServiceLevel::Overnight));
        // One unit that is both perishable and hazmat can go by no service at all.
        assert_eq!(
            p.rules(&[Perishable, Hazmat]).service.service_levels,
            Some(vec![])
        );
        assert_eq!(p.padding_mm(&[Fragile, Perishable]), 20);
        assert_eq!(p.padding_mm(&[]), 0);
    }

    #[test]
    fn instructions_read_like_a_packing_slip() {
        let p = PackingPolicies::default();
        assert_eq!(
            p.instructions(&[Fragile, Perishable]),
            [
                "Use a box that is insulated",
                "Add bubble wrap",
                "Add ice packs",
                "Leave at least 20 mm of padding on every side of each item",
                "Mark the package \"FRAGILE\"",
            ]
        );
        assert_eq!(
            p.instructions(&[Hazmat]),
            ["Pack hazmat items apart from everything else"]
        );
    }

    #[test]
    fn same_class_isolation() {
        let p = PackingPolicies {
            policies: vec![PackingPolicy {
                isolation: Isolation::SameClass,
                ..PackingPolicy::plain(Oversize)
            }],
        };
        assert!(p.can_share(("A", &[Oversize]), ("B", &[Oversize, Fragile])));
        assert!(!p.can_share(("A", &[Oversize]), ("B", &[Fragile])));
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let p = PackingPolicies::default();
        let csv = p.to_csv();
        assert_eq!(PackingPolicies::from_csv(&csv).unwrap(), p);
        let text = "class,padding_mm,markings,service_levels\r\nfragile,30,\"FRAGILE;THIS WAY UP\",express\n\n";
        let q = PackingPolicies::from_csv(text).unwrap();
        assert_eq!(q.policies.len(), 1);
        assert_eq!(q.policies[0].padding_mm, 30);
        assert_eq!(q.policies[0].markings, ["FRAGILE", "THIS WAY UP"]);
        assert_eq!(q.policies[0].service_levels, [ServiceLevel::Express]);
        let bad = "class,padding_mm,isolation\nglass,1,none\nfragile,x,alone\nfragile,-1,\n";
        let Err(Problem::Invalid(errs)) = PackingPolicies::from_csv(bad) else {
            panic!("expected errors")
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rows[0].class", "rows[1].padding_mm", "rows[1].isolation"]
        );
        let Err(Problem::Invalid(errs)) =
            PackingPolicies::from_csv("class,padding_mm\nfragile,-1\nfragile,2\n")
        else {
            panic!("expected errors")
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["policies[0].padding_mm", "policies[1].class"]);
        assert!(PackingPolicies::from_csv("padding_mm\n1\n").is_err());
        assert!(PackingPolicies::from_csv("class,colour\n").is_err());
    }

    #[test]
    fn json_round_trip() {
        let p = PackingPolicies::default();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(PackingPolicies::from_json(&json).unwrap(), p);
        let minimal = r#"{"policies":[{"class":"fragile","padding_mm":15}]}"#;
        let q = PackingPolicies::from_json(minimal).unwrap();
        assert_eq!(q.get(Fragile).unwrap().padding_mm, 15);
        assert!(PackingPolicies::from_json(r#"{"policies":[{"class":"glass"}]}"#).is_err());
    }
}
