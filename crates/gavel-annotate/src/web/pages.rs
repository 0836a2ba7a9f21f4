//! The HTML pages. Each handler loads what it shows through the same library functions as the
//! JSON API, and renders one template.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::Value;

use super::templates::render;
use super::{PageError, PageUser, for_log, session_cookie, session_cookie_header};
use crate::AppState;
use crate::dashboard::{DashboardOptions, dashboard as compute_dashboard};
use crate::error::Error;
use crate::export::{Filter, labels, labels_bytes};
use crate::labelling::{
    Submission, history as own_history, next_assignment, progress_of, side_to_label, view,
};
use crate::projects::{
    Criterion, NewExample, NewProject, Project, ProjectSettings, TaskKind, add_guideline_version,
    add_members as add, guideline, guideline_versions, import_items as import, list_projects,
    members, rounds, start_calibration, update_settings, visible_project,
};
use crate::review::{NewResolution, disagreements, resolve as record_resolution};
use crate::users::{
    Role, User, create_session, create_user as make_user, list_users, user_by_password,
    user_by_token,
};

type PageResult = Result<Response, PageError>;

fn page(user: &User, name: &str, ctx: Value) -> PageResult {
    let mut ctx = ctx;
    if let Value::Object(m) = &mut ctx {
        m.insert(
            "me".into(),
            serde_json::json!({"name": user.name, "role": user.role, "lead": user.is_lead()}),
        );
        m.insert(
            "csrf".into(),
            Value::String(user.csrf.clone().unwrap_or_default()),
        );
    }
    let html = render(name, ctx)?;
    Ok(for_log(Html(html).into_response(), user))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Project header data for templates.
fn project_ctx(p: &Project) -> Value {
    serde_json::json!({"slug": p.slug, "name": p.name, "kind": p.kind().name(), "overlap": p.overlap, "settings": p.settings, "min_alpha": p.min_alpha})
}

async fn load_project(st: &AppState, slug: String, user: &User) -> Result<Project, Error> {
    let u = user.clone();
    st.db.run(move |c| visible_project(c, &slug, &u)).await
}

// ---------- sign in ----------

pub async fn signin_page() -> PageResult {
    Ok(Html(render("signin.html", context! {})?).into_response())
}

#[derive(Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

pub async fn signin(State(st): State<AppState>, Form(f): Form<SigninForm>) -> PageResult {
    let lifetime = st.config.session_secs;
    let found = st
        .db
        .run(move |c| {
            let user = if !f.token.trim().is_empty() {
                user_by_token(c, f.token.trim())?
            } else {
                user_by_password(c, f.name.trim(), &f.password)?
            };
            match user {
                Some(u) => Ok(Some((create_session(c, u.id, lifetime)?, u))),
                None => Ok(None),
            }
        })
        .await?;
    match found {
        Some((session, user)) => {
            let mut res = see_other("/");
            if let Ok(v) = session_cookie_header(&st, &session).parse() {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(for_log(res, &user))
        }
        None => {
            let html = render("signin.html", context! { failed => true })?;
            Ok((StatusCode::UNAUTHORIZED, Html(html)).into_response())
        }
    }
}

pub async fn signout(State(st): State<AppState>, headers: axum::http::HeaderMap) -> PageResult {
    if let Some(s) = session_cookie(&headers) {
        st.db.run(move |c| crate::users::end_session(c, &s)).await?;
    }
    let mut res = see_other("/signin");
    if let Ok(v) = session_cookie_header(&st, "").parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

// ---------- home, users ----------

pub async fn home(State(st): State<AppState>, PageUser(user): PageUser) -> PageResult {
    let u = user.clone();
    let ttl = st.config.claim_ttl_secs;
    let projects = st
        .db
        .run(move |c| {
            let list = list_projects(c, &u)?;
            let mut out = Vec::new();
            for p in list {
                let mine = if crate::projects::is_member(c, p.project.id, u.id)? {
                    Some(progress_of(c, &p.project, u.id, &u.name, ttl)?)
                } else {
                    None
                };
                out.push(serde_json::json!({"p": project_ctx(&p.project), "counts": p.counts, "mine": mine}));
            }
            Ok(out)
        })
        .await?;
    page(
        &user,
        "home.html",
        serde_json::json!({ "projects": projects }),
    )
}

pub async fn users_page(State(st): State<AppState>, PageUser(user): PageUser) -> PageResult {
    user.require_lead()?;
    let list = st.db.run(|c| list_users(c)).await?;
    page(&user, "users.html", serde_json::json!({ "users": list }))
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    role: String,
    #[serde(default)]
    password: String,
}

pub async fn create_user(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Form(f): Form<NewUserForm>,
) -> PageResult {
    user.require_lead()?;
    let rounds = st.config.pbkdf2_rounds;
    let name = f.name.trim().to_string();
    let n2 = name.clone();
    let result = st
        .db
        .run(move |c| {
            let role = Role::parse(&f.role)?;
            make_user(c, &n2, role, Some(f.password.as_str()), rounds)
        })
        .await;
    let list = st.db.run(|c| list_users(c)).await?;
    match result {
        // The token is shown once, on this page; only its hash is stored.
        Ok((_, token)) => page(
            &user,
            "users.html",
            serde_json::json!({ "users": list, "new_name": name, "new_token": token }),
        ),
        Err(e @ (Error::BadRequest(_) | Error::Conflict(_))) => page(
            &user,
            "users.html",
            serde_json::json!({ "users": list, "problem": e.to_string() }),
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn reset_token(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    user.require_lead()?;
    let token = st.db.run(move |c| crate::users::reset_token(c, id)).await?;
    let list = st.db.run(|c| list_users(c)).await?;
    let name = list
        .iter()
        .find(|u| u.id == id)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    page(
        &user,
        "users.html",
        serde_json::json!({ "users": list, "new_name": name, "new_token": token }),
    )
}

// ---------- projects ----------

#[derive(Deserialize)]
pub struct NewProjectForm {
    slug: String,
    name: String,
    kind: String,
    #[serde(default)]
    overlap: Option<String>,
    #[serde(default)]
    tie: Option<String>,
    #[serde(default)]
    baseline: String,
    #[serde(default)]
    likert_min: Option<String>,
    #[serde(default)]
    likert_max: Option<String>,
    #[serde(default)]
    anchors: String,
    #[serde(default)]
    criteria: String,
    #[serde(default)]
    require_reason: Option<String>,
    #[serde(default)]
    guideline: String,
    #[serde(default)]
    min_alpha: Option<String>,
}

fn number<T: std::str::FromStr>(v: &Option<String>, name: &str, default: T) -> Result<T, Error> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| Error::bad(format!("{name}: {s:?} is not a number"))),
    }
}

fn project_from_form(f: &NewProjectForm) -> Result<NewProject, Error> {
    let kind = match f.kind.as_str() {
        "pairwise" => TaskKind::Pairwise {
            tie: f.tie.is_some(),
            baseline: Some(f.baseline.trim().to_string()).filter(|b| !b.is_empty()),
        },
        "likert" => TaskKind::Likert {
            min: number(&f.likert_min, "lowest score", 1)?,
            max: number(&f.likert_max, "highest score", 5)?,
            anchors: {
                let lines: Vec<String> = f.anchors.lines().map(|l| l.trim().to_string()).collect();
                let trimmed: Vec<String> = lines
                    .iter()
                    .rev()
                    .skip_while(|l| l.is_empty())
                    .cloned()
                    .collect();
                trimmed.into_iter().rev().collect()
            },
        },
        "binary" => TaskKind::Binary {
            criteria: f
                .criteria
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| match l.split_once(':') {
                    Some((n, d)) => Criterion {
                        name: n.trim().to_string(),
                        description: d.trim().to_string(),
                    },
                    None => Criterion {
                        name: l.to_string(),
                        description: String::new(),
                    },
                })
                .collect(),
        },
        other => return Err(Error::bad(format!("unknown task kind {other:?}"))),
    };
    Ok(NewProject {
        slug: f.slug.trim().to_string(),
        name: f.name.trim().to_string(),
        settings: ProjectSettings {
            kind,
            require_reason: f.require_reason.is_some(),
        },
        overlap: number(&f.overlap, "overlap", 3)?,
        min_alpha: match f.min_alpha.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(_) => Some(number(&f.min_alpha, "drift threshold", 0.667)?),
        },
        guideline: f.guideline.clone(),
        seed: None,
    })
}

pub async fn create_project(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Form(f): Form<NewProjectForm>,
) -> PageResult {
    user.require_lead()?;
    let np = project_from_form(&f)?;
    let by = user.id;
    let p = st
        .db
        .run(move |c| crate::projects::create_project(c, &np, by))
        .await?;
    Ok(see_other(&format!("/p/{}/setup", p.slug)))
}

pub async fn project_home(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    if user.is_lead() {
        Ok(see_other(&format!("/p/{}/dashboard", p.slug)))
    } else {
        Ok(see_other(&format!("/p/{}/label", p.slug)))
    }
}

// ---------- labelling ----------

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<i64>,
    #[serde(default)]
    skipped: Option<i64>,
}

