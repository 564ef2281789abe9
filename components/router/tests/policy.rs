//! `policy.check`: consent, blocks (both ways, in groups too), marketing
//! opt-in and STOP, rates, and the order the checks run in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::route;

use router::{ConsentScope, Facts, Rejection, RejectionReason, Verdict, check};
use support::{NOW_MS, RATE_PER_MINUTE, TestDirectory, addr, alice_and_bob, with_category};
use switchboard_pdk::types::{
    Address, ConversationKind, Envelope, Event, MessageCategory, Receipt, ReceiptStatus,
};

/// The rejection in a verdict, or a failure naming the verdict.
fn rejection(verdict: Verdict) -> Rejection {
    match verdict {
        Verdict::Reject(rejection) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The verdict on a personal "hi" from `sender` to `recipient`, now.
fn says_hi(directory: &TestDirectory, sender: &Address, recipient: &Address) -> Verdict {
    check(
        directory,
        &directory.text_from(sender, "wamid.1", "hi"),
        recipient,
        NOW_MS,
    )
}

#[test]
fn delivers_between_members_who_consented() {
    let (directory, alice, bob, _) = alice_and_bob();
    assert_eq!(says_hi(&directory, &alice, &bob), Verdict::Deliver);
    assert_eq!(says_hi(&directory, &bob, &alice), Verdict::Deliver);
}

#[test]
fn rejects_when_the_sender_has_not_consented() {
    let (directory, alice, bob, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::CrossAppMessaging, false);
    let refused = rejection(says_hi(&directory, &alice, &bob));
    assert_eq!(refused.reason, RejectionReason::NoConsent);
    assert!(
        refused.detail.starts_with("you have not agreed"),
        "{refused:?}"
    );
}

#[test]
fn rejects_when_the_recipient_has_not_consented() {
    let (directory, alice, bob, _) = alice_and_bob();
    // Bob withdrew his consent after the conversation was made.
    directory.consent(&bob, ConsentScope::CrossAppMessaging, false);
    let refused = rejection(says_hi(&directory, &alice, &bob));
    assert_eq!(refused.reason, RejectionReason::NoConsent);
    assert!(
        refused.detail.contains("a member on messenger"),
        "{refused:?}"
    );
    assert!(
        !refused.detail.contains(&bob.id),
        "no account id: {refused:?}"
    );
}

#[test]
fn rejects_once_consent_is_withdrawn_and_delivers_once_it_is_given_back() {
    let (directory, alice, bob, _) = alice_and_bob();
    assert_eq!(says_hi(&directory, &alice, &bob), Verdict::Deliver);
    directory.consent(&bob, ConsentScope::CrossAppMessaging, false);
    assert_eq!(
        rejection(says_hi(&directory, &alice, &bob)).reason,
        RejectionReason::NoConsent
    );
    directory.consent(&bob, ConsentScope::CrossAppMessaging, true);
    assert_eq!(says_hi(&directory, &alice, &bob), Verdict::Deliver);
}

#[test]
fn a_block_in_a_group_stops_both_directions_between_the_two_only() {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("whatsapp", "14155550000");
    directory.consenting(&[&alice, &bob, &carol, &dave]);
    let group = directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol, &dave]);
    // Bob blocks Alice after the group was made.
    directory.block(&bob, &alice);

    let from_alice = directory.text_in(&group, &alice, "wamid.1", "hi all");
    let deliveries = route(&directory, &from_alice).unwrap();
    assert_eq!(deliveries.len(), 3, "routing leaves blocks to policy");
    for delivery in &deliveries {
        let verdict = check(&directory, &from_alice, &delivery.recipient, NOW_MS);
        if delivery.recipient == bob {
            let refused = rejection(verdict);
            assert_eq!(refused.reason, RejectionReason::Blocked);
            assert!(!refused.detail.contains(&alice.id), "{refused:?}");
        } else {
            assert_eq!(verdict, Verdict::Deliver, "{:?}", delivery.recipient);
        }
    }

    let from_bob = directory.text_in(&group, &bob, "m_1", "hi all");
    for delivery in route(&directory, &from_bob).unwrap() {
        let verdict = check(&directory, &from_bob, &delivery.recipient, NOW_MS);
        if delivery.recipient == alice {
            assert_eq!(
                rejection(verdict).reason,
                RejectionReason::Blocked,
                "the blocker cannot write to the blocked either"
            );
        } else {
            assert_eq!(verdict, Verdict::Deliver, "{:?}", delivery.recipient);
        }
    }
    assert_eq!(says_hi(&directory, &carol, &dave), Verdict::Deliver);
}

/// A business on WhatsApp in a direct conversation with Bob on Messenger.
fn shop_and_bob() -> (TestDirectory, Address, Address) {
    let directory = TestDirectory::default();
    let shop = addr("whatsapp", "106540352242922");
    let bob = addr("messenger", "2345678901");
    directory.consenting(&[&shop, &bob]);
    directory.conversation(ConversationKind::Direct, &[&shop, &bob]);
    (directory, shop, bob)
}

fn marketing(directory: &TestDirectory, shop: &Address, id: &str) -> Envelope {
    with_category(
        directory.text_from(shop, id, "20% off this week"),
        MessageCategory::Marketing,
    )
}

