//! Routing rules: an ordered list of "when these conditions hold, do these things".
//!
//! Rules run top to bottom. A rule's actions change the order as later rules see it
//! (tags added, service level set), so a rule can react to an earlier one. Scalar actions
//! (hold, priority, service level) take the value of the last rule that sets them; location
//! restrictions intersect, exclusions and preferences accumulate. `stop_processing` ends
//! the evaluation after a matching rule.

use std::collections::BTreeSet;

use ordo_domain::FieldError;
use ordo_domain::catalog::{HandlingClass, check_code, check_sku};
use ordo_domain::order::PaymentStatus;
use ordo_domain::refdata::is_country;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::geo::normalise_postal;
use crate::model::RoutingRequest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    pub name: String,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default)]
    pub actions: Actions,
    #[serde(default)]
    pub stop_processing: bool,
}

/// Inclusive bounds; either may be left open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValueRange {
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
}

impl ValueRange {
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// Every condition that is set must hold. A list matches when any of its entries does,
/// except `tags`, which the order must carry all of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Conditions {
    pub channels: Vec<String>,
    pub countries: Vec<String>,
    pub regions: Vec<String>,
    pub postal_code_prefixes: Vec<String>,
    /// The order contains any of these SKUs.
    pub skus: Vec<String>,
    pub categories: Vec<String>,
    pub handling_classes: Vec<HandlingClass>,
    /// Order goods value in minor units.
    pub order_value: Option<ValueRange>,
    pub total_weight_g: Option<ValueRange>,
    pub tags: Vec<String>,
    pub payment_statuses: Vec<PaymentStatus>,
    pub service_levels: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Actions {
    pub restrict_to_locations: Vec<String>,
    pub exclude_locations: Vec<String>,
    /// Lowers these locations' shipment cost by the cost model's preferred discount; it
    /// never makes the router split an order that would otherwise ship whole.
    pub prefer_locations: Vec<String>,
    pub require_single_shipment: bool,
    /// Puts the order on hold with this reason. Routing still runs, so the order keeps
    /// its place for the stock, as with an unpaid order.
    pub hold: Option<String>,
    pub add_tags: Vec<String>,
    pub set_priority: Option<i32>,
    pub set_service_level: Option<String>,
}

impl Actions {
    fn is_empty(&self) -> bool {
        self.restrict_to_locations.is_empty()
            && self.exclude_locations.is_empty()
            && self.prefer_locations.is_empty()
            && !self.require_single_shipment
            && self.hold.is_none()
            && self.add_tags.is_empty()
            && self.set_priority.is_none()
            && self.set_service_level.is_none()
    }
}

/// The order's attributes that rules can change as they run.
#[derive(Debug, Clone)]
struct Facts<'a> {
    request: &'a RoutingRequest,
    tags: Vec<String>,
    service_level: Option<String>,
}

impl Conditions {
    fn matches(&self, f: &Facts<'_>) -> bool {
        let r = f.request;
        let any_eq = |list: &[String], v: &str| list.iter().any(|x| x.eq_ignore_ascii_case(v));
        (self.channels.is_empty() || self.channels.contains(&r.channel.code))
            && (self.countries.is_empty() || any_eq(&self.countries, r.destination.country.trim()))
            && (self.regions.is_empty()
                || r.destination
                    .region
                    .as_deref()
                    .is_some_and(|reg| any_eq(&self.regions, reg.trim())))
            && (self.postal_code_prefixes.is_empty()
                || r.destination.postal_code.as_deref().is_some_and(|pc| {
                    let pc = normalise_postal(pc);
                    self.postal_code_prefixes
                        .iter()
                        .any(|p| pc.starts_with(&normalise_postal(p)))
                }))
            && (self.skus.is_empty() || r.lines.iter().any(|l| self.skus.contains(&l.sku)))
            && (self.categories.is_empty()
                || r.lines.iter().any(|l| {
                    l.category
                        .as_deref()
                        .is_some_and(|c| any_eq(&self.categories, c))
                }))
            && (self.handling_classes.is_empty()
                || r.lines.iter().any(|l| {
                    l.handling_classes
                        .iter()
                        .any(|c| self.handling_classes.contains(c))
                }))
            && self
                .order_value
                .is_none_or(|v| v.contains(r.order_value_minor))
            && self
                .total_weight_g
                .is_none_or(|v| v.contains(r.total_weight_g))
            && self.tags.iter().all(|t| f.tags.contains(t))
            && (self.payment_statuses.is_empty()
                || self.payment_statuses.contains(&r.payment_status))
            && (self.service_levels.is_empty()
                || f.service_level
                    .as_deref()
                    .is_some_and(|s| any_eq(&self.service_levels, s)))
    }
}

