//! A real `redis-server` for the tests: started on a free port with no
//! persistence, stopped (killed) when dropped. A missing `redis-server` is
//! a failure with a message saying how to install it, never a skip.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One redis-server process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A free port for a cluster node. Its cluster bus listens 10,000 higher,
/// so the port is at most 55535 (redis-server refuses a higher one) and
/// that one is free too. Picking any free port happened to work only
/// because the standard library's listener sets `SO_REUSEADDR`, which
/// makes Linux hand out ports from the lower half of its range.
pub fn free_node_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Server {
    /// A new server on a free port, ready for commands.
    pub fn start() -> Server {
        Self::start_on(free_port())
    }

    /// A new (empty) server on `port`, ready for commands.
    pub fn start_on(port: u16) -> Server {
        Self::start_with(port, &[])
    }

    /// A new (empty) server on `port` with more `redis-server` arguments,
    /// ready for commands.
    pub fn start_with(port: u16, extra: &[&str]) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it with \
                     `apt-get install -y redis-server` (make test does)"
                )
            });
        let server = Server {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.try_cmd(&["PING"]).is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Runs one command, panicking on failure.
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// Runs one command.
    pub fn try_cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(&mut conn)
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A redis-server serving TLS on a port of its own (the harness keeps a
/// plain one), its certificate signed by a test CA; its files live in a
/// directory removed with it.
pub struct TlsServer {
    /// The server (its plain port is the harness's).
    pub server: Server,
    /// The TLS port on 127.0.0.1.
    pub tls_port: u16,
    dir: std::path::PathBuf,
}

impl TlsServer {
    /// Starts one whose certificate `ca` signed; with `ask_clients`, it
    /// asks every client for a certificate `ca` signed
    /// (`tls-auth-clients yes`).
    pub fn start(ca: &mcpguard_testkit::tls::TestCa, ask_clients: bool) -> TlsServer {
        let tls_port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "mcpguard-redis-tls-{}-{tls_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let (cert, key, ca_file) = (
            write("server.pem", &ca.cert_pem),
            write("server.key", &ca.key_pem),
            write("ca.pem", &ca.ca_pem),
        );
        let port = tls_port.to_string();
        let server = Server::start_with(
            free_port(),
            &[
                "--tls-port",
                &port,
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca_file,
                "--tls-auth-clients",
                if ask_clients { "yes" } else { "no" },
            ],
        );
        TlsServer {
            server,
            tls_port,
            dir,
        }
    }

    /// `rediss://127.0.0.1:<tls port>/0`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.tls_port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries (no replicas) on free ports, joined
/// by `redis-cli --cluster create`, its state in a temporary directory;
/// stopped when dropped.
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<Server>,
    dir: std::path::PathBuf,
}

impl Cluster {
    /// Starts three primaries, joins them and waits until every slot is
    /// served.
    pub fn start() -> Cluster {
        Self::start_with_replicas(0)
    }

    /// Starts three primaries and `replicas` replicas of each (with
    /// replicas, a node timeout of one second, so that a dead primary's
    /// replica takes over within seconds),
    /// joins them and waits until every slot is served.
    pub fn start_with_replicas(replicas: usize) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "mcpguard-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes: Vec<Server> = (0..3 * (1 + replicas))
            .map(|_| {
                let port = free_node_port();
                let conf = dir.join(format!("nodes-{port}.conf"));
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().unwrap(),
                    "--dir",
                    dir.to_str().unwrap(),
                ];
                // Quick failover where there is a replica to take over;
                // Redis's default (15 s) elsewhere, so that a node slowed
                // by a busy machine is never taken for dead.
                if replicas > 0 {
                    args.extend(["--cluster-node-timeout", "1000"]);
                }
                Server::start_with(port, &args)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli (package redis-tools, a dependency of redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster { nodes, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.nodes.iter().all(|n| {
            matches!(n.try_cmd(&["CLUSTER", "INFO"]),
                Ok(redis::Value::VerbatimString { text, .. }) if text.contains("cluster_state:ok"))
                || matches!(n.try_cmd(&["CLUSTER", "INFO"]),
                Ok(redis::Value::BulkString(b)) if String::from_utf8_lossy(&b).contains("cluster_state:ok"))
        }) {
            assert!(Instant::now() < deadline, "the cluster never became ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Every node's URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// This node's cluster id.
    pub fn node_id(&self) -> String {
        match self.cmd(&["CLUSTER", "MYID"]) {
            redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("CLUSTER MYID: {other:?}"),
        }
    }
}

/// A configuration document with the Redis store at `url`.
pub fn config(url: &str, prefix: &str, on_error: &str, rate_limit: serde_json::Value) -> String {
    serde_json::json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [], "required": false },
        "rate_limit": rate_limit,
        "store": { "redis": {
            "url": url, "prefix": prefix, "timeout_ms": 100, "pool_size": 8,
            "on_error": on_error
        } }
    })
    .to_string()
}

/// An HS256 token (the testkit's key, see `mcpguard_testkit::hmac_jwks`)
/// from `https://auth.example.com` for `https://mcp.example.com/mcp`,
/// issued now and valid for an hour, with `claims` merged in (`sub`,
/// `client_id`, `jti`…).
pub fn token(claims: serde_json::Value) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut all = serde_json::json!({
        "iss": "https://auth.example.com", "aud": "https://mcp.example.com/mcp",
        "exp": now + 3600, "iat": now
    });
    mcpguard_testkit::merge(&mut all, claims);
    mcpguard_testkit::sign_hs256(&all)
}

/// A configuration on `url` that validates the testkit's HS256 tokens and
/// keeps opaque tokens, with revocations and opaque tokens in Redis under
/// `prefix`, and `on_error`.
pub fn token_config(url: &str, prefix: &str, on_error: &str) -> String {
    serde_json::json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": {
            "opaque_tokens": true,
            "issuers": [{
                "issuer": "https://auth.example.com",
                "jwks": mcpguard_testkit::hmac_jwks()
            }]
        },
        "store": { "redis": { "url": url, "prefix": prefix, "timeout_ms": 200,
                              "on_error": on_error } }
    })
    .to_string()
}

/// The value of the metric `name` in `guard`'s Prometheus text.
pub fn metric(guard: &mcpguard::guard::Guard, name: &str) -> f64 {
    let text = guard.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}
