//! TER (translation edit rate), equal to sacrebleu 2.6.0 (`sacrebleu.metrics.TER`),
//! including its approximations.
//!
//! ```
//! use gavel_metrics::ter::{Ter, TerOptions};
//!
//! let ter = Ter::new(TerOptions::default());
//! let hyps = ["The cat sat on the mat.", "It is raining."];
//! let refs = [vec!["The cat sat on the mat."], vec!["It rains.", "It is raining today."]];
//! let score = ter.corpus_score(&hyps, &refs);
//! assert!((score.score - 22.22222222222222).abs() < 1e-9);
//! assert_eq!(ter.signature(score.nrefs, false), "nrefs:var|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:2.6.0");
//! ```
//!
//! # Definition (sacrebleu's, after Tercom)
//!
//! Texts are lower-cased (unless case-sensitive), optionally normalized (Tercom's
//! tokenization of punctuation, and with `asian_support` CJK characters split) and stripped of
//! punctuation, then split into words. The edits of a hypothesis against one reference are the
//! number of *shifts* (moves of a block of up to 10 words) plus the word-level edit distance
//! (insertions, deletions, substitutions) after them. Shifts are found greedily: repeatedly the
//! shift that lowers the edit distance most (ties: longer block, earlier block, earlier target)
//! among blocks that match the reference elsewhere and are misaligned, until none helps or 1000
//! candidate shifts have been evaluated. The edit distance is computed on a band of ±25 cells
//! around the (length-scaled) diagonal. A segment takes the fewest edits over its references
//! and the mean reference length; TER = `100 · Σ edits / Σ mean reference lengths` (100 when
//! the references are empty and the hypothesis is not, 0 when both are).
//!
//! This module reproduces sacrebleu's search step by step, band and candidate cap included,
//! so its numbers are sacrebleu's even where the search is not optimal.
//!
//! Reference: M. Snover et al., "A Study of Translation Edit Rate with Targeted Human
//! Annotation", AMTA 2006; sacrebleu's `lib_ter.py`.

use std::cell::RefCell;

use crate::ngram::{NumRefs, WordIds, signature};
use crate::python;
use crate::tokenize::{
    join_words, pass_after_period_comma, pass_before_period_comma, pass_digit_dash, pass_punct,
};

/// TER options; `Default` is sacrebleu's `TER()` (Tercom's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TerOptions {
    /// Tercom's normalization: XML entities, tokenized punctuation.
    pub normalized: bool,
    /// Remove punctuation.
    pub no_punct: bool,
    /// With `normalized`, split CJK characters; with `no_punct`, also remove CJK punctuation.
    pub asian_support: bool,
    /// Keep case (by default texts are lower-cased).
    pub case_sensitive: bool,
}

/// Segment or corpus statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TerStats {
    /// Edits (the fewest over a segment's references).
    pub num_edits: u64,
    /// Reference words (the mean over a segment's references).
    pub ref_length: f64,
}

impl TerStats {
    /// Adds another segment's statistics (call in corpus order: lengths are floating-point).
    pub fn add(&mut self, other: &TerStats) {
        self.num_edits += other.num_edits;
        self.ref_length += other.ref_length;
    }
}

/// A TER score on sacrebleu's 0-100 scale (lower is better; may exceed 100).
#[derive(Debug, Clone, PartialEq)]
pub struct TerScore {
    /// TER, 0-100 or more.
    pub score: f64,
    /// The edits.
    pub num_edits: u64,
    /// The reference length.
    pub ref_length: f64,
    /// References per segment, for the signature.
    pub nrefs: NumRefs,
}

/// A TER scorer with fixed options; no mutable state, share it across threads.
#[derive(Debug, Clone)]
pub struct Ter {
    options: TerOptions,
}

#[derive(Default)]
struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    text: String,
    words: WordIds,
    hyp: Vec<u32>,
    refs: Vec<Vec<u32>>,
    distance: BeamEditDistance,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// CJK characters Tercom splits (with `normalized` and `asian_support`).
