//! Code 128 and GS1-128 against published symbols.
//!
//! Module strings ("1" bar, "0" space) and codeword lists come from zint's test suite
//! (`backend/tests/test_code128.c`, `test_gs1.c`), which takes them from ISO/IEC 15417 and
//! the GS1 General Specifications figures, or verified them against other encoders.

mod common;

use common::decode_code128;
use ordo_labels::code128::{QUIET_ZONE_MODULES, Symbol, checksum, pattern};
use ordo_labels::{BarcodeError, Code128, Sscc};
use proptest::prelude::*;

fn modules_string(code: &Code128) -> String {
    code.modules()
        .into_iter()
        .map(|m| if m { '1' } else { '0' })
        .collect()
}

#[test]
fn pattern_table_is_well_formed() {
    let mut seen = std::collections::HashSet::new();
    for v in 0..=105u8 {
        let p = pattern(v);
        assert_eq!(p.len(), 6, "value {v}");
        assert_eq!(
            p.iter().map(|w| u32::from(*w)).sum::<u32>(),
            11,
            "value {v}"
        );
        assert!(p.iter().all(|w| (1..=4).contains(w)), "value {v}");
        // Code 128 characters have an even number of bar modules (self-checking parity).
        let bars: u8 = p.iter().step_by(2).sum();
        assert_eq!(bars % 2, 0, "value {v}");
        assert!(seen.insert(p), "value {v} duplicated");
    }
    assert_eq!(pattern(106), vec![2, 3, 3, 1, 1, 1, 2]);
}

#[test]
fn published_checksums() {
    // Wikipedia's Code 128 article: "PJJ123C" in subset A sums to 878, check value 54.
    assert_eq!(checksum(&[103, 48, 42, 42, 17, 18, 19, 35]), 54);
    // barcoderesource.com: "ABCDEF" in subset A → 866 % 103 = 42.
    assert_eq!(checksum(&[103, 33, 34, 35, 36, 37, 38]), 42);
    // crifan's Code 128 tutorial: START-A H I CODE-C 34 56 78 → 1406 % 103 = 67.
    assert_eq!(checksum(&[103, 40, 41, 99, 34, 56, 78]), 67);
}

#[test]
fn published_encodings_through_the_encoder() {
    // barcoderesource.com: "abcdef" in subset B → 1539 % 103 = 97.
    let c = Code128::new("abcdef").unwrap();
    assert_eq!(c.values(), vec![104, 65, 66, 67, 68, 69, 70, 97, 106]);
    // barcoderesource.com: "345678" in subset C → 485 % 103 = 73.
    let c = Code128::new("345678").unwrap();
    assert_eq!(c.values(), vec![105, 34, 56, 78, 73, 106]);
    // ISO/IEC 15417 Annex A.1 (via zint): "AIM1234" → 104 33 41 45 99 12 34, check 87.
    assert_eq!(
        Code128::new("AIM1234").unwrap().values(),
        vec![104, 33, 41, 45, 99, 12, 34, 87, 106]
    );
    // The HI345678 tutorial example starts in A; with subsets B and C only the same
    // switching gives 104 40 41 99 34 56 78 and check (1406 + 1) % 103 = 68.
    assert_eq!(
        Code128::new("HI345678").unwrap().values(),
        vec![104, 40, 41, 99, 34, 56, 78, 68, 106]
    );
}

#[test]
fn subset_choice_matches_iso_15417_annex_e() {
    // zint test_code128.c test_input: (data, codewords start..check).
    let cases: [(&str, &[u8]); 6] = [
        ("1", &[104, 17, 18]),
        ("12", &[105, 12, 14]),
        ("123", &[104, 17, 18, 19, 8]),
        ("1234", &[105, 12, 34, 82]),
        ("12345", &[105, 12, 34, 100, 21, 54]),
        (
            "AAAa12345aAA",
            &[104, 33, 33, 33, 65, 17, 99, 23, 45, 100, 65, 33, 33, 54],
        ),
    ];
    for (data, expected) in cases {
        let mut values = Code128::new(data).unwrap().values();
        assert_eq!(values.pop(), Some(106), "{data}");
        assert_eq!(values, expected, "{data}");
    }
}

