//! The QA engine: routes a question by intent and answers it from the FAQ, the asking user's
//! orders, the catalogue or the recommender, citing its sources with a confidence — or hands it
//! to a human when it cannot ground an answer well enough.

use std::sync::Arc;

use agora_core::config::QaConfig;
use agora_core::record::{FaqEntry, Record, RecordKind};
use agora_core::store::Store;
use serde::{Deserialize, Serialize};

use crate::classifier::TrainOptions;
use crate::conversation::Context;
use crate::embed::Embedder;
use crate::error::QaError;
use crate::faq::FaqIndex;
use crate::intent::{parse_examples, read_examples, Example, IntentClassifier};
use crate::period::{price_limit, Period};
use crate::shop::{order_numbers, OrderSummary, Orders, Products};
use crate::text::words;

/// The built-in router examples (`text,category`).
pub const BUILTIN_INTENTS: &str = include_str!("intents.csv");

/// Every route the engine answers by; router examples must use these categories.
pub const ROUTES: [&str; 11] = [
    "faq",
    "greeting",
    "human",
    "order_history",
    "order_status",
    "out_of_scope",
    "product_availability",
    "product_brand",
    "product_info",
    "product_price",
    "recommend",
];

/// A question to answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    pub question: String,
    /// The signed-in customer asking, if any; only their own orders are ever used.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Keeps short context between questions; a new one is made when absent.
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// What an answer rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `faq`, `order` or `item`.
    pub kind: String,
    pub id: String,
    /// The FAQ question, the product title, or the order's date.
    pub title: Option<String>,
}

/// An answer, or a hand-off to a human.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The reply to show; for a hand-off, a line saying a person will take over.
    pub answer: String,
    /// The route the question took (one of [`ROUTES`]).
    pub intent: String,
    /// 0–1: how sure the engine is of the route and of the facts it found.
    pub confidence: f32,
    pub sources: Vec<Source>,
    /// True when a person should answer instead.
    pub handoff: bool,
    /// Why it was handed off.
    pub handoff_reason: Option<String>,
}

/// Suggestions from the recommender, by item id.
pub trait Suggest: Send + Sync {
    /// Items like `item_id`, best first.
    fn similar(&self, item_id: &str, k: usize) -> Vec<String>;
    /// Items for a user (what is popular for an unknown or absent user), best first.
    fn for_user(&self, user_id: Option<&str>, k: usize) -> Vec<String>;
}

/// What the engine was built from, for operators.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineInfo {
    pub encoder: String,
    pub faq_entries: usize,
    pub products: usize,
    pub users_with_orders: usize,
    pub router_examples: usize,
    /// The router's mean training cross-entropy per epoch.
    pub router_loss_curve: Vec<f32>,
    pub min_confidence: f32,
}

/// Everything the engine answers from.
pub struct Knowledge {
    pub faq: Vec<FaqEntry>,
    pub products: Products,
    pub orders: Orders,
}

impl Knowledge {
    /// Reads the FAQ entries, catalogue and orders stored now.
    ///
    /// # Errors
    /// A store read fails.
    pub fn from_store(store: &dyn Store) -> Result<Self, QaError> {
        let mut faq = Vec::new();
        store.scan_records(RecordKind::Faq, &mut |_, stored| {
            if let Record::Faq(entry) = stored.record {
                faq.push(entry);
            }
            true
        })?;
        faq.sort_by(|a, b| a.faq_id.cmp(&b.faq_id));
        Ok(Self { faq, products: Products::from_store(store)?, orders: Orders::from_store(store)? })
    }
}

/// The router examples `[qa]` asks for: the built-in ones plus the `intents_file`'s.
///
/// # Errors
/// The file cannot be read, or uses a category that is not a route.
pub fn router_examples(config: &QaConfig) -> Result<Vec<Example>, QaError> {
    let mut examples = parse_examples(BUILTIN_INTENTS, "built-in intents")?;
    if !config.intents_file.as_os_str().is_empty() {
        examples.extend(read_examples(&config.intents_file)?);
    }
    if let Some(example) = examples.iter().find(|example| !ROUTES.contains(&example.label.as_str())) {
        return Err(QaError::Examples {
            file: config.intents_file.display().to_string(),
            message: format!("category {:?} of {:?} is not a route; routes are {}", example.label, example.text, ROUTES.join(", ")),
        });
    }
    Ok(examples)
}

