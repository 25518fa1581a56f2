//! The listener's limits, against a `strongroom serve` process with short `[limits]`: slow
//! heads and bodies are cut off, idle HTTP/1.1 and HTTP/2 connections are closed, the connection
//! caps refuse the excess, an oversized `Content-Length` is answered before its body is sent, and
//! HTTP/2 clients that send a body get early answers (wrong path, method, target) whole, with no
//! stream reset.

// Raw TCP on purpose: these tests send what no HTTP client would (heads and bodies trickled a
// byte at a time, never finished), and read how and when the server closes.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::common::{PrincipalSpec, Served};

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

fn serve(extra: &str) -> Served {
    Served::start_with(
        &[PrincipalSpec::user("111122223333", "alice")],
        &limits(extra),
    )
}

fn connect(s: &Served) -> TcpStream {
    let t = TcpStream::connect(s.addr()).expect("connect");
    t.set_nodelay(true).expect("nodelay");
    t
}

/// Reads (and keeps) what the server sends until it closes the connection: how long that took
/// and the bytes, or `None` if it is still open after `limit`.
fn time_to_close(t: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        t.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        match t.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            // A reset also closes it.
            Err(_) => return Some((start.elapsed(), got)),
        }
    }
}

/// Writes `bytes` one at a time, `every` apart, from another thread, until the connection fails.
fn trickle(t: &TcpStream, bytes: &'static [u8], every: Duration) {
    let mut w = t.try_clone().expect("clone stream");
    std::thread::spawn(move || {
        for b in bytes.iter().cycle() {
            if w.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    });
}

/// An unsigned `TrentService.ListKeys` request (answered 400 MissingAuthenticationToken).
fn unsigned_request(host: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.ListKeys\r\ncontent-length: 2\r\n\r\n{{}}"
    )
    .into_bytes()
}

/// Reads one HTTP/1.1 response with a `content-length`: `(status, body)`.
fn read_response(t: &mut TcpStream) -> (u16, Vec<u8>) {
    t.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = t.read(&mut byte).expect("read the response head");
        assert_eq!(n, 1, "connection closed in the response head: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).expect("ASCII head");
    let status = head[9..12].parse().expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    t.read_exact(&mut body).expect("read the response body");
    (status, body)
}

#[tokio::test]
async fn a_request_head_sent_byte_by_byte_is_cut_off_at_the_header_timeout() {
    let s = serve("");
    let mut t = connect(&s);
    trickle(
        &t,
        b"POST / HTTP/1.1\r\nx-slow-header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        Duration::from_millis(50),
    );
    let (after, answer) =
        time_to_close(&mut t, Duration::from_secs(5)).expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_secs(2),
        "closed after {after:?} (header timeout 400 ms)"
    );
    assert!(answer.is_empty(), "no answer: {answer:?}");
}

#[tokio::test]
async fn a_body_sent_byte_by_byte_is_cut_off_at_the_request_timeout() {
    let s = serve("");
    let mut t = connect(&s);
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.ListKeys\r\ncontent-length: 2000\r\n\r\n",
        s.addr()
    );
    t.write_all(head.as_bytes()).expect("send the head");
    trickle(&t, b" ", Duration::from_millis(50));
    let (after, answer) =
        time_to_close(&mut t, Duration::from_secs(5)).expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(700) && after < Duration::from_secs(3),
        "closed after {after:?} (request timeout 900 ms)"
    );
    assert!(
        answer.is_empty(),
        "closed without an answer: {}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_before() {
    let s = serve("");
    let mut t = connect(&s);
    t.write_all(&unsigned_request(&s.addr())).expect("send");
    assert_eq!(read_response(&mut t).0, 400);
    // Idle for longer than the header timeout: still usable.
    std::thread::sleep(Duration::from_millis(900));
    t.write_all(&unsigned_request(&s.addr())).expect("send");
    assert_eq!(read_response(&mut t).0, 400);
    let (after, _) = time_to_close(&mut t, Duration::from_secs(5)).expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(1200) && after < Duration::from_secs(3),
        "closed after {after:?} (idle timeout 1500 ms)"
    );
}

