//! The Matrix translator (in progress).
