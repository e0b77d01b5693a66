//! [`OwnedHttpRequest`]: a request copied out of the host's buffers, for a
//! decision that outlives the call that began it (an awaited decision a
//! binding hands to an event loop).

use super::{HttpBody, HttpRequest};

/// An [`HttpRequest`] that owns its parts. Make one with `From`, decide
/// with [`OwnedHttpRequest::request`] over [`OwnedHttpRequest::header_pairs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedHttpRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    peer: Option<String>,
    body: OwnedBody,
    server: Option<String>,
    key: Option<String>,
    cost: Option<u64>,
}

/// [`HttpBody`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedBody {
    None,
    Bytes(Vec<u8>),
    TooLarge,
    Unavailable,
    Failed,
}

impl From<&HttpRequest<'_>> for OwnedHttpRequest {
    fn from(r: &HttpRequest<'_>) -> Self {
        OwnedHttpRequest {
            method: r.method.to_owned(),
            path: r.path.to_owned(),
            query: r.query.to_owned(),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
            peer: r.peer.map(str::to_owned),
            body: match r.body {
                HttpBody::None => OwnedBody::None,
                HttpBody::Bytes(b) => OwnedBody::Bytes(b.to_vec()),
                HttpBody::TooLarge => OwnedBody::TooLarge,
                HttpBody::Unavailable => OwnedBody::Unavailable,
                HttpBody::Failed => OwnedBody::Failed,
            },
            server: r.server.map(str::to_owned),
            key: r.key.map(str::to_owned),
            cost: r.cost,
        }
    }
}

impl OwnedHttpRequest {
    /// The headers as [`HttpRequest::headers`] borrows them.
    pub fn header_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }

    /// The request over these parts, with `headers` from
    /// [`header_pairs`](Self::header_pairs).
    pub fn request<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> HttpRequest<'a> {
        HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            peer: self.peer.as_deref(),
            body: match &self.body {
                OwnedBody::None => HttpBody::None,
                OwnedBody::Bytes(b) => HttpBody::Bytes(b),
                OwnedBody::TooLarge => HttpBody::TooLarge,
                OwnedBody::Unavailable => HttpBody::Unavailable,
                OwnedBody::Failed => HttpBody::Failed,
            },
            server: self.server.as_deref(),
            key: self.key.as_deref(),
            cost: self.cost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_copied_and_borrowed_back_is_the_same_request() {
        let headers: &[(&[u8], &[u8])] = &[(b"Authorization", b"Bearer x"), (b"a", b"1")];
        for body in [
            HttpBody::None,
            HttpBody::Bytes(b"{}"),
            HttpBody::TooLarge,
            HttpBody::Unavailable,
            HttpBody::Failed,
        ] {
            let original = HttpRequest {
                query: "q=1",
                headers,
                peer: Some("10.0.0.1"),
                body,
                server: Some("files"),
                key: Some("k"),
                cost: Some(3),
                ..HttpRequest::new("POST", "/mcp")
            };
            let owned = OwnedHttpRequest::from(&original);
            let pairs = owned.header_pairs();
            let back = owned.request(&pairs);
            assert_eq!(format!("{back:?}"), format!("{original:?}"));
        }
    }
}
