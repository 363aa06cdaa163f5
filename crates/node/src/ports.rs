//! Free local ports for tests, benchmarks and local testnets.
//!
//! Binding port 0 and releasing it is racy: until the node binds the port again, any
//! outgoing connection on the machine may be given it, because the kernel hands out
//! ephemeral ports from the same range. These ports are chosen below Linux's default
//! ephemeral range instead, from a cursor that never repeats within a process and starts
//! at an offset derived from the process id, and each is checked free before it is handed
//! out.

use std::{
    net::{SocketAddr, TcpListener},
    sync::atomic::{AtomicU32, Ordering},
};

/// First port handed out (above the well-known and registered ports most services use).
const LOW: u32 = 20_000;
/// Ports handed out: `LOW..LOW + SPAN`, below the ephemeral range (32768 and up).
const SPAN: u32 = 12_000;
const _: () = assert!(LOW + SPAN <= 32_768);

static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

/// The first port of `len` consecutive ports that were all free when checked.
///
/// # Panics
///
/// If no such block is found in the whole span (the machine is out of ports).
pub fn unused_port_block(len: u16) -> u16 {
    let len = u32::from(len.max(1));
    assert!(len <= SPAN, "a block of {len} ports is larger than the span");
    // The first call places the cursor at an offset derived from the process id, so that
    // processes running at the same time start far apart.
    let _ = CURSOR.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(997)) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN / len {
        let offset = CURSOR.fetch_add(len, Ordering::Relaxed) % SPAN;
        if offset + len > SPAN {
            continue;
        }
        let first = LOW + offset;
        let all_free = (first..first + len).all(|port| {
            let port = u16::try_from(port).expect("ports below 32768");
            TcpListener::bind(("127.0.0.1", port)).is_ok()
        });
        if all_free {
            return u16::try_from(first).expect("ports below 32768");
        }
    }
    panic!("no block of {len} free ports between {LOW} and {}", LOW + SPAN);
}

/// A loopback address whose port was free when checked.
pub fn unused_local_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], unused_port_block(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ports_are_never_handed_out_twice_and_are_free() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let addr = unused_local_addr();
            assert!(seen.insert(addr.port()), "port {} handed out twice", addr.port());
            assert!((LOW..LOW + SPAN).contains(&u32::from(addr.port())));
            TcpListener::bind(addr).expect("the port is free");
        }
        let first = unused_port_block(40);
        for port in first..first + 40 {
            assert!(!seen.contains(&port));
            TcpListener::bind(("127.0.0.1", port)).expect("every port of the block is free");
        }
    }
}
