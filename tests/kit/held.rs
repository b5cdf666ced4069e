//! A webhook receiver that holds every request until the test lets it answer: a slow
//! provider whose slowness the test controls exactly. Arrivals are reported at once.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::http::{ReceivedPage, Recorded};
use super::{real_timeout, within};

#[derive(Clone)]
struct HeldState {
    tx: mpsc::UnboundedSender<Recorded>,
    gate: Arc<Semaphore>,
}

pub struct HeldSink {
    /// The URL to configure as `notify.webhook.url`.
    pub url: String,
    rx: mpsc::UnboundedReceiver<Recorded>,
    gate: Arc<Semaphore>,
}

impl HeldSink {
    /// Holds every request until [`HeldSink::release`] or [`HeldSink::open`].
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let state = HeldState {
            tx,
            gate: gate.clone(),
        };
        let router = Router::new().fallback(hold).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/pages", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, rx, gate }
    }

    /// Lets `n` held (or future) requests be answered with 200.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Answers every held request and all later ones at once.
    pub fn open(&self) {
        self.gate.close();
    }

    /// The next request to arrive (answered or not yet), bounded in real time.
    pub async fn next(&mut self) -> ReceivedPage {
        within("a request at the held sink", self.rx.recv())
            .await
            .expect("sink closed")
            .into()
    }

    /// The next request if one arrives within `wait` (real time).
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<ReceivedPage> {
        real_timeout(wait, self.rx.recv())
            .await
            .flatten()
            .map(ReceivedPage::from)
    }

    /// Asserts that no request arrives for a short real-time while.
    pub async fn expect_quiet(&mut self, why: &str) {
        let quiet = std::time::Duration::from_millis(300);
        if let Some(Some(p)) = real_timeout(quiet, self.rx.recv()).await {
            panic!("{why}: unexpected page {:#}", ReceivedPage::from(p).body);
        }
    }
}

async fn hold(State(s): State<HeldState>, req: Request) -> StatusCode {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let _ = s.tx.send(Recorded {
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
        received_at: Utc::now(),
    });
    // Closed = open: every request goes through.
    if let Ok(permit) = s.gate.acquire().await {
        permit.forget();
    }
    StatusCode::OK
}
