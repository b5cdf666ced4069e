//! gRPC services: parse and validate requests into domain values, call the engine, map errors
//! to `tonic::Status` (here and only here).

use std::collections::BTreeMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::domain::{self, EventKind, IncidentState, Link, NewAlert, Severity};
use crate::engine::{
    ActionOutcome, Engine, EngineError, MaintenanceRequest, MaintenanceView, OverrideRequest,
    ReloadAttempt,
};
use crate::proto as pb;
use crate::store::{AttemptOutcome, IncidentFilter};

pub const MAX_SUMMARY_CHARS: usize = 1024;
pub const MAX_DEDUP_KEY_BYTES: usize = 255;
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
pub const MAX_SOURCE_BYTES: usize = 255;
pub const MAX_LINKS: usize = 32;
pub const MAX_ACTOR_BYTES: usize = 128;
pub const MAX_NOTE_BYTES: usize = 4096;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => Status::not_found(m),
            EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
            EngineError::InvalidArgument(m) => Status::invalid_argument(m),
            EngineError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                Status::internal("internal error; see the pagerd log")
            }
        }
    }
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {msg}"))
}

fn parse_severity(v: i32) -> Result<Severity, Status> {
    match pb::Severity::try_from(v) {
        Ok(pb::Severity::Critical) => Ok(Severity::Critical),
        Ok(pb::Severity::High) => Ok(Severity::High),
        Ok(pb::Severity::Medium) => Ok(Severity::Medium),
        Ok(pb::Severity::Low) => Ok(Severity::Low),
        Ok(pb::Severity::Unspecified) => Err(invalid(
            "severity",
            "required (critical, high, medium or low)",
        )),
        Err(_) => Err(invalid("severity", format!("unknown value {v}"))),
    }
}

fn severity_to_pb(s: Severity) -> pb::Severity {
    match s {
        Severity::Critical => pb::Severity::Critical,
        Severity::High => pb::Severity::High,
        Severity::Medium => pb::Severity::Medium,
        Severity::Low => pb::Severity::Low,
    }
}

fn state_to_pb(s: IncidentState) -> pb::IncidentState {
    match s {
        IncidentState::Triggered => pb::IncidentState::Triggered,
        IncidentState::Acknowledged => pb::IncidentState::Acknowledged,
        IncidentState::Resolved => pb::IncidentState::Resolved,
    }
}

fn kind_to_pb(k: EventKind) -> pb::EventKind {
    match k {
        EventKind::Triggered => pb::EventKind::Triggered,
        EventKind::Deduplicated => pb::EventKind::Deduplicated,
        EventKind::Paged => pb::EventKind::Paged,
        EventKind::Escalated => pb::EventKind::Escalated,
        EventKind::Acknowledged => pb::EventKind::Acknowledged,
        EventKind::Resolved => pb::EventKind::Resolved,
        EventKind::Retriggered => pb::EventKind::Retriggered,
        EventKind::Unanswered => pb::EventKind::Unanswered,
        EventKind::Delivered => pb::EventKind::Delivered,
        EventKind::DeliveryFailed => pb::EventKind::DeliveryFailed,
        EventKind::Held => pb::EventKind::Held,
        EventKind::SeverityRaised => pb::EventKind::SeverityRaised,
        EventKind::DeliveryHeld => pb::EventKind::DeliveryHeld,
    }
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn from_ts(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Status> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| invalid(field, "timestamp out of range"))
}

pub fn incident_to_pb(i: domain::Incident) -> pb::Incident {
    pb::Incident {
        id: i.id,
        service: i.service,
        dedup_key: i.dedup_key,
        severity: severity_to_pb(i.severity) as i32,
        summary: i.summary,
        source: i.source,
        details: i.details.into_iter().collect(),
        links: i
            .links
            .into_iter()
            .map(|l| pb::Link {
                href: l.href,
                text: l.text,
            })
            .collect(),
        state: state_to_pb(i.state) as i32,
        escalation_policy: i.escalation_policy,
        level: i.pos.level,
        r#loop: i.pos.loop_no,
        alert_count: i.alert_count,
        created_at: Some(ts(i.created_at)),
        last_seen_at: Some(ts(i.last_seen_at)),
        acknowledged_at: i.acknowledged_at.map(ts),
        acknowledged_by: i.acknowledged_by.unwrap_or_default(),
        resolved_at: i.resolved_at.map(ts),
        resolved_by: i.resolved_by.unwrap_or_default(),
        resolve_note: i.resolve_note.unwrap_or_default(),
        next_action_at: i.next_action_at.map(ts),
    }
}

