//! [`PooledFs`]: the operating system's file system with a bound on open descriptors (design §7).
//!
//! Every file opened through it is a [`PooledFile`]: a path plus, while it has one, an open
//! descriptor. When opening a file would take the pool past its capacity, descriptors of other
//! files are closed first, least recently used first (a clock sweep); a closed file reopens its
//! path on its next use. So a server with ten thousand shards holds descriptors only for the files
//! in use, however many shards exist.
//!
//! A descriptor is closed only when nothing can be lost by closing it:
//!
//! - no operation is running on it (each operation holds a clone of the descriptor while it runs);
//! - every write through it has been covered by a successful sync since. A writeback error that no
//!   descriptor has seen can vanish with the inode once no descriptor is open, and an `fsync`
//!   through a new descriptor would then succeed over data that never reached the disk. Files
//!   created with [`Fs::create_derived`] (indexes, rebuilt from the log at recovery) are exempt;
//! - its name has not been removed (it could not be reopened).
//!
//! A file whose descriptor cannot be reopened (`EMFILE`, `NotFound`, …) fails that one operation
//! with the error of the open.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::io::{FileIo, FileRef, Fs, RealFs};

/// Fewest descriptors a pool is given, whatever it is asked for.
const MIN_CAPACITY: usize = 8;

/// The real file system, holding at most a fixed number of descriptors open for the files it
/// opened (plus one per operation running at that moment). Cloning shares the pool.
#[derive(Clone)]
pub struct PooledFs {
    pool: Arc<Pool>,
}

struct Pool {
    capacity: usize,
    /// Files that hold a descriptor now.
    open: AtomicUsize,
    registry: Mutex<Registry>,
}

/// Every file of the pool, for the clock sweep.
struct Registry {
    files: Vec<Weak<Slot>>,
    hand: usize,
    /// Length at which dead entries are dropped next.
    compact_at: usize,
}

