//! Times as the viewer reads and types them: the viewer's zone (the `pagerd_tz` cookie the
//! dashboard's script sets; UTC without it or when it names no zone), local date-times and
//! dates typed into forms turned into instants, and instants shown back in the zone. Every
//! instant a form gives stays inside the API's bounds (1970 to 2200).

use axum::http::{HeaderMap, header};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::api::limits;

/// The cookie app.js sets to the browser's IANA zone.
pub const ZONE_COOKIE: &str = "pagerd_tz";

/// The viewer's zone from the request's cookies; UTC when absent or not a zone.
pub fn viewer_zone(headers: &HeaderMap) -> Tz {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == ZONE_COOKIE)
        .and_then(|(_, v)| parse_zone(v))
        .unwrap_or(chrono_tz::UTC)
}

/// An IANA zone name, URL-encoded or not (`Europe%2FBerlin`); `None` if not a zone.
pub fn parse_zone(text: &str) -> Option<Tz> {
    // Zone names are short; a long value is no zone (and is not worth decoding).
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    let decoded: String = form_urlencoded::parse(format!("z={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    decoded.trim().parse::<Tz>().ok()
}

/// An instant in range for a request (1970 to 2200), or the message naming `field`.
fn in_bounds(field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    limits::request_time(t.timestamp(), 0).map_err(|e| format!("{field}: {e}"))?;
    Ok(t)
}

/// A local time in `zone` as an instant: in a repeated hour (clocks going back) the first;
/// in a skipped hour (clocks going forward) an error naming `field`.
pub fn from_local(field: &str, local: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, String> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
            in_bounds(field, t.with_timezone(&Utc))
        }
        LocalResult::None => Err(format!(
            "{field}: {} does not exist in {zone} (the clocks skip it)",
            local.format("%Y-%m-%d %H:%M")
        )),
    }
}

/// A date-time as a browser's `datetime-local` input sends it (`2026-03-02T17:00`, seconds
/// optional, a space instead of `T` accepted), in `zone`; or an RFC 3339 instant with its own
/// offset.
pub fn parse_local(field: &str, text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{field}: required"));
    }
    // An instant with its own offset means what it says.
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return in_bounds(field, t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| {
            format!(
                "{field}: `{}` is not a date and time such as 2026-03-02T17:00",
                clip(text)
            )
        })?;
    from_local(field, local, zone)
}

/// A date as a `date` input sends it (`2026-03-02`).
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!(
            "{field}: `{}` is not a date such as 2026-03-02",
            clip(text.trim())
        )
    })
}

/// The start of `date` in `zone` (the first instant of the day where midnight is skipped).
pub fn day_start(field: &str, date: NaiveDate, zone: Tz) -> Result<DateTime<Utc>, String> {
    // Zones that move their clocks at midnight start such a day at 01:00.
    (0..=2)
        .filter_map(|h| date.and_hms_opt(h, 0, 0))
        .find_map(|t| from_local(field, t, zone).ok())
        .ok_or_else(|| format!("{field}: {date} is out of range (1970 to 2200)"))
}

