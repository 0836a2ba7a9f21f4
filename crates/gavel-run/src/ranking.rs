//! The ranking stage: the same report `gavel rank --format json` prints
//! ([`gavel_stats::rank::report`]), from the verdicts of the ranking source (the human labels,
//! or one judge's judgments). When the source is a judge and human labels exist, the report also
//! carries the prediction-powered (human-corrected) estimates.

use gavel_core::{Item, Label};
use gavel_stats::rank::report::{Comparison, Method, RankInput, RankOptions, report};
use serde_json::{Value, json};

use crate::config::RankingSection;

/// Ranks the models from `source` labels; `humans` are the human labels when the source is a
/// judge (for the human-corrected estimates), `items` give response lengths.
pub fn rank(
    source: &[Label],
    source_name: &str,
    humans: &[Label],
    items: &[Item],
    section: &RankingSection,
) -> Result<Value, String> {
    let options = RankOptions {
        method: match section.method.as_str() {
            "elo" => Method::Elo,
            "winrate" => Method::Winrate,
            _ => Method::Bt,
        },
        baseline: section.baseline.clone(),
        bootstrap: section.bootstrap as usize,
        seed: section.seed,
        pick_best: true,
        ..RankOptions::default()
    };
    options.validate().map_err(|e| e.to_string())?;
    let mut input = RankInput::new(&options);
    input.add_file(if source_name == "human" {
        "human labels".to_string()
    } else {
        format!("judge {source_name}")
    });
    for item in items {
        input.push_item(item);
    }
    for (i, l) in source.iter().enumerate() {
        input
            .push_label(l.clone())
            .map_err(|e| format!("label {} of {source_name}: {e}", i + 1))?;
    }
    if source_name != "human" && !humans.is_empty() {
        input.expect_human_labels();
        for (i, l) in humans.iter().enumerate() {
            let c = Comparison::from_label(l.clone())
                .map_err(|e| format!("human label {}: {e}", i + 1))?;
            input
                .push_human(c)
                .map_err(|e| format!("human label {}: {e}", i + 1))?;
        }
    }
    let report = report(&input, &options).map_err(|e| e.to_string())?;
    let mut doc = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut doc {
        map.insert("source".into(), json!(source_name));
        map.insert("method".into(), json!(section.method));
        map.insert("bootstrap".into(), json!(section.bootstrap));
    }
    Ok(doc)
}
