//! Cohen's kappa for two annotators: unweighted, linear and quadratic weights.
//!
//! Reference: `sklearn.metrics.cohen_kappa_score(y1, y2, weights=None|"linear"|"quadratic")`
//! (scikit-learn 1.9.1). With `O` the confusion matrix over the labels that occur in `y1` or
//! `y2` (in the value domain's order), `E = outer(colsums, rowsums) / n` and a disagreement
//! weight matrix `W`: `κ = 1 - Σ W∘O / Σ W∘E`. `W` is `1 - I` (unweighted), `|i - j|` (linear)
//! or `(i - j)²` (quadratic), where `i`, `j` are positions among the labels that occur, not the
//! labels' numeric values (so a pair that only uses 1, 3 and 5 weighs 1 and 3 as one step
//! apart, exactly as scikit-learn does). Undefined (NaN in scikit-learn) when there are no
//! pairs or when `Σ W∘E = 0` (both annotators use one and the same single label).
//!
//! [`cohen_kappa_asymptotic`] adds the large-sample standard error of the unweighted kappa of
//! Fleiss, Cohen and Everitt (1969), as `statsmodels.stats.inter_rater.cohens_kappa` computes
//! it (`std_kappa`); its normal interval is `κ ± z·se`.

use serde::Serialize;

use super::Undefined;

/// The three kappas of one pair of annotators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CohenKappa {
    /// Unweighted kappa.
    pub kappa: Result<f64, Undefined>,
    /// Linear weights.
    pub weighted_linear: Result<f64, Undefined>,
    /// Quadratic weights.
    pub weighted_quadratic: Result<f64, Undefined>,
}

/// The disagreement weights of a kappa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Every disagreement counts 1.
    Unweighted,
    /// `|i - j|`.
    Linear,
    /// `(i - j)²`.
    Quadratic,
}

/// Cohen's kappa of paired labels `(annotator 1, annotator 2)`, categories `0..k` in domain
/// order.
pub fn cohen_kappa(pairs: &[(u32, u32)], k: usize, weighting: Weighting) -> Result<f64, Undefined> {
    let mut table = vec![vec![0.0; k]; k];
    for &(a, b) in pairs {
        if let Some(cell) = table
            .get_mut(a as usize)
            .and_then(|r| r.get_mut(b as usize))
        {
            *cell += 1.0;
        }
    }
    cohen_kappa_from_table(&table, weighting)
}

