//! The Shopify emulator's HTTP side: the admin API routes, and the gate every request
//! passes (token, leaky bucket, faults) before a handler reads or changes the shop.

use super::*;

/// The routes, each a handler below.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    let base = format!("/admin/api/{}", inner.config.api_version);
    Router::new()
        .route(&format!("{base}/orders.json"), get(list_orders))
        .route(&format!("{base}/orders/count.json"), get(count_orders))
        .route(&format!("{base}/orders/{{id}}"), get(get_order))
        .route(
            &format!("{base}/orders/{{id}}/fulfillment_orders.json"),
            get(list_fulfillment_orders),
        )
        .route(
            &format!("{base}/fulfillments.json"),
            post(create_fulfillment),
        )
        .route(
            &format!("{base}/fulfillments/{{id}}/update_tracking.json"),
            post(update_tracking),
        )
        .route(&format!("{base}/products.json"), get(list_products))
        .route(&format!("{base}/variants/{{id}}"), get(get_variant))
        .route(&format!("{base}/locations.json"), get(list_locations))
        .route(&format!("{base}/inventory_levels.json"), get(list_levels))
        .route(
            &format!("{base}/inventory_levels/set.json"),
            post(set_level),
        )
        .route(
            &format!("{base}/inventory_levels/adjust.json"),
            post(adjust_level),
        )
        .fallback(not_found)
        .with_state(inner)
}

fn errors(status: StatusCode, errors: Value) -> Answer {
    json_answer(status, &json!({ "errors": errors }))
}

fn not_found_answer() -> Answer {
    errors(StatusCode::NOT_FOUND, json!("Not Found"))
}

/// Shopify's body for a failed request of this status.
fn fault_answer(status: StatusCode) -> Answer {
    let text = match status.as_u16() {
        429 => {
            "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
        }
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let answer = errors(status, json!(text));
    if status == StatusCode::TOO_MANY_REQUESTS {
        with_header(answer, "retry-after", "2.0")
    } else {
        answer
    }
}

impl Inner {
    /// Statistics, authentication, the leaky bucket and faults, then `f` on the shop; adds
    /// `X-Shopify-Shop-Api-Call-Limit` to what it answers.
    async fn run(
        &self,
        req: &Req,
        op: &str,
        f: impl FnOnce(&mut Shop, &ShopifyConfig) -> Answer,
    ) -> Answer {
        self.stats.lock().unwrap().record(op);
        if req.header("x-shopify-access-token") != Some(self.config.access_token.as_str()) {
            return errors(
                StatusCode::UNAUTHORIZED,
                json!(
                    "[API] Invalid API key or access token (unrecognized login or wrong password)"
                ),
            );
        }
        let size = self.config.bucket_size as u64;
        let taken = {
            let mut bucket = self.bucket.lock().unwrap();
            bucket.take().map(|()| bucket.used())
        };
        let limit = match taken {
            Ok(used) => format!("{used}/{size}"),
            Err(wait) => {
                self.stats.lock().unwrap().throttle(op);
                let answer = errors(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!(
                        "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
                    ),
                );
                let answer = with_header(answer, "retry-after", &retry_after(wait));
                return with_header(
                    answer,
                    "x-shopify-shop-api-call-limit",
                    &format!("{size}/{size}"),
                );
            }
        };
        let answer = match self.faults.apply(op, fault_answer).await {
            Some(a) => a,
            None => f(&mut self.shop.lock().unwrap(), &self.config),
        };
        with_header(answer, "x-shopify-shop-api-call-limit", &limit)
    }
}

type Shared = State<Arc<Inner>>;

async fn not_found(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "not_found", |_, _| not_found_answer())
        .await
}

/// `limit`: default 50, at most 250 (larger values are cut to 250).
fn page_limit(req: &Req) -> usize {
    req.q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 250)
}

/// Keeps only the top-level keys named in `fields` (comma-separated), as Shopify does.
fn only_fields(v: Value, fields: Option<&str>) -> Value {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return v;
    };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// A page of a keyset-paginated list. `filters` are what the first request asked (kept in
/// the cursor: with `page_info` only `limit` and `fields` may be sent).
struct Paged {
    filters: Value,
    /// Show ids after this one (`next`) or before it (`previous`).
    after: Option<u64>,
    before: Option<u64>,
}

