//! Results as a terminal table and as Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

#[derive(Default)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

impl Latency {
    pub fn from_hist(h: &Histogram<u64>) -> Latency {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            p999: ms(0.999),
        }
    }
}

pub struct Reads {
    pub per_sec: f64,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Row {
    pub scenario: String,
    pub db: String,
    pub processes: usize,
    pub connections: usize,
    pub orders_per_sec: f64,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
    pub cpu_pct: Option<f64>,
    pub rss_mib: Option<f64>,
    pub db_mib: Option<f64>,
    pub ceiling: Option<f64>,
    pub reads: Option<Reads>,
    pub violations: Vec<String>,
    pub notes: Vec<String>,
    /// Set when the run could not complete.
    pub failure: Option<String>,
}

impl Row {
    pub fn ratio(&self) -> Option<f64> {
        self.ceiling
            .filter(|c| *c > 0.0)
            .map(|c| self.orders_per_sec / c)
    }

    pub fn server_errors(&self) -> u64 {
        let mut n: u64 = self
            .errors
            .iter()
            .filter(|(k, _)| k.starts_with('5'))
            .map(|(_, v)| v)
            .sum();
        if let Some(r) = &self.reads {
            n += r
                .errors
                .iter()
                .filter(|(k, _)| k.starts_with('5'))
                .map(|(_, v)| v)
                .sum::<u64>();
        }
        n
    }

    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.violations.is_empty() && self.server_errors() == 0
    }
}

pub fn error_text(errors: &BTreeMap<String, u64>) -> String {
    let total: u64 = errors.values().sum();
    if total == 0 {
        return "0".into();
    }
    let detail: Vec<String> = errors.iter().map(|(k, v)| format!("{k}×{v}")).collect();
    format!("{total} ({})", detail.join(", "))
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

/// Which benchmark the rows come from: order captures through the API, or channel webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Orders,
    Webhooks,
}

impl Mode {
    fn headers(self) -> Vec<&'static str> {
        match self {
            Mode::Orders => HEADERS.to_vec(),
            // No storage ceiling for webhooks: the capture path is the same.
            Mode::Webhooks => {
                let mut h = HEADERS[..13].to_vec();
                h[0] = "webhook";
                h[4] = "webhooks/s";
                h
            }
        }
    }
}

const HEADERS: [&str; 15] = [
    "scenario",
    "db",
    "processes",
    "connections",
    "orders/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
    "server CPU %",
    "peak RSS MiB",
    "DB size MiB",
    "ceiling orders/s",
    "ratio",
];

fn cells(r: &Row, mode: Mode) -> Vec<String> {
    let mut c = all_cells(r);
    c.truncate(mode.headers().len());
    c
}

fn all_cells(r: &Row) -> Vec<String> {
    let failed = r.failure.is_some();
    let num = |v: f64, d: usize| {
        if failed {
            "–".to_string()
        } else {
            format!("{v:.d$}")
        }
    };
    vec![
        r.scenario.clone(),
        r.db.clone(),
        r.processes.to_string(),
        r.connections.to_string(),
        num(r.orders_per_sec, 1),
        num(r.latency.p50, 2),
        num(r.latency.p90, 2),
        num(r.latency.p99, 2),
        num(r.latency.p999, 2),
        if failed {
            "FAILED".into()
        } else {
            error_text(&r.errors)
        },
        opt(r.cpu_pct, 0),
        opt(r.rss_mib, 1),
        opt(r.db_mib, 1),
        opt(r.ceiling, 0),
        r.ratio()
            .map_or_else(|| "–".into(), |x| format!("{:.1} %", x * 100.0)),
    ]
}

