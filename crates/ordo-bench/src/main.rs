//! `ordo-bench`: drives `POST /api/v1/orders` of an Ordo server with realistic order
//! traffic, checks that nothing was oversold, duplicated or lost, and compares the
//! throughput with what the storage engine alone can write. With `--webhooks` it sends
//! signed Shopify `orders/create` webhooks instead.

mod ceiling;
mod client;
mod invariants;
mod load;
mod pages;
mod report;
mod seed;
mod server;
mod webhooks;
mod workload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use ordo_testkit::PgCluster;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ceiling::CeilingInput;
use crate::client::Conn;
use crate::invariants::Db;
use crate::load::Window;
use crate::report::{Latency, Mode, Reads, Row};
use crate::server::{RssSampler, Server};
use crate::workload::{Catalog, Scenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DbChoice {
    Sqlite,
    Postgres,
    /// SQLite, then PostgreSQL.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioChoice {
    Mixed,
    FlashSale,
    ReplayStorm,
    All,
}

#[derive(Debug, Parser)]
#[command(
    name = "ordo-bench",
    version,
    about = "Load generator and correctness check for the Ordo order API",
    long_about = "Starts an Ordo server on a fresh database (or uses --target), seeds catalog and \
stock through the API, sends orders on N keep-alive connections for a warm-up plus a measured \
window, then checks invariants (no over-allocation, no duplicate orders, every acknowledged \
order stored, `ordo verify` passes) and measures a storage ceiling for the same engine.\n\n\
Scenarios:\n  mixed         Zipf-popular SKUs, 1-5 lines, plenty of stock; a few hot SKUs sell out\n  \
flash-sale    every order wants one of 3 hot SKUs with 200 units each; most end backordered\n  \
replay-storm  like mixed, and 30 % of requests re-send an acknowledged order (expects 200, same id)\n\n\
Single-connection latency: run with `--connections 1`.\n\n\
--webhooks: instead of API orders, signed Shopify `orders/create` webhooks to \
`POST /hooks/shopify/{channel}` (a shopify channel with a connection is set up first), on N \
connections and then on 1; afterwards the channel must hold exactly the orders answered 201, \
and re-sent deliveries must answer 200 and create nothing. --scenario does not apply.\n\n\
Exit status is 0 only when every invariant holds and no 5xx answer was seen.",
    after_help = "Examples:\n  ordo-bench --quick\n  ordo-bench --db postgres --scenario mixed --connections 64 --processes 2\n  \
ordo-bench --connections 1 --duration 20 --scenario mixed\n  \
ordo-bench --webhooks --db sqlite --connections 64 --duration 20\n  \
ordo-bench --pages --page-requests 50"
)]
struct Cli {
    /// Database engine for the server.
    #[arg(long, value_enum, default_value = "sqlite")]
    db: DbChoice,
    /// Traffic shape; `all` runs each scenario in turn.
    #[arg(long, value_enum, default_value = "all")]
    scenario: ScenarioChoice,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Measured seconds (after warm-up).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// CI mode: 3 s runs after 1 s warm-up, 16 connections, 200 SKUs, every scenario on
    /// SQLite and, when PostgreSQL is installed, on PostgreSQL.
    #[arg(long)]
    quick: bool,
    /// Markdown results file.
    #[arg(long, default_value = "bench-results.md")]
    out: PathBuf,
    /// The `ordo` binary [default: `ordo` next to this executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Use an already running server (e.g. http://127.0.0.1:8080); process metrics are skipped.
    #[arg(long)]
    target: Option<String>,
    /// API key for --target (an admin key: the benchmark seeds the catalog).
    #[arg(long, env = "ORDO_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Database URL of --target, for the database checks and size.
    #[arg(long)]
    target_db: Option<String>,
    /// PostgreSQL only: server processes sharing the database; connections are spread over them.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Catalog size.
    #[arg(long, default_value_t = 1000)]
    skus: usize,
    /// Also measure `GET /api/v1/orders/{id}` on the created orders for --duration.
    #[arg(long)]
    reads: bool,
    /// Client runtime worker threads; keep low so the server gets the CPU.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Most orders written by the storage-ceiling measurement.
    #[arg(long, default_value_t = 50_000)]
    ceiling_orders: usize,
    /// Keep temporary directories (databases, server logs) after the run.
    #[arg(long)]
    keep: bool,
    /// Send signed Shopify `orders/create` webhooks instead of API orders, on --connections
    /// and then on 1 connection.
    #[arg(long)]
    webhooks: bool,
    /// Measure the back-office pages instead: generate the demo database (`ordo demo`),
    /// serve it, sign in as admin and request every main page --page-requests times.
    #[arg(long)]
    pages: bool,
    /// Requests per page for --pages.
    #[arg(long, default_value_t = 50)]
    page_requests: usize,
    /// Days of demo order history for --pages.
    #[arg(long, default_value_t = 90)]
    demo_days: i64,
}

