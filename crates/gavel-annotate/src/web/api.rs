//! The JSON API: the same operations as the pages, for scripts. Authenticate with
//! `Authorization: Bearer <personal token>` (no CSRF token needed), or with the browser
//! session plus an `x-csrf-token` header.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::pages::window_secs;
use super::{ApiError, ApiUser, for_log};
use crate::AppState;
use crate::dashboard::{DashboardOptions, dashboard};
use crate::error::Error;
use crate::export::{Filter, import_judgments, labels as export_labels, read_items, read_upload};
use crate::labelling::{
    Submission, next_assignment, progress as all_progress, progress_of, side_to_label, view,
};
use crate::projects::{
    NewExample, NewProject, Project, TaskKind, add_example, add_guideline_version,
    add_members as add, counts, create_project as make_project, guideline, guideline_versions,
    import_items as import, list_projects, members, rounds, start_calibration, visible_project,
};
use crate::review::{
    NewResolution, disagreements as list_disagreements, resolve as record_resolution,
};
use crate::users::{Role, User, create_user as make_user, list_users};

type ApiResult = Result<Response, ApiError>;

fn ok(user: &User, value: Value) -> ApiResult {
    Ok(for_log(Json(value).into_response(), user))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.to_string()))
}

async fn load(st: &AppState, slug: String, user: &User) -> Result<Project, Error> {
    let u = user.clone();
    st.db.run(move |c| visible_project(c, &slug, &u)).await
}

pub async fn me(ApiUser(user): ApiUser) -> ApiResult {
    ok(&user, json!({"name": user.name, "role": user.role}))
}

pub async fn users(State(st): State<AppState>, ApiUser(user): ApiUser) -> ApiResult {
    user.require_lead()?;
    let list = st.db.run(|c| list_users(c)).await?;
    ok(&user, json!({ "users": list }))
}

#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

pub async fn create_user(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Json(u): Json<NewUser>,
) -> ApiResult {
    user.require_lead()?;
    let rounds = st.config.pbkdf2_rounds;
    let (id, token) = st
        .db
        .run(move |c| {
            make_user(
                c,
                u.name.trim(),
                Role::parse(&u.role)?,
                u.password.as_deref(),
                rounds,
            )
        })
        .await?;
    let res = (StatusCode::CREATED, Json(json!({"id": id, "token": token}))).into_response();
    Ok(for_log(res, &user))
}

pub async fn projects(State(st): State<AppState>, ApiUser(user): ApiUser) -> ApiResult {
    let u = user.clone();
    let list = st.db.run(move |c| list_projects(c, &u)).await?;
    ok(&user, json!({ "projects": list }))
}

pub async fn create_project(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Json(p): Json<NewProject>,
) -> ApiResult {
    user.require_lead()?;
    let by = user.id;
    let p = st.db.run(move |c| make_project(c, &p, by)).await?;
    let res = (StatusCode::CREATED, Json(to_json(&p)?)).into_response();
    Ok(for_log(res, &user))
}

pub async fn project(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let p2 = p.clone();
    let lead = user.is_lead();
    let (c, r, m) = st
        .db
        .run(move |c| {
            Ok((
                counts(c, p2.id)?,
                rounds(c, p2.id)?,
                if lead { members(c, p2.id)? } else { Vec::new() },
            ))
        })
        .await?;
    let mut v = to_json(&p)?;
    v["counts"] = to_json(&c)?;
    v["rounds"] = to_json(&r)?;
    if lead {
        v["members"] = to_json(&m)?;
    }
    ok(&user, v)
}

#[derive(Deserialize, Default)]
pub struct UploadQuery {
    #[serde(default)]
    name: Option<String>,
}

pub async fn import_items(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let name = q.name.unwrap_or_else(|| "items.jsonl".into());
    let items = read_items(&name, body.to_vec())?;
    let summary = st.db.run(move |c| import(c, &p, &items)).await?;
    ok(&user, to_json(&summary)?)
}

pub async fn import_judges(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let name = q.name.unwrap_or_else(|| "judgments.jsonl".into());
    let judgments: Vec<gavel_core::Judgment> = read_upload(&name, body.to_vec())?;
    let counts = st
        .db
        .run(move |c| import_judgments(c, &p, &judgments))
        .await?;
    let judges: Vec<Value> = counts
        .into_iter()
        .map(|(j, n)| json!({"judge": j, "labels": n}))
        .collect();
    ok(&user, json!({ "judges": judges }))
}

