//! The Responder agent: keeps the customer-service QA engine in service. At start and every
//! `qa.refresh_every_s` it rebuilds the engine on a worker thread from what the store holds now
//! (FAQ entries, catalogue, orders) and swaps it in; a failed rebuild leaves the previous engine
//! answering. HTTP answers through a [`ResponderHandle`] on its own blocking threads, never the
//! mailbox, so a rebuild never delays an answer.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture};
use agora_core::config::QaConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::Store;
use agora_qa::responder::router_examples;
use agora_qa::{embed, Answer, Ask, ClientGate, Conversations, Embedder, Knowledge, QaEngine, Suggest};
use agora_recommend::{FusedModel, RecommendRequest};

use crate::error::AgentError;
use crate::recommender::RecommenderHandle;
use crate::state::{AgentStatus, GetState};
use crate::worker::{run_blocking, SharedState};

/// Name of the Responder agent.
pub const RESPONDER_NAME: &str = "qa";

/// Rebuilds the engine from the store now and answers when it is in service (or refused: a
/// rebuild is already running).
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct RefreshKnowledge;

/// What the HTTP layer answers with: the engine in service, the conversations and the
/// recommendations. Cheap to clone.
#[derive(Clone)]
pub struct ResponderHandle {
    engine: Arc<RwLock<Option<Arc<QaEngine>>>>,
    conversations: Arc<Conversations>,
    /// The chatbot clients allowed to ask, with their rate limits.
    pub clients: Arc<ClientGate>,
    recommend: Option<RecommenderHandle>,
    state: SharedState,
}

/// An answer and the conversation it belongs to.
pub struct Answered {
    /// The id the client sent, or a new one to send with the next question.
    pub conversation_id: String,
    pub answer: Answer,
}

impl ResponderHandle {
    fn new(config: &QaConfig, recommend: Option<RecommenderHandle>, state: SharedState) -> Self {
        Self {
            engine: Arc::default(),
            conversations: Arc::new(Conversations::new(config.context_ttl_s, config.max_conversations)),
            clients: Arc::new(ClientGate::new(config.clients.clone())),
            recommend,
            state,
        }
    }

    /// The engine in service, once the first build finished.
    pub fn engine(&self) -> Option<Arc<QaEngine>> {
        self.engine.read().expect("qa engine lock poisoned").clone()
    }

    /// Conversations remembered now.
    pub fn conversations(&self) -> usize {
        self.conversations.len()
    }

    /// Answers `ask` at `now_ms`, with and then updating its conversation's context. Blocking
    /// (it encodes the question): call it off the async threads.
    ///
    /// # Errors
    /// No engine yet ([`AgentError::NotReady`]), an empty question, or an encoder failure.
    pub fn answer(&self, ask: &Ask, now_ms: i64) -> Result<Answered, AgentError> {
        let engine = self.engine().ok_or_else(|| AgentError::NotReady("the QA engine is still being built; retry shortly".into()))?;
        let conversation_id = ask.conversation_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let context = self.conversations.get(&conversation_id, ask.user_id.as_deref(), now_ms).unwrap_or_default();
        let model = self.recommend.as_ref().and_then(RecommenderHandle::model);
        let suggest = self.recommend.as_ref().zip(model).map(|(handle, model)| RecommenderSuggest { handle, model });
        let (answer, context) = engine.answer(ask, context, suggest.as_ref().map(|suggest| suggest as &dyn Suggest), now_ms)?;
        self.conversations.put(&conversation_id, context, now_ms);
        self.state.update(|state| state.processed += 1);
        Ok(Answered { conversation_id, answer })
    }

    fn swap(&self, engine: QaEngine) {
        *self.engine.write().expect("qa engine lock poisoned") = Some(Arc::new(engine));
    }
}

/// Recommendations from the served model, by item id.
struct RecommenderSuggest<'a> {
    handle: &'a RecommenderHandle,
    model: Arc<FusedModel>,
}

