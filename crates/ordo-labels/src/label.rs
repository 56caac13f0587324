//! The 4×6 in shipping label (288 × 432 pt, 812 × 1218 dots at 203 dpi), as PDF and ZPL II.
//!
//! 4×6 is the size every carrier and thermal printer takes. From top to bottom:
//!
//! 1. sender (small) beside carrier, service, weight, "package n of m" and ship date;
//! 2. the recipient, largest, because the driver sorts by it;
//! 3. the tracking number as Code 128 with its human-readable text under it;
//! 4. reference and order number, so a returned or damaged parcel can be traced;
//! 5. when given, the SSCC as GS1-128 with `(00) …` under it, so a receiving warehouse can
//!    book the parcel in by scanning it.
//!
//! Barcode modules are whole printer dots at 203 dpi (up to 4 dots, 0.5 mm, the X-dimension
//! GS1 asks for on logistic labels), so a PDF printed on a thermal printer is as crisp as
//! the ZPL. GS1 logistic labels ask for 32 mm tall SSCC bars; with both symbols on a 6 in
//! label the SSCC gets 28 mm and the tracking barcode 20 mm, which scanners read easily.

use serde::{Deserialize, Serialize};

use crate::code128::Code128;
use crate::error::{DocumentError, Errors};
use crate::fonts::Font;
use crate::gs1::Sscc;
use crate::layout::{Align, PageLayout, module_dots_for};
use crate::model::{Address, WeightUnit, format_weight, non_blank};
use crate::s10::S10;

/// Label width in points (4 in).
pub const LABEL_WIDTH_PT: f64 = 288.0;
/// Label height in points (6 in).
pub const LABEL_HEIGHT_PT: f64 = 432.0;

const MARGIN: f64 = 10.0;
const INNER: f64 = LABEL_WIDTH_PT - 2.0 * MARGIN;
const MAX_MODULE_DOTS: u32 = 4;

/// Everything printed on one package's label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingLabel {
    pub sender: Address,
    pub recipient: Address,
    /// Carrier name as shown, e.g. `Ordo Fleet`.
    pub carrier: String,
    /// Service level as shown, e.g. `Next day`.
    pub service: String,
    /// The package's tracking number. Spaces are kept in the printed text and left out of
    /// the barcode. An S10 number is printed grouped (`EE 123 456 785 GB`).
    pub tracking_number: String,
    pub weight_grams: u32,
    #[serde(default)]
    pub weight_unit: WeightUnit,
    /// This package's position in the shipment, from 1.
    pub package_number: u32,
    pub package_count: u32,
    /// The shipper's reference, e.g. the fulfillment order `SO-000123-2`.
    pub reference: Option<String>,
    pub order_number: Option<String>,
    /// Already formatted, e.g. `2026-11-26`.
    pub ship_date: Option<String>,
    /// The logistic unit's SSCC, printed as a GS1-128 barcode when present.
    pub sscc: Option<Sscc>,
}

impl ShippingLabel {
    /// Checks the label can be printed, naming every invalid field.
    pub fn validate(&self) -> Result<(), DocumentError> {
        self.tracking_barcode().map(|_| ())
    }

    /// The label as a one-page PDF, 288 × 432 pt.
    pub fn to_pdf(&self) -> Result<Vec<u8>, DocumentError> {
        let page = self.layout()?;
        Ok(crate::pdf::render(
            &[page],
            &format!("Shipping label {}", self.tracking_number.trim()),
        ))
    }

    /// The label as a ZPL II format for a 203-dpi printer, from `^XA` to `^XZ`.
    pub fn to_zpl(&self) -> Result<String, DocumentError> {
        Ok(crate::zpl::render(&self.layout()?))
    }

