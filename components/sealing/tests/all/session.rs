//! The session protocol end to end: X3DH agreement, then the Double Ratchet's
//! ordering, tampering, replay, bounds, forward secrecy and recovery properties.

use sealing::SealingError;
use sealing::keys::{self, KeyPair};
use sealing::session::{
    IdentityKeyPair, InitialHeader, MAX_SKIP, MAX_STORED_SKIPPED, MessageHeader, PreKeyBundle,
    RatchetMessage, Session,
};

struct Bob {
    identity: IdentityKeyPair,
    signed_prekey: KeyPair,
    one_time_prekey: KeyPair,
}

fn bob() -> Bob {
    Bob {
        identity: IdentityKeyPair::generate().unwrap(),
        signed_prekey: keys::generate_key_pair().unwrap(),
        one_time_prekey: keys::generate_key_pair().unwrap(),
    }
}

impl Bob {
    /// Bob's published bundle, with his one-time prekey.
    fn bundle(&self) -> PreKeyBundle {
        self.identity
            .bundle(&self.signed_prekey, Some(&self.one_time_prekey))
    }

    /// Bob's published bundle once the directory has run out of one-time prekeys.
    fn bundle_without_one_time_prekey(&self) -> PreKeyBundle {
        self.identity.bundle(&self.signed_prekey, None)
    }
}

/// Alice starts a session with Bob's bundle (with a one-time prekey); Bob accepts.
fn pair() -> (Session, Session) {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    let bundle = bob.bundle();
    let (alice, header) = Session::initiate(&alice_identity, &bundle).unwrap();
    let bob_session = Session::respond(
        &bob.identity,
        &bob.signed_prekey,
        Some(&bob.one_time_prekey),
        &header,
    )
    .unwrap();
    (alice, bob_session)
}

fn send(from: &mut Session, text: &str) -> RatchetMessage {
    from.encrypt(text.as_bytes(), b"ad").unwrap()
}

fn recv(to: &mut Session, message: &RatchetMessage) -> Result<String, SealingError> {
    to.decrypt(message, b"ad")
        .map(|pt| String::from_utf8(pt).unwrap())
}

fn steal(session: &Session) -> Session {
    serde_json::from_str(&serde_json::to_string(session).unwrap()).unwrap()
}

#[test]
fn in_order_conversation_with_ratchet_steps() {
    let (mut alice, mut bob) = pair();
    // Bob cannot speak first: he has no sending chain until Alice's first message.
    assert!(matches!(
        bob.encrypt(b"hi", b""),
        Err(SealingError::InvalidInput(_))
    ));
    for round in 0..4 {
        let keys_before = (alice.ratchet_public_key(), bob.ratchet_public_key());
        for i in 0..3 {
            let m = send(&mut alice, &format!("a{round}-{i}"));
            assert_eq!(recv(&mut bob, &m).unwrap(), format!("a{round}-{i}"));
        }
        let m = send(&mut bob, &format!("b{round}"));
        assert_eq!(recv(&mut alice, &m).unwrap(), format!("b{round}"));
        // Each round trip moves both ratchet keys (a DH ratchet step on each side).
        assert_ne!(alice.ratchet_public_key(), keys_before.0);
        assert_ne!(bob.ratchet_public_key(), keys_before.1);
    }
    assert_eq!(alice.skipped_key_count() + bob.skipped_key_count(), 0);
}

#[test]
fn session_without_one_time_prekey() {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    let bundle = bob.bundle_without_one_time_prekey();
    let (mut alice, header) = Session::initiate(&alice_identity, &bundle).unwrap();
    assert_eq!(header.one_time_prekey, None);
    // Supplying a one-time prekey the header does not name is refused.
    assert!(matches!(
        Session::respond(
            &bob.identity,
            &bob.signed_prekey,
            Some(&bob.one_time_prekey),
            &header
        ),
        Err(SealingError::InvalidInput(_))
    ));
    let mut bob_session =
        Session::respond(&bob.identity, &bob.signed_prekey, None, &header).unwrap();
    let m = send(&mut alice, "hello");
    assert_eq!(recv(&mut bob_session, &m).unwrap(), "hello");
}

