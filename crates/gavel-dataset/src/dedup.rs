//! The instruction index: exact and near-duplicate detection of tasks with bounded memory, and
//! the memory of which split each task went to.
//!
//! - Exact duplicates: two items whose normalised task text ([`crate::text::normalize`]) is
//!   equal. The index keeps a 64-bit hash per task.
//! - Near duplicates: MinHash over character 5-grams of the normalised text, 128 hash functions,
//!   with locality-sensitive hashing in bands (Broder 1997; Leskovec, Rajaraman and Ullman,
//!   *Mining of Massive Datasets*, ch. 3). The band width is chosen from the threshold so that
//!   pairs at the threshold are found with high probability; each candidate is then checked
//!   against the threshold with its estimated Jaccard similarity from one-byte ("b-bit",
//!   Li and König 2010) signatures. The index holds, per task, a 128-byte signature and one
//!   entry per band: about 0.5 KB, whatever the length of the text.
//!
//! The first item seen with a task *claims* it; the index answers for later items whether
//! they repeat a claimed task, and which. Memory grows with the number of distinct tasks, not
//! with the number of judgments.

use std::collections::HashMap;

use crate::hash::{SplitMix64, StableHasher, fmix64};

/// Number of MinHash functions.
pub const PERMUTATIONS: usize = 128;
/// Characters per shingle.
pub const SHINGLE: usize = 5;

/// The fingerprints of one task's normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash of the normalised text (exact duplicates).
    pub exact: u64,
    /// MinHash values (near duplicates); `None` when near-duplicate detection is off or the
    /// text is empty.
    pub minhash: Option<Box<[u32; PERMUTATIONS]>>,
}

/// Multipliers and offsets of the 128 universal hash functions, fixed (not the build's seed),
/// so that which tasks count as near duplicates never depends on the seed.
struct Permutations {
    a: [u64; PERMUTATIONS],
    b: [u64; PERMUTATIONS],
}

fn permutations() -> &'static Permutations {
    static P: std::sync::OnceLock<Permutations> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let mut r = SplitMix64::new(0x6761_7665_6c2d_6d68); // "gavel-mh"
        let mut a = [0u64; PERMUTATIONS];
        let mut b = [0u64; PERMUTATIONS];
        for i in 0..PERMUTATIONS {
            a[i] = r.next_u64() | 1;
            b[i] = r.next_u64();
        }
        Permutations { a, b }
    })
}

/// Computes the fingerprint of a normalised text.
pub fn fingerprint(normalized: &str, near: bool) -> Fingerprint {
    let mut h = StableHasher::new(0);
    h.field(normalized);
    let exact = h.finish();
    let minhash = (near && !normalized.is_empty()).then(|| minhash(normalized));
    Fingerprint { exact, minhash }
}

fn minhash(text: &str) -> Box<[u32; PERMUTATIONS]> {
    let p = permutations();
    let mut mins = Box::new([u32::MAX; PERMUTATIONS]);
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n_chars = bounds.len() - 1;
    let windows = n_chars.saturating_sub(SHINGLE - 1).max(1);
    for w in 0..windows {
        let end = bounds[(w + SHINGLE).min(n_chars)];
        let mut sh = StableHasher::new(1);
        sh.write(&text.as_bytes()[bounds[w]..end]);
        let x = sh.finish();
        for i in 0..PERMUTATIONS {
            let v = (p.a[i].wrapping_mul(x).wrapping_add(p.b[i]) >> 32) as u32;
            if v < mins[i] {
                mins[i] = v;
            }
        }
    }
    mins
}

/// What the index says about an item's task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Claim {
    /// The task is new: this item claims it (group number).
    New(u32),
    /// The item itself claimed the task earlier (another judgment of the same item).
    Own(u32),
    /// Another item claimed the same normalised task.
    Exact(u32),
    /// Another item claimed a task this similar (estimated Jaccard similarity).
    Near(u32, f64),
}

impl Claim {
    /// The group the item's task belongs to.
    pub fn group(self) -> u32 {
        match self {
            Claim::New(g) | Claim::Own(g) | Claim::Exact(g) | Claim::Near(g, _) => g,
        }
    }
}

/// One claimed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Hash of the claiming item's id.
    pub item: u64,
    /// A tag the caller stores with the task (the split it went to).
    pub tag: u8,
}

/// The index of claimed tasks.
#[derive(Debug)]
pub struct InstructionIndex {
    near: Option<NearIndex>,
    exact: HashMap<u64, u32>,
    groups: Vec<Group>,
    /// Items already answered, so that every judgment of an item gets the same answer.
    decided: HashMap<u64, Claim>,
}

