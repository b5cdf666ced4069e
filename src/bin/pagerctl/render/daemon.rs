//! The daemon as text: `status`, and what `reload` applied or refused.

use chrono::{DateTime, Utc};

use pagerd::proto as pb;

use super::time::{compact_duration, local_time, relative, to_datetime};
use super::{clean, labelled, non_empty, plural};

/// `pagerctl status`: one labelled line per fact; a refused last reload reads `REFUSED` and
/// lists its errors below.
pub(crate) fn status_text(s: &pb::StatusResponse, addr: &str, now: DateTime<Utc>) -> String {
    let ago = |t: DateTime<Utc>| format!("{} ({})", local_time(t), relative(t, now));
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some(started) = to_datetime(s.started_at.as_ref()) {
        fields.push((
            "started",
            format!(
                "{} (up {})",
                local_time(started),
                compact_duration(now - started)
            ),
        ));
    }
    fields.push(("policy set", policy_set_summary(s)));
    let mut loaded = match to_datetime(s.policies_loaded_at.as_ref()) {
        Some(t) => format!("loaded {}", ago(t)),
        None => "loaded at an unknown time".to_owned(),
    };
    if !s.schedules_dir.is_empty() {
        loaded.push_str(&format!(" from {}", clean(&s.schedules_dir)));
    }
    fields.push(("", loaded));
    fields.push(("incidents", format!("{} open", s.open_incidents)));
    fields.push((
        "channels",
        if s.channels.is_empty() {
            "none (pages are recorded but not sent)".to_owned()
        } else {
            s.channels
                .iter()
                .map(|c| clean(c))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    let mut below = Vec::new();
    let last = match &s.last_reload {
        None => "none since start".to_owned(),
        Some(r) => {
            let when = to_datetime(r.at.as_ref())
                .map(local_time)
                .unwrap_or_else(|| "an unknown time".into());
            let trigger = non_empty(clean(&r.trigger));
            if r.applied {
                below.extend(r.notes.iter().map(|n| clean(n)));
                format!("applied at {when} ({trigger})")
            } else {
                below.extend(r.errors.iter().map(|e| clean(e)));
                format!(
                    "REFUSED at {when} ({trigger}): {}; the policy set above keeps serving",
                    plural(r.errors.len(), "error")
                )
            }
        }
    };
    fields.push(("last reload", last));
    let (nodes_field, node_lines) = nodes_text(&s.nodes, now);
    if let Some(f) = nodes_field {
        fields.push(("nodes", f));
    }

    let mut text = format!("pagerd {} at {addr}\n", clean(&s.version));
    text.push_str(&labelled(fields, " "));
    for line in below {
        text.push_str(&format!("    {line}\n"));
    }
    for line in node_lines {
        text.push_str(&format!("    {line}\n"));
    }
    text
}

/// A node not heard from for this long has probably stopped (nodes report every few seconds).
const NODE_SILENT_SECS: i64 = 60;

/// The `nodes:` line and one line per node, when there are several (a single node on SQLite
/// says nothing). Nodes running different policy sets are a warning: each pages by its own.
fn nodes_text(nodes: &[pb::NodeStatus], now: DateTime<Utc>) -> (Option<String>, Vec<String>) {
    if nodes.len() <= 1 && nodes.iter().all(|n| n.address.is_empty()) {
        return (None, Vec::new());
    }
    let live: Vec<&pb::NodeStatus> = nodes
        .iter()
        .filter(|n| {
            to_datetime(n.seen_at.as_ref())
                .is_some_and(|t| (now - t).num_seconds() < NODE_SILENT_SECS)
        })
        .collect();
    let mut digests: Vec<&str> = live.iter().map(|n| n.policy_digest.as_str()).collect();
    digests.sort();
    digests.dedup();
    let leaders = live.iter().filter(|n| n.leader).count();
    let mut field = format!("{} running", live.len());
    match digests.len() {
        0 | 1 => field.push_str(", same policy set"),
        k => field.push_str(&format!(
            "; WARNING: they run {k} different policy sets (check each node's schedules_dir)"
        )),
    }
    if leaders == 0 {
        field.push_str("; no leader (nothing is paged until one takes the lease)");
    }
    let lines = nodes
        .iter()
        .map(|n| {
            let seen = to_datetime(n.seen_at.as_ref());
            let mut line = format!(
                "{}  {}  {}  policy {}",
                clean(&n.name),
                non_empty(clean(&n.address)),
                if n.leader { "leader" } else { "follower" },
                n.policy_digest.get(..12).unwrap_or(&n.policy_digest)
            );
            match seen {
                Some(t) if (now - t).num_seconds() >= NODE_SILENT_SECS => {
                    line.push_str(&format!("  SILENT since {}", relative(t, now)))
                }
                Some(t) => line.push_str(&format!("  seen {}", relative(t, now))),
                None => {}
            }
            if n.this_node {
                line.push_str("  (this node)");
            }
            line
        })
        .collect();
    (Some(field), lines)
}

/// "4 schedules, 3 escalation policies, 4 services, 12 people".
fn policy_set_summary(s: &pb::StatusResponse) -> String {
    [
        plural(s.schedules as usize, "schedule"),
        plural(s.escalation_policies as usize, "escalation policy"),
        plural(s.services as usize, "service"),
        if s.people == 1 {
            "1 person".to_owned()
        } else {
            format!("{} people", s.people)
        },
    ]
    .join(", ")
}

/// `reloaded: 4 schedules, … from DIR`, then what the new set changed.
pub(crate) fn reloaded_text(r: &pb::ReloadResult, status: Option<&pb::StatusResponse>) -> String {
    let mut text = match status {
        Some(s) if s.schedules_dir.is_empty() => format!("reloaded: {}", policy_set_summary(s)),
        Some(s) => format!(
            "reloaded: {} from {}",
            policy_set_summary(s),
            clean(&s.schedules_dir)
        ),
        None => format!(
            "reloaded at {}",
            to_datetime(r.at.as_ref())
                .map(local_time)
                .unwrap_or_else(|| "an unknown time".into())
        ),
    };
    for note in &r.notes {
        text.push_str(&format!("\n  {}", clean(note)));
    }
    text
}

/// `refused: 2 errors`, then each FILE:LINE: message.
pub(crate) fn refused_text(r: &pb::ReloadResult) -> String {
    let mut text = format!("refused: {}", plural(r.errors.len(), "error"));
    for e in &r.errors {
        text.push_str(&format!("\n  {}", clean(e)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_instant;
    use crate::render::time::at;

    fn a_status(last_reload: Option<pb::ReloadResult>) -> pb::StatusResponse {
        pb::StatusResponse {
            version: "0.1.0".into(),
            started_at: at("2026-03-03T09:00Z"),
            schedules_dir: "/etc/pagerd/schedules".into(),
            policies_loaded_at: at("2026-03-03T09:00Z"),
            people: 12,
            services: 4,
            escalation_policies: 3,
            schedules: 1,
            last_reload,
            open_incidents: 2,
            channels: vec!["log".into(), "webhook".into()],
            nodes: vec![],
        }
    }

    fn node(name: &str, digest: &str, leader: bool, seen: &str) -> pb::NodeStatus {
        pb::NodeStatus {
            name: name.into(),
            address: format!("{name}:50051"),
            version: "0.1.0".into(),
            policy_digest: digest.into(),
            started_at: at("2026-03-03T09:00Z"),
            seen_at: at(seen),
            leader,
            this_node: name == "a",
        }
    }

    #[test]
    fn status_lists_the_nodes_and_warns_when_their_policy_sets_differ() {
        let now = parse_instant("2026-03-03T12:05Z").unwrap();
        let mut s = a_status(None);
        assert!(
            !status_text(&s, "x", now).contains("nodes"),
            "one node says nothing"
        );
        s.nodes = vec![
            node("a", "aaaaaaaaaaaaaaaa", true, "2026-03-03T12:04:58Z"),
            node("b", "aaaaaaaaaaaaaaaa", false, "2026-03-03T12:04:59Z"),
        ];
        let text = status_text(&s, "x", now);
        assert!(
            text.contains("nodes:       2 running, same policy set\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "    a  a:50051  leader  policy aaaaaaaaaaaa  seen 2s ago  (this node)\n"
            ),
            "{text}"
        );
        s.nodes
            .push(node("c", "cccccccccccccccc", false, "2026-03-03T12:05Z"));
        s.nodes.push(node("d", "dddd", false, "2026-03-03T11:00Z"));
        let text = status_text(&s, "x", now);
        assert!(
            text.contains("3 running; WARNING: they run 2 different policy sets"),
            "{text}"
        );
        assert!(
            text.contains("d  d:50051  follower  policy dddd  SILENT since"),
            "{text}"
        );
        s.nodes[0].leader = false;
        assert!(status_text(&s, "x", now).contains("no leader"));
    }

    #[test]
    fn status_makes_a_refused_reload_obvious_and_lists_its_errors() {
        let now = parse_instant("2026-03-03T12:05Z").unwrap();
        let refused = pb::ReloadResult {
            at: at("2026-03-03T12:00Z"),
            trigger: "file change".into(),
            applied: false,
            errors: vec![
                "/etc/pagerd/schedules/rotations.toml:12: unknown person \"nobody\"".into(),
                "/etc/pagerd/schedules/services.toml:3: unknown policy \"x\"".into(),
            ],
            notes: vec![],
        };
        let text = status_text(&a_status(Some(refused)), "http://127.0.0.1:50051", now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "pagerd 0.1.0 at http://127.0.0.1:50051", "{text}");
        for expected in [
            "up 3h05m",
            "policy set:  1 schedule, 3 escalation policies, 4 services, 12 people",
            "from /etc/pagerd/schedules",
            "incidents:   2 open",
            "channels:    log, webhook",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        let last = lines
            .iter()
            .position(|l| l.starts_with("  last reload: REFUSED at "))
            .unwrap_or_else(|| panic!("no REFUSED line in:\n{text}"));
        assert!(
            lines[last].contains("(file change): 2 errors"),
            "{}",
            lines[last]
        );
        assert_eq!(
            lines[last + 1..],
            [
                "    /etc/pagerd/schedules/rotations.toml:12: unknown person \"nobody\"",
                "    /etc/pagerd/schedules/services.toml:3: unknown policy \"x\"",
            ]
        );

        let applied = pb::ReloadResult {
            at: at("2026-03-03T12:00Z"),
            trigger: "SIGHUP".into(),
            applied: true,
            errors: vec![],
            notes: vec!["evenings: sam keeps the shift".into()],
        };
        let text = status_text(&a_status(Some(applied)), "http://x:1", now);
        assert!(text.contains("last reload: applied at "), "{text}");
        assert!(!text.contains("REFUSED"), "{text}");
        assert!(
            text.ends_with("(SIGHUP)\n    evenings: sam keeps the shift\n"),
            "{text}"
        );
        let text = status_text(&a_status(None), "http://x:1", now);
        assert!(text.contains("last reload: none since start"), "{text}");
    }

    #[test]
    fn a_refused_reload_lists_every_error() {
        let r = pb::ReloadResult {
            applied: false,
            errors: vec!["a.toml:1: bad".into()],
            ..Default::default()
        };
        assert_eq!(refused_text(&r), "refused: 1 error\n  a.toml:1: bad");
        let ok = pb::ReloadResult {
            applied: true,
            notes: vec!["kept sam".into()],
            ..Default::default()
        };
        assert_eq!(
            reloaded_text(&ok, Some(&a_status(None))),
            "reloaded: 1 schedule, 3 escalation policies, 4 services, 12 people from \
             /etc/pagerd/schedules\n  kept sam"
        );
    }
}
