//! Shards: ListShards, SplitShard, MergeShards, DeleteShard.

use serde_json::Value;

use super::{Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::error::SlsError;
use crate::http::json;
use crate::http::sls::wire;
use crate::meta::ShardRec;
use crate::service::{blocking, parse_hash_key};

fn shard_list(shards: &[ShardRec]) -> Reply {
    Ok(json::response(&Value::Array(
        shards.iter().map(wire::shard).collect(),
    )))
}

pub(super) async fn list(ctx: Ctx, ls: &str) -> Reply {
    shard_list(&ctx.state.svc.list_shards(&ctx.project()?, ls)?)
}

pub(super) async fn split(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let key = match ctx.query.get("key") {
        None | Some("") => None,
        Some(k) => Some(parse_hash_key(k)?),
    };
    if let Some(n) = ctx.query.get("shardCount") {
        if n != "2" {
            return Err(SlsError::param(format!(
                "shardCount {} is not supported; a shard splits into 2",
                excerpt(n)
            )));
        }
    }
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    shard_list(&blocking(move || svc.split_shard(&project, &ls, shard, key)).await?)
}

pub(super) async fn merge(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    shard_list(&blocking(move || svc.merge_shards(&project, &ls, shard)).await?)
}

pub(super) async fn delete(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    blocking(move || svc.delete_shard(&project, &ls, shard)).await?;
    Ok(json::empty())
}
