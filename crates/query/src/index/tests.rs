//! The index answers every search statement exactly as the matcher does.

use std::collections::BTreeSet;

use arrow::array::Array;
use std::sync::Arc;

use super::read::{search, search_statement};
use super::store::{Coverage, SegmentIndex};
use super::{plan, Layout};
use crate::doc::{Doc, LogAddress};
use crate::matcher::tests::schema;
use crate::matcher::Matcher;
use crate::schema::{FieldType, Target};
use crate::search::parse;

const PATHS: [&str; 5] = [
    "/api/Users/7",
    "/api/orders",
    "/static/app.js",
    "/health",
    "/login",
];
const CODES: [&str; 3] = ["ERR_DB", "err_db", "OK"];
const WORDS: [&str; 6] = [
    "Connection",
    "refused",
    "by",
    "upstream",
    "timeout",
    "retry",
];

/// A small deterministic generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn docs() -> Vec<Doc> {
    let mut g = Gen(7);
    (0..400)
        .map(|i| {
            let mut contents = vec![
                ("path".to_string(), PATHS[g.next(PATHS.len())].to_string()),
                (
                    "status".to_string(),
                    ["200", "404", "500", "x"][g.next(4)].to_string(),
                ),
                ("msg".to_string(), {
                    let n = 1 + g.next(4);
                    (0..n)
                        .map(|_| WORDS[g.next(WORDS.len())])
                        .collect::<Vec<_>>()
                        .join(" ")
                }),
            ];
            if g.next(3) > 0 {
                contents.push(("code".into(), CODES[g.next(CODES.len())].into()));
            }
            if g.next(2) == 0 {
                contents.push(("rt".into(), format!("{}", g.next(1000) as f64 / 1000.0)));
            }
            if g.next(2) == 0 {
                contents.push((
                    "ua".into(),
                    ["curl/8.0", "Mozilla/5.0", "cu-l"][g.next(3)].into(),
                ));
            }
            if g.next(4) == 0 {
                contents.push((
                    "extra".into(),
                    format!(
                        r#"{{"user":{{"id":{},"name":"n{}"}}}}"#,
                        g.next(5),
                        g.next(3)
                    ),
                ));
            }
            if g.next(5) == 0 {
                contents.push(("secret".into(), "hunter2 refused".into()));
            }
            if i % 11 == 0 {
                // A key twice: the second value is only in the full-text index.
                contents.push(("path".into(), "/dup/second Login".into()));
            }
            Doc {
                address: LogAddress {
                    shard: 0,
                    cursor: i / 4,
                    index: (i % 4) as u32,
                },
                time: 1_700_000_000 + (i as u32 * 7) % 300,
                time_ns: (i % 3 == 0).then_some(i as u32),
                topic: ["web", "db"][g.next(2)].into(),
                source: ["10.0.0.1", "10.0.0.2"][g.next(2)].into(),
                tags: if g.next(2) == 0 {
                    vec![("env".into(), ["prod", "dev stage"][g.next(2)].into())]
                } else {
                    Vec::new()
                },
                contents,
            }
        })
        .collect()
}

const QUERIES: &[&str] = &[
    "*",
    "refused",
    "Refused and not upstream",
    "refused or timeout",
    "#\"refused by\"",
    "#\"by refused\"",
    "\"connection refused\"",
    "conn*",
    "re?used",
    "path:/api/users",
    "path:api/*",
    "path:users and status:500",
    "code:ERR_DB",
    "code:err_db",
    "code:*",
    "not code:*",
    "status:500",
    "status:x",
    "status >= 404",
    "status < 404",
    "status in [200 500)",
    "status in (200 500]",
    "rt > 0.5",
    "rt <= 0.25",
    "rt:*",
    "agent:curl*",
    "ua:cu?l",
    "ua:mozilla",
    "__topic__:web",
    "__source__:10.0.0.2",
    "__tag__:env:prod",
    "__tag__:env:stage",
    "__tag__:env:*",
    "__tag__:env:pro*",
    "__time__ >= 1700000100",
    "__time__ in [1700000100 1700000200)",
    "__time__ > 1700000099.5",
    "extra.user.id >= 2",
    "extra.user.name:n1",
    "extra:*",
    "hunter2",
    "(refused or timeout) and not path:health and status >= 200",
    "not (status:500 or status:404)",
    "users",
    "mozilla",
    "\"api users\"",
    "#\"api orders\"",
    "api and curl",
    "static and refused",
    "cu*",
    "second",
    "\"dup second\"",
    "path:second",
    "login and not path:login",
    "\"users 7\" or hunter2",
];

