//! Judge output conventions: writing a training target in a protocol's own convention, and
//! reading the verdict back from it.
//!
//! A model trained on these targets answers in the convention of the template it was trained
//! with, so that `gavel judge` reads its answers with the same parser as any judge's. The
//! conventions written here are the published ones:
//!
//! | convention | templates | target |
//! |---|---|---|
//! | `choice-brackets` | `mt-bench-pair`, `mt-bench-pair-ref` | the reasoning, then `[[A]]`, `[[B]]` or `[[C]]` (tie) |
//! | `pandalm` | `pandalm` | `1`, `2` or `Tie` alone on the first line, then `Reason: ...` |
//! | `two-scores` | `judgelm` | the two scores on the first line (`8 6`), then the reasoning (needs teacher scores) |
//! | `auto-j-pair` | `auto-j-pair` | the reasoning, then `So, the final decision is Response 1.` (or `Response 2`, `Tie`) |
//! | `result-choice` | `prometheus-relative` | `Feedback: ... [RESULT] A` (no ties) |
//! | `alpaca-eval` | `alpaca-eval` | `m` or `M` alone (no ties, no reasoning) |
//!
//! Reading goes through [`VerdictReader`]; [`JudgeParsers`] is gavel-judge's parsers, the
//! ones `gavel judge` reads answers with.

use std::fmt;

use gavel_core::format_number;
use serde::{Deserialize, Serialize};

/// A pairwise preference in the frame shown to the judge: `A` is the response shown first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Choice {
    /// The first response is better.
    #[serde(rename = "A")]
    A,
    /// The second response is better.
    #[serde(rename = "B")]
    B,
    /// Neither is better.
    #[serde(rename = "tie")]
    Tie,
}

impl Choice {
    /// Every choice, in report order.
    pub const ALL: [Choice; 3] = [Choice::A, Choice::B, Choice::Tie];

    /// `"A"`, `"B"` or `"tie"`, as written in Label records.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::A => "A",
            Choice::B => "B",
            Choice::Tie => "tie",
        }
    }

    /// The choice with the responses' order exchanged.
    pub fn swapped(self) -> Choice {
        match self {
            Choice::A => Choice::B,
            Choice::B => Choice::A,
            Choice::Tie => Choice::Tie,
        }
    }

    /// Reads a pairwise label: `A`, `B`, `tie` in any case, also `model_a`, `model_b`, `draw`
    /// and `tie (bothbad)`.
    pub fn parse(s: &str) -> Option<Choice> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("a") || t.eq_ignore_ascii_case("model_a") {
            Some(Choice::A)
        } else if t.eq_ignore_ascii_case("b") || t.eq_ignore_ascii_case("model_b") {
            Some(Choice::B)
        } else if t.eq_ignore_ascii_case("tie")
            || t.eq_ignore_ascii_case("draw")
            || t.eq_ignore_ascii_case("tie (bothbad)")
        {
            Some(Choice::Tie)
        } else {
            None
        }
    }

    /// `A` when `a > b`, `B` when `b > a`, a tie otherwise.
    pub fn from_scores(a: f64, b: f64) -> Choice {
        if a > b {
            Choice::A
        } else if b > a {
            Choice::B
        } else {
            Choice::Tie
        }
    }

    /// A small code for compact per-example bookkeeping.
    pub fn code(self) -> u8 {
        match self {
            Choice::A => 0,
            Choice::B => 1,
            Choice::Tie => 2,
        }
    }

    /// The choice of a code from [`Choice::code`].
    pub fn from_code(c: u8) -> Option<Choice> {
        Choice::ALL.get(c as usize).copied()
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published judge output convention (the pairwise ones of gavel-judge's parsers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Convention {
    /// `[[A]]`, `[[B]]`, or `[[C]]` for a tie, at the end (MT-Bench pairwise).
    #[serde(rename = "choice-brackets")]
    ChoiceBrackets,
    /// `1`, `2` or `Tie` on the first line, then the reason (PandaLM).
    #[serde(rename = "pandalm")]
    PandaLm,
    /// Two scores on the first line, then the reason (JudgeLM).
    #[serde(rename = "two-scores")]
    TwoScores,
    /// `So, the final decision is Response 1 / Response 2 / Tie` at the end (Auto-J).
    #[serde(rename = "auto-j-pair")]
    AutoJPair,
    /// `Feedback: ... [RESULT] A` or `B`, no ties (Prometheus relative grading).
    #[serde(rename = "result-choice")]
    ResultChoice,
    /// `m` (the first output) or `M` (the second) alone, no ties and no reason (AlpacaEval 2).
    #[serde(rename = "alpaca-eval")]
    AlpacaEval,
}

/// A verdict read back from a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The preference.
    pub choice: Choice,
    /// The two scores, for score conventions.
    pub scores: Option<(f64, f64)>,
}

