//! A profile's `[qc_statements]` table, checked against EN 319 412-5 into a
//! [`QcStatementsSpec`].

use super::parse::{Ctx, QC_TYPE_NAMES, lookup, names};
use super::raw::RawQcStatements;
use super::url::check_template;
use super::{CertificateKind, CertificatePoliciesSpec, PdsTemplate, QcStatementsSpec};
use crate::pki::name::SubjectKind;
use crate::pki::oid;
use crate::profile::error::ProfileError;

pub(super) fn parse_qc(
    cx: &Ctx<'_>,
    qc: RawQcStatements,
    kind: CertificateKind,
    subject: SubjectKind,
    policies: Option<&CertificatePoliciesSpec>,
) -> Result<QcStatementsSpec, ProfileError> {
    if kind.is_ca() {
        return Err(cx.err(
            "qc_statements",
            "QC statements belong in end-entity certificates",
        ));
    }
    if !qc.compliance {
        return Err(cx.err(
            "qc_statements.compliance",
            "qtsp issues QC statements only for EU qualified certificates: set compliance = true",
        ));
    }
    let qc_type = qc
        .qc_type
        .as_deref()
        .map(|t| {
            lookup(&QC_TYPE_NAMES, t).ok_or_else(|| {
                cx.err(
                    "qc_statements.type",
                    format!("{t:?} is not one of {}", names(&QC_TYPE_NAMES)),
                )
            })
        })
        .transpose()?;
    match (qc_type, subject) {
        (Some(t), SubjectKind::NaturalPerson) if t != oid::QCT_ESIGN => {
            return Err(cx.err(
                "qc_statements.type",
                "a natural person's qualified certificate is of type esign",
            ));
        }
        (Some(t), SubjectKind::Organization) if t == oid::QCT_ESIGN => {
            return Err(cx.err(
                "qc_statements.type",
                "esign is for natural persons; an organization's type is eseal or web",
            ));
        }
        _ => {}
    }
    let semantics = match (qc.semantics.as_deref(), subject) {
        (None, _) => None,
        (Some("natural"), SubjectKind::NaturalPerson) => Some(oid::SEMANTICS_ID_NATURAL),
        (Some("legal"), SubjectKind::Organization) => Some(oid::SEMANTICS_ID_LEGAL),
        (Some("natural" | "legal"), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!("does not match subject = {:?}", subject.name()),
            ));
        }
        (Some(s @ ("eidas-natural" | "eidas-legal")), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!(
                    "{s:?} needs eIDAS identifiers (\"FR/FR/...\") in the subject; qtsp writes \
                     EN 319 412-1 identifiers (\"IDCFR-...\", \"NTRFR-...\"): use natural or legal"
                ),
            ));
        }
        (Some(s), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!("{s:?} is not one of natural, legal"),
            ));
        }
    };
    let retention_period_years = qc
        .retention_period_years
        .map(|y| {
            u32::try_from(y).ok().filter(|y| *y > 0).ok_or_else(|| {
                cx.err(
                    "qc_statements.retention_period_years",
                    "a positive number of years",
                )
            })
        })
        .transpose()?;
    let mut pds = Vec::new();
    for (i, p) in qc.pds.into_iter().enumerate() {
        let url = check_template(cx, &format!("qc_statements.pds[{i}].url"), p.url, true)?;
        if p.language.len() != 2 || !p.language.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(cx.err(
                format!("qc_statements.pds[{i}].language"),
                "two lower-case letters (ISO 639-1)",
            ));
        }
        pds.push(PdsTemplate {
            url,
            language: p.language,
        });
    }
    if qc.sscd
        && let Some(cp) = policies
        && (cp.policies.contains(&oid::QCP_N) || cp.policies.contains(&oid::QCP_L))
    {
        return Err(cx.err(
            "qc_statements.sscd",
            "QcSSCD with a non-QSCD policy (qcp-n / qcp-l): use qcp-n-qscd / qcp-l-qscd",
        ));
    }
    if !qc.sscd
        && let Some(cp) = policies
        && (cp.policies.contains(&oid::QCP_N_QSCD) || cp.policies.contains(&oid::QCP_L_QSCD))
    {
        return Err(cx.err(
            "qc_statements.sscd",
            "a -qscd policy requires sscd = true (EN 319 412-5)",
        ));
    }
    Ok(QcStatementsSpec {
        compliance: qc.compliance,
        sscd: qc.sscd,
        qc_type,
        semantics,
        retention_period_years,
        pds,
    })
}
