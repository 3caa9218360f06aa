//! The binary encoding of the time series handed to `fit` for `forecast.*` tasks.

use crate::model::{check_offsets, Reader};

/// The encoding of [`SeriesSet`].
pub const SERIES_ENCODING: &str = "agora-series/1";

const SERIES_MAGIC: &[u8; 4] = b"AGSR";
const SERIES_VERSION: u32 = 1;

/// Equally spaced series (oldest value first) with their season length and forecast horizon.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSet {
    /// Values per season (7 for daily data with a weekly cycle, 52 for weekly data, 1 for none).
    pub season_length: u32,
    /// How many steps ahead the model will be asked to forecast.
    pub horizon: u32,
    /// Series `s` is `values[offsets[s]..offsets[s + 1]]`; one entry per series plus one.
    pub offsets: Vec<u64>,
    /// Every series' values, one after the other.
    pub values: Vec<f64>,
}

impl SeriesSet {
    /// A set of the given series.
    pub fn new(season_length: u32, horizon: u32, series: &[Vec<f64>]) -> Self {
        let mut offsets = Vec::with_capacity(series.len() + 1);
        offsets.push(0);
        let mut values = Vec::with_capacity(series.iter().map(Vec::len).sum());
        for one in series {
            values.extend_from_slice(one);
            offsets.push(values.len() as u64);
        }
        Self { season_length, horizon, offsets, values }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Series `index`'s values, oldest first.
    pub fn series(&self, index: usize) -> &[f64] {
        &self.values[self.offsets[index] as usize..self.offsets[index + 1] as usize]
    }

    /// Every series, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[f64]> {
        (0..self.len()).map(|index| self.series(index))
    }

    /// Encodes as [`SERIES_ENCODING`]: magic `AGSR`, version, `season_length`, `horizon` (u32), the
    /// two array lengths (u64), then `offsets` (u64) and `values` (f64), all little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.offsets.len() * 8 + self.values.len() * 8);
        out.extend_from_slice(SERIES_MAGIC);
        for value in [SERIES_VERSION, self.season_length, self.horizon] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for len in [self.offsets.len(), self.values.len()] {
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.offsets.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        self.values.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        out
    }

    /// Decodes and checks [`SERIES_ENCODING`].
    ///
    /// # Errors
    /// A message saying which part is malformed: bad magic or version, truncation, offsets that
    /// do not cover the values, a zero season length or horizon, a non-finite value.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != SERIES_MAGIC {
            return Err(format!("not {SERIES_ENCODING} data (bad magic)"));
        }
        let version = reader.u32()?;
        if version != SERIES_VERSION {
            return Err(format!("series encoding version {version}, this plugin reads {SERIES_VERSION}"));
        }
        let (season_length, horizon) = (reader.u32()?, reader.u32()?);
        let lens = [reader.len()?, reader.len()?];
        let offsets = reader.array(lens[0], |b| u64::from_le_bytes(b.try_into().unwrap()))?;
        let values = reader.array(lens[1], |b| f64::from_le_bytes(b.try_into().unwrap()))?;
        if reader.at != bytes.len() {
            return Err(format!("{} trailing bytes after the series", bytes.len() - reader.at));
        }
        let set = Self { season_length, horizon, offsets, values };
        set.validate()?;
        Ok(set)
    }

    /// Checks the offsets, that the season length and horizon are at least 1 and every value is finite.
    ///
    /// # Errors
    /// A message naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.offsets.is_empty() {
            return Err("offsets needs at least one entry".to_string());
        }
        check_offsets("offsets", &self.offsets, self.values.len())?;
        if self.season_length == 0 || self.horizon == 0 {
            return Err(format!("season_length {} and horizon {} must both be at least 1", self.season_length, self.horizon));
        }
        if let Some(at) = self.values.iter().position(|value| !value.is_finite()) {
            return Err(format!("value {at} is not finite ({})", self.values[at]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_round_trip_and_are_sliced_back() {
        let set = SeriesSet::new(7, 3, &[vec![1.0, 2.5], vec![], vec![0.0, -1.0, 4.0]]);
        let decoded = SeriesSet::decode(&set.encode()).unwrap();
        assert_eq!(decoded, set);
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded.series(2), &[0.0, -1.0, 4.0]);
        assert_eq!(decoded.iter().map(<[f64]>::len).collect::<Vec<_>>(), [2, 0, 3]);
    }

    #[test]
    fn malformed_series_are_refused_with_the_reason() {
        let bytes = SeriesSet::new(7, 3, &[vec![1.0]]).encode();
        assert!(SeriesSet::decode(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
        assert!(SeriesSet::decode(b"AGIX").unwrap_err().contains("bad magic"));
        assert!(SeriesSet::decode(&SeriesSet::new(0, 3, &[]).encode()).unwrap_err().contains("season_length 0"));
        assert!(SeriesSet::decode(&SeriesSet::new(1, 1, &[vec![f64::NAN]]).encode()).unwrap_err().contains("value 0 is not finite"));
    }
}
