//! N-gram counting shared by BLEU and chrF: a trie of the hypothesis' n-grams and a table
//! of word ids.
//!
//! Every n-gram of the hypothesis (up to the maximum order) is a node of a trie whose edges
//! are symbols (word ids or code points); a node counts the n-gram's occurrences in the
//! hypothesis. A reference is then walked from each position down the trie, stopping at the
//! first n-gram the hypothesis does not have (no longer one can be there either), and each node
//! it reaches counts that reference's occurrences. This is exact (keys are compared, never just
//! hashed) and touches only n-grams the two texts share.
//!
//! The trie's edges live in one open-addressing table keyed by (parent node, symbol); slots
//! carry a generation number, so starting a new hypothesis costs nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A trie node: one n-gram of the hypothesis.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Node {
    /// Occurrences in the hypothesis.
    pub hyp: u32,
    /// Occurrences in the reference being walked (valid when `stamp` is that reference's).
    pub cur: u32,
    /// Which reference `cur` belongs to.
    pub stamp: u32,
    /// BLEU: the largest `min(hyp, occurrences in a reference)` over the references so far.
    pub best: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    node: u32,
    generation: u32,
}

/// The hypothesis' n-gram trie (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Trie {
    slots: Vec<Slot>,
    bits: u32,
    generation: u32,
    /// The root's children along symbols below [`DIRECT`], indexed by symbol: (generation,
    /// node). Most walks start and end near the root, so this saves most of the hashing.
    direct: Vec<(u32, u32)>,
    pub nodes: Vec<Node>,
}

/// Symbols whose root edge is kept in [`Trie::direct`] (ASCII and Latin-1 characters; the
/// first word ids of a table, which are the frequent words).
const DIRECT: u32 = 256;

/// The root node (the empty n-gram).
pub(crate) const ROOT: u32 = 0;

impl Trie {
    /// Starts a new hypothesis that will have at most `max_nodes` n-grams.
    pub fn begin(&mut self, max_nodes: usize) {
        let want = (max_nodes.max(8) * 2).next_power_of_two();
        if self.slots.len() < want {
            self.slots = vec![Slot::default(); want];
            self.bits = want.trailing_zeros();
            // The generation goes on (the root's direct edges keep theirs).
        }
        if self.direct.is_empty() {
            self.direct = vec![(0, 0); DIRECT as usize];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.fill(Slot::default());
            self.direct.fill((0, 0));
            self.generation = 1;
        }
        self.nodes.clear();
        self.nodes.push(Node::default());
    }

