//! The training loop: batches, AdamW steps, validation, early stopping, checkpoints, and the
//! finished judge directory.
//!
//! Reproducibility: every random draw comes from a stream derived from the seed and where in
//! training it happens (the head's initialisation; each epoch's order; each micro-batch's
//! dropout masks), so a run resumed from a checkpoint continues exactly as the uninterrupted
//! run would have, bit for bit on the same machine and thread count.
//!
//! Checkpoints live in `OUT/checkpoint/`: the trainable tensors and AdamW's moments of the
//! last saved step (`params-STEP.safetensors`, `optim-STEP.safetensors`), the best weights so
//! far (`best.safetensors`), and `state.json`, written last and atomically, which names them.
//! A run killed at any moment leaves either the previous state or the new one. The directory
//! is removed when the judge is written.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{DataReport, Example, Responses, Target};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::model::{Ctx, Dropout, Encoder, Param, Pooling, Trainable};
use crate::net::JudgeNet;
use crate::objective::{
    Objective, Pref, TieMode, classification_loss, pairwise_loss, regression_loss,
};
use crate::optim::{Accumulator, AdamW, AdamWConfig, Schedule};
use crate::rng::Rng;
use crate::spec::{self, JudgeSpec};
use crate::text::{Encoded, TextEncoder};
use crate::weights::ModelFiles;

/// How the tie band of a pairwise judge is set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TieBand {
    /// The band that maximises accuracy on the validation pairs.
    Accuracy,
    /// The band that maximises macro-F1 (A, B, tie) on the validation pairs.
    MacroF1,
    /// The band Davidson's model implies: |d| < 2θ (0 without Davidson ties).
    Model,
    /// A given band.
    Fixed(f64),
}

/// Every setting of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// What the judge learns.
    pub objective: Objective,
    /// How pairwise training treats ties.
    pub ties: TieMode,
    /// How hidden states are pooled.
    pub pooling: Pooling,
    /// Which encoder tensors learn.
    pub trainable: Trainable,
    /// Passes over the training data.
    pub epochs: u32,
    /// Stop after this many optimiser steps (the schedule is planned for it).
    pub max_steps: Option<u64>,
    /// Training units (pairs, or single responses) per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Peak learning rate of the encoder.
    pub lr: f64,
    /// Peak learning rate of the head (default: `lr`).
    pub head_lr: Option<f64>,
    /// AdamW's hyper-parameters.
    pub adamw: AdamWConfig,
    /// Share of the steps spent warming up.
    pub warmup: f64,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Input length limit in tokens (default: 256, or the model's limit when lower).
    pub max_len: Option<usize>,
    /// Clip the gradients' global norm to this.
    pub clip: Option<f64>,
    /// The seed of every random draw.
    pub seed: u64,
    /// Dropout (default: the model config's).
    pub dropout: Option<f64>,
    /// Stop after this many evaluations without a better validation loss.
    pub patience: Option<u32>,
    /// Evaluate every this many steps, besides the end of each epoch.
    pub eval_every: Option<u64>,
    /// Save a checkpoint every this many steps (and at each evaluation).
    pub checkpoint_every: u64,
    /// The tie band rule (pairwise).
    pub tie_band: TieBand,
    /// Pointwise labels as classes even when they are numbers.
    pub classify: bool,
    /// Batch size of validation and feature extraction.
    pub eval_batch_size: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            objective: Objective::Pairwise,
            ties: TieMode::Davidson,
            pooling: Pooling::Mean,
            trainable: Trainable::All,
            epochs: 3,
            max_steps: None,
            batch_size: 16,
            grad_accum: 1,
            lr: 3e-5,
            head_lr: None,
            adamw: AdamWConfig::default(),
            warmup: 0.1,
            schedule: Schedule::Linear,
            max_len: None,
            clip: Some(1.0),
            seed: 0,
            dropout: None,
            patience: Some(2),
            eval_every: None,
            checkpoint_every: 200,
            tie_band: TieBand::Accuracy,
            classify: false,
            eval_batch_size: 64,
        }
    }
}

/// The data of a run.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples (may be empty: then no early stopping and no calibrated band).
    pub validation: Vec<Example>,
    /// What reading the data kept and left out.
    pub report: DataReport,
    /// Where the data came from, for the training card.
    pub source: String,
}

/// What a run is about to do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The input length limit in tokens.
    pub max_len: usize,
    /// Training units (pairs, responses; both orders count for the pair classifier).
    pub train_units: usize,
    /// Validation units.
    pub validation_units: usize,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: u64,
    /// Optimiser steps in all.
    pub total_steps: u64,
    /// Warm-up steps.
    pub warmup_steps: u64,
    /// The step training starts from (non-zero when resumed).
    pub start_step: u64,
    /// Trainable numbers.
    pub trainable_parameters: usize,
    /// Inputs that were cut to the length limit.
    pub truncated_inputs: usize,
}

/// One optimiser step, as reported to the observer.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Steps done.
    pub step: u64,
    /// Steps planned.
    pub total_steps: u64,
    /// The epoch (0-based).
    pub epoch: u32,
    /// The mean training loss of this step.
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// The gradient norm before clipping.
    pub grad_norm: f64,
    /// Training units per second since this process started training.
    pub examples_per_second: f64,
}

/// Validation figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Steps done when evaluated.
    pub step: u64,
    /// The epoch (0-based) being trained, or finished.
    pub epoch: u32,
    /// Validation loss (the training objective).
    pub loss: f64,
    /// Share of validation units whose label the judge gives (3-way for pairs with ties).
    pub accuracy: Option<f64>,
    /// Pairwise: share of non-tie pairs whose winner has the higher score.
    pub accuracy_without_ties: Option<f64>,
    /// Regression: root mean squared error.
    pub rmse: Option<f64>,
    /// Units evaluated.
    pub n: usize,
}

