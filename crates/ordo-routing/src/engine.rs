//! From an order, the locations and the rules to a plan with its explanation.

use ordo_domain::allocation::StockView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::geo::Centroids;
use crate::model::{CostModel, LocationProfile, RoutingRequest};
use crate::rules::{Rule, RuleOutcome, evaluate};
use crate::solver::{self, DEFAULT_NODE_BUDGET, Instance, Site, WithSite};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub location: String,
    pub quantity: i64,
}

/// One order line: where its units come from and how many wait for stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoutedLine {
    pub sku: String,
    pub quantity: i64,
    pub allocations: Vec<Allocation>,
    pub backordered: i64,
}

impl RoutedLine {
    pub fn allocated(&self) -> i64 {
        self.allocations.iter().map(|a| a.quantity).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShipmentLine {
    /// Index into the request's lines.
    pub line: usize,
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub location: String,
    /// `None` when neither end has coordinates or a centroid.
    pub distance_km: Option<f64>,
    /// As the cost model priced it, preference discount included.
    pub cost_minor: i64,
    pub lines: Vec<ShipmentLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allocated,
    PartiallyAllocated,
    Backordered,
    /// May not split, and no single location holds the whole order yet.
    WaitingForSingleLocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    Inactive,
    CountryNotServed,
    ChannelNotAllowed,
    ExcludedByRule,
    NotInRuleRestriction,
    OverCapacity,
    HandlingClass,
    OutOfStock,
    CannotShipWhole,
    MoreShipments,
    HigherCost,
    TieBreak,
    NotSelected,
    Selected,
    PreferredByRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
    /// The rule behind a rule-driven reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Reason {
    fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            rule: None,
        }
    }
    fn by_rule(code: ReasonCode, rule: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            rule: Some(rule.to_string()),
        }
    }
}

/// Why one location was or was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocationVerdict {
    pub location: String,
    pub chosen: bool,
    pub reasons: Vec<Reason>,
}

impl LocationVerdict {
    pub fn has(&self, code: ReasonCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoutingPlan {
    pub outcome: Outcome,
    /// Parallel to the request's lines.
    pub lines: Vec<RoutedLine>,
    /// One per location that ships, in location code order.
    pub shipments: Vec<Shipment>,
    /// Set by a rule; the plan is still computed so the order keeps its claim on stock.
    pub hold: Option<String>,
    /// The rule behind `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_rule: Option<String>,
    pub added_tags: Vec<String>,
    pub priority: Option<i32>,
    pub service_level: Option<String>,
    pub applied_rules: Vec<String>,
    /// Every location passed in, in code order.
    pub explanation: Vec<LocationVerdict>,
    /// Whether the choice of locations is proven optimal; false when the greedy
    /// heuristic decided (see [`crate::solver::greedy`]).
    pub exact: bool,
    pub total_cost_minor: i64,
    pub total_distance_km: f64,
}

impl RoutingPlan {
    pub fn allocated_units(&self) -> i64 {
        self.lines.iter().map(RoutedLine::allocated).sum()
    }

    pub fn backordered_units(&self) -> i64 {
        self.lines.iter().map(|l| l.backordered).sum()
    }

    pub fn verdict(&self, location: &str) -> Option<&LocationVerdict> {
        self.explanation.iter().find(|v| v.location == location)
    }

    /// What still waits, as a request for the same engine once stock arrives: the
    /// backordered quantity of every line, everything else as in `request`.
    pub fn remaining(&self, request: &RoutingRequest) -> Option<RoutingRequest> {
        let lines: Vec<_> = request
            .lines
            .iter()
            .zip(&self.lines)
            .filter(|(_, routed)| routed.backordered > 0)
            .map(|(line, routed)| {
                let mut l = line.clone();
                l.quantity = routed.backordered;
                l
            })
            .collect();
        if lines.is_empty() {
            return None;
        }
        let mut next = request.clone();
        next.lines = lines;
        Some(next)
    }
}

/// The allocation of an order and what the rules decided about it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub lines: Vec<RoutedLine>,
    pub rules: RuleOutcome,
}

/// The router with its configuration. [`route`] is the same with the built-in centroid
/// table and the default node budget.
#[derive(Debug, Clone)]
pub struct Router<'c> {
    pub cost: CostModel,
    pub centroids: &'c Centroids,
    /// Search nodes the exact solver may use per order before the greedy heuristic decides.
    pub node_budget: u64,
}

