//! `AlertService`: trigger, acknowledge and resolve alerts by (service, dedup key).

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};

use super::auth::{Identity, alert_caller};
use super::{caller, invalid, parse_actor, parse_note};
use crate::api::convert::severity_from_wire;
use crate::api::limits::{
    MAX_DEDUP_KEY_BYTES, MAX_DETAILS_BYTES, MAX_LINKS, MAX_SOURCE_BYTES, MAX_SUMMARY_CHARS,
    check_href, check_link_text,
};
use crate::domain::audit::Actor;
use crate::domain::{Link, NewAlert};
use crate::engine::Engine;
use crate::proto as pb;

pub struct AlertApi {
    pub engine: Engine,
}

/// Validates a trigger at the edge; the engine only sees well-formed alerts.
pub fn parse_trigger(r: pb::TriggerRequest) -> Result<NewAlert, Status> {
    let service = r.service.trim().to_string();
    if service.is_empty() {
        return Err(Status::not_found(
            "service: empty; name a service from the policy files",
        ));
    }
    let severity = severity_from_wire(r.severity)?;
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
        check_href(&l.href).map_err(|m| invalid(&format!("links[{i}].href"), m))?;
        check_link_text(&l.text).map_err(|m| invalid(&format!("links[{i}].text"), m))?;
        links.push(Link::from(l));
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

/// Service and dedup key of an acknowledge or resolve by key.
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

#[tonic::async_trait]
impl pb::alert_service_server::AlertService for AlertApi {
    async fn trigger(
        &self,
        req: Request<pb::TriggerRequest>,
    ) -> Result<Response<pb::TriggerResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let mut r = req.into_inner();
        r.service = self.service_of(identity.as_ref(), &r.integration_key, &r.service)?;
        let alert = parse_trigger(r)?;
        let o = self.engine.trigger(alert).await?;
        Ok(Response::new(o.into()))
    }

    async fn acknowledge(
        &self,
        req: Request<pb::AlertAcknowledgeRequest>,
    ) -> Result<Response<pb::AlertActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let mut r = req.into_inner();
        r.service = self.service_of(identity.as_ref(), &r.integration_key, &r.service)?;
        parse_key(&r.service, &r.dedup_key)?;
        let by = alert_actor(identity.as_ref(), &r.integration_key, &r.service, r.by)?;
        let o = self
            .engine
            .acknowledge_by_key(r.service.trim(), &r.dedup_key, by)
            .await?;
        Ok(Response::new(o.into()))
    }

    async fn resolve(
        &self,
        req: Request<pb::AlertResolveRequest>,
    ) -> Result<Response<pb::AlertActionResponse>, Status> {
        let identity = req.extensions().get::<Identity>().cloned();
        let mut r = req.into_inner();
        r.service = self.service_of(identity.as_ref(), &r.integration_key, &r.service)?;
        parse_key(&r.service, &r.dedup_key)?;
        let by = alert_actor(identity.as_ref(), &r.integration_key, &r.service, r.by)?;
        let note = parse_note(r.note)?;
        let o = self
            .engine
            .resolve_by_key(r.service.trim(), &r.dedup_key, by, note)
            .await?;
        Ok(Response::new(o.into()))
    }
}

impl AlertApi {
    /// The service an alert call acts on, and whether the caller may: with an integration
    /// key, the key's service (a `service` given too must agree) whatever the token; without
    /// one, the named service, for a responder or admin token (see `auth::alert_caller`).
    fn service_of(
        &self,
        identity: Option<&Identity>,
        integration_key: &str,
        service: &str,
    ) -> Result<String, Status> {
        let key = integration_key.trim();
        alert_caller(identity, !key.is_empty())?;
        if key.is_empty() {
            return Ok(service.to_string());
        }
        let set = self.engine.policies();
        let found = set.service_for_key(key).ok_or_else(|| {
            Status::not_found("integration_key: no service has this integration key")
        })?;
        if !service.trim().is_empty() && service.trim() != found.name {
            return Err(invalid(
                "service",
                format!(
                    "`{}` does not match the integration key's service",
                    service.trim()
                ),
            ));
        }
        Ok(found.name.clone())
    }
}

/// Who acknowledges or resolves by key: the token's identity, or the service's integration
/// key (a `by` other than the default "api" is kept only as a claim).
fn alert_actor(
    identity: Option<&Identity>,
    integration_key: &str,
    service: &str,
    by: String,
) -> Result<Actor, Status> {
    if integration_key.trim().is_empty() {
        return caller(identity, by);
    }
    let actor = Actor::new(
        "integration-key",
        format!("integration key of service {} via gRPC", service.trim()),
    );
    Ok(match parse_actor(by)?.as_str() {
        "api" => actor,
        claimed => actor.with_claim(claimed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use tonic::Code;

    fn trigger() -> pb::TriggerRequest {
        pb::TriggerRequest {
            service: " db ".into(),
            severity: pb::Severity::High as i32,
            summary: " Disk full ".into(),
            dedup_key: "disk-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_trigger_becomes_a_trimmed_alert_and_a_missing_key_is_generated() {
        let a = parse_trigger(trigger()).unwrap();
        assert_eq!(
            (
                a.service.as_str(),
                a.severity,
                a.summary.as_str(),
                a.dedup_key.as_str()
            ),
            ("db", Severity::High, "Disk full", "disk-1")
        );
        let a = parse_trigger(pb::TriggerRequest {
            dedup_key: String::new(),
            ..trigger()
        })
        .unwrap();
        assert_eq!(a.dedup_key.len(), 36);
    }

    #[test]
    fn bad_triggers_are_refused_with_the_field_named() {
        let table: Vec<(pb::TriggerRequest, Code, &str)> = vec![
            (
                pb::TriggerRequest {
                    service: " ".into(),
                    ..trigger()
                },
                Code::NotFound,
                "service: empty; name a service from the policy files",
            ),
            (
                pb::TriggerRequest {
                    severity: 0,
                    ..trigger()
                },
                Code::InvalidArgument,
                "severity: required (critical, high, medium or low)",
            ),
            (
                pb::TriggerRequest {
                    summary: "x".repeat(MAX_SUMMARY_CHARS + 1),
                    ..trigger()
                },
                Code::InvalidArgument,
                "summary: 1025 characters; at most 1024",
            ),
            (
                pb::TriggerRequest {
                    links: vec![pb::Link {
                        href: "not a url".into(),
                        text: String::new(),
                    }],
                    ..trigger()
                },
                Code::InvalidArgument,
                "links[0].href: `not a url` is not a URL",
            ),
        ];
        for (r, code, message) in table {
            let e = parse_trigger(r).unwrap_err();
            assert_eq!((e.code(), e.message()), (code, message));
        }
        assert_eq!(
            parse_key("db", "").unwrap_err().message(),
            "dedup_key: required"
        );
    }
}
