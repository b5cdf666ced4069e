//! Running due actions: everything whose time has come, in one transaction per batch, each
//! kind dispatched by one `match` on [`Due`].

use chrono::{DateTime, Utc};

use super::{Ctx, Effects, Engine, burnout, handoff, ingest, paging, rebalance};
use crate::domain::due::Due;
use crate::store::WriteTx;

impl Engine {
    /// Runs every action due at `now` (up to `limit`) in one transaction; returns how many ran.
    pub async fn run_due(&self, now: DateTime<Utc>, limit: usize) -> anyhow::Result<usize> {
        let ctx = self.ctx(now);
        let token = self.leader_token()?;
        let (n, fx) = self
            .inner
            .store
            .write(move |tx| {
                // Only the lease holder takes due actions, under its fencing token.
                tx.fence(token)?;
                let mut fx = Effects::default();
                let due = tx.take_due(now, limit)?;
                for (action, due_at) in &due {
                    run(tx, &ctx, action, *due_at, &mut fx)?;
                    fx.obs
                        .late((now - *due_at).num_milliseconds() as f64 / 1000.0);
                }
                Ok((due.len(), fx))
            })
            .await
            .map_err(|e| self.fenced_out(e))?;
        let burnout = fx.burnout;
        self.publish(fx);
        if burnout {
            self.refresh_burnout().await?;
        }
        Ok(n)
    }
}

/// One due action. An incident action whose incident is gone does nothing.
fn run(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    due: &Due,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let incident = |id: i64| tx.incident(id);
    match due {
        Due::Escalate { incident: id } => match incident(*id)? {
            Some(inc) => paging::fire_escalation(tx, ctx, &inc, due_at, fx),
            None => Ok(()),
        },
        Due::AckTimeout { incident: id } => match incident(*id)? {
            Some(inc) => paging::fire_ack_timeout(tx, ctx, &inc, due_at, fx),
            None => Ok(()),
        },
        Due::Release { incident: id } => match incident(*id)? {
            Some(inc) => paging::fire_release(tx, ctx, &inc, due_at, fx),
            None => Ok(()),
        },
        Due::Contact {
            incident: id,
            person,
            channel,
            pos,
        } => match incident(*id)? {
            Some(inc) => paging::fire_contact(tx, ctx, &inc, (person, channel, *pos), due_at, fx),
            None => Ok(()),
        },
        Due::Handoff { schedule } => handoff::fire_handoff(tx, ctx, schedule, due_at, fx),
        Due::Shift { schedule } => burnout::fire_shift(tx, ctx, schedule, fx),
        Due::HeartbeatExpiry { heartbeat } => ingest::fire_heartbeat(tx, ctx, heartbeat, fx),
        Due::Rebalance { schedule } => rebalance::fire_rebalance(tx, ctx, schedule, due_at, fx),
    }
}
