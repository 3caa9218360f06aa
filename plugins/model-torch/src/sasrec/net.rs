//! The `rec.sasrec` network: item embeddings (fused with the items' attribute embeddings when
//! asked), position embeddings, pre-norm self-attention blocks and a final LayerNorm.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::Params;
use crate::tabular::Encoder;

/// How an item's embedding and its attributes' embeddings make the item's representation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// The item embedding alone; attributes are not used.
    #[default]
    None,
    /// A linear layer over the item embedding concatenated with its attributes' mean embedding.
    Concat,
    /// A learned per-dimension gate between the item embedding and its attributes' mean.
    Gated,
    /// The mean of the item embedding and each of its attributes' embeddings.
    Mean,
}

/// Every item's attribute ids, as the snapshot keeps them (offsets `n_items + 1` long).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemAttributes {
    pub n_attributes: u32,
    pub offsets: Vec<u64>,
    pub attributes: Vec<u32>,
}

impl ItemAttributes {
    /// Item `item`'s attribute ids.
    pub fn of(&self, item: usize) -> &[u32] {
        &self.attributes[self.offsets[item] as usize..self.offsets[item + 1] as usize]
    }
}

/// The items' tabular codes (fixed, from [`crate::tabular`]) and their projection to `hidden`:
/// one more input of the fusion, counted as one more attribute.
struct TabularCodes {
    /// `[n_items, codes]`, not trained.
    codes: Tensor,
    projection: nn::Linear,
}

/// The attribute embeddings (and tabular codes) and what fuses them with the item embeddings.
struct Attributes {
    fusion: Fusion,
    /// `[n_attributes, hidden]`.
    table: Tensor,
    /// Concat: `2 hidden → hidden`; gated: the gate, `2 hidden → hidden`.
    mix: Option<nn::Linear>,
    /// Every item's attribute ids end to end, and where each item's begin (`n_items + 1`).
    indices: Tensor,
    offsets: Tensor,
    /// `[n_items, 1]`: how many attributes each item has (its tabular code counting as one).
    counts: Tensor,
    tabular: Option<TabularCodes>,
}

impl Attributes {
    /// The items' fused representations `[n_items, hidden]` from their embeddings `[n_items, hidden]`.
    fn fuse(&self, items: &Tensor) -> Tensor {
        let mut sum = if self.indices.numel() == 0 {
            items.zeros_like()
        } else {
            Tensor::embedding_bag::<Tensor>(&self.table, &self.indices, &self.offsets, false, 0, false, None, true).0
        };
        if let Some(tabular) = &self.tabular {
            sum = sum + tabular.codes.apply(&tabular.projection);
        }
        let mean = || &sum / self.counts.clamp_min(1.0);
        let mix = || self.mix.as_ref().expect("concat and gated fusion have a mixing layer");
        match self.fusion {
            Fusion::None => items.shallow_clone(),
            Fusion::Mean => (items + &sum) / (&self.counts + 1.0),
            Fusion::Concat => Tensor::cat(&[items, &mean()], 1).apply(mix()),
            Fusion::Gated => {
                let mean = mean();
                let gate = Tensor::cat(&[items, &mean], 1).apply(mix()).sigmoid();
                &gate * items + (1.0 - &gate) * mean
            }
        }
    }
}

/// Users' numeric features, recomputed for every prefix of a history from its items' features
/// (how long it is, the mean of each item feature so far), encoded by the user autoencoder's
/// frozen encoder and projected onto the hidden states: the user side of the tabular fusion.
struct UserCodes {
    encoder: Encoder,
    /// `[n_items + 1, features]`: each table row's item features (0 where unknown; row 0 padding)
    /// and which are known. Not trained.
    item_values: Tensor,
    item_known: Tensor,
    projection: nn::Linear,
}

impl UserCodes {
    /// The user features `[batch, length, 1 + features]` after each prefix of `rows` (NaN where
    /// no item so far has the feature), in the order [`user_feature_row`] writes them.
    fn features(&self, rows: &Tensor) -> Tensor {
        let (batch, length) = rows.size2().expect("a [batch, length] tensor");
        let flat = rows.view([-1]);
        let values = self.item_values.index_select(0, &flat).view([batch, length, -1]);
        let known = self.item_known.index_select(0, &flat).view([batch, length, -1]);
        let count = known.cumsum(1, Kind::Float);
        let mean = (values.cumsum(1, Kind::Float) / count.clamp_min(1.0)).masked_fill(&count.eq(0.0), f64::NAN);
        let history_length = rows.ne(0).to_kind(Kind::Float).cumsum(1, Kind::Float).unsqueeze(-1);
        Tensor::cat(&[history_length.log1p(), mean], -1)
    }
}

