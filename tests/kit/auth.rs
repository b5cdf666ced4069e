//! The daemon's local admin token, sent on every gRPC call of the kit's clients: pagerd
//! writes it to `DATA_DIR/admin.token` on first start.

use std::path::Path;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that sends `authorization: Bearer TOKEN` on every call.
pub type AuthedChannel = InterceptedService<Channel, Bearer>;

/// Adds one fixed token to each request (or none, for tests of refusals).
#[derive(Clone)]
pub struct Bearer(pub Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(Some(
            format!("Bearer {token}").parse().expect("token is ASCII"),
        ))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub fn with_token(channel: Channel, token: &str) -> AuthedChannel {
    InterceptedService::new(channel, Bearer::new(token))
}

/// The admin token pagerd wrote into `data_dir`, waiting (a bounded time) for the daemon to
/// write it during start-up.
pub async fn admin_token(data_dir: &Path) -> String {
    let path = data_dir.join("admin.token");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let t = text.trim();
            if !t.is_empty() {
                return t.to_string();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pagerd wrote no {} within 10 s",
            path.display()
        );
        // Real time: the tests' paused clock may be frozen (see `freeze_time`).
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(10)))
            .await
            .unwrap();
    }
}
