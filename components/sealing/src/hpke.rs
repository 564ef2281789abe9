//! RFC 9180 Hybrid Public Key Encryption, for the first message to a recipient.
//!
//! Supported: modes `base` (0x00) and `psk` (0x01); KEM DHKEM(X25519, HKDF-SHA256)
//! (0x0020); KDF HKDF-SHA256 (0x0001); AEAD AES-128-GCM (0x0001) and AES-256-GCM
//! (0x0002). The pipeline's own choice is base mode with AES-256-GCM, which the
//! single-shot [`seal_base`] and [`open_base`] use.
//!
//! The structure follows the RFC's pseudocode: [`labeled_extract`] and
//! [`labeled_expand`], the KEM ([`encap`], [`encap_with_ephemeral`], [`decap`],
//! [`derive_key_pair`]), the key schedule, then a [`SenderContext`] and a
//! [`ReceiverContext`] whose `seal`/`open` number messages (nonce = base nonce XOR
//! sequence number) and whose `export` derives secrets from the exporter secret.

use hkdf::{Hkdf, HkdfExtract};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead::{AeadAlgorithm, Cipher, NONCE_LEN};
use crate::error::SealingError;
use crate::keys::{self, KEY_LEN, KeyPair};

/// KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// `Nh`: output size of the KDF's extract step.
const NH: usize = 32;
/// `Nsecret`, `Nenc` and `Npk` of DHKEM(X25519): all 32 bytes.
const NSECRET: usize = 32;
/// HKDF-Expand can produce at most 255 blocks.
const MAX_EXPAND: usize = 255 * NH;

/// An HPKE mode this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode<'a> {
    /// `mode_base` (0x00): only the recipient's key is involved.
    Base,
    /// `mode_psk` (0x01): both sides also hold a pre-shared key and its id.
    Psk {
        /// The pre-shared key (RFC 9180 wants at least 32 bytes of entropy).
        psk: &'a [u8],
        /// The identifier of the pre-shared key.
        psk_id: &'a [u8],
    },
}

impl Mode<'_> {
    /// The mode byte of the key schedule context.
    pub fn id(&self) -> u8 {
        match self {
            Self::Base => 0x00,
            Self::Psk { .. } => 0x01,
        }
    }

    fn psk_and_id(&self) -> Result<(&[u8], &[u8]), SealingError> {
        match *self {
            Self::Base => Ok((&[], &[])),
            Self::Psk { psk, psk_id } => {
                // VerifyPSKInputs: in psk mode both must be present (non-empty).
                if psk.is_empty() || psk_id.is_empty() {
                    return Err(SealingError::InvalidInput(
                        "psk mode needs a non-empty psk and psk id".into(),
                    ));
                }
                Ok((psk, psk_id))
            }
        }
    }
}

/// The KEM's suite id: "KEM" || I2OSP(kem_id, 2).
fn kem_suite_id() -> [u8; 5] {
    let [hi, lo] = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', hi, lo]
}

/// The full suite id: "HPKE" || kem_id || kdf_id || aead_id.
fn hpke_suite_id(aead: AeadAlgorithm) -> [u8; 10] {
    let [k1, k2] = KEM_ID.to_be_bytes();
    let [d1, d2] = KDF_ID.to_be_bytes();
    let [a1, a2] = aead.id().to_be_bytes();
    [b'H', b'P', b'K', b'E', k1, k2, d1, d2, a1, a2]
}

/// `LabeledExtract(salt, label, ikm)` with HKDF-SHA256 and the given suite id.
pub fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; NH] {
    let mut extract = HkdfExtract::<Sha256>::new(Some(salt));
    extract.input_ikm(b"HPKE-v1");
    extract.input_ikm(suite_id);
    extract.input_ikm(label);
    extract.input_ikm(ikm);
    let (prk, _) = extract.finalize();
    let mut out = [0u8; NH];
    out.copy_from_slice(&prk);
    out
}

/// `LabeledExpand(prk, label, info, L)` with HKDF-SHA256 and the given suite id.
pub fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Vec<u8>, SealingError> {
    if len > MAX_EXPAND {
        return Err(expand_too_long(len));
    }
    let mut out = vec![0u8; len];
    labeled_expand_into(suite_id, prk, label, info, &mut out)?;
    Ok(out)
}

/// `LabeledExpand` with `L = out.len()`, written into `out`.
fn labeled_expand_into(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), SealingError> {
    let len = out.len();
    let len_bytes = u16::try_from(len)
        .map_err(|_| expand_too_long(len))?
        .to_be_bytes();
    let hkdf = Hkdf::<Sha256>::from_prk(prk)
        .map_err(|_| SealingError::InvalidKey(format!("prk: expected at least {NH} bytes")))?;
    hkdf.expand_multi_info(&[&len_bytes, b"HPKE-v1", suite_id, label, info], out)
        .map_err(|_| expand_too_long(len))
}

