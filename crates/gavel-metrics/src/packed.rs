//! Character n-grams of up to [`MAX_ORDER`] characters packed into one `u64`, for chrF.
//!
//! The characters of a hypothesis get small ids (1, 2, ... in order of first appearance, at most
//! [`MAX_ALPHABET`] of them); a reference character the hypothesis lacks gets 0 (no n-gram that
//! contains it can match). An n-gram is then its ids written as base-2^[`BITS`] digits: since no
//! id is 0, n-grams of different lengths never share a key, and a key is extended by a shift and
//! an or. The counts live in one open-addressing table of such keys, with the counts in the
//! slot itself: one probe per n-gram and no pointer to follow (the trie of [`crate::ngram`]
//! needs a probe and a node per n-gram). Exact: keys are compared whole, never just hashed.
//! Texts this cannot take (more distinct characters, longer n-grams) go through the trie.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::ngram::WordHasher;
use crate::python;

/// Bits per character id.
pub(crate) const BITS: u32 = 10;
/// The most distinct characters a hypothesis may have here.
pub(crate) const MAX_ALPHABET: u16 = (1 << BITS) - 1;
/// The longest n-gram a key holds (6 × 10 bits).
pub(crate) const MAX_ORDER: usize = 6;

/// Code points below this have their id in a direct table.
const DIRECT: usize = 256;

/// The hypothesis' characters and their ids.
#[derive(Debug, Default)]
pub(crate) struct Alphabet {
    /// Code points below [`DIRECT`]: their id, 0 if the hypothesis lacks them (cleared for each
    /// hypothesis: 512 bytes).
    direct: Vec<u16>,
    /// Other code points of this hypothesis.
    other: HashMap<u32, u16, BuildHasherDefault<WordHasher>>,
    len: u16,
}

impl Alphabet {
    /// Forgets the last hypothesis.
    fn begin(&mut self) {
        if self.direct.is_empty() {
            self.direct = vec![0; DIRECT];
        } else {
            self.direct.fill(0);
        }
        if !self.other.is_empty() {
            self.other.clear();
        }
        self.len = 0;
    }

    /// The hypothesis' characters (whitespace left out unless `whitespace`) as ids into `out`,
    /// new characters given new ids; `None` when there are too many.
    fn hypothesis_ids(&mut self, text: &str, whitespace: bool, out: &mut Vec<u16>) -> Option<()> {
        out.clear();
        out.reserve(text.len());
        if text.is_ascii() {
            // Every byte's id is written and kept by moving past it: a branch on whitespace
            // would be mispredicted at nearly every word (about 10% of chrF's time).
            out.resize(text.len(), 0);
            let mut kept = 0;
            for &b in text.as_bytes() {
                let keep = whitespace || !python::ASCII_SPACE[usize::from(b)];
                let mut id = self.direct[usize::from(b)];
                if id == 0 && keep {
                    id = self.next_id()?;
                    self.direct[usize::from(b)] = id;
                }
                out[kept] = id;
                kept += usize::from(keep);
            }
            out.truncate(kept);
        } else {
            for c in text.chars() {
                if whitespace || !python::is_space(c) {
                    out.push(self.insert(u32::from(c))?);
                }
            }
        }
        Some(())
    }

    /// A reference's characters as ids into `out`, 0 for those the hypothesis lacks.
    fn reference_ids(&self, text: &str, whitespace: bool, out: &mut Vec<u16>) {
        out.clear();
        out.reserve(text.len());
        if text.is_ascii() {
            // As in `hypothesis_ids`: no branch on whitespace.
            out.resize(text.len(), 0);
            let mut kept = 0;
            for &b in text.as_bytes() {
                out[kept] = self.direct[usize::from(b)];
                kept += usize::from(whitespace || !python::ASCII_SPACE[usize::from(b)]);
            }
            out.truncate(kept);
        } else {
            for c in text.chars() {
                if whitespace || !python::is_space(c) {
                    out.push(self.get(u32::from(c)));
                }
            }
        }
    }

    /// The id of a hypothesis character, given one if new; `None` when the alphabet is full.
    #[inline]
    fn insert(&mut self, c: u32) -> Option<u16> {
        if (c as usize) < DIRECT {
            let id = self.direct[c as usize];
            if id != 0 {
                return Some(id);
            }
            let id = self.next_id()?;
            self.direct[c as usize] = id;
            return Some(id);
        }
        if let Some(&id) = self.other.get(&c) {
            return Some(id);
        }
        let id = self.next_id()?;
        self.other.insert(c, id);
        Some(id)
    }

