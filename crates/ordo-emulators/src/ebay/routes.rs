//! The eBay emulator's HTTP side: the Sell API and OAuth routes, and the gate every request
//! passes (bearer token, optional limits, faults) before a handler runs.

use super::*;

/// The routes, each a handler below.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    let f = "/sell/fulfillment/v1";
    Router::new()
        .route("/identity/v1/oauth2/token", post(token))
        .route(&format!("{f}/order"), get(get_orders))
        .route(&format!("{f}/order/{{id}}"), get(get_order))
        .route(
            &format!("{f}/order/{{id}}/shipping_fulfillment"),
            post(create_fulfillment).get(list_fulfillments),
        )
        .route(
            &format!("{f}/order/{{id}}/shipping_fulfillment/{{fid}}"),
            get(get_fulfillment),
        )
        .route(
            "/sell/inventory/v1/bulk_update_price_quantity",
            post(bulk_update),
        )
        .route(
            "/sell/inventory/v1/inventory_item/{sku}",
            get(get_inventory_item),
        )
        .fallback(fallback)
        .with_state(inner)
}

impl Inner {
    /// Statistics, the bearer token, the optional limits and faults, then `f`.
    async fn run(
        &self,
        req: &Req,
        op: &str,
        f: impl FnOnce(&mut Account, &EbayConfig) -> Answer,
    ) -> Answer {
        self.stats.lock().unwrap().record(op);
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        let valid = token == self.config.access_token || {
            let a = self.account.lock().unwrap();
            match a.tokens.get(token) {
                Some((expiry, true)) if *expiry > Instant::now() => true,
                Some((expiry, false)) if *expiry > Instant::now() => {
                    return error_body(
                        StatusCode::FORBIDDEN,
                        1100,
                        "ACCESS",
                        "REQUEST",
                        "Access denied: Insufficient permissions to fulfill the request.",
                    );
                }
                _ => false,
            }
        };
        if !valid {
            let answer = json_answer(
                StatusCode::UNAUTHORIZED,
                &json!({"errors": [{"errorId": 1001, "domain": "OAuth", "category": "REQUEST",
                    "message": "Invalid access token",
                    "longMessage": "Invalid access token. Check the value of the Authorization HTTP request header."}]}),
            );
            return with_header(answer, "www-authenticate", "Bearer");
        }
        let taken = self.limit.lock().unwrap().take();
        if taken.is_err() {
            self.stats.lock().unwrap().throttle(op);
            return fault_answer(op)(StatusCode::TOO_MANY_REQUESTS);
        }
        if let Some(a) = self.faults.apply(op, fault_answer(op)).await {
            return a;
        }
        f(&mut self.account.lock().unwrap(), &self.config)
    }
}

type Shared = State<Arc<Inner>>;

async fn fallback(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "not_found", |_, _| {
            error_body(
                StatusCode::NOT_FOUND,
                2002,
                "ACCESS",
                "REQUEST",
                "Resource not found",
            )
        })
        .await
}

/// `POST /identity/v1/oauth2/token`: `Authorization: Basic base64(client_id:secret)`,
/// form `grant_type=refresh_token&refresh_token=...&scope=...` (a user token) or
/// `grant_type=client_credentials&scope=...` (an application token, refused by Sell APIs).
async fn token(State(inner): Shared, req: Req) -> Answer {
    inner.stats.lock().unwrap().record("token");
    if let Some(a) = inner
        .faults
        .apply_scoped("token", fault_answer("token"))
        .await
    {
        return a;
    }
    let c = &inner.config;
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        json_answer(
            status,
            &json!({"error": error, "error_description": description}),
        )
    };
    let creds = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    if creds != Some(format!("{}:{}", c.client_id, c.client_secret)) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let form = req.form();
    let user = match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => true,
        Some("client_credentials") => false,
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant type in request is not supported by the authorization server",
            );
        }
    };
    if user && form.get("refresh_token") != Some(&c.refresh_token) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the provided authorization refresh token is invalid or was issued to another client",
        );
    }
    let value = format!("v^1.1#i^1#r^0#{}", random_hex(40));
    inner.account.lock().unwrap().tokens.insert(
        value.clone(),
        (Instant::now() + Duration::from_secs(c.token_lifetime), user),
    );
    json_answer(
        StatusCode::OK,
        &json!({"access_token": value, "expires_in": c.token_lifetime,
            "token_type": if user { "User Access Token" } else { "Application Access Token" }}),
    )
}