fn is_asian_split(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x31C0..=0x31EF | 0x2E80..=0x2EFF
        | 0x3300..=0x33FF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0x3200..=0x3F22)
        || is_asian_punct(c)
}

/// Tercom's CJK and full-width punctuation.
fn is_asian_punct(c: char) -> bool {
    matches!(c as u32,
        0x3001 | 0x3002 | 0x3008..=0x3011 | 0x3014..=0x301F | 0xFF61..=0xFF65 | 0x30FB
        | 0xFF0E | 0xFF0C | 0xFF1F | 0xFF1A | 0xFF1B | 0xFF01 | 0xFF02 | 0xFF08 | 0xFF09)
}

impl Ter {
    /// A scorer.
    pub fn new(options: TerOptions) -> Ter {
        Ter { options }
    }

    /// The options in force.
    pub fn options(&self) -> &TerOptions {
        &self.options
    }

    /// The words TER compares for a hypothesis: sacrebleu's `TercomTokenizer` applied to the
    /// text without trailing whitespace. (References go through it twice, as in sacrebleu.)
    pub fn tokens(&self, text: &str) -> Vec<String> {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            self.tokenize(text, s);
            python::split(&s.text).map(str::to_string).collect()
        })
    }

    /// `TercomTokenizer(sent.rstrip())` into `s.text`.
    fn tokenize(&self, text: &str, s: &mut Scratch) {
        let o = self.options;
        s.text.clear();
        let text = python::rstrip(text);
        if text.is_empty() {
            return;
        }
        let mut sent = if o.case_sensitive {
            text.to_string()
        } else {
            python::lower(text).into_owned()
        };
        if o.normalized {
            sent = sent
                .replace("\n-", "")
                .replace('\n', " ")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">");
            s.a.clear();
            s.a.push(b' ');
            s.a.extend_from_slice(sent.as_bytes());
            s.a.push(b' ');
            pass_punct(&s.a, &mut s.b);
            // Possessives: "'s " -> " 's " (the `'s$` rule cannot match: the text ends in a
            // space here).
            let possessive = replace_bytes(&s.b, b"'s ", b" 's ");
            pass_before_period_comma(&possessive, &mut s.a);
            pass_after_period_comma(&s.a, &mut s.b);
            pass_digit_dash(&s.b, &mut s.a);
            sent = String::from_utf8(std::mem::take(&mut s.a)).unwrap_or_default();
            if o.asian_support {
                // Each character class becomes " c "; the hiragana/katakana rules of
                // sacrebleu's `_normalize_asian` are anchored at the start of the text, which
                // is a space here, so they never match.
                let mut spaced = String::with_capacity(sent.len() + 16);
                for c in sent.chars() {
                    if is_asian_split(c) {
                        spaced.push(' ');
                        spaced.push(c);
                        spaced.push(' ');
                    } else {
                        spaced.push(c);
                    }
                }
                sent = spaced;
            }
        }
        if o.no_punct {
            sent.retain(|c| {
                let punct = matches!(c, '.' | ',' | '?' | ':' | ';' | '!' | '"' | '(' | ')');
                !(punct || (o.asian_support && is_asian_punct(c)))
            });
        }
        join_words(&sent, &mut s.text);
    }

    /// The statistics of one segment: the fewest edits over the references, and their mean
    /// length. With no references (sacrebleu would fail) the statistics are those of one empty
    /// reference.
    pub fn segment_stats(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> TerStats {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            s.words.begin();
            self.tokenize(hypothesis, s);
            s.hyp.clear();
            for w in python::split(&s.text) {
                let id = s.words.insert(w);
                s.hyp.push(id);
            }
            if references.is_empty() {
                return TerStats {
                    num_edits: s.hyp.len() as u64,
                    ref_length: 0.0,
                };
            }
            let mut refs = std::mem::take(&mut s.refs);
            refs.resize_with(references.len(), Vec::new);
            for (r, reference) in references.iter().enumerate() {
                // sacrebleu preprocesses references twice (once when caching them, again when
                // extracting their words); with `normalized` the second pass can split more.
                self.tokenize(reference.as_ref(), s);
                let once = std::mem::take(&mut s.text);
                self.tokenize(&once, s);
                refs[r].clear();
                for w in python::split(&s.text) {
                    let id = s.words.insert(w);
                    refs[r].push(id);
                }
            }
            let mut best = u64::MAX;
            let mut lengths = 0usize;
            for words_ref in &refs[..references.len()] {
                let (edits, len) = translation_edit_rate(&s.hyp, words_ref, &mut s.distance);
                lengths += len;
                best = best.min(edits);
            }
            s.refs = refs;
            TerStats {
                num_edits: best,
                ref_length: lengths as f64 / references.len() as f64,
            }
        })
    }

    /// TER from (summed) statistics.
    pub fn score_stats(&self, stats: &TerStats, nrefs: NumRefs) -> TerScore {
        let rate = if stats.ref_length > 0.0 {
            stats.num_edits as f64 / stats.ref_length
        } else if stats.num_edits > 0 {
            1.0
        } else {
            0.0
        };
        TerScore {
            score: 100.0 * rate,
            num_edits: stats.num_edits,
            ref_length: stats.ref_length,
            nrefs,
        }
    }

    /// Sentence TER (sacrebleu's `sentence_score`).
    pub fn sentence_score(&self, hypothesis: &str, references: &[impl AsRef<str>]) -> TerScore {
        let stats = self.segment_stats(hypothesis, references);
        self.score_stats(&stats, NumRefs::Fixed(references.len()))
    }

    /// Corpus TER: each hypothesis with its own references (their number may vary).
    pub fn corpus_score<R: AsRef<str>>(
        &self,
        hypotheses: &[impl AsRef<str>],
        references: &[impl AsRef<[R]>],
    ) -> TerScore {
        let mut sum = TerStats::default();
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

    /// sacrebleu's signature, e.g.
    /// `nrefs:1|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:2.6.0`.
    pub fn signature(&self, nrefs: NumRefs, short: bool) -> String {
        let o = &self.options;
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        signature(
            nrefs,
            &[
                (
                    "case",
                    "c",
                    if o.case_sensitive { "mixed" } else { "lc" }.to_string(),
                ),
                ("tok", "t", "tercom".to_string()),
                ("norm", "nr", yes_no(o.normalized)),
                ("punct", "pn", yes_no(!o.no_punct)),
                ("asian", "as", yes_no(o.asian_support)),
            ],
            short,
        )
    }
}

