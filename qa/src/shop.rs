//! The shop facts answers are grounded in: the catalogue (found by a loosely written product name
//! or an item id) and each user's orders (found by order number or time), read from the store.

use std::collections::{HashMap, HashSet};

use agora_core::record::{Item, Record, RecordKind};
use agora_core::store::Store;

use crate::bm25::Bm25;
use crate::error::QaError;
use crate::text::{stem, terms, words};

/// Words that ask about a product rather than name it; they never identify one.
const PRODUCT_QUESTION_WORDS: &[&str] = &[
    "availability",
    "available",
    "brand",
    "buy",
    "cheap",
    "cheaper",
    "cost",
    "costs",
    "describe",
    "expensive",
    "how",
    "item",
    "made",
    "make",
    "maker",
    "makes",
    "many",
    "much",
    "price",
    "priced",
    "product",
    "sell",
    "similar",
    "something",
    "stock",
    "tell",
    "under",
    "what",
    "which",
    "who",
];

/// The catalogue, searchable by name.
pub struct Products {
    items: Vec<Item>,
    by_id: HashMap<String, usize>,
    bm25: Bm25,
    /// Each item's name terms (title and brand), for coverage.
    names: Vec<Vec<String>>,
}

/// Items a question names.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductMatch {
    /// Indices of the items, best first (several when the name fits them equally).
    pub items: Vec<usize>,
    /// How much of the best item's name the question contains, 0–1 (1 for an item id).
    pub coverage: f32,
}

impl Products {
    /// Indexes `items` by title, brand and most specific category.
    pub fn new(items: Vec<Item>) -> Self {
        let names: Vec<Vec<String>> = items
            .iter()
            .map(|item| {
                let mut name = terms(item.title.as_deref().unwrap_or(""));
                for term in terms(item.brand.as_deref().unwrap_or("")) {
                    if !name.contains(&term) {
                        name.push(term);
                    }
                }
                name
            })
            .collect();
        let docs: Vec<Vec<String>> = items
            .iter()
            .zip(&names)
            .map(|(item, name)| {
                let mut doc = name.clone();
                doc.extend(item.categories.last().map(|category| terms(category)).unwrap_or_default());
                doc
            })
            .collect();
        let by_id = items.iter().enumerate().map(|(index, item)| (item.item_id.clone(), index)).collect();
        Self { bm25: Bm25::new(&docs), items, by_id, names }
    }

    /// Reads every catalogue item in the store (the last record of an id wins).
    ///
    /// # Errors
    /// A store read fails.
    pub fn from_store(store: &dyn Store) -> Result<Self, QaError> {
        let mut items: Vec<Item> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        store.scan_records(RecordKind::Item, &mut |_, stored| {
            if let Record::Item(item) = stored.record {
                match seen.get(&item.item_id) {
                    Some(&index) => items[index] = item,
                    None => {
                        seen.insert(item.item_id.clone(), items.len());
                        items.push(item);
                    }
                }
            }
            true
        })?;
        Ok(Self::new(items))
    }

    /// Item `index`.
    pub fn item(&self, index: usize) -> &Item {
        &self.items[index]
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The index of the item with this id.
    pub fn by_id(&self, item_id: &str) -> Option<usize> {
        self.by_id.get(item_id).copied()
    }

    /// The items `question` names: an id after "sku", "item" or "product" ("sku-00042", "item
    /// 42"), else the best name match.
    pub fn find(&self, question: &str) -> Option<ProductMatch> {
        let tokens = words(question);
        for pair in tokens.windows(2) {
            if matches!(pair[0].as_str(), "sku" | "item" | "product" | "article") {
                let id = pair[1].trim_start_matches('0');
                if let Some(index) = self.by_id(&pair[1]).or_else(|| self.by_id(id)) {
                    return Some(ProductMatch { items: vec![index], coverage: 1.0 });
                }
            }
        }
        let query: Vec<String> = tokens
            .iter()
            .filter(|word| PRODUCT_QUESTION_WORDS.binary_search(&word.as_str()).is_err())
            .map(|word| stem(word))
            .filter(|term| !crate::text::is_stop_word(term))
            .collect();
        let scores = self.bm25.scores(&query);
        let best = scores.iter().copied().fold(0.0f32, f32::max);
        if best <= 0.0 {
            return None;
        }
        let mut items: Vec<usize> = (0..scores.len()).filter(|&index| scores[index] >= 0.97 * best).collect();
        items.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let coverage = self.coverage(items[0], &query);
        items.truncate(3);
        Some(ProductMatch { items, coverage })
    }

    /// The IDF-weighted share of item `index`'s name terms that `query` contains.
    fn coverage(&self, index: usize, query: &[String]) -> f32 {
        let query: HashSet<&str> = query.iter().map(String::as_str).collect();
        let (mut found, mut total) = (0.0, 0.0);
        for term in &self.names[index] {
            let weight = self.bm25.idf(term);
            total += weight;
            if query.contains(term.as_str()) {
                found += weight;
            }
        }
        if total > 0.0 {
            found / total
        } else {
            0.0
        }
    }
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderLine {
    pub item_id: String,
    pub quantity: f64,
    pub unit_price: Option<f64>,
}

/// One order of one user.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderSummary {
    pub order_id: String,
    /// When it was placed (its earliest line), UTC milliseconds.
    pub ts: i64,
    pub status: Option<String>,
    pub lines: Vec<OrderLine>,
}

impl OrderSummary {
    /// What the order cost, when every line has a price.
    pub fn total(&self) -> Option<f64> {
        self.lines.iter().map(|line| line.unit_price.map(|price| price * line.quantity)).sum()
    }
}

/// Every user's orders, newest first.
#[derive(Default)]
pub struct Orders {
    by_user: HashMap<String, Vec<OrderSummary>>,
}

impl Orders {
    /// Groups the store's order lines by user and order.
    ///
    /// # Errors
    /// A store read fails.
    pub fn from_store(store: &dyn Store) -> Result<Self, QaError> {
        let mut orders: HashMap<(String, String), OrderSummary> = HashMap::new();
        store.scan_records(RecordKind::Order, &mut |_, stored| {
            if let Record::Order(line) = stored.record {
                let summary = orders.entry((line.user_id.clone(), line.order_id.clone())).or_insert_with(|| OrderSummary {
                    order_id: line.order_id.clone(),
                    ts: line.ts,
                    status: None,
                    lines: Vec::new(),
                });
                summary.ts = summary.ts.min(line.ts);
                if line.status.is_some() {
                    summary.status = line.status.clone();
                }
                summary.lines.push(OrderLine { item_id: line.item_id, quantity: line.quantity, unit_price: line.unit_price });
            }
            true
        })?;
        Ok(Self::new(orders.into_iter().map(|((user, _), summary)| (user, summary))))
    }

