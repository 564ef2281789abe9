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
    use crate::operations;
    use json_api::spin::{SpinStore, bearer, method, now_ms, respond};
    use spin_sdk::http::{IntoResponse, Request};
    use spin_sdk::{http_component, variables};

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let token = variables::get("admin_token").unwrap_or_default();
        let outcome = match json_api::authorize(&token, bearer(&request), "admin_token") {
            Err(outcome) => outcome,
            Ok(()) => {
                let store = SpinStore::open_default()?;
                let actor = request
                    .header("x-switchboard-actor")
                    .and_then(|value| value.as_str())
                    .unwrap_or("admin")
                    .to_string();
                operations::dispatch(
                    &store,
                    method(&request),
                    request.path(),
                    request.body(),
                    &actor,
                    now_ms(),
                )
            }
        };
        Ok(respond(outcome))
    }
}
