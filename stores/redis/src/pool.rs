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

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::io::tcp::TcpSettings;
use redis::{Client, ClientTlsConfig, Connection, ConnectionLike, RedisResult, TlsCertificates};

use crate::sync::{Condvar, Mutex, MutexGuard};

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

/// How the pool opens a connection: [`Connector`] for Redis, a fake one
/// in the model-checked tests.
pub(crate) trait Open {
    /// What it opens.
    type Conn;
    /// Opens one, with `timeout` on connect, read and write.
    fn open(&self, timeout: Duration) -> RedisResult<Self::Conn>;
}

impl Open for Connector {
    type Conn = Conn;

    fn open(&self, timeout: Duration) -> RedisResult<Conn> {
        match self {
            Connector::Single(client) => {
                let c = client.get_connection_with_timeout(timeout)?;
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))?;
                Ok(Conn::Single(c))
            }
            Connector::Cluster(client) => {
                let c = client.get_connection()?;
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))?;
                Ok(Conn::Cluster(Box::new(c)))
            }
        }
    }
}

/// A connection that notes whether it answered anything: a reply, or an
/// error Redis sent (the connection worked), as opposed to an I/O error.
struct Watched<'c> {
    inner: &'c mut dyn ConnectionLike,
    answered: bool,
}

impl Watched<'_> {
    fn note<T>(&mut self, r: RedisResult<T>) -> RedisResult<T> {
        self.answered |= r.as_ref().map_or_else(|e| !e.is_io_error(), |_| true);
        r
    }
}

impl ConnectionLike for Watched<'_> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<redis::Value> {
        let r = self.inner.req_packed_command(cmd);
        self.note(r)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<redis::Value>> {
        let r = self.inner.req_packed_commands(cmd, offset, count);
        self.note(r)
    }

    fn req_command(&mut self, cmd: &redis::Cmd) -> RedisResult<redis::Value> {
        let r = self.inner.req_command(cmd);
        self.note(r)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }

    fn supports_pipelining(&self) -> bool {
        self.inner.supports_pipelining()
    }

    fn check_connection(&mut self) -> bool {
        self.inner.check_connection()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

/// The pool.
pub(crate) struct Pool<O: Open = Connector> {
    opener: O,
    state: Mutex<State<O::Conn>>,
    /// Signalled when a connection comes back or one is closed.
    returned: Condvar,
    size: usize,
    timeout: Duration,
}

/// The idle connections, and how many are open (idle or in use).
struct State<C> {
    idle: Vec<C>,
    open: usize,
    /// The process these connections belong to (see [`Pool::state`]).
    pid: u32,
}

/// A connection taken from the pool: back to it with [`Pool::put`];
/// dropped, it is closed and frees its place.
pub(crate) struct Pooled<'p, O: Open = Connector> {
    conn: Option<O::Conn>,
    pool: &'p Pool<O>,
    /// It sat idle in the pool (rather than being opened for this call).
    reused: bool,
}

/// One round trip with `f` on a pooled connection, returned to the pool
/// when it worked, dropped when it did not.
///
/// A connection that sat idle may have been closed since by the server
/// (its `timeout` for idle clients, a restart) or by the network (a NAT or
/// load balancer that forgets idle flows): the command then fails at once,
/// the connection reset or at its end, without Redis having read it. When
/// nothing was answered on it this time (so no command of `f` ran), `f`
/// goes out once more on a new connection, and `reconnected` is told;
/// counting that as a failure would open the breaker and refuse a second
/// of requests after every quiet spell. A timeout is not retried: Redis may
/// still be running the command. In the rare case that Redis ran it and
/// was killed before replying, the retry runs it again: a rate limit then
/// counts the request twice, erring toward refusal.
pub(crate) fn round_trip<T>(
    pool: &Pool,
    mut f: impl FnMut(&mut dyn ConnectionLike) -> RedisResult<T>,
    reconnected: impl FnOnce(),
) -> RedisResult<T> {
    let mut conn = pool.get()?;
    let mut watched = Watched {
        inner: conn.get(),
        answered: false,
    };
    let first = f(&mut watched);
    // Only a connection that answered nothing this time was found dead: a
    // command that worked before the failure must not run twice.
    let answered = watched.answered;
    match first {
        Ok(v) => {
            pool.put(conn);
            Ok(v)
        }
        Err(e) if conn.reused && !answered && e.is_connection_dropped() && !e.is_timeout() => {
            drop(conn);
            // The others idled as long: drop them too.
            pool.clear();
            reconnected();
            let mut conn = pool.get()?;
            let again = f(conn.get());
            if again.is_ok() {
                pool.put(conn);
            }
            again
        }
        Err(e) => Err(e),
    }
}

