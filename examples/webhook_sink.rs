//! A tiny webhook receiver for trying pagerd out: prints every page it is sent.
//!
//! ```text
//! cargo run --example webhook_sink            # listens on 127.0.0.1:9000
//! PAGERD_NOTIFY__WEBHOOK__URL=http://127.0.0.1:9000/pages cargo run --bin pagerd
//! ```

use axum::{Json, Router, http::HeaderMap, routing::post};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: std::net::SocketAddr,
}

async fn page(headers: HeaderMap, Json(body): Json<serde_json::Value>) -> &'static str {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let inc = &body["incident"];
    println!(
        "{} → {} (level {}, attempt {}): incident {} [{}] {}: {}  (key {})",
        s(&body["kind"]).to_uppercase(),
        s(&body["person"]["name"]),
        body["level"],
        body["attempt"],
        inc["id"],
        s(&inc["severity"]),
        s(&inc["service"]),
        s(&inc["summary"]),
        headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
    );
    "ok"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "webhook sink listening on http://{}/pages",
        listener.local_addr()?
    );
    axum::serve(listener, Router::new().route("/pages", post(page))).await?;
    Ok(())
}
