//! `gavel judge --judge local:DIR`: a judge trained by `gavel train`, run on this machine.
//!
//! It writes the same Judgment records as an LLM judge, assembled by the same protocol
//! functions. A pairwise (reward-model) judge scores each response once; a pair's label
//! compares the two scores with the judge's calibrated tie band, and `scores` keeps both. It
//! sees one response at a time, so it has no presentation order: `orders` is empty and
//! `consistent` is null. A pair classifier sees both responses and is run in both orders
//! (unless `--no-swap`), like an LLM judge. A pointwise judge writes one judgment per response.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use gavel_core::{Item, Judgment, LabelValue, RecordReader, RecordWriter};
use gavel_judge::protocol::{
    self, CallTotals, Evidence, JudgeInfo, Kind, Mapped, Order, Pairing, Verdict,
};
use gavel_train::local::LocalJudge;
use gavel_train::objective::Objective;
use serde_json::{Map, Value, json};

use crate::output::{self, OutputFormat, Table};
use crate::{GlobalArgs, Outcome};

/// What `gavel judge` passes to a local judge.
pub struct LocalOptions<'a> {
    /// The judge directory.
    pub dir: &'a Path,
    /// Items to judge.
    pub data: &'a Path,
    /// Output path (JSONL to stdout without it).
    pub out: Option<&'a Path>,
    /// Pairs: all, or each against a baseline.
    pub pairing: Pairing,
    /// Both orders (the pair classifier).
    pub swap: bool,
    /// Pointwise regressors: compare the scores into pairwise judgments.
    pub compare_scores: bool,
    /// Inputs per forward pass.
    pub batch_size: usize,
    /// Summary format.
    pub format: OutputFormat,
}