#[derive(Deserialize)]
pub struct Members {
    names: Vec<String>,
}

pub async fn add_members(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Json(m): Json<Members>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let n = st.db.run(move |c| add(c, &p, &m.names)).await?;
    ok(&user, json!({ "added": n }))
}

#[derive(Deserialize)]
pub struct Calibration {
    round: String,
    #[serde(default)]
    items: Vec<String>,
    #[serde(default)]
    n: Option<usize>,
}

pub async fn calibration(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Json(c): Json<Calibration>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let moved = st
        .db
        .run(move |conn| start_calibration(conn, &p, &c.round, &c.items, c.n.unwrap_or(10)))
        .await?;
    ok(&user, json!({ "tasks": moved }))
}

pub async fn next(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let (u, ttl, p2) = (user.clone(), st.config.claim_ttl_secs, p.clone());
    let id = st
        .db
        .run_write(move |c| next_assignment(c, &p2, &u, ttl))
        .await?;
    let u = user.clone();
    let (task, prog) = st
        .db
        .run(move |c| {
            let t = match id {
                Some(id) => Some(view(c, &p, &u, id)?),
                None => None,
            };
            Ok((t, progress_of(c, &p, u.id, &u.name, ttl)?))
        })
        .await?;
    ok(&user, json!({ "task": task, "progress": prog }))
}

pub async fn assignment(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path((slug, id)): Path<(String, i64)>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let u = user.clone();
    let t = st.db.run(move |c| view(c, &p, &u, id)).await?;
    ok(&user, to_json(&t)?)
}

/// A label: `label` in the task's frame (`A`/`B`/`tie`, a score, `pass`/`fail`), or `side`
/// (`left`/`right`/`tie`) as shown, or `labels` by criterion for binary projects. An
/// `annotator` field is refused: labels are always recorded under the signed-in user.
#[derive(Deserialize)]
pub struct LabelBody {
    #[serde(default)]
    label: Option<Value>,
    #[serde(default)]
    side: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    guideline_version: Option<i64>,
    #[serde(default)]
    served_ms: Option<i64>,
    #[serde(default)]
    annotator: Option<String>,
}

pub async fn label(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path((slug, id)): Path<(String, i64)>,
    Json(b): Json<LabelBody>,
) -> ApiResult {
    if b.annotator.as_deref().is_some_and(|a| a != user.name) {
        return Err(Error::Forbidden(
            "labels are recorded under the signed-in user; another annotator's name is refused"
                .into(),
        )
        .into());
    }
    let p = load(&st, slug, &user).await?;
    let u = user.clone();
    let stored = st
        .db
        .run_write(move |c| {
            let mut values = b.labels.clone();
            if let Some(v) = &b.label {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(Error::bad("`label` is a string or a number")),
                };
                values.insert(String::new(), text);
            }
            if let Some(side) = &b.side {
                if !matches!(p.kind(), TaskKind::Pairwise { .. }) {
                    return Err(Error::bad("`side` is for pairwise projects"));
                }
                let shown: String = c
                    .query_row(
                        "SELECT shown FROM assignments WHERE id = ?1 AND user_id = ?2 AND project_id = ?3",
                        rusqlite::params![id, u.id, p.id],
                        |r| r.get(0),
                    )
                    .map_err(|_| Error::NotFound("assignment".into()))?;
                let l = side_to_label(&shown, side).ok_or_else(|| Error::bad("`side` is left, right or tie"))?;
                values.insert(String::new(), l.to_string());
            }
            let s = Submission {
                assignment: id,
                values,
                reason: b.reason.clone(),
                guideline_version: b.guideline_version,
                served_ms: b.served_ms,
            };
            crate::labelling::submit(c, &p, &u, &s)
        })
        .await?;
    // Reached only after the transaction committed.
    ok(&user, json!({ "stored": true, "assignment": stored }))
}

#[derive(Deserialize)]
pub struct SkipBody {
    reason: String,
}