#[test]
fn responder_with_wrong_identity_cannot_decrypt() {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    let bundle = bob.bundle_without_one_time_prekey();
    let (mut alice, header) = Session::initiate(&alice_identity, &bundle).unwrap();
    let impostor = IdentityKeyPair::generate().unwrap();
    let mut wrong = Session::respond(&impostor, &bob.signed_prekey, None, &header).unwrap();
    let m = send(&mut alice, "for bob only");
    assert_eq!(
        recv(&mut wrong, &m),
        Err(SealingError::AuthenticationFailed)
    );
}

#[test]
fn out_of_order_and_lost_messages() {
    let (mut alice, mut bob) = pair();
    let m: Vec<RatchetMessage> = (0..6).map(|i| send(&mut alice, &format!("m{i}"))).collect();
    assert_eq!(recv(&mut bob, &m[0]).unwrap(), "m0");
    assert_eq!(recv(&mut bob, &m[3]).unwrap(), "m3");
    assert_eq!(bob.skipped_key_count(), 2);
    assert_eq!(recv(&mut bob, &m[2]).unwrap(), "m2");
    assert_eq!(bob.skipped_key_count(), 1);
    // m1 stays lost for now; Bob answers, Alice ratchets and sends on a new chain.
    let reply = send(&mut bob, "r");
    assert_eq!(recv(&mut alice, &reply).unwrap(), "r");
    let n0 = send(&mut alice, "n0");
    let n1 = send(&mut alice, "n1");
    // The new chain's message arrives before the old chain's tail: PN lets Bob
    // store the keys of m4 and m5 before ratcheting.
    assert_eq!(recv(&mut bob, &n1).unwrap(), "n1");
    assert_eq!(recv(&mut bob, &m[5]).unwrap(), "m5");
    assert_eq!(recv(&mut bob, &m[1]).unwrap(), "m1");
    assert_eq!(recv(&mut bob, &n0).unwrap(), "n0");
    assert_eq!(recv(&mut bob, &m[4]).unwrap(), "m4");
    assert_eq!(bob.skipped_key_count(), 0);
}

#[test]
fn replays_are_rejected() {
    let (mut alice, mut bob) = pair();
    let m0 = send(&mut alice, "once");
    let m1 = send(&mut alice, "twice?");
    assert_eq!(recv(&mut bob, &m0).unwrap(), "once");
    assert!(matches!(
        recv(&mut bob, &m0),
        Err(SealingError::RejectedMessage(_))
    ));
    // A skipped key is used once too.
    let m2 = send(&mut alice, "later");
    assert_eq!(recv(&mut bob, &m2).unwrap(), "later");
    assert_eq!(recv(&mut bob, &m1).unwrap(), "twice?");
    assert!(matches!(
        recv(&mut bob, &m1),
        Err(SealingError::RejectedMessage(_))
    ));
    // A replay from an earlier chain, after a ratchet step, fails too.
    let reply = send(&mut bob, "r");
    recv(&mut alice, &reply).unwrap();
    let n0 = send(&mut alice, "new chain");
    assert_eq!(recv(&mut bob, &n0).unwrap(), "new chain");
    assert!(recv(&mut bob, &m0).is_err());
    assert!(recv(&mut bob, &n0).is_err());
    // None of the failures disturbed the session.
    let n1 = send(&mut alice, "still fine");
    assert_eq!(recv(&mut bob, &n1).unwrap(), "still fine");
}

#[test]
fn tampering_is_rejected_and_leaves_the_session_intact() {
    let (mut alice, mut bob) = pair();
    let warmup = send(&mut alice, "w");
    recv(&mut bob, &warmup).unwrap();
    let m = send(&mut alice, "payload");
    let before = serde_json::to_string(&bob).unwrap();

    let mut bad_ct = m.clone();
    bad_ct.ciphertext[0] ^= 1;
    assert_eq!(
        recv(&mut bob, &bad_ct),
        Err(SealingError::AuthenticationFailed)
    );

    let mut bad_tag = m.clone();
    let last = bad_tag.ciphertext.len() - 1;
    bad_tag.ciphertext[last] ^= 0x80;
    assert_eq!(
        recv(&mut bob, &bad_tag),
        Err(SealingError::AuthenticationFailed)
    );

    for byte in [0usize, 31, 35, 39] {
        let mut bad_header = m.clone();
        bad_header.header[byte] ^= 0x01;
        assert!(
            recv(&mut bob, &bad_header).is_err(),
            "header byte {byte} not authenticated"
        );
    }
    // A header rewritten to say message 2 (skipping one) fails authentication.
    let mut renumbered = m.clone();
    let mut header = MessageHeader::from_bytes(&m.header).unwrap();
    header.message_number = 2;
    renumbered.header = header.to_bytes().to_vec();
    assert_eq!(
        recv(&mut bob, &renumbered),
        Err(SealingError::AuthenticationFailed)
    );

    let mut short_header = m.clone();
    short_header.header.pop();
    assert!(matches!(
        recv(&mut bob, &short_header),
        Err(SealingError::InvalidInput(_))
    ));

    assert_eq!(
        bob.decrypt(&m, b"other ad"),
        Err(SealingError::AuthenticationFailed)
    );
    assert_eq!(
        serde_json::to_string(&bob).unwrap(),
        before,
        "a failed decrypt changed the state"
    );
    assert_eq!(recv(&mut bob, &m).unwrap(), "payload");
}

