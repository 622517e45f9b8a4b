//! Prints `export STORE_TEST_…=URL` lines for test containers of the named
//! services (`redis`, `redis-cluster`, `redis-sentinel`, `postgres`,
//! `mongodb`, `mysql`; all without arguments), starting each container or
//! reusing the one a previous run left. The test command's container mode
//! evaluates them, so that its steps beyond `cargo test` (benchmark smoke
//! test, new-backend check) reach the same containers:
//!
//! ```text
//! eval "$(cargo run -q -p store-conformance --features testcontainers --example container_urls -- redis postgres)"
//! ```
//!
//! A URL already set in the environment is printed as it is. Exits with
//! status 1, naming the service and the reason, when one cannot be had.

use std::process::ExitCode;

use store_conformance::provision::{Service, env_url};

#[tokio::main]
async fn main() -> ExitCode {
    let mut services = Vec::new();
    for name in std::env::args().skip(1) {
        match Service::from_name(&name) {
            Some(service) => services.push(service),
            None => {
                eprintln!("container_urls: unknown service {name:?}");
                return ExitCode::from(2);
            }
        }
    }
    if services.is_empty() {
        services = Service::ALL.to_vec();
    }
    for service in services {
        let url = match env_url(service) {
            Some(url) => Ok(url),
            None => store_conformance::provision::containers::url(service).await,
        };
        match url {
            Ok(url) => println!("export {}='{url}'", service.env_var()),
            Err(e) => {
                eprintln!("container_urls: {}: {e}", service.name());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
