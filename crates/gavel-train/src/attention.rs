//! Fused multi-head attention on the CPU, with its gradient: `softmax(Q Kᵀ · scale + bias) V`
//! for every (sequence, head) pair of a batch as one candle custom operation.
//!
//! Why: candle multiplies the batch × heads small attention matrices one after the other, each
//! product split over the threads, so at 256 tokens most of the time went to starting and
//! joining threads rather than to arithmetic. Here each pair runs on one thread and the pairs run
//! in parallel (rayon): forward by (sequence, block of query rows), backward by sequence.
//!
//! The small products use a register-blocked kernel written against `pulp`'s safe SIMD API
//! (already in the tree through candle's `gemm`): the instruction set (AVX-512, AVX2+FMA or
//! scalar) is chosen at run time. The workspace forbids `unsafe`, and this needs none.
//!
//! The formulas, with `S = Q Kᵀ · scale + bias`, `P = softmax(S)` over keys, `M` the dropout mask
//! (0 or 1/(1-p)), `P' = P ⊙ M` and `O = P' V`:
//!
//! - `dV = P'ᵀ dO`, `dP' = dO Vᵀ`, `dP = dP' ⊙ M`,
//! - `dS = P ⊙ (dP - rowsum(dP ⊙ P))`, `dQ = dS K · scale`, `dK = dSᵀ Q · scale`.
//!
//! The bias (padding mask) is a constant and gets no gradient. `P` is kept from the forward pass
//! for the backward one when the inputs need gradients (the unfused form keeps the scores, the
//! masked scores, `P` and `P'`); the mask is drawn again from its seed. Tested against the same
//! function spelled out in candle's differentiable primitives, with padding and dropout
//! (`tests` below), and through the encoder against transformers and PyTorch.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::rng::Rng;

/// Query rows per parallel task of the forward pass.
const ROW_BLOCK: usize = 32;

/// Dropout on the attention probabilities of one forward pass.
#[derive(Debug, Clone, Copy)]
pub struct AttnDropout {
    /// The probability of dropping a weight.
    pub p: f32,
    /// Where the masks come from: the mask of (sequence, head, query row) is drawn from its own
    /// stream derived from this seed, so it does not depend on the thread count.
    pub seed: u64,
}

impl AttnDropout {
    /// The mask of one query row: 0 for a dropped weight, 1/(1-p) for a kept one.
    fn row(&self, b: usize, h: usize, i: usize, out: &mut [f32]) {
        let drops = Rng::derive(self.seed, &[b as u64, h as u64, i as u64]).drops(self.p);
        let keep = 1.0 / (1.0 - self.p);
        for (m, drop) in out.iter_mut().zip(drops) {
            *m = if drop { 0.0 } else { keep };
        }
    }

    /// The whole `(B, H, T, T)` mask the fused operation applies (for tests and references).
    pub fn mask(&self, batch: usize, heads: usize, t: usize) -> Vec<f32> {
        let mut out = vec![0f32; batch * heads * t * t];
        for (n, row) in out.chunks_mut(t.max(1)).enumerate() {
            let (i, bh) = (n % t, n / t);
            self.row(bh / heads, bh % heads, i, row);
        }
        out
    }
}