/// Receives progress; every method has a default that ignores it.
pub trait Observer {
    /// Before the first step.
    fn plan(&mut self, _plan: &Plan) {}
    /// After each optimiser step.
    fn step(&mut self, _report: &StepReport) {}
    /// After each validation.
    fn evaluated(&mut self, _evaluation: &Evaluation, _improved: bool) {}
    /// A remark (resumed, stopped early...).
    fn note(&mut self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Whether the judge directory was written (false when interrupted).
    pub finished: bool,
    /// Steps done.
    pub steps: u64,
    /// Steps planned.
    pub total_steps: u64,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// The step a resumed run started from.
    pub resumed_from: Option<u64>,
    /// Every validation.
    pub evaluations: Vec<Evaluation>,
    /// The validation of the weights written.
    pub best: Option<Evaluation>,
    /// The tie band written (pairwise).
    pub tie_band: Option<f64>,
    /// How it was chosen.
    pub tie_band_rule: Option<String>,
    /// Validation accuracy with that band (pairwise).
    pub calibrated_accuracy: Option<f64>,
    /// Training time in seconds, over all runs of a resumed training.
    pub train_seconds: f64,
    /// Training units processed, over all runs.
    pub examples_seen: u64,
    /// Training units per second over all runs.
    pub examples_per_second: f64,
    /// Seconds from the start of this process's training loop to the end of its first
    /// optimiser step. The first step also pays for warming up (memory first touched, worker
    /// threads started), so throughput without it is `(examples - first step's) / (train
    /// seconds - this)`; benchmarks compare that with frameworks timed after a warm-up step.
    pub first_step_seconds: Option<f64>,
    /// The judge directory.
    pub out: PathBuf,
    /// What the data reader kept and left out.
    pub data: DataReport,
    /// The plan.
    pub plan: Option<Plan>,
}

/// What one training unit is: one input or two, and its target.
#[derive(Debug, Clone)]
struct Unit {
    seqs: Vec<Encoded>,
    target: UnitTarget,
}

#[derive(Debug, Clone, Copy)]
enum UnitTarget {
    Pref(Pref),
    Value(f32),
    Class(usize),
}

/// Where a resumable run stands (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    fingerprint: String,
    step: u64,
    epoch: u32,
    micro: usize,
    best_loss: Option<f64>,
    bad_evals: u32,
    evaluations: Vec<Evaluation>,
    train_seconds: f64,
    examples_seen: u64,
    param_steps: Vec<u64>,
    params_file: String,
    optim_file: String,
    stopped_early: bool,
    done: bool,
    resumed_from: Option<u64>,
}

const CHECKPOINT_DIR: &str = "checkpoint";

/// The checkpoint directory of a judge directory.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join(CHECKPOINT_DIR)
}

