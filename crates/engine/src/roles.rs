//! Work only one process may do at a time, when several share a PostgreSQL database: an
//! account's catch-up, applier and reconciler, the opt-in mailer, a destination's unsubscribe
//! poll, pruning the log. Each such loop runs its round only while its process holds the role
//! (a row in the store, taken or renewed at every round); a process that dies loses its roles
//! when their time runs out, and another takes them over. Delivery needs no role: workers share
//! a destination's rows through leases. With SQLite the one process holds every role.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paysync_store::Store;

/// The roles of this process.
pub struct Roles {
    store: Arc<dyn Store>,
    /// This process among those sharing the database.
    holder: String,
    held: Mutex<HashSet<String>>,
}

impl Roles {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let holder = format!(
            "{}:{}:{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        );
        Arc::new(Roles {
            store,
            holder,
            held: Mutex::new(HashSet::new()),
        })
    }

    /// Takes or renews `role` for `ttl`; whether this process holds it. A store error counts as
    /// not holding it (the round is skipped and tried again).
    pub async fn hold(&self, role: &str, ttl: Duration) -> bool {
        let now = crate::now_ms();
        let until = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let held = match self.store.hold_role(role, &self.holder, now, until).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(role, error = %e, "cannot take or renew a role; skipping the round");
                false
            }
        };
        if let Ok(mut roles) = self.held.lock() {
            match (held, roles.contains(role)) {
                (true, false) => {
                    tracing::info!(role, holder = %self.holder, "took a role");
                    roles.insert(role.to_owned());
                }
                (false, true) => {
                    tracing::info!(role, "another process holds this role now");
                    roles.remove(role);
                }
                _ => {}
            }
        }
        held
    }

    /// `round`, run only while this process holds `role`. The role is held for three periods
    /// of the loop (at least 30 s), so a round's pause or a slow round does not lose it.
    pub fn gate<F, Fut>(
        self: &Arc<Self>,
        role: String,
        period: Duration,
        mut round: F,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + use<F, Fut>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let roles = self.clone();
        let ttl = (period * 3).max(Duration::from_secs(30));
        move || {
            let work = round();
            let roles = roles.clone();
            let role = role.clone();
            Box::pin(async move {
                if roles.hold(&role, ttl).await {
                    work.await;
                }
            })
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}
