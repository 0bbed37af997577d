//! Server configuration: a TOML file (every key optional, see `cairn.example.toml`) overridden by
//! command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP listener binds: `host:port`, `[v6]:port` or `:port` (see [`parse_listen`]).
    pub listen: String,
    /// Directory holding all data.
    pub data_dir: PathBuf,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// SLS API settings.
    pub sls: SlsConfig,
    /// Storage engine settings.
    pub storage: StorageConfig,
    /// Backup checkpoint settings.
    pub backup: BackupConfig,
    /// HTTP connection and request limits.
    pub http: HttpConfig,
    /// Query budgets.
    pub query: QueryConfig,
}

/// `[query]` (design §18.5).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Milliseconds one query may run.
    pub time_budget_ms: u64,
    /// Bytes one query may hold: the logs it matched and its analytic statement's state.
    pub memory_budget_bytes: usize,
    /// Queries running at once; more wait for a turn.
    pub max_running: usize,
    /// Milliseconds between two looks of the background indexer for logs to index (it also
    /// starts at once after an index configuration changes).
    pub index_interval_ms: u64,
    /// Bytes of LogGroups the indexer adds to a segment index per commit.
    pub index_commit_bytes: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let d = crate::service::QueryLimits::default();
        Self {
            time_budget_ms: d.time.as_millis() as u64,
            memory_budget_bytes: d.memory_bytes,
            max_running: d.max_running,
            index_interval_ms: 500,
            index_commit_bytes: 32 << 20,
        }
    }
}

impl QueryConfig {
    /// The budgets as the service takes them.
    pub fn limits(&self) -> crate::service::QueryLimits {
        crate::service::QueryLimits {
            time: Duration::from_millis(self.time_budget_ms.max(1)),
            memory_bytes: self.memory_budget_bytes.max(1 << 20),
            max_running: self.max_running.max(1),
        }
    }
}

/// `[backup]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Minutes between scheduled checkpoints of logstores without a schedule of their own
    /// (any positive value; 0 turns scheduled checkpoints off).
    pub checkpoint_interval_min: u32,
    /// How often, in seconds, due checkpoints are taken and expired ones removed.
    pub schedule_check_secs: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_min: 0,
            schedule_check_secs: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            data_dir: PathBuf::from("./cairn-data"),
            auth: AuthConfig::default(),
            sls: SlsConfig::default(),
            storage: StorageConfig::default(),
            backup: BackupConfig::default(),
            http: HttpConfig::default(),
            query: QueryConfig::default(),
        }
    }
}

/// `[http]` (design §15).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Most connections open at once; 0 derives it from the file descriptor limit.
    pub max_connections: usize,
    /// Seconds a connection has to send the complete headers of its first request, and of any
    /// later one from its first byte.
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may go without receiving a byte (and may wait for body memory).
    pub body_stall_timeout_secs: u64,
    /// Seconds a whole request body has to arrive in.
    pub body_read_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight.
    pub idle_timeout_secs: u64,
    /// Bytes of request bodies held in memory at once, across all connections.
    pub body_budget_bytes: usize,
    /// Seconds a shutdown waits for in-flight requests before closing their connections.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 0,
            header_read_timeout_secs: 10,
            body_stall_timeout_secs: 30,
            body_read_timeout_secs: 300,
            idle_timeout_secs: 60,
            body_budget_bytes: 256 * 1024 * 1024,
            shutdown_grace_secs: 30,
        }
    }
}

impl HttpConfig {
    /// The header read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// The body stall timeout.
    pub fn body_stall_timeout(&self) -> Duration {
        Duration::from_secs(self.body_stall_timeout_secs)
    }

    /// The whole-body timeout.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Most connections `http.max_connections` may name.
pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;

/// Bytes a request body may have beyond `sls.max_raw_body_bytes` (a compressed body can be
/// slightly larger than its input).
pub const BODY_SLACK: usize = 64 * 1024;

/// Splits a listen address into host and port: `host:port` (a name or an IPv4 literal),
/// `[v6]:port`, or `:port`, which means every IPv4 interface (`0.0.0.0`).
pub fn parse_listen(s: &str) -> anyhow::Result<(String, u16)> {
    let bad = || {
        anyhow::anyhow!(
            "listen {s:?} is not an address: use host:port, [v6]:port or :port (all IPv4 interfaces)"
        )
    };
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok((a.ip().to_string(), a.port()));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Ok(("0.0.0.0".into(), port));
    }
    let name_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !name_ok {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// When false every request is served without checking signatures.
    pub enabled: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[sls]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlsConfig {
    /// Host names of the service endpoint; `Host: <project>.<endpoint>` addresses a project.
    pub endpoints: Vec<String>,
    /// Largest accepted PutLogs body after decompression, in bytes.
    pub max_raw_body_bytes: usize,
    /// Unsigned web tracking requests (and their CORS preflights) accepted per minute across
    /// the server; more are answered `503 ServerBusy`.
    pub tracking_requests_per_minute: u32,
}

impl Default for SlsConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["localhost".into()],
            max_raw_body_bytes: 10 * 1024 * 1024,
            tracking_requests_per_minute: 60_000,
        }
    }
}

