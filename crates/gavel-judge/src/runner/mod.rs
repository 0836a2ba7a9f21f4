//! The async runner: streams items through a judge prompt and a backend, with the cache in
//! front, and hands each finished item's judgments to a sink in input order.
//!
//! Flow of one call: render the prompt for one presentation order and sample, key the request
//! ([`crate::cache::request_key`]); a cached answer is used at once; otherwise wait for one of
//! `concurrency` slots, reserve its worst-case cost on the budget, call the backend (which
//! retries), store the answer durably, and only then release the slot and use the answer. So at
//! any moment at most `concurrency` paid answers are not yet on disk, which bounds what a killed
//! run repeats. An answer that does not parse can be re-asked (`reask`): the failed answer and a
//! follow-up message are appended, which makes a new request with its own cache entry.
//!
//! Items are read lazily and at most a window of them is in progress, so memory does not grow
//! with the input. A stop (the budget, `fail_fast`, an error no retry can fix, an interrupt) stops
//! reading, lets the calls in flight finish (their answers are stored), and drops the items that
//! could not be completed: the sink only ever sees whole items.
//!
//! The runner never prints: progress is in [`Progress`] (atomics a caller may poll), the outcome
//! in [`Summary`].

pub mod prompt;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gavel_core::{Item, Judgment, LabelValue, ReadError, Usage};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::backend::{Backend, BackendCounters, ChatMessage, ChatRequest, Completion, TokenUsage};
use crate::cache::{Cache, CacheError, request_key};
use crate::cost::{Budget, Price, estimate_prompt_tokens, estimate_tokens};
use crate::protocol::{
    CallTotals, Evidence, JudgeInfo, Kind, Order, Pairing, SkipReason, Unit, map_verdict,
    pairwise_judgment, pointwise_judgment, scores_pair_judgment, units,
};
use prompt::{JudgePrompt, Shown, View};

/// Completion tokens assumed for a call without `max_tokens`, in estimates and reservations.
pub const DEFAULT_COMPLETION_ESTIMATE: u32 = 512;

/// Sampling parameters sent with every request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// Temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// The most tokens to generate.
    pub max_tokens: Option<u32>,
    /// A seed; sample `i` is sent `seed + i` so that samples differ.
    pub seed: Option<u64>,
    /// Ask for log-probabilities.
    pub logprobs: bool,
    /// Alternatives per token with log-probabilities.
    pub top_logprobs: Option<u32>,
    /// Use the prompt's `response_format` (structured output) when it has one. An endpoint that
    /// rejects the field (HTTP 400 or 422 naming it) gets requests without it for the rest of
    /// the run ([`Summary::response_format_dropped`]).
    pub structured: bool,
    /// Further body fields.
    pub extra: Map<String, Value>,
}

/// How a run judges.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The judge model.
    pub model: String,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Judge pairs in both presentation orders.
    pub swap: bool,
    /// Samples per prompt (majority vote or mean).
    pub samples: u32,
    /// Which pairs to judge.
    pub pairing: Pairing,
    /// With a pointwise prompt, write pairwise judgments comparing the scores.
    pub compare_scores: bool,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Re-ask an unparseable answer at most this many times.
    pub reask: u32,
    /// Stop at the first call that fails after its retries.
    pub fail_fast: bool,
    /// Ignore cached answers (and overwrite them).
    pub refresh: bool,
}

impl RunConfig {
    /// Defaults for a model: swap on, one sample, all pairs, 16 calls in flight.
    pub fn new(model: impl Into<String>) -> RunConfig {
        RunConfig {
            model: model.into(),
            sampling: Sampling::default(),
            swap: true,
            samples: 1,
            pairing: Pairing::AllPairs,
            compare_scores: false,
            concurrency: 16,
            reask: 0,
            fail_fast: false,
            refresh: false,
        }
    }
}

/// Counters of a run in progress; poll them for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Items finished (judged, skipped or abandoned).
    pub items: AtomicU64,
    /// Judgments handed to the sink.
    pub judgments: AtomicU64,
    /// Calls answered (from the cache or the network) or failed.
    pub calls: AtomicU64,
    /// Calls answered from the cache.
    pub cached: AtomicU64,
    /// Calls answered over the network.
    pub sent: AtomicU64,
    /// Calls that failed after their retries.
    pub failed: AtomicU64,
    /// Answers that did not parse (after any re-asks).
    pub parse_failures: AtomicU64,
    /// Re-asks made.
    pub reasks: AtomicU64,
    /// Answers cut off at the token limit.
    pub truncated: AtomicU64,
    spent_nano_usd: AtomicU64,
    saved_nano_usd: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl Progress {
    /// Dollars spent on network calls so far (0 when prices are unknown).
    pub fn spent_usd(&self) -> f64 {
        self.spent_nano_usd.load(Ordering::Relaxed) as f64 / 1e9
    }

    fn add_cost(counter: &AtomicU64, usd: f64) {
        if usd.is_finite() && usd > 0.0 {
            counter.fetch_add((usd * 1e9).round() as u64, Ordering::Relaxed);
        }
    }
}