#[test]
fn max_skip_is_enforced() {
    let (mut alice, mut bob) = pair();
    let far = MAX_SKIP as usize + 1;
    let messages: Vec<RatchetMessage> = (0..=far)
        .map(|i| send(&mut alice, &format!("m{i}")))
        .collect();
    assert!(matches!(
        recv(&mut bob, &messages[far]),
        Err(SealingError::RejectedMessage(_))
    ));
    assert_eq!(bob.skipped_key_count(), 0);
    // Exactly MAX_SKIP ahead is still accepted, and all skipped keys are kept.
    assert_eq!(
        recv(&mut bob, &messages[far - 1]).unwrap(),
        format!("m{}", far - 1)
    );
    assert_eq!(bob.skipped_key_count(), MAX_SKIP as usize);
    assert_eq!(recv(&mut bob, &messages[far]).unwrap(), format!("m{far}"));
    assert_eq!(recv(&mut bob, &messages[0]).unwrap(), "m0");
}

#[test]
fn total_stored_skipped_keys_are_bounded() {
    let (mut alice, mut bob) = pair();
    let mut first_chain_message_zero = None;
    for round in 0..3 {
        let messages: Vec<RatchetMessage> = (0..=MAX_SKIP)
            .map(|i| send(&mut alice, &format!("r{round}m{i}")))
            .collect();
        // Only the last of each chain arrives: MAX_SKIP keys are stored per chain.
        recv(&mut bob, &messages[MAX_SKIP as usize]).unwrap();
        if round == 0 {
            first_chain_message_zero = Some(messages[0].clone());
        }
        let reply = send(&mut bob, "ack");
        recv(&mut alice, &reply).unwrap();
        if round == 2 {
            // The newest skipped keys are still there.
            assert_eq!(recv(&mut bob, &messages[1]).unwrap(), "r2m1");
        }
    }
    assert!(bob.skipped_key_count() <= MAX_STORED_SKIPPED);
    assert_eq!(bob.skipped_key_count(), MAX_STORED_SKIPPED - 1);
    // The oldest keys were dropped first.
    assert!(recv(&mut bob, &first_chain_message_zero.unwrap()).is_err());
}

#[test]
fn forward_secrecy_stolen_state_cannot_read_past_messages() {
    let (mut alice, mut bob) = pair();
    let past: Vec<RatchetMessage> = (1..=3)
        .map(|i| send(&mut alice, &format!("m{i}")))
        .collect();
    for (i, m) in past.iter().enumerate() {
        assert_eq!(recv(&mut bob, m).unwrap(), format!("m{}", i + 1));
    }
    // The attacker copies Bob's whole state after messages 1-3 were decrypted.
    let mut stolen = steal(&bob);
    for m in &past {
        assert!(
            recv(&mut stolen, m).is_err(),
            "stolen state decrypted a past message"
        );
    }
    // The copy is a working state (not a broken one): it reads Alice's next message.
    let next = send(&mut alice, "m4");
    assert_eq!(recv(&mut stolen, &next).unwrap(), "m4");
    // No message key of the past is in the serialised state.
    assert_eq!(stolen.skipped_key_count(), 0);
}

