//! A buffered reader over one file that knows its byte position, kept open across polls.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The read buffer of a file being polled: large, because a poll streams many records.
pub const BUFFER_CAPACITY: usize = 256 * 1024;

/// A `BufRead` over a file that tracks the absolute byte offset of the next unread byte.
#[derive(Debug)]
pub struct FileReader {
    inner: BufReader<File>,
    position: u64,
}

impl FileReader {
    /// Opens `path` positioned at `offset`, with a [`BUFFER_CAPACITY`] buffer.
    ///
    /// # Errors
    /// A message naming the path.
    pub fn open(path: &Path, offset: u64) -> Result<Self, String> {
        Self::with_capacity(path, offset, BUFFER_CAPACITY)
    }

    /// Opens `path` positioned at `offset` with a buffer of `capacity` bytes (small for one-off
    /// reads such as a header).
    ///
    /// # Errors
    /// A message naming the path.
    pub fn with_capacity(path: &Path, offset: u64, capacity: usize) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).map_err(|err| format!("cannot seek {} to byte {offset}: {err}", path.display()))?;
        }
        Ok(Self { inner: BufReader::with_capacity(capacity, file), position: offset })
    }

    /// The byte offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Moves to `offset`, reusing buffered bytes when they cover it.
    ///
    /// Only valid while the bytes already buffered are still what the file holds (appends are
    /// fine; a truncated file needs a fresh reader).
    ///
    /// # Errors
    /// The seek's I/O error.
    pub fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        let delta = i64::try_from(i128::from(offset) - i128::from(self.position))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek distance does not fit in 64 bits"))?;
        self.inner.seek_relative(delta)?;
        self.position = offset;
        Ok(())
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl BufRead for FileReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.inner.buffer().len());
        self.inner.consume(amount);
        self.position += amount as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn position_follows_reads_consumes_and_seeks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let mut reader = FileReader::with_capacity(&path, 4, 8).unwrap();
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!((line.as_slice(), reader.position()), (&b"two\n"[..], 8));
        reader.seek_to(0).unwrap();
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!((line.as_slice(), reader.position()), (&b"one\n"[..], 4));
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!((rest.as_str(), reader.position()), ("two\nthree\n", 14));
    }

    #[test]
    fn appended_bytes_are_read_after_end_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "a\n").unwrap();
        let mut reader = FileReader::open(&path, 0).unwrap();
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!(reader.read_until(b'\n', &mut line).unwrap(), 0);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"b\n").unwrap();
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!((line.as_slice(), reader.position()), (&b"b\n"[..], 4));
    }
}
