//! The model half of the ABI: the model function table, the trait model plugins implement, and
//! the binary encodings of the data `fit` receives and the score vectors `infer` returns.
//!
//! # Lifecycle
//!
//! `fit(task, data, params, resume, progress, checkpoint)` → snapshot bytes, which the host stores
//! (in sled) as they are. A long fit may hand the host checkpoints as it goes (opaque bytes, e.g.
//! after each epoch); the host stores each durably before the callback returns. When a fit was
//! interrupted (the process killed), the host calls `fit` again with the same task, data and
//! params and the last checkpoint as `resume`, and the plugin carries on from it. A plugin that
//! writes no checkpoints ignores `resume`. `load(task, snapshot)` → a handle, `infer(handle, request)` → response bytes, any number
//! of times and from several threads at once, then `unload(handle)`. A plugin lists the tasks it
//! can do in its declaration's capabilities (comma-separated, e.g. `rec.ease,rec.itemknn`).
//!
//! # Recommendation tasks (`rec.*`)
//!
//! `data` is an [`Interactions`] in [`INTERACTIONS_ENCODING`]; `params` a JSON object. Requests
//! are JSON objects with an `op`:
//!
//! | request | response |
//! |---|---|
//! | `{"op":"scores","history":[item, ...]}` | one score per item as little-endian `f32` ([`encode_f32s`]); higher is better |
//! | `{"op":"explain","history":[...],"items":[...]}` | JSON `[{"item":i,"because":h}]`: the history item that contributes most to each item's score, `null` when none does |
//! | `{"op":"similar","item":i,"k":k}` | JSON `[{"item":j,"score":s}]`, the `k` items most similar to `i`, best first, `i` excluded |
//!
//! Items are dense ids `0..n_items`; a history is in time order, oldest first.
//!
//! # Forecasting tasks (`forecast.*`)
//!
//! `data` is a [`SeriesSet`](crate::series::SeriesSet) in
//! [`SERIES_ENCODING`](crate::series::SERIES_ENCODING): the training series, their season length
//! and the horizon the model will be asked for. A local model (one fitted per series, such as ETS)
//! may use it only to choose its configuration on held-out values; a global model trains on it.
//! The one request is
//!
//! `{"op":"forecast","horizon":h,"series":[[y1, y2, ...], ...]}` (oldest value first)
//!
//! and the response is a JSON array with one object per series, in order:
//! `{"mean":[...],"lower80":[...],"upper80":[...],"lower95":[...],"upper95":[...],"model":"..."}`,
//! `h` values each, `model` naming what made that forecast. Both intervals always come back.
//! A plugin may also answer `{"op":"describe"}` with a JSON object saying what was fitted (for
//! example the ensemble a validation chose), which the host shows operators as it is.

use std::ffi::c_void;

use crate::{ByteSlice, OwnedBuffer};

/// Exported symbol: `extern "C" fn() -> *const ModelVTable` (model plugins only).
pub const SYMBOL_MODEL_VTABLE: &str = "agora_model_vtable";

/// The encoding of [`Interactions`] handed to `fit` for `rec.*` tasks.
pub const INTERACTIONS_ENCODING: &str = "agora-interactions/2";

const INTERACTIONS_MAGIC: &[u8; 4] = b"AGIX";
/// Version 2 added the items' numeric features; version 1 data (none) still decodes.
const INTERACTIONS_VERSION: u32 = 2;

/// Progress callback handed to `fit`: `(context, done, total)`.
pub type ProgressFn = unsafe extern "C" fn(context: *mut c_void, done: u64, total: u64);

/// Checkpoint callback handed to `fit`: `(context, checkpoint)`; the bytes are borrowed for the
/// call, and stored durably by the host before it returns.
pub type CheckpointFn = unsafe extern "C" fn(context: *mut c_void, checkpoint: ByteSlice);

