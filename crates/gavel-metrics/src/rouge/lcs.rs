//! Longest common subsequences and n-gram overlaps on token-id sequences.
//!
//! LCS lengths use the bit-parallel algorithm of Allison and Dix (1986) in Hyyrö's form
//! (2004): one machine word covers 64 cells of a dynamic-programming row, so a row costs
//! `ceil(len / 64)` word operations instead of `len` cell updates.
//!
//! The summary-level LCS of rougeLsum needs not only the length but one particular LCS, the
//! one rouge-score's backtracking picks, because the union of those LCSs decides the score. The
//! bit rows are kept (one bit per cell) and the backtracking reads cell values from them:
//! with `V_i` the bit row after `i` tokens of the first sequence, the table value
//! `t[i][j]` is the number of zero bits among the low `j` bits of `V_i`.

/// Reusable buffers, so scoring a pair allocates nothing once they have grown.
#[derive(Default)]
pub(super) struct LcsScratch {
    masks: Vec<u64>,
    row: Vec<u64>,
    rows: Vec<u64>,
    dense: Vec<u32>,
    local: Vec<u32>,
    counts: Vec<u32>,
    keys_a: Vec<u64>,
    keys_b: Vec<u64>,
}

const NONE: u32 = u32::MAX;

/// Length of a longest common subsequence of `a` and `b`. The masks are built over `a`, so
/// pass the sequence with fewer distinct ids (or smaller ids) first.
pub(super) fn lcs_length(a: &[u32], b: &[u32], s: &mut LcsScratch) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let words = a.len().div_ceil(64);
    build_masks(a, words, &mut s.masks);
    if words == 1 {
        let mut v = !0u64;
        for &sym in b {
            let Some(&m) = s.masks.get(sym as usize) else {
                continue;
            };
            let u = v & m;
            v = v.wrapping_add(u) | (v & !m);
        }
        return zeros_below(&[v], a.len());
    }
    s.row.clear();
    s.row.resize(words, !0);
    for &sym in b {
        let start = sym as usize * words;
        let Some(m) = s.masks.get(start..start + words) else {
            continue;
        };
        advance(&mut s.row, m);
    }
    zeros_below(&s.row, a.len())
}

/// The positions in `r` (ascending) of the LCS of `r` and `c` that rouge-score's
/// `_backtrack_norec` reads out of its table: from the bottom-right cell, take a match,
/// otherwise move left when the left cell is strictly greater than the upper one, else up.
/// Marks them in `hit` (which has `r.len()` entries).
pub(super) fn mark_backtracked_lcs(r: &[u32], c: &[u32], hit: &mut [bool], s: &mut LcsScratch) {
    if r.is_empty() || c.is_empty() {
        return;
    }
    // Bits index positions of `c`; rows follow `r`. Ids of `c` are renumbered densely so the
    // masks take `len(c)` rows at most, whatever the vocabulary size.
    let words = c.len().div_ceil(64);
    let mut n_dense = 0u32;
    s.local.clear();
    for &sym in c {
        let i = sym as usize;
        if s.dense.len() <= i {
            s.dense.resize(i + 1, NONE);
        }
        if s.dense[i] == NONE {
            s.dense[i] = n_dense;
            n_dense += 1;
        }
        s.local.push(s.dense[i]);
    }
    build_masks(&s.local, words, &mut s.masks);

    // rows[0] is V_0 (all ones: row 0 of the table is zero); rows[i] is V_i.
    s.rows.clear();
    s.rows.resize(words, !0);
    for &sym in r {
        let start = s.rows.len() - words;
        s.rows.extend_from_within(start..);
        let dense = s.dense.get(sym as usize).copied().unwrap_or(NONE);
        if dense != NONE {
            let m = &s.masks[dense as usize * words..(dense as usize + 1) * words];
            let len = s.rows.len();
            advance(&mut s.rows[len - words..], m);
        }
    }
    for &sym in c {
        s.dense[sym as usize] = NONE;
    }

    let row = |i: usize| &s.rows[i * words..(i + 1) * words];
    let (mut i, mut j) = (r.len(), c.len());
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            hit[i - 1] = true;
            i -= 1;
            j -= 1;
        } else if zeros_below(row(i), j - 1) > zeros_below(row(i - 1), j) {
            j -= 1;
        } else {
            i -= 1;
        }
    }
}

