//! The HTTPS client every call goes through, and the rules it enforces.
//!
//! Decides what a fetch may do: only URLs [`check_fetch_url`] accepts
//! (`https://`, plain `http://` only on a loopback host); a connect timeout
//! and a whole-call timeout; a body cap (a larger body is an error, never
//! truncated); redirects followed by hand, at most `max_redirects`, only
//! absolute or root-relative `Location`s, never to another scheme; a POST
//! (introspection, which carries a token and credentials) never follows a
//! redirect. TLS is rustls with the aws-lc-rs provider, checked against
//! the public web roots or, with `auth.fetch.ca_pem`, that private CA only.
//! Proxies from the environment are not used: the authorization server is
//! called directly.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use headers::{CacheControl, Expires, HeaderMapExt};
use mcpguard::token::FetchConfig;
use mcpguard::token::remote::check_fetch_url;
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use crate::error::FetchError;

/// A successful GET: the body and how long the server says it stays fresh.
#[derive(Debug)]
pub struct Fetched {
    /// The response body (at most the configured cap).
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, else `Expires` minus now; `Some(ZERO)` for
    /// `no-store`/`no-cache`; `None` when the response says nothing.
    pub fresh_for: Option<Duration>,
}

/// An HTTPS client configured from `auth.fetch`.
#[derive(Clone)]
pub struct Client {
    agent: Arc<Mutex<Owned>>,
    config: Arc<FetchConfig>,
    max_body: u64,
    max_redirects: u32,
}

/// The agent, and the process that made it.
struct Owned {
    agent: Agent,
    pid: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("max_body", &self.max_body)
            .field("max_redirects", &self.max_redirects)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `config`'s timeouts, cap, redirect limit and roots.
    pub fn new(config: &FetchConfig) -> Result<Client, FetchError> {
        Ok(Client {
            agent: Arc::new(Mutex::new(Owned {
                agent: Self::agent_for(config)?,
                pid: std::process::id(),
            })),
            config: Arc::new(config.clone()),
            max_body: config.max_response_bytes,
            max_redirects: config.max_redirects,
        })
    }

    /// The agent to send with. A child forked since the agent was made
    /// makes its own: the parent's keeps connections alive (sockets the
    /// parent still uses), and its pool's lock may have been held at the
    /// fork by a request of the parent's, gone in the child.
    fn agent(&self) -> Result<Agent, FetchError> {
        let mut owned = self.agent.lock();
        let me = std::process::id();
        if owned.pid != me {
            let fresh = Self::agent_for(&self.config)?;
            std::mem::forget(std::mem::replace(&mut owned.agent, fresh));
            owned.pid = me;
        }
        Ok(owned.agent.clone())
    }

    /// The agent `config` describes.
    fn agent_for(config: &FetchConfig) -> Result<Agent, FetchError> {
        let roots = match &config.ca_pem {
            None => RootCerts::WebPki,
            Some(text) => {
                let mut certs = Vec::new();
                for item in ureq::tls::parse_pem(text.as_bytes()) {
                    if let ureq::tls::PemItem::Certificate(c) =
                        item.map_err(|e| FetchError::Config(format!("auth.fetch.ca_pem: {e}")))?
                    {
                        certs.push(c);
                    }
                }
                if certs.is_empty() {
                    return Err(FetchError::Config(
                        "auth.fetch.ca_pem holds no certificate".into(),
                    ));
                }
                RootCerts::new_with_certs(
                    &certs.iter().map(Certificate::to_owned).collect::<Vec<_>>(),
                )
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(roots)
            .build();
        let agent = Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_millis(config.connect_timeout_ms)))
            .timeout_global(Some(Duration::from_millis(config.timeout_ms)))
            .user_agent(concat!("mcpguard-fetch/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(agent)
    }

    /// GETs `url` (JSON expected), following redirects within the rules.
    pub fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let mut current = url.to_owned();
        for _ in 0..=self.max_redirects {
            check_fetch_url(&current).map_err(|m| FetchError::Refused(format!("{current} {m}")))?;
            let mut resp = self
                .agent()?
                .get(&current)
                .header("accept", "application/json")
                .call()
                .map_err(|e| FetchError::Transport(format!("{current}: {e}")))?;
            let status = resp.status();
            if status.is_redirection() {
                current = redirect_target(&current, resp.headers())?;
                continue;
            }
            if status != http::StatusCode::OK {
                return Err(FetchError::Status(current, status.as_u16()));
            }
            let fresh_for = freshness(resp.headers());
            let body = self.read_body(&current, resp.body_mut())?;
            return Ok(Fetched { body, fresh_for });
        }
        Err(FetchError::Refused(format!(
            "{url}: more than {} redirects",
            self.max_redirects
        )))
    }

    /// POSTs a form to `url` with HTTP Basic credentials; no redirect is
    /// followed (the body carries a token).
    pub fn post_form(
        &self,
        url: &str,
        authorization: &str,
        form: String,
    ) -> Result<Vec<u8>, FetchError> {
        check_fetch_url(url).map_err(|m| FetchError::Refused(format!("{url} {m}")))?;
        let mut resp = self
            .agent()?
            .post(url)
            .header("authorization", authorization)
            .header("accept", "application/json")
            .content_type("application/x-www-form-urlencoded")
            .send(form)
            .map_err(|e| FetchError::Transport(format!("{url}: {e}")))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(FetchError::Refused(format!(
                "{url}: an introspection endpoint may not redirect"
            )));
        }
        if status != http::StatusCode::OK {
            return Err(FetchError::Status(url.to_owned(), status.as_u16()));
        }
        self.read_body(url, resp.body_mut())
    }

