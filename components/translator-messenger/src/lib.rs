//! Translates Messenger Platform webhooks and Send API requests to and from the canonical model.
