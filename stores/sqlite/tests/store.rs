//! The SQLite store under the real engine, through the conformance suite
//! every `OAuthStore` backend runs (`mcpguard_testkit::oauth_store`):
//! restarts lose nothing, and racing writers (threads, or separate
//! connections as separate processes would have) never both win. The
//! in-memory reference store runs the same suite.

use std::path::PathBuf;
use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::oauth::{MemoryOAuthStore, OAuthStore, StorageConfig};
use mcpguard_sqlite::{SqliteOAuthStore, open_configured};
use mcpguard_testkit::oauth_store as suite;

/// Runs one suite function on a fresh database file; each open is a new
/// connection to it, as a restarted or second process would have.
fn on_sqlite(test: fn(suite::Open<'_>)) {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("oauth.db");
    let open = move |_: &ManualClock| -> Arc<dyn OAuthStore> {
        Arc::new(SqliteOAuthStore::open(&db).unwrap())
    };
    test(&open);
}

/// Runs one suite function on one in-memory store shared by every "open".
fn on_memory(test: fn(suite::Open<'_>)) {
    let store: Arc<dyn OAuthStore> = Arc::new(MemoryOAuthStore::new());
    let open = move |_: &ManualClock| store.clone();
    test(&open);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::on_sqlite(mcpguard_testkit::oauth_store::$name);
            })*
        }
        mod memory {
            $(#[test]
            fn $name() {
                super::on_memory(mcpguard_testkit::oauth_store::$name);
            })*
        }
    };
}

conformance!(
    a_restart_between_registration_and_refresh_loses_nothing,
    a_reused_code_after_a_restart_still_revokes_what_it_produced,
    a_code_is_shown_spent_or_not_after_a_restart,
    a_token_rotated_on_one_engine_and_reused_on_another_revokes_the_family,
    concurrent_refreshes_of_one_token_let_exactly_one_through,
    one_code_redeemed_on_four_connections_is_redeemed_once,
    purging_forgets_only_what_expired,
    each_method_keeps_its_promise,
);

#[test]
fn the_configured_storage_opens_memory_or_a_file_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_configured(
        &StorageConfig::Sqlite {
            path: "nested.db".into(),
        },
        Some(dir.path()),
    )
    .unwrap();
    assert!(store.client("x").unwrap().is_none());
    assert!(dir.path().join("nested.db").exists());
    let memory: Arc<dyn OAuthStore> = open_configured(&StorageConfig::Memory {}, None).unwrap();
    assert!(memory.client("x").unwrap().is_none());
    let e = SqliteOAuthStore::open(dir.path().join("no/such/dir/x.db")).unwrap_err();
    assert!(e.to_string().contains("cannot open"), "{e}");
    let Err(e) = open_configured(&StorageConfig::Redis {}, None) else {
        panic!("the redis storage is not opened here");
    };
    assert!(e.to_string().contains("store.redis"), "{e}");
}
