//! `portcullis signing-keys`: the gateway's signing key set (the `PORTCULLIS_SIGNING_KEYS`
//! secret), generated and rotated offline by the runbook of docs/sessions.md:
//!
//! 1. `rotate --current FILE` adds a new key beside the active one (published, not signing);
//! 2. `activate --current FILE --kid NEW`, after the longest JWKS cache TTL, makes it sign;
//! 3. `retire --current FILE --kid OLD`, after the longest access-token TTL, removes the old one.
//!
//! Each prints the new secret document — to stdout, alone, so it can be piped into `wrangler
//! secret put`, or into `--out FILE` (created 0600) — and, on stderr, what changed and the
//! `wrangler secret put PORTCULLIS_SIGNING_KEYS` command. A private key is printed nowhere else.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use portcullis::signing::{native, SigningAlg, SigningKeySet, SIGNING_KEYS_SECRET};

use crate::CliError;

#[derive(Subcommand)]
pub enum SigningKeysCommand {
    /// A new key set of one key, which signs (the first deployment).
    Generate(GenerateArgs),
    /// Runbook step 1: add a new key to the set; the active key keeps signing.
    Rotate(RotateArgs),
    /// Runbook step 2: make a key of the set the one that signs.
    Activate(KidArgs),
    /// Runbook step 3: remove a key that no longer signs.
    Retire(KidArgs),
}

#[derive(Args)]
pub struct NewKeyArgs {
    /// The new key's algorithm.
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "EdDSA", "RS256"])]
    alg: String,
    /// The new key's kid (default: its RFC 7638 thumbprint).
    #[arg(long)]
    kid: Option<String>,
}

#[derive(Args)]
pub struct OutArgs {
    /// Write the secret document to this file (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    key: NewKeyArgs,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
pub struct RotateArgs {
    /// The current secret document (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    current: PathBuf,
    #[command(flatten)]
    key: NewKeyArgs,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
pub struct KidArgs {
    /// The current secret document (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    current: PathBuf,
    /// The key to activate or retire.
    #[arg(long)]
    kid: String,
    #[command(flatten)]
    out: OutArgs,
}

pub fn run(command: SigningKeysCommand, json_out: bool) -> Result<(), CliError> {
    let (set, out, summary) = match command {
        SigningKeysCommand::Generate(a) => {
            let key = new_key(&a.key)?;
            let summary = format!(
                "generated kid {} ({}), the active key of a new set",
                key.kid(),
                key.alg().as_str()
            );
            (SigningKeySet::single(key), a.out, summary)
        }
        SigningKeysCommand::Rotate(a) => {
            let mut set = read_current(&a.current)?;
            let key = new_key(&a.key)?;
            let summary = format!(
                "added kid {} ({}); kid {} still signs.\nStep 1 of 3: deploy this secret, then wait at least the longest JWKS cache TTL of any verifier (the gateway publishes max-age=300) before `portcullis signing-keys activate --kid {}`.",
                key.kid(),
                key.alg().as_str(),
                set.active().kid(),
                key.kid()
            );
            set.push(key).map_err(CliError::Usage)?;
            (set, a.out, summary)
        }
        SigningKeysCommand::Activate(a) => {
            let mut set = read_current(&a.current)?;
            let previous = set.active().kid().to_string();
            set.set_active(&a.kid).map_err(CliError::Usage)?;
            let summary = if previous == a.kid {
                format!("kid {} already signs; the set is unchanged", a.kid)
            } else {
                format!(
                    "kid {} now signs; kid {previous} stays published.\nStep 2 of 3: deploy this secret, then wait at least the longest access-token TTL (sessions.access_token_ttl_seconds, at most 3600 s) plus leeway before `portcullis signing-keys retire --kid {previous}`.",
                    a.kid
                )
            };
            (set, a.out, summary)
        }
        SigningKeysCommand::Retire(a) => {
            let mut set = read_current(&a.current)?;
            set.remove(&a.kid).map_err(CliError::Usage)?;
            let summary = format!(
                "removed kid {}; kid {} signs.\nStep 3 of 3: deploy this secret; tokens signed by {} are refused from then on.",
                a.kid,
                set.active().kid(),
                a.kid
            );
            (set, a.out, summary)
        }
    };
    emit(&set, out.out.as_deref(), &summary, json_out)
}

fn new_key(a: &NewKeyArgs) -> Result<portcullis::signing::SigningKey, CliError> {
    // The value parser admits only the three names.
    let alg = SigningAlg::parse(&a.alg)
        .ok_or_else(|| CliError::Usage(format!("--alg {} is not ES256, EdDSA or RS256", a.alg)))?;
    let key = native::generate(alg, a.kid.clone()).map_err(CliError::Api)?;
    // The same rules as a document read back (a --kid with a space, say).
    SigningKeySet::parse(&SigningKeySet::single(key.clone()).to_document())
        .map_err(|errors| CliError::Usage(describe(&errors)))?;
    Ok(key)
}

fn describe(errors: &[portcullis::signing::KeySetError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The current document: valid, and every private key matching its public key. Errors name the
/// member, never its value.
fn read_current(path: &Path) -> Result<SigningKeySet, CliError> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| CliError::Usage(format!("cannot read --current {}: {e}", path.display())))?;
    let set = SigningKeySet::parse(text.trim())
        .map_err(|errors| CliError::Usage(format!("--current: {}", describe(&errors))))?;
    native::check_set(&set)
        .map_err(|errors| CliError::Usage(format!("--current: {}", describe(&errors))))?;
    Ok(set)
}

/// The document to stdout (alone) or to `out`; the summary and the wrangler command to stderr.
fn emit(
    set: &SigningKeySet,
    out: Option<&Path>,
    summary: &str,
    json_out: bool,
) -> Result<(), CliError> {
    let document = set.to_document();
    let wrangler = match out {
        Some(path) => {
            write_private(path, &document)?;
            format!(
                "npx wrangler secret put {SIGNING_KEYS_SECRET} < {}",
                path.display()
            )
        }
        None => {
            let mut stdout = std::io::stdout();
            // A closed pipe is the reader's choice; nothing to report.
            let _ = writeln!(stdout, "{document}");
            format!("<this output> | npx wrangler secret put {SIGNING_KEYS_SECRET}")
        }
    };
    let kids: Vec<&str> = set.keys().iter().map(|k| k.kid()).collect();
    let mut stderr = std::io::stderr();
    if json_out {
        let _ = writeln!(
            stderr,
            "{}",
            json!({
                "summary": summary,
                "active": set.active().kid(),
                "kids": kids,
                "out": out.map(|p| p.display().to_string()),
                "wrangler": wrangler,
            })
        );
    } else {
        let _ = writeln!(
            stderr,
            "{summary}\nkeys: {} (active: {})\nload it with:\n  {wrangler}",
            kids.join(", "),
            set.active().kid()
        );
    }
    Ok(())
}

/// Writes `text` to `path` readable by its owner only: a new file created 0600 beside it, then
/// renamed over `path`, so no moment exists where the key is in a file others could read.
fn write_private(path: &Path, text: &str) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::Usage(format!("cannot write --out {}: {e}", path.display()));
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random)
        .map_err(|e| CliError::Api(format!("the system CSPRNG failed: {e}")))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signing-keys".into());
    let tmp = path.with_file_name(format!(
        ".{file_name}.{}.tmp",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    if let Err(e) = result.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}
