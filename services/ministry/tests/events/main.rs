//! The event feed of a ministry service (`GET /events`) on a real
//! nats-server, read over real HTTP: resumed with `Last-Event-ID` it
//! misses nothing and repeats nothing, across a restart of the service
//! too; a change stored without its event gets it when the service starts;
//! it carries no personal data; and it is refused, with the reason, to a
//! bad position or a caller without the token.

mod feed;
mod support;
