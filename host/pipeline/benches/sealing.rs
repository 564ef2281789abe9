//! What end-to-end encryption costs, natively and inside the sealing component
//! (world `sealer`, run by wasmtime the way the host runs every component):
//! HPKE seal and open of 1 KiB and 64 KiB, one X25519 agreement, and one
//! Double Ratchet round trip (a message each way, so each side takes a DH
//! ratchet step). Both columns run the same Rust code, the `sealing` crate.
//!
//! Run with `cargo bench -p switchboard-pipeline --bench sealing`; figures are in
//! BENCHMARKS.md.

// Test code: a failed expectation is the benchmark failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` generates items that cannot carry docs.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealing::keys::{self, KeyPair};
use sealing::session::{IdentityKeyPair, Session};
use sealing::{aad, hpke};
use std::hint::black_box;
use std::time::Duration;
use switchboard_runtime::engine::{Runtime, RuntimeOptions};
use switchboard_runtime::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use switchboard_pipeline::plugins::sealer::bindings::exports::switchboard::messaging::sealing::{
    Guest, IdentitySecrets, PrekeyBundle, RatchetMessage,
};
use switchboard_pipeline::plugins::sealer::{self, Sealer};

const INFO: &[u8] = b"switchboard";

/// One instance of the sealing component, reused for every call (as a client
/// would keep it), with the deadline renewed before each call.
struct Component {
    store: Store<Sandbox>,
    sealer: Sealer,
    deadline_ticks: u64,
}

impl Component {
    fn new(runtime: &Runtime) -> Component {
        let (store, sealer) = sealer::instantiate(runtime).expect("the sealing component runs");
        Component {
            store,
            sealer,
            deadline_ticks: runtime.deadline_ticks(),
        }
    }

    /// The exported interface and the store, the deadline renewed.
    fn call(&mut self) -> (&Guest, &mut Store<Sandbox>) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        (self.sealer.switchboard_messaging_sealing(), &mut self.store)
    }
}

fn identity_secrets(seed: u8) -> (IdentityKeyPair, IdentitySecrets) {
    let signing_seed = [seed; 32];
    let dh_secret = [seed.wrapping_add(1); 32];
    (
        IdentityKeyPair::from_secrets(signing_seed, dh_secret),
        IdentitySecrets {
            signing_seed: signing_seed.to_vec(),
            dh_secret: dh_secret.to_vec(),
        },
    )
}

