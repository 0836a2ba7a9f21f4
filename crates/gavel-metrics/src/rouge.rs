//! ROUGE-N, ROUGE-L and ROUGE-Lsum, equal to Google's rouge-score 0.1.2 (`rouge_score.
//! rouge_scorer.RougeScorer`), with or without its Porter stemmer.
//!
//! ```
//! use gavel_metrics::rouge::{RougeOptions, RougeScorer, RougeType};
//!
//! let options = RougeOptions { use_stemmer: true, ..RougeOptions::default() };
//! let scorer = RougeScorer::new(&[RougeType::Rouge1, RougeType::RougeL], options);
//! let scores = scorer.score(
//!     "The quick brown fox jumps over the lazy dog",
//!     "The quick brown dog jumps on the log.",
//! );
//! // Tokens: "the quick brown fox jump over the lazi dog" and "the quick brown dog jump on the
//! // log". rouge1: 6 shared unigrams of 8 and 9; rougeL: LCS "the quick brown jump the".
//! assert_eq!((scores[0].precision, scores[0].recall), (6.0 / 8.0, 6.0 / 9.0));
//! assert_eq!((scores[1].precision, scores[1].recall), (5.0 / 8.0, 5.0 / 9.0));
//! ```
//!
//! # Definitions (rouge-score's)
//!
//! Texts are tokenized (see [`RougeTokenizer`]); with the stemmer, tokens longer than three
//! characters are replaced by their NLTK Porter stem ([`crate::porter`]).
//!
//! - ROUGE-N: with `overlap` = the number of n-grams the two texts share, counted with
//!   clipping (the sum over distinct n-grams of the smaller count), precision = `overlap /
//!   max(n-grams in prediction, 1)` and recall = `overlap / max(n-grams in target, 1)`.
//! - ROUGE-L: precision = `LCS / prediction tokens`, recall = `LCS / target tokens`, with LCS the
//!   length of a longest common subsequence of the token sequences; 0 when either text has no
//!   tokens.
//! - ROUGE-Lsum (summary-level LCS, Lin 2004 §3.2, as ROUGE-1.5.5 implements it): both texts
//!   are split into sentences at `\n` (empty lines dropped). For each target sentence, the union
//!   of its LCS positions with every prediction sentence (one particular LCS per pair: the one
//!   rouge-score's backtracking reads out) gives tokens, each counted as a hit only while both
//!   texts still have an unused occurrence of it. Precision = `hits / prediction tokens`,
//!   recall = `hits / target tokens`.
//! - F-measure = `2 p r / (p + r)`, or 0 when `p + r = 0`. Where rouge-score would divide by
//!   zero it returns 0, and so does this module.
//!
//! [`RougeScorer::score_multi`] scores each target and keeps, per ROUGE type, the score of the
//! target with the highest F-measure (the first one on ties), as rouge-score's `score_multi`.
//!
//! Reference: C.-Y. Lin, "ROUGE: A Package for Automatic Evaluation of Summaries", Text
//! Summarization Branches Out, 2004; the rouge-score package (Google Research), 0.1.2.
//!
//! # Speed
//!
//! Tokens become integer ids through a per-thread table that also remembers each word's stem,
//! so a word is stemmed once per thread, not once per occurrence; LCS lengths use a
//! bit-parallel algorithm (64 table cells per machine word). A scorer holds no mutable state:
//! share one across threads (it is `Send + Sync`).

mod intern;
mod lcs;
mod tokenize;

use std::cell::RefCell;
use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use intern::Interner;
use lcs::LcsScratch;

/// A ROUGE variant, named as in rouge-score (`rouge1`, `rouge2`, …, `rougeL`, `rougeLsum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RougeType {
    /// Unigram overlap (`rouge1`).
    Rouge1,
    /// Bigram overlap (`rouge2`).
    Rouge2,
    /// N-gram overlap for any n (`rouge3` … `rouge9` by name; `RougeN(1)` is the same metric
    /// as `Rouge1`).
    RougeN(NonZeroUsize),
    /// Longest common subsequence over the whole text (`rougeL`).
    RougeL,
    /// Summary-level LCS over newline-separated sentences (`rougeLsum`).
    RougeLsum,
}

