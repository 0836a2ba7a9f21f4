//! Calibration review: the tasks where annotators disagreed, side by side with their reasons,
//! and the lead's resolution, which can become a guideline example (and so a new version).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::db::now;
use crate::error::Error;
use crate::labelling::{content_panel, prompts, stored_item, value_text};
use crate::projects::{NewExample, Project, add_example};

/// One annotator's answer in a disagreement.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// Who.
    pub annotator: String,
    /// The label in the task's frame (`A` means model_a).
    pub label: String,
    /// Their reason.
    pub reason: String,
    /// `AB` or `BA` (what they saw on the left first).
    pub shown: String,
    /// The guideline version they labelled under.
    pub guideline_version: Option<i64>,
}

/// A task (and criterion) where the labels differ.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// The task.
    pub task: i64,
    /// The item id.
    pub item: String,
    /// The round.
    pub round: String,
    /// The criterion ('' for a single question).
    pub criterion: String,
    /// User turns.
    pub prompts: Vec<String>,
    /// Context.
    pub input: Option<String>,
    /// Pairwise: model_a's response (named), model_b's; pointwise: the response.
    pub panels: Vec<crate::labelling::Panel>,
    /// The answers.
    pub answers: Vec<Answer>,
    /// The distinct labels and how many gave each.
    pub tally: Vec<(String, usize)>,
    /// The lead's resolution, if recorded.
    pub resolution: Option<Resolution>,
}

/// A recorded resolution.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// The agreed label.
    pub label: String,
    /// The lead's note.
    pub note: String,
    /// Whether it became a guideline example.
    pub example: bool,
}

/// Disagreements in a project (optionally in one round), calibration rounds first.
pub fn disagreements(
    conn: &Connection,
    project: &Project,
    round: Option<&str>,
    include_resolved: bool,
) -> Result<Vec<Disagreement>, Error> {
    let mut stmt = conn.prepare(
        "SELECT l.task_id, l.criterion, u.name, l.value_json, coalesce(l.reason, ''), a.shown, l.guideline_version, t.round
         FROM labels l JOIN users u ON u.id = l.user_id JOIN assignments a ON a.id = l.assignment_id JOIN tasks t ON t.id = l.task_id
         WHERE l.project_id = ?1 AND (?2 IS NULL OR t.round = ?2)
         ORDER BY t.round = 'main', l.task_id, l.criterion, u.name",
    )?;
    let mut groups: Vec<((i64, String, String), Vec<Answer>)> = Vec::new();
    for row in stmt.query_map(params![project.id, round], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            Answer {
                annotator: r.get(2)?,
                label: value_text(&r.get::<_, String>(3)?),
                reason: r.get(4)?,
                shown: r.get(5)?,
                guideline_version: r.get(6)?,
            },
            r.get::<_, String>(7)?,
        ))
    })? {
        let (task, criterion, answer, round) = row?;
        match groups.last_mut() {
            Some((k, v)) if k.0 == task && k.1 == criterion => v.push(answer),
            _ => groups.push(((task, criterion, round), vec![answer])),
        }
    }
    let mut out = Vec::new();
    for ((task, criterion, round), answers) in groups {
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for a in &answers {
            *tally.entry(a.label.clone()).or_default() += 1;
        }
        if answers.len() < 2 || tally.len() < 2 {
            continue;
        }
        let resolution = resolution(conn, task, &criterion)?;
        if resolution.is_some() && !include_resolved {
            continue;
        }
        let (item_json, model_a, model_b, model): (String, String, String, String) = conn.query_row(
            "SELECT i.record_json, t.model_a, t.model_b, t.model FROM tasks t JOIN items i ON i.id = t.item_id WHERE t.id = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let item = stored_item(&item_json)?;
        let panels = if model_a.is_empty() {
            vec![content_panel(&item, &model)]
        } else {
            vec![
                content_panel(&item, &model_a),
                content_panel(&item, &model_b),
            ]
        };
        let mut tally: Vec<(String, usize)> = tally.into_iter().collect();
        tally.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.push(Disagreement {
            task,
            item: item.id.clone(),
            round,
            criterion,
            prompts: prompts(&item),
            input: item.input.clone(),
            panels,
            answers,
            tally,
            resolution,
        });
    }
    Ok(out)
}

