//! Whole builds on small inputs: every filter, swap and rationale rewriting, splits, balance,
//! templates, formats, and the checker on good and broken datasets.

use std::path::{Path, PathBuf};

use gavel_dataset::build::build;
use gavel_dataset::check::check;
use gavel_dataset::config::{
    BalancePolicy, BuildConfig, DuplicatePolicy, ExampleFormat, InconsistentPolicy, SplitShares,
    SwapPolicy,
};
use gavel_dataset::convention::JudgeParsers;
use gavel_dataset::report::{BuildReport, DropReason};
use serde_json::{Value, json};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, rows: &[Value]) -> PathBuf {
        let p = self.path(name);
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Items q0..qN with distinct instructions and responses of x, y, z.
    fn items(&self, n: usize, extra: &[Value]) -> PathBuf {
        let mut rows: Vec<Value> = (0..n)
            .map(|i| {
                json!({"id": format!("q{i}"), "instruction": instruction(i),
                       "responses": {"x": format!("x says {i}"), "y": format!("y says {i}"), "z": format!("z says {i}")}})
            })
            .collect();
        rows.extend(extra.iter().cloned());
        self.write("items.jsonl", &rows)
    }

    fn config(&self, judgments: &[&str]) -> BuildConfig {
        let mut c = BuildConfig::new(
            judgments.iter().map(|j| self.path(j)).collect(),
            self.path("items.jsonl"),
            self.path("out"),
        );
        c.splits = SplitShares::parse("train=1").unwrap();
        c.filters.near_duplicates = DuplicatePolicy::Off;
        c
    }
}

/// Distinct instructions: different words, not just different numbers.
fn instruction(i: usize) -> String {
    const WORDS: [&str; 12] = [
        "apples",
        "rivers",
        "engines",
        "poetry",
        "taxes",
        "volcanoes",
        "chess",
        "bridges",
        "vaccines",
        "jazz",
        "glaciers",
        "printing",
    ];
    format!(
        "Write about {} and {} for reader {i}",
        WORDS[i % 12],
        WORDS[(i / 12 + 5) % 12]
    )
}

fn judgment(item: &str, a: &str, b: &str, label: &str) -> Value {
    json!({"item": item, "annotator": "judge:t/mt-bench-pair", "label": label, "model_a": a,
           "model_b": b, "mode": "pairwise", "template": "mt-bench-pair",
           "orders": [{"order": "AB", "label": label, "raw": "r", "parse_error": null},
                      {"order": "BA", "label": label, "raw": "r", "parse_error": null}],
           "consistent": true,
           "rationale": "Assistant A is more accurate than Assistant B, but Assistant B's answer is shorter."})
}

fn run(c: &BuildConfig) -> (BuildReport, Vec<Vec<Value>>) {
    let report = build(c, &|_| {}).unwrap();
    let splits = ["train", "validation", "test"]
        .iter()
        .map(|s| read(&c.out.join(format!("{s}.jsonl"))))
        .collect();
    (report, splits)
}

