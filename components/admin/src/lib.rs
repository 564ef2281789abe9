//! The admin API: the only way the directory's state changes, and every change
//! is recorded in an append-only audit log.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /admin/conversations` | `{"kind": "direct" \| "group", "title"?, "members": [{"platform", "id", "role"?, "endpoint"?}, …]}` | 201 the conversation: `{"id", "kind", "title"?, "members": [{"platform", "id", "endpoint", "state", "role", "alias"}, …]}`, members in request order, each with an endpoint from its app's pool; 409 when a member has not consented to cross-app messaging or one has blocked another |
//! | `GET /admin/conversations/{id}` | | 200 the conversation, with `"created_at_ms"`; 404 |
//! | `POST /admin/conversations/{id}/members` | `{"platform", "id", "role"?, "endpoint"?}` | 201 the new member; 200 the member if already in; 404; 409 (direct conversation, full group, no consent, block) |
//! | `DELETE /admin/conversations/{id}/members/{platform}/{id}` | | 200 the member, `"state": "left"`; 404 if not a member |
//! | `POST /admin/consents` | `{"account", "scope", "granted"}` | records consent or its withdrawal |
//! | `POST /admin/blocks` / `DELETE /admin/blocks` | `{"blocker", "blocked"}` | blocks / unblocks a person or business |
//! | `POST /admin/marketing` | `{"person", "business", "state": "opted-in" \| "opted-out"}` | records a marketing choice |
//! | `POST /admin/sharing` | `{"platform", "attribute": "display-name" \| "phone-number" \| "username", "enabled"}` | 200 `{"platform", "attribute", "enabled", "announced_at_ms", "effective_at_ms"}`: turns on sharing that attribute of the app's people on other apps by default, from `effective_at_ms` (now plus the notice window, `sharing_notice_ms`, 30 days by default), and leaves an announcement the host sends to each of them; turning off applies at once; asking for what is already on record changes nothing |
//! | `GET /admin/sharing` | | `{"policies": [{"platform", "attribute", "enabled", "announced_at_ms", "effective_at_ms"}, …]}` for the apps the relay serves |
//! | `GET /admin/audit?after=<sequence>&limit=<n>` | | `{"records": [{"sequence", "at_ms", "actor", "action", "details"}, …], "next": <sequence> \| null}`: the records after `after` (default 0, the start), oldest first, at most `limit` (default 100, at most 1000); `next` is the `after` of the next page |
//!
//! Path segments are percent-encoded (a Matrix id `@alice:example.org` is
//! `%40alice%3Aexample.org`). Roles are `person` (the default), `business`
//! and `bot`; a member's `state` is `invited`, `active` or `left`.
//!
//! Every request needs `Authorization: Bearer <admin_token>` (the `admin_token`
//! Spin variable); the API is off while that variable is empty. The audit log
//! names the token's holder by the `admin_name` variable (default `admin`),
//! never by anything in the request. Endpoint pools come from the `endpoints`
//! variable (`whatsapp=<id>,<id> messenger=<page id> …`), the apps whose ids
//! are endpoint-scoped from `scoped_apps` (default `messenger instagram`), the
//! largest group from `group_max_members` (default 256), the notice window
//! of a sharing policy from `sharing_notice_ms` (default 30 days, in ms).
//! Errors are JSON
//! `{"error": "…"}` with 400 (bad body or path), 401, 404, 409 (conflict) or
//! 500 (store failure, bad configuration).

pub mod operations;

#[cfg(target_arch = "wasm32")]
mod handler {
    use crate::operations;
    use json_api::spin::{SpinStore, method, now_ms, respond};
    use spin_sdk::http::{IntoResponse, Request};
    use spin_sdk::{http_component, variables};

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let store = SpinStore::open_default()?;
        let headers: Vec<(&str, &str)> = request
            .headers()
            .filter_map(|(name, value)| Some((name, value.as_str()?)))
            .collect();
        let call = operations::Request {
            method: method(&request),
            path: request.path(),
            query: request.query(),
            headers: &headers,
            body: request.body(),
        };
        let outcome = operations::handle(&store, |name| variables::get(name).ok(), &call, now_ms());
        Ok(respond(outcome))
    }
}
