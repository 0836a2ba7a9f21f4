//! `gavel.toml`: what an evaluation is made of, read and checked before anything runs.
//!
//! Paths in the file are relative to the file's own folder. Strings in judge settings may name
//! environment variables as `${NAME}` or `${NAME:-default}`; the caller supplies the lookup, so
//! this crate never reads the environment itself. A judge with `when = "NAME"` runs only when
//! that variable is set and not empty (so one config serves offline and online runs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// An error in the config: where it is (line of the key) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct ConfigError {
    /// The config file.
    pub path: String,
    /// 1-based line of the offending key (or of the parse error).
    pub line: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Run settings.
    #[serde(default)]
    pub run: RunSection,
    /// The data.
    pub data: DataSection,
    /// Reference metrics of each model's responses against the items' references.
    pub metrics: Option<MetricsSection>,
    /// Agreement among the human annotators.
    pub agreement: Option<AgreementSection>,
    /// The judges.
    #[serde(default)]
    pub judges: Vec<JudgeSection>,
    /// Judges against humans.
    pub meta_eval: Option<MetaEvalSection>,
    /// The ranking.
    pub ranking: Option<RankingSection>,
    /// Quality gates.
    #[serde(default)]
    pub gates: Vec<Gate>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// The run's name (defaults to the config folder's name).
    pub name: Option<String>,
    /// The store file (default `.gavel/gavel.sqlite`).
    pub store: Option<Spanned<String>>,
    /// The folder for `report.html` and `summary.json` (default `gavel-report`).
    pub report: Option<Spanned<String>>,
    /// The judge cache (default `.gavel/cache.sqlite`).
    pub cache: Option<Spanned<String>>,
}

/// `[data]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Items with responses (and references), CONTRACT.md Item records.
    pub items: Spanned<String>,
    /// Human label files (Label records): one path or a list.
    pub labels: Option<Spanned<OneOrMany>>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Metric names as `gavel metrics --metrics` takes them.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Spanned<String>>,
    /// Whether ROUGE stems (rouge-score's Porter stemmer).
    #[serde(default = "yes")]
    pub stemmer: bool,
}

fn default_metrics() -> Vec<Spanned<String>> {
    ["rouge1", "rougeL", "token_f1"]
        .iter()
        .map(|m| Spanned::new(0..0, m.to_string()))
        .collect()
}

fn yes() -> bool {
    true
}

/// `[agreement]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSection {
    /// `nominal`, `ordinal`, `interval` or `ratio`.
    #[serde(default = "nominal")]
    pub level: String,
    /// Drift windows: `time`, `round` or `guideline_version`.
    pub by: Option<String>,
    /// Window length for `by = "time"`, e.g. `7d`.
    pub window: Option<String>,
    /// Bootstrap resamples for intervals.
    #[serde(default = "default_bootstrap")]
    pub bootstrap: u32,
}

fn nominal() -> String {
    "nominal".into()
}

fn default_bootstrap() -> u32 {
    1000
}

/// What a judge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeKind {
    /// A reference-based metric judge: the response with the higher metric against the item's
    /// reference wins (a baseline; such judges correlate poorly with humans).
    Metric,
    /// An LLM judge on an OpenAI-compatible endpoint.
    Llm,
    /// Judgments already computed (e.g. by `gavel judge`), read from a file.
    File,
}

/// `[[judges]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSection {
    /// The judge's name in reports and gates.
    pub name: Spanned<String>,
    /// Its kind.
    pub kind: JudgeKind,
    /// Run only when this environment variable is set and not empty.
    pub when: Option<String>,
    /// Metric judges: the metric (`rougeL`, `rouge1`, `bleu`, `chrf`, `token_f1`...).
    pub metric: Option<Spanned<String>>,
    /// Metric judges: a difference at most this large is a tie (metric's own scale).
    #[serde(default)]
    pub tie_margin: f64,
    /// LLM judges: the template.
    pub template: Option<Spanned<String>>,
    /// LLM judges: the model.
    pub model: Option<Spanned<String>>,
    /// LLM judges: the endpoint's base URL.
    pub base_url: Option<Spanned<String>>,
    /// LLM judges: the environment variable holding the API key (default OPENAI_API_KEY).
    pub api_key_env: Option<String>,
    /// LLM judges: judge both orders (default true).
    #[serde(default = "yes")]
    pub swap: bool,
    /// LLM judges: samples per prompt.
    #[serde(default = "one")]
    pub samples: u32,
    /// LLM judges: concurrent requests.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// LLM judges: sampling temperature.
    pub temperature: Option<f64>,
    /// LLM judges: maximum completion tokens.
    pub max_tokens: Option<u32>,
    /// LLM judges: stop before spending more than this (USD).
    pub max_cost: Option<f64>,
    /// Judge each model against this one only, instead of every pair.
    pub baseline: Option<String>,
    /// File judges: the judgments file.
    pub path: Option<Spanned<String>>,
}

