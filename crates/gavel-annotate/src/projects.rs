//! Projects: what kind of task they pose, the items and tasks imported into them, their
//! members (each with a recorded random order of the tasks), guideline versions with examples,
//! and calibration rounds.

use std::collections::BTreeMap;

use gavel_core::Item;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::now;
use crate::error::Error;

/// A binary criterion (pass or fail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Short name, recorded with each label (`factuality`).
    pub name: String,
    /// The question the annotator answers.
    #[serde(default)]
    pub description: String,
}

/// What annotators are asked, and the answers they can give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TaskKind {
    /// Two responses side by side: A, B or (if allowed) tie.
    Pairwise {
        /// Whether `tie` is an answer.
        #[serde(default = "yes")]
        tie: bool,
        /// Compare every model with this one only, instead of every pair.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        baseline: Option<String>,
    },
    /// One response, a score on a scale with a text (anchor) per point.
    Likert {
        /// Lowest point.
        min: i64,
        /// Highest point (at most 10 points in all).
        max: i64,
        /// Anchor texts from `min` to `max` (empty strings where none).
        #[serde(default)]
        anchors: Vec<String>,
    },
    /// One response, pass or fail on each criterion.
    Binary {
        /// The criteria, in the order they are asked.
        criteria: Vec<Criterion>,
    },
}

fn yes() -> bool {
    true
}

impl TaskKind {
    /// `pairwise`, `likert` or `binary`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Pairwise { .. } => "pairwise",
            TaskKind::Likert { .. } => "likert",
            TaskKind::Binary { .. } => "binary",
        }
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), Error> {
        match self {
            TaskKind::Pairwise { .. } => Ok(()),
            TaskKind::Likert { min, max, anchors } => {
                if max <= min || max - min > 9 {
                    return Err(Error::bad(
                        "a Likert scale has 2 to 10 points (e.g. min 1, max 5)",
                    ));
                }
                if !anchors.is_empty() && anchors.len() as i64 != max - min + 1 {
                    return Err(Error::bad(format!(
                        "give one anchor per point ({} for {min}..{max}), or none",
                        max - min + 1
                    )));
                }
                Ok(())
            }
            TaskKind::Binary { criteria } => {
                if criteria.is_empty() || criteria.len() > 9 {
                    return Err(Error::bad("a binary task has 1 to 9 criteria"));
                }
                let mut seen = std::collections::HashSet::new();
                for c in criteria {
                    crate::users::check_name(&c.name).map_err(|_| {
                        Error::bad(format!(
                            "criterion {:?}: a name has letters, digits, '.', '_', '-'",
                            c.name
                        ))
                    })?;
                    if !seen.insert(c.name.as_str()) {
                        return Err(Error::bad(format!("criterion {:?} is given twice", c.name)));
                    }
                }
                Ok(())
            }
        }
    }

    /// The agreement level `gavel agree` should use for these labels.
    pub fn level(&self) -> &'static str {
        match self {
            TaskKind::Likert { .. } => "ordinal",
            _ => "nominal",
        }
    }

    /// The criteria names labels are stored under (`[""]` for a single question).
    pub fn criteria_names(&self) -> Vec<String> {
        match self {
            TaskKind::Binary { criteria } => criteria.iter().map(|c| c.name.clone()).collect(),
            _ => vec![String::new()],
        }
    }
}

/// A project's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// The task.
    #[serde(flatten)]
    pub kind: TaskKind,
    /// Whether a reason must accompany each label.
    #[serde(default)]
    pub require_reason: bool,
}

/// What a lead gives to create a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewProject {
    /// URL name: lower-case letters, digits and `-`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Task and options.
    #[serde(flatten)]
    pub settings: ProjectSettings,
    /// How many annotators label each task (k).
    #[serde(default = "default_overlap")]
    pub overlap: i64,
    /// Drift threshold: windows with Krippendorff's alpha below it are flagged.
    #[serde(default = "default_min_alpha")]
    pub min_alpha: Option<f64>,
    /// The first guideline (Markdown).
    #[serde(default)]
    pub guideline: String,
    /// Seed of the per-annotator random orders.
    #[serde(default)]
    pub seed: Option<i64>,
}

