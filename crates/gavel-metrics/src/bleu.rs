//! BLEU, corpus and sentence level, equal to sacrebleu 2.6.0 (`sacrebleu.metrics.BLEU`).
//!
//! ```
//! use gavel_metrics::bleu::{Bleu, BleuOptions};
//!
//! let bleu = Bleu::new(BleuOptions::default()).unwrap();
//! let hyps = ["The cat sat on the mat.", "It is raining."];
//! let refs = [vec!["The cat sat on the mat."], vec!["It rains.", "It is raining today."]];
//! let score = bleu.corpus_score(&hyps, &refs);
//! assert!((score.score - 88.35836453663153).abs() < 1e-9);
//! assert_eq!((score.sys_len, score.ref_len), (11, 10));
//! assert_eq!(bleu.signature(score.nrefs, false), "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
//! ```
//!
//! # Definition (sacrebleu's)
//!
//! Each text is lower-cased if asked (Python's `str.lower()`), stripped of trailing whitespace
//! and tokenized ([`Tokenizer`]); words are the whitespace-separated parts. Per segment: the
//! hypothesis length, the reference length closest to it (the shorter one on ties), and for
//! each order n = 1..N the number of hypothesis n-grams and of those matched, each n-gram
//! counting at most as often as it appears in the one reference that has it most often. A
//! corpus adds these up. Then with `p_n = 100 · matched_n / total_n`, BLEU = `BP · exp(Σ log p_n
//! / N)`, `BP = exp(1 − ref_len / sys_len)` when the hypothesis is shorter, else 1; 0 when
//! nothing matches at all. Smoothing (Chen and Cherry 2014) fills in zero `matched_n`:
//!
//! - `exp` (default, mteval's): the k-th zero precision becomes `100 / (2^k · total_n)`;
//! - `floor`: `100 · value / total_n` (value 0.1 by default);
//! - `add-k`: `value` (default 1) is added to matched and total for n ≥ 2;
//! - `none`: a zero precision makes the score 0.
//!
//! An order with no hypothesis n-grams stops the computation; with *effective order* (for
//! sentence BLEU), N becomes the last order that had any, otherwise the score is 0.
//! sacrebleu takes `log 0` as `-9999999999`; so does this module.
//!
//! Reference: K. Papineni et al., "BLEU: a Method for Automatic Evaluation of Machine
//! Translation", ACL 2002; M. Post, "A Call for Clarity in Reporting BLEU Scores", WMT 2018.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use crate::ngram::{NumRefs, ROOT, SegmentWords, Trie, UNKNOWN, signature};
use crate::python;
use crate::tokenize::{Buffers, Tokenizer};

/// A BLEU smoothing method, named as in sacrebleu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Smoothing {
    /// `none`: no smoothing.
    None,
    /// `floor`: zero counts become a small value.
    Floor,
    /// `add-k`: add a value to matched and total counts of orders 2 and up.
    AddK,
    /// `exp`: mteval's exponential decay (the default).
    #[default]
    Exp,
}

impl Smoothing {
    /// The name (`none`, `floor`, `add-k`, `exp`).
    pub fn name(self) -> &'static str {
        match self {
            Smoothing::None => "none",
            Smoothing::Floor => "floor",
            Smoothing::AddK => "add-k",
            Smoothing::Exp => "exp",
        }
    }

    /// The value used when none is given: 0.1 for `floor`, 1 for `add-k`.
    pub fn default_value(self) -> Option<f64> {
        match self {
            Smoothing::Floor => Some(0.1),
            Smoothing::AddK => Some(1.0),
            Smoothing::None | Smoothing::Exp => None,
        }
    }
}

impl fmt::Display for Smoothing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a smoothing method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown smoothing method `{0}` (expected exp, floor, add-k or none)")]
pub struct ParseSmoothingError(pub String);

impl FromStr for Smoothing {
    type Err = ParseSmoothingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Smoothing::None,
            Smoothing::Floor,
            Smoothing::AddK,
            Smoothing::Exp,
        ]
        .into_iter()
        .find(|m| m.name() == s)
        .ok_or_else(|| ParseSmoothingError(s.to_string()))
    }
}

/// BLEU options; `Default` is sacrebleu's `BLEU()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BleuOptions {
    /// Lower-case hypotheses and references first.
    pub lowercase: bool,
    /// The tokenizer (13a by default).
    pub tokenizer: Tokenizer,
    /// The smoothing method (exp by default).
    pub smoothing: Smoothing,
    /// The value for `floor` and `add-k`; `None` means the method's default.
    pub smooth_value: Option<f64>,
    /// The largest n-gram order (4).
    pub max_ngram_order: usize,
    /// Use the orders that have any hypothesis n-gram only (for sentence BLEU).
    pub effective_order: bool,
}

