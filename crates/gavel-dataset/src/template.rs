//! The judge prompt formats a training example can be rendered in, and the mixing of several
//! by configurable shares (JudgeLM's remedy for format bias).
//!
//! [`PromptFormat`] is what the builder needs from a template: its name, its output
//! [`Convention`], how it names the two responses ([`Naming`], for rewriting rationales), and
//! the chat messages for one presentation. The three built-in formats below follow the
//! published protocols' layouts and output conventions, in gavel's own words:
//!
//! - `mt-bench-pair`: MT-Bench's pairwise layout (`[User Question]`, `[The Start of Assistant
//!   A's Answer]` ...), verdict `[[A]]`/`[[B]]`/`[[C]]` at the end; shows a reference answer when
//!   the example has one.
//! - `pandalm`: PandaLM's `### Instruction` / `### Input` / `### Response 1` / `### Response 2`
//!   layout, verdict `1`/`2`/`Tie` on the first line.
//! - `judgelm`: JudgeLM's layout (`[Question]`, `Assistant 1`/`Assistant 2`, `[System]`), two
//!   scores on the first line.
//!
//! These are this crate's own renderings until gavel-judge's template library is available to
//! it; the names match that library's built-in templates so that a dataset names the template a
//! trained judge is then run with.

use std::sync::Arc;

use serde::Serialize;

use crate::convention::Convention;
use crate::remap::Naming;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: &'static str, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// What one presentation shows the judge.
#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    /// The user's instruction.
    pub instruction: &'a str,
    /// Context given with the instruction.
    pub input: Option<&'a str>,
    /// The reference answer, when shown.
    pub reference: Option<&'a str>,
    /// The response shown first.
    pub first: &'a str,
    /// The response shown second.
    pub second: &'a str,
}

impl PromptInput<'_> {
    fn question(&self) -> String {
        match self.input {
            Some(i) if !i.trim().is_empty() => format!("{}\n\n{i}", self.instruction),
            _ => self.instruction.to_string(),
        }
    }
}