impl RougeType {
    /// The rouge-score name: `rouge1`, `rouge2`, `rougeN` for other n, `rougeL`, `rougeLsum`.
    pub fn name(&self) -> String {
        match self {
            RougeType::Rouge1 => "rouge1".into(),
            RougeType::Rouge2 => "rouge2".into(),
            RougeType::RougeN(n) => format!("rouge{n}"),
            RougeType::RougeL => "rougeL".into(),
            RougeType::RougeLsum => "rougeLsum".into(),
        }
    }

    /// The n of an n-gram type, `None` for the LCS types.
    pub fn ngram_order(&self) -> Option<usize> {
        match self {
            RougeType::Rouge1 => Some(1),
            RougeType::Rouge2 => Some(2),
            RougeType::RougeN(n) => Some(n.get()),
            RougeType::RougeL | RougeType::RougeLsum => None,
        }
    }
}

impl fmt::Display for RougeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is not a ROUGE type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ROUGE type `{0}` (expected rouge1 … rouge9, rougeL or rougeLsum)")]
pub struct ParseRougeTypeError(pub String);

impl FromStr for RougeType {
    type Err = ParseRougeTypeError;

    /// Accepts rouge-score's names: `rouge1` … `rouge9` (one digit, as rouge-score's
    /// `rouge[0-9]$`, without `rouge0`), `rougeL` and `rougeLsum`; case-sensitive like it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRougeTypeError(s.to_string());
        match s {
            "rouge1" => Ok(RougeType::Rouge1),
            "rouge2" => Ok(RougeType::Rouge2),
            "rougeL" => Ok(RougeType::RougeL),
            "rougeLsum" => Ok(RougeType::RougeLsum),
            _ => {
                let digits = s.strip_prefix("rouge").ok_or_else(err)?;
                if digits.len() != 1 {
                    return Err(err());
                }
                let n: usize = digits.parse().map_err(|_| err())?;
                NonZeroUsize::new(n).map(RougeType::RougeN).ok_or_else(err)
            }
        }
    }
}

/// How texts are split into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RougeTokenizer {
    /// rouge-score's tokenizer, for numbers comparable with it: lower-case (Python's rules),
    /// then every character outside ASCII `[a-z0-9]` separates tokens. Text in other scripts
    /// has no tokens at all, so Korean, Chinese or Arabic scores 0 against itself.
    #[default]
    Default,
    /// A tokenizer for any script (gavel's own; no reference implementation, so scores are not
    /// comparable with rouge-score's): Unicode NFKC normalisation and lower case, then a token
    /// is a run of letters, digits and combining marks, except that each CJK ideograph,
    /// hiragana or katakana character is a token by itself (those scripts put no spaces between
    /// words). Hangul, Arabic, Cyrillic, … words are the runs between spaces and punctuation.
    /// Punctuation, symbols and emoji are dropped. The stemmer, when on, applies only to ASCII
    /// words. Thai, Lao, Khmer and Burmese, written without spaces, come out as one token per
    /// phrase; no dictionary segmentation is done.
    ///
    /// ```
    /// use gavel_metrics::rouge::{RougeOptions, RougeScorer, RougeTokenizer, RougeType};
    ///
    /// let unicode = RougeOptions { tokenizer: RougeTokenizer::Unicode, ..RougeOptions::default() };
    /// let scorer = RougeScorer::new(&[RougeType::Rouge1], unicode);
    /// // Chinese: one token per character; 6 of the 7 prediction characters are in the target.
    /// let zh = scorer.score("我们今天去公园散步", "我们今天去公园");
    /// assert!((zh[0].precision - 1.0).abs() < 1e-12);
    /// assert!((zh[0].recall - 7.0 / 9.0).abs() < 1e-12);
    /// // Korean: words between spaces; "고양이가" and "앉았다" match, "매트" ≠ "매트에".
    /// let ko = scorer.score("고양이가 매트 위에 앉았다", "고양이가 매트에 앉았다");
    /// assert!((ko[0].recall - 2.0 / 4.0).abs() < 1e-12);
    /// // The default (rouge-score) tokenizer sees no tokens in either.
    /// let default = RougeScorer::new(&[RougeType::Rouge1], RougeOptions::default());
    /// assert_eq!(default.score("我们今天去公园散步", "我们今天去公园")[0].fmeasure, 0.0);
    /// ```
    Unicode,
}

