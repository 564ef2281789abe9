//! The admin API: the only way the directory's state changes, and every change
//! is recorded in an append-only audit log.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /admin/links` | `{"person", "account": {"platform", "id"}}` | links the account to the person; answers its pseudonymous handle |
//! | `DELETE /admin/links` | `{"account"}` | unlinks it |
//! | `POST /admin/consents` | `{"account", "scope", "granted"}` | records consent or its withdrawal |
//! | `POST /admin/blocks` / `DELETE /admin/blocks` | `{"blocker", "blocked"}` | blocks / unblocks a person or business |
//! | `POST /admin/marketing` | `{"person", "business", "state": "opted-in" \| "opted-out"}` | records a marketing choice |
//! | `GET /admin/audit` | | the audit log, oldest first |
//!
//! Every request needs `Authorization: Bearer <admin_token>` (the `admin_token`
//! Spin variable); the API is off while that variable is empty. Errors are JSON
//! `{"error": "…"}` with 400 (bad body), 401, 404 or 409 (conflict).

pub mod operations;

#[cfg(target_arch = "wasm32")]
mod handler {
    use crate::operations::{self, Outcome, Store};
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::{http_component, key_value, variables};

    struct SpinStore(key_value::Store);

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

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or_default()
    }

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let token = variables::get("admin_token").unwrap_or_default();
        let presented = request
            .header("authorization")
            .and_then(|value| value.as_str())
            .and_then(|value| value.strip_prefix("Bearer "));
        let outcome = match operations::authorize(&token, presented) {
            Err(outcome) => outcome,
            Ok(()) => {
                let store = SpinStore(key_value::Store::open_default()?);
                let actor = request
                    .header("x-switchboard-actor")
                    .and_then(|value| value.as_str())
                    .unwrap_or("admin")
                    .to_string();
                let method = match request.method() {
                    Method::Get => "GET",
                    Method::Post => "POST",
                    Method::Delete => "DELETE",
                    _ => "OTHER",
                };
                operations::dispatch(
                    &store,
                    method,
                    request.path(),
                    request.body(),
                    &actor,
                    now_ms(),
                )
            }
        };
        let Outcome { status, body } = outcome;
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build())
    }
}
