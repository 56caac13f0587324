//! The WooCommerce emulator's HTTP side: the REST routes, and the gate every request passes
//! (API keys, the optional limit, faults) before a handler reads or changes the store.

use super::*;

/// The routes, each a handler below.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    let v3 = "/wp-json/wc/v3";
    let tracking = "/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings";
    Router::new()
        .route(&format!("{v3}/orders"), get(list_orders))
        .route(
            &format!("{v3}/orders/{{id}}"),
            get(get_order)
                .put(update_order)
                .post(update_order)
                .patch(update_order),
        )
        .route(
            &format!("{v3}/orders/{{id}}/notes"),
            get(list_notes).post(create_note),
        )
        .route(&format!("{v3}/products"), get(list_products))
        .route(&format!("{v3}/products/batch"), post(batch_products))
        .route(
            &format!("{v3}/products/{{id}}"),
            get(get_product)
                .put(update_product)
                .post(update_product)
                .patch(update_product),
        )
        .route(tracking, get(list_trackings).post(create_tracking))
        .fallback(not_found)
        .with_state(inner)
}

impl Inner {
    /// Statistics, API keys, the optional limit and faults, then `f` on the store.
    async fn run(
        &self,
        req: &Req,
        op: &str,
        f: impl FnOnce(&mut Store, &WooConfig) -> Answer,
    ) -> Answer {
        self.stats.lock().unwrap().record(op);
        if let Some(refused) = self.authenticate(req) {
            return refused;
        }
        let taken = self.limit.lock().unwrap().take();
        if let Err(wait) = taken {
            self.stats.lock().unwrap().throttle(op);
            let secs = retry_after(wait);
            let answer = wp_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                &format!("Too many requests. Please wait {secs} seconds before trying again."),
            );
            return with_header(answer, "retry-after", &secs);
        }
        if let Some(a) = self.faults.apply(op, fault_answer).await {
            return a;
        }
        f(&mut self.store.lock().unwrap(), &self.config)
    }

    /// `None` when the keys match (HTTP Basic first, then the query parameters).
    fn authenticate(&self, req: &Req) -> Option<Answer> {
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            });
        let keys = basic.or_else(|| {
            Some((
                req.q("consumer_key")?.to_string(),
                req.q("consumer_secret")?.to_string(),
            ))
        });
        let refuse =
            |code: &str, message: &str| Some(wp_error(StatusCode::UNAUTHORIZED, code, message));
        match keys {
            None if req.method == Method::GET => refuse(
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            ),
            None => refuse(
                "woocommerce_rest_cannot_edit",
                "Sorry, you are not allowed to edit this resource.",
            ),
            Some((key, _)) if key != self.config.consumer_key => refuse(
                "woocommerce_rest_authentication_error",
                "Consumer key is invalid.",
            ),
            Some((_, secret)) if secret != self.config.consumer_secret => refuse(
                "woocommerce_rest_authentication_error",
                "Consumer secret is invalid.",
            ),
            Some(_) => None,
        }
    }
}

type Shared = State<Arc<Inner>>;

async fn not_found(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "not_found", |_, _| {
            wp_error(
                StatusCode::NOT_FOUND,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            )
        })
        .await
}

/// `page` (from 1) and `per_page` (1 to 100, default 10).
fn paging(req: &Req) -> Result<(usize, usize), Answer> {
    let page = match req.q("page") {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(p) if p >= 1 => p,
            _ => {
                return Err(invalid_param(
                    "page",
                    "page must be greater than or equal to 1",
                ));
            }
        },
    };
    let per_page = match req.q("per_page") {
        None => 10,
        Some(p) => match p.parse::<usize>() {
            Ok(p) if (1..=100).contains(&p) => p,
            _ => {
                return Err(invalid_param(
                    "per_page",
                    "per_page must be between 1 (inclusive) and 100 (inclusive)",
                ));
            }
        },
    };
    Ok((page, per_page))
}

/// A list answer: the page's items with `X-WP-Total`, `X-WP-TotalPages` and `Link`.
fn list_answer(req: &Req, path: &str, items: Vec<Value>, page: usize, per_page: usize) -> Answer {
    let total = items.len();
    let pages = total.div_ceil(per_page);
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let others: String = req
        .query
        .iter()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| format!("{}={}&", urlencode(k), urlencode(v)))
        .collect();
    let link =
        |p: usize, rel: &str| format!("<{}{path}?{others}page={p}>; rel=\"{rel}\"", req.origin());
    let mut links = Vec::new();
    if page > 1 && page <= pages + 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    let answer = json_answer(StatusCode::OK, &Value::Array(shown));
    let answer = with_header(answer, "x-wp-total", &total.to_string());
    let answer = with_header(answer, "x-wp-totalpages", &pages.to_string());
    if links.is_empty() {
        answer
    } else {
        with_header(answer, "link", &links.join(", "))
    }
}

