//! Start-up and shutdown of the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_storage::{HybridClock, PooledFs, SystemClock};

use crate::config::{Config, FsyncSetting};
use crate::datadir::DataDir;
use crate::http::{self, AppState, HttpLimits};
use crate::keys::{self, KeyRing, KeySource};
use crate::meta::RedbMetaStore;
use crate::service::Service;

/// A data dir opened for serving.
pub struct Opened {
    /// The service over it.
    pub svc: Arc<Service>,
    /// The accepted keys.
    pub keys: KeyRing,
    /// Held until the server stops: no other server may use the data dir meanwhile.
    pub data_dir: DataDir,
}

/// Opens the data dir and everything in it (recovering shard logs), ready to serve: takes the
/// data dir's lock first, then checks the metadata file, loads or generates the root key and
/// opens the service (design §2). The shard logs keep at most `storage_fds` descriptors open
/// unless `storage.max_open_files` says otherwise.
pub fn open(cfg: &Config, storage_fds: u64) -> anyhow::Result<Opened> {
    let data_dir = DataDir::lock(&cfg.data_dir)?;
    let meta_path = data_dir.check_metadata()?;
    let (root, source) = keys::load_root_key(&cfg.data_dir)?;
    match &source {
        KeySource::Env => {
            tracing::info!(access_key_id = %root.access_key_id, "root key from the environment")
        }
        KeySource::File(p) => {
            tracing::info!(access_key_id = %root.access_key_id, file = %p.display(), "root key from file")
        }
        KeySource::Generated(p) => {
            tracing::info!(access_key_id = %root.access_key_id, file = %p.display(), "generated a root key");
            eprintln!(
                "cairn: generated root access key {}; its secret is in {} (readable by you only)",
                root.access_key_id,
                p.display()
            );
        }
    }
    let meta = RedbMetaStore::open(&meta_path)?;
    let clock = Arc::new(HybridClock::new(Arc::new(SystemClock)));
    let files = storage_open_files(cfg, storage_fds);
    tracing::info!(
        max_open_files = files,
        "shard logs share a pool of file descriptors"
    );
    let svc = Service::open(
        &cfg.data_dir,
        Arc::new(meta),
        cfg.storage.log_config(),
        clock,
        Arc::new(PooledFs::new(files)),
    )?
    .with_default_checkpoint_interval(cfg.backup.checkpoint_interval_min)
    .with_query_limits(cfg.query.limits());
    Ok(Opened {
        svc: Arc::new(svc),
        keys: KeyRing::new(vec![root]),
        data_dir,
    })
}

/// Descriptors the shard logs may keep open: `storage.max_open_files`, or what the descriptor
/// budget leaves for storage (design §7, §15).
pub fn storage_open_files(cfg: &Config, storage_fds: u64) -> usize {
    if cfg.storage.max_open_files > 0 {
        return cfg.storage.max_open_files;
    }
    usize::try_from(storage_fds)
        .unwrap_or(usize::MAX)
        .clamp(64, 1 << 20)
}

/// Runs the server until SIGINT/SIGTERM. The listen address is bound before the data dir is
/// touched, so a port in use stops the start before anything is created.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let listener = bind(&cfg.listen).await?;
    let addr = listener.local_addr()?;
    let fds = fd_budget(cfg.http.max_connections);
    tracing::info!(
        limit = fds.limit,
        max_connections = fds.connections,
        for_storage = fds.storage,
        "file descriptors"
    );
    if fds.storage < fds.storage_reserve {
        tracing::warn!(
            limit = fds.limit,
            max_connections = fds.connections,
            for_storage = fds.storage,
            reserve = fds.storage_reserve,
            "http.max_connections leaves storage fewer file descriptors than its reserve"
        );
    }
    let Opened {
        svc,
        keys,
        data_dir: _held,
    } = tokio::task::block_in_place(|| open(&cfg, fds.storage))?;
    if !cfg.auth.enabled {
        tracing::warn!("authentication is OFF: every request is served anonymously");
    }
    spawn_background(&cfg, svc.clone());
    let state = AppState::new(
        svc.clone(),
        keys,
        cfg.auth.enabled,
        cfg.sls.endpoints.clone(),
        cfg.sls.max_raw_body_bytes,
    )
    .with_limits(HttpLimits::new(&cfg.http, fds.connections))
    .with_tracking_rate(cfg.sls.tracking_requests_per_minute);
    println!(
        "cairn listening on {addr} (data dir {})",
        cfg.data_dir.display()
    );
    tracing::info!(%addr, "listening");
    http::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("shutting down");
    tokio::task::block_in_place(|| svc.shutdown());
    Ok(())
}

/// Binds the listen address (design §15): a name is resolved, and the first IPv4 address it
/// resolves to is bound, or its first address when it has no IPv4 one.
pub async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let (host, port) = crate::config::parse_listen(listen)?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving listen address {listen}"))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("listen address {listen} resolves to no address"))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (listen address {listen})"))
}

/// Descriptors kept for the process itself (standard streams, the listener, the runtime, the
/// metadata store, logging), outside both budgets below.
pub const FD_BASE: u64 = 64;
/// Most connections a derived `http.max_connections` allows.
pub const MAX_DERIVED_CONNECTIONS: usize = 4096;

