#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod behaviours;
pub mod faults;
mod fixture;
pub mod linearizability;
#[cfg(feature = "logs")]
pub mod logs;
pub mod provision;
pub mod proxy;

pub use fixture::{Fixture, REAL_TIME_SCALE, TestBackend, TestClock, random_namespace};

/// The code of `docs/writing-a-backend.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-a-backend.md")]
pub struct WritingABackendGuide;

/// Calls `$callback!` with `$args` and the names of every behaviour in
/// [`behaviours`]. The one list the suite is built from.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_behaviours {
    ($callback:path; $($args:tt)*) => {
        $callback! {
            ($($args)*)
            get_missing_is_none,
            upsert_then_get_roundtrips,
            upsert_overwrites_live_entry,
            every_write_returns_a_new_version,
            put_replaces_expiry_and_owner,
            create_missing_succeeds,
            create_existing_fails_already_exists,
            create_over_expired_succeeds,
            update_missing_fails_not_found,
            update_expired_fails_not_found,
            update_live_replaces,
            update_if_current_version_succeeds,
            update_if_stale_version_fails,
            update_if_missing_fails_not_found,
            update_if_expired_fails_not_found,
            put_result_chains_into_update_if,
            version_not_reused_after_recreate,
            delete_live_returns_true,
            delete_missing_returns_false,
            delete_expired_entry_returns_false,
            delete_if_current_version_deletes,
            delete_if_stale_version_fails,
            delete_if_missing_returns_false,
            touch_moves_expiry_keeps_value_and_version,
            touch_can_shorten_expiry,
            touch_adds_expiry,
            touch_missing_fails_not_found,
            touch_expired_fails_not_found,
            touch_past_expiry_is_rejected,
            expiry_equal_to_now_is_expired,
            entry_is_never_expired_early,
            expired_entries_are_invisible,
            whole_second_expiry_roundtrips,
            millisecond_expiry_roundtrips,
            far_future_expiry_roundtrips,
            no_expiry_roundtrips_as_none,
            past_expiry_is_rejected_and_nothing_written,
            expiry_overflow_is_rejected,
            delete_expired_removes_only_expired,
            delete_expired_concurrently_counts_once,
            empty_key_is_rejected,
            max_length_key_works_and_longer_is_rejected,
            oversize_value_is_rejected,
            max_size_value_is_accepted,
            one_mib_value_roundtrips,
            arbitrary_bytes_roundtrip,
            empty_value_roundtrips,
            special_character_keys_roundtrip,
            keys_are_case_sensitive,
            list_by_owner_returns_owned_entries,
            list_by_owner_excludes_deleted,
            owner_change_moves_entry,
            delete_by_owner_removes_only_that_owner,
            delete_by_owner_counts_only_live,
            owner_reusable_after_delete_by_owner,
            namespaces_are_isolated,
            second_handle_sees_same_data,
            errors_carry_backend_and_operation,
            errors_do_not_leak_values,
            capabilities_are_consistent,
            typed_values_roundtrip,
            scan_returns_every_live_entry,
            scan_skips_expired_and_deleted,
            scan_stays_in_its_namespace,
            scan_resumes_from_a_saved_cursor,
            scan_rejects_bad_limit_and_foreign_cursor,
            race_cas_increments_total_exactly,
            race_concurrent_create_single_winner,
            race_concurrent_update_if_single_winner,
            race_delete_then_update_never_resurrects,
            race_update_with_loses_nothing,
            race_owner_index_stays_consistent,
            linearizable_under_concurrency,
        }
    };
}

/// Expands every behaviour of the suite into one named `#[tokio::test]`
/// for a backend.
///
/// The argument is an expression that evaluates to a future of
/// `Option<B>` where `B: TestBackend`: `None` skips (the provisioning
/// printed why, or panicked under `STORE_TEST_REQUIRE=1`). Invoke it inside
/// a module named after the backend so failures read `memory::get_missing_is_none`.
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`).
///
/// See the [crate docs](crate) for a complete example.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::__with_behaviours!($crate::__expand_tests; $backend);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __expand_tests {
    (($backend:expr) $($name:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(fixture) = $crate::Fixture::provision($backend).await {
                    $crate::behaviours::$name(fixture).await;
                }
            }
        )*
    };
}

macro_rules! names {
    (($($args:tt)*) $($name:ident,)*) => {
        /// The names of every behaviour, in the order the macro expands them.
        pub const BEHAVIOURS: &[&str] = &[$(stringify!($name)),*];
    };
}
__with_behaviours!(names;);

#[cfg(test)]
mod tests {
    use super::BEHAVIOURS;

    #[test]
    fn every_behaviour_is_expanded() {
        let source = include_str!("behaviours.rs");
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split('(').next())
            .collect();
        assert_eq!(
            defined, BEHAVIOURS,
            "the macro list and behaviours.rs differ"
        );
        assert!(BEHAVIOURS.len() >= 40);
    }
}
