//! Value parsers for the command line: addresses, timeouts, details, links and times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::transport::Endpoint;

use pagerd::proto as pb;

/// The end of an override: a time, or a length counted from its start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum End {
    At(DateTime<Utc>),
    After(chrono::TimeDelta),
}

impl End {
    pub(crate) fn resolve(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            End::At(t) => Some(t),
            End::After(d) => start.checked_add_signed(d),
        }
    }
}

/// `host:port` gets `http://`; `https://` is for a daemon serving TLS.
pub(crate) fn parse_addr(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let addr = if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    };
    if !addr.starts_with("http://") && !addr.starts_with("https://") {
        return Err(format!(
            "`{s}`: use an http:// or https:// address (https:// when pagerd serves TLS)"
        ));
    }
    Endpoint::from_shared(addr.clone()).map_err(|e| format!("`{s}` is not an address: {e}"))?;
    Ok(addr)
}

pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (try 10s, 500ms, 1m)"))?
        }
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

pub(crate) fn parse_detail(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}`: expected KEY=VALUE")),
    }
}

/// `URL` or `URL=TEXT`. A URL holds no whitespace but its query string may hold `=`: with
/// whitespace, TEXT starts after the last `=` before it; without, after the first `=` that
/// comes before any `?` or `#`.
pub(crate) fn parse_link(s: &str) -> Result<pb::Link, String> {
    let split = match s.find(char::is_whitespace) {
        Some(ws) => s[..ws].rfind('='),
        None => s[..s.find(['?', '#']).unwrap_or(s.len())].find('='),
    };
    let (href, text) = match split {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let href = href.trim();
    if href.is_empty() {
        return Err(format!("`{s}`: expected URL or URL=TEXT"));
    }
    Ok(pb::Link {
        href: href.to_owned(),
        text: text.trim().to_owned(),
    })
}

/// An RFC 3339 time (seconds optional) or a duration from now.
pub(crate) fn parse_future_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(t);
    }
    let ahead = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T14:00:00Z) or a duration from now (2h)"
        )
    })?;
    chrono::Duration::from_std(ahead)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| format!("`{s}`: too far ahead"))
}

/// An RFC 3339 time (seconds optional), `now`, or a duration ago (2h, 3d).
pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(t);
    }
    if s.trim().eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    let ago = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T14:00:00Z), `now` or a duration ago (2h, 3d)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .ok_or_else(|| format!("`{s}`: too far in the past"))
}

/// An override's end: an RFC 3339 time (seconds optional) or a duration after its start.
pub(crate) fn parse_end(s: &str) -> Result<End, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(End::At(t));
    }
    let after = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T18:00:00Z) or a duration after --from (4h, 2d)"
        )
    })?;
    if after.is_zero() {
        return Err("a duration after --from must be more than zero".into());
    }
    chrono::Duration::from_std(after)
        .map(End::After)
        .map_err(|_| format!("`{s}`: too long"))
}

/// RFC 3339, also without seconds as people type it (`2026-03-03T18:00-08:00`).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s).or_else(|e| match (s.get(..16), s.get(16..)) {
        (Some(minutes), Some(offset)) if offset.starts_with(['Z', 'z', '+', '-']) => {
            DateTime::parse_from_rfc3339(&format!("{minutes}:00{offset}"))
        }
        _ => Err(e),
    });
    parsed.ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_without_a_scheme_get_http() {
        assert_eq!(
            parse_addr("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            parse_addr("http://pagerd:50051/").unwrap(),
            "http://pagerd:50051"
        );
        assert_eq!(
            parse_addr("https://pagerd:50051").unwrap(),
            "https://pagerd:50051"
        );
        assert!(parse_addr("ftp://pagerd:50051").is_err());
    }

    #[test]
    fn links_split_text_from_urls_with_queries() {
        let link = |s| parse_link(s).map(|l| (l.href, l.text));
        let pair = |h: &str, t: &str| Ok((h.to_owned(), t.to_owned()));
        assert_eq!(link("https://x/runbook"), pair("https://x/runbook", ""));
        assert_eq!(
            link("https://x/runbook=Runbook"),
            pair("https://x/runbook", "Runbook")
        );
        assert_eq!(
            link("https://x/d?org=1&v=a"),
            pair("https://x/d?org=1&v=a", "")
        );
        assert_eq!(
            link("https://x/d?org=1=Checkout dashboard"),
            pair("https://x/d?org=1", "Checkout dashboard")
        );
        assert_eq!(
            link("https://x/r=Text with a=b"),
            pair("https://x/r", "Text with a=b")
        );
        assert!(parse_link("=text").is_err());
    }

    #[test]
    fn details_need_a_key() {
        assert_eq!(
            parse_detail("region=eu=west").unwrap(),
            ("region".into(), "eu=west".into())
        );
        assert_eq!(
            parse_detail("empty=").unwrap(),
            ("empty".into(), String::new())
        );
        assert!(parse_detail("=v").is_err());
        assert!(parse_detail("novalue").is_err());
    }

    #[test]
    fn timeouts_take_durations_or_seconds() {
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        assert_eq!(
            parse_time("2024-05-01T16:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T14:00:00+00:00"
        );
        let two_hours_ago = parse_time("2h").unwrap();
        assert!(
            (Utc::now() - two_hours_ago - chrono::TimeDelta::hours(2))
                .num_seconds()
                .abs()
                < 5
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn times_may_leave_out_seconds_or_say_now() {
        let utc = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2026-03-03T18:00-08:00"),
            Ok("2026-03-04T02:00:00+00:00".into())
        );
        assert_eq!(
            utc("2026-03-03T18:30Z"),
            Ok("2026-03-03T18:30:00+00:00".into())
        );
        assert_eq!(
            utc(" 2026-03-03 18:30:15+01:00 "),
            Ok("2026-03-03T17:30:15+00:00".into())
        );
        assert!(
            (Utc::now() - parse_time("now").unwrap())
                .num_seconds()
                .abs()
                < 5
        );
        for bad in [
            "2026-03-03T18:00",
            "2026-03-03T18-08:00",
            "2026-03-03",
            "18:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_override_ends_at_a_time_or_a_duration_after_its_start() {
        let t = |s: &str| parse_instant(s).unwrap();
        let from = t("2026-03-03T18:00-08:00");
        assert_eq!(
            parse_end("4h").unwrap(),
            End::After(chrono::TimeDelta::hours(4))
        );
        assert_eq!(
            parse_end("4h").unwrap().resolve(from),
            Some(t("2026-03-04T06:00:00Z"))
        );
        assert_eq!(
            parse_end("2026-03-04T08:00Z").unwrap().resolve(from),
            Some(t("2026-03-04T08:00:00Z"))
        );
        assert_eq!(
            parse_end("1w").unwrap().resolve(from),
            Some(t("2026-03-11T02:00:00Z"))
        );
        assert!(parse_end("0s").is_err());
        assert!(parse_end("soon").is_err());
        assert!(
            parse_end("now").is_err(),
            "an end of `now` is never after --from"
        );
    }
}
