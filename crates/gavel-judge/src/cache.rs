//! The request cache: never pay twice for the same judge call.
//!
//! Every call is keyed by [`request_key`]: a SHA-256 over exactly what changes the answer (the
//! request body as sent: model, messages, sampling parameters, `response_format`, any extra body
//! fields) and the sample index. The API key, the endpoint and the headers are not part of it: the
//! same request to another replica of the same model is the same call.
//!
//! Answers live in one SQLite file (WAL mode, `synchronous=FULL`), written by one thread that
//! commits in groups: a [`Cache::put`] returns only once its transaction is committed, so a
//! response counts only after it is on disk, and a process killed at any moment loses at most the
//! answers whose `put` had not returned. Failures are never stored: only [`Completion`]s are.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gavel_judge::cache::CacheError> {
//! use gavel_judge::backend::{ChatMessage, ChatRequest};
//! use gavel_judge::cache::{Cache, request_key};
//! let cache = Cache::open(std::path::Path::new(".gavel/cache.sqlite"))?;
//! let request = ChatRequest::new("gpt-4o", vec![ChatMessage::new("user", "Which is better?")]);
//! let key = request_key(&request, 0);
//! if let Some(answer) = cache.get(key).await? {
//!     println!("{}", answer.content);
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{ChatRequest, Completion};

/// The cache file's schema version; a file with another version is refused, not rewritten.
pub const SCHEMA_VERSION: i64 = 1;

/// How many operations the writer thread takes at once (one transaction).
const BATCH: usize = 512;

/// The key of one call.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey([u8; 32]);

impl RequestKey {
    /// The key as 64 hexadecimal digits.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey({})", self.hex())
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// The key of a request's `sample`-th answer: SHA-256 of a version tag, the request body as
/// serialized (fields in a fixed order; unset ones left out) and the sample index.
pub fn request_key(request: &ChatRequest, sample: u32) -> RequestKey {
    let mut h = Sha256::new();
    h.update(b"gavel-request-v1\0");
    // Serializing strings and numbers into a Vec cannot fail; an empty body would still key
    // uniquely by the rest, but it cannot happen.
    h.update(serde_json::to_vec(request).unwrap_or_default());
    h.update(b"\0sample=");
    h.update(sample.to_le_bytes());
    RequestKey(h.finalize().into())
}

/// Errors of the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The folder for the file could not be created.
    #[error("cannot create the cache folder {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("cache {path}: {what}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by another version of the cache.
    #[error(
        "cache {path} has schema version {found}, this gavel uses {SCHEMA_VERSION}; use another --cache file"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// What it says.
        found: i64,
    },
    /// A batch of answers could not be committed (none of them is stored).
    #[error("cache {path}: cannot store answers: {message}")]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The writer thread is gone (it failed earlier, or the cache was closed).
    #[error("the cache writer stopped")]
    Closed,
}

enum Op {
    Get {
        key: RequestKey,
        reply: oneshot::Sender<Result<Option<Completion>, CacheError>>,
    },
    Put {
        key: RequestKey,
        model: String,
        json: String,
        reply: oneshot::Sender<Result<(), CacheError>>,
    },
}

/// A handle on the cache file; cheap to clone, usable from many tasks.
#[derive(Clone)]
pub struct Cache {
    tx: mpsc::Sender<Op>,
    path: PathBuf,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish()
    }
}

impl Cache {
    /// Opens (or creates) the cache file and starts its writer thread. The thread ends when
    /// every handle is dropped.
    pub fn open(path: &Path) -> Result<Cache, CacheError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = open_connection(path)?;
        let (tx, rx) = mpsc::channel::<Op>(4 * BATCH);
        let thread_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("gavel-cache".into())
            .spawn(move || serve(conn, rx, &thread_path))
            .map_err(|source| CacheError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Cache {
            tx,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored answer for a key, if any.
    pub async fn get(&self, key: RequestKey) -> Result<Option<Completion>, CacheError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Op::Get { key, reply })
            .await
            .map_err(|_| CacheError::Closed)?;
        rx.await.map_err(|_| CacheError::Closed)?
    }

    /// Stores an answer; returns once it is committed to disk.
    pub async fn put(
        &self,
        key: RequestKey,
        model: &str,
        completion: &Completion,
    ) -> Result<(), CacheError> {
        let json = serde_json::to_string(completion).unwrap_or_default();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Op::Put {
                key,
                model: model.to_string(),
                json,
                reply,
            })
            .await
            .map_err(|_| CacheError::Closed)?;
        rx.await.map_err(|_| CacheError::Closed)?
    }
}

fn sqlite<'a>(path: &'a Path, what: &'static str) -> impl Fn(rusqlite::Error) -> CacheError + 'a {
    move |source| CacheError::Sqlite {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn open_connection(path: &Path) -> Result<Connection, CacheError> {
    let conn = Connection::open(path).map_err(sqlite(path, "cannot open"))?;
    // Another gavel process may hold the write lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite(path, "cannot set the busy timeout"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite(path, "cannot switch to WAL mode"))?;
    // FULL: a committed answer survives a power cut too, not only a killed process. Group
    // commits keep the cost to one fsync per batch.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite(path, "cannot set synchronous mode"))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS responses (
             key TEXT PRIMARY KEY,
             model TEXT NOT NULL,
             response TEXT NOT NULL,
             created INTEGER NOT NULL
         ) WITHOUT ROWID;",
    )
    .map_err(sqlite(path, "cannot create tables"))?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sqlite(path, "cannot read the schema version"))?;
    match version {
        None => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?1)",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(sqlite(path, "cannot write the schema version"))?;
        }
        Some(v) => {
            let found = v.parse::<i64>().unwrap_or(-1);
            if found != SCHEMA_VERSION {
                return Err(CacheError::Version {
                    path: path.to_path_buf(),
                    found,
                });
            }
        }
    }
    Ok(conn)
}