/// Multi-head attention over `(B, T, H·d)` queries, keys and values laid out as the projections
/// give them (head `h` in columns `h·d .. (h+1)·d`); `bias` is `(B, T)`, added to every query
/// row's scores over the keys (0 for tokens, a large negative number for padding). Returns the
/// attended values, `(B, T, H·d)`, heads concatenated the same way.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    bias: Arc<Vec<f32>>,
    dropout: Option<AttnDropout>,
) -> Result<Tensor> {
    let (b, t, hd) = q.dims3()?;
    if heads == 0 || hd % heads != 0 {
        candle_core::bail!("attention: {hd} columns do not split into {heads} heads");
    }
    if k.dims() != q.dims() || v.dims() != q.dims() {
        candle_core::bail!(
            "attention: queries {:?}, keys {:?} and values {:?} differ in shape",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if bias.len() != b * t {
        candle_core::bail!(
            "attention: the bias has {} values for {b} x {t}",
            bias.len()
        );
    }
    let keep = q.track_op() || k.track_op() || v.track_op();
    let op = Attention {
        heads,
        scale: 1.0 / ((hd / heads) as f32).sqrt(),
        bias,
        dropout: dropout.filter(|d| d.p > 0.0),
        keep,
        probs: Mutex::new(None),
    };
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct Attention {
    heads: usize,
    scale: f32,
    bias: Arc<Vec<f32>>,
    dropout: Option<AttnDropout>,
    /// Whether to keep the probabilities for the backward pass.
    keep: bool,
    /// Per sequence, the probabilities `P` laid out `(T, H, T)` (query, head, key).
    probs: Mutex<Option<Vec<Vec<f32>>>>,
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, name: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{name}: the input must be contiguous"),
    }
}

impl Attention {
    /// One block of query rows of one sequence, every head: writes the attended rows into `o`
    /// (rows of `H·d`) and, when kept, the probabilities into `p` (rows of `H·T`).
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        (q, k, v): (&[f32], &[f32], &[f32]),
        t: usize,
        hd: usize,
        bi: usize,
        i0: usize,
        o: &mut [f32],
        mut p: Option<&mut [f32]>,
    ) {
        let heads = self.heads;
        let d = hd / heads;
        let m = o.len() / hd;
        let bias = &self.bias[bi * t..(bi + 1) * t];
        let mut s = vec![0f32; m * t];
        let mut mask = vec![0f32; if self.dropout.is_some() { t } else { 0 }];
        let seq = bi * t * hd;
        for h in 0..heads {
            // S = Q Kᵀ for these rows (Kᵀ read through its strides).
            matmul(
                m,
                t,
                d,
                View::new(&q[seq + i0 * hd + h * d..], hd, 1),
                View::new(&k[seq + h * d..], 1, hd),
                &mut s,
                t,
            );
            dispatch(SoftmaxRows {
                s: &mut s,
                bias,
                scale: self.scale,
            });
            for (r, row) in s.chunks_mut(t).enumerate() {
                if let Some(p) = p.as_deref_mut() {
                    p[(r * heads + h) * t..][..t].copy_from_slice(row);
                }
                if let Some(dr) = &self.dropout {
                    dr.row(bi, h, i0 + r, &mut mask);
                    for (x, &mv) in row.iter_mut().zip(&mask) {
                        *x *= mv;
                    }
                }
            }
            // O = P' V.
            matmul(
                m,
                d,
                t,
                View::new(&s, t, 1),
                View::new(&v[seq + h * d..], hd, 1),
                &mut o[h * d..],
                hd,
            );
        }
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "gavel-attention"
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
        let q = contiguous(s1, l1, self.name())?;
        let k = contiguous(s2, l2, self.name())?;
        let v = contiguous(s3, l3, self.name())?;
        let (b, t, hd) = l1.shape().dims3()?;
        let heads = self.heads;
        let mut out = vec![0f32; b * t * hd];
        let mut probs: Vec<Vec<f32>> = if self.keep {
            (0..b).map(|_| vec![0f32; t * heads * t]).collect()
        } else {
            Vec::new()
        };
        if b * t > 0 {
            let qkv = (q, k, v);
            // Whole sequences per task when there are enough of them (each head's B operands
            // packed once), else blocks of query rows.
            let rb = if b >= 2 * rayon::current_num_threads() {
                t
            } else {
                ROW_BLOCK.min(t)
            };
            let seqs = out.par_chunks_mut(t * hd).enumerate();
            if self.keep {
                seqs.zip(probs.par_iter_mut()).for_each(|((bi, o), p)| {
                    o.par_chunks_mut(rb * hd)
                        .zip(p.par_chunks_mut(rb * heads * t))
                        .enumerate()
                        .for_each(|(blk, (o, p))| {
                            self.rows(qkv, t, hd, bi, blk * rb, o, Some(p));
                        });
                });
            } else {
                seqs.for_each(|(bi, o)| {
                    o.par_chunks_mut(rb * hd)
                        .enumerate()
                        .for_each(|(blk, o)| self.rows(qkv, t, hd, bi, blk * rb, o, None));
                });
            }
        }
        if self.keep {
            *self
                .probs
                .lock()
                .map_err(|_| candle_core::Error::Msg("attention: poisoned lock".into()))? =
                Some(probs);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let guard = self
            .probs
            .lock()
            .map_err(|_| candle_core::Error::Msg("attention: poisoned lock".into()))?;
        let Some(probs) = guard.as_ref() else {
            candle_core::bail!("attention: the forward pass kept no probabilities");
        };
        let (b, t, hd) = q.dims3()?;
        let heads = self.heads;
        let d = hd / heads;
        let grad = grad.contiguous()?;
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (Storage::Cpu(qs), Storage::Cpu(ks), Storage::Cpu(vs), Storage::Cpu(gs)) =
            (&*qs, &*ks, &*vs, &*gs)
        else {
            candle_core::bail!("attention: CPU tensors only");
        };
        let q = contiguous(qs, ql, self.name())?;
        let k = contiguous(ks, kl, self.name())?;
        let v = contiguous(vs, vl, self.name())?;
        let g = contiguous(gs, gl, self.name())?;
        let n = b * t * hd;
        let (mut dq, mut dk, mut dv) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        if n > 0 {
            dq.par_chunks_mut(t * hd)
                .zip(dk.par_chunks_mut(t * hd))
                .zip(dv.par_chunks_mut(t * hd))
                .zip(probs.par_iter())
                .enumerate()
                .for_each(|(bi, (((dq, dk), dv), pb))| {
                    let seq = bi * t * hd;
                    let mut ds = vec![0f32; t * t];
                    // P ⊙ M and M, with dropout.
                    let (mut pd, mut mk) = match self.dropout {
                        Some(_) => (vec![0f32; t * t], vec![0f32; t * t]),
                        None => (Vec::new(), Vec::new()),
                    };
                    for h in 0..heads {
                        let p_at = |i: usize| &pb[(i * heads + h) * t..][..t];
                        let dropped = match &self.dropout {
                            Some(dr) => {
                                for i in 0..t {
                                    let mrow = &mut mk[i * t..(i + 1) * t];
                                    dr.row(bi, h, i, mrow);
                                    for ((x, &pv), &mv) in
                                        pd[i * t..(i + 1) * t].iter_mut().zip(p_at(i)).zip(&*mrow)
                                    {
                                        *x = pv * mv;
                                    }
                                }
                                View::new(&pd, t, 1)
                            }
                            None => View::new(&pb[h * t..], heads * t, 1),
                        };
                        let go = View::new(&g[seq + h * d..], hd, 1);
                        // dV = P'ᵀ dO.
                        matmul(t, d, t, dropped.t(), go, &mut dv[h * d..], hd);
                        // dP' = dO Vᵀ.
                        matmul(t, t, d, go, View::new(&v[seq + h * d..], 1, hd), &mut ds, t);
                        // dS = P ⊙ (dP - rowsum(dP ⊙ P)) · scale, dP = dP' ⊙ M.
                        dispatch(SoftmaxGradRows {
                            ds: &mut ds,
                            t,
                            p: &pb[h * t..],
                            p_rs: heads * t,
                            mask: self.dropout.map(|_| &mk[..]),
                            scale: self.scale,
                        });
                        let ds_view = View::new(&ds, t, 1);
                        // dQ = dS K, dK = dSᵀ Q.
                        matmul(
                            t,
                            d,
                            t,
                            ds_view,
                            View::new(&k[seq + h * d..], hd, 1),
                            &mut dq[h * d..],
                            hd,
                        );
                        matmul(
                            t,
                            d,
                            t,
                            ds_view.t(),
                            View::new(&q[seq + h * d..], hd, 1),
                            &mut dk[h * d..],
                            hd,
                        );
                    }
                });
        }
        let dev = grad.device();
        let shape = (b, t, hd);
        Ok((
            Some(Tensor::from_vec(dq, shape, dev)?),
            Some(Tensor::from_vec(dk, shape, dev)?),
            Some(Tensor::from_vec(dv, shape, dev)?),
        ))
    }
}

/// Runs a SIMD operation with the best instruction set this CPU has (chosen at run time).
pub(crate) fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    {
        // Tests run every instruction set this CPU has (0 = best, 1 = AVX2, 2 = scalar).
        #[cfg(test)]
        let level = tests::LEVEL.with(|l| l.get());
        #[cfg(not(test))]
        let level = 0;
        if level == 0
            && let Some(simd) = pulp::x86::V4::try_new()
        {
            return Simd::vectorize(simd, op);
        }
        if level <= 1
            && let Some(simd) = pulp::x86::V3::try_new()
        {
            return Simd::vectorize(simd, op);
        }
        Simd::vectorize(pulp::Scalar::new(), op)
    }
    #[cfg(not(target_arch = "x86_64"))]
    pulp::Arch::new().dispatch(op)
}

/// e^x for every lane: x = n ln 2 + r with |r| <= ln 2 / 2 (Cody and Waite's two-part ln 2),
/// e^r by the Cephes `expf` polynomial (relative error about 1e-7), 2^n built in the exponent
/// bits. Below -87 the result is 0 (so masked scores give exactly 0, as `expf` does).
#[inline(always)]
pub(crate) fn exp_v<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let lo = s.splat_f32s(-87.0);
    let tiny = s.less_than_f32s(x, lo);
    let x = s.min_f32s(s.max_f32s(x, lo), s.splat_f32s(88.0));
    // 1.5 * 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    let magic = s.splat_f32s(12_582_912.0);
    let t = s.mul_add_f32s(x, s.splat_f32s(std::f32::consts::LOG2_E), magic);
    let n = s.sub_f32s(t, magic);
    let r = s.mul_add_f32s(n, s.splat_f32s(-0.693_359_4), x);
    let r = s.mul_add_f32s(n, s.splat_f32s(2.121_944_4e-4), r);
    let mut p = s.splat_f32s(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = s.mul_add_f32s(p, r, s.splat_f32s(c));
    }
    let p = s.add_f32s(s.mul_add_f32s(p, s.mul_f32s(r, r), r), s.splat_f32s(1.0));
    // 2^n: (n + 127) << 23, from the bits of t (0x4B40_0000 + n).
    let bits = s.sub_u32s(s.transmute_u32s_f32s(t), s.splat_u32s(0x4B40_0000 - 127));
    let two_n = s.transmute_f32s_u32s(s.mul_u32s(bits, s.splat_u32s(1 << 23)));
    s.select_f32s(tiny, s.splat_f32s(0.0), s.mul_f32s(p, two_n))
}

