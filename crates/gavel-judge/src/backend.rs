//! The model backend: chat completions over HTTP on any OpenAI-compatible server (OpenAI, vLLM,
//! SGLang, TGI, llama.cpp, Ollama...), with retries, rate limits and several endpoints.
//!
//! One [`Backend`] serves one judge model over one or more [`Endpoint`]s. A call
//! ([`Backend::complete`]) picks an endpoint that is not cooling down (round robin), waits for
//! that endpoint's request and token rate limits, sends the request, and on a 429, a 5xx, a
//! timeout, a broken connection or a malformed body retries with exponential backoff and jitter,
//! honouring `Retry-After` (and `retry-after-ms`). A 429 or a 503 with `Retry-After`, and an
//! endpoint that cannot be reached, put that endpoint in a cool-down that every call respects, so
//! a rate-limited server is not hammered by the other calls; with several endpoints the call fails
//! over to another one at once. Authentication and "not found" errors are fatal: retrying them
//! cannot help, and they are not the item's fault.
//!
//! The serde types are our own and tolerant: unknown fields are kept, `finish_reason` may be
//! `""` or `null` (vLLM, Ollama), `content` may be a list of text parts.
//!
//! The API key lives in an [`ApiKey`], which never prints itself; error text never includes it
//! (response bodies of authentication errors are dropped, since some servers echo a masked key,
//! and any other body is scrubbed of it).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One chat message as sent to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with this role and text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A chat-completions request: exactly the fields sent, which are also exactly the fields that
/// key the cache (see [`crate::cache::request_key`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The model name as the endpoint knows it.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A sampling seed, for endpoints that honour one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to return log-probabilities of the output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives to return per token with `logprobs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Structured output: `{"type": "json_schema", "json_schema": {...}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Any further body fields the user asked for (passed through, and part of the cache key).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request with default sampling.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            messages,
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            logprobs: None,
            top_logprobs: None,
            response_format: None,
            extra: Map::new(),
        }
    }

    /// The characters of all messages, for token estimates.
    pub fn prompt_chars(&self) -> usize {
        self.messages.iter().map(|m| m.content.len()).sum()
    }
}

/// Token usage as reported by the endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl TokenUsage {
    /// Adds another usage to this one.
    pub fn add(&mut self, other: TokenUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// What the endpoint answered, reduced to what judging needs; this is what the cache stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The assistant's text (empty when the endpoint sent none).
    pub content: String,
    /// `stop`, `length`, ...; `None` when the endpoint sent `null` or `""`.
    pub finish_reason: Option<String>,
    /// Token usage, when reported.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    /// `choices[0].logprobs` as sent, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// The model the endpoint says answered (often a dated version of the requested name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The backend configuration the endpoint reports (`system_fingerprint`), when it does:
    /// a change means the same model name may answer differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

impl Completion {
    /// Whether generation stopped at the token limit (`finish_reason: "length"`).
    pub fn truncated(&self) -> bool {
        matches!(self.finish_reason.as_deref(), Some("length" | "max_tokens"))
    }
}

/// An API key. It prints as `***` and is only ever written into the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (an empty string is no key).
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(ApiKey(trimmed.to_string()))
        }
    }

    /// Removes every occurrence of the key from a text.
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Which wire protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// OpenAI chat completions (`POST {base}/chat/completions`).
    #[default]
    OpenAi,
    /// Anthropic Messages (`POST {base}/messages`).
    Anthropic,
}

/// One server that can answer for the judge model.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The base URL, e.g. `https://api.openai.com/v1` or `http://localhost:8000/v1`.
    pub base_url: String,
    /// The wire protocol.
    pub api: Api,
    /// The key, if the server needs one.
    pub api_key: Option<ApiKey>,
    /// Further headers sent with every request (organisation, project, routing...).
    pub headers: Vec<(String, String)>,
    /// The most requests a minute to this endpoint.
    pub requests_per_minute: Option<u32>,
    /// The most tokens a minute to this endpoint (prompt estimate plus `max_tokens`).
    pub tokens_per_minute: Option<u32>,
}

