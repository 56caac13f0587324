//! The two standard Type 1 fonts the documents use (Helvetica, Helvetica-Bold) and the
//! WinAnsiEncoding their text is written in.
//!
//! Standard fonts are not embedded: every PDF viewer and printer has them, which keeps a
//! label at a few kilobytes and the crate free of font files and a TrueType parser. The
//! price is the character set: WinAnsiEncoding (Windows-1252) covers Western European
//! languages. Other Latin letters are written without their accent (`Ł` → `L`, `ő` → `o`),
//! so an address stays legible; anything else (Cyrillic, Greek, CJK…) becomes `?`. Labels
//! for those scripts need an embedded font, which this crate does not do.
//!
//! Widths are the Adobe Font Metrics (AFM) of the Core 14 fonts, in 1/1000 em, for codes
//! 32-255 of WinAnsiEncoding; they let the layout fit text to a column.

/// A font resource of every document page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Helvetica,
    HelveticaBold,
}

impl Font {
    /// The resource name used in content streams.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Font::Helvetica => "F1",
            Font::HelveticaBold => "F2",
        }
    }

    pub(crate) fn base_font(self) -> &'static str {
        match self {
            Font::Helvetica => "Helvetica",
            Font::HelveticaBold => "Helvetica-Bold",
        }
    }

    /// Width of WinAnsi-encoded text at `size` points.
    pub(crate) fn width(self, encoded: &[u8], size: f64) -> f64 {
        let table = match self {
            Font::Helvetica => &HELVETICA,
            Font::HelveticaBold => &HELVETICA_BOLD,
        };
        let units: u32 = encoded
            .iter()
            .map(|b| u32::from(table[usize::from(b.saturating_sub(32))]))
            .sum();
        f64::from(units) * size / 1000.0
    }

    /// Width of `text` at `size` points, as drawn (after WinAnsi encoding).
    pub fn text_width(self, text: &str, size: f64) -> f64 {
        self.width(&encode_win_ansi(text), size)
    }
}

#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 32
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 48
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 64
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 80
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 96
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350, // 112
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, // 128
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667, // 144
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 160
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 176
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 192
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 208
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // 224
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // 240
];

#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 32
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 48
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 64
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 80
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 96
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350, // 112
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, // 128
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667, // 144
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 160
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 176
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 192
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 208
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, // 224
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, // 240
];

/// Unicode characters at WinAnsiEncoding codes 0x80-0x9F (`'\0'` where the code is unused).
#[rustfmt::skip]
const WIN_ANSI_80: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0',
    '\0', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

/// Base letters of U+0100-U+017F (Latin Extended-A), for letters WinAnsi lacks.
/// Ligatures IJ/ij fall back to I/i; Œ, œ, Š, š, Ÿ, Ž, ž are in WinAnsi and never looked up.
const LATIN_EXT_A: &[u8; 128] = b"AaAaAaCcCcCcCcDd\
    DdEeEeEeEeEeGgGg\
    GgGgHhHhIiIiIiIi\
    IiIiJjKkkLlLlLlL\
    lLlNnNnNnnNnOoOo\
    OoOoRrRrRrSsSsSs\
    SsTtTtTtUuUuUuUu\
    UuUuWwYyYZzZzZzs";

/// Encodes `text` in WinAnsiEncoding, the encoding of the standard fonts' resources:
/// Windows-1252 characters map to their code, other Latin letters lose their accent,
/// anything else becomes `?`. Control characters become spaces.
pub fn encode_win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_byte).collect()
}

fn win_ansi_byte(c: char) -> u8 {
    let u = u32::from(c);
    match u {
        0x20..=0x7E | 0xA0..=0xFF => u as u8,
        0x00..=0x1F | 0x7F => b' ',
        0x100..=0x17F => {
            if let Some(i) = WIN_ANSI_80.iter().position(|w| *w == c) {
                0x80 + i as u8
            } else {
                LATIN_EXT_A[(u - 0x100) as usize]
            }
        }
        // Romanian comma-below letters, common in addresses.
        0x218 => b'S',
        0x219 => b's',
        0x21A => b'T',
        0x21B => b't',
        // Hyphens and dashes that WinAnsi lacks.
        0x2010..=0x2012 => b'-',
        0x2212 => b'-',
        0x2032 => b'\'',
        _ => match WIN_ANSI_80.iter().position(|w| *w == c && c != '\0') {
            Some(i) => 0x80 + i as u8,
            None => b'?',
        },
    }
}

/// Shortens `text` with a trailing `…` until it fits `max_width` points in `font` at `size`.
pub(crate) fn truncate_to_width(text: &str, font: Font, size: f64, max_width: f64) -> String {
    if font.text_width(text, size) <= max_width {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String = chars.iter().collect::<String>().trim_end().to_owned() + "…";
        if font.text_width(&candidate, size) <= max_width {
            return candidate;
        }
    }
    String::new()
}

