//! One training step against PyTorch 2.15.0 (scripts/reference/gen_train.py): the loss, every
//! gradient, the clipped norm and the weights after two AdamW steps of a pairwise judge with
//! Davidson ties on a tiny random BERT; and the losses and head gradients of the other
//! objectives; and the learning-rate schedules of transformers.
//!
//! Tolerances. The forward pass agrees with transformers to about 1e-6 (f32 rounding in a
//! different summation order). Gradients are compared relative to the largest gradient of the
//! same tensor (1e-5; measured: 1.2e-6), since back-propagated rounding grows with the size of
//! the tensor's gradient. An AdamW step moves each weight by at most lr·(1 + wd·|w|) ≈ 1e-3,
//! and the step is m̂/(√v̂ + ε), a ratio of gradients, so relative gradient errors of 1e-5
//! move a weight by about lr·1e-5 = 1e-8 per step, below f32's spacing of O(1) weights
//! (1.2e-7 at 1, 2.4e-7 at 2): the weights after each step are compared to 1e-6 absolute,
//! a few units in the last place (measured: 2.1e-7).
//!
//! Four tensors are null directions of this loss: their gradient is zero in exact arithmetic,
//! so both frameworks compute rounding noise (below 1e-7). Their gradients are compared to
//! 1e-7 absolute. Adam divides a gradient by its own root mean square, so noise becomes steps
//! of the same size as real ones, in directions the noise decides: those weights can only be
//! held to the bound of an Adam step, lr·(1-β1)/√(1-β2) ≈ 3.2·lr per step (a step's ratio
//! m̂/√v̂ cannot exceed it), so after step k they are compared to 3.2·k·lr.

// The measured differences are printed for the record (`--nocapture`).
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gavel_train::head::{BIAS, Head, TIE_LOGIT, WEIGHT};
use gavel_train::objective::{Pref, TieMode, classification_loss, pairwise_loss, regression_loss};
use gavel_train::optim::{Accumulator, AdamW, AdamWConfig, Schedule};
use gavel_train::{Batch, Ctx, Encoder, Kernels, ModelFiles, Pooling, Trainable};
use serde_json::Value;

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
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

/// The name PyTorch's side gives a parameter.
fn torch_name(ours: &str) -> String {
    match ours {
        WEIGHT => "head.weight".into(),
        BIAS => "head.bias".into(),
        TIE_LOGIT => "head.tie_logit".into(),
        other => format!("encoder.{other}"),
    }
}

#[test]
fn one_adamw_step_equals_pytorch() {
    check_step(Kernels::Fast);
}

#[test]
fn one_adamw_step_equals_pytorch_with_reference_kernels() {
    check_step(Kernels::Reference);
}

