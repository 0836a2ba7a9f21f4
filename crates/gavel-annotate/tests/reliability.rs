//! Reliability: a label is acknowledged only once stored; double clicks, simultaneous
//! submissions and restarts leave exactly the right labels.

mod common;

use axum::http::StatusCode;
use common::*;
use gavel_annotate::Db;
use serde_json::{Value, json};

fn count_labels(path: &std::path::Path) -> i64 {
    // A fresh connection, as another process would open it.
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn an_acknowledged_label_is_already_on_disk() {
    let h = Harness::new();
    let (_, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        1,
        5,
        &["x", "y"],
        &["alice"],
    )
    .await;
    for i in 1..=5 {
        let v = h
            .api("GET", "/api/projects/p/next", &tokens[0], None)
            .await
            .json();
        let id = v["task"]["assignment"].as_i64().unwrap();
        let r = h
            .api(
                "POST",
                &format!("/api/projects/p/assignments/{id}/label"),
                &tokens[0],
                Some(json!({"label": "A"})),
            )
            .await;
        assert_eq!(r.json()["stored"], true);
        assert_eq!(count_labels(&h.db_path()), i);
    }
}

#[tokio::test]
async fn a_double_click_stores_one_label() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        1,
        3,
        &["x", "y"],
        &["alice"],
    )
    .await;
    let b = h.browser(&tokens[0]).await;
    let page = h.get_page(&b, "/p/p/label").await.text();
    let id: i64 = between(&page, "action=\"/p/p/a/", "\"").parse().unwrap();
    let path = format!("/p/p/a/{id}");
    // Two identical posts at the same moment, then a third later.
    let fields = [("choice", "left"), ("gv", "1")];
    let (r1, r2) = tokio::join!(
        h.post_form(&b, &path, &fields, None, None),
        h.post_form(&b, &path, &fields, None, None)
    );
    assert_eq!(r1.status, StatusCode::SEE_OTHER);
    assert_eq!(r2.status, StatusCode::SEE_OTHER);
    let r3 = h.post_form(&b, &path, &fields, None, None).await;
    assert_eq!(r3.status, StatusCode::SEE_OTHER);
    let labels = h
        .api("GET", "/api/projects/p/labels", &lead, None)
        .await
        .json();
    assert_eq!(labels["labels"].as_array().unwrap().len(), 1);
    // The next page is a different task.
    let next = h.get_page(&b, "/p/p/label").await.text();
    let next_id: i64 = between(&next, "action=\"/p/p/a/", "\"").parse().unwrap();
    assert_ne!(next_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_annotators_never_push_a_task_past_k() {
    let h = std::sync::Arc::new(Harness::new());
    let names: Vec<String> = (0..12).map(|i| format!("ann{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        2,
        10,
        &["x", "y", "z"],
        &refs,
    )
    .await;
    // 30 tasks x k = 2 = 60 labels, raced for by 12 annotators at once.
    let mut handles = Vec::new();
    for t in tokens.clone() {
        let h = h.clone();
        handles.push(tokio::spawn(async move {
            label_all(&h, "p", &t, &|_: &Value| json!({"label": "tie"})).await
        }));
    }
    let mut acknowledged = 0;
    for handle in handles {
        acknowledged += handle.await.unwrap();
    }
    assert_eq!(acknowledged, 60);
    let labels = h
        .api("GET", "/api/projects/p/labels", &lead, None)
        .await
        .json();
    let labels = labels["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 60);
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    for l in labels {
        *per.entry(format!("{}|{}|{}", l["item"], l["model_a"], l["model_b"]))
            .or_default() += 1;
    }
    assert_eq!(per.len(), 30);
    assert!(per.values().all(|&n| n == 2), "{per:?}");
    assert_eq!(count_labels(&h.db_path()), 60);
}

#[tokio::test]
async fn a_restart_mid_session_keeps_labels_sessions_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let h = Harness::at(dir);
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        1,
        4,
        &["x", "y"],
        &["alice"],
    )
    .await;
    let b = h.browser(&tokens[0]).await;
    // Two labels, then an item left open on screen.
    for _ in 0..2 {
        let page = h.get_page(&b, "/p/p/label").await.text();
        let id: i64 = between(&page, "action=\"/p/p/a/", "\"").parse().unwrap();
        assert_eq!(
            h.post_form(
                &b,
                &format!("/p/p/a/{id}"),
                &[("choice", "right")],
                None,
                None
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
    }
    let page = h.get_page(&b, "/p/p/label").await.text();
    let open: i64 = between(&page, "action=\"/p/p/a/", "\"").parse().unwrap();
    // "Restart": drop the app and its connections; a new app opens the same file.
    let Harness {
        dir, db, router, ..
    } = h;
    drop(router);
    drop(db);
    let _ = Db::open(&path.join("annotate.sqlite")).unwrap();
    let h = Harness::at(dir);
    // The browser's session still works, and the open item is the one shown again.
    let page = h.get_page(&b, "/p/p/label").await;
    assert_eq!(page.status, StatusCode::OK);
    let again: i64 = between(&page.text(), "action=\"/p/p/a/", "\"")
        .parse()
        .unwrap();
    assert_eq!(again, open);
    assert_eq!(
        h.post_form(
            &b,
            &format!("/p/p/a/{open}"),
            &[("choice", "tie")],
            None,
            None
        )
        .await
        .status,
        StatusCode::SEE_OTHER
    );
    label_all(&h, "p", &tokens[0], &|_| json!({"label": "A"})).await;
    let labels = h
        .api("GET", "/api/projects/p/labels", &lead, None)
        .await
        .json();
    let labels = labels["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 4);
    let mut items: Vec<&str> = labels.iter().map(|l| l["item"].as_str().unwrap()).collect();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 4, "each item once");
}

#[tokio::test]
async fn a_stale_claim_is_handed_on_but_its_late_label_is_kept() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "p",
        json!({"kind": "pairwise"}),
        1,
        1,
        &["x", "y"],
        &["alice", "bob"],
    )
    .await;
    let v = h
        .api("GET", "/api/projects/p/next", &tokens[0], None)
        .await
        .json();
    let id = v["task"]["assignment"].as_i64().unwrap();
    // While alice holds it, bob gets nothing (k = 1).
    assert!(
        h.api("GET", "/api/projects/p/next", &tokens[1], None)
            .await
            .json()["task"]
            .is_null()
    );
    // Alice's claim goes stale (an hour by default).
    h.db.with(|c| Ok(c.execute("UPDATE assignments SET claimed_at = claimed_at - 7200", [])?))
        .unwrap();
    assert_eq!(
        label_all(&h, "p", &tokens[1], &|_| json!({"label": "A"})).await,
        1
    );
    // Alice comes back and submits: her label is stored too, never lost.
    let r = h
        .api(
            "POST",
            &format!("/api/projects/p/assignments/{id}/label"),
            &tokens[0],
            Some(json!({"label": "B"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let labels = h
        .api("GET", "/api/projects/p/labels", &lead, None)
        .await
        .json();
    assert_eq!(labels["labels"].as_array().unwrap().len(), 2);
}
