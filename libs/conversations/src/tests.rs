#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::cell::RefCell;

#[derive(Default)]
struct Memory(RefCell<BTreeMap<String, Vec<u8>>>);

impl Store for Memory {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.0.borrow_mut().insert(key.into(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
}

fn account(platform: &str, id: &str) -> Account {
    Account {
        platform: platform.into(),
        id: id.into(),
    }
}

fn consent(store: &Memory, account: &Account) {
    let record = ConsentRecord {
        granted: true,
        at_ms: 1,
    };
    store
        .set(
            &consent_key(account, ConsentScope::CrossAppMessaging),
            &serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
}

fn endpoints() -> Endpoints {
    Endpoints::parse(
        "whatsapp=wa-1,wa-2 messenger=page-1,page-2 instagram=ig-1",
        "messenger instagram",
    )
    .unwrap()
}

fn refused(result: Result<impl std::fmt::Debug, Failure>) -> Refusal {
    match result {
        Err(Failure::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn each_conversation_of_a_member_gets_its_own_endpoint_until_the_pool_runs_out() {
    let store = Memory::default();
    let endpoints = endpoints();
    let conversations = Conversations::new(&store, &endpoints, 256);
    let alice = account("whatsapp", "16505551234");
    let bob = account("messenger", "2345");
    let carol = account("instagram", "3456");
    let dave = account("messenger", "4567");
    for who in [&alice, &bob, &carol, &dave] {
        consent(&store, who);
    }
    let direct = |id: &str, other: &Account| {
        conversations
            .create(
                id,
                ConversationKind::Direct,
                None,
                vec![Joiner::person(alice.clone()), Joiner::person(other.clone())],
                10,
            )
            .unwrap()
    };
    let with_bob = direct("c-bob", &bob);
    let with_carol = direct("c-carol", &carol);
    let with_dave = direct("c-dave", &dave);
    let endpoint_of =
        |record: &ConversationRecord, who: &Account| record.member(who).unwrap().endpoint.clone();
    assert_eq!(endpoint_of(&with_bob, &alice), "wa-1");
    assert_eq!(
        endpoint_of(&with_carol, &alice),
        "wa-2",
        "a free endpoint first"
    );
    assert_eq!(
        endpoint_of(&with_dave, &alice),
        "wa-1",
        "then the least used is shared"
    );
    assert_eq!(
        endpoint_of(&with_bob, &bob),
        "page-1",
        "scoped apps: the pool's first"
    );

    let at_first = conversations.at(&alice, "wa-1").unwrap();
    assert_eq!(at_first.conversations, vec!["c-bob", "c-dave"]);
    assert_eq!(
        at_first.current.as_deref(),
        Some("c-dave"),
        "the newest is current"
    );
    assert!(conversations.set_current(&alice, "wa-1", "c-bob").unwrap());
    assert!(
        !conversations
            .set_current(&alice, "wa-1", "c-carol")
            .unwrap(),
        "c-carol is at the other endpoint"
    );
    assert_eq!(
        conversations.at(&alice, "wa-1").unwrap().current.as_deref(),
        Some("c-bob")
    );

    // Aliases are unique, stable and name no one.
    let aliases: Vec<&str> = with_bob.members.iter().map(|m| m.alias.as_str()).collect();
    assert_ne!(aliases[0], aliases[1]);
    assert!(aliases[0].ends_with(" · WhatsApp"), "{aliases:?}");
    assert!(aliases[1].ends_with(" · Messenger"), "{aliases:?}");
    assert!(!aliases[0].contains("1650"));
}

#[test]
fn refuses_members_without_consent_blocked_pairs_and_oversized_groups() {
    let store = Memory::default();
    let endpoints = endpoints();
    let conversations = Conversations::new(&store, &endpoints, 3);
    let alice = account("whatsapp", "1");
    let bob = account("messenger", "2");
    let carol = account("instagram", "3");
    let dave = account("whatsapp", "4");
    consent(&store, &alice);
    consent(&store, &bob);
    let members = |list: &[&Account]| list.iter().map(|a| Joiner::person((*a).clone())).collect();

    let no_consent = refused(conversations.create(
        "c-1",
        ConversationKind::Direct,
        None,
        members(&[&alice, &carol]),
        1,
    ));
    assert_eq!(no_consent.status, 409);
    assert!(
        no_consent.reason.contains("instagram:3"),
        "{}",
        no_consent.reason
    );
    consent(&store, &carol);
    consent(&store, &dave);

    let block = BlockRecord { at_ms: 1 };
    store
        .set(
            &block_key(&bob, &alice),
            &serde_json::to_vec(&block).unwrap(),
        )
        .unwrap();
    let blocked = refused(conversations.create(
        "c-2",
        ConversationKind::Group,
        None,
        members(&[&alice, &carol, &bob]),
        1,
    ));
    assert_eq!(blocked.status, 409, "either direction counts");

    let group = conversations
        .create(
            "c-3",
            ConversationKind::Group,
            Some("Trip".into()),
            members(&[&alice, &carol, &dave]),
            1,
        )
        .unwrap();
    assert_eq!(group.members.len(), 3);
    assert_eq!(
        refused(conversations.add("c-3", Joiner::person(account("whatsapp", "9")), 2)).status,
        409
    );
    assert_eq!(
        refused(conversations.create("c-4", ConversationKind::Direct, None, members(&[&alice]), 1))
            .status,
        400
    );
    assert_eq!(
        refused(conversations.create(
            "c-5",
            ConversationKind::Direct,
            None,
            vec![
                Joiner::person(alice.clone()),
                Joiner::person(account("sms", "1"))
            ],
            1
        ))
        .status,
        400,
        "an app without endpoints"
    );
    assert!(
        store.get(&conversation_key("c-1")).unwrap().is_none(),
        "refusals write nothing"
    );
}

#[test]
fn a_member_who_leaves_is_out_of_the_index_and_can_come_back() {
    let store = Memory::default();
    let endpoints = endpoints();
    let conversations = Conversations::new(&store, &endpoints, 256);
    let alice = account("whatsapp", "1");
    let bob = account("messenger", "2");
    let carol = account("instagram", "3");
    for who in [&alice, &bob, &carol] {
        consent(&store, who);
    }
    conversations
        .create(
            "c-g",
            ConversationKind::Group,
            None,
            vec![
                Joiner::person(alice.clone()),
                Joiner::person(bob.clone()),
                Joiner::person(carol.clone()),
            ],
            1,
        )
        .unwrap();
    let left = conversations.remove("c-g", &bob).unwrap();
    assert_eq!(left.state, MemberState::Left);
    assert!(conversations.of(&bob).unwrap().is_empty());
    let record = conversations.get("c-g").unwrap().unwrap();
    assert!(!record.is_active_member(&bob));
    assert_eq!(record.active_members().count(), 2);
    assert_eq!(refused(conversations.remove("c-g", &bob)).status, 404);

    let back = conversations
        .add("c-g", Joiner::person(bob.clone()), 3)
        .unwrap();
    assert_eq!(back.state, MemberState::Active);
    assert_eq!(
        back.alias, left.alias,
        "the same alias in the same conversation"
    );
    assert_eq!(conversations.of(&bob).unwrap(), vec!["c-g"]);
    assert_eq!(conversations.get("c-g").unwrap().unwrap().members.len(), 3);
}

#[test]
fn parses_pools_and_refuses_bad_ones() {
    let endpoints = endpoints();
    assert_eq!(endpoints.pool("whatsapp"), ["wa-1", "wa-2"]);
    assert!(endpoints.pool("sms").is_empty());
    assert!(endpoints.is_scoped("messenger") && !endpoints.is_scoped("whatsapp"));
    assert!(Endpoints::parse("whatsapp", "").is_err());
    assert!(Endpoints::parse("whatsapp=", "").is_err());
    let matrix = Endpoints::parse("matrix=@switchboard:example.org", "").unwrap();
    assert_eq!(matrix.pool("matrix"), ["@switchboard:example.org"]);
}

#[test]
fn conversation_ids_depend_on_their_seed() {
    assert_ne!(conversation_id("1"), conversation_id("2"));
    assert!(conversation_id("1").starts_with("c-"));
}

#[test]
fn an_invited_member_does_not_take_the_current_slot_and_can_be_activated() {
    let store = Memory::default();
    let endpoints = Endpoints::parse("whatsapp=wa-1,wa-2 messenger=page-1", "messenger").unwrap();
    let conversations = Conversations::new(&store, &endpoints, 256);
    let alice = account("whatsapp", "1");
    let bob = account("messenger", "2");
    let carol = account("whatsapp", "3");
    for who in [&alice, &bob, &carol] {
        consent(&store, who);
    }
    conversations
        .create(
            "c-1",
            ConversationKind::Direct,
            None,
            vec![Joiner::person(alice.clone()), Joiner::person(carol.clone())],
            1,
        )
        .unwrap();
    let requester = Joiner {
        endpoint: Some("page-1".into()),
        ..Joiner::person(bob.clone())
    };
    let invited = Joiner {
        state: MemberState::Invited,
        endpoint: Some("wa-1".into()),
        ..Joiner::person(alice.clone())
    };
    conversations
        .create(
            "c-2",
            ConversationKind::Direct,
            None,
            vec![requester, invited],
            2,
        )
        .unwrap();
    let at = conversations.at(&alice, "wa-1").unwrap();
    assert_eq!(at.conversations, ["c-1", "c-2"]);
    assert_eq!(
        at.current.as_deref(),
        Some("c-1"),
        "an invitation is not current"
    );
    assert_eq!(
        conversations.at(&bob, "page-1").unwrap().current.as_deref(),
        Some("c-2")
    );
    assert!(
        !conversations.activate("c-2", &bob).unwrap(),
        "already active"
    );
    assert!(conversations.activate("c-2", &alice).unwrap());
    assert!(
        conversations
            .get("c-2")
            .unwrap()
            .unwrap()
            .is_active_member(&alice)
    );
    assert!(!conversations.activate("c-2", &alice).unwrap(), "only once");
}