/// Why a run stopped before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The next call could not be afforded within `--max-cost`.
    Budget,
    /// A call failed and `fail_fast` was set.
    FailFast,
    /// An error that retrying cannot fix (bad key, unknown model).
    Fatal,
    /// The caller asked to stop.
    Interrupted,
}

/// A stop and its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    /// Why.
    pub reason: StopReason,
    /// What happened, for people.
    pub message: String,
}

/// Call counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// Calls answered or failed.
    pub total: u64,
    /// Answered from the cache (free).
    pub cached: u64,
    /// Answered over the network.
    pub sent: u64,
    /// Failed after their retries.
    pub failed: u64,
    /// HTTP requests made (every attempt).
    pub requests: u64,
    /// Attempts retried.
    pub retries: u64,
    /// Re-asks after an unparseable answer.
    pub reasks: u64,
    /// Answers cut off at the token limit.
    pub truncated: u64,
}

/// Position consistency of the pairwise judgments with both orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PositionStats {
    /// Pairs judged in both orders with both verdicts read.
    pub pairs: u64,
    /// Pairs whose orders agreed.
    pub consistent: u64,
    /// Pairs whose orders disagreed (recorded as ties).
    pub inconsistent: u64,
    /// `consistent / pairs`; `null` without pairs.
    pub rate: Option<f64>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Items read.
    pub items: u64,
    /// Items that gave no unit to judge, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Items dropped because the run stopped before they were complete.
    pub not_judged: u64,
    /// Judgments written.
    pub judgments: u64,
    /// Judgments with a label.
    pub labelled: u64,
    /// Judgments whose verdict did not parse (`label: null`, `parse_error`).
    pub parse_failures: u64,
    /// Judgments with a failed call (`label: null`, `error`).
    pub failed: u64,
    /// `parse_failures / judgments`; `null` without judgments.
    pub parse_failure_rate: Option<f64>,
    /// Calls whose judged responses contained a verdict token of the template's convention (a
    /// likely injection; `orders[].judged_text_has_verdict_token`).
    pub planted_verdicts: u64,
    /// Verdict tokens the parsers ignored as quoted from judged text
    /// (`orders[].ignored_verdicts`, summed).
    pub ignored_verdicts: u64,
    /// Calls.
    pub calls: CallStats,
    /// Position consistency.
    pub position: PositionStats,
    /// Tokens of the calls sent over the network in this run.
    pub usage: TokenUsage,
    /// Dollars spent in this run; `null` when the model's price is unknown.
    pub cost_usd: Option<f64>,
    /// Dollars the cache saved (what the cached calls cost when they were made).
    pub saved_usd: Option<f64>,
    /// Set when the run stopped early.
    pub stopped: Option<Stop>,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Calls answered per second of wall time.
    pub calls_per_second: Option<f64>,
    /// The endpoint rejected the structured-output `response_format`, so it was left out (the
    /// prompt still asks for the JSON answer).
    pub response_format_dropped: bool,
}

impl Summary {
    fn count(&mut self, j: &Judgment) {
        self.judgments += 1;
        if !j.label.label.is_missing() {
            self.labelled += 1;
        }
        if j.parse_error.is_some() {
            self.parse_failures += 1;
        }
        if j.label.extra.contains_key("error") {
            self.failed += 1;
        }
        for o in &j.orders {
            if o.extra.get("judged_text_has_verdict_token") == Some(&Value::Bool(true)) {
                self.planted_verdicts += 1;
            }
            if let Some(n) = o.extra.get("ignored_verdicts").and_then(Value::as_u64) {
                self.ignored_verdicts += n;
            }
        }
        match j.consistent {
            Some(true) => {
                self.position.pairs += 1;
                self.position.consistent += 1;
            }
            Some(false) => {
                self.position.pairs += 1;
                self.position.inconsistent += 1;
            }
            None => {}
        }
    }
}

