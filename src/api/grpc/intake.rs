//! `IntakeService`: heartbeats and maintenance windows.

use tonic::{Request, Response, Status};

use super::auth::Identity;
use super::{caller, from_ts, invalid, required};
use crate::api::convert::timestamp;
use crate::api::limits::{MAX_NOTE_BYTES, check_name, check_window_length};
use crate::engine::{Engine, MaintenanceRequest, MaintenanceView, UrlKind};
use crate::proto as pb;

pub struct IntakeApi {
    pub engine: Engine,
}

#[tonic::async_trait]
impl pb::intake_service_server::IntakeService for IntakeApi {
    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let name = required("name", &req.into_inner().name)?;
        let (expires_at, resolved) = self.engine.heartbeat(&name).await?;
        Ok(Response::new(pb::HeartbeatResponse {
            expires_at: Some(timestamp(expires_at)),
            resolved_incident_id: resolved.unwrap_or_default(),
        }))
    }

    async fn list_heartbeats(
        &self,
        _req: Request<pb::ListHeartbeatsRequest>,
    ) -> Result<Response<pb::ListHeartbeatsResponse>, Status> {
        let heartbeats = self
            .engine
            .list_heartbeats()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListHeartbeatsResponse { heartbeats }))
    }

    async fn rotate_heartbeat_token(
        &self,
        req: Request<pb::RotateHeartbeatTokenRequest>,
    ) -> Result<Response<pb::RotateHeartbeatTokenResponse>, Status> {
        let name = required("name", &req.into_inner().name)?;
        self.engine
            .url_secret(UrlKind::Heartbeat, &name, true)
            .await?;
        let heartbeat = self
            .engine
            .list_heartbeats()
            .await?
            .into_iter()
            .find(|h| h.def.name == name)
            .map(Into::into);
        Ok(Response::new(pb::RotateHeartbeatTokenResponse {
            heartbeat,
        }))
    }

    async fn add_maintenance(
        &self,
        req: Request<pb::AddMaintenanceRequest>,
    ) -> Result<Response<pb::AddMaintenanceResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let service = required("service", &r.service)?;
        let by = caller(identity.as_ref(), r.by)?;
        if r.reason.len() > MAX_NOTE_BYTES {
            return Err(invalid("reason", format!("at most {MAX_NOTE_BYTES} bytes")));
        }
        let start = match &r.start {
            Some(t) => from_ts("start", t)?,
            None => self.engine.clock().now(),
        };
        let end = from_ts(
            "end",
            r.end.as_ref().ok_or_else(|| invalid("end", "required"))?,
        )?;
        check_window_length(start, end).map_err(|m| invalid("end", m))?;
        let window = self
            .engine
            .add_maintenance(MaintenanceRequest {
                service,
                start,
                end,
                reason: r.reason.trim().to_string(),
                page_after: !r.quiet_after,
                by,
            })
            .await?;
        let view = MaintenanceView {
            window,
            removed_by: None,
        };
        Ok(Response::new(pb::AddMaintenanceResponse {
            window: Some(view.into()),
        }))
    }

    async fn remove_maintenance(
        &self,
        req: Request<pb::RemoveMaintenanceRequest>,
    ) -> Result<Response<pb::RemoveMaintenanceResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        if r.id <= 0 {
            return Err(invalid("id", "must be a positive maintenance window id"));
        }
        let by = caller(identity.as_ref(), r.by)?;
        let removed = self.engine.remove_maintenance(r.id, by).await?;
        Ok(Response::new(pb::RemoveMaintenanceResponse {
            window: Some(removed.into()),
        }))
    }

    async fn list_maintenance(
        &self,
        req: Request<pb::ListMaintenanceRequest>,
    ) -> Result<Response<pb::ListMaintenanceResponse>, Status> {
        let r = req.into_inner();
        check_name(&r.service).map_err(|m| invalid("service", m))?;
        let service = Some(r.service.trim().to_string()).filter(|s| !s.is_empty());
        let windows = self
            .engine
            .list_maintenance(service, self.engine.clock().now(), r.include_removed)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListMaintenanceResponse { windows }))
    }
}
