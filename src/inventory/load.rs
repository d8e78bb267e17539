//! Loading the inventory from Graph: applications and service principals, paged at once, each page reported as it
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

/// Load everything, calling `on_page` with each page of Graph objects as it arrives. Applications and service
/// principals are independent cursors, so both are paged at once: a cold load costs the slower of the two, not
/// their sum. Pages of the two interleave in arrival order; within one collection they stay in order.
pub async fn load_raw_streaming(
    client: &GraphClient,
    opts: LoadOptions,
    mut on_page: impl FnMut(RawPage, Progress),
) -> Result<usize, GraphError> {
    use futures::StreamExt;
    let apps = pages(client.applications(), |page| {
        (
            page.number,
            page.next_link.is_some(),
            RawPage::Applications(page.value),
        )
    });
    let sps = if opts.service_principals {
        pages(client.service_principals(), |page| {
            let value: Vec<ServicePrincipal> =
                page.value.into_iter().filter(has_credentials).collect();
            (
                page.number,
                page.next_link.is_some(),
                RawPage::ServicePrincipals(value),
            )
        })
        .boxed()
    } else {
        futures::stream::empty().boxed()
    };
    let mut both = futures::stream::select(apps.boxed(), sps);
    let mut total = 0usize;
    while let Some(item) = both.next().await {
        let (number, more, page) = item?;
        let (kind, items) = match &page {
            RawPage::Applications(a) => (ObjectType::Application, a.len()),
            RawPage::ServicePrincipals(s) => (ObjectType::ServicePrincipal, s.len()),
        };
        total += items;
        let progress = Progress::Page {
            kind,
            page: number,
            items,
            total_so_far: total,
            more,
        };
        on_page(page, progress);
    }
    Ok(total)
}

/// A pager as a stream of its pages, each mapped by `map` (which runs as the page arrives).
fn pages<T, R>(
    pager: crate::graph::client::Pager<T>,
    map: impl Fn(crate::graph::client::Page<T>) -> R + Copy + Send + 'static,
) -> impl futures::Stream<Item = Result<R, GraphError>> + Send
where
    T: serde::de::DeserializeOwned + Send + 'static,
    R: Send,
{
    futures::stream::unfold(Some(pager), move |state| {
        let map = map;
        async move {
            let mut pager = state?;
            match pager.next_page().await? {
                Ok(page) => Some((Ok(map(page)), Some(pager))),
                // Stop this cursor after reporting its error; the caller stops at the first error anyway.
                Err(e) => Some((Err(e), None)),
            }
        }
    })
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
