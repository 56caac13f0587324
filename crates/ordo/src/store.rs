//! Opens the store a database URL names.

use std::sync::Arc;

use anyhow::Context;
use ordo_store::Store;

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if is_postgres(url) {
        let store = ordo_postgres::PgStore::connect(url)
            .await
            .context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    let path = ordo_sqlite::path_from_url(url);
    let store = tokio::task::spawn_blocking(move || ordo_sqlite::SqliteStore::open(&path))
        .await?
        .with_context(|| format!("opening {url}"))?;
    Ok(Arc::new(store))
}
