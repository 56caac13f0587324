//! A channel's link to its platform, on the channel page: the connection (credentials shown
//! masked, never sent back to the browser), sync status and manual runs, SKU mappings,
//! orders kept back for attention, and order CSV imports. The rules and permissions are the
//! API's (`/api/v1/channels/{code}/…`): Read to see, ManageCatalog to change the connection
//! or mappings and run the sync, CaptureOrders to import files and retry waiting orders.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use ordo_connectors::csv_import::CsvFormat;
use ordo_connectors::import::{
    FileImportReport, Imported, ensure_channel_fulfilment_rule, import_file, retry_attention,
};
use ordo_connectors::settings::{Connection, ConnectionInput, ConnectorKind};
use ordo_connectors::sync::{Backlog, SyncFailure, SyncOverview};
use ordo_domain::catalog::Channel;
use ordo_domain::{FieldError, Problem};
use ordo_store::Permission;

use crate::WebState;
use crate::catalog::{SettingsForm, channel_response};
use crate::error::{WebError, WebResult, sentence};
use crate::form::encode;
use crate::orders::Opt;
use crate::session::{Auth, Posted, Upload};
use crate::view::{fmt_time, humanize};

/// Mappings shown per page.
const MAPPINGS_PAGE: i64 = 100;
/// Orders waiting for attention shown on the page (the API lists them all).
const ATTENTION_SHOWN: i64 = 100;

/// One credential input: the stored value only ever appears masked, as the placeholder.
pub(crate) struct SecretField {
    /// `secrets.access_token`: the input's name and its errors' field.
    pub field: String,
    pub id: String,
    pub label: String,
    pub placeholder: String,
    pub stored: bool,
}

