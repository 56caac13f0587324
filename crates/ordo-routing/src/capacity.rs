//! Daily order capacity per location. A location's day starts at its own local midnight,
//! so a store in Lisbon and one in Warsaw reset an hour apart. The caller passes the
//! current instant and the location's UTC offset; nothing here reads a clock.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};

/// The calendar date at a location whose clocks are at `offset` from UTC.
pub fn local_date(now: OffsetDateTime, offset: UtcOffset) -> Date {
    now.to_offset(offset).date()
}

/// Orders routed to one location on one local date. Stored per location; a count from an
/// earlier date reads as zero, so no job has to reset counters at midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCount {
    pub date: Date,
    pub orders: u32,
}

impl DailyCount {
    pub fn new(date: Date) -> Self {
        Self { date, orders: 0 }
    }

    /// The count to put in [`crate::LocationProfile::orders_today`].
    pub fn on(&self, today: Date) -> u32 {
        if self.date == today { self.orders } else { 0 }
    }

    /// Counts one more order routed on `today`, starting afresh on a new date.
    pub fn record(&mut self, today: Date) {
        if self.date != today {
            *self = Self::new(today);
        }
        self.orders = self.orders.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn counts_reset_at_local_midnight() {
        // 22:30 UTC is already the next day in Warsaw (UTC+2 in summer) but not in Lisbon.
        let now = datetime!(2025-06-01 22:30 UTC);
        let warsaw = local_date(now, offset!(+2));
        let lisbon = local_date(now, offset!(+1));
        assert_eq!(warsaw, time::macros::date!(2025 - 06 - 02));
        assert_eq!(lisbon, time::macros::date!(2025 - 06 - 01));

        let mut c = DailyCount::new(lisbon);
        c.record(lisbon);
        c.record(lisbon);
        assert_eq!(c.on(lisbon), 2);
        assert_eq!(c.on(warsaw), 0);
        c.record(warsaw);
        assert_eq!(c.on(warsaw), 1);
        assert_eq!(c.on(lisbon), 0);
    }
}
