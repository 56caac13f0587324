//! Ordo's shipping documents, free of I/O: identifiers, barcodes, labels, packing slips,
//! manifests and pick lists. Every function takes plain values and returns bytes or text, so
//! documents are deterministic, testable without a printer, and can be produced anywhere in
//! the stack.
//!
//! - [`gs1`]: GS1 mod-10 check digits (GTIN, SSCC), SSCC-18 construction and validation.
//! - [`s10`]: tracking numbers for Ordo's built-in carriers (`own_fleet`, `manual`) in the
//!   UPU S10 layout, with their mod-11 check digit, and a validator.
//! - [`code128`]: Code 128 / GS1-128 encoder (subsets B and C, automatic switching,
//!   mod-103 check) to bar/space module widths.
//! - [`ShippingLabel`]: the 4×6 in label as PDF (288 × 432 pt) and ZPL II (203 dpi).
//! - [`PackingSlip`]: A4 or Letter PDF. [`Manifest`]: end-of-day PDF and CSV.
//! - [`PickListDocument`]: the picker's walk as A4 or Letter PDF, with bin and SKU barcodes.
//!
//! No PDF, font or barcode crate is used. A label needs two standard fonts (not embedded),
//! filled rectangles and text; writing that subset takes a few hundred lines and keeps the
//! build light, whereas PDF crates bring font parsing, image codecs or compression that
//! these documents never use. The tests parse the output back with an independent reader.
//!
//! ```
//! use ordo_labels::{Address, S10Prefix, ShippingLabel, Sscc, WeightUnit};
//!
//! let address = |name: &str, city: &str| Address {
//!     name: name.into(),
//!     line1: "1 Example Street".into(),
//!     city: city.into(),
//!     postal_code: Some("10115".into()),
//!     country: "DE".into(),
//!     ..Address::default()
//! };
//! // Own-fleet tracking number: serial 42 from the caller's persistent sequence.
//! let tracking = S10Prefix::new("ZZ", "DE").unwrap().number(42).unwrap();
//! let label = ShippingLabel {
//!     sender: address("Warehouse", "Hamburg"),
//!     recipient: address("Ann Example", "Berlin"),
//!     carrier: "Ordo Fleet".into(),
//!     service: "Next day".into(),
//!     tracking_number: tracking.to_string(),
//!     weight_grams: 1250,
//!     weight_unit: WeightUnit::Kg,
//!     package_number: 1,
//!     package_count: 1,
//!     reference: Some("SO-000123-1".into()),
//!     order_number: None,
//!     ship_date: None,
//!     sscc: Some(Sscc::new(1, "0614141", 1).unwrap()),
//! };
//! let pdf: Vec<u8> = label.to_pdf().unwrap();
//! let zpl: String = label.to_zpl().unwrap();
//! assert!(pdf.starts_with(b"%PDF-1.4"));
//! assert!(zpl.starts_with("^XA") && zpl.ends_with("^XZ"));
//! ```

pub mod code128;
pub mod error;
pub mod fonts;
pub mod gs1;
mod label;
mod layout;
mod manifest;
mod model;
mod packing_slip;
mod pdf;
mod pick_list;
pub mod s10;
mod zpl;

pub use code128::Code128;
pub use error::{BarcodeError, DocumentError, FieldError, IdError};
pub use gs1::{Sscc, gs1_check_digit, validate_gs1_check_digit, validate_gtin};
pub use label::{LABEL_HEIGHT_PT, LABEL_WIDTH_PT, ShippingLabel};
pub use layout::DPI;
pub use manifest::{
    MANIFEST_CSV_COLUMNS, Manifest, ManifestPackage, ManifestShipment, ManifestTotals,
};
pub use model::{Address, PageSize, WeightUnit, format_weight};
pub use packing_slip::{PackingSlip, PackingSlipLine};
pub use pick_list::{PickListDocument, PickListLine, PickTote};
pub use s10::{S10, S10Prefix, s10_check_digit};
