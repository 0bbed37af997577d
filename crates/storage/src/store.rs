//! [`ShardStore`]: the storage engine over a whole data directory (design §1, §2).
//!
//! The store owns the layout below the data dir — `shards/<logstore-uid>/<shard-id>/` for shard
//! logs, `backups/<checkpoint-id>/<shard-id>/` for the pins of backup checkpoints — and every
//! file operation on it goes through its [`Fs`]. Callers name things by ids ([`DirKey`],
//! logstore uids, shard ids, checkpoint ids), never by paths, so that another implementation
//! (object storage for sealed segments) or per-segment derived data (query indexes) can sit
//! behind the same calls.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backup::{pinned_intact, restore_pinned, CutPoint, PinnedSegment};
use crate::io::Fs;
use crate::io_at;
use crate::record::Encoding;
use crate::{Appended, HybridClock, LogConfig, Reserver, ShardLog, StorageError};

/// A directory the store makes, named by ids (design §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirKey {
    /// `shards/<uid>`: every shard of a logstore.
    Logstore(String),
    /// `shards/<uid>/<shard>`: one shard log.
    Shard(String, u32),
    /// `backups/<id>`: the pins of a backup checkpoint.
    Pins(String),
}

/// Whether `s` can be an id of a directory the store makes: lowercase hex digits.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl DirKey {
    /// Parses a key as [`fmt::Display`] writes it: `shards/<uid>`, `shards/<uid>/<shard>` or
    /// `backups/<id>`, ids of lowercase hex and shard ids of decimal digits. Anything else —
    /// in particular anything that could name a path outside those directories — is `None`.
    pub fn parse(key: &str) -> Option<DirKey> {
        let num = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        match key.split('/').collect::<Vec<_>>().as_slice() {
            ["shards", uid] if is_id(uid) => Some(DirKey::Logstore(uid.to_string())),
            ["shards", uid, shard] if is_id(uid) => {
                Some(DirKey::Shard(uid.to_string(), num(shard)?))
            }
            ["backups", id] if is_id(id) => Some(DirKey::Pins(id.to_string())),
            _ => None,
        }
    }

    /// The path of this directory relative to the data dir.
    fn relative(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }
}

impl fmt::Display for DirKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirKey::Logstore(uid) => write!(f, "shards/{uid}"),
            DirKey::Shard(uid, shard) => write!(f, "shards/{uid}/{shard}"),
            DirKey::Pins(id) => write!(f, "backups/{id}"),
        }
    }
}

/// What [`ShardStore::sweep`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Every directory is live or claimed; the claimed ones that are not live were removed.
    Settled,
    /// These directories are neither live nor claimed; nothing was removed.
    Unaccounted(Vec<PathBuf>),
}

/// Every shard log and backup pin below one data directory.
pub struct ShardStore {
    root: PathBuf,
    fs: Arc<dyn Fs>,
    cfg: LogConfig,
    clock: Arc<HybridClock>,
    reserver: Reserver,
}

impl ShardStore {
    /// The store over `root` (the data dir), creating `shards/` and `backups/` if needed. Shard
    /// logs are opened through `fs` with `cfg`, stamped by `clock`.
    pub fn open(
        root: &Path,
        fs: Arc<dyn Fs>,
        cfg: LogConfig,
        clock: Arc<HybridClock>,
    ) -> Result<ShardStore, StorageError> {
        for top in ["shards", "backups"] {
            let dir = root.join(top);
            if !fs.exists(&dir) {
                fs.create_dir_all(&dir).map_err(io_at(&dir))?;
                fs.sync_dir(root).map_err(io_at(root))?;
            }
        }
        let reserver = Reserver::start().map_err(io_at(root))?;
        Ok(ShardStore {
            root: root.to_path_buf(),
            fs,
            cfg,
            clock,
            reserver,
        })
    }

    /// The settings every shard log gets.
    pub fn config(&self) -> &LogConfig {
        &self.cfg
    }

    /// Where derived data lives (query indexes, design §18.6): `indexes/` under the data dir.
    /// It is not held to this store's rules: it is rebuilt from the shard logs, whoever builds
    /// it may remove any of it, and it is never a reason to refuse start-up.
    pub fn derived_root(&self) -> PathBuf {
        self.root.join("indexes")
    }

    fn path(&self, key: &DirKey) -> PathBuf {
        self.root.join(key.relative())
    }

