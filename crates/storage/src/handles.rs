//! A small cache of open sealed-segment files.
//!
//! Sealed segments are opened on demand so that a shard with many segments holds only a few
//! descriptors (Cairn runs a thousand shards in one process). Consumers mostly read near the
//! tail, so a couple of recently used segments per shard cover nearly every read. A reader
//! holds the `Arc` while it reads, so eviction or retention never closes a file under it.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::io::FileRef;

/// The open files of one sealed segment.
pub struct SealedFiles {
    /// The segment file, read-only.
    pub log: FileRef,
    /// Its index file and number of entries, if it could be opened and its header and length
    /// are sound (checked once, when opened).
    pub index: Option<(FileRef, usize)>,
}

/// Most recently used sealed segments of one shard, by base cursor.
pub struct HandleCache {
    capacity: usize,
    /// Least recently used first.
    slots: Mutex<Vec<(u64, Arc<SealedFiles>)>>,
}

impl HandleCache {
    /// A cache holding at most `capacity` segments.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// The files of segment `base`, opened with `open` on a miss. Opening happens outside the
    /// lock so a slow open does not hold up readers of other segments.
    pub fn get_or_open<E>(
        &self,
        base: u64,
        open: impl FnOnce() -> Result<SealedFiles, E>,
    ) -> Result<Arc<SealedFiles>, E> {
        if let Some(f) = self.get(base) {
            return Ok(f);
        }
        let files = Arc::new(open()?);
        self.insert(base, files.clone());
        Ok(files)
    }

    fn get(&self, base: u64) -> Option<Arc<SealedFiles>> {
        let mut slots = self.slots.lock();
        let i = slots.iter().position(|(b, _)| *b == base)?;
        let slot = slots.remove(i);
        let files = slot.1.clone();
        slots.push(slot);
        Some(files)
    }

    /// Puts the files of segment `base` in the cache (replacing any), evicting the least
    /// recently used beyond capacity.
    pub fn insert(&self, base: u64, files: Arc<SealedFiles>) {
        let mut slots = self.slots.lock();
        slots.retain(|(b, _)| *b != base);
        slots.push((base, files));
        while slots.len() > self.capacity {
            slots.remove(0);
        }
    }

    /// Forgets segment `base` (it is being deleted).
    pub fn remove(&self, base: u64) {
        self.slots.lock().retain(|(b, _)| *b != base);
    }

    /// Base cursors cached, least recently used first.
    #[cfg(test)]
    pub fn cached(&self) -> Vec<u64> {
        self.slots.lock().iter().map(|(b, _)| *b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Fs, RealFs};

    #[test]
    fn keeps_the_most_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let opens = std::cell::Cell::new(0);
        let open = || -> Result<SealedFiles, std::io::Error> {
            opens.set(opens.get() + 1);
            Ok(SealedFiles {
                log: RealFs.open(&p, false)?,
                index: None,
            })
        };
        let c = HandleCache::new(2);
        c.get_or_open(1, open).unwrap();
        c.get_or_open(2, open).unwrap();
        c.get_or_open(1, open).unwrap();
        assert_eq!(opens.get(), 2);
        assert_eq!(c.cached(), vec![2, 1]);
        let held = c.get_or_open(3, open).unwrap();
        assert_eq!(c.cached(), vec![1, 3], "2 was least recently used");
        c.remove(3);
        assert_eq!(c.cached(), vec![1]);
        // A handle taken before eviction stays usable.
        let mut b = [0u8; 1];
        held.log.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"x");
        let e = c.get_or_open(9, || Err::<SealedFiles, _>("no such file"));
        assert!(e.is_err());
        assert_eq!(c.cached(), vec![1]);
    }
}
