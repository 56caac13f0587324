//! Every channel order, whether it came by webhook, by polling or from a CSV file, enters
//! Ordo here: SKUs are mapped, then the order is captured through the same path as
//! `POST /api/v1/orders`, so retries and redeliveries are idempotent by
//! `(channel, external_id)`.

use ordo_domain::Problem;
use ordo_domain::order::{HoldReason, OrderStatus, PaymentInput, Transition, UnmappedLine};
use ordo_store::{OrderChange, Outcome, StoreError, WriteContext};
use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{ChannelOrder, ChannelOrderState};
use crate::state::{Attention, ChannelState, StateError};

/// The tag an order fulfilled by the channel itself (Amazon FBA) carries; a routing rule
/// on it sends the order to the channel's fulfilment location.
pub const FULFILLED_BY_CHANNEL_TAG: &str = "fulfilled_by_channel";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Imported {
    Created {
        number: String,
    },
    AlreadyKnown {
        number: String,
    },
    Cancelled {
        number: String,
    },
    /// The channel now says it can be paid: the payment hold is lifted.
    Released {
        number: String,
    },
    /// Kept back until its data is fixed: nothing was captured.
    NeedsAttention {
        reason: String,
    },
    /// Captured on hold `unmapped_sku`: these channel items have no Ordo SKU yet.
    HeldUnmapped {
        number: String,
        unmapped: Vec<String>,
    },
    /// Its last unmapped item was mapped: the order is released.
    Mapped {
        number: String,
    },
    /// Nothing to do: cancelled or completed on the channel before Ordo ever saw it.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("storage failure: {0}")]
    Store(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(e.to_string())
    }
}

fn context(channel: &str) -> WriteContext {
    WriteContext {
        actor: format!("channel:{channel}"),
        idempotency_key: None,
    }
}

async fn existing(
    state: &ChannelState,
    external_id: &str,
) -> Result<Option<ordo_domain::order::Order>, ImportError> {
    Ok(state
        .store()
        .find_channel_order(&state.channel, external_id)
        .await?)
}

