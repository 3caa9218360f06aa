//! Reading `fit` params: a JSON object whose keys each task checks, every param with a default.

use serde_json::{Map, Value};

/// The params object handed to `fit`.
#[derive(Debug)]
pub(crate) struct Params {
    values: Map<String, Value>,
}

/// What a numeric param must satisfy.
#[derive(Clone, Copy)]
pub(crate) enum Rule {
    /// Greater than zero.
    Positive,
    /// Zero or more.
    NonNegative,
    /// Between 0 and 1, both included.
    Fraction,
}

impl Rule {
    fn holds(self, value: f64) -> bool {
        match self {
            Rule::Positive => value > 0.0,
            Rule::NonNegative => value >= 0.0,
            Rule::Fraction => (0.0..=1.0).contains(&value),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Rule::Positive => "a number > 0",
            Rule::NonNegative => "a number >= 0",
            Rule::Fraction => "a number from 0 to 1",
        }
    }
}

impl Params {
    /// Parses the params bytes; empty bytes mean `{}`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Params, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params { values: Map::new() });
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(values)) => Ok(Params { values }),
            Ok(_) => Err("params must be a JSON object".to_string()),
            Err(error) => Err(format!("params are not valid JSON: {error}")),
        }
    }

    /// Refuses any key `task` does not know, naming it.
    pub(crate) fn only(&self, task: &str, known: &[&str]) -> Result<(), String> {
        match self.values.keys().find(|key| !known.contains(&key.as_str())) {
            Some(key) if known.is_empty() => Err(format!("unknown param `{key}` ({task} takes no params)")),
            Some(key) => Err(format!("unknown param `{key}` for {task} (known: {})", known.join(", "))),
            None => Ok(()),
        }
    }

    /// A number, `default` when absent.
    pub(crate) fn number(&self, key: &str, default: f64, rule: Rule) -> Result<f64, String> {
        Ok(self.optional_number(key, rule)?.unwrap_or(default))
    }

    /// A number, `None` when absent or `null`.
    pub(crate) fn optional_number(&self, key: &str, rule: Rule) -> Result<Option<f64>, String> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => match value.as_f64() {
                Some(number) if number.is_finite() && rule.holds(number) => Ok(Some(number)),
                _ => Err(format!("param `{key}` must be {}, got {value}", rule.describe())),
            },
        }
    }

    /// A whole number of at least `min`, `default` when absent.
    pub(crate) fn count(&self, key: &str, default: u64, min: u64) -> Result<u64, String> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => match value.as_u64() {
                Some(number) if number >= min => Ok(number),
                _ => Err(format!("param `{key}` must be a whole number >= {min}, got {value}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read_with_defaults_and_checked() {
        let params = Params::parse(br#"{"lambda": 20, "k": 5, "off": null}"#).unwrap();
        assert_eq!(params.number("lambda", 1.0, Rule::Positive).unwrap(), 20.0);
        assert_eq!(params.number("missing", 1.5, Rule::Positive).unwrap(), 1.5);
        assert_eq!(params.optional_number("off", Rule::Positive).unwrap(), None);
        assert_eq!(params.count("k", 1, 1).unwrap(), 5);
        assert!(params.count("lambda", 1, 50).unwrap_err().contains("`lambda` must be a whole number >= 50, got 20"));
        assert!(params.number("k", 1.0, Rule::Fraction).unwrap_err().contains("`k` must be a number from 0 to 1, got 5"));
        assert!(params.only("rec.x", &["lambda", "k"]).unwrap_err().contains("unknown param `off` for rec.x"));
        assert!(Params::parse(b"  ").unwrap().only("rec.x", &[]).is_ok());
        assert!(Params::parse(b"[1]").unwrap_err().contains("must be a JSON object"));
        assert!(Params::parse(b"{").unwrap_err().contains("not valid JSON"));
    }
}
