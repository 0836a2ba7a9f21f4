//! Labels out as CONTRACT.md Label records (the one list behind the export files, the JSON API
//! and the dashboard, so the dashboard's numbers are `gavel agree`'s on the export), uploads
//! in (items and judgments in any format gavel reads), and imported judges.

use std::path::Path;

use gavel_core::{FromRecord, Item, Judgment, Label, LabelValue, RecordReader, RecordWriter};
use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use crate::db::now;
use crate::error::Error;
use crate::labelling::label_value;
use crate::projects::{Project, TaskKind};

/// Which labels to export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this round (`main` or a calibration round).
    pub round: Option<String>,
    /// Only this criterion (binary projects); its labels then carry the plain item id.
    pub criterion: Option<String>,
    /// Only this annotator's labels (what an annotator may read).
    pub user: Option<i64>,
}

/// The project's labels as Label records, in the order they were first given; skipped tasks
/// are `label: null` ("saw it, gave no label") with the reason in `skip_reason`.
///
/// Fields: `item`, `annotator`, `label`, `model_a`/`model_b` (pairwise, the label in their
/// frame) or `model`, `time` (when first given), `round`, `guideline_version` (`v3`), and
/// `reason`, `criterion`, `shown` (`AB` when model_a was on the left), `position` (the task's
/// place in the annotator's own order), `duration_ms` where they apply. A binary project with
/// several criteria writes `item` as `ID#criterion` unless one criterion is chosen.
pub fn labels(conn: &Connection, project: &Project, filter: &Filter) -> Result<Vec<Label>, Error> {
    let several = project.kind().criteria_names().len() > 1;
    if let Some(c) = &filter.criterion
        && !project.kind().criteria_names().contains(c)
    {
        return Err(Error::bad(format!("the project has no criterion {c:?}")));
    }
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT i.item_key, u.name, l.value_json, t.model_a, t.model_b, t.model, l.created_at, l.round,
                l.guideline_version, l.reason, l.criterion, a.shown, a.position, l.duration_ms
         FROM labels l JOIN tasks t ON t.id = l.task_id JOIN items i ON i.id = t.item_id
           JOIN users u ON u.id = l.user_id JOIN assignments a ON a.id = l.assignment_id
         WHERE l.project_id = ?1 AND (?2 IS NULL OR l.round = ?2) AND (?3 IS NULL OR l.criterion = ?3)
           AND (?4 IS NULL OR l.user_id = ?4)
         ORDER BY l.id",
    )?;
    let rows = stmt.query_map(
        params![project.id, filter.round, filter.criterion, filter.user],
        |r| {
            Ok(Row {
                item: r.get(0)?,
                annotator: r.get(1)?,
                value: label_value(&r.get::<_, String>(2)?),
                model_a: r.get(3)?,
                model_b: r.get(4)?,
                model: r.get(5)?,
                time_ms: r.get(6)?,
                round: r.get(7)?,
                guideline_version: r.get(8)?,
                reason: r.get(9)?,
                criterion: r.get(10)?,
                shown: r.get(11)?,
                position: r.get(12)?,
                duration_ms: r.get(13)?,
                skip_reason: None,
            })
        },
    )?;
    for row in rows {
        out.push(row?.into_label(several && filter.criterion.is_none()));
    }
    // Skips: one null label per criterion.
    let mut stmt = conn.prepare(
        "SELECT i.item_key, u.name, t.model_a, t.model_b, t.model, a.done_at, t.round, a.skip_reason, a.shown, a.position
         FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN items i ON i.id = t.item_id JOIN users u ON u.id = a.user_id
         WHERE a.project_id = ?1 AND a.state = 'skipped' AND (?2 IS NULL OR t.round = ?2) AND (?3 IS NULL OR a.user_id = ?3)
         ORDER BY a.done_at, a.id",
    )?;
    let criteria: Vec<String> = match &filter.criterion {
        Some(c) => vec![c.clone()],
        None => project.kind().criteria_names(),
    };
    let rows = stmt.query_map(params![project.id, filter.round, filter.user], |r| {
        Ok(Row {
            item: r.get(0)?,
            annotator: r.get(1)?,
            value: LabelValue::Missing,
            model_a: r.get(2)?,
            model_b: r.get(3)?,
            model: r.get(4)?,
            time_ms: r.get::<_, Option<i64>>(5)?.unwrap_or(0) * 1000,
            round: r.get(6)?,
            guideline_version: None,
            reason: None,
            criterion: String::new(),
            shown: r.get(8)?,
            position: r.get(9)?,
            duration_ms: None,
            skip_reason: r.get(7)?,
        })
    })?;
    for row in rows {
        let row = row?;
        for c in &criteria {
            let mut r = row.clone();
            r.criterion = c.clone();
            out.push(r.into_label(several && filter.criterion.is_none()));
        }
    }
    Ok(out)
}

