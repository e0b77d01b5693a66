//! RFC 7662 token introspection: turning a response the host fetched into a
//! [`Principal`].
//!
//! Decides whether an introspection response describes a token this
//! resource may accept: the response is a JSON object with distinct members
//! (a repeated member is refused, since parsers disagree on which copy
//! wins), `active` is `true`, `token_type` (when present) names an access
//! token, `exp`/`nbf`/`iat` are current within the leeway, and `iss`/`aud`
//! (when present) pass the caller's checks. Calling the introspection
//! endpoint, authenticating to it and caching its answers are left to the
//! host.
//!
//! Choices where RFC 7662 leaves room:
//! - `token_type` is accepted when it is `Bearer` or `access_token`
//!   (ASCII case-insensitive); any other value (`refresh_token`, `DPoP`, …)
//!   is [`Reason::WrongType`].
//! - `exp`, `nbf`, `iat` must be JSON numbers within the range of a signed
//!   64-bit count of seconds (else [`Reason::Malformed`]); fractions are
//!   rounded towards refusal (`exp` down, `nbf`/`iat` up). The token is
//!   expired when `now >= exp + leeway`, not yet valid when
//!   `nbf > now + leeway` or `iat > now + leeway`.
//! - The subject is `sub` only (`username` is a display name, not an
//!   identifier); the client is `client_id` only.
//! - `scope` is a space-separated string. The role claim is a string (one
//!   role) or an array of strings; other shapes are [`Reason::Malformed`].
//! - `active` missing, `false` or not a boolean is [`Reason::Inactive`];
//!   nothing else in an inactive response is looked at.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::reason::Reason;
use crate::token::{Principal, TokenKind};

/// What a response is checked against.
pub struct IntrospectionContext<'a> {
    /// The current time, Unix seconds.
    pub now_secs: i64,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (negative
    /// counts as 0).
    pub leeway_secs: i64,
    /// Whether an `iss` names a trusted issuer.
    pub issuer_ok: &'a dyn Fn(&str) -> bool,
    /// Whether an `aud` entry names this resource.
    pub audience_ok: &'a dyn Fn(&str) -> bool,
    /// The member listing role names (`auth.role_claim`), if any.
    pub role_claim: Option<&'a str>,
}

impl fmt::Debug for IntrospectionContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionContext")
            .field("now_secs", &self.now_secs)
            .field("leeway_secs", &self.leeway_secs)
            .field("role_claim", &self.role_claim)
            .finish_non_exhaustive()
    }
}

/// Why an introspection response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{description} ({reason})")]
pub struct IntrospectionError {
    /// The reason code (status and OAuth error follow from it).
    pub reason: Reason,
    /// A description for `error_description`.
    pub description: &'static str,
}

fn fail<T>(reason: Reason, description: &'static str) -> Result<T, IntrospectionError> {
    Err(IntrospectionError {
        reason,
        description,
    })
}

/// A JSON value that refuses repeated object members at any depth.
/// `serde_json::Value` silently keeps the last copy; serde_json's recursion
/// limit still bounds the depth.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value whose objects have distinct members")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// A string member, if present; any other JSON type is malformed.
fn string<'v>(
    claims: &'v Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Option<&'v str>, IntrospectionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => fail(Reason::Malformed, malformed),
    }
}

/// A string or an array of strings, if present.
fn strings(
    claims: &Map<String, Value>,
    name: &str,
    malformed: &'static str,
) -> Result<Option<Vec<String>>, IntrospectionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => fail(Reason::Malformed, malformed),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => fail(Reason::Malformed, malformed),
    }
}

/// Bounds of an i64 as f64: -2^63 is exact, 2^63 is the first value past the top.
const I64_MIN_F: f64 = -9_223_372_036_854_775_808.0;
const I64_END_F: f64 = 9_223_372_036_854_775_808.0;

/// A time member in whole seconds, if present; fractions round up when
/// `round_up` (towards refusal for `nbf`/`iat`), else down (for `exp`).
fn seconds(
    claims: &Map<String, Value>,
    name: &str,
    round_up: bool,
    malformed: &'static str,
) -> Result<Option<i64>, IntrospectionError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return fail(Reason::Malformed, malformed);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    if n.is_u64() {
        return fail(Reason::Malformed, malformed);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => {
            let whole = if round_up { f.ceil() } else { f.floor() };
            if (I64_MIN_F..I64_END_F).contains(&whole) {
                // In range and integral, so the conversion is exact.
                Ok(Some(whole as i64))
            } else {
                fail(Reason::Malformed, malformed)
            }
        }
        _ => fail(Reason::Malformed, malformed),
    }
}

