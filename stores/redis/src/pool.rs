//! Connections to one Redis server or one Redis Cluster: opened with the
//! configured timeout for connect, read and write, and kept for reuse.
//!
//! `pool_size` connections are kept. A thread that finds none idle opens
//! one while fewer are open, and otherwise waits for one to come back. Only
//! when none comes back within the timeout (a slow Redis, or a queue that
//! deep) does it open one of its own, closed when it comes back to a full
//! pool, so a request is never failed for want of a pooled connection. An
//! earlier pool opened that extra connection at once: a steady load above
//! the pool size opened and closed a connection per request, thousands a
//! second (each a TCP handshake and `HELLO`). A connection that failed is
//! never reused. A small pool of our own on parking_lot rather than r2d2:
//! r2d2's manager for `redis::Client` connects without a timeout, and a
//! pool must never be the place a request hangs.
//!
//! A cluster connection is the `redis` crate's synchronous
//! `ClusterConnection`: it sends each command to the node that holds its
//! hash slot (every command of ours names keys of one slot), follows
//! `MOVED` and `ASK`, and refreshes its slot map when the cluster changes.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::io::tcp::TcpSettings;
use redis::{Client, ClientTlsConfig, Connection, ConnectionLike, RedisResult, TlsCertificates};

/// How connections are opened.
pub(crate) enum Connector {
    /// One server.
    Single(Client),
    /// A cluster, from any of its nodes.
    Cluster(ClusterClient),
}

impl Connector {
    /// The connector `config` names: its cluster (`cluster` or `urls`) or
    /// its one server, with the rustls provider installed for `rediss://`.
    pub fn for_config(
        config: &mcpguard::shared::RedisConfig,
        timeout: Duration,
    ) -> RedisResult<Self> {
        if config.nodes().any(|u| u.starts_with("rediss://")) {
            crate::install_tls_provider();
        }
        let tls = tls_files(config);
        if config.is_cluster() {
            Connector::cluster(config.nodes(), timeout, tls)
        } else {
            Connector::single(&config.url, tls)
        }
    }

    /// A connector for one server at `url`; `tls` replaces the public web
    /// roots (a private CA) and presents a client certificate, for
    /// `rediss://`.
    pub fn single(url: &str, tls: Option<TlsCertificates>) -> RedisResult<Self> {
        use redis::IntoConnectionInfo;
        let info = url.into_connection_info()?.set_tcp_settings(tcp());
        match tls {
            Some(tls) => Client::build_with_tls(info, tls),
            None => Client::open(info),
        }
        .map(Self::Single)
    }

    /// A connector for the cluster that `nodes` belong to. A `MOVED` or
    /// `ASK` is followed at once (no back-off): the round trip's timeout
    /// bounds the whole request.
    pub fn cluster<'a>(
        nodes: impl IntoIterator<Item = &'a str>,
        timeout: Duration,
        tls: Option<TlsCertificates>,
    ) -> RedisResult<Self> {
        let mut builder = ClusterClient::builder(nodes.into_iter().map(str::to_owned))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .tcp_settings(tcp())
            .retries(2)
            .min_retry_wait(0)
            .max_retry_wait(0);
        if let Some(tls) = tls {
            builder = builder.certs(tls);
        }
        builder.build().map(Self::Cluster)
    }
}

/// What `config` says about TLS beyond the URL: a private CA's
/// certificates as the only roots (`ca_pem`; else the public web roots) and
/// a client certificate with its key (`client_cert_pem`, `client_key_pem`).
/// `None` when it says neither.
fn tls_files(config: &mcpguard::shared::RedisConfig) -> Option<TlsCertificates> {
    let client_tls = match (&config.client_cert_pem, &config.client_key_pem) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: cert.as_bytes().to_vec(),
            client_key: key.as_bytes().to_vec(),
        }),
        _ => None,
    };
    let root_cert = config.ca_pem.as_ref().map(|pem| pem.as_bytes().to_vec());
    (client_tls.is_some() || root_cert.is_some()).then_some(TlsCertificates {
        client_tls,
        root_cert,
    })
}

