//! Azure clouds: which Graph resource a token names and which Key Vault domains are Microsoft's.
//!
//! A token's scope names the resource, never the URL it travels to: a proxy, an API gateway or the emulator may
//! serve Graph, and Entra only knows the real resource identifiers. So the Graph scope comes from the cloud:
//! - the Graph URL's host is a known Graph host (a national cloud's Graph, or DoD's): its origin is the resource;
//! - otherwise (any other host, loopback included) the default Graph of the authority's cloud;
//! - a `graph_scope` profile key overrides both.
//!
//! | cloud | authority host | Graph resource | Key Vault domain |
//! |---|---|---|---|
//! | public | login.microsoftonline.com | https://graph.microsoft.com | vault.azure.net |
//! | US Gov (GCC High) | login.microsoftonline.us | https://graph.microsoft.us | vault.usgovcloudapi.net |
//! | US Gov DoD | login.microsoftonline.us | https://dod-graph.microsoft.us | vault.usgovcloudapi.net |
//! | China (21Vianet) | login.chinacloudapi.cn | https://microsoftgraph.chinacloudapi.cn | vault.azure.cn |
//! | Germany (retired) | login.microsoftonline.de | https://graph.microsoft.de | vault.microsoftazure.de |
use url::Url;

/// One national cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloud {
    pub name: &'static str,
    pub authority_host: &'static str,
    /// The Graph resource this cloud's authority defaults to.
    pub graph_resource: &'static str,
    pub vault_domain: &'static str,
}

pub const PUBLIC: Cloud = Cloud {
    name: "public",
    authority_host: "login.microsoftonline.com",
    graph_resource: "https://graph.microsoft.com",
    vault_domain: "vault.azure.net",
};

/// The clouds keyed by authority host. US Gov's authority defaults to GCC High's Graph; DoD's Graph is recognised
/// by its host ([`GRAPH_HOSTS`]).
pub const CLOUDS: [Cloud; 4] = [
    PUBLIC,
    Cloud {
        name: "usgov",
        authority_host: "login.microsoftonline.us",
        graph_resource: "https://graph.microsoft.us",
        vault_domain: "vault.usgovcloudapi.net",
    },
    Cloud {
        name: "china",
        authority_host: "login.chinacloudapi.cn",
        graph_resource: "https://microsoftgraph.chinacloudapi.cn",
        vault_domain: "vault.azure.cn",
    },
    Cloud {
        name: "germany",
        authority_host: "login.microsoftonline.de",
        graph_resource: "https://graph.microsoft.de",
        vault_domain: "vault.microsoftazure.de",
    },
];

/// Hosts that are a Graph resource themselves: a Graph URL on one of them names its own resource.
pub const GRAPH_HOSTS: [&str; 5] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
    "graph.microsoft.de",
];

fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    })
}

/// The cloud of an authority host URL (`https://login.microsoftonline.us`); public for any other host.
pub fn cloud_of_authority(authority_host: &str) -> Cloud {
    let host = host_of(authority_host).unwrap_or_default();
    CLOUDS
        .into_iter()
        .find(|c| c.authority_host == host)
        .unwrap_or(PUBLIC)
}

/// The scope of Graph tokens (`https://graph.microsoft.com/.default`), by the rules in the module documentation.
pub fn graph_scope(authority_host: &str, graph_url: &str, configured: Option<&str>) -> String {
    if let Some(s) = configured.map(str::trim).filter(|s| !s.is_empty()) {
        return if s.ends_with("/.default") {
            s.to_string()
        } else {
            format!("{}/.default", s.trim_end_matches('/'))
        };
    }
    let resource = match host_of(graph_url) {
        Some(h) if GRAPH_HOSTS.contains(&h.as_str()) => format!("https://{h}"),
        _ => cloud_of_authority(authority_host)
            .graph_resource
            .to_string(),
    };
    format!("{resource}/.default")
}

