//! A file-backed [`OAuthStore`] for mcpguard's embedded authorization
//! server: one SQLite database (rusqlite, SQLite bundled), surviving
//! restarts with nothing lost.
//!
//! Every write that issues, spends or rotates a credential runs in one
//! `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock before
//! reading: two requests racing on one code or refresh token — in this
//! process or in another one sharing the file — are serialized, and exactly
//! one wins. The journal is in WAL mode with `synchronous = FULL`, so a
//! committed credential survives a crash or a power loss.
//!
//! Records are kept as JSON (their serde form) beside the columns the
//! queries need (expiry, spent and revoked flags, family ids); credentials
//! appear only as the hashes the engine hands over.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcpguard::guard::Guard;
//! use mcpguard::oauth::AuthorizationServer;
//! let guard = Guard::from_file("mcpguard.json").unwrap();
//! let settings = guard.authorization_server_settings().unwrap();
//! let store = mcpguard_sqlite::open_configured(&settings.storage, None).unwrap();
//! let server = AuthorizationServer::new(&guard, store).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcpguard::oauth::{
    AuthorizationCode, ClientRecord, CodeRedemption, IssuedAccess, MemoryOAuthStore, OAuthStore,
    PendingAuthorization, RefreshFamily, RefreshToken, Rotation, StorageConfig, StoreError,
    TOMBSTONE_SECONDS,
};
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// How long a connection waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    id_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS families (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY,
    family_id TEXT,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS access_tokens_by_family ON access_tokens (family_id);
";

/// The SQLite store. One connection behind a lock; cheap to share in an `Arc`.
pub struct SqliteOAuthStore {
    conn: Mutex<Opened>,
    /// The database file (`None`: in memory).
    path: Option<PathBuf>,
}

/// The connection, and the process that opened it.
struct Opened {
    conn: Connection,
    pid: u32,
}

impl std::fmt::Debug for SqliteOAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOAuthStore").finish_non_exhaustive()
    }
}

/// The store the `storage` value of the `authorization_server` section asks
/// for: memory, or an SQLite file (relative to `base_dir` when given). The
/// Redis store needs the `store.redis` connection: `mcpguard-host` opens it.
pub fn open_configured(
    storage: &StorageConfig,
    base_dir: Option<&Path>,
) -> Result<Arc<dyn OAuthStore>, StoreError> {
    Ok(match storage {
        StorageConfig::Memory {} => Arc::new(MemoryOAuthStore::new()),
        StorageConfig::Sqlite { path } => {
            let path = match base_dir {
                Some(dir) => dir.join(path),
                None => path.into(),
            };
            Arc::new(SqliteOAuthStore::open(path)?)
        }
        StorageConfig::Redis {} => {
            return Err(StoreError::Backend(
                "authorization_server.storage is redis: the store is opened on the \
                 configuration's store.redis connection (mcpguard-host), not here"
                    .into(),
            ));
        }
    })
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(what, e.to_string()))
}

impl SqliteOAuthStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Self::connect(&path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(SqliteOAuthStore {
            conn: Mutex::new(Opened {
                conn,
                pid: std::process::id(),
            }),
            path: Some(path),
        })
    }

    /// A private database in memory (for tests; lost when dropped).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        Self::configure(&conn, false)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(SqliteOAuthStore {
            conn: Mutex::new(Opened {
                conn,
                pid: std::process::id(),
            }),
            path: None,
        })
    }

    /// A connection to the file at `path`, configured.
    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot open the SQLite database {}: {e}",
                path.display()
            ))
        })?;
        Self::configure(&conn, true)?;
        Ok(conn)
    }

    fn configure(conn: &Connection, file: bool) -> Result<(), StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        if file {
            // WAL lets readers run beside the writer; FULL makes each commit durable.
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(backend)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Backend(format!(
                    "sqlite: the database refused WAL mode (got {mode})"
                )));
            }
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(backend)?;
        Ok(())
    }

    /// The connection, locked, as this process may use it. SQLite forbids
    /// using a connection in a child forked after it was opened (its file
    /// locks are the parent's; "How To Corrupt An SQLite Database File",
    /// §2.6): a child (a pre-forking server's worker) opens the file
    /// again. The inherited connection is forgotten, not closed: closing
    /// it could release locks the parent holds.
    fn conn(&self) -> Result<MappedMutexGuard<'_, Connection>, StoreError> {
        let mut opened = self.conn.lock();
        let me = std::process::id();
        if opened.pid != me {
            if let Some(path) = &self.path {
                let fresh = Self::connect(path)?;
                std::mem::forget(std::mem::replace(&mut opened.conn, fresh));
            }
            // In memory, the child has its own copy of the database.
            opened.pid = me;
        }
        Ok(MutexGuard::map(opened, |o| &mut o.conn))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed when `f`
    /// returns `Ok`, rolled back otherwise.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let out = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&*self.conn()?)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn insert(
    conn: &Connection,
    what: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<(), StoreError> {
    conn.execute(sql, params).map(|_| ()).map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate(what)
        } else {
            backend(e)
        }
    })
}

