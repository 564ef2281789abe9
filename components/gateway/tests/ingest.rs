//! Native tests of the gateway's ingest: every answer, every signature
//! scheme, and what is (and is not) written to the store, with an in-memory
//! store and a fake translator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::ingest::{self, Answer, JSON, Request, Route, Secrets, Store, TEXT};
use gateway::{envelope_key, inbox_key, rejected_error_key, rejected_key};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, DecodeError, Envelope, Event, FieldError,
    FormattedText, Message, MessageCategory, Participant,
};
use webhook_signature::{Scheme, hub_signature};

const SECRET: &str = "app-secret";
const VERIFY: &str = "verify-token";
const LIMIT: u64 = 64;
const BODY: &[u8] = br#"{"entry":[]}"#;

/// A store in memory that can be told to fail.
#[derive(Default)]
struct Memory {
    values: RefCell<BTreeMap<String, Vec<u8>>>,
    broken: bool,
}

impl Memory {
    fn broken() -> Memory {
        Memory {
            broken: true,
            ..Memory::default()
        }
    }

    fn keys(&self) -> Vec<String> {
        self.values.borrow().keys().cloned().collect()
    }

    fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.values.borrow().get(key).cloned()
    }
}

impl Store for Memory {
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        anyhow::ensure!(!self.broken, "store is down");
        Ok(self.value(key))
    }
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(!self.broken, "store is down");
        self.values.borrow_mut().insert(key.into(), value.to_vec());
        Ok(())
    }
}

fn envelope(id: &str) -> Envelope {
    let address = |id: &str| Address {
        platform: "whatsapp".into(),
        id: id.into(),
    };
    Envelope {
        id: id.into(),
        platform: "whatsapp".into(),
        native_id: Some(id.into()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: "15551234567".into(),
        },
        sender: Participant {
            address: address("15551234567"),
            attributes: Vec::new(),
        },
        recipient: address("106540352242922"),
        timestamp_ms: 1_700_000_000_000,
        event: Event::Message(Message {
            content: Content::Text(FormattedText {
                body: "hi".into(),
                spans: Vec::new(),
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Personal,
        }),
        echo: false,
        extras: Vec::new(),
    }
}

fn missing_from() -> DecodeError {
    DecodeError::MissingField(FieldError {
        path: "/entry/0/from".into(),
        expected: "string".into(),
        found: None,
    })
}

fn route(scheme: Scheme) -> Route<'static> {
    Route {
        platform: "whatsapp",
        max_webhook_bytes: LIMIT,
        scheme,
    }
}

const SECRETS: Secrets<'static> = Secrets {
    secret: SECRET,
    verify_token: VERIFY,
};

/// A `POST` of `body` with `headers`, decoded into `envelopes`.
fn post(
    scheme: Scheme,
    secrets: Secrets<'_>,
    headers: &[(&str, &[u8])],
    body: &[u8],
    envelopes: Vec<Envelope>,
    store: &Memory,
) -> Answer {
    let request = Request {
        method: "POST",
        query: "",
        headers,
        body,
    };
    ingest::handle(&route(scheme), &secrets, &request, |_| Ok(envelopes), store).unwrap()
}

/// A `POST` whose body must not reach the translator.
fn post_undecoded(
    scheme: Scheme,
    headers: &[(&str, &[u8])],
    body: &[u8],
    store: &Memory,
) -> Answer {
    let request = Request {
        method: "POST",
        query: "",
        headers,
        body,
    };
    ingest::handle(
        &route(scheme),
        &SECRETS,
        &request,
        |_| panic!("decoded before the checks passed"),
        store,
    )
    .unwrap()
}

fn request(method: &str, scheme: Scheme, query: &str, store: &Memory) -> Answer {
    let headers: [(&str, &[u8]); 0] = [];
    let request = Request {
        method,
        query,
        headers: &headers[..],
        body: b"",
    };
    ingest::handle(
        &route(scheme),
        &SECRETS,
        &request,
        |_| panic!("decoded a {method}"),
        store,
    )
    .unwrap()
}

fn body(answer: &Answer) -> Value {
    assert_eq!(answer.content_type, JSON, "{answer:?}");
    serde_json::from_str(&answer.body).unwrap()
}

