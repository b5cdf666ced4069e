//! Size limits every edge enforces alike (gRPC requests, Events v2 bodies, Alertmanager
//! webhooks), so an alert is refused the same way whichever way it came in, and the small
//! shared rules (links, request times, durations) that every edge calls.

use chrono::{DateTime, TimeDelta, Utc};

pub const MAX_SUMMARY_CHARS: usize = 1024;
pub const MAX_DEDUP_KEY_BYTES: usize = 255;
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
pub const MAX_SOURCE_BYTES: usize = 255;
pub const MAX_LINKS: usize = 32;
pub const MAX_ACTOR_BYTES: usize = 128;
pub const MAX_NOTE_BYTES: usize = 4096;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
/// A link's `href`: long enough for any dashboard URL with its query.
pub const MAX_HREF_BYTES: usize = 2048;
/// A link's text (or an image's `alt`).
pub const MAX_LINK_TEXT_BYTES: usize = 256;
/// Alerts in one Alertmanager notification (its `max_alerts` should be set below this).
pub const MAX_ALERTMANAGER_ALERTS: usize = 1000;
/// Schemes a link may use: anything else (`javascript:`, `data:`, `file:`) is refused, since
/// the link ends up clickable in emails and Slack.
pub const LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];
/// Earliest and latest instant a request may name (1970-01-01, 2200-01-01): far enough for
/// any real use, near enough that schedule arithmetic on them can never overflow.
pub const MIN_REQUEST_SECS: i64 = 0;
pub const MAX_REQUEST_SECS: i64 = 7_258_118_400;
/// Longest override or maintenance window.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// Longest schedule or service name a filter may carry.
pub const MAX_NAME_BYTES: usize = 255;

/// A link's `href`: at most [`MAX_HREF_BYTES`], an absolute URL with a [`LINK_SCHEMES`]
/// scheme. The message names the problem, not the field (callers add their field path).
pub fn check_href(href: &str) -> Result<(), String> {
    if href.len() > MAX_HREF_BYTES {
        return Err(format!("{} bytes; at most {MAX_HREF_BYTES}", href.len()));
    }
    let url = reqwest::Url::parse(href).map_err(|_| format!("`{href}` is not a URL"))?;
    if !LINK_SCHEMES.contains(&url.scheme()) {
        return Err(format!(
            "scheme `{}:` is not allowed (http, https or mailto)",
            url.scheme()
        ));
    }
    Ok(())
}

/// A link's text: at most [`MAX_LINK_TEXT_BYTES`].
pub fn check_link_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_LINK_TEXT_BYTES {
        return Err(format!(
            "{} bytes; at most {MAX_LINK_TEXT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

/// A time a request names, from seconds and nanoseconds: inside
/// [`MIN_REQUEST_SECS`]..[`MAX_REQUEST_SECS`], nanoseconds in 0..1e9 (negative as zero).
pub fn request_time(seconds: i64, nanos: i32) -> Result<DateTime<Utc>, String> {
    if !(MIN_REQUEST_SECS..=MAX_REQUEST_SECS).contains(&seconds) {
        return Err("timestamp out of range (1970-01-01 to 2200-01-01)".into());
    }
    DateTime::from_timestamp(seconds, nanos.max(0) as u32)
        .ok_or_else(|| "timestamp out of range (nanos above 999999999)".into())
}

/// An override or maintenance window is at most [`MAX_WINDOW_DAYS`] long. (Whether `end`
/// comes after `start` is the engine's rule, checked after the service or schedule exists.)
pub fn check_window_length(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), String> {
    if end - start > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(format!("at most {MAX_WINDOW_DAYS} days after start"));
    }
    Ok(())
}

/// A name used as a list filter (service, schedule): at most [`MAX_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("{} bytes; at most {MAX_NAME_BYTES}", name.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_web_or_mail_and_bounded() {
        let long = format!("https://x.example/{}", "a".repeat(MAX_HREF_BYTES));
        let table: [(&str, Option<&str>); 9] = [
            ("https://grafana.example/d/1?x=1", None),
            ("http://prom:9090/graph", None),
            ("mailto:ops@example.com", None),
            ("javascript:alert(1)", Some("scheme `javascript:`")),
            ("JavaScript:alert(1)", Some("scheme `javascript:`")),
            ("data:text/html,<b>x</b>", Some("scheme `data:`")),
            ("file:///etc/passwd", Some("scheme `file:`")),
            ("not a url", Some("is not a URL")),
            (&long, Some("at most 2048")),
        ];
        for (href, want) in table {
            match (check_href(href), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{href}: {e}"),
                (got, want) => panic!("{href}: got {got:?}, want {want:?}"),
            }
        }
        assert!(check_link_text(&"t".repeat(MAX_LINK_TEXT_BYTES)).is_ok());
        assert!(check_link_text(&"t".repeat(MAX_LINK_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn request_times_are_bounded_and_never_panic() {
        assert!(request_time(0, 0).is_ok());
        assert!(request_time(MAX_REQUEST_SECS, 999_999_999).is_ok());
        for (s, n) in [
            (-1, 0),
            (MAX_REQUEST_SECS + 1, 0),
            (i64::MAX, 0),
            (i64::MIN, 0),
            (10, 1_000_000_000),
            (10, i32::MAX),
        ] {
            assert!(request_time(s, n).is_err(), "{s} {n}");
        }
        assert_eq!(
            request_time(10, -5),
            Ok(DateTime::from_timestamp(10, 0).unwrap())
        );
    }

    #[test]
    fn windows_are_at_most_a_year() {
        let t = DateTime::from_timestamp(1_772_445_600, 0).unwrap();
        assert!(check_window_length(t, t + TimeDelta::hours(1)).is_ok());
        assert!(check_window_length(t, t + TimeDelta::days(MAX_WINDOW_DAYS)).is_ok());
        assert!(check_window_length(t, t + TimeDelta::days(MAX_WINDOW_DAYS + 1)).is_err());
    }
}
