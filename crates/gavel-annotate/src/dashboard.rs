//! The agreement dashboard: `gavel agree`'s report on the project's export (same function,
//! same labels, same options, so the same numbers), drift over time windows, rounds and
//! guideline versions with a flag under the project's threshold, and imported judges against
//! the humans (`gavel meta-eval`'s report, plus the judges as extra annotators).

use gavel_core::{Judgment, Label};
use gavel_stats::agreement::Level;
use gavel_stats::agreement::report::{
    AgreementOptions, AgreementReport, DriftBy, DriftReport, Thresholds, drift, report,
};
use gavel_stats::bootstrap::BootstrapConfig;
use gavel_stats::meta_eval::{MetaEvalOptions, MetaEvalReport, meta_eval};
use rusqlite::Connection;
use serde::Serialize;

use crate::error::Error;
use crate::export::{Filter, judgments, labels};
use crate::labelling::{Progress, progress};
use crate::projects::{Counts, Project, counts};

/// Dashboard options.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// Bootstrap resamples for the intervals of the overall report (as `gavel agree
    /// --bootstrap`; 1000 by default, seed 0, 95%).
    pub bootstrap: usize,
    /// Time window for drift, in seconds.
    pub window_secs: i64,
    /// Only this round.
    pub round: Option<String>,
}

impl Default for DashboardOptions {
    fn default() -> DashboardOptions {
        DashboardOptions {
            bootstrap: 1000,
            window_secs: 86_400,
            round: None,
        }
    }
}

/// Agreement on one question (the project's, or one binary criterion).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// The criterion ('' for a single question).
    pub criterion: String,
    /// The command that gives the same numbers on the export.
    pub command: String,
    /// Labels in the section.
    pub n_labels: usize,
    /// The report, or why there is none.
    pub report: Option<AgreementReport>,
    /// Why there is no report.
    pub error: Option<String>,
    /// Per time window.
    pub by_time: Option<DriftReport>,
    /// Per round.
    pub by_round: Option<DriftReport>,
    /// Per guideline version.
    pub by_version: Option<DriftReport>,
    /// Whether any window (or the whole) is under the threshold.
    pub drift_flag: bool,
    /// Judges against the human labels (`gavel meta-eval`), when judges were imported.
    pub judges: Option<MetaEvalReport>,
    /// Why there is no judge report.
    pub judges_error: Option<String>,
    /// Humans and judges together: the pairs and majority agreement with judges included.
    pub with_judges: Option<AgreementReport>,
}

/// The whole dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The level used (`nominal`, or `ordinal` for Likert).
    pub level: &'static str,
    /// The drift threshold on Krippendorff's alpha.
    pub min_alpha: Option<f64>,
    /// One section per question.
    pub sections: Vec<Section>,
    /// Progress per annotator.
    pub progress: Vec<Progress>,
    /// Counts.
    pub counts: Counts,
}

fn options(level: Level, replicates: usize) -> AgreementOptions {
    AgreementOptions {
        level,
        bootstrap: BootstrapConfig {
            replicates,
            seed: 0,
            level: 0.95,
        },
        ..AgreementOptions::default()
    }
}

/// Computes the dashboard.
pub fn dashboard(
    conn: &Connection,
    project: &Project,
    opts: &DashboardOptions,
    claim_ttl_secs: i64,
) -> Result<Dashboard, Error> {
    let level_name = project.kind().level();
    let level: Level = level_name.parse().map_err(Error::Internal)?;
    let thresholds = Thresholds {
        min_krippendorff_alpha: project.min_alpha,
        ..Thresholds::default()
    };
    let names = project.kind().criteria_names();
    let mut sections = Vec::new();
    for c in &names {
        let criterion = (!c.is_empty()).then(|| c.clone());
        let filter = Filter {
            round: opts.round.clone(),
            criterion: criterion.clone(),
            user: None,
        };
        let humans = labels(conn, project, &filter)?;
        let judged = judgments(conn, project, criterion.as_deref())?;
        sections.push(section(
            c,
            &humans,
            &judged,
            level,
            level_name,
            &thresholds,
            opts,
            &filter,
            project,
        ));
    }
    Ok(Dashboard {
        level: level_name,
        min_alpha: project.min_alpha,
        sections,
        progress: progress(conn, project, claim_ttl_secs)?,
        counts: counts(conn, project.id)?,
    })
}

#[allow(clippy::too_many_arguments)]
fn section(
    criterion: &str,
    humans: &[Label],
    judged: &[Judgment],
    level: Level,
    level_name: &str,
    thresholds: &Thresholds,
    opts: &DashboardOptions,
    filter: &Filter,
    project: &Project,
) -> Section {
    let mut query = Vec::new();
    if let Some(r) = &filter.round {
        query.push(format!("round={r}"));
    }
    if let Some(c) = &filter.criterion {
        query.push(format!("criterion={c}"));
    }
    let url = format!(
        "/p/{}/export.jsonl{}{}",
        project.slug,
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let mut command = format!("gavel agree --data labels.jsonl --level {level_name}");
    if opts.bootstrap != 1000 {
        command.push_str(&format!(" --bootstrap {}", opts.bootstrap));
    }
    let command = format!("{command}   # labels.jsonl from {url}");
    let mut s = Section {
        criterion: criterion.to_string(),
        command,
        n_labels: humans.len(),
        report: None,
        error: None,
        by_time: None,
        by_round: None,
        by_version: None,
        drift_flag: false,
        judges: None,
        judges_error: None,
        with_judges: None,
    };
    if humans.iter().all(|l| l.label.is_missing()) {
        s.error = Some("no labels yet".into());
        return s;
    }
    let o = options(level, opts.bootstrap);
    match report(humans, &o) {
        Ok(r) => {
            s.drift_flag = !thresholds.check(&r).is_empty() && r.n_pairable_items > 0;
            s.report = Some(r);
        }
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    }
    // Windows: point estimates as `gavel agree --by ...` gives them (no intervals per window).
    let w = options(level, 0);
    let by = |b: DriftBy| drift(humans, &b, &w, thresholds).ok();
    s.by_time = by(DriftBy::Time {
        window_secs: opts.window_secs,
    });
    s.by_round = by(DriftBy::Round);
    s.by_version = by(DriftBy::GuidelineVersion);
    for d in [&s.by_time, &s.by_round, &s.by_version]
        .into_iter()
        .flatten()
    {
        if d.windows
            .iter()
            .any(|w| !w.flags.is_empty() && w.report.n_pairable_items > 0)
        {
            s.drift_flag = true;
        }
    }
    if !judged.is_empty() {
        let mo = MetaEvalOptions {
            bootstrap: BootstrapConfig {
                replicates: opts.bootstrap,
                seed: 0,
                level: 0.95,
            },
            ..MetaEvalOptions::default()
        };
        match meta_eval(judged, humans, &mo) {
            Ok(r) => s.judges = Some(r),
            Err(e) => s.judges_error = Some(e.to_string()),
        }
        let mut all: Vec<Label> = humans.to_vec();
        all.extend(judged.iter().map(|j| j.label.clone()));
        match report(&all, &options(level, 0)) {
            Ok(r) => s.with_judges = Some(r),
            Err(e) => {
                if s.judges_error.is_none() {
                    s.judges_error = Some(e.to_string());
                }
            }
        }
    }
    s
}
