//! Groups (projects) and clusters (logstores): list and get.

use axum::http::StatusCode;

use super::{wire, Ctx, Kind, Reply};

pub(super) fn list(ctx: &Ctx) -> Reply {
    let page = ctx.svc().list_projects(0, usize::MAX, "");
    let items = page
        .projects
        .iter()
        .map(|p| wire::group(&ctx.base, p, ctx.cluster_count(&p.name)))
        .collect();
    ctx.page("/groups", items)
}

pub(super) fn get(ctx: &Ctx, g: &str) -> Reply {
    let p = ctx.group(g)?;
    let v = wire::group(&ctx.base, &p, ctx.cluster_count(&p.name));
    Ok((StatusCode::OK, v, Kind::One))
}

pub(super) fn list_clusters(ctx: &Ctx, g: &str) -> Reply {
    let p = ctx.group(g)?;
    let (_, names) = ctx.svc().list_logstores(&p.name, 0, usize::MAX, "")?;
    let items = names
        .iter()
        .filter_map(|n| ctx.svc().get_logstore(&p.name, n).ok())
        .map(|l| wire::cluster(&ctx.base, &p, &l))
        .collect();
    ctx.page(&format!("/groups/{}/clusters", p.id), items)
}

pub(super) fn get_cluster(ctx: &Ctx, g: &str, c: &str) -> Reply {
    let (p, l) = ctx.cluster(g, c)?;
    Ok((StatusCode::OK, wire::cluster(&ctx.base, &p, &l), Kind::One))
}