/// A judge prompt format as the builder uses it.
pub trait PromptFormat: Send + Sync {
    /// The template's name.
    fn name(&self) -> &str;
    /// How the judge writes its verdict.
    fn convention(&self) -> Convention;
    /// How the prompt names the two responses.
    fn naming(&self) -> Naming;
    /// Whether the prompt shows a reference answer when the example has one.
    fn shows_reference(&self) -> bool;
    /// The messages for one presentation (without the answer).
    fn render(&self, input: &PromptInput<'_>) -> Vec<Message>;
    /// The template text, for the dataset card's fingerprint.
    fn text(&self) -> String;
}

/// The names of the built-in formats.
pub const BUILTIN: [&str; 3] = ["mt-bench-pair", "pandalm", "judgelm"];

/// The built-in format of this name.
pub fn builtin(name: &str) -> Option<Arc<dyn PromptFormat>> {
    let t: Arc<dyn PromptFormat> = match name {
        "mt-bench-pair" => Arc::new(Builtin::MtBenchPair),
        "pandalm" => Arc::new(Builtin::PandaLm),
        "judgelm" => Arc::new(Builtin::JudgeLm),
        _ => return None,
    };
    Some(t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    MtBenchPair,
    PandaLm,
    JudgeLm,
}

const MT_BENCH_SYSTEM: &str = "You are a fair and careful judge. You will see a user's question \
and the answers of two AI assistants. Decide which answer serves the user better, weighing how \
helpful, relevant, accurate, deep and detailed each one is. When a reference answer is given, \
check each answer against it. Neither the order in which the answers appear, nor their length, \
nor the assistants' names may sway you. First compare the two answers in a short explanation, \
then give your verdict on a line of its own: \"[[A]]\" if Assistant A's answer is better, \
\"[[B]]\" if Assistant B's answer is better, or \"[[C]]\" for a tie.";

const PANDALM_HEAD: &str = "Below are two responses to a task. The task is given by the \
Instruction, with an Input that adds context when there is one. Compare the responses and decide \
which one completes the task better. On the first line write only 1 (Response 1 is better), 2 \
(Response 2 is better) or Tie. Then, after a blank line, write \"### Reason:\" followed by your \
reasons.";

const JUDGELM_SYSTEM: &str = "You are an exacting reviewer of answers written by AI assistants.";

const JUDGELM_TASK: &str = "Review the two answers to the question above. Rate each one for \
helpfulness, relevance, accuracy and level of detail on a scale of 1 to 10, where higher is \
better. On the first line write only the two scores, Assistant 1's and then Assistant 2's, \
separated by a space. From the next line on, explain your scores. Judge the content alone: the \
order in which the answers appear must not affect your judgement.";

impl PromptFormat for Builtin {
    fn name(&self) -> &str {
        match self {
            Builtin::MtBenchPair => "mt-bench-pair",
            Builtin::PandaLm => "pandalm",
            Builtin::JudgeLm => "judgelm",
        }
    }

    fn convention(&self) -> Convention {
        match self {
            Builtin::MtBenchPair => Convention::ChoiceBrackets,
            Builtin::PandaLm => Convention::PandaLm,
            Builtin::JudgeLm => Convention::TwoScores,
        }
    }

    fn naming(&self) -> Naming {
        match self {
            Builtin::MtBenchPair => Naming::ASSISTANT_LETTER,
            Builtin::PandaLm => Naming::RESPONSE_DIGIT,
            Builtin::JudgeLm => Naming::ASSISTANT_DIGIT,
        }
    }

    fn shows_reference(&self) -> bool {
        true
    }

    fn render(&self, p: &PromptInput<'_>) -> Vec<Message> {
        match self {
            Builtin::MtBenchPair => {
                let mut user = format!("[User Question]\n{}\n\n", p.question());
                if let Some(r) = p.reference {
                    user.push_str(&format!(
                        "[The Start of Reference Answer]\n{r}\n[The End of Reference Answer]\n\n"
                    ));
                }
                user.push_str(&format!(
                    "[The Start of Assistant A's Answer]\n{}\n[The End of Assistant A's Answer]\n\n\
                     [The Start of Assistant B's Answer]\n{}\n[The End of Assistant B's Answer]",
                    p.first, p.second
                ));
                vec![
                    Message::new("system", MT_BENCH_SYSTEM),
                    Message::new("user", user),
                ]
            }
            Builtin::PandaLm => {
                let mut user = format!(
                    "{PANDALM_HEAD}\n\n### Instruction:\n{}\n\n### Input:\n{}\n\n",
                    p.instruction,
                    p.input.unwrap_or("")
                );
                if let Some(r) = p.reference {
                    user.push_str(&format!("### Reference answer:\n{r}\n\n"));
                }
                user.push_str(&format!(
                    "### Response 1:\n{}\n\n### Response 2:\n{}\n\n### Evaluation:\n",
                    p.first, p.second
                ));
                vec![Message::new("user", user)]
            }
            Builtin::JudgeLm => {
                let mut user = format!("[Question]\n{}\n\n", p.question());
                if let Some(r) = p.reference {
                    user.push_str(&format!(
                        "[The Start of Reference Answer]\n{r}\n\n[The End of Reference Answer]\n\n"
                    ));
                }
                user.push_str(&format!(
                    "[The Start of Assistant 1's Answer]\n{}\n\n[The End of Assistant 1's Answer]\n\n\
                     [The Start of Assistant 2's Answer]\n{}\n\n[The End of Assistant 2's Answer]\n\n\
                     [System]\n{JUDGELM_TASK}",
                    p.first, p.second
                ));
                vec![
                    Message::new("system", JUDGELM_SYSTEM),
                    Message::new("user", user),
                ]
            }
        }
    }

    fn text(&self) -> String {
        let probe = PromptInput {
            instruction: "{instruction}",
            input: Some("{input}"),
            reference: Some("{reference}"),
            first: "{first}",
            second: "{second}",
        };
        self.render(&probe)
            .into_iter()
            .map(|m| format!("<{}>\n{}", m.role, m.content))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Several formats with weights; each example's format is drawn by a hash among those that
/// can carry its target.
#[derive(Clone)]
pub struct TemplateMix {
    entries: Vec<(Arc<dyn PromptFormat>, f64)>,
}

impl std::fmt::Debug for TemplateMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(t, w)| (t.name().to_string(), *w)))
            .finish()
    }
}

