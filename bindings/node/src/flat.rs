//! Decisions and principals as flat arrays of primitives, for the hot path.
//!
//! Building a JavaScript object through Node-API costs one property-name
//! lookup per key; a decision with its principal has dozens. A flat array
//! of primitives costs none, and `index.js` turns it into the plain object
//! of `config.md` with an object literal, which V8 builds in nanoseconds.
//! The layout below is private to this crate and `index.js`
//! (`decodeDecision`, `decodePrincipal`); the tests of the public objects
//! pin it down.
//!
//! Decision: `allowed, status, error, errorDescription, reason,
//! headerCount, (name, value)…, visibleCount, server…, hasRateLimit,
//! [limit, remaining, reset, retryAfter, policy], principal…`.
//! Principal: `0` (none), `1` (present; the caller already holds its object,
//! see [`crate::guard::Guard::authorize_flat`]) or `2, subject, clientId,
//! issuer, expiresAt, jwtId, audienceCount, …, scopeCount, …, tagCount, …,
//! roleCount, …`.

use mcpguard::guard::Decision;
use mcpguard::token::Principal;
use napi::bindgen_prelude::{Either4, Null};

/// One element: a boolean, a number, a string or `null`.
pub type Flat = Either4<bool, f64, String, Null>;

/// The flat array being built.
#[derive(Default)]
pub struct FlatBuilder(Vec<Flat>);

impl FlatBuilder {
    fn bool(&mut self, b: bool) {
        self.0.push(Either4::A(b));
    }

    fn num(&mut self, n: f64) {
        self.0.push(Either4::B(n));
    }

    fn count(&mut self, n: usize) {
        // Lists here are a few entries long; f64 holds any usize count exactly
        // up to 2^53, far beyond what fits in memory.
        self.num(n as f64);
    }

    fn str(&mut self, s: &str) {
        self.0.push(Either4::C(s.to_string()));
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.0.push(Either4::D(Null)),
        }
    }

    fn opt_num(&mut self, n: Option<f64>) {
        match n {
            Some(n) => self.num(n),
            None => self.0.push(Either4::D(Null)),
        }
    }

    fn list<S: AsRef<str>>(&mut self, items: &[S]) {
        self.count(items.len());
        for item in items {
            self.str(item.as_ref());
        }
    }

    /// Appends a principal: `full` writes its fields, otherwise only the
    /// marker saying that one is present.
    pub fn principal(&mut self, p: Option<&Principal>, full: bool) {
        match p {
            None => self.num(0.0),
            Some(_) if !full => self.num(1.0),
            Some(p) => {
                self.num(2.0);
                self.opt_str(p.subject.as_deref());
                self.opt_str(p.client_id.as_deref());
                self.str(&p.issuer);
                // Unix seconds: exact in an f64 for any date within ±285
                // million years.
                self.opt_num(p.expires_at.map(|e| e as f64));
                self.opt_str(p.jwt_id.as_deref());
                self.list(&p.audience);
                self.list(&p.scopes);
                self.list(&p.tags);
                self.list(&p.roles);
            }
        }
    }

    /// Appends a decision; the principal's fields only when `full_principal`.
    pub fn decision(&mut self, d: &Decision, full_principal: bool) {
        self.bool(d.allowed);
        self.num(f64::from(d.status));
        self.opt_str(d.error.map(|e| e.as_str()));
        self.opt_str(d.error_description.as_deref());
        self.opt_str(d.reason.map(|r| r.code()));
        self.count(d.headers.len());
        for (name, value) in &d.headers {
            self.str(name);
            self.str(value);
        }
        self.list(&d.visible_servers);
        match &d.rate_limit {
            None => self.bool(false),
            Some(r) => {
                self.bool(true);
                self.num(r.limit as f64);
                self.num(r.remaining as f64);
                self.num(r.reset);
                self.opt_num(r.retry_after);
                self.str(&r.policy);
            }
        }
        self.principal(d.principal.as_deref(), full_principal);
    }

    /// The finished array.
    pub fn finish(self) -> Vec<Flat> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Decision {
        Decision {
            allowed: false,
            status: 401,
            error: Some(mcpguard::OAuthError::InvalidToken),
            error_description: Some("No bearer token was presented".into()),
            reason: Some(mcpguard::Reason::MissingToken),
            headers: vec![("WWW-Authenticate", "Bearer".into())],
            principal: None,
            visible_servers: vec![],
            rate_limit: None,
            missing_scopes: vec![],
        }
    }

    #[test]
    fn a_refusal_lays_out_scalars_headers_and_no_principal() {
        let mut b = FlatBuilder::default();
        b.decision(&denied(), true);
        let flat = b.finish();
        assert_eq!(flat.len(), 11);
        assert!(matches!(flat[0], Either4::A(false)));
        assert!(matches!(flat[1], Either4::B(s) if s == 401.0));
        assert!(matches!(&flat[4], Either4::C(r) if r == "missing_token"));
        assert!(matches!(flat[5], Either4::B(n) if n == 1.0));
        assert!(matches!(&flat[6], Either4::C(n) if n == "WWW-Authenticate"));
        assert!(
            matches!(flat[8], Either4::B(n) if n == 0.0),
            "no visible servers"
        );
        assert!(matches!(flat[9], Either4::A(false)), "no rate limit");
        assert!(
            matches!(flat[10], Either4::B(n) if n == 0.0),
            "no principal"
        );
    }
}
