//! How an update of any size becomes requests the Console accepts: a pure function of the
//! input, table-tested below, with no I/O and no clock.
//!
//! Each request carries at most [`MAX_OVERRIDE_ITEMS`] conditional overrides, at most one
//! user-ID entry per (group, environment, unit type), and by default at most
//! [`MAX_OVERRIDE_ITEMS`] ids in total. Ids keep their order and each is sent once per entry
//! key. The ids are pulled from their iterators a request's worth at a time.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use crate::types::{ConditionalOverride, ExperimentOverrides, UserIdOverride};
use crate::validate::MAX_OVERRIDE_ITEMS;

/// How many ids one request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdsPerRequest {
    /// At most this many in total, across its entries (the default, 1000).
    Total(usize),
    /// At most this many in each entry, with one entry for every key that has ids left (up to
    /// [`MAX_OVERRIDE_ITEMS`] entries).
    PerEntry(usize),
}

impl Default for IdsPerRequest {
    fn default() -> Self {
        IdsPerRequest::Total(MAX_OVERRIDE_ITEMS)
    }
}

/// The key user-ID entries are grouped by: what makes two entries target the same place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EntryKey {
    pub(crate) group_id: String,
    pub(crate) environment: Option<String>,
    pub(crate) unit_type: Option<String>,
}

/// One request's body and what it carries, for progress and partial-failure reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedRequest {
    pub(crate) body: ExperimentOverrides,
    pub(crate) ids: u64,
    pub(crate) overrides: u64,
}

impl PlannedRequest {
    /// A request that adds nothing: its answer is the experiment's overrides.
    pub(crate) fn empty() -> Self {
        Self {
            body: ExperimentOverrides {
                overrides: Vec::new(),
                user_id_overrides: Vec::new(),
            },
            ids: 0,
            overrides: 0,
        }
    }
}

/// The ids already taken under one key, as 128-bit fingerprints: two keyed SipHash values of
/// the id with independent random keys (std's `RandomState`). Sixteen bytes per distinct id
/// instead of the id itself, and no allocation per id: a million ids fit in about 36 MB rather
/// than about 90. Two different ids share a fingerprint with a probability of 2^-128 per pair,
/// about 10^-27 for a million ids: far below the rate of undetected memory errors.
#[derive(Default)]
struct SeenIds {
    first: RandomState,
    second: RandomState,
    fingerprints: HashSet<u128, BuildHasherDefault<FingerprintHasher>>,
}

/// Hashes a fingerprint by taking its low bits: it is already the output of a keyed hash, so
/// hashing it again (the set's default SipHash) would only cost time, a third of the dedupe's.
/// std and the crate's dependencies have no pass-through hasher.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else folds in, never silently ignored.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, fingerprint: u128) {
        self.0 = fingerprint as u64;
    }
}

impl SeenIds {
    fn with_capacity(ids: usize) -> Self {
        Self {
            fingerprints: HashSet::with_capacity_and_hasher(ids, BuildHasherDefault::default()),
            ..Self::default()
        }
    }

    /// Records `id`; `false` when it was seen before.
    fn insert(&mut self, id: &str) -> bool {
        let fingerprint =
            (u128::from(self.first.hash_one(id)) << 64) | u128::from(self.second.hash_one(id));
        self.fingerprints.insert(fingerprint)
    }
}

/// The ids of one entry key, read lazily, each sent once when `seen` is kept.
struct IdStream<'a> {
    key: EntryKey,
    ids: Box<dyn Iterator<Item = String> + Send + 'a>,
    /// The ids already taken, when duplicates are dropped.
    seen: Option<SeenIds>,
    /// The next id to send, already read and checked (so that `has_more` can answer).
    next: Option<String>,
}

