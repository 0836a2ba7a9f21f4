//! The matrix products of the linear layers, `x Wᵀ`, and their gradients, as a candle custom
//! operation that calls the `gemm` crate itself.
//!
//! Why not candle's `matmul`: on the CPU it (1) zero-fills every new output on the calling
//! thread before the product, (2) hands each product to gemm's own thread scheduler, which
//! packs the right-hand side on one thread while the others wait, and (3) in a linear layer
//! needs `Wᵀ` as a contiguous copy (the packing of a transposed view was slower), a copy per
//! call and another in the backward pass. Profiles of inference and training showed all three.
//! Here the output rows are split into one block per thread and each block is one
//! single-threaded gemm call that writes its rows once; `W` is read in place through strides.
//!
//! The backward pass uses the same function: `dx = dy W` and `dW = dyᵀ x` (the latter split
//! by rows of `dW`, so every thread reads all of `dy` and `x` and the threads never add into
//! the same place).
//!
//! This is the one place in the workspace with `unsafe` code: gemm's entry point takes raw
//! pointers and strides. [`product`] checks every index gemm can reach against the slices
//! before the call; see the comment at the `unsafe` block.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Output rows per block are a multiple of this (the height of gemm's AVX-512 f32 kernel), so
/// that no block but the last ends in a partial tile.
const ROW_QUANTUM: usize = 64;

/// Runs `op` on `x` (`(..., K)`) seen as a `(rows, K)` matrix, for a weight of `weight_k`
/// input columns, and gives its `(rows, n)` result back as `(..., n)`.
fn on_rows(
    x: &Tensor,
    weight_k: usize,
    n: usize,
    op: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let Some((&k, lead)) = dims.split_last() else {
        candle_core::bail!("linear: the input has no dimensions");
    };
    if weight_k != k {
        candle_core::bail!("linear: the input has {k} columns, the weight {weight_k}");
    }
    let rows: usize = lead.iter().product();
    let y = op(&x.reshape((rows, k))?.contiguous()?)?;
    let mut out = dims;
    let last = out.len() - 1;
    out[last] = n;
    y.reshape(out)
}

/// `x Wᵀ` for `x` of shape `(..., K)` and `W` of shape `(N, K)` (a linear layer's weight as
/// stored): returns `(..., N)`, with gradients for both inputs.
pub fn linear_product(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (n, wk) = w.dims2()?;
    on_rows(x, wk, n, |x| x.apply_op2(&w.contiguous()?, LinearProduct))
}

/// `x Wᵀ + b` for `x` of shape `(..., K)`, `W` `(N, K)` and `b` `(N)`, with gradients for all
/// three: one graph node where the product and a bias kernel would be two (in training every
/// node costs candle a zero-filled gradient buffer and an addition). The bias is added to
/// each block of rows right after gemm writes it, while the block is in cache.
pub fn linear_bias(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (n, wk) = w.dims2()?;
    if b.dims() != [n] {
        candle_core::bail!(
            "linear: weight {:?} and bias {:?} do not fit",
            w.dims(),
            b.dims()
        );
    }
    on_rows(x, wk, n, |x| {
        x.apply_op3(&w.contiguous()?, &b.contiguous()?, LinearBias)
    })
}

/// `x Wᵀ` given `Wᵀ` (`(K, N)`, contiguous) for `x` of shape `(..., K)`, without gradients
/// (for weights that are not trained and inputs that need none).
pub fn product_transposed(x: &Tensor, wt: &Tensor) -> Result<Tensor> {
    let (wk, n) = wt.dims2()?;
    on_rows(x, wk, n, |x| {
        x.apply_op2_no_bwd(&wt.contiguous()?, &Backward::Input)
    })
}

/// A read-only matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl Operand<'_> {
    /// Whether every element of a `rows × cols` matrix lies inside the slice.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.rs).and_then(|a| {
            (cols - 1)
                .checked_mul(self.cs)
                .and_then(|b| a.checked_add(b))
        });
        last.is_some_and(|i| i < self.data.len())
    }

    /// The operand from row `r` on.
    fn starting_at_row(self, r: usize) -> Self {
        Operand {
            data: &self.data[(r * self.rs).min(self.data.len())..],
            ..self
        }
    }
}

