//! Reading a segment index: the logs a query hits, their order keys and times, and their
//! values as Arrow columns for the analytic statement (design §18.6).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, TermQuery, Weight};
use tantivy::schema::{Field as IxField, IndexRecordOption};
use tantivy::{DocId, DocSet, SegmentReader, Term};

use super::plan::{time_between, Plan};
use super::store::View;
use crate::doc::LogAddress;
use crate::schema::{FieldType, Target};
use crate::QueryError;

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(format!("segment index: {e}"))
}

/// The logs of one segment index that a query hit.
pub struct Hits {
    /// The index.
    pub view: View,
    /// Hit documents, per piece of the index.
    pub docs: Vec<Vec<DocId>>,
}

/// Where a log sorts in a search answer: time, nanoseconds, address (as logs are ordered).
pub type SortKey = (u32, Option<u32>, LogAddress);

/// The documents of `view` that `query` hits.
pub fn search(view: &View, query: &dyn Query) -> Result<Hits, QueryError> {
    let weight = query
        .weight(EnableScoring::disabled_from_searcher(&view.searcher))
        .map_err(internal)?;
    hits_of(view, weight.as_ref())
}

fn hits_of(view: &View, weight: &dyn Weight) -> Result<Hits, QueryError> {
    let mut docs = Vec::new();
    for seg in view.searcher.segment_readers() {
        let mut hit = Vec::new();
        weight
            .for_each_no_score(seg, &mut |d: &[DocId]| hit.extend_from_slice(d))
            .map_err(internal)?;
        docs.push(hit);
    }
    Ok(Hits {
        view: view.clone(),
        docs,
    })
}

impl Hits {
    /// How many logs were hit.
    pub fn len(&self) -> usize {
        self.docs.iter().map(Vec::len).sum()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn pieces(&self) -> impl Iterator<Item = (&SegmentReader, &Vec<DocId>)> {
        self.view.searcher.segment_readers().iter().zip(&self.docs)
    }

    fn name(&self, f: IxField) -> &str {
        self.view.layout.schema.get_field_name(f)
    }

    /// Calls `f` with the time of every hit.
    pub fn for_each_time(&self, mut f: impl FnMut(i64)) -> Result<(), QueryError> {
        let name = self.name(self.view.layout.time).to_string();
        for (seg, docs) in self.pieces() {
            let col = seg.fast_fields().i64(&name).map_err(internal)?;
            for t in firsts(&col, docs).into_iter().flatten() {
                f(t);
            }
        }
        Ok(())
    }

    /// Calls `f` with the sort key of every hit.
    pub fn for_each_key(&self, mut f: impl FnMut(SortKey)) -> Result<(), QueryError> {
        self.for_each_candidate(|_, key| f(key()))
    }

    /// Calls `f` with the time of every hit and a way to read its whole sort key: a caller
    /// that keeps a few keys reads the time of most hits only.
    pub fn for_each_candidate(
        &self,
        mut f: impl FnMut(u32, &dyn Fn() -> SortKey),
    ) -> Result<(), QueryError> {
        let l = &self.view.layout;
        for (seg, docs) in self.pieces() {
            let ff = seg.fast_fields();
            let time = ff.i64(self.name(l.time)).map_err(internal)?;
            let ns = ff.u64(self.name(l.time_ns)).map_err(internal)?;
            let cursor = ff.u64(self.name(l.cursor)).map_err(internal)?;
            let pos = ff.u64(self.name(l.pos)).map_err(internal)?;
            for (&d, t) in docs.iter().zip(firsts(&time, docs)) {
                let t = t.unwrap_or(0) as u32;
                f(t, &|| {
                    let n = ns.first(d).unwrap_or(0);
                    (
                        t,
                        n.checked_sub(1).map(|n| n as u32),
                        LogAddress {
                            shard: self.view.shard,
                            cursor: cursor.first(d).unwrap_or(0),
                            index: pos.first(d).unwrap_or(0) as u32,
                        },
                    )
                });
            }
        }
        Ok(())
    }

    /// The keys of the tags of the logs in the index's pieces that were hit.
    pub fn tag_keys(&self) -> Result<Vec<String>, QueryError> {
        let mut keys = Vec::new();
        for (seg, docs) in self.pieces() {
            if docs.is_empty() {
                continue;
            }
            let ii = seg
                .inverted_index(self.view.layout.present)
                .map_err(internal)?;
            let mut terms = ii
                .terms()
                .range()
                .ge("t:")
                .lt("t;")
                .into_stream()
                .map_err(internal)?;
            while terms.advance() {
                keys.push(String::from_utf8_lossy(&terms.key()[2..]).into_owned());
            }
        }
        Ok(keys)
    }

    /// The addresses of every hit.
    pub fn addresses(&self) -> Result<Vec<LogAddress>, QueryError> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each_key(|(_, _, a)| out.push(a))?;
        Ok(out)
    }

