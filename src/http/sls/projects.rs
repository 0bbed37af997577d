//! Projects: CreateProject, GetProject, ListProject, UpdateProject, DeleteProject.

use serde_json::{json, Value};

use super::{field, paging, Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::error::SlsError;
use crate::http::json::{self, Fields};
use crate::http::sls::wire;
use crate::service::{blocking, ProjectSpec};

pub(super) async fn create(ctx: Ctx) -> Reply {
    let v = ctx.stored_json_body()?;
    let f = Fields(&v);
    let body_name = f.str("projectName").map_err(field)?.map(str::to_string);
    let name = match (&ctx.project, body_name) {
        (Some(h), Some(b)) if *h != b => {
            return Err(SlsError::param(format!(
                "projectName {:?} does not match the Host project {:?}",
                excerpt(&b),
                excerpt(h)
            )))
        }
        (Some(h), _) => h.clone(),
        (None, Some(b)) => b,
        (None, None) => return Err(SlsError::param("projectName is required")),
    };
    let text = |k: &str| -> Result<String, SlsError> {
        Ok(f.str(k).map_err(field)?.unwrap_or_default().to_string())
    };
    let spec = ProjectSpec {
        name,
        description: text("description")?,
        resource_group_id: text("resourceGroupId")?,
        data_redundancy_type: text("dataRedundancyType")?,
    };
    let svc = ctx.state.svc.clone();
    blocking(move || svc.create_project(spec)).await?;
    Ok(json::empty())
}

pub(super) async fn get(ctx: Ctx) -> Reply {
    let p = ctx.state.svc.get_project(&ctx.project()?)?;
    Ok(json::response(&wire::project(&p)))
}

pub(super) async fn list(ctx: Ctx) -> Reply {
    let (offset, size) = paging(&ctx.query, 500)?;
    let filter = ctx.query.get("projectName").unwrap_or("");
    let page = ctx.state.svc.list_projects(offset, size, filter);
    let projects: Vec<Value> = page.projects.iter().map(wire::project).collect();
    Ok(json::response(
        &json!({"count": projects.len(), "total": page.total, "projects": projects}),
    ))
}

pub(super) async fn update(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let v = ctx.stored_json_body()?;
    let description = Fields(&v)
        .str("description")
        .map_err(field)?
        .unwrap_or_default()
        .to_string();
    let svc = ctx.state.svc.clone();
    blocking(move || svc.update_project(&project, description)).await?;
    Ok(json::empty())
}

pub(super) async fn delete(ctx: Ctx) -> Reply {
    let project = ctx.project()?;
    let svc = ctx.state.svc.clone();
    blocking(move || svc.delete_project(&project)).await?;
    Ok(json::empty())
}
