//! The attacks of the hostile test against the demo, replayed through the real binary: 1,100
//! idle connections against a daemon held to 1,024 open files (systemd's default soft limit),
//! kept up for longer than a probe interval; a client that sends its request head a byte at a
//! time; one that never finishes its TLS handshake; keep-alive connections left idle. `/metrics`
//! must keep answering, the background probes must keep running (no `os error 24`), and each
//! slow client must be cut off at its timeout. The figures are printed (`--nocapture`) for the
//! README's "Reliability" section.

mod common;
mod web_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use web_support::{Pki, Web, curl};

const ATTACK: usize = 1100;

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// Whether the server closed `s` (EOF or reset); never blocks.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn successes(web: &Web) -> f64 {
    let m = curl(&[], &web.http("/metrics"));
    assert_eq!(m.code, 200, "{m:?}");
    common::Metrics::parse(&m.body)
        .find("bedrock_access_probes_total", &[("result", "success")])
        .iter()
        .map(|s| s.value)
        .sum()
}

#[test]
fn eleven_hundred_idle_connections_under_a_1024_file_limit_leave_metrics_and_probes_working() {
    // This process holds the attack's sockets itself.
    let _ = bedrock_access_exporter::web::fdlimit::raise();
    let soft = bedrock_access_exporter::web::fdlimit::soft_limit();
    assert!(
        soft.is_none_or(|s| s > 1400),
        "the test needs more than 1,400 open files (soft limit {soft:?}); raise the hard limit"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let web = Web::start_wrapped(dir.path(), None, &[], &["prlimit", "--nofile=1024:1024"]);
    web.wait_until("probes succeed", || successes(&web) > 0.0);

    let opened_at = Instant::now();
    let mut conns: Vec<Option<TcpStream>> = (0..ATTACK).map(|_| connect(web.addr)).collect();
    let open_time = opened_at.elapsed();
    let before = successes(&web);
    let window = Instant::now();
    let (mut closed, mut reopened, mut failed) = (0usize, 0usize, 0usize);
    let mut scrapes = Vec::new();
    let mut next_scrape = Instant::now();
    // `prlimit` execs the daemon: its pid is the daemon's.
    let fds = format!("/proc/{}/fd", web.proc.child.id());
    let mut most_fds = 0;
    // Longer than a probe interval (10 s) and the header-read timeout (10 s): every connection
    // the server closes is opened again at once.
    while window.elapsed() < Duration::from_secs(15) {
        for c in conns.iter_mut() {
            let gone = c.as_mut().is_none_or(closed_by_server);
            if gone {
                if c.is_some() {
                    closed += 1;
                }
                *c = connect(web.addr);
                match c {
                    Some(_) => reopened += 1,
                    None => failed += 1,
                }
            }
        }
        if let Ok(d) = std::fs::read_dir(&fds) {
            most_fds = most_fds.max(d.count());
        }
        if Instant::now() >= next_scrape {
            let t = Instant::now();
            let m = curl(&[], &web.http("/metrics"));
            scrapes.push((m.code, t.elapsed()));
            next_scrape = Instant::now() + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = successes(&web);
    let held = conns.iter().filter(|c| c.is_some()).count();
    let worst = scrapes.iter().map(|(_, d)| *d).max().unwrap_or_default();
    eprintln!(
        "{ATTACK} connections opened in {open_time:?}; over 15 s the server closed {closed} \
         (reopened {reopened}, {failed} connects failed), {held} held at the end; \
         {} scrapes of /metrics, all {:?}, slowest {worst:?}; successful probes {before} -> {after}; \
         the daemon held at most {most_fds} open files",
        scrapes.len(),
        scrapes
            .iter()
            .map(|(c, _)| *c)
            .collect::<std::collections::BTreeSet<_>>()
    );
    let log = web.log();
    assert!(
        scrapes.iter().all(|(code, _)| *code == 200),
        "/metrics did not answer during the attack: {scrapes:?}"
    );
    assert!(
        after > before,
        "no probe succeeded during the attack ({before} -> {after})"
    );
    assert!(
        most_fds < 1000,
        "{most_fds} open files: the connection cap did not hold the daemon below its limit"
    );
    for starved in ["os error 24", "Too many open files"] {
        assert!(
            !log.contains(starved),
            "{starved} in the log:\n{}",
            common::tail(&log, 30)
        );
    }
    assert!(
        closed >= ATTACK - 512,
        "the cap (half of 1,024 files) should have closed idle connections: {closed}"
    );
    assert!(
        log.contains("connection limit reached"),
        "{}",
        common::tail(&log, 30)
    );
}

/// Seconds from `start` until the server closed `s`, writing `trickle` every 300 ms meanwhile.
fn cut_off_after(mut s: TcpStream, start: Instant, trickle: &[u8], limit: Duration) -> Duration {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut b = [0u8; 256];
    while start.elapsed() < limit {
        if !trickle.is_empty() && s.write_all(trickle).is_err() {
            return start.elapsed();
        }
        match s.read(&mut b) {
            Ok(0) => return start.elapsed(),
            Ok(n) => panic!("an answer to an unfinished request: {:?}", &b[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return start.elapsed(),
        }
    }
    panic!("still open after {limit:?}")
}

fn get_on(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("write request");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("Healthy.\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn slow_header_senders_silent_clients_and_idle_keep_alive_connections_are_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = Web::start(
        dir.path(),
        None,
        &["--web.read-header-timeout=2s", "--web.idle-timeout=4s"],
    );
    web.wait_until("ready", || curl(&[], &web.http("/-/ready")).code == 200);
    let limit = Duration::from_secs(15);

    // A request head a header line at a time, never finished.
    let start = Instant::now();
    let mut s = TcpStream::connect(web.addr).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let slowloris = cut_off_after(s, start, b"X-Slow: 1\r\n", limit);

    // Connects and says nothing.
    let start = Instant::now();
    let silent = cut_off_after(
        TcpStream::connect(web.addr).expect("connect"),
        start,
        b"",
        limit,
    );

    // Keep-alive: a second request 3 s later (beyond the header timeout, within the idle
    // timeout) is answered; then left idle, the connection is closed after 4 s.
    let mut s = TcpStream::connect(web.addr).expect("connect");
    assert!(get_on(&mut s, "/-/healthy").starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(get_on(&mut s, "/-/healthy").starts_with("HTTP/1.1 200"));
    let idle = cut_off_after(s, Instant::now(), b"", limit);

    eprintln!(
        "read-header-timeout 2s, idle-timeout 4s: slow header sender cut off after {slowloris:?}, \
         silent client after {silent:?}, idle keep-alive connection after {idle:?}"
    );
    for (what, got, want) in [
        ("slow header sender", slowloris, 2),
        ("silent client", silent, 2),
        ("idle keep-alive", idle, 4),
    ] {
        let want = Duration::from_secs(want);
        assert!(
            got >= want - Duration::from_millis(100) && got < want + Duration::from_secs(3),
            "{what}: closed after {got:?}, expected about {want:?}"
        );
    }
    assert_eq!(curl(&[], &web.http("/metrics")).code, 200);
}

#[test]
fn a_tls_handshake_that_never_finishes_is_cut_off_at_the_header_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path());
    let web_yml = dir.path().join("web.yml");
    std::fs::write(&web_yml, pki.tls_config("")).expect("write");
    let web = Web::start(
        dir.path(),
        Some(&web_yml),
        &["--web.read-header-timeout=2s"],
    );
    let ca = pki.ca.display().to_string();
    web.wait_until("ready over TLS", || {
        curl(&["--cacert", &ca], &web.https("/-/ready")).code == 200
    });
    // The first bytes of a TLS record header of a ClientHello, then nothing.
    let start = Instant::now();
    let mut s = TcpStream::connect(web.addr).expect("connect");
    s.write_all(&[0x16, 0x03, 0x01, 0x02]).expect("write");
    let got = cut_off_after(s, start, b"", Duration::from_secs(15));
    eprintln!("unfinished TLS handshake cut off after {got:?}");
    assert!(
        got >= Duration::from_millis(1900) && got < Duration::from_secs(5),
        "closed after {got:?}"
    );
    assert_eq!(curl(&["--cacert", &ca], &web.https("/metrics")).code, 200);
}
