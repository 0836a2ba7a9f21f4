//! gavel-store: persistence of evaluation runs in one SQLite file: runs with their provenance,
//! the stages they finished, the items, labels and judgments they used, and their results.
//!
//! Key types: [`Store`] (open, migrate, read and write), [`NewRun`], [`RunSummary`],
//! [`JudgeProvenance`], [`RunStatus`].
//!
//! ```
//! use gavel_store::{NewRun, RunStatus, Store};
//! let mut store = Store::open_in_memory().unwrap();
//! let run = store.create_run(&NewRun {
//!     name: "demo".into(), config_path: "gavel.toml".into(), config_sha256: "ab".into(),
//!     config_text: "".into(), gavel_version: "0.1.0".into(), resumed_from: None,
//! }).unwrap();
//! store.put_result(&run, "metrics", "alpha", &serde_json::json!({"bleu": 31.2})).unwrap();
//! store.finish_run(&run, RunStatus::Succeeded, None).unwrap();
//! assert_eq!(store.list_runs(10).unwrap()[0].status, RunStatus::Succeeded);
//! ```
//!
//! The file is opened in WAL mode and every write is one transaction, so a process killed at
//! any point leaves a consistent store. The schema is versioned (`migrations/`), written in
//! portable SQL (TEXT ids, INTEGER Unix times, JSON as TEXT) so that a PostgreSQL backend can
//! sit behind the same interface later.
//!
//! This crate does not compute anything and does not print; it never stores secrets (callers
//! pass configs with secrets already removed, and endpoints without credentials).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// The schema migrations, in order; the version is the position plus one.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_runs.sql")];

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer gavel.
    #[error(
        "{path}: the store has schema version {found}, newer than this gavel understands ({known}); upgrade gavel"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A stored JSON document does not parse (the file was edited by hand or damaged).
    #[error("{path}: stored {what} is not valid JSON: {message}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What was being read.
        what: String,
        /// The parser's message.
        message: String,
    },
    /// No run matches the given id or prefix.
    #[error("no run matches {0:?}; `gavel runs list` shows the stored runs")]
    NoSuchRun(String),
    /// Several runs match the given prefix.
    #[error("{prefix:?} matches several runs ({candidates}); give more characters")]
    AmbiguousRun {
        /// The prefix given.
        prefix: String,
        /// Some of the matching ids.
        candidates: String,
    },
}

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or killed: a run left in this state can be resumed).
    Running,
    /// Finished, every gate passed.
    Succeeded,
    /// Finished, and at least one gate failed.
    GateFailed,
    /// Stopped by an error.
    Failed,
}

impl RunStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::GateFailed => "gate_failed",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "gate_failed" => RunStatus::GateFailed,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run's name (from the config).
    pub name: String,
    /// The config file as given.
    pub config_path: String,
    /// SHA-256 of the config text.
    pub config_sha256: String,
    /// The config text, with secrets removed by the caller.
    pub config_text: String,
    /// The gavel version that ran it.
    pub gavel_version: String,
    /// The run this one resumes, if any.
    pub resumed_from: Option<String>,
}

/// One row of `gavel runs list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub id: String,
    /// The run's name.
    pub name: String,
    /// Its state.
    pub status: RunStatus,
    /// Start time, Unix seconds.
    pub started_at: i64,
    /// End time, Unix seconds.
    pub finished_at: Option<i64>,
    /// The config file as given.
    pub config_path: String,
    /// SHA-256 of the config text.
    pub config_sha256: String,
    /// The gavel version.
    pub gavel_version: String,
    /// The run this one resumed.
    pub resumed_from: Option<String>,
    /// Money spent on judge calls.
    pub cost_usd: f64,
    /// Judge calls made (not answered from the cache).
    pub calls: i64,
    /// Judge calls answered from the cache.
    pub cached_calls: i64,
    /// Why the run failed, or which gates failed.
    pub message: Option<String>,
}

