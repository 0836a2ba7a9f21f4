//! The SQLite file: a small pool of connections, the schema migrations, and the helper that
//! runs a closure on a connection off the async threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::error::Error;

/// The schema migrations, in order; `PRAGMA user_version` holds how many have been applied.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_annotate.sql")];

/// The annotation database: one SQLite file in WAL mode, used through a few connections.
///
/// Every write is one transaction committed with `synchronous = FULL`, so once a call that
/// wrote returns, the write survives a crash of the process or of the machine.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Held by the labelling writes, so they queue here in order instead of in SQLite's
    /// busy handler, which sleeps with back-off and makes the slowest waits long.
    writer: Mutex<()>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Db, Error> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Internal(format!("cannot create the folder {}: {e}", dir.display()))
            })?;
        }
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![conn]),
                writer: Mutex::new(()),
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a connection (blocking the calling thread).
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R, Error>) -> Result<R, Error> {
        let conn = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match conn {
            Some(c) => c,
            None => connect(&self.inner.path)?,
        };
        let out = f(&mut conn);
        // A connection left inside a transaction by a failed closure is rolled back first.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < 8
        {
            idle.push(conn);
        }
        out
    }

    /// Runs a write `f` on tokio's blocking threads, one writer at a time.
    pub async fn run_write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = db.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            db.with(f)
        })
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` on a connection on tokio's blocking threads.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.with(f))
            .await
            .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }
}

fn connect(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Internal(format!(
            "the annotation database has schema version {version}, newer than this gavel understands ({known}); upgrade gavel"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.sqlite");
        let db = Db::open(&path).unwrap();
        let v: i64 = db
            .with(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        drop(db);
        let db = Db::open(&path).unwrap();
        let mode: String = db
            .with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let err = Db::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer than this gavel"), "{err}");
    }
}
