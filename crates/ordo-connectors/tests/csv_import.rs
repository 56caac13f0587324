//! Order CSV files, as users bring them, parsed into channel orders.

use ordo_connectors::csv_import::{CsvFormat, ParsedFile, parse_orders};
use ordo_connectors::{ChannelOrder, ChannelOrderState};

const SHOPIFY: &[u8] = include_bytes!("fixtures/shopify_orders.csv");
const AMAZON: &[u8] = include_bytes!("fixtures/amazon_orders.txt");
const ORDO: &[u8] = include_bytes!("fixtures/ordo_orders.csv");

type Line<'a> = (&'a str, i64, &'a str, Option<&'a str>, Option<&'a str>);

fn lines(order: &ChannelOrder) -> Vec<Line<'_>> {
    order
        .input
        .lines
        .iter()
        .map(|l| {
            (
                l.sku.as_deref().unwrap(),
                l.quantity.unwrap(),
                l.unit_price.as_deref().unwrap(),
                l.discount.as_deref(),
                l.tax.as_deref(),
            )
        })
        .collect()
}

fn order<'a>(parsed: &'a ParsedFile, external_id: &str) -> &'a ChannelOrder {
    parsed
        .orders
        .iter()
        .find(|o| o.external_id == external_id)
        .unwrap_or_else(|| panic!("no order {external_id}: {:?}", parsed.errors))
}

#[test]
fn formats_are_detected_from_the_fixture_headers() {
    assert_eq!(CsvFormat::detect(SHOPIFY), Some(CsvFormat::Shopify));
    assert_eq!(CsvFormat::detect(AMAZON), Some(CsvFormat::AmazonReport));
    assert_eq!(CsvFormat::detect(ORDO), Some(CsvFormat::Ordo));
}

#[test]
fn shopify_export() {
    assert!(
        SHOPIFY.starts_with(b"\xEF\xBB\xBF"),
        "the fixture keeps its BOM"
    );
    let parsed = parse_orders(SHOPIFY, CsvFormat::Shopify, "shop");
    assert_eq!(parsed.rows, 5);

    // #1003's second item (physical line 6: #1001's note spans lines 2 and 3) has a
    // quantity that is not a number: the error names it and the whole order is skipped.
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    let e = &parsed.errors[0];
    assert_eq!(e.line, 6);
    assert_eq!(e.column.as_deref(), Some("Lineitem quantity"));
    assert!(e.reason.contains("\"two\""), "{}", e.reason);
    let ids: Vec<&str> = parsed
        .orders
        .iter()
        .map(|o| o.external_id.as_str())
        .collect();
    assert_eq!(ids, ["5001", "5002"]);

    let o = order(&parsed, "5001");
    assert_eq!(o.state, ChannelOrderState::Open);
    assert!(!o.fulfilled_by_channel);
    let input = &o.input;
    assert_eq!(input.channel.as_deref(), Some("shop"));
    assert_eq!(input.external_id.as_deref(), Some("5001"));
    assert_eq!(input.placed_at.as_deref(), Some("2024-01-02T15:11:12Z"));
    assert_eq!(input.currency.as_deref(), Some("USD"));
    // Two items; the order's tax spread over them (lines + shipping + tax = total).
    assert_eq!(
        lines(o),
        vec![
            ("MUG-1", 2, "12.50", Some("1.00"), Some("1.92")),
            ("TEA-1", 1, "20.00", Some("0.00"), Some("1.60")),
        ]
    );
    assert_eq!(o.listing_ids, vec![None, None]);
    let customer = input.customer.as_ref().unwrap();
    assert_eq!(customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(customer.name.as_deref(), Some("Ann Example"));
    assert_eq!(customer.phone.as_deref(), Some("+16175550100"));
    let ship = input.shipping_address.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("Ann Example"));
    assert_eq!(ship.line1.as_deref(), Some("12 Main St, Apt 4"));
    assert_eq!(ship.line2, None);
    assert_eq!(ship.city.as_deref(), Some("Boston"));
    assert_eq!(ship.region.as_deref(), Some("MA"));
    assert_eq!(ship.postal_code.as_deref(), Some("02134"));
    assert_eq!(ship.country.as_deref(), Some("US"));
    assert_eq!(ship.phone.as_deref(), Some("+16175550100"));
    let bill = input.billing_address.as_ref().unwrap();
    assert_eq!(bill.postal_code.as_deref(), Some("02134"));
    assert_eq!(bill.line1.as_deref(), Some("12 Main St, Apt 4"));
    let shipping = input.shipping.as_ref().unwrap();
    assert_eq!(shipping.method.as_deref(), Some("Standard Shipping"));
    assert_eq!(shipping.price.as_deref(), Some("5.00"));
    let payment = input.payment.as_ref().unwrap();
    assert_eq!(payment.status.as_deref(), Some("paid"));
    assert_eq!(payment.method.as_deref(), Some("Shopify Payments"));
    assert_eq!(payment.reference.as_deref(), Some("#1001"));
    assert_eq!(input.tags, ["vip", "gift"]);
    assert_eq!(
        input.notes.as_deref(),
        Some("Leave at the door.\nRing twice, please.")
    );

    let o = order(&parsed, "5002");
    assert_eq!(o.state, ChannelOrderState::PaymentPending);
    let input = &o.input;
    assert_eq!(input.placed_at.as_deref(), Some("2024-01-04T08:30:00Z"));
    assert_eq!(input.currency.as_deref(), Some("EUR"));
    // Prices include the tax here (8.00 + 4.90 = 12.90): the lines carry none.
    assert_eq!(lines(o), vec![("TEA-1", 1, "8.00", None, None)]);
    assert_eq!(
        input.payment.as_ref().unwrap().status.as_deref(),
        Some("pending")
    );
    let ship = input.shipping_address.as_ref().unwrap();
    assert_eq!(ship.company.as_deref(), Some("Muster, Söhne & Co. KG"));
    assert_eq!(ship.line1.as_deref(), Some("Hauptstraße 5"));
    assert_eq!(ship.city.as_deref(), Some("München"));
    assert_eq!(
        input.customer.as_ref().unwrap().phone.as_deref(),
        Some("+4989123456")
    );
    assert_eq!(
        input.shipping.as_ref().unwrap().method.as_deref(),
        Some("DHL Paket")
    );
    assert!(input.tags.is_empty());
    assert_eq!(input.notes, None);
}

