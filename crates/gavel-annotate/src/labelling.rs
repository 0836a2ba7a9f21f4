//! Labelling: handing each annotator their next task (blind, in their own random order, to at
//! most k annotators), storing labels and skips, an annotator's own history, and progress.
//!
//! A label is acknowledged only after the transaction that stores it has committed. A
//! repeated submission for the same assignment (a double click, a retry after a lost
//! response) updates the same rows, so it never creates a second label.

use std::collections::BTreeMap;

use gavel_core::{Content, Item, LabelValue};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{now, now_ms};
use crate::error::Error;
use crate::projects::{Project, TaskKind, current_version, is_member};
use crate::users::User;

/// The side an answer points at, as shown on screen.
pub fn side_to_label(shown: &str, side: &str) -> Option<&'static str> {
    match (shown, side) {
        (_, "tie") => Some("tie"),
        ("BA", "left") => Some("B"),
        ("BA", "right") => Some("A"),
        (_, "left") => Some("A"),
        (_, "right") => Some("B"),
        _ => None,
    }
}

/// The screen side of a stored pairwise label.
pub fn label_to_side(shown: &str, label: &str) -> Option<&'static str> {
    match (shown, label) {
        (_, "tie") => Some("tie"),
        ("BA", "A") => Some("right"),
        ("BA", "B") => Some("left"),
        (_, "A") => Some("left"),
        (_, "B") => Some("right"),
        _ => None,
    }
}

/// One response as shown: its text, one entry per turn.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// The texts (one per turn).
    pub turns: Vec<String>,
    /// The model's name (filled in for leads only; annotators judge blind).
    pub model: Option<String>,
}

/// Everything a labelling page shows.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// The assignment being answered.
    pub assignment: i64,
    /// Its place in this annotator's sequence (1-based).
    pub position: i64,
    /// `main` or the calibration round's name.
    pub round: String,
    /// `open`, `done` or `skipped`.
    pub state: String,
    /// The item's id.
    pub item: String,
    /// The user turns (one for a single-turn item).
    pub prompts: Vec<String>,
    /// Optional context.
    pub input: Option<String>,
    /// Optional reference answer (per turn).
    pub reference: Option<Vec<String>>,
    /// Optional category.
    pub category: Option<String>,
    /// Pairwise: the left and right responses, in the order recorded for this annotator.
    pub left: Option<Panel>,
    /// Pairwise: right.
    pub right: Option<Panel>,
    /// Pointwise: the response.
    pub response: Option<Panel>,
    /// `AB` (model_a on the left) or `BA`; empty for pointwise tasks.
    pub shown: String,
    /// This annotator's own answers so far, by criterion ('' for a single question); pairwise
    /// answers as screen sides (`left`, `right`, `tie`).
    pub mine: BTreeMap<String, String>,
    /// Their reason, if any.
    pub reason: String,
    /// Why they skipped it, if they did.
    pub skip_reason: Option<String>,
    /// The guideline version shown with the task.
    pub guideline_version: i64,
    /// When the page was made (ms), to record the time spent.
    pub served_ms: i64,
}

