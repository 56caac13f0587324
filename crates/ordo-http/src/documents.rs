//! The printed documents (labels, packing slips, manifests) built from stored records, once
//! for the API and the back office.

use ordo_domain::catalog::Address;
use ordo_store::Store;

use ordo_domain::Problem;
use ordo_store::StoreError;

use crate::error::ApiError;

/// Documents are built for the API and the back office alike, so their refusals are the
/// store's: each front end turns them into its own answer.
type DocResult<T> = Result<T, StoreError>;

fn missing(what: String) -> StoreError {
    Problem::NotFound(what).into()
}

/// A domain address as a label prints it.
pub fn label_address(a: &Address, fallback_name: &str) -> ordo_labels::Address {
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

/// A document's refusal as an API error naming the fields.
pub fn document_error(e: ordo_labels::DocumentError) -> ApiError {
    match e {
        ordo_labels::DocumentError::Invalid(fields) => ApiError::invalid(
            fields
                .into_iter()
                .map(|f| ordo_domain::FieldError::new(f.field, f.message))
                .collect(),
        ),
    }
}

/// The 4×6 in label of one package of a shipment.
pub async fn shipping_label(
    store: &dyn Store,
    id: &str,
    package: u32,
) -> DocResult<ordo_labels::ShippingLabel> {
    let shipment = store
        .get_shipment(id)
        .await?
        .ok_or_else(|| missing(format!("shipment {id}")))?;
    let order = store
        .get_order(&shipment.order)
        .await?
        .ok_or_else(|| missing(format!("order {}", shipment.order)))?;
    let location = store
        .get_location(&shipment.location)
        .await?
        .ok_or_else(|| missing(format!("location {}", shipment.location)))?;
    let count = shipment.packages.len() as u32;
    let parcel = shipment
        .packages
        .iter()
        .find(|p| p.number == package)
        .ok_or_else(|| {
            StoreError::from(Problem::invalid(
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
        // Parcels of a location with a GS1 Company Prefix are logistic units: serial from the
        // shipment and package numbers, so each parcel has its own.
        sscc: match &location.gs1_company_prefix {
            Some(prefix) => Some(
                ordo_labels::Sscc::new(0, prefix, shipment_serial(&shipment.id, package)).map_err(
                    |e| StoreError::from(Problem::invalid("gs1_company_prefix", e.to_string())),
                )?,
            ),
            None => None,
        },
    })
}

/// A manifest as the printed document: its shipments with recipients and parcels.
pub async fn manifest(store: &dyn Store, id: &str) -> DocResult<ordo_labels::Manifest> {
    let m = store
        .get_manifest(id)
        .await?
        .ok_or_else(|| missing(format!("manifest {id}")))?;
    let location = store.get_location(&m.location).await?;
    let mut shipments = Vec::with_capacity(m.shipments.len());
    for sid in &m.shipments {
        let Some(sh) = store.get_shipment(sid).await? else {
            continue;
        };
        let order = store.get_order(&sh.order).await?;
        let to = order
            .as_ref()
            .map(|o| label_address(&o.shipping_address, &o.customer.email));
        shipments.push(ordo_labels::ManifestShipment {
            reference: sh.fulfillment_order.clone(),
            order_number: Some(sh.order.clone()),
            service: Some(sh.service.clone()),
            recipient_name: to.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
            postal_code: to.as_ref().and_then(|a| a.postal_code.clone()),
            city: to.as_ref().map(|a| a.city.clone()).unwrap_or_default(),
            country: to.as_ref().map(|a| a.country.clone()).unwrap_or_default(),
            packages: sh
                .packages
                .iter()
                .map(|p| ordo_labels::ManifestPackage {
                    tracking_number: sh.tracking_number.clone(),
                    weight_grams: u32::try_from(p.weight_g).unwrap_or(u32::MAX),
                })
                .collect(),
        });
    }
    Ok(ordo_labels::Manifest {
        page_size: Default::default(),
        manifest_id: Some(m.id.clone()),
        date: m
            .created_at
            .format(&time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default(),
        location: location.as_ref().map_or_else(
            || m.location.clone(),
            |l| format!("{} ({})", l.name, l.code),
        ),
        location_address: None,
        carrier: m.carrier.clone(),
        weight_unit: Default::default(),
        shipments,
    })
}

/// The packing slip of one package of a packed fulfillment order.
pub async fn packing_slip(
    store: &dyn Store,
    id: &str,
    package: u32,
) -> DocResult<ordo_labels::PackingSlip> {
    let packing = store
        .get_packing(id)
        .await?
        .ok_or_else(|| missing(format!("packing of {id}")))?;
    let fo = store
        .get_fulfillment_order(id)
        .await?
        .ok_or_else(|| missing(format!("fulfillment order {id}")))?;
    let order = store
        .get_order(&fo.order)
        .await?
        .ok_or_else(|| missing(format!("order {}", fo.order)))?;
    let n = package;
    let count = packing.plan.packages.len() as u32;
    let package = packing
        .plan
        .packages
        .get(n.saturating_sub(1) as usize)
        .filter(|_| n >= 1)
        .ok_or_else(|| {
            StoreError::from(Problem::invalid(
                "package",
                format!("must be between 1 and {count}"),
            ))
        })?;
    let mut lines = Vec::new();
    for item in &package.items {
        let name = store
            .get_product(&item.sku)
            .await?
            .map_or_else(|| item.sku.clone(), |p| p.name);
        lines.push(ordo_labels::PackingSlipLine {
            sku: item.sku.clone(),
            name,
            quantity: u32::try_from(item.quantity).unwrap_or(u32::MAX),
        });
    }
    let slip = ordo_labels::PackingSlip {
        page_size: Default::default(),
        order_number: order.number.clone(),
        reference: Some(id.to_string()),
        order_date: order
            .placed_at
            .format(&time::macros::format_description!("[year]-[month]-[day]"))
            .ok(),
        ship_from: None,
        ship_to: label_address(&order.shipping_address, &order.customer.email),
        package_number: n,
        package_count: count,
        lines,
        note: order.notes.clone(),
    };
    Ok(slip)
}

/// The SSCC serial of one package: the shipment number then the package number.
fn shipment_serial(shipment_id: &str, package: u32) -> u64 {
    let number = ordo_domain::shipment::parse_shipment_number(shipment_id).unwrap_or(0) as u64;
    number * 100 + u64::from(package % 100)
}

/// One list of a pick job as a printable document, with bin and SKU barcodes in walk order.
pub async fn pick_list(
    store: &dyn Store,
    id: &str,
    list: u32,
) -> DocResult<ordo_labels::PickListDocument> {
    let job = store
        .get_pick_job(id)
        .await?
        .ok_or_else(|| missing(format!("pick list {id}")))?;
    let count = job.lists.len() as u32;
    let l = job.lists.iter().find(|l| l.number == list).ok_or_else(|| {
        StoreError::from(Problem::invalid(
            "list",
            format!("must be between 1 and {count}"),
        ))
    })?;
    let location = store.get_location(&job.location).await?;
    let mut lines = Vec::with_capacity(l.lines.len());
    for (i, line) in l.lines.iter().enumerate() {
        let name = store
            .get_product(&line.sku)
            .await?
            .map_or_else(|| line.sku.clone(), |p| p.name);
        lines.push(ordo_labels::PickListLine {
            step: i as u32 + 1,
            bin: line.bin.clone(),
            sku: line.sku.clone(),
            name,
            quantity: u32::try_from(line.quantity).unwrap_or(u32::MAX),
            totes: line
                .totes
                .iter()
                .map(|t| (t.tote, u32::try_from(t.quantity).unwrap_or(u32::MAX)))
                .collect(),
            flag: line.flag.map(|f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                    .unwrap_or_default()
            }),
        });
    }
    let path = match l.path.metres {
        Some(m) => format!(
            "{} stops · {} bin steps · {m:.0} m",
            l.path.stops, l.path.steps
        ),
        None => format!("{} stops · {} bin steps", l.path.stops, l.path.steps),
    };
    Ok(ordo_labels::PickListDocument {
        page_size: Default::default(),
        title: if count > 1 {
            format!("Pick list {} · {}/{count}", job.id, l.number)
        } else {
            format!("Pick list {}", job.id)
        },
        location: location.map_or_else(
            || job.location.clone(),
            |p| format!("{} ({})", p.name, p.code),
        ),
        zone: l.zone.clone(),
        created: job
            .created_at
            .format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_default(),
        totes: l
            .totes
            .iter()
            .map(|t| ordo_labels::PickTote {
                tote: t.tote,
                reference: t.fulfillment_order_id.clone(),
                order_number: t.order_number.clone(),
            })
            .collect(),
        lines,
        path: Some(path),
    })
}

/// The label a customer sticks on a returned parcel: from the order's shipping address to
/// the location the goods go back to (where they were received, else where the order
/// shipped from), with the return's own S10 tracking number.
pub async fn return_label(store: &dyn Store, id: &str) -> DocResult<ordo_labels::ShippingLabel> {
    use ordo_domain::returns::{ReturnMethod, ReturnStatus};
    let rma = store
        .get_return(id)
        .await?
        .ok_or_else(|| missing(format!("return {id}")))?;
    if rma.method == ReturnMethod::KeepItem
        || matches!(rma.status, ReturnStatus::Requested | ReturnStatus::Rejected)
    {
        return Err(StoreError::from(Problem::Conflict {
            message: "a return label exists once a return that sends goods back is approved".into(),
            current: Some(rma.status.as_str().into()),
        }));
    }
    let order = store
        .get_order(&rma.order)
        .await?
        .ok_or_else(|| missing(format!("order {}", rma.order)))?;
    let code = match &rma.receiving_location {
        Some(code) => code.clone(),
        None => order
            .fulfillment_orders
            .iter()
            .find(|fo| fo.status.as_str() == "shipped")
            .or(order.fulfillment_orders.first())
            .map(|fo| fo.location.clone())
            .ok_or_else(|| missing(format!("a shipping location of {}", order.number)))?,
    };
    let location = store
        .get_location(&code)
        .await?
        .ok_or_else(|| missing(format!("location {code}")))?;
    let sender = label_address(&order.shipping_address, &order.customer.email);
    let mut recipient = label_address(&location.address, &location.name);
    if recipient.line1.is_empty() {
        recipient.line1 = location.name.clone();
    }
    if recipient.city.is_empty() {
        recipient.city = location.code.clone();
    }
    if recipient.country.is_empty() {
        recipient.country = sender.country.clone();
    }
    let number = ordo_store::parse_rma_number(&rma.id).unwrap_or(0);
    let tracking_number = ordo_store::return_tracking_number(number, Some(&recipient.country))?;
    Ok(ordo_labels::ShippingLabel {
        sender,
        recipient,
        carrier: "Ordo Returns".into(),
        service: "Return".into(),
        tracking_number,
        weight_grams: 1000,
        weight_unit: Default::default(),
        package_number: 1,
        package_count: 1,
        reference: Some(rma.id.clone()),
        order_number: Some(rma.order.clone()),
        ship_date: None,
        sscc: None,
    })
}
