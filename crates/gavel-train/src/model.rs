//! A BERT-family encoder written for training: every operation has a gradient.
//!
//! candle's fused kernels (`softmax_last_dim`, `layer_norm`) are applied without a backward
//! pass, so gradients silently stop at them (candle#2168). This file uses gavel's own kernels
//! instead ([`crate::kernels`]: parallel, with gradients) for training and inference alike, or,
//! as a reference, the same functions spelled out in candle's differentiable primitives
//! ([`Kernels::Reference`]). Both are tested against transformers and PyTorch.
//!
//! Parameter names are Hugging Face's (`encoder.layer.0.attention.self.query.weight`...), so a
//! trained encoder is saved in the format it was read from.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{D, DType, Device, Tensor, Var};
use rayon::prelude::*;

use crate::config::{EncoderConfig, Family};
use crate::error::Result;
use crate::rng::Rng;
use crate::weights::take;

/// A trainable tensor and how the optimiser treats it.
#[derive(Debug, Clone)]
pub struct Param {
    /// The Hugging Face name (encoder) or `judge_head.*` (head).
    pub name: String,
    /// The variable.
    pub var: Var,
    /// Whether weight decay applies (not to biases, LayerNorm gains or the tie parameter, as in
    /// Hugging Face's Trainer).
    pub decay: bool,
}

/// Which encoder tensors are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trainable {
    /// Every encoder tensor (full fine-tuning).
    All,
    /// Everything but the word, position and type embeddings.
    AllButEmbeddings,
    /// None: the encoder is frozen and only the head learns.
    None,
}

/// Whether a tensor name is exempt from weight decay.
pub fn no_decay(name: &str) -> bool {
    name.ends_with("bias") || name.contains("LayerNorm.weight") || name.ends_with("tie_logit")
}

struct Builder<'a> {
    tensors: &'a HashMap<String, Tensor>,
    path: &'a Path,
    trainable: Trainable,
    params: Vec<Param>,
}

impl Builder<'_> {
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = take(self.tensors, self.path, name, shape)?;
        let train = match self.trainable {
            Trainable::All => true,
            Trainable::AllButEmbeddings => !name.starts_with("embeddings."),
            Trainable::None => false,
        };
        if train {
            let var = Var::from_tensor(&t.contiguous()?)?;
            let tensor = var.as_tensor().clone();
            self.params.push(Param {
                name: name.to_string(),
                var,
                decay: !no_decay(name),
            });
            Ok(tensor)
        } else {
            Ok(t.contiguous()?)
        }
    }

    fn linear(&mut self, prefix: &str, out: usize, inp: usize) -> Result<Linear> {
        let w = self.get(&format!("{prefix}.weight"), &[out, inp])?;
        // A weight that never changes is transposed once: gemm reads a row-major Wᵀ 4-7%
        // faster than W through strides (measured on the encoder's shapes).
        let wt = if w.track_op() {
            None
        } else {
            Some(w.t()?.contiguous()?)
        };
        Ok(Linear {
            w,
            wt,
            b: self.get(&format!("{prefix}.bias"), &[out])?,
        })
    }

    fn norm(&mut self, prefix: &str, h: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            w: self.get(&format!("{prefix}.weight"), &[h])?,
            b: self.get(&format!("{prefix}.bias"), &[h])?,
            eps,
        })
    }
}

/// `y = x Wᵀ + b`.
#[derive(Debug, Clone)]
pub struct Linear {
    w: Tensor,
    /// `Wᵀ`, contiguous, when `W` is not trained.
    wt: Option<Tensor>,
    b: Tensor,
}

