//! The back office over plain HTTP: sign-in, lockout, sessions, CSRF and permissions.

mod common;

use common::{Agent, PASSWORD, start};
use ordo_domain::order::OrderStatus;

const PAGES: [&str; 27] = [
    "/",
    "/orders",
    "/orders/SO-000001",
    "/orders/export.csv",
    "/fulfillment",
    "/picking",
    "/picking/PL-000001",
    "/picking/PL-000001/print",
    "/packing",
    "/packing/SO-000001-1",
    "/packing/SO-000001-1/packing-slip.pdf",
    "/shipments",
    "/shipments/SH-000001/label.pdf",
    "/shipments/SH-000001/label.zpl",
    "/returns",
    "/routing",
    "/locations/WH1",
    "/channels/web",
    "/inventory",
    "/inventory/movements",
    "/products",
    "/locations",
    "/channels",
    "/events/stream",
    "/products/export.csv",
    "/inventory/export.csv",
    "/locations/WH1/bins.csv",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session() {
    let app = start("anon").await;
    let mut a = Agent::new(&app.base);
    for page in PAGES {
        let r = a.get(page).await;
        assert_eq!(r.status, 303, "{page}");
        assert!(
            r.location().starts_with("/login"),
            "{page} → {}",
            r.location()
        );
    }
    let r = a.get("/orders?status=on_hold").await;
    assert_eq!(r.location(), "/login?next=%2Forders%3Fstatus%3Don_hold");
    // A POST without a session changes nothing and is sent to sign in.
    let r = a.post("/orders/SO-000001/cancel", &[("csrf", "x")]).await;
    assert_eq!(r.status, 303);
    let o = app.store.get_order("SO-000001").await.unwrap().unwrap();
    assert_ne!(o.status, OrderStatus::Cancelled);
    for asset in [
        "/static/app.css",
        "/static/app.js",
        "/static/htmx.min.js",
        "/login",
    ] {
        assert_eq!(a.get(asset).await.status, 200, "{asset}");
    }
    // The API keeps its own answers.
    assert_eq!(a.get("/health").await.status, 200);
    assert_eq!(a.get("/api/v1/orders").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_strict_cookie_and_lands_by_role() {
    let app = start("cookies").await;
    let mut a = Agent::new(&app.base);
    let r = a.login("admin", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/");
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("ordo_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ordo_session=")
        .to_string();
    // Only the hash is stored: the raw token is not a key the store knows.
    let now = time::OffsetDateTime::now_utc();
    assert!(app.store.find_session(&token, now).await.unwrap().is_none());
    assert!(
        app.store
            .find_session(&ordo_http::auth::hash_token(&token), now)
            .await
            .unwrap()
            .is_some()
    );
    let home = a.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(home.body.matches("<h1").count(), 1);
    // `next` is honoured, but only for paths on this site.
    let mut b = Agent::new(&app.base);
    let page = b.get("/login?next=%2Forders%3Fstatus%3Don_hold").await;
    let csrf = page.csrf();
    let r = b
        .post(
            "/login",
            &[
                ("username", "manager"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "/orders?status=on_hold"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/orders?status=on_hold");
    let mut c = Agent::new(&app.base);
    let page = c.get("/login").await;
    let csrf = page.csrf();
    let r = c
        .post(
            "/login",
            &[
                ("username", "warehouse"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/picking", "warehouse lands on its pick jobs");
    assert_eq!(c.get("/").await.location(), "/picking");

    // Behind a TLS proxy the cookie is Secure.
    let mut d = Agent::new(&app.base);
    d.extra_headers
        .push(("x-forwarded-proto".into(), "https".into()));
    let r = d.login("support", PASSWORD).await;
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("ordo_session="))
        .unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Signing out ends the session on the server too.
    let csrf = a.get("/orders").await.csrf();
    let r = a.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.location(), "/login");
    a.cookies.insert("ordo_session".into(), token);
    assert_eq!(a.get("/orders").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_the_account() {
    let app = start("lockout").await;
    let mut a = Agent::new(&app.base);
    for i in 1..=5 {
        let r = a.login("support", "wrong password").await;
        assert_eq!(r.status, 401, "attempt {i}");
        assert!(r.body.contains("Wrong username or password"), "attempt {i}");
        if i == 5 {
            assert!(r.body.contains("locked for 15 minutes"), "{}", r.body);
        } else {
            assert!(!r.body.contains("locked"), "attempt {i}");
        }
    }
    let user = app.store.find_user("support").await.unwrap().unwrap();
    assert_eq!(user.failed_attempts, 5);
    assert!(user.locked_until.is_some());
    // Even the right password is refused while locked.
    let r = a.login("support", PASSWORD).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("This account is locked"), "{}", r.body);
    assert!(!a.cookies.contains_key("ordo_session"));
    // Unknown users get the same answer as a wrong password.
    let r = a.login("nobody", "whatever").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Wrong username or password"));
    // The sign-in form itself is CSRF-protected.
    let mut b = Agent::new(&app.base);
    let r = b
        .post(
            "/login",
            &[
                ("username", "admin"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!b.cookies.contains_key("ordo_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_need_the_session_csrf_token() {
    let app = start("csrf").await;
    let mut a = Agent::new(&app.base);
    a.login("admin", PASSWORD).await;
    let page = a.get("/orders/SO-000001").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let stock_before = app
        .store
        .list_balances(
            &ordo_store::BalanceFilter {
                sku: Some("MUG-1".into()),
                location: Some("WH1".into()),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items[0]
        .balance;

    for bad in [None, Some("wrong"), Some("")] {
        let mut form = vec![("hold_reason", "manual")];
        if let Some(b) = bad {
            form.push(("csrf", b));
        }
        let r = a.post("/orders/SO-000001/hold", &form).await;
        assert_eq!(r.status, 403, "{bad:?}");
        assert!(r.body.contains("<h1>Form expired</h1>"));
        let mut form = vec![
            ("sku", "MUG-1"),
            ("location", "WH1"),
            ("delta", "5"),
            ("reason", "received"),
        ];
        if let Some(b) = bad {
            form.push(("csrf", b));
        }
        assert_eq!(a.post("/inventory/adjust", &form).await.status, 403);
        let mut form = vec![("action", "cancel"), ("order", "SO-000002")];
        if let Some(b) = bad {
            form.push(("csrf", b));
        }
        assert_eq!(a.post("/orders/bulk", &form).await.status, 403);
        assert_eq!(a.post("/logout", &[]).await.status, 403);
    }
    let o1 = app.store.get_order("SO-000001").await.unwrap().unwrap();
    assert_eq!(o1.status, OrderStatus::Allocated);
    let o2 = app.store.get_order("SO-000002").await.unwrap().unwrap();
    assert_ne!(o2.status, OrderStatus::Cancelled);
    let stock_after = app
        .store
        .list_balances(
            &ordo_store::BalanceFilter {
                sku: Some("MUG-1".into()),
                location: Some("WH1".into()),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items[0]
        .balance;
    assert_eq!(stock_before, stock_after);

    // Another session's token is as bad as none.
    let mut other = Agent::new(&app.base);
    other.login("manager", PASSWORD).await;
    let r = other
        .post(
            "/orders/SO-000001/hold",
            &[("csrf", csrf.as_str()), ("hold_reason", "manual")],
        )
        .await;
    assert_eq!(r.status, 403);

    // With the right token the same request works.
    let r = a
        .post(
            "/orders/SO-000001/hold",
            &[("csrf", csrf.as_str()), ("hold_reason", "fraud_review")],
        )
        .await;
    assert_eq!(r.status, 303);
    let o1 = app.store.get_order("SO-000001").await.unwrap().unwrap();
    assert_eq!(o1.status, OrderStatus::OnHold);
    let page = a.get(r.location()).await;
    assert!(
        page.body.contains("SO-000001 is now on hold."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Fraud review"));
    // The message shows once.
    let again = a.get("/orders/SO-000001").await;
    assert!(!again.body.contains("is now on hold."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_on_the_server() {
    let app = start("roles").await;
    let mut ro = Agent::new(&app.base);
    ro.login("readonly", PASSWORD).await;
    let page = ro.get("/orders").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("name=\"action\""),
        "no bulk actions for readonly"
    );
    let csrf = page.csrf();
    let r = ro
        .post("/orders/SO-000001/cancel", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status, 403);
    let r = ro
        .post(
            "/inventory/adjust",
            &[
                ("csrf", csrf.as_str()),
                ("sku", "MUG-1"),
                ("location", "WH1"),
                ("delta", "1"),
                ("reason", "received"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let o = app.store.get_order("SO-000001").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Allocated);

    let mut wh = Agent::new(&app.base);
    wh.login("warehouse", PASSWORD).await;
    let csrf = wh.get("/inventory").await.csrf();
    let r = wh
        .post(
            "/orders/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "cancel"),
                ("order", "SO-000001"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = wh
        .post(
            "/inventory/adjust",
            &[
                ("csrf", csrf.as_str()),
                ("sku", "MUG-1"),
                ("location", "WH1"),
                ("delta", "2"),
                ("reason", "received"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = wh.get(r.location()).await;
    assert!(
        page.body.contains("MUG-1 at WH1: on hand +2"),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_report_each_order_and_csv_exports_the_filter() {
    let app = start("bulk").await;
    let mut a = Agent::new(&app.base);
    a.login("support", PASSWORD).await;
    let csrf = a.get("/orders").await.csrf();
    let r = a
        .post(
            "/orders/SO-000004/cancel",
            &[("csrf", csrf.as_str()), ("note", "customer called")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = a
        .post(
            "/orders/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("back", "status=allocated"),
                ("action", "hold"),
                ("hold_reason", "payment_pending"),
                ("order", "SO-000001"),
                ("order", "SO-000002"),
                ("order", "SO-000005"),
                ("order", "SO-000004"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/orders?status=allocated");
    let page = a.get(r.location()).await;
    assert!(
        page.body
            .contains("3 held, 1 refused: SO-000004 is cancelled"),
        "{}",
        page.body
    );
    let held = app
        .store
        .list_orders(
            &ordo_store::OrderFilter {
                status: Some(OrderStatus::OnHold),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(held.items.len(), 3);

    let csv = a.get("/orders/export.csv?status=on_hold").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "number,placed_at,channel,external_id,status,email,currency,total,units"
    );
    assert_eq!(lines.len(), 4, "{}", csv.body);
    assert!(lines[1].starts_with("SO-000005,"));
    let all = a.get("/orders/export.csv").await;
    assert_eq!(all.body.lines().count(), 6);

    // Filters are checked like the API checks them.
    let bad = a.get("/orders?placed_after=yesterday").await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("Placed on or after: enter a date"));
    let day = a
        .get(&format!(
            "/orders?placed_after={}",
            time::OffsetDateTime::now_utc().date()
        ))
        .await;
    assert_eq!(day.body.matches("href=\"/orders/SO-").count(), 5);
}

/// The order numbers in list order, as the page links them.
fn listed(body: &str) -> Vec<String> {
    body.split("<th scope=\"row\"><a href=\"/orders/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_list_filters_by_location_and_tags_and_sorts_by_column() {
    let app = start("order-sorts").await;
    let mut api = Agent::new(&app.base);
    // A tagged order the city store ships: WH1 is excluded by a rule for this tag.
    let rules = serde_json::json!([{"name": "store-gifts", "conditions": {"tags": ["gift"]}, "actions": {"exclude_locations": ["WH1"]}}]);
    app.store
        .put_routing_rules(
            rules,
            Some(0),
            &ordo_store::WriteContext {
                actor: "test".into(),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
    let mut gift = common::order_json("2001", &[("MUG-1", 4)]);
    gift["tags"] = serde_json::json!(["gift", "rush"]);
    let r = api.post_json("/api/v1/orders", &gift, &app.api_key).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let mut a = Agent::new(&app.base);
    a.login("manager", PASSWORD).await;
    let page = a.get("/orders").await;
    for label in ["Ships from", "Tags (all of, comma-separated)", "Sort"] {
        assert!(page.body.contains(&format!(">{label}</label>")), "{label}");
    }
    assert_eq!(
        listed(&page.body),
        [
            "SO-000006",
            "SO-000005",
            "SO-000004",
            "SO-000003",
            "SO-000002",
            "SO-000001"
        ]
    );
    assert_eq!(
        listed(&a.get("/orders?location=ST1").await.body),
        ["SO-000006"]
    );
    assert_eq!(
        listed(&a.get("/orders?tags=rush,+gift").await.body),
        ["SO-000006"]
    );
    assert!(listed(&a.get("/orders?tags=gift&location=WH1").await.body).is_empty());

    // Column headings sort, largest total first, then turn the order around.
    let page = a.get("/orders?tags=&sort=total_desc").await;
    // Totals: 4 mugs, 3 mugs, then two of 2 units and two of 1 unit (ties by number).
    assert_eq!(
        listed(&page.body),
        [
            "SO-000006",
            "SO-000004",
            "SO-000002",
            "SO-000001",
            "SO-000005",
            "SO-000003"
        ]
    );
    assert!(
        page.body.contains(
            "aria-sort=\"descending\"><a href=\"/orders?sort=total_asc\" id=\"sort-total\">Total ↓</a>"
        ),
        "{}",
        page.body
    );
    let page = a.get("/orders?sort=total_asc").await;
    assert_eq!(
        listed(&page.body),
        [
            "SO-000003",
            "SO-000005",
            "SO-000001",
            "SO-000002",
            "SO-000004",
            "SO-000006"
        ]
    );
    let page = a.get("/orders?sort=placed_asc&location=WH1").await;
    assert_eq!(
        listed(&page.body),
        ["SO-000001", "SO-000002", "SO-000004", "SO-000005"],
        "the backordered lamp ships from nowhere yet"
    );
    assert!(
        page.body.contains(
            "href=\"/orders?location=WH1&#38;sort=placed_desc\" id=\"sort-placed\">Placed ↑"
        ),
        "{}",
        page.body
    );
    let bad = a.get("/orders?sort=cheapest").await;
    assert!(bad.body.contains("Sort: choose one of the listed orders."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_orders_go_onto_a_new_pick_list() {
    let app = start("bulk-pick").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/orders?location=WH1").await;
    assert!(page.body.contains("id=\"bulk-pick\""), "{}", page.body);
    assert!(
        !page.body.contains("value=\"hold\""),
        "warehouse does not hold orders"
    );
    assert!(
        page.body.contains("<option value=\"WH1\" selected>"),
        "the filtered location is where to pick"
    );
    let csrf = page.csrf();

    // The lamp is backordered: nothing of SO-000003 can be picked, so nothing is created.
    let r = w
        .post(
            "/orders/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("back", "location=WH1"),
                ("action", "pick"),
                ("pick_location", "WH1"),
                ("order", "SO-000001"),
                ("order", "SO-000003"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/orders?location=WH1");
    let page = w.get(r.location()).await;
    assert!(
        page.body.contains(
            "No pick list created. SO-000003 has nothing to pick at this location: no open fulfillment order here"
        ),
        "{}",
        page.body
    );
    assert!(app.store.get_pick_job("PL-000001").await.unwrap().is_none());

    let r = w
        .post(
            "/orders/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("back", "location=WH1"),
                ("action", "pick"),
                ("pick_location", "WH1"),
                ("order", "SO-000004"),
                ("order", "SO-000001"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/picking/PL-000001");
    let job = app.store.get_pick_job("PL-000001").await.unwrap().unwrap();
    let mut released: Vec<&str> = job
        .progress
        .orders
        .iter()
        .map(|o| o.fulfillment_order_id.as_str())
        .collect();
    released.sort();
    assert_eq!(
        released,
        ["SO-000001-1", "SO-000004-1"],
        "only the chosen orders"
    );
    let page = w.get(r.location()).await;
    assert!(
        page.body
            .contains("Pick list PL-000001 created at WH1 for 2 fulfillment orders."),
        "{}",
        page.body
    );

    // Already on a list: refused by name.
    let r = w
        .post(
            "/orders/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "pick"),
                ("pick_location", "WH1"),
                ("order", "SO-000001"),
            ],
        )
        .await;
    let page = w.get(r.location()).await;
    assert!(
        page.body.contains("SO-000001 has nothing to pick"),
        "{}",
        page.body
    );

    // Support manages orders but not stock: no pick button, and the post is refused.
    let mut s = Agent::new(&app.base);
    s.login("support", PASSWORD).await;
    let page = s.get("/orders").await;
    assert!(!page.body.contains("id=\"bulk-pick\""));
    let r = s
        .post(
            "/orders/bulk",
            &[
                ("csrf", page.csrf().as_str()),
                ("action", "pick"),
                ("pick_location", "WH1"),
                ("order", "SO-000002"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
}

/// A CSV download's rows (after the header), split into cells; asserts the header.
fn csv_rows(r: &common::Reply, header: &str) -> Vec<Vec<String>> {
    assert_eq!(r.status, 200, "{}", r.body);
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );
    let mut lines = r.body.lines();
    assert_eq!(lines.next(), Some(header));
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_stock_and_bins_export_as_csv() {
    let app = start("exports").await;
    app.store
        .put_sku_bins(
            "WH1",
            vec![
                ordo_store::SkuBin {
                    sku: "TEA-1".into(),
                    bin: "A-01-02-A".into(),
                },
                ordo_store::SkuBin {
                    sku: "MUG-1".into(),
                    bin: "A-01-01-A".into(),
                },
            ],
            &ordo_store::WriteContext {
                actor: "test".into(),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
    // Readers get the downloads, as they get the pages; each page links its own.
    let mut a = Agent::new(&app.base);
    a.login("readonly", PASSWORD).await;
    assert!(
        a.get("/products")
            .await
            .body
            .contains("href=\"/products/export.csv\"")
    );
    assert!(
        a.get("/inventory?sku=MUG-1")
            .await
            .body
            .contains("href=\"/inventory/export.csv?sku=MUG-1\"")
    );
    assert!(
        a.get("/locations/WH1")
            .await
            .body
            .contains("href=\"/locations/WH1/bins.csv\"")
    );

    let products = csv_rows(
        &a.get("/products/export.csv").await,
        "sku,name,price,barcode,weight_g,category,handling_classes",
    );
    let stored = app
        .store
        .list_products(&ordo_store::PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(products.len(), stored.len());
    for (row, p) in products.iter().zip(&stored) {
        assert_eq!(
            row,
            &[
                p.sku.clone(),
                p.name.clone(),
                p.price.clone(),
                String::new(),
                p.weight_g.to_string(),
                p.category.clone().unwrap_or_default(),
                String::new()
            ]
        );
    }

    let stock = csv_rows(
        &a.get("/inventory/export.csv").await,
        "sku,location,on_hand,allocated,available,damaged,quality_control,safety_stock,incoming",
    );
    let balances = app
        .store
        .list_balances(&Default::default(), &Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(stock.len(), balances.len());
    for b in &balances {
        let row = stock
            .iter()
            .find(|r| r[0] == b.sku && r[1] == b.location)
            .unwrap_or_else(|| panic!("{} at {} missing", b.sku, b.location));
        let v = &b.balance;
        let figures: Vec<i64> = row[2..].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(
            figures,
            [
                v.on_hand,
                v.allocated,
                b.available,
                v.damaged,
                v.quality_control,
                v.safety_stock,
                v.incoming
            ]
        );
    }
    let mugs = csv_rows(
        &a.get("/inventory/export.csv?sku=MUG-1&location=ST1").await,
        "sku,location,on_hand,allocated,available,damaged,quality_control,safety_stock,incoming",
    );
    assert_eq!(mugs.len(), 1);
    assert_eq!(mugs[0][..2], ["MUG-1", "ST1"]);

    let bins = csv_rows(&a.get("/locations/WH1/bins.csv").await, "sku,bin");
    assert_eq!(bins, [["MUG-1", "A-01-01-A"], ["TEA-1", "A-01-02-A"]]);
    assert_eq!(a.get("/locations/NOPE/bins.csv").await.status, 404);

    // The products file goes back in through the import unchanged.
    let mut admin = Agent::new(&app.base);
    admin.login("admin", PASSWORD).await;
    let file = admin.get("/products/export.csv").await.body;
    let form = admin.get("/products/import").await;
    let r = admin
        .post_multipart(
            "/products/import",
            &[("csrf", &form.csrf()), ("action", "preview")],
            &[("file", "products.csv", &file)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "<strong>{}</strong> rows ready to import. Nothing has been saved yet.",
            stored.len()
        )),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_and_channels_are_added_and_changed_from_settings() {
    let app = start("settings-records").await;
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/settings").await;
    assert!(page.body.contains("id=\"location-form\""));
    assert!(page.body.contains("id=\"channel-form\""));
    assert!(page.body.contains("<tr data-location=\"WH1\">"));
    let csrf = page.csrf();

    // A new warehouse; the country is typed in lower case.
    let r = m
        .post(
            "/settings/locations",
            &[
                ("csrf", &csrf),
                ("code", "WH2"),
                ("name", "North hub"),
                ("kind", "warehouse"),
                ("line1", "Hafenstraße 9"),
                ("postal_code", "20457"),
                ("city", "Hamburg"),
                ("country", "de"),
                ("priority", "3"),
                ("ships_to", "de, at"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        m.get(r.location())
            .await
            .body
            .contains("Location WH2 added.")
    );
    let wh2 = app.store.get_location("WH2").await.unwrap().unwrap();
    assert_eq!(wh2.name, "North hub");
    assert_eq!(wh2.address.country.as_deref(), Some("DE"));
    assert_eq!(wh2.ships_to, ["DE", "AT"]);
    assert_eq!(wh2.priority, 3);
    assert!(wh2.active);

    // Refused field by field, the input kept; nothing written.
    let r = m
        .post(
            "/settings/locations",
            &[
                ("csrf", &csrf),
                ("code", "WH2"),
                ("name", "North hub, renamed"),
                ("kind", "warehouse"),
                ("country", "Germany"),
                ("priority", "first"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("id=\"location-country-err\">must be an ISO 3166-1 alpha-2 code"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"location-priority-err\">must be a whole number")
    );
    assert!(r.body.contains("value=\"North hub, renamed\""));
    assert_eq!(
        app.store.get_location("WH2").await.unwrap().unwrap().name,
        "North hub"
    );

    // Changing a location keeps what the form does not show (its routing settings).
    let r = m
        .post(
            "/locations/WH1/routing",
            &[
                ("csrf", &csrf),
                ("handling_cost", "2.5"),
                ("utc_offset", "+01:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let edit = m.get("/settings?location=WH1").await;
    assert!(edit.body.contains("Change location WH1"), "{}", edit.body);
    assert!(edit.body.contains("value=\"Main warehouse\""));
    let r = m
        .post(
            "/settings/locations",
            &[
                ("csrf", &csrf),
                ("code", "WH1"),
                ("name", "Main warehouse Berlin"),
                ("kind", "warehouse"),
                ("city", "Berlin"),
                ("country", "DE"),
                ("priority", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let wh1 = app.store.get_location("WH1").await.unwrap().unwrap();
    assert_eq!(wh1.name, "Main warehouse Berlin");
    assert!(!wh1.active, "the box was left unticked");
    assert_eq!(wh1.routing.handling_cost, "2.50");
    assert_eq!(wh1.routing.utc_offset, "+01:00");

    // Channels: a new shop selling one location's stock; an unknown location is refused.
    let r = m
        .post(
            "/settings/channels",
            &[
                ("csrf", &csrf),
                ("code", "shop"),
                ("name", "Shopify store"),
                ("kind", "shopify"),
                ("currency", "eur"),
                ("locations", "WH2, NOPE"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("id=\"channel-locations-err\">unknown location &#39;NOPE&#39;"),
        "{}",
        r.body
    );
    assert!(app.store.get_channel("shop").await.unwrap().is_none());
    let r = m
        .post(
            "/settings/channels",
            &[
                ("csrf", &csrf),
                ("code", "shop"),
                ("name", "Shopify store"),
                ("kind", "shopify"),
                ("currency", "eur"),
                ("locations", "WH2"),
                ("buffer", "2"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shop = app.store.get_channel("shop").await.unwrap().unwrap();
    assert_eq!(shop.currency, "EUR");
    assert_eq!(shop.locations, ["WH2"]);
    assert_eq!(shop.buffer, 2);
    let r = m
        .post(
            "/settings/channels",
            &[
                ("csrf", &csrf),
                ("code", "shop"),
                ("name", "Shop"),
                ("kind", "fax"),
                ("currency", "EUR"),
                ("buffer", "-"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"channel-kind-err\">must be one of"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"channel-buffer-err\">must be a whole number")
    );

    // Changing the web channel keeps its split policy.
    let r = m
        .post(
            "/channels/web/split-policy",
            &[("csrf", &csrf), ("split_policy", "never")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let edit = m.get("/settings?channel=web").await;
    assert!(edit.body.contains("Change channel web"));
    let r = m
        .post(
            "/settings/channels",
            &[
                ("csrf", &csrf),
                ("code", "web"),
                ("name", "Web shop DE"),
                ("kind", "web"),
                ("currency", "EUR"),
                ("buffer", "1"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let web = app.store.get_channel("web").await.unwrap().unwrap();
    assert_eq!(web.name, "Web shop DE");
    assert_eq!(web.buffer, 1);
    assert_eq!(web.split_policy, ordo_domain::catalog::SplitPolicy::Never);

    // Readers and support may not.
    for role in ["readonly", "support"] {
        let mut a = Agent::new(&app.base);
        a.login(role, PASSWORD).await;
        let csrf = a.get("/orders").await.csrf();
        let r = a
            .post(
                "/settings/locations",
                &[
                    ("csrf", &csrf),
                    ("code", "WH9"),
                    ("name", "x"),
                    ("kind", "store"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{role}");
    }
    assert!(app.store.get_location("WH9").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_signed_out_and_cannot_sign_in_until_enabled() {
    let app = start("disable-user").await;
    let mut support = Agent::new(&app.base);
    assert_eq!(support.login("support", PASSWORD).await.status, 303);
    assert_eq!(support.get("/orders").await.status, 200);

    let mut admin = Agent::new(&app.base);
    admin.login("admin", PASSWORD).await;
    let page = admin.get("/settings").await;
    assert!(page.body.contains("aria-label=\"Disable support\""));
    assert!(
        !page.body.contains("aria-label=\"Disable admin\""),
        "no button to disable yourself"
    );
    let csrf = page.csrf();
    let r = admin
        .post("/settings/users/admin/disable", &[("csrf", &csrf)])
        .await;
    assert!(
        admin
            .get(r.location())
            .await
            .body
            .contains("You cannot disable your own account.")
    );
    // Managers do not manage people.
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let mcsrf = m.get("/orders").await.csrf();
    let r = m
        .post("/settings/users/support/disable", &[("csrf", &mcsrf)])
        .await;
    assert_eq!(r.status, 403);

    let r = admin
        .post("/settings/users/support/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = admin.get(r.location()).await;
    assert!(
        page.body
            .contains("support is disabled: signed out everywhere, and cannot sign in."),
        "{}",
        page.body
    );
    let row = page.body.split("data-user=\"support\"").nth(1).unwrap();
    assert!(
        row[..row.find("</tr>").unwrap()].contains(">Disabled<"),
        "{row}"
    );

    // The open session is gone; the right password is refused with the reason, a wrong
    // one the usual way (the reason is told only to whoever knows the password).
    let r = support.get("/orders").await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/login"));
    let r = support.login("support", PASSWORD).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("This account is disabled."), "{}", r.body);
    let r = support.login("support", "not the password").await;
    assert!(r.body.contains("Wrong username or password."));
    assert!(!r.body.contains("disabled"));
    assert!(
        app.store
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "support" && u.disabled)
    );

    let r = admin
        .post("/settings/users/support/enable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(support.login("support", PASSWORD).await.status, 303);
    assert_eq!(support.get("/orders").await.status, 200);
    let r = admin
        .post("/settings/users/nobody/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_forms_keep_input_and_refuse_stale_counts() {
    let app = start("stock").await;
    let mut a = Agent::new(&app.base);
    a.login("manager", PASSWORD).await;
    let grid = a.get("/inventory?sku=MUG-1").await;
    assert_eq!(grid.status, 200);
    let csrf = grid.csrf();
    // MUG-1 at WH1 has 40 on hand; someone receives 7 more after the page was loaded.
    a.post(
        "/inventory/adjust",
        &[
            ("csrf", csrf.as_str()),
            ("back", "sku=MUG-1"),
            ("sku", "MUG-1"),
            ("location", "WH1"),
            ("state", "on_hand"),
            ("delta", "7"),
            ("reason", "received"),
        ],
    )
    .await;
    let r = a
        .post(
            "/inventory/count",
            &[
                ("csrf", csrf.as_str()),
                ("back", "sku=MUG-1"),
                ("sku", "MUG-1"),
                ("location", "WH1"),
                ("on_hand", "39"),
                ("expected_on_hand", "40"),
                ("reason", "cycle_count"),
                ("reference", "shelf A3"),
            ],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("on hand is now 47, not 40"), "{}", r.body);
    assert!(r.body.contains("value=\"shelf A3\""), "input kept");
    assert!(r.body.contains("name=\"expected_on_hand\" value=\"47\""));
    assert!(
        r.body
            .contains("<dialog id=\"dlg-count\" aria-labelledby=\"dlg-count-h\" open>")
    );

    // Invalid input: every field named, values kept.
    let r = a
        .post(
            "/inventory/move",
            &[
                ("csrf", csrf.as_str()),
                ("sku", "MUG-1"),
                ("location", "WH1"),
                ("from", "available"),
                ("to", "available"),
                ("quantity", "two"),
                ("reason", "transfer"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("must be a whole number"), "{}", r.body);
    assert!(r.body.contains("must differ from"), "{}", r.body);
    assert!(r.body.contains("value=\"two\""));
    // Nothing was written by the refused requests.
    let b = &app
        .store
        .list_balances(
            &ordo_store::BalanceFilter {
                sku: Some("MUG-1".into()),
                location: Some("WH1".into()),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items[0];
    assert_eq!(b.balance.on_hand, 47);
    assert_eq!(b.balance.quality_control, 0);

    let movements = a.get("/inventory/movements?sku=MUG-1").await;
    assert_eq!(movements.status, 200);
    assert!(movements.body.contains("user:manager"));

    // The ledger also filters by reason and by a range of days (the last one included).
    let ledger_rows = |body: &str| body.matches("<th scope=\"row\">").count();
    let all = ledger_rows(&movements.body);
    let received = a
        .get("/inventory/movements?sku=MUG-1&reason=received")
        .await;
    assert_eq!(received.status, 200);
    let stored = app
        .store
        .list_movements(
            &ordo_store::MovementFilter {
                sku: Some("MUG-1".into()),
                reason: Some("received".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items;
    assert!(
        !stored.is_empty() && stored.len() < all,
        "{}",
        received.body
    );
    assert_eq!(ledger_rows(&received.body), stored.len());
    assert!(
        received
            .body
            .contains("<option value=\"received\" selected>")
    );
    let today = time::OffsetDateTime::now_utc().date();
    let today_only = a
        .get(&format!(
            "/inventory/movements?sku=MUG-1&from={today}&to={today}"
        ))
        .await;
    assert_eq!(ledger_rows(&today_only.body), all, "{}", today_only.body);
    let long_ago = a
        .get("/inventory/movements?sku=MUG-1&from=2000-01-01&to=2000-01-31")
        .await;
    assert_eq!(ledger_rows(&long_ago.body), 0);
    let bad = a
        .get("/inventory/movements?sku=MUG-1&from=yesterday&reason=lost")
        .await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("From: enter a date"), "{}", bad.body);
    assert!(
        bad.body
            .contains("Reason: choose one of the listed reasons.")
    );
    assert_eq!(ledger_rows(&bad.body), 0);

    // Under the grid, what each channel can sell of the page's SKUs, as the store computes
    // it for the channel's stock feed: for one SKU, for every SKU, for one location's SKUs.
    let channels = app.store.list_channels().await.unwrap();
    assert!(!channels.is_empty());
    for path in [
        "/inventory?sku=MUG-1",
        "/inventory",
        "/inventory?location=WH1",
    ] {
        let grid = a.get(path).await;
        let table = grid
            .body
            .split("<table id=\"channel-availability\">")
            .nth(1)
            .expect("the channel availability table")
            .split("</table>")
            .next()
            .unwrap();
        for c in &channels {
            assert!(table.contains(&format!(">{}</a></th>", c.code)), "{table}");
        }
        let rows: Vec<&str> = table.split("<tr data-sku=\"").skip(1).collect();
        let grid_skus: std::collections::BTreeSet<&str> = grid
            .body
            .split("<tr data-sku=\"")
            .skip(1)
            .filter(|r| r.contains("data-location"))
            .map(|r| &r[..r.find('"').unwrap()])
            .collect();
        assert_eq!(
            rows.len(),
            grid_skus.len(),
            "{path}: one row per SKU of the grid"
        );
        let mut in_stock = false;
        for row in rows {
            let sku = &row[..row.find('"').unwrap()];
            let shown: Vec<i64> = row
                .split("</tr>")
                .next()
                .unwrap()
                .split("<td class=\"num")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
                    text.trim().parse().unwrap()
                })
                .collect();
            let mut expected = Vec::new();
            for c in &channels {
                let a = app
                    .store
                    .channel_availability(&c.code, Some(sku), &Default::default())
                    .await
                    .unwrap();
                expected.push(a.items[0].available_to_sell);
            }
            in_stock |= expected.iter().any(|n| *n > 0);
            assert_eq!(shown, expected, "{path}: {sku}");
        }
        assert!(in_stock, "{path}: something is in stock");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_for_every_role() {
    let app = start("pages").await;
    for role in common::ROLES {
        let mut a = Agent::new(&app.base);
        a.login(role.as_str(), PASSWORD).await;
        for page in [
            "/orders",
            "/orders/SO-000003",
            "/inventory",
            "/inventory/movements",
            "/products",
            "/locations",
            "/channels",
            "/channels?channel=web&sku=MUG-1",
            "/channels?channel=web",
            "/channels?channel=nope",
            "/orders?status=backordered&channel=web&sku=LAMP-1",
            "/orders/SO-000002",
            "/fulfillment",
            "/fulfillment?location=WH1&status=open",
            "/fulfillment?status=nonsense",
            "/shipments",
            "/shipments?location=WH1&status=label_created&order=SO-000001",
            "/shipments?status=nonsense&order=nope",
            "/orders?status=partially_shipped",
            "/routing",
            "/routing?order=SO-000001",
            "/routing?order=SO-999999",
            "/locations/WH1",
            "/channels/web",
            "/picking",
            "/picking?location=ST1",
            "/packing",
            "/packing/SO-000001-1",
            "/manifests",
            "/manifests?location=WH1",
        ] {
            let r = a.get(page).await;
            assert_eq!(r.status, 200, "{role:?} {page}: {}", r.body);
            assert_eq!(r.body.matches("<h1").count(), 1, "{page}");
            assert!(r.body.contains("<title>"), "{page}");
        }
        // Pages some roles may not open: the refusal is a page of its own, just as
        // well-formed; admins open every one.
        for page in [
            "/returns",
            "/returns?status=requested",
            "/settings",
            "/products/import",
            "/inventory/import",
        ] {
            let r = a.get(page).await;
            if role == ordo_store::Role::Admin {
                assert_eq!(r.status, 200, "{role:?} {page}: {}", r.body);
            } else {
                assert!(
                    r.status == 200 || r.status == 403,
                    "{role:?} {page}: {}",
                    r.status
                );
            }
            assert_eq!(r.body.matches("<h1").count(), 1, "{role:?} {page}");
            assert!(r.body.contains("<title>"), "{page}");
        }
        let home = a.get("/").await;
        if role == ordo_store::Role::Warehouse {
            assert_eq!(home.status, 303);
        } else {
            assert_eq!(home.status, 200, "{}", home.body);
            assert!(home.body.contains("<svg"));
            assert!(home.body.contains("EUR"));
        }
    }
    let mut a = Agent::new(&app.base);
    a.login("admin", PASSWORD).await;
    let missing = a.get("/orders/SO-999999").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Order SO-999999 was not found."));
    let atp = a.get("/channels?channel=web&sku=MUG-1").await;
    assert!(atp.body.contains("WH1: "), "{}", atp.body);
    let unknown = a.get("/channels?channel=nope").await;
    assert!(unknown.body.contains("not found"), "{}", unknown.body);
}

async fn fos(app: &common::App, number: &str) -> Vec<ordo_domain::fulfillment::FulfillmentOrder> {
    app.store
        .get_order(number)
        .await
        .unwrap()
        .unwrap()
        .fulfillment_orders
}

/// (id, location, status, units) of every fulfillment order of `number`.
async fn fo_summary(app: &common::App, number: &str) -> Vec<(String, String, &'static str, i64)> {
    fos(app, number)
        .await
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.location.clone(),
                f.status.as_str(),
                f.units(),
            )
        })
        .collect()
}

fn fo(
    id: &str,
    location: &str,
    status: &'static str,
    units: i64,
) -> (String, String, &'static str, i64) {
    (id.into(), location.into(), status, units)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_orders_split_move_and_merge_on_the_order_page() {
    let app = start("fo-edit").await;
    let mut a = Agent::new(&app.base);
    a.login("support", PASSWORD).await;
    let page = a.get("/orders/SO-000004").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"fo-SO-000004-1\""), "{}", page.body);
    assert!(
        page.body
            .contains("/orders/SO-000004/fulfillment/SO-000004-1/split")
    );
    assert!(
        page.body
            .contains("/orders/SO-000004/fulfillment/SO-000004-1/move")
    );
    assert!(
        !page.body.contains("fulfillment/merge"),
        "one FO: nothing to merge"
    );
    let csrf = page.csrf();
    let split = "/orders/SO-000004/fulfillment/SO-000004-1/split";

    // Refused splits keep the form open with the error next to the quantity.
    let r = a.post(split, &[("csrf", &csrf), ("qty_1", "5")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("must be between 1 and 3"), "{}", r.body);
    assert!(r.body.contains("<details class=\"fo-form fo-split\" open>"));
    assert!(r.body.contains("value=\"5\""), "input kept");
    let r = a.post(split, &[("csrf", &csrf), ("qty_1", "3")]).await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("A split must leave some units in the original fulfillment order"),
        "{}",
        r.body
    );
    let r = a.post(split, &[("csrf", &csrf), ("qty_1", "two")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("must be a whole number"));
    let r = a.post(split, &[("csrf", &csrf), ("qty_1", "0")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("Enter a quantity for at least one line."));
    assert_eq!(
        fo_summary(&app, "SO-000004").await,
        [fo("SO-000004-1", "WH1", "open", 3)]
    );

    // A plain form post redirects with the outcome.
    let r = a.post(split, &[("csrf", &csrf), ("qty_1", "1")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/orders/SO-000004#fulfillment");
    let page = a.get("/orders/SO-000004").await;
    assert!(
        page.body
            .contains("SO-000004-1 was split: 1 unit now in SO-000004-2."),
        "{}",
        page.body
    );
    assert_eq!(
        fo_summary(&app, "SO-000004").await,
        [
            fo("SO-000004-1", "WH1", "open", 2),
            fo("SO-000004-2", "WH1", "open", 1)
        ]
    );
    // Two at one location: now they may merge.
    assert!(page.body.contains("/orders/SO-000004/fulfillment/merge"));
    assert!(page.body.contains("Fulfillment order split"), "timeline");

    // With htmx the answer is the page, from which the section is swapped in.
    a.extra_headers.push(("hx-request".into(), "true".into()));
    let r = a
        .post(
            "/orders/SO-000004/fulfillment/SO-000004-2/move",
            &[("csrf", &csrf), ("location", "ST1"), ("qty_1", "1")],
        )
        .await;
    a.extra_headers.pop();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"fulfillment\""));
    assert!(
        r.body.contains(
            "1 unit of SO-000004-2 moved to ST1 as SO-000004-3; the reservation moved too."
        ),
        "{}",
        r.body
    );
    assert_eq!(
        fo_summary(&app, "SO-000004").await,
        [
            fo("SO-000004-1", "WH1", "open", 2),
            fo("SO-000004-2", "WH1", "cancelled", 1),
            fo("SO-000004-3", "ST1", "open", 1),
        ]
    );
    let st1 = app
        .store
        .list_balances(
            &ordo_store::BalanceFilter {
                sku: Some("MUG-1".into()),
                location: Some("ST1".into()),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items[0]
        .balance;
    assert_eq!(st1.allocated, 1, "the reservation moved");

    // Not enough stock at the target: a 409 naming the shortfall, and nothing moves.
    let page = a.get("/orders/SO-000002").await;
    assert!(
        page.body
            .contains("City store (ST1) — available MUG-1: 4, TEA-1: 0"),
        "{}",
        page.body
    );
    a.extra_headers.push(("hx-request".into(), "true".into()));
    let r = a
        .post(
            "/orders/SO-000002/fulfillment/SO-000002-1/move",
            &[
                ("csrf", &csrf),
                ("location", "ST1"),
                ("qty_1", "1"),
                ("qty_2", "1"),
            ],
        )
        .await;
    a.extra_headers.pop();
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("Not possible: Not enough stock at ST1: TEA-1: 1 needed, 0 available."),
        "{}",
        r.body
    );
    assert!(r.body.contains("<details class=\"fo-form fo-move\" open>"));
    assert!(
        r.body.contains("<option value=\"ST1\" selected>"),
        "choice kept"
    );
    // Part of it (the mug only) can go.
    let r = a
        .post(
            "/orders/SO-000002/fulfillment/SO-000002-1/move",
            &[
                ("csrf", &csrf),
                ("location", "ST1"),
                ("qty_1", "1"),
                ("qty_2", "0"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        fo_summary(&app, "SO-000002").await,
        [
            fo("SO-000002-1", "WH1", "open", 1),
            fo("SO-000002-2", "ST1", "open", 1)
        ]
    );
    // A move needs a target.
    let r = a
        .post(
            "/orders/SO-000002/fulfillment/SO-000002-1/move",
            &[("csrf", &csrf), ("location", ""), ("qty_2", "1")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("choose where to ship from"), "{}", r.body);

    // Merge: split again, then put the two back together.
    let r = a
        .post(
            "/orders/SO-000001/fulfillment/SO-000001-1/split",
            &[("csrf", &csrf), ("qty_1", "1")],
        )
        .await;
    assert_eq!(r.status, 303);
    let merge = "/orders/SO-000001/fulfillment/merge";
    let r = a
        .post(
            merge,
            &[("csrf", &csrf), ("location", "WH1"), ("fo", "SO-000001-2")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("Not merged: Select two or more fulfillment orders."),
        "{}",
        r.body
    );
    let r = a
        .post(
            merge,
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("fo", "SO-000001-2"),
                ("fo", "SO-000001-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = a.get(r.location()).await;
    assert!(
        page.body.contains("Merged SO-000001-2 into SO-000001-1."),
        "{}",
        page.body
    );
    let after = fos(&app, "SO-000001").await;
    assert_eq!(after[0].units(), 2);
    assert_eq!(after[1].reason.as_deref(), Some("merged into SO-000001-1"));
    assert!(page.body.contains("Reason: merged into SO-000001-1"));
    // A fulfillment order of another order is not this page's to change.
    let r = a
        .post(
            "/orders/SO-000001/fulfillment/SO-000005-1/split",
            &[("csrf", &csrf), ("qty_1", "1")],
        )
        .await;
    assert_eq!(r.status, 404);

    // Roles: readonly and warehouse see the section without actions and may not post.
    for role in ["readonly", "warehouse"] {
        let mut b = Agent::new(&app.base);
        b.login(role, PASSWORD).await;
        let page = b.get("/orders/SO-000004").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"fo-SO-000004-3\""));
        assert!(
            !page.body.contains("/fulfillment/SO-000004-1/split"),
            "{role}"
        );
        assert!(!page.body.contains("/fulfillment/merge"), "{role}");
        let r = b
            .post(split, &[("csrf", &page.csrf()), ("qty_1", "1")])
            .await;
        assert_eq!(r.status, 403, "{role}");
    }
    // Without the session's token nothing happens.
    let r = a.post(split, &[("csrf", "forged"), ("qty_1", "1")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(fos(&app, "SO-000004").await[0].units(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_requests_are_submitted_accepted_and_rejected() {
    let app = start("fo-3pl").await;
    let ctx = ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    };
    let tpl: ordo_domain::catalog::LocationInput = serde_json::from_value(serde_json::json!({
        "code": "TPL", "name": "Outsourced", "kind": "3pl", "priority": 5,
        "address": {"city": "Leipzig", "country": "DE"}
    }))
    .unwrap();
    app.store
        .put_location(tpl.validate().unwrap(), &ctx)
        .await
        .unwrap();
    let receive = |sku: &str, location: &str, delta: i64| ordo_domain::inventory::AdjustmentInput {
        sku: Some(sku.into()),
        location: Some(location.into()),
        state: None,
        delta: Some(delta),
        reason: Some("received".into()),
        reference: None,
    };
    // The backordered lamp order takes the 3PL's new stock.
    app.store
        .write_stock(receive("LAMP-1", "TPL", 2).validate().unwrap(), &ctx)
        .await
        .unwrap();
    let f = &fos(&app, "SO-000003").await[0];
    assert_eq!(
        (f.location.as_str(), f.request_status.map(|r| r.as_str())),
        ("TPL", Some("unsubmitted"))
    );

    // support manages orders but does not answer for fulfillers.
    let mut sup = Agent::new(&app.base);
    sup.login("readonly", PASSWORD).await;
    let page = sup.get("/orders/SO-000003").await;
    assert!(page.body.contains("Request unsubmitted"), "{}", page.body);
    assert!(!page.body.contains("/submit\""));
    let r = sup
        .post(
            "/orders/SO-000003/fulfillment/SO-000003-1/submit",
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(r.status, 403);

    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/orders/SO-000003").await;
    let csrf = page.csrf();
    assert!(page.body.contains("Submit to TPL"));
    assert!(!page.body.contains("/accept\""), "not submitted yet");
    assert!(
        !page.body.contains("/SO-000003-1/ship\""),
        "an outside fulfiller ships only an accepted request"
    );
    let base = "/orders/SO-000003/fulfillment/SO-000003-1";
    let r = m.post(&format!("{base}/submit"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let page = m.get(r.location()).await;
    assert!(
        page.body.contains("SO-000003-1 was submitted to TPL."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Request submitted"));
    assert!(page.body.contains("/accept\"") && page.body.contains("/reject\""));
    assert!(
        !page.body.contains("/SO-000003-1/ship\""),
        "not accepted yet"
    );
    // Submitting twice is refused with the current state.
    let r = m.post(&format!("{base}/submit"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 409);
    assert!(
        r.body
            .contains("Cannot submit a request that is submitted."),
        "{}",
        r.body
    );

    // A rejection needs a reason; with one, the units are routed again elsewhere.
    let r = m
        .post(
            &format!("{base}/reject"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("say why the request is rejected"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<details class=\"fo-form fo-reject\" open>")
    );
    app.store
        .write_stock(receive("LAMP-1", "ST1", 1).validate().unwrap(), &ctx)
        .await
        .unwrap();
    let r = m
        .post(
            &format!("{base}/reject"),
            &[("csrf", &csrf), ("reason", "no lamps on the shelf")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = m.get(r.location()).await;
    assert!(
        page.body.contains(
            "SO-000003-1 was rejected by TPL. Its units were routed again: SO-000003-2 at ST1 (1 × LAMP-1)."
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("Reason: no lamps on the shelf"));
    assert!(page.body.contains("Request rejected"));
    assert_eq!(
        fo_summary(&app, "SO-000003").await,
        [
            fo("SO-000003-1", "TPL", "cancelled", 1),
            fo("SO-000003-2", "ST1", "open", 1)
        ]
    );

    // A new lamp order goes to the 3PL again; it is submitted and accepted.
    let mut api = Agent::new(&app.base);
    let r = api
        .post_json(
            "/api/v1/orders",
            &common::order_json("2001", &[("LAMP-1", 1)]),
            &app.api_key,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let number = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let id = format!("{number}-1");
    assert_eq!(fos(&app, &number).await[0].location, "TPL");
    m.extra_headers.push(("hx-request".into(), "true".into()));
    let r = m
        .post(
            &format!("/orders/{number}/fulfillment/{id}/submit"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = m
        .post(
            &format!("/orders/{number}/fulfillment/{id}/accept"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!("TPL accepted {id}.")),
        "{}",
        r.body
    );
    assert!(r.body.contains("Request accepted"));
    assert!(
        !r.body.contains("/reject\""),
        "an accepted request cannot be rejected"
    );
    let r = m
        .post(
            &format!("/orders/{number}/fulfillment/{id}/reject"),
            &[("csrf", &csrf), ("reason", "too late")],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(
        r.body.contains("Cannot reject a request that is accepted."),
        "{}",
        r.body
    );
    // Accepted: the 3PL's shipment is recorded with its carrier's own tracking number.
    let r = m
        .post(
            &format!("/orders/{number}/fulfillment/{id}/ship"),
            &[
                ("csrf", &csrf),
                ("carrier", "manual"),
                ("tracking_number", "1Z999AA10123456784"),
                ("service", "standard"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "{id} shipped as SH-000001 (Manual, standard); tracking number 1Z999AA10123456784."
        )),
        "{}",
        r.body
    );
    m.extra_headers.pop();
    let sh = app.store.get_shipment("SH-000001").await.unwrap().unwrap();
    assert_eq!(
        (sh.location.as_str(), sh.carrier.as_str()),
        ("TPL", "manual")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fulfillment_list_filters_and_pages() {
    let app = start("fo-list").await;
    let ctx = ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    };
    let more = ordo_domain::inventory::AdjustmentInput {
        sku: Some("MUG-1".into()),
        location: Some("WH1".into()),
        state: None,
        delta: Some(100),
        reason: Some("received".into()),
        reference: None,
    };
    app.store
        .write_stock(more.validate().unwrap(), &ctx)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    for i in 0..50 {
        let input: ordo_domain::order::OrderInput =
            serde_json::from_value(common::order_json(&format!("L{i}"), &[("MUG-1", 1)])).unwrap();
        app.store
            .capture_order(input.validate(now).unwrap(), &ctx)
            .await
            .unwrap();
    }
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let nav = w.get("/inventory").await;
    assert!(nav.body.contains("href=\"/fulfillment\""), "nav link");
    let first = w.get("/fulfillment").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let rows = |body: &str| -> Vec<String> {
        body.split("<th scope=\"row\"><a href=\"/orders/")
            .skip(1)
            .map(|s| {
                s.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let page1 = rows(&first.body);
    assert_eq!(page1.len(), 50);
    assert_eq!(page1[0], "SO-000001-1");
    let next = common::hidden(&first.body.replace("rel=\"next\"", ""), "x")
        .or_else(|| {
            let i = first.body.find("\" rel=\"next\"")?;
            let start = first.body[..i].rfind("href=\"")? + 6;
            Some(first.body[start..i].replace("&amp;", "&"))
        })
        .expect("a next page");
    let second = w.get(&next).await;
    assert_eq!(second.status, 200);
    let page2 = rows(&second.body);
    assert_eq!(page2.len(), 4, "54 in all");
    assert!(page2.iter().all(|id| !page1.contains(id)), "no overlap");
    assert!(second.body.contains("First page"));

    // Filters: by location and status; a bad status is explained.
    let st1 = w.get("/fulfillment?location=ST1").await;
    assert!(
        st1.body.contains("No fulfillment orders match."),
        "{}",
        st1.body
    );
    let open = w.get("/fulfillment?location=WH1&status=open").await;
    assert_eq!(rows(&open.body).len(), 50);
    assert!(open.body.contains("<option value=\"WH1\" selected>"));
    let cancelled = w.get("/fulfillment?status=cancelled").await;
    assert!(cancelled.body.contains("No fulfillment orders match."));
    let bad = w.get("/fulfillment?status=lost").await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body
            .contains("Status: choose one of the listed statuses.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_rules_are_edited_simulated_and_replayed() {
    let app = start("routing").await;
    let mut ro = Agent::new(&app.base);
    ro.login("readonly", PASSWORD).await;
    let page = ro.get("/routing").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No rules saved yet"));
    assert!(
        !page.body.contains("action=\"/routing/rules\""),
        "readers get no editor"
    );
    let r = ro
        .post(
            "/routing/rules",
            &[
                ("csrf", &page.csrf()),
                ("rules", "[]"),
                ("expected_version", "0"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);

    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/routing").await;
    assert!(page.body.contains("action=\"/routing/rules\""));
    assert_eq!(
        common::hidden(&page.body, "expected_version").as_deref(),
        Some("0")
    );
    let csrf = page.csrf();
    let save = |rules: &'static str, version: &'static str| {
        vec![("rules", rules), ("expected_version", version)]
    };
    let with_csrf = |mut f: Vec<(&'static str, &'static str)>, c: &str| {
        let c: &'static str = Box::leak(c.to_string().into_boxed_str());
        f.push(("csrf", c));
        f
    };

    // Refusals name the field path; the text is kept.
    let bad_type = r#"[{"name": "x", "actions": {"set_priority": "high"}}]"#;
    let r = m
        .post("/routing/rules", &with_csrf(save(bad_type, "0"), &csrf))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("rules[0].actions.set_priority: invalid type"),
        "{}",
        r.body
    );
    let unknown = r#"[{"name": "x", "actions": {"exclude_locations": ["NOPE"]}}, {"name": "x", "stop_processing": true}]"#;
    let r = m
        .post("/routing/rules", &with_csrf(save(unknown, "0"), &csrf))
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("rules[0].actions.exclude_locations[0]: is not a known location"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("rules[1].name: duplicates the name of rule [0]"),
        "{}",
        r.body
    );
    assert!(r.body.contains("NOPE"), "text kept");
    assert_eq!(app.store.routing_rules().await.unwrap().version, 0);

    let rule = r#"[{"name": "never-st1", "conditions": {"countries": ["DE"]}, "actions": {"exclude_locations": ["ST1"]}}]"#;
    let r = m
        .post("/routing/rules", &with_csrf(save(rule, "0"), &csrf))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = m.get(r.location()).await;
    assert!(
        page.body
            .contains("Routing rules saved as version 1 (1 rule)."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Version <strong>1</strong>, saved by user:manager")
    );
    assert!(page.body.contains("<li>Country: DE</li>"));
    assert!(page.body.contains("<li>Never from ST1</li>"));
    assert_eq!(
        common::hidden(&page.body, "expected_version").as_deref(),
        Some("1")
    );

    // Someone else saved in between: 409, the text kept, the new version to compare with.
    let r = m
        .post("/routing/rules", &with_csrf(save("[]", "0"), &csrf))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("Not saved: version 1 was saved by user:manager"),
        "{}",
        r.body
    );
    assert_eq!(
        common::hidden(&r.body, "expected_version").as_deref(),
        Some("1")
    );
    assert_eq!(app.store.routing_rules().await.unwrap().version, 1);
    let page = m.get("/routing").await;
    assert!(page.body.contains("id=\"history-table\""));
    assert!(page.body.contains("never-st1"));

    // The simulator explains every location with the rules in force.
    let sim = m.get("/routing?order=SO-000001").await;
    assert_eq!(sim.status, 200);
    assert!(
        sim.body.contains("id=\"plan-outcome\">Allocated<"),
        "{}",
        sim.body
    );
    assert!(sim.body.contains("<dd id=\"plan-rules\">never-st1</dd>"));
    let st1 = sim.body.split("data-location=\"ST1\"").nth(1).unwrap();
    assert!(st1.contains("Excluded by rule"), "{st1}");
    let wh1 = sim.body.split("data-location=\"WH1\"").nth(1).unwrap();
    assert!(wh1.contains("Chosen"), "{wh1}");
    let missing = m.get("/routing?order=SO-999999").await;
    assert!(
        missing.body.contains("Order SO-999999 not found."),
        "{}",
        missing.body
    );

    // Replay with proposed rules: every order would move to ST1, where stock is short.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let r = m
        .post(
            "/routing/replay",
            &[
                ("csrf", csrf.as_str()),
                ("from", today.as_str()),
                ("to", today.as_str()),
                (
                    "rules",
                    r#"[{"name": "all-st1", "actions": {"restrict_to_locations": ["ST1"]}}]"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("<strong>5</strong> orders replayed with the proposed rules"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"replay-changes\""));
    assert!(
        r.body
            .contains("<td>WH1</td><td>ST1</td><td class=\"wrap\">all-st1</td>"),
        "{}",
        r.body
    );
    for label in ["Shipments", "Split orders", "Distance", "Backordered units"] {
        assert!(
            r.body.contains(&format!("<th scope=\"row\">{label}</th>")),
            "{label}"
        );
    }
    // With the rules in force nothing changes.
    let r = m.post("/routing/replay", &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("with the rules in force; <strong id=\"replay-changed\">0</strong>"),
        "{}",
        r.body
    );
    // Bad input is named.
    let r = m
        .post(
            "/routing/replay",
            &[
                ("csrf", csrf.as_str()),
                ("from", "yesterday"),
                (
                    "rules",
                    r#"[{"name": "x", "actions": {"exclude_locations": ["NOPE"]}}]"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("from: enter a date"), "{}", r.body);
    let r = m
        .post(
            "/routing/replay",
            &[
                ("csrf", csrf.as_str()),
                (
                    "rules",
                    r#"[{"name": "x", "actions": {"exclude_locations": ["NOPE"]}}]"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("rules[0].actions.exclude_locations[0]: is not a known location"),
        "{}",
        r.body
    );

    // An order a rule holds says which rule and why on its page.
    let mut api = Agent::new(&app.base);
    let r = api
        .post_json(
            "/api/v1/routing/rules",
            &serde_json::json!({"name": "hold-lamps", "conditions": {"skus": ["LAMP-1"]},
                                "actions": {"hold": "call the buyer first"}}),
            &app.api_key,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post_json(
            "/api/v1/orders",
            &common::order_json("held-1", &[("LAMP-1", 1)]),
            &app.api_key,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let number = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let page = m.get(&format!("/orders/{number}")).await;
    assert!(
        page.body
            .contains("On hold: Routing rule (hold-lamps): call the buyer first."),
        "{}",
        page.body
    );
}

/// The names of the rules in force, top to bottom.
async fn rule_names(app: &common::App) -> Vec<String> {
    let set = app.store.routing_rules().await.unwrap();
    set.rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_rules_are_reordered_as_a_new_version() {
    let app = start("routing-order").await;
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/routing").await;
    let csrf = page.csrf();
    let rules = r#"[{"name": "a", "actions": {"add_tags": ["a"]}}, {"name": "b", "actions": {"add_tags": ["b"]}}, {"name": "c", "actions": {"add_tags": ["c"]}}]"#;
    let r = m
        .post(
            "/routing/rules",
            &[("csrf", &csrf), ("rules", rules), ("expected_version", "0")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = m.get("/routing").await;
    assert!(page.body.contains("action=\"/routing/rules/order\""));
    assert!(page.body.contains("draggable=\"true\""));
    assert!(page.body.contains("aria-label=\"Move b up\""));

    // Without a script, a move button posts the rows as shown plus the move.
    let r = m
        .post(
            "/routing/rules/order",
            &[
                ("csrf", &csrf),
                ("expected_version", "1"),
                ("rule", "a"),
                ("rule", "b"),
                ("rule", "c"),
                ("move", "up:c"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = m.get(r.location()).await;
    assert!(
        page.body
            .contains("Rule order saved as version 2: a, c, b."),
        "{}",
        page.body
    );
    assert_eq!(rule_names(&app).await, ["a", "c", "b"]);

    // A dragged order arrives as the rows' new sequence.
    let r = m
        .post(
            "/routing/rules/order",
            &[
                ("csrf", &csrf),
                ("expected_version", "2"),
                ("rule", "b"),
                ("rule", "a"),
                ("rule", "c"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(rule_names(&app).await, ["b", "a", "c"]);
    let set = app.store.routing_rules().await.unwrap();
    assert_eq!(set.version, 3);
    assert_eq!(
        set.rules[1]["actions"]["add_tags"][0], "a",
        "rules move whole"
    );

    // From a page showing version 2: refused with who saved since; nothing written.
    let r = m
        .post(
            "/routing/rules/order",
            &[
                ("csrf", &csrf),
                ("expected_version", "2"),
                ("rule", "c"),
                ("rule", "b"),
                ("rule", "a"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("id=\"order-message\">Not saved: version 3 was saved by user:manager"),
        "{}",
        r.body
    );
    assert_eq!(rule_names(&app).await, ["b", "a", "c"]);

    // A list that drops or invents a rule is refused.
    for names in [vec!["b", "a"], vec!["b", "a", "x"], vec!["b", "a", "a"]] {
        let mut form = vec![("csrf", csrf.as_str()), ("expected_version", "3")];
        form.extend(names.iter().map(|n| ("rule", *n)));
        let r = m.post("/routing/rules/order", &form).await;
        assert_eq!(r.status, 422, "{names:?}: {}", r.body);
        assert!(r.body.contains("Order not saved: rule: "), "{}", r.body);
    }
    // The same order again writes no version.
    let r = m
        .post(
            "/routing/rules/order",
            &[
                ("csrf", &csrf),
                ("expected_version", "3"),
                ("rule", "b"),
                ("rule", "a"),
                ("rule", "c"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(app.store.routing_rules().await.unwrap().version, 3);

    // Readers see the rules without the reorder form, and may not post it.
    let mut ro = Agent::new(&app.base);
    ro.login("readonly", PASSWORD).await;
    let page = ro.get("/routing").await;
    assert!(!page.body.contains("/routing/rules/order"));
    let r = ro
        .post(
            "/routing/rules/order",
            &[
                ("csrf", &page.csrf()),
                ("expected_version", "3"),
                ("rule", "c"),
                ("rule", "b"),
                ("rule", "a"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(rule_names(&app).await, ["b", "a", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_order_is_simulated_with_errors_naming_the_field() {
    let app = start("routing-paste").await;
    // Readers may run the dry run too.
    let mut a = Agent::new(&app.base);
    a.login("readonly", PASSWORD).await;
    let page = a.get("/routing").await;
    assert!(page.body.contains("<label for=\"sim-json\">"));
    let csrf = page.csrf();
    let before = app
        .store
        .list_orders(&Default::default(), &Default::default())
        .await
        .unwrap()
        .items
        .len();

    let mut order = common::order_json("paste-1", &[("MUG-1", 2), ("TEA-1", 1)]);
    let r = a
        .post(
            "/routing/simulate",
            &[("csrf", &csrf), ("order_json", &order.to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("Plan for the pasted order paste-1 <span"),
        "{}",
        r.body
    );
    // Only WH1 holds the teapot: one shipment from there, the store told why not.
    let wh1 = r.body.split("data-location=\"WH1\"").nth(1).unwrap();
    assert!(wh1.contains("Chosen"), "{wh1}");
    assert!(r.body.contains("id=\"plan-shipments\""));
    assert!(r.body.contains("paste-1"), "the text is kept");

    // A wrong type names its path in the document; the text stays for correcting.
    order["lines"][1]["quantity"] = serde_json::json!("one");
    let r = a
        .post(
            "/routing/simulate",
            &[("csrf", &csrf), ("order_json", &order.to_string())],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("<code>order.lines[1].quantity: invalid type"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("aria-invalid=\"true\" aria-describedby=\"sim-json-errors\"")
    );

    // The order's own checks, every field named.
    order["lines"][1]["quantity"] = serde_json::json!(0);
    order.as_object_mut().unwrap().remove("currency");
    let r = a
        .post(
            "/routing/simulate",
            &[("csrf", &csrf), ("order_json", &order.to_string())],
        )
        .await;
    assert_eq!(r.status, 422);
    for e in ["order.currency: ", "order.lines[1].quantity: "] {
        assert!(r.body.contains(&format!("<code>{e}")), "{e}: {}", r.body);
    }
    order["currency"] = serde_json::json!("EUR");
    order["lines"][1]["quantity"] = serde_json::json!(1);
    order["channel"] = serde_json::json!("nope");
    let r = a
        .post(
            "/routing/simulate",
            &[("csrf", &csrf), ("order_json", &order.to_string())],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("<code>order.channel: unknown channel &#39;nope&#39;"),
        "{}",
        r.body
    );
    let r = a
        .post(
            "/routing/simulate",
            &[("csrf", &csrf), ("order_json", "[1,")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("<code>order"), "{}", r.body);

    // A dry run: no order was captured.
    assert_eq!(
        app.store
            .list_orders(&Default::default(), &Default::default())
            .await
            .unwrap()
            .items
            .len(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_routing_and_channel_split_policy_are_edited_with_field_errors() {
    let app = start("settings").await;
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/locations/WH1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"routing-form\""));
    let csrf = page.csrf();
    let r = m
        .post(
            "/locations/WH1/routing",
            &[
                ("csrf", csrf.as_str()),
                ("handling_cost", "cheap"),
                ("daily_capacity", "0"),
                ("safety_stock", "-1"),
                ("cannot_ship", "fragile"),
                ("utc_offset", "+25:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for (id, text) in [
        ("handling-cost-err", ""),
        ("daily-capacity-err", "must be at least 1"),
        ("safety-stock-err", "must not be negative"),
        ("utc-offset-err", "must be an offset such as +01:00"),
    ] {
        let at = r
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}: {}", r.body));
        assert!(r.body[at..at + 200].contains(text), "{id}");
    }
    assert!(r.body.contains("value=\"cheap\""), "input kept");
    assert!(r.body.contains("value=\"fragile\" checked"));
    let r = m
        .post(
            "/locations/WH1/routing",
            &[("csrf", csrf.as_str()), ("daily_capacity", "many")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("must be a whole number, or empty for no limit")
    );
    let r = m
        .post(
            "/locations/WH1/routing",
            &[
                ("csrf", csrf.as_str()),
                ("handling_cost", "1.5"),
                ("daily_capacity", "200"),
                ("safety_stock", "2"),
                ("cannot_ship", "fragile"),
                ("cannot_ship", "hazmat"),
                ("utc_offset", "+01:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/locations");
    let list = m.get("/locations").await;
    assert!(list.body.contains("WH1: routing settings saved."));
    assert!(
        list.body
            .contains("handling 1.50 · 200 a day · safety 2 · not fragile, hazmat · UTC+01:00"),
        "{}",
        list.body
    );
    let wh1 = app.store.get_location("WH1").await.unwrap().unwrap();
    assert_eq!(wh1.routing.handling_cost, "1.50");
    assert_eq!(wh1.routing.daily_capacity, Some(200));
    assert_eq!(wh1.name, "Main warehouse", "the rest is unchanged");
    assert_eq!(wh1.priority, 1);

    // Channel split policy.
    let page = m.get("/channels/web").await;
    assert!(page.body.contains("id=\"split-form\""));
    let r = m
        .post(
            "/channels/web/split-policy",
            &[
                ("csrf", csrf.as_str()),
                ("split_policy", "allow_if_order_value_above"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    let at = r
        .body
        .find("id=\"split-threshold-err\"")
        .expect("threshold error");
    assert!(
        r.body[at..].starts_with("id=\"split-threshold-err\">is required"),
        "{}",
        &r.body[at..at + 120]
    );
    let r = m
        .post(
            "/channels/web/split-policy",
            &[("csrf", csrf.as_str()), ("split_policy", "sometimes")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("must be one of allow, never, allow_if_order_value_above")
    );
    let r = m
        .post(
            "/channels/web/split-policy",
            &[
                ("csrf", csrf.as_str()),
                ("split_policy", "allow_if_order_value_above"),
                ("split_order_value_above", "100"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let web = app.store.get_channel("web").await.unwrap().unwrap();
    assert_eq!(web.split_order_value_above.as_deref(), Some("100.00"));
    let list = m.get("/channels").await;
    assert!(list.body.contains("web: split policy saved."));
    assert!(list.body.contains("above 100.00 EUR"));
    // Another policy clears the threshold.
    let r = m
        .post(
            "/channels/web/split-policy",
            &[
                ("csrf", csrf.as_str()),
                ("split_policy", "never"),
                ("split_order_value_above", "100"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let web = app.store.get_channel("web").await.unwrap().unwrap();
    assert_eq!(web.split_policy, ordo_domain::catalog::SplitPolicy::Never);
    assert_eq!(web.split_order_value_above, None);

    // Only catalog managers see or use the forms.
    for role in ["readonly", "warehouse", "support"] {
        let mut b = Agent::new(&app.base);
        b.login(role, PASSWORD).await;
        let page = b.get("/locations/WH1").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("id=\"routing-form\""), "{role}");
        let r = b
            .post(
                "/locations/WH1/routing",
                &[("csrf", page.csrf().as_str()), ("handling_cost", "9")],
            )
            .await;
        assert_eq!(r.status, 403, "{role}");
        let r = b
            .post(
                "/channels/web/split-policy",
                &[("csrf", page.csrf().as_str()), ("split_policy", "allow")],
            )
            .await;
        assert_eq!(r.status, 403, "{role}");
    }
    assert_eq!(m.get("/locations/NOPE").await.status, 404);
}

async fn balance(app: &common::App, sku: &str, location: &str) -> ordo_domain::inventory::Balance {
    app.store
        .list_balances(
            &ordo_store::BalanceFilter {
                sku: Some(sku.into()),
                location: Some(location.into()),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items[0]
        .balance
}

async fn order_status(app: &common::App, number: &str) -> OrderStatus {
    app.store.get_order(number).await.unwrap().unwrap().status
}

/// A form post as htmx sends it (the answer is the page, swapped in place).
async fn hx_post(a: &mut Agent, path: &str, form: &[(&str, &str)]) -> common::Reply {
    a.extra_headers.push(("hx-request".into(), "true".into()));
    let r = a.post(path, form).await;
    a.extra_headers.pop();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_orders_ship_void_and_track_on_the_order_page() {
    let app = start("ship").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/orders/SO-000004").await;
    assert_eq!(page.status, 200);
    let ship = "/orders/SO-000004/fulfillment/SO-000004-1/ship";
    assert!(
        page.body.contains(&format!("action=\"{ship}\"")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("/fulfillment/SO-000004-1/split"),
        "the warehouse ships, it does not rework orders"
    );
    assert!(page.body.contains("id=\"shipments\""));
    assert!(page.body.contains("Nothing has shipped yet."));
    let csrf = page.csrf();

    // Refused input: each error next to its field, the values kept, nothing shipped.
    let r = hx_post(
        &mut w,
        ship,
        &[
            ("csrf", &csrf),
            ("carrier", "manual"),
            ("service", "express"),
            ("pkg1_weight_g", "1.5"),
            ("pkg2_length_mm", "-3"),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("<details class=\"fo-form fo-ship\" open>"));
    assert!(
        r.body
            .contains("id=\"ship-SO-000004-1-tracking-err\">is required for carrier manual"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"ship-SO-000004-1-p1-weight-err\">must be a whole number of grams")
    );
    assert!(
        r.body.contains(
            "id=\"ship-SO-000004-1-p2-weight-err\">enter the package&#x27;s weight in grams"
        ) || r.body.contains(
            "id=\"ship-SO-000004-1-p2-weight-err\">enter the package&#39;s weight in grams"
        ),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"ship-SO-000004-1-p2-length-err\">must be positive")
    );
    assert!(
        r.body.contains("<details class=\"pkg-more\" open>"),
        "row 2 shown"
    );
    assert!(
        r.body.contains("<option value=\"manual\" selected>"),
        "choice kept"
    );
    assert!(r.body.contains("value=\"express\""), "service kept");
    assert!(
        r.body
            .contains("Not saved: please correct the fields marked below.")
    );
    assert_eq!(fos(&app, "SO-000004").await[0].status.as_str(), "open");
    assert!(app.store.get_shipment("SH-000001").await.unwrap().is_none());

    // A refusal from the store: the order was held after the page was loaded.
    let ctx = ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    };
    app.store
        .transition_order(
            "SO-000001",
            ordo_store::OrderChange {
                transition: ordo_domain::order::Transition::Hold,
                hold_reason: None,
                note: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    let r = hx_post(
        &mut w,
        "/orders/SO-000001/fulfillment/SO-000001-1/ship",
        &[("csrf", &csrf), ("carrier", "own_fleet")],
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains(
            "id=\"fo-message\">Not possible: Order SO-000001 is on hold; release it first."
        ),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("/SO-000001-1/ship\""),
        "no ship form while on hold"
    );
    assert_eq!(order_status(&app, "SO-000001").await, OrderStatus::OnHold);

    // Shipped in two packages: stock leaves on hand and allocated, the order is shipped.
    let before = balance(&app, "MUG-1", "WH1").await;
    let r = hx_post(
        &mut w,
        ship,
        &[
            ("csrf", &csrf),
            ("carrier", "own_fleet"),
            ("tracking_number", ""),
            ("service", "express"),
            ("pkg1_weight_g", "1400"),
            ("pkg1_length_mm", "300"),
            ("pkg1_width_mm", "200"),
            ("pkg1_height_mm", "100"),
            ("pkg2_weight_g", "600"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sh = app.store.get_shipment("SH-000001").await.unwrap().unwrap();
    assert!(
        r.body.contains(&format!(
            "SO-000004-1 shipped as SH-000001 (Own fleet, express); tracking number {}.",
            sh.tracking_number
        )),
        "{}",
        r.body
    );
    assert!(
        sh.tracking_number.starts_with("OR"),
        "{}",
        sh.tracking_number
    );
    assert_eq!(sh.packages.len(), 2);
    assert_eq!(
        (sh.packages[0].weight_g, sh.packages[0].height_mm),
        (1400, Some(100))
    );
    assert!(r.body.contains("id=\"sh-SH-000001\""));
    assert!(
        r.body.contains("1,400 g · 300 × 200 × 100 mm"),
        "{}",
        r.body
    );
    assert!(r.body.contains("href=\"/shipments/SH-000001/label.pdf\""));
    assert!(
        r.body
            .contains("href=\"/shipments/SH-000001/label.zpl?package=2\"")
    );
    assert!(r.body.contains(&sh.tracking_number));
    assert!(
        r.body
            .contains("badge s-shipped\" id=\"order-status\">Shipped")
    );
    assert!(
        r.body.contains("<td class=\"num shipped\">3</td>"),
        "lines show shipped units"
    );
    assert!(
        !r.body.contains(&format!("action=\"{ship}\"")),
        "shipped once"
    );
    assert!(r.body.contains("Shipment created"), "timeline swapped too");
    assert_eq!(order_status(&app, "SO-000004").await, OrderStatus::Shipped);
    let o = app.store.get_order("SO-000004").await.unwrap().unwrap();
    assert_eq!(o.lines[0].shipped, 3);
    assert_eq!(o.fulfillment_orders[0].status.as_str(), "shipped");
    let after = balance(&app, "MUG-1", "WH1").await;
    assert_eq!(after.on_hand, before.on_hand - 3);
    assert_eq!(after.allocated, before.allocated - 3);
    // Shipping the same fulfillment order again (a stale page) is refused.
    let r = hx_post(&mut w, ship, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 409);
    assert!(
        r.body
            .contains("Not possible: Fulfillment order SO-000004-1 is shipped; it cannot ship."),
        "{}",
        r.body
    );

    // Part of an order: split off the teapot, ship it with a plain form post.
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let mcsrf = m.get("/orders/SO-000002").await.csrf();
    let r = m
        .post(
            "/orders/SO-000002/fulfillment/SO-000002-1/split",
            &[("csrf", &mcsrf), ("qty_2", "1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let tea_before = balance(&app, "TEA-1", "WH1").await;
    let r = w
        .post(
            "/orders/SO-000002/fulfillment/SO-000002-2/ship",
            &[
                ("csrf", &csrf),
                ("carrier", "own_fleet"),
                ("service", "standard"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/orders/SO-000002#shipments");
    let page = w.get(r.location()).await;
    assert!(
        page.body
            .contains("SO-000002-2 shipped as SH-000002 (Own fleet, standard)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("badge s-partially_shipped\" id=\"order-status\">Partially shipped")
    );
    let sh2 = app.store.get_shipment("SH-000002").await.unwrap().unwrap();
    assert_eq!(sh2.packages.len(), 1, "one parcel weighed from the catalog");
    assert_eq!(sh2.packages[0].weight_g, 500);
    assert_eq!(
        order_status(&app, "SO-000002").await,
        OrderStatus::PartiallyShipped
    );
    let list = w.get("/orders?status=partially_shipped").await;
    assert!(
        list.body.contains("href=\"/orders/SO-000002\""),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains("<option value=\"partially_shipped\" selected>")
    );

    // Void before hand-over: the stock and the reservation come back, the FO opens again.
    let void2 = "/orders/SO-000002/shipments/SH-000002/void";
    assert!(page.body.contains(&format!("action=\"{void2}\"")));
    let r = hx_post(&mut w, void2, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(
            "id=\"sh-message\">SH-000002 was voided: its units are back in stock at WH1 and SO-000002-2 is open again."
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("badge s-voided\">Voided"));
    assert!(
        !r.body.contains("href=\"/shipments/SH-000002/label.pdf\""),
        "no labels for a voided shipment"
    );
    assert!(
        r.body.contains("/fulfillment/SO-000002-2/ship\""),
        "it can ship again"
    );
    assert_eq!(
        order_status(&app, "SO-000002").await,
        OrderStatus::Allocated
    );
    assert_eq!(balance(&app, "TEA-1", "WH1").await, tea_before);
    let r = hx_post(&mut w, void2, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 409);
    assert!(
        r.body.contains(
            "Not possible: The shipment is voided; only a label not yet handed over can be voided."
        ),
        "{}",
        r.body
    );

    // Tracking: a bad status is refused in its form; in transit, then delivered.
    let track = "/orders/SO-000004/shipments/SH-000001/tracking";
    let r = hx_post(
        &mut w,
        track,
        &[
            ("csrf", &csrf),
            ("status", "teleported"),
            ("detail", "somewhere"),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("<details class=\"fo-form sh-track\" open>"));
    assert!(
        r.body
            .contains("id=\"track-SH-000001-status-err\">must be one of in_transit"),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"somewhere\""), "detail kept");
    let r = hx_post(
        &mut w,
        track,
        &[
            ("csrf", &csrf),
            ("status", "in_transit"),
            ("detail", "Hub Berlin"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("SH-000001: In transit recorded."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Hub Berlin"));
    assert!(
        !r.body.contains("/shipments/SH-000001/void\""),
        "handed over: no void"
    );
    assert!(
        r.body
            .contains("<option value=\"out_for_delivery\" selected>"),
        "the next step is preselected"
    );
    let r = hx_post(
        &mut w,
        "/orders/SO-000004/shipments/SH-000001/void",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("The shipment is in_transit"), "{}", r.body);
    let r = w
        .post(
            track,
            &[
                ("csrf", &csrf),
                ("status", "delivered"),
                ("detail", "Left with a neighbour"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = w.get(r.location()).await;
    assert!(
        page.body
            .contains("SH-000001: Delivered recorded. SO-000004 is delivered."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("badge s-delivered\" id=\"order-status\">Delivered")
    );
    assert!(
        !page.body.contains(&format!("action=\"{track}\"")),
        "closed"
    );
    assert_eq!(
        order_status(&app, "SO-000004").await,
        OrderStatus::Delivered
    );
    let r = hx_post(&mut w, track, &[("csrf", &csrf), ("status", "exception")]).await;
    assert_eq!(r.status, 409);
    assert!(
        r.body.contains("no further tracking events are accepted"),
        "{}",
        r.body
    );

    // Labels under the session: the same documents as the API's.
    let pdf = w.get("/shipments/SH-000001/label.pdf").await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.body.starts_with("%PDF-"));
    assert!(
        pdf.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("label-SH-000001-1.pdf")
    );
    let mut api = Agent::new(&app.base);
    api.extra_headers
        .push(("authorization".into(), format!("Bearer {}", app.api_key)));
    let from_api = api
        .get("/api/v1/shipments/SH-000001/label.zpl?package=2")
        .await;
    let zpl = w.get("/shipments/SH-000001/label.zpl?package=2").await;
    assert_eq!(zpl.status, 200);
    assert!(zpl.body.starts_with("^XA"), "{}", zpl.body);
    assert_eq!(zpl.body, from_api.body, "the API's label");
    assert!(
        zpl.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(
        w.get("/shipments/SH-000001/label.pdf?package=3")
            .await
            .status,
        422
    );
    assert_eq!(
        w.get("/shipments/SH-000001/label.pdf?package=two")
            .await
            .status,
        422
    );
    assert_eq!(w.get("/shipments/SH-999999/label.pdf").await.status, 404);

    // A shipment of another order is not this page's to change.
    let r = w
        .post(
            "/orders/SO-000001/shipments/SH-000002/void",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 404);

    // Roles: reading roles see the shipments and labels, without forms, and may not post.
    app.store
        .transition_order(
            "SO-000001",
            ordo_store::OrderChange {
                transition: ordo_domain::order::Transition::Release,
                hold_reason: None,
                note: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    for role in ["readonly", "support"] {
        let mut b = Agent::new(&app.base);
        b.login(role, PASSWORD).await;
        let page = b.get("/orders/SO-000002").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"sh-SH-000002\""), "{role}");
        assert!(!page.body.contains("/ship\""), "{role}");
        assert!(!page.body.contains("/tracking\""), "{role}");
        let bcsrf = page.csrf();
        assert_eq!(
            b.post(
                "/orders/SO-000001/fulfillment/SO-000001-1/ship",
                &[("csrf", &bcsrf)]
            )
            .await
            .status,
            403,
            "{role}"
        );
        assert_eq!(
            b.post(
                "/orders/SO-000004/shipments/SH-000001/tracking",
                &[("csrf", &bcsrf), ("status", "exception")]
            )
            .await
            .status,
            403,
            "{role}"
        );
        assert_eq!(
            b.get("/shipments/SH-000001/label.pdf").await.status,
            200,
            "{role}"
        );
    }
    // Without the session's token nothing ships.
    for path in [
        "/orders/SO-000001/fulfillment/SO-000001-1/ship",
        "/orders/SO-000002/fulfillment/SO-000002-2/ship",
    ] {
        let r = w.post(path, &[("csrf", "forged")]).await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("<h1>Form expired</h1>"));
    }
    let r = w
        .post(
            "/orders/SO-000004/shipments/SH-000001/tracking",
            &[("status", "exception")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(app.store.get_shipment("SH-000003").await.unwrap().is_none());
    assert_eq!(
        app.store
            .get_shipment("SH-000001")
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipments_list_filters_and_pages() {
    let app = start("ship-list").await;
    let ctx = ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    };
    let more = ordo_domain::inventory::AdjustmentInput {
        sku: Some("MUG-1".into()),
        location: Some("WH1".into()),
        state: None,
        delta: Some(100),
        reason: Some("received".into()),
        reference: None,
    };
    app.store
        .write_stock(more.validate().unwrap(), &ctx)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    for i in 0..48 {
        let input: ordo_domain::order::OrderInput =
            serde_json::from_value(common::order_json(&format!("S{i}"), &[("MUG-1", 1)])).unwrap();
        app.store
            .capture_order(input.validate(now).unwrap(), &ctx)
            .await
            .unwrap();
    }
    // SO-000001 … SO-000053 except the backordered lamp order: 52 shipments.
    for n in 1..=53 {
        if n == 3 {
            continue;
        }
        let input = ordo_domain::shipment::ShipmentInput {
            fulfillment_order: Some(format!("SO-{n:06}-1")),
            ..Default::default()
        };
        app.store
            .create_shipment(input.validate().unwrap(), &ctx)
            .await
            .unwrap();
    }
    app.store.void_shipment("SH-000004", &ctx).await.unwrap();

    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let nav = w.get("/inventory").await;
    assert!(nav.body.contains("href=\"/shipments\""), "nav link");
    let first = w.get("/shipments").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let rows = |body: &str| -> Vec<String> {
        body.split("<th scope=\"row\"><a href=\"/orders/")
            .skip(1)
            .map(|s| {
                s.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let page1 = rows(&first.body);
    assert_eq!(page1.len(), 50);
    assert_eq!(page1[0], "SH-000052", "newest first");
    let sh = app.store.get_shipment("SH-000052").await.unwrap().unwrap();
    assert!(
        first.body.contains(&sh.tracking_number),
        "tracking numbers shown"
    );
    assert!(
        first
            .body
            .contains("href=\"/shipments/SH-000052/label.pdf\"")
    );
    assert!(
        first
            .body
            .contains(&format!("href=\"/orders/{}\"", sh.order))
    );
    // The next link carries the store's cursor and the filters; the page it leads to is the
    // store's next page. (Compared with the store rather than with fixed ids, so the test
    // holds whether or not the backend pages this list.)
    let next_link = |body: &str| -> Option<String> {
        let i = body.find("\" rel=\"next\"")?;
        let start = body[..i].rfind("href=\"")? + 6;
        // askama writes `&` in attributes as `&#38;`.
        Some(body[start..i].replace("&amp;", "&").replace("&#38;", "&"))
    };
    let from_store = app
        .store
        .list_shipments(
            &Default::default(),
            &ordo_store::PageRequest {
                limit: Some(50),
                cursor: None,
            },
        )
        .await
        .unwrap();
    match from_store.next_cursor {
        Some(cursor) => {
            let next = next_link(&first.body).expect("a next page");
            assert_eq!(
                next,
                format!(
                    "/shipments?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("cursor", &cursor)
                        .finish()
                )
            );
            let second = w.get(&next).await;
            assert_eq!(second.status, 200);
            let page2 = rows(&second.body);
            let expected: Vec<String> = app
                .store
                .list_shipments(
                    &Default::default(),
                    &ordo_store::PageRequest {
                        limit: Some(50),
                        cursor: Some(cursor),
                    },
                )
                .await
                .unwrap()
                .items
                .iter()
                .map(|s| s.id.clone())
                .collect();
            assert_eq!(page2, expected);
            assert!(page2.iter().all(|id| !page1.contains(id)), "no overlap");
            assert!(second.body.contains("First page"));
        }
        None => assert_eq!(next_link(&first.body), None),
    }
    let bad_cursor = w
        .get("/shipments?status=label_created&cursor=nonsense")
        .await;
    assert_eq!(bad_cursor.status, 200);
    assert!(
        bad_cursor.body.contains("cursor: is not a cursor"),
        "{}",
        bad_cursor.body
    );

    // Filters: status, location, order; bad values are explained.
    let voided = w.get("/shipments?status=voided").await;
    assert_eq!(rows(&voided.body), ["SH-000004"]);
    assert!(voided.body.contains("<option value=\"voided\" selected>"));
    assert!(
        !voided
            .body
            .contains("href=\"/shipments/SH-000004/label.pdf\""),
        "no label for a voided shipment"
    );
    let st1 = w.get("/shipments?location=ST1").await;
    assert!(st1.body.contains("No shipments match."), "{}", st1.body);
    let wh1 = w.get("/shipments?location=WH1&status=label_created").await;
    assert_eq!(rows(&wh1.body).len(), 50);
    assert!(wh1.body.contains("<option value=\"WH1\" selected>"));
    if let Some(next) = next_link(&wh1.body) {
        assert!(
            next.starts_with("/shipments?location=WH1&status=label_created&cursor="),
            "the next page keeps the filters: {next}"
        );
    }
    let one = w.get("/shipments?order=SO-000005").await;
    assert_eq!(rows(&one.body), ["SH-000004"]);
    assert!(one.body.contains("value=\"SO-000005\""));
    let bad = w.get("/shipments?status=teleported&order=five").await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body
            .contains("Status: choose one of the listed statuses.")
    );
    assert!(
        bad.body
            .contains("Order: enter an order number such as SO-000123.")
    );
    assert!(bad.body.contains("No shipments match."));

    // A carrier's exception needs attention on the dashboard.
    let exception: ordo_domain::shipment::TrackingEventInput = serde_json::from_value(
        serde_json::json!({"status": "exception", "detail": "address unknown"}),
    )
    .unwrap();
    app.store
        .add_tracking_event("SH-000010", exception.validate(now).unwrap(), &ctx)
        .await
        .unwrap();
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let home = m.get("/").await;
    assert!(
        home.body.contains(
            "href=\"/shipments?status=exception\" id=\"shipment-exceptions\"><span class=\"n\">1</span>"
        ),
        "{}",
        home.body
    );
    // The work queues and late orders are on the dashboard too: an order promised for a
    // day already past, not shipped, is late.
    for id in ["late-orders", "to-pick", "to-pack", "to-ship"] {
        assert!(home.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let before = app.store.dashboard(now, 30).await.unwrap();
    let mut late = common::order_json("late-1", &[("MUG-1", 1)]);
    late["shipping"]["promised_by"] = serde_json::json!("2020-01-02");
    let input: ordo_domain::order::OrderInput = serde_json::from_value(late).unwrap();
    let late_number = match app
        .store
        .capture_order(input.validate(now).unwrap(), &ctx)
        .await
        .unwrap()
    {
        ordo_store::Outcome::Done(c) => c.value.number,
        other => panic!("{other:?}"),
    };
    let after = app.store.dashboard(now, 30).await.unwrap();
    assert_eq!(after.late, before.late + 1);
    // The late card opens the orders list filtered to late orders, which shows exactly as
    // many as the card counts, this one among them.
    let home = m.get("/").await;
    assert!(
        home.body.contains(&format!(
            "href=\"/orders?late=true\" id=\"late-orders\"><span class=\"n\">{}</span>",
            after.late
        )),
        "{}",
        home.body
    );
    let late_list = m.get("/orders?late=true").await;
    assert_eq!(late_list.status, 200);
    assert_eq!(
        late_list
            .body
            .matches("<th scope=\"row\"><a href=\"/orders/")
            .count() as i64,
        after.late,
        "{}",
        late_list.body
    );
    assert!(
        late_list
            .body
            .contains(&format!("<a href=\"/orders/{late_number}\">"))
    );
    assert!(
        late_list
            .body
            .contains("id=\"f-late\" name=\"late\" type=\"checkbox\" value=\"true\" checked")
    );
    assert_eq!(
        after.to_pick,
        before.to_pick + 1,
        "its fulfillment order waits to be picked"
    );
    let listed = m.get("/shipments?status=exception").await;
    assert_eq!(rows(&listed.body), ["SH-000010"]);
    assert!(listed.body.contains("badge s-exception\">Exception"));
}

fn seed_ctx() -> ordo_store::WriteContext {
    ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    }
}

/// A product as the catalog API would take it.
async fn put_product(app: &common::App, json: serde_json::Value) {
    let p: ordo_domain::catalog::ProductInput = serde_json::from_value(json).unwrap();
    app.store
        .put_product(p.validate().unwrap(), &seed_ctx())
        .await
        .unwrap();
}

async fn receive(app: &common::App, sku: &str, location: &str, units: i64) {
    let a = ordo_domain::inventory::AdjustmentInput {
        sku: Some(sku.into()),
        location: Some(location.into()),
        state: None,
        delta: Some(units),
        reason: Some("received".into()),
        reference: None,
    };
    app.store
        .write_stock(a.validate().unwrap(), &seed_ctx())
        .await
        .unwrap();
}

async fn job(app: &common::App, id: &str) -> ordo_store::PickJob {
    app.store.get_pick_job(id).await.unwrap().unwrap()
}

/// Units picked and shorted over a pick job.
fn job_done(j: &ordo_store::PickJob) -> (i64, i64) {
    j.progress
        .lines
        .iter()
        .fold((0, 0), |(p, s), l| (p + l.picked, s + l.short))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_bins_are_assigned_from_csv_with_an_error_per_line() {
    let app = start("sku-bins").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/locations/WH1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"layout-summary\""), "{}", page.body);
    assert!(page.body.contains("<code>zone-aisle-bay-level</code>"));
    assert!(page.body.contains("No pick bins assigned"));
    assert!(page.body.contains("action=\"/locations/WH1/sku-bins\""));
    let csrf = page.csrf();

    // Lines that cannot be read, or name no bin of the location: nothing is saved.
    let r = w
        .post(
            "/locations/WH1/sku-bins",
            &[
                ("csrf", &csrf),
                (
                    "csv",
                    "sku,bin\nMUG-1,A-01-02-A\nTEA-1,A--01\nLAMP-1\nMUG-1,A-01-03-A\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for e in [
        "<li>Line 3: A--01 is not a bin of WH1",
        "<li>Line 4: expected sku,bin",
        "<li>Line 5: MUG-1 is already on line 2",
    ] {
        assert!(r.body.contains(e), "{e}: {}", r.body);
    }
    assert!(!r.body.contains("Line 2:"), "line 2 is fine");
    assert!(r.body.contains("TEA-1,A--01"), "the paste is kept");
    assert!(app.store.sku_bins("WH1").await.unwrap().is_empty());

    // The store's refusal (an unknown SKU) names the pasted line too.
    let r = w
        .post(
            "/locations/WH1/sku-bins",
            &[
                ("csrf", &csrf),
                ("csv", "MUG-1,A-01-02-A\n\nNOPE-9,A-01-01-A"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("<li>Line 3: Unknown SKU &#x27;NOPE-9&#x27;.</li>")
            || r.body
                .contains("<li>Line 3: Unknown SKU &#39;NOPE-9&#39;.</li>"),
        "{}",
        r.body
    );
    assert!(app.store.sku_bins("WH1").await.unwrap().is_empty());

    let r = w
        .post(
            "/locations/WH1/sku-bins",
            &[
                ("csrf", &csrf),
                ("csv", "MUG-1, A-01-02-A\nTEA-1,B-02-01-C\n"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/locations/WH1#bins");
    let page = w.get("/locations/WH1").await;
    assert!(
        page.body.contains("WH1: 2 pick bins saved."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<tr data-sku=\"MUG-1\"><th scope=\"row\">A-01-02-A</th><td>A</td>")
    );
    assert!(page.body.contains(
        "<tr><th scope=\"row\">B</th><td class=\"num\">0</td><td class=\"num\">1</td></tr>"
    ));
    // An empty bin removes the SKU's.
    let r = w
        .post(
            "/locations/WH1/sku-bins",
            &[("csrf", &csrf), ("csv", "TEA-1,")],
        )
        .await;
    assert_eq!(r.status, 303);
    let bins = app.store.sku_bins("WH1").await.unwrap();
    assert_eq!(bins.len(), 1);
    assert_eq!(
        (bins[0].sku.as_str(), bins[0].bin.as_str()),
        ("MUG-1", "A-01-02-A")
    );

    // Readers see the bins but get no form, and may not post one.
    let mut ro = Agent::new(&app.base);
    ro.login("readonly", PASSWORD).await;
    let page = ro.get("/locations/WH1").await;
    assert!(page.body.contains("A-01-02-A"));
    assert!(!page.body.contains("sku-bins-form"));
    let r = ro
        .post(
            "/locations/WH1/sku-bins",
            &[("csrf", &page.csrf()), ("csv", "TEA-1,B-02-01-C")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.store.sku_bins("WH1").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pick_job_is_released_scanned_shorted_and_completed() {
    let app = start("picking").await;
    put_product(
        &app,
        serde_json::json!({"sku": "MUG-1", "name": "Ceramic mug", "barcode": "4006381333931",
            "price": "12.50", "unit_cost": "5.00", "currency": "EUR", "weight_g": 500}),
    )
    .await;
    app.store
        .put_sku_bins(
            "WH1",
            vec![
                ordo_store::SkuBin {
                    sku: "MUG-1".into(),
                    bin: "A-01-02-A".into(),
                },
                ordo_store::SkuBin {
                    sku: "TEA-1".into(),
                    bin: "A-02-01-B".into(),
                },
            ],
            &seed_ctx(),
        )
        .await
        .unwrap();
    let mut w = Agent::new(&app.base);
    let r = w.login("warehouse", PASSWORD).await;
    assert_eq!(r.location(), "/picking");
    let page = w.get("/picking").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("<a href=\"/picking\" aria-current=\"page\">Picking</a>")
    );
    assert!(page.body.contains("href=\"/packing\""), "nav link");
    assert!(
        page.body.contains("<option value=\"WH1\" selected>"),
        "the warehouse first"
    );
    assert!(
        page.body
            .contains("id=\"open-fos\"><strong>4</strong> open fulfillment orders"),
        "{}",
        page.body
    );
    assert!(page.body.contains("No open pick jobs."));
    let csrf = page.csrf();

    // A limit that cannot be read: the form comes back with the error and the values.
    let r = w
        .post(
            "/picking",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("strategy", "wave"),
                ("max_orders", "0"),
                ("max_units", "lots"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"max-orders-err\">must be at least 1"));
    assert!(
        r.body
            .contains("id=\"max-units-err\">must be a whole number")
    );
    assert!(
        r.body
            .contains("id=\"strategy-wave\" name=\"strategy\" value=\"wave\" checked")
    );
    assert!(r.body.contains("value=\"lots\""));
    // Single-item orders of the web shop, one list each: only SO-000005 (one mug) fits.
    let r = w
        .post(
            "/picking",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("max_units", "1"),
                ("single_item_only", "1"),
                ("strategy", "single"),
                ("channel", "web"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/picking/PL-000001");
    let single = job(&app, "PL-000001").await;
    assert_eq!(single.progress.orders.len(), 1);
    assert_eq!(
        single.progress.orders[0].fulfillment_order_id,
        "SO-000005-1"
    );
    // Nothing is left that matches: the store says so, in the form.
    let r = w
        .post(
            "/picking",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("single_item_only", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("No pick job: No open fulfillment order at WH1 matches."),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"single-item\" name=\"single_item_only\" value=\"1\" checked")
    );
    let id = "PL-000002".to_string();

    // A batch of at most three orders: the oldest three, one tote each.
    let r = w
        .post(
            "/picking",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("strategy", "batch"),
                ("max_orders", "3"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("/picking/{id}"));
    for (fo, status) in [
        ("SO-000001-1", "in_progress"),
        ("SO-000002-1", "in_progress"),
        ("SO-000004-1", "in_progress"),
    ] {
        let f = app.store.get_fulfillment_order(fo).await.unwrap().unwrap();
        assert_eq!(f.status.as_str(), status, "{fo}");
    }
    let page = w.get(r.location()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("released 3 fulfillment orders (7 units) in 1 list."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<span class=\"next-bin\" id=\"next-bin\">A-01-02-A</span>")
    );
    assert!(
        page.body
            .contains("<span class=\"next-sku\" id=\"next-sku\">MUG-1</span>")
    );
    assert!(
        page.body
            .contains("<span class=\"next-qty\" id=\"next-qty\">6</span>")
    );
    assert!(
        page.body.contains("Tote 1 (SO-000001-1): 2"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("id=\"scan-code\" name=\"code\" autofocus")
    );
    let csrf = page.csrf();
    let scan = format!("/picking/{id}/scan");
    let short = format!("/picking/{id}/short");
    let stock = balance(&app, "MUG-1", "WH1").await;

    // Refusals: the wrong item, the wrong bin, too many. Nothing changes.
    let r = hx_post(
        &mut w,
        &scan,
        &[("csrf", &csrf), ("code", "LAMP-1"), ("quantity", "1")],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("Wrong item: scanned LAMP-1, expected MUG-1 at A-01-02-A (6 left)."),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"scan-code\" name=\"code\" autofocus autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" enterkeyhint=\"done\" aria-invalid=\"true\""));
    let r = hx_post(
        &mut w,
        &scan,
        &[
            ("csrf", &csrf),
            ("code", "MUG-1"),
            ("bin", "A-02-01-B"),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("Wrong bin: MUG-1 is picked from A-01-02-A, not A-02-01-B."),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("value=\"A-02-01-B\""),
        "the bin typed is kept"
    );
    let r = hx_post(
        &mut w,
        &scan,
        &[("csrf", &csrf), ("code", "MUG-1"), ("quantity", "7")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("Over-pick refused: 7 × MUG-1 at A-01-02-A scanned, 6 left to pick."),
        "{}",
        r.body
    );
    let r = hx_post(
        &mut w,
        &scan,
        &[("csrf", &csrf), ("code", ""), ("quantity", "x")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("Scan or type a SKU or barcode. Must be a whole number."),
        "{}",
        r.body
    );
    assert_eq!(job_done(&job(&app, &id).await), (0, 0));
    assert_eq!(balance(&app, "MUG-1", "WH1").await, stock);

    // The barcode of the mug, two units: tote 1 is full and SO-000001-1 is picked.
    let r = hx_post(
        &mut w,
        &scan,
        &[
            ("csrf", &csrf),
            ("code", "4006381333931"),
            ("quantity", "2"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("Picked 2 × MUG-1 from A-01-02-A."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Put 2 into Tote 1 (SO-000001-1)."));
    assert!(
        r.body
            .contains("SO-000001-1 is picked: take tote 1 to packing.")
    );
    assert!(
        r.body.contains("id=\"pick-work\""),
        "the work area for htmx"
    );
    assert!(
        r.body
            .contains("<span class=\"next-qty\" id=\"next-qty\">4</span>")
    );
    assert_eq!(
        app.store
            .get_fulfillment_order("SO-000001-1")
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "picked"
    );

    // The bin holds one more mug, not four: tote 2 gets it, tote 3 (SO-000004-1, the newest)
    // loses three; they are written off and routed again.
    let r = hx_post(
        &mut w,
        &short,
        &[("csrf", &csrf), ("line", "0"), ("found", "9")],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Over-pick refused"), "{}", r.body);
    assert!(
        r.body
            .contains("<details class=\"short-form\" open id=\"short\">")
    );
    let r = hx_post(
        &mut w,
        &short,
        &[("csrf", &csrf), ("line", "0"), ("found", "1")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for text in [
        "A-01-02-A is short: 1 × MUG-1 found, 3 missing.",
        "Put 1 into Tote 2 (SO-000002-1).",
        "SO-000004-1 (tote 3) loses 3 × MUG-1.",
        "3 × MUG-1 written off at WH1 (shrinkage).",
        "SO-000004: routed again to SO-000004-2 at ST1 (3 × MUG-1).",
        "SO-000004-1 has nothing left to pack from WH1.",
    ] {
        assert!(r.body.contains(text), "{text}: {}", r.body);
    }
    let after = balance(&app, "MUG-1", "WH1").await;
    assert_eq!(after.on_hand, stock.on_hand - 3, "written off");
    let st1 = fos(&app, "SO-000004").await;
    assert!(
        st1.iter().any(|f| f.location == "ST1" && f.units() == 3),
        "{st1:?}"
    );
    assert_eq!(job_done(&job(&app, &id).await), (3, 3));

    // The teapot, typed in lower case and without htmx: a redirect with the message.
    let r = w
        .post(
            &scan,
            &[("csrf", &csrf), ("code", "tea-1"), ("bin", "a-02-01-b")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("/picking/{id}#scan"));
    let page = w.get(&format!("/picking/{id}")).await;
    assert!(
        page.body.contains("Picked 1 × TEA-1 from A-02-01-B."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Pick job complete."));
    assert!(page.body.contains("id=\"job-done\""));
    assert!(
        page.body
            .contains("href=\"/packing/SO-000001-1\">Pack SO-000001-1</a>")
    );
    assert!(
        page.body
            .contains("href=\"/packing/SO-000002-1\">Pack SO-000002-1</a>")
    );
    assert!(
        !page.body.contains("id=\"scan-code\""),
        "no scan box on a done job"
    );
    assert_eq!(
        page.body.matches("Pick job complete.").count(),
        1,
        "shown once"
    );
    for fo in ["SO-000001-1", "SO-000002-1"] {
        let f = app.store.get_fulfillment_order(fo).await.unwrap().unwrap();
        assert_eq!(f.status.as_str(), "picked", "{fo}");
    }
    assert_eq!(job(&app, &id).await.status, ordo_store::PickJobStatus::Done);
    let r = hx_post(&mut w, &scan, &[("csrf", &csrf), ("code", "TEA-1")]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("Not possible: Pick list PL-000002 is done."),
        "{}",
        r.body
    );

    // The list shows the job as done; the printed list walks the bins in order.
    let list = w.get("/picking?location=WH1").await;
    assert!(
        list.body.contains(&format!(
            "<th scope=\"row\"><a href=\"/picking/{id}\">{id}</a></th>"
        )),
        "{}",
        list.body
    );
    let print = w.get(&format!("/picking/{id}/print")).await;
    assert_eq!(print.status, 200, "{}", print.body);
    assert_eq!(print.body.matches("<h1").count(), 1);
    let a = print.body.find(">A-01-02-A").unwrap();
    let b = print.body.find(">A-02-01-B").unwrap();
    assert!(a < b, "walk order");
    assert!(print.body.contains("Tote 3"));
    assert!(print.body.contains("SO-000004-1"));
    assert!(!print.body.contains("<nav"), "paper needs no navigation");
    let css = w.get("/static/app.css").await;
    assert!(css.body.contains("@media print"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warehouse_forms_check_roles_and_csrf() {
    let app = start("wh-roles").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let csrf = w.get("/picking").await.csrf();
    // CSRF: without the session's token nothing is released, scanned or packed.
    for bad in [None, Some("forged")] {
        let with = |mut form: Vec<(&'static str, &'static str)>| {
            if let Some(b) = bad {
                form.push(("csrf", b));
            }
            form
        };
        let r = w
            .post(
                "/picking",
                &with(vec![("location", "WH1"), ("strategy", "batch")]),
            )
            .await;
        assert_eq!(r.status, 403, "{bad:?}");
        assert!(r.body.contains("<h1>Form expired</h1>"));
        let r = w
            .post(
                "/packing/SO-000001-1/pack",
                &with(vec![("scan", "2 MUG-1")]),
            )
            .await;
        assert_eq!(r.status, 403);
        let r = w
            .post(
                "/locations/WH1/sku-bins",
                &with(vec![("csv", "MUG-1,A-01-01-A")]),
            )
            .await;
        assert_eq!(r.status, 403);
    }
    assert!(
        app.store
            .list_pick_jobs(None, None, &Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        app.store
            .get_packing("SO-000001-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.store.sku_bins("WH1").await.unwrap().is_empty());
    let r = w
        .post(
            "/picking",
            &[("csrf", &csrf), ("location", "WH1"), ("strategy", "batch")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = r.location().trim_start_matches("/picking/").to_string();

    // Readers and support see the screens without forms, and may not post them.
    for role in ["readonly", "support"] {
        let mut a = Agent::new(&app.base);
        a.login(role, PASSWORD).await;
        let page = a.get("/picking").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("id=\"release-form\""), "{role}");
        let job_page = a.get(&format!("/picking/{id}")).await;
        assert_eq!(job_page.status, 200);
        assert!(job_page.body.contains("id=\"next-pick\""));
        assert!(!job_page.body.contains("id=\"scan-code\""), "{role}");
        let pack = a.get("/packing/SO-000001-1").await;
        assert_eq!(pack.status, 200);
        assert!(!pack.body.contains("id=\"pack-code\""), "{role}");
        let csrf = page.csrf();
        for (path, form) in [
            ("/picking", vec![("location", "WH1"), ("strategy", "batch")]),
            (
                &*format!("/picking/{id}/scan"),
                vec![("code", "MUG-1"), ("quantity", "1")],
            ),
            (
                &*format!("/picking/{id}/short"),
                vec![("line", "0"), ("found", "0")],
            ),
            ("/packing/SO-000001-1/scan", vec![("code", "MUG-1")]),
            ("/packing/SO-000001-1/pack", vec![("scan", "2 MUG-1")]),
        ] {
            let mut form = form;
            form.push(("csrf", &csrf));
            let r = a.post(path, &form).await;
            assert_eq!(r.status, 403, "{role} {path}: {}", r.body);
        }
    }
    assert_eq!(job_done(&job(&app, &id).await), (0, 0));
    assert!(
        app.store
            .get_packing("SO-000001-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.get("/picking/PL-000099").await.status, 404);
    assert_eq!(w.get("/packing/SO-000099-1").await.status, 404);
    assert_eq!(w.get("/picking?location=NOPE").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pack_bench_checks_items_and_splits_fragile_from_hazmat() {
    let app = start("packing").await;
    put_product(
        &app,
        serde_json::json!({"sku": "VASE-1", "name": "Glass vase", "barcode": "5901234123457",
            "price": "30.00", "unit_cost": "9.00", "currency": "EUR", "weight_g": 900,
            "handling_classes": ["fragile"],
            "dimensions": {"length_mm": 150, "width_mm": 120, "height_mm": 80}}),
    )
    .await;
    put_product(
        &app,
        serde_json::json!({"sku": "BATT-1", "name": "Lithium battery pack",
            "price": "25.00", "unit_cost": "8.00", "currency": "EUR", "weight_g": 300,
            "handling_classes": ["hazmat"],
            "dimensions": {"length_mm": 100, "width_mm": 60, "height_mm": 30}}),
    )
    .await;
    receive(&app, "VASE-1", "WH1", 5).await;
    receive(&app, "BATT-1", "WH1", 5).await;
    let input: ordo_domain::order::OrderInput =
        serde_json::from_value(common::order_json("2001", &[("VASE-1", 1), ("BATT-1", 1)]))
            .unwrap();
    let created = app
        .store
        .capture_order(
            input.validate(time::OffsetDateTime::now_utc()).unwrap(),
            &seed_ctx(),
        )
        .await
        .unwrap();
    let number = match created {
        ordo_store::Outcome::Done(c) => c.value.number,
        _ => unreachable!(),
    };
    let fo = format!("{number}-1");
    assert_eq!(
        app.store
            .get_fulfillment_order(&fo)
            .await
            .unwrap()
            .unwrap()
            .location,
        "WH1"
    );

    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let find = w.get("/packing").await;
    assert_eq!(find.status, 200);
    assert!(
        find.body
            .contains("id=\"find-q\" name=\"q\" value=\"\" autofocus")
    );
    // The order number finds its only fulfillment order; an unknown code says so.
    let r = w
        .get(&format!("/packing?q={}", number.to_lowercase()))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), format!("/packing/{fo}"));
    let r = w.get(&format!("/packing?q={fo}")).await;
    assert_eq!(r.location(), format!("/packing/{fo}"));
    let r = w.get("/packing?q=XYZ").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Nothing found for XYZ"), "{}", r.body);

    let page = w.get(&format!("/packing/{fo}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("is not picked yet (open)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<span class=\"marking m-fragile\">FRAGILE</span>")
    );
    assert!(
        page.body
            .contains("<span class=\"marking m-hazmat\">HAZMAT</span>")
    );
    assert!(
        page.body
            .contains("id=\"pack-code\" name=\"code\" autofocus")
    );
    let csrf = page.csrf();
    let scan = format!("/packing/{fo}/scan");
    let pack = format!("/packing/{fo}/pack");

    // A wrong item is refused at the scan, and the tally is kept.
    let r = hx_post(&mut w, &scan, &[("csrf", &csrf), ("code", "MUG-1")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains(&format!("Wrong item: MUG-1 is not in {fo}. Set it aside.")),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("Still to scan: VASE-1 (1 more), BATT-1 (1 more)."),
        "{}",
        r.body
    );
    // The vase by its barcode.
    let r = hx_post(&mut w, &scan, &[("csrf", &csrf), ("code", "5901234123457")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("1 × VASE-1 scanned (1 of 1)."));
    assert!(
        r.body
            .contains("<input type=\"hidden\" name=\"scan\" value=\"1 VASE-1\">")
    );
    assert!(r.body.contains("1 of 2 scanned"));
    // Twice is once too many.
    let r = hx_post(
        &mut w,
        &scan,
        &[("csrf", &csrf), ("scan", "1 VASE-1"), ("code", "VASE-1")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("Too many:"), "{}", r.body);
    assert!(
        r.body
            .contains("<input type=\"hidden\" name=\"scan\" value=\"1 VASE-1\">")
    );

    // Packing with a wrong item in the parcel: the store refuses, nothing changes.
    let r = hx_post(
        &mut w,
        &pack,
        &[
            ("csrf", &csrf),
            ("scan", "1 VASE-1"),
            ("scan", "1 BATT-1"),
            ("scan", "1 MUG-1"),
            ("weight_g", "1400"),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("Not packed: the items do not match."),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("MUG-1 is not in this fulfillment order; take it out."),
        "{}",
        r.body
    );
    assert_eq!(
        app.store
            .get_fulfillment_order(&fo)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "open"
    );
    assert!(app.store.get_packing(&fo).await.unwrap().is_none());
    // Missing an item: refused as well.
    let r = hx_post(&mut w, &pack, &[("csrf", &csrf), ("scan", "1 VASE-1")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("BATT-1: 0 of 1 scanned."), "{}", r.body);
    // A weight that is not one.
    let r = hx_post(
        &mut w,
        &pack,
        &[
            ("csrf", &csrf),
            ("scan", "1 VASE-1"),
            ("scan", "1 BATT-1"),
            ("weight_g", "-5"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"pack-weight\" name=\"weight_g\" type=\"number\" min=\"1\" step=\"1\" inputmode=\"numeric\" value=\"-5\""), "{}", r.body);

    // The battery completes the parcel; fragile and hazmat never share a box.
    let r = hx_post(
        &mut w,
        &scan,
        &[("csrf", &csrf), ("scan", "1 VASE-1"), ("code", "batt-1")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Every item is scanned: weigh the parcel and pack.")
    );
    assert!(r.body.contains("id=\"pack-weight\" name=\"weight_g\" type=\"number\" min=\"1\" step=\"1\" inputmode=\"numeric\" value=\"\" autofocus"), "{}", r.body);
    let r = hx_post(
        &mut w,
        &pack,
        &[
            ("csrf", &csrf),
            ("scan", "1 VASE-1"),
            ("scan", "1 BATT-1"),
            ("weight_g", "1500"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!("{fo} packed in 2 boxes")),
        "{}",
        r.body
    );
    let packing = app.store.get_packing(&fo).await.unwrap().unwrap();
    assert_eq!(packing.plan.packages.len(), 2);
    let fragile = packing
        .plan
        .packages
        .iter()
        .find(|p| p.items.iter().any(|i| i.sku == "VASE-1"))
        .unwrap();
    assert!(fragile.items.iter().all(|i| i.sku == "VASE-1"));
    assert!(fragile.markings.contains(&"FRAGILE".to_string()));
    assert_eq!(packing.weighed_g, Some(1500));
    assert!(
        r.body.contains("<span class=\"marking\">FRAGILE</span>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Bubble wrap"));
    assert!(
        r.body
            .contains(&format!("href=\"/packing/{fo}/packing-slip.pdf\""))
    );
    assert!(r.body.contains(&format!(
        "href=\"/packing/{fo}/packing-slip.pdf?package=2\""
    )));
    assert!(r.body.contains(&format!(
        "href=\"/orders/{number}#fo-{fo}\" id=\"ship-link\""
    )));
    assert!(!r.body.contains("id=\"pack-code\""), "packed once");
    assert_eq!(
        app.store
            .get_fulfillment_order(&fo)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "packed"
    );
    // Packing again is refused by the store.
    let r = hx_post(
        &mut w,
        &pack,
        &[("csrf", &csrf), ("scan", "1 VASE-1"), ("scan", "1 BATT-1")],
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // The packing slips, under the session.
    for (q, status) in [
        ("", 200),
        ("?package=2", 200),
        ("?package=3", 422),
        ("?package=x", 422),
    ] {
        let r = w.get(&format!("/packing/{fo}/packing-slip.pdf{q}")).await;
        assert_eq!(r.status, status, "{q}: {}", r.body);
        if status == 200 {
            assert_eq!(r.headers.get("content-type").unwrap(), "application/pdf");
            assert!(r.body.starts_with("%PDF-"));
        }
    }
    assert_eq!(
        w.get("/packing/SO-000001-1/packing-slip.pdf").await.status,
        404
    );
    let list = w.get("/packing").await;
    assert!(
        list.body.contains(&format!(
            "<th scope=\"row\"><a href=\"/packing/{fo}\">{fo}</a></th>"
        )),
        "{}",
        list.body
    );
}

// ---------------------------------------------------------------------------------------
// Not found, settings, CSV import, layout editor

/// The token of a key just created, from its read-only field.
fn new_token(html: &str) -> Option<String> {
    let marker = "id=\"new-token\" readonly value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pages_answer_with_a_404_page() {
    let app = start("not-found").await;
    let mut anon = Agent::new(&app.base);
    let r = anon.get("/no/such/page").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("<h1>Not found</h1>"), "{}", r.body);
    assert!(r.body.contains("href=\"/\""));
    // The API keeps its own answer.
    let r = anon.get("/api/v1/nope").await;
    assert_eq!(r.status, 404);
    assert!(!r.body.contains("<html"), "{}", r.body);

    let mut a = Agent::new(&app.base);
    a.login("support", PASSWORD).await;
    for path in ["/nope", "/orders/SO-000001/nothing/here", "/settingz?x=1"] {
        let r = a.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body.contains("<h1>Page not found</h1>"), "{}", r.body);
        assert!(
            r.body.contains("aria-label=\"Main\""),
            "navigation is there"
        );
        assert!(r.body.contains("href=\"/orders\""));
        assert_eq!(r.body.matches("<h1").count(), 1);
        assert!(
            r.headers
                .get("content-security-policy")
                .is_some_and(|v| v.to_str().unwrap().contains("script-src 'self'"))
        );
    }
    let r = a.get("/%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert_eq!(r.status, 404);
    assert!(!r.body.contains("<script>alert"), "{}", r.body);
    // Known pages still answer; a POST nowhere is a 404 too.
    assert_eq!(a.get("/orders").await.status, 200);
    assert_eq!(a.post("/nope", &[("csrf", "x")]).await.status, 404);
    // Forbidden pages explain themselves.
    let r = a.get("/settings").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Not allowed"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_users_and_api_keys_that_work() {
    let app = start("settings-users").await;
    let mut admin = Agent::new(&app.base);
    admin.login("admin", PASSWORD).await;
    let page = admin.get("/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"user-form\""));
    assert!(page.body.contains("id=\"key-form\""));
    assert!(
        page.body
            .contains("href=\"/settings\" aria-current=\"page\"")
    );
    let csrf = page.csrf();

    // Refusals keep the input and name the field; nothing is created.
    let r = admin
        .post(
            "/settings/users",
            &[
                ("csrf", &csrf),
                ("username", "ann lee"),
                ("role", "support"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"user-name-err\""), "{}", r.body);
    assert!(r.body.contains("must have at least 8 characters"));
    assert!(r.body.contains("value=\"ann lee\""));
    assert!(app.store.find_user("ann lee").await.unwrap().is_none());
    let r = admin
        .post(
            "/settings/users",
            &[
                ("csrf", &csrf),
                ("username", "bot"),
                ("role", "integration"),
                ("password", "long enough pass"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("a role for API keys"), "{}", r.body);

    let r = admin
        .post(
            "/settings/users",
            &[
                ("csrf", &csrf),
                ("username", "clerk"),
                ("role", "support"),
                ("password", "clerk password 1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = admin.get("/settings").await;
    assert!(page.body.contains("User clerk created with role support"));
    let stored = app.store.find_user("clerk").await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    let r = admin
        .post(
            "/settings/users",
            &[
                ("csrf", &csrf),
                ("username", "clerk"),
                ("role", "readonly"),
                ("password", "another password"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("already exists"));

    // The new user signs in with that password and has the role's rights.
    let mut clerk = Agent::new(&app.base);
    let r = clerk.login("clerk", "clerk password 1").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/");
    assert_eq!(clerk.get("/orders").await.status, 200);
    assert_eq!(clerk.get("/settings").await.status, 403);

    // An API key: shown once, and it authenticates against the API.
    let r = admin
        .post(
            "/settings/api-keys",
            &[("csrf", &csrf), ("name", ""), ("role", "integration")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"key-name-err\""));
    let before = app.store.count_api_keys().await.unwrap();
    let r = admin
        .post(
            "/settings/api-keys",
            &[("csrf", &csrf), ("name", "ERP sync"), ("role", "readonly")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("shown only this once"));
    let token = new_token(&r.body).expect("the token on the page");
    assert!(token.starts_with("ordo_"), "{token}");
    assert_eq!(app.store.count_api_keys().await.unwrap(), before + 1);
    let mut api = Agent::new(&app.base);
    let r = api.get_with_bearer("/api/v1/orders", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The key has its role: readonly may not capture orders.
    let r = api
        .post_json(
            "/api/v1/orders",
            &common::order_json("KEY-1", &[("MUG-1", 1)]),
            &token,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Not shown again.
    let page = admin.get("/settings").await;
    assert!(!page.body.contains(&token));
    assert!(new_token(&page.body).is_none());

    // Managers see the warehouse settings, not users and keys, and may not create either.
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;
    let page = m.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"user-form\""));
    assert!(!page.body.contains("id=\"key-form\""));
    assert!(page.body.contains("id=\"box-form\""));
    let csrf = page.csrf();
    let r = m
        .post(
            "/settings/users",
            &[
                ("csrf", &csrf),
                ("username", "sneaky"),
                ("role", "admin"),
                ("password", "sneaky password"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(app.store.find_user("sneaky").await.unwrap().is_none());
    let r = m
        .post(
            "/settings/api-keys",
            &[("csrf", &csrf), ("name", "x"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.store.count_api_keys().await.unwrap(), before + 1);
    // Without the form's token nothing happens either.
    let r = admin
        .post(
            "/settings/users",
            &[
                ("csrf", "forged"),
                ("username", "forged"),
                ("role", "admin"),
                ("password", "forged password"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(app.store.find_user("forged").await.unwrap().is_none());
    for role in ["warehouse", "support", "readonly"] {
        let mut a = Agent::new(&app.base);
        a.login(role, PASSWORD).await;
        assert_eq!(a.get("/settings").await.status, 403, "{role}");
        let nav = a.get("/orders").await;
        assert!(!nav.body.contains("href=\"/settings\""), "{role}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_services_box_types_and_policies_are_validated() {
    let app = start("settings-warehouse").await;
    let mut a = Agent::new(&app.base);
    a.login("manager", PASSWORD).await;
    let page = a.get("/settings").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();

    // Carrier services: unreadable JSON, then a rule broken, then saved.
    let r = a
        .post(
            "/settings/carrier-services",
            &[("csrf", &csrf), ("services", "[{\"carrier\": ")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("<li>Line 1, column"), "{}", r.body);
    assert!(r.body.contains("[{&quot;carrier&quot;: ") || r.body.contains("[{&#34;carrier&#34;: "));
    let service = |carrier: &str, weight: i64| {
        serde_json::json!({
            "carrier": carrier, "code": "std", "name": "Standard", "level": "standard",
            "transit_days": 2, "max_weight_g": weight,
            "rates": [{"zone": "DE", "max_weight_g": 5000, "price_minor": 490}],
            "cutoffs": [{"location": "WH1", "time": "16:00"}]
        })
    };
    let bad = serde_json::json!([service("dhl", 10000), service("DHL!", 0)]).to_string();
    let r = a
        .post(
            "/settings/carrier-services",
            &[("csrf", &csrf), ("services", &bad)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("Service 2, carrier: Must be a lowercase carrier code.")
    );
    assert!(
        r.body
            .contains("Service 2, max_weight_g: Must be positive.")
    );
    assert!(app.store.carrier_services().await.unwrap().is_empty());
    let good = serde_json::json!([service("dhl", 10000)]).to_string();
    let r = a
        .post(
            "/settings/carrier-services",
            &[("csrf", &csrf), ("services", &good)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let saved = app.store.carrier_services().await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].carrier, "dhl");
    let page = a.get("/settings").await;
    assert!(page.body.contains("1 carrier service saved."));
    assert!(
        page.body.contains("&quot;carrier&quot;: &quot;dhl&quot;")
            || page.body.contains("&#34;carrier&#34;: &#34;dhl&#34;"),
        "{}",
        page.body
    );

    // Box types: errors per field, then added, then edited.
    let before = app.store.box_types().await.unwrap();
    let r = a
        .post(
            "/settings/box-types",
            &[
                ("csrf", &csrf),
                ("code", "XL"),
                ("length_mm", "600"),
                ("width_mm", "wide"),
                ("height_mm", "0"),
                ("max_weight_g", "20000"),
                ("tare_g", "-5"),
                ("outer_length_mm", "610"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for (id, text) in [
        ("box-width_mm-err", "must be a whole number"),
        ("box-height_mm-err", "must be positive"),
        ("box-tare_g-err", "must not be negative"),
        (
            "box-outer_length_mm-err",
            "give all three outside dimensions",
        ),
    ] {
        assert!(
            r.body
                .contains(&format!("<p class=\"field-error\" id=\"{id}\">{text}")),
            "{id}: {}",
            r.body
        );
    }
    assert!(r.body.contains("value=\"wide\""));
    assert_eq!(app.store.box_types().await.unwrap(), before);
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("code", "XL"),
        ("length_mm", "600"),
        ("width_mm", "400"),
        ("height_mm", "400"),
        ("max_weight_g", "20000"),
        ("tare_g", "900"),
        ("cost_minor", "250"),
        ("features", "insulated"),
    ];
    let r = a.post("/settings/box-types", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let xl = app
        .store
        .box_types()
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.code == "XL")
        .expect("XL saved");
    assert_eq!(xl.inner.width_mm, 400);
    assert_eq!(xl.features, ["insulated"]);
    let edit = a.get("/settings?box=XL").await;
    assert!(edit.body.contains("Change box type XL"), "{}", edit.body);
    assert!(
        edit.body
            .contains("id=\"box-tare_g\" name=\"tare_g\" inputmode=\"numeric\" value=\"900\"")
    );
    fields[6] = ("tare_g", "950");
    assert_eq!(a.post("/settings/box-types", &fields).await.status, 303);
    let boxes = app.store.box_types().await.unwrap();
    assert_eq!(boxes.iter().filter(|b| b.code == "XL").count(), 1);
    assert_eq!(boxes.iter().find(|b| b.code == "XL").unwrap().tare_g, 950);

    // Packing policies: shown as CSV, refused with the line, replaced.
    let shown = app.store.packing_policies("").await.unwrap().to_csv();
    let page = a.get("/settings").await;
    assert!(page.body.contains("id=\"policies-csv\""));
    assert!(page.body.contains(shown.lines().next().unwrap()));
    let r = a
        .post(
            "/settings/packing-policies",
            &[("csrf", &csrf), ("csv", "class,padding_mm\nfragile,5000\n")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("<li>Line 2, padding_mm: Must be 0 to 1000.</li>"),
        "{}",
        r.body
    );
    assert_eq!(
        app.store.packing_policies("").await.unwrap().to_csv(),
        shown
    );
    let r = a
        .post(
            "/settings/packing-policies",
            &[("csrf", &csrf), ("csv", "class,padding_mm\nfragile,30\n")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let now = app.store.packing_policies("").await.unwrap();
    assert_eq!(now.policies.len(), 1);
    assert_eq!(now.policies[0].padding_mm, 30);

    // Readers may not change them.
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let csrf_w = w.get("/orders").await.csrf();
    let r = w
        .post(
            "/settings/packing-policies",
            &[("csrf", &csrf_w), ("csv", "class\nhazmat\n")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.store.packing_policies("").await.unwrap().policies.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_imports_preview_without_writing_then_import_the_valid_rows() {
    let app = start("csv-import").await;
    let mut a = Agent::new(&app.base);
    a.login("manager", PASSWORD).await;
    let products = a.get("/products").await;
    assert!(products.body.contains("href=\"/products/import\""));
    let page = a.get("/products/import").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    let csrf = page.csrf();
    let csv = "sku,name,price,barcode,weight_g,category,handling_classes\n\
               CUP-1,\"Cup, small\",8.50,,180,Kitchen,fragile\n\
               MUG-1,,13.00,,,,\n\
               BAD 1,Broken,1.00,,,,\n\
               PAN-1,Pan,abc,,heavy,,glass\n\
               CUP-1,Again,1.00,,,,\n";
    let before = app
        .store
        .list_products(&Default::default())
        .await
        .unwrap()
        .items;
    let r = a
        .post(
            "/products/import",
            &[("csrf", &csrf), ("csv", csv), ("action", "preview")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("<strong>2</strong> rows ready to import, <strong>3</strong> with errors"),
        "{}",
        r.body
    );
    for e in [
        "<li>Line 4, sku: ",
        "<li>Line 5, price: ",
        "<li>Line 5, weight_g: Must be a whole number of grams.</li>",
        "<li>Line 5, handling_classes: ",
        "<li>Line 6, sku: CUP-1 is already on line 2.</li>",
    ] {
        assert!(r.body.contains(e), "{e}: {}", r.body);
    }
    assert!(r.body.contains(">Create</span>"));
    assert!(r.body.contains(">Update</span>"));
    assert!(r.body.contains("id=\"import-button\""));
    // Nothing was written by the preview.
    assert_eq!(
        app.store
            .list_products(&Default::default())
            .await
            .unwrap()
            .items,
        before
    );

    let started = a
        .post(
            "/products/import",
            &[("csrf", &csrf), ("csv", csv), ("action", "import")],
        )
        .await;
    let r = a.finish_import(started).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(
            "Imported 2 product rows: 1 created, 1 updated. 3 rows with errors were skipped"
        ),
        "{}",
        r.body
    );
    let after = app
        .store
        .list_products(&Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(after.len(), before.len() + 1);
    let cup = app.store.get_product("CUP-1").await.unwrap().unwrap();
    assert_eq!(
        (cup.name.as_str(), cup.price.as_str(), cup.weight_g),
        ("Cup, small", "8.50", 180)
    );
    assert_eq!(cup.handling_classes.len(), 1);
    let mug = app.store.get_product("MUG-1").await.unwrap().unwrap();
    // The price changed; what the row left empty was kept.
    assert_eq!(
        (mug.name.as_str(), mug.price.as_str(), mug.weight_g),
        ("Ceramic mug", "13.00", 500)
    );
    assert_eq!(mug.unit_cost, "5.00");
    assert!(app.store.get_product("PAN-1").await.unwrap().is_none());

    // Stock receipts, uploaded as a file: preview, then import.
    let inv = a.get("/inventory").await;
    assert!(inv.body.contains("href=\"/inventory/import\""));
    let receipts = "sku,location,quantity,reference\r\nMUG-1,WH1,10,PO-7\r\nTEA-1,ST1,4,\r\nNOPE-1,WH1,1,\r\nMUG-1,XX9,2,\r\nTEA-1,WH1,-3,\r\n";
    let mug_wh1 = balance(&app, "MUG-1", "WH1").await.on_hand;
    let tea_st1 = 0;
    assert!(
        app.store
            .list_balances(
                &ordo_store::BalanceFilter {
                    sku: Some("TEA-1".into()),
                    location: Some("ST1".into()),
                },
                &Default::default(),
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let moves = app
        .store
        .list_movements(&Default::default(), &Default::default())
        .await
        .unwrap()
        .items
        .len();
    let r = a
        .post_multipart(
            "/inventory/import",
            &[("csrf", &csrf), ("csv", ""), ("action", "preview")],
            &[("file", "receipts.csv", receipts)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for e in [
        "<li>Line 4, sku: Unknown SKU NOPE-1.</li>",
        "<li>Line 5, location: Unknown location XX9.</li>",
        "<li>Line 6, quantity: Must be a positive whole number.</li>",
    ] {
        assert!(r.body.contains(e), "{e}: {}", r.body);
    }
    assert!(r.body.contains(">Receive 10</span>"));
    assert!(r.body.contains("<strong>2</strong> rows ready to import"));
    assert!(
        r.body.contains("MUG-1,WH1,10,PO-7"),
        "the file is kept as text to import"
    );
    assert_eq!(
        app.store
            .list_movements(&Default::default(), &Default::default())
            .await
            .unwrap()
            .items
            .len(),
        moves
    );
    // The import sends the text kept on the preview.
    let text = receipts.replace("\r\n", "\n");
    let started = a
        .post_multipart(
            "/inventory/import",
            &[("csrf", &csrf), ("csv", &text), ("action", "import")],
            &[("file", "", "")],
        )
        .await;
    let r = a.finish_import(started).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Imported 2 receipts (14 units). 3 rows with errors were skipped"),
        "{}",
        r.body
    );
    assert_eq!(balance(&app, "MUG-1", "WH1").await.on_hand, mug_wh1 + 10);
    assert_eq!(balance(&app, "TEA-1", "ST1").await.on_hand, tea_st1 + 4);
    assert_eq!(
        app.store
            .list_movements(&Default::default(), &Default::default())
            .await
            .unwrap()
            .items
            .len(),
        moves + 2
    );
    // All rows valid: back to the list with the summary.
    let started = a
        .post(
            "/inventory/import",
            &[
                ("csrf", &csrf),
                ("csv", "MUG-1,ST1,1"),
                ("action", "import"),
            ],
        )
        .await;
    let r = a.finish_import(started).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/inventory");
    assert!(
        a.get("/inventory")
            .await
            .body
            .contains("Imported 1 receipt (1 units).")
    );
    // Empty input and an unknown header are refused as a whole.
    let r = a
        .post("/inventory/import", &[("csrf", &csrf), ("csv", "  \n")])
        .await;
    assert_eq!(r.status, 422);
    let r = a
        .post(
            "/inventory/import",
            &[("csrf", &csrf), ("csv", "sku,bin\nA,B")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("unknown column"), "{}", r.body);

    // Stock counts: the counted figure replaces the recorded one; a stale expected figure
    // refuses the row with the current one, a duplicate place is refused before writing.
    assert!(inv.body.contains("href=\"/inventory/counts/import\""));
    let mug_st1 = balance(&app, "MUG-1", "ST1").await.on_hand;
    let counts = format!(
        "sku,location,counted,expected,reference\nMUG-1,WH1,7,{},C-1\nMUG-1,ST1,3,{},C-1\nTEA-1,ST1,-1,,\nMUG-1,WH1,2,,\n",
        mug_wh1 + 10,
        mug_st1 + 5
    );
    let r = a
        .post(
            "/inventory/counts/import",
            &[("csrf", &csrf), ("csv", &counts), ("action", "preview")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(">Count 7</span>"), "{}", r.body);
    for e in [
        "<li>Line 4, counted: Must be a whole number, 0 or more.</li>",
        "<li>Line 5, sku: MUG-1 at WH1 is already counted on line 2.</li>",
    ] {
        assert!(r.body.contains(e), "{e}: {}", r.body);
    }
    let started = a
        .post(
            "/inventory/counts/import",
            &[("csrf", &csrf), ("csv", &counts), ("action", "import")],
        )
        .await;
    let r = a.finish_import(started).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Imported 1 count. 3 rows with errors were skipped"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("data-line=\"3\""),
        "the stale count is listed: {}",
        r.body
    );
    assert_eq!(balance(&app, "MUG-1", "WH1").await.on_hand, 7);
    assert_eq!(
        balance(&app, "MUG-1", "ST1").await.on_hand,
        mug_st1,
        "refused: the counter expected another figure"
    );
    let verify = app.store.verify().await.unwrap();
    assert!(verify.is_clean(), "{verify:?}");
    // Someone else's import is not shown to another user.
    let id_url = {
        let started = a
            .post(
                "/inventory/counts/import",
                &[
                    ("csrf", &csrf),
                    ("csv", "MUG-1,WH1,7"),
                    ("action", "import"),
                ],
            )
            .await;
        let at = started.body.find("hx-get=\"").unwrap() + "hx-get=\"".len();
        let end = started.body[at..].find('"').unwrap() + at;
        started.body[at..end].to_string()
    };
    let mut other = Agent::new(&app.base);
    other.login("warehouse", PASSWORD).await;
    assert_eq!(other.get(&id_url).await.status, 404);

    // Roles: support may import neither; warehouse may receive stock but not products.
    let mut s = Agent::new(&app.base);
    s.login("support", PASSWORD).await;
    assert_eq!(s.get("/products/import").await.status, 403);
    let csrf_s = s.get("/orders").await.csrf();
    let r = s
        .post(
            "/inventory/import",
            &[
                ("csrf", &csrf_s),
                ("csv", "MUG-1,WH1,5"),
                ("action", "import"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    assert_eq!(w.get("/inventory/import").await.status, 200);
    assert_eq!(w.get("/products/import").await.status, 403);
    assert!(!w.get("/products").await.body.contains("/products/import"));
    assert_eq!(balance(&app, "MUG-1", "WH1").await.on_hand, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bin_layout_is_edited_and_checked_by_the_layout_rules() {
    let app = start("layout-editor").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/locations/WH1").await;
    assert!(page.body.contains("id=\"layout-form\""), "{}", page.body);
    assert!(page.body.contains("value=\"zone, aisle, bay, level\""));
    let csrf = page.csrf();

    // A bin that does not follow the format, without a sequence: refused by Layout::new.
    let r = w
        .post(
            "/locations/WH1/layout",
            &[
                ("csrf", &csrf),
                ("segments", "aisle, bay, level"),
                ("separator", "."),
                ("serpentine", "1"),
                ("start_x", "0"),
                ("start_y", "0"),
                ("bins", "code,sequence,x_m,y_m\n01.02.A,,1.5,2\nA-1-2,,,\n"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"layout-message\""));
    assert!(
        r.body
            .contains("<li>Bin &quot;A-1-2&quot; has 1 segments; the format expects 3.</li>")
            || r.body
                .contains("<li>Bin &#34;A-1-2&#34; has 1 segments; the format expects 3.</li>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"aisle, bay, level\""), "input kept");
    assert!(app.store.get_layout("WH1").await.unwrap().is_none());

    // Lines that cannot be read, a bad segment, half a start point.
    let r = w
        .post(
            "/locations/WH1/layout",
            &[
                ("csrf", &csrf),
                ("segments", "zone, shelf"),
                ("separator", "-"),
                ("start_x", "3"),
                ("bins", "A-01-01-A,x,,\nA-01-02-A,,1,\n"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"layout-segments-err\""), "{}", r.body);
    assert!(
        r.body
            .contains("id=\"layout-start-err\">give both coordinates")
    );
    assert!(
        r.body
            .contains("<li>Line 1: sequence x is not a whole number")
    );
    assert!(
        r.body
            .contains("<li>Line 2: x_m and y_m must both be numbers")
    );
    let r = w
        .post(
            "/locations/WH1/layout",
            &[
                ("csrf", &csrf),
                ("segments", "zone, zone"),
                ("separator", "-"),
                ("bins", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("id=\"layout-segments-err\">The bin format names zone twice."),
        "{}",
        r.body
    );
    assert!(app.store.get_layout("WH1").await.unwrap().is_none());

    // Saved: one-way aisles, a start point and a bin master.
    let r = w
        .post(
            "/locations/WH1/layout",
            &[
                ("csrf", &csrf),
                ("segments", "zone,aisle,bay,level"),
                ("separator", "-"),
                ("start_x", "1.5"),
                ("start_y", "0"),
                (
                    "bins",
                    "code,sequence,x_m,y_m\nA-01-01-A,,2,1\nA-01-02-A,,2,2\nDOCK,999,,\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/locations/WH1#bins");
    let saved = app.store.get_layout("WH1").await.unwrap().unwrap();
    assert!(!saved.format.serpentine);
    assert_eq!(saved.bins.len(), 3);
    assert_eq!(saved.bins[2].sequence, Some(999));
    assert_eq!(saved.start.unwrap().x_m, 1.5);
    let page = w.get("/locations/WH1").await;
    assert!(
        page.body
            .contains("WH1: layout saved (3 bins in the bin master).")
    );
    assert!(
        page.body
            .contains("one way: every aisle walked the same way")
    );
    assert!(
        page.body.contains("A-01-02-A,,2,2\nDOCK,999,,"),
        "{}",
        page.body
    );

    // Readers get no editor and may not post one.
    let mut ro = Agent::new(&app.base);
    ro.login("readonly", PASSWORD).await;
    let page = ro.get("/locations/WH1").await;
    assert!(!page.body.contains("id=\"layout-form\""));
    let r = ro
        .post(
            "/locations/WH1/layout",
            &[
                ("csrf", &page.csrf()),
                ("segments", "zone"),
                ("separator", "-"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.store
            .get_layout("WH1")
            .await
            .unwrap()
            .unwrap()
            .bins
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_returns_list_filters_by_status() {
    let app = start("returns-list").await;
    let ctx = seed_ctx();
    let ship = ordo_domain::shipment::ShipmentInput {
        fulfillment_order: Some("SO-000001-1".into()),
        ..Default::default()
    };
    app.store
        .create_shipment(ship.validate().unwrap(), &ctx)
        .await
        .unwrap();
    let order = app.store.get_order("SO-000001").await.unwrap().unwrap();
    let sku = order.lines[0].sku.clone();
    let input = ordo_domain::returns::ReturnInput {
        order: Some("SO-000001".into()),
        lines: vec![ordo_domain::returns::ReturnLineInput {
            sku: Some(sku),
            line_no: None,
            quantity: Some(1),
            reason: Some("damaged".into()),
        }],
        resolution: Some("refund".into()),
        method: Some("drop_off".into()),
        notes: None,
        exchange_lines: Vec::new(),
    };
    app.store.create_return(input, &ctx).await.unwrap();

    for role in common::ROLES {
        let mut a = Agent::new(&app.base);
        a.login(role.as_str(), PASSWORD).await;
        let r = a.get("/returns").await;
        assert_eq!(r.status, 200, "{role:?}: {}", r.body);
        assert!(r.body.contains("href=\"/returns\""), "nav link");
        assert!(r.body.contains("RMA-000001"), "{}", r.body);
        assert!(r.body.contains("href=\"/orders/SO-000001\""));
        assert!(r.body.contains("Refund"));
    }
    let mut a = Agent::new(&app.base);
    a.login("admin", PASSWORD).await;
    let rejected = a.get("/returns?status=rejected").await;
    assert_eq!(rejected.status, 200);
    assert!(rejected.body.contains("No returns match."));
    assert!(!rejected.body.contains("RMA-000001"));
    let bad = a.get("/returns?status=lost").await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body
            .contains("Status: choose one of the listed statuses.")
    );
    let order = a.get("/orders/SO-000001").await;
    assert!(
        order.body.contains("id=\"rt-RMA-000001\""),
        "{}",
        order.body
    );
    let other = a.get("/orders/SO-000002").await;
    assert!(other.body.contains("id=\"rt-none\""));
    assert!(!other.body.contains("RMA-000001"));
    let paged = a.get("/returns?cursor=nonsense").await;
    assert_eq!(paged.status, 200);
    assert!(paged.body.contains("First page"));

    // Received defective, the unit waits in quality control until graded.
    app.store
        .return_step(
            "RMA-000001",
            ordo_domain::returns::ReturnStep::Approve,
            None,
            &ctx,
        )
        .await
        .unwrap();
    let rma = app.store.get_return("RMA-000001").await.unwrap().unwrap();
    let sku = rma.lines[0].sku.clone();
    let line_no = rma.lines[0].line_no.to_string();
    let before = balance(&app, &sku, "WH1").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let csrf = w.get("/returns/RMA-000001").await.csrf();
    let (qty, cond) = (format!("qty_{line_no}"), format!("cond_{line_no}"));
    let r = w
        .post(
            "/returns/RMA-000001/receive",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                (&qty, "1"),
                (&cond, "defective"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let qc = balance(&app, &sku, "WH1").await;
    assert_eq!(qc.quality_control, before.quality_control + 1);
    let page = w.get("/returns/RMA-000001").await;
    assert!(page.body.contains("id=\"grade-form\""), "{}", page.body);
    let r = w
        .post(
            "/returns/RMA-000001/grade",
            &[
                ("csrf", &csrf),
                ("sku", &sku),
                ("quantity", "1"),
                ("grade", "restock"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let graded = balance(&app, &sku, "WH1").await;
    assert_eq!(graded.quality_control, before.quality_control);
    assert_eq!(graded.on_hand, before.on_hand + 1);
    let page = w.get("/returns/RMA-000001").await;
    assert!(page.body.contains("id=\"return-graded\""), "{}", page.body);
    assert!(page.body.contains("Restocked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_is_requested_from_the_order_page() {
    let app = start("returns-request").await;
    let ship = ordo_domain::shipment::ShipmentInput {
        fulfillment_order: Some("SO-000001-1".into()),
        ..Default::default()
    };
    app.store
        .create_shipment(ship.validate().unwrap(), &seed_ctx())
        .await
        .unwrap();
    let order = app.store.get_order("SO-000001").await.unwrap().unwrap();
    let line = order.lines.iter().find(|l| l.shipped > 0).unwrap();
    let (sku, shipped) = (line.sku.clone(), line.shipped);

    // Reading roles see the section without the form, and may not post.
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/orders/SO-000001").await;
    assert!(page.body.contains("id=\"returns\""));
    assert!(!page.body.contains("id=\"rt-form\""));
    let csrf = page.csrf();
    let denied = w
        .post(
            "/orders/SO-000001/returns",
            &[("csrf", &csrf), ("sku", &sku), ("quantity", "1")],
        )
        .await;
    assert_eq!(denied.status, 403);

    let mut a = Agent::new(&app.base);
    a.login("support", PASSWORD).await;
    // Not shipped yet: no form.
    let unshipped = a.get("/orders/SO-000002").await;
    assert!(!unshipped.body.contains("id=\"rt-form\""));
    let page = a.get("/orders/SO-000001").await;
    assert!(page.body.contains("id=\"rt-form\""), "{}", page.body);
    assert!(page.body.contains(&format!("<option value=\"{sku}\"")));
    let csrf = page.csrf();
    let too_many = (shipped + 1).to_string();
    let refused = a
        .post(
            "/orders/SO-000001/returns",
            &[
                ("csrf", &csrf),
                ("sku", &sku),
                ("quantity", &too_many),
                ("reason", "damaged"),
                ("resolution", "refund"),
                ("method", "drop_off"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"rt-message\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(&format!("value=\"{too_many}\"")));
    assert!(app.store.get_return("RMA-000001").await.unwrap().is_none());

    let ok = a
        .post(
            "/orders/SO-000001/returns",
            &[
                ("csrf", &csrf),
                ("sku", &sku),
                ("quantity", "1"),
                ("reason", "damaged"),
                ("resolution", "refund"),
                ("method", "drop_off"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), "/orders/SO-000001#returns");
    let rma = app.store.get_return("RMA-000001").await.unwrap().unwrap();
    assert_eq!(rma.order, "SO-000001");
    assert_eq!(rma.lines[0].quantity, 1);
    let after = a.get("/orders/SO-000001").await;
    assert!(
        after.body.contains("RMA-000001 was requested"),
        "{}",
        after.body
    );
    assert!(after.body.contains("id=\"rt-RMA-000001\""));

    // The return page: support approves; the warehouse may not.
    let show = a.get("/returns/RMA-000001").await;
    assert_eq!(show.status, 200, "{}", show.body);
    assert!(show.body.contains("/returns/RMA-000001/approve"));
    assert!(show.body.contains("/returns/RMA-000001/reject"));
    assert!(!show.body.contains("id=\"receive-form\""));
    let wpage = w.get("/returns/RMA-000001").await;
    assert!(!wpage.body.contains("/returns/RMA-000001/approve"));
    let wcsrf = wpage.csrf();
    let denied = w
        .post("/returns/RMA-000001/approve", &[("csrf", &wcsrf)])
        .await;
    assert_eq!(denied.status, 403);
    let csrf = show.csrf();
    let denied = a
        .post(
            "/returns/RMA-000001/receive",
            &[("csrf", &csrf), ("location", "WH1")],
        )
        .await;
    assert_eq!(denied.status, 403);
    let approved = a
        .post("/returns/RMA-000001/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(approved.location(), "/returns/RMA-000001");
    let rma = app.store.get_return("RMA-000001").await.unwrap().unwrap();
    assert_eq!(rma.status.as_str(), "approved");
    // A step the status does not allow is refused with a message.
    let again = a
        .post("/returns/RMA-000001/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 303);
    let shown = a.get("/returns/RMA-000001").await;
    assert!(
        shown.body.contains("cannot take that step"),
        "{}",
        shown.body
    );

    // The warehouse receives the unit as resellable: it is back on hand.
    let before = balance(&app, &sku, "WH1").await;
    let wpage = w.get("/returns/RMA-000001").await;
    assert!(wpage.body.contains("id=\"receive-form\""), "{}", wpage.body);
    let line_no = rma.lines[0].line_no.to_string();
    let qty = format!("qty_{line_no}");
    let cond = format!("cond_{line_no}");
    let received = w
        .post(
            "/returns/RMA-000001/receive",
            &[
                ("csrf", &wcsrf),
                ("location", "WH1"),
                (&qty, "1"),
                (&cond, "resellable"),
            ],
        )
        .await;
    assert_eq!(received.status, 303, "{}", received.body);
    let after = balance(&app, &sku, "WH1").await;
    assert_eq!(after.on_hand, before.on_hand + 1);
    let rma = app.store.get_return("RMA-000001").await.unwrap().unwrap();
    assert_eq!(rma.received.len(), 1);
    let shown = w.get("/returns/RMA-000001").await;
    assert!(shown.body.contains("1 × "), "{}", shown.body);
    // The order page counts the unit back on its line, next to what shipped.
    let order_page = w.get(&format!("/orders/{}", rma.order)).await;
    let lines = order_page.body.split("id=\"lines\"").nth(1).unwrap();
    let lines = &lines[..lines.find("</section>").unwrap()];
    assert!(lines.contains("<th scope=\"col\" class=\"num\">Returned</th>"));
    let rows: Vec<&str> = lines.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), order.lines.len());
    for (row, l) in rows.iter().zip(&order.lines) {
        let want = if l.line_no == rma.lines[0].line_no {
            1
        } else {
            0
        };
        assert!(
            row.contains(&format!("<td class=\"num returned\">{want}</td>")),
            "line {}: {row}",
            l.line_no
        );
    }
    assert_eq!(w.get("/returns/RMA-999999").await.status, 404);
    let list = w.get("/returns").await;
    assert!(list.body.contains("href=\"/returns/RMA-000001\""));
}

/// A platform that refuses every call, as Shopify does with a wrong access token.
async fn refusing_platform() -> String {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

async fn add_channel(app: &common::App, code: &str, kind: &str) {
    let input: ordo_domain::catalog::ChannelInput = serde_json::from_value(serde_json::json!({
        "code": code, "name": format!("{kind} store"), "kind": kind, "currency": "EUR"
    }))
    .unwrap();
    app.store
        .put_channel(
            input.validate().unwrap(),
            &ordo_store::WriteContext {
                actor: "test".into(),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
}

/// The text of the element with `id`, up to the next tag.
fn text_at<'a>(body: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {body}"));
    let rest = &body[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    &rest[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_connections_keep_secrets_masked_and_follow_the_api_rules() {
    const TOKEN: &str = "shpat_abcdefgh1234";
    const HOOK: &str = "whsec_zyxw98765432";
    let app = start("connections").await;
    add_channel(&app, "shop", "shopify").await;
    let platform = refusing_platform().await;
    let mut m = Agent::new(&app.base);
    m.login("manager", PASSWORD).await;

    let list = m.get("/channels").await;
    assert!(list.body.contains("Not connected"), "{}", list.body);
    let page = m.get("/channels/shop").await;
    assert_eq!(page.status, 200);
    for id in [
        "connection-form",
        "sync",
        "mappings",
        "attention",
        "order-import-form",
    ] {
        assert!(page.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(
        !page.body.contains("id=\"sync-form\""),
        "no runs before connecting"
    );
    let csrf = page.csrf();

    // Refused: each error next to its input; the typed credential is not sent back.
    let r = m
        .post(
            "/channels/shop/connection",
            &[
                ("csrf", csrf.as_str()),
                ("base_url", "ftp://shop"),
                ("api_version", "July"),
                ("locations", "777 = NOPE\nno equals sign"),
                ("poll_interval_seconds", "2"),
                ("import_orders", "1"),
                ("secrets.access_token", TOKEN),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for (id, text) in [
        ("conn-base-url-err", "must start with https:// or http://"),
        ("conn-api-version-err", "must look like 2025-07"),
        ("conn-locations-err", "line 2: write the channel"),
        ("conn-poll-err", "must be between 5 and 86400"),
        ("conn-secret-webhook_secret-err", "is required"),
    ] {
        assert!(
            text_at(&r.body, id).contains(text),
            "{id}: {}",
            text_at(&r.body, id)
        );
    }
    assert!(
        r.body
            .contains("aria-describedby=\"conn-secret-webhook_secret-err\"")
    );
    assert!(!r.body.contains("conn-secret-access_token-err"));
    assert!(
        !r.body.contains(TOKEN),
        "a credential came back in the page"
    );
    assert!(text_at(&r.body, "connection-message").contains("type them again"));
    assert!(r.body.contains("value=\"ftp://shop\""), "input kept");
    assert!(
        app.connectors
            .state("shop")
            .connection()
            .await
            .unwrap()
            .is_none()
    );

    // Locations must exist, as in the API.
    let mut good = vec![
        ("csrf", csrf.as_str()),
        ("base_url", platform.as_str()),
        ("api_version", "2025-07"),
        ("locations", "777 = NOPE"),
        ("channel_fulfilment_location", "ST1"),
        ("poll_interval_seconds", "120"),
        ("import_orders", "1"),
        ("push_stock", "1"),
        ("push_tracking", "1"),
        ("secrets.access_token", TOKEN),
        ("secrets.webhook_secret", HOOK),
    ];
    let r = m.post("/channels/shop/connection", &good).await;
    assert_eq!(r.status, 422);
    assert!(text_at(&r.body, "conn-locations-err").contains("777: location NOPE does not exist"));
    good[3] = ("locations", "777 = WH1");
    let r = m.post("/channels/shop/connection", &good).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/channels/shop");
    let page = m.get("/channels/shop").await;
    assert!(
        page.body
            .contains("shop: connection saved; Shopify is now connected.")
    );
    assert!(!page.body.contains(TOKEN) && !page.body.contains(HOOK));
    assert!(page.body.contains("••••1234 stored; leave empty to keep"));
    assert!(page.body.contains("Access token: ••••1234"));
    assert!(page.body.contains("777 → WH1"));
    assert!(page.body.contains("id=\"sync-form\""));
    let stored = app
        .connectors
        .state("shop")
        .connection()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret("access_token"), TOKEN);
    assert_eq!(stored.poll_interval_seconds, 120);
    assert_eq!(stored.channel_fulfilment_location.as_deref(), Some("ST1"));
    let rules = app.store.routing_rules().await.unwrap();
    assert!(
        rules
            .rules
            .to_string()
            .contains("shop: fulfilled by the channel")
    );
    // The API reads what the page saved (one key for both), masked.
    let api = m
        .get_with_bearer("/api/v1/channels/shop/connection", &app.api_key)
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(api.body.contains("••••1234") && !api.body.contains(TOKEN));
    assert!(m.get("/channels").await.body.contains(">Connected</span>"));

    // Saved again without credentials: they are kept; emptied fields are cleared.
    let r = m
        .post(
            "/channels/shop/connection",
            &[
                ("csrf", csrf.as_str()),
                ("base_url", platform.as_str()),
                ("locations", ""),
                ("channel_fulfilment_location", ""),
                ("poll_interval_seconds", "60"),
                ("import_orders", "1"),
                ("push_tracking", "1"),
                ("secrets.access_token", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = app
        .connectors
        .state("shop")
        .connection()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret("access_token"), TOKEN);
    assert_eq!(stored.secret("webhook_secret"), HOOK);
    assert!(!stored.push_stock && stored.push_tracking);
    assert!(stored.locations.is_empty());
    assert_eq!(stored.channel_fulfilment_location, None);
    let rules = app.store.routing_rules().await.unwrap();
    assert!(
        !rules
            .rules
            .to_string()
            .contains("shop: fulfilled by the channel")
    );

    // Sync runs: the result, or the platform's own refusal, as the next page's message.
    let r = m
        .post(
            "/channels/shop/sync",
            &[("csrf", csrf.as_str()), ("what", "tracking")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = m.get("/channels/shop").await;
    assert!(
        page.body.contains("shop: tracking pushed for 0 shipments."),
        "{}",
        page.body
    );
    let r = m
        .post(
            "/channels/shop/sync",
            &[("csrf", csrf.as_str()), ("what", "orders")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = m.get("/channels/shop").await;
    let flash = page
        .body
        .split("class=\"flash bad\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        flash.contains("shop: the channel&#39;s API failed: 401")
            && flash.contains("Invalid API key"),
        "{flash}"
    );
    let r = m
        .post(
            "/channels/shop/sync",
            &[("csrf", csrf.as_str()), ("what", "everything")],
        )
        .await;
    assert_eq!(r.status, 422);

    // An order whose item has no Ordo SKU waits; a mapping imports it.
    let order = ordo_connectors::ChannelOrder {
        external_id: "S-9001".into(),
        state: ordo_connectors::ChannelOrderState::Open,
        input: serde_json::from_value(common::order_json("S-9001", &[("SHOP-MUG-RED", 1)]))
            .unwrap(),
        listing_ids: vec![],
        fulfilled_by_channel: false,
    };
    let state = app.connectors.state("shop");
    let outcome = ordo_connectors::import::import_order(&state, order)
        .await
        .unwrap();
    let ordo_connectors::import::Imported::HeldUnmapped { number, unmapped } = outcome else {
        panic!("captured on hold, not {outcome:?}");
    };
    assert_eq!(unmapped, vec!["SHOP-MUG-RED".to_string()]);
    let page = m.get("/channels/shop").await;
    assert!(page.body.contains("data-order=\"S-9001\""));
    assert!(page.body.contains("no Ordo SKU for SHOP-MUG-RED"));
    assert!(
        page.body
            .contains(&format!("<a href=\"/orders/{number}\">{number}</a>")),
        "the held order is linked"
    );
    let held = m.get(&format!("/orders/{number}")).await;
    assert!(held.body.contains("id=\"unmapped-1\""), "{}", held.body);
    assert!(held.body.contains("Unmapped sku"), "{}", held.body);
    let r = m
        .post(
            "/channels/shop/sku-mappings",
            &[
                ("csrf", csrf.as_str()),
                ("channel_ref", "SHOP-MUG-RED"),
                ("sku", "NOPE"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(text_at(&r.body, "map-sku-err").contains("product NOPE does not exist"));
    assert!(r.body.contains("value=\"SHOP-MUG-RED\""), "input kept");
    let r = m
        .post(
            "/channels/shop/sku-mappings",
            &[
                ("csrf", csrf.as_str()),
                ("channel_ref", "SHOP-MUG-RED"),
                ("sku", "MUG-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = m.get("/channels/shop").await;
    assert!(
        page.body.contains(
            "shop: SHOP-MUG-RED is now sold as MUG-1. Waiting orders retried: 0 imported, 1 mapped and released."
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-ref=\"SHOP-MUG-RED\""));
    assert!(!page.body.contains("data-order=\"S-9001\""));
    let released = m.get(&format!("/orders/{number}")).await;
    assert!(
        !released.body.contains("id=\"unmapped-1\""),
        "{}",
        released.body
    );

    // An item mapped on the order page itself, for this order only.
    let order = ordo_connectors::ChannelOrder {
        external_id: "S-9004".into(),
        state: ordo_connectors::ChannelOrderState::Open,
        input: serde_json::from_value(common::order_json("S-9004", &[("SHOP-TEA-GIFT", 2)]))
            .unwrap(),
        listing_ids: vec![],
        fulfilled_by_channel: false,
    };
    let ordo_connectors::import::Imported::HeldUnmapped { number, .. } =
        ordo_connectors::import::import_order(&state, order)
            .await
            .unwrap()
    else {
        panic!("held");
    };
    let here = format!("/orders/{number}");
    let r = m
        .post(
            &format!("{here}/lines/1/sku"),
            &[("csrf", csrf.as_str()), ("sku", "NOPE-1")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        m.get(&here).await.body.contains("NOPE-1"),
        "the refusal names the SKU"
    );
    let r = m
        .post(
            &format!("{here}/lines/1/sku"),
            &[("csrf", csrf.as_str()), ("sku", "TEA-1")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = m.get(&here).await;
    assert!(
        page.body
            .contains("Line 1 is now TEA-1. Every item is mapped; the order is"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"unmapped-1\""));
    assert!(
        !m.get("/channels/shop")
            .await
            .body
            .contains("data-order=\"S-9004\""),
        "no longer needs attention"
    );
    let order = app.store.get_order(&number).await.unwrap().unwrap();
    assert_eq!(order.lines[0].sku, "TEA-1");
    assert!(order.unmapped_lines.is_empty());
    let mut sup = Agent::new(&app.base);
    sup.login("readonly", PASSWORD).await;
    let c = sup.get("/orders").await.csrf();
    let r = sup
        .post(
            &format!("{here}/lines/1/sku"),
            &[("csrf", c.as_str()), ("sku", "MUG-1")],
        )
        .await;
    assert_eq!(r.status, 403, "a readonly user may not change orders");
    let imported = app
        .store
        .list_orders(
            &ordo_store::OrderFilter {
                channel: Some("shop".into()),
                ..Default::default()
            },
            &ordo_store::PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(imported.items.len(), 2, "S-9001 and S-9004");
    let r = m
        .post(
            "/channels/shop/sku-mappings/delete",
            &[("csrf", csrf.as_str()), ("channel_ref", "SHOP-MUG-RED")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        app.connectors
            .state("shop")
            .mappings(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let r = m
        .post("/channels/shop/attention/retry", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status, 303);
    assert!(
        m.get("/channels/shop")
            .await
            .body
            .contains("shop: no orders were waiting.")
    );

    // Order files: a file is needed, and the report lists what happened.
    let r = m
        .post_multipart(
            "/channels/shop/orders/import",
            &[("csrf", csrf.as_str()), ("format", "ordo")],
            &[],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(text_at(&r.body, "order-import-message").contains("Choose a CSV file"));
    let file = "external_id,currency,email,ship_name,ship_line1,ship_city,ship_postal_code,ship_country,sku,quantity,unit_price\n\
                S-9002,EUR,ann@example.com,Ann Buyer,Main St 1,Berlin,10115,DE,MUG-1,1,12.50\n\
                S-9003,EUR,bob@example.com,Bob Buyer,Ring 2,Hamburg,20095,DE,TEA-1,0,39.00\n";
    for (round, created, known) in [(1, "1", "0"), (2, "0", "1")] {
        let r = m
            .post_multipart(
                "/channels/shop/orders/import",
                &[("csrf", csrf.as_str()), ("format", "auto")],
                &[("file", "orders.csv", file)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let counts = r.body.split("id=\"import-counts\"").nth(1).unwrap();
        assert!(
            counts.contains(&format!("<dt>Imported</dt><dd>{created}</dd>"))
                && counts.contains(&format!("<dt>Already known</dt><dd>{known}</dd>")),
            "round {round}: {counts}"
        );
        let refused = r
            .body
            .split("data-line=\"3\"")
            .nth(1)
            .expect("row 3 refused");
        assert!(refused[..200].contains("quantity"), "{refused}");
        assert!(r.body.contains("1 row was refused: see the report below."));
    }
    let r = m
        .post_multipart(
            "/channels/shop/orders/import",
            &[("csrf", csrf.as_str()), ("format", "auto")],
            &[("file", "orders.csv", "a,b\n1,2\n")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(text_at(&r.body, "order-import-message").contains("matches no known format"));

    // Other kinds of channel: order files only.
    let web = m.get("/channels/web").await;
    assert!(web.body.contains("id=\"order-import-form\""));
    assert!(!web.body.contains("id=\"connection\"") && !web.body.contains("id=\"sync\""));
    let r = m
        .post(
            "/channels/web/connection",
            &[("csrf", csrf.as_str()), ("base_url", "https://x")],
        )
        .await;
    assert_eq!(r.status, 409);

    // Disconnect: credentials go, the page says so.
    let r = m
        .post(
            "/channels/shop/connection/delete",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        app.connectors
            .state("shop")
            .connection()
            .await
            .unwrap()
            .is_none()
    );
    let r = m
        .post(
            "/channels/shop/sync",
            &[("csrf", csrf.as_str()), ("what", "stock")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        m.get("/channels/shop")
            .await
            .body
            .contains("shop is not connected: save its connection first.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_connection_forms_follow_the_roles() {
    let app = start("connection-roles").await;
    add_channel(&app, "amzn", "amazon").await;
    let mut admin = Agent::new(&app.base);
    admin.login("admin", PASSWORD).await;
    let csrf = admin.get("/channels/amzn").await.csrf();
    // Amazon: seller and marketplaces are its own fields.
    let r = admin
        .post(
            "/channels/amzn/connection",
            &[
                ("csrf", csrf.as_str()),
                ("seller_id", ""),
                ("marketplace_ids", " "),
                ("secrets.lwa_client_id", "amzn1.application-oa2-client.x"),
                ("secrets.lwa_client_secret", "secret-value-1"),
                ("secrets.refresh_token", "Atzr|refresh-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(text_at(&r.body, "conn-seller-id-err").contains("is required for Amazon"));
    assert!(text_at(&r.body, "conn-marketplaces-err").contains("at least one marketplace id"));
    let r = admin
        .post(
            "/channels/amzn/connection",
            &[
                ("csrf", csrf.as_str()),
                ("seller_id", "A1SELLER"),
                ("marketplace_ids", "ATVPDKIKX0DER, A2EUQ1WTGCTBG2"),
                ("import_orders", "1"),
                ("secrets.lwa_client_id", "amzn1.application-oa2-client.x"),
                ("secrets.lwa_client_secret", "secret-value-1"),
                ("secrets.refresh_token", "Atzr|refresh-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = app
        .connectors
        .state("amzn")
        .connection()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.marketplace_ids, ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]);
    assert_eq!(stored.base_url, "https://sellingpartnerapi-na.amazon.com");

    let posts: [(&str, &[(&str, &str)]); 7] = [
        ("/channels/amzn/connection", &[("seller_id", "X")]),
        ("/channels/amzn/connection/delete", &[]),
        ("/channels/amzn/sync", &[("what", "tracking")]),
        (
            "/channels/amzn/sku-mappings",
            &[("channel_ref", "A"), ("sku", "MUG-1")],
        ),
        (
            "/channels/amzn/sku-mappings/delete",
            &[("channel_ref", "A")],
        ),
        ("/channels/amzn/attention/retry", &[]),
        ("/channels/amzn/orders/import", &[("format", "ordo")]),
    ];
    for role in ["readonly", "warehouse", "support"] {
        let mut b = Agent::new(&app.base);
        b.login(role, PASSWORD).await;
        let page = b.get("/channels/amzn").await;
        assert_eq!(page.status, 200, "{role}");
        for id in [
            "connection",
            "conn-facts",
            "sync",
            "mappings",
            "attention",
            "order-import",
        ] {
            assert!(page.body.contains(&format!("id=\"{id}\"")), "{role}: {id}");
        }
        for id in [
            "connection-form",
            "disconnect-form",
            "sync-form",
            "mapping-form",
        ] {
            assert!(!page.body.contains(&format!("id=\"{id}\"")), "{role}: {id}");
        }
        assert!(!page.body.contains("secret-value-1") && !page.body.contains("Atzr|refresh-1"));
        // Support captures orders: files and retries are theirs; nothing else is.
        assert_eq!(
            page.body.contains("id=\"order-import-form\""),
            role == "support",
            "{role}"
        );
        let csrf = page.csrf();
        for (path, form) in posts {
            let mut form = form.to_vec();
            form.push(("csrf", csrf.as_str()));
            let r = b.post(path, &form).await;
            let expected = match (role, path) {
                ("support", p) if p.ends_with("/attention/retry") => 303,
                // Allowed, and refused for want of a file.
                ("support", p) if p.ends_with("/orders/import") => 422,
                _ => 403,
            };
            assert_eq!(r.status, expected, "{role} {path}");
        }
    }
    assert!(
        app.connectors
            .state("amzn")
            .connection()
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_opened_from_the_order_page_and_reships() {
    let app = start("claims-page").await;
    let ship = ordo_domain::shipment::ShipmentInput {
        fulfillment_order: Some("SO-000001-1".into()),
        ..Default::default()
    };
    app.store
        .create_shipment(ship.validate().unwrap(), &seed_ctx())
        .await
        .unwrap();
    let order = app.store.get_order("SO-000001").await.unwrap().unwrap();
    let sku = order
        .lines
        .iter()
        .find(|l| l.shipped > 0)
        .unwrap()
        .sku
        .clone();

    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/orders/SO-000001").await;
    assert!(page.body.contains("id=\"claims\""));
    assert!(
        !page.body.contains("id=\"cl-form\""),
        "reading roles get no form"
    );

    let mut a = Agent::new(&app.base);
    a.login("support", PASSWORD).await;
    let page = a.get("/orders/SO-000001").await;
    assert!(page.body.contains("id=\"cl-form\""), "{}", page.body);
    let csrf = page.csrf();
    let ok = a
        .post(
            "/orders/SO-000001/claims",
            &[
                ("csrf", &csrf),
                ("type", "missing_items"),
                ("sku", &sku),
                ("quantity", "1"),
                ("shipment", ""),
                ("resolution", "reship"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), "/orders/SO-000001#claims");
    let claims = app.store.list_claims(Some("SO-000001"), 10).await.unwrap();
    assert_eq!(claims.len(), 1);
    let after = a.get("/orders/SO-000001").await;
    assert!(
        after.body.contains("CLM-000001 was opened"),
        "{}",
        after.body
    );
    assert!(after.body.contains("id=\"cl-list\""));
    let reship = after
        .body
        .split("href=\"/orders/")
        .filter_map(|s| s.split('"').next())
        .find(|n| *n != "SO-000001" && n.starts_with("SO-"))
        .expect("a link to the reshipment order")
        .to_string();
    let reship_order = app.store.get_order(&reship).await.unwrap().unwrap();
    assert_eq!(reship_order.lines[0].sku, sku);
    assert_eq!(reship_order.totals.total, "0.00");

    let refused = a
        .post(
            "/orders/SO-000001/claims",
            &[
                ("csrf", &csrf),
                ("type", "lost"),
                ("sku", &sku),
                ("quantity", "1"),
                ("shipment", ""),
                ("resolution", "reship"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303);
    let page = a.get("/orders/SO-000001").await;
    assert!(
        page.body.contains("a lost parcel names its shipment"),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_prints_labels_and_the_dock_closes_manifests() {
    let app = start("manifests").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/packing/SO-000001-1").await;
    let csrf = page.csrf();
    // Before packing the bench suggests the boxes and writes nothing.
    assert!(
        page.body.contains("id=\"suggested-boxes\""),
        "{}",
        page.body
    );
    let chosen = w.get("/packing/SO-000001-1?box=L").await;
    assert!(
        chosen
            .body
            .contains("Packing in the box chosen: <span id=\"suggested-boxes\">L</span>"),
        "{}",
        chosen.body
    );
    let unknown = w.get("/packing/SO-000001-1?box=NOPE").await;
    assert!(
        unknown.body.contains("unknown box type NOPE"),
        "{}",
        unknown.body
    );
    assert!(
        app.store
            .get_packing("SO-000001-1")
            .await
            .unwrap()
            .is_none()
    );
    // Not packed yet: no label from the bench.
    let r = w
        .post("/packing/SO-000001-1/label", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("No label: SO-000001-1 is open, not packed: pack it first.")
    );
    let r = w
        .post(
            "/packing/SO-000001-1/pack",
            &[("csrf", &csrf), ("scan", "2 MUG-1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // Readers and support may not print labels or close manifests.
    for role in ["readonly", "support"] {
        let mut a = Agent::new(&app.base);
        a.login(role, PASSWORD).await;
        let page = a.get("/manifests").await;
        assert_eq!(page.status, 200);
        let csrf = page.csrf();
        let r = a
            .post("/packing/SO-000001-1/label", &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status, 403, "{role}");
        let r = a
            .post(
                "/manifests",
                &[
                    ("csrf", &csrf),
                    ("location", "WH1"),
                    ("carrier", "own_fleet"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{role}");
    }
    // Without the session's token nothing is shipped.
    let r = w
        .post("/packing/SO-000001-1/label", &[("csrf", "forged")])
        .await;
    assert_eq!(r.status, 403);
    assert!(
        app.store
            .list_shipments(&Default::default(), &Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Without htmx the label is a link on the page the post lands on.
    let r = w
        .post("/packing/SO-000001-1/label", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/packing/SO-000001-1#labels");
    let page = w.get("/packing/SO-000001-1").await;
    assert!(
        page.body
            .contains("SO-000001-1 shipped as SH-000001 (Own fleet, Standard)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("href=\"/shipments/SH-000001/label.pdf\"")
    );
    assert!(
        !page.body.contains("data-open-once"),
        "opened only right after printing"
    );
    assert!(!page.body.contains("id=\"print-label\""));
    let r = w
        .post("/packing/SO-000001-1/label", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 409, "one label per packing");

    // The dock: the shipment waits for own fleet at WH1.
    let page = w.get("/manifests").await;
    let card = &page.body[page
        .body
        .find("id=\"open-WH1-own_fleet\"")
        .expect("the group")..];
    assert!(card.contains("SH-000001"));
    assert!(card.contains("class=\"close-manifest\""));
    let r = w
        .post(
            "/manifests",
            &[("location", "WH1"), ("carrier", "own_fleet")],
        )
        .await;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = w
        .post(
            "/manifests",
            &[
                ("csrf", &csrf),
                ("location", "ST1"),
                ("carrier", "own_fleet"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = w.get(r.location()).await;
    assert!(
        page.body.contains(
            "No manifest closed: No own_fleet shipment at ST1 is waiting for a manifest."
        ),
        "{}",
        page.body
    );
    assert!(
        app.store
            .list_manifests(None, &Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let r = w
        .post(
            "/manifests",
            &[
                ("csrf", &csrf),
                ("location", "WH1"),
                ("carrier", "own_fleet"),
                ("back_location", "WH1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/manifests?location=WH1");
    let page = w.get(r.location()).await;
    // The packed box as weighed by the planner: the mugs and the box itself.
    let grams: i64 = app
        .store
        .get_packing("SO-000001-1")
        .await
        .unwrap()
        .unwrap()
        .packages()
        .iter()
        .map(|p| p.weight_g)
        .sum();
    assert!(grams > 1000, "{grams}");
    assert!(
        page.body.contains(&format!(
            "MF-000001 closed: 1 shipment (1 parcel, {},{:03} g) handed over to Own fleet at WH1.",
            grams / 1000,
            grams % 1000
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"nothing-waiting\""));
    let sh = app.store.get_shipment("SH-000001").await.unwrap().unwrap();
    assert_eq!(sh.status, ordo_domain::shipment::ShipmentStatus::InTransit);

    let pdf = w.get("/manifests/MF-000001/manifest.pdf").await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.body.starts_with("%PDF-"));
    let csv = w.get("/manifests/MF-000001/manifest.csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.body.contains(&sh.tracking_number), "{}", csv.body);
    assert_eq!(w.get("/manifests/MF-000099/manifest.pdf").await.status, 404);
    assert_eq!(w.get("/manifests?location=NOPE").await.status, 404);

    // A tote of no pick job is named as such.
    let r = w.get("/packing?q=PL-000099-T1").await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("there is no pick job PL-000099"),
        "{}",
        r.body
    );
    let report = app.store.verify().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.discrepancies);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_bins_import_by_row_keeps_the_good_rows() {
    let app = start("bins-import").await;
    let mut w = Agent::new(&app.base);
    w.login("warehouse", PASSWORD).await;
    let page = w.get("/locations").await;
    assert!(
        page.body.contains("href=\"/locations/bins/import\""),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let csv = "location,sku,bin\nWH1,MUG-1,A-01-02-A\nWH1,NOPE-1,A-01-01-A\nXX9,TEA-1,A-01-01-A\nWH1,TEA-1,A--01\nWH1,MUG-1,A-01-03-A\nST1,TEA-1,B-02-01-C\n";
    let r = w
        .post(
            "/locations/bins/import",
            &[("csrf", &csrf), ("csv", csv), ("action", "preview")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for e in [
        "<li>Line 3, sku: Unknown SKU NOPE-1.</li>",
        "<li>Line 4, location: Unknown location XX9.</li>",
        "Line 5, bin: A--01 is not a bin of WH1",
        "<li>Line 6, sku: MUG-1 at WH1 is already on line 2.</li>",
    ] {
        assert!(r.body.contains(e), "{e}: {}", r.body);
    }
    assert!(r.body.contains(">Pick from A-01-02-A</span>"), "{}", r.body);
    assert!(
        app.store.sku_bins("WH1").await.unwrap().is_empty(),
        "a preview writes nothing"
    );
    let started = w
        .post(
            "/locations/bins/import",
            &[("csrf", &csrf), ("csv", csv), ("action", "import")],
        )
        .await;
    let r = w.finish_import(started).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Imported 2 pick bins. 4 rows with errors were skipped"),
        "{}",
        r.body
    );
    let wh1 = app.store.sku_bins("WH1").await.unwrap();
    assert_eq!(wh1.len(), 1);
    assert_eq!(
        (wh1[0].sku.as_str(), wh1[0].bin.as_str()),
        ("MUG-1", "A-01-02-A")
    );
    let st1 = app.store.sku_bins("ST1").await.unwrap();
    assert_eq!(st1.len(), 1, "{st1:?}");
    // A readonly user may not import bins.
    let mut r = Agent::new(&app.base);
    r.login("readonly", PASSWORD).await;
    assert_eq!(r.get("/locations/bins/import").await.status, 403);
    assert!(
        !r.get("/locations")
            .await
            .body
            .contains("/locations/bins/import")
    );
}