fn error(answer: &Answer) -> String {
    body(answer)["error"].as_str().unwrap().to_string()
}

/// The right credentials for `scheme`, as `(header, value)`.
fn signed(scheme: Scheme, body: &[u8]) -> (&'static str, Vec<u8>) {
    match scheme {
        Scheme::Hub => (
            "X-Hub-Signature-256",
            hub_signature(SECRET, body).into_bytes(),
        ),
        Scheme::SecretToken => (
            "X-Telegram-Bot-Api-Secret-Token",
            SECRET.as_bytes().to_vec(),
        ),
        Scheme::Bearer => ("Authorization", format!("Bearer {SECRET}").into_bytes()),
        Scheme::None => ("X-Unused", Vec::new()),
    }
}

const SIGNED: [Scheme; 3] = [Scheme::Hub, Scheme::SecretToken, Scheme::Bearer];

#[test]
fn each_scheme_accepts_the_right_credentials() {
    for scheme in SIGNED {
        let store = Memory::default();
        let (header, value) = signed(scheme, BODY);
        let answer = post(
            scheme,
            SECRETS,
            &[(header, &value)],
            BODY,
            vec![envelope("whatsapp:wamid.1")],
            &store,
        );
        assert_eq!(answer.status, 200, "{scheme:?}: {answer:?}");
        assert_eq!(body(&answer), json!({ "accepted": 1, "duplicates": 0 }));
    }
}

#[test]
fn each_scheme_refuses_wrong_or_missing_credentials_before_decoding() {
    for scheme in SIGNED {
        let (header, _) = signed(scheme, BODY);
        let wrong: Vec<u8> = match scheme {
            Scheme::Hub => hub_signature("not-the-secret", BODY).into_bytes(),
            Scheme::SecretToken => b"not-the-secret".to_vec(),
            _ => b"Bearer not-the-secret".to_vec(),
        };
        let store = Memory::default();
        let answer = post_undecoded(scheme, &[(header, &wrong)], BODY, &store);
        // A wrong bearer token is forbidden (Matrix's M_FORBIDDEN); a wrong
        // signature or secret token is unauthorised.
        let wanted = if scheme == Scheme::Bearer { 403 } else { 401 };
        assert_eq!(answer.status, wanted, "{scheme:?}");
        assert!(error(&answer).contains("does not match"), "{answer:?}");

        let answer = post_undecoded(scheme, &[], BODY, &store);
        assert_eq!(answer.status, 401, "{scheme:?}");
        assert!(error(&answer).starts_with("missing"), "{answer:?}");
        assert!(
            store.keys().is_empty(),
            "{scheme:?} wrote {:?}",
            store.keys()
        );
    }
}

#[test]
fn the_hub_signature_covers_the_body() {
    let store = Memory::default();
    let (header, value) = signed(Scheme::Hub, BODY);
    let answer = post_undecoded(
        Scheme::Hub,
        &[(header, &value)],
        br#"{"entry":[1]}"#,
        &store,
    );
    assert_eq!(answer.status, 401);
    assert_eq!(
        error(&answer),
        "X-Hub-Signature-256 does not match the body"
    );
}

#[test]
fn each_scheme_checks_only_its_own_header() {
    // Another scheme's valid credentials do not open a route.
    for scheme in SIGNED {
        let others: Vec<(&str, Vec<u8>)> = SIGNED
            .into_iter()
            .filter(|other| *other != scheme)
            .map(|other| signed(other, BODY))
            .collect();
        let headers: Vec<(&str, &[u8])> = others
            .iter()
            .map(|(name, value)| (*name, value.as_slice()))
            .collect();
        let store = Memory::default();
        let answer = post_undecoded(scheme, &headers, BODY, &store);
        assert_eq!(answer.status, 401, "{scheme:?}: {answer:?}");
    }
}

#[test]
fn a_second_credential_header_is_refused() {
    for scheme in SIGNED {
        let (header, value) = signed(scheme, BODY);
        let store = Memory::default();
        // Same value twice, and names differing only in case.
        for headers in [
            vec![(header, value.as_slice()), (header, value.as_slice())],
            vec![
                (header, value.as_slice()),
                (&header.to_ascii_lowercase(), value.as_slice()),
            ],
            vec![(header, b"garbage".as_slice()), (header, value.as_slice())],
        ] {
            let answer = post_undecoded(scheme, &headers, BODY, &store);
            assert_eq!(answer.status, 401, "{scheme:?}");
            assert!(error(&answer).contains("sent 2 times"), "{answer:?}");
        }
        assert!(store.keys().is_empty());
    }
}

