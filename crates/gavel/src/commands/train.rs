//! `gavel train`: train a judge model on CPU from a gavel dataset.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gavel_train::data::{self, Example};
use gavel_train::objective::{Objective, TieMode};
use gavel_train::optim::{AdamWConfig, Schedule};
use gavel_train::rng::Rng;
use gavel_train::train::{
    Evaluation, Observer, Plan, StepReport, TieBand, TrainData, TrainSettings, TrainSummary,
};
use gavel_train::{Pooling, Trainable};
use indicatif::ProgressBar;
use serde_json::json;

use crate::output::{self, OutputFormat, Table};
use crate::{GlobalArgs, Outcome, UsageError};

const EXAMPLES: &str = "Examples:
  # A pairwise judge (a reward model) from a `gavel dataset build` directory
  gavel train --data dataset/ --base all-MiniLM-L6-v2/ --out my-judge/

  # From items and human labels, 10% of the items held out for validation
  gavel train --items items.jsonl --labels labels.jsonl --base minilm/ --out my-judge/

  # Quick: frozen encoder, only the head learns (features computed once)
  gavel train --data dataset/ --base minilm/ --out my-judge/ --freeze-encoder --lr 1e-3 --epochs 20

  # A budget: 2000 examples, one epoch, 256 tokens
  gavel train --data dataset/ --base minilm/ --out my-judge/ --max-examples 2000 --epochs 1

  # Then use it and measure it against the humans
  gavel judge --data items.jsonl --judge local:my-judge --out judgments.jsonl
  gavel meta-eval --judge judgments.jsonl --human labels.jsonl

A killed or interrupted run resumes from its last checkpoint when the same command is run
again (checkpoints are in OUT/checkpoint/, removed when the judge is written).";

/// Train a judge model on CPU from a gavel dataset.
///
/// The base model is a local BERT-family encoder directory (config.json, model.safetensors or
/// pytorch_model.bin, tokenizer.json), such as all-MiniLM-L6-v2. The judge directory written
/// to --out is a model directory with the head added, gavel_judge.json and a training card
/// (README.md).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub options: Box<Options>,
}

/// The options of `gavel train`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// A `gavel dataset build` directory (train.jsonl, optionally validation.jsonl).
    #[arg(long, value_name = "DIR", required_unless_present = "labels", conflicts_with_all = ["labels", "items"])]
    pub data: Option<PathBuf>,

    /// Items with the responses (with --labels instead of --data).
    #[arg(long, value_name = "PATH", requires = "labels")]
    pub items: Option<PathBuf>,

    /// Labels of the items' responses or pairs; several labels of one unit are combined by
    /// majority.
    #[arg(long, value_name = "PATH", requires = "items")]
    pub labels: Option<PathBuf>,

    /// The base encoder directory.
    #[arg(long, value_name = "DIR")]
    pub base: PathBuf,

    /// Where to write the judge.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// What the judge learns.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Pairwise)]
    pub objective: ObjectiveArg,

    /// Pairwise: how ties are trained (Davidson's model, half a win each, or left out).
    #[arg(long, value_enum, default_value_t = TiesArg::Davidson)]
    pub ties: TiesArg,

    /// Pointwise: treat numeric labels as classes.
    #[arg(long)]
    pub classify: bool,

    /// Train only the head on a frozen encoder.
    #[arg(long, conflicts_with = "freeze_embeddings")]
    pub freeze_encoder: bool,

    /// Keep the embeddings fixed (faster steps; the transformer layers still learn).
    #[arg(long)]
    pub freeze_embeddings: bool,

    /// How the encoder's token vectors become one vector.
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pub pooling: PoolingArg,

    /// Passes over the training data.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub epochs: u32,

    /// Stop after N optimiser steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,

    /// Use a seeded random subset of N training examples.
    #[arg(long, value_name = "N")]
    pub max_examples: Option<usize>,

    /// Pairs (or responses) per micro-batch.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub batch_size: usize,

    /// Micro-batches per optimiser step (gradient accumulation).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub grad_accum: usize,

    /// Peak learning rate [default: 3e-5, or 1e-3 with --freeze-encoder].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,

    /// Peak learning rate of the head [default: --lr].
    #[arg(long, value_name = "LR")]
    pub head_lr: Option<f64>,

    /// AdamW's decoupled weight decay (not on biases and LayerNorm weights).
    #[arg(long, value_name = "X", default_value_t = 0.01)]
    pub weight_decay: f64,

    /// Share of the steps spent warming the learning rate up.
    #[arg(long, value_name = "SHARE", default_value_t = 0.1)]
    pub warmup: f64,

    /// The learning rate after warm-up.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Linear)]
    pub schedule: ScheduleArg,

    /// Input length limit in tokens; longer inputs are cut, keeping the instruction
    /// [default: 256, or the model's limit when lower].
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,

    /// Clip the gradients' global norm (0 turns clipping off).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub clip: f64,

    /// Dropout in training [default: the model config's].
    #[arg(long, value_name = "P")]
    pub dropout: Option<f64>,

    /// The seed of data order, dropout, head initialisation and the validation split.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Share of items held out for validation when the data has no validation split.
    #[arg(long, value_name = "SHARE", default_value_t = 0.1)]
    pub validation_split: f64,

    /// Stop after N evaluations without a lower validation loss (0: never stop early).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub patience: u32,

    /// Evaluate every N steps besides each epoch's end.
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,

    /// Save a checkpoint every N steps (and at each evaluation).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub checkpoint_every: u64,

    /// Pairwise: how the tie band is chosen: `accuracy` or `macro-f1` on the validation
    /// pairs, `model` (Davidson's 2θ), or a number.
    #[arg(long, value_name = "RULE", default_value = "accuracy")]
    pub tie_band: String,

    /// Discard a checkpoint in --out and start over.
    #[arg(long)]
    pub restart: bool,

    /// Replace a finished judge in --out.
    #[arg(long)]
    pub overwrite: bool,

    /// Summary format (JSON goes to stdout).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `--objective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// A score per response, Bradley-Terry on pairs (a reward model).
    Pairwise,
    /// A score (regression) or category (classification) per response.
    Pointwise,
    /// A 3-way verdict over both responses, trained on both orders.
    PairClassifier,
}

