//! Ordo's business rules, free of I/O: everything here is deterministic and testable
//! without a database, a clock or a network.

pub mod allocation;
pub mod catalog;
pub mod claims;
pub mod error;
pub mod fulfillment;
pub mod inventory;
pub mod money;
pub mod order;
pub mod refdata;
pub mod return_report;
pub mod returns;
pub mod shipment;

pub use error::{FieldError, Problem};