/// An instant as the viewer reads it: `2026-03-02 09:00 PST`.
pub fn show(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// What of a bad value an error message repeats: a little, so an error page stays small.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_zone_comes_from_its_cookie_else_utc() {
        let table = [
            ("pagerd_tz=Europe%2FBerlin", "Europe/Berlin"),
            ("a=1; pagerd_tz=America/New_York; b=2", "America/New_York"),
            ("pagerd_tz=Mars%2FOlympus", "UTC"),
            ("pagerd_tz=", "UTC"),
            ("other=Europe%2FBerlin", "UTC"),
        ];
        for (cookie, want) in table {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
            assert_eq!(viewer_zone(&h).name(), want, "{cookie}");
        }
        assert_eq!(viewer_zone(&HeaderMap::new()), chrono_tz::UTC);
        assert_eq!(parse_zone(&"x".repeat(100)), None);
    }

    #[test]
    fn local_times_become_instants_in_the_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let ok = [
            ("2026-03-02T17:00", chrono_tz::UTC, "2026-03-02T17:00:00Z"),
            (
                "2026-03-02T17:00:30",
                chrono_tz::UTC,
                "2026-03-02T17:00:30Z",
            ),
            (" 2026-03-02 17:00 ", berlin, "2026-03-02T16:00:00Z"),
            // Clocks go back at 03:00 on 2026-10-25: 02:30 happens twice; the first counts.
            ("2026-10-25T02:30", berlin, "2026-10-25T00:30:00Z"),
        ];
        for (text, zone, want) in ok {
            assert_eq!(parse_local("start", text, zone), Ok(utc(want)), "{text}");
        }
        let bad = [
            (
                "tomorrow",
                chrono_tz::UTC,
                "start: `tomorrow` is not a date",
            ),
            ("2026-13-01T00:00", chrono_tz::UTC, "is not a date"),
            // Clocks skip 02:00-03:00 on 2026-03-29 in Berlin.
            (
                "2026-03-29T02:30",
                berlin,
                "does not exist in Europe/Berlin",
            ),
            (
                "2300-01-01T00:00",
                chrono_tz::UTC,
                "start: timestamp out of range",
            ),
            ("1969-12-31T23:00", chrono_tz::UTC, "out of range"),
        ];
        for (text, zone, want) in bad {
            let e = parse_local("start", text, zone).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("start: "), "{e}");
        }
    }

    #[test]
    fn dates_start_at_local_midnight() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let d = parse_date("from", "2026-03-02").unwrap();
        assert_eq!(day_start("from", d, la), Ok(utc("2026-03-02T08:00:00Z")));
        assert_eq!(
            day_start("from", d, chrono_tz::UTC),
            Ok(utc("2026-03-02T00:00:00Z"))
        );
        // Santiago skips midnight on its spring-forward day: the day starts at 01:00.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let skip = parse_date("from", "2026-09-06").unwrap();
        assert_eq!(
            day_start("from", skip, santiago),
            Ok(utc("2026-09-06T04:00:00Z"))
        );
        let e = parse_date("to", "03/02/2026").unwrap_err();
        assert!(e.starts_with("to: `03/02/2026` is not a date"), "{e}");
        let far = parse_date("to", "2250-01-01").unwrap();
        assert!(day_start("to", far, la).unwrap_err().starts_with("to: "));
    }

    #[test]
    fn instants_show_in_the_viewers_zone() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let t = utc("2026-03-02T17:00:00Z");
        assert_eq!(show(t, la), "2026-03-02 09:00 PST");
        assert_eq!(show(t, chrono_tz::UTC), "2026-03-02 17:00 UTC");
    }

    #[test]
    fn the_zone_cookie_is_found_across_cookie_headers() {
        for (cookies, want) in [
            (vec!["x=1", "pagerd_tz=Asia%2FKolkata"], "Asia/Kolkata"),
            (vec!["pagerd_tz=Etc%2FGMT%2B5"], "Etc/GMT+5"),
            (vec!["pagerd_session=abc"], "UTC"),
            (vec![], "UTC"),
        ] {
            let mut h = HeaderMap::new();
            for c in &cookies {
                h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
            }
            assert_eq!(viewer_zone(&h).name(), want, "{cookies:?}");
        }
    }

    #[test]
    fn form_times_follow_a_rule_for_daylight_saving_and_may_carry_an_offset() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let table: [(&str, Result<&str, &str>); 7] = [
            ("2026-03-03T09:00", Ok("2026-03-03T17:00:00Z")),
            ("2026-03-03 09:00", Ok("2026-03-03T17:00:00Z")),
            ("2026-03-03T09:00:00+01:00", Ok("2026-03-03T08:00:00Z")),
            // 02:30 on 8 March does not exist in Los Angeles.
            (
                "2026-03-08T02:30",
                Err("does not exist in America/Los_Angeles"),
            ),
            // 01:30 on 1 November happens twice: the first (PDT, -7h).
            ("2026-11-01T01:30", Ok("2026-11-01T08:30:00Z")),
            ("2300-01-01T00:00:00Z", Err("start:")),
            ("  ", Err("start: required")),
        ];
        for (input, want) in table {
            match (parse_local("start", input, la), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, utc(w), "{input}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
