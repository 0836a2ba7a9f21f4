//! What the runner needs from a judge prompt: render the messages for one presentation of an
//! item, read a verdict from an answer, and say what kind of verdict it is.
//!
//! [`JudgePrompt`] is the seam between the runner and the template library
//! ([`crate::template::TemplatePrompt`]): the runner never looks inside a template. Another
//! judge (a local model, a test double) can implement it with [`JudgePrompt::render`] and
//! [`JudgePrompt::parse`] alone; the other methods have defaults.

use gavel_core::{Content, Item};
use serde_json::{Map, Value};

use crate::backend::{ChatMessage, Completion};
use crate::protocol::{Kind, Verdict};

/// The responses shown to the judge for one call.
#[derive(Debug, Clone, Copy)]
pub enum Shown<'a> {
    /// Two responses, in the order shown.
    Pair {
        /// The model shown first.
        first_model: &'a str,
        /// Its response.
        first: &'a Content,
        /// The model shown second.
        second_model: &'a str,
        /// Its response.
        second: &'a Content,
    },
    /// One response.
    Single {
        /// The model.
        model: &'a str,
        /// Its response.
        response: &'a Content,
    },
}

/// One presentation of an item to the judge.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The item (instruction, input, reference, turns...).
    pub item: &'a Item,
    /// The responses shown, in order.
    pub shown: Shown<'a>,
}

/// A verdict read from an answer, with the explanation when the format separates one.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The verdict, in the order shown.
    pub verdict: Verdict,
    /// The judge's explanation.
    pub rationale: Option<String>,
}

/// The messages of one presentation, with facts about it for the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The chat messages.
    pub messages: Vec<ChatMessage>,
    /// Facts written into the `orders` entry (`delimiter_in_judged_text`,
    /// `judged_text_has_verdict_token`...).
    pub notes: Map<String, Value>,
}

/// A reading of an answer in the context of what was shown, with facts for the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The verdict, or why there is none.
    pub parsed: Result<Parsed, String>,
    /// Facts written into the `orders` entry (`ignored_verdicts`, `p_first`...).
    pub notes: Map<String, Value>,
}

/// A judge prompt as the runner uses it.
pub trait JudgePrompt: Send + Sync {
    /// The template's name (written as `template`, and in the annotator name).
    fn name(&self) -> &str;

    /// The SHA-256 of the template's text, so that a changed prompt is visible in the records.
    fn sha256(&self) -> Option<String>;

    /// What the prompt asks for.
    fn kind(&self) -> Kind;

    /// Whether the prompt needs the item's reference answer.
    fn needs_reference(&self) -> bool {
        false
    }

    /// A field the prompt needs that this item lacks (the item is then skipped).
    fn missing_field(&self, _item: &Item) -> Option<String> {
        None
    }

    /// The messages for one presentation.
    fn render(&self, view: &View<'_>) -> Result<Vec<ChatMessage>, String>;

    /// The messages for one presentation, with notes for the record (the runner calls this).
    fn render_noted(&self, view: &View<'_>) -> Result<Rendered, String> {
        Ok(Rendered {
            messages: self.render(view)?,
            notes: Map::new(),
        })
    }

    /// Reads the verdict from an answer (its text, and log-probabilities when requested).
    fn parse(&self, answer: &Completion) -> Result<Parsed, String>;

    /// Reads the verdict from an answer to this presentation: knowing the judged texts, a prompt
    /// can refuse verdicts quoted from them (the runner calls this).
    fn read(&self, _view: &View<'_>, answer: &Completion) -> Read {
        Read {
            parsed: self.parse(answer),
            notes: Map::new(),
        }
    }

    /// A JSON schema `response_format` for structured output, when the prompt offers one.
    fn response_format(&self) -> Option<Value> {
        None
    }

    /// The follow-up message when an answer did not parse (see `--reask`).
    fn reask(&self, error: &str) -> String {
        format!(
            "Your reply could not be read ({error}). Please answer again and give your final \
             verdict in exactly the format the instructions ask for."
        )
    }
}
