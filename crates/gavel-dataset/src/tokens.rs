//! Token counts for the length filters: exact with a Hugging Face `tokenizer.json`, else the
//! estimate of [`crate::text::estimate_tokens`].

use std::path::Path;

use crate::error::DatasetError;
use crate::template::Message;

/// Counts tokens.
pub trait TokenCounter: Send + Sync {
    /// The tokens of a text.
    fn count(&self, text: &str) -> usize;
    /// What counts (for the card).
    fn describe(&self) -> String;
}

/// Tokens a chat format adds per message (role markers and separators): the usual allowance
/// for ChatML-style templates.
pub const PER_MESSAGE: usize = 4;

/// The tokens of a prompt: every message's text, plus [`PER_MESSAGE`] each.
pub fn count_messages(counter: &dyn TokenCounter, messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| counter.count(&m.content) + PER_MESSAGE)
        .sum()
}

/// The estimate: no tokenizer needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate;

impl TokenCounter for Estimate {
    fn count(&self, text: &str) -> usize {
        crate::text::estimate_tokens(text)
    }

    fn describe(&self) -> String {
        "estimated (about 4 characters per token; pass --tokenizer for exact counts)".into()
    }
}

/// Loads a counter: the tokenizer file when given, else the estimate.
pub fn counter(tokenizer: Option<&Path>) -> Result<Box<dyn TokenCounter>, DatasetError> {
    match tokenizer {
        None => Ok(Box::new(Estimate)),
        Some(path) => load_tokenizer(path),
    }
}

#[cfg(feature = "tokenizers")]
fn load_tokenizer(path: &Path) -> Result<Box<dyn TokenCounter>, DatasetError> {
    let tk = tokenizers::Tokenizer::from_file(path).map_err(|e| DatasetError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Check once that it encodes, so that a broken file fails here and not per example.
    tk.encode("check", false)
        .map_err(|e| DatasetError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Box::new(HfTokenizer {
        tk,
        name: path.display().to_string(),
        _file: name,
    }))
}

#[cfg(not(feature = "tokenizers"))]
fn load_tokenizer(path: &Path) -> Result<Box<dyn TokenCounter>, DatasetError> {
    Err(DatasetError::Tokenizer {
        path: path.to_path_buf(),
        message: "gavel was built without the `tokenizers` feature; leave out --tokenizer to \
                  use the estimate"
            .into(),
    })
}

/// A Hugging Face tokenizer.
#[cfg(feature = "tokenizers")]
struct HfTokenizer {
    tk: tokenizers::Tokenizer,
    name: String,
    _file: String,
}

#[cfg(feature = "tokenizers")]
impl TokenCounter for HfTokenizer {
    fn count(&self, text: &str) -> usize {
        // Encoding a valid string only fails on a broken tokenizer, which `load_tokenizer`
        // rules out; the estimate stands in rather than stopping the build.
        self.tk
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or_else(|_| crate::text::estimate_tokens(text))
    }

    fn describe(&self) -> String {
        format!("counted with the tokenizer {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_add_an_allowance_each() {
        let m = vec![Message::new("system", "a b"), Message::new("user", "c")];
        assert_eq!(count_messages(&Estimate, &m), 2 + 1 + 2 * PER_MESSAGE);
    }

    #[test]
    fn a_missing_tokenizer_file_is_an_error() {
        let e = counter(Some(Path::new("/nonexistent/tokenizer.json")))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("/nonexistent/tokenizer.json: "), "{e}");
    }
}