fn details(rows: &[Row], bullet: &str) -> String {
    let mut s = String::new();
    for r in rows {
        let tag = format!("{}/{}", r.scenario, r.db);
        if let Some(reads) = &r.reads {
            let _ = writeln!(
                s,
                "{bullet}{tag}: reads GET /api/v1/orders/{{id}}: {:.1}/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, errors {}",
                reads.per_sec,
                reads.latency.p50,
                reads.latency.p90,
                reads.latency.p99,
                reads.latency.p999,
                error_text(&reads.errors)
            );
        }
        if let Some(f) = &r.failure {
            let _ = writeln!(s, "{bullet}{tag}: FAILED: {f}");
        }
        for v in &r.violations {
            let _ = writeln!(s, "{bullet}{tag}: INVARIANT VIOLATED: {v}");
        }
        for n in &r.notes {
            let _ = writeln!(s, "{bullet}{tag}: {n}");
        }
    }
    s
}

pub fn terminal(rows: &[Row], mode: Mode) -> String {
    let headers = mode.headers();
    let mut table: Vec<Vec<String>> = vec![headers.iter().map(|h| h.to_string()).collect()];
    table.extend(rows.iter().map(|r| cells(r, mode)));
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (i, r) in table.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (v, w))| {
                if c < 2 {
                    format!("{v:<w$}")
                } else {
                    format!("{v:>w$}")
                }
            })
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                s,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
    }
    s.push_str(&details(rows, "  "));
    s
}

pub fn markdown(rows: &[Row], mode: Mode, machine: &str, command: &str, passed: bool) -> String {
    let headers = mode.headers();
    let mut s = String::from(match mode {
        Mode::Orders => "# Ordo benchmark results\n\n",
        Mode::Webhooks => "# Ordo channel webhook benchmark results\n\n",
    });
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let _ = writeln!(
        s,
        "|{}|",
        headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", cells(r, mode).join(" | ").replace('\n', " "));
    }
    s.push('\n');
    let d = details(rows, "- ");
    if !d.is_empty() {
        s.push_str(&d);
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "- Result: {}",
        if passed {
            "all invariants held, no 5xx"
        } else {
            "FAILED"
        }
    );
    let _ = writeln!(s, "- Machine: {machine}");
    let _ = writeln!(s, "- Command: `{command}`");
    if mode == Mode::Webhooks {
        s.push_str(
            "\nColumns: webhooks/s counts signed `orders/create` deliveries answered 201 (order \
             captured) that completed after warm-up; latency is per delivery on a keep-alive \
             connection; server CPU % is of one core over the measured window; peak RSS is the \
             servers' high-water mark so far; DB size is taken after the run.\n",
        );
        return s;
    }
    s.push_str(
        "\nColumns: orders/s counts 201 and 200 answers completed after warm-up; latency is per request \
         on a keep-alive connection; server CPU % is of one core over the measured window; peak RSS is \
         summed over server processes; the ceiling is the same rows written straight into the same \
         engine in 1000-order transactions, and ratio is orders/s ÷ ceiling.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render() {
        let mut errors = BTreeMap::new();
        errors.insert("500".to_string(), 2);
        let row = Row {
            scenario: "mixed".into(),
            db: "sqlite".into(),
            processes: 1,
            connections: 16,
            orders_per_sec: 123.4,
            errors,
            ceiling: Some(1000.0),
            ..Row::default()
        };
        assert!(!row.passed());
        let t = terminal(std::slice::from_ref(&row), Mode::Orders);
        assert!(t.contains("12.3 %"), "{t}");
        let md = markdown(
            std::slice::from_ref(&row),
            Mode::Orders,
            "2 CPUs",
            "ordo-bench --quick",
            false,
        );
        assert!(md.contains("| mixed | sqlite | 1 | 16 | 123.4 |"), "{md}");
        assert!(md.contains("2 (500×2)"));
        let hooks = markdown(
            &[row],
            Mode::Webhooks,
            "2 CPUs",
            "ordo-bench --webhooks",
            false,
        );
        assert!(hooks.contains("| webhook | db |"), "{hooks}");
        assert!(hooks.contains("webhooks/s | p50 ms"), "{hooks}");
        assert!(!hooks.contains("ceiling"), "{hooks}");
    }
}
