//! The RFC 7662 client the core calls for opaque tokens.
//!
//! Decides how a token is sent: a POST of `token` and
//! `token_type_hint=access_token` as a form, authenticated with
//! `client_secret_basic` (id and secret form-encoded, then HTTP Basic, as
//! RFC 6749 §2.3.1 says), no redirect followed, the body capped. What the
//! answer means, how long it is kept and what a failure gives are the
//! core's decisions ([`mcpguard::token::remote`]). Error texts name the
//! endpoint, never the token.

use std::sync::Arc;

use headers::{Authorization, HeaderMapExt};
use mcpguard::token::{IntrospectionUnavailable, Introspector};
use parking_lot::RwLock;

use crate::client::Client;
use crate::events::{EventKind, Events};

/// Calls one issuer's introspection endpoint.
pub struct HttpIntrospector {
    issuer: String,
    client: Client,
    /// `None` until discovery names it (when not configured).
    pub(crate) endpoint: RwLock<Option<String>>,
    authorization: String,
    events: Arc<Events>,
}

impl std::fmt::Debug for HttpIntrospector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credentials.
        f.debug_struct("HttpIntrospector")
            .field("issuer", &self.issuer)
            .field("endpoint", &*self.endpoint.read())
            .finish_non_exhaustive()
    }
}

impl HttpIntrospector {
    pub(crate) fn new(
        issuer: &str,
        client: Client,
        endpoint: Option<String>,
        client_id: &str,
        client_secret: &str,
        events: Arc<Events>,
    ) -> Self {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut h = http::HeaderMap::new();
        h.typed_insert(Authorization::basic(&enc(client_id), &enc(client_secret)));
        let authorization = h
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Self {
            issuer: issuer.to_owned(),
            client,
            endpoint: RwLock::new(endpoint),
            authorization,
            events,
        }
    }
}

impl Introspector for HttpIntrospector {
    fn introspect(&self, token: &str) -> Result<String, IntrospectionUnavailable> {
        let Some(endpoint) = self.endpoint.read().clone() else {
            self.events.record(
                EventKind::IntrospectionFailed,
                &self.issuer,
                "the introspection endpoint is not discovered yet",
            );
            return Err(IntrospectionUnavailable(
                "the introspection endpoint is not discovered yet".into(),
            ));
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let result = self
            .client
            .post_form(&endpoint, &self.authorization, form)
            .and_then(|body| {
                String::from_utf8(body).map_err(|_| {
                    crate::FetchError::Invalid(endpoint.clone(), "the answer is not UTF-8".into())
                })
            });
        match result {
            Ok(text) => {
                self.events
                    .record(EventKind::IntrospectionCalled, &self.issuer, &endpoint);
                Ok(text)
            }
            Err(e) => {
                let text = e.to_string();
                self.events
                    .record(EventKind::IntrospectionFailed, &self.issuer, &text);
                Err(IntrospectionUnavailable(text))
            }
        }
    }
}
