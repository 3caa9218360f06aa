//! The store's items and interactions (events, orders, reviews) as dense-id user histories plus
//! item attributes: what the Encoder hands to training.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use agora_core::config::RecommendConfig;
use agora_core::record::{EventKind, Record, RecordKind};
use agora_core::store::Store;
use agora_plugin_api::model::Interactions;
use serde::{Deserialize, Serialize};

use crate::error::RecommendError;
use crate::features::{item_features, ITEM_FEATURES};

/// What the engine knows about one item besides its interactions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub title: Option<String>,
    pub brand: Option<String>,
    pub categories: Vec<String>,
    /// `Some(false)` when the catalogue says the item cannot be bought.
    pub available: Option<bool>,
}

/// Dense ids for users and items, each item's catalogue facts and attribute tokens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub item_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub items: Vec<ItemMeta>,
    /// Attribute tokens (`brand:X`, `category:Y`, `key=value`), indexed by attribute id.
    pub attribute_names: Vec<String>,
    /// Each item's attribute ids.
    pub item_attributes: Vec<Vec<u32>>,
    #[serde(skip)]
    item_index: HashMap<String, u32>,
    #[serde(skip)]
    user_index: HashMap<String, u32>,
}

impl Catalog {
    /// Builds the id lookups (after deserialising).
    pub fn index(&mut self) {
        self.item_index = self.item_ids.iter().enumerate().map(|(dense, id)| (id.clone(), dense as u32)).collect();
        self.user_index = self.user_ids.iter().enumerate().map(|(dense, id)| (id.clone(), dense as u32)).collect();
    }

    pub fn item(&self, id: &str) -> Option<u32> {
        self.item_index.get(id).copied()
    }

    pub fn user(&self, id: &str) -> Option<u32> {
        self.user_index.get(id).copied()
    }

    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// The item's title, or its id when it has none.
    pub fn item_name(&self, item: u32) -> &str {
        let index = item as usize;
        self.items[index].title.as_deref().unwrap_or(&self.item_ids[index])
    }

    /// Whether `item` is in `category` (any level of its path, case-insensitive).
    pub fn in_category(&self, item: u32, category: &str) -> bool {
        self.items[item as usize].categories.iter().any(|known| known.eq_ignore_ascii_case(category))
    }

    /// Whether any item is in `category`.
    pub fn has_category(&self, category: &str) -> bool {
        (0..self.n_items() as u32).any(|item| self.in_category(item, category))
    }
}

/// Users' histories (dense item ids, oldest first) and the catalogue.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Dataset {
    pub catalog: Catalog,
    pub histories: Vec<Vec<u32>>,
    /// Unix seconds per history entry; 0 where the source gave no time.
    pub times: Vec<Vec<i64>>,
    /// Each item's catalogue price, where the catalogue has one.
    #[serde(default)]
    pub prices: Vec<Option<f64>>,
    /// What the data was built from, to tell snapshots apart.
    pub version: String,
}

/// One interaction before ordering.
struct Touch {
    item: String,
    ts: Option<i64>,
    seq: Option<i64>,
    arrival: usize,
}