    /// The values of `target` (of type `kind`) for every hit, in the order of
    /// [`Hits::for_each_key`]; none when the index does not hold them as a column (tags).
    pub fn column(&self, target: &Target, kind: FieldType) -> Result<Option<ArrayRef>, QueryError> {
        let l = &self.view.layout;
        let n = self.len();
        let text_field = match target {
            Target::Time => {
                let mut b = Int64Builder::with_capacity(n);
                self.for_each_time(|t| b.append_value(t))?;
                return Ok(Some(Arc::new(b.finish())));
            }
            Target::Topic => l.topic_raw,
            Target::Source => l.source_raw,
            Target::Tag(_) => return Ok(None),
            _ => {
                let Some(f) = l.keys.get(target) else {
                    return Ok(None);
                };
                match (kind, f.kind) {
                    (FieldType::Long, FieldType::Long) => {
                        let mut b = Int64Builder::with_capacity(n);
                        for (seg, docs) in self.pieces() {
                            let col = seg
                                .fast_fields()
                                .i64(self.name(f.column))
                                .map_err(internal)?;
                            for v in firsts(&col, docs) {
                                b.append_option(v);
                            }
                        }
                        return Ok(Some(Arc::new(b.finish())));
                    }
                    (FieldType::Double, FieldType::Double) => {
                        let mut b = Float64Builder::with_capacity(n);
                        for (seg, docs) in self.pieces() {
                            let col = seg
                                .fast_fields()
                                .f64(self.name(f.column))
                                .map_err(internal)?;
                            for v in firsts(&col, docs) {
                                b.append_option(v);
                            }
                        }
                        return Ok(Some(Arc::new(b.finish())));
                    }
                    (FieldType::Text | FieldType::Json, FieldType::Text | FieldType::Json) => {
                        f.column
                    }
                    _ => return Ok(None),
                }
            }
        };
        let mut b = StringBuilder::with_capacity(n, n * 8);
        for (seg, docs) in self.pieces() {
            let Some(col) = seg
                .fast_fields()
                .str(self.name(text_field))
                .map_err(internal)?
            else {
                for _ in docs {
                    b.append_null();
                }
                continue;
            };
            let ords: Vec<Option<u64>> = docs.iter().map(|&d| col.term_ords(d).next()).collect();
            let mut unique: Vec<u64> = ords.iter().flatten().copied().collect();
            unique.sort_unstable();
            unique.dedup();
            let mut terms: Vec<String> = Vec::with_capacity(unique.len());
            col.dictionary()
                .sorted_ords_to_term_cb(unique.iter().copied(), |bytes| {
                    terms.push(String::from_utf8_lossy(bytes).into_owned());
                    Ok(())
                })
                .map_err(internal)?;
            for o in ords {
                match o.and_then(|o| unique.binary_search(&o).ok()) {
                    Some(i) => b.append_value(&terms[i]),
                    None => b.append_null(),
                }
            }
        }
        Ok(Some(Arc::new(b.finish())))
    }
}

/// The first value of `col` for each of `docs`, read in one pass.
fn firsts<T>(col: &Column<T>, docs: &[DocId]) -> Vec<Option<T>>
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    let mut out = vec![None; docs.len()];
    col.first_vals(docs, &mut out);
    out
}

/// How many logs of `view` `query` hits.
pub fn count(view: &View, query: &dyn Query) -> Result<usize, QueryError> {
    query.count(&view.searcher).map_err(internal)
}

/// What a search statement hit in one segment index.
pub struct Searched {
    /// The hits.
    pub hits: Hits,
    /// Logs of the index in the time range (and of the topic).
    pub in_range: usize,
}

