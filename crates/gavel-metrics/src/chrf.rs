//! chrF and chrF++, equal to sacrebleu 2.6.0 (`sacrebleu.metrics.CHRF`).
//!
//! ```
//! use gavel_metrics::chrf::{Chrf, ChrfOptions};
//!
//! let hyps = ["The cat sat on the mat.", "It is raining."];
//! let refs = [vec!["The cat sat on the mat."], vec!["It rains.", "It is raining today."]];
//! let chrf = Chrf::new(ChrfOptions::default()).unwrap();
//! assert!((chrf.corpus_score(&hyps, &refs).score - 83.01026586920923).abs() < 1e-9);
//! let chrf_pp = Chrf::new(ChrfOptions::chrf_plus_plus()).unwrap();
//! assert!((chrf_pp.corpus_score(&hyps, &refs).score - 84.13315872201872).abs() < 1e-9);
//! ```
//!
//! # Definition (sacrebleu's)
//!
//! Texts are lower-cased if asked (Python's `str.lower()`); character n-grams (orders 1..6 by
//! default) are taken after removing all whitespace (unless `whitespace`), over code points.
//! chrF++ adds word n-grams (orders 1..2): words are the whitespace-separated parts, with one
//! ASCII punctuation character split off the end (or else the start) of each word longer than
//! one character. Per order, a segment contributes the hypothesis n-gram count (0 when the
//! reference has no n-gram of that order), the reference n-gram count and the matched count
//! (the sum over n-grams of the smaller of the two counts). With several references, a segment
//! takes the statistics of the reference whose own chrF is highest (the first on ties). A corpus
//! adds the statistics up; then per order precision and recall, averaged over the orders where
//! both texts have n-grams ("effective order"), give `F_β = (1 + β²) P R / (β² P + R)`, times
//! 100 (0 when P + R = 0). With `eps_smoothing`, F_β is instead computed per order with 1e-16
//! for undefined parts (as chrF++.py) and averaged over all orders.
//!
//! Reference: M. Popović, "chrF: character n-gram F-score for automatic MT evaluation", WMT
//! 2015; "chrF++: words helping character n-grams", WMT 2017.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::ngram::{NumRefs, ROOT, Trie, UNKNOWN, WordIds, signature};
use crate::packed::CharGrams;
use crate::python;

/// chrF options; `Default` is sacrebleu's `CHRF()` (chrF2 with character 6-grams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChrfOptions {
    /// Largest character n-gram order (6).
    pub char_order: usize,
    /// Largest word n-gram order (0; 2 is chrF++).
    pub word_order: usize,
    /// β: recall weighs β times as much as precision (2).
    pub beta: u32,
    /// Lower-case first.
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams.
    pub whitespace: bool,
    /// chrF++.py's epsilon smoothing instead of effective-order averaging.
    pub eps_smoothing: bool,
}

impl Default for ChrfOptions {
    fn default() -> Self {
        ChrfOptions {
            char_order: 6,
            word_order: 0,
            beta: 2,
            lowercase: false,
            whitespace: false,
            eps_smoothing: false,
        }
    }
}

impl ChrfOptions {
    /// chrF++: the defaults with word order 2.
    pub fn chrf_plus_plus() -> Self {
        ChrfOptions {
            word_order: 2,
            ..ChrfOptions::default()
        }
    }
}

/// Options that make no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChrfError {
    /// Both orders are 0.
    #[error("chrF needs a character or word n-gram order of at least 1")]
    ZeroOrder,
}

/// Segment or corpus statistics: for each order (character orders, then word orders) the
/// hypothesis, reference and matched n-gram counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChrfStats(pub Vec<[u64; 3]>);

impl ChrfStats {
    /// Adds another segment's statistics.
    pub fn add(&mut self, other: &ChrfStats) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), [0; 3]);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            for k in 0..3 {
                a[k] += b[k];
            }
        }
    }
}

/// A chrF score, 0-100.
#[derive(Debug, Clone, PartialEq)]
pub struct ChrfScore {
    /// chrF, 0-100.
    pub score: f64,
    /// References per segment, for the signature.
    pub nrefs: NumRefs,
}

/// A chrF scorer with fixed options; no mutable state, share it across threads.
#[derive(Debug, Clone)]
pub struct Chrf {
    options: ChrfOptions,
}

