//! The listener's limits over HTTPS, with short `[limits]`: slow heads and bodies over HTTP/1.1,
//! unfinished bodies and idle connections over HTTP/2, a silent TLS client, the connection caps,
//! an oversized `Content-Length`, and early answers (unknown URI prefix or path, wrong method,
//! too large) received whole by HTTP/2 clients that send a body — with the h2 crate and with
//! curl, as AWS's XKS proxy test client uses it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use common::*;

/// Short limits for tests, with `overrides` (`key = value` lines) replacing the defaults here.
fn limits(overrides: &str) -> String {
    let defaults =
        "header_read_timeout_ms = 400\nrequest_timeout_ms = 900\nidle_timeout_ms = 1500\n\
                    max_body_bytes = 4096\ndrain_timeout_ms = 2000\nshutdown_grace_ms = 500\n";
    let overridden = |line: &str| {
        let key = line.split('=').next().unwrap_or("").trim();
        overrides
            .lines()
            .any(|o| o.split('=').next().unwrap_or("").trim() == key)
    };
    let kept: String = defaults
        .lines()
        .filter(|l| !overridden(l))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("[limits]\n{kept}{overrides}")
}

async fn proxy(overrides: &str) -> Harness {
    Harness::start(Setup {
        global_extra: limits(overrides),
        ..Default::default()
    })
    .await
}

/// A TLS connection to the proxy offering `alpn`. A raw stream on purpose: these tests send
/// what no HTTP client would (heads and bodies trickled, never finished).
async fn tls(h: &Harness, alpn: &[u8]) -> TlsStream<TcpStream> {
    test_support::http::connect_tls(&h.addr().to_string(), &tls_offering(h, alpn))
        .await
        .unwrap()
}

