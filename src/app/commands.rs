//! The operator's one-shot commands (`qtsp tsa check`, `hsm check`, `audit verify|export`,
//! `ca revoke`): each opens what it needs, does one thing, prints the result and closes.

use std::path::Path;

use super::{App, AppError, open_hsm, open_journal, open_storage};
use crate::config::Config;

/// `qtsp tsa check`: signs a test token with the TSU key and checks it against the certificate,
/// and reads the clock's synchronization, without serving or writing anything. Fails when the
/// TSA would not issue time-stamps.
pub async fn tsa_check(config: Config) -> Result<(), AppError> {
    use crate::clock::SyncSource as _;
    let app = App::build(config).await?;
    let policy = crate::tsa::TsaPolicy::configured(&app.config.tsa)?;
    let (key, certificate) = app.tsa_unit().await?;
    let checked = crate::tsa::check_unit(&app.hsm, &key, &certificate, &policy).await;
    let reading = crate::clock::KernelSync.read();
    app.hsm.shutdown().await;
    app.storage.close().await;
    let template = checked?;
    let in_sync = reading.as_ref().is_ok_and(|r| r.within(policy.accuracy));
    let required = app.config.tsa.require_clock_sync;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "unit       {} ({})",
            app.config.tsa.unit,
            template.key_algorithm()
        );
        println!(
            "signature  {:?}, self-test passed",
            template.signature_algorithm()
        );
        println!("policy     {}", policy.policy);
        println!("accuracy   {} ms", policy.accuracy.as_millis());
        match &reading {
            Ok(r) => println!("clock      {}", r.detail),
            Err(e) => println!("clock      unknown: {e}"),
        }
        println!(
            "verdict    {}",
            match (in_sync, required) {
                (true, _) => "time-stamps are issued",
                (false, true) =>
                    "time-stamps are REFUSED (timeNotAvailable): the clock is not synchronized within the accuracy",
                (false, false) =>
                    "time-stamps are issued WITHOUT a synchronized clock (tsa.require_clock_sync = false)",
            }
        );
    }
    if !in_sync && required {
        return Err(AppError::ClockNotSynchronized);
    }
    Ok(())
}

/// `qtsp hsm check`: log in through the pool and print what the token says about itself.
pub async fn hsm_check(config: &Config) -> Result<(), AppError> {
    let hsm = open_hsm(config).await?;
    let report = hsm.check().await?;
    hsm.shutdown().await;
    #[allow(clippy::print_stdout)]
    {
        println!("token      {}", report.token_label);
        println!("serial     {}", report.serial);
        println!("maker      {} {}", report.manufacturer, report.model);
        println!("firmware   {}", report.firmware);
        println!("sessions   {} logged in", report.sessions_alive);
    }
    Ok(())
}

/// The audit signer's public key (SPKI DER) and the PEM certificates of the hierarchy, from
/// `<data_dir>/certs`.
fn audit_keys(config: &Config) -> Result<crate::audit::BundleKeys, AppError> {
    use der::{Decode, Encode};
    let certs_dir = config.data_dir.join("certs");
    let (audit_der_path, _) = crate::ca::ceremony::certificate_paths(&certs_dir, "audit");
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| AppError::ReadFile {
            path: path.to_owned(),
            source,
        })
    };
    let audit_der = read(&audit_der_path)?;
    let spki = x509_cert::Certificate::from_der(&audit_der)
        .ok()
        .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok())
        .ok_or_else(|| {
            AppError::InvalidArgument(format!("{} is not a certificate", audit_der_path.display()))
        })?;
    let mut certificates = Vec::new();
    let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
    for entity in &hierarchy.entities {
        let (_, pem_path) = crate::ca::ceremony::certificate_paths(&certs_dir, &entity.name);
        if let Ok(pem) = std::fs::read_to_string(&pem_path) {
            certificates.push(crate::audit::NamedPem {
                name: entity.name.clone(),
                pem,
            });
        }
    }
    Ok(crate::audit::BundleKeys {
        audit_public_keys: vec![spki],
        certificates,
    })
}

