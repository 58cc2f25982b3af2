//! Port leases that hold across processes. Several test binaries (and several developers' runs)
//! start redis-server at the same time; a lock file per port makes sure no two pick the same
//! client port, and the range keeps every bus port (port + 10000) below the kernel's ephemeral
//! range, where outgoing connections could take it.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Client ports are leased from this range; bus ports land in 30001–32500.
const FIRST_PORT: u16 = 20_001;
const LAST_PORT: u16 = 22_500;

/// A client port (and its bus port, + 10000) reserved for the lifetime of this value.
#[derive(Debug)]
pub struct PortLease {
    pub port: u16,
    _lock: File,
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("testkit-ports");
    std::fs::create_dir_all(&dir).expect("cannot create the port lock directory");
    dir
}

fn free(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

impl PortLease {
    /// Leases a port whose client and bus ports are both free on `ip`.
    pub fn take(ip: &str) -> PortLease {
        PortLease::take_on(&[ip])
    }

    /// Leases a port whose client and bus ports are free on every one of `ips`, for layouts
    /// where each host runs an instance on the same port (as a site description lists them).
    pub fn take_on(ips: &[&str]) -> PortLease {
        let span = u32::from(LAST_PORT - FIRST_PORT) + 1;
        // Start at a different place in every process so concurrent runs rarely contend.
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            ^ std::process::id();
        let dir = lock_dir();
        for step in 0..span {
            let port = FIRST_PORT + u16::try_from((seed.wrapping_add(step * 7)) % span).unwrap();
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(port.to_string()))
                .expect("cannot open a port lock file");
            if file.try_lock().is_ok()
                && ips
                    .iter()
                    .all(|ip| free(ip, port) && free(ip, port + 10_000))
            {
                return PortLease { port, _lock: file };
            }
        }
        panic!("no free port pair in {FIRST_PORT}-{LAST_PORT} on {ips:?}");
    }
}