fn expand_too_long(len: usize) -> SealingError {
    SealingError::InvalidInput(format!("cannot expand to {len} bytes (max {MAX_EXPAND})"))
}

fn expand_array<const N: usize>(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
) -> Result<[u8; N], SealingError> {
    let mut out = [0u8; N];
    labeled_expand_into(suite_id, prk, label, info, &mut out)?;
    Ok(out)
}

/// `DeriveKeyPair(ikm)` of DHKEM(X25519): the key pair the RFC's vectors derive from a seed.
pub fn derive_key_pair(ikm: &[u8]) -> Result<KeyPair, SealingError> {
    let suite = kem_suite_id();
    let dkp_prk = labeled_extract(&suite, b"", b"dkp_prk", ikm);
    let secret: [u8; KEY_LEN] = expand_array(&suite, &dkp_prk, b"sk", b"")?;
    Ok(KeyPair::from_secret(secret))
}

/// `ExtractAndExpand(dh, kem_context)`: the KEM shared secret.
fn extract_and_expand(dh: &[u8], kem_context: &[u8]) -> Result<[u8; NSECRET], SealingError> {
    let suite = kem_suite_id();
    let eae_prk = labeled_extract(&suite, b"", b"eae_prk", dh);
    expand_array(&suite, &eae_prk, b"shared_secret", kem_context)
}

/// The output of encapsulation: the KEM shared secret and `enc` to send to the recipient.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Encapsulation {
    /// The KEM shared secret (input to the key schedule).
    pub shared_secret: [u8; NSECRET],
    /// The encapsulated key: the ephemeral public key.
    pub enc: [u8; KEY_LEN],
}

/// `Encap(pkR)` with a fresh ephemeral key.
pub fn encap(pk_r: &[u8; KEY_LEN]) -> Result<Encapsulation, SealingError> {
    let sk_e = Zeroizing::new(keys::random_bytes::<KEY_LEN>()?);
    encap_with_ephemeral(pk_r, &sk_e)
}

/// `Encap(pkR)` with a given ephemeral secret key: deterministic, for test vectors.
///
/// Never reuse an ephemeral secret outside tests: it must be fresh per message.
pub fn encap_with_ephemeral(
    pk_r: &[u8; KEY_LEN],
    sk_e: &[u8; KEY_LEN],
) -> Result<Encapsulation, SealingError> {
    let ephemeral = KeyPair::from_secret(*sk_e);
    let dh = Zeroizing::new(keys::diffie_hellman(&ephemeral.secret_key, pk_r)?);
    let mut kem_context = [0u8; 2 * KEY_LEN];
    kem_context[..KEY_LEN].copy_from_slice(&ephemeral.public_key);
    kem_context[KEY_LEN..].copy_from_slice(pk_r);
    Ok(Encapsulation {
        shared_secret: extract_and_expand(dh.as_slice(), &kem_context)?,
        enc: ephemeral.public_key,
    })
}

/// `Decap(enc, skR)`: the KEM shared secret the sender derived.
pub fn decap(enc: &[u8; KEY_LEN], sk_r: &[u8; KEY_LEN]) -> Result<[u8; NSECRET], SealingError> {
    let recipient = KeyPair::from_secret(*sk_r);
    let dh = Zeroizing::new(keys::diffie_hellman(&recipient.secret_key, enc)?);
    let mut kem_context = [0u8; 2 * KEY_LEN];
    kem_context[..KEY_LEN].copy_from_slice(enc);
    kem_context[KEY_LEN..].copy_from_slice(&recipient.public_key);
    extract_and_expand(dh.as_slice(), &kem_context)
}

/// The encryption context both sides derive from the key schedule.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct Context {
    #[zeroize(skip)]
    aead: AeadAlgorithm,
    /// `key`, expanded once for every message of the context (wiped on drop by aes-gcm).
    #[zeroize(skip)]
    cipher: Cipher,
    key: Vec<u8>,
    base_nonce: [u8; NONCE_LEN],
    exporter_secret: [u8; NH],
    seq: u64,
}

impl Context {
    /// `KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id)`, which starts
    /// with `VerifyPSKInputs`.
    fn key_schedule(
        aead: AeadAlgorithm,
        mode: Mode<'_>,
        shared_secret: &[u8],
        info: &[u8],
    ) -> Result<Self, SealingError> {
        let (psk, psk_id) = mode.psk_and_id()?;
        let suite = hpke_suite_id(aead);
        let mut context = [0u8; 1 + 2 * NH];
        context[0] = mode.id();
        context[1..=NH].copy_from_slice(&labeled_extract(&suite, b"", b"psk_id_hash", psk_id));
        context[1 + NH..].copy_from_slice(&labeled_extract(&suite, b"", b"info_hash", info));
        let secret = Zeroizing::new(labeled_extract(&suite, shared_secret, b"secret", psk));
        let key = labeled_expand(&suite, secret.as_slice(), b"key", &context, aead.key_len())?;
        Ok(Self {
            aead,
            cipher: Cipher::new(&key)?,
            key,
            base_nonce: expand_array(&suite, secret.as_slice(), b"base_nonce", &context)?,
            exporter_secret: expand_array(&suite, secret.as_slice(), b"exp", &context)?,
            seq: 0,
        })
    }

