//! `portcullis`: administer a Portcullis gateway's API keys from a terminal or a script, and check
//! access tokens offline.
//!
//! Online commands (`keys create|list|show|update|rotate|revoke`, `certs register|show|revoke`)
//! call the gateway's admin API; offline commands (`keys hash`, `keys seed`, `token verify`,
//! `explain`, `signing-keys …`, `certs fingerprint`) need no gateway.
//! Exit codes: 0 ok, 1 the gateway refused or failed, 2 bad input, 3 gateway unreachable,
//! 4 admin credential refused (401/403), 5 no such key, 6 token (or, for `explain`, request)
//! refused.

mod certs;
mod client;
mod explain;
mod signing_keys;
mod time;
mod token;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use portcullis::api_key::format::{
    generate_key, is_valid_key_id, is_valid_prefix, key_hash, key_id_from_random, prefix_of,
    KEY_RANDOM_BYTES,
};
use portcullis::api_key::{kv_entries, ApiKeyRecord};

use client::{AdminClient, Credential};

/// `println!` that survives a closed pipe (`portcullis keys list | head`): output errors are
/// ignored instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Administer Portcullis API keys",
    long_about = "Administer the API keys of a Portcullis gateway.\n\n\
        Online commands talk to the gateway's admin API (set PORTCULLIS_GATEWAY and \
        PORTCULLIS_ADMIN_KEY or PORTCULLIS_ADMIN_TOKEN). `keys hash` and `keys seed` work offline, \
        for bootstrapping KV with `wrangler kv`.\n\n\
        `token verify` checks an access token offline with the gateway's own checks; `explain` \
        runs a whole request through the gateway's checks offline.\n\n\
        `signing-keys generate|rotate|activate|retire` writes the gateway's signing key set \
        (the PORTCULLIS_SIGNING_KEYS secret) offline, step by step through the rotation runbook.\n\n\
        `certs` registers the TLS client certificates of mtls routes (the fingerprint is computed \
        from the PEM locally).\n\n\
        Exit codes: 0 ok, 1 gateway refused or failed, 2 bad input, 3 gateway unreachable, \
        4 admin credential refused, 5 no such key, 6 token refused."
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check access tokens offline.
    #[command(subcommand)]
    Token(TokenCommand),
    /// How the gateway would answer a request, check by check, offline (route, credential,
    /// scopes, claim conditions) with the error code of the first check that fails.
    Explain(explain::ExplainArgs),
    /// Generate and rotate the gateway's signing keys (the PORTCULLIS_SIGNING_KEYS secret), offline.
    #[command(subcommand)]
    SigningKeys(signing_keys::SigningKeysCommand),
    /// Manage the client certificates of mtls routes.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Verify a token against a JWKS file with the gateway's checks (signature, alg, kid, claims).
    Verify(token::VerifyArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its plaintext is printed once and cannot be shown again.
    Create(CreateArgs),
    /// List keys (never their secrets).
    List(ListArgs),
    /// Show one key's record.
    Show(ShowArgs),
    /// Change a key's name, scopes, expiry, rate-limit policy or metadata.
    Update(UpdateArgs),
    /// Issue a successor key; the old one keeps working until the grace period ends.
    Rotate(RotateArgs),
    /// Revoke a key now (enforced everywhere within the gateway's documented bound).
    Revoke(RevokeArgs),
    /// Print the SHA-256 that KV stores for a key (offline). Reads the key from stdin by default.
    Hash(HashArgs),
    /// Generate a key offline and print it once, with the exact KV entries to load with
    /// `wrangler kv bulk put` (bootstrapping the first admin key, demos).
    Seed(SeedArgs),
}

#[derive(Args)]
pub(crate) struct GatewayArgs {
    /// Gateway base URL (https://, or http:// for localhost).
    #[arg(long, env = "PORTCULLIS_GATEWAY", value_name = "URL")]
    gateway: String,
    /// Path the admin API is mounted at.
    #[arg(
        long,
        env = "PORTCULLIS_ADMIN_PREFIX",
        default_value = "/admin",
        value_name = "PATH"
    )]
    admin_prefix: String,
    /// Admin API key (prefer the environment variable: arguments end up in shell history).
    #[arg(
        long,
        env = "PORTCULLIS_ADMIN_KEY",
        hide_env_values = true,
        value_name = "KEY",
        conflicts_with = "admin_token"
    )]
    admin_key: Option<String>,
    /// Admin JWT access token, sent as a Bearer token.
    #[arg(
        long,
        env = "PORTCULLIS_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "JWT"
    )]
    admin_token: Option<String>,
    /// Request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    timeout: u64,
    /// Allow plain http:// to a host other than localhost (exposes the admin credential).
    #[arg(long)]
    allow_http: bool,
}

