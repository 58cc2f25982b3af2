//! Test worlds for the end-to-end tests of every tool: real `redis-server` processes on
//! loopback addresses that stand for separate hosts, and network namespaces for tests that
//! need real links. Everything a test starts is stopped and removed when its guard drops,
//! also when the test fails; ports and names are chosen so concurrent test runs never collide.

mod netns;
mod ports;
mod redis;

pub use netns::{require_root, run, Netns};
pub use ports::PortLease;
pub use redis::{RedisConfig, RedisInstance};

/// Starts `count` cluster-enabled instances, spread round-robin over 127.0.0.1, .2 and .3
/// (three "hosts"), all with `config`. The instances start in parallel.
pub fn start_instances(count: usize, config: &RedisConfig) -> Vec<RedisInstance> {
    let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let ip = hosts[i % hosts.len()];
                scope.spawn(move || RedisInstance::start(ip, config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Starts one instance on each of `ips`, all on the same leased port: the layout of a site
/// description, where every host runs an instance on each listed port.
pub fn start_on_shared_port(ips: &[&str], config: &RedisConfig) -> Vec<RedisInstance> {
    let lease = std::sync::Arc::new(PortLease::take_on(ips));
    std::thread::scope(|scope| {
        let handles: Vec<_> = ips
            .iter()
            .map(|ip| {
                let lease = lease.clone();
                scope.spawn(move || RedisInstance::start_on(ip, lease, config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
