//! What the outbox sends next: a choice over the due pages and what is in flight, made
//! without I/O so it can be tested with tables.
//!
//! Each page goes out on its own, so a slow or failing provider holds back only its own
//! pages: at most `per_channel` sends in flight per channel, `per_host` per provider host,
//! `total` deliveries not yet recorded overall. Where those leave less room than there are due
//! pages, the most severe go first, then the oldest. On a rate-limited channel all due pages
//! to one person go as one job (sent or coalesced as the limit allows, see
//! [`super::contact::plan_sends`]) and only one such job per person is in flight, so the limit
//! is counted against sends already recorded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::Severity;

/// How many deliveries may be in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Deliveries started and not yet recorded, over all channels.
    pub total: usize,
    /// Sends in flight on one channel.
    pub per_channel: usize,
    /// Sends in flight to one provider host (webhooks).
    pub per_host: usize,
}

/// A due page as the choice sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub channel: String,
    /// The provider host the channel sends to, when that is capped too.
    pub host: Option<String>,
    pub person: String,
    pub rate_limited: bool,
    /// The incident's severity; notifications without one count as medium.
    pub severity: Severity,
    /// When it became due.
    pub due: DateTime<Utc>,
}

/// What is in flight now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Jobs started and not yet recorded.
    pub total: usize,
    /// Sends in flight per channel.
    pub channels: HashMap<String, usize>,
    /// Sends in flight per provider host.
    pub hosts: HashMap<String, usize>,
    /// (channel, person) of rate-limited channels with a job not yet recorded.
    pub lanes: HashSet<(String, String)>,
}

impl InFlight {
    /// Counts a started job of `pages` (all on one channel and host).
    pub fn start(&mut self, first: &Candidate) {
        self.total += 1;
        *self.channels.entry(first.channel.clone()).or_default() += 1;
        if let Some(h) = &first.host {
            *self.hosts.entry(h.clone()).or_default() += 1;
        }
        if first.rate_limited {
            self.lanes
                .insert((first.channel.clone(), first.person.clone()));
        }
    }

    /// The job's sends are over (its outcomes may still be being recorded).
    pub fn sends_done(&mut self, channel: &str, host: Option<&str>) {
        decrement(&mut self.channels, channel);
        if let Some(h) = host {
            decrement(&mut self.hosts, h);
        }
    }

    /// The job's outcomes are recorded.
    pub fn recorded(&mut self, lane: Option<&(String, String)>) {
        self.total = self.total.saturating_sub(1);
        if let Some(lane) = lane {
            self.lanes.remove(lane);
        }
    }

    /// Whether a job on `channel` (to `host`) could start now.
    pub fn has_room(&self, channel: &str, host: Option<&str>, caps: Caps) -> bool {
        self.room(channel, host, caps) > 0
    }

    /// Sends in flight on `channel`.
    pub fn sending(&self, channel: &str) -> usize {
        self.channels.get(channel).copied().unwrap_or(0)
    }

    /// How many jobs on `channel` (to `host`) could start now, as every cap allows.
    pub fn room(&self, channel: &str, host: Option<&str>, caps: Caps) -> usize {
        let total = caps.total.saturating_sub(self.total);
        let channel = caps
            .per_channel
            .saturating_sub(self.channels.get(channel).copied().unwrap_or(0));
        let host = host.map_or(usize::MAX, |h| {
            caps.per_host
                .saturating_sub(self.hosts.get(h).copied().unwrap_or(0))
        });
        total.min(channel).min(host)
    }
}

/// Whether a channel where `room` jobs could start now, with `sending` sends in flight, is
/// worth a read, `full` being its room with nothing in flight. An idle channel is, at once: a
/// page never waits for company. A busy one is once half of what it can run is free, so under
/// load one read starts several pages instead of one read per finished send (a read costs
/// about the same whatever it returns: BENCHMARKS.md). Its sends in flight end, each waking
/// the dispatcher, so the read is only put off, never skipped.
pub fn worth_reading(room: usize, sending: usize, full: usize) -> bool {
    room > 0 && (sending == 0 || room >= (full / 2).max(1))
}

