//! One integration-test binary: every test drives a real server over real sockets.

mod helpers;
