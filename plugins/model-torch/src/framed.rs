//! Snapshots framed as magic, format version, a JSON header and a raw payload (`text.classify`,
//! `match.mlp`, `rec.sasrec`), a network's weights as that payload, and those tasks' JSON params.
//!
//! Layout: the task's 4-byte magic, the format version (`u32` LE), the header's length (`u32` LE),
//! the header as JSON, then the payload (the task's tensors).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{nn, Tensor};

/// `task`'s params from a JSON object (blank bytes: every default; an unknown key is refused when
/// `P` denies unknown fields). Range checks are the caller's.
///
/// # Errors
/// Malformed JSON or a key `P` refuses, prefixed with the task.
pub fn json_params<P: Default + DeserializeOwned>(bytes: &[u8], task: &str) -> Result<P, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(P::default());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("bad {task} params: {e}"))
}

/// A stored weight's name and shape, as a header lists them.
pub type WeightShape = (String, Vec<i64>);

/// Every variable of `vs` by name: their names and shapes (for the header) and their values as
/// little-endian `f32`s in that order (the payload).
///
/// # Errors
/// When libtorch cannot read a weight.
pub fn weights(vs: &nn::VarStore) -> Result<(Vec<WeightShape>, Vec<u8>), String> {
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    encode_tensors(&variables)
}

/// Named tensors' names and shapes, and their values as little-endian `f32`s in that order.
///
/// # Errors
/// When libtorch cannot read a tensor.
pub fn encode_tensors(tensors: &[(String, Tensor)]) -> Result<(Vec<WeightShape>, Vec<u8>), String> {
    let mut payload = Vec::new();
    for (name, tensor) in tensors {
        let values = Vec::<f32>::try_from(tensor.detach().to_device(tch::Device::Cpu).contiguous().view([-1]))
            .map_err(|e| format!("weight {name}: {e}"))?;
        payload.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok((tensors.iter().map(|(name, tensor)| (name.clone(), tensor.size())).collect(), payload))
}

/// The tensors [`encode_tensors`] wrote (`shapes` from the header, `payload` after it), by name.
///
/// # Errors
/// A truncated payload or trailing bytes (naming `task`).
pub fn decode_tensors(shapes: &[WeightShape], mut payload: &[u8], task: &str) -> Result<BTreeMap<String, Tensor>, String> {
    let mut tensors = BTreeMap::new();
    for (name, shape) in shapes {
        let count = shape.iter().product::<i64>() as usize;
        let bytes = payload.get(..count * 4).ok_or(format!("{task} snapshot is truncated (at {name})"))?;
        payload = &payload[count * 4..];
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        tensors.insert(name.clone(), Tensor::from_slice(&values).view(shape.as_slice()));
    }
    if !payload.is_empty() {
        return Err(format!("{} trailing bytes after the {task} snapshot", payload.len()));
    }
    Ok(tensors)
}

/// Copies `values` into the variables of `vs` of the same names, which must be exactly the
/// variables `vs` has, in the same shapes.
///
/// # Errors
/// A weight the network lacks or has in another shape, or one it has and `values` lack.
pub fn copy_into(vs: &mut nn::VarStore, values: &BTreeMap<String, Tensor>) -> Result<(), String> {
    let mut variables = vs.variables();
    if variables.len() != values.len() {
        return Err(format!("snapshot has {} weight tensors, the network {}", values.len(), variables.len()));
    }
    for (name, value) in values {
        let variable = variables.get_mut(name).ok_or(format!("snapshot has weight {name}, which the network lacks"))?;
        if variable.size() != value.size() {
            return Err(format!("snapshot weight {name} has shape {:?}, the network {:?}", value.size(), variable.size()));
        }
        tch::no_grad(|| variable.copy_(&value.to_device(variable.device())));
    }
    Ok(())
}

/// Copies the weights [`weights`] stored (`shapes` from the header, `payload` after it) into the
/// variables of `vs`, then freezes it.
///
/// # Errors
/// As [`decode_tensors`] and [`copy_into`].
pub fn load_weights(vs: &mut nn::VarStore, shapes: &[WeightShape], payload: &[u8], task: &str) -> Result<(), String> {
    copy_into(vs, &decode_tensors(shapes, payload, task)?)?;
    vs.freeze();
    Ok(())
}

/// A task's frame: its name (for messages), magic and format version.
pub struct Frame {
    pub task: &'static str,
    pub magic: &'static [u8; 4],
    pub version: u32,
}

impl Frame {
    /// The snapshot of `header` and `payload`.
    pub fn encode<H: Serialize>(&self, header: &H, payload: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(header).expect("snapshot header serialises");
        let mut out = self.magic.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&u32::try_from(json.len()).expect("header under 4 GiB").to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(payload);
        out
    }

    /// Refuses a header that names another task than this frame's.
    ///
    /// # Errors
    /// Naming both tasks.
    pub fn check_task(&self, task: &str) -> Result<(), String> {
        if task == self.task {
            Ok(())
        } else {
            Err(format!("snapshot is for task {task:?}, not {:?}", self.task))
        }
    }

    /// The header and payload of a snapshot.
    ///
    /// # Errors
    /// Another task's (or no) magic, another format version, a truncated or malformed header.
    pub fn decode<'a, H: DeserializeOwned>(&self, bytes: &'a [u8]) -> Result<(H, &'a [u8]), String> {
        let task = self.task;
        if bytes.len() < 12 || &bytes[..4] != self.magic {
            return Err(format!("not a {task} snapshot (bad magic)"));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        if version != self.version {
            return Err(format!("{task} snapshot format {version}, this plugin reads {}", self.version));
        }
        let length = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let json = bytes.get(12..12 + length).ok_or(format!("{task} snapshot is truncated"))?;
        let header = serde_json::from_slice(json).map_err(|e| format!("malformed {task} snapshot: {e}"))?;
        Ok((header, &bytes[12 + length..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Frame = Frame { task: "test.task", magic: b"AGTT", version: 2 };

    #[test]
    fn a_frame_round_trips_and_refuses_other_snapshots() {
        let bytes = FRAME.encode(&serde_json::json!({"a": 1}), &[7, 8]);
        let (header, payload): (serde_json::Value, &[u8]) = FRAME.decode(&bytes).unwrap();
        assert_eq!((header["a"].as_i64(), payload), (Some(1), &[7u8, 8][..]));
        assert!(FRAME.decode::<serde_json::Value>(b"AGTX\x02\0\0\0\0\0\0\0").unwrap_err().contains("bad magic"));
        let old = Frame { version: 1, ..FRAME }.encode(&serde_json::json!({}), &[]);
        assert!(FRAME.decode::<serde_json::Value>(&old).unwrap_err().contains("format 1, this plugin reads 2"));
        assert!(FRAME.decode::<serde_json::Value>(&bytes[..14]).unwrap_err().contains("truncated"));
        assert!(FRAME.check_task("test.task").is_ok());
        assert_eq!(FRAME.check_task("other").unwrap_err(), "snapshot is for task \"other\", not \"test.task\"");
    }
}
