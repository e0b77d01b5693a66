//! Authorization server metadata: where to look and what to believe.
//!
//! Decides the metadata URLs of an issuer (RFC 8414 §3.1 first, with its
//! path-insertion rule — `https://as.example/tenant` is looked up at
//! `https://as.example/.well-known/oauth-authorization-server/tenant` — then
//! OpenID Connect Discovery's `<issuer>/.well-known/openid-configuration`)
//! and accepts a document only when its `issuer` is exactly the configured
//! one (RFC 8414 §3.3, OpenID Discovery §4.3), so one server cannot speak
//! for another. The `jwks_uri` and `introspection_endpoint` it names must
//! pass the same URL rules as configured ones.

use mcpguard::token::remote::check_fetch_url;
use serde::Deserialize;

use crate::client::Client;
use crate::error::FetchError;

/// The members of a metadata document the fetcher uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    /// Must equal the configured issuer.
    pub issuer: String,
    /// Where the signing keys are.
    pub jwks_uri: Option<String>,
    /// RFC 7662 endpoint, if the server has one.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
}

/// The metadata URLs to try for `issuer`, in order.
pub fn metadata_urls(issuer: &str) -> Result<[String; 2], FetchError> {
    let uri: http::Uri = issuer
        .parse()
        .map_err(|_| FetchError::Config(format!("issuer {issuer:?} is not a URL")))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(FetchError::Config(format!(
            "issuer {issuer:?} is not an absolute URL"
        )));
    };
    if uri.query().is_some() {
        return Err(FetchError::Config(format!(
            "issuer {issuer:?} has a query, which RFC 8414 forbids"
        )));
    }
    let path = uri.path().trim_end_matches('/');
    Ok([
        format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}"),
        format!("{scheme}://{authority}{path}/.well-known/openid-configuration"),
    ])
}

/// Fetches `issuer`'s metadata: the first URL that answers with a document
/// for this issuer wins.
pub fn discover(client: &Client, issuer: &str) -> Result<Metadata, FetchError> {
    let mut last = None;
    for url in metadata_urls(issuer)? {
        match client.get(&url).and_then(|f| parse(&url, issuer, &f.body)) {
            Ok(m) => return Ok(m),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| FetchError::Invalid(issuer.into(), "no metadata".into())))
}

fn parse(url: &str, issuer: &str, body: &[u8]) -> Result<Metadata, FetchError> {
    let invalid = |m: String| FetchError::Invalid(url.to_owned(), m);
    let m: Metadata = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not authorization server metadata: {e}")))?;
    if m.issuer != issuer {
        return Err(invalid(format!(
            "the metadata is for issuer {:?}, not {issuer:?}",
            m.issuer
        )));
    }
    for (name, value) in [
        ("jwks_uri", &m.jwks_uri),
        ("introspection_endpoint", &m.introspection_endpoint),
    ] {
        if let Some(v) = value {
            check_fetch_url(v).map_err(|e| invalid(format!("{name} {v:?} {e}")))?;
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_inserts_the_well_known_segment_before_the_issuer_path() {
        assert_eq!(
            metadata_urls("https://as.example").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://as.example/tenant/1/").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/tenant/1/.well-known/openid-configuration"
            ]
        );
        assert!(metadata_urls("https://as.example/?x=1").is_err());
    }

    #[test]
    fn metadata_for_another_issuer_or_with_a_plain_http_jwks_uri_is_refused() {
        let iss = "https://as.example";
        let doc = |v: serde_json::Value| v.to_string().into_bytes();
        assert!(
            parse(
                "u",
                iss,
                &doc(serde_json::json!({"issuer": iss, "jwks_uri": "https://as.example/k"}))
            )
            .is_ok()
        );
        assert!(parse("u", iss, &doc(serde_json::json!({"issuer": "https://evil.example", "jwks_uri": "https://as.example/k"}))).is_err());
        assert!(
            parse(
                "u",
                iss,
                &doc(serde_json::json!({"issuer": iss, "jwks_uri": "http://as.example/k"}))
            )
            .is_err()
        );
        assert!(parse("u", iss, b"[]").is_err());
    }
}
