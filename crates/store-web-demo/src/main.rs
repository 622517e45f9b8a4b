//! Runs the demo web app.
//!
//! `STORE_URL` picks the backend (`sqlite://…`, `postgres://…`,
//! `redis://…`, `mongodb://…`, `memory://`); without it, everything goes to
//! the SQLite file `store-demo.db` in the current directory, so no server is
//! needed. `PORT` picks the port (default 3000; 0 for any free one). It
//! prints the URL to open, and stops on Ctrl-C.

use std::net::SocketAddr;

use store::{OpenOptions, redact_url};
use store_web_demo::App;

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("store-web-demo: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let url = std::env::var("STORE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "sqlite://store-demo.db".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p} is not a port number"))?,
        Err(_) => 3000,
    };
    // The backend's default namespace, as storectl's: `storectl stats --url
    // sqlite://store-demo.db` reads the demo's sessions as they are.
    let store = store::open_with(&url, OpenOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let backend = store.capabilities().backend;
    let app = App::new(store).map_err(|e| e.to_string())?.router();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "store demo on http://{addr}/ (backend {backend}: {}); Ctrl-C stops it",
        redact_url(&url)
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