    #[inline]
    fn position(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    #[inline]
    fn key(parent: u32, symbol: u32) -> u64 {
        (u64::from(parent) << 32) | u64::from(symbol)
    }

    /// The child of `parent` along `symbol`, created if missing.
    #[inline]
    pub fn child_or_insert(&mut self, parent: u32, symbol: u32) -> u32 {
        if parent == ROOT && symbol < DIRECT {
            let entry = &mut self.direct[symbol as usize];
            if entry.0 == self.generation {
                return entry.1;
            }
            let node = self.nodes.len() as u32;
            *entry = (self.generation, node);
            self.nodes.push(Node::default());
            return node;
        }
        let key = Trie::key(parent, symbol);
        let mask = self.slots.len() - 1;
        let mut i = self.position(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.generation != self.generation {
                let node = self.nodes.len() as u32;
                *slot = Slot {
                    key,
                    node,
                    generation: self.generation,
                };
                self.nodes.push(Node::default());
                return node;
            }
            if slot.key == key {
                return slot.node;
            }
            i = (i + 1) & mask;
        }
    }

    /// The child of `parent` along `symbol`, if the hypothesis has that n-gram.
    #[inline]
    pub fn child(&self, parent: u32, symbol: u32) -> Option<u32> {
        if parent == ROOT && symbol < DIRECT {
            let (generation, node) = self.direct[symbol as usize];
            return (generation == self.generation).then_some(node);
        }
        let key = Trie::key(parent, symbol);
        let mask = self.slots.len() - 1;
        let mut i = self.position(key);
        loop {
            let slot = &self.slots[i];
            if slot.generation != self.generation {
                return None;
            }
            if slot.key == key {
                return Some(slot.node);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds every n-gram of `symbols` of order 1 to `max_order`.
    pub fn insert_all(&mut self, symbols: &[u32], max_order: usize) {
        for start in 0..symbols.len() {
            let mut node = ROOT;
            for &s in &symbols[start..(start + max_order).min(symbols.len())] {
                node = self.child_or_insert(node, s);
                self.nodes[node as usize].hyp += 1;
            }
        }
    }
}

/// A symbol no hypothesis word has: a reference word the hypothesis lacks.
pub(crate) const UNKNOWN: u32 = u32::MAX;

/// Words seen before get the same id; the table is kept between calls (on one thread) and
/// cleared when it grows past a bound, between hypotheses only.
#[derive(Debug, Default)]
pub(crate) struct WordIds {
    ids: HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>>,
}

/// Words kept before the table is cleared.
const MAX_WORDS: usize = 500_000;

impl WordIds {
    /// Call before the words of a new hypothesis.
    pub fn begin(&mut self) {
        if self.ids.len() > MAX_WORDS {
            self.ids = HashMap::default();
        }
    }

    /// The id of a hypothesis word (added if new).
    #[inline]
    pub fn insert(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(word.into(), id);
        id
    }

    /// The id of a reference word, or [`UNKNOWN`] if no hypothesis word since the last
    /// clearing was this word (then no hypothesis n-gram contains it).
    #[inline]
    pub fn get(&self, word: &str) -> u32 {
        self.ids.get(word).copied().unwrap_or(UNKNOWN)
    }
}

/// Word ids for one segment (a hypothesis and its references): the hypothesis' words get ids
/// 0, 1, ... in order of first appearance; a reference word the hypothesis lacks is
/// [`UNKNOWN`]. Starting a segment costs nothing (slots carry a generation), and the table
/// stays as small as a segment, so it lives in the first-level cache.
///
/// Words of up to 16 bytes, nearly all of them, are keyed by two integers read off their bytes
/// (with the length: exact, compared without a call to `memcmp`); longer ones go to a map.
#[derive(Debug, Default)]
pub(crate) struct SegmentWords {
    slots: Vec<WordSlot>,
    mask: usize,
    shift: u32,
    generation: u16,
    long: HashMap<Box<[u8]>, u32, BuildHasherDefault<WordHasher>>,
    next: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct WordSlot {
    a: u64,
    b: u64,
    generation: u16,
    len: u16,
    id: u32,
}

impl SegmentWords {
    /// Starts a segment whose hypothesis has at most `max_words` words (its length in bytes
    /// is a safe bound: the table must never fill up).
    pub fn begin(&mut self, max_words: usize) {
        let want = (max_words * 2).max(16).next_power_of_two();
        if self.slots.len() < want {
            self.slots = vec![WordSlot::default(); want];
        }
        self.mask = want - 1;
        self.shift = 64 - want.trailing_zeros();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.fill(WordSlot::default());
            self.generation = 1;
        }
        if !self.long.is_empty() {
            self.long.clear();
        }
        self.next = 0;
    }

    /// The id of a hypothesis word (a new one if the segment has not had it).
    #[inline]
    pub fn insert(&mut self, word: &str) -> u32 {
        let bytes = word.as_bytes();
        let Some((a, b)) = short_key(bytes) else {
            if let Some(&id) = self.long.get(bytes) {
                return id;
            }
            let id = self.next;
            self.next += 1;
            self.long.insert(bytes.into(), id);
            return id;
        };
        let len = bytes.len() as u16;
        let mut i = word_position(a, b, len, self.shift);
        loop {
            let slot = &mut self.slots[i];
            if slot.generation != self.generation {
                let id = self.next;
                self.next += 1;
                *slot = WordSlot {
                    a,
                    b,
                    generation: self.generation,
                    len,
                    id,
                };
                return id;
            }
            if slot.a == a && slot.b == b && slot.len == len {
                return slot.id;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The id of a reference word, or [`UNKNOWN`] if the hypothesis does not have it.
    #[inline]
    pub fn get(&self, word: &str) -> u32 {
        let bytes = word.as_bytes();
        let Some((a, b)) = short_key(bytes) else {
            return self.long.get(bytes).copied().unwrap_or(UNKNOWN);
        };
        let len = bytes.len() as u16;
        let mut i = word_position(a, b, len, self.shift);
        loop {
            let slot = &self.slots[i];
            if slot.generation != self.generation {
                return UNKNOWN;
            }
            if slot.a == a && slot.b == b && slot.len == len {
                return slot.id;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Two integers that, with the length, identify a word of up to 16 bytes: its first and last
/// 8 bytes (overlapping when shorter than 16), its first and last 4, or bytes 0, len/2 and
/// len - 1; together they cover every byte. `None` for longer words.
#[inline]
fn short_key(w: &[u8]) -> Option<(u64, u64)> {
    let n = w.len();
    let le64 = |s: &[u8]| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
    let le32 = |s: &[u8]| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    match n {
        0 => Some((0, 0)),
        1..=3 => Some((
            u64::from(w[0]) | (u64::from(w[n / 2]) << 8) | (u64::from(w[n - 1]) << 16),
            0,
        )),
        4..=7 => Some((le32(&w[..4]) | (le32(&w[n - 4..]) << 32), 0)),
        8..=16 => Some((le64(&w[..8]), le64(&w[n - 8..]))),
        _ => None,
    }
}

#[inline]
fn word_position(a: u64, b: u64, len: u16, shift: u32) -> usize {
    let x = a ^ b.rotate_left(31) ^ (u64::from(len) << 58);
    ((x ^ (x >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// FxHash-style hashing for short strings (not DoS-resistant; the tables are private).
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The sacrebleu version whose numbers gavel reproduces, as signatures state it.
pub const SACREBLEU_VERSION: &str = "2.6.0";

/// The number of references per segment, as a signature states it (`nrefs:1`, `nrefs:var`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumRefs {
    /// Every segment has this many references.
    Fixed(usize),
    /// Segments have different numbers of references.
    Varying,
}

impl NumRefs {
    /// The number of references of a corpus, from each segment's count.
    pub fn of_counts(counts: impl IntoIterator<Item = usize>) -> NumRefs {
        let mut seen: Option<usize> = None;
        for c in counts {
            match seen {
                None => seen = Some(c),
                Some(s) if s != c => return NumRefs::Varying,
                Some(_) => {}
            }
        }
        NumRefs::Fixed(seen.unwrap_or(0))
    }

    /// Combines the counts of two parts of a corpus.
    pub fn merge(self, other: NumRefs) -> NumRefs {
        if self == other {
            self
        } else {
            NumRefs::Varying
        }
    }
}

impl std::fmt::Display for NumRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NumRefs::Fixed(n) => write!(f, "{n}"),
            NumRefs::Varying => f.write_str("var"),
        }
    }
}

/// Renders a signature: `(long name, short name, value)` items then the version, joined by
/// `|`, as sacrebleu's `Signature.format`.
pub(crate) fn signature(nrefs: NumRefs, items: &[(&str, &str, String)], short: bool) -> String {
    let mut parts = vec![if short {
        format!("#:{nrefs}")
    } else {
        format!("nrefs:{nrefs}")
    }];
    for (long, abbr, value) in items {
        parts.push(format!("{}:{value}", if short { abbr } else { long }));
    }
    parts.push(if short {
        format!("v:{SACREBLEU_VERSION}")
    } else {
        format!("version:{SACREBLEU_VERSION}")
    });
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_counts_ngrams() {
        let mut t = Trie::default();
        t.begin(20);
        t.insert_all(&[1, 2, 1, 2], 2);
        let a = t.child(ROOT, 1).unwrap();
        assert_eq!(t.nodes[a as usize].hyp, 2);
        let ab = t.child(a, 2).unwrap();
        assert_eq!(t.nodes[ab as usize].hyp, 2);
        let b = t.child(ROOT, 2).unwrap();
        let ba = t.child(b, 1).unwrap();
        assert_eq!(t.nodes[ba as usize].hyp, 1);
        assert!(t.child(ab, 1).is_none());
        t.begin(4);
        assert!(t.child(ROOT, 1).is_none());
    }

    #[test]
    fn growing_the_table_forgets_the_last_hypothesis() {
        let mut t = Trie::default();
        t.begin(2);
        t.insert_all(&[1, 300], 1);
        // More n-grams than the table holds: it is reallocated.
        t.begin(1000);
        assert!(t.child(ROOT, 1).is_none());
        assert!(t.child(ROOT, 300).is_none());
        t.insert_all(&[2, 1, 2], 2);
        let two = t.child(ROOT, 2).unwrap();
        assert_eq!(t.nodes[two as usize].hyp, 2);
        assert_eq!(t.nodes.len(), 5);
    }

    #[test]
    fn segment_words_tell_every_word_apart() {
        // Words of every length up to 20 bytes that differ in one byte anywhere, and a new
        // segment forgets the last one's words.
        let mut w = SegmentWords::default();
        let mut words = vec![String::new()];
        for len in 1..=20 {
            let base: String = "abcdefghijklmnopqrstuvwxyz"[..len].to_string();
            words.push(base.clone());
            for i in 0..len {
                let mut v = base.clone().into_bytes();
                v[i] = b'Z';
                words.push(String::from_utf8(v).unwrap());
            }
        }
        w.begin(words.len());
        let ids: Vec<u32> = words.iter().map(|x| w.insert(x)).collect();
        assert_eq!(ids, (0..words.len() as u32).collect::<Vec<_>>());
        for (x, &id) in words.iter().zip(&ids) {
            assert_eq!(w.insert(x), id);
            assert_eq!(w.get(x), id);
        }
        assert_eq!(w.get("abZZ"), UNKNOWN);
        assert_eq!(w.get("abcdefghijklmnopqrstuvwxyZ"), UNKNOWN);
        w.begin(2);
        assert_eq!(w.get("abc"), UNKNOWN);
        assert_eq!(w.get("abcdefghijklmnopqrst"), UNKNOWN);
        assert_eq!(w.insert("abcdefghijklmnopqrst"), 0);
        assert_eq!(w.insert("x"), 1);
        // More segments than the 16-bit generation counts.
        for round in 0..70_000u32 {
            w.begin(4);
            let (word, other) = if round % 2 == 0 {
                ("cat", "dog")
            } else {
                ("dog", "cat")
            };
            assert_eq!(w.get(word), UNKNOWN);
            assert_eq!(w.insert(word), 0);
            assert_eq!(w.get(other), UNKNOWN, "round {round}");
        }
    }

    #[test]
    fn nrefs() {
        assert_eq!(NumRefs::of_counts([2, 2]), NumRefs::Fixed(2));
        assert_eq!(NumRefs::of_counts([1, 2]), NumRefs::Varying);
        assert_eq!(NumRefs::Varying.to_string(), "var");
    }
}