/// The parsed `filter` of `getOrders`.
#[derive(Default)]
struct OrderFilter {
    created: Option<(OffsetDateTime, Option<OffsetDateTime>)>,
    modified: Option<(OffsetDateTime, Option<OffsetDateTime>)>,
    statuses: Option<Vec<String>>,
}

/// Parses `creationdate:[a..b]`, `lastmodifieddate:[a..]`,
/// `orderfulfillmentstatus:{NOT_STARTED|IN_PROGRESS}`, comma-separated.
fn parse_filter(text: &str) -> Result<OrderFilter, Answer> {
    let mut f = OrderFilter::default();
    let bad =
        |id: u32, message: String| Err(fulfillment_error(StatusCode::BAD_REQUEST, id, &message));
    for criterion in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let Some((name, value)) = criterion.split_once(':') else {
            return bad(30700, format!("Invalid filter name: {criterion}"));
        };
        match name.trim() {
            n @ ("creationdate" | "lastmodifieddate") => {
                let Some(range) = value
                    .trim()
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                else {
                    return bad(
                        30800,
                        format!("Invalid filter value {value} for filter {n}"),
                    );
                };
                let (start, end) = range.split_once("..").unwrap_or((range, ""));
                if start.trim().is_empty() {
                    return bad(30820, format!("Start date is missing for filter {n}"));
                }
                let Some(start) = parse_time(start) else {
                    return bad(
                        30810,
                        format!("Invalid date format for filter {n}: {start}"),
                    );
                };
                let end = if end.trim().is_empty() {
                    None
                } else {
                    match parse_time(end) {
                        Some(e) if e >= start => Some(e),
                        Some(_) => {
                            return bad(
                                30840,
                                format!("End date is before start date for filter {n}"),
                            );
                        }
                        None => {
                            return bad(
                                30810,
                                format!("Invalid date format for filter {n}: {end}"),
                            );
                        }
                    }
                };
                if start < OffsetDateTime::now_utc() - time::Duration::days(90) {
                    return bad(
                        30830,
                        format!("The start date for filter {n} is more than 90 days ago"),
                    );
                }
                if n == "creationdate" {
                    f.created = Some((start, end));
                } else {
                    f.modified = Some((start, end));
                }
            }
            "orderfulfillmentstatus" => {
                let values: Option<Vec<String>> = value
                    .trim()
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .map(|v| v.split('|').map(|s| s.trim().to_string()).collect());
                match values {
                    Some(v)
                        if v.iter().all(|s| {
                            matches!(s.as_str(), "NOT_STARTED" | "IN_PROGRESS" | "FULFILLED")
                        }) =>
                    {
                        f.statuses = Some(v);
                    }
                    _ => {
                        return bad(
                            30800,
                            format!(
                                "Invalid filter value {value} for filter orderfulfillmentstatus"
                            ),
                        );
                    }
                }
            }
            other => return bad(30700, format!("Invalid filter name: {other}")),
        }
    }
    if f.created.is_some() {
        // With both dates, eBay uses only creationdate.
        f.modified = None;
    }
    Ok(f)
}

fn in_range(text: &Value, range: &Option<(OffsetDateTime, Option<OffsetDateTime>)>) -> bool {
    range.is_none_or(|(start, end)| {
        text.as_str()
            .and_then(parse_time)
            .is_some_and(|t| t >= start && end.is_none_or(|e| t <= e))
    })
}

/// The request URL with `offset` replaced (for `href`, `next`, `prev`).
fn page_url(req: &Req, offset: usize, limit: usize) -> String {
    let mut parts: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    parts.push(format!("limit={limit}"));
    parts.push(format!("offset={offset}"));
    format!(
        "{}/sell/fulfillment/v1/order?{}",
        req.origin(),
        parts.join("&")
    )
}

