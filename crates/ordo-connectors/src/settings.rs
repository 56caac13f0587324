//! A channel's connection: where its API is, how to authenticate, what to sync. Secrets are
//! held in memory in clear, stored sealed (see [`crate::secrets`]) and shown masked.

use std::collections::BTreeMap;

use ordo_domain::Problem;
use ordo_domain::error::Errors;
use serde::{Deserialize, Serialize};

use crate::secrets::mask;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    Shopify,
    Woocommerce,
    Amazon,
    Ebay,
}

impl ConnectorKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "shopify" => Self::Shopify,
            "woocommerce" => Self::Woocommerce,
            "amazon" => Self::Amazon,
            "ebay" => Self::Ebay,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
            Self::Woocommerce => "woocommerce",
            Self::Amazon => "amazon",
            Self::Ebay => "ebay",
        }
    }

    /// The credentials each kind needs (all required).
    pub fn secret_names(self) -> &'static [&'static str] {
        match self {
            Self::Shopify => &["access_token", "webhook_secret"],
            Self::Woocommerce => &["consumer_key", "consumer_secret", "webhook_secret"],
            Self::Amazon => &["lwa_client_id", "lwa_client_secret", "refresh_token"],
            Self::Ebay => &["oauth_token"],
        }
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Amazon => Some("https://sellingpartnerapi-na.amazon.com"),
            Self::Ebay => Some("https://api.ebay.com"),
            Self::Shopify | Self::Woocommerce => None,
        }
    }
}

/// The stored connection, with secrets in clear (only ever in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub channel: String,
    pub kind: ConnectorKind,
    /// The store or API root (`https://shop.myshopify.com`, `https://shop.example/`), or an
    /// emulator's address.
    pub base_url: String,
    /// Shopify API version (`2025-07`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Amazon: the LWA token endpoint's root (default `https://api.amazon.com`).
    #[serde(default)]
    pub auth_url: Option<String>,
    /// Amazon seller id.
    #[serde(default)]
    pub seller_id: Option<String>,
    /// Amazon marketplace ids (`ATVPDKIKX0DER`).
    #[serde(default)]
    pub marketplace_ids: Vec<String>,
    /// Channel location id → Ordo location code (Shopify locations). Stock for a mapped
    /// channel location is what the Ordo location can sell on this channel.
    #[serde(default)]
    pub locations: BTreeMap<String, String>,
    /// The Ordo location that stands for stock the channel fulfils itself (Amazon FBA).
    #[serde(default)]
    pub channel_fulfilment_location: Option<String>,
    pub import_orders: bool,
    pub push_stock: bool,
    pub push_tracking: bool,
    /// Seconds between two polls of the channel's orders.
    pub poll_interval_seconds: u32,
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
}

impl Connection {
    pub fn secret(&self, name: &str) -> &str {
        self.secrets.get(name).map(String::as_str).unwrap_or("")
    }

    /// The API view: every secret masked.
    pub fn view(&self) -> ConnectionView {
        ConnectionView {
            connection: self.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), mask(v)))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    #[serde(flatten)]
    pub connection: Connection,
    /// Masked: the last four characters only.
    pub secrets: BTreeMap<String, String>,
}

