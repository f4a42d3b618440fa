//! A connector's cached view of one kind of named thing at the destination (lists, tags, custom
//! fields): name ↔ id, loaded on first use, reloaded when a name is missing (someone may have
//! created it since), and kept up to date with what the connector creates itself.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::RwLock;

use crate::error::DestinationError;

/// One named thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub name: String,
}

impl Entry {
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Entry {
            id: id.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Default)]
struct Maps {
    loaded: bool,
    by_key: BTreeMap<String, Entry>,
    by_id: BTreeMap<String, Entry>,
}

/// Name ↔ id, thread-safe. Names compare case-insensitively when `fold_case` (tags: vendors keep
/// tag names unique regardless of case).
#[derive(Debug, Default)]
pub struct Catalog {
    fold_case: bool,
    maps: RwLock<Maps>,
}

impl Catalog {
    pub fn new(fold_case: bool) -> Self {
        Catalog {
            fold_case,
            maps: RwLock::default(),
        }
    }

    fn key(&self, name: &str) -> String {
        if self.fold_case {
            name.trim().to_lowercase()
        } else {
            name.trim().to_owned()
        }
    }

    pub fn replace(&self, entries: Vec<Entry>) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        m.by_key.clear();
        m.by_id.clear();
        for e in entries {
            m.by_key.insert(self.key(&e.name), e.clone());
            m.by_id.insert(e.id.clone(), e);
        }
        m.loaded = true;
    }

    pub fn insert(&self, entry: Entry) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        m.by_key.insert(self.key(&entry.name), entry.clone());
        m.by_id.insert(entry.id.clone(), entry);
    }

    pub fn id_of(&self, name: &str) -> Option<String> {
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        m.by_key.get(&self.key(name)).map(|e| e.id.clone())
    }

    pub fn name_of(&self, id: &str) -> Option<String> {
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        m.by_id.get(id).map(|e| e.name.clone())
    }

    pub fn entries(&self) -> Vec<Entry> {
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        m.by_id.values().cloned().collect()
    }

    fn is_loaded(&self) -> bool {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).loaded
    }

    /// Loads the catalog if it never was.
    pub async fn ensure_loaded<F>(&self, load: impl FnOnce() -> F) -> Result<(), DestinationError>
    where
        F: Future<Output = Result<Vec<Entry>, DestinationError>>,
    {
        if !self.is_loaded() {
            self.replace(load().await?);
        }
        Ok(())
    }

    /// Ids for `names`; a name not known reloads the catalog once. Returns the ids found and the
    /// names still missing.
    pub async fn resolve<'n, F>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
        load: impl Fn() -> F,
    ) -> Result<(BTreeMap<String, String>, BTreeSet<String>), DestinationError>
    where
        F: Future<Output = Result<Vec<Entry>, DestinationError>>,
    {
        let names: BTreeSet<&str> = names.into_iter().collect();
        if !self.is_loaded() {
            self.replace(load().await?);
        }
        let lookup = |names: &BTreeSet<&str>| {
            let mut found = BTreeMap::new();
            let mut missing = BTreeSet::new();
            for &n in names {
                match self.id_of(n) {
                    Some(id) => {
                        found.insert(n.to_owned(), id);
                    }
                    None => {
                        missing.insert(n.to_owned());
                    }
                }
            }
            (found, missing)
        };
        let (found, missing) = lookup(&names);
        if missing.is_empty() {
            return Ok((found, missing));
        }
        self.replace(load().await?);
        Ok(lookup(&names))
    }

    /// Ids for `names`, creating the missing ones with `create`.
    pub async fn resolve_or_create<'n, F, C>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
        load: impl Fn() -> F,
        create: impl Fn(String) -> C,
    ) -> Result<BTreeMap<String, String>, DestinationError>
    where
        F: Future<Output = Result<Vec<Entry>, DestinationError>>,
        C: Future<Output = Result<Entry, DestinationError>>,
    {
        let (mut found, missing) = self.resolve(names, load).await?;
        for name in missing {
            let entry = create(name.clone()).await?;
            found.insert(name, entry.id.clone());
            self.insert(entry);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn loads_once_and_reloads_on_a_miss() {
        let loads = AtomicU32::new(0);
        let c = Catalog::new(true);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![Entry::new("1", "VIP"), Entry::new("2", "customer")])
        };
        let (found, missing) = c.resolve(["vip", "Customer"], load).await.unwrap();
        assert_eq!(found["vip"], "1");
        assert_eq!(found["Customer"], "2");
        assert!(missing.is_empty());
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let (_, missing) = c.resolve(["vip", "new"], load).await.unwrap();
        assert_eq!(missing.into_iter().collect::<Vec<_>>(), vec!["new"]);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        let created = c
            .resolve_or_create(
                ["new"],
                load,
                |n: String| async move { Ok(Entry::new("9", n)) },
            )
            .await
            .unwrap();
        assert_eq!(created["new"], "9");
        assert_eq!(c.name_of("9").as_deref(), Some("new"));
        assert_eq!(c.id_of("NEW").as_deref(), Some("9"));
    }
}