fn index_of(docs: &[Doc]) -> (tempfile::TempDir, SegmentIndex) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Arc::new(Layout::new(&schema()));
    let mut ix = SegmentIndex::create(dir.path(), Coverage::empty("c", 0, 1), &layout).unwrap();
    let half = docs.len() / 2;
    // Two commits, so the index has two pieces.
    ix.add(&docs[..half], docs[half].address.cursor, Some(5), false)
        .unwrap();
    ix.add(&docs[half..], 100, Some(9), true).unwrap();
    (dir, ix)
}

fn addrs(docs: impl IntoIterator<Item = LogAddress>) -> BTreeSet<LogAddress> {
    docs.into_iter().collect()
}

#[test]
fn the_index_finds_what_the_matcher_finds() {
    let s = schema();
    let docs = docs();
    let (_dir, ix) = index_of(&docs);
    let view = ix.view(0);
    assert!(
        !view.layout.line_shared.is_empty(),
        "full-text conditions also search keys' fields"
    );
    assert_eq!(view.coverage.docs, docs.len() as u64);
    assert!(view.coverage.sealed);
    let mut found_some = 0;
    for q in QUERIES {
        let m = Matcher::compile(&parse(q).unwrap(), &s).unwrap();
        let want = addrs(docs.iter().filter(|d| m.matches(d, &s)).map(|d| d.address));
        let p = plan(&m, &view.layout);
        let hits = search(&view, p.query.as_ref()).unwrap();
        let got = addrs(hits.addresses().unwrap());
        if p.exact {
            assert_eq!(got, want, "{q}");
        } else {
            assert!(got.is_superset(&want), "{q}: inexact plans find a superset");
        }
        found_some += usize::from(!want.is_empty());
    }
    // The statements are not vacuous: all but a few find logs.
    assert!(
        found_some + 3 >= QUERIES.len(),
        "{found_some} of {}",
        QUERIES.len()
    );
}

#[test]
fn time_range_and_topic_are_conditions_of_the_index_query() {
    let s = schema();
    let docs = docs();
    let (_dir, ix) = index_of(&docs);
    let view = ix.view(0);
    let m = Matcher::compile(&parse("refused").unwrap(), &s).unwrap();
    let (from, to) = (1_700_000_050, 1_700_000_120);
    let p = plan(&m, &view.layout);
    assert!(p.exact);
    let got = search_statement(&view, &p, from, to, Some("db")).unwrap();
    let in_range = |d: &&Doc| {
        let t = i64::from(d.time);
        t >= from && t < to && d.topic == "db"
    };
    let want = addrs(
        docs.iter()
            .filter(in_range)
            .filter(|d| m.matches(d, &s))
            .map(|d| d.address),
    );
    assert_eq!(addrs(got.hits.addresses().unwrap()), want);
    assert_eq!(got.in_range, docs.iter().filter(in_range).count());
}

#[test]
fn sort_keys_and_columns_come_from_the_index() {
    let docs = docs();
    let (_dir, ix) = index_of(&docs);
    let view = ix.view(0);
    let hits = search(&view, &tantivy::query::AllQuery).unwrap();
    let mut keys = Vec::new();
    hits.for_each_key(|k| keys.push(k)).unwrap();
    let mut want: Vec<_> = docs
        .iter()
        .map(|d| (d.time, d.time_ns, d.address))
        .collect();
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    // Columns in key order: compare value by address.
    let order = hits.addresses().unwrap();
    let by_addr = |a: &LogAddress| docs.iter().find(|d| d.address == *a).unwrap();
    let status = hits
        .column(&Target::Content("status".into()), FieldType::Long)
        .unwrap()
        .unwrap();
    let path = hits
        .column(&Target::Content("path".into()), FieldType::Text)
        .unwrap()
        .unwrap();
    let status = status
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    let path = path
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    for (i, a) in order.iter().enumerate() {
        let d = by_addr(a);
        let s = d.content("status").and_then(|v| v.parse::<i64>().ok());
        assert_eq!(status.is_valid(i).then(|| status.value(i)), s, "{a:?}");
        assert_eq!(path.value(i), d.content("path").unwrap());
    }
    assert!(hits
        .column(&Target::Tag("env".into()), FieldType::Text)
        .unwrap()
        .is_none());
    assert_eq!(hits.tag_keys().unwrap(), vec!["env".to_string()]);
}