#[test]
fn header_names_are_case_insensitive() {
    let (_, value) = signed(Scheme::Hub, BODY);
    for name in ["x-hub-signature-256", "X-HUB-SIGNATURE-256"] {
        let answer = post(
            Scheme::Hub,
            SECRETS,
            &[(name, &value)],
            BODY,
            Vec::new(),
            &Memory::default(),
        );
        assert_eq!(answer.status, 200, "{name}");
    }
}

#[test]
fn an_empty_secret_fails_closed() {
    let secrets = Secrets {
        secret: "",
        verify_token: VERIFY,
    };
    for scheme in SIGNED {
        // The credentials an empty secret would give, where there are any.
        let value: Vec<u8> = match scheme {
            Scheme::Hub => hub_signature("", BODY).into_bytes(),
            Scheme::SecretToken => Vec::new(),
            _ => b"Bearer ".to_vec(),
        };
        let (header, _) = signed(scheme, BODY);
        let store = Memory::default();
        let answer = post(
            scheme,
            secrets,
            &[(header, &value)],
            BODY,
            Vec::new(),
            &store,
        );
        assert_eq!(answer.status, 401, "{scheme:?}");
        assert!(
            error(&answer).contains("no secret is configured"),
            "{answer:?}"
        );
    }
}

#[test]
fn the_none_scheme_checks_nothing() {
    let answer = post(
        Scheme::None,
        Secrets {
            secret: "",
            verify_token: "",
        },
        &[],
        BODY,
        vec![envelope("test:1")],
        &Memory::default(),
    );
    assert_eq!(answer.status, 200);
}

#[test]
fn over_the_limit_is_413_before_anything_else() {
    let huge = vec![b' '; usize::try_from(LIMIT).unwrap() + 1];
    for scheme in [
        Scheme::Hub,
        Scheme::SecretToken,
        Scheme::Bearer,
        Scheme::None,
    ] {
        let store = Memory::default();
        // Unsigned, and signed: 413 either way, and nothing read or written.
        let answer = post_undecoded(scheme, &[], &huge, &store);
        assert_eq!(answer.status, 413, "{scheme:?}");
        assert_eq!(
            error(&answer),
            format!("webhook body over the {LIMIT}-byte limit")
        );
        let (header, value) = signed(scheme, &huge);
        let answer = post_undecoded(scheme, &[(header, &value)], &huge, &store);
        assert_eq!(answer.status, 413, "{scheme:?}");
        assert!(store.keys().is_empty());
    }
    // A store that is down is not even touched.
    let answer = post_undecoded(Scheme::Hub, &[], &huge, &Memory::broken());
    assert_eq!(answer.status, 413);
    // Exactly the limit is accepted.
    let exact = vec![b' '; usize::try_from(LIMIT).unwrap()];
    let (header, value) = signed(Scheme::Hub, &exact);
    let answer = post(
        Scheme::Hub,
        SECRETS,
        &[(header, &value)],
        &exact,
        Vec::new(),
        &Memory::default(),
    );
    assert_eq!(answer.status, 200);
}

#[test]
fn a_malformed_body_is_400_with_the_typed_error_and_kept() {
    let bad = br#"{"entry":[{}]}"#;
    let (header, value) = signed(Scheme::Hub, bad);
    let store = Memory::default();
    let headers: [(&str, &[u8]); 1] = [(header, &value)];
    let request = Request {
        method: "POST",
        query: "",
        headers: &headers[..],
        body: bad,
    };
    let answer = ingest::handle(
        &route(Scheme::Hub),
        &SECRETS,
        &request,
        |_| Err(missing_from()),
        &store,
    )
    .unwrap();
    assert_eq!(answer.status, 400);
    let reply = body(&answer);
    assert_eq!(reply["error"]["MissingField"]["path"], "/entry/0/from");
    let key = rejected_key(bad);
    assert_eq!(reply["kept_as"], key.as_str());
    assert_eq!(store.value(&key).as_deref(), Some(&bad[..]));
    let record: Value =
        serde_json::from_slice(&store.value(&rejected_error_key(&key)).unwrap()).unwrap();
    assert_eq!(record["platform"], "whatsapp");
    assert_eq!(
        record["error"],
        serde_json::to_value(missing_from()).unwrap()
    );
    assert_eq!(store.keys().len(), 2, "{:?}", store.keys());
}

