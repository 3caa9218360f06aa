//! The record loop: lists the files, resumes each from the checkpoint, reuses open readers and
//! hands every record to the plugin's [`RecordFormat`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;

use agora_plugin_api::{PollResult, SourcePlugin};

use crate::batch::Batch;
use crate::checkpoint::{Checkpoint, FilePosition};
use crate::context::FileCtx;
use crate::files::{FileKey, FileSet, ListedFile};
use crate::params::FileParams;
use crate::reader::FileReader;

/// How many readers a following source keeps open between polls; beyond it the least recently
/// used are closed (and reopened, with a seek, when their file grows).
pub const MAX_OPEN_READERS: usize = 8;

/// The most bytes reserved up front for a batch (it still grows past this when needed).
const MAX_BATCH_RESERVE: usize = 32 * 1024 * 1024;

/// What reading one record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes were consumed (the reader's position is after them) and the lines of what they held were
    /// added: usually one record or error line; several when a format makes several records of
    /// one line (they share its locator and checkpoint); none for a header or blank lines. `terminated` is false
    /// when the input ended before the record's terminator; in tail mode the kit then rolls the
    /// record back and retries it once more data has arrived.
    Consumed { terminated: bool },
    /// Nothing is left to read in this file right now (trailing blank lines may be consumed).
    Eof,
}

/// A file format: the only part a file-reading plugin writes.
pub trait RecordFormat: Sized + 'static {
    /// What the format remembers about one file (a CSV header, say). The kit keeps one per file
    /// identity, creates it with `Default` when a file is first read, and drops it when the file
    /// is truncated (it restarts at byte 0) or is no longer listed. Use `()` for none.
    type FileState: Default + 'static;

    /// Parses the plugin's JSON params into the file params and the format (see
    /// [`crate::parse_params`]).
    ///
    /// # Errors
    /// A message naming the bad parameter and its valid values.
    fn from_config(config: &[u8]) -> Result<(FileParams, Self), String>;

    /// Reads the next record of `file` from `reader` (positioned at the next unread byte) and
    /// writes its lines (usually one) to `batch`, located with `file.at(<byte offset of the record>)`.
    ///
    /// # Errors
    /// I/O errors, naming the file. A malformed record is an error line, not an error.
    fn read_record(
        &mut self,
        file: &FileCtx,
        state: &mut Self::FileState,
        reader: &mut FileReader,
        batch: &mut Batch,
    ) -> Result<Step, String>;
}

/// A source reading a set of files with format `F`; implements [`SourcePlugin`], so a plugin
/// is `pub type MySource = FileSource<MyFormat>;` plus `export_source!`.
pub struct FileSource<F: RecordFormat> {
    files: FileSet,
    follow: bool,
    format: F,
    readers: HashMap<FileKey, OpenReader>,
    /// The format's state of every file read so far.
    states: HashMap<FileKey, F::FileState>,
    polls: u64,
    /// Size of the last batch if it was full: streaming polls reserve that much up front.
    full_batch_bytes: usize,
    /// Files opened for reading so far (reuse keeps this low; for diagnostics and tests).
    opens: u64,
}

impl<F: RecordFormat> fmt::Debug for FileSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("files", &self.files)
            .field("follow", &self.follow)
            .field("open_readers", &self.readers.len())
            .field("polls", &self.polls)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct OpenReader {
    reader: FileReader,
    last_used: u64,
}

/// One listed file during a poll.
#[derive(Debug)]
struct Cursor {
    file: ListedFile,
    offset: u64,
    /// Everything available was read (end of file, or an unterminated record held back).
    at_end: bool,
}

impl<F: RecordFormat> FileSource<F> {
    /// Opens the file set, checking the checkpoint and that there is something to read.
    ///
    /// # Errors
    /// A missing or unreadable single file, a bad pattern, no files without `follow`, or a bad
    /// checkpoint.
    pub fn new(params: &FileParams, format: F, checkpoint: &[u8]) -> Result<Self, String> {
        let files = FileSet::new(params)?;
        Checkpoint::decode(checkpoint)?;
        if files.list()?.is_empty() && !params.follow {
            return Err(files.no_match_error());
        }
        Ok(Self {
            files,
            follow: params.follow,
            format,
            readers: HashMap::new(),
            states: HashMap::new(),
            polls: 0,
            full_batch_bytes: 0,
            opens: 0,
        })
    }

