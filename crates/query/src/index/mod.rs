//! Per-segment indexes (design §18.6): an inverted index and column values for each segment
//! of a shard log, built by tantivy from the logs, which stay the source of truth.

pub mod layout;
pub mod plan;
pub mod read;
pub mod store;

pub use layout::Layout;
pub use plan::{plan, Plan};
pub use read::{Hits, SortKey};
pub use store::{Block, Coverage, SegmentIndex, Unusable, View};

#[cfg(test)]
mod tests;