/// Replaces every non-overlapping `from` (left to right) with `to`.
fn replace_bytes(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// sacrebleu's lib_ter.py

const MAX_SHIFT_SIZE: usize = 10;
const MAX_SHIFT_DIST: usize = 50;
const BEAM_WIDTH: i64 = 25;
const MAX_SHIFT_CANDIDATES: usize = 1000;
const INFINITY: i64 = 10_000_000_000_000_000;

const OP_INS: u8 = b'i';
const OP_DEL: u8 = b'd';
const OP_NOP: u8 = b' ';
const OP_SUB: u8 = b's';
const OP_UNDEF: u8 = b'x';

/// Edits of `hyp` against `reference` and the reference length: sacrebleu's
/// `translation_edit_rate`.
fn translation_edit_rate(
    hyp: &[u32],
    reference: &[u32],
    distance: &mut BeamEditDistance,
) -> (u64, usize) {
    if reference.is_empty() {
        return (hyp.len() as u64, 0);
    }
    distance.start(reference, hyp.len());
    let mut shifts = 0u64;
    let mut input = hyp.to_vec();
    let mut checked = 0usize;
    loop {
        let (delta, shifted) = shift(&input, reference, distance, &mut checked);
        if checked >= MAX_SHIFT_CANDIDATES || delta <= 0 {
            break;
        }
        shifts += 1;
        input = shifted;
    }
    let (edit_distance, _) = distance.distance(&input, false);
    (shifts + edit_distance as u64, reference.len())
}

/// How sacrebleu ranks shift candidates (Tercom's order): (gain, length, -start_h, -target),
/// the largest first.
type ShiftKey = (i64, usize, i64, i64);

/// The best shift of `words_h` (sacrebleu's `_shift`): the gain in edit distance and the
/// shifted words, or 0 and the words unchanged.
fn shift(
    words_h: &[u32],
    words_r: &[u32],
    distance: &mut BeamEditDistance,
    checked: &mut usize,
) -> (i64, Vec<u32>) {
    let (pre_score, trace) = distance.distance(words_h, true);
    let (align, ref_err, hyp_err) = trace_to_alignment(&trace);
    let (nh, nr) = (words_h.len(), words_r.len());
    // The best candidate so far and its shifted words.
    let mut best: Option<(ShiftKey, Vec<u32>)> = None;
    let mut shifted = Vec::with_capacity(nh);

    'pairs: for start_h in 0..nh {
        for start_r in 0..nr {
            if start_r.abs_diff(start_h) > MAX_SHIFT_DIST {
                continue;
            }
            let mut length = 0;
            while words_h[start_h + length] == words_r[start_r + length] && length < MAX_SHIFT_SIZE
            {
                length += 1;
                // One candidate block (start_h, start_r, length).
                let hyp_wrong = hyp_err[start_h..(start_h + length).min(hyp_err.len())]
                    .iter()
                    .any(|&e| e != 0);
                let ref_wrong = ref_err[start_r..(start_r + length).min(ref_err.len())]
                    .iter()
                    .any(|&e| e != 0);
                let aligned = align.get(start_r).copied().unwrap_or(-1);
                let inside = start_h as i64 <= aligned && aligned < (start_h + length) as i64;
                if hyp_wrong && ref_wrong && !inside {
                    let mut prev_idx = -1i64;
                    for offset in -1..length as i64 {
                        let pos = start_r as i64 + offset;
                        let idx = if pos == -1 {
                            0
                        } else if (pos as usize) < nr {
                            align[pos as usize] + 1
                        } else {
                            break;
                        };
                        if idx == prev_idx {
                            continue;
                        }
                        prev_idx = idx;
                        perform_shift(words_h, start_h, length, idx as usize, &mut shifted);
                        let (after, _) = distance.distance(&shifted, false);
                        let key = (pre_score - after, length, -(start_h as i64), -idx);
                        *checked += 1;
                        if best.as_ref().is_none_or(|(b, _)| key > *b) {
                            best = Some((key, shifted.clone()));
                        }
                    }
                    if *checked >= MAX_SHIFT_CANDIDATES {
                        break 'pairs;
                    }
                }
                if nh == start_h + length || nr == start_r + length {
                    break;
                }
            }
        }
    }
    match best {
        None => (0, words_h.to_vec()),
        Some(((gain, ..), words)) => (gain, words),
    }
}

