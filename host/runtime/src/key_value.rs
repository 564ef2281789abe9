//! Key-value stores for components (`fermyon:spin/key-value`), embedded on disk.
//!
//! The backend is chosen the way Spin chooses it, by the runtime config file
//! (`--runtime-config-file`): `[key_value_store.<label>] type = "spin"` is the
//! embedded store, here a redb database (one file, ACID, crash-safe, no server).
//! Without a runtime config, the `default` label is embedded at
//! `.switchboard/key_value.redb` beside the manifest. Each label is its own
//! table; a component may open only the labels its manifest lists.
//!
//! Every write is durable when it returns (redb commits with an fsync), and
//! writes that arrive together share one commit: a writer that finds no commit
//! under way commits its own changes and everything queued behind it in one
//! transaction (each caller's changes still all-or-nothing), the others wait
//! for that commit. Under load the fsyncs per second stay bounded while the
//! writes per second grow with the callers. Stages that know their writes
//! belong together hold them ([`HeldWrites`]) and commit them at once: a
//! routing pass, and an HTTP request up to its answer.

use anyhow::{Context, Result, bail};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// All stores of a running app, by label.
#[derive(Clone, Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<EmbeddedStore>>,
}

/// One embedded store: a redb table in a database file.
pub struct EmbeddedStore {
    db: Arc<Database>,
    table: String,
    commits: Arc<GroupCommit>,
}

/// The writes waiting for a database's next commit (group commit).
#[derive(Default)]
struct GroupCommit {
    state: Mutex<CommitQueue>,
    committed: Condvar,
}

