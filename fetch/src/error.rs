//! Why a fetch or a start failed.

/// A fetch failed; the keys or answers held before stay in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The configuration cannot be used by the fetcher.
    #[error("fetch configuration: {0}")]
    Config(String),
    /// The URL or a redirect breaks a fetch rule (scheme, host, count).
    #[error("fetch refused: {0}")]
    Refused(String),
    /// Connecting, TLS, a timeout or reading failed.
    #[error("fetch failed: {0}")]
    Transport(String),
    /// The server answered with another status than 200.
    #[error("{0} answered HTTP {1}")]
    Status(String, u16),
    /// The body is larger than `auth.fetch.max_response_bytes`.
    #[error("{0}: the response is larger than {1} bytes")]
    TooLarge(String, u64),
    /// The body is not what was expected (metadata, JWK Set).
    #[error("{0}: {1}")]
    Invalid(String, String),
}
