//! The typed settings of `carpctl run`, built from the command line or from the site JSON,
//! validated before anything touches the network, and the password file reader.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::error::Error;
use crate::wire::{Password, MAX_PASSWORD_LEN};

/// Default directory of state files and control sockets (FreeBSD: where `demote` keeps what it
/// added to the kernel's demotion).
pub const DEFAULT_STATE_DIR: &str = if cfg!(target_os = "freebsd") {
    "/var/run/carpctl"
} else {
    "/run/carpctl"
};

/// Everything `carpctl run` needs for one vhid.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub interface: String,
    pub vhid: u8,
    /// The virtual addresses with the prefix length they get on the interface; at least one
    /// is IPv4, since the advertisements travel over IPv4.
    pub vips: Vec<IpNet>,
    pub advbase: u8,
    pub advskew: u8,
    pub preempt: bool,
    /// Our source address; the interface's first IPv4 address when absent.
    pub src: Option<Ipv4Addr>,
    pub password: Password,
    /// Where the password came from: SIGHUP reads it again.
    pub pass_file: PathBuf,
    /// Interfaces whose loss demotes this node (the CARP interface always counts).
    pub track: Vec<String>,
    pub up_hook: Option<String>,
    pub down_hook: Option<String>,
    pub state_dir: PathBuf,
}

/// The values given on the command line, before validation.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub interface: String,
    pub vhid: u8,
    pub vips: Vec<IpNet>,
    pub advbase: u8,
    pub advskew: u8,
    pub preempt: bool,
    pub src: Option<Ipv4Addr>,
    pub track: Vec<String>,
}

/// A password and what the operator should hear about the file it came from.
pub struct PasswordFile {
    pub password: Password,
    pub warnings: Vec<String>,
}

/// Reads the first line of `path` as the password. Warns when others may read the file
/// and when it is longer than the 19 bytes FreeBSD keeps.
pub fn read_password(path: &Path) -> Result<PasswordFile, Error> {
    let file = toolkit::secret::read_password_file(path).map_err(Error::PassFile)?;
    let mut warnings = file.warnings;
    let line = file.password.as_bytes();
    if line.len() > MAX_PASSWORD_LEN {
        warnings.push(format!(
            "the password in '{}' is {} bytes long; only the first {MAX_PASSWORD_LEN} count, as on FreeBSD (ucarp refuses longer ones)",
            path.display(),
            line.len()
        ));
    }
    Ok(PasswordFile {
        password: Password::new(line),
        warnings,
    })
}

impl RunArgs {
    /// Checks ranges and address families; the error names the field and the value.
    pub fn validate(
        self,
        password: Password,
        pass_file: PathBuf,
        up_hook: Option<String>,
        down_hook: Option<String>,
        state_dir: PathBuf,
    ) -> Result<RunSettings, Error> {
        let invalid = |field, value: String, fix: &str| Error::Invalid {
            field,
            value,
            fix: fix.to_string(),
        };
        if self.vhid == 0 {
            return Err(invalid("vhid", "0".into(), "use a vhid from 1 to 255"));
        }
        if self.advbase == 0 {
            return Err(invalid(
                "advbase",
                "0".into(),
                "use an interval from 1 to 255 seconds",
            ));
        }
        if self.advskew == 255 {
            return Err(invalid(
                "advskew",
                "255".into(),
                "use a skew from 0 to 254 (255 marks a bow-out)",
            ));
        }
        if self.vips.is_empty() {
            return Err(invalid(
                "vip",
                String::new(),
                "give at least one --vip ADDR/PREFIX",
            ));
        }
        if !self.vips.iter().any(|v| matches!(v, IpNet::V4(_))) {
            return Err(invalid(
                "vip",
                self.vips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                "give at least one IPv4 --vip: advertisements travel over IPv4",
            ));
        }
        let vips = self.vips.clone();
        if let Some(src) = self.src {
            if vips.iter().any(|v| v.addr() == IpAddr::V4(src)) {
                return Err(invalid(
                    "src",
                    src.to_string(),
                    "the source must be the host's own address, not a virtual one",
                ));
            }
        }
        // The site crate's rule, so --interface, --track and carp.interface accept the
        // same names.
        for (field, name) in std::iter::once(("interface", &self.interface))
            .chain(self.track.iter().map(|t| ("track", t)))
        {
            if let Err(why) = site::check_interface_name(name) {
                return Err(invalid(
                    field,
                    name.escape_debug().to_string(),
                    &format!("{why}; give the name of the interface, like eth0"),
                ));
            }
        }
        Ok(RunSettings {
            interface: self.interface,
            vhid: self.vhid,
            vips,
            advbase: self.advbase,
            advskew: self.advskew,
            preempt: self.preempt,
            src: self.src,
            password,
            pass_file,
            track: self.track,
            up_hook,
            down_hook,
            state_dir,
        })
    }

    /// The settings of `host` in `site`: the carp section, the host's skew, and its address
    /// on the CARP interface as source. Returns the password file path with them.
    pub fn from_site(site: &site::Site, host: &str) -> Result<(RunArgs, PathBuf), Error> {
        let host = site.host(host)?;
        let carp = site.carp.as_ref().ok_or_else(|| Error::Invalid {
            field: "carp",
            value: String::new(),
            fix: "the site has no \"carp\" section; add one to run a virtual IP".into(),
        })?;
        let src = match host.address(&carp.interface).map(site::Cidr::addr) {
            Some(IpAddr::V4(a)) => a,
            other => {
                return Err(Error::Invalid {
                    field: "hosts[].addresses",
                    value: other.map(|a| a.to_string()).unwrap_or_default(),
                    fix: format!(
                        "host '{}' needs an IPv4 address on the CARP interface '{}'",
                        host.name, carp.interface
                    ),
                })
            }
        };
        Ok((
            RunArgs {
                interface: carp.interface.clone(),
                vhid: carp.vhid,
                vips: vec![carp.vip.0],
                advbase: carp.advbase,
                advskew: host.advskew,
                preempt: carp.preempt,
                src: Some(src),
                track: Vec::new(),
            },
            carp.pass_file.clone(),
        ))
    }
}

impl RunSettings {
    /// The addresses the HMAC covers: the virtual addresses without prefix.
    pub fn hashed_addresses(&self) -> Vec<IpAddr> {
        self.vips.iter().map(IpNet::addr).collect()
    }
}

#[cfg(test)]
mod tests;
