//! Stock in named states per (SKU, location), changed only by movements appended to a ledger.
//!
//! `on_hand` counts what is physically present; `allocated`, `damaged`, `quality_control`
//! and `safety_stock` are parts of it that cannot be sold; `incoming` is not yet present.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Errors, Problem};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    OnHand,
    Allocated,
    Damaged,
    QualityControl,
    SafetyStock,
    Incoming,
}

impl StockState {
    pub const ALL: [StockState; 6] = [
        StockState::OnHand,
        StockState::Allocated,
        StockState::Damaged,
        StockState::QualityControl,
        StockState::SafetyStock,
        StockState::Incoming,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StockState::OnHand => "on_hand",
            StockState::Allocated => "allocated",
            StockState::Damaged => "damaged",
            StockState::QualityControl => "quality_control",
            StockState::SafetyStock => "safety_stock",
            StockState::Incoming => "incoming",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Why stock changed. Users give one of the first group; the second is written by Ordo itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Received,
    CycleCount,
    Correction,
    Damage,
    Shrinkage,
    ReturnRestock,
    Transfer,
    QualityControl,
    SafetyStock,
    Other,
    /// Units reserved for an order.
    Allocation,
    /// Units released from an order (cancellation or re-routing).
    Deallocation,
    /// Units left the building in a shipment.
    Shipped,
    /// A voided shipment's units came back before hand-over.
    ShipmentVoided,
    /// Returned units on their way back (as `incoming`), until the return is received.
    ReturnInTransit,
}

impl Reason {
    pub const ALL: [Reason; 15] = [
        Reason::Received,
        Reason::CycleCount,
        Reason::Correction,
        Reason::Damage,
        Reason::Shrinkage,
        Reason::ReturnRestock,
        Reason::Transfer,
        Reason::QualityControl,
        Reason::SafetyStock,
        Reason::Other,
        Reason::Allocation,
        Reason::Deallocation,
        Reason::Shipped,
        Reason::ShipmentVoided,
        Reason::ReturnInTransit,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Received => "received",
            Reason::CycleCount => "cycle_count",
            Reason::Correction => "correction",
            Reason::Damage => "damage",
            Reason::Shrinkage => "shrinkage",
            Reason::ReturnRestock => "return_restock",
            Reason::Transfer => "transfer",
            Reason::QualityControl => "quality_control",
            Reason::SafetyStock => "safety_stock",
            Reason::Other => "other",
            Reason::Allocation => "allocation",
            Reason::Deallocation => "deallocation",
            Reason::Shipped => "shipped",
            Reason::ShipmentVoided => "shipment_voided",
            Reason::ReturnInTransit => "return_in_transit",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn is_system(self) -> bool {
        matches!(
            self,
            Reason::Allocation
                | Reason::Deallocation
                | Reason::Shipped
                | Reason::ShipmentVoided
                | Reason::ReturnInTransit
        )
    }
    /// A physical count or a shrinkage finding may prove stock vanished even though it was promised.
    pub fn may_overdraw(self) -> bool {
        matches!(self, Reason::CycleCount | Reason::Shrinkage)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub on_hand: i64,
    pub allocated: i64,
    pub damaged: i64,
    pub quality_control: i64,
    pub safety_stock: i64,
    pub incoming: i64,
}

impl Balance {
    pub fn available(&self) -> i64 {
        self.on_hand - self.allocated - self.damaged - self.quality_control - self.safety_stock
    }
    pub fn get(&self, state: StockState) -> i64 {
        match state {
            StockState::OnHand => self.on_hand,
            StockState::Allocated => self.allocated,
            StockState::Damaged => self.damaged,
            StockState::QualityControl => self.quality_control,
            StockState::SafetyStock => self.safety_stock,
            StockState::Incoming => self.incoming,
        }
    }
    pub fn slot(&mut self, state: StockState) -> &mut i64 {
        match state {
            StockState::OnHand => &mut self.on_hand,
            StockState::Allocated => &mut self.allocated,
            StockState::Damaged => &mut self.damaged,
            StockState::QualityControl => &mut self.quality_control,
            StockState::SafetyStock => &mut self.safety_stock,
            StockState::Incoming => &mut self.incoming,
        }
    }
    pub fn apply(&mut self, change: &StateChange) {
        *self.slot(change.state) += change.delta;
    }
}

/// One line of a movement: a signed change of one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub state: StockState,
    pub delta: i64,
}

/// Where units can be moved from or to. `available` is derived, so moving out of it
/// means putting units into one of the non-sellable states, and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveState {
    Available,
    Damaged,
    QualityControl,
    SafetyStock,
    Incoming,
}

impl MoveState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "available" => MoveState::Available,
            "damaged" => MoveState::Damaged,
            "quality_control" => MoveState::QualityControl,
            "safety_stock" => MoveState::SafetyStock,
            "incoming" => MoveState::Incoming,
            _ => return None,
        })
    }
}