/// Reads `page_info` or the filter parameters; an error answer when both are sent.
fn paging(req: &Req, filter_names: &[&str]) -> Result<Paged, Answer> {
    let Some(token) = req.q("page_info") else {
        let mut filters = Map::new();
        for name in filter_names {
            if let Some(v) = req.q(name) {
                filters.insert(name.to_string(), json!(v));
            }
        }
        return Ok(Paged {
            filters: Value::Object(filters),
            after: None,
            before: None,
        });
    };
    if let Some((other, _)) = req
        .query
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
    {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            json!({"page_info": [format!("{other} cannot be passed when page_info is present")]}),
        ));
    }
    let Some(cursor) = decode_token(token) else {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            json!({"page_info": ["Invalid value."]}),
        ));
    };
    Ok(Paged {
        filters: cursor["f"].clone(),
        after: cursor["a"].as_u64(),
        before: cursor["b"].as_u64(),
    })
}

/// Takes one page of `ids` (ascending) and builds the `Link` header for its neighbours.
fn page_of(
    req: &Req,
    path: &str,
    paged: &Paged,
    ids: &[u64],
    limit: usize,
) -> (Vec<u64>, Option<String>) {
    let page: Vec<u64> = match (paged.after, paged.before) {
        (_, Some(b)) => {
            let before: Vec<u64> = ids.iter().copied().filter(|i| *i < b).collect();
            before[before.len().saturating_sub(limit)..].to_vec()
        }
        (Some(a), _) => ids.iter().copied().filter(|i| *i > a).take(limit).collect(),
        _ => ids.iter().copied().take(limit).collect(),
    };
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return (page, None);
    };
    let fields = req
        .q("fields")
        .map(|f| format!("&fields={}", crate::common::urlencode(f)))
        .unwrap_or_default();
    let link = |cursor: Value, rel: &str| {
        format!(
            "<{}{path}?limit={limit}{fields}&page_info={}>; rel=\"{rel}\"",
            req.origin(),
            encode_token(&cursor)
        )
    };
    let mut links = Vec::new();
    if ids.iter().any(|i| i < first) {
        links.push(link(json!({"f": paged.filters, "b": first}), "previous"));
    }
    if ids.iter().any(|i| i > last) {
        links.push(link(json!({"f": paged.filters, "a": last}), "next"));
    }
    (page, (!links.is_empty()).then(|| links.join(", ")))
}

const ORDER_FILTERS: &[&str] = &[
    "status",
    "ids",
    "since_id",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "processed_at_min",
    "processed_at_max",
    "financial_status",
    "fulfillment_status",
];

/// Whether an order passes the list filters (`status` defaults to `open`).
fn order_matches(o: &Value, f: &Value) -> Result<bool, Answer> {
    let text = |k: &str| f[k].as_str();
    let status_ok = match text("status").unwrap_or("open") {
        "any" => true,
        "open" => o["closed_at"].is_null() && o["cancelled_at"].is_null(),
        "closed" => !o["closed_at"].is_null(),
        "cancelled" => !o["cancelled_at"].is_null(),
        other => {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                json!({"status": [format!("{other} is not a valid status")]}),
            ));
        }
    };
    let mut ok = status_ok;
    for (param, field, after) in [
        ("created_at_min", "created_at", true),
        ("created_at_max", "created_at", false),
        ("updated_at_min", "updated_at", true),
        ("updated_at_max", "updated_at", false),
        ("processed_at_min", "processed_at", true),
        ("processed_at_max", "processed_at", false),
    ] {
        if let Some(bound) = text(param) {
            let Some(bound) = parse_time(bound) else {
                return Err(errors(
                    StatusCode::BAD_REQUEST,
                    json!({param: ["is not a valid date"]}),
                ));
            };
            let at = o[field].as_str().and_then(parse_time);
            ok &= at.is_some_and(|t| if after { t >= bound } else { t <= bound });
        }
    }
    if let Some(since) = text("since_id").and_then(|s| s.parse::<u64>().ok()) {
        ok &= o["id"].as_u64().is_some_and(|i| i > since);
    }
    if let Some(ids) = text("ids") {
        let id = o["id"].as_u64().unwrap_or(0).to_string();
        ok &= ids.split(',').any(|i| i.trim() == id);
    }
    match text("financial_status") {
        None | Some("any") => {}
        Some("unpaid") => {
            ok &= matches!(
                o["financial_status"].as_str(),
                Some("pending" | "authorized" | "partially_paid")
            )
        }
        Some(s) => ok &= o["financial_status"] == s,
    }
    match text("fulfillment_status") {
        None | Some("any") => {}
        Some("shipped") => ok &= o["fulfillment_status"] == "fulfilled",
        Some("partial") => ok &= o["fulfillment_status"] == "partial",
        Some("unshipped") => ok &= o["fulfillment_status"].is_null(),
        Some("unfulfilled") => ok &= o["fulfillment_status"] != "fulfilled",
        Some(_) => {}
    }
    Ok(ok)
}

