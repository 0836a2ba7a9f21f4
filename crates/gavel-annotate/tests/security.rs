//! Security: hashed secrets, roles, blindness, no labels under another name, XSS-safe pages,
//! CSRF on state-changing requests, no secrets in the log.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use gavel_annotate::Role;
use serde_json::json;

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let h = Harness::new();
    let token = h.user("alice", Role::Lead, Some("correct horse battery"));
    let b = h.browser(&token).await;
    let session = b.cookie.split_once('=').unwrap().1.to_string();
    // Read the database files (main file and write-ahead log) as raw bytes.
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let p = format!("{}{suffix}", h.db_path().display());
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend(b);
        }
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(hay.contains("alice"), "the scan reads the data");
    for secret in [token.as_str(), "correct horse battery", session.as_str()] {
        assert!(!hay.contains(secret), "{secret} stored in clear");
    }
}

#[tokio::test]
async fn sign_in_needs_the_right_secret() {
    let h = Harness::new();
    h.user("alice", Role::Annotator, Some("correct horse battery"));
    for body in [
        "name=alice&password=wrong+password",
        "token=gvl_0000",
        "name=alice&password=",
    ] {
        let req = Request::builder()
            .method("POST")
            .uri("/signin")
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let r = h.send(req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }
    let req = Request::builder()
        .method("POST")
        .uri("/signin")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("name=alice&password=correct+horse+battery"))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test]
