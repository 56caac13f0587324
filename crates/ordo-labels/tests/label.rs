//! The 4×6 label: a real PDF (parsed back independently) and a well-formed ZPL II format.
//!
//! Set `ORDO_LABELS_DUMP=/some/dir` to also write the documents there for a visual check
//! (e.g. `pdftoppm -png` then `zbarimg` to scan the barcodes).

mod common;

use common::pdf::Pdf;
use common::{barcodes, decode_code128, label, widths_from_bars};
use ordo_labels::fonts::Font;
use ordo_labels::{DocumentError, ShippingLabel, Sscc, WeightUnit};

fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("ORDO_LABELS_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

fn with_sscc() -> ShippingLabel {
    ShippingLabel {
        sscc: Some(Sscc::new(1, "0614141", 1).unwrap()),
        ..label()
    }
}

#[test]
fn label_pdf_is_one_4x6_page_with_the_text() {
    let bytes = label().to_pdf().unwrap();
    dump("label.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(page.media_box, [0.0, 0.0, 288.0, 432.0]);
    assert_eq!(
        page.fonts.values().cloned().collect::<Vec<_>>(),
        vec!["Helvetica", "Helvetica-Bold"]
    );
    let text = page.text();
    for expected in [
        "ZZ 123 456 785 DE",
        "Zoë Müller",
        "Friedrichstraße 123",
        "10117 Berlin",
        "Ordo Demo Warehouse",
        "Lagerstraße 5",
        "Ordo Fleet",
        "Next day",
        "Weight 1.25 kg",
        "Package 1 of 2",
        "SO-000123-2",
        "#1001",
        "Ship date 2026-11-26",
        "Tel +49 30 7654321",
    ] {
        assert!(
            text.iter().any(|t| t == expected),
            "{expected:?} not in {text:?}"
        );
    }
    // Domestic: no country line.
    assert!(!text.iter().any(|t| t == "DE"));
    assert_eq!(
        pdf.info_title().as_deref(),
        Some("Shipping label ZZ123456785DE")
    );
    for run in page.text_runs() {
        assert!(run.x >= 10.0 - 0.01 && run.x < 278.0, "{run:?}");
        assert!(run.y >= 10.0 && run.y < 422.0, "{run:?}");
        assert!(run.font == "Helvetica" || run.font == "Helvetica-Bold");
    }
}

#[test]
fn label_barcode_is_the_tracking_number() {
    let pdf = Pdf::parse(&label().to_pdf().unwrap()).unwrap();
    let page = &pdf.pages()[0];
    let codes = barcodes(&page.filled_rects());
    assert_eq!(codes.len(), 1);
    let bars = &codes[0];
    // Module = 4 dots at 203 dpi = 0.5 mm.
    let module = 4.0 * 72.0 / 203.0;
    let narrowest = bars.iter().map(|b| b.w).fold(f64::MAX, f64::min);
    assert!((narrowest - module).abs() < 0.002, "{narrowest}");
    let (data, gs1) = decode_code128(&widths_from_bars(bars, module)).unwrap();
    assert_eq!(data, "ZZ123456785DE");
    assert!(!gs1);
    // Quiet zones of 10 modules stay on the label, inside its 10 pt margins.
    let left = bars[0].x;
    let right = bars.last().map(|b| b.x + b.w).unwrap();
    assert!(left - 10.0 * module >= 10.0, "{left}");
    assert!(right + 10.0 * module <= 278.0, "{right}");
    assert!(((left + right) / 2.0 - 144.0).abs() < 1.0, "centred");
    assert!(bars[0].h >= 50.0);
}

#[test]
fn label_with_sscc_has_a_gs1_128_symbol() {
    let bytes = with_sscc().to_pdf().unwrap();
    dump("label-sscc.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let page = &pdf.pages()[0];
    assert_eq!((page.width(), page.height()), (288.0, 432.0));
    let text = page.text();
    assert!(
        text.iter().any(|t| t == "(00) 106141410000000019"),
        "{text:?}"
    );
    let module = 4.0 * 72.0 / 203.0;
    let decoded: Vec<(String, bool)> = barcodes(&page.filled_rects())
        .iter()
        .map(|bars| decode_code128(&widths_from_bars(bars, module)).unwrap())
        .collect();
    assert_eq!(
        decoded,
        vec![
            ("ZZ123456785DE".to_owned(), false),
            ("00106141410000000019".to_owned(), true),
        ]
    );
}

#[test]
fn any_tracking_number_and_international_addresses() {
    let mut l = label();
    l.tracking_number = "1Z 999 AA1 01 2345 6784".into();
    l.recipient.country = "FR".into();
    l.recipient.city = "Paris".into();
    l.recipient.postal_code = Some("75001".into());
    l.recipient.name = "Łukasz Żółw".into();
    l.weight_unit = WeightUnit::Lb;
    l.weight_grams = 1000;
    let pdf = Pdf::parse(&l.to_pdf().unwrap()).unwrap();
    let page = &pdf.pages()[0];
    let text = page.text();
    // Printed as given; encoded without spaces.
    assert!(text.iter().any(|t| t == "1Z 999 AA1 01 2345 6784"));
    // Outside WinAnsi: accents dropped (Ł → L, Ż → Z), WinAnsi letters kept (ó).
    assert!(text.iter().any(|t| t == "Lukasz Zólw"), "{text:?}");
    assert!(text.iter().any(|t| t == "FR"));
    assert!(
        text.iter().any(|t| t == "DE"),
        "sender country is printed too"
    );
    assert!(text.iter().any(|t| t == "Weight 2.21 lb"));
    let bars = &barcodes(&page.filled_rects())[0];
    // Longer than an S10 number: a 3-dot module is what fits.
    let module = bars.iter().map(|b| b.w).fold(f64::MAX, f64::min);
    assert!((module - 3.0 * 72.0 / 203.0).abs() < 0.002, "{module}");
    assert_eq!(
        decode_code128(&widths_from_bars(bars, module)).unwrap().0,
        "1Z999AA10123456784"
    );
}

#[test]
fn long_text_is_fitted_not_overflowing() {
    let mut l = label();
    l.recipient.name = "Maximilian Alexander von und zu Hohenzollern-Sigmaringen".into();
    l.recipient.line2 = Some("c/o Very Long Company Name Logistics Department, Gate 7".into());
    l.recipient.company = Some("International Widgets and Sprockets Trading Limited".into());
    let pdf = Pdf::parse(&l.to_pdf().unwrap()).unwrap();
    let runs = pdf.pages()[0].text_runs();
    assert!(
        runs.iter().any(|r| r.text.ends_with('…')),
        "something was shortened"
    );
    for run in runs {
        let font = if run.font == "Helvetica" {
            Font::Helvetica
        } else {
            Font::HelveticaBold
        };
        let width = font.text_width(&run.text, run.size);
        assert!(
            run.x >= 10.0 && run.x + width <= 278.01,
            "{run:?} is {width} wide"
        );
    }
}

#[test]
fn output_is_deterministic() {
    assert_eq!(label().to_pdf().unwrap(), label().to_pdf().unwrap());
    assert_eq!(with_sscc().to_zpl().unwrap(), with_sscc().to_zpl().unwrap());
}

#[test]
fn invalid_labels_name_every_field() {
    let mut l = label();
    l.recipient.name = " ".into();
    l.recipient.country = "Germany".into();
    l.carrier = String::new();
    l.weight_grams = 0;
    l.package_number = 3;
    l.tracking_number = "ZZ12345678ë".into();
    let Err(DocumentError::Invalid(fields)) = l.to_pdf() else {
        panic!("accepted")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "recipient.name",
            "recipient.country",
            "carrier",
            "weight_grams",
            "package_number",
            "tracking_number"
        ]
    );
    assert!(l.to_zpl().is_err());
    assert!(l.validate().is_err());

    let mut l = label();
    l.tracking_number = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ".into();
    let err = l.validate().unwrap_err();
    assert_eq!(err.fields()[0].field, "tracking_number");
    assert!(err.fields()[0].message.contains("too long"));
}

#[test]
fn label_from_json() {
    let json = r#"{
        "sender": {"name": "Shop", "line1": "1 Road", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB"},
        "recipient": {"name": "Ann", "line1": "2 Street", "city": "York", "postal_code": "YO1 7HH", "country": "GB"},
        "carrier": "Ordo Fleet", "service": "Standard",
        "tracking_number": "ZZ123456785GB", "weight_grams": 500,
        "package_number": 1, "package_count": 1,
        "sscc": "(00) 1 0614141 234567890 8"
    }"#;
    let l: ShippingLabel = serde_json::from_str(json).unwrap();
    assert_eq!(l.weight_unit, WeightUnit::Kg);
    assert_eq!(l.sscc.as_ref().unwrap().as_str(), "106141412345678908");
    let pdf = Pdf::parse(&l.to_pdf().unwrap()).unwrap();
    let text = pdf.pages()[0].text();
    // UK: city and postcode on separate lines.
    assert!(text.iter().any(|t| t == "York") && text.iter().any(|t| t == "YO1 7HH"));
    let bad = json.replace("234567890 8", "234567890 7");
    assert!(serde_json::from_str::<ShippingLabel>(&bad).is_err());
}

// ---------- ZPL ----------

#[test]
fn zpl_structure() {
    let zpl = with_sscc().to_zpl().unwrap();
    dump("label-sscc.zpl", zpl.as_bytes());
    assert!(zpl.starts_with("^XA"));
    assert!(zpl.ends_with("^XZ"));
    assert_eq!(zpl.matches("^XA").count(), 1);
    assert_eq!(zpl.matches("^XZ").count(), 1);
    for setting in ["^CI28", "^PW812", "^LL1218", "^LH0,0"] {
        assert!(zpl.contains(setting), "{setting}");
    }
    // Every field is closed, and positioned inside the 812 × 1218 dot label.
    for line in zpl.lines().filter(|l| l.starts_with("^FO")) {
        assert!(line.ends_with("^FS"), "{line}");
        let coords = line[3..].split('^').next().unwrap();
        let (x, y) = coords.split_once(',').unwrap();
        let (x, y): (i64, i64) = (x.parse().unwrap(), y.parse().unwrap());
        assert!((0..812).contains(&x) && (0..1218).contains(&y), "{line}");
    }
    // Text fields.
    for text in [
        "Zoë Müller",
        "ZZ 123 456 785 DE",
        "Package 1 of 2",
        "(00) 106141410000000019",
    ] {
        assert!(
            zpl.contains(&format!("^FH^FD{text}^FS")),
            "{text} missing in\n{zpl}"
        );
    }
    assert!(zpl.contains("^A0N,"));
    // Barcodes: module width 4 dots, Code 128 without printer text, explicit subsets.
    let barcodes: Vec<&str> = zpl.lines().filter(|l| l.contains("^BC")).collect();
    assert_eq!(barcodes.len(), 2);
    assert!(barcodes[0].contains("^BY4^BCN,"), "{}", barcodes[0]);
    assert!(barcodes[0].contains(",N,N,N,N^FH^FD>:ZZ1>523456785>6DE^FS"));
    assert!(barcodes[1].contains("^FD>;>800106141410000000019^FS"));
}

#[test]
fn zpl_escapes_command_characters() {
    let mut l = label();
    l.recipient.name = "A^B~C_D".into();
    let zpl = l.to_zpl().unwrap();
    assert!(zpl.contains("^FDA_5EB_7EC_5FD^FS"), "{zpl}");
    // No command starts inside a field: every ^FD runs to its own ^FS.
    for line in zpl.lines() {
        if let Some(i) = line.find("^FD") {
            let data = &line[i + 3..line.len() - 3];
            assert!(!data.contains('^') && !data.contains('~'), "{line}");
        }
    }
}

#[test]
fn zpl_and_pdf_share_the_layout() {
    // The barcode's left edge in dots is the PDF's in points times 203/72.
    let l = label();
    let pdf = Pdf::parse(&l.to_pdf().unwrap()).unwrap();
    let bars = &barcodes(&pdf.pages()[0].filled_rects())[0];
    let zpl = l.to_zpl().unwrap();
    let line = zpl.lines().find(|l| l.contains("^BC")).unwrap();
    let x: f64 = line[3..].split(',').next().unwrap().parse().unwrap();
    assert!(
        (x - bars[0].x * 203.0 / 72.0).abs() <= 0.5,
        "{x} vs {}",
        bars[0].x
    );
}
