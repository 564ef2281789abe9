//! RFC 9180 test vectors (CFRG `test-vectors.json`, filtered to the suites this
//! crate implements): key derivation, encapsulation, key schedule, every
//! encryption in order, and every export.

use sealing::aead::AeadAlgorithm;
use sealing::hpke::{self, Mode};

use super::{hex_field, key_field, load_vectors};

#[test]
fn rfc9180_vectors_match_exactly() {
    let vectors = load_vectors("hpke_test_vectors.json");
    let vectors = vectors.as_array().unwrap();
    let mut covered = Vec::new();
    let mut encryptions_checked = 0;
    let mut exports_checked = 0;
    for v in vectors {
        assert_eq!(v["kem_id"], 0x20);
        assert_eq!(v["kdf_id"], 1);
        let mode_id = v["mode"].as_u64().unwrap();
        let aead =
            AeadAlgorithm::from_id(u16::try_from(v["aead_id"].as_u64().unwrap()).unwrap()).unwrap();
        covered.push((mode_id, aead.id()));
        let (psk, psk_id) = (
            v.get("psk")
                .map(|_| hex_field(v, "psk"))
                .unwrap_or_default(),
            v.get("psk_id")
                .map(|_| hex_field(v, "psk_id"))
                .unwrap_or_default(),
        );
        let mode = match mode_id {
            0 => Mode::Base,
            1 => Mode::Psk {
                psk: &psk,
                psk_id: &psk_id,
            },
            other => panic!("vector file should hold modes 0 and 1 only, found {other}"),
        };
        let info = hex_field(v, "info");

        // DeriveKeyPair from the seeds.
        let recipient = hpke::derive_key_pair(&hex_field(v, "ikmR")).unwrap();
        assert_eq!(recipient.secret_key, key_field(v, "skRm"));
        assert_eq!(recipient.public_key, key_field(v, "pkRm"));
        let ephemeral = hpke::derive_key_pair(&hex_field(v, "ikmE")).unwrap();
        assert_eq!(ephemeral.secret_key, key_field(v, "skEm"));
        assert_eq!(ephemeral.public_key, key_field(v, "pkEm"));

        // Encap / Decap.
        let pk_r = key_field(v, "pkRm");
        let sk_r = key_field(v, "skRm");
        let enc = key_field(v, "enc");
        let encapsulation = hpke::encap_with_ephemeral(&pk_r, &key_field(v, "skEm")).unwrap();
        assert_eq!(encapsulation.enc, enc);
        assert_eq!(
            encapsulation.shared_secret.to_vec(),
            hex_field(v, "shared_secret")
        );
        assert_eq!(
            hpke::decap(&enc, &sk_r).unwrap().to_vec(),
            hex_field(v, "shared_secret")
        );

        // Key schedule on both sides.
        let (sent_enc, mut sender) =
            hpke::setup_sender_with_ephemeral(aead, mode, &pk_r, &info, &key_field(v, "skEm"))
                .unwrap();
        assert_eq!(sent_enc, enc);
        let mut receiver = hpke::setup_receiver(aead, mode, &enc, &sk_r, &info).unwrap();
        for context_key in [sender.key(), receiver.key()] {
            assert_eq!(context_key, hex_field(v, "key").as_slice());
        }
        assert_eq!(sender.base_nonce().to_vec(), hex_field(v, "base_nonce"));
        assert_eq!(receiver.base_nonce().to_vec(), hex_field(v, "base_nonce"));
        assert_eq!(
            sender.exporter_secret().to_vec(),
            hex_field(v, "exporter_secret")
        );
        assert_eq!(
            receiver.exporter_secret().to_vec(),
            hex_field(v, "exporter_secret")
        );

        // Every encryption, in sequence.
        for (seq, e) in v["encryptions"].as_array().unwrap().iter().enumerate() {
            assert_eq!(sender.sequence_number(), seq as u64);
            for nonce in [sender.nonce(), receiver.nonce()] {
                assert_eq!(
                    nonce.to_vec(),
                    hex_field(e, "nonce"),
                    "nonce of sequence {seq}"
                );
            }
            let aad = hex_field(e, "aad");
            let pt = hex_field(e, "pt");
            let ct = hex_field(e, "ct");
            assert_eq!(
                sender.seal(&aad, &pt).unwrap(),
                ct,
                "ciphertext of sequence {seq}"
            );
            assert_eq!(
                receiver.open(&aad, &ct).unwrap(),
                pt,
                "plaintext of sequence {seq}"
            );
            encryptions_checked += 1;
        }

        // Every export, on both sides.
        for x in v["exports"].as_array().unwrap() {
            let len = usize::try_from(x["L"].as_u64().unwrap()).unwrap();
            let ctx = hex_field(x, "exporter_context");
            let expected = hex_field(x, "exported_value");
            assert_eq!(sender.export(&ctx, len).unwrap(), expected);
            assert_eq!(receiver.export(&ctx, len).unwrap(), expected);
            exports_checked += 1;
        }
    }
    covered.sort_unstable();
    assert_eq!(covered, vec![(0, 1), (0, 2), (1, 1), (1, 2)]);
    assert_eq!(encryptions_checked, 4 * 257);
    assert_eq!(exports_checked, 4 * 3);
}