#[test]
fn a_phrase_never_spans_two_values() {
    let s = schema();
    let mut d = docs()[0].clone();
    d.contents = vec![
        ("a".into(), "alpha beta".into()),
        ("b".into(), "gamma delta".into()),
    ];
    let (_dir, ix) = index_of(&[d.clone(), d.clone()]);
    let view = ix.view(0);
    for (q, n) in [
        ("#\"beta gamma\"", 0),
        ("#\"alpha beta\"", 2),
        ("beta gamma", 2),
    ] {
        let m = Matcher::compile(&parse(q).unwrap(), &s).unwrap();
        assert_eq!(m.matches(&d, &s), n > 0, "{q}");
        let p = plan(&m, &view.layout);
        assert_eq!(search(&view, p.query.as_ref()).unwrap().len(), n, "{q}");
    }
}

#[test]
fn an_index_reopens_with_its_coverage_and_refuses_another_configuration() {
    let docs = docs();
    let (dir, ix) = index_of(&docs);
    let want = ix.coverage().clone();
    drop(ix);
    let layout = Arc::new(Layout::new(&schema()));
    let again = SegmentIndex::open(dir.path(), 0, "c", &layout)
        .ok()
        .unwrap();
    assert_eq!(again.coverage(), &want);
    assert!(SegmentIndex::open(dir.path(), 0, "other", &layout).is_err());
    assert!(matches!(
        SegmentIndex::open(dir.path(), 5, "c", &layout),
        Err(super::Unusable::Missing)
    ));
    // Damage: every file's bytes flipped in the middle.
    for e in std::fs::read_dir(dir.path().join(format!("{:020}", 0))).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        if b.len() > 64 && !p.ends_with("meta.json") {
            let mid = b.len() / 2;
            b[mid] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
    assert!(matches!(
        SegmentIndex::open(dir.path(), 0, "c", &layout),
        Err(super::Unusable::Stale(_))
    ));
}

#[test]
fn blocks_bound_their_times_and_together_hit_what_the_index_hits() {
    let s = schema();
    let small = docs();
    // Enough logs for several blocks per piece, with times out of order.
    let many: Vec<Doc> = (0..(2 * super::store::BLOCK_DOCS as usize + 5000))
        .map(|i| {
            let mut d = small[i % small.len()].clone();
            d.address = LogAddress {
                shard: 0,
                cursor: (i / 4) as u64,
                index: (i % 4) as u32,
            };
            d.time = 1_700_000_000 + (i as u32 / 8) + (i as u32 * 7919) % 50;
            d
        })
        .collect();
    let (_dir, ix) = index_of(&many);
    let view = ix.view(0);
    let times: Vec<(LogAddress, i64)> = {
        let all = search(
            &view,
            plan(
                &Matcher::compile(&parse("*").unwrap(), &s).unwrap(),
                &view.layout,
            )
            .query
            .as_ref(),
        )
        .unwrap();
        let mut keys = Vec::new();
        all.for_each_key(|(t, _, a)| keys.push((a, i64::from(t))))
            .unwrap();
        keys
    };
    assert_eq!(times.len(), many.len());
    let mut block_count = 0;
    for (piece, seg) in view.searcher.segment_readers().iter().enumerate() {
        let blocks = &view.blocks[piece];
        block_count += blocks.len();
        // The blocks cover the piece, in order.
        let mut next = 0;
        for b in blocks.iter() {
            assert_eq!(b.docs.0, next);
            assert!(b.docs.1 > b.docs.0 && b.docs.1 - b.docs.0 <= super::store::BLOCK_DOCS);
            next = b.docs.1;
        }
        assert_eq!(next, seg.max_doc());
    }
    assert!(block_count >= 3, "{block_count} blocks");
    for (q, blockwise) in [
        ("*", true),
        ("refused", true),
        ("status:500 and path:api/*", true),
        ("status:500 and path:ap*", false),
        ("__time__ >= 1700004000", true),
        ("status >= 404 or rt < 0.5", false),
        ("status:404 or rt:0.5", true),
    ] {
        let m = Matcher::compile(&parse(q).unwrap(), &s).unwrap();
        let p = plan(&m, &view.layout);
        assert_eq!(p.blockwise, blockwise, "{q}");
        let (from, to) = (1_700_000_100, 1_700_005_000);
        let want = search_statement(&view, &p, from, to, None).unwrap().hits;
        let mut prepared = super::read::prepare(&view, &p, from, to, None).unwrap();
        let mut got = Vec::new();
        for (piece, blocks) in view.blocks.iter().enumerate() {
            for b in blocks.iter() {
                let hits = prepared.hits_in(piece, b.docs).unwrap();
                hits.for_each_key(|(t, _, a)| {
                    let t = i64::from(t);
                    assert!(
                        b.min_time <= t && t <= b.max_time,
                        "{q}: {t} outside its block {b:?}"
                    );
                    got.push(a);
                })
                .unwrap();
            }
        }
        assert!(!got.is_empty(), "{q}");
        assert_eq!(got, want.addresses().unwrap(), "{q}");
    }
}