/// `qtsp tsa show --serial HEX`: an issued token's record, its batch, and its batch's journal
/// entry with the batch's rows checked against it. Fails when there is no such token, or when
/// the journal does not account for its row.
pub async fn tsa_show(config: &Config, serial_hex: &str) -> Result<(), AppError> {
    let serial = crate::storage::TimestampSerial::from_hex(serial_hex).map_err(|e| {
        AppError::InvalidArgument(format!(
            "--serial {serial_hex:?}: {e} (lowercase hex of the serial number's DER content)"
        ))
    })?;
    let storage = open_storage(config).await?;
    let evidence = crate::audit::timestamp_evidence(&storage, &serial).await;
    storage.close().await;
    let evidence = evidence?.ok_or_else(|| AppError::TimestampNotFound {
        serial: serial.to_hex(),
    })?;
    #[allow(clippy::print_stdout)]
    {
        print!("{evidence}");
    }
    if evidence.is_consistent() {
        Ok(())
    } else {
        Err(AppError::AuditBroken(format!(
            "time-stamp {}: its row is not accounted for by the journal",
            serial.to_hex()
        )))
    }
}

/// `qtsp audit verify [--bundle DIR]`: recompute the chain and the checkpoint signatures, and
/// each time-stamp batch's digest from its rows (the database's or the bundle's).
pub async fn audit_verify(config: &Config, bundle: Option<&Path>) -> Result<(), AppError> {
    let report = match bundle {
        Some(dir) => crate::audit::verify_bundle(dir)?,
        None => {
            let keys = audit_keys(config)?;
            let storage = open_storage(config).await?;
            let report = crate::audit::verify_storage(&storage, &keys.audit_public_keys).await;
            storage.close().await;
            report?
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
    if report.is_intact() {
        Ok(())
    } else {
        Err(AppError::AuditBroken(report.to_string()))
    }
}

/// `qtsp audit export --out DIR`: a self-contained bundle an auditor verifies offline.
pub async fn audit_export(config: &Config, out: &Path) -> Result<(), AppError> {
    let keys = audit_keys(config)?;
    let storage = open_storage(config).await?;
    let summary = crate::audit::export_bundle(&storage, out, &keys).await;
    storage.close().await;
    let summary = summary?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "exported {} records (last {}), {} checkpoints and the {} rows of {} time-stamp batches to {}",
            summary.records,
            summary.last_seq,
            summary.checkpoints,
            summary.timestamp_rows,
            summary.timestamp_batches,
            summary.dir.display()
        );
    }
    Ok(())
}

/// What `qtsp ca revoke` was asked.
#[derive(Debug, Clone)]
pub struct RevokeArgs {
    pub serial: String,
    pub reason: String,
    pub invalidity_date: Option<String>,
}

/// `qtsp ca revoke --serial HEX --reason REASON [--invalidity-date RFC3339]`: revokes a
/// certificate of one of our CAs, journals it (in the same transaction), signs an audit
/// checkpoint over it and prints the revocation.
pub async fn ca_revoke(config: Config, args: &RevokeArgs) -> Result<(), AppError> {
    // Refuse a bad request before touching the HSM or the database.
    let serial = crate::ca::parse_serial(&args.serial)?;
    let reason = crate::ca::parse_reason(&args.reason)?;
    let invalidity_date = args
        .invalidity_date
        .as_deref()
        .map(crate::ca::parse_invalidity_date)
        .transpose()?;
    let app = App::build(config).await?;
    let result = async {
        let journal = open_journal(&app.config, &app.hsm, &app.storage, &app.clock).await?;
        let service = app.revocation_service(&journal)?;
        let actor = format!("operator:cli@{}", app.config.node_id);
        let record = service
            .revoke(&serial, reason, invalidity_date, &actor)
            .await?;
        // The revocation is committed with its audit record; a checkpoint makes it signed now
        // rather than at the next server checkpoint.
        if let Err(error) = journal.checkpoint_now().await {
            tracing::warn!(%error, "revocation recorded; the audit checkpoint will be signed later");
        }
        Ok::<_, AppError>(record)
    }
    .await;
    app.hsm.shutdown().await;
    app.storage.close().await;
    let record = result?;
    #[allow(clippy::print_stdout)]
    {
        println!("revoked    {}", record.serial);
        println!("issuer     {}", record.issuer);
        println!("reason     {} ({})", record.reason, record.reason.code());
        println!(
            "time       {}",
            record
                .revoked_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        if let Some(date) = record.invalidity_date {
            println!(
                "invalid    since {}",
                date.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            );
        }
        println!("record     revocation #{}", record.id);
    }
    Ok(())
}