async fn list_orders(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "orders", |shop, config| {
            let paged = match paging(&req, ORDER_FILTERS) {
                Ok(p) => p,
                Err(a) => return a,
            };
            let mut ids = Vec::new();
            for (id, o) in &shop.orders {
                match order_matches(o, &paged.filters) {
                    Ok(true) => ids.push(*id),
                    Ok(false) => {}
                    Err(a) => return a,
                }
            }
            let path = format!("/admin/api/{}/orders.json", config.api_version);
            let (page, link) = page_of(&req, &path, &paged, &ids, page_limit(&req));
            let orders: Vec<Value> = page
                .iter()
                .map(|id| only_fields(shop.orders[id].clone(), req.q("fields")))
                .collect();
            let answer = json_answer(StatusCode::OK, &json!({ "orders": orders }));
            match link {
                Some(l) => with_header(answer, "link", &l),
                None => answer,
            }
        })
        .await
}

async fn count_orders(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "orders/count", |shop, _| {
            let filters = paging(&req, ORDER_FILTERS).map(|p| p.filters);
            let filters = match filters {
                Ok(f) => f,
                Err(a) => return a,
            };
            let mut count = 0;
            for o in shop.orders.values() {
                match order_matches(o, &filters) {
                    Ok(true) => count += 1,
                    Ok(false) => {}
                    Err(a) => return a,
                }
            }
            json_answer(StatusCode::OK, &json!({ "count": count }))
        })
        .await
}

/// `123.json` → 123.
fn json_id(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

async fn get_order(State(inner): Shared, Path(file): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "order", |shop, _| {
            match json_id(&file).and_then(|id| shop.orders.get(&id)) {
                Some(o) => json_answer(
                    StatusCode::OK,
                    &json!({"order": only_fields(o.clone(), req.q("fields"))}),
                ),
                None => not_found_answer(),
            }
        })
        .await
}

async fn list_fulfillment_orders(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "fulfillment_orders", |shop, _| {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| shop.fulfillment_orders.get(&id))
            {
                Some(fos) => json_answer(StatusCode::OK, &json!({ "fulfillment_orders": fos })),
                None => not_found_answer(),
            }
        })
        .await
}

/// `{"errors": {"fulfillment": "Required parameter missing or invalid"}}`, Shopify's answer
/// to a body without its root key.
fn missing(root: &str) -> Answer {
    errors(
        StatusCode::BAD_REQUEST,
        json!({ root: "Required parameter missing or invalid" }),
    )
}

fn unprocessable(message: &str) -> Answer {
    errors(StatusCode::UNPROCESSABLE_ENTITY, json!([message]))
}

async fn create_fulfillment(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "fulfillments", |shop, config| {
            fulfil(shop, config, &req)
        })
        .await
}