/// `fsync` policy names of the configuration file.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncSetting {
    /// Acknowledge after fdatasync (group commit).
    Always,
    /// Acknowledge after write; sync every `fsync_interval_ms`.
    Interval,
    /// Acknowledge after write; never sync explicitly.
    Never,
}

/// `[storage]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Durability policy.
    pub fsync: FsyncSetting,
    /// Sync period with `fsync = "interval"`.
    pub fsync_interval_ms: u64,
    /// Segment size at which a new segment starts.
    pub segment_bytes: u64,
    /// Bytes of records between two sparse index entries.
    pub index_interval_bytes: u32,
    /// Zero bytes kept written and synced ahead of a busy shard's appends (`always` only).
    pub preallocate_bytes: u64,
    /// How often retention runs.
    pub retention_interval_secs: u64,
    /// Most file descriptors the shard logs keep open; 0 is half of the process's limit.
    pub max_open_files: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncSetting::Always,
            fsync_interval_ms: 200,
            segment_bytes: 128 * 1024 * 1024,
            index_interval_bytes: 4096,
            preallocate_bytes: 1024 * 1024,
            retention_interval_secs: 60,
            max_open_files: 0,
        }
    }
}

impl StorageConfig {
    /// The storage engine's view of these settings.
    pub fn log_config(&self) -> cairn_storage::LogConfig {
        cairn_storage::LogConfig {
            segment_bytes: self.segment_bytes,
            index_interval_bytes: self.index_interval_bytes,
            preallocate_bytes: self.preallocate_bytes,
            fsync: match self.fsync {
                FsyncSetting::Always => cairn_storage::FsyncPolicy::Always,
                FsyncSetting::Interval => cairn_storage::FsyncPolicy::Interval,
                FsyncSetting::Never => cairn_storage::FsyncPolicy::Never,
            },
        }
    }
}

