//! Absolute expiry instants and the clocks that decide them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// An absolute UTC instant with millisecond precision, used as an entry's
/// expiry and as "now" by a [`Clock`].
///
/// The range is from the Unix epoch (`1970-01-01T00:00:00.000Z`) to
/// [`Expiry::MAX`] (`9999-12-31T23:59:59.999Z`), which every backend stores
/// exactly. Constructors reject anything outside it with
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput); nothing
/// silently saturates or wraps. Sub-millisecond parts of a [`SystemTime`] are
/// truncated toward the past.
///
/// An entry whose expiry is `e` is **live** while `now < e` and **expired**
/// from `now >= e` on: an expiry equal to now is expired.
///
/// ```
/// use std::time::Duration;
/// use store_core::Expiry;
///
/// let start = Expiry::from_unix_millis(1_700_000_000_000)?;
/// let later = start.checked_add(Duration::from_millis(1_500))?;
/// assert_eq!(later.as_unix_millis(), 1_700_000_001_500);
/// assert_eq!(later.to_string(), "2023-11-14T22:13:21.500Z");
/// assert!(start.is_expired_at(later));
/// assert!(!later.is_expired_at(start));
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry(i64);

impl Expiry {
    /// The Unix epoch, the earliest representable instant.
    pub const UNIX_EPOCH: Expiry = Expiry(0);
    /// The latest representable instant, `9999-12-31T23:59:59.999Z`.
    pub const MAX: Expiry = Expiry(Self::MAX_UNIX_MILLIS);
    /// [`Expiry::MAX`] in milliseconds since the Unix epoch.
    pub const MAX_UNIX_MILLIS: i64 = 253_402_300_799_999;

    /// The instant `millis` milliseconds after the Unix epoch.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when
    /// `millis` is negative or above [`Expiry::MAX_UNIX_MILLIS`].
    ///
    /// ```
    /// use store_core::Expiry;
    /// assert!(Expiry::from_unix_millis(-1).is_err());
    /// assert!(Expiry::from_unix_millis(Expiry::MAX_UNIX_MILLIS + 1).is_err());
    /// ```
    pub fn from_unix_millis(millis: i64) -> Result<Self> {
        if (0..=Self::MAX_UNIX_MILLIS).contains(&millis) {
            Ok(Self(millis))
        } else {
            Err(out_of_range(format_args!(
                "{millis} ms since the Unix epoch"
            )))
        }
    }

    /// Milliseconds since the Unix epoch.
    ///
    /// ```
    /// assert_eq!(store_core::Expiry::UNIX_EPOCH.as_unix_millis(), 0);
    /// ```
    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// Converts a [`SystemTime`], truncating to the millisecond.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for times
    /// before the epoch or after [`Expiry::MAX`].
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use store_core::Expiry;
    /// let t = UNIX_EPOCH + Duration::from_micros(1_999);
    /// assert_eq!(Expiry::from_system_time(t)?.as_unix_millis(), 1);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn from_system_time(time: SystemTime) -> Result<Self> {
        let since = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| out_of_range(format_args!("a time before the Unix epoch")))?;
        let millis = i64::try_from(since.as_millis()).map_err(|_| {
            out_of_range(format_args!(
                "{} ms since the Unix epoch",
                since.as_millis()
            ))
        })?;
        Self::from_unix_millis(millis)
    }

    /// The same instant as a [`SystemTime`].
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// assert_eq!(store_core::Expiry::UNIX_EPOCH.to_system_time(), UNIX_EPOCH);
    /// ```
    pub fn to_system_time(self) -> SystemTime {
        // In range by construction: 0 ..= MAX_UNIX_MILLIS.
        UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs())
    }

    /// The instant `duration` after `self` (sub-millisecond parts dropped).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when the
    /// result would pass [`Expiry::MAX`]; the message names the limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_core::Expiry;
    /// let err = Expiry::UNIX_EPOCH.checked_add(Duration::MAX).unwrap_err();
    /// assert!(err.message().contains("9999-12-31T23:59:59.999Z"));
    /// ```
    pub fn checked_add(self, duration: Duration) -> Result<Self> {
        let add = i64::try_from(duration.as_millis()).ok();
        match add.and_then(|a| self.0.checked_add(a)) {
            Some(m) if m <= Self::MAX_UNIX_MILLIS => Ok(Self(m)),
            _ => Err(out_of_range(format_args!(
                "{self} plus {} ms",
                duration.as_millis()
            ))),
        }
    }

    /// The instant `duration` before `self`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when the
    /// result would be before the Unix epoch.
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_core::Expiry;
    /// let t = Expiry::from_unix_millis(5_000)?;
    /// assert_eq!(t.checked_sub(Duration::from_secs(2))?.as_unix_millis(), 3_000);
    /// assert!(t.checked_sub(Duration::from_secs(6)).is_err());
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn checked_sub(self, duration: Duration) -> Result<Self> {
        let sub = i64::try_from(duration.as_millis()).ok();
        match sub.and_then(|s| self.0.checked_sub(s)) {
            Some(m) if m >= 0 => Ok(Self(m)),
            _ => Err(out_of_range(format_args!(
                "{self} minus {} ms",
                duration.as_millis()
            ))),
        }
    }

    /// How long after `earlier` this instant is; zero when it is not later.
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_core::Expiry;
    /// let a = Expiry::from_unix_millis(1_000)?;
    /// let b = Expiry::from_unix_millis(3_500)?;
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_millis(2_500));
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub fn saturating_duration_since(self, earlier: Expiry) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0).unsigned_abs())
    }

    /// Whether an entry expiring at `self` is expired at `now`: `self <= now`.
    ///
    /// ```
    /// use store_core::Expiry;
    /// let t = Expiry::from_unix_millis(1_000)?;
    /// assert!(t.is_expired_at(t));
    /// assert!(!t.is_expired_at(Expiry::from_unix_millis(999)?));
    /// # Ok::<(), store_core::Error>(())
    /// ```
    pub const fn is_expired_at(self, now: Expiry) -> bool {
        self.0 <= now.0
    }
}