/// `--ties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TiesArg {
    /// Davidson's model with a learned tie parameter.
    Davidson,
    /// A tie is half a win for each response.
    Half,
    /// Ties are left out of training.
    Skip,
}

/// `--pooling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolingArg {
    /// The mean of the token vectors.
    Mean,
    /// The first token's vector.
    Cls,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleArg {
    /// Linear decay to 0.
    Linear,
    /// Half a cosine to 0.
    Cosine,
    /// Constant.
    Constant,
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    crate::allocator::keep_freed_memory();
    let args = *args.options;
    let settings = resolve(&args)?;
    let out = &args.out;
    let ckpt = gavel_train::train::checkpoint_dir(out);
    if out.join(gavel_train::spec::FILE).is_file() && !ckpt.is_dir() && !args.overwrite {
        return Err(UsageError(format!(
            "{} already holds a trained judge; pass --overwrite to replace it",
            out.display()
        ))
        .into());
    }
    if args.restart && ckpt.is_dir() {
        std::fs::remove_dir_all(&ckpt)?;
    }
    let data = read_data(&args)?;
    output::note(
        global.quiet,
        &format!(
            "{} training and {} validation examples from {}",
            data.train.len(),
            data.validation.len(),
            data.source
        ),
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C asks for a checkpoint after the current step; SIGKILL is also safe.
        let _ = ctrlc_once(move || stop.store(true, Ordering::Relaxed));
    }
    let mut observer = Progress {
        bar: None,
        quiet: global.quiet,
        ema: None,
    };
    let summary =
        gavel_train::train::train(&args.base, data, out, &settings, &mut observer, &stop)?;
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    report(&args, &summary, global.quiet)?;
    if !summary.finished {
        anyhow::bail!(
            "interrupted at step {} of {}; run the same command again to resume",
            summary.steps,
            summary.total_steps
        );
    }
    Ok(Outcome::Success)
}

