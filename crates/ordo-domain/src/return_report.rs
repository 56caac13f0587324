//! Returns reporting: how much comes back, why, and what becomes of it. Pure arithmetic
//! over facts the caller gathers; rates are exact decimal strings, never floats.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::returns::{Condition, ReturnReason};

/// Units that left in a shipment of the period.
#[derive(Debug, Clone)]
pub struct ShippedUnits {
    pub sku: String,
    pub channel: String,
    pub quantity: i64,
}

/// One return of the period, as facts.
#[derive(Debug, Clone)]
pub struct ReturnFacts {
    pub channel: String,
    /// (SKU, units, reason) asked back.
    pub lines: Vec<(String, i64, ReturnReason)>,
    /// (SKU, units, condition) received.
    pub received: Vec<(String, i64, Condition)>,
    /// Units graded back to sale out of quality control.
    pub restocked_after_grading: i64,
    /// When the goods arrived at the customer (first delivery of the order), if known.
    pub delivered_at: Option<OffsetDateTime>,
    /// When the return was received, if it was.
    pub received_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RateRow {
    pub key: String,
    pub shipped: i64,
    pub returned: i64,
    /// returned / shipped, 4 decimals; absent when nothing shipped in the period.
    pub rate: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReasonRow {
    pub reason: String,
    pub units: i64,
    /// Share of all returned units, 4 decimals.
    pub share: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReturnsReport {
    pub returns: usize,
    pub units_shipped: i64,
    pub units_returned: i64,
    pub by_sku: Vec<RateRow>,
    pub by_category: Vec<RateRow>,
    pub by_channel: Vec<RateRow>,
    pub by_reason: Vec<ReasonRow>,
    pub units_received: i64,
    /// Resellable on receipt plus restocked after grading.
    pub units_restocked: i64,
    /// restocked / received, 4 decimals.
    pub restock_rate: Option<String>,
    /// Mean days from delivery to receipt of the return, 1 decimal, over returns with both.
    pub average_days_to_receive: Option<String>,
}

/// `n / d` with `places` decimals, rounded half up; `None` when `d` is 0.
pub fn ratio(n: i64, d: i64, places: u32) -> Option<String> {
    if d <= 0 {
        return None;
    }
    let scale = 10i128.pow(places);
    let scaled = (n as i128 * scale * 2 + d as i128) / (d as i128 * 2);
    let (whole, frac) = (scaled / scale, scaled % scale);
    Some(format!("{whole}.{frac:0width$}", width = places as usize))
}

pub fn returns_report(
    shipped: &[ShippedUnits],
    returns: &[ReturnFacts],
    category_of: impl Fn(&str) -> Option<String>,
) -> ReturnsReport {
    let mut sku: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut category: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut channel: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let cat = |s: &str| category_of(s).unwrap_or_else(|| "(none)".into());
    for s in shipped {
        sku.entry(s.sku.clone()).or_default().0 += s.quantity;
        category.entry(cat(&s.sku)).or_default().0 += s.quantity;
        channel.entry(s.channel.clone()).or_default().0 += s.quantity;
    }
    let mut reasons: BTreeMap<&'static str, i64> = BTreeMap::new();
    let (mut received, mut restocked, mut days_sum, mut days_n) = (0i64, 0i64, 0i64, 0i64);
    for r in returns {
        for (s, q, reason) in &r.lines {
            sku.entry(s.clone()).or_default().1 += q;
            category.entry(cat(s)).or_default().1 += q;
            channel.entry(r.channel.clone()).or_default().1 += q;
            *reasons.entry(reason.as_str()).or_default() += q;
        }
        for (_, q, condition) in &r.received {
            if *condition != Condition::Missing {
                received += q;
            }
            if *condition == Condition::Resellable {
                restocked += q;
            }
        }
        restocked += r.restocked_after_grading;
        if let (Some(d), Some(rc)) = (r.delivered_at, r.received_at) {
            days_sum += (rc - d).whole_minutes();
            days_n += 1;
        }
    }
    let rows = |m: BTreeMap<String, (i64, i64)>| -> Vec<RateRow> {
        let mut v: Vec<RateRow> = m
            .into_iter()
            .map(|(key, (shipped, returned))| RateRow {
                key,
                shipped,
                returned,
                rate: ratio(returned, shipped, 4),
            })
            .collect();
        v.sort_by(|a, b| b.returned.cmp(&a.returned).then(a.key.cmp(&b.key)));
        v
    };
    let units_returned: i64 = reasons.values().sum();
    let mut by_reason: Vec<ReasonRow> = reasons
        .into_iter()
        .map(|(reason, units)| ReasonRow {
            reason: reason.into(),
            units,
            share: ratio(units, units_returned, 4).unwrap_or_else(|| "0.0000".into()),
        })
        .collect();
    by_reason.sort_by(|a, b| b.units.cmp(&a.units).then(a.reason.cmp(&b.reason)));
    ReturnsReport {
        returns: returns.len(),
        units_shipped: shipped.iter().map(|s| s.quantity).sum(),
        units_returned,
        by_sku: rows(sku),
        by_category: rows(category),
        by_channel: rows(channel),
        by_reason,
        units_received: received,
        units_restocked: restocked,
        restock_rate: ratio(restocked, received, 4),
        // Minutes to days: days = minutes / 1440, one decimal.
        average_days_to_receive: (days_n > 0)
            .then(|| ratio(days_sum, days_n * 1440, 1))
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ratios_are_exact_and_rounded_half_up() {
        assert_eq!(ratio(1, 3, 4).as_deref(), Some("0.3333"));
        assert_eq!(ratio(2, 3, 4).as_deref(), Some("0.6667"));
        assert_eq!(ratio(5, 2, 1).as_deref(), Some("2.5"));
        assert_eq!(ratio(1, 0, 4), None);
    }

    #[test]
    fn rates_reasons_restock_and_days() {
        let shipped = vec![
            ShippedUnits {
                sku: "A".into(),
                channel: "web".into(),
                quantity: 10,
            },
            ShippedUnits {
                sku: "B".into(),
                channel: "amzn".into(),
                quantity: 4,
            },
        ];
        let returns = vec![
            ReturnFacts {
                channel: "web".into(),
                lines: vec![
                    ("A".into(), 2, ReturnReason::Damaged),
                    ("A".into(), 1, ReturnReason::NoLongerNeeded),
                ],
                received: vec![
                    ("A".into(), 2, Condition::Resellable),
                    ("A".into(), 1, Condition::Defective),
                ],
                restocked_after_grading: 1,
                delivered_at: Some(datetime!(2026-11-01 12:00 UTC)),
                received_at: Some(datetime!(2026-11-05 00:00 UTC)),
            },
            ReturnFacts {
                channel: "amzn".into(),
                lines: vec![("B".into(), 1, ReturnReason::Damaged)],
                received: vec![("B".into(), 1, Condition::Missing)],
                restocked_after_grading: 0,
                delivered_at: Some(datetime!(2026-11-02 00:00 UTC)),
                received_at: Some(datetime!(2026-11-04 00:00 UTC)),
            },
        ];
        let r = returns_report(&shipped, &returns, |s| {
            Some(if s == "A" { "mugs" } else { "tea" }.into())
        });
        assert_eq!(r.units_returned, 4);
        assert_eq!(
            r.by_sku[0],
            RateRow {
                key: "A".into(),
                shipped: 10,
                returned: 3,
                rate: Some("0.3000".into())
            }
        );
        assert_eq!(
            r.by_channel
                .iter()
                .find(|c| c.key == "amzn")
                .unwrap()
                .rate
                .as_deref(),
            Some("0.2500")
        );
        assert_eq!(
            r.by_category
                .iter()
                .find(|c| c.key == "tea")
                .unwrap()
                .returned,
            1
        );
        assert_eq!(
            r.by_reason[0],
            ReasonRow {
                reason: "damaged".into(),
                units: 3,
                share: "0.7500".into()
            }
        );
        // 3 received (the missing unit never arrived): 2 resellable + 1 graded back.
        assert_eq!((r.units_received, r.units_restocked), (3, 3));
        assert_eq!(r.restock_rate.as_deref(), Some("1.0000"));
        // 3.5 days and 2 days: 2.75 → 2.8.
        assert_eq!(r.average_days_to_receive.as_deref(), Some("2.8"));
    }
}
