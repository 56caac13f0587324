//! `ordo serve`: the HTTP API over one store, with graceful shutdown.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ordo_store::{Role, Store};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
    pub db: String,
    /// Address to listen on.
    #[arg(long, env = "ORDO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// An admin API key to accept (created if new), for automation.
    #[arg(long, env = "ORDO_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// File holding the key that seals channel credentials (created with 0600 permissions
    /// if missing; default: beside the SQLite database, or ./ordo-secret.key). Several
    /// nodes on one PostgreSQL database share one key: set ORDO_SECRET_KEY instead.
    #[arg(long, env = "ORDO_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// JSON file with the routing cost model: any of per_shipment_minor, per_km_minor,
    /// per_priority_minor, unknown_distance_km, preferred_discount_minor (the others keep
    /// their defaults). Every node of a deployment needs the same file.
    #[arg(long, env = "ORDO_ROUTING_COST")]
    pub routing_cost: Option<std::path::PathBuf>,
    /// CSV of `country,postal_prefix,lat,lon` rows added to (or replacing rows of) the
    /// shipped centroid table, used for addresses without coordinates.
    #[arg(long, env = "ORDO_CENTROIDS")]
    pub centroids: Option<std::path::PathBuf>,
}

/// Installs the deployment's routing cost model and centroids, when files name them.
pub fn install_routing_config(
    cost: Option<&std::path::Path>,
    centroids: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if cost.is_none() && centroids.is_none() {
        return Ok(());
    }
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let cost = match cost {
        Some(p) => ordo_routing::config::cost_from_json(&read(p)?)
            .with_context(|| p.display().to_string())?,
        None => ordo_routing::model::CostModel::default(),
    };
    let table = match centroids {
        Some(p) => ordo_routing::config::centroids_with(&read(p)?)
            .with_context(|| p.display().to_string())?,
        None => ordo_routing::Centroids::builtin().clone(),
    };
    ordo_routing::config::install(cost, table)?;
    Ok(())
}

/// Where the sealing key lives when no file is named.
pub fn default_key_file(db: &str) -> std::path::PathBuf {
    if crate::store::is_postgres(db) {
        return "ordo-secret.key".into();
    }
    let path = ordo_sqlite::path_from_url(db);
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".key");
    path.with_file_name(name)
}

pub fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    let buckets = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)?
        .install_recorder()
        .context("installing the metrics recorder")
}

/// Makes sure some admin key exists; returns a newly generated one to print.
pub async fn ensure_admin_key(
    store: &dyn Store,
    admin_key: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if let Some(key) = admin_key {
        let hash = ordo_http::auth::hash_token(key);
        if store.find_api_key(&hash).await?.is_none() {
            store
                .create_api_key("admin (from --admin-key)", Role::Admin, &hash)
                .await?;
        }
        return Ok(None);
    }
    if store.count_api_keys().await? == 0 {
        let token = ordo_http::auth::generate_token();
        store
            .create_api_key(
                "admin (generated at first start)",
                Role::Admin,
                &ordo_http::auth::hash_token(&token),
            )
            .await?;
        return Ok(Some(token));
    }
    Ok(None)
}

pub async fn serve_store(
    store: Arc<dyn Store>,
    listen: SocketAddr,
    key_file: &std::path::Path,
    banner_extra: &[String],
) -> anyhow::Result<()> {
    let secrets = ordo_connectors::secrets::SecretBox::load(key_file)?;
    let connectors = ordo_connectors::sync::Connectors::new(store.clone(), secrets);
    let metrics = metrics_recorder()?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    // Open event streams of the back office end when shutdown starts, so it does not wait on them.
    let (stop_streams, streams_stopped) = tokio::sync::watch::channel(false);
    let state =
        ordo_http::AppState::new(store.clone(), metrics).with_connectors(connectors.clone());
    let outbox_metrics = state.spawn_outbox_metrics(std::time::Duration::from_secs(5));
    let sync = connectors.spawn(std::time::Duration::from_secs(2));
    let app = ordo_http::router(state).merge(ordo_web::router_with_connectors(
        store.clone(),
        connectors.clone(),
        streams_stopped,
    ));
    eprintln!("Ordo {} — {}", env!("CARGO_PKG_VERSION"), store.describe());
    eprintln!("  web      http://{addr}/");
    eprintln!("  API      http://{addr}/api/v1");
    eprintln!("  docs     http://{addr}/api/docs");
    eprintln!("  metrics  http://{addr}/metrics");
    for line in banner_extra {
        eprintln!("  {line}");
    }
    tracing::info!(%addr, database = store.backend(), "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop_streams.send(true);
        })
        .await?;
    outbox_metrics.abort();
    sync.abort();
    tracing::info!("draining writes and closing the database");
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    install_routing_config(args.routing_cost.as_deref(), args.centroids.as_deref())?;
    let store = crate::store::open(&args.db).await?;
    let mut extra = Vec::new();
    if let Some(token) = ensure_admin_key(store.as_ref(), args.admin_key.as_deref()).await? {
        extra.push(format!("admin key (shown once): {token}"));
    }
    let key_file = args
        .secret_key_file
        .clone()
        .unwrap_or_else(|| default_key_file(&args.db));
    serve_store(store, args.listen, &key_file, &extra).await?;
    Ok(ExitCode::SUCCESS)
}
