//! GS1 identifiers: the mod-10 check digit shared by GTIN, GLN and SSCC, the SSCC-18 that
//! identifies a logistic unit (a parcel or pallet) on its label, and GS1 element strings
//! (an Application Identifier plus its value) as GS1-128 barcodes carry them.
//!
//! Sources: GS1 General Specifications §7.9.1 (check digit), §2.2 and Figure 3.3.1-1 (SSCC
//! structure), §5.10.1 (element strings with a predefined length, which need no FNC1
//! separator). The examples in the tests come from GS1 material quoted by third parties and
//! from zint's test suite, which checks GS1-128 symbols against the General Specifications.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// The GS1 mod-10 check digit of `data` (the digits *without* their check digit).
///
/// Weights 3 and 1 alternate, starting with 3 on the rightmost data digit; the check digit
/// brings the weighted sum up to a multiple of 10. It catches every single-digit error and
/// most adjacent transpositions, which is why every GS1 key ends with one: a mistyped or
/// misread SSCC is refused instead of being matched to someone else's pallet.
pub fn gs1_check_digit(data: &str) -> Result<u8, IdError> {
    if data.is_empty() || data.len() > 17 {
        return Err(IdError::WrongLength {
            expected: "1 to 17".into(),
            actual: data.len(),
        });
    }
    if !data.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    Ok(((10 - sum % 10) % 10) as u8)
}

/// Checks that the last digit of `key` is its GS1 check digit.
pub fn validate_gs1_check_digit(key: &str) -> Result<(), IdError> {
    if key.len() < 2 {
        return Err(IdError::WrongLength {
            expected: "at least 2".into(),
            actual: key.len(),
        });
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    let (data, check) = key.split_at(key.len() - 1);
    let expected = gs1_check_digit(data)?;
    let found = check.as_bytes()[0] - b'0';
    if expected == found {
        Ok(())
    } else {
        Err(IdError::BadCheckDigit { expected, found })
    }
}

/// Validates a GTIN-8, -12, -13 or -14 (a product's barcode number): length and check digit.
pub fn validate_gtin(gtin: &str) -> Result<(), IdError> {
    if !matches!(gtin.len(), 8 | 12 | 13 | 14) {
        return Err(IdError::WrongLength {
            expected: "8, 12, 13 or 14".into(),
            actual: gtin.len(),
        });
    }
    validate_gs1_check_digit(gtin)
}

/// A Serial Shipping Container Code: 18 digits = extension digit, GS1 Company Prefix, serial
/// reference (prefix + serial are always 16 digits), check digit.
///
/// The SSCC names one physical logistic unit for its whole journey, so receivers can book in
/// a pallet by scanning it against the despatch advice. GS1 asks that an SSCC is not reused
/// for at least 12 months: the serial reference must come from a persistent sequence per
/// (extension digit, company prefix), never from something that restarts.
///
/// Serialises as its 18 digits; parsing accepts the human-readable form too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sscc(String);

impl Sscc {
    /// Builds an SSCC from its parts and computes the check digit.
    ///
    /// `company_prefix` must be 6 to 12 digits: shorter prefixes are not allocated in
    /// practice (GS1 US allocates 7 to 10), and a longer one would leave fewer than 4 digits,
    /// 10 000 units, for the serial reference. `serial_reference` must fit in the
    /// `16 - prefix length` digits left; it is zero-padded on the left.
    pub fn new(
        extension_digit: u8,
        company_prefix: &str,
        serial_reference: u64,
    ) -> Result<Sscc, IdError> {
        if extension_digit > 9 {
            return Err(IdError::Invalid("extension digit must be 0-9".into()));
        }
        if !(6..=12).contains(&company_prefix.len()) {
            return Err(IdError::WrongLength {
                expected: "6 to 12 (GS1 Company Prefix)".into(),
                actual: company_prefix.len(),
            });
        }
        if !company_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::NotDigits);
        }
        let serial_digits = 16 - company_prefix.len();
        let capacity = 10u64.pow(serial_digits as u32);
        if serial_reference >= capacity {
            return Err(IdError::Invalid(format!(
                "serial reference {serial_reference} does not fit in {serial_digits} digits \
                 (largest is {})",
                capacity - 1
            )));
        }
        let data = format!("{extension_digit}{company_prefix}{serial_reference:0serial_digits$}");
        let check = gs1_check_digit(&data)?;
        Ok(Sscc(format!("{data}{check}")))
    }

    /// Parses and validates an SSCC. Accepts the 18 digits alone or the human-readable form
    /// with the `(00)` Application Identifier and spaces, e.g. `(00) 1 0614141 000000001 8`.
    pub fn parse(text: &str) -> Result<Sscc, IdError> {
        let trimmed = text.trim();
        let without_ai = trimmed.strip_prefix("(00)").unwrap_or(trimmed);
        let digits: String = without_ai.chars().filter(|c| *c != ' ').collect();
        if digits.len() != 18 {
            return Err(IdError::WrongLength {
                expected: "18".into(),
                actual: digits.len(),
            });
        }
        validate_gs1_check_digit(&digits)?;
        Ok(Sscc(digits))
    }

    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn extension_digit(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }

    pub fn check_digit(&self) -> u8 {
        self.0.as_bytes()[17] - b'0'
    }

    /// The text printed under the barcode: `(00) ` and the 18 digits.
    pub fn human_readable(&self) -> String {
        format!("(00) {}", self.0)
    }

    /// The GS1-128 symbol (FNC1, AI 00, the 18 digits) for this SSCC.
    pub fn barcode(&self) -> crate::code128::Code128 {
        crate::code128::Code128::gs1(&[("00", &self.0)])
            .expect("an SSCC is always a valid AI 00 element string")
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sscc {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sscc::parse(s)
    }
}