#[test]
fn shopify_export_pasted_twice_gives_each_order_once() {
    let mut twice = SHOPIFY.to_vec();
    let body = &SHOPIFY[SHOPIFY.iter().position(|&b| b == b'\n').unwrap() + 1..];
    twice.extend_from_slice(body);
    let parsed = parse_orders(&twice, CsvFormat::Shopify, "shop");
    assert_eq!(parsed.rows, 10);
    assert_eq!(parsed.orders.len(), 2);
    assert_eq!(lines(order(&parsed, "5001")).len(), 2);
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
}

#[test]
fn amazon_report() {
    let parsed = parse_orders(AMAZON, CsvFormat::AmazonReport, "amazon-us");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.rows, 3);
    assert_eq!(parsed.orders.len(), 2);

    let o = order(&parsed, "111-0000001-0000001");
    assert_eq!(o.state, ChannelOrderState::Open);
    assert!(!o.fulfilled_by_channel);
    let input = &o.input;
    assert_eq!(input.channel.as_deref(), Some("amazon-us"));
    assert_eq!(input.external_id.as_deref(), Some("111-0000001-0000001"));
    assert_eq!(input.placed_at.as_deref(), Some("2024-03-05T22:18:23Z"));
    assert_eq!(input.currency.as_deref(), Some("USD"));
    // item-price is the line total: 59.97 for 3 mugs is 19.99 each.
    assert_eq!(
        lines(o),
        vec![
            ("MUG-1", 3, "19.99", Some("2.00"), Some("4.80")),
            ("TEA-1", 1, "20.00", None, Some("1.60")),
        ]
    );
    assert_eq!(
        o.listing_ids,
        vec![
            Some("B000MUG001".to_string()),
            Some("B000TEA001".to_string())
        ]
    );
    let shipping = input.shipping.as_ref().unwrap();
    // 3.99 + 1.00 − 1.00 shipping promotion.
    assert_eq!(shipping.price.as_deref(), Some("3.99"));
    assert_eq!(shipping.method.as_deref(), Some("Expedited"));
    let customer = input.customer.as_ref().unwrap();
    assert_eq!(
        customer.email.as_deref(),
        Some("x7k2m9q4r1@marketplace.amazon.com")
    );
    assert_eq!(customer.name.as_deref(), Some("Dana Buyer"));
    let ship = input.shipping_address.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("Dana Buyer"));
    assert_eq!(ship.line1.as_deref(), Some("500 Market St"));
    assert_eq!(ship.line2.as_deref(), Some("Suite 200, Building B"));
    assert_eq!(ship.city.as_deref(), Some("San Francisco"));
    assert_eq!(ship.region.as_deref(), Some("CA"));
    assert_eq!(ship.postal_code.as_deref(), Some("94105"));
    assert_eq!(ship.country.as_deref(), Some("US"));
    assert_eq!(ship.phone.as_deref(), Some("+1 415-555-0100"));
    assert_eq!(
        input.payment.as_ref().unwrap().status.as_deref(),
        Some("paid")
    );
    assert_eq!(input.tags, ["prime"]);

    let o = order(&parsed, "111-0000002-0000002");
    assert_eq!(o.state, ChannelOrderState::Open);
    assert!(o.fulfilled_by_channel, "fulfillment-channel Amazon is FBA");
    assert_eq!(lines(o), vec![("TEA-1", 2, "20.00", None, Some("0.00"))]);
    assert_eq!(o.input.placed_at.as_deref(), Some("2024-03-06T01:02:03Z"));
    assert_eq!(
        o.input.customer.as_ref().unwrap().email.as_deref(),
        Some("111-0000002-0000002@marketplace.amazon.invalid")
    );
    assert_eq!(
        o.input.shipping.as_ref().unwrap().price.as_deref(),
        Some("0.00")
    );
    assert!(o.input.tags.is_empty());
}

