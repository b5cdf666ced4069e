//! `DaemonService`: the daemon's status and test pages.

use tonic::{Request, Response, Status};

use super::{from_ts, invalid, parse_actor, required};
use crate::api::convert::{test_page_result, timestamp};
use crate::engine::Engine;
use crate::proto as pb;

pub struct DaemonApi {
    pub engine: Engine,
}

#[tonic::async_trait]
impl pb::daemon_service_server::DaemonService for DaemonApi {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let open = self.engine.open_incident_count().await?;
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
        }))
    }

    async fn test_page(
        &self,
        req: Request<pb::TestPageRequest>,
    ) -> Result<Response<pb::TestPageResponse>, Status> {
        let r = req.into_inner();
        let person = required("person", &r.person)?;
        let channel = Some(r.channel.trim()).filter(|c| !c.is_empty());
        let by = parse_actor(r.by)?;
        let results = self
            .engine
            .test_page(&person, channel, &by, std::time::Duration::from_secs(30))
            .await?
            .into_iter()
            .map(|(channel, o)| test_page_result(channel, o))
            .collect();
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
}