/// What the matching rules decided, with the name of the rule behind each decision so the
/// explanation can cite it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    pub applied: Vec<String>,
    /// Each restricting rule with the locations it allows.
    pub restrictions: Vec<(String, BTreeSet<String>)>,
    pub exclusions: Vec<(String, BTreeSet<String>)>,
    pub preferences: Vec<(String, BTreeSet<String>)>,
    /// The first rule that required a single shipment.
    pub single_shipment_rule: Option<String>,
    pub hold: Option<String>,
    /// The rule whose hold is in force (the last matching one that holds).
    pub hold_rule: Option<String>,
    pub added_tags: Vec<String>,
    pub priority: Option<i32>,
    pub service_level: Option<String>,
}

impl RuleOutcome {
    /// Every rule that keeps `location` out, with `true` for an exclusion and `false` for
    /// a restriction that leaves it out.
    pub fn blocked_by(&self, location: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for (rule, set) in &self.exclusions {
            if set.contains(location) {
                out.push((rule.clone(), true));
            }
        }
        for (rule, set) in &self.restrictions {
            if !set.contains(location) {
                out.push((rule.clone(), false));
            }
        }
        out
    }

    pub fn preferred_by(&self, location: &str) -> Option<&str> {
        self.preferences
            .iter()
            .find(|(_, set)| set.contains(location))
            .map(|(r, _)| r.as_str())
    }
}

/// Runs `rules` against `request` top to bottom.
pub fn evaluate(rules: &[Rule], request: &RoutingRequest) -> RuleOutcome {
    let mut facts = Facts {
        request,
        tags: request.tags.clone(),
        service_level: request.service_level.clone(),
    };
    let mut out = RuleOutcome::default();
    for rule in rules {
        if !rule.conditions.matches(&facts) {
            continue;
        }
        let a = &rule.actions;
        out.applied.push(rule.name.clone());
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        if !a.restrict_to_locations.is_empty() {
            out.restrictions
                .push((rule.name.clone(), set(&a.restrict_to_locations)));
        }
        if !a.exclude_locations.is_empty() {
            out.exclusions
                .push((rule.name.clone(), set(&a.exclude_locations)));
        }
        if !a.prefer_locations.is_empty() {
            out.preferences
                .push((rule.name.clone(), set(&a.prefer_locations)));
        }
        if a.require_single_shipment && out.single_shipment_rule.is_none() {
            out.single_shipment_rule = Some(rule.name.clone());
        }
        if let Some(h) = &a.hold {
            out.hold = Some(h.clone());
            out.hold_rule = Some(rule.name.clone());
        }
        for t in &a.add_tags {
            if !facts.tags.contains(t) {
                facts.tags.push(t.clone());
            }
            if !out.added_tags.contains(t) && !request.tags.contains(t) {
                out.added_tags.push(t.clone());
            }
        }
        if let Some(p) = a.set_priority {
            out.priority = Some(p);
        }
        if let Some(s) = &a.set_service_level {
            facts.service_level = Some(s.clone());
            out.service_level = Some(s.clone());
        }
        if rule.stop_processing {
            break;
        }
    }
    out
}

