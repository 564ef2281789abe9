//! `policy.check`: links, consent, blocks, marketing opt-in and STOP, rates,
//! and the order the checks run in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use router::{ConsentScope, Facts, RejectionReason, Verdict, check};
use support::{NOW_MS, RATE_PER_MINUTE, addr, alice_and_bob, text_from, with_category};
use switchboard_model::types::{Envelope, Event, MessageCategory, Receipt, ReceiptStatus};

/// The reason of a rejection, or a failure naming the verdict.
fn reason(verdict: &Verdict) -> RejectionReason {
    match verdict {
        Verdict::Reject(rejection) => rejection.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn detail(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Reject(rejection) => &rejection.detail,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn delivers_between_linked_consenting_accounts() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    let hello = text_from(&alice, "wamid.1", "hello Bob");
    assert_eq!(check(&directory, &hello, &bob, NOW_MS), Verdict::Deliver);
    let back = text_from(&bob, "m_1", "hi Alice");
    assert_eq!(check(&directory, &back, &alice, NOW_MS), Verdict::Deliver);
}

#[test]
fn rejects_a_recipient_outside_the_senders_link() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("messenger", "9999");
    directory.link("carol-dave", &carol);
    directory.link("carol-dave", &dave);
    directory.consent(&carol, ConsentScope::CrossAppMessaging, true);
    directory.consent(&dave, ConsentScope::CrossAppMessaging, true);

    let hello = text_from(&alice, "wamid.1", "hello");
    let verdict = check(&directory, &hello, &dave, NOW_MS);
    assert_eq!(reason(&verdict), RejectionReason::NotLinked);
    assert!(
        !detail(&verdict).contains("9999"),
        "details name no account id: {verdict:?}"
    );

    let stranger = addr("whatsapp", "15550000000");
    let from_stranger = text_from(&stranger, "wamid.2", "hello");
    assert_eq!(
        reason(&check(&directory, &from_stranger, &dave, NOW_MS)),
        RejectionReason::NotLinked
    );
}

#[test]
fn rejects_when_the_sender_has_not_consented() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::CrossAppMessaging, false);
    let verdict = check(
        &directory,
        &text_from(&alice, "wamid.1", "hi"),
        &bob,
        NOW_MS,
    );
    assert_eq!(reason(&verdict), RejectionReason::NoConsent);
    assert!(
        detail(&verdict).starts_with("you have not agreed"),
        "{verdict:?}"
    );
}

#[test]
fn rejects_when_the_recipient_has_not_consented() {
    let directory = support::TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    directory.link("alice-bob", &alice);
    directory.link("alice-bob", &bob);
    directory.consent(&alice, ConsentScope::CrossAppMessaging, true);
    // Bob never gave consent.
    let verdict = check(
        &directory,
        &text_from(&alice, "wamid.1", "hi"),
        &bob,
        NOW_MS,
    );
    assert_eq!(reason(&verdict), RejectionReason::NoConsent);
    assert!(
        detail(&verdict).contains("the person you wrote to on messenger"),
        "{verdict:?}"
    );
}

#[test]
fn rejects_once_consent_is_withdrawn() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    let hello = text_from(&alice, "wamid.1", "hi");
    assert_eq!(check(&directory, &hello, &bob, NOW_MS), Verdict::Deliver);
    directory.consent(&bob, ConsentScope::CrossAppMessaging, false);
    assert_eq!(
        reason(&check(&directory, &hello, &bob, NOW_MS)),
        RejectionReason::NoConsent
    );
    directory.consent(&bob, ConsentScope::CrossAppMessaging, true);
    assert_eq!(check(&directory, &hello, &bob, NOW_MS), Verdict::Deliver);
}

#[test]
fn rejects_a_blocked_sender_one_way_only() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    directory.block(&bob, &alice);
    let verdict = check(
        &directory,
        &text_from(&alice, "wamid.1", "hi"),
        &bob,
        NOW_MS,
    );
    assert_eq!(reason(&verdict), RejectionReason::Blocked);
    assert_eq!(
        check(&directory, &text_from(&bob, "m_1", "hi"), &alice, NOW_MS),
        Verdict::Deliver,
        "the blocker can still write"
    );
}

/// A business on WhatsApp linked with Bob on Messenger.
fn shop_and_bob() -> (
    support::TestDirectory,
    switchboard_model::types::Address,
    switchboard_model::types::Address,
) {
    let directory = support::TestDirectory::default();
    let shop = addr("whatsapp", "106540352242922");
    let bob = addr("messenger", "2345678901");
    directory.link("shop-bob", &shop);
    directory.link("shop-bob", &bob);
    directory.consent(&shop, ConsentScope::CrossAppMessaging, true);
    directory.consent(&bob, ConsentScope::CrossAppMessaging, true);
    (directory, shop, bob)
}

fn marketing(shop: &switchboard_model::types::Address, id: &str) -> Envelope {
    with_category(
        text_from(shop, id, "20% off this week"),
        MessageCategory::Marketing,
    )
}

#[test]
fn marketing_needs_an_opt_in() {
    let (directory, shop, bob) = shop_and_bob();
    let verdict = check(&directory, &marketing(&shop, "wamid.1"), &bob, NOW_MS);
    assert_eq!(reason(&verdict), RejectionReason::MarketingWithoutOptIn);
    directory.opt_in(&bob, &shop);
    assert_eq!(
        check(&directory, &marketing(&shop, "wamid.2"), &bob, NOW_MS),
        Verdict::Deliver
    );
}

