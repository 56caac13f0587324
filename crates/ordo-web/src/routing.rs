//! Routing: the rules in force as a table, an editor with version checks, the saved
//! versions, a simulator for one order and a replay of past orders with proposed rules.
//!
//! The simulator and the replay are the API's own (`run_simulate`, `run_replay`), so the
//! page and `/api/v1/routing/*` always agree.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ordo_domain::money::format_amount;
use ordo_domain::{FieldError, Problem};
use ordo_http::error::ApiError;
use ordo_http::routes::routing::{ReplayInput, SimulateInput, run_replay, run_simulate};
use ordo_routing::replay::ReplayReport;
use ordo_routing::{Actions, Conditions, RoutingPlan, Rule, ValueRange, validate_rules};
use ordo_store::{Permission, RuleSet, StoreError};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::FormData;
use crate::orders::parse_day_or_time;
use crate::session::{Auth, Posted};
use crate::view::{Flash, PageCtx, fmt_time, group, humanize, page};

const HISTORY: i64 = 20;

struct RuleRow {
    index: usize,
    name: String,
    conditions: Vec<String>,
    actions: Vec<String>,
    stop: bool,
}

struct HistoryRow {
    version: i64,
    saved_by: String,
    saved_at: String,
    count: usize,
    names: String,
    json: String,
    current: bool,
}

struct ShipmentRow {
    location: String,
    distance: String,
    cost: String,
    lines: String,
}

struct PlanLine {
    sku: String,
    quantity: i64,
    allocations: String,
    backordered: i64,
}

struct VerdictRow {
    location: String,
    chosen: bool,
    reasons: Vec<String>,
}

struct PlanView {
    order: String,
    outcome: String,
    outcome_label: String,
    shipments: Vec<ShipmentRow>,
    lines: Vec<PlanLine>,
    verdicts: Vec<VerdictRow>,
    applied_rules: String,
    decisions: Vec<String>,
    exact: bool,
    total_cost: String,
    total_distance: String,
}

struct MetricRow {
    label: &'static str,
    actual: String,
    replayed: String,
    change: String,
    /// `better`, `worse` or empty.
    tone: &'static str,
}

struct ChangeRow {
    order: String,
    actual: String,
    replayed: String,
    rules: String,
}

struct ReplayView {
    orders: u64,
    metrics: Vec<MetricRow>,
    changed_orders: u64,
    changes: Vec<ChangeRow>,
    proposed: bool,
}

/// The rules editor's text and outcome.
pub(crate) struct Editor {
    text: String,
    expected_version: i64,
    message: Option<Flash>,
    errors: Vec<String>,
}

#[derive(Default)]
pub(crate) struct ReplayForm {
    from: String,
    to: String,
    rules: String,
    limit: String,
    errors: Vec<String>,
    result: Option<ReplayView>,
}

#[derive(Template)]
#[template(path = "routing.html")]
struct RoutingPage {
    ctx: PageCtx,
    can_edit: bool,
    version: i64,
    saved_by: String,
    saved_at: String,
    rules: Vec<RuleRow>,
    editor: Editor,
    history: Vec<HistoryRow>,
    sim_order: String,
    sim_errors: Vec<String>,
    plan: Option<PlanView>,
    replay: ReplayForm,
    /// The outcome of a refused reorder, shown above the rules table.
    order_message: Option<Flash>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RoutingQuery {
    order: Option<String>,
}

fn list(v: &[String]) -> String {
    v.join(", ")
}

fn range(r: &ValueRange, unit: &str) -> String {
    match (r.min, r.max) {
        (Some(a), Some(b)) => format!("{}–{}{unit}", group(&a.to_string()), group(&b.to_string())),
        (Some(a), None) => format!("≥ {}{unit}", group(&a.to_string())),
        (None, Some(b)) => format!("≤ {}{unit}", group(&b.to_string())),
        (None, None) => "any".into(),
    }
}

fn as_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Each set condition in words; an empty list matches every order.
fn conditions(c: &Conditions) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |label: &str, v: &[String]| {
        if !v.is_empty() {
            out.push(format!("{label}: {}", list(v)));
        }
    };
    add("Channel", &c.channels);
    add("Country", &c.countries);
    add("Region", &c.regions);
    add("Postal code starts with", &c.postal_code_prefixes);
    add("Contains SKU", &c.skus);
    add("Category", &c.categories);
    let classes: Vec<String> = c
        .handling_classes
        .iter()
        .map(|h| h.as_str().into())
        .collect();
    add("Handling class", &classes);
    add("Tagged (all of)", &c.tags);
    let payments: Vec<String> = c.payment_statuses.iter().map(as_text).collect();
    add("Payment", &payments);
    add("Service level", &c.service_levels);
    if let Some(r) = &c.order_value {
        out.push(format!("Order value (minor units): {}", range(r, "")));
    }
    if let Some(r) = &c.total_weight_g {
        out.push(format!("Weight: {}", range(r, " g")));
    }
    if out.is_empty() {
        out.push("Every order".into());
    }
    out
}

