//! The SP-API emulator's HTTP side: the LWA and SP-API routes, and the gate every request
//! passes (access token, the operation's bucket, faults) before a handler runs.

use super::*;

/// The routes, each a handler below.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/auth/o2/token", post(token))
        .route("/orders/v0/orders", get(get_orders))
        .route("/orders/v0/orders/{id}", get(get_order))
        .route("/orders/v0/orders/{id}/orderItems", get(get_items))
        .route("/orders/v0/orders/{id}/shipmentConfirmation", post(confirm))
        .route(
            "/listings/2021-08-01/items/{seller}/{sku}",
            patch(patch_listing),
        )
        .fallback(fallback)
        .with_state(inner)
}

impl Inner {
    /// Statistics, the access token, the operation's bucket and faults, then `f`; adds
    /// `x-amzn-RequestId` and `x-amzn-RateLimit-Limit` to what it answers.
    async fn run(
        &self,
        req: &Req,
        op: &str,
        f: impl FnOnce(&mut Market, &AmazonConfig) -> Answer,
    ) -> Answer {
        self.stats.lock().unwrap().record(op);
        let answer = self.gate(req, op, f).await;
        let answer = with_header(answer, "x-amzn-RequestId", &random_uuid());
        let rate = self.config.rate_limit(op).rate;
        with_header(answer, "x-amzn-RateLimit-Limit", &format!("{rate}"))
    }

    async fn gate(
        &self,
        req: &Req,
        op: &str,
        f: impl FnOnce(&mut Market, &AmazonConfig) -> Answer,
    ) -> Answer {
        let token = req.header("x-amz-access-token").unwrap_or("");
        let expiry = self.market.lock().unwrap().tokens.get(token).copied();
        match expiry {
            None => {
                return errors(
                    StatusCode::FORBIDDEN,
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "",
                );
            }
            Some(e) if e <= Instant::now() => {
                return errors(
                    StatusCode::FORBIDDEN,
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "The access token you provided has expired.",
                );
            }
            Some(_) => {}
        }
        let limited = self
            .buckets
            .lock()
            .unwrap()
            .get_mut(op)
            .is_some_and(|b| b.take().is_err());
        if limited {
            self.stats.lock().unwrap().throttle(op);
            return fault_answer(StatusCode::TOO_MANY_REQUESTS);
        }
        if let Some(a) = self.faults.apply(op, fault_answer).await {
            return a;
        }
        f(&mut self.market.lock().unwrap(), &self.config)
    }
}

type Shared = State<Arc<Inner>>;

async fn fallback(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "not_found", |_, _| not_found("Resource not found."))
        .await
}

/// LWA: `grant_type=refresh_token` (client id, secret and refresh token must match) or
/// `client_credentials` (grantless, with a `scope`).
async fn token(State(inner): Shared, req: Req) -> Answer {
    inner.stats.lock().unwrap().record("token");
    if let Some(a) = inner.faults.apply_scoped("token", lwa_fault).await {
        return a;
    }
    let form = req.form();
    let c = &inner.config;
    let lwa_error = |status: StatusCode, error: &str, description: &str| {
        json_answer(
            status,
            &json!({"error": error, "error_description": description}),
        )
    };
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if !matches!(grant, "refresh_token" | "client_credentials") {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        );
    }
    if form.get("client_id") != Some(&c.client_id)
        || form.get("client_secret") != Some(&c.client_secret)
    {
        return lwa_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if grant == "refresh_token" && form.get("refresh_token") != Some(&c.refresh_token) {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    if grant == "client_credentials" && form.get("scope").is_none_or(|s| s.is_empty()) {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The request has an invalid parameter : scope",
        );
    }
    let value = format!("Atza|{}", random_hex(48));
    inner.market.lock().unwrap().tokens.insert(
        value.clone(),
        Instant::now() + Duration::from_secs(c.token_lifetime),
    );
    let mut body =
        json!({"access_token": value, "token_type": "bearer", "expires_in": c.token_lifetime});
    if grant == "refresh_token" {
        body["refresh_token"] = json!(c.refresh_token);
    }
    json_answer(StatusCode::OK, &body)
}

fn lwa_fault(status: StatusCode) -> Answer {
    json_answer(
        status,
        &json!({"error": "server_error", "error_description": "The authorization server encountered an unexpected condition"}),
    )
}

/// A `getOrders` query, as first asked (kept in the `NextToken`).
struct OrderQuery {
    marketplaces: Vec<String>,
    created: Option<(OffsetDateTime, OffsetDateTime)>,
    updated: Option<(OffsetDateTime, OffsetDateTime)>,
    statuses: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    per_page: usize,
    after_seq: u64,
}