impl Default for BleuOptions {
    fn default() -> Self {
        BleuOptions {
            lowercase: false,
            tokenizer: Tokenizer::Tok13a,
            smoothing: Smoothing::Exp,
            smooth_value: None,
            max_ngram_order: 4,
            effective_order: false,
        }
    }
}

/// Options that make no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BleuError {
    /// `max_ngram_order` is 0.
    #[error("the maximum n-gram order must be at least 1")]
    ZeroOrder,
    /// A smoothing value that is negative or not finite.
    #[error("the smoothing value must be a finite number of at least 0, not {0}")]
    BadSmoothValue(f64),
}

/// The sufficient statistics of one segment, or of a corpus (their sum).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BleuStats {
    /// Hypothesis words.
    pub sys_len: u64,
    /// Reference words (the closest reference per segment).
    pub ref_len: u64,
    /// Matched n-grams per order (clipped by the references).
    pub correct: Vec<u64>,
    /// Hypothesis n-grams per order.
    pub total: Vec<u64>,
}

impl BleuStats {
    /// Adds another segment's (or corpus part's) statistics.
    pub fn add(&mut self, other: &BleuStats) {
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
        if self.correct.len() < other.correct.len() {
            self.correct.resize(other.correct.len(), 0);
            self.total.resize(other.total.len(), 0);
        }
        for (a, b) in self.correct.iter_mut().zip(&other.correct) {
            *a += b;
        }
        for (a, b) in self.total.iter_mut().zip(&other.total) {
            *a += b;
        }
    }
}

/// A BLEU score on sacrebleu's 0-100 scale, with its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// BLEU, 0-100.
    pub score: f64,
    /// Matched n-grams per order (before any add-k smoothing).
    pub counts: Vec<u64>,
    /// Hypothesis n-grams per order (before any add-k smoothing).
    pub totals: Vec<u64>,
    /// The (smoothed) precisions per order, 0-100.
    pub precisions: Vec<f64>,
    /// The brevity penalty.
    pub bp: f64,
    /// Hypothesis length over reference length (0 when the reference length is 0).
    pub ratio: f64,
    /// Hypothesis words.
    pub sys_len: u64,
    /// Reference words.
    pub ref_len: u64,
    /// References per segment, for the signature.
    pub nrefs: NumRefs,
}

/// sacrebleu's `my_log`: the natural log, with `log 0 = -9999999999`.
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// A BLEU scorer with fixed options. It holds no mutable state: share it across threads.
#[derive(Debug, Clone)]
pub struct Bleu {
    options: BleuOptions,
}