/// The question-answering engine; immutable once built, shared between threads.
pub struct QaEngine {
    embedder: Arc<dyn Embedder>,
    router: IntentClassifier,
    faq: FaqIndex,
    products: Products,
    orders: Orders,
    min_confidence: f32,
    currency: String,
    info: EngineInfo,
}

/// A route's reply before the confidence threshold is applied.
struct Reply {
    text: String,
    confidence: f32,
    sources: Vec<Source>,
    /// Set when the route itself knows a person must answer.
    handoff: Option<String>,
    /// Whether an FAQ answer may stand in for this hand-off.
    faq_may_answer: bool,
}

impl Reply {
    fn grounded(text: String, confidence: f32, sources: Vec<Source>) -> Self {
        Self { text, confidence, sources, handoff: None, faq_may_answer: true }
    }

    /// The route found nothing to stand on; a good FAQ match may still answer.
    fn handoff(reason: impl Into<String>, confidence: f32) -> Self {
        Self { text: String::new(), confidence, sources: Vec::new(), handoff: Some(reason.into()), faq_may_answer: true }
    }

    /// A person must answer, whatever the FAQ holds.
    fn person(reason: impl Into<String>, confidence: f32) -> Self {
        Self { faq_may_answer: false, ..Self::handoff(reason, confidence) }
    }
}

/// Most words a question the router calls a greeting may have and be answered as one.
const GREETING_MAX_WORDS: usize = 6;

/// Words one of which a greeting (or thanks, or goodbye) holds.
const GREETING_WORDS: [&str; 16] = [
    "afternoon",
    "bye",
    "cheers",
    "evening",
    "goodbye",
    "great",
    "hello",
    "hey",
    "hi",
    "hiya",
    "morning",
    "ok",
    "okay",
    "thank",
    "thanks",
    "thx",
];

/// Whether `question` is a short greeting, thanks or goodbye rather than a question.
fn is_greeting(question: &str) -> bool {
    let words = words(question);
    words.len() <= GREETING_MAX_WORDS && words.iter().any(|word| GREETING_WORDS.contains(&word.as_str()))
}

/// The line a hand-off shows the customer.
const HANDOFF_TEXT: &str = "I'm not sure I can answer that correctly, so I'm passing you to a colleague who will help.";

impl QaEngine {
    /// Indexes `knowledge` and trains the router on `examples`.
    ///
    /// # Errors
    /// The encoder fails or the examples cannot train a classifier.
    pub fn build(knowledge: Knowledge, embedder: Arc<dyn Embedder>, examples: &[Example], config: &QaConfig) -> Result<Self, QaError> {
        let texts: Vec<String> = examples.iter().map(|example| example.text.clone()).collect();
        let embeddings = embedder.embed(&texts)?;
        let router = IntentClassifier::train(examples, &embeddings, &TrainOptions::default())?;
        let faq = FaqIndex::build(knowledge.faq, embedder.as_ref(), config.dense_weight as f32)?;
        let info = EngineInfo {
            encoder: embedder.name(),
            faq_entries: faq.len(),
            products: knowledge.products.len(),
            users_with_orders: knowledge.orders.users(),
            router_examples: examples.len(),
            router_loss_curve: router.loss_curve().to_vec(),
            min_confidence: config.min_confidence as f32,
        };
        Ok(Self {
            embedder,
            router,
            faq,
            products: knowledge.products,
            orders: knowledge.orders,
            min_confidence: config.min_confidence as f32,
            currency: config.currency.clone(),
            info,
        })
    }