    fn shard_path(&self, uid: &str, shard: u32) -> PathBuf {
        self.path(&DirKey::Shard(uid.to_string(), shard))
    }

    fn pins_path(&self, checkpoint: &str, shard: u32) -> PathBuf {
        self.path(&DirKey::Pins(checkpoint.to_string()))
            .join(shard.to_string())
    }

    /// A new, empty shard log whose first cursor is `begin`; fails if one exists there.
    pub fn create_shard(
        &self,
        uid: &str,
        shard: u32,
        begin: u64,
    ) -> Result<ShardLog, StorageError> {
        ShardLog::create_at_with_fs(
            self.fs.clone(),
            &self.shard_path(uid, shard),
            self.cfg.clone(),
            self.clock.clone(),
            begin,
        )
    }

    /// Opens (recovering, design §8) an existing shard log; a missing one, or one without any
    /// segment, is [`StorageError::Corrupt`].
    pub fn open_shard(&self, uid: &str, shard: u32) -> Result<ShardLog, StorageError> {
        ShardLog::open_existing_with_fs(
            self.fs.clone(),
            &self.shard_path(uid, shard),
            self.cfg.clone(),
            self.clock.clone(),
        )
    }

    /// Appends one record of `encoding` made of `parts` and returns once it is durable per the
    /// fsync policy (design §7), handing the shard to the reserved-space thread if it asked for
    /// more.
    pub fn append_durable(
        &self,
        log: &Arc<ShardLog>,
        encoding: Encoding,
        parts: &[&[u8]],
    ) -> Result<Appended, StorageError> {
        let appended = log.append_as(encoding, parts)?;
        log.wait_durable(&appended)?;
        self.reserver.after_append(log);
        Ok(appended)
    }

    /// Makes shard `shard`'s part of a cut durable and pins it for checkpoint `checkpoint`
    /// (design §13): hard links, nothing copied.
    pub fn pin(
        &self,
        checkpoint: &str,
        shard: u32,
        log: &ShardLog,
        cut: &CutPoint,
    ) -> Result<Vec<PinnedSegment>, StorageError> {
        log.make_durable(cut)?;
        log.pin(cut, &self.pins_path(checkpoint, shard))
    }

    /// Whether every file checkpoint `checkpoint` pinned for shard `shard` is present and long
    /// enough.
    pub fn pins_intact(&self, checkpoint: &str, shard: u32, segments: &[PinnedSegment]) -> bool {
        pinned_intact(&*self.fs, &self.pins_path(checkpoint, shard), segments)
    }

    /// Builds shard `shard` of the logstore with uid `uid` from what checkpoint `checkpoint`
    /// pinned of it (design §13), or an empty log starting at `next` when it pinned nothing,
    /// and opens it.
    pub fn restore_shard(
        &self,
        checkpoint: &str,
        shard: u32,
        segments: &[PinnedSegment],
        uid: &str,
        next: u64,
    ) -> Result<ShardLog, StorageError> {
        if segments.is_empty() {
            return self.create_shard(uid, shard, next);
        }
        restore_pinned(
            &*self.fs,
            &self.pins_path(checkpoint, shard),
            segments,
            &self.shard_path(uid, shard),
        )?;
        self.open_shard(uid, shard)
    }