fn read(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn dropped(r: &BuildReport, reason: DropReason) -> u64 {
    r.dropped(reason).unwrap().records
}

fn target(e: &Value) -> String {
    e["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_checks(dir: &Path) {
    let c = check(dir, &JudgeParsers).unwrap();
    assert!(c.ok(), "{:#?}", c.listed);
}

#[test]
fn unparseable_and_not_pairwise_are_dropped() {
    let f = Fixture::new();
    f.items(4, &[]);
    let mut null = judgment("q0", "x", "y", "A");
    null["label"] = Value::Null;
    null["parse_error"] = json!("order AB: no verdict");
    null["scores"] = json!([7, 3]);
    let mut code = judgment("q1", "x", "y", "A");
    code["label"] = json!("1");
    let pointwise = json!({"item": "q2", "annotator": "judge:t", "label": 7, "model": "x", "mode": "pointwise"});
    let score_only = json!({"item": "q3", "annotator": "judge:t", "label": 4});
    f.write(
        "j.jsonl",
        &[
            null,
            code,
            pointwise,
            score_only,
            judgment("q3", "x", "z", "B"),
        ],
    );
    let (r, splits) = run(&f.config(&["j.jsonl"]));
    assert_eq!(dropped(&r, DropReason::Unparseable), 2);
    assert_eq!(dropped(&r, DropReason::NotPairwise), 2);
    assert_eq!(r.teacher_records_kept, 1);
    assert_eq!(splits[0].len(), 2);
    assert_checks(&f.path("out"));
}

#[test]
fn truncated_outputs_are_dropped_unless_kept() {
    let f = Fixture::new();
    f.items(2, &[]);
    let mut t = judgment("q0", "x", "y", "A");
    t["orders"][1]["truncated"] = json!(true);
    let mut fr = judgment("q1", "x", "y", "B");
    fr["finish_reason"] = json!("length");
    f.write("j.jsonl", &[t, fr]);
    let mut c = f.config(&["j.jsonl"]);
    let (r, _) = run(&c);
    assert_eq!(dropped(&r, DropReason::Truncated), 2);
    c.filters.drop_truncated = false;
    let (r, splits) = run(&c);
    assert_eq!(dropped(&r, DropReason::Truncated), 0);
    assert_eq!(splits[0].len(), 4);
}

#[test]
fn position_inconsistent_drop_tie_or_keep() {
    let f = Fixture::new();
    f.items(1, &[]);
    let mut j = judgment("q0", "x", "y", "tie");
    j["orders"][0]["label"] = json!("A");
    j["orders"][1]["label"] = json!("B");
    j["consistent"] = json!(false);
    // Inconsistency read from the orders when `consistent` is absent.
    let mut k = judgment("q0", "x", "z", "A");
    k["orders"][1]["label"] = json!("tie");
    k.as_object_mut().unwrap().remove("consistent");
    f.write("j.jsonl", &[j, k]);
    let mut c = f.config(&["j.jsonl"]);
    c.filters.teacher_agreement = false;
    let (r, _) = run(&c);
    assert_eq!(dropped(&r, DropReason::PositionInconsistent), 2);
    c.filters.inconsistent = InconsistentPolicy::Tie;
    let (r, splits) = run(&c);
    assert_eq!(dropped(&r, DropReason::PositionInconsistent), 0);
    for e in &splits[0] {
        assert_eq!(e["label"], "tie");
        // The rationale argued for one side: a tie keeps the verdict alone.
        assert_eq!(target(e), "[[C]]");
    }
    c.filters.inconsistent = InconsistentPolicy::Keep;
    let (_, splits) = run(&c);
    let labels: Vec<&str> = splits[0]
        .iter()
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["tie", "tie", "A", "B"]);
}

#[test]
fn sample_disagreement_within_a_record() {
    let f = Fixture::new();
    f.items(1, &[]);
    let mut j = judgment("q0", "x", "y", "A");
    j["orders"] = json!([
        {"order": "AB", "label": "A", "sample": 0}, {"order": "AB", "label": "A", "sample": 1},
        {"order": "AB", "label": "B", "sample": 2},
        {"order": "BA", "label": "A", "sample": 0}, {"order": "BA", "label": "A", "sample": 1},
        {"order": "BA", "label": "A", "sample": 2}]);
    f.write("j.jsonl", &[j]);
    let mut c = f.config(&["j.jsonl"]);
    let (r, _) = run(&c);
    assert_eq!(dropped(&r, DropReason::SampleDisagreement), 1);
    c.filters.min_sample_agreement = 0.6;
    let (r, splits) = run(&c);
    assert_eq!(dropped(&r, DropReason::SampleDisagreement), 0);
    assert_eq!(splits[0].len(), 2);
}

#[test]
fn several_records_of_one_pair_must_agree() {
    let f = Fixture::new();
    f.items(3, &[]);
    // Two teachers: agree on q0 (one given in the other order), disagree on q1.
    f.write(
        "t1.jsonl",
        &[judgment("q0", "x", "y", "A"), judgment("q1", "x", "y", "A")],
    );
    f.write(
        "t2.jsonl",
        &[
            judgment("q0", "y", "x", "B"),
            judgment("q1", "x", "y", "tie"),
            judgment("q2", "x", "y", "B"),
        ],
    );
    let mut c = f.config(&["t1.jsonl", "t2.jsonl"]);
    let (r, splits) = run(&c);
    assert!(r.teacher_agreement_checked);
    assert_eq!(dropped(&r, DropReason::TeacherDisagreement), 2);
    assert_eq!(dropped(&r, DropReason::RepeatedPair), 1);
    let items: Vec<&str> = splits[0]
        .iter()
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["q0", "q0", "q2", "q2"]);
    // Two of three agreeing is enough at 0.6; the majority's record is used.
    f.write("t3.jsonl", &[judgment("q1", "y", "x", "B")]);
    c.judgments.push(f.path("t3.jsonl"));
    c.filters.min_sample_agreement = 0.6;
    let (r, splits) = run(&c);
    assert_eq!(dropped(&r, DropReason::TeacherDisagreement), 0);
    let q1: Vec<&Value> = splits[0].iter().filter(|e| e["item"] == "q1").collect();
    assert_eq!(q1.len(), 2);
    assert_eq!(q1[0]["model_a"], "x");
    assert_eq!(q1[0]["label"], "A");
    // Off: later records of a pair are still not used twice.
    c.filters.teacher_agreement = false;
    let (r, _) = run(&c);
    assert!(!r.teacher_agreement_checked);
    assert_eq!(dropped(&r, DropReason::TeacherDisagreement), 0);
    assert_eq!(dropped(&r, DropReason::RepeatedPair), 3);
}