/// What a dry run expects a run to cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Items read.
    pub items: u64,
    /// Items that give no unit, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Judgments a run would write.
    pub judgments: u64,
    /// Calls a run would make (before any re-asks).
    pub calls: u64,
    /// Of which already in the cache.
    pub cached: u64,
    /// Of which to be sent.
    pub to_send: u64,
    /// Estimated prompt tokens of the calls to send.
    pub prompt_tokens: u64,
    /// Completion tokens assumed for them (`max_tokens`, or 512 each).
    pub completion_tokens: u64,
    /// Estimated dollars; `null` when the price is unknown.
    pub cost_usd: Option<f64>,
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// An item could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The sink refused a judgment (the output could not be written).
    #[error("cannot write a judgment")]
    Sink(#[source] E),
    /// The cache failed; answers could not be stored, so the run stopped rather than pay for
    /// calls it could not keep.
    #[error("the cache failed")]
    Cache(#[source] CacheError),
    /// A task of the runner panicked or was cancelled.
    #[error("a judging task failed: {0}")]
    Task(String),
}

/// Everything a runner needs.
pub struct RunnerParts {
    /// The judge prompt.
    pub prompt: Arc<dyn JudgePrompt>,
    /// How to judge.
    pub config: RunConfig,
    /// The backend (`None` for dry runs).
    pub backend: Option<Backend>,
    /// The cache (`None` with `--no-cache`).
    pub cache: Option<Cache>,
    /// The judge model's price, if known.
    pub price: Option<Price>,
    /// The spending limit in dollars (needs a price).
    pub max_cost: Option<f64>,
}

/// Judges items; see the module documentation.
pub struct Runner {
    shared: Arc<Shared>,
}

struct Shared {
    prompt: Arc<dyn JudgePrompt>,
    config: RunConfig,
    backend: Option<Backend>,
    backend_counters: Arc<BackendCounters>,
    cache: Option<Cache>,
    price: Option<Price>,
    budget: Option<Budget>,
    info: JudgeInfo,
    progress: Arc<Progress>,
    slots: Semaphore,
    stopping: AtomicBool,
    structured_off: AtomicBool,
    stop: Mutex<Option<Stop>>,
    cache_error: Mutex<Option<CacheError>>,
}

/// Why a call, and so its item, was given up.
#[derive(Debug)]
struct Abandoned;

enum ItemOutcome {
    Done(Vec<Judgment>),
    Skipped(SkipReason),
    Abandoned,
}

enum Fetched {
    Answer {
        completion: Completion,
        cached: bool,
        latency_ms: u64,
    },
    Failed(String),
    /// The endpoint refused the `response_format` field; ask again without it.
    FormatRejected,
}

impl Runner {
    /// A runner from its parts.
    pub fn new(parts: RunnerParts) -> Runner {
        let info = JudgeInfo::new(
            &parts.config.model,
            parts.prompt.name(),
            parts.prompt.sha256(),
        );
        let backend_counters = parts
            .backend
            .as_ref()
            .map(Backend::counters)
            .unwrap_or_default();
        let concurrency = parts.config.concurrency.max(1);
        Runner {
            shared: Arc::new(Shared {
                prompt: parts.prompt,
                backend: parts.backend,
                backend_counters,
                cache: parts.cache,
                price: parts.price,
                budget: parts.max_cost.map(Budget::new),
                info,
                progress: Arc::new(Progress::default()),
                slots: Semaphore::new(concurrency),
                stopping: AtomicBool::new(false),
                structured_off: AtomicBool::new(false),
                stop: Mutex::new(None),
                cache_error: Mutex::new(None),
                config: parts.config,
            }),
        }
    }

    /// The live counters.
    pub fn progress(&self) -> Arc<Progress> {
        self.shared.progress.clone()
    }

    /// The backend's counters (HTTP requests and retries).
    pub fn backend_counters(&self) -> Arc<BackendCounters> {
        self.shared.backend_counters.clone()
    }

    /// The annotator name and template identity written in every judgment.
    pub fn judge_info(&self) -> &JudgeInfo {
        &self.shared.info
    }

    /// The calls an item needs (before re-asks); 0 for an item that will be skipped.
    pub fn planned_calls(&self, item: &Item) -> u64 {
        match plan_item(&self.shared, item) {
            Ok(plan) => plan
                .call_units
                .iter()
                .map(|u| call_slots(&self.shared, u).len() as u64)
                .sum(),
            Err(_) => 0,
        }
    }

    /// Asks the run to stop (an interrupt): no new calls start; calls in flight finish and are
    /// stored; completed items are still handed to the sink.
    pub fn interrupt(&self) {
        self.shared
            .stop(StopReason::Interrupted, "interrupted".into());
    }

    /// A handle that can interrupt the run from elsewhere (a signal handler).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.shared.clone())
    }

    /// Judges every item, handing each judgment to `sink` in input order.
    pub async fn run<I, F, E>(&self, items: I, mut sink: F) -> Result<Summary, RunError<E>>
    where
        I: IntoIterator<Item = Result<Item, ReadError>>,
        F: FnMut(Judgment) -> Result<(), E>,
        E: std::error::Error + 'static,
    {
        let started = Instant::now();
        let shared = &self.shared;
        let window_size = shared.config.concurrency.max(1) * 4 + 16;
        let mut window: VecDeque<tokio::task::JoinHandle<ItemOutcome>> = VecDeque::new();
        let mut items = items.into_iter();
        let mut summary = Summary::default();
        let mut exhausted = false;
        let mut failure: Option<RunError<E>> = None;
        loop {
            while failure.is_none()
                && !exhausted
                && window.len() < window_size
                && !shared.stopping()
            {
                match items.next() {
                    None => exhausted = true,
                    Some(Err(e)) => failure = Some(RunError::Read(e)),
                    Some(Ok(item)) => {
                        summary.items += 1;
                        let task = tokio::spawn(judge_item(shared.clone(), Arc::new(item)));
                        window.push_back(task);
                    }
                }
            }
            if failure.is_some() && !shared.stopping() {
                // Let the calls in flight finish and be stored, but start no more.
                shared.stop(StopReason::Interrupted, "the run failed".into());
            }
            let Some(task) = window.pop_front() else {
                break;
            };
            let outcome = match task.await {
                Ok(o) => o,
                Err(e) => {
                    failure.get_or_insert(RunError::Task(e.to_string()));
                    ItemOutcome::Abandoned
                }
            };
            shared.progress.items.fetch_add(1, Ordering::Relaxed);
            match outcome {
                ItemOutcome::Done(judgments) if failure.is_none() => {
                    for j in judgments {
                        summary.count(&j);
                        shared.progress.judgments.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = sink(j) {
                            failure = Some(RunError::Sink(e));
                            break;
                        }
                    }
                }
                ItemOutcome::Done(_) | ItemOutcome::Abandoned => summary.not_judged += 1,
                ItemOutcome::Skipped(reason) => {
                    *summary.skipped.entry(reason.key().to_string()).or_default() += 1;
                }
            }
        }
        if let Some(e) = shared
            .cache_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            failure.get_or_insert(RunError::Cache(e));
        }
        if let Some(f) = failure {
            return Err(f);
        }
        self.finish_summary(&mut summary, started.elapsed());
        Ok(summary)
    }

    fn finish_summary(&self, summary: &mut Summary, elapsed: Duration) {
        let p = &self.shared.progress;
        let b = &self.shared.backend_counters;
        summary.calls = CallStats {
            total: p.calls.load(Ordering::Relaxed),
            cached: p.cached.load(Ordering::Relaxed),
            sent: p.sent.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            requests: b.requests.load(Ordering::Relaxed),
            retries: b.retries.load(Ordering::Relaxed),
            reasks: p.reasks.load(Ordering::Relaxed),
            truncated: p.truncated.load(Ordering::Relaxed),
        };
        summary.usage = TokenUsage {
            prompt_tokens: p.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: p.completion_tokens.load(Ordering::Relaxed),
        };
        if self.shared.price.is_some() {
            summary.cost_usd = Some(p.spent_usd());
            summary.saved_usd = Some(p.saved_nano_usd.load(Ordering::Relaxed) as f64 / 1e9);
        }
        summary.parse_failure_rate = (summary.judgments > 0)
            .then(|| summary.parse_failures as f64 / summary.judgments as f64);
        summary.position.rate = (summary.position.pairs > 0)
            .then(|| summary.position.consistent as f64 / summary.position.pairs as f64);
        summary.stopped = self
            .shared
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        summary.elapsed_s = elapsed.as_secs_f64();
        summary.response_format_dropped = self.shared.structured_off.load(Ordering::Relaxed);
        summary.calls_per_second =
            (summary.elapsed_s > 0.0).then(|| summary.calls.total as f64 / summary.elapsed_s);
    }

    /// What a run over these items would cost, without calling anything: renders every prompt,
    /// looks each request up in the cache and estimates the tokens of the rest.
    pub async fn estimate<I>(&self, items: I) -> Result<Estimate, ReadError>
    where
        I: IntoIterator<Item = Result<Item, ReadError>>,
    {
        let shared = &self.shared;
        let mut est = Estimate::default();
        let completion_each = shared
            .config
            .sampling
            .max_tokens
            .unwrap_or(DEFAULT_COMPLETION_ESTIMATE);
        for item in items {
            let item = item?;
            est.items += 1;
            let plan = match plan_item(shared, &item) {
                Ok(p) => p,
                Err(reason) => {
                    *est.skipped.entry(reason.key().to_string()).or_default() += 1;
                    continue;
                }
            };
            est.judgments += plan.judgments;
            for unit in &plan.call_units {
                for (order, sample) in call_slots(shared, unit) {
                    let Some(view) = view_of(&item, unit, order) else {
                        continue;
                    };
                    let Ok(messages) = shared.prompt.render(&view) else {
                        continue;
                    };
                    let request = build_request(shared, messages, sample);
                    est.calls += 1;
                    let key = request_key(&request, sample);
                    let hit = match (&shared.cache, shared.config.refresh) {
                        (Some(cache), false) => cache.get(key).await.ok().flatten().is_some(),
                        _ => false,
                    };
                    if hit {
                        est.cached += 1;
                    } else {
                        est.to_send += 1;
                        est.prompt_tokens += estimate_prompt_tokens(&request);
                        est.completion_tokens += u64::from(completion_each);
                    }
                }
            }
        }
        est.cost_usd = shared.price.map(|p| {
            p.cost(TokenUsage {
                prompt_tokens: est.prompt_tokens,
                completion_tokens: est.completion_tokens,
            })
        });
        Ok(est)
    }
}

