//! The table: which fixture maps to which emulator request and client model, and what is checked.
use super::*;

/// What a fixture is used for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Claim {
    /// A response example: the emulator's answer to `req` has the same shape; `same` lists JSON pointers whose
    /// values must be equal (where Microsoft's service is exact); `model` parses the example and the emulator's
    /// answer. `repair` turns an annotated block into JSON first (each replacement must apply).
    Response {
        req: Req,
        mode: Mode,
        allow: &'static [Allow],
        same: &'static [&'static str],
        model: Model,
        repair: &'static [(&'static str, &'static str)],
    },
    /// Microsoft's "JSON representation" of a resource, values written as type names ("String (timestamp)",
    /// "Guid", "Binary"): every object the emulator returns for `req` has exactly these properties, of these
    /// types. An `@odata.type` line names the resource and is not on the wire for a non-polymorphic value.
    Representation { req: Req, model: Model },
    /// A definition of the Key Vault OpenAPI excerpt: every object the emulator returns for `req` has only
    /// declared properties, of the declared types.
    OpenApi { req: Req },
    /// A request example: the emulator accepts it verbatim (`req` sends it) and `model` (the client) either parses
    /// it or sends a request of the same shape.
    Request { req: Req, model: Model },
    /// Not comparable with the emulator (see `reason`); still parsed by `model` where keyturn has one.
    NotApplicable { reason: &'static str, model: Model },
    /// Microsoft's type notation or an abbreviation, not JSON; `reason` says where its content is tested.
    Notation { reason: &'static str },
}

/// A client model that reads a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Model {
    None,
    /// `{value:[appCredentialSignInActivity]}` through `GraphClient::credential_sign_ins` (beta).
    CredentialSignIns,
    /// `{value:[servicePrincipalSignInActivity]}` through `GraphClient::app_sign_ins` (beta).
    AppSignIns,
    /// `{value:[appRoleAssignment]}` through `GraphClient::app_role_assignments`.
    AppRoleAssignments,
    /// `tenantAppManagementPolicy` through `GraphClient::default_app_management_policy`.
    TenantAppManagementPolicy,
    /// `{value:[appManagementPolicy]}` through `GraphClient::app_management_policies`.
    AppManagementPolicies,
    /// A beta report's 403 through `GraphClient::credential_sign_ins`: last use unavailable, not a failure.
    LastUseUnavailable,
    /// A resource service principal's `appRoles` through `GraphClient::resource_app_roles`.
    ResourceAppRoles,
    /// `{value:[application]}` through `GraphClient`'s pager and `keyturn::graph::Application`.
    ApplicationPage,
    /// `{value:[owner]}` through `GraphClient::owners` (`keyturn::graph::Owner`).
    OwnersPage,
    /// `{value:[directoryAudit]}` through `GraphClient::audit_events`.
    AuditPage,
    /// The addPassword answer through `GraphClient::add_password`.
    NewPassword,
    /// `keyturn::graph::ModifiedProperty` and the KeyDescription decoder.
    ModifiedProperty,
    /// `keyturn::graph::AppIdentity`.
    AppIdentity,
    /// A Graph error body with this status, through `GraphClient`'s error mapping.
    GraphError(u16),
    /// The body `GraphClient::add_password` / `remove_password` sends has the example's shape.
    AddPasswordRequest,
    RemovePasswordRequest,
    /// `azure_security_keyvault_secrets` models.
    KvSecret,
    KvListResult,
    KvError,
    KvSetParameters,
    KvUpdateParameters,
    /// azure_identity's client-secret credential reading a token-endpoint answer with this status.
    Token(u16),
}