/// Provenance of one judge in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeProvenance {
    /// The judge's name in the config.
    pub judge: String,
    /// `llm`, `metric`, `local`...
    pub kind: String,
    /// The template name.
    pub template: Option<String>,
    /// SHA-256 of the template text.
    pub template_sha256: Option<String>,
    /// The model requested.
    pub judge_model: Option<String>,
    /// The model names the endpoint reported in its responses.
    pub reported_models: Vec<String>,
    /// The `system_fingerprint` values the endpoint reported.
    pub system_fingerprints: Vec<String>,
    /// The endpoint (scheme, host and path; never credentials).
    pub endpoint: Option<String>,
    /// The judge's settings (temperature, swap, samples...).
    pub settings: Value,
}

/// The store: one SQLite file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: String,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        Store::init(conn, name)
    }

    /// A store in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Store, StoreError> {
        let mut store = Store { conn, path };
        store.sql(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            )?;
            Ok(())
        })?;
        store.migrate()?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn sql<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        f(&self.conn).map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn sql_tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let out = f(&tx).map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(out)
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.sql(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
        })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = self.schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            self.sql_tx(|tx| {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [version],
                )?;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Records the start of a run and returns its id (`YYYYMMDD-HHMMSS-<n>`, unique in the file).
    pub fn create_run(&mut self, new: &NewRun) -> Result<String, StoreError> {
        let started = now();
        let stamp = run_stamp(started);
        self.sql_tx(|tx| {
            let taken: i64 = tx.query_row("SELECT COUNT(*) FROM runs WHERE id LIKE ?1", [format!("{stamp}-%")], |r| r.get(0))?;
            let id = format!("{stamp}-{}", taken + 1);
            tx.execute(
                "INSERT INTO runs (id, name, status, started_at, config_path, config_sha256, config_text, gavel_version, resumed_from)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, new.name, started, new.config_path, new.config_sha256, new.config_text, new.gavel_version, new.resumed_from],
            )?;
            Ok(id)
        })
    }

    /// Marks a run finished with a status and an optional message.
    pub fn finish_run(
        &mut self,
        run: &str,
        status: RunStatus,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let t = now();
        self.sql_tx(|tx| {
            tx.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, message = ?4 WHERE id = ?1",
                params![run, status.as_str(), t, message],
            )?;
            Ok(())
        })
    }

    /// Adds judge spending to a run's totals.
    pub fn add_spend(
        &mut self,
        run: &str,
        cost_usd: f64,
        calls: i64,
        cached_calls: i64,
    ) -> Result<(), StoreError> {
        self.sql_tx(|tx| {
            tx.execute(
                "UPDATE runs SET cost_usd = cost_usd + ?2, calls = calls + ?3, cached_calls = cached_calls + ?4 WHERE id = ?1",
                params![run, cost_usd, calls, cached_calls],
            )?;
            Ok(())
        })
    }

    /// The newest unfinished or failed run of the same config, which `--resume` continues.
    pub fn resumable_run(&self, config_sha256: &str) -> Result<Option<RunSummary>, StoreError> {
        let id: Option<String> = self.sql(|c| {
            c.query_row(
                "SELECT id FROM runs WHERE config_sha256 = ?1 ORDER BY started_at DESC, id DESC LIMIT 1",
                [config_sha256],
                |r| r.get(0),
            )
            .optional()
        })?;
        match id {
            Some(id) => {
                let run = self.run(&id)?;
                Ok(
                    Some(run)
                        .filter(|r| matches!(r.status, RunStatus::Running | RunStatus::Failed)),
                )
            }
            None => Ok(None),
        }
    }

    /// Marks a stage started (again, if it was started before and not finished).
    pub fn start_stage(&mut self, run: &str, stage: &str) -> Result<(), StoreError> {
        let t = now();
        self.sql_tx(|tx| {
            tx.execute(
                "INSERT INTO stages (run_id, stage, status, started_at) VALUES (?1, ?2, 'running', ?3)
                 ON CONFLICT (run_id, stage) DO UPDATE SET status = 'running', started_at = ?3, finished_at = NULL",
                params![run, stage, t],
            )?;
            Ok(())
        })
    }

    /// Marks a stage finished.
    pub fn finish_stage(&mut self, run: &str, stage: &str) -> Result<(), StoreError> {
        let t = now();
        self.sql_tx(|tx| {
            tx.execute(
                "UPDATE stages SET status = 'done', finished_at = ?3 WHERE run_id = ?1 AND stage = ?2",
                params![run, stage, t],
            )?;
            Ok(())
        })
    }

    /// Whether a stage of a run finished.
    pub fn stage_done(&self, run: &str, stage: &str) -> Result<bool, StoreError> {
        self.sql(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM stages WHERE run_id = ?1 AND stage = ?2 AND status = 'done'",
                params![run, stage],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n > 0)
    }

    /// Takes a finished stage over from an earlier run (the one being resumed), in one
    /// transaction: its results, and for a `judge:<name>` stage that judge's judgments and
    /// provenance; the stage is then marked done in `to`.
    pub fn adopt_stage(&mut self, from: &str, to: &str, stage: &str) -> Result<(), StoreError> {
        let t = now();
        self.sql_tx(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO results (run_id, stage, key, value_json)
                 SELECT ?2, stage, key, value_json FROM results WHERE run_id = ?1 AND stage = ?3",
                params![from, to, stage],
            )?;
            if let Some(judge) = stage.strip_prefix("judge:") {
                tx.execute(
                    "DELETE FROM judgments WHERE run_id = ?1 AND judge = ?2",
                    params![to, judge],
                )?;
                tx.execute(
                    "INSERT INTO judgments (run_id, judge, seq, record_json)
                     SELECT ?2, judge, seq, record_json FROM judgments WHERE run_id = ?1 AND judge = ?3",
                    params![from, to, judge],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO run_judges (run_id, judge, kind, template, template_sha256, judge_model, reported_models, system_fingerprints, endpoint, settings_json)
                     SELECT ?2, judge, kind, template, template_sha256, judge_model, reported_models, system_fingerprints, endpoint, settings_json
                     FROM run_judges WHERE run_id = ?1 AND judge = ?3",
                    params![from, to, judge],
                )?;
            }
            tx.execute(
                "INSERT INTO stages (run_id, stage, status, started_at, finished_at) VALUES (?1, ?2, 'done', ?3, ?3)
                 ON CONFLICT (run_id, stage) DO UPDATE SET status = 'done', finished_at = ?3",
                params![to, stage, t],
            )?;
            Ok(())
        })
    }

    /// The stages of a run: `(stage, status)` in the order they started.
    pub fn stages(&self, run: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT stage, status FROM stages WHERE run_id = ?1 ORDER BY started_at, rowid",
            )?;
            let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Stores the items of a run (replacing any stored before), in one transaction.
    pub fn put_items<'a>(
        &mut self,
        run: &str,
        items: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<(), StoreError> {
        self.sql_tx(|tx| {
            tx.execute("DELETE FROM items WHERE run_id = ?1", [run])?;
            let mut stmt = tx.prepare(
                "INSERT OR REPLACE INTO items (run_id, item_id, record_json) VALUES (?1, ?2, ?3)",
            )?;
            for (id, record) in items {
                stmt.execute(params![run, id, record.to_string()])?;
            }
            Ok(())
        })
    }

    /// Stores the human labels of a run (replacing any stored before).
    pub fn put_labels<'a>(
        &mut self,
        run: &str,
        labels: impl IntoIterator<Item = &'a Value>,
    ) -> Result<(), StoreError> {
        self.sql_tx(|tx| {
            tx.execute("DELETE FROM labels WHERE run_id = ?1", [run])?;
            let mut stmt =
                tx.prepare("INSERT INTO labels (run_id, seq, record_json) VALUES (?1, ?2, ?3)")?;
            for (seq, record) in labels.into_iter().enumerate() {
                stmt.execute(params![run, seq as i64, record.to_string()])?;
            }
            Ok(())
        })
    }

    /// Stores one judge's judgments for a run (replacing any stored before).
    pub fn put_judgments<'a>(
        &mut self,
        run: &str,
        judge: &str,
        records: impl IntoIterator<Item = &'a Value>,
    ) -> Result<(), StoreError> {
        self.sql_tx(|tx| {
            tx.execute(
                "DELETE FROM judgments WHERE run_id = ?1 AND judge = ?2",
                params![run, judge],
            )?;
            let mut stmt = tx.prepare(
                "INSERT INTO judgments (run_id, judge, seq, record_json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (seq, record) in records.into_iter().enumerate() {
                stmt.execute(params![run, judge, seq as i64, record.to_string()])?;
            }
            Ok(())
        })
    }

    /// One judge's judgments of a run, in the order stored.
    pub fn judgments(&self, run: &str, judge: &str) -> Result<Vec<Value>, StoreError> {
        let rows: Vec<String> = self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT record_json FROM judgments WHERE run_id = ?1 AND judge = ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![run, judge], |r| r.get(0))?;
            rows.collect()
        })?;
        rows.iter()
            .map(|s| self.parse_json(s, "judgment"))
            .collect()
    }

    /// The number of items, labels and judgments stored for a run.
    pub fn counts(&self, run: &str) -> Result<(i64, i64, i64), StoreError> {
        self.sql(|c| {
            let count = |table: &str| -> rusqlite::Result<i64> {
                c.query_row(
                    &format!("SELECT COUNT(*) FROM {table} WHERE run_id = ?1"),
                    [run],
                    |r| r.get(0),
                )
            };
            Ok((count("items")?, count("labels")?, count("judgments")?))
        })
    }

    /// Stores (or replaces) one result document of a run.
    pub fn put_result(
        &mut self,
        run: &str,
        stage: &str,
        key: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        self.sql_tx(|tx| {
            tx.execute(
                "INSERT INTO results (run_id, stage, key, value_json) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (run_id, stage, key) DO UPDATE SET value_json = ?4",
                params![run, stage, key, value.to_string()],
            )?;
            Ok(())
        })
    }

    /// Every result of a run as `(stage, key, value)`, ordered by stage and key.
    pub fn results(&self, run: &str) -> Result<Vec<(String, String, Value)>, StoreError> {
        let rows: Vec<(String, String, String)> = self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT stage, key, value_json FROM results WHERE run_id = ?1 ORDER BY stage, key",
            )?;
            let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(s, k, v)| {
                let value = self.parse_json(&v, &format!("result {s}/{k}"))?;
                Ok((s, k, value))
            })
            .collect()
    }

    /// One result of a run, if stored.
    pub fn result(&self, run: &str, stage: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self.sql(|c| {
            c.query_row(
                "SELECT value_json FROM results WHERE run_id = ?1 AND stage = ?2 AND key = ?3",
                params![run, stage, key],
                |r| r.get(0),
            )
            .optional()
        })?;
        text.map(|t| self.parse_json(&t, &format!("result {stage}/{key}")))
            .transpose()
    }

    /// Records (or replaces) the provenance of one judge in a run.
    pub fn put_judge(&mut self, run: &str, p: &JudgeProvenance) -> Result<(), StoreError> {
        let reported = serde_json::to_string(&p.reported_models).unwrap_or_default();
        let fingerprints = serde_json::to_string(&p.system_fingerprints).unwrap_or_default();
        self.sql_tx(|tx| {
            tx.execute(
                "INSERT INTO run_judges (run_id, judge, kind, template, template_sha256, judge_model, reported_models, system_fingerprints, endpoint, settings_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (run_id, judge) DO UPDATE SET kind = ?3, template = ?4, template_sha256 = ?5, judge_model = ?6,
                   reported_models = ?7, system_fingerprints = ?8, endpoint = ?9, settings_json = ?10",
                params![run, p.judge, p.kind, p.template, p.template_sha256, p.judge_model, reported, fingerprints, p.endpoint, p.settings.to_string()],
            )?;
            Ok(())
        })
    }

    /// The judges of a run with their provenance, by name.
    pub fn judges(&self, run: &str) -> Result<Vec<JudgeProvenance>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<Row> = self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT judge, kind, template, template_sha256, judge_model, reported_models, system_fingerprints, endpoint, settings_json
                 FROM run_judges WHERE run_id = ?1 ORDER BY judge",
            )?;
            let rows = stmt.query_map([run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(
                |(
                    judge,
                    kind,
                    template,
                    template_sha256,
                    judge_model,
                    reported,
                    fingerprints,
                    endpoint,
                    settings,
                )| {
                    let list = |s: Option<String>| -> Vec<String> {
                        s.and_then(|s| serde_json::from_str(&s).ok())
                            .unwrap_or_default()
                    };
                    Ok(JudgeProvenance {
                        settings: self.parse_json(&settings, "judge settings")?,
                        judge,
                        kind,
                        template,
                        template_sha256,
                        judge_model,
                        reported_models: list(reported),
                        system_fingerprints: list(fingerprints),
                        endpoint,
                    })
                },
            )
            .collect()
    }

    /// The newest runs first, at most `limit`.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "{RUN_COLUMNS} ORDER BY started_at DESC, id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit as i64], run_from_row)?;
            rows.collect()
        })
    }

    /// The run with this id; also accepts a unique prefix of an id, or `latest`.
    pub fn run(&self, id_or_prefix: &str) -> Result<RunSummary, StoreError> {
        if id_or_prefix == "latest" || id_or_prefix == "last" {
            return self
                .list_runs(1)?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::NoSuchRun(id_or_prefix.into()));
        }
        let exact: Option<RunSummary> = self.sql(|c| {
            c.query_row(
                &format!("{RUN_COLUMNS} WHERE id = ?1"),
                [id_or_prefix],
                run_from_row,
            )
            .optional()
        })?;
        if let Some(run) = exact {
            return Ok(run);
        }
        let escaped = id_or_prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let matches: Vec<RunSummary> = self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "{RUN_COLUMNS} WHERE id LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT 6"
            ))?;
            let rows = stmt.query_map([format!("{escaped}%")], run_from_row)?;
            rows.collect()
        })?;
        match matches.len() {
            0 => Err(StoreError::NoSuchRun(id_or_prefix.into())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(StoreError::AmbiguousRun {
                prefix: id_or_prefix.into(),
                candidates: matches
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The stored config text of a run.
    pub fn config_text(&self, run: &str) -> Result<String, StoreError> {
        self.sql(|c| {
            c.query_row("SELECT config_text FROM runs WHERE id = ?1", [run], |r| {
                r.get(0)
            })
        })
    }

    fn parse_json(&self, text: &str, what: &str) -> Result<Value, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
            message: e.to_string(),
        })
    }
}