/// Interrupts a run from another task or thread.
#[derive(Clone)]
pub struct Interrupter(Arc<Shared>);

impl Interrupter {
    /// See [`Runner::interrupt`].
    pub fn interrupt(&self) {
        self.0.stop(StopReason::Interrupted, "interrupted".into());
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records the first stop; later ones keep the first reason.
    fn stop(&self, reason: StopReason, message: String) {
        let mut guard = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Stop { reason, message });
        }
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// One call: the cache, else a slot, the budget, the backend, and the cache again.
    async fn fetch(&self, request: &ChatRequest, sample: u32) -> Result<Fetched, Abandoned> {
        let key = request_key(request, sample);
        if let Some(cache) = &self.cache
            && !self.config.refresh
        {
            match cache.get(key).await {
                Ok(Some(completion)) => {
                    return Ok(Fetched::Answer {
                        completion,
                        cached: true,
                        latency_ms: 0,
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(self.cache_failed(e)),
            }
        }
        if self.stopping() {
            return Err(Abandoned);
        }
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(Abandoned);
        };
        if self.stopping() {
            return Err(Abandoned);
        }
        let Some(backend) = &self.backend else {
            return Ok(Fetched::Failed("no backend to call".into()));
        };
        let reservation = match (&self.budget, &self.price) {
            (Some(budget), Some(price)) => {
                let worst = price.cost(TokenUsage {
                    prompt_tokens: estimate_prompt_tokens(request),
                    completion_tokens: u64::from(
                        request.max_tokens.unwrap_or(DEFAULT_COMPLETION_ESTIMATE),
                    ),
                });
                match budget.reserve(worst) {
                    Some(r) => Some(r),
                    None => {
                        self.stop(
                            StopReason::Budget,
                            format!(
                                "the next call could cost up to ${worst:.4}, which would pass the \
                                 limit of ${:.4} (spent ${:.4})",
                                budget.limit(),
                                budget.spent()
                            ),
                        );
                        return Err(Abandoned);
                    }
                }
            }
            _ => None,
        };
        let result = backend.complete(request).await;
        match result {
            Ok(answered) => {
                let completion = answered.completion;
                let cost = self.cost_of(request, &completion);
                if let (Some(budget), Some(r)) = (&self.budget, reservation) {
                    budget.settle(r, cost.unwrap_or(0.0));
                }
                // Counted as spent even if storing fails below: it was paid.
                Progress::add_cost(&self.progress.spent_nano_usd, cost.unwrap_or(0.0));
                if let Some(u) = completion.usage {
                    self.progress
                        .prompt_tokens
                        .fetch_add(u.prompt_tokens, Ordering::Relaxed);
                    self.progress
                        .completion_tokens
                        .fetch_add(u.completion_tokens, Ordering::Relaxed);
                }
                if let Some(cache) = &self.cache
                    && let Err(e) = cache.put(key, &request.model, &completion).await
                {
                    return Err(self.cache_failed(e));
                }
                Ok(Fetched::Answer {
                    completion,
                    cached: false,
                    latency_ms: answered.latency.as_millis() as u64,
                })
            }
            Err(failed) => {
                if let (Some(budget), Some(r)) = (&self.budget, reservation) {
                    budget.settle(r, 0.0);
                }
                if request.response_format.is_some() && rejects_response_format(&failed.error) {
                    self.structured_off.store(true, Ordering::Relaxed);
                    return Ok(Fetched::FormatRejected);
                }
                let message = failed.to_string();
                if failed.error.is_fatal() {
                    self.stop(StopReason::Fatal, message);
                    return Err(Abandoned);
                }
                if self.config.fail_fast {
                    self.stop(StopReason::FailFast, message);
                    return Err(Abandoned);
                }
                Ok(Fetched::Failed(message))
            }
        }
    }

    fn cache_failed(&self, e: CacheError) -> Abandoned {
        let mut guard = self.cache_error.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(e);
        }
        drop(guard);
        self.stop(StopReason::Fatal, "the cache failed".into());
        Abandoned
    }

    /// The cost of an answer: its reported usage, or an estimate when it reported none.
    fn cost_of(&self, request: &ChatRequest, completion: &Completion) -> Option<f64> {
        let price = self.price?;
        Some(price.cost(usage_or_estimate(request, completion)))
    }
}

/// Whether an error is the endpoint refusing structured output (`response_format`).
fn rejects_response_format(error: &crate::backend::CallError) -> bool {
    match error {
        crate::backend::CallError::Status {
            status: 400 | 422,
            message,
            ..
        } => {
            let m = message.to_ascii_lowercase();
            m.contains("response_format")
                || m.contains("json_schema")
                || m.contains("response format")
        }
        _ => false,
    }
}

fn usage_or_estimate(request: &ChatRequest, completion: &Completion) -> TokenUsage {
    completion.usage.unwrap_or_else(|| TokenUsage {
        prompt_tokens: estimate_prompt_tokens(request),
        completion_tokens: estimate_tokens(&completion.content),
    })
}

struct ItemPlan {
    /// The units whose calls are made.
    call_units: Vec<Unit>,
    /// For score comparisons, the pairs to build from the single units.
    score_pairs: Vec<(String, String)>,
    /// Judgments the item will give.
    judgments: u64,
}

fn plan_item(shared: &Shared, item: &Item) -> Result<ItemPlan, SkipReason> {
    let kind = shared.prompt.kind();
    if shared.prompt.needs_reference() && item.reference.is_none() {
        return Err(SkipReason::NoReference);
    }
    if let Some(field) = shared.prompt.missing_field(item) {
        return Err(SkipReason::MissingField(field));
    }
    if shared.config.compare_scores && !kind.is_pairwise() {
        let pairs = crate::protocol::pairs(item, &shared.config.pairing)?;
        let mut models: Vec<String> = Vec::new();
        for (a, b) in &pairs {
            for m in [a, b] {
                if !models.contains(m) {
                    models.push(m.clone());
                }
            }
        }
        return Ok(ItemPlan {
            call_units: models
                .into_iter()
                .map(|model| Unit::Single { model })
                .collect(),
            judgments: pairs.len() as u64,
            score_pairs: pairs,
        });
    }
    let call_units = units(item, kind, &shared.config.pairing)?;
    Ok(ItemPlan {
        judgments: call_units.len() as u64,
        call_units,
        score_pairs: Vec::new(),
    })
}

/// The (order, sample) slots of a unit's calls.
fn call_slots(shared: &Shared, unit: &Unit) -> Vec<(Order, u32)> {
    let orders: &[Order] = match unit {
        Unit::Pair { .. } if shared.config.swap => &[Order::AB, Order::BA],
        Unit::Pair { .. } => &[Order::AB],
        Unit::Single { .. } => &[Order::Single],
    };
    let samples = shared.config.samples.max(1);
    orders
        .iter()
        .flat_map(|&o| (0..samples).map(move |s| (o, s)))
        .collect()
}

fn view_of<'a>(item: &'a Item, unit: &'a Unit, order: Order) -> Option<View<'a>> {
    let shown = match unit {
        Unit::Pair { a, b } => {
            let (first_model, second_model) = match order {
                Order::BA => (b.as_str(), a.as_str()),
                _ => (a.as_str(), b.as_str()),
            };
            Shown::Pair {
                first_model,
                first: item.response(first_model)?,
                second_model,
                second: item.response(second_model)?,
            }
        }
        Unit::Single { model } => Shown::Single {
            model,
            response: item.response(model)?,
        },
    };
    Some(View { item, shown })
}

fn build_request(shared: &Shared, messages: Vec<ChatMessage>, sample: u32) -> ChatRequest {
    let s = &shared.config.sampling;
    let mut r = ChatRequest::new(shared.config.model.clone(), messages);
    r.temperature = s.temperature;
    r.top_p = s.top_p;
    r.max_tokens = s.max_tokens;
    r.seed = s.seed.map(|seed| seed.wrapping_add(u64::from(sample)));
    if s.logprobs {
        r.logprobs = Some(true);
        r.top_logprobs = s.top_logprobs;
    }
    if s.structured && !shared.structured_off.load(Ordering::Relaxed) {
        r.response_format = shared.prompt.response_format();
    }
    r.extra = s.extra.clone();
    r
}

async fn judge_item(shared: Arc<Shared>, item: Arc<Item>) -> ItemOutcome {
    let plan = match plan_item(&shared, &item) {
        Ok(p) => p,
        Err(reason) => return ItemOutcome::Skipped(reason),
    };
    let kind = shared.prompt.kind();
    let unit_results = futures::future::join_all(
        plan.call_units
            .iter()
            .map(|u| judge_unit(&shared, &item, u, kind)),
    )
    .await;
    let mut judgments = Vec::with_capacity(unit_results.len());
    for r in unit_results {
        match r {
            Ok(j) => judgments.push(j),
            Err(Abandoned) => return ItemOutcome::Abandoned,
        }
    }
    if plan.score_pairs.is_empty() {
        return ItemOutcome::Done(judgments);
    }
    let by_model = |m: &str| {
        judgments
            .iter()
            .find(|j| j.label.model.as_deref() == Some(m))
    };
    let mut pairs = Vec::with_capacity(plan.score_pairs.len());
    for (a, b) in &plan.score_pairs {
        if let (Some(ja), Some(jb)) = (by_model(a), by_model(b)) {
            pairs.push(scores_pair_judgment(&shared.info, ja, jb, a, b));
        }
    }
    ItemOutcome::Done(pairs)
}

async fn judge_unit(
    shared: &Shared,
    item: &Item,
    unit: &Unit,
    kind: Kind,
) -> Result<Judgment, Abandoned> {
    let slots = call_slots(shared, unit);
    let calls = futures::future::join_all(
        slots
            .iter()
            .map(|&(order, sample)| judge_call(shared, item, unit, order, sample)),
    )
    .await;
    let mut evidence = Vec::with_capacity(calls.len());
    let mut totals = Totals::default();
    for c in calls {
        let (e, t) = c?;
        evidence.push(e);
        totals.merge(t);
    }
    let totals = totals.finish();
    Ok(match unit {
        Unit::Pair { a, b } => {
            pairwise_judgment(&shared.info, &item.id, a, b, kind, &evidence, &totals)
        }
        Unit::Single { model } => {
            pointwise_judgment(&shared.info, &item.id, model, kind, &evidence, &totals)
        }
    })
}

#[derive(Default)]
struct Totals {
    usage: Option<Usage>,
    cost: Option<f64>,
    latency_ms: u64,
    calls: u32,
    cached: u32,
    reported_model: Option<String>,
    system_fingerprint: Option<String>,
}

impl Totals {
    fn add_answer(&mut self, usage: TokenUsage, cost: Option<f64>, cached: bool, latency_ms: u64) {
        let u = self.usage.get_or_insert(Usage::default());
        u.prompt_tokens += usage.prompt_tokens;
        u.completion_tokens += usage.completion_tokens;
        if let Some(c) = cost {
            *self.cost.get_or_insert(0.0) += c;
        }
        self.calls += 1;
        if cached {
            self.cached += 1;
        } else {
            self.latency_ms += latency_ms;
        }
    }