fn list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

fn split(s: Option<&str>) -> Option<Vec<String>> {
    s.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
}

impl OrderQuery {
    fn to_token(&self, after_seq: u64) -> String {
        let range = |r: &Option<(OffsetDateTime, OffsetDateTime)>| {
            r.map(|(a, b)| json!([rfc3339(a), rfc3339(b)]))
        };
        encode_token(&json!({
            "m": self.marketplaces, "c": range(&self.created), "u": range(&self.updated),
            "s": self.statuses, "f": self.channels, "i": self.ids, "n": self.per_page, "a": after_seq,
        }))
    }

    fn from_token(token: &str) -> Option<Self> {
        let v = decode_token(token)?;
        let range = |r: &Value| -> Option<Option<(OffsetDateTime, OffsetDateTime)>> {
            if r.is_null() {
                return Some(None);
            }
            Some(Some((
                parse_time(r[0].as_str()?)?,
                parse_time(r[1].as_str()?)?,
            )))
        };
        Some(Self {
            marketplaces: list(&v["m"])?,
            created: range(&v["c"])?,
            updated: range(&v["u"])?,
            statuses: list(&v["s"]),
            channels: list(&v["f"]),
            ids: list(&v["i"]),
            per_page: v["n"].as_u64()? as usize,
            after_seq: v["a"].as_u64()?,
        })
    }

    /// Reads and checks the parameters of a first request.
    fn parse(req: &Req, config: &AmazonConfig) -> Result<Self, Answer> {
        let marketplaces = split(req.q("MarketplaceIds")).unwrap_or_default();
        let time = |name: &str| -> Result<Option<OffsetDateTime>, Answer> {
            match req.q(name) {
                None | Some("") => Ok(None),
                Some(t) => parse_time(t)
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("{name} is not a valid ISO 8601 date-time."))),
            }
        };
        let (created_after, created_before) = (time("CreatedAfter")?, time("CreatedBefore")?);
        let (updated_after, updated_before) =
            (time("LastUpdatedAfter")?, time("LastUpdatedBefore")?);
        let ids = split(req.q("AmazonOrderIds"));
        if ids.is_none() && created_after.is_some() == updated_after.is_some() {
            return Err(invalid(
                "Exactly one of CreatedAfter and LastUpdatedAfter must be specified.",
            ));
        }
        if (created_before.is_some() && created_after.is_none())
            || (updated_before.is_some() && updated_after.is_none())
        {
            return Err(invalid(
                "CreatedBefore and LastUpdatedBefore need CreatedAfter and LastUpdatedAfter respectively.",
            ));
        }
        let now = OffsetDateTime::now_utc();
        let latest = now - config.visibility_delay;
        for (name, t) in [
            ("CreatedAfter", created_after),
            ("LastUpdatedAfter", updated_after),
        ] {
            if t.is_some_and(|t| t > now) {
                return Err(invalid(&format!(
                    "{name} cannot be later than the current time."
                )));
            }
        }
        for (name, t) in [
            ("CreatedBefore", created_before),
            ("LastUpdatedBefore", updated_before),
        ] {
            if t.is_some_and(|t| t > now - Duration::from_secs(120)) {
                return Err(invalid(&format!(
                    "{name} must be at least 2 minutes before the time of the request."
                )));
            }
        }
        let per_page = match req.q("MaxResultsPerPage") {
            None => 100,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => return Err(invalid("MaxResultsPerPage must be between 1 and 100.")),
            },
        };
        Ok(Self {
            marketplaces,
            created: created_after.map(|a| (a, created_before.unwrap_or(latest).min(latest))),
            updated: updated_after.map(|a| (a, updated_before.unwrap_or(latest).min(latest))),
            statuses: split(req.q("OrderStatuses")),
            channels: split(req.q("FulfillmentChannels")),
            ids,
            per_page,
            after_seq: 0,
        })
    }

    fn matches(&self, o: &StoredOrder) -> bool {
        let j = &o.json;
        let text = |k: &str| j[k].as_str().unwrap_or("").to_string();
        let within = |k: &str, r: &Option<(OffsetDateTime, OffsetDateTime)>| {
            r.is_none_or(|(a, b)| parse_time(&text(k)).is_some_and(|t| t >= a && t <= b))
        };
        o.seq > self.after_seq
            && self.marketplaces.contains(&text("MarketplaceId"))
            && within("PurchaseDate", &self.created)
            && within("LastUpdateDate", &self.updated)
            && self
                .statuses
                .as_ref()
                .is_none_or(|s| s.contains(&text("OrderStatus")))
            && self
                .channels
                .as_ref()
                .is_none_or(|c| c.contains(&text("FulfillmentChannel")))
            && self
                .ids
                .as_ref()
                .is_none_or(|i| i.contains(&text("AmazonOrderId")))
    }
}

