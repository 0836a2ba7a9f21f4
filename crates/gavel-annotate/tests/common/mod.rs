//! A test harness: the app on a temporary database, driven without a socket.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gavel_annotate::{AppState, Config, Db, RequestLog, Role, app, users};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub db: Db,
    pub router: Router,
    pub log: Arc<Mutex<Vec<String>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

pub fn config() -> Config {
    Config {
        pbkdf2_rounds: 1000,
        dashboard_bootstrap: 0,
        ..Config::default()
    }
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Harness::at(dir)
    }

    pub fn at(dir: tempfile::TempDir) -> Harness {
        let db = Db::open(&dir.path().join("annotate.sqlite")).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let state =
            AppState::new(db.clone(), config()).with_log(Arc::new(move |l: &RequestLog| {
                sink.lock().unwrap().push(format!("{l:?}"));
            }));
        Harness {
            dir,
            db,
            router: app(state),
            log,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("annotate.sqlite")
    }

    /// Creates a user directly and returns their token.
    pub fn user(&self, name: &str, role: Role, password: Option<&str>) -> String {
        self.db
            .with(|c| users::create_user(c, name, role, password, 1000))
            .unwrap()
            .1
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn upload(&self, path: &str, token: &str, bytes: Vec<u8>) -> Reply {
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(bytes))
            .unwrap();
        self.send(req).await
    }

    /// Signs in through the form; returns (cookie, csrf token).
    pub async fn browser(&self, token: &str) -> Browser {
        let req = Request::builder()
            .method("POST")
            .uri("/signin")
            .header(header::HOST, "localhost")
            .header(header::ORIGIN, "http://localhost")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap();
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let cookie = r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut b = Browser {
            cookie,
            csrf: String::new(),
        };
        let home = self.get_page(&b, "/").await;
        b.csrf = between(&home.text(), "name=\"csrf\" content=\"", "\"").to_string();
        assert_eq!(b.csrf.len(), 48);
        b
    }

    pub async fn get_page(&self, b: &Browser, path: &str) -> Reply {
        let req = Request::builder()
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::COOKIE, &b.cookie)
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// Posts a form as the browser would (with its CSRF field unless `csrf` overrides it).
    pub async fn post_form(
        &self,
        b: &Browser,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
        origin: Option<&str>,
    ) -> Reply {
        let mut body = format!("csrf={}", csrf.unwrap_or(&b.csrf));
        for (k, v) in fields {
            body.push('&');
            body.push_str(&format!("{}={}", enc(k), enc(v)));
        }
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::COOKIE, &b.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"))
        + start.len();
    let j = text[i..].find(end).unwrap() + i;
    &text[i..j]
}

/// `n` items with responses from `models`.
pub fn items_jsonl(n: usize, models: &[&str]) -> String {
    let mut out = String::new();
    for i in 0..n {
        let responses: serde_json::Map<String, Value> = models
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    Value::String(format!("answer of {m} to question {i}")),
                )
            })
            .collect();
        out.push_str(&json!({"id": format!("q{i}"), "instruction": format!("Question {i}?"), "responses": responses}).to_string());
        out.push('\n');
    }
    out
}

/// A lead, a project and members: returns (lead token, member tokens).
pub async fn project(
    h: &Harness,
    slug: &str,
    settings: Value,
    overlap: i64,
    n_items: usize,
    models: &[&str],
    members: &[&str],
) -> (String, Vec<String>) {
    let lead = h.user("lead", Role::Lead, None);
    let mut body = json!({"slug": slug, "name": "Test project", "overlap": overlap, "guideline": "# Rules\n\nPrefer **correct** answers.", "seed": 7});
    for (k, v) in settings.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = h.api("POST", "/api/projects", &lead, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = h
        .upload(
            &format!("/api/projects/{slug}/items?name=items.jsonl"),
            &lead,
            items_jsonl(n_items, models).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tokens: Vec<String> = members
        .iter()
        .map(|m| h.user(m, Role::Annotator, None))
        .collect();
    let r = h
        .api(
            "POST",
            &format!("/api/projects/{slug}/members"),
            &lead,
            Some(json!({"names": members})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (lead, tokens)
}

/// Labels everything available to one annotator through the API with `choose(item, model_a, model_b)`.
pub async fn label_all(
    h: &Harness,
    slug: &str,
    token: &str,
    choose: &(dyn Fn(&Value) -> Value + Sync),
) -> usize {
    let mut n = 0;
    loop {
        let r = h
            .api("GET", &format!("/api/projects/{slug}/next"), token, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        if v["task"].is_null() {
            return n;
        }
        let id = v["task"]["assignment"].as_i64().unwrap();
        let r = h
            .api(
                "POST",
                &format!("/api/projects/{slug}/assignments/{id}/label"),
                token,
                Some(choose(&v["task"])),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        n += 1;
    }
}
