//! Tests of `gavel metrics`. The expected numbers come from sacrebleu 2.6.0, rouge-score 0.1.2
//! (stemmer on) and the SQuAD v2.0 script on the same pairs (computed once with those
//! references; the crate's vector tests cover the metrics in depth).

use crate::common::*;

const PAIRS: &str = r#"{"id": "t1", "hypothesis": "The cat sat on the mat.", "references": ["The cat sat on the mat.", "A cat was sitting on the mat."]}
{"id": "t2", "hypothesis": "It is raining heavily in the city today.", "references": ["Heavy rain is falling over the city today."]}
{"hypothesis": "The meeting was moved to Thursday afternoon.", "reference": "The meeting has been rescheduled for Thursday afternoon.", "lang": "en"}
"#;

fn close(value: &serde_json::Value, want: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - want).abs() < 1e-9)
}

fn run_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = gavel(dir)
        .args(["metrics", "--format", "json"])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

#[test]
fn json_has_the_contract_shape_and_reference_numbers() {
    let dir = temp_dir();
    write(dir.path(), "pairs.jsonl", PAIRS);
    let doc = run_json(dir.path(), &["--data", "pairs.jsonl"]);
    assert_eq!(doc["n"], 3);
    let bleu = &doc["bleu"];
    assert!(close(&bleu["score"], EXPECTED_BLEU), "{bleu}");
    assert_eq!(bleu["precisions"].as_array().map(Vec::len), Some(4));
    for key in ["bp", "ratio", "sys_len", "ref_len"] {
        assert!(bleu[key].is_number(), "bleu.{key}");
    }
    assert_eq!(
        bleu["signature"],
        "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );
    assert!(
        close(&doc["chrf"]["score"], EXPECTED_CHRF),
        "{}",
        doc["chrf"]
    );
    assert!(
        close(&doc["chrf++"]["score"], EXPECTED_CHRF_PP),
        "{}",
        doc["chrf++"]
    );
    assert!(close(&doc["ter"]["score"], EXPECTED_TER), "{}", doc["ter"]);
    for (key, f) in [("rouge1", EXPECTED_ROUGE1_F), ("rougeL", EXPECTED_ROUGEL_F)] {
        assert!(close(&doc[key]["fmeasure"], f), "{key}: {}", doc[key]);
        assert!(doc[key]["precision"].is_number() && doc[key]["recall"].is_number());
    }
    assert!(doc["rouge2"].is_object() && doc["rougeLsum"].is_object());
    assert!(close(&doc["exact_match"]["score"], 100.0 / 3.0));
    assert!(
        close(&doc["token_f1"]["score"], EXPECTED_TOKEN_F1),
        "{}",
        doc["token_f1"]
    );
}

// sacrebleu 2.6.0 / rouge-score 0.1.2 (use_stemmer=True) / SQuAD v2.0 on PAIRS.
const EXPECTED_BLEU: f64 = 47.465532902503;
const EXPECTED_CHRF: f64 = 59.608656996589794;
const EXPECTED_CHRF_PP: f64 = 60.174101986270855;
const EXPECTED_TER: f64 = 40.0;
const EXPECTED_ROUGE1_F: f64 = 0.7194444444444444;
const EXPECTED_ROUGEL_F: f64 = 0.6777777777777777;
const EXPECTED_TOKEN_F1: f64 = 63.003663003663;

#[test]
fn metric_selection_and_options() {
    let dir = temp_dir();
    write(dir.path(), "pairs.jsonl", PAIRS);
    let doc = run_json(
        dir.path(),
        &[
            "--data",
            "pairs.jsonl",
            "--metrics",
            "bleu,rouge1",
            "--tokenize",
            "intl",
            "--lowercase",
            "--smooth-method",
            "floor",
        ],
    );
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["n", "bleu", "rouge1"]);
    assert_eq!(
        doc["bleu"]["signature"],
        "nrefs:var|case:lc|eff:no|tok:intl|smooth:floor[0.10]|version:2.6.0"
    );
    // "raining" and "rain" match only with the stemmer.
    let plain = run_json(
        dir.path(),
        &[
            "--data",
            "pairs.jsonl",
            "--metrics",
            "rouge1",
            "--no-stemmer",
        ],
    );
    let stemmed = doc["rouge1"]["fmeasure"].as_f64().unwrap();
    assert!(plain["rouge1"]["fmeasure"].as_f64().unwrap() < stemmed);
}