/// Python's `words[a:b]` for non-negative bounds.
fn py_slice(words: &[u32], a: usize, b: usize) -> &[u32] {
    let (a, b) = (a.min(words.len()), b.min(words.len()));
    if a >= b { &[] } else { &words[a..b] }
}

/// sacrebleu's `_perform_shift`: moves `words[start..start + length]` to `target`.
fn perform_shift(words: &[u32], start: usize, length: usize, target: usize, out: &mut Vec<u32>) {
    out.clear();
    let parts: [(usize, usize); 4] = if target < start {
        [
            (0, target),
            (start, start + length),
            (target, start),
            (start + length, usize::MAX),
        ]
    } else if target > start + length {
        [
            (0, start),
            (start + length, target),
            (start, start + length),
            (target, usize::MAX),
        ]
    } else {
        [
            (0, start),
            (start + length, length + target),
            (start, start + length),
            (length + target, usize::MAX),
        ]
    };
    for (a, b) in parts {
        out.extend_from_slice(py_slice(words, a, b));
    }
}

/// sacrebleu's `trace_to_alignment` of the flipped trace (reference rewritten into the
/// hypothesis): for each reference position its hypothesis position, and error flags.
fn trace_to_alignment(trace: &[u8]) -> (Vec<i64>, Vec<u8>, Vec<u8>) {
    let (mut pos_hyp, mut pos_ref) = (-1i64, -1i64);
    let (mut hyp_err, mut ref_err, mut align) = (Vec::new(), Vec::new(), Vec::new());
    let set = |align: &mut Vec<i64>, pos_ref: i64, pos_hyp: i64| {
        let p = pos_ref as usize;
        if align.len() <= p {
            align.resize(p + 1, -1);
        }
        align[p] = pos_hyp;
    };
    for &op in trace {
        // The trace is flipped: insertions and deletions exchange roles.
        match op {
            OP_NOP | OP_SUB => {
                pos_hyp += 1;
                pos_ref += 1;
                set(&mut align, pos_ref, pos_hyp);
                let e = u8::from(op == OP_SUB);
                hyp_err.push(e);
                ref_err.push(e);
            }
            // A deletion in the hypothesis-to-reference trace: an insertion once flipped.
            OP_DEL => {
                pos_hyp += 1;
                hyp_err.push(1);
            }
            OP_INS => {
                pos_ref += 1;
                set(&mut align, pos_ref, pos_hyp);
                ref_err.push(1);
            }
            _ => {}
        }
    }
    (align, ref_err, hyp_err)
}