    /// The format, for inspection.
    pub fn format(&self) -> &F {
        &self.format
    }

    /// How many times a file was opened for reading (a reused reader is not reopened).
    pub fn reader_opens(&self) -> u64 {
        self.opens
    }

    /// How many readers are open now.
    pub fn open_readers(&self) -> usize {
        self.readers.len()
    }

    /// Reads up to `max_records` lines after `checkpoint`.
    fn read_batch(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<PollResult, String> {
        let saved = Checkpoint::decode(checkpoint)?;
        let listed = self.files.list()?;
        if listed.is_empty() && !self.follow {
            return Err(self.files.no_match_error());
        }
        self.polls += 1;
        let mut cursors = self.resume(&saved, listed);
        let max = u64::from(max_records);
        let mut batch = Batch::with_capacity(self.full_batch_bytes.min(MAX_BATCH_RESERVE));
        for cursor in &mut cursors {
            if batch.records() >= max {
                break;
            }
            self.read_file(cursor, max, &mut batch)?;
        }
        self.close_readers(&cursors);
        self.full_batch_bytes = if max > 0 && batch.records() == max { batch.len() } else { 0 };
        let checkpoint = Checkpoint {
            files: cursors
                .iter()
                .map(|c| FilePosition { path: c.file.path.to_string_lossy().into_owned(), key: c.file.key.clone(), offset: c.offset })
                .collect(),
        };
        let done = cursors.iter().map(|c| c.offset).sum();
        let total = cursors.iter().map(|c| c.offset.max(c.file.size)).sum();
        Ok(PollResult {
            records: batch.records(),
            batch: batch.into_bytes(),
            checkpoint: checkpoint.encode(),
            progress: (done, total),
            caught_up: cursors.iter().all(|c| c.at_end || c.offset >= c.file.size),
        })
    }

    /// Pairs each listed file with its checkpointed offset (0 when new or truncated) and drops
    /// the readers and states of files that are gone or truncated.
    fn resume(&mut self, saved: &Checkpoint, listed: Vec<ListedFile>) -> Vec<Cursor> {
        let offsets = saved.offsets();
        let listed_keys: HashSet<&FileKey> = listed.iter().map(|file| &file.key).collect();
        for gone in offsets.keys().filter(|key| !listed_keys.contains(*key)) {
            self.readers.remove(*gone);
            self.states.remove(*gone);
        }
        let mut cursors = Vec::with_capacity(listed.len());
        for file in listed {
            let mut offset = offsets.get(&file.key).copied().unwrap_or(0);
            if offset > file.size {
                // Truncated: what is there now is new data. Buffered bytes are stale too.
                offset = 0;
                self.readers.remove(&file.key);
                self.states.remove(&file.key);
            }
            cursors.push(Cursor { file, offset, at_end: false });
        }
        cursors
    }

    /// Reads records of one file until it is exhausted or the batch is full.
    fn read_file(&mut self, cursor: &mut Cursor, max: u64, batch: &mut Batch) -> Result<(), String> {
        let ctx = FileCtx::new(&cursor.file, self.follow);
        let open = reader_at(&mut self.readers, &cursor.file, cursor.offset, self.polls, &mut self.opens)?;
        let reader = &mut open.reader;
        let state = self.states.entry(cursor.file.key.clone()).or_default();
        let outcome = loop {
            if batch.records() >= max {
                break Ok(());
            }
            let start = reader.position();
            let mark = batch.mark();
            match self.format.read_record(&ctx, state, reader, batch) {
                Err(err) => break Err(err),
                Ok(Step::Eof) => {
                    cursor.at_end = true;
                    break Ok(());
                }
                Ok(Step::Consumed { terminated: false }) if self.follow => {
                    // A writer may still be appending to this record: leave it for a later poll.
                    batch.rollback(mark);
                    cursor.at_end = true;
                    break reader
                        .seek_to(start)
                        .map_err(|err| format!("cannot seek {} to byte {start}: {err}", cursor.file.path.display()));
                }
                Ok(Step::Consumed { .. }) if reader.position() <= start => {
                    break Err(format!("the format made no progress reading {} at byte {start}", cursor.file.path.display()));
                }
                Ok(Step::Consumed { .. }) => {}
            }
        };
        cursor.offset = reader.position();
        if outcome.is_err() {
            // The reader may be mid-record; start afresh from the checkpoint next time.
            self.readers.remove(&cursor.file.key);
        }
        outcome
    }

    /// Closes readers that will not be needed soon: every finished one unless following, and
    /// the least recently used beyond [`MAX_OPEN_READERS`].
    fn close_readers(&mut self, cursors: &[Cursor]) {
        if !self.follow {
            for cursor in cursors.iter().filter(|c| c.at_end) {
                self.readers.remove(&cursor.file.key);
            }
        }
        while self.readers.len() > MAX_OPEN_READERS {
            let oldest = self.readers.iter().min_by_key(|(_, open)| open.last_used).map(|(key, _)| key.clone());
            match oldest {
                Some(key) => self.readers.remove(&key),
                None => break,
            };
        }
    }
}

/// The open reader of `file` moved to `offset`: the cached one when there is one (no syscall
/// when it is already there), else a freshly opened one.
fn reader_at<'a>(
    readers: &'a mut HashMap<FileKey, OpenReader>,
    file: &ListedFile,
    offset: u64,
    now: u64,
    opens: &mut u64,
) -> Result<&'a mut OpenReader, String> {
    let open = match readers.entry(file.key.clone()) {
        Entry::Occupied(entry) => {
            let open = entry.into_mut();
            if open.reader.position() != offset && open.reader.seek_to(offset).is_err() {
                *opens += 1;
                open.reader = FileReader::open(&file.path, offset)?;
            }
            open
        }
        Entry::Vacant(entry) => {
            *opens += 1;
            entry.insert(OpenReader { reader: FileReader::open(&file.path, offset)?, last_used: now })
        }
    };
    open.last_used = now;
    Ok(open)
}