/// Body of `PUT /api/v1/channels/{code}/connection`. Secrets left out keep their stored
/// value, so a form can change a switch without re-entering credentials.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectionInput {
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    pub auth_url: Option<String>,
    pub seller_id: Option<String>,
    #[serde(default)]
    pub marketplace_ids: Vec<String>,
    #[serde(default)]
    pub locations: BTreeMap<String, String>,
    pub channel_fulfilment_location: Option<String>,
    pub import_orders: Option<bool>,
    pub push_stock: Option<bool>,
    pub push_tracking: Option<bool>,
    pub poll_interval_seconds: Option<u32>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl ConnectionInput {
    /// Checks the settings for a channel of `kind`; `previous` supplies secrets not given
    /// again. Whether mapped locations exist is the caller's check.
    pub fn validate(
        self,
        channel: &str,
        kind: ConnectorKind,
        previous: Option<&Connection>,
    ) -> Result<Connection, Problem> {
        let mut errors = Errors::default();
        let base_url = self
            .base_url
            .filter(|u| !u.trim().is_empty())
            .or_else(|| previous.map(|p| p.base_url.clone()))
            .or_else(|| kind.default_base_url().map(str::to_string))
            .unwrap_or_default();
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        if base_url.is_empty() {
            errors.add("base_url", "is required for this kind of channel");
        } else if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            errors.add("base_url", "must start with https:// or http://");
        }
        if let Some(url) = &self.auth_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            errors.add("auth_url", "must start with https:// or http://");
        }
        let mut secrets = previous.map(|p| p.secrets.clone()).unwrap_or_default();
        for (name, value) in self.secrets {
            if !kind.secret_names().contains(&name.as_str()) {
                errors.add(
                    format!("secrets.{name}"),
                    format!(
                        "is not a credential of a {} channel (expected: {})",
                        kind.as_str(),
                        kind.secret_names().join(", ")
                    ),
                );
            } else if value.trim().is_empty() {
                errors.add(format!("secrets.{name}"), "must not be empty");
            } else {
                secrets.insert(name, value.trim().to_string());
            }
        }
        for name in kind.secret_names() {
            if !secrets.contains_key(*name) {
                errors.add(format!("secrets.{name}"), "is required");
            }
        }
        match kind {
            ConnectorKind::Amazon => {
                let seller = self
                    .seller_id
                    .clone()
                    .or_else(|| previous.and_then(|p| p.seller_id.clone()));
                if seller.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    errors.add("seller_id", "is required for Amazon");
                }
                let markets = if self.marketplace_ids.is_empty() {
                    previous
                        .map(|p| p.marketplace_ids.clone())
                        .unwrap_or_default()
                } else {
                    self.marketplace_ids.clone()
                };
                if markets.is_empty() {
                    errors.add("marketplace_ids", "needs at least one marketplace id");
                }
            }
            ConnectorKind::Shopify => {
                if let Some(v) = &self.api_version
                    && !is_api_version(v)
                {
                    errors.add("api_version", "must look like 2025-07 or be unstable");
                }
            }
            _ => {}
        }
        let interval = self
            .poll_interval_seconds
            .or(previous.map(|p| p.poll_interval_seconds))
            .unwrap_or(60);
        if !(5..=86_400).contains(&interval) {
            errors.add("poll_interval_seconds", "must be between 5 and 86400");
        }
        for (remote, local) in &self.locations {
            if remote.trim().is_empty() || local.trim().is_empty() {
                errors.add(
                    format!("locations.{remote}"),
                    "needs a channel location id and an Ordo location code",
                );
            }
        }
        let pick = |new: Option<bool>, old: Option<bool>| new.or(old).unwrap_or(true);
        errors.finish(|| Connection {
            channel: channel.to_string(),
            kind,
            base_url,
            api_version: self
                .api_version
                .or_else(|| previous.and_then(|p| p.api_version.clone()))
                .or_else(|| (kind == ConnectorKind::Shopify).then(|| "2025-07".to_string())),
            auth_url: self
                .auth_url
                .map(|u| u.trim_end_matches('/').to_string())
                .or_else(|| previous.and_then(|p| p.auth_url.clone())),
            seller_id: self
                .seller_id
                .or_else(|| previous.and_then(|p| p.seller_id.clone())),
            marketplace_ids: if self.marketplace_ids.is_empty() {
                previous
                    .map(|p| p.marketplace_ids.clone())
                    .unwrap_or_default()
            } else {
                self.marketplace_ids
            },
            locations: if self.locations.is_empty() {
                previous.map(|p| p.locations.clone()).unwrap_or_default()
            } else {
                self.locations
            },
            channel_fulfilment_location: self
                .channel_fulfilment_location
                .or_else(|| previous.and_then(|p| p.channel_fulfilment_location.clone())),
            import_orders: pick(self.import_orders, previous.map(|p| p.import_orders)),
            push_stock: pick(self.push_stock, previous.map(|p| p.push_stock)),
            push_tracking: pick(self.push_tracking, previous.map(|p| p.push_tracking)),
            poll_interval_seconds: interval,
            secrets,
        })
    }
}

fn is_api_version(v: &str) -> bool {
    v == "unstable"
        || (v.len() == 7
            && v.as_bytes()[4] == b'-'
            && v[..4].bytes().all(|b| b.is_ascii_digit())
            && v[5..].bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shopify_input() -> ConnectionInput {
        ConnectionInput {
            base_url: Some("https://shop.myshopify.com/".into()),
            secrets: [
                ("access_token".to_string(), "shpat_abcdefgh1234".to_string()),
                ("webhook_secret".to_string(), "whsec_zyxw9876".to_string()),
            ]
            .into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_shopify_connection_validates_with_defaults() {
        let c = shopify_input()
            .validate("shop", ConnectorKind::Shopify, None)
            .unwrap();
        assert_eq!(c.base_url, "https://shop.myshopify.com");
        assert_eq!(c.api_version.as_deref(), Some("2025-07"));
        assert!(c.import_orders && c.push_stock && c.push_tracking);
        assert_eq!(c.poll_interval_seconds, 60);
        let view = serde_json::to_value(c.view()).unwrap();
        assert_eq!(view["secrets"]["access_token"], "••••1234");
        assert!(!view.to_string().contains("shpat_abcdefgh1234"));
    }

    #[test]
    fn missing_and_foreign_credentials_are_named() {
        let input = ConnectionInput {
            base_url: Some("ftp://x".into()),
            secrets: [("oauth_token".to_string(), "t".to_string())].into(),
            ..Default::default()
        };
        let Err(Problem::Invalid(errors)) = input.validate("shop", ConnectorKind::Shopify, None)
        else {
            panic!("expected invalid");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"base_url"));
        assert!(fields.contains(&"secrets.oauth_token"));
        assert!(fields.contains(&"secrets.access_token"));
        assert!(fields.contains(&"secrets.webhook_secret"));
    }

    #[test]
    fn secrets_left_out_keep_their_stored_value() {
        let first = shopify_input()
            .validate("shop", ConnectorKind::Shopify, None)
            .unwrap();
        let update = ConnectionInput {
            push_stock: Some(false),
            ..Default::default()
        };
        let second = update
            .validate("shop", ConnectorKind::Shopify, Some(&first))
            .unwrap();
        assert_eq!(second.secrets, first.secrets);
        assert!(!second.push_stock);
        assert_eq!(second.base_url, first.base_url);
    }

    #[test]
    fn amazon_needs_a_seller_and_a_marketplace() {
        let input = ConnectionInput {
            secrets: [
                (
                    "lwa_client_id".to_string(),
                    "amzn1.application-oa2-client.x".to_string(),
                ),
                ("lwa_client_secret".to_string(), "secret-value".to_string()),
                ("refresh_token".to_string(), "Atzr|refresh".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let Err(Problem::Invalid(errors)) = input.validate("amzn", ConnectorKind::Amazon, None)
        else {
            panic!("expected invalid");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["seller_id", "marketplace_ids"]);
    }
}
