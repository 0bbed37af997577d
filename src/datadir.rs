//! The data directory as a whole: created private, held by one server at a time, and checked
//! for metadata before anything in it is touched (design §2).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the metadata file.
pub const META_FILE: &str = "meta.redb";

/// The data dir, held exclusively until dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the data dir if needed (mode 0700, parents as needed) and takes its lock. Fails
    /// with a message naming the other process when another server holds it.
    pub fn lock(path: &Path) -> anyhow::Result<Self> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("creating data dir {}", path.display()))?;
        let lock_path = path.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        // SAFETY: flock on a descriptor this function owns; it does not touch memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another Cairn process".to_string()
                } else {
                    format!("another Cairn process (pid {holder})")
                };
                anyhow::bail!(
                    "{who} is using the data dir {}: only one server may use a data dir at a time",
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("locking {}", lock_path.display()));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self {
            path: path.to_path_buf(),
            _lock: file,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the metadata file can be used (design §2): a missing or empty `meta.redb` is
    /// refused when shard or backup directories exist; an empty one in a data dir without data
    /// is removed so that a new store is created.
    pub fn check_metadata(&self) -> anyhow::Result<PathBuf> {
        let meta = self.path.join(META_FILE);
        let len = match std::fs::metadata(&meta) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", meta.display())),
        };
        if len.is_some_and(|l| l > 0) {
            return Ok(meta);
        }
        let data = [self.path.join("shards"), self.path.join("backups")];
        if any_entries(&data) {
            let state = if len.is_none() { "missing" } else { "empty" };
            anyhow::bail!(
                "refusing to start: the data dir {} holds shard or backup data, but its metadata file {} is {state}. \
                 Without it Cairn cannot tell which data belongs to which logstore, and starts nothing rather than \
                 guess. Restore {META_FILE} from a backup of the data dir, or move {} and {} aside to start empty.",
                self.path.display(),
                meta.display(),
                data[0].display(),
                data[1].display()
            );
        }
        if len == Some(0) {
            std::fs::remove_file(&meta)
                .with_context(|| format!("removing empty {}", meta.display()))?;
        }
        Ok(meta)
    }
}

/// Whether any of `dirs` holds an entry.
fn any_entries(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let held = DataDir::lock(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data dir is private");
        let err = DataDir::lock(&path).unwrap_err().to_string();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        assert!(err.contains("another Cairn process"), "{err}");
        drop(held);
        DataDir::lock(&path).unwrap();
    }

    #[test]
    fn missing_or_empty_metadata_is_refused_only_when_there_is_data() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::lock(dir.path()).unwrap();
        d.check_metadata().unwrap();
        std::fs::write(dir.path().join(META_FILE), b"").unwrap();
        d.check_metadata().unwrap();
        assert!(
            !dir.path().join(META_FILE).exists(),
            "an empty file without data is replaced"
        );
        std::fs::create_dir_all(dir.path().join("shards/0123/0")).unwrap();
        let err = d.check_metadata().unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains(META_FILE), "{err}");
        std::fs::write(dir.path().join(META_FILE), b"").unwrap();
        let err = d.check_metadata().unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        assert!(dir.path().join("shards/0123/0").exists());
    }
}
