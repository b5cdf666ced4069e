//! Time zones for the command line: `--tz`, the local zone (TZ, then the system's), reading a
//! wall-clock time in a zone (DST gaps and repeats decided here), and showing a time with its
//! zone.

use chrono::{DateTime, Local, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// A zone times are read and shown in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Zone {
    /// An IANA zone (UTC is `Named(Tz::UTC)`): times show its abbreviation (`PST`, `CET`).
    Named(Tz),
    /// The system's zone when it has no IANA name pagerctl can find (a copied
    /// /etc/localtime, a POSIX TZ rule): times show their numeric offset.
    System,
}

pub(crate) const UTC: Zone = Zone::Named(Tz::UTC);

/// A wall-clock time that does not exist in a zone: the clocks skip it.
#[derive(Debug, PartialEq)]
pub(crate) struct Skipped;

/// How to read a wall-clock time the clocks skip (spring forward).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum InGap {
    /// An error: the user named a time that never happens.
    Refuse,
    /// Later by the gap's length (java.time's rule): a bare date whose midnight is skipped
    /// starts when the clocks jump.
    After,
}

impl Zone {
    /// The local zone: TZ when set (an IANA name, `:NAME`, or a zoneinfo path; empty is UTC
    /// as in glibc), else the target of /etc/localtime, else /etc/timezone, else UTC when
    /// there is no /etc/localtime (glibc's default too).
    pub(crate) fn local() -> Zone {
        match std::env::var("TZ") {
            Ok(tz) => from_tz_variable(&tz).map_or(Zone::System, Zone::Named),
            Err(_) => system_zone().map_or(Zone::System, Zone::Named),
        }
    }

    /// An IANA name in any case (`Europe/Berlin`, `utc`).
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        named(s.trim()).map(Zone::Named).ok_or_else(|| {
            format!(
                "`{s}`: not a time zone; use an IANA name such as America/Los_Angeles, \
                 Europe/Berlin or UTC"
            )
        })
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Zone::Named(tz) => tz.name(),
            Zone::System => "the local zone",
        }
    }

    /// A wall-clock time in this zone as an instant. Of a time the clocks pass twice (fall
    /// back), the earlier: that is when it first happens.
    pub(crate) fn instant(
        &self,
        wall: NaiveDateTime,
        gap: InGap,
    ) -> Result<DateTime<Utc>, Skipped> {
        match self {
            Zone::Named(tz) => instant_in(tz, wall, gap),
            Zone::System => instant_in(&Local, wall, gap),
        }
    }

    /// `2026-11-23 17:00:00 PST`; the offset (`+05:30`) where the zone has no abbreviation
    /// of its own.
    pub(crate) fn show(&self, t: DateTime<Utc>) -> String {
        const FORMAT: &str = "%Y-%m-%d %H:%M:%S";
        match self {
            Zone::Named(tz) => {
                let t = t.with_timezone(tz);
                let abbreviation = t.format("%Z").to_string();
                if abbreviation.starts_with(['+', '-']) {
                    t.format(&format!("{FORMAT} %:z")).to_string()
                } else {
                    format!("{} {abbreviation}", t.format(FORMAT))
                }
            }
            Zone::System => t
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string(),
        }
    }

    /// The offset from UTC at `t`, in seconds.
    pub(crate) fn offset_at(&self, t: DateTime<Utc>) -> i32 {
        match self {
            Zone::Named(tz) => t.with_timezone(tz).offset().fix().local_minus_utc(),
            Zone::System => t.with_timezone(&Local).offset().fix().local_minus_utc(),
        }
    }
}

fn instant_in<Z: TimeZone>(
    zone: &Z,
    wall: NaiveDateTime,
    gap: InGap,
) -> Result<DateTime<Utc>, Skipped> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
        LocalResult::None => match gap {
            InGap::Refuse => Err(Skipped),
            InGap::After => {
                // Read with the offset in force before the gap: later by the gap's length, so
                // a skipped midnight lands where the clocks jumped. A day earlier is safely
                // before the gap; zones do not change twice in a day.
                let before = zone
                    .offset_from_utc_datetime(&(wall - TimeDelta::days(1)))
                    .fix();
                Ok((wall - TimeDelta::seconds(before.local_minus_utc().into())).and_utc())
            }
        },
    }
}

