//! The end-of-day manifest: every package one location hands to one carrier, as PDF (for
//! the driver to sign) and CSV (for the carrier's or accountant's systems).
//!
//! The manifest is the hand-over record: when a parcel goes missing, the signed manifest
//! shows whether the carrier took it. So it lists every package with its tracking number
//! and weight, totals the shipments, packages and weight, has signature lines, and refuses
//! a tracking number listed twice (a double-scanned parcel would inflate the totals the
//! driver signs for).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{DocumentError, Errors};
use crate::fonts::Font;
use crate::layout::{Align, PageLayout};
use crate::model::{Address, PageSize, WeightUnit, format_weight, non_blank};

/// One package of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPackage {
    pub tracking_number: String,
    pub weight_grams: u32,
}

/// One shipment (fulfillment order) and its packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestShipment {
    /// The shipper's reference, e.g. the fulfillment order `SO-000123-2`.
    pub reference: String,
    pub order_number: Option<String>,
    pub service: Option<String>,
    pub recipient_name: String,
    pub postal_code: Option<String>,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub packages: Vec<ManifestPackage>,
}

/// Everything on one location's manifest for one carrier and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub page_size: PageSize,
    pub manifest_id: Option<String>,
    /// The local business day, already formatted, e.g. `2026-11-26`.
    pub date: String,
    /// The shipping location's name or code.
    pub location: String,
    pub location_address: Option<Address>,
    pub carrier: String,
    #[serde(default)]
    pub weight_unit: WeightUnit,
    pub shipments: Vec<ManifestShipment>,
}

/// Totals of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ManifestTotals {
    pub shipments: usize,
    pub packages: usize,
    pub weight_grams: u64,
}

const MARGIN: f64 = 36.0;

/// The CSV columns, in order.
pub const MANIFEST_CSV_COLUMNS: [&str; 17] = [
    "record_type",
    "manifest_id",
    "date",
    "location",
    "carrier",
    "shipment_reference",
    "order_number",
    "service",
    "recipient_name",
    "postal_code",
    "city",
    "country",
    "package_number",
    "package_count",
    "tracking_number",
    "weight_grams",
    "shipment_count",
];