impl Endpoint {
    /// An OpenAI-compatible endpoint with no key, headers or limits.
    pub fn new(base_url: impl Into<String>) -> Endpoint {
        Endpoint {
            base_url: base_url.into(),
            api: Api::OpenAi,
            api_key: None,
            headers: Vec::new(),
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }
}

/// How calls are made and retried.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The longest a single attempt may take, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// The longest connecting may take.
    pub connect_timeout: Duration,
    /// Retries after the first attempt (so `max_retries + 1` attempts at most).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry.
    pub backoff_base: Duration,
    /// The longest backoff, and the most a `Retry-After` is honoured.
    pub backoff_max: Duration,
    /// Idle connections kept per host (set it to the concurrency).
    pub pool_size: usize,
}

impl Default for BackendOptions {
    fn default() -> BackendOptions {
        BackendOptions {
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            pool_size: 16,
        }
    }
}

/// Errors building a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No endpoint was given.
    #[error("no endpoint given")]
    NoEndpoint,
    /// A base URL that is not `http://` or `https://`.
    #[error("base URL `{0}` must start with http:// or https://")]
    BadUrl(String),
    /// A header that HTTP does not allow.
    #[error("header `{0}` is not a valid HTTP header")]
    BadHeader(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Why one attempt (or, after the last retry, one call) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error status.
    #[error("{endpoint} answered HTTP {status}{}", message_suffix(.message))]
    Status {
        /// Where.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The server's error message (scrubbed of the key; none for 401/403).
        message: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    #[error("{endpoint} did not answer within {seconds:.0} s")]
    Timeout {
        /// Where.
        endpoint: String,
        /// The time limit.
        seconds: f64,
    },
    /// The connection failed or broke.
    #[error("connection to {endpoint} failed: {message}")]
    Connection {
        /// Where.
        endpoint: String,
        /// What the client said.
        message: String,
    },
    /// The body was not a chat completion.
    #[error("{endpoint} sent a malformed answer: {message}")]
    Malformed {
        /// Where.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl CallError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Status { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429) || *status >= 500
            }
            CallError::Timeout { .. }
            | CallError::Connection { .. }
            | CallError::Malformed { .. } => true,
        }
    }

    /// Whether the error means every call will fail (bad key, no such model or route), so the
    /// run should stop rather than record each item as failed.
    pub fn is_fatal(&self) -> bool {
        matches!(self, CallError::Status { status, .. } if matches!(status, 401 | 403 | 404))
    }
}

/// A call that succeeded, possibly after retries.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The answer.
    pub completion: Completion,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Wall time from the first attempt to the answer.
    pub latency: Duration,
}

/// A call that failed after its last retry (or at once, for an error retrying cannot fix).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error} (after {attempts} attempt{})", if *.attempts == 1 { "" } else { "s" })]
pub struct Failed {
    /// The last error.
    #[source]
    pub error: CallError,
    /// Attempts made.
    pub attempts: u32,
}

/// Counters shared with whoever watches the run (the CLI's progress bar).
#[derive(Debug, Default)]
pub struct BackendCounters {
    /// HTTP requests sent (every attempt).
    pub requests: AtomicU64,
    /// Attempts that were retried.
    pub retries: AtomicU64,
    /// Calls that failed after their last retry.
    pub failed: AtomicU64,
}

