//! The judge prompt formats a training example is rendered in, and the mixing of several by
//! configurable shares (JudgeLM's remedy for format bias).
//!
//! Prompts come from gavel-judge's template library ([`gavel_judge::template::Template`]), so
//! an example's prompt is exactly what `gavel judge --template NAME` sends for the same item
//! and order: a judge trained on the set is run with the template it was trained on, and its
//! answers are read by the same parser. [`PromptFormat`] is what the builder needs from a
//! template: the output [`Convention`] its targets are written in, how it names the two
//! responses ([`Naming`], for rewriting rationales), whether it shows a reference answer, and
//! the messages for one presentation.
//!
//! Any pairwise template works whose convention the builder can write: the built-ins
//! `mt-bench-pair`, `mt-bench-pair-ref`, `pandalm`, `judgelm`, `auto-j-pair`,
//! `prometheus-relative`, `alpaca-eval`, and template files using those conventions.

use std::sync::Arc;

use gavel_core::{Content, Item};
use gavel_judge::runner::prompt::{JudgePrompt, Shown, View};
use gavel_judge::template::{self as judge_template, PromptOptions, Template, TemplatePrompt};
use serde::Serialize;

use crate::convention::{Choice, Convention};
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

/// How a template uses the item's reference answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceUse {
    /// Never shown.
    None,
    /// Shown when there is one.
    Optional,
    /// Needed: examples without one cannot use the template.
    Required,
}

/// What one presentation shows the judge.
#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    /// The item (instruction, input, fields such as a rubric).
    pub item: &'a Item,
    /// Whether the item's reference answer is shown (false when dropped).
    pub show_reference: bool,
    /// The model shown first, and its response.
    pub first: (&'a str, &'a Content),
    /// The model shown second, and its response.
    pub second: (&'a str, &'a Content),
}

/// A judge prompt format as the builder uses it.
pub trait PromptFormat: Send + Sync {
    /// The template's name.
    fn name(&self) -> &str;
    /// How the judge writes its verdict.
    fn convention(&self) -> Convention;
    /// How the prompt names the two responses.
    fn naming(&self) -> Naming;
    /// How the prompt uses a reference answer.
    fn reference(&self) -> ReferenceUse;
    /// A field the template needs that the item lacks (e.g. a rubric).
    fn missing_field(&self, item: &Item) -> Option<String>;
    /// The messages for one presentation (without the answer).
    fn render(&self, input: &PromptInput<'_>) -> Result<Vec<Message>, String>;
    /// The SHA-256 of the template text (for the card).
    fn sha256(&self) -> String;

    /// Whether the template can take this example: its convention can state the verdict, and
    /// the item has what the template needs.
    fn accepts(&self, choice: Choice, scores: bool, has_reference: bool, item: &Item) -> bool {
        self.convention().can_carry(choice, scores)
            && (has_reference || self.reference() != ReferenceUse::Required)
            && self.missing_field(item).is_none()
    }
}

/// The built-in templates the builder can write targets for.
pub const BUILTIN: [&str; 7] = [
    "mt-bench-pair",
    "mt-bench-pair-ref",
    "pandalm",
    "judgelm",
    "auto-j-pair",
    "prometheus-relative",
    "alpaca-eval",
];

/// How a template names the responses: the built-ins by name, other templates by their
/// convention's usual names.
fn naming_of(name: &str, convention: Convention) -> Naming {
    match name {
        "judgelm" => Naming::ASSISTANT_DIGIT,
        "prometheus-relative" => Naming::RESPONSE_LETTER,
        _ => match convention {
            Convention::ChoiceBrackets => Naming::ASSISTANT_LETTER,
            Convention::PandaLm | Convention::AutoJPair => Naming::RESPONSE_DIGIT,
            Convention::TwoScores => Naming::ASSISTANT_DIGIT,
            Convention::ResultChoice => Naming::RESPONSE_LETTER,
            Convention::AlpacaEval => Naming::OUTPUT_PAREN,
        },
    }
}

/// A template of gavel-judge's library as a prompt format.
pub struct JudgeTemplate {
    name: String,
    convention: Convention,
    naming: Naming,
    reference: ReferenceUse,
    sha256: String,
    prompt: TemplatePrompt,
}

/// Loads a template by name or path (as `gavel judge --template` does) for the builder.
pub fn resolve(spec: &str) -> Result<Arc<dyn PromptFormat>, String> {
    let template = Template::resolve(spec).map_err(|e| e.to_string())?;
    let info = template.info().clone();
    if !template.kind().is_pairwise() {
        return Err(format!(
            "template `{}` is {}, not pairwise; the dataset builder writes pairwise examples ({})",
            info.name,
            info.mode,
            BUILTIN.join(", ")
        ));
    }
    let convention = Convention::from_id(template.convention().id()).ok_or_else(|| {
        format!(
            "template `{}` answers in the `{}` convention, which the dataset builder cannot \
             write; use one of {}",
            info.name,
            template.convention().id(),
            BUILTIN.join(", ")
        )
    })?;
    let reference = match info.reference {
        judge_template::ReferenceUse::None => ReferenceUse::None,
        judge_template::ReferenceUse::Optional => ReferenceUse::Optional,
        judge_template::ReferenceUse::Required => ReferenceUse::Required,
    };
    Ok(Arc::new(JudgeTemplate {
        naming: naming_of(&info.name, convention),
        name: info.name.clone(),
        convention,
        reference,
        sha256: info.sha256.clone(),
        prompt: TemplatePrompt::new(Arc::new(template), PromptOptions::default()),
    }))
}

impl std::fmt::Debug for JudgeTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeTemplate")
            .field("name", &self.name)
            .finish()
    }
}

