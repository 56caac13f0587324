//! ZPL II output for 203-dpi thermal printers (Zebra and compatibles).
//!
//! Warehouses print labels on thermal printers that take ZPL directly: no driver, no
//! rasterising, and the printer draws the barcode itself at whole-dot module widths. The
//! same page layout as the PDF is translated element by element:
//!
//! - text → `^FO` + `^A0N` (the scalable font) + `^FB` (one-line box, for alignment) +
//!   `^FH^FD…^FS`; `^CI28` makes field data UTF-8, and `^`, `~`, `_` are hex-escaped;
//! - rules → `^GB` boxes; shaded backgrounds are left out (thermal printers have no grey);
//! - barcodes → `^BY` (module width in dots) + `^BCN,h,N,N,N,N` (Code 128, no printer
//!   interpretation line: the layout prints its own) with subset invocation codes from
//!   [`Code128::zpl_field_data`](crate::code128::Code128::zpl_field_data), so the printer
//!   encodes exactly the symbol characters computed by this crate.
//!
//! Text positions are approximate: font 0's metrics are not Helvetica's, so a baseline is
//! mapped to the field's top as `baseline + 0.76 × size`. Text was already fitted with
//! Helvetica-Bold widths, which are wider than font 0's, so it does not overflow its box.

use std::fmt::Write as _;

use crate::layout::{Align, DPI, Element, PageLayout};

/// Writes one page as a ZPL II label format, from `^XA` to `^XZ`.
pub(crate) fn render(page: &PageLayout) -> String {
    let s = DPI / 72.0;
    let dots = |pt: f64| (pt * s).round().max(0.0) as i64;
    let mut out = String::new();
    let _ = writeln!(out, "^XA");
    let _ = writeln!(out, "^CI28");
    let _ = writeln!(out, "^PW{}", dots(page.width));
    let _ = writeln!(out, "^LL{}", dots(page.height));
    let _ = writeln!(out, "^LH0,0");
    for element in &page.elements {
        match element {
            Element::Text {
                x,
                width,
                baseline,
                size,
                align,
                text,
                ..
            } => {
                let height = dots(*size).max(10);
                let top = dots(page.height - baseline - 0.76 * size);
                let justify = match align {
                    Align::Left => 'L',
                    Align::Center => 'C',
                    Align::Right => 'R',
                };
                let _ = writeln!(
                    out,
                    "^FO{},{}^A0N,{height},{height}^FB{},1,0,{justify}^FH^FD{}^FS",
                    dots(*x),
                    top,
                    dots(*width),
                    escape(text)
                );
            }
            Element::Rect { x, y, w, h, gray } => {
                if *gray != 0.0 {
                    continue;
                }
                let (wd, hd) = (dots(*w).max(1), dots(*h).max(1));
                let _ = writeln!(
                    out,
                    "^FO{},{}^GB{wd},{hd},{}^FS",
                    dots(*x),
                    dots(page.height - y - h),
                    wd.min(hd)
                );
            }
            Element::Barcode {
                code,
                x,
                y,
                height,
                module_dots,
            } => {
                let _ = writeln!(
                    out,
                    "^FO{},{}^BY{module_dots}^BCN,{},N,N,N,N^FH^FD{}^FS",
                    dots(*x),
                    dots(page.height - y - height),
                    dots(*height),
                    escape(&code.zpl_field_data())
                );
            }
        }
    }
    out.push_str("^XZ");
    out
}

/// Escapes field data for `^FH` (hex indicator `_`): `^` and `~` would start a command,
/// `_` would start an escape. Control characters become spaces.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '_' => out.push_str("_5F"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_characters_are_escaped() {
        assert_eq!(escape("a^b~c_d"), "a_5Eb_7Ec_5Fd");
        assert_eq!(escape("Zoë\nX"), "Zoë X");
    }
}
