//! Canonical records: the shapes every source is cleaned into (DESIGN §3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which canonical record a source produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Event,
    Item,
    Order,
    Review,
    Question,
    Faq,
}

impl RecordKind {
    /// Every kind, in key-prefix order.
    pub const ALL: [RecordKind; 6] = [Self::Event, Self::Item, Self::Order, Self::Review, Self::Question, Self::Faq];

    /// The one-byte key prefix of this kind in the records tree.
    pub fn tag(self) -> u8 {
        match self {
            Self::Event => 1,
            Self::Item => 2,
            Self::Order => 3,
            Self::Review => 4,
            Self::Question => 5,
            Self::Faq => 6,
        }
    }

    /// The config name of this kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Item => "item",
            Self::Order => "order",
            Self::Review => "review",
            Self::Question => "question",
            Self::Faq => "faq",
        }
    }

    /// The canonical fields of this kind with their types and whether a record needs them.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Self::Event => EVENT_FIELDS,
            Self::Item => ITEM_FIELDS,
            Self::Order => ORDER_FIELDS,
            Self::Review => REVIEW_FIELDS,
            Self::Question => QUESTION_FIELDS,
            Self::Faq => FAQ_FIELDS,
        }
    }

    /// Looks up a canonical field of this kind by name.
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|spec| spec.name == name)
    }
}

const fn f(name: &'static str, ty: FieldType, required: bool) -> FieldSpec {
    FieldSpec { name, ty, required }
}

use FieldType::{Attributes, Bool, EventKind as Kind, Id, Integer, List, Number, Text, Timestamp};

const EVENT_FIELDS: &[FieldSpec] = &[
    f("user_id", Id, true),
    f("item_id", Id, true),
    f("kind", Kind, true),
    f("value", Number, false),
    f("ts", Timestamp, true),
    f("session", Text, false),
];
const ITEM_FIELDS: &[FieldSpec] = &[
    f("item_id", Id, true),
    f("title", Text, false),
    f("description", Text, false),
    f("brand", Text, false),
    f("categories", List, false),
    f("price", Number, false),
    f("available", Bool, false),
    f("attributes", Attributes, false),
];
const ORDER_FIELDS: &[FieldSpec] = &[
    f("order_id", Id, true),
    f("line", Integer, false),
    f("user_id", Id, true),
    f("item_id", Id, true),
    f("quantity", Number, true),
    f("unit_price", Number, false),
    f("ts", Timestamp, true),
    f("status", Text, false),
];
const REVIEW_FIELDS: &[FieldSpec] = &[
    f("user_id", Id, true),
    f("item_id", Id, true),
    f("rating", Number, false),
    f("text", Text, false),
    f("ts", Timestamp, false),
    f("seq", Integer, false),
];
const QUESTION_FIELDS: &[FieldSpec] = &[f("user_id", Id, false), f("text", Text, true), f("ts", Timestamp, false)];
const FAQ_FIELDS: &[FieldSpec] = &[f("faq_id", Id, true), f("questions", List, true), f("answer", Text, true)];

/// The value type of a canonical field, which decides how raw values are coerced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// An entity id: trimmed string, normalised by the source's id rules.
    Id,
    /// Free text: NFC, whitespace collapsed, HTML entities decoded.
    Text,
    /// A float (currency symbols and thousands separators accepted).
    Number,
    /// A whole number.
    Integer,
    /// true/false, yes/no, 1/0.
    Bool,
    /// A point in time, normalised to UTC milliseconds.
    Timestamp,
    /// A list of strings (a JSON array, or text split by the source's list separator).
    List,
    /// view | click | cart | purchase | rating | review.
    EventKind,
    /// Extra string attributes gathered from the columns the mapping names.
    Attributes,
}

/// A canonical field: name, type, and whether a record is invalid without it.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
}

/// What kind of behaviour an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    Click,
    Cart,
    Purchase,
    Rating,
    Review,
}

impl EventKind {
    /// The accepted spellings, for error messages.
    pub const NAMES: &'static str = "view, click, cart, purchase, rating, review";

    /// Parses a kind case-insensitively, accepting a few common synonyms.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "view" | "page_view" | "pageview" | "detail" => Self::View,
            "click" => Self::Click,
            "cart" | "add_to_cart" | "addtocart" => Self::Cart,
            "purchase" | "buy" | "transaction" | "order" => Self::Purchase,
            "rating" | "rate" => Self::Rating,
            "review" => Self::Review,
            _ => return None,
        })
    }
}

/// A behaviour event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub user_id: String,
    pub item_id: String,
    pub kind: EventKind,
    pub value: Option<f64>,
    /// UTC milliseconds since the epoch.
    pub ts: i64,
    pub session: Option<String>,
}

/// A catalogue item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub item_id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub brand: Option<String>,
    pub categories: Vec<String>,
    pub price: Option<f64>,
    pub available: Option<bool>,
    pub attributes: BTreeMap<String, String>,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub line: Option<i64>,
    pub user_id: String,
    pub item_id: String,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    /// UTC milliseconds since the epoch.
    pub ts: i64,
    pub status: Option<String>,
}

/// A product review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub user_id: String,
    pub item_id: String,
    pub rating: Option<f64>,
    pub text: Option<String>,
    pub ts: Option<i64>,
    /// The review's position in its user's history, for sources that give an order but no times.
    pub seq: Option<i64>,
}

/// A customer-service question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub user_id: Option<String>,
    pub text: String,
    pub ts: Option<i64>,
}

/// A knowledge-base entry: several phrasings of one question and its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaqEntry {
    pub faq_id: String,
    pub questions: Vec<String>,
    pub answer: String,
}

/// Any canonical record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Event(Event),
    Item(Item),
    Order(Order),
    Review(Review),
    Question(Question),
    Faq(FaqEntry),
}

impl Record {
    /// The kind of this record.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Event(_) => RecordKind::Event,
            Self::Item(_) => RecordKind::Item,
            Self::Order(_) => RecordKind::Order,
            Self::Review(_) => RecordKind::Review,
            Self::Question(_) => RecordKind::Question,
            Self::Faq(_) => RecordKind::Faq,
        }
    }
}

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The configured source name.
    pub source: String,
    /// The source's locator of the record (e.g. `path@byte-offset`, or a push request line).
    pub offset: String,
    /// When the record was committed, UTC milliseconds.
    pub ingested_at: i64,
}

/// A canonical record as stored, with its provenance, the fields the cleaner had to fill, and
/// the record as the source gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub record: Record,
    pub provenance: Provenance,
    /// Canonical fields whose value was imputed or defaulted rather than read.
    pub filled: Vec<String>,
    /// The source's fields as read (JSON), when `store.keep_raw` is on.
    pub raw: Option<String>,
}
