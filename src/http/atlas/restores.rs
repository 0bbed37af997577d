//! Restore jobs: list, get, create.

use axum::http::StatusCode;
use serde_json::Value;

use super::{json_object, wire, AtlasError, Ctx, Kind, Reply};
use crate::excerpt::excerpt;
use crate::http::codes::AtlasCode;
use crate::service::blocking;
pub use crate::service::RestoreTarget;

pub(super) fn list(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let jobs = ctx
        .svc()
        .list_restore_jobs(&cl.p.name, &cl.l.name, ctx.query.get("batchId"))
        .map_err(|e| cl.err(e))?;
    let items = jobs
        .iter()
        .map(|j| wire::job(&ctx.base, &cl.p, j))
        .collect();
    ctx.page(
        &format!("/groups/{}/clusters/{c}/restoreJobs", cl.p.id),
        items,
    )
}

pub(super) fn get(ctx: &Ctx, g: &str, c: &str, id: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let j = ctx
        .svc()
        .get_restore_job(&cl.p.name, &cl.l.name, id)
        .map_err(|e| cl.err(e))?;
    Ok((StatusCode::OK, wire::job(&ctx.base, &cl.p, &j), Kind::One))
}

/// A restore job creation (`POST .../restoreJobs`) as its body states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// `checkpointId` (also accepted as `checkPointId`).
    pub checkpoint_id: String,
    /// `delivery.targetGroupId`: the id or name of the target group.
    pub target_group: String,
    /// The target cluster.
    pub target_cluster: RestoreTarget,
}

/// Parses the body of `POST .../restoreJobs`: `checkpointId` and a `delivery` with
/// `methodName` `AUTOMATED_RESTORE`, `targetGroupId` and `targetClusterName` or
/// `targetClusterId`. Point-in-time attributes and unknown attributes are refused.
pub fn parse_restore_request(body: &[u8]) -> Result<RestoreRequest, AtlasError> {
    let body = json_object(body)?;
    let mut checkpoint = None;
    let mut delivery = None;
    for (k, v) in &body {
        match k.as_str() {
            "checkpointId" | "checkPointId" => {
                checkpoint = Some(v.as_str().ok_or_else(|| AtlasError::invalid(k, format!("{k} must be a string.")))?.to_string())
            }
            "delivery" => delivery = Some(v.as_object().ok_or_else(|| AtlasError::invalid(k, "delivery must be an object."))?.clone()),
            "snapshotId" | "oplogTs" | "oplogInc" | "pointInTimeUTCMillis" => {
                return Err(AtlasError::invalid(k, format!("Invalid attribute {k} specified: Cairn restores checkpoints only; use checkpointId.")))
            }
            _ => return Err(AtlasError::invalid(k, format!("Invalid attribute {} specified.", excerpt(k)))),
        }
    }
    let delivery = delivery.ok_or_else(|| AtlasError::missing("delivery"))?;
    let checkpoint = checkpoint.ok_or_else(|| AtlasError::missing("checkpointId"))?;
    let text = |k: &str| -> Result<Option<String>, AtlasError> {
        match delivery.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AtlasError::invalid(
                k,
                format!("delivery.{k} must be a string."),
            )),
        }
    };
    for k in delivery.keys() {
        if !matches!(
            k.as_str(),
            "methodName"
                | "targetGroupId"
                | "targetClusterName"
                | "targetClusterId"
                | "expirationHours"
                | "maxDownloads"
        ) {
            return Err(AtlasError::invalid(
                k,
                format!("Invalid attribute delivery.{} specified.", excerpt(k)),
            ));
        }
    }
    let method = text("methodName")?.ok_or_else(|| AtlasError::missing("delivery.methodName"))?;
    if method != "AUTOMATED_RESTORE" {
        return Err(AtlasError::new(
            AtlasCode::UnsupportedDeliveryMethod,
            format!(
                "Unsupported delivery method {}: Cairn supports AUTOMATED_RESTORE.",
                excerpt(&method)
            ),
            vec![method],
        ));
    }
    let target_group =
        text("targetGroupId")?.ok_or_else(|| AtlasError::missing("delivery.targetGroupId"))?;
    let target_cluster = match (text("targetClusterName")?, text("targetClusterId")?) {
        (Some(n), _) => RestoreTarget::Name(n),
        (None, Some(id)) => RestoreTarget::Uid(id),
        (None, None) => return Err(AtlasError::missing("delivery.targetClusterName")),
    };
    Ok(RestoreRequest {
        checkpoint_id: checkpoint,
        target_group,
        target_cluster,
    })
}

pub(super) async fn create(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let RestoreRequest {
        checkpoint_id,
        target_group,
        target_cluster,
    } = parse_restore_request(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (cl.p.name.clone(), cl.l.name.clone());
    let (_, jobs) = blocking(move || {
        svc.start_restore_into(&pn, &ln, &checkpoint_id, &target_group, &target_cluster)
    })
    .await
    .map_err(|e| cl.err(e))?;
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| wire::job(&ctx.base, &cl.p, j))
        .collect();
    let (_, body, kind) = ctx.page(
        &format!("/groups/{}/clusters/{c}/restoreJobs", cl.p.id),
        items,
    )?;
    Ok((StatusCode::OK, body, kind))
}