/// The writer thread: takes what is queued (up to a batch), answers reads at once, writes the
/// batch's puts in one transaction, and acknowledges them after the commit.
fn serve(conn: Connection, mut rx: mpsc::Receiver<Op>, path: &Path) {
    let mut ops: Vec<Op> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.blocking_recv() {
        ops.push(first);
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let mut puts = Vec::new();
        for op in ops.drain(..) {
            match op {
                Op::Get { key, reply } => {
                    let _ = reply.send(lookup(&conn, key, path));
                }
                Op::Put {
                    key,
                    model,
                    json,
                    reply,
                } => puts.push((key, model, json, reply)),
            }
        }
        if puts.is_empty() {
            continue;
        }
        let result = store(&conn, &puts, path);
        for (_, _, _, reply) in puts {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(CacheError::Store {
                    path: path.to_path_buf(),
                    message: error_chain(e),
                }),
            };
            let _ = reply.send(r);
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn lookup(
    conn: &Connection,
    key: RequestKey,
    path: &Path,
) -> Result<Option<Completion>, CacheError> {
    let mut stmt = conn
        .prepare_cached("SELECT response FROM responses WHERE key = ?1")
        .map_err(sqlite(path, "cannot prepare a lookup"))?;
    let text: Option<String> = stmt
        .query_row(params![key.hex()], |r| r.get(0))
        .optional()
        .map_err(sqlite(path, "cannot look up an answer"))?;
    // An entry that no longer decodes (edited by hand) is treated as absent: it will be asked
    // again and overwritten.
    Ok(text.and_then(|t| serde_json::from_str::<Completion>(&t).ok()))
}

type PendingPut = (
    RequestKey,
    String,
    String,
    oneshot::Sender<Result<(), CacheError>>,
);

fn store(conn: &Connection, puts: &[PendingPut], path: &Path) -> Result<(), CacheError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let tx = conn
        .unchecked_transaction()
        .map_err(sqlite(path, "cannot begin a transaction"))?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO responses (key, model, response, created) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sqlite(path, "cannot prepare an insert"))?;
        for (key, model, json, _) in puts {
            stmt.execute(params![key.hex(), model, json, now])
                .map_err(sqlite(path, "cannot store an answer"))?;
        }
    }
    tx.commit().map_err(sqlite(path, "cannot commit answers"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ChatMessage, TokenUsage};

    fn completion(text: &str) -> Completion {
        Completion {
            content: text.into(),
            finish_reason: Some("stop".into()),
            usage: Some(TokenUsage {
                prompt_tokens: 10,
                completion_tokens: 2,
            }),
            logprobs: None,
            model: Some("m-2025".into()),
            system_fingerprint: None,
        }
    }

    #[test]
    fn keys_change_with_what_changes_the_answer() {
        let base = ChatRequest::new("m", vec![ChatMessage::new("user", "q")]);
        let k = request_key(&base, 0);
        assert_eq!(k, request_key(&base.clone(), 0));
        assert_ne!(k, request_key(&base, 1));
        let mut t = base.clone();
        t.temperature = Some(0.7);
        assert_ne!(k, request_key(&t, 0));
        let mut m = base.clone();
        m.model = "m2".into();
        assert_ne!(k, request_key(&m, 0));
        let mut s = base.clone();
        s.messages[0].content.push(' ');
        assert_ne!(k, request_key(&s, 0));
        let mut f = base.clone();
        f.response_format = Some(serde_json::json!({"type": "json_object"}));
        assert_ne!(k, request_key(&f, 0));
        assert_eq!(k.hex().len(), 64);
    }

    #[tokio::test]
    async fn answers_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.sqlite");
        let key = request_key(&ChatRequest::new("m", vec![]), 0);
        {
            let cache = Cache::open(&path).unwrap();
            assert_eq!(cache.get(key).await.unwrap(), None);
            cache.put(key, "m", &completion("[[A]]")).await.unwrap();
            assert_eq!(cache.get(key).await.unwrap(), Some(completion("[[A]]")));
        }
        let cache = Cache::open(&path).unwrap();
        assert_eq!(cache.get(key).await.unwrap(), Some(completion("[[A]]")));
        cache.put(key, "m", &completion("[[B]]")).await.unwrap();
        assert_eq!(cache.get(key).await.unwrap(), Some(completion("[[B]]")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_puts_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        let cache = Cache::open(&path).unwrap();
        let mut tasks = Vec::new();
        for i in 0..2000u32 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move {
                let key = request_key(&ChatRequest::new("m", vec![]), i);
                cache.put(key, "m", &completion(&i.to_string())).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2000);
    }

    #[test]
    fn refuses_another_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        drop(Cache::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let e = Cache::open(&path).unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