fn id_list(req: &Req, name: &str) -> Option<Vec<u64>> {
    let values: Vec<u64> = req
        .query
        .iter()
        .filter(|(k, _)| k == name || k == &format!("{name}[]"))
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|i| i.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    (!values.is_empty()).then_some(values)
}

async fn list_orders(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "orders", |store, config| {
            let (page, per_page) = match paging(&req) {
                Ok(p) => p,
                Err(a) => return a,
            };
            let as_gmt = matches!(req.q("dates_are_gmt"), Some("true" | "1"));
            let mut bounds = Vec::new();
            for (param, field, after) in [
                ("after", "date_created_gmt", true),
                ("before", "date_created_gmt", false),
                ("modified_after", "date_modified_gmt", true),
                ("modified_before", "date_modified_gmt", false),
            ] {
                if let Some(text) = req.q(param) {
                    match date_param(text, as_gmt, config.utc_offset) {
                        Some(t) => bounds.push((field, after, t)),
                        None => return invalid_param(param, "Invalid date."),
                    }
                }
            }
            let statuses: Option<Vec<String>> = req
                .query
                .iter()
                .filter(|(k, _)| k == "status" || k == "status[]")
                .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
                .reduce(|a, b| format!("{a},{b}"))
                .map(|s| s.split(',').map(str::to_string).collect());
            if let Some(bad) = statuses
                .iter()
                .flatten()
                .find(|s| s.as_str() != "any" && !ORDER_STATUSES.contains(&s.as_str()))
            {
                return invalid_param(
                    "status",
                    &format!("{bad} is not one of any, {}.", ORDER_STATUSES.join(", ")),
                );
            }
            let (include, exclude) = (id_list(&req, "include"), id_list(&req, "exclude"));
            let customer = req.q("customer").and_then(|c| c.parse::<u64>().ok());
            let mut orders: Vec<&Value> = store
                .orders
                .values()
                .filter(|o| {
                    let status = o["status"].as_str().unwrap_or("");
                    match &statuses {
                        None => status != "trash",
                        Some(s) if s.iter().any(|s| s == "any") => status != "trash",
                        Some(s) => s.iter().any(|s| s == status),
                    }
                })
                .filter(|o| {
                    bounds.iter().all(|(field, after, t)| {
                        gmt_field(o, field).is_some_and(|at| if *after { at > *t } else { at < *t })
                    })
                })
                .filter(|o| include.as_ref().is_none_or(|i| i.contains(&o["id"].as_u64().unwrap_or(0))))
                .filter(|o| exclude.as_ref().is_none_or(|e| !e.contains(&o["id"].as_u64().unwrap_or(0))))
                .filter(|o| customer.is_none_or(|c| o["customer_id"].as_u64() == Some(c)))
                .collect();
            let key = match req.q("orderby").unwrap_or("date") {
                "date" => "date_created_gmt",
                "modified" => "date_modified_gmt",
                "id" | "include" => "id",
                other => {
                    return invalid_param(
                        "orderby",
                        &format!("orderby is not one of date, id, include, title, slug, and modified. ({other})"),
                    );
                }
            };
            orders.sort_by(|a, b| {
                let by = if key == "id" {
                    a["id"].as_u64().cmp(&b["id"].as_u64())
                } else {
                    gmt_field(a, key).cmp(&gmt_field(b, key))
                };
                by.then(a["id"].as_u64().cmp(&b["id"].as_u64()))
            });
            match req.q("order").unwrap_or("desc") {
                "desc" => orders.reverse(),
                "asc" => {}
                _ => return invalid_param("order", "order is not one of asc and desc."),
            }
            let mut items: Vec<Value> = orders.into_iter().cloned().collect();
            if let Some(offset) = req.q("offset").and_then(|o| o.parse::<usize>().ok()) {
                items.drain(..offset.min(items.len()));
            }
            list_answer(&req, "/wp-json/wc/v3/orders", items, page, per_page)
        })
        .await
}

async fn get_order(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "order", |store, _| {
            match id.parse::<u64>().ok().and_then(|id| store.orders.get(&id)) {
                Some(o) => json_answer(StatusCode::OK, o),
                None => invalid_order(),
            }
        })
        .await
}

