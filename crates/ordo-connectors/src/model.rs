//! What every connector turns a channel's order into, before Ordo captures it.

use ordo_domain::order::OrderInput;
use serde::{Deserialize, Serialize};

/// An order as a channel describes it, already in Ordo's terms except for the line SKUs:
/// `input.lines[i].sku` holds the channel's reference for the line (its SKU, or the listing
/// id when the listing has no SKU), which the channel's SKU mapping turns into an Ordo SKU
/// at capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelOrder {
    /// The channel's own order id (a string even when the channel uses integers).
    pub external_id: String,
    pub state: ChannelOrderState,
    /// Channel, external id, customer, addresses, lines, shipping, payment, tags, notes.
    pub input: OrderInput,
    /// Listing ids per line (same order as `input.lines`), tried when the SKU is not mapped.
    #[serde(default)]
    pub listing_ids: Vec<Option<String>>,
    /// The channel fulfils it from its own stock (Amazon FBA): captured against the
    /// channel's marketplace location rather than routed to own warehouses.
    #[serde(default)]
    pub fulfilled_by_channel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrderState {
    /// Paid or authorised, waiting to be fulfilled.
    Open,
    /// Not yet payable (Amazon `Pending`, WooCommerce `pending`/`on-hold`): captured on hold.
    PaymentPending,
    /// Cancelled on the channel: cancelled in Ordo, releasing its stock.
    Cancelled,
    /// Already shipped or completed on the channel (an old order seen by a first import).
    Closed,
}
