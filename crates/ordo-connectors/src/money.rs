//! Sums of the decimal strings channels send, exactly, in the order's currency.

use ordo_domain::money::{Currency, format_amount, parse_amount};

/// Adds decimal strings; `None` when any is not a valid amount of `currency` (the order's
/// validation then names the field).
pub fn sum(currency: &str, amounts: &[&str]) -> Option<String> {
    let currency = Currency::parse(currency)?;
    let mut total = 0i64;
    for a in amounts {
        total = total.checked_add(parse_amount(a, currency).ok()?)?;
    }
    Some(format_amount(total, currency.exponent))
}

/// `a - b`, when both are amounts and the result is not negative.
pub fn difference(currency: &str, a: &str, b: &str) -> Option<String> {
    let currency = Currency::parse(currency)?;
    let d = parse_amount(a, currency)
        .ok()?
        .checked_sub(parse_amount(b, currency).ok()?)?;
    (d >= 0).then(|| format_amount(d, currency.exponent))
}

/// `total / quantity` when it divides exactly into minor units.
pub fn unit_price(currency: &str, total: &str, quantity: i64) -> Option<String> {
    let currency = Currency::parse(currency)?;
    let minor = parse_amount(total, currency).ok()?;
    (quantity > 0 && minor % quantity == 0)
        .then(|| format_amount(minor / quantity, currency.exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_divides_exactly() {
        assert_eq!(sum("USD", &["0.10", "0.20"]).as_deref(), Some("0.30"));
        assert_eq!(sum("JPY", &["100", "5"]).as_deref(), Some("105"));
        assert_eq!(sum("USD", &["1.005"]), None);
        assert_eq!(unit_price("USD", "59.97", 3).as_deref(), Some("19.99"));
        assert_eq!(unit_price("USD", "10.00", 3), None);
    }
}
