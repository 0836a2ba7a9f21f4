//! One training example and its three layouts.
//!
//! Every layout carries the same flat fields beside its own, so that a trainer that wants the
//! parts (a reward model scores `instruction` + `response_a` against `instruction` +
//! `response_b`) need not parse the prompt:
//!
//! `id`, `item`, `instruction`, `input`, `reference` (as shown in the prompt; `null` when
//! none or dropped), `mode` (`pairwise`), `response_a`, `response_b` (in the order shown),
//! `model_a`, `model_b` (the models shown first and second), `label` (`A`, `B` or `tie`, `A`
//! meaning the response shown first is better), `scores` (the two scores in the same frame,
//! or `null`), `order` (`AB` when shown as in the teacher's record, `BA` when swapped),
//! `template`, `source` (the teacher's annotator, or `human`).
//!
//! In the Alpaca layout `instruction`, `input` and `output` are Alpaca's (the judge prompt and
//! its answer), so the item's instruction and input are written as `item_instruction` and
//! `item_input` there.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::config::ExampleFormat;
use crate::convention::Choice;
use crate::teacher::Order;
use crate::template::Message;

/// One training example; its texts are borrowed from the item and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Example<'a> {
    /// `item:model_a:model_b`, unique in a dataset.
    pub id: String,
    /// The item.
    pub item: &'a str,
    /// The item's instruction.
    pub instruction: &'a str,
    /// The item's input.
    pub input: Option<&'a str>,
    /// The reference answer shown in the prompt.
    pub reference: Option<&'a str>,
    /// The response shown first.
    pub response_a: &'a str,
    /// The response shown second.
    pub response_b: &'a str,
    /// The model shown first.
    pub model_a: &'a str,
    /// The model shown second.
    pub model_b: &'a str,
    /// The preference in the frame shown.
    pub label: Choice,
    /// The scores in the frame shown.
    pub scores: Option<(f64, f64)>,
    /// `AB` as in the source record, `BA` swapped.
    pub order: Order,
    /// The template.
    pub template: &'a str,
    /// The teacher's annotator, or `human`.
    pub source: &'a str,
    /// The prompt.
    pub prompt: Vec<Message>,
    /// The answer the model is trained to give.
    pub target: String,
}

struct Flat<'a, 'b>(&'a Example<'b>, bool);

impl Flat<'_, '_> {
    fn write<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        let e = self.0;
        m.serialize_entry("id", &e.id)?;
        m.serialize_entry("item", &e.item)?;
        if self.1 {
            m.serialize_entry("item_instruction", &e.instruction)?;
            m.serialize_entry("item_input", &e.input)?;
        } else {
            m.serialize_entry("instruction", &e.instruction)?;
            m.serialize_entry("input", &e.input)?;
        }
        m.serialize_entry("reference", &e.reference)?;
        m.serialize_entry("mode", "pairwise")?;
        m.serialize_entry("response_a", &e.response_a)?;
        m.serialize_entry("response_b", &e.response_b)?;
        m.serialize_entry("model_a", &e.model_a)?;
        m.serialize_entry("model_b", &e.model_b)?;
        m.serialize_entry("label", e.label.as_str())?;
        m.serialize_entry("scores", &e.scores.map(|(a, b)| [a, b]))?;
        m.serialize_entry("order", e.order.as_str())?;
        m.serialize_entry("template", &e.template)?;
        m.serialize_entry("source", &e.source)
    }
}

#[derive(Serialize)]
struct Turn<'a> {
    from: &'a str,
    value: &'a str,
}

struct MessagesRow<'a, 'b>(&'a Example<'b>);
struct SharegptRow<'a, 'b>(&'a Example<'b>);
struct AlpacaRow<'a, 'b>(&'a Example<'b>);

impl Serialize for MessagesRow<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        let mut messages: Vec<&Message> = e.prompt.iter().collect();
        #[derive(Serialize)]
        struct Answer<'t> {
            role: &'static str,
            content: &'t str,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Turn<'t> {
            Prompt(&'t Message),
            Answer(Answer<'t>),
        }
        let mut turns: Vec<Turn<'_>> = messages.drain(..).map(Turn::Prompt).collect();
        turns.push(Turn::Answer(Answer {
            role: "assistant",
            content: &e.target,
        }));
        m.serialize_entry("messages", &turns)?;
        Flat(e, false).write(&mut m)?;
        m.end()
    }
}

impl Serialize for SharegptRow<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        let mut turns: Vec<Turn<'_>> = e
            .prompt
            .iter()
            .map(|msg| Turn {
                from: match msg.role {
                    "system" => "system",
                    "assistant" => "gpt",
                    _ => "human",
                },
                value: &msg.content,
            })
            .collect();
        turns.push(Turn {
            from: "gpt",
            value: &e.target,
        });
        m.serialize_entry("conversations", &turns)?;
        Flat(e, false).write(&mut m)?;
        m.end()
    }
}

impl Serialize for AlpacaRow<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        let system: Vec<&str> = e
            .prompt
            .iter()
            .filter(|p| p.role == "system")
            .map(|p| p.content.as_str())
            .collect();
        let user: Vec<&str> = e
            .prompt
            .iter()
            .filter(|p| p.role != "system")
            .map(|p| p.content.as_str())
            .collect();
        m.serialize_entry("instruction", &user.join("\n\n"))?;
        m.serialize_entry("input", "")?;
        m.serialize_entry("output", &e.target)?;
        m.serialize_entry("system", &system.join("\n\n"))?;
        Flat(e, true).write(&mut m)?;
        m.end()
    }
}

