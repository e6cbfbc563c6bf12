//! `[web]`: the agent's HTTP server (`/metrics`, `/api/monitor/health`, the JSON API).
//!
//! It listens on loopback by default. Any other address needs a `token` (sent by clients as
//! `Authorization: Bearer TOKEN`) or `leakhound run --insecure-public`; `allow` limits the
//! client addresses either way (GUIDE §1: "add an IP allowlist or basic auth").
//!
//! ```toml
//! [web]
//! listen = "0.0.0.0:9466"
//! token = "${LEAKHOUND_WEB_TOKEN}"
//! allow = ["10.0.0.0/8", "192.168.1.20"]
//! guide_metrics = true   # also export oneapi_goroutines / oneapi_memory_mb
//! ```

use super::walk::{Ctx, Table};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use toml::de::DeValue;

/// Where the agent's HTTP server listens when `[web] listen` is not set.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9466);

/// The validated `[web]` section.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct WebConfig {
    /// `false` runs the agent without any HTTP server.
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Whether `listen` was written in the file (a busy default port is only a warning).
    #[serde(skip)]
    pub listen_set: bool,
    /// The bearer token every request must carry; never shown.
    #[serde(skip)]
    pub token: Option<String>,
    /// Client addresses allowed to connect; empty means any (that passes the token check).
    pub allow: Vec<IpNet>,
    /// Also export the guide's `oneapi_goroutines` and `oneapi_memory_mb` (GUIDE §5).
    pub guide_metrics: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen: DEFAULT_LISTEN,
            listen_set: false,
            token: None,
            allow: Vec::new(),
            guide_metrics: false,
        }
    }
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("allow", &self.allow)
            .field("guide_metrics", &self.guide_metrics)
            .finish()
    }
}

impl WebConfig {
    /// Whether `ip` may connect (always, when there is no allowlist).
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(ip))
    }

    /// Whether the listen address is reachable from other machines.
    pub fn is_public(&self) -> bool {
        !self.listen.ip().is_loopback()
    }
}

/// An address or a network in CIDR notation: `10.0.0.0/8`, `192.168.1.20`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let fix = "write an address or a network, e.g. '10.0.0.0/8', '192.168.1.20' or '::1'";
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address; {fix}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(format!(
                        "'{text}' has a bad prefix length (0 to {max} for this address); {fix}"
                    ))
                }
            },
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client seen on an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read `[web]` from the root table.
pub(super) fn read_web(ctx: &mut Ctx<'_>, root: &mut Table<'_, '_>) -> WebConfig {
    let mut config = WebConfig::default();
    let Some(mut t) = root.table(ctx, "web") else {
        return config;
    };
    t.set_bool(ctx, "enabled", &mut config.enabled);
    if let Some(addr) = t.parsed(ctx, "listen", parse_listen) {
        config.listen = addr;
        config.listen_set = true;
    }
    if let Some(token) = t.string(ctx, "token") {
        if token.trim().is_empty() {
            t.error_at(
                ctx,
                "token",
                "the token is empty; set it to a long random string (e.g. `openssl rand -hex 32`), or remove the key".into(),
            );
        } else {
            config.token = Some(token);
        }
    }
    if let Some(items) = t.array(ctx, "allow") {
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => match IpNet::parse(s) {
                    Ok(net) => config.allow.push(net),
                    Err(msg) => ctx.error(item.span().start, &t.path_of("allow"), msg),
                },
                _ => ctx.error(
                    item.span().start,
                    &t.path_of("allow"),
                    "expected addresses in quotes, e.g. allow = [\"10.0.0.0/8\", \"127.0.0.1\"]"
                        .into(),
                ),
            }
        }
    }
    t.set_bool(ctx, "guide_metrics", &mut config.guide_metrics);
    t.finish(ctx);
    config
}

/// `127.0.0.1:9466`, `[::1]:9466`, `0.0.0.0:9466`, or `:9466` (loopback, that port).
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let fix = "write an address and port, e.g. '127.0.0.1:9466' (this machine only) or '0.0.0.0:9466' (every interface, needs a token)";
    if let Some(port) = text.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| format!("'{text}' has a bad port; {fix}"));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("'{text}' is not an address with a port; {fix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigErrors};

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, &|name| {
            (name == "TOKEN").then(|| "s3cret".to_string())
        })
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let web = parse("").unwrap().web;
        assert!(web.enabled);
        assert_eq!(web.listen.to_string(), "127.0.0.1:9466");
        assert!(!web.listen_set);
        assert!(!web.is_public());
        assert!(web.allows("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn a_full_section_parses_and_hides_the_token() {
        let web = parse(
            "[web]\nlisten = \"0.0.0.0:9000\"\ntoken = \"${TOKEN}\"\nallow = [\"10.0.0.0/8\", \"::1\"]\nguide_metrics = true\n",
        )
        .unwrap()
        .web;
        assert_eq!(web.listen.to_string(), "0.0.0.0:9000");
        assert!(web.listen_set && web.is_public() && web.guide_metrics);
        assert_eq!(web.token.as_deref(), Some("s3cret"));
        assert!(!format!("{web:?}").contains("s3cret"));
        assert!(web.allows("10.1.2.3".parse().unwrap()));
        assert!(web.allows("::ffff:10.1.2.3".parse().unwrap()));
        assert!(web.allows("::1".parse().unwrap()));
        assert!(!web.allows("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn port_only_means_loopback() {
        let web = parse("[web]\nlisten = \":9500\"\n").unwrap().web;
        assert_eq!(web.listen.to_string(), "127.0.0.1:9500");
    }

    #[test]
    fn every_mistake_is_reported_with_line_and_fix() {
        let errors = parse(
            "[web]\nlisten = \"localhost\"\ntoken = \"\"\nallow = [\"10.0.0.0/33\", \"nope\", 7]\nguide_metrics = \"yes\"\nlisen = 1\n",
        )
        .unwrap_err()
        .0;
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 7, "{shown:#?}");
        assert!(shown[0].starts_with("2:10: web.listen: 'localhost' is not an address with a port; write an address and port, e.g. '127.0.0.1:9466'"), "{}", shown[0]);
        assert!(
            shown[1].starts_with("3:9: web.token: the token is empty"),
            "{}",
            shown[1]
        );
        assert!(
            shown[2].starts_with("4:10: web.allow: '10.0.0.0/33' has a bad prefix length (0 to 32"),
            "{}",
            shown[2]
        );
        assert!(
            shown[3].starts_with("4:25: web.allow: 'nope' is not an IP address"),
            "{}",
            shown[3]
        );
        assert!(
            shown[4].starts_with("4:33: web.allow: expected addresses in quotes"),
            "{}",
            shown[4]
        );
        assert_eq!(
            shown[5],
            "5:17: web.guide_metrics: 'yes' is a string, expected true or false (without quotes)"
        );
        assert!(
            shown[6].starts_with("6:1: web.lisen: unknown key 'lisen'; did you mean 'listen'?"),
            "{}",
            shown[6]
        );
    }

    #[test]
    fn networks_match_by_prefix() {
        let net = IpNet::parse("192.168.1.0/24").unwrap();
        assert!(net.contains("192.168.1.200".parse().unwrap()));
        assert!(!net.contains("192.168.2.1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(!IpNet::parse("fd00::/8")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
    }
}