/// Rows of scores in place: `softmax(x · scale + bias)`.
struct SoftmaxRows<'a> {
    s: &'a mut [f32],
    bias: &'a [f32],
    scale: f32,
}

impl WithSimd for SoftmaxRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let t = self.bias.len();
        let (bv, bt) = S::as_simd_f32s(self.bias);
        let scale = simd.splat_f32s(self.scale);
        for row in self.s.chunks_mut(t) {
            let (rv, rt) = S::as_mut_simd_f32s(row);
            let mut mx = simd.splat_f32s(f32::NEG_INFINITY);
            for (x, &b) in rv.iter_mut().zip(bv) {
                *x = simd.mul_add_f32s(*x, scale, b);
                mx = simd.max_f32s(mx, *x);
            }
            let mut max = simd.reduce_max_f32s(mx);
            for (x, &b) in rt.iter_mut().zip(bt) {
                *x = *x * self.scale + b;
                max = max.max(*x);
            }
            let m = simd.splat_f32s(max);
            let mut acc = simd.splat_f32s(0.0);
            for x in rv.iter_mut() {
                *x = exp_v(simd, simd.sub_f32s(*x, m));
                acc = simd.add_f32s(acc, *x);
            }
            let mut sum = simd.reduce_sum_f32s(acc);
            for x in rt.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            let inv = 1.0 / sum;
            let iv = simd.splat_f32s(inv);
            for x in rv.iter_mut() {
                *x = simd.mul_f32s(*x, iv);
            }
            for x in rt.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// The softmax gradient in place over rows of `dP'`: with dropout `dP = dP' ⊙ M`, then
/// `dS = P ⊙ (dP - rowsum(dP ⊙ P)) · scale`.
struct SoftmaxGradRows<'a> {
    /// dP', rows of t.
    ds: &'a mut [f32],
    t: usize,
    /// P, row i at `p[i * p_rs..][..t]`.
    p: &'a [f32],
    p_rs: usize,
    /// M, rows of t.
    mask: Option<&'a [f32]>,
    scale: f32,
}