pub(crate) struct Switch {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub(crate) struct ErrorRow {
    pub at: String,
    pub operation: String,
    pub message: String,
}

pub(crate) struct SyncView {
    pub last_import: String,
    pub last_stock_push: String,
    pub last_tracking_push: String,
    pub orders_imported: u64,
    pub stock_updates_pushed: u64,
    pub trackings_pushed: u64,
    pub backlog_stock: usize,
    pub backlog_trackings: usize,
    pub backlog_attention: usize,
    pub errors: Vec<ErrorRow>,
}

pub(crate) struct AttentionRow {
    pub external_id: String,
    /// The Ordo order held for it, when one was captured.
    pub number: Option<String>,
    pub reason: String,
    pub unmapped: String,
    pub since: String,
}

pub(crate) struct RowErrorView {
    pub line: u64,
    pub column: String,
    pub reason: String,
}

pub(crate) struct ReportView {
    pub rows: u64,
    pub orders: usize,
    pub created: usize,
    pub already_known: usize,
    pub cancelled: usize,
    pub needs_attention: usize,
    pub skipped: usize,
    pub errors: Vec<RowErrorView>,
}

/// The cards the channel page shows below the channel itself.
pub(crate) struct Cards {
    /// Shopify, WooCommerce, Amazon or eBay: the channel has a connection.
    pub connectable: bool,
    pub kind_label: String,
    pub is_shopify: bool,
    pub is_amazon: bool,
    /// Where the platform sends its webhooks, when it has any.
    pub webhook_path: Option<String>,
    pub can_edit: bool,
    pub can_capture: bool,
    pub connected: bool,
    /// The stored connection cannot be read (the secret key changed).
    pub unreadable: Option<String>,
    /// The stored connection as facts (credentials masked).
    pub facts: Vec<(&'static str, String)>,
    pub form: SettingsForm,
    pub secrets: Vec<SecretField>,
    pub switches: Vec<Switch>,
    pub fulfilment_opts: Vec<Opt>,
    pub sync: Option<SyncView>,
    pub show_mappings: bool,
    pub mappings: Vec<(String, String)>,
    pub mappings_paged: bool,
    pub mappings_next: Option<String>,
    pub mapping_form: SettingsForm,
    pub show_attention: bool,
    pub attention: Vec<AttentionRow>,
    pub attention_more: bool,
    pub format_opts: Vec<Opt>,
    pub import_message: Option<String>,
    pub report: Option<ReportView>,
}

/// What a refused or finished POST hands back to the page.
#[derive(Default)]
pub(crate) struct Given {
    pub connection: Option<SettingsForm>,
    pub mapping: Option<SettingsForm>,
    pub import_format: Option<String>,
    pub import_message: Option<String>,
    pub report: Option<FileImportReport>,
}

fn internal(e: impl std::fmt::Display) -> WebError {
    WebError::Internal(format!("connector: {e}"))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn secret_label(name: &str) -> String {
    match name {
        "lwa_client_id" => "LWA client id".into(),
        "lwa_client_secret" => "LWA client secret".into(),
        "oauth_token" => "OAuth token".into(),
        other => humanize(other),
    }
}

fn kind_label(kind: ConnectorKind) -> &'static str {
    match kind {
        ConnectorKind::Shopify => "Shopify",
        ConnectorKind::Woocommerce => "WooCommerce",
        ConnectorKind::Amazon => "Amazon",
        ConnectorKind::Ebay => "eBay",
    }
}

/// `remote = LOCAL` lines, as the form's textarea shows them.
fn locations_text(locations: &BTreeMap<String, String>) -> String {
    locations
        .iter()
        .map(|(remote, local)| format!("{remote} = {local}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn yes_no(b: bool) -> String {
    if b { "Yes".into() } else { "No".into() }
}

/// The form as the stored connection (or a new one's defaults) fills it.
fn connection_form(kind: ConnectorKind, stored: Option<&Connection>) -> SettingsForm {
    let Some(c) = stored else {
        return SettingsForm {
            values: vec![
                (
                    "base_url",
                    kind.default_base_url().unwrap_or_default().to_string(),
                ),
                (
                    "api_version",
                    if kind == ConnectorKind::Shopify {
                        "2025-07".into()
                    } else {
                        String::new()
                    },
                ),
                ("poll_interval_seconds", "60".into()),
            ],
            checked: vec![
                "import_orders".into(),
                "push_stock".into(),
                "push_tracking".into(),
            ],
            errors: vec![],
            message: None,
        };
    };
    SettingsForm {
        values: vec![
            ("base_url", c.base_url.clone()),
            ("api_version", c.api_version.clone().unwrap_or_default()),
            ("auth_url", c.auth_url.clone().unwrap_or_default()),
            ("seller_id", c.seller_id.clone().unwrap_or_default()),
            ("marketplace_ids", c.marketplace_ids.join(", ")),
            ("locations", locations_text(&c.locations)),
            (
                "channel_fulfilment_location",
                c.channel_fulfilment_location.clone().unwrap_or_default(),
            ),
            ("poll_interval_seconds", c.poll_interval_seconds.to_string()),
        ],
        checked: [
            ("import_orders", c.import_orders),
            ("push_stock", c.push_stock),
            ("push_tracking", c.push_tracking),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.to_string())
        .collect(),
        errors: vec![],
        message: None,
    }
}

fn facts(c: &Connection) -> Vec<(&'static str, String)> {
    let view = c.view();
    let mut out = vec![("Base URL", c.base_url.clone())];
    if c.kind == ConnectorKind::Shopify {
        out.push(("API version", c.api_version.clone().unwrap_or_default()));
    }
    if c.kind == ConnectorKind::Amazon {
        out.push((
            "Auth URL",
            c.auth_url
                .clone()
                .unwrap_or_else(|| "https://api.amazon.com (default)".into()),
        ));
        out.push(("Seller id", c.seller_id.clone().unwrap_or_default()));
        out.push(("Marketplaces", c.marketplace_ids.join(", ")));
    }
    if c.kind == ConnectorKind::Shopify || !c.locations.is_empty() {
        out.push((
            "Channel locations",
            if c.locations.is_empty() {
                "none mapped".into()
            } else {
                c.locations
                    .iter()
                    .map(|(r, l)| format!("{r} → {l}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ));
    }
    out.push((
        "Fulfilled by the channel",
        c.channel_fulfilment_location
            .clone()
            .map_or_else(|| "—".into(), |l| format!("stock at {l}")),
    ));
    out.push((
        "Import orders",
        if c.import_orders {
            format!("Yes, polled every {} s", c.poll_interval_seconds)
        } else {
            "No".into()
        },
    ));
    out.push(("Push stock", yes_no(c.push_stock)));
    out.push(("Push tracking", yes_no(c.push_tracking)));
    out.push((
        "Credentials",
        view.secrets
            .iter()
            .map(|(k, v)| format!("{}: {v}", secret_label(k)))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    out
}

fn format_options(current: &str) -> Vec<Opt> {
    [
        ("auto", "Recognise it from the header row"),
        ("shopify", "Shopify orders export"),
        ("amazon", "Amazon order report (tab-separated)"),
        ("ordo", "Ordo order CSV"),
    ]
    .into_iter()
    .map(|(v, l)| Opt {
        value: v.into(),
        label: l.into(),
        selected: v == current,
    })
    .collect()
}

fn report_view(r: FileImportReport) -> ReportView {
    ReportView {
        rows: r.rows,
        orders: r.orders,
        created: r.created,
        already_known: r.already_known,
        cancelled: r.cancelled,
        needs_attention: r.needs_attention,
        skipped: r.skipped,
        errors: r
            .errors
            .into_iter()
            .map(|e| RowErrorView {
                line: e.line,
                column: e.column.unwrap_or_default(),
                reason: e.reason,
            })
            .collect(),
    }
}

/// One line about an order file's import, for the page's message.
pub(crate) fn import_summary(r: &FileImportReport) -> String {
    let mut text = format!(
        "Order file read: {} in {}. {} imported, {} already known, {} cancelled, {} waiting for \
         attention, {} skipped.",
        plural(r.orders, "order", "orders"),
        plural(r.rows as usize, "row", "rows"),
        r.created,
        r.already_known,
        r.cancelled,
        r.needs_attention,
        r.skipped
    );
    if !r.errors.is_empty() {
        text.push_str(&format!(
            " {} refused: see the report below.",
            plural(r.errors.len(), "row was", "rows were")
        ));
    }
    text
}

/// The cards for `c`, with whatever a refused POST hands back.
pub(crate) async fn cards(
    s: &WebState,
    auth: &Auth,
    c: &Channel,
    given: Given,
    mappings_after: Option<&str>,
) -> WebResult<Cards> {
    let kind = ConnectorKind::parse(c.kind.as_str());
    let state = s.connectors.state(&c.code);
    let (stored, unreadable) = match kind {
        Some(_) => match state.connection().await {
            Ok(stored) => (stored, None),
            Err(e) => (
                None,
                Some(format!(
                    "The stored connection cannot be read ({e}). Disconnect, then connect again \
                     with its credentials."
                )),
            ),
        },
        None => (None, None),
    };
    let form = match (given.connection, kind) {
        (Some(f), _) => f,
        (None, Some(k)) => connection_form(k, stored.as_ref()),
        (None, None) => connection_form(ConnectorKind::Ebay, None),
    };
    let masked = stored
        .as_ref()
        .map(|c| c.view().secrets)
        .unwrap_or_default();
    let secrets = kind
        .map(|k| k.secret_names())
        .unwrap_or_default()
        .iter()
        .map(|name| {
            let stored_mask = masked.get(*name);
            SecretField {
                field: format!("secrets.{name}"),
                id: format!("conn-secret-{name}"),
                label: secret_label(name),
                placeholder: match stored_mask {
                    Some(m) => format!("{m} stored; leave empty to keep"),
                    None => "required".into(),
                },
                stored: stored_mask.is_some(),
            }
        })
        .collect();
    let switches = [
        ("import_orders", "Import orders (webhooks and polling)"),
        ("push_stock", "Push stock levels to the channel"),
        ("push_tracking", "Push tracking when a shipment leaves"),
    ]
    .into_iter()
    .map(|(name, label)| Switch {
        name,
        label,
        checked: form.is_checked(name),
    })
    .collect();
    let current_fulfilment = form.val("channel_fulfilment_location").to_string();
    let mut fulfilment_opts = vec![Opt {
        value: String::new(),
        label: "None: the channel fulfils no orders itself".into(),
        selected: current_fulfilment.is_empty(),
    }];
    if kind.is_some() {
        fulfilment_opts.extend(s.store.list_locations().await?.into_iter().map(|l| Opt {
            selected: l.code == current_fulfilment,
            label: format!("{} ({})", l.name, l.code),
            value: l.code,
        }));
    }
    let sync = match kind {
        Some(_) => {
            let o = if stored.is_some() {
                s.connectors.overview(&c.code).await.map_err(internal)?
            } else {
                // The backlog counts what a connection has not sent yet: without one there is
                // none, and counting every event since the start would only cost time.
                SyncOverview {
                    channel: c.code.clone(),
                    connected: false,
                    status: state.status().await.map_err(internal)?,
                    backlog: Backlog {
                        orders_needing_attention: state
                            .attention(None, 1000)
                            .await
                            .map_err(internal)?
                            .len(),
                        ..Default::default()
                    },
                    recent_errors: state.errors().await.map_err(internal)?,
                }
            };
            let when = |t: Option<time::OffsetDateTime>| t.map_or_else(|| "never".into(), fmt_time);
            Some(SyncView {
                last_import: when(o.status.last_import),
                last_stock_push: when(o.status.last_stock_push),
                last_tracking_push: when(o.status.last_tracking_push),
                orders_imported: o.status.orders_imported,
                stock_updates_pushed: o.status.stock_updates_pushed,
                trackings_pushed: o.status.trackings_pushed,
                backlog_stock: o.backlog.stock_skus,
                backlog_trackings: o.backlog.trackings,
                backlog_attention: o.backlog.orders_needing_attention,
                errors: o
                    .recent_errors
                    .into_iter()
                    .map(|e| ErrorRow {
                        at: fmt_time(e.at),
                        operation: humanize(&e.operation),
                        message: e.message,
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let mappings = state
        .mappings(mappings_after, MAPPINGS_PAGE)
        .await
        .map_err(internal)?;
    let mappings_next = (mappings.len() as i64 == MAPPINGS_PAGE)
        .then(|| mappings.last())
        .flatten()
        .map(|(last, _)| {
            format!(
                "/channels/{}?mappings_after={}#mappings-h",
                encode(&c.code),
                encode(last)
            )
        });
    let mut waiting = state
        .attention(None, ATTENTION_SHOWN + 1)
        .await
        .map_err(internal)?;
    let attention_more = waiting.len() as i64 > ATTENTION_SHOWN;
    waiting.truncate(ATTENTION_SHOWN as usize);
    let attention: Vec<AttentionRow> = waiting
        .into_iter()
        .map(|a| AttentionRow {
            external_id: a.external_id,
            number: a.number,
            reason: a.reason,
            unmapped: a.unmapped.join(", "),
            since: fmt_time(a.since),
        })
        .collect();
    let mapping_form = given.mapping.unwrap_or(SettingsForm {
        values: vec![],
        checked: vec![],
        errors: vec![],
        message: None,
    });
    Ok(Cards {
        connectable: kind.is_some(),
        kind_label: kind.map(kind_label).unwrap_or_default().to_string(),
        is_shopify: kind == Some(ConnectorKind::Shopify),
        is_amazon: kind == Some(ConnectorKind::Amazon),
        webhook_path: match kind {
            Some(ConnectorKind::Shopify) => Some(format!("/hooks/shopify/{}", c.code)),
            Some(ConnectorKind::Woocommerce) => Some(format!("/hooks/woocommerce/{}", c.code)),
            _ => None,
        },
        can_edit: auth.allows(Permission::ManageCatalog),
        can_capture: auth.allows(Permission::CaptureOrders),
        connected: stored.is_some(),
        unreadable,
        facts: stored.as_ref().map(facts).unwrap_or_default(),
        form,
        secrets,
        switches,
        fulfilment_opts,
        sync,
        // Other kinds of channel get waiting orders (and need mappings) from CSV imports.
        show_mappings: kind.is_some() || !mappings.is_empty() || mappings_after.is_some(),
        mappings_paged: mappings_after.is_some(),
        mappings,
        mappings_next,
        mapping_form,
        show_attention: kind.is_some() || !attention.is_empty(),
        attention,
        attention_more,
        format_opts: format_options(given.import_format.as_deref().unwrap_or("auto")),
        import_message: given.import_message,
        report: given.report.map(report_view),
    })
}

async fn channel_of(s: &WebState, code: &str) -> WebResult<Channel> {
    s.store
        .get_channel(code)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Channel {code}")))
}

/// The channel and its kind, for what only connectable channels have.
async fn connectable(s: &WebState, code: &str) -> WebResult<(Channel, ConnectorKind)> {
    let c = channel_of(s, code).await?;
    let kind = ConnectorKind::parse(c.kind.as_str()).ok_or_else(|| {
        WebError::Problem(Problem::conflict(format!(
            "channel {code} is of kind {}; only Shopify, WooCommerce, Amazon and eBay channels \
             have connections",
            c.kind.as_str()
        )))
    })?;
    Ok((c, kind))
}

fn back(code: &str) -> String {
    format!("/channels/{}", encode(code))
}

/// Lines `remote id = ORDO_LOCATION`; blank lines and `#` comments are skipped.
fn parse_locations(text: &str, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        match line.split_once('=') {
            Some((remote, local)) if !remote.trim().is_empty() && !local.trim().is_empty() => {
                let (remote, local) = (remote.trim(), local.trim());
                if out.insert(remote.to_string(), local.to_string()).is_some() {
                    bad.push(format!("line {n}: {remote} is mapped twice"));
                }
            }
            _ => bad.push(format!(
                "line {n}: write the channel's location id = an Ordo location code"
            )),
        }
    }
    if !bad.is_empty() {
        errors.push(FieldError::new("locations", bad.join("; ")));
    }
    out
}

/// The form's input names for the domain's fields; `None` for fields with no input.
fn input_for(field: &str, kind: ConnectorKind) -> Option<String> {
    if let Some(name) = field.strip_prefix("secrets.") {
        return kind
            .secret_names()
            .contains(&name)
            .then(|| field.to_string());
    }
    if kind == ConnectorKind::Shopify && (field == "locations" || field.starts_with("locations.")) {
        return Some("locations".into());
    }
    let shown: &[&str] = match kind {
        ConnectorKind::Shopify => &["api_version"],
        ConnectorKind::Amazon => &["auth_url", "seller_id", "marketplace_ids"],
        _ => &[],
    };
    ([
        "base_url",
        "channel_fulfilment_location",
        "poll_interval_seconds",
    ]
    .contains(&field)
        || shown.contains(&field))
    .then(|| field.to_string())
}

/// `POST /channels/{code}/connection`: connects the channel or changes its settings, as
/// `PUT /api/v1/channels/{code}/connection` does. The form is the whole connection: an
/// emptied location list or fulfilment location clears it; an empty credential keeps the
/// stored one.
pub(crate) async fn save_connection(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let (c, kind) = connectable(&s, &code).await?;
    let f = &p.form;
    let state = s.connectors.state(&code);
    let previous = state.connection().await.map_err(internal)?;
    let mut parse = Vec::new();
    let locations = parse_locations(&f.raw("locations"), &mut parse);
    let amazon = kind == ConnectorKind::Amazon;
    let marketplace_ids: Vec<String> = f
        .raw("marketplace_ids")
        .split([',', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    if amazon && marketplace_ids.is_empty() {
        parse.push(FieldError::new(
            "marketplace_ids",
            "needs at least one marketplace id",
        ));
    }
    let poll_interval_seconds = match f.get("poll_interval_seconds") {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                parse.push(FieldError::new(
                    "poll_interval_seconds",
                    "must be a whole number of seconds",
                ));
                None
            }
        },
    };
    let secrets: BTreeMap<String, String> = kind
        .secret_names()
        .iter()
        .filter_map(|n| f.get(&format!("secrets.{n}")).map(|v| (n.to_string(), v)))
        .collect();
    let typed_secrets = !secrets.is_empty();
    let fulfilment = f.get("channel_fulfilment_location");
    let auth_url = f.get("auth_url").filter(|_| amazon);
    let input = ConnectionInput {
        base_url: f.get("base_url"),
        api_version: f
            .get("api_version")
            .filter(|_| kind == ConnectorKind::Shopify),
        auth_url: auth_url.clone(),
        // Given even when empty, so clearing it is refused rather than keeping the old one.
        seller_id: amazon.then(|| f.get("seller_id").unwrap_or_default()),
        marketplace_ids: if amazon {
            marketplace_ids.clone()
        } else {
            vec![]
        },
        locations: locations.clone(),
        channel_fulfilment_location: fulfilment.clone(),
        import_orders: Some(f.get("import_orders").is_some()),
        push_stock: Some(f.get("push_stock").is_some()),
        push_tracking: Some(f.get("push_tracking").is_some()),
        poll_interval_seconds,
        secrets,
    };
    let problem = match input.validate(&code, kind, previous.as_ref()) {
        Ok(mut connection) if parse.is_empty() => {
            // The form shows the whole connection: what it leaves empty is cleared. (Only
            // Shopify has channel locations; other kinds keep whatever the API stored.)
            if kind == ConnectorKind::Shopify {
                connection.locations = locations;
            }
            connection.channel_fulfilment_location = fulfilment;
            if amazon {
                connection.auth_url = auth_url.map(|u| u.trim_end_matches('/').to_string());
            }
            let mut missing = Vec::new();
            for (remote, local) in &connection.locations {
                if s.store.get_location(local).await?.is_none() {
                    missing.push(format!("{remote}: location {local} does not exist"));
                }
            }
            let mut unknown = Vec::new();
            if !missing.is_empty() {
                unknown.push(FieldError::new("locations", missing.join("; ")));
            }
            if let Some(local) = &connection.channel_fulfilment_location
                && s.store.get_location(local).await?.is_none()
            {
                unknown.push(FieldError::new(
                    "channel_fulfilment_location",
                    format!("location {local} does not exist"),
                ));
            }
            if unknown.is_empty() {
                state.save_connection(&connection).await.map_err(internal)?;
                ensure_channel_fulfilment_rule(
                    &state,
                    connection.channel_fulfilment_location.as_deref(),
                    &p.auth.context(),
                )
                .await
                .map_err(internal)?;
                return Ok(p.auth.redirect_with(
                    &back(&code),
                    true,
                    &format!(
                        "{code}: connection saved{}.",
                        if previous.is_none() {
                            format!("; {} is now connected", kind_label(kind))
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
            Problem::Invalid(unknown)
        }
        Ok(_) => Problem::Invalid(vec![]),
        Err(problem) => problem,
    };
    // Refused: errors next to their inputs (parse errors first), the rest in the message.
    let mut errors = parse;
    let mut loose = Vec::new();
    match problem {
        Problem::Invalid(more) => {
            for e in more {
                match input_for(&e.field, kind) {
                    Some(name) => {
                        if !errors.iter().any(|x| x.field == name) {
                            errors.push(FieldError::new(name, e.message));
                        }
                    }
                    None => loose.push(format!("{}: {}", e.field, e.message)),
                }
            }
        }
        other => loose.push(sentence(&other.to_string())),
    }
    let mut message = if loose.is_empty() {
        "Not saved: please correct the fields marked below.".to_string()
    } else {
        format!("Not saved: {}", loose.join(" "))
    };
    if typed_secrets {
        message.push_str(" Credentials are never sent back to the page: type them again.");
    }
    let kept = SettingsForm {
        values: [
            "base_url",
            "api_version",
            "auth_url",
            "seller_id",
            "marketplace_ids",
            "locations",
            "channel_fulfilment_location",
            "poll_interval_seconds",
        ]
        .into_iter()
        .map(|n| (n, f.raw(n)))
        .collect(),
        checked: ["import_orders", "push_stock", "push_tracking"]
            .into_iter()
            .filter(|n| f.get(n).is_some())
            .map(str::to_string)
            .collect(),
        errors,
        message: Some(message),
    };
    let given = Given {
        connection: Some(kept),
        ..Default::default()
    };
    let mut r = channel_response(&s, &p.auth, c, None, given, None).await?;
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

/// `POST /channels/{code}/connection/delete`: settings and credentials are deleted;
/// mappings and waiting orders stay.
pub(crate) async fn delete_connection(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    connectable(&s, &code).await?;
    s.connectors
        .state(&code)
        .delete_connection()
        .await
        .map_err(internal)?;
    Ok(p.auth.redirect_with(
        &back(&code),
        true,
        &format!("{code}: disconnected. Its credentials were deleted; SKU mappings stay."),
    ))
}

/// `POST /channels/{code}/sync` with `what=orders|stock|reconcile|tracking`: one part of
/// the sync now, its result (or the channel's own error) as the next page's message.
pub(crate) async fn run_sync(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    channel_of(&s, &code).await?;
    let c = &s.connectors;
    let what = p.form.get("what").unwrap_or_else(|| "orders".into());
    let result = match what.as_str() {
        "orders" => c.poll_orders(&code).await.map(|r| {
            format!(
                "orders imported: {} seen, {} new, {} cancelled, {} needing attention.",
                r.orders_seen, r.created, r.cancelled, r.needs_attention
            )
        }),
        "stock" => c.push_stock(&code).await.map(|r| {
            format!(
                "stock pushed: {} changed, {} sent.",
                plural(r.skus_changed, "SKU", "SKUs"),
                plural(r.figures_pushed, "figure", "figures")
            )
        }),
        "reconcile" => c.reconcile_stock(&code).await.map(|r| {
            format!(
                "full stock reconciliation: {} checked, {} sent.",
                plural(r.skus_changed, "SKU", "SKUs"),
                plural(r.figures_pushed, "figure", "figures")
            )
        }),
        "tracking" => c.push_tracking(&code).await.map(|n| {
            format!(
                "tracking pushed for {}.",
                plural(n, "shipment", "shipments")
            )
        }),
        _ => {
            return Err(WebError::Problem(Problem::invalid(
                "what",
                "must be one of orders, stock, tracking, reconcile",
            )));
        }
    };
    let (ok, text) = match result {
        Ok(done) => (true, format!("{code}: {done}")),
        Err(SyncFailure::NotConnected(_)) => (
            false,
            format!("{code} is not connected: save its connection first."),
        ),
        Err(SyncFailure::Remote(e)) => (false, format!("{code}: the channel's API failed: {e}")),
        Err(e) => return Err(internal(e)),
    };
    Ok(p.auth.redirect_with(&back(&code), ok, &text))
}

/// After a retry: `2 imported, 1 still needs attention`.
fn retried_summary(retried: &[(String, Imported)]) -> String {
    let count = |f: fn(&Imported) -> bool| retried.iter().filter(|(_, o)| f(o)).count();
    let created = count(|o| matches!(o, Imported::Created { .. }));
    let released = count(|o| matches!(o, Imported::Mapped { .. } | Imported::Released { .. }));
    let waiting = count(|o| {
        matches!(
            o,
            Imported::NeedsAttention { .. } | Imported::HeldUnmapped { .. }
        )
    });
    let other = retried.len() - created - released - waiting;
    let mut parts = vec![format!("{created} imported")];
    if released > 0 {
        parts.push(format!("{released} mapped and released"));
    }
    if waiting > 0 {
        parts.push(format!(
            "{waiting} still {} attention",
            if waiting == 1 { "needs" } else { "need" }
        ));
    }
    if other > 0 {
        parts.push(format!("{other} already known or closed"));
    }
    parts.join(", ")
}

/// `POST /channels/{code}/sku-mappings`: maps a channel SKU or listing id to an Ordo SKU;
/// orders waiting for it are imported at once.
pub(crate) async fn add_mapping(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let c = channel_of(&s, &code).await?;
    let channel_ref = p.form.get("channel_ref").unwrap_or_default();
    let sku = p.form.get("sku").unwrap_or_default();
    let mut errors = Vec::new();
    if channel_ref.is_empty() || channel_ref.len() > 200 {
        errors.push(FieldError::new(
            "channel_ref",
            "must be 1 to 200 characters",
        ));
    }
    if sku.is_empty() {
        errors.push(FieldError::new("sku", "is required"));
    } else if s.store.get_product(&sku).await?.is_none() {
        errors.push(FieldError::new(
            "sku",
            format!("product {sku} does not exist"),
        ));
    }
    if !errors.is_empty() {
        let form = SettingsForm {
            values: vec![
                ("channel_ref", p.form.raw("channel_ref")),
                ("sku", p.form.raw("sku")),
            ],
            checked: vec![],
            errors,
            message: Some("Not saved: please correct the fields marked below.".into()),
        };
        let given = Given {
            mapping: Some(form),
            ..Default::default()
        };
        let mut r = channel_response(&s, &p.auth, c, None, given, None).await?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    let state = s.connectors.state(&code);
    state
        .set_mapping(&channel_ref, Some(&sku))
        .await
        .map_err(internal)?;
    let retried = retry_attention(&state).await.map_err(internal)?;
    let mut text = format!("{code}: {channel_ref} is now sold as {sku}.");
    if !retried.is_empty() {
        text.push_str(&format!(
            " Waiting orders retried: {}.",
            retried_summary(&retried)
        ));
    }
    Ok(p.auth.redirect_with(&back(&code), true, &text))
}

/// `POST /channels/{code}/sku-mappings/delete` with `channel_ref`.
pub(crate) async fn remove_mapping(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    channel_of(&s, &code).await?;
    let Some(channel_ref) = p.form.get("channel_ref") else {
        return Err(WebError::Problem(Problem::invalid(
            "channel_ref",
            "is required",
        )));
    };
    s.connectors
        .state(&code)
        .set_mapping(&channel_ref, None)
        .await
        .map_err(internal)?;
    Ok(p.auth.redirect_with(
        &back(&code),
        true,
        &format!("{code}: mapping of {channel_ref} removed."),
    ))
}

/// `POST /channels/{code}/attention/retry`: every waiting order tried again.
pub(crate) async fn retry(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::CaptureOrders)?;
    channel_of(&s, &code).await?;
    let state = s.connectors.state(&code);
    let retried = retry_attention(&state).await.map_err(internal)?;
    let text = if retried.is_empty() {
        format!("{code}: no orders were waiting.")
    } else {
        format!(
            "{code}: {} retried: {}.",
            plural(retried.len(), "order", "orders"),
            retried_summary(&retried)
        )
    };
    Ok(p.auth.redirect_with(&back(&code), true, &text))
}

/// `POST /channels/{code}/orders/import`: an order CSV file (Shopify export, Amazon report
/// or Ordo CSV) through the same import as the API; the page shows the report.
pub(crate) async fn import_orders(
    State(s): State<WebState>,
    Path(code): Path<String>,
    Upload(p): Upload,
) -> WebResult {
    p.auth.require(Permission::CaptureOrders)?;
    let c = channel_of(&s, &code).await?;
    let file = p.form.raw("file");
    let chosen = p.form.get("format").unwrap_or_else(|| "auto".into());
    let format = if file.trim().is_empty() {
        Err("Choose a CSV file to upload.".to_string())
    } else if chosen == "auto" {
        CsvFormat::detect(file.as_bytes()).ok_or_else(|| {
            "The header row matches no known format: choose the file's format.".to_string()
        })
    } else {
        CsvFormat::parse(&chosen)
            .ok_or_else(|| "The format must be Shopify, Amazon or Ordo.".to_string())
    };
    let mut given = Given {
        import_format: Some(chosen),
        ..Default::default()
    };
    let status = match format {
        Ok(format) => {
            let state = s.connectors.state(&code);
            let report = import_file(&state, file.as_bytes(), format, |_, _| {})
                .await
                .map_err(internal)?;
            given.report = Some(report);
            StatusCode::OK
        }
        Err(m) => {
            given.import_message = Some(m);
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let mut r = channel_response(&s, &p.auth, c, None, given, None).await?;
    *r.status_mut() = status;
    Ok(r)
}

/// The connection badge of the channel list: `None` for kinds with no connection.
pub(crate) async fn badge(s: &WebState, c: &Channel) -> Option<(&'static str, &'static str)> {
    ConnectorKind::parse(c.kind.as_str())?;
    Some(match s.connectors.state(&c.code).connection().await {
        Ok(Some(_)) => ("Connected", "s-connected"),
        Ok(None) => ("Not connected", "s-not_connected"),
        Err(_) => ("Connection unreadable", "s-exception"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_lines_are_read_and_checked() {
        let mut errors = Vec::new();
        let l = parse_locations("# Shopify\n123 = WH1\n\n 456=ST1 \n", &mut errors);
        assert!(errors.is_empty());
        assert_eq!(l["123"], "WH1");
        assert_eq!(l["456"], "ST1");
        parse_locations("123 WH1\n9 = A\n9 = B\n", &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("line 1:"),
            "{}",
            errors[0].message
        );
        assert!(errors[0].message.contains("line 3: 9 is mapped twice"));
    }

    #[test]
    fn domain_fields_find_their_inputs() {
        let k = ConnectorKind::Shopify;
        assert_eq!(
            input_for("secrets.webhook_secret", k).as_deref(),
            Some("secrets.webhook_secret")
        );
        assert_eq!(input_for("secrets.oauth_token", k), None);
        assert_eq!(input_for("locations.77", k).as_deref(), Some("locations"));
        assert_eq!(input_for("seller_id", k), None);
        assert_eq!(
            input_for("seller_id", ConnectorKind::Amazon).as_deref(),
            Some("seller_id")
        );
    }
}