/// Scorer options. `Default` is rouge-score's own default: no stemmer, its tokenizer, newline
/// sentence splitting. (gavel's CLI turns the stemmer on unless `--no-stemmer` is given, since
/// most published ROUGE figures use it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RougeOptions {
    /// Replace tokens longer than three characters by their Porter stem (rouge-score's
    /// `use_stemmer`).
    pub use_stemmer: bool,
    /// The tokenizer.
    pub tokenizer: RougeTokenizer,
    /// rouge-score's `split_summaries=True` splits rougeLsum sentences with NLTK's Punkt model
    /// (`nltk.sent_tokenize`), whose trained data gavel does not ship, so it is **not
    /// supported**: [`RougeScorer::try_new`] refuses it, and [`RougeScorer::new`] splits on
    /// newlines only, as with `false`.
    pub split_summaries: bool,
}

/// Options that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RougeError {
    /// `split_summaries` was asked for.
    #[error(
        "split_summaries (NLTK Punkt sentence splitting) is not supported: put each sentence \
         on its own line instead"
    )]
    SplitSummariesUnsupported,
}

/// One ROUGE score, each value in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

impl RougeScore {
    /// Precision and recall with rouge-score's F-measure: `2 p r / (p + r)`, 0 when both are 0.
    pub fn from_precision_recall(precision: f64, recall: f64) -> Self {
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        RougeScore {
            precision,
            recall,
            fmeasure,
        }
    }
}

/// Scores predictions against targets for a fixed list of ROUGE types.
#[derive(Debug, Clone)]
pub struct RougeScorer {
    types: Vec<RougeType>,
    options: RougeOptions,
}

impl RougeScorer {
    /// A scorer for `types` (scores come back in this order). `options.split_summaries` is not
    /// supported and is treated as `false`; use [`RougeScorer::try_new`] to have it refused.
    pub fn new(types: &[RougeType], options: RougeOptions) -> RougeScorer {
        RougeScorer {
            types: types.to_vec(),
            options: RougeOptions {
                split_summaries: false,
                ..options
            },
        }
    }

    /// Like [`RougeScorer::new`], but refuses options it cannot honour.
    pub fn try_new(types: &[RougeType], options: RougeOptions) -> Result<RougeScorer, RougeError> {
        if options.split_summaries {
            return Err(RougeError::SplitSummariesUnsupported);
        }
        Ok(RougeScorer::new(types, options))
    }

    /// The ROUGE types, in the order scores are returned.
    pub fn types(&self) -> &[RougeType] {
        &self.types
    }

    /// The options in force.
    pub fn options(&self) -> RougeOptions {
        self.options
    }

    /// Scores `prediction` against one `target`: one score per type, in the scorer's order.
    /// rouge-score: `RougeScorer.score(target, prediction)`.
    pub fn score(&self, target: &str, prediction: &str) -> Vec<RougeScore> {
        self.score_multi(&[target], prediction)
    }

