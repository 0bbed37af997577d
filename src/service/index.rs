//! Index configuration of a logstore: CreateIndex, GetIndex, UpdateIndex, DeleteIndex
//! (design §17). The configuration is a setting of the logstore, so it is kept, backed up and
//! restored with it.

use super::{Error, Result, Service};
use crate::excerpt::excerpt;
use crate::meta::index::{IndexConfig, KeyIndex, KeyType, TextRules};

/// Longest field value indexed, at most (`max_text_len`).
pub const MAX_TEXT_LEN: u32 = 16_384;
/// Shortest `max_text_len` accepted.
pub const MIN_TEXT_LEN: u32 = 64;
/// Most field indexes in one configuration.
pub const MAX_KEYS: usize = 500;
/// Longest field name or alias.
const MAX_NAME: usize = 128;

fn invalid(m: String) -> Error {
    Error::ParameterInvalid(m)
}

fn check_text(where_: &str, t: &TextRules) -> Result<()> {
    if t.token.is_empty() {
        return Err(invalid(format!(
            "{where_}: token needs at least one separator"
        )));
    }
    for tok in &t.token {
        if tok.chars().count() != 1 {
            return Err(invalid(format!(
                "{where_}: every token is one character, not {:?}",
                excerpt(tok)
            )));
        }
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} {:?} must be 1 to {MAX_NAME} bytes without control characters",
            excerpt(name)
        )));
    }
    Ok(())
}

fn check_key(name: &str, k: &KeyIndex) -> Result<()> {
    check_name("field name", name)?;
    if let Some(a) = &k.field.alias {
        check_name("alias", a)?;
    }
    let place = format!("keys.{}", excerpt(name));
    match (k.field.kind, &k.field.text) {
        (KeyType::Text | KeyType::Json, Some(t)) => check_text(&place, t)?,
        (KeyType::Text | KeyType::Json, None) => {
            return Err(invalid(format!(
                "{place}: a {} field needs token",
                k.field.kind.as_str()
            )))
        }
        (KeyType::Long | KeyType::Double, _) => {}
    }
    if k.field.kind != KeyType::Json
        && (!k.json_keys.is_empty() || k.index_all.is_some() || k.max_depth.is_some())
    {
        return Err(invalid(format!(
            "{place}: json_keys, index_all and max_depth belong to json fields"
        )));
    }
    if k.max_depth.is_some_and(|d| d < -1) {
        return Err(invalid(format!(
            "{place}: max_depth is -1 (no limit) or a depth"
        )));
    }
    for (sub, j) in &k.json_keys {
        check_name("json sub-key", sub)?;
        if j.kind == KeyType::Json {
            return Err(invalid(format!(
                "{place}.json_keys.{}: a sub-key is text, long or double",
                excerpt(sub)
            )));
        }
        if let Some(t) = &j.text {
            check_text(&format!("{place}.json_keys.{}", excerpt(sub)), t)?;
        }
    }
    Ok(())
}

/// Checks a configuration as CreateIndex and UpdateIndex take it.
pub fn validate(cfg: &IndexConfig) -> Result<()> {
    if cfg.line.is_none() && cfg.keys.is_empty() {
        return Err(invalid(
            "an index needs a full-text index (line) or field indexes (keys)".into(),
        ));
    }
    if let Some(line) = &cfg.line {
        check_text("line", &line.text)?;
        if line.include_keys.is_some() && line.exclude_keys.is_some() {
            return Err(invalid(
                "line: include_keys and exclude_keys cannot both be given".into(),
            ));
        }
    }
    if cfg.keys.len() > MAX_KEYS {
        return Err(invalid(format!(
            "{} field indexes; at most {MAX_KEYS}",
            cfg.keys.len()
        )));
    }
    for (name, k) in &cfg.keys {
        check_key(name, k)?;
    }
    let mut aliases: Vec<&str> = cfg
        .keys
        .values()
        .filter_map(|k| k.field.alias.as_deref())
        .collect();
    aliases.sort_unstable();
    if let Some(w) = aliases.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(format!(
            "alias {:?} names two fields",
            excerpt(w[0])
        )));
    }
    if let Some(n) = cfg.max_text_len {
        if !(MIN_TEXT_LEN..=MAX_TEXT_LEN).contains(&n) {
            return Err(invalid(format!(
                "max_text_len {n} is out of range [{MIN_TEXT_LEN}, {MAX_TEXT_LEN}]"
            )));
        }
    }
    Ok(())
}

