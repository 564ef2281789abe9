//! Story replies and mentions: a reply to a cross-posted story, or a mention
//! of the account an author cross-posts to, reaches the author on the
//! story's original app from a pseudonym, and policy lets only that through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::route;

use router::{Facts, RejectionReason, RouteError, Verdict, check};
use support::{
    NOW_MS, RATE_PER_MINUTE, TestDirectory, addr, envelope_to, text_event, with_message,
};
use switchboard_pdk::types::{
    Address, ConversationKind, Envelope, Event, IdentityAttribute, StoryRef, StoryRelation,
};

/// The author's Instagram account, where the original story was posted.
fn author() -> Address {
    addr("instagram", "17841405822304914")
}

/// The author's Facebook Page, as its messages arrive (on Messenger).
fn page() -> Address {
    addr("messenger", "109876543210987")
}

/// A directory where the author's story `17887498072083520` was cross-posted
/// to their Page as `post_1`.
fn cross_posted() -> TestDirectory {
    let directory = TestDirectory::default();
    directory.cross_posted(
        &author(),
        "17887498072083520",
        "messenger",
        "post_1",
        &page(),
    );
    directory
}

/// A message from `sender` to the Page about a story.
fn about_story(sender: &Address, relation: StoryRelation, story_id: Option<&str>) -> Envelope {
    with_message(
        envelope_to(sender, &page().id, "m_reply1", text_event("Great run!")),
        |message| {
            message.story = Some(StoryRef {
                relation,
                story_id: story_id.map(str::to_string),
                url: Some("https://lookaside.fbsbx.com/story.jpg".to_string()),
            });
        },
    )
}

#[test]
fn a_reply_to_a_cross_post_reaches_the_author_from_a_pseudonym() {
    let directory = cross_posted();
    // A stranger on Messenger: no conversation, no consent of any kind.
    let stranger = addr("messenger", "6000000042");
    let mut reply = about_story(&stranger, StoryRelation::Reply, Some("post_1"));
    reply.sender.attributes = vec![IdentityAttribute::DisplayName("Sam Stranger".into())];

    let deliveries = route(&directory, &reply).unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery = &deliveries[0];
    assert_eq!(delivery.recipient, author());
    assert_eq!(delivery.platform, "instagram");
    assert_eq!(
        delivery.endpoint, "ig-1",
        "the author has no conversation: the pool's first"
    );
    let sent = &delivery.envelope;
    assert_eq!(sent.recipient, author());
    assert_eq!(sent.sender.address.platform, "instagram");
    assert!(
        sent.sender.address.id.starts_with("sb-"),
        "{:?}",
        sent.sender
    );
    assert_ne!(sent.sender.address.id, stranger.id);
    assert!(
        sent.sender.attributes.is_empty(),
        "the name crossed without consent"
    );
    assert_eq!(sent.conversation.kind, ConversationKind::Direct);
    assert_eq!(sent.conversation.id, sent.sender.address.id);
    assert_eq!(sent.native_id, None);
    let Event::Message(message) = &sent.event else {
        panic!("{:?}", sent.event)
    };
    assert_eq!(
        message.story,
        Some(StoryRef {
            relation: StoryRelation::Reply,
            story_id: Some("17887498072083520".into()),
            url: None,
        }),
        "the original's id on Instagram, and no Facebook CDN URL"
    );
    assert!(!format!("{sent:?}").contains(&stranger.id));

    // The same replier always has the same pseudonym; another has another.
    let again = route(&directory, &reply).unwrap();
    assert_eq!(again[0].envelope.sender, sent.sender);
    let other = about_story(
        &addr("messenger", "6000000043"),
        StoryRelation::Reply,
        Some("post_1"),
    );
    let other = route(&directory, &other).unwrap();
    assert_ne!(other[0].envelope.sender.address, sent.sender.address);

    assert_eq!(
        check(&directory, &reply, &author(), NOW_MS),
        Verdict::Deliver
    );
}

