//! The whole loop through the API: a lead sets up a project, three annotators label with
//! overlap, the lead sees agreement (the same numbers as `gavel agree` on the export),
//! disagreements, resolves one into a guideline example, and exports.

mod common;

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use common::*;
use gavel_core::{Format, Label, RecordReader};
use gavel_stats::agreement::report::{AgreementOptions, report};
use gavel_stats::bootstrap::BootstrapConfig;
use serde_json::{Value, json};

fn pairwise() -> Value {
    json!({"kind": "pairwise", "tie": true})
}

/// A deterministic "opinion": annotators mostly agree, bob disagrees on every third item.
fn opinion(name: &'static str) -> impl Fn(&Value) -> Value {
    move |task: &Value| {
        let item = task["item"].as_str().unwrap();
        let n: usize = item[1..].parse().unwrap();
        let side = if name == "bob" && n.is_multiple_of(3) {
            "right"
        } else if n.is_multiple_of(2) {
            "left"
        } else {
            "tie"
        };
        json!({"side": side, "reason": format!("{name} thinks so")})
    }
}

fn parse_labels(bytes: &[u8]) -> Vec<Label> {
    RecordReader::from_reader(
        "export",
        Format::Jsonl,
        Box::new(std::io::Cursor::new(bytes.to_vec())),
    )
    .unwrap()
    .typed::<Label>()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test]