/// How the file descriptor limit is shared between connections and storage (design §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` (`u64::MAX`: unlimited).
    pub limit: u64,
    /// Most connections open at once.
    pub connections: usize,
    /// Descriptors left for storage: the limit less [`FD_BASE`] and the connections.
    pub storage: u64,
    /// Descriptors storage is meant to have at least: half of the limit less [`FD_BASE`].
    pub storage_reserve: u64,
}

impl FdBudget {
    /// The budget for a limit of `limit` descriptors and `configured` connections (0: derived,
    /// the other half of the limit less [`FD_BASE`], at most [`MAX_DERIVED_CONNECTIONS`], at
    /// least 1).
    pub fn new(limit: u64, configured: usize) -> Self {
        let usable = limit.saturating_sub(FD_BASE);
        let storage_reserve = usable / 2;
        let connections = if configured == 0 {
            usize::try_from(usable - storage_reserve)
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_DERIVED_CONNECTIONS)
        } else {
            configured
        };
        Self {
            limit,
            connections,
            storage: usable.saturating_sub(connections as u64),
            storage_reserve,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (to `fs.nr_open` when the hard limit is
/// unlimited) and returns the soft limit then in force (`u64::MAX`: unlimited).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let target = match now.maximum {
        Some(max) => Some(max),
        None => std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok()),
    };
    if let (Some(cur), Some(target)) = (now.current, target) {
        if target > cur {
            if let Err(e) = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: now.maximum,
                },
            ) {
                tracing::warn!(error = %e, soft = cur, hard = target, "cannot raise the file descriptor limit");
            }
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Raises the file descriptor limit and shares it out: `configured` connections (0: derived)
/// and the rest for storage.
pub fn fd_budget(configured: usize) -> FdBudget {
    FdBudget::new(raise_fd_limit(), configured)
}

/// The nice value of the indexer (design §18.6).
const INDEXER_NICE: libc::c_int = 10;

/// Puts the calling thread, and the threads it starts (which inherit its priority), behind
/// the threads that serve requests: indexes are derived data, built from what was written.
fn behind_writes() {
    // SAFETY: gettid and setpriority on the calling thread's own id read and change only
    // that thread's scheduling priority.
    let rc = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            INDEXER_NICE,
        )
    };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower the indexer's priority");
    }
}

fn spawn_background(cfg: &Config, svc: Arc<Service>) {
    let every = Duration::from_millis(cfg.query.index_interval_ms.max(10));
    svc.set_index_commit_bytes(cfg.query.index_commit_bytes);
    let s = svc.clone();
    let indexer = std::thread::Builder::new()
        .name("cairn-indexer".into())
        .spawn(move || {
            behind_writes();
            s.run_indexer(every, || false)
        });
    if let Err(e) = indexer {
        tracing::error!(error = %e, "could not start the indexer; queries read the logs without indexes");
    }
    let retention = Duration::from_secs(cfg.storage.retention_interval_secs.max(1));
    let s = svc.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(retention);
        loop {
            tick.tick().await;
            let s = s.clone();
            match tokio::task::spawn_blocking(move || s.run_retention()).await {
                Ok(n) if n > 0 => {
                    tracing::info!(segments = n, "retention deleted expired segments")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention task failed"),
            }
        }
    });
    let schedules = Duration::from_secs(cfg.backup.schedule_check_secs.max(1));
    let s = svc.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(schedules);
        loop {
            tick.tick().await;
            let s = s.clone();
            match tokio::task::spawn_blocking(move || s.run_backup_schedules()).await {
                Ok((taken, removed)) if taken + removed > 0 => {
                    tracing::info!(taken, removed, "backup schedules ran")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "backup schedule task failed"),
            }
        }
    });
    if cfg.storage.fsync == FsyncSetting::Interval {
        let period = Duration::from_millis(cfg.storage.fsync_interval_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let s = svc.clone();
                let _ = tokio::task::spawn_blocking(move || s.sync_all()).await;
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_is_shared_between_connections_and_storage() {
        // Derived: half of what is left after the process's own, at most 4096.
        let b = FdBudget::new(1024, 0);
        assert_eq!(
            (b.connections, b.storage, b.storage_reserve),
            (480, 480, 480)
        );
        let b = FdBudget::new(1 << 20, 0);
        assert_eq!(b.connections, MAX_DERIVED_CONNECTIONS);
        assert_eq!(b.storage, (1 << 20) - FD_BASE - 4096);
        assert!(b.storage >= b.storage_reserve);
        assert_eq!(
            FdBudget::new(u64::MAX, 0).connections,
            MAX_DERIVED_CONNECTIONS
        );
        assert_eq!(FdBudget::new(10, 0).connections, 1);
        // Configured: taken as it is, even when it leaves storage short of its reserve.
        let b = FdBudget::new(1024, 900);
        assert_eq!((b.connections, b.storage), (900, 60));
        assert!(b.storage < b.storage_reserve);
        assert_eq!(FdBudget::new(100, 500).storage, 0);
    }

    #[test]
    fn the_soft_fd_limit_is_raised_to_the_hard_one() {
        let limit = raise_fd_limit();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(limit), now.current.or(Some(u64::MAX)));
        if let (Some(cur), Some(max)) = (now.current, now.maximum) {
            assert_eq!(cur, max);
        }
    }
}
