//! The Item record: an instruction (single- or multi-turn) and the responses to judge.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::{Fields, string_list};
use crate::read::{FromRecord, RawRecord, json_type_name};

/// Text that is either one string or one string per conversation turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A single-turn text.
    Text(String),
    /// One text per turn.
    Turns(Vec<String>),
}

impl Content {
    /// The text of turn `i` (0-based); a single text is turn 0.
    pub fn turn(&self, i: usize) -> Option<&str> {
        match self {
            Content::Text(s) if i == 0 => Some(s),
            Content::Text(_) => None,
            Content::Turns(t) => t.get(i).map(String::as_str),
        }
    }

    /// The number of turns (1 for a single text).
    pub fn n_turns(&self) -> usize {
        match self {
            Content::Text(_) => 1,
            Content::Turns(t) => t.len(),
        }
    }

    /// The last turn's text (the whole text for a single one); empty if there are no turns.
    pub fn last(&self) -> &str {
        match self {
            Content::Text(s) => s,
            Content::Turns(t) => t.last().map(String::as_str).unwrap_or(""),
        }
    }

    fn from_value(name: &str, value: Value) -> Result<Content, FieldError> {
        match value {
            Value::String(s) => Ok(Content::Text(s)),
            v @ Value::Array(_) => string_list(name, v).map(Content::Turns),
            other => Err(FieldError::new(
                name,
                format!(
                    "expected a string or an array of strings (one per turn), found {}",
                    json_type_name(&other)
                ),
            )),
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(t) => t.serialize(s),
            Content::Turns(t) => t.serialize(s),
        }
    }
}

/// `{"id": "q1", "instruction": "...", "input": "...", "reference": "...", "category": "...",
/// "responses": {"model-x": "text"}}`; multi-turn items carry `"turns": ["q1", "q2"]` and
/// per-turn responses (`"responses": {"model-x": ["a1", "a2"]}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The item's identifier (defaults to the record's number in the file).
    pub id: String,
    /// The instruction; for multi-turn items, the first turn.
    pub instruction: String,
    /// Optional context that goes with the instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// An optional reference answer (one per turn for multi-turn items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Content>,
    /// An optional category, used for filters and per-category reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The user turns of a multi-turn item; empty for a single-turn item.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<String>,
    /// Responses by model name, in file order.
    #[serde(serialize_with = "serialize_responses")]
    pub responses: Vec<(String, Content)>,
    /// Fields gavel does not know, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn serialize_responses<S: Serializer>(r: &[(String, Content)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(r.len()))?;
    for (k, v) in r {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl Item {
    /// Whether the item is a multi-turn conversation.
    pub fn is_multi_turn(&self) -> bool {
        self.turns.len() > 1
    }

    /// The response of a model, if present.
    pub fn response(&self, model: &str) -> Option<&Content> {
        self.responses
            .iter()
            .find(|(m, _)| m == model)
            .map(|(_, c)| c)
    }

    /// The model names, in file order.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.responses.iter().map(|(m, _)| m.as_str())
    }
}

impl FromRecord for Item {
    fn from_record(record: RawRecord) -> Result<Item, FieldError> {
        let number = record.location.record;
        let mut f = Fields::new(record);
        let id = f.opt_string("id")?.unwrap_or_else(|| number.to_string());
        let turns = f.opt_string_list("turns")?.unwrap_or_default();
        let instruction = match f.opt_text("instruction")? {
            Some(s) => s,
            None => match turns.first() {
                Some(first) => first.clone(),
                None => return Err(FieldError::missing("instruction")),
            },
        };
        let input = f.opt_text("input")?;
        let reference = match f.take_value("reference") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() && f.is_text_table() => None,
            Some(Value::String(s)) if f.is_text_table() && s.trim_start().starts_with('[') => {
                let v = serde_json::from_str::<Value>(&s).map_err(|e| {
                    FieldError::new(
                        "reference",
                        format!("cell looks like a JSON array but does not parse: {e}"),
                    )
                })?;
                Some(Content::from_value("reference", v)?)
            }
            Some(v) => Some(Content::from_value("reference", v)?),
        };
        let category = f.opt_string("category")?;
        let mut responses = Vec::new();
        if let Some(map) = f.opt_object("responses")? {
            for (model, value) in map {
                let name = format!("responses.{model}");
                responses.push((model, Content::from_value(&name, value)?));
            }
        }
        Ok(Item {
            id,
            instruction,
            input,
            reference,
            category,
            turns,
            responses,
            extra: f.into_extra(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, RecordReader};

    fn items(text: &str) -> Vec<Result<Item, String>> {
        RecordReader::from_reader(
            "i",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Item>()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
    }

    #[test]
    fn single_and_multi_turn() {
        let got = items(concat!(
            "{\"id\":\"q1\",\"instruction\":\"hi\",\"responses\":{\"x\":\"a\",\"y\":\"b\"},\"k\":1}\n",
            "{\"id\":\"q2\",\"turns\":[\"t1\",\"t2\"],\"reference\":[\"r1\",\"r2\"],\"responses\":{\"x\":[\"a1\",\"a2\"]}}\n",
        ));
        let a = got[0].as_ref().unwrap();
        assert_eq!(a.models().collect::<Vec<_>>(), vec!["x", "y"]);
        assert_eq!(a.extra["k"], 1);
        let b = got[1].as_ref().unwrap();
        assert!(b.is_multi_turn());
        assert_eq!(b.instruction, "t1");
        assert_eq!(b.response("x").unwrap().turn(1), Some("a2"));
        assert_eq!(b.reference.as_ref().unwrap().n_turns(), 2);
    }

    #[test]
    fn errors_name_fields() {
        let got = items("{\"id\":\"q\"}\n{\"instruction\":\"a\",\"responses\":{\"x\":3}}\n");
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            "i:1: field `instruction`: is required but missing"
        );
        assert!(
            got[1]
                .as_ref()
                .unwrap_err()
                .starts_with("i:2: field `responses.x`: expected a string or an array")
        );
    }

    #[test]
    fn round_trips_through_json() {
        let got =
            items("{\"id\":\"q1\",\"instruction\":\"hi\",\"responses\":{\"x\":\"a\"},\"k\":1}\n");
        let json = serde_json::to_string(got[0].as_ref().unwrap()).unwrap();
        assert_eq!(
            json,
            "{\"id\":\"q1\",\"instruction\":\"hi\",\"responses\":{\"x\":\"a\"},\"k\":1}"
        );
    }
}
