//! Login throttling: after [`MAX_FAILURES_PER_USER`] failed logins for one username, or
//! [`MAX_FAILURES_PER_CLIENT`] from one address, within [`WINDOW_MS`], further attempts are
//! refused (before the password is even checked) until the oldest failure leaves the window. A
//! success clears the username's failures. Kept in memory: a restart forgives, which costs an
//! attacker a restart per handful of guesses.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use paysync_core::UnixMs;

pub const WINDOW_MS: i64 = 15 * 60_000;
pub const MAX_FAILURES_PER_USER: usize = 5;
pub const MAX_FAILURES_PER_CLIENT: usize = 20;
/// Keys remembered at most; beyond, the oldest failures are forgotten first (an attacker
/// spraying usernames cannot grow memory without bound).
const MAX_KEYS: usize = 10_000;

/// The two counters a login attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keys {
    client: String,
    user: String,
}

pub fn keys(client: IpAddr, username: &str) -> Keys {
    Keys {
        client: format!("client:{client}"),
        user: format!("user:{}", username.to_lowercase()),
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<UnixMs>>>,
}

impl LoginThrottle {
    /// `Some(milliseconds to wait)` when an attempt with these keys is refused now.
    pub fn blocked(&self, keys: &Keys, now: UnixMs) -> Option<i64> {
        let mut failures = self.lock();
        [
            (&keys.user, MAX_FAILURES_PER_USER),
            (&keys.client, MAX_FAILURES_PER_CLIENT),
        ]
        .into_iter()
        .filter_map(|(key, max)| {
            let times = failures.get_mut(key)?;
            while times.front().is_some_and(|t| *t <= now - WINDOW_MS) {
                times.pop_front();
            }
            (times.len() >= max).then(|| times[times.len() - max] + WINDOW_MS - now)
        })
        .max()
    }

    pub fn failed(&self, keys: &Keys, now: UnixMs) {
        let mut failures = self.lock();
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| *t > now - WINDOW_MS));
        }
        for key in [&keys.user, &keys.client] {
            if failures.len() < MAX_KEYS || failures.contains_key(key) {
                failures.entry(key.clone()).or_default().push_back(now);
            }
        }
    }

    pub fn succeeded(&self, keys: &Keys) {
        self.lock().remove(&keys.user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<UnixMs>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_username_is_locked_after_five_failures_until_the_window_passes() {
        let throttle = LoginThrottle::default();
        let k = keys(ip(1), "Ada");
        for t in 0..5 {
            assert_eq!(throttle.blocked(&k, t), None);
            throttle.failed(&k, t);
        }
        // From another address too: the username is what is guessed at.
        assert_eq!(
            throttle.blocked(&keys(ip(2), "ada"), 10),
            Some(WINDOW_MS - 10)
        );
        assert_eq!(
            throttle.blocked(&k, WINDOW_MS),
            None,
            "the first failure left the window"
        );
    }

    #[test]
    fn one_address_spraying_usernames_is_locked_after_twenty() {
        let throttle = LoginThrottle::default();
        for n in 0..20 {
            throttle.failed(&keys(ip(1), &format!("user{n}")), 0);
        }
        assert!(throttle.blocked(&keys(ip(1), "fresh"), 1).is_some());
        assert_eq!(throttle.blocked(&keys(ip(2), "fresh"), 1), None);
    }

    #[test]
    fn success_clears_the_username() {
        let throttle = LoginThrottle::default();
        let k = keys(ip(1), "ada");
        for t in 0..4 {
            throttle.failed(&k, t);
        }
        throttle.succeeded(&k);
        throttle.failed(&k, 5);
        assert_eq!(throttle.blocked(&k, 6), None);
    }
}
