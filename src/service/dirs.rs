//! Directories under the data dir and the intents that account for them (design §2).
//!
//! Every directory under `shards/` and `backups/` is named by the metadata (live) or claimed by
//! a directory intent. Operations that create directories claim them first ([`Service::claim`])
//! and settle the claim in the commit that names them; operations that delete directories
//! record a `delete` intent in the commit that drops the records, then remove the directories
//! ([`Service::remove_claimed`]). At start, [`settle`] removes exactly the claimed directories
//! that no record names and refuses to start on any directory that is neither.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Result, Service};
use crate::meta::{Intent, IntentRec, MetaOp};

/// Key (path relative to the data dir) of a logstore's directory.
pub(super) fn logstore_key(uid: &str) -> String {
    format!("shards/{uid}")
}

/// Key of a shard's directory.
pub(super) fn shard_key(uid: &str, shard: u32) -> String {
    format!("shards/{uid}/{shard}")
}

/// Key of a backup checkpoint's pin directory.
pub(super) fn backup_key(id: &str) -> String {
    format!("backups/{id}")
}

/// Whether `key` is a directory key this module makes: `shards/<id>`, `shards/<id>/<n>` or
/// `backups/<id>`, with ids of lowercase hex and shard numbers of digits, so that an intent can
/// never name anything outside those directories.
fn well_formed(key: &str) -> bool {
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match key.split('/').collect::<Vec<_>>().as_slice() {
        ["shards", uid] | ["backups", uid] => id(uid),
        ["shards", uid, shard] => id(uid) && num(shard),
        _ => false,
    }
}

/// Removes a directory and everything in it; a missing one counts as removed.
fn remove_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn intent(intent: Intent, at_ms: u64) -> IntentRec {
    IntentRec { intent, at_ms }
}

/// Directories about to be created, claimed in the metadata. Settle it with
/// [`Claim::settle_ops`] in the commit that names the directories, then [`Claim::settled`];
/// dropped unsettled (the operation failed), it removes the directories and, for those removed,
/// their intents.
pub(super) struct Claim<'a> {
    svc: &'a Service,
    keys: Vec<String>,
    settled: bool,
}

impl Claim<'_> {
    /// The ops that remove the claim, for the commit that names its directories.
    pub(super) fn settle_ops(&self) -> impl Iterator<Item = MetaOp> + '_ {
        self.keys.iter().cloned().map(MetaOp::DeleteIntent)
    }

    /// The commit that names the directories succeeded.
    pub(super) fn settled(mut self) {
        self.settled = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.svc.remove_claimed(std::mem::take(&mut self.keys));
        }
    }
}

impl Service {
    /// The directory a key names.
    pub(super) fn dir_of(&self, key: &str) -> PathBuf {
        self.data_dir.join(key)
    }

    /// Commits `create` intents for the directories `keys` before they are made.
    pub(super) fn claim(&self, keys: Vec<String>) -> Result<Claim<'_>> {
        let at = self.clock.wall_millis();
        let ops = keys
            .iter()
            .map(|k| MetaOp::PutIntent(k.clone(), intent(Intent::Create, at)))
            .collect();
        self.meta.submit(ops).wait()?;
        Ok(Claim {
            svc: self,
            keys,
            settled: false,
        })
    }

    /// The ops that record `delete` intents for `keys`, for the commit that drops the records
    /// naming them; after it, call [`Service::remove_claimed`].
    pub(super) fn delete_intents(&self, keys: &[String]) -> Vec<MetaOp> {
        let at = self.clock.wall_millis();
        keys.iter()
            .map(|k| MetaOp::PutIntent(k.clone(), intent(Intent::Delete, at)))
            .collect()
    }

    /// Removes claimed directories and then the intents of those removed. A directory that
    /// cannot be removed keeps its intent, so the next start removes it.
    pub(super) fn remove_claimed(&self, keys: Vec<String>) {
        let mut done = Vec::new();
        for key in keys {
            let dir = self.dir_of(&key);
            match remove_dir(&dir) {
                Ok(()) => done.push(MetaOp::DeleteIntent(key)),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e,
                        "could not remove a directory; the next start removes it")
                }
            }
        }
        if !done.is_empty() {
            // Not waited for: an intent whose directory is gone is simply dropped at start.
            drop(self.meta.submit(done));
        }
    }
}