    /// Scores `prediction` against several targets and keeps, per type, the score of the
    /// target with the highest F-measure (the first on ties). rouge-score: `score_multi`.
    /// With no targets at all (where rouge-score raises an error) every score is 0.
    pub fn score_multi(&self, targets: &[impl AsRef<str>], prediction: &str) -> Vec<RougeScore> {
        let mut best = vec![RougeScore::default(); self.types.len()];
        if targets.is_empty() {
            return best;
        }
        let mut scores = vec![RougeScore::default(); self.types.len()];
        STATE.with(|cell| {
            let mut guard = cell.borrow_mut();
            let state = &mut *guard;
            let interner = if self.options.use_stemmer {
                &mut state.stemmed
            } else {
                &mut state.plain
            };
            let work = &mut state.work;
            interner.begin();
            let needs_tokens = self.types.iter().any(|t| *t != RougeType::RougeLsum);
            let needs_lines = self.types.contains(&RougeType::RougeLsum);
            // The prediction is tokenized first, so its ids are the smallest: the LCS masks are
            // built over it and stay small.
            if needs_tokens {
                work.prediction.clear();
                self.tokenize(prediction, interner, &mut work.word, &mut work.prediction);
            }
            if needs_lines {
                self.tokenize_lines(prediction, interner, work, Side::Prediction);
            }
            for (t, target) in targets.iter().enumerate() {
                let target = target.as_ref();
                if needs_tokens {
                    work.target.clear();
                    self.tokenize(target, interner, &mut work.word, &mut work.target);
                }
                if needs_lines {
                    self.tokenize_lines(target, interner, work, Side::Target);
                }
                let n_symbols = interner.n_local();
                for (k, rouge_type) in self.types.iter().enumerate() {
                    scores[k] = score_one(*rouge_type, work, n_symbols);
                }
                for (b, s) in best.iter_mut().zip(&scores) {
                    if t == 0 || s.fmeasure > b.fmeasure {
                        *b = *s;
                    }
                }
            }
        });
        best
    }

    /// The tokens this scorer compares, after stemming when the stemmer is on: rouge-score's
    /// `tokenizer.tokenize(text)`. For inspection; scoring does not go through strings.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut buf = Vec::new();
        let sink = |token: &[u8]| {
            buf.clear();
            buf.extend_from_slice(token);
            if self.options.use_stemmer && token.len() > 3 && token.is_ascii() {
                crate::porter::stem_ascii_in_place(&mut buf);
            }
            if !buf.is_empty() {
                tokens.push(String::from_utf8_lossy(&buf).into_owned());
            }
        };
        let mut word = Vec::new();
        match self.options.tokenizer {
            RougeTokenizer::Default => tokenize::default_tokens(text, &mut word, sink),
            RougeTokenizer::Unicode => tokenize::unicode_tokens(text, &mut word, sink),
        }
        tokens
    }

    fn tokenize(
        &self,
        text: &str,
        interner: &mut Interner,
        word: &mut Vec<u8>,
        out: &mut Vec<u32>,
    ) {
        let sink = |token: &[u8]| {
            if let Some(id) = interner.local_id(token) {
                out.push(id);
            }
        };
        match self.options.tokenizer {
            RougeTokenizer::Default => tokenize::default_tokens(text, word, sink),
            RougeTokenizer::Unicode => tokenize::unicode_tokens(text, word, sink),
        }
    }

    /// Tokenizes each non-empty `\n`-separated line (rouge-score: `text.split("\n")`, empty
    /// strings dropped; a line of spaces stays, with no tokens).
    fn tokenize_lines(&self, text: &str, interner: &mut Interner, work: &mut Work, side: Side) {
        let (ids, bounds) = match side {
            Side::Prediction => (&mut work.prediction_lines, &mut work.prediction_bounds),
            Side::Target => (&mut work.target_lines, &mut work.target_bounds),
        };
        ids.clear();
        bounds.clear();
        for line in text.split('\n').filter(|line| !line.is_empty()) {
            let start = ids.len();
            self.tokenize(line, interner, &mut work.word, ids);
            bounds.push((start, ids.len()));
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Prediction,
    Target,
}

/// Per-thread buffers and token tables (see the module doc, "Speed").
struct State {
    plain: Interner,
    stemmed: Interner,
    work: Work,
}

#[derive(Default)]
struct Work {
    word: Vec<u8>,
    prediction: Vec<u32>,
    target: Vec<u32>,
    prediction_lines: Vec<u32>,
    prediction_bounds: Vec<(usize, usize)>,
    target_lines: Vec<u32>,
    target_bounds: Vec<(usize, usize)>,
    hit: Vec<bool>,
    counts_prediction: Vec<u32>,
    counts_target: Vec<u32>,
    lcs: LcsScratch,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        plain: Interner::new(false),
        stemmed: Interner::new(true),
        work: Work::default(),
    });
}