fn default_overlap() -> i64 {
    3
}

fn default_min_alpha() -> Option<f64> {
    Some(0.667)
}

/// A project as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Row id.
    pub id: i64,
    /// URL name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Settings.
    #[serde(flatten)]
    pub settings: ProjectSettings,
    /// k.
    pub overlap: i64,
    /// Seed of the random orders.
    pub seed: i64,
    /// Drift threshold on Krippendorff's alpha.
    pub min_alpha: Option<f64>,
}

impl Project {
    /// The task kind.
    pub fn kind(&self) -> &TaskKind {
        &self.settings.kind
    }
}

fn check_slug(slug: &str) -> Result<(), Error> {
    let ok = !slug.is_empty()
        && slug.len() <= 48
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad(
            "a project's short name has 1 to 48 lower-case letters, digits or '-'",
        ))
    }
}

/// Creates a project with its first guideline version.
pub fn create_project(conn: &mut Connection, p: &NewProject, by: i64) -> Result<Project, Error> {
    check_slug(&p.slug)?;
    p.settings.kind.check()?;
    if p.name.trim().is_empty() {
        return Err(Error::bad("the project needs a name"));
    }
    if !(1..=50).contains(&p.overlap) {
        return Err(Error::bad("the overlap k is between 1 and 50"));
    }
    let tx = conn.transaction()?;
    let exists = tx
        .query_row("SELECT 1 FROM projects WHERE slug = ?1", [&p.slug], |_| {
            Ok(())
        })
        .optional()?
        .is_some();
    if exists {
        return Err(Error::Conflict(format!("a project {:?} exists", p.slug)));
    }
    let seed = p.seed.unwrap_or_else(|| {
        let r = crate::crypto::random_hex(6).unwrap_or_default();
        i64::from_str_radix(&r, 16).unwrap_or(1)
    });
    let config = serde_json::to_string(&p.settings).map_err(|e| Error::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO projects (slug, name, kind, config_json, overlap, seed, min_alpha, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            p.slug,
            p.name.trim(),
            p.settings.kind.name(),
            config,
            p.overlap,
            seed,
            p.min_alpha,
            now()
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO guidelines (project_id, version, markdown, note, created_by, created_at) VALUES (?1, 1, ?2, 'first version', ?3, ?4)",
        params![id, p.guideline, by, now()],
    )?;
    tx.commit()?;
    project(conn, &p.slug)
}

fn project_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, i64, i64, Option<f64>)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn build_project(
    row: (i64, String, String, String, i64, i64, Option<f64>),
) -> Result<Project, Error> {
    let (id, slug, name, config, overlap, seed, min_alpha) = row;
    let settings: ProjectSettings = serde_json::from_str(&config)
        .map_err(|e| Error::Internal(format!("project {slug}: stored settings: {e}")))?;
    Ok(Project {
        id,
        slug,
        name,
        settings,
        overlap,
        seed,
        min_alpha,
    })
}

const PROJECT_COLUMNS: &str = "id, slug, name, config_json, overlap, seed, min_alpha";

/// The project with this short name.
pub fn project(conn: &Connection, slug: &str) -> Result<Project, Error> {
    let row = conn
        .query_row(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE slug = ?1"),
            [slug],
            project_from_row,
        )
        .optional()?
        .ok_or_else(|| Error::NotFound("project".into()))?;
    build_project(row)
}

/// The project, if the user may see it (leads see all, annotators their own).
pub fn visible_project(
    conn: &Connection,
    slug: &str,
    user: &crate::User,
) -> Result<Project, Error> {
    let p = project(conn, slug)?;
    if user.is_lead() || is_member(conn, p.id, user.id)? {
        Ok(p)
    } else {
        Err(Error::NotFound("project".into()))
    }
}

/// Projects the user may see, with counts.
pub fn list_projects(conn: &Connection, user: &crate::User) -> Result<Vec<ProjectSummary>, Error> {
    let sql = format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p WHERE ?1 OR EXISTS (SELECT 1 FROM members m WHERE m.project_id = p.id AND m.user_id = ?2) ORDER BY created_at DESC, id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<_> = stmt
        .query_map(params![user.is_lead(), user.id], project_from_row)?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for row in rows {
        let project = build_project(row)?;
        let counts = counts(conn, project.id)?;
        out.push(ProjectSummary { project, counts });
    }
    Ok(out)
}

