//! Emulators of remote sales-channel APIs, speaking their wire formats: small axum servers
//! on loopback ports holding orders, listings and stock in memory, with the real
//! pagination, rate limits, errors and signed webhooks, and faults a test can inject.
//!
//! Each emulator is started with `XEmulator::start(XConfig)`, answers on
//! [`base_url`](shopify::ShopifyEmulator::base_url), and offers seeding (`place`,
//! `add_product`/`add_listing`...), inspection (`orders`, stock, tracking received),
//! [`Stats`] and [`Faults`].

#![recursion_limit = "256"]
// Handlers' helpers return the API's error answer as `Err`: boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod common;
mod seed;

pub mod amazon;
pub mod ebay;
pub mod shopify;
pub mod woocommerce;

pub use common::{Fault, Faults, Stats, sign};
pub use seed::{Address, Customer, LineSpec, NewOrder};
