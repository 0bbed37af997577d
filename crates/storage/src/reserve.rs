//! [`Reserver`]: the background thread that keeps reserved space ahead of busy shards' appends
//! (design §7).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::{ShardLog, StorageError};

/// Runs [`ShardLog::reserve`] for the shards whose appends ask for it, one at a time, on its
/// own thread, so that neither the zeros nor their sync delay an acknowledgement. Dropping it
/// waits for the shards already handed over.
pub struct Reserver {
    tx: Option<mpsc::Sender<Arc<ShardLog>>>,
    thread: Option<JoinHandle<()>>,
}

impl Reserver {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Reserver> {
        let (tx, rx) = mpsc::channel::<Arc<ShardLog>>();
        let thread = std::thread::Builder::new()
            .name("cairn-reserve".into())
            .spawn(move || {
                for log in rx {
                    match log.reserve() {
                        // A failed shard refuses appends already; the error that failed it was
                        // logged when it happened.
                        Ok(()) | Err(StorageError::Failed) => {}
                        Err(e) => tracing::debug!(shard = %log.dir().display(), error = %e,
                            "reserving space failed"),
                    }
                }
            })?;
        Ok(Reserver {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Call after an append to `log` has been acknowledged: hands the shard to the thread if
    /// the append asked for more reserved space.
    pub fn after_append(&self, log: &Arc<ShardLog>) {
        if log.take_reserve_request() {
            if let Some(tx) = &self.tx {
                // Only fails if the thread is gone; appends then grow the file as without
                // reserved space.
                let _ = tx.send(log.clone());
            }
        }
    }
}

impl Drop for Reserver {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
