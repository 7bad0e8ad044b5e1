//! The `portcullis` binary, driven as a user drives it: offline commands on their own, online
//! commands against an admin API served on 127.0.0.1 by the gateway's own `admin::handle` and
//! `ApiKeyStore` over an in-memory KV (the workerd end-to-end tests drive the real worker).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use portcullis::admin::{self, AdminContext, AdminRequest};
use portcullis::api_key::{key_hash, ApiKeyCache, ApiKeyStore};
use portcullis::config::{parse_config, Config};
use portcullis::pipeline::authorize::authorize;
use portcullis::problem::{ErrorCode, Problem};
use portcullis::testing::{block_on, FakePlatform};

fn portcullis(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    c.args(args);
    for var in [
        "PORTCULLIS_GATEWAY",
        "PORTCULLIS_ADMIN_KEY",
        "PORTCULLIS_ADMIN_TOKEN",
        "PORTCULLIS_ADMIN_PREFIX",
    ] {
        c.env_remove(var);
    }
    c
}

fn run(args: &[&str]) -> Output {
    portcullis(args).output().expect("run portcullis")
}

fn run_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = portcullis(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn seed(args: &[&str]) -> Value {
    let mut all = vec!["keys", "seed", "--json"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)
}

// ------------------------------------------------------------------ offline commands

#[test]
fn help_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "show", "--help"],
        vec!["keys", "update", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "revoke", "--help"],
        vec!["keys", "hash", "--help"],
        vec!["keys", "seed", "--help"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).contains("Usage: portcullis"), "{args:?}");
    }
    let create = stdout(&run(&["keys", "create", "--help"]));
    for flag in [
        "--gateway",
        "--admin-key",
        "--client-id",
        "--scopes",
        "--ttl",
        "--expires-at",
    ] {
        assert!(create.contains(flag), "{flag}");
    }
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        vec!["keys"],
        vec!["keys", "frobnicate"],
        vec!["keys", "seed"],
        vec!["keys", "seed", "--client-id", "x", "--ttl", "soon"],
        vec![
            "keys",
            "seed",
            "--client-id",
            "x",
            "--ttl",
            "1h",
            "--expires-at",
            "2030-01-01",
        ],
        vec!["keys", "seed", "--client-id", "x", "--meta", "novalue"],
        vec![
            "keys",
            "list",
            "--gateway",
            "http://127.0.0.1:1",
            "--limit",
            "0",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn seed_prints_the_key_once_and_the_exact_kv_entries() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bulk = dir.join("kv.json");
    let out = seed(&[
        "--prefix",
        "pc_live",
        "--client-id",
        "ops",
        "--scopes",
        "portcullis:admin,keys:read",
        "--name",
        "bootstrap admin",
        "--key-id",
        "key_BootstrapAdmin01",
        "--ttl",
        "30d",
        "--meta",
        "owner=platform",
        "--bulk-file",
        bulk.to_str().unwrap(),
    ]);
    let key = out["key"].as_str().unwrap();
    assert!(key.starts_with("pc_live_"));
    assert_eq!(
        portcullis::api_key::parse_key(key, &["pc_live".to_string()]),
        Ok(())
    );
    let hash = key_hash(key);
    assert_eq!(out["hash"], hash);
    assert_eq!(out["key_id"], "key_BootstrapAdmin01");
    let record = &out["record"];
    assert_eq!(record["client_id"], "ops");
    assert_eq!(record["name"], "bootstrap admin");
    assert_eq!(
        record["scopes"],
        serde_json::json!(["portcullis:admin", "keys:read"])
    );
    assert_eq!(record["metadata"]["owner"], "platform");
    let created = record["created_at"].as_u64().unwrap();
    assert_eq!(record["expires_at"].as_u64(), Some(created + 30 * 86_400));
    // The bulk file is exactly the printed entries, in wrangler's format; no plaintext anywhere.
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&bulk).unwrap()).unwrap();
    assert_eq!(file, out["kv"]);
    let entries = file.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["key"], format!("apikey:hash:{hash}"));
    let stored: Value = serde_json::from_str(entries[0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(&stored, record);
    assert_eq!(entries[1]["key"], "apikey:id:key_BootstrapAdmin01");
    assert_eq!(entries[1]["value"], hash);
    assert_eq!(entries[0]["expiration_ttl"].as_u64(), Some(60 * 86_400));
    assert!(!std::fs::read_to_string(&bulk).unwrap().contains(key));
    assert!(out["wrangler"]
        .as_str()
        .unwrap()
        .contains("wrangler kv bulk put"));
    std::fs::remove_dir_all(&dir).unwrap();

    // Two seeds never share a key or an id.
    let (a, b) = (seed(&["--client-id", "x"]), seed(&["--client-id", "x"]));
    assert_ne!(a["key"], b["key"]);
    assert_ne!(a["key_id"], b["key_id"]);
    assert_eq!(
        a["kv"][0]["expiration_ttl"],
        Value::Null,
        "no expiry, no KV TTL"
    );
}

#[test]
fn seed_refuses_bad_input() {
    for (args, expected) in [
        (vec!["--client-id", "x", "--prefix", "PC"], "--prefix"),
        (
            vec!["--client-id", "x", "--key-id", "key_1"],
            "is not a key id",
        ),
        (vec!["--client-id", "a b"], "client_id"),
        (vec!["--client-id", "x", "--scopes", "a\"b"], "scopes"),
        (
            vec!["--client-id", "x", "--expires-at", "2001-01-01"],
            "future",
        ),
    ] {
        let mut all = vec!["keys", "seed"];
        all.extend_from_slice(&args);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "no key printed on error");
    }
}