impl Manifest {
    /// Checks the manifest, naming every invalid field.
    pub fn validate(&self) -> Result<(), DocumentError> {
        let mut errors = Errors::default();
        for (field, value) in [
            ("date", &self.date),
            ("location", &self.location),
            ("carrier", &self.carrier),
        ] {
            if value.trim().is_empty() {
                errors.add(field, "is required");
            }
        }
        if let Some(address) = &self.location_address {
            address.check("location_address", &mut errors);
        }
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, s) in self.shipments.iter().enumerate() {
            let path = format!("shipments[{i}]");
            for (field, value) in [
                ("reference", &s.reference),
                ("recipient_name", &s.recipient_name),
                ("city", &s.city),
            ] {
                if value.trim().is_empty() {
                    errors.add(format!("{path}.{field}"), "is required");
                }
            }
            let c = s.country.as_bytes();
            if c.len() != 2 || !c.iter().all(|b| b.is_ascii_uppercase()) {
                errors.add(
                    format!("{path}.country"),
                    "must be an ISO 3166-1 alpha-2 code",
                );
            }
            if s.packages.is_empty() {
                errors.add(format!("{path}.packages"), "must list at least one package");
            }
            for (j, p) in s.packages.iter().enumerate() {
                let ppath = format!("{path}.packages[{j}]");
                let tracking: String = p.tracking_number.split_whitespace().collect();
                if tracking.is_empty() {
                    errors.add(format!("{ppath}.tracking_number"), "is required");
                } else if let Some(first) = seen.get(&tracking) {
                    errors.add(
                        format!("{ppath}.tracking_number"),
                        format!("{tracking} is already listed at {first}"),
                    );
                } else {
                    seen.insert(tracking, ppath.clone());
                }
                if p.weight_grams == 0 {
                    errors.add(format!("{ppath}.weight_grams"), "must be at least 1");
                }
            }
        }
        errors.finish()
    }

    /// Shipments, packages and total weight.
    pub fn totals(&self) -> ManifestTotals {
        ManifestTotals {
            shipments: self.shipments.len(),
            packages: self.shipments.iter().map(|s| s.packages.len()).sum(),
            weight_grams: self
                .shipments
                .iter()
                .flat_map(|s| &s.packages)
                .map(|p| u64::from(p.weight_grams))
                .sum(),
        }
    }

    /// The manifest as CSV (RFC 4180, CRLF line ends, header row): one `package` row per
    /// package, then one `total` row whose `package_count` is the number of packages,
    /// `weight_grams` the total weight and `shipment_count` the number of shipments.
    ///
    /// Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
    /// tab or carriage return) are prefixed with `'`: recipient names come from shoppers.
    pub fn to_csv(&self) -> Result<String, DocumentError> {
        self.validate()?;
        let mut out = String::new();
        push_row(&mut out, MANIFEST_CSV_COLUMNS.iter().map(|c| c.to_string()));
        let id = non_blank(&self.manifest_id).unwrap_or_default();
        let common = [
            id.clone(),
            self.date.trim().to_owned(),
            self.location.trim().to_owned(),
            self.carrier.trim().to_owned(),
        ];
        for s in &self.shipments {
            let count = s.packages.len();
            for (j, p) in s.packages.iter().enumerate() {
                let row = [
                    vec!["package".to_owned()],
                    common.to_vec(),
                    vec![
                        s.reference.trim().to_owned(),
                        non_blank(&s.order_number).unwrap_or_default(),
                        non_blank(&s.service).unwrap_or_default(),
                        s.recipient_name.trim().to_owned(),
                        non_blank(&s.postal_code).unwrap_or_default(),
                        s.city.trim().to_owned(),
                        s.country.clone(),
                        (j + 1).to_string(),
                        count.to_string(),
                        p.tracking_number.split_whitespace().collect(),
                        p.weight_grams.to_string(),
                        String::new(),
                    ],
                ]
                .concat();
                push_row(&mut out, row.into_iter());
            }
        }
        let t = self.totals();
        let mut total = vec!["total".to_owned()];
        total.extend(common.iter().cloned());
        total.extend(std::iter::repeat_n(String::new(), 8));
        total.push(t.packages.to_string());
        total.push(String::new());
        total.push(t.weight_grams.to_string());
        total.push(t.shipments.to_string());
        push_row(&mut out, total.into_iter());
        Ok(out)
    }

    /// The manifest as a PDF for the driver to sign.
    pub fn to_pdf(&self) -> Result<Vec<u8>, DocumentError> {
        self.validate()?;
        let title = format!(
            "Manifest {} {} {}",
            self.location.trim(),
            self.carrier.trim(),
            self.date.trim()
        );
        Ok(crate::pdf::render(&self.layout(), &title))
    }

    fn layout(&self) -> Vec<PageLayout> {
        let (width, height) = self.page_size.points();
        let inner = width - 2.0 * MARGIN;
        let top = height - MARGIN;
        let totals = self.totals();
        let unit = self.weight_unit;
        let cols = table_columns(inner);

        let mut page = PageLayout::new(width, height);
        page.text(
            MARGIN,
            inner,
            top - 18.0,
            Font::HelveticaBold,
            18.0,
            Align::Left,
            "SHIPPING MANIFEST",
        );
        let mut y = top - 38.0;
        let mut facts = vec![
            ("Carrier", self.carrier.trim().to_owned()),
            ("Location", self.location.trim().to_owned()),
            ("Date", self.date.trim().to_owned()),
        ];
        if let Some(id) = non_blank(&self.manifest_id) {
            facts.push(("Manifest", id));
        }
        if let Some(address) = &self.location_address {
            facts.push(("Address", address.lines(false)[1..].join(", ")));
        }
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
                inner / 2.0 - 62.0,
                y,
                Font::Helvetica,
                (9.5, 7.0),
                Align::Left,
                &value,
            );
            y -= 13.0;
        }
        // Summary box, top right: what the driver signs for.
        let box_w = 190.0;
        let box_x = MARGIN + inner - box_w;
        page.shade(box_x, top - 92.0, box_w, 62.0, 0.92);
        for (k, (label, value)) in [
            ("Shipments", totals.shipments.to_string()),
            ("Packages", totals.packages.to_string()),
            ("Total weight", format_weight(totals.weight_grams, unit)),
        ]
        .iter()
        .enumerate()
        {
            let by = top - 48.0 - k as f64 * 17.0;
            page.text(
                box_x + 8.0,
                90.0,
                by,
                Font::Helvetica,
                10.0,
                Align::Left,
                *label,
            );
            page.text(
                box_x + 8.0,
                box_w - 16.0,
                by,
                Font::HelveticaBold,
                12.0,
                Align::Right,
                value.clone(),
            );
        }
        y = y.min(top - 100.0) - 8.0;

        let header = |page: &mut PageLayout, y: f64| {
            page.shade(MARGIN, y - 16.0, inner, 16.0, 0.88);
            for c in &cols {
                page.text(
                    c.x + 2.0,
                    c.w - 4.0,
                    y - 11.0,
                    Font::HelveticaBold,
                    8.0,
                    c.align,
                    c.title,
                );
            }
            y - 16.0
        };
        let mut pages = Vec::new();
        y = header(&mut page, y);
        let floor = MARGIN + 30.0;
        let row_h = 13.0;
        if self.shipments.is_empty() {
            page.text(
                MARGIN,
                inner,
                y - 14.0,
                Font::Helvetica,
                9.0,
                Align::Left,
                "No shipments.",
            );
            y -= row_h + 4.0;
        }
        let mut index = 0;
        for s in &self.shipments {
            let count = s.packages.len();
            for (j, p) in s.packages.iter().enumerate() {
                if y - row_h < floor {
                    pages.push(std::mem::replace(&mut page, PageLayout::new(width, height)));
                    page.fitted_text(
                        MARGIN,
                        inner,
                        top - 14.0,
                        Font::HelveticaBold,
                        (12.0, 8.0),
                        Align::Left,
                        &format!(
                            "SHIPPING MANIFEST  {} {} {} (continued)",
                            self.location.trim(),
                            self.carrier.trim(),
                            self.date.trim()
                        ),
                    );
                    y = header(&mut page, top - 26.0);
                }
                index += 1;
                let destination = [
                    non_blank(&s.postal_code),
                    Some(s.city.trim().to_owned()),
                    Some(s.country.clone()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
                let reference = match non_blank(&s.order_number) {
                    Some(order) => format!("{} / {order}", s.reference.trim()),
                    None => s.reference.trim().to_owned(),
                };
                let first = j == 0;
                let cells = [
                    index.to_string(),
                    if first { reference } else { String::new() },
                    if first {
                        s.recipient_name.trim().to_owned()
                    } else {
                        String::new()
                    },
                    if first { destination } else { String::new() },
                    if first {
                        non_blank(&s.service).unwrap_or_default()
                    } else {
                        String::new()
                    },
                    format!("{}/{count}", j + 1),
                    p.tracking_number.split_whitespace().collect(),
                    format_weight(p.weight_grams.into(), unit),
                ];
                let baseline = y - 9.5;
                for (c, text) in cols.iter().zip(cells) {
                    let font = if c.title == "Tracking number" {
                        Font::HelveticaBold
                    } else {
                        Font::Helvetica
                    };
                    page.fitted_text(
                        c.x + 2.0,
                        c.w - 4.0,
                        baseline,
                        font,
                        (8.0, 6.0),
                        c.align,
                        &text,
                    );
                }
                y -= row_h;
                let thickness = if j + 1 == count { 0.5 } else { 0.2 };
                page.hrule(MARGIN, y, inner, thickness);
            }
        }

        // Totals and signatures together, so the driver signs under the numbers.
        if y - 110.0 < floor {
            pages.push(std::mem::replace(&mut page, PageLayout::new(width, height)));
            y = top - 10.0;
        }
        page.hrule(MARGIN, y - 2.0, inner, 1.0);
        let summary = format!(
            "Total: {} shipments, {} packages, {}",
            totals.shipments,
            totals.packages,
            format_weight(totals.weight_grams, unit)
        );
        page.text(
            MARGIN,
            inner,
            y - 16.0,
            Font::HelveticaBold,
            10.0,
            Align::Right,
            summary,
        );
        let sig_y = y - 70.0;
        let half = inner / 2.0;
        for (k, label) in [
            "Driver name",
            "Driver signature",
            "Handed over by",
            "Date and time",
        ]
        .iter()
        .enumerate()
        {
            let x = MARGIN + (k % 2) as f64 * half;
            let yy = sig_y - (k / 2) as f64 * 34.0;
            page.hrule(x, yy, half - 20.0, 0.5);
            page.text(
                x,
                half - 20.0,
                yy - 10.0,
                Font::Helvetica,
                8.0,
                Align::Left,
                *label,
            );
        }
        pages.push(page);

        let count = pages.len();
        let footer = format!(
            "{} · {} · {}",
            self.location.trim(),
            self.carrier.trim(),
            self.date.trim()
        );
        for (i, page) in pages.iter_mut().enumerate() {
            page.fitted_text(
                MARGIN,
                inner - 80.0,
                MARGIN - 14.0,
                Font::Helvetica,
                (8.0, 6.0),
                Align::Left,
                &footer,
            );
            page.text(
                MARGIN,
                inner,
                MARGIN - 14.0,
                Font::Helvetica,
                8.0,
                Align::Right,
                format!("Page {} of {count}", i + 1),
            );
        }
        pages
    }
}

