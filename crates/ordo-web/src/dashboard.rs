//! `/`: today's figures, what needs attention, the 30-day chart and the latest orders.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use ordo_domain::shipment::ShipmentStatus;
use ordo_store::{OrderFilter, OrderSummary, PageRequest, Permission, ShipmentFilter};
use time::{OffsetDateTime, Time};

use crate::WebState;
use crate::chart::{self, Chart};
use crate::error::WebResult;
use crate::session::Auth;
use crate::view::{PageCtx, fmt_time, group, humanize, money, page};

const CHART_DAYS: i64 = 30;
pub(crate) const LATEST_ROWS: i64 = 10;

/// One row of an orders table, as the dashboard and its live updates show it.
pub(crate) struct OrderRow {
    pub number: String,
    pub placed: String,
    pub channel: String,
    pub email: String,
    pub status: &'static str,
    pub status_label: String,
    pub total: String,
    pub units: i64,
}

impl OrderRow {
    pub fn from_summary(o: &OrderSummary) -> Self {
        OrderRow {
            number: o.number.clone(),
            placed: fmt_time(o.placed_at),
            channel: o.channel.clone(),
            email: o.email.clone(),
            status: o.status.as_str(),
            status_label: humanize(o.status.as_str()),
            total: format!("{} {}", group(&o.total), o.currency),
            units: o.units,
        }
    }
}

/// The live stream's fragment: the same markup as the dashboard's rows.
#[derive(Template)]
#[template(path = "order_row.html")]
pub(crate) struct OrderRowFragment {
    pub o: OrderRow,
}

struct LowRow {
    sku: String,
    available: i64,
    out: bool,
}

struct TodayRow {
    channel: String,
    orders: i64,
    revenue: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageCtx,
    today: Vec<TodayRow>,
    today_orders: i64,
    backordered: i64,
    partially_allocated: i64,
    on_hold: i64,
    out_of_stock: i64,
    to_pick: i64,
    to_pack: i64,
    to_ship: i64,
    late: i64,
    /// Shipments a carrier reported a problem with (`500+` past one read).
    exceptions: String,
    low_stock: Vec<LowRow>,
    chart: Chart,
    latest: Vec<OrderRow>,
    after: i64,
}

async fn render(s: &WebState, auth: &Auth) -> WebResult {
    let now = OffsetDateTime::now_utc();
    let since = now.replace_time(Time::MIDNIGHT);
    let d = s.store.dashboard(since, CHART_DAYS).await?;
    let latest = s
        .store
        .list_orders(
            &OrderFilter::default(),
            &PageRequest {
                limit: Some(LATEST_ROWS),
                cursor: None,
            },
        )
        .await?;
    let after = s.store.last_event_seq().await?;
    const EXCEPTIONS_READ: i64 = 500;
    let exceptions = s
        .store
        .list_shipments(
            &ShipmentFilter {
                status: Some(ShipmentStatus::Exception),
                ..Default::default()
            },
            &PageRequest {
                limit: Some(EXCEPTIONS_READ),
                cursor: None,
            },
        )
        .await?;
    let exceptions =
        if exceptions.next_cursor.is_some() || exceptions.items.len() as i64 >= EXCEPTIONS_READ {
            format!("{EXCEPTIONS_READ}+")
        } else {
            exceptions.items.len().to_string()
        };
    let today_orders = d.today.iter().map(|t| t.orders).sum();
    let ctx = PageCtx::new(auth, "dashboard");
    let p = DashboardPage {
        today: d
            .today
            .iter()
            .map(|t| TodayRow {
                channel: t.channel.clone(),
                orders: t.orders,
                revenue: money(t.revenue_minor, &t.currency),
            })
            .collect(),
        today_orders,
        backordered: d.backordered,
        partially_allocated: d.partially_allocated,
        on_hold: d.on_hold,
        out_of_stock: d.out_of_stock,
        to_pick: d.to_pick,
        to_pack: d.to_pack,
        to_ship: d.to_ship,
        late: d.late,
        exceptions,
        low_stock: d
            .low_stock
            .iter()
            .map(|l| LowRow {
                sku: l.sku.clone(),
                available: l.available,
                out: l.available <= 0,
            })
            .collect(),
        chart: chart::build(&d.daily, now.date(), CHART_DAYS),
        latest: latest.items.iter().map(OrderRow::from_summary).collect(),
        after,
        ctx,
    };
    page(&p.ctx, &p)
}

pub(crate) async fn show(State(s): State<WebState>, auth: Auth) -> WebResult {
    if !auth.sees_dashboard() {
        return Ok(Redirect::to(crate::session::home_for(auth.session.user.role)).into_response());
    }
    auth.require(Permission::Read)?;
    render(&s, &auth).await
}