#[test]
fn envelopes_go_to_the_inbox_and_the_record_once() {
    let store = Memory::default();
    let (header, value) = signed(Scheme::Hub, BODY);
    let headers = [(header, value.as_slice())];
    let batch = || {
        vec![
            envelope("whatsapp:wamid.1"),
            envelope("whatsapp:wamid.2"),
            // A webhook that repeats an event counts it once.
            envelope("whatsapp:wamid.1"),
        ]
    };
    let answer = post(Scheme::Hub, SECRETS, &headers, BODY, batch(), &store);
    assert_eq!(
        (answer.status, body(&answer)),
        (200, json!({ "accepted": 2, "duplicates": 1 }))
    );
    for id in ["whatsapp:wamid.1", "whatsapp:wamid.2"] {
        let stored: Envelope =
            serde_json::from_slice(&store.value(&envelope_key(id)).unwrap()).unwrap();
        assert_eq!(stored, envelope(id));
        assert_eq!(store.value(&inbox_key(id)), store.value(&envelope_key(id)));
    }
    assert_eq!(store.keys().len(), 4);

    // The platform retries: nothing new is stored, everything is a duplicate.
    store
        .values
        .borrow_mut()
        .remove(&inbox_key("whatsapp:wamid.1"));
    let answer = post(Scheme::Hub, SECRETS, &headers, BODY, batch(), &store);
    assert_eq!(body(&answer), json!({ "accepted": 0, "duplicates": 3 }));
    assert_eq!(
        store.keys().len(),
        3,
        "a routed inbox entry is not restored"
    );
}

#[test]
fn a_failing_store_is_an_error_not_an_answer() {
    let (header, value) = signed(Scheme::Hub, BODY);
    let headers: [(&str, &[u8]); 1] = [(header, &value)];
    let request = Request {
        method: "POST",
        query: "",
        headers: &headers[..],
        body: BODY,
    };
    let store = Memory::broken();
    let stored = ingest::handle(
        &route(Scheme::Hub),
        &SECRETS,
        &request,
        |_| Ok(vec![envelope("a")]),
        &store,
    );
    assert!(stored.unwrap_err().to_string().contains("store is down"));
    let kept = ingest::handle(
        &route(Scheme::Hub),
        &SECRETS,
        &request,
        |_| Err(missing_from()),
        &store,
    );
    assert!(kept.is_err());
}

#[test]
fn the_handshake_echoes_a_good_challenge_as_plain_text() {
    let store = Memory::default();
    let answer = request(
        "GET",
        Scheme::Hub,
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-token",
        &store,
    );
    assert_eq!(
        answer,
        Answer {
            status: 200,
            content_type: TEXT,
            allow: None,
            body: "1158201444".into(),
        }
    );
    assert!(TEXT.starts_with("text/plain"));
    assert!(store.keys().is_empty());
}

#[test]
fn the_handshake_refuses_everything_else_with_403() {
    let store = Memory::default();
    for (query, reason) in [
        (
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
            "does not match",
        ),
        (
            "hub.mode=subscribe&hub.challenge=1",
            "hub.verify_token is missing",
        ),
        (
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=verify-token",
            "hub.mode",
        ),
        (
            "hub.mode=subscribe&hub.verify_token=verify-token",
            "hub.challenge is missing",
        ),
        (
            "hub.mode=subscribe&hub.challenge=%3Cb%3E&hub.verify_token=verify-token",
            "digits",
        ),
        (
            "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=verify-token",
            "more than once",
        ),
        ("", "hub.mode"),
    ] {
        let answer = request("GET", Scheme::Hub, query, &store);
        assert_eq!(answer.status, 403, "{query}");
        let error = error(&answer);
        assert!(
            error.starts_with("subscribe handshake refused: "),
            "{error}"
        );
        assert!(error.contains(reason), "{query}: {error}");
    }
    // No verify token configured: nobody subscribes.
    let headers: [(&str, &[u8]); 0] = [];
    let answer = ingest::handle(
        &route(Scheme::Hub),
        &Secrets {
            secret: SECRET,
            verify_token: "",
        },
        &Request {
            method: "GET",
            query: "hub.mode=subscribe&hub.challenge=1&hub.verify_token=",
            headers: &headers[..],
            body: b"",
        },
        |_| panic!("decoded a GET"),
        &store,
    )
    .unwrap();
    assert_eq!(answer.status, 403);
    assert!(store.keys().is_empty());
}

