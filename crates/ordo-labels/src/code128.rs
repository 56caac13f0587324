//! Code 128 (ISO/IEC 15417) and GS1-128, as symbol values and bar/space module widths.
//!
//! Code 128 is what carriers print for tracking numbers and what GS1 requires for the SSCC
//! (as GS1-128: Code 128 with FNC1 right after the start character). Only subsets B
//! (printable ASCII) and C (digit pairs) are used: tracking numbers and GS1 data are
//! printable ASCII, and leaving out subset A and FNC4 keeps every symbol readable by every
//! scanner.
//!
//! Subset switching gives the shortest symbol (a dynamic programme over the input), and
//! among equally short symbols it follows the rules of ISO/IEC 15417 Annex E: start in C
//! only for 4 or more leading digits, latch to C for runs of 4 or more digits, and for an odd
//! run encode its first digit in B. The tests compare the output with the symbols published
//! in ISO/IEC 15417 and the GS1 General Specifications (as reproduced by zint's tests).
//!
//! The output is abstract: [`Code128::widths`] and [`Code128::bars`] in modules. The PDF
//! writer draws each bar as a filled rectangle; the ZPL writer sends the same symbol
//! characters to the printer with explicit subset invocation codes
//! ([`Code128::zpl_field_data`]), so both media carry an identical symbol.

use crate::error::BarcodeError;

/// Minimum quiet zone on each side, in modules (ISO/IEC 15417: 10X).
pub const QUIET_ZONE_MODULES: usize = 10;

/// Refuse data needing more symbol characters than this (start, check and stop excluded):
/// even at the thinnest printable module a longer symbol is wider than a 4-inch label.
pub const MAX_DATA_SYMBOLS: usize = 60;

/// Bar and space widths of symbol values 0-105, bar first (6 elements, 11 modules each),
/// from ISO/IEC 15417 Table 1. The stop character (106) has 7 elements, 13 modules.
const PATTERNS: [u32; 106] = [
    212222, 222122, 222221, 121223, 121322, 131222, 122213, 122312, 132212, 221213, // 0
    221312, 231212, 112232, 122132, 122231, 113222, 123122, 123221, 223211, 221132, // 10
    221231, 213212, 223112, 312131, 311222, 321122, 321221, 312212, 322112, 322211, // 20
    212123, 212321, 232121, 111323, 131123, 131321, 112313, 132113, 132311, 211313, // 30
    231113, 231311, 112133, 112331, 132131, 113123, 113321, 133121, 313121, 211331, // 40
    231131, 213113, 213311, 213131, 311123, 311321, 331121, 312113, 312311, 332111, // 50
    314111, 221411, 431111, 111224, 111422, 121124, 121421, 141122, 141221, 112214, // 60
    112412, 122114, 122411, 142112, 142211, 241211, 221114, 413111, 241112, 134111, // 70
    111242, 121142, 121241, 114212, 124112, 124211, 411212, 421112, 421211, 212141, // 80
    214121, 412121, 111143, 111341, 131141, 114113, 114311, 411113, 411311, 113141, // 90
    114131, 311141, 411131, 211412, 211214, 211232, // 100
];
const STOP_PATTERN: u32 = 2331112;

/// Bar/space widths (bar first) of one symbol value, 0-106.
pub fn pattern(value: u8) -> Vec<u8> {
    let p = if value == 106 {
        STOP_PATTERN
    } else {
        PATTERNS[usize::from(value)]
    };
    p.to_string().bytes().map(|b| b - b'0').collect()
}

/// The mod-103 symbol check value: the start value plus each following value times its
/// position (1, 2, …), modulo 103. `values` starts with the start character's value.
pub fn checksum(values: &[u8]) -> u8 {
    let sum: u64 = values
        .iter()
        .enumerate()
        .map(|(i, v)| u64::from(*v) * (i.max(1) as u64))
        .sum();
    (sum % 103) as u8
}

/// One symbol character of a Code 128 symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    StartB,
    StartC,
    /// Latch to subset B (from C).
    CodeB,
    /// Latch to subset C (from B).
    CodeC,
    /// Function 1: right after the start it marks GS1-128; later it separates element strings.
    Fnc1,
    /// A printable ASCII character in subset B.
    B(u8),
    /// A pair of digits 00-99 in subset C.
    C(u8),
    Check(u8),
    Stop,
}

