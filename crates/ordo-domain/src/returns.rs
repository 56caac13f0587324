//! Returns (RMA): what may come back, through which states, and what each returned unit
//! does to stock. Pure rules; the store records them and writes the movements.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use crate::catalog::HandlingClass;
use crate::error::{Errors, Problem};
use crate::inventory::{Reason, StockState};

macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == s)
            }
            /// The accepted values, for error messages.
            pub fn list() -> String {
                Self::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

words!(
    /// Why the customer sends it back.
    ReturnReason {
        Damaged => "damaged",
        Defective => "defective",
        WrongItem => "wrong_item",
        NotAsDescribed => "not_as_described",
        NoLongerNeeded => "no_longer_needed",
        ArrivedLate => "arrived_late",
        Other => "other",
    }
);

words!(
    /// What the customer gets.
    Resolution {
        Refund => "refund",
        Exchange => "exchange",
        StoreCredit => "store_credit",
        Replacement => "replacement",
    }
);

words!(
    /// How the goods come back; `keep_item` returns nothing physically.
    ReturnMethod {
        Pickup => "pickup",
        DropOff => "drop_off",
        KeepItem => "keep_item",
    }
);

words!(
    ReturnStatus {
        Requested => "requested",
        Approved => "approved",
        Rejected => "rejected",
        LabelIssued => "label_issued",
        InTransit => "in_transit",
        Received => "received",
        Inspected => "inspected",
        Closed => "closed",
    }
);

words!(
    /// The state a returned unit arrives in.
    Condition {
        Resellable => "resellable",
        Damaged => "damaged",
        Defective => "defective",
        Missing => "missing",
    }
);

/// The steps of a return; each names the status it leads to from the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnStep {
    Approve,
    Reject,
    IssueLabel,
    Ship,
    Receive,
    Inspect,
    Close,
}

/// The status after `step`, or 409 naming the current one.
pub fn return_transition(
    current: ReturnStatus,
    method: ReturnMethod,
    step: ReturnStep,
) -> Result<ReturnStatus, Problem> {
    use ReturnStatus::*;
    use ReturnStep::*;
    let physical = method != ReturnMethod::KeepItem;
    let next = match (current, step) {
        (Requested, Approve) => Some(Approved),
        (Requested, Reject) => Some(Rejected),
        (Approved, IssueLabel) if physical => Some(LabelIssued),
        (Approved | LabelIssued, Ship) if physical => Some(InTransit),
        (Approved | LabelIssued | InTransit, Receive) if physical => Some(Received),
        (Received, Inspect) => Some(Inspected),
        // Nothing comes back for keep_item: approval settles it.
        (Approved, Close) if !physical => Some(Closed),
        (Inspected, Close) => Some(Closed),
        _ => None,
    };
    next.ok_or_else(|| Problem::Conflict {
        message: format!(
            "a {} return that is {} cannot take that step",
            method.as_str(),
            current.as_str()
        ),
        current: Some(current.as_str().into()),
    })
}

/// Where a returned unit goes, by its condition: the states it is counted in at the
/// receiving location (`damaged` and `quality_control` are parts of `on_hand` that cannot be
/// sold). A missing unit changes nothing.
pub fn disposition(condition: Condition) -> &'static [StockState] {
    match condition {
        Condition::Resellable => &[StockState::OnHand],
        Condition::Damaged => &[StockState::OnHand, StockState::Damaged],
        Condition::Defective => &[StockState::OnHand, StockState::QualityControl],
        Condition::Missing => &[],
    }
}

/// The ledger reason of every movement a receipt writes.
pub const RECEIPT_REASON: Reason = Reason::ReturnRestock;

/// What becomes of units waiting in quality control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Fit to sell: out of `quality_control`, so available again.
    Restock,
    /// Not fit to sell: out of `quality_control` and `on_hand`.
    WriteOff,
}

impl Grade {
    /// The (state, delta) changes of grading `quantity` units, and the ledger reason.
    pub fn changes(self, quantity: i64) -> (Vec<(StockState, i64)>, Reason) {
        match self {
            Grade::Restock => (
                vec![(StockState::QualityControl, -quantity)],
                Reason::ReturnRestock,
            ),
            Grade::WriteOff => (
                vec![
                    (StockState::QualityControl, -quantity),
                    (StockState::OnHand, -quantity),
                ],
                Reason::Damage,
            ),
        }
    }
}