/// A stock write, validated for shape; applying it to a balance checks the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockCommand {
    Adjust {
        state: StockState,
        delta: i64,
    },
    Move {
        from: MoveState,
        to: MoveState,
        quantity: i64,
    },
    Count {
        on_hand: i64,
        expected_on_hand: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockWrite {
    pub sku: String,
    pub location: String,
    pub command: StockCommand,
    pub reason: Reason,
    pub reference: Option<String>,
}

/// Body of `POST /api/v1/inventory/adjustments`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AdjustmentInput {
    pub sku: Option<String>,
    pub location: Option<String>,
    /// One of on_hand, damaged, quality_control, safety_stock, incoming (default on_hand).
    pub state: Option<String>,
    pub delta: Option<i64>,
    pub reason: Option<String>,
    pub reference: Option<String>,
}

/// Body of `POST /api/v1/inventory/moves`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct MoveInput {
    pub sku: Option<String>,
    pub location: Option<String>,
    /// One of available, damaged, quality_control, safety_stock, incoming.
    pub from: Option<String>,
    pub to: Option<String>,
    pub quantity: Option<i64>,
    pub reason: Option<String>,
    pub reference: Option<String>,
}

/// Body of `POST /api/v1/inventory/counts`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CountInput {
    pub sku: Option<String>,
    pub location: Option<String>,
    pub on_hand: Option<i64>,
    /// If given, the count applies only when the current on_hand equals it (else 409).
    pub expected_on_hand: Option<i64>,
    /// Defaults to cycle_count.
    pub reason: Option<String>,
    pub reference: Option<String>,
}

fn common(
    errors: &mut Errors,
    sku: Option<String>,
    location: Option<String>,
    reason: Option<&str>,
    default_reason: Option<Reason>,
    reference: &Option<String>,
) -> (String, String, Reason) {
    let sku = sku.unwrap_or_default();
    if sku.is_empty() {
        errors.add("sku", "is required");
    }
    let location = location.unwrap_or_default();
    if location.is_empty() {
        errors.add("location", "is required");
    }
    let reason = match (reason, default_reason) {
        (Some(r), _) => match Reason::parse(r) {
            Some(r) if !r.is_system() => r,
            _ => {
                errors.add(
                    "reason",
                    "must be one of received, cycle_count, correction, damage, shrinkage, return_restock, transfer, quality_control, safety_stock, other",
                );
                Reason::Other
            }
        },
        (None, Some(d)) => d,
        (None, None) => {
            errors.add("reason", "is required");
            Reason::Other
        }
    };
    if reference.as_ref().is_some_and(|r| r.len() > 200) {
        errors.add("reference", "must be at most 200 characters");
    }
    (sku, location, reason)
}

impl AdjustmentInput {
    pub fn validate(self) -> Result<StockWrite, Problem> {
        let mut errors = Errors::default();
        let (sku, location, reason) = common(
            &mut errors,
            self.sku,
            self.location,
            self.reason.as_deref(),
            None,
            &self.reference,
        );
        let state = match self.state.as_deref() {
            None => StockState::OnHand,
            Some(s) => {
                match StockState::parse(s) {
                    Some(StockState::Allocated) => {
                        errors.add("state", "allocated changes only through orders");
                        StockState::OnHand
                    }
                    Some(s) => s,
                    None => {
                        errors.add("state", "must be one of on_hand, damaged, quality_control, safety_stock, incoming");
                        StockState::OnHand
                    }
                }
            }
        };
        let delta = self.delta.unwrap_or(0);
        if delta == 0 {
            errors.add("delta", "is required and must not be zero");
        }
        errors.finish(|| StockWrite {
            sku,
            location,
            command: StockCommand::Adjust { state, delta },
            reason,
            reference: self.reference,
        })
    }
}