/// Trains a judge from `base` on `data` into `out`, resuming from `out/checkpoint` when it
/// holds a checkpoint of the same data and settings. `stop` is polled after every step: when
/// it is set, a checkpoint is written and the run returns unfinished.
pub fn train(
    base: &Path,
    data: TrainData,
    out: &Path,
    settings: &TrainSettings,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<TrainSummary> {
    check_settings(settings)?;
    let files = ModelFiles::find(base)?;
    let cfg = files.read_config()?;
    let max_len = match settings.max_len {
        Some(m) if m > cfg.max_tokens() => {
            return Err(Error::Settings(format!(
                "--max-len {m} is longer than the model allows ({} tokens)",
                cfg.max_tokens()
            )));
        }
        Some(m) => m,
        None => 256.min(cfg.max_tokens()),
    };
    let text = TextEncoder::load(&files.tokenizer, max_len)?;
    if data.train.is_empty() {
        return Err(Error::Data("no training examples".into()));
    }

    // What the head predicts, from the objective and the labels.
    let shape = HeadShape::infer(settings, &data.train)?;
    let train_units = prepare(&data.train, &shape, &text, settings.objective)?;
    let val_units = prepare(&data.validation, &shape, &text, settings.objective)?;
    let truncated = train_units
        .iter()
        .chain(&val_units)
        .flat_map(|u| &u.seqs)
        .filter(|e| e.truncated)
        .count();

    let fingerprint = fingerprint(settings, &data, &files)?;
    let ckpt = checkpoint_dir(out);
    std::fs::create_dir_all(&ckpt).map_err(|e| Error::io(&ckpt, e))?;
    let resumed = read_state(&ckpt)?;
    if let Some(s) = &resumed
        && s.fingerprint != fingerprint
    {
        return Err(Error::Checkpoint {
            path: ckpt.clone(),
            message: "this checkpoint is of a run with other data or settings; rerun that \
                      command to resume it, or start over with --restart"
                .into(),
        });
    }

    // The network: base encoder (or the checkpoint's weights) and a seeded head.
    let tensors = files.read_tensors()?;
    let (encoder, mut params) = Encoder::new(&cfg, &tensors, &files.weights, settings.trainable)?;
    drop(tensors);
    let mut head_rng = Rng::derive(settings.seed, &[STREAM_HEAD]);
    let (head, head_params) = Head::init(
        cfg.hidden_size,
        shape.outputs,
        settings.objective == Objective::Pairwise && settings.ties == TieMode::Davidson,
        0.02,
        settings.pooling,
        &mut head_rng,
    )?;
    let n_encoder_params = params.len();
    params.extend(head_params);
    let net = JudgeNet {
        encoder,
        head,
        params,
    };
    let mut opt = AdamW::new(settings.adamw, &net.params);
    let mut state = match resumed {
        Some(s) => {
            restore(&ckpt, &s, &net.params, &mut opt)?;
            observer.note(&format!(
                "resuming from step {} (epoch {})",
                s.step,
                s.epoch + 1
            ));
            State {
                resumed_from: Some(s.step),
                ..s
            }
        }
        None => State {
            version: 1,
            fingerprint: fingerprint.clone(),
            step: 0,
            epoch: 0,
            micro: 0,
            best_loss: None,
            bad_evals: 0,
            evaluations: Vec::new(),
            train_seconds: 0.0,
            examples_seen: 0,
            param_steps: vec![0; net.params.len()],
            params_file: String::new(),
            optim_file: String::new(),
            stopped_early: false,
            done: false,
            resumed_from: None,
        },
    };

    // A frozen encoder gives the same pooled vector every epoch: compute it once.
    let features = if settings.trainable == Trainable::None {
        Some(Features::compute(&net, &train_units, &val_units, settings)?)
    } else {
        None
    };

    let n_micro = train_units.len().div_ceil(settings.batch_size);
    let steps_per_epoch = n_micro.div_ceil(settings.grad_accum) as u64;
    let total_steps = settings
        .max_steps
        .unwrap_or(steps_per_epoch * settings.epochs as u64)
        .min(steps_per_epoch * settings.epochs as u64);
    let warmup_steps = (settings.warmup * total_steps as f64).ceil() as u64;
    let plan = Plan {
        max_len,
        train_units: train_units.len(),
        validation_units: val_units.len(),
        steps_per_epoch,
        total_steps,
        warmup_steps,
        start_step: state.step,
        trainable_parameters: net.params.iter().map(|p| p.var.elem_count()).sum(),
        truncated_inputs: truncated,
    };
    observer.plan(&plan);

    let dropout_p = settings.dropout.unwrap_or(cfg.hidden_dropout_prob) as f32;
    let attn_dropout_p = settings.dropout.unwrap_or(cfg.attention_probs_dropout_prob) as f32;
    let mut acc = Accumulator::new(net.params.len());
    let started = Instant::now();
    let mut seen_here = 0u64;
    let mut first_step_seconds: Option<f64> = None;
    // Seconds of this process already added to the state's training time.
    let mut accounted = 0.0;
    let mut account = |state: &mut State| {
        let now = started.elapsed().as_secs_f64();
        state.train_seconds += now - accounted;
        accounted = now;
    };
    let head_lr = settings.head_lr.unwrap_or(settings.lr);
    let run = Run {
        net: &net,
        units: &train_units,
        val: &val_units,
        features: features.as_ref(),
        settings,
        shape: &shape,
    };

    'epochs: while state.epoch < settings.epochs && !state.done {
        let batches = epoch_batches(&train_units, settings, state.epoch);
        let steps: Vec<&[Vec<usize>]> = batches.chunks(settings.grad_accum).collect();
        let mut step_in_epoch = state.micro / settings.grad_accum;
        while step_in_epoch < steps.len() {
            if state.step >= total_steps {
                break 'epochs;
            }
            let micro_batches = steps[step_in_epoch];
            acc.clear();
            let mut loss_sum = 0.0;
            let scale = 1.0 / micro_batches.len() as f32;
            for (k, mb) in micro_batches.iter().enumerate() {
                let micro_index = step_in_epoch * settings.grad_accum + k;
                let mut ctx = Ctx {
                    kernels: crate::model::Kernels::Fast,
                    dropout: Some(Dropout {
                        hidden: dropout_p,
                        attention: attn_dropout_p,
                        rng: Rng::derive(
                            settings.seed,
                            &[STREAM_DROPOUT, state.epoch as u64, micro_index as u64],
                        ),
                    }),
                };
                let loss = run.loss(mb, &mut ctx, false)?;
                loss_sum += loss.to_scalar::<f32>()? as f64;
                let grads = loss.backward()?;
                acc.add(&net.params, &grads, scale)?;
                seen_here += mb.len() as u64;
                state.examples_seen += mb.len() as u64;
            }
            let grad_norm = match settings.clip {
                Some(c) => acc.clip(c),
                None => acc.norm(),
            };
            let factor = settings
                .schedule
                .factor(state.step, warmup_steps, total_steps);
            opt.update_with(&net.params, &acc, |i| {
                if i < n_encoder_params {
                    settings.lr * factor
                } else {
                    head_lr * factor
                }
            })?;
            state.step += 1;
            step_in_epoch += 1;
            state.micro = step_in_epoch * settings.grad_accum;
            let elapsed = started.elapsed().as_secs_f64();
            first_step_seconds.get_or_insert(elapsed);
            observer.step(&StepReport {
                step: state.step,
                total_steps,
                epoch: state.epoch,
                loss: loss_sum / micro_batches.len() as f64,
                lr: settings.lr * factor,
                grad_norm,
                examples_per_second: seen_here as f64 / elapsed.max(1e-9),
            });
            let end_of_epoch = step_in_epoch == steps.len();
            let last = state.step >= total_steps;
            let eval_now = !val_units.is_empty()
                && (end_of_epoch
                    || last
                    || settings
                        .eval_every
                        .is_some_and(|n| n > 0 && state.step.is_multiple_of(n)));
            if end_of_epoch {
                state.epoch += 1;
                state.micro = 0;
            }
            if eval_now {
                let evaluation =
                    run.evaluate(state.step, state.epoch.saturating_sub(end_of_epoch as u32))?;
                let improved = state.best_loss.is_none_or(|b| evaluation.loss < b);
                if improved {
                    state.best_loss = Some(evaluation.loss);
                    state.bad_evals = 0;
                    save_tensors(&ckpt.join("best.safetensors"), &net.named_tensors())?;
                } else {
                    state.bad_evals += 1;
                }
                observer.evaluated(&evaluation, improved);
                state.evaluations.push(evaluation);
                if let Some(p) = settings.patience
                    && state.bad_evals >= p
                {
                    state.stopped_early = true;
                    state.done = true;
                    observer.note(&format!(
                        "stopping early: no better validation loss in {p} evaluation(s)"
                    ));
                }
            }
            let interrupted = stop.load(Ordering::Relaxed);
            if eval_now
                || interrupted
                || state.done
                || (settings.checkpoint_every > 0
                    && state.step.is_multiple_of(settings.checkpoint_every))
            {
                account(&mut state);
                save_state(&ckpt, &mut state, &net.params, &opt)?;
            }
            if interrupted {
                let mut s = summary(&state, false, total_steps, out, &data, Some(plan), None);
                s.first_step_seconds = first_step_seconds;
                return Ok(s);
            }
            if state.done || end_of_epoch {
                continue 'epochs;
            }
        }
        // Only reached when a resumed epoch had no step left.
        state.epoch += 1;
        state.micro = 0;
    }
    account(&mut state);
    state.done = true;
    save_state(&ckpt, &mut state, &net.params, &opt)?;

    // The weights written: the best validated ones when there was validation.
    let best_path = ckpt.join("best.safetensors");
    let mut best_eval = None;
    if !state.evaluations.is_empty() && best_path.is_file() {
        let best = candle_core::safetensors::load(&best_path, &Device::Cpu)?;
        for p in &net.params {
            if let Some(t) = best.get(&p.name) {
                p.var.set(t)?;
            }
        }
        best_eval = state
            .evaluations
            .iter()
            .rfind(|e| Some(e.loss) == state.best_loss)
            .cloned();
    }
    let (tie_band, rule, calibrated) = run.tie_band()?;
    write_judge(
        out,
        &files,
        &net,
        &shape,
        settings,
        max_len,
        (tie_band, rule.clone()),
    )?;
    let mut s = summary(&state, true, total_steps, out, &data, Some(plan), best_eval);
    s.first_step_seconds = first_step_seconds;
    s.tie_band = tie_band;
    s.tie_band_rule = rule;
    s.calibrated_accuracy = calibrated;
    write_card(out, &files, settings, &data, &s)?;
    std::fs::remove_dir_all(&ckpt).map_err(|e| Error::io(&ckpt, e))?;
    Ok(s)
}