/// A channel's return policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReturnPolicy {
    /// Days after delivery (or shipment, when delivery is unknown) a return may be asked for.
    pub window_days: i64,
    /// Classes that cannot come back: only a `keep_item` return is possible for them.
    pub non_returnable: Vec<HandlingClass>,
    /// Approve automatically when the goods are worth at most this (minor units).
    pub auto_approve_up_to_minor: Option<i64>,
    /// Approve automatically for these reasons.
    pub auto_approve_reasons: Vec<ReturnReason>,
    /// Percent of a line's refund kept as a restocking fee, per reason; reasons not named
    /// pay none.
    pub restocking_fee_percent: std::collections::BTreeMap<ReturnReason, i64>,
    /// Refunded on top when the merchant is at fault (damaged, defective, wrong item, not
    /// as described): what the customer paid to send it back. Decimal string.
    pub return_shipping_refund: Option<String>,
    /// When an exchange's replacement order is routed: at once, or once the return is
    /// received (until then it waits on hold, `awaiting_return`).
    pub exchange_timing: ExchangeTiming,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        Self {
            window_days: 30,
            non_returnable: vec![HandlingClass::Perishable],
            auto_approve_up_to_minor: None,
            auto_approve_reasons: Vec::new(),
            restocking_fee_percent: [
                (ReturnReason::NoLongerNeeded, 10),
                (ReturnReason::Other, 10),
            ]
            .into(),
            return_shipping_refund: None,
            exchange_timing: ExchangeTiming::OnReceipt,
        }
    }
}

words!(
    /// When the replacement order of an exchange is routed.
    ExchangeTiming {
        Advance => "advance",
        OnReceipt => "on_receipt",
    }
);

impl ReturnReason {
    /// Reasons where the merchant is at fault: no restocking fee, return shipping refunded.
    pub fn merchant_at_fault(self) -> bool {
        matches!(
            self,
            ReturnReason::Damaged
                | ReturnReason::Defective
                | ReturnReason::WrongItem
                | ReturnReason::NotAsDescribed
        )
    }
}

impl ReturnPolicy {
    /// Checks the figures a merchant sets.
    pub fn check(&self) -> Result<(), Problem> {
        let mut errors = Errors::default();
        if !(0..=3650).contains(&self.window_days) {
            errors.add("window_days", "must be between 0 and 3650");
        }
        for (reason, percent) in &self.restocking_fee_percent {
            if !(0..=100).contains(percent) {
                errors.add(
                    format!("restocking_fee_percent.{}", reason.as_str()),
                    "must be between 0 and 100",
                );
            } else if *percent > 0 && reason.merchant_at_fault() {
                errors.add(
                    format!("restocking_fee_percent.{}", reason.as_str()),
                    "no restocking fee when the merchant is at fault",
                );
            }
        }
        if let Some(amount) = &self.return_shipping_refund {
            let plain = amount.trim();
            let ok = !plain.is_empty()
                && plain.split_once('.').map_or(
                    plain.bytes().all(|b| b.is_ascii_digit()),
                    |(w, f)| {
                        !w.is_empty()
                            && w.bytes().all(|b| b.is_ascii_digit())
                            && !f.is_empty()
                            && f.bytes().all(|b| b.is_ascii_digit())
                    },
                );
            if !ok {
                errors.add(
                    "return_shipping_refund",
                    "must be a decimal string such as \"4.95\"",
                );
            }
        }
        errors.finish(|| ())
    }
}

/// A line of an exchange or replacement: what the customer gets instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExchangeLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ExchangeLineInput {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
}