#[test]
fn published_module_patterns() {
    // ISO/IEC 15417:2007 Figure 1, "AIM".
    assert_eq!(
        modules_string(&Code128::new("AIM").unwrap()),
        "11010010000101000110001100010001010111011000101110110001100011101011"
    );
    // zint, "1234567890" (subset C throughout).
    assert_eq!(
        modules_string(&Code128::new("1234567890").unwrap()),
        "110100111001011001110010001011000111000101101100001010011011110110100111100101100011101011"
    );
}

#[test]
fn gs1_128_sscc_matches_published_symbol() {
    // zint test_gs1.c, NVE-18 (= SSCC-18) "12345678901234567", "verified manually against
    // tec-it": zint appends the check digit 5 and encodes (00)123456789012345675.
    let sscc = Sscc::parse("123456789012345675").unwrap();
    let code = sscc.barcode();
    assert_eq!(
        modules_string(&code),
        "110100111001111010111011011001100101100111001000101100011100010110110000101001101111011010110011100100010110001110001011011000010010101101110001100011101011"
    );
    assert!(code.is_gs1());
    assert_eq!(code.text(), "(00)123456789012345675");
    // Start C, FNC1, then AI 00 and the 18 digits as 10 pairs.
    assert_eq!(
        &code.symbols()[..3],
        &[Symbol::StartC, Symbol::Fnc1, Symbol::C(0)]
    );
    assert_eq!(code.symbols().len(), 2 + 10 + 2);
}

#[test]
fn gs1_128_matches_general_specifications_figures() {
    // zint test_code128.c test_encode, "verified manually against GS1 General
    // Specifications 20.0": GGS Figures 2.5.2-1, 2.6.6-1 (top and bottom), 2.6.9-1.
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("8018", "950110153123456781")],
            "11010011100111101011101010011110011001110010101111010001100110110011001000100101110011001101100011011101101110101110110001000010110010010111100101111001001100011101011",
        ),
        (
            &[("415", "5412345678908"), ("3911", "710125")],
            "110100111001111010111011000100010111010001101100010001011101101110101110110001000010110011011011110100011001001101000100011000100100100110100001100110110011100101100100001001101100011101011",
        ),
        (
            &[("12", "010425"), ("8020", "ABC123")],
            "110100111001111010111010110011100110011011001001000110011100101100101001111001100100111010111101110101000110001000101100010001000110100111001101100111001011001011100110010111001100011101011",
        ),
        (
            &[("253", "950110153005812345678901")],
            "1101001110011110101110111001011001101000100011000101110110001001001100110110011011101110110110011001110110001010110011100100010110001110001011011000010100110111101101011110111010011100110101110110001100011101011",
        ),
    ];
    for (elements, expected) in cases {
        let code = Code128::gs1(elements).unwrap();
        assert_eq!(modules_string(&code), expected, "{elements:?}");
    }
    // zint test_gs1.c, EAN-14 "1234567890123": (01)12345678901231.
    assert_eq!(
        modules_string(&Code128::gs1(&[("01", "12345678901231")]).unwrap()),
        "11010011100111101011101100110110010110011100100010110001110001011011000010100110111101101011001110011011000110100001100101100011101011"
    );
}

#[test]
fn gs1_variable_length_elements_are_separated_by_fnc1() {
    // AI 10 (batch) has no predefined length: FNC1 must follow it unless it is last.
    let code = Code128::gs1(&[("10", "AB12"), ("01", "12345678901231")]).unwrap();
    let (data, gs1) = decode_code128(&code.widths()).unwrap();
    assert!(gs1);
    assert_eq!(data, "10AB12\u{1D}0112345678901231");
    // AI 01 has a predefined length: no separator after it.
    let code = Code128::gs1(&[("01", "12345678901231"), ("10", "AB12")]).unwrap();
    assert_eq!(
        decode_code128(&code.widths()).unwrap().0,
        "011234567890123110AB12"
    );
    assert_eq!(code.text(), "(01)12345678901231(10)AB12");
}