impl MoveInput {
    pub fn validate(self) -> Result<StockWrite, Problem> {
        let mut errors = Errors::default();
        let (sku, location, reason) = common(
            &mut errors,
            self.sku,
            self.location,
            self.reason.as_deref(),
            None,
            &self.reference,
        );
        let mut side = |field: &str, v: Option<&str>| {
            let parsed = v.and_then(MoveState::parse);
            if parsed.is_none() {
                errors.add(
                    field,
                    "must be one of available, damaged, quality_control, safety_stock, incoming",
                );
            }
            parsed.unwrap_or(MoveState::Available)
        };
        let from = side("from", self.from.as_deref());
        let to = side("to", self.to.as_deref());
        if from == to && self.from.is_some() {
            errors.add("to", "must differ from 'from'");
        }
        if to == MoveState::Incoming {
            errors.add("to", "units cannot be moved back to incoming");
        }
        let quantity = self.quantity.unwrap_or(0);
        if quantity <= 0 {
            errors.add("quantity", "must be a positive integer");
        }
        errors.finish(|| StockWrite {
            sku,
            location,
            command: StockCommand::Move { from, to, quantity },
            reason,
            reference: self.reference,
        })
    }
}

impl CountInput {
    pub fn validate(self) -> Result<StockWrite, Problem> {
        let mut errors = Errors::default();
        let (sku, location, reason) = common(
            &mut errors,
            self.sku,
            self.location,
            self.reason.as_deref(),
            Some(Reason::CycleCount),
            &self.reference,
        );
        let on_hand = match self.on_hand {
            Some(n) if n >= 0 => n,
            _ => {
                errors.add("on_hand", "is required and must not be negative");
                0
            }
        };
        errors.finish(|| StockWrite {
            sku,
            location,
            command: StockCommand::Count {
                on_hand,
                expected_on_hand: self.expected_on_hand,
            },
            reason,
            reference: self.reference,
        })
    }
}

fn move_changes(from: MoveState, to: MoveState, q: i64) -> Vec<StateChange> {
    let mut out = Vec::with_capacity(2);
    let held = |m: MoveState| match m {
        MoveState::Damaged => Some(StockState::Damaged),
        MoveState::QualityControl => Some(StockState::QualityControl),
        MoveState::SafetyStock => Some(StockState::SafetyStock),
        MoveState::Available | MoveState::Incoming => None,
    };
    if from == MoveState::Incoming {
        out.push(StateChange {
            state: StockState::Incoming,
            delta: -q,
        });
        out.push(StateChange {
            state: StockState::OnHand,
            delta: q,
        });
    } else if let Some(s) = held(from) {
        out.push(StateChange {
            state: s,
            delta: -q,
        });
    }
    if let Some(s) = held(to) {
        out.push(StateChange { state: s, delta: q });
    }
    out
}

