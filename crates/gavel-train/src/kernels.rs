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
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::attention::{dispatch, exp_v};

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

/// Rows per parallel task for row-wise kernels over rows of `n` values.
fn rows_per_task(n: usize) -> usize {
    (CHUNK / n.max(1)).max(1)
}

/// Column sums of `rows × n` values, in a fixed order (per task in parallel, then the tasks'
/// sums in order), so the result does not depend on the thread count.
pub(crate) fn column_sums(data: &[f32], n: usize) -> Vec<f32> {
    let parts: Vec<Vec<f32>> = data
        .par_chunks(n * rows_per_task(n))
        .map(|chunk| {
            let mut acc = vec![0f32; n];
            for row in chunk.chunks(n) {
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a += x;
                }
            }
            acc
        })
        .collect();
    let mut out = vec![0f32; n];
    for part in parts {
        for (o, x) in out.iter_mut().zip(part) {
            *o += x;
        }
    }
    out
}

/// Runs `f` on a CPU f32 tensor's values (contiguous; copied first only when it is not).
pub(crate) fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("gavel kernels: CPU tensors only");
    };
    f(contiguous(cpu, layout, "gavel kernels")?)
}

/// The normal distribution function Φ(u) and e^(-u²/2) for every lane (erf as in [`erf`]).
#[inline(always)]
fn gelu_parts<S: Simd>(s: S, u: S::f32s) -> (S::f32s, S::f32s) {
    let one = s.splat_f32s(1.0);
    let z = s.mul_f32s(u, s.splat_f32s(std::f32::consts::FRAC_1_SQRT_2));
    let a = s.abs_f32s(z);
    let t = s.div_f32s(one, s.mul_add_f32s(a, s.splat_f32s(0.327_591_1), one));
    let mut poly = s.splat_f32s(1.061_405_4);
    for c in [-1.453_152, 1.421_413_7, -0.284_496_74, 0.254_829_6] {
        poly = s.mul_add_f32s(poly, t, s.splat_f32s(c));
    }
    let poly = s.mul_f32s(poly, t);
    let e = exp_v(s, s.sub_f32s(s.splat_f32s(0.0), s.mul_f32s(a, a)));
    let y = s.sub_f32s(one, s.mul_f32s(poly, e));
    let neg = s.less_than_f32s(z, s.splat_f32s(0.0));
    let erf = s.select_f32s(neg, s.sub_f32s(s.splat_f32s(0.0), y), y);
    (s.mul_f32s(s.splat_f32s(0.5), s.add_f32s(one, erf)), e)
}

/// Rows of `GELU(x + b)` (forward) or of `g · GELU'(x + b)` (gradient, when `grad` is given).
struct BiasGeluRows<'a> {
    x: &'a [f32],
    b: &'a [f32],
    grad: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl WithSimd for BiasGeluRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let n = self.b.len();
        let (bv, bt) = S::as_simd_f32s(self.b);
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f32::consts::PI).sqrt();
        let c = simd.splat_f32s(inv_sqrt_2pi);
        for (r, (o, x)) in self.out.chunks_mut(n).zip(self.x.chunks(n)).enumerate() {
            let (ov, ot) = S::as_mut_simd_f32s(o);
            let (xv, xt) = S::as_simd_f32s(x);
            match self.grad {
                None => {
                    for ((o, &x), &b) in ov.iter_mut().zip(xv).zip(bv) {
                        let u = simd.add_f32s(x, b);
                        *o = simd.mul_f32s(u, gelu_parts(simd, u).0);
                    }
                    for ((o, &x), &b) in ot.iter_mut().zip(xt).zip(bt) {
                        let u = x + b;
                        *o = u * phi_cdf(u);
                    }
                }
                Some(g) => {
                    let (gv, gt) = S::as_simd_f32s(&g[r * n..(r + 1) * n]);
                    for (((o, &x), &b), &g) in ov.iter_mut().zip(xv).zip(bv).zip(gv) {
                        let u = simd.add_f32s(x, b);
                        let (p, e) = gelu_parts(simd, u);
                        let d = simd.mul_add_f32s(simd.mul_f32s(u, e), c, p);
                        *o = simd.mul_f32s(g, d);
                    }
                    for (((o, &x), &b), &g) in ot.iter_mut().zip(xt).zip(bt).zip(gt) {
                        let u = x + b;
                        let d = phi_cdf(u) + u * inv_sqrt_2pi * (-0.5 * u * u).exp();
                        *o = g * d;
                    }
                }
            }
        }
    }
}