/// Settles the directory intents at start and checks that every directory under `shards/` and
/// `backups/` of `data_dir` is accounted for (design §2). `live` holds the keys the metadata
/// names. Returns the ops that drop the settled intents. Refuses (with every unaccounted
/// directory named) rather than remove anything else.
pub(super) fn settle(
    data_dir: &Path,
    live: &HashSet<String>,
    intents: &[(String, IntentRec)],
) -> anyhow::Result<Vec<MetaOp>> {
    for (key, _) in intents {
        if !well_formed(key) {
            anyhow::bail!("the metadata holds a directory intent for {key:?}, which is not a directory Cairn makes; the metadata file is damaged");
        }
    }
    let claimed: HashSet<&str> = intents.iter().map(|(k, _)| k.as_str()).collect();
    let accounted = |key: &str| live.contains(key) || claimed.contains(key);
    let mut unaccounted = Vec::new();
    for top in ["shards", "backups"] {
        for name in dir_names(&data_dir.join(top))? {
            let key = format!("{top}/{name}");
            if !accounted(&key) {
                unaccounted.push(data_dir.join(&key));
                continue;
            }
            if top == "shards" && live.contains(&key) {
                for shard in dir_names(&data_dir.join(&key))? {
                    let key = format!("{key}/{shard}");
                    if !accounted(&key) {
                        unaccounted.push(data_dir.join(&key));
                    }
                }
            }
        }
    }
    if !unaccounted.is_empty() {
        let shown: Vec<String> = unaccounted
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let more = unaccounted.len().saturating_sub(shown.len());
        anyhow::bail!(
            "refusing to start: {} director{} under {} hold{} data that the metadata does not account for: {}{}. \
             They may belong to another copy of meta.redb (restored from an older backup?). Cairn never removes \
             data it cannot account for: restore the meta.redb that goes with them, or move them out of the \
             data dir to start without them.",
            unaccounted.len(),
            if unaccounted.len() == 1 { "y" } else { "ies" },
            data_dir.display(),
            if unaccounted.len() == 1 { "s" } else { "" },
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() },
        );
    }
    let mut ops = Vec::new();
    for (key, rec) in intents {
        if !live.contains(key) {
            let dir = data_dir.join(key);
            if dir.exists() {
                let what = match rec.intent {
                    Intent::Create => "created by an operation that never committed",
                    Intent::Delete => "left by a delete that did not finish",
                };
                tracing::info!(dir = %dir.display(), "removing a directory {what}");
            }
            remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        ops.push(MetaOp::DeleteIntent(key.clone()));
    }
    Ok(ops)
}

/// Names of the directories in `dir` (none if it does not exist). Other entries are left alone
/// with a warning: they are not data of Cairn's.
fn dir_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(name);
        } else {
            tracing::warn!(path = %entry.path().display(), "ignoring a file that Cairn did not make");
        }
    }
    names.sort();
    Ok(names)
}

/// Whether any of `dirs` holds an entry.
pub fn any_entries(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_cairn_directories_are_well_formed() {
        for ok in ["shards/0a1b", "shards/0a1b/3", "backups/ff00"] {
            assert!(well_formed(ok), "{ok}");
        }
        for bad in [
            "shards",
            "shards/",
            "shards/../x",
            "shards/ab/../../etc",
            "backups/ab/1",
            "shards/ab/x",
            "/etc",
            "other/ab",
            "shards/AB G",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn settling_removes_only_claimed_directories_and_refuses_unaccounted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for k in [
            "shards/aa/0",
            "shards/aa/1",
            "shards/bb/0",
            "backups/cc",
            "backups/dd",
        ] {
            std::fs::create_dir_all(d.join(k)).unwrap();
        }
        let live: HashSet<String> = ["shards/aa", "shards/aa/0", "backups/cc"]
            .into_iter()
            .map(String::from)
            .collect();
        let claim = |k: &str, i| (k.to_string(), intent(i, 1));
        let intents = vec![
            claim("shards/aa/1", Intent::Delete),
            claim("shards/bb", Intent::Create),
            claim("backups/cc", Intent::Create),
        ];
        // backups/dd is neither live nor claimed.
        let err = settle(d, &live, &intents).unwrap_err().to_string();
        assert!(
            err.contains("backups/dd") && err.contains("refusing to start"),
            "{err}"
        );
        assert!(d.join("backups/dd").exists(), "never removed");
        assert!(
            d.join("shards/bb").exists(),
            "nothing is removed while anything is unaccounted for"
        );
        std::fs::remove_dir_all(d.join("backups/dd")).unwrap();
        let ops = settle(d, &live, &intents).unwrap();
        assert_eq!(ops.len(), 3, "every intent is dropped once settled");
        assert!(!d.join("shards/bb").exists() && !d.join("shards/aa/1").exists());
        assert!(d.join("shards/aa/0").exists() && d.join("backups/cc").exists());
    }
}