#[derive(Default)]
struct Scratch {
    buffers: Buffers,
    lowered: String,
    text: String,
    words: SegmentWords,
    hyp: Vec<u32>,
    reference: Vec<u32>,
    trie: Trie,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Bleu {
    /// A scorer; refuses a zero order and a negative or non-finite smoothing value.
    pub fn new(options: BleuOptions) -> Result<Bleu, BleuError> {
        if options.max_ngram_order == 0 {
            return Err(BleuError::ZeroOrder);
        }
        if let Some(v) = options.smooth_value
            && (!v.is_finite() || v < 0.0)
        {
            return Err(BleuError::BadSmoothValue(v));
        }
        Ok(Bleu { options })
    }

    /// The options in force.
    pub fn options(&self) -> &BleuOptions {
        &self.options
    }

    /// The tokens BLEU compares for one text (lower-cased if asked, trailing whitespace
    /// stripped, tokenized, split): sacrebleu's `_preprocess_segment(text).split()`.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let text = self.preprocess(text, &mut s.lowered, &mut s.buffers, &mut s.text);
            python::split(text).map(str::to_string).collect()
        })
    }

    /// The text, lower-cased if asked (into `lowered`).
    fn lower<'b>(&self, text: &'b str, lowered: &'b mut String) -> &'b str {
        if self.options.lowercase {
            lowered.clear();
            lowered.push_str(&python::lower(text));
            lowered.as_str()
        } else {
            text
        }
    }

    /// Lower-cases if asked, strips trailing whitespace and tokenizes: a text whose
    /// whitespace-separated parts are the tokens.
    fn preprocess<'b>(
        &self,
        text: &'b str,
        lowered: &'b mut String,
        buffers: &'b mut Buffers,
        out: &'b mut String,
    ) -> &'b str {
        let text: &'b str = if self.options.lowercase {
            lowered.clear();
            lowered.push_str(&python::lower(text));
            lowered.as_str()
        } else {
            text
        };
        self.options
            .tokenizer
            .tokenize_for_split(python::rstrip(text), buffers, out)
    }

    /// The statistics of one segment against its references (sacrebleu's segment statistics).
    /// With no references at all (sacrebleu would fail), the reference length is 0 and nothing
    /// matches.
    pub fn segment_stats(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> BleuStats {
        let order = self.options.max_ngram_order;
        let mut correct = vec![0u64; order];
        let mut total = vec![0u64; order];
        let (sys_len, ref_len) = SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let tokenizer = self.options.tokenizer;
            let text = self.lower(hypothesis, &mut s.lowered);
            // Tokens never outnumber the bytes of the text.
            s.words.begin(text.len());
            s.hyp.clear();
            let (words, hyp) = (&mut s.words, &mut s.hyp);
            tokenizer.for_each_token(python::rstrip(text), &mut s.buffers, &mut s.text, |w| {
                hyp.push(words.insert(w));
            });
            let hyp_len = s.hyp.len();
            for (n, t) in total.iter_mut().enumerate() {
                *t = hyp_len.saturating_sub(n) as u64;
            }
            s.trie.begin(hyp_len * order);
            s.trie.insert_all(&s.hyp, order);

            let mut closest: Option<usize> = None;
            for (r, reference) in references.iter().enumerate() {
                let text = self.lower(reference.as_ref(), &mut s.lowered);
                s.reference.clear();
                let (words, out) = (&s.words, &mut s.reference);
                tokenizer.for_each_token(python::rstrip(text), &mut s.buffers, &mut s.text, |w| {
                    out.push(words.get(w));
                });
                let len = s.reference.len();
                closest = Some(match closest {
                    None => len,
                    Some(c) => {
                        let (dc, dl) = (c.abs_diff(hyp_len), len.abs_diff(hyp_len));
                        if dl < dc || (dl == dc && len < c) {
                            len
                        } else {
                            c
                        }
                    }
                });
                let stamp = r as u32 + 1;
                let words = &s.reference;
                for start in 0..words.len() {
                    let mut node = ROOT;
                    for (n, &w) in words[start..(start + order).min(words.len())]
                        .iter()
                        .enumerate()
                    {
                        if w == UNKNOWN {
                            break;
                        }
                        let Some(child) = s.trie.child(node, w) else {
                            break;
                        };
                        node = child;
                        let e = &mut s.trie.nodes[node as usize];
                        if e.stamp != stamp {
                            e.stamp = stamp;
                            e.cur = 0;
                        }
                        e.cur += 1;
                        if e.cur <= e.hyp && e.cur > e.best {
                            e.best = e.cur;
                            correct[n] += 1;
                        }
                    }
                }
            }
            (hyp_len as u64, closest.unwrap_or(0) as u64)
        });
        BleuStats {
            sys_len,
            ref_len,
            correct,
            total,
        }
    }

    /// BLEU from (summed) statistics: sacrebleu's `compute_bleu`.
    pub fn score_stats(&self, stats: &BleuStats, nrefs: NumRefs) -> BleuScore {
        let order = self.options.max_ngram_order;
        let get = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
        let (sys_len, ref_len) = (stats.sys_len, stats.ref_len);
        let mut bp = 1.0;
        if sys_len < ref_len {
            bp = if sys_len > 0 {
                (1.0 - ref_len as f64 / sys_len as f64).exp()
            } else {
                0.0
            };
        }
        let counts: Vec<u64> = (0..order).map(|i| get(&stats.correct, i)).collect();
        let totals: Vec<u64> = (0..order).map(|i| get(&stats.total, i)).collect();
        let ratio = if ref_len > 0 {
            sys_len as f64 / ref_len as f64
        } else {
            0.0
        };
        let mut precisions = vec![0.0; order];
        let mut result = BleuScore {
            score: 0.0,
            counts: counts.clone(),
            totals: totals.clone(),
            precisions: Vec::new(),
            bp,
            ratio,
            sys_len,
            ref_len,
            nrefs,
        };
        if counts.iter().all(|&c| c == 0) {
            result.precisions = precisions;
            return result;
        }
        let method = self.options.smoothing;
        let value = self
            .options
            .smooth_value
            .or(method.default_value())
            .unwrap_or(0.0);
        let mut smooth_mteval = 1.0f64;
        let mut eff_order = order;
        for n in 1..=order {
            let (mut correct, mut total) = (counts[n - 1] as f64, totals[n - 1] as f64);
            if method == Smoothing::AddK && n > 1 {
                correct += value;
                total += value;
            }
            if total == 0.0 {
                break;
            }
            if self.options.effective_order {
                eff_order = n;
            }
            if correct == 0.0 {
                match method {
                    Smoothing::Exp => {
                        smooth_mteval *= 2.0;
                        precisions[n - 1] = 100.0 / (smooth_mteval * total);
                    }
                    Smoothing::Floor => precisions[n - 1] = 100.0 * value / total,
                    Smoothing::None | Smoothing::AddK => {}
                }
            } else {
                precisions[n - 1] = 100.0 * correct / total;
            }
        }
        let sum = precisions[..eff_order]
            .iter()
            .fold(0.0, |acc, &p| acc + my_log(p));
        result.score = bp * (sum / eff_order as f64).exp();
        result.precisions = precisions;
        result
    }

    /// Sentence BLEU of one hypothesis against its references (sacrebleu's
    /// `sentence_score`; use `effective_order: true` for sentence BLEU as sacrebleu advises).
    pub fn sentence_score(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> BleuScore {
        let stats = self.segment_stats(hypothesis, references);
        self.score_stats(&stats, NumRefs::Fixed(references.len()))
    }

    /// Corpus BLEU: each hypothesis with its own references (their number may vary).
    pub fn corpus_score<R: AsRef<str>>(
        &self,
        hypotheses: &[impl AsRef<str>],
        references: &[impl AsRef<[R]>],
    ) -> BleuScore {
        let mut sum = BleuStats::default();
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

    /// sacrebleu's signature for these options, e.g.
    /// `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0` (`short`: `#:1|c:mixed|…`).
    pub fn signature(&self, nrefs: NumRefs, short: bool) -> String {
        let o = &self.options;
        let mut smooth = o.smoothing.name().to_string();
        if let Some(default) = o.smoothing.default_value() {
            smooth.push_str(&format!("[{:.2}]", o.smooth_value.unwrap_or(default)));
        }
        signature(
            nrefs,
            &[
                (
                    "case",
                    "c",
                    if o.lowercase { "lc" } else { "mixed" }.to_string(),
                ),
                (
                    "eff",
                    "e",
                    if o.effective_order { "yes" } else { "no" }.to_string(),
                ),
                ("tok", "tok", o.tokenizer.name().to_string()),
                ("smooth", "s", smooth),
            ],
            short,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_100() {
        let b = Bleu::new(BleuOptions::default()).unwrap();
        let s = b.sentence_score("the cat sat on the mat", &["the cat sat on the mat"]);
        assert!((s.score - 100.0).abs() < 1e-12);
        assert_eq!(s.counts, vec![6, 5, 4, 3]);
    }

    #[test]
    fn clipping_uses_the_best_reference_per_ngram() {
        let b = Bleu::new(BleuOptions::default()).unwrap();
        let st = b.segment_stats("the the the", &["the cat", "the the dog"]);
        assert_eq!(st.correct[0], 2);
        assert_eq!(st.correct[1], 1);
        assert_eq!((st.sys_len, st.ref_len), (3, 3));
    }

    #[test]
    fn closest_reference_prefers_shorter_on_ties() {
        let b = Bleu::new(BleuOptions::default()).unwrap();
        let st = b.segment_stats("a b c", &["a b c d", "a b"]);
        assert_eq!(st.ref_len, 2);
    }

    #[test]
    fn no_match_and_no_refs() {
        let b = Bleu::new(BleuOptions::default()).unwrap();
        assert_eq!(b.sentence_score("x", &["y"]).score, 0.0);
        let none: [&str; 0] = [];
        assert_eq!(b.sentence_score("x", &none).score, 0.0);
        assert_eq!(b.sentence_score("", &[""]).ratio, 0.0);
    }

    #[test]
    fn bad_options() {
        let o = BleuOptions {
            max_ngram_order: 0,
            ..BleuOptions::default()
        };
        assert!(Bleu::new(o).is_err());
        let o = BleuOptions {
            smooth_value: Some(f64::NAN),
            ..BleuOptions::default()
        };
        assert!(Bleu::new(o).is_err());
    }
}