fn resolve(args: &Options) -> anyhow::Result<TrainSettings> {
    let usage = |m: String| anyhow::Error::new(UsageError(m));
    let tie_band = match args.tie_band.as_str() {
        "accuracy" => TieBand::Accuracy,
        "macro-f1" => TieBand::MacroF1,
        "model" => TieBand::Model,
        other => match other.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => TieBand::Fixed(x),
            _ => {
                return Err(usage(format!(
                    "--tie-band `{other}`: expected accuracy, macro-f1, model or a number of at least 0"
                )));
            }
        },
    };
    if !(0.0..1.0).contains(&args.validation_split) {
        return Err(usage("--validation-split is a share in [0, 1)".into()));
    }
    let trainable = if args.freeze_encoder {
        Trainable::None
    } else if args.freeze_embeddings {
        Trainable::AllButEmbeddings
    } else {
        Trainable::All
    };
    let lr = args
        .lr
        .unwrap_or(if args.freeze_encoder { 1e-3 } else { 3e-5 });
    let s = TrainSettings {
        objective: match args.objective {
            ObjectiveArg::Pairwise => Objective::Pairwise,
            ObjectiveArg::Pointwise => Objective::Pointwise,
            ObjectiveArg::PairClassifier => Objective::PairClassifier,
        },
        ties: match args.ties {
            TiesArg::Davidson => TieMode::Davidson,
            TiesArg::Half => TieMode::Half,
            TiesArg::Skip => TieMode::Skip,
        },
        pooling: match args.pooling {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::Cls => Pooling::Cls,
        },
        trainable,
        epochs: args.epochs,
        max_steps: args.max_steps,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        lr,
        head_lr: args.head_lr,
        adamw: AdamWConfig {
            weight_decay: args.weight_decay,
            ..AdamWConfig::default()
        },
        warmup: args.warmup,
        schedule: match args.schedule {
            ScheduleArg::Linear => Schedule::Linear,
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
        },
        max_len: args.max_len,
        clip: (args.clip > 0.0).then_some(args.clip),
        seed: args.seed,
        dropout: args.dropout,
        patience: (args.patience > 0).then_some(args.patience),
        eval_every: args.eval_every,
        checkpoint_every: args.checkpoint_every,
        tie_band,
        classify: args.classify,
        eval_batch_size: 64,
    };
    if s.batch_size == 0 || s.grad_accum == 0 || s.epochs == 0 {
        return Err(usage(
            "--batch-size, --grad-accum and --epochs must be at least 1".into(),
        ));
    }
    if !(s.lr.is_finite() && s.lr > 0.0) {
        return Err(usage("--lr must be a positive number".into()));
    }
    if !(0.0..1.0).contains(&s.warmup) {
        return Err(usage("--warmup is a share of the steps, in [0, 1)".into()));
    }
    if s.dropout.is_some_and(|d| !(0.0..1.0).contains(&d)) {
        return Err(usage("--dropout must be in [0, 1)".into()));
    }
    Ok(s)
}

fn read_data(args: &Options) -> anyhow::Result<TrainData> {
    let (mut train, validation, mut report, source) = match (&args.data, &args.items, &args.labels)
    {
        (Some(dir), _, _) => {
            let (train_path, val_path) = data::dataset_files(dir)?;
            let (train, report) = data::read_examples(&train_path)?;
            let validation = match &val_path {
                Some(p) => Some(data::read_examples(p)?.0),
                None => None,
            };
            (train, validation, report, format!("`{}`", dir.display()))
        }
        (None, Some(items), Some(labels)) => {
            let (train, report) = data::from_items_and_labels(items, labels)?;
            (
                train,
                None,
                report,
                format!("`{}` labelled in `{}`", items.display(), labels.display()),
            )
        }
        _ => unreachable!("clap requires --data or --items with --labels"),
    };
    let validation = match validation {
        Some(v) => v,
        None if args.validation_split > 0.0 => {
            let (t, v) = data::split_validation(
                std::mem::take(&mut train),
                args.validation_split,
                args.seed,
            );
            train = t;
            v
        }
        None => Vec::new(),
    };
    if let Some(n) = args.max_examples
        && n < train.len()
    {
        train = subset(train, n, args.seed);
        report.examples = train.len() as u64;
    }
    let source = match args.max_examples {
        Some(n) => format!("{source} (a seeded subset of at most {n} training examples)"),
        None => source,
    };
    Ok(TrainData {
        train,
        validation,
        report,
        source,
    })
}

