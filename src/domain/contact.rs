//! Contact methods and rules: which of a person's methods is tried when, what happens when one
//! gives up, replies by SMS, and rate limits with coalescing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Severity;
use super::policy::Person;

/// A person's contact method; its name is the channel's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Slack,
    Sms,
    Email,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Slack, Method::Sms, Method::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The person's address for this method, if they have one.
    pub fn address(self, person: &Person) -> Option<&str> {
        match self {
            Self::Slack => person.slack.as_deref(),
            Self::Sms => person.sms.as_deref(),
            Self::Email => person.email.as_deref(),
        }
    }
}

/// "Try `method` `after` the level pages me, if nobody has acknowledged by then."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactRule {
    pub method: Method,
    pub after: Duration,
}

/// The default ladder for a person who wrote none: their methods in the order Slack, SMS,
/// email, at 0, 1 and 3 minutes (the first one they have at once).
pub fn default_rules(person: &Person) -> Vec<ContactRule> {
    const STEPS: [u64; 3] = [0, 60, 180];
    Method::ALL
        .into_iter()
        .filter(|m| m.address(person).is_some())
        .zip(STEPS)
        .map(|(method, secs)| ContactRule {
            method,
            after: Duration::from_secs(secs),
        })
        .collect()
}

/// Low severity by default: email only (or the first method the person has), at once.
pub fn default_low_rules(person: &Person) -> Vec<ContactRule> {
    let method = if person.email.is_some() {
        Some(Method::Email)
    } else {
        Method::ALL
            .into_iter()
            .find(|m| m.address(person).is_some())
    };
    method
        .map(|method| ContactRule {
            method,
            after: Duration::ZERO,
        })
        .into_iter()
        .collect()
}

/// The rules that apply to a page of this severity.
pub fn rules_for(person: &Person, severity: Severity) -> &[ContactRule] {
    if severity == Severity::Low {
        &person.low_contact_rules
    } else {
        &person.contact_rules
    }
}

/// After `failed` gave up: the next method in the person's rules for this severity that is
/// enabled and not yet tried, in rule order; then any other enabled method they have.
pub fn fallback(
    person: &Person,
    severity: Severity,
    tried: &[Method],
    enabled: impl Fn(Method) -> bool,
) -> Option<Method> {
    let in_rules = rules_for(person, severity).iter().map(|r| r.method);
    in_rules
        .chain(Method::ALL)
        .find(|m| !tried.contains(m) && enabled(*m) && m.address(person).is_some())
}

/// What an SMS reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAction {
    Acknowledge,
    Resolve,
}

/// Reply codes are drawn from these 32 characters: no 0/O or 1/I to misread.
pub const REPLY_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a reply code (32^6 ≈ 10^9 codes).
pub const REPLY_CODE_LEN: usize = 6;
/// A reply code works this long after its page was due (and only while the incident is open).
pub const REPLY_CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// "ACK K7QH3M", "ackk7qh3m", "Res K7QH3M thanks" → (action, "K7QH3M"). Case-insensitive; the
/// code is the run of letters and digits after the word, upper-cased (4 to 8 of them, so
/// codes sent before they had 6 characters still parse).
pub fn parse_reply(text: &str) -> Option<(ReplyAction, String)> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (action, rest) = [
        ("acknowledge", ReplyAction::Acknowledge),
        ("ack", ReplyAction::Acknowledge),
        ("resolve", ReplyAction::Resolve),
        ("res", ReplyAction::Resolve),
    ]
    .into_iter()
    .find_map(|(word, a)| lower.strip_prefix(word).map(|rest| (a, rest)))?;
    let rest = rest.trim_start_matches([' ', ':', '#', '-']);
    let code: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let after = &rest[code.len()..];
    if !(4..=8).contains(&code.len()) || after.starts_with(|c: char| c.is_alphanumeric()) {
        return None;
    }
    Some((action, code.to_ascii_uppercase()))
}

/// One send the outbox makes to one address: a page alone, or several coalesced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    /// Indexes into the waiting pages, oldest first.
    pub pages: Vec<usize>,
}

