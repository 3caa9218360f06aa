//! Gradient-boosted regression trees on the logistic loss, hand-written: features are cut into
//! quantile bins once, each tree is grown depth-first to a depth limit from per-bin gradient and
//! Hessian histograms, leaves take a Newton step, rows are subsampled per tree.

use serde::{Deserialize, Serialize};

use crate::matcher::{check, SplitMix};
use crate::{ResolveError, Result};

/// Training settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbtOptions {
    pub trees: usize,
    pub max_depth: usize,
    pub learning_rate: f64,
    /// Quantile bins per feature (2..=255).
    pub bins: usize,
    /// Least Hessian sum in a child.
    pub min_child_weight: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Share of rows each tree sees.
    pub subsample: f64,
    pub seed: u64,
    /// Ensembles trained with seeds `seed`, `seed + 1`, ... whose margins are averaged
    /// (bagging: steadier than one ensemble on small training sets).
    pub bags: usize,
}

impl Default for GbtOptions {
    fn default() -> Self {
        Self { trees: 300, max_depth: 5, learning_rate: 0.08, bins: 64, min_child_weight: 1.0, l2: 1.0, subsample: 0.8, seed: 7, bags: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Leaf(f64),
    /// Rows with `x[feature] <= threshold` go left.
    Split {
        feature: usize,
        bin: u8,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn predict(&self, features: &[f64]) -> f64 {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Leaf(value) => return *value,
                Node::Split { feature, threshold, left, right, .. } => {
                    at = if features.get(*feature).copied().unwrap_or(0.0) <= *threshold { *left } else { *right };
                }
            }
        }
    }

    fn predict_binned(&self, bins: &[u8]) -> f64 {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Leaf(value) => return *value,
                Node::Split { feature, bin, left, right, .. } => at = if bins[*feature] <= *bin { *left } else { *right },
            }
        }
    }
}

/// A fitted ensemble.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gbt {
    base: f64,
    /// Every bag's trees, one after the other.
    trees: Vec<Tree>,
    bags: usize,
}

struct Grower<'a> {
    binned: &'a [Vec<u8>],
    edges: &'a [Vec<f64>],
    gradient: &'a [f64],
    hessian: &'a [f64],
    options: &'a GbtOptions,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    fn leaf(&mut self, rows: &[usize]) -> usize {
        let g: f64 = rows.iter().map(|&r| self.gradient[r]).sum();
        let h: f64 = rows.iter().map(|&r| self.hessian[r]).sum();
        self.nodes.push(Node::Leaf(-g / (h + self.options.l2) * self.options.learning_rate));
        self.nodes.len() - 1
    }

    fn grow(&mut self, rows: &[usize], depth: usize) -> usize {
        if depth >= self.options.max_depth || rows.len() < 2 {
            return self.leaf(rows);
        }
        let l2 = self.options.l2;
        let (g_total, h_total) = rows.iter().fold((0.0, 0.0), |(g, h), &r| (g + self.gradient[r], h + self.hessian[r]));
        let parent = g_total * g_total / (h_total + l2);
        let mut best: Option<(f64, usize, u8)> = None;
        for (feature, edges) in self.edges.iter().enumerate() {
            if edges.is_empty() {
                continue;
            }
            let mut histogram = vec![(0.0f64, 0.0f64); edges.len() + 1];
            for &r in rows {
                let slot = &mut histogram[usize::from(self.binned[r][feature])];
                slot.0 += self.gradient[r];
                slot.1 += self.hessian[r];
            }
            let (mut gl, mut hl) = (0.0, 0.0);
            for (bin, (g, h)) in histogram.iter().enumerate().take(edges.len()) {
                gl += g;
                hl += h;
                let (gr, hr) = (g_total - gl, h_total - hl);
                if hl < self.options.min_child_weight || hr < self.options.min_child_weight {
                    continue;
                }
                let gain = gl * gl / (hl + l2) + gr * gr / (hr + l2) - parent;
                let better = match best {
                    Some((best_gain, _, _)) => gain > best_gain,
                    None => gain > 1e-9,
                };
                if better {
                    best = Some((gain, feature, bin as u8));
                }
            }
        }
        let Some((_, feature, bin)) = best else {
            return self.leaf(rows);
        };
        let (left_rows, right_rows): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&r| self.binned[r][feature] <= bin);
        let at = self.nodes.len();
        self.nodes.push(Node::Leaf(0.0));
        let left = self.grow(&left_rows, depth + 1);
        let right = self.grow(&right_rows, depth + 1);
        self.nodes[at] = Node::Split { feature, bin, threshold: self.edges[feature][usize::from(bin)], left, right };
        at
    }
}