#[derive(Default)]
struct Scratch {
    hyp_chars: Vec<u32>,
    ref_chars: Vec<u32>,
    hyp_words: Vec<u32>,
    ref_words: Vec<u32>,
    grams: CharGrams,
    words: WordIds,
    char_trie: Trie,
    word_trie: Trie,
    stats: Vec<[u64; 3]>,
    matches: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// string.punctuation, which chrF++ splits off words.
fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// sacrebleu's `_remove_punctuation`: whitespace-separated words, with one punctuation
/// character split off the end, or else the start, of words longer than one character.
fn words<'a>(text: &'a str, mut sink: impl FnMut(&'a str)) {
    for w in python::split(text) {
        let mut chars = w.chars();
        let (Some(first), Some(last)) = (chars.next(), chars.next_back()) else {
            // One character.
            sink(w);
            continue;
        };
        if is_punct(last) {
            sink(&w[..w.len() - last.len_utf8()]);
            sink(&w[w.len() - last.len_utf8()..]);
        } else if is_punct(first) {
            sink(&w[..first.len_utf8()]);
            sink(&w[first.len_utf8()..]);
        } else {
            sink(w);
        }
    }
}

fn chars_of(text: &str, whitespace: bool, out: &mut Vec<u32>) {
    out.clear();
    out.reserve(text.len());
    if text.is_ascii() {
        let bytes = text.as_bytes().iter().map(|&b| char::from(b));
        if whitespace {
            out.extend(bytes.map(u32::from));
        } else {
            out.extend(bytes.filter(|&c| !python::is_space(c)).map(u32::from));
        }
    } else if whitespace {
        out.extend(text.chars().map(u32::from));
    } else {
        out.extend(
            text.chars()
                .filter(|&c| !python::is_space(c))
                .map(u32::from),
        );
    }
}

/// Walks `seq` down `trie`, counting for each order the matched n-grams (the sum over n-grams
/// of min(hypothesis count, this sequence's count)) into `matches`.
fn count_matches(trie: &mut Trie, seq: &[u32], order: usize, stamp: u32, matches: &mut [u64]) {
    for start in 0..seq.len() {
        let mut node = ROOT;
        for (n, &sym) in seq[start..(start + order).min(seq.len())]
            .iter()
            .enumerate()
        {
            if sym == UNKNOWN {
                break;
            }
            let Some(child) = trie.child(node, sym) else {
                break;
            };
            node = child;
            let e = &mut trie.nodes[node as usize];
            if e.stamp != stamp {
                e.stamp = stamp;
                e.cur = 0;
            }
            if e.cur < e.hyp {
                matches[n] += 1;
            }
            e.cur += 1;
        }
    }
}

impl Chrf {
    /// A scorer; refuses options with no n-gram order at all.
    pub fn new(options: ChrfOptions) -> Result<Chrf, ChrfError> {
        if options.char_order + options.word_order == 0 {
            return Err(ChrfError::ZeroOrder);
        }
        Ok(Chrf { options })
    }

    /// The options in force.
    pub fn options(&self) -> &ChrfOptions {
        &self.options
    }

    /// The metric's name as sacrebleu prints it: `chrF2`, `chrF2++`.
    pub fn name(&self) -> String {
        format!(
            "chrF{}{}",
            self.options.beta,
            "+".repeat(self.options.word_order)
        )
    }

    fn order(&self) -> usize {
        self.options.char_order + self.options.word_order
    }

