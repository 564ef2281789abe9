//! Sealed messages with a header that survives routing: a conversation from a
//! published bundle, and every header field bound to the ciphertext.

use sealing::SealingError;
use sealing::envelope::{self, SealedHeader, SealedMessage};
use sealing::keys::{self, KeyPair};
use sealing::session::{IdentityKeyPair, InitialHeader, Session};

struct Party {
    identity: IdentityKeyPair,
    platform: &'static str,
}

impl Party {
    fn new(platform: &'static str) -> Party {
        Party {
            identity: IdentityKeyPair::generate().unwrap(),
            platform,
        }
    }

    fn header(&self, to: &Party, session: &Session, message_id: &str) -> SealedHeader {
        SealedHeader {
            message_id: message_id.into(),
            origin_platform: self.platform.into(),
            sender_key_id: self.identity.public().key_id(),
            recipient_key_id: to.identity.public().key_id(),
            conversation: envelope::conversation_id(session),
        }
    }
}

/// Alice starts a session from Bob's bundle and seals her first message; Bob
/// sets his side up from that message alone.
fn first_message(
    alice: &Party,
    bob: &Party,
) -> (Session, InitialHeader, SealedMessage, KeyPair, KeyPair) {
    let signed_prekey = keys::generate_key_pair().unwrap();
    let one_time = keys::generate_key_pair().unwrap();
    let bundle = bob.identity.bundle(&signed_prekey, Some(&one_time));
    let (mut session, initial) = Session::initiate(&alice.identity, &bundle).unwrap();
    let header = alice.header(bob, &session, "m-1");
    let sealed = envelope::seal(&mut session, &header, Some(&initial), b"hello Bob").unwrap();
    (session, initial, sealed, signed_prekey, one_time)
}

fn respond(bob: &Party, sealed: &SealedMessage, spk: &KeyPair, opk: &KeyPair) -> Session {
    let peeked = envelope::peek(sealed).unwrap();
    let initial = peeked
        .initial
        .expect("a first message carries the initial header");
    Session::respond(&bob.identity, spk, Some(opk), &initial).unwrap()
}

#[test]
fn a_conversation_opens_on_both_sides_with_its_header() {
    let (alice, bob) = (Party::new("whatsapp"), Party::new("messenger"));
    let (mut alice_session, initial, first, spk, opk) = first_message(&alice, &bob);
    let mut bob_session = respond(&bob, &first, &spk, &opk);
    assert_eq!(
        envelope::conversation_id(&alice_session),
        envelope::conversation_id(&bob_session)
    );
    let (header, plaintext) = envelope::open(&mut bob_session, &first).unwrap();
    assert_eq!(plaintext, b"hello Bob");
    assert_eq!(header, alice.header(&bob, &alice_session, "m-1"));
    assert_eq!(first.sender_key_id, alice.identity.public().key_id());
    assert_eq!(
        first.ephemeral_public_key,
        alice_session.ratchet_public_key()
    );

    for round in 0..3 {
        let id = format!("b-{round}");
        let reply = bob.header(&alice, &bob_session, &id);
        let sealed = envelope::seal(&mut bob_session, &reply, None, id.as_bytes()).unwrap();
        assert!(envelope::peek(&sealed).unwrap().initial.is_none());
        let (header, plaintext) = envelope::open(&mut alice_session, &sealed).unwrap();
        assert_eq!(
            (header.message_id.as_str(), plaintext.as_slice()),
            (id.as_str(), id.as_bytes())
        );
        let id = format!("a-{round}");
        let next = alice.header(&bob, &alice_session, &id);
        let sealed =
            envelope::seal(&mut alice_session, &next, Some(&initial), id.as_bytes()).unwrap();
        let (header, plaintext) = envelope::open(&mut bob_session, &sealed).unwrap();
        assert_eq!(header.origin_platform, "whatsapp");
        assert_eq!(plaintext, id.as_bytes());
    }
}

/// One way to rewrite a sealed message.
type Tampering = Box<dyn Fn(&mut SealedMessage)>;