/// sacrebleu's `BeamEditDistance`: a banded Levenshtein distance against a fixed reference,
/// with the trace of operations. Rows of the previous call are reused for a common prefix of
/// the hypothesis (sacrebleu caches rows by prefix too; the rows are the same either way,
/// since every hypothesis of one search has the same length).
#[derive(Debug, Default)]
struct BeamEditDistance {
    reference: Vec<u32>,
    n_hyp: usize,
    /// Row-major (n_hyp + 1) × (n_ref + 1) cells of (cost, operation).
    cost: Vec<i64>,
    op: Vec<u8>,
    /// The hypothesis of the previous call, and whether its rows are valid.
    previous: Vec<u32>,
    valid: bool,
}

impl BeamEditDistance {
    fn start(&mut self, reference: &[u32], n_hyp: usize) {
        self.reference.clear();
        self.reference.extend_from_slice(reference);
        self.n_hyp = n_hyp;
        let cells = (n_hyp + 1) * (reference.len() + 1);
        self.cost.clear();
        self.cost.resize(cells, INFINITY);
        self.op.clear();
        self.op.resize(cells, OP_UNDEF);
        for j in 0..=reference.len() {
            self.cost[j] = j as i64;
            self.op[j] = OP_INS;
        }
        self.previous.clear();
        self.valid = false;
    }

