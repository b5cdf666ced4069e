//! People: time zone, contact addresses and contact rules.

use toml::Spanned;

use super::{Checker, SourceFile};
use crate::config::policy::raw::{RawContactRule, RawPerson};
use crate::config::policy::syntax::{parse_duration, valid_e164, valid_email, valid_slack_id};
use crate::domain::{Person, contact};

impl Checker {
    pub(super) fn person(&mut self, file: &SourceFile, raw: &RawPerson) -> Option<Person> {
        let name = raw.name.get_ref();
        let before = self.errors.len();
        let time_zone = self.home_zone(file, &raw.time_zone, &format!("person {name:?}"));
        let checks: [AddressCheck; 3] = [
            ("email", &raw.email, valid_email, "is not an email address"),
            (
                "sms",
                &raw.sms,
                valid_e164,
                "is not an E.164 number (+ and 8 to 15 digits)",
            ),
            (
                "slack",
                &raw.slack,
                valid_slack_id,
                "is not a Slack member id",
            ),
        ];
        for (key, value, valid, why) in checks {
            if let Some(value) = value.as_ref().filter(|v| !valid(v.get_ref())) {
                self.error(
                    file,
                    &value.span(),
                    format!("person {name:?}: {key} {:?} {why}", value.get_ref()),
                );
            }
        }
        let value = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
        let mut person = Person {
            name: name.clone(),
            time_zone: time_zone.unwrap_or(chrono_tz::UTC),
            email: value(&raw.email),
            sms: value(&raw.sms),
            slack: value(&raw.slack),
            contact_rules: Vec::new(),
            low_contact_rules: Vec::new(),
        };
        person.contact_rules = match &raw.contact_rules {
            Some(rules) => self.contact_rules(file, &person, rules, "contact_rules"),
            None => contact::default_rules(&person),
        };
        person.low_contact_rules = match &raw.low_contact_rules {
            Some(rules) => self.contact_rules(file, &person, rules, "low_contact_rules"),
            None => contact::default_low_rules(&person),
        };
        if self.errors.len() != before {
            return None;
        }
        Some(person)
    }

    /// `[{ method = "slack", after = "0m" }, …]`: known methods the person has an address
    /// for, each once; sorted by `after`.
    pub(super) fn contact_rules(
        &mut self,
        file: &SourceFile,
        person: &Person,
        raw: &[RawContactRule],
        key: &str,
    ) -> Vec<contact::ContactRule> {
        let context = format!("person {:?}: {key}", person.name);
        let mut rules: Vec<contact::ContactRule> = Vec::new();
        for r in raw {
            let text = r.method.get_ref();
            let Some(method) = contact::Method::parse(text) else {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: unknown method {text:?} (expected \"slack\", \"sms\" or \"email\")"),
                );
                continue;
            };
            if method.address(person).is_none() {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: method {text:?} but the person has no {text} address"),
                );
            }
            if rules.iter().any(|x| x.method == method) {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: method {text:?} is listed twice"),
                );
            }
            let after = r.after.get_ref();
            match parse_duration(after) {
                Ok(after) => rules.push(contact::ContactRule { method, after }),
                Err(e) => self.error(
                    file,
                    &r.after.span(),
                    format!("{context}: after {after:?} is not a duration such as \"2m\" ({e})"),
                ),
            }
        }
        rules.sort_by_key(|r| r.after);
        rules
    }
}

/// An optional contact field of a person: key, value, validity check, why it is invalid.
type AddressCheck<'a> = (
    &'static str,
    &'a Option<Spanned<String>>,
    fn(&str) -> bool,
    &'static str,
);