struct Column {
    title: &'static str,
    x: f64,
    w: f64,
    align: Align,
}

/// Table columns as shares of the inner width (they add up to 1).
fn table_columns(inner: f64) -> Vec<Column> {
    let spec: [(&str, f64, Align); 8] = [
        ("#", 0.045, Align::Right),
        ("Reference / order", 0.19, Align::Left),
        ("Recipient", 0.165, Align::Left),
        ("Destination", 0.16, Align::Left),
        ("Service", 0.1, Align::Left),
        ("Pkg", 0.05, Align::Right),
        ("Tracking number", 0.19, Align::Left),
        ("Weight", 0.1, Align::Right),
    ];
    let mut x = MARGIN;
    spec.iter()
        .map(|(title, share, align)| {
            let w = inner * share;
            let c = Column {
                title,
                x,
                w,
                align: *align,
            };
            x += w;
            c
        })
        .collect()
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>) {
    let cells: Vec<String> = cells.map(|c| csv_cell(&c)).collect();
    let _ = write!(out, "{}\r\n", cells.join(","));
}

fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
    }

    #[test]
    fn columns_fill_the_width() {
        let cols = table_columns(500.0);
        let end = cols.last().map(|c| c.x + c.w).unwrap_or_default();
        assert!((end - (MARGIN + 500.0)).abs() < 0.01, "{end}");
    }
}
