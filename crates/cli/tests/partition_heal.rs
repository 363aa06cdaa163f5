//! Four real `machina node` processes whose p2p links run through relays in this test that
//! act as cables: cutting the cables between two pairs of validators leaves no quorum, and
//! once the cables are mended the chain must finalize again within seconds.
//!
//! A cut cable does not close a TCP connection: neither end notices anything, and what was
//! sent waits in the sender's kernel, which retransmits with exponential backoff. The relay
//! reproduces that: while cut, it forwards nothing either way but keeps every connection
//! open; once mended, a direction that held data resumes at its sender's next
//! retransmission, and a connection opened during the cut reaches its target at the next
//! SYN retransmission, as over a real cable.

use machina_node::home::Home;
use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

mod common;

use common::{MACHINA, machina, testnet_base_port, wait_for};

const NODES: usize = 4;
/// How long the cables stay cut: long enough for the first retransmissions of a stale
/// connection to have backed off to tens of seconds.
const CUT: Duration = Duration::from_secs(26);
/// Generous against the ~2 s it should take on a loaded 2-core machine; a connection left to
/// TCP's retransmission backoff after this cut resumes only ~25 s after the cable is mended.
const RESUME_MAX: Duration = Duration::from_secs(20);
/// Linux's first retransmission timeout of an established connection, and of a SYN.
const RTO_MIN: Duration = Duration::from_millis(200);
const SYN_RTO: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Up,
    Cut,
    Mended(Instant),
}

/// A cable between two nodes.
struct Cable {
    state: Mutex<State>,
    changed: Condvar,
}

impl Cable {
    fn new() -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::Up), changed: Condvar::new() })
    }

    fn set(&self, state: State) {
        *self.state.lock().unwrap() = state;
        self.changed.notify_all();
    }

    /// Returns once a transmission first sent at `sent` (and resent with backoff from `rto`)
    /// gets through: at once while the cable is up, else at the first retransmission after
    /// the cable is mended.
    fn pass(&self, sent: Instant, rto: Duration) {
        let mut state = self.state.lock().unwrap();
        let mended = loop {
            match *state {
                State::Up => return,
                State::Cut => state = self.changed.wait(state).unwrap(),
                State::Mended(at) => break at,
            }
        };
        drop(state);
        let (mut resend, mut rto) = (sent, rto);
        while resend < mended {
            resend += rto;
            rto *= 2;
        }
        // The emulated kernel's retransmission timer, not a wait for a condition.
        std::thread::sleep(resend.saturating_duration_since(Instant::now()));
    }
}

/// Forwards every connection `listener` accepts to `target` over `cable`.
fn relay(listener: TcpListener, cable: Arc<Cable>, target: SocketAddr) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let cable = cable.clone();
            std::thread::spawn(move || {
                cable.pass(Instant::now(), SYN_RTO);
                // A dialer that gave up before its SYN got through never reaches the target.
                let mut sent = Vec::new();
                if !still_open(&client, &mut sent) {
                    return;
                }
                let Ok(mut server) = TcpStream::connect(target) else { return };
                for stream in [&client, &server] {
                    let _ = stream.set_nodelay(true);
                }
                if server.write_all(&sent).is_err() {
                    return;
                }
                let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = cable.clone();
                std::thread::spawn(move || pump(&up, client2, server2));
                pump(&cable, server, client);
            });
        }
    });
}

/// Whether `client` has not closed its connection, reading what it sent so far into `sent`.
fn still_open(mut client: &TcpStream, sent: &mut Vec<u8>) -> bool {
    client.set_nonblocking(true).unwrap();
    let mut buf = [0; 4096];
    let open = loop {
        match client.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => sent.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    client.set_nonblocking(false).unwrap();
    open
}

/// Copies `from` to `to` over `cable` until either end closes, then closes both.
fn pump(cable: &Cable, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        cable.pass(Instant::now(), RTO_MIN);
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Kills every node when the test ends, however it ends.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(dir: &Path, i: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("node{i}.log"))).unwrap();
    Command::new(MACHINA)
        .args(["node", "--home"])
        .arg(dir.join(format!("node{i}")))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The node's finalized height from `GET /v1/status` (0 if it does not answer).
fn height(api: SocketAddr) -> u64 {
    let ask = || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect_timeout(&api, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response)
    };
    let Ok(response) = ask() else { return 0 };
    let response = String::from_utf8_lossy(&response);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|s| s["height"].as_u64())
        .unwrap_or(0)
}

/// Writes a testnet under `dir` whose nodes reach each other only through cables; returns
/// the nodes' API addresses and the cables by pair.
fn testnet(dir: &Path) -> (Vec<SocketAddr>, Vec<Vec<Arc<Cable>>>) {
    // The relays listen from here on (ephemeral ports, held); the nodes get ports below.
    let mut listeners: Vec<TcpListener> =
        (0..NODES * (NODES - 1)).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let base = testnet_base_port(NODES as u16);
    machina(
        dir,
        &[
            "testnet",
            "--validators",
            "4",
            "--dir",
            dir.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
        ],
    );
    let homes: Vec<Home> = (0..NODES).map(|i| Home::new(dir.join(format!("node{i}")))).collect();
    let configs: Vec<_> = homes.iter().map(|h| h.config().unwrap()).collect();
    let cables: Vec<Vec<Arc<Cable>>> =
        (0..NODES).map(|_| (0..NODES).map(|_| Cable::new()).collect()).collect();
    for (i, home) in homes.iter().enumerate() {
        let mut config = configs[i].clone();
        for peer in &mut config.peers {
            let j = configs.iter().position(|c| c.p2p_listen == peer.address).unwrap();
            let cable = cables[i.min(j)][i.max(j)].clone();
            let listener = listeners.pop().unwrap();
            let relayed = listener.local_addr().unwrap();
            relay(listener, cable, peer.address);
            peer.address = relayed;
        }
        home.write_config(&config).unwrap();
    }
    (configs.iter().map(|c| c.api_listen).collect(), cables)
}

#[test]
fn four_nodes_finalize_again_soon_after_a_cut_cable_that_split_them_two_and_two_is_mended() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let (apis, cables) = testnet(&dir);
    let _nodes = Nodes((0..NODES).map(|i| start(&dir, i)).collect());
    let heights = || apis.iter().map(|a| height(*a)).collect::<Vec<_>>();
    wait_for("the testnet to finalize", Duration::from_secs(60), || {
        heights().iter().all(|h| *h >= 3)
    });

    let crossing = [(0, 2), (0, 3), (1, 2), (1, 3)];
    for (a, b) in crossing {
        cables[a][b].set(State::Cut);
    }
    let cut = Instant::now();
    let at_cut = *heights().iter().max().unwrap();
    // Holds the cut for its length, watching that nothing finalizes without a quorum.
    while cut.elapsed() < CUT {
        let now = *heights().iter().max().unwrap();
        assert!(now <= at_cut + 2, "finalized {now} with the quorum cut at {at_cut}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let at_heal = *heights().iter().max().unwrap();
    let mended = Instant::now();
    for (a, b) in crossing {
        cables[a][b].set(State::Mended(mended));
    }
    let mut first = None;
    wait_for("every node to finalize after the heal", RESUME_MAX, || {
        let now = heights();
        if first.is_none() && now.iter().any(|h| *h > at_heal) {
            first = Some(mended.elapsed());
        }
        now.iter().all(|h| *h > at_heal)
    });
    eprintln!(
        "cables cut for {CUT:?} at height {at_heal}: first node finalized {:?} after they were \
         mended, every node {:?}",
        first.unwrap_or_default(),
        mended.elapsed(),
    );
}
