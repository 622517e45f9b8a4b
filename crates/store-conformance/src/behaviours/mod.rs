//! One `pub async fn` per behaviour of the contract, in groups by operation.
//!
//! Each takes a [`Fixture`] and panics with a message naming the broken rule.
//! [`conformance_tests!`](crate::conformance_tests) expands all of them into
//! named tests; call one directly to debug it.
//!
//! Each group is a file that ends with the list of its behaviours; that list
//! is the only one. It re-exports the behaviours here, so a behaviour left
//! out of its list is unreachable, which the workspace's `unreachable_pub`
//! lint turns into a build failure.

mod delete_touch;
mod expiry;
mod get_put;
mod input;
mod linearizable;
mod namespace;
mod owner;
mod races;
mod scan;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use store_core::{
    Entry, ErrorKind, Expiry, Key, MAX_KEY_LEN, MAX_SCAN_LIMIT, Operation, Owner, PutMode,
    PutOptions, PutResult, Result, ScanCursor, Store, StoreExt,
};

use crate::Fixture;

const SEC: Duration = Duration::from_secs(1);
const ONE_MIB: usize = 1024 * 1024;

fn key(s: &str) -> Key {
    Key::new(s).expect("valid test key")
}

fn owner(s: &str) -> Owner {
    Owner::new(s).expect("valid test owner")
}

fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} ({e:?})"),
    }
}

#[track_caller]
fn expect_kind<T: Debug>(r: Result<T>, kind: ErrorKind, what: &str) -> store_core::Error {
    match r {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error kind: {e}");
            e
        }
    }
}

async fn put(
    s: &dyn Store,
    k: &Key,
    v: &'static [u8],
    o: impl Into<PutOptions>,
) -> Result<PutResult> {
    s.put(k, Bytes::from_static(v), o.into()).await
}

/// Creates `k` with `value` expiring at `exp`; panics naming `what` on error.
async fn create_expiring(
    s: &dyn Store,
    k: &Key,
    value: &'static [u8],
    exp: Expiry,
    what: &str,
) -> PutResult {
    let opts = PutOptions::new(PutMode::Create).expires_at(exp);
    ok(s.put(k, Bytes::from_static(value), opts).await, what)
}

/// Creates `k` with `value` owned by `who`; panics naming `what` on error.
async fn create_owned(
    s: &dyn Store,
    k: &Key,
    value: &'static [u8],
    who: &Owner,
    what: &str,
) -> PutResult {
    let opts = PutOptions::new(PutMode::Create).owner(who.clone());
    ok(s.put(k, Bytes::from_static(value), opts).await, what)
}

async fn get(s: &dyn Store, k: &Key) -> Option<Entry> {
    ok(s.get(k).await, "get")
}

async fn value_of(s: &dyn Store, k: &Key) -> Option<Vec<u8>> {
    get(s, k).await.map(|e| e.value.to_vec())
}

fn keys_of(list: &[(Key, Entry)]) -> Vec<&str> {
    list.iter().map(|(k, _)| k.as_str()).collect()
}

/// Re-exports one group's behaviours (called with the group's list).
macro_rules! reexport {
    (($group:ident) $($name:ident,)*) => {
        pub use self::$group::{$($name),*};
    };
}

crate::__behaviours_get_put!(reexport; get_put);
crate::__behaviours_delete_touch!(reexport; delete_touch);
crate::__behaviours_expiry!(reexport; expiry);
crate::__behaviours_input!(reexport; input);
crate::__behaviours_owner!(reexport; owner);
crate::__behaviours_namespace!(reexport; namespace);
crate::__behaviours_scan!(reexport; scan);
crate::__behaviours_races!(reexport; races);
crate::__behaviours_linearizable!(reexport; linearizable);