fn actions(a: &Actions) -> Vec<String> {
    let mut out = Vec::new();
    if !a.restrict_to_locations.is_empty() {
        out.push(format!("Only from {}", list(&a.restrict_to_locations)));
    }
    if !a.exclude_locations.is_empty() {
        out.push(format!("Never from {}", list(&a.exclude_locations)));
    }
    if !a.prefer_locations.is_empty() {
        out.push(format!("Prefer {}", list(&a.prefer_locations)));
    }
    if a.require_single_shipment {
        out.push("One shipment only".into());
    }
    if let Some(h) = &a.hold {
        out.push(format!("Hold: {h}"));
    }
    if !a.add_tags.is_empty() {
        out.push(format!("Add tags: {}", list(&a.add_tags)));
    }
    if let Some(p) = a.set_priority {
        out.push(format!("Priority {p}"));
    }
    if let Some(s) = &a.set_service_level {
        out.push(format!("Service level: {s}"));
    }
    out
}

fn rule_rows(rules: &[Rule]) -> Vec<RuleRow> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleRow {
            index: i + 1,
            name: r.name.clone(),
            conditions: conditions(&r.conditions),
            actions: actions(&r.actions),
            stop: r.stop_processing,
        })
        .collect()
}

fn stored_rules(set: &RuleSet) -> WebResult<Vec<Rule>> {
    serde_json::from_value(set.rules.clone()).map_err(|e| {
        WebError::Internal(format!(
            "stored routing rules (version {}) do not parse: {e}",
            set.version
        ))
    })
}

fn pretty(rules: &[Rule]) -> String {
    serde_json::to_string_pretty(rules).unwrap_or_else(|_| "[]".into())
}

fn cost(minor: i64) -> String {
    group(&format_amount(minor, 2))
}

fn km(v: f64) -> String {
    group(&format!("{v:.0}"))
}