fn add_note(
    store: &mut Store,
    order: u64,
    note: &str,
    customer_note: bool,
    by_user: bool,
    config: &WooConfig,
) -> Value {
    let id = store.next_note;
    store.next_note += 1;
    let mut n = json!({
        "id": id, "author": if by_user { "admin" } else { "WooCommerce" }, "note": note,
        "customer_note": customer_note, "added_by_user": by_user,
    });
    set_date(
        &mut n,
        "created",
        Some(OffsetDateTime::now_utc()),
        config.utc_offset,
    );
    store.notes.entry(order).or_default().push(n.clone());
    n
}

/// `PUT orders/{id}`: `status`, `customer_note`, `transaction_id`, `set_paid`, `meta_data`.
async fn update_order(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "order_update", |store, config| {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| store.orders.contains_key(id))
            else {
                return invalid_order();
            };
            let Some(body) = req.json().filter(Value::is_object) else {
                return wp_error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_json",
                    "Invalid JSON body passed.",
                );
            };
            let mut status = body["status"].as_str().map(str::to_string);
            if let Some(s) = &status
                && (!ORDER_STATUSES.contains(&s.as_str()) || s == "trash")
            {
                return invalid_param(
                    "status",
                    &format!("status is not one of {}.", ORDER_STATUSES[..8].join(", ")),
                );
            }
            if body["set_paid"] == true && status.is_none() {
                status = Some("processing".into());
            }
            let order = store.orders.get_mut(&id).expect("checked");
            let before = order["status"].as_str().unwrap_or("").to_string();
            for field in [
                "customer_note",
                "transaction_id",
                "payment_method",
                "payment_method_title",
            ] {
                if let Some(v) = body[field].as_str() {
                    order[field] = json!(v);
                }
            }
            for m in body["meta_data"].as_array().into_iter().flatten() {
                let meta = order["meta_data"].as_array_mut().expect("an array");
                let next = meta.len() as u64 + 1;
                meta.push(json!({"id": next, "key": m["key"], "value": m["value"]}));
            }
            match &status {
                Some(s) => apply_status(order, s, config),
                None => set_date(
                    order,
                    "modified",
                    Some(OffsetDateTime::now_utc()),
                    config.utc_offset,
                ),
            }
            let answer = order.clone();
            if let Some(s) = status.filter(|s| *s != before) {
                let note = format!(
                    "Order status changed from {} to {}.",
                    capitalised(&before),
                    capitalised(&s)
                );
                add_note(store, id, &note, false, false, config);
            }
            json_answer(StatusCode::OK, &answer)
        })
        .await
}

async fn list_notes(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "order_notes", |store, _| {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| store.orders.contains_key(id))
            else {
                return invalid_order();
            };
            let mut notes = store.notes.get(&id).cloned().unwrap_or_default();
            notes.reverse();
            json_answer(StatusCode::OK, &Value::Array(notes))
        })
        .await
}

async fn create_note(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "order_note_create", |store, config| {
            let Some(id) = id.parse::<u64>().ok().filter(|id| store.orders.contains_key(id)) else {
                return invalid_order();
            };
            let body = req.json().unwrap_or(Value::Null);
            let Some(note) = body["note"].as_str().filter(|n| !n.is_empty()) else {
                return json_answer(
                    StatusCode::BAD_REQUEST,
                    &json!({"code": "rest_missing_callback_param", "message": "Missing parameter(s): note",
                        "data": {"status": 400, "params": ["note"]}}),
                );
            };
            let customer = body["customer_note"].as_bool().unwrap_or(false);
            let n = add_note(store, id, note, customer, true, config);
            json_answer(StatusCode::CREATED, &n)
        })
        .await
}

async fn list_products(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "products", |store, _| {
            let (page, per_page) = match paging(&req) {
                Ok(p) => p,
                Err(a) => return a,
            };
            let skus: Option<Vec<&str>> =
                req.q("sku").map(|s| s.split(',').map(str::trim).collect());
            let include = id_list(&req, "include");
            let mut products: Vec<Value> = store
                .products
                .values()
                .filter(|p| {
                    skus.as_ref()
                        .is_none_or(|s| s.iter().any(|s| p["sku"] == *s))
                })
                .filter(|p| {
                    include
                        .as_ref()
                        .is_none_or(|i| i.contains(&p["id"].as_u64().unwrap_or(0)))
                })
                .cloned()
                .collect();
            if req.q("order") != Some("asc") {
                products.reverse();
            }
            list_answer(&req, "/wp-json/wc/v3/products", products, page, per_page)
        })
        .await
}

async fn get_product(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "product", |store, _| {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| store.products.get(&id))
            {
                Some(p) => json_answer(StatusCode::OK, p),
                None => invalid_product(),
            }
        })
        .await
}

