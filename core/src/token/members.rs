//! Strict JSON reading for JOSE headers and JWT claims, built on serde.
//!
//! `serde_json` keeps the last of two members with the same name, so
//! `{"alg":"RS256","alg":"none"}` could mean one thing to us and another to
//! the issuer's logs. Every object read here records its member names and
//! refuses a repeat, at every nesting level. Strings borrow from the decoded
//! segment when they hold no escapes, so a typical token allocates nothing
//! while it is read.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::json::Str;

/// A string or an array of strings (`aud`, `scp`, role claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrList<'de> {
    One(Str<'de>),
    Many(Vec<Str<'de>>),
}

impl<'de> StrList<'de> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            StrList::One(s) => (Some(s.as_str()), &[][..]),
            StrList::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().map(Str::as_str))
    }
}

impl<'de> Deserialize<'de> for StrList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrList::One(Str(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrList::One(Str(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrList::One(Str(Cow::Owned(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(s) = seq.next_element::<Str<'de>>()? {
                    out.push(s);
                }
                Ok(StrList::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Member names seen so far in one object. The first few live inline (no
/// allocation for ordinary tokens); a large object spills into a hash set so
/// that a token with many members cannot make the check quadratic.
pub(crate) struct SeenMembers<'de> {
    inline: [Option<Cow<'de, str>>; 16],
    len: usize,
    spill: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> SeenMembers<'de> {
    pub fn new() -> Self {
        Self {
            inline: Default::default(),
            len: 0,
            spill: None,
        }
    }

    /// Records `name`; an error if it was seen before in this object, or
    /// if it is a key serde_json's `Value` reads as something else
    /// ([`SERDE_JSON_TOKENS`](crate::json::SERDE_JSON_TOKENS)).
    pub fn insert<E: de::Error>(&mut self, name: &Str<'de>) -> Result<(), E> {
        let name = &name.0;
        crate::json::ordinary_key(name)?;
        if let Some(set) = &mut self.spill {
            if !set.insert(name.clone()) {
                return Err(duplicate(name));
            }
            return Ok(());
        }
        if self.inline[..self.len].iter().flatten().any(|n| n == name) {
            return Err(duplicate(name));
        }
        if self.len < self.inline.len() {
            self.inline[self.len] = Some(name.clone());
            self.len += 1;
        } else {
            let mut set: HashSet<Cow<'de, str>> =
                self.inline.iter_mut().filter_map(Option::take).collect();
            set.insert(name.clone());
            self.spill = Some(set);
        }
        Ok(())
    }
}

fn duplicate<E: de::Error>(_name: &str) -> E {
    // The name comes from the token: keep it out of the message.
    E::custom("duplicate member name")
}

/// Any JSON value, read only to check that no object inside it repeats a
/// member name. Depth is bounded by serde_json's recursion limit.
pub(crate) struct StrictAny;

impl<'de> Deserialize<'de> for StrictAny {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictAny;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_i64<E>(self, _: i64) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_u64<E>(self, _: u64) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_f64<E>(self, _: f64) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_str<E>(self, _: &str) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_unit<E>(self) -> Result<StrictAny, E> {
                Ok(StrictAny)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictAny, A::Error> {
                while seq.next_element::<StrictAny>()?.is_some() {}
                Ok(StrictAny)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictAny, A::Error> {
                let mut seen = SeenMembers::new();
                while let Some(name) = map.next_key::<Str<'de>>()? {
                    seen.insert(&name)?;
                    map.next_value::<StrictAny>()?;
                }
                Ok(StrictAny)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads the next value into `slot`, refusing a member name seen before
/// (serde_json would otherwise keep the last of two). The registered
/// members a visitor reads detect their own repeats this way; only other
/// members go through [`SeenMembers`].
pub(super) fn set_once<'de, T: de::Deserialize<'de>, A: de::MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom("duplicate member name"));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_member_is_refused_at_any_depth() {
        assert!(serde_json::from_str::<StrictAny>(r#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        assert!(serde_json::from_str::<StrictAny>(r#"{"a":1,"a":1}"#).is_err());
        assert!(serde_json::from_str::<StrictAny>(r#"{"a":{"c":[{"d":1,"d":2}]}}"#).is_err());
    }

    #[test]
    fn an_escaped_spelling_of_a_name_is_the_same_name() {
        assert!(serde_json::from_str::<StrictAny>(r#"{"alg":1,"al\u0067":2}"#).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(serde_json::from_str::<StrictAny>(&deep).is_err());
    }

    #[test]
    fn many_members_spill_and_still_catch_repeats() {
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"m{i}\":{i},"));
        }
        let ok = format!("{}\"last\":0}}", text);
        let bad = format!("{}\"m3\":0}}", text);
        assert!(serde_json::from_str::<StrictAny>(&ok).is_ok());
        assert!(serde_json::from_str::<StrictAny>(&bad).is_err());
    }
}