    #[inline]
    fn next_id(&mut self) -> Option<u16> {
        if self.len == MAX_ALPHABET {
            return None;
        }
        self.len += 1;
        Some(self.len)
    }

    /// The id of a reference character, 0 when the hypothesis does not have it.
    #[inline]
    fn get(&self, c: u32) -> u16 {
        if (c as usize) < DIRECT {
            return self.direct[c as usize];
        }
        self.other.get(&c).copied().unwrap_or(0)
    }
}

/// One n-gram of the hypothesis, in 16 bytes so that a typical hypothesis' table fits the
/// first-level cache. Counts fit 16 bits because hypotheses longer than [`MAX_LEN`]
/// characters are left to the trie (and a reference's count stops at the hypothesis' count).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// The hypothesis this slot belongs to (else it is empty).
    generation: u16,
    /// Occurrences in the hypothesis.
    hyp: u16,
    /// The reference `cur` counts (valid only if equal to the current reference's stamp).
    stamp: u16,
    /// Occurrences in that reference so far, up to `hyp`.
    cur: u16,
}

/// The longest hypothesis (in characters) taken here.
pub(crate) const MAX_LEN: usize = u16::MAX as usize;

/// The hypothesis' character n-grams with their counts, and the scratch space to match
/// references against them; reused from one segment to the next.
#[derive(Debug, Default)]
pub(crate) struct CharGrams {
    alphabet: Alphabet,
    /// The hypothesis' ids, then each reference's.
    hyp: Vec<u16>,
    reference: Vec<u16>,
    /// Unigrams by id: occurrences in the hypothesis, and in the reference being matched.
    uni_hyp: Vec<u32>,
    uni_cur: Vec<u32>,
    table: Table,
}

impl CharGrams {
    /// Takes the hypothesis: its characters (without whitespace unless `whitespace`) and every
    /// n-gram of orders 1 to `order`. Answers the number of characters, or `None` when this
    /// representation cannot hold it (more than [`MAX_ALPHABET`] distinct characters, more
    /// than [`MAX_LEN`] characters, or an order above [`MAX_ORDER`]); then nothing is kept.
    pub fn set_hypothesis(&mut self, text: &str, whitespace: bool, order: usize) -> Option<usize> {
        if order > MAX_ORDER {
            return None;
        }
        self.alphabet.begin();
        self.alphabet
            .hypothesis_ids(text, whitespace, &mut self.hyp)?;
        if self.hyp.len() > MAX_LEN {
            return None;
        }
        let symbols = usize::from(self.alphabet.len) + 1;
        self.uni_hyp.clear();
        self.uni_hyp.resize(symbols, 0);
        self.uni_cur.clear();
        self.uni_cur.resize(symbols, 0);
        if order >= 1 {
            for &id in &self.hyp {
                self.uni_hyp[usize::from(id)] += 1;
            }
        }
        self.table
            .begin(self.hyp.len() * order.saturating_sub(1), symbols);
        self.table.insert_all(&self.hyp, order);
        Some(self.hyp.len())
    }

    /// Matches one reference against the hypothesis: adds to `matches[n - 1]` the matched
    /// n-grams of order n (the sum over n-grams of the smaller of the two counts), for n up to
    /// `matches.len()` (the order given to [`CharGrams::set_hypothesis`]). Answers the
    /// number of characters of the reference.
    pub fn match_reference(&mut self, text: &str, whitespace: bool, matches: &mut [u64]) -> usize {
        self.alphabet
            .reference_ids(text, whitespace, &mut self.reference);
        if let Some(first) = matches.first_mut() {
            self.uni_cur.fill(0);
            // Without a branch (whether a character is matched is unpredictable); id 0, a
            // character the hypothesis lacks, has uni_hyp[0] = 0 and so is never matched.
            let mut hits = 0u64;
            for &id in &self.reference {
                let id = usize::from(id);
                let hit = self.uni_cur[id] < self.uni_hyp[id];
                self.uni_cur[id] += u32::from(hit);
                hits += u64::from(hit);
            }
            *first += hits;
        }
        self.table.count_matches(&self.reference, matches);
        self.reference.len()
    }
}

/// The most slots a table is given for sparseness alone (1 MiB).
const SPARSE_SLOTS: usize = 1 << 16;

/// Bigrams are counted in a direct table (no hashing, no probing) when the hypothesis has at
/// most this many distinct characters.
const DIRECT_PAIRS_ALPHABET: usize = 127;

