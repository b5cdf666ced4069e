//! The dashboard's stylesheet and script, embedded in the binary (no CDN, no build step).
//! Their URLs carry a hash of the content, so browsers may cache them for long.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
];

static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(_, _, body)| hex::encode(&Sha256::digest(body.as_bytes())[..6]))
        .collect()
});

/// The URL of an embedded file, with its version.
pub fn url(name: &str) -> String {
    match FILES.iter().position(|(n, _, _)| *n == name) {
        Some(i) => format!("/ui/assets/{name}?v={}", VERSIONS[i]),
        None => format!("/ui/assets/{name}"),
    }
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, kind, body)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return super::page::not_found().await;
    };
    let mut r = (StatusCode::OK, *body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