impl Suggest for RecommenderSuggest<'_> {
    fn similar(&self, item_id: &str, k: usize) -> Vec<String> {
        let found = self.model.catalog.item(item_id).and_then(|item| self.model.similar(item, k).ok());
        found.unwrap_or_default().into_iter().map(|item| item.item_id).collect()
    }

    fn for_user(&self, user_id: Option<&str>, k: usize) -> Vec<String> {
        let history = user_id.map(|user| self.handle.history(&self.model, user).1).unwrap_or_default();
        let request = RecommendRequest { k, category: None, exclude_seen: true };
        self.model.recommend(&history, &request).unwrap_or_default().into_iter().map(|item| item.item_id).collect()
    }
}

/// Builds an engine from what `store` holds now, opening the encoder when `embedder` is `None`.
///
/// # Errors
/// The encoder cannot load, the intent examples are invalid, or a store read fails.
pub fn build_engine(
    store: &dyn Store,
    host: &PluginHost,
    config: &QaConfig,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<(QaEngine, Arc<dyn Embedder>), AgentError> {
    let embedder = match embedder {
        Some(embedder) => embedder,
        None => embed::open(config, host)?,
    };
    let knowledge = Knowledge::from_store(store)?;
    let examples = router_examples(config)?;
    let engine = QaEngine::build(knowledge, embedder.clone(), &examples, config)?;
    Ok((engine, embedder))
}

/// The Responder agent.
pub struct Responder {
    store: Arc<dyn Store>,
    host: Arc<PluginHost>,
    config: QaConfig,
    handle: ResponderHandle,
    state: SharedState,
    /// Opened by the first build, kept for the next ones.
    embedder: Option<Arc<dyn Embedder>>,
    building: bool,
}

impl Responder {
    /// A Responder answering from `store`, suggesting from `recommend` when given.
    pub fn new(store: Arc<dyn Store>, host: Arc<PluginHost>, config: QaConfig, recommend: Option<RecommenderHandle>) -> Self {
        let state = SharedState::new(RESPONDER_NAME, "qa");
        state.update(|state| state.status = AgentStatus::Starting);
        let handle = ResponderHandle::new(&config, recommend, state.clone());
        Self { store, host, config, handle, state, embedder: None, building: false }
    }

    /// The handle the HTTP layer answers with.
    pub fn handle(&self) -> ResponderHandle {
        self.handle.clone()
    }

    /// A rebuild on a worker thread that swaps the new engine in when it is done; `None` while
    /// another rebuild runs.
    fn rebuild(&mut self) -> Option<impl actix::ActorFuture<Self, Output = Result<(), AgentError>>> {
        if self.building {
            return None;
        }
        self.building = true;
        let (store, host, config, embedder) = (self.store.clone(), self.host.clone(), self.config.clone(), self.embedder.clone());
        let job = run_blocking(self.state.clone(), move || build_engine(store.as_ref(), &host, &config, embedder));
        Some(job.into_actor(self).map(|result, responder, _ctx| {
            responder.building = false;
            match result {
                Ok((engine, embedder)) => {
                    tracing::info!(
                        faq_entries = engine.info().faq_entries,
                        router_examples = engine.info().router_examples,
                        "qa engine rebuilt"
                    );
                    responder.embedder = Some(embedder);
                    responder.handle.swap(engine);
                    Ok(())
                }
                Err(err) => {
                    tracing::error!(error = %err, "qa engine rebuild failed; the previous engine keeps answering");
                    Err(err)
                }
            }
        }))
    }

    fn spawn_rebuild(&mut self, ctx: &mut Context<Self>) {
        if let Some(job) = self.rebuild() {
            ctx.spawn(job.map(|_, _, _| ()));
        }
    }
}

impl Actor for Responder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.spawn_rebuild(ctx);
        if self.config.refresh_every_s > 0 {
            ctx.run_interval(Duration::from_secs(self.config.refresh_every_s), |responder, ctx| responder.spawn_rebuild(ctx));
        }
    }
}

impl Handler<RefreshKnowledge> for Responder {
    type Result = ResponseActFuture<Self, Result<(), AgentError>>;

    fn handle(&mut self, _msg: RefreshKnowledge, _ctx: &mut Context<Self>) -> Self::Result {
        match self.rebuild() {
            Some(job) => Box::pin(job),
            None => Box::pin(actix::fut::ready(Err(AgentError::NotReady("a qa rebuild is already running".into())))),
        }
    }
}

impl Handler<GetState> for Responder {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.state.get())
    }
}
