//! Start-up and shutdown of the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_storage::{HybridClock, PooledFs, SystemClock};

use crate::config::{Config, FsyncSetting};
use crate::datadir::DataDir;
use crate::http::{self, AppState};
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
/// opens the service (design §2).
pub fn open(cfg: &Config) -> anyhow::Result<Opened> {
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
    let files = storage_open_files(cfg);
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
    .with_default_checkpoint_interval(cfg.backup.checkpoint_interval_min);
    Ok(Opened {
        svc: Arc::new(svc),
        keys: KeyRing::new(vec![root]),
        data_dir,
    })
}

/// Descriptors the shard logs may keep open: `storage.max_open_files`, or half of the soft
/// descriptor limit (design §7).
pub fn storage_open_files(cfg: &Config) -> usize {
    if cfg.storage.max_open_files > 0 {
        return cfg.storage.max_open_files;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed; nothing else.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX).min(1 << 20);
    (soft / 2).max(64)
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let Opened {
        svc,
        keys,
        data_dir: _held,
    } = tokio::task::block_in_place(|| open(&cfg))?;
    if !cfg.auth.enabled {
        tracing::warn!("authentication is OFF: every request is served anonymously");
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    spawn_background(&cfg, svc.clone());
    let state = AppState::new(
        svc.clone(),
        keys,
        cfg.auth.enabled,
        cfg.sls.endpoints.clone(),
        cfg.sls.max_raw_body_bytes,
    );
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

fn spawn_background(cfg: &Config, svc: Arc<Service>) {
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
