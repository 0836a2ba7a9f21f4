//! `gavel_judge.json`: what a trained judge directory is and how its outputs are read.
//!
//! A judge directory is a Hugging Face model directory (`config.json`, `model.safetensors`,
//! `tokenizer.json`) whose weights file also holds the head (`judge_head.*`), plus this file
//! and a training card (`README.md`). Version 1:
//!
//! ```json
//! {"format": "gavel-judge", "version": 1, "objective": "pairwise", "ties": "davidson",
//!  "pooling": "mean", "max_len": 256, "outputs": 1, "classes": [],
//!  "tie_band": 0.41, "tie_band_rule": "validation accuracy", "tie_logit": -0.2,
//!  "target_mean": null, "target_std": null, "base_model": "all-MiniLM-L6-v2"}
//! ```
//!
//! - `pairwise`: one score per (instruction, response); a pair is `A` when s_A - s_B exceeds
//!   `tie_band`, `B` when it is below -`tie_band`, a tie otherwise.
//! - `pointwise`: with `classes` empty, a score (`target_mean + target_std · output`); else
//!   one logit per class.
//! - `pair-classifier`: logits of `classes` = `["A", "B", "tie"]` for both responses in one
//!   input.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Pooling;
use crate::objective::{Objective, TieMode};

/// The file name.
pub const FILE: &str = "gavel_judge.json";

/// The contents of `gavel_judge.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSpec {
    /// Always `gavel-judge`.
    pub format: String,
    /// The format version (1).
    pub version: u32,
    /// What the head was trained for.
    pub objective: Objective,
    /// How ties were trained (pairwise).
    #[serde(default)]
    pub ties: Option<TieMode>,
    /// How hidden states are pooled.
    pub pooling: Pooling,
    /// The input length limit in tokens (truncation as in training).
    pub max_len: usize,
    /// Outputs of the head.
    pub outputs: usize,
    /// Class labels, in output order (classification and the pair classifier).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Pairwise: score differences within ±band are ties.
    #[serde(default)]
    pub tie_band: Option<f64>,
    /// How the band was chosen.
    #[serde(default)]
    pub tie_band_rule: Option<String>,
    /// Davidson's θ = log ν (pairwise with Davidson ties).
    #[serde(default)]
    pub tie_logit: Option<f64>,
    /// Regression: the targets' mean (outputs are standardised).
    #[serde(default)]
    pub target_mean: Option<f64>,
    /// Regression: the targets' standard deviation.
    #[serde(default)]
    pub target_std: Option<f64>,
    /// The base model's name (its directory name).
    pub base_model: String,
}

impl JudgeSpec {
    /// Reads and checks the file in `dir`.
    pub fn read(dir: &Path) -> Result<JudgeSpec> {
        let path = dir.join(FILE);
        if !path.is_file() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                what: FILE.into(),
                hint: "this is not a judge trained by `gavel train` (or its training did not \
                       finish)"
                    .into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let spec: JudgeSpec = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("not a gavel judge description: {e}"),
        })?;
        if spec.format != "gavel-judge" || spec.version != 1 {
            return Err(Error::Config {
                path,
                message: format!(
                    "format `{}` version {} is not known to this gavel (expected gavel-judge 1)",
                    spec.format, spec.version
                ),
            });
        }
        Ok(spec)
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}
