//! Row-compressed sparse `f32` matrices (neighbour lists, transition rows, attribute vectors)
//! and top-k selection.

use std::cmp::Ordering;

use crate::snapshot::{ensure, Reader, Writer};

/// A sparse matrix stored row by row; each row's columns are sorted and distinct.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SparseRows {
    n_cols: u32,
    offsets: Vec<u64>,
    cols: Vec<u32>,
    values: Vec<f32>,
}

impl SparseRows {
    /// Builds from one entry list per row (any order, distinct columns below `n_cols`).
    pub(crate) fn from_rows(n_cols: u32, rows: impl IntoIterator<Item = Vec<(u32, f32)>>) -> SparseRows {
        let mut matrix = SparseRows { n_cols, offsets: vec![0], cols: Vec::new(), values: Vec::new() };
        for mut row in rows {
            row.sort_unstable_by_key(|&(col, _)| col);
            debug_assert!(row.windows(2).all(|pair| pair[0].0 < pair[1].0) && row.last().is_none_or(|&(col, _)| col < n_cols));
            matrix.cols.extend(row.iter().map(|&(col, _)| col));
            matrix.values.extend(row.iter().map(|&(_, value)| value));
            matrix.offsets.push(matrix.cols.len() as u64);
        }
        matrix
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn n_cols(&self) -> usize {
        self.n_cols as usize
    }

    /// Row `row`'s columns and values.
    pub(crate) fn row(&self, row: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[row] as usize..self.offsets[row + 1] as usize;
        (&self.cols[range.clone()], &self.values[range])
    }

    /// Entry `(row, col)`, zero when not stored.
    pub(crate) fn get(&self, row: usize, col: u32) -> f32 {
        let (cols, values) = self.row(row);
        cols.binary_search(&col).map_or(0.0, |at| values[at])
    }

    /// `out += weight * row`.
    pub(crate) fn add_row(&self, row: usize, weight: f32, out: &mut [f32]) {
        let (cols, values) = self.row(row);
        for (&col, &value) in cols.iter().zip(values) {
            out[col as usize] += weight * value;
        }
    }

    /// Row `row`'s `k` largest entries, best first, leaving out column `except`.
    pub(crate) fn best_in_row(&self, row: usize, k: usize, except: u32) -> Vec<(u32, f32)> {
        let (cols, values) = self.row(row);
        let entries = cols.iter().copied().zip(values.iter().copied()).filter(|&(col, _)| col != except).collect();
        best(entries, k, |value| value)
    }

    /// The transpose (columns become rows).
    pub(crate) fn transpose(&self) -> SparseRows {
        let mut rows = vec![Vec::new(); self.n_cols()];
        for row in 0..self.n_rows() {
            let (cols, values) = self.row(row);
            for (&col, &value) in cols.iter().zip(values) {
                rows[col as usize].push((row as u32, value));
            }
        }
        SparseRows::from_rows(self.n_rows() as u32, rows)
    }

    pub(crate) fn encode(&self, out: &mut Writer) {
        out.u32(self.n_cols);
        out.u64s(&self.offsets);
        out.u32s(&self.cols);
        out.f32s(&self.values);
    }

    /// Reads a matrix written by [`SparseRows::encode`], checking its structure.
    pub(crate) fn decode(reader: &mut Reader) -> Result<SparseRows, String> {
        let n_cols = reader.u32()?;
        let (offsets, cols, values) = (reader.u64s()?, reader.u32s()?, reader.f32s()?);
        ensure(offsets.first() == Some(&0) && offsets.last() == Some(&(cols.len() as u64)), "sparse offsets do not cover the entries")?;
        ensure(cols.len() == values.len(), "sparse columns and values differ in length")?;
        let matrix = SparseRows { n_cols, offsets, cols, values };
        ensure(matrix.offsets.windows(2).all(|pair| pair[0] <= pair[1]), "sparse offsets decrease")?;
        for row in 0..matrix.n_rows() {
            let (cols, _) = matrix.row(row);
            ensure(
                cols.windows(2).all(|pair| pair[0] < pair[1]) && cols.last().is_none_or(|&col| col < n_cols),
                "sparse columns unsorted or out of range",
            )?;
        }
        Ok(matrix)
    }
}

/// The `k` entries of largest `key(value)`, best first (ties by smaller id).
pub(crate) fn best(mut entries: Vec<(u32, f32)>, k: usize, key: impl Fn(f32) -> f32) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| key(b.1).partial_cmp(&key(a.1)).unwrap_or(Ordering::Equal).then(a.0.cmp(&b.0));
    if entries.len() > k {
        if k == 0 {
            return Vec::new();
        }
        entries.select_nth_unstable_by(k - 1, order);
        entries.truncate(k);
    }
    entries.sort_unstable_by(order);
    entries
}

/// The `k` best items of a dense score vector, best first, leaving out `except`.
pub(crate) fn best_of_dense(scores: &[f32], k: usize, except: u32) -> Vec<(u32, f32)> {
    let entries =
        scores.iter().enumerate().filter(|&(item, _)| item != except as usize).map(|(item, &score)| (item as u32, score)).collect();
    best(entries, k, |score| score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SparseRows {
        SparseRows::from_rows(4, [vec![(3, 1.0), (0, 2.0)], vec![], vec![(1, -3.0), (2, 0.5)]])
    }

    #[test]
    fn rows_are_sorted_and_queried() {
        let matrix = sample();
        assert_eq!(matrix.row(0), (&[0, 3][..], &[2.0, 1.0][..]));
        assert_eq!(matrix.get(2, 1), -3.0);
        assert_eq!(matrix.get(1, 1), 0.0);
        let mut out = vec![0.0; 4];
        matrix.add_row(0, 2.0, &mut out);
        assert_eq!(out, [4.0, 0.0, 0.0, 2.0]);
        assert_eq!(matrix.best_in_row(0, 5, 0), [(3, 1.0)]);
        let transposed = matrix.transpose();
        assert_eq!((transposed.n_rows(), transposed.n_cols()), (4, 3));
        assert_eq!(transposed.row(3), (&[0][..], &[1.0][..]));
    }

    #[test]
    fn best_keeps_the_top_k_by_key() {
        let entries = vec![(0, 1.0), (1, -5.0), (2, 3.0), (3, 3.0)];
        assert_eq!(best(entries.clone(), 2, |value| value), [(2, 3.0), (3, 3.0)]);
        assert_eq!(best(entries.clone(), 1, f32::abs), [(1, -5.0)]);
        assert!(best(entries, 0, |value| value).is_empty());
        assert_eq!(best_of_dense(&[0.5, 0.9, 0.1], 2, 1), [(0, 0.5), (2, 0.1)]);
    }

    #[test]
    fn sparse_rows_round_trip() {
        let mut writer = Writer::new("t");
        sample().encode(&mut writer);
        let bytes = writer.finish();
        let mut reader = Reader::open(&bytes, "t").unwrap();
        assert_eq!(SparseRows::decode(&mut reader).unwrap(), sample());
    }
}
