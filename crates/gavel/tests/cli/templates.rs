//! Tests of `gavel templates`.

use crate::common::*;

#[test]
fn list_shows_the_library_as_a_table_and_as_json() {
    let dir = temp_dir();
    let out = gavel(dir.path())
        .args(["templates", "list", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = stdout_json(&out);
    let all = v["templates"].as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for name in [
        "mt-bench-single",
        "mt-bench-single-ref",
        "mt-bench-pair",
        "mt-bench-pair-ref",
        "mt-bench-pair-multi",
        "alpaca-eval",
        "pandalm",
        "judgelm",
        "auto-j-pair",
        "auto-j-single",
        "prometheus-absolute",
        "prometheus-relative",
        "g-eval",
        "binary",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let prom = all
        .iter()
        .find(|t| t["name"] == "prometheus-absolute")
        .unwrap();
    assert_eq!(prom["mode"], "pointwise");
    assert_eq!(prom["parser"], "result-score");
    assert_eq!(prom["scale"], serde_json::json!([1.0, 5.0]));
    assert_eq!(prom["fields"], serde_json::json!(["rubric"]));
    assert_eq!(prom["reference"], "optional");

    let out = gavel(dir.path())
        .args(["templates", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("judgelm") && text.contains("pair-scores"));
}

#[test]
fn show_prints_the_text_and_an_example() {
    let dir = temp_dir();
    let out = gavel(dir.path())
        .args(["templates", "show", "mt-bench-pair", "--example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("mode         pairwise"));
    assert!(text.contains("+++"), "the template text");
    assert!(text.contains("[user]") && text.contains("The first response."));

    let out = gavel(dir.path())
        .args([
            "templates",
            "show",
            "prometheus-absolute",
            "--example",
            "--var",
            "rubric=Is the answer correct? Score 1: no. Score 5: yes.",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert_eq!(v["name"], "prometheus-absolute");
    assert!(v["text"].as_str().unwrap().starts_with("+++"));
    let user = v["example"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(user.contains("Score 5: yes."), "{user}");
    assert!(v["verdict_format"].as_str().unwrap().contains("[RESULT]"));

    gavel(dir.path())
        .args(["templates", "show", "no-such-template"])
        .assert()
        .code(2);
}

#[test]
fn user_files_and_fastchat_prompt_files() {
    let dir = temp_dir();
    write(
        dir.path(),
        "tone.jinja",
        "+++\ndescription = \"Tone\"\nmode = \"binary\"\n+++\nIs this polite? {{ data_notice }}\n{{ quote(answer, \"reply\") }}\nJSON: {\"verdict\": \"pass\" or \"fail\", \"reason\": \"...\"}\n",
    );
    let out = gavel(dir.path())
        .args(["templates", "show", "tone.jinja", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["name"], "tone");
    assert_eq!(v["parser"], "json-pass-fail");

    write(
        dir.path(),
        "broken.jinja",
        "+++\nmode = \"binary\"\n+++\n{{ quote(answer }}\n",
    );
    let out = gavel(dir.path())
        .args(["templates", "show", "broken.jinja"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.jinja"));

    write(
        dir.path(),
        "prompts.jsonl",
        r#"{"name": "pair-x", "type": "pairwise", "system_prompt": "Pick one; [[A]], [[B]] or [[C]].", "prompt_template": "[Q]\n{question}\n[A]\n{answer_a}\n[B]\n{answer_b}", "description": "mine", "category": "general", "output_format": "[[A]]"}"#,
    );
    let out = gavel(dir.path())
        .args([
            "templates",
            "list",
            "--file",
            "prompts.jsonl",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert_eq!(v["templates"][0]["name"], "pair-x");
    assert_eq!(v["templates"][0]["parser"], "choice-brackets");
    gavel(dir.path())
        .args(["templates", "show", "prompts.jsonl#pair-x", "--example"])
        .assert()
        .success()
        .stdout(predicates::str::contains("[Q]\nThe user's question."));
}