fn bias_gelu_rows(x: &[f32], b: &[f32], grad: Option<&[f32]>) -> Vec<f32> {
    let n = b.len();
    let per = n * rows_per_task(n);
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .enumerate()
        .for_each(|(i, (o, x))| {
            let grad = grad.map(|g| &g[i * per..i * per + x.len()]);
            dispatch(BiasGeluRows { x, b, grad, out: o });
        });
    out
}

struct BiasGelu;

impl CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "gavel-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let b = contiguous(s2, l2, self.name())?;
        if b.is_empty() || rows(l1) != b.len() {
            candle_core::bail!(
                "{}: the bias does not match the last dimension",
                self.name()
            );
        }
        Ok((
            CpuStorage::F32(bias_gelu_rows(x, b, None)),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = b.elem_count();
        let dx = with_data(x, |x| {
            with_data(b, |b| {
                with_data(grad, |g| Ok(bias_gelu_rows(x, b, Some(g))))
            })
        })?;
        let db = column_sums(&dx, n);
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
        ))
    }
}

/// `GELU(x + b)` with the exact (erf) form, `b` added to every row of the last dimension: a
/// linear layer's bias and BERT's `gelu` in one pass, SIMD and parallel over rows.
pub fn bias_gelu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&b.contiguous()?, BiasGelu)
}

/// Rows of `x + b` (+ `r`, when given), `b` added to every row.
struct AddRows<'a> {
    x: &'a [f32],
    b: &'a [f32],
    r: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl WithSimd for AddRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let n = self.b.len();
        let (bv, bt) = S::as_simd_f32s(self.b);
        for (i, (o, x)) in self.out.chunks_mut(n).zip(self.x.chunks(n)).enumerate() {
            let (ov, ot) = S::as_mut_simd_f32s(o);
            let (xv, xt) = S::as_simd_f32s(x);
            for ((o, &x), &b) in ov.iter_mut().zip(xv).zip(bv) {
                *o = simd.add_f32s(x, b);
            }
            for ((o, &x), &b) in ot.iter_mut().zip(xt).zip(bt) {
                *o = x + b;
            }
            if let Some(r) = self.r {
                let (rv, rt) = S::as_simd_f32s(&r[i * n..(i + 1) * n]);
                for (o, &r) in ov.iter_mut().zip(rv) {
                    *o = simd.add_f32s(*o, r);
                }
                for (o, &r) in ot.iter_mut().zip(rt) {
                    *o += r;
                }
            }
        }
    }
}

fn add_rows(x: &[f32], b: &[f32], r: Option<&[f32]>) -> Vec<f32> {
    let n = b.len();
    let per = n * rows_per_task(n);
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .enumerate()
        .for_each(|(i, (o, x))| {
            let r = r.map(|r| &r[i * per..i * per + x.len()]);
            dispatch(AddRows { x, b, r, out: o });
        });
    out
}

struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "gavel-bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let b = contiguous(s2, l2, self.name())?;
        if b.is_empty() || rows(l1) != b.len() {
            candle_core::bail!(
                "{}: the bias does not match the last dimension",
                self.name()
            );
        }
        Ok((CpuStorage::F32(add_rows(x, b, None)), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let db = with_data(grad, |g| Ok(column_sums(g, b.elem_count())))?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
        ))
    }
}

/// `x + b`, `b` added to every row of the last dimension (a linear layer's bias), one SIMD
/// pass parallel over rows; the bias's gradient is a column sum in a fixed order.
pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&b.contiguous()?, BiasAdd)
}

struct BiasResidual;

impl candle_core::CustomOp3 for BiasResidual {
    fn name(&self) -> &'static str {
        "gavel-bias-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let b = contiguous(s2, l2, self.name())?;
        let r = contiguous(s3, l3, self.name())?;
        if b.is_empty() || rows(l1) != b.len() || r.len() != x.len() {
            candle_core::bail!("{}: shapes do not match", self.name());
        }
        Ok((CpuStorage::F32(add_rows(x, b, Some(r))), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _r: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let db = with_data(grad, |g| Ok(column_sums(g, b.elem_count())))?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
            Some(grad.clone()),
        ))
    }
}