/// Reads until the server closes the connection: how long that took and what it sent, or
/// `None` if it is still open after `limit`.
async fn time_to_close<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: Duration,
) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, r.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes`, then one byte of `slow` every `every`, until the connection fails; returns
/// the read half.
fn trickle(
    stream: TlsStream<TcpStream>,
    bytes: Vec<u8>,
    slow: u8,
    every: Duration,
) -> tokio::io::ReadHalf<TlsStream<TcpStream>> {
    let (r, mut w) = tokio::io::split(stream);
    tokio::spawn(async move {
        if w.write_all(&bytes).await.is_err() {
            return;
        }
        loop {
            if w.write_all(&[slow]).await.is_err() || w.flush().await.is_err() {
                return;
            }
            // A slow client's pace (what the server is tested against), not a wait for time.
            tokio::time::sleep(every).await;
        }
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_at_the_header_timeout() {
    let h = proxy("").await;
    let mut tcp = TcpStream::connect(h.addr()).await.unwrap();
    let (after, _) = time_to_close(&mut tcp, Duration::from_secs(5))
        .await
        .expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_secs(2),
        "closed after {after:?} (header timeout 400 ms)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_byte_by_byte_is_cut_off_at_the_header_timeout() {
    let h = proxy("").await;
    let s = tls(&h, b"http/1.1").await;
    let mut r = trickle(
        s,
        b"POST /kms/xks/v1/health HTTP/1.1\r\nx-slow: ".to_vec(),
        b'a',
        Duration::from_millis(50),
    );
    let (after, answer) = time_to_close(&mut r, Duration::from_secs(5))
        .await
        .expect("still open after 5 s");
    assert!(
        after < Duration::from_secs(2),
        "closed after {after:?} (header timeout 400 ms)"
    );
    assert!(answer.is_empty(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http1_body_is_cut_off_at_the_request_timeout() {
    let h = proxy("").await;
    let s = tls(&h, b"http/1.1").await;
    let head = format!(
        "POST /kms/xks/v1/health HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: 3000\r\n\r\n",
        h.host()
    );
    let mut r = trickle(s, head.into_bytes(), b' ', Duration::from_millis(50));
    let (after, answer) = time_to_close(&mut r, Duration::from_secs(5))
        .await
        .expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(700) && after < Duration::from_secs(3),
        "closed after {after:?} (request timeout 900 ms)"
    );
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

/// Reads one HTTP/1.1 response with a `content-length`: its status line.
async fn read_response<R: AsyncRead + Unpin>(r: &mut R) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        r.read_exact(&mut byte).await.expect("a response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.expect("a response body");
    head.lines().next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http1_connection_is_closed_at_the_idle_timeout_not_before() {
    let h = proxy("").await;
    let mut s = tls(&h, b"http/1.1").await;
    let req = format!("GET /ping HTTP/1.1\r\nhost: {}\r\n\r\n", h.host());
    s.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await, "HTTP/1.1 200 OK");
    // Idle for longer than the header timeout: the kept-alive connection still serves. Real
    // idle time on a real socket: connection timeouts are the connection layer's (http_serve,
    // tokio timers), not on the proxy's clock.
    tokio::time::sleep(Duration::from_millis(900)).await;
    s.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await, "HTTP/1.1 200 OK");
    let (after, _) = time_to_close(&mut s, Duration::from_secs(5))
        .await
        .expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(1200) && after < Duration::from_secs(3),
        "closed after {after:?} (idle timeout 1500 ms)"
    );
}

/// An HTTP/2 connection (ALPN h2) to the proxy; the task ends when the connection does.
async fn h2(h: &Harness) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let s = tls(h, b"h2").await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, conn) = h2::client::handshake(s).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (client, driver)
}

/// A signed HTTP/2 request head for `path` whose body will be `body`.
fn signed_h2(h: &Harness, method: &str, path: &str, body: &[u8]) -> http::Request<()> {
    let headers = Signer::xks(AKID_1, SECRET_1).sign(
        method,
        &h.host(),
        path,
        &[("content-type".to_string(), "application/json".to_string())],
        body,
    );
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("https://{}{path}", h.host()))
        .header("content-length", body.len().to_string());
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    req.body(()).unwrap()
}

async fn read_h2_body(body: &mut h2::RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("response body");
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_at_the_idle_timeout() {
    let h = proxy("").await;
    let (mut client, driver) = h2(&h).await;
    let body = br#"{"requestMetadata":{"kmsRequestId":"1","kmsOperation":"KmsHealthCheck"}}"#;
    let (resp, mut send) = client
        .send_request(signed_h2(&h, "POST", "/kms/xks/v1/health", body), false)
        .unwrap();
    send.send_data(Bytes::from_static(body), true).unwrap();
    assert_eq!(resp.await.unwrap().status(), 200);
    let idle_from = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the connection is still open after 5 s")
        .unwrap();
    let after = idle_from.elapsed();
    assert!(
        after >= Duration::from_millis(1200) && after < Duration::from_secs(4),
        "closed after {after:?} (idle timeout 1500 ms)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_http2_body_is_reset_at_the_request_timeout_then_the_connection_closes() {
    let h = proxy("").await;
    let (mut client, driver) = h2(&h).await;
    let body = br#"{"requestMetadata":{"kmsRequestId":"1","kmsOperation":"KmsHealthCheck"}}"#;
    let started = Instant::now();
    let (resp, mut send) = client
        .send_request(signed_h2(&h, "POST", "/kms/xks/v1/health", body), false)
        .unwrap();
    // Half the body, and never the rest.
    send.send_data(Bytes::copy_from_slice(&body[..20]), false)
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), resp)
        .await
        .expect("no answer and no reset after 5 s");
    let reset_after = started.elapsed();
    assert!(
        outcome.is_err(),
        "the stream is reset, not answered: {outcome:?}"
    );
    assert!(
        reset_after >= Duration::from_millis(700) && reset_after < Duration::from_secs(3),
        "reset after {reset_after:?} (request timeout 900 ms)"
    );
    drop(send);
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the connection is still open 5 s after the reset")
        .unwrap();
}

/// Connects a TLS client from `source` (an address of 127.0.0.0/8): the connection if the
/// server kept it, `None` if it closed it at once.
async fn kept(h: &Harness, source: &str) -> Option<TlsStream<TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let tcp = socket.connect(h.addr()).await.unwrap();
    let tls = tokio::time::timeout(
        Duration::from_secs(2),
        test_support::http::handshake(tcp, &tls_offering(h, b"http/1.1")),
    )
    .await
    .expect("the handshake neither completes nor fails");
    tls.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_global_and_per_address_caps_are_closed_at_once() {
    let h =
        proxy("header_read_timeout_ms = 10000\nmax_connections = 4\nmax_connections_per_ip = 2\n")
            .await;
    let a1 = kept(&h, "127.0.0.1").await.expect("1st from .1 kept");
    let _a2 = kept(&h, "127.0.0.1").await.expect("2nd from .1 kept");
    assert!(
        kept(&h, "127.0.0.1").await.is_none(),
        "a 3rd from .1 is over max_connections_per_ip = 2"
    );
    let _b1 = kept(&h, "127.0.0.2").await.expect("1st from .2 kept");
    let _b2 = kept(&h, "127.0.0.2").await.expect("2nd from .2 kept");
    assert!(
        kept(&h, "127.0.0.3").await.is_none(),
        "a 5th connection is over max_connections = 4"
    );
    drop(a1);
    // Lets the server see the close (an event on another task), not time passing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = kept(&h, "127.0.0.1").await.expect("a place is free again");
    let req = format!("GET /ping HTTP/1.1\r\nhost: {}\r\n\r\n", h.host());
    again.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 12];
    again.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_above_the_limit_is_answered_before_the_body_is_sent() {
    let h = proxy("").await;
    let mut s = tls(&h, b"http/1.1").await;
    let head = format!(
        "POST /kms/xks/v1/health HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: 10000000\r\n\r\n",
        h.host()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (_, answer) = time_to_close(&mut s, Duration::from_secs(1))
        .await
        .expect("answered and closed at once");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 501"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["errorName"], "UnsupportedOperationException", "{v}");
    assert_eq!(
        v["errorMessage"],
        "The request body exceeds the 4096 bytes this proxy accepts"
    );
}

/// Sends `req` with a body of `len` bytes the way curl does over HTTP/2 (the head, then the
/// body), to an answer that does not need the body; returns the status and the answer, having
/// checked that the body could still be sent and that the stream was not reset.
async fn h2_early_answer(
    client: &mut h2::client::SendRequest<Bytes>,
    req: http::Request<()>,
    len: usize,
) -> (u16, Value) {
    let what = format!("{} {}", req.method(), req.uri());
    client.clone().ready().await.unwrap();
    let (resp, mut send) = client.send_request(req, false).unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let answer = read_h2_body(&mut resp.into_body()).await;
    // curl's pace: the body follows the answer a moment later (what is tested), not a wait
    // for time.
    tokio::time::sleep(Duration::from_millis(100)).await;
    send.send_data(Bytes::from(vec![b' '; len]), true)
        .unwrap_or_else(|e| panic!("{what}: the body could not be sent: {e}"));
    let reset = tokio::time::timeout(
        Duration::from_millis(500),
        std::future::poll_fn(|cx| send.poll_reset(cx)),
    )
    .await;
    assert!(
        !matches!(reset, Ok(Ok(_))),
        "{what}: the stream was reset: {reset:?}"
    );
    let v = serde_json::from_slice(&answer)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {answer:?}"));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_sending_a_body_get_early_answers_whole() {
    let h = proxy("").await;
    let (mut client, _driver) = h2(&h).await;
    let body = vec![b' '; 1000];
    let cases: [(&str, &str, usize, u16, &str); 5] = [
        (
            "POST",
            "/invalid/kms/xks/v1/health",
            1000,
            404,
            "InvalidUriPathException",
        ),
        (
            "POST",
            "/kms/xks/v1/keys/key-1/sign",
            1000,
            404,
            "InvalidUriPathException",
        ),
        (
            "GET",
            "/kms/xks/v1/health",
            1000,
            405,
            "ValidationException",
        ),
        (
            "PUT",
            "/kms/xks/v1/keys/key-1/encrypt",
            1000,
            405,
            "ValidationException",
        ),
        (
            "POST",
            "/kms/xks/v1/health",
            5000,
            501,
            "UnsupportedOperationException",
        ),
    ];
    for (method, path, len, status, name) in cases {
        let req = signed_h2(&h, method, path, &body[..len.min(body.len())]);
        let mut req = req;
        req.headers_mut()
            .insert("content-length", len.to_string().parse().unwrap());
        let (got, v) = h2_early_answer(&mut client, req, len).await;
        assert_eq!(
            (got, v["errorName"].as_str()),
            (status, Some(name)),
            "{method} {path}: {v}"
        );
    }
}

/// AWS's XKS proxy test client sends every request with `curl --aws-sigv4 ... --data-binary`,
/// which speaks HTTP/2 to a server that offers it, and greps the output for the error name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_http2_gets_invalid_uri_path_for_an_unknown_prefix() {
    let version = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version
            .lines()
            .any(|l| l.starts_with("Features:") && l.contains("HTTP2")),
        "this curl cannot speak HTTP/2: {version}"
    );
    let h = proxy("").await;
    let ca = h.dir.path().join("ca.pem");
    let body = format!(
        r#"{{"requestMetadata":{{"kmsOperation":"KmsHealthCheck","kmsRequestId":"{}"}},"pad":"{}"}}"#,
        "2d5c8a3e-9b1f-4c2a-8e7d-0f6a1b2c3d4e",
        " ".repeat(900)
    );
    for prefix in ["invalid", "kms/xks/v1/invalid"] {
        let url = format!("https://{}/{prefix}/kms/xks/v1/health", h.host());
        let out = tokio::process::Command::new("curl")
            .args(["--silent", "--show-error", "--http2", "--cacert"])
            .arg(&ca)
            .args([
                "--resolve",
                &format!("{}:127.0.0.1", h.host()),
                "-H",
                "Content-Type:application/json",
                "--aws-sigv4",
                &format!("aws:amz:{REGION}:kms-xks-proxy"),
                "--user",
                &format!("{AKID_1}:{SECRET_1}"),
                "--write-out",
                "\n%{http_version} %{http_code}",
                "--data-binary",
                &body,
                &url,
            ])
            .output()
            .await
            .expect("run curl");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{prefix}: curl failed ({}): {}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("InvalidUriPathException") && stdout.ends_with("\n2 404"),
            "{prefix}: {stdout}"
        );
    }
}