    /// `ComputeNonce(seq)`: the base nonce XOR the big-endian sequence number.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = self.base_nonce;
        for (n, s) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        nonce
    }

    /// Runs one seal or open with the next nonce, then `IncrementSeq()` if it succeeded.
    ///
    /// The limit check of `IncrementSeq()` is made first, so that a nonce is never
    /// reused and a sealed message is never lost to the check. A failed open does
    /// not advance the sequence number. The RFC's limit is 2^96 - 1 messages; a
    /// `u64` counter caps it at 2^64 - 1, which no context will reach, and the
    /// check still prevents wrap-around.
    fn next_message<T>(
        &mut self,
        operation: impl FnOnce(&Cipher, &[u8; NONCE_LEN]) -> Result<T, SealingError>,
    ) -> Result<T, SealingError> {
        if self.seq == u64::MAX {
            return Err(SealingError::RejectedMessage(
                "message limit reached for this context".into(),
            ));
        }
        let output = operation(&self.cipher, &self.nonce())?;
        self.seq += 1;
        Ok(output)
    }

    fn export(&self, exporter_context: &[u8], len: usize) -> Result<Vec<u8>, SealingError> {
        labeled_expand(
            &hpke_suite_id(self.aead),
            &self.exporter_secret,
            b"sec",
            exporter_context,
            len,
        )
    }
}

/// The sender's side of an HPKE context: seals messages in order.
///
/// Deliberately not `Clone`: two copies would seal different messages under the
/// same nonce, which breaks AES-GCM.
pub struct SenderContext {
    inner: Context,
}

/// The recipient's side of an HPKE context: opens messages in the order they were sealed.
#[derive(Clone)]
pub struct ReceiverContext {
    inner: Context,
}

macro_rules! context_accessors {
    ($ty:ty) => {
        impl $ty {
            /// The AEAD key from the key schedule (exposed for test vectors and interop checks).
            pub fn key(&self) -> &[u8] {
                &self.inner.key
            }

            /// The base nonce from the key schedule (exposed for test vectors).
            pub fn base_nonce(&self) -> &[u8; NONCE_LEN] {
                &self.inner.base_nonce
            }

            /// The exporter secret from the key schedule (exposed for test vectors).
            pub fn exporter_secret(&self) -> &[u8; NH] {
                &self.inner.exporter_secret
            }

            /// `ComputeNonce(seq)`: the nonce the next message will use (exposed for test vectors).
            pub fn nonce(&self) -> [u8; NONCE_LEN] {
                self.inner.nonce()
            }

            /// The sequence number the next message will use.
            pub fn sequence_number(&self) -> u64 {
                self.inner.seq
            }

            /// `Context.Export(exporter_context, L)`: a secret bound to this context.
            pub fn export(
                &self,
                exporter_context: &[u8],
                len: usize,
            ) -> Result<Vec<u8>, SealingError> {
                self.inner.export(exporter_context, len)
            }
        }
    };
}

context_accessors!(SenderContext);
context_accessors!(ReceiverContext);

impl SenderContext {
    /// `ContextS.Seal(aad, pt)`: encrypts the next message in sequence.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealingError> {
        self.inner
            .next_message(|cipher, nonce| cipher.seal(nonce, aad, plaintext))
    }
}

impl ReceiverContext {
    /// `ContextR.Open(aad, ct)`: decrypts the next message in sequence.
    ///
    /// A failed open does not advance the sequence number.
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealingError> {
        self.inner
            .next_message(|cipher, nonce| cipher.open(nonce, aad, ciphertext))
    }
}

/// `SetupBaseS` / `SetupPSKS` with a fresh ephemeral key: returns `enc` and the sender context.
pub fn setup_sender(
    aead: AeadAlgorithm,
    mode: Mode<'_>,
    pk_r: &[u8; KEY_LEN],
    info: &[u8],
) -> Result<([u8; KEY_LEN], SenderContext), SealingError> {
    let sk_e = Zeroizing::new(keys::random_bytes::<KEY_LEN>()?);
    setup_sender_with_ephemeral(aead, mode, pk_r, info, &sk_e)
}