    /// The edit distance of `words_h` (of the length given to `start`) and, if asked, the
    /// trace of operations from the hypothesis to the reference.
    fn distance(&mut self, words_h: &[u32], want_trace: bool) -> (i64, Vec<u8>) {
        let n = words_h.len();
        debug_assert_eq!(n, self.n_hyp);
        let m = self.reference.len();
        let width = m + 1;
        let reuse = if self.valid {
            self.previous
                .iter()
                .zip(words_h)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            0
        };
        let length_ratio = if n > 0 { m as f64 / n as f64 } else { 1.0 };
        let beam_width = if (BEAM_WIDTH as f64) < length_ratio / 2.0 {
            (length_ratio / 2.0 + BEAM_WIDTH as f64).ceil() as i64
        } else {
            BEAM_WIDTH
        };
        for i in reuse + 1..=n {
            let row = i * width;
            self.cost[row..row + width].fill(INFINITY);
            self.op[row..row + width].fill(OP_UNDEF);
            let pseudo_diag = (i as f64 * length_ratio).floor() as i64;
            let min_j = (pseudo_diag - beam_width).max(0);
            let mut max_j = (m as i64 + 1).min(pseudo_diag + beam_width);
            if i == n {
                max_j = m as i64 + 1;
            }
            let word = words_h[i - 1];
            let above = row - width;
            for j in min_j.max(0) as usize..max_j.max(0) as usize {
                if j == 0 {
                    self.cost[row] = self.cost[above] + 1;
                    self.op[row] = OP_DEL;
                    continue;
                }
                let (sub_cost, sub_op) = if word == self.reference[j - 1] {
                    (0, OP_NOP)
                } else {
                    (1, OP_SUB)
                };
                // Tercom's preference: no-op/substitution, then deletion, then insertion
                // (sacrebleu's order, which accounts for the flipped trace).
                let options = [
                    (self.cost[above + j - 1] + sub_cost, sub_op),
                    (self.cost[above + j] + 1, OP_DEL),
                    (self.cost[row + j - 1] + 1, OP_INS),
                ];
                for (c, o) in options {
                    if self.cost[row + j] > c {
                        self.cost[row + j] = c;
                        self.op[row + j] = o;
                    }
                }
            }
        }
        self.previous.clear();
        self.previous.extend_from_slice(words_h);
        self.valid = true;
        let total = self.cost[n * width + m];
        if !want_trace {
            return (total, Vec::new());
        }
        let mut trace = Vec::with_capacity(n + m);
        let (mut i, mut j) = (n, m);
        while i > 0 || j > 0 {
            let op = self.op[i * width + j];
            match op {
                OP_SUB | OP_NOP => {
                    i -= 1;
                    j -= 1;
                }
                OP_INS => j -= 1,
                OP_DEL => i -= 1,
                // Outside the band (sacrebleu would raise here; it does not happen when the
                // band overlaps from row to row, which its widening ensures).
                _ => break,
            }
            trace.push(op);
        }
        trace.reverse();
        (total, trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_counts_one_edit() {
        let ter = Ter::new(TerOptions::default());
        // One block move.
        let s = ter.sentence_score("d e f a b c", &["a b c d e f"]);
        assert_eq!(s.num_edits, 1);
        let s = ter.sentence_score("", &["a b"]);
        assert_eq!((s.num_edits, s.score), (2, 100.0));
        let s = ter.sentence_score("a", &[""]);
        assert_eq!((s.num_edits, s.score), (1, 100.0));
        assert_eq!(ter.sentence_score("", &[""]).score, 0.0);
    }

    #[test]
    fn tercom_tokenizer() {
        let norm = Ter::new(TerOptions {
            normalized: true,
            ..TerOptions::default()
        });
        assert_eq!(
            norm.tokens("John's dog, 3.5 &amp; 1-2."),
            ["john", "'s", "dog", ",", "3.5", "&", "1", "-", "2", "."]
        );
        let punct = Ter::new(TerOptions {
            no_punct: true,
            case_sensitive: true,
            ..TerOptions::default()
        });
        assert_eq!(punct.tokens("Hi, (you)!"), ["Hi", "you"]);
    }

    #[test]
    fn perform_shift_cases() {
        let w = [0, 1, 2, 3, 4, 5];
        let mut out = Vec::new();
        perform_shift(&w, 3, 2, 1, &mut out);
        assert_eq!(out, [0, 3, 4, 1, 2, 5]);
        perform_shift(&w, 0, 2, 4, &mut out);
        assert_eq!(out, [2, 3, 0, 1, 4, 5]);
        perform_shift(&w, 1, 2, 2, &mut out);
        assert_eq!(out, [0, 3, 1, 2, 4, 5]);
    }
}
