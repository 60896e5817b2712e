//! Poison messages on a real nats-server: a foreign ministry's role with a
//! bug for one case, made in this test and nowhere else. Every other case
//! completes while that case's delivery is retried and parked; the
//! operator sees that it was parked, and why, and no byte of it; a
//! redrive after the fix applies the case's parked deliveries once each,
//! in the order they were delivered.

mod held;
mod paced;
mod parked;
mod resent;
mod support;
mod unsent;
