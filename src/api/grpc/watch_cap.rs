//! A cap on `Watch` streams open at once, over all connections: each holds a slot until its
//! response stream ends; a call that finds none free gets RESOURCE_EXHAUSTED. A tower layer
//! in front of the services, so the handler stays as it is.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::codegen::{BoxFuture, http};
use tonic::server::NamedService;

use crate::proto::incident_service_server::IncidentServiceServer;

#[derive(Clone)]
pub struct WatchCapLayer {
    max: usize,
    slots: Arc<Semaphore>,
    path: Arc<str>,
}

impl WatchCapLayer {
    pub fn new(max: usize) -> Self {
        let service = <IncidentServiceServer<super::IncidentApi> as NamedService>::NAME;
        Self {
            max,
            slots: Arc::new(Semaphore::new(max)),
            path: format!("/{service}/Watch").into(),
        }
    }
}

impl WatchCapLayer {
    /// `Watch` streams open now (for `/metrics`).
    pub fn open_streams(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }
}

impl<S> tower::Layer<S> for WatchCapLayer {
    type Service = WatchCap<S>;
    fn layer(&self, inner: S) -> WatchCap<S> {
        WatchCap {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct WatchCap<S> {
    inner: S,
    layer: WatchCapLayer,
}

impl<S, B> tower::Service<http::Request<B>> for WatchCap<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    // The same body type as the services': other methods pass through unwrapped (no
    // allocation), and the layers around this one need not know it exists.
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let slot = if req.uri().path() == &*self.layer.path {
            match self.layer.slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    let status = Status::resource_exhausted(format!(
                        "{} Watch streams are open, the most allowed \
                         (connections.grpc.max_watch_streams); retry later",
                        self.layer.max
                    ));
                    return Box::pin(async move { Ok(status.into_http()) });
                }
            }
        } else {
            None
        };
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(match slot {
                None => response,
                Some(slot) => response.map(|body| {
                    tonic::body::Body::new(Held {
                        body: Some(body),
                        _slot: Some(slot),
                    })
                }),
            })
        })
    }
}

/// A response body that keeps its Watch slot until the body is dropped.
pub struct Held<B> {
    body: Option<B>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl<B> Default for Held<B> {
    fn default() -> Self {
        Self {
            body: None,
            _slot: None,
        }
    }
}

impl<B> http_body::Body for Held<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match &mut self.get_mut().body {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.body {
            Some(b) => b.size_hint(),
            None => http_body::SizeHint::with_exact(0),
        }
    }
}