/// Runs a local judge over the items.
pub fn run(o: LocalOptions<'_>, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    crate::allocator::keep_freed_memory();
    let started = Instant::now();
    let mut judge = LocalJudge::load(o.dir)
        .with_context(|| format!("cannot load the judge in {}", o.dir.display()))?;
    judge.batch_size = o.batch_size.max(1);
    let spec = judge.spec().clone();
    let name = judge.name();
    let info = JudgeInfo {
        annotator: format!("judge:local/{name}"),
        template: format!("local:{}", spec.objective.as_str()),
        template_sha256: Some(fingerprint(o.dir)?),
        judge_model: name.clone(),
    };
    let items: Vec<Item> = RecordReader::open(o.data)?
        .typed::<Item>()
        .collect::<Result<_, _>>()?;
    let loaded_s = started.elapsed().as_secs_f64();
    let bar = crate::progress::spinner("judging", global.quiet);
    let judging = Instant::now();
    let (judgments, skipped) = match spec.objective {
        Objective::Pairwise => score_pairs(&judge, &info, &items, &o.pairing)?,
        Objective::PairClassifier => classify_pairs(&judge, &info, &items, &o.pairing, o.swap)?,
        Objective::Pointwise => pointwise(&judge, &info, &items, &o.pairing, o.compare_scores)?,
    };
    let judge_s = judging.elapsed().as_secs_f64();
    bar.finish_and_clear();
    match o.out {
        Some(path) => {
            let mut w = RecordWriter::create(path)?;
            for j in &judgments {
                w.write(j)?;
            }
            w.finish()?;
        }
        None => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            for j in &judgments {
                serde_json::to_writer(&mut out, j)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    let labelled = judgments
        .iter()
        .filter(|j| !j.label.label.is_missing())
        .count();
    let mut labels: HashMap<String, usize> = HashMap::new();
    for j in &judgments {
        if let Some(k) = j.label.label.category_key()
            && j.label.model_a.is_some()
        {
            *labels.entry(k).or_default() += 1;
        }
    }
    let per_s = judgments.len() as f64 / judge_s.max(1e-9);
    let summary = json!({
        "judge": format!("local:{}", o.dir.display()),
        "objective": spec.objective.as_str(),
        "items": items.len(),
        "judgments": judgments.len(),
        "labelled": labelled,
        "skipped": skipped,
        "labels": labels,
        "tie_band": spec.tie_band,
        "load_seconds": loaded_s,
        "judge_seconds": judge_s,
        "judgments_per_second": per_s,
        "out": o.out.map(|p| p.display().to_string()),
    });
    if o.format == OutputFormat::Json {
        output::print_json(&summary)?;
    } else if !global.quiet {
        let mut t = Table::new(["", ""]);
        t.row([
            "judge".to_string(),
            format!("{} ({})", name, judge.describe()),
        ]);
        t.row([
            "judgments".to_string(),
            format!(
                "{} from {} items ({} skipped)",
                judgments.len(),
                items.len(),
                skipped
            ),
        ]);
        if !labels.is_empty() {
            let mut l: Vec<(String, usize)> = labels.into_iter().collect();
            l.sort();
            t.row([
                "labels".to_string(),
                l.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        t.row([
            "time".to_string(),
            format!("{judge_s:.2} s ({per_s:.0} judgments/s), {loaded_s:.2} s loading"),
        ]);
        if let Some(p) = o.out {
            t.row(["written".to_string(), p.display().to_string()]);
        }
        eprint!("{}", t.render());
    }
    Ok(Outcome::Success)
}

/// SHA-256 of the judge's weights and description, so that a changed judge is visible in its
/// judgments (the `template_sha256` of an LLM judge plays the same part).
fn fingerprint(dir: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in [
        gavel_train::spec::FILE,
        "model.safetensors",
        "pytorch_model.bin",
    ] {
        let p: PathBuf = dir.join(f);
        if p.is_file() {
            let mut file = std::fs::File::open(&p)?;
            std::io::copy(&mut file, &mut h)?;
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn context(item: &Item) -> String {
    gavel_train::data::context(&item.instruction, item.input.as_deref())
}

fn response(item: &Item, model: &str) -> String {
    item.response(model)
        .map(|c| c.last().to_string())
        .unwrap_or_default()
}

/// Pairs of each item (or the reason the item is skipped).
fn item_pairs(items: &[Item], pairing: &Pairing) -> (Vec<(usize, String, String)>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, item) in items.iter().enumerate() {
        match protocol::pairs(item, pairing) {
            Ok(p) => out.extend(p.into_iter().map(|(a, b)| (i, a, b))),
            Err(_) => skipped += 1,
        }
    }
    (out, skipped)
}

fn score_pairs(
    judge: &LocalJudge,
    info: &JudgeInfo,
    items: &[Item],
    pairing: &Pairing,
) -> anyhow::Result<(Vec<Judgment>, usize)> {
    let (pairs, skipped) = item_pairs(items, pairing);
    // Each response once, whatever the number of pairs it is in.
    let mut index: HashMap<(usize, String), usize> = HashMap::new();
    let mut inputs: Vec<(String, String)> = Vec::new();
    for (i, a, b) in &pairs {
        for m in [a, b] {
            index.entry((*i, m.clone())).or_insert_with(|| {
                inputs.push((context(&items[*i]), response(&items[*i], m)));
                inputs.len() - 1
            });
        }
    }
    let refs: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(c, r)| (c.as_str(), r.as_str()))
        .collect();
    let scores = judge.scores(&refs)?;
    let band = judge.spec().tie_band.unwrap_or(0.0);
    let mut out = Vec::with_capacity(pairs.len());
    for (i, a, b) in pairs {
        let sa = scores[index[&(i, a.clone())]];
        let sb = scores[index[&(i, b.clone())]];
        let pref = judge.decide(sa - sb);
        let evidence = Evidence {
            order: Order::Single,
            sample: 0,
            verdict: Ok(Mapped::Choice(pref.as_str())),
            failed: false,
            raw: None,
            rationale: None,
            extra: Map::new(),
        };
        let mut j = protocol::pairwise_judgment(
            info,
            &items[i].id,
            &a,
            &b,
            Kind::Pairwise,
            &[evidence],
            &CallTotals::default(),
        );
        // No presentation order: the judge read each response alone.
        j.orders.clear();
        j.consistent = None;
        j.scores = Some(vec![sa, sb]);
        j.label.extra.insert("tie_band".into(), json!(band));
        if let Some((pa, pb, pt)) = judge.davidson(sa - sb) {
            j.label
                .extra
                .insert("probabilities".into(), json!({"A": pa, "B": pb, "tie": pt}));
        }
        out.push(j);
    }
    Ok((out, skipped))
}

fn classify_pairs(
    judge: &LocalJudge,
    info: &JudgeInfo,
    items: &[Item],
    pairing: &Pairing,
    swap: bool,
) -> anyhow::Result<(Vec<Judgment>, usize)> {
    let (pairs, skipped) = item_pairs(items, pairing);
    let orders: &[Order] = if swap {
        &[Order::AB, Order::BA]
    } else {
        &[Order::AB]
    };
    let mut inputs: Vec<(String, String, String)> = Vec::new();
    for (i, a, b) in &pairs {
        let (ra, rb) = (response(&items[*i], a), response(&items[*i], b));
        for o in orders {
            let (first, second) = if *o == Order::AB {
                (ra.clone(), rb.clone())
            } else {
                (rb.clone(), ra.clone())
            };
            inputs.push((context(&items[*i]), first, second));
        }
    }
    let refs: Vec<(&str, &str, &str)> = inputs
        .iter()
        .map(|(c, a, b)| (c.as_str(), a.as_str(), b.as_str()))
        .collect();
    let probs = judge.pair_probs(&refs)?;
    let mut out = Vec::with_capacity(pairs.len());
    let mut k = 0;
    for (i, a, b) in pairs {
        let mut evidence = Vec::new();
        let mut p_a = 0.0;
        let mut p_b = 0.0;
        for &o in orders {
            let p = probs[k];
            k += 1;
            let verdict = match argmax3(p) {
                0 => Verdict::First,
                1 => Verdict::Second,
                _ => Verdict::Tie,
            };
            // Probabilities in the record's frame.
            let (pa, pb) = if o == Order::AB {
                (p[0], p[1])
            } else {
                (p[1], p[0])
            };
            p_a += pa / orders.len() as f64;
            p_b += pb / orders.len() as f64;
            let mut extra = Map::new();
            extra.insert(
                "probabilities".into(),
                json!({"A": pa, "B": pb, "tie": p[2]}),
            );
            evidence.push(Evidence {
                order: o,
                sample: 0,
                verdict: Ok(protocol::map_verdict(&verdict, o)),
                failed: false,
                raw: None,
                rationale: None,
                extra,
            });
        }
        let mut j = protocol::pairwise_judgment(
            info,
            &items[i].id,
            &a,
            &b,
            Kind::Pairwise,
            &evidence,
            &CallTotals::default(),
        );
        j.scores = Some(vec![p_a, p_b]);
        out.push(j);
    }
    Ok((out, skipped))
}

fn argmax3(p: [f64; 3]) -> usize {
    let mut best = 0;
    for i in 1..3 {
        if p[i] > p[best] {
            best = i;
        }
    }
    best
}

fn pointwise(
    judge: &LocalJudge,
    info: &JudgeInfo,
    items: &[Item],
    pairing: &Pairing,
    compare_scores: bool,
) -> anyhow::Result<(Vec<Judgment>, usize)> {
    let spec = judge.spec();
    let regression = spec.classes.is_empty();
    if compare_scores && !regression {
        anyhow::bail!(
            "--compare-scores needs a judge that gives scores; this one classifies ({})",
            spec.classes.join(", ")
        );
    }
    let mut units: Vec<(usize, String)> = Vec::new();
    let mut skipped = 0;
    for (i, item) in items.iter().enumerate() {
        let models: Vec<&str> = item.models().collect();
        if models.is_empty() {
            skipped += 1;
        }
        units.extend(models.into_iter().map(|m| (i, m.to_string())));
    }
    let inputs: Vec<(String, String)> = units
        .iter()
        .map(|(i, m)| (context(&items[*i]), response(&items[*i], m)))
        .collect();
    let refs: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(c, r)| (c.as_str(), r.as_str()))
        .collect();
    let mut singles = Vec::with_capacity(units.len());
    if regression {
        let scores = judge.scores(&refs)?;
        for ((i, m), s) in units.iter().zip(scores) {
            let e = Evidence {
                order: Order::Single,
                sample: 0,
                verdict: Ok(Mapped::Score(s)),
                failed: false,
                raw: None,
                rationale: None,
                extra: Map::new(),
            };
            let mut j = protocol::pointwise_judgment(
                info,
                &items[*i].id,
                m,
                Kind::Pointwise,
                &[e],
                &CallTotals::default(),
            );
            j.orders.clear();
            singles.push(j);
        }
    } else {
        let probs = judge.class_probs(&refs)?;
        for ((i, m), p) in units.iter().zip(probs) {
            let best = p
                .iter()
                .enumerate()
                .fold(0, |b, (k, x)| if *x > p[b] { k } else { b });
            let class = spec.classes[best].clone();
            let mut j = protocol::pointwise_judgment(
                info,
                &items[*i].id,
                m,
                Kind::Pointwise,
                &[Evidence {
                    order: Order::Single,
                    sample: 0,
                    verdict: Ok(Mapped::Score(0.0)),
                    failed: false,
                    raw: None,
                    rationale: None,
                    extra: Map::new(),
                }],
                &CallTotals::default(),
            );
            j.orders.clear();
            j.mode = Some("pointwise".into());
            // A class label (a number when the class is one, as the labels were).
            j.label.label = match class.parse::<f64>() {
                Ok(x) if x.is_finite() => LabelValue::Number(x),
                _ => LabelValue::Category(class.clone()),
            };
            j.score = Some(p[best]);
            let probs: Map<String, Value> = spec
                .classes
                .iter()
                .zip(&p)
                .map(|(c, x)| (c.clone(), json!(x)))
                .collect();
            j.label
                .extra
                .insert("probabilities".into(), Value::Object(probs));
            singles.push(j);
        }
    }
    if !compare_scores {
        return Ok((singles, skipped));
    }
    let (pairs, skipped) = item_pairs(items, pairing);
    let by_unit: HashMap<(usize, &str), &Judgment> = units
        .iter()
        .zip(&singles)
        .map(|((i, m), j)| ((*i, m.as_str()), j))
        .collect();
    let mut out = Vec::with_capacity(pairs.len());
    for (i, a, b) in pairs {
        if let (Some(ja), Some(jb)) = (by_unit.get(&(i, a.as_str())), by_unit.get(&(i, b.as_str())))
        {
            out.push(protocol::scores_pair_judgment(info, ja, jb, &a, &b));
        }
    }
    Ok((out, skipped))
}
