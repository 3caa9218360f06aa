//! Shared machinery for file-reading Agora source plugins: file sets, tailing, checkpoints.
//!
//! A plugin supplies a [`RecordFormat`] — "parse your params" and "read one record from this
//! reader, tell me whether it was terminated" (plus, optionally, some per-file state such as a
//! CSV header) — and gets a complete [`SourcePlugin`](agora_plugin_api::SourcePlugin) as
//! [`FileSource<Format>`]:
//!
//! ```ignore
//! pub type CsvSource = FileSource<CsvFormat>;
//! agora_plugin_api::export_source! { plugin: CsvSource, name: "csv", ... }
//! ```
//!
//! The kit owns the rest:
//! - **File sets** ([`FileSet`]): `path` is a file, a directory (its regular files, in name order,
//!   optionally filtered by `extension`) or a glob; it is listed again on every poll so new files
//!   appear in `follow` mode.
//! - **Checkpoints** ([`Checkpoint`]): per file, its identity (device + inode on unix) and byte
//!   offset. A renamed file keeps its offset; a file now shorter than its offset restarts at 0.
//! - **Reader reuse** ([`FileReader`]): each file's 256 KiB buffered reader stays open across
//!   polls and is reused without a seek when the checkpoint is where it stopped.
//! - **Tailing**: with `follow`, a last record without its terminator is rolled back and retried
//!   once the writer finishes it; without `follow` it is read at end of file.
//! - **Locators**: every line carries `<path>@<byte offset of the record>`.
//! - **Per-file state**: a format's `FileState` is kept by file identity and dropped when the
//!   file is truncated or disappears.
//!
//! [`testing`] drives a plugin in unit tests.

pub mod batch;
pub mod checkpoint;
pub mod context;
pub mod files;
pub mod params;
pub mod reader;
pub mod source;
pub mod testing;

pub use batch::{Batch, Mark};
pub use checkpoint::{Checkpoint, FilePosition, CHECKPOINT_VERSION};
pub use context::{push_decimal, FileCtx, Locator};
pub use files::{FileKey, FileSet, ListedFile};
pub use params::{parse_params, FileParams};
pub use reader::{FileReader, BUFFER_CAPACITY};
pub use source::{FileSource, RecordFormat, Step, MAX_OPEN_READERS};