/// Fulfils the requested fulfillment order lines (all remaining when a group names none),
/// all or nothing, and records the fulfillment on the order.
fn fulfil(shop: &mut Shop, config: &ShopifyConfig, req: &Req) -> Answer {
    let body = req.json().unwrap_or(Value::Null);
    let f = &body["fulfillment"];
    if !f.is_object() {
        return missing("fulfillment");
    }
    let Some(groups) = f["line_items_by_fulfillment_order"]
        .as_array()
        .filter(|g| !g.is_empty())
    else {
        return unprocessable("line_items_by_fulfillment_order must be provided");
    };
    let mut order_id = None;
    let mut fos_after: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    // line item id → quantity fulfilled now.
    let mut fulfilled: BTreeMap<u64, i64> = BTreeMap::new();
    let mut location = None;
    for group in groups {
        let fo_id = group["fulfillment_order_id"].as_u64().unwrap_or(0);
        let Some((oid, fos)) = shop
            .fulfillment_orders
            .iter()
            .find(|(_, fos)| fos.iter().any(|fo| fo["id"].as_u64() == Some(fo_id)))
        else {
            return not_found_answer();
        };
        if order_id.is_some_and(|o| o != *oid) {
            return unprocessable("All fulfillment orders must belong to the same order");
        }
        order_id = Some(*oid);
        let fos = fos_after.entry(*oid).or_insert_with(|| fos.clone());
        let fo = fos
            .iter_mut()
            .find(|fo| fo["id"].as_u64() == Some(fo_id))
            .expect("found above");
        let status = fo["status"].as_str().unwrap_or("").to_string();
        if !matches!(status.as_str(), "open" | "in_progress") {
            return unprocessable(&format!(
                "Fulfillment order {fo_id} has an unfulfillable status= {status}."
            ));
        }
        location = fo["assigned_location_id"].as_u64();
        let requested: Vec<(u64, Option<i64>)> =
            match group["fulfillment_order_line_items"].as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| {
                        (
                            i["id"].as_u64().unwrap_or(0),
                            Some(i["quantity"].as_i64().unwrap_or(0)),
                        )
                    })
                    .collect(),
                None => fo["line_items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| (l["id"].as_u64().unwrap_or(0), None))
                    .collect(),
            };
        for (line_id, quantity) in requested {
            let Some(line) = fo["line_items"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .find(|l| l["id"].as_u64() == Some(line_id))
            else {
                return unprocessable(&format!(
                    "Fulfillment order line item {line_id} does not exist"
                ));
            };
            let left = line["fulfillable_quantity"].as_i64().unwrap_or(0);
            let q = quantity.unwrap_or(left);
            if q <= 0 && quantity.is_some() || q > left {
                return unprocessable("Invalid fulfillment order line item quantity requested.");
            }
            line["fulfillable_quantity"] = json!(left - q);
            if q > 0 {
                *fulfilled
                    .entry(line["line_item_id"].as_u64().unwrap_or(0))
                    .or_default() += q;
            }
        }
        let done = fo["line_items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|l| l["fulfillable_quantity"].as_i64() == Some(0));
        fo["status"] = json!(if done { "closed" } else { "in_progress" });
        if done {
            fo["supported_actions"] = json!([]);
        }
    }
    let order_id = order_id.expect("at least one group");
    if fulfilled.is_empty() {
        return unprocessable("Nothing left to fulfill on these fulfillment orders");
    }
    shop.fulfillment_orders.extend(fos_after);
    let now = shop_time(OffsetDateTime::now_utc(), config);
    let id = shop.other_id();
    let order = shop
        .orders
        .get_mut(&order_id)
        .expect("fulfillment orders have orders");
    let mut lines = Vec::new();
    for line in order["line_items"].as_array_mut().into_iter().flatten() {
        let Some(q) = fulfilled.get(&line["id"].as_u64().unwrap_or(0)) else {
            continue;
        };
        let left = line["fulfillable_quantity"].as_i64().unwrap_or(0) - q;
        line["fulfillable_quantity"] = json!(left);
        line["fulfillment_status"] = json!(if left == 0 { "fulfilled" } else { "partial" });
        let mut shown = line.clone();
        shown["quantity"] = json!(q);
        lines.push(shown);
    }
    let tracking = &f["tracking_info"];
    let number = tracking["number"].as_str().map(str::to_string);
    let url = tracking["url"].as_str().map(str::to_string);
    let count = order["fulfillments"].as_array().map_or(0, Vec::len) + 1;
    let fulfillment = json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Fulfillment/{id}"),
        "order_id": order_id, "status": "success", "created_at": now, "updated_at": now,
        "service": "manual", "location_id": location, "shipment_status": null,
        "origin_address": null, "receipt": {},
        "name": format!("{}.{count}", order["name"].as_str().unwrap_or("#0")),
        "tracking_company": tracking["company"].as_str(),
        "tracking_number": number, "tracking_numbers": number.iter().collect::<Vec<_>>(),
        "tracking_url": url, "tracking_urls": url.iter().collect::<Vec<_>>(),
        "line_items": lines,
    });
    order["fulfillments"]
        .as_array_mut()
        .expect("an array")
        .push(fulfillment.clone());
    let all_done = order["line_items"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|l| l["fulfillable_quantity"].as_i64() == Some(0));
    order["fulfillment_status"] = json!(if all_done { "fulfilled" } else { "partial" });
    order["updated_at"] = json!(now);
    if all_done && config.auto_archive && order["financial_status"] == "paid" {
        order["closed_at"] = json!(now);
    }
    shop.fulfillments.push(fulfillment.clone());
    json_answer(StatusCode::CREATED, &json!({ "fulfillment": fulfillment }))
}

