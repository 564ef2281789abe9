//! A sealed conversation across two apps through a running `switchboard up`:
//! Alice on WhatsApp and Bob on Messenger publish keys in the host's key
//! directory, Alice fetches Bob's bundle and starts an X3DH + Double Ratchet
//! session, and both send sealed messages as signed webhooks whose text is
//! armored sealed content. The pipeline routes them (rewriting the platform-level
//! sender, recipient and conversation) and the Messenger and WhatsApp
//! translators carry the armor to a local sink playing the send APIs, where the
//! other client opens them. The plaintexts appear nowhere the host can write:
//! not in the store (its values nor the bytes of its file), not in its logs,
//! not in what it sent.

use crate::keys::directory::{ALICE_WA, BOB_PSID, Client, converse, handle_in};
use crate::runtime::up::{ADMIN_TOKEN, SECRET, host_config, post, state_dir};
use gateway::verify::hub_signature;
use sealing::envelope::{self, SealedHeader, SealedMessage};
use sealing::key_directory::BundleJson;
use sealing::session::{InitialHeader, Session};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_pdk::armor;
use switchboard_pdk::types::{SealedContent, SealingScheme};
use switchboard_runtime::key_value::KeyValueStores;

/// The sample Messenger app secret from `spin.toml`.
const MESSENGER_SECRET: &str = "sample-messenger-app-secret";
/// The Messenger page the sample webhooks are addressed to.
const PAGE_ID: &str = "682498302938465";
/// Every plaintext carries it, so one search finds any of them.
const MARKER: &str = "confidential-7Q2X";

/// A running `switchboard up` whose stdout and stderr are kept, killed when dropped.
struct CapturedHost {
    child: Child,
    base: String,
    output: Arc<Mutex<Vec<u8>>>,
}

impl CapturedHost {
    fn start(dir: &Path, config: &Path) -> CapturedHost {
        let manifest = crate::repo_root().join("spin.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(&manifest)
            .arg("--runtime-config-file")
            .arg(dir.join("runtime-config.toml"))
            .arg("--config")
            .arg(config)
            .env(
                "SWITCHBOARD_CACHE_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"),
            )
            .env("SPIN_VARIABLE_WHATSAPP_APP_SECRET", SECRET)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            // As much of the host's own logging as there is.
            .env("RUST_LOG", "switchboard=trace,info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("switchboard up starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line");
        output
            .lock()
            .expect("output")
            .extend_from_slice(line.as_bytes());
        let base = line
            .trim()
            .strip_prefix("switchboard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let stderr = child.stderr.take().expect("stderr");
        for mut stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(read @ 1..) = stream.read(&mut buffer) {
                    output
                        .lock()
                        .expect("output")
                        .extend_from_slice(&buffer[..read]);
                }
            });
        }
        CapturedHost {
            child,
            base,
            output,
        }
    }

    /// Stops the host and returns everything it printed.
    fn stop(mut self) -> Vec<u8> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader threads drain what is left in the pipes.
        std::thread::sleep(Duration::from_millis(200));
        self.output.lock().expect("output").clone()
    }
}

impl Drop for CapturedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local server standing in for the apps' send APIs: keeps every request
/// body as received, and answers as Meta's APIs answer a send.
struct Sink {
    base: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    fn start() -> Sink {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("sink listens");
        let base = format!("http://{}", server.server_addr().to_ip().expect("ip"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let log = bodies.clone();
        std::thread::spawn(move || {
            for (count, mut request) in server.incoming_requests().enumerate() {
                let mut raw = Vec::new();
                let _ = request.as_reader().read_to_end(&mut raw);
                let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let answer = if body["messaging_product"] == "whatsapp" {
                    json!({ "messaging_product": "whatsapp",
                            "messages": [{ "id": format!("wamid.sink{count}") }] })
                } else {
                    json!({ "recipient_id": body["recipient"]["id"],
                            "message_id": format!("m_sink{count}") })
                };
                log.lock().expect("log").push(raw);
                let _ = request.respond(
                    tiny_http::Response::from_string(answer.to_string()).with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json")
                            .expect("header"),
                    ),
                );
            }
        });
        Sink { base, bodies }
    }

    /// The armored texts sent so far to `recipient` (a WhatsApp number or a PSID).
    fn armored_to(&self, recipient: &str) -> Vec<String> {
        self.bodies
            .lock()
            .expect("log")
            .iter()
            .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok())
            .filter_map(|body| {
                if body["to"] == recipient {
                    body["text"]["body"].as_str().map(str::to_string)
                } else if body["recipient"]["id"] == recipient {
                    body["message"]["text"].as_str().map(str::to_string)
                } else {
                    None
                }
            })
            .filter(|text| armor::is_armored(text))
            .collect()
    }

