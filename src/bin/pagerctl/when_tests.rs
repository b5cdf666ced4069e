//! Every time form in every zone of the table, at a fixed now: what it resolves to, or the
//! error it gives.

use super::*;
use crate::zone::UTC;

fn utc(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap_or_else(|| panic!("{s}"))
}

fn zone(name: &str) -> Zone {
    Zone::parse(name).unwrap()
}

const NOW: &str = "2026-06-15T12:00:00Z";

/// Expected resolution: an RFC 3339 UTC time, or `!` and a part of the error.
type Row = (&'static str, [&'static str; 3]);

/// Past (--from, --since …) and future (--until, --expires …) read everything but durations
/// alike. Columns: UTC, America/Los_Angeles, Europe/Berlin.
const PAST_AND_FUTURE: &[Row] = &[
    // A bare date: midnight in the zone.
    (
        "2026-01-01",
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T08:00:00Z",
            "2025-12-31T23:00:00Z",
        ],
    ),
    // Summer: daylight saving time in both.
    (
        "2026-07-01",
        [
            "2026-07-01T00:00:00Z",
            "2026-07-01T07:00:00Z",
            "2026-06-30T22:00:00Z",
        ],
    ),
    // A wall-clock time, with T, with a space, with seconds.
    (
        "2026-01-01T09:00",
        [
            "2026-01-01T09:00:00Z",
            "2026-01-01T17:00:00Z",
            "2026-01-01T08:00:00Z",
        ],
    ),
    (
        "2026-01-01 09:00",
        [
            "2026-01-01T09:00:00Z",
            "2026-01-01T17:00:00Z",
            "2026-01-01T08:00:00Z",
        ],
    ),
    (
        " 2026-01-01T09:00:30 ",
        [
            "2026-01-01T09:00:30Z",
            "2026-01-01T17:00:30Z",
            "2026-01-01T08:00:30Z",
        ],
    ),
    // RFC 3339: the zone does not matter.
    (
        "2026-01-01T09:00:00+01:00",
        [
            "2026-01-01T08:00:00Z",
            "2026-01-01T08:00:00Z",
            "2026-01-01T08:00:00Z",
        ],
    ),
    (
        "2026-03-03T18:00-08:00",
        [
            "2026-03-04T02:00:00Z",
            "2026-03-04T02:00:00Z",
            "2026-03-04T02:00:00Z",
        ],
    ),
    (
        "2026-03-03 18:30:15+01:00",
        [
            "2026-03-03T17:30:15Z",
            "2026-03-03T17:30:15Z",
            "2026-03-03T17:30:15Z",
        ],
    ),
    ("now", [NOW, NOW, NOW]),
    ("NOW", [NOW, NOW, NOW]),
    // Los Angeles springs forward 2026-03-08 02:00 → 03:00: 02:30 never happens there.
    (
        "2026-03-08T02:30",
        [
            "2026-03-08T02:30:00Z",
            "!2026-03-08 02:30 does not exist in America/Los_Angeles",
            "2026-03-08T01:30:00Z",
        ],
    ),
    // …but the day itself starts at midnight as usual.
    (
        "2026-03-08",
        [
            "2026-03-08T00:00:00Z",
            "2026-03-08T08:00:00Z",
            "2026-03-07T23:00:00Z",
        ],
    ),
    // Los Angeles falls back 2026-11-01 02:00 → 01:00: 01:30 happens twice, PDT first.
    (
        "2026-11-01 01:30",
        [
            "2026-11-01T01:30:00Z",
            "2026-11-01T08:30:00Z",
            "2026-11-01T00:30:00Z",
        ],
    ),
    // Berlin springs forward 2026-03-29 02:00 → 03:00 and falls back 2026-10-25 03:00 → 02:00.
    (
        "2026-03-29T02:30",
        [
            "2026-03-29T02:30:00Z",
            "2026-03-29T09:30:00Z",
            "!2026-03-29 02:30 does not exist in Europe/Berlin",
        ],
    ),
    (
        "2026-10-25T02:30",
        [
            "2026-10-25T02:30:00Z",
            "2026-10-25T09:30:00Z",
            "2026-10-25T00:30:00Z",
        ],
    ),
];

