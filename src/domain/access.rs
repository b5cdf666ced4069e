//! Who may call what: the roles a token carries and the one table of what each gRPC method
//! needs. Pure; the gRPC layer (`api::grpc::auth`) applies it.

use std::fmt;
use std::sync::Arc;

/// A token's role. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads incidents, schedules, reports; `Watch`.
    Viewer,
    /// Viewer, plus acknowledge, resolve, escalate, notes, post-mortem records, overrides
    /// and alert actions.
    Responder,
    /// Everything: reload, maintenance, test pages, heartbeats, tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Responder, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| format!("`{s}` is not a role (viewer, responder or admin)"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who called, as their token says. Every authenticated request carries one, so it is
/// shared, not copied: cloning it counts references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name.
    pub token: Arc<str>,
    pub role: Role,
    /// The person the token belongs to, if any.
    pub person: Option<Arc<str>>,
}

impl Identity {
    pub fn new(token: &str, role: Role, person: Option<&str>) -> Self {
        Self {
            token: token.into(),
            role,
            person: person.map(Arc::from),
        }
    }
}

/// What a request to one gRPC method must present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (health checks, reflection).
    Open,
    /// A token with at least this role.
    Role(Role),
    /// The service's integration key in the request body, or a token with at least this
    /// role: the monitoring-system side (`AlertService`), as PagerDuty's routing keys.
    IntegrationKeyOr(Role),
}

/// Whether a caller may add or remove an override that puts `person` on call: an admin for
/// anyone, a responder only for the person their token belongs to. `Err` says why not.
pub fn may_override_for(
    role: Role,
    token: &str,
    token_person: Option<&str>,
    person: &str,
) -> Result<(), String> {
    match (role, token_person) {
        (Role::Admin, _) => Ok(()),
        (Role::Responder, Some(own)) if own == person => Ok(()),
        (Role::Responder, Some(own)) => Err(format!(
            "needs role admin for an override of {person}; token `{token}` (role responder) \
             may add and remove overrides for {own} only"
        )),
        (Role::Responder, None) => Err(format!(
            "needs role admin for an override; token `{token}` (role responder) belongs to \
             no person (create it with --person to let it cover its person's shifts)"
        )),
        (Role::Viewer, _) => Err(format!(
            "needs role responder; token `{token}` has role viewer"
        )),
    }
}

/// Whether `path` is a server-streaming method, whose stream must end with its token.
pub fn is_server_stream(path: &str) -> bool {
    path == "/pagerd.v1.IncidentService/Watch"
}

/// Every `pagerd.v1` method and what it needs. A method missing here needs `admin` (see
/// [`required_access`]); a test checks that every method of the proto file is listed.
pub const METHODS: &[(&str, &str, Access)] = {
    use Access::{IntegrationKeyOr as Key, Role as R};
    use Role::{Admin, Responder, Viewer};
    &[
        ("AlertService", "Trigger", Key(Responder)),
        ("AlertService", "Acknowledge", Key(Responder)),
        ("AlertService", "Resolve", Key(Responder)),
        ("IncidentService", "Get", R(Viewer)),
        ("IncidentService", "List", R(Viewer)),
        ("IncidentService", "Watch", R(Viewer)),
        ("IncidentService", "Acknowledge", R(Responder)),
        ("IncidentService", "Resolve", R(Responder)),
        ("IncidentService", "Escalate", R(Responder)),
        ("IncidentService", "AddNote", R(Responder)),
        ("IncidentService", "PostMortem", R(Viewer)),
        // Whoever may resolve may say where the post-mortem went.
        ("IncidentService", "PostMortemDone", R(Responder)),
        ("ScheduleService", "ListSchedules", R(Viewer)),
        ("ScheduleService", "OnCall", R(Viewer)),
        ("ScheduleService", "Shifts", R(Viewer)),
        ("ScheduleService", "ListOverrides", R(Viewer)),
        // A responder for themselves only (`may_override_for`), an admin for anyone.
        ("ScheduleService", "AddOverride", R(Responder)),
        ("ScheduleService", "RemoveOverride", R(Responder)),
        ("ScheduleService", "Reload", R(Admin)),
        // A feed URL is the feed's secret; handing out one's own needs the audit identity.
        ("ScheduleService", "FeedUrl", R(Admin)),
        ("DaemonService", "Status", R(Viewer)),
        ("DaemonService", "TestPage", R(Admin)),
        ("DaemonService", "ListAudit", R(Admin)),
        ("DaemonService", "CreateToken", R(Admin)),
        ("DaemonService", "ListTokens", R(Admin)),
        ("DaemonService", "RevokeToken", R(Admin)),
        ("ReportService", "OnCallLoad", R(Viewer)),
        ("ReportService", "Responsiveness", R(Viewer)),
        // The answer carries each heartbeat's ping token.
        ("IntakeService", "ListHeartbeats", R(Admin)),
        ("IntakeService", "RotateHeartbeatToken", R(Admin)),
        ("IntakeService", "ListMaintenance", R(Viewer)),
        ("IntakeService", "Heartbeat", R(Admin)),
        ("IntakeService", "AddMaintenance", R(Admin)),
        ("IntakeService", "RemoveMaintenance", R(Admin)),
    ]
};

