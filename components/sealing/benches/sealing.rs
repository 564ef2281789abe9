//! Native benchmarks of the sealing primitives: HPKE seal/open (1 KiB, 64 KiB),
//! one X25519 agreement, and one ratchet step with a DH ratchet.
//!
//! These are the native limits the in-component figures are judged against.

// A benchmark that cannot set up has nothing to measure: failing loudly is right,
// and `criterion_group!` generates an undocumented public function.
#![allow(clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealing::keys::{self, KeyPair};
use sealing::session::{IdentityKeyPair, Session};
use sealing::{aad, hpke};
use std::hint::black_box;

fn hpke_benches(c: &mut Criterion) {
    let recipient = keys::generate_key_pair().expect("random source");
    let header = aad::sealed_header_aad("wamid.bench", "whatsapp", "alice", "bob", "conv-1");
    let mut group = c.benchmark_group("hpke");
    for size in [1024usize, 64 * 1024] {
        let plaintext = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal_base", size), &plaintext, |b, pt| {
            b.iter(|| {
                hpke::seal_base(
                    black_box(&recipient.public_key),
                    b"switchboard",
                    &header,
                    pt,
                )
                .expect("seal")
            });
        });
        let (enc, ct) = hpke::seal_base(&recipient.public_key, b"switchboard", &header, &plaintext)
            .expect("seal");
        group.bench_with_input(BenchmarkId::new("open_base", size), &ct, |b, ct| {
            b.iter(|| {
                hpke::open_base(
                    black_box(&recipient.secret_key),
                    &enc,
                    b"switchboard",
                    &header,
                    ct,
                )
                .expect("open")
            });
        });
    }
    group.finish();
}

fn x25519_bench(c: &mut Criterion) {
    let a = keys::generate_key_pair().expect("random source");
    let b = keys::generate_key_pair().expect("random source");
    c.bench_function("x25519/agreement", |bench| {
        bench.iter(|| {
            keys::diffie_hellman(black_box(&a.secret_key), black_box(&b.public_key)).expect("dh")
        });
    });
}

fn ratchet_bench(c: &mut Criterion) {
    let bob_identity = IdentityKeyPair::generate().expect("random source");
    let signed_prekey: KeyPair = keys::generate_key_pair().expect("random source");
    let bundle = bob_identity.bundle(&signed_prekey, None);
    let alice_identity = IdentityKeyPair::generate().expect("random source");
    let (mut alice, header) = Session::initiate(&alice_identity, &bundle).expect("initiate");
    let mut bob = Session::respond(&bob_identity, &signed_prekey, None, &header).expect("respond");
    let first = alice.encrypt(b"hello", b"").expect("encrypt");
    bob.decrypt(&first, b"").expect("decrypt");
    // Each iteration is one message each way: both receivers take a DH ratchet step.
    c.bench_function("ratchet/round_trip_with_dh_step", |b| {
        b.iter(|| {
            let m = bob
                .encrypt(black_box(b"short message"), b"ad")
                .expect("encrypt");
            alice.decrypt(&m, b"ad").expect("decrypt");
            let r = alice
                .encrypt(black_box(b"short reply"), b"ad")
                .expect("encrypt");
            bob.decrypt(&r, b"ad").expect("decrypt")
        });
    });
}

criterion_group!(benches, hpke_benches, x25519_bench, ratchet_bench);
criterion_main!(benches);