/// How many due pages to read for a channel where `room` jobs could start: one more than can
/// start, so a full read tells that more are waiting (the store gives the most urgent first,
/// so those are the ones that start). On a rate-limited channel a job takes every due page of
/// one person, so more are read for them to go together.
pub fn read_limit(room: usize, rate_limited: bool) -> usize {
    if rate_limited {
        (room * 2 + 16).min(512)
    } else {
        room + 1
    }
}

/// Whether a channel may still have due pages no job took, after a read of `limit` that gave
/// `read` pages of which `started` were started: then it is read again when it has room.
/// Otherwise only something new (a wake from the store, a page coming due, a job whose pages
/// are due again) makes it worth reading.
pub fn more_due(read: usize, limit: usize, started: usize) -> bool {
    started < read || read >= limit
}

fn decrement(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// The jobs to start now, in order, each a list of indexes into `due` (several only for one
/// person on a rate-limited channel). `in_flight` is updated with them.
pub fn select(due: &[Candidate], in_flight: &mut InFlight, caps: Caps) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..due.len()).collect();
    order.sort_by_key(|&i| (due[i].severity, due[i].due, due[i].id));
    let mut taken = vec![false; due.len()];
    let mut jobs = Vec::new();
    for &i in &order {
        if in_flight.total >= caps.total {
            break;
        }
        let c = &due[i];
        if taken[i] || !in_flight.has_room(&c.channel, c.host.as_deref(), caps) {
            continue;
        }
        let job: Vec<usize> = if c.rate_limited {
            if in_flight
                .lanes
                .contains(&(c.channel.clone(), c.person.clone()))
            {
                continue;
            }
            order
                .iter()
                .copied()
                .filter(|&j| !taken[j] && due[j].channel == c.channel && due[j].person == c.person)
                .collect()
        } else {
            vec![i]
        };
        for &j in &job {
            taken[j] = true;
        }
        in_flight.start(c);
        jobs.push(job);
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// (id, channel, host, person, severity, due second)
    type Row<'a> = (i64, &'a str, Option<&'a str>, &'a str, Severity, i64);
    /// (why, due pages, in flight, caps, the pages of each job started)
    type Case<'a> = (&'a str, Vec<Candidate>, InFlight, Caps, Vec<Vec<i64>>);

    fn cands(rows: &[Row]) -> Vec<Candidate> {
        rows.iter()
            .map(|&(id, channel, host, person, severity, due)| Candidate {
                id,
                channel: channel.into(),
                host: host.map(str::to_string),
                person: person.into(),
                rate_limited: channel == "sms",
                severity,
                due: at(due),
            })
            .collect()
    }

    fn ids(due: &[Candidate], jobs: &[Vec<usize>]) -> Vec<Vec<i64>> {
        jobs.iter()
            .map(|j| j.iter().map(|&i| due[i].id).collect())
            .collect()
    }

    const WIDE: Caps = Caps {
        total: 100,
        per_channel: 100,
        per_host: 100,
    };

    #[test]
    fn what_goes_next_follows_severity_age_and_every_cap() {
        let hook = Some("hooks.example.com:443");
        let busy_webhook = |n: usize| InFlight {
            total: n,
            channels: HashMap::from([("webhook".to_string(), n)]),
            hosts: HashMap::from([("hooks.example.com:443".to_string(), n)]),
            lanes: HashSet::new(),
        };
        let table: Vec<Case> = vec![
            (
                "room for all: everything, most severe then oldest first",
                cands(&[
                    (1, "webhook", hook, "a", Low, 0),
                    (2, "webhook", hook, "b", Critical, 5),
                    (3, "email", None, "c", High, 1),
                    (4, "email", None, "d", High, 0),
                ]),
                InFlight::default(),
                WIDE,
                vec![vec![2], vec![4], vec![3], vec![1]],
            ),
            (
                "a full channel takes its most severe page first, older low ones wait",
                cands(&[
                    (1, "webhook", hook, "a", Low, 0),
                    (2, "webhook", hook, "a", Low, 1),
                    (3, "webhook", hook, "b", Critical, 9),
                ]),
                busy_webhook(1),
                Caps {
                    per_channel: 2,
                    ..WIDE
                },
                vec![vec![3]],
            ),
            (
                "a saturated channel holds back only its own pages",
                cands(&[
                    (1, "webhook", hook, "a", Critical, 0),
                    (2, "email", None, "a", Low, 5),
                    (3, "log", None, "a", Low, 6),
                ]),
                busy_webhook(4),
                Caps {
                    per_channel: 4,
                    ..WIDE
                },
                vec![vec![2], vec![3]],
            ),
            (
                "a saturated provider host holds back only its channel",
                cands(&[
                    (1, "webhook", hook, "a", High, 0),
                    (2, "email", None, "a", High, 1),
                ]),
                busy_webhook(2),
                Caps {
                    per_host: 2,
                    ..WIDE
                },
                vec![vec![2]],
            ),
            (
                "the total cap counts jobs not yet recorded",
                cands(&[
                    (1, "email", None, "a", Low, 0),
                    (2, "email", None, "b", Critical, 1),
                    (3, "log", None, "c", High, 2),
                ]),
                InFlight {
                    total: 3,
                    ..InFlight::default()
                },
                Caps { total: 5, ..WIDE },
                vec![vec![2], vec![3]],
            ),
            (
                "one job per person on a rate-limited channel, with all their pages",
                cands(&[
                    (1, "sms", None, "a", Low, 0),
                    (2, "sms", None, "b", High, 1),
                    (3, "sms", None, "a", Critical, 2),
                    (4, "sms", None, "a", High, 3),
                ]),
                InFlight::default(),
                WIDE,
                vec![vec![3, 4, 1], vec![2]],
            ),
            (
                "a person with an sms job in flight waits for its outcome",
                cands(&[
                    (1, "sms", None, "a", Critical, 0),
                    (2, "sms", None, "b", Low, 1),
                ]),
                InFlight {
                    total: 1,
                    channels: HashMap::from([("sms".to_string(), 1)]),
                    lanes: HashSet::from([("sms".to_string(), "a".to_string())]),
                    ..InFlight::default()
                },
                WIDE,
                vec![vec![2]],
            ),
        ];
        for (why, due, mut in_flight, caps, want) in table {
            let jobs = select(&due, &mut in_flight, caps);
            assert_eq!(ids(&due, &jobs), want, "{why}");
        }
    }

    #[test]
    fn counts_return_to_zero_when_jobs_end() {
        let due = cands(&[
            (1, "webhook", Some("h:1"), "a", High, 0),
            (2, "sms", None, "b", High, 0),
        ]);
        let mut f = InFlight::default();
        let jobs = select(&due, &mut f, WIDE);
        assert_eq!(jobs.len(), 2);
        for job in jobs {
            let c = &due[job[0]];
            f.sends_done(&c.channel, c.host.as_deref());
            let lane = (c.channel.clone(), c.person.clone());
            f.recorded(c.rate_limited.then_some(&lane));
        }
        assert_eq!(f, InFlight::default());
    }

    #[test]
    fn an_idle_channel_is_read_at_once_a_busy_one_once_half_is_free() {
        // (room, sending, full) → read now?
        let cases = [
            (0, 0, 16, false), // no room (the total cap)
            (1, 0, 16, true),  // idle: at once, even with little room
            (16, 0, 16, true),
            (1, 15, 16, false), // busy: wait for more to finish
            (7, 9, 16, false),
            (8, 8, 16, true), // half free
            (12, 4, 16, true),
            (1, 1, 2, true), // tiny caps: one free is half
            (1, 3, 4, false),
            (2, 2, 4, true),
            (1, 0, 1, true),
        ];
        for (room, sending, full, want) in cases {
            assert_eq!(
                worth_reading(room, sending, full),
                want,
                "room {room}, sending {sending}, full {full}"
            );
        }
    }

    #[test]
    fn room_is_the_tightest_cap() {
        let caps = Caps {
            total: 10,
            per_channel: 4,
            per_host: 3,
        };
        let f = InFlight {
            total: 7,
            channels: HashMap::from([("webhook".to_string(), 2), ("email".to_string(), 4)]),
            hosts: HashMap::from([("h:1".to_string(), 2)]),
            lanes: HashSet::new(),
        };
        // (why, channel, host, room)
        let table = [
            ("the channel's cap", "webhook", None, 2),
            ("the host's cap", "webhook", Some("h:1"), 1),
            ("an idle host: the channel's", "webhook", Some("h:2"), 2),
            ("a full channel", "email", None, 0),
            ("an idle channel: the total's", "log", None, 3),
        ];
        for (why, channel, host, want) in table {
            assert_eq!(f.room(channel, host, caps), want, "{why}");
            assert_eq!(f.has_room(channel, host, caps), want > 0, "{why}");
        }
        let full = InFlight {
            total: 10,
            ..InFlight::default()
        };
        assert_eq!(full.room("log", None, caps), 0, "the total cap reached");
    }

    #[test]
    fn a_read_asks_for_what_can_start_and_tells_if_more_wait() {
        // (why, room, rate limited, limit)
        let limits = [
            ("one slot: one page and one to tell", 1, false, 2),
            ("32 slots", 32, false, 33),
            ("rate-limited: room for a person's pages", 1, true, 18),
            ("rate-limited, bounded", 400, true, 512),
        ];
        for (why, room, rate_limited, want) in limits {
            assert_eq!(read_limit(room, rate_limited), want, "{why}");
        }
        // (why, read, limit, started, more may be due)
        let reads = [
            ("nothing due", 0, 33, 0, false),
            ("all read and all started", 5, 33, 5, false),
            ("a full read: more may wait", 2, 2, 1, true),
            ("a full read, all started (rate-limited)", 18, 18, 18, true),
            ("some read but not started (another cap)", 5, 33, 3, true),
        ];
        for (why, read, limit, started, want) in reads {
            assert_eq!(more_due(read, limit, started), want, "{why}");
        }
    }

    proptest::proptest! {
        /// Whatever is due, no cap is ever exceeded and no page is started twice.
        #[test]
        fn caps_hold_and_pages_start_once(
            rows in proptest::collection::vec((0..3usize, 0..3usize, 0..4usize, 0..60i64), 0..40),
            total in 1..10usize, per_channel in 1..6usize, per_host in 1..4usize,
        ) {
            let channels = ["webhook", "email", "sms"];
            let due: Vec<Candidate> = rows.iter().enumerate().map(|(i, &(c, p, s, d))| Candidate {
                id: i as i64,
                channel: channels[c].into(),
                host: (c == 0).then(|| "h:1".to_string()),
                person: format!("p{p}"),
                rate_limited: channels[c] == "sms",
                severity: Severity::ALL[s],
                due: at(d),
            }).collect();
            let caps = Caps { total, per_channel, per_host };
            let mut f = InFlight::default();
            let jobs = select(&due, &mut f, caps);
            let mut seen = HashSet::new();
            for job in &jobs {
                for &i in job {
                    proptest::prop_assert!(seen.insert(i));
                }
            }
            proptest::prop_assert!(f.total <= total);
            proptest::prop_assert!(f.channels.values().all(|&n| n <= per_channel));
            proptest::prop_assert!(f.hosts.values().all(|&n| n <= per_host));
        }
    }
}