/// The counts of one bigram in the direct table (see [`Slot`] for the fields).
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    generation: u16,
    hyp: u16,
    stamp: u16,
    cur: u16,
}

/// The n-grams of orders 2 and up: bigrams in a direct table indexed by their two ids when the
/// alphabet is small, the rest by open addressing over their keys with linear probing; the
/// slots in use are the first `mask + 1`, sized for each hypothesis.
#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    mask: usize,
    shift: u32,
    /// Bigram (a, b) at `a * stride + b`; `stride` 0 when bigrams are hashed too.
    pairs: Vec<Cell>,
    stride: usize,
    generation: u16,
    stamp: u16,
}

impl Table {
    /// Empties the table, sized for `max_grams` n-grams over an alphabet of `symbols` ids
    /// (0 included): 16 slots per n-gram up to [`SPARSE_SLOTS`] slots, at least 2 beyond. So
    /// sparse, a probe nearly always ends at its first slot; a longer one is a mispredicted
    /// branch, which costs more than the cache misses of a larger table (on the benchmark's
    /// pairs, chrF took 0.82 s with 1.25 slots per n-gram, 0.47 s with 4, 0.37 s with 16).
    fn begin(&mut self, max_grams: usize, symbols: usize) {
        let sparse = (max_grams * 16).next_power_of_two().min(SPARSE_SLOTS);
        let want = sparse.max((max_grams * 2).next_power_of_two()).max(16);
        if self.slots.len() < want {
            self.slots = vec![Slot::default(); want];
        }
        self.mask = want - 1;
        self.shift = 64 - want.trailing_zeros();
        self.stride = if symbols <= DIRECT_PAIRS_ALPHABET + 1 {
            symbols
        } else {
            0
        };
        if self.pairs.len() < self.stride * self.stride {
            self.pairs = vec![Cell::default(); self.stride * self.stride];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Every slot may carry any older generation: empty them all.
            self.slots.fill(Slot::default());
            self.pairs.fill(Cell::default());
            self.generation = 1;
        }
    }

    /// Counts every n-gram of `ids` of orders 2 to `order`.
    fn insert_all(&mut self, ids: &[u16], order: usize) {
        let (mask, shift, generation, stride) =
            (self.mask, self.shift, self.generation, self.stride);
        let slots = &mut self.slots[..=mask];
        let pairs = &mut self.pairs[..stride * stride];
        for start in 0..ids.len().saturating_sub(1) {
            let end = (start + order).min(ids.len());
            if end < start + 2 {
                break;
            }
            let (a, b) = (ids[start], ids[start + 1]);
            let mut key = (u64::from(a) << BITS) | u64::from(b);
            if stride == 0 {
                insert(slots, mask, shift, generation, key);
            } else {
                let cell = &mut pairs[usize::from(a) * stride + usize::from(b)];
                let empty = cell.generation != generation;
                cell.hyp = if empty { 1 } else { cell.hyp + 1 };
                cell.stamp = if empty { 0 } else { cell.stamp };
                cell.generation = generation;
            }
            for &id in &ids[start + 2..end] {
                key = (key << BITS) | u64::from(id);
                insert(slots, mask, shift, generation, key);
            }
        }
    }

    /// Walks a reference's n-grams of orders 2 and up, counting the clipped matches per order
    /// into `matches` (whose first entry, the unigrams, it leaves alone).
    fn count_matches(&mut self, ids: &[u16], matches: &mut [u64]) {
        if matches.len() < 2 {
            return;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Stamp 0 marks n-grams no reference has touched; older stamps may remain.
            for slot in &mut self.slots {
                slot.stamp = 0;
            }
            for cell in &mut self.pairs {
                cell.stamp = 0;
            }
            self.stamp = 1;
        }
        let (mask, shift, generation, stamp, stride) = (
            self.mask,
            self.shift,
            self.generation,
            self.stamp,
            self.stride,
        );
        let slots = &mut self.slots[..=mask];
        let pairs = &mut self.pairs[..stride * stride];
        let order = matches.len();
        // counts[k] is order k + 2; k < MAX_ORDER - 1 < 8: the mask only spares a bounds check.
        let mut counts = [0u64; 8];
        for start in 0..ids.len().saturating_sub(1) {
            let end = (start + order).min(ids.len());
            let (a, b) = (ids[start], ids[start + 1]);
            if a == 0 || b == 0 {
                continue;
            }
            let mut key = (u64::from(a) << BITS) | u64::from(b);
            let hit = if stride == 0 {
                probe_count(slots, mask, shift, generation, stamp, key)
            } else {
                let cell = &mut pairs[usize::from(a) * stride + usize::from(b)];
                if cell.generation == generation {
                    let cur = if cell.stamp == stamp { cell.cur } else { 0 };
                    let hit = cur < cell.hyp;
                    cell.stamp = stamp;
                    cell.cur = cur + u16::from(hit);
                    Some(hit)
                } else {
                    None
                }
            };
            // A bigram the hypothesis lacks: no longer n-gram from here can be there.
            let Some(hit) = hit else {
                continue;
            };
            counts[0] += u64::from(hit);
            for next in start + 2..end {
                let id = ids[next];
                if id == 0 {
                    break;
                }
                key = (key << BITS) | u64::from(id);
                let Some(hit) = probe_count(slots, mask, shift, generation, stamp, key) else {
                    break;
                };
                counts[(next - start - 1) & 7] += u64::from(hit);
            }
        }
        for (m, c) in matches[1..].iter_mut().zip(counts) {
            *m += c;
        }
    }
}

