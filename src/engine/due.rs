//! Running due actions: everything whose time has come, in one transaction per batch.

use chrono::{DateTime, Utc};

use super::paging::{fire, fire_contact};
use super::{Effects, Engine, burnout, handoff, ingest};
use crate::store::DueKind;

impl Engine {
    /// Runs every action due at `now` (up to `limit`) in one transaction; returns how many ran.
    pub async fn run_due(&self, now: DateTime<Utc>, limit: usize) -> anyhow::Result<usize> {
        let ctx = self.ctx(now);
        let (n, fx) = self
            .inner
            .store
            .write(move |tx| {
                let mut fx = Effects::default();
                let due = tx.take_due(now, limit)?;
                for action in &due {
                    if let (Some(schedule), DueKind::Shift) = (&action.schedule, action.kind) {
                        burnout::fire_shift(tx, &ctx, schedule, &mut fx)?;
                        continue;
                    }
                    if let Some(schedule) = &action.schedule {
                        handoff::fire_handoff(tx, &ctx, schedule, action.due_at, &mut fx)?;
                        continue;
                    }
                    if let Some(heartbeat) = &action.heartbeat {
                        ingest::fire_heartbeat(tx, &ctx, heartbeat, &mut fx)?;
                        continue;
                    }
                    let Some(inc) = action
                        .incident_id
                        .map(|id| tx.incident(id))
                        .transpose()?
                        .flatten()
                    else {
                        continue;
                    };
                    if let Some(contact) = &action.contact {
                        fire_contact(tx, &ctx, &inc, contact, action.due_at, &mut fx)?;
                        continue;
                    }
                    fire(tx, &ctx, &inc, action.kind, action.due_at, &mut fx)?;
                }
                Ok((due.len(), fx))
            })
            .await?;
        let burnout = fx.burnout;
        self.publish(fx);
        if burnout {
            self.refresh_burnout().await?;
        }
        Ok(n)
    }
}