#[test]
fn swap_remaps_labels_scores_and_rationales_naming_both_assistants() {
    let f = Fixture::new();
    f.items(1, &[]);
    let mut j = judgment("q0", "x", "y", "A");
    j["scores"] = json!([8, 3]);
    f.write("j.jsonl", &[j]);
    let mut c = f.config(&["j.jsonl"]);
    let (r, splits) = run(&c);
    let (ab, ba) = (&splits[0][0], &splits[0][1]);
    assert_eq!(
        (ab["order"].as_str(), ab["label"].as_str()),
        (Some("AB"), Some("A"))
    );
    assert_eq!(
        (ba["order"].as_str(), ba["label"].as_str()),
        (Some("BA"), Some("B"))
    );
    assert_eq!(
        (ba["model_a"].as_str(), ba["response_a"].as_str()),
        (Some("y"), Some("y says 0"))
    );
    assert_eq!(
        target(ab),
        "Assistant A is more accurate than Assistant B, but Assistant B's answer is shorter.\n\n[[A]]"
    );
    assert_eq!(
        target(ba),
        "Assistant B is more accurate than Assistant A, but Assistant A's answer is shorter.\n\n[[B]]"
    );
    assert_eq!(r.swap.rationales_rewritten, 1);
    assert_eq!(r.swap.mentions_rewritten, 3);
    assert_checks(&c.out);

    // Other templates: their own names for the responses, and scores swapped too.
    c.templates = vec![("pandalm".into(), 1.0)];
    let (_, splits) = run(&c);
    assert_eq!(
        target(&splits[0][1]),
        "2\n\nReason: Response 2 is more accurate than Response 1, but Response 1's answer is shorter."
    );
    c.templates = vec![("judgelm".into(), 1.0)];
    let (_, splits) = run(&c);
    assert_eq!(
        target(&splits[0][1]),
        "3 8\nAssistant 2 is more accurate than Assistant 1, but Assistant 1's answer is shorter."
    );
    assert_eq!(splits[0][1]["scores"], json!([3.0, 8.0]));
    assert_checks(&c.out);

    // A rationale written for the BA presentation is swapped for the AB example.
    let mut j = judgment("q0", "x", "y", "A");
    j["orders"] = json!([{"order": "BA", "label": "A"}, {"order": "AB", "label": "A"}]);
    j["rationale"] = json!("Assistant B is right.");
    f.write("j.jsonl", &[j]);
    c.templates = vec![("mt-bench-pair".into(), 1.0)];
    let (_, splits) = run(&c);
    assert_eq!(target(&splits[0][0]), "Assistant A is right.\n\n[[A]]");
    assert_eq!(target(&splits[0][1]), "Assistant B is right.\n\n[[B]]");

    c.swap = SwapPolicy::None;
    let (r, splits) = run(&c);
    assert_eq!(splits[0].len(), 1);
    assert_eq!(r.swap.swapped, 0);
}

