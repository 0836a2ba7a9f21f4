//! Judge heads: a linear layer on the pooled encoder output, and the tie parameter of
//! Davidson's model.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};

use crate::error::Result;
use crate::model::{Param, Pooling};
use crate::rng::Rng;

/// The names the head's tensors are saved under (beside the encoder's, in one file).
pub const WEIGHT: &str = "judge_head.weight";
/// See [`WEIGHT`].
pub const BIAS: &str = "judge_head.bias";
/// See [`WEIGHT`].
pub const TIE_LOGIT: &str = "judge_head.tie_logit";

/// A linear map from the pooled vector to `outputs` numbers (1 for a score, one per class
/// otherwise), and optionally Davidson's tie parameter θ = log ν.
#[derive(Debug, Clone)]
pub struct Head {
    w: Tensor,
    b: Tensor,
    tie_logit: Option<Tensor>,
    pooling: Pooling,
}

impl Head {
    /// A fresh head: weights drawn from N(0, std²) with the seeded stream, zero bias, θ = 0
    /// (a tie as likely as either win when the scores are equal).
    pub fn init(
        hidden: usize,
        outputs: usize,
        with_tie: bool,
        std: f64,
        pooling: Pooling,
        rng: &mut Rng,
    ) -> Result<(Head, Vec<Param>)> {
        let w: Vec<f32> = (0..hidden * outputs)
            .map(|_| (rng.normal() * std) as f32)
            .collect();
        let w = Tensor::from_vec(w, (outputs, hidden), &Device::Cpu)?;
        let b = Tensor::zeros(outputs, candle_core::DType::F32, &Device::Cpu)?;
        let t = with_tie
            .then(|| Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu))
            .transpose()?;
        Head::from_tensors(w, b, t, pooling, true)
    }

    /// A head from saved tensors (see [`WEIGHT`]); `trainable` makes them variables.
    pub fn from_map(
        tensors: &HashMap<String, Tensor>,
        pooling: Pooling,
        trainable: bool,
    ) -> Result<Option<(Head, Vec<Param>)>> {
        let (Some(w), Some(b)) = (tensors.get(WEIGHT), tensors.get(BIAS)) else {
            return Ok(None);
        };
        let t = tensors.get(TIE_LOGIT).cloned();
        Head::from_tensors(w.clone(), b.clone(), t, pooling, trainable).map(Some)
    }

    /// A head from given tensors: `w` `(outputs, hidden)`, `b` `(outputs)`, θ `(1)`.
    pub fn from_tensors(
        w: Tensor,
        b: Tensor,
        tie_logit: Option<Tensor>,
        pooling: Pooling,
        trainable: bool,
    ) -> Result<(Head, Vec<Param>)> {
        if !trainable {
            return Ok((
                Head {
                    w,
                    b,
                    tie_logit,
                    pooling,
                },
                Vec::new(),
            ));
        }
        let mut params = Vec::new();
        let mut var = |name: &str, t: &Tensor, decay: bool| -> Result<Tensor> {
            let v = Var::from_tensor(&t.contiguous()?)?;
            let out = v.as_tensor().clone();
            params.push(Param {
                name: name.into(),
                var: v,
                decay,
            });
            Ok(out)
        };
        let w = var(WEIGHT, &w, true)?;
        let b = var(BIAS, &b, false)?;
        let tie_logit = match tie_logit {
            Some(t) => Some(var(TIE_LOGIT, &t, false)?),
            None => None,
        };
        Ok((
            Head {
                w,
                b,
                tie_logit,
                pooling,
            },
            params,
        ))
    }

    /// How hidden states are pooled.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// `(B, H)` pooled vectors to `(B, outputs)`.
    pub fn forward(&self, pooled: &Tensor) -> Result<Tensor> {
        Ok(pooled.matmul(&self.w.t()?)?.broadcast_add(&self.b)?)
    }

    /// θ = log ν of Davidson's model, when the head has it.
    pub fn tie_logit(&self) -> Option<&Tensor> {
        self.tie_logit.as_ref()
    }

    /// θ as a number.
    pub fn tie_logit_value(&self) -> Result<Option<f32>> {
        Ok(match &self.tie_logit {
            Some(t) => Some(t.flatten_all()?.to_vec1::<f32>()?[0]),
            None => None,
        })
    }

    /// The head's tensors under their saved names.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            (WEIGHT.to_string(), self.w.clone()),
            (BIAS.to_string(), self.b.clone()),
        ];
        if let Some(t) = &self.tie_logit {
            out.push((TIE_LOGIT.to_string(), t.clone()));
        }
        out
    }
}
