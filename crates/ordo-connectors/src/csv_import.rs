//! Order CSV imports: a Shopify orders export, an Amazon order report (tab-separated) or
//! Ordo's own order CSV, parsed into [`ChannelOrder`]s for [`crate::import::import_file`].
//!
//! # What every format shares
//!
//! - Text is UTF-8 (a byte-order mark is dropped); UTF-16 with a byte-order mark is
//!   accepted, and a file that is not UTF-8 is read as Windows-1252 (what European
//!   Seller Central downloads use) unless it holds bytes Windows-1252 does not define
//!   (Shift-JIS, for instance), which refuses the file.
//! - Line ends may be LF or CRLF; quoted fields may hold delimiters, quotes (`""`) and line
//!   breaks (multi-line notes). The delimiter is a tab when the header row holds one, a
//!   semicolon when it holds more semicolons than commas (spreadsheets in European
//!   locales), else a comma. Tab-separated Amazon reports are read without quoting, as
//!   Amazon writes them (a product name may start with `"`).
//! - Columns are found by their header name, trimmed and case-insensitive, never by their
//!   position; unknown columns are ignored. A missing required column refuses the whole
//!   file with one error on line 1.
//! - Blank rows are ignored. A row with more or fewer fields than the header is refused
//!   (an unquoted delimiter would otherwise shift its values into the wrong columns).
//! - An error names the physical line (1-based, counting the line breaks inside quoted
//!   fields) where its row starts, the column as the header spells it, and the reason.
//!   Any error in a row skips that row's whole order; the other orders still parse. The
//!   one exception: an order the channel says is cancelled keeps only its valid lines
//!   instead of being skipped for a bad one, so that the cancellation still reaches Ordo
//!   (the importer needs no lines to cancel an order).
//! - Money stays the decimal string the file holds (trimmed); it is checked against the
//!   order's currency (digits, at most the currency's decimal places, not negative) but
//!   never turned into a float. Times become RFC 3339 in UTC: `2026-05-01 10:00:00 +0200`,
//!   `2017-09-23T14:18:23-07:00`, `...Z` and `... UTC` are understood; a time without a
//!   UTC offset is refused. Postal codes and phone numbers lose a leading `'` (kept by
//!   spreadsheets to protect leading zeros).
//! - Every order gets `input.channel` (the channel imported into), `input.external_id`,
//!   and one `listing_ids` entry per line.
//! - Repeated rows are dropped (a file that holds an order twice yields it once; the
//!   importer is idempotent by external id anyway): see each format for what "repeated"
//!   means.
//!
//! # Shopify orders export (`shopify`)
//!
//! One row per line item, rows of an order grouped by `Name` (`#1001`); order-level
//! columns are read from the first row of the order only. A row with an empty `Name`
//! continues the order above it. When an order's first row appears again (the file or
//! a block of it was pasted twice), that copy is ignored, as is a later block of an
//! order already read.
//!
//! Required columns: `Name`, `Currency`, `Lineitem quantity`, `Lineitem price`,
//! `Lineitem sku`. Used: `Id` (the external id; `Name` when absent or empty), `Email`,
//! `Phone`, `Financial Status`, `Fulfillment Status`, `Cancelled at`, `Created at`
//! (placed at), `Subtotal`, `Shipping` (shipping price), `Taxes`, `Total`,
//! `Discount Amount` (all checked as money), `Shipping Method`, `Payment Method`,
//! `Lineitem discount`, `Notes`, `Tags` (comma-separated), and `Shipping ...`/`Billing ...`
//! `Name`, `Company`, `Address1` (else `Street`), `Address2`, `City`, `Zip`, `Province`
//! (else `Province Name`), `Country`, `Phone`.
//!
//! State: `Cancelled at` set, or financial status `refunded`/`voided` → cancelled;
//! fulfillment status `fulfilled` → closed; financial status `pending`, `expired`,
//! `partially_paid`, `unpaid` or empty → payment pending; else open. Payment status:
//! `authorized` → authorized, the pending ones → pending, else paid. Every line needs a
//! SKU (Ordo maps it), a quantity of at least 1 and a price. The export has no tax per
//! line: when `Taxes` is set and the lines, `Shipping` and `Taxes` add up to `Total`
//! exactly (prices without tax), the tax is spread over the lines in proportion to their
//! amounts so that the order's total stays the channel's; otherwise (prices that include
//! tax, or discounts not carried by the lines) the lines carry no tax.
//!
//! # Amazon order report (`amazon`)
//!
//! Tab-separated, one row per order item, grouped by `amazon-order-id` (or `order-id` in
//! the unshipped and legacy order reports), wherever the rows are; a row whose
//! `order-item-id` was already read for its order is a repeat and is ignored (without that
//! column, a row equal to an earlier one is).
//!
//! Required columns: `amazon-order-id` or `order-id`, `purchase-date`, `sku`, `quantity`
//! or `quantity-purchased`, `currency`, `item-price`. Used: `order-item-id`,
//! `order-status`, `fulfillment-channel`, `asin` (the line's listing id), `item-tax`,
//! `item-promotion-discount` (the line's discount; the report may write it negative),
//! `shipping-price` and `ship-promotion-discount` (summed over the items into the
//! shipping price), `ship-service-level`, `buyer-email` (an anonymous
//! `<order-id>@marketplace.amazon.invalid` when absent, as the API connector does),
//! `buyer-name`, `buyer-phone-number`, `recipient-name`, `ship-address-1`..`3`,
//! `ship-city`, `ship-state`, `ship-postal-code`, `ship-country`, `ship-phone-number`,
//! `promise-date` (else `delivery-end-date`: the promised delivery day), `is-prime`
//! (`true` tags the order `prime`).
//!
//! `item-price` is the line total (unit price × quantity): the unit price is that total
//! divided by the quantity in exact integer minor units, and a total that does not divide
//! into equal unit prices in the currency is an error. An empty `item-price` (Amazon leaves
//! it blank on pending orders, like `currency` on pending and cancelled ones) leaves the
//! line without a price for the capture to flag.
//! An item with quantity 0 (cancelled on its own) is left out. State: `order-status`
//! `Pending...` → payment pending, `Cancelled`/`Canceled` → cancelled, `Shipped...` →
//! closed, anything else (or no such column, as in the unshipped orders report) → open.
//! `fulfillment-channel` `Amazon` or `AFN` marks the order fulfilled by the channel.
//!
//! # Ordo order CSV (`ordo`)
//!
//! Comma-separated, UTF-8, one row per order line. Order columns may be repeated on every
//! row of an order or given on its first row only (a later row that gives a different
//! value is an error); a row with an empty `external_id` continues the order above it.
//! Rows of an order need not be adjacent; a row equal to an earlier row of its order is a
//! repeat and is ignored (put two units on one line rather than two equal lines).
//!
//! ```text
//! external_id,placed_at,currency,email,customer_name,ship_name,ship_line1,ship_line2,ship_city,ship_region,ship_postal_code,ship_country,ship_phone,sku,quantity,unit_price,discount,tax,shipping_method,shipping_price,payment_status,tags,notes
//! WEB-1001,2026-05-01T10:00:00+02:00,EUR,ann@example.com,Ann Example,Ann Example,Main St 1,,Berlin,BE,10115,DE,,MUG-1,2,12.50,,4.75,standard,4.90,paid,"gift,vip",
//! ,,,,,,,,,,,,,TEA-1,1,8.00,1.00,,,,,,
//! ```
//!
//! | column | level | meaning |
//! |---|---|---|
//! | `external_id` | order | required: the order's id in the source system |
//! | `placed_at` | order | RFC 3339, or `YYYY-MM-DD HH:MM:SS +HHMM`; capture time when empty |
//! | `currency` | order | required: ISO 4217 code |
//! | `email`, `customer_name`, `customer_phone` | order | the customer |
//! | `ship_name`, `ship_company`, `ship_line1`, `ship_line2`, `ship_city`, `ship_region`, `ship_postal_code`, `ship_country`, `ship_phone` | order | shipping address (`ship_country`: ISO 3166-1 alpha-2) |
//! | `shipping_method`, `service_level`, `shipping_price`, `promised_by` | order | shipping (`promised_by`: `YYYY-MM-DD`) |
//! | `payment_status`, `payment_method`, `payment_reference` | order | `pending`, `authorized` or `paid` (the default); `pending` captures the order on a payment hold |
//! | `tags` | order | comma-separated |
//! | `notes` | order | free text, may span lines when quoted |
//! | `priority` | order | integer, higher is served first |
//! | `sku` | line | required: the SKU (or a SKU the channel maps) |
//! | `quantity` | line | required: integer ≥ 1 |
//! | `unit_price` | line | required: price of one unit |
//! | `discount`, `tax` | line | on the whole line |
//! | `listing_id` | line | tried when the SKU is not mapped |
//!
//! Required columns: `external_id`, `currency`, `sku`, `quantity`, `unit_price`; the other
//! columns are optional and may come in any order.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use csv::{ReaderBuilder, StringRecord};
use ordo_domain::catalog::Address;
use ordo_domain::money::{Currency, format_amount, parse_amount};
use ordo_domain::order::{
    CustomerInput, LineInput, MAX_QUANTITY, OrderInput, PaymentInput, ShippingInput,
};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use crate::model::{ChannelOrder, ChannelOrderState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Shopify,
    AmazonReport,
    Ordo,
}

