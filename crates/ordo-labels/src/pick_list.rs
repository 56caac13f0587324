//! The pick list a picker walks the warehouse with: what to take from which bin, and which
//! tote on the cart each unit goes into.
//!
//! The header names the list, the location (and zone of a wave list), when it was created
//! and how long the walk is; the tote table says which fulfillment order and order each
//! tote on the cart belongs to. Then one row per line, in the order given (the walk order):
//! the step, the bin in large bold text with its Code 128 barcode, the SKU with its barcode
//! and the product name, the quantity, and the split over the totes (`T1×2 T3×1`). A
//! scanner-equipped picker scans the bin, then the SKU; one without reads the large text.
//! Lines that could not be placed on the walk (no bin) carry their flag and are shaded.
//! Long lists continue on further pages with the table header repeated; every page says
//! "Page i of n".
//!
//! Barcodes are drawn exactly like the shipping label's: whole 203-dpi dots per module (2
//! or 3, 0.25 or 0.375 mm, which office laser printers and hand-held scanners handle), with
//! the 10-module quiet zones inside the column. A bin or SKU that Code 128 cannot carry
//! (characters outside printable ASCII) or that is too long for its column is printed as
//! text with a "no barcode" note rather than refused: unlike a shipping label, a pick list
//! is still usable without one, and a warehouse should not be stopped from picking by a
//! long SKU.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::code128::Code128;
use crate::error::{BarcodeError, DocumentError, Errors};
use crate::fonts::{Font, wrap};
use crate::layout::{Align, PageLayout, module_dots_for};
use crate::model::{PageSize, non_blank};

/// A tote (slot on the cart or put wall) and the order whose units go into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickTote {
    /// The tote number, from 1, as printed on the cart (`T1`).
    pub tote: u32,
    /// The fulfillment order, e.g. `SO-000123-1`.
    pub reference: String,
    /// The customer's order number, e.g. `#1001`.
    pub order_number: String,
}

/// Take `quantity` of `sku` from `bin` and share it out over the totes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickListLine {
    /// The position in the walk, from 1, ascending down the list.
    pub step: u32,
    /// The bin code, e.g. `A-03-02-B`; `None` (or blank) when the stock has no bin.
    pub bin: Option<String>,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    /// `(tote, quantity)` pairs adding up to `quantity`. May be empty when the list has at
    /// most one tote (everything goes into it).
    #[serde(default)]
    pub totes: Vec<(u32, u32)>,
    /// Why the line is not placed on the walk, e.g. `no bin`. A line without a bin is
    /// flagged `no bin` even when this is `None`.
    pub flag: Option<String>,
}

/// Everything printed on a pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickListDocument {
    #[serde(default)]
    pub page_size: PageSize,
    /// E.g. `Pick list PL-000012 · 1/2`; also the PDF's title.
    pub title: String,
    /// The location's name or code.
    pub location: String,
    /// The zone of a wave list.
    pub zone: Option<String>,
    /// Already formatted, e.g. `2026-11-26 09:14`.
    pub created: String,
    #[serde(default)]
    pub totes: Vec<PickTote>,
    /// In walk order.
    pub lines: Vec<PickListLine>,
    /// The walk, already formatted, e.g. `14 stops · 132 m`.
    pub path: Option<String>,
}

const MARGIN: f64 = 36.0;
/// Room above the bottom margin for the page footer.
const FOOTER_SPACE: f64 = 14.0;
/// Bar height of the bin and SKU barcodes (8.5 mm).
const BAR_HEIGHT: f64 = 24.0;
/// Up to 3 dots (0.375 mm) per module; 2 dots (0.25 mm) is the narrowest ever used.
const MAX_MODULE_DOTS: u32 = 3;
/// Space between a row's top and its first baseline.
const FIRST_BASELINE: f64 = 19.0;
/// Space between a row's top and its barcodes' top.
const BARS_TOP: f64 = 25.0;
const NAME_SIZE: f64 = 9.0;
const NAME_LEADING: f64 = 11.0;
const TOTE_SIZE: f64 = 10.0;
const TOTE_LEADING: f64 = 12.0;
const TOTE_ROW: f64 = 13.0;
/// Columns of the tote table.
const TOTE_GROUPS: usize = 3;

