//! The operator's sharing policies: an identity attribute of an app's people
//! crosses by default only after the notice window, never for someone who
//! opted out (`/private`), always for someone who consented, and no more as
//! soon as the policy is turned off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use directory_schema::{SharedAttribute, SharingPolicy, sharing_key};
use router::{ConsentScope, Delivery, Facts, route};
use support::{NOW_MS, TestDirectory, alice_and_bob, member, text_of};
use switchboard_pdk::types::{Address, Envelope, IdentityAttribute};

/// When the test policies take effect: a day after [`NOW_MS`].
const EFFECTIVE_MS: u64 = NOW_MS + 86_400_000;

/// The operator turns `attribute` sharing of `platform`'s people on at
/// [`NOW_MS`] (effective at [`EFFECTIVE_MS`]), or off.
fn policy(directory: &TestDirectory, platform: &str, attribute: SharedAttribute, enabled: bool) {
    directory.memory.put(
        sharing_key(platform, attribute),
        &SharingPolicy {
            enabled,
            announced_at_ms: NOW_MS,
            effective_at_ms: if enabled { EFFECTIVE_MS } else { NOW_MS },
        },
    );
}

/// The one delivery of `envelope` routed at `now`.
fn only_at(directory: &TestDirectory, envelope: &Envelope, now: u64) -> Delivery {
    let mut deliveries = route(directory, envelope, now).expect("routed");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.remove(0)
}

/// The label line of a delivery's text, and whether the profile name
/// crossed as an attribute.
fn seen_as(delivery: &Delivery) -> (String, bool) {
    let body = &text_of(&delivery.envelope.event).body;
    let label = body.split_once('\n').expect("a label line").0.to_string();
    let named = delivery
        .envelope
        .sender
        .attributes
        .iter()
        .any(|attribute| matches!(attribute, IdentityAttribute::DisplayName(_)));
    (label, named)
}

/// The answer text of a command from `sender`.
fn command(directory: &TestDirectory, sender: &Address, native_id: &str, text: &str) -> String {
    let answer = only_at(
        directory,
        &directory.text_from(sender, native_id, text),
        NOW_MS,
    );
    assert_eq!(
        answer.recipient, *sender,
        "a command is answered to its sender"
    );
    text_of(&answer.envelope.event).body.clone()
}

#[test]
fn a_policy_shares_the_name_only_after_its_notice_window() {
    let (directory, alice, _, conversation) = alice_and_bob();
    let alias = member(&conversation, &alice).alias.clone();
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, true);

    let during = only_at(&directory, &directory.text_from(&alice, "w1", "hi"), NOW_MS);
    assert_eq!(seen_as(&during), (alias.clone(), false), "the window is on");
    let last_moment = only_at(
        &directory,
        &directory.text_from(&alice, "w2", "hi"),
        EFFECTIVE_MS - 1,
    );
    assert_eq!(seen_as(&last_moment), (alias, false));

    let after = only_at(
        &directory,
        &directory.text_from(&alice, "w3", "hi"),
        EFFECTIVE_MS,
    );
    assert_eq!(
        seen_as(&after),
        ("Alice Example · WhatsApp".to_string(), true)
    );
    assert!(
        !after
            .envelope
            .sender
            .attributes
            .iter()
            .any(|attribute| matches!(attribute, IdentityAttribute::PhoneNumber(_))),
        "the policy is for the name only: {:?}",
        after.envelope.sender.attributes
    );
}

#[test]
fn a_policy_is_for_its_app_only() {
    let (directory, alice, bob, conversation) = alice_and_bob();
    policy(&directory, "messenger", SharedAttribute::DisplayName, true);
    let from_alice = only_at(
        &directory,
        &directory.text_from(&alice, "w1", "hi"),
        EFFECTIVE_MS,
    );
    assert_eq!(
        seen_as(&from_alice),
        (member(&conversation, &alice).alias.clone(), false)
    );
    let from_bob = only_at(
        &directory,
        &directory.text_from(&bob, "m1", "hello"),
        EFFECTIVE_MS,
    );
    assert!(seen_as(&from_bob).1, "Bob's app has the policy");
}