pub async fn skip(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path((slug, id)): Path<(String, i64)>,
    Json(b): Json<SkipBody>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let u = user.clone();
    st.db
        .run_write(move |c| crate::labelling::skip(c, &p, &u, id, &b.reason))
        .await?;
    ok(&user, json!({ "skipped": true, "assignment": id }))
}

#[derive(Deserialize, Default)]
pub struct LabelsQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    criterion: Option<String>,
}

/// Label records: a lead gets everyone's, an annotator only their own.
pub async fn labels(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<LabelsQuery>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let filter = Filter {
        round: q.round.filter(|r| !r.is_empty()),
        criterion: q.criterion.filter(|c| !c.is_empty()),
        user: (!user.is_lead()).then_some(user.id),
    };
    let list = st.db.run(move |c| export_labels(c, &p, &filter)).await?;
    ok(&user, json!({ "labels": list }))
}

pub async fn progress(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let (u, ttl) = (user.clone(), st.config.claim_ttl_secs);
    let list = st
        .db
        .run(move |c| {
            if u.is_lead() {
                all_progress(c, &p, ttl)
            } else {
                Ok(vec![progress_of(c, &p, u.id, &u.name, ttl)?])
            }
        })
        .await?;
    ok(&user, json!({ "progress": list }))
}

#[derive(Deserialize, Default)]
pub struct VersionQuery {
    #[serde(default)]
    version: Option<i64>,
}

pub async fn guidelines(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult {
    let p = load(&st, slug, &user).await?;
    let (g, versions) = st
        .db
        .run(move |c| Ok((guideline(c, p.id, q.version)?, guideline_versions(c, p.id)?)))
        .await?;
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|(v, note, at, by)| json!({"version": v, "note": note, "created_at": at, "by": by}))
        .collect();
    let mut v = to_json(&g)?;
    v["versions"] = Value::Array(versions);
    ok(&user, v)
}

#[derive(Deserialize)]
pub struct NewGuideline {
    markdown: String,
    note: String,
}

pub async fn new_guideline(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Json(g): Json<NewGuideline>,
) -> ApiResult {
    user.require_lead()?;
    if g.note.trim().is_empty() {
        return Err(Error::bad("say what changed in this version (`note`)").into());
    }
    let p = load(&st, slug, &user).await?;
    let by = user.id;
    let v = st
        .db
        .run(move |c| add_guideline_version(c, p.id, &g.markdown, &g.note, by))
        .await?;
    ok(&user, json!({ "version": v }))
}

pub async fn new_example(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Json(e): Json<NewExample>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let by = user.id;
    let v = st
        .db
        .run(move |c| add_example(c, p.id, None, &e, "example added", by))
        .await?;
    ok(&user, json!({ "version": v }))
}

#[derive(Deserialize, Default)]
pub struct AgreementQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    bootstrap: Option<usize>,
}

pub async fn agreement(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<AgreementQuery>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let opts = DashboardOptions {
        bootstrap: q
            .bootstrap
            .unwrap_or(st.config.dashboard_bootstrap)
            .min(10_000),
        window_secs: window_secs(q.window.as_deref())?,
        round: q.round.filter(|r| !r.is_empty()),
    };
    let ttl = st.config.claim_ttl_secs;
    let d = st.db.run(move |c| dashboard(c, &p, &opts, ttl)).await?;
    ok(&user, to_json(&d)?)
}

#[derive(Deserialize, Default)]
pub struct DisagreementQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    all: Option<bool>,
}

pub async fn disagreements(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Query(q): Query<DisagreementQuery>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let list = st
        .db
        .run(move |c| {
            list_disagreements(
                c,
                &p,
                q.round.as_deref().filter(|r| !r.is_empty()),
                q.all.unwrap_or(false),
            )
        })
        .await?;
    ok(&user, json!({ "disagreements": list }))
}

pub async fn resolve(
    State(st): State<AppState>,
    ApiUser(user): ApiUser,
    Path(slug): Path<String>,
    Json(r): Json<NewResolution>,
) -> ApiResult {
    user.require_lead()?;
    let p = load(&st, slug, &user).await?;
    let by = user.id;
    let v = st.db.run(move |c| record_resolution(c, &p, &r, by)).await?;
    ok(&user, json!({ "resolved": true, "guideline_version": v }))
}
