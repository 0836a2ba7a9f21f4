//! `gavel judge`: judge items with an LLM (any OpenAI-compatible endpoint) or a local trained judge.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use gavel_core::{Item, Judgment, RecordReader, RecordWriter, WriteError};
use gavel_judge::backend::{Api, ApiKey, Backend, BackendOptions, Endpoint};
use gavel_judge::cache::Cache;
use gavel_judge::cost::{BUILTIN_PRICES_DATE, PriceTable};
use gavel_judge::protocol::Pairing;
use gavel_judge::runner::prompt::JudgePrompt;
use gavel_judge::runner::{
    Estimate, RunConfig, Runner, RunnerParts, Sampling, StopReason, Summary,
};
use gavel_judge::template::{PromptOptions, Template, TemplateError, TemplateInfo, TemplatePrompt};
use serde_json::{Map, Value, json};

use crate::output::{self, OutputFormat, Table};
use crate::{GlobalArgs, Outcome, UsageError};

const EXAMPLES: &str = "Examples:
  # Every pair of models in items.jsonl, both orders, against OpenAI (key in OPENAI_API_KEY)
  gavel judge --data items.jsonl --template mt-bench-pair --model gpt-4o --out judgments.jsonl

  # A local vLLM or Ollama server; no key needed
  gavel judge --data items.jsonl --template mt-bench-pair --model qwen2.5-72b \\
      --base-url http://localhost:8000/v1 --concurrency 64 --out j.jsonl

  # What would it cost? Nothing is called.
  gavel judge --data items.jsonl --template mt-bench-pair --model gpt-4o --dry-run

  # Each model against a baseline, 3 samples per prompt, stop at $5
  gavel judge --data items.jsonl --template alpaca-eval --model gpt-4o-mini \\
      --baseline gpt-4 --samples 3 --temperature 0.7 --max-cost 5 --out j.jsonl

  # Rubric grading (Prometheus), the rubric read from a file; JudgeLM-style score comparison
  gavel judge --data items.jsonl --template prometheus-absolute --var rubric=@rubric.txt \\
      --model prometheus-7b --base-url http://localhost:8000/v1 --compare-scores --out j.jsonl

  # Your own template, or a prompt from FastChat's judge_prompts.jsonl
  gavel judge --data items.jsonl --template my-judge.jinja --model gpt-4o --out j.jsonl
  gavel judge --data items.jsonl --template judge_prompts.jsonl#pair-v2 --model gpt-4o --out j.jsonl

  # A judge trained by `gavel train`, on this machine
  gavel judge --data items.jsonl --judge local:my-judge --out j.jsonl

  # Spread the load over two servers (fail-over included), 600 requests a minute each
  gavel judge --data items.jsonl --template mt-bench-single --model llama-3-70b \\
      --base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 --rpm 600 --out j.jsonl

Answers are cached in .gavel/cache.sqlite: a rerun costs nothing, and a run that was killed
resumes where it stopped. The judgments feed `gavel meta-eval` and `gavel rank` directly.";

/// Judge items with an LLM (any OpenAI-compatible endpoint) or a local trained judge.
///
/// Pairwise prompts judge every pair of models in each item's `responses` (or each model against
/// `--baseline`), in both presentation orders unless `--no-swap`; the verdicts are mapped back to
/// `model_a`/`model_b`, and orders that disagree become a tie. Pointwise and binary prompts judge
/// each response. Every judgment is written, also when its verdict could not be read
/// (`label: null` with `parse_error`) or its call failed (`label: null` with `error`).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    // Boxed: the options are many, and the command enum should not grow by their size.
    #[command(flatten)]
    pub options: Box<Options>,
}