/// One user's raw features after `history`: `ln(1 + length)`, then the mean of each of the
/// history items' features over the items that have it (NaN when none does).
pub fn user_feature_row(history: &[u32], item_features: &[f32], width: usize) -> Vec<f32> {
    let mut row = vec![(history.len() as f32).ln_1p()];
    for column in 0..width {
        let known: Vec<f32> =
            history.iter().map(|&item| item_features[item as usize * width + column]).filter(|value| value.is_finite()).collect();
        row.push(if known.is_empty() { f32::NAN } else { known.iter().sum::<f32>() / known.len() as f32 });
    }
    row
}

/// One pre-norm transformer block: self-attention, then a position-wise feed-forward layer, each
/// added to its input.
struct Block {
    attention_norm: nn::LayerNorm,
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    output: nn::Linear,
    feed_norm: nn::LayerNorm,
    feed_in: nn::Linear,
    feed_out: nn::Linear,
}

impl Block {
    fn new(path: &nn::Path, hidden: i64) -> Self {
        let linear = |name: &str| nn::linear(path / name, hidden, hidden, Default::default());
        Self {
            attention_norm: nn::layer_norm(path / "attention_norm", vec![hidden], Default::default()),
            query: linear("query"),
            key: linear("key"),
            value: linear("value"),
            output: linear("output"),
            feed_norm: nn::layer_norm(path / "feed_norm", vec![hidden], Default::default()),
            feed_in: linear("feed_in"),
            feed_out: linear("feed_out"),
        }
    }
}

/// The network.
pub struct Net {
    /// `[n_items + 1, hidden]`, one row more when pretrained: row 0 is padding, item `i` is row
    /// `i + 1`, the mask token (pretraining) is row `n_items + 1`.
    items: nn::Embedding,
    /// `[max_length, hidden]`; row 0 is the newest item's position.
    positions: nn::Embedding,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    attributes: Option<Attributes>,
    /// Projects a hidden state to be scored against the attribute embeddings (pretraining's
    /// masked attribute prediction).
    attribute_head: Option<nn::Linear>,
    users: Option<UserCodes>,
    n_items: i64,
    hidden: i64,
    heads: i64,
    device: Device,
}