#[test]
fn post_compromise_recovery_after_a_ratchet_round_trip() {
    let (mut alice, mut bob) = pair();
    let first = send(&mut alice, "hello");
    recv(&mut bob, &first).unwrap();
    // The attacker copies Bob's state and can read the current chain...
    let mut eve = steal(&bob);
    let same_chain = send(&mut alice, "still exposed");
    assert_eq!(recv(&mut eve, &same_chain).unwrap(), "still exposed");
    assert_eq!(recv(&mut bob, &same_chain).unwrap(), "still exposed");
    // ...until fresh DH keys that Eve never saw enter the root chain.
    let b1 = send(&mut bob, "b1");
    recv(&mut alice, &b1).unwrap();
    let a2 = send(&mut alice, "a2");
    recv(&mut bob, &a2).unwrap();
    let _ = recv(&mut eve, &a2); // Eve may follow this step; it does not matter.
    let b2 = send(&mut bob, "b2");
    recv(&mut alice, &b2).unwrap();
    let a3 = send(&mut alice, "after recovery");
    assert_eq!(recv(&mut bob, &a3).unwrap(), "after recovery");
    assert_eq!(recv(&mut eve, &a3), Err(SealingError::AuthenticationFailed));
    // A copy that never followed the conversation fails as well.
    let mut stale = steal(&eve);
    let a4 = send(&mut alice, "later");
    assert!(recv(&mut stale, &a4).is_err());
    assert_eq!(recv(&mut bob, &a4).unwrap(), "later");
}

#[test]
fn bad_bundle_signature_is_rejected() {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    let good = bob.bundle_without_one_time_prekey();
    assert_eq!(good.verify(), Ok(()));

    let mut flipped = good.clone();
    flipped.signed_prekey_signature[10] ^= 1;
    assert_eq!(flipped.verify(), Err(SealingError::AuthenticationFailed));
    assert!(Session::initiate(&alice_identity, &flipped).is_err());

    // A prekey swapped in by a malicious directory is caught.
    let mut swapped = good.clone();
    swapped.signed_prekey = keys::generate_key_pair().unwrap().public_key;
    assert_eq!(swapped.verify(), Err(SealingError::AuthenticationFailed));

    // A signature from another identity is caught.
    let mallory = IdentityKeyPair::generate().unwrap();
    let mut forged = good.clone();
    forged.signed_prekey_signature = mallory.sign_prekey(&good.signed_prekey).to_vec();
    assert_eq!(forged.verify(), Err(SealingError::AuthenticationFailed));

    // The signature binds Bob's DH identity key too.
    let mut other_dh = good.clone();
    other_dh.identity.dh_key = mallory.public().dh_key;
    assert_eq!(other_dh.verify(), Err(SealingError::AuthenticationFailed));

    let mut short = good.clone();
    short.signed_prekey_signature.truncate(63);
    assert!(matches!(short.verify(), Err(SealingError::InvalidInput(_))));
}

#[test]
fn low_order_and_zero_keys_are_refused() {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    // A signed bundle whose prekey is the zero point: the signature is fine, the key is not.
    let zero = [0u8; 32];
    let bundle = PreKeyBundle {
        identity: bob.identity.public(),
        signed_prekey: zero,
        signed_prekey_signature: bob.identity.sign_prekey(&zero).to_vec(),
        one_time_prekey: None,
    };
    assert_eq!(bundle.verify(), Ok(()));
    assert!(matches!(
        Session::initiate(&alice_identity, &bundle),
        Err(SealingError::InvalidKey(_))
    ));

    // A low-order ephemeral key or identity DH key in the initial header is refused
    // by the responder.
    let good = bob.bundle_without_one_time_prekey();
    let (_, header) = Session::initiate(&alice_identity, &good).unwrap();
    let mut low = header.clone();
    let mut one = [0u8; 32];
    one[0] = 1; // the point of order 1 (u = 1)
    low.ephemeral_key = one;
    assert!(matches!(
        Session::respond(&bob.identity, &bob.signed_prekey, None, &low),
        Err(SealingError::InvalidKey(_))
    ));
    let mut low_identity = header.clone();
    low_identity.identity.dh_key = one;
    assert!(matches!(
        Session::respond(&bob.identity, &bob.signed_prekey, None, &low_identity),
        Err(SealingError::InvalidKey(_))
    ));
    assert!(matches!(
        Session::new_initiator(&[7u8; 32], &zero, b""),
        Err(SealingError::InvalidKey(_))
    ));

    // A ratchet message carrying a low-order ratchet key is refused, state untouched.
    let (mut alice, mut bob_session) = pair();
    let m = send(&mut alice, "x");
    let mut evil = m.clone();
    evil.header[..32].copy_from_slice(&zero);
    assert!(matches!(
        recv(&mut bob_session, &evil),
        Err(SealingError::InvalidKey(_))
    ));
    assert_eq!(recv(&mut bob_session, &m).unwrap(), "x");
}

