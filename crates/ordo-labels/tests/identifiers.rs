//! GS1 check digits, SSCC-18 and S10 tracking numbers against published examples.

use ordo_labels::error::IdError;
use ordo_labels::s10::S10_WEIGHTS;
use ordo_labels::{
    S10, S10Prefix, Sscc, gs1_check_digit, s10_check_digit, validate_gs1_check_digit, validate_gtin,
};
use proptest::prelude::*;

// ---------- GS1 mod-10 ----------

#[test]
fn gtin_examples() {
    // EAN-13 4006381333931: the worked example of the EAN-13 article (Wikipedia).
    assert_eq!(gs1_check_digit("400638133393"), Ok(1));
    validate_gtin("4006381333931").unwrap();
    // UPC-A 036000291452: the worked example of the UPC article (Wikipedia).
    assert_eq!(gs1_check_digit("03600029145"), Ok(2));
    validate_gtin("036000291452").unwrap();
    assert_eq!(
        validate_gtin("4006381333932"),
        Err(IdError::BadCheckDigit {
            expected: 1,
            found: 2
        })
    );
    assert!(matches!(
        validate_gtin("12345"),
        Err(IdError::WrongLength { .. })
    ));
    assert_eq!(validate_gtin("40063813339a1"), Err(IdError::NotDigits));
}

#[test]
fn sscc_published_examples() {
    // GS1's SSCC example with the GS1 US example prefix 0614141: (00) 1 0614141 234567890 8.
    assert_eq!(gs1_check_digit("10614141234567890"), Ok(8));
    let s = Sscc::parse("(00) 1 0614141 234567890 8").unwrap();
    assert_eq!(s.as_str(), "106141412345678908");
    assert_eq!(s.extension_digit(), 1);
    assert_eq!(s.check_digit(), 8);
    assert_eq!(Sscc::new(1, "0614141", 234_567_890).unwrap(), s);
    // BWIPP's SSCC-18 documentation: (00)095287654321012346.
    let b = Sscc::parse("(00)095287654321012346").unwrap();
    assert_eq!(Sscc::new(0, "9528765", 432_101_234).unwrap(), b);
}

#[test]
fn sscc_from_prefix_and_serial() {
    // (00) 1 0614141 000000001 ?: the first serial under the GS1 example prefix. Weights
    // 3,1,3,… from the right give 3 + 1 + 12 + 1 + 12 + 1 + 18 + 0 + 3 = 51, so the check
    // digit is 9.
    let s = Sscc::new(1, "0614141", 1).unwrap();
    assert_eq!(s.as_str(), "106141410000000019");
    assert_eq!(s.human_readable(), "(00) 106141410000000019");
    assert_eq!(s.to_string().parse::<Sscc>().unwrap(), s);
    // The serial reference has 16 - prefix length digits.
    assert_eq!(
        Sscc::new(0, "061414100", 9_999_999).unwrap().as_str(),
        "006141410099999990"
    );
    assert!(Sscc::new(0, "061414100", 10_000_000).is_err());
    assert!(Sscc::new(10, "0614141", 1).is_err());
    assert!(Sscc::new(0, "12345", 1).is_err());
    assert!(Sscc::new(0, "06141x1", 1).is_err());
}

#[test]
fn sscc_validation() {
    assert_eq!(
        Sscc::parse("106141412345678907"),
        Err(IdError::BadCheckDigit {
            expected: 8,
            found: 7
        })
    );
    assert!(matches!(
        Sscc::parse("10614141234567890"),
        Err(IdError::WrongLength { .. })
    ));
    assert_eq!(Sscc::parse("1061414123456789O8"), Err(IdError::NotDigits));
}

#[test]
fn sscc_serde_is_its_digits() {
    let s = Sscc::new(1, "0614141", 1).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"106141410000000019\"");
    let back: Sscc = serde_json::from_str("\"(00) 106141410000000019\"").unwrap();
    assert_eq!(back, s);
    assert!(serde_json::from_str::<Sscc>("\"106141410000000018\"").is_err());
}

proptest! {
    /// Weights 1 and 3 are both prime to 10, so every single-digit error changes the sum
    /// modulo 10: GS1 check digits catch all of them.
    #[test]
    fn gs1_catches_every_single_digit_error(key in "[0-9]{17}", pos in 0usize..17, d in 0u8..10) {
        let check = gs1_check_digit(&key).unwrap();
        let full = format!("{key}{check}");
        let mut bytes = full.into_bytes();
        prop_assume!(bytes[pos] != b'0' + d);
        bytes[pos] = b'0' + d;
        prop_assert!(validate_gs1_check_digit(std::str::from_utf8(&bytes).unwrap()).is_err());
    }

    /// Adjacent transpositions are caught unless the two digits differ by 5.
    #[test]
    fn gs1_catches_transpositions_except_difference_5(key in "[0-9]{17}", pos in 0usize..16) {
        let check = gs1_check_digit(&key).unwrap();
        let mut bytes = format!("{key}{check}").into_bytes();
        let (a, b) = (bytes[pos], bytes[pos + 1]);
        prop_assume!(a != b);
        bytes.swap(pos, pos + 1);
        let caught = validate_gs1_check_digit(std::str::from_utf8(&bytes).unwrap()).is_err();
        prop_assert_eq!(caught, a.abs_diff(b) != 5);
    }
}

// ---------- S10 ----------

