//! What of a sender's identity may cross to another app.
//!
//! Identity attributes cross only with their owner's consent; extras that
//! their translator declared personal never cross.

use crate::{ConsentScope, Facts};
use switchboard_pdk::types::{Address, ExtraField, IdentityAttribute};

/// The consent that lets `attribute` cross to another app.
pub fn consent_for(attribute: &IdentityAttribute) -> ConsentScope {
    match attribute {
        IdentityAttribute::PhoneNumber(_) => ConsentScope::SharePhoneNumber,
        IdentityAttribute::DisplayName(_) => ConsentScope::ShareDisplayName,
        IdentityAttribute::Username(_) => ConsentScope::ShareUsername,
    }
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
