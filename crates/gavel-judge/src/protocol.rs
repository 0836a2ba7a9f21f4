//! Judging protocols: which comparisons an item gives rise to, in which presentation orders and
//! how many samples, and how the verdicts of those calls become one [`Judgment`].
//!
//! - Pairwise: every pair of models in an item's `responses` (file order: the earlier model is
//!   `model_a`), or each model against a baseline (`model_a` is the model, `model_b` the
//!   baseline, as in AlpacaEval's win rate against a reference). With position switching (on by
//!   default) each pair is judged twice, `model_a` shown first (`AB`) and second (`BA`). A verdict
//!   names a response by where it was shown; it is mapped back to the record's frame before
//!   anything else, so every `orders` entry and the final `label` speak of `model_a`/`model_b`.
//!   Orders that disagree give `"tie"` and `consistent: false` (JudgeLM's rule for position bias).
//! - Two scores in one answer (JudgeLM): the scores are mapped back to the A/B frame, the higher
//!   one wins (equal scores tie), and the means over orders and samples are kept in `scores`.
//! - Pointwise (single-answer grading, optionally with a reference): one judgment per model, the
//!   label is the score (the mean over samples).
//! - Binary: `pass`/`fail` for one criterion, the majority over samples.
//! - Scores compared into pairs: a pointwise template run once per response; each pair's label
//!   compares the two mean scores. No position bias is possible, so `consistent` is `null`.
//!
//! With several samples per prompt, labels are decided by majority vote (a split vote between A
//! and B is a tie; an even pass/fail split has no label) and scores by the mean.
//!
//! The assembly functions ([`pairwise_judgment`], [`pointwise_judgment`],
//! [`scores_pair_judgment`]) take verdicts from anywhere: the HTTP runner uses them, and so can a
//! local trained judge, so that every judge writes the same records.

use gavel_core::{Item, Judgment, Label, LabelValue, OrderVerdict, Usage};
use serde_json::{Map, Value};

/// What a judge prompt asks for, and so how its answers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Two responses, one preference (A, B or tie).
    Pairwise,
    /// Two responses, one score each (JudgeLM).
    PairScores,
    /// One response, one score.
    Pointwise,
    /// One response, pass or fail.
    Binary,
}

impl Kind {
    /// Whether the prompt shows two responses.
    pub fn is_pairwise(self) -> bool {
        matches!(self, Kind::Pairwise | Kind::PairScores)
    }

    /// The `mode` written in judgments.
    pub fn mode(self) -> &'static str {
        match self {
            Kind::Pairwise | Kind::PairScores => "pairwise",
            Kind::Pointwise => "pointwise",
            Kind::Binary => "binary",
        }
    }
}

/// A verdict as the judge gave it: pairwise choices name responses by where they were shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The response shown first is better.
    First,
    /// The response shown second is better.
    Second,
    /// Neither is better.
    Tie,
    /// Scores of the response shown first and the one shown second.
    Scores(f64, f64),
    /// A score of a single response.
    Score(f64),
    /// Pass (`true`) or fail for one criterion.
    Pass(bool),
}

/// Which response was shown first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// `model_a` first.
    AB,
    /// `model_b` first.
    BA,
    /// A single response (pointwise and binary).
    Single,
}

impl Order {
    /// The name written in `orders` entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::AB => "AB",
            Order::BA => "BA",
            Order::Single => "single",
        }
    }
}

/// A verdict in the record's frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// `"A"`, `"B"` or `"tie"`.
    Choice(&'static str),
    /// Scores of `model_a` and `model_b`.
    PairScores(f64, f64),
    /// A single response's score.
    Score(f64),
    /// Pass or fail.
    Pass(bool),
}

impl Mapped {
    /// The label this verdict gives on its own.
    pub fn label(&self) -> LabelValue {
        match self {
            Mapped::Choice(c) => LabelValue::Category((*c).to_string()),
            Mapped::PairScores(a, b) => LabelValue::Category(compare(*a, *b).to_string()),
            Mapped::Score(s) => LabelValue::Number(*s),
            Mapped::Pass(p) => LabelValue::Category(pass_label(*p).to_string()),
        }
    }
}

fn pass_label(p: bool) -> &'static str {
    if p { "pass" } else { "fail" }
}

/// `"A"` when `a > b`, `"B"` when `b > a`, `"tie"` otherwise.
pub fn compare(a: f64, b: f64) -> &'static str {
    if a > b {
        "A"
    } else if b > a {
        "B"
    } else {
        "tie"
    }
}