pub async fn import_order(
    state: &ChannelState,
    order: ChannelOrder,
) -> Result<Imported, ImportError> {
    let store = state.store().clone();
    let ctx = context(&state.channel);
    match order.state {
        ChannelOrderState::Cancelled | ChannelOrderState::Closed => {
            let what = if order.state == ChannelOrderState::Cancelled {
                "cancelled"
            } else {
                "completed"
            };
            if order.state == ChannelOrderState::Closed {
                state.release_attention_if_any(&order.external_id).await?;
                return Ok(match existing(state, &order.external_id).await? {
                    Some(known) => Imported::AlreadyKnown {
                        number: known.number,
                    },
                    None => Imported::Skipped {
                        reason: format!("{what} on the channel before it was imported"),
                    },
                });
            }
            return cancel_on_channel(state, &order.external_id, what).await;
        }
        ChannelOrderState::Open | ChannelOrderState::PaymentPending => {}
    }

    if let Some(known) = existing(state, &order.external_id).await? {
        if !known.unmapped_lines.is_empty() && known.status != OrderStatus::Cancelled {
            return map_waiting_lines(state, &order, known).await;
        }
        // Its items may have been mapped on the order itself since it was listed.
        state.release_attention_if_any(&order.external_id).await?;
        return release_if_paid(state, &order, known).await;
    }

    let mut input = order.input.clone();
    input.channel = Some(state.channel.clone());
    input.external_id = Some(order.external_id.clone());
    let refs: Vec<&str> = input
        .lines
        .iter()
        .filter_map(|l| l.sku.as_deref())
        .chain(order.listing_ids.iter().filter_map(|l| l.as_deref()))
        .collect();
    let mapped = state.mapped_skus(&refs).await?;
    let mut unmapped = Vec::new();
    for (i, line) in input.lines.iter_mut().enumerate() {
        let sku = line.sku.clone().unwrap_or_default();
        let listing = order.listing_ids.get(i).cloned().flatten();
        let resolved = if let Some(s) = mapped.get(&sku) {
            Some(s.clone())
        } else if let Some(s) = listing.as_ref().and_then(|l| mapped.get(l)) {
            Some(s.clone())
        } else if !sku.is_empty() && store.get_product(&sku).await?.is_some() {
            Some(sku.clone())
        } else {
            None
        };
        match resolved {
            Some(s) => line.sku = Some(s),
            None => {
                let channel_ref = if sku.is_empty() {
                    listing.unwrap_or_else(|| format!("line {}", i + 1))
                } else {
                    sku
                };
                line.sku = Some(unmapped_placeholder(&channel_ref));
                unmapped.push(UnmappedLine {
                    line_no: i as i32 + 1,
                    channel_ref,
                });
            }
        }
    }
    let address = input.shipping_address.get_or_insert_with(Default::default);
    let addressless = address.line1.is_none() || address.country.is_none();
    if addressless && order.fulfilled_by_channel {
        // The channel ships it and keeps the buyer's address; Ordo needs none.
        address
            .name
            .get_or_insert_with(|| format!("Fulfilled by {}", state.channel));
        address
            .line1
            .get_or_insert_with(|| "Address held by the channel".into());
        address.city.get_or_insert_with(|| "-".into());
        address.country.get_or_insert_with(|| "US".into());
    } else if addressless && order.state == ChannelOrderState::PaymentPending {
        // Amazon withholds the address until the order can be paid; the poll that sees it
        // payable brings the address and captures it then.
        return Ok(Imported::Skipped {
            reason: "payment pending on the channel, which withholds the address until then".into(),
        });
    }
    if order.fulfilled_by_channel && !input.tags.iter().any(|t| t == FULFILLED_BY_CHANNEL_TAG) {
        input.tags.push(FULFILLED_BY_CHANNEL_TAG.to_string());
    }
    if order.state == ChannelOrderState::PaymentPending {
        let payment = input.payment.get_or_insert_with(PaymentInput::default);
        payment.status = Some("pending".into());
    }
    let new = match input.validate(OffsetDateTime::now_utc()) {
        Ok(mut new) => {
            new.unmapped_lines = unmapped.clone();
            new
        }
        Err(problem) => {
            let reason = describe(&problem);
            hold(state, &order, Vec::new(), &reason).await?;
            return Ok(Imported::NeedsAttention { reason });
        }
    };
    let created = match store.capture_order(new, &ctx).await {
        Ok(Outcome::Done(created)) => created,
        Ok(Outcome::Replayed { .. }) => {
            unreachable!("captures from a channel carry no idempotency key")
        }
        Err(StoreError::Problem(problem)) => {
            let reason = describe(&problem);
            hold(state, &order, Vec::new(), &reason).await?;
            return Ok(Imported::NeedsAttention { reason });
        }
        Err(e) => return Err(e.into()),
    };
    let number = created.value.number.clone();
    if unmapped.is_empty() {
        state.release_attention_if_any(&order.external_id).await?;
    } else {
        // Captured and holding its mapped items' stock; listed until every item is mapped.
        hold_unmapped(state, &order, &number, &unmapped).await?;
    }
    if created.created {
        state.count("orders_imported", 1).await?;
    }
    Ok(match (created.created, unmapped.is_empty()) {
        (_, false) => Imported::HeldUnmapped {
            number,
            unmapped: unmapped.into_iter().map(|u| u.channel_ref).collect(),
        },
        (true, true) => Imported::Created { number },
        (false, true) => Imported::AlreadyKnown { number },
    })
}

/// What an unmapped line's `sku` holds until it is mapped: never a valid product's SKU by
/// accident (the prefix), within the SKU rules (no whitespace, at most 64 characters).
fn unmapped_placeholder(channel_ref: &str) -> String {
    let cleaned: String = channel_ref
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(54)
        .collect();
    format!("unmapped:{cleaned}")
}

