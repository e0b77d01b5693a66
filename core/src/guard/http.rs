//! What an HTTP middleware reads from an MCP request, 1MCP's way: the
//! filter from the query string and the tools a JSON-RPC body calls.
//!
//! Every binding's middleware (ASGI, Express) calls these, so a query or a
//! body means the same in every language. URL-decoding, body buffering and
//! size limits stay with the host's HTTP stack.

use serde_json::Value;

use super::request::{RequestError, RequestFilter};

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
    let mut found: Option<(&str, RequestFilter<'a>)> = None;
    for (name, value) in params {
        let filter = match name {
            "tags" => RequestFilter::Tags(value),
            "tag-filter" => RequestFilter::TagFilter(value),
            "preset" => RequestFilter::Preset(value),
            _ => continue,
        };
        if let Some((first, _)) = found {
            let why = if first == name {
                format!("the query parameter `{name}` is given more than once")
            } else {
                format!("a request may carry only one filter (`{first}` and `{name}` given)")
            };
            return Err(RequestError(why));
        }
        found = Some((name, filter));
    }
    Ok(found.map(|(_, f)| f))
}

/// The tool names a JSON-RPC body calls: the `params.name` of each
/// `tools/call` request, for a single message or a batch, in order. A
/// `tools/call` without a string name names no tool (the server check
/// still applies to the request); a body that is not a JSON-RPC message
/// calls nothing.
///
/// ```
/// use mcpguard::guard::tools_called;
/// let body = serde_json::json!([
///     {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write_file"}},
///     {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
/// ]);
/// assert_eq!(tools_called(&body), ["write_file"]);
/// ```
pub fn tools_called(body: &Value) -> Vec<&str> {
    let messages = match body {
        Value::Array(batch) => batch.as_slice(),
        single => std::slice::from_ref(single),
    };
    messages
        .iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .filter_map(|m| m.get("params")?.get("name")?.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn tools_come_from_tools_call_requests_single_or_batched() {
        let one = json!({"method": "tools/call", "params": {"name": "t"}});
        assert_eq!(tools_called(&one), ["t"]);
        let nameless =
            json!([{"method": "tools/call", "params": {"name": 3}}, {"method": "tools/call"}]);
        assert!(tools_called(&nameless).is_empty());
        assert!(tools_called(&json!("text")).is_empty());
        assert!(tools_called(&json!({"method": "tools/list"})).is_empty());
    }
}