const PACKAGE_PREFIX: &str = "/pagerd.v1.";

/// What a request to `path` (`/pagerd.v1.IncidentService/Get`) needs. Paths outside
/// `pagerd.v1` (grpc.health.v1, reflection) are open; an unlisted `pagerd.v1` method needs
/// `admin`, so a method added without a decision is closed, not open.
pub fn required_access(path: &str) -> Access {
    let Some(rest) = path.strip_prefix(PACKAGE_PREFIX) else {
        return Access::Open;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return Access::Role(Role::Admin);
    };
    METHODS
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map_or(Access::Role(Role::Admin), |(_, _, a)| *a)
}

/// The role a token needs for `path` (the integration-key alternative aside); `None` if open.
pub fn required_role(path: &str) -> Option<Role> {
    match required_access(path) {
        Access::Open => None,
        Access::Role(r) | Access::IntegrationKeyOr(r) => Some(r),
    }
}

/// Whether `have` may call a method needing `need`.
pub fn allows(have: Role, need: Role) -> bool {
    have >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responders_cover_their_own_shifts_and_admins_anyones() {
        use Role::*;
        let table: &[(Role, Option<&str>, &str, bool)] = &[
            (Admin, None, "bob", true),
            (Admin, Some("alice"), "bob", true),
            (Responder, Some("alice"), "alice", true),
            (Responder, Some("alice"), "bob", false),
            (Responder, None, "alice", false),
            (Viewer, Some("alice"), "alice", false),
        ];
        for &(role, own, person, ok) in table {
            let got = may_override_for(role, "t", own, person);
            assert_eq!(got.is_ok(), ok, "{role} {own:?} {person}: {got:?}");
        }
        assert_eq!(
            may_override_for(Responder, "t", Some("alice"), "bob").unwrap_err(),
            "needs role admin for an override of bob; token `t` (role responder) may add and \
             remove overrides for alice only"
        );
    }
    use std::collections::BTreeSet;

    /// (service, method) of every rpc in the proto file, read from its text.
    fn proto_methods() -> BTreeSet<(String, String)> {
        let text = include_str!("../../proto/pagerd/v1/pagerd.proto");
        let mut service = None;
        let mut out = BTreeSet::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("service ") {
                service = Some(rest.trim_end_matches('{').trim().to_string());
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                let name = rest.split('(').next().unwrap().trim().to_string();
                out.insert((service.clone().expect("rpc inside a service"), name));
            }
        }
        out
    }

    #[test]
    fn every_method_of_the_proto_has_a_decision_and_none_is_stale() {
        let proto = proto_methods();
        assert!(proto.len() >= 24, "found only {proto:?}");
        let listed: BTreeSet<(String, String)> = METHODS
            .iter()
            .map(|(s, m, _)| (s.to_string(), m.to_string()))
            .collect();
        let missing: Vec<_> = proto.difference(&listed).collect();
        assert!(missing.is_empty(), "add to access::METHODS: {missing:?}");
        let stale: Vec<_> = listed.difference(&proto).collect();
        assert!(stale.is_empty(), "not in the proto any more: {stale:?}");
        assert_eq!(listed.len(), METHODS.len(), "a method is listed twice");
    }

    #[test]
    fn paths_map_to_their_role_and_unknown_ones_are_closed() {
        let table = [
            ("/pagerd.v1.IncidentService/Get", Some(Role::Viewer)),
            ("/pagerd.v1.IncidentService/Resolve", Some(Role::Responder)),
            ("/pagerd.v1.AlertService/Trigger", Some(Role::Responder)),
            ("/pagerd.v1.ScheduleService/Reload", Some(Role::Admin)),
            ("/pagerd.v1.IntakeService/AddMaintenance", Some(Role::Admin)),
            ("/pagerd.v1.IncidentService/Nope", Some(Role::Admin)),
            ("/pagerd.v1.NoSuchService", Some(Role::Admin)),
            ("/grpc.health.v1.Health/Check", None),
            (
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                None,
            ),
        ];
        for (path, role) in table {
            assert_eq!(required_role(path), role, "{path}");
        }
        assert_eq!(
            required_access("/pagerd.v1.AlertService/Resolve"),
            Access::IntegrationKeyOr(Role::Responder)
        );
        assert!(allows(Role::Admin, Role::Viewer));
        assert!(allows(Role::Responder, Role::Responder));
        assert!(!allows(Role::Viewer, Role::Responder));
        assert_eq!(Role::parse(" admin ").unwrap(), Role::Admin);
        assert_eq!(
            Role::parse("root").unwrap_err(),
            "`root` is not a role (viewer, responder or admin)"
        );
    }
}
