//! Opens the store a database URL names.

use std::sync::Arc;

use anyhow::Context;
use ordo_store::Store;

pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!("PostgreSQL support is not built into this binary yet")
    }
    let path = ordo_sqlite::path_from_url(url);
    let store = tokio::task::spawn_blocking(move || ordo_sqlite::SqliteStore::open(&path))
        .await?
        .with_context(|| format!("opening {url}"))?;
    Ok(Arc::new(store))
}
