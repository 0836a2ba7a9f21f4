//! Classification metrics of predictions against true labels: accuracy, per-class precision,
//! recall and F1, their macro and micro averages, and the confusion matrix.
//!
//! Reference: scikit-learn 1.9.1, `accuracy_score`, `precision_recall_fscore_support`
//! (`average=None|"macro"|"micro"`, `labels=`, `zero_division=`) and `confusion_matrix`.
//! Classes are indices `0..k`. With `C[t][p]` the (weighted) count of samples of true class
//! `t` predicted `p`, for class `l`: `tp = C[l][l]`, `predicted = Σ_t C[t][l]`,
//! `true = Σ_p C[l][p]`, precision `tp / predicted`, recall `tp / true`,
//! `F1 = 2 tp / (true + predicted)` (scikit-learn's form, equal to the harmonic mean where both
//! are defined). A zero denominator gives the `zero_division` value (scikit-learn's default,
//! `"warn"`, gives 0; [`ZeroDivision::Nan`] gives `None`). Macro averages are the mean over the
//! scored classes, leaving out `None` (numpy's `nanmean`); micro averages pool `tp`,
//! `predicted` and `true` over the scored classes. Accuracy counts every sample, including
//! predictions outside the scored classes (an unparsed verdict, for instance), which lower recall
//! and accuracy but no class's precision: exactly what scikit-learn does with
//! `labels=[scored classes]`.

use serde::Serialize;

/// The value of a precision, recall or F1 whose denominator is zero (scikit-learn's
/// `zero_division`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDivision {
    /// 0, scikit-learn's default.
    #[default]
    Zero,
    /// 1.
    One,
    /// Undefined (`None`); left out of macro averages.
    Nan,
}

impl ZeroDivision {
    fn value(self) -> Option<f64> {
        match self {
            ZeroDivision::Zero => Some(0.0),
            ZeroDivision::One => Some(1.0),
            ZeroDivision::Nan => None,
        }
    }
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    /// Precision (`None` only under [`ZeroDivision::Nan`]).
    pub precision: Option<f64>,
    /// Recall.
    pub recall: Option<f64>,
    /// F1.
    pub f1: Option<f64>,
    /// Weight of the samples whose true class it is.
    pub support: f64,
}

/// All classification metrics of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Total weight of the samples.
    pub n: f64,
    /// Share of samples predicted right (`None` for no samples).
    pub accuracy: Option<f64>,
    /// Scores of each scored class, in the order given.
    pub per_class: Vec<ClassScores>,
    /// Mean precision over classes.
    pub macro_precision: Option<f64>,
    /// Mean recall over classes.
    pub macro_recall: Option<f64>,
    /// Mean F1 over classes.
    pub macro_f1: Option<f64>,
    /// Pooled precision.
    pub micro_precision: Option<f64>,
    /// Pooled recall.
    pub micro_recall: Option<f64>,
    /// Pooled F1.
    pub micro_f1: Option<f64>,
}

/// The `k x k` confusion matrix (rows: true class, columns: predicted class) of paired labels,
/// each pair counting its weight (1 without weights). Pairs outside `0..k` are ignored.
pub fn confusion_matrix(
    y_true: &[u32],
    y_pred: &[u32],
    k: usize,
    weights: Option<&[f64]>,
) -> Vec<Vec<f64>> {
    let mut m = vec![vec![0.0; k]; k];
    for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
        let w = weights.map_or(1.0, |w| w.get(i).copied().unwrap_or(0.0));
        if let Some(c) = m.get_mut(t as usize).and_then(|r| r.get_mut(p as usize)) {
            *c += w;
        }
    }
    m
}

/// Accuracy of paired labels (`None` for no samples).
pub fn accuracy(y_true: &[u32], y_pred: &[u32]) -> Option<f64> {
    let n = y_true.len().min(y_pred.len());
    if n == 0 {
        return None;
    }
    let right = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Some(right as f64 / n as f64)
}

fn divide(num: f64, den: f64, zero: ZeroDivision) -> Option<f64> {
    if den == 0.0 {
        zero.value()
    } else {
        Some(num / den)
    }
}

fn nanmean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, n) = values
        .flatten()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { None } else { Some(sum / n as f64) }
}