#[test]
fn only_hub_routes_have_a_handshake() {
    for scheme in [Scheme::SecretToken, Scheme::Bearer, Scheme::None] {
        let answer = request(
            "GET",
            scheme,
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=verify-token",
            &Memory::default(),
        );
        let allow = if scheme == Scheme::Bearer {
            "POST, PUT"
        } else {
            "POST"
        };
        assert_eq!(
            (answer.status, answer.allow),
            (405, Some(allow)),
            "{scheme:?}"
        );
    }
}

#[test]
fn a_bearer_route_takes_a_transaction_put_and_answers_an_empty_object() {
    let transaction = br#"{"events":[]}"#;
    let store = Memory::default();
    let (name, value) = signed(Scheme::Bearer, transaction);
    let headers = [(name, value.as_slice())];
    let put = |headers: &[(&str, &[u8])], envelopes: Vec<Envelope>| {
        let request = Request {
            method: "PUT",
            query: "",
            headers,
            body: transaction,
        };
        ingest::handle(
            &route(Scheme::Bearer),
            &SECRETS,
            &request,
            |_| Ok(envelopes),
            &store,
        )
        .unwrap()
    };
    let answer = put(&headers, vec![envelope("m1")]);
    assert_eq!((answer.status, body(&answer)), (200, serde_json::json!({})));
    assert!(store.keys().contains(&inbox_key("m1")));
    // The homeserver retries the same transaction: stored once, still `{}`.
    let answer = put(&headers, vec![envelope("m1")]);
    assert_eq!((answer.status, answer.body.as_str()), (200, "{}"));
    // A wrong token is refused before decoding, and nothing is stored.
    let wrong = [("Authorization", &b"Bearer not-the-token"[..])];
    let before = store.keys().len();
    let forbidden = put(&wrong, vec![envelope("m2")]);
    assert_eq!(forbidden.status, 403);
    assert_eq!(body(&forbidden)["errcode"], "M_FORBIDDEN");
    let unauthorised = put(&[], vec![envelope("m2")]);
    assert_eq!(unauthorised.status, 401);
    assert_eq!(body(&unauthorised)["errcode"], "M_UNAUTHORIZED");
    assert_eq!(store.keys().len(), before);
    // Other schemes take no PUT.
    for scheme in [Scheme::Hub, Scheme::SecretToken, Scheme::None] {
        let answer = request("PUT", scheme, "", &Memory::default());
        assert_eq!(answer.status, 405, "{scheme:?}");
    }
}

#[test]
fn other_methods_are_405_with_allow() {
    for method in ["PUT", "DELETE", "HEAD", "get", "post", ""] {
        let store = Memory::default();
        let answer = request(method, Scheme::Hub, "", &store);
        assert_eq!(
            (answer.status, answer.allow),
            (405, Some("GET, POST")),
            "{method}"
        );
        assert!(error(&answer).contains("use POST"));
        assert!(store.keys().is_empty());
    }
}

#[test]
fn headers_are_looked_up_by_name_with_every_value() {
    use gateway::ingest::Headers;
    let headers = vec![
        ("Authorization".to_string(), b"a".to_vec()),
        ("content-type".to_string(), b"b".to_vec()),
        ("authorization".to_string(), b"c".to_vec()),
    ];
    assert_eq!(headers.all("authorization"), vec![&b"a"[..], &b"c"[..]]);
    assert_eq!(headers.all("x-missing"), Vec::<&[u8]>::new());
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let shown = format!("{SECRETS:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(VERIFY),
        "{shown}"
    );
}
