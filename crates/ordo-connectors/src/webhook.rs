//! Webhook deliveries from Shopify and WooCommerce: signature first (nothing is read or
//! stored from an unsigned body), then the delivery id (a redelivery is a no-op), then the
//! order goes through the same import as polling.

use crate::client::RemoteError;
use crate::import::{Imported, import_order};
use crate::settings::ConnectorKind;
use crate::signature::verify;
use crate::sync::Connectors;

#[derive(Debug)]
pub enum WebhookOutcome {
    /// WooCommerce's unsigned `webhook_id=N` ping when a webhook is created.
    Ping,
    /// This delivery id was already processed.
    Duplicate,
    /// A topic Ordo does not act on.
    Ignored {
        topic: String,
    },
    Imported(Imported),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("channel {0} has no {1} connection")]
    NotConnected(String, &'static str),
    #[error("missing or invalid signature")]
    BadSignature,
    #[error("the body is not a valid order: {0}")]
    Malformed(String),
    #[error("the order could not be stored: {0}")]
    Failed(String),
}

struct Dialect {
    signature: &'static str,
    delivery: &'static str,
    topic: &'static str,
}

fn dialect(kind: ConnectorKind) -> Dialect {
    match kind {
        ConnectorKind::Woocommerce => Dialect {
            signature: "x-wc-webhook-signature",
            delivery: "x-wc-webhook-delivery-id",
            topic: "x-wc-webhook-topic",
        },
        _ => Dialect {
            signature: "x-shopify-hmac-sha256",
            delivery: "x-shopify-webhook-id",
            topic: "x-shopify-topic",
        },
    }
}

/// Deletion topics carry only the order's id (`{"id": 123}`): the order is cancelled.
fn deletes(kind: ConnectorKind, topic: &str) -> bool {
    match kind {
        ConnectorKind::Woocommerce => topic == "order.deleted",
        _ => topic == "orders/delete",
    }
}

fn acts_on(kind: ConnectorKind, topic: &str) -> bool {
    match kind {
        ConnectorKind::Woocommerce => {
            matches!(topic, "order.created" | "order.updated" | "order.restored")
        }
        _ => matches!(
            topic,
            "orders/create"
                | "orders/updated"
                | "orders/paid"
                | "orders/cancelled"
                | "orders/fulfilled"
                | "orders/partially_fulfilled"
        ),
    }
}

/// `header` looks a request header up by its lower-case name.
pub async fn receive(
    connectors: &Connectors,
    kind: ConnectorKind,
    channel: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<WebhookOutcome, WebhookRefusal> {
    let state = connectors.state(channel);
    let connection = match state.connection().await {
        Ok(Some(c)) if c.kind == kind => c,
        Ok(_) => {
            return Err(WebhookRefusal::NotConnected(
                channel.to_string(),
                kind.as_str(),
            ));
        }
        Err(e) => return Err(WebhookRefusal::Failed(e.to_string())),
    };
    let names = dialect(kind);
    let signature = header(names.signature);
    if kind == ConnectorKind::Woocommerce && signature.is_none() && is_ping(body) {
        return Ok(WebhookOutcome::Ping);
    }
    if !verify(
        connection.secret("webhook_secret"),
        body,
        signature.as_deref(),
    ) {
        return Err(WebhookRefusal::BadSignature);
    }
    let delivery = header(names.delivery);
    if let Some(id) = &delivery
        && state
            .delivery_seen(id)
            .await
            .map_err(|e| WebhookRefusal::Failed(e.to_string()))?
    {
        return Ok(WebhookOutcome::Duplicate);
    }
    let topic = header(names.topic).unwrap_or_default();
    if deletes(kind, &topic) {
        let id = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("id").and_then(deleted_id))
            .ok_or_else(|| WebhookRefusal::Malformed("a deletion names the order's id".into()))?;
        let imported = crate::import::cancel_on_channel(&state, &id, "deleted")
            .await
            .map_err(|e| WebhookRefusal::Failed(e.to_string()))?;
        if let Some(delivery) = &delivery {
            state
                .first_delivery(delivery)
                .await
                .map_err(|e| WebhookRefusal::Failed(e.to_string()))?;
        }
        return Ok(WebhookOutcome::Imported(imported));
    }
    if !acts_on(kind, &topic) {
        return Ok(WebhookOutcome::Ignored { topic });
    }
    let order = match kind {
        ConnectorKind::Woocommerce => crate::woocommerce::map_order(body),
        _ => crate::shopify::map_order(body),
    }
    .map_err(|e| match e {
        RemoteError::Malformed(m) => WebhookRefusal::Malformed(m),
        other => WebhookRefusal::Malformed(other.to_string()),
    })?
    .0;
    let imported = import_order(&state, order)
        .await
        .map_err(|e| WebhookRefusal::Failed(e.to_string()))?;
    // Only now: a delivery that failed to store must be accepted when it comes again.
    if let Some(id) = &delivery {
        state
            .first_delivery(id)
            .await
            .map_err(|e| WebhookRefusal::Failed(e.to_string()))?;
    }
    Ok(WebhookOutcome::Imported(imported))
}

/// Ids as the channels send them: a JSON number (kept exactly, even above 2^53) or a string.
fn deleted_id(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) if n.is_u64() => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn is_ping(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|b| {
        b.trim()
            .strip_prefix("webhook_id=")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()))
    })
}