async fn update_tracking(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "fulfillments/update_tracking", |shop, config| {
            let body = req.json().unwrap_or(Value::Null);
            let f = &body["fulfillment"];
            if !f["tracking_info"].is_object() {
                return missing("fulfillment");
            }
            let id = id.parse::<u64>().unwrap_or(0);
            let Some(at) = shop
                .fulfillments
                .iter()
                .position(|x| x["id"].as_u64() == Some(id))
            else {
                return not_found_answer();
            };
            let t = &f["tracking_info"];
            let now = shop_time(OffsetDateTime::now_utc(), config);
            let fulfillment = &mut shop.fulfillments[at];
            if let Some(company) = t["company"].as_str() {
                fulfillment["tracking_company"] = json!(company);
            }
            if let Some(number) = t["number"].as_str() {
                fulfillment["tracking_number"] = json!(number);
                fulfillment["tracking_numbers"] = json!([number]);
            }
            if let Some(url) = t["url"].as_str() {
                fulfillment["tracking_url"] = json!(url);
                fulfillment["tracking_urls"] = json!([url]);
            }
            fulfillment["updated_at"] = json!(now);
            let updated = fulfillment.clone();
            let order_id = updated["order_id"].as_u64().unwrap_or(0);
            if let Some(order) = shop.orders.get_mut(&order_id) {
                for f in order["fulfillments"].as_array_mut().into_iter().flatten() {
                    if f["id"].as_u64() == Some(id) {
                        *f = updated.clone();
                    }
                }
                order["updated_at"] = json!(now);
            }
            json_answer(StatusCode::OK, &json!({ "fulfillment": updated }))
        })
        .await
}

fn variant_json(
    shop: &Shop,
    p: &Product,
    v: &Variant,
    config: &ShopifyConfig,
    position: usize,
) -> Value {
    let at = shop_time(p.created_at, config);
    let quantity: i64 = shop
        .levels
        .iter()
        .filter(|((item, _), _)| *item == v.inventory_item_id)
        .map(|(_, (q, _))| q)
        .sum();
    json!({
        "id": v.id, "admin_graphql_api_id": format!("gid://shopify/ProductVariant/{}", v.id),
        "product_id": p.id, "title": if p.variants.len() == 1 { "Default Title".to_string() } else { v.sku.clone() },
        "price": v.price, "compare_at_price": null, "sku": v.sku, "position": position + 1,
        "inventory_policy": "deny", "fulfillment_service": "manual",
        "inventory_management": "shopify", "option1": v.sku, "option2": null, "option3": null,
        "created_at": at, "updated_at": at, "taxable": true, "barcode": null, "grams": 300,
        "weight": 0.3, "weight_unit": "kg", "inventory_item_id": v.inventory_item_id,
        "inventory_quantity": quantity, "old_inventory_quantity": quantity,
        "requires_shipping": true,
    })
}

fn product_json(shop: &Shop, p: &Product, config: &ShopifyConfig) -> Value {
    let at = shop_time(p.created_at, config);
    let variants: Vec<Value> = p
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| variant_json(shop, p, v, config, i))
        .collect();
    json!({
        "id": p.id, "admin_graphql_api_id": format!("gid://shopify/Product/{}", p.id),
        "title": p.title, "body_html": "", "vendor": "Ordo Demo", "product_type": "",
        "handle": p.title.to_lowercase().replace(' ', "-"), "status": "active",
        "created_at": at, "updated_at": at, "published_at": at, "published_scope": "global",
        "tags": "", "template_suffix": null, "variants": variants,
        "options": [{"id": p.id + 1, "product_id": p.id, "name": "Title", "position": 1}],
        "images": [], "image": null,
    })
}

async fn list_products(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "products", |shop, config| {
            let paged = match paging(&req, &["ids", "since_id", "title", "status"]) {
                Ok(p) => p,
                Err(a) => return a,
            };
            let f = &paged.filters;
            let ids: Vec<u64> = shop
                .products
                .iter()
                .filter(|p| {
                    f["ids"]
                        .as_str()
                        .is_none_or(|ids| ids.split(',').any(|i| i.trim() == p.id.to_string()))
                })
                .filter(|p| {
                    f["since_id"]
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .is_none_or(|s| p.id > s)
                })
                .filter(|p| f["title"].as_str().is_none_or(|t| p.title == t))
                .map(|p| p.id)
                .collect();
            let path = format!("/admin/api/{}/products.json", config.api_version);
            let (page, link) = page_of(&req, &path, &paged, &ids, page_limit(&req));
            let products: Vec<Value> = page
                .iter()
                .filter_map(|id| shop.products.iter().find(|p| p.id == *id))
                .map(|p| only_fields(product_json(shop, p, config), req.q("fields")))
                .collect();
            let answer = json_answer(StatusCode::OK, &json!({ "products": products }));
            match link {
                Some(l) => with_header(answer, "link", &l),
                None => answer,
            }
        })
        .await
}