impl Example<'_> {
    /// The example as one JSON line (with the final newline) in a layout.
    pub fn to_line(&self, format: ExampleFormat, out: &mut Vec<u8>) {
        // Serialising plain strings and numbers into a Vec cannot fail.
        let _ = match format {
            ExampleFormat::Messages => serde_json::to_writer(&mut *out, &MessagesRow(self)),
            ExampleFormat::Sharegpt => serde_json::to_writer(&mut *out, &SharegptRow(self)),
            ExampleFormat::Alpaca => serde_json::to_writer(&mut *out, &AlpacaRow(self)),
        };
        out.push(b'\n');
    }
}

/// What the checker reads back from a written example.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// `id`.
    pub id: Option<String>,
    /// `item`.
    pub item: Option<String>,
    /// The item's instruction.
    pub instruction: Option<String>,
    /// The item's input.
    pub input: Option<String>,
    /// `label`.
    pub label: Option<String>,
    /// `scores`.
    pub scores: Option<(f64, f64)>,
    /// `template`.
    pub template: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `response_a` and `response_b`.
    pub responses: Option<(String, String)>,
    /// The prompt text (every message but the answer, joined).
    pub prompt: Option<String>,
    /// The answer.
    pub target: Option<String>,
}

impl Written {
    /// Reads an example in a layout from its JSON fields.
    pub fn from_fields(
        format: ExampleFormat,
        f: &serde_json::Map<String, serde_json::Value>,
    ) -> Written {
        use serde_json::Value;
        let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
        let (instruction, input) = match format {
            ExampleFormat::Alpaca => (s("item_instruction"), s("item_input")),
            _ => (s("instruction"), s("input")),
        };
        let (prompt, target) = match format {
            ExampleFormat::Messages | ExampleFormat::Sharegpt => {
                let (list, role_key, text_key, answer_role) = if format == ExampleFormat::Messages {
                    ("messages", "role", "content", "assistant")
                } else {
                    ("conversations", "from", "value", "gpt")
                };
                match f.get(list).and_then(Value::as_array) {
                    Some(turns) if !turns.is_empty() => {
                        let text = |t: &Value| {
                            t.get(text_key)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string()
                        };
                        let last = &turns[turns.len() - 1];
                        let target = (last.get(role_key).and_then(Value::as_str)
                            == Some(answer_role))
                        .then(|| text(last));
                        let prompt = turns[..turns.len() - 1]
                            .iter()
                            .map(text)
                            .collect::<Vec<_>>()
                            .join("\n\n");
                        (Some(prompt), target)
                    }
                    _ => (None, None),
                }
            }
            ExampleFormat::Alpaca => {
                let prompt = [s("system"), s("instruction"), s("input")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n\n");
                (Some(prompt), s("output"))
            }
        };
        let scores = f.get("scores").and_then(Value::as_array).and_then(|a| {
            match (
                a.first().and_then(Value::as_f64),
                a.get(1).and_then(Value::as_f64),
            ) {
                (Some(x), Some(y)) if a.len() == 2 => Some((x, y)),
                _ => None,
            }
        });
        Written {
            id: s("id"),
            item: s("item"),
            instruction,
            input,
            label: s("label"),
            scores,
            template: s("template"),
            source: s("source"),
            responses: s("response_a").zip(s("response_b")),
            prompt,
            target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Example<'static> {
        Example {
            id: "q1:x:y:AB:mt-bench-pair".into(),
            item: "q1",
            instruction: "Name a prime",
            input: None,
            reference: None,
            response_a: "2",
            response_b: "4",
            model_a: "x",
            model_b: "y",
            label: Choice::A,
            scores: None,
            order: Order::AB,
            template: "mt-bench-pair",
            source: "judge:t",
            prompt: vec![
                Message::new("system", "SYS"),
                Message::new("user", "USER 2 4"),
            ],
            target: "2 is prime.\n\n[[A]]".into(),
        }
    }

    #[test]
    fn every_layout_round_trips_through_the_reader() {
        for format in [
            ExampleFormat::Messages,
            ExampleFormat::Sharegpt,
            ExampleFormat::Alpaca,
        ] {
            let mut line = Vec::new();
            example().to_line(format, &mut line);
            assert_eq!(line.last(), Some(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let w = Written::from_fields(format, v.as_object().unwrap());
            assert_eq!(
                w.target.as_deref(),
                Some("2 is prime.\n\n[[A]]"),
                "{format:?}"
            );
            assert_eq!(w.instruction.as_deref(), Some("Name a prime"), "{format:?}");
            assert_eq!(w.label.as_deref(), Some("A"));
            assert_eq!(w.item.as_deref(), Some("q1"));
            assert!(w.prompt.unwrap().contains("USER 2 4"));
            assert_eq!(w.responses, Some(("2".into(), "4".into())));
        }
    }

    #[test]
    fn messages_layout_is_the_openai_shape() {
        let mut line = Vec::new();
        example().to_line(ExampleFormat::Messages, &mut line);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][2]["role"], "assistant");
        assert_eq!(v["mode"], "pairwise");
        assert_eq!(v["scores"], serde_json::Value::Null);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "messages",
                "id",
                "item",
                "instruction",
                "input",
                "reference",
                "mode",
                "response_a",
                "response_b",
                "model_a",
                "model_b",
                "label",
                "scores",
                "order",
                "template",
                "source"
            ]
        );
    }
}