/// One order line as returns see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnableLine {
    pub line_no: i32,
    pub sku: String,
    pub shipped: i64,
    /// Units already on other (not rejected) returns.
    pub already_returned: i64,
    pub classes: Vec<HandlingClass>,
    /// Net value of one unit, minor units.
    pub unit_value_minor: i64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReturnLineInput {
    pub sku: Option<String>,
    /// Picks the order line when a SKU is on several.
    pub line_no: Option<i32>,
    pub quantity: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReturnInput {
    /// The order's number or id.
    pub order: Option<String>,
    #[serde(default)]
    pub lines: Vec<ReturnLineInput>,
    pub resolution: Option<String>,
    pub method: Option<String>,
    pub notes: Option<String>,
    /// For `exchange`: what to send instead (another size, another SKU); by default the
    /// returned SKUs again. A `replacement` always sends the returned SKUs again.
    #[serde(default)]
    pub exchange_lines: Vec<ExchangeLineInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnLine {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub reason: ReturnReason,
}

/// A return request checked against the order and the channel's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturn {
    pub lines: Vec<ReturnLine>,
    pub resolution: Resolution,
    pub method: ReturnMethod,
    pub notes: Option<String>,
    /// The policy approves it without a person.
    pub auto_approved: bool,
    /// What an exchange or replacement sends; empty for refunds and store credit.
    pub exchange_lines: Vec<ExchangeLine>,
}

impl ReturnInput {
    /// Checks the request: only shipped units not already on other returns, within the
    /// window after `delivered_at`, and non-returnable classes only as `keep_item`. Every
    /// problem is named by its field and the rule it breaks.
    pub fn validate(
        self,
        lines: &[ReturnableLine],
        policy: &ReturnPolicy,
        delivered_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<NewReturn, Problem> {
        let mut errors = Errors::default();
        let resolution = match self.resolution.as_deref().map(Resolution::parse) {
            Some(Some(r)) => Some(r),
            _ => {
                errors.add(
                    "resolution",
                    format!("must be one of {}", Resolution::list()),
                );
                None
            }
        };
        let method = match self.method.as_deref().map(ReturnMethod::parse) {
            Some(Some(m)) => Some(m),
            None => Some(ReturnMethod::DropOff),
            Some(None) => {
                errors.add("method", format!("must be one of {}", ReturnMethod::list()));
                None
            }
        };
        match delivered_at {
            None => errors.add("order", "nothing of this order has shipped yet"),
            Some(at) if now - at > Duration::days(policy.window_days) => errors.add(
                "order",
                format!(
                    "the return window of {} days after delivery has passed",
                    policy.window_days
                ),
            ),
            _ => {}
        }
        if self.lines.is_empty() {
            errors.add("lines", "name at least one line");
        }
        if self.notes.as_ref().is_some_and(|n| n.len() > 2000) {
            errors.add("notes", "must be at most 2000 characters");
        }
        let mut out: Vec<ReturnLine> = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let path = |f: &str| format!("lines[{i}].{f}");
            let found = lines.iter().find(|r| {
                l.line_no.is_none_or(|n| n == r.line_no)
                    && l.sku.as_deref().is_none_or(|s| s == r.sku)
                    && (l.line_no.is_some() || l.sku.is_some())
            });
            let Some(line) = found else {
                errors.add(path("sku"), "is not a line of this order");
                continue;
            };
            let reason = match l.reason.as_deref().map(ReturnReason::parse) {
                Some(Some(r)) => r,
                _ => {
                    errors.add(
                        path("reason"),
                        format!("must be one of {}", ReturnReason::list()),
                    );
                    continue;
                }
            };
            let quantity = l.quantity.unwrap_or(1);
            let earlier: i64 = out
                .iter()
                .filter(|o| o.line_no == line.line_no)
                .map(|o| o.quantity)
                .sum();
            let returnable = line.shipped - line.already_returned - earlier;
            if quantity < 1 || quantity > returnable {
                errors.add(
                    path("quantity"),
                    format!(
                        "must be between 1 and {} ({} shipped, {} already on returns)",
                        returnable.max(0),
                        line.shipped,
                        line.already_returned + earlier
                    ),
                );
                continue;
            }
            if method.is_some_and(|m| m != ReturnMethod::KeepItem)
                && let Some(class) = line
                    .classes
                    .iter()
                    .find(|c| policy.non_returnable.contains(c))
            {
                errors.add(
                    path("sku"),
                    format!(
                        "{} items cannot be sent back; only a keep_item return is possible",
                        class.as_str()
                    ),
                );
                continue;
            }
            out.push(ReturnLine {
                line_no: line.line_no,
                sku: line.sku.clone(),
                quantity,
                reason,
            });
        }
        let value: i64 = out
            .iter()
            .map(|r| {
                r.quantity
                    * lines
                        .iter()
                        .find(|l| l.line_no == r.line_no)
                        .map_or(0, |l| l.unit_value_minor)
            })
            .sum();
        let auto_approved = policy
            .auto_approve_up_to_minor
            .is_some_and(|max| value <= max)
            || (!out.is_empty()
                && out
                    .iter()
                    .all(|r| policy.auto_approve_reasons.contains(&r.reason)));
        let mut exchange_lines = Vec::new();
        match resolution {
            Some(Resolution::Exchange) if !self.exchange_lines.is_empty() => {
                for (i, l) in self.exchange_lines.iter().enumerate() {
                    let sku = l.sku.clone().unwrap_or_default().trim().to_string();
                    let quantity = l.quantity.unwrap_or(1);
                    if sku.is_empty() {
                        errors.add(format!("exchange_lines[{i}].sku"), "is required");
                    } else if !(1..=10_000).contains(&quantity) {
                        errors.add(
                            format!("exchange_lines[{i}].quantity"),
                            "must be between 1 and 10000",
                        );
                    } else {
                        exchange_lines.push(ExchangeLine { sku, quantity });
                    }
                }
            }
            Some(Resolution::Exchange | Resolution::Replacement) => {
                exchange_lines = out
                    .iter()
                    .map(|r| ExchangeLine {
                        sku: r.sku.clone(),
                        quantity: r.quantity,
                    })
                    .collect();
            }
            _ if !self.exchange_lines.is_empty() => {
                errors.add(
                    "exchange_lines",
                    "only an exchange names what to send instead",
                );
            }
            _ => {}
        }
        errors.finish(|| NewReturn {
            lines: out,
            resolution: resolution.expect("checked"),
            method: method.expect("checked"),
            notes: self.notes,
            auto_approved,
            exchange_lines,
        })
    }
}

/// One received line: how many units arrived in which condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedLine {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub condition: Condition,
}