/// The metrics from a confusion matrix, scoring the classes in `scored` (all classes when
/// `None`; scikit-learn's default is the classes that occur in either vector).
pub fn report_from_confusion(
    m: &[Vec<f64>],
    scored: Option<&[usize]>,
    zero: ZeroDivision,
) -> ClassificationReport {
    let k = m.len();
    let all: Vec<usize> = (0..k).collect();
    let scored = scored.unwrap_or(&all);
    let cell = |t: usize, p: usize| m.get(t).and_then(|r| r.get(p)).copied().unwrap_or(0.0);
    let n: f64 = m.iter().flatten().sum();
    let right: f64 = (0..k).map(|c| cell(c, c)).sum();
    let mut per_class = Vec::with_capacity(scored.len());
    let (mut tp_all, mut pred_all, mut true_all) = (0.0, 0.0, 0.0);
    for &l in scored {
        let tp = cell(l, l);
        let predicted: f64 = (0..k).map(|t| cell(t, l)).sum();
        let truth: f64 = (0..k).map(|p| cell(l, p)).sum();
        tp_all += tp;
        pred_all += predicted;
        true_all += truth;
        per_class.push(ClassScores {
            precision: divide(tp, predicted, zero),
            recall: divide(tp, truth, zero),
            f1: divide(2.0 * tp, truth + predicted, zero),
            support: truth,
        });
    }
    ClassificationReport {
        n,
        accuracy: if n == 0.0 { None } else { Some(right / n) },
        macro_precision: nanmean(per_class.iter().map(|c| c.precision)),
        macro_recall: nanmean(per_class.iter().map(|c| c.recall)),
        macro_f1: nanmean(per_class.iter().map(|c| c.f1)),
        micro_precision: divide(tp_all, pred_all, zero),
        micro_recall: divide(tp_all, true_all, zero),
        micro_f1: divide(2.0 * tp_all, true_all + pred_all, zero),
        per_class,
    }
}

/// The metrics of paired labels over classes `0..k`, scoring the classes in `scored` (or, when
/// `None`, the classes that occur in either vector, as scikit-learn does by default).
pub fn classification_report(
    y_true: &[u32],
    y_pred: &[u32],
    k: usize,
    scored: Option<&[usize]>,
    zero: ZeroDivision,
) -> ClassificationReport {
    let m = confusion_matrix(y_true, y_pred, k, None);
    match scored {
        Some(s) => report_from_confusion(&m, Some(s), zero),
        None => {
            let occurring: Vec<usize> = (0..k)
                .filter(|&c| {
                    m.get(c).is_some_and(|r| r.iter().sum::<f64>() > 0.0)
                        || m.iter().any(|r| r.get(c).copied().unwrap_or(0.0) > 0.0)
                })
                .collect();
            report_from_confusion(&m, Some(&occurring), zero)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_division_policies() {
        // Class 2 is never predicted and never true; class 1 is predicted but never true.
        let t = [0, 0, 0];
        let p = [0, 1, 1];
        let r = classification_report(&t, &p, 3, Some(&[0, 1, 2]), ZeroDivision::Zero);
        assert_eq!(r.per_class[1].recall, Some(0.0));
        assert_eq!(r.per_class[2].f1, Some(0.0));
        let r = classification_report(&t, &p, 3, Some(&[0, 1, 2]), ZeroDivision::Nan);
        assert_eq!(r.per_class[1].recall, None);
        assert_eq!(r.macro_recall, Some(1.0 / 3.0));
        assert_eq!(r.accuracy, Some(1.0 / 3.0));
        let empty = classification_report(&[], &[], 2, None, ZeroDivision::Zero);
        assert_eq!((empty.accuracy, empty.macro_f1), (None, None));
    }

    #[test]
    fn predictions_outside_scored_classes_cost_recall_only() {
        // Class 2 stands for "unparsed": scored classes are 0 and 1.
        let t = [0, 1, 1, 0];
        let p = [0, 1, 2, 2];
        let r = classification_report(&t, &p, 3, Some(&[0, 1]), ZeroDivision::Zero);
        assert_eq!(r.accuracy, Some(0.5));
        assert_eq!(r.per_class[0].precision, Some(1.0));
        assert_eq!(r.per_class[0].recall, Some(0.5));
        assert_eq!(r.micro_precision, Some(1.0));
        assert_eq!(r.micro_recall, Some(0.5));
    }
}
