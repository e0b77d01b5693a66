//! JWT claims (RFC 7519) read in one pass, with their types checked.
//!
//! Registered claims must have their registered types: `iss`, `sub`,
//! `jti`, `client_id`, `azp`, `cid` and `scope` are strings; `aud` is a
//! string or an array of strings; `scp` and the configured role claim are a
//! string or an array of strings; `exp`, `nbf` and `iat` are JSON numbers
//! (fractions allowed) within a signed 64-bit count of seconds. Any other
//! type, a repeated member name at any depth, or a payload that is not one
//! JSON object is `malformed`. Other claims are kept only in the raw text.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::members::{SeenMembers, StrList, StrictAny, set_once};
use crate::json::Str;

/// A NumericDate rounded both ways: `exp` uses the floor, `nbf`/`iat` the
/// ceiling, so a fraction never extends a token's validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumericDate {
    pub floor: i64,
    pub ceil: i64,
}

impl<'de> de::Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate { floor: v, ceil: v })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("date out of range"))?;
                Ok(NumericDate { floor: v, ceil: v })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // 2^63 is exactly representable; the range is [-2^63, 2^63).
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if !(v.is_finite() && (-LIMIT..LIMIT).contains(&v)) {
                    return Err(E::custom("date out of range"));
                }
                // `as` saturates; the range check above keeps it exact.
                Ok(NumericDate {
                    floor: v.floor() as i64,
                    ceil: v.ceil() as i64,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The claims mcpguard acts on, borrowed from the decoded payload.
#[derive(Debug, Default)]
pub(crate) struct Claims<'de> {
    pub iss: Option<Str<'de>>,
    pub sub: Option<Str<'de>>,
    pub aud: Option<StrList<'de>>,
    pub exp: Option<NumericDate>,
    pub nbf: Option<NumericDate>,
    pub iat: Option<NumericDate>,
    pub jti: Option<Str<'de>>,
    pub client_id: Option<Str<'de>>,
    pub azp: Option<Str<'de>>,
    pub cid: Option<Str<'de>>,
    pub scope: Option<Str<'de>>,
    pub scp: Option<StrList<'de>>,
    pub roles: Option<StrList<'de>>,
}

/// The claims a role claim may not be named after: they have types of their own.
pub(crate) const REGISTERED: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "azp",
    "cid",
    "scope",
    "scp",
];

/// Reads the claims; `role_claim` names the claim that lists roles.
pub(crate) struct ClaimsSeed<'r> {
    pub role_claim: Option<&'r str>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Registered claims detect their own repeats (the field is already
        // set); only other members go through the name set, so an ordinary
        // token compares no names at all.
        let mut seen = SeenMembers::new();
        let mut c = Claims::default();
        while let Some(name) = map.next_key::<Str<'de>>()? {
            match name.as_str() {
                "iss" => set_once(&mut c.iss, &mut map)?,
                "sub" => set_once(&mut c.sub, &mut map)?,
                "aud" => set_once(&mut c.aud, &mut map)?,
                "exp" => set_once(&mut c.exp, &mut map)?,
                "nbf" => set_once(&mut c.nbf, &mut map)?,
                "iat" => set_once(&mut c.iat, &mut map)?,
                "jti" => set_once(&mut c.jti, &mut map)?,
                "client_id" => set_once(&mut c.client_id, &mut map)?,
                "azp" => set_once(&mut c.azp, &mut map)?,
                "cid" => set_once(&mut c.cid, &mut map)?,
                "scope" => set_once(&mut c.scope, &mut map)?,
                "scp" => set_once(&mut c.scp, &mut map)?,
                other if Some(other) == self.role_claim => set_once(&mut c.roles, &mut map)?,
                _ => {
                    seen.insert(&name)?;
                    map.next_value::<StrictAny>()?;
                }
            }
        }
        Ok(c)
    }
}

/// Parses claims text (already known to be UTF-8).
pub(crate) fn parse_claims<'de>(
    text: &'de str,
    role_claim: Option<&str>,
) -> Result<Claims<'de>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let claims = ClaimsSeed { role_claim }.deserialize(&mut de)?;
    de.end()?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_serde_json_would_read_as_something_else_are_refused() {
        // serde_json's `Value` (with `raw_value`) reads an object whose
        // first key is its private token as the text it wraps: claims a
        // host re-reads into a `Value` would not be the ones decided on.
        for bad in [
            r#"{"$serde_json::private::RawValue":""}"#,
            r#"{"iss":"a","$serde_json::private::RawValue":"{}"}"#,
            r#"{"iss":"a","x":{"$serde_json::private::RawValue":"{}"}}"#,
            r#"{"iss":"a","x":[{"\u0024serde_json::private::Number":"1"}]}"#,
        ] {
            let e = parse_claims(bad, None).unwrap_err();
            assert!(e.to_string().contains("private token"), "{bad}: {e}");
        }
        assert!(parse_claims(r#"{"iss":"a","x":{"serde_json":"{}"}}"#, None).is_ok());
    }

    #[test]
    fn registered_claims_must_have_their_types() {
        assert!(parse_claims(r#"{"iss":"a","exp":1}"#, None).is_ok());
        for bad in [
            r#"{"iss":["a"]}"#,
            r#"{"exp":"1"}"#,
            r#"{"nbf":true}"#,
            r#"{"iat":null}"#,
            r#"{"aud":[1]}"#,
            r#"{"aud":{"a":1}}"#,
            r#"{"sub":1}"#,
            r#"{"scope":["a"]}"#,
            r#"{"scp":[1]}"#,
            r#"{"client_id":1}"#,
            r#"{"exp":9223372036854775808}"#,
            r#"{"exp":1e300}"#,
            r#"{"exp":-1e19}"#,
            r#"{"exp":1,"exp":2}"#,
            r#"{"x":{"y":1,"y":2}}"#,
            r#"[]"#,
            r#"{"exp":1} {}"#,
        ] {
            assert!(parse_claims(bad, Some("roles")).is_err(), "{bad}");
        }
    }

    #[test]
    fn fractional_dates_round_toward_the_safe_side() {
        let c = parse_claims(r#"{"exp":100.5,"nbf":99.2,"iat":-0.5}"#, None).unwrap();
        assert_eq!(
            c.exp,
            Some(NumericDate {
                floor: 100,
                ceil: 101
            })
        );
        assert_eq!(c.nbf.map(|d| d.ceil), Some(100));
        assert_eq!(c.iat.map(|d| d.ceil), Some(0));
        let c = parse_claims(
            r#"{"exp":9223372036854775807,"nbf":-9223372036854775808}"#,
            None,
        )
        .unwrap();
        assert_eq!(c.exp.map(|d| d.floor), Some(i64::MAX));
        assert_eq!(c.nbf.map(|d| d.floor), Some(i64::MIN));
    }

    #[test]
    fn the_role_claim_is_a_string_or_a_list() {
        let c = parse_claims(r#"{"roles":["a","b"]}"#, Some("roles")).unwrap();
        assert_eq!(c.roles.unwrap().iter().collect::<Vec<_>>(), ["a", "b"]);
        let c = parse_claims(r#"{"groups":"x"}"#, Some("groups")).unwrap();
        assert_eq!(c.roles.unwrap().iter().collect::<Vec<_>>(), ["x"]);
        assert!(parse_claims(r#"{"roles":7}"#, Some("roles")).is_err());
        // Without a configured role claim the member is just another claim.
        assert!(parse_claims(r#"{"roles":7}"#, None).is_ok());
    }
}
