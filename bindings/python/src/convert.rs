//! JSON values between the core (serde_json) and Python (dicts, lists).
//!
//! Python objects going in are serialised by Python's own `json` module (so
//! every rule of what JSON is stays in one place) and parsed by the core;
//! values coming out are built directly, since they are the core's own
//! shapes (decisions, principals, documents).

use mcpguard::token::opaque::OpaqueEntry;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyMapping, PyString};
use serde_json::Value;

use crate::errors;

/// A `serde_json` value as the matching Python object.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_bound_py_any(py)?,
            (None, Some(i)) => i.into_bound_py_any(py)?,
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?,
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// JSON text from a `str` (taken as is) or any other object Python's
/// `json.dumps` accepts (a dict, a list).
pub fn json_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.import(obj.py(), "json", "dumps")?;
    dumps
        .call1((obj,))
        .map_err(|e| {
            PyTypeError::new_err(format!(
                "expected JSON text or a JSON-serialisable object: {e}"
            ))
        })?
        .extract()
}

/// JSON text from a `str` (as is) or a mapping (through `json.dumps`), for
/// arguments that must be a JSON object; anything else is a `TypeError`
/// naming `what`, rather than JSON the core would refuse less clearly.
pub fn object_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if obj.cast::<PyString>().is_err() && obj.cast::<PyMapping>().is_err() {
        let kind = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{what} must be a mapping (dict) or JSON text, not {kind}"
        )));
    }
    json_text(obj)
}

/// The entry `insert_opaque` stores: `entry` (a mapping or JSON text, read
/// by the core so that an unknown or mistyped member is refused by path),
/// else `fields`, the entry its keyword arguments spell. Both at once is a
/// `TypeError`.
pub fn opaque_entry(
    py: Python<'_>,
    entry: Option<&Bound<'_, PyAny>>,
    fields: OpaqueEntry,
) -> PyResult<OpaqueEntry> {
    let Some(entry) = entry.filter(|e| !e.is_none()) else {
        return Ok(fields);
    };
    if fields != OpaqueEntry::default() {
        return Err(PyTypeError::new_err(
            "give the entry either as a mapping or as keyword arguments, not both",
        ));
    }
    let text = object_text(entry, "entry")?;
    OpaqueEntry::from_json(&text).map_err(|e| errors::entry_error(py, &e))
}

/// Parses JSON text with Python's `json.loads` (for claims: arbitrary JSON
/// whose nesting Python's own limits govern).
pub fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS.import(py, "json", "loads")?.call1((text,))
}
