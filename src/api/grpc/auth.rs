//! The one place gRPC requests are authenticated: a tower layer in front of every service.
//! It resolves `authorization: Bearer TOKEN` to an [`Identity`] (through
//! [`TokenCache`], which a revocation empties, so it holds from the next request on), puts
//! it in the request's extensions and checks the method's role from
//! [`crate::domain::access`]. `AlertService` calls without a token pass on to the handler,
//! which accepts them only with an integration key ([`alert_caller`]).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::{BoxFuture, http};

use super::revocable::{RECHECK, Revocable};

use crate::app::token_cache::{Cached, TokenCache};
use crate::app::tokens::secret_digest;
use crate::clock::Clock;
pub use crate::domain::access::Identity;
use crate::domain::access::{self, Access, Role};
use crate::store::Store;

/// Shared by every request (cloned per call, so one reference count).
#[derive(Clone)]
pub struct AuthLayer(Arc<Parts>);

struct Parts {
    store: Store,
    clock: Clock,
    cache: TokenCache,
}

impl AuthLayer {
    pub fn new(store: Store, clock: Clock, cache: TokenCache) -> Self {
        Self(Arc::new(Parts {
            store,
            clock,
            cache,
        }))
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
}

/// The token of an `authorization` header: `Bearer` (any case), then the token.
fn bearer(headers: &http::HeaderMap) -> Result<Option<&str>, Status> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("authorization: not a Bearer token"))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Status::unauthenticated(
            "authorization: expected `Bearer TOKEN`",
        )),
    }
}

impl AuthLayer {
    /// The identity of `token`, or UNAUTHENTICATED (unknown, revoked and expired look alike
    /// to the caller; the log says which).
    async fn identify(&self, token: &str) -> Result<Identity, Status> {
        self.identify_digest(secret_digest(token)).await
    }

    /// [`Self::identify`] by the SHA-256 of the secret: the dashboard keeps only that in its
    /// session, and re-checks it on every request (so revoking the token ends the session).
    pub async fn identify_digest(
        &self,
        digest: crate::app::token_cache::Digest,
    ) -> Result<Identity, Status> {
        let parts = &self.0;
        let guard = match parts.cache.get(&digest) {
            // The common case: no allocation, no store read.
            Cached::Hit(v) if v.is_live(parts.clock.now()) => return Ok(v.identity),
            Cached::Hit(v) => return Err(dead(&v.identity.token)),
            Cached::Miss(guard) => guard,
        };
        let hash = hex::encode(digest);
        let found = parts
            .store
            .read(move |tx| tx.token_by_hash(&hash))
            .await
            .map_err(|e| {
                tracing::error!(error = format!("{e:#}"), "token lookup failed");
                Status::unavailable("cannot check the token now; retry")
            })?;
        let now = parts.clock.now();
        match found {
            Some(t) if t.is_live(now) => {
                parts.cache.insert(digest, &t, guard, now);
                Ok(Identity::new(&t.name, t.role, t.person.as_deref()))
            }
            Some(t) => Err(dead(&t.name)),
            None => Err(Status::unauthenticated("unknown token")),
        }
    }

    /// Completes once `token` no longer identifies anyone (revoked, expired), checked every
    /// [`RECHECK`]. A store that cannot answer keeps the stream open: it is not a refusal.
    fn until_dead(&self, token: String) -> impl Future<Output = ()> + Send + 'static {
        let layer = self.clone();
        async move {
            let mut tick = tokio::time::interval(RECHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(s) = layer.identify(&token).await
                    && s.code() == tonic::Code::Unauthenticated
                {
                    return;
                }
            }
        }
    }

    /// The identity for a request to `path`, or the status that refuses it.
    async fn check(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Identity>, Status> {
        let need = access::required_access(path);
        if need == Access::Open {
            return Ok(None);
        }
        let identity = match bearer(headers)? {
            Some(token) => Some(self.identify(token).await?),
            None => None,
        };
        match (need, identity) {
            (Access::Open, _) => Ok(None),
            // The handler checks the integration key.
            (Access::IntegrationKeyOr(_), None) => Ok(None),
            (Access::Role(_), None) => Err(Status::unauthenticated(
                "authorization: a `Bearer` token is required (see `pagerd token create`)",
            )),
            (Access::Role(role), Some(id)) => {
                if access::allows(id.role, role) {
                    Ok(Some(id))
                } else {
                    Err(denied(role, &id))
                }
            }
            // With a token, an alert call is allowed to the role, or goes on to the handler
            // which accepts an integration key instead.
            (Access::IntegrationKeyOr(_), Some(id)) => Ok(Some(id)),
        }
    }
}

