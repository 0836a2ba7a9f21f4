//! CPU kernels with gradients for the encoder's element-wise and row-wise steps: GELU (erf),
//! softmax over the last dimension, and layer normalisation.
//!
//! candle's own fused kernels for softmax and layer norm have no backward pass, and its GELU
//! runs on one thread. These run rows (or chunks) in parallel on rayon's pool and carry their
//! gradients as custom operations, so training and inference use the same fast code. The
//! formulas:
//!
//! - GELU(x) = x Φ(x), Φ(x) = (1 + erf(x/√2))/2; GELU'(x) = Φ(x) + x φ(x), φ the normal
//!   density; erf by Abramowitz and Stegun's 7.1.26 (absolute error below 1.5e-7).
//! - softmax: p = exp(x - max) / Σ exp(x - max); dx = p ⊙ (g - Σ g ⊙ p).
//! - normalisation of a row: x̂ = (x - μ) / √(σ² + ε) (σ² the biased variance, f64 sums);
//!   dx = (g - mean(g) - x̂ mean(g ⊙ x̂)) / √(σ² + ε). The gain and bias are applied outside
//!   with ordinary (differentiable) broadcasts.
//!
//! Each is checked against transformers and PyTorch (`tests/forward.rs`, `tests/step.rs`) and
//! against the spelled-out candle version (`model::Kernels::Reference`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Elements per parallel task of element-wise kernels.
const CHUNK: usize = 1 << 14;

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, name: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{name}: the input must be contiguous"),
    }
}

/// erf(x) by Abramowitz and Stegun's 7.1.26, absolute error below 1.5e-7, in f32 (one exp,
/// one division).
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-a * a).exp();
    if x < 0.0 { -y } else { y }
}

/// The standard normal distribution function.
fn phi_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gavel-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = v * phi_cdf(v);
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&g, &GeluGrad)?))
    }
}

struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "gavel-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let g = contiguous(s2, l2, self.name())?;
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f32::consts::PI).sqrt();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(o, (x, g))| {
                for ((o, &v), &gv) in o.iter_mut().zip(x).zip(g) {
                    let d = phi_cdf(v) + v * inv_sqrt_2pi * (-0.5 * v * v).exp();
                    *o = gv * d;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// GELU with the exact (erf) form, as BERT's `gelu`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}

fn rows(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(1).max(1)
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "gavel-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, self.name())?;
        let n = rows(l);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .for_each(|(o, x)| {
                let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for (o, &v) in o.iter_mut().zip(x) {
                    let e = (v - max).exp();
                    *o = e;
                    sum += e;
                }
                let inv = 1.0 / sum;
                for o in o.iter_mut() {
                    *o *= inv;
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&g, &SoftmaxGrad)?))
    }
}

struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "gavel-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = contiguous(s1, l1, self.name())?;
        let g = contiguous(s2, l2, self.name())?;
        let n = rows(l1);
        let mut out = vec![0f32; p.len()];
        out.par_chunks_mut(n)
            .zip(p.par_chunks(n).zip(g.par_chunks(n)))
            .for_each(|(o, (p, g))| {
                let dot: f32 = p.iter().zip(g).map(|(a, b)| a * b).sum();
                for ((o, &pv), &gv) in o.iter_mut().zip(p).zip(g) {
                    *o = pv * (gv - dot);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax over the last dimension.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

struct Normalize {
    eps: f64,
}

fn moments(x: &[f32], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "gavel-normalize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, self.name())?;
        let n = rows(l);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .for_each(|(o, x)| {
                let (mean, inv_std) = moments(x, self.eps);
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = ((v as f64 - mean) * inv_std) as f32;
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(
            arg.contiguous()?
                .apply_op2_no_bwd(&g, &NormalizeGrad { eps: self.eps })?,
        ))
    }
}

struct NormalizeGrad {
    eps: f64,
}

impl CustomOp2 for NormalizeGrad {
    fn name(&self) -> &'static str {
        "gavel-normalize-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let g = contiguous(s2, l2, self.name())?;
        let n = rows(l1);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n).zip(g.par_chunks(n)))
            .for_each(|(o, (x, g))| {
                let (mean, inv_std) = moments(x, self.eps);
                let k = x.len() as f64;
                let mut g_mean = 0f64;
                let mut gx_mean = 0f64;
                for (&v, &gv) in x.iter().zip(g) {
                    let xh = (v as f64 - mean) * inv_std;
                    g_mean += gv as f64;
                    gx_mean += gv as f64 * xh;
                }
                g_mean /= k;
                gx_mean /= k;
                for ((o, &v), &gv) in o.iter_mut().zip(x).zip(g) {
                    let xh = (v as f64 - mean) * inv_std;
                    *o = ((gv as f64 - g_mean - xh * gx_mean) * inv_std) as f32;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Layer normalisation over the last dimension: `(x - μ) / √(σ² + ε) · w + b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op1(Normalize { eps })?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < tol, "{d}");
    }

    fn input() -> Var {
        let mut r = crate::rng::Rng::new(9);
        let v: Vec<f32> = (0..6 * 37).map(|_| (r.normal() * 3.0) as f32).collect();
        Var::from_tensor(&Tensor::from_vec(v, (6, 37), &Device::Cpu).unwrap()).unwrap()
    }

    /// Each kernel and its gradient against the same function spelled out in candle's
    /// differentiable primitives.
    #[test]
    fn kernels_equal_their_spelled_out_forms() {
        let x = input();
        let up = Tensor::from_vec(
            (0..6 * 37)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect::<Vec<_>>(),
            (6, 37),
            &Device::Cpu,
        )
        .unwrap();
        // GELU: candle's gelu_erf has a gradient.
        let a = gelu(&x).unwrap();
        let b = x.gelu_erf().unwrap();
        close(&a, &b, 1e-5);
        let ga = (a * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &up).unwrap().sum_all().unwrap().backward().unwrap();
        close(ga.get(&x).unwrap(), gb.get(&x).unwrap(), 1e-4);
        // Softmax.
        let a = softmax_last_dim(&x).unwrap();
        let m = x.max_keepdim(D::Minus1).unwrap().detach();
        let e = x.broadcast_sub(&m).unwrap().exp().unwrap();
        let b = e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap();
        close(&a, &b, 1e-6);
        let ga = (a * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &up).unwrap().sum_all().unwrap().backward().unwrap();
        close(ga.get(&x).unwrap(), gb.get(&x).unwrap(), 1e-5);
        // Normalisation.
        let one = Tensor::ones(37, candle_core::DType::F32, &Device::Cpu).unwrap();
        let zero = Tensor::zeros(37, candle_core::DType::F32, &Device::Cpu).unwrap();
        let a = layer_norm(&x, &one, &zero, 1e-12).unwrap();
        let mean = x.mean_keepdim(D::Minus1).unwrap();
        let c = x.broadcast_sub(&mean).unwrap();
        let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        let b = c
            .broadcast_div(&(var + 1e-12).unwrap().sqrt().unwrap())
            .unwrap();
        close(&a, &b, 1e-5);
        let ga = (a * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &up).unwrap().sum_all().unwrap().backward().unwrap();
        close(ga.get(&x).unwrap(), gb.get(&x).unwrap(), 1e-4);
    }

    #[test]
    fn erf_is_accurate() {
        // erf(0.5) = 0.520499877813047, erf(1) = 0.842700792949715, erf(-2) = -0.995322265018953.
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_813_047),
            (1.0, 0.842_700_792_949_715),
            (-2.0, -0.995_322_265_018_953),
        ] {
            assert!((erf(x) as f64 - want).abs() < 3e-7, "{x}");
        }
    }
}