#[test]
fn s10_published_example() {
    // UPU S10's worked example (as quoted by Wikipedia): serial 47312482, S = 200, C = 9.
    let digits = [4u32, 7, 3, 1, 2, 4, 8, 2];
    let s: u32 = digits.iter().zip(S10_WEIGHTS).map(|(d, w)| d * w).sum();
    assert_eq!(s, 200);
    assert_eq!(s10_check_digit(47_312_482), Ok(9));
    let n = S10::parse("RR473124829GB").unwrap();
    assert_eq!(n.serial(), 47_312_482);
    assert_eq!(n.check_digit(), 9);
    assert_eq!(n.prefix().service_indicator(), "RR");
    assert_eq!(n.prefix().country(), "GB");
}

#[test]
fn s10_check_digit_special_cases() {
    // 11 - (S mod 11) = 10 is written 0, = 11 is written 5.
    // 12345678: S = 8+12+12+8+15+30+63+56 = 204, 204 mod 11 = 6, C = 5.
    assert_eq!(s10_check_digit(12_345_678), Ok(5));
    S10::parse("EE123456785GB").unwrap();
    // 00000000: S = 0, C = 11 → 5.
    assert_eq!(s10_check_digit(0), Ok(5));
    // 00000001: S = 7, C = 4.
    assert_eq!(s10_check_digit(1), Ok(4));
    // 00000008: S = 56, 56 mod 11 = 1, C = 10 → 0.
    assert_eq!(s10_check_digit(8), Ok(0));
    assert!(s10_check_digit(100_000_000).is_err());
}

#[test]
fn s10_example_from_the_brief_is_not_valid() {
    // "RA 47 395 234 5 GB": 47395234 gives S = 184, 184 mod 11 = 8, C = 3, not 5.
    assert_eq!(
        S10::parse("RA 47 395 234 5 GB"),
        Err(IdError::BadCheckDigit {
            expected: 3,
            found: 5
        })
    );
    assert_eq!(S10::parse("RA473952343GB").unwrap().check_digit(), 3);
}

#[test]
fn s10_parsing_is_forgiving_about_spacing_and_case_only() {
    let n = S10::parse(" ee 123 456 785 gb ").unwrap();
    assert_eq!(n.to_string(), "EE123456785GB");
    assert_eq!(n.grouped(), "EE 123 456 785 GB");
    assert!(matches!(
        S10::parse("EE12345678GB"),
        Err(IdError::WrongLength { .. })
    ));
    assert!(matches!(
        S10::parse("E1123456785GB"),
        Err(IdError::Invalid(_))
    ));
    assert_eq!(S10::parse("EE12345678XGB"), Err(IdError::NotDigits));
    assert!(S10::parse("EE123456785G1").is_err());
    assert!(S10::parse("ÉE123456785GB").is_err());
}

#[test]
fn own_fleet_numbers() {
    let prefix = S10Prefix::new("ZZ", "DE").unwrap();
    let n = prefix.number(42).unwrap();
    assert_eq!(
        n.to_string(),
        format!("ZZ00000042{}DE", s10_check_digit(42).unwrap())
    );
    assert_eq!(S10::parse(&n.to_string()).unwrap(), n);
    assert!(prefix.number(100_000_000).is_err());
    assert!(S10Prefix::new("Zz", "DE").is_err());
    assert!(S10Prefix::new("ZZ", "DEU").is_err());
    // Serde: the number is its 13 characters; the prefix is its two parts.
    assert_eq!(serde_json::to_string(&n).unwrap(), format!("\"{n}\""));
    let json = serde_json::to_string(&prefix).unwrap();
    assert_eq!(json, r#"{"service_indicator":"ZZ","country":"DE"}"#);
    assert_eq!(serde_json::from_str::<S10Prefix>(&json).unwrap(), prefix);
    let wrong = (s10_check_digit(42).unwrap() + 1) % 10;
    assert!(serde_json::from_str::<S10>(&format!("\"ZZ00000042{wrong}DE\"")).is_err());
}

proptest! {
    /// Numbers are a one-to-one function of (prefix, serial): distinct serials under one
    /// prefix, or one serial under distinct prefixes, never give the same number.
    #[test]
    fn s10_numbers_are_unique_per_prefix_and_serial(
        a in 0u32..=99_999_999, b in 0u32..=99_999_999,
        s1 in "[A-Z]{2}", s2 in "[A-Z]{2}", c in "[A-Z]{2}",
    ) {
        let p1 = S10Prefix::new(&s1, &c).unwrap();
        let p2 = S10Prefix::new(&s2, &c).unwrap();
        let n1 = p1.number(a).unwrap().to_string();
        let n2 = p2.number(b).unwrap().to_string();
        prop_assert_eq!(n1 == n2, s1 == s2 && a == b);
        prop_assert_eq!(S10::parse(&n1).unwrap().serial(), a);
    }

    /// A single wrong serial digit is caught unless both sums fall on the two remainders
    /// (0 and 6) that S10 maps to the same check digit 5: the documented weakness.
    #[test]
    fn s10_single_digit_errors(serial in 0u32..=99_999_999, pos in 0usize..8, d in 0u8..10) {
        let n = S10Prefix::new("ZZ", "DE").unwrap().number(serial).unwrap().to_string();
        let mut bytes = n.into_bytes();
        prop_assume!(bytes[2 + pos] != b'0' + d);
        bytes[2 + pos] = b'0' + d;
        let changed = std::str::from_utf8(&bytes).unwrap().to_owned();
        let remainder = |s: &str| -> u32 {
            s[2..10].bytes().zip(S10_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum::<u32>() % 11
        };
        let original = format!("{}", S10Prefix::new("ZZ", "DE").unwrap().number(serial).unwrap());
        let both_ambiguous = [0, 6].contains(&remainder(&original)) && [0, 6].contains(&remainder(&changed));
        prop_assert_eq!(S10::parse(&changed).is_ok(), both_ambiguous);
    }
}