/// Applies a product update (`manage_stock`, `stock_quantity`, `stock_status`, `sku`,
/// `regular_price`, `name`); `Err` is the WordPress error object.
fn update_product_fields(
    store: &mut Store,
    id: u64,
    u: &Value,
    config: &WooConfig,
) -> Result<Value, Value> {
    let err = |status: u16, code: &str, message: &str| json!({"code": code, "message": message, "data": {"status": status}});
    if !store.products.contains_key(&id) {
        return Err(err(
            400,
            "woocommerce_rest_product_invalid_id",
            "Invalid ID.",
        ));
    }
    let quantity = match &u["stock_quantity"] {
        Value::Null => None,
        Value::Number(n) if n.is_i64() => n.as_i64(),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
        _ => {
            return Err(err(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): stock_quantity (stock_quantity is not of type integer.)",
            ));
        }
    };
    if let Some(sku) = u["sku"].as_str()
        && store
            .products
            .values()
            .any(|p| p["sku"] == sku && p["id"].as_u64() != Some(id))
    {
        return Err(err(
            400,
            "product_invalid_sku",
            "Invalid or duplicated SKU.",
        ));
    }
    let p = store.products.get_mut(&id).expect("checked");
    if let Some(m) = u["manage_stock"].as_bool() {
        p["manage_stock"] = json!(m);
    }
    for field in ["sku", "name", "regular_price"] {
        if let Some(v) = u[field].as_str() {
            p[field] = json!(v);
        }
    }
    if let Some(price) = u["regular_price"].as_str() {
        p["price"] = json!(price);
    }
    if p["manage_stock"] == true {
        if let Some(q) = quantity {
            p["stock_quantity"] = json!(q);
        }
        p["stock_status"] = json!(stock_status(p));
    } else {
        p["stock_quantity"] = Value::Null;
        if let Some(s) = u["stock_status"].as_str() {
            p["stock_status"] = json!(s);
        }
    }
    set_date(
        p,
        "modified",
        Some(OffsetDateTime::now_utc()),
        config.utc_offset,
    );
    Ok(p.clone())
}

async fn update_product(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "product_update", |store, config| {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| store.products.contains_key(id))
            else {
                return invalid_product();
            };
            let Some(body) = req.json().filter(Value::is_object) else {
                return wp_error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_json",
                    "Invalid JSON body passed.",
                );
            };
            match update_product_fields(store, id, &body, config) {
                Ok(p) => json_answer(StatusCode::OK, &p),
                Err(e) => json_answer(
                    StatusCode::from_u16(e["data"]["status"].as_u64().unwrap_or(400) as u16)
                        .unwrap_or(StatusCode::BAD_REQUEST),
                    &e,
                ),
            }
        })
        .await
}

/// `POST products/batch` `{create, update, delete}`: at most `batch_limit` objects in all
/// (else 413 `woocommerce_rest_request_entity_too_large`); per-object errors are answered
/// in place as `{"id", "error": {code, message, data}}`.
async fn batch_products(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "products_batch", |store, config| {
            let Some(body) = req.json().filter(Value::is_object) else {
                return wp_error(StatusCode::BAD_REQUEST, "rest_invalid_json", "Invalid JSON body passed.");
            };
            let count: usize = ["create", "update", "delete"]
                .iter()
                .map(|k| body[*k].as_array().map_or(0, Vec::len))
                .sum();
            if count > config.batch_limit {
                return wp_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "woocommerce_rest_request_entity_too_large",
                    &format!("Unable to accept more than {} items for this request.", config.batch_limit),
                );
            }
            let mut out = serde_json::Map::new();
            if let Some(creates) = body["create"].as_array() {
                let mut done = Vec::new();
                for c in creates {
                    let sku = c["sku"].as_str().unwrap_or("");
                    if !sku.is_empty() && store.product_by_sku(sku).is_some() {
                        done.push(json!({"id": 0, "error": {"code": "product_invalid_sku",
                            "message": "Invalid or duplicated SKU.", "data": {"status": 400}}}));
                        continue;
                    }
                    let id = store.post_id();
                    let mut p = product_json(id, sku, None, config);
                    if let Some(name) = c["name"].as_str() {
                        p["name"] = json!(name);
                    }
                    store.products.insert(id, p);
                    match update_product_fields(store, id, c, config) {
                        Ok(p) => done.push(p),
                        Err(e) => done.push(json!({"id": id, "error": e})),
                    }
                }
                out.insert("create".into(), Value::Array(done));
            }
            if let Some(updates) = body["update"].as_array() {
                let done = updates
                    .iter()
                    .map(|u| {
                        let id = u["id"].as_u64().unwrap_or(0);
                        update_product_fields(store, id, u, config)
                            .unwrap_or_else(|e| json!({"id": id, "error": e}))
                    })
                    .collect();
                out.insert("update".into(), Value::Array(done));
            }
            if let Some(deletes) = body["delete"].as_array() {
                let done = deletes
                    .iter()
                    .map(|d| {
                        let id = d.as_u64().unwrap_or(0);
                        match store.products.remove(&id) {
                            Some(p) => p,
                            None => json!({"id": id, "error": {"code": "woocommerce_rest_product_invalid_id",
                                "message": "Invalid ID.", "data": {"status": 404}}}),
                        }
                    })
                    .collect();
                out.insert("delete".into(), Value::Array(done));
            }
            json_answer(StatusCode::OK, &Value::Object(out))
        })
        .await
}

