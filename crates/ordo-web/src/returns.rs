//! Returns (RMA): the list across orders at `/returns`, filtered by status and paged by
//! cursor, each row linking to its order; and the order page's read-only returns section.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::Problem;
use ordo_domain::order::Order;
use ordo_domain::returns::{
    Condition, Grade, ReceivedLine, Resolution, ReturnInput, ReturnLineInput, ReturnMethod,
    ReturnReason, ReturnStatus, ReturnStep, return_transition,
};
use ordo_store::{Outcome, Page, PageRequest, Permission, ReturnFilter, Rma, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::error::sentence;
use crate::error::{WebError, WebResult};
use crate::form::{FormData, encode, query};
use crate::orders::{Opt, render_order};
use crate::session::{Auth, Posted};
use crate::view::{Flash, PageCtx, fmt_time, humanize, money, page};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    fn text(v: &Option<String>) -> &str {
        v.as_deref().map(str::trim).unwrap_or("")
    }
    fn href(&self, cursor: &str) -> String {
        let q = query([("status", Self::text(&self.status)), ("cursor", cursor)]);
        if q.is_empty() {
            "/returns".into()
        } else {
            format!("/returns?{q}")
        }
    }
}

/// Minor units of a refund as the store formats it (`12.50`), shown with its currency.
fn refund_text(r: &Rma) -> String {
    let minor = r.refund.replace('.', "").parse::<i64>().unwrap_or(0);
    if minor == 0 {
        "—".into()
    } else {
        money(minor, &r.currency)
    }
}

pub(crate) struct ListRow {
    pub id: String,
    pub order: String,
    pub status: &'static str,
    pub status_label: String,
    pub resolution: String,
    pub refund: String,
    pub created: String,
}

