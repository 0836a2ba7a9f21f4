//! Tests of `gavel agree`.

use crate::common::*;

const A: [&str; 10] = ["A", "B", "A", "tie", "B", "A", "B", "B", "A", "tie"];
const B: [&str; 10] = ["A", "B", "B", "tie", "B", "A", "A", "B", "A", "A"];
const C: [&str; 10] = ["A", "B", "A", "B", "B", "A", "B", "tie", "A", "tie"];

fn long_labels() -> String {
    let mut s = String::new();
    for (name, labels) in [("ann", A), ("bob", B), ("cat", C)] {
        for (i, l) in labels.iter().enumerate() {
            s.push_str(&format!(
                "{{\"item\": \"q{i}\", \"annotator\": \"{name}\", \"label\": \"{l}\"}}\n"
            ));
        }
    }
    s
}

fn close(v: &serde_json::Value, want: f64) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"));
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[test]
fn json_report_matches_the_references() {
    let dir = temp_dir();
    write(dir.path(), "labels.jsonl", &long_labels());
    let out = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "labels.jsonl",
            "--format",
            "json",
            "--bootstrap",
            "200",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["n_items"], 10);
    assert_eq!(v["n_annotators"], 3);
    assert_eq!(v["n_labels"], 30);
    // krippendorff 0.9.0, statsmodels fleiss_kappa, sklearn cohen_kappa_score.
    close(&v["krippendorff_alpha"], 0.48398576512455516);
    close(&v["fleiss_kappa"], 0.4661921708185052);
    let pairs = v["cohen_kappa"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    assert_eq!(
        (pairs[0]["a"].as_str(), pairs[0]["b"].as_str()),
        (Some("ann"), Some("bob"))
    );
    close(&pairs[0]["kappa"], 0.5161290322580645);
    close(&pairs[1]["kappa"], 0.6875);
    close(&pairs[2]["kappa"], 0.19354838709677424);
    assert_eq!(pairs[0]["n"], 10);
    // The analytic interval: statsmodels cohens_kappa's std_kappa, kappa_low, kappa_upp.
    close(&pairs[0]["kappa_se"], 0.2341657969454353);
    close(&pairs[0]["kappa_ci_analytic"][0], 0.05717250383389172);
    close(&pairs[0]["kappa_ci_analytic"][1], 0.9750855606822371);
    // Categories A, B, tie have no order: weighted kappas are null, with the reason.
    assert!(pairs[0]["weighted_linear"].is_null());
    assert!(v["null_reasons"]["cohen_kappa[0].weighted_linear"].is_string());
    let ci = v["krippendorff_alpha_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= 0.484 && ci[1].as_f64().unwrap() >= 0.483);
    assert_eq!(v["interval"]["replicates"], 200);
    assert_eq!(v["annotators"].as_array().unwrap().len(), 3);
    assert!(v["annotators"][0]["agreement_with_majority"].is_number());

    // Same seed, same intervals; the text table names every statistic.
    let again = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "labels.jsonl",
            "--format",
            "json",
            "--bootstrap",
            "200",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_json(&again)["krippendorff_alpha_ci"],
        v["krippendorff_alpha_ci"]
    );
    let text = gavel(dir.path())
        .args(["agree", "--data", "labels.jsonl", "--bootstrap", "0"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for want in [
        "Krippendorff's alpha",
        "Fleiss' kappa",
        "Gwet's AC1",
        "percent agreement",
        "ann",
        "agreement with majority",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}

#[test]
fn wide_csv_with_value_map_equals_long_form() {
    let dir = temp_dir();
    let mut csv = String::from("id,first,second,third,note\n");
    let code = |l: &str| match l {
        "A" => "1",
        "B" => "2",
        _ => "0",
    };
    for i in 0..10 {
        csv.push_str(&format!(
            "q{i},{},{},{},x\n",
            code(A[i]),
            code(B[i]),
            code(C[i])
        ));
    }
    write(dir.path(), "sheet.csv", &csv);
    let out = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "sheet.csv",
            "--item-column",
            "id",
            "--columns",
            "first=ann,second=bob,third=cat",
            "--map",
            "1=A,2=B,0=tie",
            "--format",
            "json",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    close(&v["krippendorff_alpha"], 0.48398576512455516);
    assert_eq!(v["cohen_kappa"][0]["a"], "ann");
    assert!(v.get("krippendorff_alpha_ci").is_none());
}

#[test]
fn duplicate_label_names_file_and_line() {
    let dir = temp_dir();
    write(
        dir.path(),
        "dup.jsonl",
        "{\"item\":\"q\",\"annotator\":\"a\",\"label\":1}\n{\"item\":\"q\",\"annotator\":\"b\",\"label\":1}\n{\"item\":\"q\",\"annotator\":\"a\",\"label\":2}\n",
    );
    let out = gavel(dir.path())
        .args(["agree", "--data", "dup.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dup.jsonl:3:") && err.contains("twice"),
        "{err}"
    );
    let ok = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "dup.jsonl",
            "--duplicates",
            "last",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert_eq!(stdout_json(&ok)["percent_agreement"], 0.0);
}

#[test]
fn undefined_statistics_are_null_with_a_reason() {
    let dir = temp_dir();
    write(
        dir.path(),
        "same.jsonl",
        "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"yes\"}\n{\"item\":\"q\",\"annotator\":\"b\",\"label\":\"yes\"}\n",
    );
    let out = gavel(dir.path())
        .args(["agree", "--data", "same.jsonl", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert!(v["krippendorff_alpha"].is_null());
    assert!(v["fleiss_kappa"].is_null());
    assert_eq!(v["gwet_ac1"], 1.0);
    assert!(
        v["null_reasons"]["krippendorff_alpha"]
            .as_str()
            .unwrap()
            .contains("same value")
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
}

#[test]
fn drift_windows_flag_and_gate_exits_3() {
    let dir = temp_dir();
    let mut s = String::new();
    for (day, agree) in [(1, true), (3, true), (15, false), (16, false)] {
        for i in 0..5 {
            let x = ["A", "B"][i % 2];
            let y = if agree { x } else { ["B", "A"][i % 2] };
            let t = format!("2024-05-{day:02}T09:00:00Z");
            s.push_str(&format!("{{\"item\":\"{day}-{i}\",\"annotator\":\"x\",\"label\":\"{x}\",\"time\":\"{t}\",\"round\":\"r{day}\"}}\n"));
            s.push_str(&format!("{{\"item\":\"{day}-{i}\",\"annotator\":\"y\",\"label\":\"{y}\",\"time\":\"{t}\",\"round\":\"r{day}\"}}\n"));
        }
    }
    write(dir.path(), "t.jsonl", &s);
    let out = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "t.jsonl",
            "--by",
            "time",
            "--window",
            "7d",
            "--min-alpha",
            "0.5",
            "--format",
            "json",
            "--bootstrap",
            "50",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    let windows = v["drift"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2);
    assert_eq!(
        windows[0]["window"],
        "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z"
    );
    assert_eq!(windows[0]["krippendorff_alpha"], 1.0);
    assert!(windows[0]["flags"].as_array().unwrap().is_empty());
    assert_eq!(windows[1]["flags"][0]["statistic"], "krippendorff_alpha");
    assert_eq!(v["gate"]["passed"], false);

    let rounds = gavel(dir.path())
        .args([
            "agree", "--data", "t.jsonl", "--by", "round", "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(rounds.status.success());
    assert_eq!(
        stdout_json(&rounds)["drift"]["windows"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let pass = gavel(dir.path())
        .args(["agree", "--data", "t.jsonl", "--min-agreement", "0.1"])
        .output()
        .unwrap();
    assert_eq!(pass.status.code(), Some(0));

    // Windows with fewer items labelled twice than --min-items are not gated, and say so.
    let out = gavel(dir.path())
        .args([
            "agree",
            "--data",
            "t.jsonl",
            "--by",
            "round",
            "--min-alpha",
            "0.5",
            "--min-items",
            "6",
            "--format",
            "json",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "the whole data (20 items) is still gated"
    );
    let v = stdout_json(&out);
    let skipped = v["gate"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{v}");
    assert_eq!(skipped[0]["window"], "r1");
    assert_eq!(skipped[0]["n_pairable_items"], 5);
    assert_eq!(skipped[0]["min_items"], 6);
    let failed = v["gate"]["failed"].as_array().unwrap();
    assert!(failed.iter().all(|f| f["window"].is_null()), "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gates not checked for window r1"),
        "{stderr}"
    );
}

#[test]
fn help_has_examples() {
    let out = gavel(&std::env::temp_dir())
        .args(["agree", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:")
            && text.contains("--duplicates")
            && text.contains("--single-label")
    );
}

/// PandaLM's test set: three annotators per item; the paper reports pairwise Cohen's kappas of
/// 0.85, 0.88 and 0.86 (docs/reproductions.md).
#[test]
fn reproduces_pandalm_inter_annotator_kappas() {
    let Some(data) = shared_data("reproduces_pandalm_inter_annotator_kappas") else {
        return;
    };
    let file = data.join("pandalm/testset-v1.json");
    let out = gavel(&std::env::temp_dir())
        .args(["agree", "--data"])
        .arg(&file)
        .args([
            "--wide",
            "--item-column",
            "idx",
            "--columns",
            "annotator1,annotator2,annotator3",
            "--format",
            "json",
            "--bootstrap",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["n_items"], 999);
    let kappas: Vec<f64> = v["cohen_kappa"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kappa"].as_f64().unwrap())
        .collect();
    let published = [0.85, 0.88, 0.86];
    for (ours, want) in kappas.iter().zip(published) {
        assert!((ours - want).abs() < 0.005, "{kappas:?}");
    }
    close(&v["cohen_kappa"][0]["kappa"], 0.8520226785167024);
}

/// Labels in awkward shapes: escapes, numbers and strings for one value, `null`, booleans,
/// items with one label, pairs given in both orders, pointwise models, extra fields (nested
/// too), duplicates, times, rounds and guideline versions. JSONL lines (blank lines among them).
fn awkward_lines() -> Vec<String> {
    let mut lines = Vec::new();
    let values = [
        "\"A\"",
        "\"B\"",
        "1",
        "\"1\"",
        "1.0",
        "null",
        "true",
        "\"ti\\u0065\"",
        "2",
        "\"B\"",
    ];
    for i in 0..60 {
        for (a, name) in ["ann", "b\\\"ob", "c\\u00e9", "dan"].iter().enumerate() {
            if (i + a) % 7 == 3 {
                continue;
            }
            let value = values[(i * 3 + a * 5 + i / 4) % values.len()];
            let item = if i % 5 == 0 {
                format!("q\\u00e9{i}")
            } else {
                format!("q{i}")
            };
            let mut extra = String::new();
            if i % 6 == 1 {
                extra.push_str(if a % 2 == 0 {
                    ", \"model_a\": \"m1\", \"model_b\": \"m2\""
                } else {
                    ", \"model_a\": \"m2\", \"model_b\": \"m1\""
                });
            }
            if i % 6 == 2 {
                extra.push_str(", \"model\": \"m3\"");
            }
            if i % 4 == 0 {
                extra.push_str(&format!(", \"note\": {{\"k\": [1, \"{i}\"]}}, \"n\": {i}"));
            }
            extra.push_str(&format!(
                ", \"time\": \"2024-05-{:02}T{:02}:00:00Z\", \"round\": {}, \"guideline_version\": \"v{}\"",
                1 + i % 20,
                a * 3,
                // A number (read by the generic reader) or a string (scanned).
                if a == 3 || i % 2 == 1 {
                    format!("\"{}\"", i % 3)
                } else {
                    (i % 3).to_string()
                },
                i / 30
            ));
            lines.push(format!(
                "{{\"item\": \"{item}\", \"annotator\": \"{name}\", \"label\": {value}{extra}}}"
            ));
        }
        if i % 10 == 9 {
            lines.push(String::new());
        }
    }
    // Duplicates: the same annotator on the same item again, and a single-label item.
    lines.push(r#"{"item":"q4","annotator":"ann","label":"B"}"#.to_string());
    lines.push(r#"{"item":"q7","annotator":"dan","label":2}"#.to_string());
    lines.push(r#"{"item":"lonely","annotator":"dan","label":"A"}"#.to_string());
    lines
}

/// `gavel agree --format json` on `file` with `args`: exit status, stdout, stderr.
fn agree_json(dir: &std::path::Path, file: &str, args: &[&str]) -> (bool, String, String) {
    let out = gavel(dir)
        .args(["agree", "--data", file, "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn jsonl_columns_equal_the_generic_reader() {
    // JSONL is scanned straight into columns; a JSON array of the same records goes through
    // the generic reader. Every report must be the same, byte for byte.
    let dir = temp_dir();
    let lines = awkward_lines();
    let mut jsonl = lines.join("\r\n");
    jsonl.push('\n');
    write(dir.path(), "labels.jsonl", &jsonl);
    let records: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    let array = format!(
        "[{}]",
        records
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",\n")
    );
    write(dir.path(), "labels.json", &array);
    let runs: &[&[&str]] = &[
        &["--duplicates", "first", "--bootstrap", "50"],
        &["--duplicates", "last", "--bootstrap", "0"],
        &["--duplicates", "last", "--single-label", "drop"],
        &["--duplicates", "first", "--map", "1=A,true=null,2=tie"],
        &[
            "--duplicates",
            "first",
            "--by",
            "round",
            "--min-alpha",
            "0.9",
        ],
        &["--duplicates", "last", "--by", "guideline_version"],
        &["--duplicates", "first", "--by", "time", "--window", "3d"],
        &["--duplicates", "first", "--categories", "A,B,1,tie,true,2"],
    ];
    for args in runs {
        let (ok_l, out_l, err_l) = agree_json(dir.path(), "labels.jsonl", args);
        let (ok_j, out_j, err_j) = agree_json(dir.path(), "labels.json", args);
        assert!(!out_l.is_empty(), "{args:?}: {err_l}");
        assert_eq!(ok_l, ok_j, "{args:?}");
        assert_eq!(out_l, out_j, "{args:?}");
        let v: serde_json::Value = serde_json::from_str(&out_l).unwrap();
        assert!(v["n_labels"].as_u64().unwrap() > 150, "{args:?}");
        assert!(v["n_missing"].as_u64().unwrap() > 0, "{args:?}");
        assert_eq!(v["cohen_kappa"].as_array().unwrap().len(), 6, "{args:?}");
        if args.contains(&"--by") {
            assert!(
                v["drift"]["windows"].as_array().unwrap().len() >= 2,
                "{args:?}"
            );
        }
        // Warnings (labels without a round, ...) too; errors name each its own file.
        assert_eq!(
            err_l.replace("labels.jsonl", "F"),
            err_j.replace("labels.json", "F"),
            "{args:?}"
        );
    }
    // The default duplicates policy stops at the first duplicate, named by file and line.
    let (ok, _, err) = agree_json(dir.path(), "labels.jsonl", &[]);
    let line = lines
        .iter()
        .position(|l| l.starts_with(r#"{"item":"q4","annotator":"ann""#))
        .unwrap()
        + 1;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "labels.jsonl:{line}: annotator `ann` labelled q4 twice"
        )),
        "{err}"
    );
}

#[test]
fn numeric_levels_and_tables_read_alike() {
    // Likert scores as numbers, numeric strings and decimals; CSV goes through its reader.
    let dir = temp_dir();
    let mut jsonl = String::new();
    let mut csv = String::from("item,annotator,label\n");
    for i in 0..40 {
        for a in 0..3 {
            let score = (i * (a + 2) + i / 3) % 5 + 1;
            let (json_value, cell) = match (i + a) % 6 {
                0 => (format!("\"{score}\""), score.to_string()),
                1 => (format!("{score}.5"), format!("{score}.5")),
                2 if i % 9 == 0 => ("null".to_string(), String::new()),
                _ => (score.to_string(), score.to_string()),
            };
            jsonl.push_str(&format!(
                "{{\"item\":\"s{i}\",\"annotator\":\"r{a}\",\"label\":{json_value}}}\n"
            ));
            csv.push_str(&format!("s{i},r{a},{cell}\n"));
        }
    }
    write(dir.path(), "scores.jsonl", &jsonl);
    write(dir.path(), "scores.csv", &csv);
    for level in ["nominal", "ordinal", "interval", "ratio"] {
        let args = ["--level", level, "--bootstrap", "30"];
        let (ok_l, out_l, err_l) = agree_json(dir.path(), "scores.jsonl", &args);
        let (_, out_c, _) = agree_json(dir.path(), "scores.csv", &args);
        assert!(ok_l, "{err_l}");
        assert_eq!(out_l, out_c, "{level}");
    }
    // A category among numbers: the interval level names the label's file and line.
    jsonl.push_str("{\"item\":\"s1\",\"annotator\":\"r9\",\"label\":\"high\"}\n");
    write(dir.path(), "scores.jsonl", &jsonl);
    let (ok, _, err) = agree_json(dir.path(), "scores.jsonl", &["--level", "interval"]);
    assert!(!ok);
    assert!(
        err.contains("scores.jsonl:121: label `high` of annotator `r9`"),
        "{err}"
    );
}
