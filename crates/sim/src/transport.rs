//! What the simulated network leaves out: how long after a cut link is back the production
//! transport carries fresh traffic again.
//!
//! The simulated network has links, not connections: a cut link drops what it carries and a
//! restored one delivers at once. Production runs authenticated p2p over TCP (see
//! [`machina_node::run::Transport`]), where a cut link leaves each connection open and
//! silent. Fresh traffic flows again either once TCP's next retransmission gets through and
//! the receiver has drained what queued during the cut (if the connection outlived the cut),
//! or once a redial connects (if the read timeout closed it first). This model computes that
//! moment from the settings production uses, worst case over the dialer's jitter and the
//! pings' phase, and scenarios restore each simulated link then instead of at the heal.
//!
//! Draining the queue takes time because p2p admits one ping per half `ping_frequency` and
//! its receive loop sleeps until it may take the next one: a queue of pings spanning the cut
//! and the backoff holds everything behind it for about half that span.
//!
//! Not modelled: the handshake's round trip (a few link latencies), two validators dialing
//! each other at the same instant (each refuses the other once; jitter separates the
//! retries), and a send buffer filling during the cut (which only closes a connection
//! sooner).

use machina_node::run::Transport;
use std::time::Duration;

/// Linux's first retransmission timeout of an established connection (its floor on a LAN).
const RTO_MIN: Duration = Duration::from_millis(200);
/// Linux's ceiling on the retransmission timeout.
const RTO_MAX: Duration = Duration::from_secs(120);
/// Linux's first retransmission timeout of a SYN.
const SYN_RTO: Duration = Duration::from_secs(1);

/// After a link between two validators was cut for `cut` and is back, how long until their
/// connection carries fresh traffic again.
pub fn resume_after_heal(transport: &Transport, cut: Duration) -> Duration {
    // Both ends stop hearing each other when the cut starts; each closes the connection a
    // read timeout later unless a retransmission got through first.
    let closed = transport.read_write_timeout;
    let resent = next_retransmission(RTO_MIN, Duration::ZERO, cut);
    if resent < closed {
        return resent + ping_backlog(transport.ping_frequency, resent) - cut;
    }
    redial(transport, closed, cut) - cut
}

/// How long the receiver takes to drain the pings queued over `span`: the first passes, each
/// further one waits half a ping period.
fn ping_backlog(ping: Duration, span: Duration) -> Duration {
    let pings = span.as_nanos().div_ceil(ping.as_nanos());
    (ping / 2) * u32::try_from(pings.saturating_sub(1)).unwrap_or(u32::MAX)
}

/// The first transmission at or after `at` of a segment first sent at `first`, resent with
/// exponential backoff from `rto`.
fn next_retransmission(rto: Duration, first: Duration, at: Duration) -> Duration {
    let (mut sent, mut rto) = (first, rto);
    while sent < at {
        sent += rto;
        rto = (rto * 2).min(RTO_MAX);
    }
    sent
}

/// When a dialer whose connection closed at `closed` connects again, for a link back at
/// `heal` (both measured from the cut).
fn redial(t: &Transport, closed: Duration, heal: Duration) -> Duration {
    let attempt = t.connect_timeout.min(t.dial_timeout);
    // While no peer is ready, the dialer looks again only a cooldown later: that late, at
    // worst, it notices a peer whose connection closed or whose dial failed.
    let mut start = closed + t.peer_connection_cooldown.max(t.dial_frequency);
    loop {
        // SYNs go out at start, start + 1 s, start + 3 s, ... until the connect timeout.
        let syn = next_retransmission(SYN_RTO, start, heal.max(start));
        if syn < start + attempt {
            return syn;
        }
        // The next attempt waits for the cooldown plus up to half of it (jitter), and for
        // the dialer to notice the failed attempt's release.
        let cooled = start + t.peer_connection_cooldown * 3 / 2;
        let released = start + attempt + t.peer_connection_cooldown.max(t.dial_frequency);
        start = cooled.max(released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use machina_node::run::TRANSPORT;

    #[test]
    fn a_connection_that_outlives_the_cut_resumes_after_a_retransmission_and_its_backlog() {
        // The p2p preset for local networks, with the runtime's default read timeout.
        let transport = Transport {
            ping_frequency: Duration::from_secs(5),
            read_write_timeout: Duration::from_secs(60),
            ..TRANSPORT
        };
        let resume = |cut| resume_after_heal(&transport, Duration::from_secs(cut));
        // Resent at 25.4 s; 6 pings queued, 5 of them waiting 2.5 s.
        assert_eq!(resume(20), Duration::from_millis(17_900));
        // Resent at 51 s; 11 pings queued.
        assert_eq!(resume(30), Duration::from_secs(46));
    }

    #[test]
    fn a_link_cut_for_any_length_carries_traffic_about_two_seconds_after_the_heal() {
        let worst = (50..120_000)
            .step_by(50)
            .map(Duration::from_millis)
            .map(|cut| resume_after_heal(&TRANSPORT, cut))
            .max()
            .unwrap();
        // Just after a retransmission, a connection closed by the read timeout and redialed.
        assert!(worst <= Duration::from_millis(2_100), "{worst:?}");
    }
}
