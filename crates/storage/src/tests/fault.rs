//! A file system for tests: the real one underneath, plus injected I/O errors and a model of
//! what a power loss would leave on disk.
//!
//! The model follows design §7: bytes covered by a completed sync survive; of what was written
//! after the last sync, any suffix may be missing, zeroed or partly written (where such writes
//! went over synced bytes, as over reserved space, the synced bytes stay under what is missing;
//! a file is never shorter than it was at its last sync). A directory's
//! entries survive as of its last sync. [`FaultFs::crash_image`] writes such an image into
//! another directory, where recovery is run on it like on any shard.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::io::{FileIo, FileRef, Fs, RealFs};

/// Faults to inject and the durable image so far.
#[derive(Default)]
pub struct FaultState {
    /// Writes fail with EIO.
    pub fail_writes: AtomicBool,
    /// File and directory syncs fail with EIO.
    pub fail_syncs: AtomicBool,
    /// Creating files fails with EIO.
    pub fail_creates: AtomicBool,
    /// The disk is full: a write that extends a file lands partly (what fits within the file's
    /// length and half of the rest) and fails with ENOSPC.
    pub disk_full: AtomicBool,
    /// The process is out of descriptors: creating or opening files fails with EMFILE.
    pub out_of_fds: AtomicBool,
    /// Syncs fail with EMFILE, as a file whose descriptor the pool closed and cannot reopen.
    pub syncs_out_of_fds: AtomicBool,
    /// Syncs allowed before every later one fails (the disk "dies" at that sync).
    sync_budget: AtomicU64,
    syncs: AtomicU64,
    /// Completed `sync_data` calls (group commits and seals).
    pub data_syncs: AtomicU64,
    /// Held by a test to stop every `sync_data` before it starts.
    pub sync_gate: Mutex<()>,
    durable: Mutex<Durable>,
}

#[derive(Default)]
struct Durable {
    files: HashMap<PathBuf, Vec<u8>>,
    dirs: HashMap<PathBuf, BTreeSet<OsString>>,
}

