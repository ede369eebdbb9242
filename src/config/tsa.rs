//! `[tsa]`: the clock-sync requirement, the policy and accuracy overrides, the unit's name, how
//! often the clock's status is journaled.

use std::time::Duration;

use super::raw;
use super::{ConfigError, Origin, Pick, TsaSettings, env, parse_in_range};

/// How often the clock's status is journaled unless configured.
const DEFAULT_CLOCK_REPORT: Duration = Duration::from_secs(3600);

pub(super) fn tsa_settings(
    raw: raw::RawTsa,
    pick: &Pick<'_>,
    origin: &Origin<'_>,
) -> Result<TsaSettings, ConfigError> {
    let require_clock_sync = match pick(
        env::TSA_REQUIRE_CLOCK_SYNC,
        "tsa.require_clock_sync",
        raw.require_clock_sync.map(|b| b.to_string()),
    ) {
        None => true,
        Some((text, source)) => match text.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(
                    source.invalid(&format!("`{other}` is not a boolean"), "use true or false")
                );
            }
        },
    };
    let policy_oid = match pick(env::TSA_POLICY_OID, "tsa.policy_oid", raw.policy_oid) {
        None => None,
        Some((text, source)) => Some(text.trim().parse::<const_oid::ObjectIdentifier>().map_err(
            |_| {
                source.invalid(
                    &format!("`{text}` is not an object identifier"),
                    "use dotted decimal, e.g. 0.4.0.2023.1.1",
                )
            },
        )?),
    };
    let accuracy = match pick(
        env::TSA_ACCURACY_MS,
        "tsa.accuracy_ms",
        raw.accuracy_ms.map(|v| v.to_string()),
    ) {
        None => None,
        Some((text, source)) => Some(Duration::from_millis(parse_in_range(
            &text,
            &source,
            1..=1000,
        )?)),
    };
    let clock_report = match pick(
        env::TSA_CLOCK_REPORT_SECONDS,
        "tsa.clock_report_seconds",
        raw.clock_report_seconds.map(|v| v.to_string()),
    ) {
        None => DEFAULT_CLOCK_REPORT,
        Some((text, source)) => Duration::from_secs(parse_in_range(&text, &source, 1..=86_400)?),
    };
    let unit = match raw.unit {
        None => "tsu".to_owned(),
        Some(unit) => {
            let valid = !unit.is_empty()
                && unit.len() <= 32
                && unit
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(origin("tsa.unit").invalid(
                    &format!("`{unit}` is not an entity name"),
                    "use the name of a time-stamping unit of policies/hierarchy.toml, e.g. tsu",
                ));
            }
            unit
        }
    };
    Ok(TsaSettings {
        require_clock_sync,
        policy_oid,
        accuracy,
        unit,
        clock_report,
    })
}
