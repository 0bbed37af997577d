//! Snapshot schedules: get and change.

use axum::http::StatusCode;

use super::{json_object, wire, AtlasError, Ctx, Kind, Reply};
use crate::excerpt::excerpt;
use crate::http::codes::AtlasCode;
use crate::service::{blocking, ScheduleUpdate};

pub(super) fn get(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let s = ctx
        .svc()
        .get_schedule(&cl.p.name, &cl.l.name)
        .map_err(|e| cl.err(e))?;
    Ok((
        StatusCode::OK,
        wire::schedule(&ctx.base, &cl.p, &cl.l, &s),
        Kind::One,
    ))
}

pub(super) async fn patch(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let u = parse_schedule_update(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (cl.p.name.clone(), cl.l.name.clone());
    let s = blocking(move || svc.update_schedule(&pn, &ln, u))
        .await
        .map_err(|e| cl.err(e))?;
    Ok((
        StatusCode::OK,
        wire::schedule(&ctx.base, &cl.p, &cl.l, &s),
        Kind::One,
    ))
}

/// Parses the body of `PATCH .../snapshotSchedule`: each attribute a non-negative integer among
/// the values Atlas allows; read-only and unknown attributes are refused.
pub fn parse_schedule_update(body: &[u8]) -> Result<ScheduleUpdate, AtlasError> {
    let body = json_object(body)?;
    let mut u = ScheduleUpdate::default();
    for (k, v) in &body {
        let n = || -> Result<u32, AtlasError> {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    AtlasError::invalid(
                        k,
                        format!(
                            "Invalid attribute {k} specified: it must be a non-negative integer."
                        ),
                    )
                })
        };
        let check = |n: u32, ok: bool, allowed: &str| -> Result<Option<u32>, AtlasError> {
            if ok {
                Ok(Some(n))
            } else {
                Err(AtlasError::invalid(
                    k,
                    format!("Invalid attribute {k} specified: {n} (allowed: {allowed})."),
                ))
            }
        };
        match k.as_str() {
            "clusterCheckpointIntervalMin" => {
                let x = n()?;
                u.checkpoint_interval_min = check(x, matches!(x, 15 | 30 | 60), "15, 30, 60")?;
            }
            "snapshotIntervalHours" => {
                let x = n()?;
                u.snapshot_interval_hours = check(x, matches!(x, 6 | 8 | 12 | 24), "6, 8, 12, 24")?;
            }
            "snapshotRetentionDays" => {
                let x = n()?;
                u.snapshot_retention_days = check(x, (2..=5).contains(&x), "2 to 5")?;
            }
            "dailySnapshotRetentionDays" => {
                let x = n()?;
                let ok = matches!(x, 0 | 3..=7 | 15 | 30 | 60 | 90 | 120 | 180 | 360);
                u.daily_snapshot_retention_days =
                    check(x, ok, "0, 3-7, 15, 30, 60, 90, 120, 180, 360")?;
            }
            "weeklySnapshotRetentionWeeks" => {
                let x = n()?;
                let ok = matches!(x, 0..=8 | 12 | 16 | 20 | 24 | 52);
                u.weekly_snapshot_retention_weeks = check(x, ok, "0-8, 12, 16, 20, 24, 52")?;
            }
            "monthlySnapshotRetentionMonths" => {
                let x = n()?;
                let ok = matches!(x, 0..=13 | 18 | 24 | 36);
                u.monthly_snapshot_retention_months = check(x, ok, "0-13, 18, 24, 36")?;
            }
            "pointInTimeWindowHours" => {
                let x = n()?;
                u.point_in_time_window_hours = check(x, (1..=8760).contains(&x), "1 to 8760")?;
            }
            "groupId" | "clusterId" | "links" => {
                return Err(AtlasError::new(
                    AtlasCode::AttributeReadOnly,
                    format!("Attribute {k} is read-only and cannot be changed."),
                    vec![k.clone()],
                ))
            }
            _ => {
                return Err(AtlasError::invalid(
                    k,
                    format!("Invalid attribute {} specified.", excerpt(k)),
                ))
            }
        }
    }
    Ok(u)
}
