//! The configuration files of one host's Redis instances, rendered from the site description.
//!
//! The how-to writes one redis-NNNN.conf per port by hand; the FreeBSD staging script, the
//! namespace lab and the loopback demo all need the same file, differing only in where data,
//! pid and log files go. This module is that file's one renderer: [`InstanceConf`] holds the
//! settings of one instance and renders them, [`host_files`] decides them for every port of a
//! host in a [`Layout`] and lists the files and directories to create. Nothing here writes.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The settings of one instance that differ between hosts, ports and layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConf {
    pub port: u16,
    /// Addresses to listen on: the cluster address first, then any others (the internal
    /// address, for the admins the firewall lets in).
    pub bind: Vec<IpAddr>,
    /// What the peers learn as this node's address (`cluster-announce-ip`).
    pub announce_ip: IpAddr,
    pub node_timeout_ms: u64,
    /// The data directory (`dir`), where nodes.conf and the append-only file live.
    pub dir: PathBuf,
    pub pidfile: PathBuf,
    /// Absent: Redis's default (standard output, discarded when daemonized).
    pub logfile: Option<PathBuf>,
    pub daemonize: bool,
}

impl InstanceConf {
    /// The redis.conf text, one directive per line.
    ///
    /// `cluster-announce-ip` makes the peers learn the bound address whatever address this
    /// host's connections leave from (the how-to's VIP problem). `protected-mode no`: Redis 7
    /// refuses clients from other hosts when no password is set; the firewall decides who
    /// reaches the ports.
    pub fn render(&self) -> String {
        let bind: Vec<String> = self.bind.iter().map(IpAddr::to_string).collect();
        let mut text = String::new();
        let mut line = |directive: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(text, "{directive} {value}");
        };
        line("port", &self.port);
        line("bind", &bind.join(" "));
        line("cluster-enabled", &"yes");
        line("cluster-config-file", &"nodes.conf");
        line("cluster-node-timeout", &self.node_timeout_ms);
        line("cluster-announce-ip", &self.announce_ip);
        line("protected-mode", &"no");
        line("appendonly", &"yes");
        line("dir", &self.dir.display());
        line("pidfile", &self.pidfile.display());
        if let Some(logfile) = &self.logfile {
            line("logfile", &logfile.display());
        }
        line("daemonize", &if self.daemonize { "yes" } else { "no" });
        text
    }
}

/// Where a host's instance files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The how-to's FreeBSD host: /usr/local/etc/redis-PORT.conf, data in
    /// /var/db/redis/PORT, pid files in /var/run/redis, and /etc/rc.conf.d/redis with one
    /// rc profile per port. The directories belong to the `redis` user.
    FreeBsd,
    /// Instances started by hand under one directory (the demo, the lab):
    /// DIR/HOST/redis-PORT.conf, with data, pid and log file in DIR/HOST/PORT.
    Local(PathBuf),
}

/// A file to write whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Absolute path on the host.
    pub path: PathBuf,
    /// Permission bits, in octal as chmod takes them ("0644").
    pub mode: String,
    /// The whole content.
    pub content: String,
}

/// A directory to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    /// Absolute path on the host.
    pub path: PathBuf,
    /// Permission bits, in octal as chmod takes them ("0750").
    pub mode: String,
    /// The user (and group of the same name) that should own it; absent: whoever creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Everything a host needs for its instances, in the order to create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFiles {
    /// The host's name in the site.
    pub host: String,
    pub files: Vec<FileEntry>,
    pub directories: Vec<DirEntry>,
}

impl HostFiles {
    /// The files as text for a person: each under a `==> PATH (mode MODE)` header, then the
    /// directories, one per line.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for file in &self.files {
            let _ = writeln!(text, "==> {} (mode {})", file.path.display(), file.mode);
            text.push_str(&file.content);
        }
        for dir in &self.directories {
            let _ = write!(
                text,
                "==> {}/ (directory, mode {}",
                dir.path.display(),
                dir.mode
            );
            if let Some(owner) = &dir.owner {
                let _ = write!(text, ", owner {owner}:{owner}");
            }
            text.push_str(")\n");
        }
        text
    }
}

