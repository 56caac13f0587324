//! The dashboard's 30-day chart as inline SVG: stacked bars of orders per day and channel.
//! Drawn on the server so it needs no script and prints as it looks.

use std::collections::BTreeMap;

use ordo_store::ChannelDay;
use time::{Date, Duration};

/// Distinct on white and for the common colour-vision deficiencies, in order of use.
const PALETTE: [&str; 8] = [
    "#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#4b5563", "#be185d",
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 28.0;

pub(crate) struct Segment {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub color: &'static str,
    pub label: String,
}

pub(crate) struct Tick {
    pub pos: String,
    pub label: String,
}

pub(crate) struct LegendEntry {
    pub color: &'static str,
    pub name: String,
    pub total: i64,
}

pub(crate) struct Chart {
    pub width: i64,
    pub height: i64,
    pub left: String,
    pub right: String,
    pub baseline: String,
    pub segments: Vec<Segment>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub legend: Vec<LegendEntry>,
    pub summary: String,
}

/// 1, 2 or 5 times a power of ten, at least `v`: axis labels stay round.
fn nice_ceiling(v: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= v {
                return step * m;
            }
        }
        step *= 10;
    }
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

pub(crate) fn build(daily: &[ChannelDay], last_day: Date, days: i64) -> Chart {
    let first = last_day - Duration::days(days - 1);
    let day_keys: Vec<String> = (0..days)
        .map(|i| (first + Duration::days(i)).to_string())
        .collect();
    let mut channels: BTreeMap<&str, i64> = BTreeMap::new();
    let mut per_day: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for d in daily.iter().filter(|d| day_keys.contains(&d.day)) {
        *channels.entry(&d.channel).or_default() += d.orders;
        *per_day.entry((&d.day, &d.channel)).or_default() += d.orders;
    }
    let colors: BTreeMap<&str, &'static str> = channels
        .keys()
        .enumerate()
        .map(|(i, c)| (*c, PALETTE[i % PALETTE.len()]))
        .collect();
    let max_total = day_keys
        .iter()
        .map(|day| {
            channels
                .keys()
                .map(|c| per_day.get(&(day.as_str(), *c)).copied().unwrap_or(0))
                .sum::<i64>()
        })
        .max()
        .unwrap_or(0);
    // Four gridlines at a round step, so every label is a whole, round number.
    let step = nice_ceiling((max_total.max(1) + 3) / 4);
    let top = step * ((max_total.max(1) + step - 1) / step).max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let baseline = TOP + plot_h;
    let slot = plot_w / days as f64;
    let bar_w = slot * 0.72;
    let scale = plot_h / top as f64;

    let mut segments = Vec::new();
    for (i, day) in day_keys.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = baseline;
        for c in channels.keys() {
            let n = per_day.get(&(day.as_str(), *c)).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = n as f64 * scale;
            y -= h;
            segments.push(Segment {
                x: f(x),
                y: f(y),
                w: f(bar_w),
                h: f(h),
                color: colors[c],
                label: format!("{day}, {c}: {n} order{}", if n == 1 { "" } else { "s" }),
            });
        }
    }
    let y_ticks = (0..=top / step)
        .map(|k| {
            let value = step * k;
            Tick {
                pos: f(baseline - value as f64 * scale),
                label: value.to_string(),
            }
        })
        .collect();
    // A label every fifth day, counted back from today so today is always labelled.
    let x_ticks = day_keys
        .iter()
        .enumerate()
        .filter(|(i, _)| (days as usize - 1 - i).is_multiple_of(5))
        .map(|(i, day)| Tick {
            pos: f(LEFT + slot * i as f64 + slot / 2.0),
            label: day.get(5..).unwrap_or(day).to_string(),
        })
        .collect();
    let total: i64 = channels.values().sum();
    let summary = if channels.is_empty() {
        format!("No orders in the last {days} days.")
    } else {
        format!(
            "{total} orders from {} to {}: {}. Busiest day: {max_total} orders.",
            day_keys[0],
            day_keys[day_keys.len() - 1],
            channels
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Chart {
        width: WIDTH as i64,
        height: HEIGHT as i64,
        left: f(LEFT),
        right: f(WIDTH - RIGHT),
        baseline: f(baseline),
        segments,
        y_ticks,
        x_ticks,
        legend: channels
            .iter()
            .map(|(c, n)| LegendEntry {
                color: colors[c],
                name: c.to_string(),
                total: *n,
            })
            .collect(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, channel: &str, orders: i64) -> ChannelDay {
        ChannelDay {
            day: day.into(),
            channel: channel.into(),
            currency: String::new(),
            orders,
            revenue_minor: 0,
        }
    }

    #[test]
    fn stacks_channels_per_day() {
        let today = Date::from_calendar_date(2026, time::Month::November, 26).unwrap();
        let c = build(
            &[
                day("2026-11-26", "web", 3),
                day("2026-11-26", "amazon", 1),
                day("2026-11-20", "web", 7),
                day("2026-10-01", "web", 99),
            ],
            today,
            30,
        );
        assert_eq!(c.segments.len(), 3);
        assert_eq!(c.legend.len(), 2);
        let labels: Vec<&str> = c.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "2", "4", "6", "8"]);
        assert_eq!(c.x_ticks.last().unwrap().label, "11-26");
        assert!(c.summary.contains("amazon 1"));
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice_ceiling(4), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(200), 200);
        assert_eq!(nice_ceiling(201), 500);
    }
}
