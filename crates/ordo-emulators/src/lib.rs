//! Emulators of remote sales-channel APIs, speaking their wire formats: small axum servers
//! on loopback ports holding orders, listings and stock in memory, with the real
//! pagination, rate limits, errors and signed webhooks, and faults a test can inject.

mod common;
pub mod amazon;
pub mod shopify;

pub use common::{Fault, Faults, Stats};