impl Linear {
    /// Applies the layer to `(..., in)` in candle's primitives (the reference kernels).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.product_reference(x)?.broadcast_add(&self.b)?)
    }

    /// The layer with gavel's product and bias kernels ([`crate::matmul`],
    /// [`crate::kernels::bias_add`]).
    fn forward_fast(&self, x: &Tensor) -> Result<Tensor> {
        if x.track_op() || self.w.track_op() || self.b.track_op() {
            // One graph node for the product and the bias.
            return Ok(crate::matmul::linear_bias(x, &self.w, &self.b)?);
        }
        let y = self.product(x)?;
        crate::kernels::bias_add_in_place(&y, &self.b)?;
        Ok(y)
    }

    /// Whether nothing about this product `y` of the layer needs a gradient (inference): then
    /// the kernels after it work in place on `y`, which no one else holds.
    fn no_grad(&self, y: &Tensor) -> bool {
        !y.track_op() && !self.b.track_op()
    }

    /// `gelu(x Wᵀ + b)` with gavel's kernels.
    fn forward_gelu(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.product(x)?;
        if self.no_grad(&y) {
            crate::kernels::bias_gelu_in_place(&y, &self.b)?;
            return Ok(y);
        }
        Ok(crate::kernels::bias_gelu(&y, &self.b)?)
    }

    /// `x Wᵀ + b + residual` with gavel's kernels.
    fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let y = self.product(x)?;
        if self.no_grad(&y) && !residual.track_op() {
            crate::kernels::bias_residual_in_place(&y, &self.b, residual)?;
            return Ok(y);
        }
        Ok(crate::kernels::bias_residual(&y, &self.b, residual)?)
    }

    /// The layer in the kernels `kernels` names.
    fn forward_with(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match kernels {
            Kernels::Fast => self.forward_fast(x),
            Kernels::Reference => self.forward(x),
        }
    }

    /// `x Wᵀ` without the bias (for kernels that add it themselves), by gavel's product.
    fn product(&self, x: &Tensor) -> Result<Tensor> {
        match &self.wt {
            Some(wt) if !x.track_op() => Ok(crate::matmul::product_transposed(x, wt)?),
            _ => Ok(crate::matmul::linear_product(x, &self.w)?),
        }
    }

    /// `x Wᵀ` by candle's matrix product.
    fn product_reference(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let last = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = x
            .reshape((rows, last))?
            .matmul(&self.w.t()?.contiguous()?)?;
        let mut out = dims;
        let n = out.len();
        out[n - 1] = self.w.dim(0)?;
        Ok(y.reshape(out)?)
    }
}

#[derive(Debug, Clone)]
struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// The normalised `x`; `x` is given up, and when nothing needs a gradient it is
    /// normalised where it lies.
    fn forward(&self, x: Tensor, ctx: &Ctx) -> Result<Tensor> {
        if ctx.kernels == Kernels::Fast {
            if !x.track_op() && !self.w.track_op() && !self.b.track_op() {
                let x = x.contiguous()?;
                crate::kernels::layer_norm_in_place(&x, &self.w, &self.b, self.eps)?;
                return Ok(x);
            }
            return Ok(crate::kernels::layer_norm(&x, &self.w, &self.b, self.eps)?);
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(normed.broadcast_mul(&self.w)?.broadcast_add(&self.b)?)
    }
}

/// Which implementation of GELU, softmax and layer norm a forward pass uses; both have
/// gradients and give the same numbers to rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// gavel's parallel kernels with gradients ([`crate::kernels`]).
    Fast,
    /// The functions spelled out in candle's differentiable primitives (slower; the reference
    /// the fast kernels are tested against).
    Reference,
}

/// How a forward pass runs.
pub struct Ctx {
    /// The kernels.
    pub kernels: Kernels,
    /// Dropout probabilities and the stream of the masks; `None` in evaluation.
    pub dropout: Option<Dropout>,
}

/// Dropout settings and the random stream of one forward pass.
pub struct Dropout {
    /// On hidden states.
    pub hidden: f32,
    /// On attention probabilities.
    pub attention: f32,
    /// Where the masks come from.
    pub rng: Rng,
}

impl Ctx {
    /// Inference: fast kernels, no dropout.
    pub fn eval() -> Ctx {
        Ctx {
            kernels: Kernels::Fast,
            dropout: None,
        }
    }

