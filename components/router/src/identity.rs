//! What of a sender's identity may cross to another app.
//!
//! Identity attributes cross only with their owner's consent; extras that
//! their translator declared personal never cross.

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

/// Who wrote `envelope`, as every reader in `conversation` sees it: the
/// profile name the writer consented to share, with their app
/// (`Bob · Messenger`), else their alias in the conversation
/// (`Amber Fox · Messenger`), which names no one.
pub fn author_label<F: Facts + ?Sized>(
    facts: &F,
    conversation: &ConversationRecord,
    envelope: &Envelope,
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
        && facts.has_consent(sender, ConsentScope::ShareDisplayName)
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

/// The attributes of `owner` that their consents allow on other apps.
pub fn shareable_attributes<F: Facts + ?Sized>(
    facts: &F,
    owner: &Address,
    attributes: &[IdentityAttribute],
) -> Vec<IdentityAttribute> {
    attributes
        .iter()
        .filter(|attribute| facts.has_consent(owner, consent_for(attribute)))
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
