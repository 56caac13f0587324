//! Exact money: integer minor units, carried in JSON as decimal strings.

use crate::refdata;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    /// Number of decimal places of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub exponent: u8,
}

impl Currency {
    pub fn parse(code: &str) -> Option<Currency> {
        refdata::CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal string such as \"12.50\"")]
    Malformed,
    #[error("has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        currency: &'static str,
        exponent: u8,
    },
    #[error("must not be negative")]
    Negative,
    #[error("is too large")]
    TooLarge,
}

/// Parses a non-negative decimal string into minor units of `currency`.
pub fn parse_amount(text: &str, currency: Currency) -> Result<i64, AmountError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(AmountError::Malformed);
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Malformed);
    }
    if text.ends_with('.') && frac.is_empty() {
        return Err(AmountError::Malformed);
    }
    let significant_frac = frac.trim_end_matches('0');
    if significant_frac.len() > currency.exponent as usize {
        return Err(AmountError::TooPrecise {
            currency: currency.code,
            exponent: currency.exponent,
        });
    }
    let mut minor: i64 = 0;
    for b in whole.bytes() {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add((b - b'0') as i64))
            .ok_or(AmountError::TooLarge)?;
    }
    for i in 0..currency.exponent as usize {
        let digit = significant_frac
            .as_bytes()
            .get(i)
            .map_or(0, |b| (b - b'0') as i64);
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(digit))
            .ok_or(AmountError::TooLarge)?;
    }
    if minor > MAX_MINOR {
        return Err(AmountError::TooLarge);
    }
    Ok(minor)
}

/// Upper bound keeps sums of many lines far from i64 overflow.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// Formats minor units as a decimal string with exactly `exponent` decimals.
pub fn format_amount(minor: i64, exponent: u8) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exponent as u32);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_amount("12.50", eur()), Ok(1250));
        assert_eq!(parse_amount("12.5", eur()), Ok(1250));
        assert_eq!(parse_amount("12", eur()), Ok(1200));
        assert_eq!(parse_amount("0.01", eur()), Ok(1));
        assert_eq!(parse_amount(".5", eur()), Ok(50));
        assert_eq!(parse_amount("1.500", eur()), Ok(150));
        assert_eq!(
            parse_amount("100", Currency::parse("JPY").unwrap()),
            Ok(100)
        );
        assert_eq!(
            parse_amount("1.234", Currency::parse("KWD").unwrap()),
            Ok(1234)
        );
    }

    #[test]
    fn rejects_bad_forms() {
        assert!(matches!(
            parse_amount("1.001", eur()),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_amount("1.5", Currency::parse("JPY").unwrap()),
            Err(AmountError::TooPrecise { .. })
        ));
        assert_eq!(parse_amount("-1", eur()), Err(AmountError::Negative));
        for bad in ["", ".", "1.", "abc", "1,50", "1e3", "1.2.3", " "] {
            assert!(parse_amount(bad, eur()).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_amount("99999999999999999999", eur()),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_amount(1250, 2), "12.50");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(-5, 2), "-0.05");
        assert_eq!(format_amount(7, 0), "7");
        assert_eq!(format_amount(1234, 3), "1.234");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 0i64..MAX_MINOR, exp in 0u8..=3) {
            let currency = Currency { code: "XXX", exponent: exp };
            prop_assert_eq!(parse_amount(&format_amount(minor, exp), currency), Ok(minor));
        }
    }
}