impl Default for Router<'static> {
    fn default() -> Self {
        Self::new(CostModel::default())
    }
}

impl Router<'static> {
    pub fn new(cost: CostModel) -> Self {
        Self {
            cost,
            centroids: Centroids::builtin(),
            node_budget: DEFAULT_NODE_BUDGET,
        }
    }
}

/// Routes one order. Pure: same inputs, same plan.
pub fn route(
    request: &RoutingRequest,
    locations: &[LocationProfile],
    stock: &dyn StockView,
    rules: &[Rule],
    cost: &CostModel,
) -> RoutingPlan {
    Router::new(cost.clone()).route(request, locations, stock, rules)
}

/// An order reduced to its routing problem, with the rejections already decided.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub instance: Instance,
    /// SKU of each instance item.
    pub items: Vec<String>,
    /// Per request line, its item and quantity (`None` for lines without a positive quantity).
    pub line_items: Vec<Option<(usize, i64)>>,
    /// Per instance site, the index of its location in the caller's slice.
    pub site_location: Vec<usize>,
    /// Per instance site, the distance to the destination.
    pub site_distance_km: Vec<Option<f64>>,
    pub rules: RuleOutcome,
    pub split_allowed: bool,
    /// Per location in the caller's slice, the reasons gathered so far.
    pub reasons: Vec<Vec<Reason>>,
}

impl Prepared {
    /// `(item, quantity)` for the lines that ask for something, as the solver takes them.
    pub fn solver_lines(&self) -> Vec<(usize, i64)> {
        self.line_items
            .iter()
            .map(|l| l.unwrap_or((0, 0)))
            .collect()
    }
}