#[derive(Args)]
struct ExpiryArgs {
    /// Absolute expiry: Unix seconds, 2026-01-31 or 2026-01-31T12:00:00Z.
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME", conflicts_with_all = ["ttl", "no_expiry"])]
    expires_at: Option<u64>,
    /// Relative expiry: 90s, 15m, 24h, 30d, 1w.
    #[arg(long, value_parser = parse_duration_arg, value_name = "DURATION", conflicts_with = "no_expiry")]
    ttl: Option<u64>,
    /// No expiry.
    #[arg(long)]
    no_expiry: bool,
}

#[derive(Args)]
struct CreateArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The client that owns the key (sent to the origin as x-client-id).
    #[arg(long)]
    client_id: String,
    /// A label for humans (default: the client id).
    #[arg(long)]
    name: Option<String>,
    /// Comma-separated scopes, e.g. invoices:read,invoices:write.
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    #[command(flatten)]
    expiry: ExpiryArgs,
    /// Name of the rate-limit policy applied to this key.
    #[arg(long)]
    rate_limit_policy: Option<String>,
    /// Metadata entry KEY=VALUE (repeatable).
    #[arg(long = "meta", value_parser = parse_meta, value_name = "KEY=VALUE")]
    metadata: Vec<(String, String)>,
    /// Idempotency-Key: run the command again with the same value (within 24h) to get the same
    /// key instead of a second one (16-255 printable characters; a random UUID is good).
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Only keys of this client.
    #[arg(long)]
    client_id: Option<String>,
    /// Keys per page (1-100).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// Continue from a previous page's cursor.
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Follow cursors and list every key.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct ShowArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The key's public id (key_…).
    key_id: String,
}

#[derive(Args)]
struct UpdateArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    key_id: String,
    #[arg(long)]
    name: Option<String>,
    /// Replace the scopes (comma-separated; "" for none).
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[arg(long, conflicts_with = "no_rate_limit_policy")]
    rate_limit_policy: Option<String>,
    /// Remove the rate-limit policy.
    #[arg(long)]
    no_rate_limit_policy: bool,
    /// Replace the metadata with these entries (repeatable KEY=VALUE).
    #[arg(long = "meta", value_parser = parse_meta, value_name = "KEY=VALUE",
          conflicts_with = "clear_meta")]
    metadata: Vec<(String, String)>,
    /// Remove all metadata.
    #[arg(long)]
    clear_meta: bool,
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    key_id: String,
    /// How long the old key keeps working (default: the gateway's, normally 24h).
    #[arg(long, value_parser = parse_duration_arg, value_name = "DURATION")]
    grace: Option<u64>,
    /// The successor's expiry (default: the old key's lifetime again, from now).
    #[command(flatten)]
    expiry: ExpiryArgs,
    /// Idempotency-Key: run the command again with the same value (within 24h) to get the same
    /// successor instead of a 409 (16-255 printable characters; a random UUID is good).
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Args)]
struct RevokeArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    key_id: String,
    /// Why (kept in the record and the audit log).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args)]
struct HashArgs {
    /// The key, or - (default) to read it from stdin and keep it out of shell history.
    #[arg(default_value = "-")]
    key: String,
}

#[derive(Args)]
struct SeedArgs {
    /// Key prefix (must be in the gateway's api_keys.accepted_prefixes).
    #[arg(long, default_value = "pc_test")]
    prefix: String,
    #[arg(long)]
    client_id: String,
    /// Comma-separated scopes, e.g. portcullis:admin.
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// A label for humans (default: the client id).
    #[arg(long)]
    name: Option<String>,
    /// A fixed key id (key_ + 16 base62 characters); random by default.
    #[arg(long)]
    key_id: Option<String>,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[arg(long)]
    rate_limit_policy: Option<String>,
    #[arg(long = "meta", value_parser = parse_meta, value_name = "KEY=VALUE")]
    metadata: Vec<(String, String)>,
    /// Also write the entries as a `wrangler kv bulk put` file here.
    #[arg(long, value_name = "PATH")]
    bulk_file: Option<std::path::PathBuf>,
    /// KV binding name used in the printed wrangler command.
    #[arg(long, default_value = "PORTCULLIS_KV")]
    binding: String,
}

