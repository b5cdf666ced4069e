//! `ScheduleService`: schedules, who is on call, final shifts, overrides, and reloading the
//! policy files.

use tonic::{Request, Response, Status};

use super::auth::Identity;
use super::{caller, from_ts, invalid, parse_range, required};
use crate::api::convert::shift;
use crate::api::limits::{MAX_NOTE_BYTES, check_name, check_window_length};
use crate::domain::ScheduleDef;
use crate::domain::access;
use crate::domain::schedule::{FinalShift, Source};
use crate::engine::{Engine, OverrideRequest, UrlKind};
use crate::proto as pb;

/// Longest range `Shifts` answers, so one request cannot ask for years of shifts.
pub const MAX_SHIFTS_RANGE_DAYS: i64 = 366;

pub struct ScheduleApi {
    pub engine: Engine,
}

/// A final shift as listed: cut where the turns it joins were decided differently (one
/// person's two turns, one by rotation and one moved to them by a limit), so each piece
/// shows its own reason.
pub(crate) fn listed_shifts(def: &ScheduleDef, s: FinalShift) -> Vec<pb::Shift> {
    let Source::Layer(i) = s.source else {
        let start = s.start;
        return vec![shift(def, s, start)];
    };
    let layer = &def.schedule.layers[i];
    if layer.assigned.is_empty() {
        let start = s.start;
        return vec![shift(def, s, start)];
    }
    let turns = layer.rotation.shifts_between(s.start, s.end);
    let mut out: Vec<pb::Shift> = Vec::new();
    for t in turns {
        let mut piece = s.clone();
        piece.start = t.start.max(s.start);
        piece.end = t.end.min(s.end);
        let start = piece.start;
        let pb = shift(def, piece, start);
        match out.last_mut() {
            Some(last)
                if (&last.reason, last.projected, last.flagged)
                    == (&pb.reason, pb.projected, pb.flagged) =>
            {
                last.end = pb.end;
            }
            _ => out.push(pb),
        }
    }
    out
}

#[tonic::async_trait]
impl pb::schedule_service_server::ScheduleService for ScheduleApi {
    async fn list_schedules(
        &self,
        _req: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let set = self.engine.policies();
        let schedules = set
            .schedules
            .values()
            .map(|d| pb::ScheduleInfo {
                name: d.schedule.name.clone(),
                time_zone: d.schedule.zone.name().to_string(),
                owner: d.owner.clone(),
                layers: d.schedule.layers.iter().map(|l| l.name.clone()).collect(),
            })
            .collect();
        Ok(Response::new(pb::ListSchedulesResponse { schedules }))
    }

    async fn on_call(
        &self,
        req: Request<pb::OnCallRequest>,
    ) -> Result<Response<pb::OnCallResponse>, Status> {
        let r = req.into_inner();
        let at = match &r.at {
            Some(t) => from_ts("at", t)?,
            None => self.engine.clock().now(),
        };
        let set = self.engine.policies();
        let def = set
            .schedules
            .get(r.schedule.trim())
            .ok_or_else(|| Status::not_found(format!("schedule: no schedule `{}`", r.schedule)))?;
        let on_call = def.schedule.on_call(at).map(|s| shift(def, s, at));
        Ok(Response::new(pb::OnCallResponse {
            shift: on_call,
            owner: def.owner.clone(),
        }))
    }

    async fn shifts(
        &self,
        req: Request<pb::ShiftsRequest>,
    ) -> Result<Response<pb::ShiftsResponse>, Status> {
        let r = req.into_inner();
        let (from, to) = parse_range(r.from.as_ref(), r.to.as_ref())?;
        let set = self.engine.policies();
        let def = set
            .schedules
            .get(r.schedule.trim())
            .ok_or_else(|| Status::not_found(format!("schedule: no schedule `{}`", r.schedule)))?;
        let shifts = def
            .schedule
            .final_shifts(from, to)
            .into_iter()
            .flat_map(|s| listed_shifts(def, s))
            .collect();
        Ok(Response::new(pb::ShiftsResponse { shifts }))
    }