    /// The statistics of one segment: those of the reference with the best chrF. With no
    /// references (sacrebleu would fail) they are all zero.
    pub fn segment_stats(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> ChrfStats {
        self.segment_stats_with(hypothesis, references, true)
    }

    /// [`Chrf::segment_stats`]; character n-grams as packed keys ([`crate::packed`]) when
    /// `packed` and the hypothesis allows it, else through the trie (the same numbers).
    fn segment_stats_with(
        &self,
        hypothesis: &str,
        references: &[impl AsRef<str>],
        packed: bool,
    ) -> ChrfStats {
        let o = self.options;
        let order = self.order();
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let mut best = vec![[0u64; 3]; order];
            let mut best_f = -1.0;
            let hyp = if o.lowercase {
                python::lower(hypothesis)
            } else {
                Cow::Borrowed(hypothesis)
            };
            let fast = if packed {
                s.grams.set_hypothesis(&hyp, o.whitespace, o.char_order)
            } else {
                None
            };
            let hc = match fast {
                Some(n) => n,
                None => {
                    chars_of(&hyp, o.whitespace, &mut s.hyp_chars);
                    s.char_trie.begin(s.hyp_chars.len() * o.char_order);
                    s.char_trie.insert_all(&s.hyp_chars, o.char_order);
                    s.hyp_chars.len()
                }
            };
            if o.word_order > 0 {
                s.words.begin();
                s.hyp_words.clear();
                let (ids, hw) = (&mut s.words, &mut s.hyp_words);
                words(&hyp, |w| hw.push(ids.insert(w)));
                s.word_trie.begin(s.hyp_words.len() * o.word_order);
                s.word_trie.insert_all(&s.hyp_words, o.word_order);
            }
            let hw = s.hyp_words.len();
            let mut matches = std::mem::take(&mut s.matches);
            matches.resize(order, 0);
            for (r, reference) in references.iter().enumerate() {
                let reference = if o.lowercase {
                    python::lower(reference.as_ref())
                } else {
                    Cow::Borrowed(reference.as_ref())
                };
                let stamp = r as u32 + 1;
                matches.fill(0);
                let rc = if fast.is_some() {
                    s.grams
                        .match_reference(&reference, o.whitespace, &mut matches[..o.char_order])
                } else {
                    chars_of(&reference, o.whitespace, &mut s.ref_chars);
                    count_matches(
                        &mut s.char_trie,
                        &s.ref_chars,
                        o.char_order,
                        stamp,
                        &mut matches[..o.char_order],
                    );
                    s.ref_chars.len()
                };
                let mut rw = 0;
                if o.word_order > 0 {
                    s.ref_words.clear();
                    let (ids, out) = (&s.words, &mut s.ref_words);
                    words(&reference, |w| out.push(ids.get(w)));
                    rw = s.ref_words.len();
                    count_matches(
                        &mut s.word_trie,
                        &s.ref_words,
                        o.word_order,
                        stamp,
                        &mut matches[o.char_order..],
                    );
                }
                s.stats.clear();
                for (i, &matched) in matches.iter().enumerate() {
                    let (h_len, r_len, n) = if i < o.char_order {
                        (hc, rc, i + 1)
                    } else {
                        (hw, rw, i - o.char_order + 1)
                    };
                    let n_ref = (r_len + 1).saturating_sub(n) as u64;
                    let n_hyp = if n_ref > 0 {
                        (h_len + 1).saturating_sub(n) as u64
                    } else {
                        0
                    };
                    s.stats.push([n_hyp, n_ref, matched]);
                }
                let f = self.f_score(&s.stats);
                if f > best_f {
                    best_f = f;
                    best.copy_from_slice(&s.stats);
                }
            }
            s.matches = matches;
            ChrfStats(best)
        })
    }

    /// sacrebleu's `_compute_f_score`, 0-100.
    fn f_score(&self, stats: &[[u64; 3]]) -> f64 {
        const EPS: f64 = 1e-16;
        let factor = f64::from(self.options.beta) * f64::from(self.options.beta);
        let mut score = 0.0;
        let mut effective_order = 0u32;
        let (mut avg_prec, mut avg_rec) = (0.0, 0.0);
        for &[n_hyp, n_ref, n_match] in stats {
            let prec = if n_hyp > 0 {
                n_match as f64 / n_hyp as f64
            } else {
                EPS
            };
            let rec = if n_ref > 0 {
                n_match as f64 / n_ref as f64
            } else {
                EPS
            };
            let denom = factor * prec + rec;
            score += if denom > 0.0 {
                (1.0 + factor) * prec * rec / denom
            } else {
                EPS
            };
            if n_hyp > 0 && n_ref > 0 {
                avg_prec += prec;
                avg_rec += rec;
                effective_order += 1;
            }
        }
        if self.options.eps_smoothing {
            return 100.0 * score / self.order() as f64;
        }
        if effective_order == 0 {
            avg_prec = 0.0;
            avg_rec = 0.0;
        } else {
            avg_prec /= f64::from(effective_order);
            avg_rec /= f64::from(effective_order);
        }
        if avg_prec + avg_rec != 0.0 {
            let mut score = (1.0 + factor) * avg_prec * avg_rec;
            score /= factor * avg_prec + avg_rec;
            100.0 * score
        } else {
            0.0
        }
    }

    /// chrF from (summed) statistics.
    pub fn score_stats(&self, stats: &ChrfStats, nrefs: NumRefs) -> ChrfScore {
        let mut padded = stats.0.clone();
        padded.resize(self.order(), [0; 3]);
        ChrfScore {
            score: self.f_score(&padded),
            nrefs,
        }
    }