struct Config {
    scenarios: Vec<Scenario>,
    engines: Vec<&'static str>,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    skus: usize,
    reads: bool,
    processes: usize,
    server_bin: PathBuf,
    target: Option<SocketAddr>,
    admin_key: Option<String>,
    target_db: Option<String>,
    ceiling_orders: usize,
    keep: bool,
    /// PostgreSQL runs are skipped, not failed, when it is not installed.
    postgres_optional: bool,
    webhooks: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.client_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn config(cli: &Cli) -> Result<Config> {
    let mut scenarios = match cli.scenario {
        ScenarioChoice::Mixed => vec![Scenario::Mixed],
        ScenarioChoice::FlashSale => vec![Scenario::FlashSale],
        ScenarioChoice::ReplayStorm => vec![Scenario::ReplayStorm],
        ScenarioChoice::All => Scenario::ALL.to_vec(),
    };
    let mut engines = match cli.db {
        DbChoice::Sqlite => vec!["sqlite"],
        DbChoice::Postgres => vec!["postgres"],
        DbChoice::All => vec!["sqlite", "postgres"],
    };
    let (mut connections, mut duration, mut warmup, mut skus, mut ceiling_orders) = (
        cli.connections,
        cli.duration,
        cli.warmup,
        cli.skus,
        cli.ceiling_orders,
    );
    if cli.quick {
        scenarios = Scenario::ALL.to_vec();
        engines = vec!["sqlite", "postgres"];
        (connections, duration, warmup, skus) = (16, 3, 1, 200);
        ceiling_orders = ceiling_orders.min(5_000);
    }
    if connections == 0 || duration == 0 {
        bail!("--connections and --duration must be at least 1");
    }
    if cli.webhooks && cli.reads {
        bail!("--reads does not apply to --webhooks");
    }
    let server_bin = match &cli.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ordo"),
    };
    let target = cli
        .target
        .as_deref()
        .map(client::parse_target)
        .transpose()?;
    if target.is_some() && cli.admin_key.is_none() {
        bail!("--target needs --admin-key (or ORDO_ADMIN_KEY)");
    }
    if target.is_none() && !server_bin.is_file() {
        bail!(
            "server binary {} not found (build it with `cargo build -p ordo`, or pass --server-bin)",
            server_bin.display()
        );
    }
    Ok(Config {
        scenarios,
        engines,
        connections,
        duration: Duration::from_secs(duration),
        warmup: Duration::from_secs(warmup),
        skus,
        reads: cli.reads,
        processes: cli.processes.max(1),
        server_bin,
        target,
        admin_key: cli.admin_key.clone(),
        target_db: cli.target_db.clone(),
        ceiling_orders: ceiling_orders.max(1),
        keep: cli.keep,
        postgres_optional: cli.quick || cli.db == DbChoice::All,
        webhooks: cli.webhooks,
    })
}