/// The options of `gavel judge`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Items to judge: JSONL, JSON, CSV or Parquet (`-` reads JSONL from stdin).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,

    /// The judge prompt: a built-in template (see `gavel templates list`), a template file
    /// (TOML front matter and a minijinja body), or FILE.jsonl#NAME for a prompt of a FastChat
    /// judge_prompts.jsonl file.
    #[arg(
        long,
        short = 't',
        value_name = "NAME|FILE",
        overrides_with = "template",
        default_value = "",
        hide_default_value = true
    )]
    pub template: String,

    /// A value for a template field, used for items that have no field of that name
    /// (repeatable); `NAME=@PATH` reads the value from a file.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Read verdicts in the template's canonical form only: one verdict, exactly as the
    /// convention writes it, at its place (the end, or the first line).
    #[arg(long)]
    pub strict: bool,

    /// The judge model, as the endpoint names it.
    #[arg(
        long,
        short = 'm',
        value_name = "MODEL",
        default_value = "",
        hide_default_value = true
    )]
    pub model: String,

    /// A judge trained by `gavel train`, run on this machine: `local:DIR` (instead of
    /// --template and --model; see docs/commands/train.md).
    #[arg(long, value_name = "local:DIR", conflicts_with_all = ["template", "model"])]
    pub judge: Option<String>,

    /// With --judge local:DIR: inputs per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,

    /// The endpoint's base URL; repeat it to spread calls over several servers (they fail
    /// over to each other).
    #[arg(
        long = "base-url",
        value_name = "URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub base_url: Vec<String>,

    /// The wire protocol of the endpoints.
    #[arg(long, value_enum, default_value_t = ApiArg::Openai)]
    pub api: ApiArg,

    /// The environment variable that holds the API key (none needed for most local servers).
    #[arg(long, value_name = "NAME", default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,

    /// An extra HTTP header for every request, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Judge pairs in both presentation orders (the default).
    #[arg(long, overrides_with = "no_swap")]
    pub swap: bool,

    /// Judge pairs in one order only (model_a first).
    #[arg(long, overrides_with = "swap")]
    pub no_swap: bool,

    /// Samples per prompt: labels by majority vote, scores by mean (use an odd number).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub samples: u32,

    /// Compare each model with this one instead of judging every pair.
    #[arg(long, value_name = "MODEL")]
    pub baseline: Option<String>,

    /// With a pointwise template, write pairwise judgments that compare the two scores
    /// (each response is judged once, whatever the number of pairs).
    #[arg(long)]
    pub compare_scores: bool,

    /// Sampling temperature [default: 0, or 0.7 with several samples].
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,

    /// Nucleus sampling.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,

    /// The most tokens per answer.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// A sampling seed, for endpoints that honour one (sample i gets seed + i).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Ask for log-probabilities (probability-weighted scores where the template uses them).
    #[arg(long)]
    pub logprobs: bool,

    /// Alternatives per token with --logprobs.
    #[arg(long, value_name = "N", requires = "logprobs")]
    pub top_logprobs: Option<u32>,

    /// Ask for structured output: send a JSON schema `response_format` for the template's kind
    /// of verdict (for endpoints that support it) and read the JSON answer.
    #[arg(long)]
    pub structured: bool,

    /// Calls in flight at most.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,

    /// Requests per minute per endpoint, at most.
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,

    /// Tokens per minute per endpoint, at most (prompt estimate plus --max-tokens).
    #[arg(long, value_name = "N")]
    pub tpm: Option<u32>,

    /// Seconds one attempt may take.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub timeout: f64,

    /// Retries of a call on 429, 5xx, timeouts and broken connections.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub retries: u32,

    /// Re-ask an answer whose verdict cannot be read, at most N times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reask: u32,

    /// Stop at the first call that fails after its retries (otherwise it is recorded and the
    /// run goes on).
    #[arg(long)]
    pub fail_fast: bool,

    /// The answer cache (SQLite).
    #[arg(long, value_name = "PATH", default_value = ".gavel/cache.sqlite")]
    pub cache: PathBuf,

    /// Neither read nor write the cache.
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,

    /// Ask again even when the cache has an answer (and replace it).
    #[arg(long)]
    pub refresh: bool,

    /// Prices to add to the built-in table: TOML or JSON, model -> {input, output} in USD per
    /// million tokens.
    #[arg(long, value_name = "PATH")]
    pub prices: Option<PathBuf>,

    /// Stop before a call that could take the spend past this many US dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,

    /// Estimate calls, tokens and cost without calling anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Where to write the judgments (.jsonl streams; .json, .csv, .parquet are written at the
    /// end); without it, JSONL goes to stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Summary format (the summary goes to stderr as text, or to stdout as JSON).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiArg {
    /// OpenAI chat completions (OpenAI, vLLM, SGLang, TGI, llama.cpp, Ollama, LiteLLM...).
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let args = *args.options;
    if let Some(judge) = &args.judge {
        return run_local(&args, judge, global);
    }
    let settings = Settings::resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(judge(&args, settings, global))
}