const STREAM_HEAD: u64 = 1;
const STREAM_ORDER: u64 = 2;
const STREAM_DROPOUT: u64 = 3;

fn check_settings(s: &TrainSettings) -> Result<()> {
    let bad = |m: &str| Err(Error::Settings(m.into()));
    if s.batch_size == 0 || s.grad_accum == 0 || s.eval_batch_size == 0 {
        return bad("batch sizes and gradient accumulation must be at least 1");
    }
    if s.epochs == 0 {
        return bad("--epochs must be at least 1");
    }
    if !(s.lr.is_finite() && s.lr > 0.0) || s.head_lr.is_some_and(|x| !(x.is_finite() && x > 0.0)) {
        return bad("learning rates must be positive numbers");
    }
    if !(0.0..1.0).contains(&s.warmup) {
        return bad("--warmup is a share of the steps, in [0, 1)");
    }
    if s.dropout.is_some_and(|d| !(0.0..1.0).contains(&d)) {
        return bad("--dropout must be in [0, 1)");
    }
    if s.clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
        return bad("--clip must be a positive number");
    }
    if let TieBand::Fixed(b) = s.tie_band
        && !(b.is_finite() && b >= 0.0)
    {
        return bad("a fixed tie band must be a number of at least 0");
    }
    Ok(())
}

/// What the head outputs and how labels map to them.
#[derive(Debug, Clone)]
struct HeadShape {
    outputs: usize,
    classes: Vec<String>,
    regression: Option<(f64, f64)>,
}

impl HeadShape {
    fn infer(settings: &TrainSettings, train: &[Example]) -> Result<HeadShape> {
        match settings.objective {
            Objective::Pairwise => Ok(HeadShape {
                outputs: 1,
                classes: Vec::new(),
                regression: None,
            }),
            Objective::PairClassifier => Ok(HeadShape {
                outputs: 3,
                classes: vec!["A".into(), "B".into(), "tie".into()],
                regression: None,
            }),
            Objective::Pointwise => {
                let singles: Vec<&Target> = train
                    .iter()
                    .filter(|e| matches!(e.responses, Responses::Single(_)))
                    .map(|e| &e.target)
                    .collect();
                if singles.is_empty() {
                    return Err(Error::Data(
                        "the pointwise objective needs examples with one response and a \
                         score or category; the data has only pairs (use --objective pairwise \
                         or pair-classifier)"
                            .into(),
                    ));
                }
                let numbers: Vec<f64> = singles
                    .iter()
                    .filter_map(|t| match t {
                        Target::Number(x) => Some(*x),
                        _ => None,
                    })
                    .collect();
                if numbers.len() == singles.len() && !settings.classify {
                    let n = numbers.len() as f64;
                    let mean = numbers.iter().sum::<f64>() / n;
                    let var = numbers.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    return Ok(HeadShape {
                        outputs: 1,
                        classes: Vec::new(),
                        regression: Some((mean, std)),
                    });
                }
                let mut classes: Vec<String> = singles
                    .iter()
                    .map(|t| match t {
                        Target::Number(x) => gavel_core::format_number(*x),
                        Target::Category(c) => c.clone(),
                        Target::Pref(p) => p.as_str().to_string(),
                    })
                    .collect();
                classes.sort();
                classes.dedup();
                if classes.len() < 2 {
                    return Err(Error::Data(format!(
                        "every training label is `{}`: a classifier needs two classes at least",
                        classes.first().cloned().unwrap_or_default()
                    )));
                }
                Ok(HeadShape {
                    outputs: classes.len(),
                    classes,
                    regression: None,
                })
            }
        }
    }
}

/// Tokenizes examples into training units (in parallel; the order is kept). Examples of the
/// other mode than the objective's are left out; the pair classifier gets both orders of
/// each pair in training (swap augmentation) and in validation.
fn prepare(
    examples: &[Example],
    shape: &HeadShape,
    text: &TextEncoder,
    objective: Objective,
) -> Result<Vec<Unit>> {
    let units: Vec<Result<Vec<Unit>>> = examples
        .par_iter()
        .map(|e| -> Result<Vec<Unit>> {
            Ok(match (objective, &e.responses, &e.target) {
                (Objective::Pairwise, Responses::Pair(a, b), Target::Pref(p)) => vec![Unit {
                    seqs: vec![text.pair(&e.context, a)?, text.pair(&e.context, b)?],
                    target: UnitTarget::Pref(*p),
                }],
                (Objective::PairClassifier, Responses::Pair(a, b), Target::Pref(p)) => vec![
                    Unit {
                        seqs: vec![text.triple(&e.context, a, b)?],
                        target: UnitTarget::Class(p.index()),
                    },
                    Unit {
                        seqs: vec![text.triple(&e.context, b, a)?],
                        target: UnitTarget::Class(p.swapped().index()),
                    },
                ],
                (Objective::Pointwise, Responses::Single(r), t) => {
                    let target = match (&shape.regression, t) {
                        (Some((mean, std)), Target::Number(x)) => {
                            UnitTarget::Value(((x - mean) / std) as f32)
                        }
                        (None, t) => {
                            let key = match t {
                                Target::Number(x) => gavel_core::format_number(*x),
                                Target::Category(c) => c.clone(),
                                Target::Pref(p) => p.as_str().to_string(),
                            };
                            match shape.classes.iter().position(|c| *c == key) {
                                Some(i) => UnitTarget::Class(i),
                                // A validation label never seen in training.
                                None => return Ok(Vec::new()),
                            }
                        }
                        _ => return Ok(Vec::new()),
                    };
                    vec![Unit {
                        seqs: vec![text.pair(&e.context, r)?],
                        target,
                    }]
                }
                _ => Vec::new(),
            })
        })
        .collect();
    let mut out = Vec::with_capacity(examples.len());
    for u in units {
        out.extend(u?);
    }
    if out.is_empty() && !examples.is_empty() {
        return Err(Error::Data(format!(
            "none of the {} examples fits the {} objective ({})",
            examples.len(),
            objective.as_str(),
            match objective {
                Objective::Pointwise => "it needs one response and a label per example",
                _ => "it needs two responses and an A/B/tie label per example",
            }
        )));
    }
    Ok(out)
}