impl Dataset {
    /// Reads the cleaned store: items from the catalogue; interactions from events of the
    /// configured kinds (an anonymous session's under the user it logged in as), order lines and
    /// reviews. A user's history is ordered by time, then by
    /// `seq` (sources with an order but no times), then by arrival; an item repeated back to back
    /// (view, cart, purchase of one item) counts once.
    ///
    /// # Errors
    /// A store error.
    pub fn from_store(store: &dyn Store, config: &RecommendConfig) -> Result<Self, RecommendError> {
        let kinds: Vec<EventKind> = config.event_kinds.iter().filter_map(|kind| EventKind::parse(kind)).collect();
        let mut metas: BTreeMap<String, ItemMeta> = BTreeMap::new();
        let mut prices: HashMap<String, f64> = HashMap::new();
        let mut tokens: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        store.scan_records(RecordKind::Item, &mut |_, stored| {
            if let Record::Item(item) = stored.record {
                let item_tokens = tokens.entry(item.item_id.clone()).or_default();
                item_tokens.extend(item.brand.iter().map(|brand| format!("brand:{brand}")));
                item_tokens.extend(item.categories.iter().map(|category| format!("category:{category}")));
                item_tokens.extend(item.attributes.iter().map(|(key, value)| format!("{key}={value}")));
                if let Some(price) = item.price {
                    prices.insert(item.item_id.clone(), price);
                }
                metas.insert(
                    item.item_id,
                    ItemMeta { title: item.title, brand: item.brand, categories: item.categories, available: item.available },
                );
            }
            true
        })?;

        let mut touches: BTreeMap<String, Vec<Touch>> = BTreeMap::new();
        let mut arrival = 0usize;
        let mut add = |user: String, item: String, ts: Option<i64>, seq: Option<i64>| {
            arrival += 1;
            touches.entry(user).or_default().push(Touch { item, ts, seq, arrival });
        };
        // Anonymous events count for the user their session logged in as (see agora_core::identity).
        let links = store.identity_links()?;
        store.scan_records(RecordKind::Event, &mut |_, stored| {
            if let Record::Event(event) = stored.record {
                if kinds.contains(&event.kind) {
                    add(links.resolve(&event.user_id).to_string(), event.item_id, Some(event.ts), None);
                }
            }
            true
        })?;
        store.scan_records(RecordKind::Order, &mut |_, stored| {
            if let Record::Order(order) = stored.record {
                add(order.user_id, order.item_id, Some(order.ts), order.line);
            }
            true
        })?;
        store.scan_records(RecordKind::Review, &mut |_, stored| {
            if let Record::Review(review) = stored.record {
                add(review.user_id, review.item_id, review.ts, review.seq);
            }
            true
        })?;
        let mut dataset = Self::build(metas, tokens, touches);
        dataset.prices = dataset.catalog.item_ids.iter().map(|id| prices.get(id).copied()).collect();
        Ok(dataset)
    }

    fn build(
        metas: BTreeMap<String, ItemMeta>,
        tokens: BTreeMap<String, BTreeSet<String>>,
        mut touches: BTreeMap<String, Vec<Touch>>,
    ) -> Self {
        let mut item_ids: BTreeSet<String> = metas.keys().cloned().collect();
        item_ids.extend(touches.values().flatten().map(|touch| touch.item.clone()));
        let attribute_names: Vec<String> = tokens.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let attribute_index: HashMap<&str, u32> = attribute_names.iter().enumerate().map(|(at, name)| (name.as_str(), at as u32)).collect();

        let mut catalog = Catalog {
            item_ids: item_ids.into_iter().collect(),
            user_ids: touches.keys().cloned().collect(),
            attribute_names: attribute_names.clone(),
            ..Catalog::default()
        };
        catalog.items = catalog.item_ids.iter().map(|id| metas.get(id).cloned().unwrap_or_default()).collect();
        catalog.item_attributes = catalog
            .item_ids
            .iter()
            .map(|id| tokens.get(id).map(|names| names.iter().map(|name| attribute_index[name.as_str()]).collect()).unwrap_or_default())
            .collect();
        catalog.index();

        let (mut histories, mut times) = (Vec::with_capacity(touches.len()), Vec::with_capacity(touches.len()));
        let mut interactions = 0usize;
        for list in touches.values_mut() {
            list.sort_by_key(|touch| (touch.ts.unwrap_or(i64::MIN), touch.seq.unwrap_or(i64::MIN), touch.arrival));
            let (mut history, mut history_times): (Vec<u32>, Vec<i64>) = (Vec::with_capacity(list.len()), Vec::with_capacity(list.len()));
            for touch in list.iter() {
                let item = catalog.item(&touch.item).expect("every touched item is in the catalogue");
                if history.last() != Some(&item) {
                    history.push(item);
                    history_times.push(touch.ts.map_or(0, |ms| ms.div_euclid(1000)));
                }
            }
            interactions += history.len();
            histories.push(history);
            times.push(history_times);
        }
        let version = format!("users={} items={} interactions={interactions}", catalog.user_ids.len(), catalog.n_items());
        let prices = vec![None; catalog.n_items()];
        Self { catalog, histories, times, prices, version }
    }

    /// The number of history entries over all users.
    pub fn interactions(&self) -> usize {
        self.histories.iter().map(Vec::len).sum()
    }