impl Rule {
    /// Checks the rule on save. Paths are relative to the rule, e.g.
    /// `conditions.order_value.min` or `actions.exclude_locations[1]`.
    pub fn validate<S: AsRef<str>>(&self, known_locations: &[S]) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        self.check(known_locations, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn check<S: AsRef<str>>(&self, known: &[S], prefix: &str, errors: &mut Vec<FieldError>) {
        let mut add = |field: String, msg: &str| {
            errors.push(FieldError::new(format!("{prefix}{field}"), msg))
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            add("name".into(), "is required (at most 100 characters)");
        }
        let c = &self.conditions;
        for (i, ch) in c.channels.iter().enumerate() {
            if check_code(ch).is_err() {
                add(
                    format!("conditions.channels[{i}]"),
                    "is not a valid channel code",
                );
            }
        }
        for (i, country) in c.countries.iter().enumerate() {
            if !is_country(&country.to_ascii_uppercase()) {
                add(
                    format!("conditions.countries[{i}]"),
                    "must be an ISO 3166-1 alpha-2 code such as DE",
                );
            }
        }
        let non_empty = |list: &[String], field: &str, add: &mut dyn FnMut(String, &str)| {
            for (i, v) in list.iter().enumerate() {
                if v.trim().is_empty() {
                    add(format!("{field}[{i}]"), "must not be empty");
                }
            }
        };
        non_empty(&c.regions, "conditions.regions", &mut add);
        for (i, p) in c.postal_code_prefixes.iter().enumerate() {
            if normalise_postal(p).is_empty() {
                add(
                    format!("conditions.postal_code_prefixes[{i}]"),
                    "must contain letters or digits",
                );
            }
        }
        for (i, sku) in c.skus.iter().enumerate() {
            if let Err(e) = check_sku(sku) {
                add(format!("conditions.skus[{i}]"), e);
            }
        }
        non_empty(&c.categories, "conditions.categories", &mut add);
        non_empty(&c.tags, "conditions.tags", &mut add);
        non_empty(&c.service_levels, "conditions.service_levels", &mut add);
        for (field, range) in [
            ("conditions.order_value", c.order_value),
            ("conditions.total_weight_g", c.total_weight_g),
        ] {
            let Some(r) = range else { continue };
            if r.min.is_none() && r.max.is_none() {
                add(field.into(), "needs min, max or both");
            }
            if r.min.is_some_and(|m| m < 0) {
                add(format!("{field}.min"), "must not be negative");
            }
            if r.max.is_some_and(|m| m < 0) {
                add(format!("{field}.max"), "must not be negative");
            }
            if let (Some(lo), Some(hi)) = (r.min, r.max)
                && lo > hi
            {
                add(format!("{field}.max"), "must not be below min");
            }
        }

        let a = &self.actions;
        let is_known = |code: &str| known.iter().any(|k| k.as_ref() == code);
        for (field, list) in [
            ("actions.restrict_to_locations", &a.restrict_to_locations),
            ("actions.exclude_locations", &a.exclude_locations),
            ("actions.prefer_locations", &a.prefer_locations),
        ] {
            for (i, code) in list.iter().enumerate() {
                if !is_known(code) {
                    add(format!("{field}[{i}]"), "is not a known location");
                }
            }
        }
        for (i, code) in a.exclude_locations.iter().enumerate() {
            if a.restrict_to_locations.contains(code) {
                add(
                    format!("actions.exclude_locations[{i}]"),
                    "is also in restrict_to_locations",
                );
            }
        }
        for (i, code) in a.prefer_locations.iter().enumerate() {
            if a.exclude_locations.contains(code) {
                add(
                    format!("actions.prefer_locations[{i}]"),
                    "is also in exclude_locations",
                );
            }
        }
        if a.restrict_to_locations
            .iter()
            .all(|r| a.exclude_locations.contains(r))
            && !a.restrict_to_locations.is_empty()
        {
            add(
                "actions.restrict_to_locations".into(),
                "leaves no location once the exclusions are applied",
            );
        }
        if a.hold.as_deref().is_some_and(|h| h.trim().is_empty()) {
            add("actions.hold".into(), "must not be empty");
        }
        non_empty(&a.add_tags, "actions.add_tags", &mut add);
        if a.set_service_level
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            add("actions.set_service_level".into(), "must not be empty");
        }
        if a.is_empty() && !self.stop_processing {
            add(
                "actions".into(),
                "needs at least one action, or stop_processing",
            );
        }
    }
}