/// Maps the lines of a held order whose channel references now resolve to an Ordo SKU (a
/// mapping was added or a product created since); the store releases the order with its
/// last line.
async fn map_waiting_lines(
    state: &ChannelState,
    order: &ChannelOrder,
    known: ordo_domain::order::Order,
) -> Result<Imported, ImportError> {
    let store = state.store().clone();
    let refs: Vec<&str> = known
        .unmapped_lines
        .iter()
        .map(|u| u.channel_ref.as_str())
        .collect();
    let mapped = state.mapped_skus(&refs).await?;
    let mut current = known.clone();
    for waiting in &known.unmapped_lines {
        let sku = match mapped.get(&waiting.channel_ref) {
            Some(s) => Some(s.clone()),
            None if store.get_product(&waiting.channel_ref).await?.is_some() => {
                Some(waiting.channel_ref.clone())
            }
            None => None,
        };
        let Some(sku) = sku else { continue };
        match store
            .map_order_line(
                &known.number,
                waiting.line_no,
                &sku,
                &context(&state.channel),
            )
            .await
        {
            Ok(Outcome::Done(order)) => current = order,
            Ok(Outcome::Replayed { .. }) => unreachable!("no idempotency key"),
            // Mapped meanwhile, or the SKU is already on the order: it stays listed.
            Err(StoreError::Problem(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if current.unmapped_lines.is_empty() {
        state.release_attention_if_any(&order.external_id).await?;
        return match release_if_paid(state, order, current).await? {
            Imported::AlreadyKnown { number } => Ok(Imported::Mapped { number }),
            other => Ok(other),
        };
    }
    let unmapped: Vec<UnmappedLine> = current.unmapped_lines.clone();
    hold_unmapped(state, order, &current.number, &unmapped).await?;
    Ok(Imported::HeldUnmapped {
        number: current.number,
        unmapped: unmapped.into_iter().map(|u| u.channel_ref).collect(),
    })
}

async fn hold_unmapped(
    state: &ChannelState,
    order: &ChannelOrder,
    number: &str,
    unmapped: &[UnmappedLine],
) -> Result<(), StateError> {
    let refs: Vec<String> = unmapped.iter().map(|u| u.channel_ref.clone()).collect();
    state
        .hold_for_attention(&Attention {
            external_id: order.external_id.clone(),
            reason: format!(
                "no Ordo SKU for {}; order {number} is on hold until it is mapped",
                refs.join(", ")
            ),
            unmapped: refs,
            number: Some(number.to_string()),
            since: OffsetDateTime::now_utc(),
            order: order.clone(),
        })
        .await
}

/// The channel cancelled (or deleted) the order: cancelled here too, its stock released;
/// refused only once it has shipped, which the channel cannot undo.
pub async fn cancel_on_channel(
    state: &ChannelState,
    external_id: &str,
    what: &str,
) -> Result<Imported, ImportError> {
    state.release_attention_if_any(external_id).await?;
    let Some(known) = existing(state, external_id).await? else {
        return Ok(Imported::Skipped {
            reason: format!("{what} on the channel before it was imported"),
        });
    };
    if known.status == OrderStatus::Cancelled {
        return Ok(Imported::AlreadyKnown {
            number: known.number,
        });
    }
    let change = OrderChange {
        transition: Transition::Cancel,
        hold_reason: None,
        note: Some(format!("{what} on the channel")),
    };
    match state
        .store()
        .transition_order(&known.number, change, &context(&state.channel))
        .await
    {
        Ok(_) => Ok(Imported::Cancelled {
            number: known.number,
        }),
        // Already shipped here: the operator sees the order as shipped and handles it as
        // a return.
        Err(StoreError::Problem(Problem::Conflict { .. })) => Ok(Imported::AlreadyKnown {
            number: known.number,
        }),
        Err(e) => Err(e.into()),
    }
}

/// After lines were mapped on the order itself: once none waits, the channel's "needs
/// attention" entry has nothing left to ask. The mapping is already committed, so a failure
/// here only leaves a stale entry, which the channel's next retry clears.
pub async fn forget_attention_once_mapped(state: &ChannelState, order: &ordo_domain::order::Order) {
    if !order.unmapped_lines.is_empty() {
        return;
    }
    if let Err(e) = state.release_attention_if_any(&order.external_id).await {
        tracing::warn!(error = %e, order = %order.number, "attention entry kept");
    }
}

async fn release_if_paid(
    state: &ChannelState,
    order: &ChannelOrder,
    known: ordo_domain::order::Order,
) -> Result<Imported, ImportError> {
    if order.state != ChannelOrderState::Open
        || known.status != OrderStatus::OnHold
        || known.hold_reason != Some(HoldReason::PaymentPending)
    {
        return Ok(Imported::AlreadyKnown {
            number: known.number,
        });
    }
    let change = OrderChange {
        transition: Transition::Release,
        hold_reason: None,
        note: Some("paid on the channel".into()),
    };
    match state
        .store()
        .transition_order(&known.number, change, &context(&state.channel))
        .await
    {
        Ok(_) => Ok(Imported::Released {
            number: known.number,
        }),
        Err(StoreError::Problem(Problem::Conflict { .. })) => Ok(Imported::AlreadyKnown {
            number: known.number,
        }),
        Err(e) => Err(e.into()),
    }
}

async fn hold(
    state: &ChannelState,
    order: &ChannelOrder,
    unmapped: Vec<String>,
    reason: &str,
) -> Result<(), StateError> {
    state
        .hold_for_attention(&Attention {
            external_id: order.external_id.clone(),
            unmapped,
            reason: reason.to_string(),
            number: None,
            since: OffsetDateTime::now_utc(),
            order: order.clone(),
        })
        .await
}

fn describe(problem: &Problem) -> String {
    match problem {
        Problem::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Tries again every order of the channel kept back for attention (after a mapping was
/// added or a product created). Returns what happened to each.
pub async fn retry_attention(state: &ChannelState) -> Result<Vec<(String, Imported)>, ImportError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state.attention(after.as_deref(), 100).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.external_id.clone());
        for waiting in page {
            let outcome = import_order(state, waiting.order).await?;
            out.push((waiting.external_id, outcome));
        }
    }
    Ok(out)
}

/// Keeps one routing rule per channel that fulfils some orders itself (Amazon FBA): orders
/// tagged [`FULFILLED_BY_CHANNEL_TAG`] from that channel go only to its fulfilment location.
/// Added, changed or removed with the connection, at the top of the rules.
pub async fn ensure_channel_fulfilment_rule(
    state: &ChannelState,
    location: Option<&str>,
    ctx: &WriteContext,
) -> Result<(), ImportError> {
    let store = state.store();
    let name = format!("{}: fulfilled by the channel", state.channel);
    let current = store.routing_rules().await?;
    let mut rules: Vec<serde_json::Value> = current.rules.as_array().cloned().unwrap_or_default();
    let before = rules.clone();
    rules.retain(|r| r["name"].as_str() != Some(name.as_str()));
    if let Some(location) = location {
        rules.insert(
            0,
            serde_json::json!({
                "name": name,
                "conditions": {"channels": [state.channel], "tags": [FULFILLED_BY_CHANNEL_TAG]},
                "actions": {"restrict_to_locations": [location]},
                "stop_processing": true,
            }),
        );
    }
    if rules != before {
        store
            .put_routing_rules(serde_json::Value::Array(rules), Some(current.version), ctx)
            .await?;
    }
    Ok(())
}

/// What importing one order file did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileImportReport {
    pub rows: u64,
    pub orders: usize,
    pub created: usize,
    pub already_known: usize,
    pub cancelled: usize,
    pub needs_attention: usize,
    pub skipped: usize,
    /// Rows refused by the parser; their orders were skipped, the others imported.
    pub errors: Vec<FileRowError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRowError {
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
}

/// Imports every valid order of a CSV file for the channel; `progress(done, total)` is
/// called after each order. Running the same file again creates nothing.
pub async fn import_file(
    state: &ChannelState,
    bytes: &[u8],
    format: crate::csv_import::CsvFormat,
    mut progress: impl FnMut(usize, usize),
) -> Result<FileImportReport, ImportError> {
    let parsed = crate::csv_import::parse_orders(bytes, format, &state.channel);
    let mut report = FileImportReport {
        rows: parsed.rows,
        orders: parsed.orders.len(),
        errors: parsed
            .errors
            .into_iter()
            .map(|e| FileRowError {
                line: e.line,
                column: e.column,
                reason: e.reason,
            })
            .collect(),
        ..Default::default()
    };
    let total = parsed.orders.len();
    for (i, order) in parsed.orders.into_iter().enumerate() {
        match import_order(state, order).await? {
            Imported::Created { .. } => report.created += 1,
            Imported::AlreadyKnown { .. } | Imported::Released { .. } | Imported::Mapped { .. } => {
                report.already_known += 1
            }
            Imported::Cancelled { .. } => report.cancelled += 1,
            Imported::NeedsAttention { .. } | Imported::HeldUnmapped { .. } => {
                report.needs_attention += 1
            }
            Imported::Skipped { .. } => report.skipped += 1,
        }
        progress(i + 1, total);
    }
    Ok(report)
}
