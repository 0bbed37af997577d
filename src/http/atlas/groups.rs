//! Groups (projects) and clusters (logstores): list and get.

use axum::http::StatusCode;

use super::{wire, Ctx, Kind, Reply};

pub(super) fn list(ctx: &Ctx) -> Reply {
    let items = ctx
        .svc()
        .project_summaries()
        .iter()
        .map(|p| wire::group(&ctx.base, &p.rec, p.logstores))
        .collect();
    ctx.page("/groups", items)
}

pub(super) fn get(ctx: &Ctx, g: &str) -> Reply {
    let p = ctx.group(g)?;
    let v = wire::group(&ctx.base, &p.rec, p.logstores);
    Ok((StatusCode::OK, v, Kind::One))
}

pub(super) fn list_clusters(ctx: &Ctx, g: &str) -> Reply {
    let (p, list) = ctx.svc().project_logstores(g)?;
    let items = list
        .iter()
        .map(|l| wire::cluster(&ctx.base, &p, l))
        .collect();
    ctx.page(&format!("/groups/{}/clusters", p.id), items)
}

pub(super) fn get_cluster(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let cl = ctx.cluster(g, c)?;
    Ok((
        StatusCode::OK,
        wire::cluster(&ctx.base, &cl.p, &cl.l),
        Kind::One,
    ))
}
