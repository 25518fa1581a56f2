//! A stand-in XKS proxy inside the test process: an HTTPS server (hyper + tokio-rustls) whose
//! answers a test chooses per operation — a well-behaved proxy by default (identity "cipher",
//! correct CDIV), or malformed JSON, bodiless errors, wrong sizes, every error name, or delays.
//! It does not check SigV4: it stands in for proxies that misbehave, not for the real one.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::harness::Identity;
use crate::common::random_bytes;

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Close the connection (after `delay`) without answering: a proxy dying mid-request.
    pub hang_up: bool,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
            hang_up: false,
        }
    }

    pub fn raw(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            hang_up: false,
        }
    }

    /// `{"errorName": name, "errorMessage": ...}`.
    pub fn error(status: u16, name: &str) -> Reply {
        Reply::json(
            status,
            json!({"errorName": name, "errorMessage": "stand-in proxy error"}),
        )
    }

    /// No answer: the connection is closed once the request was read.
    pub fn hang_up() -> Reply {
        Reply {
            status: 0,
            body: Vec::new(),
            delay: Duration::ZERO,
            hang_up: true,
        }
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// What the stand-in answers: `(operation, request body) -> reply`; operation is `health`,
/// `metadata`, `encrypt`, `decrypt` (or `other`).
pub type Handler = Arc<dyn Fn(&str, &Value) -> Reply + Send + Sync>;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    v.as_str()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("Base64")
        })
        .unwrap_or_default()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    let hex = sigv4::sha256_hex(data);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A healthy GetHealthStatus answer.
pub fn healthy() -> Value {
    json!({
        "xksProxyFleetSize": 1,
        "xksProxyVendor": "Stand-in",
        "xksProxyModel": "Stand-in 1",
        "ekmVendor": "Stand-in",
        "ekmFleetDetails": [{"id": "ekm-1", "model": "Stand-in", "healthStatus": "ACTIVE"}]
    })
}

/// A well-formed Encrypt answer for `req`: the "ciphertext" is the plaintext, a random IV and
/// tag, no metadata, and the CDIV (Appendix C) when asked for.
pub fn good_encrypt(req: &Value) -> Value {
    let plaintext = unb64(&req["plaintext"]);
    let aad = unb64(&req["additionalAuthenticatedData"]);
    let iv = random_bytes(12);
    let tag = random_bytes(16);
    let mut out = json!({
        "ciphertext": b64(&plaintext),
        "initializationVector": b64(&iv),
        "authenticationTag": b64(&tag),
    });
    if req["ciphertextDataIntegrityValueAlgorithm"] == "SHA_256" {
        let cdiv = sha256(&[aad, iv, plaintext, tag].concat());
        out["ciphertextDataIntegrityValue"] = json!(b64(&cdiv));
    }
    out
}

/// The stand-in's well-behaved answer to `op`.
pub fn good(op: &str, req: &Value) -> Reply {
    match op {
        "health" => Reply::json(200, healthy()),
        "metadata" => Reply::json(
            200,
            json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}),
        ),
        "encrypt" => Reply::json(200, good_encrypt(req)),
        "decrypt" => Reply::json(200, json!({"plaintext": req["ciphertext"].clone()})),
        _ => Reply::error(404, "InvalidUriPathException"),
    }
}

struct Shared {
    handler: RwLock<Handler>,
    tls: RwLock<Arc<rustls::ServerConfig>>,
    requests: Mutex<Vec<(String, Value)>>,
}

/// The running stand-in; stops (listener and connections closed) on drop.
pub struct FakeProxy {
    pub port: u16,
    shared: Arc<Shared>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

fn tls_config(leaf: &Identity) -> Arc<rustls::ServerConfig> {
    leaf.server_config(&[b"http/1.1"])
}

impl FakeProxy {
    /// Listens on 127.0.0.1:`port` (0: any) with `leaf`, answering as [`good`].
    pub async fn start(port: u16, leaf: &Identity) -> FakeProxy {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the stand-in proxy");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            handler: RwLock::new(Arc::new(good)),
            tls: RwLock::new(tls_config(leaf)),
            requests: Mutex::new(Vec::new()),
        });
        let (generation, gen_rx) = watch::channel(0u64);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), gen_rx));
        FakeProxy {
            port,
            shared,
            generation,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Answers with `handler` from now on.
    pub fn set(&self, handler: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) {
        *self.shared.handler.write().expect("handler lock") = Arc::new(handler);
    }

    /// Answers `op` with `reply` (a copy each time), every other operation as [`good`].
    pub fn fail(&self, op: &'static str, reply: Reply) {
        self.set(
            move |o, req| {
                if o == op {
                    reply.clone()
                } else {
                    good(o, req)
                }
            },
        );
    }

    /// Back to [`good`].
    pub fn heal(&self) {
        self.set(good);
    }

    /// Serves `leaf` from now on and closes every open connection (so the next request makes a
    /// new TLS handshake).
    pub fn set_certificate(&self, leaf: &Identity) {
        *self.shared.tls.write().expect("tls lock") = tls_config(leaf);
        self.generation.send_modify(|g| *g += 1);
    }

    /// (path, body) of every request so far.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.shared.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, gen_rx: watch::Receiver<u64>) {
    // Owned here: aborting this task drops the set, which aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                conns.spawn(serve_conn(tcp, Arc::clone(&shared), gen_rx.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(
    tcp: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut gen_rx: watch::Receiver<u64>,
) {
    gen_rx.mark_unchanged();
    let cfg = shared.tls.read().expect("tls lock").clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let serve = async move {
        let Ok(tls) = acceptor.accept(tcp).await else {
            return;
        };
        let svc = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), svc)
            .await;
    };
    tokio::select! {
        () = serve => {}
        _ = gen_rx.changed() => {}
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let op = ["health", "metadata", "encrypt", "decrypt"]
        .into_iter()
        .find(|op| path.ends_with(&format!("/{op}")))
        .unwrap_or("other");
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push((path, v.clone()));
    let handler = shared.handler.read().expect("handler lock").clone();
    let reply = handler(op, &v);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.hang_up {
        // A service error makes hyper close the connection without an answer.
        return Err(std::io::Error::other("stand-in proxy hangs up"));
    }
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status).expect("status");
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
