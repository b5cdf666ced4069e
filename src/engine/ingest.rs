//! Alert intake in the engine: held incidents and their release (maintenance windows,
//! support hours), the facts the threshold rule decides on, heartbeats, and maintenance windows made through the
//! API. Decisions are the pure functions of `domain::ingest`; this writes them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::incidents::{open_alert, resolve_in};
use super::paging::apply_step;
use super::{Ctx, Effects, Engine, EngineError, EngineResult};
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::due::{Due, DueScope};
use crate::domain::ingest::{Hold, MaintenanceWindow, Threshold, hold};
use crate::domain::threshold::{Opening, Raise, decide, related_values};
use crate::domain::{self, EventKind, Incident, NewAlert, NewEvent};
use crate::store::WriteTx;

/// A new maintenance window, as asked for.
#[derive(Debug, Clone)]
pub struct MaintenanceRequest {
    pub service: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    pub page_after: bool,
    /// The authenticated caller (recorded as `created_by` and in the audit trail).
    pub by: Actor,
}

/// A window as listed: from the files (`id` None) or the API.
#[derive(Debug, Clone)]
pub struct MaintenanceView {
    pub window: MaintenanceWindow,
    pub removed_by: Option<String>,
}

/// A heartbeat as listed.
#[derive(Debug, Clone)]
pub struct HeartbeatView {
    pub def: domain::ingest::HeartbeatDef,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The ping URL with its token (the token alone goes in a Bearer header).
    pub ping_url: String,
    pub token: String,
}

/// Writes a hold on a new incident: the timeline says why, the release is a due action.
pub(super) fn record_hold(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    id: i64,
    service: &str,
    hold: &Hold,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    fx.events.push(tx.add_event(
        id,
        service,
        NewEvent::new(EventKind::Held, hold.describe()),
        ctx.now,
    )?);
    if let Some(at) = hold.release() {
        tx.set_due(&Due::Release { incident: id }, at)?;
        fx.due(at);
    }
    Ok(())
}

/// A held incident's release came due: page its first level, unless it must wait again
/// (another window, or the support hours the window ended outside of).
pub(super) fn release(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let support = ctx
        .policies
        .services
        .get(&inc.service)
        .and_then(|s| s.support_hours.as_ref());
    if let Some(again) = hold(
        &inc.service,
        inc.severity,
        ctx.now,
        &ctx.policies.maintenance,
        support,
    ) {
        return record_hold(tx, ctx, inc.id, &inc.service, &again, fx);
    }
    let Some(policy) = ctx.policy(inc) else {
        return Ok(());
    };
    let step = domain::on_trigger(policy.timeline(inc.severity));
    tx.set_position(inc.id, step.pos())?;
    fx.events.push(tx.add_event(
        inc.id,
        &inc.service,
        NewEvent::new(EventKind::Escalated, "no longer held: paging starts").level(1),
        ctx.now,
    )?);
    apply_step(
        tx,
        ctx,
        inc.id,
        &inc.service,
        inc.severity,
        &step,
        due_at,
        fx,
    )
}

/// Whether an alert that opens a new incident opens it raised (see `domain::threshold`):
/// gathers the earlier openings of its key and, with `related_by`, the service's open
/// incidents in the window that share the alert's values.
pub(super) fn threshold_raise(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    service: &domain::Service,
    threshold: &Threshold,
    alert: &NewAlert,
) -> anyhow::Result<Option<Raise>> {
    let since = ctx.now - chrono::Duration::from_std(threshold.within).unwrap_or_default();
    let earlier = tx.openings_since(&alert.service, &alert.dedup_key, since)?;
    // Only the related ones, and no more than the count needs: the rule runs inside the
    // writer's transaction, so it must stay cheap however many alerts are open.
    let others = match related_values(&service.related_by, &alert.details) {
        Some(shared) => tx.open_since(&alert.service, since, &shared, threshold.count as usize)?,
        None => Vec::new(),
    };
    Ok(decide(
        threshold,
        &service.related_by,
        Opening {
            now: ctx.now,
            details: &alert.details,
            earlier_openings: &earlier,
            open_others: &others,
        },
    ))
}