/// A project with its counts.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectSummary {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// Counts.
    pub counts: Counts,
}

/// How much there is and how much is done.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Items imported.
    pub items: i64,
    /// Tasks (item × pair or model).
    pub tasks: i64,
    /// Tasks labelled by at least k annotators (calibration tasks: by every member).
    pub complete: i64,
    /// Labelled tasks (assignments done).
    pub done: i64,
    /// Members.
    pub members: i64,
}

/// Counts for one project.
pub fn counts(conn: &Connection, project_id: i64) -> Result<Counts, Error> {
    let q =
        |sql: &str| -> Result<i64, Error> { Ok(conn.query_row(sql, [project_id], |r| r.get(0))?) };
    let members = q("SELECT count(*) FROM members WHERE project_id = ?1")?;
    let overlap: i64 = q("SELECT overlap FROM projects WHERE id = ?1")?;
    let complete: i64 = conn.query_row(
        "SELECT count(*) FROM (SELECT t.id, t.round, count(a.id) AS n FROM tasks t
           LEFT JOIN assignments a ON a.task_id = t.id AND a.state = 'done'
           WHERE t.project_id = ?1 GROUP BY t.id)
         WHERE n >= CASE WHEN round = 'main' THEN ?2 ELSE max(?3, 1) END",
        params![project_id, overlap, members],
        |r| r.get(0),
    )?;
    Ok(Counts {
        items: q("SELECT count(*) FROM items WHERE project_id = ?1")?,
        tasks: q("SELECT count(*) FROM tasks WHERE project_id = ?1")?,
        complete,
        done: q("SELECT count(*) FROM assignments WHERE project_id = ?1 AND state = 'done'")?,
        members,
    })
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    /// New items.
    pub items: usize,
    /// New tasks.
    pub tasks: usize,
    /// Items already in the project (same id), left as they were.
    pub already_present: usize,
    /// Items with too few responses to make a task (fewer than two for pairwise, none for the rest).
    pub without_tasks: usize,
}

/// The tasks an item gives: `(model_a, model_b, model)`, '' where absent.
pub fn tasks_of(item: &Item, kind: &TaskKind) -> Vec<(String, String, String)> {
    let models: Vec<&str> = item.models().collect();
    match kind {
        TaskKind::Pairwise { baseline, .. } => {
            let mut out = Vec::new();
            match baseline {
                Some(b) if models.contains(&b.as_str()) => {
                    for m in models.iter().filter(|m| **m != b) {
                        out.push((b.clone(), m.to_string(), String::new()));
                    }
                }
                Some(_) => {}
                None => {
                    for (i, a) in models.iter().enumerate() {
                        for b in &models[i + 1..] {
                            out.push((a.to_string(), b.to_string(), String::new()));
                        }
                    }
                }
            }
            out
        }
        _ => models
            .iter()
            .map(|m| (String::new(), String::new(), m.to_string()))
            .collect(),
    }
}