/// One pooled file.
struct Slot {
    path: Mutex<PathBuf>,
    write: bool,
    /// Holds derived data: may be closed with writes not yet synced.
    derived: bool,
    fd: Mutex<Option<Arc<File>>>,
    /// Used since the sweep last passed it.
    used: AtomicBool,
    /// Completed writes (and truncations).
    written: AtomicU64,
    /// `written` as read before the start of the last successful sync.
    synced: AtomicU64,
    /// Its name was removed: never closed again, since it could not be reopened.
    removed: AtomicBool,
    pool: Arc<Pool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.fd.get_mut().take().is_some() {
            self.pool.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl Pool {
    /// Opens `path` with `opts`, closing other files' descriptors first if the pool is full, and
    /// once more (as many as can be closed) if the system says it is out of descriptors.
    fn open_counted(&self, path: &Path, opts: &OpenOptions) -> io::Result<File> {
        self.make_room(self.capacity);
        let file = match opts.open(path) {
            Err(e) if out_of_descriptors(&e) => {
                self.make_room(self.capacity / 2);
                opts.open(path)?
            }
            other => other?,
        };
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(file)
    }

    /// Closes descriptors of files not in use, least recently used first, until fewer than
    /// `below` are open or every file has been looked at twice.
    fn make_room(&self, below: usize) {
        if self.open.load(Ordering::Acquire) < below {
            return;
        }
        let mut reg = self.registry.lock();
        let mut looked = 0;
        let budget = 2 * reg.files.len();
        while self.open.load(Ordering::Acquire) >= below && looked < budget {
            if reg.files.is_empty() {
                break;
            }
            let i = reg.hand % reg.files.len();
            let Some(slot) = reg.files[i].upgrade() else {
                reg.files.swap_remove(i);
                continue;
            };
            reg.hand = i + 1;
            looked += 1;
            if slot.used.swap(false, Ordering::AcqRel) {
                continue;
            }
            slot.try_close();
        }
    }

    fn register(self: &Arc<Self>, slot: &Arc<Slot>) {
        let mut reg = self.registry.lock();
        if reg.files.len() >= reg.compact_at {
            reg.files.retain(|w| w.strong_count() > 0);
            reg.compact_at = (2 * reg.files.len()).max(1024);
        }
        reg.files.push(Arc::downgrade(slot));
    }

    /// Live files whose path is `path`.
    fn slots_at(&self, path: &Path) -> Vec<Arc<Slot>> {
        self.slots_where(|p| p == path)
    }

    /// Live files below the directory `dir`.
    fn slots_under(&self, dir: &Path) -> Vec<Arc<Slot>> {
        self.slots_where(|p| p.starts_with(dir))
    }

    fn slots_where(&self, keep: impl Fn(&Path) -> bool) -> Vec<Arc<Slot>> {
        let reg = self.registry.lock();
        reg.files
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| keep(&s.path.lock()))
            .collect()
    }
}

impl Slot {
    /// Closes the descriptor if nothing can be lost by closing it (see the module docs).
    fn try_close(&self) -> bool {
        let Some(mut fd) = self.fd.try_lock() else {
            return false;
        };
        let Some(file) = fd.as_ref() else {
            return false;
        };
        let clean = self.derived
            || self.written.load(Ordering::Acquire) == self.synced.load(Ordering::Acquire);
        if Arc::strong_count(file) > 1 || !clean || self.removed.load(Ordering::Acquire) {
            return false;
        }
        *fd = None;
        self.pool.open.fetch_sub(1, Ordering::AcqRel);
        true
    }
}

/// A file of a [`PooledFs`].
pub struct PooledFile(Arc<Slot>);

impl PooledFile {
    /// The descriptor, reopened if the pool closed it. The caller holds the clone for the
    /// duration of one operation, which keeps the descriptor open meanwhile.
    fn fd(&self) -> io::Result<Arc<File>> {
        let slot = &self.0;
        slot.used.store(true, Ordering::Release);
        let mut fd = slot.fd.lock();
        if let Some(f) = fd.as_ref() {
            return Ok(f.clone());
        }
        let path = slot.path.lock().clone();
        let file = Arc::new(
            slot.pool
                .open_counted(&path, OpenOptions::new().read(true).write(slot.write))?,
        );
        *fd = Some(file.clone());
        Ok(file)
    }
}

impl FileIo for PooledFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.fd()?.read_at(buf, pos)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        let fd = self.fd()?;
        let r = fd.write_at(buf, pos);
        // Counted even when it failed: part of it may have reached the page cache.
        self.0.written.fetch_add(1, Ordering::AcqRel);
        r
    }

    fn sync_data(&self) -> io::Result<()> {
        let fd = self.fd()?;
        let written = self.0.written.load(Ordering::Acquire);
        fd.sync_data()?;
        self.0.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        let fd = self.fd()?;
        let written = self.0.written.load(Ordering::Acquire);
        fd.sync_all()?;
        self.0.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let fd = self.fd()?;
        let r = fd.set_len(len);
        self.0.written.fetch_add(1, Ordering::AcqRel);
        r
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.fd()?.metadata()?.len())
    }
}

impl PooledFs {
    /// A pool holding at most `capacity` descriptors (at least 8).
    pub fn new(capacity: usize) -> Self {
        Self {
            pool: Arc::new(Pool {
                capacity: capacity.max(MIN_CAPACITY),
                open: AtomicUsize::new(0),
                registry: Mutex::new(Registry {
                    files: Vec::new(),
                    hand: 0,
                    compact_at: 1024,
                }),
            }),
        }
    }

    /// The most descriptors it keeps open.
    pub fn capacity(&self) -> usize {
        self.pool.capacity
    }

    /// Descriptors open now.
    pub fn open_files(&self) -> usize {
        self.pool.open.load(Ordering::Acquire)
    }

    /// Whether a file opened at `path` holds a descriptor now.
    #[cfg(test)]
    pub(crate) fn is_open(&self, path: &Path) -> bool {
        self.pool
            .slots_at(path)
            .iter()
            .any(|s| s.fd.lock().is_some())
    }

    fn file(
        &self,
        path: &Path,
        opts: &OpenOptions,
        write: bool,
        derived: bool,
    ) -> io::Result<FileRef> {
        let file = self.pool.open_counted(path, opts)?;
        let slot = Arc::new(Slot {
            path: Mutex::new(path.to_path_buf()),
            write,
            derived,
            fd: Mutex::new(Some(Arc::new(file))),
            used: AtomicBool::new(true),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            pool: self.pool.clone(),
        });
        self.pool.register(&slot);
        Ok(Arc::new(PooledFile(slot)))
    }
}

