//! gavel-annotate: the human-annotation web app behind `gavel serve`.
//!
//! A small team labels LLM responses in the browser: pairwise (A / B / tie), Likert (a scale
//! with an anchor per point) or binary (pass / fail per criterion). Each task goes to k
//! annotators, blind, in each annotator's own random order (recorded), with the guideline one
//! key away. The lead runs calibration rounds, reviews disagreements side by side, turns
//! resolutions into guideline examples and versions, and watches agreement and drift on a
//! dashboard computed by `gavel_stats::agreement::report`, the code behind `gavel agree`.
//! Labels leave as CONTRACT.md Label records (JSONL, CSV, Parquet) or through the JSON API.
//!
//! Key items: [`app`] builds the axum [`Router`](axum::Router) from an [`AppState`] (tests
//! drive it without a socket); [`Db`] is the SQLite file (own schema, `migrations/`); the
//! modules [`users`], [`projects`], [`labelling`], [`review`], [`dashboard`] and [`export`]
//! hold the operations that both the pages and the API call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gavel_annotate::Error> {
//! use gavel_annotate::{AppState, Config, Db, app};
//! let db = Db::open(std::path::Path::new("annotate.sqlite"))?;
//! let router = app(AppState::new(db, Config::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, router).await.unwrap();
//! # Ok(()) }
//! ```
//!
//! Security: tokens, sessions and passwords are stored only as hashes; every state-changing
//! request from a browser needs the session's CSRF token and a same-origin `Origin`; judged
//! text is escaped (templates autoescape; guideline Markdown passes through
//! [`markdown::render`], which shows raw HTML as text) and a strict Content-Security-Policy
//! forbids inline scripts. Labels are acknowledged only after their transaction commits.
//!
//! This crate does not print or read the environment; the CLI binds the socket and writes the
//! request log that [`AppState::with_log`] hands it (which never contains secrets).

mod crypto;
pub mod dashboard;
mod db;
mod error;
pub mod export;
pub mod labelling;
pub mod markdown;
pub mod projects;
pub mod review;
pub mod users;
mod web;

use std::sync::Arc;

pub use db::Db;
pub use error::Error;
pub use users::{Role, User};
pub use web::{RequestLog, app};

/// Settings of the app.
#[derive(Debug, Clone)]
pub struct Config {
    /// PBKDF2 rounds for new password hashes.
    pub pbkdf2_rounds: u32,
    /// How long a browser session lasts, in seconds.
    pub session_secs: i64,
    /// How long a task handed out but not answered keeps its place among the k, in seconds.
    pub claim_ttl_secs: i64,
    /// Bootstrap resamples for the dashboard's intervals (`gavel agree`'s default is 1000).
    pub dashboard_bootstrap: usize,
    /// Mark the session cookie `Secure` (when served over HTTPS behind a proxy).
    pub secure_cookies: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pbkdf2_rounds: crypto::DEFAULT_PBKDF2_ROUNDS,
            session_secs: 7 * 86_400,
            claim_ttl_secs: 3600,
            dashboard_bootstrap: 1000,
            secure_cookies: false,
        }
    }
}

/// A callback that receives one line per request.
pub type LogFn = Arc<dyn Fn(&RequestLog) + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Settings.
    pub config: Arc<Config>,
    log: Option<LogFn>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("config", &self.config)
            .finish()
    }
}

impl AppState {
    /// The state for a database and settings.
    pub fn new(db: Db, config: Config) -> AppState {
        AppState {
            db,
            config: Arc::new(config),
            log: None,
        }
    }

    /// Calls `f` once per request with its method, path (no query string), status, time and
    /// user name, and the detail of internal errors. Never with tokens, cookies or passwords.
    pub fn with_log(mut self, f: LogFn) -> AppState {
        self.log = Some(f);
        self
    }
}
