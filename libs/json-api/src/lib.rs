//! What the JSON HTTP components share — the admin API and the business API:
//! an answer type, bearer-token checks, and the key-value operations they run
//! over (Spin's store in the component, a map in native tests), so that each
//! component holds only its own operations.

use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The key-value operations the APIs need.
pub trait Store {
    /// The value of `key`.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Sets `key`.
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()>;
    /// Removes `key`.
    fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Every key.
    fn keys(&self) -> anyhow::Result<Vec<String>>;
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// A store failure, answered 500 with the reason: so that `?` on a store
/// operation ends the request.
impl From<anyhow::Error> for Outcome {
    fn from(error: anyhow::Error) -> Self {
        refuse(500, format!("store failure: {error:#}"))
    }
}

/// An answer with `body`.
pub fn answer(status: u16, body: Value) -> Outcome {
    Outcome { status, body }
}

/// A refusal: `{"error": …}` with `status`.
pub fn refuse(status: u16, error: impl Into<String>) -> Outcome {
    answer(status, json!({ "error": error.into() }))
}

/// Checks a bearer token in constant time. An empty configured token (the
/// Spin variable `variable` unset) turns the API off (503) rather than leaving
/// it open.
pub fn authorize(configured: &str, presented: Option<&str>, variable: &str) -> Result<(), Outcome> {
    if configured.is_empty() {
        return Err(refuse(
            503,
            format!("this API is off: set the {variable} variable"),
        ));
    }
    let Some(presented) = presented else {
        return Err(refuse(401, "missing `Authorization: Bearer <token>`"));
    };
    let (a, b) = (configured.as_bytes(), presented.as_bytes());
    let differences = a
        .iter()
        .zip(b.iter())
        .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
    if differences == 0 {
        Ok(())
    } else {
        Err(refuse(401, "wrong bearer token"))
    }
}

/// A store in memory, for native tests of the operations.
#[derive(Default)]
pub struct MemoryStore(RefCell<BTreeMap<String, Vec<u8>>>);

impl Store for MemoryStore {
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.0.borrow_mut().insert(key.into(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
    fn keys(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.0.borrow().keys().cloned().collect())
    }
}

/// The component side: Spin's store, the request's token, the response.
#[cfg(target_arch = "wasm32")]
pub mod spin {
    use super::{Outcome, Store};
    use spin_sdk::http::{Method, Request, Response};
    use spin_sdk::key_value;

    /// Spin's default key-value store.
    pub struct SpinStore(key_value::Store);

    impl SpinStore {
        /// Opens the component's default store.
        pub fn open_default() -> anyhow::Result<SpinStore> {
            Ok(SpinStore(key_value::Store::open_default()?))
        }
    }

    impl Store for SpinStore {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.get(key)?)
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            Ok(self.0.set(key, value)?)
        }
        fn delete(&self, key: &str) -> anyhow::Result<()> {
            Ok(self.0.delete(key)?)
        }
        fn keys(&self) -> anyhow::Result<Vec<String>> {
            Ok(self.0.get_keys()?)
        }
    }

    /// The token of the request's `Authorization: Bearer` header.
    pub fn bearer(request: &Request) -> Option<&str> {
        request
            .header("authorization")
            .and_then(|value| value.as_str())
            .and_then(|value| value.strip_prefix("Bearer "))
    }

    /// The request's method by name (`GET`, `POST`, `DELETE`; `OTHER`).
    pub fn method(request: &Request) -> &'static str {
        match request.method() {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            _ => "OTHER",
        }
    }

    /// The answer as a JSON response.
    pub fn respond(Outcome { status, body }: Outcome) -> Response {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
    }

    /// Milliseconds since the Unix epoch, from the WASI wall clock.
    pub fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_checked_and_an_unset_token_turns_the_api_off() {
        let off = authorize("", Some(""), "admin_token").unwrap_err();
        assert_eq!(off.status, 503);
        assert!(off.body["error"].as_str().unwrap().contains("admin_token"));
        assert_eq!(authorize("secret", None, "t").unwrap_err().status, 401);
        assert_eq!(
            authorize("secret", Some("secreT"), "t").unwrap_err().status,
            401
        );
        assert_eq!(
            authorize("secret", Some("secret!"), "t")
                .unwrap_err()
                .status,
            401
        );
        assert!(authorize("secret", Some("secret"), "t").is_ok());
    }

    #[test]
    fn a_store_failure_is_a_500_with_its_reason() {
        let outcome = Outcome::from(anyhow::anyhow!("disk full"));
        assert_eq!(outcome.status, 500);
        assert!(
            outcome.body["error"]
                .as_str()
                .unwrap()
                .contains("disk full")
        );
    }
}