/// A host name as requests are matched against it: lower case, without a final dot.
fn normal_host(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl Config {
    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let mut cfg: Config = toml::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        cfg.validate()?;
        cfg.sls.endpoints = cfg.sls.endpoints.iter().map(|e| normal_host(e)).collect();
        Ok(cfg)
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.storage.segment_bytes >= 4096,
            "storage.segment_bytes must be at least 4096"
        );
        anyhow::ensure!(
            self.storage.index_interval_bytes > 0,
            "storage.index_interval_bytes must be positive"
        );
        anyhow::ensure!(
            self.storage.preallocate_bytes <= cairn_storage::MAX_SEGMENT_BYTES,
            "storage.preallocate_bytes must be at most 2 GiB"
        );
        anyhow::ensure!(
            self.storage.fsync_interval_ms > 0,
            "storage.fsync_interval_ms must be positive"
        );
        anyhow::ensure!(
            self.sls.max_raw_body_bytes > 0,
            "sls.max_raw_body_bytes must be positive"
        );
        anyhow::ensure!(
            self.sls.tracking_requests_per_minute > 0,
            "sls.tracking_requests_per_minute must be positive"
        );
        anyhow::ensure!(
            !self.sls.endpoints.is_empty(),
            "sls.endpoints needs at least one host name"
        );
        for e in &self.sls.endpoints {
            let host = normal_host(e);
            anyhow::ensure!(
                !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "sls.endpoints: {e:?} is not a host name (no scheme, port or path: \"log.example.com\")"
            );
        }
        parse_listen(&self.listen)?;
        let h = &self.http;
        anyhow::ensure!(
            h.max_connections <= MAX_CONNECTIONS_LIMIT,
            "http.max_connections must be at most {MAX_CONNECTIONS_LIMIT} (0 derives it from the file descriptor limit)"
        );
        for (v, key) in [
            (h.header_read_timeout_secs, "http.header_read_timeout_secs"),
            (h.body_stall_timeout_secs, "http.body_stall_timeout_secs"),
            (h.body_read_timeout_secs, "http.body_read_timeout_secs"),
            (h.idle_timeout_secs, "http.idle_timeout_secs"),
        ] {
            anyhow::ensure!(v > 0, "{key} must be positive");
        }
        let largest = self.sls.max_raw_body_bytes.saturating_add(BODY_SLACK);
        anyhow::ensure!(
            h.body_budget_bytes >= largest,
            "http.body_budget_bytes must hold the largest body (sls.max_raw_body_bytes + 64 KiB = {largest} bytes)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../cairn.example.toml");
        let cfg: Config = toml::from_str(text).unwrap();
        let def = Config::default();
        assert_eq!(cfg.listen, def.listen);
        assert_eq!(cfg.data_dir, def.data_dir);
        assert_eq!(cfg.auth.enabled, def.auth.enabled);
        assert_eq!(cfg.sls.endpoints, def.sls.endpoints);
        assert_eq!(cfg.sls.max_raw_body_bytes, def.sls.max_raw_body_bytes);
        assert_eq!(
            cfg.sls.tracking_requests_per_minute,
            def.sls.tracking_requests_per_minute
        );
        assert_eq!(cfg.storage.fsync, def.storage.fsync);
        assert_eq!(cfg.storage.segment_bytes, def.storage.segment_bytes);
        assert_eq!(
            cfg.storage.index_interval_bytes,
            def.storage.index_interval_bytes
        );
        assert_eq!(cfg.storage.fsync_interval_ms, def.storage.fsync_interval_ms);
        assert_eq!(cfg.storage.preallocate_bytes, def.storage.preallocate_bytes);
        assert_eq!(
            cfg.storage.preallocate_bytes,
            cairn_storage::LogConfig::default().preallocate_bytes
        );
        assert_eq!(
            cfg.storage.retention_interval_secs,
            def.storage.retention_interval_secs
        );
        assert_eq!(cfg.storage.max_open_files, def.storage.max_open_files);
        assert_eq!(
            cfg.backup.checkpoint_interval_min,
            def.backup.checkpoint_interval_min
        );
        assert_eq!(
            cfg.backup.schedule_check_secs,
            def.backup.schedule_check_secs
        );
        let (h, d) = (&cfg.http, &def.http);
        assert_eq!(h.max_connections, d.max_connections);
        assert_eq!(h.header_read_timeout_secs, d.header_read_timeout_secs);
        assert_eq!(h.body_stall_timeout_secs, d.body_stall_timeout_secs);
        assert_eq!(h.body_read_timeout_secs, d.body_read_timeout_secs);
        assert_eq!(h.idle_timeout_secs, d.idle_timeout_secs);
        assert_eq!(h.body_budget_bytes, d.body_budget_bytes);
        assert_eq!(h.shutdown_grace_secs, d.shutdown_grace_secs);
        def.validate().unwrap();
    }

    #[test]
    fn listen_addresses_take_names_literals_and_a_bare_port() {
        let ok = |s: &str, host: &str, port: u16| {
            assert_eq!(parse_listen(s).unwrap(), (host.to_string(), port), "{s}");
        };
        ok("127.0.0.1:7070", "127.0.0.1", 7070);
        ok(":7071", "0.0.0.0", 7071);
        ok("localhost:7071", "localhost", 7071);
        ok("log.example.com:80", "log.example.com", 80);
        ok("[::1]:7072", "::1", 7072);
        ok("[::]:7072", "::", 7072);
        for bad in [
            "",
            "7070",
            "localhost",
            "localhost:",
            ":x",
            "host:70000",
            "::1:80",
            "a b:1",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Config>("[storage]\nfsynk = \"always\"").is_err());
    }

    #[test]
    fn settings_that_cannot_work_are_refused_by_name() {
        let refused = |text: &str, key: &str| {
            let cfg: Config = toml::from_str(text).unwrap();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        };
        refused("[storage]\nsegment_bytes = 100", "storage.segment_bytes");
        refused(
            "[storage]\nindex_interval_bytes = 0",
            "storage.index_interval_bytes",
        );
        refused(
            "[storage]\npreallocate_bytes = 3221225472",
            "storage.preallocate_bytes",
        );
        refused(
            "[storage]\nfsync_interval_ms = 0",
            "storage.fsync_interval_ms",
        );
        refused("[sls]\nmax_raw_body_bytes = 0", "sls.max_raw_body_bytes");
        refused(
            "[sls]\ntracking_requests_per_minute = 0",
            "sls.tracking_requests_per_minute",
        );
        for bad in [
            "[]",
            "[\"localhost:7070\"]",
            "[\"http://x\"]",
            "[\"\"]",
            "[\"a/b\"]",
        ] {
            refused(&format!("[sls]\nendpoints = {bad}"), "sls.endpoints");
        }
        refused("listen = \"localhost\"", "listen");
        refused("[http]\nmax_connections = 2000000", "http.max_connections");
        for key in [
            "header_read_timeout_secs",
            "body_stall_timeout_secs",
            "body_read_timeout_secs",
            "idle_timeout_secs",
        ] {
            refused(&format!("[http]\n{key} = 0"), &format!("http.{key}"));
        }
        refused(
            "[http]\nbody_budget_bytes = 1048576",
            "http.body_budget_bytes",
        );
        refused(
            "[sls]\nmax_raw_body_bytes = 536870912",
            "http.body_budget_bytes",
        );
        // Turning reserved space off, or keeping up to a whole segment of it, is fine; so are
        // a derived connection cap, a budget of exactly one largest body and no shutdown grace.
        for text in [
            "[storage]\npreallocate_bytes = 0",
            "[storage]\npreallocate_bytes = 2147483648",
            "[http]\nmax_connections = 0\nshutdown_grace_secs = 0",
            "[http]\nbody_budget_bytes = 10551296",
            "listen = \":7071\"",
        ] {
            toml::from_str::<Config>(text).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn endpoints_are_matched_in_lower_case_without_a_final_dot() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cairn.toml");
        std::fs::write(
            &p,
            "[sls]\nendpoints = [\"Log.Example.COM.\", \"localhost\"]\n",
        )
        .unwrap();
        assert_eq!(
            Config::from_file(&p).unwrap().sls.endpoints,
            vec!["log.example.com", "localhost"]
        );
    }
}