    /// `dropout(lin(x)) + residual`: with the fast kernels and no dropout, the bias and the
    /// residual are added in one pass.
    fn residual(&mut self, lin: &Linear, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let hidden_dropout = self.dropout.as_ref().is_some_and(|d| d.hidden > 0.0);
        match self.kernels {
            Kernels::Fast if !hidden_dropout => lin.forward_residual(x, residual),
            Kernels::Fast => {
                let (p, seed) = match self.dropout.as_mut() {
                    Some(d) => (d.hidden, d.rng.next_u64()),
                    None => (0.0, 0),
                };
                Ok(crate::kernels::bias_dropout_residual(
                    &lin.product(x)?,
                    &lin.b,
                    residual,
                    p,
                    seed,
                )?)
            }
            Kernels::Reference => Ok((self.drop(lin.forward(x)?, false)? + residual)?),
        }
    }

    /// The dropout of the fused attention's probabilities, drawing its seed from the stream.
    fn attention_dropout(&mut self) -> Option<crate::attention::AttnDropout> {
        let d = self.dropout.as_mut()?;
        if d.attention <= 0.0 {
            return None;
        }
        Some(crate::attention::AttnDropout {
            p: d.attention,
            seed: d.rng.next_u64(),
        })
    }

    fn drop(&mut self, x: Tensor, attention: bool) -> Result<Tensor> {
        let Some(d) = &mut self.dropout else {
            return Ok(x);
        };
        let p = if attention { d.attention } else { d.hidden };
        if p <= 0.0 {
            return Ok(x);
        }
        let seed = d.rng.next_u64();
        if self.kernels == Kernels::Fast {
            return Ok(crate::kernels::dropout(&x, p, seed)?);
        }
        let scale = 1.0 / (1.0 - p);
        let n = x.elem_count();
        // Chunks drawn in parallel, each from its own stream derived from this call's seed
        // and the chunk's index: the same mask whatever the thread count (and the same as
        // the fast kernel's).
        let mut mask = vec![0f32; n];
        mask.par_chunks_mut(crate::kernels::DROPOUT_CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| {
                let drops = Rng::derive(seed, &[i as u64]).drops(p);
                for (m, drop) in chunk.iter_mut().zip(drops) {
                    *m = if drop { 0.0 } else { scale };
                }
            });
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
        Ok((x * mask)?)
    }
}

/// Softmax over the last dimension.
fn softmax(x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
    if ctx.kernels == Kernels::Fast {
        return Ok(crate::kernels::softmax_last_dim(x)?);
    }
    // The maximum only keeps exp() in range; the result does not depend on it, so it needs no
    // gradient.
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

#[derive(Debug, Clone, Copy)]
enum Act {
    GeluErf,
    GeluTanh,
    Relu,
}

#[derive(Debug, Clone)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

/// The encoder: embeddings and transformer layers (no pooler: judges pool themselves).
#[derive(Debug, Clone)]
pub struct Encoder {
    cfg: EncoderConfig,
    family: Family,
    word: Tensor,
    position: Tensor,
    token_type: Option<Tensor>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    act: Act,
}

/// A padded batch of token sequences.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, T)` token ids (u32).
    pub ids: Tensor,
    /// `(B, T)` token-type ids (u32).
    pub types: Tensor,
    /// `(B, T)` position ids (u32).
    pub positions: Tensor,
    /// `(B, T)` 1 for tokens, 0 for padding (f32).
    pub mask: Tensor,
    /// `(B, 1, 1, T)` 0 for tokens, a large negative number for padding.
    pub attn_bias: Tensor,
    /// The unpadded lengths.
    pub lens: Vec<usize>,
}

/// What padding masks add to attention scores: small enough that exp() gives exactly 0, and
/// finite, so that no infinity reaches a gradient.
const MASKED: f32 = -1e30;