impl Symbol {
    /// The symbol value 0-106.
    pub fn value(self) -> u8 {
        match self {
            Symbol::StartB => 104,
            Symbol::StartC => 105,
            Symbol::CodeB => 100,
            Symbol::CodeC => 99,
            Symbol::Fnc1 => 102,
            Symbol::B(c) => c - 32,
            Symbol::C(n) => n,
            Symbol::Check(v) => v,
            Symbol::Stop => 106,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Char(u8),
    Fnc1,
}

impl Item {
    fn is_digit(self) -> bool {
        matches!(self, Item::Char(c) if c.is_ascii_digit())
    }
}

/// An encoded Code 128 symbol: its symbol characters and the human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code128 {
    symbols: Vec<Symbol>,
    text: String,
}

impl Code128 {
    /// Encodes printable ASCII text (space to `~`), e.g. a tracking number.
    pub fn new(text: &str) -> Result<Code128, BarcodeError> {
        let mut items = Vec::with_capacity(text.len());
        for c in text.chars() {
            if !(' '..='~').contains(&c) {
                return Err(BarcodeError::UnsupportedCharacter(c));
            }
            items.push(Item::Char(c as u8));
        }
        Code128::encode(&items, text.to_owned())
    }

    /// Encodes GS1 element strings `(AI, value)` as GS1-128: FNC1 after the start, then each
    /// AI and value, with FNC1 after every value whose length the AI does not predefine
    /// (except the last). Values are checked against GS1 character set 82, predefined
    /// lengths, and the check digit of AIs 00, 01 and 02.
    pub fn gs1(elements: &[(&str, &str)]) -> Result<Code128, BarcodeError> {
        if elements.is_empty() {
            return Err(BarcodeError::Empty);
        }
        let mut items = vec![Item::Fnc1];
        let mut text = String::new();
        for (i, (ai, value)) in elements.iter().enumerate() {
            crate::gs1::check_element(ai, value).map_err(BarcodeError::Gs1)?;
            items.extend(ai.bytes().chain(value.bytes()).map(Item::Char));
            text.push_str(&format!("({ai}){value}"));
            let last = i + 1 == elements.len();
            if !last && crate::gs1::predefined_length(ai).is_none() {
                items.push(Item::Fnc1);
            }
        }
        Code128::encode(&items, text)
    }

    fn encode(items: &[Item], text: String) -> Result<Code128, BarcodeError> {
        if items.is_empty() {
            return Err(BarcodeError::Empty);
        }
        let n = items.len();
        // best_b[i] / best_c[i]: fewest symbol characters that encode items[i..] when the
        // current subset is B / C. A latch must be followed by a character of the new subset,
        // so the two tables never refer to each other at the same position twice.
        const NEVER: u32 = u32::MAX / 4;
        let mut best_b = vec![0u32; n + 1];
        let mut best_c = vec![0u32; n + 1];
        let enc_c = |i: usize, best_c: &[u32]| -> u32 {
            match items[i] {
                Item::Fnc1 => 1 + best_c[i + 1],
                item if item.is_digit() && i + 1 < n && items[i + 1].is_digit() => {
                    1 + best_c[i + 2]
                }
                _ => NEVER,
            }
        };
        for i in (0..n).rev() {
            let in_b = 1 + best_b[i + 1];
            let in_c = enc_c(i, &best_c);
            best_b[i] = in_b.min(1 + in_c);
            best_c[i] = in_c.min(1 + in_b);
        }
        let digit_run = |i: usize| items[i..].iter().take_while(|it| it.is_digit()).count();

        let leading = items.iter().take_while(|it| **it == Item::Fnc1).count();
        let start_c = best_c[0] < best_b[0]
            || (best_c[0] == best_b[0] && leading < n && digit_run(leading) >= 4);
        let mut symbols = vec![if start_c {
            Symbol::StartC
        } else {
            Symbol::StartB
        }];
        let mut in_c = start_c;
        let mut i = 0;
        while i < n {
            let cost_b = 1 + best_b[i + 1];
            let cost_c = enc_c(i, &best_c);
            if in_c {
                if cost_c <= 1 + cost_b {
                    match items[i] {
                        Item::Fnc1 => {
                            symbols.push(Symbol::Fnc1);
                            i += 1;
                        }
                        Item::Char(a) => {
                            let Item::Char(b) = items[i + 1] else {
                                unreachable!("cost_c is finite only for a digit pair")
                            };
                            symbols.push(Symbol::C((a - b'0') * 10 + (b - b'0')));
                            i += 2;
                        }
                    }
                } else {
                    symbols.push(Symbol::CodeB);
                    in_c = false;
                }
            } else {
                let run = digit_run(i);
                if 1 + cost_c < cost_b || (1 + cost_c == cost_b && run >= 4 && run % 2 == 0) {
                    symbols.push(Symbol::CodeC);
                    in_c = true;
                } else {
                    symbols.push(match items[i] {
                        Item::Fnc1 => Symbol::Fnc1,
                        Item::Char(c) => Symbol::B(c),
                    });
                    i += 1;
                }
            }
        }
        let data_symbols = symbols.len() - 1;
        if data_symbols > MAX_DATA_SYMBOLS {
            return Err(BarcodeError::TooLong(data_symbols));
        }
        let values: Vec<u8> = symbols.iter().map(|s| s.value()).collect();
        symbols.push(Symbol::Check(checksum(&values)));
        symbols.push(Symbol::Stop);
        Ok(Code128 { symbols, text })
    }