/// Up to `bins - 1` cut points of one feature: midpoints between distinct values, thinned to quantiles.
fn cut_points(mut values: Vec<f64>, bins: usize) -> Vec<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    values.dedup();
    let mids: Vec<f64> = values.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    let wanted = bins.clamp(2, 255) - 1;
    if mids.len() <= wanted {
        return mids;
    }
    let mut cuts: Vec<f64> = (1..=wanted).map(|k| mids[(k * mids.len() / (wanted + 1)).min(mids.len() - 1)]).collect();
    cuts.dedup();
    cuts
}

fn bin_of(edges: &[f64], x: f64) -> u8 {
    edges.partition_point(|&edge| edge < x) as u8
}

impl Gbt {
    /// Fits the ensemble.
    ///
    /// # Errors
    /// Unusable training data or settings.
    pub fn train(rows: &[Vec<f64>], labels: &[bool], options: &GbtOptions) -> Result<Self> {
        check(rows, labels)?;
        if options.trees == 0 || options.bags == 0 || !(0.0..=1.0).contains(&options.subsample) || options.subsample == 0.0 {
            return Err(ResolveError::Training("trees and bags must be > 0 and subsample in (0, 1]".into()));
        }
        // Sample the rows used for cut points, so binning stays cheap on large sets.
        let sample_step = (rows.len() / 20_000).max(1);
        let width = rows[0].len();
        let edges: Vec<Vec<f64>> =
            (0..width).map(|f| cut_points(rows.iter().step_by(sample_step).map(|row| row[f]).collect(), options.bins)).collect();
        let binned: Vec<Vec<u8>> = rows.iter().map(|row| row.iter().zip(&edges).map(|(x, e)| bin_of(e, *x)).collect()).collect();
        let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        let positive = y.iter().sum::<f64>() / y.len() as f64;
        let base = (positive / (1.0 - positive)).ln();
        let mut trees = Vec::with_capacity(options.trees * options.bags);
        for bag in 0..options.bags {
            let seed = options.seed.wrapping_add(bag as u64);
            trees.extend(boost(&binned, &edges, &y, base, seed, options));
        }
        Ok(Self { base, trees, bags: options.bags })
    }

    /// The match probability of a feature vector.
    pub fn predict(&self, features: &[f64]) -> f64 {
        let sum: f64 = self.trees.iter().map(|tree| tree.predict(features)).sum();
        let margin = self.base + sum / self.bags.max(1) as f64;
        1.0 / (1.0 + (-margin).exp())
    }

    /// How many trees the ensemble has (all bags).
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether the ensemble has no trees.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

/// One boosted ensemble from the base margin.
fn boost(binned: &[Vec<u8>], edges: &[Vec<f64>], y: &[f64], base: f64, seed: u64, options: &GbtOptions) -> Vec<Tree> {
    let rows = binned.len();
    let mut margin = vec![base; rows];
    let mut rng = SplitMix(seed);
    let mut trees = Vec::with_capacity(options.trees);
    let mut gradient = vec![0.0; rows];
    let mut hessian = vec![0.0; rows];
    for _ in 0..options.trees {
        for i in 0..rows {
            let p = 1.0 / (1.0 + (-margin[i]).exp());
            gradient[i] = p - y[i];
            hessian[i] = (p * (1.0 - p)).max(1e-12);
        }
        let sample: Vec<usize> = (0..rows).filter(|_| options.subsample >= 1.0 || rng.unit() < options.subsample).collect();
        let mut grower = Grower { binned, edges, gradient: &gradient, hessian: &hessian, options, nodes: Vec::new() };
        grower.grow(&sample, 0);
        let tree = Tree { nodes: grower.nodes };
        for (m, bins) in margin.iter_mut().zip(binned) {
            *m += tree.predict_binned(bins);
        }
        trees.push(tree);
    }
    trees
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_an_interaction_logistic_regression_cannot() {
        let mut rng = SplitMix(3);
        let rows: Vec<Vec<f64>> = (0..2000).map(|_| vec![rng.unit(), rng.unit()]).collect();
        let labels: Vec<bool> = rows.iter().map(|r| (r[0] > 0.5) != (r[1] > 0.5)).collect();
        let model = Gbt::train(&rows, &labels, &GbtOptions { trees: 100, bags: 2, ..GbtOptions::default() }).unwrap();
        let correct = rows.iter().zip(&labels).filter(|(r, &l)| (model.predict(r) > 0.5) == l).count();
        assert!(correct > 1900, "{correct}");
    }
}
