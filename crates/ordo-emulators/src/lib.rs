//! Emulators of remote sales-channel APIs.
