//! Whether ratings are identifiable from the comparisons at all.
//!
//! Two conditions, both on graphs whose nodes are models:
//! - the comparison graph (an edge wherever two models met) must be connected, or ratings of
//!   different groups have no common scale ([`groups`]);
//! - for Bradley-Terry, the "scored against" digraph (an edge `i -> j` when `i` won or tied at
//!   least once against `j`) must be strongly connected: otherwise some set of models won every
//!   comparison with the rest and the likelihood grows without bound as their ratings rise
//!   (Zermelo 1929; Ford 1957). [`separated`] finds such a set.

use super::{PairCounts, RankError};

/// The connected groups of the comparison graph, each sorted by index, largest group first.
pub fn groups(counts: &PairCounts) -> Vec<Vec<usize>> {
    let n = counts.n_models;
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for p in &counts.pairs {
        let (i, j) = (p.i as usize, p.j as usize);
        if i >= n || j >= n || p.n() == 0 {
            continue;
        }
        let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
        if ri != rj {
            parent[ri.max(rj)] = ri.min(rj);
        }
    }
    let mut by_root: Vec<Vec<usize>> = vec![Vec::new(); n];
    for x in 0..n {
        let r = find(&mut parent, x);
        by_root[r].push(x);
    }
    let mut out: Vec<Vec<usize>> = by_root.into_iter().filter(|g| !g.is_empty()).collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    out
}

/// Fails with [`RankError::Disconnected`] when the models do not form one connected group.
pub fn check_connected(counts: &PairCounts, names: &[String]) -> Result<(), RankError> {
    if counts.pairs.is_empty() {
        return Err(RankError::NoBattles);
    }
    let g = groups(counts);
    if g.len() <= 1 {
        return Ok(());
    }
    Err(RankError::Disconnected {
        groups: g
            .iter()
            .map(|grp| {
                grp.iter()
                    .map(|&i| names.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
                    .collect()
            })
            .collect(),
    })
}

/// For a connected comparison graph: `None` when the Bradley-Terry maximum likelihood exists,
/// otherwise a smallest-found set of models that won every comparison with the others
/// (`true`) or lost every one (`false`).
pub fn separated(counts: &PairCounts) -> Option<(Vec<usize>, bool)> {
    let n = counts.n_models;
    if n <= 1 {
        return None;
    }
    // Edge i -> j when i scored (won or tied) against j.
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut in_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for p in &counts.pairs {
        let (i, j) = (p.i as usize, p.j as usize);
        if i >= n || j >= n {
            continue;
        }
        if p.wins_i + p.ties > 0 {
            out_edges[i].push(j);
            in_edges[j].push(i);
        }
        if p.wins_j + p.ties > 0 {
            out_edges[j].push(i);
            in_edges[i].push(j);
        }
    }
    let component = strong_components(&out_edges, &in_edges);
    let n_components = component.iter().copied().max().map_or(0, |m| m + 1);
    if n_components <= 1 {
        return None;
    }
    // A component with no edge entering it from outside won every comparison with the rest;
    // one with no edge leaving it lost every one.
    let mut entered = vec![false; n_components];
    let mut left = vec![false; n_components];
    for (i, edges) in out_edges.iter().enumerate() {
        for &j in edges {
            if component[i] != component[j] {
                left[component[i]] = true;
                entered[component[j]] = true;
            }
        }
    }
    let members = |c: usize| -> Vec<usize> { (0..n).filter(|&i| component[i] == c).collect() };
    let mut best: Option<(Vec<usize>, bool)> = None;
    for c in 0..n_components {
        for (flag, won) in [(entered[c], true), (left[c], false)] {
            if !flag {
                let m = members(c);
                if best.as_ref().is_none_or(|(b, _)| m.len() < b.len()) {
                    best = Some((m, won));
                }
            }
        }
    }
    best
}

/// Fails with [`RankError::Separated`] when the Bradley-Terry maximum likelihood does not exist.
pub fn check_identifiable(counts: &PairCounts, names: &[String]) -> Result<(), RankError> {
    check_connected(counts, names)?;
    match separated(counts) {
        None => Ok(()),
        Some((models, won)) => Err(RankError::Separated {
            models: models
                .iter()
                .map(|&i| names.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
                .collect(),
            won,
        }),
    }
}

/// Strongly connected components (Kosaraju, iterative): the component number of each node.
fn strong_components(out_edges: &[Vec<usize>], in_edges: &[Vec<usize>]) -> Vec<usize> {
    let n = out_edges.len();
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if let Some(&child) = out_edges[node].get(top.1) {
                top.1 += 1;
                if !visited[child] {
                    visited[child] = true;
                    stack.push((child, 0));
                }
            } else {
                order.push(node);
                stack.pop();
            }
        }
    }
    let mut component = vec![usize::MAX; n];
    let mut count = 0;
    for &start in order.iter().rev() {
        if component[start] != usize::MAX {
            continue;
        }
        component[start] = count;
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for &child in &in_edges[node] {
                if component[child] == usize::MAX {
                    component[child] = count;
                    stack.push(child);
                }
            }
        }
        count += 1;
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::{Battles, Outcome};

    fn battles(list: &[(&str, &str, Outcome)]) -> Battles {
        let mut b = Battles::new();
        for &(x, y, o) in list {
            b.push(x, y, o, None).unwrap();
        }
        b
    }

    #[test]
    fn disconnected_groups_are_named() {
        let b = battles(&[
            ("a", "b", Outcome::WinA),
            ("c", "d", Outcome::Tie),
            ("d", "e", Outcome::WinB),
        ]);
        let err = check_connected(&b.counts(), b.models()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ratings are not identifiable: the models fall into 2 groups that never meet each other ({`c`, `d`, `e`} | {`a`, `b`}); rank each group separately or add comparisons between them"
        );
    }

    #[test]
    fn a_model_that_never_lost_has_no_finite_rating() {
        let b = battles(&[
            ("a", "b", Outcome::WinA),
            ("b", "c", Outcome::WinA),
            ("c", "b", Outcome::WinA),
            ("a", "c", Outcome::WinA),
        ]);
        let err = check_identifiable(&b.counts(), b.models()).unwrap_err();
        assert_eq!(
            err,
            RankError::Separated {
                models: vec!["a".into()],
                won: true
            }
        );
        // A tie is a half win each way, which makes the ratings finite.
        let b = battles(&[
            ("a", "b", Outcome::WinA),
            ("b", "c", Outcome::WinA),
            ("c", "b", Outcome::WinA),
            ("a", "c", Outcome::Tie),
        ]);
        assert!(check_identifiable(&b.counts(), b.models()).is_ok());
    }

    #[test]
    fn a_model_that_lost_everything_is_named() {
        let b = battles(&[
            ("a", "b", Outcome::WinA),
            ("b", "a", Outcome::WinA),
            ("a", "c", Outcome::WinA),
            ("b", "c", Outcome::WinA),
            ("c", "d", Outcome::WinA),
            ("d", "c", Outcome::WinA),
        ]);
        // {a, b} won everything against {c, d}; the smaller of the two ends is named (a tie in
        // size keeps the first found).
        let (models, _) = separated(&b.counts()).unwrap();
        assert_eq!(models.len(), 2);
    }
}
