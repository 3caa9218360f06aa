//! The chatbot API end to end: a real HTTP server on the generated shop (FAQ, catalogue, orders
//! ingested through the pipeline), asked through the `examples/qa-client` library and binary:
//! grounded answers with sources, order privacy, conversation context and its expiry, hand-off,
//! API keys, the rate limit, size limits and the OpenAPI document.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpServer};
use agora::app::Node;
use agora_agents::RefreshKnowledge;
use agora_core::config::{EncoderChoice, QaClient};
use agora_qa::shop::{Orders, Products};
use agora_qa_client::{ClientError, Conversation, Reply};

use crate::common::{plugin_dir, wait_for_agent, TestShop};

const KEY: &str = "test-key-0123456789abcdef";
const SLOW_KEY: &str = "slow-key-0123456789abcdef";

/// Asks on a blocking thread (the client is synchronous).
async fn ask(chat: Conversation, question: &str) -> (Conversation, Result<Reply, ClientError>) {
    let question = question.to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let mut chat = chat;
        let reply = chat.ask(&question);
        (chat, reply)
    })
    .await
    .unwrap()
}

/// Asks one question in a new conversation and expects an answer.
async fn answer(addr: SocketAddr, user: Option<&str>, question: &str) -> Reply {
    let (_, reply) = ask(Conversation::new(&addr.to_string(), KEY, user), question).await;
    reply.unwrap_or_else(|err| panic!("{question:?}: {err}"))
}