fn plan_view(order: &str, p: &RoutingPlan) -> PlanView {
    let outcome = as_text(&p.outcome);
    let mut decisions = Vec::new();
    if let Some(h) = &p.hold {
        decisions.push(format!("Put on hold: {h}"));
    }
    if !p.added_tags.is_empty() {
        decisions.push(format!("Tags added: {}", list(&p.added_tags)));
    }
    if let Some(pr) = p.priority {
        decisions.push(format!("Priority set to {pr}"));
    }
    if let Some(s) = &p.service_level {
        decisions.push(format!("Service level set to {s}"));
    }
    PlanView {
        order: order.to_string(),
        outcome_label: humanize(&outcome),
        outcome,
        shipments: p
            .shipments
            .iter()
            .map(|s| ShipmentRow {
                location: s.location.clone(),
                distance: s
                    .distance_km
                    .map_or_else(|| "unknown".into(), |d| format!("{} km", km(d))),
                cost: cost(s.cost_minor),
                lines: s
                    .lines
                    .iter()
                    .map(|l| format!("{} × {}", l.quantity, l.sku))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        lines: p
            .lines
            .iter()
            .map(|l| PlanLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                allocations: l
                    .allocations
                    .iter()
                    .map(|a| format!("{}: {}", a.location, a.quantity))
                    .collect::<Vec<_>>()
                    .join(", "),
                backordered: l.backordered,
            })
            .collect(),
        verdicts: p
            .explanation
            .iter()
            .map(|v| VerdictRow {
                location: v.location.clone(),
                chosen: v.chosen,
                reasons: v.reasons.iter().map(|r| sentence(&r.message)).collect(),
            })
            .collect(),
        applied_rules: if p.applied_rules.is_empty() {
            "none".into()
        } else {
            list(&p.applied_rules)
        },
        decisions,
        exact: p.exact,
        total_cost: cost(p.total_cost_minor),
        total_distance: km(p.total_distance_km),
    }
}

fn delta_row(label: &'static str, actual: f64, replayed: f64, fmt: fn(f64) -> String) -> MetricRow {
    let diff = replayed - actual;
    MetricRow {
        label,
        actual: fmt(actual),
        replayed: fmt(replayed),
        change: if diff.abs() < 0.5 {
            "no change".into()
        } else if diff > 0.0 {
            format!("+{}", fmt(diff))
        } else {
            format!("−{}", fmt(-diff))
        },
        // Fewer shipments, splits, kilometres and backorders are all better.
        tone: if diff.abs() < 0.5 {
            ""
        } else if diff < 0.0 {
            "better"
        } else {
            "worse"
        },
    }
}

fn replay_view(r: &ReplayReport, proposed: bool) -> ReplayView {
    let whole = |v: f64| group(&format!("{v:.0}"));
    let km_fmt = |v: f64| format!("{} km", group(&format!("{v:.0}")));
    ReplayView {
        orders: r.orders,
        metrics: vec![
            delta_row(
                "Shipments",
                r.actual.shipments as f64,
                r.replayed.shipments as f64,
                whole,
            ),
            delta_row(
                "Split orders",
                r.actual.split_orders as f64,
                r.replayed.split_orders as f64,
                whole,
            ),
            delta_row(
                "Distance",
                r.actual.distance_km,
                r.replayed.distance_km,
                km_fmt,
            ),
            delta_row(
                "Backordered units",
                r.actual.backordered_units as f64,
                r.replayed.backordered_units as f64,
                whole,
            ),
        ],
        changed_orders: r.changed_orders,
        changes: r
            .changes
            .iter()
            .map(|c| ChangeRow {
                order: c.order.clone(),
                actual: if c.actual.is_empty() {
                    "nowhere (backordered)".into()
                } else {
                    list(&c.actual)
                },
                replayed: if c.replayed.is_empty() {
                    "nowhere (backordered)".into()
                } else {
                    list(&c.replayed)
                },
                rules: list(&c.rules),
            })
            .collect(),
        proposed,
    }
}

/// An API refusal as lines of text (field paths kept); a server fault stays an error.
async fn api_problem(e: ApiError) -> WebResult<(StatusCode, Vec<String>)> {
    let r = e.into_response();
    let status = r.status();
    if status.is_server_error() {
        return Err(WebError::Internal("routing dry run failed".into()));
    }
    let body = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let errors: Vec<String> = v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let lines = if errors.is_empty() {
        vec![sentence(
            v["detail"].as_str().unwrap_or("the request was refused"),
        )]
    } else {
        errors
    };
    Ok((status, lines))
}

/// The rules list typed into a form: JSON errors name the path in the list and the line.
fn parse_rules(text: &str) -> Result<Vec<Rule>, Vec<String>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let rules: Vec<Rule> = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let at = if path == "." {
                "rules".to_string()
            } else if path.starts_with('[') {
                format!("rules{path}")
            } else {
                format!("rules.{path}")
            };
            return Err(vec![format!("{at}: {}", e.into_inner())]);
        }
    };
    if let Err(e) = de.end() {
        return Err(vec![format!("rules: {e}")]);
    }
    Ok(rules)
}

/// Checks rules as the API does; paths such as `rules[0].actions.exclude_locations[1]`.
async fn check_rules(s: &WebState, rules: &[Rule]) -> WebResult<Result<(), Vec<String>>> {
    let locations = s.store.list_locations().await?;
    let codes: Vec<&str> = locations.iter().map(|l| l.code.as_str()).collect();
    Ok(validate_rules(rules, &codes).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("rules{}: {}", e.field, e.message))
            .collect()
    }))
}

