//! gavel-fake-openai: a scriptable server speaking the OpenAI chat-completions wire format, for
//! gavel's tests and benchmarks. Nothing here reaches the network: it listens on loopback.
//!
//! Key types: [`FakeOpenAi`] (a running server with its counters), [`Reply`] (what one request
//! gets: an answer, an HTTP error with `Retry-After`, a hang, a dropped connection, malformed
//! JSON) and [`ChatCall`] (the request a script decides on, with how often the same body was seen).
//!
//! ```
//! use gavel_fake_openai::{FakeOpenAi, Reply};
//! let server = FakeOpenAi::start(|call| {
//!     if call.attempt == 0 { Reply::status(429).retry_after("0") } else { Reply::text("[[A]]") }
//! }).unwrap();
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.stats().requests, 0);
//! ```
//!
//! The server also answers `GET /stats` (the counters as JSON) so that a benchmark driving the
//! binary can check how many calls it received. It is not a model: replies come from the script.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

/// One chat message of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A request as the script sees it.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// The requested model.
    pub model: String,
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// The whole request body.
    pub body: Value,
    /// How many requests the server had received before this one.
    pub n: u64,
    /// How many times this exact body was received before (0 on the first time).
    pub attempt: u32,
}

impl ChatCall {
    /// The text of the last user message (empty if none).
    pub fn last_user(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .unwrap_or("")
    }

    /// Every message's text joined by newlines.
    pub fn all_text(&self) -> String {
        let parts: Vec<&str> = self.messages.iter().map(|m| m.content.as_str()).collect();
        parts.join("\n")
    }

    /// Which of two strings appears first in the last user message: `Some(true)` when `first`
    /// does, `None` when either is missing. Scripts use it to tell the presentation order.
    pub fn shows_first(&self, first: &str, second: &str) -> Option<bool> {
        let text = self.last_user();
        let a = text.find(first)?;
        let b = text.find(second)?;
        Some(a < b)
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A 200 answer in the chat-completions shape.
    Answer(Answer),
    /// An HTTP error status with an optional `Retry-After` header and body.
    Status {
        /// The status code.
        code: u16,
        /// The `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// The body.
        body: String,
        /// How long to wait before answering.
        delay: Duration,
    },
    /// Never answers (the client must time out).
    Hang,
    /// Starts a 200 answer and breaks the connection in the middle of the body.
    Drop,
    /// A 200 answer whose body is not valid JSON.
    Malformed,
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The assistant message's content (`None` sends `"content": null`).
    pub content: Option<String>,
    /// `finish_reason` as sent: `"stop"`, `"length"`, or quirks such as `""` and `null`.
    pub finish_reason: Value,
    /// How long to wait before answering.
    pub delay: Duration,
    /// `usage` as sent; `None` computes a rough count (4 characters a token).
    pub usage: Option<(u64, u64)>,
    /// `choices[0].logprobs` as sent.
    pub logprobs: Value,
    /// Whether to leave `usage` out entirely (some servers do).
    pub omit_usage: bool,
}

impl Reply {
    /// An answer with this content and `finish_reason: "stop"`.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply::Answer(Answer {
            content: Some(content.into()),
            finish_reason: json!("stop"),
            delay: Duration::ZERO,
            usage: None,
            logprobs: Value::Null,
            omit_usage: false,
        })
    }

    /// An answer cut off by the token limit (`finish_reason: "length"`).
    pub fn truncated(content: impl Into<String>) -> Reply {
        Reply::text(content).finish_reason(json!("length"))
    }

    /// An HTTP error status with a small OpenAI-style error body.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: json!({"error": {"message": format!("scripted status {code}"), "type": "fake", "code": code}})
                .to_string(),
            delay: Duration::ZERO,
        }
    }

    /// Sets `Retry-After` on a status reply (ignored on others).
    pub fn retry_after(mut self, value: impl Into<String>) -> Reply {
        if let Reply::Status { retry_after, .. } = &mut self {
            *retry_after = Some(value.into());
        }
        self
    }

    /// Replaces the body of a status reply (ignored on others).
    pub fn body(mut self, text: impl Into<String>) -> Reply {
        if let Reply::Status { body, .. } = &mut self {
            *body = text.into();
        }
        self
    }

    /// Sets the `finish_reason` of an answer (ignored on others).
    pub fn finish_reason(mut self, reason: Value) -> Reply {
        if let Reply::Answer(a) = &mut self {
            a.finish_reason = reason;
        }
        self
    }

    /// Sets the token usage of an answer (ignored on others).
    pub fn usage(mut self, prompt: u64, completion: u64) -> Reply {
        if let Reply::Answer(a) = &mut self {
            a.usage = Some((prompt, completion));
        }
        self
    }

    /// Sets `choices[0].logprobs` of an answer (ignored on others).
    pub fn logprobs(mut self, logprobs: Value) -> Reply {
        if let Reply::Answer(a) = &mut self {
            a.logprobs = logprobs;
        }
        self
    }

    /// Leaves `usage` out of an answer (ignored on others).
    pub fn without_usage(mut self) -> Reply {
        if let Reply::Answer(a) = &mut self {
            a.omit_usage = true;
        }
        self
    }

    /// Waits this long before replying (answers and statuses).
    pub fn after(mut self, wait: Duration) -> Reply {
        match &mut self {
            Reply::Answer(a) => a.delay = wait,
            Reply::Status { delay, .. } => *delay = wait,
            _ => {}
        }
        self
    }
}

