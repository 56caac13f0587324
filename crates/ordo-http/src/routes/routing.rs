//! Routing dry runs: what the engine would decide for an order, and why, without
//! reserving anything.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::FieldError;
use ordo_domain::catalog::{Location, Product};
use ordo_domain::order::Order;
use ordo_domain::order::OrderInput;
use ordo_routing::adapt::{request_for_new_order, request_for_order};
use ordo_routing::replay::WithOwn;
use ordo_routing::{
    CostModel, LocationProfile, RoutingPlan, Rule, SplitPolicy, route, validate_rules,
};
use ordo_store::{
    BalanceFilter, PageRequest, Permission, RuleSet, location_profiles, location_today,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Either an order body (as for `POST /api/v1/orders`) or the id or number of a stored
/// order, and optionally a set of rules to try instead of none.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SimulateInput {
    pub order: Option<OrderInput>,
    /// A stored order's id or number (`SO-000123`), routed as if it arrived now.
    pub order_id: Option<String>,
    /// Routing rules to try, top to bottom; without them, the saved rules apply.
    pub rules: Option<Vec<Rule>>,
}

/// The saved rules, typed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    /// 0 before any rules were saved; each save adds one.
    pub version: i64,
    pub rules: Vec<Rule>,
    pub saved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub saved_at: Option<OffsetDateTime>,
}

impl TryFrom<RuleSet> for RulesView {
    type Error = ApiError;
    fn try_from(set: RuleSet) -> Result<Self, ApiError> {
        let rules = serde_json::from_value(set.rules).map_err(|e| {
            tracing::error!(error = %e, version = set.version, "stored routing rules do not parse");
            ApiError::internal()
        })?;
        Ok(RulesView {
            version: set.version,
            rules,
            saved_by: set.saved_by,
            saved_at: set.saved_at,
        })
    }
}

/// Body of `PUT /api/v1/routing/rules`: the whole ordered list (create, edit, delete and
/// reorder are all a save of the new list).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RulesInput {
    pub rules: Vec<Rule>,
    /// The version this edit started from; a save over a newer version is refused (409).
    pub expected_version: Option<i64>,
}

fn rule_errors(errors: Vec<ordo_domain::FieldError>) -> ApiError {
    ApiError::invalid(
        errors
            .into_iter()
            .map(|mut e| {
                e.field = format!(
                    "rules{}",
                    if e.field.starts_with('[') {
                        e.field.clone()
                    } else {
                        format!(".{}", e.field)
                    }
                );
                e
            })
            .collect(),
    )
}

/// The routing rules in force, top to bottom, with their version.
#[utoipa::path(get, path = "/api/v1/routing/rules", tag = "routing",
    responses((status = 200, body = RulesView)), security(("api_key" = [])))]
pub async fn get_rules(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<RulesView>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.routing_rules().await?.try_into()?))
}

