//! The sealing component as a client in another language would use it: its
//! sessions talk to the native crate's, and a session saved from one instance
//! carries on in a fresh instance (whose memory knows nothing of it), while
//! anything that is not a saved state is refused with a typed error.

use sealing::keys;
use sealing::session::{self, IdentityKeyPair, Session};
use switchboard_pipeline::plugins::sealer::bindings::exports::switchboard::messaging::sealing::{
    IdentitySecrets, RatchetMessage, SealingError,
};
use switchboard_pipeline::plugins::sealer::{self, Sealer};
use switchboard_runtime::sandbox::Sandbox;
use wasmtime::Store;

/// A fresh instance of the sealing component, in a store of its own.
fn instance() -> (Store<Sandbox>, Sealer) {
    sealer::instantiate(crate::runtime()).expect("the sealing component runs")
}

fn wire(message: &session::RatchetMessage) -> RatchetMessage {
    RatchetMessage {
        header: message.header.clone(),
        ciphertext: message.ciphertext.clone(),
    }
}

#[test]
fn a_session_saved_from_one_instance_carries_on_in_another() {
    // Bob runs the component; Alice the native crate.
    let (bob_signing_seed, bob_dh_secret) = ([21u8; 32], [22u8; 32]);
    let bob_identity = IdentityKeyPair::from_secrets(bob_signing_seed, bob_dh_secret);
    let bob_secrets = IdentitySecrets {
        signing_seed: bob_signing_seed.to_vec(),
        dh_secret: bob_dh_secret.to_vec(),
    };
    let signed_prekey = keys::generate_key_pair().expect("random source");
    let bundle = bob_identity.bundle(&signed_prekey, None);
    let alice_identity = IdentityKeyPair::generate().expect("random source");
    let (mut alice, header) = Session::initiate(&alice_identity, &bundle).expect("initiate");
    let sent: Vec<session::RatchetMessage> = (0..3)
        .map(|n| {
            alice
                .encrypt(format!("m{n}").as_bytes(), b"ad")
                .expect("encrypt")
        })
        .collect();

    // First instance: Bob accepts, reads m0 and m2 (m1 is late), saves.
    let saved = {
        let (mut store, sealer) = instance();
        let sessions = sealer.switchboard_messaging_sealing().session();
        let bob = sessions
            .call_respond(
                &mut store,
                &bob_secrets,
                &signed_prekey.secret_key,
                None,
                &header.to_bytes(),
            )
            .expect("no trap")
            .expect("respond");
        for n in [0, 2] {
            let plaintext = sessions
                .call_decrypt(&mut store, bob, &wire(&sent[n]), b"ad")
                .expect("no trap")
                .expect("decrypt");
            assert_eq!(plaintext, format!("m{n}").into_bytes());
        }
        sessions
            .call_save(&mut store, bob)
            .expect("no trap")
            .expect("save")
    };
    assert!(saved.starts_with(session::SAVED_STATE_TAG));

    // A fresh instance: the saved state is all it has.
    let (mut store, sealer) = instance();
    let sessions = sealer.switchboard_messaging_sealing().session();
    let bob = sessions
        .call_restore(&mut store, &saved)
        .expect("no trap")
        .expect("restore");
    let id = sessions.call_id(&mut store, bob).expect("no trap");
    assert_eq!(id, alice.id().to_vec());
    let late = sessions
        .call_decrypt(&mut store, bob, &wire(&sent[1]), b"ad")
        .expect("no trap")
        .expect("the late message's key was saved");
    assert_eq!(late, b"m1");
    let replayed = sessions
        .call_decrypt(&mut store, bob, &wire(&sent[0]), b"ad")
        .expect("no trap");
    assert!(
        matches!(replayed, Err(SealingError::RejectedMessage(_))),
        "{replayed:?}"
    );
    let reply = sessions
        .call_encrypt(&mut store, bob, b"restored", b"ad")
        .expect("no trap")
        .expect("encrypt");
    let reply = session::RatchetMessage {
        header: reply.header,
        ciphertext: reply.ciphertext,
    };
    assert_eq!(alice.decrypt(&reply, b"ad").expect("decrypt"), b"restored");

    // The component's saved form is the crate's: it restores natively too.
    let saved_again = sessions
        .call_save(&mut store, bob)
        .expect("no trap")
        .expect("save");
    let native = Session::restore(&saved_again).expect("restores natively");
    assert_eq!(native.id(), alice.id());

    // Anything else is refused, and the instance keeps serving.
    for bad in [&b"not a session"[..], &saved[..saved.len() / 2]] {
        let refused = sessions.call_restore(&mut store, bad).expect("no trap");
        assert!(
            matches!(refused, Err(SealingError::InvalidInput(_))),
            "{:?}",
            refused.map(|_| "restored")
        );
    }
    let next = alice.encrypt(b"still there", b"ad").expect("encrypt");
    let plaintext = sessions
        .call_decrypt(&mut store, bob, &wire(&next), b"ad")
        .expect("no trap")
        .expect("decrypt");
    assert_eq!(plaintext, b"still there");
}
