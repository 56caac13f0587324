//! Sales-channel connectors: orders in from Shopify, WooCommerce, Amazon and eBay (webhooks
//! and polling), stock levels and tracking out, and order CSV imports.

pub mod amazon;
pub mod channel;
pub mod client;
pub mod csv_import;
pub mod ebay;
pub mod import;
pub mod model;
mod money;
pub mod secrets;
pub mod settings;
pub mod shopify;
pub mod signature;
pub mod state;
pub mod sync;
pub mod webhook;
pub mod woocommerce;

pub use model::{ChannelOrder, ChannelOrderState};