fn check_step(kernels: Kernels) {
    let dir = vectors("tiny-bert");
    let files = ModelFiles::find(&dir).unwrap();
    let cfg = files.read_config().unwrap();
    let tensors = files.read_tensors().unwrap();
    let r: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("step.safetensors"), &Device::Cpu).unwrap();
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("step.json")).unwrap()).unwrap();

    let (encoder, mut params) =
        Encoder::new(&cfg, &tensors, &files.weights, Trainable::All).unwrap();
    let (head, head_params) = Head::from_tensors(
        r["init.head.weight"].clone(),
        r["init.head.bias"].clone(),
        Some(r["init.head.tie_logit"].clone()),
        Pooling::Mean,
        true,
    )
    .unwrap();
    params.extend(head_params);

    // Every parameter is in the decay group PyTorch put it in.
    let no_decay: Vec<String> = record["no_decay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for p in &params {
        assert_eq!(
            !p.decay,
            no_decay.contains(&torch_name(&p.name)),
            "{}",
            p.name
        );
    }

    let input_ids = ids(&r["input_ids"]);
    let type_ids = ids(&r["token_type_ids"]);
    let mask = ids(&r["attention_mask"]);
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
    let batch = Batch::new(&refs, 0, cfg.family().unwrap(), &Device::Cpu).unwrap();
    let prefs: Vec<Pref> = record["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Pref::parse(p[3].as_str().unwrap()).unwrap())
        .collect();

    let mut opt = AdamW::new(
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        },
        &params,
    );
    // Tensors whose gradient is zero in exact arithmetic: a key bias adds the same number to
    // every attention score of a row, and the last LayerNorm's bias and the head's bias add
    // the same number to both scores of a pair; none changes the loss.
    let null_directions: Vec<String> = params
        .iter()
        .filter(|p| {
            flat(&r[&format!("grad.{}", torch_name(&p.name))])
                .iter()
                .all(|x| x.abs() < 1e-6)
        })
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(null_directions.len(), 4, "{null_directions:?}");
    let mut acc = Accumulator::new(params.len());
    for step in 0..2 {
        let expected = &record["steps"][step];
        let mut ctx = Ctx {
            kernels,
            dropout: None,
        };
        let hidden = encoder.forward(&batch, &mut ctx).unwrap();
        let pooled = Pooling::Mean.apply(&hidden, &batch.mask).unwrap();
        let scores = head.forward(&pooled).unwrap().flatten_all().unwrap();
        let loss = pairwise_loss(&scores, &prefs, TieMode::Davidson, head.tie_logit()).unwrap();
        let loss_value = loss.to_scalar::<f32>().unwrap() as f64;
        let want = expected["loss"].as_f64().unwrap();
        assert!(
            (loss_value - want).abs() < 1e-5,
            "step {step} loss {loss_value} vs {want}"
        );
        let store = loss.backward().unwrap();
        acc.clear();
        acc.add(&params, &store, 1.0).unwrap();
        if step == 0 {
            let s = flat(&scores);
            for (a, b) in s.iter().zip(flat(&r["scores"])) {
                assert!((a - b).abs() < 1e-5, "scores {s:?}");
            }
            let mut worst = 0f32;
            for (i, p) in params.iter().enumerate() {
                let ours = acc
                    .gradient(i)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{} got no gradient", p.name));
                let theirs = flat(&r[&format!("grad.{}", torch_name(&p.name))]);
                if null_directions.contains(&p.name) {
                    // Zero in exact arithmetic (see the module doc): rounding noise both sides.
                    for (a, b) in ours.iter().zip(&theirs) {
                        assert!(
                            (a - b).abs() < 1e-7,
                            "null gradient of {}: {a} vs {b}",
                            p.name
                        );
                    }
                    continue;
                }
                let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
                for (a, b) in ours.iter().zip(&theirs) {
                    let rel = (a - b).abs() / scale;
                    worst = worst.max(rel);
                    assert!(rel < 1e-5, "gradient of {}: {a} vs {b}", p.name);
                }
            }
            eprintln!("largest relative gradient difference: {worst:e}");
        }
        let norm = acc.clip(1.0);
        let want_norm = expected["grad_norm"].as_f64().unwrap();
        assert!(
            (norm - want_norm).abs() < 1e-4 * want_norm,
            "norm {norm} vs {want_norm}"
        );
        let lr = 1e-3 * Schedule::Linear.factor(step as u64, 0, 10);
        assert!((lr - expected["lr"].as_f64().unwrap()).abs() < 1e-15);
        opt.update(&params, &acc, lr).unwrap();
        let mut worst = 0f32;
        for p in &params {
            let ours = flat(p.var.as_tensor());
            let theirs = flat(&r[&format!("step{}.{}", step + 1, torch_name(&p.name))]);
            // Adam turns the noise gradients of null directions into steps of noise-chosen
            // sign (see the module doc).
            let tol = if null_directions.contains(&p.name) {
                3.2e-3 * (step + 1) as f32
            } else {
                1e-6
            };
            for (a, b) in ours.iter().zip(&theirs) {
                if tol < 1e-3 {
                    worst = worst.max((a - b).abs());
                }
                assert!(
                    (a - b).abs() < tol,
                    "{} after step {}: {a} vs {b}",
                    p.name,
                    step + 1
                );
            }
        }
        eprintln!("step {}: largest weight difference {worst:e}", step + 1);
    }
}

