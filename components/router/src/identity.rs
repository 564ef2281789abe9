//! What of a sender's identity may cross to another app.
//!
//! An identity attribute (phone number, profile name, username) crosses by
//! [`shares`]:
//!
//! | the owner's consent record for its `share-*` scope | the operator's sharing policy for the owner's app and that attribute | crosses |
//! |---|---|---|
//! | given (`/public`, the admin API) | any | yes |
//! | withdrawn (`/private`, the admin API) | any | no: an explicit choice wins over the policy, whenever it was made |
//! | none | on, and its notice window is over (`now` ≥ `effective-at`) | yes |
//! | none | on, still in its notice window | no: people are being told and may opt out |
//! | none | off (never on, or turned off: at once) | no |
//!
//! Extras that their translator declared personal never cross.

use crate::{ConsentScope, ConversationRecord, Facts};
use switchboard_pdk::types::{Address, Envelope, ExtraField, IdentityAttribute};

/// The consent that lets `attribute` cross to another app.
pub fn consent_for(attribute: &IdentityAttribute) -> ConsentScope {
    match attribute {
        IdentityAttribute::PhoneNumber(_) => ConsentScope::SharePhoneNumber,
        IdentityAttribute::DisplayName(_) => ConsentScope::ShareDisplayName,
        IdentityAttribute::Username(_) => ConsentScope::ShareUsername,
    }
}

/// Who wrote `envelope`, as every reader in `conversation` sees it at
/// `now_ms`: the writer's profile name when it may cross ([`shares`]), with
/// their app (`Bob · Messenger`), else their alias in the conversation
/// (`Amber Fox · Messenger`), which names no one.
pub fn author_label<F: Facts + ?Sized>(
    facts: &F,
    conversation: &ConversationRecord,
    envelope: &Envelope,
    now_ms: u64,
) -> String {
    let sender = &envelope.sender.address;
    let name = envelope
        .sender
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            IdentityAttribute::DisplayName(name) if !name.trim().is_empty() => Some(name.trim()),
            _ => None,
        });
    if let Some(name) = name
        && shares(facts, sender, ConsentScope::ShareDisplayName, now_ms)
    {
        return format!("{name} · {}", conversations::app_title(&sender.platform));
    }
    conversation
        .members
        .iter()
        .find(|member| member.account == *sender)
        .map(|member| member.alias.clone())
        .unwrap_or_else(|| conversations::app_title(&sender.platform))
}

/// Whether the identity attribute of `scope` (a `share-*` scope) of `owner`
/// may cross to other apps at `now_ms`: the owner's explicit choice when
/// they made one, else the operator's sharing policy for their app once its
/// notice window is over (the table above).
pub fn shares<F: Facts + ?Sized>(
    facts: &F,
    owner: &Address,
    scope: ConsentScope,
    now_ms: u64,
) -> bool {
    match facts.consent_state(owner, scope) {
        Some(granted) => granted,
        None => facts
            .sharing_effective_at(&owner.platform, scope)
            .is_some_and(|effective_at_ms| now_ms >= effective_at_ms),
    }
}

/// The attributes of `owner` that may cross to other apps at `now_ms`
/// ([`shares`]).
pub fn shareable_attributes<F: Facts + ?Sized>(
    facts: &F,
    owner: &Address,
    attributes: &[IdentityAttribute],
    now_ms: u64,
) -> Vec<IdentityAttribute> {
    attributes
        .iter()
        .filter(|attribute| shares(facts, owner, consent_for(attribute), now_ms))
        .cloned()
        .collect()
}

/// The extras their translator declared shareable. An extra marked
/// `personal` may identify someone and never leaves its app; the router does
/// not look inside extras, since only the translator knows its app's format.
pub fn shareable_extras(extras: &[ExtraField]) -> Vec<ExtraField> {
    extras
        .iter()
        .filter(|extra| !extra.personal)
        .cloned()
        .collect()
}
