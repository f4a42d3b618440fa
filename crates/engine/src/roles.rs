//! Work only one process may do at a time, when several share a PostgreSQL database: an
//! account's catch-up, applier and reconciler, the opt-in mailer, a destination's unsubscribe
//! poll, pruning the log. Each such loop runs its round only while its process holds the role
//! (a row in the store): a free role is taken at the next round, and kept by renewing it every
//! 10 s for 30 s; a process that dies loses its roles within 30 s, and others take them over at
//! their next round. Delivery needs no role: workers share
//! a destination's rows through leases. With SQLite the one process holds every role.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paysync_store::Store;

/// How long a role is held without renewal: a dead holder's roles pass to another process
/// after at most this long.
const ROLE_TTL: Duration = Duration::from_secs(30);
/// How often the roles held are renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// The roles of this process.
pub struct Roles {
    store: Arc<dyn Store>,
    /// This process among those sharing the database.
    holder: String,
    held: Mutex<HashSet<String>>,
}

impl Roles {
    /// The roles of this process, renewed every [`RENEW_EVERY`] by a task that ends with them.
    /// Must be called within a Tokio runtime.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let holder = format!(
            "{}:{}:{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        );
        let roles = Arc::new(Roles {
            store,
            holder,
            held: Mutex::new(HashSet::new()),
        });
        let weak = Arc::downgrade(&roles);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let Some(roles) = weak.upgrade() else { return };
                roles.renew().await;
            }
        });
        roles
    }

    fn holds(&self, role: &str) -> bool {
        self.held.lock().is_ok_and(|held| held.contains(role))
    }

    fn mark(&self, role: &str, held: bool) {
        if let Ok(mut roles) = self.held.lock() {
            if held {
                roles.insert(role.to_owned());
            } else {
                roles.remove(role);
            }
        }
    }

    /// Takes or renews `role`; whether this process holds it. A store error counts as not
    /// holding it (the round is skipped and tried again).
    async fn take(&self, role: &str) -> bool {
        let now = crate::now_ms();
        let until = now + i64::try_from(ROLE_TTL.as_millis()).unwrap_or(i64::MAX / 2);
        match self.store.hold_role(role, &self.holder, now, until).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(role, error = %e, "cannot take or renew a role");
                false
            }
        }
    }

    async fn renew(&self) {
        let held: Vec<String> = self
            .held
            .lock()
            .map(|held| held.iter().cloned().collect())
            .unwrap_or_default();
        for role in held {
            if !self.take(&role).await {
                tracing::info!(role, "lost a role (another process holds it now)");
                self.mark(&role, false);
            }
        }
    }

    /// Whether this process holds `role`, taking it when it is free.
    pub async fn hold(&self, role: &str) -> bool {
        if self.holds(role) {
            return true;
        }
        let held = self.take(role).await;
        if held {
            tracing::info!(role, holder = %self.holder, "took a role");
            self.mark(role, true);
        }
        held
    }

    /// Stops renewing `role` (its work is done): it lapses within 30 s.
    pub fn release(&self, role: &str) {
        self.mark(role, false);
    }

    /// `round`, run only while this process holds `role`.
    pub fn gate<F, Fut>(
        self: &Arc<Self>,
        role: String,
        mut round: F,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + use<F, Fut>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let roles = self.clone();
        move || {
            let work = round();
            let roles = roles.clone();
            let role = role.clone();
            Box::pin(async move {
                if roles.hold(&role).await {
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