async fn everything_but_sign_in_and_health_needs_a_user() {
    let h = Harness::new();
    let r = h
        .send(
            Request::builder()
                .uri("/healthz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for path in [
        "/",
        "/users",
        "/p/x/label",
        "/p/x/dashboard",
        "/p/x/export.jsonl",
    ] {
        let r = h
            .send(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/signin");
    }
    for path in [
        "/api/me",
        "/api/projects",
        "/api/projects/x/labels",
        "/api/projects/x/agreement",
    ] {
        let r = h
            .send(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = h.api("GET", "/api/me", "gvl_not-a-token", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn annotators_cannot_do_lead_things_or_read_others_labels() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        2,
        3,
        &["x", "y"],
        &["alice", "bob"],
    )
    .await;
    for t in &tokens {
        label_all(
            &h,
            "p",
            t,
            &|_| json!({"label": "A", "reason": "secret reasoning"}),
        )
        .await;
    }
    let alice = &tokens[0];
    for path in [
        "/api/users",
        "/api/projects/p/agreement",
        "/api/projects/p/disagreements",
    ] {
        assert_eq!(
            h.api("GET", path, alice, None).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for (path, body) in [
        (
            "/api/projects",
            json!({"slug": "q", "name": "q", "kind": "pairwise"}),
        ),
        ("/api/users", json!({"name": "mallory", "role": "lead"})),
        ("/api/projects/p/members", json!({"names": ["alice"]})),
        (
            "/api/projects/p/guidelines",
            json!({"markdown": "x", "note": "y"}),
        ),
        ("/api/projects/p/calibration", json!({"round": "c", "n": 1})),
        (
            "/api/projects/p/resolutions",
            json!({"task": 1, "label": "A", "note": "x"}),
        ),
    ] {
        assert_eq!(
            h.api("POST", path, alice, Some(body)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        h.upload("/api/projects/p/items", alice, b"{}".to_vec())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Labels: only her own, through the API and the export.
    let own = h
        .api("GET", "/api/projects/p/labels", alice, None)
        .await
        .json();
    let own = own["labels"].as_array().unwrap();
    assert_eq!(own.len(), 3);
    assert!(own.iter().all(|l| l["annotator"] == "alice"));
    let b = h.browser(alice).await;
    let export = h.get_page(&b, "/p/p/export.jsonl").await.text();
    assert_eq!(export.lines().count(), 3);
    assert!(!export.contains("\"bob\""));
    for page in ["/p/p/dashboard", "/p/p/review", "/p/p/setup", "/users"] {
        assert_eq!(
            h.get_page(&b, page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    // A project she is not in does not exist for her.
    let lead_b = h.browser(&lead).await;
    let r = h
        .post_form(
            &lead_b,
            "/projects",
            &[("slug", "other"), ("name", "Other"), ("kind", "pairwise")],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        h.api("GET", "/api/projects/other", alice, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.api("GET", "/api/projects/other/next", alice, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn nobody_labels_under_another_name() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        2,
        1,
        &["x", "y"],
        &["alice", "bob"],
    )
    .await;
    let (alice, bob) = (&tokens[0], &tokens[1]);
    let bob_task = h.api("GET", "/api/projects/p/next", bob, None).await.json();
    let bob_id = bob_task["task"]["assignment"].as_i64().unwrap();
    // Alice posts to bob's assignment: it does not exist for her.
    let r = h
        .api(
            "POST",
            &format!("/api/projects/p/assignments/{bob_id}/label"),
            alice,
            Some(json!({"label": "B"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .api(
            "GET",
            &format!("/api/projects/p/assignments/{bob_id}"),
            alice,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Naming another annotator in the body is refused.
    let alice_task = h
        .api("GET", "/api/projects/p/next", alice, None)
        .await
        .json();
    let alice_id = alice_task["task"]["assignment"].as_i64().unwrap();
    let r = h
        .api(
            "POST",
            &format!("/api/projects/p/assignments/{alice_id}/label"),
            alice,
            Some(json!({"label": "B", "annotator": "bob"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Through the page form too.
    let b = h.browser(alice).await;
    let r = h
        .post_form(
            &b,
            &format!("/p/p/a/{bob_id}"),
            &[("choice", "left")],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let labels = h
        .api("GET", "/api/projects/p/labels", &lead, None)
        .await
        .json();
    assert_eq!(labels["labels"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn judged_text_and_guidelines_render_as_text() {
    let h = Harness::new();
    let lead = h.user("lead", Role::Lead, None);
    let alice = h.user("alice", Role::Annotator, None);
    let evil_guideline = "Be careful <script>alert('g')</script> and <img src=x onerror=alert('g')> [click](javascript:alert('g'))";
    let r = h
        .api("POST", "/api/projects", &lead, Some(json!({"slug": "x", "name": "<b>bold</b> name", "kind": "pairwise", "guideline": evil_guideline, "overlap": 2})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let item = json!({"id": "<i>q1</i>", "instruction": "<script>alert('i')</script>", "input": "<iframe src=x></iframe>", "category": "<u>c</u>",
        "responses": {"<b>m1</b>": "<img src=x onerror=alert('a')>", "m2": "\"><script>alert('b')</script>"}});
    let r = h
        .upload(
            "/api/projects/x/items",
            &lead,
            item.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.api(
        "POST",
        "/api/projects/x/members",
        &lead,
        Some(json!({"names": ["alice", "lead"]})),
    )
    .await;
    let b = h.browser(&alice).await;
    let page = h.get_page(&b, "/p/x/label").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text();
    for raw in [
        "<script>alert",
        "<img src=x",
        "<iframe",
        "<b>bold",
        "<i>q1",
        "<u>c",
        "href=\"javascript:",
    ] {
        assert!(!html.contains(raw), "{raw} unescaped in the labelling page");
    }
    assert!(
        html.contains("&lt;script&gt;alert(") && html.contains("&lt;img src=x onerror=alert("),
        "escaped text shown"
    );
    // Label it, then the lead's review and dashboard pages show the same text safely.
    let id: i64 = between(&html, "action=\"/p/x/a/", "\"").parse().unwrap();
    let r = h
        .post_form(
            &b,
            &format!("/p/x/a/{id}"),
            &[
                ("choice", "left"),
                ("reason", "<script>alert('r')</script>"),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let lb = h.browser(&lead).await;
    let lp = h.get_page(&lb, "/p/x/label").await.text();
    let id: i64 = between(&lp, "action=\"/p/x/a/", "\"").parse().unwrap();
    h.post_form(
        &lb,
        &format!("/p/x/a/{id}"),
        &[("choice", "tie")],
        None,
        None,
    )
    .await;
    for path in [
        "/p/x/review",
        "/p/x/dashboard",
        "/p/x/guidelines",
        "/p/x/history",
        "/",
        "/p/x/setup",
    ] {
        let html = h.get_page(&lb, path).await.text();
        for raw in [
            "<script>alert",
            "<img src=x",
            "<iframe",
            "<b>bold",
            "<b>m1",
            "href=\"javascript:",
        ] {
            assert!(!html.contains(raw), "{raw} unescaped in {path}");
        }
    }
    let review = h.get_page(&lb, "/p/x/review").await.text();
    assert!(
        review.contains("&lt;script&gt;alert(&#x27;r&#x27;)"),
        "the reason is shown as text"
    );
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_same_origin() {
    let h = Harness::new();
    let (lead, _) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        1,
        1,
        &["x", "y"],
        &["alice"],
    )
    .await;
    let b = h.browser(&lead).await;
    let fields = [("markdown", "# v2"), ("note", "csrf test")];
    // Missing, wrong, and right token but another origin.
    let r = h
        .post_form(&b, "/p/p/guidelines", &fields, Some(""), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .post_form(&b, "/p/p/guidelines", &fields, Some("00ff"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .post_form(
            &b,
            "/p/p/guidelines",
            &fields,
            None,
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let v = h
        .api("GET", "/api/projects/p/guidelines", &lead, None)
        .await
        .json();
    assert_eq!(v["version"], 1, "nothing changed");
    // JSON through the session cookie needs the header.
    let json_post = |csrf: Option<String>| {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/projects/p/guidelines")
            .header(header::HOST, "localhost")
            .header(header::COOKIE, &b.cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        req.body(Body::from(
            json!({"markdown": "# v2", "note": "n"}).to_string(),
        ))
        .unwrap()
    };
    assert_eq!(h.send(json_post(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.send(json_post(Some(b.csrf.clone()))).await.status,
        StatusCode::OK
    );
    // The form with the token, same origin: accepted.
    let r = h
        .post_form(
            &b,
            "/p/p/guidelines",
            &fields,
            None,
            Some("http://localhost"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        h.api("GET", "/api/projects/p/guidelines", &lead, None)
            .await
            .json()["version"],
        3
    );
    // Sign-in from another origin is refused too (login CSRF).
    let req = Request::builder()
        .method("POST")
        .uri("/signin")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={lead}")))
        .unwrap();
    assert_eq!(h.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_log_holds_no_secret() {
    let h = Harness::new();
    let token = h.user("alice", Role::Lead, Some("correct horse battery"));
    let b = h.browser(&token).await;
    let req = Request::builder()
        .method("POST")
        .uri("/signin?token=in-the-query")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("name=alice&password=correct+horse+battery"))
        .unwrap();
    h.send(req).await;
    h.api("GET", "/api/me", &token, None).await;
    h.get_page(&b, "/users").await;
    let r = h
        .post_form(
            &b,
            "/users",
            &[
                ("name", "bob"),
                ("role", "annotator"),
                ("password", "bobs secret pw"),
            ],
            None,
            None,
        )
        .await;
    let page = r.text();
    let bob_token = between(&page, "class=\"token\" data-select>", "<").to_string();
    assert!(bob_token.starts_with("gvl_"));
    let log = h.log_text();
    assert!(log.contains("/signin") && log.contains("alice"), "{log}");
    let session = b.cookie.split_once('=').unwrap().1;
    for secret in [
        token.as_str(),
        "correct horse battery",
        "correct+horse",
        session,
        &b.csrf,
        &bob_token,
        "bobs secret",
        "in-the-query",
    ] {
        assert!(!log.contains(secret), "the log contains a secret: {secret}");
    }
}