/// The micro-batches of an epoch: a seeded shuffle, then, within windows of 50 batches, units
/// of similar length together (less padding), the batches themselves in seeded order.
fn epoch_batches(units: &[Unit], settings: &TrainSettings, epoch: u32) -> Vec<Vec<usize>> {
    let mut rng = Rng::derive(settings.seed, &[STREAM_ORDER, epoch as u64]);
    let mut order: Vec<usize> = (0..units.len()).collect();
    rng.shuffle(&mut order);
    let len = |i: usize| units[i].seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let window = settings.batch_size * 50;
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for chunk in order.chunks(window) {
        let mut chunk = chunk.to_vec();
        chunk.sort_by_key(|&i| len(i));
        batches.extend(chunk.chunks(settings.batch_size).map(|c| c.to_vec()));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Pooled vectors of every unit's inputs, for a frozen encoder.
struct Features {
    train: Vec<Vec<Vec<f32>>>,
    val: Vec<Vec<Vec<f32>>>,
}

impl Features {
    fn compute(
        net: &JudgeNet,
        train: &[Unit],
        val: &[Unit],
        settings: &TrainSettings,
    ) -> Result<Features> {
        let one = |units: &[Unit]| -> Result<Vec<Vec<Vec<f32>>>> {
            let flat: Vec<Encoded> = units.iter().flat_map(|u| u.seqs.clone()).collect();
            let mut f = net.features(&flat, settings.eval_batch_size)?.into_iter();
            Ok(units
                .iter()
                .map(|u| (0..u.seqs.len()).filter_map(|_| f.next()).collect())
                .collect())
        };
        Ok(Features {
            train: one(train)?,
            val: one(val)?,
        })
    }
}

struct Run<'a> {
    net: &'a JudgeNet,
    units: &'a [Unit],
    val: &'a [Unit],
    features: Option<&'a Features>,
    settings: &'a TrainSettings,
    shape: &'a HeadShape,
}

impl Run<'_> {
    /// The head outputs of units (all their inputs, in order): `(inputs, outputs)`.
    fn outputs(&self, idx: &[usize], ctx: &mut Ctx, validation: bool) -> Result<Tensor> {
        let units = if validation { self.val } else { self.units };
        if let Some(f) = self.features {
            let table = if validation { &f.val } else { &f.train };
            let rows: Vec<f32> = idx
                .iter()
                .flat_map(|&i| table[i].iter().flatten().copied())
                .collect();
            let n = idx.iter().map(|&i| table[i].len()).sum::<usize>();
            let h = rows.len() / n.max(1);
            let pooled = Tensor::from_vec(rows, (n, h), &Device::Cpu)?;
            return self.net.head.forward(&pooled);
        }
        let seqs: Vec<&Encoded> = idx.iter().flat_map(|&i| units[i].seqs.iter()).collect();
        let batch = self.net.batch(&seqs)?;
        self.net.forward(&batch, ctx)
    }

    fn loss(&self, idx: &[usize], ctx: &mut Ctx, validation: bool) -> Result<Tensor> {
        let units = if validation { self.val } else { self.units };
        let out = self.outputs(idx, ctx, validation)?;
        self.loss_of(&out, idx.iter().map(|&i| units[i].target))
    }

    fn loss_of(&self, out: &Tensor, targets: impl Iterator<Item = UnitTarget>) -> Result<Tensor> {
        let targets: Vec<UnitTarget> = targets.collect();
        match self.settings.objective {
            Objective::Pairwise => {
                let prefs: Vec<Pref> = targets
                    .iter()
                    .map(|t| match t {
                        UnitTarget::Pref(p) => *p,
                        _ => Pref::Tie,
                    })
                    .collect();
                let scores = out.flatten_all()?;
                if self.settings.ties == TieMode::Skip {
                    // Ties carry no gradient under Skip: weight them 0 by dropping their rows.
                    let keep: Vec<usize> = prefs
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| **p != Pref::Tie)
                        .map(|(i, _)| i)
                        .collect();
                    if keep.is_empty() {
                        return Ok((scores.sum_all()? * 0.0)?);
                    }
                    let rows: Vec<u32> = keep
                        .iter()
                        .flat_map(|&i| [2 * i as u32, 2 * i as u32 + 1])
                        .collect();
                    let n = rows.len();
                    let kept = scores.index_select(&Tensor::from_vec(rows, n, &Device::Cpu)?, 0)?;
                    let p: Vec<Pref> = keep.iter().map(|&i| prefs[i]).collect();
                    return pairwise_loss(&kept, &p, TieMode::Half, None);
                }
                pairwise_loss(
                    &scores,
                    &prefs,
                    self.settings.ties,
                    self.net.head.tie_logit(),
                )
            }
            _ if self.shape.regression.is_some() => {
                let y: Vec<f32> = targets
                    .iter()
                    .map(|t| match t {
                        UnitTarget::Value(v) => *v,
                        _ => 0.0,
                    })
                    .collect();
                regression_loss(out, &y)
            }
            _ => {
                let y: Vec<usize> = targets
                    .iter()
                    .map(|t| match t {
                        UnitTarget::Class(c) => *c,
                        _ => 0,
                    })
                    .collect();
                classification_loss(out, &y)
            }
        }
    }

    /// Head outputs of every validation unit (eval mode), one row per input.
    fn val_outputs(&self) -> Result<Vec<Vec<Vec<f32>>>> {
        let mut out = Vec::with_capacity(self.val.len());
        if let Some(f) = self.features {
            for chunk in (0..self.val.len())
                .collect::<Vec<_>>()
                .chunks(self.settings.eval_batch_size)
            {
                let o = self
                    .outputs(chunk, &mut Ctx::eval(), true)?
                    .to_vec2::<f32>()?;
                let mut rows = o.into_iter();
                for &i in chunk {
                    out.push((0..f.val[i].len()).filter_map(|_| rows.next()).collect());
                }
            }
            return Ok(out);
        }
        let flat: Vec<Encoded> = self.val.iter().flat_map(|u| u.seqs.clone()).collect();
        let mut rows = self
            .net
            .predict(&flat, self.settings.eval_batch_size)?
            .into_iter();
        for u in self.val {
            out.push((0..u.seqs.len()).filter_map(|_| rows.next()).collect());
        }
        Ok(out)
    }

    fn evaluate(&self, step: u64, epoch: u32) -> Result<Evaluation> {
        let outs = self.val_outputs()?;
        // The loss over all units at once, from the outputs.
        let rows: Vec<f32> = outs.iter().flatten().flatten().copied().collect();
        let width = outs
            .first()
            .and_then(|u| u.first())
            .map(|r| r.len())
            .unwrap_or(1);
        let n_rows = rows.len() / width.max(1);
        let t = Tensor::from_vec(rows, (n_rows, width), &Device::Cpu)?;
        let loss = self
            .loss_of(&t, self.val.iter().map(|u| u.target))?
            .to_scalar::<f32>()? as f64;
        let mut e = Evaluation {
            step,
            epoch,
            loss,
            accuracy: None,
            accuracy_without_ties: None,
            rmse: None,
            n: self.val.len(),
        };
        match self.settings.objective {
            Objective::Pairwise => {
                let band = self.model_band()?;
                let (mut right, mut right_nt, mut nt) = (0usize, 0usize, 0usize);
                for (u, o) in self.val.iter().zip(&outs) {
                    let d = (o[0][0] - o[1][0]) as f64;
                    let UnitTarget::Pref(p) = u.target else {
                        continue;
                    };
                    if decide(d, band) == p {
                        right += 1;
                    }
                    if p != Pref::Tie {
                        nt += 1;
                        if (d > 0.0) == (p == Pref::A) && d != 0.0 {
                            right_nt += 1;
                        }
                    }
                }
                e.accuracy = Some(right as f64 / self.val.len().max(1) as f64);
                e.accuracy_without_ties = (nt > 0).then(|| right_nt as f64 / nt as f64);
            }
            _ if self.shape.regression.is_some() => {
                let (_, std) = self.shape.regression.unwrap_or((0.0, 1.0));
                let se: f64 = self
                    .val
                    .iter()
                    .zip(&outs)
                    .map(|(u, o)| match u.target {
                        UnitTarget::Value(v) => ((o[0][0] - v) as f64 * std).powi(2),
                        _ => 0.0,
                    })
                    .sum();
                e.rmse = Some((se / self.val.len().max(1) as f64).sqrt());
            }
            _ => {
                let right = self
                    .val
                    .iter()
                    .zip(&outs)
                    .filter(|(u, o)| match u.target {
                        UnitTarget::Class(c) => argmax(&o[0]) == c,
                        _ => false,
                    })
                    .count();
                e.accuracy = Some(right as f64 / self.val.len().max(1) as f64);
            }
        }
        Ok(e)
    }

    /// The tie band Davidson's θ implies (0 otherwise).
    fn model_band(&self) -> Result<f64> {
        Ok(match self.net.head.tie_logit_value()? {
            Some(theta) if theta > 0.0 => 2.0 * theta as f64,
            _ => 0.0,
        })
    }

    /// The tie band to write, its rule, and validation accuracy with it.
    fn tie_band(&self) -> Result<(Option<f64>, Option<String>, Option<f64>)> {
        if self.settings.objective != Objective::Pairwise {
            return Ok((None, None, None));
        }
        let model = self.model_band()?;
        let has_ties = self
            .val
            .iter()
            .any(|u| matches!(u.target, UnitTarget::Pref(Pref::Tie)));
        let fixed = |b: f64, rule: &str| -> (Option<f64>, Option<String>) {
            (Some(b), Some(rule.to_string()))
        };
        let (band, rule) = match self.settings.tie_band {
            TieBand::Fixed(b) => fixed(b, "fixed"),
            TieBand::Model => fixed(model, "Davidson's model (2θ)"),
            _ if !has_ties => fixed(
                model,
                if self.val.is_empty() {
                    "Davidson's model (2θ): no validation data to calibrate on"
                } else {
                    "Davidson's model (2θ): no ties in the validation data"
                },
            ),
            rule => {
                let outs = self.val_outputs()?;
                let pairs: Vec<(f64, Pref)> = self
                    .val
                    .iter()
                    .zip(&outs)
                    .filter_map(|(u, o)| match u.target {
                        UnitTarget::Pref(p) => Some(((o[0][0] - o[1][0]) as f64, p)),
                        _ => None,
                    })
                    .collect();
                let macro_f1 = rule == TieBand::MacroF1;
                let b = calibrate_band(&pairs, macro_f1);
                fixed(
                    b,
                    if macro_f1 {
                        "validation macro-F1"
                    } else {
                        "validation accuracy"
                    },
                )
            }
        };
        let accuracy = if self.val.is_empty() {
            None
        } else {
            let outs = self.val_outputs()?;
            let b = band.unwrap_or(0.0);
            let right = self
                .val
                .iter()
                .zip(&outs)
                .filter(|(u, o)| match u.target {
                    UnitTarget::Pref(p) => decide((o[0][0] - o[1][0]) as f64, b) == p,
                    _ => false,
                })
                .count();
            Some(right as f64 / self.val.len() as f64)
        };
        Ok((band, rule, accuracy))
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// A pairwise verdict from a score difference and a tie band.
pub fn decide(d: f64, band: f64) -> Pref {
    if d > band {
        Pref::A
    } else if d < -band {
        Pref::B
    } else {
        Pref::Tie
    }
}

/// The band maximising accuracy (or macro-F1 over A, B, tie) of `decide` on labelled score
/// differences; among equally good bands, the smallest. Candidates: 0 and the midpoints
/// between consecutive distinct |d|.
pub fn calibrate_band(pairs: &[(f64, Pref)], macro_f1: bool) -> f64 {
    let mut mags: Vec<f64> = pairs.iter().map(|(d, _)| d.abs()).collect();
    mags.sort_by(|a, b| a.total_cmp(b));
    mags.dedup();
    let mut candidates = vec![0.0];
    for w in mags.windows(2) {
        candidates.push((w[0] + w[1]) / 2.0);
    }
    if let Some(m) = mags.last() {
        candidates.push(m + 1.0);
    }
    let score = |band: f64| -> f64 {
        let mut conf = [[0usize; 3]; 3];
        for &(d, p) in pairs {
            conf[p.index()][decide(d, band).index()] += 1;
        }
        if macro_f1 {
            (0..3)
                .map(|c| {
                    let tp = conf[c][c] as f64;
                    let pred: usize = (0..3).map(|r| conf[r][c]).sum();
                    let gold: usize = conf[c].iter().sum();
                    if tp == 0.0 {
                        0.0
                    } else {
                        2.0 * tp / (pred + gold) as f64
                    }
                })
                .sum::<f64>()
                / 3.0
        } else {
            (0..3).map(|c| conf[c][c]).sum::<usize>() as f64 / pairs.len().max(1) as f64
        }
    };
    let mut best = (f64::NEG_INFINITY, 0.0);
    for b in candidates {
        let s = score(b);
        if s > best.0 + 1e-12 {
            best = (s, b);
        }
    }
    best.1
}

fn fingerprint(settings: &TrainSettings, data: &TrainData, files: &ModelFiles) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut s = settings.clone();
    // Settings that do not change the trained weights.
    s.checkpoint_every = 0;
    s.eval_batch_size = 0;
    let mut h = Sha256::new();
    h.update(serde_json::to_string(&s).unwrap_or_default());
    h.update(crate::data::digest(&data.train));
    h.update(crate::data::digest(&data.validation));
    let meta = std::fs::metadata(&files.weights).map_err(|e| Error::io(&files.weights, e))?;
    h.update(meta.len().to_le_bytes());
    h.update(std::fs::read(&files.config).map_err(|e| Error::io(&files.config, e))?);
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn read_state(dir: &Path) -> Result<Option<State>> {
    let path = dir.join("state.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let state: State = serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        message: format!("unreadable ({e}); start over with --restart"),
    })?;
    if state.version != 1 {
        return Err(Error::Checkpoint {
            path,
            message: format!(
                "version {} is unknown; start over with --restart",
                state.version
            ),
        });
    }
    Ok(Some(state))
}

