//! AdamW with Hugging Face's learning-rate schedules, gradient accumulation and clipping.
//!
//! The update is PyTorch's `torch.optim.AdamW` (single-tensor path), operation for operation
//! in f32: decoupled decay `p *= 1 - lr·wd`; `m += (1-β1)(g - m)`; `v = β2 v + (1-β2) g²`;
//! `p -= lr/(1-β1^t) · m / (√v / √(1-β2^t) + ε)`. A parameter that got no gradient in a step
//! is skipped entirely (no decay either), as PyTorch skips parameters whose `.grad` is None.
//! Clipping is `torch.nn.utils.clip_grad_norm_`: scale by `max / (‖g‖ + 1e-6)` when below 1.

use candle_core::{Tensor, backprop::GradStore};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::Param;

/// The shape of the learning rate over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warm-up, then linear decay to 0 (`get_linear_schedule_with_warmup`).
    Linear,
    /// Linear warm-up, then a half cosine to 0 (`get_cosine_schedule_with_warmup`).
    Cosine,
    /// Linear warm-up, then constant.
    Constant,
}

impl Schedule {
    /// The factor on the peak learning rate for optimiser step `step` (0-based: the first
    /// step uses factor(0)) of `total`, with `warmup` warm-up steps. As in transformers, the
    /// very first step of a warm-up has factor 0.
    pub fn factor(self, step: u64, warmup: u64, total: u64) -> f64 {
        let (s, w, t) = (step as f64, warmup as f64, total as f64);
        if step < warmup {
            return s / w.max(1.0);
        }
        match self {
            Schedule::Linear => ((t - s) / (t - w).max(1.0)).max(0.0),
            Schedule::Cosine => {
                let progress = (s - w) / (t - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
            Schedule::Constant => 1.0,
        }
    }
}

/// Hyper-parameters of AdamW.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay (on parameters with `decay`).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Gradients summed over micro-batches, one buffer per parameter (`None` until one arrives).
#[derive(Debug, Clone)]
pub struct Accumulator {
    grads: Vec<Option<Vec<f32>>>,
}

impl Accumulator {
    /// Empty buffers for `n` parameters.
    pub fn new(n: usize) -> Accumulator {
        Accumulator {
            grads: vec![None; n],
        }
    }

    /// Adds one backward pass's gradients, scaled by `scale` (1 / micro-batches per step).
    pub fn add(&mut self, params: &[Param], store: &GradStore, scale: f32) -> Result<()> {
        for (slot, p) in self.grads.iter_mut().zip(params) {
            let Some(g) = store.get(p.var.as_tensor()) else {
                continue;
            };
            let g = g.flatten_all()?.to_vec1::<f32>()?;
            match slot {
                Some(acc) => {
                    for (a, x) in acc.iter_mut().zip(g) {
                        *a += x * scale;
                    }
                }
                None => {
                    *slot = Some(if scale == 1.0 {
                        g
                    } else {
                        g.into_iter().map(|x| x * scale).collect()
                    });
                }
            }
        }
        Ok(())
    }

    /// The global L2 norm of the gradients.
    pub fn norm(&self) -> f64 {
        self.grads
            .iter()
            .flatten()
            .map(|g| g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())
            .sum::<f64>()
            .sqrt()
    }

    /// Scales the gradients so that their global norm is at most `max_norm`, as
    /// `clip_grad_norm_` does; returns the norm before clipping.
    pub fn clip(&mut self, max_norm: f64) -> f64 {
        let norm = self.norm();
        let coef = (max_norm / (norm + 1e-6)).min(1.0) as f32;
        if coef < 1.0 {
            for g in self.grads.iter_mut().flatten() {
                for x in g.iter_mut() {
                    *x *= coef;
                }
            }
        }
        norm
    }

    /// The gradient of parameter `i`, if it got one.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        self.grads[i].as_deref()
    }

    /// Forgets the gradients.
    pub fn clear(&mut self) {
        for g in &mut self.grads {
            *g = None;
        }
    }
}

/// AdamW's state: the step count and both moments of every parameter.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Steps taken.
    pub step: u64,
    /// Per parameter: steps in which it had a gradient (PyTorch counts per parameter).
    pub param_steps: Vec<u64>,
    /// First moments.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    /// Fresh state for `params`.
    pub fn new(config: AdamWConfig, params: &[Param]) -> AdamW {
        let sizes: Vec<usize> = params.iter().map(|p| p.var.elem_count()).collect();
        AdamW {
            config,
            step: 0,
            param_steps: vec![0; params.len()],
            m: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    /// One update of every parameter with a gradient, at learning rate `lr`.
    pub fn update(&mut self, params: &[Param], grads: &Accumulator, lr: f64) -> Result<()> {
        self.update_with(params, grads, |_| lr)
    }

    /// One update, with the learning rate of parameter `i` given by `lr(i)`.
    pub fn update_with(
        &mut self,
        params: &[Param],
        grads: &Accumulator,
        lr: impl Fn(usize) -> f64,
    ) -> Result<()> {
        self.step += 1;
        let c = self.config;
        for (i, p) in params.iter().enumerate() {
            let Some(g) = grads.get(i) else {
                continue;
            };
            let lr = lr(i);
            self.param_steps[i] += 1;
            let t = self.param_steps[i] as i32;
            let mut w = p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let wd = if p.decay { c.weight_decay } else { 0.0 };
            let decay = (1.0 - lr * wd) as f32;
            let one_minus_b1 = (1.0 - c.beta1) as f32;
            let b2 = c.beta2 as f32;
            let one_minus_b2 = (1.0 - c.beta2) as f32;
            let bc1 = 1.0 - c.beta1.powi(t);
            let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt() as f32;
            let step_size = (lr / bc1) as f32;
            let eps = c.eps as f32;
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..w.len() {
                if wd != 0.0 {
                    w[j] *= decay;
                }
                m[j] += one_minus_b1 * (g[j] - m[j]);
                v[j] = v[j] * b2 + one_minus_b2 * g[j] * g[j];
                let denom = v[j].sqrt() / bc2_sqrt + eps;
                w[j] += -step_size * (m[j] / denom);
            }
            let shape = p.var.shape().clone();
            p.var.set(&Tensor::from_vec(w, shape, p.var.device())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_starts_at_zero_and_decay_ends_at_zero() {
        assert_eq!(Schedule::Linear.factor(0, 2, 10), 0.0);
        assert_eq!(Schedule::Linear.factor(1, 2, 10), 0.5);
        assert_eq!(Schedule::Linear.factor(2, 2, 10), 1.0);
        assert_eq!(Schedule::Linear.factor(10, 2, 10), 0.0);
        assert_eq!(Schedule::Constant.factor(7, 2, 10), 1.0);
        assert!((Schedule::Cosine.factor(6, 2, 10) - 0.5).abs() < 1e-12);
    }
}
