//! The gateway against a real nats-server: one server per test, on a free
//! port with its own store, killed when the test ends.

mod support;

mod routing;