/// Checks an RFC 7662 introspection response (the JSON text the host
/// received) and builds the principal it describes: kind
/// [`TokenKind::Introspected`], issuer `iss` or `""`, audience `aud`,
/// scopes from `scope`, roles from `ctx.role_claim`, `claims_json` the
/// response text. See the module doc for the rules.
///
/// ```
/// use mcpguard::token::introspection::{validate_introspection, IntrospectionContext};
/// let ctx = IntrospectionContext { now_secs: 1_000, leeway_secs: 30,
///     issuer_ok: &|iss| iss == "https://auth.example.com",
///     audience_ok: &|aud| aud == "https://mcp.example.com/mcp", role_claim: None };
/// let p = validate_introspection(
///     r#"{"active":true,"sub":"alice","scope":"tag:web","exp":2000,
///         "iss":"https://auth.example.com"}"#, &ctx).unwrap();
/// assert_eq!(p.subject.as_deref(), Some("alice"));
/// let e = validate_introspection(r#"{"active":false}"#, &ctx).unwrap_err();
/// assert_eq!(e.reason, mcpguard::Reason::Inactive);
/// ```
pub fn validate_introspection(
    json: &str,
    ctx: &IntrospectionContext<'_>,
) -> Result<Principal, IntrospectionError> {
    let not_object = "The introspection response is not a JSON object with distinct members";
    let Ok(Strict(Value::Object(claims))) = serde_json::from_str::<Strict>(json) else {
        return fail(Reason::Malformed, not_object);
    };
    if claims.get("active") != Some(&Value::Bool(true)) {
        return fail(Reason::Inactive, Reason::Inactive.description());
    }

    let token_type = string(
        &claims,
        "token_type",
        "The introspection response's token_type is not a string",
    )?;
    let exp = seconds(
        &claims,
        "exp",
        false,
        "The introspection response's exp is not a number of seconds",
    )?;
    let nbf = seconds(
        &claims,
        "nbf",
        true,
        "The introspection response's nbf is not a number of seconds",
    )?;
    let iat = seconds(
        &claims,
        "iat",
        true,
        "The introspection response's iat is not a number of seconds",
    )?;
    let issuer = string(
        &claims,
        "iss",
        "The introspection response's iss is not a string",
    )?;
    let audience = strings(
        &claims,
        "aud",
        "The introspection response's aud is not a string or an array of strings",
    )?;
    let scope = string(
        &claims,
        "scope",
        "The introspection response's scope is not a string",
    )?;
    let client_id = string(
        &claims,
        "client_id",
        "The introspection response's client_id is not a string",
    )?;
    let subject = string(
        &claims,
        "sub",
        "The introspection response's sub is not a string",
    )?;
    let jwt_id = string(
        &claims,
        "jti",
        "The introspection response's jti is not a string",
    )?;
    let roles = match ctx.role_claim {
        Some(name) => strings(
            &claims,
            name,
            "The introspection response's role claim is not a string or an array of strings",
        )?,
        None => None,
    };

    if let Some(kind) = token_type
        && !kind.eq_ignore_ascii_case("bearer")
        && !kind.eq_ignore_ascii_case("access_token")
    {
        return fail(
            Reason::WrongType,
            "The introspected token is not a bearer access token",
        );
    }
    let leeway = ctx.leeway_secs.max(0);
    if let Some(exp) = exp
        && ctx.now_secs >= exp.saturating_add(leeway)
    {
        return fail(Reason::Expired, Reason::Expired.description());
    }
    let latest_start = ctx.now_secs.saturating_add(leeway);
    if nbf.is_some_and(|nbf| nbf > latest_start) || iat.is_some_and(|iat| iat > latest_start) {
        return fail(Reason::NotYetValid, Reason::NotYetValid.description());
    }
    if let Some(iss) = issuer
        && !(ctx.issuer_ok)(iss)
    {
        return fail(Reason::WrongIssuer, Reason::WrongIssuer.description());
    }
    if let Some(aud) = &audience
        && !aud.iter().any(|a| (ctx.audience_ok)(a))
    {
        return fail(Reason::WrongAudience, Reason::WrongAudience.description());
    }

    Ok(Principal {
        kind: TokenKind::Introspected,
        subject: subject.map(str::to_owned),
        client_id: client_id.map(str::to_owned),
        issuer: issuer.unwrap_or_default().to_owned(),
        audience: audience.unwrap_or_default(),
        scopes: scope
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        roles: roles.unwrap_or_default(),
        tags: Vec::new(),
        rejected_scopes: Vec::new(),
        expires_at: exp,
        jwt_id: jwt_id.map(str::to_owned),
        claims_json: Arc::from(json),
        token_fingerprint: None,
        granted: None,
        rate_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;
    const ISS: &str = "https://auth.example.com";
    const AUD: &str = "https://mcp.example.com/mcp";

    fn check(json: &str) -> Result<Principal, IntrospectionError> {
        let issuer_ok = |iss: &str| iss == ISS;
        let audience_ok = |aud: &str| aud == AUD;
        let ctx = IntrospectionContext {
            now_secs: NOW,
            leeway_secs: 30,
            issuer_ok: &issuer_ok,
            audience_ok: &audience_ok,
            role_claim: Some("roles"),
        };
        validate_introspection(json, &ctx)
    }

    fn reason(json: &str) -> Reason {
        check(json).unwrap_err().reason
    }

    #[test]
    fn a_full_active_response_becomes_a_principal() {
        let json = format!(
            r#"{{"active":true,"scope":"tag:web  mcp:admin","client_id":"cli","sub":"alice",
                "username":"Alice","token_type":"Bearer","exp":{},"iat":{},"nbf":{},
                "iss":"{ISS}","aud":["other","{AUD}"],"jti":"j1","roles":["dev","ops"]}}"#,
            NOW + 600,
            NOW - 10,
            NOW - 10
        );
        let p = check(&json).unwrap();
        assert_eq!(p.kind, TokenKind::Introspected);
        assert_eq!(p.subject.as_deref(), Some("alice"));
        assert_eq!(p.client_id.as_deref(), Some("cli"));
        assert_eq!(p.issuer, ISS);
        assert_eq!(p.audience, ["other", AUD]);
        assert_eq!(p.scopes, ["tag:web", "mcp:admin"]);
        assert_eq!(p.roles, ["dev", "ops"]);
        assert_eq!(p.expires_at, Some(NOW + 600));
        assert_eq!(p.jwt_id.as_deref(), Some("j1"));
        assert_eq!(&*p.claims_json, json);
    }

    #[test]
    fn a_minimal_active_response_has_empty_fields() {
        let p = check(r#"{"active":true}"#).unwrap();
        assert_eq!(p.issuer, "");
        assert!(p.audience.is_empty() && p.scopes.is_empty() && p.roles.is_empty());
        assert_eq!(
            (p.subject, p.client_id, p.expires_at, p.jwt_id),
            (None, None, None, None)
        );
    }

    #[test]
    fn a_response_that_is_not_a_json_object_is_malformed() {
        for json in [
            "",
            "[]",
            "true",
            "\"active\"",
            "{",
            r#"{"active":true} x"#,
            "null",
        ] {
            assert_eq!(reason(json), Reason::Malformed, "{json}");
        }
    }

    #[test]
    fn a_repeated_member_is_malformed_even_if_the_last_copy_is_fine() {
        assert_eq!(
            reason(r#"{"active":false,"active":true}"#),
            Reason::Malformed
        );
        assert_eq!(
            reason(r#"{"active":true,"sub":"a","sub":"b"}"#),
            Reason::Malformed
        );
        assert_eq!(
            reason(r#"{"active":true,"ext":{"k":1,"k":2}}"#),
            Reason::Malformed,
            "nested objects too"
        );
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_stack_overflow() {
        let json = format!(
            r#"{{"active":true,"x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(reason(&json), Reason::Malformed);
    }

    #[test]
    fn active_must_be_the_boolean_true() {
        for json in [
            r#"{}"#,
            r#"{"active":false}"#,
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
        ] {
            assert_eq!(reason(json), Reason::Inactive, "{json}");
        }
    }

    #[test]
    fn an_inactive_response_is_inactive_whatever_else_it_holds() {
        assert_eq!(reason(r#"{"active":false,"exp":"soon"}"#), Reason::Inactive);
    }

    #[test]
    fn time_members_must_be_numbers_in_range() {
        for json in [
            r#"{"active":true,"exp":"1"}"#,
            r#"{"active":true,"exp":null}"#,
            r#"{"active":true,"nbf":true}"#,
            r#"{"active":true,"iat":[]}"#,
            r#"{"active":true,"exp":9223372036854775808}"#,
            r#"{"active":true,"exp":1e300}"#,
            r#"{"active":true,"nbf":-1e300}"#,
        ] {
            assert_eq!(reason(json), Reason::Malformed, "{json}");
        }
    }

    #[test]
    fn fractional_times_round_towards_refusal() {
        let exp = format!(r#"{{"active":true,"exp":{}.9}}"#, NOW + 1);
        assert_eq!(check(&exp).unwrap().expires_at, Some(NOW + 1));
        let nbf = format!(r#"{{"active":true,"nbf":{}.1}}"#, NOW + 30);
        assert_eq!(reason(&nbf), Reason::NotYetValid);
    }

    #[test]
    fn expired_beyond_the_leeway_is_expired() {
        let at_edge = format!(r#"{{"active":true,"exp":{}}}"#, NOW - 29);
        assert!(check(&at_edge).is_ok());
        let past = format!(r#"{{"active":true,"exp":{}}}"#, NOW - 30);
        assert_eq!(reason(&past), Reason::Expired);
        assert_eq!(
            reason(r#"{"active":true,"exp":-9223372036854775808}"#),
            Reason::Expired
        );
    }

    #[test]
    fn nbf_or_iat_beyond_the_leeway_is_not_yet_valid() {
        let ok = format!(r#"{{"active":true,"nbf":{0},"iat":{0}}}"#, NOW + 30);
        assert!(check(&ok).is_ok());
        let nbf = format!(r#"{{"active":true,"nbf":{}}}"#, NOW + 31);
        assert_eq!(reason(&nbf), Reason::NotYetValid);
        let iat = format!(r#"{{"active":true,"iat":{}}}"#, NOW + 31);
        assert_eq!(reason(&iat), Reason::NotYetValid);
        assert!(check(r#"{"active":true,"nbf":9223372036854775807}"#).is_err());
    }

    #[test]
    fn an_untrusted_issuer_is_wrong_issuer() {
        assert_eq!(
            reason(r#"{"active":true,"iss":"https://evil.example"}"#),
            Reason::WrongIssuer
        );
        assert_eq!(reason(r#"{"active":true,"iss":""}"#), Reason::WrongIssuer);
        assert_eq!(reason(r#"{"active":true,"iss":7}"#), Reason::Malformed);
    }

    #[test]
    fn an_audience_naming_no_accepted_resource_is_wrong_audience() {
        let single = format!(r#"{{"active":true,"aud":"{AUD}"}}"#);
        assert_eq!(check(&single).unwrap().audience, [AUD]);
        assert_eq!(
            reason(r#"{"active":true,"aud":"https://other"}"#),
            Reason::WrongAudience
        );
        assert_eq!(
            reason(r#"{"active":true,"aud":["a","b"]}"#),
            Reason::WrongAudience
        );
        assert_eq!(reason(r#"{"active":true,"aud":[]}"#), Reason::WrongAudience);
        assert_eq!(reason(r#"{"active":true,"aud":[1]}"#), Reason::Malformed);
        assert_eq!(reason(r#"{"active":true,"aud":{}}"#), Reason::Malformed);
    }

    #[test]
    fn token_type_must_name_a_bearer_access_token() {
        for ok in ["Bearer", "bearer", "BEARER", "access_token", "Access_Token"] {
            assert!(
                check(&format!(r#"{{"active":true,"token_type":"{ok}"}}"#)).is_ok(),
                "{ok}"
            );
        }
        for bad in ["refresh_token", "DPoP", "mac", ""] {
            let json = format!(r#"{{"active":true,"token_type":"{bad}"}}"#);
            assert_eq!(reason(&json), Reason::WrongType, "{bad}");
        }
        assert_eq!(
            reason(r#"{"active":true,"token_type":1}"#),
            Reason::Malformed
        );
    }

    #[test]
    fn the_subject_is_sub_only_never_username() {
        let p = check(r#"{"active":true,"username":"alice"}"#).unwrap();
        assert_eq!(p.subject, None);
    }

    #[test]
    fn identifier_members_of_the_wrong_type_are_malformed() {
        for json in [
            r#"{"active":true,"scope":["a"]}"#,
            r#"{"active":true,"client_id":1}"#,
            r#"{"active":true,"sub":null}"#,
            r#"{"active":true,"jti":{}}"#,
        ] {
            assert_eq!(reason(json), Reason::Malformed, "{json}");
        }
    }

    #[test]
    fn roles_come_from_the_configured_claim_as_string_or_array() {
        assert_eq!(
            check(r#"{"active":true,"roles":"admin"}"#).unwrap().roles,
            ["admin"]
        );
        assert_eq!(
            reason(r#"{"active":true,"roles":["a",2]}"#),
            Reason::Malformed
        );
        assert_eq!(reason(r#"{"active":true,"roles":7}"#), Reason::Malformed);
        let ctx = IntrospectionContext {
            now_secs: NOW,
            leeway_secs: 0,
            issuer_ok: &|_| true,
            audience_ok: &|_| true,
            role_claim: None,
        };
        let p = validate_introspection(r#"{"active":true,"roles":["admin"]}"#, &ctx).unwrap();
        assert!(p.roles.is_empty(), "no role claim configured, no roles");
    }

    #[test]
    fn the_error_displays_its_description_and_code() {
        let e = check(r#"{"active":false}"#).unwrap_err();
        assert_eq!(e.to_string(), "The access token is not active (inactive)");
    }
}
