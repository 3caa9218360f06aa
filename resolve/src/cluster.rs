//! Clustering accepted match pairs into entities: transitive closure with a conflict check. Pairs
//! are merged strongest first (union-find); a pair whose merge would put two records of the same
//! source in one cluster, or join a cannot-link pair, is dropped instead, so a conflicting closure
//! is split by dropping its weakest edges and every cluster that had no conflict is its plain
//! connected component.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// An accepted match between records `a` and `b` (indices) with the matcher's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    pub a: u32,
    pub b: u32,
    pub score: f64,
}

/// Why a pair was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// The merge would put two records of one source in a cluster.
    SameSource,
    /// The merge would join a cannot-link pair.
    CannotLink,
}

/// Clustering settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterOptions {
    /// Two records of one source in a cluster is a conflict (sources are deduplicated already).
    pub same_source_conflicts: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self { same_source_conflicts: true }
    }
}

/// The clusters and the fate of every pair.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Clustering {
    /// Each cluster's members, sorted; singletons included; clusters ordered by first member.
    pub clusters: Vec<Vec<u32>>,
    /// Pairs that joined two clusters or fell inside one.
    pub accepted: Vec<ScoredPair>,
    /// Pairs dropped by the conflict check, with the reason.
    pub dropped: Vec<(ScoredPair, Conflict)>,
}

struct Sets {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Sets {
    fn find(&mut self, x: u32) -> u32 {
        let mut root = x;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        let mut at = x;
        while self.parent[at as usize] != root {
            let next = self.parent[at as usize];
            self.parent[at as usize] = root;
            at = next;
        }
        root
    }
}

/// Clusters `records` (one source name per record) from scored `pairs`, honouring `cannot_link`.
pub fn cluster(sources: &[&str], pairs: &[ScoredPair], cannot_link: &[(u32, u32)], options: &ClusterOptions) -> Clustering {
    let n = sources.len();
    let mut sets = Sets { parent: (0..n as u32).collect(), members: (0..n as u32).map(|i| vec![i]).collect() };
    let mut forbidden: HashMap<u32, HashSet<u32>> = HashMap::new();
    for &(a, b) in cannot_link {
        forbidden.entry(a).or_default().insert(b);
        forbidden.entry(b).or_default().insert(a);
    }
    let mut order: Vec<&ScoredPair> = pairs.iter().filter(|p| (p.a as usize) < n && (p.b as usize) < n && p.a != p.b).collect();
    order.sort_by(|x, y| y.score.total_cmp(&x.score).then((x.a, x.b).cmp(&(y.a, y.b))));
    let mut out = Clustering::default();
    for pair in order {
        let (ra, rb) = (sets.find(pair.a), sets.find(pair.b));
        if ra == rb {
            out.accepted.push(*pair);
            continue;
        }
        let (small, large) = if sets.members[ra as usize].len() <= sets.members[rb as usize].len() { (ra, rb) } else { (rb, ra) };
        let conflict = if options.same_source_conflicts && {
            let theirs: HashSet<&str> = sets.members[large as usize].iter().map(|&m| sources[m as usize]).collect();
            sets.members[small as usize].iter().any(|&m| theirs.contains(sources[m as usize]))
        } {
            Some(Conflict::SameSource)
        } else if sets.members[small as usize]
            .iter()
            .any(|m| forbidden.get(m).is_some_and(|others| others.iter().any(|&o| find_root(&sets.parent, o) == large)))
        {
            Some(Conflict::CannotLink)
        } else {
            None
        };
        match conflict {
            Some(reason) => out.dropped.push((*pair, reason)),
            None => {
                let moved = std::mem::take(&mut sets.members[small as usize]);
                sets.members[large as usize].extend(moved);
                sets.parent[small as usize] = large;
                out.accepted.push(*pair);
            }
        }
    }
    let mut clusters: Vec<Vec<u32>> = sets.members.into_iter().filter(|m| !m.is_empty()).collect();
    for members in &mut clusters {
        members.sort_unstable();
    }
    clusters.sort_by_key(|members| members[0]);
    out.clusters = clusters;
    out
}

fn find_root(parent: &[u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        x = parent[x as usize];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: u32, b: u32, score: f64) -> ScoredPair {
        ScoredPair { a, b, score }
    }

    #[test]
    fn closure_without_conflict_is_the_component() {
        let sources = ["a", "b", "c", "a"];
        let found = cluster(&sources, &[pair(0, 1, 0.9), pair(1, 2, 0.8)], &[], &ClusterOptions::default());
        assert_eq!(found.clusters, vec![vec![0, 1, 2], vec![3]]);
        assert!(found.dropped.is_empty());
    }

    #[test]
    fn a_same_source_conflict_drops_the_weakest_edge() {
        // 0 (a) – 1 (b) – 2 (a): the closure would hold two records of source a.
        let sources = ["a", "b", "a"];
        let found = cluster(&sources, &[pair(0, 1, 0.95), pair(1, 2, 0.7)], &[], &ClusterOptions::default());
        assert_eq!(found.clusters, vec![vec![0, 1], vec![2]]);
        assert_eq!(found.dropped, vec![(pair(1, 2, 0.7), Conflict::SameSource)]);
        let allowed = cluster(&sources, &[pair(0, 1, 0.95), pair(1, 2, 0.7)], &[], &ClusterOptions { same_source_conflicts: false });
        assert_eq!(allowed.clusters, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_cannot_link_splits_the_cluster() {
        let sources = ["a", "b", "c", "d"];
        let pairs = [pair(0, 1, 0.9), pair(1, 2, 0.6), pair(2, 3, 0.95)];
        let found = cluster(&sources, &pairs, &[(0, 3)], &ClusterOptions::default());
        assert_eq!(found.clusters, vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(found.dropped, vec![(pair(1, 2, 0.6), Conflict::CannotLink)]);
    }
}