/// `x + b + r`: a linear layer's bias and a residual connection in one pass.
pub fn bias_residual(x: &Tensor, b: &Tensor, r: &Tensor) -> Result<Tensor> {
    if x.dims() != r.dims() {
        candle_core::bail!("bias_residual: {:?} and {:?} differ", x.dims(), r.dims());
    }
    x.contiguous()?
        .apply_op3(&b.contiguous()?, &r.contiguous()?, BiasResidual)
}

/// Values per dropout stream: chunk `i` of a tensor draws its mask from its own stream derived
/// from the call's seed and `i`, so the mask does not depend on the thread count.
pub const DROPOUT_CHUNK: usize = 1 << 16;

/// `x ⊙ mask` with the dropout mask of `seed` (0 with probability `p`, else 1/(1-p)), the mask
/// drawn on the fly, never stored (the backward pass draws it again).
struct Dropout {
    p: f32,
    seed: u64,
}

impl Dropout {
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let scale = 1.0 / (1.0 - self.p);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(DROPOUT_CHUNK)
            .zip(x.par_chunks(DROPOUT_CHUNK))
            .enumerate()
            .for_each(|(i, (o, x))| {
                let drops = crate::rng::Rng::derive(self.seed, &[i as u64]).drops(self.p);
                for ((o, &x), drop) in o.iter_mut().zip(x).zip(drops) {
                    *o = if drop { 0.0 } else { x * scale };
                }
            });
        out
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "gavel-dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, self.name())?;
        Ok((CpuStorage::F32(self.apply(x)), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_data(grad, |g| Ok(self.apply(g)))?;
        Ok(Some(Tensor::from_vec(dx, grad.shape(), grad.device())?))
    }
}

/// Dropout: `x ⊙ mask`, the mask drawn from `seed` in chunks of [`DROPOUT_CHUNK`] values.
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Dropout { p, seed })
}

/// `dropout(x + b) + r` in one pass (a linear layer's bias, hidden dropout and a residual
/// connection), with the mask [`dropout`] draws from the same seed: one graph node where the
/// bias, the dropout and the addition would be three.
struct BiasDropoutResidual {
    dropout: Dropout,
}

