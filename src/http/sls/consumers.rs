//! Consumer groups: Create/Update/Delete/ListConsumerGroup, ConsumerGroupHeartBeat,
//! ConsumerGroupUpdateCheckPoint, GetCheckPoint.

use serde_json::{json, Value};

use super::{field, Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::error::SlsError;
use crate::http::json::{self, Fields};
use crate::http::sls::wire;
use crate::service::{blocking, Error, GroupSpec};

pub(super) async fn list(ctx: Ctx, ls: &str) -> Reply {
    let groups = ctx.state.svc.list_consumer_groups(&ctx.project()?, ls)?;
    let list: Vec<Value> = groups.iter().map(wire::group).collect();
    Ok(json::response(&Value::Array(list)))
}

/// `timeout` and `order` of a group body.
fn settings(v: &Value) -> Result<(Option<u32>, Option<bool>), SlsError> {
    let f = Fields(v);
    let timeout = f
        .u32("timeout")
        .map_err(|_| SlsError::param("timeout must be a positive integer (seconds)"))?;
    Ok((timeout, f.bool("order").map_err(field)?))
}

pub(super) async fn create(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let v = ctx.stored_json_body()?;
    let name = Fields(&v)
        .str("consumerGroup")
        .map_err(field)?
        .ok_or_else(|| SlsError::param("consumerGroup is required"))?;
    let (timeout, order) = settings(&v)?;
    let spec = GroupSpec {
        name: name.to_string(),
        timeout: timeout.ok_or_else(|| SlsError::param("timeout is required"))?,
        order: order.unwrap_or(false),
    };
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.create_consumer_group(&project, &ls, spec)).await?;
    Ok(json::empty())
}

pub(super) async fn update(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let (timeout, order) = settings(&ctx.stored_json_body()?)?;
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    blocking(move || svc.update_consumer_group(&project, &ls, &cg, timeout, order)).await?;
    Ok(json::empty())
}

pub(super) async fn delete(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    blocking(move || svc.delete_consumer_group(&project, &ls, &cg)).await?;
    Ok(json::empty())
}

pub(super) async fn heartbeat(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let consumer = ctx
        .query
        .get("consumer")
        .ok_or_else(|| SlsError::param("consumer is required"))?
        .to_string();
    let held: Vec<u32> = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        serde_json::from_slice(&ctx.body).map_err(|e| {
            SlsError::param(format!(
                "heartbeat body must be a JSON array of shard ids: {}",
                excerpt(&e.to_string())
            ))
        })?
    };
    let (svc, ls, cg) = (ctx.state.svc.clone(), ls.to_string(), cg.to_string());
    let shards = blocking(move || svc.heartbeat(&project, &ls, &cg, &consumer, &held)).await?;
    Ok(json::response(&json!(shards)))
}

pub(super) async fn update_checkpoint(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let consumer = ctx
        .query
        .get("consumer")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let force = match ctx.query.get("forceSuccess") {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(SlsError::param(format!(
                "forceSuccess {:?} must be true or false",
                excerpt(v)
            )))
        }
    };
    let v = ctx.json_body()?;
    let shard = v
        .get("shard")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| SlsError::param("shard must be a non-negative integer"))?;
    let checkpoint = Fields(&v)
        .str("checkpoint")
        .map_err(field)?
        .ok_or_else(|| SlsError::param("checkpoint is required"))?
        .to_string();
    // Checked and queued here (no I/O); only the commit is waited for.
    let pending = ctx.state.svc.queue_checkpoint(
        &project,
        ls,
        cg,
        consumer.as_deref(),
        force,
        shard,
        &checkpoint,
    )?;
    pending.committed().await.map_err(Error::from)?;
    Ok(json::empty())
}

pub(super) async fn get_checkpoints(ctx: Ctx, ls: &str, cg: &str) -> Reply {
    let project = ctx.project()?;
    let shard = match ctx.query.get("shard") {
        None | Some("") => None,
        Some(s) => match s.parse::<i64>() {
            // A shard id that cannot exist answers an empty list, as a missing shard does.
            Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(_) => {
                return Err(SlsError::param(format!(
                    "shard {:?} is not an integer",
                    excerpt(s)
                )))
            }
        },
    };
    let list = ctx.state.svc.get_checkpoints(&project, ls, cg, shard)?;
    let out: Vec<Value> = list.iter().map(wire::checkpoint).collect();
    Ok(json::response(&Value::Array(out)))
}