#[derive(Clone)]
struct Row {
    item: String,
    annotator: String,
    value: LabelValue,
    model_a: String,
    model_b: String,
    model: String,
    time_ms: i64,
    round: String,
    guideline_version: Option<i64>,
    reason: Option<String>,
    criterion: String,
    shown: String,
    position: i64,
    duration_ms: Option<i64>,
    skip_reason: Option<String>,
}

impl Row {
    fn into_label(self, suffix_criterion: bool) -> Label {
        let mut extra = Map::new();
        if let Some(r) = self.reason {
            extra.insert("reason".into(), Value::String(r));
        }
        if !self.criterion.is_empty() {
            extra.insert("criterion".into(), Value::String(self.criterion.clone()));
        }
        if !self.shown.is_empty() {
            extra.insert("shown".into(), Value::String(self.shown));
        }
        extra.insert("position".into(), Value::from(self.position));
        if let Some(d) = self.duration_ms {
            extra.insert("duration_ms".into(), Value::from(d));
        }
        if let Some(s) = self.skip_reason {
            extra.insert("skip_reason".into(), Value::String(s));
        }
        let item = if suffix_criterion && !self.criterion.is_empty() {
            extra.insert("item_id".into(), Value::String(self.item.clone()));
            format!("{}#{}", self.item, self.criterion)
        } else {
            self.item
        };
        let opt = |s: String| (!s.is_empty()).then_some(s);
        Label {
            item,
            annotator: self.annotator,
            label: self.value,
            model_a: opt(self.model_a),
            model_b: opt(self.model_b),
            model: opt(self.model),
            time: Some(gavel_core::time::format_rfc3339(
                self.time_ms.div_euclid(1000),
            )),
            round: Some(self.round),
            guideline_version: self.guideline_version.map(|v| format!("v{v}")),
            extra,
        }
    }
}

/// Writes labels to a file; the format comes from the extension (`.jsonl`, `.json`, `.csv`,
/// `.parquet`), and the file appears only when complete.
pub fn write_labels(path: &Path, labels: &[Label]) -> Result<(), Error> {
    let mut w = RecordWriter::create(path).map_err(|e| Error::bad(e.to_string()))?;
    for l in labels {
        w.write(l).map_err(|e| Error::Internal(e.to_string()))?;
    }
    w.finish().map_err(|e| Error::Internal(e.to_string()))
}

/// Labels as file bytes in a format (`jsonl`, `json`, `csv` or `parquet`).
pub fn labels_bytes(labels: &[Label], format: &str) -> Result<Vec<u8>, Error> {
    if !matches!(format, "jsonl" | "json" | "csv" | "parquet") {
        return Err(Error::bad("export formats: jsonl, json, csv, parquet"));
    }
    let dir = tempfile::tempdir().map_err(|e| Error::Internal(format!("temporary folder: {e}")))?;
    let path = dir.path().join(format!("labels.{format}"));
    write_labels(&path, labels)?;
    std::fs::read(&path).map_err(|e| Error::Internal(format!("reading the export back: {e}")))
}

/// Reads uploaded records; the format comes from the file name's extension (JSONL when it has
/// none). Errors name the upload's file name, line and field.
pub fn read_upload<T: FromRecord>(name: &str, bytes: Vec<u8>) -> Result<Vec<T>, Error> {
    let format =
        gavel_core::Format::from_path(Path::new(name)).unwrap_or(gavel_core::Format::Jsonl);
    if format == gavel_core::Format::Parquet {
        let dir =
            tempfile::tempdir().map_err(|e| Error::Internal(format!("temporary folder: {e}")))?;
        let path = dir.path().join("upload.parquet");
        std::fs::write(&path, &bytes)
            .map_err(|e| Error::Internal(format!("writing the upload: {e}")))?;
        let shown = path.display().to_string();
        return RecordReader::open_as(&path, format)
            .and_then(|r| r.typed::<T>().collect::<Result<Vec<T>, _>>())
            .map_err(|e| Error::bad(e.to_string().replace(&shown, name)));
    }
    RecordReader::from_reader(
        name.to_string(),
        format,
        Box::new(std::io::Cursor::new(bytes)),
    )
    .and_then(|r| r.typed::<T>().collect::<Result<Vec<T>, _>>())
    .map_err(|e| Error::bad(e.to_string()))
}