    async fn add_override(
        &self,
        req: Request<pb::AddOverrideRequest>,
    ) -> Result<Response<pb::AddOverrideResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let schedule = required("schedule", &r.schedule)?;
        let person = required("person", &r.person)?;
        let by = caller(identity.as_ref(), r.by)?;
        may_override(identity.as_ref(), &person)?;
        if r.reason.len() > MAX_NOTE_BYTES {
            return Err(invalid("reason", format!("at most {MAX_NOTE_BYTES} bytes")));
        }
        let start = from_ts(
            "start",
            r.start
                .as_ref()
                .ok_or_else(|| invalid("start", "required"))?,
        )?;
        let end = from_ts(
            "end",
            r.end.as_ref().ok_or_else(|| invalid("end", "required"))?,
        )?;
        check_window_length(start, end).map_err(|m| invalid("end", m))?;
        let stored = self
            .engine
            .add_override(OverrideRequest {
                schedule,
                person,
                start,
                end,
                reason: r.reason.trim().to_string(),
                by,
            })
            .await?;
        Ok(Response::new(pb::AddOverrideResponse {
            entry: Some(stored.into()),
        }))
    }

    async fn remove_override(
        &self,
        req: Request<pb::RemoveOverrideRequest>,
    ) -> Result<Response<pb::RemoveOverrideResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        if r.id <= 0 {
            return Err(invalid("id", "must be a positive override id"));
        }
        let by = caller(identity.as_ref(), r.by)?;
        // Overrides never change person, so checking before removing cannot race.
        if let Some(o) = self.engine.schedule_override(r.id).await? {
            may_override(identity.as_ref(), &o.person)?;
        }
        let removed = self.engine.remove_override(r.id, by).await?;
        Ok(Response::new(pb::RemoveOverrideResponse {
            entry: Some(removed.into()),
        }))
    }

    async fn list_overrides(
        &self,
        req: Request<pb::ListOverridesRequest>,
    ) -> Result<Response<pb::ListOverridesResponse>, Status> {
        let r = req.into_inner();
        let since = match &r.since {
            Some(t) => from_ts("since", t)?,
            None => self.engine.clock().now(),
        };
        check_name(&r.schedule).map_err(|m| invalid("schedule", m))?;
        let schedule = Some(r.schedule.trim().to_string()).filter(|s| !s.is_empty());
        let overrides = self
            .engine
            .list_overrides(schedule, since, r.include_removed)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListOverridesResponse { overrides }))
    }

    async fn feed_url(
        &self,
        req: Request<pb::FeedUrlRequest>,
    ) -> Result<Response<pb::FeedUrlResponse>, Status> {
        let r = req.into_inner();
        let (kind, name) = match (r.schedule.trim(), r.person.trim()) {
            (s, "") if !s.is_empty() => (UrlKind::Schedule, s),
            ("", p) if !p.is_empty() => (UrlKind::Person, p),
            _ => {
                return Err(invalid(
                    "schedule",
                    "set exactly one of schedule and person",
                ));
            }
        };
        let token = self.engine.url_secret(kind, name, r.rotate).await?;
        Ok(Response::new(pb::FeedUrlResponse {
            url: self.engine.public_url(&kind.path(name, &token)),
        }))
    }

    async fn reload(
        &self,
        req: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let by = caller(req.extensions().get::<Identity>(), String::new())?;
        let attempt = self
            .engine
            .reload("Reload RPC")
            .await
            .map_err(|e| Status::failed_precondition(format!("{e:#}")))?;
        let outcome = if attempt.applied {
            "applied".to_string()
        } else {
            format!("refused: {} errors", attempt.errors.len())
        };
        self.engine
            .record_audit(&by, "reload", format!("policy set ({outcome})"))
            .await?;
        Ok(Response::new(pb::ReloadResponse {
            result: Some(attempt.into()),
        }))
    }
}

/// PERMISSION_DENIED unless the caller may put `person` on call (see
/// [`access::may_override_for`]).
fn may_override(identity: Option<&Identity>, person: &str) -> Result<(), Status> {
    let id = identity.ok_or_else(|| Status::unauthenticated("no authenticated caller"))?;
    access::may_override_for(id.role, &id.token, id.person.as_deref(), person)
        .map_err(Status::permission_denied)
}