impl candle_core::CustomOp3 for BiasDropoutResidual {
    fn name(&self) -> &'static str {
        "gavel-bias-dropout-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let b = contiguous(s2, l2, self.name())?;
        let r = contiguous(s3, l3, self.name())?;
        let n = b.len();
        if n == 0 || rows(l1) != n || r.len() != x.len() {
            candle_core::bail!("{}: shapes do not match", self.name());
        }
        let (p, scale) = (self.dropout.p, 1.0 / (1.0 - self.dropout.p));
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(DROPOUT_CHUNK)
            .zip(x.par_chunks(DROPOUT_CHUNK).zip(r.par_chunks(DROPOUT_CHUNK)))
            .enumerate()
            .for_each(|(i, (o, (x, r)))| {
                let drops = crate::rng::Rng::derive(self.dropout.seed, &[i as u64]).drops(p);
                let first = i * DROPOUT_CHUNK;
                for (j, (((o, &x), &r), drop)) in o.iter_mut().zip(x).zip(r).zip(drops).enumerate()
                {
                    let kept = if drop {
                        0.0
                    } else {
                        (x + b[(first + j) % n]) * scale
                    };
                    *o = kept + r;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _r: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, db) = with_data(grad, |g| {
            let dx = self.dropout.apply(g);
            let db = column_sums(&dx, b.elem_count());
            Ok((dx, db))
        })?;
        Ok((
            Some(Tensor::from_vec(dx, grad.shape(), grad.device())?),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
            Some(grad.clone()),
        ))
    }
}

/// `dropout(x + b) + r` with the mask of `seed` (see [`dropout`]), with its gradient.
pub fn bias_dropout_residual(
    x: &Tensor,
    b: &Tensor,
    r: &Tensor,
    p: f32,
    seed: u64,
) -> Result<Tensor> {
    if x.dims() != r.dims() {
        candle_core::bail!(
            "bias_dropout_residual: {:?} and {:?} differ",
            x.dims(),
            r.dims()
        );
    }
    x.contiguous()?.apply_op3(
        &b.contiguous()?,
        &r.contiguous()?,
        BiasDropoutResidual {
            dropout: Dropout { p, seed },
        },
    )
}

/// Per row: the mean and 1/√(σ² + ε) (two passes, SIMD sums).
#[inline(always)]
fn row_moments<S: Simd>(simd: S, x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let (xv, xt) = S::as_simd_f32s(x);
    let mut acc = simd.splat_f32s(0.0);
    for &v in xv {
        acc = simd.add_f32s(acc, v);
    }
    let mean = (simd.reduce_sum_f32s(acc) + xt.iter().sum::<f32>()) / n;
    let m = simd.splat_f32s(mean);
    let mut acc = simd.splat_f32s(0.0);
    for &v in xv {
        let c = simd.sub_f32s(v, m);
        acc = simd.mul_add_f32s(c, c, acc);
    }
    let var =
        (simd.reduce_sum_f32s(acc) + xt.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>()) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Rows of layer normalisation with gain and bias (forward), or the input's gradient and the
/// per-row products for the gain's (backward, when `grad` is given: `out` gets dx and `xhat_g`
/// gets g ⊙ x̂).
struct NormRows<'a> {
    x: &'a [f32],
    w: &'a [f32],
    b: &'a [f32],
    eps: f32,
    grad: Option<(&'a [f32], &'a mut [f32])>,
    out: &'a mut [f32],
}

impl WithSimd for NormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let n = self.w.len();
        let (wv, wt) = S::as_simd_f32s(self.w);
        let (bv, bt) = S::as_simd_f32s(self.b);
        let mut grad = self.grad;
        for (r, (o, x)) in self.out.chunks_mut(n).zip(self.x.chunks(n)).enumerate() {
            let (mean, inv) = row_moments(simd, x, self.eps);
            let (m, iv) = (simd.splat_f32s(mean), simd.splat_f32s(inv));
            let (xv, xt) = S::as_simd_f32s(x);
            let (ov, ot) = S::as_mut_simd_f32s(o);
            match grad.as_mut() {
                None => {
                    for (((o, &x), &w), &b) in ov.iter_mut().zip(xv).zip(wv).zip(bv) {
                        let xh = simd.mul_f32s(simd.sub_f32s(x, m), iv);
                        *o = simd.mul_add_f32s(xh, w, b);
                    }
                    for (((o, &x), &w), &b) in ot.iter_mut().zip(xt).zip(wt).zip(bt) {
                        *o = (x - mean) * inv * w + b;
                    }
                }
                Some((g, gx)) => {
                    let g = &g[r * n..(r + 1) * n];
                    let gx = &mut gx[r * n..(r + 1) * n];
                    let (gv, gt) = S::as_simd_f32s(g);
                    let (gxv, gxt) = S::as_mut_simd_f32s(gx);
                    // dx̂ = g ⊙ w; sums of dx̂ and dx̂ ⊙ x̂; g ⊙ x̂ for the gain.
                    let (mut s1, mut s2) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
                    for ((((&x, &w), &g), gx), o) in xv
                        .iter()
                        .zip(wv)
                        .zip(gv)
                        .zip(gxv.iter_mut())
                        .zip(ov.iter_mut())
                    {
                        let xh = simd.mul_f32s(simd.sub_f32s(x, m), iv);
                        let dxh = simd.mul_f32s(g, w);
                        s1 = simd.add_f32s(s1, dxh);
                        s2 = simd.mul_add_f32s(dxh, xh, s2);
                        *gx = simd.mul_f32s(g, xh);
                        *o = dxh;
                    }
                    let (mut t1, mut t2) = (simd.reduce_sum_f32s(s1), simd.reduce_sum_f32s(s2));
                    for ((((&x, &w), &g), gx), o) in xt
                        .iter()
                        .zip(wt)
                        .zip(gt)
                        .zip(gxt.iter_mut())
                        .zip(ot.iter_mut())
                    {
                        let xh = (x - mean) * inv;
                        let dxh = g * w;
                        t1 += dxh;
                        t2 += dxh * xh;
                        *gx = g * xh;
                        *o = dxh;
                    }
                    let (mean1, mean2) = (t1 / n as f32, t2 / n as f32);
                    let (a, c) = (simd.splat_f32s(mean1), simd.splat_f32s(mean2));
                    for (o, &x) in ov.iter_mut().zip(xv) {
                        let xh = simd.mul_f32s(simd.sub_f32s(x, m), iv);
                        let v = simd.sub_f32s(simd.sub_f32s(*o, a), simd.mul_f32s(xh, c));
                        *o = simd.mul_f32s(v, iv);
                    }
                    for (o, &x) in ot.iter_mut().zip(xt) {
                        let xh = (x - mean) * inv;
                        *o = (*o - mean1 - xh * mean2) * inv;
                    }
                }
            }
        }
    }
}