    /// What the engine was built from.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The `k` FAQ entries that best match `question` with their scores (the FAQ route's
    /// confidence), best first; for evaluation.
    ///
    /// # Errors
    /// The encoder fails.
    pub fn rank_faq(&self, question: &str, k: usize) -> Result<Vec<(String, f32)>, QaError> {
        let vector = self.embedder.embed(&[question.to_string()])?.pop().unwrap_or_default();
        Ok(self.faq.search(question, &vector, k).into_iter().map(|hit| (self.faq.entry(hit.entry).faq_id.clone(), hit.score)).collect())
    }

    /// Answers `ask` at `now_ms` given the conversation's `context`; returns the answer and the
    /// context to keep.
    ///
    /// # Errors
    /// An empty question or an encoder failure.
    pub fn answer(&self, ask: &Ask, context: Context, suggest: Option<&dyn Suggest>, now_ms: i64) -> Result<(Answer, Context), QaError> {
        let question = ask.question.trim();
        if question.is_empty() {
            return Err(QaError::InvalidQuestion("the question is empty".to_string()));
        }
        let vector = self.embedder.embed(&[question.to_string()])?.pop().unwrap_or_default();
        let (intent, p) = self.router.best(question, &vector);
        let intent = intent.to_string();
        let mut context = Context { user_id: ask.user_id.clone(), ..context };
        let reply = match intent.as_str() {
            // A greeting is short; a longer question that opens with one is asking something else.
            "greeting" if is_greeting(question) => Reply::grounded(
                "Hello! I can help with your orders, our products and the shop's policies. What would you like to know?".into(),
                p,
                Vec::new(),
            ),
            "greeting" => Reply::handoff("a greeting with a question the engine could not place", p * 0.5),
            "out_of_scope" => Reply::handoff("the question is outside what the shop's assistant covers", p),
            "human" => Reply::person("the customer asked for a person", p),
            "order_status" | "order_history" => self.order_reply(&intent, question, ask.user_id.as_deref(), &mut context, p, now_ms),
            "recommend" => self.recommend_reply(question, ask.user_id.as_deref(), &mut context, suggest, p),
            route if route.starts_with("product_") => self.product_reply(route, question, &mut context, p),
            _ => self.faq_reply(question, &vector),
        };
        // A data route that found nothing to stand on, or an unsure route, may still be an FAQ.
        if intent != "faq" && reply.faq_may_answer && (reply.handoff.is_some() || reply.confidence < self.min_confidence) {
            let faq = self.faq_reply(question, &vector);
            let needed = if reply.handoff.is_some() { self.min_confidence } else { self.min_confidence.max(reply.confidence) };
            if faq.handoff.is_none() && faq.confidence >= needed {
                return Ok((self.finish("faq", faq), context));
            }
        }
        Ok((self.finish(&intent, reply), context))
    }

    fn finish(&self, intent: &str, reply: Reply) -> Answer {
        let handoff_reason = reply.handoff.or_else(|| {
            (reply.confidence < self.min_confidence)
                .then(|| format!("confidence {:.2} is below qa.min_confidence {:.2}", reply.confidence, self.min_confidence))
        });
        let handoff = handoff_reason.is_some();
        Answer {
            answer: if handoff { HANDOFF_TEXT.to_string() } else { reply.text },
            intent: intent.to_string(),
            confidence: reply.confidence,
            sources: if handoff { Vec::new() } else { reply.sources },
            handoff,
            handoff_reason,
        }
    }

    fn faq_reply(&self, question: &str, vector: &[f32]) -> Reply {
        let Some(hit) = self.faq.search(question, vector, 1).pop() else {
            return Reply::handoff("the knowledge base is empty", 0.0);
        };
        let entry = self.faq.entry(hit.entry);
        Reply::grounded(
            entry.answer.clone(),
            hit.score,
            vec![Source { kind: "faq".into(), id: entry.faq_id.clone(), title: entry.questions.first().cloned() }],
        )
    }

    fn money(&self, amount: f64) -> String {
        format!("{}{amount:.2}", self.currency)
    }

