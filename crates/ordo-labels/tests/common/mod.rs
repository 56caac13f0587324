#![allow(dead_code)]

pub mod pdf;

use ordo_labels::code128::pattern;
use ordo_labels::{Address, ShippingLabel, WeightUnit};

pub fn sender() -> Address {
    Address {
        name: "Ordo Demo Warehouse".into(),
        company: Some("Ordo GmbH".into()),
        line1: "Lagerstraße 5".into(),
        line2: None,
        city: "Hamburg".into(),
        region: None,
        postal_code: Some("20095".into()),
        country: "DE".into(),
        phone: Some("+49 40 1234567".into()),
    }
}

pub fn recipient() -> Address {
    Address {
        name: "Zoë Müller".into(),
        company: None,
        line1: "Friedrichstraße 123".into(),
        line2: Some("Hinterhaus, 3. OG".into()),
        city: "Berlin".into(),
        region: None,
        postal_code: Some("10117".into()),
        country: "DE".into(),
        phone: Some("+49 30 7654321".into()),
    }
}

pub fn label() -> ShippingLabel {
    ShippingLabel {
        sender: sender(),
        recipient: recipient(),
        carrier: "Ordo Fleet".into(),
        service: "Next day".into(),
        tracking_number: "ZZ123456785DE".into(),
        weight_grams: 1250,
        weight_unit: WeightUnit::Kg,
        package_number: 1,
        package_count: 2,
        reference: Some("SO-000123-2".into()),
        order_number: Some("#1001".into()),
        ship_date: Some("2026-11-26".into()),
        sscc: None,
    }
}

/// Decodes Code 128 bar/space widths (bar first, no quiet zones) back into data, checking
/// start, check character and stop. FNC1 in first position is reported by `gs1 = true`;
/// later FNC1s come back as GS (0x1D), as a scanner transmits them.
pub fn decode_code128(widths: &[u8]) -> Result<(String, bool), String> {
    if widths.len() < 13 || !(widths.len() - 7).is_multiple_of(6) {
        return Err(format!("{} elements is not a whole symbol", widths.len()));
    }
    let lookup = |chunk: &[u8]| -> Result<u8, String> {
        (0..=106u8)
            .find(|v| pattern(*v) == chunk)
            .ok_or_else(|| format!("no symbol character {chunk:?}"))
    };
    let mut values = Vec::new();
    let data_end = widths.len() - 7;
    for chunk in widths[..data_end].chunks(6) {
        values.push(lookup(chunk)?);
    }
    if lookup(&widths[data_end..])? != 106 {
        return Err("no stop character".into());
    }
    let check = values.pop().ok_or("no check character")?;
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, v)| u32::from(*v) * (i.max(1) as u32))
        .sum();
    if (sum % 103) as u8 != check {
        return Err(format!("check character {check}, expected {}", sum % 103));
    }
    let mut subset = match values[0] {
        104 => 'B',
        105 => 'C',
        other => return Err(format!("start {other} is not B or C")),
    };
    let mut text = String::new();
    let mut gs1 = false;
    for (i, &v) in values.iter().enumerate().skip(1) {
        match (subset, v) {
            (_, 102) if i == 1 => gs1 = true,
            (_, 102) => text.push('\u{1D}'),
            ('B', 99) => subset = 'C',
            ('C', 100) => subset = 'B',
            ('B', 0..=95) => text.push(char::from(v + 32)),
            ('C', 0..=99) => text.push_str(&format!("{v:02}")),
            (s, v) => return Err(format!("value {v} unexpected in subset {s}")),
        }
    }
    Ok((text, gs1))
}

/// Groups filled rectangles into barcodes: runs of bars at the same y and height.
/// Returns each barcode's bars sorted left to right.
pub fn barcodes(rects: &[pdf::Rect]) -> Vec<Vec<pdf::Rect>> {
    let mut groups: Vec<Vec<pdf::Rect>> = Vec::new();
    for r in rects {
        // Bars are taller than wide; rules and shading are not.
        if r.h < 20.0 || r.w > 8.0 {
            continue;
        }
        match groups
            .iter_mut()
            .find(|g| (g[0].y - r.y).abs() < 0.01 && (g[0].h - r.h).abs() < 0.01)
        {
            Some(g) => g.push(*r),
            None => groups.push(vec![*r]),
        }
    }
    // A symbol has at least 3 bars per character; a lone vertical rule is not one.
    groups.retain(|g| g.len() >= 10);
    for g in &mut groups {
        g.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    groups
}

/// Bar/space widths in modules of a barcode drawn as rectangles, given the module width.
pub fn widths_from_bars(bars: &[pdf::Rect], module: f64) -> Vec<u8> {
    let mut widths = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        if i > 0 {
            let prev = bars[i - 1];
            let space = bar.x - (prev.x + prev.w);
            widths.push((space / module).round() as u8);
        }
        widths.push((bar.w / module).round() as u8);
    }
    widths
}
