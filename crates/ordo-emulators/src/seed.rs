//! Orders a test places on an emulated channel, in channel-neutral terms: each emulator
//! renders them in its own wire format. Money is decimal text, as every channel sends it.

use time::OffsetDateTime;

/// One line of an order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpec {
    /// The seller's SKU; may be empty (Shopify custom items have none).
    pub sku: String,
    pub quantity: i64,
    /// Unit price, a decimal string such as `"19.99"`.
    pub price: String,
}

impl LineSpec {
    pub fn new(sku: &str, quantity: i64, price: &str) -> Self {
        Self {
            sku: sku.into(),
            quantity,
            price: price.into(),
        }
    }
}

/// The buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
}

impl Default for Customer {
    fn default() -> Self {
        Self {
            first_name: "Alex".into(),
            last_name: "Buyer".into(),
            email: "alex.buyer@example.com".into(),
            phone: Some("+12125550100".into()),
        }
    }
}

/// A postal address (the ship-to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// State or province code (`NY`).
    pub region_code: String,
    /// Its name (`New York`).
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 (`US`).
    pub country_code: String,
    /// Country name (`United States`).
    pub country: String,
    pub phone: Option<String>,
}

impl Default for Address {
    fn default() -> Self {
        Self {
            company: None,
            line1: "350 Fifth Avenue".into(),
            line2: Some("Suite 3300".into()),
            city: "New York".into(),
            region_code: "NY".into(),
            region: "New York".into(),
            postal_code: "10118".into(),
            country_code: "US".into(),
            country: "United States".into(),
            phone: Some("+12125550100".into()),
        }
    }
}

/// An order to place, built with chained calls:
/// `NewOrder::new().line("SKU-A", 2, "12.50").email("a@example.com").status("paid")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub lines: Vec<LineSpec>,
    pub customer: Customer,
    pub ship_to: Address,
    /// The channel's own status word; `None` for a paid order awaiting shipment. Read as
    /// Shopify `financial_status` (`paid`, `pending`, ...), WooCommerce `status`
    /// (`processing`, `on-hold`, ...), Amazon `OrderStatus` (`Unshipped`, `Pending`, ...),
    /// eBay `orderPaymentStatus` (`PAID`, `PENDING`, ...).
    pub status: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Shipping charged to the buyer, a decimal string.
    pub shipping_price: String,
    /// When the order was placed (default: now). Also its first modification time.
    pub placed_at: Option<OffsetDateTime>,
    pub note: Option<String>,
    /// Amazon only: fulfilled by Amazon (`FulfillmentChannel: AFN`) rather than the seller.
    pub fulfilled_by_marketplace: bool,
}

impl Default for NewOrder {
    fn default() -> Self {
        Self {
            lines: Vec::new(),
            customer: Customer::default(),
            ship_to: Address::default(),
            status: None,
            currency: "USD".into(),
            shipping_price: "4.90".into(),
            placed_at: None,
            note: None,
            fulfilled_by_marketplace: false,
        }
    }
}

impl NewOrder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn line(mut self, sku: &str, quantity: i64, unit_price: &str) -> Self {
        self.lines.push(LineSpec::new(sku, quantity, unit_price));
        self
    }

    pub fn lines(mut self, lines: &[LineSpec]) -> Self {
        self.lines.extend_from_slice(lines);
        self
    }

    pub fn email(mut self, email: &str) -> Self {
        self.customer.email = email.into();
        self
    }

    pub fn customer(mut self, customer: Customer) -> Self {
        self.customer = customer;
        self
    }

    pub fn ship_to(mut self, address: Address) -> Self {
        self.ship_to = address;
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = Some(status.into());
        self
    }

    pub fn currency(mut self, currency: &str) -> Self {
        self.currency = currency.into();
        self
    }

    pub fn shipping(mut self, price: &str) -> Self {
        self.shipping_price = price.into();
        self
    }

    pub fn placed_at(mut self, at: OffsetDateTime) -> Self {
        self.placed_at = Some(at);
        self
    }

    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Amazon: an FBA (AFN) order.
    pub fn fulfilled_by_marketplace(mut self) -> Self {
        self.fulfilled_by_marketplace = true;
        self
    }

    pub(crate) fn when(&self) -> OffsetDateTime {
        self.placed_at
            .unwrap_or_else(OffsetDateTime::now_utc)
            .replace_nanosecond(0)
            .expect("0 ns is valid")
    }

    /// Sum of the lines (unit price × quantity), in cents.
    pub(crate) fn subtotal_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| cents(&l.price) * l.quantity)
            .sum()
    }
}

/// A decimal string as cents (`"19.9"` → 1990); extra decimals are cut.
pub(crate) fn cents(price: &str) -> i64 {
    let price = price.trim();
    let (neg, price) = match price.strip_prefix('-') {
        Some(p) => (true, p),
        None => (false, price),
    };
    let (whole, frac) = price.split_once('.').unwrap_or((price, ""));
    let frac: String = format!("{frac:0<2}").chars().take(2).collect();
    let c = whole.parse::<i64>().unwrap_or(0) * 100 + frac.parse::<i64>().unwrap_or(0);
    if neg { -c } else { c }
}

/// Cents as a two-decimal string (1990 → `"19.90"`).
pub(crate) fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip_through_cents() {
        assert_eq!(cents("19.99"), 1999);
        assert_eq!(cents("19.9"), 1990);
        assert_eq!(cents("7"), 700);
        assert_eq!(cents("-0.05"), -5);
        assert_eq!(money(1999), "19.99");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(0), "0.00");
    }
}