    /// Builds the book from `(user, order)` pairs.
    pub fn new(orders: impl IntoIterator<Item = (String, OrderSummary)>) -> Self {
        let mut by_user: HashMap<String, Vec<OrderSummary>> = HashMap::new();
        for (user, order) in orders {
            by_user.entry(user).or_default().push(order);
        }
        for list in by_user.values_mut() {
            list.sort_by(|a, b| b.ts.cmp(&a.ts).then_with(|| b.order_id.cmp(&a.order_id)));
        }
        Self { by_user }
    }

    /// A user's orders, newest first (empty for an unknown user).
    pub fn of_user(&self, user: &str) -> &[OrderSummary] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// Number of users with orders.
    pub fn users(&self) -> usize {
        self.by_user.len()
    }

    /// Every user with orders and their orders (newest first), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[OrderSummary])> {
        self.by_user.iter().map(|(user, orders)| (user.as_str(), orders.as_slice()))
    }
}

/// Order numbers a question mentions: tokens with a digit ("1042", "#1042", "A-77" gives "77"),
/// in order. Which of them are the user's is for the caller to check.
pub fn order_numbers(question: &str) -> Vec<String> {
    words(question).into_iter().filter(|word| word.chars().any(|ch| ch.is_ascii_digit())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, brand: &str, price: f64) -> Item {
        Item { item_id: id.into(), title: Some(title.into()), brand: Some(brand.into()), price: Some(price), ..Item::default() }
    }

    #[test]
    fn question_words_are_sorted_for_binary_search() {
        assert!(PRODUCT_QUESTION_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn finds_products_named_loosely_or_by_id() {
        let products = Products::new(vec![
            item("1", "Bluebell rake 1", "Bluebell", 52.73),
            item("2", "Nordwind cream 2", "Nordwind", 74.91),
            item("3", "Bluebell rake 3", "Bluebell", 12.0),
            item("42", "Yoga mat", "Zen", 20.0),
        ]);
        let found = products.find("how much is the nordwind cream?").unwrap();
        assert_eq!(found.items, [1]);
        assert!(found.coverage > 0.5, "{found:?}");
        let rakes = products.find("is the Bluebell rake in stock").unwrap();
        assert_eq!(rakes.items.len(), 2, "{rakes:?}");
        assert_eq!(products.find("price of sku-00042").unwrap(), ProductMatch { items: vec![3], coverage: 1.0 });
        assert_eq!(products.find("how much does it cost?"), None);
    }

    #[test]
    fn orders_group_by_user_newest_first() {
        let line = |price| OrderLine { item_id: "1".into(), quantity: 2.0, unit_price: Some(price) };
        let orders = Orders::new([
            ("u1".to_string(), OrderSummary { order_id: "10".into(), ts: 1, status: None, lines: vec![line(1.0)] }),
            ("u1".to_string(), OrderSummary { order_id: "11".into(), ts: 5, status: Some("shipped".into()), lines: vec![line(2.5)] }),
        ]);
        assert_eq!(orders.of_user("u1")[0].order_id, "11");
        assert_eq!(orders.of_user("u1")[0].total(), Some(5.0));
        assert!(orders.of_user("u2").is_empty());
        assert_eq!(order_numbers("Where is order #1042 (placed 3rd May)?"), ["1042", "3rd"]);
    }
}