/// Clipped n-gram overlap, as rouge-score's `_score_ngrams` counts it: the sum over distinct
/// n-grams of the smaller of the two counts. Returns (overlap, n-grams in `a`, n-grams in `b`).
/// Every id must be below `n_symbols`.
pub(super) fn ngram_overlap(
    a: &[u32],
    b: &[u32],
    n: usize,
    n_symbols: usize,
    s: &mut LcsScratch,
) -> (usize, usize, usize) {
    let count_a = (a.len() + 1).saturating_sub(n);
    let count_b = (b.len() + 1).saturating_sub(n);
    if count_a == 0 || count_b == 0 {
        return (0, count_a, count_b);
    }
    let overlap = if n == 1 {
        s.counts.clear();
        s.counts.resize(n_symbols, 0);
        for &sym in a {
            s.counts[sym as usize] += 1;
        }
        let mut overlap = 0;
        for &sym in b {
            let slot = &mut s.counts[sym as usize];
            if *slot > 0 {
                *slot -= 1;
                overlap += 1;
            }
        }
        overlap
    } else if let Some(base) = packable(n_symbols, n) {
        pack_ngrams(a, n, base, &mut s.keys_a);
        pack_ngrams(b, n, base, &mut s.keys_b);
        s.keys_a.sort_unstable();
        s.keys_b.sort_unstable();
        merge_count(&s.keys_a, &s.keys_b)
    } else {
        let mut grams_a: Vec<&[u32]> = a.windows(n).collect();
        let mut grams_b: Vec<&[u32]> = b.windows(n).collect();
        grams_a.sort_unstable();
        grams_b.sort_unstable();
        merge_count(&grams_a, &grams_b)
    };
    (overlap, count_a, count_b)
}

/// The base for packing n-grams into a u64 (`sum id_k * base^k`), if `base^n` fits.
fn packable(n_symbols: usize, n: usize) -> Option<u64> {
    let base = n_symbols.max(1) as u64;
    let mut total: u64 = 1;
    for _ in 0..n {
        total = total.checked_mul(base)?;
    }
    Some(base)
}

fn pack_ngrams(tokens: &[u32], n: usize, base: u64, out: &mut Vec<u64>) {
    out.clear();
    out.extend(tokens.windows(n).map(|gram| {
        gram.iter()
            .fold(0u64, |key, &id| key * base + u64::from(id))
    }));
}

/// Number of common elements of two sorted lists, counting duplicates as a multiset
/// intersection does.
fn merge_count<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut common) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    common
}

/// Bit masks of where each symbol occurs in `seq`: `words` u64 per symbol.
fn build_masks(seq: &[u32], words: usize, masks: &mut Vec<u64>) {
    let used = seq.iter().max().map_or(0, |&x| x as usize + 1);
    masks.clear();
    masks.resize(used * words, 0);
    for (j, &sym) in seq.iter().enumerate() {
        masks[sym as usize * words + j / 64] |= 1u64 << (j % 64);
    }
}

/// One row step of the bit-parallel LCS: `V = (V + (V & M)) | (V & !M)`, the addition carried
/// across words.
#[inline]
fn advance(row: &mut [u64], mask: &[u64]) {
    let mut carry = false;
    for (v, &m) in row.iter_mut().zip(mask) {
        let u = *v & m;
        let (sum, c1) = v.overflowing_add(u);
        let (sum, c2) = sum.overflowing_add(u64::from(carry));
        carry = c1 || c2;
        *v = sum | (*v & !m);
    }
}

