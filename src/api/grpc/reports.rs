//! `ReportService`: on-call load per person over a range, and response times (MTTA, MTTR,
//! SLA) of the incidents opened in one.

use tonic::{Request, Response, Status};

use super::parse_range;
use crate::domain::response_report::GroupBy;
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

    async fn responsiveness(
        &self,
        req: Request<pb::ResponsivenessRequest>,
    ) -> Result<Response<pb::ResponsivenessResponse>, Status> {
        let r = req.into_inner();
        let (from, to) = parse_range(r.from.as_ref(), r.to.as_ref())?;
        crate::api::limits::check_name(&r.service).map_err(|m| super::invalid("service", m))?;
        let service = Some(r.service.trim().to_string()).filter(|s| !s.is_empty());
        let by = match r.by.trim() {
            "" => GroupBy::Service,
            word => GroupBy::parse(word).ok_or_else(|| {
                super::invalid("by", "must be service, severity, person or policy")
            })?,
        };
        let report = self
            .engine
            .responsiveness(from, to, service, by)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(pb::ResponsivenessResponse {
            groups: report.groups.iter().map(Into::into).collect(),
            total: Some((&report.total).into()),
            breaches: report.breaches.into_iter().map(Into::into).collect(),
            by: by.as_str().to_string(),
        }))
    }
}
