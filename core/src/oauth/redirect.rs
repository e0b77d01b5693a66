//! Redirect URIs: which a client may register, which registered one a
//! request's URI matches, and the redirect that carries the answer back.
//!
//! - Registration (OAuth 2.1 §2.3.1, RFC 8252 §7): an absolute URI without
//!   fragment; `https`, or `http` on a loopback host, or a private-use
//!   scheme in reverse-domain form (`com.example.app:/callback`).
//! - Matching is exact, character for character, except for loopback
//!   redirects (`http://127.0.0.1`, `http://[::1]`, `http://localhost`):
//!   there the port is ignored, because native clients bind an ephemeral
//!   port at run time (RFC 8252 §7.3). Host, path and query must still be
//!   identical.
//! - Parameters are appended to the URI's query with the `url` crate's
//!   encoder (`code`, `state`, `iss` per RFC 9207; or `error`).

use url::Url;

use super::config::is_loopback_host;

/// Why a redirect URI cannot be registered.
pub(crate) fn check_registrable(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not a URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} must use https (http only on a loopback host)"
        )),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "redirect URI {uri:?} must use https, loopback http, or a reverse-domain private-use scheme"
        )),
    }
}

/// Whether `requested` matches the `registered` redirect URI.
pub(crate) fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    reg.scheme() == "http"
        && req.scheme() == "http"
        && is_loopback_host(&reg)
        && reg.host() == req.host()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && req.fragment().is_none()
        && req.username().is_empty()
        && req.password().is_none()
}

/// `uri` with `params` appended to its query (the URI was checked at
/// registration; one that no longer parses yields `None`).
pub(crate) fn with_params(uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_differs() {
        for host in ["127.0.0.1", "[::1]", "localhost"] {
            let reg = format!("http://{host}/callback");
            assert!(matches(&reg, &format!("http://{host}:53117/callback")));
            assert!(!matches(&reg, &format!("http://{host}:53117/other")));
            assert!(!matches(&reg, &format!("http://{host}:1/callback?x=1")));
        }
        assert!(!matches(
            "http://127.0.0.1/callback",
            "http://localhost:8/callback"
        ));
    }

    #[test]
    fn other_redirects_match_exactly() {
        let reg = "https://app.example.com/cb";
        assert!(matches(reg, reg));
        assert!(!matches(reg, "https://app.example.com:443/cb/"));
        assert!(!matches(reg, "https://app.example.com/cb?x=1"));
        assert!(!matches(reg, "https://app.example.com:8443/cb"));
        assert!(!matches(reg, "https://APP.example.com/cb"));
    }

    #[test]
    fn registration_refuses_fragments_and_remote_http() {
        assert!(check_registrable("https://app.example.com/cb").is_ok());
        assert!(check_registrable("http://127.0.0.1:3000/cb").is_ok());
        assert!(check_registrable("com.example.app:/oauth").is_ok());
        assert!(check_registrable("http://app.example.com/cb").is_err());
        assert!(check_registrable("https://app.example.com/cb#x").is_err());
        assert!(check_registrable("javascript:alert(1)").is_err());
        assert!(check_registrable("/relative").is_err());
    }

    #[test]
    fn parameters_are_encoded_into_the_query() {
        let u = with_params(
            "https://a.example/cb?keep=1",
            &[("state", "a b&c"), ("iss", "https://x")],
        )
        .unwrap();
        assert_eq!(
            u,
            "https://a.example/cb?keep=1&state=a+b%26c&iss=https%3A%2F%2Fx"
        );
    }
}