#[test]
fn every_trainable_parameter_receives_a_gradient() {
    // Guards against candle's fused kernels, which silently stop gradients.
    for model in ["tiny-bert", "tiny-roberta"] {
        let dir = vectors(model);
        let files = ModelFiles::find(&dir).unwrap();
        let cfg = files.read_config().unwrap();
        let tensors = files.read_tensors().unwrap();
        let (encoder, mut params) =
            Encoder::new(&cfg, &tensors, &files.weights, Trainable::All).unwrap();
        let mut rng = gavel_train::rng::Rng::new(1);
        let (head, hp) =
            Head::init(cfg.hidden_size, 1, true, 0.02, Pooling::Mean, &mut rng).unwrap();
        params.extend(hp);
        let n_tensors = encoder.named_tensors().len() + head.named_tensors().len();
        assert_eq!(
            params.len(),
            n_tensors,
            "{model}: every tensor is a parameter"
        );
        let a: Vec<u32> = vec![2, 10, 11, 12, 3, 13, 14, 3];
        let b: Vec<u32> = vec![2, 10, 11, 3, 15, 3];
        let types_a = vec![0, 0, 0, 0, 0, 1, 1, 1];
        let types_b = vec![0, 0, 0, 0, 1, 1];
        let ty = if cfg.type_vocab_size > 1 {
            (types_a, types_b)
        } else {
            (vec![0; 8], vec![0; 6])
        };
        let batch = Batch::new(
            &[(&a, &ty.0), (&b, &ty.1), (&b, &ty.1), (&a, &ty.0)],
            cfg.pad_token_id,
            cfg.family().unwrap(),
            &Device::Cpu,
        )
        .unwrap();
        let mut ctx = Ctx {
            kernels: Kernels::Fast,
            dropout: Some(gavel_train::model::Dropout {
                hidden: 0.1,
                attention: 0.1,
                rng: gavel_train::rng::Rng::new(2),
            }),
        };
        let hidden = encoder.forward(&batch, &mut ctx).unwrap();
        let pooled = Pooling::Mean.apply(&hidden, &batch.mask).unwrap();
        let scores = head.forward(&pooled).unwrap().flatten_all().unwrap();
        // The pairwise loss alone does not move the biases that shift both scores of a pair
        // equally; a regression term does.
        let loss = (pairwise_loss(
            &scores,
            &[Pref::A, Pref::Tie],
            TieMode::Davidson,
            head.tie_logit(),
        )
        .unwrap()
            + regression_loss(&scores, &[1.0, 2.0, 3.0, 4.0]).unwrap())
        .unwrap();
        let store = loss.backward().unwrap();
        for p in &params {
            let g = store
                .get(p.var.as_tensor())
                .unwrap_or_else(|| panic!("{model}: {} got no gradient", p.name));
            let g = flat(g);
            assert!(g.iter().all(|x| x.is_finite()), "{model}: {}", p.name);
            // A key bias adds the same number to every score of an attention row, which the
            // softmax ignores: its gradient is zero in exact arithmetic, whatever the loss.
            if !p.name.ends_with("attention.self.key.bias") {
                assert!(
                    g.iter().any(|x| x.abs() > 1e-6),
                    "{model}: {} has a zero gradient",
                    p.name
                );
            }
        }
    }
}

#[test]
fn candles_fused_kernels_would_stop_gradients() {
    // Why gavel has its own kernels: candle's fused softmax and layer norm give no gradient,
    // silently (candle#2168).
    let x = candle_core::Var::from_tensor(
        &Tensor::new(&[[1.0f32, 2.0, 3.0], [0.5, -1.0, 2.0]], &Device::Cpu).unwrap(),
    )
    .unwrap();
    let y = candle_nn::ops::softmax_last_dim(&x).unwrap();
    let w = Tensor::new(&[1.0f32, 2.0, 3.0], &Device::Cpu).unwrap();
    let loss = y.broadcast_mul(&w).unwrap().sum_all().unwrap();
    assert!(loss.backward().unwrap().get(&x).is_none());
    let one = Tensor::ones(3, candle_core::DType::F32, &Device::Cpu).unwrap();
    let y = candle_nn::ops::layer_norm(&x, &one, &one, 1e-5).unwrap();
    let loss = y.broadcast_mul(&w).unwrap().sum_all().unwrap();
    assert!(loss.backward().unwrap().get(&x).is_none());
    // gavel's own kernels do carry it.
    let y = gavel_train::kernels::softmax_last_dim(&x).unwrap();
    let loss = y.broadcast_mul(&w).unwrap().sum_all().unwrap();
    assert!(loss.backward().unwrap().get(&x).is_some());
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(vectors(name)).unwrap()).unwrap()
}