/// `getOrders`: newest first by `creationDate`; `orderIds` (≤ 50) overrides the rest.
async fn get_orders(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "getOrders", |a, _| {
            let bad = |id, m: &str| fulfillment_error(StatusCode::BAD_REQUEST, id, m);
            let limit = match req.q("limit") {
                None => 50,
                Some(l) => match l.parse::<usize>() {
                    Ok(l) if (1..=200).contains(&l) => l,
                    _ => return bad(31100, "Invalid limit. Supported ranges 1 - 200."),
                },
            };
            let offset = match req.q("offset") {
                None => 0,
                Some(o) => match o.parse::<usize>() {
                    Ok(o) => o,
                    Err(_) => {
                        return bad(31000, "Invalid offset. The offset must be zero or greater.");
                    }
                },
            };
            let mut orders: Vec<&StoredOrder> = if let Some(ids) = req.q("orderIds") {
                let ids: Vec<&str> = ids
                    .split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .collect();
                if ids.len() > 50 {
                    return bad(
                        30900,
                        "Exceeded maximum number of order IDs (the maximum is 50).",
                    );
                }
                ids.iter().filter_map(|id| a.orders.get(*id)).collect()
            } else {
                let filter = match parse_filter(req.q("filter").unwrap_or("")) {
                    Ok(f) => f,
                    Err(e) => return e,
                };
                a.orders
                    .values()
                    .filter(|o| in_range(&o.json["creationDate"], &filter.created))
                    .filter(|o| in_range(&o.json["lastModifiedDate"], &filter.modified))
                    .filter(|o| {
                        filter.statuses.as_ref().is_none_or(|s| {
                            s.iter()
                                .any(|s| o.json["orderFulfillmentStatus"] == s.as_str())
                        })
                    })
                    .collect()
            };
            if req.q("orderIds").is_none() {
                orders.sort_by_key(|o| std::cmp::Reverse(o.seq));
            }
            let total = orders.len();
            let page: Vec<Value> = orders
                .iter()
                .skip(offset)
                .take(limit)
                .map(|o| o.json.clone())
                .collect();
            let mut body = json!({
                "href": page_url(&req, offset, limit), "total": total, "limit": limit,
                "offset": offset, "orders": page,
            });
            if offset + limit < total {
                body["next"] = json!(page_url(&req, offset + limit, limit));
            }
            if offset > 0 {
                body["prev"] = json!(page_url(&req, offset.saturating_sub(limit), limit));
            }
            json_answer(StatusCode::OK, &body)
        })
        .await
}

fn unknown_order(id: &str) -> Answer {
    fulfillment_error(
        StatusCode::NOT_FOUND,
        32100,
        &format!("Invalid order ID: {id}"),
    )
}

async fn get_order(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "getOrder", |a, _| match a.orders.get(&id) {
            Some(o) => json_answer(StatusCode::OK, &o.json),
            None => unknown_order(&id),
        })
        .await
}