/// The condition on time (`[from, to)`) and topic of a search of `view`; none when every log
/// of the index meets it.
fn window_filter(view: &View, from: i64, to: i64, topic: Option<&str>) -> Option<BooleanQuery> {
    let l = &view.layout;
    let c = &view.coverage;
    // An index wholly inside the window needs no time condition, and holds nothing else.
    let inside = c.min_time >= from && c.max_time < to;
    let mut filter: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if !inside {
        filter.push((
            Occur::Must,
            time_between(l.time, from, to.saturating_sub(1)),
        ));
    }
    if let Some(t) = topic {
        filter.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(l.topic_raw, t),
                IndexRecordOption::Basic,
            )),
        ));
    }
    (!filter.is_empty()).then(|| BooleanQuery::new(filter))
}

/// A search statement over a window, ready to be run on the blocks of one segment index.
pub struct Prepared {
    view: View,
    weight: Box<dyn Weight>,
    /// Whether a few documents are searched alone ([`Plan::blockwise`]); otherwise a piece's
    /// hits are found once, when first asked for, and kept.
    blockwise: bool,
    /// The hits of the pieces searched whole.
    whole: HashMap<usize, Vec<DocId>>,
}

/// Prepares the search of `view` for the logs with a time in `[from, to)` (and the topic
/// `topic`) that `p` (planned for the view's layout) hits.
pub fn prepare(
    view: &View,
    p: &Plan,
    from: i64,
    to: i64,
    topic: Option<&str>,
) -> Result<Prepared, QueryError> {
    let query: Box<dyn Query> = match window_filter(view, from, to, topic) {
        None => p.query.box_clone(),
        Some(filter) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, p.query.box_clone()),
            (Occur::Must, Box::new(filter) as Box<dyn Query>),
        ])),
    };
    let weight = query
        .weight(EnableScoring::disabled_from_searcher(&view.searcher))
        .map_err(internal)?;
    Ok(Prepared {
        view: view.clone(),
        weight,
        blockwise: p.blockwise,
        whole: HashMap::new(),
    })
}

impl Prepared {
    /// Every hit.
    pub fn hits(&self) -> Result<Hits, QueryError> {
        hits_of(&self.view, self.weight.as_ref())
    }

    /// The hits among the documents `docs` of the index's piece `piece`.
    pub fn hits_in(&mut self, piece: usize, docs: (DocId, DocId)) -> Result<Hits, QueryError> {
        let readers = self.view.searcher.segment_readers();
        let mut out = vec![Vec::new(); readers.len()];
        let (Some(seg), Some(hit)) = (readers.get(piece), out.get_mut(piece)) else {
            return Ok(Hits {
                view: self.view.clone(),
                docs: out,
            });
        };
        if self.blockwise {
            let mut scorer = self.weight.scorer(seg, 1.0).map_err(internal)?;
            let alive = seg.alive_bitset();
            let mut d = scorer.doc();
            if d < docs.0 {
                d = scorer.seek(docs.0);
            }
            while d < docs.1 {
                if alive.is_none_or(|a| a.is_alive(d)) {
                    hit.push(d);
                }
                d = scorer.advance();
            }
        } else {
            let all = match self.whole.entry(piece) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let mut all = Vec::new();
                    self.weight
                        .for_each_no_score(seg, &mut |d: &[DocId]| all.extend_from_slice(d))
                        .map_err(internal)?;
                    e.insert(all)
                }
            };
            let from = all.partition_point(|&d| d < docs.0);
            let to = all.partition_point(|&d| d < docs.1);
            hit.extend_from_slice(&all[from..to]);
        }
        Ok(Hits {
            view: self.view.clone(),
            docs: out,
        })
    }
}

/// How many logs of `view` have a time in `[from, to)` (and the topic `topic`).
pub fn in_range(view: &View, from: i64, to: i64, topic: Option<&str>) -> Result<usize, QueryError> {
    match window_filter(view, from, to, topic) {
        Some(filter) => count(view, &filter),
        None => Ok(view.coverage.docs as usize),
    }
}

/// The logs of `view` with a time in `[from, to)` (and the topic `topic`) that `p` (planned
/// for the view's layout) hits.
pub fn search_statement(
    view: &View,
    p: &Plan,
    from: i64,
    to: i64,
    topic: Option<&str>,
) -> Result<Searched, QueryError> {
    Ok(Searched {
        hits: prepare(view, p, from, to, topic)?.hits()?,
        in_range: in_range(view, from, to, topic)?,
    })
}
