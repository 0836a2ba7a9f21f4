//! Judge output conventions: writing a training target in a protocol's own convention, and
//! reading the verdict back from it.
//!
//! A model trained on these targets answers in the convention of the template it was trained
//! with, so that `gavel judge` reads its answers with the same parser as any judge's. The
//! conventions written here are the published ones:
//!
//! | convention | template | target |
//! |---|---|---|
//! | `choice-brackets` | `mt-bench-pair` | the reasoning, then `[[A]]`, `[[B]]` or `[[C]]` (tie) |
//! | `pandalm` | `pandalm` | `1`, `2` or `Tie` alone on the first line, then `### Reason: ...` |
//! | `two-scores` | `judgelm` | the two scores on the first line (`8 6`), then the reasoning |
//!
//! Reading goes through [`VerdictReader`], the seam between this crate and gavel-judge's
//! verdict parsers: [`BuiltinReader`] implements the three conventions above in a few lines,
//! and a reader backed by `gavel_judge::parse` can take its place without touching the
//! builder or the checker.

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

/// A published judge output convention.
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
    pub const ALL: [Convention; 3] = [
        Convention::ChoiceBrackets,
        Convention::PandaLm,
        Convention::TwoScores,
    ];

    /// The convention's name (the same names as gavel-judge's parsers).
    pub fn id(self) -> &'static str {
        match self {
            Convention::ChoiceBrackets => "choice-brackets",
            Convention::PandaLm => "pandalm",
            Convention::TwoScores => "two-scores",
        }
    }

    /// The convention of a name.
    pub fn from_id(id: &str) -> Option<Convention> {
        Convention::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether a target needs the two scores (a bare preference cannot be written in it
    /// without inventing numbers, which the builder never does).
    pub fn needs_scores(self) -> bool {
        self == Convention::TwoScores
    }

    /// The training target: the verdict (and scores) in this convention, with the rationale
    /// where the convention puts it. `None` when the convention needs scores and there are
    /// none.
    pub fn target(
        self,
        choice: Choice,
        scores: Option<(f64, f64)>,
        rationale: Option<&str>,
    ) -> Option<String> {
        let rationale = rationale.map(str::trim).filter(|r| !r.is_empty());
        Some(match self {
            Convention::ChoiceBrackets => {
                let token = match choice {
                    Choice::A => "[[A]]",
                    Choice::B => "[[B]]",
                    Choice::Tie => "[[C]]",
                };
                match rationale {
                    Some(r) => format!("{r}\n\n{token}"),
                    None => token.to_string(),
                }
            }
            Convention::PandaLm => {
                let first = match choice {
                    Choice::A => "1",
                    Choice::B => "2",
                    Choice::Tie => "Tie",
                };
                match rationale {
                    Some(r) => format!("{first}\n\n### Reason: {r}"),
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
        })
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Reads the verdict from a target written in a convention: the seam for gavel-judge's
/// parsers (`gavel_judge::parse::read`), which can replace [`BuiltinReader`] without changes
/// elsewhere.
pub trait VerdictReader: Send + Sync {
    /// The verdict, or why there is none.
    fn read(&self, convention: Convention, text: &str) -> Result<Reading, String>;
}

/// The readers of the three conventions this crate writes, following their published rules:
/// the last `[[X]]` marker for `choice-brackets`, the first non-empty line for `pandalm` and
/// `two-scores`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinReader;

impl VerdictReader for BuiltinReader {
    fn read(&self, convention: Convention, text: &str) -> Result<Reading, String> {
        match convention {
            Convention::ChoiceBrackets => {
                let mut found = None;
                let mut from = 0;
                while let Some(open) = text[from..].find("[[") {
                    let start = from + open + 2;
                    let Some(close) = text[start..].find("]]") else {
                        break;
                    };
                    match text[start..start + close].trim() {
                        "A" => found = Some(Choice::A),
                        "B" => found = Some(Choice::B),
                        "C" => found = Some(Choice::Tie),
                        _ => {}
                    }
                    from = start;
                }
                found
                    .map(|choice| Reading {
                        choice,
                        scores: None,
                    })
                    .ok_or_else(|| "no [[A]], [[B]] or [[C]] verdict".to_string())
            }
            Convention::PandaLm => {
                let line = first_line(text);
                let t = line.trim_end_matches(['.', ':']).trim();
                let choice = match t {
                    "1" => Choice::A,
                    "2" => Choice::B,
                    _ if t.eq_ignore_ascii_case("tie") => Choice::Tie,
                    _ => {
                        return Err(format!("the first line `{line}` is not 1, 2 or Tie"));
                    }
                };
                Ok(Reading {
                    choice,
                    scores: None,
                })
            }
            Convention::TwoScores => {
                let line = first_line(text);
                let nums: Vec<f64> = line
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|s| !s.is_empty())
                    .map(str::parse::<f64>)
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("the first line `{line}` is not two scores"))?;
                match nums.as_slice() {
                    [a, b] if a.is_finite() && b.is_finite() => Ok(Reading {
                        choice: Choice::from_scores(*a, *b),
                        scores: Some((*a, *b)),
                    }),
                    _ => Err(format!("the first line `{line}` is not two scores")),
                }
            }
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Convention, choice: Choice, scores: Option<(f64, f64)>, why: Option<&str>) {
        let target = c.target(choice, scores, why).unwrap();
        let back = BuiltinReader.read(c, &target).unwrap();
        assert_eq!(back.choice, choice, "{c}: {target:?}");
        if c.needs_scores() {
            assert_eq!(back.scores, scores);
        }
    }

    #[test]
    fn every_convention_round_trips() {
        for c in Convention::ALL {
            for (choice, scores) in [
                (Choice::A, (8.0, 3.0)),
                (Choice::B, (2.0, 9.5)),
                (Choice::Tie, (5.0, 5.0)),
            ] {
                for why in [None, Some("Assistant A cites [[B]] as wrong.\n1\nTie")] {
                    round_trip(c, choice, Some(scores), why);
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
            "2\n\n### Reason: clearer"
        );
        assert_eq!(
            Convention::TwoScores
                .target(Choice::A, Some((8.0, 6.5)), Some("A is better"))
                .unwrap(),
            "8 6.5\nA is better"
        );
        assert_eq!(Convention::TwoScores.target(Choice::A, None, None), None);
    }

    #[test]
    fn readers_reject_malformed_targets() {
        let r = BuiltinReader;
        assert!(r.read(Convention::ChoiceBrackets, "A is better").is_err());
        assert!(r.read(Convention::PandaLm, "Response 1 is better").is_err());
        assert!(r.read(Convention::TwoScores, "8\nok").is_err());
        assert!(r.read(Convention::TwoScores, "eight six").is_err());
        assert_eq!(
            r.read(Convention::PandaLm, "\n tie.\nok").unwrap().choice,
            Choice::Tie
        );
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
