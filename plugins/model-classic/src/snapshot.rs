//! The snapshot codec: header (magic `AGCM`, format version, task name), then little-endian data.
//!
//! Arrays are written as a `u64` length followed by their elements.

/// First bytes of every snapshot this plugin writes.
const MAGIC: &[u8; 4] = b"AGCM";

/// Bumped whenever any model's layout changes; older snapshots are refused.
const FORMAT_VERSION: u32 = 1;

/// Builds a snapshot.
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// Starts a snapshot for `task` (writes the header).
    pub(crate) fn new(task: &str) -> Writer {
        let mut writer = Writer { bytes: Vec::new() };
        writer.bytes.extend_from_slice(MAGIC);
        writer.u32(FORMAT_VERSION);
        writer.u32(task.len() as u32);
        writer.bytes.extend_from_slice(task.as_bytes());
        writer
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn f64(&mut self, value: f64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u32s(&mut self, values: &[u32]) {
        self.len(values.len());
        self.bytes.reserve(values.len() * 4);
        values.iter().for_each(|value| self.bytes.extend_from_slice(&value.to_le_bytes()));
    }

    pub(crate) fn u64s(&mut self, values: &[u64]) {
        self.len(values.len());
        self.bytes.reserve(values.len() * 8);
        values.iter().for_each(|value| self.bytes.extend_from_slice(&value.to_le_bytes()));
    }

    pub(crate) fn f32s(&mut self, values: &[f32]) {
        self.len(values.len());
        self.bytes.reserve(values.len() * 4);
        values.iter().for_each(|value| self.bytes.extend_from_slice(&value.to_le_bytes()));
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.len(value.len());
        self.bytes.extend_from_slice(value.as_bytes());
    }

    fn len(&mut self, len: usize) {
        self.bytes.extend_from_slice(&(len as u64).to_le_bytes());
    }

    /// The finished snapshot.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads a snapshot back, refusing anything malformed.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Checks the header: this plugin's magic, this format version and the expected task.
    pub(crate) fn open(snapshot: &'a [u8], task: &str) -> Result<Reader<'a>, String> {
        let mut reader = Reader { bytes: snapshot, at: 0 };
        if reader.take(4).ok() != Some(MAGIC.as_slice()) {
            return Err("not a snapshot of the classic model plugin (bad magic)".to_string());
        }
        let version = reader.u32()?;
        if version != FORMAT_VERSION {
            return Err(format!("snapshot format version {version}, this plugin reads version {FORMAT_VERSION}; refit the model"));
        }
        let len = reader.u32()? as usize;
        let written = reader.take(len)?;
        if written != task.as_bytes() {
            return Err(format!("snapshot is for task `{}`, not `{task}`", String::from_utf8_lossy(written)));
        }
        Ok(reader)
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(count).filter(|&end| end <= self.bytes.len()).ok_or_else(|| "snapshot is truncated".to_string())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, String> {
        Ok(self.array(4)?.chunks_exact(4).map(|bytes| u32::from_le_bytes(bytes.try_into().unwrap())).collect())
    }

    pub(crate) fn u64s(&mut self) -> Result<Vec<u64>, String> {
        Ok(self.array(8)?.chunks_exact(8).map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap())).collect())
    }

    pub(crate) fn f32s(&mut self) -> Result<Vec<f32>, String> {
        Ok(self.array(4)?.chunks_exact(4).map(|bytes| f32::from_le_bytes(bytes.try_into().unwrap())).collect())
    }

    pub(crate) fn text(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.array(1)?).map_err(|_| "corrupt snapshot: text is not UTF-8".to_string())
    }

    fn array(&mut self, width: usize) -> Result<&'a [u8], String> {
        let len = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
        let bytes = usize::try_from(len).ok().and_then(|len| len.checked_mul(width)).ok_or_else(|| "snapshot is truncated".to_string())?;
        self.take(bytes)
    }

    /// Refuses trailing bytes.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(format!("{extra} unexpected bytes at the end of the snapshot")),
        }
    }
}

/// Fails with a message naming the snapshot part that is inconsistent.
pub(crate) fn ensure(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("corrupt snapshot: {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_behind_the_header() {
        let mut writer = Writer::new("rec.x");
        writer.u32(7);
        writer.f64(-1.5);
        writer.u32s(&[1, 2]);
        writer.u64s(&[u64::MAX]);
        writer.f32s(&[0.25]);
        writer.text("ETS");
        let bytes = writer.finish();
        let mut reader = Reader::open(&bytes, "rec.x").unwrap();
        assert_eq!(reader.u32().unwrap(), 7);
        assert_eq!(reader.f64().unwrap(), -1.5);
        assert_eq!(reader.u32s().unwrap(), [1, 2]);
        assert_eq!(reader.u64s().unwrap(), [u64::MAX]);
        assert_eq!(reader.f32s().unwrap(), [0.25]);
        assert_eq!(reader.text().unwrap(), "ETS");
        reader.finish().unwrap();
    }

    #[test]
    fn foreign_or_damaged_snapshots_are_refused() {
        let mut writer = Writer::new("rec.x");
        writer.f32s(&[1.0, 2.0]);
        let bytes = writer.finish();
        assert!(Reader::open(&bytes, "rec.y").err().unwrap().contains("snapshot is for task `rec.x`, not `rec.y`"));
        assert!(Reader::open(b"garbage!", "rec.x").err().unwrap().contains("bad magic"));
        let mut old = bytes.clone();
        old[4] = 9;
        assert!(Reader::open(&old, "rec.x").err().unwrap().contains("format version 9"));
        assert!(Reader::open(&bytes[..bytes.len() - 1], "rec.x").unwrap().f32s().unwrap_err().contains("truncated"));
        let mut longer = bytes.clone();
        longer.push(0);
        let mut reader = Reader::open(&longer, "rec.x").unwrap();
        reader.f32s().unwrap();
        assert!(reader.finish().unwrap_err().contains("1 unexpected bytes"));
    }
}