impl TryFrom<String> for Sscc {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sscc::parse(&s)
    }
}

impl From<Sscc> for String {
    fn from(s: Sscc) -> String {
        s.0
    }
}

/// Length of the whole element string (AI included) for AIs whose first two digits give it
/// a predefined length (GS1 General Specifications Figure 5.10.1-2). Those are the only
/// elements that may be followed by another without an FNC1 separator.
pub(crate) fn predefined_length(ai: &str) -> Option<usize> {
    let n = match ai.get(..2)? {
        "00" => 20,
        "01" | "02" | "03" => 16,
        "04" => 18,
        "11" | "12" | "13" | "14" | "15" | "16" | "17" | "18" | "19" => 8,
        "20" => 4,
        "31" | "32" | "33" | "34" | "35" | "36" => 10,
        "41" => 16,
        _ => return None,
    };
    Some(n)
}

/// Whether `c` is in GS1 AI encodable character set 82, the characters an AI value may use.
pub(crate) fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// Checks one element string (`ai`, `value`) before it is encoded.
pub(crate) fn check_element(ai: &str, value: &str) -> Result<(), String> {
    if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("AI {ai:?} must be 2 to 4 digits"));
    }
    if value.is_empty() {
        return Err(format!("AI ({ai}) has no value"));
    }
    if let Some(c) = value.chars().find(|c| !is_cset82(*c)) {
        return Err(format!(
            "AI ({ai}) value contains {c:?}, outside GS1 character set 82"
        ));
    }
    if let Some(total) = predefined_length(ai) {
        let expected = total.saturating_sub(ai.len());
        if value.len() != expected {
            return Err(format!(
                "AI ({ai}) value must be {expected} characters, got {}",
                value.len()
            ));
        }
    }
    // Keys that carry a check digit: a wrong one would put an unusable barcode on a parcel.
    if matches!(ai, "00" | "01" | "02") {
        validate_gs1_check_digit(value).map_err(|e| format!("AI ({ai}) {e}"))?;
    }
    Ok(())
}