    /// Waits for the `count`th armored text to `recipient` and returns it.
    fn wait_for_armor(&self, recipient: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(text) = self.armored_to(recipient).get(count - 1) {
                return text.clone();
            }
            assert!(
                Instant::now() < deadline,
                "sealed message {count} never reached {recipient}; the sink saw {:?}",
                self.bodies
                    .lock()
                    .expect("log")
                    .iter()
                    .map(|raw| String::from_utf8_lossy(raw).into_owned())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One side of the conversation: a key-directory client with its session.
struct Person {
    client: Client,
    session: Option<Session>,
    /// The X3DH header, sent by the initiator until the first answer arrives.
    initial: Option<InitialHeader>,
    peer_key_id: String,
    sent: usize,
}

impl Person {
    fn new(client: Client) -> Person {
        Person {
            client,
            session: None,
            initial: None,
            peer_key_id: String::new(),
            sent: 0,
        }
    }

    /// Seals `text` as armored sealed content.
    fn seal(&mut self, text: &str) -> String {
        self.sent += 1;
        let session = self.session.as_mut().expect("a session");
        let header = SealedHeader {
            message_id: format!("{}-{}", self.client.platform, self.sent),
            origin_platform: self.client.platform.into(),
            sender_key_id: self.client.identity.public().key_id(),
            recipient_key_id: self.peer_key_id.clone(),
            conversation: envelope::conversation_id(session),
        };
        let sealed = envelope::seal(session, &header, self.initial.as_ref(), text.as_bytes())
            .expect("seals");
        armor::encode(&SealedContent {
            scheme: SealingScheme::DoubleRatchetV1,
            sender_key_id: sealed.sender_key_id,
            ephemeral_public_key: sealed.ephemeral_public_key,
            session_header: sealed.session_header,
            ciphertext: sealed.ciphertext,
        })
    }

    /// Opens armored sealed content, setting the session up from the first message.
    fn open(&mut self, text: &str) -> (SealedHeader, String) {
        let message = sealed_message(text);
        if self.session.is_none() {
            let peeked = envelope::peek(&message).expect("a sealed header");
            let initial = peeked.initial.expect("the first message opens the session");
            let one_time = initial.one_time_prekey.map(|public| {
                self.client
                    .one_time_prekeys
                    .iter()
                    .find(|pair| pair.public_key == public)
                    .expect("one of my one-time prekeys")
                    .clone()
            });
            self.session = Some(
                Session::respond(
                    &self.client.identity,
                    &self.client.signed_prekey,
                    one_time.as_ref(),
                    &initial,
                )
                .expect("responds"),
            );
            self.peer_key_id = peeked.header.sender_key_id;
        }
        let session = self.session.as_mut().expect("a session");
        let (header, plaintext) = envelope::open(session, &message).expect("opens");
        // An answer from the peer means it has the session: stop sending X3DH.
        self.initial = None;
        (header, String::from_utf8(plaintext).expect("UTF-8"))
    }
}

fn sealed_message(text: &str) -> SealedMessage {
    let content = armor::decode(text).expect("armor").expect("intact armor");
    assert_eq!(content.scheme, SealingScheme::DoubleRatchetV1);
    SealedMessage {
        sender_key_id: content.sender_key_id,
        ephemeral_public_key: content.ephemeral_public_key,
        session_header: content.session_header,
        ciphertext: content.ciphertext,
    }
}

/// A WhatsApp Cloud API text-message webhook from `from`.
fn whatsapp_webhook(from: &str, message_id: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Alice" }, "wa_id": from }],
            "messages": [{ "from": from, "id": message_id, "timestamp": "1749416383",
                           "type": "text", "text": { "body": text } }]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

/// A Messenger Platform text-message webhook from `sender` to the page.
fn messenger_webhook(sender: &str, mid: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "page",
        "entry": [{ "id": PAGE_ID, "time": 1458692752480u64, "messaging": [{
            "sender": { "id": sender }, "recipient": { "id": PAGE_ID },
            "timestamp": 1458692752478u64,
            "message": { "mid": mid, "text": text }
        }]}]
    })
    .to_string()
    .into_bytes()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn a_sealed_conversation_crosses_apps_and_no_plaintext_stays_behind() {
    let dir = state_dir("sealed");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let host = CapturedHost::start(&dir, &config);
    let base = host.base.clone();
    let pair = converse(
        &base,
        &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)],
        &["publish-keys"],
    );
    let bob_handle = handle_in(&pair, "messenger", BOB_PSID);

    // Both publish keys; Alice fetches Bob's bundle and checks it is Bob's
    // (the key id she would compare with him out of band).
    let mut alice = Person::new(Client::new("whatsapp", ALICE_WA, 2));
    let mut bob = Person::new(Client::new("messenger", BOB_PSID, 2));
    assert_eq!(alice.client.publish(&base).0, 201);
    assert_eq!(bob.client.publish(&base).0, 201);
    let (status, reply) = alice.client.fetch(&base, &pair, &bob_handle);
    assert_eq!(status, 200, "{reply}");
    let bundle: BundleJson = serde_json::from_value(reply).expect("a bundle");
    let bundle = bundle.verify().expect("a valid bundle");
    assert_eq!(
        bundle.identity.key_id(),
        bob.client.identity.public().key_id()
    );
    let (session, initial) = Session::initiate(&alice.client.identity, &bundle).expect("X3DH");
    alice.session = Some(session);
    alice.initial = Some(initial);
    alice.peer_key_id = bundle.identity.key_id();

    // Several messages each way, interleaved, each a signed webhook.
    let script: [(bool, &str); 7] = [
        (true, "the spare key is under the blue flowerpot"),
        (true, "and the alarm code is 4471"),
        (false, "got it, I will water the plants on Tuesday"),
        (true, "thank you! the cat eats twice a day"),
        (false, "noted, half a tin morning and evening"),
        (false, "should I also bring in the post?"),
        (true, "yes please, and the parcel from my sister"),
    ];
    let plaintexts: Vec<String> = script
        .iter()
        .map(|(_, text)| format!("{MARKER} {text}"))
        .collect();
    let (mut to_bob, mut to_alice) = (0, 0);
    for (index, ((from_alice, _), plaintext)) in script.iter().zip(&plaintexts).enumerate() {
        if *from_alice {
            let armored = alice.seal(plaintext);
            let body = whatsapp_webhook(ALICE_WA, &format!("wamid.sealed{index}"), &armored);
            let (status, reply) = post(
                &base,
                "/ingress/whatsapp",
                &body,
                Some(&hub_signature(SECRET, &body)),
            );
            assert_eq!(status, 200, "{reply}");
            to_bob += 1;
            let delivered = sink.wait_for_armor(BOB_PSID, to_bob);
            assert_eq!(
                sealed_message(&delivered),
                sealed_message(&armored),
                "the sealed bytes crossed unchanged"
            );
            if index == script.len() - 1 {
                forgeries_fail(&mut bob, &delivered);
            }
            let (header, opened) = bob.open(&delivered);
            assert_eq!(&opened, plaintext);
            assert_eq!(header.origin_platform, "whatsapp");
            assert_eq!(
                header.sender_key_id,
                alice.client.identity.public().key_id()
            );
            assert_eq!(
                header.recipient_key_id,
                bob.client.identity.public().key_id()
            );
        } else {
            let armored = bob.seal(plaintext);
            let body = messenger_webhook(BOB_PSID, &format!("m_sealed{index}"), &armored);
            let (status, reply) = post(
                &base,
                "/ingress/messenger",
                &body,
                Some(&hub_signature(MESSENGER_SECRET, &body)),
            );
            assert_eq!(status, 200, "{reply}");
            to_alice += 1;
            let delivered = sink.wait_for_armor(ALICE_WA, to_alice);
            let (header, opened) = alice.open(&delivered);
            assert_eq!(&opened, plaintext);
            assert_eq!(header.origin_platform, "messenger");
        }
    }
    assert_eq!((to_bob, to_alice), (4, 3));

    // Nothing the host wrote holds a plaintext: its logs, what it sent, its store.
    std::thread::sleep(Duration::from_millis(300));
    let store_file = dir.join("kv.redb");
    let running_file = std::fs::read(&store_file).expect("store file");
    let output = host.stop();
    let sent: Vec<Vec<u8>> = sink.bodies.lock().expect("log").clone();
    let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("open");
    let store = stores.get("default").expect("default store");
    let mut values = Vec::new();
    for key in store.keys().expect("keys") {
        values.push(key.clone().into_bytes());
        values.push(store.get(&key).expect("read").unwrap_or_default());
    }
    let stopped_file = std::fs::read(&store_file).expect("store file");

    // The searches can find things: the webhook ids, the armor and the key ids are there.
    assert!(
        contains(&stopped_file, "wamid.sealed0"),
        "the store file is searchable"
    );
    assert!(values.iter().any(|value| contains(value, "m_sealed2")));
    assert!(
        contains(&output, "key directory") && contains(&output, "request"),
        "the host logged its requests: {}",
        String::from_utf8_lossy(&output)
    );
    assert!(
        sent.iter()
            .any(|body| contains(body, "BEGIN SWITCHBOARD SEALED MESSAGE"))
    );
    for (what, haystack) in [
        ("the host's output", &output),
        ("the store file while running", &running_file),
        ("the store file", &stopped_file),
    ] {
        assert!(!contains(haystack, MARKER), "a plaintext is in {what}");
        for plaintext in &plaintexts {
            assert!(!contains(haystack, plaintext), "{plaintext:?} is in {what}");
        }
    }
    for value in values.iter().chain(&sent) {
        assert!(
            !contains(value, MARKER),
            "a plaintext left the clients: {}",
            String::from_utf8_lossy(value)
        );
    }
}

/// The router rewrote the platform-level sender, recipient and conversation;
/// the header bound in the sealed content crossed unchanged, and a relay that
/// rewrites any of its fields makes the message fail to open (and leaves the
/// session as it was, so the genuine message still opens afterwards).
fn forgeries_fail(recipient: &mut Person, delivered: &str) {
    let original = sealed_message(delivered);
    let header = envelope::peek(&original).expect("header").header;
    let rewrite = |change: &dyn Fn(&mut SealedHeader)| {
        let mut changed = header.clone();
        change(&mut changed);
        rebuild(&original, &changed)
    };
    let forgeries = [
        (
            "message id",
            rewrite(&|h| h.message_id = "whatsapp-99".into()),
        ),
        (
            "origin platform",
            rewrite(&|h| h.origin_platform = "instagram".into()),
        ),
        (
            "recipient key id",
            rewrite(&|h| h.recipient_key_id = h.sender_key_id.clone()),
        ),
        (
            "conversation",
            rewrite(&|h| h.conversation = "0".repeat(32)),
        ),
        (
            "sender key id",
            SealedMessage {
                sender_key_id: recipient.client.identity.public().key_id(),
                ..original.clone()
            },
        ),
    ];
    let session = recipient.session.as_mut().expect("session");
    for (field, forged) in &forgeries {
        assert_ne!(forged, &original, "{field}: nothing changed");
        assert_eq!(
            envelope::open(session, forged),
            Err(sealing::SealingError::AuthenticationFailed),
            "{field} rewritten"
        );
    }
}

/// `message` with its session header rewritten to carry `header` (what a relay
/// that understood the format could do).
fn rebuild(message: &SealedMessage, header: &SealedHeader) -> SealedMessage {
    let bytes = &message.session_header;
    let mut fields = Vec::new();
    let mut at = 5;
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        fields.push(bytes[at + 4..at + 4 + length].to_vec());
        at += 4 + length;
    }
    fields[0] = header.message_id.clone().into_bytes();
    fields[1] = header.origin_platform.clone().into_bytes();
    fields[2] = header.recipient_key_id.clone().into_bytes();
    fields[3] = header.conversation.clone().into_bytes();
    let mut session_header = b"SBSH1".to_vec();
    for field in fields {
        session_header.extend_from_slice(&(field.len() as u32).to_be_bytes());
        session_header.extend_from_slice(&field);
    }
    SealedMessage {
        session_header,
        ..message.clone()
    }
}