impl ListRow {
    fn new(r: &Rma) -> Self {
        ListRow {
            id: r.id.clone(),
            order: r.order.clone(),
            status: r.status.as_str(),
            status_label: humanize(r.status.as_str()),
            resolution: humanize(r.resolution.as_str()),
            refund: refund_text(r),
            created: fmt_time(r.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "returns.html")]
struct ListPage {
    ctx: PageCtx,
    statuses: Vec<Opt>,
    errors: Vec<String>,
    rows: Vec<ListRow>,
    filtered: bool,
    paged: bool,
    first_href: String,
    next_href: Option<String>,
}

/// Returns shown on an order page.
const ORDER_RETURNS: i64 = 50;

/// The order page's returns section: the order's returns and, for those who manage
/// orders, the request form over the shipped lines.
pub(crate) struct ReturnsSection {
    pub items: Vec<ListRow>,
    pub can_request: bool,
    pub skus: Vec<Opt>,
    pub reasons: Vec<Opt>,
    pub resolutions: Vec<Opt>,
    pub methods: Vec<Opt>,
    pub quantity: String,
    pub exchange_sku: String,
    pub message: Option<Flash>,
    pub open: bool,
}

fn options(all: &[&'static str], chosen: &str) -> Vec<Opt> {
    all.iter()
        .map(|v| Opt {
            value: (*v).into(),
            label: humanize(v),
            selected: *v == chosen,
        })
        .collect()
}

/// The section for `o`; `posted` is a refused request, shown again with its message.
pub(crate) async fn section(
    s: &WebState,
    o: &Order,
    auth: &Auth,
    posted: Option<(&FormData, Flash)>,
) -> WebResult<ReturnsSection> {
    let items = for_order(s, &o.number).await?;
    let shipped: Vec<&str> = o
        .lines
        .iter()
        .filter(|l| l.shipped > 0)
        .map(|l| l.sku.as_str())
        .collect();
    let value = |k: &str| {
        posted
            .as_ref()
            .and_then(|(f, _)| f.get(k))
            .unwrap_or_default()
    };
    let sku = value("sku");
    Ok(ReturnsSection {
        items,
        can_request: auth.allows(Permission::ManageOrders) && !shipped.is_empty(),
        skus: shipped
            .iter()
            .map(|k| Opt {
                value: (*k).into(),
                label: (*k).into(),
                selected: *k == sku,
            })
            .collect(),
        reasons: options(
            &ReturnReason::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>(),
            &value("reason"),
        ),
        resolutions: options(
            &Resolution::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>(),
            &value("resolution"),
        ),
        methods: options(
            &ReturnMethod::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>(),
            &value("method"),
        ),
        quantity: posted
            .as_ref()
            .map(|(f, _)| f.raw("quantity"))
            .unwrap_or_else(|| "1".into()),
        exchange_sku: posted
            .as_ref()
            .map(|(f, _)| f.raw("exchange_sku"))
            .unwrap_or_default(),
        open: posted.is_some(),
        message: posted.map(|(_, m)| m),
    })
}

/// `POST /orders/{number}/returns`: asks for a return of one shipped line.
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
    let quantity = form.get("quantity");
    let parsed = quantity.as_deref().map(str::parse::<i64>);
    let result = match parsed {
        Some(Err(_)) => Err(StoreError::Problem(Problem::invalid(
            "quantity",
            "must be a whole number",
        ))),
        _ => {
            let input = ReturnInput {
                order: Some(o.number.clone()),
                lines: vec![ReturnLineInput {
                    sku: form.get("sku"),
                    line_no: None,
                    quantity: parsed.clone().and_then(Result::ok),
                    reason: form.get("reason"),
                }],
                resolution: form.get("resolution"),
                method: form.get("method"),
                notes: None,
                exchange_lines: form
                    .get("exchange_sku")
                    .filter(|s| !s.trim().is_empty())
                    .map(|sku| ordo_domain::returns::ExchangeLineInput {
                        sku: Some(sku),
                        quantity: parsed.as_ref().and_then(|q| q.as_ref().ok()).copied(),
                    })
                    .into_iter()
                    .collect(),
            };
            s.store.create_return(input, &auth.context()).await
        }
    };
    let here = format!("/orders/{}#returns", encode(&o.number));
    match result {
        Ok(Outcome::Done(c)) => {
            let r = settle(&s, &auth, c.value).await?;
            let mut text = format!("{} was requested ({}).", r.id, humanize(r.status.as_str()));
            if let Some(n) = &r.exchange_order {
                text.push_str(&format!(" Replacement order {n}."));
            }
            Ok(auth.redirect_with(&here, true, &text))
        }
        Ok(Outcome::Replayed { .. }) => {
            Ok(auth.redirect_with(&here, true, "This change was already applied."))
        }
        Err(StoreError::Problem(pr)) => {
            let status = match &pr {
                Problem::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Problem::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            let (m, d) = crate::error::describe(&pr);
            let text = std::iter::once(m).chain(d).collect::<Vec<_>>().join(" ");
            let flash = Flash {
                ok: false,
                text: sentence(&text),
            };
            let rt = section(&s, &o, &auth, Some((&form, flash))).await?;
            let p = render_order(&s, &auth, &o.number, None)
                .await?
                .with_returns(rt);
            let mut r = page(&p.ctx, &p)?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// An exchange's replacement order follows the return (see `ordo_store::settle_exchange`).
async fn settle(s: &WebState, auth: &Auth, rma: ordo_store::Rma) -> WebResult<ordo_store::Rma> {
    let ctx = ordo_store::WriteContext {
        actor: auth.context().actor,
        idempotency_key: None,
    };
    Ok(ordo_store::settle_exchange(s.store.as_ref(), rma, &ctx).await?)
}

async fn for_order(s: &WebState, number: &str) -> WebResult<Vec<ListRow>> {
    let page = s
        .store
        .list_returns(
            &ReturnFilter {
                order: Some(number.to_string()),
                status: None,
            },
            &PageRequest {
                limit: Some(ORDER_RETURNS),
                cursor: None,
            },
        )
        .await?;
    Ok(page.items.iter().map(ListRow::new).collect())
}

/// Units received back per order line (by line number), over every return of the order.
pub(crate) async fn returned_units(
    s: &WebState,
    number: &str,
) -> WebResult<std::collections::HashMap<i32, i64>> {
    let mut per_line = std::collections::HashMap::new();
    let mut cursor = None;
    loop {
        let page = s
            .store
            .list_returns(
                &ReturnFilter {
                    order: Some(number.to_string()),
                    status: None,
                },
                &PageRequest {
                    limit: Some(500),
                    cursor,
                },
            )
            .await?;
        for r in &page.items {
            for l in &r.received {
                *per_line.entry(l.line_no).or_insert(0) += l.quantity;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(per_line),
        }
    }
}

/// `GET /returns`: returns across orders, newest first.
pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    auth.require(Permission::Read)?;
    let status_text = ListQuery::text(&q.status);
    let mut errors = Vec::new();
    let status = match status_text {
        "" => None,
        t => ReturnStatus::parse(t).or_else(|| {
            errors.push("Status: choose one of the listed statuses.".to_string());
            None
        }),
    };
    let cursor = ListQuery::text(&q.cursor).to_string();
    let (items, next) = if !errors.is_empty() {
        (vec![], None)
    } else {
        let got = s
            .store
            .list_returns(
                &ReturnFilter {
                    order: None,
                    status,
                },
                &PageRequest {
                    limit: Some(PAGE_SIZE),
                    cursor: Some(cursor.clone()).filter(|c| !c.is_empty()),
                },
            )
            .await;
        match got {
            Ok(Page { items, next_cursor }) => (items, next_cursor),
            Err(StoreError::Problem(p)) => {
                let (m, d) = crate::error::describe(&p);
                errors.push(std::iter::once(m).chain(d).collect::<Vec<_>>().join(" "));
                (vec![], None)
            }
            Err(e) => return Err(e.into()),
        }
    };
    let p = ListPage {
        ctx: PageCtx::new(&auth, "returns"),
        statuses: ReturnStatus::ALL
            .iter()
            .map(|st| Opt {
                value: st.as_str().into(),
                label: humanize(st.as_str()),
                selected: st.as_str() == status_text,
            })
            .collect(),
        errors,
        rows: items.iter().map(ListRow::new).collect(),
        filtered: !status_text.is_empty(),
        paged: !cursor.is_empty(),
        first_href: q.href(""),
        next_href: next.map(|c| q.href(&c)),
    };
    Ok(page(&p.ctx, &p)?.into_response())
}

// ---------------------------------------------------------------------------------------
// One return

struct LineRow {
    line_no: i32,
    sku: String,
    quantity: i64,
    reason: String,
    /// The receive form's inputs for this line.
    qty_name: String,
    cond_name: String,
}

struct ReceivedRow {
    sku: String,
    quantity: i64,
    condition: String,
}

struct GradedRow {
    sku: String,
    quantity: i64,
    grade: &'static str,
}

#[derive(Template)]
#[template(path = "return.html")]
struct DetailPage {
    ctx: PageCtx,
    r: Rma,
    status_label: String,
    resolution: String,
    exchange_order: Option<String>,
    /// What an exchange or replacement sends, in words.
    exchange: String,
    method: String,
    refund: String,
    created: String,
    updated: String,
    lines: Vec<LineRow>,
    received: Vec<ReceivedRow>,
    graded: Vec<GradedRow>,
    can_approve: bool,
    can_ship: bool,
    can_issue_label: bool,
    /// The label can be printed (approved, goods travel back).
    has_label: bool,
    can_close: bool,
    can_receive: bool,
    can_grade: bool,
    locations: Vec<Opt>,
    conditions: Vec<Opt>,
    grade_skus: Vec<Opt>,
}

fn allowed(r: &Rma, step: ReturnStep) -> bool {
    return_transition(r.status, r.method, step).is_ok()
}

/// `GET /returns/{id}`: the return with the actions its status and the user's role allow.
pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let Some(r) = s.store.get_return(&id).await? else {
        return Err(WebError::NotFound(format!("Return {id}")));
    };
    let manage = auth.allows(Permission::ManageOrders);
    let stock = auth.allows(Permission::WriteStock);
    let locations = if stock {
        s.store.list_locations().await?
    } else {
        vec![]
    };
    let mut grade_skus: Vec<Opt> = Vec::new();
    for l in &r.received {
        if l.condition == Condition::Defective && !grade_skus.iter().any(|o| o.value == l.sku) {
            grade_skus.push(Opt {
                value: l.sku.clone(),
                label: l.sku.clone(),
                selected: grade_skus.is_empty(),
            });
        }
    }
    let exchange_order = ordo_store::exchange_order(s.store.as_ref(), &r).await?;
    let p = DetailPage {
        ctx: PageCtx::new(&auth, "returns"),
        exchange_order,
        exchange: r
            .exchange_lines
            .iter()
            .map(|l| format!("{} × {}", l.quantity, l.sku))
            .collect::<Vec<_>>()
            .join(", "),
        status_label: humanize(r.status.as_str()),
        resolution: humanize(r.resolution.as_str()),
        method: humanize(r.method.as_str()),
        refund: refund_text(&r),
        created: fmt_time(r.created_at),
        updated: fmt_time(r.updated_at),
        lines: r
            .lines
            .iter()
            .map(|l| LineRow {
                line_no: l.line_no,
                sku: l.sku.clone(),
                quantity: l.quantity,
                reason: humanize(l.reason.as_str()),
                qty_name: format!("qty_{}", l.line_no),
                cond_name: format!("cond_{}", l.line_no),
            })
            .collect(),
        received: r
            .received
            .iter()
            .map(|l| ReceivedRow {
                sku: l.sku.clone(),
                quantity: l.quantity,
                condition: humanize(l.condition.as_str()),
            })
            .collect(),
        graded: r
            .graded
            .iter()
            .map(|g| GradedRow {
                sku: g.sku.clone(),
                quantity: g.quantity,
                grade: match g.grade {
                    Grade::Restock => "Restocked",
                    Grade::WriteOff => "Written off",
                },
            })
            .collect(),
        can_approve: manage && allowed(&r, ReturnStep::Approve),
        can_ship: manage && allowed(&r, ReturnStep::Ship),
        can_issue_label: manage && allowed(&r, ReturnStep::IssueLabel),
        has_label: r.method != ordo_domain::returns::ReturnMethod::KeepItem
            && !matches!(
                r.status,
                ordo_domain::returns::ReturnStatus::Requested
                    | ordo_domain::returns::ReturnStatus::Rejected
            ),
        can_close: manage && allowed(&r, ReturnStep::Close),
        can_receive: stock && allowed(&r, ReturnStep::Receive),
        can_grade: stock
            && matches!(r.status, ReturnStatus::Received | ReturnStatus::Inspected)
            && !grade_skus.is_empty(),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: false,
            })
            .collect(),
        conditions: Condition::ALL
            .iter()
            .map(|c| Opt {
                value: c.as_str().into(),
                label: humanize(c.as_str()),
                selected: *c == Condition::Resellable,
            })
            .collect(),
        grade_skus,
        r,
    };
    page(&p.ctx, &p)
}

fn whole(form: &FormData, key: &str) -> Result<Option<i64>, Problem> {
    match form.get(key) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| Problem::invalid(key, "must be a whole number")),
    }
}

/// `POST /returns/{id}/{action}`: approve, reject, ship, close (managing orders), receive
/// and grade (writing stock). The answer is the return page with a message.
pub(crate) async fn act(
    State(s): State<WebState>,
    Path((id, action)): Path<(String, String)>,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    let step = match action.as_str() {
        "approve" => Some(ReturnStep::Approve),
        "reject" => Some(ReturnStep::Reject),
        "ship" => Some(ReturnStep::Ship),
        "label" => Some(ReturnStep::IssueLabel),
        "close" => Some(ReturnStep::Close),
        "receive" | "grade" => None,
        _ => return Err(WebError::NotFound(format!("The action '{action}'"))),
    };
    auth.require(if step.is_some() {
        Permission::ManageOrders
    } else {
        Permission::WriteStock
    })?;
    let Some(r) = s.store.get_return(&id).await? else {
        return Err(WebError::NotFound(format!("Return {id}")));
    };
    let ctx = auth.context();
    let result = match step {
        Some(step) => {
            s.store
                .return_step(&r.id, step, form.get("reason"), &ctx)
                .await
        }
        None if action == "receive" => {
            let mut lines = Vec::new();
            let mut bad = None;
            for l in &r.lines {
                let quantity = match whole(&form, &format!("qty_{}", l.line_no)) {
                    Ok(q) => q.unwrap_or(0),
                    Err(p) => {
                        bad = Some(p);
                        break;
                    }
                };
                if quantity == 0 {
                    continue;
                }
                let cond = form.get(&format!("cond_{}", l.line_no)).unwrap_or_default();
                let Some(condition) = Condition::parse(&cond) else {
                    bad = Some(Problem::invalid(
                        format!("cond_{}", l.line_no),
                        format!("choose one of {}", Condition::list()),
                    ));
                    break;
                };
                lines.push(ReceivedLine {
                    line_no: l.line_no,
                    sku: l.sku.clone(),
                    quantity,
                    condition,
                });
            }
            match bad {
                Some(p) => Err(StoreError::Problem(p)),
                None => {
                    let location = form.get("location").unwrap_or_default();
                    s.store.receive_return(&r.id, &location, lines, &ctx).await
                }
            }
        }
        None => {
            let grade = match form.get("grade").as_deref() {
                Some("restock") => Some(Grade::Restock),
                Some("write_off") => Some(Grade::WriteOff),
                _ => None,
            };
            match (grade, whole(&form, "quantity")) {
                (_, Err(p)) => Err(StoreError::Problem(p)),
                (None, _) => Err(StoreError::Problem(Problem::invalid(
                    "grade",
                    "choose restock or write_off",
                ))),
                (Some(g), Ok(q)) => {
                    let sku = form.get("sku").unwrap_or_default();
                    s.store
                        .grade_return(&r.id, &sku, q.unwrap_or(0), g, &ctx)
                        .await
                }
            }
        }
    };
    let here = format!("/returns/{}", encode(&r.id));
    match result {
        Ok(Outcome::Done(after)) => {
            let after = settle(&s, &auth, after).await?;
            let mut text = format!("{}: {}.", after.id, humanize(after.status.as_str()));
            if let Some(n) = &after.exchange_order {
                text.push_str(&format!(" Replacement order {n}."));
            }
            Ok(auth.redirect_with(&here, true, &text))
        }
        Ok(Outcome::Replayed { .. }) => {
            Ok(auth.redirect_with(&here, true, "This change was already applied."))
        }
        Err(StoreError::Problem(pr)) => {
            let (m, d) = crate::error::describe(&pr);
            let text = std::iter::once(m).chain(d).collect::<Vec<_>>().join(" ");
            Ok(auth.redirect_with(&here, false, &sentence(&text)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /returns/{id}/label.pdf`: the return label, built as the API builds it.
pub(crate) async fn label_pdf(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let label = ordo_http::documents::return_label(s.store.as_ref(), &id).await?;
    let pdf = label.to_pdf().map_err(crate::labels::document_error)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"{}-label.pdf\"",
                    id.replace(['"', '\\'], "")
                ),
            ),
        ],
        pdf,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_filter() {
        let q = ListQuery {
            status: Some(" approved ".into()),
            cursor: Some("old".into()),
        };
        assert_eq!(q.href("abc"), "/returns?status=approved&cursor=abc");
        assert_eq!(ListQuery::default().href(""), "/returns");
    }
}