fn role(r: &str) -> &'static str {
    match r {
        "system" => "system",
        "assistant" => "assistant",
        _ => "user",
    }
}

impl PromptFormat for JudgeTemplate {
    fn name(&self) -> &str {
        &self.name
    }

    fn convention(&self) -> Convention {
        self.convention
    }

    fn naming(&self) -> Naming {
        self.naming
    }

    fn reference(&self) -> ReferenceUse {
        self.reference
    }

    fn missing_field(&self, item: &Item) -> Option<String> {
        self.prompt.missing_field(item)
    }

    fn render(&self, p: &PromptInput<'_>) -> Result<Vec<Message>, String> {
        let shown = Shown::Pair {
            first_model: p.first.0,
            first: p.first.1,
            second_model: p.second.0,
            second: p.second.1,
        };
        let messages = if p.show_reference || p.item.reference.is_none() {
            self.prompt.render(&View {
                item: p.item,
                shown,
            })?
        } else {
            // The reference is dropped: the same item without it (responses are passed apart).
            let item = Item {
                id: p.item.id.clone(),
                instruction: p.item.instruction.clone(),
                input: p.item.input.clone(),
                reference: None,
                category: p.item.category.clone(),
                turns: p.item.turns.clone(),
                responses: Vec::new(),
                extra: p.item.extra.clone(),
            };
            self.prompt.render(&View { item: &item, shown })?
        };
        Ok(messages
            .into_iter()
            .map(|m| Message::new(role(&m.role), m.content))
            .collect())
    }

    fn sha256(&self) -> String {
        self.sha256.clone()
    }
}

/// Several formats with weights; each example's format is drawn by a hash among those that
/// can take it.
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
    /// in proportion to their weights; `None` when none is eligible. Returns its position too.
    pub fn choose(
        &self,
        u: f64,
        eligible: impl Fn(&dyn PromptFormat) -> bool,
    ) -> Option<(usize, &Arc<dyn PromptFormat>)> {
        let ok: Vec<(usize, &(Arc<dyn PromptFormat>, f64))> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (t, w))| *w > 0.0 && eligible(t.as_ref()))
            .collect();
        let total: f64 = ok.iter().map(|e| e.1.1).sum();
        let mut at = u * total;
        for (i, (t, w)) in &ok {
            if at < *w {
                return Some((*i, t));
            }
            at -= w;
        }
        ok.last().map(|(i, e)| (*i, &e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        let line = r#"{"id": "q", "instruction": "Name a prime.", "input": "Below ten.", "responses": {"x": "FIRST-ANSWER", "y": "SECOND-ANSWER"}}"#;
        gavel_core::RecordReader::from_reader(
            "i",
            gavel_core::Format::Jsonl,
            Box::new(std::io::Cursor::new(line.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Item>()
        .next()
        .unwrap()
        .unwrap()
    }

    #[test]
    fn every_builtin_shows_both_responses_in_order() {
        let it = item();
        let (a, b) = (it.response("x").unwrap(), it.response("y").unwrap());
        for name in BUILTIN {
            let t = resolve(name).unwrap();
            assert_eq!(t.name(), name);
            if t.reference() == ReferenceUse::Required || t.missing_field(&it).is_some() {
                continue;
            }
            let msgs = t
                .render(&PromptInput {
                    item: &it,
                    show_reference: false,
                    first: ("x", a),
                    second: ("y", b),
                })
                .unwrap();
            let user = &msgs.last().unwrap().content;
            let (i, j) = (
                user.find("FIRST-ANSWER").unwrap(),
                user.find("SECOND-ANSWER").unwrap(),
            );
            assert!(i < j, "{name}");
            assert!(user.contains("Name a prime."), "{name}");
        }
    }

    #[test]
    fn non_pairwise_templates_are_refused() {
        assert!(
            resolve("mt-bench-single")
                .err()
                .unwrap()
                .contains("not pairwise")
        );
        assert!(resolve("no-such-template").is_err());
    }

    #[test]
    fn mix_follows_weights_among_eligible() {
        let mix = TemplateMix::new(vec![
            (resolve("mt-bench-pair").unwrap(), 3.0),
            (resolve("judgelm").unwrap(), 1.0),
        ]);
        let n = 10_000;
        let mut judgelm = 0;
        for i in 0..n {
            let u = (i as f64 + 0.5) / n as f64;
            if mix.choose(u, |_| true).unwrap().1.name() == "judgelm" {
                judgelm += 1;
            }
            // Without scores, JudgeLM cannot carry the target.
            let (k, t) = mix
                .choose(u, |t| t.convention().can_carry(Choice::A, false))
                .unwrap();
            assert_eq!((k, t.name()), (0, "mt-bench-pair"));
        }
        assert_eq!(judgelm, 2500);
        assert!(mix.choose(0.5, |_| false).is_none());
    }
}
