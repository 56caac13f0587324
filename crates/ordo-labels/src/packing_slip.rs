//! The packing slip that goes inside a package: what the customer should find in it.
//!
//! It lists the order number (what the customer quotes when something is missing), the
//! ship-to address, "package n of m" (so a customer with one of two boxes knows another is
//! coming) and each line's SKU, name and quantity. No prices: a slip often travels in gifts
//! and through third-party warehouses. Long orders continue on further pages with the table
//! header repeated; every page says "Page i of n".

use serde::{Deserialize, Serialize};

use crate::error::{DocumentError, Errors};
use crate::fonts::{Font, wrap};
use crate::layout::{Align, PageLayout};
use crate::model::{Address, PageSize, non_blank};

/// One line of the slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackingSlipLine {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
}

/// Everything printed on a packing slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackingSlip {
    #[serde(default)]
    pub page_size: PageSize,
    pub order_number: String,
    /// The shipper's reference, e.g. the fulfillment order `SO-000123-2`.
    pub reference: Option<String>,
    /// Already formatted, e.g. `2026-11-26`.
    pub order_date: Option<String>,
    /// The store or warehouse, shown as the return address.
    pub ship_from: Option<Address>,
    pub ship_to: Address,
    pub package_number: u32,
    pub package_count: u32,
    pub lines: Vec<PackingSlipLine>,
    /// A message for the customer (gift note, returns instructions).
    pub note: Option<String>,
}

const MARGIN: f64 = 40.0;
const BODY: f64 = 9.5;
const LEADING: f64 = 12.0;
const FOOTER_SPACE: f64 = 36.0;

impl PackingSlip {
    /// Checks the slip can be printed, naming every invalid field.
    pub fn validate(&self) -> Result<(), DocumentError> {
        let mut errors = Errors::default();
        if self.order_number.trim().is_empty() {
            errors.add("order_number", "is required");
        }
        self.ship_to.check("ship_to", &mut errors);
        if let Some(from) = &self.ship_from {
            from.check("ship_from", &mut errors);
        }
        if self.package_count == 0 {
            errors.add("package_count", "must be at least 1");
        } else if self.package_number == 0 || self.package_number > self.package_count {
            errors.add(
                "package_number",
                format!("must be between 1 and {}", self.package_count),
            );
        }
        if self.lines.is_empty() {
            errors.add("lines", "must list at least one line");
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.sku.trim().is_empty() {
                errors.add(format!("lines[{i}].sku"), "is required");
            }
            if line.quantity == 0 {
                errors.add(format!("lines[{i}].quantity"), "must be at least 1");
            }
        }
        errors.finish()
    }

    /// The slip as a PDF on A4 or Letter paper.
    pub fn to_pdf(&self) -> Result<Vec<u8>, DocumentError> {
        self.validate()?;
        let pages = self.layout();
        Ok(crate::pdf::render(
            &pages,
            &format!("Packing slip {}", self.order_number.trim()),
        ))
    }