/// `createShippingFulfillment`: a package of line items (each whole when `quantity` is
/// left out), with carrier and tracking number together or neither; answers 201 with
/// `Location` and `{}`.
async fn create_fulfillment(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "createShippingFulfillment", |a, _| {
            let bad = |code, m: &str| fulfillment_error(StatusCode::BAD_REQUEST, code, m);
            let Some(body) = req.json().filter(Value::is_object) else {
                return bad(34100, "The request body is not valid JSON.");
            };
            let Some(order) = a.orders.get_mut(&id) else {
                return unknown_order(&id);
            };
            if order.json["cancelStatus"]["cancelState"] == "CANCELED" {
                return bad(32800, &format!("Order {id} has been cancelled."));
            }
            let Some(items) = body["lineItems"].as_array().filter(|l| !l.is_empty()) else {
                return bad(34100, "lineItems is required.");
            };
            let carrier = body["shippingCarrierCode"].as_str().filter(|s| !s.is_empty());
            let number = body["trackingNumber"].as_str().filter(|s| !s.is_empty());
            if carrier.is_some() != number.is_some() {
                return bad(32600, "shippingCarrierCode and trackingNumber must be given together.");
            }
            let shipped_date = match body["shippedDate"].as_str() {
                None => ebay_time(OffsetDateTime::now_utc()),
                Some(d) => match parse_time(d) {
                    Some(t) => ebay_time(t),
                    None => return bad(32500, &format!("Invalid shippedDate: {d}")),
                },
            };
            let mut shipped = order.shipped.clone();
            let mut package = Vec::new();
            for item in items {
                let line_id = item["lineItemId"].as_str().unwrap_or("");
                let Some(line) = order.json["lineItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|l| l["lineItemId"] == line_id)
                else {
                    return bad(32200, &format!("Invalid line item ID: {line_id}"));
                };
                let ordered = line["quantity"].as_i64().unwrap_or(0);
                let done = shipped.get(line_id).copied().unwrap_or(0);
                let q = item["quantity"].as_i64().unwrap_or(ordered - done);
                if q < 1 || done + q > ordered {
                    return bad(
                        32800,
                        &format!("Quantity {q} for line item {line_id} exceeds the quantity left to ship."),
                    );
                }
                shipped.insert(line_id.to_string(), done + q);
                package.push(json!({"lineItemId": line_id, "quantity": q}));
            }
            let fulfillment_id = format!("{}", 9_400_000_000_000u64 + order.seq * 100 + order.fulfillments.len() as u64);
            let mut f = json!({"fulfillmentId": fulfillment_id, "lineItems": package, "shippedDate": shipped_date});
            if let (Some(c), Some(n)) = (carrier, number) {
                f["shippingCarrierCode"] = json!(c);
                f["shipmentTrackingNumber"] = json!(n);
            }
            order.fulfillments.push(f);
            order.shipped = shipped;
            let mut all = true;
            for line in order.json["lineItems"].as_array_mut().into_iter().flatten() {
                let ordered = line["quantity"].as_i64().unwrap_or(0);
                let done = order.shipped.get(line["lineItemId"].as_str().unwrap_or("")).copied().unwrap_or(0);
                let status = match done {
                    0 => "NOT_STARTED",
                    d if d >= ordered => "FULFILLED",
                    _ => "IN_PROGRESS",
                };
                all &= status == "FULFILLED";
                line["lineItemFulfillmentStatus"] = json!(status);
            }
            let location = format!(
                "{}/sell/fulfillment/v1/order/{id}/shipping_fulfillment/{fulfillment_id}",
                req.origin()
            );
            let j = &mut order.json;
            j["orderFulfillmentStatus"] = json!(if all { "FULFILLED" } else { "IN_PROGRESS" });
            j["fulfillmentHrefs"].as_array_mut().expect("an array").push(json!(location));
            j["lastModifiedDate"] = json!(ebay_time(OffsetDateTime::now_utc()));
            with_header(json_answer(StatusCode::CREATED, &json!({})), "location", &location)
        })
        .await
}

async fn list_fulfillments(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "getShippingFulfillments", |a, _| {
            match a.orders.get(&id) {
                Some(o) => json_answer(
                    StatusCode::OK,
                    &json!({"fulfillments": o.fulfillments, "total": o.fulfillments.len()}),
                ),
                None => unknown_order(&id),
            }
        })
        .await
}

async fn get_fulfillment(
    State(inner): Shared,
    Path((id, fid)): Path<(String, String)>,
    req: Req,
) -> Answer {
    inner
        .run(&req, "getShippingFulfillment", |a, _| {
            let Some(o) = a.orders.get(&id) else {
                return unknown_order(&id);
            };
            match o
                .fulfillments
                .iter()
                .find(|f| f["fulfillmentId"] == fid.as_str())
            {
                Some(f) => json_answer(StatusCode::OK, f),
                None => fulfillment_error(
                    StatusCode::NOT_FOUND,
                    32700,
                    &format!("Invalid shipping fulfillment ID: {fid}"),
                ),
            }
        })
        .await
}