/// An IANA name, matched without regard to case.
fn named(s: &str) -> Option<Tz> {
    s.parse::<Tz>().ok().or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(s))
            .copied()
    })
}

fn from_tz_variable(tz: &str) -> Option<Tz> {
    let tz = tz.strip_prefix(':').unwrap_or(tz).trim();
    if tz.is_empty() {
        return Some(Tz::UTC);
    }
    named(tz).or_else(|| after_zoneinfo(tz))
}

/// `/usr/share/zoneinfo/Europe/Berlin` → Europe/Berlin.
fn after_zoneinfo(path: &str) -> Option<Tz> {
    path.rsplit_once("zoneinfo/")
        .and_then(|(_, name)| name.parse().ok())
}

fn system_zone() -> Option<Tz> {
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        return after_zoneinfo(&target.to_string_lossy());
    }
    if let Ok(name) = std::fs::read_to_string("/etc/timezone") {
        return named(name.trim());
    }
    (!std::path::Path::new("/etc/localtime").exists()).then_some(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> Zone {
        Zone::parse(name).unwrap()
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn zones_are_iana_names_in_any_case() {
        assert_eq!(tz("Europe/Berlin"), Zone::Named(chrono_tz::Europe::Berlin));
        assert_eq!(
            tz("america/los_angeles"),
            Zone::Named(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(tz(" utc "), UTC);
        let err = Zone::parse("Europe/Berln").unwrap_err();
        assert!(err.starts_with("`Europe/Berln`: not a time zone"), "{err}");
    }

    #[test]
    fn the_tz_variable_takes_names_paths_and_empty() {
        let berlin = Some(chrono_tz::Europe::Berlin);
        assert_eq!(from_tz_variable("Europe/Berlin"), berlin);
        assert_eq!(from_tz_variable(":Europe/Berlin"), berlin);
        assert_eq!(
            from_tz_variable("/usr/share/zoneinfo/Europe/Berlin"),
            berlin
        );
        assert_eq!(from_tz_variable(""), Some(Tz::UTC));
        assert_eq!(from_tz_variable("EST5EDT,M3.2.0,M11.1.0"), None);
    }

    #[test]
    fn times_show_their_zone_abbreviation_or_offset() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let la = tz("America/Los_Angeles");
        assert_eq!(
            la.show(t("2026-11-24T01:00:00Z")),
            "2026-11-23 17:00:00 PST"
        );
        assert_eq!(
            la.show(t("2026-07-01T16:00:00Z")),
            "2026-07-01 09:00:00 PDT"
        );
        assert_eq!(
            tz("Europe/Berlin").show(t("2026-01-01T00:00:00Z")),
            "2026-01-01 01:00:00 CET"
        );
        assert_eq!(
            UTC.show(t("2026-01-01T00:00:00Z")),
            "2026-01-01 00:00:00 UTC"
        );
        // No abbreviation of its own: the offset.
        assert_eq!(
            tz("America/Sao_Paulo").show(t("2026-01-01T12:00:00Z")),
            "2026-01-01 09:00:00 -03:00"
        );
        assert_eq!(la.offset_at(t("2026-11-24T01:00:00Z")), -8 * 3600);
    }

    #[test]
    fn skipped_times_are_refused_or_moved_past_the_gap_and_repeated_ones_read_early() {
        let la = tz("America/Los_Angeles");
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // 2026-03-08 02:00 → 03:00 in Los Angeles.
        assert_eq!(
            la.instant(wall("2026-03-08 02:30"), InGap::Refuse),
            Err(Skipped)
        );
        assert_eq!(
            la.instant(wall("2026-03-08 02:30"), InGap::After),
            Ok(utc("2026-03-08T10:30:00Z")),
            "03:30 PDT"
        );
        // 2026-11-01 01:30 happens twice: PDT first.
        assert_eq!(
            la.instant(wall("2026-11-01 01:30"), InGap::Refuse),
            Ok(utc("2026-11-01T08:30:00Z"))
        );
        // Midnight skipped (Santiago, 2026-09-06): the day starts at 01:00.
        assert_eq!(
            tz("America/Santiago").instant(wall("2026-09-06 00:00"), InGap::After),
            Ok(utc("2026-09-06T04:00:00Z"))
        );
    }
}
