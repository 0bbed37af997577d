//! Cairn: a self-hosted log service that speaks the Alibaba Cloud Log Service (SLS) API.
//!
//! Map of the crate (formats and rules are in `docs/design.md`):
//! - [`config`] — the TOML configuration and its defaults;
//! - [`datadir`] — the data directory: its lock and the metadata file check;
//! - [`excerpt`] — client input quoted in error messages, cut short;
//! - [`keys`] — access keys (root key from the environment or generated);
//! - [`meta`] — the transactional metadata store (projects, logstores, shards);
//! - [`service`] — one method per API operation, over metadata and shard logs;
//! - [`http`] — the HTTP edge: SLS routes, signatures, wire errors;
//! - [`server`] — start-up: open everything, run background tasks, serve, shut down.
//!
//! The storage engine (`cairn-storage`), the SLS wire formats (`cairn-proto`) and request
//! authentication (`cairn-auth`) are crates of their own in this workspace.

pub mod config;
pub mod datadir;
pub mod excerpt;
pub mod http;
pub mod keys;
pub mod meta;
pub mod server;
pub mod service;

#[cfg(test)]
mod tests;
