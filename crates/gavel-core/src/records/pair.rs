//! The Pair record: one hypothesis and its references, for reference metrics.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::fields::Fields;
use crate::read::{FromRecord, RawRecord};

/// `{"id": "s1", "hypothesis": "...", "references": ["...", "..."]}`; `reference` (one string) is
/// accepted for `references`, and `id` defaults to the record's number in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// The pair's identifier.
    pub id: String,
    /// The system output.
    pub hypothesis: String,
    /// One or more references (segments may have different numbers of references).
    pub references: Vec<String>,
    /// Fields gavel does not know, passed through where records are rewritten.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FromRecord for Pair {
    fn from_record(record: RawRecord) -> Result<Pair, FieldError> {
        let number = record.location.record;
        let mut f = Fields::new(record);
        let id = f.opt_string("id")?.unwrap_or_else(|| number.to_string());
        // An empty hypothesis is legitimate (a system can output nothing); a CSV empty cell is "".
        let hypothesis = match f.take_value("hypothesis") {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => return Err(FieldError::missing("hypothesis")),
            Some(other) => {
                return Err(FieldError::new(
                    "hypothesis",
                    format!(
                        "expected a string, found {}",
                        crate::read::json_type_name(&other)
                    ),
                ));
            }
        };
        let references = match (f.has("references"), f.has("reference")) {
            (true, true) => {
                return Err(FieldError::new(
                    "reference",
                    "give either `reference` or `references`, not both",
                ));
            }
            (true, false) => f.opt_string_list("references")?,
            (false, true) => f.opt_string_list("reference")?,
            (false, false) => None,
        };
        let references = match references {
            Some(r) if !r.is_empty() => r,
            Some(_) => {
                return Err(FieldError::new(
                    "references",
                    "needs at least one reference",
                ));
            }
            None => return Err(FieldError::missing("references")),
        };
        Ok(Pair {
            id,
            hypothesis,
            references,
            extra: f.into_extra(),
        })
    }

    const JSON_FAST_PATH: bool = true;

    /// The common shape, `{"id": "..", "hypothesis": "..", "references": [".."]}` (or
    /// `"reference": ".."`) with no other field, read straight into the record. Any other shape,
    /// and anything the generic reader refuses, gives `None`: the generic reader then gives the
    /// same value or the error naming the field.
    fn from_json_line(line: &[u8]) -> Option<Pair> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Common {
            id: String,
            hypothesis: String,
            references: Option<Vec<String>>,
            reference: Option<String>,
        }
        let c: Common = serde_json::from_slice(line).ok()?;
        let references = match (c.references, c.reference) {
            (Some(list), None) if !list.is_empty() => list,
            (None, Some(one)) => vec![one],
            _ => return None,
        };
        Some(Pair {
            id: c.id,
            hypothesis: c.hypothesis,
            references,
            extra: Map::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path gives what the generic reader gives, or stands aside.
    #[test]
    fn the_json_fast_path_equals_the_generic_reader() {
        let lines = [
            r#"{"id": "a", "hypothesis": "h \u00e9", "references": ["r1", "r2"]}"#,
            r#"{"references": ["r"], "hypothesis": "", "id": "b"}"#,
            r#"{"id": "c", "hypothesis": "h", "reference": "r"}"#,
            r#"{"id": "d", "hypothesis": "h", "references": ["r"], "category": "x"}"#,
            r#"{"hypothesis": "h", "references": ["r"]}"#,
            r#"{"id": 5, "hypothesis": "h", "references": ["r"]}"#,
            r#"{"id": "e", "hypothesis": "h", "references": []}"#,
            r#"{"id": "f", "hypothesis": "h", "references": ["r"], "reference": "r"}"#,
            r#"{"id": "g", "hypothesis": null, "references": ["r"]}"#,
            r#"{"id": "h", "hypothesis": "h", "references": ["r", null]}"#,
            r#"{"id": "i", "hypothesis": "h", "reference": ["r", "s"]}"#,
            r#"{"id": "j", "id": "k", "hypothesis": "h", "references": ["r"]}"#,
        ];
        let mut fast_taken = 0;
        for (n, line) in lines.iter().enumerate() {
            // The generic way by hand: `typed` would itself take the fast path.
            let raw = RecordReader::from_reader(
                "p",
                Format::Jsonl,
                Box::new(std::io::Cursor::new(line.as_bytes().to_vec())),
            )
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
            let generic = Pair::from_record(raw).map_err(|e| e.to_string());
            if let Some(fast) = Pair::from_json_line(line.as_bytes()) {
                fast_taken += 1;
                assert_eq!(Ok(fast), generic, "line {n}: {line}");
            }
        }
        assert_eq!(fast_taken, 3);
    }
    use crate::read::{Format, RecordReader};

    fn pairs(format: Format, text: &str) -> Vec<Result<Pair, String>> {
        RecordReader::from_reader(
            "p",
            format,
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap()
        .typed::<Pair>()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
    }

    #[test]
    fn reads_single_and_multiple_references() {
        let got = pairs(
            Format::Jsonl,
            "{\"hypothesis\":\"a\",\"reference\":\"b\"}\n{\"id\":7,\"hypothesis\":\"\",\"references\":[\"x\",\"y\"],\"lang\":\"en\"}\n",
        );
        let a = got[0].as_ref().unwrap();
        assert_eq!((a.id.as_str(), a.references.len()), ("1", 1));
        let b = got[1].as_ref().unwrap();
        assert_eq!(b.id, "7");
        assert_eq!(b.hypothesis, "");
        assert_eq!(b.references, vec!["x", "y"]);
        assert_eq!(b.extra["lang"], "en");
    }

    #[test]
    fn field_errors_name_line_and_field() {
        let got = pairs(
            Format::Jsonl,
            "{\"hypothesis\":1,\"reference\":\"b\"}\n{\"hypothesis\":\"a\"}\n{\"hypothesis\":\"a\",\"references\":[\"x\",2]}\n{\"hypothesis\":\"a\",\"references\":[]}\n",
        );
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            "p:1: field `hypothesis`: expected a string, found a number"
        );
        assert_eq!(
            got[1].as_ref().unwrap_err(),
            "p:2: field `references`: is required but missing"
        );
        assert_eq!(
            got[2].as_ref().unwrap_err(),
            "p:3: field `references[1]`: expected a string, found a number"
        );
        assert_eq!(
            got[3].as_ref().unwrap_err(),
            "p:4: field `references`: needs at least one reference"
        );
    }

    #[test]
    fn csv_references_as_json_array_cell() {
        let got = pairs(
            Format::Csv,
            "hypothesis,references\nhi,\"[\"\"a\"\",\"\"b\"\"]\"\nho,plain\n",
        );
        assert_eq!(got[0].as_ref().unwrap().references, vec!["a", "b"]);
        assert_eq!(got[1].as_ref().unwrap().references, vec!["plain"]);
    }
}