async fn three_annotators_overlap_agreement_review_export() {
    let h = Harness::new();
    let names = ["alice", "bob", "carol"];
    let (lead, tokens) = project(&h, "help", pairwise(), 2, 6, &["x", "y", "z"], &names).await;
    // 6 items x 3 pairs = 18 tasks, each to k = 2 of the 3 annotators: 36 labels.
    let mut total = 0;
    for (name, token) in names.iter().zip(&tokens) {
        total += label_all(&h, "help", token, &opinion(name)).await;
    }
    assert_eq!(total, 36);
    let r = h.api("GET", "/api/projects/help/labels", &lead, None).await;
    let all: Vec<Value> = r.json()["labels"].as_array().unwrap().clone();
    assert_eq!(all.len(), 36);
    let mut per_unit: HashMap<(String, String, String), usize> = HashMap::new();
    for l in &all {
        let key = (
            l["item"].as_str().unwrap().to_string(),
            l["model_a"].as_str().unwrap().to_string(),
            l["model_b"].as_str().unwrap().to_string(),
        );
        *per_unit.entry(key).or_default() += 1;
        assert!(l["shown"] == "AB" || l["shown"] == "BA");
        assert_eq!(l["guideline_version"], "v1");
        assert_eq!(l["round"], "main");
    }
    assert_eq!(per_unit.len(), 18);
    assert!(per_unit.values().all(|&n| n == 2), "{per_unit:?}");

    // The labels are stored in the model frame: a "left" click on a BA task is "B".
    let first = &all[0];
    let n: usize = first["item"].as_str().unwrap()[1..].parse().unwrap();
    let who = first["annotator"].as_str().unwrap();
    let side = opinion(match who {
        "alice" => "alice",
        "bob" => "bob",
        _ => "carol",
    })(&json!({"item": first["item"]}))["side"]
        .clone();
    let expected = match (side.as_str().unwrap(), first["shown"].as_str().unwrap()) {
        ("tie", _) => "tie",
        ("left", "AB") | ("right", "BA") => "A",
        _ => "B",
    };
    assert_eq!(first["label"], expected, "item {n}");

    // Export → the dashboard's numbers are `gavel agree`'s on that file.
    let b = h.browser(&lead).await;
    let export = h.get_page(&b, "/p/help/export.jsonl").await;
    assert_eq!(export.status, StatusCode::OK);
    let labels = parse_labels(&export.body);
    assert_eq!(labels.len(), 36);
    let expected = report(
        &labels,
        &AgreementOptions {
            bootstrap: BootstrapConfig {
                replicates: 0,
                ..BootstrapConfig::default()
            },
            ..AgreementOptions::default()
        },
    )
    .unwrap();
    let d = h
        .api(
            "GET",
            "/api/projects/help/agreement?bootstrap=0",
            &lead,
            None,
        )
        .await
        .json();
    let got = &d["sections"][0]["report"];
    assert_eq!(got, &serde_json::to_value(&expected).unwrap());
    assert!(got["krippendorff_alpha"].as_f64().unwrap() < 1.0);
    assert_eq!(d["progress"].as_array().unwrap().len(), 3);
    assert_eq!(d["counts"]["complete"], 18);

    // Disagreements: bob's items. Resolve one into a bad example → guideline v2.
    let dis = h
        .api("GET", "/api/projects/help/disagreements", &lead, None)
        .await
        .json();
    let list = dis["disagreements"].as_array().unwrap();
    assert!(!list.is_empty());
    assert!(list.iter().all(|d| {
        d["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["annotator"] == "bob")
    }));
    assert!(
        list[0]["answers"][0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("thinks so")
    );
    let task = list[0]["task"].as_i64().unwrap();
    let r = h
        .api("POST", "/api/projects/help/resolutions", &lead, Some(json!({"task": task, "label": "A", "note": "Correctness beats style.", "example": "bad", "bad_label": "B"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["guideline_version"], 2);
    let g = h
        .api("GET", "/api/projects/help/guidelines", &tokens[0], None)
        .await
        .json();
    assert_eq!(g["version"], 2);
    assert_eq!(g["examples"][0]["kind"], "bad");
    assert_eq!(
        g["examples"][0]["responses"].as_array().unwrap().len(),
        2,
        "the example shows the item"
    );
    assert_eq!(g["examples"][0]["responses"][0][0], "A");
    assert!(
        g["examples"][0]["explanation_html"]
            .as_str()
            .unwrap()
            .contains("Correctness beats style.")
    );
    let after = h
        .api("GET", "/api/projects/help/disagreements", &lead, None)
        .await
        .json();
    assert_eq!(
        after["disagreements"].as_array().unwrap().len(),
        list.len() - 1
    );

    // CSV and Parquet carry the same labels.
    for ext in ["csv", "parquet"] {
        let r = h.get_page(&b, &format!("/p/help/export.{ext}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let path = h.dir.path().join(format!("back.{ext}"));
        std::fs::write(&path, &r.body).unwrap();
        let back: Vec<Label> = gavel_core::read_all(&path).unwrap();
        assert_eq!(back.len(), 36);
        let a: BTreeMap<_, _> = back
            .iter()
            .map(|l| {
                (
                    (l.item.clone(), l.annotator.clone(), l.model_a.clone()),
                    l.label.to_string(),
                )
            })
            .collect();
        let e: BTreeMap<_, _> = labels
            .iter()
            .map(|l| {
                (
                    (l.item.clone(), l.annotator.clone(), l.model_a.clone()),
                    l.label.to_string(),
                )
            })
            .collect();
        assert_eq!(a, e, "{ext}");
    }
}

#[tokio::test]
async fn each_annotator_has_their_own_recorded_order() {
    let h = Harness::new();
    let (_, tokens) = project(&h, "ord", pairwise(), 3, 12, &["x", "y"], &["alice", "bob"]).await;
    let mut orders = Vec::new();
    for t in &tokens {
        let mut seq = Vec::new();
        label_all(&h, "ord", t, &|_: &Value| json!({"side": "left"})).await;
        let labels = h
            .api("GET", "/api/projects/ord/labels", t, None)
            .await
            .json();
        for l in labels["labels"].as_array().unwrap() {
            seq.push((
                l["position"].as_i64().unwrap(),
                l["item"].as_str().unwrap().to_string(),
            ));
        }
        seq.sort();
        orders.push(seq.into_iter().map(|(_, i)| i).collect::<Vec<_>>());
    }
    assert_eq!(orders[0].len(), 12);
    assert_ne!(orders[0], orders[1], "two annotators got the same order");
    let mut sorted = orders[0].clone();
    sorted.sort();
    let mut other = orders[1].clone();
    other.sort();
    assert_eq!(sorted, other);
}

#[tokio::test]
async fn skip_gives_a_null_label_and_frees_the_task() {
    let h = Harness::new();
    let (lead, tokens) = project(&h, "sk", pairwise(), 1, 1, &["x", "y"], &["alice", "bob"]).await;
    let v = h
        .api("GET", "/api/projects/sk/next", &tokens[0], None)
        .await
        .json();
    let id = v["task"]["assignment"].as_i64().unwrap();
    let r = h
        .api(
            "POST",
            &format!("/api/projects/sk/assignments/{id}/skip"),
            &tokens[0],
            Some(json!({"reason": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .api(
            "POST",
            &format!("/api/projects/sk/assignments/{id}/skip"),
            &tokens[0],
            Some(json!({"reason": "outside my expertise"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Alice has nothing left; bob gets the task (k = 1, and a skip does not count).
    assert!(
        h.api("GET", "/api/projects/sk/next", &tokens[0], None)
            .await
            .json()["task"]
            .is_null()
    );
    assert_eq!(
        label_all(&h, "sk", &tokens[1], &|_| json!({"label": "A"})).await,
        1
    );
    let labels = h
        .api("GET", "/api/projects/sk/labels", &lead, None)
        .await
        .json();
    let labels = labels["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2);
    let skipped = labels.iter().find(|l| l["annotator"] == "alice").unwrap();
    assert!(skipped["label"].is_null());
    assert_eq!(skipped["skip_reason"], "outside my expertise");
}

#[tokio::test]
async fn likert_with_anchors_and_validation() {
    let h = Harness::new();
    let settings = json!({"kind": "likert", "min": 1, "max": 5, "anchors": ["useless", "poor", "ok", "good", "excellent"]});
    let (lead, tokens) = project(&h, "lk", settings, 2, 3, &["x"], &["alice", "bob"]).await;
    // The lead labels one item too (a lead who is a member labels like anyone else).
    let b = h.browser(&lead).await;
    let r = h
        .post_form(&b, "/p/lk/members", &[("names", "lead")], None, None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = h.get_page(&b, "/p/lk/label").await.text();
    assert!(
        page.contains("excellent") && page.contains("useless"),
        "{page}"
    );
    let id: i64 = between(&page, "action=\"/p/lk/a/", "\"").parse().unwrap();
    let r = h
        .post_form(
            &b,
            &format!("/p/lk/a/{id}"),
            &[("choice", "4"), ("gv", "1")],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let v = h
        .api("GET", "/api/projects/lk/next", &tokens[0], None)
        .await
        .json();
    let id = v["task"]["assignment"].as_i64().unwrap();
    for bad in [json!({"label": 6}), json!({"label": "A"}), json!({})] {
        let r = h
            .api(
                "POST",
                &format!("/api/projects/lk/assignments/{id}/label"),
                &tokens[0],
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    }
    for t in &tokens {
        label_all(&h, "lk", t, &|task| {
            let n: i64 = task["item"].as_str().unwrap()[1..].parse().unwrap();
            json!({"label": 2 + n})
        })
        .await;
    }
    let d = h
        .api("GET", "/api/projects/lk/agreement", &lead, None)
        .await
        .json();
    assert_eq!(d["level"], "ordinal");
    assert_eq!(d["sections"][0]["report"]["n_annotators"], 3);
    let labels = h
        .api("GET", "/api/projects/lk/labels", &lead, None)
        .await
        .json();
    assert!(
        labels["labels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["label"].is_i64() && l["model"] == "x")
    );
}

#[tokio::test]
async fn binary_criteria_are_labelled_and_exported_per_criterion() {
    let h = Harness::new();
    let settings = json!({"kind": "binary", "criteria": [{"name": "factual", "description": "Is every claim correct?"}, {"name": "follows"}]});
    let (lead, tokens) = project(&h, "bin", settings, 2, 2, &["x"], &["alice", "bob"]).await;
    let v = h
        .api("GET", "/api/projects/bin/next", &tokens[0], None)
        .await
        .json();
    let id = v["task"]["assignment"].as_i64().unwrap();
    let r = h
        .api(
            "POST",
            &format!("/api/projects/bin/assignments/{id}/label"),
            &tokens[0],
            Some(json!({"labels": {"factual": "pass"}})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a missing criterion is refused"
    );
    for t in &tokens {
        label_all(
            &h,
            "bin",
            t,
            &|_| json!({"labels": {"factual": "pass", "follows": "fail"}}),
        )
        .await;
    }
    let all = h
        .api("GET", "/api/projects/bin/labels", &lead, None)
        .await
        .json();
    let all = all["labels"].as_array().unwrap();
    assert_eq!(all.len(), 8);
    assert!(
        all.iter()
            .all(|l| l["item"].as_str().unwrap().contains('#'))
    );
    let one = h
        .api(
            "GET",
            "/api/projects/bin/labels?criterion=factual",
            &lead,
            None,
        )
        .await
        .json();
    let one = one["labels"].as_array().unwrap();
    assert_eq!(one.len(), 4);
    assert!(
        one.iter()
            .all(|l| !l["item"].as_str().unwrap().contains('#')
                && l["criterion"] == "factual"
                && l["label"] == "pass")
    );
    let d = h
        .api("GET", "/api/projects/bin/agreement", &lead, None)
        .await
        .json();
    assert_eq!(d["sections"].as_array().unwrap().len(), 2);
    assert_eq!(d["sections"][1]["criterion"], "follows");
    assert_eq!(d["sections"][0]["report"]["percent_agreement"], 1.0);
}

#[tokio::test]
async fn calibration_round_first_for_everyone_then_main() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "cal",
        pairwise(),
        1,
        6,
        &["x", "y"],
        &["alice", "bob", "carol"],
    )
    .await;
    let r = h
        .api(
            "POST",
            "/api/projects/cal/calibration",
            &lead,
            Some(json!({"round": "calibration-1", "n": 2})),
        )
        .await;
    assert_eq!(r.json()["tasks"], 2);
    for t in &tokens {
        label_all(
            &h,
            "cal",
            t,
            &|task| json!({"side": if task["item"] == "q0" { "tie" } else { "left" }}),
        )
        .await;
    }
    let labels = h
        .api(
            "GET",
            "/api/projects/cal/labels?round=calibration-1",
            &lead,
            None,
        )
        .await
        .json();
    assert_eq!(
        labels["labels"].as_array().unwrap().len(),
        6,
        "every member labels each calibration task"
    );
    let main = h
        .api("GET", "/api/projects/cal/labels?round=main", &lead, None)
        .await
        .json();
    assert_eq!(
        main["labels"].as_array().unwrap().len(),
        4,
        "main tasks go to k = 1"
    );
    let d = h
        .api("GET", "/api/projects/cal/agreement", &lead, None)
        .await
        .json();
    let rounds: Vec<&str> = d["sections"][0]["by_round"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap())
        .collect();
    assert!(
        rounds.contains(&"calibration-1") && rounds.contains(&"main"),
        "{rounds:?}"
    );
}

#[tokio::test]
async fn judges_appear_beside_the_humans_with_meta_eval_numbers() {
    let h = Harness::new();
    let (lead, tokens) = project(
        &h,
        "jd",
        pairwise(),
        3,
        4,
        &["x", "y"],
        &["alice", "bob", "carol"],
    )
    .await;
    for t in &tokens {
        label_all(&h, "jd", t, &|_| json!({"label": "A"})).await;
    }
    let mut judgments = String::new();
    for i in 0..4 {
        let label = if i == 0 { "B" } else { "A" };
        judgments.push_str(&json!({"item": format!("q{i}"), "annotator": "judge:test/pair", "label": label, "model_a": "x", "model_b": "y", "mode": "pairwise"}).to_string());
        judgments.push('\n');
    }
    let r = h
        .upload(
            "/api/projects/jd/judges?name=j.jsonl",
            &lead,
            judgments.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = h
        .api("GET", "/api/projects/jd/agreement", &lead, None)
        .await
        .json();
    let judge = &d["sections"][0]["judges"]["judges"][0];
    assert_eq!(judge["judge"], "judge:test/pair");
    assert_eq!(judge["accuracy"], 0.75);
    // The same as gavel-stats' meta-eval on the export and the judgments file.
    let export = h
        .api("GET", "/api/projects/jd/labels", &lead, None)
        .await
        .json();
    let jsonl: String = export["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect();
    let humans = parse_labels(jsonl.as_bytes());
    let judged: Vec<gavel_core::Judgment> = RecordReader::from_reader(
        "j",
        Format::Jsonl,
        Box::new(std::io::Cursor::new(judgments.into_bytes())),
    )
    .unwrap()
    .typed()
    .collect::<Result<_, _>>()
    .unwrap();
    let opts = gavel_stats::meta_eval::MetaEvalOptions {
        bootstrap: BootstrapConfig {
            replicates: 0,
            ..BootstrapConfig::default()
        },
        ..Default::default()
    };
    let expected = gavel_stats::meta_eval::meta_eval(&judged, &humans, &opts).unwrap();
    assert_eq!(
        d["sections"][0]["judges"],
        serde_json::to_value(&expected).unwrap()
    );
    let with = d["sections"][0]["with_judges"]["annotators"]
        .as_array()
        .unwrap();
    assert!(with.iter().any(|a| a["annotator"] == "judge:test/pair"));
    // A judge under a person's name is refused.
    let bad =
        json!({"item": "q0", "annotator": "alice", "label": "A", "model_a": "x", "model_b": "y"})
            .to_string();
    let r = h
        .upload("/api/projects/jd/judges", &lead, bad.into_bytes())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn guideline_versions_are_recorded_with_labels() {
    let h = Harness::new();
    let (lead, tokens) = project(&h, "gv", pairwise(), 1, 2, &["x", "y"], &["alice"]).await;
    let v = h
        .api("GET", "/api/projects/gv/next", &tokens[0], None)
        .await
        .json();
    assert_eq!(v["task"]["guideline_version"], 1);
    let id = v["task"]["assignment"].as_i64().unwrap();
    let r = h
        .api(
            "POST",
            "/api/projects/gv/guidelines",
            &lead,
            Some(json!({"markdown": "# Rules v2", "note": "clearer ties"})),
        )
        .await;
    assert_eq!(r.json()["version"], 2);
    // Labelled under the version the annotator saw.
    h.api(
        "POST",
        &format!("/api/projects/gv/assignments/{id}/label"),
        &tokens[0],
        Some(json!({"label": "A", "guideline_version": 1})),
    )
    .await;
    label_all(&h, "gv", &tokens[0], &|_| json!({"label": "B"})).await;
    let labels = h
        .api("GET", "/api/projects/gv/labels", &lead, None)
        .await
        .json();
    let versions: Vec<&str> = labels["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["guideline_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["v1", "v2"]);
    let old = h
        .api(
            "GET",
            "/api/projects/gv/guidelines?version=1",
            &tokens[0],
            None,
        )
        .await
        .json();
    assert!(
        old["html"]
            .as_str()
            .unwrap()
            .contains("<strong>correct</strong>")
    );
}