#[test]
fn ordo_csv() {
    let parsed = parse_orders(ORDO, CsvFormat::Ordo, "wholesale");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.rows, 4);
    assert_eq!(parsed.orders.len(), 2);

    // Order columns on the first row only.
    let o = order(&parsed, "WEB-1001");
    assert_eq!(o.state, ChannelOrderState::Open);
    let input = &o.input;
    assert_eq!(input.channel.as_deref(), Some("wholesale"));
    assert_eq!(input.external_id.as_deref(), Some("WEB-1001"));
    assert_eq!(input.placed_at.as_deref(), Some("2026-05-01T08:00:00Z"));
    assert_eq!(input.currency.as_deref(), Some("EUR"));
    assert_eq!(
        lines(o),
        vec![
            ("MUG-1", 2, "12.50", Some("1.00"), Some("4.56")),
            ("TEA-1", 1, "8.00", None, Some("1.52")),
        ]
    );
    assert_eq!(o.listing_ids, vec![None, None]);
    let customer = input.customer.as_ref().unwrap();
    assert_eq!(customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(customer.name.as_deref(), Some("Ann Example"));
    let ship = input.shipping_address.as_ref().unwrap();
    assert_eq!(ship.line1.as_deref(), Some("Main St 1"));
    assert_eq!(ship.line2.as_deref(), Some("Back building, 2nd floor"));
    assert_eq!(ship.city.as_deref(), Some("Berlin"));
    assert_eq!(ship.region.as_deref(), Some("BE"));
    assert_eq!(ship.postal_code.as_deref(), Some("01067"));
    assert_eq!(ship.country.as_deref(), Some("DE"));
    assert_eq!(ship.phone.as_deref(), Some("+4930123456"));
    let shipping = input.shipping.as_ref().unwrap();
    assert_eq!(shipping.method.as_deref(), Some("standard"));
    assert_eq!(shipping.price.as_deref(), Some("4.90"));
    assert_eq!(
        input.payment.as_ref().unwrap().status.as_deref(),
        Some("paid")
    );
    assert_eq!(input.tags, ["gift", "vip"]);
    assert_eq!(input.notes.as_deref(), Some("Call before\ndelivery"));

    // Order columns repeated on every row; payment pending.
    let o = order(&parsed, "WEB-1002");
    assert_eq!(o.state, ChannelOrderState::PaymentPending);
    assert_eq!(o.input.placed_at.as_deref(), Some("2026-05-02T09:00:00Z"));
    assert_eq!(o.input.currency.as_deref(), Some("GBP"));
    assert_eq!(
        lines(o),
        vec![
            ("MUG-1", 1, "10.00", None, None),
            ("POT-1", 3, "15.00", None, None),
        ]
    );
    assert_eq!(
        o.input.payment.as_ref().unwrap().status.as_deref(),
        Some("pending")
    );
    assert_eq!(
        o.input.shipping.as_ref().unwrap().price.as_deref(),
        Some("0.00")
    );
    assert_eq!(o.input.notes, None);
    assert!(o.input.tags.is_empty());
}

#[test]
fn a_file_of_the_wrong_format_is_refused_on_line_one() {
    let parsed = parse_orders(ORDO, CsvFormat::Shopify, "shop");
    assert!(parsed.orders.is_empty());
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 1);
    let parsed = parse_orders(SHOPIFY, CsvFormat::AmazonReport, "amazon");
    assert!(parsed.orders.is_empty());
    assert_eq!(parsed.errors.len(), 1);
}