async fn raw_post(addr: SocketAddr, headers: &str, body: String) -> (u16, serde_json::Value) {
    let headers = headers.to_string();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let request = format!(
            "POST /api/v1/qa HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        let json = response.split("\r\n\r\n").nth(1).and_then(|body| serde_json::from_str(body).ok()).unwrap_or_default();
        (status, json)
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn the_chatbot_api_answers_grounded_keeps_context_and_guards_access() {
    let shop = TestShop::small(91);
    let mut config = shop.config();
    config.recommend.enabled = false;
    config.forecast.enabled = false;
    config.qa.encoder = EncoderChoice::Hashing;
    config.qa.refresh_every_s = 0;
    config.qa.context_ttl_s = 3;
    config.qa.clients = vec![
        QaClient { name: "bot".into(), key: KEY.into(), requests_per_minute: 10_000 },
        QaClient { name: "slow".into(), key: SLOW_KEY.into(), requests_per_minute: 2 },
    ];
    let node = Node::start(config, false).unwrap();
    for source in ["faq", "catalog", "orders"] {
        let read = shop.manifest.sources[source].read;
        wait_for_agent(&node, &format!("ingest:{source}"), Duration::from_secs(60), |state| state.processed >= read).await;
    }
    let (responder, handle) = node.qa.clone().expect("the Responder runs under serve");
    // The start-up build may have read an empty store; build again from everything ingested.
    while let Err(err) = responder.send(RefreshKnowledge).await.unwrap() {
        assert!(err.to_string().contains("already running"), "{err}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    let info = handle.engine().unwrap().info().clone();
    assert!(info.faq_entries == 30 && info.encoder.starts_with("hashing"), "{info:?}");

    let app_node = node.clone();
    let server =
        HttpServer::new(move || App::new().configure(agora::http::configure(app_node.clone()))).workers(1).bind("127.0.0.1:0").unwrap();
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());

    // FAQ: a paraphrase finds the entry and cites it.
    let reply = answer(addr, None, "how long does delivery usually take?").await;
    assert_eq!((reply.intent.as_str(), reply.handoff), ("faq", false), "{reply:?}");
    assert_eq!(reply.sources[0].kind, "faq");
    assert_eq!(reply.sources[0].id, "faq-01", "{reply:?}");
    assert!(reply.confidence >= 0.45 && reply.confidence <= 1.0, "{reply:?}");

    // Orders: the customer's own order, by number.
    let store = node.store.clone();
    let orders = Orders::from_store(store.as_ref()).unwrap();
    let (owner, their_orders) = orders.iter().max_by_key(|(user, orders)| (orders.len(), user.to_string())).unwrap();
    let (owner, order_id) = (owner.to_string(), their_orders[0].order_id.clone());
    let reply = answer(addr, Some(&owner), &format!("where is my order {order_id}?")).await;
    assert_eq!((reply.intent.as_str(), reply.handoff), ("order_status", false), "{reply:?}");
    assert_eq!((reply.sources[0].kind.as_str(), reply.sources[0].id.as_str()), ("order", order_id.as_str()), "{reply:?}");
    assert!(reply.answer.contains(&order_id), "{reply:?}");
    // ... and what they bought, newest first.
    let reply = answer(addr, Some(&owner), "what did I buy recently?").await;
    assert_eq!((reply.intent.as_str(), reply.handoff), ("order_history", false), "{reply:?}");
    assert!(reply.sources.iter().all(|source| source.kind == "order" && their_orders.iter().any(|order| order.order_id == source.id)));

    // Never another customer's order: a hand-off that says nothing about it.
    let stranger =
        orders.iter().map(|(user, _)| user).find(|user| orders.of_user(user).iter().all(|order| order.order_id != order_id)).unwrap();
    let reply = answer(addr, Some(stranger), &format!("where is my order {order_id}?")).await;
    assert!(reply.handoff, "{reply:?}");
    assert!(reply.sources.is_empty() && !reply.answer.contains(&owner), "{reply:?}");
    assert!(reply.handoff_reason.as_deref().unwrap().contains("not on this customer's account"), "{reply:?}");
    // An anonymous visitor asking about an order gets no order: a hand-off asking for the
    // customer, or the FAQ's general answer.
    let reply = answer(addr, None, &format!("where is my order {order_id}?")).await;
    assert!(reply.sources.iter().all(|source| source.kind == "faq") && !reply.answer.contains(&order_id), "{reply:?}");
    assert!(!reply.handoff || reply.handoff_reason.as_deref().unwrap().contains("user_id"), "{reply:?}");

    // Products, with conversation context: "how much is it?" is about the product just named.
    let products = Products::from_store(store.as_ref()).unwrap();
    let product = (0..products.len())
        .map(|index| products.item(index))
        .find(|item| item.price.is_some() && item.available.is_some() && item.title.is_some())
        .unwrap();
    let title = product.title.clone().unwrap();
    let chat = Conversation::new(&addr.to_string(), KEY, None);
    let (chat, reply) = ask(chat, &format!("is the {title} in stock?")).await;
    let reply = reply.unwrap();
    assert_eq!((reply.intent.as_str(), reply.handoff), ("product_availability", false), "{reply:?}");
    assert!(reply.sources.iter().any(|source| source.kind == "item" && source.id == product.item_id), "{reply:?}");
    let conversation_id = chat.id().unwrap().to_string();
    let (chat, reply) = ask(chat, "how much is it?").await;
    let reply = reply.unwrap();
    assert_eq!((reply.intent.as_str(), reply.conversation_id.as_str()), ("product_price", conversation_id.as_str()), "{reply:?}");
    assert_eq!(reply.sources[0].id, product.item_id, "{reply:?}");
    assert!(reply.answer.contains(&format!("{:.2}", product.price.unwrap())), "{reply:?}");
    // The same follow-up in a new conversation has nothing to refer to.
    let reply = answer(addr, None, "how much is it?").await;
    assert!(reply.handoff || reply.sources.iter().all(|source| source.id != product.item_id), "{reply:?}");
    // Context expires after qa.context_ttl_s of silence.
    actix_rt::time::sleep(Duration::from_millis(3500)).await;
    let (_, reply) = ask(chat, "how much is it?").await;
    let reply = reply.unwrap();
    assert!(reply.sources.iter().all(|source| source.id != product.item_id), "the context expired: {reply:?}");

    // Hand-off: asked for a person, or a question the shop cannot ground.
    let reply = answer(addr, None, "I want to speak to a human agent").await;
    assert_eq!((reply.intent.as_str(), reply.handoff), ("human", true), "{reply:?}");
    for question in ["what is the boiling point of mercury in kelvin?", "who won the football world cup in 1966?"] {
        let reply = answer(addr, None, question).await;
        assert!(reply.handoff && reply.sources.is_empty(), "{question}: {reply:?}");
    }

    // Keys, rate limit, sizes.
    let body = serde_json::json!({ "question": "how long does delivery take?" }).to_string();
    assert_eq!(raw_post(addr, "", body.clone()).await.0, 401);
    assert_eq!(raw_post(addr, "Authorization: Bearer wrong-key-0123456789\r\n", body.clone()).await.0, 401);
    let (status, ok) = raw_post(addr, &format!("X-Api-Key: {KEY}\r\n"), body.clone()).await;
    assert_eq!(status, 200, "{ok}");
    let slow = Conversation::new(&addr.to_string(), SLOW_KEY, None);
    let (slow, first) = ask(slow, "hello").await;
    let (slow, second) = ask(slow, "hello").await;
    let (_, third) = ask(slow, "hello").await;
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert!(matches!(third, Err(ClientError::RateLimited { retry_after_s, .. }) if retry_after_s >= 1), "{third:?}");
    let auth = format!("Authorization: Bearer {KEY}\r\n");
    let long = serde_json::json!({ "question": "a".repeat(1001) }).to_string();
    assert_eq!(raw_post(addr, &auth, long).await.0, 413);
    let huge = format!("{{\"question\": \"{}\"}}", "b".repeat(20_000));
    let (status, error) = raw_post(addr, &auth, huge).await;
    assert_eq!((status, error["code"].as_str()), (413, Some("payload_too_large")), "{error}");
    let (status, error) = raw_post(addr, &auth, r#"{"question": "   "}"#.into()).await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = raw_post(addr, &auth, r#"{"question": "hi", "colour": "red"}"#.into()).await;
    assert!(status == 400 && error["message"].as_str().unwrap().contains("colour"), "{error}");

    // The OpenAPI document describes the route.
    let document: serde_json::Value = actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    })
    .await
    .unwrap();
    assert!(document["paths"]["/api/v1/qa"]["post"]["requestBody"].is_object(), "{document}");

    // The client's binary, as a chatbot backend would run it.
    let binary = plugin_dir().join(format!("qa-client{}", std::env::consts::EXE_SUFFIX));
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(binary).args(["--server", &addr.to_string(), "--key", KEY, "how much does shipping cost?"]).output()
    })
    .await
    .unwrap()
    .expect("qa-client is built by `cargo build --workspace`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("sources: faq:"), "{stdout} {}", String::from_utf8_lossy(&output.stderr));

    // The Responder reports its work.
    let state = wait_for_agent(&node, "qa", Duration::from_secs(5), |state| state.processed > 10).await;
    assert_eq!(state.errors, 0, "{state:?}");
}