/// Rate limit for one address: `waiting` pages are due, `sent` are the times of messages
/// sent to it in the last minute. Sends what the limit allows now — one message per page
/// while there is room, and everything left coalesced into the last allowed message — and
/// says until when the rest (if any: when there is no room at all) must wait. Never drops a
/// page.
pub fn plan_sends(
    waiting: usize,
    sent: &[DateTime<Utc>],
    limit: u32,
    now: DateTime<Utc>,
) -> (Vec<SendPlan>, Option<DateTime<Utc>>) {
    let window = chrono::Duration::minutes(1);
    let mut recent: Vec<DateTime<Utc>> =
        sent.iter().copied().filter(|t| *t > now - window).collect();
    recent.sort();
    let room = (limit as usize).saturating_sub(recent.len());
    if waiting == 0 {
        return (Vec::new(), None);
    }
    if room == 0 {
        // The oldest send in the window leaves it first.
        let until = recent
            .get(recent.len() - limit.max(1) as usize)
            .map_or(now, |t| *t + window);
        return (Vec::new(), Some(until));
    }
    let mut plans: Vec<SendPlan> = (0..waiting.min(room))
        .map(|i| SendPlan { pages: vec![i] })
        .collect();
    if waiting > room
        && let Some(last) = plans.last_mut()
    {
        last.pages.extend(room..waiting);
    }
    (plans, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn person(email: bool, sms: bool, slack: bool) -> Person {
        let mut p = Person {
            name: "alice".into(),
            time_zone: chrono_tz::UTC,
            email: email.then(|| "alice@example.com".into()),
            sms: sms.then(|| "+15550001".into()),
            slack: slack.then(|| "U1".into()),
            contact_rules: Vec::new(),
            low_contact_rules: Vec::new(),
        };
        p.contact_rules = default_rules(&p);
        p.low_contact_rules = default_low_rules(&p);
        p
    }

    #[test]
    fn default_rules_use_what_the_person_has() {
        let table = [
            (
                (true, true, true),
                vec![("slack", 0), ("sms", 60), ("email", 180)],
                "email",
            ),
            ((true, false, false), vec![("email", 0)], "email"),
            (
                (false, true, true),
                vec![("slack", 0), ("sms", 60)],
                "slack",
            ),
            (
                (true, true, false),
                vec![("sms", 0), ("email", 60)],
                "email",
            ),
        ];
        for ((e, s, k), want, low) in table {
            let p = person(e, s, k);
            let got: Vec<(&str, u64)> = p
                .contact_rules
                .iter()
                .map(|r| (r.method.as_str(), r.after.as_secs()))
                .collect();
            assert_eq!(got, want);
            assert_eq!(p.low_contact_rules[0].method.as_str(), low);
            assert_eq!(p.low_contact_rules.len(), 1);
        }
        assert!(default_rules(&person(false, false, false)).is_empty());
    }

    #[test]
    fn fallback_takes_the_next_enabled_method_not_yet_tried() {
        let p = person(true, true, true);
        let all = |_| true;
        let high = Severity::High;
        assert_eq!(fallback(&p, high, &[Method::Slack], all), Some(Method::Sms));
        assert_eq!(
            fallback(&p, high, &[Method::Slack, Method::Sms], all),
            Some(Method::Email)
        );
        assert_eq!(fallback(&p, high, &Method::ALL, all), None);
        // Low pages use email only, but if email gives up any other method is better than none.
        assert_eq!(
            fallback(&p, Severity::Low, &[Method::Email], all),
            Some(Method::Slack)
        );
        assert_eq!(
            fallback(&p, high, &[Method::Slack], |m| m != Method::Sms),
            Some(Method::Email)
        );
    }

    #[test]
    fn sms_replies() {
        let table = [
            ("ACK K7QH3M", Some((ReplyAction::Acknowledge, "K7QH3M"))),
            ("ack k7qh3m", Some((ReplyAction::Acknowledge, "K7QH3M"))),
            ("  Ack4821 ", Some((ReplyAction::Acknowledge, "4821"))),
            ("RES K7QH3M", Some((ReplyAction::Resolve, "K7QH3M"))),
            (
                "resolve #K7qH3m done",
                Some((ReplyAction::Resolve, "K7QH3M")),
            ),
            ("acknowledge: 17", None),
            ("ACK", None),
            ("ACK abc", None),
            ("ACK K7QH3M2X9", None),
            ("ACK K7QH3M.", Some((ReplyAction::Acknowledge, "K7QH3M"))),
            ("ACK K7QHÉ3M", None),
            ("hello K7QH3M", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(
                parse_reply(text),
                want.map(|(a, c)| (a, c.to_string())),
                "{text:?}"
            );
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn rate_limits_send_what_fits_coalesce_the_rest_and_hold_when_full() {
        // Room for 2 of 5: one alone, the other four in one message.
        let (plans, hold) = plan_sends(5, &[t(0), t(10), t(20)], 5, t(30));
        assert_eq!(
            plans,
            [
                SendPlan { pages: vec![0] },
                SendPlan {
                    pages: vec![1, 2, 3, 4]
                }
            ]
        );
        assert_eq!(hold, None);
        // Full: wait until the oldest send leaves the minute.
        let (plans, hold) = plan_sends(2, &[t(0), t(10), t(20), t(25), t(29)], 5, t(30));
        assert!(plans.is_empty());
        assert_eq!(hold, Some(t(60)));
        // Old sends do not count.
        let (plans, _) = plan_sends(1, &[t(-100)], 1, t(0));
        assert_eq!(plans.len(), 1);
    }

    proptest! {
        #[test]
        fn no_page_is_dropped_and_the_limit_holds(
            waiting in 0usize..20,
            sent in proptest::collection::vec(0i64..120, 0..10),
            limit in 1u32..8,
        ) {
            let sent: Vec<_> = sent.into_iter().map(t).collect();
            let now = t(120);
            let (plans, hold) = plan_sends(waiting, &sent, limit, now);
            let recent = sent.iter().filter(|s| **s > now - chrono::Duration::minutes(1)).count();
            prop_assert!(plans.len() + recent <= limit as usize || plans.is_empty());
            let covered: Vec<usize> = plans.iter().flat_map(|p| p.pages.clone()).collect();
            if hold.is_none() {
                prop_assert_eq!(covered, (0..waiting).collect::<Vec<_>>());
            } else {
                prop_assert!(covered.is_empty());
                prop_assert!(hold.unwrap() > now);
            }
        }
    }
}
