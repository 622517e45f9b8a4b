//! The pieces of [`Store::scan`](store_core::Store::scan) that do not touch
//! the server: the cursor tokens, the `SCAN` pattern, and reading the
//! replies of `SCAN` and `CLUSTER SLOTS`.
//!
//! Cursor tokens:
//!
//! - `r:<cursor>` on a single server: the server's own `SCAN` cursor.
//! - `rc:<host>:<port>:<cursor>` on a Redis Cluster: the primary being
//!   scanned, by the address the cluster announces for it (a host may hold
//!   `:`, an IPv6 address), and that node's `SCAN` cursor. The primaries
//!   are scanned one after the other in ascending (host, port) order.

use redis::Value;
use store_core::ScanCursor;

/// The tag of single-server cursors.
const SINGLE_TAG: &str = "r:";
/// The tag of cluster cursors.
#[cfg(feature = "cluster")]
const CLUSTER_TAG: &str = "rc:";

/// A `SCAN` cursor as the server gives it: an unsigned 64-bit decimal.
fn node_cursor(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The token that resumes a single-server scan at the server's `cursor`.
pub(crate) fn single(cursor: u64) -> ScanCursor {
    ScanCursor::new(format!("{SINGLE_TAG}{cursor}"))
}

/// The server's cursor in a token of [`single`]; `None` for any other text.
pub(crate) fn parse_single(token: &ScanCursor) -> Option<u64> {
    node_cursor(token.as_str().strip_prefix(SINGLE_TAG)?.as_bytes())
}

/// A Redis Cluster node, by the address the cluster announces for it;
/// ordered by host, then port.
#[cfg(feature = "cluster")]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// The token that resumes a cluster scan on `node` at its `cursor`.
#[cfg(feature = "cluster")]
pub(crate) fn cluster(node: &Node, cursor: u64) -> ScanCursor {
    ScanCursor::new(format!("{CLUSTER_TAG}{}:{}:{cursor}", node.host, node.port))
}

/// The node and its cursor in a token of [`cluster`]; `None` for any other
/// text.
#[cfg(feature = "cluster")]
pub(crate) fn parse_cluster(token: &ScanCursor) -> Option<(Node, u64)> {
    let rest = token.as_str().strip_prefix(CLUSTER_TAG)?;
    let (address, cursor) = rest.rsplit_once(':')?;
    let (host, port) = address.rsplit_once(':')?;
    if host.is_empty() || host.chars().any(char::is_control) {
        return None;
    }
    let port = u16::try_from(node_cursor(port.as_bytes())?).ok()?;
    let node = Node {
        host: host.to_owned(),
        port,
    };
    Some((node, node_cursor(cursor.as_bytes())?))
}

/// The `SCAN` `MATCH` pattern of every entry name under `prefix`:
/// `<prefix>:{*}:e:*`, with the glob characters of the prefix escaped.
/// Other names of the prefix may match too (an owner named `x}:e:y`); the
/// caller checks each name.
pub(crate) fn entry_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 8);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(":{*}:e:*");
    pattern
}