async fn run(cli: Cli) -> Result<bool> {
    let cfg = config(&cli)?;
    let command = command_line();
    let machine = machine();
    println!("ordo-bench: {machine}");
    if cli.pages {
        return run_pages(&cli, &cfg, &machine, &command).await;
    }

    let mut cluster: Option<PgCluster> = None;
    let mut rows = Vec::new();
    let mut index = 0;
    for engine in &cfg.engines {
        if *engine == "postgres" && cfg.target.is_none() && cluster.is_none() {
            match PgCluster::start() {
                Ok(Some(mut c)) => {
                    // Interrupted runs must not leave a server behind.
                    if let Err(e) = c.stop_when_process_exits() {
                        eprintln!("warning: {e:#}");
                    }
                    cluster = Some(c);
                }
                Ok(None) if cfg.postgres_optional => {
                    println!("PostgreSQL runs skipped: PostgreSQL is not installed");
                    continue;
                }
                Ok(None) => bail!("--db postgres needs PostgreSQL (initdb/pg_ctl) installed"),
                Err(e) => {
                    let names: Vec<&str> = if cfg.webhooks {
                        vec![webhooks::NAME]
                    } else {
                        cfg.scenarios.iter().map(|s| s.name()).collect()
                    };
                    for name in names {
                        rows.push(Row {
                            scenario: name.into(),
                            db: engine.to_string(),
                            failure: Some(format!("could not start PostgreSQL: {e:#}")),
                            ..Row::default()
                        });
                    }
                    continue;
                }
            }
        }
        if cfg.webhooks {
            index += 1;
            println!(
                "\n== Shopify webhooks on {} ({} connections, then 1; {} s warm-up + {} s each) ==",
                engine,
                cfg.connections,
                cfg.warmup.as_secs(),
                cfg.duration.as_secs()
            );
            let started = Instant::now();
            let engine_rows = webhooks::run(&cfg, engine, cluster.as_ref(), index).await;
            println!("   done in {:.1} s", started.elapsed().as_secs_f64());
            for r in &engine_rows {
                println!("   {} connection(s): {}", r.connections, summary(r));
            }
            rows.extend(engine_rows);
            continue;
        }
        for &scenario in &cfg.scenarios {
            index += 1;
            println!(
                "\n== {} on {} ({} connections, {} s warm-up + {} s) ==",
                scenario.name(),
                engine,
                cfg.connections,
                cfg.warmup.as_secs(),
                cfg.duration.as_secs()
            );
            let started = Instant::now();
            let row = run_one(&cfg, scenario, engine, cluster.as_ref(), index).await;
            println!(
                "   done in {:.1} s: {}",
                started.elapsed().as_secs_f64(),
                summary(&row)
            );
            rows.push(row);
        }
    }

    let passed = !rows.is_empty() && rows.iter().all(Row::passed);
    let mode = if cfg.webhooks {
        Mode::Webhooks
    } else {
        Mode::Orders
    };
    println!("\n{}", report::terminal(&rows, mode));
    println!("machine: {machine}\ncommand: {command}");
    let md = report::markdown(&rows, mode, &machine, &command, passed);
    std::fs::write(&cli.out, md).with_context(|| format!("writing {}", cli.out.display()))?;
    println!("results written to {}", cli.out.display());
    println!("{}", if passed { "PASS" } else { "FAIL" });
    Ok(passed)
}

async fn run_pages(cli: &Cli, cfg: &Config, machine: &str, command: &str) -> Result<bool> {
    if cfg.target.is_some() {
        bail!("--pages starts its own server on the demo database; --target does not apply");
    }
    let requests = cli.page_requests.max(1);
    println!("\n== back-office pages on the demo database ({requests} requests each) ==");
    let dir = Workdir::new(0)?;
    let input = pages::PagesInput {
        server_bin: &cfg.server_bin,
        dir: &dir.0,
        requests,
        days: cli.demo_days,
    };
    let rows = pages::run(&input).await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("files kept in {}", dir.0.display());
            return Err(e);
        }
    };
    if !cfg.keep {
        let _ = std::fs::remove_dir_all(&dir.0);
    }
    let md = pages::markdown(&rows, requests, machine, command);
    println!("\n{md}");
    std::fs::write(&cli.out, &md).with_context(|| format!("writing {}", cli.out.display()))?;
    println!("results written to {}", cli.out.display());
    let passed = pages::within_budget(&rows);
    println!("{}", if passed { "PASS" } else { "FAIL" });
    Ok(passed)
}

