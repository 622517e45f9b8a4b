//! Certificates for TLS tests (feature `pki`): a test CA and a server
//! certificate it signed, written as PEM files for a server started by the
//! test, and an unrelated CA that must be refused.

use std::path::Path;

use store_core::{Error, ErrorKind, Key, PutMode, Store};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Writes into `dir`: `ca.pem` (a fresh test CA), `server.pem` and
/// `server.key` (a certificate for `hosts`, signed by that CA; the key
/// readable by its owner only, as PostgreSQL requires), and `other-ca.pem`
/// (another CA, which signed nothing here). Returns the CA's PEM.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let ca = store_conformance::pki::write_test_pki(dir.path(), &["localhost"]);
/// assert!(String::from_utf8(ca).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
/// for file in ["ca.pem", "server.pem", "server.key", "other-ca.pem"] {
///     assert!(dir.path().join(file).exists(), "{file}");
/// }
/// ```
///
/// # Panics
/// When a key cannot be generated or a file cannot be written.
pub fn write_test_pki(dir: &Path, hosts: &[&str]) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;

    let (ca, issuer) = test_ca();
    let (other_ca, _) = test_ca();
    let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(names)
        .expect("server certificate parameters")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let write = |name: &str, pem: &str| {
        std::fs::write(dir.join(name), pem).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    write("ca.pem", &ca.pem());
    write("other-ca.pem", &other_ca.pem());
    write("server.pem", &server.pem());
    write("server.key", &server_key.serialize_pem());
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("make server.key private");
    ca.pem().into_bytes()
}

/// Writes one entry through `store` and reads it back: the proof that a
/// store connected over TLS works.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// store_conformance::pki::assert_round_trip(&store_memory::MemoryStore::new()).await;
/// # });
/// ```
///
/// # Panics
/// When the write or the read fails, or reads something else.
pub async fn assert_round_trip(store: &dyn Store) {
    let key = Key::new("k").expect("key");
    store
        .put(&key, "over tls".into(), PutMode::Create.into())
        .await
        .expect("write over TLS");
    let entry = store.get(&key).await.expect("read over TLS");
    assert_eq!(&entry.expect("the entry written").value[..], b"over tls");
}

/// Checks the error of a connection whose certificate the client refused
/// (`case` says why): a `Config` error that names TLS and does not show
/// `secret`, the URL's password.
///
/// ```
/// use store_core::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::Config, "the TLS handshake with the database failed");
/// store_conformance::pki::assert_refused("an unknown CA", &err, "hunter2");
/// ```
///
/// # Panics
/// When the error is anything else.
pub fn assert_refused(case: &str, err: &Error, secret: &str) {
    assert_eq!(err.kind(), ErrorKind::Config, "{case}: {err}");
    assert!(err.message().contains("TLS"), "{case}: {err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{case}: {shown}");
}

fn test_ca() -> (Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert, Issuer::new(params, key))
}
