//! `portcullis certs …`: the client-certificate registry of `mtls` routes (docs/mtls.md). The
//! fingerprint is computed here from the PEM (SHA-256 of the DER certificate, as Cloudflare reports
//! `certFingerprintSHA256`), so the gateway is sent only the fingerprint, never the file.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use portcullis::mtls::{normalize_fingerprint, pem_fingerprint};

use crate::{connect, print_json, CliError, GatewayArgs};

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Register a client certificate: its fingerprint maps to a client id and scopes.
    Register(RegisterArgs),
    /// Show one registered certificate.
    Show(FingerprintArgs),
    /// Revoke a certificate (enforced everywhere within the revocation bound).
    Revoke(RevokeArgs),
    /// Print a PEM certificate's SHA-256 fingerprint (offline).
    Fingerprint(PemArgs),
}

#[derive(Args)]
pub struct PemArgs {
    /// The certificate, PEM (the first CERTIFICATE block is used).
    #[arg(long, value_name = "FILE")]
    pem: std::path::PathBuf,
}

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    pem: PemArgs,
    /// The client the certificate identifies (sent to the origin as x-client-id).
    #[arg(long)]
    client_id: String,
    /// A label for humans (default: the client id).
    #[arg(long)]
    name: Option<String>,
    /// Comma-separated scopes.
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// Name of the rate-limit policy applied to this certificate.
    #[arg(long)]
    rate_limit_policy: Option<String>,
}

#[derive(Args)]
pub struct FingerprintArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// SHA-256 fingerprint: 64 hex digits (colons allowed).
    fingerprint: String,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    fingerprint: String,
    /// Why (kept in the record and the audit log).
    #[arg(long)]
    reason: Option<String>,
}

fn fingerprint_of(args: &PemArgs) -> Result<String, CliError> {
    let pem = std::fs::read_to_string(&args.pem)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.pem.display())))?;
    pem_fingerprint(&pem).map_err(|e| CliError::Usage(format!("{}: {e}", args.pem.display())))
}

fn checked(fp: &str) -> Result<String, CliError> {
    normalize_fingerprint(fp).ok_or_else(|| {
        CliError::Usage("a fingerprint is 64 hex digits (SHA-256 of the DER certificate)".into())
    })
}

fn print(record: &Value, json_out: bool) {
    if json_out {
        print_json(record);
    } else {
        let _ = std::io::Write::write_all(
            &mut std::io::stdout(),
            format!(
                "{}  client {}  scopes [{}]{}\n",
                record["fingerprint"].as_str().unwrap_or(""),
                record["client_id"].as_str().unwrap_or(""),
                crate::spaced(&record["scopes"]),
                if record["revoked_at"].is_number() {
                    "  REVOKED"
                } else {
                    ""
                }
            )
            .as_bytes(),
        );
    }
}

pub fn run(command: CertsCommand, json_out: bool) -> Result<(), CliError> {
    match command {
        CertsCommand::Fingerprint(a) => {
            let fp = fingerprint_of(&a)?;
            if json_out {
                print_json(&json!({ "fingerprint": fp }));
            } else {
                let _ =
                    std::io::Write::write_all(&mut std::io::stdout(), format!("{fp}\n").as_bytes());
            }
        }
        CertsCommand::Register(a) => {
            let fingerprint = fingerprint_of(&a.pem)?;
            let client = connect(&a.gateway)?;
            let mut body = json!({
                "fingerprint": fingerprint,
                "client_id": a.client_id,
                "scopes": a.scopes.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            });
            if let Some(n) = a.name {
                body["name"] = json!(n);
            }
            if let Some(p) = a.rate_limit_policy {
                body["rate_limit_policy"] = json!(p);
            }
            print(&client.call("POST", "/certs", &[], Some(&body))?, json_out);
        }
        CertsCommand::Show(a) => {
            let fp = checked(&a.fingerprint)?;
            let client = connect(&a.gateway)?;
            print(
                &client.call("GET", &format!("/certs/{fp}"), &[], None)?,
                json_out,
            );
        }
        CertsCommand::Revoke(a) => {
            let fp = checked(&a.fingerprint)?;
            let client = connect(&a.gateway)?;
            let body = match a.reason {
                Some(r) => json!({ "reason": r }),
                None => json!({}),
            };
            print(
                &client.call("POST", &format!("/certs/{fp}/revoke"), &[], Some(&body))?,
                json_out,
            );
        }
    }
    Ok(())
}
