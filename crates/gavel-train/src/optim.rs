//! AdamW with Hugging Face's learning-rate schedules, gradient accumulation and clipping.
//!
//! The update is PyTorch's `torch.optim.AdamW` (single-tensor path), operation for operation
//! in f32: decoupled decay `p *= 1 - lr·wd`; `m += (1-β1)(g - m)`; `v = β2 v + (1-β2) g²`;
//! `p -= lr/(1-β1^t) · m / (√v / √(1-β2^t) + ε)`. A parameter that got no gradient in a step
//! is skipped entirely (no decay either), as PyTorch skips parameters whose `.grad` is None.
//! Clipping is `torch.nn.utils.clip_grad_norm_`: scale by `max / (‖g‖ + 1e-6)` when below 1.

use candle_core::{CpuStorage, InplaceOp1, Layout, Tensor, backprop::GradStore};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::kernels::with_data;
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

/// Values per parallel task in the element-wise loops below. Sums are taken per chunk and the
/// chunk sums added in order, so results do not depend on the thread count.
const CHUNK: usize = 1 << 15;

/// One parameter's gradient in an [`Accumulator`].
#[derive(Debug, Clone)]
enum Grad {
    /// One backward pass's gradient as candle returned it (not copied), to be multiplied by
    /// `scale` when read.
    Single { grad: Tensor, scale: f32 },
    /// The scaled sum of several passes.
    Summed(Vec<f32>),
}

/// Gradients summed over micro-batches, one per parameter (`None` until one arrives), and the
/// clipping factor.
///
/// The effective gradient of an element is `(g · scale) · coef` (a sum of such `g · scale`
/// over micro-batches), computed where it is read: the same f32 operations as scaling and
/// clipping in place, without copying the gradients out of candle's tensors.
#[derive(Debug, Clone)]
pub struct Accumulator {
    grads: Vec<Option<Grad>>,
    coef: f32,
}

impl Accumulator {
    /// Empty buffers for `n` parameters.
    pub fn new(n: usize) -> Accumulator {
        Accumulator {
            grads: vec![None; n],
            coef: 1.0,
        }
    }

    /// Adds one backward pass's gradients, scaled by `scale` (1 / micro-batches per step).
    pub fn add(&mut self, params: &[Param], store: &GradStore, scale: f32) -> Result<()> {
        for (slot, p) in self.grads.iter_mut().zip(params) {
            let Some(g) = store.get(p.var.as_tensor()) else {
                continue;
            };
            let g = g.flatten_all()?.contiguous()?;
            match slot.take() {
                None => *slot = Some(Grad::Single { grad: g, scale }),
                Some(Grad::Single { grad, scale: first }) => {
                    let mut sum = with_data(&grad, |x| {
                        let mut out = vec![0f32; x.len()];
                        out.par_chunks_mut(CHUNK)
                            .zip(x.par_chunks(CHUNK))
                            .for_each(|(o, x)| {
                                for (o, &x) in o.iter_mut().zip(x) {
                                    *o = x * first;
                                }
                            });
                        Ok(out)
                    })?;
                    add_scaled(&mut sum, &g, scale)?;
                    *slot = Some(Grad::Summed(sum));
                }
                Some(Grad::Summed(mut sum)) => {
                    add_scaled(&mut sum, &g, scale)?;
                    *slot = Some(Grad::Summed(sum));
                }
            }
        }
        Ok(())
    }

    /// Runs `f` on parameter `i`'s gradient values and the factors they are read with (`g ·
    /// scale · coef`, in that order); `None` when the parameter got no gradient.
    fn with_grad<R>(
        &self,
        i: usize,
        f: impl FnOnce(&[f32], f32, f32) -> candle_core::Result<R>,
    ) -> candle_core::Result<Option<R>> {
        match &self.grads[i] {
            None => Ok(None),
            Some(Grad::Single { grad, scale }) => {
                with_data(grad, |g| f(g, *scale, self.coef)).map(Some)
            }
            Some(Grad::Summed(sum)) => f(sum, 1.0, self.coef).map(Some),
        }
    }

    /// The global L2 norm of the gradients (in f64, by chunks in a fixed order).
    pub fn norm(&self) -> f64 {
        let mut total = 0f64;
        for i in 0..self.grads.len() {
            let part = self.with_grad(i, |g, scale, coef| {
                let sums: Vec<f64> = g
                    .par_chunks(CHUNK)
                    .map(|c| {
                        c.iter()
                            .map(|&x| {
                                let y = ((x * scale) * coef) as f64;
                                y * y
                            })
                            .sum::<f64>()
                    })
                    .collect();
                Ok(sums.iter().sum::<f64>())
            });
            total += part.ok().flatten().unwrap_or(0.0);
        }
        total.sqrt()
    }