struct LayerNorm {
    eps: f32,
}

impl candle_core::CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "gavel-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, self.name())?;
        let w = contiguous(s2, l2, self.name())?;
        let b = contiguous(s3, l3, self.name())?;
        let n = rows(l1);
        if w.len() != n || b.len() != n {
            candle_core::bail!(
                "{}: gain and bias must match the last dimension",
                self.name()
            );
        }
        let per = n * rows_per_task(n);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(per)
            .zip(x.par_chunks(per))
            .for_each(|(o, x)| {
                dispatch(NormRows {
                    x,
                    w,
                    b,
                    eps: self.eps,
                    grad: None,
                    out: o,
                })
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = w.elem_count();
        let (dx, gx, db) = with_data(x, |x| {
            with_data(w, |w| {
                with_data(grad, |g| {
                    let per = n * rows_per_task(n);
                    let mut dx = vec![0f32; x.len()];
                    let mut gx = vec![0f32; x.len()];
                    dx.par_chunks_mut(per)
                        .zip(gx.par_chunks_mut(per))
                        .zip(x.par_chunks(per).zip(g.par_chunks(per)))
                        .for_each(|((o, gx), (x, g))| {
                            dispatch(NormRows {
                                x,
                                w,
                                b: w,
                                eps: self.eps,
                                grad: Some((g, gx)),
                                out: o,
                            })
                        });
                    Ok((dx, gx, column_sums(g, n)))
                })
            })
        })?;
        let dw = column_sums(&gx, n);
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dw, w.shape(), w.device())?),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
        ))
    }
}

/// Layer normalisation over the last dimension: `(x - μ) / √(σ² + ε) · w + b`, one SIMD pass
/// per row (moments in f32 by two passes), parallel over rows, with its gradient.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        LayerNorm { eps: eps as f32 },
    )
}

// In-place forms for inference. When nothing needs a gradient, the output of a linear
// layer's product is owned by the forward pass alone, so its bias, activation, residual and
// layer normalisation can be applied to it where it lies: no new buffer to fill and fault in,
// and one pass over memory instead of two. Same arithmetic as the forms above, per element.

/// What an in-place pass does to each row.
#[derive(Clone, Copy)]
enum RowPass<'a> {
    /// `x + b`.
    Bias(&'a [f32]),
    /// `gelu(x + b)`.
    BiasGelu(&'a [f32]),
    /// `x + b + r` (`r` the whole residual, row-aligned with the data).
    BiasResidual(&'a [f32], &'a [f32]),
    /// Layer normalisation with gain and bias.
    Norm(&'a [f32], &'a [f32], f32),
}

struct InPlaceRows<'a> {
    pass: RowPass<'a>,
    /// The first row's index in the whole tensor (for the residual).
    first_row: usize,
    data: &'a mut [f32],
}

