//! One evaluation, from a checked config to a finished run in the store and its report.
//!
//! The order is fixed: check and read every input (before any paid call), then the stages
//! `inputs`, `metrics`, `agreement`, one `judge:<name>` per judge, `meta_eval`, `ranking`,
//! then the gates and the report. Each stage's results go to the store in one transaction and
//! the stage is marked done; a run killed at any point leaves a consistent store, and
//! `resume` starts a new run that takes over every finished stage of the interrupted one (LLM
//! judges that had not finished reuse the judge cache, so no answered call is paid twice).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gavel_core::write::AtomicFile;
use gavel_core::{Item, Judgment, Label, LabelValue, read::RecordReader};
use gavel_stats::agreement::Level;
use gavel_stats::agreement::report::{
    AgreementOptions, DriftBy, Duplicates, Thresholds, drift, report as agreement_report,
};
use gavel_stats::bootstrap::BootstrapConfig;
use gavel_stats::meta_eval::{MetaEvalOptions, Policy, meta_eval};
use gavel_store::{JudgeProvenance, NewRun, RunStatus, Store};
use serde_json::{Value, json};

use crate::config::{Gate, JudgeKind, JudgeSection, LoadedConfig};
use crate::distinct;
use crate::gates::evaluate_gates;
use crate::llm::{LlmJudge, LlmProgress};
use crate::metric_judge::{self, MetricJudge};
use crate::report::{GateOutcome, Summary, render_html};
use crate::scores::MetricsOptions;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Continue the newest unfinished run of the same config instead of starting afresh.
    pub resume: bool,
    /// The gavel version, recorded in the run.
    pub gavel_version: String,
    /// Environment lookup for `${NAME}`, `when` and API keys (the CLI passes the real one).
    pub env: Arc<dyn Fn(&str) -> Option<String> + Send + Sync>,
    /// The store file, overriding the config's.
    pub store: Option<PathBuf>,
    /// The report folder, overriding the config's.
    pub report_dir: Option<PathBuf>,
    /// Do not use the judge cache (every LLM call is made again).
    pub no_cache: bool,
}