impl IdStream<'_> {
    /// Reads up to the next id to send, counting the duplicates passed on the way.
    fn fill(&mut self, duplicates: &mut u64) {
        while self.next.is_none() {
            let Some(id) = self.ids.next() else { return };
            let first_time = self.seen.as_mut().is_none_or(|seen| seen.insert(&id));
            if first_time {
                self.next = Some(id);
            } else {
                *duplicates += 1;
            }
        }
    }

    fn take(&mut self, limit: usize, duplicates: &mut u64) -> Vec<String> {
        let mut ids = Vec::with_capacity(limit.min(MAX_OVERRIDE_ITEMS));
        while ids.len() < limit {
            self.fill(duplicates);
            match self.next.take() {
                Some(id) => ids.push(id),
                None => break,
            }
        }
        ids
    }

    fn has_more(&mut self, duplicates: &mut u64) -> bool {
        self.fill(duplicates);
        self.next.is_some()
    }
}

/// Splits an update into requests, lazily: an iterator of [`PlannedRequest`]s. An empty
/// update still makes one (empty) request, whose answer is the experiment's overrides.
pub(crate) struct Splitter<'a> {
    overrides: std::vec::IntoIter<ConditionalOverride>,
    streams: VecDeque<IdStream<'a>>,
    ids_per_request: IdsPerRequest,
    duplicates: u64,
    requests: u64,
}

impl<'a> Splitter<'a> {
    /// An update given whole: entries with the same key are merged, in the order the keys first
    /// appear, and an id repeated under one key is sent once.
    pub(crate) fn whole(update: ExperimentOverrides, ids_per_request: IdsPerRequest) -> Self {
        let mut keys: Vec<(EntryKey, Vec<String>)> = Vec::new();
        for entry in update.user_id_overrides {
            let key = EntryKey {
                group_id: entry.group_id,
                environment: entry.environment,
                unit_type: entry.unit_type,
            };
            match keys.iter_mut().find(|(known, _)| *known == key) {
                Some((_, ids)) => ids.extend(entry.ids),
                None => keys.push((key, entry.ids)),
            }
        }
        let streams = keys
            .into_iter()
            .map(|(key, ids)| IdStream {
                key,
                ids: Box::new(ids.into_iter()),
                seen: Some(SeenIds::default()),
                next: None,
            })
            .collect();
        Self::new(update.overrides, streams, ids_per_request)
    }

    /// The ids of one key, read from `ids` as requests are made; duplicates are dropped when
    /// `dedupe` is set (keeping every distinct id in memory until the update ends).
    pub(crate) fn streamed(
        key: EntryKey,
        ids: impl Iterator<Item = String> + Send + 'a,
        dedupe: bool,
        ids_per_request: IdsPerRequest,
    ) -> Self {
        // An exact length sizes the set once: no rehashing as it grows, and no moment with the
        // old table and the new one both alive.
        let (lower, upper) = ids.size_hint();
        let expected = if upper == Some(lower) { lower } else { 0 };
        let stream = IdStream {
            key,
            ids: Box::new(ids),
            seen: dedupe.then(|| SeenIds::with_capacity(expected)),
            next: None,
        };
        Self::new(Vec::new(), VecDeque::from([stream]), ids_per_request)
    }

    fn new(
        overrides: Vec<ConditionalOverride>,
        streams: VecDeque<IdStream<'a>>,
        ids_per_request: IdsPerRequest,
    ) -> Self {
        Self {
            overrides: overrides.into_iter(),
            streams,
            ids_per_request,
            duplicates: 0,
            requests: 0,
        }
    }

    /// Ids dropped so far because an earlier one under the same key was the same.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    fn next_ids(&mut self) -> Vec<UserIdOverride> {
        let (mut budget, per_entry) = match self.ids_per_request {
            IdsPerRequest::Total(total) => (total, MAX_OVERRIDE_ITEMS),
            IdsPerRequest::PerEntry(per_entry) => (usize::MAX, per_entry),
        };
        let mut entries = Vec::new();
        let mut index = 0;
        while budget > 0 && index < self.streams.len() && entries.len() < MAX_OVERRIDE_ITEMS {
            let stream = &mut self.streams[index];
            let ids = stream.take(per_entry.min(budget), &mut self.duplicates);
            if !ids.is_empty() {
                budget -= ids.len();
                entries.push(UserIdOverride {
                    group_id: stream.key.group_id.clone(),
                    environment: stream.key.environment.clone(),
                    unit_type: stream.key.unit_type.clone(),
                    ids,
                });
            }
            if stream.has_more(&mut self.duplicates) {
                index += 1;
            } else {
                self.streams.remove(index);
            }
        }
        entries
    }
}