fn summary(r: &Row) -> String {
    if let Some(f) = &r.failure {
        return format!("FAILED: {}", f.lines().next().unwrap_or(""));
    }
    let unit = if r.scenario == webhooks::NAME {
        "webhooks"
    } else {
        "orders"
    };
    format!(
        "{:.1} {unit}/s, p99 {:.2} ms, errors {}, {} invariant violation(s)",
        r.orders_per_sec,
        r.latency.p99,
        report::error_text(&r.errors),
        r.violations.len()
    )
}

struct Workdir(PathBuf);

impl Workdir {
    fn new(index: usize) -> Result<Workdir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "ordo-bench-{}-{nanos:x}-{index}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Workdir(dir))
    }
}

async fn run_one(
    cfg: &Config,
    scenario: Scenario,
    engine: &str,
    cluster: Option<&PgCluster>,
    index: usize,
) -> Row {
    let processes = if engine == "postgres" && cfg.target.is_none() {
        cfg.processes
    } else {
        1
    };
    let mut row = Row {
        scenario: scenario.name().into(),
        db: engine.into(),
        processes,
        connections: cfg.connections,
        ..Row::default()
    };
    if engine == "sqlite" && cfg.processes > 1 {
        row.notes
            .push("--processes applies to PostgreSQL only; SQLite ran one process".into());
    }
    let (failure, dir) = in_workdir(index, async |dir, servers| {
        measure(
            cfg, scenario, engine, cluster, index, dir, &mut row, servers,
        )
        .await
    })
    .await;
    if failure.is_some() {
        row.failure = failure;
    }
    if let Some(note) = tidy(cfg, dir, row.passed()) {
        row.notes.push(note);
    }
    row
}

/// Runs `body` in a fresh work directory. Returns its failure, if any, with the tails of
/// the servers' logs, and the directory.
async fn in_workdir(
    index: usize,
    body: impl AsyncFnOnce(&Path, &mut Vec<Server>) -> Result<()>,
) -> (Option<String>, Option<PathBuf>) {
    let dir = match Workdir::new(index) {
        Ok(d) => d,
        Err(e) => return (Some(format!("{e:#}")), None),
    };
    let mut servers = Vec::new();
    let failure = body(&dir.0, &mut servers).await.err().map(|e| {
        let mut msg = format!("{e:#}");
        // Start-up failures already carry the log.
        let has_log = msg.contains("log:\n");
        for s in servers.iter().filter(|_| !has_log) {
            msg.push_str(&format!(
                "\n--- server log (pid {}) ---\n{}",
                s.pid(),
                s.log_tail(15)
            ));
        }
        msg
    });
    drop(servers);
    (failure, Some(dir.0))
}

/// Removes the work directory of a passed run unless --keep; otherwise returns the note
/// saying where it is.
fn tidy(cfg: &Config, dir: Option<PathBuf>, passed: bool) -> Option<String> {
    let dir = dir?;
    if cfg.keep || !passed {
        Some(format!("files kept in {}", dir.display()))
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        None
    }
}

fn parse_db(url: &str) -> Db {
    match url.strip_prefix("sqlite://") {
        Some(path) => Db::Sqlite(PathBuf::from(path)),
        None => Db::Postgres(url.to_string()),
    }
}

pub(crate) fn random_key() -> String {
    let mut rng = StdRng::from_os_rng();
    format!("ordo-bench-{:032x}", rng.random::<u128>())
}

/// The database, admin key and server addresses of a run.
struct Started {
    db: Option<Db>,
    key: String,
    addrs: Vec<SocketAddr>,
}

