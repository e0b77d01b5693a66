//! The principal: who a validated token speaks for.

use std::sync::Arc;

use crate::access::Granted;

/// Where a principal's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A signed JWT (JWS compact serialization) checked against the issuer's keys.
    Jwt,
    /// An opaque token found in the in-memory opaque store.
    Opaque,
    /// An RFC 7662 introspection response the host fetched.
    Introspected,
}

impl TokenKind {
    /// `"jwt"`, `"opaque"` or `"introspected"`: the name the principal's
    /// JSON form and the bindings use.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Jwt => "jwt",
            TokenKind::Opaque => "opaque",
            TokenKind::Introspected => "introspected",
        }
    }
}

/// Who a validated token speaks for. Built once per token and shared as an
/// `Arc` (the verified-token cache hands out the same one on every hit).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// How the token was validated.
    pub kind: TokenKind,
    /// `sub`, if the token has one.
    pub subject: Option<String>,
    /// `client_id`, else `azp`, else `cid`.
    pub client_id: Option<String>,
    /// `iss`: the configured issuer the token was checked against. Empty for a
    /// token from the local opaque store.
    pub issuer: String,
    /// `aud` as the token gave it (a string becomes a one-element list).
    pub audience: Vec<String>,
    /// `scope` split on spaces, or `scp` (array, or string split on spaces),
    /// in token order; `[]` when the token has neither.
    pub scopes: Vec<String>,
    /// Role names from the configured `auth.role_claim` (string or array),
    /// `[]` when there is no role claim.
    pub roles: Vec<String>,
    /// Tags granted by the token's `tag:` scopes and its roles, in token
    /// order then role order, without repeats. Filled by the host's grant
    /// hook (the Guard's access policy) before the principal is cached;
    /// empty when the validator runs on its own.
    pub tags: Vec<String>,
    /// `tag:` scopes that name no valid tag: they grant nothing, the token
    /// stays valid, and the Guard reports them in its audit event.
    pub rejected_scopes: Vec<String>,
    /// `exp` in Unix seconds (`None` only for an opaque or introspected token
    /// without expiry).
    pub expires_at: Option<i64>,
    /// `jti`, if present.
    pub jwt_id: Option<String>,
    /// The token's claims as JSON text exactly as they were signed (for an
    /// introspected token, the introspection response).
    pub claims_json: Arc<str>,
    /// A short, non-reversible fingerprint of the token (the first 8 bytes
    /// of its SHA-256, in hex), computed once when the token is validated so
    /// audit events can name the token on every request without rehashing
    /// it. Set when the validator is built with `fingerprints(true)` (the
    /// Guard does); `None` otherwise and for an introspection response.
    pub token_fingerprint: Option<Arc<str>>,
    /// The granted tags in the access engine's ready-to-decide form,
    /// computed once by the Guard's grants hook and cached with the
    /// principal. `None` when the validator runs without a Guard.
    pub granted: Option<Arc<Granted>>,
    /// The rate-limit key for this principal's identity (its `client_id` or
    /// subject, namespaced by issuer, as the Guard's `rate_limit.key` says),
    /// computed once by the Guard's grants hook. `None` without a Guard, or
    /// when the key comes from the request.
    pub rate_key: Option<Arc<str>>,
}

/// A short, non-reversible fingerprint of a token for logs and audit
/// events: the first 8 bytes of its SHA-256, in hex.
pub fn token_fingerprint(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = String::with_capacity(16);
    for b in &digest.as_ref()[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

impl Principal {
    /// The raw claims parsed as JSON.
    pub fn claims(&self) -> serde_json::Value {
        // The text was parsed once already when the token was validated, so
        // it is valid JSON; an empty object stands in if it somehow is not.
        serde_json::from_str(&self.claims_json)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }

    /// Whether the principal holds `scope` (exact comparison, case included).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl Principal {
    /// The scopes to hand a framework that checks scopes itself (the MCP
    /// SDKs' `AuthInfo` / `AccessToken`): the token's own scopes, then a
    /// `tag:` scope for every tag its roles granted that the token does not
    /// carry, so a framework's `required_scopes` sees what the Guard grants.
    pub fn effective_scopes(&self) -> Vec<String> {
        let own = crate::access::scopes_to_tags(&self.scopes);
        let mut scopes = self.scopes.clone();
        scopes.extend(
            self.tags
                .iter()
                .filter(|t| !own.contains(t))
                .map(|t| format!("tag:{t}")),
        );
        scopes
    }
}
