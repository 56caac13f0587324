//! Webhook signatures: base64 HMAC-SHA256 of the raw body (Shopify, WooCommerce).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

/// Constant-time check of a base64 signature header against the body.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| B64.decode(h.trim()).ok()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_vector() {
        let body = br##"{"id":820982911946154508,"name":"#9999"}"##;
        assert_eq!(
            sign("my_app_secret", body),
            "xtDnvGlQbyUBwH5BtyxXdef14y1z1d13oJ7V4PoSvzs="
        );
        assert!(verify(
            "my_app_secret",
            body,
            Some("xtDnvGlQbyUBwH5BtyxXdef14y1z1d13oJ7V4PoSvzs=")
        ));
    }

    #[test]
    fn refuses_a_wrong_missing_or_garbled_signature() {
        let body = b"{}";
        let good = sign("s", body);
        assert!(verify("s", body, Some(&good)));
        assert!(!verify("other", body, Some(&good)));
        assert!(!verify("s", b"{ }", Some(&good)));
        assert!(!verify("s", body, None));
        assert!(!verify("s", body, Some("not base64!")));
    }
}