/// `SetupBaseS` / `SetupPSKS` with a given ephemeral secret: deterministic, for test vectors.
pub fn setup_sender_with_ephemeral(
    aead: AeadAlgorithm,
    mode: Mode<'_>,
    pk_r: &[u8; KEY_LEN],
    info: &[u8],
    sk_e: &[u8; KEY_LEN],
) -> Result<([u8; KEY_LEN], SenderContext), SealingError> {
    let encapsulation = encap_with_ephemeral(pk_r, sk_e)?;
    let inner = Context::key_schedule(aead, mode, &encapsulation.shared_secret, info)?;
    Ok((encapsulation.enc, SenderContext { inner }))
}

/// `SetupBaseR` / `SetupPSKR`: the recipient's context for a received `enc`.
pub fn setup_receiver(
    aead: AeadAlgorithm,
    mode: Mode<'_>,
    enc: &[u8; KEY_LEN],
    sk_r: &[u8; KEY_LEN],
    info: &[u8],
) -> Result<ReceiverContext, SealingError> {
    let shared_secret = Zeroizing::new(decap(enc, sk_r)?);
    let inner = Context::key_schedule(aead, mode, shared_secret.as_slice(), info)?;
    Ok(ReceiverContext { inner })
}

/// Single-shot base-mode seal with AES-256-GCM: returns `(enc, ciphertext)`.
///
/// `pk_r` must be a 32-byte X25519 public key; a low-order key is refused.
pub fn seal_base(
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealingError> {
    let pk_r = keys::key_from_slice("recipient public key", pk_r)?;
    let (enc, mut context) = setup_sender(AeadAlgorithm::Aes256Gcm, Mode::Base, &pk_r, info)?;
    let ciphertext = context.seal(aad, plaintext)?;
    Ok((enc.to_vec(), ciphertext))
}

/// Single-shot base-mode open with AES-256-GCM, the inverse of [`seal_base`].
pub fn open_base(
    sk_r: &[u8],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let sk_r = keys::key_from_slice("recipient secret key", sk_r)?;
    let enc = keys::key_from_slice("enc", enc)?;
    let mut context = setup_receiver(AeadAlgorithm::Aes256Gcm, Mode::Base, &enc, &sk_r, info)?;
    context.open(aad, ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_overflow_is_refused() {
        let recipient = keys::generate_key_pair().unwrap();
        let (enc, mut sender) = setup_sender(
            AeadAlgorithm::Aes128Gcm,
            Mode::Base,
            &recipient.public_key,
            b"",
        )
        .unwrap();
        let mut receiver = setup_receiver(
            AeadAlgorithm::Aes128Gcm,
            Mode::Base,
            &enc,
            &recipient.secret_key,
            b"",
        )
        .unwrap();
        sender.inner.seq = u64::MAX - 1;
        receiver.inner.seq = u64::MAX - 1;
        let ct = sender.seal(b"", b"last").unwrap();
        assert_eq!(receiver.open(b"", &ct).unwrap(), b"last");
        assert!(matches!(
            sender.seal(b"", b"one more"),
            Err(SealingError::RejectedMessage(_))
        ));
        assert!(matches!(
            receiver.open(b"", &ct),
            Err(SealingError::RejectedMessage(_))
        ));
        assert_eq!(sender.sequence_number(), u64::MAX);
    }

    #[test]
    fn nonce_is_base_xor_sequence() {
        let recipient = keys::generate_key_pair().unwrap();
        let (_, mut sender) = setup_sender(
            AeadAlgorithm::Aes256Gcm,
            Mode::Base,
            &recipient.public_key,
            b"",
        )
        .unwrap();
        let base = *sender.base_nonce();
        assert_eq!(sender.inner.nonce(), base);
        sender.inner.seq = 0x0102;
        let nonce = sender.inner.nonce();
        assert_eq!(nonce[..10], base[..10]);
        assert_eq!(nonce[10], base[10] ^ 0x01);
        assert_eq!(nonce[11], base[11] ^ 0x02);
    }

    #[test]
    fn psk_mode_needs_both_inputs() {
        let recipient = keys::generate_key_pair().unwrap();
        let mode = Mode::Psk {
            psk: b"",
            psk_id: b"id",
        };
        assert!(matches!(
            setup_sender(AeadAlgorithm::Aes256Gcm, mode, &recipient.public_key, b""),
            Err(SealingError::InvalidInput(_))
        ));
    }

    #[test]
    fn export_length_is_bounded() {
        let recipient = keys::generate_key_pair().unwrap();
        let (_, sender) = setup_sender(
            AeadAlgorithm::Aes256Gcm,
            Mode::Base,
            &recipient.public_key,
            b"",
        )
        .unwrap();
        assert_eq!(sender.export(b"ctx", MAX_EXPAND).unwrap().len(), MAX_EXPAND);
        assert!(matches!(
            sender.export(b"ctx", MAX_EXPAND + 1),
            Err(SealingError::InvalidInput(_))
        ));
    }
}
