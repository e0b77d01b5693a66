//! A real local HTTP(S) server for the fetcher's tests: a CA and a server
//! certificate generated at test time (`mcpguard_testkit::tls`), rustls on a std
//! `TcpListener`, requests parsed with httparse, one request per
//! connection. Routes are set (and changed) while it runs; every request is
//! counted per path.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The test CA (its PEM goes into `auth.fetch.ca_pem`) and a server
/// configuration for `localhost` and `127.0.0.1` signed by it.
pub struct Tls {
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

pub fn tls() -> Tls {
    let ca = mcpguard_testkit::tls::test_ca("mcpguard-fetch test CA");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(ca.cert_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.key_der)),
    )
    .unwrap();
    Tls {
        ca_pem: ca.ca_pem,
        config: Arc::new(config),
    }
}

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(body: impl Into<String>) -> Resp {
        Resp {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
        }
    }

    pub fn status(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    pub fn redirect(location: &str) -> Resp {
        Resp {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: vec![],
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

enum Route {
    Fixed(Resp),
    Dynamic(Handler),
}

#[derive(Default)]
struct Routes {
    map: HashMap<String, Route>,
    hits: HashMap<String, usize>,
}

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    scheme: &'static str,
    routes: Arc<Mutex<Routes>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// HTTPS with `tls`'s certificate, on a free loopback port.
    pub fn https(tls: &Tls) -> Server {
        Self::start(TcpListener::bind("127.0.0.1:0").unwrap(), Some(tls))
    }

    /// Plain HTTP on a free loopback port.
    pub fn http() -> Server {
        Self::start(TcpListener::bind("127.0.0.1:0").unwrap(), None)
    }

    /// On a given listener (to take a port back).
    pub fn start(listener: TcpListener, tls: Option<&Tls>) -> Server {
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let config = tls.map(|t| Arc::clone(&t.config));
        let (r, s) = (Arc::clone(&routes), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (r, config) = (Arc::clone(&r), config.clone());
                std::thread::spawn(move || serve(conn, config, &r));
            }
        });
        Server {
            addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            routes,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://localhost:<port>` (or `http://127.0.0.1:<port>`).
    pub fn origin(&self) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}", self.addr.port()),
            _ => format!("http://127.0.0.1:{}", self.addr.port()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    pub fn set(&self, path: &str, resp: Resp) {
        self.routes
            .lock()
            .map
            .insert(path.into(), Route::Fixed(resp));
    }

    pub fn handle(&self, path: &str, f: impl Fn(&Req) -> Resp + Send + Sync + 'static) {
        self.routes
            .lock()
            .map
            .insert(path.into(), Route::Dynamic(Arc::new(f)));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.routes.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// Waits until `path` was hit at least `n` times (at most `timeout`).
    pub fn wait_hits(&self, path: &str, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.hits(path) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.hits(path) >= n
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, routes: &Mutex<Routes>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    match tls {
        Some(config) => {
            let Ok(session) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut stream = rustls::StreamOwned::new(session, conn);
            exchange(&mut stream, routes);
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
        None => {
            let mut conn = conn;
            exchange(&mut conn, routes);
        }
    }
}

fn exchange(stream: &mut (impl Read + Write), routes: &Mutex<Routes>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (req, body_start) = loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = parsed.parse(&buf) {
            let req = Req {
                method: parsed.method.unwrap_or("").to_owned(),
                path: parsed.path.unwrap_or("").to_owned(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                body: Vec::new(),
            };
            break (req, len);
        }
    };
    let mut req = req;
    let want: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[body_start..].to_vec();
    while body.len() < want {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    req.body = body;
    let path = req.path.split('?').next().unwrap_or("").to_owned();
    let resp = {
        let mut r = routes.lock();
        *r.hits.entry(path.clone()).or_default() += 1;
        match r.map.get(&path) {
            Some(Route::Fixed(resp)) => Ok(resp.clone()),
            Some(Route::Dynamic(h)) => Err(Arc::clone(h)),
            None => Ok(Resp::status(404)),
        }
    };
    let resp = resp.unwrap_or_else(|h| h(&req));
    let mut head = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", resp.status);
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", resp.body.len()));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&resp.body);
    let _ = stream.flush();
}