impl CsvFormat {
    /// `shopify`, `amazon` or `ordo` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "shopify" => Self::Shopify,
            "amazon" => Self::AmazonReport,
            "ordo" => Self::Ordo,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
            Self::AmazonReport => "amazon",
            Self::Ordo => "ordo",
        }
    }

    /// Recognises the format from the file's header row.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        let text = decode(bytes).ok()?;
        let mut reader = reader(&text, sniff_delimiter(&text), true);
        let header = reader
            .records()
            .filter_map(Result::ok)
            .find(|r| !is_blank(r))?;
        let header = Header::new(&header);
        if header.has(SHOPIFY_SKU) || (header.has(SHOPIFY_NAME) && header.has(SHOPIFY_QUANTITY)) {
            Some(Self::Shopify)
        } else if header.has(AMAZON_ID) && header.has(AMAZON_SKU) {
            Some(Self::AmazonReport)
        } else if header.has(ORDO_ID) && header.has(ORDO_SKU) {
            Some(Self::Ordo)
        } else {
            None
        }
    }

    fn key(self) -> &'static [&'static str] {
        match self {
            Self::Shopify => SHOPIFY_NAME,
            Self::AmazonReport => AMAZON_ID,
            Self::Ordo => ORDO_ID,
        }
    }

    fn required(self) -> &'static [&'static [&'static str]] {
        match self {
            Self::Shopify => &[
                SHOPIFY_NAME,
                SHOPIFY_CURRENCY,
                SHOPIFY_QUANTITY,
                SHOPIFY_PRICE,
                SHOPIFY_SKU,
            ],
            Self::AmazonReport => &[
                AMAZON_ID,
                AMAZON_DATE,
                AMAZON_SKU,
                AMAZON_QUANTITY,
                AMAZON_CURRENCY,
                AMAZON_PRICE,
            ],
            Self::Ordo => &[ORDO_ID, ORDO_CURRENCY, ORDO_SKU, ORDO_QUANTITY, ORDO_PRICE],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based physical line where the row starts (line breaks inside quoted fields count).
    pub line: u64,
    /// The column as the file's header names it; `None` for the row as a whole.
    pub column: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub orders: Vec<ChannelOrder>,
    /// In line order.
    pub errors: Vec<RowError>,
    /// Data rows read (blank rows not counted).
    pub rows: u64,
}

// Column names, lower case; alternatives in order of preference.
const SHOPIFY_NAME: &[&str] = &["name"];
const SHOPIFY_ID: &[&str] = &["id"];
const SHOPIFY_EMAIL: &[&str] = &["email"];
const SHOPIFY_PHONE: &[&str] = &["phone"];
const SHOPIFY_FINANCIAL: &[&str] = &["financial status"];
const SHOPIFY_FULFILLMENT: &[&str] = &["fulfillment status"];
const SHOPIFY_CANCELLED: &[&str] = &["cancelled at"];
const SHOPIFY_CREATED: &[&str] = &["created at"];
const SHOPIFY_CURRENCY: &[&str] = &["currency"];
const SHOPIFY_SUBTOTAL: &[&str] = &["subtotal"];
const SHOPIFY_SHIPPING: &[&str] = &["shipping"];
const SHOPIFY_TAXES: &[&str] = &["taxes"];
const SHOPIFY_TOTAL: &[&str] = &["total"];
const SHOPIFY_DISCOUNT_AMOUNT: &[&str] = &["discount amount"];
const SHOPIFY_SHIPPING_METHOD: &[&str] = &["shipping method"];
const SHOPIFY_PAYMENT_METHOD: &[&str] = &["payment method"];
const SHOPIFY_QUANTITY: &[&str] = &["lineitem quantity"];
const SHOPIFY_PRICE: &[&str] = &["lineitem price"];
const SHOPIFY_SKU: &[&str] = &["lineitem sku"];
const SHOPIFY_LINE_DISCOUNT: &[&str] = &["lineitem discount"];
const SHOPIFY_NOTES: &[&str] = &["notes"];
const SHOPIFY_TAGS: &[&str] = &["tags"];

const AMAZON_ID: &[&str] = &["amazon-order-id", "order-id"];
const AMAZON_ITEM_ID: &[&str] = &["order-item-id"];
const AMAZON_DATE: &[&str] = &["purchase-date"];
const AMAZON_STATUS: &[&str] = &["order-status"];
const AMAZON_FULFILLMENT: &[&str] = &["fulfillment-channel"];
const AMAZON_SKU: &[&str] = &["sku"];
const AMAZON_ASIN: &[&str] = &["asin"];
const AMAZON_QUANTITY: &[&str] = &["quantity", "quantity-purchased"];
const AMAZON_CURRENCY: &[&str] = &["currency"];
const AMAZON_PRICE: &[&str] = &["item-price"];
const AMAZON_TAX: &[&str] = &["item-tax"];
const AMAZON_DISCOUNT: &[&str] = &["item-promotion-discount"];
const AMAZON_SHIPPING: &[&str] = &["shipping-price"];
const AMAZON_SHIP_DISCOUNT: &[&str] = &["ship-promotion-discount"];
const AMAZON_SERVICE: &[&str] = &["ship-service-level"];
const AMAZON_EMAIL: &[&str] = &["buyer-email"];
const AMAZON_BUYER: &[&str] = &["buyer-name"];
const AMAZON_BUYER_PHONE: &[&str] = &["buyer-phone-number"];
const AMAZON_RECIPIENT: &[&str] = &["recipient-name"];
const AMAZON_LINE1: &[&str] = &["ship-address-1"];
const AMAZON_LINE2: &[&str] = &["ship-address-2"];
const AMAZON_LINE3: &[&str] = &["ship-address-3"];
const AMAZON_CITY: &[&str] = &["ship-city"];
const AMAZON_STATE: &[&str] = &["ship-state"];
const AMAZON_POSTAL: &[&str] = &["ship-postal-code"];
const AMAZON_COUNTRY: &[&str] = &["ship-country"];
const AMAZON_PHONE: &[&str] = &["ship-phone-number"];
const AMAZON_PROMISE: &[&str] = &["promise-date", "delivery-end-date"];
const AMAZON_PRIME: &[&str] = &["is-prime"];

const ORDO_ID: &[&str] = &["external_id"];
const ORDO_PLACED: &[&str] = &["placed_at"];
const ORDO_CURRENCY: &[&str] = &["currency"];
const ORDO_EMAIL: &[&str] = &["email"];
const ORDO_CUSTOMER: &[&str] = &["customer_name"];
const ORDO_CUSTOMER_PHONE: &[&str] = &["customer_phone"];
const ORDO_SHIP_NAME: &[&str] = &["ship_name"];
const ORDO_SHIP_COMPANY: &[&str] = &["ship_company"];
const ORDO_SHIP_LINE1: &[&str] = &["ship_line1"];
const ORDO_SHIP_LINE2: &[&str] = &["ship_line2"];
const ORDO_SHIP_CITY: &[&str] = &["ship_city"];
const ORDO_SHIP_REGION: &[&str] = &["ship_region"];
const ORDO_SHIP_POSTAL: &[&str] = &["ship_postal_code"];
const ORDO_SHIP_COUNTRY: &[&str] = &["ship_country"];
const ORDO_SHIP_PHONE: &[&str] = &["ship_phone"];
const ORDO_SHIPPING_METHOD: &[&str] = &["shipping_method"];
const ORDO_SERVICE_LEVEL: &[&str] = &["service_level"];
const ORDO_SHIPPING_PRICE: &[&str] = &["shipping_price"];
const ORDO_PROMISED: &[&str] = &["promised_by"];
const ORDO_PAYMENT_STATUS: &[&str] = &["payment_status"];
const ORDO_PAYMENT_METHOD: &[&str] = &["payment_method"];
const ORDO_PAYMENT_REFERENCE: &[&str] = &["payment_reference"];
const ORDO_TAGS: &[&str] = &["tags"];
const ORDO_NOTES: &[&str] = &["notes"];
const ORDO_PRIORITY: &[&str] = &["priority"];
const ORDO_SKU: &[&str] = &["sku"];
const ORDO_QUANTITY: &[&str] = &["quantity"];
const ORDO_PRICE: &[&str] = &["unit_price"];
const ORDO_DISCOUNT: &[&str] = &["discount"];
const ORDO_TAX: &[&str] = &["tax"];
const ORDO_LISTING: &[&str] = &["listing_id"];

/// The order-level columns of the Ordo CSV (every column but `external_id` and the lines').
const ORDO_ORDER_COLUMNS: &[&[&str]] = &[
    ORDO_PLACED,
    ORDO_CURRENCY,
    ORDO_EMAIL,
    ORDO_CUSTOMER,
    ORDO_CUSTOMER_PHONE,
    ORDO_SHIP_NAME,
    ORDO_SHIP_COMPANY,
    ORDO_SHIP_LINE1,
    ORDO_SHIP_LINE2,
    ORDO_SHIP_CITY,
    ORDO_SHIP_REGION,
    ORDO_SHIP_POSTAL,
    ORDO_SHIP_COUNTRY,
    ORDO_SHIP_PHONE,
    ORDO_SHIPPING_METHOD,
    ORDO_SERVICE_LEVEL,
    ORDO_SHIPPING_PRICE,
    ORDO_PROMISED,
    ORDO_PAYMENT_STATUS,
    ORDO_PAYMENT_METHOD,
    ORDO_PAYMENT_REFERENCE,
    ORDO_TAGS,
    ORDO_NOTES,
    ORDO_PRIORITY,
];

/// Parses a whole file; never fails as a whole (a file it cannot read at all comes back
/// with one error and no orders).
pub fn parse_orders(bytes: &[u8], format: CsvFormat, channel: &str) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    let text = match decode(bytes) {
        Ok(text) => text,
        Err(e) => {
            parsed.errors.push(e);
            return parsed;
        }
    };
    let lines = LineIndex::new(&text);
    let delimiter = sniff_delimiter(&text);
    let quoting = !(format == CsvFormat::AmazonReport && delimiter == b'\t');
    let mut records = reader(&text, delimiter, quoting).into_records();

    let mut header = None;
    for result in records.by_ref() {
        match result {
            Ok(r) if is_blank(&r) => continue,
            Ok(r) => {
                header = Some(Header::new(&r));
                break;
            }
            Err(e) => {
                parsed.errors.push(RowError {
                    line: 1,
                    column: None,
                    reason: format!("the header row cannot be read: {e}"),
                });
                return parsed;
            }
        }
    }
    let Some(header) = header else {
        parsed.errors.push(RowError {
            line: 1,
            column: None,
            reason: "the file is empty: a header row is required".into(),
        });
        return parsed;
    };
    let missing: Vec<&[&str]> = format
        .required()
        .iter()
        .copied()
        .filter(|names| !header.has(names))
        .collect();
    if let Some(first_missing) = missing.first() {
        let names: Vec<String> = missing.iter().map(|names| names.join(" or ")).collect();
        parsed.errors.push(RowError {
            line: 1,
            column: Some(first_missing[0].to_string()),
            reason: format!(
                "the header lacks required column{} {} for a {} file",
                if missing.len() > 1 { "s" } else { "" },
                names.join(", "),
                format.as_str()
            ),
        });
        return parsed;
    }

    let key_names = format.key();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    // Shopify: skipping the repeated copy of the current order's rows.
    let mut repeating = false;
    for result in records {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(1, |p| lines.record_start(p.byte() as usize));
                parsed.rows += 1;
                parsed.errors.push(RowError {
                    line,
                    column: None,
                    reason: format!("the row cannot be read: {e}"),
                });
                continue;
            }
        };
        if is_blank(&record) {
            continue;
        }
        parsed.rows += 1;
        let line = record
            .position()
            .map_or(1, |p| lines.record_start(p.byte() as usize));
        let row = Row { line, record };
        let cells = Cells {
            header: &header,
            row: &row,
        };
        let key = cells.text(key_names).map(str::to_string);
        let index = match key {
            Some(key) => {
                let contiguous = current.is_some_and(|i| groups[i].key == key);
                if format == CsvFormat::Shopify && !contiguous {
                    repeating = false;
                    if let Some(&i) = by_key.get(&key) {
                        // A later block of an order already read: a repeat.
                        current = Some(i);
                        repeating = true;
                        continue;
                    }
                }
                if contiguous {
                    current.expect("contiguous")
                } else {
                    *by_key.entry(key.clone()).or_insert_with(|| {
                        groups.push(Group::new(key));
                        groups.len() - 1
                    })
                }
            }
            None if format != CsvFormat::AmazonReport && current.is_some() => {
                current.expect("checked")
            }
            None => {
                parsed.errors.push(cells.error(key_names, "is empty"));
                continue;
            }
        };
        current = Some(index);
        let group = &mut groups[index];
        match format {
            CsvFormat::Shopify => {
                if repeating {
                    continue;
                }
                if group.rows.first().is_some_and(|r| r.record == row.record) {
                    repeating = true;
                    continue;
                }
            }
            CsvFormat::AmazonReport => {
                if let Some(id) = cells.text(AMAZON_ITEM_ID) {
                    if !group.item_ids.insert(id.to_string()) {
                        continue;
                    }
                } else if group.rows.iter().any(|r| r.record == row.record) {
                    continue;
                }
            }
            CsvFormat::Ordo => {
                if group.rows.iter().any(|r| r.record == row.record) {
                    continue;
                }
            }
        }
        if row.record.len() != header.len() {
            group.errors.push(RowError {
                line: row.line,
                column: None,
                reason: format!(
                    "has {} fields where the header has {}: a field holding the delimiter must be quoted",
                    row.record.len(),
                    header.len()
                ),
            });
            continue;
        }
        group.rows.push(row);
    }

    for group in groups {
        if !group.errors.is_empty() || group.rows.is_empty() {
            parsed.errors.extend(group.errors);
            continue;
        }
        let built = match format {
            CsvFormat::Shopify => shopify_order(&header, &group.rows),
            CsvFormat::AmazonReport => amazon_order(&header, &group.key, &group.rows),
            CsvFormat::Ordo => ordo_order(&header, &group.key, &group.rows),
        };
        match built {
            Ok(mut order) => {
                order.input.channel = Some(channel.to_string());
                order.input.external_id = Some(order.external_id.clone());
                parsed.orders.push(order);
            }
            Err(errors) => parsed.errors.extend(errors),
        }
    }
    parsed.errors.sort_by_key(|e| e.line);
    parsed
}

