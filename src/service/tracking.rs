//! Web tracking: logs written without a signature (from browsers, image beacons, apps) into a
//! logstore created or updated with `enable_tracking`; design §16.

use prost::Message;

use super::{Error, PutTarget, Result, Service};

/// Largest number of logs one tracking request may carry.
pub const MAX_TRACKED_LOGS: usize = 4096;

/// What one tracking request carries: a batch of logs sharing topic, source and tags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrackedBatch {
    /// `__topic__`.
    pub topic: Option<String>,
    /// `__source__`.
    pub source: Option<String>,
    /// `__tags__`, in the order sent.
    pub tags: Vec<(String, String)>,
    /// The logs, each its fields in the order sent. A `__time__` field is not a field: every
    /// log takes the time it was received.
    pub logs: Vec<Vec<(String, String)>>,
}

impl Service {
    /// Writes a tracking batch into `project/logstore` as one LogGroup, every log stamped with
    /// the time it was received. The logstore must have `enable_tracking`; the batch must hold
    /// between one and [`MAX_TRACKED_LOGS`] logs, each with at least one field.
    pub fn put_tracked(&self, project: &str, logstore: &str, batch: TrackedBatch) -> Result<()> {
        let ls = self.logstore(project, logstore)?;
        if !ls.rec.settings.enable_tracking {
            return Err(Error::TrackingDisabled(logstore.to_string()));
        }
        if batch.logs.is_empty() {
            return Err(Error::PostBodyInvalid(
                "the tracking request holds no logs; __logs__ needs at least one".into(),
            ));
        }
        if batch.logs.len() > MAX_TRACKED_LOGS {
            return Err(Error::PostBodyInvalid(format!(
                "the tracking request holds {} logs; at most {MAX_TRACKED_LOGS} are accepted",
                batch.logs.len()
            )));
        }
        let now = u32::try_from(self.clock.wall_millis() / 1000).unwrap_or(u32::MAX);
        let pairs = |kv: Vec<(String, String)>| -> Vec<(Vec<u8>, Vec<u8>)> {
            kv.into_iter()
                .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
                .collect()
        };
        let mut logs = Vec::with_capacity(batch.logs.len());
        for fields in batch.logs {
            let contents: Vec<cairn_proto::LogContent> = pairs(fields)
                .into_iter()
                .filter(|(k, _)| k != b"__time__")
                .map(|(key, value)| cairn_proto::LogContent { key, value })
                .collect();
            if contents.is_empty() {
                return Err(Error::PostBodyInvalid(
                    "a tracked log has no fields; every log needs at least one".into(),
                ));
            }
            logs.push(cairn_proto::Log {
                time: now,
                contents,
                time_ns: None,
            });
        }
        let group = cairn_proto::LogGroup {
            logs,
            topic: batch.topic,
            source: batch.source,
            log_tags: pairs(batch.tags)
                .into_iter()
                .map(|(key, value)| cairn_proto::LogTag { key, value })
                .collect(),
            ..Default::default()
        };
        self.put_logs(
            project,
            logstore,
            PutTarget::LoadBalance,
            &group.encode_to_vec(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{proj_ls1, service};
    use super::super::LogstoreSpec;
    use super::*;

    fn batch(logs: Vec<Vec<(&str, &str)>>) -> TrackedBatch {
        TrackedBatch {
            topic: Some("web".into()),
            source: Some("browser".into()),
            tags: vec![("page".into(), "/a".into())],
            logs: logs
                .into_iter()
                .map(|l| {
                    l.into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .collect(),
        }
    }

    fn enable(svc: &Service, on: bool) {
        svc.update_logstore(
            "proj",
            "ls1",
            LogstoreSpec {
                name: "ls1".into(),
                enable_tracking: Some(on),
                ..Default::default()
            },
        )
        .unwrap();
    }

    #[test]
    fn only_logstores_with_tracking_take_tracked_logs() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        let one = || batch(vec![vec![("k", "v")]]);
        assert!(matches!(
            svc.put_tracked("proj", "ls1", one()),
            Err(Error::TrackingDisabled(_))
        ));
        assert_eq!(svc.pull_logs("proj", "ls1", 0, 0, 10, None).unwrap().records.len(), 0);
        enable(&svc, true);
        svc.put_tracked("proj", "ls1", one()).unwrap();
        enable(&svc, false);
        assert!(matches!(
            svc.put_tracked("proj", "ls1", one()),
            Err(Error::TrackingDisabled(_))
        ));
        assert_eq!(svc.pull_logs("proj", "ls1", 0, 0, 10, None).unwrap().records.len(), 1);
        assert!(matches!(
            svc.put_tracked("proj", "nope", one()),
            Err(Error::LogStoreNotExist(_))
        ));
    }

    #[test]
    fn a_batch_is_one_log_group_stamped_with_the_receive_time() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        enable(&svc, true);
        svc.put_tracked(
            "proj",
            "ls1",
            batch(vec![
                vec![("a", "1"), ("__time__", "12"), ("b", "é")],
                vec![("c", "")],
            ]),
        )
        .unwrap();
        let got = svc.pull_logs("proj", "ls1", 0, 0, 10, None).unwrap();
        assert_eq!(got.records.len(), 1);
        let g = cairn_proto::LogGroup::decode(&got.records[0].payload[..]).unwrap();
        assert_eq!(g.topic.as_deref(), Some("web"));
        assert_eq!(g.source.as_deref(), Some("browser"));
        assert_eq!(g.log_tags[0].key, b"page");
        let fields: Vec<Vec<(String, String)>> = g
            .logs
            .iter()
            .map(|l| {
                l.contents
                    .iter()
                    .map(|c| {
                        (
                            String::from_utf8(c.key.clone()).unwrap(),
                            String::from_utf8(c.value.clone()).unwrap(),
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                vec![("a".into(), "1".into()), ("b".into(), "é".into())],
                vec![("c".into(), String::new())]
            ]
        );
        let received = (got.records[0].receive_millis / 1000) as u32;
        assert!(g.logs.iter().all(|l| l.time == received), "{g:?}");
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        enable(&svc, true);
        for b in [
            batch(vec![]),
            batch(vec![vec![("__time__", "1")]]),
            batch(vec![vec![("k", "v")]; MAX_TRACKED_LOGS + 1]),
        ] {
            assert!(matches!(
                svc.put_tracked("proj", "ls1", b),
                Err(Error::PostBodyInvalid(_))
            ));
        }
        assert_eq!(svc.pull_logs("proj", "ls1", 0, 0, 10, None).unwrap().records.len(), 0);
    }
}
