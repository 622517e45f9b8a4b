#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use std::sync::Arc;

pub use store_core::*;
mod registry {
    use std::sync::Arc;

    use store_core::{Open, OpenOptions, Result, Store};

    use crate::{BackendInfo, feature_off};

    include!(concat!(env!("OUT_DIR"), "/registry.rs"));
}

pub use registry::*;

/// One backend of the registry ([`BACKENDS`]): its name, the URL schemes
/// it opens and where the test suites reach it.
///
/// ```
/// let redis = store::backend("redis").unwrap();
/// assert!(redis.schemes.contains(&"rediss"));
/// assert_eq!(redis.enabled, cfg!(feature = "redis"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendInfo {
    /// The backend's name: the `store` feature that turns it on, and its
    /// name in errors.
    pub name: &'static str,
    /// The crate that implements it.
    pub crate_name: &'static str,
    /// The URL schemes it opens, the canonical one first.
    pub schemes: &'static [&'static str],
    /// Where the test suites open it: `{service}` stands for that test
    /// server's URL (`STORE_TEST_<SERVICE>_URL`), `{dir}` for a fresh
    /// temporary directory.
    pub test_url: &'static str,
    /// The test servers it needs (`redis`, `redis-cluster`, `postgres`,
    /// `mongodb`); empty for an in-process or file backend.
    pub servers: &'static [&'static str],
    /// Whether this build has its feature on.
    pub enabled: bool,
}

/// The backend named `name`, on or off in this build.
///
/// ```
/// assert_eq!(store::backend("memory").unwrap().schemes, ["memory"]);
/// assert!(store::backend("ftp").is_none());
/// ```
pub fn backend(name: &str) -> Option<&'static BackendInfo> {
    BACKENDS.iter().find(|b| b.name == name)
}

/// The backend that opens URLs of `scheme` (any case), on or off in this
/// build.
///
/// ```
/// assert_eq!(store::backend_for_scheme("PostgreSQL").unwrap().name, "postgres");
/// assert!(store::backend_for_scheme("ftp").is_none());
/// ```
pub fn backend_for_scheme(scheme: &str) -> Option<&'static BackendInfo> {
    BACKENDS
        .iter()
        .find(|b| b.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
}

/// Opens the store `url` names, with [`OpenOptions::default`].
///
/// # Errors
/// `Config` for an unknown scheme, a scheme whose feature is off, or a bad
/// URL (shown with its password masked); the backend's connect errors
/// (`Unavailable` when the server does not answer).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let err = store::open("ftp://example.com/").await.unwrap_err();
/// assert_eq!(err.kind(), store::ErrorKind::Config);
/// # });
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store `url` names, with `options`.
///
/// # Errors
/// As [`open`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let options = store::OpenOptions::default().namespace("sessions");
/// let store = store::open_with("memory://", options).await?;
/// # let _ = store;
/// # Ok::<(), store::Error>(())
/// # }).unwrap();
/// ```
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(config(format!("{} is not a store URL", redact_url(url))));
    };
    match backend_for_scheme(scheme) {
        Some(b) if b.enabled => registry::open_enabled(b.name, url, &options).await,
        Some(b) => Err(feature_off(b.name)),
        None => {
            let known: Vec<String> = BACKENDS
                .iter()
                .map(|b| format!("{}://", b.schemes[0]))
                .collect();
            Err(config(format!(
                "unknown store URL scheme {:?} in {}: use {}",
                scheme.to_ascii_lowercase(),
                redact_url(url),
                known.join(", ")
            )))
        }
    }
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message).with_operation(Operation::Connect)
}

fn feature_off(name: &str) -> Error {
    let schemes = backend(name).map_or_else(String::new, |b| b.schemes.join(":// and "));
    config(format!(
        "{schemes}:// URLs need the `{name}` feature of the `store` crate"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schemes_pick_backends_or_say_why_not() {
        let err = open("nonsense").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = open("ftp://u:secret@h/").await.unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.message().contains("unknown store URL scheme"), "{err}");
        let store = open_with("memory://", OpenOptions::default().namespace("s"))
            .await
            .unwrap();
        assert_eq!(store.capabilities().backend, "memory");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_urls_open_a_migrated_table() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let store = open_with(&url, OpenOptions::default().namespace("sessions"))
            .await
            .unwrap();
        let key = Key::new("k").unwrap();
        store
            .put(&key, "v".into(), PutMode::Create.into())
            .await
            .unwrap();
        assert_eq!(store.capabilities().backend, "sqlite");
        let again = open_with(&url, OpenOptions::default().namespace("sessions"))
            .await
            .unwrap();
        assert!(again.get(&key).await.unwrap().is_some());
    }

    /// The registry's names and schemes are the ones each backend's
    /// `Open` impl declares.
    #[test]
    fn registry_matches_the_backends() {
        let declared = registry::declared();
        for (name, open_name, schemes) in &declared {
            let b = backend(name).unwrap();
            assert_eq!(b.schemes, *schemes, "{name}");
            assert_eq!(open_name, name);
            assert!(b.enabled);
        }
        let enabled = BACKENDS.iter().filter(|b| b.enabled).count();
        assert_eq!(declared.len(), enabled);
    }
}