impl WithSimd for InPlaceRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let n = match self.pass {
            RowPass::Bias(b) | RowPass::BiasGelu(b) | RowPass::BiasResidual(b, _) => b.len(),
            RowPass::Norm(w, _, _) => w.len(),
        };
        for (i, row) in self.data.chunks_mut(n).enumerate() {
            match self.pass {
                RowPass::Bias(b) => {
                    let (bv, bt) = S::as_simd_f32s(b);
                    let (xv, xt) = S::as_mut_simd_f32s(row);
                    for (x, &b) in xv.iter_mut().zip(bv) {
                        *x = simd.add_f32s(*x, b);
                    }
                    for (x, &b) in xt.iter_mut().zip(bt) {
                        *x += b;
                    }
                }
                RowPass::BiasGelu(b) => {
                    let (bv, bt) = S::as_simd_f32s(b);
                    let (xv, xt) = S::as_mut_simd_f32s(row);
                    for (x, &b) in xv.iter_mut().zip(bv) {
                        let u = simd.add_f32s(*x, b);
                        *x = simd.mul_f32s(u, gelu_parts(simd, u).0);
                    }
                    for (x, &b) in xt.iter_mut().zip(bt) {
                        let u = *x + b;
                        *x = u * phi_cdf(u);
                    }
                }
                RowPass::BiasResidual(b, r) => {
                    let r = &r[(self.first_row + i) * n..][..n];
                    let (bv, bt) = S::as_simd_f32s(b);
                    let (rv, rt) = S::as_simd_f32s(r);
                    let (xv, xt) = S::as_mut_simd_f32s(row);
                    for ((x, &b), &r) in xv.iter_mut().zip(bv).zip(rv) {
                        *x = simd.add_f32s(simd.add_f32s(*x, b), r);
                    }
                    for ((x, &b), &r) in xt.iter_mut().zip(bt).zip(rt) {
                        *x = *x + b + r;
                    }
                }
                RowPass::Norm(w, b, eps) => {
                    let (mean, inv) = row_moments(simd, row, eps);
                    let (m, iv) = (simd.splat_f32s(mean), simd.splat_f32s(inv));
                    let (wv, wt) = S::as_simd_f32s(w);
                    let (bv, bt) = S::as_simd_f32s(b);
                    let (xv, xt) = S::as_mut_simd_f32s(row);
                    for ((x, &w), &b) in xv.iter_mut().zip(wv).zip(bv) {
                        let xh = simd.mul_f32s(simd.sub_f32s(*x, m), iv);
                        *x = simd.mul_add_f32s(xh, w, b);
                    }
                    for ((x, &w), &b) in xt.iter_mut().zip(wt).zip(bt) {
                        *x = (*x - mean) * inv * w + b;
                    }
                }
            }
        }
    }
}

/// Applies `pass` to the rows of a tensor in place, in parallel.
fn in_place(x: &Tensor, pass: RowPass<'_>, name: &'static str) -> Result<()> {
    struct Op<'a> {
        pass: RowPass<'a>,
        name: &'static str,
    }
    impl candle_core::InplaceOp1 for Op<'_> {
        fn name(&self) -> &'static str {
            self.name
        }

        fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
            let CpuStorage::F32(data) = storage else {
                candle_core::bail!("{}: f32 tensors only", self.name);
            };
            let Some((a, b)) = layout.contiguous_offsets() else {
                candle_core::bail!("{}: the input must be contiguous", self.name);
            };
            let data = &mut data[a..b];
            let (n, residual) = match self.pass {
                RowPass::Bias(b) | RowPass::BiasGelu(b) => (b.len(), None),
                RowPass::BiasResidual(b, r) => (b.len(), Some(r.len())),
                RowPass::Norm(w, b, _) => {
                    if b.len() != w.len() {
                        candle_core::bail!("{}: gain and bias differ in length", self.name);
                    }
                    (w.len(), None)
                }
            };
            if n == 0 || rows(layout) != n || residual.is_some_and(|r| r != data.len()) {
                candle_core::bail!("{}: the operands do not match the rows", self.name);
            }
            let per = n * rows_per_task(n);
            data.par_chunks_mut(per).enumerate().for_each(|(i, chunk)| {
                dispatch(InPlaceRows {
                    pass: self.pass,
                    first_row: i * per / n,
                    data: chunk,
                })
            });
            Ok(())
        }
    }
    if x.track_op() {
        candle_core::bail!("{name}: in-place kernels are for tensors that need no gradient");
    }
    x.inplace_op1(&Op { pass, name })
}

/// In place, for a tensor that needs no gradient: `x + b` per row.
pub fn bias_add_in_place(x: &Tensor, b: &Tensor) -> Result<()> {
    with_data(b, |b| {
        in_place(x, RowPass::Bias(b), "gavel-bias-add-in-place")
    })
}