    fn read_body(&self, url: &str, body: &mut ureq::Body) -> Result<Vec<u8>, FetchError> {
        body.with_config()
            .limit(self.max_body)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    FetchError::TooLarge(url.to_owned(), self.max_body)
                }
                e => FetchError::Transport(format!("{url}: {e}")),
            })
    }
}

/// The next URL of a redirect: an absolute `Location` of the same scheme,
/// or a root-relative one on the same origin.
fn redirect_target(current: &str, headers: &http::HeaderMap) -> Result<String, FetchError> {
    let refused = |m: &str| FetchError::Refused(format!("{current}: redirect {m}"));
    let location = headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("without a usable Location"))?;
    let from: http::Uri = current.parse().map_err(|_| refused("from a bad URL"))?;
    let to: http::Uri = location
        .parse()
        .map_err(|_| refused("to a Location that is not a URI"))?;
    match (to.scheme_str(), to.authority()) {
        (Some(scheme), Some(_)) => {
            if Some(scheme) != from.scheme_str() {
                return Err(refused(&format!(
                    "from {} to {scheme} refused (never to another scheme)",
                    from.scheme_str().unwrap_or("?")
                )));
            }
            Ok(location.to_owned())
        }
        (None, None) if location.starts_with('/') && !location.starts_with("//") => {
            let (Some(scheme), Some(authority)) = (from.scheme_str(), from.authority()) else {
                return Err(refused("from a relative URL"));
            };
            Ok(format!("{scheme}://{authority}{location}"))
        }
        _ => Err(refused("to a relative Location other than /path")),
    }
}

/// `Cache-Control: max-age`, `no-store`/`no-cache`, else `Expires`.
fn freshness(headers: &http::HeaderMap) -> Option<Duration> {
    if let Some(cc) = headers.typed_get::<CacheControl>() {
        if cc.no_store() || cc.no_cache() {
            return Some(Duration::ZERO);
        }
        if let Some(age) = cc.max_age() {
            return Some(age);
        }
    }
    let expires: std::time::SystemTime = headers.typed_get::<Expires>()?.into();
    Some(
        expires
            .duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn redirects_keep_their_scheme_and_resolve_root_relative_locations() {
        let to =
            |loc: &str| redirect_target("https://as.example/a", &headers(&[("location", loc)]));
        assert_eq!(
            to("https://cdn.example/k").unwrap(),
            "https://cdn.example/k"
        );
        assert_eq!(to("/keys").unwrap(), "https://as.example/keys");
        assert!(to("http://as.example/keys").is_err());
        assert!(to("//evil.example/keys").is_err());
        assert!(to("keys").is_err());
        assert!(redirect_target("https://as.example/a", &headers(&[])).is_err());
    }

    #[test]
    fn freshness_comes_from_max_age_then_expires() {
        assert_eq!(
            freshness(&headers(&[("cache-control", "public, max-age=120")])),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            freshness(&headers(&[("cache-control", "no-store")])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            freshness(&headers(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")])),
            Some(Duration::ZERO)
        );
        assert_eq!(freshness(&headers(&[])), None);
    }
}
