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
use fantoccini::key::Key;
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

fn downloads_dir(app: &common::App) -> PathBuf {
    let dir = app.dir.join("downloads");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for the browser to finish saving `name` into the downloads folder; its bytes.
async fn downloaded(app: &common::App, name: &str) -> Vec<u8> {
    let path = downloads_dir(app).join(name);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let partial = std::fs::read_dir(downloads_dir(app))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        if !partial
            && let Ok(bytes) = std::fs::read(&path)
            && !bytes.is_empty()
        {
            return bytes;
        }
        let have: Vec<_> = std::fs::read_dir(downloads_dir(app))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(
            Instant::now() < deadline,
            "{name} was not downloaded; the folder holds {have:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Status, content type and first bytes of `href`, fetched by the page under its session.
async fn fetch_head(c: &Client, href: &str) -> Value {
    c.execute_async(
        "const done = arguments[arguments.length - 1];
         fetch(arguments[0]).then(r => r.arrayBuffer().then(b => done([r.status,
           r.headers.get('content-type'),
           new TextDecoder().decode(new Uint8Array(b).slice(0, 5))])))
           .catch(e => done(String(e)));",
        vec![json!(href)],
    )
    .await
    .unwrap()
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

/// A screenshot with `css` scrolled to the top of the window.
async fn shot_at(c: &Client, css: &str, name: &str) {
    c.execute(
        "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'});",
        vec![json!(css)],
    )
    .await
    .unwrap();
    shot(c, name).await;
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Marks the page, so a later check can tell htmx swapped part of it without a reload.
async fn mark_page(c: &Client) {
    c.execute("window.__sameDocument = true;", vec![])
        .await
        .unwrap();
}

async fn assert_same_page(c: &Client, what: &str) {
    let same = c
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same, json!(true), "{what}: the page reloaded");
}

/// Waits until the text of `css` contains `text`.
async fn wait_text(c: &Client, css: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = c
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                vec![json!(css)],
            )
            .await
            .unwrap();
        let now = now.as_str().unwrap_or("").to_string();
        if now.contains(text) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {css} to contain {text:?}; it reads {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// Every element matching `css` (at least one) is at least 44 px high: a thumb or a gloved
/// finger hits it on a handheld.
async fn assert_touch_targets(c: &Client, css: &str, what: &str) {
    let found = c
        .execute(
            "const all = [...document.querySelectorAll(arguments[0])]
               .filter(e => e.getBoundingClientRect().width > 0);
             return [all.length, all.filter(e => e.getBoundingClientRect().height < 44)
               .map(e => (e.id || e.className || e.tagName) + ': '
                 + Math.round(e.getBoundingClientRect().height) + 'px')];",
            vec![json!(css)],
        )
        .await
        .unwrap();
    assert!(
        found[0].as_i64().unwrap_or(0) > 0,
        "{what}: nothing matches {css}"
    );
    assert_eq!(found[1], json!([]), "{what}: small touch targets");
}

async fn check_page(c: &Client, what: &str) {
    let issues = c.execute(A11Y_CHECK, vec![]).await.expect("a11y script");
    assert_eq!(issues, json!([]), "{what}: {issues}");
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

async fn text_of(c: &Client, css: &str) -> String {
    // htmx may swap the element between finding it and reading it: find it again.
    let mut last = String::new();
    for _ in 0..20 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = err.to_string(),
            },
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: {last}")
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    // Polls rather than using the driver's wait: a lookup while a form submission is still
    // navigating fails with "aborted by navigation", which is not an answer yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if Instant::now() >= deadline => panic!("waiting for {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
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
            ],
            // A PDF link saves the file, as a label printer's workstation would, rather
            // than opening the viewer: the test then reads what was really downloaded.
            "prefs": {
                "download.default_directory": downloads_dir(&app).display().to_string(),
                "download.prompt_for_download": false,
                "plugins.always_open_pdf_externally": true,
            }
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
    visit(c, base, "/routing", None).await;
    assert!(
        !exists(c, "#rules-json").await,
        "readers get no rules editor"
    );
    assert!(!exists(c, "#fulfillment .fo-form").await);

    // warehouse: starts at its pick jobs; may change stock, not orders.
    assert_eq!(login(c, base, "warehouse").await, "/picking");
    check_page(c, "picking").await;
    visit(c, base, "/inventory", None).await;
    assert!(exists(c, ".js-open").await);
    let nav = text_of(c, "header nav").await;
    assert!(!nav.contains("Dashboard"), "{nav}");
    visit(c, base, "/orders", None).await;
    assert!(!exists(c, "button[value=cancel]").await);
    visit(c, base, "/orders/SO-000001", None).await;
    assert!(!exists(c, ".order-actions").await);
    assert!(exists(c, "#fo-SO-000001-1").await);
    assert!(
        !exists(
            c,
            "#fulfillment .fo-split, #fulfillment .fo-move, #fulfillment .fo-merge"
        )
        .await,
        "warehouse cannot rework orders"
    );
    assert!(
        exists(c, "#fo-SO-000001-1 .fo-ship").await,
        "warehouse ships"
    );
    visit(c, base, "/fulfillment", None).await;
    assert!(exists(c, "#fulfillment-orders a[href='/orders/SO-000001']").await);

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

    fulfillment_steps(c, app, base).await;
    shipping_steps(c, app, base).await;
    routing_steps(c, base).await;
    rule_order_steps(c, base).await;
    warehouse_steps(c, app, base).await;
    manifest_steps(c, app, base).await;
    assert_eq!(login(c, base, "admin").await, "/");
    let rma = return_steps(c, app, base).await;
    csrf_steps(c, app, base).await;
    // Every page of these areas: one h1, a title, a label for every input.
    for path in [
        "/returns".to_string(),
        format!("/returns/{rma}"),
        "/settings".to_string(),
        "/products/import".to_string(),
        "/inventory/import".to_string(),
    ] {
        visit(c, base, &path, None).await;
    }

    // The remaining screens: structure checks and screenshots.
    visit(c, base, "/inventory/movements", Some("movements")).await;
    visit(c, base, "/products", Some("products")).await;
    visit(c, base, "/locations", Some("locations")).await;
    visit(c, base, "/channels?channel=web&sku=MUG-1", Some("channels")).await;
    visit(c, base, "/orders?status=backordered", None).await;
    visit(
        c,
        base,
        "/orders?location=WH1&sort=total_desc",
        Some("orders-sorted"),
    )
    .await;
    assert_eq!(
        text_of(c, "th[aria-sort=descending]").await.trim(),
        "Total ↓"
    );
    settings_steps(c, app, base).await;
    connector_steps(c, app, base).await;

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
    for (path, name) in [
        ("/orders/SO-000004", "order-fulfillment-360px"),
        ("/routing?order=SO-000001", "routing-360px"),
        ("/fulfillment", "fulfillment-360px"),
        ("/shipments", "shipments-360px"),
        ("/channels/shop", "channel-connection-360px"),
    ] {
        visit(c, base, path, None).await;
        let overflow = c
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(0) <= 1,
            "{path} scrolls sideways by {overflow}"
        );
        if path.starts_with("/orders/") {
            shot_at(c, "#fulfillment", name).await;
        } else {
            shot(c, name).await;
        }
    }
}

/// Split a fulfillment order and move part of it on the order page, with htmx swapping the
/// section in place; a move to a location without the stock is refused in the form.
async fn fulfillment_steps(c: &Client, app: &common::App, base: &str) {
    visit(c, base, "/orders/SO-000004", None).await;
    assert_eq!(
        text_of(c, "#fo-SO-000004-1 .fo-where").await,
        "Ships from Main warehouse (WH1) · 3 units"
    );
    mark_page(c).await;
    click(c, "#fo-SO-000004-1 .fo-split summary").await;
    fill(c, "#split-SO-000004-1-1", "1").await;
    check_page(c, "split form").await;
    shot_at(c, "#fulfillment", "order-fulfillment-split-form").await;
    click(c, "#fo-SO-000004-1 .fo-split button[type=submit]").await;
    wait_for(c, "#fo-SO-000004-2").await;
    wait_text(
        c,
        "#fo-message",
        "SO-000004-1 was split: 1 unit now in SO-000004-2.",
    )
    .await;
    assert_same_page(c, "split").await;
    assert!(
        !exists(c, "#fo-SO-000004-1 details[open]").await,
        "forms close after success"
    );
    // The timeline was swapped in too.
    assert!(
        text_of(c, "#timeline")
            .await
            .contains("Fulfillment order split")
    );
    check_page(c, "after split").await;

    // Move one of the remaining two units to the city store.
    click(c, "#fo-SO-000004-1 .fo-move summary").await;
    c.find(Locator::Id("move-SO-000004-1-location"))
        .await
        .unwrap()
        .select_by_value("ST1")
        .await
        .unwrap();
    fill(c, "#move-SO-000004-1-1", "1").await;
    click(c, "#fo-SO-000004-1 .fo-move button[type=submit]").await;
    wait_for(c, "#fo-SO-000004-3[data-location=ST1]").await;
    let message = wait_text(c, "#fo-message", "moved to ST1").await;
    assert!(
        message.contains("1 unit of SO-000004-1 moved to ST1 as SO-000004-3"),
        "{message}"
    );
    assert_same_page(c, "move").await;
    // The lines table (swapped out of band) shows where the units come from now.
    let from = text_of(c, "#lines tbody tr td:last-child").await;
    assert!(from.contains("ST1: 1") && from.contains("WH1: 2"), "{from}");
    check_page(c, "after move").await;
    shot_at(c, "#fulfillment", "order-fulfillment").await;
    let fos: Vec<_> = app
        .store
        .get_order("SO-000004")
        .await
        .unwrap()
        .unwrap()
        .fulfillment_orders
        .iter()
        .map(|f| (f.location.clone(), f.status.as_str(), f.units()))
        .collect();
    assert_eq!(
        fos,
        [
            ("WH1".to_string(), "open", 1),
            ("WH1".to_string(), "open", 1),
            ("ST1".to_string(), "open", 1)
        ]
    );
    // Two at WH1 now: they can be merged back.
    assert!(exists(c, ".fo-merge input[value='SO-000004-2']").await);

    // The teapot is not stocked at the city store: the move is refused, in the form.
    visit(c, base, "/orders/SO-000002", None).await;
    mark_page(c).await;
    click(c, "#fo-SO-000002-1 .fo-move summary").await;
    c.find(Locator::Id("move-SO-000002-1-location"))
        .await
        .unwrap()
        .select_by_value("ST1")
        .await
        .unwrap();
    click(c, "#fo-SO-000002-1 .fo-move button[type=submit]").await;
    let refusal = wait_text(
        c,
        "#fo-SO-000002-1 .fo-move .flash.bad",
        "Not enough stock at ST1",
    )
    .await;
    assert!(
        refusal.contains("TEA-1: 1 needed, 0 available"),
        "{refusal}"
    );
    assert_same_page(c, "refused move").await;
    assert!(exists(c, "#fo-SO-000002-1 .fo-move[open]").await);
    check_page(c, "refused move").await;
    shot_at(c, "#fulfillment", "order-fulfillment-refused").await;

    // The list across orders, filtered to the city store.
    visit(c, base, "/fulfillment", Some("fulfillment")).await;
    c.find(Locator::Id("f-location"))
        .await
        .unwrap()
        .select_by_value("ST1")
        .await
        .unwrap();
    click(c, "form.filters button[type=submit]").await;
    wait_navigated(c, "/fulfillment").await;
    assert!(path_of(c).await.contains("location=ST1"));
    let rows = text_of(c, "#fulfillment-orders tbody").await;
    assert!(rows.contains("SO-000004-3"), "{rows}");
    assert!(!rows.contains("SO-000004-1"), "{rows}");
}

/// Ship a fulfillment order from the order page (a refusal first, in the form), follow the
/// shipment in the new section, fetch its label, and find it in the shipments list.
async fn shipping_steps(c: &Client, app: &common::App, base: &str) {
    visit(c, base, "/orders/SO-000001", None).await;
    assert!(
        text_of(c, "#shipments")
            .await
            .contains("Nothing has shipped yet.")
    );
    mark_page(c).await;
    click(c, "#fo-SO-000001-1 .fo-ship summary").await;
    check_page(c, "ship form").await;
    c.find(Locator::Id("ship-SO-000001-1-carrier"))
        .await
        .unwrap()
        .select_by_value("manual")
        .await
        .unwrap();
    click(c, "#fo-SO-000001-1 .fo-ship button[type=submit]").await;
    let err = wait_for(c, "#ship-SO-000001-1-tracking-err")
        .await
        .text()
        .await
        .unwrap();
    assert!(err.contains("is required for carrier manual"), "{err}");
    assert_same_page(c, "refused shipment").await;
    assert!(exists(c, "#fo-SO-000001-1 .fo-ship[open]").await);
    check_page(c, "refused shipment").await;
    shot_at(c, "#fo-SO-000001-1", "order-ship-refused").await;

    // Own fleet, express, one measured parcel.
    c.find(Locator::Id("ship-SO-000001-1-carrier"))
        .await
        .unwrap()
        .select_by_value("own_fleet")
        .await
        .unwrap();
    fill(c, "#ship-SO-000001-1-service", "express").await;
    fill(c, "#ship-SO-000001-1-p1-weight", "1200").await;
    fill(c, "#ship-SO-000001-1-p1-length", "300").await;
    fill(c, "#ship-SO-000001-1-p1-width", "200").await;
    fill(c, "#ship-SO-000001-1-p1-height", "150").await;
    click(c, "#fo-SO-000001-1 .fo-ship button[type=submit]").await;
    wait_for(c, "#sh-SH-000001").await;
    let message = wait_text(c, "#fo-message", "SO-000001-1 shipped as SH-000001").await;
    assert!(message.contains("(Own fleet, express)"), "{message}");
    assert_same_page(c, "ship").await;
    assert_eq!(text_of(c, "#order-status").await, "Shipped");
    assert_eq!(text_of(c, "#lines td.shipped").await, "2");
    assert!(!exists(c, "#fo-SO-000001-1 .fo-ship").await, "shipped once");
    assert!(
        !exists(c, "form[action$='/cancel']").await,
        "shipped units are not cancelled (the actions were swapped too)"
    );
    let sh = app.store.get_shipment("SH-000001").await.unwrap().unwrap();
    assert_eq!(
        text_of(c, "#sh-SH-000001 .tracking-number").await,
        sh.tracking_number
    );
    assert!(
        text_of(c, "#sh-SH-000001 .packages")
            .await
            .contains("1,200 g · 300 × 200 × 150 mm")
    );
    assert!(text_of(c, "#timeline").await.contains("Shipment created"));
    check_page(c, "shipped").await;
    shot_at(c, "#fulfillment", "order-shipped").await;

    // The label link downloads the PDF under the session.
    let href = c
        .find(Locator::Css("#sh-SH-000001 a.label-pdf"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, "/shipments/SH-000001/label.pdf");
    let got = fetch_head(c, &href).await;
    assert_eq!(got, json!([200, "application/pdf", "%PDF-"]));
    assert!(exists(c, "#sh-SH-000001 a.label-zpl[download]").await);

    // A tracking event, recorded in place.
    click(c, "#sh-SH-000001 .sh-track summary").await;
    check_page(c, "tracking form").await;
    fill(c, "#track-SH-000001-detail", "Hub Berlin").await;
    click(c, "#sh-SH-000001 .sh-track button[type=submit]").await;
    wait_text(c, "#sh-message", "SH-000001: In transit recorded.").await;
    assert_same_page(c, "tracking").await;
    assert_eq!(text_of(c, "#sh-SH-000001 h3 .badge").await, "In transit");
    assert!(
        text_of(c, "#sh-SH-000001 .tracking")
            .await
            .contains("Hub Berlin")
    );
    assert!(!exists(c, "#sh-SH-000001 .sh-void").await, "handed over");
    check_page(c, "in transit").await;
    shot_at(c, "#shipments", "order-shipments").await;

    // The list across orders, filtered by status.
    visit(c, base, "/shipments", Some("shipments")).await;
    let row = text_of(c, "#shipments-list tbody tr").await;
    assert!(
        row.contains("SH-000001") && row.contains(&sh.tracking_number),
        "{row}"
    );
    assert!(exists(c, "#shipments-list a[href='/orders/SO-000001']").await);
    c.find(Locator::Id("f-status"))
        .await
        .unwrap()
        .select_by_value("label_created")
        .await
        .unwrap();
    click(c, "form.filters button[type=submit]").await;
    wait_navigated(c, "/shipments").await;
    assert!(path_of(c).await.contains("status=label_created"));
    assert!(
        text_of(c, "#shipments-list tbody")
            .await
            .contains("No shipments match.")
    );
}

/// Save a rule, see it in force and in the simulator's explanation, replay a proposal,
/// and edit a location's routing settings.
async fn routing_steps(c: &Client, base: &str) {
    visit(c, base, "/routing", None).await;
    assert!(
        text_of(c, "#rules-version")
            .await
            .contains("No rules saved yet")
    );
    fill(
        c,
        "#rules-json",
        r#"[{"name": "keep-wh1-for-bulk", "conditions": {"countries": ["DE"]}, "actions": {"exclude_locations": ["WH1"]}}]"#,
    )
    .await;
    click(c, "#editor button[type=submit]").await;
    wait_text(c, ".flash.ok", "Routing rules saved as version 1 (1 rule).").await;
    assert!(text_of(c, "#rules-version").await.contains("Version 1"));
    assert!(text_of(c, "#rules-table").await.contains("Never from WH1"));
    check_page(c, "rules saved").await;
    shot(c, "routing").await;

    // A save from a stale version is refused (409) with the text kept.
    c.execute(
        "document.querySelector('input[name=expected_version]').value = '0';",
        vec![],
    )
    .await
    .unwrap();
    click(c, "#editor button[type=submit]").await;
    let m = wait_text(c, "#editor-message", "Not saved: version 1 was saved").await;
    assert!(m.contains("by user:admin"), "{m}");
    check_page(c, "stale save").await;

    // The simulator: with WH1 excluded, SO-000001 would ship from the city store.
    mark_page(c).await;
    fill(c, "#sim-order", "SO-000001").await;
    click(c, "#simulation button[type=submit]").await;
    wait_for(c, "#plan-explanation").await;
    assert_same_page(c, "simulate").await;
    assert_eq!(text_of(c, "#plan-rules").await, "keep-wh1-for-bulk");
    let wh1 = text_of(c, "#plan-explanation tr[data-location=WH1]").await;
    assert!(
        wh1.contains("Not chosen") && wh1.contains("Excluded by rule"),
        "{wh1}"
    );
    let st1 = text_of(c, "#plan-explanation tr[data-location=ST1]").await;
    assert!(st1.contains("Chosen"), "{st1}");
    assert!(text_of(c, "#plan-shipments").await.contains("ST1"));
    assert!(
        path_of(c).await.contains("order=SO-000001"),
        "the simulation has a link"
    );
    check_page(c, "simulation").await;
    shot_at(c, "#simulation", "routing-simulation").await;

    // Replay: what a proposal that excludes the city store would have done.
    fill(
        c,
        "#replay-rules",
        r#"[{"name": "no-store", "actions": {"exclude_locations": ["ST1"]}}]"#,
    )
    .await;
    click(c, "#replay button[type=submit]").await;
    wait_for(c, "#replay-result").await;
    let totals = text_of(c, "#replay-totals").await;
    assert!(
        totals.contains("Shipments") && totals.contains("Backordered units"),
        "{totals}"
    );
    check_page(c, "replay").await;
    shot_at(c, "#replay", "routing-replay").await;

    // A location's routing settings, refused field by field, then saved.
    visit(c, base, "/locations/ST1", None).await;
    fill(c, "#handling-cost", "2.5").await;
    fill(c, "#utc-offset", "+1").await;
    click(c, "#routing-form button[type=submit]").await;
    let err = wait_for(c, "#utc-offset-err").await.text().await.unwrap();
    assert!(err.contains("must be an offset such as +01:00"), "{err}");
    assert_eq!(
        c.find(Locator::Id("handling-cost"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("2.5")
    );
    check_page(c, "refused location settings").await;
    shot(c, "location-routing-refused").await;
    fill(c, "#utc-offset", "+01:00").await;
    fill(c, "#daily-capacity", "40").await;
    click(c, "#cannot-ship-hazmat").await;
    click(c, "#routing-form button[type=submit]").await;
    wait_navigated(c, "/locations/ST1/routing").await;
    wait_text(c, ".flash.ok", "ST1: routing settings saved.").await;
    let row = text_of(c, "tbody tr:nth-child(2)").await;
    assert!(
        row.contains("handling 2.50 · 40 a day · not hazmat · UTC+01:00"),
        "{row}"
    );
    shot(c, "locations-routing").await;
    visit(c, base, "/channels/web", Some("channel-split-policy")).await;
}

/// The rule names as the rules table shows them, top to bottom.
async fn rule_rows(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('#rules-table tr[data-rule]')].map(r => r.dataset.rule);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Drags rule row `from` onto the lower half of row `to`. Chromedriver's pointer actions
/// never start an HTML5 drag, so the drag events are dispatched as the browser would.
async fn drag_rule(c: &Client, from: usize, to: usize) {
    c.execute(
        r#"const rows = document.querySelectorAll('#rules-table tr[data-rule]');
           const src = rows[arguments[0]], dst = rows[arguments[1]];
           const dt = new DataTransfer();
           src.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
           const box = dst.getBoundingClientRect();
           dst.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt, clientY: box.bottom - 2}));
           dst.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
           src.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));"#,
        vec![json!(from), json!(to)],
    )
    .await
    .unwrap();
}

/// Rules reordered by dragging and by keyboard, saved as a new version; a reorder from a
/// stale page is refused with the conflict message. The added rules match no order, so
/// later steps route as before.
async fn rule_order_steps(c: &Client, base: &str) {
    visit(c, base, "/routing", None).await;
    fill(
        c,
        "#rules-json",
        r#"[{"name": "keep-wh1-for-bulk", "conditions": {"countries": ["DE"]}, "actions": {"exclude_locations": ["WH1"]}},
            {"name": "iceland-tag", "conditions": {"countries": ["IS"]}, "actions": {"add_tags": ["north"]}},
            {"name": "iceland-priority", "conditions": {"countries": ["IS"]}, "actions": {"set_priority": 5}}]"#,
    )
    .await;
    click(c, "#editor button[type=submit]").await;
    wait_text(
        c,
        ".flash.ok",
        "Routing rules saved as version 2 (3 rules).",
    )
    .await;
    assert_eq!(
        rule_rows(c).await,
        ["keep-wh1-for-bulk", "iceland-tag", "iceland-priority"]
    );
    check_page(c, "rules to reorder").await;

    // Drag the first rule below the last.
    drag_rule(c, 0, 2).await;
    assert_eq!(
        rule_rows(c).await,
        ["iceland-tag", "iceland-priority", "keep-wh1-for-bulk"]
    );
    assert_eq!(
        text_of(c, "#rules-table tbody tr:last-child .rule-index").await,
        "3"
    );
    let said = text_of(c, "#order-status").await;
    assert!(
        said.contains("keep-wh1-for-bulk is now rule 3 of 3"),
        "{said}"
    );

    // Keyboard: Enter on "Move iceland-priority up", twice; the focus moves with the row.
    let up = c
        .find(Locator::Css(
            "button[aria-label='Move iceland-priority up']",
        ))
        .await
        .unwrap();
    up.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert_eq!(
        rule_rows(c).await,
        ["iceland-priority", "iceland-tag", "keep-wh1-for-bulk"]
    );
    assert_eq!(
        c.execute(
            "return document.activeElement.getAttribute('aria-label');",
            vec![]
        )
        .await
        .unwrap(),
        json!("Move iceland-priority down"),
        "at the top the focus moves to the button still usable"
    );
    shot_at(c, "#rules", "routing-reorder").await;
    click(c, "#save-order").await;
    wait_text(
        c,
        ".flash.ok",
        "Rule order saved as version 3: iceland-priority, iceland-tag, keep-wh1-for-bulk.",
    )
    .await;
    assert_eq!(
        rule_rows(c).await,
        ["iceland-priority", "iceland-tag", "keep-wh1-for-bulk"]
    );
    assert!(text_of(c, "#rules-version").await.contains("Version 3"));

    // A page left open while someone saved: its reorder is refused, nothing written.
    c.execute(
        "document.querySelector('#reorder-form input[name=expected_version]').value = '2';",
        vec![],
    )
    .await
    .unwrap();
    drag_rule(c, 2, 0).await;
    click(c, "#save-order").await;
    let m = wait_text(c, "#order-message", "Not saved: version 3 was saved").await;
    assert!(m.contains("after you started from version 2"), "{m}");
    assert_eq!(
        rule_rows(c).await,
        ["iceland-priority", "iceland-tag", "keep-wh1-for-bulk"]
    );
    check_page(c, "stale reorder").await;

    // An order pasted as JSON: first with a wrong type, named by its path, then routed.
    mark_page(c).await;
    let mut order = order_json("paste-1", &[("MUG-1", 1)]);
    order["lines"][0]["quantity"] = json!("one");
    fill(c, "#sim-json", &order.to_string()).await;
    click(c, "#sim-json-form button[type=submit]").await;
    let errors = wait_text(c, "#sim-json-errors", "order.lines[0].quantity").await;
    assert!(errors.contains("invalid type"), "{errors}");
    assert_same_page(c, "pasted order refused").await;
    check_page(c, "pasted order refused").await;
    order["lines"][0]["quantity"] = json!(1);
    fill(c, "#sim-json", &order.to_string()).await;
    click(c, "#sim-json-form button[type=submit]").await;
    wait_text(c, "#plan", "Plan for the pasted order paste-1").await;
    assert_same_page(c, "pasted order").await;
    let wh1 = text_of(c, "#plan-explanation tr[data-location=WH1]").await;
    assert!(wh1.contains("Excluded by rule"), "{wh1}");
    check_page(c, "pasted order plan").await;
    shot_at(c, "#simulation", "routing-simulation-pasted").await;
}