/// Maps a verdict given for `order` into the record's frame.
pub fn map_verdict(verdict: &Verdict, order: Order) -> Mapped {
    let swapped = order == Order::BA;
    match verdict {
        Verdict::First => Mapped::Choice(if swapped { "B" } else { "A" }),
        Verdict::Second => Mapped::Choice(if swapped { "A" } else { "B" }),
        Verdict::Tie => Mapped::Choice("tie"),
        Verdict::Scores(first, second) => {
            if swapped {
                Mapped::PairScores(*second, *first)
            } else {
                Mapped::PairScores(*first, *second)
            }
        }
        Verdict::Score(s) => Mapped::Score(*s),
        Verdict::Pass(p) => Mapped::Pass(*p),
    }
}

/// One call's contribution to a judgment.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The presentation order.
    pub order: Order,
    /// The sample index (0 with one sample).
    pub sample: u32,
    /// The verdict in the record's frame, or why there is none: the parse error, or the call's
    /// failure when `failed` is set.
    pub verdict: Result<Mapped, String>,
    /// Whether the call itself failed (no answer after the last retry), as opposed to an answer
    /// that did not parse.
    pub failed: bool,
    /// The judge's raw output.
    pub raw: Option<String>,
    /// The judge's explanation, when the parser separated one.
    pub rationale: Option<String>,
    /// Further fields for the `orders` entry (`truncated`, `reasks`, `cached`...).
    pub extra: Map<String, Value>,
}

/// What every judgment of a run shares.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeInfo {
    /// `judge:<model>/<template>`.
    pub annotator: String,
    /// The template's name.
    pub template: String,
    /// The template text's SHA-256.
    pub template_sha256: Option<String>,
    /// The judge model, as requested.
    pub judge_model: String,
}

impl JudgeInfo {
    /// The usual annotator name for an LLM judge: `judge:<model>/<template>`.
    pub fn new(model: &str, template: &str, template_sha256: Option<String>) -> JudgeInfo {
        JudgeInfo {
            annotator: format!("judge:{model}/{template}"),
            template: template.to_string(),
            template_sha256,
            judge_model: model.to_string(),
        }
    }
}

/// Cost and provenance of the calls behind one judgment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallTotals {
    /// Token usage, summed (`None` when no call reported any).
    pub usage: Option<Usage>,
    /// Cost in US dollars, summed (`None` when the price is unknown).
    pub cost_usd: Option<f64>,
    /// Wall time of the calls sent over the network, summed, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Whether every call was answered from the cache.
    pub cached: Option<bool>,
    /// The model the endpoint reported, when it named one.
    pub reported_model: Option<String>,
    /// The endpoint's `system_fingerprint`, when it reported one.
    pub system_fingerprint: Option<String>,
}

fn base_judgment(
    info: &JudgeInfo,
    item: &str,
    kind: Kind,
    totals: &CallTotals,
    label: LabelValue,
) -> Judgment {
    Judgment {
        label: Label {
            item: item.to_string(),
            annotator: info.annotator.clone(),
            label,
            model_a: None,
            model_b: None,
            model: None,
            time: None,
            round: None,
            guideline_version: None,
            extra: match &totals.system_fingerprint {
                Some(f) => {
                    Map::from_iter([("system_fingerprint".to_string(), Value::from(f.clone()))])
                }
                None => Map::new(),
            },
        },
        mode: Some(kind.mode().to_string()),
        template: Some(info.template.clone()),
        template_sha256: info.template_sha256.clone(),
        judge_model: Some(
            totals
                .reported_model
                .clone()
                .unwrap_or_else(|| info.judge_model.clone()),
        ),
        orders: Vec::new(),
        consistent: None,
        score: None,
        scores: None,
        rationale: None,
        parse_error: None,
        usage: totals.usage,
        cost_usd: totals.cost_usd,
        latency_ms: totals.latency_ms,
        cached: totals.cached,
    }
}

