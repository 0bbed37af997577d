//! LogGroups sent as JSON: web tracking (logs written without a signature, from browsers, image
//! beacons and apps, into a logstore created or updated with `enable_tracking`; design §16) and
//! PutLogs with a JSON body (as the Java SDK sends with `application/json`; design §5).

use prost::Message;

use super::{Error, PutTarget, Result, Service};

/// Largest number of logs one JSON LogGroup may carry.
pub const MAX_JSON_LOGS: usize = 4096;
/// Largest number of fields and tags, together, one JSON LogGroup may carry.
pub const MAX_JSON_FIELDS: usize = 262_144;

/// A LogGroup as JSON carries it: logs sharing topic, source and tags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonBatch {
    /// `__topic__`.
    pub topic: Option<String>,
    /// `__source__`.
    pub source: Option<String>,
    /// `__tags__`, in the order sent.
    pub tags: Vec<(String, String)>,
    /// The logs, each its fields in the order sent, `__time__` and `__time_ns_part__` among
    /// them when sent.
    pub logs: Vec<Vec<(String, String)>>,
}

/// Where each log's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    /// Every log takes the time it was received; `__time__` is dropped (web tracking).
    Received,
    /// `__time__` (unix seconds) and `__time_ns_part__`, when given; else the receive time.
    Sent,
}

impl JsonBatch {
    /// The LogGroup this batch is, its logs' times as `times` says (`now`: the receive time,
    /// unix seconds).
    fn log_group(self, times: Times, now: u32) -> Result<cairn_proto::LogGroup> {
        if self.logs.is_empty() {
            return Err(Error::PostBodyInvalid(
                "the JSON body holds no logs; __logs__ needs at least one".into(),
            ));
        }
        if self.logs.len() > MAX_JSON_LOGS {
            return Err(Error::PostBodyInvalid(format!(
                "the JSON body holds {} logs; at most {MAX_JSON_LOGS} are accepted",
                self.logs.len()
            )));
        }
        let mut logs = Vec::with_capacity(self.logs.len());
        for fields in self.logs {
            let mut log = cairn_proto::Log {
                time: now,
                contents: Vec::with_capacity(fields.len()),
                time_ns: None,
            };
            for (key, value) in fields {
                match (key.as_str(), times) {
                    ("__time__", Times::Received) => {}
                    ("__time__", Times::Sent) => log.time = number(&key, &value)?,
                    ("__time_ns_part__", Times::Sent) => {
                        let ns = number(&key, &value)?;
                        if ns >= 1_000_000_000 {
                            return Err(Error::PostBodyInvalid(format!(
                                "__time_ns_part__ {ns} is not below one second"
                            )));
                        }
                        log.time_ns = Some(ns);
                    }
                    _ => log.contents.push(cairn_proto::LogContent {
                        key: key.into_bytes(),
                        value: value.into_bytes(),
                    }),
                }
            }
            if log.contents.is_empty() {
                return Err(Error::PostBodyInvalid(
                    "a log of the JSON body has no fields; every log needs at least one".into(),
                ));
            }
            logs.push(log);
        }
        let pairs = |kv: Vec<(String, String)>| {
            kv.into_iter()
                .map(|(k, v)| cairn_proto::LogTag {
                    key: k.into_bytes(),
                    value: v.into_bytes(),
                })
                .collect()
        };
        Ok(cairn_proto::LogGroup {
            logs,
            topic: self.topic,
            source: self.source,
            log_tags: pairs(self.tags),
            ..Default::default()
        })
    }
}

/// A `u32` written as JSON text (a number, or a string of one).
fn number(key: &str, value: &str) -> Result<u32> {
    value.trim_matches('"').parse::<u32>().map_err(|_| {
        Error::PostBodyInvalid(format!(
            "{key} {:?} is not a non-negative 32-bit integer",
            crate::excerpt::excerpt(value)
        ))
    })
}

impl Service {
    /// The receive time as a log's time (unix seconds in 32 bits).
    fn log_time_now(&self) -> u32 {
        u32::try_from(self.now_secs()).unwrap_or(u32::MAX)
    }

