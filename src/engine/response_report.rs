//! The response-time report: reads the incidents of a range and their timelines in one read
//! snapshot, resolves each one's response target from the serving policy set, and hands
//! them to `domain::response_report`.

use chrono::{DateTime, Duration, Utc};

use super::{Engine, EngineError, EngineResult};
use crate::domain::response_report::{
    GroupBy, ResponseReport, Subject, essentials, incident_target, response_report,
};
use crate::domain::{Event, Incident};
use crate::store::IncidentFilter;

/// The most incidents one report reads (the range is at most 366 days as well): a bound on
/// the work and memory one viewer's request can cause.
pub const MAX_REPORT_INCIDENTS: usize = 10_000;

/// The timeline events read per incident: the first page, acknowledgement and escalations
/// come early; a very long timeline (a chain looping for days) is cut here, and the
/// incident's own acknowledgement time stands in if the cut hides it.
pub const MAX_REPORT_EVENTS: usize = 200;

/// How far before `from` incidents are read for the re-trigger rule: an incident resolved in
/// the day before an opening must have opened no more than this before `from` to be seen.
pub const RETRIGGER_LOOKBACK: Duration = Duration::days(7);

impl Engine {
    /// The response-time report over incidents opened in `[from, to)`, of one service or
    /// all, grouped `by`.
    pub async fn responsiveness(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        service: Option<String>,
        by: GroupBy,
    ) -> EngineResult<ResponseReport> {
        let set = self.policies();
        let now = self.inner.clock.now();
        let read = self
            .inner
            .store
            .read(move |r| {
                let filter = IncidentFilter {
                    service,
                    since: Some(from - RETRIGGER_LOOKBACK),
                    until: Some(to),
                    limit: MAX_REPORT_INCIDENTS + 1,
                    ..Default::default()
                };
                let incidents = r.list_incidents(&filter)?;
                if incidents.len() > MAX_REPORT_INCIDENTS {
                    return Ok(None);
                }
                let mut out: Vec<(Incident, Vec<Event>)> = Vec::with_capacity(incidents.len());
                for inc in incidents.into_iter().rev() {
                    // Earlier incidents count only for the re-trigger rule: no timeline.
                    // Only the few events the report uses are kept: memory stays
                    // proportional to the incidents, not to their timelines.
                    let events = if inc.created_at >= from {
                        essentials(&r.timeline_after(inc.id, 0, MAX_REPORT_EVENTS)?)
                    } else {
                        Vec::new()
                    };
                    out.push((inc, events));
                }
                Ok(Some(out))
            })
            .await?;
        let Some(read) = read else {
            return Err(EngineError::InvalidArgument(format!(
                "to: more than {MAX_REPORT_INCIDENTS} incidents in the range; ask for a shorter one"
            )));
        };
        let subjects: Vec<Subject<'_>> = (read.iter())
            .map(|(incident, events)| Subject {
                incident,
                events,
                target: incident_target(&set, incident).0,
            })
            .collect();
        let zones = (set.people.iter())
            .map(|(name, p)| (name.clone(), p.time_zone))
            .collect();
        Ok(response_report(&subjects, by, &zones, from, to, now))
    }
}