impl PickListDocument {
    /// Checks the pick list can be printed, naming every invalid field.
    pub fn validate(&self) -> Result<(), DocumentError> {
        let mut errors = Errors::default();
        for (field, value) in [
            ("title", &self.title),
            ("location", &self.location),
            ("created", &self.created),
        ] {
            if value.trim().is_empty() {
                errors.add(field, "is required");
            }
        }
        // Tote number → index of its entry in the tote table.
        let mut totes: HashMap<u32, usize> = HashMap::new();
        for (i, t) in self.totes.iter().enumerate() {
            if t.tote == 0 {
                errors.add(format!("totes[{i}].tote"), "must be at least 1");
            } else if let Some(first) = totes.get(&t.tote) {
                errors.add(
                    format!("totes[{i}].tote"),
                    format!("tote {} is already listed at totes[{first}]", t.tote),
                );
            } else {
                totes.insert(t.tote, i);
            }
            if t.reference.trim().is_empty() {
                errors.add(format!("totes[{i}].reference"), "is required");
            }
        }
        if self.lines.is_empty() {
            errors.add("lines", "must list at least one line");
        }
        let mut previous_step = 0;
        for (i, line) in self.lines.iter().enumerate() {
            let path = format!("lines[{i}]");
            if line.step == 0 {
                errors.add(format!("{path}.step"), "must be at least 1");
            } else if line.step <= previous_step {
                errors.add(
                    format!("{path}.step"),
                    format!("must be greater than the previous line's step {previous_step}"),
                );
            }
            previous_step = previous_step.max(line.step);
            if line.sku.trim().is_empty() {
                errors.add(format!("{path}.sku"), "is required");
            }
            if line.quantity == 0 {
                errors.add(format!("{path}.quantity"), "must be at least 1");
            }
            if line.totes.is_empty() {
                if self.totes.len() > 1 {
                    errors.add(
                        format!("{path}.totes"),
                        "must say which totes the units go into",
                    );
                }
                continue;
            }
            let mut in_line = HashSet::new();
            let mut sum: u64 = 0;
            for (j, (tote, quantity)) in line.totes.iter().enumerate() {
                let field = format!("{path}.totes[{j}]");
                if !totes.contains_key(tote) {
                    errors.add(&field, format!("tote {tote} is not in the tote table"));
                } else if !in_line.insert(*tote) {
                    errors.add(&field, format!("tote {tote} is listed twice"));
                }
                if *quantity == 0 {
                    errors.add(&field, "quantity must be at least 1");
                }
                sum += u64::from(*quantity);
            }
            if line.quantity > 0 && sum != u64::from(line.quantity) {
                errors.add(
                    format!("{path}.totes"),
                    format!(
                        "add up to {sum}, but the line's quantity is {}",
                        line.quantity
                    ),
                );
            }
        }
        errors.finish()
    }

    /// The pick list as a PDF on A4 or Letter paper.
    pub fn to_pdf(&self) -> Result<Vec<u8>, DocumentError> {
        self.validate()?;
        Ok(crate::pdf::render(&self.layout(), self.title.trim()))
    }