#[test]
fn transactional_and_other_categories_need_no_opt_in() {
    let (directory, shop, bob) = shop_and_bob();
    let categories = [
        MessageCategory::Transactional,
        MessageCategory::Service,
        MessageCategory::Authentication,
        MessageCategory::Personal,
    ];
    for (minute, category) in (0u64..).zip(categories) {
        let envelope = with_category(text_from(&shop, "wamid.1", "Your order shipped"), category);
        // One minute each, to stay within the rate.
        let now = NOW_MS + minute * 60_000;
        assert_eq!(
            check(&directory, &envelope, &bob, now),
            Verdict::Deliver,
            "{category:?}"
        );
    }
}

#[test]
fn stop_opts_out_of_marketing_and_is_still_delivered() {
    let (directory, shop, bob) = shop_and_bob();
    directory.opt_in(&bob, &shop);
    assert_eq!(
        check(&directory, &marketing(&shop, "wamid.1"), &bob, NOW_MS),
        Verdict::Deliver
    );

    let stop = text_from(&bob, "m_1", "  Stop \n");
    assert!(router::is_stop_request(&stop));
    assert_eq!(
        check(&directory, &stop, &shop, NOW_MS),
        Verdict::Deliver,
        "the STOP itself goes through"
    );
    assert!(!directory.marketing_opt_in(&bob, &shop));

    let verdict = check(&directory, &marketing(&shop, "wamid.2"), &bob, NOW_MS);
    assert_eq!(reason(&verdict), RejectionReason::OptedOut);
    let transactional = with_category(
        text_from(&shop, "wamid.3", "Your order shipped"),
        MessageCategory::Transactional,
    );
    assert_eq!(
        check(&directory, &transactional, &bob, NOW_MS),
        Verdict::Deliver,
        "an opt-out concerns marketing only"
    );
}

#[test]
fn unsubscribe_opts_out_but_a_sentence_with_stop_does_not() {
    let (directory, shop, bob) = shop_and_bob();
    directory.opt_in(&bob, &shop);
    let sentence = text_from(&bob, "m_1", "please stop by the store");
    assert!(!router::is_stop_request(&sentence));
    assert_eq!(
        check(&directory, &sentence, &shop, NOW_MS),
        Verdict::Deliver
    );
    assert!(directory.marketing_opt_in(&bob, &shop), "still opted in");

    let unsubscribe = text_from(&bob, "m_2", "unsubscribe");
    assert_eq!(
        check(&directory, &unsubscribe, &shop, NOW_MS),
        Verdict::Deliver
    );
    assert_eq!(
        reason(&check(
            &directory,
            &marketing(&shop, "wamid.1"),
            &bob,
            NOW_MS
        )),
        RejectionReason::OptedOut
    );
}

#[test]
fn a_stop_is_recorded_even_when_the_message_is_refused() {
    let (directory, shop, bob) = shop_and_bob();
    directory.opt_in(&bob, &shop);
    directory.block(&shop, &bob);
    let verdict = check(&directory, &text_from(&bob, "m_1", "STOP"), &shop, NOW_MS);
    assert_eq!(reason(&verdict), RejectionReason::Blocked);
    assert!(
        directory.marketing_opted_out(&bob, &shop),
        "the opt-out is not lost with the message"
    );
}

#[test]
fn rate_limits_messages_per_minute_but_not_receipts() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    for index in 0..RATE_PER_MINUTE {
        let message = text_from(&alice, &format!("wamid.{index}"), "hi");
        assert_eq!(
            check(&directory, &message, &bob, NOW_MS),
            Verdict::Deliver,
            "message {index}"
        );
    }
    let receipt = support::envelope_from(
        &alice,
        "wamid.r",
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: Vec::new(),
            watermark_ms: Some(NOW_MS),
            failure: None,
        }),
    );
    assert_eq!(
        check(&directory, &receipt, &bob, NOW_MS),
        Verdict::Deliver,
        "receipts are not counted"
    );
    let one_too_many = text_from(&alice, "wamid.x", "hi");
    let verdict = check(&directory, &one_too_many, &bob, NOW_MS + 1);
    assert_eq!(reason(&verdict), RejectionReason::RateLimited);
    assert_eq!(
        check(&directory, &one_too_many, &bob, NOW_MS + 60_000),
        Verdict::Deliver,
        "a new minute"
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    let outsider = addr("instagram", "1784");
    directory.consent(&alice, ConsentScope::CrossAppMessaging, false);
    directory.block(&bob, &alice);
    let hello = text_from(&alice, "wamid.1", "hi");
    assert_eq!(
        reason(&check(&directory, &hello, &outsider, NOW_MS)),
        RejectionReason::NotLinked,
        "link before consent"
    );
    assert_eq!(
        reason(&check(&directory, &hello, &bob, NOW_MS)),
        RejectionReason::NoConsent,
        "consent before block"
    );
    directory.consent(&alice, ConsentScope::CrossAppMessaging, true);
    let promo = with_category(hello.clone(), MessageCategory::Marketing);
    assert_eq!(
        reason(&check(&directory, &promo, &bob, NOW_MS)),
        RejectionReason::Blocked,
        "block before marketing"
    );

    // Refused messages do not use up the rate: the marketing refusals below
    // leave all of Alice's quota for personal messages.
    let (directory, alice, bob, _, _) = alice_and_bob();
    let promo = with_category(
        text_from(&alice, "wamid.1", "sale"),
        MessageCategory::Marketing,
    );
    for _ in 0..RATE_PER_MINUTE + 1 {
        assert_eq!(
            reason(&check(&directory, &promo, &bob, NOW_MS)),
            RejectionReason::MarketingWithoutOptIn,
            "marketing before rate"
        );
    }
    assert_eq!(check(&directory, &hello, &bob, NOW_MS), Verdict::Deliver);
}