/// Creates the database and starts `processes` servers on it (or takes --target).
async fn start(
    cfg: &Config,
    engine: &str,
    cluster: Option<&PgCluster>,
    index: usize,
    dir: &Path,
    processes: usize,
    servers: &mut Vec<Server>,
) -> Result<Started> {
    let db: Option<Db> = if cfg.target.is_some() {
        cfg.target_db.as_deref().map(parse_db)
    } else if engine == "sqlite" {
        Some(Db::Sqlite(dir.join("bench.db")))
    } else {
        let cluster = cluster.context("no PostgreSQL cluster")?;
        Some(Db::Postgres(
            cluster.create_database(&format!("bench_{index}"))?,
        ))
    };

    let key = match (&cfg.target, &cfg.admin_key) {
        (Some(_), Some(k)) => k.clone(),
        _ => random_key(),
    };
    let addrs: Vec<SocketAddr> = match cfg.target {
        Some(addr) => vec![addr],
        None => {
            let url = db.as_ref().context("no database")?.url();
            // One at a time: the first process migrates the schema.
            for p in 0..processes {
                let mut s = Server::spawn(
                    &cfg.server_bin,
                    &url,
                    &key,
                    dir.join(format!("server-{p}.log")),
                )?;
                let r = s.wait_healthy(&key, Duration::from_secs(60)).await;
                servers.push(s);
                r?;
            }
            servers.iter().map(|s| s.addr).collect()
        }
    };
    Ok(Started { db, key, addrs })
}