impl Batch {
    /// Pads sequences of ids and type ids into a batch, numbering positions as `family` does.
    pub fn new(
        seqs: &[(&[u32], &[u32])],
        pad_id: u32,
        family: Family,
        device: &Device,
    ) -> Result<Batch> {
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.0.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![pad_id; b * t];
        let mut types = vec![0u32; b * t];
        let mut positions = vec![0u32; b * t];
        let mut mask = vec![0f32; b * t];
        let mut bias = vec![MASKED; b * t];
        for (i, (s, ty)) in seqs.iter().enumerate() {
            for (j, (&id, &tt)) in s.iter().zip(ty.iter()).enumerate() {
                ids[i * t + j] = id;
                types[i * t + j] = tt;
                mask[i * t + j] = 1.0;
                bias[i * t + j] = 0.0;
            }
            // fairseq (RoBERTa): tokens count from padding_idx + 1, padding stays at
            // padding_idx.
            let mut seen = 0u32;
            for j in 0..t {
                positions[i * t + j] = match family {
                    Family::Bert => j as u32,
                    Family::Roberta if j < s.len() && s[j] != pad_id => {
                        seen += 1;
                        pad_id + seen
                    }
                    Family::Roberta => pad_id,
                };
            }
        }
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            types: Tensor::from_vec(types, (b, t), device)?,
            positions: Tensor::from_vec(positions, (b, t), device)?,
            mask: Tensor::from_vec(mask, (b, t), device)?,
            attn_bias: Tensor::from_vec(bias, (b, 1, 1, t), device)?,
            lens: seqs.iter().map(|s| s.0.len()).collect(),
        })
    }
}