fn order_entry(e: &Evidence, with_sample: bool) -> OrderVerdict {
    let mut extra = Map::new();
    if with_sample {
        extra.insert("sample".into(), Value::from(e.sample));
    }
    if let Ok(Mapped::PairScores(a, b)) = &e.verdict {
        extra.insert("scores".into(), Value::from(vec![*a, *b]));
    }
    if e.failed
        && let Err(msg) = &e.verdict
    {
        extra.insert("error".into(), Value::String(msg.clone()));
    }
    for (k, v) in &e.extra {
        extra.insert(k.clone(), v.clone());
    }
    OrderVerdict {
        order: e.order.as_str().to_string(),
        label: match &e.verdict {
            Ok(m) => m.label(),
            Err(_) => LabelValue::Missing,
        },
        raw: e.raw.clone(),
        parse_error: match &e.verdict {
            Err(msg) if !e.failed => Some(msg.clone()),
            _ => None,
        },
        extra,
    }
}

/// Why a judgment has no label: the failed calls' errors, else the parse errors, each with its
/// order and sample. Returns `(error, parse_error)`.
fn missing_reasons(evidence: &[&Evidence], with_sample: bool) -> (Option<String>, Option<String>) {
    let describe = |e: &Evidence, msg: &str| {
        let mut where_ = String::new();
        if e.order != Order::Single {
            where_.push_str("order ");
            where_.push_str(e.order.as_str());
        }
        if with_sample {
            if !where_.is_empty() {
                where_.push_str(", ");
            }
            where_.push_str(&format!("sample {}", e.sample));
        }
        if where_.is_empty() {
            msg.to_string()
        } else {
            format!("{where_}: {msg}")
        }
    };
    let failed: Vec<String> = evidence
        .iter()
        .filter(|e| e.failed)
        .filter_map(|e| e.verdict.as_ref().err().map(|m| describe(e, m)))
        .collect();
    let unparsed: Vec<String> = evidence
        .iter()
        .filter(|e| !e.failed)
        .filter_map(|e| e.verdict.as_ref().err().map(|m| describe(e, m)))
        .collect();
    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join("; "));
    (join(failed), join(unparsed))
}