/// The instance files of host `name` in `layout`: one configuration per port of the cluster,
/// bound to the host's `bind_interface` address and, when the firewall names a different
/// internal interface, to the host's address there too.
pub fn host_files(
    site: &site::Site,
    name: &str,
    layout: &Layout,
) -> Result<HostFiles, site::SiteError> {
    let host = site.host(name)?;
    // A validated site gives every host an address on bind_interface.
    let cluster_addr = host.addresses[&site.cluster.bind_interface].addr();
    let mut bind = vec![cluster_addr];
    if let Some(firewall) = &site.firewall {
        if firewall.internal_interface != site.cluster.bind_interface {
            bind.extend(
                host.address(&firewall.internal_interface)
                    .map(site::Cidr::addr),
            );
        }
    }
    let mut files = Vec::new();
    let mut directories = Vec::new();
    for &port in &site.cluster.ports {
        let (path, conf) = match layout {
            Layout::FreeBsd => (
                PathBuf::from(format!("/usr/local/etc/redis-{port}.conf")),
                InstanceConf {
                    port,
                    bind: bind.clone(),
                    announce_ip: cluster_addr,
                    node_timeout_ms: site.cluster.node_timeout_ms,
                    dir: PathBuf::from(format!("/var/db/redis/{port}")),
                    pidfile: PathBuf::from(format!("/var/run/redis/redis-{port}.pid")),
                    logfile: None,
                    daemonize: true,
                },
            ),
            Layout::Local(root) => {
                let dir = root.join(&host.name).join(port.to_string());
                (
                    root.join(&host.name).join(format!("redis-{port}.conf")),
                    InstanceConf {
                        port,
                        bind: bind.clone(),
                        announce_ip: cluster_addr,
                        node_timeout_ms: site.cluster.node_timeout_ms,
                        pidfile: dir.join("redis.pid"),
                        logfile: Some(dir.join("redis.log")),
                        dir,
                        daemonize: true,
                    },
                )
            }
        };
        directories.push(directory(&conf.dir, layout));
        files.push(FileEntry {
            path,
            mode: "0644".into(),
            content: conf.render(),
        });
    }
    if *layout == Layout::FreeBsd {
        directories.push(directory(Path::new("/var/run/redis"), layout));
        let profiles: Vec<String> = site.cluster.ports.iter().map(u16::to_string).collect();
        files.push(FileEntry {
            path: PathBuf::from("/etc/rc.conf.d/redis"),
            mode: "0644".into(),
            content: format!(
                "redis_enable=\"YES\"\nredis_profiles=\"{}\"\n",
                profiles.join(" ")
            ),
        });
    }
    Ok(HostFiles {
        host: host.name.clone(),
        files,
        directories,
    })
}

