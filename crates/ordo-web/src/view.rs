//! What every page shares (navigation, the signed-in user, one-shot messages) and the
//! formatting of times, statuses and money.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use ordo_domain::money::{Currency, format_amount};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::WebResult;
use crate::session::Auth;
use ordo_store::Permission;

pub(crate) const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) struct Flash {
    pub ok: bool,
    pub text: String,
}

pub(crate) struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub(crate) struct PageCtx {
    pub username: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: Vec<NavLink>,
    pub flash: Option<Flash>,
    pub v: &'static str,
}

impl PageCtx {
    pub fn new(auth: &Auth, section: &str) -> Self {
        let mut links = Vec::with_capacity(15);
        if auth.sees_dashboard() {
            links.push(("/", "Dashboard", "dashboard"));
        }
        links.extend([
            ("/orders", "Orders", "orders"),
            ("/fulfillment", "Fulfillment", "fulfillment"),
            ("/picking", "Picking", "picking"),
            ("/packing", "Packing", "packing"),
            ("/shipments", "Shipments", "shipments"),
            ("/manifests", "Manifests", "manifests"),
            ("/returns", "Returns", "returns"),
            ("/inventory", "Inventory", "inventory"),
            ("/inventory/movements", "Movements", "movements"),
            ("/products", "Products", "products"),
            ("/locations", "Locations", "locations"),
            ("/channels", "Channels", "channels"),
            ("/routing", "Routing", "routing"),
        ]);
        if auth.allows(Permission::ManageCatalog) || auth.allows(Permission::ManageKeys) {
            links.push(("/settings", "Settings", "settings"));
        }
        PageCtx {
            username: auth.session.user.username.clone(),
            role: auth.session.user.role.as_str(),
            csrf: auth.session.csrf_token.clone(),
            nav: links
                .into_iter()
                .map(|(href, label, key)| NavLink {
                    href,
                    label,
                    current: key == section,
                })
                .collect(),
            flash: auth.flash.as_ref().map(|f| Flash {
                ok: f.ok,
                text: f.text.clone(),
            }),
            v: ASSET_VERSION,
        }
    }
}

/// Renders a page; a one-shot message shown on it is cleared from the browser.
pub(crate) fn page(ctx: &PageCtx, t: &impl Template) -> WebResult {
    let mut r = Html(t.render()?).into_response();
    if ctx.flash.is_some() {
        r.headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_static(FLASH_CLEAR));
    }
    Ok(r)
}

/// Renders a page that shows its one-shot message in its own work area (taken out of
/// `ctx.flash` by the caller, so the layout does not show it twice); the message is still
/// cleared from the browser.
pub(crate) fn page_with_inline_flash(had_flash: bool, t: &impl Template) -> WebResult {
    let mut r = Html(t.render()?).into_response();
    if had_flash {
        r.headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_static(FLASH_CLEAR));
    }
    Ok(r)
}

// Spelled out so it can be a static header value; a test keeps it in step with FLASH_COOKIE.
const FLASH_CLEAR: &str = "ordo_flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";

pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

pub(crate) fn fmt_date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// `partially_allocated` → `Partially allocated`.
pub(crate) fn humanize(s: &str) -> String {
    let s = s.replace(['_', '.'], " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Minor units as a decimal amount with the currency's own number of decimals.
pub(crate) fn money(minor: i64, currency: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent);
    format!("{} {currency}", group(&format_amount(minor, exponent)))
}

/// Thousands separators for the integer part: `12345.60` → `12,345.60`.
pub(crate) fn group(amount: &str) -> String {
    let (sign, rest) = amount.strip_prefix('-').map_or(("", amount), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(amount.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::FLASH_COOKIE;

    #[test]
    fn money_uses_the_currency_exponent() {
        assert_eq!(money(123456, "EUR"), "1,234.56 EUR");
        assert_eq!(money(1500, "JPY"), "1,500 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
        assert_eq!(money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(group("1234567"), "1,234,567");
        assert_eq!(group("999"), "999");
    }

    #[test]
    fn flash_clear_names_the_cookie() {
        assert!(FLASH_CLEAR.starts_with(&format!("{FLASH_COOKIE}=;")));
    }

    #[test]
    fn humanizes() {
        assert_eq!(humanize("partially_allocated"), "Partially allocated");
        assert_eq!(humanize("order.created"), "Order created");
    }
}