    /// Validates every field and encodes the tracking barcode.
    fn tracking_barcode(&self) -> Result<Code128, DocumentError> {
        let mut errors = Errors::default();
        self.sender.check("sender", &mut errors);
        self.recipient.check("recipient", &mut errors);
        if self.carrier.trim().is_empty() {
            errors.add("carrier", "is required");
        }
        if self.service.trim().is_empty() {
            errors.add("service", "is required");
        }
        if self.weight_grams == 0 {
            errors.add("weight_grams", "must be at least 1");
        }
        if self.package_count == 0 {
            errors.add("package_count", "must be at least 1");
        } else if self.package_number == 0 || self.package_number > self.package_count {
            errors.add(
                "package_number",
                format!("must be between 1 and {}", self.package_count),
            );
        }
        // An S10 number is encoded in its canonical form (no spaces, capitals).
        let data = match S10::parse(&self.tracking_number) {
            Ok(s10) => s10.to_string(),
            Err(_) => self.tracking_number.split_whitespace().collect(),
        };
        let mut code = None;
        if data.is_empty() {
            errors.add("tracking_number", "is required");
        } else {
            match Code128::new(&data) {
                Ok(c) if module_dots_for(&c, INNER, MAX_MODULE_DOTS).is_some() => code = Some(c),
                Ok(_) => errors.add(
                    "tracking_number",
                    "is too long to print as a barcode on a 4x6 label",
                ),
                Err(e) => errors.add("tracking_number", e.to_string()),
            }
        }
        errors.finish()?;
        Ok(code.expect("validated above"))
    }

