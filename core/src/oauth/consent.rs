//! The default consent page: a small HTML form listing the tags a client
//! asks for, which the host may serve as is or replace with its own.
//!
//! The form posts back the pending request's id, the CSRF token bound to
//! it, the tags the user kept (`scope`, one checkbox per tag, with
//! `scope_choice=1` saying the checkboxes were shown, so that none ticked
//! grants no tag) and the button pressed (`decision=approve|deny`). The host sets the same CSRF
//! token in a cookie ([`CONSENT_COOKIE`], see [`consent_cookie`]) when it
//! serves the page, and [`AuthorizationServer::consent`](super::AuthorizationServer::consent)
//! requires both: a page on another site can post the form, but cannot
//! read or set the cookie. Every value that reaches the page is escaped.

use super::server::ConsentRequest;

/// The name of the cookie carrying the consent page's CSRF token.
pub const CONSENT_COOKIE: &str = "mcpguard_consent";

/// Renders the consent page for `request`; the form posts to `action`
/// (the authorization endpoint's URL).
pub fn render_consent_page(request: &ConsentRequest, action: &str) -> String {
    let client = request.client_name.as_deref().unwrap_or(&request.client_id);
    let mut tags = String::new();
    for (scope, tag) in request.scopes.iter().zip(&request.tags) {
        tags.push_str(&format!(
            "<li><label><input type=\"checkbox\" name=\"scope\" value=\"{}\" checked> {}</label></li>\n",
            escape(scope),
            escape(tag)
        ));
    }
    if tags.is_empty() {
        tags.push_str("<li>no tags (the token will grant no tagged server)</li>\n");
    }
    format!(
        "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Authorize {client}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
code{{background:#eee;padding:0 .2rem}}button{{margin-right:.5rem;padding:.4rem 1rem}}</style>
</head><body>
<h1>Authorize {client}</h1>
<p><strong>{client}</strong> (client id <code>{client_id}</code>) asks for access to
<code>{resource}</code> with these tags:</p>
<form method=\"post\" action=\"{action}\">
<ul>
{tags}</ul>
<input type=\"hidden\" name=\"scope_choice\" value=\"1\">
<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">
<p>You will be sent back to <code>{redirect}</code>.</p>
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>
</form>
</body></html>
",
        client = escape(client),
        client_id = escape(&request.client_id),
        resource = escape(&request.resource),
        action = escape(action),
        request_id = escape(&request.request_id),
        csrf = escape(&request.csrf_token),
        redirect = escape(&request.redirect_uri),
    )
}

/// The `Set-Cookie` value carrying the CSRF token: `HttpOnly`,
/// `SameSite=Strict`, limited to the page's lifetime, and `Secure` when the
/// issuer is served over https.
pub fn consent_cookie(request: &ConsentRequest, secure: bool, max_age_seconds: i64) -> String {
    cookie_value(&request.csrf_token, secure, max_age_seconds)
}

/// A `Set-Cookie` value for the consent cookie (an empty value with age 0
/// removes it).
pub(crate) fn cookie_value(value: &str, secure: bool, max_age_seconds: i64) -> String {
    cookie::Cookie::build((CONSENT_COOKIE, value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_seconds.max(0)))
        .secure(secure)
        .build()
        .to_string()
}

/// The consent cookie's value in a `Cookie` request header, if present.
pub fn consent_cookie_from_header(header: &str) -> Option<String> {
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == CONSENT_COOKIE)
        .map(|c| c.value().to_string())
}

/// HTML-escapes text for element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> ConsentRequest {
        ConsentRequest {
            request_id: "rid".into(),
            csrf_token: "csrf-value".into(),
            client_id: "cid".into(),
            client_name: Some(name.into()),
            redirect_uri: "https://app.example/cb?a=1&b=2".into(),
            resource: "https://mcp.example/mcp".into(),
            scopes: vec!["tag:web".into(), "tag:db".into()],
            tags: vec!["web".into(), "db".into()],
            expires_at: 0,
        }
    }

    #[test]
    fn the_page_lists_each_tag_with_the_csrf_token_and_request_id() {
        let html = render_consent_page(&request("Claude"), "/authorize");
        assert!(html.contains("value=\"tag:web\" checked> web"));
        assert!(html.contains("value=\"tag:db\" checked> db"));
        assert!(html.contains("name=\"csrf_token\" value=\"csrf-value\""));
        assert!(html.contains("name=\"request_id\" value=\"rid\""));
        assert!(html.contains("https://app.example/cb?a=1&amp;b=2"));
    }

    #[test]
    fn a_hostile_client_name_is_escaped() {
        let html = render_consent_page(&request("<script>alert('x')</script>\""), "/a");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;"));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_on_https() {
        let c = consent_cookie(&request("x"), true, 600);
        for part in [
            "mcpguard_consent=csrf-value",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=600",
            "Secure",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        assert!(!consent_cookie(&request("x"), false, 600).contains("Secure"));
    }

    #[test]
    fn the_cookie_is_found_among_others_in_the_request_header() {
        assert_eq!(
            consent_cookie_from_header("a=1; mcpguard_consent=tok; b=2").as_deref(),
            Some("tok")
        );
        assert_eq!(consent_cookie_from_header("a=1"), None);
    }
}