/// TCP_NODELAY: a request is one small write answered by one small read;
/// Nagle's algorithm may only ever delay it.
fn tcp() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

/// One pooled connection.
pub(crate) enum Conn {
    /// To one server.
    Single(Connection),
    /// To a cluster (one connection per node it has talked to).
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    /// The connection, for commands, pipelines and scripts.
    pub fn get(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c.as_mut(),
        }
    }
}

/// The pool.
pub(crate) struct Pool {
    connector: Connector,
    state: Mutex<State>,
    /// Signalled when a connection comes back or one is closed.
    returned: Condvar,
    size: usize,
    timeout: Duration,
}

/// The idle connections, and how many are open (idle or in use).
struct State {
    idle: Vec<Conn>,
    open: usize,
}

/// A connection taken from the pool: back to it with [`Pool::put`];
/// dropped, it is closed and frees its place.
pub(crate) struct Pooled<'p> {
    conn: Option<Conn>,
    pool: &'p Pool,
}

impl Pooled<'_> {
    /// The connection, for commands, pipelines and scripts.
    pub fn get(&mut self) -> &mut dyn ConnectionLike {
        match &mut self.conn {
            Some(c) => c.get(),
            // Only `put` takes the connection, and it consumes `self`.
            None => unreachable!("a pooled connection is used after it was returned"),
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.pool.closed(1);
        }
    }
}

impl Pool {
    /// A pool for `connector`; connects nothing yet.
    pub fn new(connector: Connector, size: usize, timeout: Duration) -> Self {
        Self {
            connector,
            state: Mutex::new(State {
                idle: Vec::with_capacity(size),
                open: 0,
            }),
            returned: Condvar::new(),
            size: size.max(1),
            timeout,
        }
    }

    /// An idle connection; else a new one while fewer than `size` are
    /// open; else the first to come back within the timeout; else a new
    /// one beyond `size`.
    pub fn get(&self) -> RedisResult<Pooled<'_>> {
        let deadline = Instant::now() + self.timeout;
        let mut waited_out = false;
        let mut state = self.state.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    conn: Some(conn),
                    pool: self,
                });
            }
            if state.open < self.size || waited_out {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Pooled {
                        conn: Some(conn),
                        pool: self,
                    }),
                    Err(e) => {
                        self.closed(1);
                        Err(e)
                    }
                };
            }
            waited_out = self.returned.wait_until(&mut state, deadline).timed_out();
        }
    }

    /// Opens a connection with the timeout on connect, read and write.
    fn connect(&self) -> RedisResult<Conn> {
        match &self.connector {
            Connector::Single(client) => {
                let c = client.get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(Conn::Single(c))
            }
            Connector::Cluster(client) => {
                let c = client.get_connection()?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(Conn::Cluster(Box::new(c)))
            }
        }
    }

    /// Returns a connection that worked: kept while fewer than `size` are
    /// idle, else closed.
    pub fn put(&self, mut pooled: Pooled<'_>) {
        let Some(conn) = pooled.conn.take() else {
            return;
        };
        let mut state = self.state.lock();
        if state.idle.len() < self.size {
            state.idle.push(conn);
            drop(state);
            self.returned.notify_one();
        } else {
            drop(state);
            drop(conn);
            self.closed(1);
        }
    }

    /// Closes every idle connection (after a failure: they may all be dead).
    pub fn clear(&self) {
        let idle = {
            let mut state = self.state.lock();
            std::mem::take(&mut state.idle)
        };
        if !idle.is_empty() {
            self.closed(idle.len());
        }
    }

    /// `n` connections were closed: their places are free.
    fn closed(&self, n: usize) {
        let mut state = self.state.lock();
        state.open = state.open.saturating_sub(n);
        drop(state);
        self.returned.notify_all();
    }
}
