//! QA playground: ask the customer-service engine as a chosen user (or anonymously) and see the
//! answer, its sources, confidence and whether it hands off to a person.

use std::fmt::Write;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_qa::Ask;
use serde::Deserialize;

use super::Flash;
use crate::app::Node;
use crate::console::layout::{esc, num, shell, table};
use crate::console::{guard_form, Admin, Refused};

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let body = form(&session.csrf, "", "", "", &node);
    shell("qa", "QA playground", query.flash.as_deref(), &session.csrf, &body)
}

/// The question form.
#[derive(Deserialize)]
pub struct AskForm {
    csrf: String,
    #[serde(default)]
    user: String,
    question: String,
    /// Kept between questions, so follow-ups ("how much is it?") have context.
    #[serde(default)]
    conversation: String,
}

/// `POST /console/qa`: answers and shows the page again with the answer under the form.
pub async fn ask(request: HttpRequest, node: web::Data<Node>, form_data: web::Form<AskForm>) -> Result<HttpResponse, Refused> {
    let session = guard_form(&request, &form_data.csrf)?;
    let AskForm { user, question, conversation, .. } = form_data.into_inner();
    let Some((_, handle)) = node.qa.clone() else {
        let body =
            form(&session.csrf, &user, "", "", &node) + &super::error_box("QA is off (qa.enabled = false) or not served by this process");
        return Ok(shell("qa", "QA playground", None, &session.csrf, &body));
    };
    let ask = Ask {
        question: question.clone(),
        user_id: Some(user.trim().to_string()).filter(|user| !user.is_empty()),
        conversation_id: Some(conversation.trim().to_string()).filter(|id| !id.is_empty()),
    };
    let answered = web::block(move || handle.answer(&ask, agora_core::now_ms())).await;
    let (conversation, result) = match answered {
        Ok(Ok(answered)) => {
            let answer = answered.answer;
            let sources: Vec<Vec<String>> = answer
                .sources
                .iter()
                .map(|source| {
                    vec![esc(&source.kind), format!("<code>{}</code>", esc(&source.id)), esc(source.title.as_deref().unwrap_or(""))]
                })
                .collect();
            let mut out = String::new();
            let _ = write!(
                out,
                r#"<section class="answer" aria-label="Answer"><h2>Answer</h2><blockquote>{}</blockquote><dl><dt>Intent</dt><dd>{}</dd><dt>Confidence</dt><dd><meter min="0" max="1" value="{confidence}" aria-label="confidence">{confidence}</meter> {confidence}</dd><dt>Hand-off to a person</dt><dd>{}</dd></dl>{}</section>"#,
                esc(&answer.answer),
                esc(&answer.intent),
                match &answer.handoff_reason {
                    Some(reason) if answer.handoff => format!("yes — {}", esc(reason)),
                    _ if answer.handoff => "yes".to_string(),
                    _ => "no".to_string(),
                },
                table("Sources", &["Kind", "Id", "Title"], &sources),
                confidence = num(f64::from(answer.confidence), 2),
            );
            (answered.conversation_id, out)
        }
        Ok(Err(err)) => (conversation, super::error_box(&err.to_string())),
        Err(err) => (conversation, super::error_box(&format!("answering failed: {err}"))),
    };
    let body = form(&session.csrf, &user, &conversation, &question, &node) + &result;
    Ok(shell("qa", "QA playground", None, &session.csrf, &body))
}

fn form(csrf: &str, user: &str, conversation: &str, question: &str, node: &Node) -> String {
    let status = match node.qa.as_ref().and_then(|(_, handle)| handle.engine()) {
        Some(engine) => {
            format!("Engine ready: encoder <code>{}</code>, {} FAQ entries.", esc(&engine.info().encoder), engine.info().faq_entries)
        }
        None => "The engine is still being built (or QA is off).".to_string(),
    };
    format!(
        r#"<p class="muted">{status} Answers here come from the same engine as <code>POST /api/v1/qa</code>; the console needs no chatbot API key.</p>
<form method="post" action="/console/qa" class="card"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="conversation" value="{}">
<label for="user">Ask as user id (empty: an anonymous visitor)</label><input id="user" name="user" value="{}">
<label for="question">Question</label><textarea id="question" name="question" rows="3" required>{}</textarea>
<button type="submit">Ask</button></form>"#,
        esc(csrf),
        esc(conversation),
        esc(user),
        esc(question)
    )
}