fn tracking_link(provider: &str, number: &str) -> String {
    let n = urlencode(number);
    match provider.to_lowercase().replace(' ', "").as_str() {
        "usps" => format!("https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1={n}"),
        "ups" => format!("https://www.ups.com/track?loc=en_US&tracknum={n}"),
        "fedex" => format!("https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers={n}"),
        "dhl" | "dhlexpress" => {
            format!("https://www.dhl.com/en/express/tracking.html?AWB={n}&brand=DHL")
        }
        _ => String::new(),
    }
}

/// `date_shipped` as `YYYY-MM-DD`: given as such, as a Unix timestamp or as a date-time.
fn shipped_date(v: &Value) -> Option<String> {
    let day = format_description!("[year]-[month]-[day]");
    let text = match v {
        Value::Null => return OffsetDateTime::now_utc().date().format(day).ok(),
        Value::Number(n) => {
            return OffsetDateTime::from_unix_timestamp(n.as_i64()?)
                .ok()?
                .date()
                .format(day)
                .ok();
        }
        Value::String(s) => s.trim(),
        _ => return None,
    };
    if let Ok(ts) = text.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(ts)
            .ok()?
            .date()
            .format(day)
            .ok();
    }
    if let Some(t) = parse_time(text) {
        return t.date().format(day).ok();
    }
    time::Date::parse(text.get(..10)?, day)
        .ok()?
        .format(day)
        .ok()
}

async fn list_trackings(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "shipment_trackings", |store, _| {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| store.orders.contains_key(id))
            else {
                return wp_error(
                    StatusCode::NOT_FOUND,
                    "woocommerce_rest_order_invalid_id",
                    "Invalid order ID.",
                );
            };
            json_answer(
                StatusCode::OK,
                &Value::Array(store.trackings.get(&id).cloned().unwrap_or_default()),
            )
        })
        .await
}

/// The Shipment Tracking extension's create: `tracking_number` required; a known
/// `tracking_provider` or `custom_tracking_provider` + `custom_tracking_link` (`%1$s` is the
/// number); answers 201 with the tracking.
async fn create_tracking(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "shipment_tracking_create", |store, config| {
            let Some(id) = id.parse::<u64>().ok().filter(|id| store.orders.contains_key(id)) else {
                return wp_error(StatusCode::NOT_FOUND, "woocommerce_rest_order_invalid_id", "Invalid order ID.");
            };
            let body = req.json().unwrap_or(Value::Null);
            let Some(number) = body["tracking_number"].as_str().filter(|n| !n.is_empty()) else {
                return json_answer(
                    StatusCode::BAD_REQUEST,
                    &json!({"code": "rest_missing_callback_param", "message": "Missing parameter(s): tracking_number",
                        "data": {"status": 400, "params": ["tracking_number"]}}),
                );
            };
            let Some(date) = shipped_date(&body["date_shipped"]) else {
                return invalid_param("date_shipped", "Invalid date.");
            };
            let custom = body["custom_tracking_provider"].as_str().filter(|p| !p.is_empty());
            let (provider, link) = match custom {
                Some(p) => (
                    p.to_string(),
                    body["custom_tracking_link"].as_str().unwrap_or("").replace("%1$s", number),
                ),
                None => {
                    let p = body["tracking_provider"].as_str().unwrap_or("");
                    (p.to_string(), tracking_link(p, number))
                }
            };
            let tracking_id = random_hex(32);
            let t = json!({
                "tracking_id": tracking_id, "tracking_provider": provider, "tracking_link": link,
                "tracking_number": number, "date_shipped": date,
                "_links": {"self": [{"href": format!(
                    "{}wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings/{tracking_id}",
                    config.site_url
                )}]},
            });
            store.trackings.entry(id).or_default().push(t.clone());
            json_answer(StatusCode::CREATED, &t)
        })
        .await
}
