//! The file-system operations the storage engine uses, behind two small traits.
//!
//! Every byte the engine reads or writes goes through [`Fs`] and [`FileIo`], so tests can put a
//! layer underneath that injects I/O errors or freezes what counts as durable at some sync and
//! builds the image a crash would leave. Production uses [`RealFs`], a thin wrapper over
//! `std::fs` with positional reads and writes (no shared file offset, so readers and the writer
//! never contend on one).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// One open file, read and written at explicit positions.
pub trait FileIo: Send + Sync {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `pos`; returns how many were written.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize>;
    /// Makes written data (and the size, if it changed) durable: `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// Makes data and all metadata durable: `fsync`.
    fn sync_all(&self) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current length of the file in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Fills `buf` from `pos`, failing with `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, pos) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ends before the requested range",
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes all of `buf` at `pos`.
    fn write_all_at(&self, mut buf: &[u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, pos) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    buf = &buf[n..];
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Shared handle to an open file.
pub type FileRef = Arc<dyn FileIo>;

/// Directory-level operations.
pub trait Fs: Send + Sync {
    /// Opens an existing file, for reading and, with `write`, writing.
    fn open(&self, path: &Path, write: bool) -> io::Result<FileRef>;
    /// Creates a file that must not exist yet, open for reading and writing.
    fn create_new(&self, path: &Path) -> io::Result<FileRef>;
    /// Creates a file or truncates an existing one, open for reading and writing.
    fn create_truncate(&self, path: &Path) -> io::Result<FileRef>;
    /// Creates or truncates a file that holds derived data (an index, rebuilt from the log at
    /// recovery), open for reading and writing. A file system may treat its unsynced writes as
    /// expendable ([`crate::PooledFs`] may close it before they are synced).
    fn create_derived(&self, path: &Path) -> io::Result<FileRef> {
        self.create_truncate(path)
    }
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries of `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Creates `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Makes `link` a second name of the file `original`.
    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Length of the file at `path`, without opening it.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Removes `dir` and everything below it.
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

struct RealFile(File);

impl FileIo for RealFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        self.0.write_at(buf, pos)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Fs for RealFs {
    fn open(&self, path: &Path, write: bool) -> io::Result<FileRef> {
        let f = OpenOptions::new().read(true).write(write).open(path)?;
        Ok(Arc::new(RealFile(f)))
    }
    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(RealFile(f)))
    }
    fn create_truncate(&self, path: &Path) -> io::Result<FileRef> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(RealFile(f)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()> {
        std::fs::hard_link(original, link)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = RealFs.create_new(&path).unwrap();
        assert!(
            RealFs.create_new(&path).is_err(),
            "create_new refuses an existing file"
        );
        f.write_all_at(b"hello world", 0).unwrap();
        f.write_all_at(b"W", 6).unwrap();
        let mut b = [0u8; 5];
        f.read_exact_at(&mut b, 6).unwrap();
        assert_eq!(&b, b"World");
        assert_eq!(f.size().unwrap(), 11);
        let err = f.read_exact_at(&mut b, 9).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        f.set_len(3).unwrap();
        assert_eq!(f.size().unwrap(), 3);
        f.sync_all().unwrap();
        RealFs.sync_dir(dir.path()).unwrap();
        assert_eq!(
            RealFs.list_dir(dir.path()).unwrap(),
            vec![OsString::from("f")]
        );
    }
}
