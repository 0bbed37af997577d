//! Start-up and shutdown of the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_storage::{HybridClock, SystemClock};

use crate::config::{Config, FsyncSetting};
use crate::http::{self, AppState};
use crate::keys::{self, KeyRing, KeySource};
use crate::meta::RedbMetaStore;
use crate::service::Service;

/// Opens the data dir and everything in it (recovering shard logs), ready to serve.
pub fn open(cfg: &Config) -> anyhow::Result<(Arc<Service>, KeyRing)> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
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
    let meta =
        RedbMetaStore::open(&cfg.data_dir.join("meta.redb")).context("opening metadata store")?;
    let clock = Arc::new(HybridClock::new(Arc::new(SystemClock)));
    let svc = Service::open(
        &cfg.data_dir,
        Arc::new(meta),
        cfg.storage.log_config(),
        clock,
    )?;
    Ok((Arc::new(svc), KeyRing::new(vec![root])))
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (svc, keys) = tokio::task::block_in_place(|| open(&cfg))?;
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
    tokio::task::block_in_place(|| svc.sync_all());
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
