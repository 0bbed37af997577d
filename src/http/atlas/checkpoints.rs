//! Backup checkpoints: list, get, take, delete.

use axum::http::StatusCode;
use serde_json::json;

use super::{json_object, wire, AtlasError, Ctx, Kind, Reply};
use crate::excerpt::excerpt;
use crate::service::blocking;

pub(super) fn list(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let list = ctx
        .svc()
        .list_checkpoints(&cl.p.name, &cl.l.name)
        .map_err(|e| cl.err(e))?;
    let items = list
        .iter()
        .map(|v| wire::checkpoint(&ctx.base, v, c))
        .collect();
    ctx.page(
        &format!("/groups/{}/clusters/{c}/backupCheckpoints", cl.p.id),
        items,
    )
}

pub(super) fn get(ctx: &Ctx, g: &str, c: &str, id: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let v = ctx
        .svc()
        .get_checkpoint(&cl.p.name, &cl.l.name, id)
        .map_err(|e| cl.err(e))?;
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
    let cl = ctx.cluster(g, c)?;
    parse_checkpoint_request(&ctx.body)?;
    let svc = ctx.svc().clone();
    let (pn, ln) = (cl.p.name.clone(), cl.l.name.clone());
    let rec = blocking(move || svc.checkpoint_now(&pn, &ln))
        .await
        .map_err(|e| cl.err(e))?;
    Ok((
        StatusCode::CREATED,
        wire::checkpoint(&ctx.base, &rec, c),
        Kind::One,
    ))
}

pub(super) async fn delete(ctx: &Ctx, g: &str, c: &str, id: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    let (svc, id2) = (ctx.svc().clone(), id.to_string());
    let (pn, ln) = (cl.p.name.clone(), cl.l.name.clone());
    blocking(move || svc.delete_checkpoint(&pn, &ln, &id2))
        .await
        .map_err(|e| cl.err(e))?;
    Ok((StatusCode::OK, json!({}), Kind::One))
}
