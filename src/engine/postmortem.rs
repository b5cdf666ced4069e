//! Notes and post-mortems: a note on the timeline, the draft of an incident, where its
//! post-mortem went, and — inside every resolution — the notice that one is required
//! (`postmortem.required_for`), queued in the resolution's own transaction.

use super::{ActionOutcome, Ctx, Effects, Engine, EngineError, EngineResult};
use crate::domain::audit::Actor;
use crate::domain::contact::Method;
use crate::domain::postmortem::{self, Draft};
use crate::domain::{EventKind, Incident, IncidentState, NewEvent, PageKind, Severity};
use crate::store::WriteTx;

/// The most of a draft an email or webhook notice carries; the rest is one
/// `pagerctl postmortem` away.
const MAX_NOTICE_DRAFT_BYTES: usize = 256 * 1024;

impl Engine {
    /// Adds a note by `by` to the incident's timeline (open or resolved).
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn add_note(&self, id: i64, by: Actor, text: String) -> EngineResult<ActionOutcome> {
        self.change(id, "note", by.clone(), move |tx, ctx, inc, fx| {
            let ev = NewEvent::new(EventKind::Note, format!("{text}{}", by.note_suffix()))
                .actor(&by.label());
            fx.events.push(tx.add_event(id, &inc.service, ev, ctx.now)?);
            Ok(true)
        })
        .await
    }

    /// The incident and its post-mortem draft.
    pub async fn postmortem(&self, id: i64) -> EngineResult<(Incident, Draft)> {
        let found = self
            .store()
            .read(move |r| match r.incident(id)? {
                Some(inc) => Ok(Some((inc, r.timeline(id)?))),
                None => Ok(None),
            })
            .await?;
        let (inc, events) =
            found.ok_or_else(|| EngineError::NotFound(format!("no incident {id}")))?;
        let now = self.clock().now();
        let draft = postmortem::draft_for(&self.policies(), &inc, &events, now);
        Ok((inc, draft))
    }

    /// Records where the post-mortem of a resolved incident went; `changed` is false when
    /// it already was this URL.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn postmortem_done(
        &self,
        id: i64,
        by: Actor,
        url: String,
    ) -> EngineResult<ActionOutcome> {
        self.change(id, "postmortem done", by, move |tx, _ctx, inc, _fx| {
            if inc.state != IncidentState::Resolved {
                return Err(EngineError::FailedPrecondition(format!(
                    "incident {id} is not resolved yet; record its post-mortem once it is"
                )));
            }
            if inc.postmortem_url.as_deref() == Some(url.as_str()) {
                return Ok(false);
            }
            tx.set_postmortem_url(id, &url)?;
            Ok(true)
        })
        .await
    }

    /// Which severities need a post-mortem (`postmortem.required_for`); set by the caller.
    pub fn set_postmortem_required_for(&self, severities: Vec<Severity>) {
        (self.inner.postmortem_required_for).store(std::sync::Arc::new(severities));
    }
}

/// Inside a resolution (any path: RPC, alert, heartbeat): if the incident's severity needs a
/// post-mortem, mark it pending and queue the notice to the person who owns it.
pub(super) fn on_resolved(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    id: i64,
    resolver: &Actor,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(inc) = tx.incident(id)? else {
        return Ok(());
    };
    if !ctx.postmortem_required_for.contains(&inc.severity) || inc.postmortem_required {
        return Ok(());
    }
    tx.set_postmortem_required(id)?;
    let inc = tx.incident(id)?.unwrap_or(inc);
    let Some(owner) = postmortem::notice_recipient(&ctx.policies, &inc, &resolver.who, ctx.now)
    else {
        tracing::warn!(
            incident = id,
            "post-mortem pending, but nobody to tell (no acknowledger, resolver or first-level person)"
        );
        return Ok(());
    };
    let person = ctx.policies.people.get(&owner);
    let events = tx.timeline(id)?;
    let draft = postmortem::draft_for(&ctx.policies, &inc, &events, ctx.now);
    let subject = format!(
        "Post-mortem pending: incident {id} ({} {})",
        inc.severity, inc.service
    );
    let intro = format!(
        "Incident {id} ({} on {}) is resolved and needs a post-mortem. The draft is \
         `pagerctl postmortem {id}`; when it is written, record where: \
         `pagerctl postmortem {id} --done URL`.\n",
        inc.severity, inc.service
    );
    // The draft after a separator naming its file: email attaches it, webhook and log
    // show it after the text (`postmortem::notice`).
    let long = postmortem::notice::with_attachment(
        &intro,
        &postmortem::notice::draft_filename(id),
        &clip(&postmortem::markdown(&draft), MAX_NOTICE_DRAFT_BYTES, id),
    );
    for channel in &ctx.channels {
        // Email and the broadcast channels (webhook, log) carry the draft; SMS and Slack the
        // short pointer. A contact method the person lacks gets nothing.
        let body = match Method::parse(channel) {
            None | Some(Method::Email) => &long,
            Some(_) => &intro,
        };
        if let Some(m) = Method::parse(channel)
            && person.is_none_or(|p| m.address(p).is_none())
        {
            continue;
        }
        tx.enqueue_notice(
            PageKind::Handoff,
            &owner,
            channel,
            &subject,
            body,
            ctx.now,
            ctx.now,
        )?;
        fx.pages = true;
    }
    tracing::info!(incident = id, owner = %owner, "post-mortem pending; notice queued");
    Ok(())
}

/// `text` cut to at most `max` bytes at a line end, saying where the rest is.
fn clip(text: &str, max: usize, id: i64) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').unwrap_or(0);
    format!(
        "{}\n\n*(cut here; the whole draft: `pagerctl postmortem {id}`)*\n",
        &text[..cut]
    )
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn a_long_draft_is_cut_at_a_line_end_and_says_where_the_rest_is() {
        assert_eq!(clip("a\nb\n", 10, 3), "a\nb\n");
        let cut = clip("line one\nline two é\nline three\n", 21, 3);
        assert_eq!(
            cut,
            "line one\nline two é\n\n*(cut here; the whole draft: `pagerctl postmortem 3`)*\n"
        );
        // A cut inside a multi-byte character still lands on a boundary.
        assert!(clip(&"é".repeat(100), 51, 3).starts_with("\n\n*(cut here"));
    }
}
