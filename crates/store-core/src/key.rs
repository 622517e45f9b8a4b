//! Validated keys and owners.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// The longest [`Key`] every backend accepts, in bytes of UTF-8: 512.
///
/// The limit keeps keys within every backend's index limits (a Postgres btree
/// entry, MongoDB's `_id` index key) with room for the store's namespace prefix.
pub const MAX_KEY_LEN: usize = 512;

/// The longest [`Owner`] every backend accepts, in bytes of UTF-8: 256.
pub const MAX_OWNER_LEN: usize = 256;

/// Validates `s` as a `what` of at most `max` bytes: [`validate_chars`],
/// with a fast path for the common case of printable ASCII.
fn validate(what: &'static str, s: &str, max: usize) -> Result<()> {
    // Keys are most often printable ASCII (every key of the session
    // adapters is). Such text has no control character, so it is accepted
    // without decoding it char by char; any other text, accepted or not,
    // takes the general path, so the results (and the error messages) are
    // those of `validate_chars` for every input.
    if !s.is_empty() && s.len() <= max && printable_ascii(s.as_bytes()) {
        return Ok(());
    }
    validate_chars(what, s, max)
}

/// Whether every byte of `bytes` is printable ASCII, `' '` to `'~'`: none
/// is a control character (C0 or DEL) or part of a multi-byte character.
///
/// The loop has no early exit, so that it compiles to a vectorised scan;
/// the texts are short (at most [`MAX_KEY_LEN`] bytes, checked before).
fn printable_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(b' ') <= b'~' - b' '))
}

/// The general validation: not empty, at most `max` bytes, no control
/// character (Unicode category Cc: C0, DEL and C1).
fn validate_chars(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid_input(format!("{what} must not be empty")));
    }
    if s.len() > max {
        return Err(Error::invalid_input(format!(
            "{what} is {} bytes long; the maximum is {max} bytes",
            s.len()
        )));
    }
    if let Some((at, _)) = s.char_indices().find(|(_, c)| c.is_control()) {
        return Err(Error::invalid_input(format!(
            "{what} contains a control character at byte {at}; only printable text is allowed"
        )));
    }
    Ok(())
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            #[doc = concat!("Validates `s` as a ", $what, ".")]
            ///
            /// # Errors
            ///
            #[doc = concat!("[`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when it is empty, longer than [`", stringify!($max), "`] bytes, or contains a control character. The message names the limit.")]
            pub fn new(s: impl AsRef<str>) -> Result<Self> {
                let s = s.as_ref();
                validate($what, s, $max)?;
                Ok(Self(Arc::from(s)))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&&*self.0).finish()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::new(&*s).map_err(|e| serde::de::Error::custom(e.message()))
            }
        }
    };
}

text_newtype!(
    /// A key inside a store's namespace: non-empty printable UTF-8 of at most
    /// [`MAX_KEY_LEN`] bytes.
    ///
    /// Cloning is cheap (a reference count). Any printable character is
    /// allowed, including `/`, `:`, `*`, `{`, `}` and spaces; backends escape or
    /// encode what their server treats specially.
    ///
    /// ```
    /// use store_core::{ErrorKind, Key, MAX_KEY_LEN};
    ///
    /// let key = Key::new("session:3f9a")?;
    /// assert_eq!(key.as_str(), "session:3f9a");
    ///
    /// assert_eq!(Key::new("").unwrap_err().kind(), ErrorKind::InvalidInput);
    /// let too_long = "k".repeat(MAX_KEY_LEN + 1);
    /// let err = Key::new(&too_long).unwrap_err();
    /// assert!(err.message().contains("512"));
    /// # Ok::<(), store_core::Error>(())
    /// ```
    Key,
    "key",
    MAX_KEY_LEN
);