async fn get_orders(State(inner): Shared, req: Req) -> Answer {
    inner
        .run(&req, "getOrders", |m, config| {
            if req.q("MarketplaceIds").is_none_or(str::is_empty) {
                return invalid("Missing required parameter: MarketplaceIds.");
            }
            let query = match req.q("NextToken") {
                Some(t) => match OrderQuery::from_token(t) {
                    Some(q) => q,
                    None => return invalid("Invalid NextToken."),
                },
                None => match OrderQuery::parse(&req, config) {
                    Ok(q) => q,
                    Err(a) => return a,
                },
            };
            let mut matching: Vec<&StoredOrder> =
                m.orders.values().filter(|o| query.matches(o)).collect();
            matching.sort_by_key(|o| o.seq);
            let page: Vec<Value> = matching
                .iter()
                .take(query.per_page)
                .map(|o| shown(o))
                .collect();
            let mut payload = json!({ "Orders": page });
            if matching.len() > query.per_page {
                payload["NextToken"] = json!(query.to_token(matching[query.per_page - 1].seq));
            }
            if let Some((_, before)) = query.updated {
                payload["LastUpdatedBefore"] = json!(rfc3339(before));
            }
            if let Some((_, before)) = query.created {
                payload["CreatedBefore"] = json!(rfc3339(before));
            }
            json_answer(StatusCode::OK, &json!({ "payload": payload }))
        })
        .await
}

async fn get_order(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "getOrder", |m, _| match m.orders.get(&id) {
            Some(o) => json_answer(StatusCode::OK, &json!({"payload": shown(o)})),
            None => not_found(&format!("Order {id} was not found.")),
        })
        .await
}

async fn get_items(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "getOrderItems", |m, config| {
            let Some(o) = m.orders.get(&id) else {
                return not_found(&format!("Order {id} was not found."));
            };
            let start = match req.q("NextToken") {
                None => 0,
                Some(t) => match decode_token(t)
                    .filter(|v| v["o"] == id.as_str())
                    .and_then(|v| v["s"].as_u64())
                {
                    Some(s) => s as usize,
                    None => return invalid("Invalid NextToken."),
                },
            };
            let size = config.order_items_page_size.max(1);
            let page: Vec<Value> = o.items.iter().skip(start).take(size).cloned().collect();
            let mut payload = json!({"AmazonOrderId": id, "OrderItems": page});
            if start + size < o.items.len() {
                payload["NextToken"] = json!(encode_token(&json!({"o": id, "s": start + size})));
            }
            json_answer(StatusCode::OK, &json!({ "payload": payload }))
        })
        .await
}