    /// Removes a directory and everything in it; a missing one counts as removed.
    pub fn remove(&self, key: &DirKey) -> Result<(), StorageError> {
        let path = self.path(key);
        match self.fs.remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_at(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Whether a directory exists.
    pub fn exists(&self, key: &DirKey) -> bool {
        self.fs.exists(&self.path(key))
    }

    /// Directories under `dir`; other entries are left alone with a warning.
    fn subdirs(&self, dir: &Path) -> Result<Vec<String>, StorageError> {
        if !self.fs.exists(dir) {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for name in self.fs.list_dir(dir).map_err(io_at(dir))? {
            let path = dir.join(&name);
            if self.fs.is_dir(&path) {
                names.push(name.to_string_lossy().into_owned());
            } else {
                tracing::warn!(path = %path.display(), "ignoring a file that Cairn did not make");
            }
        }
        names.sort();
        Ok(names)
    }

    /// Accounts for every directory against the metadata (design §2): each is `live` (named by
    /// a record) or `claimed` (named by an intent); the shards of a live logstore are looked at
    /// one by one. When every directory is accounted for, the claimed ones that are not live are
    /// removed ([`Sweep::Settled`]); otherwise nothing is removed and the others are listed.
    pub fn sweep(
        &self,
        live: &HashSet<DirKey>,
        claimed: &HashSet<DirKey>,
    ) -> Result<Sweep, StorageError> {
        let accounted = |k: &DirKey| live.contains(k) || claimed.contains(k);
        let mut unaccounted = Vec::new();
        for top in ["shards", "backups"] {
            for name in self.subdirs(&self.root.join(top))? {
                let key = DirKey::parse(&format!("{top}/{name}"));
                let Some(key) = key.filter(|k| accounted(k)) else {
                    unaccounted.push(self.root.join(top).join(&name));
                    continue;
                };
                // The shards of a live logstore are accounted for one by one; a claimed one
                // goes as a whole.
                if !matches!(key, DirKey::Logstore(_)) || !live.contains(&key) {
                    continue;
                }
                for shard in self.subdirs(&self.path(&key))? {
                    let k = DirKey::parse(&format!("{key}/{shard}"));
                    if !k.as_ref().is_some_and(&accounted) {
                        unaccounted.push(self.path(&key).join(&shard));
                    }
                }
            }
        }
        if !unaccounted.is_empty() {
            return Ok(Sweep::Unaccounted(unaccounted));
        }
        for key in claimed.iter().filter(|k| !live.contains(k)) {
            if self.exists(key) {
                tracing::info!(dir = %self.path(key).display(),
                    "removing a directory that its metadata records as created and never committed, or deleted");
            }
            self.remove(key)?;
        }
        Ok(Sweep::Settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RealFs;
    use crate::SystemClock;

    #[test]
    fn keys_name_only_the_directories_the_store_makes() {
        for (text, key) in [
            ("shards/0a1b", DirKey::Logstore("0a1b".into())),
            ("shards/0a1b/3", DirKey::Shard("0a1b".into(), 3)),
            ("backups/ff00", DirKey::Pins("ff00".into())),
        ] {
            assert_eq!(DirKey::parse(text), Some(key.clone()), "{text}");
            assert_eq!(key.to_string(), text);
        }
        for bad in [
            "shards",
            "shards/",
            "shards/../x",
            "shards/ab/../../etc",
            "backups/ab/1",
            "shards/ab/x",
            "shards/ab/99999999999",
            "/etc",
            "other/ab",
            "shards/AB",
            "shards/ab g",
        ] {
            assert_eq!(DirKey::parse(bad), None, "{bad}");
        }
    }

    fn store(root: &Path) -> ShardStore {
        ShardStore::open(
            root,
            Arc::new(RealFs),
            LogConfig::default(),
            Arc::new(HybridClock::new(Arc::new(SystemClock))),
        )
        .unwrap()
    }

    fn keys(v: &[&str]) -> HashSet<DirKey> {
        v.iter().map(|k| DirKey::parse(k).unwrap()).collect()
    }

    #[test]
    fn a_sweep_removes_only_claimed_directories_and_refuses_unaccounted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let s = store(d);
        for k in [
            "shards/aa/0",
            "shards/aa/1",
            "shards/bb/0",
            "backups/cc",
            "backups/dd",
        ] {
            std::fs::create_dir_all(d.join(k)).unwrap();
        }
        let live = keys(&["shards/aa", "shards/aa/0", "backups/cc"]);
        let claimed = keys(&["shards/aa/1", "shards/bb", "backups/cc"]);
        // backups/dd is neither live nor claimed.
        assert_eq!(
            s.sweep(&live, &claimed).unwrap(),
            Sweep::Unaccounted(vec![d.join("backups/dd")])
        );
        assert!(d.join("backups/dd").exists(), "never removed");
        assert!(
            d.join("shards/bb").exists() && d.join("shards/aa/1").exists(),
            "nothing is removed while anything is unaccounted for"
        );
        std::fs::remove_dir_all(d.join("backups/dd")).unwrap();
        std::fs::create_dir_all(d.join("shards/Not-Hex")).unwrap();
        assert_eq!(
            s.sweep(&live, &claimed).unwrap(),
            Sweep::Unaccounted(vec![d.join("shards/Not-Hex")])
        );
        std::fs::remove_dir_all(d.join("shards/Not-Hex")).unwrap();
        assert_eq!(s.sweep(&live, &claimed).unwrap(), Sweep::Settled);
        assert!(!d.join("shards/bb").exists() && !d.join("shards/aa/1").exists());
        assert!(d.join("shards/aa/0").exists() && d.join("backups/cc").exists());
    }
}