    fn item_source(&self, index: usize) -> Source {
        let item = self.products.item(index);
        Source { kind: "item".into(), id: item.item_id.clone(), title: item.title.clone() }
    }

    fn item_name(&self, index: usize) -> String {
        let item = self.products.item(index);
        item.title.clone().unwrap_or_else(|| format!("item {}", item.item_id))
    }

    /// The products a question is about: named in it, else the conversation's last ones.
    fn products_in(&self, question: &str, context: &Context) -> Option<(Vec<usize>, f32)> {
        if let Some(found) = self.products.find(question).filter(|found| found.coverage >= 0.5) {
            return Some((found.items, found.coverage));
        }
        let remembered: Vec<usize> = context.items.iter().filter_map(|id| self.products.by_id(id)).collect();
        (!remembered.is_empty()).then_some((remembered, 1.0))
    }

    fn product_reply(&self, route: &str, question: &str, context: &mut Context, p: f32) -> Reply {
        let Some((items, coverage)) = self.products_in(question, context) else {
            return Reply::handoff("no product in the catalogue matches the question", p * 0.5);
        };
        context.items = items.iter().map(|&index| self.products.item(index).item_id.clone()).collect();
        let sentences: Vec<String> = items
            .iter()
            .map(|&index| {
                let item = self.products.item(index);
                let name = self.item_name(index);
                match route {
                    "product_price" => match item.price {
                        Some(price) => format!("{name} costs {}.", self.money(price)),
                        None => format!("{name} has no price listed at the moment."),
                    },
                    "product_availability" => match item.available {
                        Some(true) => format!("{name} is in stock."),
                        Some(false) => format!("{name} is out of stock at the moment."),
                        None => format!("I have no stock information for {name}."),
                    },
                    "product_brand" => match &item.brand {
                        Some(brand) => format!("{name} is made by {brand}."),
                        None => format!("The catalogue lists no brand for {name}."),
                    },
                    _ => self.describe(index),
                }
            })
            .collect();
        let lead = if items.len() > 1 { "A few products match that name. " } else { "" };
        Reply::grounded(
            format!("{lead}{}", sentences.join(" ")),
            p * coverage.max(0.75),
            items.iter().map(|&i| self.item_source(i)).collect(),
        )
    }

    fn describe(&self, index: usize) -> String {
        let item = self.products.item(index);
        let mut parts = vec![self.item_name(index)];
        if let Some(brand) = &item.brand {
            parts.push(format!("by {brand}"));
        }
        if !item.categories.is_empty() {
            parts.push(format!("in {}", item.categories.join(" > ")));
        }
        let mut text = format!("{}.", parts.join(" "));
        if let Some(description) = &item.description {
            text.push(' ');
            text.push_str(description.trim());
        }
        if !item.attributes.is_empty() {
            let attributes: Vec<String> = item.attributes.iter().map(|(key, value)| format!("{key}: {value}")).collect();
            text.push_str(&format!(" ({})", attributes.join(", ")));
        }
        if let Some(price) = item.price {
            text.push_str(&format!(" Price: {}.", self.money(price)));
        }
        text
    }

