//! `[crl]` and `[ocsp]`: how revocation status is published.

use std::time::Duration;

use super::raw::{RawCrl, RawOcsp};
use super::{ConfigError, CrlSettings, OcspSettings, Origin, Source, positive};

/// Default `crl.revocation_poll_ms`.
const DEFAULT_CRL_REVOCATION_POLL_MS: u64 = 5_000;

/// A period given in one of two units (`minutes_key` or `seconds_key`, never both), in
/// `seconds_range` once converted; `default_seconds` when neither is set.
fn minutes_or_seconds(
    (minutes, minutes_key): (Option<i64>, &str),
    (seconds, seconds_key): (Option<i64>, &str),
    origin: &Origin<'_>,
    default_seconds: u64,
    seconds_range: std::ops::RangeInclusive<u64>,
) -> Result<(u64, Source), ConfigError> {
    match (minutes, seconds) {
        (Some(_), Some(_)) => Err(origin(seconds_key).invalid(
            &format!("is set together with `{minutes_key}`"),
            &format!("set only one of `{minutes_key}` and `{seconds_key}`"),
        )),
        (Some(_), None) => {
            let source = origin(minutes_key);
            let range = seconds_range.start().div_ceil(60)..=seconds_range.end() / 60;
            Ok((positive(minutes, source.clone(), 0, range)? * 60, source))
        }
        (None, Some(_)) => {
            let source = origin(seconds_key);
            Ok((positive(seconds, source.clone(), 0, seconds_range)?, source))
        }
        (None, None) => Ok((default_seconds, origin(minutes_key))),
    }
}

pub(super) fn crl_settings(raw: RawCrl, origin: &Origin<'_>) -> Result<CrlSettings, ConfigError> {
    let hours = positive(
        raw.next_update_hours,
        origin("crl.next_update_hours"),
        24,
        1..=168,
    )?;
    let (refresh, refresh_source) = minutes_or_seconds(
        (raw.refresh_minutes, "crl.refresh_minutes"),
        (raw.refresh_seconds, "crl.refresh_seconds"),
        origin,
        3600,
        1..=604_800,
    )?;
    if refresh >= hours * 3600 {
        return Err(refresh_source.invalid(
            &format!("{refresh} s is not shorter than nextUpdate ({hours} h)"),
            "refresh CRLs well before their nextUpdate, e.g. refresh_minutes = 60",
        ));
    }
    let poll_ms = positive(
        raw.revocation_poll_ms,
        origin("crl.revocation_poll_ms"),
        DEFAULT_CRL_REVOCATION_POLL_MS,
        100..=600_000,
    )?;
    Ok(CrlSettings {
        next_update: Duration::from_secs(hours * 3600),
        refresh: Duration::from_secs(refresh),
        revocation_poll: Duration::from_millis(poll_ms),
    })
}

pub(super) fn ocsp_settings(
    raw: RawOcsp,
    origin: &Origin<'_>,
) -> Result<OcspSettings, ConfigError> {
    let (next_update, _) = minutes_or_seconds(
        (raw.next_update_minutes, "ocsp.next_update_minutes"),
        (raw.next_update_seconds, "ocsp.next_update_seconds"),
        origin,
        3600,
        1..=604_800,
    )?;
    Ok(OcspSettings {
        next_update: Duration::from_secs(next_update),
        cache: crate::ocsp::OcspCacheSettings {
            max_entries: usize::try_from(positive(
                raw.cache_max_entries,
                origin("ocsp.cache_max_entries"),
                crate::ocsp::cache::DEFAULT_MAX_ENTRIES as u64,
                0..=1_000_000,
            )?)
            .unwrap_or(crate::ocsp::cache::DEFAULT_MAX_ENTRIES),
            revocation_check: Duration::from_millis(positive(
                raw.revocation_check_ms,
                origin("ocsp.revocation_check_ms"),
                0,
                0..=60_000,
            )?),
        },
    })
}
