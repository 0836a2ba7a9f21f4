//! LLM judges in a run: the same runner, backend and cache as `gavel judge`, set up from a
//! `[[judges]]` section. Everything that can be checked is checked in [`LlmJudge::prepare`],
//! before the run starts and before any call is paid for.

use std::sync::Arc;
use std::time::Duration;

use gavel_core::{Item, Judgment};
use gavel_judge::backend::{ApiKey, Backend, BackendOptions, Endpoint};
use gavel_judge::cache::Cache;
use gavel_judge::cost::PriceTable;
use gavel_judge::protocol::Pairing;
use gavel_judge::runner::prompt::JudgePrompt;
use gavel_judge::runner::{Progress, RunConfig, Runner, RunnerParts, Sampling};
use gavel_judge::template::{PromptOptions, Template, TemplatePrompt};
use gavel_store::JudgeProvenance;
use serde_json::{Value, json};

use crate::config::{JudgeSection, LoadedConfig};
use crate::pipeline::Event;

/// Live counters of an LLM judge's calls.
pub type LlmProgress = Arc<Progress>;

/// An LLM judge, checked and ready to run.
pub struct LlmJudge {
    prompt: Arc<dyn JudgePrompt>,
    config: RunConfig,
    endpoint: Endpoint,
    cache_path: Option<std::path::PathBuf>,
    price: Option<gavel_judge::cost::Price>,
    max_cost: Option<f64>,
    settings: Value,
}

/// The prompt for a template: a built-in name, a template file, or `FILE.jsonl#NAME` for a
/// FastChat prompt file; files are relative to the config's folder.
pub fn resolve_template(spec: &str, cfg: &LoadedConfig) -> Result<Arc<dyn JudgePrompt>, String> {
    let looks_like_path = spec.contains('/') || spec.contains('.') || spec.contains('#');
    let template = match Template::builtin(spec) {
        Some(t) => t,
        None if !looks_like_path => Template::resolve(spec).map_err(|e| e.to_string())?,
        None => {
            let (file, name) = match spec.rsplit_once('#') {
                Some((f, n)) => (f, Some(n)),
                None => (spec, None),
            };
            let path = cfg.resolve(file).display().to_string();
            let spec = match name {
                Some(n) => format!("{path}#{n}"),
                None => path,
            };
            Template::resolve(&spec).map_err(|e| e.to_string())?
        }
    };
    Ok(Arc::new(TemplatePrompt::new(
        Arc::new(template),
        PromptOptions::default(),
    )))
}

/// What an LLM judge produced.
pub struct LlmOutput {
    /// The judgments.
    pub judgments: Vec<Judgment>,
    /// Calls, cache hits, retries, cost, parse failures.
    pub stats: Value,
    /// Provenance.
    pub provenance: JudgeProvenance,
}

/// The scheme, host and path of a URL, without credentials or query.
fn endpoint_for_provenance(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    if scheme.is_empty() {
        rest.to_string()
    } else {
        format!("{scheme}://{rest}")
    }
}