    fn order_reply(&self, intent: &str, question: &str, user: Option<&str>, context: &mut Context, p: f32, now_ms: i64) -> Reply {
        let Some(user) = user else {
            return Reply::handoff("order questions need a signed-in customer (user_id)", p);
        };
        let orders = self.orders.of_user(user);
        let mentioned = order_numbers(question);
        let named: Vec<&OrderSummary> =
            mentioned.iter().filter_map(|number| orders.iter().find(|order| order_id_matches(&order.order_id, number))).collect();
        if intent == "order_status" || !named.is_empty() {
            let order = match named.first() {
                Some(order) => *order,
                None if mentioned.iter().any(|number| number.len() >= 3 && number.chars().all(|ch| ch.is_ascii_digit())) => {
                    // Never say whose it is, or whether it exists for anyone else.
                    return Reply::person(format!("order {} is not on this customer's account", mentioned.join(", ")), p);
                }
                None => match context.order_id.as_ref().and_then(|id| orders.iter().find(|order| &order.order_id == id)).or(orders.first())
                {
                    Some(order) => order,
                    None => return Reply::grounded("I can't find any orders on your account.".into(), p, Vec::new()),
                },
            };
            context.order_id = Some(order.order_id.clone());
            return Reply::grounded(self.order_status(order), p, vec![self.order_source(order)]);
        }
        let period = Period::parse(question, now_ms);
        let chosen: Vec<&OrderSummary> = match &period {
            Some(period) => orders.iter().filter(|order| period.contains(order.ts)).collect(),
            None => orders.iter().take(5).collect(),
        };
        let when = period.as_ref().map_or_else(|| "recently".to_string(), |period| period.label.clone());
        if chosen.is_empty() {
            return Reply::grounded(format!("You have no orders from {when}."), p, Vec::new());
        }
        let mut lines = Vec::new();
        for order in &chosen {
            let items: Vec<String> = order
                .lines
                .iter()
                .map(|line| {
                    let name = self.products.by_id(&line.item_id).map_or_else(|| format!("item {}", line.item_id), |i| self.item_name(i));
                    format!("{} × {name}", line.quantity)
                })
                .collect();
            lines.push(format!("order {} on {}: {}", order.order_id, date(order.ts), items.join(", ")));
        }
        let spent: Option<f64> = chosen.iter().map(|order| order.total()).sum();
        let total = spent.map(|spent| format!(" ({} in all)", self.money(spent))).unwrap_or_default();
        context.order_id = chosen.first().map(|order| order.order_id.clone());
        Reply::grounded(
            format!("Your orders {when}{total}: {}.", lines.join("; ")),
            p,
            chosen.iter().map(|order| self.order_source(order)).collect(),
        )
    }

    fn order_status(&self, order: &OrderSummary) -> String {
        let count: f64 = order.lines.iter().map(|line| line.quantity).sum();
        let total = order.total().map(|total| format!(", {}", self.money(total))).unwrap_or_default();
        let state = match order.status.as_deref().map(str::to_lowercase).as_deref() {
            Some("paid") | Some("processing") => "has been paid and is being prepared for shipping".to_string(),
            Some("pending") => "is waiting for payment".to_string(),
            Some("shipped") => "has shipped and is on its way".to_string(),
            Some("delivered") => "has been delivered".to_string(),
            Some("cancelled") | Some("canceled") => "was cancelled".to_string(),
            Some("refunded") => "was refunded".to_string(),
            Some("returned") => "was returned".to_string(),
            Some(other) => format!("has the status \"{other}\""),
            None => "has no status recorded yet".to_string(),
        };
        format!("Order {} (placed {}, {count} item{}{total}) {state}.", order.order_id, date(order.ts), if count == 1.0 { "" } else { "s" })
    }

    fn order_source(&self, order: &OrderSummary) -> Source {
        Source { kind: "order".into(), id: order.order_id.clone(), title: Some(date(order.ts)) }
    }