async fn render(
    s: &WebState,
    auth: &Auth,
    editor: Option<Editor>,
    sim_order: &str,
    replay: ReplayForm,
) -> WebResult<RoutingPage> {
    let current = s.store.routing_rules().await?;
    let rules = stored_rules(&current)?;
    let history = s.store.routing_rules_history(HISTORY).await?;
    let (mut sim_errors, mut plan) = (vec![], None);
    if !sim_order.is_empty() {
        let input = SimulateInput {
            order: None,
            order_id: Some(sim_order.to_string()),
            rules: None,
        };
        match run_simulate(s.store.as_ref(), input).await {
            Ok(p) => plan = Some(plan_view(sim_order, &p)),
            Err(e) => sim_errors = api_problem(e).await?.1,
        }
    }
    Ok(RoutingPage {
        ctx: PageCtx::new(auth, "routing"),
        can_edit: auth.allows(Permission::ManageCatalog),
        version: current.version,
        saved_by: current.saved_by.clone().unwrap_or_default(),
        saved_at: current.saved_at.map(fmt_time).unwrap_or_default(),
        editor: editor.unwrap_or_else(|| Editor {
            text: pretty(&rules),
            expected_version: current.version,
            message: None,
            errors: vec![],
        }),
        rules: rule_rows(&rules),
        history: history
            .iter()
            .map(|h| {
                let parsed: Vec<Rule> = serde_json::from_value(h.rules.clone()).unwrap_or_default();
                HistoryRow {
                    version: h.version,
                    saved_by: h.saved_by.clone().unwrap_or_default(),
                    saved_at: h.saved_at.map(fmt_time).unwrap_or_default(),
                    count: parsed.len(),
                    names: parsed
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    json: pretty(&parsed),
                    current: h.version == current.version,
                }
            })
            .collect(),
        sim_order: sim_order.to_string(),
        sim_errors,
        plan,
        replay,
        order_message: None,
    })
}

async fn respond(
    s: &WebState,
    auth: &Auth,
    editor: Option<Editor>,
    replay: ReplayForm,
    status: StatusCode,
) -> WebResult {
    let p = render(s, auth, editor, "", replay).await?;
    let mut r = page(&p.ctx, &p)?;
    *r.status_mut() = status;
    Ok(r)
}

/// `GET /routing` (`?order=SO-000123` runs the simulator).
pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<RoutingQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let order = q.order.as_deref().map(str::trim).unwrap_or("");
    let p = render(&s, &auth, None, order, ReplayForm::default()).await?;
    page(&p.ctx, &p)
}

