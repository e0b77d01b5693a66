//! What a host hands the Guard for one request, and the `Authorization`
//! header parsing that comes first.

use serde_json::Value;

use crate::reason::Reason;

/// The filter a client asked for: exactly one kind, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFilter<'a> {
    /// 1MCP's `tags` query parameter: a comma list meaning OR.
    Tags(&'a str),
    /// 1MCP's `tag-filter` query parameter: an advanced boolean expression.
    TagFilter(&'a str),
    /// 1MCP's `preset` query parameter: the name of a configured preset.
    Preset(&'a str),
}

/// One request to authorize. Every field is optional; `cost` defaults to 1.
///
/// ```
/// use mcpguard::guard::{Request, RequestFilter};
/// let req = Request::new()
///     .authorization("Bearer eyJ...")
///     .server("filesystem")
///     .tool("write_file")
///     .filter(RequestFilter::Tags("files,web"))
///     .key("203.0.113.7");
/// assert_eq!(req.cost, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The raw `Authorization` header value.
    pub authorization: Option<&'a str>,
    /// The target server, if the request targets one.
    pub server: Option<&'a str>,
    /// The target tool on that server.
    pub tool: Option<&'a str>,
    /// The client's tag filter.
    pub filter: Option<RequestFilter<'a>>,
    /// The host's fallback rate-limit key (e.g. the client's IP address).
    pub key: Option<&'a str>,
    /// Rate-limit cost; must be at least 1.
    pub cost: u64,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Request<'a> {
    /// An empty request of cost 1.
    pub const fn new() -> Self {
        Request {
            authorization: None,
            server: None,
            tool: None,
            filter: None,
            key: None,
            cost: 1,
        }
    }

    /// Sets the raw `Authorization` header value.
    pub fn authorization(mut self, value: &'a str) -> Self {
        self.authorization = Some(value);
        self
    }

    /// Sets the target server.
    pub fn server(mut self, server: &'a str) -> Self {
        self.server = Some(server);
        self
    }

    /// Sets the target tool (needs a server).
    pub fn tool(mut self, tool: &'a str) -> Self {
        self.tool = Some(tool);
        self
    }

    /// Sets the client's filter.
    pub fn filter(mut self, filter: RequestFilter<'a>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets the host's fallback rate-limit key.
    pub fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the rate-limit cost.
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }

    /// Reads a request in the JSON shape of `config.md`
    /// (`{"authorization", "server", "tool", "filter": {"tags"|"tag_filter"|"preset": ..}, "key", "cost"}`),
    /// as the bindings and the conformance vectors give it.
    ///
    /// Every shape error is an `invalid_request` with a description naming
    /// the field: an unknown key, a value of the wrong type, a filter with
    /// two kinds, a cost that is not a whole number.
    pub fn from_json(value: &'a Value) -> Result<Request<'a>, RequestError> {
        let obj = value
            .as_object()
            .ok_or(RequestError("the request must be a JSON object".into()))?;
        let mut req = Request::new();
        for (name, v) in obj {
            match name.as_str() {
                "authorization" => req.authorization = opt_str(v, name)?,
                "server" => req.server = opt_str(v, name)?,
                "tool" => req.tool = opt_str(v, name)?,
                "key" => req.key = opt_str(v, name)?,
                "cost" => {
                    req.cost = match v {
                        Value::Null => 1,
                        Value::Number(n) => n.as_u64().ok_or_else(|| {
                            RequestError(format!(
                                "cost must be a whole number of at least 1, got {n}"
                            ))
                        })?,
                        _ => return Err(RequestError("cost must be a number".into())),
                    }
                }
                "filter" => req.filter = filter_from_json(v)?,
                other => return Err(RequestError(format!("unknown request field `{other}`"))),
            }
        }
        Ok(req)
    }
}

fn opt_str<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, RequestError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(RequestError(format!("{name} must be a string"))),
    }
}

fn filter_from_json(v: &Value) -> Result<Option<RequestFilter<'_>>, RequestError> {
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => return Err(RequestError("filter must be an object".into())),
    };
    let mut found = None;
    for (kind, text) in obj {
        let text = text
            .as_str()
            .ok_or_else(|| RequestError(format!("filter.{kind} must be a string")))?;
        let filter = match kind.as_str() {
            "tags" => RequestFilter::Tags(text),
            "tag_filter" => RequestFilter::TagFilter(text),
            "preset" => RequestFilter::Preset(text),
            other => return Err(RequestError(format!("unknown filter kind `{other}`"))),
        };
        if found.replace(filter).is_some() {
            return Err(RequestError(
                "a request may carry only one filter (tags, tag_filter or preset)".into(),
            ));
        }
    }
    Ok(found)
}

impl<'a> RequestFilter<'a> {
    /// The one filter of a request that may carry a filter in two places
    /// (an explicit argument and the query string): at most one of them, or
    /// 400 `invalid_request`. A client must not get a wider view than one of
    /// its filters asked for, and no place wins over the other.
    pub fn one_of(
        explicit: Option<RequestFilter<'a>>,
        from_query: Option<RequestFilter<'a>>,
    ) -> Result<Option<RequestFilter<'a>>, RequestError> {
        match (explicit, from_query) {
            (Some(_), Some(_)) => Err(RequestError(
                "a request may carry only one filter (one was given and the query string holds another)"
                    .into(),
            )),
            (a, b) => Ok(a.or(b)),
        }
    }
}