fn score_one(rouge_type: RougeType, work: &mut Work, n_symbols: usize) -> RougeScore {
    match rouge_type {
        RougeType::RougeL => {
            if work.prediction.is_empty() || work.target.is_empty() {
                return RougeScore::default();
            }
            let lcs = lcs::lcs_length(&work.prediction, &work.target, &mut work.lcs) as f64;
            RougeScore::from_precision_recall(
                lcs / work.prediction.len() as f64,
                lcs / work.target.len() as f64,
            )
        }
        RougeType::RougeLsum => summary_lcs(work, n_symbols),
        RougeType::Rouge1 | RougeType::Rouge2 | RougeType::RougeN(_) => {
            let n = rouge_type.ngram_order().unwrap_or(1);
            let (overlap, in_target, in_prediction) =
                lcs::ngram_overlap(&work.target, &work.prediction, n, n_symbols, &mut work.lcs);
            RougeScore::from_precision_recall(
                overlap as f64 / in_prediction.max(1) as f64,
                overlap as f64 / in_target.max(1) as f64,
            )
        }
    }
}

/// rouge-score's `_summary_level_lcs`.
fn summary_lcs(work: &mut Work, n_symbols: usize) -> RougeScore {
    let m = work.target_lines.len();
    let n = work.prediction_lines.len();
    if work.target_bounds.is_empty() || work.prediction_bounds.is_empty() || m == 0 || n == 0 {
        return RougeScore::default();
    }
    // Unused occurrences of each token on each side, so a token is not counted twice.
    let counts_t = &mut work.counts_target;
    let counts_p = &mut work.counts_prediction;
    counts_t.clear();
    counts_t.resize(n_symbols, 0);
    counts_p.clear();
    counts_p.resize(n_symbols, 0);
    for &id in &work.target_lines {
        counts_t[id as usize] += 1;
    }
    for &id in &work.prediction_lines {
        counts_p[id as usize] += 1;
    }
    let mut hits = 0usize;
    for &(start, end) in &work.target_bounds {
        let sentence = &work.target_lines[start..end];
        work.hit.clear();
        work.hit.resize(sentence.len(), false);
        for &(ps, pe) in &work.prediction_bounds {
            let candidate = &work.prediction_lines[ps..pe];
            lcs::mark_backtracked_lcs(sentence, candidate, &mut work.hit, &mut work.lcs);
        }
        for (&id, _) in sentence.iter().zip(&work.hit).filter(|(_, hit)| **hit) {
            let (ct, cp) = (&mut counts_t[id as usize], &mut counts_p[id as usize]);
            if *ct > 0 && *cp > 0 {
                hits += 1;
                *ct -= 1;
                *cp -= 1;
            }
        }
    }
    RougeScore::from_precision_recall(hits as f64 / n as f64, hits as f64 / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scorer(types: &[RougeType], use_stemmer: bool) -> RougeScorer {
        RougeScorer::new(
            types,
            RougeOptions {
                use_stemmer,
                ..RougeOptions::default()
            },
        )
    }

    #[test]
    fn parses_rouge_score_names() {
        for (name, t) in [
            ("rouge1", RougeType::Rouge1),
            ("rouge2", RougeType::Rouge2),
            ("rougeL", RougeType::RougeL),
            ("rougeLsum", RougeType::RougeLsum),
        ] {
            assert_eq!(name.parse::<RougeType>(), Ok(t));
            assert_eq!(t.to_string(), name);
        }
        let three: RougeType = "rouge3".parse().unwrap();
        assert_eq!(three.ngram_order(), Some(3));
        assert_eq!(three.name(), "rouge3");
        for bad in [
            "rouge0",
            "rouge10",
            "rougel",
            "ROUGE1",
            "rouge",
            "bleu",
            "rougeLSum",
            "",
        ] {
            assert!(bad.parse::<RougeType>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_options_are_rouge_scores_defaults() {
        let o = RougeOptions::default();
        assert!(!o.use_stemmer);
        assert_eq!(o.tokenizer, RougeTokenizer::Default);
        assert!(!o.split_summaries);
    }

    #[test]
    fn split_summaries_is_refused_by_try_new() {
        let o = RougeOptions {
            split_summaries: true,
            ..RougeOptions::default()
        };
        assert_eq!(
            RougeScorer::try_new(&[RougeType::RougeLsum], o).unwrap_err(),
            RougeError::SplitSummariesUnsupported
        );
        assert!(
            !RougeScorer::new(&[RougeType::RougeLsum], o)
                .options()
                .split_summaries
        );
    }

    #[test]
    fn degenerate_inputs_score_zero() {
        let s = scorer(
            &[
                RougeType::Rouge1,
                RougeType::Rouge2,
                RougeType::RougeL,
                RougeType::RougeLsum,
            ],
            true,
        );
        for (t, p) in [
            ("", ""),
            ("", "cat"),
            ("cat", ""),
            ("...", "!!!"),
            ("\n\n", " \n "),
        ] {
            assert_eq!(s.score(t, p), vec![RougeScore::default(); 4], "{t:?} {p:?}");
        }
        let empty: [&str; 0] = [];
        assert_eq!(s.score_multi(&empty, "cat"), vec![RougeScore::default(); 4]);
    }

    #[test]
    fn identical_texts_score_one() {
        let s = scorer(
            &[
                RougeType::Rouge1,
                RougeType::Rouge2,
                RougeType::RougeL,
                RougeType::RougeLsum,
            ],
            false,
        );
        for score in s.score("the cat sat.\non the mat", "the cat sat.\non the mat") {
            assert_eq!(
                score,
                RougeScore {
                    precision: 1.0,
                    recall: 1.0,
                    fmeasure: 1.0
                }
            );
        }
    }

    #[test]
    fn stemming_merges_word_forms() {
        let plain =
            scorer(&[RougeType::Rouge1], false).score("the dogs were running", "the dog runs");
        let stemmed =
            scorer(&[RougeType::Rouge1], true).score("the dogs were running", "the dog runs");
        assert!((plain[0].precision - 1.0 / 3.0).abs() < 1e-15);
        assert!((stemmed[0].precision - 1.0).abs() < 1e-15);
    }

    #[test]
    fn score_multi_keeps_the_best_target_per_type() {
        let s = scorer(&[RougeType::Rouge1, RougeType::Rouge2], false);
        let targets = ["cat sat on", "sat cat"];
        let multi = s.score_multi(&targets, "cat sat");
        let first = s.score(targets[0], "cat sat");
        let second = s.score(targets[1], "cat sat");
        // rouge1: the second target (F = 1) wins; rouge2: the first (shares "cat sat").
        assert_eq!(multi[0], second[0]);
        assert_eq!(multi[1], first[1]);
    }

    /// The tables of docs/rouge-unicode.md.
    #[test]
    fn unicode_doc_examples() {
        let types = [RougeType::Rouge1, RougeType::Rouge2, RougeType::RougeL];
        let unicode = RougeOptions {
            tokenizer: RougeTokenizer::Unicode,
            ..RougeOptions::default()
        };
        let unicode = RougeScorer::new(&types, unicode);
        let default = RougeScorer::new(&types, RougeOptions::default());
        let close = |a: f64, b: f64| (a - b).abs() < 5e-5;
        for (target, prediction, expected) in [
            (
                "我们今天去公园散步",
                "我们今天去公园",
                [
                    (1.0, 0.7778, 0.8750),
                    (1.0, 0.75, 0.8571),
                    (1.0, 0.7778, 0.8750),
                ],
            ),
            (
                "고양이가 매트 위에 앉았다",
                "고양이가 매트에 앉았다",
                [
                    (0.6667, 0.5, 0.5714),
                    (0.0, 0.0, 0.0),
                    (0.6667, 0.5, 0.5714),
                ],
            ),
        ] {
            for (got, (p, r, f)) in unicode.score(target, prediction).iter().zip(expected) {
                assert!(
                    close(got.precision, p) && close(got.recall, r) && close(got.fmeasure, f),
                    "{target}: {got:?}"
                );
            }
            assert_eq!(
                default.score(target, prediction),
                vec![RougeScore::default(); 3]
            );
        }
    }

    #[test]
    fn scorer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RougeScorer>();
    }
}