#[test]
fn random_swap_is_balanced_and_seeded() {
    let f = Fixture::new();
    f.items(400, &[]);
    let rows: Vec<Value> = (0..400)
        .map(|i| judgment(&format!("q{i}"), "x", "y", "A"))
        .collect();
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.swap = SwapPolicy::Random;
    let (r, splits) = run(&c);
    assert_eq!(splits[0].len(), 400);
    let b = splits[0].iter().filter(|e| e["label"] == "B").count();
    assert!((150..=250).contains(&b), "{b}");
    assert_eq!(r.swap.swapped as usize, b);
    let first = std::fs::read(c.out.join("train.jsonl")).unwrap();
    run(&c);
    assert_eq!(std::fs::read(c.out.join("train.jsonl")).unwrap(), first);
    c.seed = 1;
    run(&c);
    assert_ne!(std::fs::read(c.out.join("train.jsonl")).unwrap(), first);
}

#[test]
fn missing_items_responses_and_multi_turn() {
    let f = Fixture::new();
    f.items(
        1,
        &[
            json!({"id": "mt", "turns": ["a", "b"], "responses": {"x": ["1", "2"], "y": ["3", "4"]}}),
            json!({"id": "pair", "instruction": "Two only", "responses": {"p": "one", "q": "two"}}),
        ],
    );
    let label_file_row =
        json!({"item": "pair", "annotator": "h", "label": "B", "rationale": "Response 2 wins."});
    f.write(
        "j.jsonl",
        &[
            judgment("nope", "x", "y", "A"),
            judgment("q0", "x", "w", "A"),
            judgment("mt", "x", "y", "A"),
            label_file_row,
        ],
    );
    let (r, splits) = run(&f.config(&["j.jsonl"]));
    assert_eq!(dropped(&r, DropReason::MissingItem), 1);
    assert_eq!(dropped(&r, DropReason::MissingResponse), 1);
    assert_eq!(dropped(&r, DropReason::MultiTurn), 1);
    // A label without models is about the item's two responses, in file order.
    assert_eq!(splits[0][0]["model_a"], "p");
    assert_eq!(splits[0][0]["label"], "B");
    assert_eq!(target(&splits[0][0]), "Assistant B wins.\n\n[[B]]");
}