/// A `SCAN` reply: the next cursor and the names, or `None` when the reply
/// is not one.
pub(crate) fn scan_reply(reply: Value) -> Option<(u64, Vec<Vec<u8>>)> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let mut parts = parts.into_iter();
    let (Some(cursor), Some(Value::Array(names)), None) =
        (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let cursor = match cursor {
        Value::BulkString(raw) => node_cursor(&raw)?,
        Value::SimpleString(raw) => node_cursor(raw.as_bytes())?,
        _ => return None,
    };
    let names = names
        .into_iter()
        .map(|name| match name {
            Value::BulkString(raw) => Some(raw),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((cursor, names))
}

/// What `CLUSTER SLOTS` says about the primaries.
#[cfg(feature = "cluster")]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Primaries {
    /// Every primary that serves a slot, in ascending order, each once.
    Known(Vec<Node>),
    /// A primary is announced without a usable address (no endpoint, `?`,
    /// or a wildcard address), so it cannot be addressed by a scan.
    Unaddressable,
}

/// The primaries of a `CLUSTER SLOTS` reply, or `None` when the reply is
/// not one.
#[cfg(feature = "cluster")]
pub(crate) fn primaries(reply: Value) -> Option<Primaries> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut nodes = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(range) = range else {
            return None;
        };
        let Some(Value::Array(primary)) = range.into_iter().nth(2) else {
            return None;
        };
        let mut primary = primary.into_iter();
        let host = match primary.next() {
            Some(Value::BulkString(raw)) => String::from_utf8(raw).ok()?,
            Some(Value::SimpleString(s)) => s,
            Some(Value::Nil) => return Some(Primaries::Unaddressable),
            _ => return None,
        };
        let port = match primary.next() {
            Some(Value::Int(port)) => u16::try_from(port).ok()?,
            _ => return None,
        };
        if matches!(host.as_str(), "" | "?" | "0.0.0.0" | "::") || host.contains(char::is_control) {
            return Some(Primaries::Unaddressable);
        }
        nodes.push(Node { host, port });
    }
    nodes.sort();
    nodes.dedup();
    Some(Primaries::Known(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_cursors_roundtrip_and_reject_others() {
        assert_eq!(parse_single(&single(0)), Some(0));
        assert_eq!(parse_single(&single(u64::MAX)), Some(u64::MAX));
        for token in [
            "", "r:", "r:-1", "r:+1", "r:1 ", "r:x", "k:", "k:abc", "\u{0}", "rc:h:1:2",
        ] {
            assert_eq!(parse_single(&ScanCursor::new(token)), None, "{token:?}");
        }
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn cluster_cursors_roundtrip_and_reject_others() {
        for host in ["127.0.0.1", "::1", "redis-0.example"] {
            let node = Node {
                host: host.to_owned(),
                port: 7001,
            };
            let token = cluster(&node, 42);
            assert_eq!(parse_cluster(&token), Some((node, 42)), "{token:?}");
        }
        for token in [
            "",
            "rc:",
            "rc:h:1",
            "rc::1:2",
            "rc:h:70000:2",
            "rc:h:1:",
            "rc:h:x:1",
            "r:5",
            "k:abc",
            "\u{0}",
        ] {
            assert_eq!(parse_cluster(&ScanCursor::new(token)), None, "{token:?}");
        }
    }

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(entry_pattern("app"), "app:{*}:e:*");
        assert_eq!(entry_pattern(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d:{*}:e:*");
    }

    #[test]
    fn scan_replies_are_checked() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![Value::BulkString(b"a".to_vec())]),
        ]);
        assert_eq!(scan_reply(reply), Some((17, vec![b"a".to_vec()])));
        assert_eq!(scan_reply(Value::Nil), None);
        let bad = Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Array(vec![])]);
        assert_eq!(scan_reply(bad), None);
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn primaries_are_sorted_and_unique() {
        let range = |host: Value, port: i64| {
            Value::Array(vec![
                Value::Int(0),
                Value::Int(1),
                Value::Array(vec![
                    host,
                    Value::Int(port),
                    Value::BulkString(b"id".to_vec()),
                ]),
                Value::Array(vec![Value::BulkString(b"10.0.0.9".to_vec()), Value::Int(1)]),
            ])
        };
        let host = |h: &str| Value::BulkString(h.as_bytes().to_vec());
        let reply = Value::Array(vec![
            range(host("b"), 2),
            range(host("a"), 9),
            range(host("b"), 2),
            range(host("a"), 10),
        ]);
        let node = |h: &str, port| Node {
            host: h.to_owned(),
            port,
        };
        assert_eq!(
            primaries(reply),
            Some(Primaries::Known(vec![
                node("a", 9),
                node("a", 10),
                node("b", 2)
            ]))
        );
        for unknown in [host(""), host("?"), Value::Nil] {
            let reply = Value::Array(vec![range(unknown, 1)]);
            assert_eq!(primaries(reply), Some(Primaries::Unaddressable));
        }
        assert_eq!(primaries(Value::Int(1)), None);
    }
}