/// The ways a relay could rewrite a sealed message, each applied alone.
fn tamperings() -> Vec<(&'static str, Tampering)> {
    // Rewrites the `index`th length-prefixed field of the session header.
    fn rewrite_field(message: &mut SealedMessage, index: usize, value: &[u8]) {
        let bytes = &message.session_header;
        let mut fields = Vec::new();
        let mut at = 5; // after the magic `SBSH1`
        while at < bytes.len() {
            let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            fields.push(bytes[at + 4..at + 4 + length].to_vec());
            at += 4 + length;
        }
        assert_eq!(fields.len(), 6, "the header has six fields");
        fields[index] = value.to_vec();
        let mut out = b"SBSH1".to_vec();
        for field in fields {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(&field);
        }
        message.session_header = out;
    }
    vec![
        ("message id", Box::new(|m| rewrite_field(m, 0, b"m-2"))),
        (
            "origin platform",
            Box::new(|m| rewrite_field(m, 1, b"instagram")),
        ),
        (
            "sender key id",
            Box::new(|m| m.sender_key_id = IdentityKeyPair::generate().unwrap().public().key_id()),
        ),
        (
            "recipient key id",
            Box::new(|m| {
                let other = IdentityKeyPair::generate().unwrap().public().key_id();
                rewrite_field(m, 2, other.as_bytes())
            }),
        ),
        (
            "conversation",
            Box::new(|m| rewrite_field(m, 3, b"00112233445566778899aabbccddeeff")),
        ),
        (
            "message number",
            Box::new(|m| rewrite_field(m, 4, &[0, 0, 0, 0, 0, 0, 0, 5])),
        ),
        ("ratchet key", Box::new(|m| m.ephemeral_public_key[0] ^= 1)),
        ("ciphertext", Box::new(|m| m.ciphertext[0] ^= 1)),
        ("tag", Box::new(|m| *m.ciphertext.last_mut().unwrap() ^= 1)),
    ]
}

#[test]
fn rewriting_any_header_field_breaks_decryption() {
    let (alice, bob) = (Party::new("whatsapp"), Party::new("messenger"));
    let (mut alice_session, _, first, spk, opk) = first_message(&alice, &bob);
    let mut bob_session = respond(&bob, &first, &spk, &opk);
    envelope::open(&mut bob_session, &first).unwrap();
    // A second message, with the session already set up on both sides.
    let header = alice.header(&bob, &alice_session, "m-2-original");
    let sealed = envelope::seal(&mut alice_session, &header, None, b"second").unwrap();
    for (what, tamper) in tamperings() {
        let mut changed = sealed.clone();
        tamper(&mut changed);
        assert_ne!(changed, sealed, "{what}: the tampering changed nothing");
        let result = envelope::open(&mut bob_session, &changed);
        assert!(
            matches!(
                result,
                Err(SealingError::AuthenticationFailed | SealingError::RejectedMessage(_))
            ),
            "{what}: {result:?}"
        );
    }
    // None of the failures moved Bob's session: the original still opens.
    let (opened, plaintext) = envelope::open(&mut bob_session, &sealed).unwrap();
    assert_eq!((opened, plaintext.as_slice()), (header, &b"second"[..]));
}

#[test]
fn a_tampered_initial_header_cannot_open_the_first_message() {
    let (alice, bob) = (Party::new("whatsapp"), Party::new("messenger"));
    let (_, initial, first, spk, opk) = first_message(&alice, &bob);
    let impostor = IdentityKeyPair::generate().unwrap().public();
    let mut forged = initial.clone();
    forged.identity = impostor;
    let mut session = Session::respond(&bob.identity, &spk, Some(&opk), &forged).unwrap();
    assert_eq!(
        envelope::open(&mut session, &first),
        Err(SealingError::AuthenticationFailed)
    );
}

#[test]
fn malformed_headers_are_named_and_a_wrong_conversation_is_refused() {
    let (alice, bob) = (Party::new("whatsapp"), Party::new("messenger"));
    let (mut session, _, first, _, _) = first_message(&alice, &bob);
    let mut truncated = first.clone();
    truncated.session_header.truncate(20);
    let error = envelope::peek(&truncated).unwrap_err().to_string();
    assert!(
        error.starts_with("invalid input: sealed header: bad"),
        "{error}"
    );
    let mut header = alice.header(&bob, &session, "m-9");
    header.conversation = "another-session".into();
    assert!(matches!(
        envelope::seal(&mut session, &header, None, b"x"),
        Err(SealingError::InvalidInput(_))
    ));
    header.conversation = envelope::conversation_id(&session);
    header.message_id = String::new();
    assert!(matches!(
        envelope::seal(&mut session, &header, None, b"x"),
        Err(SealingError::InvalidInput(_))
    ));
}