#[test]
fn gs1_input_is_checked() {
    let err = |e: &[(&str, &str)]| match Code128::gs1(e) {
        Err(BarcodeError::Gs1(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(err(&[("00", "106141412345678907")]).contains("check digit"));
    assert!(err(&[("00", "1061414123456789")]).contains("18 characters"));
    assert!(err(&[("1", "x")]).contains("2 to 4 digits"));
    assert!(err(&[("10", "A B")]).contains("character set 82"));
    assert!(err(&[("10", "")]).contains("no value"));
    assert_eq!(Code128::gs1(&[]), Err(BarcodeError::Empty));
}

#[test]
fn unsupported_input() {
    assert_eq!(Code128::new(""), Err(BarcodeError::Empty));
    assert_eq!(
        Code128::new("Zoë"),
        Err(BarcodeError::UnsupportedCharacter('ë'))
    );
    assert_eq!(
        Code128::new("a\tb"),
        Err(BarcodeError::UnsupportedCharacter('\t'))
    );
    assert!(matches!(
        Code128::new(&"x".repeat(61)),
        Err(BarcodeError::TooLong(61))
    ));
    // 120 digits are 60 pairs: fine.
    assert!(Code128::new(&"7".repeat(120)).is_ok());
}

#[test]
fn geometry() {
    let code = Code128::new("ZZ123456785DE").unwrap();
    // Start, Z, Z, 1, CodeC, 23 45 67 85, CodeB, D, E, check, stop: an odd run of 9 digits
    // keeps its first digit in B (Annex E rule 3b).
    assert_eq!(
        code.symbols()[..12],
        [
            Symbol::StartB,
            Symbol::B(b'Z'),
            Symbol::B(b'Z'),
            Symbol::B(b'1'),
            Symbol::CodeC,
            Symbol::C(23),
            Symbol::C(45),
            Symbol::C(67),
            Symbol::C(85),
            Symbol::CodeB,
            Symbol::B(b'D'),
            Symbol::B(b'E'),
        ]
    );
    assert_eq!(code.width_modules(), 11 * 14 + 2);
    assert_eq!(code.modules().len(), code.width_modules());
    let bars = code.bars();
    assert_eq!(bars[0].0, 0);
    let last = bars.last().unwrap();
    assert_eq!(last.0 + last.1, code.width_modules());
    assert_eq!(QUIET_ZONE_MODULES, 10);
    assert_eq!(code.zpl_field_data(), ">:ZZ1>523456785>6DE");
    assert_eq!(Code128::new("a>b").unwrap().zpl_field_data(), ">:a><b");
    assert_eq!(
        Sscc::parse("106141410000000019")
            .unwrap()
            .barcode()
            .zpl_field_data(),
        ">;>800106141410000000019"
    );
}

proptest! {
    /// Whatever the mix of letters and digits, the symbol decodes back to the input, carries
    /// a valid check character, and is never longer than encoding everything in subset B.
    #[test]
    fn round_trip(text in "[ -~]{1,40}") {
        let code = Code128::new(&text).unwrap();
        let (decoded, gs1) = decode_code128(&code.widths()).unwrap();
        prop_assert!(!gs1);
        prop_assert_eq!(decoded, text.clone());
        prop_assert!(code.symbols().len() <= text.len() + 3);
    }

    #[test]
    fn digit_heavy_round_trip(text in "[0-9A]{1,60}") {
        if let Ok(code) = Code128::new(&text) {
            prop_assert_eq!(decode_code128(&code.widths()).unwrap().0, text);
        }
    }
}
