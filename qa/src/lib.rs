//! agora-qa: the customer-service question answering behind the Responder agent, `POST
//! /api/v1/qa` and `agora eval qa`. No actors and no HTTP here.
//!
//! - [`text`], [`bm25`], [`embed`]: words and stems, BM25, sentence encoders (MiniLM through the
//!   torch plugin, or pure-Rust hashing);
//! - [`classifier`], [`intent`]: logistic regression and the intent classifier trained from
//!   `text,category` examples;
//! - [`faq`]: hybrid BM25 + dense retrieval over the knowledge base;
//! - [`shop`], [`period`]: the catalogue and each user's orders; dates and price limits in questions;
//! - [`conversation`]: short per-conversation context that expires;
//! - [`responder`]: routing a question to the FAQ, orders, products or recommendations, with
//!   sources, confidence and hand-off;
//! - [`clients`]: the chatbot clients' API keys and rate limits.

pub mod bm25;
pub mod classifier;
pub mod clients;
pub mod conversation;
pub mod embed;
pub mod error;
pub mod faq;
pub mod intent;
pub mod period;
pub mod responder;
pub mod shop;
pub mod text;

pub use clients::{ClientGate, Refusal};
pub use conversation::{Context, Conversations};
pub use embed::Embedder;
pub use error::QaError;
pub use responder::{Answer, Ask, EngineInfo, Knowledge, QaEngine, Source, Suggest};
