//! Backup checkpoints: list, get, take, delete.

use axum::http::StatusCode;
use serde_json::json;

use super::{json_object, wire, AtlasError, Ctx, Kind, Reply};
use crate::excerpt::excerpt;
use crate::http::codes::AtlasCode;
use crate::service::{blocking, Error};

/// `CHECKPOINT_NOT_FOUND` naming the cluster, for a checkpoint the service does not know.
pub(super) fn not_found(e: Error, id: &str, c: &str) -> AtlasError {
    match e {
        Error::CheckpointNotExist(_) => AtlasError::new(
            AtlasCode::CheckpointNotFound,
            format!(
                "No checkpoint with ID {} exists for cluster {}.",
                excerpt(id),
                excerpt(c)
            ),
            vec![id.to_string(), c.to_string()],
        ),
        other => other.into(),
    }
}

pub(super) fn list(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let (p, l) = ctx.cluster(g, c)?;
    let list = ctx.svc().list_checkpoints(&p.name, &l.name)?;
    let items = list
        .iter()
        .map(|v| wire::checkpoint(&ctx.base, v, c))
        .collect();
    ctx.page(
        &format!("/groups/{}/clusters/{c}/backupCheckpoints", p.id),
        items,
    )
}

pub(super) fn get(ctx: &Ctx, g: &str, c: &str, id: &str) -> Reply {
    let (p, l) = ctx.cluster(g, c)?;
    let v = ctx
        .svc()
        .get_checkpoint(&p.name, &l.name, id)
        .map_err(|e| not_found(e, id, c))?;
    Ok((
        StatusCode::OK,
        wire::checkpoint(&ctx.base, &v, c),
        Kind::One,
    ))
}

/// Parses the body of `POST .../backupCheckpoints`: empty, or a JSON object without attributes.
pub fn parse_checkpoint_request(body: &[u8]) -> Result<(), AtlasError> {
    if let Some(k) = json_object(body)?.keys().next() {
        return Err(AtlasError::invalid(
            k,
            format!("Invalid attribute {} specified.", excerpt(k)),
        ));
    }
    Ok(())
}

pub(super) async fn take(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let (p, l) = ctx.cluster(g, c)?;
    parse_checkpoint_request(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (p.name.clone(), l.name.clone());
    let rec = blocking(move || {
        let r = svc.take_checkpoint(&pn, &ln)?;
        svc.get_checkpoint(&pn, &ln, &r.id)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        wire::checkpoint(&ctx.base, &rec, c),
        Kind::One,
    ))
}

pub(super) async fn delete(ctx: &Ctx, g: &str, c: &str, id: &str) -> Reply {
    let (p, l) = ctx.cluster(g, c)?;
    let (svc, id2) = (ctx.svc().clone(), id.to_string());
    let (pn, ln) = (p.name.clone(), l.name.clone());
    blocking(move || svc.delete_checkpoint(&pn, &ln, &id2))
        .await
        .map_err(|e| not_found(e, id, c))?;
    Ok((StatusCode::OK, json!({}), Kind::One))
}
