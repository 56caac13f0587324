//! CSV downloads of the catalog, the stock grid and a location's pick bins, under the same
//! role rules as the pages that link them. Lists are read page by page while the download
//! runs, so a large catalog never sits in memory whole.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use ordo_domain::catalog::Product;
use ordo_store::{BalanceFilter, BalanceRow, Page, PageRequest, Permission, Store, StoreError};
use time::OffsetDateTime;

use crate::WebState;
use crate::error::{WebError, WebResult};
use crate::orders::csv_field;
use crate::session::Auth;

const CHUNK: i64 = 500;

/// Products in the import's columns, so an edited file can be imported back.
const PRODUCTS_HEADER: &str = "sku,name,price,barcode,weight_g,category,handling_classes\r\n";
/// Every stock state of one SKU at one location.
const STOCK_HEADER: &str =
    "sku,location,on_hand,allocated,available,damaged,quality_control,safety_stock,incoming\r\n";
/// As the location page's pick-bin form takes them.
const BINS_HEADER: &str = "sku,bin\r\n";

fn line(fields: &[&str]) -> String {
    let mut out = String::with_capacity(fields.len() * 12);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, f);
    }
    out.push_str("\r\n");
    out
}

fn product_line(p: &Product) -> String {
    let classes: Vec<&str> = p.handling_classes.iter().map(|h| h.as_str()).collect();
    line(&[
        &p.sku,
        &p.name,
        &p.price,
        p.barcode.as_deref().unwrap_or(""),
        &p.weight_g.to_string(),
        p.category.as_deref().unwrap_or(""),
        &classes.join(";"),
    ])
}

fn stock_line(r: &BalanceRow) -> String {
    let b = &r.balance;
    line(&[
        &r.sku,
        &r.location,
        &b.on_hand.to_string(),
        &b.allocated.to_string(),
        &r.available.to_string(),
        &b.damaged.to_string(),
        &b.quality_control.to_string(),
        &b.safety_stock.to_string(),
        &b.incoming.to_string(),
    ])
}

/// A download of `header` then every page `fetch` returns, each item made a line by `row`.
fn paged_csv<T, F, Fut>(
    name: &str,
    header: &'static str,
    store: Arc<dyn Store>,
    fetch: F,
    row: fn(&T) -> String,
) -> WebResult
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, PageRequest) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Page<T>, StoreError>> + Send,
{
    // State: the next cursor (None after the last page) and whether the header went out.
    let stream =
        futures_util::stream::unfold((Some(None::<String>), true), move |(cursor, first)| {
            let (store, fetch) = (store.clone(), fetch.clone());
            async move {
                let cursor = cursor?;
                let page = PageRequest {
                    limit: Some(CHUNK),
                    cursor,
                };
                match fetch(store, page).await {
                    Ok(p) => {
                        let mut chunk = String::with_capacity(p.items.len() * 80 + 100);
                        if first {
                            chunk.push_str(header);
                        }
                        for item in &p.items {
                            chunk.push_str(&row(item));
                        }
                        Some((Ok::<_, StoreError>(chunk), (p.next_cursor.map(Some), false)))
                    }
                    Err(e) => Some((Err(e), (None, false))),
                }
            }
        });
    Ok(attachment(name, Body::from_stream(stream)))
}

fn attachment(name: &str, body: Body) -> axum::response::Response {
    let file = format!(
        "{name}-{}.csv",
        crate::view::fmt_date(OffsetDateTime::now_utc())
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /products/export.csv`: every product, by SKU.
pub(crate) async fn products(State(s): State<WebState>, auth: Auth) -> WebResult {
    auth.require(Permission::Read)?;
    paged_csv(
        "products",
        PRODUCTS_HEADER,
        s.store.clone(),
        |store, page| async move { store.list_products(&page).await },
        product_line,
    )
}

/// `GET /inventory/export.csv`: every state of every SKU at every location, narrowed by the
/// grid's own `sku` and `location` filters when given.
pub(crate) async fn stock(
    State(s): State<WebState>,
    auth: Auth,
    axum::extract::Query(q): axum::extract::Query<BalanceFilter>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let filter = Arc::new(BalanceFilter {
        sku: q.sku.filter(|v| !v.trim().is_empty()),
        location: q.location.filter(|v| !v.trim().is_empty()),
    });
    paged_csv(
        "stock",
        STOCK_HEADER,
        s.store.clone(),
        move |store: Arc<dyn Store>, page: PageRequest| {
            let filter = filter.clone();
            async move { store.list_balances(&filter, &page).await }
        },
        stock_line,
    )
}

/// `GET /locations/{code}/bins.csv`: the location's pick bin of each SKU.
pub(crate) async fn bins(
    State(s): State<WebState>,
    auth: Auth,
    Path(code): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    if !s
        .store
        .list_locations()
        .await?
        .iter()
        .any(|l| l.code == code)
    {
        return Err(WebError::NotFound(format!("location {code}")));
    }
    let mut body = String::from(BINS_HEADER);
    for b in s.store.sku_bins(&code).await? {
        body.push_str(&line(&[&b.sku, &b.bin]));
    }
    Ok(attachment(&format!("bins-{code}"), Body::from(body)))
}