#[test]
fn duplicate_and_near_duplicate_instructions() {
    let f = Fixture::new();
    let long = "Describe the water cycle in detail, covering evaporation, condensation, \
                precipitation and collection, with an example from a mountain valley in spring.";
    let near = "Describe the water cycle in detail, covering evaporation, condensation, \
                precipitation and collection, with an example from a mountain valley in autumn.";
    f.items(
        1,
        &[
            json!({"id": "w1", "instruction": long, "responses": {"x": "a", "y": "b"}}),
            json!({"id": "w2", "instruction": long.to_uppercase(), "responses": {"x": "a", "y": "b"}}),
            json!({"id": "w3", "instruction": near, "responses": {"x": "a", "y": "b"}}),
        ],
    );
    let rows: Vec<Value> = ["w1", "w2", "w3", "w1"]
        .iter()
        .zip(["x", "x", "x", "y"])
        .map(|(i, a)| judgment(i, a, if a == "x" { "y" } else { "x" }, "A"))
        .collect();
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.filters.near_duplicates = DuplicatePolicy::Drop;
    c.filters.teacher_agreement = false;
    let (r, splits) = run(&c);
    assert_eq!(dropped(&r, DropReason::DuplicateInstruction), 1);
    assert_eq!(dropped(&r, DropReason::NearDuplicateInstruction), 1);
    // The second judgment of w1 is another pair order of the same item: a repeated pair.
    assert_eq!(dropped(&r, DropReason::RepeatedPair), 1);
    assert_eq!(splits[0].len(), 2);

    // Kept duplicates go to the split of the first: never across splits.
    c.filters.duplicates = DuplicatePolicy::Keep;
    c.filters.near_duplicates = DuplicatePolicy::Keep;
    c.splits = SplitShares::parse("train=1,validation=1,test=1").unwrap();
    let (r, splits) = run(&c);
    assert_eq!(r.teacher_records_kept, 3);
    assert_eq!(splits.iter().filter(|s| !s.is_empty()).count(), 1);
    assert_checks(&c.out);

    // Off: near duplicates are not looked for; exact ones share a split by construction.
    c.filters.near_duplicates = DuplicatePolicy::Off;
    c.filters.duplicates = DuplicatePolicy::Off;
    let (r, _) = run(&c);
    assert_eq!(dropped(&r, DropReason::NearDuplicateInstruction), 0);
    assert_eq!(dropped(&r, DropReason::DuplicateInstruction), 0);
}

#[test]
fn human_items_make_the_test_split_and_reserve_their_instructions() {
    let f = Fixture::new();
    f.items(
        40,
        &[json!({"id": "copy", "instruction": instruction(1), "responses": {"x": "a", "y": "b"}})],
    );
    let mut rows: Vec<Value> = (0..40)
        .map(|i| judgment(&format!("q{i}"), "x", "y", "A"))
        .collect();
    rows.push(judgment("copy", "x", "y", "B"));
    f.write("j.jsonl", &rows);
    let human = vec![
        json!({"item": "q1", "annotator": "h1", "label": "A", "model_a": "x", "model_b": "y"}),
        json!({"item": "q1", "annotator": "h2", "label": "B", "model_a": "y", "model_b": "x"}),
        json!({"item": "q1", "annotator": "h3", "label": "B", "model_a": "x", "model_b": "y"}),
        json!({"item": "q2", "annotator": "h1", "label": "A", "model_a": "x", "model_b": "z"}),
        json!({"item": "q2", "annotator": "h2", "label": "B", "model_a": "x", "model_b": "z"}),
        json!({"item": "q3", "annotator": "h1", "label": 4}),
    ];
    f.write("human.jsonl", &human);
    let mut c = f.config(&["j.jsonl"]);
    c.human = vec![f.path("human.jsonl")];
    c.splits = SplitShares::DEFAULT_WITH_HUMAN;
    let (r, splits) = run(&c);
    let h = r.human.as_ref().unwrap();
    assert_eq!(
        (h.labels, h.pairs, h.examples, h.no_majority, h.not_pairwise),
        (6, 2, 1, 1, 1)
    );
    assert_eq!(splits[2].len(), 1);
    let t = &splits[2][0];
    // h2 gave the pair in the other order: "A" there is "B" here. Majority: A (h1, h2).
    assert_eq!(
        (
            t["item"].as_str(),
            t["label"].as_str(),
            t["source"].as_str()
        ),
        (Some("q1"), Some("A"), Some("human"))
    );
    assert_eq!(target(t), "[[A]]");
    assert_eq!(dropped(&r, DropReason::HumanTestItem), 1);
    assert_eq!(dropped(&r, DropReason::TestLeak), 1);
    assert!(
        splits[0]
            .iter()
            .chain(&splits[1])
            .all(|e| e["item"] != "q1" && e["item"] != "copy")
    );
    assert!(!splits[1].is_empty());
    assert_checks(&c.out);
}