impl Service {
    /// CreateIndex: the logstore must have none.
    pub fn create_index(&self, project: &str, logstore: &str, cfg: IndexConfig) -> Result<()> {
        self.change_index(project, logstore, |old| match old {
            Some(_) => Err(Error::IndexAlreadyExist(logstore.to_string())),
            None => Ok(Some(cfg)),
        })
    }

    /// GetIndex.
    pub fn get_index(&self, project: &str, logstore: &str) -> Result<IndexConfig> {
        self.logstore(project, logstore)?
            .rec
            .settings
            .index
            .clone()
            .ok_or_else(|| Error::IndexConfigNotExist(logstore.to_string()))
    }

    /// UpdateIndex: replaces the whole configuration; the logstore must have one.
    pub fn update_index(&self, project: &str, logstore: &str, cfg: IndexConfig) -> Result<()> {
        self.change_index(project, logstore, |old| match old {
            Some(_) => Ok(Some(cfg)),
            None => Err(Error::IndexConfigNotExist(logstore.to_string())),
        })
    }

    /// DeleteIndex: the logstore must have one.
    pub fn delete_index(&self, project: &str, logstore: &str) -> Result<()> {
        self.change_index(project, logstore, |old| match old {
            Some(_) => Ok(None),
            None => Err(Error::IndexConfigNotExist(logstore.to_string())),
        })
    }