pub fn event_to_pb(e: domain::Event) -> pb::IncidentEvent {
    pb::IncidentEvent {
        id: e.id,
        incident_id: e.incident_id,
        kind: kind_to_pb(e.kind) as i32,
        at: Some(ts(e.at)),
        service: e.service,
        level: e.level.unwrap_or_default(),
        person: e.person.unwrap_or_default(),
        channel: e.channel.unwrap_or_default(),
        actor: e.actor.unwrap_or_default(),
        message: e.message,
    }
}

/// Validates a trigger at the edge; the engine only sees well-formed alerts.
pub fn parse_trigger(r: pb::TriggerRequest) -> Result<NewAlert, Status> {
    let service = r.service.trim().to_string();
    if service.is_empty() {
        return Err(Status::not_found(
            "service: empty; name a service from the policy files",
        ));
    }
    let severity = parse_severity(r.severity)?;
    let summary = r.summary.trim().to_string();
    if summary.is_empty() {
        return Err(invalid("summary", "required"));
    }
    let chars = summary.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        return Err(invalid(
            "summary",
            format!("{chars} characters; at most {MAX_SUMMARY_CHARS}"),
        ));
    }
    let dedup_key = if r.dedup_key.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else if r.dedup_key.len() > MAX_DEDUP_KEY_BYTES {
        return Err(invalid(
            "dedup_key",
            format!("{} bytes; at most {MAX_DEDUP_KEY_BYTES}", r.dedup_key.len()),
        ));
    } else {
        r.dedup_key
    };
    if r.source.len() > MAX_SOURCE_BYTES {
        return Err(invalid(
            "source",
            format!("{} bytes; at most {MAX_SOURCE_BYTES}", r.source.len()),
        ));
    }
    let details_bytes: usize = r.details.iter().map(|(k, v)| k.len() + v.len()).sum();
    if details_bytes > MAX_DETAILS_BYTES {
        return Err(invalid(
            "details",
            format!("{details_bytes} bytes; at most {MAX_DETAILS_BYTES} (64 KiB)"),
        ));
    }
    if r.links.len() > MAX_LINKS {
        return Err(invalid(
            "links",
            format!("{} links; at most {MAX_LINKS}", r.links.len()),
        ));
    }
    let mut links = Vec::with_capacity(r.links.len());
    for (i, l) in r.links.into_iter().enumerate() {
        if reqwest::Url::parse(&l.href).is_err() {
            return Err(invalid(
                &format!("links[{i}].href"),
                format!("`{}` is not a URL", l.href),
            ));
        }
        links.push(Link {
            href: l.href,
            text: l.text,
        });
    }
    Ok(NewAlert {
        service,
        dedup_key,
        severity,
        summary,
        source: r.source,
        details: r.details.into_iter().collect::<BTreeMap<_, _>>(),
        links,
    })
}

fn parse_actor(by: String) -> Result<String, Status> {
    let by = by.trim().to_string();
    if by.len() > MAX_ACTOR_BYTES {
        return Err(invalid("by", format!("at most {MAX_ACTOR_BYTES} bytes")));
    }
    Ok(if by.is_empty() { "api".to_string() } else { by })
}

fn parse_id(id: i64) -> Result<i64, Status> {
    if id <= 0 {
        return Err(invalid("id", "must be a positive incident id"));
    }
    Ok(id)
}

fn parse_note(note: String) -> Result<String, Status> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(invalid("note", format!("at most {MAX_NOTE_BYTES} bytes")));
    }
    Ok(note)
}

