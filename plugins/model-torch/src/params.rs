//! The `forecast.nbeats` params: a JSON object whose keys all have defaults (`{}` or empty bytes
//! gets them all); an unknown key is refused with its name. The defaults were chosen on M4 Weekly's
//! pseudo-test (the last 13 training weeks held out), never on its test set: `history` 20 beat 10
//! and 40, `lookback` 5 beat 3 and 8.

use serde::{Deserialize, Serialize};

/// Training settings of `forecast.nbeats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Passes over the training windows.
    pub epochs: u32,
    /// The input window in horizons: lookback = ceil(lookback × horizon) values.
    pub lookback: f64,
    /// Training windows end within the last `history` × horizon values of each series (0: anywhere).
    pub history: f64,
    /// Units in each hidden layer.
    pub width: u32,
    /// Hidden layers per block.
    pub layers: u32,
    /// Blocks (each with its backcast and forecast heads).
    pub blocks: u32,
    /// Adam's initial learning rate, decayed by a cosine to 5% of it by the last step.
    pub learning_rate: f64,
    /// Windows per optimisation step.
    pub batch_size: u32,
    /// Seeds the weights and the window order.
    pub seed: u64,
    /// libtorch CPU threads while fitting. On a machine whose cores are busy with other work, 1
    /// can be much faster than 2: libtorch's OpenMP workers spin-wait at every operation.
    pub threads: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            epochs: 20,
            lookback: 5.0,
            history: 20.0,
            width: 256,
            layers: 2,
            blocks: 3,
            learning_rate: 1e-3,
            batch_size: 512,
            seed: 42,
            threads: 2,
        }
    }
}

impl Params {
    /// Parses and checks params JSON (empty bytes: the defaults).
    ///
    /// # Errors
    /// The unknown key, the malformed JSON or the value out of range.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let params: Params = if bytes.iter().all(u8::is_ascii_whitespace) {
            Params::default()
        } else {
            let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("forecast.nbeats params: {e}"))?;
            if !value.is_object() {
                return Err("forecast.nbeats params must be a JSON object".to_string());
            }
            serde_json::from_value(value).map_err(|e| format!("forecast.nbeats params: {e}"))?
        };
        params.check()?;
        Ok(params)
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("epochs", self.epochs),
            ("width", self.width),
            ("layers", self.layers),
            ("blocks", self.blocks),
            ("batch_size", self.batch_size),
            ("threads", self.threads),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("forecast.nbeats params: {name} must be at least 1"));
        }
        if !(self.lookback.is_finite() && self.lookback > 0.0 && self.lookback <= 100.0) {
            return Err(format!("forecast.nbeats params: lookback {} must be in (0, 100] horizons", self.lookback));
        }
        if !(self.history.is_finite() && self.history >= 0.0) {
            return Err(format!("forecast.nbeats params: history {} must be at least 0", self.history));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!("forecast.nbeats params: learning_rate {} must be positive", self.learning_rate));
        }
        if self.width > 8192 || self.layers > 16 || self.blocks > 64 || self.threads > 256 {
            return Err("forecast.nbeats params: width ≤ 8192, layers ≤ 16, blocks ≤ 64 and threads ≤ 256".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_params_get_the_defaults_and_keys_are_checked() {
        assert_eq!(Params::parse(b"").unwrap(), Params::default());
        assert_eq!(Params::parse(b"{}").unwrap(), Params::default());
        assert_eq!(Params::parse(br#"{"epochs":3,"seed":7}"#).unwrap().epochs, 3);
        let error = Params::parse(br#"{"epochs":3,"hiden":64}"#).unwrap_err();
        assert!(error.contains("unknown field `hiden`"), "{error}");
        assert!(Params::parse(br#"{"blocks":0}"#).unwrap_err().contains("blocks must be at least 1"));
        assert!(Params::parse(br#"{"lookback":-1}"#).unwrap_err().contains("lookback"));
        assert!(Params::parse(b"[1]").is_err());
    }
}