const RUN_COLUMNS: &str = "SELECT id, name, status, started_at, finished_at, config_path, config_sha256, gavel_version, resumed_from, cost_usd, calls, cached_calls, message FROM runs";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: r.get(0)?,
        name: r.get(1)?,
        status: RunStatus::parse(&r.get::<_, String>(2)?),
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        config_path: r.get(5)?,
        config_sha256: r.get(6)?,
        gavel_version: r.get(7)?,
        resumed_from: r.get(8)?,
        cost_usd: r.get(9)?,
        calls: r.get(10)?,
        cached_calls: r.get(11)?,
        message: r.get(12)?,
    })
}

/// `YYYYMMDD-HHMMSS` in UTC for Unix seconds.
fn run_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 {
        yoe + era * 400 + 1
    } else {
        yoe + era * 400
    };
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Where the store lives by default, relative to the working directory.
pub fn default_path() -> PathBuf {
    PathBuf::from(".gavel").join("gavel.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_run(hash: &str) -> NewRun {
        NewRun {
            name: "t".into(),
            config_path: "gavel.toml".into(),
            config_sha256: hash.into(),
            config_text: "[run]".into(),
            gavel_version: "0.1.0".into(),
            resumed_from: None,
        }
    }

    #[test]
    fn a_resumed_run_adopts_finished_stages_only() {
        let mut s = Store::open_in_memory().unwrap();
        let old = s.create_run(&new_run("h")).unwrap();
        s.start_stage(&old, "judge:j").unwrap();
        s.put_judgments(&old, "j", [json!({"item": "q1"})].iter())
            .unwrap();
        s.put_result(&old, "judge:j", "stats", &json!({"calls": 3}))
            .unwrap();
        s.finish_stage(&old, "judge:j").unwrap();
        s.start_stage(&old, "ranking").unwrap();
        let new = s.create_run(&new_run("h")).unwrap();
        s.adopt_stage(&old, &new, "judge:j").unwrap();
        assert!(s.stage_done(&new, "judge:j").unwrap());
        assert!(!s.stage_done(&new, "ranking").unwrap());
        assert_eq!(s.judgments(&new, "j").unwrap(), [json!({"item": "q1"})]);
        assert_eq!(
            s.result(&new, "judge:j", "stats").unwrap(),
            Some(json!({"calls": 3}))
        );
        assert_eq!(
            s.stages(&new).unwrap(),
            [("judge:j".to_string(), "done".to_string())]
        );
    }

    #[test]
    fn stamps_are_utc_dates() {
        assert_eq!(run_stamp(0), "19700101-000000");
        assert_eq!(run_stamp(1_714_566_600), "20240501-123000");
    }

    #[test]
    fn runs_results_and_stages_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.create_run(&new_run("h1")).unwrap();
        let b = s.create_run(&new_run("h1")).unwrap();
        assert_ne!(a, b, "ids are unique within one second");
        s.put_result(&a, "metrics", "alpha", &json!({"bleu": 1.5}))
            .unwrap();
        s.put_result(&a, "metrics", "alpha", &json!({"bleu": 2.5}))
            .unwrap();
        assert_eq!(
            s.result(&a, "metrics", "alpha").unwrap(),
            Some(json!({"bleu": 2.5}))
        );
        s.start_stage(&a, "metrics").unwrap();
        assert!(!s.stage_done(&a, "metrics").unwrap());
        s.finish_stage(&a, "metrics").unwrap();
        assert!(s.stage_done(&a, "metrics").unwrap());
        let j = [json!({"item": "q1"}), json!({"item": "q2"})];
        s.put_judgments(&a, "rouge", j.iter()).unwrap();
        s.put_judgments(&a, "rouge", j.iter()).unwrap();
        assert_eq!(s.judgments(&a, "rouge").unwrap().len(), 2);
        s.finish_run(&a, RunStatus::GateFailed, Some("gate x"))
            .unwrap();
        assert_eq!(s.run(&a).unwrap().status, RunStatus::GateFailed);
        assert_eq!(
            s.resumable_run("h1").unwrap().map(|r| r.id),
            Some(b.clone())
        );
        s.finish_run(&b, RunStatus::Succeeded, None).unwrap();
        assert_eq!(s.resumable_run("h1").unwrap(), None);
    }

    #[test]
    fn prefixes_resolve_or_say_why_not() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.create_run(&new_run("h")).unwrap();
        let _b = s.create_run(&new_run("h")).unwrap();
        assert_eq!(s.run(&a).unwrap().id, a);
        assert!(matches!(
            s.run(&a[..8]),
            Err(StoreError::AmbiguousRun { .. })
        ));
        assert!(matches!(s.run("nope"), Err(StoreError::NoSuchRun(_))));
        assert!(matches!(s.run("%"), Err(StoreError::NoSuchRun(_))));
        assert!(s.run("latest").is_ok());
    }

    #[test]
    fn reopening_a_file_keeps_data_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let id = {
            let mut s = Store::open(&path).unwrap();
            s.create_run(&new_run("h")).unwrap()
        };
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(s.run(&id).unwrap().id, id);
        s.conn
            .execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(s);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn judge_provenance_round_trips() {
        let mut s = Store::open_in_memory().unwrap();
        let run = s.create_run(&new_run("h")).unwrap();
        let p = JudgeProvenance {
            judge: "llm".into(),
            kind: "llm".into(),
            template: Some("mt-bench-pair".into()),
            template_sha256: Some("abc".into()),
            judge_model: Some("m".into()),
            reported_models: vec!["m-2024".into()],
            system_fingerprints: vec!["fp_1".into()],
            endpoint: Some("http://127.0.0.1:8000/v1".into()),
            settings: json!({"swap": true}),
        };
        s.put_judge(&run, &p).unwrap();
        assert_eq!(s.judges(&run).unwrap(), vec![p]);
    }
}