text_newtype!(
    /// The owner of an entry (typically a user id), through which a store can
    /// list and delete all entries of one owner: non-empty printable UTF-8 of
    /// at most [`MAX_OWNER_LEN`] bytes.
    ///
    /// ```
    /// use store_core::Owner;
    ///
    /// let alice = Owner::new("user-42")?;
    /// assert_eq!(alice.to_string(), "user-42");
    /// assert!(Owner::new("tab\there").is_err());
    /// # Ok::<(), store_core::Error>(())
    /// ```
    Owner,
    "owner",
    MAX_OWNER_LEN
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn boundary_lengths() {
        assert!(Key::new("k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(Key::new("k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(Owner::new("o".repeat(MAX_OWNER_LEN)).is_ok());
        assert!(Owner::new("o".repeat(MAX_OWNER_LEN + 1)).is_err());
    }

    #[test]
    fn length_is_counted_in_bytes() {
        // 'é' is two bytes.
        let s = "é".repeat(MAX_KEY_LEN / 2);
        assert!(Key::new(&s).is_ok());
        let err = Key::new(format!("{s}x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("513 bytes"), "{}", err.message());
    }

    #[test]
    fn control_characters_are_rejected() {
        for bad in ["a\0b", "line\n", "\u{7f}", "\u{85}x"] {
            let err = Key::new(bad).unwrap_err();
            assert!(err.message().contains("control character"));
        }
        assert!(Key::new("emoji 🦀 / {tag} * ? [x]").is_ok());
    }

    /// The outcome of a validation, to compare two: `Ok`, or the error's
    /// kind, operation, message and display.
    fn outcome(r: Result<()>) -> std::result::Result<(), String> {
        r.map_err(|e| format!("{:?} {:?} {} | {e}", e.kind(), e.operation(), e.message()))
    }

    #[test]
    fn printable_ascii_is_exactly_the_bytes_from_space_to_tilde() {
        for b in 0..=u8::MAX {
            let printable = (0x20..=0x7e).contains(&b);
            assert_eq!(printable_ascii(&[b]), printable, "{b:#04x}");
            // At any place in a longer text (past the width of a vector).
            for at in [0, 1, 15, 16, 31, 32, 56, 63, 64, 99] {
                let mut text = [b'k'; 100];
                text[at] = b;
                assert_eq!(printable_ascii(&text), printable, "{b:#04x} at {at}");
            }
        }
        assert!(printable_ascii(b""));
    }

    /// Every character from U+0000 to U+3000 (and some beyond), alone, at
    /// the start, in the middle and at the end of ASCII text, and texts at
    /// the length limits: the fast path gives what the general path gives.
    #[test]
    fn fast_path_agrees_with_the_general_path_on_edge_inputs() {
        let chars = (0..=0x3000u32)
            .chain([0xfeff, 0xfffd, 0x1_f980, 0x10_ffff])
            .filter_map(char::from_u32);
        for c in chars {
            for s in [
                c.to_string(),
                format!("{c}tail"),
                format!("head{c}tail"),
                format!("tower-session:{c}"),
            ] {
                for (what, max) in [("key", MAX_KEY_LEN), ("owner", MAX_OWNER_LEN)] {
                    assert_eq!(
                        outcome(validate(what, &s, max)),
                        outcome(validate_chars(what, &s, max)),
                        "{s:?}"
                    );
                }
            }
        }
        for len in [
            0,
            1,
            MAX_OWNER_LEN,
            MAX_OWNER_LEN + 1,
            MAX_KEY_LEN,
            MAX_KEY_LEN + 1,
        ] {
            for fill in ["k", "\u{7f}", "é"] {
                let s: String = fill.repeat(len).chars().take(len).collect();
                for (what, max) in [("key", MAX_KEY_LEN), ("owner", MAX_OWNER_LEN)] {
                    assert_eq!(
                        outcome(validate(what, &s, max)),
                        outcome(validate_chars(what, &s, max)),
                        "{len} x {fill:?}"
                    );
                }
            }
        }
    }

    /// Text mostly printable ASCII (the fast path's), with control,
    /// boundary and multi-byte characters mixed in at random places.
    fn mostly_ascii() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let c = prop_oneof![
            12 => proptest::char::range(' ', '~'),
            1 => proptest::char::range('\u{0}', '\u{1f}'),
            1 => proptest::char::range('\u{7f}', '\u{a0}'),
            1 => any::<char>(),
            1 => prop::sample::select(vec!['é', '€', '🦀', '\u{ad}', '\u{200b}', '\u{2028}']),
        ];
        prop_oneof![
            prop::collection::vec(c.clone(), 0..80).prop_map(String::from_iter),
            prop::collection::vec(c, MAX_OWNER_LEN - 4..MAX_KEY_LEN + 4)
                .prop_map(String::from_iter),
            "[ -~]{0,600}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// On random text the fast path accepts and refuses what the
        /// general path does, with the same error.
        #[test]
        fn fast_path_agrees_with_the_general_path(s in mostly_ascii()) {
            for (what, max) in [("key", MAX_KEY_LEN), ("owner", MAX_OWNER_LEN)] {
                proptest::prop_assert_eq!(
                    outcome(validate(what, &s, max)),
                    outcome(validate_chars(what, &s, max))
                );
            }
            proptest::prop_assert_eq!(
                printable_ascii(s.as_bytes()),
                s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            );
        }
    }

    #[test]
    fn serde_validates() {
        let k: Key = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(k.as_str(), "abc");
        assert!(serde_json::from_str::<Key>("\"\"").is_err());
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"abc\"");
    }
}