impl<F: RecordFormat> SourcePlugin for FileSource<F> {
    fn open(config: &[u8], checkpoint: &[u8]) -> Result<Self, String> {
        let (params, format) = F::from_config(config)?;
        Self::new(&params, format, checkpoint)
    }

    fn poll(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<PollResult, String> {
        self.read_batch(max_records, checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{drain, drain_open, open, Line};
    use serde_json::{json, Value};
    use std::fs;
    use std::io::{BufRead, Write};
    use std::path::Path;

    /// A test format: each non-blank line becomes `{"line": "<text>"}`.
    #[derive(Debug)]
    struct Lines;

    impl RecordFormat for Lines {
        type FileState = ();

        fn from_config(config: &[u8]) -> Result<(FileParams, Self), String> {
            let params: FileParams = crate::parse_params("lines", config, &[])?;
            Ok((params, Lines))
        }

        fn read_record(&mut self, file: &FileCtx, _state: &mut (), reader: &mut FileReader, batch: &mut Batch) -> Result<Step, String> {
            let start = reader.position();
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).map_err(|err| err.to_string())? == 0 {
                return Ok(Step::Eof);
            }
            let terminated = line.ends_with(b"\n");
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if !text.is_empty() {
                batch.push_record(&file.at(start), |out| {
                    out.extend_from_slice(b"{\"line\":");
                    agora_plugin_api::push_json_string(out, &text);
                    out.push(b'}');
                });
            }
            Ok(Step::Consumed { terminated })
        }
    }

    type LineSource = FileSource<Lines>;

    fn config(path: &Path, follow: bool) -> Value {
        json!({"path": path.to_string_lossy(), "follow": follow})
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|line| match line {
                Line::Record { fields, .. } => fields["line"].as_str().unwrap().to_string(),
                Line::Error { reason, .. } => format!("error {reason}"),
            })
            .collect()
    }

    fn append(path: &Path, text: &str) {
        fs::OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn small_batches_read_everything_once_with_locators_and_progress() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one\ntwo\n\nthree\nfour\n").unwrap();
        let out = drain::<LineSource>(&config(&path, false), b"", 3).unwrap();
        assert_eq!(texts(&out.lines), ["one", "two", "three", "four"]);
        let shown = path.to_string_lossy();
        assert_eq!(out.offsets(), [format!("{shown}@0"), format!("{shown}@4"), format!("{shown}@9"), format!("{shown}@15")]);
        assert_eq!(out.progress, (20, 20));
        assert_eq!(out.polls, 2);
    }

    #[test]
    fn resuming_from_a_checkpoint_gives_exactly_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "1\n2\n3\n4\n5\n").unwrap();
        let mut source: LineSource = open(&config(&path, false), b"").unwrap();
        let first = source.poll(2, b"").unwrap();
        assert!(!first.caught_up);
        assert_eq!(first.progress, (4, 10));
        let text = String::from_utf8(first.checkpoint.clone()).unwrap();
        assert!(text.starts_with(r#"{"v":1,"files":[{"path":"#) && text.contains(r#""offset":4}"#), "{text}");
        let rest = drain::<LineSource>(&config(&path, false), &first.checkpoint, 100).unwrap();
        assert_eq!(texts(&rest.lines), ["3", "4", "5"]);
    }

    #[test]
    fn a_reader_is_reused_across_polls_while_the_checkpoint_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "1\n2\n3\n4\n5\n6\n").unwrap();
        let mut source: LineSource = open(&config(&path, true), b"").unwrap();
        let out = drain_open(&mut source, b"", 1).unwrap();
        assert_eq!(out.lines.len(), 6);
        assert_eq!(source.reader_opens(), 1);
        // Replaying an older checkpoint seeks the same reader back.
        let first = source.poll(1, b"").unwrap();
        assert_eq!(texts(&crate::testing::parse_batch(&first).unwrap()), ["1"]);
        assert_eq!(source.reader_opens(), 1);
    }

    #[test]
    fn a_partial_last_line_waits_for_its_newline_when_following() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one\ntw").unwrap();
        let mut source: LineSource = open(&config(&path, true), b"").unwrap();
        let out = drain_open(&mut source, b"", 10).unwrap();
        assert_eq!(texts(&out.lines), ["one"]);
        assert_eq!(out.progress, (4, 6));
        append(&path, "o\nthr");
        let more = drain_open(&mut source, &out.checkpoint, 10).unwrap();
        assert_eq!(texts(&more.lines), ["two"]);
        append(&path, "ee\n");
        let last = drain_open(&mut source, &more.checkpoint, 10).unwrap();
        assert_eq!(texts(&last.lines), ["three"]);
        assert_eq!(last.progress, (14, 14));
    }

    #[test]
    fn a_partial_last_line_is_read_at_end_of_file_without_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one\ntwo").unwrap();
        let out = drain::<LineSource>(&config(&path, false), b"", 10).unwrap();
        assert_eq!(texts(&out.lines), ["one", "two"]);
    }

    #[test]
    fn a_truncated_file_restarts_from_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let mut source: LineSource = open(&config(&path, true), b"").unwrap();
        let out = drain_open(&mut source, b"", 10).unwrap();
        assert_eq!(out.lines.len(), 3);
        fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap().write_all(b"new\n").unwrap();
        let again = drain_open(&mut source, &out.checkpoint, 10).unwrap();
        assert_eq!(texts(&again.lines), ["new"]);
        assert_eq!(again.lines[0].offset(), format!("{}@0", path.to_string_lossy()));
    }

    #[cfg(unix)]
    #[test]
    fn a_renamed_file_keeps_its_offset_and_a_new_file_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("app.log");
        fs::write(&live, "a\nb\n").unwrap();
        let pattern = dir.path().join("app.log*");
        let mut source: LineSource = open(&config(&pattern, true), b"").unwrap();
        let out = drain_open(&mut source, b"", 10).unwrap();
        assert_eq!(texts(&out.lines), ["a", "b"]);
        // Rotation: the old file moves away with a last line appended, a new one takes its name.
        append(&live, "c\n");
        fs::rename(&live, dir.path().join("app.log.1")).unwrap();
        fs::write(&live, "d\n").unwrap();
        let after = drain_open(&mut source, &out.checkpoint, 10).unwrap();
        assert_eq!(texts(&after.lines), ["d", "c"]);
        // The same from a fresh process that only has the checkpoint.
        let fresh = drain::<LineSource>(&config(&pattern, true), &out.checkpoint, 10).unwrap();
        assert_eq!(texts(&fresh.lines), ["d", "c"]);
    }

    #[test]
    fn max_records_continues_across_files_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.txt"), "b1\nb2\n").unwrap();
        fs::write(dir.path().join("a.txt"), "a1\na2\n").unwrap();
        fs::write(dir.path().join("c.log"), "c1\n").unwrap();
        let params = json!({"path": dir.path().to_string_lossy(), "extension": "txt"});
        let mut source: LineSource = open(&params, b"").unwrap();
        let first = source.poll(3, b"").unwrap();
        assert_eq!(texts(&crate::testing::parse_batch(&first).unwrap()), ["a1", "a2", "b1"]);
        let rest = drain_open(&mut source, &first.checkpoint, 3).unwrap();
        assert_eq!(texts(&rest.lines), ["b2"]);
        assert_eq!(rest.progress, (12, 12));
    }

    #[test]
    fn new_files_appear_in_follow_mode_and_an_empty_glob_is_caught_up() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("*.txt");
        let mut source: LineSource = open(&config(&pattern, true), b"").unwrap();
        let empty = source.poll(10, b"").unwrap();
        assert!(empty.caught_up);
        assert_eq!((empty.records, empty.progress), (0, (0, 0)));
        fs::write(dir.path().join("x.txt"), "x\n").unwrap();
        let out = drain_open(&mut source, &empty.checkpoint, 10).unwrap();
        assert_eq!(texts(&out.lines), ["x"]);
    }

    #[test]
    fn missing_inputs_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = open::<LineSource>(&config(&dir.path().join("*.txt"), false), b"").unwrap_err();
        assert_eq!(err, format!("no files match {}", dir.path().join("*.txt").to_string_lossy()));
        let err = open::<LineSource>(&config(&dir.path().join("nope.txt"), true), b"").unwrap_err();
        assert!(err.contains("nope.txt"), "{err}");
        let err = open::<LineSource>(&config(dir.path(), false), b"").unwrap_err();
        assert!(err.starts_with("no files match"), "{err}");
        let err = open::<LineSource>(&config(&dir.path().join("a.txt"), false), b"{\"v\":1}").unwrap_err();
        assert!(err.contains("a.txt") || err.contains("checkpoint"), "{err}");
    }

    #[test]
    fn a_file_deleted_while_open_makes_poll_fail_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "a\n").unwrap();
        let mut source: LineSource = open(&config(&path, false), b"").unwrap();
        fs::remove_file(&path).unwrap();
        let err = source.poll(10, b"").unwrap_err();
        assert!(err.contains("a.txt"), "{err}");
    }

    #[test]
    fn readers_of_finished_files_are_closed_unless_following() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..12 {
            fs::write(dir.path().join(format!("{i:02}.txt")), "x\n").unwrap();
        }
        let mut source: LineSource = open(&config(dir.path(), false), b"").unwrap();
        drain_open(&mut source, b"", 100).unwrap();
        assert_eq!(source.open_readers(), 0);
        let mut following: LineSource = open(&config(dir.path(), true), b"").unwrap();
        drain_open(&mut following, b"", 100).unwrap();
        assert_eq!(following.open_readers(), MAX_OPEN_READERS);
    }

    /// A broken format that never consumes anything.
    #[derive(Debug)]
    struct Stuck;

    impl RecordFormat for Stuck {
        type FileState = ();

        fn from_config(config: &[u8]) -> Result<(FileParams, Self), String> {
            Ok((crate::parse_params("stuck", config, &[])?, Stuck))
        }
        fn read_record(&mut self, _file: &FileCtx, _state: &mut (), _reader: &mut FileReader, _batch: &mut Batch) -> Result<Step, String> {
            Ok(Step::Consumed { terminated: true })
        }
    }

    #[test]
    fn a_format_that_makes_no_progress_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "a\n").unwrap();
        let err = drain::<FileSource<Stuck>>(&config(&path, false), b"", 10).unwrap_err();
        assert!(err.contains("no progress"), "{err}");
    }
}
