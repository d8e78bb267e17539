//! Loading the inventory from Graph: applications, then service principals, page by page, each page reported as it
//! arrives so a UI can show the first screen after the first page.
use super::Entry;
use crate::graph::{GraphClient, GraphError};

/// What has been loaded so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Page `page` of applications or service principals arrived with `items` entries; `more` when a nextLink follows.
    Page {
        kind: crate::graph::ObjectType,
        page: u32,
        items: usize,
        total_so_far: usize,
        more: bool,
    },
}

/// Which collections to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub service_principals: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            service_principals: true,
        }
    }
}

/// Load everything, calling `on_page` with each page's entries as they arrive.
pub async fn load_streaming(
    client: &GraphClient,
    opts: LoadOptions,
    mut on_page: impl FnMut(Vec<Entry>, Progress),
) -> Result<usize, GraphError> {
    let mut total = 0usize;
    let mut apps = client.applications();
    while let Some(page) = apps.next_page().await {
        let page = page?;
        let entries: Vec<Entry> = page
            .value
            .into_iter()
            .map(Entry::from_application)
            .collect();
        total += entries.len();
        let progress = Progress::Page {
            kind: crate::graph::ObjectType::Application,
            page: page.number,
            items: entries.len(),
            total_so_far: total,
            more: page.next_link.is_some(),
        };
        on_page(entries, progress);
    }
    if opts.service_principals {
        let mut sps = client.service_principals();
        while let Some(page) = sps.next_page().await {
            let page = page?;
            // Only service principals that carry credentials of their own matter here; most carry none.
            let entries: Vec<Entry> = page
                .value
                .into_iter()
                .filter(|sp| !sp.password_credentials.is_empty() || !sp.key_credentials.is_empty())
                .map(Entry::from_service_principal)
                .collect();
            total += entries.len();
            let progress = Progress::Page {
                kind: crate::graph::ObjectType::ServicePrincipal,
                page: page.number,
                items: entries.len(),
                total_so_far: total,
                more: page.next_link.is_some(),
            };
            on_page(entries, progress);
        }
    }
    Ok(total)
}

/// Load everything into one list.
pub async fn load_all(client: &GraphClient, opts: LoadOptions) -> Result<Vec<Entry>, GraphError> {
    let mut all = Vec::new();
    load_streaming(client, opts, |entries, _| all.extend(entries)).await?;
    Ok(all)
}
