//! The judge network (encoder, pooling, head) and batched inference.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::error::Result;
use crate::head::Head;
use crate::model::{Batch, Ctx, Encoder, Param};
use crate::text::Encoded;

/// An encoder with a judge head.
#[derive(Debug, Clone)]
pub struct JudgeNet {
    /// The encoder.
    pub encoder: Encoder,
    /// The head.
    pub head: Head,
    /// The trainable tensors (empty for inference).
    pub params: Vec<Param>,
}

impl JudgeNet {
    /// Pads `seqs` into a batch.
    pub fn batch(&self, seqs: &[&Encoded]) -> Result<Batch> {
        let pairs: Vec<(&[u32], &[u32])> = seqs
            .iter()
            .map(|e| (e.ids.as_slice(), e.types.as_slice()))
            .collect();
        Batch::new(
            &pairs,
            self.encoder.config().pad_token_id,
            self.encoder.family(),
            &Device::Cpu,
        )
    }

    /// The pooled encoder output, `(B, H)`.
    pub fn pooled(&self, batch: &Batch, ctx: &mut Ctx) -> Result<Tensor> {
        let hidden = self.encoder.forward(batch, ctx)?;
        self.head.pooling().apply(&hidden, &batch.mask)
    }

    /// The head outputs, `(B, outputs)`.
    pub fn forward(&self, batch: &Batch, ctx: &mut Ctx) -> Result<Tensor> {
        let pooled = self.pooled(batch, ctx)?;
        self.head.forward(&pooled)
    }

    /// Every tensor (encoder and head) under its saved name.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = self.encoder.named_tensors();
        out.extend(self.head.named_tensors());
        out
    }

    /// Head outputs for many inputs, in input order, `batch_size` at a time with inputs of
    /// similar length batched together (less padding). Inference mode: no dropout, no
    /// gradient.
    pub fn predict(&self, seqs: &[Encoded], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        self.map_batches(seqs, batch_size, |net, batch| {
            net.forward(batch, &mut Ctx::eval())
        })
    }

    /// Pooled vectors for many inputs (inference mode), in input order.
    pub fn features(&self, seqs: &[Encoded], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        self.map_batches(seqs, batch_size, |net, batch| {
            net.pooled(batch, &mut Ctx::eval())
        })
    }

    fn map_batches(
        &self,
        seqs: &[Encoded],
        batch_size: usize,
        f: impl Fn(&JudgeNet, &Batch) -> Result<Tensor> + Sync,
    ) -> Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].ids.len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); seqs.len()];
        // Each batch of `batch_size` is cut into one part per thread, and the parts run side
        // by side, each on one thread, with no wait between batches: inside a forward pass
        // most operations are too short to split well (and some of candle's run on one
        // thread), so this keeps the cores busy. At most one part per thread is in memory at
        // a time. Padding is masked out exactly, so the cut changes scores only by rounding.
        let threads = rayon::current_num_threads().max(1);
        let part = batch_size.max(1).div_ceil(threads).max(1);
        let parts: Vec<&[usize]> = order.chunks(part).collect();
        let rows: Vec<Result<Vec<Vec<f32>>>> = parts
            .par_iter()
            .with_max_len(1)
            .map(|part| {
                let refs: Vec<&Encoded> = part.iter().map(|&i| &seqs[i]).collect();
                let batch = self.batch(&refs)?;
                Ok(f(self, &batch)?.to_vec2::<f32>()?)
            })
            .collect();
        for (part, rows) in parts.iter().zip(rows) {
            for (&i, row) in part.iter().zip(rows?) {
                out[i] = row;
            }
        }
        Ok(out)
    }
}
