//! Prints N made-up sessions as `storectl import` reads them, for trying
//! `storectl` on a realistic store: `cargo run -p storectl --example
//! sessions_jsonl -- 100000 > sessions.jsonl`.
//!
//! Each session has a random 128-bit key `sess:<hex>`, 150 to 400 random
//! bytes, an expiry 2 to 48 hours ahead (to the millisecond) and, for 90% of
//! them, one of 20,000 owners `user-NNNNN`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng;

fn main() {
    let n: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 100_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: sessions_jsonl [COUNT]");
            std::process::exit(2);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut rng = rand::rng();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..n {
        let len = rng.random_range(150..=400);
        let value: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let owner = rng
            .random_bool(0.9)
            .then(|| format!("user-{:05}", rng.random_range(0..20_000)));
        let line = serde_json::json!({
            "key": format!("sess:{:032x}", rng.random::<u128>()),
            "value": BASE64.encode(&value),
            "expires_at": now + rng.random_range(2 * 3_600_000..48 * 3_600_000),
            "owner": owner,
        });
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
