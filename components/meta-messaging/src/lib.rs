//! Shared decoding and encoding of the Messenger Platform webhook and Send API format, used by the Messenger and Instagram translators.
