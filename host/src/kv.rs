//! Key-value stores for components (`fermyon:spin/key-value`), embedded on disk.
//!
//! The backend is chosen the way Spin chooses it, by the runtime config file
//! (`--runtime-config-file`): `[key_value_store.<label>] type = "spin"` is the
//! embedded store, here a redb database (one file, ACID, crash-safe, no server).
//! Without a runtime config, the `default` label is embedded at
//! `.switchboard/key_value.redb` beside the manifest. Each label is its own
//! table; a component may open only the labels its manifest lists.

use anyhow::{Context, Result, bail};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// All stores of a running app, by label.
#[derive(Clone, Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<EmbeddedStore>>,
}

/// One embedded store: a redb table in a database file.
pub struct EmbeddedStore {
    db: Arc<Database>,
    table: String,
}

/// One write in an atomic [`EmbeddedStore::apply`].
#[derive(Clone, Debug)]
pub enum Change {
    /// Sets a key.
    Set(String, Vec<u8>),
    /// Sets a key unless it already has a value.
    SetIfAbsent(String, Vec<u8>),
    /// Removes a key.
    Delete(String),
}

/// A runtime config's `[key_value_store.<label>]` entry.
#[derive(Debug, serde::Deserialize)]
struct StoreConfig {
    r#type: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct RuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
}

impl KeyValueStores {
    /// Opens the stores a runtime config names (or the default one), creating
    /// their files. Relative paths start at `base_dir`.
    pub fn open(runtime_config: Option<&Path>, base_dir: &Path) -> Result<KeyValueStores> {
        let config: RuntimeConfig = match runtime_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read runtime config {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid runtime config", path.display()))?
            }
            None => RuntimeConfig::default(),
        };
        let mut entries = config.key_value_store;
        entries.entry("default".into()).or_insert(StoreConfig {
            r#type: "spin".into(),
            path: None,
            url: None,
        });
        let mut databases: BTreeMap<PathBuf, Arc<Database>> = BTreeMap::new();
        let mut stores = BTreeMap::new();
        for (label, entry) in entries {
            match entry.r#type.as_str() {
                "spin" => {}
                "redis" => bail!(
                    "key-value store `{label}`: the redis backend ({}) is not available in this version of switchboard; use type = \"spin\"",
                    entry.url.as_deref().unwrap_or("no url")
                ),
                other => bail!(
                    "key-value store `{label}`: unknown type `{other}` (expected \"spin\" or \"redis\")"
                ),
            }
            let path = base_dir.join(
                entry
                    .path
                    .unwrap_or_else(|| PathBuf::from(".switchboard/key_value.redb")),
            );
            let db = match databases.get(&path) {
                Some(db) => db.clone(),
                None => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    let db = Arc::new(Database::create(&path).with_context(|| {
                        format!("cannot open key-value database {}", path.display())
                    })?);
                    databases.insert(path.clone(), db.clone());
                    db
                }
            };
            stores.insert(label.clone(), Arc::new(EmbeddedStore { db, table: label }));
        }
        Ok(KeyValueStores { stores })
    }

    /// The store labelled `label`.
    pub fn get(&self, label: &str) -> Option<Arc<EmbeddedStore>> {
        self.stores.get(label).cloned()
    }
}

impl EmbeddedStore {
    fn definition(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(self.definition()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        Ok(table.get(key)?.map(|value| value.value().to_vec()))
    }

    /// Sets `key` durably: the write is committed (fsync'd) before this returns.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(self.definition())?;
            table.insert(key, value)?;
        }
        write.commit()?;
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<()> {
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(self.definition())?;
            table.remove(key)?;
        }
        write.commit()?;
        Ok(())
    }

    /// Up to `limit` entries whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(String, Vec<u8>)>> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(self.definition()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let mut out = Vec::new();
        for entry in table.range(prefix..)? {
            let (key, value) = entry?;
            let key = key.value();
            if !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((key.to_string(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Applies `changes` in one transaction: all of them are durable, or none.
    /// This is how a stage hands work to the next without losing or doubling it.
    pub fn apply(&self, changes: &[Change]) -> Result<()> {
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(self.definition())?;
            for change in changes {
                match change {
                    Change::Set(key, value) => {
                        table.insert(key.as_str(), value.as_slice())?;
                    }
                    Change::SetIfAbsent(key, value) => {
                        if table.get(key.as_str())?.is_none() {
                            table.insert(key.as_str(), value.as_slice())?;
                        }
                    }
                    Change::Delete(key) => {
                        table.remove(key.as_str())?;
                    }
                }
            }
        }
        write.commit()?;
        Ok(())
    }

    /// Every key.
    pub fn keys(&self) -> Result<Vec<String>> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(self.definition()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        table
            .iter()?
            .map(|entry| Ok(entry?.0.value().to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("switchboard-kv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let stores = KeyValueStores::open(None, &dir).unwrap();
            let store = stores.get("default").unwrap();
            assert_eq!(store.get("a").unwrap(), None);
            store.set("a", b"1").unwrap();
            store.set("b", b"2").unwrap();
            store.delete("b").unwrap();
        }
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.keys().unwrap(), vec!["a".to_string()]);
        assert!(stores.get("other").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_unknown_backends_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("switchboard-kv-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("runtime-config.toml");
        std::fs::write(&config, "[key_value_store.default]\ntype = \"etcd\"\n").unwrap();
        let error = KeyValueStores::open(Some(&config), &dir)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("unknown type `etcd`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