impl Router<'_> {
    /// Applies the rules and hard constraints and builds the solver's instance.
    pub fn prepare(
        &self,
        request: &RoutingRequest,
        locations: &[LocationProfile],
        stock: &dyn StockView,
        rules: &[Rule],
    ) -> Prepared {
        let outcome = evaluate(rules, request);

        let mut items: Vec<String> = Vec::new();
        let mut demand: Vec<i64> = Vec::new();
        let mut classes: Vec<Vec<ordo_domain::catalog::HandlingClass>> = Vec::new();
        let line_items = request
            .lines
            .iter()
            .map(|line| {
                if line.quantity <= 0 {
                    return None;
                }
                let item = match items.iter().position(|s| *s == line.sku) {
                    Some(i) => i,
                    None => {
                        items.push(line.sku.clone());
                        demand.push(0);
                        classes.push(Vec::new());
                        items.len() - 1
                    }
                };
                demand[item] += line.quantity;
                for c in &line.handling_classes {
                    if !classes[item].contains(c) {
                        classes[item].push(*c);
                    }
                }
                Some((item, line.quantity))
            })
            .collect();

        let dest = request.destination.point(self.centroids);
        let country = request.destination.country.trim();
        let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); locations.len()];
        let mut sites: Vec<(usize, Site, Option<f64>)> = Vec::new();
        for (li, loc) in locations.iter().enumerate() {
            let r = &mut reasons[li];
            if !loc.active {
                r.push(Reason::new(ReasonCode::Inactive, "location is inactive"));
            }
            if !loc.ships_to_country(country) {
                r.push(Reason::new(
                    ReasonCode::CountryNotServed,
                    format!("does not ship to {country}"),
                ));
            }
            if !request.channel.may_sell_from(&loc.code) {
                r.push(Reason::new(
                    ReasonCode::ChannelNotAllowed,
                    format!("channel {} may not sell from it", request.channel.code),
                ));
            }
            for (rule, excluded) in outcome.blocked_by(&loc.code) {
                r.push(if excluded {
                    Reason::by_rule(
                        ReasonCode::ExcludedByRule,
                        &rule,
                        format!("excluded by rule '{rule}'"),
                    )
                } else {
                    Reason::by_rule(
                        ReasonCode::NotInRuleRestriction,
                        &rule,
                        format!("rule '{rule}' restricts the order to other locations"),
                    )
                });
            }
            if loc.at_capacity() {
                r.push(Reason::new(
                    ReasonCode::OverCapacity,
                    format!(
                        "at its daily capacity ({} of {} orders)",
                        loc.orders_today,
                        loc.daily_capacity.unwrap_or(0)
                    ),
                ));
            }
            if !r.is_empty() || items.is_empty() {
                continue;
            }
            let mut blocked: Vec<&str> = Vec::new();
            let mut blocked_classes: Vec<&'static str> = Vec::new();
            let usable: Vec<i64> = items
                .iter()
                .enumerate()
                .map(|(i, sku)| {
                    let bad: Vec<_> = classes[i]
                        .iter()
                        .filter(|c| loc.cannot_ship.contains(c))
                        .collect();
                    if !bad.is_empty() {
                        blocked.push(sku);
                        for c in bad {
                            if !blocked_classes.contains(&c.as_str()) {
                                blocked_classes.push(c.as_str());
                            }
                        }
                        return 0;
                    }
                    (stock.available(sku, &loc.code) - loc.routing_safety_stock.max(0)).max(0)
                })
                .collect();
            if !blocked.is_empty() {
                r.push(Reason::new(
                    ReasonCode::HandlingClass,
                    format!(
                        "cannot ship {} ({})",
                        blocked_classes.join(", "),
                        blocked.join(", ")
                    ),
                ));
                if blocked.len() == items.len() {
                    continue;
                }
            }
            if usable.iter().all(|&u| u == 0) {
                r.push(Reason::new(
                    ReasonCode::OutOfStock,
                    if loc.routing_safety_stock > 0 {
                        format!(
                            "no stock of the ordered SKUs beyond its safety stock of {}",
                            loc.routing_safety_stock
                        )
                    } else {
                        "no stock of the ordered SKUs".to_string()
                    },
                ));
                continue;
            }
            let distance = match (dest, loc.point(self.centroids)) {
                (Some(a), Some(b)) => Some(a.distance_km(b)),
                _ => None,
            };
            let preferred = outcome.preferred_by(&loc.code).is_some();
            let cost =
                self.cost
                    .shipment_cost(distance, loc.priority, loc.handling_cost_minor, preferred);
            sites.push((
                li,
                Site {
                    code: loc.code.clone(),
                    cost,
                    stock: usable,
                },
                distance,
            ));
        }
        // Site order is the tie-break order, so it must not depend on the caller's order.
        sites.sort_by(|a, b| a.1.code.cmp(&b.1.code).then(a.0.cmp(&b.0)));
        let split_allowed = !request.single_shipment
            && outcome.single_shipment_rule.is_none()
            && request.channel.split.allows(request.order_value_minor);
        Prepared {
            site_location: sites.iter().map(|s| s.0).collect(),
            site_distance_km: sites.iter().map(|s| s.2).collect(),
            instance: Instance {
                demand,
                sites: sites.into_iter().map(|s| s.1).collect(),
            },
            items,
            line_items,
            rules: outcome,
            split_allowed,
            reasons,
        }
    }

    pub fn route(
        &self,
        request: &RoutingRequest,
        locations: &[LocationProfile],
        stock: &dyn StockView,
        rules: &[Rule],
    ) -> RoutingPlan {
        let p = self.prepare(request, locations, stock, rules);
        self.finish(request, locations, p)
    }

    /// The same allocation as [`Router::route`], without the explanation: what the
    /// capture path needs, at about twice the rate.
    pub fn allocate(
        &self,
        request: &RoutingRequest,
        locations: &[LocationProfile],
        stock: &dyn StockView,
        rules: &[Rule],
    ) -> Vec<RoutedLine> {
        self.decide(request, locations, stock, rules).lines
    }

    /// [`Router::allocate`] plus what the rules decided about the order itself (hold,
    /// tags, priority, service level), which capture writes with the order.
    pub fn decide(
        &self,
        request: &RoutingRequest,
        locations: &[LocationProfile],
        stock: &dyn StockView,
        rules: &[Rule],
    ) -> Decision {
        let p = self.prepare(request, locations, stock, rules);
        let inst = &p.instance;
        let chosen = if p.split_allowed {
            solver::solve(inst, self.node_budget).sites
        } else {
            solver::solve_single(inst)
                .map(|l| vec![l])
                .unwrap_or_default()
        };
        let assignment = solver::assign(inst, &p.solver_lines(), &chosen);
        let lines = request
            .lines
            .iter()
            .zip(&assignment)
            .map(|(line, parts)| {
                let allocated: i64 = parts.iter().map(|x| x.1).sum();
                RoutedLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    allocations: parts
                        .iter()
                        .map(|&(site, q)| Allocation {
                            location: inst.sites[site].code.clone(),
                            quantity: q,
                        })
                        .collect(),
                    backordered: (line.quantity.max(0) - allocated).max(0),
                }
            })
            .collect();
        Decision {
            lines,
            rules: p.rules,
        }
    }

    fn finish(
        &self,
        request: &RoutingRequest,
        locations: &[LocationProfile],
        mut p: Prepared,
    ) -> RoutingPlan {
        let inst = &p.instance;
        let n = inst.sites.len();
        let (chosen, exact, waiting) = if p.split_allowed {
            let sel = solver::solve(inst, self.node_budget);
            (sel.sites, sel.exact, false)
        } else {
            match solver::solve_single(inst) {
                Some(l) => (vec![l], true, false),
                None => (Vec::new(), true, inst.demand.iter().any(|&d| d > 0)),
            }
        };
        let assignment = solver::assign(inst, &p.solver_lines(), &chosen);
        let chosen_cost = inst.cost_of(&chosen);
        let single_why = if request.single_shipment {
            "the order asks for a single shipment".to_string()
        } else if let Some(rule) = &p.rules.single_shipment_rule {
            format!("rule '{rule}' requires a single shipment")
        } else {
            "the channel does not split orders of this value".to_string()
        };

        let mut lines = Vec::with_capacity(request.lines.len());
        let mut per_site: Vec<Vec<ShipmentLine>> = vec![Vec::new(); n];
        for (i, (line, parts)) in request.lines.iter().zip(&assignment).enumerate() {
            let mut allocations = Vec::with_capacity(parts.len());
            for &(site, q) in parts {
                allocations.push(Allocation {
                    location: inst.sites[site].code.clone(),
                    quantity: q,
                });
                per_site[site].push(ShipmentLine {
                    line: i,
                    sku: line.sku.clone(),
                    quantity: q,
                });
            }
            let allocated: i64 = parts.iter().map(|x| x.1).sum();
            lines.push(RoutedLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                allocations,
                backordered: (line.quantity.max(0) - allocated).max(0),
            });
        }

        let mut shipments = Vec::new();
        for (site, sl) in per_site.into_iter().enumerate() {
            if sl.is_empty() {
                continue;
            }
            shipments.push(Shipment {
                location: inst.sites[site].code.clone(),
                distance_km: p.site_distance_km[site],
                cost_minor: inst.sites[site].cost,
                lines: sl,
            });
        }

        // Verdicts for the candidates that passed every hard constraint.
        let k = chosen.len();
        let target_units: i64 = inst.target().iter().sum();
        for site in 0..n {
            let li = p.site_location[site];
            let km = match p.site_distance_km[site] {
                Some(d) => format!("{d:.0} km away"),
                None => "distance unknown".to_string(),
            };
            let cost = inst.sites[site].cost;
            let r = &mut p.reasons[li];
            if let Some(rule) = p.rules.preferred_by(&inst.sites[site].code) {
                r.push(Reason::by_rule(
                    ReasonCode::PreferredByRule,
                    rule,
                    format!("preferred by rule '{rule}'"),
                ));
            }
            if let Some(sh) = shipments
                .iter()
                .find(|s| s.location == inst.sites[site].code)
            {
                let units: i64 = sh.lines.iter().map(|l| l.quantity).sum();
                r.push(Reason::new(
                    ReasonCode::Selected,
                    format!(
                        "ships {units} unit(s) on {} line(s); {km}; shipment cost {cost}",
                        sh.lines.len()
                    ),
                ));
                continue;
            }
            let reason = if waiting || (!p.split_allowed && !inst.fits_whole(site)) {
                Reason::new(
                    ReasonCode::CannotShipWhole,
                    format!(
                        "does not hold the whole order, and {single_why}; waiting for a single location"
                    ),
                )
            } else if !p.split_allowed {
                compare_cost(cost, chosen_cost, &km)
            } else if !exact {
                Reason::new(
                    ReasonCode::NotSelected,
                    format!("not picked by the heuristic for large orders; {km}"),
                )
            } else if k == 1 {
                // The common case needs no search: the site either holds all the
                // shippable stock alone or it does not.
                if inst.coverage(&[site]) == target_units {
                    compare_cost(cost, chosen_cost, &km)
                } else {
                    Reason::new(
                        ReasonCode::MoreShipments,
                        "using it would take more than 1 shipment",
                    )
                }
            } else {
                match solver::best_with(inst, site, k, self.node_budget) {
                    WithSite::MoreShipments => Reason::new(
                        ReasonCode::MoreShipments,
                        format!("using it would take more than {k} shipment(s)"),
                    ),
                    WithSite::Cost(c) => compare_cost(c, chosen_cost, &km),
                    WithSite::Unknown => Reason::new(
                        ReasonCode::NotSelected,
                        format!("a plan through it was not better; {km}"),
                    ),
                }
            };
            r.push(reason);
        }

        let mut explanation: Vec<LocationVerdict> = locations
            .iter()
            .zip(p.reasons)
            .enumerate()
            .map(|(li, (loc, reasons))| LocationVerdict {
                location: loc.code.clone(),
                chosen: chosen.iter().any(|&s| {
                    p.site_location[s] == li && shipments.iter().any(|sh| sh.location == loc.code)
                }),
                reasons,
            })
            .collect();
        explanation.sort_by(|a, b| a.location.cmp(&b.location));

        let wanted: i64 = p.line_items.iter().flatten().map(|x| x.1).sum();
        let allocated: i64 = lines.iter().map(RoutedLine::allocated).sum();
        let outcome = if waiting {
            Outcome::WaitingForSingleLocation
        } else if allocated == wanted {
            Outcome::Allocated
        } else if allocated == 0 {
            Outcome::Backordered
        } else {
            Outcome::PartiallyAllocated
        };
        RoutingPlan {
            outcome,
            total_cost_minor: shipments.iter().map(|s| s.cost_minor).sum(),
            total_distance_km: shipments.iter().filter_map(|s| s.distance_km).sum(),
            lines,
            shipments,
            hold: p.rules.hold,
            hold_rule: p.rules.hold_rule,
            added_tags: p.rules.added_tags,
            priority: p.rules.priority,
            service_level: p.rules.service_level,
            applied_rules: p.rules.applied,
            explanation,
            exact,
        }
    }
}

fn compare_cost(cost: i64, chosen: i64, km: &str) -> Reason {
    if cost > chosen {
        Reason::new(
            ReasonCode::HigherCost,
            format!(
                "farther or dearer: the best plan through it costs {cost} against {chosen}; {km}"
            ),
        )
    } else {
        Reason::new(
            ReasonCode::TieBreak,
            format!(
                "as cheap as the chosen plan ({cost}); lost the tie-break on location code; {km}"
            ),
        )
    }
}
