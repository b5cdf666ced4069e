//! `[postmortem]`: which incidents need a post-mortem when they are resolved
//! (`domain::postmortem`; README "Post-mortems").

use serde::Deserialize;

use crate::domain::Severity;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostmortemSettings {
    /// Severities (names or P0-P3 / SEV-1..4) whose incidents need a post-mortem; empty: none.
    pub required_for: Vec<String>,
}

impl PostmortemSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        crate::domain::postmortem::parse_required_for(&self.required_for)
            .map_err(|e| anyhow::anyhow!("postmortem.required_for{e}"))?;
        Ok(())
    }

    /// The validated severities (empty if the list is invalid, which `validate` refuses).
    pub fn severities(&self) -> Vec<Severity> {
        crate::domain::postmortem::parse_required_for(&self.required_for).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_for_is_checked_and_named() {
        let s = |v: &[&str]| PostmortemSettings {
            required_for: v.iter().map(|s| s.to_string()).collect(),
        };
        assert!(s(&[]).validate().is_ok());
        assert_eq!(
            s(&["critical", "p1"]).severities(),
            [Severity::Critical, Severity::High]
        );
        assert_eq!(
            s(&["critical", "fatal"])
                .validate()
                .unwrap_err()
                .to_string(),
            "postmortem.required_for[1]: unknown severity `fatal` (expected critical, high, \
             medium or low; P0-P3 and SEV-1..4 are accepted)"
        );
    }
}