    /// Encodes users' histories cut by `keep(history length) -> kept length` for a model plugin,
    /// with the items' attributes and their numeric features as the kept histories show them.
    pub fn interactions_for(&self, keep: impl Fn(usize) -> usize) -> Interactions {
        let mut data = Interactions {
            n_items: self.catalog.n_items() as u32,
            n_attributes: self.catalog.attribute_names.len() as u32,
            seq_offsets: vec![0],
            ..Interactions::default()
        };
        for (history, times) in self.histories.iter().zip(&self.times) {
            let kept = keep(history.len()).min(history.len());
            data.items.extend_from_slice(&history[..kept]);
            data.timestamps.extend_from_slice(&times[..kept]);
            data.seq_offsets.push(data.items.len() as u64);
        }
        data.attr_offsets.push(0);
        for attributes in &self.catalog.item_attributes {
            data.attributes.extend_from_slice(attributes);
            data.attr_offsets.push(data.attributes.len() as u64);
        }
        let kept: Vec<(&[u32], &[i64])> = data
            .seq_offsets
            .windows(2)
            .map(|w| (&data.items[w[0] as usize..w[1] as usize], &data.timestamps[w[0] as usize..w[1] as usize]))
            .collect();
        let (histories, times): (Vec<&[u32]>, Vec<&[i64]>) = kept.into_iter().unzip();
        let mut prices = self.prices.clone();
        prices.resize(self.catalog.n_items(), None);
        data.item_features = item_features(&prices, &histories, &times);
        data.feature_names = ITEM_FEATURES.iter().map(|name| name.to_string()).collect();
        data
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A dataset from `(user, [items])` sequences; items named `i<n>` with a brand per parity.
    pub fn dataset(sequences: &[(&str, &[u32])]) -> Dataset {
        let mut metas = BTreeMap::new();
        let mut tokens: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut touches: BTreeMap<String, Vec<Touch>> = BTreeMap::new();
        for (user, items) in sequences {
            for (at, item) in items.iter().enumerate() {
                let id = format!("i{item:02}");
                let brand = if item % 2 == 0 { "even" } else { "odd" };
                metas
                    .insert(id.clone(), ItemMeta { title: Some(format!("Item {item}")), brand: Some(brand.into()), ..ItemMeta::default() });
                tokens.entry(id.clone()).or_default().insert(format!("brand:{brand}"));
                touches.entry(user.to_string()).or_default().push(Touch { item: id, ts: None, seq: Some(at as i64), arrival: at });
            }
        }
        Dataset::build(metas, tokens, touches)
    }

    #[test]
    fn histories_are_ordered_by_time_then_seq_and_back_to_back_repeats_collapse() {
        let touches = BTreeMap::from([(
            "u".to_string(),
            vec![
                Touch { item: "b".into(), ts: Some(2000), seq: None, arrival: 0 },
                Touch { item: "a".into(), ts: Some(1000), seq: None, arrival: 1 },
                Touch { item: "a".into(), ts: Some(1500), seq: None, arrival: 2 },
                Touch { item: "c".into(), ts: Some(2000), seq: None, arrival: 3 },
            ],
        )]);
        let data = Dataset::build(BTreeMap::new(), BTreeMap::new(), touches);
        let names: Vec<&str> = data.histories[0].iter().map(|&item| data.catalog.item_ids[item as usize].as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(data.times[0], [1, 2, 2]);
        assert_eq!(data.version, "users=1 items=3 interactions=3");
    }

    #[test]
    fn interactions_carry_cut_histories_and_attributes() {
        let data = dataset(&[("u1", &[1, 2, 3]), ("u2", &[2, 4])]);
        let encoded = data.interactions_for(|len| len - 1);
        encoded.validate().unwrap();
        assert_eq!(encoded.n_users(), 2);
        assert_eq!(encoded.sequence(0).len(), 2);
        assert_eq!(encoded.sequence(1).len(), 1);
        let even = data.catalog.attribute_names.iter().position(|name| name == "brand:even").unwrap() as u32;
        assert_eq!(encoded.item_attributes(data.catalog.item("i02").unwrap() as usize), &[even]);
        // Counts come from the kept histories: i03 was cut from u1's.
        let interactions = |id: &str| encoded.features_of(data.catalog.item(id).unwrap() as usize)[1];
        assert_eq!((interactions("i02"), interactions("i03")), (2f32.ln_1p(), 0.0));
    }
}