impl Encoder {
    /// Builds the encoder from loaded tensors; the trainable ones become variables, returned in
    /// a stable order.
    pub fn new(
        cfg: &EncoderConfig,
        tensors: &HashMap<String, Tensor>,
        path: &Path,
        trainable: Trainable,
    ) -> Result<(Encoder, Vec<Param>)> {
        let family = cfg.family().map_err(|message| crate::Error::Config {
            path: path.to_path_buf(),
            message,
        })?;
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let mut b = Builder {
            tensors,
            path,
            trainable,
            params: Vec::new(),
        };
        let word = b.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let position = b.get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let token_type = if cfg.type_vocab_size > 0 {
            Some(b.get(
                "embeddings.token_type_embeddings.weight",
                &[cfg.type_vocab_size, h],
            )?)
        } else {
            None
        };
        let emb_norm = b.norm("embeddings.LayerNorm", h, eps)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: b.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: b.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: b.linear(&format!("{p}.attention.self.value"), h, h)?,
                attn_out: b.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: b.norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
                inter: b.linear(&format!("{p}.intermediate.dense"), cfg.intermediate_size, h)?,
                out: b.linear(&format!("{p}.output.dense"), h, cfg.intermediate_size)?,
                out_norm: b.norm(&format!("{p}.output.LayerNorm"), h, eps)?,
            });
        }
        let act = match cfg.hidden_act.as_str() {
            "gelu" => Act::GeluErf,
            "relu" => Act::Relu,
            _ => Act::GeluTanh,
        };
        Ok((
            Encoder {
                cfg: cfg.clone(),
                family,
                word,
                position,
                token_type,
                emb_norm,
                layers,
                act,
            },
            b.params,
        ))
    }

    /// The config.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// The family (for position numbering).
    pub fn family(&self) -> Family {
        self.family
    }

    /// Every encoder tensor under its Hugging Face name (current values), for saving.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            (
                "embeddings.word_embeddings.weight".into(),
                self.word.clone(),
            ),
            (
                "embeddings.position_embeddings.weight".into(),
                self.position.clone(),
            ),
        ];
        if let Some(t) = &self.token_type {
            out.push(("embeddings.token_type_embeddings.weight".into(), t.clone()));
        }
        let norm = |out: &mut Vec<(String, Tensor)>, p: &str, n: &LayerNorm| {
            out.push((format!("{p}.weight"), n.w.clone()));
            out.push((format!("{p}.bias"), n.b.clone()));
        };
        let lin = |out: &mut Vec<(String, Tensor)>, p: &str, l: &Linear| {
            out.push((format!("{p}.weight"), l.w.clone()));
            out.push((format!("{p}.bias"), l.b.clone()));
        };
        norm(&mut out, "embeddings.LayerNorm", &self.emb_norm);
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}");
            lin(&mut out, &format!("{p}.attention.self.query"), &l.query);
            lin(&mut out, &format!("{p}.attention.self.key"), &l.key);
            lin(&mut out, &format!("{p}.attention.self.value"), &l.value);
            lin(
                &mut out,
                &format!("{p}.attention.output.dense"),
                &l.attn_out,
            );
            norm(
                &mut out,
                &format!("{p}.attention.output.LayerNorm"),
                &l.attn_norm,
            );
            lin(&mut out, &format!("{p}.intermediate.dense"), &l.inter);
            lin(&mut out, &format!("{p}.output.dense"), &l.out);
            norm(&mut out, &format!("{p}.output.LayerNorm"), &l.out_norm);
        }
        out
    }

    /// The last hidden state, `(B, T, H)`.
    pub fn forward(&self, batch: &Batch, ctx: &mut Ctx) -> Result<Tensor> {
        let (b, t) = batch.ids.dims2()?;
        let h = self.cfg.hidden_size;
        let emb = |table: &Tensor, ids: &Tensor| -> Result<Tensor> {
            Ok(table
                .index_select(&ids.flatten_all()?, 0)?
                .reshape((b, t, h))?)
        };
        let mut x = (emb(&self.word, &batch.ids)? + emb(&self.position, &batch.positions)?)?;
        if let Some(tt) = &self.token_type {
            x = (x + emb(tt, &batch.types)?)?;
        }
        let x = self.emb_norm.forward(x, ctx)?;
        let mut x = ctx.drop(x, false)?;
        // The padding bias as the fused attention takes it, (B, T).
        let bias = if ctx.kernels == Kernels::Fast {
            Some(Arc::new(batch.attn_bias.flatten_all()?.to_vec1::<f32>()?))
        } else {
            None
        };
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, bias.as_ref(), ctx)?;
        }
        Ok(x)
    }

    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        batch: &Batch,
        bias: Option<&Arc<Vec<f32>>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let nh = self.cfg.num_attention_heads;
        let attended = match bias {
            Some(bias) => {
                let q = l.query.forward_fast(x)?;
                let k = l.key.forward_fast(x)?;
                let v = l.value.forward_fast(x)?;
                let dropout = ctx.attention_dropout();
                crate::attention::attention(&q, &k, &v, nh, bias.clone(), dropout)?
            }
            None => self.attention(l, x, batch, ctx)?,
        };
        let x = l
            .attn_norm
            .forward(ctx.residual(&l.attn_out, &attended, x)?, ctx)?;
        let inner = match self.act {
            Act::GeluErf if ctx.kernels == Kernels::Fast => l.inter.forward_gelu(&x)?,
            Act::GeluErf => l.inter.forward(&x)?.gelu_erf()?,
            Act::GeluTanh => l.inter.forward_with(&x, ctx.kernels)?.gelu()?,
            Act::Relu => l.inter.forward_with(&x, ctx.kernels)?.relu()?,
        };
        let x = ctx.residual(&l.out, &inner, &x)?;
        l.out_norm.forward(x, ctx)
    }

    /// Attention spelled out in candle's primitives (the reference for the fused operation).
    fn attention(&self, l: &Layer, x: &Tensor, batch: &Batch, ctx: &mut Ctx) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let nh = self.cfg.num_attention_heads;
        let hd = self.cfg.head_dim();
        let heads = |y: Tensor| -> Result<Tensor> {
            Ok(y.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let q = heads(l.query.forward(x)?)?;
        let k = heads(l.key.forward(x)?)?;
        let v = heads(l.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let scores = scores.broadcast_add(&batch.attn_bias)?;
        let probs = softmax(&scores, ctx)?;
        let probs = ctx.drop(probs, true)?;
        Ok(probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, h))?)
    }
}

/// How a sequence of hidden states becomes one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over tokens (padding excluded), as sentence-transformers models are trained.
    Mean,
    /// The first token (`[CLS]` / `<s>`), as BERT's classification heads use.
    Cls,
}

impl Pooling {
    /// Pools `(B, T, H)` hidden states into `(B, H)`.
    pub fn apply(self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match self {
            Pooling::Cls => Ok(hidden.narrow(1, 0, 1)?.squeeze(1)?),
            Pooling::Mean => {
                let m = mask.unsqueeze(2)?;
                let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                let count = mask.sum_keepdim(1)?.clamp(1e-9f32, f32::MAX)?;
                Ok(sum.broadcast_div(&count)?)
            }
        }
    }
}

/// Makes a tensor a plain f32 CPU copy of itself (no variable, no graph).
pub fn snapshot(t: &Tensor) -> Result<Tensor> {
    Ok(t.detach().copy()?.to_dtype(DType::F32)?)
}