#[test]
fn splits_never_share_an_instruction_and_follow_the_shares() {
    let f = Fixture::new();
    f.items(600, &[]);
    let mut rows = Vec::new();
    for i in 0..600 {
        for (a, b) in [("x", "y"), ("x", "z")] {
            rows.push(judgment(
                &format!("q{i}"),
                a,
                b,
                if i % 2 == 0 { "A" } else { "B" },
            ));
        }
    }
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.splits = SplitShares::DEFAULT;
    let (r, splits) = run(&c);
    let share = |s: &str| r.splits[s].instructions as f64 / 600.0;
    assert!((share("train") - 0.9).abs() < 0.05, "{}", share("train"));
    assert!(share("validation") > 0.02 && share("test") > 0.02);
    let mut seen = std::collections::HashMap::new();
    for (k, split) in splits.iter().enumerate() {
        for e in split {
            let prev = seen.insert(e["instruction"].as_str().unwrap().to_string(), k);
            assert!(prev.is_none_or(|p| p == k));
        }
    }
    assert_checks(&c.out);
}

#[test]
fn balancing_keeps_exact_counts_from_the_written_examples() {
    let f = Fixture::new();
    f.items(300, &[]);
    let rows: Vec<Value> = (0..300)
        .map(|i| {
            judgment(
                &format!("q{i}"),
                "x",
                "y",
                ["A", "A", "B", "tie", "A"][i % 5],
            )
        })
        .collect();
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.swap = SwapPolicy::None;
    c.balance = BalancePolicy::Equal;
    let (r, splits) = run(&c);
    let s = &r.splits["train"];
    assert_eq!(
        (s.labels_before.a, s.labels_before.b, s.labels_before.tie),
        (180, 60, 60)
    );
    assert_eq!((s.labels.a, s.labels.b, s.labels.tie), (60, 60, 60));
    assert_eq!(splits[0].len(), 180);
    let unique: std::collections::HashSet<&str> = splits[0]
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 180);
    let items: std::collections::HashSet<&str> = splits[0]
        .iter()
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    assert_eq!(s.items as usize, items.len());
    c.balance = BalancePolicy::parse("A=0.5,B=0.25,tie=0.25").unwrap();
    let (r, _) = run(&c);
    let s = &r.splits["train"];
    assert_eq!((s.labels.a, s.labels.b, s.labels.tie), (120, 60, 60));
}

#[test]
fn templates_mix_by_share_and_reference_drop() {
    let f = Fixture::new();
    let extra: Vec<Value> = (0..300)
        .map(|i| json!({"id": format!("r{i}"), "instruction": format!("{} (variant {})", instruction(i), i * 31),
                         "reference": format!("REF-{i}"), "responses": {"x": format!("xa{i}"), "y": format!("ya{i}")}}))
        .collect();
    f.items(0, &extra);
    let rows: Vec<Value> = (0..300)
        .map(|i| {
            let mut j = judgment(&format!("r{i}"), "x", "y", "A");
            if i % 2 == 0 {
                j["scores"] = json!([9, 2]);
            }
            j
        })
        .collect();
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.templates = vec![
        ("mt-bench-pair".into(), 2.0),
        ("pandalm".into(), 1.0),
        ("judgelm".into(), 1.0),
    ];
    c.reference_drop = 0.3;
    let (r, splits) = run(&c);
    let count = |t: &str| splits[0].iter().filter(|e| e["template"] == t).count() as f64 / 600.0;
    // judgelm only where there are scores (half the records): about 1/4 * 1/2 of all.
    assert!(
        (count("judgelm") - 0.125).abs() < 0.04,
        "{}",
        count("judgelm")
    );
    assert!(
        (count("mt-bench-pair") - 0.583).abs() < 0.06,
        "{}",
        count("mt-bench-pair")
    );
    assert!(
        splits[0]
            .iter()
            .filter(|e| e["template"] == "judgelm")
            .all(|e| !e["scores"].is_null())
    );
    let dropped_share = r.reference.dropped as f64 / r.reference.with_reference as f64;
    assert!((dropped_share - 0.3).abs() < 0.06, "{dropped_share}");
    for e in &splits[0] {
        let shown = e["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"].as_str().unwrap().contains("REF-"));
        assert_eq!(shown, !e["reference"].is_null());
        // Of these three, only judgelm shows a reference.
        if shown {
            assert_eq!(e["template"], "judgelm");
        }
    }
    assert!(r.reference.shown > 0);
    assert_checks(&c.out);
    // A template that needs the reference is used only where it was not dropped.
    c.templates = vec![("mt-bench-pair-ref".into(), 1.0)];
    let (r, splits) = run(&c);
    let no_template = r.dropped(DropReason::NoTemplate).unwrap().examples;
    assert!((130..=230).contains(&no_template), "{no_template}");
    assert!(splits[0].iter().all(|e| !e["reference"].is_null()));
    assert_checks(&c.out);
    // Only a score template and no scores: nothing can carry the verdict.
    c.templates = vec![("judgelm".into(), 1.0)];
    let (r, _) = run(&c);
    assert_eq!(r.dropped(DropReason::NoTemplate).unwrap().examples, 300);
}