/// The chat backend for one judge model.
pub struct Backend {
    client: reqwest::Client,
    endpoints: Vec<EndpointState>,
    options: BackendOptions,
    next: AtomicUsize,
    rng: AtomicU64,
    counters: Arc<BackendCounters>,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field(
                "endpoints",
                &self.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

struct EndpointState {
    url: String,
    /// The base URL without any user:password part, for messages.
    name: String,
    api: Api,
    headers: HeaderMap,
    key: Option<ApiKey>,
    requests: Option<RateLimiter>,
    tokens: Option<RateLimiter>,
    cooling_until: Mutex<Option<Instant>>,
}

static INSTALL_TLS_PROVIDER: std::sync::Once = std::sync::Once::new();

impl Backend {
    /// Builds a backend over these endpoints.
    pub fn new(endpoints: Vec<Endpoint>, options: BackendOptions) -> Result<Backend, BackendError> {
        if endpoints.is_empty() {
            return Err(BackendError::NoEndpoint);
        }
        INSTALL_TLS_PROVIDER.call_once(|| {
            // Another part of the program may have installed one already; either is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let states = endpoints
            .into_iter()
            .map(EndpointState::new)
            .collect::<Result<Vec<_>, _>>()?;
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(options.pool_size.max(1))
            .tcp_nodelay(true)
            .user_agent(concat!("gavel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BackendError::Client)?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Ok(Backend {
            client,
            endpoints: states,
            options,
            next: AtomicUsize::new(0),
            rng: AtomicU64::new(seed),
            counters: Arc::new(BackendCounters::default()),
        })
    }

    /// The counters (requests, retries, failures).
    pub fn counters(&self) -> Arc<BackendCounters> {
        self.counters.clone()
    }

    /// The endpoints' names (base URLs without credentials).
    pub fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    /// Makes one call, retrying as the options allow.
    pub async fn complete(&self, request: &ChatRequest) -> Result<Answered, Failed> {
        let started = Instant::now();
        let est_tokens = crate::cost::estimate_tokens_chars(request.prompt_chars())
            + u64::from(request.max_tokens.unwrap_or(0));
        let mut bodies: [Option<Vec<u8>>; 2] = [None, None];
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let index = self.pick_endpoint().await;
            let endpoint = &self.endpoints[index];
            if let Some(limit) = &endpoint.requests {
                limit.acquire(1.0).await;
            }
            if let Some(limit) = &endpoint.tokens {
                limit.acquire(est_tokens as f64).await;
            }
            let slot = match endpoint.api {
                Api::OpenAi => 0,
                Api::Anthropic => 1,
            };
            let body = match &mut bodies[slot] {
                Some(b) => b.clone(),
                empty => {
                    let b = encode_body(endpoint.api, request);
                    *empty = Some(b.clone());
                    b
                }
            };
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let result = self.attempt(endpoint, body).await;
            let error = match result {
                Ok(completion) => {
                    return Ok(Answered {
                        completion,
                        attempts,
                        latency: started.elapsed(),
                    });
                }
                Err(e) => e,
            };
            if error.is_fatal() || !error.is_retryable() || attempts > self.options.max_retries {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(Failed { error, attempts });
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            let wait = self.backoff(attempts, &error);
            let endpoint_wide = match &error {
                CallError::Status {
                    status,
                    retry_after,
                    ..
                } => *status == 429 || (*status == 503 && retry_after.is_some()),
                CallError::Connection { .. } => true,
                _ => false,
            };
            if endpoint_wide {
                endpoint.cool_down(wait);
            }
            // Fail over at once when another endpoint is ready; otherwise wait our turn.
            if !(self.endpoints.len() > 1 && self.any_ready(index)) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn attempt(
        &self,
        endpoint: &EndpointState,
        body: Vec<u8>,
    ) -> Result<Completion, CallError> {
        let url = match endpoint.api {
            Api::OpenAi => format!("{}/chat/completions", endpoint.url),
            Api::Anthropic => format!("{}/messages", endpoint.url),
        };
        let mut builder = self
            .client
            .post(url)
            .headers(endpoint.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &endpoint.key {
            builder = match endpoint.api {
                Api::OpenAi => builder.bearer_auth(&key.0),
                Api::Anthropic => builder.header("x-api-key", &key.0),
            };
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_error(endpoint, &e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(endpoint, &e))?;
        if !(200..300).contains(&status) {
            let message = if matches!(status, 401 | 403) {
                // Some servers echo a masked key back; say nothing of it.
                match status {
                    401 => "authentication failed; check the API key".to_string(),
                    _ => "permission denied".to_string(),
                }
            } else {
                let text = error_message(&bytes);
                match &endpoint.key {
                    Some(k) => k.scrub(&text),
                    None => text,
                }
            };
            return Err(CallError::Status {
                endpoint: endpoint.name.clone(),
                status,
                message,
                retry_after,
            });
        }
        let parsed = match endpoint.api {
            Api::OpenAi => decode_openai(&bytes),
            Api::Anthropic => decode_anthropic(&bytes),
        };
        parsed.map_err(|message| CallError::Malformed {
            endpoint: endpoint.name.clone(),
            message: match &endpoint.key {
                Some(k) => k.scrub(&message),
                None => message,
            },
        })
    }

    fn transport_error(&self, endpoint: &EndpointState, error: &reqwest::Error) -> CallError {
        if error.is_timeout() {
            return CallError::Timeout {
                endpoint: endpoint.name.clone(),
                seconds: self.options.timeout.as_secs_f64(),
            };
        }
        // reqwest's messages name the URL and the cause; the key is only in a header, which
        // reqwest never prints. Show the URL without credentials, and walk the chain for the
        // useful part.
        let mut message = error.to_string().replace(&endpoint.url, &endpoint.name);
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        if let Some(k) = &endpoint.key {
            message = k.scrub(&message);
        }
        CallError::Connection {
            endpoint: endpoint.name.clone(),
            message,
        }
    }

    /// The wait before the next attempt: `Retry-After` when the server gave one (capped at
    /// `backoff_max`), otherwise `base * 2^(attempt-1)` capped, times a random factor in
    /// [0.5, 1) so that many calls failing together do not retry together.
    fn backoff(&self, attempts: u32, error: &CallError) -> Duration {
        if let CallError::Status {
            retry_after: Some(wait),
            ..
        } = error
        {
            return (*wait).min(self.options.backoff_max);
        }
        let exp = attempts.saturating_sub(1).min(20);
        let raw = self
            .options
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.options.backoff_max);
        raw.mul_f64(0.5 + 0.5 * self.random_unit())
    }

    fn random_unit(&self) -> f64 {
        // splitmix64 over an atomic counter: good enough for jitter, no dependency.
        let x = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn any_ready(&self, except: usize) -> bool {
        let now = Instant::now();
        self.endpoints
            .iter()
            .enumerate()
            .any(|(i, e)| i != except && e.ready_at(now).is_none())
    }

    /// The next endpoint in round-robin order that is not cooling down; when all are, waits for
    /// the first to be ready.
    async fn pick_endpoint(&self) -> usize {
        let n = self.endpoints.len();
        loop {
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let mut soonest: Option<(Instant, usize)> = None;
            for k in 0..n {
                let i = (start + k) % n;
                match self.endpoints[i].ready_at(now) {
                    None => return i,
                    Some(t) => {
                        if soonest.is_none_or(|(s, _)| t < s) {
                            soonest = Some((t, i));
                        }
                    }
                }
            }
            if let Some((t, _)) = soonest {
                tokio::time::sleep_until(t.into()).await;
            }
        }
    }
}

impl EndpointState {
    fn new(e: Endpoint) -> Result<EndpointState, BackendError> {
        let url = e.base_url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(BackendError::BadUrl(strip_credentials(&url)));
        }
        let name = strip_credentials(&url);
        let mut headers = HeaderMap::new();
        for (k, v) in &e.headers {
            let name = HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| BackendError::BadHeader(k.clone()))?;
            let value =
                HeaderValue::from_str(v.trim()).map_err(|_| BackendError::BadHeader(k.clone()))?;
            if name == AUTHORIZATION {
                let mut value = value;
                value.set_sensitive(true);
                headers.insert(name, value);
            } else {
                headers.insert(name, value);
            }
        }
        if e.api == Api::Anthropic && !headers.contains_key("anthropic-version") {
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static("2023-06-01"),
            );
        }
        Ok(EndpointState {
            url,
            name,
            api: e.api,
            headers,
            key: e.api_key,
            requests: e
                .requests_per_minute
                .filter(|&n| n > 0)
                .map(|n| RateLimiter::per_minute(f64::from(n))),
            tokens: e
                .tokens_per_minute
                .filter(|&n| n > 0)
                .map(|n| RateLimiter::per_minute(f64::from(n))),
            cooling_until: Mutex::new(None),
        })
    }

    fn ready_at(&self, now: Instant) -> Option<Instant> {
        let guard = self.cooling_until.lock().unwrap_or_else(|e| e.into_inner());
        guard.filter(|&t| t > now)
    }

    fn cool_down(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.cooling_until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
    }
}

/// `scheme://user:pass@host/...` without the `user:pass@` part.
fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{}{path}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

/// A token bucket: `capacity` units, refilled continuously at `capacity` per minute. A request
/// larger than the bucket is let through when the bucket is full (it would never fit otherwise)
/// and leaves it in debt.
struct RateLimiter {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    fn per_minute(n: f64) -> RateLimiter {
        RateLimiter {
            capacity: n,
            per_second: n / 60.0,
            state: Mutex::new((n, Instant::now())),
        }
    }

    async fn acquire(&self, amount: f64) {
        loop {
            let wait = {
                let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
                match self.take(&mut guard, amount, Instant::now()) {
                    Ok(()) => return,
                    Err(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `amount` from the bucket as of `now`, or says how long until it can.
    fn take(&self, state: &mut (f64, Instant), amount: f64, now: Instant) -> Result<(), Duration> {
        let (tokens, last) = state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.capacity);
        *last = now;
        let need = amount.min(self.capacity);
        if *tokens >= need {
            *tokens -= amount;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - *tokens) / self.per_second))
        }
    }
}

/// `Retry-After` in seconds or as an HTTP date, or OpenAI's `retry-after-ms`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite() && *x >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = parse_http_date(value)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(Duration::from_secs(when.saturating_sub(now).max(0) as u64))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 section 5.6.7) into Unix
/// seconds. The obsolete forms are not read; a server sending them gets the default backoff.
fn parse_http_date(s: &str) -> Option<i64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The error message of an error body: OpenAI's `error.message` when present, otherwise the
/// start of the body.
fn error_message(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let m = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str);
        if let Some(m) = m {
            return shorten(m, 300);
        }
    }
    shorten(&String::from_utf8_lossy(bytes), 300)
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn encode_body(api: Api, request: &ChatRequest) -> Vec<u8> {
    match api {
        // Serializing plain strings and numbers cannot fail.
        Api::OpenAi => serde_json::to_vec(request).unwrap_or_default(),
        Api::Anthropic => serde_json::to_vec(&anthropic_body(request)).unwrap_or_default(),
    }
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(flatten)]
    _extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireMessage>,
    /// Completions-style servers put the text here.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<Value>,
    #[serde(default)]
    logprobs: Option<Value>,
    #[serde(flatten)]
    _extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(flatten)]
    _extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    /// Anthropic's names.
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(flatten)]
    _extra: Map<String, Value>,
}

impl WireUsage {
    fn usage(&self) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens.or(self.input_tokens).unwrap_or(0),
            completion_tokens: self.completion_tokens.or(self.output_tokens).unwrap_or(0),
        }
    }
}

