//! Appending to the audit log from the host (key binds and resets, dead
//! letter redrives), in the layout the admin API pages through: the one
//! `conversations::append_audit`, its writes returned as changes so they
//! commit in the same transaction as what they record.

use anyhow::Result;
use std::cell::RefCell;
use switchboard_runtime::key_value::{Change, EmbeddedStore};

/// The store seen through `conversations::Store`: reads go to the store,
/// writes are kept as changes.
struct Pending<'a> {
    store: &'a EmbeddedStore,
    changes: RefCell<Vec<Change>>,
}

impl conversations::Store for Pending<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.changes
            .borrow_mut()
            .push(Change::Set(key.to_string(), value.to_vec()));
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.changes
            .borrow_mut()
            .push(Change::Delete(key.to_string()));
        Ok(())
    }
}

/// The changes that append one audit record by `actor`.
pub fn append(
    store: &EmbeddedStore,
    actor: &str,
    action: &str,
    details: serde_json::Value,
    at_ms: u64,
) -> Result<Vec<Change>> {
    let pending = Pending {
        store,
        changes: RefCell::new(Vec::new()),
    };
    conversations::append_audit(&pending, actor, action, details, at_ms)?;
    Ok(pending.changes.into_inner())
}