/// What a run tells its caller while it works.
pub enum Event<'a> {
    /// A stage started.
    StageStarted(&'a str),
    /// A stage finished.
    StageFinished(&'a str),
    /// A stage was taken over from the interrupted run being resumed.
    StageReused(&'a str),
    /// An LLM judge is about to make `calls` calls; `progress` counts them as they come.
    JudgeCalls {
        /// The judge.
        judge: &'a str,
        /// Calls planned.
        calls: u64,
        /// Live counters.
        progress: LlmProgress,
    },
    /// An LLM judge finished its calls.
    JudgeDone(&'a str),
    /// Something the user should know.
    Note(String),
}

/// A run that went wrong: what and where. `run_id` is set once the run exists in the store.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    /// What went wrong, naming the file, line or stage.
    pub message: String,
    /// The run, if one was created (it is marked failed and can be resumed).
    pub run_id: Option<String>,
}

impl RunError {
    fn new(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            run_id: None,
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id in the store.
    pub run_id: String,
    /// The run it took stages over from.
    pub resumed_from: Option<String>,
    /// Succeeded or GateFailed.
    pub status: RunStatus,
    /// Every gate's outcome.
    pub gates: Vec<GateOutcome>,
    /// The store file.
    pub store: PathBuf,
    /// The HTML report.
    pub report_html: PathBuf,
    /// The JSON summary.
    pub summary_json: PathBuf,
    /// The summary itself.
    pub summary: Summary,
}

/// Everything read before the run starts.
struct Inputs {
    items: Vec<Item>,
    labels: Vec<Label>,
    /// Judgments of `kind = "file"` judges, by judge name.
    file_judgments: HashMap<String, Vec<Judgment>>,
    /// Input files: role, path, records, sha256.
    data_files: Vec<Value>,
    /// LLM judges ready to run, by name.
    llm: HashMap<String, LlmJudge>,
}

fn read_records<T: gavel_core::read::FromRecord>(path: &Path) -> Result<Vec<T>, RunError> {
    let reader = RecordReader::open(path).map_err(|e| RunError::new(e.to_string()))?;
    reader
        .typed::<T>()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| RunError::new(e.to_string()))
}

fn file_info(role: &str, path: &Path, records: usize) -> Value {
    let sha = std::fs::read(path)
        .map(|b| crate::sha256_hex(&b))
        .unwrap_or_default();
    json!({"role": role, "path": path.display().to_string(), "records": records, "sha256": sha})
}

/// Reads and checks every input; nothing is paid for before this succeeds.
fn read_inputs(cfg: &LoadedConfig, opts: &RunOptions) -> Result<Inputs, RunError> {
    let c = &cfg.config;
    let config_path = cfg.path.display().to_string();
    for (path, line, key) in cfg.input_files() {
        if !path.is_file() {
            return Err(RunError::new(format!(
                "{config_path}:{line}: {key}: no such file: {}",
                path.display()
            )));
        }
    }
    let items_path = cfg.resolve(c.data.items.get_ref());
    let items: Vec<Item> = read_records(&items_path)?;
    if items.is_empty() {
        return Err(RunError::new(format!(
            "{}: no items: nothing to evaluate",
            items_path.display()
        )));
    }
    let mut data_files = vec![file_info("items", &items_path, items.len())];
    let mut labels = Vec::new();
    for (path, _) in c.data.label_files() {
        let path = cfg.resolve(&path);
        let read: Vec<Label> = read_records(&path)?;
        data_files.push(file_info("labels", &path, read.len()));
        labels.extend(read);
    }
    let env = opts.env.as_ref();
    let mut file_judgments = HashMap::new();
    let mut llm = HashMap::new();
    let models = metric_judge::models(&items);
    for judge in &c.judges {
        let name = judge.name.get_ref();
        if !LoadedConfig::judge_enabled(judge, env) {
            continue;
        }
        match judge.kind {
            JudgeKind::File => {
                let path = cfg.resolve(
                    judge
                        .path
                        .as_ref()
                        .map(|p| p.get_ref().as_str())
                        .unwrap_or_default(),
                );
                let mut read: Vec<Judgment> = read_records(&path)?;
                for j in &mut read {
                    j.label.annotator = name.clone();
                }
                data_files.push(file_info(&format!("judge {name}"), &path, read.len()));
                file_judgments.insert(name.clone(), read);
            }
            JudgeKind::Llm => {
                let j = LlmJudge::prepare(judge, cfg, env, opts.no_cache).map_err(|m| {
                    RunError::new(format!(
                        "{config_path}:{}: judge {name:?}: {m}",
                        cfg.line(judge.name.span())
                    ))
                })?;
                llm.insert(name.clone(), j);
            }
            JudgeKind::Metric => {}
        }
        if let Some(b) = &judge.baseline
            && !models.contains(b)
        {
            return Err(RunError::new(format!(
                "{config_path}:{}: judge {name:?}: baseline {b:?} answered no item (models: {})",
                cfg.line(judge.name.span()),
                models.join(", ")
            )));
        }
    }
    for gate in &c.gates {
        let named: Vec<&String> = match gate {
            Gate::WinRate {
                model, baseline, ..
            } => vec![model, baseline],
            Gate::Metric { model, .. } => vec![model],
            _ => vec![],
        };
        for m in named {
            if !models.contains(m) {
                return Err(RunError::new(format!(
                    "{config_path}: gates: {}: model {m:?} answered no item (models: {})",
                    gate.describe(),
                    models.join(", ")
                )));
            }
        }
        if let Gate::Metric { metric, .. } = gate {
            if !crate::config::METRIC_NAMES.contains(&metric.as_str()) {
                return Err(RunError::new(format!(
                    "{config_path}: gates: unknown metric {metric:?}"
                )));
            }
            if crate::scores::lower_is_better(metric) {
                return Err(RunError::new(format!(
                    "{config_path}: gates: {metric:?} is an error rate (lower is better), so a \
                     `min` gate on it would pass worse systems; gate on bleu, chrf or a ROUGE \
                     score instead"
                )));
            }
        }
    }
    if (c.agreement.is_some() || c.meta_eval.is_some()) && labels.is_empty() {
        return Err(RunError::new(format!(
            "{config_path}: [agreement] and [meta_eval] need human labels: set data.labels"
        )));
    }
    Ok(Inputs {
        items,
        labels,
        file_judgments,
        data_files,
        llm,
    })
}

/// Reads and checks the config's inputs and judges without running anything.
pub fn check(cfg: &LoadedConfig, opts: &RunOptions) -> Result<(), RunError> {
    read_inputs(cfg, opts).map(|_| ())
}

fn store_err(e: gavel_store::StoreError) -> RunError {
    RunError::new(format!("the store: {e}"))
}

/// Runs the evaluation a config describes. See the module documentation.
pub async fn run(
    cfg: &LoadedConfig,
    opts: &RunOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<RunOutcome, RunError> {
    let inputs = read_inputs(cfg, opts)?;
    let c = &cfg.config;
    let store_path = opts.store.clone().unwrap_or_else(|| {
        cfg.resolve(
            c.run
                .store
                .as_ref()
                .map(|s| s.get_ref().as_str())
                .unwrap_or(".gavel/gavel.sqlite"),
        )
    });
    if let Some(dir) = store_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| RunError::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut store = Store::open(&store_path).map_err(store_err)?;
    let previous = if opts.resume {
        let p = store.resumable_run(&cfg.sha256).map_err(store_err)?;
        if p.is_none() {
            events(Event::Note(
                "nothing to resume: no unfinished run of this config; starting a new run".into(),
            ));
        }
        p.map(|r| r.id)
    } else {
        None
    };
    let name = c.run.name.clone().unwrap_or_else(|| {
        cfg.base
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "gavel".into())
    });
    let run_id = store
        .create_run(&NewRun {
            name,
            config_path: cfg.path.display().to_string(),
            config_sha256: cfg.sha256.clone(),
            config_text: cfg.text.clone(),
            gavel_version: opts.gavel_version.clone(),
            resumed_from: previous.clone(),
        })
        .map_err(store_err)?;
    let mut ctx = Ctx {
        cfg,
        opts,
        store,
        store_path,
        run_id: run_id.clone(),
        previous,
        inputs,
        summary: Summary::default(),
        judgments: BTreeMap::new(),
    };
    match ctx.stages(events).await {
        Ok(outcome) => Ok(outcome),
        Err(mut e) => {
            let message = format!(
                "{}; the finished stages are stored: `gavel run --resume` goes on from there",
                e.message
            );
            let _ = ctx
                .store
                .finish_run(&run_id, RunStatus::Failed, Some(&e.message));
            e.message = message;
            e.run_id = Some(run_id);
            Err(e)
        }
    }
}

struct Ctx<'a> {
    cfg: &'a LoadedConfig,
    opts: &'a RunOptions,
    store: Store,
    store_path: PathBuf,
    run_id: String,
    previous: Option<String>,
    inputs: Inputs,
    summary: Summary,
    /// Judgments by judge, in config order of finishing.
    judgments: BTreeMap<String, Vec<Judgment>>,
}

fn to_value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

impl Ctx<'_> {
    /// Starts a stage, or takes it over from the run being resumed. Returns false when taken
    /// over (its results are then in the store under this run).
    fn begin(
        &mut self,
        stage: &str,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<bool, RunError> {
        if let Some(prev) = &self.previous
            && self.store.stage_done(prev, stage).map_err(store_err)?
        {
            self.store
                .adopt_stage(prev, &self.run_id, stage)
                .map_err(store_err)?;
            events(Event::StageReused(stage));
            return Ok(false);
        }
        self.store
            .start_stage(&self.run_id, stage)
            .map_err(store_err)?;
        events(Event::StageStarted(stage));
        Ok(true)
    }

    fn end(
        &mut self,
        stage: &str,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), RunError> {
        self.store
            .finish_stage(&self.run_id, stage)
            .map_err(store_err)?;
        events(Event::StageFinished(stage));
        Ok(())
    }

    fn result(&self, stage: &str, key: &str) -> Result<Value, RunError> {
        self.store
            .result(&self.run_id, stage, key)
            .map_err(store_err)?
            .ok_or_else(|| RunError::new(format!("the store has no result {stage}/{key}")))
    }

    async fn stages(
        &mut self,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<RunOutcome, RunError> {
        let c = &self.cfg.config;
        let metrics_options = MetricsOptions {
            stemmer: c.metrics.as_ref().is_none_or(|m| m.stemmer),
            unicode: false,
        };

        // Inputs: stored with every run, so a run can be inspected without the files.
        self.store
            .put_items(
                &self.run_id,
                self.inputs
                    .items
                    .iter()
                    .map(|i| (i.id.as_str(), to_value(i)))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|(id, v)| (*id, v)),
            )
            .map_err(store_err)?;
        let label_values: Vec<Value> = self.inputs.labels.iter().map(to_value).collect();
        self.store
            .put_labels(&self.run_id, label_values.iter())
            .map_err(store_err)?;

        // Metrics.
        if let Some(m) = &c.metrics {
            if self.begin("metrics", events)? {
                let names: Vec<String> = m.metrics.iter().map(|n| n.get_ref().clone()).collect();
                let docs =
                    metric_judge::metrics_per_model(&self.inputs.items, &names, &metrics_options)
                        .map_err(|e| RunError::new(format!("stage metrics: {e}")))?;
                let mut models = serde_json::Map::new();
                for (model, doc) in docs {
                    models.insert(model, doc);
                }
                let doc = json!({"models": models});
                self.store
                    .put_result(&self.run_id, "metrics", "models", &doc)
                    .map_err(store_err)?;
                self.end("metrics", events)?;
            }
            self.summary.metrics = Some(self.result("metrics", "models")?);
        }

        // Agreement among the human annotators.
        if let Some(a) = &c.agreement {
            if self.begin("agreement", events)? {
                let doc = self.agreement(a)?;
                self.store
                    .put_result(&self.run_id, "agreement", "report", &doc)
                    .map_err(store_err)?;
                self.end("agreement", events)?;
            }
            self.summary.agreement = Some(self.result("agreement", "report")?);
        }

        // Judges.
        for judge in &c.judges {
            let name = judge.name.get_ref().clone();
            if !LoadedConfig::judge_enabled(judge, self.opts.env.as_ref()) {
                events(Event::Note(format!(
                    "judge {name} is off: ${} is not set",
                    judge.when.as_deref().unwrap_or_default()
                )));
                continue;
            }
            let stage = format!("judge:{name}");
            if self.begin(&stage, events)? {
                self.run_judge(judge, &metrics_options, events).await?;
                self.end(&stage, events)?;
            }
            let stored = self
                .store
                .judgments(&self.run_id, &name)
                .map_err(store_err)?;
            let parsed: Vec<Judgment> = stored
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    from_stored::<Judgment>(v)
                        .map_err(|e| RunError::new(format!("stored judgment {i} of {name}: {e}")))
                })
                .collect::<Result<_, _>>()?;
            self.summary.judges.push(self.result(&stage, "stats")?);
            self.judgments.insert(name, parsed);
        }
        for p in self.store.judges(&self.run_id).map_err(store_err)? {
            self.summary.provenance.push(to_value(&p));
        }

        // Judges against humans.
        if c.meta_eval.is_some() && !self.judgments.is_empty() {
            if self.begin("meta_eval", events)? {
                let doc = self.meta_eval()?;
                self.store
                    .put_result(&self.run_id, "meta_eval", "report", &doc)
                    .map_err(store_err)?;
                self.end("meta_eval", events)?;
            }
            self.summary.meta_eval = Some(self.result("meta_eval", "report")?);
            self.summary.disagreements = self.disagreements();
        }

        // Ranking.
        if let Some(r) = &c.ranking {
            if self.begin("ranking", events)? {
                let labels = self.source_labels(r.source.get_ref());
                let doc = crate::ranking::rank(
                    &labels,
                    r.source.get_ref(),
                    &self.inputs.labels,
                    &self.inputs.items,
                    r,
                )
                .map_err(|e| RunError::new(format!("stage ranking: {e}")))?;
                self.store
                    .put_result(&self.run_id, "ranking", "report", &doc)
                    .map_err(store_err)?;
                self.end("ranking", events)?;
            }
            self.summary.ranking = Some(self.result("ranking", "report")?);
        }

        // Gates.
        let win_labels = c
            .ranking
            .as_ref()
            .map(|r| self.source_labels(r.source.get_ref()))
            .unwrap_or_else(|| self.inputs.labels.clone());
        let gates = evaluate_gates(&c.gates, &self.summary, &win_labels);
        let passed = gates.iter().all(|g| g.passed);
        self.summary.gates = gates.clone();
        self.summary.data_files = self.inputs.data_files.clone();

        // Report.
        let status = if passed {
            RunStatus::Succeeded
        } else {
            RunStatus::GateFailed
        };
        let message = (!passed).then(|| {
            gates
                .iter()
                .filter(|g| !g.passed)
                .map(|g| g.description.clone())
                .collect::<Vec<_>>()
                .join("; ")
        });
        self.store
            .finish_run(&self.run_id, status, message.as_deref())
            .map_err(store_err)?;
        let run = self.store.run(&self.run_id).map_err(store_err)?;
        self.summary.run = to_value(&run);
        let dir = self.opts.report_dir.clone().unwrap_or_else(|| {
            self.cfg.resolve(
                c.run
                    .report
                    .as_ref()
                    .map(|s| s.get_ref().as_str())
                    .unwrap_or("gavel-report"),
            )
        });
        std::fs::create_dir_all(&dir)
            .map_err(|e| RunError::new(format!("cannot create {}: {e}", dir.display())))?;
        let html = render_html(&self.summary).map_err(|e| RunError::new(e.to_string()))?;
        let report_html = dir.join("report.html");
        let summary_json = dir.join("summary.json");
        write_atomic(&report_html, html.as_bytes())?;
        let json =
            serde_json::to_vec_pretty(&self.summary).map_err(|e| RunError::new(e.to_string()))?;
        write_atomic(&summary_json, &json)?;
        Ok(RunOutcome {
            run_id: self.run_id.clone(),
            resumed_from: self.previous.clone(),
            status,
            gates,
            store: self.store_path.clone(),
            report_html,
            summary_json,
            summary: std::mem::take(&mut self.summary),
        })
    }

    /// The labels a ranking or win-rate gate reads: the humans', or one judge's verdicts.
    fn source_labels(&self, source: &str) -> Vec<Label> {
        if source == "human" {
            self.inputs.labels.clone()
        } else {
            self.judgments
                .get(source)
                .map(|js| js.iter().map(|j| j.label.clone()).collect())
                .unwrap_or_default()
        }
    }

    fn agreement(&self, a: &crate::config::AgreementSection) -> Result<Value, RunError> {
        let level = match a.level.as_str() {
            "ordinal" => Level::Ordinal,
            "interval" => Level::Interval,
            "ratio" => Level::Ratio,
            _ => Level::Nominal,
        };
        let opts = AgreementOptions {
            level,
            categories: None,
            duplicates: Duplicates::Last,
            single: Default::default(),
            bootstrap: BootstrapConfig {
                replicates: a.bootstrap as usize,
                seed: 0,
                level: 0.95,
            },
        };
        let labels = &self.inputs.labels;
        let report = agreement_report(labels, &opts)
            .map_err(|e| RunError::new(format!("stage agreement: {e}")))?;
        let mut doc = to_value(&report);
        let min_alpha = self.cfg.config.gates.iter().find_map(|g| match g {
            Gate::MinAlpha { min } => Some(*min),
            _ => None,
        });
        if let Some(by) = &a.by {
            let by = match by.as_str() {
                "time" => DriftBy::Time {
                    window_secs: gavel_core::time::parse_window(
                        a.window.as_deref().unwrap_or("7d"),
                    )
                    .map_err(|m| RunError::new(format!("agreement.window: {m}")))?,
                },
                "round" => DriftBy::Round,
                "guideline_version" => DriftBy::GuidelineVersion,
                other => {
                    return Err(RunError::new(format!(
                        "agreement.by: {other:?}; expected time, round or guideline_version"
                    )));
                }
            };
            let thresholds = Thresholds {
                min_krippendorff_alpha: min_alpha,
                min_items: 2,
                ..Default::default()
            };
            let d = drift(labels, &by, &opts, &thresholds)
                .map_err(|e| RunError::new(format!("stage agreement: {e}")))?;
            let windows: Vec<Value> = d
                .windows
                .iter()
                .map(|w| {
                    let mut v = to_value(w);
                    v["flagged"] = json!(!w.flags.is_empty());
                    v
                })
                .collect();
            doc["drift"] = json!({
                "by": d.by, "window_secs": d.window_secs, "n_without_key": d.n_without_key,
                "statistic": "krippendorff_alpha", "threshold": min_alpha, "windows": windows,
            });
        }
        Ok(doc)
    }

    async fn run_judge(
        &mut self,
        judge: &JudgeSection,
        metrics_options: &MetricsOptions,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), RunError> {
        let name = judge.name.get_ref().clone();
        let stage = format!("judge:{name}");
        let fail = |m: String| RunError::new(format!("judge {name}: {m}"));
        let (judgments, stats, provenance) = match judge.kind {
            JudgeKind::Metric => {
                let metric = judge
                    .metric
                    .as_ref()
                    .map(|m| m.get_ref().clone())
                    .unwrap_or_default();
                let mj = MetricJudge {
                    name: name.clone(),
                    metric: metric.clone(),
                    tie_margin: judge.tie_margin,
                    baseline: judge.baseline.clone(),
                    options: metrics_options.clone(),
                };
                let (js, without) = metric_judge::judge(&mj, &self.inputs.items)
                    .map_err(|e| fail(e.to_string()))?;
                if without > 0 {
                    events(Event::Note(format!(
                        "judge {name}: {without} item(s) have no reference and are not judged"
                    )));
                }
                let stats = json!({"judge": name, "kind": "metric", "judgments": js.len(), "calls": 0, "cached_calls": 0, "retries": 0, "cost_usd": 0.0, "parse_failures": 0, "parse_failure_rate": 0.0});
                let p = JudgeProvenance {
                    judge: name.clone(),
                    kind: "metric".into(),
                    template: None,
                    template_sha256: None,
                    judge_model: Some(format!("metric:{metric}")),
                    reported_models: Vec::new(),
                    system_fingerprints: Vec::new(),
                    endpoint: None,
                    settings: json!({"metric": metric, "tie_margin": judge.tie_margin, "baseline": judge.baseline, "stemmer": metrics_options.stemmer}),
                };
                (js, stats, p)
            }
            JudgeKind::File => {
                let js = self
                    .inputs
                    .file_judgments
                    .get(&name)
                    .cloned()
                    .unwrap_or_default();
                let failures = js.iter().filter(|j| j.parse_error.is_some()).count();
                let models: Vec<String> = distinct(js.iter().filter_map(|j| j.judge_model.clone()));
                let templates: Vec<String> = distinct(js.iter().filter_map(|j| j.template.clone()));
                let stats = json!({"judge": name, "kind": "file", "judgments": js.len(), "calls": 0, "cached_calls": 0, "retries": 0,
                    "cost_usd": js.iter().filter_map(|j| j.cost_usd).sum::<f64>(), "parse_failures": failures,
                    "parse_failure_rate": if js.is_empty() { Value::Null } else { json!(failures as f64 / js.len() as f64) }});
                let p = JudgeProvenance {
                    judge: name.clone(),
                    kind: "file".into(),
                    template: (!templates.is_empty()).then(|| templates.join(", ")),
                    template_sha256: distinct(js.iter().filter_map(|j| j.template_sha256.clone()))
                        .first()
                        .cloned(),
                    judge_model: (!models.is_empty()).then(|| models.join(", ")),
                    reported_models: models,
                    system_fingerprints: Vec::new(),
                    endpoint: None,
                    settings: json!({"path": judge.path.as_ref().map(|p| p.get_ref().clone())}),
                };
                (js, stats, p)
            }
            JudgeKind::Llm => {
                let llm = self
                    .inputs
                    .llm
                    .remove(&name)
                    .ok_or_else(|| fail("not prepared".into()))?;
                let out = llm
                    .run(&self.inputs.items, &name, events)
                    .await
                    .map_err(fail)?;
                self.store
                    .add_spend(
                        &self.run_id,
                        out.stats
                            .get("cost_usd")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                        out.stats.get("calls").and_then(Value::as_i64).unwrap_or(0),
                        out.stats
                            .get("cached_calls")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                    )
                    .map_err(store_err)?;
                (out.judgments, out.stats, out.provenance)
            }
        };
        let values: Vec<Value> = judgments.iter().map(to_value).collect();
        self.store
            .put_judgments(&self.run_id, &name, values.iter())
            .map_err(store_err)?;
        self.store
            .put_judge(&self.run_id, &provenance)
            .map_err(store_err)?;
        self.store
            .put_result(&self.run_id, &stage, "stats", &stats)
            .map_err(store_err)?;
        Ok(())
    }

    fn meta_eval(&self) -> Result<Value, RunError> {
        let policy = match self
            .cfg
            .config
            .meta_eval
            .as_ref()
            .map(|m| m.policy.as_str())
        {
            Some("each") => Policy::Each,
            Some("unanimous") => Policy::Unanimous,
            _ => Policy::Majority,
        };
        let opts = MetaEvalOptions {
            policy,
            duplicates: Duplicates::Last,
            bootstrap: BootstrapConfig {
                replicates: 1000,
                seed: 0,
                level: 0.95,
            },
            ..MetaEvalOptions::default()
        };
        let all: Vec<Judgment> = self.judgments.values().flatten().cloned().collect();
        let report = meta_eval(&all, &self.inputs.labels, &opts)
            .map_err(|e| RunError::new(format!("stage meta_eval: {e}")))?;
        Ok(to_value(&report))
    }

    /// Up to five items per judge where its verdict differs from the human majority, with the
    /// judged text, for the report.
    fn disagreements(&self) -> Vec<Value> {
        // The gold label per unit as meta-eval's `majority` policy takes it, with every label
        // stated in its unit's own order.
        let mut by_unit: HashMap<gavel_core::UnitKey, Vec<LabelValue>> = HashMap::new();
        for l in &self.inputs.labels {
            let (unit, swapped) = l.unit();
            let v = if swapped {
                gavel_core::swap_pairwise_label(&l.label)
            } else {
                l.label.clone()
            };
            by_unit.entry(unit).or_default().push(v);
        }
        let majority: HashMap<gavel_core::UnitKey, String> = by_unit
            .into_iter()
            .filter_map(|(unit, labels)| {
                let gold = gavel_stats::meta_eval::plurality(labels.iter())?;
                Some((unit, gold.category_key()?))
            })
            .collect();
        let items: HashMap<&str, &Item> = self
            .inputs
            .items
            .iter()
            .map(|i| (i.id.as_str(), i))
            .collect();
        let mut out = Vec::new();
        for (judge, js) in &self.judgments {
            let mut shown = 0;
            for j in js {
                if shown == 5 {
                    break;
                }
                let (unit, swapped) = j.label.unit();
                let Some(gold) = majority.get(&unit) else {
                    continue;
                };
                let v = if swapped {
                    gavel_core::swap_pairwise_label(&j.label.label)
                } else {
                    j.label.label.clone()
                };
                let Some(verdict) = v.category_key() else {
                    continue;
                };
                if &verdict == gold || (verdict.contains("tie") && gold.contains("tie")) {
                    continue;
                }
                let (Some(item), Some((a, b))) = (items.get(j.label.item.as_str()), &unit.models)
                else {
                    continue;
                };
                let response = |m: &str| {
                    item.response(m)
                        .map(|c| c.last().to_string())
                        .unwrap_or_default()
                };
                out.push(json!({
                    "item": item.id, "instruction": item.instruction, "human": gold, "judge": verdict,
                    "judge_name": judge, "model_a": a, "model_b": b,
                    "response_a": response(a), "response_b": response(b),
                }));
                shown += 1;
            }
        }
        out
    }
}

/// A record stored by this crate, read back through the record's own reader.
fn from_stored<T: gavel_core::FromRecord>(v: Value) -> Result<T, gavel_core::FieldError> {
    let Value::Object(fields) = v else {
        return Err(gavel_core::FieldError::new("record", "is not an object"));
    };
    T::from_record(gavel_core::RawRecord {
        location: gavel_core::Location::new(Arc::from("store"), None, 0),
        format: gavel_core::Format::Jsonl,
        fields,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    use std::io::Write;
    let err = |e: std::io::Error| RunError::new(format!("cannot write {}: {e}", path.display()));
    let mut f = AtomicFile::create(path).map_err(|e| RunError::new(e.to_string()))?;
    f.write_all(bytes).map_err(err)?;
    f.commit().map_err(|e| RunError::new(e.to_string()))?;
    Ok(())
}
