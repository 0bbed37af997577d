//! One log as queries see it: its time, its group's topic, source and tags, its contents, and
//! where it is stored (shard, cursor, position in its LogGroup).

use std::borrow::Cow;

use cairn_proto::logs::LogGroup;

use crate::schema::Target;

/// Where a log is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogAddress {
    /// Its shard.
    pub shard: u32,
    /// The cursor of its LogGroup.
    pub cursor: u64,
    /// Its position within the LogGroup.
    pub index: u32,
}

/// One log.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// Where it is stored.
    pub address: LogAddress,
    /// Its time, unix seconds.
    pub time: u32,
    /// The nanosecond part of its time.
    pub time_ns: Option<u32>,
    /// Its group's topic.
    pub topic: String,
    /// Its group's source.
    pub source: String,
    /// Its group's tags.
    pub tags: Vec<(String, String)>,
    /// Its contents, in order.
    pub contents: Vec<(String, String)>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Doc {
    /// The logs of one LogGroup, stored at `cursor` of `shard`.
    pub fn from_group(group: &LogGroup, shard: u32, cursor: u64) -> Vec<Doc> {
        (0..group.logs.len())
            .filter_map(|i| Doc::at(group, shard, cursor, i))
            .collect()
    }

    /// The log at position `index` of a LogGroup stored at `cursor` of `shard`.
    pub fn at(group: &LogGroup, shard: u32, cursor: u64, index: usize) -> Option<Doc> {
        let log = group.logs.get(index)?;
        Some(Doc {
            address: LogAddress {
                shard,
                cursor,
                index: index as u32,
            },
            time: log.time,
            time_ns: log.time_ns,
            topic: group.topic.clone().unwrap_or_default(),
            source: group.source.clone().unwrap_or_default(),
            tags: group
                .log_tags
                .iter()
                .map(|t| (text(&t.key), text(&t.value)))
                .collect(),
            contents: log
                .contents
                .iter()
                .map(|c| (text(&c.key), text(&c.value)))
                .collect(),
        })
    }

    /// The first value of the content field `key`.
    pub fn content(&self, key: &str) -> Option<&str> {
        self.contents
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value `target` names in this log, as text; none when the log has none.
    pub fn value(&self, target: &Target) -> Option<Cow<'_, str>> {
        match target {
            Target::Time => Some(Cow::Owned(self.time.to_string())),
            Target::Topic => Some(Cow::Borrowed(&self.topic)),
            Target::Source => Some(Cow::Borrowed(&self.source)),
            Target::Tag(t) => self.tag(t).map(Cow::Borrowed),
            Target::Content(k) => self.content(k).map(Cow::Borrowed),
            Target::Json(k, path) => {
                let v: serde_json::Value = serde_json::from_str(self.content(k)?).ok()?;
                let mut at = &v;
                for p in path {
                    at = match at {
                        serde_json::Value::Object(m) => m.get(p)?,
                        serde_json::Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Some(Cow::Owned(match at {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))
            }
        }
    }
}