/// Counts one more occurrence of `key` in the hypothesis. New or seen before is
/// unpredictable: both are done without a branch; the loop only continues past another
/// n-gram's slot (rare, the table is sparse).
#[inline]
fn insert(slots: &mut [Slot], mask: usize, shift: u32, generation: u16, key: u64) {
    let mut i = position(key, shift);
    loop {
        let slot = &mut slots[i];
        let empty = slot.generation != generation;
        if empty || slot.key == key {
            slot.key = key;
            slot.generation = generation;
            slot.hyp = if empty { 1 } else { slot.hyp + 1 };
            slot.stamp = if empty { 0 } else { slot.stamp };
            return;
        }
        i = (i + 1) & mask;
    }
}

/// One occurrence of `key` in the reference stamped `stamp`: `None` if the hypothesis lacks
/// it, else whether it is matched (within the hypothesis' count), counted without branches.
#[inline]
fn probe_count(
    slots: &mut [Slot],
    mask: usize,
    shift: u32,
    generation: u16,
    stamp: u16,
    key: u64,
) -> Option<bool> {
    let mut i = position(key, shift);
    let slot = loop {
        let slot = &mut slots[i];
        if slot.generation != generation {
            return None;
        }
        if slot.key == key {
            break slot;
        }
        i = (i + 1) & mask;
    };
    let cur = if slot.stamp == stamp { slot.cur } else { 0 };
    let hit = cur < slot.hyp;
    slot.stamp = stamp;
    slot.cur = cur + u16::from(hit);
    Some(hit)
}