/// A return from the order page: requested, approved and received on its own page, then
/// counted back on the order's line.
async fn return_steps(c: &Client, app: &common::App, base: &str) -> String {
    visit(c, base, "/orders/SO-000001", None).await;
    let returned_before = text_of(c, "#lines tbody tr:first-child td.returned").await;
    assert_eq!(returned_before, "0");
    click(c, ".rt-request summary").await;
    check_page(c, "return request form").await;
    c.find(Locator::Id("rt-sku"))
        .await
        .unwrap()
        .select_by_value("MUG-1")
        .await
        .unwrap();
    fill(c, "#rt-quantity", "1").await;
    shot_at(c, "#returns", "order-return-form").await;
    click(c, "#rt-form button[type=submit]").await;
    let row = wait_for(c, "#returns tr[data-status]").await;
    let id = row.attr("id").await.unwrap().unwrap();
    let rma = id.trim_start_matches("rt-").to_string();
    assert!(rma.starts_with("RMA-"), "{id}");
    let stored = app.store.get_return(&rma).await.unwrap().unwrap();
    assert_eq!(stored.order, "SO-000001");
    assert_eq!(stored.lines[0].sku, "MUG-1");
    assert_eq!(stored.lines[0].quantity, 1);
    shot_at(c, "#returns", "order-return-requested").await;

    // Its own page: approve, then receive the unit as resellable at the warehouse.
    click(c, &format!("#returns a[href='/returns/{rma}']")).await;
    wait_text(c, "h1", &format!("Return {rma}")).await;
    check_page(c, "return page").await;
    shot(c, "return-requested").await;
    let status = text_of(c, "#return-status").await;
    click(c, "form[action$='/approve'] button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while text_of(c, "#return-status").await == status {
        assert!(Instant::now() < deadline, "still {status} after approving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.store
            .get_return(&rma)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "approved"
    );
    check_page(c, "approved return").await;
    let on_hand = |b: ordo_domain::inventory::Balance| b.on_hand;
    let before = app
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
    c.find(Locator::Id("receive-location"))
        .await
        .unwrap()
        .select_by_value("WH1")
        .await
        .unwrap();
    let line_no = stored.lines[0].line_no;
    c.find(Locator::Id(&format!("cond_{line_no}")))
        .await
        .unwrap()
        .select_by_value("resellable")
        .await
        .unwrap();
    shot_at(c, "#receive-form", "return-receive-form").await;
    click(c, "#receive-form button[type=submit]").await;
    wait_text(c, "#return-received", "1 × MUG-1").await;
    check_page(c, "received return").await;
    shot(c, "return-received").await;
    let after = app
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
    assert_eq!(
        on_hand(after),
        on_hand(before) + 1,
        "the unit is back on hand"
    );

    // The order's line counts it as returned.
    visit(c, base, "/orders/SO-000001", None).await;
    assert_eq!(
        text_of(c, "#lines tbody tr:first-child td.returned").await,
        "1"
    );
    shot_at(c, "#lines", "order-returned-line").await;
    visit(c, base, "/returns", Some("returns")).await;
    assert!(exists(c, &format!("a[href='/returns/{rma}']")).await);
    rma
}

/// A form posted without its CSRF field is refused and changes nothing.
async fn csrf_steps(c: &Client, app: &common::App, base: &str) {
    visit(c, base, "/orders/SO-000003", None).await;
    let status = text_of(c, "#order-status").await;
    c.execute(
        "document.querySelector(\"form[action$='/hold'] input[name=csrf]\").remove();",
        vec![],
    )
    .await
    .unwrap();
    click(c, "form[action$='/hold'] button[type=submit]").await;
    wait_text(c, "main", "This form could not be verified").await;
    assert_eq!(text_of(c, "h1").await, "Form expired");
    check_page(c, "csrf refusal").await;
    shot(c, "csrf-refused").await;
    let order = app.store.get_order("SO-000003").await.unwrap().unwrap();
    assert_ne!(order.status.as_str(), "on_hold", "nothing changed");
    visit(c, base, "/orders/SO-000003", None).await;
    assert_eq!(text_of(c, "#order-status").await, status);
}

/// How far the page scrolls sideways (0 when everything fits the window).
async fn sideways(c: &Client) -> i64 {
    c.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        vec![],
    )
    .await
    .unwrap()
    .as_i64()
    .unwrap_or(0)
}