impl TemplateMix {
    /// A mix of formats and their (positive) weights.
    pub fn new(entries: Vec<(Arc<dyn PromptFormat>, f64)>) -> TemplateMix {
        TemplateMix { entries }
    }

    /// The formats and their weights normalised to shares.
    pub fn shares(&self) -> Vec<(&Arc<dyn PromptFormat>, f64)> {
        let total: f64 = self.entries.iter().map(|e| e.1).sum();
        self.entries
            .iter()
            .map(|(t, w)| (t, if total > 0.0 { w / total } else { 0.0 }))
            .collect()
    }

    /// The formats, in the order given.
    pub fn formats(&self) -> impl Iterator<Item = &Arc<dyn PromptFormat>> {
        self.entries.iter().map(|e| &e.0)
    }

    /// The format of a name in the mix.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn PromptFormat>> {
        self.formats().find(|t| t.name() == name)
    }

    /// Draws a format for a uniform number `u` in [0, 1) among the formats `eligible` accepts,
    /// in proportion to their weights; `None` when none is eligible.
    pub fn choose(
        &self,
        u: f64,
        eligible: impl Fn(&dyn PromptFormat) -> bool,
    ) -> Option<&Arc<dyn PromptFormat>> {
        let ok: Vec<&(Arc<dyn PromptFormat>, f64)> = self
            .entries
            .iter()
            .filter(|(t, w)| *w > 0.0 && eligible(t.as_ref()))
            .collect();
        let total: f64 = ok.iter().map(|e| e.1).sum();
        let mut at = u * total;
        for (t, w) in &ok {
            if at < *w {
                return Some(t);
            }
            at -= w;
        }
        ok.last().map(|e| &e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PromptInput<'static> {
        PromptInput {
            instruction: "Name a prime.",
            input: Some("Below ten."),
            reference: None,
            first: "FIRST-ANSWER",
            second: "SECOND-ANSWER",
        }
    }

    #[test]
    fn every_builtin_shows_both_responses_in_order() {
        for name in BUILTIN {
            let t = builtin(name).unwrap();
            assert_eq!(t.name(), name);
            let msgs = t.render(&input());
            let user = &msgs.last().unwrap().content;
            assert_eq!(msgs.last().unwrap().role, "user");
            let (a, b) = (
                user.find("FIRST-ANSWER").unwrap(),
                user.find("SECOND-ANSWER").unwrap(),
            );
            assert!(a < b, "{name}");
            assert!(
                user.contains("Name a prime.") && user.contains("Below ten."),
                "{name}"
            );
            // The prompt names the responses the way its naming says.
            let text = t.text();
            assert!(text.contains(&t.naming().name(1)), "{name}");
            assert!(text.contains(&t.naming().name(2)), "{name}");
        }
    }

    #[test]
    fn reference_is_shown_when_given() {
        for name in BUILTIN {
            let t = builtin(name).unwrap();
            let mut p = input();
            p.reference = Some("REFERENCE-TEXT");
            assert!(
                t.render(&p)
                    .last()
                    .unwrap()
                    .content
                    .contains("REFERENCE-TEXT")
            );
            assert!(
                !t.render(&input())
                    .last()
                    .unwrap()
                    .content
                    .contains("REFERENCE-TEXT")
            );
        }
    }

    #[test]
    fn mix_follows_weights_among_eligible() {
        let mix = TemplateMix::new(vec![
            (builtin("mt-bench-pair").unwrap(), 3.0),
            (builtin("judgelm").unwrap(), 1.0),
        ]);
        let n = 10_000;
        let mut judgelm = 0;
        for i in 0..n {
            let u = (i as f64 + 0.5) / n as f64;
            if mix.choose(u, |_| true).unwrap().name() == "judgelm" {
                judgelm += 1;
            }
            // Without scores, JudgeLM cannot carry the target.
            let t = mix.choose(u, |t| !t.convention().needs_scores()).unwrap();
            assert_eq!(t.name(), "mt-bench-pair");
        }
        assert_eq!(judgelm, 2500);
        assert!(mix.choose(0.5, |_| false).is_none());
    }
}
