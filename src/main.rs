//! The `qtsp` command line: parse arguments, load the configuration, run the sub-command.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use qtsp::{app, bench, config};

/// qtsp: a qualified trust service provider server (remote signing, time-stamping, OCSP).
#[derive(Debug, Parser)]
#[command(name = "qtsp", version, about)]
struct Cli {
    /// Configuration file (TOML, `version = 1`). Default: ./qtsp.toml when present.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory, the embedded SoftHSM2 token, keys and database (idempotent).
    Init,
    /// Run the public and API listeners until SIGTERM or SIGINT.
    Serve,
    /// HSM operations.
    Hsm {
        #[command(subcommand)]
        command: HsmCommand,
    },
    /// The time-stamping authority.
    Tsa {
        #[command(subcommand)]
        command: TsaCommand,
    },
    /// The certificate authorities.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// The tamper-evident audit journal.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Benchmarks (see docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum HsmCommand {
    /// Log in to the token and show what answers.
    Check,
}

#[derive(Debug, Subcommand)]
enum TsaCommand {
    /// Sign a test token with the TSU key, check it, and tell whether the clock allows stamping.
    Check,
    /// Show an issued token's record and its batch's journal entry, its rows checked against it.
    Show {
        /// The token's serial number, lowercase hex (as in the database and the logs).
        #[arg(long, value_name = "HEX")]
        serial: String,
    },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Revoke a certificate issued by one of our CAs (final: no hold, no removal).
    Revoke {
        /// Serial number in hex (any case; `0x` and `:` separators accepted).
        #[arg(long, value_name = "HEX")]
        serial: String,
        /// RFC 5280 CRLReason name, case-insensitive: unspecified, keyCompromise, cACompromise,
        /// affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn,
        /// aACompromise. certificateHold and removeFromCRL are refused.
        #[arg(long, value_name = "REASON")]
        reason: String,
        /// When the key is known or suspected to have been compromised (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        invalidity_date: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check every checkpoint signature; names the first broken record.
    /// Also recompute each time-stamp batch's digest from its rows (the database's, or the bundle's).
    Verify {
        /// Verify an exported bundle offline instead of the database.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// Write a self-contained bundle (records, checkpoints, time-stamp rows, keys, VERIFY.md) for an auditor.
    Export {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// PKCS#11 sign rate through qtsp's session pool beside plain cryptoki loops.
    Hsm(bench::HsmBenchArgs),
    /// Qualified certificate issuance rate beside the raw HSM P-384 sign rate.
    Issue(bench::IssueBenchArgs),
    /// RFC 3161 tokens per second through the server, beside the raw HSM rate of the TSU key.
    Tsa(bench::TsaBenchArgs),
    /// OCSP responses per second through the server, beside the raw HSM rate of the responder key.
    Ocsp(bench::OcspBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("qtsp: {error}");
            return ExitCode::from(2);
        }
    };
    // The embedded SoftHSM2 reads its configuration path from SOFTHSM2_CONF when the module loads;
    // setting it in-process would need `unsafe`, so the process re-executes itself with it set.
    if let Some(conf) = config::softhsm_conf_to_export(&config) {
        let error = app::reexec_with_softhsm_conf(&conf);
        eprintln!(
            "qtsp: cannot re-execute with SOFTHSM2_CONF={}: {error}",
            conf.display()
        );
        return ExitCode::from(1);
    }
    app::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("qtsp")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("qtsp: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Init => app::init(&config).await.map(|report| report.print()),
            Command::Serve => app::serve(config).await,
            Command::Hsm {
                command: HsmCommand::Check,
            } => app::hsm_check(&config).await,
            Command::Tsa {
                command: TsaCommand::Check,
            } => app::tsa_check(config).await,
            Command::Tsa {
                command: TsaCommand::Show { serial },
            } => app::tsa_show(&config, &serial).await,
            Command::Ca {
                command:
                    CaCommand::Revoke {
                        serial,
                        reason,
                        invalidity_date,
                    },
            } => {
                app::ca_revoke(
                    config,
                    &app::RevokeArgs {
                        serial,
                        reason,
                        invalidity_date,
                    },
                )
                .await
            }
            Command::Audit {
                command: AuditCommand::Verify { bundle },
            } => app::audit_verify(&config, bundle.as_deref()).await,
            Command::Audit {
                command: AuditCommand::Export { out },
            } => app::audit_export(&config, &out).await,
            Command::Bench {
                command: BenchCommand::Hsm(args),
            } => bench::hsm(&config, &args).await,
            Command::Bench {
                command: BenchCommand::Issue(args),
            } => bench::issue(&config, &args).await,
            Command::Bench {
                command: BenchCommand::Tsa(args),
            } => bench::tsa(&config, &args).await,
            Command::Bench {
                command: BenchCommand::Ocsp(args),
            } => bench::ocsp(&config, &args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "qtsp failed");
            eprintln!("qtsp: {error}");
            ExitCode::from(1)
        }
    }
}