    /// Sentence chrF (sacrebleu's `sentence_score`).
    pub fn sentence_score(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> ChrfScore {
        let stats = self.segment_stats(hypothesis, references);
        self.score_stats(&stats, NumRefs::Fixed(references.len()))
    }

    /// Corpus chrF: each hypothesis with its own references (their number may vary).
    pub fn corpus_score<R: AsRef<str>>(
        &self,
        hypotheses: &[impl AsRef<str>],
        references: &[impl AsRef<[R]>],
    ) -> ChrfScore {
        let mut sum = ChrfStats(vec![[0; 3]; self.order()]);
        for (h, r) in hypotheses.iter().zip(references) {
            sum.add(&self.segment_stats(h.as_ref(), r.as_ref()));
        }
        let nrefs = NumRefs::of_counts(
            references
                .iter()
                .take(hypotheses.len())
                .map(|r| r.as_ref().len()),
        );
        self.score_stats(&sum, nrefs)
    }

    /// sacrebleu's signature, e.g. `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0`.
    pub fn signature(&self, nrefs: NumRefs, short: bool) -> String {
        let o = &self.options;
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        signature(
            nrefs,
            &[
                (
                    "case",
                    "c",
                    if o.lowercase { "lc" } else { "mixed" }.to_string(),
                ),
                ("eff", "e", yes_no(!o.eps_smoothing)),
                ("nc", "nc", o.char_order.to_string()),
                ("nw", "nw", o.word_order.to_string()),
                ("space", "s", yes_no(o.whitespace)),
            ],
            short,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_split() {
        let mut out = Vec::new();
        words("(hi) a hi! !hi a.b ...", |w| out.push(w));
        assert_eq!(
            out,
            ["(hi", ")", "a", "hi", "!", "!", "hi", "a.b", "..", "."]
        );
    }

    /// Deterministic texts over a few characters (so that long n-grams repeat and match),
    /// with whitespace of several kinds and non-ASCII letters.
    fn random_text(seed: &mut u64, len: usize, alphabet: &[char]) -> String {
        (0..len)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[(*seed >> 33) as usize % alphabet.len()]
            })
            .collect()
    }

    #[test]
    fn packed_character_ngrams_equal_the_trie() {
        let alphabets: [&[char]; 3] = [
            &['a', 'b', ' ', 'A'],
            &[
                'a', 'b', 'c', ' ', '\t', '\u{a0}', 'é', '語', '😀', '\x1c', '\0',
            ],
            &['x', 'y', 'z', 'w', ' ', '.', 'Σ', 'ς'],
        ];
        let mut seed = 7;
        let mut checked = 0;
        for options in [
            ChrfOptions::default(),
            ChrfOptions::chrf_plus_plus(),
            ChrfOptions {
                char_order: 3,
                lowercase: true,
                whitespace: true,
                ..ChrfOptions::default()
            },
            ChrfOptions {
                char_order: 1,
                beta: 1,
                eps_smoothing: true,
                ..ChrfOptions::default()
            },
        ] {
            let c = Chrf::new(options).unwrap();
            for alphabet in alphabets {
                for len in [0, 1, 2, 5, 6, 7, 30, 200] {
                    let hyp = random_text(&mut seed, len, alphabet);
                    let refs: Vec<String> = [len, len / 2 + 1, len + 3]
                        .iter()
                        .map(|&l| random_text(&mut seed, l, alphabet))
                        .collect();
                    let refs = [&refs[..1], &refs[..]];
                    for refs in refs {
                        assert_eq!(
                            c.segment_stats_with(&hyp, refs, true),
                            c.segment_stats_with(&hyp, refs, false),
                            "{options:?} {hyp:?} {refs:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 3 * 8 * 2);
    }

    #[test]
    fn texts_the_packed_keys_cannot_hold_go_through_the_trie() {
        // 1,100 distinct characters, more than the packed alphabet holds.
        let hyp: String = (0..1100u32)
            .map(|i| char::from_u32(0x4E00 + i).unwrap())
            .collect();
        let reference: String = hyp.chars().rev().chain(hyp.chars().take(50)).collect();
        let c = Chrf::new(ChrfOptions::default()).unwrap();
        let stats = c.segment_stats(&hyp, &[&reference]);
        assert_eq!(stats, c.segment_stats_with(&hyp, &[&reference], false));
        // Unigrams all match; the 50 characters repeated make 49 bigrams shared.
        assert_eq!(stats.0[0], [1100, 1150, 1100]);
        assert_eq!(stats.0[1], [1099, 1149, 49]);
        let long = Chrf::new(ChrfOptions {
            char_order: 8,
            ..ChrfOptions::default()
        })
        .unwrap();
        let (h, r) = ("abcdefghij abcdefgh", "abcdefghijk");
        assert_eq!(
            long.segment_stats(h, &[r]),
            long.segment_stats_with(h, &[r], false)
        );
        assert_eq!(long.segment_stats(h, &[r]).0[7], [11, 4, 3]);
    }

    #[test]
    fn identical_and_disjoint() {
        let c = Chrf::new(ChrfOptions::chrf_plus_plus()).unwrap();
        assert!((c.sentence_score("a cat", &["a cat"]).score - 100.0).abs() < 1e-12);
        assert_eq!(c.sentence_score("xyz", &["abc"]).score, 0.0);
        assert_eq!(c.sentence_score("", &[""]).score, 0.0);
    }
}