/// `lhs · rhs` for an `m × k` left and a `k × n` right operand: a new row-major `m × n` matrix.
/// Rows are split into one block per rayon thread; each block is one single-threaded gemm call.
fn product(m: usize, n: usize, k: usize, lhs: Operand, rhs: Operand) -> Result<Vec<f32>> {
    product_with_bias(m, n, k, lhs, rhs, None)
}

/// [`product`], then `bias` (length `n`) added to every row, block by block.
fn product_with_bias(
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand,
    rhs: Operand,
    bias: Option<&[f32]>,
) -> Result<Vec<f32>> {
    if bias.is_some_and(|b| b.len() != n) {
        candle_core::bail!("matrix product: the bias has the wrong length");
    }
    if !lhs.covers(m, k) || !rhs.covers(k, n) {
        candle_core::bail!(
            "matrix product: an operand is smaller than its shape ({m}x{k}, {k}x{n})"
        );
    }
    let len = m
        .checked_mul(n)
        .ok_or_else(|| candle_core::Error::Msg(format!("matrix product: {m}x{n} overflows")))?;
    if k == 0 || len == 0 {
        let mut out = vec![0f32; len];
        if let Some(b) = bias.filter(|_| n > 0) {
            for row in out.chunks_mut(n) {
                row.copy_from_slice(b);
            }
        }
        return Ok(out);
    }
    let threads = rayon::current_num_threads().max(1);
    let block = m.div_ceil(threads).next_multiple_of(ROW_QUANTUM).min(m);
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(block * n)
        .enumerate()
        .for_each(|(b, dst)| {
            let rows = dst.len() / n;
            gemm_rows(dst, rows, n, k, lhs.starting_at_row(b * block), rhs);
            if let Some(bias) = bias {
                // gemm has written every element of the block (see `gemm_rows`).
                for row in dst.chunks_mut(n) {
                    for (y, &b) in row.iter_mut().zip(bias) {
                        y.write(written(y) + b);
                    }
                }
            }
        });
    // SAFETY: the blocks above partition `out[..len]` and gemm wrote every element of each
    // (see `gemm_rows`), so the first `len` elements are initialised.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len);
    }
    Ok(out)
}

/// The value of an element gemm has written.
#[inline(always)]
fn written(y: &MaybeUninit<f32>) -> f32 {
    // SAFETY: only called on elements of a block after `gemm_rows` wrote the whole block.
    #[allow(unsafe_code)]
    unsafe {
        y.assume_init()
    }
}

/// Writes `lhs · rhs` (`rows × k` times `k × n`) into `dst` (`rows × n`, row-major) with one
/// single-threaded gemm call.
fn gemm_rows(
    dst: &mut [MaybeUninit<f32>],
    rows: usize,
    n: usize,
    k: usize,
    lhs: Operand,
    rhs: Operand,
) {
    // The callers' checks, again where they matter: gemm reads and writes exactly these ranges.
    assert!(dst.len() == rows * n && lhs.covers(rows, k) && rhs.covers(k, n) && k > 0);
    // SAFETY: `dst` holds `rows × n` elements with row stride `n` and column stride 1, and
    // `lhs` / `rhs` hold every element gemm reads (checked above with the same strides). With
    // `read_dst` false gemm never reads `dst` before writing it (its first pass over the
    // inner dimension stores, later passes accumulate into what it stored), so uninitialised
    // output memory is never read. The slices do not overlap: `dst` is a unique borrow.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("matrix product: the input must be contiguous"),
    }
}

/// `x Wᵀ`: `x` is `(M, K)`, `W` is `(N, K)`.
struct LinearProduct;