/// Checks a receipt against the authorised lines and what was received before: nothing
/// more than authorised, no unknown SKU. Returns the stock changes it makes, one per line.
pub fn plan_receipt(
    authorised: &[ReturnLine],
    received_before: &[ReceivedLine],
    receipt: &[ReceivedLine],
) -> Result<Vec<(ReceivedLine, &'static [StockState])>, Problem> {
    let mut errors = Errors::default();
    if receipt.is_empty() {
        errors.add("lines", "name at least one line");
    }
    let mut out = Vec::new();
    for (i, r) in receipt.iter().enumerate() {
        let Some(a) = authorised
            .iter()
            .find(|a| a.line_no == r.line_no && a.sku == r.sku)
        else {
            errors.add(
                format!("lines[{i}].sku"),
                format!("{} is not on this return", r.sku),
            );
            continue;
        };
        let before: i64 = received_before
            .iter()
            .chain(receipt[..i].iter())
            .filter(|b| b.line_no == r.line_no)
            .map(|b| b.quantity)
            .sum();
        if r.quantity < 1 || before + r.quantity > a.quantity {
            errors.add(
                format!("lines[{i}].quantity"),
                format!("{} authorised, {before} already received", a.quantity),
            );
            continue;
        }
        out.push((r.clone(), disposition(r.condition)));
    }
    errors.finish(|| out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn line(no: i32, sku: &str, shipped: i64, returned: i64) -> ReturnableLine {
        ReturnableLine {
            line_no: no,
            sku: sku.into(),
            shipped,
            already_returned: returned,
            classes: if sku == "CHEESE" {
                vec![HandlingClass::Perishable]
            } else {
                vec![]
            },
            unit_value_minor: 1000,
        }
    }

    fn input(lines: Vec<(&str, i64, &str)>, method: &str) -> ReturnInput {
        ReturnInput {
            order: Some("SO-000001".into()),
            lines: lines
                .into_iter()
                .map(|(sku, q, reason)| ReturnLineInput {
                    sku: Some(sku.into()),
                    line_no: None,
                    quantity: Some(q),
                    reason: Some(reason.into()),
                })
                .collect(),
            resolution: Some("refund".into()),
            method: Some(method.into()),
            notes: None,
            exchange_lines: Vec::new(),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

    #[test]
    fn only_shipped_units_within_the_window_and_not_perishables() {
        let lines = [line(1, "MUG", 2, 1), line(2, "CHEESE", 1, 0)];
        let policy = ReturnPolicy::default();
        let ok = input(vec![("MUG", 1, "damaged")], "drop_off")
            .validate(&lines, &policy, Some(NOW - Duration::days(3)), NOW)
            .unwrap();
        assert_eq!(ok.lines[0].quantity, 1);
        assert!(!ok.auto_approved);

        let Err(Problem::Invalid(errors)) = input(
            vec![
                ("MUG", 2, "damaged"),
                ("CHEESE", 1, "damaged"),
                ("TEA", 1, "other"),
            ],
            "pickup",
        )
        .validate(&lines, &policy, Some(NOW - Duration::days(40)), NOW) else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["order", "lines[0].quantity", "lines[1].sku", "lines[2].sku"]
        );
        assert!(errors[0].message.contains("30 days"));
        assert!(errors[2].message.contains("perishable"));

        let keep = input(vec![("CHEESE", 1, "damaged")], "keep_item").validate(
            &lines,
            &policy,
            Some(NOW),
            NOW,
        );
        assert!(
            keep.is_ok(),
            "a perishable may be refunded without coming back"
        );
        assert!(
            input(vec![("MUG", 1, "damaged")], "drop_off")
                .validate(&lines, &policy, None, NOW)
                .is_err(),
            "nothing shipped, nothing to return"
        );
    }

    #[test]
    fn auto_approval_by_value_or_reason() {
        let lines = [line(1, "MUG", 5, 0)];
        let policy = ReturnPolicy {
            auto_approve_up_to_minor: Some(2000),
            auto_approve_reasons: vec![ReturnReason::Damaged],
            ..Default::default()
        };
        let cheap = input(vec![("MUG", 2, "no_longer_needed")], "drop_off")
            .validate(&lines, &policy, Some(NOW), NOW)
            .unwrap();
        assert!(cheap.auto_approved);
        let dear = input(vec![("MUG", 3, "no_longer_needed")], "drop_off")
            .validate(&lines, &policy, Some(NOW), NOW)
            .unwrap();
        assert!(!dear.auto_approved);
        let damaged = input(vec![("MUG", 3, "damaged")], "drop_off")
            .validate(&lines, &policy, Some(NOW), NOW)
            .unwrap();
        assert!(damaged.auto_approved);
    }

    #[test]
    fn states_follow_the_method() {
        use ReturnStatus::*;
        use ReturnStep::*;
        let m = ReturnMethod::Pickup;
        let mut s = Requested;
        for step in [Approve, IssueLabel, Ship, Receive, Inspect, Close] {
            s = return_transition(s, m, step).unwrap();
        }
        assert_eq!(s, Closed);
        assert!(return_transition(Requested, m, Receive).is_err());
        assert!(return_transition(Closed, m, Approve).is_err());
        let keep = ReturnMethod::KeepItem;
        let approved = return_transition(Requested, keep, Approve).unwrap();
        assert!(return_transition(approved, keep, IssueLabel).is_err());
        assert_eq!(return_transition(approved, keep, Close).unwrap(), Closed);
    }

    #[test]
    fn receipts_never_exceed_what_was_authorised() {
        let authorised = [ReturnLine {
            line_no: 1,
            sku: "MUG".into(),
            quantity: 2,
            reason: ReturnReason::Damaged,
        }];
        let got = |q, c| ReceivedLine {
            line_no: 1,
            sku: "MUG".into(),
            quantity: q,
            condition: c,
        };
        let plan = plan_receipt(
            &authorised,
            &[],
            &[got(1, Condition::Resellable), got(1, Condition::Defective)],
        )
        .unwrap();
        assert_eq!(plan[0].1, &[StockState::OnHand]);
        assert_eq!(plan[1].1, &[StockState::OnHand, StockState::QualityControl]);
        assert!(
            plan_receipt(
                &authorised,
                &[got(2, Condition::Resellable)],
                &[got(1, Condition::Missing)]
            )
            .is_err()
        );
        let unknown = ReceivedLine {
            sku: "TEA".into(),
            ..got(1, Condition::Resellable)
        };
        assert!(plan_receipt(&authorised, &[], &[unknown]).is_err());
        assert!(disposition(Condition::Missing).is_empty());
        let (changes, _) = Grade::WriteOff.changes(2);
        assert_eq!(
            changes,
            vec![(StockState::QualityControl, -2), (StockState::OnHand, -2)]
        );
    }

    proptest! {
        /// However a return is asked for, it never covers more than was shipped and not
        /// yet returned, line by line.
        #[test]
        fn never_more_than_shipped(
            shipped in proptest::collection::vec(0i64..5, 1..4),
            returned in proptest::collection::vec(0i64..5, 4),
            asks in proptest::collection::vec((0usize..4, 0i64..7), 1..6),
        ) {
            let lines: Vec<_> = shipped.iter().enumerate()
                .map(|(i, &s)| line(i as i32 + 1, &format!("S{i}"), s, returned[i].min(s)))
                .collect();
            let req = ReturnInput {
                order: Some("SO-000001".into()),
                lines: asks.iter().map(|&(i, q)| ReturnLineInput {
                    sku: None,
                    line_no: Some(i as i32 + 1),
                    quantity: Some(q),
                    reason: Some("other".into()),
                }).collect(),
                resolution: Some("refund".into()),
                method: Some("drop_off".into()),
                notes: None,
                exchange_lines: Vec::new(),
            };
            if let Ok(ok) = req.validate(&lines, &ReturnPolicy::default(), Some(NOW), NOW) {
                for l in &lines {
                    let asked: i64 = ok.lines.iter().filter(|r| r.line_no == l.line_no).map(|r| r.quantity).sum();
                    prop_assert!(asked <= l.shipped - l.already_returned);
                }
            }
        }
    }
}