/// A request to the emulator (executed once per suite run by [`Lab`]); what is compared is the body, or the part
/// of it the variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Req {
    /// `GET /applications` (Microsoft's example 1; the demo tenant fits in the default page of 100).
    ListApplications,
    /// Microsoft's example 3: `startswith`, `$count`, `$top=1`, `$orderby`, ConsistencyLevel; the letter is 'h'
    /// so that the one match of the demo tenant has identifierUris, like the example's.
    ListApplicationsCounted,
    /// Every passwordCredential of every application (`GET /applications?$top=999`), one sample each.
    PasswordCredentials,
    /// Every keyCredential of every application and service principal.
    KeyCredentials,
    /// `GET /servicePrincipals?$filter=keyCredentials/any(k:k/endDateTime le 2021-01-02T12:00:00Z)`.
    KeyCredentialFilterOnServicePrincipals,
    /// addPassword with Microsoft's request example as the body.
    AddPassword,
    /// removePassword of the key just added, Microsoft's body with that keyId (retried past replication lag).
    RemovePassword,
    /// Owners of an application owned by two users and a service principal.
    Owners,
    /// `GET /auditLogs/directoryaudits` (Microsoft's example 1 path, lower-case segment included).
    Audits,
    /// Microsoft's example 2: `$filter=initiatedBy/user/id eq '<a user who changed credentials>'`.
    AuditsByUser,
    /// The KeyDescription / Included Updated Properties entries of the credential event addPassword wrote.
    KeyDescription,
    IncludedUpdatedProperties,
    /// `initiatedBy.app` of that event (client credentials).
    AuditAppInitiator,
    /// Applications delta: first page of `$top=5`, the last page (deltaLink), and a removed item.
    DeltaFirstPage,
    DeltaLastPage,
    DeltaRemoved,
    /// `$batch` sub-responses: a 200 list page, a 403 (caller without roles), a 405 (DELETE on a collection).
    BatchOk,
    BatchForbidden,
    BatchMethodNotAllowed,
    /// `GET /applications` answered 429 (injected, `Retry-After: 2.128`).
    Throttled,
    /// `GET /applications` by a caller without Graph roles.
    Forbidden,
    /// `GET /beta/reports/appCredentialSignInActivities?$filter=appId eq '..'` after the app signed in with its
    /// own secret; `CredentialSignInRows` is the same answer's rows, each compared on its own.
    CredentialSignIns,
    CredentialSignInRows,
    /// `GET /beta/reports/servicePrincipalSignInActivities?$filter=appId eq '..'` for that app.
    AppSignIns,
    /// The same credential report on a tenant without Entra ID P1/P2 (the emulator's knob turned off a moment).
    ReportNotPremium,
    /// `GET /servicePrincipals/{id}/appRoleAssignments` of a service principal granted Graph permissions.
    AppRoleAssignments,
    /// Microsoft Graph's service principal (the assignments' resource) with the `$select` keyturn sends.
    ResourceAppRoles,
    /// `GET /policies/defaultAppManagementPolicy` with no restriction set (the emulator's default).
    DefaultAppManagementPolicy,
    /// `DELETE /applications`.
    MethodNotAllowed,
    /// `GET /applications/{unknown id}`.
    NotFound,
    /// `GET /applications` without a token.
    NoToken,
    /// Key Vault, api-version 2026-04-01 (the examples' version), Microsoft's SetSecret/UpdateSecret bodies.
    KvSet,
    KvGet,
    /// `GET /secrets/{name}/versions?maxresults=1` of a secret with two versions (so there is a nextLink).
    KvVersions,
    KvUpdate,
    /// `GET /secrets?maxresults=1`.
    KvList,
    /// PUT without a token: the challenge.
    KvUnauthorized,
    KvNotFound,
    /// A caller without a vault role.
    KvForbidden,
    /// No api-version.
    KvBadParameter,
    /// Token endpoint: client credentials, an invalid scope, a wrong secret, the device-code flow.
    Token,
    TokenInvalidScope,
    TokenInvalidClient,
    DeviceCodeToken,
}

impl Req {
    /// Requests whose observed body is a list of samples, each compared on its own.
    pub(super) fn samples(self) -> bool {
        matches!(
            self,
            Req::PasswordCredentials | Req::KeyCredentials | Req::CredentialSignInRows
        )
    }
}

pub(super) struct Entry {
    pub(super) file: &'static str,
    pub(super) anchor: &'static str,
    pub(super) claim: Claim,
}

pub(super) const fn response(req: Req, mode: Mode, model: Model) -> Claim {
    Claim::Response {
        req,
        mode,
        allow: &[],
        same: &[],
        model,
        repair: &[],
    }
}

