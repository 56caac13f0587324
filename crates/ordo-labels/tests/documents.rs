//! Packing slips and manifests: real PDFs (parsed back), paging, and the manifest CSV.

mod common;

use common::pdf::Pdf;
use common::{recipient, sender};
use ordo_labels::{
    MANIFEST_CSV_COLUMNS, Manifest, ManifestPackage, ManifestShipment, PackingSlip,
    PackingSlipLine, PageSize,
};

fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("ORDO_LABELS_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

fn slip(lines: usize) -> PackingSlip {
    PackingSlip {
        page_size: PageSize::A4,
        order_number: "#1001".into(),
        reference: Some("SO-000123-2".into()),
        order_date: Some("2026-11-25".into()),
        ship_from: Some(sender()),
        ship_to: recipient(),
        package_number: 2,
        package_count: 3,
        lines: (1..=lines)
            .map(|i| PackingSlipLine {
                sku: format!("SKU-{i:04}"),
                name: if i % 7 == 0 {
                    format!("Item {i} with a very long product name that needs wrapping onto more than one line of the table")
                } else {
                    format!("Item {i}")
                },
                quantity: (i % 4 + 1) as u32,
            })
            .collect(),
        note: Some("Thank you for your order! Returns are free within 30 days.".into()),
    }
}

#[test]
fn packing_slip_a4() {
    let s = slip(3);
    let bytes = s.to_pdf().unwrap();
    dump("slip.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].media_box, [0.0, 0.0, 595.276, 841.89]);
    let text = pages[0].text();
    for expected in [
        "PACKING SLIP",
        "Order #1001",
        "Reference SO-000123-2",
        "Order date 2026-11-25",
        "Package 2 of 3",
        "SHIP TO",
        "Zoë Müller",
        "10117 Berlin",
        "SHIP FROM",
        "Ordo Demo Warehouse",
        "SKU-0001",
        "Item 1",
        "SKU-0003",
        "Item 3",
        "Total units 9",
        "Thank you for your order! Returns are free within 30 days.",
        "Page 1 of 1",
    ] {
        assert!(
            text.iter().any(|t| t == expected),
            "{expected:?} not in {text:?}"
        );
    }
    // Quantities 2, 3, 4 printed in the Qty column.
    for q in ["2", "3", "4"] {
        assert!(text.iter().any(|t| t == q));
    }
    assert_eq!(pdf.info_title().as_deref(), Some("Packing slip #1001"));
}

#[test]
fn packing_slip_letter_and_many_pages() {
    let mut s = slip(120);
    s.page_size = PageSize::Letter;
    let bytes = s.to_pdf().unwrap();
    dump("slip-long.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    assert!(pages.len() >= 3, "{} pages", pages.len());
    let n = pages.len();
    for (i, page) in pages.iter().enumerate() {
        assert_eq!((page.width(), page.height()), (612.0, 792.0));
        let text = page.text();
        assert!(text.contains(&format!("Page {} of {n}", i + 1)), "{text:?}");
        if i > 0 {
            assert!(text.iter().any(|t| t.contains("(continued)")));
        }
        for run in page.text_runs() {
            assert!(run.y >= 36.0 && run.y <= 792.0 - 36.0, "{run:?}");
        }
    }
    // Every SKU exactly once, in order, across the pages.
    let skus: Vec<String> = pages
        .iter()
        .flat_map(|p| p.text())
        .filter(|t| t.starts_with("SKU-"))
        .collect();
    let expected: Vec<String> = (1..=120).map(|i| format!("SKU-{i:04}")).collect();
    assert_eq!(skus, expected);
    let units: u32 = (1..=120).map(|i| (i % 4 + 1) as u32).sum();
    assert!(
        pages[n - 1]
            .text()
            .contains(&format!("Total units {units}"))
    );
    // Long names wrap (more than one run for line 7) and end with an ellipsis when cut.
    let runs: Vec<String> = pages[0].text();
    assert!(
        runs.iter()
            .any(|t| t.starts_with("Item 7 with a very long"))
    );
}

#[test]
fn packing_slip_validation() {
    let mut s = slip(2);
    s.order_number = " ".into();
    s.package_number = 0;
    s.lines[1].quantity = 0;
    s.lines[0].sku = String::new();
    s.ship_to.line1 = String::new();
    let err = s.to_pdf().unwrap_err();
    let fields: Vec<&str> = err.fields().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "order_number",
            "ship_to.line1",
            "package_number",
            "lines[0].sku",
            "lines[1].quantity"
        ]
    );
    let mut empty = slip(1);
    empty.lines.clear();
    assert_eq!(empty.validate().unwrap_err().fields()[0].field, "lines");
}

#[test]
fn packing_slip_from_json_defaults_to_a4() {
    let json = r#"{
        "order_number": "1002",
        "ship_to": {"name": "Ann", "line1": "2 Street", "city": "York", "country": "GB"},
        "package_number": 1, "package_count": 1,
        "lines": [{"sku": "A-1", "name": "Mug", "quantity": 2}]
    }"#;
    let s: PackingSlip = serde_json::from_str(json).unwrap();
    assert_eq!(s.page_size, PageSize::A4);
    let pdf = Pdf::parse(&s.to_pdf().unwrap()).unwrap();
    assert_eq!(pdf.pages()[0].media_box[2], 595.276);
    let letter: PackingSlip = serde_json::from_str(&json.replace(
        "\"order_number\"",
        "\"page_size\": \"letter\", \"order_number\"",
    ))
    .unwrap();
    assert_eq!(letter.page_size, PageSize::Letter);
}