async fn get_variant(State(inner): Shared, Path(file): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "variant", |shop, config| {
            let id = json_id(&file);
            for p in &shop.products {
                for (i, v) in p.variants.iter().enumerate() {
                    if Some(v.id) == id {
                        return json_answer(
                            StatusCode::OK,
                            &json!({"variant": variant_json(shop, p, v, config, i)}),
                        );
                    }
                }
            }
            not_found_answer()
        })
        .await
}

async fn list_locations(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "locations", |shop, _| {
            let locations: Vec<Value> = shop
                .locations
                .iter()
                .map(|l| {
                    json!({
                        "id": l.id, "name": l.name, "address1": null, "address2": null,
                        "city": null, "zip": null, "province": null, "country": "US",
                        "phone": null, "country_code": "US", "country_name": "United States",
                        "province_code": null, "legacy": false, "active": true,
                        "admin_graphql_api_id": format!("gid://shopify/Location/{}", l.id),
                        "localized_country_name": "United States", "localized_province_name": null,
                    })
                })
                .collect();
            json_answer(StatusCode::OK, &json!({ "locations": locations }))
        })
        .await
}

fn level_json(
    item: u64,
    location: u64,
    available: i64,
    at: OffsetDateTime,
    config: &ShopifyConfig,
) -> Value {
    json!({
        "inventory_item_id": item, "location_id": location, "available": available,
        "updated_at": shop_time(at, config),
        "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{location}?inventory_item_id={item}"),
    })
}

async fn list_levels(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "inventory_levels", |shop, config| {
            let list = |name: &str| -> Option<Vec<u64>> {
                req.q(name)
                    .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect())
            };
            let (items, locations) = (list("inventory_item_ids"), list("location_ids"));
            if items.is_none() && locations.is_none() {
                return unprocessable("inventory_item_ids, location_ids, or both are required");
            }
            let levels: Vec<Value> = shop
                .levels
                .iter()
                .filter(|((i, _), _)| items.as_ref().is_none_or(|x| x.contains(i)))
                .filter(|((_, l), _)| locations.as_ref().is_none_or(|x| x.contains(l)))
                .map(|((i, l), (q, at))| level_json(*i, *l, *q, *at, config))
                .collect();
            json_answer(StatusCode::OK, &json!({ "inventory_levels": levels }))
        })
        .await
}

/// Reads `location_id`, `inventory_item_id` and the quantity field of a levels request.
fn level_request(shop: &Shop, req: &Req, quantity: &str) -> Result<(u64, u64, i64), Answer> {
    let body = req.json().unwrap_or(Value::Null);
    for field in ["location_id", "inventory_item_id", quantity] {
        if !body[field].is_i64() && !body[field].is_u64() {
            return Err(missing(field));
        }
    }
    let (location, item) = (
        body["location_id"].as_u64().unwrap_or(0),
        body["inventory_item_id"].as_u64().unwrap_or(0),
    );
    if !shop.locations.iter().any(|l| l.id == location) || shop.sku_of_item(item).is_none() {
        return Err(not_found_answer());
    }
    Ok((location, item, body[quantity].as_i64().unwrap_or(0)))
}

async fn set_level(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "inventory_levels/set", |shop, config| {
            let (location, item, available) = match level_request(shop, &req, "available") {
                Ok(r) => r,
                Err(a) => return a,
            };
            let now = OffsetDateTime::now_utc();
            shop.levels.insert((item, location), (available, now));
            json_answer(
                StatusCode::OK,
                &json!({"inventory_level": level_json(item, location, available, now, config)}),
            )
        })
        .await
}

async fn adjust_level(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "inventory_levels/adjust", |shop, config| {
            let (location, item, delta) = match level_request(shop, &req, "available_adjustment") {
                Ok(r) => r,
                Err(a) => return a,
            };
            let now = OffsetDateTime::now_utc();
            let level = shop.levels.entry((item, location)).or_insert((0, now));
            *level = (level.0 + delta, now);
            let available = level.0;
            json_answer(
                StatusCode::OK,
                &json!({"inventory_level": level_json(item, location, available, now, config)}),
            )
        })
        .await
}