fn resolution(conn: &Connection, task: i64, criterion: &str) -> Result<Option<Resolution>, Error> {
    Ok(conn
        .query_row(
            "SELECT value_json, note, example_id IS NOT NULL FROM resolutions WHERE task_id = ?1 AND criterion = ?2",
            params![task, criterion],
            |r| {
                Ok(Resolution {
                    label: value_text(&r.get::<_, String>(0)?),
                    note: r.get(1)?,
                    example: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// What the lead decides about a disagreement.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewResolution {
    /// The task.
    pub task: i64,
    /// The criterion ('' for a single question).
    #[serde(default)]
    pub criterion: String,
    /// The agreed label (`A`, `B`, `tie`, a score, `pass`, `fail`).
    pub label: String,
    /// Why.
    pub note: String,
    /// Turn it into a guideline example: `good` (the agreed label, shown as a good annotation)
    /// or `bad` (`bad_label` shown as a mistake), which makes a new guideline version.
    #[serde(default)]
    pub example: Option<String>,
    /// For a `bad` example: the wrong label to show.
    #[serde(default)]
    pub bad_label: Option<String>,
}

/// Records a resolution; returns the new guideline version when an example was added.
pub fn resolve(
    conn: &mut Connection,
    project: &Project,
    r: &NewResolution,
    by: i64,
) -> Result<Option<i64>, Error> {
    let (task_project, item_key): (i64, String) = conn
        .query_row(
            "SELECT t.project_id, i.item_key FROM tasks t JOIN items i ON i.id = t.item_id WHERE t.id = ?1",
            [r.task],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound("task".into()))?;
    if task_project != project.id {
        return Err(Error::NotFound("task".into()));
    }
    if !project.kind().criteria_names().contains(&r.criterion) {
        return Err(Error::bad(format!("unknown criterion {:?}", r.criterion)));
    }
    let label = r.label.trim();
    if label.is_empty() {
        return Err(Error::bad("give the agreed label"));
    }
    if r.note.trim().is_empty() {
        return Err(Error::bad("write down why (it is what the team will read)"));
    }
    let value = match label.parse::<f64>() {
        Ok(x) if x.is_finite() => serde_json::Value::from(x),
        _ => serde_json::Value::from(label),
    };
    let version = match r.example.as_deref().filter(|e| !e.is_empty()) {
        Some(kind) => {
            let shown = if kind == "bad" {
                r.bad_label
                    .clone()
                    .filter(|b| !b.trim().is_empty())
                    .ok_or_else(|| Error::bad("a bad example needs the wrong label it shows"))?
            } else {
                label.to_string()
            };
            let ex = NewExample {
                kind: kind.to_string(),
                label: shown,
                explanation: r.note.clone(),
            };
            Some(add_example(
                conn,
                project.id,
                Some(r.task),
                &ex,
                &format!("example from the review of item {item_key}"),
                by,
            )?)
        }
        None => None,
    };
    let example_id: Option<i64> = match version {
        Some(_) => Some(conn.query_row(
            "SELECT max(id) FROM examples WHERE project_id = ?1",
            [project.id],
            |r| r.get(0),
        )?),
        None => None,
    };
    conn.execute(
        "INSERT INTO resolutions (project_id, task_id, criterion, value_json, note, example_id, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (task_id, criterion) DO UPDATE SET value_json = excluded.value_json, note = excluded.note,
           example_id = coalesce(excluded.example_id, resolutions.example_id), created_by = excluded.created_by, created_at = excluded.created_at",
        params![project.id, r.task, r.criterion, value.to_string(), r.note.trim(), example_id, by, now()],
    )?;
    Ok(version)
}
