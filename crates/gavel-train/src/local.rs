//! A trained judge directory as a judge: batched, multi-threaded inference.
//!
//! Inputs are tokenized in parallel, sorted by length and run in batches through the encoder's
//! inference path (gavel's parallel kernels, candle's multi-threaded matrix products). The outputs are
//! read as the judge's `gavel_judge.json` says: scores, class probabilities, or pairwise
//! verdicts with the calibrated tie band.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::head::Head;
use crate::model::{Encoder, Trainable};
use crate::net::JudgeNet;
use crate::objective::{Objective, Pref, TieMode, davidson_probs};
use crate::spec::JudgeSpec;
use crate::text::{Encoded, TextEncoder};
use crate::weights::ModelFiles;

/// A loaded judge.
#[derive(Debug, Clone)]
pub struct LocalJudge {
    net: JudgeNet,
    text: TextEncoder,
    spec: JudgeSpec,
    dir: PathBuf,
    /// Inputs per forward pass.
    pub batch_size: usize,
}

impl LocalJudge {
    /// Loads a judge directory written by `gavel train`.
    pub fn load(dir: &Path) -> Result<LocalJudge> {
        let spec = JudgeSpec::read(dir)?;
        let files = ModelFiles::find(dir)?;
        let cfg = files.read_config()?;
        let tensors = files.read_tensors()?;
        let (encoder, _) = Encoder::new(&cfg, &tensors, &files.weights, Trainable::None)?;
        let (head, _) =
            Head::from_map(&tensors, spec.pooling, false)?.ok_or_else(|| Error::Weights {
                path: files.weights.clone(),
                message: "no judge head (`judge_head.weight`) in the weights".into(),
            })?;
        let text = TextEncoder::load(&files.tokenizer, spec.max_len)?;
        Ok(LocalJudge {
            net: JudgeNet {
                encoder,
                head,
                params: Vec::new(),
            },
            text,
            spec,
            dir: dir.to_path_buf(),
            batch_size: 32,
        })
    }

    /// What the judge is.
    pub fn spec(&self) -> &JudgeSpec {
        &self.spec
    }

    /// The directory's name.
    pub fn name(&self) -> String {
        self.dir
            .canonicalize()
            .ok()
            .as_deref()
            .unwrap_or(&self.dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "judge".into())
    }

    fn run(&self, encoded: Vec<Encoded>) -> Result<Vec<Vec<f32>>> {
        self.net.predict(&encoded, self.batch_size)
    }

    /// One score per (context, response): the pairwise judge's score, or the pointwise
    /// regressor's prediction on the labels' scale.
    pub fn scores(&self, inputs: &[(&str, &str)]) -> Result<Vec<f64>> {
        let is_regression =
            self.spec.objective == Objective::Pointwise && self.spec.classes.is_empty();
        if self.spec.objective != Objective::Pairwise && !is_regression {
            return Err(Error::Settings(format!(
                "this judge ({}) gives no scores",
                self.describe()
            )));
        }
        let encoded: Vec<Encoded> = inputs
            .par_iter()
            .map(|(c, r)| self.text.pair(c, r))
            .collect::<Result<_>>()?;
        let (mean, std) = (
            self.spec.target_mean.unwrap_or(0.0),
            self.spec.target_std.unwrap_or(1.0),
        );
        Ok(self
            .run(encoded)?
            .into_iter()
            .map(|o| {
                let x = o[0] as f64;
                if is_regression { mean + std * x } else { x }
            })
            .collect())
    }

    /// Class probabilities per (context, response) of a pointwise classifier, in the order of
    /// `spec().classes`.
    pub fn class_probs(&self, inputs: &[(&str, &str)]) -> Result<Vec<Vec<f64>>> {
        if self.spec.objective != Objective::Pointwise || self.spec.classes.is_empty() {
            return Err(Error::Settings(format!(
                "this judge ({}) is not a classifier",
                self.describe()
            )));
        }
        let encoded: Vec<Encoded> = inputs
            .par_iter()
            .map(|(c, r)| self.text.pair(c, r))
            .collect::<Result<_>>()?;
        Ok(self
            .run(encoded)?
            .into_iter()
            .map(|o| softmax(&o))
            .collect())
    }

    /// Probabilities of (first better, second better, tie) for (context, first, second) of
    /// the pair classifier.
    pub fn pair_probs(&self, inputs: &[(&str, &str, &str)]) -> Result<Vec<[f64; 3]>> {
        if self.spec.objective != Objective::PairClassifier {
            return Err(Error::Settings(format!(
                "this judge ({}) is not a pair classifier",
                self.describe()
            )));
        }
        let encoded: Vec<Encoded> = inputs
            .par_iter()
            .map(|(c, a, b)| self.text.triple(c, a, b))
            .collect::<Result<_>>()?;
        Ok(self
            .run(encoded)?
            .into_iter()
            .map(|o| {
                let p = softmax(&o);
                [p[0], p[1], p[2]]
            })
            .collect())
    }

    /// The pairwise verdict for a score difference s_A - s_B, with the calibrated tie band.
    pub fn decide(&self, d: f64) -> Pref {
        crate::train::decide(d, self.spec.tie_band.unwrap_or(0.0))
    }

    /// Davidson's probabilities (A, B, tie) for a score difference, when the judge has θ.
    pub fn davidson(&self, d: f64) -> Option<(f64, f64, f64)> {
        match (self.spec.ties, self.spec.tie_logit) {
            (Some(TieMode::Davidson), Some(theta)) => Some(davidson_probs(d, theta)),
            _ => None,
        }
    }

    /// `objective` and base model, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} on {}",
            self.spec.objective.as_str(),
            self.spec.base_model
        )
    }
}

fn softmax(x: &[f32]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = x.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