impl AuthLayer {
    /// For HTTP endpoints behind a token (`GET /metrics`): the identity of the request's
    /// `authorization: Bearer` token, checked as gRPC calls are, if its role is at least
    /// `role`. No token, an unknown, revoked or expired one: UNAUTHENTICATED.
    pub async fn require(&self, headers: &http::HeaderMap, role: Role) -> Result<Identity, Status> {
        let token = bearer(headers)?.ok_or_else(|| {
            Status::unauthenticated("authorization: a `Bearer` token is required")
        })?;
        let id = self.identify(token).await?;
        if access::allows(id.role, role) {
            Ok(id)
        } else {
            Err(denied(role, &id))
        }
    }
}

fn denied(role: Role, id: &Identity) -> Status {
    Status::permission_denied(format!(
        "needs role {role}; token `{}` has role {}",
        id.token, id.role
    ))
}

/// The refusal of a revoked or expired token (the log says which token).
fn dead(name: &str) -> Status {
    tracing::info!(token = %name, "refused a revoked or expired token");
    Status::unauthenticated("token revoked or expired")
}

/// For `AlertService` handlers: Ok if the request may go on. A request naming an
/// integration key is judged by the key alone; without one it needs a responder token.
pub fn alert_caller(identity: Option<&Identity>, has_integration_key: bool) -> Result<(), Status> {
    if has_integration_key {
        return Ok(());
    }
    let need = Role::Responder;
    match identity {
        None => Err(Status::unauthenticated(
            "authorization: a `Bearer` token or the service's integration_key is required",
        )),
        Some(id) if access::allows(id.role, need) => Ok(()),
        Some(id) => Err(denied(need, id)),
    }
}

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The ready service goes to this call; its clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let stream = access::is_server_stream(req.uri().path());
            match layer.check(req.uri().path(), req.headers()).await {
                Ok(identity) => {
                    let token = match (&identity, stream) {
                        (Some(_), true) => bearer(req.headers()).ok().flatten().map(str::to_owned),
                        _ => None,
                    };
                    if let Some(id) = identity {
                        req.extensions_mut().insert(id);
                    }
                    let response = inner.call(req).await?;
                    Ok(match token {
                        Some(token) => response.map(|body| {
                            tonic::body::Body::new(Revocable::new(body, layer.until_dead(token)))
                        }),
                        None => response,
                    })
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_and_other_schemes_refused() {
        assert_eq!(bearer(&http::HeaderMap::new()).unwrap(), None);
        assert_eq!(bearer(&headers("Bearer abc")).unwrap(), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")).unwrap(), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            let e = bearer(&headers(bad)).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{bad}");
        }
    }

    #[test]
    fn alert_calls_need_a_key_or_a_responder() {
        let id = |role| Identity::new("t", role, None);
        assert!(alert_caller(None, true).is_ok());
        assert!(alert_caller(Some(&id(Role::Viewer)), true).is_ok());
        assert!(alert_caller(Some(&id(Role::Responder)), false).is_ok());
        assert_eq!(
            alert_caller(None, false).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let e = alert_caller(Some(&id(Role::Viewer)), false).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (
                tonic::Code::PermissionDenied,
                "needs role responder; token `t` has role viewer"
            )
        );
    }
}