fn one() -> u32 {
    1
}

fn default_concurrency() -> u32 {
    8
}

/// `[meta_eval]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaEvalSection {
    /// `majority`, `each` or `unanimous`.
    #[serde(default = "majority")]
    pub policy: String,
}

fn majority() -> String {
    "majority".into()
}

/// `[ranking]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingSection {
    /// Whose verdicts to rank from: `human` or a judge's name.
    #[serde(default = "human")]
    pub source: Spanned<String>,
    /// `bt`, `elo` or `winrate`.
    #[serde(default = "bt")]
    pub method: String,
    /// Bootstrap resamples.
    #[serde(default = "default_bootstrap")]
    pub bootstrap: u32,
    /// Bootstrap seed.
    #[serde(default)]
    pub seed: u64,
    /// A baseline for win rates.
    pub baseline: Option<String>,
}

fn human() -> Spanned<String> {
    Spanned::new(0..0, "human".into())
}

fn bt() -> String {
    "bt".into()
}

/// `[[gates]]`: a check that makes `gavel run` exit 3 when it fails.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Gate {
    /// A model's win rate against a baseline (ties half), from the ranking source.
    WinRate {
        /// The model.
        model: String,
        /// The baseline.
        baseline: String,
        /// The smallest acceptable win rate (0-1).
        min: f64,
    },
    /// A judge's Cohen's kappa against the humans.
    JudgeKappa {
        /// The judge.
        judge: String,
        /// The smallest acceptable kappa.
        min: f64,
    },
    /// A judge's accuracy against the humans.
    JudgeAccuracy {
        /// The judge.
        judge: String,
        /// The smallest acceptable accuracy (0-1).
        min: f64,
    },
    /// Krippendorff's alpha among the human annotators.
    MinAlpha {
        /// The smallest acceptable alpha.
        min: f64,
    },
    /// A reference metric of one model (on the metric's own scale).
    Metric {
        /// The model.
        model: String,
        /// The metric (`bleu`, `chrf`, `rougeL`...).
        metric: String,
        /// The smallest acceptable value.
        min: f64,
    },
    /// A judge's share of unparseable verdicts.
    ParseFailureRate {
        /// The judge.
        judge: String,
        /// The largest acceptable share (0-1).
        max: f64,
    },
}