    /// Units on the list.
    fn units(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.quantity)).sum()
    }

    fn layout(&self) -> Vec<PageLayout> {
        let (width, height) = self.page_size.points();
        let inner = width - 2.0 * MARGIN;
        let columns = Columns::new(inner);
        let mut sheets = Sheets {
            title: self.title.trim().to_owned(),
            width,
            height,
            done: Vec::new(),
            page: PageLayout::new(width, height),
        };
        let floor = MARGIN + FOOTER_SPACE;

        let mut y = self.first_page_header(&mut sheets.page, inner);
        if !self.totes.is_empty() {
            y = self.tote_table(&mut sheets, inner, y - 6.0);
        }

        // The lines, with the table header on every page they run over.
        let rows: Vec<Row> = self
            .lines
            .iter()
            .map(|line| Row::new(line, &self.totes, &columns))
            .collect();
        y -= 10.0;
        if y - 18.0 - rows.first().map_or(0.0, |r| r.height) < floor {
            y = sheets.next_page();
        }
        y = columns.header(&mut sheets.page, y);
        for (line, row) in self.lines.iter().zip(&rows) {
            if y - row.height < floor {
                y = sheets.next_page();
                y = columns.header(&mut sheets.page, y);
            }
            row.draw(&mut sheets.page, line, &columns, y);
            y -= row.height;
        }

        if y - 22.0 < floor {
            y = sheets.next_page();
        }
        let lines = self.lines.len();
        let units = self.units();
        sheets.page.text(
            MARGIN,
            inner,
            y - 15.0,
            Font::HelveticaBold,
            10.0,
            Align::Right,
            format!(
                "End of list: {lines} {}, {units} {}",
                if lines == 1 { "line" } else { "lines" },
                if units == 1 { "unit" } else { "units" }
            ),
        );

        let mut pages = sheets.done;
        pages.push(sheets.page);
        let count = pages.len();
        let footer = format!("{} · {}", self.title.trim(), self.location.trim());
        for (i, page) in pages.iter_mut().enumerate() {
            page.fitted_text(
                MARGIN,
                inner - 80.0,
                MARGIN,
                Font::Helvetica,
                (8.0, 6.0),
                Align::Left,
                &footer,
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

    /// Title, facts and the summary box; returns where the content below may start.
    fn first_page_header(&self, page: &mut PageLayout, inner: f64) -> f64 {
        let top = page.height - MARGIN;
        let box_w = 150.0;
        let box_x = MARGIN + inner - box_w;
        page.fitted_text(
            MARGIN,
            inner - box_w - 12.0,
            top - 18.0,
            Font::HelveticaBold,
            (18.0, 11.0),
            Align::Left,
            self.title.trim(),
        );
        let mut facts = vec![("Location", self.location.trim().to_owned())];
        if let Some(zone) = non_blank(&self.zone) {
            facts.push(("Zone", zone));
        }
        facts.push(("Created", self.created.trim().to_owned()));
        if let Some(path) = non_blank(&self.path) {
            facts.push(("Path", path));
        }
        let mut y = top - 38.0;
        for (label, value) in facts {
            page.text(
                MARGIN,
                60.0,
                y,
                Font::HelveticaBold,
                9.5,
                Align::Left,
                label,
            );
            page.fitted_text(
                MARGIN + 62.0,
                inner - box_w - 74.0,
                y,
                Font::Helvetica,
                (9.5, 7.0),
                Align::Left,
                &value,
            );
            y -= 13.0;
        }

        // Summary box, top right: what the picker checks the cart against at the end.
        page.shade(box_x, top - 56.0, box_w, 56.0, 0.92);
        for (k, (label, value)) in [
            ("Lines", self.lines.len().to_string()),
            ("Units", self.units().to_string()),
            ("Totes", self.totes.len().to_string()),
        ]
        .iter()
        .enumerate()
        {
            let baseline = top - 15.0 - k as f64 * 16.0;
            page.text(
                box_x + 8.0,
                70.0,
                baseline,
                Font::Helvetica,
                10.0,
                Align::Left,
                *label,
            );
            page.text(
                box_x + 8.0,
                box_w - 16.0,
                baseline,
                Font::HelveticaBold,
                12.0,
                Align::Right,
                value.clone(),
            );
        }
        (y + 13.0 - 6.0).min(top - 62.0)
    }

    /// The tote → order table, filled column by column, continued on further pages if it
    /// does not fit; returns where the content below may start.
    fn tote_table(&self, sheets: &mut Sheets, inner: f64, mut y: f64) -> f64 {
        let floor = MARGIN + FOOTER_SPACE;
        let group_w = inner / TOTE_GROUPS as f64;
        let tote_w = 30.0;
        let reference_w = (group_w - tote_w) * 0.58;
        let order_w = group_w - tote_w - reference_w;
        let mut remaining = &self.totes[..];
        let mut caption = "TOTES";
        loop {
            // Caption, header and at least one row.
            if y - 12.0 - 14.0 - TOTE_ROW - 4.0 < floor {
                y = sheets.next_page();
                caption = "TOTES (continued)";
            }
            let page = &mut sheets.page;
            page.text(
                MARGIN,
                inner,
                y - 9.0,
                Font::HelveticaBold,
                9.0,
                Align::Left,
                caption,
            );
            y -= 12.0;
            page.shade(MARGIN, y - 14.0, inner, 14.0, 0.88);
            for g in 0..self.totes.len().min(TOTE_GROUPS) {
                let x = MARGIN + g as f64 * group_w;
                for (title, x, w) in [
                    ("Tote", x, tote_w),
                    ("Fulfillment order", x + tote_w, reference_w),
                    ("Order", x + tote_w + reference_w, order_w),
                ] {
                    page.text(
                        x + 3.0,
                        w - 6.0,
                        y - 10.0,
                        Font::HelveticaBold,
                        8.0,
                        Align::Left,
                        title,
                    );
                }
            }
            y -= 14.0;
            // Rows, then 3 pt and the closing rule, above the floor.
            let rows_fit = ((y - 4.0 - floor) / TOTE_ROW).floor().max(1.0) as usize;
            let take = remaining.len().min(rows_fit * TOTE_GROUPS);
            let (chunk, rest) = remaining.split_at(take);
            let rows = chunk.len().div_ceil(TOTE_GROUPS);
            for (k, t) in chunk.iter().enumerate() {
                let x = MARGIN + (k / rows) as f64 * group_w;
                let baseline = y - 9.5 - (k % rows) as f64 * TOTE_ROW;
                page.fitted_text(
                    x + 3.0,
                    tote_w - 6.0,
                    baseline,
                    Font::HelveticaBold,
                    (10.0, 6.5),
                    Align::Left,
                    &format!("T{}", t.tote),
                );
                page.fitted_text(
                    x + tote_w + 3.0,
                    reference_w - 6.0,
                    baseline,
                    Font::Helvetica,
                    (9.0, 6.5),
                    Align::Left,
                    t.reference.trim(),
                );
                page.fitted_text(
                    x + tote_w + reference_w + 3.0,
                    order_w - 6.0,
                    baseline,
                    Font::Helvetica,
                    (9.0, 6.5),
                    Align::Left,
                    t.order_number.trim(),
                );
            }
            y -= rows as f64 * TOTE_ROW + 3.0;
            page.hrule(MARGIN, y, inner, 0.5);
            remaining = rest;
            if remaining.is_empty() {
                return y;
            }
            y = sheets.next_page();
            caption = "TOTES (continued)";
        }
    }
}

/// The finished pages and the one being filled.
struct Sheets {
    title: String,
    width: f64,
    height: f64,
    done: Vec<PageLayout>,
    page: PageLayout,
}

impl Sheets {
    /// Starts a page with the continuation title; returns where content starts.
    fn next_page(&mut self) -> f64 {
        let full = std::mem::replace(&mut self.page, PageLayout::new(self.width, self.height));
        self.done.push(full);
        let top = self.height - MARGIN;
        self.page.fitted_text(
            MARGIN,
            self.width - 2.0 * MARGIN,
            top - 13.0,
            Font::HelveticaBold,
            (13.0, 9.0),
            Align::Left,
            &format!("{} (continued)", self.title),
        );
        top - 22.0
    }
}

/// Column positions of the line table; the tote split takes what the others leave.
struct Columns {
    step_x: f64,
    step_w: f64,
    bin_x: f64,
    bin_w: f64,
    item_x: f64,
    item_w: f64,
    qty_x: f64,
    qty_w: f64,
    totes_x: f64,
    totes_w: f64,
    inner: f64,
}

impl Columns {
    fn new(inner: f64) -> Columns {
        let (step_w, bin_w, item_w, qty_w) = (30.0, 165.0, 200.0, 46.0);
        let step_x = MARGIN;
        let bin_x = step_x + step_w;
        let item_x = bin_x + bin_w;
        let qty_x = item_x + item_w;
        let totes_x = qty_x + qty_w;
        Columns {
            step_x,
            step_w,
            bin_x,
            bin_w,
            item_x,
            item_w,
            qty_x,
            qty_w,
            totes_x,
            totes_w: MARGIN + inner - totes_x,
            inner,
        }
    }

    /// Where a column's barcode (with its quiet zones) may go: the column less padding.
    fn barcode_box(x: f64, w: f64) -> (f64, f64) {
        (x + 4.0, w - 8.0)
    }

    /// The shaded header row whose top is at `y`; returns its bottom.
    fn header(&self, page: &mut PageLayout, y: f64) -> f64 {
        page.shade(MARGIN, y - 18.0, self.inner, 18.0, 0.88);
        for (title, x, w, align) in [
            ("#", self.step_x + 2.0, self.step_w - 4.0, Align::Left),
            ("Bin", self.bin_x + 4.0, self.bin_w - 8.0, Align::Center),
            (
                "SKU / item",
                self.item_x + 4.0,
                self.item_w - 8.0,
                Align::Left,
            ),
            ("Qty", self.qty_x, self.qty_w - 6.0, Align::Right),
            ("Totes", self.totes_x + 4.0, self.totes_w - 6.0, Align::Left),
        ] {
            page.text(x, w, y - 12.5, Font::HelveticaBold, 9.0, align, title);
        }
        y - 18.0
    }
}

/// A bin or SKU as a barcode that fits its column, or why it is printed as text only.
fn barcode(data: &str, width: f64) -> Result<Code128, &'static str> {
    match Code128::new(data) {
        Ok(code) if module_dots_for(&code, width, MAX_MODULE_DOTS).is_some() => Ok(code),
        Ok(_) | Err(BarcodeError::TooLong(_)) => Err("no barcode: too long"),
        Err(_) => Err("no barcode: characters Code 128 cannot carry"),
    }
}

/// One line's row, measured before it is drawn so it never straddles a page break.
struct Row {
    bin: Option<(String, Result<Code128, &'static str>)>,
    sku: Result<Code128, &'static str>,
    /// The flag printed (upper case), if any.
    flag: Option<String>,
    name: Vec<String>,
    totes: Vec<String>,
    height: f64,
}

impl Row {
    fn new(line: &PickListLine, totes: &[PickTote], columns: &Columns) -> Row {
        let bin = non_blank(&line.bin).map(|bin| {
            let (_, w) = Columns::barcode_box(columns.bin_x, columns.bin_w);
            let code = barcode(&bin, w);
            (bin, code)
        });
        let (_, sku_w) = Columns::barcode_box(columns.item_x, columns.item_w);
        let sku = barcode(line.sku.trim(), sku_w);
        let flag = match (&bin, non_blank(&line.flag)) {
            (_, Some(flag)) => Some(flag.to_uppercase()),
            (None, None) => Some("NO BIN".to_owned()),
            (Some(_), None) => None,
        };
        let name = wrap(
            line.name.trim(),
            Font::Helvetica,
            NAME_SIZE,
            columns.item_w - 8.0,
            2,
        );
        let split: Vec<String> = match (line.totes.as_slice(), totes) {
            ([], [only]) => vec![format!("T{}×{}", only.tote, line.quantity)],
            (split, _) => split.iter().map(|(t, q)| format!("T{t}×{q}")).collect(),
        };
        let totes = wrap(
            &split.join(" "),
            Font::HelveticaBold,
            TOTE_SIZE,
            columns.totes_w - 6.0,
            40,
        );

        let bars_bottom = BARS_TOP + BAR_HEIGHT;
        let mut height: f64 = bars_bottom + 8.0;
        if !name.is_empty() {
            height = height.max(bars_bottom + name.len() as f64 * NAME_LEADING + 5.0);
        }
        if bin.is_some() && flag.is_some() {
            height = height.max(bars_bottom + NAME_LEADING + 5.0);
        }
        if !totes.is_empty() {
            height = height.max(FIRST_BASELINE + (totes.len() - 1) as f64 * TOTE_LEADING + 8.0);
        }
        Row {
            bin,
            sku,
            flag,
            name,
            totes,
            height,
        }
    }

    /// Draws the row whose top is at `y`.
    fn draw(&self, page: &mut PageLayout, line: &PickListLine, c: &Columns, y: f64) {
        if self.flag.is_some() {
            page.shade(MARGIN, y - self.height, c.inner, self.height, 0.85);
        }
        let baseline = y - FIRST_BASELINE;
        let bars_y = y - BARS_TOP - BAR_HEIGHT;
        page.fitted_text(
            c.step_x + 2.0,
            c.step_w - 4.0,
            baseline,
            Font::HelveticaBold,
            (14.0, 7.0),
            Align::Left,
            &line.step.to_string(),
        );
        // A box to tick when the line is picked.
        let (bx, by, side, t) = (c.step_x + 3.0, y - 38.0, 11.0, 0.6);
        page.rect(bx, by, side, t);
        page.rect(bx, by + side - t, side, t);
        page.rect(bx, by, t, side);
        page.rect(bx + side - t, by, t, side);

        let (bin_x, bin_w) = Columns::barcode_box(c.bin_x, c.bin_w);
        match &self.bin {
            Some((bin, code)) => {
                page.fitted_text(
                    bin_x,
                    bin_w,
                    baseline,
                    Font::HelveticaBold,
                    (16.0, 8.0),
                    Align::Center,
                    bin,
                );
                barcode_or_note(page, code, (bin_x, bin_w, bars_y), self.flag.is_some());
                if let Some(flag) = &self.flag {
                    page.fitted_text(
                        bin_x,
                        bin_w,
                        bars_y - NAME_LEADING,
                        Font::HelveticaBold,
                        (8.5, 6.0),
                        Align::Center,
                        flag,
                    );
                }
            }
            None => {
                let flag = self.flag.as_deref().unwrap_or("NO BIN");
                page.fitted_text(
                    bin_x,
                    bin_w,
                    baseline,
                    Font::HelveticaBold,
                    (14.0, 7.0),
                    Align::Center,
                    flag,
                );
            }
        }

        let (item_x, item_w) = Columns::barcode_box(c.item_x, c.item_w);
        page.fitted_text(
            item_x,
            item_w,
            baseline,
            Font::HelveticaBold,
            (11.0, 7.0),
            Align::Left,
            line.sku.trim(),
        );
        barcode_or_note(
            page,
            &self.sku,
            (item_x, item_w, bars_y),
            self.flag.is_some(),
        );
        for (k, text) in self.name.iter().enumerate() {
            page.text(
                item_x,
                item_w,
                bars_y - NAME_LEADING - k as f64 * NAME_LEADING,
                Font::Helvetica,
                NAME_SIZE,
                Align::Left,
                text.clone(),
            );
        }

        page.fitted_text(
            c.qty_x,
            c.qty_w - 6.0,
            y - 22.0,
            Font::HelveticaBold,
            (22.0, 10.0),
            Align::Right,
            &line.quantity.to_string(),
        );
        for (k, text) in self.totes.iter().enumerate() {
            page.text(
                c.totes_x + 4.0,
                c.totes_w - 6.0,
                baseline - k as f64 * TOTE_LEADING,
                Font::HelveticaBold,
                TOTE_SIZE,
                Align::Left,
                text.clone(),
            );
        }
        page.hrule(MARGIN, y - self.height, c.inner, 0.4);
    }
}

/// The barcode centred in `[x, x + width]` with its bars from `y` up, or the reason there
/// is none, in small text. On a shaded row the barcode gets a white window, so bars and
/// quiet zones keep full contrast for the scanner.
fn barcode_or_note(
    page: &mut PageLayout,
    code: &Result<Code128, &'static str>,
    (x, width, y): (f64, f64, f64),
    shaded: bool,
) {
    match code {
        Ok(code) => {
            if shaded {
                page.shade(x, y - 2.0, width, BAR_HEIGHT + 4.0, 1.0);
            }
            page.centered_barcode(code.clone(), x, width, y, BAR_HEIGHT, MAX_MODULE_DOTS)
                .expect("width checked when the row was measured");
        }
        Err(note) => {
            page.fitted_text(
                x,
                width,
                y + BAR_HEIGHT / 2.0 - 3.0,
                Font::Helvetica,
                (7.5, 6.0),
                Align::Left,
                &format!("({note})"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fill_the_width() {
        for size in [PageSize::A4, PageSize::Letter] {
            let inner = size.points().0 - 2.0 * MARGIN;
            let c = Columns::new(inner);
            assert!((c.totes_x + c.totes_w - (MARGIN + inner)).abs() < 0.01);
            assert!(c.totes_w >= 75.0, "{}", c.totes_w);
        }
    }

    #[test]
    fn barcodes_that_do_not_fit_become_notes() {
        assert!(barcode("A-03-02-B", 157.0).is_ok());
        assert_eq!(
            barcode("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 157.0).unwrap_err(),
            "no barcode: too long"
        );
        assert!(
            barcode("TÉE-1", 157.0)
                .unwrap_err()
                .contains("cannot carry")
        );
    }
}
