//! Tracking numbers for Ordo's built-in carriers (`own_fleet`, `manual`), in the layout of the
//! UPU S10 standard: 2 letters (service indicator), 8 digits (serial), 1 check digit and a
//! 2-letter ISO 3166-1 country code, e.g. `EE123456785GB`.
//!
//! Why S10 rather than a home-made format: it is 13 characters that fit any carrier field
//! (Shopify, Amazon and eBay accept free-text tracking numbers), drivers and customers read
//! them back over the phone, the check digit catches typos at the depot, and the letters
//! make the prefix visible. The check digit uses weights 8, 6, 4, 2, 3, 5, 9, 7 over the 8
//! serial digits, `11 - (sum mod 11)`, with 10 written as 0 and 11 as 5 (UPU S10; the worked
//! example `47312482` → 9 is in the tests).
//!
//! Known weakness, kept because it is the standard: the mapping of 10 → 0 and 11 → 5 means a
//! few single-digit errors still produce a valid number. The tests measure it.
//!
//! Uniqueness: a number is a one-to-one function of (prefix, serial), so numbers are unique
//! exactly as long as the caller never issues the same serial twice for a prefix: take it
//! from a persistent sequence per prefix. S10 asks that a number is not reused within 12
//! months (24 recommended); 10^8 serials per prefix is ample for one shipper.
//!
//! Choose a service indicator from the ranges S10 leaves "for domestic, bilateral,
//! multilateral use only" (e.g. `Z?`), so own-fleet numbers do not look like international
//! postal items. The country code is not checked against the ISO list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// The S10 weights for the 8 serial digits, left to right.
pub const S10_WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];

/// Largest serial an S10 number can carry (8 digits).
pub const S10_MAX_SERIAL: u32 = 99_999_999;

/// The S10 check digit of an 8-digit serial number.
pub fn s10_check_digit(serial: u32) -> Result<u8, IdError> {
    if serial > S10_MAX_SERIAL {
        return Err(IdError::Invalid(format!(
            "serial {serial} has more than 8 digits"
        )));
    }
    let digits = format!("{serial:08}");
    let sum: u32 = digits
        .bytes()
        .zip(S10_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Ok(match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c as u8,
    })
}

/// The fixed part of a carrier's tracking numbers: service indicator and country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "S10PrefixParts", into = "S10PrefixParts")]
pub struct S10Prefix {
    service: [u8; 2],
    country: [u8; 2],
}

/// Serialised form of [`S10Prefix`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S10PrefixParts {
    pub service_indicator: String,
    pub country: String,
}

impl S10Prefix {
    /// `service_indicator` and `country` must each be two letters A-Z (upper case).
    pub fn new(service_indicator: &str, country: &str) -> Result<S10Prefix, IdError> {
        Ok(S10Prefix {
            service: two_letters(service_indicator, "service indicator")?,
            country: two_letters(country, "country code")?,
        })
    }

    /// The tracking number for `serial` (0 to 99 999 999) under this prefix.
    pub fn number(&self, serial: u32) -> Result<S10, IdError> {
        let check = s10_check_digit(serial)?;
        Ok(S10 {
            prefix: self.clone(),
            serial,
            check,
        })
    }

    pub fn service_indicator(&self) -> &str {
        std::str::from_utf8(&self.service).expect("ASCII letters")
    }

    pub fn country(&self) -> &str {
        std::str::from_utf8(&self.country).expect("ASCII letters")
    }
}

impl TryFrom<S10PrefixParts> for S10Prefix {
    type Error = IdError;
    fn try_from(p: S10PrefixParts) -> Result<Self, Self::Error> {
        S10Prefix::new(&p.service_indicator, &p.country)
    }
}

impl From<S10Prefix> for S10PrefixParts {
    fn from(p: S10Prefix) -> Self {
        S10PrefixParts {
            service_indicator: p.service_indicator().to_owned(),
            country: p.country().to_owned(),
        }
    }
}

/// A valid S10 tracking number. Serialises as its 13 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct S10 {
    prefix: S10Prefix,
    serial: u32,
    check: u8,
}

impl S10 {
    /// Validates a tracking number typed or scanned by a person: spaces are ignored and
    /// letters may be lower case (`ee 123 456 785 gb`), then the layout and check digit must
    /// be right. This is the validator for numbers entered for the `manual` carrier.
    pub fn parse(text: &str) -> Result<S10, IdError> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if compact.len() != 13 || !compact.is_ascii() {
            return Err(IdError::WrongLength {
                expected: "13 (2 letters, 9 digits, 2 letters)".into(),
                actual: compact.chars().count(),
            });
        }
        let prefix = S10Prefix::new(&compact[..2], &compact[11..])?;
        let digits = &compact[2..11];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::NotDigits);
        }
        let serial: u32 = digits[..8].parse().map_err(|_| IdError::NotDigits)?;
        let found = digits.as_bytes()[8] - b'0';
        let number = prefix.number(serial)?;
        if number.check != found {
            return Err(IdError::BadCheckDigit {
                expected: number.check,
                found,
            });
        }
        Ok(number)
    }

    pub fn prefix(&self) -> &S10Prefix {
        &self.prefix
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn check_digit(&self) -> u8 {
        self.check
    }

    /// Grouped in threes for reading aloud and for the label's human-readable line:
    /// `EE 123 456 785 GB` (the check digit closes the last group). This grouping is Ordo's
    /// choice for legibility; the standard's identifier is the 13 characters without spaces.
    pub fn grouped(&self) -> String {
        let s = self.to_string();
        format!(
            "{} {} {} {} {}",
            &s[..2],
            &s[2..5],
            &s[5..8],
            &s[8..11],
            &s[11..]
        )
    }
}

impl fmt::Display for S10 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:08}{}{}",
            self.prefix.service_indicator(),
            self.serial,
            self.check,
            self.prefix.country()
        )
    }
}

impl FromStr for S10 {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S10::parse(s)
    }
}

impl TryFrom<String> for S10 {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        S10::parse(&s)
    }
}

impl From<S10> for String {
    fn from(s: S10) -> String {
        s.to_string()
    }
}

fn two_letters(text: &str, what: &str) -> Result<[u8; 2], IdError> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 || !bytes.iter().all(|b| b.is_ascii_uppercase()) {
        return Err(IdError::Invalid(format!(
            "{what} must be two capital letters A-Z, got {text:?}"
        )));
    }
    Ok([bytes[0], bytes[1]])
}
