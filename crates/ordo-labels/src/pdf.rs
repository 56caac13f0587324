//! A minimal PDF 1.4 writer: the subset the documents need and nothing else.
//!
//! Objects: catalog, page tree, the two standard fonts (not embedded), an info dictionary
//! with the title, then a page and an uncompressed content stream per page, followed by a
//! classic cross-reference table. Content streams only fill rectangles and show text, so
//! they stay readable (and testable) without a decompressor; a label is a few kilobytes.
//!
//! Output is deterministic (no creation date, no random file ID): the same input gives the
//! same bytes, so documents can be cached, compared and hashed.

use std::fmt::Write as _;

use crate::fonts::{Font, encode_win_ansi};
use crate::layout::{Align, Element, PT_PER_DOT, PageLayout};

/// Writes `pages` as a PDF document titled `title`.
pub(crate) fn render(pages: &[PageLayout], title: &str) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let page_count = pages.len();
    // Object numbers: 1 catalog, 2 pages, 3-4 fonts, 5 info, then page k at 6 + 2k and its
    // contents at 7 + 2k.
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..page_count)
        .map(|k| format!("{} 0 R", 6 + 2 * k))
        .collect();
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            page_count
        )
        .into_bytes(),
    );
    for font in [Font::Helvetica, Font::HelveticaBold] {
        objects.push(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>",
                font.base_font()
            )
            .into_bytes(),
        );
    }
    objects.push(
        format!(
            "<< /Title {} /Producer (Ordo ordo-labels) >>",
            utf16_text_string(title)
        )
        .into_bytes(),
    );
    for (k, page) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                num(page.width),
                num(page.height),
                7 + 2 * k
            )
            .into_bytes(),
        );
        let content = content_stream(page);
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(&content);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    // The second line's high bytes tell transfer tools the file is binary.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        // Each entry is exactly 20 bytes, end-of-line included.
        let _ = writeln!(xref, "{offset:010} 00000 n ");
    }
    let _ = write!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{}\n%%EOF\n",
        objects.len() + 1,
        xref_at
    );
    out.extend_from_slice(xref.as_bytes());
    out
}

fn content_stream(page: &PageLayout) -> Vec<u8> {
    let mut out: Vec<u8> = b"0 g\n".to_vec();
    for element in &page.elements {
        match element {
            Element::Rect { x, y, w, h, gray } => {
                let line = if *gray == 0.0 {
                    format!("{} {} {} {} re f\n", num(*x), num(*y), num(*w), num(*h))
                } else {
                    format!(
                        "{} g {} {} {} {} re f 0 g\n",
                        num(*gray),
                        num(*x),
                        num(*y),
                        num(*w),
                        num(*h)
                    )
                };
                out.extend_from_slice(line.as_bytes());
            }
            Element::Text {
                x,
                width,
                baseline,
                font,
                size,
                align,
                text,
            } => {
                let encoded = encode_win_ansi(text);
                let text_width = font.width(&encoded, *size);
                let left = match align {
                    Align::Left => *x,
                    Align::Center => x + (width - text_width) / 2.0,
                    Align::Right => x + width - text_width,
                };
                out.extend_from_slice(
                    format!(
                        "BT /{} {} Tf {} {} Td ",
                        font.resource(),
                        num(*size),
                        num(left),
                        num(*baseline)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(&literal_string(&encoded));
                out.extend_from_slice(b" Tj ET\n");
            }
            Element::Barcode {
                code,
                x,
                y,
                height,
                module_dots,
            } => {
                let module = f64::from(*module_dots) * PT_PER_DOT;
                let mut path = String::new();
                for (start, width) in code.bars() {
                    // Positions come from whole modules, so rounding never accumulates.
                    let _ = writeln!(
                        path,
                        "{} {} {} {} re",
                        num(x + start as f64 * module),
                        num(*y),
                        num(width as f64 * module),
                        num(*height)
                    );
                }
                path.push_str("f\n");
                out.extend_from_slice(path.as_bytes());
            }
        }
    }
    out
}

/// A PDF literal string of WinAnsi bytes; bytes outside printable ASCII are written as
/// octal escapes so the file's text parts stay 7-bit.
fn literal_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'(');
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7E => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b')');
    out
}

/// A text string for the info dictionary, as UTF-16BE with a byte-order mark (hex).
fn utf16_text_string(text: &str) -> String {
    let mut out = String::from("<FEFF");
    for unit in text.encode_utf16() {
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

/// A number with at most 3 decimals and no trailing zeros, as PDF content streams want it.
pub(crate) fn num(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    let s = format!("{rounded:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_never_negative_zero() {
        assert_eq!(num(288.0), "288");
        assert_eq!(num(1.41872), "1.419");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(0.5), "0.5");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(literal_string(b"a(b)c\\"), b"(a\\(b\\)c\\\\)".to_vec());
        assert_eq!(literal_string(&[0xFC]), b"(\\374)".to_vec());
        assert_eq!(utf16_text_string("Aé"), "<FEFF004100E9>");
    }
}