/// A request the Guard refuses before looking at its token (400
/// `invalid_request`); the text says which field is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The outcome of reading an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// No header, or one that is empty or only spaces.
    None,
    /// A bearer token (not yet validated).
    Bearer(&'a str),
}

/// Reads the bearer token out of an `Authorization` header value, as the
/// pinned details of `conformance.md` say: the scheme is case-insensitive
/// and followed by one or more spaces; `Basic …` and a bare `Bearer` are
/// malformed. Leading and trailing spaces or tabs (HTTP's optional
/// whitespace) are ignored.
///
/// The token is returned as it stands, without a scan of its characters:
/// text after it (`Bearer a b`), two credentials (`Bearer a, Bearer b`) and
/// any other character outside RFC 6750's `b64token` are refused as
/// `malformed` by the token check that follows (strict base64url for a JWT,
/// the token alphabet for an opaque token), and such a token can never be
/// in the verified-token cache. Reading a long header twice on every request
/// would buy nothing.
///
/// A token longer than `max_token_bytes` is refused as `too_large` before
/// its characters are examined.
pub fn parse_authorization(
    header: Option<&str>,
    max_token_bytes: usize,
) -> Result<Credentials<'_>, Reason> {
    let Some(header) = header else {
        return Ok(Credentials::None);
    };
    let value = header.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Ok(Credentials::None);
    }
    let (scheme, rest) = value.split_at(value.find(' ').ok_or(Reason::Malformed)?);
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Reason::Malformed);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(Reason::Malformed);
    }
    if token.len() > max_token_bytes {
        return Err(Reason::TooLarge);
    }
    Ok(Credentials::Bearer(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(h: Option<&str>) -> Result<Credentials<'_>, Reason> {
        parse_authorization(h, 8192)
    }

    #[test]
    fn no_header_empty_or_blank_is_no_credentials() {
        assert_eq!(parse(None), Ok(Credentials::None));
        assert_eq!(parse(Some("")), Ok(Credentials::None));
        assert_eq!(parse(Some("   ")), Ok(Credentials::None));
    }

    #[test]
    fn scheme_is_case_insensitive_and_takes_one_or_more_spaces() {
        assert_eq!(parse(Some("Bearer abc")), Ok(Credentials::Bearer("abc")));
        assert_eq!(
            parse(Some("bEaReR   a.b.c")),
            Ok(Credentials::Bearer("a.b.c"))
        );
        assert_eq!(
            parse(Some(" Bearer abc== ")),
            Ok(Credentials::Bearer("abc=="))
        );
    }

    #[test]
    fn other_schemes_and_bare_bearer_are_malformed() {
        for h in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearerabc",
            "Token abc",
        ] {
            assert_eq!(parse(Some(h)), Err(Reason::Malformed), "{h:?}");
        }
    }

    #[test]
    fn a_tab_after_the_scheme_is_no_separator() {
        assert_eq!(parse(Some("Bearer\tabc")), Err(Reason::Malformed));
    }

    #[test]
    fn text_after_the_token_is_left_for_the_token_check_to_refuse() {
        // The Guard's tests show these end as `malformed`.
        assert_eq!(
            parse(Some("Bearer abc def")),
            Ok(Credentials::Bearer("abc def"))
        );
    }

    #[test]
    fn an_oversized_token_is_too_large_before_its_characters_are_read() {
        let h = format!("Bearer {}", "\u{0}".repeat(20));
        assert_eq!(parse_authorization(Some(&h), 10), Err(Reason::TooLarge));
        assert_eq!(
            parse_authorization(Some("Bearer 0123456789"), 10),
            Ok(Credentials::Bearer("0123456789"))
        );
    }

    #[test]
    fn json_requests_read_every_field_and_refuse_two_filters() {
        let v = serde_json::json!({"authorization": "Bearer x", "server": "s", "tool": "t",
            "filter": {"tags": "a,b"}, "key": "k", "cost": 3});
        let r = Request::from_json(&v).unwrap();
        assert_eq!(r.filter, Some(RequestFilter::Tags("a,b")));
        assert_eq!(
            (r.server, r.tool, r.key, r.cost),
            (Some("s"), Some("t"), Some("k"), 3)
        );
        let two = serde_json::json!({"filter": {"tags": "a", "preset": "dev"}});
        assert!(
            Request::from_json(&two)
                .unwrap_err()
                .0
                .contains("only one filter")
        );
        for bad in [
            serde_json::json!({"cost": -1}),
            serde_json::json!({"cost": 1.5}),
            serde_json::json!({"cost": "1"}),
            serde_json::json!({"server": 3}),
            serde_json::json!({"filter": {"tag_query": "x"}}),
            serde_json::json!({"nope": 1}),
            serde_json::json!([1]),
        ] {
            assert!(Request::from_json(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Request::from_json(&serde_json::json!({})).unwrap(),
            Request::new()
        );
    }
}
