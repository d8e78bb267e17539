//! Loading the inventory from Graph: applications, then service principals, page by page, each page reported as it
//! arrives so a UI can show the first screen after the first page.
use super::Entry;
use crate::graph::{Application, GraphClient, GraphError, ObjectType, ServicePrincipal};

/// What has been loaded so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Page `page` of applications or service principals arrived with `items` entries; `more` when a nextLink follows.
    Page {
        kind: ObjectType,
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

/// A page of Graph objects as they came.
#[derive(Debug, Clone)]
pub enum RawPage {
    Applications(Vec<Application>),
    ServicePrincipals(Vec<ServicePrincipal>),
}

impl RawPage {
    /// The inventory entries of this page. Only service principals that carry credentials of their own matter;
    /// most carry none.
    pub fn into_entries(self) -> Vec<Entry> {
        match self {
            RawPage::Applications(apps) => apps.into_iter().map(Entry::from_application).collect(),
            RawPage::ServicePrincipals(sps) => sps
                .into_iter()
                .filter(has_credentials)
                .map(Entry::from_service_principal)
                .collect(),
        }
    }
}

pub fn has_credentials(sp: &ServicePrincipal) -> bool {
    !sp.password_credentials.is_empty() || !sp.key_credentials.is_empty()
}

/// Load everything, calling `on_page` with each page of Graph objects as it arrives.
pub async fn load_raw_streaming(
    client: &GraphClient,
    opts: LoadOptions,
    mut on_page: impl FnMut(RawPage, Progress),
) -> Result<usize, GraphError> {
    let mut total = 0usize;
    let mut apps = client.applications();
    while let Some(page) = apps.next_page().await {
        let page = page?;
        total += page.value.len();
        let progress = Progress::Page {
            kind: ObjectType::Application,
            page: page.number,
            items: page.value.len(),
            total_so_far: total,
            more: page.next_link.is_some(),
        };
        on_page(RawPage::Applications(page.value), progress);
    }
    if opts.service_principals {
        let mut sps = client.service_principals();
        while let Some(page) = sps.next_page().await {
            let page = page?;
            let value: Vec<ServicePrincipal> =
                page.value.into_iter().filter(has_credentials).collect();
            total += value.len();
            let progress = Progress::Page {
                kind: ObjectType::ServicePrincipal,
                page: page.number,
                items: value.len(),
                total_so_far: total,
                more: page.next_link.is_some(),
            };
            on_page(RawPage::ServicePrincipals(value), progress);
        }
    }
    Ok(total)
}

/// Load everything, calling `on_page` with each page's entries as they arrive.
pub async fn load_streaming(
    client: &GraphClient,
    opts: LoadOptions,
    mut on_page: impl FnMut(Vec<Entry>, Progress),
) -> Result<usize, GraphError> {
    load_raw_streaming(client, opts, |page, progress| {
        on_page(page.into_entries(), progress)
    })
    .await
}

/// Load everything into one list.
pub async fn load_all(client: &GraphClient, opts: LoadOptions) -> Result<Vec<Entry>, GraphError> {
    let mut all = Vec::new();
    load_streaming(client, opts, |entries, _| all.extend(entries)).await?;
    Ok(all)
}