/// In place, for a tensor that needs no gradient: `gelu(x + b)` per row (as [`bias_gelu`]).
pub fn bias_gelu_in_place(x: &Tensor, b: &Tensor) -> Result<()> {
    with_data(b, |b| {
        in_place(x, RowPass::BiasGelu(b), "gavel-bias-gelu-in-place")
    })
}

/// In place, for a tensor that needs no gradient: `x + b + r` (as [`bias_residual`]).
pub fn bias_residual_in_place(x: &Tensor, b: &Tensor, r: &Tensor) -> Result<()> {
    if x.dims() != r.dims() {
        candle_core::bail!("bias_residual: {:?} and {:?} differ", x.dims(), r.dims());
    }
    with_data(b, |b| {
        with_data(r, |r| {
            in_place(
                x,
                RowPass::BiasResidual(b, r),
                "gavel-bias-residual-in-place",
            )
        })
    })
}

/// In place, for a tensor that needs no gradient: layer normalisation (as [`layer_norm`]).
pub fn layer_norm_in_place(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<()> {
    with_data(w, |w| {
        with_data(b, |b| {
            in_place(
                x,
                RowPass::Norm(w, b, eps as f32),
                "gavel-layer-norm-in-place",
            )
        })
    })
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

    /// The fused bias + dropout + residual equals the three operations one after the other
    /// (same mask), values and gradients.
    #[test]
    fn bias_dropout_residual_equals_its_parts() {
        let mut r = crate::rng::Rng::new(5);
        let mut t = |n: usize| {
            let v: Vec<f32> = (0..n).map(|_| (r.normal() * 2.0) as f32).collect();
            v
        };
        let (rows, n) = (4000, 37);
        let var = |v: Vec<f32>, shape: &[usize]| {
            Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
        };
        let x = var(t(rows * n), &[rows, n]);
        let b = var(t(n), &[n]);
        let res = var(t(rows * n), &[rows, n]);
        let up = Tensor::from_vec(t(rows * n), (rows, n), &Device::Cpu).unwrap();
        assert!(rows * n > 2 * DROPOUT_CHUNK);
        let fused =
            bias_dropout_residual(x.as_tensor(), b.as_tensor(), res.as_tensor(), 0.3, 17).unwrap();
        let parts = (dropout(&bias_add(x.as_tensor(), b.as_tensor()).unwrap(), 0.3, 17).unwrap()
            + res.as_tensor())
        .unwrap();
        assert_eq!(
            fused.to_vec2::<f32>().unwrap(),
            parts.to_vec2::<f32>().unwrap()
        );
        let g1 = (fused * &up)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (parts * &up)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &b, &res] {
            close(
                g1.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
                1e-4,
            );
        }
    }

    /// The in-place inference kernels give exactly what the out-of-place ones give, on rows
    /// whose length is not a multiple of the SIMD width, over several parallel tasks (the
    /// residual is read from the right rows), at every instruction set.
    #[test]
    fn in_place_kernels_equal_the_out_of_place_ones() {
        let mut r = crate::rng::Rng::new(4);
        let mut t = |n: usize| {
            let v: Vec<f32> = (0..n).map(|_| (r.normal() * 2.0) as f32).collect();
            v
        };
        let (rows, n) = (1000, 37);
        let x = Tensor::from_vec(t(rows * n), (rows, n), &Device::Cpu).unwrap();
        let res = Tensor::from_vec(t(rows * n), (rows, n), &Device::Cpu).unwrap();
        let b = Tensor::from_vec(t(n), n, &Device::Cpu).unwrap();
        let w = Tensor::from_vec(t(n), n, &Device::Cpu).unwrap();
        assert!(rows * n > 2 * n * rows_per_task(n));
        let fresh = || x.copy().unwrap();
        crate::attention::tests::each_level(|| {
            let cases: [(Tensor, &dyn Fn(&Tensor)); 4] = [
                (bias_add(&x, &b).unwrap(), &|y| {
                    bias_add_in_place(y, &b).unwrap()
                }),
                (bias_gelu(&x, &b).unwrap(), &|y| {
                    bias_gelu_in_place(y, &b).unwrap()
                }),
                (bias_residual(&x, &b, &res).unwrap(), &|y| {
                    bias_residual_in_place(y, &b, &res).unwrap()
                }),
                (layer_norm(&x, &w, &b, 1e-5).unwrap(), &|y| {
                    layer_norm_in_place(y, &w, &b, 1e-5).unwrap()
                }),
            ];
            for (want, apply) in cases {
                let y = fresh();
                apply(&y);
                let (got, want) = (y.to_vec2::<f32>().unwrap(), want.to_vec2::<f32>().unwrap());
                assert_eq!(got, want);
            }
        });
        // A tensor that needs a gradient is refused.
        let v = Var::from_tensor(&x).unwrap();
        assert!(bias_add_in_place(v.as_tensor(), &b).is_err());
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

    /// The fused bias + GELU and layer norm (gain and bias included) with the gradients of
    /// every input, against candle's primitives, on rows wider than a vector with a remainder.
    #[test]
    fn fused_kernels_equal_their_spelled_out_forms() {
        let mut r = crate::rng::Rng::new(5);
        let mut rand = |shape: &[usize], s: f64| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| (r.normal() * s) as f32).collect();
            Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
        };
        for n in [37usize, 48, 5] {
            let x = rand(&[3, 7, n], 2.0);
            let b = rand(&[n], 1.0);
            let w = rand(&[n], 1.0);
            let up = rand(&[3, 7, n], 1.0);
            // Bias + GELU.
            let a = bias_gelu(&x, &b).unwrap();
            let e = x.broadcast_add(&b).unwrap().gelu_erf().unwrap();
            close(&a, &e, 1e-5);
            let ga = (a * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let ge = (e * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &b] {
                close(ga.get(v).unwrap(), ge.get(v).unwrap(), 1e-4);
            }
            // Bias, and bias + residual.
            let res = rand(&[3, 7, n], 1.0);
            let a = bias_residual(&x, &b, &res).unwrap();
            let e = (x.broadcast_add(&b).unwrap() + res.as_tensor()).unwrap();
            close(&a, &e, 1e-6);
            let ga = (a * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let ge = (e * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &b, &res] {
                close(ga.get(v).unwrap(), ge.get(v).unwrap(), 1e-5);
            }
            let a = bias_add(&x, &b).unwrap();
            let e = x.broadcast_add(&b).unwrap();
            close(&a, &e, 1e-6);
            let ga = (a * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let ge = (e * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &b] {
                close(ga.get(v).unwrap(), ge.get(v).unwrap(), 1e-5);
            }
            // Dropout: the mask of the spelled-out form, and its gradient.
            let a = dropout(&x, 0.3, 77).unwrap();
            let mut mask = vec![0f32; x.elem_count()];
            for (i, chunk) in mask.chunks_mut(DROPOUT_CHUNK).enumerate() {
                // Spelled out: two 24-bit uniforms per 64-bit draw, compared with p.
                let mut rng = crate::rng::Rng::derive(77, &[i as u64]);
                let mut draws = Vec::new();
                while draws.len() < chunk.len() {
                    let v = rng.next_u64();
                    draws.push((v >> 40) as f32 / (1u64 << 24) as f32);
                    draws.push(((v >> 16) & 0xFF_FFFF) as f32 / (1u64 << 24) as f32);
                }
                for (m, u) in chunk.iter_mut().zip(draws) {
                    *m = if u < 0.3 { 0.0 } else { 1.0 / 0.7 };
                }
            }
            let mask = Tensor::from_vec(mask, x.shape(), &Device::Cpu).unwrap();
            let e = (x.as_tensor() * &mask).unwrap();
            close(&a, &e, 1e-6);
            let ga = (a * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let ge = (e * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            close(ga.get(&x).unwrap(), ge.get(&x).unwrap(), 1e-6);
            // Layer norm with gain and bias.
            let a = layer_norm(&x, &w, &b, 1e-12).unwrap();
            let mean = x.mean_keepdim(D::Minus1).unwrap();
            let c = x.broadcast_sub(&mean).unwrap();
            let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            let e = c
                .broadcast_div(&(var + 1e-12).unwrap().sqrt().unwrap())
                .unwrap()
                .broadcast_mul(&w)
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            close(&a, &e, 1e-5);
            let ga = (a * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let ge = (e * up.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w, &b] {
                close(ga.get(v).unwrap(), ge.get(v).unwrap(), 1e-4);
            }
        }
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