fn restore(dir: &Path, s: &State, params: &[Param], opt: &mut AdamW) -> Result<()> {
    let cerr = |m: String| Error::Checkpoint {
        path: dir.to_path_buf(),
        message: m,
    };
    let p = candle_core::safetensors::load(dir.join(&s.params_file), &Device::Cpu)
        .map_err(|e| cerr(format!("cannot read {}: {e}", s.params_file)))?;
    let o = candle_core::safetensors::load(dir.join(&s.optim_file), &Device::Cpu)
        .map_err(|e| cerr(format!("cannot read {}: {e}", s.optim_file)))?;
    if s.param_steps.len() != params.len() {
        return Err(cerr(
            "the checkpoint has another number of parameters".into(),
        ));
    }
    for (i, param) in params.iter().enumerate() {
        let get = |map: &HashMap<String, Tensor>, key: &str| -> Result<Tensor> {
            map.get(key)
                .cloned()
                .ok_or_else(|| cerr(format!("tensor `{key}` is missing")))
        };
        param.var.set(&get(&p, &param.name)?)?;
        opt.m[i] = get(&o, &format!("m.{}", param.name))?
            .flatten_all()?
            .to_vec1()?;
        opt.v[i] = get(&o, &format!("v.{}", param.name))?
            .flatten_all()?
            .to_vec1()?;
    }
    opt.step = s.step;
    opt.param_steps = s.param_steps.clone();
    Ok(())
}