/// A seeded random subset of `n` examples, in their original order.
fn subset(examples: Vec<Example>, n: usize, seed: u64) -> Vec<Example> {
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    Rng::derive(seed, &[0x5b5e7]).shuffle(&mut idx);
    let mut keep: Vec<usize> = idx[..n].to_vec();
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    examples
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| {
            if keep.peek() == Some(&i) {
                keep.next();
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

/// Installs a Ctrl-C handler once, through tokio's signal support on a small runtime thread.
fn ctrlc_once(f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                f();
            }
        });
    });
    Ok(())
}

struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    ema: Option<f64>,
}

impl Observer for Progress {
    fn plan(&mut self, plan: &Plan) {
        output::note(
            self.quiet,
            &format!(
                "{} training units, {} validation units; {} steps ({} per epoch, {} warm-up); {} trainable numbers{}",
                plan.train_units,
                plan.validation_units,
                plan.total_steps,
                plan.steps_per_epoch,
                plan.warmup_steps,
                plan.trainable_parameters,
                if plan.truncated_inputs > 0 {
                    format!("; {} inputs cut to the length limit", plan.truncated_inputs)
                } else {
                    String::new()
                }
            ),
        );
        let bar = crate::progress::bar(plan.total_steps, "training", self.quiet);
        bar.set_position(plan.start_step);
        self.bar = Some(bar);
    }

    fn step(&mut self, r: &StepReport) {
        let ema = match self.ema {
            Some(e) => 0.95 * e + 0.05 * r.loss,
            None => r.loss,
        };
        self.ema = Some(ema);
        if let Some(bar) = &self.bar {
            bar.set_position(r.step);
            bar.set_message(format!(
                "epoch {} loss {ema:.4} lr {:.1e} {:.1} ex/s",
                r.epoch + 1,
                r.lr,
                r.examples_per_second
            ));
        }
    }

    fn evaluated(&mut self, e: &Evaluation, improved: bool) {
        let text = format!(
            "step {} (epoch {}): validation loss {:.4}{}{}{}{}",
            e.step,
            e.epoch + 1,
            e.loss,
            e.accuracy
                .map(|a| format!(", accuracy {a:.4}"))
                .unwrap_or_default(),
            e.accuracy_without_ties
                .map(|a| format!(", without ties {a:.4}"))
                .unwrap_or_default(),
            e.rmse.map(|a| format!(", RMSE {a:.4}")).unwrap_or_default(),
            if improved { " (best so far)" } else { "" }
        );
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(text),
            _ => output::note(self.quiet, &text),
        }
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(message),
            _ => output::note(self.quiet, message),
        }
    }
}

fn report(args: &Options, s: &TrainSummary, quiet: bool) -> anyhow::Result<()> {
    if args.format == OutputFormat::Json {
        let mut v = serde_json::to_value(s)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("base".into(), json!(args.base.display().to_string()));
        }
        return output::print_json(&v);
    }
    if quiet {
        return Ok(());
    }
    let mut t = Table::new(["", ""]);
    t.row([
        "steps".to_string(),
        format!(
            "{} of {}{}{}",
            s.steps,
            s.total_steps,
            if s.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            s.resumed_from
                .map(|r| format!(", resumed from {r}"))
                .unwrap_or_default()
        ),
    ]);
    t.row([
        "time".to_string(),
        format!(
            "{:.1} s, {:.2} training units/s",
            s.train_seconds, s.examples_per_second
        ),
    ]);
    if let Some(b) = &s.best {
        t.row([
            "validation".to_string(),
            format!(
                "loss {:.4}{}{} (step {})",
                b.loss,
                b.accuracy
                    .map(|a| format!(", accuracy {a:.4}"))
                    .unwrap_or_default(),
                b.rmse.map(|a| format!(", RMSE {a:.4}")).unwrap_or_default(),
                b.step
            ),
        ]);
    }
    if let Some(band) = s.tie_band {
        t.row([
            "tie band".to_string(),
            format!(
                "±{band:.4} ({}){}",
                s.tie_band_rule.clone().unwrap_or_default(),
                s.calibrated_accuracy
                    .map(|a| format!(", validation accuracy {a:.4}"))
                    .unwrap_or_default()
            ),
        ]);
    }
    if s.finished {
        t.row(["written".to_string(), s.out.display().to_string()]);
    }
    eprint!("{}", t.render());
    Ok(())
}