/// The server's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Chat-completion requests received (every attempt counts).
    pub requests: u64,
    /// Answers (status 200 with a complete body) sent.
    pub answered: u64,
    /// Requests whose exact body had been received before.
    pub repeated: u64,
    /// Distinct request bodies received.
    pub distinct: u64,
    /// Answers sent for a body that had already been answered: paid calls made twice.
    pub repeated_answers: u64,
    /// The most requests open at the same time.
    pub max_in_flight: u64,
}

type Script = dyn Fn(&ChatCall) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: AtomicU64,
    answered: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    bodies: Mutex<HashMap<Vec<u8>, u32>>,
    answers: Mutex<HashMap<Vec<u8>, u32>>,
    authorization: Mutex<HashSet<String>>,
    headers: Mutex<Vec<HeaderMap>>,
    keep_headers: bool,
}

/// A running fake server. Dropping it stops the server (open requests are abandoned).
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOpenAi")
            .field("addr", &self.addr)
            .finish()
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (port 0 picks a free one).
    pub bind: SocketAddr,
    /// Worker threads of the server's own runtime.
    pub threads: usize,
    /// Whether to keep every request's headers (for tests that inspect them).
    pub keep_headers: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: 2,
            keep_headers: false,
        }
    }
}

impl FakeOpenAi {
    /// Starts a server on a free loopback port, in its own thread and runtime, so that it
    /// works from synchronous tests and from inside another runtime alike.
    pub fn start(
        script: impl Fn(&ChatCall) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<FakeOpenAi> {
        FakeOpenAi::start_with(Options::default(), script)
    }

    /// Starts a server with the given options.
    pub fn start_with(
        options: Options,
        script: impl Fn(&ChatCall) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<FakeOpenAi> {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            bodies: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
            authorization: Mutex::new(HashSet::new()),
            headers: Mutex::new(Vec::new()),
            keep_headers: options.keep_headers,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .enable_all()
            .build()?;
        // Bound here (not inside the runtime) so that starting works from within another
        // runtime too, and the address is known before returning.
        let std_listener = std::net::TcpListener::bind(options.bind)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = app(shared.clone());
        let thread = std::thread::Builder::new()
            .name("fake-openai".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let serve = axum::serve(listener, app);
                    tokio::select! {
                        _ = serve => {}
                        _ = stop_rx => {}
                    }
                });
                // Hanging handlers would block a graceful shutdown forever.
                runtime.shutdown_background();
            })?;
        Ok(FakeOpenAi {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The base URL to give a client, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every distinct `Authorization` header value received.
    pub fn authorization_headers(&self) -> Vec<String> {
        let set = self
            .shared
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = set.iter().cloned().collect();
        v.sort();
        v
    }

    /// The headers of every request, in arrival order (kept only with `keep_headers`).
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.shared
            .headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn stats(&self) -> Stats {
        let bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        let repeated = bodies
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum();
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let repeated_answers = answers
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum();
        Stats {
            repeated_answers,
            requests: self.requests.load(Ordering::SeqCst),
            answered: self.answered.load(Ordering::SeqCst),
            repeated,
            distinct: bodies.len() as u64,
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
        }
    }
}

/// The routes, without a socket.
fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/messages", post(messages))
        .route("/stats", get(stats))
        .with_state(shared)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats()).into_response()
}

struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    OpenAi,
    Anthropic,
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(shared, headers, body, Flavour::OpenAi).await
}

/// Anthropic's Messages API, answered by the same script.
async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(shared, headers, body, Flavour::Anthropic).await
}

async fn handle(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Bytes,
    flavour: Flavour,
) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&shared.in_flight);
    let auth = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get("x-api-key"));
    if let Some(auth) = auth
        && let Ok(s) = auth.to_str()
    {
        shared
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.to_string());
    }
    if shared.keep_headers {
        shared
            .headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(headers.clone());
    }
    let attempt = {
        let mut bodies = shared.bodies.lock().unwrap_or_else(|e| e.into_inner());
        let count = bodies.entry(body.to_vec()).or_insert(0);
        *count += 1;
        *count - 1
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error_response(400, &format!("request body is not JSON: {e}"));
        }
    };
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut messages: Vec<Message> = parsed
        .get("messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| Message {
                    role: m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    content: m
                        .get("content")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(system) = parsed.get("system").and_then(Value::as_str) {
        messages.insert(
            0,
            Message {
                role: "system".into(),
                content: system.to_string(),
            },
        );
    }
    let call = ChatCall {
        model,
        messages,
        body: parsed,
        n,
        attempt,
    };
    let reply = (shared.script)(&call);
    match reply {
        Reply::Answer(answer) => {
            if !answer.delay.is_zero() {
                tokio::time::sleep(answer.delay).await;
            }
            let text = match flavour {
                Flavour::OpenAi => answer_body(&call, &answer, n),
                Flavour::Anthropic => anthropic_body(&call, &answer, n),
            };
            shared.answered.fetch_add(1, Ordering::SeqCst);
            *shared
                .answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(body.to_vec())
                .or_insert(0) += 1;
            let body = text;
            json_response(200, body)
        }
        Reply::Status {
            code,
            retry_after,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut response = json_response(code, body);
            if let Some(ra) = retry_after
                && let Ok(v) = ra.parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            error_response(504, "hung")
        }
        Reply::Drop => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"id\":\"chatcmpl-broken\",\"choices\":[")),
                Err(std::io::Error::other("connection dropped by script")),
            ];
            Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap_or_else(|_| error_response(500, "could not build response"))
        }
        Reply::Malformed => json_response(
            200,
            "{\"id\": \"chatcmpl-bad\", \"object\": \"chat.completion\", \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"[[A]]\"".to_string(),
        ),
    }
}

fn answer_body(call: &ChatCall, answer: &Answer, n: u64) -> String {
    let (prompt_tokens, completion_tokens) = answer.usage.unwrap_or_else(|| {
        let prompt_chars: usize = call.messages.iter().map(|m| m.content.len()).sum();
        let completion_chars = answer.content.as_deref().map(str::len).unwrap_or(0);
        (
            (prompt_chars as u64).div_ceil(4),
            (completion_chars as u64).div_ceil(4),
        )
    });
    let mut body = json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": call.model,
        "system_fingerprint": "fp_fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.content},
            "logprobs": answer.logprobs,
            "finish_reason": answer.finish_reason,
        }],
    });
    if !answer.omit_usage {
        body["usage"] = json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        });
    }
    body.to_string()
}

