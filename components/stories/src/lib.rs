//! Plans the cross-posting of a story to the author's accounts on other apps.
