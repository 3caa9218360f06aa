//! Which files a `path` parameter names right now, and how a file is recognised across renames.

use std::fs::{self, File, Metadata};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::params::FileParams;

/// The identity of a file: device and inode on unix (stable across renames), the path elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileKey {
    /// A unix file, by device and inode number.
    Inode { dev: u64, ino: u64 },
    /// A file on a platform without inodes, by path.
    Path(PathBuf),
}

impl FileKey {
    /// The identity of the file at `path` whose metadata is `meta`.
    #[cfg(unix)]
    pub fn of(_path: &Path, meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self::Inode { dev: meta.dev(), ino: meta.ino() }
    }

    /// The identity of the file at `path` whose metadata is `meta`.
    #[cfg(not(unix))]
    pub fn of(path: &Path, _meta: &Metadata) -> Self {
        Self::Path(path.to_path_buf())
    }

    /// The identity stored in a checkpoint entry (`dev`/`ino` are 0 where there are no inodes).
    #[cfg(unix)]
    pub fn from_checkpoint(_path: &str, dev: u64, ino: u64) -> Self {
        Self::Inode { dev, ino }
    }

    /// The identity stored in a checkpoint entry (`dev`/`ino` are 0 where there are no inodes).
    #[cfg(not(unix))]
    pub fn from_checkpoint(path: &str, _dev: u64, _ino: u64) -> Self {
        Self::Path(PathBuf::from(path))
    }

    /// `(dev, ino)` for the checkpoint; `(0, 0)` for path identities.
    pub fn dev_ino(&self) -> (u64, u64) {
        match self {
            Self::Inode { dev, ino } => (*dev, *ino),
            Self::Path(_) => (0, 0),
        }
    }
}

/// One file of the set, as listed at the start of a poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFile {
    pub path: PathBuf,
    pub key: FileKey,
    /// Size in bytes when listed.
    pub size: u64,
}

/// What the `path` parameter turned out to name when the source was opened.
#[derive(Clone, Debug)]
enum Target {
    File(PathBuf),
    Dir(PathBuf),
    Glob(String),
}

/// The files a source reads: one file, a directory's regular files or a glob's matches.
#[derive(Clone, Debug)]
pub struct FileSet {
    target: Target,
    /// The extension filter without its dot.
    extension: Option<String>,
    /// The `path` parameter as given, for messages.
    shown: String,
}

impl FileSet {
    /// Resolves `params.path`: an existing directory, an existing file (which must be readable),
    /// or else a glob pattern if it has `*`, `?` or `[`.
    ///
    /// # Errors
    /// A message naming the path when it does not exist, cannot be read or is a bad pattern.
    pub fn new(params: &FileParams) -> Result<Self, String> {
        let shown = params.path.clone();
        let path = Path::new(&params.path);
        let target = match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Target::Dir(path.to_path_buf()),
            Ok(_) => {
                File::open(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
                Target::File(path.to_path_buf())
            }
            Err(_) if shown.contains(['*', '?', '[']) => {
                glob::Pattern::new(&shown).map_err(|err| format!("bad glob pattern {shown}: {err}"))?;
                Target::Glob(shown.clone())
            }
            Err(err) => return Err(format!("cannot read {shown}: {err}")),
        };
        let extension = params.extension.as_ref().map(|ext| ext.trim_start_matches('.').to_string());
        Ok(Self { target, extension, shown })
    }

    /// The `path` parameter as given.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether this set is a single named file (which must exist) rather than a directory or glob.
    pub fn is_single_file(&self) -> bool {
        matches!(self.target, Target::File(_))
    }

    /// The error for a directory or glob with nothing in it (and no `follow`).
    pub fn no_match_error(&self) -> String {
        format!("no files match {}", self.shown)
    }

