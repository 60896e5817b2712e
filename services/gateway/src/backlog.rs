//! The backlog watch: no message is accepted for a member whose untaken
//! deliveries are about to expire.
//!
//! `HW_DELIVER` keeps a delivery for [`homeward_core::streams`]' 90 days,
//! taken or not: a member offline for longer would lose what was sent to
//! it, silently. So the gateway looks, every
//! [`crate::GatewayConfig::backlog_check_every`], at each member's delivery
//! consumer: when it has deliveries not yet acknowledged, the oldest of
//! them is the first after its ack floor, and its age is how long the
//! member has left it. Once that passes
//! [`crate::GatewayConfig::backlog_refuse_after`] (a week before the server would
//! discard it, by default), every new submission addressed to the member
//! is refused with `recipient_backlog`: the senders learn at once that
//! their message is not on its way, and the operators see the alarm
//! (`homeward_gateway_recipient_refused`, the rejections on the console, the
//! `RecipientBacklogRefused` alert) while there is still a week to bring
//! the member back. As soon as the member has caught up, the refusal ends.
//!
//! The watch reads consumer state and one message per member behind, for
//! every member at once; it holds nothing across restarts: a gateway that
//! starts waits for its first look (up to [`FIRST_LOOK_WITHIN`]) before
//! it decides anything.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream;
use homeward_core::published::PolicyHandle;
use homeward_core::{MemberId, natsauth, subjects};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::metrics::GatewayMetrics;

/// How long a starting gateway waits for the first look before deciding
/// anyway: a server that does not answer must not stop every decision.
pub(crate) const FIRST_LOOK_WITHIN: Duration = Duration::from_secs(5);

/// The members refused for their backlog, with how long their oldest
/// untaken delivery has waited.
#[derive(Debug, Default)]
pub(crate) struct Refused {
    members: RwLock<BTreeMap<MemberId, Duration>>,
}

impl Refused {
    /// The first of `recipients` that is refused, and for how long it has
    /// left its oldest delivery.
    pub(crate) fn first_of<'a>(
        &self,
        recipients: &'a [MemberId],
    ) -> Option<(&'a MemberId, Duration)> {
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        if members.is_empty() {
            return None;
        }
        recipients
            .iter()
            .find_map(|r| members.get(r).map(|age| (r, *age)))
    }

    fn set(&self, now: BTreeMap<MemberId, Duration>) {
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

/// How long the oldest delivery `member` has not acknowledged has waited,
/// or `None` when it has taken everything.
async fn oldest_untaken(
    js: &jetstream::Context,
    deliveries: &jetstream::stream::Stream<()>,
    member: &MemberId,
    now: OffsetDateTime,
) -> Result<Option<Duration>, String> {
    let consumer = subjects::delivery_consumer(member);
    let info = js
        .get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(
            &consumer,
            subjects::DELIVER_STREAM,
        )
        .await
        .map_err(|e| format!("consumer {consumer}: {e}"))?
        .cached_info()
        .clone();
    if info.num_pending == 0 && info.num_ack_pending == 0 {
        return Ok(None);
    }
    let oldest = deliveries
        .raw_message_builder()
        .sequence(info.ack_floor.stream_sequence + 1)
        .next_by_subject(subjects::deliver_filter(member))
        .send()
        .await;
    match oldest {
        Ok(message) => Ok(Some(
            (now - message.time).try_into().unwrap_or(Duration::ZERO),
        )),
        Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(format!("oldest delivery of {member}: {e}")),
    }
}

/// Watches every member's backlog until `stop`, keeping `refused` and the
/// gauges up to date; `looked` hears when the first look is done.
pub(crate) async fn watch(
    js: jetstream::Context,
    policy: PolicyHandle,
    config: (Duration, Duration),
    refused: Arc<Refused>,
    metrics: Arc<GatewayMetrics>,
    mut looked: Option<tokio::sync::oneshot::Sender<()>>,
    stop: CancellationToken,
) {
    let (every, refuse_after) = config;
    let mut was: BTreeMap<MemberId, Duration> = BTreeMap::new();
    loop {
        let now = OffsetDateTime::now_utc();
        match js.get_stream_no_info(subjects::DELIVER_STREAM).await {
            Ok(deliveries) => {
                let policy = policy.get();
                let mut refusing = BTreeMap::new();
                let mut ages = Vec::new();
                let members: Vec<_> = policy
                    .members()
                    .filter(|m| natsauth::Kind::of(m.role) == natsauth::Kind::Member)
                    .collect();
                let looks = futures::future::join_all(
                    members
                        .iter()
                        .map(|m| oldest_untaken(&js, &deliveries, &m.id, now)),
                )
                .await;
                for (member, look) in members.into_iter().zip(looks) {
                    match look {
                        Ok(age) => {
                            let age = age.unwrap_or(Duration::ZERO);
                            ages.push((member.id.clone(), age));
                            if age >= refuse_after && age > Duration::ZERO {
                                refusing.insert(member.id.clone(), age);
                            }
                        }
                        Err(e) => {
                            // Keep what was known: a look-up that fails
                            // must not lift a refusal.
                            tracing::warn!(error = %e, member = %member.id, "backlog not read");
                            if let Some(age) = was.get(&member.id) {
                                refusing.insert(member.id.clone(), *age);
                            }
                        }
                    }
                }
                for (member, age) in &refusing {
                    if !was.contains_key(member) {
                        tracing::error!(
                            %member,
                            days = age.as_secs() / 86_400,
                            "a member has left its deliveries untaken past the limit: \
                             submissions to it are refused (recipient_backlog) until it catches up"
                        );
                    }
                }
                for member in was.keys() {
                    if !refusing.contains_key(member) {
                        tracing::info!(%member, "a member caught up: submissions to it are accepted again");
                    }
                }
                refused.set(refusing.clone());
                // The gauges after the set the decisions read: an operator
                // (or a test) seeing them sees what the gateway does.
                for (member, age) in ages {
                    let is_refused = refusing.contains_key(&member);
                    metrics.set_backlog(&member, age, is_refused);
                }
                was = refusing;
            }
            Err(e) => tracing::warn!(error = %e, "deliveries stream not reached; backlog not read"),
        }
        if let Some(first) = looked.take() {
            let _ = first.send(());
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
