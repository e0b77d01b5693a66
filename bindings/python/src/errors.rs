//! Core errors as the `mcpguard` exception hierarchy.
//!
//! The exception classes are plain Python (`mcpguard/_errors.py`) so they
//! can be subclassed, pickled and type-checked like any other. Every error
//! is classified by the core ([`mcpguard::classify`]): its family picks the
//! class (one [`ErrorKind`] → one class, in [`class_of`]) and its code,
//! status, reason, message and challenge fill the attributes. Nothing here
//! decides a class, a code or a status of its own.

use mcpguard::classify::{Classify, ErrorInfo, ErrorKind};
use mcpguard::guard::RequestError;
use mcpguard::token::opaque::OpaqueError;
use mcpguard::token::{KeyError, RevokeError, TokenError};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// Builds `mcpguard._errors.<class>(message, **attributes)` as a `PyErr`.
pub fn raise(py: Python<'_>, class: &str, message: &str, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    static MODULE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let build = || -> PyResult<PyErr> {
        let module = MODULE.get_or_try_init(py, || {
            py.import("mcpguard._errors").map(|m| m.into_any().unbind())
        })?;
        let cls = module.bind(py).getattr(class)?.cast_into::<PyType>()?;
        let kwargs = PyDict::new(py);
        for (k, v) in attrs {
            kwargs.set_item(k, v)?;
        }
        let instance = cls.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

/// A Rust value as a Python object (`None` if it cannot be converted).
pub fn obj<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, value: T) -> Py<PyAny> {
    value.into_py_any(py).unwrap_or_else(|_| py.None())
}

/// The exception class of an error family: the one mapping every binding
/// keeps 1:1 with the core's [`ErrorKind`].
pub const fn class_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "ConfigError",
        ErrorKind::InvalidToken => "InvalidToken",
        ErrorKind::InsufficientScope => "InsufficientScope",
        ErrorKind::InvalidRequest => "InvalidRequest",
        ErrorKind::OpaqueToken => "OpaqueTokenRejected",
        ErrorKind::OpaqueStore => "OpaqueStoreError",
        ErrorKind::RateLimited => "RateLimited",
        ErrorKind::Guard => "GuardError",
    }
}

/// A classified error as its exception: the class of its kind, with
/// `code`, `status`, `reason`, `error` (the OAuth error of a refusal),
/// `description`, `www_authenticate` and (for configuration errors) `path`,
/// plus `extra` attributes only some classes carry (`refresh_jwks`,
/// `scope`, `capacity`, `errors`).
pub fn classified(py: Python<'_>, info: &ErrorInfo, extra: Vec<(&str, Py<PyAny>)>) -> PyErr {
    let mut attrs = vec![
        ("code", obj(py, info.code)),
        ("status", obj(py, info.status)),
        ("description", obj(py, info.message.as_str())),
    ];
    if let Some(path) = &info.path {
        attrs.push(("path", obj(py, path.as_str())));
    }
    if let Some(reason) = info.reason {
        // A refusal: its code is the OAuth error a response carries.
        attrs.push(("reason", obj(py, reason.code())));
        attrs.push(("error", obj(py, info.code)));
        attrs.push((
            "www_authenticate",
            obj(py, info.www_authenticate.as_deref()),
        ));
    }
    attrs.extend(extra);
    raise(py, class_of(info.kind), &info.message, &attrs)
}

/// A refused token: `InsufficientScope` for a missing required scope, else
/// `InvalidToken`. `metadata_url` goes into the challenge when known.
pub fn token_error(py: Python<'_>, e: &TokenError, metadata_url: Option<&str>) -> PyErr {
    let extra = vec![
        ("refresh_jwks", obj(py, e.refresh_jwks.as_deref())),
        ("scope", obj(py, e.scope.as_deref())),
    ];
    classified(py, &e.classify(metadata_url), extra)
}

/// A refused request argument (a tag filter, a scope list): `InvalidRequest`,
/// with `errors` listing every problem when there are several.
pub fn request_error(py: Python<'_>, info: &ErrorInfo, errors: Option<Vec<String>>) -> PyErr {
    let extra = errors.map(|e| ("errors", obj(py, e))).into_iter().collect();
    classified(py, info, extra)
}

/// A request the core's request reader refused, as `InvalidRequest`.
pub fn invalid_request(py: Python<'_>, message: String, errors: Option<Vec<String>>) -> PyErr {
    request_error(py, &RequestError(message).classify(None), errors)
}

/// A refused configuration: `ConfigError` with the JSON path.
pub fn config_error(py: Python<'_>, e: &mcpguard::ConfigError) -> PyErr {
    let info = e.classify(None);
    // The description is the message without the path prefix.
    let extra = vec![("description", obj(py, e.message.as_str()))];
    classified(py, &info, extra)
}

/// Refused key material: `ConfigError`, its path inside the JWK Set.
pub fn key_error(py: Python<'_>, e: &KeyError) -> PyErr {
    classified(py, &e.classify(None), Vec::new())
}

/// A refused revocation: `InvalidToken` for a token that names nothing,
/// `GuardError` (status 503) when the revocation list is full.
pub fn revoke_error(py: Python<'_>, e: &RevokeError, metadata_url: Option<&str>) -> PyErr {
    match e {
        RevokeError::InvalidToken(t) => token_error(py, t, metadata_url),
        other => classified(py, &other.classify(metadata_url), Vec::new()),
    }
}

/// A refused opaque-token insert: `OpaqueTokenRejected` (also a
/// `ValueError`) when the token or entry is at fault, `OpaqueStoreError` when
/// the store is full (503) or disabled; `code` is the core's code either way.
pub fn opaque_error(py: Python<'_>, e: &OpaqueError) -> PyErr {
    let capacity = match e {
        OpaqueError::Full { capacity } => Some(*capacity),
        _ => None,
    };
    classified(py, &e.classify(None), vec![("capacity", obj(py, capacity))])
}

/// A refused opaque-token entry (a mapping or JSON text): `ConfigError`
/// with the path of the member at fault (`scopes[1]`).
pub fn entry_error(py: Python<'_>, e: &mcpguard::ConfigError) -> PyErr {
    let mut info = e.classify(None);
    // As the core renders a ConfigError, naming the entry: "" and "." are
    // the entry itself.
    info.message = if e.path.is_empty() || e.path == "." {
        format!("invalid opaque-token entry: {}", e.message)
    } else {
        format!("invalid opaque-token entry at {}: {}", e.path, e.message)
    };
    classified(
        py,
        &info,
        vec![("description", obj(py, e.message.as_str()))],
    )
}