/// `POST /routing/rules`: a new version of the whole list, from the version the editor
/// started with.
pub(crate) async fn save_rules(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let text = p.form.raw("rules");
    let expected = p
        .form
        .get("expected_version")
        .and_then(|v| v.parse::<i64>().ok());
    let refuse = |status, message: String, errors: Vec<String>, expected_version: i64| {
        let editor = Editor {
            text: text.clone(),
            expected_version,
            message: Some(Flash {
                ok: false,
                text: message,
            }),
            errors,
        };
        (status, editor)
    };
    let Some(expected) = expected else {
        let (st, ed) = refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not saved: the form lost the version it started from. Reload the page.".into(),
            vec![],
            0,
        );
        return respond(&s, &p.auth, Some(ed), ReplayForm::default(), st).await;
    };
    let rules = if text.trim().is_empty() {
        Err(vec![
            "rules: enter a JSON list of rules ([] for none)".to_string(),
        ])
    } else {
        parse_rules(&text)
    };
    let rules = match rules {
        Ok(r) => match check_rules(&s, &r).await? {
            Ok(()) => r,
            Err(errors) => {
                let (st, ed) = refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Not saved: some rules were not accepted.".into(),
                    errors,
                    expected,
                );
                return respond(&s, &p.auth, Some(ed), ReplayForm::default(), st).await;
            }
        },
        Err(errors) => {
            let (st, ed) = refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not saved: the rules are not valid JSON for a rule list.".into(),
                errors,
                expected,
            );
            return respond(&s, &p.auth, Some(ed), ReplayForm::default(), st).await;
        }
    };
    let json = serde_json::to_value(&rules).map_err(|e| WebError::Internal(e.to_string()))?;
    match s
        .store
        .put_routing_rules(json, Some(expected), &p.auth.context())
        .await
    {
        Ok(saved) => Ok(p.auth.redirect_with(
            "/routing",
            true,
            &format!(
                "Routing rules saved as version {} ({} rule{}).",
                saved.version,
                rules.len(),
                if rules.len() == 1 { "" } else { "s" }
            ),
        )),
        Err(StoreError::Problem(Problem::Conflict { .. })) => {
            let current = s.store.routing_rules().await?;
            let by = current
                .saved_by
                .as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default();
            let at = current
                .saved_at
                .map(|t| format!(" at {}", fmt_time(t)))
                .unwrap_or_default();
            let (st, ed) = refuse(
                StatusCode::CONFLICT,
                format!(
                    "Not saved: version {} was saved{by}{at} after you started from version \
                     {expected}. The rules in force are shown above and your text is kept \
                     below; compare them, then save again to replace version {}.",
                    current.version, current.version
                ),
                vec![],
                current.version,
            );
            respond(&s, &p.auth, Some(ed), ReplayForm::default(), st).await
        }
        Err(StoreError::Problem(Problem::Invalid(errors))) => {
            let (st, ed) = refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not saved: some rules were not accepted.".into(),
                errors
                    .into_iter()
                    .map(|e: FieldError| format!("{}: {}", e.field, e.message))
                    .collect(),
                expected,
            );
            respond(&s, &p.auth, Some(ed), ReplayForm::default(), st).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Why a save from `expected` lost to a newer version, naming who saved it and when.
async fn stale_message(s: &WebState, expected: i64) -> WebResult<(i64, String)> {
    let current = s.store.routing_rules().await?;
    let by = current
        .saved_by
        .as_deref()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    let at = current
        .saved_at
        .map(|t| format!(" at {}", fmt_time(t)))
        .unwrap_or_default();
    Ok((
        current.version,
        format!(
            "Not saved: version {} was saved{by}{at} after you started from version {expected}.",
            current.version
        ),
    ))
}

/// The posted names in their new order, after an optional `up:NAME` / `down:NAME` move
/// (what the move buttons send when no script reorders the rows in the page).
fn reordered(rules: &[Rule], names: &[String], mv: Option<&str>) -> Result<Vec<Rule>, String> {
    let mut names = names.to_vec();
    if let Some(mv) = mv {
        let (dir, name) = mv
            .split_once(':')
            .ok_or_else(|| format!("move: {mv:?} is not up:NAME or down:NAME"))?;
        let i = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("move: no rule named {name:?}"))?;
        match dir {
            "up" if i > 0 => names.swap(i, i - 1),
            "down" if i + 1 < names.len() => names.swap(i, i + 1),
            "up" | "down" => {}
            _ => return Err(format!("move: {dir:?} is neither up nor down")),
        }
    }
    let mut out = Vec::with_capacity(rules.len());
    for n in &names {
        let r = rules
            .iter()
            .find(|r| &r.name == n)
            .ok_or_else(|| format!("rule: no rule named {n:?} in the version you started from"))?;
        if out.iter().any(|o: &Rule| &o.name == n) {
            return Err(format!("rule: {n:?} is listed twice"));
        }
        out.push(r.clone());
    }
    if out.len() != rules.len() {
        return Err(format!(
            "rule: {} of {} rules listed; every rule must keep a place",
            out.len(),
            rules.len()
        ));
    }
    Ok(out)
}

async fn refuse_order(s: &WebState, auth: &Auth, status: StatusCode, text: String) -> WebResult {
    let mut page = render(s, auth, None, "", ReplayForm::default()).await?;
    page.order_message = Some(Flash { ok: false, text });
    let mut r = crate::view::page(&page.ctx, &page)?;
    *r.status_mut() = status;
    Ok(r)
}