/// Items from an upload.
pub fn read_items(name: &str, bytes: Vec<u8>) -> Result<Vec<Item>, Error> {
    let items: Vec<Item> = read_upload(name, bytes)?;
    if items.is_empty() {
        return Err(Error::bad(format!("{name}: no items")));
    }
    Ok(items)
}

/// Imports judgments (or any Label records) from `gavel judge` as extra annotators. A judge
/// imported again replaces its earlier labels. Returns `(judge, labels)` counts.
pub fn import_judgments(
    conn: &mut Connection,
    project: &Project,
    judgments: &[Judgment],
) -> Result<Vec<(String, usize)>, Error> {
    let human: Vec<String> = crate::users::list_users(conn)?
        .into_iter()
        .map(|u| u.name)
        .collect();
    let mut by_judge: std::collections::BTreeMap<String, usize> = Default::default();
    for j in judgments {
        if human.contains(&j.label.annotator) {
            return Err(Error::bad(format!(
                "{:?} is the name of a person here; judges are imported under their own names (gavel judge writes judge:MODEL/TEMPLATE)",
                j.label.annotator
            )));
        }
        *by_judge.entry(j.label.annotator.clone()).or_default() += 1;
    }
    let tx = conn.transaction()?;
    for judge in by_judge.keys() {
        tx.execute(
            "DELETE FROM judge_labels WHERE project_id = ?1 AND annotator = ?2",
            params![project.id, judge],
        )?;
    }
    {
        let mut insert = tx.prepare(
            "INSERT INTO judge_labels (project_id, annotator, record_json, imported_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for j in judgments {
            let json = serde_json::to_string(j).map_err(|e| Error::Internal(e.to_string()))?;
            insert.execute(params![project.id, j.label.annotator, json, now()])?;
        }
    }
    tx.commit()?;
    Ok(by_judge.into_iter().collect())
}

/// The imported judgments, in import order; with `criterion`, only those about it (binary
/// projects: a judgment's `criterion` field, or none when the project has a single one).
pub fn judgments(
    conn: &Connection,
    project: &Project,
    criterion: Option<&str>,
) -> Result<Vec<Judgment>, Error> {
    let mut stmt =
        conn.prepare("SELECT record_json FROM judge_labels WHERE project_id = ?1 ORDER BY id")?;
    let texts: Vec<String> = stmt
        .query_map([project.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let joined = texts.join("\n");
    let all: Vec<Judgment> = RecordReader::from_reader(
        "stored judgments",
        gavel_core::Format::Jsonl,
        Box::new(std::io::Cursor::new(joined.into_bytes())),
    )
    .and_then(|r| r.typed::<Judgment>().collect::<Result<Vec<_>, _>>())
    .map_err(|e| Error::Internal(e.to_string()))?;
    let several = project.kind().criteria_names().len() > 1;
    Ok(all
        .into_iter()
        .filter(|j| {
            match (
                criterion,
                j.label.extra.get("criterion").and_then(Value::as_str),
            ) {
                (None, _) => true,
                (Some(c), Some(jc)) => c == jc,
                (Some(_), None) => !several,
            }
        })
        .collect())
}

/// The judges imported, with their label counts.
pub fn judges(conn: &Connection, project_id: i64) -> Result<Vec<(String, i64)>, Error> {
    let mut stmt = conn.prepare(
        "SELECT annotator, count(*) FROM judge_labels WHERE project_id = ?1 GROUP BY annotator ORDER BY annotator",
    )?;
    let v = stmt
        .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

/// Whether labels of this project are pairwise (for the judge comparisons).
pub fn is_pairwise(project: &Project) -> bool {
    matches!(project.kind(), TaskKind::Pairwise { .. })
}
