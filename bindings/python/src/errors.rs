//! Core errors as the `mcpguard` exception hierarchy.
//!
//! The exception classes are plain Python (`mcpguard/_errors.py`) so they
//! can be subclassed, pickled and type-checked like any other; this module
//! only fills their attributes from the core's error values.

use mcpguard::Reason;
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

pub fn obj<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, value: T) -> Py<PyAny> {
    value.into_py_any(py).unwrap_or_else(|_| py.None())
}

/// The attributes every refusal carries.
pub fn refusal_attrs(
    py: Python<'_>,
    reason: Reason,
    www_authenticate: Option<String>,
) -> Vec<(&'static str, Py<PyAny>)> {
    vec![
        ("reason", obj(py, reason.code())),
        ("status", obj(py, reason.status())),
        ("error", obj(py, reason.oauth_error().as_str())),
        ("www_authenticate", obj(py, www_authenticate)),
    ]
}

/// A refused token: `InsufficientScope` for a missing required scope, else
/// `InvalidToken`. `metadata_url` goes into the challenge when known.
pub fn token_error(py: Python<'_>, e: &TokenError, metadata_url: Option<&str>) -> PyErr {
    let class = if e.reason == Reason::InsufficientScope {
        "InsufficientScope"
    } else {
        "InvalidToken"
    };
    let mut attrs = refusal_attrs(py, e.reason, e.www_authenticate(metadata_url));
    attrs.push(("description", obj(py, e.description.as_ref())));
    attrs.push(("refresh_jwks", obj(py, e.refresh_jwks.as_deref())));
    attrs.push(("scope", obj(py, e.scope.as_deref())));
    raise(py, class, &e.description, &attrs)
}

/// A refusal with a reason but no token error behind it (filters, scope
/// lists): `InvalidRequest` for the 400 reasons.
pub fn request_error(
    py: Python<'_>,
    reason: Reason,
    message: &str,
    errors: Option<Vec<String>>,
) -> PyErr {
    let mut attrs = refusal_attrs(py, reason, None);
    attrs.push(("description", obj(py, message)));
    if let Some(errors) = errors {
        attrs.push(("errors", obj(py, errors)));
    }
    raise(py, "InvalidRequest", message, &attrs)
}

/// A refused configuration: `ConfigError` with the JSON path.
pub fn config_error(py: Python<'_>, e: &mcpguard::ConfigError) -> PyErr {
    raise(
        py,
        "ConfigError",
        &e.to_string(),
        &[
            ("path", obj(py, e.path.as_str())),
            ("description", obj(py, e.message.as_str())),
        ],
    )
}

/// Refused key material: `ConfigError`, its path inside the JWK Set.
pub fn key_error(py: Python<'_>, e: &KeyError) -> PyErr {
    raise(
        py,
        "ConfigError",
        &e.to_string(),
        &[
            ("path", obj(py, e.path())),
            ("description", obj(py, e.to_string())),
        ],
    )
}

/// A refused revocation: `InvalidToken` for a token that names nothing,
/// `GuardError` when the revocation list is full.
pub fn revoke_error(py: Python<'_>, e: &RevokeError, metadata_url: Option<&str>) -> PyErr {
    match e {
        RevokeError::InvalidToken(t) => token_error(py, t, metadata_url),
        RevokeError::Full(full) => raise(
            py,
            "GuardError",
            &full.to_string(),
            &[("description", obj(py, full.to_string()))],
        ),
        RevokeError::StoreUnavailable(_) => raise(
            py,
            "GuardError",
            &e.to_string(),
            &[("description", obj(py, e.to_string()))],
        ),
    }
}

/// A refused opaque-token insert: `OpaqueTokenRejected` (also a
/// `ValueError`) when the token or entry is at fault, `OpaqueStoreError` when
/// the store is full or disabled; `code` is the core's code either way.
pub fn opaque_error(py: Python<'_>, e: &OpaqueError) -> PyErr {
    let class = match e {
        OpaqueError::InvalidToken | OpaqueError::Expired => "OpaqueTokenRejected",
        OpaqueError::Full { .. } | OpaqueError::Disabled | OpaqueError::StoreUnavailable => {
            "OpaqueStoreError"
        }
    };
    let capacity = match e {
        OpaqueError::Full { capacity } => Some(*capacity),
        _ => None,
    };
    raise(
        py,
        class,
        &e.to_string(),
        &[
            ("code", obj(py, e.code())),
            ("capacity", obj(py, capacity)),
            ("description", obj(py, e.to_string())),
        ],
    )
}

/// A refused opaque-token entry (a mapping or JSON text): `ConfigError`
/// with the path of the member at fault (`scopes[1]`).
pub fn entry_error(py: Python<'_>, e: &mcpguard::ConfigError) -> PyErr {
    // As the core renders a ConfigError: "" and "." are the entry itself.
    let message = if e.path.is_empty() || e.path == "." {
        format!("invalid opaque-token entry: {}", e.message)
    } else {
        format!("invalid opaque-token entry at {}: {}", e.path, e.message)
    };
    raise(
        py,
        "ConfigError",
        &message,
        &[
            ("path", obj(py, e.path.as_str())),
            ("description", obj(py, e.message.as_str())),
        ],
    )
}