#[test]
fn single_shot_open_base_reads_the_aes256_base_vector() {
    let vectors = load_vectors("hpke_test_vectors.json");
    let v = vectors
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["mode"] == 0 && v["aead_id"] == 2)
        .unwrap();
    let open_encryption = |e: &serde_json::Value| {
        hpke::open_base(
            &hex_field(v, "skRm"),
            &hex_field(v, "enc"),
            &hex_field(v, "info"),
            &hex_field(e, "aad"),
            &hex_field(e, "ct"),
        )
    };
    let first = &v["encryptions"][0];
    let opened = open_encryption(first).unwrap();
    assert_eq!(opened, hex_field(first, "pt"));
    // The second ciphertext used sequence 1: a single-shot open (sequence 0) must refuse it.
    let refused = open_encryption(&v["encryptions"][1]);
    assert_eq!(refused, Err(sealing::SealingError::AuthenticationFailed));
}

#[test]
fn seal_base_round_trips_and_binds_everything() {
    let recipient = sealing::keys::generate_key_pair().unwrap();
    let aad = sealing::aad::sealed_header_aad("m1", "whatsapp", "a", "b", "c");
    let (enc, ct) = hpke::seal_base(&recipient.public_key, b"info", &aad, b"secret text").unwrap();
    assert_eq!(enc.len(), 32);
    assert_eq!(ct.len(), b"secret text".len() + 16);
    assert_eq!(
        hpke::open_base(&recipient.secret_key, &enc, b"info", &aad, &ct).unwrap(),
        b"secret text"
    );
    let other_aad = sealing::aad::sealed_header_aad("m1", "whatsapp", "a", "evil", "c");
    let auth = Err(sealing::SealingError::AuthenticationFailed);
    assert_eq!(
        hpke::open_base(&recipient.secret_key, &enc, b"info", &other_aad, &ct),
        auth
    );
    assert_eq!(
        hpke::open_base(&recipient.secret_key, &enc, b"inf0", &aad, &ct),
        auth
    );
    let mut tampered = ct.clone();
    tampered[3] ^= 0x40;
    assert_eq!(
        hpke::open_base(&recipient.secret_key, &enc, b"info", &aad, &tampered),
        auth
    );
    let other = sealing::keys::generate_key_pair().unwrap();
    assert_eq!(
        hpke::open_base(&other.secret_key, &enc, b"info", &aad, &ct),
        auth
    );
    // Two seals of the same message differ (fresh ephemeral key each time).
    let (enc2, ct2) =
        hpke::seal_base(&recipient.public_key, b"info", &aad, b"secret text").unwrap();
    assert_ne!(enc, enc2);
    assert_ne!(ct, ct2);
}

#[test]
fn bad_keys_are_typed_errors() {
    use sealing::SealingError;
    assert!(
        matches!(hpke::seal_base(&[0u8; 31], b"", b"", b""), Err(SealingError::InvalidKey(m)) if m.contains("got 31"))
    );
    // The all-zero point (low order) is refused, not used to derive a public secret.
    assert!(matches!(
        hpke::seal_base(&[0u8; 32], b"", b"", b""),
        Err(SealingError::InvalidKey(_))
    ));
    let recipient = sealing::keys::generate_key_pair().unwrap();
    assert!(matches!(
        hpke::open_base(&recipient.secret_key, &[0u8; 32], b"", b"", &[0u8; 16]),
        Err(SealingError::InvalidKey(_))
    ));
    assert!(matches!(
        hpke::open_base(&recipient.secret_key, &[1u8; 33], b"", b"", &[0u8; 16]),
        Err(SealingError::InvalidKey(m)) if m.starts_with("enc:")
    ));
}