// ---------------------------------------------------------------------------------------
// Reading

/// Text of the file, or the reason it cannot be read.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, RowError> {
    let refuse = |offset: usize, what: &str| RowError {
        line: 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64,
        column: None,
        reason: format!("the file is not {what} text; save it as UTF-8"),
    };
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|e| refuse(3 + e.valid_up_to(), "UTF-8"));
    }
    for (bom, little) in [(b"\xFF\xFE", true), (b"\xFE\xFF", false)] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let units = rest.chunks_exact(2).map(|p| {
                if little {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            });
            return char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map(Cow::Owned)
                .map_err(|_| RowError {
                    line: 1,
                    column: None,
                    reason: "the file is not valid UTF-16 text; save it as UTF-8".into(),
                });
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(e) => {
            // Bytes Windows-1252 leaves undefined mean another encoding (Shift-JIS...).
            if let Some(at) = bytes
                .iter()
                .position(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D))
            {
                return Err(refuse(at.min(e.valid_up_to()), "UTF-8 or Windows-1252"));
            }
            Ok(Cow::Owned(bytes.iter().map(|&b| windows_1252(b)).collect()))
        }
    }
}

fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}',
        '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}',
        '\u{178}',
    ];
    match b {
        0x80..=0x9F => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    if first.contains('\t') {
        b'\t'
    } else if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    }
}

fn reader(text: &str, delimiter: u8, quoting: bool) -> csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(quoting)
        .from_reader(text.as_bytes())
}

fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

/// Physical line numbers from byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        LineIndex { text, starts }
    }

    /// The line of the record the reader reports at `offset`: the reader's position is
    /// where the previous record stopped, before its line break and any blank lines.
    fn record_start(&self, offset: usize) -> u64 {
        let bytes = self.text.as_bytes();
        let mut at = offset.min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        self.starts.partition_point(|&s| s <= at) as u64
    }
}

struct Header {
    /// Names as the file writes them (trimmed).
    written: Vec<String>,
    /// Lower-case name → first column with it.
    index: HashMap<String, usize>,
}

impl Header {
    fn new(record: &StringRecord) -> Self {
        let written: Vec<String> = record
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let mut index = HashMap::new();
        for (i, name) in written.iter().enumerate() {
            index.entry(name.to_lowercase()).or_insert(i);
        }
        Header { written, index }
    }

    fn len(&self) -> usize {
        self.written.len()
    }

    fn position(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.index.get(*n).copied())
    }

    fn has(&self, names: &[&str]) -> bool {
        self.position(names).is_some()
    }

    /// The column's name as the file spells it (the first alternative when absent).
    fn column(&self, names: &[&str]) -> String {
        self.position(names)
            .map_or_else(|| names[0].to_string(), |i| self.written[i].clone())
    }
}

struct Row {
    line: u64,
    record: StringRecord,
}

struct Group {
    key: String,
    rows: Vec<Row>,
    errors: Vec<RowError>,
    item_ids: HashSet<String>,
}

impl Group {
    fn new(key: String) -> Self {
        Group {
            key,
            rows: Vec::new(),
            errors: Vec::new(),
            item_ids: HashSet::new(),
        }
    }
}

#[derive(Clone, Copy)]
struct Cells<'a> {
    header: &'a Header,
    row: &'a Row,
}

