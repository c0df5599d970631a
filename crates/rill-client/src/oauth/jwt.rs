//! What the client reads from a JWT bearer token: its claims (the payload,
//! base64url JSON). The client never verifies a token (the broker does);
//! it reads `exp`/`iat` for the lifetime when the token endpoint gives no
//! `expires_in`, `sub` for logs, and `exp` to say why a broker refused a
//! token that had expired.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The JWT payload's claims, if the token is a JWT.
pub(crate) fn claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// How many seconds ago the token's `exp` claim passed, as of `now_unix_secs`
/// (`None`: not a JWT, no `exp`, or not expired).
pub(crate) fn expired_secs_ago(token: &str, now_unix_secs: u64) -> Option<u64> {
    let exp = claims(token)?.get("exp")?.as_i64()?;
    let exp = u64::try_from(exp).unwrap_or(0);
    (exp <= now_unix_secs).then(|| now_unix_secs - exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!("h.{}.s", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn claims_of_a_jwt_and_nothing_of_an_opaque_token() {
        let claims = claims(&jwt(r#"{"sub":"svc","exp":130,"iat":100}"#)).unwrap();
        assert_eq!(claims["sub"], "svc");
        assert!(super::claims("opaque-token").is_none());
        assert!(super::claims(&jwt("[1]")).is_none());
    }

    #[test]
    fn expiry_is_read_from_exp() {
        let token = jwt(r#"{"exp":1000}"#);
        assert_eq!(expired_secs_ago(&token, 1060), Some(60));
        assert_eq!(expired_secs_ago(&token, 1000), Some(0));
        assert_eq!(expired_secs_ago(&token, 999), None);
        assert_eq!(expired_secs_ago(&jwt(r#"{"sub":"x"}"#), 5), None);
        assert_eq!(expired_secs_ago("opaque", 5), None);
    }
}