    fn layout(&self) -> Vec<PageLayout> {
        let (width, height) = self.page_size.points();
        let inner = width - 2.0 * MARGIN;
        let order = self.order_number.trim();
        let columns = Columns::new(inner);

        // First page: title, order facts, addresses.
        let mut page = PageLayout::new(width, height);
        let top = height - MARGIN;
        page.text(
            MARGIN,
            inner / 2.0,
            top - 18.0,
            Font::HelveticaBold,
            20.0,
            Align::Left,
            "PACKING SLIP",
        );
        let right_x = MARGIN + inner / 2.0;
        let right_w = inner / 2.0;
        page.fitted_text(
            right_x,
            right_w,
            top - 14.0,
            Font::HelveticaBold,
            (13.0, 9.0),
            Align::Right,
            &format!("Order {order}"),
        );
        let mut y = top - 28.0;
        for fact in [
            non_blank(&self.reference).map(|r| format!("Reference {r}")),
            non_blank(&self.order_date).map(|d| format!("Order date {d}")),
        ]
        .into_iter()
        .flatten()
        {
            page.fitted_text(
                right_x,
                right_w,
                y,
                Font::Helvetica,
                (BODY, 7.0),
                Align::Right,
                &fact,
            );
            y -= LEADING;
        }
        let package = format!("Package {} of {}", self.package_number, self.package_count);
        page.text(
            right_x,
            right_w,
            y - 2.0,
            Font::HelveticaBold,
            11.0,
            Align::Right,
            package,
        );
        let facts_bottom = y - 8.0;

        let address_top = top - 56.0_f64.max(top - facts_bottom + 8.0);
        let column_w = inner / 2.0 - 10.0;
        let ship_to_bottom = address_block(
            &mut page,
            MARGIN,
            column_w,
            address_top,
            "SHIP TO",
            &self.ship_to,
        );
        let mut bottom = ship_to_bottom;
        if let Some(from) = &self.ship_from {
            let b = address_block(
                &mut page,
                MARGIN + inner / 2.0,
                column_w,
                address_top,
                "SHIP FROM",
                from,
            );
            bottom = bottom.min(b);
        }
        let mut y = bottom - 18.0;
        let mut pages = Vec::new();
        columns.header(&mut page, y);
        y -= 20.0;

        let floor = MARGIN + FOOTER_SPACE;
        for line in &self.lines {
            let name_lines = wrap(
                line.name.trim(),
                Font::Helvetica,
                BODY,
                columns.name_w - 6.0,
                3,
            );
            let rows = name_lines.len().max(1) as f64;
            let row_h = rows * LEADING + 6.0;
            if y - row_h < floor {
                pages.push(std::mem::replace(&mut page, PageLayout::new(width, height)));
                y = continuation_header(&mut page, &columns, order, top, true);
            }
            let first_baseline = y - LEADING + 2.0;
            page.fitted_text(
                columns.sku_x,
                columns.sku_w - 6.0,
                first_baseline,
                Font::HelveticaBold,
                (BODY, 7.0),
                Align::Left,
                line.sku.trim(),
            );
            for (k, text) in name_lines.iter().enumerate() {
                page.text(
                    columns.name_x,
                    columns.name_w - 6.0,
                    first_baseline - k as f64 * LEADING,
                    Font::Helvetica,
                    BODY,
                    Align::Left,
                    text.clone(),
                );
            }
            page.text(
                columns.qty_x,
                columns.qty_w,
                first_baseline,
                Font::HelveticaBold,
                BODY,
                Align::Right,
                line.quantity.to_string(),
            );
            y -= row_h;
            page.hrule(MARGIN, y, inner, 0.3);
        }

        // Totals and note, on a new page if they do not fit under the table.
        let note_lines = non_blank(&self.note)
            .map(|n| wrap(&n, Font::Helvetica, BODY, inner - 12.0, 8))
            .unwrap_or_default();
        let note_h = if note_lines.is_empty() {
            0.0
        } else {
            30.0 + note_lines.len() as f64 * LEADING
        };
        if y - 24.0 - note_h < floor {
            pages.push(std::mem::replace(&mut page, PageLayout::new(width, height)));
            y = continuation_header(&mut page, &columns, order, top, false);
        }
        let units: u64 = self.lines.iter().map(|l| u64::from(l.quantity)).sum();
        page.text(
            MARGIN,
            inner,
            y - 16.0,
            Font::HelveticaBold,
            10.5,
            Align::Right,
            format!("Total units {units}"),
        );
        y -= 24.0;
        if !note_lines.is_empty() {
            let box_h = note_h - 8.0;
            let box_y = y - box_h;
            for (x, yy, w, h) in [
                (MARGIN, box_y, inner, 0.6),
                (MARGIN, box_y + box_h - 0.6, inner, 0.6),
                (MARGIN, box_y, 0.6, box_h),
                (MARGIN + inner - 0.6, box_y, 0.6, box_h),
            ] {
                page.rect(x, yy, w, h);
            }
            page.text(
                MARGIN + 6.0,
                inner,
                y - 13.0,
                Font::HelveticaBold,
                8.0,
                Align::Left,
                "NOTE",
            );
            for (k, text) in note_lines.iter().enumerate() {
                page.text(
                    MARGIN + 6.0,
                    inner - 12.0,
                    y - 26.0 - k as f64 * LEADING,
                    Font::Helvetica,
                    BODY,
                    Align::Left,
                    text.clone(),
                );
            }
        }
        pages.push(page);

        let count = pages.len();
        for (i, page) in pages.iter_mut().enumerate() {
            page.text(
                MARGIN,
                inner,
                MARGIN,
                Font::Helvetica,
                8.0,
                Align::Left,
                format!("Order {order}"),
            );
            page.text(
                MARGIN,
                inner,
                MARGIN,
                Font::Helvetica,
                8.0,
                Align::Right,
                format!("Page {} of {count}", i + 1),
            );
        }
        pages
    }
}