/// Text from a `content` that is a string or a list of parts (`[{"type": "text", "text":
/// ...}]`).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                _ => p.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn finish_reason(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn decode_openai(bytes: &[u8]) -> Result<Completion, String> {
    let wire: WireResponse =
        serde_json::from_slice(bytes).map_err(|e| format!("not a chat completion: {e}"))?;
    let Some(choice) = wire.choices.into_iter().next() else {
        return Err("the answer has no choices".into());
    };
    let content = match (&choice.message, &choice.text) {
        (Some(m), _) => m.content.as_ref().map(content_text).unwrap_or_default(),
        (None, Some(t)) => t.clone(),
        (None, None) => String::new(),
    };
    Ok(Completion {
        content,
        finish_reason: finish_reason(choice.finish_reason.as_ref()),
        usage: wire.usage.as_ref().map(WireUsage::usage),
        logprobs: choice.logprobs.filter(|v| !v.is_null()),
        model: wire.model,
        system_fingerprint: wire.system_fingerprint.filter(|f| !f.is_empty()),
    })
}

fn anthropic_body(request: &ChatRequest) -> Value {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == "system")
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != "system")
        .map(|m| serde_json::json!({"role": m.role, "content": m.content}))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), Value::String(request.model.clone()));
    // The Messages API requires max_tokens.
    body.insert(
        "max_tokens".into(),
        Value::from(request.max_tokens.unwrap_or(1024)),
    );
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::String(system.join("\n\n")));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), Value::from(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), Value::from(p));
    }
    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    Value::Object(body)
}