impl Iterator for Splitter<'_> {
    type Item = PlannedRequest;

    fn next(&mut self) -> Option<PlannedRequest> {
        let overrides: Vec<ConditionalOverride> =
            self.overrides.by_ref().take(MAX_OVERRIDE_ITEMS).collect();
        let user_id_overrides = self.next_ids();
        if overrides.is_empty() && user_id_overrides.is_empty() && self.requests > 0 {
            return None;
        }
        self.requests += 1;
        let ids = user_id_overrides
            .iter()
            .map(|entry| entry.ids.len() as u64)
            .sum();
        Some(PlannedRequest {
            overrides: overrides.len() as u64,
            ids,
            body: ExperimentOverrides {
                overrides,
                user_id_overrides,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OverrideType;

    fn key(group: &str, environment: Option<&str>) -> EntryKey {
        EntryKey {
            group_id: group.to_string(),
            environment: environment.map(str::to_string),
            unit_type: None,
        }
    }

    fn entry(group: &str, environment: Option<&str>, ids: &[String]) -> UserIdOverride {
        UserIdOverride {
            group_id: group.to_string(),
            environment: environment.map(str::to_string),
            unit_type: None,
            ids: ids.to_vec(),
        }
    }

    fn ids(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|i| format!("{prefix}{i}")).collect()
    }

    fn gate(i: usize) -> ConditionalOverride {
        ConditionalOverride {
            type_: OverrideType::Gate,
            id: format!("gate_{i}"),
            group_id: "Test".to_string(),
            environment: None,
        }
    }

    /// (group, environment, number of ids) of one entry.
    type EntryShape = (String, Option<String>, usize);

    /// (overrides, entries) per request.
    fn shape(requests: &[PlannedRequest]) -> Vec<(usize, Vec<EntryShape>)> {
        requests
            .iter()
            .map(|r| {
                (
                    r.body.overrides.len(),
                    r.body
                        .user_id_overrides
                        .iter()
                        .map(|e| (e.group_id.clone(), e.environment.clone(), e.ids.len()))
                        .collect(),
                )
            })
            .collect()
    }

    fn entry_shape(
        group: &str,
        environment: Option<&str>,
        count: usize,
    ) -> (String, Option<String>, usize) {
        (group.to_string(), environment.map(str::to_string), count)
    }

    #[test]
    fn an_update_is_split_into_requests_the_console_accepts() {
        let update = ExperimentOverrides {
            overrides: (0..1200).map(gate).collect(),
            user_id_overrides: vec![
                entry("Test", None, &ids("a", 2500)),
                entry("Test", Some("staging"), &ids("b", 1001)),
            ],
        };
        let requests: Vec<_> = Splitter::whole(update, IdsPerRequest::default()).collect();
        assert_eq!(
            shape(&requests),
            vec![
                (1000, vec![entry_shape("Test", None, 1000)]),
                (200, vec![entry_shape("Test", None, 1000)]),
                (
                    0,
                    vec![
                        entry_shape("Test", None, 500),
                        entry_shape("Test", Some("staging"), 500)
                    ]
                ),
                (0, vec![entry_shape("Test", Some("staging"), 501)]),
            ]
        );
        let sent: Vec<String> = requests
            .iter()
            .flat_map(|r| &r.body.user_id_overrides)
            .filter(|e| e.environment.is_none())
            .flat_map(|e| e.ids.clone())
            .collect();
        assert_eq!(sent, ids("a", 2500), "every id once, in order");
        assert_eq!(requests.iter().map(|r| r.ids).sum::<u64>(), 3501);
        assert_eq!(requests.iter().map(|r| r.overrides).sum::<u64>(), 1200);
    }

    #[test]
    fn entries_with_one_key_are_merged_and_their_duplicates_dropped() {
        let update = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![
                entry("Test", None, &["u1".into(), "u2".into()]),
                entry("Control", None, &["u9".into()]),
                entry("Test", None, &["u2".into(), "u3".into()]),
            ],
        };
        let mut splitter = Splitter::whole(update, IdsPerRequest::default());
        let requests: Vec<_> = splitter.by_ref().collect();
        assert_eq!(requests.len(), 1);
        let entries = &requests[0].body.user_id_overrides;
        assert_eq!(entries[0].group_id, "Test");
        assert_eq!(entries[0].ids, vec!["u1", "u2", "u3"]);
        assert_eq!(entries[1].ids, vec!["u9"]);
        assert_eq!(splitter.duplicates(), 1);
    }

    #[test]
    fn ids_per_entry_lets_several_keys_share_a_request() {
        let update = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![
                entry("A", None, &ids("a", 5)),
                entry("B", None, &ids("b", 3)),
            ],
        };
        let requests: Vec<_> = Splitter::whole(update, IdsPerRequest::PerEntry(2)).collect();
        assert_eq!(
            shape(&requests),
            vec![
                (
                    0,
                    vec![entry_shape("A", None, 2), entry_shape("B", None, 2)]
                ),
                (
                    0,
                    vec![entry_shape("A", None, 2), entry_shape("B", None, 1)]
                ),
                (0, vec![entry_shape("A", None, 1)]),
            ]
        );
    }

    #[test]
    fn a_request_holds_at_most_1000_user_id_entries() {
        // 1001 groups of one id each, one id per entry: the first request is full at 1000
        // entries (the spec's maxItems), the last group goes in a second one.
        let update = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: (0..=MAX_OVERRIDE_ITEMS)
                .map(|group| entry(&format!("G{group}"), None, &[format!("u{group}")]))
                .collect(),
        };
        let requests: Vec<_> = Splitter::whole(update, IdsPerRequest::PerEntry(1)).collect();
        let entries: Vec<usize> = requests
            .iter()
            .map(|r| r.body.user_id_overrides.len())
            .collect();
        assert_eq!(entries, [MAX_OVERRIDE_ITEMS, 1]);
        assert_eq!(requests[1].body.user_id_overrides[0].group_id, "G1000");
    }

    #[test]
    fn streamed_ids_are_read_a_request_at_a_time() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let read = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&read);
        let source = (0..2500).map(move |i| {
            counter.fetch_add(1, Ordering::Relaxed);
            format!("u{i}")
        });
        let mut splitter =
            Splitter::streamed(key("Test", None), source, true, IdsPerRequest::default());
        let first = splitter.next().unwrap();
        assert_eq!(first.ids, 1000);
        // One request's ids, and the one after them that says whether more follow.
        assert_eq!(read.load(Ordering::Relaxed), 1001);
        assert_eq!(splitter.map(|r| r.ids).collect::<Vec<_>>(), vec![1000, 500]);
    }

    #[test]
    fn streamed_duplicates_are_sent_once_or_kept_when_asked() {
        let source = || ["a", "b", "a", "c", "b"].into_iter().map(String::from);
        let mut deduped =
            Splitter::streamed(key("T", None), source(), true, IdsPerRequest::Total(2));
        let sent: Vec<Vec<String>> = deduped
            .by_ref()
            .map(|r| r.body.user_id_overrides[0].ids.clone())
            .collect();
        assert_eq!(sent, vec![vec!["a", "b"], vec!["c"]]);
        assert_eq!(deduped.duplicates(), 2);
        let kept: u64 =
            Splitter::streamed(key("T", None), source(), false, IdsPerRequest::Total(2))
                .map(|r| r.ids)
                .sum();
        assert_eq!(kept, 5);
    }

    #[test]
    fn an_empty_update_is_one_empty_request() {
        let requests: Vec<_> = Splitter::whole(
            ExperimentOverrides {
                overrides: vec![],
                user_id_overrides: vec![],
            },
            IdsPerRequest::default(),
        )
        .collect();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].ids + requests[0].overrides, 0);
    }
}