#[derive(Debug)]
struct NearIndex {
    threshold: f64,
    rows: usize,
    bands: usize,
    /// One-byte signatures, `PERMUTATIONS` bytes per group (empty texts get none).
    signatures: Vec<u8>,
    /// Group number of each signature.
    owners: Vec<u32>,
    /// Band hash to signature number.
    buckets: HashMap<u64, u32>,
}

/// The band width (rows per band) for a similarity threshold: the widest band whose
/// detection curve `1 - (1 - s^r)^b` turns up (at `(1/b)^(1/r)`) at least 0.1 below the
/// threshold, so that pairs at the threshold are found with high probability.
pub fn rows_for(threshold: f64) -> usize {
    let mut best = 2;
    for r in 2..=16 {
        let b = PERMUTATIONS / r;
        let knee = (1.0 / b as f64).powf(1.0 / r as f64);
        if knee <= threshold - 0.1 {
            best = r;
        }
    }
    best
}

impl InstructionIndex {
    /// An index; `near` is the similarity threshold of near duplicates (`None`: exact only).
    pub fn new(near: Option<f64>) -> InstructionIndex {
        InstructionIndex {
            near: near.map(|threshold| {
                let rows = rows_for(threshold);
                NearIndex {
                    threshold,
                    rows,
                    bands: PERMUTATIONS / rows,
                    signatures: Vec::new(),
                    owners: Vec::new(),
                    buckets: HashMap::new(),
                }
            }),
            exact: HashMap::new(),
            groups: Vec::new(),
            decided: HashMap::new(),
        }
    }

    /// The claimed task of a group.
    pub fn group(&self, g: u32) -> Group {
        self.groups[g as usize]
    }

    /// Number of distinct tasks claimed.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no task is claimed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The earlier answer for an item, if any.
    pub fn decided(&self, item: u64) -> Option<Claim> {
        self.decided.get(&item).copied()
    }

    /// Answers for an item (hash of its id) with this task fingerprint. A new task is claimed
    /// by the item, with `tag`; the answer is remembered per item.
    pub fn claim(&mut self, item: u64, fp: &Fingerprint, tag: u8) -> Claim {
        if let Some(c) = self.decided.get(&item) {
            return match *c {
                Claim::New(g) => Claim::Own(g),
                other => other,
            };
        }
        let claim = match self.find(fp) {
            Some(c) => c,
            None => Claim::New(self.insert(item, fp, tag)),
        };
        self.decided.insert(item, claim);
        claim
    }

    /// Looks a fingerprint up without claiming anything.
    pub fn find(&self, fp: &Fingerprint) -> Option<Claim> {
        if let Some(&g) = self.exact.get(&fp.exact) {
            return Some(Claim::Exact(g));
        }
        let near = self.near.as_ref()?;
        let mins = fp.minhash.as_ref()?;
        let sig = one_byte(mins);
        let mut best: Option<(u32, f64)> = None;
        for band in 0..near.bands {
            let Some(&s) = near.buckets.get(&band_key(mins, band, near.rows)) else {
                continue;
            };
            let other = &near.signatures[s as usize * PERMUTATIONS..][..PERMUTATIONS];
            let sim = estimated_jaccard(&sig, other);
            if sim >= near.threshold && best.is_none_or(|(_, b)| sim > b) {
                best = Some((near.owners[s as usize], sim));
            }
        }
        best.map(|(g, sim)| Claim::Near(g, sim))
    }

    fn insert(&mut self, item: u64, fp: &Fingerprint, tag: u8) -> u32 {
        let g = self.groups.len() as u32;
        self.groups.push(Group { item, tag });
        self.exact.insert(fp.exact, g);
        if let (Some(near), Some(mins)) = (self.near.as_mut(), fp.minhash.as_ref()) {
            let s = near.owners.len() as u32;
            near.owners.push(g);
            near.signatures.extend_from_slice(&one_byte(mins));
            for band in 0..near.bands {
                near.buckets
                    .entry(band_key(mins, band, near.rows))
                    .or_insert(s);
            }
        }
        g
    }
}