impl Fs for PooledFs {
    fn open(&self, path: &Path, write: bool) -> io::Result<FileRef> {
        self.file(
            path,
            OpenOptions::new().read(true).write(write),
            write,
            false,
        )
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        self.file(path, &opts, true, false)
    }

    fn create_truncate(&self, path: &Path) -> io::Result<FileRef> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(true);
        self.file(path, &opts, true, false)
    }

    fn create_derived(&self, path: &Path) -> io::Result<FileRef> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(true);
        self.file(path, &opts, true, true)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)?;
        for slot in self.pool.slots_at(from) {
            *slot.path.lock() = to.to_path_buf();
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        for slot in self.pool.slots_at(path) {
            slot.removed.store(true, Ordering::Release);
        }
        RealFs.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        RealFs.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }

    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()> {
        RealFs.hard_link(original, link)
    }

    fn is_dir(&self, path: &Path) -> bool {
        RealFs.is_dir(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        RealFs.len(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        for slot in self.pool.slots_under(dir) {
            slot.removed.store(true, Ordering::Release);
        }
        RealFs.remove_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_stay_within_capacity_and_files_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fs = PooledFs::new(8);
        let files: Vec<FileRef> = (0..40)
            .map(|i| {
                let f = fs.create_new(&dir.path().join(format!("f{i}"))).unwrap();
                f.write_all_at(format!("file {i}").as_bytes(), 0).unwrap();
                f.sync_data().unwrap();
                f
            })
            .collect();
        assert!(fs.open_files() <= 8, "{} open", fs.open_files());
        for (i, f) in files.iter().enumerate() {
            let mut b = vec![0u8; format!("file {i}").len()];
            f.read_exact_at(&mut b, 0).unwrap();
            assert_eq!(
                b,
                format!("file {i}").as_bytes(),
                "reopened without truncation"
            );
            assert!(fs.open_files() <= 8);
        }
        drop(files);
        assert_eq!(fs.open_files(), 0, "dropping a file closes its descriptor");
    }

    #[test]
    fn files_with_unsynced_writes_keep_their_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let fs = PooledFs::new(8);
        let dirty = fs.create_new(&dir.path().join("dirty")).unwrap();
        dirty.write_all_at(b"not yet synced", 0).unwrap();
        let index = fs.create_derived(&dir.path().join("x.idx")).unwrap();
        index.write_all_at(b"derived", 0).unwrap();
        let others: Vec<FileRef> = (0..30)
            .map(|i| fs.create_new(&dir.path().join(format!("o{i}"))).unwrap())
            .collect();
        assert!(
            fs.is_open(&dir.path().join("dirty")),
            "unsynced writes keep it open"
        );
        assert!(
            !fs.is_open(&dir.path().join("x.idx")),
            "an index may close with unsynced entries"
        );
        // The pool's own count: the process's descriptors also move with the tests that run
        // beside this one.
        assert!(fs.open_files() <= 8, "{} open", fs.open_files());
        dirty.sync_data().unwrap();
        drop(others);
        let _more: Vec<FileRef> = (0..30)
            .map(|i| fs.create_new(&dir.path().join(format!("m{i}"))).unwrap())
            .collect();
        assert!(
            !fs.is_open(&dir.path().join("dirty")),
            "synced: it may close now"
        );
        let mut b = [0u8; 7];
        index.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"derived");
    }

    #[test]
    fn removed_and_renamed_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = PooledFs::new(8);
        let a = fs.create_new(&dir.path().join("a")).unwrap();
        a.write_all_at(b"aaaa", 0).unwrap();
        a.sync_data().unwrap();
        fs.rename(&dir.path().join("a"), &dir.path().join("b"))
            .unwrap();
        let gone = fs.create_new(&dir.path().join("gone")).unwrap();
        gone.write_all_at(b"gone", 0).unwrap();
        gone.sync_data().unwrap();
        fs.remove_file(&dir.path().join("gone")).unwrap();
        let _others: Vec<FileRef> = (0..30)
            .map(|i| fs.create_new(&dir.path().join(format!("o{i}"))).unwrap())
            .collect();
        let mut b = [0u8; 4];
        a.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"aaaa", "reopened under its new name");
        gone.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"gone", "a removed file keeps its descriptor");
    }
}