impl WithSimd for SoftmaxGradRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let t = self.t;
        for (i, row) in self.ds.chunks_mut(t).enumerate() {
            if let Some(mask) = self.mask {
                for (x, &m) in row.iter_mut().zip(&mask[i * t..(i + 1) * t]) {
                    *x *= m;
                }
            }
            let prow = &self.p[i * self.p_rs..i * self.p_rs + t];
            let (rv, rt) = S::as_mut_simd_f32s(row);
            let (pv, pt) = S::as_simd_f32s(prow);
            let mut acc = simd.splat_f32s(0.0);
            for (&x, &p) in rv.iter().zip(pv) {
                acc = simd.mul_add_f32s(x, p, acc);
            }
            let mut dot = simd.reduce_sum_f32s(acc);
            for (&x, &p) in rt.iter().zip(pt) {
                dot += x * p;
            }
            let d = simd.splat_f32s(dot);
            let sc = simd.splat_f32s(self.scale);
            for (x, &p) in rv.iter_mut().zip(pv) {
                *x = simd.mul_f32s(simd.mul_f32s(p, simd.sub_f32s(*x, d)), sc);
            }
            for (x, &p) in rt.iter_mut().zip(pt) {
                *x = p * (*x - dot) * self.scale;
            }
        }
    }
}

