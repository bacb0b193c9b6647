//! The smoke suite's HTTP: one request with a timeout, the answer read whole (within a cap),
//! and the retry rule of the suite: what says nothing about the platform (no connection, a
//! timeout, a gateway that could not reach it) is retried within a budget; an answer is never
//! retried here, whatever it says. The checks decide what an answer means.

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::Value;

use super::pause;

/// A request is tried at most this often when it gets no answer from the platform.
const ATTEMPTS: u32 = 3;

/// Answers are read up to this size: far more than any endpoint of the suite returns, and
/// small enough that a runaway body cannot hold the run.
const MAX_READ: usize = 1 << 20;

/// One request of the suite.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub method: Method,
    pub url: Url,
    pub json: Option<Value>,
    pub bearer: Option<String>,
}

impl Request {
    pub fn get(url: Url) -> Request {
        Request {
            method: Method::GET,
            url,
            json: None,
            bearer: None,
        }
    }

    pub fn post(url: Url, json: Value) -> Request {
        Request {
            method: Method::POST,
            url,
            json: Some(json),
            bearer: None,
        }
    }

    pub fn bearer(mut self, token: &str) -> Request {
        self.bearer = Some(token.to_string());
        self
    }
}

/// What the platform answered.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: String,
    /// The body, when it is JSON.
    pub json: Option<Value>,
}

impl Answer {
    /// The string at a JSON pointer of the body (`/data/status`).
    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.json.as_ref()?.pointer(pointer)?.as_str()
    }

    /// What the body holds at `pointer`, for a message: `"down"`, `3`, or `missing`.
    pub fn shown_at(&self, pointer: &str) -> String {
        match self.json.as_ref().and_then(|j| j.pointer(pointer)) {
            Some(value) => value.to_string(),
            None if self.json.is_none() => "missing (the body is not JSON)".to_string(),
            None => "missing".to_string(),
        }
    }
}

/// Why a request got no answer from the platform.
#[derive(Debug, Clone)]
pub(super) enum NoAnswer {
    /// No connection, a reset, a timeout: the platform (or the forward to it) did not answer.
    Transport(String),
    /// A gateway answered for it (502, 504): the platform behind it did not.
    Gateway(Answer),
}

impl NoAnswer {
    pub fn describe(&self) -> String {
        match self {
            NoAnswer::Transport(why) => why.clone(),
            NoAnswer::Gateway(answer) => format!("HTTP {} from a gateway", answer.status),
        }
    }
}

/// The suite's HTTP client.
pub(super) struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    pub fn new(client: reqwest::Client, timeout: Duration) -> Http {
        Http { client, timeout }
    }

    /// `request`, tried again (at most [`ATTEMPTS`] times) while it gets no answer from the
    /// platform. The answer, whatever its status, is returned as it came.
    pub async fn send(&self, request: &Request) -> Result<Answer, NoAnswer> {
        let mut attempt = 1;
        loop {
            match self.once(request).await {
                Err(no_answer) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        "{} {}: {} (attempt {attempt} of {ATTEMPTS})",
                        request.method,
                        request.url,
                        no_answer.describe()
                    );
                    pause(Duration::from_millis(200) * attempt).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// `request`, tried until an answer is `final_` or `deadline` passes; at least once.
    /// `final_` says of an answer whether to stop there (the check then judges it) or to wait
    /// past it (a status the platform gives while it settles). No answer is never final.
    /// Pauses grow from 100 ms to 1 s.
    pub async fn until(
        &self,
        request: &Request,
        deadline: Instant,
        final_: impl Fn(&Answer) -> bool,
    ) -> Retried {
        let started = Instant::now();
        let mut wait = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self.once(request).await;
            let done = match &result {
                Ok(answer) => final_(answer),
                Err(_) => false,
            };
            let now = Instant::now();
            if done || now + wait > deadline {
                return Retried {
                    result,
                    attempts,
                    elapsed: now - started,
                    settled: done,
                };
            }
            pause(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// One try, no retry.
    pub async fn once(&self, request: &Request) -> Result<Answer, NoAnswer> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone());
        if let Some(json) = &request.json {
            builder = builder.json(json);
        }
        if let Some(token) = &request.bearer {
            builder = builder.bearer_auth(token);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| NoAnswer::Transport(transport_error(&e, self.timeout)))?;
        let answer = read(response)
            .await
            .map_err(|e| NoAnswer::Transport(transport_error(&e, self.timeout)))?;
        match answer.status {
            502 | 504 => Err(NoAnswer::Gateway(answer)),
            _ => Ok(answer),
        }
    }
}

/// The end of a retried request.
#[derive(Debug)]
pub(super) struct Retried {
    /// The last try's result.
    pub result: Result<Answer, NoAnswer>,
    pub attempts: u32,
    pub elapsed: Duration,
    /// Whether the last answer was final (else the deadline ended the tries).
    pub settled: bool,
}

impl Retried {
    /// ` after 3 attempts (1.2 s)`, or nothing for a first-try answer.
    pub fn tries(&self) -> String {
        if self.attempts == 1 {
            String::new()
        } else {
            format!(
                " after {} attempts ({:.1} s)",
                self.attempts,
                self.elapsed.as_secs_f64()
            )
        }
    }
}

async fn read(mut response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status().as_u16();
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let location = header(reqwest::header::LOCATION);
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= MAX_READ {
            bytes.truncate(MAX_READ);
            break;
        }
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&body).ok();
    Ok(Answer {
        status,
        content_type,
        location,
        body,
        json,
    })
}

/// A transport error in one line: what happened, with its cause (`connection refused`), the
/// way people read it.
fn transport_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {:.1} s", timeout.as_secs_f64());
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    match causes.last() {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_string(),
    }
}
