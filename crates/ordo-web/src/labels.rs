//! Shipping labels for the back office, built exactly as the API's
//! `/api/v1/shipments/{id}/label.pdf|.zpl` builds them (ordo-http keeps that builder
//! private to its handlers, so the same mapping lives here over `ordo_labels`).

use ordo_domain::catalog::Address;
use ordo_domain::{FieldError, Problem};
use ordo_store::Store;

use crate::error::{WebError, WebResult};

pub(crate) fn label_address(a: &Address, fallback_name: &str) -> ordo_labels::Address {
    ordo_labels::Address {
        name: a.name.clone().unwrap_or_else(|| fallback_name.to_string()),
        company: a.company.clone(),
        line1: a.line1.clone().unwrap_or_default(),
        line2: a.line2.clone(),
        city: a.city.clone().unwrap_or_default(),
        region: a.region.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone().unwrap_or_default().to_ascii_uppercase(),
        phone: a.phone.clone(),
    }
}

/// The 4×6 in label of package `package` (1-based) of shipment `id`.
pub(crate) async fn shipping_label(
    store: &dyn Store,
    id: &str,
    package: u32,
) -> WebResult<ordo_labels::ShippingLabel> {
    let shipment = store
        .get_shipment(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Shipment {id}")))?;
    let order = store
        .get_order(&shipment.order)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Order {}", shipment.order)))?;
    let location = store
        .get_location(&shipment.location)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Location {}", shipment.location)))?;
    let count = shipment.packages.len() as u32;
    let parcel = shipment
        .packages
        .iter()
        .find(|p| p.number == package)
        .ok_or_else(|| {
            WebError::Problem(Problem::invalid(
                "package",
                format!("must be between 1 and {count}"),
            ))
        })?;
    let mut sender = label_address(&location.address, &location.name);
    if sender.line1.is_empty() {
        sender.line1 = location.name.clone();
    }
    if sender.city.is_empty() {
        sender.city = location.code.clone();
    }
    let recipient = label_address(&order.shipping_address, &order.customer.email);
    if sender.country.is_empty() {
        // A location without an address ships domestically as far as the label can tell.
        sender.country = recipient.country.clone();
    }
    Ok(ordo_labels::ShippingLabel {
        sender,
        recipient,
        carrier: match shipment.carrier.as_str() {
            "own_fleet" => "Ordo Fleet".into(),
            other => other.to_string(),
        },
        service: shipment.service.clone(),
        tracking_number: shipment.tracking_number.clone(),
        weight_grams: u32::try_from(parcel.weight_g).unwrap_or(u32::MAX),
        weight_unit: Default::default(),
        package_number: package,
        package_count: count,
        reference: Some(shipment.fulfillment_order.clone()),
        order_number: Some(shipment.order.clone()),
        ship_date: shipment
            .created_at
            .format(&time::macros::format_description!("[year]-[month]-[day]"))
            .ok(),
        sscc: None,
    })
}

/// A label the courier could not use (an address lacks what delivery needs), as a 422.
pub(crate) fn document_error(e: ordo_labels::DocumentError) -> WebError {
    match e {
        ordo_labels::DocumentError::Invalid(fields) => WebError::Problem(Problem::Invalid(
            fields
                .into_iter()
                .map(|f| FieldError::new(f.field, f.message))
                .collect(),
        )),
    }
}