fn decode_anthropic(bytes: &[u8]) -> Result<Completion, String> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(default)]
        content: Vec<Value>,
        #[serde(default)]
        stop_reason: Option<Value>,
        #[serde(default)]
        usage: Option<WireUsage>,
        #[serde(default)]
        model: Option<String>,
    }
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Messages answer: {e}"))?;
    let content = wire
        .content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("");
    Ok(Completion {
        content,
        finish_reason: finish_reason(wire.stop_reason.as_ref()),
        usage: wire.usage.as_ref().map(WireUsage::usage),
        logprobs: None,
        model: wire.model,
        system_fingerprint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_server_quirks() {
        let c = decode_openai(
            br#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":""}],"weird":1}"#,
        )
        .unwrap();
        assert_eq!(c.content, "hi");
        assert_eq!(c.finish_reason, None);
        assert_eq!(c.usage, None);
        let c = decode_openai(
            br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":null}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{}}}"#,
        )
        .unwrap();
        assert_eq!(c.content, "ab");
        assert_eq!(c.usage.unwrap().completion_tokens, 4);
        let c =
            decode_openai(br#"{"choices":[{"text":"plain","finish_reason":"length"}]}"#).unwrap();
        assert!(c.truncated());
        assert!(decode_openai(br#"{"choices":[]}"#).is_err());
        assert!(decode_openai(br#"{"choices":[{"#).is_err());
    }

    #[test]
    fn reads_anthropic_answers() {
        let c = decode_anthropic(
            br#"{"content":[{"type":"text","text":"[[B]]"}],"stop_reason":"max_tokens","usage":{"input_tokens":5,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(c.content, "[[B]]");
        assert!(c.truncated());
        assert_eq!(c.usage.unwrap().prompt_tokens, 5);
        let mut r = ChatRequest::new(
            "claude",
            vec![
                ChatMessage::new("system", "be fair"),
                ChatMessage::new("user", "q"),
            ],
        );
        r.temperature = Some(0.0);
        let b = anthropic_body(&r);
        assert_eq!(b["system"], "be fair");
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
        assert_eq!(b["max_tokens"], 1024);
    }

    #[test]
    fn request_body_has_only_what_was_set() {
        let mut r = ChatRequest::new("m", vec![ChatMessage::new("user", "q")]);
        r.temperature = Some(0.0);
        r.seed = Some(3);
        let v: Value = serde_json::from_slice(&encode_body(Api::OpenAi, &r)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"model":"m","messages":[{"role":"user","content":"q"}],"temperature":0.0,"seed":3})
        );
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("soon"), None);
    }

    #[test]
    fn names_hide_credentials() {
        assert_eq!(
            strip_credentials("https://user:pw@host:8000/v1"),
            "https://host:8000/v1"
        );
        assert_eq!(strip_credentials("http://h/v1"), "http://h/v1");
        let key = ApiKey::new(" sk-secret ").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert_eq!(key.scrub("bad key sk-secret"), "bad key [redacted]");
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn token_buckets_refill_at_their_rate() {
        let limit = RateLimiter::per_minute(60.0);
        let t0 = Instant::now();
        let mut state = (60.0, t0);
        for _ in 0..60 {
            assert!(limit.take(&mut state, 1.0, t0).is_ok());
        }
        // The 61st request in the same instant waits about a second.
        let wait = limit.take(&mut state, 1.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9, "{wait:?}");
        assert!(
            limit
                .take(&mut state, 1.0, t0 + Duration::from_secs(1))
                .is_ok()
        );
        // A request larger than the bucket passes when the bucket is full, leaving a debt.
        let mut state = (60.0, t0);
        assert!(limit.take(&mut state, 100.0, t0).is_ok());
        let wait = limit.take(&mut state, 1.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 41.0).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn error_kinds() {
        let status = |s| CallError::Status {
            endpoint: "e".into(),
            status: s,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(status(401).is_fatal());
        assert!(!status(500).is_fatal());
        assert_eq!(status(500).to_string(), "e answered HTTP 500");
    }
}
