//! The entity being matched: a product or customer record from one source, its fields as text,
//! and when the source last changed it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Dimensions of [`Entity::trigram_embedding`].
pub const TRIGRAM_EMBEDDING_DIMS: usize = 64;

/// Well-known field names; any other name is allowed too.
pub mod field {
    pub const TITLE: &str = "title";
    pub const BRAND: &str = "brand";
    pub const MODEL: &str = "model";
    pub const PRICE: &str = "price";
    pub const DESCRIPTION: &str = "description";
    pub const CATEGORY: &str = "category";
}

/// One record from one source. Empty field values are stored as absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The source's name (e.g. `abt`, `erp`, `shop`).
    pub source: String,
    /// The record's id, stable within its source.
    pub id: String,
    /// When the source last changed the record (ms since the epoch; 0 when unknown).
    pub ts: i64,
    /// Field values by name.
    pub fields: BTreeMap<String, String>,
}

impl Entity {
    /// An entity without fields.
    pub fn new(source: impl Into<String>, id: impl Into<String>, ts: i64) -> Self {
        Self { source: source.into(), id: id.into(), ts, fields: BTreeMap::new() }
    }

    /// Sets a field; an empty or blank value removes it (missing is explicit: absent).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets a field; an empty or blank value removes it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.fields.remove(name);
        } else {
            self.fields.insert(name.to_string(), trimmed.to_string());
        }
    }

    /// A field's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The title (or empty).
    pub fn title(&self) -> &str {
        self.get(field::TITLE).unwrap_or("")
    }

    /// A cheap, deterministic vector of [`Entity::match_text`]: hashed character trigrams,
    /// [`TRIGRAM_EMBEDDING_DIMS`] of them, unit length.
    pub fn trigram_embedding(&self) -> Vec<f32> {
        crate::text::trigram_vector(&self.match_text(), TRIGRAM_EMBEDDING_DIMS)
    }

    /// What a text encoder reads for this record: its title, brand and model number.
    pub fn match_text(&self) -> String {
        [field::TITLE, field::BRAND, field::MODEL]
            .iter()
            .filter_map(|name| self.get(name))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The price, when present and a positive number (currency signs and commas ignored).
    pub fn price(&self) -> Option<f64> {
        let text: String = self.get(field::PRICE)?.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
        text.parse::<f64>().ok().filter(|price| price.is_finite() && *price > 0.0)
    }

    /// `source/id`, unique across sources.
    pub fn key(&self) -> String {
        format!("{}/{}", self.source, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_are_missing_and_prices_parse() {
        let entity = Entity::new("a", "1", 0).with("title", "  ").with("price", "$1,299.00");
        assert_eq!(entity.get("title"), None);
        assert_eq!(entity.price(), Some(1299.0));
        assert_eq!(Entity::new("a", "1", 0).with("price", "n/a").price(), None);
    }
}