/// The largest size from `max_size` down to `min_size` (in 0.5 pt steps) at which `text`
/// fits `max_width`; at `min_size` the text is truncated instead.
pub(crate) fn fit(
    text: &str,
    font: Font,
    max_size: f64,
    min_size: f64,
    max_width: f64,
) -> (String, f64) {
    let mut size = max_size;
    while size > min_size {
        if font.text_width(text, size) <= max_width {
            return (text.to_owned(), size);
        }
        size -= 0.5;
    }
    (truncate_to_width(text, font, min_size, max_width), min_size)
}

/// Breaks `text` into at most `max_lines` lines of at most `max_width` points, at spaces
/// where possible; the last line is truncated with `…` if text remains.
pub(crate) fn wrap(
    text: &str,
    font: Font,
    size: f64,
    max_width: f64,
    max_lines: usize,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if font.text_width(&candidate, size) <= max_width {
            current = candidate;
            i += 1;
            continue;
        }
        if current.is_empty() {
            // A single word wider than the column: cut it.
            current = truncate_to_width(word, font, size, max_width);
            i += 1;
        }
        if lines.len() + 1 == max_lines {
            let rest = std::iter::once(current.as_str())
                .chain(words[i..].iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            lines.push(truncate_to_width(&rest, font, size, max_width));
            return lines;
        }
        lines.push(std::mem::take(&mut current));
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_ext_a_table_lines_up() {
        // Spot checks across the block: the table is positional.
        assert_eq!(win_ansi_byte('Ā'), b'A');
        assert_eq!(win_ansi_byte('č'), b'c');
        assert_eq!(win_ansi_byte('Đ'), b'D');
        assert_eq!(win_ansi_byte('ğ'), b'g');
        assert_eq!(win_ansi_byte('İ'), b'I');
        assert_eq!(win_ansi_byte('ı'), b'i');
        assert_eq!(win_ansi_byte('Ĵ'), b'J');
        assert_eq!(win_ansi_byte('ĸ'), b'k');
        assert_eq!(win_ansi_byte('Ł'), b'L');
        assert_eq!(win_ansi_byte('ł'), b'l');
        assert_eq!(win_ansi_byte('ŉ'), b'n');
        assert_eq!(win_ansi_byte('Ő'), b'O');
        assert_eq!(win_ansi_byte('ř'), b'r');
        assert_eq!(win_ansi_byte('ş'), b's');
        assert_eq!(win_ansi_byte('ů'), b'u');
        assert_eq!(win_ansi_byte('ű'), b'u');
        assert_eq!(win_ansi_byte('Ŵ'), b'W');
        assert_eq!(win_ansi_byte('ŷ'), b'y');
        assert_eq!(win_ansi_byte('Ź'), b'Z');
        assert_eq!(win_ansi_byte('ż'), b'z');
        assert_eq!(win_ansi_byte('ſ'), b's');
    }

    #[test]
    fn win_ansi_specials_and_fallbacks() {
        assert_eq!(encode_win_ansi("Müller"), b"M\xfcller");
        assert_eq!(encode_win_ansi("€ – Š œ Ÿ"), b"\x80 \x96 \x8a \x9c \x9f");
        assert_eq!(encode_win_ansi("Łódź"), b"L\xf3dz");
        assert_eq!(encode_win_ansi("Москва"), b"??????");
        assert_eq!(encode_win_ansi("a\tb"), b"a b");
    }

    #[test]
    fn widths_match_afm() {
        // "Helvetica" in Helvetica: H 722 e 556 l 222 v 500 e 556 t 278 i 222 c 500 a 556 = 4112.
        assert_eq!(Font::Helvetica.text_width("Helvetica", 1000.0), 4112.0);
        assert_eq!(Font::HelveticaBold.text_width("W", 10.0), 9.44);
    }

    #[test]
    fn fitting_and_wrapping() {
        let (t, size) = fit("Short", Font::Helvetica, 12.0, 8.0, 100.0);
        assert_eq!((t.as_str(), size), ("Short", 12.0));
        let long = "A very long recipient name that cannot possibly fit";
        let (t, size) = fit(long, Font::Helvetica, 12.0, 8.0, 100.0);
        assert_eq!(size, 8.0);
        assert!(t.ends_with('…') && Font::Helvetica.text_width(&t, 8.0) <= 100.0);
        let lines = wrap(long, Font::Helvetica, 10.0, 90.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        assert_eq!(
            wrap("one two", Font::Helvetica, 10.0, 120.0, 2),
            vec!["one two"]
        );
    }
}