/// Everything that can go wrong, each with its exit code.
#[derive(Debug)]
pub enum CliError {
    /// The token was refused: `<code>: <detail>` (exit 6).
    Refused(String),
    Usage(String),
    Unreachable(String),
    Auth(String),
    NotFound(String),
    Api(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Api(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Auth(_) => 4,
            CliError::NotFound(_) => 5,
            CliError::Refused(_) => 6,
        }
    }

    fn message(&self) -> &str {
        match self {
            CliError::Usage(m)
            | CliError::Refused(m)
            | CliError::Unreachable(m)
            | CliError::Auth(m)
            | CliError::NotFound(m)
            | CliError::Api(m) => m,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let json_out = cli.json;
    let command = match cli.command {
        Command::Keys(command) => command,
        Command::Explain(a) => {
            let (explanation, refused) = explain::run(a)?;
            if json_out {
                outln!("{explanation}");
            } else {
                outln!("{}", explain::text(&explanation));
            }
            if refused {
                let v = &explanation["verdict"];
                return Err(CliError::Refused(format!(
                    "the gateway would answer {} {}",
                    v["status"],
                    v["code"].as_str().unwrap_or("")
                )));
            }
            return Ok(());
        }
        Command::SigningKeys(command) => return signing_keys::run(command, json_out),
        Command::Certs(command) => return certs::run(command, json_out),
        Command::Token(TokenCommand::Verify(a)) => {
            let claims = token::verify(a)?;
            if json_out {
                outln!("{claims}");
            } else {
                outln!(
                    "valid: {} token of {} for {}, signed by kid {}, scopes [{}]",
                    claims["alg"].as_str().unwrap_or(""),
                    claims["sub"].as_str().unwrap_or(""),
                    claims["iss"].as_str().unwrap_or(""),
                    claims["kid"].as_str().unwrap_or("-"),
                    spaced(&claims["scopes"])
                );
            }
            return Ok(());
        }
    };
    match command {
        KeysCommand::Create(a) => {
            let client = connect(&a.gateway)?;
            let mut body = json!({ "client_id": a.client_id, "scopes": clean_scopes(a.scopes) });
            if let Some(name) = a.name {
                body["name"] = json!(name);
            }
            apply_expiry(&mut body, &a.expiry, false);
            if let Some(p) = a.rate_limit_policy {
                body["rate_limit_policy"] = json!(p);
            }
            if !a.metadata.is_empty() {
                body["metadata"] = json!(a.metadata.into_iter().collect::<BTreeMap<_, _>>());
            }
            let reply = client.with_idempotency_key(a.idempotency_key).call(
                "POST",
                "/keys",
                &[],
                Some(&body),
            )?;
            print_issued(&reply, json_out, "Created");
        }
        KeysCommand::List(a) => {
            let client = connect(&a.gateway)?;
            let mut cursor = a.cursor;
            let mut all = Vec::new();
            let mut next_cursor;
            loop {
                let mut query = vec![("limit", a.limit.to_string())];
                if let Some(c) = &cursor {
                    query.push(("cursor", c.clone()));
                }
                if let Some(c) = &a.client_id {
                    query.push(("client_id", c.clone()));
                }
                let page = client.call("GET", "/keys", &query, None)?;
                all.extend(page["keys"].as_array().cloned().unwrap_or_default());
                next_cursor = page["cursor"].as_str().map(str::to_string);
                if !a.all || next_cursor.is_none() {
                    break;
                }
                cursor = next_cursor.clone();
            }
            if json_out {
                print_json(&json!({ "keys": all, "cursor": next_cursor }));
            } else {
                print_table(&all);
                if let Some(c) = next_cursor {
                    outln!("\nmore keys: --cursor '{c}' (or --all)");
                }
            }
        }
        KeysCommand::Show(a) => {
            check_key_id(&a.key_id)?;
            let client = connect(&a.gateway)?;
            let record = client.call("GET", &format!("/keys/{}", a.key_id), &[], None)?;
            print_record_or_json(&record, json_out);
        }
        KeysCommand::Update(a) => {
            check_key_id(&a.key_id)?;
            let mut body = json!({});
            if let Some(name) = a.name {
                body["name"] = json!(name);
            }
            if let Some(scopes) = a.scopes {
                body["scopes"] = json!(clean_scopes(scopes));
            }
            apply_expiry(&mut body, &a.expiry, true);
            if let Some(p) = a.rate_limit_policy {
                body["rate_limit_policy"] = json!(p);
            }
            if a.no_rate_limit_policy {
                body["rate_limit_policy"] = Value::Null;
            }
            if !a.metadata.is_empty() {
                body["metadata"] = json!(a.metadata.into_iter().collect::<BTreeMap<_, _>>());
            }
            if a.clear_meta {
                body["metadata"] = json!({});
            }
            if body.as_object().is_some_and(|o| o.is_empty()) {
                return Err(CliError::Usage(
                    "nothing to change: give --name, --scopes, --expires-at/--ttl/--no-expiry, \
                     --rate-limit-policy/--no-rate-limit-policy or --meta/--clear-meta"
                        .into(),
                ));
            }
            let client = connect(&a.gateway)?;
            let record = client.call("PATCH", &format!("/keys/{}", a.key_id), &[], Some(&body))?;
            print_record_or_json(&record, json_out);
        }
        KeysCommand::Rotate(a) => {
            check_key_id(&a.key_id)?;
            let mut body = json!({});
            if let Some(g) = a.grace {
                body["grace_secs"] = json!(g);
            }
            apply_expiry(&mut body, &a.expiry, true);
            let client = connect(&a.gateway)?.with_idempotency_key(a.idempotency_key);
            let reply = client.call(
                "POST",
                &format!("/keys/{}/rotate", a.key_id),
                &[],
                Some(&body),
            )?;
            print_issued(&reply, json_out, "Rotated");
        }
        KeysCommand::Revoke(a) => {
            check_key_id(&a.key_id)?;
            let mut body = json!({});
            if let Some(r) = a.reason {
                body["reason"] = json!(r);
            }
            let client = connect(&a.gateway)?;
            let record = client.call(
                "POST",
                &format!("/keys/{}/revoke", a.key_id),
                &[],
                Some(&body),
            )?;
            if json_out {
                print_json(&record);
            } else {
                outln!("Revoked {}.", record["key_id"].as_str().unwrap_or("?"));
                print_record(&record);
            }
        }
        KeysCommand::Hash(a) => {
            let key = if a.key == "-" {
                read_key_from_stdin()?
            } else {
                eprintln!("note: a key given as an argument stays in your shell history; pipe it to `portcullis keys hash` instead");
                a.key
            };
            let prefix = prefix_of(&key).ok_or_else(|| {
                CliError::Usage(
                    "that is not a well-formed Portcullis API key (prefix, length, alphabet or checksum is wrong)"
                        .into(),
                )
            })?;
            let hash = key_hash(&key);
            if json_out {
                print_json(&json!({
                    "hash": hash,
                    "prefix": prefix,
                    "kv_key": portcullis::api_key::hash_kv_key(&hash),
                }));
            } else {
                outln!("{hash}");
            }
        }
        KeysCommand::Seed(a) => seed(a, json_out)?,
    }
    Ok(())
}

fn seed(a: SeedArgs, json_out: bool) -> Result<(), CliError> {
    if !is_valid_prefix(&a.prefix) {
        return Err(CliError::Usage(format!(
            "--prefix \"{}\" must match ^[a-z][a-z0-9]{{0,15}}(_[a-z0-9]{{1,16}})?$",
            a.prefix
        )));
    }
    let now = now_secs();
    let key_id = match a.key_id {
        Some(id) => {
            check_key_id(&id)?;
            id
        }
        None => random_key_id()?,
    };
    let expires_at = match (&a.expiry.expires_at, &a.expiry.ttl) {
        (Some(at), _) => Some(*at),
        (None, Some(ttl)) => Some(now + ttl),
        (None, None) => None,
    };
    if expires_at.is_some_and(|e| e <= now) {
        return Err(CliError::Usage("--expires-at must be in the future".into()));
    }
    let mut random = [0u8; KEY_RANDOM_BYTES];
    getrandom::getrandom(&mut random)
        .map_err(|e| CliError::Api(format!("the system CSPRNG failed: {e}")))?;
    let key = generate_key(&a.prefix, &random);
    let record = ApiKeyRecord {
        key_id,
        name: a.name.unwrap_or_else(|| a.client_id.clone()),
        client_id: a.client_id,
        prefix: a.prefix,
        scopes: clean_scopes(a.scopes),
        created_at: now,
        updated_at: None,
        expires_at,
        revoked_at: None,
        revoked_reason: None,
        rate_limit_policy: a.rate_limit_policy,
        metadata: a.metadata.into_iter().collect(),
        rotated_from: None,
        rotated_to: None,
    };
    record
        .validate()
        .map_err(|(field, why)| CliError::Usage(format!("{field}: {why}")))?;
    let hash = key_hash(&key);
    let entries: Vec<Value> = kv_entries(&hash, &record, now)
        .into_iter()
        .map(|(k, v, ttl)| {
            let mut e = json!({ "key": k, "value": v });
            if let Some(ttl) = ttl {
                e["expiration_ttl"] = json!(ttl);
            }
            e
        })
        .collect();
    if let Some(path) = &a.bulk_file {
        let text = serde_json::to_string_pretty(&entries).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| {
            CliError::Usage(format!("cannot write --bulk-file {}: {e}", path.display()))
        })?;
    }
    let bulk = a
        .bulk_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "FILE.json".into());
    let command = format!(
        "npx wrangler kv bulk put {bulk} --binding {} --local   # or --remote",
        a.binding
    );
    if json_out {
        print_json(&json!({
            "key": key,
            "key_id": record.key_id,
            "hash": hash,
            "record": record,
            "kv": entries,
            "bulk_file": a.bulk_file.as_ref().map(|p| p.display().to_string()),
            "wrangler": command,
        }));
    } else {
        outln!("API key (shown once, store it now):\n\n  {key}\n");
        outln!("key id:    {}", record.key_id);
        outln!("client id: {}", record.client_id);
        outln!("scopes:    {}", record.scopes.join(" "));
        outln!("sha-256:   {hash}\n");
        outln!("KV entries (binding {}):", a.binding);
        for e in &entries {
            let ttl = e["expiration_ttl"]
                .as_u64()
                .map(|t| format!("  (expiration_ttl {t})"))
                .unwrap_or_default();
            outln!(
                "  {} = {}{ttl}",
                e["key"].as_str().unwrap_or(""),
                e["value"].as_str().unwrap_or("")
            );
        }
        match &a.bulk_file {
            Some(p) => outln!("\nWrote {}. Load it with:\n  {command}", p.display()),
            None => outln!("\nPass --bulk-file PATH to write them for:\n  {command}"),
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ helpers

pub(crate) fn connect(g: &GatewayArgs) -> Result<AdminClient, CliError> {
    let credential = match (&g.admin_key, &g.admin_token) {
        (Some(k), None) => {
            let k = k.trim();
            if prefix_of(k).is_none() {
                return Err(CliError::Usage(
                    "the admin key is not a well-formed Portcullis API key (check for a typo or truncation)"
                        .into(),
                ));
            }
            Credential::ApiKey(k.to_string())
        }
        (None, Some(t)) => {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(CliError::Usage("the admin token is empty or not a JWT".into()));
            }
            Credential::Bearer(t.to_string())
        }
        (None, None) => {
            return Err(CliError::Usage(
                "no admin credential: set PORTCULLIS_ADMIN_KEY (or PORTCULLIS_ADMIN_TOKEN), or pass --admin-key / --admin-token"
                    .into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "give an admin key or an admin token, not both".into(),
            ))
        }
    };
    AdminClient::new(
        &g.gateway,
        &g.admin_prefix,
        credential,
        Duration::from_secs(g.timeout.max(1)),
        g.allow_http,
    )
}

fn check_key_id(id: &str) -> Result<(), CliError> {
    if is_valid_key_id(id) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "\"{}\" is not a key id: key ids look like key_ followed by 16 base62 characters",
            id.chars().take(40).collect::<String>()
        )))
    }
}