/// `confirmShipment`: checks the package against the order's items, marks the quantities
/// shipped (status `PartiallyShipped`/`Shipped`) and answers 204.
async fn confirm(State(inner): Shared, Path(id): Path<String>, req: Req) -> Answer {
    inner
        .run(&req, "confirmShipment", |m, _| {
            let Some(body) = req.json() else {
                return invalid("The request body is not valid JSON.");
            };
            let detail = &body["packageDetail"];
            if body["marketplaceId"].as_str().is_none_or(str::is_empty) {
                return invalid("Missing required field: marketplaceId.");
            }
            for field in [
                "packageReferenceId",
                "carrierCode",
                "trackingNumber",
                "shipDate",
            ] {
                if detail[field].as_str().is_none_or(str::is_empty) {
                    return invalid(&format!("Missing required field: packageDetail.{field}."));
                }
            }
            if detail["carrierCode"] == "Other"
                && detail["carrierName"].as_str().is_none_or(str::is_empty)
            {
                return invalid("carrierName is required when carrierCode is Other.");
            }
            if parse_time(detail["shipDate"].as_str().unwrap_or("")).is_none() {
                return invalid("packageDetail.shipDate is not a valid ISO 8601 date-time.");
            }
            let Some(lines) = detail["orderItems"].as_array().filter(|l| !l.is_empty()) else {
                return invalid("Missing required field: packageDetail.orderItems.");
            };
            let Some(order) = m.orders.get_mut(&id) else {
                return not_found(&format!("Order {id} was not found."));
            };
            if !matches!(
                order.json["OrderStatus"].as_str(),
                Some("Unshipped" | "PartiallyShipped")
            ) {
                return invalid(&format!(
                    "Order {id} is {} and cannot be confirmed.",
                    order.json["OrderStatus"].as_str().unwrap_or("")
                ));
            }
            let mut items = order.items.clone();
            for line in lines {
                let item_id = line["orderItemId"].as_str().unwrap_or("");
                let q = line["quantity"].as_i64().unwrap_or(0);
                let Some(item) = items.iter_mut().find(|i| i["OrderItemId"] == item_id) else {
                    return invalid(&format!("orderItemId {item_id} is not in order {id}."));
                };
                let (ordered, shipped) = (
                    item["QuantityOrdered"].as_i64().unwrap_or(0),
                    item["QuantityShipped"].as_i64().unwrap_or(0),
                );
                if q < 1 || shipped + q > ordered {
                    return invalid(&format!(
                        "Quantity {q} for orderItemId {item_id} exceeds the quantity left to ship."
                    ));
                }
                item["QuantityShipped"] = json!(shipped + q);
            }
            let (ordered, shipped): (i64, i64) = items.iter().fold((0, 0), |(o, s), i| {
                (
                    o + i["QuantityOrdered"].as_i64().unwrap_or(0),
                    s + i["QuantityShipped"].as_i64().unwrap_or(0),
                )
            });
            order.items = items;
            let j = &mut order.json;
            j["NumberOfItemsShipped"] = json!(shipped);
            j["NumberOfItemsUnshipped"] = json!(ordered - shipped);
            j["OrderStatus"] = json!(if shipped == ordered {
                "Shipped"
            } else {
                "PartiallyShipped"
            });
            j["LastUpdateDate"] = json!(now_text());
            m.confirmations.push((id.clone(), body));
            empty_answer(StatusCode::NO_CONTENT)
        })
        .await
}

/// `patchListingsItem`: reads the `fulfillment_availability` quantity (or its deletion) and
/// stores it; `mode=VALIDATION_PREVIEW` only validates.
async fn patch_listing(
    State(inner): Shared,
    Path((seller, sku)): Path<(String, String)>,
    req: Req,
) -> Answer {
    inner
        .run(&req, "patchListingsItem", |m, config| {
            if seller != config.seller_id {
                return errors(
                    StatusCode::FORBIDDEN,
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "",
                );
            }
            let Some(marketplaces) = split(req.q("marketplaceIds")).filter(|m| !m.is_empty()) else {
                return invalid("Missing required parameter: marketplaceIds.");
            };
            let Some(body) = req.json() else {
                return invalid("The request body is not valid JSON.");
            };
            if body["productType"].as_str().is_none_or(str::is_empty) {
                return invalid("Missing required field: productType.");
            }
            let Some(patches) = body["patches"].as_array().filter(|p| !p.is_empty()) else {
                return invalid("Missing required field: patches.");
            };
            let Some(listing) = m.listings.get(&sku) else {
                return not_found(&format!(
                    "Requested item '{sku}' not found in marketplace '{}'.",
                    marketplaces[0]
                ));
            };
            let mut quantity = listing.quantity;
            let mut issues = Vec::new();
            for p in patches {
                let op = p["op"].as_str().unwrap_or("");
                if !matches!(op, "add" | "replace" | "merge" | "delete") {
                    return invalid(&format!("Invalid patch operation '{op}'."));
                }
                if p["path"] != "/attributes/fulfillment_availability" {
                    continue;
                }
                if op == "delete" {
                    quantity = None;
                    continue;
                }
                match p["value"][0]["quantity"].as_i64() {
                    Some(q) if q >= 0 => quantity = Some(q),
                    _ => issues.push(json!({
                        "code": "90220", "message": "'quantity' must be a non-negative integer.",
                        "severity": "ERROR", "attributeNames": ["fulfillment_availability"],
                        "categories": ["INVALID_ATTRIBUTE"],
                    })),
                }
            }
            let preview = req.q("mode") == Some("VALIDATION_PREVIEW");
            let status = if !issues.is_empty() {
                "INVALID"
            } else if preview {
                "VALID"
            } else {
                "ACCEPTED"
            };
            if status == "ACCEPTED" {
                m.listings.get_mut(&sku).expect("found above").quantity = quantity;
                m.patches.push((sku.clone(), body.clone()));
            }
            json_answer(
                StatusCode::OK,
                &json!({"sku": sku, "status": status, "submissionId": random_hex(32), "issues": issues}),
            )
        })
        .await
}