    /// All symbol characters, start to stop.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// All symbol values, start to stop.
    pub fn values(&self) -> Vec<u8> {
        self.symbols.iter().map(|s| s.value()).collect()
    }

    /// The symbol check value.
    pub fn check_value(&self) -> u8 {
        self.symbols[self.symbols.len() - 2].value()
    }

    /// The human-readable interpretation: the text, or `(AI)value…` for GS1-128.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is a GS1-128 symbol (FNC1 in first position).
    pub fn is_gs1(&self) -> bool {
        self.symbols.get(1) == Some(&Symbol::Fnc1)
    }

    /// Bar and space widths in modules, alternating and starting with a bar, without quiet
    /// zones. The last element is the stop character's final 2-module bar.
    pub fn widths(&self) -> Vec<u8> {
        self.symbols
            .iter()
            .flat_map(|s| pattern(s.value()))
            .collect()
    }

    /// Total width in modules without quiet zones: 11 per symbol character, 13 for the stop.
    pub fn width_modules(&self) -> usize {
        11 * self.symbols.len() + 2
    }

    /// Every module, `true` for a bar, without quiet zones.
    pub fn modules(&self) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.width_modules());
        for (i, w) in self.widths().into_iter().enumerate() {
            out.extend(std::iter::repeat_n(i % 2 == 0, usize::from(w)));
        }
        out
    }

    /// The dark bars as `(first module, width in modules)`, what a renderer fills.
    pub fn bars(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut x = 0usize;
        for (i, w) in self.widths().into_iter().enumerate() {
            let w = usize::from(w);
            if i % 2 == 0 {
                out.push((x, w));
            }
            x += w;
        }
        out
    }

    /// The field data for a ZPL `^BC` barcode in mode N, with the subset and FNC1
    /// invocation codes spelled out (`>:` start B, `>;` start C, `>5`/`>6` latch to C/B,
    /// `>8` FNC1, `><` a literal `>`), so the printer encodes the very symbol characters
    /// computed here rather than choosing its own subsets. The printer adds check and stop.
    /// The result is not yet escaped for `^FH` (see the ZPL writer).
    pub fn zpl_field_data(&self) -> String {
        let mut out = String::new();
        for s in &self.symbols {
            match s {
                Symbol::StartB => out.push_str(">:"),
                Symbol::StartC => out.push_str(">;"),
                Symbol::CodeB => out.push_str(">6"),
                Symbol::CodeC => out.push_str(">5"),
                Symbol::Fnc1 => out.push_str(">8"),
                Symbol::B(b'>') => out.push_str("><"),
                Symbol::B(c) => out.push(char::from(*c)),
                Symbol::C(n) => out.push_str(&format!("{n:02}")),
                Symbol::Check(_) | Symbol::Stop => {}
            }
        }
        out
    }
}