    fn recommend_reply(&self, question: &str, user: Option<&str>, context: &mut Context, suggest: Option<&dyn Suggest>, p: f32) -> Reply {
        let Some(suggest) = suggest else {
            return Reply::handoff("recommendations are not being served (recommend.enabled = false or still training)", p);
        };
        let limit = price_limit(question);
        let anchor = self.products.find(question).filter(|found| found.coverage >= 0.5).map(|found| found.items[0]);
        let candidates = match anchor {
            Some(index) => suggest.similar(&self.products.item(index).item_id, 200),
            None => suggest.for_user(user, 200),
        };
        let picks: Vec<usize> = candidates
            .iter()
            .filter_map(|id| self.products.by_id(id))
            .filter(|&index| Some(index) != anchor)
            .filter(|&index| self.products.item(index).available != Some(false))
            .filter(|&index| limit.map_or(true, |limit| self.products.item(index).price.is_some_and(|price| price <= limit)))
            .take(3)
            .collect();
        let like = anchor.map(|index| format!(" like {}", self.item_name(index))).unwrap_or_default();
        let under = limit.map(|limit| format!(" at {} or less", self.money(limit))).unwrap_or_default();
        if picks.is_empty() {
            return Reply::grounded(format!("I couldn't find anything in stock{like}{under}."), p, Vec::new());
        }
        context.items = picks.iter().map(|&index| self.products.item(index).item_id.clone()).collect();
        let listed: Vec<String> = picks
            .iter()
            .map(|&index| match self.products.item(index).price {
                Some(price) => format!("{} ({})", self.item_name(index), self.money(price)),
                None => self.item_name(index),
            })
            .collect();
        let mut sources: Vec<Source> = picks.iter().map(|&index| self.item_source(index)).collect();
        if let Some(index) = anchor {
            sources.insert(0, self.item_source(index));
        }
        Reply::grounded(format!("You might like{like}{under}: {}.", listed.join(", ")), p, sources)
    }
}

/// Whether order id `id` is what a customer wrote as `written` ("#01042" for "1042").
fn order_id_matches(id: &str, written: &str) -> bool {
    let id = id.to_lowercase();
    id == written || id.trim_start_matches('0') == written.trim_start_matches('0') || words(&id).last().is_some_and(|last| last == written)
}