pub async fn label_next(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    let (u, ttl) = (user.clone(), st.config.claim_ttl_secs);
    let p2 = p.clone();
    let next = st
        .db
        .run_write(move |c| next_assignment(c, &p2, &u, ttl))
        .await?;
    match next {
        Some(id) => show_assignment(&st, &user, p, id, q).await,
        None => {
            let (u, p2) = (user.clone(), p.clone());
            let (prog, gl) = st
                .db
                .run(move |c| {
                    Ok((
                        progress_of(c, &p2, u.id, &u.name, ttl)?,
                        guideline(c, p2.id, None)?,
                    ))
                })
                .await?;
            page(
                &user,
                "label.html",
                serde_json::json!({"project": project_ctx(&p), "task": null, "progress": prog, "guideline": gl, "saved": q.saved, "skipped": q.skipped}),
            )
        }
    }
}

pub async fn label_one(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path((slug, id)): Path<(String, i64)>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    show_assignment(&st, &user, p, id, SavedQuery::default()).await
}

async fn show_assignment(
    st: &AppState,
    user: &User,
    p: Project,
    id: i64,
    q: SavedQuery,
) -> PageResult {
    let (u, p2, ttl) = (user.clone(), p.clone(), st.config.claim_ttl_secs);
    let (task, prog, gl) = st
        .db
        .run(move |c| {
            let t = view(c, &p2, &u, id)?;
            Ok((
                t,
                progress_of(c, &p2, u.id, &u.name, ttl)?,
                guideline(c, p2.id, None)?,
            ))
        })
        .await?;
    page(
        user,
        "label.html",
        serde_json::json!({"project": project_ctx(&p), "task": task, "progress": prog, "guideline": gl, "saved": q.saved, "skipped": q.skipped}),
    )
}

