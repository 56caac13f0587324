//! What allocation reads: the stock available to promise at each place. The decision of
//! which locations reserve stock for an order is the routing engine's (`ordo-routing`),
//! made inside the transaction that holds the stock, so the view it reads is current.

use std::collections::HashMap;

pub trait StockView {
    fn available(&self, sku: &str, location: &str) -> i64;
}

impl StockView for HashMap<(String, String), i64> {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.get(&(sku.to_string(), location.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_places_have_nothing() {
        let stock: HashMap<(String, String), i64> = [(("A".into(), "L1".into()), 3)].into();
        assert_eq!(stock.available("A", "L1"), 3);
        assert_eq!(stock.available("A", "L2"), 0);
    }
}