    /// Writes a tracking batch into `project/logstore` as one LogGroup, every log stamped with
    /// the time it was received. The logstore must have `enable_tracking`; the batch must hold
    /// between one and [`MAX_JSON_LOGS`] logs, each with at least one field.
    pub fn put_tracked(&self, project: &str, logstore: &str, batch: JsonBatch) -> Result<()> {
        let ls = self.logstore(project, logstore)?;
        if !ls.rec.settings.enable_tracking {
            return Err(Error::TrackingDisabled(logstore.to_string()));
        }
        let group = batch.log_group(Times::Received, self.log_time_now())?;
        self.put_logs(
            project,
            logstore,
            PutTarget::LoadBalance,
            &group.encode_to_vec(),
        )?;
        Ok(())
    }

    /// PutLogs of a JSON LogGroup: each log's time is its `__time__` (and `__time_ns_part__`),
    /// or the receive time when it has none. Answers the shard and cursor, as
    /// [`Service::put_logs`] does.
    pub fn put_json(
        &self,
        project: &str,
        logstore: &str,
        target: PutTarget,
        batch: JsonBatch,
    ) -> Result<(u32, u64)> {
        let group = batch.log_group(Times::Sent, self.log_time_now())?;
        self.put_logs(project, logstore, target, &group.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{proj_ls1, service};
    use super::super::LogstoreSpec;
    use super::*;

    fn batch(logs: Vec<Vec<(&str, &str)>>) -> JsonBatch {
        JsonBatch {
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

    /// How many LogGroups shard 0 of proj/ls1 holds.
    fn stored(svc: &Service) -> usize {
        svc.pull_logs("proj", "ls1", 0, 0, 10, None)
            .unwrap()
            .records
            .len()
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
        assert_eq!(stored(&svc), 0);
        enable(&svc, true);
        svc.put_tracked("proj", "ls1", one()).unwrap();
        enable(&svc, false);
        assert!(matches!(
            svc.put_tracked("proj", "ls1", one()),
            Err(Error::TrackingDisabled(_))
        ));
        assert_eq!(stored(&svc), 1);
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
    fn json_put_logs_keep_the_times_they_carry() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        // Tracking is not needed for a PutLogs.
        let mut b = batch(vec![
            vec![
                ("__time__", "1700000000"),
                ("__time_ns_part__", "7"),
                ("a", "1"),
            ],
            vec![("b", "2")],
        ]);
        b.tags.clear();
        svc.put_json("proj", "ls1", PutTarget::LoadBalance, b)
            .unwrap();
        let got = svc.pull_logs("proj", "ls1", 0, 0, 10, None).unwrap();
        let g = cairn_proto::LogGroup::decode(&got.records[0].payload[..]).unwrap();
        assert_eq!(
            (g.logs[0].time, g.logs[0].time_ns),
            (1_700_000_000, Some(7))
        );
        assert_eq!(g.logs[0].contents.len(), 1);
        let received = (got.records[0].receive_millis / 1000) as u32;
        assert_eq!((g.logs[1].time, g.logs[1].time_ns), (received, None));
        for (key, bad) in [
            ("__time__", "-1"),
            ("__time__", "x"),
            ("__time__", "4294967296"),
            ("__time_ns_part__", "1000000000"),
        ] {
            let b = batch(vec![vec![(key, bad), ("a", "1")]]);
            assert!(matches!(
                svc.put_json("proj", "ls1", PutTarget::LoadBalance, b),
                Err(Error::PostBodyInvalid(_))
            ));
        }
        assert_eq!(stored(&svc), 1);
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        enable(&svc, true);
        for b in [
            batch(vec![]),
            batch(vec![vec![("__time__", "1")]]),
            batch(vec![vec![("k", "v")]; MAX_JSON_LOGS + 1]),
        ] {
            assert!(matches!(
                svc.put_tracked("proj", "ls1", b),
                Err(Error::PostBodyInvalid(_))
            ));
        }
        assert_eq!(stored(&svc), 0);
    }
}