// ---------- Manifest ----------

fn manifest(shipments: usize) -> Manifest {
    Manifest {
        page_size: PageSize::A4,
        manifest_id: Some("MF-2026-11-26-HAM".into()),
        date: "2026-11-26".into(),
        location: "HAM".into(),
        location_address: Some(sender()),
        carrier: "Ordo Fleet".into(),
        weight_unit: Default::default(),
        shipments: (1..=shipments)
            .map(|i| ManifestShipment {
                reference: format!("SO-{i:06}-1"),
                order_number: Some(format!("#{}", 1000 + i)),
                service: Some("Next day".into()),
                recipient_name: if i == 2 {
                    "Smith, Jane \"JJ\"".into()
                } else if i == 3 {
                    "=HYPERLINK(\"http://x\")".into()
                } else {
                    format!("Customer {i}")
                },
                postal_code: Some(format!("{:05}", 10000 + i)),
                city: "Berlin".into(),
                country: "DE".into(),
                packages: (0..(i % 3 + 1))
                    .map(|p| ManifestPackage {
                        tracking_number: format!("ZZ{:08}{}DE", i * 10 + p, p),
                        weight_grams: 500 + (i * 100 + p) as u32,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn manifest_totals() {
    let m = manifest(4);
    let t = m.totals();
    assert_eq!(t.shipments, 4);
    // Shipment i has i % 3 + 1 packages: 2 + 3 + 1 + 2.
    assert_eq!(t.packages, 8);
    let weight: u64 = m
        .shipments
        .iter()
        .flat_map(|s| &s.packages)
        .map(|p| u64::from(p.weight_grams))
        .sum();
    assert_eq!(t.weight_grams, weight);
}

#[test]
fn manifest_pdf() {
    let m = manifest(4);
    let bytes = m.to_pdf().unwrap();
    dump("manifest.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].media_box, [0.0, 0.0, 595.276, 841.89]);
    let text = pages[0].text();
    let t = m.totals();
    for expected in [
        "SHIPPING MANIFEST".to_owned(),
        "Ordo Fleet".into(),
        "HAM".into(),
        "2026-11-26".into(),
        "MF-2026-11-26-HAM".into(),
        "SO-000001-1 / #1001".into(),
        "Customer 1".into(),
        "10001 Berlin DE".into(),
        "Smith, Jane \"JJ\"".into(),
        "1/2".into(),
        "2/2".into(),
        "0.6 kg".into(),
        t.packages.to_string(),
        format!(
            "Total: 4 shipments, 8 packages, {}",
            ordo_labels::format_weight(t.weight_grams, Default::default())
        ),
        "Driver signature".into(),
        "Page 1 of 1".into(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text:?}");
    }
    for s in &m.shipments {
        for p in &s.packages {
            assert!(text.contains(&p.tracking_number), "{}", p.tracking_number);
        }
    }
}

#[test]
fn manifest_pdf_pages_and_empty_day() {
    let m = Manifest {
        page_size: PageSize::Letter,
        ..manifest(60)
    };
    let pdf = Pdf::parse(&m.to_pdf().unwrap()).unwrap();
    let pages = pdf.pages();
    assert!(pages.len() >= 2);
    let all: Vec<String> = pages.iter().flat_map(|p| p.text()).collect();
    let tracking: Vec<&String> = all.iter().filter(|t| t.starts_with("ZZ")).collect();
    assert_eq!(tracking.len(), m.totals().packages);
    assert!(
        pages
            .last()
            .unwrap()
            .text()
            .iter()
            .any(|t| t.starts_with("Total: 60 shipments"))
    );

    let empty = Manifest {
        shipments: vec![],
        ..manifest(0)
    };
    let text = Pdf::parse(&empty.to_pdf().unwrap()).unwrap().pages()[0].text();
    assert!(text.iter().any(|t| t == "No shipments."));
    assert!(
        text.iter()
            .any(|t| t == "Total: 0 shipments, 0 packages, 0 kg")
    );
}

/// A minimal RFC 4180 reader for the test.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "last line ends with CRLF"
    );
    rows
}

#[test]
fn manifest_csv() {
    let m = manifest(4);
    let csv = m.to_csv().unwrap();
    dump("manifest.csv", csv.as_bytes());
    let rows = parse_csv(&csv);
    assert_eq!(rows[0], MANIFEST_CSV_COLUMNS);
    assert!(rows.iter().all(|r| r.len() == MANIFEST_CSV_COLUMNS.len()));
    let t = m.totals();
    assert_eq!(rows.len(), 1 + t.packages + 1);
    let col = |name: &str| {
        MANIFEST_CSV_COLUMNS
            .iter()
            .position(|c| *c == name)
            .unwrap()
    };
    let packages = &rows[1..rows.len() - 1];
    assert!(packages.iter().all(|r| r[0] == "package"));
    assert_eq!(
        packages[0][col("tracking_number")],
        m.shipments[0].packages[0].tracking_number
    );
    assert_eq!(packages[0][col("shipment_reference")], "SO-000001-1");
    assert_eq!(packages[0][col("package_number")], "1");
    assert_eq!(packages[0][col("package_count")], "2");
    assert_eq!(packages[0][col("carrier")], "Ordo Fleet");
    // Quoting survives a round trip; a formula is defused.
    assert!(
        packages
            .iter()
            .any(|r| r[col("recipient_name")] == "Smith, Jane \"JJ\"")
    );
    assert!(
        packages
            .iter()
            .any(|r| r[col("recipient_name")] == "'=HYPERLINK(\"http://x\")")
    );
    let weights: u64 = packages
        .iter()
        .map(|r| r[col("weight_grams")].parse::<u64>().unwrap())
        .sum();
    assert_eq!(weights, t.weight_grams);
    let total = rows.last().unwrap();
    assert_eq!(total[0], "total");
    assert_eq!(total[col("package_count")], t.packages.to_string());
    assert_eq!(total[col("weight_grams")], t.weight_grams.to_string());
    assert_eq!(total[col("shipment_count")], "4");
    assert_eq!(total[col("tracking_number")], "");
}

#[test]
fn manifest_refuses_a_package_listed_twice() {
    let mut m = manifest(3);
    let dup = m.shipments[0].packages[0].clone();
    m.shipments[2].packages.push(ManifestPackage {
        tracking_number: format!(" {} ", dup.tracking_number),
        ..dup
    });
    m.shipments[1].packages[0].weight_grams = 0;
    m.carrier = String::new();
    let err = m.to_csv().unwrap_err();
    let fields: Vec<(&str, &str)> = err
        .fields()
        .iter()
        .map(|f| (f.field.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(fields[0], ("carrier", "is required"));
    assert_eq!(fields[1].0, "shipments[1].packages[0].weight_grams");
    assert_eq!(fields[2].0, "shipments[2].packages[1].tracking_number");
    assert!(
        fields[2]
            .1
            .contains("already listed at shipments[0].packages[0]")
    );
    assert!(m.to_pdf().is_err());
}