/// Imports items and makes their tasks; items whose id is already there are left alone, so
/// importing the same file twice changes nothing. Every member's order gets the new tasks.
pub fn import_items(
    conn: &mut Connection,
    project: &Project,
    items: &[Item],
) -> Result<ImportSummary, Error> {
    let tx = conn.transaction()?;
    let mut summary = ImportSummary::default();
    let members: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT user_id FROM members WHERE project_id = ?1")?;
        stmt.query_map([project.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    {
        let mut exists =
            tx.prepare("SELECT 1 FROM items WHERE project_id = ?1 AND item_key = ?2")?;
        let mut insert_item = tx
            .prepare("INSERT INTO items (project_id, item_key, record_json) VALUES (?1, ?2, ?3)")?;
        let mut insert_task = tx.prepare(
            "INSERT INTO tasks (project_id, item_id, model_a, model_b, model) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut insert_queue = tx.prepare(
            "INSERT INTO queue (project_id, user_id, task_id, rank) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for item in items {
            if exists.exists(params![project.id, item.id])? {
                summary.already_present += 1;
                continue;
            }
            let json = serde_json::to_string(item).map_err(|e| Error::Internal(e.to_string()))?;
            insert_item.execute(params![project.id, item.id, json])?;
            let item_id = tx.last_insert_rowid();
            summary.items += 1;
            let tasks = tasks_of(item, project.kind());
            if tasks.is_empty() {
                summary.without_tasks += 1;
            }
            for (a, b, m) in tasks {
                insert_task.execute(params![project.id, item_id, a, b, m])?;
                let task_id = tx.last_insert_rowid();
                summary.tasks += 1;
                for &u in &members {
                    insert_queue.execute(params![
                        project.id,
                        u,
                        task_id,
                        rank(project.seed, u, task_id)
                    ])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(summary)
}

/// A member's random place for a task: the first 63 bits of SHA-256 over the project seed,
/// the user and the task. Deterministic, so the order is the same after a restart, and
/// independent between annotators.
pub fn rank(seed: i64, user: i64, task: i64) -> i64 {
    let h = Sha256::digest(format!("{seed}:{user}:{task}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

/// Whether the user is a member of the project.
pub fn is_member(conn: &Connection, project_id: i64, user_id: i64) -> Result<bool, Error> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM members WHERE project_id = ?1 AND user_id = ?2",
            params![project_id, user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Adds members (by name); each gets their own random order of the project's tasks.
pub fn add_members(
    conn: &mut Connection,
    project: &Project,
    names: &[String],
) -> Result<usize, Error> {
    let tx = conn.transaction()?;
    let mut added = 0;
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let user: Option<i64> = tx
            .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        let Some(user) = user else {
            return Err(Error::bad(format!("there is no user {name:?}")));
        };
        let n = tx.execute(
            "INSERT OR IGNORE INTO members (project_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
            params![project.id, user, now()],
        )?;
        if n == 0 {
            continue;
        }
        added += 1;
        let tasks: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT id FROM tasks WHERE project_id = ?1")?;
            stmt.query_map([project.id], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut insert =
            tx.prepare("INSERT OR IGNORE INTO queue (project_id, user_id, task_id, rank) VALUES (?1, ?2, ?3, ?4)")?;
        for t in tasks {
            insert.execute(params![project.id, user, t, rank(project.seed, user, t)])?;
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Member names, sorted.
pub fn members(conn: &Connection, project_id: i64) -> Result<Vec<String>, Error> {
    let mut stmt = conn.prepare(
        "SELECT u.name FROM members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ?1 ORDER BY u.name",
    )?;
    let v = stmt
        .query_map([project_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

/// Changes k and the drift threshold.
pub fn update_settings(
    conn: &Connection,
    project_id: i64,
    overlap: i64,
    min_alpha: Option<f64>,
) -> Result<(), Error> {
    if !(1..=50).contains(&overlap) {
        return Err(Error::bad("the overlap k is between 1 and 50"));
    }
    conn.execute(
        "UPDATE projects SET overlap = ?1, min_alpha = ?2 WHERE id = ?3",
        params![overlap, min_alpha, project_id],
    )?;
    Ok(())
}

/// An example of a good or bad annotation, part of the guideline.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// Row id.
    pub id: i64,
    /// The guideline version that introduced it.
    pub version: i64,
    /// `good` or `bad`.
    pub kind: String,
    /// The label the example shows.
    pub label: String,
    /// Why (Markdown).
    pub explanation: String,
    /// The explanation as safe HTML.
    pub explanation_html: String,
    /// The item, if the example came from one.
    pub item: Option<String>,
    /// The model pair or model of the task it came from (for leads; not shown to annotators).
    pub models: Option<String>,
    /// The item's instruction (last user turn), when the example came from a task.
    pub prompt: Option<String>,
    /// The responses as `(name, text)`: `A` and `B` (the label's frame) or `Response`.
    pub responses: Vec<(String, String)>,
}

/// One version of a project's guideline, with the examples that belong to it.
#[derive(Debug, Clone, Serialize)]
pub struct Guideline {
    /// Version number, from 1.
    pub version: i64,
    /// Markdown source.
    pub markdown: String,
    /// Safe HTML.
    pub html: String,
    /// What changed.
    pub note: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Examples introduced at this version or before.
    pub examples: Vec<Example>,
}

/// The latest guideline version number.
pub fn current_version(conn: &Connection, project_id: i64) -> Result<i64, Error> {
    Ok(conn.query_row(
        "SELECT coalesce(max(version), 0) FROM guidelines WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

/// A guideline version (the latest when `version` is `None`).
pub fn guideline(
    conn: &Connection,
    project_id: i64,
    version: Option<i64>,
) -> Result<Guideline, Error> {
    let v = match version {
        Some(v) => v,
        None => current_version(conn, project_id)?,
    };
    let (markdown, note, created_at): (String, String, i64) = conn
        .query_row(
            "SELECT markdown, note, created_at FROM guidelines WHERE project_id = ?1 AND version = ?2",
            params![project_id, v],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("guideline version {v}")))?;
    let mut stmt = conn.prepare(
        "SELECT e.id, e.version, e.kind, e.label, e.explanation, i.item_key, t.model_a, t.model_b, t.model, i.record_json
         FROM examples e LEFT JOIN tasks t ON t.id = e.task_id LEFT JOIN items i ON i.id = t.item_id
         WHERE e.project_id = ?1 AND e.version <= ?2 ORDER BY e.id",
    )?;
    let examples = stmt
        .query_map(params![project_id, v], |r| {
            let explanation: String = r.get(4)?;
            let (a, b, m): (Option<String>, Option<String>, Option<String>) =
                (r.get(6)?, r.get(7)?, r.get(8)?);
            let record: Option<String> = r.get(9)?;
            let item = record
                .as_deref()
                .and_then(|j| crate::labelling::stored_item(j).ok());
            let text = |model: Option<&String>| -> Option<String> {
                let c = item.as_ref()?.response(model?)?;
                Some(match c {
                    gavel_core::Content::Text(t) => t.clone(),
                    gavel_core::Content::Turns(t) => t.join("\n\n"),
                })
            };
            let responses = match (&a, &b) {
                (Some(x), Some(_)) if !x.is_empty() => vec![
                    ("A".to_string(), text(a.as_ref()).unwrap_or_default()),
                    ("B".to_string(), text(b.as_ref()).unwrap_or_default()),
                ],
                _ => text(m.as_ref())
                    .map(|t| vec![("Response".to_string(), t)])
                    .unwrap_or_default(),
            };
            let prompt = item
                .as_ref()
                .map(|i| crate::labelling::prompts(i).join("\n\n"));
            Ok(Example {
                prompt,
                responses,
                id: r.get(0)?,
                version: r.get(1)?,
                kind: r.get(2)?,
                label: r.get(3)?,
                explanation_html: crate::markdown::render(&explanation),
                explanation,
                item: r.get(5)?,
                models: models_text(a.as_deref(), b.as_deref(), m.as_deref()),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Guideline {
        version: v,
        html: crate::markdown::render(&markdown),
        markdown,
        note,
        created_at: gavel_core::time::format_rfc3339(created_at),
        examples,
    })
}

fn models_text(a: Option<&str>, b: Option<&str>, m: Option<&str>) -> Option<String> {
    match (a, b, m) {
        (Some(a), Some(b), _) if !a.is_empty() => Some(format!("{a} vs {b}")),
        (_, _, Some(m)) if !m.is_empty() => Some(m.to_string()),
        _ => None,
    }
}

/// Version history: `(version, note, created_at, author)`.
pub fn guideline_versions(
    conn: &Connection,
    project_id: i64,
) -> Result<Vec<(i64, String, String, String)>, Error> {
    let mut stmt = conn.prepare(
        "SELECT g.version, g.note, g.created_at, coalesce(u.name, '') FROM guidelines g LEFT JOIN users u ON u.id = g.created_by
         WHERE g.project_id = ?1 ORDER BY g.version DESC",
    )?;
    let v = stmt
        .query_map([project_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                gavel_core::time::format_rfc3339(r.get(2)?),
                r.get(3)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

/// Adds a guideline version (text changed, or examples added); returns its number.
pub fn add_guideline_version(
    tx: &Connection,
    project_id: i64,
    markdown: &str,
    note: &str,
    by: i64,
) -> Result<i64, Error> {
    let v = current_version(tx, project_id)? + 1;
    tx.execute(
        "INSERT INTO guidelines (project_id, version, markdown, note, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![project_id, v, markdown, note.trim(), by, now()],
    )?;
    Ok(v)
}

/// A new example for the guideline.
#[derive(Debug, Clone, Deserialize)]
pub struct NewExample {
    /// `good` or `bad`.
    pub kind: String,
    /// The label it shows.
    pub label: String,
    /// Why (Markdown).
    pub explanation: String,
}

/// Adds an example and a guideline version that includes it (same text); returns the version.
pub fn add_example(
    conn: &mut Connection,
    project_id: i64,
    task_id: Option<i64>,
    ex: &NewExample,
    note: &str,
    by: i64,
) -> Result<i64, Error> {
    if ex.kind != "good" && ex.kind != "bad" {
        return Err(Error::bad("an example is `good` or `bad`"));
    }
    if ex.explanation.trim().is_empty() {
        return Err(Error::bad("say why the example is good or bad"));
    }
    let tx = conn.transaction()?;
    let current = guideline_markdown(&tx, project_id)?;
    let v = add_guideline_version(&tx, project_id, &current, note, by)?;
    tx.execute(
        "INSERT INTO examples (project_id, version, task_id, kind, label, explanation, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![project_id, v, task_id, ex.kind, ex.label, ex.explanation, now()],
    )?;
    tx.commit()?;
    Ok(v)
}

fn guideline_markdown(conn: &Connection, project_id: i64) -> Result<String, Error> {
    Ok(conn
        .query_row(
            "SELECT markdown FROM guidelines WHERE project_id = ?1 ORDER BY version DESC LIMIT 1",
            [project_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default())
}

/// Moves items into a calibration round: every member labels their tasks (before the main
/// round). Either the named items, or `n` items drawn at random (seeded) among those no one has
/// started. Items with labels already cannot move. Returns the number of tasks moved.
pub fn start_calibration(
    conn: &mut Connection,
    project: &Project,
    round: &str,
    items: &[String],
    n: usize,
) -> Result<usize, Error> {
    let round = round.trim();
    if round.is_empty() || round == "main" {
        return Err(Error::bad(
            "name the calibration round (e.g. calibration-1)",
        ));
    }
    let tx = conn.transaction()?;
    // Items no one has been handed yet, with their tasks.
    let mut stmt = tx.prepare(
        "SELECT i.item_key, t.id FROM tasks t JOIN items i ON i.id = t.item_id
         WHERE t.project_id = ?1 AND t.round = 'main'
           AND NOT EXISTS (SELECT 1 FROM assignments a JOIN tasks t2 ON t2.id = a.task_id WHERE t2.item_id = t.item_id)",
    )?;
    let mut free: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in stmt.query_map([project.id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (k, t) = row?;
        free.entry(k).or_default().push(t);
    }
    drop(stmt);
    let chosen: Vec<String> = if !items.is_empty() {
        for k in items {
            if !free.contains_key(k) {
                return Err(Error::bad(format!(
                    "item {k:?} is not in the project, or someone has already been given it"
                )));
            }
        }
        items.to_vec()
    } else {
        let mut keys: Vec<&String> = free.keys().collect();
        keys.sort_by_key(|k| {
            let h = Sha256::digest(format!("{}:{round}:{k}", project.seed).as_bytes());
            h.to_vec()
        });
        keys.into_iter().take(n).cloned().collect()
    };
    if chosen.is_empty() {
        return Err(Error::bad("no item left that no one has started"));
    }
    let mut moved = 0;
    for k in &chosen {
        for t in &free[k] {
            moved += tx.execute(
                "UPDATE tasks SET round = ?1 WHERE id = ?2",
                params![round, t],
            )?;
        }
    }
    tx.commit()?;
    Ok(moved)
}

/// Rounds of a project with their task counts, calibration rounds first.
pub fn rounds(conn: &Connection, project_id: i64) -> Result<Vec<(String, i64)>, Error> {
    let mut stmt = conn.prepare(
        "SELECT round, count(*) FROM tasks WHERE project_id = ?1 GROUP BY round ORDER BY round = 'main', min(id)",
    )?;
    let v = stmt
        .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(v)
}
