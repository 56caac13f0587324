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
    /// After a revocation: every key is looked up again.
    pub fn forget_all(&self) {
        self.entries.write().expect("key cache").clear();
    }

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

/// argon2id with the crate's default parameters (19 MiB, 2 passes), PHC string format.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Constant-time check of a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
    }
}