/// An HTTP/2 (prior knowledge, h2c) connection to the KMS.
async fn h2_connect(s: &Served) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(s.addr())
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (client, driver)
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_at_the_idle_timeout() {
    let s = serve("");
    let (mut client, driver) = h2_connect(&s).await;
    let req = http::Request::post(format!("http://{}/", s.addr()))
        .header("x-amz-target", "TrentService.ListKeys")
        .header("content-type", "application/x-amz-json-1.1")
        .body(())
        .expect("request");
    let (resp, mut send) = client.send_request(req, false).expect("send");
    send.send_data(Bytes::from_static(b"{}"), true)
        .expect("send body");
    assert_eq!(resp.await.expect("response").status(), 400);
    let idle_from = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the connection is still open after 5 s")
        .expect("driver");
    let after = idle_from.elapsed();
    assert!(
        after >= Duration::from_millis(1200) && after < Duration::from_secs(4),
        "closed after {after:?} (idle timeout 1500 ms)"
    );
}

/// Connects from `source` (an address of 127.0.0.0/8) and tells whether the server kept the
/// connection (`Some`, still open 300 ms later) or closed it at once (`None`).
async fn try_connect(s: &Served, source: &str) -> Option<tokio::net::TcpStream> {
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("address"))
        .expect("bind the source address");
    let mut t = socket
        .connect(s.addr().parse().expect("address"))
        .await
        .expect("connect");
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), t.read(&mut b)).await {
        Err(_) => Some(t),
        Ok(_) => None,
    }
}

#[tokio::test]
async fn connections_past_the_global_and_per_address_caps_are_closed_at_once() {
    let s =
        serve("header_read_timeout_ms = 10000\nmax_connections = 4\nmax_connections_per_ip = 2\n");
    let a1 = try_connect(&s, "127.0.0.1")
        .await
        .expect("1st from .1 kept");
    let _a2 = try_connect(&s, "127.0.0.1")
        .await
        .expect("2nd from .1 kept");
    assert!(
        try_connect(&s, "127.0.0.1").await.is_none(),
        "a 3rd from .1 is over max_connections_per_ip = 2"
    );
    let _b1 = try_connect(&s, "127.0.0.2")
        .await
        .expect("1st from .2 kept");
    let _b2 = try_connect(&s, "127.0.0.2")
        .await
        .expect("2nd from .2 kept");
    assert!(
        try_connect(&s, "127.0.0.3").await.is_none(),
        "a 5th connection is over max_connections = 4"
    );
    // A closed connection gives its place back.
    drop(a1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = try_connect(&s, "127.0.0.1")
        .await
        .expect("a place is free again");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    again
        .write_all(&unsigned_request(&s.addr()))
        .await
        .expect("send");
    let mut buf = [0u8; 12];
    again.read_exact(&mut buf).await.expect("an answer");
    assert_eq!(&buf, b"HTTP/1.1 400");
}

#[tokio::test]
async fn a_content_length_above_the_limit_is_answered_before_the_body_is_sent() {
    let s = serve("");
    let mut t = connect(&s);
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.ListKeys\r\ncontent-length: 10000000\r\n\r\n",
        s.addr()
    );
    t.write_all(head.as_bytes()).expect("send the head only");
    let started = Instant::now();
    let (status, body) = read_response(&mut t);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
    assert_eq!(v["__type"], "RequestEntityTooLargeException", "{v}");
    assert_eq!(v["message"], "HTTP content length exceeded 4096 bytes.");

    // Without a Content-Length the body is read up to the limit, then refused the same way.
    let mut t = connect(&s);
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.ListKeys\r\ntransfer-encoding: chunked\r\n\r\n",
        s.addr()
    );
    t.write_all(head.as_bytes()).expect("send the head");
    t.write_all(format!("1001\r\n{}\r\n0\r\n\r\n", "x".repeat(4097)).as_bytes())
        .expect("send the body");
    let (status, body) = read_response(&mut t);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    // That body was drained: the connection serves the next request.
    t.write_all(&unsigned_request(&s.addr())).expect("send");
    assert_eq!(read_response(&mut t).0, 400);
}

