//! Self-supervised pretraining of `rec.sasrec` in the manner of S3-Rec (Zhou et al. 2020): some
//! items of each sequence are replaced by a mask token, and the network, attending both ways,
//! predicts the masked items (masked item prediction) and, when items have attributes, the masked
//! items' attributes (masked attribute prediction), before it is fine-tuned on next items.

use tch::{Kind, Reduction, Tensor};

use super::net::{padded_values, ItemAttributes, Net};
use crate::rng::SplitMix;

/// Weight of the masked-attribute loss beside the masked-item loss (S3-Rec's 0.2).
const ATTRIBUTE_WEIGHT: f64 = 0.2;

/// One pretraining batch: the rows with some items masked, where they were masked (flat
/// positions into the rows) and which items were there.
pub struct MaskedBatch {
    pub rows: Tensor,
    pub at: Tensor,
    pub items: Vec<u32>,
}

/// Masks each item of `sequences` (their last `max_length`) with probability `mask_prob`, and the
/// newest item of a sequence where none was drawn, so that every sequence has a target.
pub fn mask(sequences: &[&[u32]], max_length: usize, mask_prob: f64, mask_row: i64, rng: &mut SplitMix) -> MaskedBatch {
    let (mut values, width) = padded_values(sequences, max_length);
    let (mut at, mut items) = (Vec::new(), Vec::new());
    for (row, slots) in values.chunks_mut(width).enumerate() {
        let drawn_before = at.len();
        for (column, slot) in slots.iter_mut().enumerate() {
            let newest_and_none_yet = column == width - 1 && at.len() == drawn_before;
            if *slot != 0 && (newest_and_none_yet || ((rng.next() >> 11) as f64) / ((1u64 << 53) as f64) < mask_prob) {
                at.push((row * width + column) as i64);
                items.push((*slot - 1) as u32);
                *slot = mask_row;
            }
        }
    }
    MaskedBatch { rows: Tensor::from_slice(&values).view([sequences.len() as i64, width as i64]), at: Tensor::from_slice(&at), items }
}

/// The pretraining loss of one masked batch: cross-entropy of the masked items over the catalogue,
/// plus [`ATTRIBUTE_WEIGHT`] × the binary cross-entropy of their attributes (summed over
/// attributes, averaged over masked positions) when the network has attributes.
pub fn loss(net: &Net, batch: &MaskedBatch, attributes: Option<&ItemAttributes>, dropout: f64, hidden: i64) -> Tensor {
    let device = net.device();
    let table = net.item_table();
    let rows = batch.rows.to_device(device);
    let at = batch.at.to_device(device);
    let states = net.forward(&table, &rows, dropout, true, false).view([-1, hidden]).index_select(0, &at);
    let targets = Tensor::from_slice(&batch.items.iter().map(|&i| i64::from(i)).collect::<Vec<_>>()).to_device(device);
    let logits = states.matmul(&net.scored(&table).tr());
    let item_loss = logits.cross_entropy_loss::<Tensor>(&targets, None, Reduction::Mean, -100, 0.0);
    match (net.attribute_logits(&states), attributes) {
        (Some(attribute_logits), Some(known)) => {
            let width = known.n_attributes as usize;
            let mut wanted = vec![0f32; batch.items.len() * width];
            for (row, &item) in batch.items.iter().enumerate() {
                for &attribute in known.of(item as usize) {
                    wanted[row * width + attribute as usize] = 1.0;
                }
            }
            let wanted = Tensor::from_slice(&wanted).view([batch.items.len() as i64, width as i64]).to_device(device);
            let attribute_loss =
                attribute_logits.binary_cross_entropy_with_logits::<Tensor>(&wanted, None, None, Reduction::Sum) / batch.items.len() as f64;
            item_loss + attribute_loss.to_kind(Kind::Float) * ATTRIBUTE_WEIGHT
        }
        _ => item_loss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_items_and_always_leaves_a_target() {
        let mut rng = SplitMix(3);
        let sequences: [&[u32]; 2] = [&[4, 5, 6], &[7]];
        let batch = mask(&sequences, 3, 0.0, 99, &mut rng);
        // Nothing drawn at probability 0: each row's newest item is masked.
        assert_eq!(Vec::<i64>::try_from(batch.rows.view([-1])).unwrap(), vec![5, 6, 99, 0, 0, 99]);
        assert_eq!(Vec::<i64>::try_from(&batch.at).unwrap(), vec![2, 5]);
        assert_eq!(batch.items, vec![6, 7]);
        let all = mask(&sequences, 3, 1.0, 99, &mut rng);
        assert_eq!(Vec::<i64>::try_from(all.rows.view([-1])).unwrap(), vec![99, 99, 99, 0, 0, 99]);
        assert_eq!(all.items, vec![4, 5, 6, 7]);
    }
}