/// Save a new version of the rules. Each rule is checked (unknown locations, impossible
/// ranges, empty names) and refused with the field named; every save is kept with who and when.
#[utoipa::path(put, path = "/api/v1/routing/rules", tag = "routing", request_body = RulesInput,
    responses((status = 200, body = RulesView), (status = 409, description = "Saved over a newer version", body = ProblemDetails),
        (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_rules(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<RulesInput>,
) -> ApiResult<Json<RulesView>> {
    caller.require(Permission::ManageCatalog)?;
    Ok(Json(
        save_rules(&s, &caller, &input.rules, input.expected_version).await?,
    ))
}

/// Validates `rules` against the catalog and saves them as the next version: the one path
/// every edit of the rules takes, so checks, history and the `routing.rules_changed`
/// event are the same for a whole-list save and a single-rule edit.
async fn save_rules(
    s: &AppState,
    caller: &Caller,
    rules: &[Rule],
    expected_version: Option<i64>,
) -> ApiResult<RulesView> {
    let locations = s.store.list_locations().await?;
    let codes: Vec<&str> = locations.iter().map(|l| l.code.as_str()).collect();
    validate_rules(rules, &codes).map_err(rule_errors)?;
    let json = serde_json::to_value(rules).map_err(|_| ApiError::internal())?;
    let saved = s
        .store
        .put_routing_rules(json, expected_version, &caller.context())
        .await?;
    saved.try_into()
}

fn stale(current: i64, expected: i64) -> ApiError {
    ordo_domain::Problem::Conflict {
        message: format!("the rules are at version {current}, not {expected}; reload and retry"),
        current: Some(current.to_string()),
    }
    .into()
}

/// Applies `edit` to the saved rules and saves the result as the next version. `edit`
/// returns the index of the rule the request body describes, if any, so validation errors
/// name that rule's fields as the body does (`conditions.order_value.max`). Without
/// `expected_version` the save is compare-and-swapped against the version read and the
/// edit redone after a concurrent save, so two callers editing different rules never
/// undo each other.
async fn edit_rules(
    s: &AppState,
    caller: &Caller,
    expected_version: Option<i64>,
    edit: impl Fn(&mut Vec<Rule>) -> ApiResult<Option<usize>>,
) -> ApiResult<RulesView> {
    let mut attempts = 0;
    loop {
        let current = RulesView::try_from(s.store.routing_rules().await?)?;
        if let Some(v) = expected_version
            && v != current.version
        {
            return Err(stale(current.version, v));
        }
        let mut rules = current.rules;
        let edited = edit(&mut rules)?;
        match save_rules(s, caller, &rules, Some(current.version)).await {
            Err(e) if expected_version.is_none() && e.is_conflict() && attempts < 5 => {
                attempts += 1;
            }
            Err(e) => {
                return Err(match edited {
                    Some(i) => {
                        let prefix = format!("rules[{i}].");
                        e.map_fields(|f| f.strip_prefix(&prefix).map(str::to_string))
                    }
                    None => e,
                });
            }
            Ok(saved) => return Ok(saved),
        }
    }
}

fn position_of(rules: &[Rule], name: &str) -> ApiResult<usize> {
    rules
        .iter()
        .position(|r| r.name.trim() == name.trim())
        .ok_or_else(|| ApiError::not_found(format!("routing rule '{name}'")))
}

/// Refuses a name another rule (other than the one at `except`) already has: names are
/// how explanations, events and these endpoints point at a rule.
fn name_free(rules: &[Rule], name: &str, except: Option<usize>) -> ApiResult<()> {
    let name = name.trim();
    match rules.iter().position(|r| r.name.trim() == name) {
        Some(i) if !name.is_empty() && Some(i) != except => Err(ordo_domain::Problem::Conflict {
            message: format!("a routing rule named '{name}' already exists"),
            current: None,
        }
        .into()),
        _ => Ok(()),
    }
}

/// One rule and where it stands in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// The version of the list this rule was read from; pass it back as `expected_version`.
    pub version: i64,
    /// 0-based place in the list; rules run top to bottom.
    pub position: usize,
    pub rule: Rule,
}

/// Body of `POST /api/v1/routing/rules`: one rule, inserted at `position`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRuleInput {
    #[serde(flatten)]
    pub rule: Rule,
    /// 0-based place to insert at (0 = evaluated first); the end of the list by default.
    pub position: Option<usize>,
    /// The version this edit started from; a save over a newer version is refused (409).
    pub expected_version: Option<i64>,
}

/// Body of `PUT /api/v1/routing/rules/{name}`: the rule's new content, which may rename it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleInput {
    #[serde(flatten)]
    pub rule: Rule,
    /// The version this edit started from; a save over a newer version is refused (409).
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VersionParams {
    /// The version this edit started from; a save over a newer version is refused (409).
    pub expected_version: Option<i64>,
}

/// Body of `POST /api/v1/routing/rules/reorder`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReorderInput {
    /// Every rule's name exactly once, in the new evaluation order.
    pub names: Vec<String>,
    /// The version this edit started from; a save over a newer version is refused (409).
    pub expected_version: Option<i64>,
}