#[test]
fn token_limits_estimated_and_with_a_tokenizer() {
    let f = Fixture::new();
    f.items(
        0,
        &[
            json!({"id": "short", "instruction": "Hi there", "responses": {"x": "a", "y": "b"}}),
            json!({"id": "long", "instruction": "Say something long", "responses": {"x": "word ".repeat(2000), "y": "b"}}),
        ],
    );
    f.write(
        "j.jsonl",
        &[
            judgment("short", "x", "y", "A"),
            judgment("long", "x", "y", "A"),
        ],
    );
    let mut c = f.config(&["j.jsonl"]);
    c.filters.max_tokens = Some(1500);
    let (r, splits) = run(&c);
    assert_eq!(r.dropped(DropReason::TooLong).unwrap().examples, 2);
    assert!(splits[0].iter().all(|e| e["item"] == "short"));
    c.filters.max_tokens = None;
    c.filters.max_target_tokens = Some(5);
    let (r, _) = run(&c);
    assert_eq!(r.dropped(DropReason::TooLong).unwrap().examples, 4);

    // A word-level tokenizer: every whitespace-separated word is one token.
    let tk = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "word": 1}, "unk_token": "[UNK]"}
    });
    std::fs::write(f.path("tokenizer.json"), tk.to_string()).unwrap();
    c.tokenizer = Some(f.path("tokenizer.json"));
    c.filters.max_target_tokens = None;
    c.filters.max_prompt_tokens = Some(2050);
    let (r, _) = run(&c);
    assert!(r.tokens.counter.contains("tokenizer.json"));
    // The long prompt has 2,000 words plus the template: over 2,050 exactly counted.
    assert_eq!(r.dropped(DropReason::TooLong).unwrap().examples, 2);
    c.filters.max_prompt_tokens = Some(3000);
    let (r, _) = run(&c);
    assert_eq!(r.dropped(DropReason::TooLong).unwrap().examples, 0);
}

#[test]
fn every_layout_and_parquet_pass_the_check() {
    let f = Fixture::new();
    f.items(30, &[]);
    let rows: Vec<Value> = (0..30)
        .map(|i| judgment(&format!("q{i}"), "x", "z", "B"))
        .collect();
    f.write("j.jsonl", &rows);
    for format in [
        ExampleFormat::Messages,
        ExampleFormat::Alpaca,
        ExampleFormat::Sharegpt,
    ] {
        let mut c = f.config(&["j.jsonl"]);
        c.format = format;
        c.parquet = true;
        c.templates = vec![("mt-bench-pair".into(), 1.0), ("pandalm".into(), 1.0)];
        c.splits = SplitShares::DEFAULT;
        run(&c);
        assert_checks(&c.out);
        // The Parquet copy alone also passes.
        for s in ["train", "validation", "test"] {
            std::fs::remove_file(c.out.join(format!("{s}.jsonl"))).unwrap();
        }
        assert_checks(&c.out);
    }
}