impl Convention {
    /// Every convention.
    pub const ALL: [Convention; 6] = [
        Convention::ChoiceBrackets,
        Convention::PandaLm,
        Convention::TwoScores,
        Convention::AutoJPair,
        Convention::ResultChoice,
        Convention::AlpacaEval,
    ];

    /// The convention's name (gavel-judge's parser names).
    pub fn id(self) -> &'static str {
        match self {
            Convention::ChoiceBrackets => "choice-brackets",
            Convention::PandaLm => "pandalm",
            Convention::TwoScores => "two-scores",
            Convention::AutoJPair => "auto-j-pair",
            Convention::ResultChoice => "result-choice",
            Convention::AlpacaEval => "alpaca-eval",
        }
    }

    /// The convention of a name.
    pub fn from_id(id: &str) -> Option<Convention> {
        Convention::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether a target in this convention can state the verdict: score conventions need the
    /// scores (the builder never invents numbers), and some conventions have no tie.
    pub fn can_carry(self, choice: Choice, scores: bool) -> bool {
        match self {
            Convention::TwoScores => scores,
            Convention::ResultChoice | Convention::AlpacaEval => choice != Choice::Tie,
            _ => true,
        }
    }

    /// Whether the convention has room for a rationale.
    pub fn has_rationale(self) -> bool {
        self != Convention::AlpacaEval
    }

    /// The training target: the verdict (and scores) in this convention, with the rationale
    /// where the convention puts it. `None` when the convention cannot state the verdict.
    pub fn target(
        self,
        choice: Choice,
        scores: Option<(f64, f64)>,
        rationale: Option<&str>,
    ) -> Option<String> {
        if !self.can_carry(choice, scores.is_some()) {
            return None;
        }
        let rationale = rationale.map(str::trim).filter(|r| !r.is_empty());
        let before = |verdict: &str, sep: &str| match rationale {
            Some(r) => format!("{r}{sep}{verdict}"),
            None => verdict.to_string(),
        };
        let pick = |a: &'static str, b: &'static str, tie: &'static str| match choice {
            Choice::A => a,
            Choice::B => b,
            Choice::Tie => tie,
        };
        Some(match self {
            Convention::ChoiceBrackets => before(pick("[[A]]", "[[B]]", "[[C]]"), "\n\n"),
            Convention::PandaLm => {
                let first = pick("1", "2", "Tie");
                match rationale {
                    Some(r) => format!("{first}\n\nReason: {r}"),
                    None => first.to_string(),
                }
            }
            Convention::TwoScores => {
                let (a, b) = scores?;
                let line = format!("{} {}", format_number(a), format_number(b));
                match rationale {
                    Some(r) => format!("{line}\n{r}"),
                    None => line,
                }
            }
            Convention::AutoJPair => before(
                &format!(
                    "So, the final decision is {}.",
                    pick("Response 1", "Response 2", "Tie")
                ),
                "\n\n",
            ),
            Convention::ResultChoice => {
                let verdict = pick("A", "B", "");
                match rationale {
                    Some(r) => format!("Feedback: {r} [RESULT] {verdict}"),
                    None => format!("Feedback: [RESULT] {verdict}"),
                }
            }
            Convention::AlpacaEval => pick("m", "M", "").to_string(),
        })
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Reads the verdict from a target written in a convention: the seam between the builder and
/// checker and the verdict parsers.
pub trait VerdictReader: Send + Sync {
    /// The verdict, or why there is none.
    fn read(&self, convention: Convention, text: &str) -> Result<Reading, String>;
}

/// gavel-judge's verdict parsers (`gavel_judge::parse::read`), lenient as `gavel judge` reads
/// by default: a target passes if the judge runner would read the same verdict from it.
#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeParsers;

impl VerdictReader for JudgeParsers {
    fn read(&self, convention: Convention, text: &str) -> Result<Reading, String> {
        use gavel_judge::protocol::Verdict;
        let c = gavel_judge::parse::Convention::from_id(convention.id())
            .ok_or_else(|| format!("gavel-judge has no parser `{}`", convention.id()))?;
        let reading = gavel_judge::parse::read(c, text, &gavel_judge::parse::Context::default())
            .map_err(|u| u.message)?;
        match reading.verdict {
            Verdict::First => Ok(Reading {
                choice: Choice::A,
                scores: None,
            }),
            Verdict::Second => Ok(Reading {
                choice: Choice::B,
                scores: None,
            }),
            Verdict::Tie => Ok(Reading {
                choice: Choice::Tie,
                scores: None,
            }),
            Verdict::Scores(a, b) => Ok(Reading {
                choice: Choice::from_scores(a, b),
                scores: Some((a, b)),
            }),
            other => Err(format!("not a pairwise verdict: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_convention_round_trips_through_gavel_judge_parsers() {
        for c in Convention::ALL {
            for (choice, scores) in [
                (Choice::A, (8.0, 3.0)),
                (Choice::B, (2.0, 9.5)),
                (Choice::Tie, (5.0, 5.0)),
            ] {
                for why in [None, Some("Assistant A cites [[B]] as wrong.\n1\nTie")] {
                    let Some(target) = c.target(choice, Some(scores), why) else {
                        assert!(!c.can_carry(choice, true), "{c} {choice}");
                        continue;
                    };
                    let back = JudgeParsers
                        .read(c, &target)
                        .unwrap_or_else(|e| panic!("{c}: {target:?}: {e}"));
                    assert_eq!(back.choice, choice, "{c}: {target:?}");
                    if c == Convention::TwoScores {
                        assert_eq!(back.scores, Some(scores));
                    }
                }
            }
        }
    }

    #[test]
    fn target_shapes() {
        let c = Convention::ChoiceBrackets;
        assert_eq!(
            c.target(Choice::Tie, None, Some(" both ok ")).unwrap(),
            "both ok\n\n[[C]]"
        );
        assert_eq!(
            Convention::PandaLm
                .target(Choice::B, None, Some("clearer"))
                .unwrap(),
            "2\n\nReason: clearer"
        );
        assert_eq!(
            Convention::TwoScores
                .target(Choice::A, Some((8.0, 6.5)), Some("A is better"))
                .unwrap(),
            "8 6.5\nA is better"
        );
        assert_eq!(
            Convention::AutoJPair
                .target(Choice::B, None, Some("2 is kinder"))
                .unwrap(),
            "2 is kinder\n\nSo, the final decision is Response 2."
        );
        assert_eq!(
            Convention::ResultChoice
                .target(Choice::A, None, Some("A fits"))
                .unwrap(),
            "Feedback: A fits [RESULT] A"
        );
        assert_eq!(
            Convention::AlpacaEval
                .target(Choice::B, None, Some("x"))
                .unwrap(),
            "M"
        );
        assert_eq!(Convention::TwoScores.target(Choice::A, None, None), None);
        assert_eq!(
            Convention::ResultChoice.target(Choice::Tie, None, None),
            None
        );
    }

    #[test]
    fn malformed_targets_do_not_parse() {
        let r = JudgeParsers;
        assert!(r.read(Convention::ChoiceBrackets, "A is better").is_err());
        assert!(r.read(Convention::PandaLm, "Response 1 is better").is_err());
        assert!(r.read(Convention::TwoScores, "eight six").is_err());
    }

    #[test]
    fn labels_parse() {
        assert_eq!(Choice::parse(" a "), Some(Choice::A));
        assert_eq!(Choice::parse("model_b"), Some(Choice::B));
        assert_eq!(Choice::parse("TIE"), Some(Choice::Tie));
        assert_eq!(Choice::parse("tie (bothbad)"), Some(Choice::Tie));
        assert_eq!(Choice::parse("1"), None);
        assert_eq!(Choice::A.swapped(), Choice::B);
        assert_eq!(Choice::from_code(Choice::Tie.code()), Some(Choice::Tie));
    }
}
