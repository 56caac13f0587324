//! Delivery claims on the order page: what went wrong after shipping, and how it was put
//! right. Opened through the same service as the API (`ordo_store::open_claim`).

use axum::extract::{Path, State};
use ordo_domain::claims::{ClaimInput, ClaimLineInput, ClaimResolution, ClaimType};
use ordo_domain::order::{Order, OrderStatus};
use ordo_store::Permission;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::encode;
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::humanize;

pub(crate) struct ClaimRow {
    pub id: String,
    pub kind: String,
    pub resolution: String,
    pub lines: String,
    pub reship_order: Option<String>,
    pub refund: Option<String>,
    pub shipment: Option<String>,
}

pub(crate) struct ClaimsSection {
    pub items: Vec<ClaimRow>,
    pub can_open: bool,
    pub types: Vec<Opt>,
    pub resolutions: Vec<Opt>,
    pub skus: Vec<Opt>,
    pub shipments: Vec<Opt>,
}

fn opts(values: impl Iterator<Item = &'static str>, chosen: &str) -> Vec<Opt> {
    values
        .map(|v| Opt {
            value: v.into(),
            label: humanize(v),
            selected: v == chosen,
        })
        .collect()
}

pub(crate) async fn section(s: &WebState, o: &Order, auth: &Auth) -> WebResult<ClaimsSection> {
    let claims = ordo_store::order_claims(s.store.as_ref(), o).await?;
    let shipped = matches!(
        o.status,
        OrderStatus::PartiallyShipped | OrderStatus::Shipped | OrderStatus::Delivered
    );
    let shipments = if shipped {
        let filter = ordo_store::ShipmentFilter {
            order: Some(o.number.clone()),
            ..Default::default()
        };
        s.store
            .list_shipments(
                &filter,
                &ordo_store::PageRequest {
                    limit: Some(50),
                    cursor: None,
                },
            )
            .await?
            .items
    } else {
        Vec::new()
    };
    let mut skus: Vec<Opt> = Vec::new();
    for l in o.lines.iter().filter(|l| l.shipped > 0) {
        if !skus.iter().any(|k| k.value == l.sku) {
            skus.push(Opt {
                value: l.sku.clone(),
                label: l.sku.clone(),
                selected: skus.is_empty(),
            });
        }
    }
    let mut shipment_opts = vec![Opt {
        value: String::new(),
        label: "(none)".into(),
        selected: true,
    }];
    shipment_opts.extend(shipments.iter().map(|sh| Opt {
        value: sh.id.clone(),
        label: format!("{} ({})", sh.id, humanize(sh.status.as_str())),
        selected: false,
    }));
    Ok(ClaimsSection {
        items: claims
            .into_iter()
            .map(|c| ClaimRow {
                kind: humanize(c.kind.as_str()),
                resolution: humanize(c.resolution.as_str()),
                lines: c
                    .lines
                    .iter()
                    .map(|l| format!("{} × {}", l.quantity, l.sku))
                    .collect::<Vec<_>>()
                    .join(", "),
                refund: (c.resolution == ClaimResolution::Refund)
                    .then(|| format!("{} {}", c.refund, c.currency)),
                reship_order: c.reship_order,
                shipment: c.shipment,
                id: c.id,
            })
            .collect(),
        can_open: auth.allows(Permission::ManageOrders) && shipped,
        types: opts(ClaimType::ALL.iter().map(|t| t.as_str()), "missing_items"),
        resolutions: opts(ClaimResolution::ALL.iter().map(|r| r.as_str()), "reship"),
        skus,
        shipments: shipment_opts,
    })
}

/// `POST /orders/{number}/claims`.
pub(crate) async fn create(
    State(s): State<WebState>,
    Path(number): Path<String>,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::ManageOrders)?;
    let Some(o) = s.store.get_order(&number).await? else {
        return Err(WebError::NotFound(format!("Order {number}")));
    };
    let quantity = form.get("quantity").map(|q| q.trim().parse::<i64>());
    let here = format!("/orders/{}#claims", encode(&o.number));
    if let Some(Err(_)) = quantity {
        return Ok(auth.redirect_with(&here, false, "Quantity: must be a whole number."));
    }
    let kind = form.get("type");
    let late = kind.as_deref() == Some("late");
    let input = ClaimInput {
        kind,
        lines: if late {
            Vec::new()
        } else {
            vec![ClaimLineInput {
                sku: form.get("sku"),
                quantity: quantity.and_then(Result::ok),
            }]
        },
        resolution: form.get("resolution"),
        shipment: form.get("shipment").filter(|v| !v.is_empty()),
        notes: form.get("notes").filter(|v| !v.trim().is_empty()),
    };
    match ordo_store::open_claim(s.store.as_ref(), &o.number, input, &auth.context()).await {
        Ok(c) => {
            let mut text = format!("{} was opened.", c.id);
            if let Some(n) = &c.reship_order {
                text.push_str(&format!(" Reshipment order {n}."));
            }
            Ok(auth.redirect_with(&here, true, &text))
        }
        Err(ordo_store::StoreError::Problem(pr)) => {
            let (m, d) = crate::error::describe(&pr);
            let text = std::iter::once(m).chain(d).collect::<Vec<_>>().join(" ");
            Ok(auth.redirect_with(&here, false, &sentence(&text)))
        }
        Err(e) => Err(e.into()),
    }
}
