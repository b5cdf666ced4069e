//! `IncidentService`: read, list, act on and watch incidents by id.

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::auth::Identity;
use super::watch::{self, WatchFilter, WatchStream};
use super::{caller, from_ts, invalid, parse_id, parse_note, required};
use crate::api::convert::state_from_wire;
use crate::api::limits::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::engine::{DEFAULT_TIMELINE_PAGE, Engine, IncidentFilter, MAX_TIMELINE_PAGE};
use crate::proto as pb;

pub struct IncidentApi {
    pub engine: Engine,
    /// Ends `Watch` streams on shutdown so graceful shutdown does not wait on them forever.
    pub shutdown: CancellationToken,
}

/// A `List` request as a store filter, asking one row more than the page to tell whether
/// another page exists; also returns the page size.
fn parse_list(r: &pb::ListIncidentsRequest) -> Result<(IncidentFilter, u32), Status> {
    // Four states exist; more entries can only be repeats.
    if r.states.len() > 8 {
        return Err(invalid(
            "states",
            format!("{} entries; at most 8", r.states.len()),
        ));
    }
    crate::api::limits::check_name(&r.service).map_err(|m| invalid("service", m))?;
    let states = (r.states.iter().enumerate())
        .map(|(i, s)| state_from_wire(i, *s))
        .collect::<Result<Vec<_>, _>>()?;
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
    let filter = IncidentFilter {
        states,
        service,
        since,
        until,
        before_id,
        // One extra row tells whether another page exists.
        limit: page_size as usize + 1,
    };
    Ok((filter, page_size))
}

/// A `Get` request's timeline page: the sequence to start after and the page size.
fn parse_timeline_page(r: &pb::GetIncidentRequest) -> Result<(i64, u32), Status> {
    let size = match r.timeline_page_size {
        0 => DEFAULT_TIMELINE_PAGE,
        n if n > MAX_TIMELINE_PAGE => {
            return Err(invalid(
                "timeline_page_size",
                format!("{n}; at most {MAX_TIMELINE_PAGE}"),
            ));
        }
        n => n,
    };
    let after = if r.timeline_page_token.is_empty() {
        0
    } else {
        r.timeline_page_token
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(
                    "timeline_page_token",
                    "not a token from a previous Get of this incident",
                )
            })?
    };
    Ok((after, size))
}