/// Cohen's kappa from a `k x k` table of (weighted) counts, rows = annotator 1. Labels whose row
/// and column are both empty do not occur and are dropped first, as scikit-learn does.
pub fn cohen_kappa_from_table(table: &[Vec<f64>], weighting: Weighting) -> Result<f64, Undefined> {
    let present = present_labels(table);
    let m = present.len();
    let cell = |i: usize, j: usize| -> f64 {
        match (present.get(i), present.get(j)) {
            (Some(&a), Some(&b)) => table.get(a).and_then(|r| r.get(b)).copied().unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let rows: Vec<f64> = (0..m).map(|i| (0..m).map(|j| cell(i, j)).sum()).collect();
    let cols: Vec<f64> = (0..m).map(|j| (0..m).map(|i| cell(i, j)).sum()).collect();
    let total: f64 = cols.iter().sum();
    if total == 0.0 {
        return Err(Undefined::Empty);
    }
    let w = |i: usize, j: usize| -> f64 {
        let d = i.abs_diff(j) as f64;
        match weighting {
            Weighting::Unweighted => f64::from(u8::from(i != j)),
            Weighting::Linear => d,
            Weighting::Quadratic => d * d,
        }
    };
    let mut observed = 0.0;
    let mut expected = 0.0;
    for (i, col_i) in cols.iter().enumerate() {
        for (j, row_j) in rows.iter().enumerate() {
            let wij = w(i, j);
            observed += wij * cell(i, j);
            // scikit-learn's expected[i][j] = colsum[i] * rowsum[j] / n; W is symmetric.
            expected += wij * (col_i * row_j / total);
        }
    }
    if expected == 0.0 {
        return Err(Undefined::NoExpectedDisagreement);
    }
    Ok(1.0 - observed / expected)
}

/// All three kappas from one table.
pub fn cohen_kappas_from_table(table: &[Vec<f64>]) -> CohenKappa {
    CohenKappa {
        kappa: cohen_kappa_from_table(table, Weighting::Unweighted),
        weighted_linear: cohen_kappa_from_table(table, Weighting::Linear),
        weighted_quadratic: cohen_kappa_from_table(table, Weighting::Quadratic),
    }
}

fn present_labels(table: &[Vec<f64>]) -> Vec<usize> {
    let k = table
        .len()
        .max(table.iter().map(Vec::len).max().unwrap_or(0));
    (0..k)
        .filter(|&c| {
            let row: f64 = table.get(c).map(|r| r.iter().sum()).unwrap_or(0.0);
            let col: f64 = table.iter().map(|r| r.get(c).copied().unwrap_or(0.0)).sum();
            row != 0.0 || col != 0.0
        })
        .collect()
}

/// The unweighted kappa and its asymptotic standard error (Fleiss, Cohen and Everitt 1969), as
/// `statsmodels.stats.inter_rater.cohens_kappa(table)` gives `kappa` and `std_kappa`.
pub fn cohen_kappa_asymptotic(table: &[Vec<f64>]) -> Result<(f64, f64), Undefined> {
    let present = present_labels(table);
    let m = present.len();
    let cell = |i: usize, j: usize| -> f64 {
        match (present.get(i), present.get(j)) {
            (Some(&a), Some(&b)) => table.get(a).and_then(|r| r.get(b)).copied().unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let nobs: f64 = (0..m)
        .flat_map(|i| (0..m).map(move |j| (i, j)))
        .map(|(i, j)| cell(i, j))
        .sum();
    if nobs == 0.0 {
        return Err(Undefined::Empty);
    }
    let p = |i: usize, j: usize| cell(i, j) / nobs;
    let row: Vec<f64> = (0..m)
        .map(|i| (0..m).map(|j| cell(i, j)).sum::<f64>() / nobs)
        .collect();
    let col: Vec<f64> = (0..m)
        .map(|j| (0..m).map(|i| cell(i, j)).sum::<f64>() / nobs)
        .collect();
    let agree: f64 = (0..m).map(|i| cell(i, i)).sum::<f64>() / nobs;
    let agree_exp: f64 = (0..m).map(|i| row[i] * col[i]).sum();
    if agree_exp == 1.0 {
        return Err(Undefined::NoExpectedDisagreement);
    }
    let kappa = (agree - agree_exp) / (1.0 - agree_exp);
    let term_a: f64 = (0..m)
        .map(|i| p(i, i) * (1.0 - (row[i] + col[i]) * (1.0 - kappa)).powi(2))
        .sum();
    let mut term_b = 0.0;
    for (i, col_i) in col.iter().enumerate() {
        for (j, row_j) in row.iter().enumerate() {
            if i != j {
                term_b += p(i, j) * (col_i + row_j).powi(2);
            }
        }
    }
    let term_b = (1.0 - kappa).powi(2) * term_b;
    let term_c = (kappa - agree_exp * (1.0 - kappa)).powi(2);
    let var = (term_a + term_b - term_c) / (1.0 - agree_exp).powi(2) / nobs;
    Ok((kappa, var.max(0.0).sqrt()))
}

/// The unweighted kappa with its asymptotic standard error and Wald interval
/// `kappa ± z·se` at `level` (z the normal quantile), as statsmodels'
/// `cohens_kappa(table, alpha=1 - level)` gives `kappa`, `std_kappa`, `kappa_low`, `kappa_upp`.
/// The interval treats every row of the table as an independent observation.
pub fn cohen_kappa_analytic(
    table: &[Vec<f64>],
    level: f64,
) -> Result<(f64, f64, crate::bootstrap::Interval), Undefined> {
    let (kappa, se) = cohen_kappa_asymptotic(table)?;
    let z = crate::normal::quantile(0.5 + level / 2.0);
    Ok((
        kappa,
        se,
        crate::bootstrap::Interval {
            lo: kappa - z * se,
            hi: kappa + z * se,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_chance_agreement() {
        let same = [(0, 0), (1, 1), (2, 2), (1, 1)];
        assert_eq!(cohen_kappa(&same, 3, Weighting::Unweighted), Ok(1.0));
        assert_eq!(
            cohen_kappa(&[], 3, Weighting::Unweighted),
            Err(Undefined::Empty)
        );
        let one_label = [(1, 1), (1, 1)];
        assert_eq!(
            cohen_kappa(&one_label, 3, Weighting::Linear),
            Err(Undefined::NoExpectedDisagreement)
        );
    }

    #[test]
    fn weights_use_positions_among_present_labels() {
        // Labels 0, 2 and 4 of a five-value domain weigh like 0, 1, 2.
        let sparse = [(0, 2), (2, 4), (4, 4), (0, 0)];
        let dense = [(0, 1), (1, 2), (2, 2), (0, 0)];
        for w in [Weighting::Linear, Weighting::Quadratic] {
            assert_eq!(cohen_kappa(&sparse, 5, w), cohen_kappa(&dense, 3, w));
        }
    }
}
