//! The one rule for paths the kit reads a whole file from or writes a file to: they must be
//! regular files (or, for writing, not exist yet).
//!
//! A model path that is a FIFO blocks forever on open; `/dev/zero` reads until memory runs out;
//! writing through a temporary file and renaming it over `/dev/full` replaces the device node
//! with a regular file. None of these is a mistake anyone means to make, so each is refused
//! with a message naming what the path is.
//!
//! ```
//! use anomaly_kit::files::{FileKind, kind_of};
//! let dir = std::env::temp_dir();
//! assert_eq!(kind_of(&dir).unwrap(), Some(FileKind::Directory));
//! assert_eq!(kind_of(&dir.join("surely-not-here-4f1c")).unwrap(), None);
//! # #[cfg(unix)]
//! assert_eq!(kind_of(std::path::Path::new("/dev/null")).unwrap(), Some(FileKind::CharacterDevice));
//! ```

use std::fs::FileType;
use std::path::{Path, PathBuf};

/// What a path names, as far as the kit cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file: the only kind the kit reads a whole model from or writes over.
    Regular,
    /// A directory.
    Directory,
    /// A named pipe: opening it blocks until a writer appears.
    Fifo,
    /// A character device such as `/dev/zero` or `/dev/full`.
    CharacterDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else the platform has.
    Other,
}

impl FileKind {
    fn of(t: FileType) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                return FileKind::Fifo;
            }
            if t.is_char_device() {
                return FileKind::CharacterDevice;
            }
            if t.is_block_device() {
                return FileKind::BlockDevice;
            }
            if t.is_socket() {
                return FileKind::Socket;
            }
        }
        if t.is_file() {
            FileKind::Regular
        } else if t.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Fifo => "named pipe (FIFO)",
            FileKind::CharacterDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Socket => "socket",
            FileKind::Other => "special file",
        })
    }
}

/// What `path` names (following symbolic links), or `None` if nothing is there.
pub fn kind_of(path: &Path) -> std::io::Result<Option<FileKind>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(FileKind::of(m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A path that names something other than a regular file where one is meant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path} is a {kind}, not a regular file{advice}")]
pub struct NotRegularFile {
    /// The path.
    pub path: PathBuf,
    /// What it is instead.
    pub kind: FileKind,
    /// How to fix it, starting with "; " (or empty).
    pub advice: &'static str,
}

/// `Ok` if `path` is a regular file or does not exist (nothing would be replaced but a file).
pub fn writable_as_file(path: &Path) -> std::io::Result<Result<(), NotRegularFile>> {
    Ok(match kind_of(path)? {
        None | Some(FileKind::Regular) => Ok(()),
        Some(kind) => Err(NotRegularFile {
            path: path.into(),
            kind,
            advice: "; the kit only writes regular files (name a new file or a directory)",
        }),
    })
}

/// `Ok(true)` if `path` is a regular file, `Ok(false)` if nothing is there.
pub fn readable_as_file(path: &Path) -> std::io::Result<Result<bool, NotRegularFile>> {
    Ok(match kind_of(path)? {
        None => Ok(false),
        Some(FileKind::Regular) => Ok(true),
        Some(kind) => Err(NotRegularFile {
            path: path.into(),
            kind,
            advice: "; a model is read from a regular file (or a directory holding model.json)",
        }),
    })
}

/// [`writable_as_file`] as one `io::Result`, for writers whose errors are I/O errors: a path that
/// is a FIFO (whose open would block) or a device is an `InvalidInput` error naming what it is.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    writable_as_file(path)?
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
}