#[tonic::async_trait]
impl pb::incident_service_server::IncidentService for IncidentApi {
    async fn get(
        &self,
        req: Request<pb::GetIncidentRequest>,
    ) -> Result<Response<pb::GetIncidentResponse>, Status> {
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let (after, size) = parse_timeline_page(&r)?;
        let (incident, page) = self.engine.get_page(id, after, size).await?;
        Ok(Response::new(pb::GetIncidentResponse {
            incident: Some(incident.into()),
            timeline: page.events.into_iter().map(Into::into).collect(),
            next_timeline_page_token: page.next_after.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }

    async fn list(
        &self,
        req: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let (filter, page_size) = parse_list(&req.into_inner())?;
        if let Some(svc) = &filter.service
            && !self.engine.policies().services.contains_key(svc)
        {
            return Err(Status::not_found(format!("unknown service `{svc}`")));
        }
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
            incidents: incidents.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn acknowledge(
        &self,
        req: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = caller(identity.as_ref(), r.by)?;
        Ok(Response::new(self.engine.acknowledge(id, by).await?.into()))
    }

    async fn resolve(
        &self,
        req: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = caller(identity.as_ref(), r.by)?;
        let note = parse_note(r.note)?;
        Ok(Response::new(
            self.engine.resolve(id, by, note).await?.into(),
        ))
    }

    async fn escalate(
        &self,
        req: Request<pb::EscalateRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let by = caller(identity.as_ref(), r.by)?;
        Ok(Response::new(self.engine.escalate(id, by).await?.into()))
    }

    async fn add_note(
        &self,
        req: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let text = required(
            "text",
            &parse_note(r.text).map_err(|_| {
                invalid(
                    "text",
                    format!("at most {} bytes", crate::api::limits::MAX_NOTE_BYTES),
                )
            })?,
        )?;
        let by = caller(identity.as_ref(), r.by)?;
        Ok(Response::new(
            self.engine.add_note(id, by, text).await?.into(),
        ))
    }

    async fn post_mortem(
        &self,
        req: Request<pb::PostMortemRequest>,
    ) -> Result<Response<pb::PostMortemResponse>, Status> {
        let id = parse_id(req.into_inner().id)?;
        let (_, draft) = self.engine.postmortem(id).await?;
        let json = serde_json::to_string(&draft).map_err(|e| {
            tracing::error!(error = %e, "post-mortem draft as JSON");
            Status::internal("internal error; see the pagerd log")
        })?;
        Ok(Response::new(pb::PostMortemResponse {
            markdown: crate::domain::postmortem::markdown(&draft),
            json,
        }))
    }

    async fn post_mortem_done(
        &self,
        req: Request<pb::PostMortemDoneRequest>,
    ) -> Result<Response<pb::IncidentActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let r = req.into_inner();
        let id = parse_id(r.id)?;
        let url = parse_postmortem_url(&r.url)?;
        let by = caller(identity.as_ref(), r.by)?;
        Ok(Response::new(
            self.engine.postmortem_done(id, by, url).await?.into(),
        ))
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
        let filter = WatchFilter {
            incident_id: r.incident_id,
            service,
        };
        watch::open(
            self.engine.clone(),
            filter,
            r.after_sequence,
            self.shutdown.clone(),
        )
        .await
    }
}

/// Where a post-mortem went: an absolute http(s) URL within the link limits.
fn parse_postmortem_url(url: &str) -> Result<String, Status> {
    let url = required("url", url)?;
    crate::api::limits::check_href(&url).map_err(|m| invalid("url", m))?;
    if url.starts_with("mailto:") {
        return Err(invalid("url", "must be an http(s) URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IncidentState;

    #[test]
    fn a_postmortem_url_is_an_http_url_within_the_limits() {
        assert_eq!(
            parse_postmortem_url(" https://wiki.example/pm/7 ").unwrap(),
            "https://wiki.example/pm/7"
        );
        let long = format!("https://x.example/{}", "a".repeat(2048));
        let table = [
            ("", "url: required"),
            (
                "javascript:alert(1)",
                "url: scheme `javascript:` is not allowed (http, https or mailto)",
            ),
            ("mailto:a@example.com", "url: must be an http(s) URL"),
            ("wiki/pm/7", "url: `wiki/pm/7` is not a URL"),
            (long.as_str(), "url: 2066 bytes; at most 2048"),
        ];
        for (url, message) in table {
            assert_eq!(
                parse_postmortem_url(url).unwrap_err().message(),
                message,
                "{url}"
            );
        }
    }

    #[test]
    fn a_list_request_becomes_a_filter_one_row_longer_than_the_page() {
        let (f, size) = parse_list(&pb::ListIncidentsRequest {
            states: vec![pb::IncidentState::Acknowledged as i32],
            service: " db ".into(),
            page_token: "42".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(size, DEFAULT_PAGE_SIZE);
        assert_eq!(f.limit, DEFAULT_PAGE_SIZE as usize + 1);
        assert_eq!(f.states, vec![IncidentState::Acknowledged]);
        assert_eq!(f.service.as_deref(), Some("db"));
        assert_eq!(f.before_id, Some(42));
    }

    #[test]
    fn bad_list_requests_name_the_field() {
        let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let table = [
            (
                pb::ListIncidentsRequest {
                    states: vec![1, 0],
                    ..Default::default()
                },
                "states[1]: unknown state 0",
            ),
            (
                pb::ListIncidentsRequest {
                    page_size: 501,
                    ..Default::default()
                },
                "page_size: 501; at most 500",
            ),
            (
                pb::ListIncidentsRequest {
                    page_token: "-3".into(),
                    ..Default::default()
                },
                "page_token: not a token from a previous List",
            ),
            (
                pb::ListIncidentsRequest {
                    since: ts(10),
                    until: ts(5),
                    ..Default::default()
                },
                "until: is before since",
            ),
        ];
        for (r, message) in table {
            assert_eq!(parse_list(&r).unwrap_err().message(), message);
        }
    }

    #[test]
    fn a_timeline_page_request_is_checked_and_named() {
        let get = |size: u32, token: &str| pb::GetIncidentRequest {
            id: 1,
            timeline_page_size: size,
            timeline_page_token: token.into(),
        };
        assert_eq!(
            parse_timeline_page(&get(0, "")).unwrap(),
            (0, DEFAULT_TIMELINE_PAGE)
        );
        assert_eq!(parse_timeline_page(&get(10, "42")).unwrap(), (42, 10));
        let table = [
            (get(1001, ""), "timeline_page_size: 1001; at most 1000"),
            (
                get(0, "x"),
                "timeline_page_token: not a token from a previous Get of this incident",
            ),
            (
                get(0, "0"),
                "timeline_page_token: not a token from a previous Get of this incident",
            ),
        ];
        for (r, message) in table {
            assert_eq!(parse_timeline_page(&r).unwrap_err().message(), message);
        }
    }
}
