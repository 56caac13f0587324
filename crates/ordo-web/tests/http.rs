//! The back office over plain HTTP: sign-in, lockout, sessions, CSRF and permissions.

mod common;

use common::{Agent, PASSWORD, start};
use ordo_domain::order::OrderStatus;

const PAGES: [&str; 10] = [
    "/",
    "/orders",
    "/orders/SO-000001",
    "/orders/export.csv",
    "/inventory",
    "/inventory/movements",
    "/products",
    "/locations",
    "/channels",
    "/events/stream",
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
    assert_eq!(r.location(), "/inventory", "warehouse lands on inventory");
    assert_eq!(c.get("/").await.location(), "/inventory");

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
        ] {
            let r = a.get(page).await;
            assert_eq!(r.status, 200, "{role:?} {page}: {}", r.body);
            assert_eq!(r.body.matches("<h1").count(), 1, "{page}");
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
