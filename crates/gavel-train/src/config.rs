//! `config.json` of a BERT-family encoder, as Hugging Face transformers writes it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The encoder families this crate builds. They share one architecture (post-norm transformer
/// encoder with learned absolute positions) and differ in how positions are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// BERT, MiniLM, ELECTRA-style discriminators saved as BERT: positions 0, 1, 2...
    Bert,
    /// RoBERTa and XLM-R: positions start after the padding index and padding keeps the
    /// padding index (fairseq's numbering).
    Roberta,
}

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// `model_type`: `bert`, `roberta`, `xlm-roberta`, `camembert`...
    pub model_type: String,
    /// Vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// The feed-forward activation (`gelu` is the exact erf form).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Rows of the position embedding.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding (0 or absent when the model has none).
    #[serde(default)]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// The padding token id.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Dropout on hidden states during training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities during training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Only `absolute` is supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}

impl EncoderConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<EncoderConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks the text of `config.json`.
    pub fn from_json(text: &str) -> Result<EncoderConfig, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if model_type.is_empty() {
            return Err("no `model_type`; expected a BERT-family encoder config \
                        (`bert`, `roberta`, `xlm-roberta`...)"
                .into());
        }
        let cfg: EncoderConfig = serde_json::from_value(value.clone())
            .map_err(|e| format!("not a BERT-family encoder config: {e}"))?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), String> {
        self.family()?;
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(format!("`{name}` must be positive"));
            }
        }
        match self.hidden_act.as_str() {
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu" => {}
            other => {
                return Err(format!(
                    "hidden_act `{other}` is not supported (gelu, gelu_new, relu are)"
                ));
            }
        }
        match self.position_embedding_type.as_deref() {
            None | Some("absolute") => {}
            Some(other) => {
                return Err(format!(
                    "position_embedding_type `{other}` is not supported (only `absolute`)"
                ));
            }
        }
        Ok(())
    }

    /// The family, from `model_type`.
    pub fn family(&self) -> Result<Family, String> {
        match self.model_type.as_str() {
            "bert" => Ok(Family::Bert),
            "roberta" | "xlm-roberta" | "camembert" => Ok(Family::Roberta),
            other => Err(format!(
                "model_type `{other}` is not supported; gavel trains BERT-family encoders \
                 (bert, roberta, xlm-roberta, camembert)"
            )),
        }
    }

    /// The width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The longest input, in tokens, that the position embedding allows.
    pub fn max_tokens(&self) -> usize {
        match self.family() {
            // RoBERTa spends padding_idx + 1 rows before the first position.
            Ok(Family::Roberta) => self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id as usize + 1),
            _ => self.max_position_embeddings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
      "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
      "initializer_range": 0.02, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
      "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
      "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute",
      "transformers_version": "4.8.2", "type_vocab_size": 2, "use_cache": true,
      "vocab_size": 30522}"#;

    #[test]
    fn reads_minilm() {
        let c = EncoderConfig::from_json(MINILM).unwrap();
        assert_eq!(c.family().unwrap(), Family::Bert);
        assert_eq!(c.head_dim(), 32);
        assert_eq!(c.max_tokens(), 512);
    }

    #[test]
    fn roberta_positions_start_after_padding() {
        let text = MINILM
            .replace("\"bert\"", "\"roberta\"")
            .replace("\"pad_token_id\": 0", "\"pad_token_id\": 1")
            .replace("512", "514");
        let c = EncoderConfig::from_json(&text).unwrap();
        assert_eq!(c.family().unwrap(), Family::Roberta);
        assert_eq!(c.max_tokens(), 512);
    }

    #[test]
    fn unsupported_models_are_named() {
        let e = EncoderConfig::from_json(&MINILM.replace("\"bert\"", "\"llama\"")).unwrap_err();
        assert!(e.contains("model_type `llama` is not supported"), "{e}");
        let e = EncoderConfig::from_json(&MINILM.replace("\"absolute\"", "\"relative_key\""))
            .unwrap_err();
        assert!(e.contains("relative_key"), "{e}");
        let e = EncoderConfig::from_json(
            &MINILM.replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 7"),
        )
        .unwrap_err();
        assert!(e.contains("not a multiple"), "{e}");
        let e = EncoderConfig::from_json("{\"hidden_size\": 3}").unwrap_err();
        assert!(e.contains("no `model_type`"), "{e}");
        let e = EncoderConfig::from_json(&MINILM.replace("\"vocab_size\": 30522", "\"vocab\": 1"))
            .unwrap_err();
        assert!(e.contains("vocab_size"), "{e}");
    }
}