pub async fn submit(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path((slug, id)): Path<(String, i64)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    let mut values = BTreeMap::new();
    for c in p.kind().criteria_names() {
        let key = if c.is_empty() {
            "choice".to_string()
        } else {
            format!("c_{c}")
        };
        if let Some(v) = form.get(&key).filter(|v| !v.is_empty()) {
            values.insert(c, v.clone());
        }
    }
    let (u, p2) = (user.clone(), p.clone());
    let result = st
        .db
        .run_write(move |c| {
            // Pairwise answers arrive as screen sides; the side order is the one stored for
            // this assignment, not what the form claims.
            if matches!(p2.kind(), TaskKind::Pairwise { .. }) {
                let stored: String = c
                    .query_row(
                        "SELECT shown FROM assignments WHERE id = ?1 AND user_id = ?2 AND project_id = ?3",
                        rusqlite::params![id, u.id, p2.id],
                        |r| r.get(0),
                    )
                    .map_err(|_| Error::NotFound("assignment".into()))?;
                if let Some(side) = values.get("") {
                    let label = side_to_label(&stored, side).ok_or_else(|| Error::bad("choose left, right or tie"))?;
                    values.insert(String::new(), label.to_string());
                }
            }
            let s = Submission {
                assignment: id,
                values,
                reason: form.get("reason").cloned(),
                guideline_version: form.get("gv").and_then(|v| v.parse().ok()),
                served_ms: form.get("served").and_then(|v| v.parse().ok()),
            };
            let pos: i64 = c
                .query_row("SELECT position FROM assignments WHERE id = ?1", [id], |r| r.get(0))
                .unwrap_or(0);
            crate::labelling::submit(c, &p2, &u, &s).map(|_| pos)
        })
        .await;
    match result {
        Ok(pos) => Ok(for_log(
            see_other(&format!("/p/{}/label?saved={pos}", p.slug)),
            &user,
        )),
        Err(Error::BadRequest(m)) => {
            // Show the same task again with the problem.
            let (u, p2, ttl) = (user.clone(), p.clone(), st.config.claim_ttl_secs);
            let (task, prog, gl) = st
                .db
                .run(move |c| {
                    Ok((
                        view(c, &p2, &u, id)?,
                        progress_of(c, &p2, u.id, &u.name, ttl)?,
                        guideline(c, p2.id, None)?,
                    ))
                })
                .await?;
            let mut res = page(
                &user,
                "label.html",
                serde_json::json!({"project": project_ctx(&p), "task": task, "progress": prog, "guideline": gl, "problem": m}),
            )?;
            *res.status_mut() = StatusCode::BAD_REQUEST;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SkipForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    other: String,
}

pub async fn skip(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path((slug, id)): Path<(String, i64)>,
    Form(f): Form<SkipForm>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    let reason = if f.reason == "other" || f.reason.is_empty() {
        f.other
    } else if f.other.trim().is_empty() {
        f.reason
    } else {
        format!("{}: {}", f.reason, f.other.trim())
    };
    let (u, p2) = (user.clone(), p.clone());
    let pos = st
        .db
        .run_write(move |c| {
            crate::labelling::skip(c, &p2, &u, id, &reason)?;
            Ok(c.query_row(
                "SELECT position FROM assignments WHERE id = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await?;
    Ok(for_log(
        see_other(&format!("/p/{}/label?skipped={pos}", p.slug)),
        &user,
    ))
}

pub async fn history(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    let (u, p2) = (user.clone(), p.clone());
    let rows = st.db.run(move |c| own_history(c, &p2, &u, 500)).await?;
    page(
        &user,
        "history.html",
        serde_json::json!({"project": project_ctx(&p), "rows": rows}),
    )
}

// ---------- guidelines ----------

#[derive(Deserialize)]
pub struct VersionQuery {
    v: Option<i64>,
}

pub async fn guidelines(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Query(q): Query<VersionQuery>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    let id = p.id;
    let (gl, versions, current) = st
        .db
        .run(move |c| {
            Ok((
                guideline(c, id, q.v)?,
                guideline_versions(c, id)?,
                crate::projects::current_version(c, id)?,
            ))
        })
        .await?;
    let versions: Vec<Value> = versions
        .into_iter()
        .map(
            |(v, note, at, by)| serde_json::json!({"version": v, "note": note, "at": at, "by": by}),
        )
        .collect();
    page(
        &user,
        "guidelines.html",
        serde_json::json!({"project": project_ctx(&p), "guideline": gl, "versions": versions, "current": current}),
    )
}

#[derive(Deserialize)]
pub struct GuidelineForm {
    markdown: String,
    #[serde(default)]
    note: String,
}

pub async fn new_guideline(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<GuidelineForm>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let (id, by) = (p.id, user.id);
    if f.note.trim().is_empty() {
        return Err(Error::bad("say what changed in this version").into());
    }
    st.db
        .run(move |c| add_guideline_version(c, id, &f.markdown, &f.note, by))
        .await?;
    Ok(see_other(&format!("/p/{}/guidelines", p.slug)))
}

pub async fn new_example(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<NewExample>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let (id, by) = (p.id, user.id);
    st.db
        .run(move |c| crate::projects::add_example(c, id, None, &f, "example added", by))
        .await?;
    Ok(see_other(&format!("/p/{}/guidelines", p.slug)))
}

// ---------- lead pages ----------

#[derive(Deserialize, Default)]
pub struct DashQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    window: Option<String>,
}

pub fn window_secs(w: Option<&str>) -> Result<i64, Error> {
    let w = w.map(str::trim).filter(|w| !w.is_empty()).unwrap_or("1d");
    let (num, unit) = w.split_at(w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| Error::bad("a window is like 1h, 1d or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(Error::bad("a window is like 1h, 1d or 7d")),
    };
    if n <= 0 {
        return Err(Error::bad("the window must be longer than zero"));
    }
    Ok(n * mult)
}

pub async fn dashboard(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Query(q): Query<DashQuery>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let opts = DashboardOptions {
        bootstrap: st.config.dashboard_bootstrap,
        window_secs: window_secs(q.window.as_deref())?,
        round: q.round.clone().filter(|r| !r.is_empty()),
    };
    let (p2, ttl) = (p.clone(), st.config.claim_ttl_secs);
    let (d, rounds, judges) = st
        .db
        .run(move |c| {
            Ok((
                compute_dashboard(c, &p2, &opts, ttl)?,
                rounds(c, p2.id)?,
                crate::export::judges(c, p2.id)?,
            ))
        })
        .await?;
    page(
        &user,
        "dashboard.html",
        serde_json::json!({"project": project_ctx(&p), "d": d, "rounds": rounds, "judges": judges, "round": q.round, "window": q.window.unwrap_or_else(|| "1d".into())}),
    )
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    all: Option<String>,
}

pub async fn review(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Query(q): Query<ReviewQuery>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let p2 = p.clone();
    let round = q.round.clone().filter(|r| !r.is_empty());
    let all = q.all.is_some();
    let (items, rounds) = st
        .db
        .run(move |c| {
            Ok((
                disagreements(c, &p2, round.as_deref(), all)?,
                rounds(c, p2.id)?,
            ))
        })
        .await?;
    page(
        &user,
        "review.html",
        serde_json::json!({"project": project_ctx(&p), "items": items, "rounds": rounds, "round": q.round, "all": all}),
    )
}

pub async fn resolve(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<NewResolution>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let (p2, by) = (p.clone(), user.id);
    st.db
        .run(move |c| record_resolution(c, &p2, &f, by))
        .await?;
    Ok(see_other(&format!("/p/{}/review", p.slug)))
}

pub async fn setup(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let p2 = p.clone();
    let (members, users, rounds, counts, judges) = st
        .db
        .run(move |c| {
            Ok((
                members(c, p2.id)?,
                list_users(c)?,
                rounds(c, p2.id)?,
                crate::projects::counts(c, p2.id)?,
                crate::export::judges(c, p2.id)?,
            ))
        })
        .await?;
    page(
        &user,
        "setup.html",
        serde_json::json!({"project": project_ctx(&p), "members": members, "users": users, "rounds": rounds, "counts": counts, "judges": judges}),
    )
}

#[derive(Deserialize)]
pub struct MembersForm {
    #[serde(default)]
    names: String,
}

pub async fn add_members(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<MembersForm>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let names: Vec<String> = f
        .names
        .split([',', '\n', ' '])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let p2 = p.clone();
    st.db.run(move |c| add(c, &p2, &names)).await?;
    Ok(see_other(&format!("/p/{}/setup", p.slug)))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    overlap: Option<String>,
    min_alpha: Option<String>,
}

pub async fn settings(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<SettingsForm>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let overlap = number(&f.overlap, "overlap", p.overlap)?;
    let min_alpha = match f.min_alpha.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(_) => Some(number(&f.min_alpha, "drift threshold", 0.667)?),
    };
    let id = p.id;
    st.db
        .run(move |c| update_settings(c, id, overlap, min_alpha))
        .await?;
    Ok(see_other(&format!("/p/{}/setup", p.slug)))
}

#[derive(Deserialize)]
pub struct CalibrationForm {
    round: String,
    #[serde(default)]
    items: String,
    #[serde(default)]
    n: Option<String>,
}

pub async fn calibration(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<CalibrationForm>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let items: Vec<String> = f
        .items
        .split([',', '\n', ' '])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let n = number(&f.n, "number of items", 10usize)?;
    let p2 = p.clone();
    st.db
        .run(move |c| start_calibration(c, &p2, &f.round, &items, n))
        .await?;
    Ok(see_other(&format!("/p/{}/setup", p.slug)))
}

#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    name: String,
    records: String,
}

/// Import from a textarea (the page's script uploads files through the API instead).
pub async fn import_items(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path(slug): Path<String>,
    Form(f): Form<ImportForm>,
) -> PageResult {
    user.require_lead()?;
    let p = load_project(&st, slug, &user).await?;
    let name = if f.name.trim().is_empty() {
        "pasted.jsonl".to_string()
    } else {
        f.name
    };
    let items = crate::export::read_items(&name, f.records.into_bytes())?;
    let p2 = p.clone();
    st.db.run(move |c| import(c, &p2, &items)).await?;
    Ok(see_other(&format!("/p/{}/setup", p.slug)))
}

#[derive(Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    criterion: Option<String>,
}

pub async fn export(
    State(st): State<AppState>,
    PageUser(user): PageUser,
    Path((slug, ext)): Path<(String, String)>,
    Query(q): Query<ExportQuery>,
) -> PageResult {
    let p = load_project(&st, slug, &user).await?;
    // Annotators may export their own labels only.
    let filter = Filter {
        round: q.round.filter(|r| !r.is_empty()),
        criterion: q.criterion.filter(|c| !c.is_empty()),
        user: (!user.is_lead()).then_some(user.id),
    };
    let (p2, ext2) = (p.clone(), ext.clone());
    let bytes = st
        .db
        .run(move |c| labels_bytes(&labels(c, &p2, &filter)?, &ext2))
        .await?;
    let ctype = match ext.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        "json" => "application/json",
        _ => "application/x-ndjson",
    };
    let res = (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-labels.{ext}\"", p.slug),
            ),
        ],
        bytes,
    )
        .into_response();
    Ok(for_log(res, &user))
}
