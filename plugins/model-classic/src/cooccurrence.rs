//! The binary user × item matrix behind the set-based models (a repeated item counts once),
//! its transpose, and item-item co-occurrence counts (the Gram matrix XᵀX) row by row.

use agora_plugin_api::model::Interactions;

/// Rows of sorted, distinct ids (users' items, or items' users).
pub(crate) struct Lists {
    offsets: Vec<usize>,
    ids: Vec<u32>,
}

impl Lists {
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn get(&self, row: usize) -> &[u32] {
        &self.ids[self.offsets[row]..self.offsets[row + 1]]
    }

    /// Each user's distinct items.
    pub(crate) fn user_items(data: &Interactions) -> Lists {
        let mut lists = Lists { offsets: vec![0], ids: Vec::with_capacity(data.items.len()) };
        for user in 0..data.n_users() {
            lists.ids.extend(crate::distinct(data.sequence(user)));
            lists.offsets.push(lists.ids.len());
        }
        lists
    }

    /// The transpose: for each of `n_cols` ids, the rows that hold it.
    pub(crate) fn transpose(&self, n_cols: usize) -> Lists {
        let mut counts = vec![0usize; n_cols + 1];
        self.ids.iter().for_each(|&id| counts[id as usize + 1] += 1);
        for at in 1..counts.len() {
            counts[at] += counts[at - 1];
        }
        let mut next = counts.clone();
        let mut ids = vec![0; self.ids.len()];
        for row in 0..self.len() {
            for &id in self.get(row) {
                ids[next[id as usize]] = row as u32;
                next[id as usize] += 1;
            }
        }
        Lists { offsets: counts, ids }
    }
}

/// Calls `visit(i, row)` for every item `i` with its co-occurrence row: `(j, users holding both)`
/// for every `j` sharing a user with `i` (`j == i` included, giving `i`'s user count), unordered.
pub(crate) fn for_each_row(user_items: &Lists, n_items: usize, mut visit: impl FnMut(usize, &[(u32, u32)])) {
    let item_users = user_items.transpose(n_items);
    let mut counts = vec![0u32; n_items];
    let mut touched = Vec::new();
    let mut row = Vec::new();
    for item in 0..n_items {
        for &user in item_users.get(item) {
            for &other in user_items.get(user as usize) {
                if counts[other as usize] == 0 {
                    touched.push(other);
                }
                counts[other as usize] += 1;
            }
        }
        row.clear();
        row.extend(touched.iter().map(|&other| (other, std::mem::take(&mut counts[other as usize]))));
        touched.clear();
        visit(item, &row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::interactions;

    #[test]
    fn sets_drop_repeats_and_counts_pair_up() {
        let data = interactions(4, &[&[2, 0, 2], &[0, 1], &[3]]);
        let users = Lists::user_items(&data);
        assert_eq!((users.get(0), users.get(1), users.get(2)), (&[0, 2][..], &[0, 1][..], &[3][..]));
        let items = users.transpose(4);
        assert_eq!(items.get(0), &[0, 1]);
        let mut rows = Vec::new();
        for_each_row(&users, 4, |item, row| {
            let mut row = row.to_vec();
            row.sort_unstable();
            rows.push((item, row));
        });
        assert_eq!(rows[0], (0, vec![(0, 2), (1, 1), (2, 1)]));
        assert_eq!(rows[3], (3, vec![(3, 1)]));
    }
}