/// Applies one `bulkUpdatePriceQuantity` request element; its responses (one per offer
/// sent, else one for the SKU).
fn update_one(a: &mut Account, r: &Value) -> Vec<Value> {
    let sku = r["sku"].as_str().unwrap_or("").to_string();
    let failed = |status: u16, id: u32, message: String, offer: Option<&Value>| {
        let mut x = json!({"statusCode": status, "sku": sku, "errors": [{"errorId": id,
            "domain": "API_INVENTORY", "category": "REQUEST", "message": message}], "warnings": []});
        if let Some(o) = offer {
            x["offerId"] = o.clone();
        }
        vec![x]
    };
    let Some(item) = a.inventory.get_mut(&sku) else {
        return failed(
            404,
            25702,
            format!("SKU {sku} is not available in the system."),
            None,
        );
    };
    let ship = &r["shipToLocationAvailability"];
    let quantity = if ship.is_null() {
        None
    } else {
        match ship["quantity"].as_i64() {
            Some(q) if q >= 0 => Some(q),
            _ => {
                return failed(
                    400,
                    25709,
                    "Invalid value for shipToLocationAvailability.quantity.".into(),
                    None,
                );
            }
        }
    };
    let offers = r["offers"].as_array().cloned().unwrap_or_default();
    for o in &offers {
        if o["offerId"].as_str() != Some(item.offer_id.as_str()) {
            return failed(
                404,
                25713,
                format!("Offer {} is not available for SKU {sku}.", o["offerId"]),
                Some(&o["offerId"]),
            );
        }
        if o["availableQuantity"].as_i64().is_some_and(|q| q < 0) {
            return failed(
                400,
                25709,
                "Invalid value for availableQuantity.".into(),
                Some(&o["offerId"]),
            );
        }
    }
    if let Some(q) = quantity {
        item.quantity = Some(q);
    }
    for o in &offers {
        if let Some(q) = o["availableQuantity"].as_i64() {
            item.quantity = Some(q);
        }
        if o["price"].is_object() {
            item.price = Some(o["price"].clone());
        }
    }
    let ok = |offer: Option<&Value>| {
        let mut x = json!({"statusCode": 200, "sku": sku, "errors": [], "warnings": []});
        if let Some(o) = offer {
            x["offerId"] = o.clone();
        }
        x
    };
    if offers.is_empty() {
        vec![ok(None)]
    } else {
        offers.iter().map(|o| ok(Some(&o["offerId"]))).collect()
    }
}

/// `bulkUpdatePriceQuantity`: at most `bulk_limit` requests (else 400); 200 when every
/// element succeeded, 207 otherwise, with a response per SKU (per offer when offers were
/// sent).
async fn bulk_update(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "bulkUpdatePriceQuantity", |a, config| {
            let Some(requests) = req.json().and_then(|b| b["requests"].as_array().cloned()) else {
                return inventory_error(StatusCode::BAD_REQUEST, 25709, "Invalid value for requests.");
            };
            if requests.is_empty() || requests.len() > config.bulk_limit {
                return inventory_error(
                    StatusCode::BAD_REQUEST,
                    25709,
                    &format!(
                        "Invalid value for requests. Between 1 and {} requests are allowed per call.",
                        config.bulk_limit
                    ),
                );
            }
            let responses: Vec<Value> = requests.iter().flat_map(|r| update_one(a, r)).collect();
            let all_ok = responses.iter().all(|r| r["statusCode"] == 200);
            json_answer(
                if all_ok { StatusCode::OK } else { StatusCode::MULTI_STATUS },
                &json!({ "responses": responses }),
            )
        })
        .await
}

async fn get_inventory_item(State(inner): Shared, Path(sku): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "getInventoryItem", |a, _| match a.inventory.get(&sku) {
            Some(i) => {
                let mut availability = json!({});
                if let Some(q) = i.quantity {
                    availability["shipToLocationAvailability"] = json!({"quantity": q});
                }
                json_answer(
                    StatusCode::OK,
                    &json!({"sku": sku, "locale": "en_US", "condition": "NEW",
                        "product": {"title": sku}, "availability": availability}),
                )
            }
            None => inventory_error(
                StatusCode::NOT_FOUND,
                25710,
                "We didn't find the resource/entity you are requesting. Please verify the request",
            ),
        })
        .await
}