    fn layout(&self) -> Result<PageLayout, DocumentError> {
        let tracking = self.tracking_barcode()?;
        let international = self.sender.country != self.recipient.country;
        let mut p = PageLayout::new(LABEL_WIDTH_PT, LABEL_HEIGHT_PT);
        let top = LABEL_HEIGHT_PT - MARGIN;

        // 1. Sender and shipment facts.
        let sender_w = 156.0;
        p.text(
            MARGIN,
            sender_w,
            top - 6.5,
            Font::HelveticaBold,
            6.5,
            Align::Left,
            "FROM",
        );
        let mut y = top - 15.5;
        for line in self.sender.lines(international).iter().take(7) {
            p.fitted_text(
                MARGIN,
                sender_w - 4.0,
                y,
                Font::Helvetica,
                (7.5, 6.0),
                Align::Left,
                line,
            );
            y -= 8.6;
        }
        let rx = MARGIN + sender_w + 6.0;
        let rw = LABEL_WIDTH_PT - MARGIN - rx;
        p.fitted_text(
            rx,
            rw,
            top - 10.0,
            Font::HelveticaBold,
            (11.0, 7.0),
            Align::Left,
            &self.carrier,
        );
        p.fitted_text(
            rx,
            rw,
            top - 22.0,
            Font::Helvetica,
            (9.0, 6.0),
            Align::Left,
            &self.service,
        );
        let weight = format!(
            "Weight {}",
            format_weight(self.weight_grams.into(), self.weight_unit)
        );
        p.fitted_text(
            rx,
            rw,
            top - 37.0,
            Font::Helvetica,
            (9.0, 6.0),
            Align::Left,
            &weight,
        );
        let package = format!("Package {} of {}", self.package_number, self.package_count);
        p.fitted_text(
            rx,
            rw,
            top - 52.0,
            Font::HelveticaBold,
            (11.0, 7.0),
            Align::Left,
            &package,
        );
        if let Some(date) = non_blank(&self.ship_date) {
            p.fitted_text(
                rx,
                rw,
                top - 64.0,
                Font::Helvetica,
                (7.5, 6.0),
                Align::Left,
                &format!("Ship date {date}"),
            );
        }
        let header_bottom = top - 72.0;
        p.vrule(
            MARGIN + sender_w + 1.0,
            header_bottom + 2.0,
            top - header_bottom - 2.0,
            0.6,
        );
        p.hrule(MARGIN, header_bottom, INNER, 1.5);

        // 2. Recipient, as large as its block allows (up to 1.3× the nominal sizes).
        let block_top = header_bottom - 4.0;
        let block_bottom = 226.0;
        p.text(
            MARGIN,
            INNER,
            block_top - 7.0,
            Font::HelveticaBold,
            7.0,
            Align::Left,
            "SHIP TO",
        );
        let lines = recipient_lines(&self.recipient, international);
        let available = block_top - 12.0 - block_bottom;
        let mut scale: f64 = 1.3;
        while scale > 0.7 && lines.iter().map(|l| l.2 * scale * 1.15).sum::<f64>() > available {
            scale -= 0.05;
        }
        let mut y = block_top - 12.0;
        for (text, font, size) in &lines {
            let size = size * scale;
            if y - size * 1.15 < block_bottom - 2.0 {
                break;
            }
            y -= size * 1.15;
            p.fitted_text(
                MARGIN + 6.0,
                INNER - 6.0,
                y + size * 0.2,
                *font,
                (size, size * 0.75),
                Align::Left,
                text,
            );
        }
        p.hrule(MARGIN, block_bottom - 4.0, INNER, 1.5);

        // 3. Tracking number.
        let has_reference =
            non_blank(&self.reference).is_some() || non_blank(&self.order_number).is_some();
        let tracking_height = match (&self.sscc, has_reference) {
            (Some(_), _) => 56.0,
            (None, true) => 100.0,
            (None, false) => 110.0,
        };
        let caption = block_bottom - 14.0;
        p.text(
            MARGIN,
            INNER,
            caption,
            Font::HelveticaBold,
            6.5,
            Align::Left,
            "TRACKING NUMBER",
        );
        let bars_top = caption - 4.0;
        let bars_bottom = bars_top - tracking_height;
        p.centered_barcode(
            tracking,
            MARGIN,
            INNER,
            bars_bottom,
            tracking_height,
            MAX_MODULE_DOTS,
        )
        .expect("width checked in validation");
        p.fitted_text(
            MARGIN,
            INNER,
            bars_bottom - 13.0,
            Font::HelveticaBold,
            (12.0, 8.0),
            Align::Center,
            &display_tracking(&self.tracking_number),
        );
        let mut y = bars_bottom - 19.0;

        // 4. References.
        if has_reference {
            p.hrule(MARGIN, y, INNER, 0.75);
            let half = INNER / 2.0;
            if let Some(reference) = non_blank(&self.reference) {
                p.text(
                    MARGIN,
                    half,
                    y - 8.0,
                    Font::HelveticaBold,
                    6.0,
                    Align::Left,
                    "REF",
                );
                p.fitted_text(
                    MARGIN + 16.0,
                    half - 18.0,
                    y - 13.0,
                    Font::HelveticaBold,
                    (11.0, 7.0),
                    Align::Left,
                    &reference,
                );
            }
            if let Some(order) = non_blank(&self.order_number) {
                p.text(
                    MARGIN + half,
                    half,
                    y - 8.0,
                    Font::HelveticaBold,
                    6.0,
                    Align::Left,
                    "ORDER",
                );
                p.fitted_text(
                    MARGIN + half + 24.0,
                    half - 24.0,
                    y - 13.0,
                    Font::HelveticaBold,
                    (11.0, 7.0),
                    Align::Left,
                    &order,
                );
            }
            y -= 19.0;
        }

        // 5. SSCC.
        if let Some(sscc) = &self.sscc {
            p.hrule(MARGIN, y, INNER, 1.5);
            p.text(
                MARGIN,
                INNER,
                y - 9.0,
                Font::HelveticaBold,
                6.5,
                Align::Left,
                "SSCC",
            );
            let bars_bottom = MARGIN + 14.0;
            let height = y - 12.0 - bars_bottom;
            p.centered_barcode(
                sscc.barcode(),
                MARGIN,
                INNER,
                bars_bottom,
                height,
                MAX_MODULE_DOTS,
            )
            .expect("an SSCC always fits at 4 dots");
            p.fitted_text(
                MARGIN,
                INNER,
                MARGIN + 3.0,
                Font::HelveticaBold,
                (10.0, 7.0),
                Align::Center,
                &sscc.human_readable(),
            );
        }
        Ok(p)
    }
}

/// The recipient's lines with their font and nominal size.
fn recipient_lines(a: &Address, international: bool) -> Vec<(String, Font, f64)> {
    let mut lines = vec![(a.name.trim().to_owned(), Font::HelveticaBold, 14.0)];
    if let Some(company) = non_blank(&a.company) {
        lines.push((company, Font::Helvetica, 11.0));
    }
    lines.push((a.line1.trim().to_owned(), Font::Helvetica, 11.0));
    if let Some(line2) = non_blank(&a.line2) {
        lines.push((line2, Font::Helvetica, 11.0));
    }
    for locality in a.locality_lines() {
        lines.push((locality, Font::HelveticaBold, 12.0));
    }
    if international {
        lines.push((a.country.clone(), Font::HelveticaBold, 12.0));
    }
    if let Some(phone) = non_blank(&a.phone) {
        lines.push((format!("Tel {phone}"), Font::Helvetica, 8.0));
    }
    lines
}

/// An S10 number grouped for reading; anything else as given.
fn display_tracking(tracking: &str) -> String {
    match S10::parse(tracking) {
        Ok(s10) => s10.grouped(),
        Err(_) => tracking.trim().to_owned(),
    }
}
