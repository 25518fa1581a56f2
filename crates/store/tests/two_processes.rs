//! Compare-and-swap holds between processes: two child processes (this test binary, run again)
//! append tags to one key by read-modify-write with retry on `Conflict`; every append either
//! process acknowledged is in the key at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kms_model::{KeyRef, Tag};
use store::conformance::{account, key, region, version};
use store::{SqliteStore, Store, StoreError};

const DB_VAR: &str = "STORE_RACE_DB";
const WRITER_VAR: &str = "STORE_RACE_WRITER";
const APPENDS: usize = 30;

fn key_ref() -> KeyRef {
    let k = key(1, &account(), &region());
    KeyRef {
        region: k.region,
        id: k.id,
    }
}

#[tokio::test]
async fn writers_in_two_processes_lose_no_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("strongroom.db");
    let s = SqliteStore::open(&db, &region()).await.expect("open");
    let k = key(1, &account(), &region());
    s.create_key(&k, &version(&k, 1, 1)).await.expect("create");

    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "race_child", "--ignored", "--nocapture"])
                .env(DB_VAR, &db)
                .env(WRITER_VAR, w.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn a writer process")
        })
        .collect();
    // Both start writing once both are ready, so that they overlap.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(0..2).all(|w| ready_file(&db, w).exists()) {
        assert!(Instant::now() < deadline, "the writers never got ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::fs::write(go_file(&db), b"go").expect("go");

    let mut acked = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("writer process");
        assert!(out.status.success(), "a writer failed: {:?}", out.status);
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let mine: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("acked "))
            .map(str::to_string)
            .collect();
        assert_eq!(mine.len(), APPENDS, "each writer acknowledges every append");
        acked.extend(mine);
    }
    let tags: Vec<String> = s
        .get_key(&key_ref())
        .await
        .expect("get")
        .expect("key")
        .key
        .record
        .tags
        .into_iter()
        .skip(1)
        .map(|t| t.key)
        .collect();
    let mut sorted_tags = tags.clone();
    sorted_tags.sort();
    acked.sort();
    assert_eq!(
        sorted_tags, acked,
        "every acknowledged append, once, and nothing else"
    );
}

fn ready_file(db: &Path, writer: usize) -> PathBuf {
    db.with_extension(format!("ready-{writer}"))
}

fn go_file(db: &Path) -> PathBuf {
    db.with_extension("go")
}

/// One writer process: appends its tags, retrying on conflict, printing each acknowledged one.
#[tokio::test]
#[ignore = "a writer process of writers_in_two_processes_lose_no_update"]
async fn race_child() {
    let db = PathBuf::from(std::env::var(DB_VAR).expect("run by the parent test"));
    let w = std::env::var(WRITER_VAR).expect("writer number");
    let s = SqliteStore::open(&db, &region()).await.expect("open");
    std::fs::write(ready_file(&db, w.parse().expect("number")), b"").expect("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go_file(&db).exists() {
        assert!(Instant::now() < deadline, "no go");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut conflicts = 0;
    for i in 0..APPENDS {
        let tag = format!("p{w}-{i}");
        loop {
            let b = s.get_key(&key_ref()).await.expect("get").expect("key");
            let mut k = b.key.record.clone();
            k.tags.push(Tag {
                key: tag.clone(),
                value: w.clone(),
            });
            match s.update_key(&k, b.key.revision).await {
                Ok(_) => break,
                Err(StoreError::Conflict) => conflicts += 1,
                Err(e) => panic!("writer {w}: {e}"),
            }
            assert!(conflicts < 100_000, "writer {w} never got through");
        }
        println!("acked {tag}");
    }
    eprintln!("writer {w}: {conflicts} conflicts");
}