impl CustomOp2 for LinearProduct {
    fn name(&self) -> &'static str {
        "gavel-linear-product"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, _) = l2.shape().dims2()?;
        let x = Operand {
            data: contiguous(s1, l1)?,
            rs: k,
            cs: 1,
        };
        // Wᵀ read in place: element (kk, j) of Wᵀ is W[j, kk].
        let wt = Operand {
            data: contiguous(s2, l2)?,
            rs: 1,
            cs: k,
        };
        Ok((
            CpuStorage::F32(product(m, n, k, x, wt)?),
            Shape::from((m, n)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &Backward::Input)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(grad.apply_op2_no_bwd(x, &Backward::Weight)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// `x Wᵀ + b`: `x` is `(M, K)`, `W` is `(N, K)`, `b` is `(N)`.
struct LinearBias;

impl candle_core::CustomOp3 for LinearBias {
    fn name(&self) -> &'static str {
        "gavel-linear-bias"
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
        let (m, k) = l1.shape().dims2()?;
        let (n, _) = l2.shape().dims2()?;
        let x = Operand {
            data: contiguous(s1, l1)?,
            rs: k,
            cs: 1,
        };
        let wt = Operand {
            data: contiguous(s2, l2)?,
            rs: 1,
            cs: k,
        };
        let b = contiguous(s3, l3)?;
        let y = product_with_bias(m, n, k, x, wt, Some(b))?;
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = LinearProduct.bwd(x, w, _res, grad)?;
        let db = if b.track_op() {
            let n = b.elem_count();
            let sums = crate::kernels::with_data(grad, |g| Ok(crate::kernels::column_sums(g, n)))?;
            Some(Tensor::from_vec(sums, b.shape(), b.device())?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// The two products of the backward pass, with `dy` `(M, N)` as the first input.
enum Backward {
    /// `dx = dy W`, the second input `W` `(N, K)`: `(M, K)`. (A product of two row-major
    /// matrices, so also `x Wᵀ` given `Wᵀ`.)
    Input,
    /// `dW = dyᵀ x`, the second input `x` `(M, K)`: `(N, K)`.
    Weight,
}

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        match self {
            Backward::Input => "gavel-linear-grad-input",
            Backward::Weight => "gavel-linear-grad-weight",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, n) = l1.shape().dims2()?;
        let dy = contiguous(s1, l1)?;
        let other = contiguous(s2, l2)?;
        match self {
            Backward::Input => {
                let (wn, k) = l2.shape().dims2()?;
                if wn != n {
                    candle_core::bail!("linear backward: gradient {m}x{n}, weight {wn}x{k}");
                }
                let lhs = Operand {
                    data: dy,
                    rs: n,
                    cs: 1,
                };
                let rhs = Operand {
                    data: other,
                    rs: k,
                    cs: 1,
                };
                Ok((
                    CpuStorage::F32(product(m, k, n, lhs, rhs)?),
                    Shape::from((m, k)),
                ))
            }
            Backward::Weight => {
                let (xm, k) = l2.shape().dims2()?;
                if xm != m {
                    candle_core::bail!("linear backward: gradient {m}x{n}, input {xm}x{k}");
                }
                // dyᵀ read in place: element (j, r) of dyᵀ is dy[r, j].
                let lhs = Operand {
                    data: dy,
                    rs: 1,
                    cs: n,
                };
                let rhs = Operand {
                    data: other,
                    rs: k,
                    cs: 1,
                };
                Ok((
                    CpuStorage::F32(product(n, k, m, lhs, rhs)?),
                    Shape::from((n, k)),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    use crate::rng::Rng;

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = Rng::derive(seed, &[]);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
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

    /// Forward and both gradients against candle's matmul, on shapes that are not multiples of
    /// the kernel's tiles and on row counts that give one, several and partial blocks.
    #[test]
    fn matches_candle_forward_and_gradients() {
        for &(lead, k, n) in &[
            (&[1usize][..], 1usize, 1usize),
            (&[3, 5], 7, 9),
            (&[2, 100], 33, 65),
            (&[300], 384, 130),
            (&[2, 257], 64, 3),
        ] {
            let mut shape = lead.to_vec();
            shape.push(k);
            let x = Var::from_tensor(&random(&shape, 1)).unwrap();
            let w = Var::from_tensor(&random(&[n, k], 2)).unwrap();
            let mut out_shape = lead.to_vec();
            out_shape.push(n);
            let upstream = random(&out_shape, 3);

            let ours = linear_product(x.as_tensor(), w.as_tensor()).unwrap();
            let rows: usize = lead.iter().product();
            let theirs = x
                .as_tensor()
                .reshape((rows, k))
                .unwrap()
                .matmul(&w.as_tensor().t().unwrap())
                .unwrap()
                .reshape(out_shape.as_slice())
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let tol = 1e-5 * k as f32;
            assert!(max_diff(&ours, &theirs) < tol, "forward {lead:?} {k} {n}");

            let g_ours = (ours * &upstream)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g_theirs = (theirs * &upstream)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w] {
                let a = g_ours.get(v.as_tensor()).unwrap();
                let b = g_theirs.get(v.as_tensor()).unwrap();
                assert_eq!(a.dims(), b.dims());
                assert!(
                    max_diff(a, b) < 1e-5 * rows.max(n) as f32,
                    "gradient {lead:?} {k} {n}"
                );
            }
        }
    }

    /// The product with its bias gives the product plus a broadcast bias, with the same
    /// gradients for all three inputs.
    #[test]
    fn linear_bias_matches_product_plus_bias() {
        for &(lead, k, n) in &[
            (&[2usize, 100][..], 33usize, 65usize),
            (&[300], 384, 130),
            (&[1], 1, 1),
        ] {
            let mut shape = lead.to_vec();
            shape.push(k);
            let x = Var::from_tensor(&random(&shape, 11)).unwrap();
            let w = Var::from_tensor(&random(&[n, k], 12)).unwrap();
            let b = Var::from_tensor(&random(&[n], 13)).unwrap();
            let mut out_shape = lead.to_vec();
            out_shape.push(n);
            let upstream = random(&out_shape, 14);
            let ours = linear_bias(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
            let theirs = linear_product(x.as_tensor(), w.as_tensor())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-6);
            let g1 = (ours * &upstream)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (theirs * &upstream)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w, &b] {
                let (a, c) = (
                    g1.get(v.as_tensor()).unwrap(),
                    g2.get(v.as_tensor()).unwrap(),
                );
                assert!(max_diff(a, c) < 1e-4, "{lead:?} {k} {n}");
            }
        }
        assert!(linear_bias(&random(&[4, 8], 1), &random(&[5, 8], 2), &random(&[4], 3)).is_err());
    }

    /// The product with a transposed copy of the weight gives what the product with the
    /// weight read through strides gives.
    #[test]
    fn product_with_transposed_weight_matches() {
        let x = random(&[3, 70, 33], 8);
        let w = random(&[65, 33], 9);
        let wt = w.t().unwrap().contiguous().unwrap();
        let a = linear_product(&x, &w).unwrap();
        let b = product_transposed(&x, &wt).unwrap();
        assert_eq!(a.dims(), &[3, 70, 65]);
        assert!(max_diff(&a, &b) < 1e-5 * 33.0);
        assert!(product_transposed(&x, &random(&[32, 65], 10)).is_err());
    }

    /// A frozen weight (not a variable) gets no gradient and the input still does.
    #[test]
    fn frozen_weight_gets_no_gradient() {
        let x = Var::from_tensor(&random(&[4, 8], 4)).unwrap();
        let w = random(&[5, 8], 5);
        let y = linear_product(x.as_tensor(), &w).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&w).is_none());
        let dx = grads.get(x.as_tensor()).unwrap();
        // d(sum(x Wᵀ))/dx = column sums of W, for every row.
        let expected = w.sum_keepdim(0).unwrap().broadcast_as((4, 8)).unwrap();
        assert!(max_diff(dx, &expected) < 1e-5);
    }

    #[test]
    fn shape_errors_are_errors() {
        let x = random(&[4, 8], 6);
        assert!(linear_product(&x, &random(&[5, 7], 7)).is_err());
        assert!(
            product(
                2,
                2,
                2,
                Operand {
                    data: &[0.0; 3],
                    rs: 2,
                    cs: 1
                },
                Operand {
                    data: &[0.0; 4],
                    rs: 2,
                    cs: 1
                }
            )
            .is_err()
        );
    }
}
