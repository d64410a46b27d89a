//! Reading the JSON files of a checkpoint folder (config.json, open_clip_config.json,
//! preprocessor_config.json) field by field.
//!
//! The rule every config parser follows: a *missing* field (or `null`) takes the reference
//! implementation's default, a field that is *present* with the wrong type or an absurd value is
//! an error naming the file and the field's full path — never silently replaced.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Upper bounds on the sizes a config file may ask for, so that a hostile one cannot make the
/// model builder allocate absurd amounts before any weight is read. They are far above every
/// published CLIP (ViT-bigG: width 1664, 48 layers).
pub(crate) const MAX_WIDTH: usize = 16_384;
pub(crate) const MAX_LAYERS: usize = 256;
pub(crate) const MAX_VOCAB: usize = 1_000_000;
pub(crate) const MAX_POSITIONS: usize = 16_384;
pub(crate) const MAX_IMAGE_SIDE: usize = 4_096;

/// The top-level object of a JSON file, or an error naming `file`.
pub(crate) fn parse_object(file: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::config(file, format!("not valid JSON ({e})")))?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(Error::config(file, "must be a JSON object")),
    }
}

/// `v` as a `u32`, when it is a non-negative integer that fits.
pub(crate) fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|x| u32::try_from(x).ok())
}

/// Typed access to one JSON object, with defaults and errors that name the field
/// (`prefix` + key, e.g. `text_config.hidden_size`).
pub(crate) struct Fields<'a> {
    pub file: &'a str,
    pub map: &'a Map<String, Value>,
    pub prefix: &'a str,
}

impl<'a> Fields<'a> {
    pub fn new(file: &'a str, map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Fields { file, map, prefix }
    }

    /// The value of `key`, `None` when absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// An error for a field of the wrong type or value.
    pub fn type_error(&self, key: &str, expected: &str) -> Error {
        let found = self.map.get(key).map(|v| v.to_string()).unwrap_or_default();
        Error::config(self.file, format!("{}{key} must be {expected}, found {found}", self.prefix))
    }

    /// An error about `key` in words of the caller's.
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> Error {
        Error::config(self.file, format!("{}{key} {message}", self.prefix))
    }

    /// An integer in `1..=max`.
    pub fn usize(&self, key: &str, default: usize, max: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
                _ => Err(self.type_error(key, &format!("an integer in 1..={max}"))),
            },
        }
    }

    pub fn u32(&self, key: &str, default: u32) -> Result<u32> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_u32(v).ok_or_else(|| self.type_error(key, "a non-negative integer")),
        }
    }

    /// A finite number.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(self.type_error(key, "a number")),
            },
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.type_error(key, "true or false")),
        }
    }

    pub fn string(&self, key: &str, default: &str) -> Result<String> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(v) => v.as_str().map(str::to_string).ok_or_else(|| self.type_error(key, "a string")),
        }
    }

    /// A nested object (empty when absent).
    pub fn object(&self, key: &str) -> Result<Map<String, Value>> {
        match self.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(self.type_error(key, "an object")),
        }
    }

    /// An int `n` (square) or a list `[h, w]`, each in `1..=max`.
    pub fn pair(&self, key: &str, default: [usize; 2], max: usize) -> Result<[usize; 2]> {
        let ok = |v: &Value| v.as_u64().filter(|&n| n >= 1 && n <= max as u64).map(|n| n as usize);
        let expected = format!("an integer in 1..={max} or a pair of them");
        match self.get(key) {
            None => Ok(default),
            Some(Value::Array(a)) if a.len() == 2 => match (ok(&a[0]), ok(&a[1])) {
                (Some(h), Some(w)) => Ok([h, w]),
                _ => Err(self.type_error(key, &expected)),
            },
            Some(v) => ok(v).map(|n| [n, n]).ok_or_else(|| self.type_error(key, &expected)),
        }
    }

    /// One finite number for all three channels, or three of them.
    pub fn triple(&self, key: &str, default: [f32; 3]) -> Result<[f32; 3]> {
        // Finite after the conversion: 1e39 is a finite f64 but an infinite f32, and an infinite
        // mean or std makes every pixel non-finite.
        let finite = |v: &Value| v.as_f64().map(|x| x as f32).filter(|x| x.is_finite());
        match self.get(key) {
            None => Ok(default),
            Some(v @ Value::Number(_)) => {
                let x = finite(v).ok_or_else(|| self.type_error(key, "three numbers in f32 range"))?;
                Ok([x, x, x])
            }
            Some(Value::Array(a)) if a.len() == 3 => {
                let mut out = [0f32; 3];
                for (o, v) in out.iter_mut().zip(a) {
                    *o = finite(v).ok_or_else(|| self.type_error(key, "three numbers in f32 range"))?;
                }
                Ok(out)
            }
            Some(_) => Err(self.type_error(key, "three numbers")),
        }
    }

    /// Fails when `key` is set to anything but off (absent, null, false or 0): options that
    /// change the architecture into one webclip does not run.
    pub fn unsupported(&self, key: &str, why: &str) -> Result<()> {
        match self.map.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(()),
            Some(v) => Err(Error::config(self.file, format!("{}{key} = {v} is not supported: {why}", self.prefix))),
        }
    }
}