fn configured() -> Criterion {
    // A shared 2-core machine: fewer, shorter samples keep a run to minutes.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

fn hpke_benches(c: &mut Criterion, component: &mut Component) {
    let recipient = keys::generate_key_pair().expect("random source");
    let header = aad::sealed_header_aad("wamid.bench", "whatsapp", "alice", "bob", "conv-1");
    let mut group = c.benchmark_group("hpke");
    for size in [1024usize, 64 * 1024] {
        let plaintext = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("seal/native", size),
            &plaintext,
            |b, pt| {
                b.iter(|| {
                    hpke::seal_base(black_box(&recipient.public_key), INFO, &header, pt)
                        .expect("seal")
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("seal/wasm", size), &plaintext, |b, pt| {
            b.iter(|| {
                let (guest, store) = component.call();
                guest
                    .call_hpke_seal(store, black_box(&recipient.public_key), INFO, &header, pt)
                    .expect("no trap")
                    .expect("seal")
            })
        });
        let (enc, ciphertext) =
            hpke::seal_base(&recipient.public_key, INFO, &header, &plaintext).expect("seal");
        group.bench_with_input(
            BenchmarkId::new("open/native", size),
            &ciphertext,
            |b, ct| {
                b.iter(|| {
                    hpke::open_base(black_box(&recipient.secret_key), &enc, INFO, &header, ct)
                        .expect("open")
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("open/wasm", size), &ciphertext, |b, ct| {
            b.iter(|| {
                let (guest, store) = component.call();
                guest
                    .call_hpke_open(
                        store,
                        black_box(&recipient.secret_key),
                        &enc,
                        INFO,
                        &header,
                        ct,
                    )
                    .expect("no trap")
                    .expect("open")
            })
        });
    }
    group.finish();
}

fn x25519_benches(c: &mut Criterion, component: &mut Component) {
    let a = keys::generate_key_pair().expect("random source");
    let b = keys::generate_key_pair().expect("random source");
    let mut group = c.benchmark_group("x25519");
    group.bench_function("agreement/native", |bench| {
        bench.iter(|| keys::diffie_hellman(black_box(&a.secret_key), &b.public_key).expect("dh"))
    });
    group.bench_function("agreement/wasm", |bench| {
        bench.iter(|| {
            let (guest, store) = component.call();
            guest
                .call_x25519(store, black_box(&a.secret_key), &b.public_key)
                .expect("no trap")
                .expect("dh")
        })
    });
    group.finish();
}

/// A native pair of sessions after the first message, so both can send.
fn native_sessions() -> (Session, Session) {
    let (bob_identity, _) = identity_secrets(3);
    let (alice_identity, _) = identity_secrets(1);
    let signed_prekey: KeyPair = keys::generate_key_pair().expect("random source");
    let bundle = bob_identity.bundle(&signed_prekey, None);
    let (mut alice, header) = Session::initiate(&alice_identity, &bundle).expect("initiate");
    let mut bob = Session::respond(&bob_identity, &signed_prekey, None, &header).expect("respond");
    let first = alice.encrypt(b"hello", b"").expect("encrypt");
    bob.decrypt(&first, b"").expect("decrypt");
    (alice, bob)
}

/// The same inside the component: both sessions are resources of one instance.
fn component_sessions(component: &mut Component) -> (ResourceAny, ResourceAny) {
    let (bob_identity, bob_secrets) = identity_secrets(3);
    let (_, alice_secrets) = identity_secrets(1);
    let signed_prekey = keys::generate_key_pair().expect("random source");
    let native = bob_identity.bundle(&signed_prekey, None);
    let bundle = PrekeyBundle {
        identity_signing_key: native.identity.signing_key.to_vec(),
        identity_dh_key: native.identity.dh_key.to_vec(),
        signed_prekey: native.signed_prekey.to_vec(),
        signed_prekey_signature: native.signed_prekey_signature.clone(),
        one_time_prekey: None,
    };
    let (guest, store) = component.call();
    let (alice, header) = guest
        .session()
        .call_initiate(&mut *store, &alice_secrets, &bundle)
        .expect("no trap")
        .expect("initiate");
    let bob = guest
        .session()
        .call_respond(
            &mut *store,
            &bob_secrets,
            &signed_prekey.secret_key,
            None,
            &header,
        )
        .expect("no trap")
        .expect("respond");
    let first = guest
        .session()
        .call_encrypt(&mut *store, alice, b"hello", b"")
        .expect("no trap")
        .expect("encrypt");
    guest
        .session()
        .call_decrypt(&mut *store, bob, &first, b"")
        .expect("no trap")
        .expect("decrypt");
    (alice, bob)
}

fn ratchet_benches(c: &mut Criterion, component: &mut Component) {
    let mut group = c.benchmark_group("ratchet");
    let (mut alice, mut bob) = native_sessions();
    // One iteration: a message each way, so each receiver takes a DH ratchet step.
    group.bench_function("round_trip_with_dh_step/native", |b| {
        b.iter(|| {
            let m = bob
                .encrypt(black_box(b"short message"), b"ad")
                .expect("encrypt");
            alice.decrypt(&m, b"ad").expect("decrypt");
            let r = alice
                .encrypt(black_box(b"short reply"), b"ad")
                .expect("encrypt");
            bob.decrypt(&r, b"ad").expect("decrypt")
        })
    });
    let (alice, bob) = component_sessions(component);
    let step =
        |component: &mut Component, from: ResourceAny, to: ResourceAny, text: &[u8]| -> Vec<u8> {
            let (guest, store) = component.call();
            let message: RatchetMessage = guest
                .session()
                .call_encrypt(&mut *store, from, black_box(text), b"ad")
                .expect("no trap")
                .expect("encrypt");
            guest
                .session()
                .call_decrypt(&mut *store, to, &message, b"ad")
                .expect("no trap")
                .expect("decrypt")
        };
    group.bench_function("round_trip_with_dh_step/wasm", |b| {
        b.iter(|| {
            step(component, bob, alice, b"short message");
            step(component, alice, bob, b"short reply")
        })
    });
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeOptions::from_env()).expect("runtime");
    let mut component = Component::new(&runtime);
    hpke_benches(c, &mut component);
    x25519_benches(c, &mut component);
    ratchet_benches(c, &mut component);
}

criterion_group! {
    name = benches;
    config = configured();
    targets = sealing
}
criterion_main!(benches);