/// Add one rule at `position` (the end by default). A name already in use is refused
/// (409); the list is checked and saved as a new version, as a whole-list save is.
#[utoipa::path(post, path = "/api/v1/routing/rules", tag = "routing", request_body = NewRuleInput,
    responses((status = 201, body = RulesView), (status = 409, description = "Name taken, or saved over a newer version", body = ProblemDetails),
        (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn create_rule(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<NewRuleInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    let saved = edit_rules(&s, &caller, input.expected_version, |rules| {
        name_free(rules, &input.rule.name, None)?;
        let at = input.position.unwrap_or(rules.len());
        if at > rules.len() {
            return Err(ApiError::field(
                "position",
                format!("must be between 0 and {}", rules.len()),
            ));
        }
        rules.insert(at, input.rule.clone());
        Ok(Some(at))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// One rule by its name, with its place in the list.
#[utoipa::path(get, path = "/api/v1/routing/rules/{name}", tag = "routing",
    params(("name" = String, Path, description = "The rule's unique name")),
    responses((status = 200, body = RuleView), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_rule(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<RuleView>> {
    caller.require(Permission::Read)?;
    let current = RulesView::try_from(s.store.routing_rules().await?)?;
    let position = position_of(&current.rules, &name)?;
    Ok(Json(RuleView {
        version: current.version,
        position,
        rule: current.rules[position].clone(),
    }))
}

/// Replace one rule in place (its position is kept; the body's name may rename it).
#[utoipa::path(put, path = "/api/v1/routing/rules/{name}", tag = "routing", request_body = RuleInput,
    params(("name" = String, Path, description = "The rule's unique name")),
    responses((status = 200, body = RulesView), (status = 404, body = ProblemDetails),
        (status = 409, description = "Saved over a newer version", body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_rule(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(input): JsonBody<RuleInput>,
) -> ApiResult<Json<RulesView>> {
    caller.require(Permission::ManageCatalog)?;
    let saved = edit_rules(&s, &caller, input.expected_version, |rules| {
        let at = position_of(rules, &name)?;
        name_free(rules, &input.rule.name, Some(at))?;
        rules[at] = input.rule.clone();
        Ok(Some(at))
    })
    .await?;
    Ok(Json(saved))
}

/// Delete one rule; the rest keep their order.
#[utoipa::path(delete, path = "/api/v1/routing/rules/{name}", tag = "routing",
    params(("name" = String, Path, description = "The rule's unique name"), VersionParams),
    responses((status = 200, body = RulesView), (status = 404, body = ProblemDetails),
        (status = 409, description = "Saved over a newer version", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn delete_rule(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(p): Query<VersionParams>,
) -> ApiResult<Json<RulesView>> {
    caller.require(Permission::ManageCatalog)?;
    let saved = edit_rules(&s, &caller, p.expected_version, |rules| {
        rules.remove(position_of(rules, &name)?);
        Ok(None)
    })
    .await?;
    Ok(Json(saved))
}

/// The rules in a new evaluation order, from the names of all of them.
fn reordered(rules: &[Rule], names: &[String]) -> ApiResult<Vec<Rule>> {
    let mut errors = Vec::new();
    let mut order = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match rules.iter().position(|r| r.name.trim() == name.trim()) {
            None => errors.push(FieldError::new(
                format!("names[{i}]"),
                format!("'{name}' is not a routing rule"),
            )),
            Some(p) if order.contains(&p) => errors.push(FieldError::new(
                format!("names[{i}]"),
                format!("'{name}' is named more than once"),
            )),
            Some(p) => order.push(p),
        }
    }
    let missing: Vec<&str> = rules
        .iter()
        .enumerate()
        .filter(|(i, _)| !order.contains(i))
        .map(|(_, r)| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "names",
            format!("must name every rule; missing: {}", missing.join(", ")),
        ));
    }
    if errors.is_empty() {
        Ok(order.into_iter().map(|p| rules[p].clone()).collect())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Change the evaluation order: `names` lists every rule exactly once, first to run first.
#[utoipa::path(post, path = "/api/v1/routing/rules/reorder", tag = "routing", request_body = ReorderInput,
    responses((status = 200, body = RulesView), (status = 409, description = "Saved over a newer version", body = ProblemDetails),
        (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn reorder_rules(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ReorderInput>,
) -> ApiResult<Json<RulesView>> {
    caller.require(Permission::ManageCatalog)?;
    let saved = edit_rules(&s, &caller, input.expected_version, |rules| {
        *rules = reordered(rules, &input.names)?;
        Ok(None)
    })
    .await?;
    Ok(Json(saved))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryParams {
    /// 1–500, default 50.
    pub limit: Option<i64>,
}

/// Every saved version of the rules, newest first.
#[utoipa::path(get, path = "/api/v1/routing/rules/history", tag = "routing", params(HistoryParams),
    responses((status = 200, body = Vec<RulesView>)), security(("api_key" = [])))]
pub async fn rules_history(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<HistoryParams>,
) -> ApiResult<Json<Vec<RulesView>>> {
    caller.require(Permission::Read)?;
    let sets = s.store.routing_rules_history(p.limit.unwrap_or(50)).await?;
    Ok(Json(
        sets.into_iter()
            .map(RulesView::try_from)
            .collect::<ApiResult<_>>()?,
    ))
}

/// Dry run: the plan and the explanation for every candidate location (chosen, or why
/// not), against current stock. Nothing is reserved or written.
#[utoipa::path(post, path = "/api/v1/routing/simulate", tag = "routing", request_body = SimulateInput,
    responses((status = 200, body = RoutingPlan), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn simulate(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<SimulateInput>,
) -> ApiResult<Json<RoutingPlan>> {
    caller.require(Permission::Read)?;
    Ok(Json(run_simulate(s.store.as_ref(), input).await?))
}

/// The dry run behind `POST /api/v1/routing/simulate`, for every front end.
pub async fn run_simulate(
    store: &dyn ordo_store::Store,
    input: SimulateInput,
) -> ApiResult<RoutingPlan> {
    let locations = store.list_locations().await?;
    let codes: Vec<&str> = locations.iter().map(|l| l.code.as_str()).collect();
    let rules = match input.rules {
        Some(rules) => {
            validate_rules(&rules, &codes).map_err(rule_errors)?;
            rules
        }
        None => RulesView::try_from(store.routing_rules().await?)?.rules,
    };
    match (input.order, input.order_id) {
        (Some(o), None) => {
            let channel_code = o.channel.clone().unwrap_or_default();
            let channel = store.get_channel(&channel_code).await?.ok_or_else(|| {
                ApiError::field("order.channel", format!("unknown channel '{channel_code}'"))
            })?;
            let skus: Vec<String> = o.lines.iter().filter_map(|l| l.sku.clone()).collect();
            let products = load_products(store, &skus).await?;
            let stock = load_stock(store, &skus).await?;
            let order = o.validate(OffsetDateTime::now_utc())?;
            let request =
                request_for_new_order(&order, &channel, SplitPolicy::of_channel(&channel), |sku| {
                    products.get(sku).cloned()
                });
            let profiles = profiles_now(store, &locations, None).await?;
            Ok(route(
                &request,
                &profiles,
                &stock,
                &rules,
                &CostModel::default(),
            ))
        }
        (None, Some(id)) => {
            let order = store
                .get_order(&id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("order {id}")))?;
            route_stored_order(store, &order, &locations, &rules).await
        }
        _ => Err(ApiError::field("order", "give either order or order_id")),
    }
}

/// How a stored order would be routed now, from scratch: what it holds is given back
/// (it competes for its own reservations as a new order would for free stock) and today's
/// capacity counts are read, without the order's own fulfillment orders counted against it.
pub async fn route_stored_order(
    store: &dyn ordo_store::Store,
    order: &Order,
    locations: &[Location],
    rules: &[Rule],
) -> ApiResult<RoutingPlan> {
    let channel = store.get_channel(&order.channel).await?.ok_or_else(|| {
        ApiError::field("order_id", format!("unknown channel '{}'", order.channel))
    })?;
    let mut skus: Vec<String> = order.lines.iter().map(|l| l.sku.clone()).collect();
    skus.sort();
    skus.dedup();
    let products = load_products(store, &skus).await?;
    let stock = load_stock(store, &skus).await?;
    let request = request_for_order(order, &channel, SplitPolicy::of_channel(&channel), |sku| {
        products.get(sku).cloned()
    });
    let profiles = profiles_now(store, locations, Some(order)).await?;
    Ok(route(
        &request,
        &profiles,
        &WithOwn::new(&stock, order),
        rules,
        &CostModel::default(),
    ))
}

async fn load_products(
    store: &dyn ordo_store::Store,
    skus: &[String],
) -> ApiResult<HashMap<String, Product>> {
    let mut products = HashMap::new();
    for sku in skus {
        if let Some(p) = store.get_product(sku).await? {
            products.insert(sku.clone(), p);
        }
    }
    Ok(products)
}

/// Available units of `skus` at every location.
async fn load_stock(
    store: &dyn ordo_store::Store,
    skus: &[String],
) -> ApiResult<HashMap<(String, String), i64>> {
    let mut stock = HashMap::new();
    for sku in skus {
        let mut page = PageRequest {
            limit: Some(500),
            cursor: None,
        };
        loop {
            let got = store
                .list_balances(
                    &BalanceFilter {
                        sku: Some(sku.clone()),
                        location: None,
                    },
                    &page,
                )
                .await?;
            for b in got.items {
                stock.insert((b.sku, b.location), b.available);
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(stock)
}

/// The locations as routing sees them at this instant, with today's capacity counts. An
/// order being explained again does not count against itself: each of its live
/// fulfillment orders created on its location's current local day is taken off that count.
async fn profiles_now(
    store: &dyn ordo_store::Store,
    locations: &[Location],
    own: Option<&Order>,
) -> ApiResult<Vec<LocationProfile>> {
    let now = OffsetDateTime::now_utc();
    let mut today = store.orders_today(locations, now).await?;
    for f in own
        .iter()
        .flat_map(|o| &o.fulfillment_orders)
        .filter(|f| f.status.is_active())
    {
        let Some(l) = locations.iter().find(|l| l.code == f.location) else {
            continue;
        };
        if location_today(l, f.created_at) == location_today(l, now)
            && let Some(n) = today.get_mut(&f.location)
        {
            *n = n.saturating_sub(1);
        }
    }
    Ok(location_profiles(locations, &today))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReplayInput {
    /// Orders placed at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Orders placed before this time (RFC 3339).
    pub to: Option<String>,
    /// A proposed rule set; without it, the saved rules.
    pub rules: Option<Vec<Rule>>,
    /// Most orders to replay, newest first: 1–10,000, default 1,000.
    pub limit: Option<i64>,
}

/// Replays the routing of past orders with the saved rules or a proposed set, against
/// current stock (each order's own reservations given back), and compares shipments,
/// splits, distance and backorders with what the orders do now. Nothing is written.
#[utoipa::path(post, path = "/api/v1/routing/replay", tag = "routing", request_body = ReplayInput,
    responses((status = 200, body = ordo_routing::replay::ReplayReport), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn replay(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ReplayInput>,
) -> ApiResult<Json<ordo_routing::replay::ReplayReport>> {
    caller.require(Permission::Read)?;
    Ok(Json(run_replay(s.store.as_ref(), input).await?))
}

/// The replay behind `POST /api/v1/routing/replay`, for every front end.
pub async fn run_replay(
    store: &dyn ordo_store::Store,
    input: ReplayInput,
) -> ApiResult<ordo_routing::replay::ReplayReport> {
    let time = |field: &str, v: &Option<String>| -> ApiResult<Option<OffsetDateTime>> {
        v.as_deref()
            .map(|v| {
                OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| ApiError::field(field, "must be an RFC 3339 timestamp"))
            })
            .transpose()
    };
    let (from, to) = (time("from", &input.from)?, time("to", &input.to)?);
    let limit = input.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 10000"));
    }
    let locations = store.list_locations().await?;
    let codes: Vec<&str> = locations.iter().map(|l| l.code.as_str()).collect();
    let rules = match input.rules {
        Some(rules) => {
            validate_rules(&rules, &codes).map_err(rule_errors)?;
            rules
        }
        None => RulesView::try_from(store.routing_rules().await?)?.rules,
    };
    let channels: HashMap<String, ordo_domain::catalog::Channel> = store
        .list_channels()
        .await?
        .into_iter()
        .map(|c| (c.code.clone(), c))
        .collect();
    let filter = ordo_store::OrderFilter {
        placed_after: from,
        placed_before: to,
        ..Default::default()
    };
    let mut page = PageRequest {
        limit: Some(limit.min(500)),
        cursor: None,
    };
    let mut summaries = Vec::new();
    loop {
        let got = store.list_orders(&filter, &page).await?;
        summaries.extend(got.items);
        match got.next_cursor {
            Some(c) if (summaries.len() as i64) < limit => page.cursor = Some(c),
            _ => break,
        }
    }
    summaries.truncate(limit as usize);
    summaries.reverse();
    let mut products = HashMap::new();
    let mut orders = Vec::with_capacity(summaries.len());
    for summary in &summaries {
        let Some(order) = store.get_order(&summary.number).await? else {
            continue;
        };
        let Some(channel) = channels.get(&order.channel) else {
            continue;
        };
        for l in &order.lines {
            if !products.contains_key(&l.sku)
                && let Some(p) = store.get_product(&l.sku).await?
            {
                products.insert(l.sku.clone(), p);
            }
        }
        let request = request_for_order(&order, channel, SplitPolicy::of_channel(channel), |sku| {
            products.get(sku).cloned()
        });
        orders.push((order, request));
    }
    let mut stock: HashMap<(String, String), i64> = HashMap::new();
    let mut page = PageRequest {
        limit: Some(500),
        cursor: None,
    };
    loop {
        let got = store
            .list_balances(&BalanceFilter::default(), &page)
            .await?;
        for b in got.items {
            stock.insert((b.sku, b.location), b.available);
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let profiles: Vec<LocationProfile> = locations
        .iter()
        .map(LocationProfile::from_location)
        .collect();
    let router = ordo_routing::Router::new(CostModel::default());
    Ok(ordo_routing::replay::replay(
        &router, &orders, &profiles, &stock, &rules,
    ))
}

/// An allocation the engine made when the order was captured.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CapturedAllocation {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    /// The fulfillment order it went to (`SO-000123-1`).
    pub fulfillment_order: String,
}

/// What the engine decided when the order was captured, as recorded then.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapturedRouting {
    /// `order.allocated`, `order.partially_allocated` or `order.backordered`.
    pub event: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The rules that matched, top to bottom, as they were named then.
    pub rules: Vec<String>,
    pub allocations: Vec<CapturedAllocation>,
    /// Units no location could take at capture.
    pub backordered: i64,
}

/// Why the order is on hold, when a routing rule put it there.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleHold {
    /// The rule's name (absent for orders held before rule names were recorded).
    pub rule: Option<String>,
    /// The reason the rule gives.
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// The routing rule holding `order`, from the latest hold its events record.
pub fn rule_hold(order: &Order, events: &[ordo_store::Event]) -> Option<RuleHold> {
    if order.hold_reason != Some(ordo_domain::order::HoldReason::RoutingRule) {
        return None;
    }
    events
        .iter()
        .rev()
        .find(|e| e.kind == "order.held" && e.data["reason"] == "routing_rule")
        .map(|e| RuleHold {
            rule: e.data["rule"].as_str().map(str::to_string),
            note: e.data["note"].as_str().map(str::to_string),
            at: e.at,
        })
}

/// Names the routing rule holding `order`, if one does, with the reason it gives. Costs
/// a read of the order's events only for orders a rule holds.
pub async fn name_rule_hold(store: &dyn ordo_store::Store, order: &mut Order) -> ApiResult<()> {
    if order.hold_reason != Some(ordo_domain::order::HoldReason::RoutingRule) {
        return Ok(());
    }
    let events = store.order_events(&order.number).await?.unwrap_or_default();
    if let Some(hold) = rule_hold(order, &events) {
        order.hold_rule = hold.rule;
        order.hold_note = hold.note;
    }
    Ok(())
}

/// An order's routing: what was decided at capture and why, and the full explanation of
/// how it would be routed now.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderRouting {
    pub order: String,
    /// Absent only for an order whose capture left no routing record.
    pub captured: Option<CapturedRouting>,
    /// Set while a routing rule holds the order.
    pub hold: Option<RuleHold>,
    /// Where the order's units are reserved now (after any move, split, merge or re-route).
    pub lines: Vec<ordo_domain::order::OrderLine>,
    /// The engine's plan for the order as it would be routed now, with its own
    /// reservations given back and today's capacity counts, and a verdict per location.
    pub now: RoutingPlan,
}

/// Why an order ships from where it does: the rules and allocations recorded at capture,
/// the routing rule holding it (if any), and a fresh explanation for every location.
/// Nothing is reserved or written.
#[utoipa::path(get, path = "/api/v1/orders/{id}/routing", tag = "routing",
    params(("id" = String, Path, description = "The order's id or number (SO-000123)")),
    responses((status = 200, body = OrderRouting), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn order_routing(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderRouting>> {
    caller.require(Permission::Read)?;
    let store = s.store.as_ref();
    let not_found = || ApiError::not_found(format!("order {id}"));
    let order = store.get_order(&id).await?.ok_or_else(not_found)?;
    let events = store
        .order_events(&order.number)
        .await?
        .ok_or_else(not_found)?;
    let captured = events
        .iter()
        .find(|e| {
            matches!(
                e.kind.as_str(),
                "order.allocated" | "order.partially_allocated" | "order.backordered"
            )
        })
        .map(|e| CapturedRouting {
            event: e.kind.clone(),
            at: e.at,
            rules: serde_json::from_value(e.data["rules"].clone()).unwrap_or_default(),
            allocations: serde_json::from_value(e.data["allocations"].clone()).unwrap_or_default(),
            backordered: e.data["backordered"].as_i64().unwrap_or(0),
        });
    let hold = rule_hold(&order, &events);
    let locations = store.list_locations().await?;
    let rules = RulesView::try_from(store.routing_rules().await?)?.rules;
    let now = route_stored_order(store, &order, &locations, &rules).await?;
    Ok(Json(OrderRouting {
        order: order.number.clone(),
        captured,
        hold,
        lines: order.lines,
        now,
    }))
}
