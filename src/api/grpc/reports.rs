//! `ReportService`: on-call load per person over a range.

use tonic::{Request, Response, Status};

use super::parse_range;
use crate::engine::Engine;
use crate::proto as pb;

pub struct ReportApi {
    pub engine: Engine,
}

#[tonic::async_trait]
impl pb::report_service_server::ReportService for ReportApi {
    async fn on_call_load(
        &self,
        req: Request<pb::OnCallLoadRequest>,
    ) -> Result<Response<pb::OnCallLoadResponse>, Status> {
        let r = req.into_inner();
        let (from, to) = parse_range(r.from.as_ref(), r.to.as_ref())?;
        crate::api::limits::check_name(&r.schedule).map_err(|m| super::invalid("schedule", m))?;
        let schedule = Some(r.schedule.trim().to_string()).filter(|s| !s.is_empty());
        let people = self
            .engine
            .on_call_load(from, to, schedule)
            .await
            .map_err(Status::from)?;
        let people = people.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::OnCallLoadResponse { people }))
    }
}