/// The annotator's open assignment, or a new one for their next task; `None` when nothing is
/// left for them. Serialised by an immediate transaction, so two annotators asking at the same
/// moment never push a task past k.
pub fn next_assignment(
    conn: &mut Connection,
    project: &Project,
    user: &User,
    claim_ttl_secs: i64,
) -> Result<Option<i64>, Error> {
    if !is_member(conn, project.id, user.id)? {
        return Err(Error::Forbidden(
            "you are not a member of this project; ask the lead to add you".into(),
        ));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let open: Option<i64> = tx
        .query_row(
            "SELECT id FROM assignments WHERE project_id = ?1 AND user_id = ?2 AND state = 'open' ORDER BY position LIMIT 1",
            params![project.id, user.id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        tx.commit()?;
        return Ok(Some(id));
    }
    let calibration: Option<i64> = tx
        .query_row(
            "SELECT q.task_id FROM queue q JOIN tasks t ON t.id = q.task_id
             WHERE q.project_id = ?1 AND q.user_id = ?2 AND t.round <> 'main'
               AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = q.task_id AND a.user_id = ?2)
             ORDER BY q.rank LIMIT 1",
            params![project.id, user.id],
            |r| r.get(0),
        )
        .optional()?;
    let task = match calibration {
        Some(t) => Some(t),
        None => tx
            .query_row(
                "SELECT q.task_id FROM queue q JOIN tasks t ON t.id = q.task_id
                 WHERE q.project_id = ?1 AND q.user_id = ?2 AND t.round = 'main'
                   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = q.task_id AND a.user_id = ?2)
                   AND (SELECT count(*) FROM assignments a WHERE a.task_id = q.task_id
                        AND (a.state = 'done' OR (a.state = 'open' AND a.claimed_at >= ?3))) < ?4
                 ORDER BY q.rank LIMIT 1",
                params![project.id, user.id, now() - claim_ttl_secs, project.overlap],
                |r| r.get(0),
            )
            .optional()?,
    };
    let Some(task) = task else {
        tx.commit()?;
        return Ok(None);
    };
    let position: i64 = tx.query_row(
        "SELECT count(*) + 1 FROM assignments WHERE project_id = ?1 AND user_id = ?2",
        params![project.id, user.id],
        |r| r.get(0),
    )?;
    let shown = match project.kind() {
        TaskKind::Pairwise { .. } => {
            let h = Sha256::digest(format!("{}:{}:{task}:side", project.seed, user.id).as_bytes());
            if h[0] & 1 == 0 { "AB" } else { "BA" }
        }
        _ => "",
    };
    tx.execute(
        "INSERT INTO assignments (project_id, task_id, user_id, position, shown, state, claimed_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6)",
        params![project.id, task, user.id, position, shown, now()],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(Some(id))
}

struct AssignmentRow {
    id: i64,
    task_id: i64,
    position: i64,
    shown: String,
    state: String,
    skip_reason: Option<String>,
    round: String,
    model_a: String,
    model_b: String,
    model: String,
    record_json: String,
}

fn load_assignment(
    conn: &Connection,
    project: &Project,
    user: &User,
    id: i64,
) -> Result<AssignmentRow, Error> {
    // Only the annotator's own assignments are found: another's id reads as "not found".
    conn.query_row(
        "SELECT a.id, a.task_id, a.position, a.shown, a.state, a.skip_reason, t.round, t.model_a, t.model_b, t.model, i.record_json
         FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN items i ON i.id = t.item_id
         WHERE a.id = ?1 AND a.user_id = ?2 AND a.project_id = ?3",
        params![id, user.id, project.id],
        |r| {
            Ok(AssignmentRow {
                id: r.get(0)?,
                task_id: r.get(1)?,
                position: r.get(2)?,
                shown: r.get(3)?,
                state: r.get(4)?,
                skip_reason: r.get(5)?,
                round: r.get(6)?,
                model_a: r.get(7)?,
                model_b: r.get(8)?,
                model: r.get(9)?,
                record_json: r.get(10)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::NotFound("assignment".into()))
}

/// Parses a stored item record.
pub fn stored_item(json: &str) -> Result<Item, Error> {
    let reader = gavel_core::RecordReader::from_reader(
        "stored item",
        gavel_core::Format::Jsonl,
        Box::new(std::io::Cursor::new(json.as_bytes().to_vec())),
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    reader
        .typed::<Item>()
        .next()
        .ok_or_else(|| Error::Internal("empty stored item".into()))?
        .map_err(|e| Error::Internal(e.to_string()))
}

fn content_turns(c: Option<&Content>) -> Vec<String> {
    match c {
        None => vec![String::new()],
        Some(Content::Text(s)) => vec![s.clone()],
        Some(Content::Turns(t)) => t.clone(),
    }
}

/// A response with its model's name (what a lead sees).
pub fn content_panel(item: &Item, model: &str) -> Panel {
    Panel {
        turns: content_turns(item.response(model)),
        model: Some(model.to_string()),
    }
}

/// The prompts of an item (one per turn).
pub fn prompts(item: &Item) -> Vec<String> {
    if item.turns.is_empty() {
        vec![item.instruction.clone()]
    } else {
        item.turns.clone()
    }
}

/// What the annotator sees for one of their assignments.
pub fn view(
    conn: &Connection,
    project: &Project,
    user: &User,
    assignment: i64,
) -> Result<TaskView, Error> {
    let a = load_assignment(conn, project, user, assignment)?;
    let item = stored_item(&a.record_json)?;
    let panel = |m: &str| Panel {
        turns: content_turns(item.response(m)),
        model: None,
    };
    let (left, right, response) = match project.kind() {
        TaskKind::Pairwise { .. } => {
            let (l, r) = if a.shown == "BA" {
                (&a.model_b, &a.model_a)
            } else {
                (&a.model_a, &a.model_b)
            };
            (Some(panel(l)), Some(panel(r)), None)
        }
        _ => (None, None, Some(panel(&a.model))),
    };
    let mut mine = BTreeMap::new();
    let mut reason = String::new();
    let mut stmt = conn.prepare("SELECT criterion, value_json, coalesce(reason, '') FROM labels WHERE task_id = ?1 AND user_id = ?2")?;
    for row in stmt.query_map(params![a.task_id, user.id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (c, v, why) = row?;
        let value = value_text(&v);
        let shown = match project.kind() {
            TaskKind::Pairwise { .. } => label_to_side(&a.shown, &value).unwrap_or("").to_string(),
            _ => value,
        };
        mine.insert(c, shown);
        reason = why;
    }
    Ok(TaskView {
        assignment: a.id,
        position: a.position,
        round: a.round,
        state: a.state,
        item: item.id.clone(),
        prompts: prompts(&item),
        input: item.input.clone(),
        reference: item.reference.as_ref().map(|r| content_turns(Some(r))),
        category: item.category.clone(),
        left,
        right,
        response,
        shown: a.shown,
        mine,
        reason,
        skip_reason: a.skip_reason,
        guideline_version: current_version(conn, project.id)?,
        served_ms: now_ms(),
    })
}

/// A stored label value as text (`A`, `4`, `pass`).
pub fn value_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        Ok(v) => v.to_string(),
        Err(_) => json.to_string(),
    }
}

/// A label as submitted, in the task's model_a/model_b frame.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// The assignment answered.
    pub assignment: i64,
    /// Values by criterion ('' for a single question): `A`/`B`/`tie`, a number, `pass`/`fail`.
    pub values: BTreeMap<String, String>,
    /// Optional (or required) reason.
    pub reason: Option<String>,
    /// The guideline version the annotator saw.
    pub guideline_version: Option<i64>,
    /// When the page was served (ms), to record the time spent.
    pub served_ms: Option<i64>,
}

/// Checks one answer against the task kind and returns the JSON value to store.
fn check_value(kind: &TaskKind, criterion: &str, text: &str) -> Result<serde_json::Value, Error> {
    let t = text.trim();
    match kind {
        TaskKind::Pairwise { tie, .. } => match t {
            "A" | "B" => Ok(t.into()),
            "tie" if *tie => Ok(t.into()),
            _ => Err(Error::bad(format!(
                "a pairwise answer is A, B{}",
                if *tie { " or tie" } else { "" }
            ))),
        },
        TaskKind::Likert { min, max, .. } => match t.parse::<i64>() {
            Ok(x) if (*min..=*max).contains(&x) => Ok(x.into()),
            _ => Err(Error::bad(format!(
                "a score is a whole number from {min} to {max}"
            ))),
        },
        TaskKind::Binary { .. } => match t {
            "pass" | "fail" => Ok(t.into()),
            _ => Err(Error::bad(format!(
                "criterion {criterion}: answer pass or fail"
            ))),
        },
    }
}

/// Stores a label (all criteria at once). Returns the assignment id once committed.
pub fn submit(
    conn: &mut Connection,
    project: &Project,
    user: &User,
    s: &Submission,
) -> Result<i64, Error> {
    let kind = project.kind();
    let names = kind.criteria_names();
    let mut values = Vec::with_capacity(names.len());
    for c in &names {
        let text = s.values.get(c).ok_or_else(|| {
            if c.is_empty() {
                Error::bad("choose an answer")
            } else {
                Error::bad(format!("answer every criterion ({c} is missing)"))
            }
        })?;
        values.push((c.clone(), check_value(kind, c, text)?));
    }
    if let Some(extra) = s.values.keys().find(|k| !names.contains(k)) {
        return Err(Error::bad(format!("unknown criterion {extra:?}")));
    }
    let reason = s.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if project.settings.require_reason && reason.is_none() {
        return Err(Error::bad("this project asks for a reason with each label"));
    }
    if reason.is_some_and(|r| r.chars().count() > 5000) {
        return Err(Error::bad("a reason has at most 5000 characters"));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let a = load_assignment(&tx, project, user, s.assignment)?;
    let current = current_version(&tx, project.id)?;
    let gv = match s.guideline_version {
        Some(v) if (1..=current).contains(&v) => v,
        Some(_) => return Err(Error::bad("unknown guideline version")),
        None => current,
    };
    let t = now_ms();
    let duration = s.served_ms.map(|ms| (t - ms).clamp(0, 86_400_000));
    for (criterion, value) in &values {
        tx.execute(
            "INSERT INTO labels (project_id, assignment_id, task_id, user_id, criterion, value_json, reason, guideline_version, round, created_at, updated_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
             ON CONFLICT (task_id, user_id, criterion) DO UPDATE SET
               value_json = excluded.value_json, reason = excluded.reason,
               guideline_version = excluded.guideline_version, updated_at = excluded.updated_at",
            params![project.id, a.id, a.task_id, user.id, criterion, value.to_string(), reason, gv, a.round, t, duration],
        )?;
    }
    tx.execute(
        "UPDATE assignments SET state = 'done', skip_reason = NULL, done_at = coalesce(done_at, ?1) WHERE id = ?2",
        params![now(), a.id],
    )?;
    tx.commit()?;
    Ok(a.id)
}

/// Skips an open assignment with a reason; the task goes back to the pool for others.
pub fn skip(
    conn: &mut Connection,
    project: &Project,
    user: &User,
    assignment: i64,
    reason: &str,
) -> Result<(), Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::bad("say why you skip it"));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let a = load_assignment(&tx, project, user, assignment)?;
    if a.state == "done" {
        return Err(Error::Conflict(
            "you have labelled this one already; change the label instead".into(),
        ));
    }
    tx.execute(
        "UPDATE assignments SET state = 'skipped', skip_reason = ?1, done_at = coalesce(done_at, ?2) WHERE id = ?3",
        params![reason.chars().take(500).collect::<String>(), now(), a.id],
    )?;
    tx.commit()?;
    Ok(())
}

/// One line of an annotator's own history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    /// Assignment id.
    pub assignment: i64,
    /// Place in their sequence.
    pub position: i64,
    /// Item id.
    pub item: String,
    /// `done`, `skipped` or `open`.
    pub state: String,
    /// Their answers (pairwise as screen sides), joined.
    pub answer: String,
    /// Round.
    pub round: String,
}

/// The annotator's own assignments, latest first.
pub fn history(
    conn: &Connection,
    project: &Project,
    user: &User,
    limit: usize,
) -> Result<Vec<HistoryRow>, Error> {
    let mut stmt = conn.prepare(
        "SELECT a.id, a.position, i.item_key, a.state, a.shown, t.round,
                (SELECT group_concat(CASE WHEN l.criterion = '' THEN l.value_json ELSE l.criterion || ' ' || l.value_json END, ', ')
                   FROM labels l WHERE l.task_id = a.task_id AND l.user_id = a.user_id)
         FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN items i ON i.id = t.item_id
         WHERE a.project_id = ?1 AND a.user_id = ?2 ORDER BY a.position DESC LIMIT ?3",
    )?;
    let pairwise = matches!(project.kind(), TaskKind::Pairwise { .. });
    let rows = stmt.query_map(params![project.id, user.id, limit as i64], |r| {
        let shown: String = r.get(4)?;
        let answer: Option<String> = r.get(6)?;
        let answer = answer.unwrap_or_default().replace('"', "");
        let answer = if pairwise {
            label_to_side(&shown, &answer)
                .map(|s| s.to_string())
                .unwrap_or(answer)
        } else {
            answer
        };
        Ok(HistoryRow {
            assignment: r.get(0)?,
            position: r.get(1)?,
            item: r.get(2)?,
            state: r.get(3)?,
            answer,
            round: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One annotator's progress.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Progress {
    /// The annotator.
    pub annotator: String,
    /// Tasks labelled.
    pub done: i64,
    /// Tasks skipped.
    pub skipped: i64,
    /// Tasks open (handed out, not answered).
    pub open: i64,
    /// Tasks still available to them now (calibration tasks, and main tasks short of k).
    pub remaining: i64,
    /// When they last labelled (RFC 3339).
    pub last_label: Option<String>,
}

/// Progress of one member.
pub fn progress_of(
    conn: &Connection,
    project: &Project,
    user_id: i64,
    name: &str,
    claim_ttl_secs: i64,
) -> Result<Progress, Error> {
    let (done, skipped, open, last): (i64, i64, i64, Option<i64>) = conn.query_row(
        "SELECT coalesce(sum(state = 'done'), 0), coalesce(sum(state = 'skipped'), 0), coalesce(sum(state = 'open'), 0), max(done_at)
         FROM assignments WHERE project_id = ?1 AND user_id = ?2",
        params![project.id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let remaining: i64 = conn.query_row(
        "SELECT count(*) FROM queue q JOIN tasks t ON t.id = q.task_id
         WHERE q.project_id = ?1 AND q.user_id = ?2
           AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = q.task_id AND a.user_id = ?2)
           AND (t.round <> 'main' OR (SELECT count(*) FROM assignments a WHERE a.task_id = q.task_id
                AND (a.state = 'done' OR (a.state = 'open' AND a.claimed_at >= ?3))) < ?4)",
        params![project.id, user_id, now() - claim_ttl_secs, project.overlap],
        |r| r.get(0),
    )?;
    Ok(Progress {
        annotator: name.to_string(),
        done,
        skipped,
        open,
        remaining: remaining + open,
        last_label: last.map(gavel_core::time::format_rfc3339),
    })
}

/// Progress of every member, by name.
pub fn progress(
    conn: &Connection,
    project: &Project,
    claim_ttl_secs: i64,
) -> Result<Vec<Progress>, Error> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.name FROM members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ?1 ORDER BY u.name",
    )?;
    let members: Vec<(i64, String)> = stmt
        .query_map([project.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    members
        .iter()
        .map(|(id, name)| progress_of(conn, project, *id, name, claim_ttl_secs))
        .collect()
}

/// Lets `LabelValue` be built from stored JSON.
pub fn label_value(json: &str) -> LabelValue {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => LabelValue::from_json(v, false).unwrap_or(LabelValue::Missing),
        Err(_) => LabelValue::Missing,
    }
}
