//! Connection secrets are encrypted at rest with ChaCha20-Poly1305. The key comes from
//! `ORDO_SECRET_KEY` (64 hex characters) or from a key file created on first start with
//! 0600 permissions next to the database, so a copied database alone reveals no credential.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("ORDO_SECRET_KEY must be 64 hexadecimal characters (32 bytes)")]
    BadKey,
    #[error("cannot read or create the secret key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("a stored secret cannot be decrypted with this key (was ORDO_SECRET_KEY changed?)")]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn from_hex(hex: &str) -> Result<Self, SecretError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(SecretError::BadKey);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| SecretError::BadKey)?;
        }
        Ok(Self::from_key(key))
    }

    /// `ORDO_SECRET_KEY` when set, else the key file (created with a fresh random key).
    pub fn load(key_file: &Path) -> Result<Self, SecretError> {
        if let Ok(hex) = std::env::var("ORDO_SECRET_KEY")
            && !hex.trim().is_empty()
        {
            return Self::from_hex(&hex);
        }
        let failed = |e: std::io::Error| SecretError::KeyFile {
            path: key_file.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(key_file) {
            Ok(hex) => Self::from_hex(&hex),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_private(key_file, &hex).map_err(failed)?;
                Ok(Self::from_key(key))
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// `context` (e.g. the channel code) is bound to the ciphertext, so a secret copied to
    /// another channel's row does not decrypt.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|raw| raw.len() > 12)
            .ok_or(SecretError::Undecryptable)?;
        let (nonce, body) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// What the API shows instead of a secret: its length class and last four characters.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "••••".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let a = SecretBox::from_key([7; 32]);
        let b = SecretBox::from_key([8; 32]);
        let sealed = a.seal("shpat_secret", "shop");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("shpat_secret"));
        assert_eq!(a.open(&sealed, "shop").unwrap(), "shpat_secret");
        assert!(a.open(&sealed, "other").is_err());
        assert!(b.open(&sealed, "shop").is_err());
        // A fresh nonce each time: the same secret never seals to the same text.
        assert_ne!(a.seal("x", "shop"), a.seal("x", "shop"));
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("ordo-key-{}", uuid::Uuid::now_v7()));
        let path = dir.join("secret.key");
        let first = SecretBox::load(&path).unwrap();
        let sealed = first.seal("token", "c");
        let again = SecretBox::load(&path).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), "token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn masks_keep_only_the_tail() {
        assert_eq!(mask("shpat_1234567890abcd"), "••••abcd");
        assert_eq!(mask("short"), "••••");
    }
}
