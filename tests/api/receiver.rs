//! A webhook receiver for the delivery tests: a real HTTP server on
//! 127.0.0.1 that answers each request as its script says (then 200), and
//! keeps every request it got.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// This status at once.
    Status(u16),
    /// No answer for this long (longer than the sender waits).
    Hang(Duration),
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as sent.
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether `Risk-Monitor-Signature` is the HMAC-SHA256 of `t.body`
    /// with `secret`, as a receiver checks it.
    pub fn signed_with(&self, secret: &str) -> bool {
        let header = self.header("risk-monitor-signature");
        let mut t = None;
        let mut v1 = None;
        for part in header.split(',') {
            match part.split_once('=') {
                Some(("t", value)) => t = Some(value),
                Some(("v1", value)) => v1 = Some(value),
                _ => {}
            }
        }
        let (Some(t), Some(v1)) = (t, v1) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.{}", self.body).as_bytes());
        let Ok(expected) = hex::decode(v1) else {
            return false;
        };
        mac.verify_slice(&expected).is_ok()
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

/// The receiver; stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// A receiver answering as `script` says, then 200 to everything.
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            received: Vec::new(),
        }));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{address}/hook"),
            inner,
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver lock").received.clone()
    }

    /// Waits until `n` requests came (at most `within`), then returns all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= n || tokio::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let reply = {
        let mut inner = inner.lock().expect("receiver lock");
        inner.received.push(Received {
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        inner.script.pop_front()
    };
    match reply {
        Some(Reply::Status(code)) => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Some(Reply::Hang(wait)) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
        None => StatusCode::OK,
    }
}
