//! Configuration errors that name the JSON path of the offending value.

use std::fmt;

/// A configuration was refused. `path` is the JSON path of the offending
/// value (`auth.issuers[0].audiences`, `rate_limit.limit`), empty for the
/// document itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// JSON path of the offending value, e.g. `rate_limit.rules[1].limit`.
    pub path: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// The same error seen from an enclosing document: `prefix` is put in
    /// front of the path (`"auth"` turns `issuers[0]` into `auth.issuers[0]`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }

    fn render(&self) -> String {
        if self.path.is_empty() || self.path == "." {
            format!("invalid configuration: {}", self.message)
        } else {
            format!("invalid configuration at {}: {}", self.path, self.message)
        }
    }
}

/// Joins a JSON path prefix and a relative path (`a` + `b[0]` = `a.b[0]`,
/// `a` + `[0]` = `a[0]`).
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty() || rest == ".") {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

/// Deserializes `T` from a JSON value, turning serde's error into a
/// [`ConfigError`] that names the path of the failure.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::new(path, e.into_inner())
    })
}

/// Deserializes `T` from JSON text, naming the path of a failure (and the
/// line and column when the text itself does not parse).
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::new(path, e.into_inner())
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        limit: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        rules: Vec<Inner>,
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = from_str::<Outer>(r#"{"rules":[{"limit":1},{"limit":-1}]}"#).unwrap_err();
        assert_eq!(e.path, "rules[1].limit");
        let e = from_str::<Outer>(r#"{"rules":[{"limti":1}]}"#).unwrap_err();
        assert_eq!(e.path, "rules[0].limti");
        assert!(e.to_string().contains("unknown field `limti`"), "{e}");
    }

    #[test]
    fn paths_compose_from_the_enclosing_document() {
        let e = ConfigError::new("issuers[0]", "x").within("auth");
        assert_eq!(e.path, "auth.issuers[0]");
        assert_eq!(join_path("servers", "[2]"), "servers[2]");
        assert_eq!(join_path("", "a"), "a");
        assert_eq!(
            ConfigError::new("", "empty").to_string(),
            "invalid configuration: empty"
        );
    }
}