    /// Lists the files now, sorted by path.
    ///
    /// # Errors
    /// A message naming the path that could not be read or listed.
    pub fn list(&self) -> Result<Vec<ListedFile>, String> {
        let mut files = match &self.target {
            Target::File(path) => {
                let meta = fs::metadata(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                vec![ListedFile { key: FileKey::of(path, &meta), size: meta.len(), path: path.clone() }]
            }
            Target::Dir(dir) => self.list_dir(dir)?,
            Target::Glob(pattern) => self.list_glob(pattern)?,
        };
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<ListedFile>, String> {
        let cannot_list = |err: std::io::Error| format!("cannot list {}: {err}", dir.display());
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(cannot_list)? {
            if let Some(file) = self.regular_file(entry.map_err(cannot_list)?.path())? {
                files.push(file);
            }
        }
        Ok(files)
    }

    fn list_glob(&self, pattern: &str) -> Result<Vec<ListedFile>, String> {
        let paths = glob::glob(pattern).map_err(|err| format!("bad glob pattern {pattern}: {err}"))?;
        let mut files = Vec::new();
        for path in paths {
            let path = path.map_err(|err| format!("cannot list {}: {}", err.path().display(), err.error()))?;
            if let Some(file) = self.regular_file(path)? {
                files.push(file);
            }
        }
        Ok(files)
    }

    /// The listed file at `path` if it is a regular file (links followed) with the right
    /// extension; `None` for anything else, including a file deleted since it was listed.
    fn regular_file(&self, path: PathBuf) -> Result<Option<ListedFile>, String> {
        if let Some(wanted) = &self.extension {
            let matches = path.extension().and_then(|ext| ext.to_str()).is_some_and(|ext| ext.eq_ignore_ascii_case(wanted));
            if !matches {
                return Ok(None);
            }
        }
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(ListedFile { key: FileKey::of(&path, &meta), size: meta.len(), path })),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(path: &Path) -> FileParams {
        FileParams { path: path.to_string_lossy().into_owned(), extension: None, follow: false }
    }

    fn names(files: &[ListedFile]) -> Vec<String> {
        files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn a_directory_lists_its_regular_files_by_name_filtered_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", "c.txt", "D.CSV"] {
            fs::write(dir.path().join(name), "x\n").unwrap();
        }
        fs::create_dir(dir.path().join("sub.csv")).unwrap();
        let set = FileSet::new(&params(dir.path())).unwrap();
        assert_eq!(names(&set.list().unwrap()), ["D.CSV", "a.csv", "b.csv", "c.txt"]);
        let mut with_ext = params(dir.path());
        with_ext.extension = Some(".csv".into());
        let set = FileSet::new(&with_ext).unwrap();
        assert_eq!(names(&set.list().unwrap()), ["D.CSV", "a.csv", "b.csv"]);
    }

    #[test]
    fn a_glob_lists_matches_and_sees_new_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("2.csv"), "x\n").unwrap();
        let set = FileSet::new(&params(&dir.path().join("*.csv"))).unwrap();
        assert_eq!(names(&set.list().unwrap()), ["2.csv"]);
        fs::write(dir.path().join("1.csv"), "x\n").unwrap();
        assert_eq!(names(&set.list().unwrap()), ["1.csv", "2.csv"]);
        assert_eq!(set.list().unwrap()[0].size, 2);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        let err = FileSet::new(&params(&missing)).unwrap_err();
        assert!(err.contains("nope.csv"), "{err}");
    }

    #[test]
    fn a_file_deleted_after_open_is_an_error_at_list_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        fs::write(&path, "x\n").unwrap();
        let set = FileSet::new(&params(&path)).unwrap();
        assert!(set.is_single_file());
        fs::remove_file(&path).unwrap();
        assert!(set.list().unwrap_err().contains("a.csv"));
    }

    #[cfg(unix)]
    #[test]
    fn identity_survives_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("a.log");
        fs::write(&before, "x\n").unwrap();
        let key = FileKey::of(&before, &fs::metadata(&before).unwrap());
        let after = dir.path().join("b.log");
        fs::rename(&before, &after).unwrap();
        assert_eq!(FileKey::of(&after, &fs::metadata(&after).unwrap()), key);
    }
}
