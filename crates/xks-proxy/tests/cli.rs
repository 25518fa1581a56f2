//! The `xks-proxy` command line as the binary mounts it: key administration against a
//! running proxy, and credential generation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use clap::Parser;

use common::*;
use xks_proxy::backend::software::RELOAD_CHECK;
use xks_proxy::{XksProxyArgs, XksProxyCommand};

/// How the `strongroom` binary mounts the commands.
#[derive(Parser)]
#[command(name = "strongroom")]
struct Top {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    XksProxy(XksProxyArgs),
}

fn run(args: &[&str]) -> Result<String, String> {
    let mut argv = vec!["strongroom", "xks-proxy"];
    argv.extend_from_slice(args);
    let Sub::XksProxy(a) = Top::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .command;
    let mut out = Vec::new();
    xks_proxy::cli::run_sync(a.command, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_commands_change_what_the_running_proxy_serves() {
    let mut a = TenantSpec::new("a");
    a.keys = vec![];
    let b = TenantSpec::new("b");
    let h = Harness::start(Setup {
        tenants: vec![a, b],
        ..Default::default()
    })
    .await;
    let cfg = h.config_path.to_str().unwrap().to_string();
    let mut api = h.api("a").await;
    api.metadata("made-by-cli")
        .await
        .assert_error(404, "KeyNotFoundException");

    let out = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || {
            run(&[
                "keys",
                "create",
                "--config",
                &cfg,
                "--prefix",
                "a",
                "--label",
                "made-by-cli",
            ])
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.contains("created made-by-cli in /a/kms/xks/v1"),
        "{out}"
    );
    let cfg2 = cfg.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(&[
            "keys", "create", "--config", &cfg2, "--prefix", "a", "--label", "enc-only", "--usage",
            "encrypt",
        ])
    })
    .await
    .unwrap()
    .unwrap();
    assert!(out.contains("enc-only"), "{out}");
    // Creating the same label again fails; so does a label that is not a key id.
    assert!(run(&[
        "keys",
        "create",
        "--config",
        &cfg,
        "--prefix",
        "a",
        "--label",
        "made-by-cli"
    ])
    .is_err());
    assert!(run(&[
        "keys",
        "create",
        "--config",
        &cfg,
        "--prefix",
        "a",
        "--label",
        "bad label"
    ])
    .is_err());
    // Two tenants: --prefix is needed.
    assert!(run(&["keys", "list", "--config", &cfg])
        .unwrap_err()
        .contains("--prefix"));

    let list = run(&[
        "keys",
        "list",
        "--config",
        &cfg,
        "--prefix",
        "/a/kms/xks/v1",
    ])
    .unwrap();
    assert!(
        list.contains("made-by-cli") && list.contains("ENCRYPT,DECRYPT"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("enc-only") && l.trim_end().ends_with("ENCRYPT")),
        "{list}"
    );
    let list_b = run(&["keys", "list", "--config", &cfg, "--prefix", "b"]).unwrap();
    assert!(
        list_b.contains("key-1") && !list_b.contains("made-by-cli"),
        "{list_b}"
    );

    // The running proxy picks the new key up when it next looks at the keystore file (once
    // per RELOAD_CHECK of its clock).
    h.clock.advance(RELOAD_CHECK);
    assert_eq!(
        api.metadata("made-by-cli").await.status,
        200,
        "the proxy sees a key created by the CLI"
    );
    let enc = api.encrypt("made-by-cli", b"x", None, true).await.ok();

    let out = run(&[
        "keys",
        "disable",
        "--config",
        &cfg,
        "--prefix",
        "a",
        "made-by-cli",
    ])
    .unwrap();
    assert!(out.contains("disabled made-by-cli"), "{out}");
    assert!(run(&["keys", "list", "--config", &cfg, "--prefix", "a"])
        .unwrap()
        .contains("DISABLED"));
    h.clock.advance(RELOAD_CHECK);
    api.decrypt("made-by-cli", &Api::decrypt_body(&enc, None))
        .await
        .assert_error(400, "InvalidStateException");
    run(&[
        "keys",
        "enable",
        "--config",
        &cfg,
        "--prefix",
        "a",
        "made-by-cli",
    ])
    .unwrap();
    h.clock.advance(RELOAD_CHECK);
    assert_eq!(
        api.decrypt("made-by-cli", &Api::decrypt_body(&enc, None))
            .await
            .status,
        200,
        "enabled again"
    );
    assert!(run(&[
        "keys",
        "enable",
        "--config",
        &cfg,
        "--prefix",
        "a",
        "no-such-key"
    ])
    .is_err());
}

#[test]
fn new_credentials_are_usable() {
    let out = run(&["new-credentials", "--prefix", "keystores/x"]).unwrap();
    let toml_part: String = out.split("# AWS KMS").next().unwrap().to_string();
    let file: xks_proxy::config::CredentialsFile = toml::from_str(&toml_part).unwrap();
    assert_eq!(file.credentials.len(), 1);
    file.credentials[0].validate().unwrap();
    let json_part = &out[out.find('{').unwrap()..];
    let v: serde_json::Value = serde_json::from_str(json_part).unwrap();
    assert_eq!(v["XksProxyUriPath"], "/keystores/x/kms/xks/v1");
    assert_eq!(
        v["XksProxyAuthenticationCredential"]["AccessKeyId"],
        file.credentials[0].access_key_id.as_str()
    );
}

#[test]
fn serve_and_keys_parse() {
    let Sub::XksProxy(a) = Top::try_parse_from([
        "strongroom",
        "xks-proxy",
        "serve",
        "--config",
        "x.toml",
        "--insecure-http",
    ])
    .unwrap()
    .command;
    match a.command {
        XksProxyCommand::Serve {
            config,
            insecure_http,
        } => {
            assert_eq!(config.to_str(), Some("x.toml"));
            assert!(insecure_http);
        }
        _ => panic!("serve"),
    }
    assert!(
        Top::try_parse_from(["strongroom", "xks-proxy", "keys", "enable", "--config", "x"])
            .is_err()
    );
}