/// Durations: back from now for the past, ahead of it for the future, whatever the zone.
const DURATIONS: &[(&str, &str, &str)] = &[
    ("2h", "2026-06-15T10:00:00Z", "2026-06-15T14:00:00Z"),
    ("30d", "2026-05-16T12:00:00Z", "2026-07-15T12:00:00Z"),
    ("1w", "2026-06-08T12:00:00Z", "2026-06-22T12:00:00Z"),
    ("90m", "2026-06-15T10:30:00Z", "2026-06-15T13:30:00Z"),
];

const NOT_TIMES: &[&str] = &[
    "yesterday",
    "last tuesday",
    "2026-03-03T18-08:00",
    "18:00Z",
    "2026-02-30",
    "2026-01-01T25:00",
    "01/02/2026",
    "",
];

fn check(parse: fn(&str) -> Result<When, String>, input: &str, zone: &Zone, want: &str) {
    let got = parse(input)
        .unwrap_or_else(|e| panic!("{input}: {e}"))
        .resolve(zone, utc(NOW));
    let place = format!("{input:?} in {}", zone.name());
    match want.strip_prefix('!') {
        Some(part) => {
            let err = got.expect_err(&place);
            assert!(err.contains(part), "{place}: {err}");
            assert!(
                err.starts_with(&format!("`{}`: ", input.trim())),
                "{place}: {err}"
            );
        }
        None => assert_eq!(got, Ok(utc(want)), "{place}"),
    }
}

#[test]
fn every_form_resolves_in_every_zone() {
    let zones = [UTC, zone("America/Los_Angeles"), zone("Europe/Berlin")];
    for (input, wants) in PAST_AND_FUTURE {
        for (zone, want) in zones.iter().zip(wants) {
            check(parse_time, input, zone, want);
            check(parse_future_time, input, zone, want);
            // An override's end reads times the same way (but not `now`).
            if !input.eq_ignore_ascii_case("now") {
                let end = parse_end(input).unwrap();
                let got = end.resolve(utc(NOW), zone, utc(NOW));
                match want.strip_prefix('!') {
                    Some(_) => assert!(got.is_err(), "{input}"),
                    None => assert_eq!(got, Ok(utc(want)), "end {input}"),
                }
            }
        }
    }
    for (input, ago, ahead) in DURATIONS {
        for zone in &zones {
            check(parse_time, input, zone, ago);
            check(parse_future_time, input, zone, ahead);
        }
    }
}

#[test]
fn what_is_not_a_time_is_refused_naming_the_forms() {
    for bad in NOT_TIMES {
        let err = parse_time(bad).expect_err(bad);
        assert!(
            err.starts_with(&format!("`{bad}`: expected a date")),
            "{err}"
        );
        assert!(err.ends_with("a duration ago (2h, 30d)"), "{err}");
        let err = parse_future_time(bad).expect_err(bad);
        assert!(err.ends_with("a duration from now (2h, 90d)"), "{err}");
        assert!(parse_end(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_override_ends_at_a_time_or_a_duration_after_its_start() {
    let from = utc("2026-03-03T18:00-08:00");
    let now = utc(NOW);
    assert_eq!(parse_end("4h"), Ok(End::After(TimeDelta::hours(4))));
    let end = |s: &str| parse_end(s).unwrap().resolve(from, &UTC, now);
    assert_eq!(end("4h"), Ok(utc("2026-03-04T06:00:00Z")));
    assert_eq!(end("1w"), Ok(utc("2026-03-11T02:00:00Z")));
    assert_eq!(end("2026-03-04T08:00Z"), Ok(utc("2026-03-04T08:00:00Z")));
    assert_eq!(
        parse_end("2026-03-04 08:00")
            .unwrap()
            .resolve(from, &zone("America/Los_Angeles"), now),
        Ok(utc("2026-03-04T16:00:00Z"))
    );
    assert!(parse_end("0s").is_err());
    assert!(parse_end("soon").is_err());
    assert!(
        parse_end("now").is_err(),
        "an end of `now` is never after --from"
    );
}

#[test]
fn a_skipped_midnight_starts_the_day_when_the_clocks_jump() {
    // Santiago springs forward at midnight (2026-09-06 00:00 → 01:00).
    let day = parse_time("2026-09-06").unwrap();
    assert_eq!(
        day.resolve(&zone("America/Santiago"), utc(NOW)),
        Ok(utc("2026-09-06T04:00:00Z"))
    );
    let err = parse_time("2026-09-06T00:30")
        .unwrap()
        .resolve(&zone("America/Santiago"), utc(NOW))
        .unwrap_err();
    assert!(
        err.contains("2026-09-06 00:30 does not exist in America/Santiago"),
        "{err}"
    );
}