/// The one row `sql` selects by `key` as (text, flag), if there is one: a
/// stored record with its spent or revoked mark.
fn text_and_flag(
    conn: &Connection,
    sql: &str,
    key: &str,
) -> Result<Option<(String, bool)>, StoreError> {
    conn.query_row(sql, [key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend)
}

/// The record (JSON) of the one row `sql` selects by `key`, read as a `T`
/// (`what` names it in errors).
fn record<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: &str,
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = conn
        .query_row(sql, [key], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    text.map(|t| from_json(what, &t)).transpose()
}

fn family(conn: &Connection, id: &str) -> Result<Option<RefreshFamily>, StoreError> {
    let row = text_and_flag(
        conn,
        "SELECT record, revoked FROM families WHERE id = ?1",
        id,
    )?;
    row.map(|(text, revoked)| {
        let mut f: RefreshFamily = from_json("refresh family", &text)?;
        f.revoked = revoked;
        Ok(f)
    })
    .transpose()
}

/// Marks `family_id` and its access tokens revoked; returns the tokens
/// expiring after `now`.
fn revoke_family_in(
    tx: &Transaction<'_>,
    family_id: &str,
    now: i64,
) -> Result<Vec<IssuedAccess>, StoreError> {
    tx.execute("UPDATE families SET revoked = 1 WHERE id = ?1", [family_id])
        .map_err(backend)?;
    tx.execute(
        "UPDATE access_tokens SET revoked = 1 WHERE family_id = ?1",
        [family_id],
    )
    .map_err(backend)?;
    let mut stmt = tx
        .prepare(
            "SELECT jti, expires_at FROM access_tokens WHERE family_id = ?1 AND expires_at > ?2",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![family_id, now], |r| {
            Ok(IssuedAccess {
                jti: r.get(0)?,
                expires_at: r.get(1)?,
                family_id: Some(family_id.to_string()),
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

fn insert_access(tx: &Transaction<'_>, access: &IssuedAccess) -> Result<(), StoreError> {
    insert(
        tx,
        "access token",
        "INSERT INTO access_tokens (jti, family_id, expires_at) VALUES (?1, ?2, ?3)",
        params![access.jti, access.family_id, access.expires_at],
    )
}

impl OAuthStore for SqliteOAuthStore {
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let record = to_json(client)?;
        self.write(|tx| {
            insert(
                tx,
                "client",
                "INSERT INTO clients (client_id, record) VALUES (?1, ?2)",
                params![client.client_id, record],
            )
        })
    }

    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.read(|c| {
            record(
                c,
                "SELECT record FROM clients WHERE client_id = ?1",
                client_id,
                "client",
            )
        })
    }

    fn insert_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let record = to_json(pending)?;
        self.write(|tx| {
            insert(
                tx,
                "pending authorization",
                "INSERT INTO pending (id_hash, expires_at, record) VALUES (?1, ?2, ?3)",
                params![pending.id_hash, pending.expires_at, record],
            )
        })
    }

    fn pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        self.read(|c| {
            record(
                c,
                "SELECT record FROM pending WHERE id_hash = ?1",
                id_hash,
                "pending authorization",
            )
        })
    }

    fn take_pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        self.write(|tx| {
            let pending = record(
                tx,
                "SELECT record FROM pending WHERE id_hash = ?1",
                id_hash,
                "pending authorization",
            )?;
            tx.execute("DELETE FROM pending WHERE id_hash = ?1", [id_hash])
                .map_err(backend)?;
            Ok(pending)
        })
    }

    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let record = to_json(code)?;
        self.write(|tx| {
            insert(
                tx,
                "authorization code",
                "INSERT INTO codes (code_hash, expires_at, record) VALUES (?1, ?2, ?3)",
                params![code.code_hash, code.expires_at, record],
            )
        })
    }

    fn code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        self.read(|c| {
            record(
                c,
                "SELECT record FROM codes WHERE code_hash = ?1",
                code_hash,
                "authorization code",
            )
        })
    }

    fn redeem_code(&self, code_hash: &str) -> Result<CodeRedemption, StoreError> {
        self.write(|tx| {
            let row = text_and_flag(
                tx,
                "SELECT record, spent FROM codes WHERE code_hash = ?1",
                code_hash,
            )?;
            let Some((text, spent)) = row else {
                return Ok(CodeRedemption::Unknown);
            };
            let code: AuthorizationCode = from_json("authorization code", &text)?;
            if spent {
                return Ok(CodeRedemption::Reused(code));
            }
            tx.execute(
                "UPDATE codes SET spent = 1 WHERE code_hash = ?1",
                [code_hash],
            )
            .map_err(backend)?;
            Ok(CodeRedemption::Redeemed(code))
        })
    }

    fn issue_family(
        &self,
        family_rec: &RefreshFamily,
        refresh: Option<&RefreshToken>,
        access: &IssuedAccess,
    ) -> Result<bool, StoreError> {
        let record = to_json(family_rec)?;
        self.write(|tx| {
            if let Some(existing) = family(tx, &family_rec.id)? {
                if existing.revoked {
                    return Ok(false);
                }
                return Err(StoreError::Duplicate("refresh family"));
            }
            insert(
                tx,
                "refresh family",
                "INSERT INTO families (id, expires_at, revoked, record) VALUES (?1, ?2, ?3, ?4)",
                params![family_rec.id, family_rec.expires_at, family_rec.revoked, record],
            )?;
            if let Some(r) = refresh {
                insert(
                    tx,
                    "refresh token",
                    "INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES (?1, ?2, ?3)",
                    params![r.token_hash, r.family_id, r.expires_at],
                )?;
            }
            insert_access(tx, access)?;
            Ok(true)
        })
    }

    fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError> {
        self.read(|c| {
            let token: Option<RefreshToken> = c
                .query_row(
                    "SELECT family_id, expires_at FROM refresh_tokens WHERE token_hash = ?1",
                    [token_hash],
                    |r| {
                        Ok(RefreshToken {
                            token_hash: token_hash.to_string(),
                            family_id: r.get(0)?,
                            expires_at: r.get(1)?,
                        })
                    },
                )
                .optional()
                .map_err(backend)?;
            let Some(token) = token else {
                return Ok(None);
            };
            Ok(family(c, &token.family_id)?.map(|f| (token, f)))
        })
    }

    fn rotate_refresh(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        access: &IssuedAccess,
    ) -> Result<Rotation, StoreError> {
        self.write(|tx| {
            let row = text_and_flag(
                tx,
                "SELECT family_id, spent FROM refresh_tokens WHERE token_hash = ?1",
                old_hash,
            )?;
            let Some((family_id, spent)) = row else {
                return Ok(Rotation::Unknown);
            };
            let Some(mut fam) = family(tx, &family_id)? else {
                return Ok(Rotation::Unknown);
            };
            if fam.revoked {
                return Ok(Rotation::Revoked(fam));
            }
            if spent {
                // No clock here: every recorded token is returned and the
                // engine drops those already expired.
                let tokens = revoke_family_in(tx, &family_id, i64::MIN)?;
                fam.revoked = true;
                return Ok(Rotation::Reused(fam, tokens));
            }
            tx.execute(
                "UPDATE refresh_tokens SET spent = 1 WHERE token_hash = ?1",
                [old_hash],
            )
            .map_err(backend)?;
            insert(
                tx,
                "refresh token",
                "INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES (?1, ?2, ?3)",
                params![new.token_hash, new.family_id, new.expires_at],
            )?;
            insert_access(tx, access)?;
            Ok(Rotation::Rotated(fam))
        })
    }

    fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        self.write(|tx| {
            if family(tx, family_id)?.is_none() {
                // A tombstone, so the family a reused code would have
                // produced can no longer be created.
                let tombstone = RefreshFamily {
                    id: family_id.to_string(),
                    client_id: String::new(),
                    subject: String::new(),
                    resource: String::new(),
                    scope_ceiling: Vec::new(),
                    expires_at: now.saturating_add(TOMBSTONE_SECONDS),
                    revoked: true,
                };
                insert(
                    tx,
                    "refresh family",
                    "INSERT INTO families (id, expires_at, revoked, record) VALUES (?1, ?2, 1, ?3)",
                    params![family_id, tombstone.expires_at, to_json(&tombstone)?],
                )?;
            }
            revoke_family_in(tx, family_id, now)
        })
    }

    fn revoke_access(&self, access: &IssuedAccess) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO access_tokens (jti, family_id, expires_at, revoked) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (jti) DO UPDATE SET revoked = 1",
                params![access.jti, access.family_id, access.expires_at],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn revoked_access(&self, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT a.jti, a.expires_at, a.family_id FROM access_tokens a
                     LEFT JOIN families f ON f.id = a.family_id
                     WHERE a.expires_at > ?1 AND (a.revoked = 1 OR f.revoked = 1)",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([now], |r| {
                    Ok(IssuedAccess {
                        jti: r.get(0)?,
                        expires_at: r.get(1)?,
                        family_id: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut n = 0;
            for table in [
                "pending",
                "codes",
                "refresh_tokens",
                "families",
                "access_tokens",
            ] {
                n += tx
                    .execute(&format!("DELETE FROM {table} WHERE expires_at < ?1"), [now])
                    .map_err(backend)?;
            }
            Ok(n)
        })
    }
}
