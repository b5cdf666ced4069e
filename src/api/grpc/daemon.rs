//! `DaemonService`: the daemon's status, test pages, the audit trail and API tokens.

use tonic::{Request, Response, Status};

use super::auth::Identity;
use super::{caller, from_ts, invalid, parse_actor, required};
use crate::api::convert::{test_page_result, timestamp};
use crate::app::tokens::{self, TokenAdmin, TokenError};
use crate::domain::access::Role;
use crate::engine::Engine;
use crate::proto as pb;
use crate::store::StoredToken;

pub struct DaemonApi {
    pub engine: Engine,
    pub tokens: TokenAdmin,
}

/// A token operation's refusal as a status naming the field.
fn token_status(e: TokenError) -> Status {
    match e {
        TokenError::Exists(_) => Status::already_exists(format!("name: {e}")),
        TokenError::NotLive(_) => Status::not_found(format!("name: {e}")),
        TokenError::Other(e) => {
            tracing::error!(error = format!("{e:#}"), "token operation failed");
            Status::unavailable("the token store cannot be written now; retry")
        }
    }
}

fn api_token(t: StoredToken, now: chrono::DateTime<chrono::Utc>) -> pb::ApiToken {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if !t.is_live(now) {
        "expired"
    } else {
        "active"
    };
    pb::ApiToken {
        name: t.name,
        role: t.role.to_string(),
        person: t.person.unwrap_or_default(),
        created_at: Some(timestamp(t.created_at)),
        expires_at: t.expires_at.map(timestamp),
        revoked_at: t.revoked_at.map(timestamp),
        state: state.to_string(),
    }
}

#[tonic::async_trait]
impl pb::daemon_service_server::DaemonService for DaemonApi {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let open = self.engine.open_incident_count().await?;
        let lead = self.engine.leadership();
        let nodes = self
            .engine
            .cluster_nodes()
            .await?
            .into_iter()
            .map(|n| pb::NodeStatus {
                this_node: !lead.is_clustered() || n.name == lead.node_name(),
                name: n.name,
                address: n.address,
                version: n.version,
                policy_digest: n.policy_digest,
                started_at: Some(timestamp(n.started_at)),
                seen_at: Some(timestamp(n.seen_at)),
                leader: n.leader,
            })
            .collect();
        let set = self.engine.policies();
        let reload = self.engine.reload_status();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Some(timestamp(self.engine.started_at())),
            schedules_dir: reload
                .schedules_dir
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            policies_loaded_at: reload.loaded_at.map(timestamp),
            people: set.people.len() as u32,
            services: set.services.len() as u32,
            escalation_policies: set.policies.len() as u32,
            schedules: set.schedules.len() as u32,
            last_reload: reload.last_attempt.map(Into::into),
            open_incidents: open,
            channels: self.engine.channel_names().to_vec(),
            nodes,
        }))
    }

    async fn test_page(
        &self,
        req: Request<pb::TestPageRequest>,
    ) -> Result<Response<pb::TestPageResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let person = required("person", &r.person)?;
        let channel = Some(r.channel.trim()).filter(|c| !c.is_empty());
        let actor = caller(identity.as_ref(), r.by.clone())?;
        let by = parse_actor(r.by)?;
        let results = self
            .engine
            .test_page(&person, channel, &by, std::time::Duration::from_secs(30))
            .await?
            .into_iter()
            .map(|(channel, o)| test_page_result(channel, o))
            .collect::<Vec<_>>();
        let target = match channel {
            Some(c) => format!("person {person} on {c}"),
            None => format!("person {person}"),
        };
        self.engine
            .record_audit(&actor, "test page", target)
            .await?;
        Ok(Response::new(pb::TestPageResponse { results }))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let r = req.into_inner();
        let since = match r.since {
            Some(t) => from_ts("since", &t)?,
            None => chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        let limit = match r.limit {
            0 => 1000,
            n if n > 10_000 => return Err(invalid("limit", "at most 10000")),
            n => n,
        };
        let entries = self
            .engine
            .audit(since, limit)
            .await?
            .into_iter()
            .map(|e| pb::AuditEntry {
                at: Some(timestamp(e.at)),
                actor: e.actor,
                via: e.via,
                action: e.action,
                target: e.target,
                detail: e.detail,
            })
            .collect();
        Ok(Response::new(pb::ListAuditResponse { entries }))
    }

    async fn create_token(
        &self,
        req: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let by = caller(identity.as_ref(), String::new())?;
        let name = tokens::parse_name(&r.name).map_err(|e| invalid("name", e))?;
        let role = Role::parse(&r.role).map_err(|e| invalid("role", e))?;
        let person = Some(r.person.trim().to_string()).filter(|p| !p.is_empty());
        if let Some(p) = &person
            && !self.engine.policies().people.contains_key(p)
        {
            return Err(invalid(
                "person",
                format!("no person `{p}` in the policy files"),
            ));
        }
        let now = self.engine.clock().now();
        let expires_at = r
            .expires_at
            .map(|t| from_ts("expires_at", &t))
            .transpose()?;
        if expires_at.is_some_and(|e| e <= now) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let secret = tokens::create(
            &self.tokens.store,
            &name,
            role,
            person.clone(),
            expires_at,
            &by,
            now,
        )
        .await
        .map_err(token_status)?;
        let token = StoredToken {
            name,
            role,
            person,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        Ok(Response::new(pb::CreateTokenResponse {
            secret,
            token: Some(api_token(token, now)),
        }))
    }

    async fn list_tokens(
        &self,
        _req: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let now = self.engine.clock().now();
        let list = tokens::list(&self.tokens.store).await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "listing tokens failed");
            Status::unavailable("the token store cannot be read now; retry")
        })?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: list.into_iter().map(|t| api_token(t, now)).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        req: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let by = caller(identity.as_ref(), String::new())?;
        let name = required("name", &r.name)?;
        self.tokens
            .revoke(&name, &by, self.engine.clock().now())
            .await
            .map_err(token_status)?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }
}