#[test]
fn unicode_rouge_tokenizer_scores_korean() {
    let dir = temp_dir();
    write(
        dir.path(),
        "ko.jsonl",
        "{\"hypothesis\": \"고양이가 매트에 앉았다\", \"reference\": \"고양이가 매트 위에 앉았다\"}\n",
    );
    let default = run_json(dir.path(), &["--data", "ko.jsonl", "--metrics", "rouge1"]);
    assert_eq!(default["rouge1"]["fmeasure"], 0.0);
    let unicode = run_json(
        dir.path(),
        &[
            "--data",
            "ko.jsonl",
            "--metrics",
            "rouge1",
            "--rouge-tokenizer",
            "unicode",
        ],
    );
    // 2 of 3 hypothesis words, 2 of 4 reference words.
    assert!(close(&unicode["rouge1"]["precision"], 2.0 / 3.0));
    assert!(close(&unicode["rouge1"]["recall"], 0.5));
}

#[test]
fn every_reader_format_and_stdin_give_the_same_numbers() {
    let dir = temp_dir();
    write(dir.path(), "pairs.jsonl", PAIRS);
    write(
        dir.path(),
        "pairs.json",
        r#"[{"id": "t1", "hypothesis": "The cat sat on the mat.", "references": ["The cat sat on the mat.", "A cat was sitting on the mat."]},
 {"id": "t2", "hypothesis": "It is raining heavily in the city today.", "references": ["Heavy rain is falling over the city today."]},
 {"hypothesis": "The meeting was moved to Thursday afternoon.", "reference": "The meeting has been rescheduled for Thursday afternoon."}]"#,
    );
    write(
        dir.path(),
        "pairs.csv",
        "id,hypothesis,references\n\
         t1,The cat sat on the mat.,\"[\"\"The cat sat on the mat.\"\", \"\"A cat was sitting on the mat.\"\"]\"\n\
         t2,It is raining heavily in the city today.,Heavy rain is falling over the city today.\n\
         3,The meeting was moved to Thursday afternoon.,The meeting has been rescheduled for Thursday afternoon.\n",
    );
    let want = run_json(dir.path(), &["--data", "pairs.jsonl"]);
    for file in ["pairs.json", "pairs.csv"] {
        let got = run_json(dir.path(), &["--data", file]);
        assert_eq!(got, want, "{file}");
    }
    let out = gavel(dir.path())
        .args(["metrics", "--format", "json", "--data", "-"])
        .write_stdin(PAIRS)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout_json(&out), want);
    // One thread or several: the same document.
    let one = run_json(dir.path(), &["--data", "pairs.jsonl", "--threads", "1"]);
    let three = run_json(dir.path(), &["--data", "pairs.jsonl", "--threads", "3"]);
    assert_eq!(one, want);
    assert_eq!(three, want);
}