/// A read-only matrix: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    fn new(data: &'a [f32], rs: usize, cs: usize) -> View<'a> {
        View { data, rs, cs }
    }

    /// The transpose.
    fn t(self) -> View<'a> {
        View {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `c[i * crs + j] = Σ_l a(i, l) b(l, j)` for `i < m`, `j < n`, `l < k`, on the calling thread.
fn matmul(m: usize, n: usize, k: usize, a: View, b: View, c: &mut [f32], crs: usize) {
    if m == 0 || n == 0 {
        return;
    }
    dispatch(MatMul {
        m,
        n,
        k,
        a,
        b,
        c,
        crs,
    })
}

struct MatMul<'a, 'c> {
    m: usize,
    n: usize,
    k: usize,
    a: View<'a>,
    b: View<'a>,
    c: &'c mut [f32],
    crs: usize,
}

impl WithSimd for MatMul<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // Tiles of MR rows by NR vectors of accumulators: as many as the registers hold with
        // room for the B vectors and a broadcast.
        let nv = self.n.div_ceil(S::F32_LANES);
        let wide = S::REGISTER_COUNT >= 32;
        match (wide, nv) {
            (true, 4..) => tiles::<S, 4, 4>(simd, self),
            (true, 3) => tiles::<S, 4, 3>(simd, self),
            (true, 2) => tiles::<S, 8, 2>(simd, self),
            (false, 2..) => tiles::<S, 4, 2>(simd, self),
            _ => tiles::<S, 8, 1>(simd, self),
        }
    }
}