/// The functions of a model plugin.
#[repr(C)]
pub struct ModelVTable {
    /// `size_of::<ModelVTable>()` in the plugin's build.
    pub struct_size: usize,
    /// Trains `task` on `data` with JSON `params`, carrying on from `resume` (empty: from the
    /// start), calling `progress` and `checkpoint` (if set) as it goes, and writes the snapshot to
    /// `out_snapshot`.
    pub fit: unsafe extern "C" fn(
        task: ByteSlice,
        data: ByteSlice,
        params: ByteSlice,
        resume: ByteSlice,
        progress: Option<ProgressFn>,
        progress_context: *mut c_void,
        checkpoint: Option<CheckpointFn>,
        checkpoint_context: *mut c_void,
        out_snapshot: *mut OwnedBuffer,
    ) -> u32,
    /// Loads a snapshot made by `fit` for `task` and writes the handle to `out_handle`.
    pub load: unsafe extern "C" fn(task: ByteSlice, snapshot: ByteSlice, out_handle: *mut *mut c_void) -> u32,
    /// Answers one request against a loaded snapshot; safe to call from several threads at once.
    pub infer: unsafe extern "C" fn(handle: *const c_void, request: ByteSlice, out_response: *mut OwnedBuffer) -> u32,
    /// Releases a handle from `load`. Never fails.
    pub unload: unsafe extern "C" fn(handle: *mut c_void),
    /// Frees a buffer this plugin allocated.
    pub free_buffer: unsafe extern "C" fn(buffer: OwnedBuffer),
    /// The message of the last failed call on this thread (UTF-8), to be freed with `free_buffer`.
    pub last_error: unsafe extern "C" fn() -> OwnedBuffer,
}

// SAFETY: the table only holds function pointers.
unsafe impl Sync for ModelVTable {}

/// The Rust-side trait a model plugin implements; [`export_model!`](crate::export_model) turns it
/// into the C ABI. A value of the type is one loaded snapshot.
pub trait ModelPlugin: Sized + Send + Sync + 'static {
    /// Trains `task` and returns the snapshot bytes.
    ///
    /// # Errors
    /// A message naming the unknown task, the bad parameter or the malformed data.
    fn fit(task: &str, data: &[u8], params: &[u8], progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String>;

    /// Trains `task` as [`fit`](Self::fit) does, carrying on from `training.resume` and handing
    /// checkpoints to `training.checkpoint` as it goes. The default writes no checkpoints and so
    /// always starts from the beginning.
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and a message when `resume` is not a checkpoint of this fit.
    fn fit_resuming(task: &str, data: &[u8], params: &[u8], training: Training<'_>) -> Result<Vec<u8>, String> {
        Self::fit(task, data, params, training.progress)
    }

    /// Loads a snapshot that `fit` made for `task`.
    ///
    /// # Errors
    /// A message when the snapshot is not one of this plugin's, or is for another task.
    fn load(task: &str, snapshot: &[u8]) -> Result<Self, String>;

    /// Answers one request.
    ///
    /// # Errors
    /// A message naming what is wrong with the request.
    fn infer(&self, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// What a resumable fit gets beside its task, data and params.
pub struct Training<'a> {
    /// The last checkpoint an interrupted fit of the same task, data and params wrote, if any.
    pub resume: Option<&'a [u8]>,
    /// `(done, total)` as the fit goes.
    pub progress: &'a mut dyn FnMut(u64, u64),
    /// Stores a checkpoint durably before it returns.
    pub checkpoint: &'a mut dyn FnMut(&[u8]),
}

/// Users' item sequences and items' attributes, as `fit` receives them for `rec.*` tasks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interactions {
    /// Items are `0..n_items`.
    pub n_items: u32,
    /// Attributes are `0..n_attributes`.
    pub n_attributes: u32,
    /// User `u`'s items are `items[seq_offsets[u]..seq_offsets[u + 1]]`; one entry per user plus one.
    pub seq_offsets: Vec<u64>,
    /// Every user's items, in time order within a user.
    pub items: Vec<u32>,
    /// Unix seconds of each entry of `items`; all zero when the source has no times.
    pub timestamps: Vec<i64>,
    /// Item `i`'s attributes are `attributes[attr_offsets[i]..attr_offsets[i + 1]]`; `n_items + 1` entries.
    pub attr_offsets: Vec<u64>,
    /// Every item's attribute ids.
    pub attributes: Vec<u32>,
    /// Names of the items' numeric features (price, counts, recency, ...); may be empty.
    pub feature_names: Vec<String>,
    /// `n_items × feature_names.len()` values, row-major (item `i`'s row first); NaN where an
    /// item has no value.
    pub item_features: Vec<f32>,
}

impl Interactions {
    /// Number of users (sequences).
    pub fn n_users(&self) -> usize {
        self.seq_offsets.len().saturating_sub(1)
    }

    /// User `user`'s items, oldest first.
    pub fn sequence(&self, user: usize) -> &[u32] {
        &self.items[self.seq_offsets[user] as usize..self.seq_offsets[user + 1] as usize]
    }

    /// Item `item`'s attribute ids.
    pub fn item_attributes(&self, item: usize) -> &[u32] {
        &self.attributes[self.attr_offsets[item] as usize..self.attr_offsets[item + 1] as usize]
    }