#[allow(clippy::too_many_lines)]
async fn measure(
    cfg: &Config,
    scenario: Scenario,
    engine: &str,
    cluster: Option<&PgCluster>,
    index: usize,
    dir: &Path,
    row: &mut Row,
    servers: &mut Vec<Server>,
) -> Result<()> {
    let catalog = Catalog::new(cfg.skus);
    let Started { db, key, addrs } =
        start(cfg, engine, cluster, index, dir, row.processes, servers).await?;

    let t = Instant::now();
    let seeded = seed::seed(
        addrs[0],
        &key,
        &catalog,
        scenario,
        (cfg.warmup + cfg.duration).as_secs(),
        8,
    )
    .await?;
    println!(
        "   seeded {} SKUs, {} units in {} requests ({:.1} s)",
        catalog.len(),
        seeded.units,
        seeded.requests,
        t.elapsed().as_secs_f64()
    );

    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let sampler = (!pids.is_empty()).then(|| RssSampler::start(pids.clone()));
    let window = Arc::new(Window::new(cfg.warmup, cfg.duration));
    let cpu = tokio::spawn(cpu_over_window(pids.clone(), window.clone()));
    let run_tag = format!("{:x}{index}", StdRng::from_os_rng().random::<u32>());
    let result = load::run_orders(
        &addrs,
        &key,
        cfg.connections,
        catalog.clone(),
        scenario,
        &run_tag,
        window.clone(),
    )
    .await?;
    let secs = cfg.duration.as_secs_f64();
    row.orders_per_sec = result.accepted as f64 / secs;
    row.latency = Latency::from_hist(&result.hist);
    row.errors = result.errors.clone();
    if let Some(cpu_secs) = cpu.await? {
        row.cpu_pct = Some(cpu_secs / secs * 100.0);
    }
    let created = result.created.max(1) as f64;
    row.notes.push(format!(
        "{} orders acknowledged ({} new, {} replays); new orders: {:.0} % allocated, {:.0} % partially allocated, {:.0} % backordered",
        result.acked.len(),
        result.created,
        result.replayed,
        result.fill.allocated as f64 / created * 100.0,
        result.fill.partial as f64 / created * 100.0,
        result.fill.backordered as f64 / created * 100.0,
    ));

    if cfg.reads {
        let ids: Vec<uuid::Uuid> = {
            let mut v: Vec<_> = result.acked.values().copied().collect();
            v.sort();
            v.dedup();
            v
        };
        let window = Arc::new(Window::new(cfg.warmup, cfg.duration));
        let reads = load::run_reads(&addrs, &key, cfg.connections, Arc::new(ids), window).await?;
        row.reads = Some(Reads {
            per_sec: reads.ok as f64 / secs,
            latency: Latency::from_hist(&reads.hist),
            errors: reads.errors,
        });
    }

    if let Some(s) = sampler {
        row.rss_mib = Some(s.finish() as f64 / 1024.0);
    }
    if let Some(db) = &db {
        match invariants::database_size(db).await {
            Ok(bytes) => row.db_mib = Some(bytes as f64 / (1024.0 * 1024.0)),
            Err(e) => row.notes.push(format!("database size unavailable: {e:#}")),
        }
    }

    // (1) Through the API, while the server is still up.
    let mut conn = Conn::new(addrs[0], &key)?;
    let balances = invariants::check_inventory(&mut conn, &mut row.violations).await?;
    drop(conn);

    for s in servers.iter_mut() {
        if !s.terminate(Duration::from_secs(30))? {
            row.notes.push(format!(
                "server pid {} did not exit cleanly after SIGTERM; log tail:\n{}",
                s.pid(),
                s.log_tail(5)
            ));
        }
    }

    let Some(db) = db else {
        row.notes.push(format!(
            "checked {balances} balances; database checks skipped (no --target-db)"
        ));
        return Ok(());
    };
    // (2), (3)
    let facts = invariants::check_database(&db, &result.acked, &mut row.violations).await?;
    // (4)
    if cfg.server_bin.is_file() {
        if let Err(e) = server::run_tool(&cfg.server_bin, "verify", &db.url())? {
            row.violations.push(e);
        }
    } else {
        row.notes
            .push("`ordo verify` skipped: server binary not found".into());
    }
    row.notes.push(format!(
        "checked {balances} balances and {} stored orders ({} lines, {} allocations)",
        facts.orders, facts.lines, facts.allocations
    ));

    if !cfg.server_bin.is_file() {
        row.notes
            .push("storage ceiling skipped: server binary not found".into());
        return Ok(());
    }
    let ceiling_db = match db {
        Db::Sqlite(_) => Db::Sqlite(dir.join("ceiling.db")),
        Db::Postgres(_) => match cluster {
            Some(c) => Db::Postgres(c.create_database(&format!("ceiling_{index}"))?),
            None => {
                row.notes
                    .push("storage ceiling skipped: no local PostgreSQL cluster".into());
                return Ok(());
            }
        },
    };
    let input = CeilingInput {
        orders: result.acked.len().clamp(1000, cfg.ceiling_orders.max(1000)),
        allocated_share: if facts.lines > 0 {
            facts.allocations as f64 / facts.lines as f64
        } else {
            1.0
        },
        order_doc: facts.order_doc,
        event_data: facts.event_data,
        catalog,
        scenario,
    };
    match ceiling::run(&cfg.server_bin, &ceiling_db, &input).await {
        Ok((c, note)) => {
            row.ceiling = Some(c.orders_per_sec());
            row.notes.push(format!(
                "storage ceiling: {} orders ({} rows) in {:.2} s",
                c.orders, c.rows, c.secs
            ));
            if let Some(n) = note {
                row.notes.push(n);
            }
        }
        Err(e) => row.notes.push(format!("storage ceiling failed: {e:#}")),
    }
    Ok(())
}

/// Server CPU seconds between the end of warm-up and the end of the window.
async fn cpu_over_window(pids: Vec<u32>, window: Arc<Window>) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let total = |pids: &[u32]| -> Option<u64> { pids.iter().map(|&p| server::cpu_ticks(p)).sum() };
    tokio::time::sleep_until(window.warm_end.into()).await;
    let before = total(&pids)?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = total(&pids)?;
    Some(after.saturating_sub(before) as f64 / server::clock_ticks() as f64)
}

fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    format!(
        "{cpus} CPUs ({model}), {:.1} GiB RAM, {} {}, ordo-bench {build}",
        ram_kib as f64 / (1024.0 * 1024.0),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