#[test]
fn marketing_needs_an_opt_in() {
    let (directory, shop, bob) = shop_and_bob();
    let verdict = check(
        &directory,
        &marketing(&directory, &shop, "wamid.1"),
        &bob,
        NOW_MS,
    );
    assert_eq!(
        rejection(verdict).reason,
        RejectionReason::MarketingWithoutOptIn
    );
    directory.opt_in(&bob, &shop);
    assert_eq!(
        check(
            &directory,
            &marketing(&directory, &shop, "wamid.2"),
            &bob,
            NOW_MS
        ),
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
        let envelope = with_category(
            directory.text_from(&shop, "wamid.1", "Your order shipped"),
            category,
        );
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
        check(
            &directory,
            &marketing(&directory, &shop, "wamid.1"),
            &bob,
            NOW_MS
        ),
        Verdict::Deliver
    );

    let stop = directory.text_from(&bob, "m_1", "  Stop \n");
    assert!(router::is_stop_request(&stop));
    assert_eq!(
        check(&directory, &stop, &shop, NOW_MS),
        Verdict::Deliver,
        "the STOP itself goes through"
    );
    assert!(!directory.marketing_opt_in(&bob, &shop));

    let verdict = check(
        &directory,
        &marketing(&directory, &shop, "wamid.2"),
        &bob,
        NOW_MS,
    );
    assert_eq!(rejection(verdict).reason, RejectionReason::OptedOut);
    let transactional = with_category(
        directory.text_from(&shop, "wamid.3", "Your order shipped"),
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
    let sentence = directory.text_from(&bob, "m_1", "please stop by the store");
    assert!(!router::is_stop_request(&sentence));
    assert_eq!(
        check(&directory, &sentence, &shop, NOW_MS),
        Verdict::Deliver
    );
    assert!(directory.marketing_opt_in(&bob, &shop), "still opted in");

    let unsubscribe = directory.text_from(&bob, "m_2", "unsubscribe");
    assert_eq!(
        check(&directory, &unsubscribe, &shop, NOW_MS),
        Verdict::Deliver
    );
    let verdict = check(
        &directory,
        &marketing(&directory, &shop, "wamid.1"),
        &bob,
        NOW_MS,
    );
    assert_eq!(rejection(verdict).reason, RejectionReason::OptedOut);
}

#[test]
fn a_stop_is_recorded_even_when_the_message_is_refused() {
    let (directory, shop, bob) = shop_and_bob();
    directory.opt_in(&bob, &shop);
    directory.block(&shop, &bob);
    let verdict = check(
        &directory,
        &directory.text_from(&bob, "m_1", "STOP"),
        &shop,
        NOW_MS,
    );
    assert_eq!(rejection(verdict).reason, RejectionReason::Blocked);
    assert!(
        directory.marketing_opted_out(&bob, &shop),
        "the opt-out is not lost with the message"
    );
}

#[test]
fn rate_limits_messages_per_minute_but_not_receipts() {
    let (directory, alice, bob, _) = alice_and_bob();
    for index in 0..RATE_PER_MINUTE {
        let message = directory.text_from(&alice, &format!("wamid.{index}"), "hi");
        assert_eq!(
            check(&directory, &message, &bob, NOW_MS),
            Verdict::Deliver,
            "message {index}"
        );
    }
    let receipt = directory.envelope_from(
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
    let one_too_many = directory.text_from(&alice, "wamid.x", "hi");
    let verdict = check(&directory, &one_too_many, &bob, NOW_MS + 1);
    assert_eq!(rejection(verdict).reason, RejectionReason::RateLimited);
    assert_eq!(
        check(&directory, &one_too_many, &bob, NOW_MS + 60_000),
        Verdict::Deliver,
        "a new minute"
    );
}

#[test]
fn a_group_message_counts_once_toward_the_rate() {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("whatsapp", "14155550000");
    directory.consenting(&[&alice, &bob, &carol, &dave]);
    let group = directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol, &dave]);
    for index in 0..RATE_PER_MINUTE {
        let message = directory.text_in(&group, &alice, &format!("wamid.{index}"), "hi all");
        let deliveries = route(&directory, &message).unwrap();
        assert_eq!(deliveries.len(), 3);
        for delivery in deliveries {
            assert_eq!(
                check(&directory, &message, &delivery.recipient, NOW_MS),
                Verdict::Deliver,
                "message {index} to {:?}",
                delivery.recipient
            );
        }
    }
    let one_too_many = directory.text_in(&group, &alice, "wamid.x", "hi all");
    let verdict = check(&directory, &one_too_many, &bob, NOW_MS + 1);
    assert_eq!(rejection(verdict).reason, RejectionReason::RateLimited);
}

#[test]
fn checks_run_in_the_documented_order() {
    let (directory, alice, bob, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::CrossAppMessaging, false);
    directory.block(&bob, &alice);
    // The relay answering the sender's own command: before consent.
    let help = directory.text_from(&alice, "wamid.help", "/help");
    assert_eq!(check(&directory, &help, &alice, NOW_MS), Verdict::Deliver);
    assert_eq!(
        rejection(says_hi(&directory, &alice, &bob)).reason,
        RejectionReason::NoConsent,
        "consent before block"
    );
    directory.consent(&alice, ConsentScope::CrossAppMessaging, true);
    let promo = with_category(
        directory.text_from(&alice, "wamid.1", "hi"),
        MessageCategory::Marketing,
    );
    assert_eq!(
        rejection(check(&directory, &promo, &bob, NOW_MS)).reason,
        RejectionReason::Blocked,
        "block before marketing"
    );

    // Refused messages do not use up the rate: the marketing refusals below
    // leave all of Alice's quota for personal messages.
    let (directory, alice, bob, _) = alice_and_bob();
    for index in 0..RATE_PER_MINUTE + 1 {
        let promo = with_category(
            directory.text_from(&alice, &format!("wamid.sale{index}"), "sale"),
            MessageCategory::Marketing,
        );
        assert_eq!(
            rejection(check(&directory, &promo, &bob, NOW_MS)).reason,
            RejectionReason::MarketingWithoutOptIn,
            "marketing before rate"
        );
    }
    assert_eq!(says_hi(&directory, &alice, &bob), Verdict::Deliver);
}