fn parse_key(service: &str, dedup_key: &str) -> Result<(), Status> {
    if service.trim().is_empty() {
        return Err(Status::not_found(
            "service: empty; name a service from the policy files",
        ));
    }
    if dedup_key.is_empty() {
        return Err(invalid("dedup_key", "required"));
    }
    if dedup_key.len() > MAX_DEDUP_KEY_BYTES {
        return Err(invalid(
            "dedup_key",
            format!("at most {MAX_DEDUP_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn alert_action(outcome: Option<ActionOutcome>) -> pb::AlertActionResponse {
    match outcome {
        Some(o) => pb::AlertActionResponse {
            matched: true,
            changed: o.changed,
            incident_id: o.incident.id,
            state: state_to_pb(o.incident.state) as i32,
        },
        None => pb::AlertActionResponse::default(),
    }
}

fn incident_action(o: ActionOutcome) -> pb::IncidentActionResponse {
    pb::IncidentActionResponse {
        incident: Some(incident_to_pb(o.incident)),
        changed: o.changed,
    }
}

pub struct AlertApi {
    pub engine: Engine,
}

#[tonic::async_trait]
impl pb::alert_service_server::AlertService for AlertApi {
    async fn trigger(
        &self,
        req: Request<pb::TriggerRequest>,
    ) -> Result<Response<pb::TriggerResponse>, Status> {
        let mut r = req.into_inner();
        let key = r.integration_key.trim();
        if !key.is_empty() {
            let set = self.engine.policies();
            let service = set.service_for_key(key).ok_or_else(|| {
                Status::not_found("integration_key: no service has this integration key")
            })?;
            if !r.service.trim().is_empty() && r.service.trim() != service.name {
                return Err(invalid(
                    "service",
                    format!(
                        "`{}` does not match the integration key's service",
                        r.service.trim()
                    ),
                ));
            }
            r.service = service.name.clone();
        }
        let alert = parse_trigger(r)?;
        let o = self.engine.trigger(alert).await?;
        Ok(Response::new(pb::TriggerResponse {
            incident_id: o.incident_id,
            dedup_key: o.dedup_key,
            deduplicated: o.deduplicated,
            alert_count: o.alert_count,
        }))
    }

    async fn acknowledge(
        &self,
        req: Request<pb::AlertAcknowledgeRequest>,
    ) -> Result<Response<pb::AlertActionResponse>, Status> {
        let r = req.into_inner();
        parse_key(&r.service, &r.dedup_key)?;
        let by = parse_actor(r.by)?;
        let o = self
            .engine
            .acknowledge_by_key(r.service.trim(), &r.dedup_key, by)
            .await?;
        Ok(Response::new(alert_action(o)))
    }

    async fn resolve(
        &self,
        req: Request<pb::AlertResolveRequest>,
    ) -> Result<Response<pb::AlertActionResponse>, Status> {
        let r = req.into_inner();
        parse_key(&r.service, &r.dedup_key)?;
        let by = parse_actor(r.by)?;
        let note = parse_note(r.note)?;
        let o = self
            .engine
            .resolve_by_key(r.service.trim(), &r.dedup_key, by, note)
            .await?;
        Ok(Response::new(alert_action(o)))
    }
}

pub struct IncidentApi {
    pub engine: Engine,
    /// Ends `Watch` streams on shutdown so graceful shutdown does not wait on them forever.
    pub shutdown: CancellationToken,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::IncidentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::incident_service_server::IncidentService for IncidentApi {
    async fn get(
        &self,
        req: Request<pb::GetIncidentRequest>,
    ) -> Result<Response<pb::GetIncidentResponse>, Status> {
        let id = parse_id(req.into_inner().id)?;
        let (incident, timeline) = self.engine.get(id).await?;
        Ok(Response::new(pb::GetIncidentResponse {
            incident: Some(incident_to_pb(incident)),
            timeline: timeline.into_iter().map(event_to_pb).collect(),
        }))
    }

    async fn list(
        &self,
        req: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let r = req.into_inner();
        let mut states = Vec::new();
        for (i, s) in r.states.iter().enumerate() {
            states.push(match pb::IncidentState::try_from(*s) {
                Ok(pb::IncidentState::Triggered) => IncidentState::Triggered,
                Ok(pb::IncidentState::Acknowledged) => IncidentState::Acknowledged,
                Ok(pb::IncidentState::Resolved) => IncidentState::Resolved,
                _ => {
                    return Err(invalid(
                        &format!("states[{i}]"),
                        format!("unknown state {s}"),
                    ));
                }
            });
        }
        let page_size = match r.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(invalid(
                    "page_size",
                    format!("{n}; at most {MAX_PAGE_SIZE}"),
                ));
            }
            n => n,
        };
        let before_id = if r.page_token.is_empty() {
            None
        } else {
            Some(
                r.page_token
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("page_token", "not a token from a previous List"))?,
            )
        };
        let since = r.since.as_ref().map(|t| from_ts("since", t)).transpose()?;
        let until = r.until.as_ref().map(|t| from_ts("until", t)).transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(invalid("until", "is before since"));
        }
        let service = Some(r.service.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(svc) = &service
            && !self.engine.policies().services.contains_key(svc)
        {
            return Err(Status::not_found(format!("unknown service `{svc}`")));
        }
        let filter = IncidentFilter {
            states,
            service,
            since,
            until,
            before_id,
            // One extra row tells whether another page exists.
            limit: page_size as usize + 1,
        };
        let mut incidents = self.engine.list(filter).await?;
        let next_page_token = if incidents.len() > page_size as usize {
            incidents.truncate(page_size as usize);
            incidents
                .last()
                .map(|i| i.id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListIncidentsResponse {
            incidents: incidents.into_iter().map(incident_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn acknowledge(
        &self,
        req: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = parse_actor(r.by)?;
        Ok(Response::new(incident_action(
            self.engine.acknowledge(id, by).await?,
        )))
    }

    async fn resolve(
        &self,
        req: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = parse_actor(r.by)?;
        let note = parse_note(r.note)?;
        Ok(Response::new(incident_action(
            self.engine.resolve(id, by, note).await?,
        )))
    }

    async fn escalate(
        &self,
        req: Request<pb::EscalateRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = parse_actor(r.by)?;
        Ok(Response::new(incident_action(
            self.engine.escalate(id, by).await?,
        )))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = req.into_inner();
        if r.incident_id < 0 {
            return Err(invalid("incident_id", "must not be negative"));
        }
        let service = r.service.trim().to_string();
        if !service.is_empty() && !self.engine.policies().services.contains_key(&service) {
            return Err(Status::not_found(format!("unknown service `{service}`")));
        }
        let incident_id = r.incident_id;
        let shutdown = self.shutdown.clone();
        let stream = futures::stream::unfold(Some(self.engine.subscribe()), move |rx| {
            let (service, shutdown) = (service.clone(), shutdown.clone());
            async move {
                let mut rx = rx?;
                loop {
                    let ev = tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        r = rx.recv() => r,
                    };
                    match ev {
                        Ok(ev) => {
                            let wanted = (incident_id == 0 || ev.incident_id == incident_id)
                                && (service.is_empty() || ev.service == service);
                            if wanted {
                                return Some((Ok(event_to_pb(ev)), Some(rx)));
                            }
                        }
                        // A watcher that fell behind gets one error and the stream ends.
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            let msg = format!(
                                "watcher fell {n} events behind; list incidents and watch again"
                            );
                            return Some((Err(Status::data_loss(msg)), None));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

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
        let schedule = Some(r.schedule.trim().to_string()).filter(|s| !s.is_empty());
        let people = self
            .engine
            .on_call_load(from, to, schedule)
            .await
            .map_err(Status::from)?;
        let people = people
            .into_iter()
            .map(|p| pb::PersonLoad {
                person: p.person,
                quarter_weeks: p.quarter_weeks,
                weeks: p.weeks,
                shifts: p.shifts,
                incidents: p.incidents,
                pages: p.pages,
                off_hours_pages: p.off_hours_pages,
                hours_called_in: p.hours_called_in,
                toil_hours: p.toil_hours,
                limit_skips: p.limit_skips,
                flagged_overrides: p.flagged_overrides,
            })
            .collect();
        Ok(Response::new(pb::OnCallLoadResponse { people }))
    }
}

pub struct ScheduleApi {
    pub engine: Engine,
}

fn shift_to_pb(
    def: &crate::domain::ScheduleDef,
    s: crate::domain::schedule::FinalShift,
    at: DateTime<Utc>,
) -> pb::Shift {
    use crate::domain::schedule::Source;
    let schedule = &def.schedule;
    // How the burnout limits decided the turn (the one in progress at `at`) or override
    // behind the shift, if they did.
    let decided = match s.source {
        Source::Layer(i) => {
            let layer = &schedule.layers[i];
            (layer.rotation.shift_at(at)).and_then(|t| layer.assigned.get(&t.index))
        }
        Source::Override(i) => {
            let o = &schedule.overrides[i];
            (def.override_notes).get(&(o.person.clone(), o.start, o.end))
        }
    };
    pb::Shift {
        source: schedule.describe(&s.source),
        person: s.person,
        start: Some(ts(s.start)),
        end: Some(ts(s.end)),
        reason: decided.map(|a| a.reason.clone()).unwrap_or_default(),
        projected: decided.is_some_and(|a| a.projected),
        flagged: decided.is_some_and(|a| a.flagged),
    }
}

/// A final shift as listed: cut where the turns it joins were decided differently (one
/// person's two turns, one by rotation and one moved to them by a limit), so each piece
/// shows its own reason.
fn listed_shifts(
    def: &crate::domain::ScheduleDef,
    s: crate::domain::schedule::FinalShift,
) -> Vec<pb::Shift> {
    use crate::domain::schedule::Source;
    let Source::Layer(i) = s.source else {
        let start = s.start;
        return vec![shift_to_pb(def, s, start)];
    };
    let layer = &def.schedule.layers[i];
    if layer.assigned.is_empty() {
        let start = s.start;
        return vec![shift_to_pb(def, s, start)];
    }
    let turns = layer.rotation.shifts_between(s.start, s.end);
    let mut out: Vec<pb::Shift> = Vec::new();
    for t in turns {
        let mut piece = s.clone();
        piece.start = t.start.max(s.start);
        piece.end = t.end.min(s.end);
        let start = piece.start;
        let pb = shift_to_pb(def, piece, start);
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

/// Longest range `Shifts` answers, so one request cannot ask for years of shifts.
pub const MAX_SHIFTS_RANGE_DAYS: i64 = 366;

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
        let shift = def.schedule.on_call(at).map(|s| shift_to_pb(def, s, at));
        Ok(Response::new(pb::OnCallResponse {
            shift,
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
        let r = req.into_inner();
        let schedule = required("schedule", &r.schedule)?;
        let person = required("person", &r.person)?;
        let by = parse_actor(r.by)?;
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
            entry: Some(override_to_pb(stored)),
        }))
    }

    async fn remove_override(
        &self,
        req: Request<pb::RemoveOverrideRequest>,
    ) -> Result<Response<pb::RemoveOverrideResponse>, Status> {
        let r = req.into_inner();
        if r.id <= 0 {
            return Err(invalid("id", "must be a positive override id"));
        }
        let by = parse_actor(r.by)?;
        let removed = self.engine.remove_override(r.id, by).await?;
        Ok(Response::new(pb::RemoveOverrideResponse {
            entry: Some(override_to_pb(removed)),
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
        let schedule = Some(r.schedule.trim().to_string()).filter(|s| !s.is_empty());
        let overrides = self
            .engine
            .list_overrides(schedule, since, r.include_removed)
            .await?
            .into_iter()
            .map(override_to_pb)
            .collect();
        Ok(Response::new(pb::ListOverridesResponse { overrides }))
    }

    async fn reload(
        &self,
        _req: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let attempt = self
            .engine
            .reload("Reload RPC")
            .await
            .map_err(|e| Status::failed_precondition(format!("{e:#}")))?;
        Ok(Response::new(pb::ReloadResponse {
            result: Some(reload_to_pb(attempt)),
        }))
    }
}

/// `from` and `to`, both required, `to` after `from`, at most [`MAX_SHIFTS_RANGE_DAYS`] apart.
fn parse_range(
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Status> {
    let from = from_ts("from", from.ok_or_else(|| invalid("from", "required"))?)?;
    let to = from_ts("to", to.ok_or_else(|| invalid("to", "required"))?)?;
    if to <= from {
        return Err(invalid("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_SHIFTS_RANGE_DAYS) {
        return Err(invalid(
            "to",
            format!("at most {MAX_SHIFTS_RANGE_DAYS} days after from"),
        ));
    }
    Ok((from, to))
}

fn required(field: &str, v: &str) -> Result<String, Status> {
    let v = v.trim();
    if v.is_empty() {
        return Err(invalid(field, "required"));
    }
    Ok(v.to_string())
}

fn override_to_pb(o: domain::ScheduleOverride) -> pb::Override {
    pb::Override {
        id: o.id,
        schedule: o.schedule,
        person: o.person,
        start: Some(ts(o.start)),
        end: Some(ts(o.end)),
        reason: o.reason,
        created_by: o.created_by,
        created_at: Some(ts(o.created_at)),
        removed_by: o.removed_by.unwrap_or_default(),
        removed_at: o.removed_at.map(ts),
    }
}

fn reload_to_pb(a: ReloadAttempt) -> pb::ReloadResult {
    pb::ReloadResult {
        at: Some(ts(a.at)),
        trigger: a.trigger,
        applied: a.applied,
        errors: a.errors,
        notes: a.notes,
    }
}

pub struct DaemonApi {
    pub engine: Engine,
}

#[tonic::async_trait]
impl pb::daemon_service_server::DaemonService for DaemonApi {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let open = self
            .engine
            .store()
            .read(|r| r.open_incident_count())
            .await
            .map_err(EngineError::from)?;
        let set = self.engine.policies();
        let reload = self.engine.reload_status();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Some(ts(self.engine.started_at())),
            schedules_dir: reload
                .schedules_dir
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            policies_loaded_at: reload.loaded_at.map(ts),
            people: set.people.len() as u32,
            services: set.services.len() as u32,
            escalation_policies: set.policies.len() as u32,
            schedules: set.schedules.len() as u32,
            last_reload: reload.last_attempt.map(reload_to_pb),
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
            .map(|(channel, o)| {
                let Some(o) = o else {
                    return pb::TestPageResult {
                        channel,
                        status: "pending".into(),
                        ..Default::default()
                    };
                };
                let (status, error) = match o.outcome {
                    AttemptOutcome::Sent => ("sent", String::new()),
                    AttemptOutcome::Retry { error, .. } => ("retrying", error),
                    AttemptOutcome::Failed { error } => ("failed", error),
                };
                pb::TestPageResult {
                    channel,
                    address: o.address,
                    status: status.into(),
                    response: o.response,
                    error,
                }
            })
            .collect();
        Ok(Response::new(pb::TestPageResponse { results }))
    }
}

pub struct IntakeApi {
    pub engine: Engine,
}

fn window_to_pb(v: MaintenanceView) -> pb::MaintenanceWindow {
    let w = v.window;
    pb::MaintenanceWindow {
        id: w.id.unwrap_or_default(),
        service: w.service,
        start: Some(ts(w.start)),
        end: Some(ts(w.end)),
        reason: w.reason,
        page_after: w.page_after,
        created_by: w.created_by,
        removed_by: v.removed_by.unwrap_or_default(),
    }
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
            expires_at: Some(ts(expires_at)),
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
            .map(|h| pb::HeartbeatInfo {
                name: h.def.name,
                service: h.def.service,
                interval_seconds: h.def.interval.as_secs(),
                severity: severity_to_pb(h.def.severity) as i32,
                last_ping_at: h.last_ping_at.map(ts),
                expires_at: h.expires_at.map(ts),
            })
            .collect();
        Ok(Response::new(pb::ListHeartbeatsResponse { heartbeats }))
    }

    async fn add_maintenance(
        &self,
        req: Request<pb::AddMaintenanceRequest>,
    ) -> Result<Response<pb::AddMaintenanceResponse>, Status> {
        let r = req.into_inner();
        let service = required("service", &r.service)?;
        let by = parse_actor(r.by)?;
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
        Ok(Response::new(pb::AddMaintenanceResponse {
            window: Some(window_to_pb(MaintenanceView {
                window,
                removed_by: None,
            })),
        }))
    }

    async fn remove_maintenance(
        &self,
        req: Request<pb::RemoveMaintenanceRequest>,
    ) -> Result<Response<pb::RemoveMaintenanceResponse>, Status> {
        let r = req.into_inner();
        if r.id <= 0 {
            return Err(invalid("id", "must be a positive maintenance window id"));
        }
        let by = parse_actor(r.by)?;
        let removed = self.engine.remove_maintenance(r.id, by).await?;
        Ok(Response::new(pb::RemoveMaintenanceResponse {
            window: Some(window_to_pb(removed)),
        }))
    }

    async fn list_maintenance(
        &self,
        req: Request<pb::ListMaintenanceRequest>,
    ) -> Result<Response<pb::ListMaintenanceResponse>, Status> {
        let r = req.into_inner();
        let service = Some(r.service.trim().to_string()).filter(|s| !s.is_empty());
        let windows = self
            .engine
            .list_maintenance(service, self.engine.clock().now(), r.include_removed)
            .await?
            .into_iter()
            .map(window_to_pb)
            .collect();
        Ok(Response::new(pb::ListMaintenanceResponse { windows }))
    }
}