/// Column positions of the line table.
struct Columns {
    sku_x: f64,
    sku_w: f64,
    name_x: f64,
    name_w: f64,
    qty_x: f64,
    qty_w: f64,
    inner: f64,
}

impl Columns {
    fn new(inner: f64) -> Columns {
        let sku_w = 130.0;
        let qty_w = 50.0;
        Columns {
            sku_x: MARGIN + 4.0,
            sku_w,
            name_x: MARGIN + 4.0 + sku_w,
            name_w: inner - sku_w - qty_w - 8.0,
            qty_x: MARGIN + inner - qty_w - 4.0,
            qty_w,
            inner,
        }
    }

    /// The shaded header row whose top is at `y`.
    fn header(&self, page: &mut PageLayout, y: f64) {
        page.shade(MARGIN, y - 18.0, self.inner, 18.0, 0.88);
        page.text(
            self.sku_x,
            self.sku_w,
            y - 12.5,
            Font::HelveticaBold,
            9.0,
            Align::Left,
            "SKU",
        );
        page.text(
            self.name_x,
            self.name_w,
            y - 12.5,
            Font::HelveticaBold,
            9.0,
            Align::Left,
            "Item",
        );
        page.text(
            self.qty_x,
            self.qty_w,
            y - 12.5,
            Font::HelveticaBold,
            9.0,
            Align::Right,
            "Qty",
        );
    }
}

/// Title (and table header) of a continuation page; returns where content starts.
fn continuation_header(
    page: &mut PageLayout,
    columns: &Columns,
    order: &str,
    top: f64,
    table: bool,
) -> f64 {
    page.fitted_text(
        MARGIN,
        columns.inner,
        top - 14.0,
        Font::HelveticaBold,
        (13.0, 9.0),
        Align::Left,
        &format!("PACKING SLIP  Order {order} (continued)"),
    );
    let y = top - 28.0;
    if table {
        columns.header(page, y);
        y - 20.0
    } else {
        y
    }
}

/// A captioned address; returns the lowest baseline used.
fn address_block(
    page: &mut PageLayout,
    x: f64,
    width: f64,
    top: f64,
    caption: &str,
    address: &Address,
) -> f64 {
    page.text(
        x,
        width,
        top - 8.0,
        Font::HelveticaBold,
        8.0,
        Align::Left,
        caption,
    );
    let mut y = top - 22.0;
    for (i, line) in address.lines(true).iter().enumerate() {
        let font = if i == 0 {
            Font::HelveticaBold
        } else {
            Font::Helvetica
        };
        page.fitted_text(x, width, y, font, (10.5, 7.0), Align::Left, line);
        y -= 13.0;
    }
    y + 13.0
}