/// A UTC day such as "3 May 2024".
fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |time| time.format("%-d %b %Y").to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use agora_core::record::Item;

    use super::*;
    use crate::embed::HashingEmbedder;
    use crate::shop::OrderLine;

    const DAY_MS: i64 = 86_400_000;
    /// 15 May 2024, noon UTC.
    const NOW: i64 = 1_715_774_400_000;

    fn item(id: &str, title: &str, brand: &str, price: f64, available: bool) -> Item {
        Item {
            item_id: id.into(),
            title: Some(title.into()),
            description: None,
            brand: Some(brand.into()),
            categories: vec!["Home".into()],
            price: Some(price),
            available: Some(available),
            attributes: BTreeMap::new(),
        }
    }

    fn order(id: &str, days_ago: i64, status: &str, item: &str) -> OrderSummary {
        OrderSummary {
            order_id: id.into(),
            ts: NOW - days_ago * DAY_MS,
            status: Some(status.into()),
            lines: vec![OrderLine { item_id: item.into(), quantity: 1.0, unit_price: Some(10.0) }],
        }
    }

    fn engine() -> QaEngine {
        let faq = vec![
            FaqEntry {
                faq_id: "ship".into(),
                questions: vec!["How long does shipping take?".into(), "When will my parcel arrive?".into()],
                answer: "Standard delivery takes 3 to 5 working days.".into(),
            },
            FaqEntry {
                faq_id: "returns".into(),
                questions: vec!["What is your return policy?".into(), "Can I send an item back?".into()],
                answer: "You can return items within 30 days.".into(),
            },
        ];
        let products = Products::new(vec![
            item("1", "Bamboo toothbrush", "Greenly", 4.5, true),
            item("2", "Cotton bath towel", "Softy", 25.0, true),
            item("3", "Linen hand towel", "Softy", 12.0, true),
            item("4", "Silk hand towel", "Softy", 15.0, false),
        ]);
        let orders = Orders::new([
            ("alice".to_string(), order("1042", 3, "shipped", "1")),
            ("alice".to_string(), order("977", 40, "delivered", "2")),
            ("bob".to_string(), order("2001", 1, "paid", "3")),
        ]);
        let config = QaConfig::default();
        let examples = router_examples(&config).unwrap();
        QaEngine::build(Knowledge { faq, products, orders }, Arc::new(HashingEmbedder::default()), &examples, &config).unwrap()
    }

    fn ask(engine: &QaEngine, question: &str, user: Option<&str>, suggest: Option<&dyn Suggest>) -> Answer {
        let ask = Ask { question: question.into(), user_id: user.map(str::to_string), conversation_id: None };
        engine.answer(&ask, Context::default(), suggest, NOW).unwrap().0
    }

    /// Suggests every towel, cheapest last, whatever is asked.
    struct Towels;

    impl Suggest for Towels {
        fn similar(&self, _item_id: &str, _k: usize) -> Vec<String> {
            vec!["2".into(), "4".into(), "3".into()]
        }

        fn for_user(&self, _user_id: Option<&str>, _k: usize) -> Vec<String> {
            vec!["2".into(), "4".into(), "3".into()]
        }
    }

    #[test]
    fn orders_are_answered_from_the_askers_own_orders_only() {
        let engine = engine();
        let own = ask(&engine, "where is my order 1042?", Some("alice"), None);
        assert_eq!((own.intent.as_str(), own.handoff, own.sources[0].id.as_str()), ("order_status", false, "1042"), "{own:?}");
        assert!(own.answer.contains("shipped"), "{own:?}");
        let other = ask(&engine, "where is my order 2001?", Some("alice"), None);
        assert!(other.handoff && other.sources.is_empty() && !other.answer.contains("paid"), "{other:?}");
        let month = ask(&engine, "what did I buy last month?", Some("alice"), None);
        assert_eq!(month.intent, "order_history", "{month:?}");
        assert_eq!(month.sources.iter().map(|source| source.id.as_str()).collect::<Vec<_>>(), ["977"], "{month:?}");
    }

    #[test]
    fn recommendations_respect_the_price_limit_and_stock() {
        let engine = engine();
        let reply = ask(&engine, "can you suggest something like the cotton bath towel under 20 dollars?", None, Some(&Towels));
        assert_eq!((reply.intent.as_str(), reply.handoff), ("recommend", false), "{reply:?}");
        let ids: Vec<&str> = reply.sources.iter().map(|source| source.id.as_str()).collect();
        // The anchor first, then only the in-stock towel at $20 or less.
        assert_eq!(ids, ["2", "3"], "{reply:?}");
        assert!(reply.answer.contains("$12.00") && !reply.answer.contains("Silk"), "{reply:?}");
        let without = ask(&engine, "can you recommend something nice?", None, None);
        assert!(without.handoff, "no recommender, no suggestions: {without:?}");
    }

    #[test]
    fn products_faq_greetings_and_handoffs() {
        let engine = engine();
        let price = ask(&engine, "how much is the bamboo toothbrush?", None, None);
        assert_eq!((price.intent.as_str(), price.sources[0].id.as_str()), ("product_price", "1"), "{price:?}");
        assert!(price.answer.contains("$4.50"), "{price:?}");
        let faq = ask(&engine, "how long does shipping take?", None, None);
        assert_eq!((faq.intent.as_str(), faq.sources[0].id.as_str(), faq.handoff), ("faq", "ship", false), "{faq:?}");
        let hello = ask(&engine, "hello", None, None);
        assert_eq!((hello.intent.as_str(), hello.handoff), ("greeting", false), "{hello:?}");
        let person = ask(&engine, "let me talk to a real person", None, None);
        assert_eq!((person.intent.as_str(), person.handoff), ("human", true), "{person:?}");
        let off_topic = ask(&engine, "what is the capital of australia?", None, None);
        assert!(off_topic.handoff && off_topic.sources.is_empty(), "{off_topic:?}");
        let empty = engine.answer(&Ask { question: "  ".into(), ..Ask::default() }, Context::default(), None, NOW);
        assert!(matches!(empty, Err(QaError::InvalidQuestion(_))));
    }

    #[test]
    fn router_examples_must_use_routes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("intents.csv");
        std::fs::write(&file, "text,category\nwhere can I park,parking\n").unwrap();
        let config = QaConfig { intents_file: file, ..QaConfig::default() };
        let err = router_examples(&config).unwrap_err().to_string();
        assert!(err.contains("\"parking\"") && err.contains("out_of_scope"), "{err}");
    }
}