#[test]
fn a_mention_of_an_account_the_author_cross_posts_to_reaches_the_author() {
    let directory = cross_posted();
    let mentioner = addr("messenger", "6000000077");
    let mention = about_story(&mentioner, StoryRelation::Mention, None);
    let deliveries = route(&directory, &mention).unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].recipient, author());
    let Event::Message(message) = &deliveries[0].envelope.event else {
        panic!()
    };
    assert_eq!(
        message.story,
        Some(StoryRef {
            relation: StoryRelation::Mention,
            story_id: None,
            url: None,
        })
    );
    assert_eq!(
        check(&directory, &mention, &author(), NOW_MS),
        Verdict::Deliver
    );
}

#[test]
fn other_story_messages_are_routed_like_any_message() {
    let directory = cross_posted();
    let stranger = addr("messenger", "6000000042");
    // A reply to a story the cross-poster never published.
    let reply = about_story(&stranger, StoryRelation::Reply, Some("post_unknown"));
    assert_eq!(
        route(&directory, &reply),
        Err(RouteError::NoConversation(stranger.clone()))
    );
    // A reply on the original's own app stays there.
    let on_instagram = addr("instagram", "6459112574138410");
    directory.cross_posted(
        &author(),
        "17887498072083520",
        "instagram",
        "17887498072083520",
        &author(),
    );
    let mut native = about_story(
        &on_instagram,
        StoryRelation::Reply,
        Some("17887498072083520"),
    );
    native.platform = "instagram".into();
    assert_eq!(
        route(&directory, &native),
        Err(RouteError::NoConversation(on_instagram))
    );
    // A mention of someone the cross-poster does not publish to.
    let mut mention = about_story(&stranger, StoryRelation::Mention, None);
    mention.recipient = addr("messenger", "999");
    assert!(route(&directory, &mention).is_err());
}

#[test]
fn policy_lets_a_story_reply_reach_only_the_author_unblocked_within_the_rate() {
    let directory = cross_posted();
    let stranger = addr("messenger", "6000000042");
    let reply = about_story(&stranger, StoryRelation::Reply, Some("post_1"));

    let elsewhere = check(&directory, &reply, &addr("whatsapp", "15551234567"), NOW_MS);
    assert!(
        matches!(&elsewhere, Verdict::Reject(r) if r.reason == RejectionReason::NoConversation),
        "{elsewhere:?}"
    );

    // Each reply its own message: the rate counts messages, not checks.
    let numbered = |n: u32| {
        let mut reply = reply.clone();
        reply.id = format!("{}-{n}", reply.id);
        reply
    };
    for n in 0..RATE_PER_MINUTE {
        assert_eq!(
            check(&directory, &numbered(n), &author(), NOW_MS),
            Verdict::Deliver
        );
    }
    let over = check(&directory, &numbered(RATE_PER_MINUTE), &author(), NOW_MS);
    assert!(
        matches!(&over, Verdict::Reject(r) if r.reason == RejectionReason::RateLimited),
        "{over:?}"
    );

    let directory = cross_posted();
    Facts::block(&directory, &author(), &stranger);
    let blocked = check(&directory, &reply, &author(), NOW_MS);
    assert!(
        matches!(&blocked, Verdict::Reject(r) if r.reason == RejectionReason::Blocked),
        "{blocked:?}"
    );
    // Unrelated: the directory answers the story lookups it was given.
    assert!(directory.story_author(&page()).is_some());
}

#[test]
fn a_story_reply_from_someone_with_conversations_still_goes_to_the_author_alone() {
    let directory = cross_posted();
    let fan = addr("messenger", "6000000042");
    let friend = addr("whatsapp", "16505551234");
    directory.consenting(&[&fan, &friend]);
    directory.conversation(ConversationKind::Direct, &[&fan, &friend]);
    let reply = about_story(&fan, StoryRelation::Reply, Some("post_1"));
    let deliveries = route(&directory, &reply).unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].recipient, author(), "not the fan's friend");
    let Event::Message(message) = &deliveries[0].envelope.event else {
        panic!("{:?}", deliveries[0].envelope.event)
    };
    assert_eq!(
        message.content,
        switchboard_pdk::types::Content::Text(switchboard_pdk::types::FormattedText {
            body: "Great run!".into(),
            spans: Vec::new(),
        }),
        "no label line: the author shares no conversation with the fan"
    );
}