fn clean_scopes(scopes: Vec<String>) -> Vec<String> {
    scopes
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn apply_expiry(body: &mut Value, e: &ExpiryArgs, null_clears: bool) {
    if let Some(at) = e.expires_at {
        body["expires_at"] = json!(at);
    } else if let Some(ttl) = e.ttl {
        body["ttl_secs"] = json!(ttl);
    } else if e.no_expiry && null_clears {
        body["expires_at"] = Value::Null;
    }
}

fn read_key_from_stdin() -> Result<String, CliError> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
        let _ = std::io::stderr().flush();
    }
    let mut input = String::new();
    stdin
        .by_ref()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| CliError::Usage(format!("reading the key from stdin: {e}")))?;
    let key = input.trim();
    if key.is_empty() {
        return Err(CliError::Usage("no key on stdin".into()));
    }
    Ok(key.to_string())
}

fn random_key_id() -> Result<String, CliError> {
    for _ in 0..8 {
        let mut buf = [0u8; 32];
        getrandom::getrandom(&mut buf)
            .map_err(|e| CliError::Api(format!("the system CSPRNG failed: {e}")))?;
        if let Some(id) = key_id_from_random(&buf) {
            return Ok(id);
        }
    }
    Err(CliError::Api(
        "the system CSPRNG returned implausible output".into(),
    ))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn parse_duration_arg(s: &str) -> Result<u64, String> {
    time::parse_duration(s)
}

fn parse_time_arg(s: &str) -> Result<u64, String> {
    time::parse_time(s)
}

fn parse_meta(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("\"{s}\" has an empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

// ------------------------------------------------------------------ output

pub(crate) fn print_json(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_issued(reply: &Value, json_out: bool, verb: &str) {
    if json_out {
        print_json(reply);
        return;
    }
    let record = &reply["record"];
    outln!(
        "{verb} {}. API key (shown once, store it now):\n\n  {}\n",
        record["key_id"].as_str().unwrap_or("?"),
        reply["key"].as_str().unwrap_or("?")
    );
    print_record(record);
    if let Some(prev) = reply.get("previous") {
        outln!(
            "\nprevious key {} keeps working until {}",
            prev["key_id"].as_str().unwrap_or("?"),
            when(&prev["expires_at"])
        );
    }
}

fn print_record_or_json(record: &Value, json_out: bool) {
    if json_out {
        print_json(record);
    } else {
        print_record(record);
    }
}

fn when(v: &Value) -> String {
    match v.as_u64() {
        Some(t) => {
            let now = now_secs();
            let rel = if t > now {
                format!("in {}", time::format_duration(t - now))
            } else {
                format!("{} ago", time::format_duration(now - t))
            };
            format!("{} ({rel})", time::format_time(t))
        }
        None => "never".into(),
    }
}

/// A JSON array's strings, space-separated (scope lists in the CLI's one-line summaries); `""`
/// for anything else.
fn spaced(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn print_record(r: &Value) {
    let s = |name: &str| r[name].as_str().unwrap_or("-").to_string();
    let scopes = spaced(&r["scopes"]);
    outln!("key id       {}", s("key_id"));
    outln!("status       {}", s("status"));
    outln!("client id    {}", s("client_id"));
    outln!("name         {}", s("name"));
    outln!("prefix       {}", s("prefix"));
    outln!(
        "scopes       {}",
        if scopes.is_empty() { "-" } else { &scopes }
    );
    outln!("created      {}", when(&r["created_at"]));
    outln!("expires      {}", when(&r["expires_at"]));
    if !r["revoked_at"].is_null() {
        outln!("revoked      {}", when(&r["revoked_at"]));
        if let Some(reason) = r["revoked_reason"].as_str() {
            outln!("reason       {reason}");
        }
    }
    if let Some(p) = r["rate_limit_policy"].as_str() {
        outln!("rate limit   {p}");
    }
    if let Some(from) = r["rotated_from"].as_str() {
        outln!("rotated from {from}");
    }
    if let Some(to) = r["rotated_to"].as_str() {
        outln!("rotated to   {to}");
    }
    if let Some(meta) = r["metadata"].as_object().filter(|m| !m.is_empty()) {
        for (k, v) in meta {
            outln!("meta         {k}={}", v.as_str().unwrap_or(""));
        }
    }
}

fn print_table(records: &[Value]) {
    if records.is_empty() {
        outln!("no keys");
        return;
    }
    outln!(
        "{:<21} {:<8} {:<24} {:<20} NAME",
        "KEY ID",
        "STATUS",
        "CLIENT ID",
        "EXPIRES"
    );
    for r in records {
        let expires = r["expires_at"]
            .as_u64()
            .map(time::format_time)
            .unwrap_or_else(|| "never".into());
        outln!(
            "{:<21} {:<8} {:<24} {:<20} {}",
            r["key_id"].as_str().unwrap_or("?"),
            r["status"].as_str().unwrap_or("?"),
            r["client_id"].as_str().unwrap_or("?"),
            expires,
            r["name"].as_str().unwrap_or("")
        );
    }
}
