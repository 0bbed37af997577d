//! Logstores: CreateLogStore, GetLogStore, ListLogStores, UpdateLogStore, DeleteLogStore.

use serde_json::{json, Value};

use super::{paging, Ctx, Reply};
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::http::json::{self, FieldError, Fields};
use crate::http::sls::wire;
use crate::service::{blocking, LogstoreSpec};

/// The fields of a CreateLogStore / UpdateLogStore body.
fn spec(v: &Value) -> Result<LogstoreSpec, SlsError> {
    let invalid = |m: String| SlsError::new(SlsCode::LogStoreInfoInvalid, m);
    if !v.is_object() {
        return Err(invalid("the logstore must be a JSON object".into()));
    }
    let f = Fields(v);
    let wrong = |e: FieldError| invalid(e.to_string());
    Ok(LogstoreSpec {
        name: f
            .str("logstoreName")
            .map_err(wrong)?
            .ok_or_else(|| invalid("logstoreName is required".into()))?
            .to_string(),
        ttl: f.u32("ttl").map_err(wrong)?,
        shard_count: f.u32("shardCount").map_err(wrong)?,
        enable_tracking: f.bool("enable_tracking").map_err(wrong)?,
        auto_split: f.bool("autoSplit").map_err(wrong)?,
        max_split_shard: f.u32("maxSplitShard").map_err(wrong)?,
        append_meta: f.bool("appendMeta").map_err(wrong)?,
        telemetry_type: f.str("telemetryType").map_err(wrong)?.map(str::to_string),
        hot_ttl: f.u32("hot_ttl").map_err(wrong)?,
        mode: f.str("mode").map_err(wrong)?.map(str::to_string),
        infrequent_access_ttl: f.u32("infrequentAccessTTL").map_err(wrong)?,
        encrypt_conf: f.object("encrypt_conf").map_err(wrong)?.cloned(),
        sharding_policy: f.object("shardingPolicy").map_err(wrong)?.cloned(),
        product_type: f.str("productType").map_err(wrong)?.map(str::to_string),
        processor_id: f.str("processorId").map_err(wrong)?.map(str::to_string),
        resource_group_id: f.str("resourceGroupId").map_err(wrong)?.map(str::to_string),
    })
}

pub(super) async fn create(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let spec = spec(&ctx.stored_json_body()?)?;
    let svc = ctx.state.svc.clone();
    blocking(move || svc.create_logstore(&project, spec)).await?;
    Ok(json::empty())
}

pub(super) async fn get(ctx: Ctx, ls: &str) -> Reply {
    let rec = ctx.state.svc.get_logstore(&ctx.project()?, ls)?;
    Ok(json::response(&wire::logstore(&rec)))
}

pub(super) async fn list(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let (offset, size) = paging(&ctx.query, 500)?;
    let filter = ctx.query.get("logstoreName").unwrap_or("");
    let (total, names) = ctx
        .state
        .svc
        .list_logstores(&project, offset, size, filter)?;
    Ok(json::response(
        &json!({"count": names.len(), "total": total, "logstores": names}),
    ))
}

pub(super) async fn update(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let mut body = ctx.stored_json_body()?;
    // The path names the logstore; the Rust SDK leaves it out of the body.
    if let Some(o) = body.as_object_mut() {
        o.entry("logstoreName").or_insert_with(|| json!(ls));
    }
    let spec = spec(&body)?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.update_logstore(&project, &ls, spec)).await?;
    Ok(json::empty())
}

pub(super) async fn delete(ctx: Ctx, ls: &str) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.delete_logstore(&project, &ls)).await?;
    Ok(json::empty())
}
