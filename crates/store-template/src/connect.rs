//! [`TemplateStore`]: how a store is made, its namespace, its setup, and
//! [`Open`](store_core::Open).
//!
//! A real backend builds its driver's client here from a URL (`connect`,
//! `connect_with`) or takes one the caller built (`new`, `with_config`),
//! fails with `Config` for a bad URL (shown through
//! `store_core::redact_url`) and with `Unavailable` for a server that does
//! not answer, and creates its tables or indexes in `setup`.

use std::fmt;

use async_trait::async_trait;
use store_core::{Capabilities, Open, OpenOptions, Result, check_scheme};

use crate::config::{TemplateConfig, validate_namespace};
use crate::query::TemplateClient;
use crate::{BACKEND, SCHEMES};

/// A [`Store`](store_core::Store) in one namespace of a [`TemplateClient`].
///
/// Cloning is cheap and shares the client.
///
/// ```
/// use store_template::{TemplateClient, TemplateStore};
/// let store = TemplateStore::new(TemplateClient::default()).with_namespace("sessions")?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TemplateStore {
    pub(crate) client: TemplateClient,
    pub(crate) config: TemplateConfig,
}

impl fmt::Debug for TemplateStore {
    /// Never print credentials or connection strings here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateStore")
            .field("namespace", &self.config.namespace)
            .field("operation_timeout", &self.config.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl TemplateStore {
    /// Connects to the server at `url` with the default [`TemplateConfig`].
    /// `template://` (anything after the scheme is ignored) opens a fresh
    /// in-process client, shared with nothing else.
    ///
    /// # Errors
    /// `Config` when the URL's scheme is not one of [`SCHEMES`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = store_template::TemplateStore::connect("template://").await?;
    /// assert_eq!(store.namespace(), store_template::DEFAULT_NAMESPACE);
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, TemplateConfig::default()).await
    }

    /// Connects to the server at `url` with `config`. A real backend parses
    /// the URL, builds its driver's client (its connection bounded by a
    /// connection timeout) and then calls [`TemplateStore::with_config`].
    ///
    /// # Errors
    /// `Config` when the URL's scheme is not one of [`SCHEMES`] or as
    /// [`TemplateStore::with_config`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use store_template::{TemplateConfig, TemplateStore};
    /// let config = TemplateConfig::default().namespace("sessions");
    /// let store = TemplateStore::connect_with("template://", config).await?;
    /// assert_eq!(store.namespace(), "sessions");
    /// let err = TemplateStore::connect("ftp://u:secret@host/").await.unwrap_err();
    /// assert_eq!(err.kind(), store_core::ErrorKind::Config);
    /// assert!(!err.to_string().contains("secret"));
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, config: TemplateConfig) -> Result<Self> {
        check_scheme(url, BACKEND, SCHEMES)?;
        Self::with_config(TemplateClient::default(), config)
    }

    /// A store on `client` with the default [`TemplateConfig`].
    ///
    /// ```
    /// use store_template::{TemplateClient, TemplateStore};
    /// let store = TemplateStore::new(TemplateClient::default());
    /// assert_eq!(store.namespace(), store_template::DEFAULT_NAMESPACE);
    /// ```
    pub fn new(client: TemplateClient) -> Self {
        Self {
            client,
            config: TemplateConfig::default(),
        }
    }

    /// A store on `client` with `config`.
    ///
    /// # Errors
    /// `Config` for a namespace the database cannot hold or a zero
    /// operation timeout.
    ///
    /// ```
    /// use store_template::{TemplateClient, TemplateConfig, TemplateStore};
    /// let config = TemplateConfig::default().namespace("tokens");
    /// let store = TemplateStore::with_config(TemplateClient::default(), config)?;
    /// assert_eq!(store.namespace(), "tokens");
    /// let bad = TemplateConfig::default().namespace("");
    /// assert!(TemplateStore::with_config(TemplateClient::default(), bad).is_err());
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn with_config(client: TemplateClient, config: TemplateConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { client, config })
    }

    /// The namespace of this store.
    ///
    /// ```
    /// let store = store_template::TemplateStore::new(Default::default());
    /// assert_eq!(store.namespace(), "store");
    /// ```
    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// The same client and settings in the namespace `namespace`: its
    /// operations never see or touch entries of other namespaces.
    ///
    /// # Errors
    /// `Config` for a namespace the database cannot hold.
    ///
    /// ```
    /// let store = store_template::TemplateStore::new(Default::default());
    /// let tokens = store.with_namespace("tokens")?;
    /// assert_eq!(tokens.namespace(), "tokens");
    /// assert!(store.with_namespace("").is_err());
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn with_namespace(&self, namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        validate_namespace(&namespace)?;
        let mut store = self.clone();
        store.config.namespace = namespace;
        Ok(store)
    }

    /// Does nothing and returns `Ok(())`: the in-process database needs no
    /// tables or indexes. A real backend creates them here, idempotently,
    /// so that calling it on every start is safe.
    ///
    /// # Errors
    /// None here; a real backend's errors creating its tables.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// store_template::TemplateStore::new(Default::default()).setup().await?;
    /// # Ok::<(), store_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn setup(&self) -> Result<()> {
        Ok(())
    }

    /// What this store guarantees; the suite and the layers rely on it.
    pub(crate) fn caps(&self) -> Capabilities {
        let mut caps = Capabilities::new(BACKEND);
        // Other store objects on the same client see the same data.
        caps.shared = true;
        caps
    }
}

/// Opens a store from a `template://` URL with the options every backend
/// understands: the namespace and the operation timeout go into the
/// [`TemplateConfig`], then [`TemplateStore::setup`] runs unless the
/// options say not to. There are no purge batches, so that option changes
/// nothing.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use store_core::{Open, OpenOptions};
/// use store_template::TemplateStore;
/// let options = OpenOptions::default().namespace("sessions");
/// let store = TemplateStore::open("template://", &options).await?;
/// assert_eq!(store.namespace(), "sessions");
/// # Ok::<(), store_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
impl Open for TemplateStore {
    const NAME: &'static str = BACKEND;
    const SCHEMES: &'static [&'static str] = SCHEMES;

    async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        let mut config = TemplateConfig::default();
        if let Some(namespace) = options.namespace.as_deref() {
            config = config.namespace(namespace);
        }
        if let Some(timeout) = options.operation_timeout {
            config = config.operation_timeout(timeout);
        }
        let store = Self::connect_with(url, config).await?;
        if options.setup {
            store.setup().await?;
        }
        Ok(store)
    }
}
