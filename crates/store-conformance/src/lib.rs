#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod behaviours;
pub mod container;
pub mod faults;
mod fixture;
pub mod linearizability;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "pki")]
pub mod pki;
pub mod provision;
pub mod proxy;

pub use fixture::{Fixture, REAL_TIME_SCALE, TestBackend, TestClock, random_namespace};

/// The code of `docs/writing-a-backend.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-a-backend.md")]
pub struct WritingABackendGuide;

/// Expands the behaviours of a backend: every group, or the groups named
/// after a `;`, into one named `#[tokio::test]` each.
///
/// The argument is an expression that evaluates to a future of
/// `Option<B>` where `B: TestBackend`: `None` skips (the provisioning
/// printed why, or panicked under `STORE_TEST_REQUIRE=1`). Invoke it inside
/// a module named after the backend so failures read `memory::get_missing_is_none`.
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`).
///
/// The groups, in order: `get_put`, `delete_touch`, `expiry`, `input`,
/// `owner`, `namespace`, `scan`, `races`, `linearizable` (see
/// [`GROUPS`]). `conformance_tests!(backend; scan)` runs only the scan
/// behaviours, for a backend test that needs a special setup.
///
/// See the [crate docs](crate) for a complete example.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(
            $backend;
            get_put, delete_touch, expiry, input, owner, namespace, scan, races, linearizable
        );
    };
    ($backend:expr; $($group:ident),+ $(,)?) => {
        $( $crate::__group!($group; $crate::__expand_tests; $backend); )+
    };
}

/// Calls `$callback!` with `$args` and the names of one group's behaviours.
#[doc(hidden)]
#[macro_export]
macro_rules! __group {
    (get_put; $($rest:tt)*) => { $crate::__behaviours_get_put!($($rest)*); };
    (delete_touch; $($rest:tt)*) => { $crate::__behaviours_delete_touch!($($rest)*); };
    (expiry; $($rest:tt)*) => { $crate::__behaviours_expiry!($($rest)*); };
    (input; $($rest:tt)*) => { $crate::__behaviours_input!($($rest)*); };
    (owner; $($rest:tt)*) => { $crate::__behaviours_owner!($($rest)*); };
    (namespace; $($rest:tt)*) => { $crate::__behaviours_namespace!($($rest)*); };
    (scan; $($rest:tt)*) => { $crate::__behaviours_scan!($($rest)*); };
    (races; $($rest:tt)*) => { $crate::__behaviours_races!($($rest)*); };
    (linearizable; $($rest:tt)*) => { $crate::__behaviours_linearizable!($($rest)*); };
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

/// One group's name and the names of its behaviours, as a constant.
macro_rules! group_const {
    (($constant:ident, $group:literal) $($name:ident,)*) => {
        const $constant: (&str, &[&str]) = ($group, &[$(stringify!($name)),*]);
    };
}

__behaviours_get_put!(group_const; GET_PUT, "get_put");
__behaviours_delete_touch!(group_const; DELETE_TOUCH, "delete_touch");
__behaviours_expiry!(group_const; EXPIRY, "expiry");
__behaviours_input!(group_const; INPUT, "input");
__behaviours_owner!(group_const; OWNER, "owner");
__behaviours_namespace!(group_const; NAMESPACE, "namespace");
__behaviours_scan!(group_const; SCAN, "scan");
__behaviours_races!(group_const; RACES, "races");
__behaviours_linearizable!(group_const; LINEARIZABLE, "linearizable");

/// Every group of behaviours with the names of its behaviours, in the
/// order [`conformance_tests!`] expands them.
///
/// ```
/// let total: usize = store_conformance::GROUPS.iter().map(|(_, names)| names.len()).sum();
/// assert!(total >= 70);
/// ```
pub const GROUPS: &[(&str, &[&str])] = &[
    GET_PUT,
    DELETE_TOUCH,
    EXPIRY,
    INPUT,
    OWNER,
    NAMESPACE,
    SCAN,
    RACES,
    LINEARIZABLE,
];

#[cfg(test)]
mod tests {
    use super::GROUPS;

    #[test]
    fn groups_are_distinct_and_cover_the_contract() {
        let mut names: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total, "a behaviour is listed twice");
        assert_eq!(total, 73);
        assert_eq!(GROUPS.len(), 9);
    }
}