impl Net {
    /// The network for `n_items` items; `attributes` (when given) are the items' attributes,
    /// needed by a fusion other than `none` and by pretraining's attribute prediction.
    pub fn new(path: &nn::Path, n_items: i64, params: &Params, attributes: Option<&ItemAttributes>) -> Self {
        let hidden = params.hidden;
        let device = path.device();
        let init = nn::Init::Randn { mean: 0.0, stdev: 0.02 };
        let embedding = nn::EmbeddingConfig { padding_idx: 0, ws_init: init, ..Default::default() };
        let mask_rows = i64::from(params.pretrain_epochs > 0);
        let has_attributes = attributes.is_some_and(|known| known.n_attributes > 0);
        let attributes = attributes.map(|known| {
            let offsets: Vec<i64> = known.offsets.iter().map(|&o| o as i64).collect();
            let with_code = i64::from(params.tabular_codes > 0);
            let counts: Vec<f32> = offsets.windows(2).map(|w| (w[1] - w[0] + with_code) as f32).collect();
            let indices: Vec<i64> = known.attributes.iter().map(|&a| i64::from(a)).collect();
            Attributes {
                fusion: params.fusion,
                table: path.var("attributes", &[i64::from(known.n_attributes), hidden], init),
                mix: matches!(params.fusion, Fusion::Concat | Fusion::Gated)
                    .then(|| nn::linear(path / "fusion", 2 * hidden, hidden, Default::default())),
                indices: Tensor::from_slice(&indices).to_device(device),
                offsets: Tensor::from_slice(&offsets).to_device(device),
                counts: Tensor::from_slice(&counts).view([-1, 1]).to_device(device),
                tabular: (params.tabular_codes > 0).then(|| TabularCodes {
                    codes: path.zeros_no_train("tabular_codes", &[n_items, params.tabular_codes]),
                    projection: nn::linear(path / "tabular", params.tabular_codes, hidden, Default::default()),
                }),
            }
        });
        let attribute_head =
            (params.pretrain_epochs > 0 && has_attributes).then(|| nn::linear(path / "attribute_head", hidden, hidden, Default::default()));
        Self {
            items: nn::embedding(path / "items", n_items + 1 + mask_rows, hidden, embedding),
            positions: nn::embedding(path / "positions", params.max_length as i64, hidden, embedding),
            blocks: (0..params.blocks).map(|b| Block::new(&(path / format!("block{b}")), hidden)).collect(),
            norm: nn::layer_norm(path / "norm", vec![hidden], Default::default()),
            attributes,
            attribute_head,
            users: None,
            n_items,
            hidden,
            heads: params.heads,
            device,
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Adds the user side of the tabular fusion: `encoder` (the user autoencoder's, fitted on
    /// [`user_feature_row`]s) and a table of the items' raw features, set with
    /// [`set_item_features`](Self::set_item_features) (or loaded with the weights).
    pub fn with_user_codes(mut self, path: &nn::Path, encoder: Encoder) -> Self {
        let (rows, features) = (self.n_items + 1, encoder.width as i64 - 1);
        self.users = Some(UserCodes {
            item_values: path.zeros_no_train("user_item_values", &[rows, features]),
            item_known: path.zeros_no_train("user_item_known", &[rows, features]),
            projection: nn::linear(path / "user_codes", encoder.codes, self.hidden, Default::default()),
            encoder,
        });
        self
    }

    /// Sets the items' raw features (`n_items × width`, NaN where unknown) the user side reads.
    pub fn set_item_features(&self, features: &[f32]) {
        let users = self.users.as_ref().expect("a network with user codes");
        let raw = Tensor::from_slice(features).view([self.n_items, -1]).to_device(self.device);
        let padding = raw.zeros_like().narrow(0, 0, 1);
        let (mut values, mut known) = (users.item_values.shallow_clone(), users.item_known.shallow_clone());
        tch::no_grad(|| {
            values.copy_(&Tensor::cat(&[&padding, &raw.nan_to_num(0.0, 0.0, 0.0)], 0));
            known.copy_(&Tensor::cat(&[&padding, &raw.isfinite().to_kind(Kind::Float)], 0));
        });
    }

    /// Sets the items' tabular codes `[n_items, codes]` (a network fitted with `tabular_codes`).
    pub fn set_tabular_codes(&self, codes: &Tensor) {
        let tabular = self.attributes.as_ref().and_then(|attributes| attributes.tabular.as_ref());
        let mut stored = tabular.expect("a network with tabular codes").codes.shallow_clone();
        tch::no_grad(|| stored.copy_(codes));
    }

    /// The mask token's row (only a pretrained network has one).
    pub fn mask_row(&self) -> i64 {
        self.n_items + 1
    }

    /// The input table: every row of the item embeddings, items' rows fused with their attributes.
    pub fn item_table(&self) -> Tensor {
        let rows = &self.items.ws;
        match &self.attributes {
            Some(attributes) if attributes.fusion != Fusion::None => {
                let fused = attributes.fuse(&rows.narrow(0, 1, self.n_items));
                let after = rows.size()[0] - self.n_items - 1;
                Tensor::cat(&[rows.narrow(0, 0, 1), fused, rows.narrow(0, self.n_items + 1, after)], 0)
            }
            _ => rows.shallow_clone(),
        }
    }

    /// The items' rows of a table from [`item_table`](Self::item_table): what hidden states are
    /// scored against, `[n_items, hidden]`.
    pub fn scored(&self, table: &Tensor) -> Tensor {
        table.narrow(0, 1, self.n_items)
    }

    /// Hidden states `[batch, length, hidden]` of left-padded rows of table rows (0: padding).
    /// `causal`: each position attends to itself and the positions before it only (next-item
    /// training and serving); otherwise to every non-padding position (masked-item pretraining).
    pub fn forward(&self, table: &Tensor, rows: &Tensor, dropout: f64, train: bool, causal: bool) -> Tensor {
        let (batch, length) = rows.size2().expect("a [batch, length] tensor");
        let padding = rows.eq(0);
        let keep = padding.logical_not().unsqueeze(-1).to_kind(Kind::Float);
        // Positions count back from the newest item (the last column).
        let positions = Tensor::arange_start_step(length - 1, -1, -1, (Kind::Int64, self.device));
        let embedded = table.index_select(0, &rows.view([-1])).view([batch, length, self.hidden]);
        let mut x = embedded * (self.hidden as f64).sqrt() + self.positions.forward(&positions).unsqueeze(0);
        x = x.dropout(dropout, train) * &keep;
        let mut blocked = padding.unsqueeze(1);
        if causal {
            blocked = blocked.logical_or(&Tensor::ones([length, length], (Kind::Bool, self.device)).triu(1).unsqueeze(0));
        }
        let blocked = blocked.unsqueeze(1);
        let head_width = self.hidden / self.heads;
        let split = |t: Tensor| t.view([batch, length, self.heads, head_width]).transpose(1, 2);
        for block in &self.blocks {
            let h = x.apply(&block.attention_norm);
            let (query, key, value) = (split(h.apply(&block.query)), split(h.apply(&block.key)), split(h.apply(&block.value)));
            let weights = (query.matmul(&key.transpose(-2, -1)) / (head_width as f64).sqrt())
                .masked_fill(&blocked, -1e9)
                .softmax(-1, Kind::Float)
                .dropout(dropout, train);
            let attended = weights.matmul(&value).transpose(1, 2).contiguous().view([batch, length, self.hidden]);
            x = x + attended.apply(&block.output).dropout(dropout, train);
            let h = x.apply(&block.feed_norm);
            let fed = h.apply(&block.feed_in).gelu("none").dropout(dropout, train).apply(&block.feed_out);
            x = (x + fed.dropout(dropout, train)) * &keep;
        }
        if let (Some(users), true) = (&self.users, causal) {
            let codes = users.encoder.encode(&users.features(rows));
            x = x + codes.apply(&users.projection) * &keep;
        }
        x.apply(&self.norm)
    }

    /// Attribute logits `[rows, n_attributes]` of hidden states `[rows, hidden]` (pretraining).
    pub fn attribute_logits(&self, hidden: &Tensor) -> Option<Tensor> {
        let head = self.attribute_head.as_ref()?;
        let attributes = self.attributes.as_ref()?;
        Some(hidden.apply(head).matmul(&attributes.table.tr()))
    }
}

/// Left-padded table rows `[len(histories), longest]` of the histories' last `max_length` items
/// (item `i` is row `i + 1`, 0 is padding), as row-major values and the row width.
pub fn padded_values(histories: &[&[u32]], max_length: usize) -> (Vec<i64>, usize) {
    let longest = histories.iter().map(|h| h.len().min(max_length)).max().unwrap_or(0).max(1);
    let mut rows = vec![0i64; histories.len() * longest];
    for (row, history) in histories.iter().enumerate() {
        let kept = &history[history.len().saturating_sub(max_length)..];
        let start = row * longest + longest - kept.len();
        for (slot, &item) in rows[start..].iter_mut().zip(kept) {
            *slot = i64::from(item) + 1;
        }
    }
    (rows, longest)
}

/// [`padded_values`] as a tensor on `device`.
pub fn padded_rows(histories: &[&[u32]], max_length: usize, device: Device) -> Tensor {
    let (values, longest) = padded_values(histories, max_length);
    Tensor::from_slice(&values).view([histories.len() as i64, longest as i64]).to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_left_padded_and_keep_the_newest_items() {
        let rows = padded_rows(&[&[4, 5, 6], &[7]], 2, Device::Cpu);
        assert_eq!(Vec::<i64>::try_from(rows.view([-1])).unwrap(), vec![6, 7, 0, 8]);
    }

    #[test]
    fn each_fusion_mixes_the_item_and_attribute_embeddings() {
        // Item 0 has attributes 0 and 1, item 1 none.
        let known = ItemAttributes { n_attributes: 2, offsets: vec![0, 2, 2], attributes: vec![0, 1] };
        for fusion in [Fusion::None, Fusion::Mean, Fusion::Concat, Fusion::Gated] {
            let vs = nn::VarStore::new(Device::Cpu);
            let params = Params { hidden: 4, fusion, ..Params::default() };
            let net = Net::new(&vs.root(), 2, &params, Some(&known));
            let table = net.item_table();
            assert_eq!(table.size(), [3, 4], "{fusion:?}");
            let items = net.items.ws.narrow(0, 1, 2);
            let attributes = &net.attributes.as_ref().unwrap().table;
            let fused = net.scored(&table);
            let gap = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
            match fusion {
                Fusion::None => assert_eq!(gap(&fused, &items), 0.0),
                Fusion::Mean => {
                    let expected = (items.get(0) + attributes.get(0) + attributes.get(1)) / 3.0;
                    assert!(gap(&fused.get(0), &expected) < 1e-6);
                    // No attributes: the item embedding alone.
                    assert!(gap(&fused.get(1), &items.get(1)) < 1e-6);
                }
                Fusion::Concat | Fusion::Gated => assert!(gap(&fused, &items) > 0.0, "{fusion:?}"),
            }
        }
    }

    #[test]
    fn user_features_after_each_prefix_match_the_rows_the_user_autoencoder_fits_on() {
        // Items 0..3 with one feature each; item 1's is unknown.
        let item_features = [2.0f32, f32::NAN, 4.0];
        let encoder = Encoder {
            width: 2,
            kept: vec![0, 1],
            means: vec![0.0; 2],
            sds: vec![1.0; 2],
            indicators: vec![1],
            hidden: 2,
            codes: 1,
            weights_in: vec![0.0; 6],
            bias_in: vec![0.0; 2],
            weights_out: vec![0.0; 2],
            bias_out: vec![0.0],
            weights_linear: vec![0.0; 3],
            code_means: vec![0.0],
            code_sds: vec![1.0],
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), 3, &Params { hidden: 4, ..Params::default() }, None).with_user_codes(&vs.root(), encoder);
        net.set_item_features(&item_features);
        let history = [1u32, 0, 2];
        let rows = padded_rows(&[&history], 4, Device::Cpu);
        let features = net.users.as_ref().unwrap().features(&rows);
        for end in 1..=3 {
            let expected = user_feature_row(&history[..end], &item_features, 1);
            let got = Vec::<f32>::try_from(features.get(0).get(end as i64 - 1)).unwrap();
            let same = expected.iter().zip(&got).all(|(a, b)| (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-6);
            assert!(same, "prefix {end}: {got:?} vs {expected:?}");
        }
        assert_eq!(user_feature_row(&[0, 2], &item_features, 1), [3f32.ln(), 3.0]);
    }

    #[test]
    fn a_tabular_code_joins_the_fusion_as_one_more_attribute() {
        let known = ItemAttributes { n_attributes: 2, offsets: vec![0, 2, 2], attributes: vec![0, 1] };
        let vs = nn::VarStore::new(Device::Cpu);
        let params = Params { hidden: 4, fusion: Fusion::Mean, tabular_codes: 3, ..Params::default() };
        let net = Net::new(&vs.root(), 2, &params, Some(&known));
        let codes = Tensor::from_slice(&[1f32, -1.0, 0.5, 2.0, 0.0, -0.5]).view([2, 3]);
        net.set_tabular_codes(&codes);
        let fused = net.scored(&net.item_table());
        let fusion = net.attributes.as_ref().unwrap();
        let projected = codes.apply(&fusion.tabular.as_ref().unwrap().projection);
        let items = net.items.ws.narrow(0, 1, 2);
        let gap = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        let expected0 = (items.get(0) + fusion.table.get(0) + fusion.table.get(1) + projected.get(0)) / 4.0;
        assert!(gap(&fused.get(0), &expected0) < 1e-6);
        // Item 1 has no attributes but its code.
        assert!(gap(&fused.get(1), &((items.get(1) + projected.get(1)) / 2.0)) < 1e-6);
        // The codes are kept with the weights but never trained.
        assert!(vs.trainable_variables().iter().all(|t| t.size() != [2, 3]));
        assert!(vs.variables().contains_key("tabular_codes"));
    }
}