/// Turns a write into state changes against `current`, refusing any that would leave a
/// state negative or, unless a count proves it, promise more than is present.
pub fn plan_write(
    current: &Balance,
    command: &StockCommand,
    reason: Reason,
) -> Result<Vec<StateChange>, Problem> {
    let changes = match *command {
        StockCommand::Adjust { state, delta } => vec![StateChange { state, delta }],
        StockCommand::Move { from, to, quantity } => move_changes(from, to, quantity),
        StockCommand::Count {
            on_hand,
            expected_on_hand,
        } => {
            if let Some(expected) = expected_on_hand
                && expected != current.on_hand
            {
                return Err(Problem::Conflict {
                    message: format!(
                        "on_hand is {} but the count expected {expected}; recount and retry",
                        current.on_hand
                    ),
                    current: Some(current.on_hand.to_string()),
                });
            }
            let delta = on_hand - current.on_hand;
            if delta == 0 {
                return Ok(vec![]);
            }
            return Ok(vec![StateChange {
                state: StockState::OnHand,
                delta,
            }]);
        }
    };
    let mut after = *current;
    for c in &changes {
        after.apply(c);
    }
    for state in StockState::ALL {
        if after.get(state) < 0 {
            return Err(Problem::Conflict {
                message: format!(
                    "{} would become {} (it is {})",
                    state.as_str(),
                    after.get(state),
                    current.get(state)
                ),
                current: Some(current.get(state).to_string()),
            });
        }
    }
    let frees_or_keeps = after.available() >= current.available();
    if after.available() < 0 && !frees_or_keeps && !reason.may_overdraw() {
        return Err(Problem::Conflict {
            message: format!(
                "available would become {} (it is {}); only a count or shrinkage may take promised stock",
                after.available(),
                current.available()
            ),
            current: Some(current.available().to_string()),
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bal(on_hand: i64, allocated: i64) -> Balance {
        Balance {
            on_hand,
            allocated,
            ..Default::default()
        }
    }

    #[test]
    fn move_available_to_damaged_keeps_on_hand() {
        let b = bal(10, 2);
        let ch = plan_write(
            &b,
            &StockCommand::Move {
                from: MoveState::Available,
                to: MoveState::Damaged,
                quantity: 3,
            },
            Reason::Damage,
        )
        .unwrap();
        let mut after = b;
        ch.iter().for_each(|c| after.apply(c));
        assert_eq!(after.on_hand, 10);
        assert_eq!(after.damaged, 3);
        assert_eq!(after.available(), 5);
    }

    #[test]
    fn receiving_incoming_moves_into_on_hand() {
        let b = Balance {
            incoming: 5,
            ..Default::default()
        };
        let ch = plan_write(
            &b,
            &StockCommand::Move {
                from: MoveState::Incoming,
                to: MoveState::Available,
                quantity: 5,
            },
            Reason::Received,
        )
        .unwrap();
        let mut after = b;
        ch.iter().for_each(|c| after.apply(c));
        assert_eq!((after.incoming, after.on_hand), (0, 5));
    }

    #[test]
    fn adjust_cannot_take_promised_stock_but_count_can() {
        let b = bal(5, 4);
        let err = plan_write(
            &b,
            &StockCommand::Adjust {
                state: StockState::OnHand,
                delta: -3,
            },
            Reason::Correction,
        );
        assert!(matches!(err, Err(Problem::Conflict { .. })));
        let ok = plan_write(
            &b,
            &StockCommand::Count {
                on_hand: 2,
                expected_on_hand: None,
            },
            Reason::CycleCount,
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![StateChange {
                state: StockState::OnHand,
                delta: -3
            }]
        );
    }

    #[test]
    fn count_compare_and_swap() {
        let b = bal(5, 0);
        let r = plan_write(
            &b,
            &StockCommand::Count {
                on_hand: 7,
                expected_on_hand: Some(4),
            },
            Reason::CycleCount,
        );
        assert!(matches!(r, Err(Problem::Conflict { current: Some(ref c), .. }) if c == "5"));
        assert!(
            plan_write(
                &b,
                &StockCommand::Count {
                    on_hand: 7,
                    expected_on_hand: Some(5)
                },
                Reason::CycleCount
            )
            .is_ok()
        );
    }

    fn command() -> impl Strategy<Value = (StockCommand, Reason)> {
        let state = prop::sample::select(vec![
            StockState::OnHand,
            StockState::Damaged,
            StockState::QualityControl,
            StockState::SafetyStock,
            StockState::Incoming,
        ]);
        let ms = prop::sample::select(vec![
            MoveState::Available,
            MoveState::Damaged,
            MoveState::QualityControl,
            MoveState::SafetyStock,
            MoveState::Incoming,
        ]);
        let reason = prop::sample::select(vec![
            Reason::Correction,
            Reason::Received,
            Reason::CycleCount,
            Reason::Damage,
        ]);
        prop_oneof![
            (state, -20i64..20, reason.clone())
                .prop_map(|(state, delta, r)| (StockCommand::Adjust { state, delta }, r)),
            (ms.clone(), ms, 1i64..10, reason.clone())
                .prop_map(|(from, to, quantity, r)| (StockCommand::Move { from, to, quantity }, r)),
            (0i64..30, reason).prop_map(|(on_hand, r)| (
                StockCommand::Count {
                    on_hand,
                    expected_on_hand: None
                },
                r
            )),
        ]
    }

    proptest! {
        /// Folding the accepted changes from zero always reproduces the balance, and no
        /// write other than a count (or one with reason shrinkage or cycle_count) ever makes available go (further) negative.
        #[test]
        fn balance_equals_fold_of_ledger(cmds in prop::collection::vec(command(), 1..60)) {
            let mut balance = Balance::default();
            let mut ledger: Vec<StateChange> = vec![];
            for (cmd, reason) in cmds {
                let before = balance;
                if let Ok(changes) = plan_write(&balance, &cmd, reason) {
                    for c in &changes { balance.apply(c); ledger.push(*c); }
                    for s in StockState::ALL { prop_assert!(balance.get(s) >= 0); }
                    let is_count = matches!(cmd, StockCommand::Count { .. });
                    if !is_count && !reason.may_overdraw() && balance.available() < before.available() {
                        prop_assert!(balance.available() >= 0);
                    }
                } else {
                    prop_assert_eq!(balance, before);
                }
                let mut folded = Balance::default();
                for c in &ledger { folded.apply(c); }
                prop_assert_eq!(folded, balance);
            }
        }
    }
}