fn band_key(mins: &[u32; PERMUTATIONS], band: usize, rows: usize) -> u64 {
    let mut h = (band as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for &v in &mins[band * rows..(band + 1) * rows] {
        h = fmix64(h ^ u64::from(v));
    }
    h
}

fn one_byte(mins: &[u32; PERMUTATIONS]) -> [u8; PERMUTATIONS] {
    let mut out = [0u8; PERMUTATIONS];
    for (o, m) in out.iter_mut().zip(mins.iter()) {
        *o = (*m & 0xFF) as u8;
    }
    out
}

/// Jaccard similarity estimated from one-byte MinHash signatures: equal bytes happen with
/// probability `J + (1 - J) / 256`, which is solved for `J`.
pub fn estimated_jaccard(a: &[u8], b: &[u8]) -> f64 {
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64;
    let chance = 1.0 / 256.0;
    ((equal - chance) / (1.0 - chance)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn fp(text: &str) -> Fingerprint {
        fingerprint(&normalize(text), true)
    }

    fn true_jaccard(a: &str, b: &str) -> f64 {
        let grams = |t: &str| {
            let c: Vec<char> = normalize(t).chars().collect();
            c.windows(SHINGLE)
                .map(|w| w.iter().collect::<String>())
                .collect::<std::collections::HashSet<_>>()
        };
        let (x, y) = (grams(a), grams(b));
        x.intersection(&y).count() as f64 / x.union(&y).count() as f64
    }

    #[test]
    fn exact_duplicates_after_normalisation() {
        let mut idx = InstructionIndex::new(None);
        assert_eq!(idx.claim(1, &fp("What is 2+2?"), 0), Claim::New(0));
        assert_eq!(idx.claim(1, &fp("What is 2+2?"), 0), Claim::Own(0));
        assert_eq!(idx.claim(2, &fp("what is 2 + 2"), 0), Claim::Exact(0));
        assert_eq!(idx.claim(3, &fp("What is 3+3?"), 1), Claim::New(1));
        assert_eq!(idx.group(1).tag, 1);
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn near_duplicates_found_and_distinct_tasks_kept_apart() {
        let base = "Write a short poem about the sea at night, with the moon shining on the \
                    waves and a lonely lighthouse keeper watching the ships go by.";
        let near = "Write a short poem about the sea at night, with the moon shining over the \
                    waves and a lonely lighthouse keeper watching the ships go by.";
        let other = "Explain how a hash table handles collisions, with an example in Python \
                     that uses separate chaining and open addressing.";
        assert!(true_jaccard(base, near) > 0.8);
        let mut idx = InstructionIndex::new(Some(0.7));
        assert_eq!(idx.claim(1, &fp(base), 0), Claim::New(0));
        match idx.claim(2, &fp(near), 0) {
            Claim::Near(0, sim) => assert!((sim - true_jaccard(base, near)).abs() < 0.15),
            other => panic!("{other:?}"),
        }
        assert_eq!(idx.claim(3, &fp(other), 0), Claim::New(1));
        // The answer for an item is remembered.
        assert!(matches!(idx.claim(2, &fp(near), 0), Claim::Near(0, _)));
    }

    #[test]
    fn estimate_tracks_true_similarity() {
        // Sentences that share a growing prefix.
        let words: Vec<String> = (0..60).map(|i| format!("word{i}")).collect();
        let a = words.join(" ");
        for keep in [10, 30, 50] {
            let b = words[..keep].join(" ") + " " + &words[keep..].join("x ");
            let est = estimated_jaccard(
                &one_byte(fp(&a).minhash.as_ref().unwrap()),
                &one_byte(fp(&b).minhash.as_ref().unwrap()),
            );
            let truth = true_jaccard(&a, &b);
            assert!((est - truth).abs() < 0.15, "keep {keep}: {est} vs {truth}");
        }
    }

    #[test]
    fn band_width_follows_the_threshold() {
        assert!(rows_for(0.9) > rows_for(0.7));
        assert!(rows_for(0.7) > rows_for(0.5));
        for t in [0.5, 0.7, 0.8, 0.9] {
            let r = rows_for(t);
            let b = PERMUTATIONS / r;
            let recall = 1.0 - (1.0 - t.powi(r as i32)).powi(b as i32);
            assert!(recall > 0.85, "threshold {t}: recall {recall}");
        }
    }

    #[test]
    fn short_and_empty_texts() {
        let mut idx = InstructionIndex::new(Some(0.8));
        assert_eq!(idx.claim(1, &fp("Hi"), 0), Claim::New(0));
        assert_eq!(idx.claim(2, &fp("hi!"), 0), Claim::Exact(0));
        assert_eq!(idx.claim(3, &fp("?"), 0), Claim::New(1));
        assert_eq!(idx.claim(4, &fp("!!"), 0), Claim::Exact(1));
        assert_eq!(idx.claim(5, &fp("Ho"), 0), Claim::New(2));
    }
}