impl Gate {
    /// A one-line description, e.g. `win rate of alpha vs gamma >= 0.6`.
    pub fn describe(&self) -> String {
        match self {
            Gate::WinRate {
                model,
                baseline,
                min,
            } => format!("win rate of {model} vs {baseline} >= {min}"),
            Gate::JudgeKappa { judge, min } => {
                format!("Cohen's kappa of judge {judge} vs humans >= {min}")
            }
            Gate::JudgeAccuracy { judge, min } => {
                format!("accuracy of judge {judge} vs humans >= {min}")
            }
            Gate::MinAlpha { min } => format!("Krippendorff's alpha among annotators >= {min}"),
            Gate::Metric { model, metric, min } => format!("{metric} of {model} >= {min}"),
            Gate::ParseFailureRate { judge, max } => {
                format!("parse-failure rate of judge {judge} <= {max}")
            }
        }
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

impl DataSection {
    /// The label files, with the span of the `labels` key's value.
    pub fn label_files(&self) -> Vec<(String, std::ops::Range<usize>)> {
        match &self.labels {
            Some(l) => l
                .get_ref()
                .as_slice()
                .iter()
                .map(|p| (p.clone(), l.span()))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// A config read from a file, with the file's text, folder and hash.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The parsed config.
    pub config: Config,
    /// The file as given.
    pub path: PathBuf,
    /// The file's folder, against which relative paths resolve.
    pub base: PathBuf,
    /// The file's text.
    pub text: String,
    /// SHA-256 (hex) of the text.
    pub sha256: String,
}

/// The metric names `[metrics]` and metric judges accept.
pub const METRIC_NAMES: &[&str] = &[
    "bleu",
    "chrf",
    "chrf++",
    "ter",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "exact_match",
    "token_f1",
];

impl LoadedConfig {
    /// Parses and checks a config's text. `env` looks up environment variables for `${NAME}`
    /// expansion and `when`; pass `|_| None` to ignore the environment.
    pub fn parse(
        path: &Path,
        text: String,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigError> {
        let display = path.display().to_string();
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
            ConfigError {
                path: display.clone(),
                line,
                message: e.message().trim_end_matches('.').to_string(),
            }
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let err = |span: std::ops::Range<usize>, message: String| ConfigError {
            path: display.clone(),
            line: line_of(&text, span.start),
            message,
        };

        for judge in &mut config.judges {
            for value in [&mut judge.model, &mut judge.base_url, &mut judge.template]
                .into_iter()
                .flatten()
            {
                let span = value.span();
                let expanded =
                    expand_env(value.get_ref(), env).map_err(|m| err(span.clone(), m))?;
                *value = Spanned::new(span, expanded);
            }
        }
        let mut names = BTreeSet::new();
        for judge in &config.judges {
            let span = judge.name.span();
            let name = judge.name.get_ref();
            if name.is_empty() || name == "human" {
                return Err(err(
                    span,
                    format!("judges.name: {name:?} is reserved or empty; choose another name"),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(err(
                    span,
                    format!("judges.name: two judges are named {name:?}"),
                ));
            }
            let need = |field: &str, present: bool| -> Result<(), ConfigError> {
                if present {
                    Ok(())
                } else {
                    Err(err(
                        span.clone(),
                        format!(
                            "judge {name:?}: `{field}` is required for kind {:?}",
                            judge.kind
                        ),
                    ))
                }
            };
            match judge.kind {
                JudgeKind::Metric => {
                    need("metric", judge.metric.is_some())?;
                    if let Some(m) = &judge.metric
                        && !METRIC_NAMES.contains(&m.get_ref().as_str())
                    {
                        return Err(err(
                            m.span(),
                            format!(
                                "judge {name:?}: unknown metric {:?}; expected one of {}",
                                m.get_ref(),
                                METRIC_NAMES.join(", ")
                            ),
                        ));
                    }
                }
                JudgeKind::Llm => {
                    need("template", judge.template.is_some())?;
                    need("model", judge.model.is_some())?;
                    if judge.samples == 0 || judge.concurrency == 0 {
                        return Err(err(
                            span,
                            format!(
                                "judge {name:?}: `samples` and `concurrency` must be at least 1"
                            ),
                        ));
                    }
                }
                JudgeKind::File => need("path", judge.path.is_some())?,
            }
        }
        if let Some(metrics) = &config.metrics {
            for m in &metrics.metrics {
                if !METRIC_NAMES.contains(&m.get_ref().as_str()) {
                    return Err(err(
                        m.span(),
                        format!(
                            "metrics.metrics: unknown metric {:?}; expected one of {}",
                            m.get_ref(),
                            METRIC_NAMES.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(ranking) = &config.ranking {
            let source = ranking.source.get_ref();
            if source != "human" && !names.contains(source) {
                return Err(err(
                    ranking.source.span(),
                    format!("ranking.source: {source:?} is neither \"human\" nor a judge's name"),
                ));
            }
            if !matches!(ranking.method.as_str(), "bt" | "elo" | "winrate") {
                return Err(err(
                    ranking.source.span(),
                    format!(
                        "ranking.method: {:?}; expected bt, elo or winrate",
                        ranking.method
                    ),
                ));
            }
        }
        if let Some(agreement) = &config.agreement
            && !matches!(
                agreement.level.as_str(),
                "nominal" | "ordinal" | "interval" | "ratio"
            )
        {
            return Err(err(
                0..0,
                format!(
                    "agreement.level: {:?}; expected nominal, ordinal, interval or ratio",
                    agreement.level
                ),
            ));
        }
        if let Some(meta) = &config.meta_eval
            && !matches!(meta.policy.as_str(), "majority" | "each" | "unanimous")
        {
            return Err(err(
                0..0,
                format!(
                    "meta_eval.policy: {:?}; expected majority, each or unanimous",
                    meta.policy
                ),
            ));
        }
        for gate in &config.gates {
            let judge = match gate {
                Gate::JudgeKappa { judge, .. }
                | Gate::JudgeAccuracy { judge, .. }
                | Gate::ParseFailureRate { judge, .. } => Some(judge),
                _ => None,
            };
            if let Some(judge) = judge
                && !names.contains(judge)
            {
                return Err(ConfigError {
                    path: display.clone(),
                    line: find_line(&text, judge),
                    message: format!("gates: no judge is named {judge:?}"),
                });
            }
        }
        let sha256 = crate::sha256_hex(text.as_bytes());
        Ok(LoadedConfig {
            config,
            path: path.to_path_buf(),
            base,
            text,
            sha256,
        })
    }

    /// Resolves a path from the config against the config's folder.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// The line a span starts on.
    pub fn line(&self, span: std::ops::Range<usize>) -> usize {
        line_of(&self.text, span.start)
    }

    /// Whether a judge is switched on (its `when` variable, if any, is set).
    pub fn judge_enabled(judge: &JudgeSection, env: &dyn Fn(&str) -> Option<String>) -> bool {
        match &judge.when {
            None => true,
            Some(var) => env(var).is_some_and(|v| !v.is_empty()),
        }
    }

    /// Every input file the config names, with the line of its key: checked before any work.
    pub fn input_files(&self) -> Vec<(PathBuf, usize, &'static str)> {
        let c = &self.config;
        let mut files = vec![(
            self.resolve(c.data.items.get_ref()),
            self.line(c.data.items.span()),
            "data.items",
        )];
        for (path, span) in c.data.label_files() {
            files.push((self.resolve(&path), self.line(span), "data.labels"));
        }
        for j in &c.judges {
            if let (JudgeKind::File, Some(p)) = (j.kind, &j.path) {
                files.push((
                    self.resolve(p.get_ref()),
                    self.line(p.span()),
                    "judges.path",
                ));
            }
        }
        files
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn find_line(text: &str, needle: &str) -> usize {
    let quoted = format!("\"{needle}\"");
    text.find(&quoted).map(|o| line_of(text, o)).unwrap_or(1)
}

/// Expands `${NAME}` and `${NAME:-default}`. A variable that is unset and has no default is an
/// error naming it (its value, which may be secret, is never shown).
pub fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `${{` in {text:?}"));
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
        LoadedConfig::parse(Path::new("dir/gavel.toml"), text.to_string(), &|n| {
            (n == "SET").then(|| "value".to_string())
        })
    }

    #[test]
    fn minimal_config_and_relative_paths() {
        let c = parse("[data]\nitems = \"items.jsonl\"\nlabels = \"l.jsonl\"\n").unwrap();
        assert_eq!(c.resolve("items.jsonl"), PathBuf::from("dir/items.jsonl"));
        assert_eq!(c.config.data.label_files().len(), 1);
        assert_eq!(c.input_files()[1].1, 3);
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e = parse("[data]\nitems = \"i.jsonl\"\n\n[[judges]]\nname = \"j\"\nkind = \"metric\"\nmetric = \"bleurt\"\n").unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("unknown metric \"bleurt\""), "{e}");
        let e = parse("[data]\nitems = 3\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("[data]\nitems = \"i\"\n[run]\nnmae = \"x\"\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("nmae"), "{e}");
        let e = parse("[data]\nitems = \"i\"\n[ranking]\nsource = \"nobody\"\n").unwrap_err();
        assert_eq!(e.line, 4);
        let e = parse("[data]\nitems = \"i\"\n[[gates]]\ncheck = \"judge_kappa\"\njudge = \"ghost\"\nmin = 0.1\n").unwrap_err();
        assert_eq!(e.line, 5);
    }

    #[test]
    fn env_expansion_never_shows_values() {
        let env = |n: &str| (n == "K").then(|| "secret".to_string());
        assert_eq!(expand_env("a-${K}-b", &env).unwrap(), "a-secret-b");
        assert_eq!(expand_env("${NOPE:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(
            expand_env("${NOPE}", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        let e = parse("[data]\nitems = \"i\"\n[[judges]]\nname = \"llm\"\nkind = \"llm\"\ntemplate = \"t\"\nmodel = \"${UNSET}\"\n").unwrap_err();
        assert_eq!(e.line, 7);
    }

    #[test]
    fn when_switches_judges() {
        let c = parse("[data]\nitems = \"i\"\n[[judges]]\nname = \"llm\"\nkind = \"llm\"\ntemplate = \"t\"\nmodel = \"m\"\nwhen = \"UNSET\"\n").unwrap();
        assert!(!LoadedConfig::judge_enabled(&c.config.judges[0], &|_| None));
        assert!(LoadedConfig::judge_enabled(&c.config.judges[0], &|_| Some(
            "1".into()
        )));
    }
}