    /// Item `item`'s numeric features, in the order of `feature_names`.
    pub fn features_of(&self, item: usize) -> &[f32] {
        let width = self.feature_names.len();
        &self.item_features[item * width..(item + 1) * width]
    }

    /// Encodes as [`INTERACTIONS_ENCODING`]: magic `AGIX`, version, `n_items`, `n_attributes` (u32),
    /// the four array lengths (u64), then the arrays, all little-endian; then the feature names
    /// (byte length as u64, then the names joined by newlines) and `item_features` (`f32`s).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            40 + self.items.len() * 12 + self.attributes.len() * 4 + (self.seq_offsets.len() + self.attr_offsets.len()) * 8,
        );
        out.extend_from_slice(INTERACTIONS_MAGIC);
        for value in [INTERACTIONS_VERSION, self.n_items, self.n_attributes] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for len in [self.seq_offsets.len(), self.items.len(), self.attr_offsets.len(), self.attributes.len()] {
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.seq_offsets.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        self.items.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        self.timestamps.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        self.attr_offsets.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        self.attributes.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        let names = self.feature_names.join("\n");
        out.extend_from_slice(&(names.len() as u64).to_le_bytes());
        out.extend_from_slice(names.as_bytes());
        self.item_features.iter().for_each(|value| out.extend_from_slice(&value.to_le_bytes()));
        out
    }

    /// Decodes and checks [`INTERACTIONS_ENCODING`].
    ///
    /// # Errors
    /// A message saying which part is malformed or out of range.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != INTERACTIONS_MAGIC {
            return Err(format!("not {INTERACTIONS_ENCODING} data (bad magic)"));
        }
        let version = reader.u32()?;
        if !(1..=INTERACTIONS_VERSION).contains(&version) {
            return Err(format!("interactions encoding version {version}, this plugin reads 1 to {INTERACTIONS_VERSION}"));
        }
        let (n_items, n_attributes) = (reader.u32()?, reader.u32()?);
        let lens = [reader.len()?, reader.len()?, reader.len()?, reader.len()?];
        let seq_offsets = reader.array(lens[0], |b| u64::from_le_bytes(b.try_into().unwrap()))?;
        let items = reader.array(lens[1], |b| u32::from_le_bytes(b.try_into().unwrap()))?;
        let timestamps = reader.array(lens[1], |b| i64::from_le_bytes(b.try_into().unwrap()))?;
        let attr_offsets = reader.array(lens[2], |b| u64::from_le_bytes(b.try_into().unwrap()))?;
        let attributes = reader.array(lens[3], |b| u32::from_le_bytes(b.try_into().unwrap()))?;
        let (mut feature_names, mut item_features) = (Vec::new(), Vec::new());
        if version >= 2 {
            let names_len = reader.len()?;
            let names = std::str::from_utf8(reader.take(names_len)?).map_err(|_| "feature names are not UTF-8".to_string())?;
            feature_names = if names.is_empty() { Vec::new() } else { names.split('\n').map(str::to_string).collect() };
            let values = (n_items as usize).checked_mul(feature_names.len()).ok_or_else(|| "feature table overflows".to_string())?;
            item_features = reader.array(values, |b| f32::from_le_bytes(b.try_into().unwrap()))?;
        }
        if reader.at != bytes.len() {
            return Err(format!("{} trailing bytes after the interactions", bytes.len() - reader.at));
        }
        let data = Self { n_items, n_attributes, seq_offsets, items, timestamps, attr_offsets, attributes, feature_names, item_features };
        data.validate()?;
        Ok(data)
    }

    /// Checks that offsets are monotone and cover their arrays, and every id is in range.
    ///
    /// # Errors
    /// A message naming the first inconsistency.
    pub fn validate(&self) -> Result<(), String> {
        check_offsets("seq_offsets", &self.seq_offsets, self.items.len())?;
        if self.attr_offsets.len() != self.n_items as usize + 1 {
            return Err(format!(
                "attr_offsets has {} entries, expected n_items + 1 = {}",
                self.attr_offsets.len(),
                self.n_items as usize + 1
            ));
        }
        check_offsets("attr_offsets", &self.attr_offsets, self.attributes.len())?;
        if self.timestamps.len() != self.items.len() {
            return Err(format!("{} timestamps for {} items", self.timestamps.len(), self.items.len()));
        }
        if let Some(item) = self.items.iter().find(|&&item| item >= self.n_items) {
            return Err(format!("item {item} out of range (n_items = {})", self.n_items));
        }
        if let Some(attribute) = self.attributes.iter().find(|&&attribute| attribute >= self.n_attributes) {
            return Err(format!("attribute {attribute} out of range (n_attributes = {})", self.n_attributes));
        }
        if self.item_features.len() != self.n_items as usize * self.feature_names.len() {
            return Err(format!(
                "{} item feature values for {} items × {} features",
                self.item_features.len(),
                self.n_items,
                self.feature_names.len()
            ));
        }
        if let Some(name) = self.feature_names.iter().find(|name| name.is_empty() || name.contains('\n')) {
            return Err(format!("feature name {name:?} must be non-empty and on one line"));
        }
        Ok(())
    }
}

