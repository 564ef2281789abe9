//! Project Wycheproof vectors for AES-GCM and X25519, every vector checked.

use sealing::SealingError;
use sealing::{aead, keys};

use super::{hex_field, key_field, load_vectors};

#[test]
fn aes_gcm_vectors() {
    let file = load_vectors("aes_gcm_test.json");
    assert_eq!(file["algorithm"], "AES-GCM");
    let (mut valid, mut invalid, mut skipped_key_size, mut skipped_iv_size) = (0, 0, 0, 0);
    for group in file["testGroups"].as_array().unwrap() {
        let key_size = group["keySize"].as_u64().unwrap();
        let iv_size = group["ivSize"].as_u64().unwrap();
        assert_eq!(
            group["tagSize"], 128,
            "only 128-bit tags are expected in this file"
        );
        let tests = group["tests"].as_array().unwrap();
        // This crate supports AES-128/256 with 96-bit nonces only: count the rest.
        if key_size == 192 {
            skipped_key_size += tests.len();
            continue;
        }
        if iv_size != 96 {
            skipped_iv_size += tests.len();
            continue;
        }
        for t in tests {
            let id = &t["tcId"];
            let key = hex_field(t, "key");
            let iv = hex_field(t, "iv");
            let aad = hex_field(t, "aad");
            let msg = hex_field(t, "msg");
            let mut sealed = hex_field(t, "ct");
            sealed.extend(hex_field(t, "tag"));
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(
                        aead::seal(&key, &iv, &aad, &msg).unwrap(),
                        sealed,
                        "tcId {id}"
                    );
                    assert_eq!(
                        aead::open(&key, &iv, &aad, &sealed).unwrap(),
                        msg,
                        "tcId {id}"
                    );
                    valid += 1;
                }
                "invalid" => {
                    assert_eq!(
                        aead::open(&key, &iv, &aad, &sealed),
                        Err(SealingError::AuthenticationFailed),
                        "tcId {id}"
                    );
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    let total = file["numberOfTests"].as_u64().unwrap();
    assert_eq!(
        (valid + invalid + skipped_key_size + skipped_iv_size) as u64,
        total
    );
    assert_eq!((valid, invalid), (79, 54));
    assert_eq!((skipped_key_size, skipped_iv_size), (103, 80));
}

#[test]
fn x25519_vectors() {
    let file = load_vectors("x25519_test.json");
    assert_eq!(file["algorithm"], "XDH");
    let (mut agreed, mut refused_zero, mut acceptable_agreed) = (0, 0, 0);
    for group in file["testGroups"].as_array().unwrap() {
        assert_eq!(group["curve"], "curve25519");
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let secret = key_field(t, "private");
            let public = key_field(t, "public");
            let shared = key_field(t, "shared");
            let result = keys::diffie_hellman(&secret, &public);
            match (t["result"].as_str().unwrap(), shared == [0u8; 32]) {
                // Valid vectors never have an all-zero secret; they must agree exactly.
                ("valid", false) => {
                    assert_eq!(result.unwrap(), shared, "tcId {id}");
                    agreed += 1;
                }
                // Low-order public keys give an all-zero secret: this crate refuses them.
                ("acceptable", true) => {
                    assert!(
                        matches!(result, Err(SealingError::InvalidKey(_))),
                        "tcId {id}"
                    );
                    refused_zero += 1;
                }
                // Twist points and non-canonical encodings are accepted per RFC 7748.
                ("acceptable", false) => {
                    assert_eq!(result.unwrap(), shared, "tcId {id}");
                    acceptable_agreed += 1;
                }
                (other, zero) => {
                    panic!("tcId {id}: unexpected result {other} (zero secret: {zero})")
                }
            }
        }
    }
    let total = file["numberOfTests"].as_u64().unwrap();
    assert_eq!((agreed + refused_zero + acceptable_agreed) as u64, total);
    assert_eq!(refused_zero, 31);
    assert_eq!((agreed, acceptable_agreed), (264, 223));
}
