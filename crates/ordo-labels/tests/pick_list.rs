//! Pick lists: a real PDF (parsed back independently), bin and SKU barcodes that scan back,
//! paging of long lists and of long tote tables, and validation.
//!
//! Set `ORDO_LABELS_DUMP=/some/dir` to also write the documents there for a visual check
//! (e.g. `pdftoppm -r 300 -png` then `zbarimg` to scan the barcodes).

mod common;

use common::pdf::{Page, Pdf, Rect};
use common::{barcodes, decode_code128, widths_from_bars};
use ordo_labels::fonts::Font;
use ordo_labels::{PageSize, PickListDocument, PickListLine, PickTote};

const MARGIN: f64 = 36.0;
/// Nothing but the page footer is drawn below this.
const FLOOR: f64 = MARGIN + 14.0;
const DOT: f64 = 72.0 / 203.0;

fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("ORDO_LABELS_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

fn bin(i: usize) -> String {
    format!("A-{:02}-{:02}-B", i / 10 + 1, i % 10 + 1)
}

/// A list of `lines` lines over three totes; the last line has no bin.
fn pick_list(lines: usize) -> PickListDocument {
    PickListDocument {
        page_size: PageSize::A4,
        title: "Pick list PL-000012 · 1/2".into(),
        location: "HAM".into(),
        zone: Some("A".into()),
        created: "2026-11-26 09:14".into(),
        totes: (1..=3)
            .map(|t| PickTote {
                tote: t,
                reference: format!("SO-00010{t}-1"),
                order_number: format!("#100{t}"),
            })
            .collect(),
        lines: (1..=lines)
            .map(|i| {
                let first = (i % 3 + 1) as u32;
                let mut totes = vec![(first, (i % 3 + 1) as u32)];
                if i % 2 == 0 {
                    totes.push((first % 3 + 1, 1));
                    totes.sort();
                }
                let last = i == lines;
                PickListLine {
                    step: i as u32,
                    bin: if last { None } else { Some(bin(i)) },
                    sku: format!("SKU-{i:04}"),
                    name: if i % 5 == 0 {
                        format!(
                            "Item {i} with a very long product name that wraps onto a second line"
                        )
                    } else {
                        format!("Item {i}")
                    },
                    quantity: totes.iter().map(|(_, q)| q).sum(),
                    totes,
                    flag: if last { Some("no bin".into()) } else { None },
                }
            })
            .collect(),
        path: Some("14 stops · 132 m".into()),
    }
}

/// The Code 128 symbols of a page in reading order (top to bottom, left to right): the
/// common grouping joins symbols drawn side by side at the same height, so they are split
/// where the gap is wider than any space inside a symbol (4 modules).
fn symbols(page: &Page) -> Vec<Vec<Rect>> {
    let mut out = Vec::new();
    for group in barcodes(&page.filled_rects()) {
        let mut current: Vec<Rect> = Vec::new();
        for bar in group {
            if let Some(prev) = current.last()
                && bar.x - (prev.x + prev.w) > 8.0
            {
                out.push(std::mem::take(&mut current));
            }
            current.push(bar);
        }
        out.push(current);
    }
    out.sort_by(|a, b| b[0].y.total_cmp(&a[0].y).then(a[0].x.total_cmp(&b[0].x)));
    out
}

/// The module of a drawn symbol: its narrowest bar (the stop character has a 1-module bar).
fn module(bars: &[Rect]) -> f64 {
    bars.iter().map(|b| b.w).fold(f64::MAX, f64::min)
}

/// Decodes every symbol of every page, checking module size, quiet zones and that nothing
/// else is drawn or written over a symbol or its quiet zones.
fn decode_all(pages: &[Page]) -> Vec<String> {
    let mut decoded = Vec::new();
    for page in pages {
        let rects = page.filled_rects();
        let runs = page.text_runs();
        for bars in symbols(page) {
            let m = module(&bars);
            assert!(
                (m - 2.0 * DOT).abs() < 0.002 || (m - 3.0 * DOT).abs() < 0.002,
                "module {m}"
            );
            let (data, gs1) = decode_code128(&widths_from_bars(&bars, m)).unwrap();
            assert!(!gs1);
            let (bottom, top) = (bars[0].y, bars[0].y + bars[0].h);
            assert!(bars[0].h >= 20.0);
            let left = bars[0].x - 10.0 * m;
            let right = bars.last().map(|b| b.x + b.w).unwrap() + 10.0 * m;
            assert!(left >= MARGIN && right <= page.width() - MARGIN, "{data}");
            let overlaps = |x0: f64, x1: f64, y0: f64, y1: f64| {
                x0 < right && x1 > left && y0 < top && y1 > bottom
            };
            for r in &rects {
                // Area fills (shading, white windows) are background; bars (at most 4
                // modules wide), rules and tick boxes (thin in one direction) are marks.
                let background = r.w > 8.0 && r.h > 10.0;
                let own = bars.contains(r);
                assert!(
                    background || own || !overlaps(r.x, r.x + r.w, r.y, r.y + r.h),
                    "{r:?} in the quiet zone of {data}"
                );
            }
            for run in &runs {
                let font = if run.font == "Helvetica" {
                    Font::Helvetica
                } else {
                    Font::HelveticaBold
                };
                let w = font.text_width(&run.text, run.size);
                assert!(
                    !overlaps(
                        run.x,
                        run.x + w,
                        run.y - 0.22 * run.size,
                        run.y + 0.75 * run.size
                    ),
                    "{run:?} over the barcode {data}"
                );
            }
            decoded.push(data);
        }
    }
    decoded
}

fn barcode_data(list: &PickListDocument) -> Vec<String> {
    list.lines
        .iter()
        .flat_map(|l| l.bin.clone().into_iter().chain([l.sku.clone()]))
        .collect()
}

#[test]
fn pick_list_a4() {
    let list = pick_list(4);
    let bytes = list.to_pdf().unwrap();
    dump("pick-list.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(
        (page.width().round(), page.height().round()),
        (595.0, 842.0)
    );
    assert_eq!(
        pdf.info_title().as_deref(),
        Some("Pick list PL-000012 · 1/2")
    );
    let text = page.text();
    for expected in [
        "Pick list PL-000012 · 1/2",
        "Location",
        "HAM",
        "Zone",
        "A",
        "Created",
        "2026-11-26 09:14",
        "Path",
        "14 stops · 132 m",
        "TOTES",
        "Fulfillment order",
        "T1",
        "SO-000101-1",
        "#1001",
        "T3",
        "SO-000103-1",
        "#1003",
        "A-01-02-B",
        "SKU-0001",
        "Item 1",
        "A-01-04-B",
        "SKU-0003",
        // Line 4: no bin, flagged.
        "SKU-0004",
        "NO BIN",
        // Quantities and tote splits: line 1 puts 2 in T2; line 2 puts 3 in T3 and 1 in T1.
        "T2×2",
        "T1×1 T3×3",
        "End of list: 4 lines, 10 units",
        "Page 1 of 1",
    ] {
        assert!(
            text.iter().any(|t| t == expected),
            "{expected:?} not in {text:?}"
        );
    }
    for q in ["2", "4", "1"] {
        assert!(text.iter().any(|t| t == q), "quantity {q}");
    }
    // The bins are large and bold; the no-bin line is shaded.
    let runs = page.text_runs();
    let bin_run = runs.iter().find(|r| r.text == "A-01-02-B").unwrap();
    assert_eq!(bin_run.font, "Helvetica-Bold");
    assert!(bin_run.size >= 14.0, "{bin_run:?}");
    let flagged = runs.iter().find(|r| r.text == "NO BIN").unwrap();
    assert!(
        page.filled_rects()
            .iter()
            .any(|r| r.w > 500.0 && r.y < flagged.y && r.y + r.h > flagged.y)
    );
    // Every page element inside the margins.
    for run in &runs {
        assert!(
            run.y >= MARGIN && run.y <= page.height() - MARGIN,
            "{run:?}"
        );
        assert!(run.x >= MARGIN - 0.01, "{run:?}");
    }
}

#[test]
fn bin_and_sku_barcodes_scan_back() {
    let list = pick_list(4);
    let pdf = Pdf::parse(&list.to_pdf().unwrap()).unwrap();
    let decoded = decode_all(&pdf.pages());
    // Bin then SKU on each row, in walk order; the last line has only its SKU.
    assert_eq!(decoded, barcode_data(&list));
    assert_eq!(
        decoded,
        vec![
            "A-01-02-B",
            "SKU-0001",
            "A-01-03-B",
            "SKU-0002",
            "A-01-04-B",
            "SKU-0003",
            "SKU-0004",
        ]
    );
}

#[test]
fn long_list_breaks_over_pages() {
    let list = pick_list(60);
    let bytes = list.to_pdf().unwrap();
    dump("pick-list-long.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    let n = pages.len();
    assert!(n >= 4, "{n} pages");
    for (i, page) in pages.iter().enumerate() {
        let text = page.text();
        assert!(text.contains(&format!("Page {} of {n}", i + 1)), "{text:?}");
        assert!(text.iter().any(|t| t == "SKU / item"), "table header");
        if i > 0 {
            assert!(text.contains(&"Pick list PL-000012 · 1/2 (continued)".to_owned()));
            assert!(!text.iter().any(|t| t == "TOTES"));
        }
        // Nothing but the footer below the floor; nothing drawn in the bottom margin.
        for run in page.text_runs() {
            assert!(run.y >= MARGIN, "{run:?}");
            if run.y < FLOOR {
                assert!(
                    run.text.starts_with("Page ") || run.text.starts_with("Pick list PL"),
                    "{run:?}"
                );
            }
        }
        for r in page.filled_rects() {
            assert!(r.y >= FLOOR - 0.3, "{r:?} on page {}", i + 1);
            assert!(r.y + r.h <= page.height() - MARGIN, "{r:?}");
        }
    }
    // Every line exactly once, in walk order, across the pages.
    let all: Vec<String> = pages.iter().flat_map(|p| p.text()).collect();
    let skus: Vec<&String> = all.iter().filter(|t| t.starts_with("SKU-")).collect();
    let expected: Vec<String> = (1..=60).map(|i| format!("SKU-{i:04}")).collect();
    assert_eq!(skus, expected.iter().collect::<Vec<_>>());
    let bins: Vec<&String> = all.iter().filter(|t| t.starts_with("A-")).collect();
    assert_eq!(bins.len(), 59);
    assert!(all.iter().any(|t| t.starts_with("Item 5 with a very long")));
    assert_eq!(decode_all(&pages), barcode_data(&list));
    let units: u32 = list.lines.iter().map(|l| l.quantity).sum();
    assert!(
        pages[n - 1]
            .text()
            .contains(&format!("End of list: 60 lines, {units} units"))
    );
}

#[test]
fn long_tote_table_continues_on_letter() {
    let mut list = pick_list(3);
    list.page_size = PageSize::Letter;
    list.zone = None;
    list.path = None;
    list.totes = (1..=200)
        .map(|t| PickTote {
            tote: t,
            reference: format!("SO-{t:06}-1"),
            order_number: format!("#{}", 5000 + t),
        })
        .collect();
    let bytes = list.to_pdf().unwrap();
    dump("pick-list-totes.pdf", &bytes);
    let pages = Pdf::parse(&bytes).unwrap().pages();
    assert!(pages.len() >= 2);
    let all: Vec<String> = pages.iter().flat_map(|p| p.text()).collect();
    assert!(!all.iter().any(|t| t == "Zone" || t == "Path"));
    assert!(all.iter().any(|t| t == "TOTES (continued)"));
    let references: Vec<&String> = all.iter().filter(|t| t.starts_with("SO-")).collect();
    assert_eq!(references.len(), 200);
    let mut sorted = references.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "every tote once");
    for page in &pages {
        assert_eq!((page.width(), page.height()), (612.0, 792.0));
        for r in page.filled_rects() {
            assert!(r.y >= FLOOR - 0.3, "{r:?}");
        }
    }
    assert_eq!(decode_all(&pages), barcode_data(&list));
}

#[test]
fn single_tote_and_unscannable_skus() {
    let mut list = pick_list(3);
    list.totes.truncate(1);
    for line in &mut list.lines {
        line.totes.clear();
    }
    // Too long for its column, and outside what Code 128 carries: printed, not barcoded.
    list.lines[1].sku = "ACME-WIDGET-DELUXE-EXTRA-LARGE-BLUE".into();
    list.lines[2].sku = "TÉE-01".into();
    list.lines[2].bin = Some("B-01-01-A".into());
    list.lines[2].flag = Some("bin not in layout".into());
    let bytes = list.to_pdf().unwrap();
    dump("pick-list-flags.pdf", &bytes);
    let pdf = Pdf::parse(&bytes).unwrap();
    let pages = pdf.pages();
    let text = pages[0].text();
    // One tote: everything goes into it.
    assert!(text.iter().any(|t| t == "T1×2"), "{text:?}");
    assert!(text.iter().any(|t| t == "T1×4"));
    assert!(
        text.iter()
            .any(|t| t == "ACME-WIDGET-DELUXE-EXTRA-LARGE-BLUE")
    );
    assert!(text.iter().any(|t| t == "TÉE-01"));
    assert!(text.iter().any(|t| t == "(no barcode: too long)"));
    assert!(
        text.iter()
            .any(|t| t.starts_with("(no barcode: characters"))
    );
    assert!(text.iter().any(|t| t == "BIN NOT IN LAYOUT"));
    assert_eq!(
        decode_all(&pages),
        vec!["A-01-02-B", "SKU-0001", "A-01-03-B", "B-01-01-A"]
    );
}

#[test]
fn output_is_deterministic() {
    assert_eq!(
        pick_list(12).to_pdf().unwrap(),
        pick_list(12).to_pdf().unwrap()
    );
}

#[test]
fn invalid_pick_lists_name_every_field() {
    let mut list = pick_list(4);
    list.title = " ".into();
    list.created = String::new();
    list.totes.push(PickTote {
        tote: 1,
        reference: String::new(),
        order_number: "#1009".into(),
    });
    list.lines[0].quantity = 0;
    list.lines[1].step = 1;
    list.lines[1].sku = " ".into();
    list.lines[2].totes = vec![(7, 1), (1, 0), (3, 1)];
    list.lines[3].totes.clear();
    let err = list.to_pdf().unwrap_err();
    let fields: Vec<(&str, &str)> = err
        .fields()
        .iter()
        .map(|f| (f.field.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("title", "is required"),
            ("created", "is required"),
            ("totes[3].tote", "tote 1 is already listed at totes[0]"),
            ("totes[3].reference", "is required"),
            ("lines[0].quantity", "must be at least 1"),
            (
                "lines[1].step",
                "must be greater than the previous line's step 1"
            ),
            ("lines[1].sku", "is required"),
            ("lines[2].totes[0]", "tote 7 is not in the tote table"),
            ("lines[2].totes[1]", "quantity must be at least 1"),
            (
                "lines[2].totes",
                "add up to 2, but the line's quantity is 1"
            ),
            ("lines[3].totes", "must say which totes the units go into"),
        ]
    );
    assert!(list.validate().is_err());

    let mut list = pick_list(2);
    list.lines[0].totes = vec![(2, 1), (2, 1)];
    list.lines[0].quantity = 3;
    list.lines.truncate(1);
    let fields: Vec<String> = list
        .validate()
        .unwrap_err()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    assert_eq!(
        fields,
        vec![
            "lines[0].totes[1]: tote 2 is listed twice",
            "lines[0].totes: add up to 2, but the line's quantity is 3",
        ]
    );

    let mut empty = pick_list(1);
    empty.lines.clear();
    assert_eq!(empty.validate().unwrap_err().fields()[0].field, "lines");
}

#[test]
fn pick_list_from_json_defaults_to_a4() {
    let json = r#"{
        "title": "Pick list PL-000001", "location": "HAM", "created": "2026-11-26 09:14",
        "lines": [{"step": 1, "bin": "A-01-01-A", "sku": "MUG-1", "name": "Mug", "quantity": 2}]
    }"#;
    let list: PickListDocument = serde_json::from_str(json).unwrap();
    assert_eq!(list.page_size, PageSize::A4);
    assert!(list.totes.is_empty() && list.lines[0].totes.is_empty());
    let pdf = Pdf::parse(&list.to_pdf().unwrap()).unwrap();
    let pages = pdf.pages();
    assert_eq!(pages[0].media_box[2], 595.276);
    assert!(!pages[0].text().iter().any(|t| t == "TOTES"));
    assert_eq!(decode_all(&pages), vec!["A-01-01-A", "MUG-1"]);
}
