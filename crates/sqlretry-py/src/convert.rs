//! Python values to SQLite values and back: int, float, str, bytes (and bytearray, memoryview),
//! None; bool binds as an integer, as in `sqlite3`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple};
use rusqlite::Statement;
use rusqlite::types::Value;

use crate::errors;

/// A statement's parameters, converted while the GIL is held so that the statement can run
/// without it.
pub(crate) enum Params {
    /// `?` / `?NNN` placeholders, in order.
    Positional(Vec<Value>),
    /// `:name` / `@name` / `$name` placeholders, from a dict.
    Named(Vec<(String, Value)>),
}

impl Params {
    /// Reads `params` (None, a sequence or a dict).
    pub(crate) fn from_py(params: Option<&Bound<'_, PyAny>>) -> PyResult<Params> {
        let Some(params) = params else { return Ok(Params::Positional(Vec::new())) };
        if params.is_none() {
            return Ok(Params::Positional(Vec::new()));
        }
        if let Ok(dict) = params.cast::<PyDict>() {
            let mut named = Vec::with_capacity(dict.len());
            for (key, value) in dict.iter() {
                let key: String = key.extract()?;
                named.push((key, to_value(&value, named.len())?));
            }
            return Ok(Params::Named(named));
        }
        if params.is_instance_of::<PyString>() || params.is_instance_of::<PyBytes>() {
            return Err(errors::programming_error(
                params.py(),
                "parameters must be a sequence or a dict, not a str or bytes",
            ));
        }
        let mut values = Vec::new();
        for (index, item) in params.try_iter()?.enumerate() {
            values.push(to_value(&item?, index)?);
        }
        Ok(Params::Positional(values))
    }

    /// Binds the parameters to `stmt`.
    pub(crate) fn bind(&self, stmt: &mut Statement<'_>) -> rusqlite::Result<()> {
        let expected = stmt.parameter_count();
        match self {
            Params::Positional(values) => {
                if values.len() != expected {
                    return Err(rusqlite::Error::InvalidParameterCount(values.len(), expected));
                }
                for (index, value) in values.iter().enumerate() {
                    stmt.raw_bind_parameter(index + 1, value)?;
                }
            }
            Params::Named(values) => {
                for index in 1..=expected {
                    let name = stmt.parameter_name(index).map(str::to_owned);
                    let Some(name) = name else {
                        return Err(rusqlite::Error::InvalidParameterName(format!(
                            "parameter {index} is positional (?) but the parameters are a dict"
                        )));
                    };
                    let key = &name[1..];
                    let value = values.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                    let Some(value) = value else {
                        return Err(rusqlite::Error::InvalidParameterName(format!(
                            "no value for the parameter {name}"
                        )));
                    };
                    stmt.raw_bind_parameter(index, value)?;
                }
            }
        }
        Ok(())
    }
}

/// One Python value as an SQLite value.
pub(crate) fn to_value(value: &Bound<'_, PyAny>, index: usize) -> PyResult<Value> {
    if value.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = value.cast::<PyBool>() {
        Ok(Value::Integer(i64::from(b.is_true())))
    } else if value.is_instance_of::<PyInt>() {
        Ok(Value::Integer(value.extract::<i64>()?))
    } else if let Ok(f) = value.cast::<PyFloat>() {
        Ok(Value::Real(f.value()))
    } else if let Ok(s) = value.cast::<PyString>() {
        Ok(Value::Text(s.extract::<String>()?))
    } else if let Ok(b) = value.cast::<PyBytes>() {
        Ok(Value::Blob(b.as_bytes().to_vec()))
    } else if let Ok(b) = value.cast::<PyByteArray>() {
        Ok(Value::Blob(b.to_vec()))
    } else if value.get_type().name()? == "memoryview" {
        let bytes = value.py().get_type::<PyBytes>().call1((value,))?;
        Ok(Value::Blob(bytes.cast::<PyBytes>()?.as_bytes().to_vec()))
    } else {
        let type_name = value.get_type().name()?.to_string();
        Err(errors::programming_error(
            value.py(),
            &format!("Error binding parameter {}: type '{type_name}' is not supported", index + 1),
        ))
    }
}

/// One SQLite value as a Python value.
pub(crate) fn from_value(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Integer(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::Real(f) => f.into_pyobject(py)?.into_any().unbind(),
        Value::Text(s) => PyString::new(py, &s).into_any().unbind(),
        Value::Blob(b) => PyBytes::new(py, &b).into_any().unbind(),
    })
}

/// One row as a tuple.
pub(crate) fn row(py: Python<'_>, values: Vec<Value>) -> PyResult<Py<PyAny>> {
    let items = values.into_iter().map(|v| from_value(py, v)).collect::<PyResult<Vec<_>>>()?;
    Ok(PyTuple::new(py, items)?.into_any().unbind())
}
