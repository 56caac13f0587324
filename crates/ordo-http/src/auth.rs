//! API keys: opaque random tokens, stored only as SHA-256 hashes.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ordo_store::{ApiKey, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Keys are looked up on every request; a short cache keeps that off the database.
const CACHE_TTL: Duration = Duration::from_secs(30);

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new key: `ordo_` and 32 random bytes in hex.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("ordo_{}", hex::encode(bytes))
}

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    pub async fn lookup(&self, store: &dyn Store, token: &str) -> Result<Option<ApiKey>, ApiError> {
        let hash = hash_token(token);
        if let Some((key, at)) = self.entries.read().expect("key cache").get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(key.clone()));
        }
        let found = store.find_api_key(&hash).await?;
        if let Some(key) = &found {
            let mut entries = self.entries.write().expect("key cache");
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(hash, (key.clone(), Instant::now()));
        }
        Ok(found)
    }
}
