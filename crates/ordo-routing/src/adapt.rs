//! Routing requests built from Ordo's own orders and catalog.

use ordo_domain::catalog::{Channel, Product};
use ordo_domain::order::{NewOrder, Order};

use crate::model::{ChannelPolicy, Destination, RouteLine, RoutingRequest, SplitPolicy};

fn line(sku: &str, quantity: i64, product: Option<&Product>) -> RouteLine {
    RouteLine {
        sku: sku.to_string(),
        quantity,
        category: product.and_then(|p| p.category.clone()),
        handling_classes: product
            .map(|p| p.handling_classes.clone())
            .unwrap_or_default(),
    }
}

fn weight(lines: impl Iterator<Item = (i64, Option<Product>)>) -> i64 {
    lines.map(|(q, p)| q * p.map_or(0, |p| p.weight_g)).sum()
}

/// The routing problem of a new order. `product` looks up catalog entries by SKU (for
/// handling classes, category and weight; unknown SKUs route without them).
pub fn request_for_new_order(
    order: &NewOrder,
    channel: &Channel,
    split: SplitPolicy,
    product: impl Fn(&str) -> Option<Product>,
) -> RoutingRequest {
    let totals = order.totals();
    let mut request = RoutingRequest::new(
        order
            .lines
            .iter()
            .map(|l| line(&l.sku, l.quantity, product(&l.sku).as_ref()))
            .collect(),
        Destination::from_address(&order.shipping_address).unwrap_or_default(),
    );
    request.order_value_minor = totals.subtotal - totals.discount;
    request.total_weight_g = weight(order.lines.iter().map(|l| (l.quantity, product(&l.sku))));
    request.tags = order.tags.clone();
    request.payment_status = order.payment.status;
    request.service_level = order.shipping.service_level.clone();
    request.channel = ChannelPolicy::from_channel(channel, split);
    request
}

/// The routing problem of a stored order, as if it arrived now with all its units.
pub fn request_for_order(
    order: &Order,
    channel: &Channel,
    split: SplitPolicy,
    product: impl Fn(&str) -> Option<Product>,
) -> RoutingRequest {
    let minor = |s: &str| {
        ordo_domain::money::Currency::parse(&order.currency)
            .and_then(|c| ordo_domain::money::parse_amount(s, c).ok())
            .unwrap_or(0)
    };
    let mut request = RoutingRequest::new(
        order
            .lines
            .iter()
            .map(|l| line(&l.sku, l.quantity, product(&l.sku).as_ref()))
            .collect(),
        Destination::from_address(&order.shipping_address).unwrap_or_default(),
    );
    request.order_value_minor = minor(&order.totals.subtotal) - minor(&order.totals.discount);
    request.total_weight_g = weight(order.lines.iter().map(|l| (l.quantity, product(&l.sku))));
    request.tags = order.tags.clone();
    request.payment_status = order.payment.status;
    request.service_level = order.shipping.service_level.clone();
    request.channel = ChannelPolicy::from_channel(channel, split);
    request
}