    /// Replaces the index configuration by what `change` makes of the current one, checked and
    /// stamped, in one metadata commit.
    fn change_index(
        &self,
        project: &str,
        logstore: &str,
        change: impl FnOnce(Option<&IndexConfig>) -> Result<Option<IndexConfig>>,
    ) -> Result<()> {
        let _ddl = self.ddl.lock();
        let old = self.logstore(project, logstore)?;
        let now = self.now_secs();
        let mut next = change(old.rec.settings.index.as_ref())?;
        if let Some(cfg) = &mut next {
            validate(cfg)?;
            cfg.last_modify_time = now;
        }
        let mut rec = old.rec.clone();
        rec.settings.index = next;
        rec.last_modify_time = now;
        self.replace_logstore(&old, rec, old.logs.clone(), Vec::new())?;
        self.wake_indexer();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{proj_ls1, reopen, service_with_manual_clock};
    use super::*;
    use crate::meta::index::{FieldIndex, LineIndex};

    fn text(tokens: &[&str]) -> TextRules {
        TextRules {
            token: tokens.iter().map(|t| t.to_string()).collect(),
            case_sensitive: Some(false),
            chn: None,
        }
    }

    fn field(kind: KeyType) -> FieldIndex {
        FieldIndex {
            kind,
            text: matches!(kind, KeyType::Text | KeyType::Json).then(|| text(&[",", " "])),
            alias: None,
            doc_value: Some(true),
            extra: Default::default(),
        }
    }

    fn key(kind: KeyType) -> KeyIndex {
        KeyIndex {
            field: field(kind),
            json_keys: Default::default(),
            index_all: None,
            max_depth: None,
        }
    }

    fn config() -> IndexConfig {
        IndexConfig {
            line: Some(LineIndex {
                text: text(&[",", " ", "\n", ";"]),
                include_keys: None,
                exclude_keys: Some(vec!["password".into()]),
                extra: Default::default(),
            }),
            keys: [
                ("status".to_string(), key(KeyType::Long)),
                ("latency".to_string(), key(KeyType::Double)),
                ("path".to_string(), key(KeyType::Text)),
            ]
            .into(),
            max_text_len: Some(2048),
            ..Default::default()
        }
    }

    #[test]
    fn the_index_lifecycle_and_its_errors() {
        let (svc, dir, _clock) = service_with_manual_clock(1_700_000_000_000);
        proj_ls1(&svc, 1, 1);
        assert!(matches!(
            svc.get_index("proj", "ls1"),
            Err(Error::IndexConfigNotExist(_))
        ));
        assert!(matches!(
            svc.update_index("proj", "ls1", config()),
            Err(Error::IndexConfigNotExist(_))
        ));
        assert!(matches!(
            svc.delete_index("proj", "ls1"),
            Err(Error::IndexConfigNotExist(_))
        ));
        svc.create_index("proj", "ls1", config()).unwrap();
        assert!(matches!(
            svc.create_index("proj", "ls1", config()),
            Err(Error::IndexAlreadyExist(_))
        ));
        let got = svc.get_index("proj", "ls1").unwrap();
        assert_eq!(got.last_modify_time, 1_700_000_000);
        assert_eq!(
            IndexConfig {
                last_modify_time: 0,
                ..got
            },
            config()
        );
        let mut changed = config();
        changed.keys.remove("path");
        changed.line = None;
        svc.update_index("proj", "ls1", changed.clone()).unwrap();
        drop(svc);
        // Kept across a restart, like every setting.
        let svc = reopen(dir.path(), _clock.clone());
        assert_eq!(svc.get_index("proj", "ls1").unwrap().keys, changed.keys);
        svc.delete_index("proj", "ls1").unwrap();
        assert!(matches!(
            svc.get_index("proj", "ls1"),
            Err(Error::IndexConfigNotExist(_))
        ));
        assert!(matches!(
            svc.get_index("proj", "nope"),
            Err(Error::LogStoreNotExist(_))
        ));
    }

    #[test]
    fn a_restored_checkpoint_has_the_index_of_its_cut() {
        let (svc, _dir, _clock) = service_with_manual_clock(1_700_000_000_000);
        let svc = std::sync::Arc::new(svc);
        proj_ls1(&svc, 1, 1);
        svc.create_index("proj", "ls1", config()).unwrap();
        let cut = svc.take_checkpoint("proj", "ls1").unwrap();
        svc.delete_index("proj", "ls1").unwrap();
        let jobs = svc
            .start_restore("proj", "ls1", &cut.id, "proj", "restored")
            .unwrap();
        super::super::testing::wait_jobs(&svc, &jobs[0].batch_id);
        let got = svc.get_index("proj", "restored").unwrap();
        assert_eq!(got.keys, config().keys);
        assert!(svc.get_index("proj", "ls1").is_err());
    }

    #[test]
    fn bad_configurations_are_refused_and_change_nothing() {
        let (svc, _dir, _clock) = service_with_manual_clock(1_700_000_000_000);
        proj_ls1(&svc, 1, 1);
        let mut bad: Vec<IndexConfig> = Vec::new();
        bad.push(IndexConfig::default());
        let mut c = config();
        c.line.as_mut().unwrap().text.token.clear();
        bad.push(c);
        let mut c = config();
        c.line.as_mut().unwrap().text.token.push("ab".into());
        bad.push(c);
        let mut c = config();
        c.line.as_mut().unwrap().include_keys = Some(vec!["a".into()]);
        bad.push(c);
        let mut c = config();
        let mut t = key(KeyType::Text);
        t.field.text = None;
        c.keys.insert("t".into(), t);
        bad.push(c);
        let mut c = config();
        c.keys.insert("".into(), key(KeyType::Long));
        bad.push(c);
        let mut c = config();
        c.max_text_len = Some(10);
        bad.push(c);
        let mut c = config();
        c.max_text_len = Some(100_000);
        bad.push(c);
        let mut c = config();
        for k in ["a", "b"] {
            let mut same = key(KeyType::Long);
            same.field.alias = Some("same".into());
            c.keys.insert(k.into(), same);
        }
        bad.push(c);
        let mut c = config();
        let mut j = key(KeyType::Json);
        j.json_keys.insert("inner".into(), field(KeyType::Json));
        c.keys.insert("j".into(), j);
        bad.push(c);
        let mut c = config();
        let mut l = key(KeyType::Long);
        l.index_all = Some(true);
        c.keys.insert("l".into(), l);
        bad.push(c);
        let mut c = config();
        let mut l = key(KeyType::Long);
        l.max_depth = Some(2);
        c.keys.insert("l".into(), l);
        bad.push(c);
        let mut c = config();
        let mut j = key(KeyType::Json);
        j.max_depth = Some(-2);
        c.keys.insert("j".into(), j);
        bad.push(c);
        for (i, cfg) in bad.into_iter().enumerate() {
            assert!(
                matches!(
                    svc.create_index("proj", "ls1", cfg),
                    Err(Error::ParameterInvalid(_))
                ),
                "case {i}"
            );
        }
        assert!(matches!(
            svc.get_index("proj", "ls1"),
            Err(Error::IndexConfigNotExist(_))
        ));
    }
}
