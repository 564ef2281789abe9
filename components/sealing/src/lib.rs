//! End-to-end encryption for Switchboard: RFC 9180 HPKE, X3DH-style session setup and the Double Ratchet.
