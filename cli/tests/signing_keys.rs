//! `portcullis signing-keys`: the secret document on stdout alone (or in a 0600 file), the summary
//! and the `wrangler secret put` command on stderr, the runbook's three steps, and no private key
//! anywhere but the document.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use portcullis::signing::{native, SigningKeySet};
use serde_json::{json, Value};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

fn run_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
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

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The private members' values of a document.
fn private_values(document: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(document).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|k| {
            ["d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .filter_map(|m| k[*m].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn parse(document: &str) -> SigningKeySet {
    let set = SigningKeySet::parse(document.trim()).unwrap();
    native::check_set(&set).unwrap();
    set
}

fn kids(set: &SigningKeySet) -> Vec<&str> {
    set.keys().iter().map(|k| k.kid()).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-signing-keys-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn generate_prints_the_document_alone_on_stdout_and_the_command_on_stderr() {
    let o = run(&["signing-keys", "generate"]);
    assert!(o.status.success(), "{}", err(&o));
    let stdout = out(&o);
    assert_eq!(stdout.lines().count(), 1, "one line: the document");
    let set = parse(&stdout);
    assert_eq!(set.keys().len(), 1);
    let key = set.active();
    assert_eq!(key.alg().as_str(), "ES256");
    // The default kid is the RFC 7638 thumbprint of the public key.
    assert_eq!(key.kid(), key.public_jwk().thumbprint());
    let stderr = err(&o);
    assert!(
        stderr.contains("<this output> | npx wrangler secret put PORTCULLIS_SIGNING_KEYS"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("generated kid {} (ES256)", key.kid())));
    for secret in private_values(&stdout) {
        assert!(!stderr.contains(&secret), "stderr carries a private value");
    }
}

#[test]
fn generate_out_writes_a_file_only_its_owner_can_read() {
    let dir = tmp("out");
    let path = dir.join("keys.json");
    let o = run(&[
        "signing-keys",
        "generate",
        "--alg",
        "EdDSA",
        "--kid",
        "ed-2026-12",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "", "nothing on stdout with --out");
    assert!(err(&o).contains(&format!(
        "npx wrangler secret put PORTCULLIS_SIGNING_KEYS < {}",
        path.display()
    )));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let set = parse(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(kids(&set), ["ed-2026-12"]);
    assert_eq!(set.active().alg().as_str(), "EdDSA");
    // Only the file is left in the directory (the temporary one was renamed over it).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    // Overwriting an existing file (the runbook reads and writes one file) keeps it 0600.
    let o = run(&[
        "signing-keys",
        "rotate",
        "--current",
        path.to_str().unwrap(),
        "--kid",
        "next",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        kids(&parse(&std::fs::read_to_string(&path).unwrap())),
        ["ed-2026-12", "next"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_runbook_publish_then_switch_then_retire() {
    let dir = tmp("runbook");
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let step = |args: &[&str], out_name: &str| -> SigningKeySet {
        let mut all = vec!["signing-keys"];
        all.extend_from_slice(args);
        let target = file(out_name);
        all.extend_from_slice(&["--out", &target]);
        let o = run(&all);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        parse(&std::fs::read_to_string(&target).unwrap())
    };
    let v0 = step(&["generate", "--kid", "old"], "v0.json");
    assert_eq!((kids(&v0), v0.active().kid()), (vec!["old"], "old"));

    // Step 1: publish a new key; the old one keeps signing.
    let v1 = step(
        &[
            "rotate",
            "--current",
            &file("v0.json"),
            "--kid",
            "new",
            "--alg",
            "RS256",
        ],
        "v1.json",
    );
    assert_eq!((kids(&v1), v1.active().kid()), (vec!["old", "new"], "old"));
    assert_eq!(v1.get("new").unwrap().alg().as_str(), "RS256");
    // The old key is the same key, not a new one with the same kid.
    assert_eq!(v1.get("old"), v0.get("old"));

    // Step 2: the new key signs; the old one stays published.
    let v2 = step(
        &["activate", "--current", &file("v1.json"), "--kid", "new"],
        "v2.json",
    );
    assert_eq!((kids(&v2), v2.active().kid()), (vec!["old", "new"], "new"));

    // Step 3: the old key goes.
    let v3 = step(
        &["retire", "--current", &file("v2.json"), "--kid", "old"],
        "v3.json",
    );
    assert_eq!((kids(&v3), v3.active().kid()), (vec!["new"], "new"));
    assert_eq!(v3.get("new"), v1.get("new"));

    // Refusals, each exit 2 with what to do.
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["signing-keys"];
        all.extend_from_slice(args);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(err(&o).contains(message), "{args:?}: {}", err(&o));
        assert_eq!(out(&o), "");
    };
    refused(
        &["retire", "--current", &file("v2.json"), "--kid", "new"],
        "new is the active key: activate another key first",
    );
    refused(
        &["activate", "--current", &file("v2.json"), "--kid", "nope"],
        "no key with kid nope in the set",
    );
    refused(
        &["rotate", "--current", &file("v2.json"), "--kid", "old"],
        "the set already has a key with kid old",
    );
    refused(
        &["generate", "--kid", "with space"],
        "keys[0].kid: must be 1 to 128 printable ASCII characters",
    );
    refused(
        &["rotate", "--current", &file("missing.json")],
        "cannot read --current",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_current_document_is_refused_by_path_without_echoing_it() {
    let good = out(&run(&["signing-keys", "generate", "--kid", "a"]));
    let other = out(&run(&["signing-keys", "generate", "--kid", "b"]));
    let mut doc: Value = serde_json::from_str(&good).unwrap();
    let other_d = serde_json::from_str::<Value>(&other).unwrap()["keys"][0]["d"].clone();
    doc["keys"][0]["d"] = other_d.clone();
    let o = run_stdin(
        &["signing-keys", "rotate", "--current", "-"],
        &doc.to_string(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--current: keys[0]: the private key does not match its public part"),
        "{}",
        err(&o)
    );
    for secret in private_values(&good)
        .into_iter()
        .chain([other_d.as_str().unwrap().to_string()])
    {
        assert!(!err(&o).contains(&secret));
    }
    assert_eq!(out(&o), "");

    let o = run_stdin(
        &["signing-keys", "activate", "--current", "-", "--kid", "a"],
        &json!({"active": "a", "keys": [], "extra": 1}).to_string(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains(
            "--current: extra: unknown member; the document has active and keys; keys: must hold at least one key"
        ),
        "{}",
        err(&o)
    );
}

#[test]
fn json_puts_the_summary_on_stderr_as_json_and_never_the_keys() {
    let dir = tmp("json");
    let path = dir.join("k.json");
    let o = run(&[
        "--json",
        "signing-keys",
        "generate",
        "--kid",
        "k1",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let summary: Value = serde_json::from_str(err(&o).trim()).unwrap();
    assert_eq!(summary["active"], "k1");
    assert_eq!(summary["kids"], json!(["k1"]));
    assert_eq!(summary["out"], path.to_str().unwrap());
    assert_eq!(
        summary["wrangler"],
        format!(
            "npx wrangler secret put PORTCULLIS_SIGNING_KEYS < {}",
            path.display()
        )
    );
    for secret in private_values(&std::fs::read_to_string(Path::new(&path)).unwrap()) {
        assert!(!err(&o).contains(&secret));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