/// Checks a whole rule list: each rule, plus unique names since explanations cite rules by
/// name. Paths start with the rule's index, e.g. `[2].conditions.order_value.min`.
pub fn validate_rules<S: AsRef<str>>(
    rules: &[Rule],
    known_locations: &[S],
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        rule.check(known_locations, &format!("[{i}]."), &mut errors);
        if let Some(j) = rules[..i]
            .iter()
            .position(|r| r.name.trim() == rule.name.trim())
            && !rule.name.trim().is_empty()
        {
            errors.push(FieldError::new(
                format!("[{i}].name"),
                format!("duplicates the name of rule [{j}]"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Destination, RouteLine};

    fn request() -> RoutingRequest {
        let mut r = RoutingRequest::new(
            vec![RouteLine {
                sku: "A".into(),
                quantity: 1,
                category: Some("shoes".into()),
                handling_classes: vec![HandlingClass::Fragile],
            }],
            Destination {
                country: "DE".into(),
                region: Some("BY".into()),
                postal_code: Some("80331".into()),
                latitude: None,
                longitude: None,
            },
        );
        r.channel.code = "web".into();
        r.order_value_minor = 10_000;
        r.total_weight_g = 2_000;
        r.tags = vec!["vip".into()];
        r.service_level = Some("standard".into());
        r
    }

    fn rule(conditions: Conditions) -> Rule {
        Rule {
            name: "r".into(),
            conditions,
            actions: Actions {
                add_tags: vec!["hit".into()],
                ..Default::default()
            },
            stop_processing: false,
        }
    }

    fn hits(c: Conditions) -> bool {
        !evaluate(&[rule(c)], &request()).applied.is_empty()
    }

    #[test]
    fn each_condition_matches_and_misses() {
        assert!(hits(Conditions::default()));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases: Vec<(Conditions, Conditions)> = vec![
            (
                Conditions {
                    channels: s(&["web"]),
                    ..Default::default()
                },
                Conditions {
                    channels: s(&["pos"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    countries: s(&["de"]),
                    ..Default::default()
                },
                Conditions {
                    countries: s(&["FR"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    regions: s(&["by"]),
                    ..Default::default()
                },
                Conditions {
                    regions: s(&["BE"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    postal_code_prefixes: s(&["80", "1"]),
                    ..Default::default()
                },
                Conditions {
                    postal_code_prefixes: s(&["81"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    skus: s(&["A"]),
                    ..Default::default()
                },
                Conditions {
                    skus: s(&["B"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    categories: s(&["Shoes"]),
                    ..Default::default()
                },
                Conditions {
                    categories: s(&["hats"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    handling_classes: vec![HandlingClass::Fragile],
                    ..Default::default()
                },
                Conditions {
                    handling_classes: vec![HandlingClass::Hazmat],
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    order_value: Some(ValueRange {
                        min: Some(10_000),
                        max: Some(10_000),
                    }),
                    ..Default::default()
                },
                Conditions {
                    order_value: Some(ValueRange {
                        min: Some(10_001),
                        max: None,
                    }),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    total_weight_g: Some(ValueRange {
                        min: None,
                        max: Some(2_000),
                    }),
                    ..Default::default()
                },
                Conditions {
                    total_weight_g: Some(ValueRange {
                        min: None,
                        max: Some(1_999),
                    }),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    tags: s(&["vip"]),
                    ..Default::default()
                },
                Conditions {
                    tags: s(&["vip", "b2b"]),
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    payment_statuses: vec![PaymentStatus::Paid],
                    ..Default::default()
                },
                Conditions {
                    payment_statuses: vec![PaymentStatus::Pending],
                    ..Default::default()
                },
            ),
            (
                Conditions {
                    service_levels: s(&["standard"]),
                    ..Default::default()
                },
                Conditions {
                    service_levels: s(&["express"]),
                    ..Default::default()
                },
            ),
        ];
        for (i, (yes, no)) in cases.into_iter().enumerate() {
            assert!(hits(yes), "case {i} should match");
            assert!(!hits(no), "case {i} should not match");
        }
    }

    #[test]
    fn actions_accumulate_and_later_rules_see_earlier_changes() {
        let rules = vec![
            Rule {
                name: "tag-vip-express".into(),
                conditions: Conditions {
                    tags: vec!["vip".into()],
                    ..Default::default()
                },
                actions: Actions {
                    add_tags: vec!["priority-lane".into()],
                    set_service_level: Some("express".into()),
                    set_priority: Some(1),
                    restrict_to_locations: vec!["A".into(), "B".into()],
                    ..Default::default()
                },
                stop_processing: false,
            },
            Rule {
                name: "express-from-b".into(),
                conditions: Conditions {
                    service_levels: vec!["express".into()],
                    tags: vec!["priority-lane".into()],
                    ..Default::default()
                },
                actions: Actions {
                    prefer_locations: vec!["B".into()],
                    exclude_locations: vec!["C".into()],
                    require_single_shipment: true,
                    hold: Some("check address".into()),
                    set_priority: Some(2),
                    ..Default::default()
                },
                stop_processing: true,
            },
            Rule {
                name: "never-reached".into(),
                actions: Actions {
                    hold: Some("x".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        ];
        let out = evaluate(&rules, &request());
        assert_eq!(out.applied, ["tag-vip-express", "express-from-b"]);
        assert_eq!(out.added_tags, ["priority-lane"]);
        assert_eq!(out.service_level.as_deref(), Some("express"));
        assert_eq!(out.priority, Some(2));
        assert_eq!(out.hold.as_deref(), Some("check address"));
        assert_eq!(out.single_shipment_rule.as_deref(), Some("express-from-b"));
        assert_eq!(out.preferred_by("B"), Some("express-from-b"));
        assert_eq!(out.blocked_by("C").len(), 2);
        assert_eq!(out.blocked_by("A"), vec![]);
    }

    fn fields(r: Result<(), Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn validation_names_field_paths() {
        let known = ["WH1", "WH2"];
        let bad = Rule {
            name: " ".into(),
            conditions: Conditions {
                countries: vec!["XX".into()],
                skus: vec!["a b".into()],
                order_value: Some(ValueRange {
                    min: Some(-1),
                    max: Some(-5),
                }),
                total_weight_g: Some(ValueRange::default()),
                postal_code_prefixes: vec!["--".into()],
                ..Default::default()
            },
            actions: Actions {
                restrict_to_locations: vec!["WH1".into()],
                exclude_locations: vec!["NOPE".into(), "WH1".into()],
                prefer_locations: vec!["WH1".into()],
                hold: Some("".into()),
                ..Default::default()
            },
            stop_processing: false,
        };
        assert_eq!(
            fields(bad.validate(&known)),
            [
                "name",
                "conditions.countries[0]",
                "conditions.postal_code_prefixes[0]",
                "conditions.skus[0]",
                "conditions.order_value.min",
                "conditions.order_value.max",
                "conditions.order_value.max",
                "conditions.total_weight_g",
                "actions.exclude_locations[0]",
                "actions.exclude_locations[1]",
                "actions.prefer_locations[0]",
                "actions.restrict_to_locations",
                "actions.hold",
            ]
        );
        let inverted = Rule {
            name: "r".into(),
            conditions: Conditions {
                order_value: Some(ValueRange {
                    min: Some(100),
                    max: Some(50),
                }),
                ..Default::default()
            },
            actions: Actions::default(),
            stop_processing: false,
        };
        assert_eq!(
            fields(inverted.validate(&known)),
            ["conditions.order_value.max", "actions"]
        );
        let fine = Rule {
            name: "ok".into(),
            actions: Actions {
                prefer_locations: vec!["WH2".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(fine.validate(&known).is_ok());
        let stop_only = Rule {
            name: "stop".into(),
            stop_processing: true,
            ..Default::default()
        };
        assert!(stop_only.validate(&known).is_ok());
        assert_eq!(
            fields(validate_rules(&[fine.clone(), stop_only, fine], &known)),
            ["[2].name"]
        );
    }

    #[test]
    fn rules_round_trip_as_json() {
        let json = r#"{
            "name": "hazmat from the main warehouse",
            "conditions": {"handling_classes": ["hazmat"], "order_value": {"min": 0, "max": 50000}},
            "actions": {"restrict_to_locations": ["WH1"], "hold": "manual check"},
            "stop_processing": true
        }"#;
        let rule: Rule = serde_json::from_str(json).unwrap();
        assert_eq!(rule.conditions.handling_classes, [HandlingClass::Hazmat]);
        assert!(rule.validate(&["WH1"]).is_ok());
        let back: Rule = serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
    }
}
