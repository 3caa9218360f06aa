//! A chatbot backend's client for Agora's `POST /api/v1/qa`, written against the OpenAPI
//! document with nothing but `std::net`: it keeps the conversation id between questions so
//! follow-ups ("how much is it?") resolve, and turns refusals into typed errors.
//!
//! ```no_run
//! let mut chat = agora_qa_client::Conversation::new("127.0.0.1:8080", "demo-key-change-me-0123456789", Some("u1"));
//! let reply = chat.ask("is the bamboo toothbrush in stock?").unwrap();
//! println!("{} ({:?})", reply.answer, reply.sources);
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::Deserialize;

/// What an answer cites.
#[derive(Clone, Debug, Deserialize)]
pub struct Source {
    pub kind: String,
    pub id: String,
    pub title: Option<String>,
}

/// The API's answer.
#[derive(Clone, Debug, Deserialize)]
pub struct Reply {
    pub conversation_id: String,
    pub answer: String,
    pub intent: String,
    pub confidence: f32,
    pub sources: Vec<Source>,
    pub handoff: bool,
    pub handoff_reason: Option<String>,
}

/// Why a question got no answer.
#[derive(Debug)]
pub enum ClientError {
    /// The server could not be reached or the connection broke.
    Io(std::io::Error),
    /// The key was refused (401/403).
    Auth(String),
    /// Over the client's rate limit; retry after this many seconds.
    RateLimited { retry_after_s: u64, message: String },
    /// Any other non-200 answer: the status and the server's message.
    Status { status: u16, message: String },
    /// The response was not the documented JSON.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(err) => write!(f, "connection failed: {err}"),
            Self::Auth(message) => write!(f, "refused: {message}"),
            Self::RateLimited { retry_after_s, message } => write!(f, "rate limited (retry in {retry_after_s} s): {message}"),
            Self::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            Self::Protocol(message) => write!(f, "unexpected response: {message}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

/// One customer's conversation with the chatbot API.
pub struct Conversation {
    address: String,
    key: String,
    user_id: Option<String>,
    conversation_id: Option<String>,
    timeout: Duration,
}

impl Conversation {
    /// A conversation with the server at `address` (`host:port`), as the client owning `key`,
    /// for the signed-in customer `user_id` (or an anonymous visitor).
    pub fn new(address: &str, key: &str, user_id: Option<&str>) -> Self {
        let address = address.trim_start_matches("http://").trim_end_matches('/').to_string();
        Self {
            address,
            key: key.to_string(),
            user_id: user_id.map(str::to_string),
            conversation_id: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// The conversation id the server gave, once it answered.
    pub fn id(&self) -> Option<&str> {
        self.conversation_id.as_deref()
    }

    /// Asks `question` in this conversation.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn ask(&mut self, question: &str) -> Result<Reply, ClientError> {
        let body = serde_json::json!({
            "question": question,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
        })
        .to_string();
        let (status, headers, body) = self.post("/api/v1/qa", &body)?;
        let message = || {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| value["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned())
        };
        match status {
            200 => {
                let reply: Reply = serde_json::from_slice(&body).map_err(|err| ClientError::Protocol(err.to_string()))?;
                self.conversation_id = Some(reply.conversation_id.clone());
                Ok(reply)
            }
            401 | 403 => Err(ClientError::Auth(message())),
            429 => {
                let retry_after_s = header(&headers, "retry-after").and_then(|value| value.parse().ok()).unwrap_or(1);
                Err(ClientError::RateLimited { retry_after_s, message: message() })
            }
            status => Err(ClientError::Status { status, message: message() }),
        }
    }

    /// Sends one HTTP/1.1 POST and reads the whole response: status, headers, body.
    fn post(&self, path: &str, body: &str) -> Result<(u16, Vec<(String, String)>, Vec<u8>), ClientError> {
        let mut stream = TcpStream::connect(&self.address)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            self.key,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        parse_response(&response)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// Splits a raw HTTP/1.1 response; decodes a chunked body.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<(String, String)>, Vec<u8>), ClientError> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").ok_or_else(|| ClientError::Protocol("no header end".into()))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| ClientError::Protocol("headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| ClientError::Protocol(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|line| line.split_once(':')).map(|(key, value)| (key.trim().to_string(), value.trim().to_string())).collect();
    let body = &raw[split + 4..];
    let body = if header(&headers, "transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, headers, body))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    loop {
        let end = body.windows(2).position(|window| window == b"\r\n").ok_or_else(|| ClientError::Protocol("bad chunk".into()))?;
        let size_text = std::str::from_utf8(&body[..end]).unwrap_or_default();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| ClientError::Protocol(format!("bad chunk size {size_text:?}")))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err(ClientError::Protocol("truncated chunk".into()));
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let (status, headers, body) =
            parse_response(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((status, header(&headers, "retry-after"), body.as_slice()), (429, Some("3"), b"{}".as_slice()));
        let (_, _, body) =
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"abcde");
        assert!(parse_response(b"garbage").is_err());
    }
}