impl LlmJudge {
    /// Checks a judge section: template, model, endpoint, key, price for `max_cost`.
    pub fn prepare(
        judge: &JudgeSection,
        cfg: &LoadedConfig,
        env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
        no_cache: bool,
    ) -> Result<LlmJudge, String> {
        let template = judge
            .template
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_default();
        let prompt = resolve_template(&template, cfg)?;
        let model = judge
            .model
            .as_ref()
            .map(|m| m.get_ref().clone())
            .unwrap_or_default();
        let base_url = judge
            .base_url
            .as_ref()
            .map(|u| u.get_ref().trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://api.openai.com/v1".into());
        let key_env = judge.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
        let api_key = env(key_env).and_then(ApiKey::new);
        if api_key.is_none() && base_url.contains("api.openai.com") {
            return Err(format!("${key_env} is not set, and {base_url} needs a key"));
        }
        let price = PriceTable::builtin().price(&model);
        if judge.max_cost.is_some() && price.is_none() {
            return Err(format!(
                "max_cost needs the price of {model:?}, which is not in the price table"
            ));
        }
        let mut config = RunConfig::new(model.clone());
        config.sampling = Sampling {
            temperature: Some(judge.temperature.unwrap_or(if judge.samples > 1 {
                0.7
            } else {
                0.0
            })),
            max_tokens: judge.max_tokens,
            ..Sampling::default()
        };
        config.swap = judge.swap;
        config.samples = judge.samples;
        config.concurrency = judge.concurrency as usize;
        config.pairing = match &judge.baseline {
            Some(b) => Pairing::Baseline(b.clone()),
            None => Pairing::AllPairs,
        };
        let cache_path = (!no_cache).then(|| {
            cfg.resolve(
                cfg.config
                    .run
                    .cache
                    .as_ref()
                    .map(|c| c.get_ref().as_str())
                    .unwrap_or(".gavel/cache.sqlite"),
            )
        });
        let settings = json!({
            "template": template, "model": model, "swap": judge.swap, "samples": judge.samples,
            "temperature": config.sampling.temperature, "max_tokens": judge.max_tokens,
            "concurrency": judge.concurrency, "baseline": judge.baseline, "max_cost": judge.max_cost,
        });
        let mut endpoint = Endpoint::new(base_url);
        endpoint.api_key = api_key;
        Ok(LlmJudge {
            prompt,
            config,
            endpoint,
            cache_path,
            price,
            max_cost: judge.max_cost,
            settings,
        })
    }

    /// Judges the items. Answers are stored in the judge cache as they arrive, so an
    /// interrupted run repeats at most the calls in flight.
    pub async fn run(
        self,
        items: &[Item],
        name: &str,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<LlmOutput, String> {
        let cache = match &self.cache_path {
            Some(p) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                Some(Cache::open(p).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let options = BackendOptions {
            timeout: Duration::from_secs(120),
            pool_size: self.config.concurrency,
            ..BackendOptions::default()
        };
        let endpoint_text = endpoint_for_provenance(&self.endpoint.base_url);
        let backend = Backend::new(vec![self.endpoint], options).map_err(|e| e.to_string())?;
        let runner = Runner::new(RunnerParts {
            prompt: self.prompt.clone(),
            config: self.config.clone(),
            backend: Some(backend),
            cache,
            price: self.price,
            max_cost: self.max_cost,
        });
        let calls: u64 = items.iter().map(|i| runner.planned_calls(i)).sum();
        events(Event::JudgeCalls {
            judge: name,
            calls,
            progress: runner.progress(),
        });
        let mut judgments = Vec::new();
        let summary = runner
            .run(items.iter().cloned().map(Ok), |mut j: Judgment| {
                j.label.annotator = name.to_string();
                judgments.push(j);
                Ok::<(), std::convert::Infallible>(())
            })
            .await
            .map_err(|e| e.to_string())?;
        events(Event::JudgeDone(name));
        if let Some(stop) = &summary.stopped {
            return Err(format!(
                "stopped early: {}; {} item(s) not judged (the answers so far are cached)",
                stop.message, summary.not_judged
            ));
        }
        let reported = crate::distinct(judgments.iter().filter_map(|j| j.judge_model.clone()));
        let fingerprints = crate::distinct(judgments.iter().filter_map(|j| {
            j.label
                .extra
                .get("system_fingerprint")
                .and_then(Value::as_str)
                .map(str::to_string)
        }));
        let stats = json!({
            "judge": name, "kind": "llm", "judgments": summary.judgments, "calls": summary.calls.sent,
            "cached_calls": summary.calls.cached, "failed_calls": summary.calls.failed, "retries": summary.calls.retries,
            "cost_usd": summary.cost_usd, "parse_failures": summary.parse_failures,
            "parse_failure_rate": summary.parse_failure_rate, "position_consistency": summary.position.rate,
            "prompt_tokens": summary.usage.prompt_tokens, "completion_tokens": summary.usage.completion_tokens,
        });
        let provenance = JudgeProvenance {
            judge: name.to_string(),
            kind: "llm".into(),
            template: Some(self.prompt.name().to_string()),
            template_sha256: self.prompt.sha256(),
            judge_model: Some(self.config.model.clone()),
            reported_models: reported,
            system_fingerprints: fingerprints,
            endpoint: Some(endpoint_text),
            settings: self.settings,
        };
        Ok(LlmOutput {
            judgments,
            stats,
            provenance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_endpoints_carry_no_credentials() {
        assert_eq!(
            endpoint_for_provenance("https://user:secret@host.example/v1?key=abc"),
            "https://host.example/v1"
        );
        assert_eq!(
            endpoint_for_provenance("http://127.0.0.1:8000/v1"),
            "http://127.0.0.1:8000/v1"
        );
    }
}