fn out_of_range(what: fmt::Arguments<'_>) -> Error {
    Error::invalid_input(format!(
        "expiry out of range: {what} is outside 1970-01-01T00:00:00.000Z ..= 9999-12-31T23:59:59.999Z"
    ))
}

impl fmt::Display for Expiry {
    /// RFC 3339 in UTC with milliseconds, such as `2026-11-23T21:07:46.123Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&humantime::format_rfc3339_millis(self.to_system_time()), f)
    }
}

impl fmt::Debug for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expiry({self})")
    }
}

impl TryFrom<SystemTime> for Expiry {
    type Error = Error;
    fn try_from(t: SystemTime) -> Result<Self> {
        Self::from_system_time(t)
    }
}

impl From<Expiry> for SystemTime {
    fn from(e: Expiry) -> SystemTime {
        e.to_system_time()
    }
}

impl serde::Serialize for Expiry {
    /// Serialized as an integer: milliseconds since the Unix epoch.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let ms = i64::deserialize(d)?;
        Expiry::from_unix_millis(ms).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// The source of "now" for deciding expiry.
///
/// A store uses one clock for every expiry decision. Backends that compare
/// against their server's time document it in
/// [`Capabilities::clock`](crate::Capabilities::clock).
///
/// ```
/// use store_core::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.as_unix_millis() > 1_700_000_000_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Expiry;
}

/// The operating system's wall clock.
///
/// ```
/// use store_core::{Clock, SystemClock};
/// let a = SystemClock.now();
/// let b = SystemClock.now();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Expiry {
        let now = SystemTime::now();
        // Out of range only before 1970 or past `Expiry::MAX`: clamp to the
        // nearer end, without reading the clock again on the common path.
        Expiry::from_system_time(now).unwrap_or_else(|_| {
            if now < UNIX_EPOCH {
                Expiry::UNIX_EPOCH
            } else {
                Expiry::MAX
            }
        })
    }
}

/// A clock that only moves when told to, for tests. Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use store_core::{Clock, Expiry, ManualClock};
///
/// let clock = ManualClock::new(Expiry::from_unix_millis(1_000)?);
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(250));
/// assert_eq!(shared.now().as_unix_millis(), 1_250);
/// # Ok::<(), store_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing still at `start`.
    pub fn new(start: Expiry) -> Self {
        Self(Arc::new(AtomicI64::new(start.as_unix_millis())))
    }

    /// A clock standing still at the current system time.
    ///
    /// ```
    /// use store_core::{Clock, ManualClock};
    /// let c = ManualClock::starting_now();
    /// assert_eq!(c.now(), c.now());
    /// ```
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock to `now` (also backwards).
    ///
    /// ```
    /// use store_core::{Clock, Expiry, ManualClock};
    /// let c = ManualClock::starting_now();
    /// c.set(Expiry::UNIX_EPOCH);
    /// assert_eq!(c.now(), Expiry::UNIX_EPOCH);
    /// ```
    pub fn set(&self, now: Expiry) {
        self.0.store(now.as_unix_millis(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`, stopping at [`Expiry::MAX`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use store_core::{Clock, Expiry, ManualClock};
    /// let c = ManualClock::new(Expiry::UNIX_EPOCH);
    /// c.advance(Duration::from_secs(1));
    /// assert_eq!(c.now().as_unix_millis(), 1_000);
    /// ```
    pub fn advance(&self, by: Duration) {
        let add = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(add).min(Expiry::MAX_UNIX_MILLIS))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Expiry {
        Expiry(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Expiry {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_rfc3339_millis() {
        assert_eq!(Expiry::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Expiry::MAX.to_string(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn add_overflow_is_invalid_input() {
        let e = Expiry::MAX
            .checked_add(Duration::from_millis(1))
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(Expiry::MAX.checked_add(Duration::from_micros(999)).is_ok());
    }

    #[test]
    fn system_time_roundtrip() {
        let e = Expiry::from_unix_millis(1_234_567_890_123).unwrap();
        assert_eq!(Expiry::from_system_time(e.to_system_time()).unwrap(), e);
    }

    #[test]
    fn serde_as_millis() {
        let e = Expiry::from_unix_millis(42).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "42");
        assert!(serde_json::from_str::<Expiry>("-1").is_err());
    }
}
