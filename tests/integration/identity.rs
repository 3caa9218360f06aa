//! Identity stitching on the generated shop: anonymous events are kept, a session's login
//! attributes them to the user (in the store's links and the recommenders' histories), and an
//! operator can unlink or relink a session through the API, reversibly.

use std::collections::BTreeMap;

use actix_web::{test as web_test, App};
use agora::app::Node;
use agora_core::identity::anonymous_session;
use agora_core::record::{Record, RecordKind};
use agora_recommend::dataset::Dataset;
use serde_json::{json, Value};

use crate::common::TestShop;

const ADMIN: &str = "identity-test-admin-token-0123";

/// Every stored event as (user id, session, item).
fn stored_events(node: &Node) -> Vec<(String, Option<String>, String)> {
    let mut events = Vec::new();
    node.store
        .scan_records(RecordKind::Event, &mut |_, stored| {
            if let Record::Event(event) = stored.record {
                events.push((event.user_id, event.session, event.item_id));
            }
            true
        })
        .unwrap();
    events
}

#[actix_rt::test]
async fn anonymous_sessions_are_stitched_to_their_login_and_operators_can_undo_it() {
    let shop = TestShop::small(81);
    let mut config = shop.config();
    config.console.admin_token = Some(ADMIN.into());
    (config.recommend.enabled, config.forecast.enabled, config.qa.enabled) = (false, false, false);
    let node = Node::start(config, false).unwrap();
    let accepted = shop.manifest.sources["events"].accepted;
    let started = std::time::Instant::now();
    while node.store.count_records(RecordKind::Event).unwrap() < accepted {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the events were not all committed in time");
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = stored_events(&node);

    // Anonymous events were accepted (the ledger counts their user_id as missing), not quarantined.
    let anonymous: Vec<&(String, Option<String>, String)> = events.iter().filter(|(user, ..)| anonymous_session(user).is_some()).collect();
    assert!(anonymous.len() > 20, "{} anonymous events", anonymous.len());
    // The first named user of each session is its login.
    let mut logins: BTreeMap<&str, &str> = BTreeMap::new();
    for (user, session, _) in &events {
        if let (None, Some(session)) = (anonymous_session(user), session) {
            logins.entry(session.as_str()).or_insert(user.as_str());
        }
    }
    let links = node.store.identity_links().unwrap();
    let mut stitched = 0;
    for (user, session, _) in &anonymous {
        let session = session.as_deref().unwrap();
        assert_eq!(anonymous_session(user), Some(session), "stored under anon:<session>");
        match logins.get(session) {
            Some(login) => {
                assert_eq!(links.resolve(user), *login, "{user} belongs to the user its session logged in as");
                stitched += 1;
            }
            None => assert_eq!(links.resolve(user), user.as_str(), "a session that never logged in stays anonymous"),
        }
    }
    assert!(stitched > 20, "{stitched} stitched");

    // The operator API: a user's sessions, then unlink and relink one, reversibly.
    let (_, Some(session), item) =
        anonymous.iter().find(|(_, session, _)| logins.contains_key(session.as_deref().unwrap())).copied().unwrap()
    else {
        unreachable!()
    };
    let owner = logins[session.as_str()].to_string();
    let store = node.store.clone();
    let app = web_test::init_service(App::new().configure(agora::http::configure(node))).await;
    let admin = ("Authorization", format!("Bearer {ADMIN}"));
    let get = |uri: String| web_test::TestRequest::get().uri(&uri).insert_header(admin.clone()).to_request();
    let put = |user: Value| {
        web_test::TestRequest::put()
            .uri(&format!("/api/v1/identity/sessions/{session}"))
            .insert_header(admin.clone())
            .set_json(json!({ "user": user }))
            .to_request()
    };
    let refused =
        web_test::call_service(&app, web_test::TestRequest::get().uri(&format!("/api/v1/identity/users/{owner}")).to_request()).await;
    assert_eq!(refused.status(), 401, "an operator route");
    let view: Value = web_test::call_and_read_body_json(&app, get(format!("/api/v1/identity/users/{owner}"))).await;
    let sessions: Vec<&str> = view["sessions"].as_array().unwrap().iter().map(|s| s["session"].as_str().unwrap()).collect();
    assert!(sessions.contains(&session.as_str()), "{view}");
    assert_eq!(view["sessions"][0]["by_operator"], false, "{view}");

    let unlinked: Value = web_test::call_and_read_body_json(&app, put(Value::Null)).await;
    assert_eq!(unlinked["link"], Value::Null, "{unlinked}");
    let view: Value = web_test::call_and_read_body_json(&app, get(format!("/api/v1/identity/users/{owner}"))).await;
    assert!(!view["sessions"].as_array().unwrap().iter().any(|s| s["session"] == session.as_str()), "{view}");
    assert!(
        view["history"].as_array().unwrap().iter().any(|change| change["change"] == "unlinked" && change["session"] == session.as_str()),
        "{view}"
    );

    // Relinked to a user who never touched the item: the recommenders' histories follow.
    let stranger = "u-identity-test";
    let relinked: Value = web_test::call_and_read_body_json(&app, put(json!(stranger))).await;
    assert_eq!((relinked["link"]["user"].as_str(), relinked["link"]["by_operator"].as_bool()), (Some(stranger), Some(true)), "{relinked}");
    let dataset = Dataset::from_store(store.as_ref(), &agora_core::config::RecommendConfig::default()).unwrap();
    let user = dataset.catalog.user_ids.iter().position(|user| user == stranger).expect("the stranger now has a history");
    let history: Vec<&str> = dataset.histories[user].iter().map(|&item| dataset.catalog.item_ids[item as usize].as_str()).collect();
    assert_eq!(history, [item.as_str()], "the anonymous event's item is the stranger's history");

    let bad = web_test::TestRequest::put()
        .uri("/api/v1/identity/sessions/x")
        .insert_header(admin.clone())
        .set_json(json!({ "user": " " }))
        .to_request();
    assert_eq!(web_test::call_service(&app, bad).await.status(), 400);
}