fn eio() -> io::Error {
    io::Error::other("injected I/O error")
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

fn emfile() -> io::Error {
    io::Error::from_raw_os_error(libc::EMFILE)
}

impl FaultState {
    fn sync_allowed(&self) -> bool {
        if self.fail_syncs.load(Ordering::SeqCst) {
            return false;
        }
        self.syncs.fetch_add(1, Ordering::SeqCst) < self.sync_budget.load(Ordering::SeqCst)
    }
}

/// What becomes of the unsynced suffix of each file in a crash image.
#[derive(Debug, Clone, Copy)]
pub enum Tear {
    /// Lost entirely: only synced bytes.
    Lost,
    /// Kept entirely (a process crash: the page cache survives).
    Kept,
    /// The first `n` per mille of it kept.
    Prefix(u64),
    /// The first `n` per mille of it kept as zeros (space allocated, data never written).
    Zeroed(u64),
}

/// The fault-injecting file system.
#[derive(Clone)]
pub struct FaultFs {
    /// Shared state; flip its flags to inject faults.
    pub state: Arc<FaultState>,
    /// The file system underneath.
    inner: Arc<dyn Fs>,
}

impl FaultFs {
    /// A file system without faults over the real one.
    pub fn new() -> Self {
        Self::over(Arc::new(RealFs))
    }

    /// A file system without faults over `inner`.
    pub fn over(inner: Arc<dyn Fs>) -> Self {
        let state = FaultState::default();
        state.sync_budget.store(u64::MAX, Ordering::SeqCst);
        Self {
            state: Arc::new(state),
            inner,
        }
    }

    /// Lets `n` more syncs succeed, then fails every later one.
    pub fn die_after_syncs(&self, n: u64) {
        let done = self.state.syncs.load(Ordering::SeqCst);
        self.state.sync_budget.store(done + n, Ordering::SeqCst);
    }

    /// Writes into `dest` what a crash would leave of the directory `dir`.
    pub fn crash_image(&self, dir: &Path, dest: &Path, tear: Tear) {
        std::fs::create_dir_all(dest).unwrap();
        let d = self.state.durable.lock();
        let Some(names) = d.dirs.get(dir) else { return };
        for name in names {
            let path = dir.join(name);
            let synced = d.files.get(&path).cloned().unwrap_or_default();
            let real = std::fs::read(&path).unwrap_or_default();
            // Synced bytes never change; the unsynced suffix starts where the two differ.
            let common = synced
                .iter()
                .zip(real.iter())
                .take_while(|(a, b)| a == b)
                .count();
            let unsynced = &real[common..];
            let part = |per_mille: u64| (unsynced.len() as u64 * per_mille / 1000) as usize;
            // What reached the disk of the unsynced writes lies over the synced bytes: within
            // the synced length (writes over reserved space) the rest stays as synced, past it
            // the file ends.
            let kept = match tear {
                Tear::Kept => {
                    std::fs::write(dest.join(name), &real).unwrap();
                    continue;
                }
                Tear::Lost => Vec::new(),
                Tear::Prefix(p) => unsynced[..part(p)].to_vec(),
                Tear::Zeroed(p) => vec![0; part(p)],
            };
            let mut image = synced.clone();
            let end = common + kept.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[common..end].copy_from_slice(&kept);
            std::fs::write(dest.join(name), &image).unwrap();
        }
    }
}

struct FaultFile {
    inner: FileRef,
    path: PathBuf,
    state: Arc<FaultState>,
}

impl FaultFile {
    fn record_durable(&self) -> io::Result<()> {
        let mut d = self.state.durable.lock();
        let bytes = std::fs::read(&self.path)?;
        d.files.insert(self.path.clone(), bytes);
        Ok(())
    }
}

impl FileIo for FaultFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        if self.state.fail_writes.load(Ordering::SeqCst) {
            return Err(eio());
        }
        if self.state.disk_full.load(Ordering::SeqCst) {
            let size = self.inner.size()?;
            if pos + buf.len() as u64 > size {
                let fits = size.saturating_sub(pos).min(buf.len() as u64) as usize;
                let landed = fits + (buf.len() - fits) / 2;
                self.inner.write_all_at(&buf[..landed], pos)?;
                return Err(enospc());
            }
        }
        self.inner.write_at(buf, pos)
    }
    fn sync_data(&self) -> io::Result<()> {
        drop(self.state.sync_gate.lock());
        if self.state.syncs_out_of_fds.load(Ordering::SeqCst) {
            return Err(emfile());
        }
        if !self.state.sync_allowed() {
            return Err(eio());
        }
        self.inner.sync_data()?;
        self.state.data_syncs.fetch_add(1, Ordering::SeqCst);
        self.record_durable()
    }
    fn sync_all(&self) -> io::Result<()> {
        if !self.state.sync_allowed() {
            return Err(eio());
        }
        self.inner.sync_all()?;
        self.record_durable()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl FaultFs {
    fn wrap(&self, inner: FileRef, path: &Path) -> FileRef {
        Arc::new(FaultFile {
            inner,
            path: path.to_path_buf(),
            state: self.state.clone(),
        })
    }
}

impl FaultFs {
    fn check_create(&self) -> io::Result<()> {
        if self.state.fail_creates.load(Ordering::SeqCst) {
            return Err(eio());
        }
        if self.state.out_of_fds.load(Ordering::SeqCst) {
            return Err(emfile());
        }
        Ok(())
    }
}

impl Fs for FaultFs {
    fn open(&self, path: &Path, write: bool) -> io::Result<FileRef> {
        if self.state.out_of_fds.load(Ordering::SeqCst) {
            return Err(emfile());
        }
        Ok(self.wrap(self.inner.open(path, write)?, path))
    }
    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        self.check_create()?;
        Ok(self.wrap(self.inner.create_new(path)?, path))
    }
    fn create_truncate(&self, path: &Path) -> io::Result<FileRef> {
        self.check_create()?;
        Ok(self.wrap(self.inner.create_truncate(path)?, path))
    }
    fn create_derived(&self, path: &Path) -> io::Result<FileRef> {
        self.check_create()?;
        Ok(self.wrap(self.inner.create_derived(path)?, path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)?;
        let mut d = self.state.durable.lock();
        if let Some(bytes) = d.files.remove(from) {
            d.files.insert(to.to_path_buf(), bytes);
        }
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if !self.state.sync_allowed() {
            return Err(eio());
        }
        self.inner.sync_dir(dir)?;
        let names = self.inner.list_dir(dir)?.into_iter().collect();
        self.state
            .durable
            .lock()
            .dirs
            .insert(dir.to_path_buf(), names);
        Ok(())
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.inner.list_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()> {
        if self.state.fail_creates.load(Ordering::SeqCst) {
            return Err(eio());
        }
        self.inner.hard_link(original, link)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        self.inner.len(path)
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)
    }
}
