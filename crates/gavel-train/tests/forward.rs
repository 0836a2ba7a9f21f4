//! The encoder against transformers 5.24.0 (scripts/reference/gen_train.py): the last hidden
//! state and the pooled vectors of tiny random-weight BERT and RoBERTa models, to 1e-5, with
//! gavel's kernels and with the reference spelled out in candle's primitives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gavel_train::{Batch, Ctx, Encoder, Kernels, ModelFiles, Pooling, Trainable};

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
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

fn ids(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_dtype(candle_core::DType::I64)
        .unwrap()
        .to_vec2::<i64>()
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(|x| x as u32).collect())
        .collect()
}

fn check(model: &str) {
    let files = ModelFiles::find(&vectors(model)).unwrap();
    let cfg = files.read_config().unwrap();
    let tensors = files.read_tensors().unwrap();
    let reference: HashMap<String, Tensor> =
        candle_core::safetensors::load(vectors(model).join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let input_ids = ids(&reference["input_ids"]);
    let type_ids = ids(&reference["token_type_ids"]);
    let mask = ids(&reference["attention_mask"]);
    // Unpad: the batch is padded again by Batch::new.
    let seqs: Vec<(Vec<u32>, Vec<u32>)> = input_ids
        .iter()
        .zip(&type_ids)
        .zip(&mask)
        .map(|((i, t), m)| {
            let n = m.iter().filter(|&&x| x == 1).count();
            (i[..n].to_vec(), t[..n].to_vec())
        })
        .collect();
    let refs: Vec<(&[u32], &[u32])> = seqs
        .iter()
        .map(|(a, b)| (a.as_slice(), b.as_slice()))
        .collect();
    let batch = Batch::new(&refs, cfg.pad_token_id, cfg.family().unwrap(), &Device::Cpu).unwrap();
    for trainable in [Trainable::All, Trainable::None] {
        let (enc, _) = Encoder::new(&cfg, &tensors, &files.weights, trainable).unwrap();
        for kernels in [Kernels::Fast, Kernels::Reference] {
            let mut ctx = Ctx {
                kernels,
                dropout: None,
            };
            let hidden = enc.forward(&batch, &mut ctx).unwrap();
            let d = max_abs_diff(&hidden, &reference["hidden"]);
            assert!(d < 1e-5, "{model} hidden, {kernels:?} kernels: {d}");
            let mean = Pooling::Mean.apply(&hidden, &batch.mask).unwrap();
            let d = max_abs_diff(&mean, &reference["pooled_mean"]);
            assert!(d < 1e-5, "{model} mean pooling: {d}");
            let first = Pooling::Cls.apply(&hidden, &batch.mask).unwrap();
            let d = max_abs_diff(&first, &reference["pooled_first"]);
            assert!(d < 1e-5, "{model} first-token pooling: {d}");
        }
    }
}

#[test]
fn bert_forward_equals_transformers() {
    check("tiny-bert");
}

#[test]
fn roberta_forward_equals_transformers() {
    check("tiny-roberta");
}

#[test]
fn pytorch_bin_weights_equal_safetensors() {
    let a = ModelFiles::find(&vectors("tiny-bert"))
        .unwrap()
        .read_tensors()
        .unwrap();
    let b = ModelFiles::find(&vectors("tiny-bert-bin"))
        .unwrap()
        .read_tensors()
        .unwrap();
    assert_eq!(a.len(), b.len());
    for (k, t) in &a {
        assert_eq!(max_abs_diff(t, &b[k]), 0.0, "{k}");
    }
}

#[test]
fn tokenizer_layout_equals_transformers() {
    let dir = vectors("tiny-bert");
    let enc = gavel_train::text::TextEncoder::load(&dir.join("tokenizer.json"), 64).unwrap();
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors("tokenizer_cases.json")).unwrap())
            .unwrap();
    for case in cases.as_array().unwrap() {
        let got = enc
            .pair(
                case["instruction"].as_str().unwrap(),
                case["response"].as_str().unwrap(),
            )
            .unwrap();
        let want = |k: &str| -> Vec<u32> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        assert_eq!(got.ids, want("ids"), "{case}");
        assert_eq!(got.types, want("type_ids"), "{case}");
        assert!(!got.truncated);
    }
    // Cut to 12 tokens: 3 specials, the instruction keeps its start, the response the rest.
    let short = gavel_train::text::TextEncoder::load(&dir.join("tokenizer.json"), 12).unwrap();
    let e = short
        .pair("write a poem", "the cat sat on the mat and the dog sat too")
        .unwrap();
    assert!(e.truncated);
    assert_eq!(e.ids.len(), 12);
    let full = enc.pair("write a poem", "the cat sat on the mat").unwrap();
    assert_eq!(e.ids[..10], full.ids[..10]);
    assert_eq!(
        *e.ids.last().unwrap(),
        *full.ids.last().unwrap(),
        "ends with [SEP]"
    );
    // Two responses: [CLS] context [SEP] a [SEP] b [SEP].
    let t = enc.triple("write", "the cat", "the dog").unwrap();
    let sep = *full.ids.last().unwrap();
    assert_eq!(t.ids.iter().filter(|&&x| x == sep).count(), 3);
    assert_eq!(t.types.iter().filter(|&&x| x == 0).count(), 3);
}