    /// Scales the gradients so that their global norm is at most `max_norm`, as
    /// `clip_grad_norm_` does; returns the norm before clipping.
    pub fn clip(&mut self, max_norm: f64) -> f64 {
        let norm = self.norm();
        let coef = (max_norm / (norm + 1e-6)).min(1.0) as f32;
        if coef < 1.0 {
            self.coef = coef;
        }
        norm
    }

    /// A copy of the (scaled, clipped) gradient of parameter `i`, if it got one.
    pub fn gradient(&self, i: usize) -> Result<Option<Vec<f32>>> {
        Ok(self.with_grad(i, |g, scale, coef| {
            Ok(g.iter().map(|&x| (x * scale) * coef).collect())
        })?)
    }

    /// Forgets the gradients.
    pub fn clear(&mut self) {
        for g in &mut self.grads {
            *g = None;
        }
        self.coef = 1.0;
    }
}

/// `sum += g · scale`, element by element, in parallel.
fn add_scaled(sum: &mut [f32], g: &Tensor, scale: f32) -> candle_core::Result<()> {
    with_data(g, |x| {
        if x.len() != sum.len() {
            candle_core::bail!("gradient sizes differ between micro-batches");
        }
        sum.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(a, x)| {
                for (a, &x) in a.iter_mut().zip(x) {
                    *a += x * scale;
                }
            });
        Ok(())
    })?;
    Ok(())
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

    /// One update, with the learning rate of parameter `i` given by `lr(i)`. Each parameter is
    /// updated in place in its variable's storage, in parallel chunks.
    pub fn update_with(
        &mut self,
        params: &[Param],
        grads: &Accumulator,
        lr: impl Fn(usize) -> f64,
    ) -> Result<()> {
        self.step += 1;
        let c = self.config;
        for (i, p) in params.iter().enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let steps = &mut self.param_steps[i];
            grads.with_grad(i, |g, scale, coef| {
                let lr = lr(i);
                *steps += 1;
                let t = *steps as i32;
                let wd = if p.decay { c.weight_decay } else { 0.0 };
                let step = AdamWStep {
                    g,
                    scale,
                    coef,
                    moments: std::cell::RefCell::new((m, v)),
                    decay: (wd != 0.0).then_some((1.0 - lr * wd) as f32),
                    one_minus_b1: (1.0 - c.beta1) as f32,
                    b2: c.beta2 as f32,
                    one_minus_b2: (1.0 - c.beta2) as f32,
                    bc2_sqrt: (1.0 - c.beta2.powi(t)).sqrt() as f32,
                    step_size: (lr / (1.0 - c.beta1.powi(t))) as f32,
                    eps: c.eps as f32,
                };
                p.var.as_tensor().inplace_op1(&step)?;
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// One AdamW update of one parameter, applied to the variable's storage in place:
/// per element, in this order and in f32 (PyTorch's single-tensor AdamW),
/// `w *= decay`; `m += (1-β1)(g - m)`; `v = β2 v + (1-β2) g²`;
/// `w += -step_size · m / (√v / √(1-β2^t) + ε)`, with `g = (grad · scale) · coef`.
struct AdamWStep<'a> {
    g: &'a [f32],
    scale: f32,
    coef: f32,
    moments: std::cell::RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
    decay: Option<f32>,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    bc2_sqrt: f32,
    step_size: f32,
    eps: f32,
}

impl InplaceOp1 for AdamWStep<'_> {
    fn name(&self) -> &'static str {
        "gavel-adamw-step"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("AdamW: parameters must be f32");
        };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("AdamW: parameters must be contiguous");
        };
        let w = &mut data[a..b];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if w.len() != self.g.len() || m.len() != w.len() || v.len() != w.len() {
            candle_core::bail!("AdamW: gradient, moments and parameter differ in size");
        }
        let (scale, coef, decay) = (self.scale, self.coef, self.decay);
        let (one_minus_b1, b2, one_minus_b2) = (self.one_minus_b1, self.b2, self.one_minus_b2);
        let (bc2_sqrt, step_size, eps) = (self.bc2_sqrt, self.step_size, self.eps);
        w.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(self.g.par_chunks(CHUNK))
            .for_each(|(((w, m), v), g)| {
                for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(g) {
                    let g = (g * scale) * coef;
                    if let Some(d) = decay {
                        *w *= d;
                    }
                    *m += one_minus_b1 * (g - *m);
                    *v = *v * b2 + one_minus_b2 * g * g;
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *w += -step_size * (*m / denom);
                }
            });
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
