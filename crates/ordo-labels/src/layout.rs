//! A page as a list of positioned elements, in PDF points with the origin at the bottom left.
//!
//! Documents are laid out once into this form and then written out by a backend: PDF for
//! everything, ZPL II for the 4×6 label. One layout for both media means the thermal label
//! and the PDF label cannot drift apart.

use crate::code128::Code128;
use crate::fonts::Font;

/// Printer resolution the barcode module widths are chosen for (8 dots/mm thermal printers).
pub const DPI: f64 = 203.0;

/// Points per printer dot at [`DPI`].
pub(crate) const PT_PER_DOT: f64 = 72.0 / DPI;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone)]
pub(crate) enum Element {
    /// One line of text in the box `[x, x + width]`, aligned inside it; `baseline` is the
    /// text's baseline. The text must already fit the box (see `fonts::fit`).
    Text {
        x: f64,
        width: f64,
        baseline: f64,
        font: Font,
        size: f64,
        align: Align,
        text: String,
    },
    /// A filled rectangle: rules and bars. `gray` is 0 (black) to 1 (white).
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        gray: f64,
    },
    /// A Code 128 symbol whose first bar starts at `x`, bars from `y` up to `y + height`.
    /// The module is `module_dots` printer dots wide, so the PDF and ZPL symbols match.
    Barcode {
        code: Code128,
        x: f64,
        y: f64,
        height: f64,
        module_dots: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct PageLayout {
    pub width: f64,
    pub height: f64,
    pub elements: Vec<Element>,
}

impl PageLayout {
    pub(crate) fn new(width: f64, height: f64) -> PageLayout {
        PageLayout {
            width,
            height,
            elements: Vec::new(),
        }
    }

    pub(crate) fn text(
        &mut self,
        x: f64,
        width: f64,
        baseline: f64,
        font: Font,
        size: f64,
        align: Align,
        text: impl Into<String>,
    ) {
        self.elements.push(Element::Text {
            x,
            width,
            baseline,
            font,
            size,
            align,
            text: text.into(),
        });
    }

    /// Text at its largest size up to `max_size` that fits `width` (truncated at
    /// `min_size`); returns the size used.
    pub(crate) fn fitted_text(
        &mut self,
        x: f64,
        width: f64,
        baseline: f64,
        font: Font,
        (max_size, min_size): (f64, f64),
        align: Align,
        text: &str,
    ) -> f64 {
        let (text, size) = crate::fonts::fit(text, font, max_size, min_size, width);
        self.text(x, width, baseline, font, size, align, text);
        size
    }

    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64) {
        self.elements.push(Element::Rect {
            x,
            y,
            w,
            h,
            gray: 0.0,
        });
    }

    pub(crate) fn shade(&mut self, x: f64, y: f64, w: f64, h: f64, gray: f64) {
        self.elements.push(Element::Rect { x, y, w, h, gray });
    }

    /// A horizontal rule centred on `y`.
    pub(crate) fn hrule(&mut self, x: f64, y: f64, w: f64, thickness: f64) {
        self.rect(x, y - thickness / 2.0, w, thickness);
    }

    /// A vertical rule centred on `x`.
    pub(crate) fn vrule(&mut self, x: f64, y: f64, h: f64, thickness: f64) {
        self.rect(x - thickness / 2.0, y, thickness, h);
    }

    /// A horizontally centred barcode with its quiet zones inside `[x, x + width]`, at the
    /// widest module (up to `max_module_dots`) that fits. Returns `None` if even a 2-dot
    /// module does not fit.
    pub(crate) fn centered_barcode(
        &mut self,
        code: Code128,
        x: f64,
        width: f64,
        y: f64,
        height: f64,
        max_module_dots: u32,
    ) -> Option<()> {
        let module_dots = module_dots_for(&code, width, max_module_dots)?;
        let symbol_width = code.width_modules() as f64 * f64::from(module_dots) * PT_PER_DOT;
        // Start on a whole dot so the printer does not round each bar differently.
        let left = ((x + (width - symbol_width) / 2.0) / PT_PER_DOT).round() * PT_PER_DOT;
        self.elements.push(Element::Barcode {
            code,
            x: left,
            y,
            height,
            module_dots,
        });
        Some(())
    }
}

/// The widest module, from `max_dots` down to 2 printer dots, at which `code` and its quiet
/// zones fit in `width` points. A 1-dot module (0.125 mm) is below what thermal printers
/// and scanners handle reliably, so it is never used.
pub(crate) fn module_dots_for(code: &Code128, width: f64, max_dots: u32) -> Option<u32> {
    let available_dots = (width / PT_PER_DOT).floor() as usize;
    let modules = code.width_modules() + 2 * crate::code128::QUIET_ZONE_MODULES;
    (2..=max_dots)
        .rev()
        .find(|d| modules * (*d as usize) <= available_dots)
}