/// The queue behind [`GroupCommit`].
#[derive(Default)]
struct CommitQueue {
    /// Writes not yet taken by a committer: (ticket, table, changes).
    pending: Vec<(u64, String, Vec<Change>)>,
    next_ticket: u64,
    /// Whether a writer is committing right now.
    committing: bool,
    /// Outcomes of committed tickets not yet collected by their writers.
    outcomes: HashMap<u64, Result<(), String>>,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, CommitQueue> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits `changes` to `table`, together with whatever else is queued.
    fn apply(&self, db: &Database, table: &str, changes: Vec<Change>) -> Result<()> {
        let mut queue = self.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.pending.push((ticket, table.to_string(), changes));
        loop {
            if let Some(outcome) = queue.outcomes.remove(&ticket) {
                return outcome.map_err(anyhow::Error::msg);
            }
            if queue.committing {
                queue = self
                    .committed
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            queue.committing = true;
            let batch = std::mem::take(&mut queue.pending);
            drop(queue);
            let outcomes = commit_batch(db, batch);
            queue = self.lock();
            queue.committing = false;
            queue.outcomes.extend(outcomes);
            self.committed.notify_all();
        }
    }
}

/// Commits every write of `batch` in one transaction. Should that fail, each
/// write is committed alone, so one bad write fails only its own caller.
fn commit_batch(
    db: &Database,
    batch: Vec<(u64, String, Vec<Change>)>,
) -> Vec<(u64, Result<(), String>)> {
    let together = || -> Result<()> {
        let write = db.begin_write()?;
        for (_, table, changes) in &batch {
            write_changes(&write, table, changes)?;
        }
        write.commit()?;
        Ok(())
    };
    if batch.len() == 1 || together().is_err() {
        return batch
            .into_iter()
            .map(|(ticket, table, changes)| {
                let alone = || -> Result<()> {
                    let write = db.begin_write()?;
                    write_changes(&write, &table, &changes)?;
                    write.commit()?;
                    Ok(())
                };
                (ticket, alone().map_err(|error| format!("{error:#}")))
            })
            .collect();
    }
    batch
        .into_iter()
        .map(|(ticket, _, _)| (ticket, Ok(())))
        .collect()
}

/// Applies `changes` to `table` inside the transaction `write`.
fn write_changes(write: &redb::WriteTransaction, table: &str, changes: &[Change]) -> Result<()> {
    let mut table = write.open_table(TableDefinition::<&str, &[u8]>::new(table))?;
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
    Ok(())
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
        let mut databases: BTreeMap<PathBuf, (Arc<Database>, Arc<GroupCommit>)> = BTreeMap::new();
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
            let (db, commits) = match databases.get(&path) {
                Some(opened) => opened.clone(),
                None => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    let db = Arc::new(Database::create(&path).with_context(|| {
                        format!("cannot open key-value database {}", path.display())
                    })?);
                    let opened = (db, Arc::new(GroupCommit::default()));
                    databases.insert(path.clone(), opened.clone());
                    opened
                }
            };
            let store = EmbeddedStore {
                db,
                table: label.clone(),
                commits,
            };
            stores.insert(label, Arc::new(store));
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
        self.apply(&[Change::Set(key.to_string(), value.to_vec())])
    }

    /// Removes `key`, durably.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.apply(&[Change::Delete(key.to_string())])
    }

    /// Up to `limit` entries whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_prefix_after(prefix, None, limit)
    }

    /// Up to `limit` entries whose keys start with `prefix` and come after
    /// `after` (a key of an earlier page), in key order: how a reader pages
    /// through a prefix.
    pub fn scan_prefix_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        use std::ops::Bound;
        let read = self.db.begin_read()?;
        let table = match read.open_table(self.definition()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for entry in table.range::<&str>((start, Bound::Unbounded))? {
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
        self.commits.apply(&self.db, &self.table, changes.to_vec())
    }

    /// Removes and returns the first entry (in key order) whose key starts with
    /// `prefix`, in one write transaction: of concurrent callers, each gets a
    /// different entry or none, so an entry is handed out at most once.
    pub fn take_first(&self, prefix: &str) -> Result<Option<(String, Vec<u8>)>> {
        let write = self.db.begin_write()?;
        let taken = {
            let mut table = write.open_table(self.definition())?;
            let first = match table.range(prefix..)?.next() {
                Some(entry) => {
                    let (key, value) = entry?;
                    let key = key.value();
                    key.starts_with(prefix)
                        .then(|| (key.to_string(), value.value().to_vec()))
                }
                None => None,
            };
            if let Some((key, _)) = &first {
                table.remove(key.as_str())?;
            }
            first
        };
        if taken.is_some() {
            write.commit()?;
        } else {
            write.abort()?;
        }
        Ok(taken)
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

/// What a component's key-value calls need from a store: the embedded store
/// itself, or a [`WriteBuffer`] over it.
pub trait KeyValueView: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Sets `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key`.
    fn delete(&self, key: &str) -> Result<()>;
    /// Every key.
    fn keys(&self) -> Result<Vec<String>>;
}

impl KeyValueView for EmbeddedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        EmbeddedStore::get(self, key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        EmbeddedStore::set(self, key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        EmbeddedStore::delete(self, key)
    }
    fn keys(&self) -> Result<Vec<String>> {
        EmbeddedStore::keys(self)
    }
}

/// Writes held back to be committed with a larger transaction, over a store
/// that reads see through: the pipeline gives one to the router for a pass
/// over the inbox, so that the directory's writes (rate counters, the
/// message-id map, opt-outs) are committed with the hand-over they belong to,
/// in one flush, rather than one flush each.
pub struct WriteBuffer {
    base: Arc<EmbeddedStore>,
    pending: Mutex<Pending>,
}

/// What a [`WriteBuffer`] holds: the writes not yet committed, by key (`None`
/// is a deletion), and whether it was committed for good and now writes
/// straight through to its store.
#[derive(Default)]
struct Pending {
    writes: BTreeMap<String, Option<Vec<u8>>>,
    writing_through: bool,
}

impl WriteBuffer {
    /// An empty buffer over `base`.
    pub fn new(base: Arc<EmbeddedStore>) -> WriteBuffer {
        WriteBuffer {
            base,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// The store the buffer writes to.
    pub fn base(&self) -> &Arc<EmbeddedStore> {
        &self.base
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The buffered writes as changes to commit, leaving the buffer empty.
    pub fn take_changes(&self) -> Vec<Change> {
        Self::changes(&mut self.pending())
    }

    fn changes(pending: &mut Pending) -> Vec<Change> {
        std::mem::take(&mut pending.writes)
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => Change::Set(key, value),
                None => Change::Delete(key),
            })
            .collect()
    }

    /// Commits the buffered writes in one transaction, then lets every later
    /// write go straight to the store: how a request's writes become durable
    /// together before its answer is sent, while anything the component
    /// writes after answering is still kept. The lock is held throughout, so
    /// no write can slip in between and be lost.
    pub fn commit_and_write_through(&self) -> Result<()> {
        let mut pending = self.pending();
        pending.writing_through = true;
        let changes = Self::changes(&mut pending);
        if changes.is_empty() {
            return Ok(());
        }
        self.base.apply(&changes)
    }
}

impl KeyValueView for WriteBuffer {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.pending().writes.get(key) {
            return Ok(value.clone());
        }
        self.base.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut pending = self.pending();
        if pending.writing_through {
            return self.base.set(key, value);
        }
        pending.writes.insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        let mut pending = self.pending();
        if pending.writing_through {
            return self.base.delete(key);
        }
        pending.writes.insert(key.to_string(), None);
        Ok(())
    }
    fn keys(&self) -> Result<Vec<String>> {
        let mut keys: std::collections::BTreeSet<String> = self.base.keys()?.into_iter().collect();
        for (key, value) in self.pending().writes.iter() {
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        Ok(keys.into_iter().collect())
    }
}

/// The writes of one component instance's work, a [`WriteBuffer`] per store
/// it opens, held until the host commits them: an HTTP request's when the
/// component has its answer and before the answer is sent, a routing pass's
/// together with the outbox entries they led to. A request's writes are then
/// all-or-nothing per store (an admin change and its audit record, a
/// webhook's inbox entry and its duplicate marker), a component that traps
/// before answering leaves nothing half written, and a webhook costs one
/// commit rather than one per write.
#[derive(Default)]
pub struct HeldWrites {
    buffers: Mutex<Vec<Arc<WriteBuffer>>>,
}

impl HeldWrites {
    /// The request's buffer over `store`, made on first use.
    pub fn buffer_for(&self, store: &Arc<EmbeddedStore>) -> Arc<WriteBuffer> {
        let mut buffers = self
            .buffers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(buffer) = buffers
            .iter()
            .find(|buffer| Arc::ptr_eq(buffer.base(), store))
        {
            return buffer.clone();
        }
        let buffer = Arc::new(WriteBuffer::new(store.clone()));
        buffers.push(buffer.clone());
        buffer
    }

    /// Commits every buffer (one transaction per store) and lets later writes
    /// through.
    pub fn commit(&self) -> Result<()> {
        let buffers = self
            .buffers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for buffer in buffers {
            buffer.commit_and_write_through()?;
        }
        Ok(())
    }
}

/// Runs a write that waits for its commit's flush without holding up the
/// async worker it was called on: the worker's other requests move to
/// another thread meanwhile, so that many requests can wait for the same
/// (group) commit rather than one per worker.
pub fn durable_write<T>(write: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty directory of this test process's own, named `name`.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchboard-kv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn values_survive_reopening() {
        let dir = scratch("reopen");
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
    fn concurrent_writers_share_commits_and_lose_nothing() {
        let dir = scratch("group");
        {
            let stores = KeyValueStores::open(None, &dir).unwrap();
            let store = stores.get("default").unwrap();
            std::thread::scope(|scope| {
                for writer in 0..8 {
                    let store = store.clone();
                    scope.spawn(move || {
                        for n in 0..50 {
                            store
                                .apply(&[
                                    Change::Set(format!("inbox:{writer}:{n}"), vec![1]),
                                    Change::SetIfAbsent("first".into(), format!("{writer}").into()),
                                    Change::Delete(format!("inbox:{writer}:{}", n.max(1) - 1)),
                                    Change::Set(format!("done:{writer}:{n}"), vec![2]),
                                ])
                                .unwrap();
                        }
                    });
                }
            });
        }
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        let keys = store.keys().unwrap();
        assert_eq!(keys.iter().filter(|k| k.starts_with("done:")).count(), 400);
        // Each writer's last inbox key is the only one its deletes left.
        assert_eq!(keys.iter().filter(|k| k.starts_with("inbox:")).count(), 8);
        assert!(keys.contains(&"first".to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_buffer_reads_its_own_writes_and_commits_them_at_once() {
        let dir = scratch("buffer");
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        store.set("kept", b"0").unwrap();
        store.set("gone", b"0").unwrap();
        let buffer = WriteBuffer::new(store.clone());
        buffer.set("new", b"1").unwrap();
        buffer.delete("gone").unwrap();
        assert_eq!(
            KeyValueView::get(&buffer, "new").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(KeyValueView::get(&buffer, "gone").unwrap(), None);
        assert_eq!(KeyValueView::keys(&buffer).unwrap(), vec!["kept", "new"]);
        // Nothing reached the store until the changes are committed.
        assert_eq!(store.get("new").unwrap(), None);
        assert!(store.get("gone").unwrap().is_some());
        store.apply(&buffer.take_changes()).unwrap();
        assert_eq!(store.keys().unwrap(), vec!["kept", "new"]);
        assert!(buffer.take_changes().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_request_commits_its_writes_together_then_writes_through() {
        let dir = scratch("request");
        {
            let stores = KeyValueStores::open(None, &dir).unwrap();
            let store = stores.get("default").unwrap();
            let writes = HeldWrites::default();
            let buffer = writes.buffer_for(&store);
            assert!(Arc::ptr_eq(&buffer, &writes.buffer_for(&store)));
            buffer.set("inbox:1", b"envelope").unwrap();
            buffer.set("envelope:1", b"envelope").unwrap();
            assert_eq!(store.get("inbox:1").unwrap(), None, "visible before commit");
            writes.commit().unwrap();
            assert_eq!(store.keys().unwrap(), vec!["envelope:1", "inbox:1"]);
            // After the answer, a write is durable when it returns.
            buffer.set("late", b"1").unwrap();
            buffer.delete("inbox:1").unwrap();
            assert!(buffer.take_changes().is_empty());
        }
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        assert_eq!(store.keys().unwrap(), vec!["envelope:1", "late"]);
        // A request that never answered leaves nothing behind.
        let abandoned = HeldWrites::default();
        abandoned.buffer_for(&store).set("half", b"1").unwrap();
        drop(abandoned);
        assert_eq!(store.get("half").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_prefix_pages_in_key_order_without_gaps_or_repeats() {
        let dir = scratch("page");
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        let mut changes: Vec<Change> = (0..25)
            .map(|n| Change::Set(format!("inbox:{n:02}"), vec![n]))
            .collect();
        changes.push(Change::Set("inbo".into(), vec![]));
        changes.push(Change::Set("outbox:1".into(), vec![]));
        store.apply(&changes).unwrap();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .scan_prefix_after("inbox:", after.as_deref(), 10)
                .unwrap();
            assert!(page.len() <= 10);
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            seen.extend(page.into_iter().map(|(key, _)| key));
        }
        let expected: Vec<String> = (0..25).map(|n| format!("inbox:{n:02}")).collect();
        assert_eq!(seen, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_unknown_backends_with_a_reason() {
        let dir = scratch("cfg");
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
