//! What a request's query string means to the guard: 1MCP's filter
//! parameters, and a bearer token where none may be.
//!
//! The raw query string is read here (the host hands it over as received),
//! so every binding reads `a%2Cb`, `a+b` and a repeated parameter the same
//! way. Percent-decoding uses the `percent-encoding` crate; a parameter
//! that does not decode to UTF-8 cannot be read and is refused.

use std::borrow::Cow;

use super::super::request::{RequestError, RequestFilter};

/// The filter a request's query string asks for, from 1MCP's parameters
/// `tags`, `tag-filter` and `preset` (as `(name, value)` pairs the host has
/// already URL-decoded; other parameters are ignored).
///
/// A repeated filter parameter or two different ones is refused (400
/// `invalid_request`) rather than resolved by picking one: a client must
/// not get a wider view than one of its filters asked for.
///
/// ```
/// use mcpguard::guard::{filter_from_query, RequestFilter};
/// let q = [("session", "1"), ("tag-filter", "web and api")];
/// assert_eq!(filter_from_query(q).unwrap(), Some(RequestFilter::TagFilter("web and api")));
/// assert!(filter_from_query([("tags", "a"), ("tags", "b")]).is_err());
/// ```
pub fn filter_from_query<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Option<RequestFilter<'a>>, RequestError> {
    let found = pick_filter(params.into_iter().map(Ok))?;
    Ok(found.map(|(kind, value)| kind.with(value)))
}

/// Which filter parameter a query gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterKind {
    Tags,
    TagFilter,
    Preset,
}

impl FilterKind {
    /// The request filter of this kind with `value`.
    pub(crate) fn with(self, value: &str) -> RequestFilter<'_> {
        match self {
            FilterKind::Tags => RequestFilter::Tags(value),
            FilterKind::TagFilter => RequestFilter::TagFilter(value),
            FilterKind::Preset => RequestFilter::Preset(value),
        }
    }
}

/// The rules of [`filter_from_query`] over parameters of any string type,
/// stopping at the first parameter that could not be read: the kind of
/// filter and its value.
fn pick_filter<N: AsRef<str>, V>(
    params: impl IntoIterator<Item = Result<(N, V), RequestError>>,
) -> Result<Option<(FilterKind, V)>, RequestError> {
    let mut found: Option<(N, FilterKind, V)> = None;
    for param in params {
        let (name, value) = param?;
        let kind = match name.as_ref() {
            "tags" => FilterKind::Tags,
            "tag-filter" => FilterKind::TagFilter,
            "preset" => FilterKind::Preset,
            "access_token" => {
                // RFC 6750 §2.3 allows it, the MCP authorization spec
                // forbids it: URLs end up in logs and caches.
                return Err(RequestError(
                    "An access token in the query string is not accepted; send it in the Authorization header".into(),
                ));
            }
            _ => continue,
        };
        if let Some((first, _, _)) = &found {
            let (first, name) = (first.as_ref(), name.as_ref());
            let why = if first == name {
                format!("the query parameter `{name}` is given more than once")
            } else {
                format!("a request may carry only one filter (`{first}` and `{name}` given)")
            };
            return Err(RequestError(why));
        }
        found = Some((name, kind, value));
    }
    Ok(found.map(|(_, kind, value)| (kind, value)))
}

/// One decoded query parameter: `(name, value)`.
pub(crate) type Param<'q> = (Cow<'q, str>, Cow<'q, str>);

/// The filter a raw query string asks for, by the rules of
/// [`filter_from_query`], its value decoded (borrowed from `raw` unless it
/// had escapes). Nothing is collected: a request without filter parameters
/// allocates nothing here.
pub(crate) fn query_filter(raw: &str) -> Result<Option<(FilterKind, Cow<'_, str>)>, RequestError> {
    pick_filter(decode_query(raw))
}

/// The parameters of a raw query string (`application/x-www-form-urlencoded`:
/// `&`-separated, `+` is a space, percent-escapes decoded) that mean
/// something to the guard (`tags`, `tag-filter`, `preset`, `access_token`),
/// decoded, in order. Other parameters are the application's and are not
/// read; one of ours whose value does not decode to UTF-8 is refused.
pub(crate) fn decode_query(raw: &str) -> impl Iterator<Item = Result<Param<'_>, RequestError>> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            // A name that is not UTF-8 cannot be one of ours.
            let name = decode(name).ok()?;
            matches!(&*name, "tags" | "tag-filter" | "preset" | "access_token")
                .then(|| decode(value).map(|value| (name, value)))
        })
}

fn decode(part: &str) -> Result<Cow<'_, str>, RequestError> {
    let unreadable = || {
        RequestError(format!(
            "the query parameter {part:?} does not decode to UTF-8 text"
        ))
    };
    if part.contains('+') {
        let spaced = part.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| unreadable())?;
        return Ok(Cow::Owned(decoded.into_owned()));
    }
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map_err(|_| unreadable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_without_filter_parameters_has_no_filter() {
        assert_eq!(filter_from_query([]).unwrap(), None);
        assert_eq!(filter_from_query([("x", "1")]).unwrap(), None);
        assert_eq!(
            filter_from_query([("tags", "web")]).unwrap(),
            Some(RequestFilter::Tags("web"))
        );
        assert_eq!(
            filter_from_query([("preset", "dev")]).unwrap(),
            Some(RequestFilter::Preset("dev"))
        );
    }

    #[test]
    fn a_repeated_parameter_or_two_kinds_is_an_invalid_request() {
        let e = filter_from_query([("tags", "a"), ("tags", "b")]).unwrap_err();
        assert!(e.0.contains("more than once"), "{e}");
        let e = filter_from_query([("tags", "a"), ("preset", "dev")]).unwrap_err();
        assert!(e.0.contains("only one filter"), "{e}");
    }

    #[test]
    fn a_token_in_the_query_string_is_refused() {
        let e = filter_from_query([("access_token", "x")]).unwrap_err();
        assert!(e.0.contains("Authorization header"), "{e}");
    }

    #[test]
    fn raw_queries_decode_plus_and_percent_escapes() {
        let q: Vec<Param<'_>> = decode_query("tags=a%2Cb&tag-filter=web+and+api&&x&%74ags")
            .collect::<Result<_, _>>()
            .unwrap();
        let pairs: Vec<(&str, &str)> = q.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(
            pairs,
            [("tags", "a,b"), ("tag-filter", "web and api"), ("tags", "")]
        );
        assert!(matches!(
            query_filter("preset=b").unwrap(),
            Some((FilterKind::Preset, Cow::Borrowed("b")))
        ));
    }

    #[test]
    fn a_parameter_that_is_not_utf8_cannot_be_read() {
        assert!(query_filter("tags=%FF").is_err());
        // Not ours, so not read: the application decides about it.
        assert_eq!(decode_query("session=%FF&ta%C3gs=web").count(), 0);
    }
}