impl<'a> Cells<'a> {
    fn raw(&self, names: &[&str]) -> &'a str {
        self.header
            .position(names)
            .and_then(|i| self.row.record.get(i))
            .unwrap_or("")
    }

    /// The trimmed value, `None` when the column is absent or the cell empty.
    fn text(&self, names: &[&str]) -> Option<&'a str> {
        Some(self.raw(names).trim()).filter(|t| !t.is_empty())
    }

    fn string(&self, names: &[&str]) -> Option<String> {
        self.text(names).map(str::to_string)
    }

    /// Postal codes and phones: without the `'` spreadsheets keep leading zeros with.
    fn unquoted(&self, names: &[&str]) -> Option<String> {
        self.text(names)
            .map(|t| t.strip_prefix('\'').unwrap_or(t).trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// Multi-line text with its line breaks as `\n`.
    fn note(&self, names: &[&str]) -> Option<String> {
        self.text(names).map(|t| t.replace("\r\n", "\n"))
    }

    fn error(&self, names: &[&str], reason: impl Into<String>) -> RowError {
        RowError {
            line: self.row.line,
            column: Some(self.header.column(names)),
            reason: reason.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values

fn currency(c: Cells, names: &[&str], errors: &mut Vec<RowError>) -> Option<Currency> {
    let Some(code) = c.text(names) else {
        errors.push(c.error(names, "is empty: the order's currency is required"));
        return None;
    };
    let found = Currency::parse(&code.to_ascii_uppercase());
    if found.is_none() {
        errors.push(c.error(
            names,
            format!("{code:?} is not an ISO 4217 currency code such as EUR"),
        ));
    }
    found
}

fn is_decimal(text: &str) -> bool {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    (!whole.is_empty() || !frac.is_empty())
        && !text.ends_with('.')
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A money cell, checked against the currency (or as a plain decimal when the currency
/// itself is wrong); `None` when empty or wrong.
fn money(
    c: Cells,
    names: &[&str],
    currency: Option<Currency>,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    let text = c.text(names)?;
    check_money(c, names, text, currency, errors).then(|| text.to_string())
}

fn check_money(
    c: Cells,
    names: &[&str],
    text: &str,
    currency: Option<Currency>,
    errors: &mut Vec<RowError>,
) -> bool {
    let problem = match currency {
        Some(cur) => parse_amount(text, cur).err().map(|e| e.to_string()),
        None => (!is_decimal(text)).then(|| "must be a decimal string such as \"12.50\"".into()),
    };
    match problem {
        Some(p) => {
            errors.push(c.error(names, format!("{text:?} {p}")));
            false
        }
        None => true,
    }
}

fn minor(text: &str, currency: Currency) -> i64 {
    parse_amount(text, currency).unwrap_or(0)
}

/// A quantity cell: a whole number from `min` to Ordo's maximum.
fn quantity(c: Cells, names: &[&str], min: i64, errors: &mut Vec<RowError>) -> Option<i64> {
    let Some(text) = c.text(names) else {
        errors.push(c.error(names, "is empty: a quantity is required"));
        return None;
    };
    let parsed = Some(text)
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|q| (min..=MAX_QUANTITY).contains(q));
    if parsed.is_none() {
        errors.push(c.error(
            names,
            format!("{text:?} must be a whole number from {min} to {MAX_QUANTITY}"),
        ));
    }
    parsed
}

/// A time cell as RFC 3339 in UTC; `None` when empty or wrong.
fn timestamp(c: Cells, names: &[&str], errors: &mut Vec<RowError>) -> Option<String> {
    let text = c.text(names)?;
    match parse_time(text).and_then(|t| {
        t.to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|_| "is out of range")
    }) {
        Ok(t) => Some(t),
        Err(reason) => {
            errors.push(c.error(names, format!("{text:?} {reason}")));
            None
        }
    }
}

const TIME_EXPECTED: &str = "must be a date and time with a UTC offset, such as 2026-05-01 10:00:00 +0200 or 2026-05-01T10:00:00Z";

/// `YYYY-MM-DD`, `T` or a space, `HH:MM[:SS[.fraction]]`, then an optional space and `Z`,
/// `UTC`, `GMT`, `+HH:MM`, `+HHMM` or `+HH`.
fn parse_time(text: &str) -> Result<OffsetDateTime, &'static str> {
    let text = text.trim();
    let date = text.get(..10).and_then(parse_date).ok_or(TIME_EXPECTED)?;
    let rest = text.get(10..).ok_or(TIME_EXPECTED)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or(TIME_EXPECTED)?
        .trim_start();
    let clock_end = rest
        .find(|ch: char| !(ch.is_ascii_digit() || ch == ':' || ch == '.'))
        .unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(clock_end);
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts.iter().any(|p| p.len() != 2)
        || fraction.len() > 9
        || (!fraction.is_empty() && parts.len() != 3)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(TIME_EXPECTED);
    }
    let number = |s: &str| s.parse::<u8>().map_err(|_| TIME_EXPECTED);
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}")
            .parse::<u32>()
            .map_err(|_| TIME_EXPECTED)?
    };
    let time = Time::from_hms_nano(
        number(parts[0])?,
        number(parts[1])?,
        parts.get(2).map_or(Ok(0), |s| number(s))?,
        nanos,
    )
    .map_err(|_| TIME_EXPECTED)?;
    let zone = zone.trim();
    let offset = match zone {
        "" => return Err("has no UTC offset; add one such as +0200 or Z"),
        "Z" | "z" | "UTC" | "GMT" => UtcOffset::UTC,
        _ => {
            let (sign, digits) = match zone.as_bytes()[0] {
                b'+' => (1i8, &zone[1..]),
                b'-' => (-1i8, &zone[1..]),
                _ => return Err(TIME_EXPECTED),
            };
            let digits = digits.replacen(':', "", 1);
            if !matches!(digits.len(), 2 | 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TIME_EXPECTED);
            }
            let hours = number(&digits[..2])? as i8;
            let minutes = if digits.len() == 4 {
                number(&digits[2..])? as i8
            } else {
                0
            };
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| TIME_EXPECTED)?
        }
    };
    Ok(date.with_time(time).assume_offset(offset))
}

/// `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !text
            .bytes()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    let month = Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(text[..4].parse().ok()?, month, text[8..].parse().ok()?).ok()
}

/// A date cell (`YYYY-MM-DD`, or a time whose UTC date is taken) as `YYYY-MM-DD`.
fn day(c: Cells, names: &[&str], errors: &mut Vec<RowError>) -> Option<String> {
    let text = c.text(names)?;
    let date = parse_date(text).or_else(|| {
        parse_time(text)
            .ok()
            .map(|t| t.to_offset(UtcOffset::UTC).date())
    });
    match date {
        Some(d) => Some(format!(
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )),
        None => {
            errors.push(c.error(names, format!("{text:?} must be a date such as 2026-12-01")));
            None
        }
    }
}