/// A heartbeat was not pinged in time: open (or add to) its incident. The next expiry is
/// set by the next ping.
pub(super) fn fire_heartbeat(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    name: &str,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(def) = ctx.policies.heartbeats.get(name) else {
        return Ok(()); // removed by a reload
    };
    if !ctx.policies.services.contains_key(&def.service) {
        return Ok(());
    }
    let interval = humantime::format_duration(def.interval).to_string();
    let alert = NewAlert {
        service: def.service.clone(),
        dedup_key: def.dedup_key(),
        severity: def.severity,
        summary: format!("heartbeat {name} expired: no ping within {interval}"),
        source: "pagerd heartbeat".into(),
        details: BTreeMap::from([
            ("heartbeat".to_string(), name.to_string()),
            ("interval".to_string(), interval),
        ]),
        links: Vec::new(),
    };
    open_alert(tx, ctx, alert, fx)?;
    tracing::warn!(heartbeat = name, "heartbeat expired");
    Ok(())
}

/// At install: every heartbeat of the set is watched (an expiry row), unless it expired and
/// its incident is still open; rows of heartbeats no longer defined go.
pub(super) fn watch_heartbeats(
    tx: &dyn WriteTx,
    set: &domain::PolicySet,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut earliest: Option<DateTime<Utc>> = None;
    let states = tx.heartbeat_states()?;
    for state in &states {
        if state.expires_at.is_some() && !set.heartbeats.contains_key(&state.name) {
            tx.cancel_due(&DueScope::Heartbeat(state.name.clone()))?;
        }
    }
    for def in set.heartbeats.values() {
        // Every heartbeat has a ping token from its first install on: pings need it.
        if tx.url_secret("heartbeat", &def.name)?.is_none() {
            tx.set_url_secret("heartbeat", &def.name, &super::secrets::new_token(), now)?;
        }
        let state = states.iter().find(|s| s.name == def.name);
        let due = match state.and_then(|s| s.expires_at.map(|due| (due, s.last_ping_at))) {
            // A pending expiry follows the interval in the files now, counted from the last
            // ping. One already overdue stays as it is, so it fires.
            Some((due, Some(last))) if due > now => {
                let moved = def.expires_at(last).max(now);
                if moved != due {
                    tx.set_due(
                        &Due::HeartbeatExpiry {
                            heartbeat: def.name.clone(),
                        },
                        moved,
                    )?;
                }
                moved
            }
            Some((due, _)) => due,
            None => {
                if tx
                    .open_incident_id(&def.service, &def.dedup_key())?
                    .is_some()
                {
                    continue;
                }
                let due = def.expires_at(now);
                tx.set_due(
                    &Due::HeartbeatExpiry {
                        heartbeat: def.name.clone(),
                    },
                    due,
                )?;
                due
            }
        };
        earliest = Some(earliest.map_or(due, |e| e.min(due)));
    }
    Ok(earliest)
}

