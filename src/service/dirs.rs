//! Directories under the data dir and the intents that account for them (design §2).
//!
//! Every directory the store makes is named by the metadata (live) or claimed by a directory
//! intent. Operations that create directories claim them first ([`Service::claim`]) and settle
//! the claim in the commit that names them; operations that delete directories record a
//! `delete` intent in the commit that drops the records, then remove the directories
//! ([`Service::remove_claimed`]). At start, [`settle`] has the store remove exactly the claimed
//! directories that no record names, and refuses to start on any directory that is neither.

use std::collections::HashSet;
use std::path::Path;

use cairn_storage::{DirKey, ShardStore, Sweep};

use super::{Result, Service};
use crate::meta::{Intent, IntentRec, MetaOp};

fn intent(intent: Intent, at_ms: u64) -> IntentRec {
    IntentRec { intent, at_ms }
}

/// Directories about to be created, claimed in the metadata. Settle it with
/// [`Claim::settle_ops`] in the commit that names the directories, then [`Claim::settled`];
/// dropped unsettled (the operation failed), it removes the directories and, for those removed,
/// their intents.
pub(super) struct Claim<'a> {
    svc: &'a Service,
    keys: Vec<DirKey>,
    settled: bool,
}

impl Claim<'_> {
    /// The ops that remove the claim, for the commit that names its directories.
    pub(super) fn settle_ops(&self) -> impl Iterator<Item = MetaOp> + '_ {
        self.keys
            .iter()
            .map(|k| MetaOp::DeleteIntent(k.to_string()))
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
    /// Commits `create` intents for the directories `keys` before they are made.
    pub(super) fn claim(&self, keys: Vec<DirKey>) -> Result<Claim<'_>> {
        let at = self.clock.wall_millis();
        let ops = keys
            .iter()
            .map(|k| MetaOp::PutIntent(k.to_string(), intent(Intent::Create, at)))
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
    pub(super) fn delete_intents(&self, keys: &[DirKey]) -> Vec<MetaOp> {
        let at = self.clock.wall_millis();
        keys.iter()
            .map(|k| MetaOp::PutIntent(k.to_string(), intent(Intent::Delete, at)))
            .collect()
    }

    /// Removes claimed directories and then the intents of those removed. A directory that
    /// cannot be removed keeps its intent, so the next start removes it.
    pub(super) fn remove_claimed(&self, keys: Vec<DirKey>) {
        let mut done = Vec::new();
        for key in keys {
            match self.store.remove(&key) {
                Ok(()) => done.push(MetaOp::DeleteIntent(key.to_string())),
                Err(e) => {
                    tracing::warn!(dir = %key, error = %e,
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

/// Settles the directory intents at start and checks that every directory of the store is
/// accounted for (design §2). `live` holds the directories the metadata names. Returns the ops
/// that drop the settled intents. Refuses (with every unaccounted directory named) rather than
/// remove anything else.
pub(super) fn settle(
    store: &ShardStore,
    data_dir: &Path,
    live: &HashSet<DirKey>,
    intents: &[(String, IntentRec)],
) -> anyhow::Result<Vec<MetaOp>> {
    let mut claimed = HashSet::new();
    for (key, _) in intents {
        let Some(k) = DirKey::parse(key) else {
            anyhow::bail!("the metadata holds a directory intent for {key:?}, which is not a directory Cairn makes; the metadata file is damaged");
        };
        claimed.insert(k);
    }
    if let Sweep::Unaccounted(dirs) = store.sweep(live, &claimed)? {
        let shown: Vec<String> = dirs
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let more = dirs.len().saturating_sub(shown.len());
        anyhow::bail!(
            "refusing to start: {} director{} under {} hold{} data that the metadata does not account for: {}{}. \
             They may belong to another copy of meta.redb (restored from an older backup?). Cairn never removes \
             data it cannot account for: restore the meta.redb that goes with them, or move them out of the \
             data dir to start without them.",
            dirs.len(),
            if dirs.len() == 1 { "y" } else { "ies" },
            data_dir.display(),
            if dirs.len() == 1 { "s" } else { "" },
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        );
    }
    Ok(intents
        .iter()
        .map(|(k, _)| MetaOp::DeleteIntent(k.clone()))
        .collect())
}
