//! The back office in a real headless Chromium, driven through chromedriver.
//!
//! One test function and one browser, run step by step: a second browser would compete
//! for the same two cores. Screenshots of each screen go to `target/ui-screenshots/`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, PASSWORD, order_json, start};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use ordo_domain::inventory::AdjustmentInput;
use serde_json::{Value, json};

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// One h1, a title, and a `<label for>` for every visible form control.
const A11Y_CHECK: &str = r#"
const issues = [];
const h1 = document.querySelectorAll('h1').length;
if (h1 !== 1) issues.push('expected one h1, found ' + h1);
if (!document.title.trim()) issues.push('empty title');
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const r = el.getBoundingClientRect();
  const hidden = el.closest('dialog:not([open])') || el.closest('details:not([open])') ||
    (r.width === 0 && r.height === 0 && !el.closest('td.check, th.check'));
  if (hidden) continue;
  const label = el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
  if (!label || !label.textContent.trim()) issues.push('no label: ' + el.outerHTML.slice(0, 90));
}
return issues;
"#;

async fn check_page(c: &Client, what: &str) {
    let issues = c.execute(A11Y_CHECK, vec![]).await.expect("a11y script");
    assert_eq!(issues, json!([]), "{what}: {issues}");
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

async fn path_of(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// Waits until a click-started navigation has left `from`.
async fn wait_navigated(c: &Client, from: &str) {
    let start = Instant::now();
    while path_of(c).await == from && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(c, "h1").await;
}

async fn login(c: &Client, base: &str, user: &str) -> String {
    c.delete_all_cookies().await.unwrap();
    c.goto(&format!("{base}/login")).await.unwrap();
    check_page(c, "login").await;
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_navigated(c, "/login").await;
    path_of(c).await
}

async fn visit(c: &Client, base: &str, path: &str, name: Option<&str>) {
    c.goto(&format!("{base}{path}")).await.unwrap();
    wait_for(c, "h1").await;
    check_page(c, path).await;
    if let Some(n) = name {
        shot(c, n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_office_in_a_real_browser() {
    let required = std::env::var("ORDO_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
        find_program(&["chromedriver"]),
    ) else {
        assert!(
            !required,
            "ORDO_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
        );
        eprintln!(
            "\n*** skipping browser tests: chromium and chromedriver are not installed ***\n"
        );
        return;
    };

    let app = start("browser").await;
    let base = app.base.clone();
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = common::temp_dir("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let c = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to chromedriver");

    // The steps run as a task so the browser is closed even when one fails.
    let client = c.clone();
    let outcome = tokio::spawn(async move { run(&client, &app, &base).await }).await;
    let _ = c.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run(c: &Client, app: &common::App, base: &str) {
    // Not signed in: every page sends the browser to the sign-in form.
    c.goto(&format!("{base}/orders")).await.unwrap();
    wait_for(c, "#username").await;
    assert_eq!(path_of(c).await, "/login?next=%2Forders");
    shot(c, "login").await;

    // readonly: sees everything, can change nothing.
    assert_eq!(login(c, base, "readonly").await, "/");
    visit(c, base, "/orders", None).await;
    assert!(!exists(c, "button[name=action]").await);
    assert!(!exists(c, "input[name=order]").await);
    visit(c, base, "/orders/SO-000001", None).await;
    assert!(!exists(c, ".order-actions").await);
    assert!(!exists(c, "form[action$='/hold']").await);
    visit(c, base, "/inventory", None).await;
    assert!(!exists(c, ".js-open").await);

    // warehouse: starts at the stock grid; may change stock, not orders.
    assert_eq!(login(c, base, "warehouse").await, "/inventory");
    assert!(exists(c, ".js-open").await);
    let nav = text_of(c, "header nav").await;
    assert!(!nav.contains("Dashboard"), "{nav}");
    visit(c, base, "/orders", None).await;
    assert!(!exists(c, "button[value=cancel]").await);
    visit(c, base, "/orders/SO-000001", None).await;
    assert!(!exists(c, ".order-actions").await);

    // support: may manage orders, not stock.
    assert_eq!(login(c, base, "support").await, "/");
    visit(c, base, "/orders", None).await;
    assert!(exists(c, "button[value=cancel]").await);
    visit(c, base, "/inventory", None).await;
    assert!(!exists(c, ".js-open").await);

    // manager and admin: everything.
    assert_eq!(login(c, base, "manager").await, "/");
    assert!(exists(c, "svg[role=img] title").await);
    assert_eq!(login(c, base, "admin").await, "/");
    check_page(c, "dashboard").await;
    shot(c, "dashboard").await;

    // An order captured through the API shows up on the open dashboard without a reload.
    let marker: String = c
        .execute(
            "window.__notReloaded = true; return document.querySelector('#latest-orders').dataset.after;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!marker.is_empty());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut api = Agent::new(base);
    let r = api
        .post_json(
            "/api/v1/orders",
            &order_json("LIVE-1", &[("MUG-1", 1)]),
            &app.api_key,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let number = serde_json::from_str::<Value>(&r.body).unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let first = c
            .execute(
                "const r = document.querySelector('#latest-orders tr'); return r ? r.textContent : '';",
                vec![],
            )
            .await
            .unwrap();
        if first.as_str().unwrap_or("").contains(&number) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{number} did not appear on the dashboard; first row: {first}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let same_page = c
        .execute("return window.__notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the page must not have reloaded");
    shot(c, "dashboard-live").await;

    // Orders list, with bulk actions for admin.
    visit(c, base, "/orders", Some("orders")).await;
    assert!(exists(c, "button[value=hold]").await);

    // Hold, then release, from the order page.
    visit(c, base, "/orders/SO-000002", None).await;
    assert_eq!(text_of(c, "#order-status").await, "Allocated");
    assert!(!exists(c, "form[action$='/release']").await);
    c.find(Locator::Id("hold-reason-select"))
        .await
        .unwrap()
        .select_by_value("fraud_review")
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/hold'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#hold-reason").await;
    assert_eq!(text_of(c, "#order-status").await, "On hold");
    assert!(text_of(c, "#hold-reason").await.contains("Fraud review"));
    assert!(
        text_of(c, ".flash")
            .await
            .contains("SO-000002 is now on hold.")
    );
    assert!(!exists(c, "form[action$='/hold']").await, "no second hold");
    check_page(c, "order on hold").await;
    shot(c, "order").await;
    c.find(Locator::Css("form[action$='/release'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "form[action$='/hold']").await;
    assert_eq!(text_of(c, "#order-status").await, "Allocated");
    assert!(text_of(c, ".flash").await.contains("was released"));
    let o = app.store.get_order("SO-000002").await.unwrap().unwrap();
    assert_eq!(o.status, ordo_domain::order::OrderStatus::Allocated);

    // A count made against a figure that changed meanwhile is refused, showing the new one.
    visit(c, base, "/inventory?sku=MUG-1", Some("inventory")).await;
    let button = c
        .find(Locator::Css(
            "button[data-dialog=dlg-count][data-location=WH1]",
        ))
        .await
        .unwrap();
    let shown: i64 = button
        .attr("data-on-hand")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    button.click().await.unwrap();
    wait_for(c, "#dlg-count[open]").await;
    check_page(c, "count dialog").await;
    assert_eq!(
        text_of(c, "#dlg-count .js-current").await,
        shown.to_string()
    );
    let adjust = AdjustmentInput {
        sku: Some("MUG-1".into()),
        location: Some("WH1".into()),
        state: None,
        delta: Some(4),
        reason: Some("received".into()),
        reference: None,
    };
    app.store
        .write_stock(adjust.validate().unwrap(), &Default::default())
        .await
        .unwrap();
    c.find(Locator::Id("cnt-on-hand"))
        .await
        .unwrap()
        .send_keys("12")
        .await
        .unwrap();
    c.find(Locator::Id("cnt-ref"))
        .await
        .unwrap()
        .send_keys("aisle 3")
        .await
        .unwrap();
    c.find(Locator::Css("#dlg-count button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let message = wait_for(c, "#count-message").await.text().await.unwrap();
    let now = shown + 4;
    assert!(
        message.contains(&format!("on hand is now {now}, not {shown}")),
        "{message}"
    );
    assert!(exists(c, "#dlg-count[open]").await);
    let kept = c
        .find(Locator::Id("cnt-ref"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("aisle 3"));
    check_page(c, "refused count").await;
    shot(c, "inventory-count-refused").await;
    let on_hand_cell = c
        .execute(
            "return document.querySelector('tr[data-location=WH1] .on-hand').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(on_hand_cell, json!(now.to_string()));

    // The remaining screens: structure checks and screenshots.
    visit(c, base, "/inventory/movements", Some("movements")).await;
    visit(c, base, "/products", Some("products")).await;
    visit(c, base, "/locations", Some("locations")).await;
    visit(c, base, "/channels?channel=web&sku=MUG-1", Some("channels")).await;
    visit(c, base, "/orders?status=backordered", None).await;

    // Narrow screens: still one column that fits.
    c.set_window_size(360, 800).await.unwrap();
    visit(c, base, "/", Some("dashboard-360px")).await;
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(0) <= 1,
        "page scrolls sideways by {overflow}"
    );
    visit(c, base, "/orders", Some("orders-360px")).await;
}