/// Sends a request with a 1000-byte body the way curl does over HTTP/2 (the head first, the body
/// after), to an answer that does not need the body; returns the status and the body of the
/// answer, having checked that the body could be sent and the stream was not reset.
async fn h2_early_answer(
    client: &mut h2::client::SendRequest<Bytes>,
    req: http::Request<()>,
) -> (u16, serde_json::Value) {
    let what = format!("{} {}", req.method(), req.uri());
    client.clone().ready().await.expect("ready");
    let (resp, mut send) = client.send_request(req, false).expect("send the head");
    let resp = resp.await.expect("a response");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut answer = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("response body");
        let _ = body.flow_control().release_capacity(chunk.len());
        answer.extend_from_slice(&chunk);
    }
    // The client is still sending when the answer arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    send.send_data(Bytes::from(vec![b' '; 1000]), true)
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

#[tokio::test]
async fn http2_clients_sending_a_body_get_early_answers_whole() {
    let s = serve("");
    let (mut client, _driver) = h2_connect(&s).await;
    let uri = |path: &str| format!("http://{}{path}", s.addr());
    let cases = [
        ("POST", "/nope", "TrentService.ListKeys", 404),
        ("PUT", "/", "TrentService.ListKeys", 405),
        ("POST", "/", "TrentService.NoSuchThing", 400),
    ];
    for (method, path, target, status) in cases {
        let req = http::Request::builder()
            .method(method)
            .uri(uri(path))
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .header("content-length", "1000")
            .body(())
            .expect("request");
        let (got, v) = h2_early_answer(&mut client, req).await;
        assert_eq!(
            (got, v["__type"].as_str()),
            (status, Some("UnknownOperationException")),
            "{method} {path} {target}: {v}"
        );
    }
    // And the connection still serves.
    let req = http::Request::post(uri("/"))
        .header("x-amz-target", "TrentService.ListKeys")
        .body(())
        .expect("request");
    let (resp, mut send) = client.send_request(req, false).expect("send");
    send.send_data(Bytes::from_static(b"{}"), true)
        .expect("send body");
    assert_eq!(resp.await.expect("response").status(), 400);
}

#[tokio::test]
async fn at_sigterm_open_requests_finish_idle_connections_close_and_the_process_exits() {
    let mut s =
        serve("request_timeout_ms = 10000\nidle_timeout_ms = 10000\nshutdown_grace_ms = 3000\n");
    // An idle keep-alive connection.
    let mut idle = connect(&s);
    idle.write_all(&unsigned_request(&s.addr())).expect("send");
    assert_eq!(read_response(&mut idle).0, 400);
    // A request whose body is half sent.
    let mut busy = connect(&s);
    let request = unsigned_request(&s.addr());
    let (first, rest) = request.split_at(request.len() - 1);
    busy.write_all(first).expect("send all but the last byte");
    std::thread::sleep(Duration::from_millis(200));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let (after, _) = time_to_close(&mut idle, Duration::from_secs(2))
        .expect("the idle connection is closed at once");
    assert!(after < Duration::from_secs(1), "{after:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(s.addr()).is_err(),
        "no new connection is accepted"
    );
    busy.write_all(rest).expect("send the last byte");
    let (status, body) = read_response(&mut busy);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let deadline = Instant::now() + Duration::from_secs(3);
    while s.is_running() {
        assert!(Instant::now() < deadline, "still running 3 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