/// Arguments checked and turned into the library's settings.
struct Settings {
    prompt: Arc<dyn JudgePrompt>,
    template: TemplateInfo,
    config: RunConfig,
    endpoints: Vec<Endpoint>,
    backend_options: BackendOptions,
    prices: PriceTable,
}

impl Settings {
    fn resolve(args: &Options) -> anyhow::Result<Settings> {
        let usage = |m: String| anyhow::Error::new(UsageError(m));
        for (value, flag) in [(&args.template, "--template"), (&args.model, "--model")] {
            if value.is_empty() {
                return Err(usage(format!(
                    "{flag} is required (or --judge local:DIR for a trained judge)"
                )));
            }
        }
        let (prompt, template) = resolve_prompt(args)?;
        if args.samples == 0 {
            return Err(usage("--samples must be at least 1".into()));
        }
        if args.concurrency == 0 {
            return Err(usage("--concurrency must be at least 1".into()));
        }
        if !(args.timeout.is_finite() && args.timeout > 0.0) {
            return Err(usage(
                "--timeout must be a positive number of seconds".into(),
            ));
        }
        if let Some(t) = args.temperature
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(usage("--temperature must be a number of at least 0".into()));
        }
        if let Some(c) = args.max_cost
            && !(c.is_finite() && c >= 0.0)
        {
            return Err(usage(
                "--max-cost must be a number of dollars, at least 0".into(),
            ));
        }
        if args.compare_scores && prompt.kind().is_pairwise() {
            return Err(usage(format!(
                "--compare-scores needs a pointwise template; `{}` is pairwise",
                args.template
            )));
        }
        if args.format == OutputFormat::Json && args.out.is_none() && !args.dry_run {
            return Err(usage(
                "--format json prints the summary on stdout; give --out for the judgments".into(),
            ));
        }
        let mut prices = PriceTable::builtin();
        if let Some(path) = &args.prices {
            prices.extend_from_file(path)?;
        }
        if args.max_cost.is_some() && prices.price(&args.model).is_none() {
            return Err(usage(format!(
                "--max-cost needs the price of `{}`; add it with --prices FILE",
                args.model
            )));
        }
        let temperature = args
            .temperature
            .unwrap_or(if args.samples > 1 { 0.7 } else { 0.0 });
        let sampling = Sampling {
            temperature: Some(temperature),
            top_p: args.top_p,
            max_tokens: args.max_tokens,
            seed: args.seed,
            logprobs: args.logprobs,
            top_logprobs: args.top_logprobs,
            structured: args.structured,
            extra: Map::new(),
        };
        let config = RunConfig {
            model: args.model.clone(),
            sampling,
            swap: !args.no_swap,
            samples: args.samples,
            pairing: match &args.baseline {
                Some(b) => Pairing::Baseline(b.clone()),
                None => Pairing::AllPairs,
            },
            compare_scores: args.compare_scores,
            concurrency: args.concurrency,
            reask: args.reask,
            fail_fast: args.fail_fast,
            refresh: args.refresh,
        };
        let headers = args
            .headers
            .iter()
            .map(|h| match h.split_once(':') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(usage(format!(
                    "--header `{h}` is not of the form `Name: value`"
                ))),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The one place the key is read; it goes into the backend and nowhere else.
        let api_key = std::env::var(&args.api_key_env).ok().and_then(ApiKey::new);
        let urls: Vec<String> = args
            .base_url
            .iter()
            .flat_map(|u| u.split(','))
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        let endpoints = urls
            .into_iter()
            .map(|url| Endpoint {
                base_url: url,
                api: match args.api {
                    ApiArg::Openai => Api::OpenAi,
                    ApiArg::Anthropic => Api::Anthropic,
                },
                api_key: api_key.clone(),
                headers: headers.clone(),
                requests_per_minute: args.rpm,
                tokens_per_minute: args.tpm,
            })
            .collect();
        let backend_options = BackendOptions {
            timeout: Duration::from_secs_f64(args.timeout),
            max_retries: args.retries,
            pool_size: args.concurrency,
            ..BackendOptions::default()
        };
        Ok(Settings {
            prompt,
            template,
            config,
            endpoints,
            backend_options,
            prices,
        })
    }
}