#[test]
fn per_item_values_are_sentence_level() {
    let dir = temp_dir();
    write(dir.path(), "pairs.jsonl", PAIRS);
    gavel(dir.path())
        .args([
            "metrics",
            "--data",
            "pairs.jsonl",
            "--per-item",
            "items.jsonl",
            "--quiet",
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.path().join("items.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], "t1");
    assert_eq!(rows[2]["id"], "3");
    assert_eq!(rows[2]["lang"], "en");
    // t1's hypothesis equals its first reference.
    assert!(close(&rows[0]["bleu"], 100.0));
    assert!(close(&rows[0]["chrf"], 100.0));
    assert!(close(&rows[0]["ter"], 0.0));
    assert!(close(&rows[0]["rouge1"]["fmeasure"], 1.0));
    assert!(close(&rows[0]["exact_match"], 100.0));
    assert!(
        close(&rows[1]["bleu"], EXPECTED_T2_SENTENCE_BLEU),
        "{}",
        rows[1]["bleu"]
    );
    assert!(close(&rows[1]["exact_match"], 0.0));
    // CSV too (nested ROUGE values as JSON text).
    gavel(dir.path())
        .args([
            "metrics",
            "--data",
            "pairs.jsonl",
            "--metrics",
            "bleu,chrf",
            "--per-item",
            "items.csv",
        ])
        .assert()
        .success();
    let csv = std::fs::read_to_string(dir.path().join("items.csv")).unwrap();
    assert!(csv.starts_with("id,"), "{csv}");
    assert_eq!(csv.lines().count(), 4);
}

// sacrebleu's sentence_bleu (effective order) of t2.
const EXPECTED_T2_SENTENCE_BLEU: f64 = 31.55984539112946;

#[test]
fn text_output_is_a_table_with_signatures() {
    let dir = temp_dir();
    write(dir.path(), "pairs.jsonl", PAIRS);
    let out = gavel(dir.path())
        .args(["metrics", "--data", "pairs.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("metric"), "{text}");
    assert!(text.contains("bleu") && text.contains("rougeLsum") && text.contains("token_f1"));
    assert!(text.contains("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"));
}

fn fails_with(dir: &std::path::Path, args: &[&str], code: i32, message: &str) {
    let out = gavel(dir).arg("metrics").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = temp_dir();
    let d = dir.path();
    write(
        d,
        "malformed.jsonl",
        "{\"hypothesis\": \"a\", \"reference\": \"b\"}\n{\"hypothesis\": \n",
    );
    fails_with(
        d,
        &["--data", "malformed.jsonl"],
        1,
        "malformed.jsonl:2: invalid JSON",
    );
    write(d, "missing.jsonl", "{\"hypothesis\": \"a\"}\n");
    fails_with(
        d,
        &["--data", "missing.jsonl"],
        1,
        "missing.jsonl:1: field `references`",
    );
    write(
        d,
        "typed.jsonl",
        "{\"hypothesis\": 3, \"reference\": \"b\"}\n",
    );
    fails_with(
        d,
        &["--data", "typed.jsonl"],
        1,
        "field `hypothesis`: expected a string",
    );
    write(
        d,
        "refs.jsonl",
        "{\"hypothesis\": \"a\", \"references\": [\"b\", null]}\n",
    );
    fails_with(d, &["--data", "refs.jsonl"], 1, "field `references[1]`");
    std::fs::write(
        d.join("utf8.jsonl"),
        b"{\"hypothesis\": \"\xff\", \"reference\": \"b\"}\n",
    )
    .unwrap();
    fails_with(d, &["--data", "utf8.jsonl"], 1, "invalid UTF-8");
    write(d, "empty.jsonl", "");
    fails_with(d, &["--data", "empty.jsonl"], 1, "nothing to score");
    write(d, "blank.jsonl", "\n  \n");
    fails_with(d, &["--data", "blank.jsonl"], 1, "nothing to score");
    write(d, "empty.json", "[]");
    fails_with(
        d,
        &["--data", "empty.json", "--format", "json"],
        1,
        "nothing to score",
    );
    fails_with(d, &["--data", "absent.jsonl"], 1, "absent.jsonl");
    write(d, "pairs.txt", "x");
    fails_with(d, &["--data", "pairs.txt"], 1, "pairs.txt");
    // Usage errors.
    write(
        d,
        "ok.jsonl",
        "{\"hypothesis\": \"a\", \"reference\": \"a\"}\n",
    );
    fails_with(
        d,
        &["--data", "ok.jsonl", "--metrics", "meteor"],
        2,
        "unknown metric `meteor`",
    );
    fails_with(
        d,
        &["--data", "ok.jsonl", "--tokenize", "moses"],
        2,
        "unknown tokenizer",
    );
    fails_with(d, &["--data", "ok.jsonl", "--threads", "0"], 2, "--threads");
    fails_with(
        d,
        &["--data", "ok.jsonl", "--smooth-value", "0.5"],
        2,
        "--smooth-value",
    );
}

#[test]
fn bad_input_in_other_shapes_is_a_clear_error() {
    let dir = temp_dir();
    let d = dir.path();
    // A line that is JSON but not an object, and a mistyped reference list.
    write(d, "array.jsonl", "[\"a\", \"b\"]\n");
    fails_with(d, &["--data", "array.jsonl"], 1, "array.jsonl:1");
    write(
        d,
        "number.jsonl",
        "{\"hypothesis\": \"a\", \"references\": 5}\n",
    );
    fails_with(d, &["--data", "number.jsonl"], 1, "field `references`");
    write(
        d,
        "none.jsonl",
        "{\"hypothesis\": \"a\", \"references\": []}\n",
    );
    fails_with(d, &["--data", "none.jsonl"], 1, "at least one reference");
    // A JSON array file cut short, a CSV without the hypothesis column.
    write(
        d,
        "cut.json",
        "[{\"hypothesis\": \"a\", \"reference\": \"b\"}, {\"hypo",
    );
    fails_with(d, &["--data", "cut.json"], 1, "cut.json");
    write(d, "nohyp.csv", "id,reference\n1,a b\n");
    fails_with(d, &["--data", "nohyp.csv"], 1, "field `hypothesis`");
    // stdin: invalid UTF-8, then nothing at all.
    for (input, message) in [
        (
            &b"{\"hypothesis\": \"a\xfe\", \"reference\": \"b\"}\n"[..],
            "invalid UTF-8",
        ),
        (&b""[..], "nothing to score"),
    ] {
        let out = gavel(d)
            .args(["metrics", "--data", "-", "--format", "json"])
            .write_stdin(input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(message), "{message:?} in {stderr}");
        assert!(stderr.contains("<stdin>"), "{stderr}");
        assert!(
            !stderr.contains("panicked") && out.stdout.is_empty(),
            "{stderr}"
        );
    }
}

#[test]
fn unwritable_per_item_file_is_a_clear_error() {
    let dir = temp_dir();
    let d = dir.path();
    write(
        d,
        "ok.jsonl",
        "{\"hypothesis\": \"a\", \"reference\": \"a\"}\n",
    );
    fails_with(
        d,
        &[
            "--data",
            "ok.jsonl",
            "--per-item",
            "no/such/dir/items.jsonl",
        ],
        1,
        "items.jsonl",
    );
    fails_with(
        d,
        &["--data", "ok.jsonl", "--per-item", "items.unknown"],
        1,
        "items.unknown",
    );
    assert!(!d.join("items.unknown").exists());
}

#[test]
fn no_per_item_file_is_left_on_failure() {
    let dir = temp_dir();
    let d = dir.path();
    // A bad record after more than one batch of good ones.
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "{{\"hypothesis\": \"w{i} a b\", \"reference\": \"a b c\"}}\n"
        ));
    }
    text.push_str("{\"hypothesis\": 1, \"reference\": \"a\"}\n");
    write(d, "bad.jsonl", &text);
    fails_with(
        d,
        &["--data", "bad.jsonl", "--per-item", "items.jsonl"],
        1,
        "bad.jsonl:5001",
    );
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("items"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // An empty input writes no per-item file either.
    write(d, "empty.jsonl", "");
    fails_with(
        d,
        &["--data", "empty.jsonl", "--per-item", "items.jsonl"],
        1,
        "nothing to score",
    );
    assert!(!d.join("items.jsonl").exists());
}

#[test]
fn edge_texts_never_give_nan() {
    let dir = temp_dir();
    write(
        dir.path(),
        "edge.jsonl",
        "{\"hypothesis\": \"\", \"reference\": \"\"}\n{\"hypothesis\": \"   \", \"references\": [\"\\t\", \"\"]}\n{\"hypothesis\": \"!!!\", \"reference\": \"???\"}\n",
    );
    let out = gavel(dir.path())
        .args([
            "metrics",
            "--data",
            "edge.jsonl",
            "--format",
            "json",
            "--per-item",
            "e.jsonl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("NaN") && !text.contains("null"), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["bleu"]["score"], 0.0);
    assert_eq!(doc["ter"]["score"], 100.0);
    let items = std::fs::read_to_string(dir.path().join("e.jsonl")).unwrap();
    assert!(!items.contains("NaN") && !items.contains("null"), "{items}");
}

#[test]
fn readme_quickstart_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = gavel(&root)
        .args([
            "metrics",
            "--data",
            "examples/quickstart/pairs.jsonl",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    assert!(doc["n"].as_u64().unwrap() > 0);
    assert!(doc["bleu"]["score"].is_number());
}