fn matrix(v: &Value) -> Tensor {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let (n, c) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, c), &Device::Cpu).unwrap()
}

fn vector(v: &Value) -> Tensor {
    let x: Vec<f32> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let n = x.len();
    Tensor::from_vec(x, n, &Device::Cpu).unwrap()
}

fn check_head_case(
    case: &Value,
    loss_of: impl Fn(&Tensor, Option<&Tensor>) -> Tensor,
    pooled: &Tensor,
    with_theta: bool,
) {
    let theta = with_theta
        .then(|| Tensor::new(&[case["theta"].as_f64().unwrap() as f32], &Device::Cpu).unwrap());
    let (head, params) = Head::from_tensors(
        matrix(&case["weight"]),
        vector(&case["bias"]),
        theta,
        Pooling::Mean,
        true,
    )
    .unwrap();
    let out = head.forward(pooled).unwrap();
    let loss = loss_of(&out, head.tie_logit());
    let got = loss.to_scalar::<f32>().unwrap() as f64;
    let want = case["loss"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6, "loss {got} vs {want}");
    let store = loss.backward().unwrap();
    let gw = flat(store.get(params[0].var.as_tensor()).unwrap());
    let want_w: Vec<f32> = flat(&matrix(&case["grad_weight"]));
    for (a, b) in gw.iter().zip(&want_w) {
        assert!((a - b).abs() < 1e-6, "grad weight {a} vs {b}");
    }
    let gb = flat(store.get(params[1].var.as_tensor()).unwrap());
    for (a, b) in gb.iter().zip(flat(&vector(&case["grad_bias"]))) {
        assert!((a - b).abs() < 1e-6, "grad bias {a} vs {b}");
    }
    if with_theta {
        let gt = flat(store.get(params[2].var.as_tensor()).unwrap())[0] as f64;
        let want = case["grad_theta"].as_f64().unwrap();
        assert!((gt - want).abs() < 1e-6, "grad theta {gt} vs {want}");
    }
}

#[test]
fn objectives_equal_pytorch() {
    let v = json("objectives.json");
    let pooled = matrix(&v["pooled"]);
    let prefs = |case: &Value| -> Vec<Pref> {
        case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| Pref::parse(l.as_str().unwrap()).unwrap())
            .collect()
    };
    let bt = &v["bt_half"];
    let p = prefs(bt);
    check_head_case(
        bt,
        |out, _| pairwise_loss(&out.flatten_all().unwrap(), &p, TieMode::Half, None).unwrap(),
        &pooled,
        false,
    );
    let dv = &v["davidson"];
    let p = prefs(dv);
    check_head_case(
        dv,
        |out, theta| {
            pairwise_loss(&out.flatten_all().unwrap(), &p, TieMode::Davidson, theta).unwrap()
        },
        &pooled,
        true,
    );
    let reg = &v["regression"];
    let y: Vec<f32> = flat(&vector(&reg["targets"]));
    check_head_case(
        reg,
        |out, _| regression_loss(out, &y).unwrap(),
        &pooled,
        false,
    );
    let cls = &v["classification"];
    let y: Vec<usize> = cls["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    check_head_case(
        cls,
        |out, _| classification_loss(out, &y).unwrap(),
        &pooled,
        false,
    );
}

#[test]
fn schedules_equal_transformers() {
    let v = json("schedules.json");
    for (key, factors) in v.as_object().unwrap() {
        let parts: Vec<&str> = key.split('/').collect();
        let kind = match parts[0] {
            "linear" => Schedule::Linear,
            _ => Schedule::Cosine,
        };
        let (w, t): (u64, u64) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        for (s, f) in factors.as_array().unwrap().iter().enumerate() {
            let got = kind.factor(s as u64, w, t);
            let want = f.as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-12,
                "{key} step {s}: {got} vs {want}"
            );
        }
    }
}
