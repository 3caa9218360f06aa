//! `qa-client`: asks Agora's chatbot API questions in one conversation, from the command line or,
//! without questions, one per line of standard input.
//!
//! `qa-client [--server 127.0.0.1:8080] [--key KEY] [--user USER_ID] [QUESTION ...]`
//! (the key defaults to `$AGORA_QA_KEY`).

use std::io::BufRead;
use std::process::ExitCode;

use agora_qa_client::{ClientError, Conversation, Reply};

fn main() -> ExitCode {
    let mut server = "127.0.0.1:8080".to_string();
    let mut key = std::env::var("AGORA_QA_KEY").unwrap_or_default();
    let mut user = None;
    let mut questions = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--server" => server = args.next().unwrap_or_default(),
            "--key" => key = args.next().unwrap_or_default(),
            "--user" => user = args.next(),
            "-h" | "--help" => {
                println!("qa-client [--server HOST:PORT] [--key KEY] [--user USER_ID] [QUESTION ...]");
                return ExitCode::SUCCESS;
            }
            _ => questions.push(arg),
        }
    }
    if key.is_empty() {
        eprintln!("qa-client: no API key: pass --key or set AGORA_QA_KEY (a [[qa.clients]] key)");
        return ExitCode::from(2);
    }
    let mut chat = Conversation::new(&server, &key, user.as_deref());
    let mut ask = |question: &str| -> Result<(), ClientError> {
        print(question, &chat.ask(question)?);
        Ok(())
    };
    let result = if questions.is_empty() {
        std::io::stdin().lock().lines().map_while(Result::ok).filter(|line| !line.trim().is_empty()).try_for_each(|line| ask(&line))
    } else {
        questions.iter().try_for_each(|question| ask(question))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("qa-client: {err}");
            ExitCode::FAILURE
        }
    }
}

fn print(question: &str, reply: &Reply) {
    println!("> {question}");
    println!("{}", reply.answer);
    let sources: Vec<String> = reply.sources.iter().map(|source| format!("{}:{}", source.kind, source.id)).collect();
    let handoff = reply.handoff_reason.as_ref().map(|reason| format!(", handed off: {reason}")).unwrap_or_default();
    println!("  [{} {:.2}{handoff}; sources: {}]", reply.intent, reply.confidence, sources.join(", "));
}