/// `--judge local:DIR`: a trained judge, no endpoint, no cache.
fn run_local(args: &Options, judge: &str, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let Some(dir) = judge.strip_prefix("local:") else {
        return Err(UsageError(format!(
            "--judge `{judge}`: expected local:DIR (a directory written by `gavel train`)"
        ))
        .into());
    };
    crate::commands::judge_local::run(
        crate::commands::judge_local::LocalOptions {
            dir: Path::new(dir),
            data: &args.data,
            out: args.out.as_deref(),
            pairing: match &args.baseline {
                Some(b) => Pairing::Baseline(b.clone()),
                None => Pairing::AllPairs,
            },
            swap: !args.no_swap,
            compare_scores: args.compare_scores,
            batch_size: args.batch_size,
            format: args.format,
        },
        global,
    )
}

/// The judge prompt for the `--template`, `--var`, `--strict` and `--structured` values.
fn resolve_prompt(args: &Options) -> anyhow::Result<(Arc<dyn JudgePrompt>, TemplateInfo)> {
    let template = match Template::resolve(&args.template) {
        Ok(t) => t,
        Err(e @ TemplateError::Unknown { .. }) => {
            return Err(anyhow::Error::new(UsageError(e.to_string())));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot load the template")),
    };
    let vars = parse_vars(&args.vars)?;
    let info = template.info().clone();
    let prompt = TemplatePrompt::new(
        Arc::new(template),
        PromptOptions {
            strict: args.strict,
            structured: args.structured,
            vars,
        },
    );
    Ok((Arc::new(prompt), info))
}

/// Explains skipped items that a flag could have saved.
fn warn_skips(skipped: &std::collections::BTreeMap<String, u64>, info: &TemplateInfo) {
    if let Some(n) = skipped.get("missing_field") {
        output::warn(&format!(
            "{n} item(s) skipped: template `{}` needs the field(s) {}; give them in the items or \
             with --var NAME=VALUE",
            info.name,
            info.fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(n) = skipped.get("no_reference") {
        output::warn(&format!(
            "{n} item(s) skipped: template `{}` needs a `reference` answer",
            info.name
        ));
    }
}

/// `--var NAME=VALUE` (or `NAME=@PATH`) values.
pub(crate) fn parse_vars(
    vars: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for v in vars {
        let Some((name, value)) = v.split_once('=') else {
            return Err(anyhow::Error::new(UsageError(format!(
                "--var `{v}` is not of the form NAME=VALUE"
            ))));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(anyhow::Error::new(UsageError(format!(
                "--var `{v}` has no name"
            ))));
        }
        let value = match value.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {path} (for --var {name})"))?
                .trim_end()
                .to_string(),
            None => value.to_string(),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

async fn judge(args: &Options, settings: Settings, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let quiet = global.quiet;
    let api_key_present = settings.endpoints.iter().any(|e| e.api_key.is_some());
    let price = settings.prices.price(&settings.config.model);
    let cache = if args.no_cache {
        None
    } else {
        Some(Cache::open(&args.cache)?)
    };
    let backend = if args.dry_run {
        None
    } else {
        Some(Backend::new(
            settings.endpoints.clone(),
            settings.backend_options.clone(),
        )?)
    };
    let template_info = settings.template.clone();
    let runner = Runner::new(RunnerParts {
        prompt: settings.prompt.clone(),
        config: settings.config.clone(),
        backend,
        cache,
        price,
        max_cost: args.max_cost,
    });

    // First pass: read and check every item before any call is paid for, and count the calls
    // for the progress bar.
    let (n_items, n_calls) = count_calls(&args.data, &runner)?;

    if args.dry_run {
        let estimate = runner.estimate(read_items(&args.data)?).await?;
        print_estimate(args, &estimate, price.is_some())?;
        return Ok(Outcome::Success);
    }
    if !api_key_present
        && settings
            .endpoints
            .iter()
            .any(|e| e.base_url.contains("api.openai.com"))
    {
        output::warn(&format!(
            "${} is not set; api.openai.com will refuse the calls",
            args.api_key_env
        ));
    }
    if price.is_none() {
        output::note(
            quiet,
            &format!(
                "no price known for `{}`: cost is not tracked (add one with --prices)",
                settings.config.model
            ),
        );
    }

    let mut writer = match &args.out {
        Some(path) => Sink::File(RecordWriter::create(path)?),
        None => Sink::Stdout(std::io::BufWriter::new(std::io::stdout())),
    };
    let bar = crate::progress::bar(n_calls, "judging", quiet);
    let progress = runner.progress();
    let ticker = {
        let bar = bar.clone();
        let progress = progress.clone();
        let has_price = price.is_some();
        tokio::spawn(async move {
            loop {
                let calls = progress.calls.load(Ordering::Relaxed);
                bar.set_position(calls);
                let cached = progress.cached.load(Ordering::Relaxed);
                let failed = progress.failed.load(Ordering::Relaxed);
                let mut msg = format!("cached {cached}");
                if failed > 0 {
                    msg.push_str(&format!(", failed {failed}"));
                }
                if has_price {
                    msg.push_str(&format!(", ${:.4}", progress.spent_usd()));
                }
                bar.set_message(msg);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let interrupter = runner.interrupter();
    let signals = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupter.interrupt();
        }
    });

    let result = runner
        .run(read_items(&args.data)?, |j: Judgment| writer.write(&j))
        .await;
    ticker.abort();
    signals.abort();
    bar.finish_and_clear();
    let summary = result?;
    writer.finish()?;
    let _ = n_items;
    report(args, &summary, price.is_some(), quiet)?;
    warn_skips(&summary.skipped, &template_info);
    if summary.response_format_dropped {
        output::warn(
            "the endpoint rejected the structured-output `response_format`; requests went \
             without it (the prompt still asks for the JSON answer)",
        );
    }
    if let Some(stop) = &summary.stopped {
        let hint = match stop.reason {
            StopReason::Budget => {
                "; the answers so far are cached: rerun with a higher --max-cost to go on"
            }
            StopReason::Interrupted | StopReason::FailFast => {
                "; the answers so far are cached: rerun to go on"
            }
            StopReason::Fatal => "",
        };
        anyhow::bail!(
            "stopped early: {}; {} item(s) not judged{hint}",
            stop.message,
            summary.not_judged
        );
    }
    Ok(Outcome::Success)
}

fn read_items(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = Result<Item, gavel_core::ReadError>> + Send + 'static> {
    Ok(RecordReader::open(path)?.typed::<Item>())
}

/// Reads every item once (so that bad input fails before anything is paid) and counts the calls.
fn count_calls(path: &Path, runner: &Runner) -> anyhow::Result<(u64, u64)> {
    if path.as_os_str() == "-" {
        // stdin can be read only once.
        return Ok((0, 0));
    }
    let mut items = 0;
    let mut calls = 0;
    for item in read_items(path)? {
        let item = item?;
        items += 1;
        calls += runner.planned_calls(&item);
    }
    Ok((items, calls))
}

enum Sink {
    File(RecordWriter),
    Stdout(std::io::BufWriter<std::io::Stdout>),
}

impl Sink {
    fn write(&mut self, j: &Judgment) -> Result<(), WriteError> {
        match self {
            Sink::File(w) => w.write(j),
            Sink::Stdout(out) => {
                use std::io::Write;
                let io = |source| WriteError::Io {
                    path: PathBuf::from("<stdout>"),
                    source,
                };
                serde_json::to_writer(&mut *out, j).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)
            }
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::File(w) => w.finish()?,
            Sink::Stdout(mut out) => {
                use std::io::Write;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// `3 skipped: 2 no_reference, 1 missing_field`, or `0 skipped`.
fn skipped_text(skipped: &std::collections::BTreeMap<String, u64>) -> String {
    let total: u64 = skipped.values().sum();
    if total == 0 {
        return "0 skipped".into();
    }
    let reasons: Vec<String> = skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!("{total} skipped: {}", reasons.join(", "))
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

fn dollars(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("${v:.4}"),
        None => "unknown (no price)".into(),
    }
}

fn report(args: &Options, s: &Summary, has_price: bool, quiet: bool) -> anyhow::Result<()> {
    if args.format == OutputFormat::Json {
        let mut v = serde_json::to_value(s)?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "out".into(),
                json!(args.out.as_ref().map(|p| p.display().to_string())),
            );
            m.insert("model".into(), json!(args.model));
            m.insert("template".into(), json!(args.template));
        }
        return output::print_json(&v);
    }
    if quiet {
        return Ok(());
    }
    let mut t = Table::new(["", ""]);
    t.row([
        "judgments".to_string(),
        format!(
            "{} from {} items ({}, {} not judged)",
            s.judgments,
            s.items,
            skipped_text(&s.skipped),
            s.not_judged
        ),
    ]);
    t.row([
        "labels".to_string(),
        format!(
            "{} labelled, {} unparsed ({}), {} with a failed call",
            s.labelled,
            s.parse_failures,
            pct(s.parse_failures, s.judgments),
            s.failed
        ),
    ]);
    if s.planted_verdicts > 0 || s.ignored_verdicts > 0 {
        t.row([
            "injections".to_string(),
            format!(
                "{} call(s) showed responses containing verdict tokens; {} quoted verdict(s) \
                 ignored",
                s.planted_verdicts, s.ignored_verdicts
            ),
        ]);
    }
    if s.position.pairs > 0 {
        t.row([
            "position".to_string(),
            format!(
                "{} of {} pairs consistent across orders ({}); {} inconsistent, written as ties",
                s.position.consistent,
                s.position.pairs,
                pct(s.position.consistent, s.position.pairs),
                s.position.inconsistent
            ),
        ]);
    }
    t.row([
        "calls".to_string(),
        format!(
            "{} ({} cached, {} sent, {} failed); {} HTTP requests, {} retries, {} re-asks, {} truncated",
            s.calls.total,
            s.calls.cached,
            s.calls.sent,
            s.calls.failed,
            s.calls.requests,
            s.calls.retries,
            s.calls.reasks,
            s.calls.truncated
        ),
    ]);
    t.row([
        "tokens".to_string(),
        format!(
            "{} prompt + {} completion (calls sent)",
            s.usage.prompt_tokens, s.usage.completion_tokens
        ),
    ]);
    if has_price {
        t.row([
            "cost".to_string(),
            format!(
                "{} spent, {} saved by the cache (prices of {BUILTIN_PRICES_DATE} or --prices)",
                dollars(s.cost_usd),
                dollars(s.saved_usd)
            ),
        ]);
    }
    t.row([
        "time".to_string(),
        format!(
            "{:.1} s, {} calls/s",
            s.elapsed_s,
            s.calls_per_second
                .map(|r| format!("{r:.0}"))
                .unwrap_or_else(|| "-".into())
        ),
    ]);
    if let Some(out) = &args.out {
        t.row(["written".to_string(), out.display().to_string()]);
    }
    eprint!("{}", t.render());
    Ok(())
}

fn print_estimate(args: &Options, e: &Estimate, has_price: bool) -> anyhow::Result<()> {
    if args.format == OutputFormat::Json {
        let mut v = serde_json::to_value(e)?;
        if let Value::Object(m) = &mut v {
            m.insert("dry_run".into(), json!(true));
            m.insert("model".into(), json!(args.model));
            m.insert("template".into(), json!(args.template));
        }
        return output::print_json(&v);
    }
    let mut t = Table::new(["", ""]);
    t.row([
        "items".to_string(),
        format!("{} ({})", e.items, skipped_text(&e.skipped)),
    ]);
    t.row(["judgments".to_string(), e.judgments.to_string()]);
    t.row([
        "calls".to_string(),
        format!("{} ({} cached, {} to send)", e.calls, e.cached, e.to_send),
    ]);
    t.row([
        "tokens".to_string(),
        format!(
            "~{} prompt + up to {} completion",
            e.prompt_tokens, e.completion_tokens
        ),
    ]);
    t.row([
        "cost".to_string(),
        if has_price {
            format!("~{} (estimate; 4 characters a token)", dollars(e.cost_usd))
        } else {
            format!(
                "unknown: no price for `{}` (add one with --prices)",
                args.model
            )
        },
    ]);
    output::print_text(&t.render())
}