/// The first slot to probe for `key`. The high characters are folded onto the low ones first:
/// a product's top bits depend only on the factor's lower bits, and n-grams that differ only in
/// their first character would otherwise crowd together.
#[inline]
fn position(key: u64, shift: u32) -> usize {
    ((key ^ (key >> 30)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_clipped_matches_per_order() {
        let mut g = CharGrams::default();
        assert_eq!(g.set_hypothesis("abab a", false, 3), Some(5));
        let mut m = [0u64; 3];
        // Reference n-grams: a b a a b | ab ba aa ab | aba baa aab.
        assert_eq!(g.match_reference("ab aab", false, &mut m), 5);
        // a: min(3, 3); b: min(2, 2); ab: min(2, 2), ba: 1, aa: 0; aba: 1.
        assert_eq!(m, [5, 3, 1]);
        // A second reference starts from zero; unknown characters break the n-grams.
        let mut m = [0u64; 3];
        assert_eq!(g.match_reference("axb", false, &mut m), 3);
        assert_eq!(m, [2, 0, 0]);
    }

    /// The matched n-grams per order by definition: sum over n-grams of min(counts).
    fn naive(hyp: &[char], reference: &[char], order: usize) -> Vec<u64> {
        fn count(t: &[char], n: usize) -> HashMap<&[char], u64> {
            let mut m = HashMap::<&[char], u64>::new();
            for g in t.windows(n) {
                *m.entry(g).or_default() += 1;
            }
            m
        }
        (1..=order)
            .map(|n| {
                let (h, r) = (count(hyp, n), count(reference, n));
                h.iter()
                    .map(|(g, &c)| c.min(r.get(g).copied().unwrap_or(0)))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn equals_the_definition_with_small_and_large_alphabets() {
        let mut seed = 11u64;
        let mut next = |k: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % k
        };
        let mut g = CharGrams::default();
        // 3 and 40 distinct characters: bigrams in the direct table; 300: hashed.
        for distinct in [3usize, 40, 300] {
            let alphabet: Vec<char> = (0..distinct as u32)
                .map(|i| char::from_u32(0x61 + i + if i >= 26 { 0x3000 } else { 0 }).unwrap())
                .collect();
            for len in [0usize, 1, 2, 3, 7, 50, 600] {
                let hyp: Vec<char> = (0..len).map(|_| alphabet[next(distinct)]).collect();
                // References: edited copies (so that long n-grams match) and unrelated text.
                let mut edited = hyp.clone();
                for _ in 0..len / 5 {
                    let i = next(len);
                    edited[i] = if next(3) == 0 {
                        '!'
                    } else {
                        alphabet[next(distinct)]
                    };
                }
                let unrelated: Vec<char> =
                    (0..len / 2 + 3).map(|_| alphabet[next(distinct)]).collect();
                let text: String = hyp.iter().collect();
                for order in [1, 2, 3, 6] {
                    g.set_hypothesis(&text, false, order).unwrap();
                    for reference in [&edited, &unrelated, &hyp] {
                        let mut m = vec![0u64; order];
                        let r: String = reference.iter().collect();
                        assert_eq!(g.match_reference(&r, false, &mut m), reference.len());
                        assert_eq!(m, naive(&hyp, reference, order), "{distinct} {len} {order}");
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_whitespace_is_dropped_or_kept_as_asked() {
        // Every ASCII byte that Python calls whitespace, between and around the letters, and
        // reference letters the hypothesis lacks (id 0: never a match, of any order).
        let spaces = [
            "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ",
        ];
        let mut hyp = String::from(" ");
        let mut reference = String::new();
        for (i, sp) in spaces.iter().enumerate() {
            hyp.push_str(&"ab"[i % 2..]);
            hyp.push_str(sp);
            reference.push_str(sp);
            reference.push_str(["ab", "xb", "a"][i % 3]);
        }
        hyp.push('\x1f');
        let mut g = CharGrams::default();
        for whitespace in [false, true] {
            let kept = |t: &str| -> Vec<char> {
                t.chars()
                    .filter(|&c| whitespace || !python::is_space(c))
                    .collect()
            };
            let (h, r) = (kept(&hyp), kept(&reference));
            assert_eq!(g.set_hypothesis(&hyp, whitespace, 4), Some(h.len()));
            let mut m = [0u64; 4];
            assert_eq!(g.match_reference(&reference, whitespace, &mut m), r.len());
            assert_eq!(m.to_vec(), naive(&h, &r, 4), "whitespace {whitespace}");
            // Whitespace counts as characters only when kept.
            assert_eq!(h.len(), if whitespace { hyp.len() } else { 15 });
        }
    }

    #[test]
    fn a_new_hypothesis_forgets_the_last() {
        let mut g = CharGrams::default();
        g.set_hypothesis("xyz", false, 2);
        g.set_hypothesis("ab", false, 2);
        let mut m = [0u64; 2];
        g.match_reference("xyzab", false, &mut m);
        assert_eq!(m, [2, 1]);
    }

    #[test]
    fn generations_and_stamps_wrap_around() {
        // More segments and references than 16-bit generations and stamps count: stale
        // n-grams must never come back, and each reference must count from zero.
        let mut g = CharGrams::default();
        let texts = ["abcab", "xyzxy", "abxyz"];
        for round in 0..70_000usize {
            let hyp = texts[round % 3];
            g.set_hypothesis(hyp, false, 3);
            for reference in [texts[(round + 1) % 3], hyp] {
                let mut m = [0u64; 3];
                g.match_reference(reference, false, &mut m);
                let want = match (hyp, reference) {
                    (h, r) if h == r => [5, 4, 3],
                    ("abcab", "xyzxy") | ("xyzxy", "abcab") => [0, 0, 0],
                    // abxyz against xyzxy or abcab, either way round.
                    ("xyzxy", _) | (_, "xyzxy") => [3, 2, 1],
                    _ => [2, 1, 0],
                };
                assert_eq!(m, want, "round {round}: {hyp} / {reference}");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_hold() {
        let mut g = CharGrams::default();
        assert_eq!(g.set_hypothesis("ab", false, MAX_ORDER + 1), None);
        let many: String = (0..u32::from(MAX_ALPHABET) + 1)
            .map(|i| char::from_u32(0x4E00 + i).unwrap())
            .collect();
        assert_eq!(g.set_hypothesis(&many, false, 6), None);
        let enough: String = many.chars().skip(1).collect();
        assert_eq!(
            g.set_hypothesis(&enough, false, 6),
            Some(usize::from(MAX_ALPHABET))
        );
    }
}
