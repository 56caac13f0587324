//! Warehouse execution rules: what to pick, in which order, what goes in which box and
//! which carrier service takes it. Everything here is pure (no I/O, no clock, no async):
//! storage and HTTP load the state, call these functions and store what they return, so
//! the same rule answers the same way from the API, the back office and a test.
//!
//! * [`bins`]: bin codes, the walk order (explicit or S-shaped), path lengths;
//! * [`picking`]: building pick lists (single, batch, wave by zone) and confirming scans,
//!   including short picks;
//! * [`packing`]: packing policies per handling class, as data;
//! * [`cartonize`](mod@cartonize): the cheapest set of boxes that holds an order, with placements;
//! * [`shipping`]: carrier services and the cheapest one that keeps the promise.
//!
//! Quantities are units, weights grams, dimensions millimetres, money integer minor units
//! of the shop's currency (format with [`ordo_domain::money::format_amount`]). Every input
//! and output type is serde-serialisable and derives `utoipa::ToSchema` for the HTTP layer.
//!
//! ```
//! use ordo_domain::catalog::{Dimensions, HandlingClass};
//! use ordo_warehouse::bins::{BinFormat, Layout};
//! use ordo_warehouse::cartonize::{BoxType, PackItem, cartonize};
//! use ordo_warehouse::packing::PackingPolicies;
//! use ordo_warehouse::picking::{
//!     CandidateLine, CandidateOrder, PickProgress, PickRequest, PickStrategy, Scan,
//!     build_pick_lists,
//! };
//! use time::macros::datetime;
//!
//! // Two orders, one cart: a batch with a tote per order, lines in S-shaped walk order.
//! let layout = Layout::derived(BinFormat::default()).unwrap();
//! let order = |id: &str, priority, sku: &str, bin: &str| CandidateOrder {
//!     id: id.into(),
//!     order_number: id.into(),
//!     priority,
//!     placed_at: datetime!(2026-03-06 09:00 UTC),
//!     channel: "web".into(),
//!     service_level: None,
//!     tags: vec![],
//!     cutoff_at: None,
//!     lines: vec![CandidateLine {
//!         sku: sku.into(),
//!         quantity: 1,
//!         unit_weight_g: 300,
//!         bin: Some(bin.into()),
//!     }],
//! };
//! let request = PickRequest {
//!     orders: vec![order("SO-1-1", 0, "MUG", "A-02-07-A"), order("SO-2-1", 5, "TEA", "A-02-01-A")],
//!     filters: Default::default(),
//!     limits: Default::default(),
//!     strategy: PickStrategy::Batch,
//! };
//! let plan = build_pick_lists(&request, &layout).unwrap();
//! let list = &plan.lists[0];
//! assert_eq!(plan.selected, ["SO-2-1", "SO-1-1"]); // priority first: tote 1 is SO-2-1
//! assert_eq!(list.lines[0].bin.as_deref(), Some("A-02-07-A")); // aisle 2 is walked downwards
//!
//! // The picker scans; both orders become picked.
//! let mut progress = PickProgress::new(&plan.lists);
//! progress.scan(&Scan { sku: "MUG".into(), bin: Some("A-02-07-A".into()), quantity: 1 }).unwrap();
//! let done = progress.scan(&Scan { sku: "TEA".into(), bin: None, quantity: 1 }).unwrap();
//! assert!(done.complete);
//!
//! // The mug is fragile: 20 mm padding on every side decides the box.
//! let d = |l, w, h| Dimensions { length_mm: l, width_mm: w, height_mm: h };
//! let boxes = vec![
//!     BoxType { code: "S".into(), inner: d(150, 120, 120), outer: None, max_weight_g: 5_000,
//!               tare_g: 100, cost_minor: 40, features: vec![] },
//!     BoxType { code: "M".into(), inner: d(250, 200, 150), outer: None, max_weight_g: 10_000,
//!               tare_g: 200, cost_minor: 60, features: vec![] },
//! ];
//! let mug = PackItem { sku: "MUG".into(), dimensions: d(120, 90, 100), weight_g: 300,
//!                      handling_classes: vec![HandlingClass::Fragile], quantity: 1 };
//! let packing = cartonize(&[mug], &boxes, &PackingPolicies::default()).unwrap();
//! assert_eq!(packing.packages[0].box_code, "M");
//! assert_eq!(packing.packages[0].markings, ["FRAGILE"]);
//! ```

pub mod bins;
pub mod cartonize;
pub mod packing;
pub mod picking;
pub mod shipping;

pub use bins::{BinFlag, BinFormat, Layout, LayoutConfig, PathLength};
pub use cartonize::{BoxType, PackItem, PackingPlan, cartonize};
pub use packing::{PackingPolicies, PackingPolicy};
pub use picking::{PickList, PickPlan, PickProgress, PickRequest, build_pick_lists};
pub use shipping::{CarrierService, ServiceChoice, ServiceLevel, ShipmentRequest, choose_service};
