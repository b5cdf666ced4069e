//! A server stream that ends when its token does: an open `Watch` is checked against the
//! token cache every second and closed with `UNAUTHENTICATED` once the token is revoked or
//! expires, so revoking a token also cuts off what it is watching.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tonic::Status;
use tonic::codegen::{Bytes, http};

/// How often an open stream's token is checked again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// `inner`, ended with `UNAUTHENTICATED` trailers when `revoked` completes first.
pub struct Revocable {
    inner: tonic::body::Body,
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
}

impl Revocable {
    pub fn new(
        inner: tonic::body::Body,
        revoked: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            inner,
            revoked: Box::pin(revoked),
            done: false,
        }
    }
}

impl http_body::Body for Revocable {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.revoked.as_mut().poll(cx).is_ready() {
            self.done = true;
            let status = Status::unauthenticated("token revoked or expired; the stream ends");
            let mut trailers = http::HeaderMap::new();
            let frame = status
                .add_header(&mut trailers)
                .map(|()| Frame::trailers(trailers));
            return Poll::Ready(Some(frame));
        }
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        // After the inner trailers nothing may follow, not even ours.
        if let Poll::Ready(None) = &frame {
            self.done = true;
        }
        if let Poll::Ready(Some(Ok(f))) = &frame
            && f.is_trailers()
        {
            self.done = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
