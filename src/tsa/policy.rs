//! The TSA policy (policies/tsa.toml), overridable by the `[tsa]` configuration section.

use std::time::Duration;

use const_oid::ObjectIdentifier;
use serde::Deserialize;

use super::TsaError;
use super::request::{ImprintAlgorithm, TimeStampPolicy};
use super::token::TokenSettings;
use crate::config::TsaSettings;
use crate::pki::tsp::Accuracy;

/// The policy shipped with qtsp.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/tsa.toml");

/// The policy file format version this build reads.
const POLICY_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    policy_oid: String,
    accuracy_ms: u64,
    accepted_hashes: Vec<String>,
    qualified: bool,
    include_tsa_name: bool,
}

/// The TSA policy in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsaPolicy {
    /// `TSTInfo.policy`, the only `reqPolicy` accepted.
    pub policy: ObjectIdentifier,
    /// Declared accuracy of `genTime` (1 ms to 1 s).
    pub accuracy: Duration,
    /// Accepted imprint hashes.
    pub accepted_hashes: Vec<ImprintAlgorithm>,
    /// Tokens carry `esi4-qtstStatement-1`.
    pub qualified: bool,
    /// Tokens name the TSU in `TSTInfo.tsa`.
    pub include_tsa_name: bool,
}

impl TsaPolicy {
    /// Parses a policy file.
    pub fn parse(text: &str) -> Result<Self, TsaError> {
        let bad = |problem: String| TsaError::Policy(problem);
        let raw: RawPolicy = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if raw.version != POLICY_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this build reads version {POLICY_VERSION})",
                raw.version
            )));
        }
        let policy = raw
            .policy_oid
            .parse::<ObjectIdentifier>()
            .map_err(|_| bad(format!("policy_oid `{}` is not an OID", raw.policy_oid)))?;
        let accepted_hashes = raw
            .accepted_hashes
            .iter()
            .map(|name| {
                ImprintAlgorithm::ALL
                    .into_iter()
                    .find(|a| a.name() == name)
                    .ok_or_else(|| bad(format!("accepted_hashes: `{name}` is not accepted here")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if accepted_hashes.is_empty() {
            return Err(bad("accepted_hashes is empty".to_owned()));
        }
        let policy = Self {
            policy,
            accuracy: Duration::from_millis(raw.accuracy_ms),
            accepted_hashes,
            qualified: raw.qualified,
            include_tsa_name: raw.include_tsa_name,
        };
        policy.check_accuracy()?;
        Ok(policy)
    }

    /// The shipped policy with the configuration's overrides.
    pub fn configured(settings: &TsaSettings) -> Result<Self, TsaError> {
        let mut policy = Self::parse(DEFAULT_POLICY)?;
        if let Some(oid) = settings.policy_oid {
            policy.policy = oid;
        }
        if let Some(accuracy) = settings.accuracy {
            policy.accuracy = accuracy;
        }
        policy.check_accuracy()?;
        Ok(policy)
    }

    fn check_accuracy(&self) -> Result<(), TsaError> {
        if self.accuracy.is_zero() || self.accuracy > Duration::from_secs(1) {
            return Err(TsaError::Policy(format!(
                "accuracy {:?} is outside 1 ms to 1 s (EN 319 421)",
                self.accuracy
            )));
        }
        Ok(())
    }

    /// What requests are checked against.
    #[must_use]
    pub fn request_policy(&self) -> TimeStampPolicy {
        TimeStampPolicy {
            policy: self.policy,
            accepted_algorithms: self.accepted_hashes.clone(),
        }
    }

    /// What goes into every token.
    #[must_use]
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            policy: self.policy,
            accuracy: accuracy_field(self.accuracy),
            include_tsa_name: self.include_tsa_name,
            qualified: self.qualified,
        }
    }
}

/// The `Accuracy` of a duration of at most one second: whole seconds, else milliseconds and
/// microseconds (each 1..999 when present).
fn accuracy_field(accuracy: Duration) -> Accuracy {
    let seconds = u32::try_from(accuracy.as_secs()).unwrap_or(u32::MAX);
    let millis = u16::try_from(accuracy.subsec_millis()).unwrap_or(0);
    let micros = u16::try_from(accuracy.subsec_micros() % 1000).unwrap_or(0);
    Accuracy {
        seconds: (seconds > 0).then_some(seconds),
        millis: (millis > 0).then_some(millis),
        micros: (micros > 0).then_some(micros),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::oid;

    #[test]
    fn shipped_policy_parses() {
        let p = TsaPolicy::parse(DEFAULT_POLICY).unwrap();
        assert_eq!(p.policy, oid::TSA_BASELINE_POLICY);
        assert_eq!(p.accuracy, Duration::from_secs(1));
        assert_eq!(p.accepted_hashes, ImprintAlgorithm::ALL.to_vec());
        assert!(p.qualified && p.include_tsa_name);
        assert_eq!(
            p.token_settings().accuracy,
            Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None
            }
        );
    }

    #[test]
    fn overrides_apply_and_are_checked() {
        let mut settings = TsaSettings {
            require_clock_sync: true,
            policy_oid: Some(oid::QCP_N),
            accuracy: Some(Duration::from_millis(250)),
            unit: "tsu".into(),
            clock_report: Duration::from_secs(3600),
        };
        let p = TsaPolicy::configured(&settings).unwrap();
        assert_eq!(p.policy, oid::QCP_N);
        assert_eq!(
            p.token_settings().accuracy,
            Accuracy {
                seconds: None,
                millis: Some(250),
                micros: None
            }
        );
        settings.accuracy = Some(Duration::from_millis(1500));
        assert!(TsaPolicy::configured(&settings).is_err());
    }

    #[test]
    fn broken_policies_are_refused() {
        for (edit, needle) in [
            (("version = 1", "version = 2"), "version 2"),
            (
                ("policy_oid = \"0.4.0.2023.1.1\"", "policy_oid = \"x\""),
                "not an OID",
            ),
            (("\"sha256\", ", "\"sha1\", "), "sha1"),
            (("accuracy_ms = 1000", "accuracy_ms = 0"), "accuracy"),
            (
                ("qualified = true", "qualified = true\nextra = 1"),
                "unknown field",
            ),
        ] {
            let text = DEFAULT_POLICY.replacen(edit.0, edit.1, 1);
            let err = TsaPolicy::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