#[test]
fn hash_reads_stdin_and_checks_the_format() {
    let key = seed(&["--client-id", "x"])["key"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run_stdin(&["keys", "hash"], &format!("{key}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), key_hash(&key));
    let o = run_stdin(&["keys", "hash", "-", "--json"], &key);
    assert_eq!(
        json(&o)["kv_key"],
        format!("apikey:hash:{}", key_hash(&key))
    );
    // As an argument it works, with a warning about shell history.
    let o = run(&["keys", "hash", &key]);
    assert_eq!(stdout(&o).trim(), key_hash(&key));
    assert!(stderr(&o).contains("shell history"));
    // A typo is caught by the checksum; the key is not echoed back.
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [typo.as_str(), "", "hello", &"x".repeat(10_000)] {
        let o = run_stdin(&["keys", "hash"], bad);
        assert_eq!(o.status.code(), Some(2), "{bad:.20}");
        assert!(o.stdout.is_empty());
        if !bad.is_empty() {
            assert!(!stderr(&o).contains(bad));
        }
    }
}

#[test]
fn unreachable_gateway_and_unsafe_urls() {
    let admin = seed(&["--client-id", "ops"])["key"]
        .as_str()
        .unwrap()
        .to_string();
    // Nothing listens on a port we just closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = format!("http://127.0.0.1:{port}");
    let o = portcullis(&["keys", "list", "--gateway", &gw])
        .env("PORTCULLIS_ADMIN_KEY", &admin)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot reach the gateway"));
    assert!(
        !stderr(&o).contains(&admin),
        "the credential is never echoed"
    );
    for (gateway, expected) in [
        ("http://gateway.example", "plain http"),
        ("https://ops:pw@gateway.example", "credentials"),
        ("gateway.example", "must be a URL"),
    ] {
        let o = portcullis(&["keys", "list", "--gateway", gateway])
            .env("PORTCULLIS_ADMIN_KEY", &admin)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{gateway}");
        assert!(stderr(&o).contains(expected), "{gateway}: {}", stderr(&o));
    }
    let o = run(&["keys", "list", "--gateway", &gw]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no admin credential"));
    let o = portcullis(&["keys", "list", "--gateway", &gw])
        .env("PORTCULLIS_ADMIN_KEY", "pc_test_not-a-key")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a well-formed") && !stderr(&o).contains("not-a-key"));
}

// ------------------------------------------------------------------ against an admin API

struct Gateway {
    url: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Serves `/admin/*` like the pipeline does: authenticate the `X-API-Key`, require the admin
/// route's scope (the authorize stage), then `admin::handle`. `seed_entries` are loaded into KV first (the bootstrap path).
fn start_gateway(seed_entries: &Value) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let logs = Arc::new(Mutex::new(Vec::new()));
    let entries: Vec<(String, String)> = seed_entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let thread_logs = logs.clone();
    std::thread::spawn(move || {
        // The gateway's own in-memory platform, on the wall clock (the CLI stamps and reads
        // real times).
        let platform = FakePlatform::new(0);
        for (key, value) in entries {
            platform.kv.borrow_mut().insert(key, (value, None));
        }
        let cache = RefCell::new(ApiKeyCache::new(100));
        let config = admin_config();
        let store = ApiKeyStore::new(&platform, &cache, &config.api_keys);
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            platform.now_ms.set(wall_clock_ms());
            serve(&config, &store, stream, || {
                let lines = std::mem::take(&mut *platform.logs.borrow_mut());
                thread_logs.lock().unwrap().extend(lines);
            });
        }
    });
    Gateway { url, logs }
}

/// The test gateway's configuration: the admin API on, served to API keys `pc_test_…` (and the
/// older `pc_live_…`).
fn admin_config() -> Config {
    let doc = serde_json::json!({
        "origin": "http://127.0.0.1:9",
        "routes": [{"methods": ["GET"], "path": "/health", "auth": ["public"]}],
        "admin": {"enabled": true, "credentials": ["api_key"]},
        "api_keys": {"prefix": "pc_test", "accepted_prefixes": ["pc_test", "pc_live"]}
    });
    parse_config(&doc).expect("the test gateway's configuration")
}

fn wall_clock_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

/// Answers one request; `publish_logs` runs before the answer is written, so a test that has the
/// answer sees every log line of the request.
fn serve(
    config: &Config,
    store: &ApiKeyStore<'_, FakePlatform>,
    mut stream: TcpStream,
    publish_logs: impl FnOnce(),
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut api_key = None;
    let mut idempotency_key = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().to_string();
            match name.to_ascii_lowercase().as_str() {
                "x-api-key" => api_key = Some(value),
                "idempotency-key" => idempotency_key = Some(value),
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    let admin_route = config
        .routes
        .iter()
        .find(|r| r.admin)
        .expect("the admin route");
    let reply = match config.admin.strip(&path) {
        None => Problem::new(ErrorCode::RouteNotFound, "no route").reply(),
        Some(sub) => match block_on(store.authenticate(api_key.as_deref().unwrap_or(""))) {
            Err(e) => Problem::from(e).reply(),
            Ok(actor) => match authorize(admin_route, &actor) {
                Err(refusal) => refusal.problem.reply(),
                Ok(()) => {
                    let req = AdminRequest {
                        method: &method,
                        path: sub,
                        query: query.as_deref(),
                        body: &body,
                        idempotency_key: idempotency_key.as_deref(),
                    };
                    // The key API alone: this test gateway has no revocation list.
                    let ctx = AdminContext {
                        platform: store.platform,
                        keys: ApiKeyStore::new(store.platform, store.cache, store.config),
                        revocations: None,
                        sessions: None,
                        mfa_enabled: false,
                        passkeys_enabled: false,
                    };
                    block_on(admin::handle(&ctx, &req, &actor))
                }
            },
        },
    };
    let (status, text) = (reply.status, reply.body);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        text.len()
    );
    for (k, v) in reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    publish_logs();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
}

#[test]
fn the_cli_drives_the_admin_api_end_to_end() {
    let admin_seed = seed(&[
        "--prefix",
        "pc_test",
        "--client-id",
        "ops",
        "--scopes",
        "portcullis:admin",
    ]);
    let admin_key = admin_seed["key"].as_str().unwrap().to_string();
    let gw = start_gateway(&admin_seed["kv"]);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--gateway", &gw.url]);
        portcullis(&all)
            .env("PORTCULLIS_ADMIN_KEY", &admin_key)
            .output()
            .unwrap()
    };
    let mut issued = vec![admin_key.clone()];

    // create
    let o = cli(&[
        "keys",
        "create",
        "--json",
        "--client-id",
        "billing",
        "--scopes",
        "invoices:read",
        "--ttl",
        "1h",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let created = json(&o);
    let key = created["key"].as_str().unwrap().to_string();
    issued.push(key.clone());
    let kid = created["record"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(created["record"]["client_id"], "billing");
    assert_eq!(created["record"]["status"], "active");
    // The created key authenticates (but is not an admin).
    let o = portcullis(&["keys", "list", "--gateway", &gw.url])
        .env("PORTCULLIS_ADMIN_KEY", &key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("insufficient_scope"));

    // list / show (text and JSON), never the secret
    let o = cli(&["keys", "list"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains(&kid) && stdout(&o).contains("billing"));
    assert!(!stdout(&o).contains(&key));
    let o = cli(&[
        "keys",
        "list",
        "--json",
        "--client-id",
        "billing",
        "--all",
        "--limit",
        "1",
    ]);
    assert_eq!(json(&o)["keys"].as_array().unwrap().len(), 1);
    let o = cli(&["keys", "show", &kid]);
    assert!(stdout(&o).contains("invoices:read") && stdout(&o).contains("active"));
    let o = cli(&["keys", "show", &kid, "--json"]);
    assert_eq!(json(&o)["key_id"], kid);

    // update
    let o = cli(&[
        "keys",
        "update",
        &kid,
        "--json",
        "--scopes",
        "invoices:read,invoices:write",
        "--no-expiry",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json(&o)["scopes"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(json(&o)["expires_at"], Value::Null);
    let o = cli(&["keys", "update", &kid]);
    assert_eq!(o.status.code(), Some(2));

    // rotate: new key, old key's deadline
    let o = cli(&["keys", "rotate", &kid, "--json", "--grace", "10m"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated = json(&o);
    let new_key = rotated["key"].as_str().unwrap().to_string();
    issued.push(new_key.clone());
    let new_kid = rotated["record"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(rotated["previous"]["rotated_to"], new_kid);
    let now = rotated["record"]["created_at"].as_u64().unwrap();
    assert_eq!(rotated["previous"]["expires_at"].as_u64(), Some(now + 600));
    let o = cli(&["keys", "rotate", &kid]);
    assert_eq!(o.status.code(), Some(1), "second rotation of the same key");
    assert!(stderr(&o).contains("already rotated"));

    // --idempotency-key: running the same command again shows the same key
    let idem = "cli-retry-0000-0000-0001";
    let o = cli(&[
        "keys",
        "rotate",
        &new_kid,
        "--json",
        "--idempotency-key",
        idem,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = json(&o);
    issued.push(first["key"].as_str().unwrap().to_string());
    let o = cli(&[
        "keys",
        "rotate",
        &new_kid,
        "--json",
        "--idempotency-key",
        idem,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["key"], first["key"]);
    assert_eq!(json(&o)["record"], first["record"]);
    let o = cli(&[
        "keys",
        "rotate",
        &new_kid,
        "--grace",
        "1m",
        "--idempotency-key",
        idem,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("idempotency_key_reused"),
        "{}",
        stderr(&o)
    );
    let o = cli(&[
        "keys",
        "create",
        "--client-id",
        "x",
        "--idempotency-key",
        "short",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("idempotency_key_invalid"),
        "{}",
        stderr(&o)
    );

    // revoke (human output)
    let o = cli(&["keys", "revoke", &new_kid, "--reason", "test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Revoked") && stdout(&o).contains("revoked"));

    // unknown key id → 5; a bad admin credential → 4; a bad id → 2 without a request
    let o = cli(&["keys", "show", "key_0000000000000000"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("no API key with id key_0000000000000000"));
    let stranger = seed(&["--client-id", "x"])["key"]
        .as_str()
        .unwrap()
        .to_string();
    let o = portcullis(&["keys", "list", "--gateway", &gw.url])
        .env("PORTCULLIS_ADMIN_KEY", &stranger)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("api_key_invalid"));
    let o = cli(&["keys", "show", "key_nope"]);
    assert_eq!(o.status.code(), Some(2));
    // Wrong admin prefix: the gateway has no admin API there.
    let o = cli(&["keys", "list", "--admin-prefix", "/elsewhere"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("admin API enabled"));

    // Audit lines: one per admin call, never a secret.
    let logs = gw.logs.lock().unwrap();
    let audits: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("audit").is_some())
        .collect();
    let actions: Vec<&str> = audits
        .iter()
        .map(|a| a["audit"].as_str().unwrap())
        .collect();
    for expected in [
        "api_key.create",
        "api_key.list",
        "api_key.get",
        "api_key.update",
        "api_key.rotate",
        "api_key.revoke",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(audits.iter().all(|a| a["actor"] == "ops"));
    for line in logs.iter() {
        for k in &issued {
            assert!(!line.contains(k.as_str()), "secret in log: {line}");
        }
    }
}
