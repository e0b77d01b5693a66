//! JSON helpers built on serde: maps that keep their order and refuse
//! duplicate keys, and the string and key readers the strict readers of
//! untrusted JSON share (`Str`, `ObjectKey`, `MaybeStr`).
//!
//! `serde_json::Value` keeps the last of two equal keys, which would let a
//! configuration with two `"filesystem"` servers silently drop one. Maps in
//! the configuration use [`UniqueMap`] instead.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON object read in document order that refuses repeated keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueMap<V>(pub Vec<(String, V)>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(Vec::new())
    }
}

impl<V> UniqueMap<V> {
    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Entries in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = UniqueMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with distinct keys")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Seconds as JSON: a whole number when it is one (`900`, not `900.0`), so
/// vectors and clients in every language read the same text.
pub fn seconds(s: f64) -> serde_json::Value {
    if s.fract() == 0.0 && s.abs() < 9.0e15 {
        serde_json::Value::from(s as i64)
    } else {
        serde_json::Value::from(s)
    }
}

/// The scalar `visit_*` methods (bool, integers, float, string, null) of a
/// serde `Visitor` that answers every scalar alike with `$value`; with
/// `strict`, a float that is not finite is refused first ("a number out of
/// range"), as the request body reader requires.
macro_rules! scalars_give {
    (strict $value:expr) => {
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            $crate::json::finite::<E>(v).map(|()| $value)
        }
        $crate::json::scalars_give!(@rest $value);
    };
    (@rest $value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    ($value:expr) => {
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        $crate::json::scalars_give!(@rest $value);
    };
}
pub(crate) use scalars_give;

/// The object keys serde_json gives a meaning of its own. With its
/// `raw_value` feature, which mcpguard needs and which Cargo then turns on
/// for every crate of a Rust host's build, serde_json's `Value` reads an
/// object whose first key is `$serde_json::private::RawValue` as the JSON
/// text in that key's string; with `arbitrary_precision`,
/// `$serde_json::private::Number` as a number. A host reading
/// `{"$serde_json::private::RawValue": "{\"method\": \"tools/call\", …}"}`
/// into a `Value` sees a tool call where mcpguard read an object with one
/// unknown key, so wherever mcpguard reads keys, these are refused.
pub(crate) const SERDE_JSON_TOKENS: [&str; 2] = [
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// An error for an object key that is one of [`SERDE_JSON_TOKENS`] (in any
/// spelling: `key` is the decoded key).
pub(crate) fn ordinary_key<E: de::Error>(key: &str) -> Result<(), E> {
    if SERDE_JSON_TOKENS.contains(&key) {
        return Err(E::custom(format_args!(
            "the key {key:?} is serde_json's private token: a reader of this JSON into a \
             serde_json Value would see another value"
        )));
    }
    Ok(())
}

/// `Ok` for a finite number, else serde's custom error "a number out of
/// range".
pub(crate) fn finite<E: de::Error>(v: f64) -> Result<(), E> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(E::custom("a number out of range"))
    }
}

/// An object key, decoded (borrowed unless it was written with escapes),
/// and never one of [`SERDE_JSON_TOKENS`]: every reader of untrusted JSON
/// that looks at keys (request bodies, listing responses) reads them as
/// this.
pub(crate) struct ObjectKey<'t>(pub Cow<'t, str>);

impl<'de> Deserialize<'de> for ObjectKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Str(key) = Str::deserialize(d)?;
        ordinary_key(&key)?;
        Ok(ObjectKey(key))
    }
}

/// A JSON string, borrowed from the input when it holds no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Str<'de>(pub Cow<'de, str>);

impl<'de> Str<'de> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON string, borrowed from the text when it has no escapes, or `None`
/// for a value of any other type (read and skipped). Also reads object keys
/// without allocating.
pub(crate) struct MaybeStr<'t>(pub Option<Cow<'t, str>>);

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_document_order() {
        let m: UniqueMap<u32> = serde_json::from_str(r#"{"z":1,"a":2,"m":3}"#).unwrap();
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(m.get("a"), Some(&2));
    }

    #[test]
    fn whole_seconds_serialise_as_integers() {
        assert_eq!(seconds(900.0).to_string(), "900");
        assert_eq!(seconds(0.5).to_string(), "0.5");
    }

    #[test]
    fn refuses_a_repeated_key() {
        let e = serde_json::from_str::<UniqueMap<u32>>(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
    }
}