impl Engine {
    /// Records a heartbeat ping; returns the next expiry and the incident it resolved.
    pub async fn heartbeat(&self, name: &str) -> EngineResult<(DateTime<Utc>, Option<i64>)> {
        let ctx = self.ctx(self.inner.clock.now());
        let def = ctx
            .policies
            .heartbeats
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("name: no heartbeat `{name}`")))?;
        let (out, fx) = self
            .inner
            .store
            .write(move |tx| {
                let mut fx = Effects::default();
                tx.record_ping(&def.name, ctx.now)?;
                let due = def.expires_at(ctx.now);
                tx.set_due(
                    &Due::HeartbeatExpiry {
                        heartbeat: def.name.clone(),
                    },
                    due,
                )?;
                fx.due(due);
                let mut resolved = None;
                if let Some(id) = tx.open_incident_id(&def.service, &def.dedup_key())?
                    && let Some(inc) = tx.incident(id)?
                {
                    let by = Actor::new("heartbeat", format!("ping of heartbeat {}", def.name));
                    resolve_in(tx, &ctx, &inc, &by, "pinged again", &mut fx)?;
                    resolved = Some(id);
                }
                Ok(((due, resolved), fx))
            })
            .await?;
        self.publish(fx);
        Ok(out)
    }

    pub async fn list_heartbeats(&self) -> EngineResult<Vec<HeartbeatView>> {
        let set = self.policies();
        let names: Vec<String> = set.heartbeats.keys().cloned().collect();
        let (states, tokens) = self
            .inner
            .store
            .read(move |r| {
                let tokens = names
                    .iter()
                    .map(|n| r.url_secret("heartbeat", n))
                    .collect::<crate::store::Result<Vec<_>>>()?;
                Ok((r.heartbeat_states()?, tokens))
            })
            .await?;
        Ok(set
            .heartbeats
            .values()
            .zip(tokens)
            .map(|(def, token)| {
                let state = states.iter().find(|s| s.name == def.name);
                // Made at install; an empty one only in the instant before it lands.
                let token = token.unwrap_or_default();
                HeartbeatView {
                    def: def.clone(),
                    last_ping_at: state.and_then(|s| s.last_ping_at),
                    expires_at: state.and_then(|s| s.expires_at),
                    ping_url: self.public_url(&super::UrlKind::Heartbeat.path(&def.name, &token)),
                    token,
                }
            })
            .collect())
    }

    /// Stores a window and applies it at once to new alerts of its service.
    pub async fn add_maintenance(
        &self,
        req: MaintenanceRequest,
    ) -> EngineResult<MaintenanceWindow> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        if !self.policies().services.contains_key(&req.service) {
            return Err(EngineError::NotFound(format!(
                "service: no service `{}`",
                req.service
            )));
        }
        if req.end <= req.start {
            return Err(EngineError::InvalidArgument(
                "end: must be after start".into(),
            ));
        }
        if req.end <= now {
            return Err(EngineError::InvalidArgument(
                "end: the window would be over already".into(),
            ));
        }
        let window = MaintenanceWindow {
            id: None,
            service: req.service,
            start: req.start,
            end: req.end,
            reason: req.reason,
            page_after: req.page_after,
            created_by: req.by.who.clone(),
        };
        let by = req.by;
        let stored = self
            .inner
            .store
            .write(move |tx| {
                let stored = tx.insert_maintenance(&window, now)?;
                let target = format!(
                    "service {} maintenance {}",
                    stored.service,
                    stored.id.unwrap_or_default()
                );
                tx.add_audit(&AuditEntry::new(&by, "add maintenance", target, now))?;
                Ok(stored)
            })
            .await?;
        installed.maintenance.push(stored.clone());
        self.inner.policies.store(Arc::new(installed.serving()));
        tracing::info!(id = stored.id, service = %stored.service, by = %stored.created_by, "maintenance window added");
        Ok(stored)
    }

    /// Ends a window now; its held incidents decide at once whether to page.
    pub async fn remove_maintenance(&self, id: i64, by: Actor) -> EngineResult<MaintenanceView> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let (removed, changed) = self
            .inner
            .store
            .write(move |tx| {
                let out = tx.remove_maintenance(id, &by.who, now)?;
                if let Some((w, true)) = &out {
                    tx.advance_releases(&w.window.service, now)?;
                    let target = format!("service {} maintenance {id}", w.window.service);
                    tx.add_audit(&AuditEntry::new(&by, "remove maintenance", target, now))?;
                }
                Ok(out)
            })
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("id: no maintenance window {id}")))?;
        if !changed {
            return Err(EngineError::FailedPrecondition(format!(
                "id: maintenance window {id} was already removed by {}",
                removed.removed_by.as_deref().unwrap_or("someone")
            )));
        }
        installed.maintenance.retain(|w| w.id != Some(id));
        self.inner.policies.store(Arc::new(installed.serving()));
        self.inner.timer.hint(now);
        tracing::info!(id, service = %removed.window.service, "maintenance window removed");
        Ok(MaintenanceView {
            window: removed.window,
            removed_by: removed.removed_by,
        })
    }

    /// Windows ending after `since`: the files' ones, then those made through the API.
    pub async fn list_maintenance(
        &self,
        service: Option<String>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> EngineResult<Vec<MaintenanceView>> {
        let set = self.policies();
        let mut out: Vec<MaintenanceView> = set
            .maintenance
            .iter()
            .filter(|w| w.id.is_none() && w.end > since)
            .filter(|w| service.as_ref().is_none_or(|s| *s == w.service))
            .map(|w| MaintenanceView {
                window: w.clone(),
                removed_by: None,
            })
            .collect();
        let stored = self
            .inner
            .store
            .read(move |r| r.list_maintenance(service.as_deref(), since, include_removed))
            .await?;
        out.extend(stored.into_iter().map(|s| MaintenanceView {
            window: s.window,
            removed_by: s.removed_by,
        }));
        Ok(out)
    }
}
