//! The TOML schema of `policies/*.toml` as serde reads it; [`parse`](fn@super::parse) checks it.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    pub(super) version: i64,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) kind: RawKind,
    pub(super) subject: RawSubject,
    pub(super) subject_keys: Vec<String>,
    pub(super) validity: RawValidity,
    pub(super) key_usage: RawKeyUsage,
    pub(super) basic_constraints: Option<RawBasicConstraints>,
    pub(super) extended_key_usage: Option<RawExtendedKeyUsage>,
    pub(super) certificate_policies: Option<RawPolicies>,
    pub(super) qc_statements: Option<RawQcStatements>,
    #[serde(default)]
    pub(super) extensions: RawExtensions,
    pub(super) urls: RawUrls,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawKind {
    RootCa,
    SubordinateCa,
    EndEntity,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawSubject {
    NaturalPerson,
    Organization,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawValidity {
    #[serde(default)]
    pub(super) days: i64,
    #[serde(default)]
    pub(super) hours: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyUsage {
    pub(super) critical: bool,
    pub(super) usages: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBasicConstraints {
    pub(super) critical: bool,
    pub(super) ca: bool,
    pub(super) path_len: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtendedKeyUsage {
    pub(super) critical: bool,
    pub(super) purposes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicies {
    pub(super) critical: bool,
    pub(super) policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQcStatements {
    #[serde(default)]
    pub(super) compliance: bool,
    #[serde(default)]
    pub(super) sscd: bool,
    #[serde(rename = "type")]
    pub(super) qc_type: Option<String>,
    pub(super) semantics: Option<String>,
    pub(super) retention_period_years: Option<i64>,
    #[serde(default)]
    pub(super) pds: Vec<RawPds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPds {
    pub(super) url: String,
    pub(super) language: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtensions {
    #[serde(default)]
    pub(super) ocsp_nocheck: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUrls {
    pub(super) crl_distribution_point: Option<String>,
    pub(super) ocsp: Option<String>,
    pub(super) ca_issuers: Option<String>,
}