/// The majority of pairwise choices; a split vote (no strict majority between A and B, or
/// `tie` most common) is a tie.
fn majority_choice(choices: &[&'static str]) -> &'static str {
    let count = |c: &str| choices.iter().filter(|&&x| x == c).count();
    let (a, b, t) = (count("A"), count("B"), count("tie"));
    if a > b && a > t {
        "A"
    } else if b > a && b > t {
        "B"
    } else {
        "tie"
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Builds the judgment of one pair from its calls' evidence (any orders and samples).
///
/// The label: each order's samples are combined first (majority vote, or for score pairs the
/// comparison of mean scores); equal orders give their label, different orders give `"tie"` and
/// `consistent: false`. Any failed call or unparsed answer leaves the label `null` (with `error`
/// or `parse_error` saying which order and sample), since a verdict from one order alone would
/// not be position-debiased.
pub fn pairwise_judgment(
    info: &JudgeInfo,
    item: &str,
    model_a: &str,
    model_b: &str,
    kind: Kind,
    evidence: &[Evidence],
    totals: &CallTotals,
) -> Judgment {
    let with_sample = evidence.iter().any(|e| e.sample > 0);
    let mut j = base_judgment(info, item, kind, totals, LabelValue::Missing);
    j.label.model_a = Some(model_a.to_string());
    j.label.model_b = Some(model_b.to_string());
    j.orders = evidence
        .iter()
        .map(|e| order_entry(e, with_sample))
        .collect();
    j.rationale = evidence.iter().find_map(|e| e.rationale.clone());

    let mut per_order: Vec<(Order, &'static str)> = Vec::new();
    let mut all_scores: Vec<(f64, f64)> = Vec::new();
    for order in [Order::AB, Order::BA, Order::Single] {
        let of_order: Vec<&Evidence> = evidence.iter().filter(|e| e.order == order).collect();
        if of_order.is_empty() {
            continue;
        }
        let mut choices = Vec::new();
        let mut scores = Vec::new();
        for e in &of_order {
            match &e.verdict {
                Ok(Mapped::Choice(c)) => choices.push(*c),
                Ok(Mapped::PairScores(a, b)) => scores.push((*a, *b)),
                _ => {}
            }
        }
        all_scores.extend(scores.iter().copied());
        let label = if !scores.is_empty() {
            let ma = mean(&scores.iter().map(|s| s.0).collect::<Vec<_>>()).unwrap_or(0.0);
            let mb = mean(&scores.iter().map(|s| s.1).collect::<Vec<_>>()).unwrap_or(0.0);
            compare(ma, mb)
        } else {
            majority_choice(&choices)
        };
        per_order.push((order, label));
    }
    if !all_scores.is_empty() {
        let ma = mean(&all_scores.iter().map(|s| s.0).collect::<Vec<_>>());
        let mb = mean(&all_scores.iter().map(|s| s.1).collect::<Vec<_>>());
        if let (Some(a), Some(b)) = (ma, mb) {
            j.scores = Some(vec![a, b]);
        }
    }
    let incomplete: Vec<&Evidence> = evidence.iter().filter(|e| e.verdict.is_err()).collect();
    if evidence.is_empty() || !incomplete.is_empty() {
        let (error, parse_error) = missing_reasons(&incomplete, with_sample);
        if let Some(e) = error {
            j.label.extra.insert("error".into(), Value::String(e));
        }
        j.parse_error = parse_error;
        if evidence.is_empty() {
            j.label
                .extra
                .insert("error".into(), Value::String("no call was made".into()));
        }
        return j;
    }
    let first = per_order.first().map(|p| p.1).unwrap_or("tie");
    let consistent = per_order.iter().all(|p| p.1 == first);
    if per_order.len() > 1 {
        j.consistent = Some(consistent);
    }
    let label = if consistent { first } else { "tie" };
    j.label.label = LabelValue::Category(label.to_string());
    j
}

/// Builds the judgment of one response (pointwise score or binary pass/fail) from its samples.
pub fn pointwise_judgment(
    info: &JudgeInfo,
    item: &str,
    model: &str,
    kind: Kind,
    evidence: &[Evidence],
    totals: &CallTotals,
) -> Judgment {
    let with_sample = evidence.iter().any(|e| e.sample > 0);
    let mut j = base_judgment(info, item, kind, totals, LabelValue::Missing);
    j.label.model = Some(model.to_string());
    j.orders = evidence
        .iter()
        .map(|e| order_entry(e, with_sample))
        .collect();
    j.rationale = evidence.iter().find_map(|e| e.rationale.clone());
    let incomplete: Vec<&Evidence> = evidence.iter().filter(|e| e.verdict.is_err()).collect();
    if evidence.is_empty() || !incomplete.is_empty() {
        let (error, parse_error) = missing_reasons(&incomplete, with_sample);
        if let Some(e) = error {
            j.label.extra.insert("error".into(), Value::String(e));
        }
        j.parse_error = parse_error;
        return j;
    }
    let scores: Vec<f64> = evidence
        .iter()
        .filter_map(|e| match &e.verdict {
            Ok(Mapped::Score(s)) => Some(*s),
            _ => None,
        })
        .collect();
    let passes: Vec<bool> = evidence
        .iter()
        .filter_map(|e| match &e.verdict {
            Ok(Mapped::Pass(p)) => Some(*p),
            _ => None,
        })
        .collect();
    if let Some(m) = mean(&scores) {
        j.score = Some(m);
        j.label.label = LabelValue::Number(m);
    } else if !passes.is_empty() {
        let yes = passes.iter().filter(|&&p| p).count();
        let no = passes.len() - yes;
        if yes == no {
            j.parse_error = Some(format!(
                "the samples split evenly ({yes} pass, {no} fail); use an odd number of samples"
            ));
        } else {
            j.label.label = LabelValue::Category(pass_label(yes > no).to_string());
            j.score = Some(yes as f64 / passes.len() as f64);
        }
    } else {
        j.parse_error = Some("the verdicts are not single-response verdicts".into());
    }
    j
}

/// Compares two pointwise judgments of the same item into a pairwise one: the higher score
/// wins, equal scores tie; `scores` keeps both. Either side without a score gives `label: null`.
pub fn scores_pair_judgment(
    info: &JudgeInfo,
    a: &Judgment,
    b: &Judgment,
    model_a: &str,
    model_b: &str,
) -> Judgment {
    let totals = CallTotals {
        usage: match (a.usage, b.usage) {
            (Some(x), Some(y)) => Some(Usage {
                prompt_tokens: x.prompt_tokens + y.prompt_tokens,
                completion_tokens: x.completion_tokens + y.completion_tokens,
            }),
            (x, y) => x.or(y),
        },
        cost_usd: match (a.cost_usd, b.cost_usd) {
            (Some(x), Some(y)) => Some(x + y),
            _ => None,
        },
        latency_ms: match (a.latency_ms, b.latency_ms) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        },
        cached: match (a.cached, b.cached) {
            (Some(x), Some(y)) => Some(x && y),
            _ => None,
        },
        reported_model: a.judge_model.clone(),
        system_fingerprint: a
            .label
            .extra
            .get("system_fingerprint")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let mut j = base_judgment(
        info,
        &a.label.item,
        Kind::Pairwise,
        &totals,
        LabelValue::Missing,
    );
    j.mode = Some("pairwise".into());
    j.label.model_a = Some(model_a.to_string());
    j.label.model_b = Some(model_b.to_string());
    j.label
        .extra
        .insert("compared".into(), Value::String("scores".into()));
    match (a.score, b.score) {
        (Some(x), Some(y)) => {
            j.scores = Some(vec![x, y]);
            j.label.label = LabelValue::Category(compare(x, y).to_string());
        }
        _ => {
            let mut why = Vec::new();
            for (name, side) in [(model_a, a), (model_b, b)] {
                if side.score.is_none() {
                    let reason = side
                        .label
                        .extra
                        .get("error")
                        .and_then(Value::as_str)
                        .or(side.parse_error.as_deref())
                        .unwrap_or("no score");
                    why.push(format!("{name}: {reason}"));
                }
            }
            j.parse_error = Some(why.join("; "));
        }
    }
    j
}

/// One comparison or single-response judgment an item gives rise to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// Two models' responses.
    Pair {
        /// `model_a`.
        a: String,
        /// `model_b`.
        b: String,
    },
    /// One model's response.
    Single {
        /// The model.
        model: String,
    },
}

/// How pairs are formed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pairing {
    /// Every pair of models, in file order.
    #[default]
    AllPairs,
    /// Each other model against this one (`model_b`).
    Baseline(String),
}

/// Why an item gives no unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// Fewer than two responses for a pairwise template.
    #[error("fewer than two responses")]
    TooFewResponses,
    /// The baseline model has no response in the item.
    #[error("no response from the baseline `{0}`")]
    NoBaseline(String),
    /// No responses at all.
    #[error("no responses")]
    NoResponses,
    /// The prompt needs a reference answer and the item has none.
    #[error("no reference answer")]
    NoReference,
    /// The prompt needs a field (a rubric, a criterion) that neither the item nor the run gives.
    #[error("no value for the field `{0}`")]
    MissingField(String),
}

impl SkipReason {
    /// A short stable name, for counts in summaries.
    pub fn key(&self) -> &'static str {
        match self {
            SkipReason::TooFewResponses => "fewer_than_two_responses",
            SkipReason::NoBaseline(_) => "no_baseline_response",
            SkipReason::NoResponses => "no_responses",
            SkipReason::NoReference => "no_reference",
            SkipReason::MissingField(_) => "missing_field",
        }
    }
}

/// The pairs of an item.
pub fn pairs(item: &Item, pairing: &Pairing) -> Result<Vec<(String, String)>, SkipReason> {
    let models: Vec<&str> = item.models().collect();
    match pairing {
        Pairing::AllPairs => {
            if models.len() < 2 {
                return Err(SkipReason::TooFewResponses);
            }
            let mut out = Vec::with_capacity(models.len() * (models.len() - 1) / 2);
            for (i, a) in models.iter().enumerate() {
                for b in &models[i + 1..] {
                    out.push(((*a).to_string(), (*b).to_string()));
                }
            }
            Ok(out)
        }
        Pairing::Baseline(base) => {
            if !models.contains(&base.as_str()) {
                return Err(SkipReason::NoBaseline(base.clone()));
            }
            let out: Vec<(String, String)> = models
                .iter()
                .filter(|m| **m != base.as_str())
                .map(|m| ((*m).to_string(), base.clone()))
                .collect();
            if out.is_empty() {
                return Err(SkipReason::TooFewResponses);
            }
            Ok(out)
        }
    }
}

/// The units of an item for a prompt kind (pairs for pairwise kinds, each response otherwise).
pub fn units(item: &Item, kind: Kind, pairing: &Pairing) -> Result<Vec<Unit>, SkipReason> {
    if kind.is_pairwise() {
        Ok(pairs(item, pairing)?
            .into_iter()
            .map(|(a, b)| Unit::Pair { a, b })
            .collect())
    } else {
        let out: Vec<Unit> = item
            .models()
            .map(|m| Unit::Single {
                model: m.to_string(),
            })
            .collect();
        if out.is_empty() {
            Err(SkipReason::NoResponses)
        } else {
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> JudgeInfo {
        JudgeInfo::new("gpt-x", "mt-bench-pair", Some("abc".into()))
    }

    fn ev(order: Order, sample: u32, v: Verdict) -> Evidence {
        Evidence {
            order,
            sample,
            verdict: Ok(map_verdict(&v, order)),
            failed: false,
            raw: Some(format!("{v:?}")),
            rationale: None,
            extra: Map::new(),
        }
    }

    fn unparsed(order: Order, sample: u32) -> Evidence {
        Evidence {
            order,
            sample,
            verdict: Err("no verdict found".into()),
            failed: false,
            raw: Some("hmm".into()),
            rationale: None,
            extra: Map::new(),
        }
    }

    fn label(j: &Judgment) -> String {
        j.label.label.to_string()
    }

    #[test]
    fn swapped_verdicts_map_back_to_the_record_frame() {
        // The judge prefers model_a's response wherever it is shown.
        let e = [
            ev(Order::AB, 0, Verdict::First),
            ev(Order::BA, 0, Verdict::Second),
        ];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(label(&j), "A");
        assert_eq!(j.consistent, Some(true));
        assert_eq!(j.orders[1].order, "BA");
        assert_eq!(j.orders[1].label, LabelValue::Category("A".into()));
        assert_eq!(j.label.model_a.as_deref(), Some("x"));
        assert_eq!(j.label.annotator, "judge:gpt-x/mt-bench-pair");
    }

    #[test]
    fn position_bias_becomes_an_inconsistent_tie() {
        // The judge always picks whatever is shown first.
        let e = [
            ev(Order::AB, 0, Verdict::First),
            ev(Order::BA, 0, Verdict::First),
        ];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(label(&j), "tie");
        assert_eq!(j.consistent, Some(false));
        assert_eq!(j.orders[0].label, LabelValue::Category("A".into()));
        assert_eq!(j.orders[1].label, LabelValue::Category("B".into()));
    }

    #[test]
    fn one_order_alone_has_no_consistency() {
        let e = [ev(Order::AB, 0, Verdict::Second)];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(label(&j), "B");
        assert_eq!(j.consistent, None);
    }

    #[test]
    fn unparsed_orders_keep_the_judgment_with_a_null_label() {
        let e = [ev(Order::AB, 0, Verdict::First), unparsed(Order::BA, 0)];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(j.label.label, LabelValue::Missing);
        assert_eq!(j.parse_error.as_deref(), Some("order BA: no verdict found"));
        assert_eq!(j.orders[1].parse_error.as_deref(), Some("no verdict found"));
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["label"], Value::Null);
    }

    #[test]
    fn failed_calls_say_so() {
        let mut f = unparsed(Order::AB, 0);
        f.failed = true;
        f.verdict = Err("server answered HTTP 500 (after 7 attempts)".into());
        f.raw = None;
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &[f],
            &CallTotals::default(),
        );
        assert_eq!(j.label.label, LabelValue::Missing);
        assert_eq!(j.parse_error, None);
        assert!(
            j.label.extra["error"]
                .as_str()
                .unwrap()
                .contains("HTTP 500")
        );
        assert!(
            j.orders[0].extra["error"]
                .as_str()
                .unwrap()
                .contains("HTTP 500")
        );
    }

    #[test]
    fn samples_vote_within_each_order() {
        let e = [
            ev(Order::AB, 0, Verdict::First),
            ev(Order::AB, 1, Verdict::First),
            ev(Order::AB, 2, Verdict::Tie),
            ev(Order::BA, 0, Verdict::Second),
            ev(Order::BA, 1, Verdict::First),
            ev(Order::BA, 2, Verdict::Second),
        ];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::Pairwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(label(&j), "A");
        assert_eq!(j.consistent, Some(true));
        assert_eq!(j.orders[4].extra["sample"], 1);
        assert_eq!(majority_choice(&["A", "B"]), "tie");
        assert_eq!(majority_choice(&["A", "tie"]), "tie");
        assert_eq!(majority_choice(&["B", "B", "A"]), "B");
    }

    #[test]
    fn judgelm_scores_are_mapped_and_compared() {
        // AB: x=8, y=6. BA (y shown first): y=5, x=9.
        let e = [
            ev(Order::AB, 0, Verdict::Scores(8.0, 6.0)),
            ev(Order::BA, 0, Verdict::Scores(5.0, 9.0)),
        ];
        let j = pairwise_judgment(
            &info(),
            "q",
            "x",
            "y",
            Kind::PairScores,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(label(&j), "A");
        assert_eq!(j.scores, Some(vec![8.5, 5.5]));
        assert_eq!(j.orders[1].extra["scores"], serde_json::json!([9.0, 5.0]));
        assert_eq!(j.consistent, Some(true));
    }

    #[test]
    fn pointwise_means_and_binary_majorities() {
        let e = [
            ev(Order::Single, 0, Verdict::Score(7.0)),
            ev(Order::Single, 1, Verdict::Score(8.0)),
        ];
        let j = pointwise_judgment(
            &info(),
            "q",
            "x",
            Kind::Pointwise,
            &e,
            &CallTotals::default(),
        );
        assert_eq!(j.label.label, LabelValue::Number(7.5));
        assert_eq!(j.score, Some(7.5));
        assert_eq!(j.label.model.as_deref(), Some("x"));
        assert_eq!(j.mode.as_deref(), Some("pointwise"));
        let e = [
            ev(Order::Single, 0, Verdict::Pass(true)),
            ev(Order::Single, 1, Verdict::Pass(false)),
            ev(Order::Single, 2, Verdict::Pass(true)),
        ];
        let j = pointwise_judgment(&info(), "q", "x", Kind::Binary, &e, &CallTotals::default());
        assert_eq!(label(&j), "pass");
        let e = [
            ev(Order::Single, 0, Verdict::Pass(true)),
            ev(Order::Single, 1, Verdict::Pass(false)),
        ];
        let j = pointwise_judgment(&info(), "q", "x", Kind::Binary, &e, &CallTotals::default());
        assert_eq!(j.label.label, LabelValue::Missing);
        assert!(j.parse_error.unwrap().contains("split evenly"));
    }

    #[test]
    fn scores_compare_into_pairs() {
        let one = |m: &str, s: f64| {
            pointwise_judgment(
                &info(),
                "q",
                m,
                Kind::Pointwise,
                &[ev(Order::Single, 0, Verdict::Score(s))],
                &CallTotals::default(),
            )
        };
        let j = scores_pair_judgment(&info(), &one("x", 3.0), &one("y", 9.0), "x", "y");
        assert_eq!(label(&j), "B");
        assert_eq!(j.scores, Some(vec![3.0, 9.0]));
        assert_eq!(j.consistent, None);
        let bad = pointwise_judgment(
            &info(),
            "q",
            "y",
            Kind::Pointwise,
            &[unparsed(Order::Single, 0)],
            &CallTotals::default(),
        );
        let j = scores_pair_judgment(&info(), &one("x", 3.0), &bad, "x", "y");
        assert_eq!(j.label.label, LabelValue::Missing);
        assert_eq!(j.parse_error.as_deref(), Some("y: no verdict found"));
    }

    fn item(models: &[&str]) -> Item {
        let mut responses = Map::new();
        for m in models {
            responses.insert((*m).to_string(), Value::String(format!("answer of {m}")));
        }
        let text =
            serde_json::json!({"id": "q", "instruction": "i", "responses": responses}).to_string();
        gavel_core::RecordReader::from_reader(
            "t",
            gavel_core::Format::Jsonl,
            Box::new(std::io::Cursor::new(text.into_bytes())),
        )
        .unwrap()
        .typed::<Item>()
        .next()
        .unwrap()
        .unwrap()
    }

    #[test]
    fn pairs_cover_every_pair_or_the_baseline() {
        let it = item(&["x", "y", "z"]);
        assert_eq!(
            pairs(&it, &Pairing::AllPairs).unwrap(),
            vec![
                ("x".to_string(), "y".to_string()),
                ("x".to_string(), "z".to_string()),
                ("y".to_string(), "z".to_string())
            ]
        );
        assert_eq!(
            pairs(&it, &Pairing::Baseline("y".into())).unwrap(),
            vec![
                ("x".to_string(), "y".to_string()),
                ("z".to_string(), "y".to_string())
            ]
        );
        assert_eq!(
            pairs(&it, &Pairing::Baseline("w".into())),
            Err(SkipReason::NoBaseline("w".into()))
        );
        assert_eq!(
            pairs(&item(&["x"]), &Pairing::AllPairs),
            Err(SkipReason::TooFewResponses)
        );
        assert_eq!(
            units(&it, Kind::Pointwise, &Pairing::AllPairs)
                .unwrap()
                .len(),
            3
        );
    }
}