#[test]
fn an_opt_out_during_the_window_applies_to_the_next_message_and_is_audited() {
    let (directory, alice, _, conversation) = alice_and_bob();
    let alias = member(&conversation, &alice).alias.clone();
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, true);

    let answer = command(&directory, &alice, "w1", "/private");
    assert!(answer.starts_with("Private:"), "{answer}");
    for attribute in SharedAttribute::ALL {
        let scope = match attribute {
            SharedAttribute::DisplayName => ConsentScope::ShareDisplayName,
            SharedAttribute::PhoneNumber => ConsentScope::SharePhoneNumber,
            SharedAttribute::Username => ConsentScope::ShareUsername,
        };
        assert_eq!(directory.consent_state(&alice, scope), Some(false));
    }
    let audit = directory.memory.audit();
    assert_eq!(audit.len(), 3, "{audit:?}");
    for record in &audit {
        assert_eq!(record.actor, "whatsapp:16505551234 in chat");
        assert_eq!(record.action, "consent");
        assert_eq!(record.details["granted"], false);
    }
    assert_eq!(audit[0].details["scope"], "share-display-name");

    // The window ends; her next message still names her by alias.
    let after = only_at(
        &directory,
        &directory.text_from(&alice, "w2", "hi"),
        EFFECTIVE_MS + 1,
    );
    assert_eq!(seen_as(&after), (alias, false));
}

#[test]
fn an_opt_out_after_the_window_applies_to_the_next_message() {
    let (directory, alice, _, conversation) = alice_and_bob();
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, true);
    let shared = only_at(
        &directory,
        &directory.text_from(&alice, "w1", "hi"),
        EFFECTIVE_MS,
    );
    assert!(seen_as(&shared).1);
    command(&directory, &alice, "w2", "/private");
    let next = only_at(
        &directory,
        &directory.text_from(&alice, "w3", "hi"),
        EFFECTIVE_MS + 1,
    );
    assert_eq!(
        seen_as(&next),
        (member(&conversation, &alice).alias.clone(), false)
    );
}

#[test]
fn explicit_consent_shares_with_or_without_a_policy() {
    let (directory, alice, _, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::ShareDisplayName, true);
    let before = only_at(&directory, &directory.text_from(&alice, "w1", "hi"), NOW_MS);
    assert_eq!(
        seen_as(&before),
        ("Alice Example · WhatsApp".to_string(), true)
    );
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, true);
    let during = only_at(&directory, &directory.text_from(&alice, "w2", "hi"), NOW_MS);
    assert!(seen_as(&during).1, "consent does not wait for the window");
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, false);
    let off = only_at(&directory, &directory.text_from(&alice, "w3", "hi"), NOW_MS);
    assert!(seen_as(&off).1, "nor does it end with the policy");
}

#[test]
fn turning_a_policy_off_stops_sharing_at_once() {
    let (directory, alice, _, conversation) = alice_and_bob();
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, true);
    let on = only_at(
        &directory,
        &directory.text_from(&alice, "w1", "hi"),
        EFFECTIVE_MS,
    );
    assert!(seen_as(&on).1);
    policy(&directory, "whatsapp", SharedAttribute::DisplayName, false);
    let off = only_at(
        &directory,
        &directory.text_from(&alice, "w2", "hi"),
        EFFECTIVE_MS + 1,
    );
    assert_eq!(
        seen_as(&off),
        (member(&conversation, &alice).alias.clone(), false)
    );
}

#[test]
fn public_consents_to_what_the_policies_cover_and_wins_over_private() {
    let (directory, alice, _, _) = alice_and_bob();
    policy(&directory, "whatsapp", SharedAttribute::PhoneNumber, true);
    command(&directory, &alice, "w1", "/private");
    let answer = command(&directory, &alice, "w2", "/public");
    assert!(answer.contains("phone number"), "{answer}");
    assert_eq!(
        directory.consent_state(&alice, ConsentScope::SharePhoneNumber),
        Some(true)
    );
    assert_eq!(
        directory.consent_state(&alice, ConsentScope::ShareDisplayName),
        Some(false),
        "only what a policy covers"
    );
    let during = only_at(&directory, &directory.text_from(&alice, "w3", "hi"), NOW_MS);
    assert!(
        during
            .envelope
            .sender
            .attributes
            .iter()
            .any(|attribute| matches!(attribute, IdentityAttribute::PhoneNumber(_))),
        "consent does not wait for the window"
    );

    // Without any policy, /public shows the profile name.
    let (directory, bob, _, _) = alice_and_bob();
    let answer = command(&directory, &bob, "w4", "/public");
    assert!(answer.contains("profile name"), "{answer}");
    assert_eq!(
        directory.consent_state(&bob, ConsentScope::ShareDisplayName),
        Some(true)
    );
    assert_eq!(directory.memory.audit().len(), 1);
}