/// The id of the focused element.
async fn focused(c: &Client) -> String {
    c.execute(
        "return document.activeElement ? document.activeElement.id : '';",
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or("")
    .to_string()
}

const MUG_EAN: &str = "4006381000017";
const TEA_EAN: &str = "4006381000024";
const LAMP_EAN: &str = "4006381000031";

/// Types into the focused element as a keyboard-wedge scanner does: the code, then Enter.
async fn scan_keys(c: &Client, field: &str, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while focused(c).await != field {
        assert!(
            Instant::now() < deadline,
            "{field} is not focused (focus on {:?})",
            focused(c).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.active_element()
        .await
        .unwrap()
        .send_keys(&format!("{code}{}", Key::Enter))
        .await
        .unwrap();
}

/// The warehouse at work: pick bins pasted on the location page, a batch released and
/// scanned through with the keyboard alone (a wrong item refused on the way), the printed
/// list, and the pack bench from the scan of an order number to the boxes.
async fn warehouse_steps(c: &Client, app: &common::App, base: &str) {
    // The items carry EAN-13 barcodes, as a scanner reads them; the mug and the teapot break.
    for (sku, name, price, barcode, classes) in [
        ("MUG-1", "Ceramic mug", "12.50", MUG_EAN, vec!["fragile"]),
        ("TEA-1", "Glass teapot", "39.00", TEA_EAN, vec!["fragile"]),
        ("LAMP-1", "Desk lamp", "49.90", LAMP_EAN, vec![]),
    ] {
        let p: ordo_domain::catalog::ProductInput = serde_json::from_value(json!({
            "sku": sku, "name": name, "price": price, "unit_cost": "5.00",
            "currency": "EUR", "weight_g": 500, "category": "Kitchen",
            "barcode": barcode, "handling_classes": classes,
        }))
        .unwrap();
        app.store
            .put_product(p.validate().unwrap(), &Default::default())
            .await
            .unwrap();
    }
    assert_eq!(login(c, base, "warehouse").await, "/picking");

    // Pick bins, pasted as CSV.
    visit(c, base, "/locations/WH1", None).await;
    fill(
        c,
        "#sku-bins-csv",
        "sku,bin\nMUG-1,A-01-02-A\nTEA-1,A-02-01-B",
    )
    .await;
    click(c, "#sku-bins-form button[type=submit]").await;
    wait_navigated(c, "/locations/WH1").await;
    wait_text(c, ".flash.ok", "WH1: 2 pick bins saved.").await;
    assert!(text_of(c, "#sku-bins").await.contains("A-02-01-B"));
    check_page(c, "location bins").await;
    shot_at(c, "#bins", "location-bins").await;

    // Release a batch of three orders.
    visit(c, base, "/picking", None).await;
    assert!(
        exists(c, "#strategy-batch:checked").await,
        "batch by default"
    );
    fill(c, "#max-orders", "3").await;
    shot(c, "picking").await;
    click(c, "#release-form button[type=submit]").await;
    wait_navigated(c, "/picking").await;
    assert_eq!(path_of(c).await, "/picking/PL-000001");
    check_page(c, "pick job").await;
    let released = wait_text(c, "#pick-message", "released 3 fulfillment orders").await;
    assert!(released.contains("(4 units) in 1 list"), "{released}");
    assert_eq!(text_of(c, "#next-bin").await, "A-01-02-A");
    assert_eq!(text_of(c, "#next-sku").await, "MUG-1");
    assert_eq!(text_of(c, "#next-qty").await, "3");
    assert_eq!(focused(c).await, "scan-code", "the scan box has the focus");
    mark_page(c).await;

    // A wrong item: refused, with what was expected; nothing picked.
    scan_keys(c, "scan-code", LAMP_EAN).await;
    let refusal = wait_text(c, "#pick-message", "Wrong item").await;
    assert!(
        refusal.contains("expected MUG-1 at A-01-02-A (3 left)") && refusal.contains(LAMP_EAN),
        "{refusal}"
    );
    assert_same_page(c, "refused scan").await;
    check_page(c, "refused scan").await;
    shot(c, "pick-job-refused").await;

    // Scan, Enter, scan again: the box takes the focus back after every answer.
    scan_keys(c, "scan-code", MUG_EAN).await;
    wait_text(c, "#units-done", "1 of 4 picked").await;
    assert!(
        text_of(c, "#pick-message")
            .await
            .contains("Picked 1 × MUG-1 from A-01-02-A.")
    );
    scan_keys(c, "scan-code", MUG_EAN).await;
    wait_text(c, "#units-done", "2 of 4 picked").await;
    assert_eq!(text_of(c, "#next-qty").await, "1");
    assert_same_page(c, "scans").await;
    check_page(c, "pick job in progress").await;
    shot(c, "pick-job").await;

    // The same job on a handheld: one column, no sideways scrolling, still scanning.
    c.set_window_size(360, 800).await.unwrap();
    assert!(sideways(c).await <= 1, "pick job scrolls sideways");
    shot(c, "pick-job-360px").await;
    c.execute("document.getElementById('scan-code').focus();", vec![])
        .await
        .unwrap();
    scan_keys(c, "scan-code", MUG_EAN).await;
    wait_text(c, "#units-done", "3 of 4 picked").await;
    assert_eq!(text_of(c, "#next-bin").await, "A-02-01-B");
    scan_keys(c, "scan-code", TEA_EAN).await;
    wait_for(c, "#job-done").await;
    assert!(
        text_of(c, "#pick-message")
            .await
            .contains("Pick job complete.")
    );
    assert_eq!(text_of(c, "#job-status").await, "Done");
    assert!(sideways(c).await <= 1, "done job scrolls sideways");
    c.set_window_size(1280, 900).await.unwrap();
    check_page(c, "pick job done").await;
    shot(c, "pick-job-done").await;
    let j = app.store.get_pick_job("PL-000001").await.unwrap().unwrap();
    assert_eq!(j.status, ordo_store::PickJobStatus::Done);
    for fo in &j.progress.orders {
        let f = app
            .store
            .get_fulfillment_order(&fo.fulfillment_order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.status.as_str(), "picked", "{}", f.id);
    }

    // The list on paper.
    visit(c, base, "/picking/PL-000001/print", Some("pick-print")).await;
    let sheet = text_of(c, ".sheet-lines").await;
    let (a, b) = (
        sheet.find("A-01-02-A").unwrap(),
        sheet.find("A-02-01-B").unwrap(),
    );
    assert!(a < b, "walk order: {sheet}");

    // The pack bench: scan the order number, then the items, then the weight.
    visit(c, base, "/packing", Some("packing-find")).await;
    assert!(text_of(c, "#ready").await.contains("SO-000002-1"));
    scan_keys(c, "find-q", "SO-000002").await;
    wait_navigated(c, "/packing").await;
    assert_eq!(path_of(c).await, "/packing/SO-000002-1");
    check_page(c, "pack").await;
    mark_page(c).await;
    scan_keys(c, "pack-code", LAMP_EAN).await;
    wait_text(
        c,
        "#pack-message",
        &format!("Wrong item: {LAMP_EAN} is not in SO-000002-1"),
    )
    .await;
    assert_eq!(text_of(c, "#scan-count").await, "0 of 2 scanned");
    scan_keys(c, "pack-code", MUG_EAN).await;
    wait_text(c, "#scan-count", "1 of 2 scanned").await;
    assert!(
        text_of(c, "#pack-message")
            .await
            .contains("Still to scan: TEA-1 (1 more).")
    );
    check_page(c, "pack in progress").await;
    shot(c, "packing").await;
    c.set_window_size(360, 800).await.unwrap();
    assert!(sideways(c).await <= 1, "pack screen scrolls sideways");
    shot(c, "pack-360px").await;
    c.set_window_size(1280, 900).await.unwrap();
    c.execute("document.getElementById('pack-code').focus();", vec![])
        .await
        .unwrap();
    scan_keys(c, "pack-code", TEA_EAN).await;
    wait_text(c, "#scan-count", "2 of 2 scanned").await;
    // Every item is in: the weight takes the focus, and Enter packs.
    scan_keys(c, "pack-weight", "1100").await;
    wait_for(c, "#packed").await;
    let m = wait_text(c, "#pack-message", "SO-000002-1 packed in 1 box").await;
    assert!(!m.contains("boxes"), "{m}");
    assert_same_page(c, "pack").await;
    assert_eq!(text_of(c, "#fo-status").await, "Packed");
    check_page(c, "packed").await;
    shot(c, "pack-done").await;
    let p = app.store.get_packing("SO-000002-1").await.unwrap().unwrap();
    assert_eq!(p.weighed_g, Some(1100));
    let href = c
        .find(Locator::Css("#package-1 a.slip-pdf"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let got = fetch_head(c, &href).await;
    assert_eq!(got, json!([200, "application/pdf", "%PDF-"]));
    // Ship from the order page.
    click(c, "#ship-link").await;
    wait_navigated(c, "/packing/SO-000002-1").await;
    assert_eq!(path_of(c).await, "/orders/SO-000002");
    assert!(exists(c, "#fo-SO-000002-1 .fo-ship").await);
    assert_eq!(
        c.find(Locator::Css("#fo-SO-000002-1"))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("packed")
    );
    // The packed boxes go as they are: the form needs nothing more.
    mark_page(c).await;
    click(c, "#fo-SO-000002-1 .fo-ship summary").await;
    click(c, "#fo-SO-000002-1 .fo-ship button[type=submit]").await;
    let m = wait_text(c, "#fo-message", "SO-000002-1 shipped as SH-").await;
    assert_same_page(c, "ship the packed order").await;
    assert_eq!(text_of(c, "#order-status").await, "Shipped");
    let shipped = app
        .store
        .list_shipments(
            &ordo_store::ShipmentFilter {
                order: Some("SO-000002".into()),
                location: None,
                status: None,
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(shipped.len(), 1);
    let sh = &shipped[0];
    assert!(m.contains(&sh.id), "{m}");
    assert_eq!(sh.fulfillment_order, "SO-000002-1");
    assert_eq!(
        sh.packages.iter().map(|p| p.weight_g).sum::<i64>(),
        1100,
        "the packages are the packed boxes, weighed on the scale"
    );
    check_page(c, "packed order shipped").await;
    shot_at(c, "#shipments", "order-packed-shipped").await;

    // Its label: a real PDF, served as one and saved by the browser.
    let link = format!("#sh-{} a.label-pdf", sh.id);
    let href = c
        .find(Locator::Css(&link))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, format!("/shipments/{}/label.pdf", sh.id));
    assert_eq!(
        fetch_head(c, &href).await,
        json!([200, "application/pdf", "%PDF-"])
    );
    click(c, &link).await;
    let pdf = downloaded(app, &format!("label-{}-1.pdf", sh.id)).await;
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    assert!(pdf.windows(5).any(|w| w == b"%%EOF"), "a truncated PDF");
    close_other_windows(c).await;

    // Read again from scratch, the order tells the same story.
    visit(c, base, "/orders/SO-000002", None).await;
    assert_eq!(text_of(c, "#order-status").await, "Shipped");
    assert_eq!(
        text_of(c, &format!("#sh-{} .tracking-number", sh.id)).await,
        sh.tracking_number
    );

    tote_steps(c, app, base).await;
}

/// The pack bench from a tote: the tote scanned opens its order, the suggested box and the
/// fragile instructions show before anything is packed (and nothing is written for them),
/// the packer changes the box, packs, and prints the label with the service chosen for it.
async fn tote_steps(c: &Client, app: &common::App, base: &str) {
    let services = json!([
        {"carrier": "own_fleet", "code": "standard", "name": "Standard", "level": "standard",
         "transit_days": 2, "max_weight_g": 30000,
         "rates": [{"zone": "DE", "max_weight_g": 30000, "price_minor": 490}],
         "cutoffs": [{"location": "WH1", "time": "17:00"}]},
        {"carrier": "own_fleet", "code": "express", "name": "Express", "level": "express",
         "transit_days": 1, "weekend_delivery": true, "max_weight_g": 30000,
         "rates": [{"zone": "DE", "max_weight_g": 30000, "price_minor": 990}],
         "cutoffs": [{"location": "WH1", "time": "17:00"}]}
    ]);
    app.store
        .put_carrier_services(
            serde_json::from_value(services).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    // The other tote of the cart, as the pick job screen labels it.
    let job = app.store.get_pick_job("PL-000001").await.unwrap().unwrap();
    let fo = job
        .progress
        .orders
        .iter()
        .map(|o| o.fulfillment_order_id.clone())
        .find(|f| f != "SO-000002-1")
        .expect("a second order on the cart");
    visit(c, base, "/picking/PL-000001", None).await;
    let code = text_of(c, &format!("#totes tr[data-fo='{fo}'] .tote-code")).await;
    assert!(code.starts_with("PL-000001-T"), "{code}");
    shot_at(c, "#totes", "pick-job-totes").await;

    visit(c, base, "/packing", None).await;
    assert_eq!(
        text_of(c, &format!("#ready tr[data-fo='{fo}'] .tote-code")).await,
        code,
        "the bench sees which tote holds it"
    );
    shot_at(c, "#ready", "packing-ready-totes").await;
    assert_touch_targets(c, "#find-q, .find-box button", "pack bench search").await;
    scan_keys(c, "find-q", &code).await;
    wait_navigated(c, "/packing").await;
    assert_eq!(path_of(c).await, format!("/packing/{fo}"));
    check_page(c, "pack from a tote").await;
    // Before packing: the planner's boxes and what the fragile mug needs.
    let suggested = text_of(c, "#suggested-boxes").await;
    let advice = text_of(c, "#suggestion").await;
    assert!(advice.contains("FRAGILE"), "{advice}");
    assert!(advice.contains("Bubble wrap"), "{advice}");
    assert!(exists(c, "#suggestion .instructions li").await, "{advice}");
    let chosen = text_of(c, "#pack-box option[value='']").await;
    assert_eq!(chosen, format!("Suggested: {suggested}"));
    assert!(
        app.store.get_packing(&fo).await.unwrap().is_none(),
        "a suggestion writes nothing"
    );
    assert_eq!(
        app.store
            .get_fulfillment_order(&fo)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "picked"
    );
    shot(c, "pack-suggestion").await;
    c.set_window_size(360, 800).await.unwrap();
    assert!(sideways(c).await <= 1, "pack suggestion scrolls sideways");
    assert_touch_targets(
        c,
        "#pack-code, #pack-qty, #scan button, #pack-weight, #pack-box, #pack-button",
        "pack bench",
    )
    .await;
    shot(c, "pack-suggestion-360px").await;
    c.set_window_size(1280, 900).await.unwrap();

    // A bigger box than suggested, by the packer's choice; then the item and the scale.
    let other = if suggested == "M" { "L" } else { "M" };
    mark_page(c).await;
    c.execute("document.getElementById('pack-code').focus();", vec![])
        .await
        .unwrap();
    scan_keys(c, "pack-code", MUG_EAN).await;
    wait_text(c, "#scan-count", "1 of 1 scanned").await;
    c.find(Locator::Id("pack-box"))
        .await
        .unwrap()
        .select_by_value(other)
        .await
        .unwrap();
    // The plan follows the choice at once, still before anything is packed.
    wait_text(
        c,
        "#suggestion-h",
        &format!("Packing in the box chosen: {other}"),
    )
    .await;
    assert!(text_of(c, "#suggestion").await.contains("FRAGILE"));
    assert!(app.store.get_packing(&fo).await.unwrap().is_none());
    assert_same_page(c, "box chosen").await;
    shot(c, "pack-box-chosen").await;
    c.execute("document.getElementById('pack-weight').focus();", vec![])
        .await
        .unwrap();
    scan_keys(c, "pack-weight", "640").await;
    wait_text(
        c,
        "#pack-message",
        &format!("{fo} packed in 1 box: {other}."),
    )
    .await;
    assert_same_page(c, "pack from a tote").await;
    let packing = app.store.get_packing(&fo).await.unwrap().unwrap();
    assert_eq!(packing.plan.packages[0].box_code, other);

    // Print label: shipped at once with the cheaper service, the label opened to print.
    assert_touch_targets(c, "#print-label, #ship-link", "packed").await;
    check_page(c, "packed from a tote").await;
    shot(c, "pack-from-tote-packed").await;
    click(c, "#print-label").await;
    let m = wait_text(c, "#pack-message", &format!("{fo} shipped as SH-")).await;
    assert!(m.contains("(Own fleet, Standard)"), "{m}");
    assert_same_page(c, "print label").await;
    assert_eq!(text_of(c, "#fo-status").await, "Shipped");
    assert!(!exists(c, "#print-label").await, "one label per shipment");
    let sh = app
        .store
        .list_shipments(
            &ordo_store::ShipmentFilter {
                order: Some(fo[..9].to_string()),
                location: None,
                status: None,
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.fulfillment_order == fo)
        .expect("the shipment of the tote's order");
    assert_eq!(
        (sh.carrier.as_str(), sh.service.as_str()),
        ("own_fleet", "standard")
    );
    assert!(sh.rate_choice.is_some(), "the choice is recorded");
    assert_eq!(sh.packages[0].weight_g, 640);
    assert_eq!(
        text_of(c, &format!("#label-{} .tracking-number", sh.id)).await,
        sh.tracking_number
    );
    let pdf = downloaded(app, &format!("label-{}-1.pdf", sh.id)).await;
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    close_other_windows(c).await;
    check_page(c, "label printed").await;
    shot(c, "pack-label-printed").await;
    c.set_window_size(360, 800).await.unwrap();
    assert!(sideways(c).await <= 1, "printed label scrolls sideways");
    assert_touch_targets(c, "#labels a.label-pdf, #next-link", "printed label").await;
    shot(c, "pack-label-printed-360px").await;
    c.set_window_size(1280, 900).await.unwrap();

    // A tote that is not on the cart is named as such.
    visit(c, base, "/packing?q=PL-000001-T9", None).await;
    assert!(
        text_of(c, "#find-error")
            .await
            .contains("PL-000001 has no tote or list 9.")
    );
}

/// The end of the day at the dock: the labelled shipments wait per carrier and location,
/// the warehouse closes the manifest from the navigation, and prints it.
async fn manifest_steps(c: &Client, app: &common::App, base: &str) {
    let waiting: Vec<String> = app
        .store
        .list_shipments(
            &ordo_store::ShipmentFilter {
                order: None,
                location: Some("WH1".into()),
                status: Some(ordo_domain::shipment::ShipmentStatus::LabelCreated),
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.carrier == "own_fleet")
        .map(|s| s.id)
        .collect();
    assert!(!waiting.is_empty(), "the shipments of the day wait");
    visit(c, base, "/picking", None).await;
    click(c, "header nav a[href='/manifests']").await;
    wait_navigated(c, "/picking").await;
    assert_eq!(path_of(c).await, "/manifests");
    check_page(c, "manifests").await;
    let group = "#open-WH1-own_fleet";
    let card = text_of(c, group).await;
    for id in &waiting {
        assert!(card.contains(id.as_str()), "{id} waits: {card}");
    }
    assert!(
        card.contains(&format!("{} shipment", waiting.len())),
        "{card}"
    );
    assert!(
        !card.contains("SH-000001"),
        "handed over already (in transit): {card}"
    );
    assert!(
        text_of(c, "#closed-manifests tbody")
            .await
            .contains("No manifest closed yet.")
    );
    shot(c, "manifests").await;
    c.set_window_size(360, 800).await.unwrap();
    assert!(sideways(c).await <= 1, "manifests scroll sideways");
    assert_touch_targets(c, ".close-manifest button", "manifests").await;
    shot(c, "manifests-360px").await;
    c.set_window_size(1280, 900).await.unwrap();

    click(c, &format!("{group} .close-manifest button")).await;
    wait_navigated(c, "/manifests").await;
    let flash = wait_text(c, ".flash.ok", "MF-000001 closed:").await;
    assert!(
        flash.contains(&format!(
            "{} shipment{}",
            waiting.len(),
            if waiting.len() == 1 { "" } else { "s" }
        )) && flash.contains("handed over to Own fleet at WH1"),
        "{flash}"
    );
    assert!(!exists(c, group).await, "nothing of theirs waits any more");
    let row = text_of(c, "#closed-manifests tr[data-manifest='MF-000001']").await;
    assert!(row.contains("WH1") && row.contains("Own fleet"), "{row}");
    check_page(c, "manifest closed").await;
    shot(c, "manifests-closed").await;
    assert_touch_targets(c, "#closed-manifests .doc-links a", "manifest links").await;
    for id in &waiting {
        let sh = app.store.get_shipment(id).await.unwrap().unwrap();
        assert_eq!(
            sh.status,
            ordo_domain::shipment::ShipmentStatus::InTransit,
            "{id}"
        );
    }

    // The manifest for the driver: a PDF saved by the browser, and its CSV.
    let pdf = "#closed-manifests tr[data-manifest='MF-000001'] a.manifest-pdf";
    let href = c
        .find(Locator::Css(pdf))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, "/manifests/MF-000001/manifest.pdf");
    assert_eq!(
        fetch_head(c, &href).await,
        json!([200, "application/pdf", "%PDF-"])
    );
    click(c, pdf).await;
    let bytes = downloaded(app, "manifest-MF-000001.pdf").await;
    assert!(bytes.starts_with(b"%PDF-"));
    close_other_windows(c).await;
    let csv = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text().then(t => done([r.status,
               r.headers.get('content-type'), t]))).catch(e => done(String(e)));",
            vec![json!("/manifests/MF-000001/manifest.csv")],
        )
        .await
        .unwrap();
    assert_eq!(csv[0], json!(200), "{csv}");
    assert_eq!(csv[1], json!("text/csv; charset=utf-8"));
    for id in &waiting {
        let sh = app.store.get_shipment(id).await.unwrap().unwrap();
        assert!(
            csv[2].as_str().unwrap().contains(&sh.tracking_number),
            "{id} on the CSV: {csv}"
        );
    }

    // Read again, nothing is left to hand over.
    visit(c, base, "/manifests", None).await;
    assert!(exists(c, "#nothing-waiting").await);

    // readonly sees the day's manifests, closes none.
    assert_eq!(login(c, base, "readonly").await, "/");
    visit(c, base, "/manifests", None).await;
    assert!(exists(c, "tr[data-manifest='MF-000001'] a.manifest-pdf").await);
    assert!(!exists(c, ".close-manifest").await);

    // The day's picking, packing and shipping left the ledger consistent.
    let report = app.store.verify().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.discrepancies);
}

/// Closes the tabs a link opened, back on the first one.
async fn close_other_windows(c: &Client) {
    let first = c.window().await.unwrap();
    for w in c.windows().await.unwrap() {
        if w != first {
            c.switch_to_window(w).await.unwrap();
            c.close_window().await.unwrap();
        }
    }
    c.switch_to_window(first).await.unwrap();
}

/// Settings (an API key created and shown once), a CSV import previewed and imported, and the
/// not-found page; then the same screens at 360px.
async fn settings_steps(c: &Client, app: &common::App, base: &str) {
    visit(c, base, "/settings", None).await;
    assert!(exists(c, "#user-form").await);
    assert!(exists(c, "#box-types tr[data-box]").await);
    fill(c, "#key-name", "Warehouse scanner").await;
    c.find(Locator::Id("key-role"))
        .await
        .unwrap()
        .select_by_value("warehouse")
        .await
        .unwrap();
    click(c, "#key-form button[type=submit]").await;
    let token = wait_for(c, "#new-token").await.prop("value").await.unwrap();
    assert!(token.is_some_and(|t| t.starts_with("ordo_")));
    check_page(c, "settings with a new key").await;
    shot(c, "settings").await;
    // A refused box type shows its errors next to the fields.
    fill(c, "#box-code", "TUBE").await;
    fill(c, "#box-length_mm", "800").await;
    fill(c, "#box-width_mm", "0").await;
    click(c, "#box-form button[type=submit]").await;
    let e = wait_for(c, "#box-width_mm-err").await.text().await.unwrap();
    assert!(e.contains("must be positive"), "{e}");
    check_page(c, "refused box type").await;
    shot_at(c, "#boxes", "settings-box-refused").await;

    // Import products: the preview shows each row's errors and writes nothing.
    visit(c, base, "/products", None).await;
    click(c, "#import-link").await;
    wait_navigated(c, "/products").await;
    check_page(c, "import form").await;
    fill(
        c,
        "#import-csv",
        "sku,name,price,weight_g,handling_classes\nVASE-1,Glass vase,24.90,900,fragile\nBAD SKU,Nothing,1.00,,\n",
    )
    .await;
    click(c, "button[value=preview]").await;
    wait_for(c, "#preview-rows").await;
    assert!(
        text_of(c, "#preview-summary")
            .await
            .contains("1 row ready to import, 1 with errors")
    );
    assert!(
        text_of(c, "tr[data-line='3']")
            .await
            .contains("Line 3, sku:")
    );
    assert!(app.store.get_product("VASE-1").await.unwrap().is_none());
    check_page(c, "import preview").await;
    shot_at(c, "#preview", "import-preview").await;
    click(c, "#import-button").await;
    wait_for(c, "#import-done").await;
    assert!(
        text_of(c, "#import-done")
            .await
            .contains("Imported 1 product row: 1 created, 0 updated.")
    );
    assert!(app.store.get_product("VASE-1").await.unwrap().is_some());

    // Stock receipts, all valid: back on the inventory with the summary.
    visit(c, base, "/inventory/import", None).await;
    fill(c, "#import-csv", "VASE-1,WH1,6,PO-9").await;
    click(c, "button[value=preview]").await;
    wait_for(c, "#import-button").await;
    click(c, "#import-button").await;
    wait_for(c, ".flash.ok").await;
    assert_eq!(path_of(c).await, "/inventory");
    assert!(
        text_of(c, ".flash.ok")
            .await
            .contains("Imported 1 receipt (6 units).")
    );

    // An unknown page: a 404 page with the navigation.
    visit(c, base, "/no-such-page", Some("not-found")).await;
    assert!(exists(c, "header nav a[href='/orders']").await);
    assert!(text_of(c, "h1").await.contains("Page not found"));

    c.set_window_size(360, 800).await.unwrap();
    for (path, name) in [
        ("/settings", "settings-360px"),
        ("/products/import", "import-360px"),
        ("/locations/WH1", "location-layout-360px"),
        ("/no-such-page", "not-found-360px"),
    ] {
        visit(c, base, path, None).await;
        let overflow = sideways(c).await;
        assert!(overflow <= 1, "{path} scrolls sideways by {overflow}");
        shot(c, name).await;
    }
    visit(c, base, "/inventory/import", None).await;
    fill(c, "#import-csv", "MUG-1,WH1,2,PO-1\nNOPE,WH1,1,\n").await;
    click(c, "button[value=preview]").await;
    wait_for(c, "#preview-rows").await;
    assert!(sideways(c).await <= 1, "import preview scrolls sideways");
    shot_at(c, "#preview", "import-preview-360px").await;
    c.set_window_size(1280, 900).await.unwrap();
}

/// A Shopify channel connected from its page: a refused save shows the error at its field,
/// a saved one shows its credentials masked (never in the page), then a SKU mapping
/// imports the order that waited for it, and an order file gets its report. A readonly
/// user sees the same cards without their forms.
async fn connector_steps(c: &Client, app: &common::App, base: &str) {
    const TOKEN: &str = "shpat_browser_abcd1234";
    const HOOK: &str = "whsec_browser_wxyz9876";
    let channel: ordo_domain::catalog::ChannelInput = serde_json::from_value(
        json!({"code": "shop", "name": "Shopify store", "kind": "shopify", "currency": "EUR"}),
    )
    .unwrap();
    let ctx = ordo_store::WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    };
    app.store
        .put_channel(channel.validate().unwrap(), &ctx)
        .await
        .unwrap();
    // An order from the shop whose item has no Ordo SKU yet: held until it is mapped.
    let order = ordo_connectors::ChannelOrder {
        external_id: "S-7001".into(),
        state: ordo_connectors::ChannelOrderState::Open,
        input: serde_json::from_value(order_json("S-7001", &[("SHOP-TEA-GLASS", 1)])).unwrap(),
        listing_ids: vec![],
        fulfilled_by_channel: false,
    };
    ordo_connectors::import::import_order(&app.connectors.state("shop"), order)
        .await
        .unwrap();

    visit(c, base, "/channels", None).await;
    let row = text_of(c, "tbody tr:has(a[href='/channels/shop'])").await;
    assert!(row.contains("Not connected"), "{row}");
    visit(c, base, "/channels/shop", None).await;
    assert_eq!(text_of(c, "#conn-status").await, "Not connected");
    assert!(
        text_of(c, "#attention-rows")
            .await
            .contains("no Ordo SKU for SHOP-TEA-GLASS")
    );
    shot(c, "channel-connect").await;

    // No webhook secret: refused, the error next to its input.
    fill(c, "#conn-base-url", "https://shop.example.com").await;
    fill(c, "#conn-locations", "65432109876 = WH1").await;
    fill(c, "#conn-secret-access_token", TOKEN).await;
    click(c, "#connection-form button[type=submit]").await;
    let e = wait_for(c, "#conn-secret-webhook_secret-err")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(e, "is required");
    let invalid = c
        .find(Locator::Id("conn-secret-webhook_secret"))
        .await
        .unwrap()
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    assert!(!exists(c, "#conn-secret-access_token-err").await);
    assert!(
        text_of(c, "#connection-message")
            .await
            .contains("type them again")
    );
    assert!(
        !c.source().await.unwrap().contains(TOKEN),
        "a credential came back"
    );
    check_page(c, "refused connection").await;
    shot_at(c, "#connection", "channel-connection-refused").await;

    fill(c, "#conn-secret-access_token", TOKEN).await;
    fill(c, "#conn-secret-webhook_secret", HOOK).await;
    click(c, "#connection-form button[type=submit]").await;
    wait_text(
        c,
        ".flash.ok",
        "shop: connection saved; Shopify is now connected.",
    )
    .await;
    assert_eq!(text_of(c, "#conn-status").await, "Connected");
    let facts = text_of(c, "#conn-facts").await;
    assert!(
        facts.contains("Access token: ••••1234") && facts.contains("Webhook secret: ••••9876"),
        "{facts}"
    );
    assert!(facts.contains("65432109876 → WH1"), "{facts}");
    let html = c.source().await.unwrap();
    assert!(
        !html.contains(TOKEN) && !html.contains(HOOK),
        "a credential is in the page"
    );
    check_page(c, "connected").await;
    shot(c, "channel-connected").await;

    // A sync run: its result as the message.
    click(c, "#sync-form button[value=tracking]").await;
    wait_text(c, ".flash.ok", "shop: tracking pushed for 0 shipments.").await;

    // A mapping: an unknown SKU is refused at its field; a known one releases the order.
    fill(c, "#map-ref", "SHOP-TEA-GLASS").await;
    fill(c, "#map-sku", "TEA-9").await;
    click(c, "#mapping-form button[type=submit]").await;
    let e = wait_for(c, "#map-sku-err").await.text().await.unwrap();
    assert!(e.contains("product TEA-9 does not exist"), "{e}");
    check_page(c, "refused mapping").await;
    fill(c, "#map-sku", "TEA-1").await;
    click(c, "#mapping-form button[type=submit]").await;
    wait_text(
        c,
        ".flash.ok",
        "SHOP-TEA-GLASS is now sold as TEA-1. Waiting orders retried: 0 imported, 1 mapped and released.",
    )
    .await;
    assert!(
        text_of(c, "#mapping-rows tr[data-ref='SHOP-TEA-GLASS']")
            .await
            .contains("TEA-1")
    );
    assert!(exists(c, "#no-attention").await);
    shot_at(c, "#mappings", "channel-mappings").await;

    // An order file in Ordo's own format: the page shows the report.
    let csv = app.dir.join("shop-orders.csv");
    std::fs::write(
        &csv,
        "external_id,currency,email,customer_name,ship_name,ship_line1,ship_city,ship_postal_code,ship_country,sku,quantity,unit_price\n\
         S-7002,EUR,ann@example.com,Ann Buyer,Ann Buyer,Main St 1,Berlin,10115,DE,MUG-1,2,12.50\n\
         S-7003,EUR,bob@example.com,Bob Buyer,Bob Buyer,Ring 2,Hamburg,20095,DE,TEA-1,many,39.00\n",
    )
    .unwrap();
    c.find(Locator::Id("order-file"))
        .await
        .unwrap()
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    c.find(Locator::Id("order-format"))
        .await
        .unwrap()
        .select_by_value("ordo")
        .await
        .unwrap();
    click(c, "#order-import-form button[type=submit]").await;
    wait_for(c, "#import-report").await;
    let counts = text_of(c, "#import-counts").await;
    assert!(
        counts.contains("Rows read\n2") && counts.contains("Imported\n1"),
        "{counts}"
    );
    let refused = text_of(c, "#import-errors tr[data-line='3']").await;
    assert!(refused.contains("quantity"), "{refused}");
    wait_text(
        c,
        ".flash.bad",
        "Order file read: 1 order in 2 rows. 1 imported",
    )
    .await;
    assert!(
        app.store
            .list_orders(
                &ordo_store::OrderFilter {
                    channel: Some("shop".into()),
                    q: Some("S-7002".into()),
                    ..Default::default()
                },
                &ordo_store::PageRequest::default(),
            )
            .await
            .unwrap()
            .items
            .iter()
            .any(|o| o.external_id == "S-7002")
    );
    check_page(c, "order file report").await;
    shot_at(c, "#order-import", "channel-order-import").await;

    // readonly: every card, no form, no credential.
    assert_eq!(login(c, base, "readonly").await, "/");
    visit(c, base, "/channels/shop", Some("channel-readonly")).await;
    for id in [
        "#conn-facts",
        "#sync-status",
        "#mapping-rows",
        "#attention",
        "#order-import",
    ] {
        assert!(exists(c, id).await, "readonly: {id}");
    }
    for id in [
        "#connection-form",
        "#disconnect-form",
        "#sync-form",
        "#mapping-form",
        "#order-import-form",
        "#mapping-rows button",
    ] {
        assert!(!exists(c, id).await, "readonly: {id}");
    }
    let html = c.source().await.unwrap();
    assert!(!html.contains(TOKEN) && !html.contains(HOOK));
    assert_eq!(login(c, base, "admin").await, "/");
}