/// Number of zero bits among the low `len` bits of a multi-word row.
fn zeros_below(row: &[u64], len: usize) -> usize {
    let full = len / 64;
    let mut ones: usize = row.iter().take(full).map(|w| w.count_ones() as usize).sum();
    let rest = len % 64;
    if let Some(w) = row.get(full).filter(|_| rest > 0) {
        ones += (w & ((1u64 << rest) - 1)).count_ones() as usize;
    }
    len - ones
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rouge-score's `_lcs_table`, literally.
    fn table(r: &[u32], c: &[u32]) -> Vec<Vec<usize>> {
        let mut t = vec![vec![0; c.len() + 1]; r.len() + 1];
        for i in 1..=r.len() {
            for j in 1..=c.len() {
                t[i][j] = if r[i - 1] == c[j - 1] {
                    t[i - 1][j - 1] + 1
                } else {
                    t[i - 1][j].max(t[i][j - 1])
                };
            }
        }
        t
    }

    /// rouge-score's `_backtrack_norec`, literally.
    fn backtrack(r: &[u32], c: &[u32]) -> Vec<usize> {
        let t = table(r, c);
        let (mut i, mut j) = (r.len(), c.len());
        let mut lcs = Vec::new();
        while i > 0 && j > 0 {
            if r[i - 1] == c[j - 1] {
                lcs.insert(0, i - 1);
                i -= 1;
                j -= 1;
            } else if t[i][j - 1] > t[i - 1][j] {
                j -= 1;
            } else {
                i -= 1;
            }
        }
        lcs
    }

    /// A small deterministic generator (xorshift), to avoid a dev-dependency.
    fn sequences(seed: u64, count: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..count)
            .map(|_| {
                let alphabet = 1 + (next() % 6) as u32;
                let la = (next() % 150) as usize;
                let lb = (next() % 150) as usize;
                let a = (0..la)
                    .map(|_| (next() % u64::from(alphabet)) as u32)
                    .collect();
                let b = (0..lb)
                    .map(|_| (next() % u64::from(alphabet)) as u32)
                    .collect();
                (a, b)
            })
            .collect()
    }

    #[test]
    fn lcs_length_equals_the_table() {
        let mut s = LcsScratch::default();
        for (a, b) in sequences(7, 400) {
            let expected = table(&a, &b)[a.len()][b.len()];
            assert_eq!(lcs_length(&a, &b, &mut s), expected, "{a:?} {b:?}");
            assert_eq!(lcs_length(&b, &a, &mut s), expected, "{b:?} {a:?}");
        }
    }

    #[test]
    fn backtracked_lcs_equals_rouge_score() {
        let mut s = LcsScratch::default();
        for (r, c) in sequences(11, 400) {
            let mut hit = vec![false; r.len()];
            mark_backtracked_lcs(&r, &c, &mut hit, &mut s);
            let ours: Vec<usize> = (0..r.len()).filter(|&i| hit[i]).collect();
            assert_eq!(ours, backtrack(&r, &c), "{r:?} {c:?}");
        }
    }

    #[test]
    fn ngram_overlap_counts_a_multiset_intersection() {
        let mut s = LcsScratch::default();
        let a = [0, 0, 1, 0, 0];
        let b = [0, 0, 0, 1];
        assert_eq!(ngram_overlap(&a, &b, 1, 2, &mut s), (4, 5, 4));
        // bigrams of a: 00 01 10 00; of b: 00 00 01 → 00 twice, 01 once.
        assert_eq!(ngram_overlap(&a, &b, 2, 2, &mut s), (3, 4, 3));
        assert_eq!(ngram_overlap(&a, &b, 5, 2, &mut s), (0, 1, 0));
        assert_eq!(ngram_overlap(&[], &b, 1, 2, &mut s), (0, 0, 4));
        // Packing overflow falls back to comparing slices, with the same answer.
        let big = u32::MAX as usize;
        assert_eq!(
            ngram_overlap(&a, &b, 3, big, &mut s),
            ngram_overlap(&a, &b, 3, 2, &mut s)
        );
    }
}
