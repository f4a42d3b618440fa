//! Throwaway PostgreSQL schemas, for tests and benchmarks that need a database of their own: a
//! new schema in an existing database, reached through the URL's `search_path`, dropped with
//! its value.

use crate::{Result, StoreError};

/// A schema of its own in the database at `base`, dropped (with everything in it) on drop.
#[derive(Debug)]
pub struct ScratchSchema {
    base: String,
    name: String,
}

/// Runs `sql` on `base` from a thread of its own (the blocking client runs its own runtime,
/// which may not start on an async thread).
fn admin(base: &str, sql: String) -> Result<()> {
    let base = base.to_owned();
    std::thread::spawn(move || -> Result<()> {
        let mut client = postgres::Client::connect(&base, postgres::NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })
    .join()
    .map_err(|_| StoreError::Database("the schema thread panicked".into()))?
}

impl ScratchSchema {
    /// Creates a new schema named `{prefix}_{random}` in the database at `base`.
    pub fn create(base: &str, prefix: &str) -> Result<Self> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        admin(base, format!("CREATE SCHEMA {name}"))?;
        Ok(ScratchSchema {
            base: base.to_owned(),
            name,
        })
    }

    /// The database URL with this schema as its search path.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        if let Err(e) = admin(
            &self.base,
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        ) {
            tracing::warn!(schema = %self.name, error = %e, "cannot drop a scratch schema");
        }
    }
}