fn tags(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn any_set(address: &Address) -> bool {
    [
        &address.name,
        &address.company,
        &address.line1,
        &address.line2,
        &address.city,
        &address.region,
        &address.postal_code,
        &address.country,
        &address.phone,
    ]
    .iter()
    .any(|v| v.is_some())
}

/// Lines kept and the errors of an order: a cancelled order keeps its valid lines only.
fn settle(
    state: ChannelOrderState,
    mut errors: Vec<RowError>,
    line_errors: Vec<RowError>,
) -> Result<(), Vec<RowError>> {
    if state != ChannelOrderState::Cancelled {
        errors.extend(line_errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------
// Shopify

fn shopify_address(c: Cells, prefix: &str) -> Option<Address> {
    let col = |suffix: &str| format!("{prefix} {suffix}");
    let text = |suffix: &str| c.string(&[col(suffix).as_str()]);
    let unquoted = |suffix: &str| c.unquoted(&[col(suffix).as_str()]);
    let address = Address {
        name: text("name"),
        company: text("company"),
        line1: text("address1").or_else(|| text("street")),
        line2: text("address2"),
        city: text("city"),
        region: text("province").or_else(|| text("province name")),
        postal_code: unquoted("zip"),
        country: text("country"),
        phone: unquoted("phone"),
        latitude: None,
        longitude: None,
    };
    any_set(&address).then_some(address)
}

fn shopify_order(header: &Header, rows: &[Row]) -> Result<ChannelOrder, Vec<RowError>> {
    let first = Cells {
        header,
        row: &rows[0],
    };
    let mut errors = Vec::new();
    let name = first.string(SHOPIFY_NAME).unwrap_or_default();
    let external_id = first.string(SHOPIFY_ID).unwrap_or_else(|| name.clone());
    let cur = currency(first, SHOPIFY_CURRENCY, &mut errors);
    let placed_at = timestamp(first, SHOPIFY_CREATED, &mut errors);
    let financial = first
        .text(SHOPIFY_FINANCIAL)
        .unwrap_or("")
        .to_ascii_lowercase();
    let fulfillment = first
        .text(SHOPIFY_FULFILLMENT)
        .unwrap_or("")
        .to_ascii_lowercase();
    let pending = matches!(
        financial.as_str(),
        "" | "pending" | "expired" | "partially_paid" | "unpaid"
    );
    let state = if first.text(SHOPIFY_CANCELLED).is_some()
        || matches!(financial.as_str(), "refunded" | "voided")
    {
        ChannelOrderState::Cancelled
    } else if fulfillment == "fulfilled" {
        ChannelOrderState::Closed
    } else if pending {
        ChannelOrderState::PaymentPending
    } else {
        ChannelOrderState::Open
    };
    let payment_status = if financial == "authorized" {
        "authorized"
    } else if pending {
        "pending"
    } else {
        "paid"
    };
    let shipping_price = money(first, SHOPIFY_SHIPPING, cur, &mut errors);
    let taxes = money(first, SHOPIFY_TAXES, cur, &mut errors);
    let total = money(first, SHOPIFY_TOTAL, cur, &mut errors);
    money(first, SHOPIFY_SUBTOTAL, cur, &mut errors);
    money(first, SHOPIFY_DISCOUNT_AMOUNT, cur, &mut errors);

    let mut lines = Vec::new();
    let mut line_errors = Vec::new();
    for row in rows {
        let c = Cells { header, row };
        let before = line_errors.len();
        let sku = c.string(SHOPIFY_SKU);
        if sku.is_none() {
            line_errors.push(c.error(
                SHOPIFY_SKU,
                "is empty: every line item needs a SKU for Ordo to map",
            ));
        }
        let quantity = quantity(c, SHOPIFY_QUANTITY, 1, &mut line_errors);
        let unit_price = money(c, SHOPIFY_PRICE, cur, &mut line_errors);
        if c.text(SHOPIFY_PRICE).is_none() {
            line_errors.push(c.error(SHOPIFY_PRICE, "is empty: a price is required"));
        }
        let discount = money(c, SHOPIFY_LINE_DISCOUNT, cur, &mut line_errors);
        if line_errors.len() == before {
            lines.push(LineInput {
                sku,
                quantity,
                unit_price,
                discount,
                tax: None,
            });
        }
    }
    settle(state, errors, line_errors)?;

    if let (Some(cur), Some(taxes), Some(total)) = (cur, &taxes, &total) {
        spread_tax(&mut lines, cur, taxes, total, shipping_price.as_deref());
    }
    let shipping_address = shopify_address(first, "shipping");
    let billing_address = shopify_address(first, "billing");
    let customer = CustomerInput {
        email: first.string(SHOPIFY_EMAIL),
        name: billing_address
            .as_ref()
            .and_then(|a| a.name.clone())
            .or_else(|| shipping_address.as_ref().and_then(|a| a.name.clone())),
        phone: first
            .unquoted(SHOPIFY_PHONE)
            .or_else(|| billing_address.as_ref().and_then(|a| a.phone.clone()))
            .or_else(|| shipping_address.as_ref().and_then(|a| a.phone.clone())),
    };
    let listing_ids = vec![None; lines.len()];
    let input = OrderInput {
        channel: None,
        external_id: None,
        placed_at,
        currency: cur.map(|c| c.code.to_string()),
        customer: Some(customer),
        shipping_address,
        billing_address,
        lines,
        shipping: Some(ShippingInput {
            method: first.string(SHOPIFY_SHIPPING_METHOD),
            service_level: None,
            price: shipping_price,
            promised_by: None,
        }),
        payment: Some(PaymentInput {
            status: Some(payment_status.into()),
            method: first.string(SHOPIFY_PAYMENT_METHOD),
            reference: Some(name),
        }),
        tags: tags(first.text(SHOPIFY_TAGS)),
        notes: first.note(SHOPIFY_NOTES),
        priority: None,
    };
    Ok(ChannelOrder {
        external_id,
        state,
        input,
        listing_ids,
        fulfilled_by_channel: false,
    })
}

/// Spreads an order-level tax over the lines in proportion to their amounts (the last
/// cent to the largest line), when lines, shipping and tax add up to the order's total.
fn spread_tax(
    lines: &mut [LineInput],
    cur: Currency,
    taxes: &str,
    total: &str,
    shipping: Option<&str>,
) {
    let taxes = minor(taxes, cur);
    let amounts: Vec<i128> = lines
        .iter()
        .map(|l| {
            let price = l.unit_price.as_deref().map_or(0, |p| minor(p, cur)) as i128;
            let discount = l.discount.as_deref().map_or(0, |d| minor(d, cur)) as i128;
            price * l.quantity.unwrap_or(0) as i128 - discount
        })
        .collect();
    let net: i128 = amounts.iter().sum();
    let shipping = shipping.map_or(0, |s| minor(s, cur)) as i128;
    if taxes == 0 || lines.is_empty() || net + shipping + taxes as i128 != minor(total, cur) as i128
    {
        return;
    }
    let mut shares: Vec<i128> = amounts
        .iter()
        .map(|a| {
            if net > 0 {
                taxes as i128 * (*a).max(0) / net
            } else {
                0
            }
        })
        .collect();
    let largest = (0..amounts.len())
        .max_by_key(|&i| (amounts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    shares[largest] += taxes as i128 - shares.iter().sum::<i128>();
    for (line, share) in lines.iter_mut().zip(shares) {
        line.tax = Some(format_amount(share as i64, cur.exponent));
    }
}

// ---------------------------------------------------------------------------------------
// Amazon

fn amazon_state(status: &str) -> ChannelOrderState {
    let status = status.trim().to_ascii_lowercase();
    if status.starts_with("pending") {
        ChannelOrderState::PaymentPending
    } else if status == "cancelled" || status == "canceled" {
        ChannelOrderState::Cancelled
    } else if status.starts_with("shipped") {
        ChannelOrderState::Closed
    } else {
        ChannelOrderState::Open
    }
}

/// Amazon may write discounts as negative amounts: the discount is their size.
fn amazon_discount(
    c: Cells,
    names: &[&str],
    cur: Option<Currency>,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    let text = c.text(names)?;
    let size = text.strip_prefix('-').unwrap_or(text).trim();
    check_money(c, names, size, cur, errors).then(|| size.to_string())
}

fn amazon_order(header: &Header, id: &str, rows: &[Row]) -> Result<ChannelOrder, Vec<RowError>> {
    let first = Cells {
        header,
        row: &rows[0],
    };
    let mut errors = Vec::new();
    let state = amazon_state(first.raw(AMAZON_STATUS));
    // Pending and cancelled orders come without prices, often without a currency too.
    let cur = if first.text(AMAZON_CURRENCY).is_none()
        && matches!(
            state,
            ChannelOrderState::PaymentPending | ChannelOrderState::Cancelled
        ) {
        None
    } else {
        currency(first, AMAZON_CURRENCY, &mut errors)
    };
    let placed_at = timestamp(first, AMAZON_DATE, &mut errors);
    if first.text(AMAZON_DATE).is_none() {
        errors.push(first.error(AMAZON_DATE, "is empty: the purchase date is required"));
    }
    let promised_by = day(first, AMAZON_PROMISE, &mut errors);
    let fulfilled_by_channel = matches!(
        first
            .text(AMAZON_FULFILLMENT)
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str(),
        "amazon" | "afn"
    );

    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    let mut line_errors = Vec::new();
    let mut shipping: i64 = 0;
    let mut shipping_seen = false;
    for row in rows {
        let c = Cells { header, row };
        let before = line_errors.len();
        let Some(quantity) = quantity(c, AMAZON_QUANTITY, 0, &mut line_errors) else {
            continue;
        };
        if quantity == 0 {
            // Cancelled on its own: nothing to ship or charge.
            continue;
        }
        let sku = c.string(AMAZON_SKU);
        if sku.is_none() {
            line_errors.push(c.error(
                AMAZON_SKU,
                "is empty: every item needs a SKU for Ordo to map",
            ));
        }
        let unit_price = money(c, AMAZON_PRICE, cur, &mut line_errors).and_then(|total| {
            let cur = cur?;
            let minor_total = minor(&total, cur);
            if minor_total % quantity == 0 {
                Some(format_amount(minor_total / quantity, cur.exponent))
            } else {
                line_errors.push(c.error(
                    AMAZON_PRICE,
                    format!(
                        "{total:?} is the total of {quantity} units and does not divide into equal unit prices in {}",
                        cur.code
                    ),
                ));
                None
            }
        });
        let tax = money(c, AMAZON_TAX, cur, &mut line_errors);
        let discount = amazon_discount(c, AMAZON_DISCOUNT, cur, &mut line_errors);
        let ship = money(c, AMAZON_SHIPPING, cur, &mut line_errors);
        let ship_discount = amazon_discount(c, AMAZON_SHIP_DISCOUNT, cur, &mut line_errors);
        if line_errors.len() > before {
            continue;
        }
        if let Some(cur) = cur {
            if let Some(s) = &ship {
                shipping += minor(s, cur);
                shipping_seen = true;
            }
            if let Some(d) = &ship_discount {
                shipping -= minor(d, cur);
            }
        }
        lines.push(LineInput {
            sku,
            quantity: Some(quantity),
            unit_price,
            discount,
            tax,
        });
        listing_ids.push(c.string(AMAZON_ASIN));
    }
    settle(state, errors, line_errors)?;

    let line2 = [first.text(AMAZON_LINE2), first.text(AMAZON_LINE3)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let shipping_address = Address {
        name: first.string(AMAZON_RECIPIENT),
        company: None,
        line1: first.string(AMAZON_LINE1),
        line2: Some(line2).filter(|l| !l.is_empty()),
        city: first.string(AMAZON_CITY),
        region: first.string(AMAZON_STATE),
        postal_code: first.unquoted(AMAZON_POSTAL),
        country: first.string(AMAZON_COUNTRY),
        phone: first.unquoted(AMAZON_PHONE),
        latitude: None,
        longitude: None,
    };
    let customer = CustomerInput {
        // As the API connector does: the order id keeps an anonymous buyer distinct
        // without inventing a reachable address.
        email: first
            .string(AMAZON_EMAIL)
            .or_else(|| Some(format!("{id}@marketplace.amazon.invalid"))),
        name: first
            .string(AMAZON_BUYER)
            .or_else(|| shipping_address.name.clone()),
        phone: first
            .unquoted(AMAZON_BUYER_PHONE)
            .or_else(|| shipping_address.phone.clone()),
    };
    let service = first.string(AMAZON_SERVICE);
    let prime = first
        .text(AMAZON_PRIME)
        .is_some_and(|p| p.eq_ignore_ascii_case("true"));
    let input = OrderInput {
        channel: None,
        external_id: None,
        placed_at,
        currency: cur.map(|c| c.code.to_string()),
        customer: Some(customer),
        shipping_address: any_set(&shipping_address).then_some(shipping_address),
        billing_address: None,
        lines,
        shipping: Some(ShippingInput {
            service_level: service.as_ref().map(|s| s.to_lowercase()),
            method: service,
            price: match cur {
                Some(cur) if shipping_seen => Some(format_amount(shipping.max(0), cur.exponent)),
                _ => None,
            },
            promised_by,
        }),
        payment: Some(PaymentInput {
            status: Some(
                if state == ChannelOrderState::PaymentPending {
                    "pending"
                } else {
                    "paid"
                }
                .into(),
            ),
            method: None,
            reference: None,
        }),
        tags: if prime {
            vec!["prime".into()]
        } else {
            Vec::new()
        },
        notes: None,
        priority: None,
    };
    Ok(ChannelOrder {
        external_id: id.to_string(),
        state,
        input,
        listing_ids,
        fulfilled_by_channel,
    })
}

// ---------------------------------------------------------------------------------------
// Ordo

fn ordo_order(header: &Header, id: &str, rows: &[Row]) -> Result<ChannelOrder, Vec<RowError>> {
    let first = Cells {
        header,
        row: &rows[0],
    };
    let mut errors = Vec::new();
    for row in &rows[1..] {
        let c = Cells { header, row };
        for names in ORDO_ORDER_COLUMNS {
            if let Some(value) = c.text(names)
                && first.text(names) != Some(value)
            {
                errors.push(c.error(
                    names,
                    format!(
                        "{value:?} differs from the order's first row (line {}); order columns may be repeated but not changed",
                        first.row.line
                    ),
                ));
            }
        }
    }
    let cur = currency(first, ORDO_CURRENCY, &mut errors);
    let placed_at = timestamp(first, ORDO_PLACED, &mut errors);
    let shipping_price = money(first, ORDO_SHIPPING_PRICE, cur, &mut errors);
    let promised_by = day(first, ORDO_PROMISED, &mut errors);
    let payment_status = match first.text(ORDO_PAYMENT_STATUS).map(str::to_ascii_lowercase) {
        None => "paid".to_string(),
        Some(s) if matches!(s.as_str(), "pending" | "authorized" | "paid") => s,
        Some(s) => {
            errors.push(first.error(
                ORDO_PAYMENT_STATUS,
                format!("{s:?} must be one of pending, authorized, paid"),
            ));
            "paid".to_string()
        }
    };
    let priority = first.text(ORDO_PRIORITY).and_then(|p| {
        let parsed = p.parse::<i32>().ok();
        if parsed.is_none() {
            errors.push(first.error(ORDO_PRIORITY, format!("{p:?} must be an integer")));
        }
        parsed
    });
    let state = if payment_status == "pending" {
        ChannelOrderState::PaymentPending
    } else {
        ChannelOrderState::Open
    };

    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    for row in rows {
        let c = Cells { header, row };
        let sku = c.string(ORDO_SKU);
        if sku.is_none() {
            errors.push(c.error(ORDO_SKU, "is empty: every line needs a SKU"));
        }
        let quantity = quantity(c, ORDO_QUANTITY, 1, &mut errors);
        let unit_price = money(c, ORDO_PRICE, cur, &mut errors);
        if c.text(ORDO_PRICE).is_none() {
            errors.push(c.error(ORDO_PRICE, "is empty: a unit price is required"));
        }
        lines.push(LineInput {
            sku,
            quantity,
            unit_price,
            discount: money(c, ORDO_DISCOUNT, cur, &mut errors),
            tax: money(c, ORDO_TAX, cur, &mut errors),
        });
        listing_ids.push(c.string(ORDO_LISTING));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let shipping_address = Address {
        name: first.string(ORDO_SHIP_NAME),
        company: first.string(ORDO_SHIP_COMPANY),
        line1: first.string(ORDO_SHIP_LINE1),
        line2: first.string(ORDO_SHIP_LINE2),
        city: first.string(ORDO_SHIP_CITY),
        region: first.string(ORDO_SHIP_REGION),
        postal_code: first.unquoted(ORDO_SHIP_POSTAL),
        country: first.string(ORDO_SHIP_COUNTRY),
        phone: first.unquoted(ORDO_SHIP_PHONE),
        latitude: None,
        longitude: None,
    };
    let customer = CustomerInput {
        email: first.string(ORDO_EMAIL),
        name: first
            .string(ORDO_CUSTOMER)
            .or_else(|| shipping_address.name.clone()),
        phone: first
            .unquoted(ORDO_CUSTOMER_PHONE)
            .or_else(|| shipping_address.phone.clone()),
    };
    let input = OrderInput {
        channel: None,
        external_id: None,
        placed_at,
        currency: cur.map(|c| c.code.to_string()),
        customer: Some(customer),
        shipping_address: any_set(&shipping_address).then_some(shipping_address),
        billing_address: None,
        lines,
        shipping: Some(ShippingInput {
            method: first.string(ORDO_SHIPPING_METHOD),
            service_level: first.string(ORDO_SERVICE_LEVEL),
            price: shipping_price,
            promised_by,
        }),
        payment: Some(PaymentInput {
            status: Some(payment_status),
            method: first.string(ORDO_PAYMENT_METHOD),
            reference: first.string(ORDO_PAYMENT_REFERENCE),
        }),
        tags: tags(first.text(ORDO_TAGS)),
        notes: first.note(ORDO_NOTES),
        priority,
    };
    Ok(ChannelOrder {
        external_id: id.to_string(),
        state,
        input,
        listing_ids,
        fulfilled_by_channel: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, format: CsvFormat) -> ParsedFile {
        parse_orders(text.as_bytes(), format, "web")
    }

    fn lines_of(order: &ChannelOrder) -> Vec<(&str, i64, &str, Option<&str>, Option<&str>)> {
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

    const SHOPIFY_HEADER: &str = "Name,Email,Financial Status,Fulfillment Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,Lineitem quantity,Lineitem price,Lineitem sku,Lineitem discount,Shipping Name,Shipping Address1,Shipping City,Shipping Zip,Shipping Country,Notes,Cancelled at,Id,Tags";

    #[test]
    fn formats_parse_and_are_detected_from_the_header() {
        assert_eq!(CsvFormat::parse("Shopify"), Some(CsvFormat::Shopify));
        assert_eq!(CsvFormat::parse("amazon"), Some(CsvFormat::AmazonReport));
        assert_eq!(CsvFormat::parse("ordo"), Some(CsvFormat::Ordo));
        assert_eq!(CsvFormat::parse("ebay"), None);
        assert_eq!(
            CsvFormat::detect(format!("\u{feff}{SHOPIFY_HEADER}\r\n").as_bytes()),
            Some(CsvFormat::Shopify)
        );
        assert_eq!(
            CsvFormat::detect(b"order-id\torder-item-id\tpurchase-date\tsku\n"),
            Some(CsvFormat::AmazonReport)
        );
        assert_eq!(
            CsvFormat::detect(b"amazon-order-id\tsku\tquantity\n"),
            Some(CsvFormat::AmazonReport)
        );
        assert_eq!(
            CsvFormat::detect(b" External_ID ,SKU,quantity\n"),
            Some(CsvFormat::Ordo)
        );
        assert_eq!(
            CsvFormat::detect(b"external_id;sku;quantity;unit_price\n"),
            Some(CsvFormat::Ordo)
        );
        assert_eq!(CsvFormat::detect(b"sku,name,price\n"), None);
        assert_eq!(CsvFormat::detect(b""), None);
    }

    #[test]
    fn times_become_utc_rfc3339() {
        let utc = |s: &str| {
            parse_time(s)
                .map(|t| t.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            utc("2024-01-02 10:11:12 -0500").unwrap(),
            "2024-01-02T15:11:12Z"
        );
        assert_eq!(
            utc("2017-09-23T14:18:23-07:00").unwrap(),
            "2017-09-23T21:18:23Z"
        );
        assert_eq!(
            utc("2026-05-01 00:30:00 +0200").unwrap(),
            "2026-04-30T22:30:00Z"
        );
        assert_eq!(utc("2026-05-01T10:00:00Z").unwrap(), "2026-05-01T10:00:00Z");
        assert_eq!(
            utc("2026-05-01 10:00:00 UTC").unwrap(),
            "2026-05-01T10:00:00Z"
        );
        assert_eq!(
            utc("2026-05-01T10:00:00.250+05:30").unwrap(),
            "2026-05-01T04:30:00.25Z"
        );
        assert_eq!(utc("2026-05-01 10:00 +02").unwrap(), "2026-05-01T08:00:00Z");
        assert!(
            utc("2026-05-01 10:00:00")
                .unwrap_err()
                .contains("no UTC offset")
        );
        for bad in [
            "",
            "yesterday",
            "2026-02-30 10:00:00 +0000",
            "2026-05-01 25:00:00 +0000",
            "2026-05-01 10:00:00 +02:3",
            "01/05/2026 10:00 +0000",
            "2026-05-01",
            "2026-05-01 10:00:00 CET",
        ] {
            assert!(utc(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn line_numbers_count_line_breaks_inside_quotes_and_blank_lines() {
        let text = "external_id,currency,sku,quantity,unit_price,notes\r\n\
                    A,EUR,S1,1,1.00,\"two\r\nlines\"\r\n\
                    \r\n\
                    B,EUR,S2,x,1.00,\r\n\
                    C,EUR,S3,1,1.00,\"a\nb\nc\"\n\
                    D,EUR,,1,1.00,\n";
        let parsed = parse(text, CsvFormat::Ordo);
        assert_eq!(parsed.rows, 4);
        let found: Vec<(u64, Option<&str>)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(found, vec![(5, Some("quantity")), (9, Some("sku"))]);
        let ids: Vec<&str> = parsed
            .orders
            .iter()
            .map(|o| o.external_id.as_str())
            .collect();
        assert_eq!(ids, ["A", "C"]);
        assert_eq!(parsed.orders[0].input.notes.as_deref(), Some("two\nlines"));
        assert_eq!(parsed.orders[1].input.notes.as_deref(), Some("a\nb\nc"));
    }

    #[test]
    fn a_missing_required_column_refuses_the_file_once() {
        let parsed = parse(
            "Name,Currency,Lineitem quantity,Lineitem price\n#1,USD,1,1.00\n",
            CsvFormat::Shopify,
        );
        assert!(parsed.orders.is_empty());
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 1);
        assert_eq!(parsed.errors[0].column.as_deref(), Some("lineitem sku"));
        assert!(
            parsed.errors[0].reason.contains("lineitem sku"),
            "{:?}",
            parsed.errors
        );

        let parsed = parse("", CsvFormat::Ordo);
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].reason.contains("empty"));
    }

    #[test]
    fn shopify_columns_are_found_by_name_in_any_order() {
        // Reordered, differently cased, an unknown column, and an older export's
        // `Fulfillment Date` instead of `Fulfilled at`.
        let text = "LINEITEM SKU , lineitem price,Lineitem quantity,Whatever,Fulfillment Date,Currency,Name,Financial Status,Created at\n\
                    MUG-1,12.50,2,x,,EUR,#1,paid,2026-05-01 10:00:00 +0200\n";
        let parsed = parse(text, CsvFormat::Shopify);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let o = &parsed.orders[0];
        assert_eq!(o.external_id, "#1");
        assert_eq!(o.state, ChannelOrderState::Open);
        assert_eq!(lines_of(o), vec![("MUG-1", 2, "12.50", None, None)]);
        assert_eq!(o.input.placed_at.as_deref(), Some("2026-05-01T08:00:00Z"));
        assert_eq!(o.input.channel.as_deref(), Some("web"));
        assert_eq!(o.input.external_id.as_deref(), Some("#1"));
        assert_eq!(o.listing_ids, vec![None]);
    }

    fn shopify_row(name: &str, financial: &str, fulfillment: &str, cancelled: &str) -> String {
        format!(
            "{name},a@example.com,{financial},{fulfillment},USD,10.00,0.00,0.00,10.00,2026-05-01 10:00:00 +0000,1,10.00,S,,Ann,Main 1,Town,'02134,US,,{cancelled},,\n"
        )
    }

    #[test]
    fn shopify_statuses_map_to_states_and_payment() {
        let cases = [
            ("paid", "", "", ChannelOrderState::Open, "paid"),
            ("authorized", "", "", ChannelOrderState::Open, "authorized"),
            (
                "pending",
                "",
                "",
                ChannelOrderState::PaymentPending,
                "pending",
            ),
            ("", "", "", ChannelOrderState::PaymentPending, "pending"),
            ("paid", "fulfilled", "", ChannelOrderState::Closed, "paid"),
            ("paid", "partial", "", ChannelOrderState::Open, "paid"),
            ("refunded", "", "", ChannelOrderState::Cancelled, "paid"),
            (
                "paid",
                "",
                "2026-05-02 10:00:00 +0000",
                ChannelOrderState::Cancelled,
                "paid",
            ),
        ];
        for (financial, fulfillment, cancelled, state, payment) in cases {
            let text = format!(
                "{SHOPIFY_HEADER}\n{}",
                shopify_row("#9", financial, fulfillment, cancelled)
            );
            let parsed = parse(&text, CsvFormat::Shopify);
            assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
            let o = &parsed.orders[0];
            assert_eq!(o.state, state, "{financial}/{fulfillment}/{cancelled}");
            assert_eq!(
                o.input.payment.as_ref().unwrap().status.as_deref(),
                Some(payment)
            );
            assert_eq!(
                o.input
                    .shipping_address
                    .as_ref()
                    .unwrap()
                    .postal_code
                    .as_deref(),
                Some("02134")
            );
        }
    }

    #[test]
    fn shopify_repeated_orders_are_read_once() {
        let a = shopify_row("#1", "paid", "", "");
        let a2 = "#1,,,,,,,,,,3,2.00,T,,,,,,,,,,\n";
        let b = shopify_row("#2", "paid", "", "");
        // #1 twice in a row, then #2, then #1 again.
        let text = format!("{SHOPIFY_HEADER}\n{a}{a2}{a}{a2}{b}{a}{a2}");
        let parsed = parse(&text, CsvFormat::Shopify);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.rows, 7);
        assert_eq!(parsed.orders.len(), 2);
        assert_eq!(
            lines_of(&parsed.orders[0]),
            vec![("S", 1, "10.00", None, None), ("T", 3, "2.00", None, None)]
        );
    }

    #[test]
    fn shopify_taxes_spread_over_lines_only_when_the_total_reconciles() {
        let header = "Name,Financial Status,Currency,Shipping,Taxes,Total,Lineitem quantity,Lineitem price,Lineitem sku,Lineitem discount";
        // 2×10.00 + 1×5.00 − 1.00 = 24.00; + 4.90 shipping + 2.41 tax = 31.31.
        let text =
            format!("{header}\n#1,paid,USD,4.90,2.41,31.31,2,10.00,A,1.00\n#1,,,,,,1,5.00,B,\n");
        let parsed = parse(&text, CsvFormat::Shopify);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let o = &parsed.orders[0];
        assert_eq!(
            lines_of(o),
            vec![
                ("A", 2, "10.00", Some("1.00"), Some("1.91")),
                ("B", 1, "5.00", None, Some("0.50"))
            ]
        );
        assert_eq!(
            o.input.shipping.as_ref().unwrap().price.as_deref(),
            Some("4.90")
        );
        // Prices including tax: the total is lines + shipping, the tax stays off the lines.
        let text =
            format!("{header}\n#2,paid,EUR,4.90,3.83,28.90,2,10.00,A,1.00\n#2,,,,,,1,5.00,B,\n");
        let parsed = parse(&text, CsvFormat::Shopify);
        assert!(parsed.orders[0].input.lines.iter().all(|l| l.tax.is_none()));
    }

    #[test]
    fn bad_values_skip_their_order_only() {
        let header = "Name,Financial Status,Currency,Shipping,Created at,Lineitem quantity,Lineitem price,Lineitem sku";
        let text = format!(
            "{header}\n\
             #1,paid,USD,1.00,2026-05-01 10:00:00 +0000,1,1.00,A\n\
             #2,paid,USD,1.00,2026-05-01 10:00:00 +0000,1.5,1.00,A\n\
             #3,paid,USD,1.005,2026-05-01 10:00:00 +0000,1,1.00,A\n\
             #4,paid,USD,1.00,May 1st,1,1.00,A\n\
             #5,paid,USD,1.00,2026-05-01 10:00:00 +0000,1,abc,A\n\
             #6,paid,USD,1.00,2026-05-01 10:00:00 +0000,0,1.00,A\n\
             #7,paid,XYZ,1.00,2026-05-01 10:00:00 +0000,1,1.00,A\n\
             #8,paid,USD,1.00,2026-05-01 10:00:00 +0000,1,1.00,A,extra\n\
             #9,paid,USD,1.00,2026-05-01 10:00:00 +0000,1,-1.00,A\n"
        );
        let parsed = parse(&text, CsvFormat::Shopify);
        let ids: Vec<&str> = parsed
            .orders
            .iter()
            .map(|o| o.external_id.as_str())
            .collect();
        assert_eq!(ids, ["#1"]);
        let found: Vec<(u64, Option<&str>)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(
            found,
            vec![
                (3, Some("Lineitem quantity")),
                (4, Some("Shipping")),
                (5, Some("Created at")),
                (6, Some("Lineitem price")),
                (7, Some("Lineitem quantity")),
                (8, Some("Currency")),
                (9, None),
                (10, Some("Lineitem price")),
            ]
        );
        assert!(
            parsed.errors[1].reason.contains("decimal places"),
            "{:?}",
            parsed.errors[1]
        );
        assert!(
            parsed.errors[7].reason.contains("negative"),
            "{:?}",
            parsed.errors[7]
        );
    }

    #[test]
    fn a_cancelled_order_keeps_its_valid_lines_despite_bad_ones() {
        let text = format!(
            "{SHOPIFY_HEADER}\n{}#5,,,,,,,,,,1,1.00,,,,,,,,,,,\n",
            shopify_row("#5", "paid", "", "2026-05-02 10:00:00 +0000")
        );
        let parsed = parse(&text, CsvFormat::Shopify);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.orders[0].state, ChannelOrderState::Cancelled);
        assert_eq!(parsed.orders[0].input.lines.len(), 1);
    }

    const AMAZON_HEADER: &str = "amazon-order-id\torder-item-id\tpurchase-date\torder-status\tfulfillment-channel\tsku\tasin\tquantity\tcurrency\titem-price\titem-tax\tshipping-price\titem-promotion-discount\tship-promotion-discount\tship-service-level";

    #[test]
    fn amazon_unit_prices_divide_exactly() {
        let text = format!(
            "{AMAZON_HEADER}\n\
             A1\tI1\t2026-05-01T10:00:00-07:00\tUnshipped\tMerchant\tMUG\tB01\t3\tUSD\t59.97\t4.80\t3.00\t-2.00\t-1.00\tStandard\n\
             A2\tI2\t2026-05-01T10:00:00-07:00\tUnshipped\tMerchant\tMUG\tB01\t3\tUSD\t10.00\t\t\t\t\tStandard\n\
             A3\tI3\t2026-05-01T10:00:00-07:00\tPending\tMerchant\tMUG\tB01\t1\t\t\t\t\t\t\tStandard\n\
             A4\tI4\t2026-05-01T10:00:00-07:00\tUnshipped\tMerchant\tMUG\tB01\t2\tJPY\t1000\t\t\t\t\tStandard\n"
        );
        let parsed = parse(&text, CsvFormat::AmazonReport);
        assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
        assert_eq!(parsed.errors[0].line, 3);
        assert_eq!(parsed.errors[0].column.as_deref(), Some("item-price"));
        let a1 = &parsed.orders[0];
        assert_eq!(
            lines_of(a1),
            vec![("MUG", 3, "19.99", Some("2.00"), Some("4.80"))]
        );
        let shipping = a1.input.shipping.as_ref().unwrap();
        assert_eq!(shipping.price.as_deref(), Some("2.00"));
        assert_eq!(shipping.method.as_deref(), Some("Standard"));
        assert_eq!(shipping.service_level.as_deref(), Some("standard"));
        assert_eq!(a1.input.placed_at.as_deref(), Some("2026-05-01T17:00:00Z"));
        assert_eq!(a1.listing_ids, vec![Some("B01".to_string())]);
        assert_eq!(
            a1.input.customer.as_ref().unwrap().email.as_deref(),
            Some("A1@marketplace.amazon.invalid")
        );
        let a3 = &parsed.orders[1];
        assert_eq!(a3.state, ChannelOrderState::PaymentPending);
        assert_eq!(a3.input.lines[0].unit_price, None);
        assert_eq!(a3.input.currency, None);
        assert_eq!(
            a3.input.payment.as_ref().unwrap().status.as_deref(),
            Some("pending")
        );
        assert_eq!(
            lines_of(&parsed.orders[2]),
            vec![("MUG", 2, "500", None, None)]
        );
    }

    #[test]
    fn amazon_states_items_and_repeats() {
        for (status, state) in [
            ("Pending", ChannelOrderState::PaymentPending),
            (
                "Pending - Waiting for Pick Up",
                ChannelOrderState::PaymentPending,
            ),
            ("Unshipped", ChannelOrderState::Open),
            ("Shipping", ChannelOrderState::Open),
            ("Shipped", ChannelOrderState::Closed),
            ("Shipped - Delivered to Buyer", ChannelOrderState::Closed),
            ("Cancelled", ChannelOrderState::Cancelled),
            ("Canceled", ChannelOrderState::Cancelled),
        ] {
            assert_eq!(amazon_state(status), state, "{status}");
        }
        // Items of one order apart, a repeated item, an item cancelled on its own; a
        // cancelled order with quantity 0 and no price.
        let text = format!(
            "{AMAZON_HEADER}\n\
             A1\tI1\t2026-05-01T10:00:00Z\tShipped\tAmazon\tMUG\tB01\t1\tEUR\t5.00\t\t\t\t\t\n\
             A2\tI9\t2026-05-01T10:00:00Z\tCancelled\tMerchant\tTEA\tB02\t0\tEUR\t\t\t\t\t\t\n\
             A1\tI2\t2026-05-01T10:00:00Z\tShipped\tAmazon\tTEA\tB02\t2\tEUR\t7.00\t\t\t\t\t\n\
             A1\tI1\t2026-05-01T10:00:00Z\tShipped\tAmazon\tMUG\tB01\t1\tEUR\t5.00\t\t\t\t\t\n\
             A1\tI3\t2026-05-01T10:00:00Z\tShipped\tAmazon\tPOT\tB03\t0\tEUR\t0.00\t\t\t\t\t\n"
        );
        let parsed = parse(&text, CsvFormat::AmazonReport);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.rows, 5);
        let a1 = &parsed.orders[0];
        assert_eq!(a1.state, ChannelOrderState::Closed);
        assert!(a1.fulfilled_by_channel);
        assert_eq!(
            lines_of(a1),
            vec![
                ("MUG", 1, "5.00", None, None),
                ("TEA", 2, "3.50", None, None)
            ]
        );
        let a2 = &parsed.orders[1];
        assert_eq!(a2.state, ChannelOrderState::Cancelled);
        assert!(a2.input.lines.is_empty());
    }

    #[test]
    fn amazon_tabs_are_not_quotes() {
        let text = "order-id\tpurchase-date\tsku\tproduct-name\tquantity-purchased\tcurrency\titem-price\n\
                    A1\t2026-05-01T10:00:00+00:00\tPAN\t\"12\" pan, \"deep\t1\tUSD\t9.99\n";
        let parsed = parse(text, CsvFormat::AmazonReport);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            lines_of(&parsed.orders[0]),
            vec![("PAN", 1, "9.99", None, None)]
        );
        assert_eq!(parsed.orders[0].state, ChannelOrderState::Open);
    }

    #[test]
    fn ordo_order_columns_may_repeat_but_not_change() {
        let header = "external_id,currency,email,sku,quantity,unit_price";
        let text = format!(
            "{header}\n\
             W1,EUR,a@example.com,A,1,1.00\n\
             W1,EUR,a@example.com,B,1,2.00\n\
             W2,EUR,a@example.com,A,1,1.00\n\
             W2,USD,,B,1,1.00\n\
             W1,EUR,a@example.com,B,1,2.00\n"
        );
        let parsed = parse(&text, CsvFormat::Ordo);
        assert_eq!(parsed.orders.len(), 1);
        assert_eq!(parsed.orders[0].input.lines.len(), 2);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 5);
        assert_eq!(parsed.errors[0].column.as_deref(), Some("currency"));
        assert!(
            parsed.errors[0].reason.contains("line 4"),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn windows_1252_and_utf16_files_are_read() {
        let mut bytes = b"external_id,currency,customer_name,sku,quantity,unit_price\n".to_vec();
        bytes.extend_from_slice(b"W1,EUR,Ren\xe9e M\xfcller \x80,A,1,1.00\n");
        let parsed = parse_orders(&bytes, CsvFormat::Ordo, "web");
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            parsed.orders[0]
                .input
                .customer
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("Renée Müller €")
        );
        let text = "external_id,currency,sku,quantity,unit_price\nW1,EUR,Ä,1,1.00\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let parsed = parse_orders(&utf16, CsvFormat::Ordo, "web");
        assert_eq!(parsed.orders[0].input.lines[0].sku.as_deref(), Some("Ä"));
        // Shift-JIS is refused rather than misread.
        let parsed = parse_orders(
            b"external_id,currency,sku,quantity,unit_price\nW1,JPY,\x83J\x83b\x83v\x81\x40,1,1\n",
            CsvFormat::Ordo,
            "web",
        );
        assert!(parsed.orders.is_empty());
        assert_eq!(parsed.errors[0].line, 2);
    }
}
