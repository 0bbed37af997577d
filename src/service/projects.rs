//! Projects: create, get, list, update, delete.

use super::{new_id, validate_project_name, Error, Result, Service};
use crate::meta::{MetaOp, ProjectRec};

/// What CreateProject carries.
#[derive(Debug, Default, Clone)]
pub struct ProjectSpec {
    /// Project name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Resource group id (kept, echoed back).
    pub resource_group_id: String,
    /// `LRS`/`ZRS` or empty.
    pub data_redundancy_type: String,
}

/// One page of ListProject.
#[derive(Debug)]
pub struct ProjectList {
    /// Number of projects matching the filter.
    pub total: usize,
    /// The page.
    pub projects: Vec<ProjectRec>,
}

/// A project and how many logstores it has.
#[derive(Debug, Clone)]
pub struct ProjectSummary {
    /// The project.
    pub rec: ProjectRec,
    /// Its number of logstores.
    pub logstores: usize,
}

/// Longest project description accepted.
const MAX_DESCRIPTION: usize = 1024;

impl Service {
    /// CreateProject.
    pub fn create_project(&self, spec: ProjectSpec) -> Result<ProjectRec> {
        validate_project_name(&spec.name)?;
        if spec.description.len() > MAX_DESCRIPTION {
            return Err(Error::ProjectInfoInvalid(format!(
                "description is longer than {MAX_DESCRIPTION} bytes"
            )));
        }
        let _ddl = self.ddl.lock();
        if self.catalog.read().projects.contains_key(&spec.name) {
            return Err(Error::ProjectAlreadyExist(spec.name));
        }
        let now = self.now_secs();
        let rec = ProjectRec {
            name: spec.name,
            id: new_id(),
            description: spec.description,
            resource_group_id: spec.resource_group_id,
            data_redundancy_type: spec.data_redundancy_type,
            create_time: now,
            last_modify_time: now,
        };
        self.commit(&[MetaOp::PutProject(rec.clone())], |c| {
            c.projects.insert(rec.name.clone(), rec.clone());
        })?;
        Ok(rec)
    }

    /// GetProject.
    pub fn get_project(&self, name: &str) -> Result<ProjectRec> {
        self.catalog
            .read()
            .projects
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ProjectNotExist(name.to_string()))
    }

    /// The project `key` names — its 24-hex id, else its name — with its logstore count.
    pub fn resolve_project(&self, key: &str) -> Result<ProjectSummary> {
        let cat = self.catalog.read();
        let rec = cat
            .projects
            .values()
            .find(|p| p.id == key)
            .or_else(|| cat.projects.get(key))
            .ok_or_else(|| Error::ProjectNotExist(key.to_string()))?;
        Ok(cat.summary(rec))
    }

    /// Every project, sorted by name, with its logstore count.
    pub fn project_summaries(&self) -> Vec<ProjectSummary> {
        let cat = self.catalog.read();
        cat.projects.values().map(|p| cat.summary(p)).collect()
    }

    /// ListProject: projects whose name contains `name_filter`, sorted by name, paged.
    pub fn list_projects(&self, offset: usize, size: usize, name_filter: &str) -> ProjectList {
        let cat = self.catalog.read();
        let matching: Vec<&ProjectRec> = cat
            .projects
            .values()
            .filter(|p| p.name.contains(name_filter))
            .collect();
        ProjectList {
            total: matching.len(),
            projects: matching
                .into_iter()
                .skip(offset)
                .take(size)
                .cloned()
                .collect(),
        }
    }

    /// UpdateProject (the description).
    pub fn update_project(&self, name: &str, description: String) -> Result<()> {
        if description.len() > MAX_DESCRIPTION {
            return Err(Error::ProjectInfoInvalid(format!(
                "description is longer than {MAX_DESCRIPTION} bytes"
            )));
        }
        let _ddl = self.ddl.lock();
        let mut rec = self.get_project(name)?;
        rec.description = description;
        rec.last_modify_time = self.now_secs();
        self.commit(&[MetaOp::PutProject(rec.clone())], |c| {
            c.projects.insert(rec.name.clone(), rec.clone());
        })
    }

    /// DeleteProject, with every logstore in it.
    pub fn delete_project(&self, name: &str) -> Result<()> {
        let _ddl = self.ddl.lock();
        self.project_exists(name)?;
        let stores: Vec<_> = self
            .catalog
            .read()
            .logstores
            .iter()
            .filter(|((p, _), _)| p == name)
            .map(|(_, ls)| ls.clone())
            .collect();
        let mut ops = Vec::new();
        let mut dirs = Vec::new();
        for ls in &stores {
            ops.push(MetaOp::DeleteLogstore(
                ls.rec.project.clone(),
                ls.rec.name.clone(),
            ));
            let (intents, keys) = self.logstore_deletion(ls);
            ops.extend(intents);
            dirs.extend(keys);
        }
        ops.push(MetaOp::DeleteProject(name.to_string()));
        self.commit(&ops, |c| {
            c.projects.remove(name);
            c.logstores.retain(|(p, _), _| p != name);
        })?;
        for ls in stores {
            self.forget_groups(name, &ls.rec.name);
            self.forget_backups(name, &ls.rec.name);
        }
        self.remove_claimed(dirs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::service;
    use super::*;

    fn spec(name: &str) -> ProjectSpec {
        ProjectSpec {
            name: name.into(),
            description: "d".into(),
            ..Default::default()
        }
    }

    #[test]
    fn crud_and_errors() {
        let (svc, _dir) = service();
        let p = svc.create_project(spec("proj-a")).unwrap();
        assert_eq!(p.id.len(), 24);
        assert!(matches!(
            svc.create_project(spec("proj-a")),
            Err(Error::ProjectAlreadyExist(_))
        ));
        assert!(matches!(
            svc.create_project(spec("Bad_Name")),
            Err(Error::ParameterInvalid(_))
        ));
        svc.create_project(spec("proj-b")).unwrap();
        let page = svc.list_projects(1, 10, "proj");
        assert_eq!(page.total, 2);
        assert_eq!(page.projects.len(), 1);
        assert_eq!(page.projects[0].name, "proj-b");
        svc.update_project("proj-a", "new".into()).unwrap();
        assert_eq!(svc.get_project("proj-a").unwrap().description, "new");
        assert_eq!(svc.resolve_project(&p.id).unwrap().rec.name, "proj-a");
        assert_eq!(svc.resolve_project("proj-a").unwrap().rec.id, p.id);
        assert_eq!(svc.resolve_project("proj-b").unwrap().logstores, 0);
        assert!(matches!(
            svc.resolve_project("nope"),
            Err(Error::ProjectNotExist(_))
        ));
        svc.delete_project("proj-a").unwrap();
        assert!(matches!(
            svc.get_project("proj-a"),
            Err(Error::ProjectNotExist(_))
        ));
        assert!(matches!(
            svc.delete_project("proj-a"),
            Err(Error::ProjectNotExist(_))
        ));
    }
}