/// Writes tensors as safetensors through a temporary file.
pub(crate) fn save_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.contiguous()?)))
        .collect::<Result<_>>()?;
    let bytes =
        safetensors::tensor::serialize(contiguous.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(|e| Error::Weights {
                path: path.to_path_buf(),
                message: format!("cannot serialise: {e}"),
            })?;
    write_atomic(path, &bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let werr = |e: gavel_core::WriteError| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut f = gavel_core::AtomicFile::create(path).map_err(werr)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit().map_err(werr)
}

fn save_state(dir: &Path, state: &mut State, params: &[Param], opt: &AdamW) -> Result<()> {
    let params_file = format!("params-{}.safetensors", state.step);
    let optim_file = format!("optim-{}.safetensors", state.step);
    let named: Vec<(String, Tensor)> = params
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
        .collect();
    save_tensors(&dir.join(&params_file), &named)?;
    let mut moments = Vec::with_capacity(2 * params.len());
    for (i, p) in params.iter().enumerate() {
        let shape = p.var.shape().clone();
        moments.push((
            format!("m.{}", p.name),
            Tensor::from_vec(opt.m[i].clone(), shape.clone(), &Device::Cpu)?,
        ));
        moments.push((
            format!("v.{}", p.name),
            Tensor::from_vec(opt.v[i].clone(), shape, &Device::Cpu)?,
        ));
    }
    save_tensors(&dir.join(&optim_file), &moments)?;
    let old = (
        std::mem::replace(&mut state.params_file, params_file.clone()),
        std::mem::replace(&mut state.optim_file, optim_file.clone()),
    );
    state.param_steps = opt.param_steps.clone();
    let json = serde_json::to_string_pretty(state).unwrap_or_default();
    write_atomic(&dir.join("state.json"), json.as_bytes())?;
    for f in [old.0, old.1] {
        if !f.is_empty() && f != params_file && f != optim_file {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    Ok(())
}

fn summary(
    state: &State,
    finished: bool,
    total_steps: u64,
    out: &Path,
    data: &TrainData,
    plan: Option<Plan>,
    best: Option<Evaluation>,
) -> TrainSummary {
    TrainSummary {
        finished,
        steps: state.step,
        total_steps,
        stopped_early: state.stopped_early,
        resumed_from: state.resumed_from,
        evaluations: state.evaluations.clone(),
        best,
        tie_band: None,
        tie_band_rule: None,
        calibrated_accuracy: None,
        train_seconds: state.train_seconds,
        examples_seen: state.examples_seen,
        examples_per_second: state.examples_seen as f64 / state.train_seconds.max(1e-9),
        first_step_seconds: None,
        out: out.to_path_buf(),
        data: data.report.clone(),
        plan,
    }
}

fn write_judge(
    out: &Path,
    files: &ModelFiles,
    net: &JudgeNet,
    shape: &HeadShape,
    settings: &TrainSettings,
    text_max_len: usize,
    (tie_band, rule): (Option<f64>, Option<String>),
) -> Result<()> {
    save_tensors(&out.join("model.safetensors"), &net.named_tensors())?;
    for (src, name) in [
        (&files.config, "config.json"),
        (&files.tokenizer, "tokenizer.json"),
    ] {
        let bytes = std::fs::read(src).map_err(|e| Error::io(src, e))?;
        write_atomic(&out.join(name), &bytes)?;
    }
    let spec = JudgeSpec {
        format: "gavel-judge".into(),
        version: 1,
        objective: settings.objective,
        ties: (settings.objective == Objective::Pairwise).then_some(settings.ties),
        pooling: settings.pooling,
        max_len: text_max_len,
        outputs: shape.outputs,
        classes: shape.classes.clone(),
        tie_band,
        tie_band_rule: rule,
        tie_logit: net.head.tie_logit_value()?.map(|x| x as f64),
        target_mean: shape.regression.map(|r| r.0),
        target_std: shape.regression.map(|r| r.1),
        base_model: base_name(&files.dir),
    };
    write_atomic(&out.join(spec::FILE), spec.to_json().as_bytes())
}

fn base_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn write_card(
    out: &Path,
    files: &ModelFiles,
    settings: &TrainSettings,
    data: &TrainData,
    s: &TrainSummary,
) -> Result<()> {
    let mut t = String::new();
    let name = base_name(out);
    t.push_str(&format!("# {name}: a judge trained with gavel\n\n"));
    t.push_str(&format!(
        "A {} judge built on `{}` by `gavel train` ({}).\n\n\
         Use it with `gavel judge --data items.jsonl --judge local:{name} --out j.jsonl`, and\n\
         measure it against human labels with `gavel meta-eval`.\n\n",
        settings.objective.as_str(),
        base_name(&files.dir),
        match settings.trainable {
            Trainable::All => "every encoder weight and the head trained",
            Trainable::AllButEmbeddings =>
                "the transformer layers and the head trained, \
                                            embeddings fixed",
            Trainable::None => "frozen encoder, only the head trained",
        }
    ));
    t.push_str("## Data\n\n");
    t.push_str(&format!("- Source: {}\n", data.source));
    t.push_str(&format!(
        "- Training units: {}; validation units: {}\n",
        s.plan.as_ref().map(|p| p.train_units).unwrap_or(0),
        s.plan.as_ref().map(|p| p.validation_units).unwrap_or(0)
    ));
    let labels: Vec<String> = data
        .report
        .labels
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    t.push_str(&format!(
        "- Labels (training examples): {}\n",
        labels.join(", ")
    ));
    t.push_str(&format!(
        "- Left out: {} with a null label, {} duplicates, {} without a majority, {} without the response\n",
        data.report.null_label,
        data.report.duplicates,
        data.report.no_majority,
        data.report.missing_response
    ));
    if let Some(p) = &s.plan {
        t.push_str(&format!(
            "- Inputs cut to {} tokens: {}\n",
            p.max_len, p.truncated_inputs
        ));
    }
    t.push_str("\n## Settings\n\n```json\n");
    t.push_str(&serde_json::to_string_pretty(settings).unwrap_or_default());
    t.push_str("\n```\n\n## Training\n\n");
    t.push_str(&format!(
        "- Steps: {} of {} planned{}{}\n",
        s.steps,
        s.total_steps,
        if s.stopped_early {
            " (stopped early)"
        } else {
            ""
        },
        s.resumed_from
            .map(|r| format!("; resumed from step {r}"))
            .unwrap_or_default()
    ));
    t.push_str(&format!(
        "- Time: {:.1} s, {:.2} training units per second\n",
        s.train_seconds, s.examples_per_second
    ));
    if !s.evaluations.is_empty() {
        t.push_str("\n## Validation\n\n| step | epoch | loss | accuracy | accuracy without ties | RMSE |\n|---|---|---|---|---|---|\n");
        for e in &s.evaluations {
            t.push_str(&format!(
                "| {} | {} | {:.4} | {} | {} | {} |\n",
                e.step,
                e.epoch + 1,
                e.loss,
                fmt_opt(e.accuracy, 4),
                fmt_opt(e.accuracy_without_ties, 4),
                fmt_opt(e.rmse, 4)
            ));
        }
        if let Some(b) = &s.best {
            t.push_str(&format!(
                "\nWeights written: those of step {} (lowest validation loss).\n",
                b.step
            ));
        }
    }
    if let Some(band) = s.tie_band {
        t.push_str(&format!(
            "\nTie band: pairs whose score difference is within ±{band:.4} are ties ({}){}.\n",
            s.tie_band_rule.clone().unwrap_or_default(),
            s.calibrated_accuracy
                .map(|a| format!("; validation accuracy with it {a:.4}"))
                .unwrap_or_default()
        ));
    }
    write_atomic(&out.join("README.md"), t.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_calibration_finds_the_tie_zone() {
        let pairs = vec![
            (2.0, Pref::A),
            (1.5, Pref::A),
            (0.2, Pref::Tie),
            (-0.1, Pref::Tie),
            (0.3, Pref::Tie),
            (-1.0, Pref::B),
            (-0.25, Pref::B),
        ];
        let b = calibrate_band(&pairs, false);
        // 0.225 and 0.35 both get 6 of 7 right; the smaller band wins.
        assert!((b - 0.225).abs() < 1e-12, "{b}");
        // Without ties the best band is 0.
        let nt: Vec<(f64, Pref)> = pairs.iter().copied().filter(|p| p.1 != Pref::Tie).collect();
        assert_eq!(calibrate_band(&nt, false), 0.0);
        assert_eq!(decide(0.1, 0.2), Pref::Tie);
        assert_eq!(decide(-0.3, 0.2), Pref::B);
    }
}