/// `POST /routing/rules/order`: the same rules in a new order, saved as a new version of
/// the whole list from the version the page showed. Each row posts its rule's name, so
/// the rows' order in the form is the new order.
pub(crate) async fn reorder(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let refuse = |status: StatusCode, text: String| refuse_order(&s, &p.auth, status, text);
    let Some(expected) = p
        .form
        .get("expected_version")
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Order not saved: the form lost the version it started from. Reload the page.".into(),
        )
        .await;
    };
    let current = s.store.routing_rules().await?;
    if current.version != expected {
        let (_, text) = stale_message(&s, expected).await?;
        return refuse(
            StatusCode::CONFLICT,
            format!("{text} The rules in force are shown below; reorder them again."),
        )
        .await;
    }
    let rules = stored_rules(&current)?;
    let new = match reordered(&rules, &p.form.all("rule"), p.form.get("move").as_deref()) {
        Ok(n) => n,
        Err(e) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Order not saved: {e}."),
            )
            .await;
        }
    };
    if new == rules {
        return Ok(p.auth.redirect_with(
            "/routing",
            true,
            "The order is unchanged; nothing saved.",
        ));
    }
    let json = serde_json::to_value(&new).map_err(|e| WebError::Internal(e.to_string()))?;
    match s
        .store
        .put_routing_rules(json, Some(expected), &p.auth.context())
        .await
    {
        Ok(saved) => Ok(p.auth.redirect_with(
            "/routing",
            true,
            &format!(
                "Rule order saved as version {}: {}.",
                saved.version,
                new.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Err(StoreError::Problem(Problem::Conflict { .. })) => {
            let (_, text) = stale_message(&s, expected).await?;
            refuse(
                StatusCode::CONFLICT,
                format!("{text} The rules in force are shown below; reorder them again."),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A replay bound from a date (midnight UTC; `to` takes the whole day) or an RFC 3339 time.
fn bound(v: &str, end: bool) -> Result<Option<String>, ()> {
    let t = parse_day_or_time(v)?;
    Ok(t.map(|t| {
        let t = if end && v.len() == 10 {
            t + time::Duration::days(1)
        } else {
            t
        };
        t.format(&Rfc3339).unwrap_or_default()
    }))
}

/// `POST /routing/replay`: past orders through the saved or the proposed rules. Nothing
/// is written; a POST only because proposed rules do not fit in a link.
pub(crate) async fn replay(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::Read)?;
    let f: &FormData = &p.form;
    let mut form = ReplayForm {
        from: f.get("from").unwrap_or_default(),
        to: f.get("to").unwrap_or_default(),
        rules: f.raw("rules"),
        limit: f.get("limit").unwrap_or_default(),
        ..Default::default()
    };
    let from = bound(&form.from, false).unwrap_or_else(|()| {
        form.errors
            .push("from: enter a date such as 2026-11-26 (or an RFC 3339 time)".into());
        None
    });
    let to = bound(&form.to, true).unwrap_or_else(|()| {
        form.errors
            .push("to: enter a date such as 2026-11-26 (or an RFC 3339 time)".into());
        None
    });
    let limit = match form.limit.as_str() {
        "" => None,
        l => l.parse::<i64>().map(Some).unwrap_or_else(|_| {
            form.errors.push("limit: must be a whole number".into());
            None
        }),
    };
    let rules = if form.rules.trim().is_empty() {
        None
    } else {
        match parse_rules(&form.rules) {
            Ok(r) => Some(r),
            Err(e) => {
                form.errors.extend(e);
                None
            }
        }
    };
    let mut status = StatusCode::OK;
    if form.errors.is_empty() {
        let proposed = rules.is_some();
        let input = ReplayInput {
            from,
            to,
            rules,
            limit,
        };
        match run_replay(s.store.as_ref(), input).await {
            Ok(report) => form.result = Some(replay_view(&report, proposed)),
            Err(e) => {
                let (st, lines) = api_problem(e).await?;
                status = st;
                form.errors = lines;
            }
        }
    } else {
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    respond(&s, &p.auth, None, form, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_rule() {
        let e = parse_rules(r#"[{"name": "a", "actions": {"set_priority": "high"}}]"#).unwrap_err();
        assert!(e[0].starts_with("rules[0].actions.set_priority: "), "{e:?}");
        let e = parse_rules("[").unwrap_err();
        assert!(e[0].starts_with("rules: "), "{e:?}");
        assert!(parse_rules("[] x").is_err());
        assert_eq!(parse_rules("[]").unwrap(), vec![]);
    }

    #[test]
    fn rules_read_as_sentences() {
        let r: Rule = serde_json::from_value(serde_json::json!({
            "name": "vip", "conditions": {"countries": ["DE"], "order_value": {"min": 10000}},
            "actions": {"exclude_locations": ["ST1"], "require_single_shipment": true}
        }))
        .unwrap();
        assert_eq!(
            conditions(&r.conditions),
            ["Country: DE", "Order value (minor units): ≥ 10,000"]
        );
        assert_eq!(actions(&r.actions), ["Never from ST1", "One shipment only"]);
        assert_eq!(conditions(&Conditions::default()), ["Every order"]);
    }

    #[test]
    fn replay_to_date_takes_the_whole_day() {
        assert_eq!(
            bound("2026-11-26", true).unwrap().as_deref(),
            Some("2026-11-27T00:00:00Z")
        );
        assert_eq!(
            bound("2026-11-26", false).unwrap().as_deref(),
            Some("2026-11-26T00:00:00Z")
        );
        assert!(bound("soon", false).is_err());
    }
}