/// A directory of `layout`: the redis user's on FreeBSD, the caller's otherwise.
fn directory(path: &Path, layout: &Layout) -> DirEntry {
    DirEntry {
        path: path.to_path_buf(),
        mode: "0750".into(),
        owner: (*layout == Layout::FreeBsd).then(|| "redis".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(firewall: bool) -> site::Site {
        let firewall = if firewall {
            r#", "firewall": {"internal_interface": "em0", "allow_file": "/etc/redis_allow",
                 "allow": ["192.168.1.50"], "client_ports": [7000, 7100]}"#
        } else {
            ""
        };
        let text = format!(
            r#"{{"schema": 1,
              "cluster": {{"replicas": 1, "node_timeout_ms": 5000, "ports": [7000, 7001],
                          "bind_interface": "em1"}}{firewall},
              "hosts": [
                {{"name": "redis1", "advskew": 0,
                  "addresses": {{"em0": "192.168.1.11/24", "em1": "10.0.10.11/24"}}}},
                {{"name": "redis2", "advskew": 100,
                  "addresses": {{"em0": "192.168.1.12/24", "em1": "10.0.10.12/24"}}}},
                {{"name": "redis3", "advskew": 200,
                  "addresses": {{"em0": "192.168.1.13/24", "em1": "10.0.10.13/24"}}}}]}}"#
        );
        site::Site::parse(&text, "test").unwrap()
    }

    #[test]
    fn the_freebsd_host_gets_the_howtos_file_per_port_and_its_rc_profiles() {
        let files = host_files(&site(true), "redis2", &Layout::FreeBsd).unwrap();
        let paths: Vec<_> = files.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            paths,
            [
                "/usr/local/etc/redis-7000.conf",
                "/usr/local/etc/redis-7001.conf",
                "/etc/rc.conf.d/redis"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(
            files.files[1].content,
            "port 7001\n\
             bind 10.0.10.12 192.168.1.12\n\
             cluster-enabled yes\n\
             cluster-config-file nodes.conf\n\
             cluster-node-timeout 5000\n\
             cluster-announce-ip 10.0.10.12\n\
             protected-mode no\n\
             appendonly yes\n\
             dir /var/db/redis/7001\n\
             pidfile /var/run/redis/redis-7001.pid\n\
             daemonize yes\n"
        );
        assert_eq!(
            files.files[2].content,
            "redis_enable=\"YES\"\nredis_profiles=\"7000 7001\"\n"
        );
        assert!(files.files.iter().all(|f| f.mode == "0644"));
        let dirs: Vec<_> = files
            .directories
            .iter()
            .map(|d| (d.path.display().to_string(), d.owner.as_deref()))
            .collect();
        assert_eq!(
            dirs,
            [
                ("/var/db/redis/7000".to_string(), Some("redis")),
                ("/var/db/redis/7001".to_string(), Some("redis")),
                ("/var/run/redis".to_string(), Some("redis")),
            ]
        );
    }

    #[test]
    fn a_local_layout_keeps_everything_of_a_host_under_its_directory() {
        let root = PathBuf::from("/srv/lab");
        let files = host_files(&site(false), "redis3", &Layout::Local(root)).unwrap();
        assert_eq!(files.files.len(), 2, "no rc file outside FreeBSD");
        let first = &files.files[0];
        assert_eq!(first.path, PathBuf::from("/srv/lab/redis3/redis-7000.conf"));
        // Without a firewall section there is no internal address to listen on.
        assert!(
            first.content.contains("\nbind 10.0.10.13\n"),
            "{}",
            first.content
        );
        assert!(first.content.contains("\ndir /srv/lab/redis3/7000\n"));
        assert!(first.content.contains(
            "\npidfile /srv/lab/redis3/7000/redis.pid\nlogfile /srv/lab/redis3/7000/redis.log\n"
        ));
        assert_eq!(
            files.directories,
            [7000, 7001].map(|port| DirEntry {
                path: PathBuf::from(format!("/srv/lab/redis3/{port}")),
                mode: "0750".into(),
                owner: None,
            })
        );
    }

    #[test]
    fn an_internal_interface_that_is_the_cluster_interface_is_not_bound_twice() {
        let mut site = site(true);
        site.firewall.as_mut().unwrap().internal_interface = "em1".into();
        let files = host_files(&site, "redis1", &Layout::FreeBsd).unwrap();
        assert!(files.files[0].content.contains("\nbind 10.0.10.11\n"));
    }

    #[test]
    fn an_unknown_host_names_the_known_ones() {
        let error = host_files(&site(true), "redis9", &Layout::FreeBsd).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown host 'redis9'; the site defines: redis1, redis2, redis3"
        );
    }

    #[test]
    fn the_text_form_heads_each_file_with_its_path_and_mode() {
        let files = host_files(&site(true), "redis1", &Layout::FreeBsd).unwrap();
        let text = files.text();
        assert!(text.starts_with("==> /usr/local/etc/redis-7000.conf (mode 0644)\nport 7000\n"));
        assert!(text.ends_with("==> /var/run/redis/ (directory, mode 0750, owner redis:redis)\n"));
    }

    #[test]
    fn the_json_form_names_path_mode_and_content() {
        let files = host_files(&site(false), "redis1", &Layout::Local("/x".into())).unwrap();
        let json = serde_json::to_value(&files).unwrap();
        assert_eq!(json["host"], "redis1");
        assert_eq!(json["files"][0]["path"], "/x/redis1/redis-7000.conf");
        assert_eq!(json["files"][0]["mode"], "0644");
        assert!(json["files"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("port 7000\n"));
        assert!(json["directories"][0].get("owner").is_none());
    }
}
