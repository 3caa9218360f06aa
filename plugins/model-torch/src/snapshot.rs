//! Snapshot bytes: magic `AGTM`, format version, task name, season length, the network
//! [`Shape`], the quantile levels, (from format 2) the training params as JSON text and the mean
//! training loss of each epoch as `f64`s, then every weight tensor by name (sorted) as
//! little-endian `f32`s. All integers are little-endian `u32` (`u64` for tensor lengths).
//! Format 1 snapshots (no params, no losses) still load.

use std::collections::HashMap;

use tch::Tensor;

use crate::nbeats::{Shape, QUANTILES};

const MAGIC: &[u8; 4] = b"AGTM";
const VERSION: u32 = 2;

/// What a snapshot holds besides the weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The task the snapshot was fitted for.
    pub task: String,
    /// The season length of the training data (kept for the record).
    pub season_length: u32,
    /// The network's shape.
    pub shape: Shape,
    /// The training params as JSON text (empty in a format 1 snapshot).
    pub params: String,
    /// Mean training loss (pinball, on scaled windows) of each epoch (empty in format 1).
    pub training_loss: Vec<f64>,
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    out.extend_from_slice(&u32::try_from(value).expect("fits in u32").to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// Encodes a header and the named weights.
pub fn encode(header: &Header, weights: &HashMap<String, Tensor>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION as usize);
    put_str(&mut out, &header.task);
    put_u32(&mut out, header.season_length as usize);
    let s = header.shape;
    for value in [s.lookback, s.horizon, s.width, s.layers, s.blocks] {
        put_u32(&mut out, value);
    }
    put_u32(&mut out, QUANTILES.len());
    QUANTILES.iter().for_each(|q| out.extend_from_slice(&q.to_le_bytes()));
    put_str(&mut out, &header.params);
    put_u32(&mut out, header.training_loss.len());
    header.training_loss.iter().for_each(|loss| out.extend_from_slice(&loss.to_le_bytes()));
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    put_u32(&mut out, names.len());
    for name in names {
        let values = Vec::<f32>::try_from(weights[name].detach().contiguous().view([-1])).map_err(|e| format!("weight {name}: {e}"))?;
        put_str(&mut out, name);
        out.extend_from_slice(&(values.len() as u64).to_le_bytes());
        values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(count).filter(|&end| end <= self.bytes.len()).ok_or("snapshot is truncated")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as usize)
    }

    fn u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().unwrap())).map_err(|_| "snapshot length out of range".to_string())
    }

    fn f64s(&mut self, count: usize) -> Result<Vec<f64>, String> {
        (0..count).map(|_| self.take(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()))).collect()
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "snapshot holds a name that is not UTF-8".to_string())
    }
}

/// Decodes a snapshot into its header and named weights (flat `f32`s).
pub fn decode(bytes: &[u8]) -> Result<(Header, HashMap<String, Vec<f32>>), String> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(4).ok() != Some(MAGIC.as_slice()) {
        return Err("not a model-torch snapshot (bad magic)".to_string());
    }
    let version = reader.u32()?;
    if version == 0 || version > VERSION as usize {
        return Err(format!("model-torch snapshot format {version}, this plugin reads 1 to {VERSION}"));
    }
    let task = reader.string()?;
    let season_length = reader.u32()? as u32;
    let mut dims = [0usize; 5];
    for dim in &mut dims {
        *dim = reader.u32()?;
    }
    let [lookback, horizon, width, layers, blocks] = dims;
    if dims.contains(&0) {
        return Err("snapshot has a zero network dimension".to_string());
    }
    let levels = reader.u32()?;
    let stored = reader.f64s(levels)?;
    if stored != QUANTILES {
        return Err(format!("snapshot forecasts quantiles {stored:?}, this plugin {QUANTILES:?}"));
    }
    let (params, training_loss) = if version >= 2 {
        let params = reader.string()?;
        let epochs = reader.u32()?;
        (params, reader.f64s(epochs)?)
    } else {
        (String::new(), Vec::new())
    };
    let count = reader.u32()?;
    let mut weights = HashMap::with_capacity(count);
    for _ in 0..count {
        let name = reader.string()?;
        let len = reader.u64()?;
        let raw = reader.take(len.checked_mul(4).ok_or("snapshot length out of range")?)?;
        weights.insert(name, raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect());
    }
    if reader.at != bytes.len() {
        return Err(format!("{} trailing bytes after the snapshot", bytes.len() - reader.at));
    }
    Ok((Header { task, season_length, shape: Shape { lookback, horizon, width, layers, blocks }, params, training_loss }, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            task: "forecast.nbeats".into(),
            season_length: 52,
            shape: Shape { lookback: 4, horizon: 2, width: 3, layers: 1, blocks: 1 },
            params: r#"{"epochs":2}"#.into(),
            training_loss: vec![0.5, 0.25],
        }
    }

    #[test]
    fn a_snapshot_round_trips_with_its_params_and_losses() {
        let weights = HashMap::from([("w".to_string(), Tensor::from_slice(&[1.0f32, -2.0, 3.5]))]);
        let bytes = encode(&header(), &weights).unwrap();
        let (decoded, values) = decode(&bytes).unwrap();
        assert_eq!(decoded, header());
        assert_eq!(values["w"], [1.0, -2.0, 3.5]);
        assert!(decode(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
    }

    #[test]
    fn a_format_1_snapshot_still_loads_without_params_or_losses() {
        let bytes = encode(&header(), &HashMap::new()).unwrap();
        // Format 1 is format 2 less the params string and the loss list.
        let params_at = 4 + 4 + (4 + 15) + 4 + 5 * 4 + 4 + 5 * 8;
        let params_len = 4 + header().params.len() + 4 + 2 * 8;
        let mut old = bytes[..params_at].to_vec();
        old.extend_from_slice(&bytes[params_at + params_len..]);
        old[4..8].copy_from_slice(&1u32.to_le_bytes());
        let (decoded, _) = decode(&old).unwrap();
        assert_eq!((decoded.params.as_str(), decoded.training_loss.len()), ("", 0));
        assert_eq!(decoded.shape, header().shape);
        old[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert!(decode(&old).unwrap_err().contains("format 3"));
    }
}