pub(crate) fn check_offsets(name: &str, offsets: &[u64], covered: usize) -> Result<(), String> {
    if offsets.first().is_some_and(|&first| first != 0) || offsets.windows(2).any(|pair| pair[0] > pair[1]) {
        return Err(format!("{name} must start at 0 and never decrease"));
    }
    let last = offsets.last().copied().unwrap_or(0);
    if last != covered as u64 {
        return Err(format!("{name} ends at {last} but the array has {covered} entries"));
    }
    Ok(())
}

/// Reads the little-endian layouts of this module and [`crate::series`].
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(count).filter(|&end| end <= self.bytes.len()).ok_or_else(|| "data is truncated".to_string())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub(crate) fn len(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
            .map_err(|_| "array length does not fit in memory".to_string())
    }

    pub(crate) fn array<T>(&mut self, count: usize, read: impl Fn(&[u8]) -> T) -> Result<Vec<T>, String> {
        let width = std::mem::size_of::<T>();
        let bytes = self.take(count.checked_mul(width).ok_or_else(|| "array length overflows".to_string())?)?;
        Ok(bytes.chunks_exact(width).map(read).collect())
    }
}

/// Encodes scores as little-endian `f32`s (the `scores` response).
pub fn encode_f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Decodes little-endian `f32`s.
///
/// # Errors
/// When the length is not a multiple of 4.
pub fn decode_f32s(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if !bytes.len().is_multiple_of(4) {
        return Err(format!("{} bytes is not a whole number of f32 scores", bytes.len()));
    }
    Ok(bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Interactions {
        Interactions {
            n_items: 4,
            n_attributes: 2,
            seq_offsets: vec![0, 2, 5],
            items: vec![0, 1, 2, 1, 3],
            timestamps: vec![10, 20, 5, 6, 7],
            attr_offsets: vec![0, 1, 1, 3, 3],
            attributes: vec![0, 0, 1],
            feature_names: vec!["price".into(), "interactions".into()],
            item_features: vec![1.5, 1.0, f32::NAN, 2.0, 3.0, 1.0, 0.5, 1.0],
        }
    }

    #[test]
    fn interactions_round_trip_and_expose_sequences() {
        let data = sample();
        let decoded = Interactions::decode(&data.encode()).unwrap();
        assert_eq!(decoded.encode(), data.encode());
        assert_eq!(decoded.n_users(), 2);
        assert_eq!(decoded.sequence(1), &[2, 1, 3]);
        assert_eq!(decoded.item_attributes(2), &[0, 1]);
        assert_eq!(decoded.feature_names, ["price", "interactions"]);
        assert!(decoded.features_of(1)[0].is_nan());
        assert_eq!(decoded.features_of(3), &[0.5, 1.0]);
    }

    #[test]
    fn version_1_interactions_without_features_still_decode() {
        let mut data = sample();
        data.feature_names.clear();
        data.item_features.clear();
        let mut bytes = data.encode();
        bytes.truncate(bytes.len() - 8); // version 1 ends after the attributes
        bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(Interactions::decode(&bytes).unwrap(), data);
    }

    #[test]
    fn malformed_interactions_are_refused_with_the_reason() {
        let mut data = sample();
        data.items[0] = 9;
        assert!(Interactions::decode(&data.encode()).unwrap_err().contains("item 9 out of range"));
        let bytes = sample().encode();
        assert!(Interactions::decode(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
        assert!(Interactions::decode(b"nope").unwrap_err().contains("bad magic"));
        let mut data = sample();
        data.seq_offsets = vec![0, 3, 2];
        assert!(data.validate().unwrap_err().contains("never decrease"));
        let mut data = sample();
        data.item_features.pop();
        assert!(data.validate().unwrap_err().contains("7 item feature values for 4 items × 2 features"));
    }

    #[test]
    fn scores_round_trip() {
        let scores = [1.5f32, -0.25, f32::NEG_INFINITY];
        assert_eq!(decode_f32s(&encode_f32s(&scores)).unwrap(), scores);
        assert!(decode_f32s(&[0, 1, 2]).is_err());
    }
}