pub(super) const ERROR_SAME: &[&str] = &["/error/code", "/error/message"];
pub(super) const GRAPH_ERROR_MISSING_CLIENT_REQUEST_ID: &[Allow] =
    &[Allow::Extra("client-request-id")];

/// Which example maps to which emulator request and client model. Anchors are text that occurs in exactly one
/// fixture of the group (for a JSON document, the JSON pointer).
pub(super) const TABLE: &[Entry] = &[
    // ---------------------------------------------------------------------------------------------- graph/01
    Entry {
        file: "graph/application_list_and_query",
        anchor: "\"displayName\": \"My app\"",
        // Truncated by Microsoft (5 properties of ~30, no id): the emulator must have these, of these types.
        claim: response(Req::ListApplications, Mode::Covers, Model::ApplicationPage),
    },
    Entry {
        file: "graph/application_list_and_query",
        anchor: "\"@odata.count\":1",
        claim: response(
            Req::ListApplicationsCounted,
            Mode::Covers,
            Model::ApplicationPage,
        ),
    },
    Entry {
        file: "graph/filter_on_credentials_issues",
        anchor: "Complex query on property keyCredentials",
        claim: Claim::Response {
            req: Req::KeyCredentialFilterOnServicePrincipals,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(400),
            repair: &[],
        },
    },
    Entry {
        file: "graph/filter_on_credentials_issues",
        anchor: "NotEqualsMatch",
        claim: Claim::NotApplicable {
            reason: "a /users query; the emulator serves no users collection",
            model: Model::GraphError(400),
        },
    },
    Entry {
        file: "graph/passwordCredential_keyCredential",
        anchor: "\"hint\": \"String\"",
        claim: Claim::Representation {
            req: Req::PasswordCredentials,
            model: Model::None,
        },
    },
    Entry {
        file: "graph/passwordCredential_keyCredential",
        anchor: "#microsoft.graph.keyCredential",
        claim: Claim::Representation {
            req: Req::KeyCredentials,
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/03
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"passwordCredential\": {",
        claim: Claim::Request {
            req: Req::AddPassword,
            model: Model::AddPasswordRequest,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"secretText\"",
        claim: Claim::Response {
            req: Req::AddPassword,
            mode: Mode::Exact,
            // The doc sample shows no context; the real service answers with one (reference README, "GUESS").
            allow: &[Allow::Extra("@odata.context")],
            same: &[],
            model: Model::NewPassword,
            repair: &[],
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "{\"keyId\":\"f0b0b335-1d71-4883-8f98-567911bfdca6\"}",
        claim: Claim::Request {
            req: Req::RemovePassword,
            model: Model::RemovePasswordRequest,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"proof\":\"eyJ",
        claim: Claim::NotApplicable {
            reason: "addKey needs a proof-of-possession JWT; keyturn rotates client secrets only and the emulator \
                     serves no addKey",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "$metadata#microsoft.graph.keyCredential",
        claim: Claim::NotApplicable {
            reason: "addKey answer, truncated by Microsoft to its @odata.context; addKey is not served",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/addPassword_removePassword",
        anchor: "\"proof\": \"<jwt>\"",
        claim: Claim::NotApplicable {
            reason: "removeKey body marked GUESS in the reference; removeKey is not served",
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/04
    Entry {
        file: "graph/list_owners",
        anchor: "\"id-value\"",
        claim: Claim::Response {
            req: Req::Owners,
            mode: Mode::Covers,
            // Microsoft's sample is truncated to ids; the service's directoryObject collections carry a context
            // and a type per item (the reference's own inferred shape, next block).
            allow: &[Allow::Extra("@odata.context"), Allow::Extra("@odata.type")],
            same: &[],
            model: Model::OwnersPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/list_owners",
        anchor: "#microsoft.graph.servicePrincipal",
        claim: response(Req::Owners, Mode::Covers, Model::OwnersPage),
    },
    // ---------------------------------------------------------------------------------------------- graph/05
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"Audry Oliver\"",
        claim: Claim::Response {
            req: Req::Audits,
            mode: Mode::Covers,
            // Example 1 capitalises "Type"; example 2 and the resource's field list write "type". The emulator
            // records no additionalDetails (an empty list is valid); the keyValue shape is read by the model.
            allow: &[
                Allow::Renamed("Type", "type"),
                Allow::Skip("$.value[*].additionalDetails"),
            ],
            same: &[],
            model: Model::AuditPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "GroupLifecyclePolicies_Get",
        claim: Claim::Response {
            req: Req::AuditsByUser,
            mode: Mode::Exact,
            // An advisory annotation; example 1 of the same page (no $select either) has none.
            allow: &[Allow::Missing("@microsoft.graph.tips")],
            same: &[],
            model: Model::AuditPage,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "userIdentity|null",
        claim: Claim::Notation {
            reason: "type notation of initiatedBy; both shapes are compared through examples 1 and 2 and the \
                     appIdentity representation",
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"servicePrincipalName\": \"String\"",
        claim: Claim::Representation {
            req: Req::AuditAppInitiator,
            model: Model::AppIdentity,
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "kavachiq-wi05-spike",
        claim: Claim::Response {
            req: Req::KeyDescription,
            mode: Mode::Exact,
            allow: &[],
            same: &["/displayName"],
            model: Model::ModifiedProperty,
            repair: &[],
        },
    },
    Entry {
        file: "graph/directoryAudits",
        anchor: "\"Included Updated Properties\"",
        claim: Claim::Response {
            req: Req::IncludedUpdatedProperties,
            // A third-party excerpt that leaves oldValue out; the emulator sends it as null like the other entries.
            mode: Mode::Covers,
            allow: &[],
            same: &["/displayName", "/newValue"],
            model: Model::ModifiedProperty,
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/06
    Entry {
        file: "graph/applications_delta",
        anchor: "pqwSUjGY",
        claim: Claim::Response {
            req: Req::DeltaFirstPage,
            mode: Mode::Covers,
            allow: &[],
            same: &[],
            model: Model::ApplicationPage,
            // "The body of the doc sample is junk from an older schema": its item is elided.
            repair: &[("{ ... application ... }", "{}")],
        },
    },
    Entry {
        file: "graph/applications_delta",
        anchor: "\"@removed\"",
        claim: response(Req::DeltaRemoved, Mode::Exact, Model::None),
    },
    Entry {
        file: "graph/applications_delta",
        anchor: "$deltatoken=<opaque>",
        claim: Claim::Response {
            req: Req::DeltaLastPage,
            mode: Mode::Covers,
            allow: &[],
            same: &[],
            model: Model::ApplicationPage,
            repair: &[("[ ... ]", "[]")],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/07
    Entry {
        file: "graph/json_batching",
        anchor: "\"requests\": [ ... ]",
        claim: Claim::Notation {
            reason: "abbreviated request envelope; the $batch requests of BatchOk/Forbidden/MethodNotAllowed use it",
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"ConsistencyLevel\": \"eventual\"",
        claim: Claim::NotApplicable {
            reason: "a sub-request's header map, not a body; ConsistencyLevel is sent by ListApplicationsCounted",
            model: Model::None,
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "{ \"id\", \"status\", \"headers\", \"body\" }",
        claim: Claim::Notation {
            reason: "abbreviated response envelope; the three sub-response examples are compared in full",
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"1\"",
        claim: Claim::Response {
            req: Req::BatchOk,
            mode: Mode::Covers,
            // The sample's body lists directoryRoles of /me/memberOf (beta), which the emulator does not serve:
            // the envelope, headers and the annotations' presence are compared; the entity set, its link and its
            // items are not.
            allow: &[
                Allow::Skip("$.body.value[*]"),
                Allow::Skip("$.body.@odata.context"),
                Allow::Skip("$.body.@odata.nextLink"),
            ],
            same: &["/headers/Content-Type", "/headers/Cache-Control"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"3\"",
        claim: Claim::Response {
            req: Req::BatchForbidden,
            mode: Mode::Covers,
            allow: &[],
            same: &["/status", "/body/error/code", "/body/error/message"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/json_batching",
        anchor: "\"id\": \"4\"",
        claim: Claim::Response {
            req: Req::BatchMethodNotAllowed,
            mode: Mode::Covers,
            allow: &[],
            same: &["/status", "/body/error/code", "/body/error/message"],
            model: Model::None,
            repair: &[],
        },
    },
    Entry {
        file: "graph/throttling",
        anchor: "TooManyRequests",
        claim: Claim::Response {
            req: Req::Throttled,
            mode: Mode::Exact,
            allow: &[],
            same: &[
                "/error/code",
                "/error/message",
                "/error/innerError/code",
                "/error/innerError/message",
                "/error/innerError/status",
            ],
            model: Model::GraphError(429),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/08
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "\"#microsoft.graph.appCredentialSignInActivity\"",
        claim: Claim::Representation {
            req: Req::CredentialSignInRows,
            model: Model::None,
        },
    },
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "\"expirationDate\"",
        // The sample contradicts its own resource (expirationDate for expirationDateTime, "-8:00" offsets, no
        // createdDateTime, no @odata.context): the emulator follows the resource definition, compared above.
        claim: Claim::Response {
            req: Req::CredentialSignIns,
            mode: Mode::Covers,
            allow: &[
                Allow::Renamed("expirationDate", "expirationDateTime"),
                Allow::Extra("@odata.context"),
            ],
            same: &[],
            model: Model::CredentialSignIns,
            repair: &[],
        },
    },
    Entry {
        file: "graph/beta_credential_signin_activity",
        anchor: "servicePrincipalSignInActivities",
        claim: response(Req::AppSignIns, Mode::Exact, Model::AppSignIns),
    },
    // ---------------------------------------------------------------------------------------------- graph/09
    Entry {
        file: "graph/graph_errors",
        anchor: "invalidRange",
        claim: Claim::Response {
            req: Req::NotFound,
            mode: Mode::Exact,
            // The generic (OneDrive-flavoured) doc sample predates client-request-id, which directory errors carry.
            allow: GRAPH_ERROR_MISSING_CLIENT_REQUEST_ID,
            same: &[],
            model: Model::GraphError(416),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "\"innererror\": { ... }",
        claim: Claim::Notation {
            reason: "the OData spec's error notation; Graph's concrete bodies are the blocks below",
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Authorization_RequestDenied",
        claim: Claim::Response {
            req: Req::Forbidden,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(403),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Specified HTTP method",
        claim: Claim::Response {
            req: Req::MethodNotAllowed,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(405),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Request_ResourceNotFound",
        claim: Claim::Response {
            req: Req::NotFound,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::GraphError(404),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Access token is empty",
        claim: Claim::Response {
            req: Req::NoToken,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(401),
            repair: &[],
        },
    },
    Entry {
        file: "graph/graph_errors",
        anchor: "Complex query",
        claim: Claim::Response {
            req: Req::KeyCredentialFilterOnServicePrincipals,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::GraphError(400),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- keyvault
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/SetSecret/parameters/parameters",
        claim: Claim::Request {
            req: Req::KvSet,
            model: Model::KvSetParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/SetSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvSet,
            mode: Mode::Covers,
            allow: &[],
            same: &["/value", "/attributes/recoveryLevel"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/GetSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvGet,
            mode: Mode::Covers,
            allow: &[],
            same: &["/value", "/attributes/recoveryLevel"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/GetSecretVersions/responses/200/body",
        claim: response(Req::KvVersions, Mode::Covers, Model::KvListResult),
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/UpdateSecret/parameters/parameters",
        claim: Claim::Request {
            req: Req::KvUpdate,
            model: Model::KvUpdateParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_examples.json",
        anchor: "/UpdateSecret/responses/200/body",
        claim: Claim::Response {
            req: Req::KvUpdate,
            mode: Mode::Covers,
            allow: &[],
            same: &["/contentType", "/tags", "/attributes/enabled"],
            model: Model::KvSecret,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretBundle",
        claim: Claim::OpenApi { req: Req::KvGet },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretAttributes",
        claim: Claim::OpenApi { req: Req::KvSet },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/DeletionRecoveryLevel",
        claim: Claim::OpenApi { req: Req::KvUpdate },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretItem",
        claim: Claim::OpenApi { req: Req::KvList },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretListResult",
        claim: Claim::OpenApi {
            req: Req::KvVersions,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretSetParameters",
        claim: Claim::Request {
            req: Req::KvSet,
            model: Model::KvSetParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/SecretUpdateParameters",
        claim: Claim::Request {
            req: Req::KvUpdate,
            model: Model::KvUpdateParameters,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/DeletedSecretBundle",
        claim: Claim::Notation {
            reason: "a prose summary of the definition; keyturn never deletes secrets and the emulator does not",
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/KeyVaultError",
        claim: Claim::OpenApi {
            req: Req::KvForbidden,
        },
    },
    Entry {
        file: "keyvault/kv_secrets_openapi_excerpt.json",
        anchor: "/definitions/Error",
        claim: Claim::OpenApi {
            req: Req::KvNotFound,
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "BadArgument",
        claim: Claim::Response {
            req: Req::KvBadParameter,
            mode: Mode::Exact,
            allow: &[],
            same: &[],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "AKV10000",
        claim: Claim::Response {
            req: Req::KvUnauthorized,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "SecretNotFound",
        claim: Claim::Response {
            req: Req::KvNotFound,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "\"Forbidden\"",
        claim: Claim::Response {
            req: Req::KvForbidden,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            // One of the alternatives the reference lists; the emulator's RBAC denial uses it.
            repair: &[(
                "\"AccessDenied\" | \"ForbiddenByPolicy\" | \"ForbiddenByRbac\"",
                "\"ForbiddenByRbac\"",
            )],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "BadParameter",
        claim: Claim::Response {
            req: Req::KvBadParameter,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error/code"],
            model: Model::KvError,
            repair: &[],
        },
    },
    Entry {
        file: "keyvault/kv_challenge_auth_and_errors",
        anchor: "\"message\":\"Request is missing",
        // The 2021 wording; the service now prefixes AKV10000 (previous entry): shape only.
        claim: response(Req::KvUnauthorized, Mode::Exact, Model::KvError),
    },
    // ---------------------------------------------------------------------------------------------- entra
    Entry {
        file: "entra/token_endpoint",
        anchor: "\"token_type\": \"Bearer\"",
        claim: Claim::Response {
            req: Req::Token,
            mode: Mode::Exact,
            allow: &[Allow::Extra("ext_expires_in")],
            same: &["/token_type", "/expires_in"],
            model: Model::Token(200),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "\"invalid_scope\"",
        claim: Claim::Response {
            req: Req::TokenInvalidScope,
            mode: Mode::Exact,
            // Added to error bodies after this 2016 sample (the 2020 and 2023 bodies below have it).
            allow: &[Allow::Extra("error_uri")],
            same: &["/error", "/error_codes"],
            model: Model::Token(400),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "for a secret added to app",
        claim: Claim::Response {
            req: Req::TokenInvalidClient,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error", "/error_codes", "/error_uri"],
            model: Model::Token(401),
            repair: &[],
        },
    },
    Entry {
        file: "entra/token_endpoint",
        anchor: "Invalid client secret is provided",
        // Same shape, the 2020 wording (the 2023 wording above is what the emulator sends).
        claim: Claim::Response {
            req: Req::TokenInvalidClient,
            mode: Mode::Exact,
            allow: &[],
            same: &["/error", "/error_codes", "/error_uri"],
            model: Model::Token(401),
            repair: &[],
        },
    },
    Entry {
        file: "entra/device_code_flow",
        anchor: "\"refresh_token\"",
        claim: Claim::Response {
            req: Req::DeviceCodeToken,
            mode: Mode::Exact,
            allow: &[Allow::Extra("ext_expires_in")],
            same: &["/token_type", "/expires_in"],
            model: Model::Token(200),
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- o365
    Entry {
        file: "o365/management_activity_api",
        anchor: "{\"webhook\":{\"address\"",
        claim: Claim::Notation {
            reason: "Management Activity API notation; keyturn reads Graph's directoryAudits instead",
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"status\": \"enabled\"",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"contentId\"",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "\"RecordType\": 8",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API record: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "{Name, NewValue, OldValue}",
        claim: Claim::Notation {
            reason: "field-list notation of an O365 record; not used",
        },
    },
    Entry {
        file: "o365/management_activity_api",
        anchor: "AF50000",
        claim: Claim::NotApplicable {
            reason: "Office 365 Management Activity API error: not used by keyturn, not served by the emulator",
            model: Model::None,
        },
    },
    // ---------------------------------------------------------------------------------------------- graph/16
    Entry {
        file: "graph/app_role_assignments_and_app_management_policy",
        anchor: "$metadata#appRoleAssignments",
        // The emulator sends deletedDateTime (null), as the appRoleAssignment resource lists it.
        claim: Claim::Response {
            req: Req::AppRoleAssignments,
            mode: Mode::Covers,
            allow: &[],
            same: &["/value/0/resourceDisplayName"],
            model: Model::AppRoleAssignments,
            repair: &[],
        },
    },
    Entry {
        file: "graph/app_role_assignments_and_app_management_policy",
        anchor: "defaultAppManagementPolicy",
        claim: Claim::Response {
            req: Req::DefaultAppManagementPolicy,
            mode: Mode::Exact,
            allow: &[],
            same: &["/id", "/displayName", "/description", "/isEnabled"],
            model: Model::TenantAppManagementPolicy,
            repair: &[],
        },
    },
    Entry {
        file: "graph/service_principal_app_roles",
        anchor: "EduAssignments.ReadBasic.All",
        claim: Claim::Response {
            req: Req::ResourceAppRoles,
            mode: Mode::Covers,
            // Microsoft's example selects the delegated scopes too; keyturn selects appRoles only. The example's
            // context names a beta selection that differs from its own request's: not comparable.
            allow: &[
                Allow::Missing("oauth2PermissionScopes"),
                Allow::Skip("$.@odata.context"),
            ],
            same: &["/appId", "/displayName"],
            model: Model::ResourceAppRoles,
            repair: &[],
        },
    },
    Entry {
        file: "graph/app_management_policies_of_an_app",
        anchor: "Custom app management policy",
        claim: Claim::NotApplicable {
            reason: "an app's own app management policies: the emulator assigns none (its answer is an empty \
                     collection, so there is no element to compare); read by the client",
            model: Model::AppManagementPolicies,
        },
    },
    Entry {
        file: "graph/beta_reports_errors",
        anchor: "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        claim: Claim::Response {
            req: Req::ReportNotPremium,
            mode: Mode::Exact,
            allow: &[],
            same: ERROR_SAME,
            model: Model::LastUseUnavailable,
            repair: &[],
        },
    },
    // ---------------------------------------------------------------------------------------------- teams
    Entry {
        file: "teams/webhook_adaptive_card",
        anchor: "application/vnd.microsoft.card.adaptive",
        claim: Claim::NotApplicable {
            reason: "a request keyturn notify sends to a Teams webhook, not an answer of a service the emulator \
                     serves: tests/it/notify.rs compares each Teams message keyturn sends with it, key by key",
            model: Model::None,
        },
    },
];

pub(super) fn block_for(entry: &Entry) -> Block {
    let found: Vec<Block> = blocks_of(entry.file)
        .into_iter()
        .filter(|b| b.matches(entry.anchor))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{}: anchor {:?} must match exactly one block, matched {}",
        entry.file,
        entry.anchor,
        found.len()
    );
    found.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// The example as JSON, after the entry's documented repairs.
pub(super) fn example_json(entry: &Entry, block: &Block) -> Value {
    let repair = match entry.claim {
        Claim::Response { repair, .. } => repair,
        _ => &[][..],
    };
    if repair.is_empty() {
        return block.json.clone().unwrap_or_else(|| {
            panic!(
                "{} {}: the block is not JSON and the entry names no repair: {}",
                block.file, block.locator, block.text
            )
        });
    }
    let mut text = block.text.clone();
    for (from, to) in repair {
        assert!(
            text.contains(from),
            "{} {}: repair {from:?} no longer applies",
            block.file,
            block.locator
        );
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} {}: still not JSON after the repairs ({e}): {text}",
            block.file, block.locator
        )
    })
}