#[test]
fn initial_header_must_name_the_right_prekeys() {
    let bob = bob();
    let alice_identity = IdentityKeyPair::generate().unwrap();
    let bundle = bob.bundle();
    let (_, header): (Session, InitialHeader) =
        Session::initiate(&alice_identity, &bundle).unwrap();
    let other = keys::generate_key_pair().unwrap();
    assert!(matches!(
        Session::respond(&bob.identity, &other, Some(&bob.one_time_prekey), &header),
        Err(SealingError::InvalidKey(_))
    ));
    assert!(matches!(
        Session::respond(&bob.identity, &bob.signed_prekey, Some(&other), &header),
        Err(SealingError::InvalidKey(_))
    ));
    assert!(matches!(
        Session::respond(&bob.identity, &bob.signed_prekey, None, &header),
        Err(SealingError::InvalidInput(_))
    ));
}

#[test]
fn a_saved_session_carries_on_where_it_stopped() {
    let (mut alice, mut bob) = pair();
    let m: Vec<RatchetMessage> = (0..3).map(|i| send(&mut alice, &format!("m{i}"))).collect();
    assert_eq!(recv(&mut bob, &m[0]).unwrap(), "m0");
    assert_eq!(recv(&mut bob, &m[2]).unwrap(), "m2");
    let saved = bob.save().unwrap();
    assert!(saved.starts_with(sealing::session::SAVED_STATE_TAG));
    drop(bob);

    let mut bob = Session::restore(&saved).unwrap();
    assert_eq!(bob.id(), alice.id());
    // The skipped key of m1 was kept, and used once.
    assert_eq!(bob.skipped_key_count(), 1);
    assert_eq!(recv(&mut bob, &m[1]).unwrap(), "m1");
    // What was received before the save stays a replay after it.
    assert!(matches!(
        recv(&mut bob, &m[0]),
        Err(SealingError::RejectedMessage(_))
    ));
    // Both directions go on, through a ratchet step.
    let reply = send(&mut bob, "restored");
    assert_eq!(recv(&mut alice, &reply).unwrap(), "restored");
    let next = send(&mut alice, "and on");
    assert_eq!(recv(&mut bob, &next).unwrap(), "and on");
}

#[test]
fn a_saved_state_is_refused_unless_it_is_one() {
    let (_, bob) = pair();
    let saved = bob.save().unwrap();
    let json = &saved[sealing::session::SAVED_STATE_TAG.len()..];
    let refused = |state: &[u8]| match Session::restore(state) {
        Err(SealingError::InvalidInput(why)) => why,
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a state that is not one was restored"),
    };
    // Without its tag, or with another version's.
    assert!(refused(json).contains("session-state/v1"));
    let mut other_version = b"switchboard/session-state/v2\n".to_vec();
    other_version.extend_from_slice(json);
    assert!(refused(&other_version).contains("session-state/v1"));
    // Cut short: refused without echoing any of its (secret) bytes.
    let cut = &saved[..saved.len() - 10];
    let why = refused(cut);
    assert_eq!(why, "the saved session state is malformed");
    // Over the bound on skipped-message keys.
    let mut value: serde_json::Value = serde_json::from_slice(json).unwrap();
    let skipped = serde_json::json!({
        "ratchet_key": vec![7u8; 32], "message_number": 1, "message_key": vec![9u8; 32]
    });
    value["skipped"] = serde_json::Value::Array(vec![skipped; MAX_STORED_SKIPPED + 1]);
    let mut over = sealing::session::SAVED_STATE_TAG.to_vec();
    over.extend_from_slice(value.to_string().as_bytes());
    assert!(refused(&over).contains("skipped-message keys"));
    value["skipped"] = serde_json::Value::Array(Vec::new());
    let mut within = sealing::session::SAVED_STATE_TAG.to_vec();
    within.extend_from_slice(value.to_string().as_bytes());
    assert!(Session::restore(&within).is_ok());
}