fn anthropic_body(call: &ChatCall, answer: &Answer, n: u64) -> String {
    let openai: Value = serde_json::from_str(&answer_body(call, answer, n)).unwrap_or_default();
    let stop_reason = match answer.finish_reason.as_str() {
        Some("length") => json!("max_tokens"),
        Some("stop") => json!("end_turn"),
        _ => answer.finish_reason.clone(),
    };
    json!({
        "id": format!("msg_{n}"),
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [{"type": "text", "text": answer.content}],
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": openai.pointer("/usage/prompt_tokens"),
            "output_tokens": openai.pointer("/usage/completion_tokens"),
        },
    })
    .to_string()
}

fn json_response(code: u16, body: String) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(code: u16, message: &str) -> Response {
    json_response(
        code,
        json!({"error": {"message": message, "type": "fake"}}).to_string(),
    )
}

/// A judge that answers every pairwise prompt deterministically from a hash of the request,
/// so that answers look varied but a rerun gets the same ones. Used by the benchmark binary.
pub fn hashed_pairwise_verdict(call: &ChatCall) -> Reply {
    let verdict = match fnv1a(call.all_text().as_bytes()) % 3 {
        0 => "[[A]]",
        1 => "[[B]]",
        _ => "[[C]]",
    };
    Reply::text(format!(
        "Both answers address the question; weighing accuracy and helpfulness, my verdict is {verdict}"
    ))
}

/// A fair pairwise judge for benchmarks: each response carries a `quality=N` tag; the verdict
/// names the shown response with the higher tag (`[[C]]` when equal or missing). Any client
/// rendering its own prompt around the same responses gets the same verdicts.
pub fn quality_verdict(call: &ChatCall) -> Reply {
    let text = call.last_user();
    let mut tags = text.match_indices("quality=").filter_map(|(at, tag)| {
        let digits: String = text[at + tag.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u32>().ok()
    });
    let verdict = match (tags.next(), tags.next()) {
        (Some(a), Some(b)) if a > b => "[[A]]",
        (Some(a), Some(b)) if b > a => "[[B]]",
        _ => "[[C]]",
    };
    Reply::text(format!(
        "Comparing the two answers for accuracy and helpfulness, my verdict is {verdict}"
    ))
}

/// A pointwise judge: `Rating: [[n]]` with n from a hash of the request.
pub fn hashed_rating(call: &ChatCall) -> Reply {
    let n = fnv1a(call.all_text().as_bytes()) % 10 + 1;
    Reply::text(format!("The answer is adequate. Rating: [[{n}]]"))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_first_tells_the_order() {
        let call = ChatCall {
            model: "m".into(),
            messages: vec![Message {
                role: "user".into(),
                content: "first: alpha, second: beta".into(),
            }],
            body: Value::Null,
            n: 0,
            attempt: 0,
        };
        assert_eq!(call.shows_first("alpha", "beta"), Some(true));
        assert_eq!(call.shows_first("beta", "alpha"), Some(false));
        assert_eq!(call.shows_first("gamma", "alpha"), None);
    }

    #[test]
    fn quality_verdict_names_the_better_shown_answer() {
        let call = |text: &str| ChatCall {
            model: "m".into(),
            messages: vec![Message {
                role: "user".into(),
                content: text.into(),
            }],
            body: Value::Null,
            n: 0,
            attempt: 0,
        };
        let content = |r: Reply| match r {
            Reply::Answer(a) => a.content.unwrap_or_default(),
            _ => String::new(),
        };
        assert!(content(quality_verdict(&call("x quality=3 y quality=12"))).ends_with("[[B]]"));
        assert!(content(quality_verdict(&call("x quality=9 y quality=2"))).ends_with("[[A]]"));
        assert!(content(quality_verdict(&call("nothing"))).ends_with("[[C]]"));
    }

    #[test]
    fn answer_has_the_wire_shape() {
        let call = ChatCall {
            model: "judge".into(),
            messages: vec![],
            body: Value::Null,
            n: 7,
            attempt: 0,
        };
        let Reply::Answer(a) = Reply::truncated("partial").usage(3, 4) else {
            panic!("not an answer")
        };
        let v: Value = serde_json::from_str(&answer_body(&call, &a, 7)).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "partial");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["usage"]["total_tokens"], 7);
        assert_eq!(v["model"], "judge");
    }
}
