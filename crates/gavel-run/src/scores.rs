//! Metric documents in the `gavel metrics` JSON shape (CONTRACT.md), computed with
//! gavel-metrics: corpus figures for a model's responses, and one sentence-level figure for the
//! metric judge.

use gavel_metrics::NumRefs;
use gavel_metrics::bleu::{Bleu, BleuOptions, BleuScore};
use gavel_metrics::chrf::{Chrf, ChrfOptions};
use gavel_metrics::rouge::{RougeOptions, RougeScore, RougeScorer, RougeTokenizer, RougeType};
use gavel_metrics::squad;
use gavel_metrics::ter::{Ter, TerOptions, TerScore};
use serde_json::{Map, Value, json};

/// Options shared by the metrics.
#[derive(Debug, Clone, Default)]
pub struct MetricsOptions {
    /// ROUGE: stem with rouge-score's Porter stemmer.
    pub stemmer: bool,
    /// ROUGE: the Unicode-aware tokenizer instead of rouge-score's ASCII one.
    pub unicode: bool,
}

impl MetricsOptions {
    fn rouge(&self) -> RougeOptions {
        RougeOptions {
            use_stemmer: self.stemmer,
            tokenizer: if self.unicode {
                RougeTokenizer::Unicode
            } else {
                RougeTokenizer::Default
            },
            split_summaries: false,
        }
    }
}

/// A hypothesis with its references.
#[derive(Debug, Clone)]
pub struct PairRef<'a> {
    /// The hypothesis (a model's response).
    pub hypothesis: &'a str,
    /// The references.
    pub references: Vec<&'a str>,
}

/// Whether a lower value of the metric is better (TER, an edit rate); higher is better for
/// every other metric.
pub fn lower_is_better(name: &str) -> bool {
    name == "ter"
}

/// A metric the run cannot compute.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown metric `{0}`")]
pub struct UnknownMetric(pub String);

fn rouge_json(s: RougeScore) -> Value {
    json!({"precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure})
}

/// The corpus document of `pairs` for the named metrics, e.g. `{"n": 30, "rougeL":
/// {"precision", "recall", "fmeasure"}, "token_f1": {"score"}}`.
pub fn corpus(
    pairs: &[PairRef<'_>],
    names: &[String],
    options: &MetricsOptions,
) -> Result<Value, UnknownMetric> {
    let mut doc = Map::new();
    doc.insert("n".into(), json!(pairs.len()));
    let n = pairs.len().max(1) as f64;
    for name in names {
        let value = match name.as_str() {
            "bleu" | "chrf" | "chrf++" | "ter" => sacrebleu_corpus(name, pairs)?,
            "exact_match" | "token_f1" => {
                let f = if name == "exact_match" {
                    squad::exact_match
                } else {
                    squad::token_f1
                };
                let sum: f64 = pairs.iter().map(|p| f(p.hypothesis, &p.references)).sum();
                json!({"score": 100.0 * sum / n})
            }
            other => {
                let t: RougeType = other.parse().map_err(|_| UnknownMetric(other.into()))?;
                let scorer = RougeScorer::new(&[t], options.rouge());
                let mut total = RougeScore::default();
                for p in pairs {
                    let s = scorer.score_multi(&p.references, p.hypothesis)[0];
                    total.precision += s.precision;
                    total.recall += s.recall;
                    total.fmeasure += s.fmeasure;
                }
                rouge_json(RougeScore {
                    precision: total.precision / n,
                    recall: total.recall / n,
                    fmeasure: total.fmeasure / n,
                })
            }
        };
        doc.insert(name.clone(), value);
    }
    Ok(Value::Object(doc))
}

/// One sentence-level figure of a hypothesis against its references, on the metric's own scale
/// (ROUGE F-measure 0-1; the others as `gavel metrics --per-item` writes them).
pub fn sentence(
    name: &str,
    hypothesis: &str,
    references: &[&str],
    options: &MetricsOptions,
) -> Result<f64, UnknownMetric> {
    match name {
        "bleu" | "chrf" | "chrf++" | "ter" => sacrebleu_sentence(name, hypothesis, references),
        "exact_match" => Ok(100.0 * squad::exact_match(hypothesis, references)),
        "token_f1" => Ok(100.0 * squad::token_f1(hypothesis, references)),
        other => {
            let t: RougeType = other.parse().map_err(|_| UnknownMetric(other.into()))?;
            let scorer = RougeScorer::new(&[t], options.rouge());
            Ok(scorer.score_multi(references, hypothesis)[0].fmeasure)
        }
    }
}

/// A JSON number, or null for a value that is not finite (never NaN in a document).
pub fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Corpus BLEU, chrF, chrF++ or TER with sacrebleu's default options, in the `gavel metrics`
/// JSON shape (score, parts and signature).
fn sacrebleu_corpus(name: &str, pairs: &[PairRef<'_>]) -> Result<Value, UnknownMetric> {
    let hyps: Vec<&str> = pairs.iter().map(|p| p.hypothesis).collect();
    let refs: Vec<&[&str]> = pairs.iter().map(|p| p.references.as_slice()).collect();
    let nrefs = NumRefs::of_counts(refs.iter().map(|r| r.len()));
    Ok(match name {
        "bleu" => {
            let bleu = Bleu::new(BleuOptions::default()).expect("the default options are valid");
            bleu_json(
                &bleu.corpus_score(&hyps, &refs),
                bleu.signature(nrefs, false),
            )
        }
        "chrf" | "chrf++" => {
            let chrf = chrf_scorer(name);
            let s = chrf.corpus_score(&hyps, &refs);
            json!({"score": number(s.score), "signature": chrf.signature(nrefs, false)})
        }
        "ter" => {
            let ter = Ter::new(TerOptions::default());
            ter_json(&ter.corpus_score(&hyps, &refs), ter.signature(nrefs, false))
        }
        other => return Err(UnknownMetric(other.into())),
    })
}

/// Corpus BLEU in the `gavel metrics` JSON shape.
pub fn bleu_json(score: &BleuScore, signature: String) -> Value {
    json!({
        "score": number(score.score),
        "precisions": score.precisions.iter().map(|&p| number(p)).collect::<Vec<_>>(),
        "bp": number(score.bp),
        "ratio": number(score.ratio),
        "sys_len": score.sys_len,
        "ref_len": score.ref_len,
        "counts": score.counts,
        "totals": score.totals,
        "signature": signature,
    })
}

/// Corpus TER in the `gavel metrics` JSON shape.
pub fn ter_json(score: &TerScore, signature: String) -> Value {
    json!({"score": number(score.score), "num_edits": score.num_edits,
           "ref_length": number(score.ref_length), "signature": signature})
}

fn chrf_scorer(name: &str) -> Chrf {
    let options = if name == "chrf++" {
        ChrfOptions::chrf_plus_plus()
    } else {
        ChrfOptions::default()
    };
    Chrf::new(options).expect("the default options are valid")
}

/// Sentence BLEU (with effective order, as `gavel metrics --per-item`), chrF, chrF++ or TER.
fn sacrebleu_sentence(name: &str, h: &str, r: &[&str]) -> Result<f64, UnknownMetric> {
    Ok(match name {
        "bleu" => {
            Bleu::new(BleuOptions {
                effective_order: true,
                ..BleuOptions::default()
            })
            .expect("the default options are valid")
            .sentence_score(h, r)
            .score
        }
        "chrf" | "chrf++" => chrf_scorer(name).sentence_score(h, r).score,
        "ter" => Ter::new(TerOptions::default()).sentence_score(h, r).score,
        other => return Err(UnknownMetric(other.into())),
    })
}