#[test]
fn json_array_and_jsonl_inputs_give_the_same_dataset() {
    let f = Fixture::new();
    f.items(20, &[]);
    let mut rows: Vec<Value> = (0..20)
        .map(|i| judgment(&format!("q{i}"), "x", "y", "A"))
        .collect();
    rows[3]["label"] = Value::Null;
    rows[5]["consistent"] = json!(false);
    f.write("j.jsonl", &rows);
    std::fs::write(f.path("j.json"), serde_json::to_string(&rows).unwrap()).unwrap();
    let c = f.config(&["j.jsonl"]);
    run(&c);
    let a = std::fs::read(c.out.join("train.jsonl")).unwrap();
    let c = f.config(&["j.json"]);
    run(&c);
    assert_eq!(std::fs::read(c.out.join("train.jsonl")).unwrap(), a);
}

#[test]
fn the_check_finds_broken_targets_and_leaks() {
    let f = Fixture::new();
    f.items(200, &[]);
    let rows: Vec<Value> = (0..200)
        .map(|i| judgment(&format!("q{i}"), "x", "y", "A"))
        .collect();
    f.write("j.jsonl", &rows);
    let mut c = f.config(&["j.jsonl"]);
    c.splits = SplitShares::DEFAULT;
    run(&c);
    assert_checks(&c.out);
    let train = c.out.join("train.jsonl");
    let text = std::fs::read_to_string(&train).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // A target that says the opposite of the label, and one with no verdict.
    lines[0] = lines[0].replace("\\n\\n[[A]]", "\\n\\n[[B]]");
    lines[2] = lines[2].replace("\\n\\n[[A]]", "");
    std::fs::write(&train, lines.join("\n") + "\n").unwrap();
    // A training example copied into test: an item and instruction leak, a repeated id.
    let test = c.out.join("test.jsonl");
    let mut t = std::fs::read_to_string(&test).unwrap();
    t.push_str(&lines[4]);
    t.push('\n');
    std::fs::write(&test, t).unwrap();
    let r = check(&c.out, &JudgeParsers).unwrap();
    assert!(!r.ok());
    assert_eq!(r.problems.label_mismatch, 1);
    assert_eq!(r.problems.unparseable_target, 1);
    assert_eq!(r.problems.item_leak, 1);
    assert_eq!(r.problems.instruction_leak, 1);
    assert_eq!(r.problems.duplicate_id, 1);
    assert!(
        r.listed
            .iter()
            .any(|p| p.location == "train.jsonl:1" && p.kind == "label_mismatch")
    );
}

#[test]
fn dropped_records_are_listed_with_reasons() {
    let f = Fixture::new();
    f.items(2, &[]);
    let mut bad = judgment("q0", "x", "y", "A");
    bad["label"] = Value::Null;
    f.write(
        "j.jsonl",
        &[
            bad,
            judgment("q1", "x", "y", "A"),
            judgment("zz", "x", "y", "A"),
        ],
    );
    let mut c = f.config(&["j.jsonl"]);
    c.dropped = Some(f.path("dropped.jsonl"));
    run(&c);
    let d = read(&f.path("dropped.jsonl"));
    let reasons: Vec<(&str, u64)> = d
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(reasons, [("unparseable", 1), ("missing_item", 3)]);
}

#[test]
fn errors_name_the_file_and_line() {
    let f = Fixture::new();
    f.items(1, &[]);
    std::fs::write(f.path("j.jsonl"), "{\"item\": \"q0\", \"annotator\": \"t\", \"label\": \"A\"}\n{\"item\": \"q0\", \"label\": \"A\"}\n").unwrap();
    let e = build(&f.config(&["j.jsonl"]), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("j.jsonl:2: field `annotator`: is required but missing"),
        "{e}"
    );
    // Nothing is left half-written.
    assert!(!f.path("out/train.jsonl").exists());
}