/// True for a loopback host: 127.0.0.0/8, ::1, localhost.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Why a vault URL is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultUrlError {
    #[error("{url:?} is not a URL: give a vault URL such as https://myvault.vault.azure.net")]
    NotAUrl { url: String },
    #[error(
        "vault URL {url:?} is not https: Key Vault is only reachable over https (https://myvault.vault.azure.net)"
    )]
    NotHttps { url: String },
    #[error(
        "vault URL {url:?} is not on a Key Vault domain (vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net, \
         vault.microsoftazure.de): keyturn will not send a new client secret there. If this host really is your \
         vault (a private endpoint name, a proxy), add it to the profile's allow_vault_hosts"
    )]
    OffDomain { url: String },
}

/// A vault URL may receive secrets when it is https and its host is a subdomain of a known cloud's Key Vault
/// domain, loopback (the emulator), or listed in `allowed_hosts` (exact host names, case-insensitive).
pub fn check_vault_url(url: &str, allowed_hosts: &[String]) -> Result<(), VaultUrlError> {
    let parsed = Url::parse(url).map_err(|_| VaultUrlError::NotAUrl {
        url: url.to_string(),
    })?;
    if parsed.scheme() != "https" {
        return Err(VaultUrlError::NotHttps {
            url: url.to_string(),
        });
    }
    let host = parsed
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let on_domain = CLOUDS.iter().any(|c| {
        host.strip_suffix(c.vault_domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
    });
    let allowed = allowed_hosts
        .iter()
        .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(&host));
    if on_domain || allowed || is_loopback_host(&host) {
        Ok(())
    } else {
        Err(VaultUrlError::OffDomain {
            url: url.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_graph_asks_for_the_authoritys_graph() {
        assert_eq!(
            graph_scope("https://127.0.0.1:4443", "https://127.0.0.1:4443", None),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            graph_scope(
                "https://login.microsoftonline.com",
                "https://proxy.corp.example",
                None
            ),
            "https://graph.microsoft.com/.default"
        );
    }

    #[test]
    fn each_national_cloud() {
        let cases = [
            (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
                "https://graph.microsoft.com/.default",
            ),
            (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
                "https://graph.microsoft.us/.default",
            ),
            (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us/",
                "https://dod-graph.microsoft.us/.default",
            ),
            (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
            (
                "https://login.microsoftonline.de",
                "https://graph.microsoft.de",
                "https://graph.microsoft.de/.default",
            ),
            // Graph behind a gateway: the authority's cloud decides.
            (
                "https://login.microsoftonline.us",
                "https://gw.agency.example",
                "https://graph.microsoft.us/.default",
            ),
            (
                "https://login.chinacloudapi.cn/",
                "https://127.0.0.1:9",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
        ];
        for (authority, graph, want) in cases {
            assert_eq!(
                graph_scope(authority, graph, None),
                want,
                "{authority} {graph}"
            );
        }
    }

    #[test]
    fn the_profile_key_overrides() {
        assert_eq!(
            graph_scope(
                "https://127.0.0.1:1",
                "https://127.0.0.1:1",
                Some("https://graph.microsoft.us")
            ),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            graph_scope(
                "https://a",
                "https://b",
                Some("00000003-0000-0000-c000-000000000000/.default")
            ),
            "00000003-0000-0000-c000-000000000000/.default"
        );
    }

    #[test]
    fn vault_urls() {
        let none: &[String] = &[];
        for ok in [
            "https://kv-payroll.vault.azure.net",
            "https://kv.vault.azure.cn/",
            "https://kv.vault.usgovcloudapi.net",
            "https://kv.vault.microsoftazure.de",
            "https://127.0.0.1:8443",
            "https://localhost:1",
            "https://[::1]:2",
        ] {
            assert_eq!(check_vault_url(ok, none), Ok(()), "{ok}");
        }
        for off in [
            "https://vault.azure.net.evil.test",
            "https://evilvault.azure.net",
            "https://vault.azure.net",
            "https://attacker.example",
        ] {
            assert!(
                matches!(
                    check_vault_url(off, none),
                    Err(VaultUrlError::OffDomain { .. })
                ),
                "{off}"
            );
        }
        assert!(matches!(
            check_vault_url("http://kv.vault.azure.net", none),
            Err(VaultUrlError::NotHttps { .. })
        ));
        assert_eq!(
            check_vault_url("https://KV.Private.Corp", &["kv.private.corp".to_string()]),
            Ok(())
        );
    }
}