#[inline(always)]
fn tiles<S: Simd, const MR: usize, const NR: usize>(simd: S, p: MatMul) {
    let lanes = S::F32_LANES;
    let nv = p.n.div_ceil(lanes);
    // B packed row by row into whole vectors, zero beyond column n, to a multiple of NR.
    let nvp = nv.div_ceil(NR) * NR;
    let width = nvp * lanes;
    let mut packed = vec![0f32; p.k * width];
    if p.b.cs == 1 {
        for (l, row) in packed.chunks_mut(width).enumerate() {
            let base = l * p.b.rs;
            row[..p.n].copy_from_slice(&p.b.data[base..base + p.n]);
        }
    } else if p.b.rs == 1 {
        // A transposed operand (Kᵀ, Vᵀ): read its rows (contiguous), write columns.
        for j in 0..p.n {
            let src = &p.b.data[j * p.b.cs..j * p.b.cs + p.k];
            for (l, &x) in src.iter().enumerate() {
                packed[l * width + j] = x;
            }
        }
    } else {
        for (l, row) in packed.chunks_mut(width).enumerate() {
            for (j, x) in row[..p.n].iter_mut().enumerate() {
                *x = p.b.data[l * p.b.rs + j * p.b.cs];
            }
        }
    }
    let (bv, _) = S::as_simd_f32s(&packed);
    let zero = simd.splat_f32s(0.0);
    let MatMul {
        m, n, k, a, c, crs, ..
    } = p;
    let mut i0 = 0;
    while i0 < m {
        // Rows past the end repeat the last one; their results are not stored.
        let rows: [usize; MR] = std::array::from_fn(|r| (i0 + r).min(m - 1) * a.rs);
        for t0 in (0..nvp).step_by(NR) {
            let mut acc = [[zero; NR]; MR];
            for l in 0..k {
                let bq: &[S::f32s; NR] = bv[l * nvp + t0..l * nvp + t0 + NR]
                    .try_into()
                    .unwrap_or_else(|_| unreachable!());
                let off = l * a.cs;
                for r in 0..MR {
                    let x = simd.splat_f32s(a.data[rows[r] + off]);
                    for t in 0..NR {
                        acc[r][t] = simd.mul_add_f32s(x, bq[t], acc[r][t]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let i = i0 + r;
                if i >= m {
                    break;
                }
                for (t, &val) in acc.iter().enumerate() {
                    let col = (t0 + t) * lanes;
                    if col >= n {
                        break;
                    }
                    let w = (n - col).min(lanes);
                    let dst = &mut c[i * crs + col..i * crs + col + w];
                    if w == lanes {
                        // A whole vector: a plain store (pulp's masked store is an
                        // out-of-line call).
                        S::as_mut_simd_f32s(dst).0[0] = val;
                    } else {
                        simd.partial_store_f32s(dst, val);
                    }
                }
            }
        }
        i0 += MR;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{D, Device, Var};
    use std::cell::Cell;

    thread_local! {
        pub(super) static LEVEL: Cell<u8> = const { Cell::new(0) };
    }

    /// Runs `f` with each instruction set: the best, AVX2 + FMA, scalar.
    pub(crate) fn each_level(f: impl Fn()) {
        for level in 0..3 {
            LEVEL.with(|l| l.set(level));
            f();
        }
        LEVEL.with(|l| l.set(0));
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn random(r: &mut Rng, shape: &[usize], scale: f64) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (r.normal() * scale) as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The same function in candle's differentiable primitives, with the mask of `dropout`.
    fn reference(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        heads: usize,
        bias: &[f32],
        dropout: Option<AttnDropout>,
    ) -> Tensor {
        let (b, t, hd) = q.dims3().unwrap();
        let d = hd / heads;
        let split = |x: &Tensor| {
            x.reshape((b, t, heads, d))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (qh, kh, vh) = (split(q), split(k), split(v));
        let bias = Tensor::from_vec(bias.to_vec(), (b, 1, 1, t), &Device::Cpu).unwrap();
        let s = (qh.matmul(&kh.t().unwrap()).unwrap() * (1.0 / (d as f64).sqrt()))
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let max = s.max_keepdim(D::Minus1).unwrap().detach();
        let e = s.broadcast_sub(&max).unwrap().exp().unwrap();
        let mut p = e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap();
        if let Some(dr) = dropout {
            let m = Tensor::from_vec(dr.mask(b, heads, t), (b, heads, t, t), &Device::Cpu);
            p = (p * m.unwrap()).unwrap();
        }
        p.matmul(&vh)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((b, t, hd))
            .unwrap()
    }

    /// Forward values and the gradients of Q, K and V against the spelled-out form, on random
    /// inputs with padded sequences (keys masked, padded query rows included), with and without
    /// dropout, at sizes that exercise the kernel's row and column remainders.
    #[test]
    fn fused_attention_equals_the_spelled_out_form() {
        let mut r = Rng::new(4);
        for &(b, t, heads, d, ref lens, drop) in &[
            (3usize, 37usize, 2usize, 8usize, vec![37usize, 20, 1], None),
            (2, 70, 3, 32, vec![70, 45], None),
            (2, 70, 3, 32, vec![64, 70], Some(0.3f32)),
            (1, 5, 1, 3, vec![4], Some(0.5)),
            (2, 129, 2, 17, vec![129, 100], None),
        ] {
            let hd = heads * d;
            let mut bias = vec![-1e30f32; b * t];
            for (bi, &len) in lens.iter().enumerate() {
                bias[bi * t..bi * t + len].fill(0.0);
            }
            let dropout = drop.map(|p| AttnDropout { p, seed: 11 });
            let q = Var::from_tensor(&random(&mut r, &[b, t, hd], 1.5)).unwrap();
            let k = Var::from_tensor(&random(&mut r, &[b, t, hd], 1.5)).unwrap();
            let v = Var::from_tensor(&random(&mut r, &[b, t, hd], 1.0)).unwrap();
            let up = random(&mut r, &[b, t, hd], 1.0);
            let fused = attention(&q, &k, &v, heads, Arc::new(bias.clone()), dropout).unwrap();
            let refd = reference(&q, &k, &v, heads, &bias, dropout);
            let case = format!("b {b} t {t} heads {heads} d {d} dropout {drop:?}");
            assert!(max_diff(&fused, &refd) < 1e-5, "{case}: forward");
            let gf = (fused * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gr = (refd * &up).unwrap().sum_all().unwrap().backward().unwrap();
            for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
                let (a, e) = (gf.get(x).unwrap(), gr.get(x).unwrap());
                let dd = max_diff(a, e);
                assert!(dd < 1e-4, "{case}: d{name} differs by {dd}");
            }
        }
    }

    /// Central finite differences of a scalar function of the output against the analytic
    /// gradient (f64 differences of an f32 function: a loose, independent check).
    #[test]
    fn fused_attention_gradient_matches_finite_differences() {
        let mut r = Rng::new(8);
        let (b, t, heads, d) = (2, 6, 2, 4);
        let hd = heads * d;
        let mut bias = vec![0f32; b * t];
        bias[t + 4..2 * t].fill(-1e30);
        let q0 = random(&mut r, &[b, t, hd], 1.0);
        let k0 = random(&mut r, &[b, t, hd], 1.0);
        let v0 = random(&mut r, &[b, t, hd], 1.0);
        let up = random(&mut r, &[b, t, hd], 1.0);
        let f = |q: &Tensor, k: &Tensor, v: &Tensor| -> f64 {
            let o = attention(q, k, v, heads, Arc::new(bias.clone()), None).unwrap();
            (o * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        let vars = [
            Var::from_tensor(&q0).unwrap(),
            Var::from_tensor(&k0).unwrap(),
            Var::from_tensor(&v0).unwrap(),
        ];
        let o = attention(
            &vars[0],
            &vars[1],
            &vars[2],
            heads,
            Arc::new(bias.clone()),
            None,
        )
        .unwrap();
        let grads = (o * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let eps = 1e-2f32;
        for which in 0..3 {
            let g = grads
                .get(&vars[which])
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let base: Vec<Vec<f32>> = [&q0, &k0, &v0]
                .iter()
                .map(|x| x.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect();
            for idx in (0..b * t * hd).step_by(7) {
                let at = |delta: f32| {
                    let mut xs = base.clone();
                    xs[which][idx] += delta;
                    let ts: Vec<Tensor> = xs
                        .into_iter()
                        .map(|x| Tensor::from_vec(x, (b, t, hd), &Device::Cpu).unwrap())
                        .collect();
                    f(&ts[0], &ts[1], &ts[2])
                };
                let num = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                let diff = (num - g[idx] as f64).abs();
                assert!(
                    diff < 2e-3 * (1.0 + num.abs()),
                    "input {which} index {idx}: numeric {num}, analytic {}",
                    g[idx]
                );
            }
        }
    }

    struct ExpAll<'a>(&'a mut [f32]);

    impl WithSimd for ExpAll<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let (v, tail) = S::as_mut_simd_f32s(self.0);
            for x in v {
                *x = exp_v(simd, *x);
            }
            assert!(tail.is_empty());
        }
    }

    /// The vector exponential against the standard library's, over the range softmax uses
    /// (scores minus their maximum) and beyond.
    #[test]
    fn vector_exp_is_accurate() {
        let mut xs: Vec<f32> = (0..4096).map(|i| -90.0 + i as f32 * 0.0259).collect();
        xs.extend([0.0, -1e-8, 1e-8, 1.0, 20.0, -1e30, f32::MIN, -86.9]);
        while !xs.len().is_multiple_of(64) {
            xs.push(0.5);
        }
        each_level(|| {
            let mut got = xs.clone();
            dispatch(ExpAll(&mut got));
            for (&x, &g) in xs.iter().zip(&got) {
                let want = (x as f64).exp();
                if x < -87.0 {
                    assert_eq!(g, 0.0, "{x}");
                } else {
                    let rel = (g as f64 - want).abs() / want;
                    assert!(
                        rel < 4e-7,
                        "exp({x}) = {g}, want {want} (relative error {rel})"
                    );
                }
            }
        });
    }

    /// The small-matrix kernel against a plain triple loop, for transposed operands and sizes
    /// around the vector width.
    #[test]
    fn kernel_equals_naive_product() {
        let mut r = Rng::new(3);
        for &(m, n, k) in &[(1, 1, 1), (5, 3, 7), (9, 17, 4), (33, 70, 32), (8, 32, 65)] {
            let a: Vec<f32> = (0..m * k).map(|_| r.normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| r.normal() as f32).collect();
            for (at, bt) in [(false, false), (true, false), (false, true), (true, true)] {
                let av = if at {
                    View::new(&a, 1, m)
                } else {
                    View::new(&a, k, 1)
                };
                let bv = if bt {
                    View::new(&b, 1, k)
                } else {
                    View::new(&b, n, 1)
                };
                let crs = n + 3;
                each_level(|| {
                    let mut c = vec![f32::NAN; m * crs];
                    matmul(m, n, k, av, bv, &mut c, crs);
                    for i in 0..m {
                        for j in 0..n {
                            let want: f32 = (0..k)
                                .map(|l| {
                                    av.data[i * av.rs + l * av.cs] * bv.data[l * bv.rs + j * bv.cs]
                                })
                                .sum();
                            let got = c[i * crs + j];
                            assert!(
                                (got - want).abs() < 1e-4,
                                "{m}x{n}x{k} {at} {bt} ({i}, {j})"
                            );
                        }
                        // Columns past n untouched.
                        assert!(c[i * crs + n..(i + 1) * crs].iter().all(|x| x.is_nan()));
                    }
                });
            }
        }
    }
}