impl<O: Open> Pooled<'_, O> {
    /// The connection.
    fn conn(&mut self) -> &mut O::Conn {
        match &mut self.conn {
            Some(c) => c,
            // Only `put` takes the connection, and it consumes `self`.
            None => unreachable!("a pooled connection is used after it was returned"),
        }
    }
}

impl Pooled<'_, Connector> {
    /// The connection, for commands, pipelines and scripts.
    pub fn get(&mut self) -> &mut dyn ConnectionLike {
        self.conn().get()
    }
}

impl<O: Open> Drop for Pooled<'_, O> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.pool.closed(1);
        }
    }
}

impl<O: Open> Pool<O> {
    /// A pool of connections `opener` opens; opens nothing yet.
    pub fn new(opener: O, size: usize, timeout: Duration) -> Self {
        Self {
            opener,
            state: Mutex::new(State {
                idle: Vec::with_capacity(size),
                open: 0,
                pid: std::process::id(),
            }),
            returned: Condvar::new(),
            size: size.max(1),
            timeout,
        }
    }

    /// An idle connection; else a new one while fewer than `size` are
    /// open; else the first to come back within the timeout; else a new
    /// one beyond `size`.
    pub fn get(&self) -> RedisResult<Pooled<'_, O>> {
        let deadline = Instant::now() + self.timeout;
        let mut waited_out = false;
        let mut state = self.state();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    conn: Some(conn),
                    pool: self,
                    reused: true,
                });
            }
            if state.open < self.size || waited_out {
                state.open += 1;
                drop(state);
                return match self.opener.open(self.timeout) {
                    Ok(conn) => Ok(Pooled {
                        conn: Some(conn),
                        pool: self,
                        reused: false,
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

    /// Returns a connection that worked: kept while fewer than `size` are
    /// idle, else closed.
    pub fn put(&self, mut pooled: Pooled<'_, O>) {
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
    /// They are closed before their places are freed, as everywhere else:
    /// a thread that opened one in a freed place while they were still
    /// open would hold more than `size` connections open without having
    /// waited out the timeout (found by the model check below).
    pub fn clear(&self) {
        let idle = {
            let mut state = self.state();
            std::mem::take(&mut state.idle)
        };
        let n = idle.len();
        drop(idle);
        if n > 0 {
            self.closed(n);
        }
    }

    /// The pool's state, locked, as this process may use it. In a child
    /// forked since the connections were opened (a pre-forking server:
    /// gunicorn's `--preload`, a C gateway's workers), every one of them
    /// is a socket the parent and its other children share: a command
    /// sent on it could read another process's reply, and a rate limit
    /// would count the wrong key. The child never uses them: they are
    /// forgotten, not closed (closing a TLS connection would write its
    /// close alert into the parent's session; the descriptors stay open
    /// in the child, at most `size` of them), the connections in use by
    /// the parent's other threads are no longer counted (those threads do
    /// not exist here), and the child opens its own.
    fn state(&self) -> MutexGuard<'_, State<O::Conn>> {
        let mut state = self.state.lock();
        let me = std::process::id();
        if state.pid != me {
            std::mem::forget(std::mem::take(&mut state.idle));
            state.open = 0;
            state.pid = me;
        }
        state
    }

    /// `n` connections were closed: their places are free.
    fn closed(&self, n: usize) {
        let mut state = self.state.lock();
        state.open = state.open.saturating_sub(n);
        drop(state);
        self.returned.notify_all();
    }
}

/// The pool's protocol under shuttle's scheduler (`make modelcheck`):
/// threads take, return and fail fake connections and clear the pool while
/// shuttle chooses who runs next at every lock, wait and notification, and
/// whether a wait times out. A waiter nobody wakes is a deadlock shuttle
/// reports; a connection opened beyond `size` without a timed-out wait, or
/// one the count of open connections misses, fails the run.
#[cfg(all(test, feature = "shuttle"))]
mod model {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use shuttle::rand::Rng;

    use super::*;
    use crate::sync::timeouts;

    /// Opens fake connections and counts those alive; with `fails`, one
    /// open in four fails.
    struct Fake {
        live: Arc<AtomicUsize>,
        size: usize,
        /// Timed-out waits before the run began.
        timeouts_before: usize,
        fails: bool,
    }

    /// A fake connection: alive until dropped.
    struct FakeConn(Arc<AtomicUsize>);

    impl Drop for FakeConn {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }

    impl Open for Fake {
        type Conn = FakeConn;

        fn open(&self, _: Duration) -> RedisResult<FakeConn> {
            // Connecting takes a while: others run meanwhile.
            shuttle::thread::yield_now();
            if self.fails && shuttle::rand::thread_rng().gen_range(0..4) == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into());
            }
            let live = self.live.fetch_add(1, SeqCst) + 1;
            let overflow = timeouts() - self.timeouts_before;
            assert!(
                live <= self.size + overflow,
                "{live} connections alive on a pool of {} after {overflow} timed-out waits",
                self.size
            );
            Ok(FakeConn(self.live.clone()))
        }
    }

    /// `threads` threads each take a connection `rounds` times and give it
    /// back; with `fails`, opens fail and a taken connection fails one time
    /// in three (dropped, then the pool cleared, as the store does).
    fn run(size: usize, threads: usize, rounds: usize, fails: bool) {
        let live = Arc::new(AtomicUsize::new(0));
        let fake = Fake {
            live: live.clone(),
            size,
            timeouts_before: timeouts(),
            fails,
        };
        let pool = Arc::new(Pool::new(fake, size, Duration::from_secs(1)));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let pool = pool.clone();
                shuttle::thread::spawn(move || {
                    for _ in 0..rounds {
                        let Ok(conn) = pool.get() else {
                            assert!(fails, "only an open that fails fails a get");
                            continue;
                        };
                        if fails && shuttle::rand::thread_rng().gen_range(0..3) == 0 {
                            drop(conn);
                            pool.clear();
                        } else {
                            pool.put(conn);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let state = pool.state.lock();
        assert_eq!(state.open, live.load(SeqCst), "the open count is exact");
        assert_eq!(state.idle.len(), state.open, "every connection came back");
        assert!(state.idle.len() <= size, "no more than `size` are kept");
    }

    /// Runs `body` under PCT at bug depths 2 and 3, then under random
    /// schedules, `iterations` × `MODELCHECK_SCALE` (default 10) times each.
    fn check(name: &str, iterations: usize, body: fn()) {
        let scale: usize = std::env::var("MODELCHECK_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let iterations = iterations * scale;
        for depth in [2, 3] {
            shuttle::check_pct(body, iterations, depth);
        }
        shuttle::check_random(body, iterations);
        println!(
            "{name}: {} schedules (PCT depth 2 and 3, then random)",
            3 * iterations
        );
    }

    #[test]
    fn three_threads_on_a_pool_of_one_never_wait_for_a_wakeup_that_does_not_come() {
        check("pool of one, three threads", 5000, || run(1, 3, 2, false));
    }

    #[test]
    fn failed_opens_failed_connections_and_clears_keep_the_open_count_exact() {
        check("pool of two, failures", 5000, || run(2, 3, 2, true));
    }
}

/// [`round_trip`]'s retry against a real redis-server (started here on a
/// free port): a connection closed while idle is retried once; one that
/// answered before it broke is not, so no command runs twice.
#[cfg(all(test, not(feature = "shuttle")))]
mod retry {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    struct Server(Child, u16);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn server() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (make test installs it)");
        let server = Server(child, port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while admin(&server, &["PING"]).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn admin(server: &Server, args: &[&str]) -> RedisResult<redis::Value> {
        let client = Client::open(format!("redis://127.0.0.1:{}/0", server.1))?;
        let mut c = client.get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c)
    }

    fn pool(server: &Server) -> Pool {
        let client = Client::open(format!("redis://127.0.0.1:{}/0", server.1)).unwrap();
        Pool::new(Connector::Single(client), 2, Duration::from_secs(2))
    }

    fn counter(server: &Server) -> i64 {
        match admin(server, &["GET", "k"]).unwrap() {
            redis::Value::BulkString(b) => String::from_utf8(b).unwrap().parse().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_idle_connection_found_closed_is_retried_once_on_a_new_one() {
        let server = server();
        let pool = pool(&server);
        round_trip(&pool, |c| redis::cmd("PING").query::<()>(c), || ()).unwrap();
        admin(
            &server,
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
        )
        .unwrap();
        let mut reconnects = 0;
        let n: i64 = round_trip(
            &pool,
            |c| redis::cmd("INCR").arg("k").query(c),
            || reconnects += 1,
        )
        .unwrap();
        assert_eq!((n, reconnects, counter(&server)), (1, 1, 1));
    }

    #[test]
    fn a_connection_that_answered_before_it_broke_is_not_retried() {
        let server = server();
        let pool = pool(&server);
        round_trip(&pool, |c| redis::cmd("PING").query::<()>(c), || ()).unwrap();
        let mut reconnects = 0;
        let result: RedisResult<i64> = round_trip(
            &pool,
            |c| {
                let id: i64 = redis::cmd("CLIENT").arg("ID").query(c)?;
                let _: i64 = redis::cmd("INCR").arg("k").query(c)?;
                admin(&server, &["CLIENT", "KILL", "ID", &id.to_string()])?;
                redis::cmd("INCR").arg("k").query(c)
            },
            || reconnects += 1,
        );
        assert!(result.is_err_and(|e| e.is_connection_dropped()));
        assert_eq!(reconnects, 0);
        assert_eq!(counter(&server), 1, "the first INCR ran once");
    }
}