    fn merge(&mut self, other: Totals) {
        if let Some(u) = other.usage {
            let mine = self.usage.get_or_insert(Usage::default());
            mine.prompt_tokens += u.prompt_tokens;
            mine.completion_tokens += u.completion_tokens;
        }
        if let Some(c) = other.cost {
            *self.cost.get_or_insert(0.0) += c;
        }
        self.latency_ms += other.latency_ms;
        self.calls += other.calls;
        self.cached += other.cached;
        if self.reported_model.is_none() {
            self.reported_model = other.reported_model;
        }
        if self.system_fingerprint.is_none() {
            self.system_fingerprint = other.system_fingerprint;
        }
    }

    fn finish(self) -> CallTotals {
        CallTotals {
            usage: self.usage,
            cost_usd: self.cost,
            latency_ms: Some(self.latency_ms),
            cached: (self.calls > 0).then_some(self.cached == self.calls),
            reported_model: self.reported_model,
            system_fingerprint: self.system_fingerprint,
        }
    }
}

/// One presentation order and sample of a unit, with its re-asks.
async fn judge_call(
    shared: &Shared,
    item: &Item,
    unit: &Unit,
    order: Order,
    sample: u32,
) -> Result<(Evidence, Totals), Abandoned> {
    let mut totals = Totals::default();
    let failed = |message: String, raw: Option<String>| Evidence {
        order,
        sample,
        verdict: Err(message),
        failed: true,
        raw,
        rationale: None,
        extra: Map::new(),
    };
    let progress = &shared.progress;
    let Some(view) = view_of(item, unit, order) else {
        return Ok((failed("the response is missing".into(), None), totals));
    };
    let (messages, render_notes) = match shared.prompt.render_noted(&view) {
        Ok(r) => (r.messages, r.notes),
        Err(e) => {
            return Ok((
                failed(format!("cannot render the prompt: {e}"), None),
                totals,
            ));
        }
    };
    let mut request = build_request(shared, messages, sample);
    let mut reasks = 0u32;
    loop {
        let fetched = shared.fetch(&request, sample).await?;
        if matches!(fetched, Fetched::FormatRejected) {
            request.response_format = None;
            continue;
        }
        progress.calls.fetch_add(1, Ordering::Relaxed);
        let (completion, cached, latency_ms) = match fetched {
            Fetched::Failed(message) => {
                progress.failed.fetch_add(1, Ordering::Relaxed);
                let mut e = failed(message, None);
                if reasks > 0 {
                    e.extra.insert("reasks".into(), Value::from(reasks));
                }
                return Ok((e, totals));
            }
            Fetched::Answer {
                completion,
                cached,
                latency_ms,
            } => (completion, cached, latency_ms),
            Fetched::FormatRejected => continue,
        };
        if cached {
            progress.cached.fetch_add(1, Ordering::Relaxed);
        } else {
            progress.sent.fetch_add(1, Ordering::Relaxed);
        }
        let cost = shared.cost_of(&request, &completion);
        if cached && let Some(c) = cost {
            Progress::add_cost(&progress.saved_nano_usd, c);
        }
        totals.add_answer(
            usage_or_estimate(&request, &completion),
            cost,
            cached,
            latency_ms,
        );
        if totals.reported_model.is_none() {
            totals.reported_model = completion.model.clone();
        }
        if totals.system_fingerprint.is_none() {
            totals.system_fingerprint = completion.system_fingerprint.clone();
        }
        let truncated = completion.truncated();
        if truncated {
            progress.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let reading = shared.prompt.read(&view, &completion);
        let mut extra = render_notes.clone();
        extra.extend(reading.notes);
        if truncated {
            extra.insert("truncated".into(), Value::Bool(true));
        }
        if reasks > 0 {
            extra.insert("reasks".into(), Value::from(reasks));
        }
        match reading.parsed {
            Ok(parsed) => {
                return Ok((
                    Evidence {
                        order,
                        sample,
                        verdict: Ok(map_verdict(&parsed.verdict, order)),
                        failed: false,
                        raw: Some(completion.content),
                        rationale: parsed.rationale,
                        extra,
                    },
                    totals,
                ));
            }
            Err(error) if reasks < shared.config.reask => {
                reasks += 1;
                progress.reasks.fetch_add(1, Ordering::Relaxed);
                let follow_up = shared.prompt.reask(&error);
                request
                    .messages
                    .push(ChatMessage::new("assistant", completion.content));
                request.messages.push(ChatMessage::new("user", follow_up));
            }
            Err(error) => {
                progress.parse_failures.fetch_add(1, Ordering::Relaxed);
                let error = if truncated {
                    format!("{error} (the answer was cut off at the token limit)")
                } else {
                    error
                };
                return Ok((
                    Evidence {
                        order,
                        sample,
                        verdict: Err(error),
                        failed: false,
                        raw: Some(completion.content),
                        rationale: None,
                        extra,
                    },
                    totals,
                ));
            }
        }
    }
}

/// Whether a judgment has a label (for callers counting outcomes).
pub fn is_labelled(j: &Judgment) -> bool {
    !matches!(j.label.label, LabelValue::Missing)
}
