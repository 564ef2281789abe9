//! The admin operations over any key-value store, so they are tested natively
//! with an in-memory map and run in the component over Spin's key-value store.

use directory_schema::{
    Account, AccountRecord, AuditRecord, BlockRecord, ConsentRecord, ConsentScope, OptInRecord,
    OptInState, PersonRecord, account_key, audit_key, block_key, consent_key, handle_for,
    handle_key, marketing_key, person_key,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use json_api::{Outcome, Store};
use json_api::{answer, refuse};

/// What an operation answers: `Err` for a refusal or a store failure.
type Answer = Result<Outcome, Outcome>;

#[derive(Deserialize)]
struct LinkRequest {
    person: String,
    account: Account,
}

#[derive(Deserialize)]
struct UnlinkRequest {
    account: Account,
}

#[derive(Deserialize)]
struct ConsentRequest {
    account: Account,
    scope: ConsentScope,
    granted: bool,
}

#[derive(Deserialize)]
struct BlockRequest {
    blocker: Account,
    blocked: Account,
}

#[derive(Deserialize)]
struct MarketingRequest {
    person: Account,
    business: Account,
    state: OptInState,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Outcome> {
    serde_json::from_slice(body).map_err(|error| refuse(400, format!("bad request body: {error}")))
}

fn read<T: DeserializeOwned>(store: &dyn Store, key: &str) -> anyhow::Result<Option<T>> {
    store
        .get(key)?
        .map(|bytes| serde_json::from_slice(&bytes).map_err(anyhow::Error::from))
        .transpose()
}

fn write(store: &dyn Store, key: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    store.set(key, &serde_json::to_vec(value)?)
}

fn validate(accounts: &[&Account]) -> Result<(), Outcome> {
    for account in accounts {
        account.validate().map_err(|error| refuse(400, error))?;
    }
    Ok(())
}

/// Appends one record to the audit log.
fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    details: Value,
    at_ms: u64,
) -> anyhow::Result<()> {
    let record = AuditRecord {
        at_ms,
        actor: actor.to_string(),
        action: action.to_string(),
        details,
    };
    let mut sequence = 0;
    while store.get(&audit_key(at_ms, sequence))?.is_some() {
        sequence += 1;
    }
    write(store, &audit_key(at_ms, sequence), &record)
}

/// Runs one admin request. Store failures are answered 500 with the reason.
pub fn dispatch(
    store: &dyn Store,
    method: &str,
    path: &str,
    body: &[u8],
    actor: &str,
    now_ms: u64,
) -> Outcome {
    let answer = match (method, path.trim_end_matches('/')) {
        ("POST", "/admin/links") => link(store, body, actor, now_ms),
        ("DELETE", "/admin/links") => unlink(store, body, actor, now_ms),
        ("POST", "/admin/consents") => consent(store, body, actor, now_ms),
        ("POST", "/admin/blocks") => block(store, body, actor, now_ms, true),
        ("DELETE", "/admin/blocks") => block(store, body, actor, now_ms, false),
        ("POST", "/admin/marketing") => marketing(store, body, actor, now_ms),
        ("GET", "/admin/audit") => audit_log(store),
        _ => Err(refuse(404, format!("no admin operation {method} {path}"))),
    };
    answer.unwrap_or_else(|refusal| refusal)
}

fn link(store: &dyn Store, body: &[u8], actor: &str, now_ms: u64) -> Answer {
    let request: LinkRequest = parse(body)?;
    validate(&[&request.account])?;
    if request.person.trim().is_empty() {
        return Err(refuse(400, "person must not be empty"));
    }
    if let Some(existing) = read::<AccountRecord>(store, &account_key(&request.account))? {
        if existing.person != request.person {
            return Err(refuse(
                409,
                "the account is linked to another person: unlink it first",
            ));
        }
        return Ok(answer(
            200,
            json!({ "handle": existing.handle, "created": false }),
        ));
    }
    let mut person: PersonRecord = read(store, &person_key(&request.person))?.unwrap_or_default();
    if person
        .accounts
        .iter()
        .any(|account| account.platform == request.account.platform)
    {
        return Err(refuse(
            409,
            format!(
                "the person already has a {} account linked",
                request.account.platform
            ),
        ));
    }
    let handle = handle_for(&request.person, &request.account.platform);
    person.accounts.push(request.account.clone());
    write(
        store,
        &account_key(&request.account),
        &AccountRecord {
            person: request.person.clone(),
            handle: handle.clone(),
        },
    )?;
    write(
        store,
        &handle_key(&request.account.platform, &handle),
        &request.account,
    )?;
    write(store, &person_key(&request.person), &person)?;
    audit(
        store,
        actor,
        "link",
        json!({ "person": request.person, "account": request.account }),
        now_ms,
    )?;
    Ok(answer(201, json!({ "handle": handle, "created": true })))
}

fn unlink(store: &dyn Store, body: &[u8], actor: &str, now_ms: u64) -> Answer {
    let request: UnlinkRequest = parse(body)?;
    let Some(record) = read::<AccountRecord>(store, &account_key(&request.account))? else {
        return Err(refuse(404, "the account is not linked"));
    };
    let mut person: PersonRecord = read(store, &person_key(&record.person))?.unwrap_or_default();
    person
        .accounts
        .retain(|account| account != &request.account);
    write(store, &person_key(&record.person), &person)?;
    store.delete(&handle_key(&request.account.platform, &record.handle))?;
    store.delete(&account_key(&request.account))?;
    audit(
        store,
        actor,
        "unlink",
        json!({ "person": record.person, "account": request.account }),
        now_ms,
    )?;
    Ok(answer(200, json!({ "unlinked": true })))
}

fn consent(store: &dyn Store, body: &[u8], actor: &str, now_ms: u64) -> Answer {
    let request: ConsentRequest = parse(body)?;
    validate(&[&request.account])?;
    let record = ConsentRecord {
        granted: request.granted,
        at_ms: now_ms,
    };
    write(
        store,
        &consent_key(&request.account, request.scope),
        &record,
    )?;
    let details =
        json!({ "account": request.account, "scope": request.scope, "granted": request.granted });
    audit(store, actor, "consent", details, now_ms)?;
    Ok(answer(200, json!({ "granted": request.granted })))
}

fn block(store: &dyn Store, body: &[u8], actor: &str, now_ms: u64, blocking: bool) -> Answer {
    let request: BlockRequest = parse(body)?;
    validate(&[&request.blocker, &request.blocked])?;
    let key = block_key(&request.blocker, &request.blocked);
    if blocking {
        write(store, &key, &BlockRecord { at_ms: now_ms })?;
    } else {
        store.delete(&key)?;
    }
    let action = if blocking { "block" } else { "unblock" };
    audit(
        store,
        actor,
        action,
        json!({ "blocker": request.blocker, "blocked": request.blocked }),
        now_ms,
    )?;
    Ok(answer(200, json!({ "blocked": blocking })))
}

fn marketing(store: &dyn Store, body: &[u8], actor: &str, now_ms: u64) -> Answer {
    let request: MarketingRequest = parse(body)?;
    validate(&[&request.person, &request.business])?;
    write(
        store,
        &marketing_key(&request.person, &request.business),
        &OptInRecord {
            state: request.state,
            at_ms: now_ms,
        },
    )?;
    let details =
        json!({ "person": request.person, "business": request.business, "state": request.state });
    audit(store, actor, "marketing", details, now_ms)?;
    Ok(answer(200, json!({ "state": request.state })))
}

fn audit_log(store: &dyn Store) -> Answer {
    let mut keys: Vec<String> = store
        .keys()?
        .into_iter()
        .filter(|key| key.starts_with(directory_schema::AUDIT_PREFIX))
        .collect();
    keys.sort();
    let mut records = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(record) = read::<AuditRecord>(store, &key)? {
            records.push(record);
        }
    }
    Ok(answer(200, json!({ "records": records })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use json_api::{MemoryStore, authorize};

    fn call(store: &MemoryStore, method: &str, path: &str, body: Value, now: u64) -> Outcome {
        dispatch(
            store,
            method,
            path,
            body.to_string().as_bytes(),
            "tester",
            now,
        )
    }

    /// The status `call` answers.
    fn status(store: &MemoryStore, method: &str, path: &str, body: Value, now: u64) -> u16 {
        call(store, method, path, body, now).status
    }

    #[test]
    fn links_unlinks_and_audits() {
        let store = MemoryStore::default();
        let alice_wa = json!({ "platform": "whatsapp", "id": "16505551234" });
        let created = call(
            &store,
            "POST",
            "/admin/links",
            json!({ "person": "alice", "account": alice_wa }),
            1_000,
        );
        assert_eq!(created.status, 201);
        let handle = created.body["handle"].as_str().unwrap().to_string();
        assert_eq!(handle, handle_for("alice", "whatsapp"));
        assert!(!handle.contains("16505551234"));
        let resolved: Account = read(&store, &handle_key("whatsapp", &handle))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.id, "16505551234");

        let link = |person: &str, account: &Value, now| {
            let body = json!({ "person": person, "account": account });
            status(&store, "POST", "/admin/links", body, now)
        };
        let unlink = |account: &Value, now| {
            status(
                &store,
                "DELETE",
                "/admin/links",
                json!({ "account": account }),
                now,
            )
        };

        // Linking again is idempotent; to another person is a conflict.
        assert_eq!(link("alice", &alice_wa, 1_001), 200);
        assert_eq!(link("bob", &alice_wa, 1_002), 409);
        let second_wa = json!({ "platform": "whatsapp", "id": "16505550000" });
        assert_eq!(link("alice", &second_wa, 1_003), 409);

        assert_eq!(unlink(&alice_wa, 2_000), 200);
        assert_eq!(store.get(&handle_key("whatsapp", &handle)).unwrap(), None);
        assert_eq!(unlink(&alice_wa, 2_001), 404);

        let log = call(&store, "GET", "/admin/audit", Value::Null, 3_000);
        let actions: Vec<&str> = log.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            vec!["link", "unlink"],
            "refused and idempotent requests change nothing"
        );
        assert_eq!(log.body["records"][0]["actor"], "tester");
    }

    #[test]
    fn consent_block_and_marketing_are_recorded_in_order() {
        let store = MemoryStore::default();
        let alice = json!({ "platform": "messenger", "id": "2345" });
        let shop = json!({ "platform": "whatsapp", "id": "106540352242922" });
        for (body, path, method) in [
            (
                json!({ "account": alice, "scope": "cross-app-messaging", "granted": true }),
                "/admin/consents",
                "POST",
            ),
            (
                json!({ "account": alice, "scope": "cross-app-messaging", "granted": false }),
                "/admin/consents",
                "POST",
            ),
            (
                json!({ "blocker": alice, "blocked": shop }),
                "/admin/blocks",
                "POST",
            ),
            (
                json!({ "person": alice, "business": shop, "state": "opted-in" }),
                "/admin/marketing",
                "POST",
            ),
        ] {
            assert_eq!(status(&store, method, path, body, 5_000), 200, "{path}");
        }
        let account: Account = serde_json::from_value(alice.clone()).unwrap();
        let consent: ConsentRecord = read(
            &store,
            &consent_key(&account, ConsentScope::CrossAppMessaging),
        )
        .unwrap()
        .unwrap();
        assert!(!consent.granted, "the withdrawal is the last word");
        let log = call(&store, "GET", "/admin/audit", Value::Null, 6_000);
        let records = log.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 4, "same-millisecond records are all kept");
        assert_eq!(records[0]["details"]["granted"], true);
        assert_eq!(records[1]["details"]["granted"], false);
        assert_eq!(records[3]["action"], "marketing");
    }

    #[test]
    fn bad_requests_are_named() {
        let store = MemoryStore::default();
        let outcome = call(
            &store,
            "POST",
            "/admin/consents",
            json!({ "account": { "platform": "x", "id": "1" }, "scope": "everything", "granted": true }),
            1,
        );
        assert_eq!(outcome.status, 400);
        assert!(
            outcome.body["error"]
                .as_str()
                .unwrap()
                .contains("unknown variant `everything`"),
            "{}",
            outcome.body
        );
        assert_eq!(
            dispatch(&store, "POST", "/admin/links", b"{", "t", 1).status,
            400
        );
        assert_eq!(status(&store, "PUT", "/admin/links", Value::Null, 1), 404);
        assert!(
            store.keys().unwrap().is_empty(),
            "nothing written by refused requests"
        );
    }

    #[test]
    fn token_checks() {
        assert_eq!(
            authorize("", Some("x"), "admin_token").unwrap_err().status,
            503
        );
        assert_eq!(
            authorize("s3cret", None, "admin_token").unwrap_err().status,
            401
        );
        assert_eq!(
            authorize("s3cret", Some("s3cre"), "admin_token")
                .unwrap_err()
                .status,
            401
        );
        assert!(authorize("s3cret", Some("s3cret"), "admin_token").is_ok());
    }
}
