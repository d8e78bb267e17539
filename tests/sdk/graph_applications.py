"""msgraph-sdk (Kiota) and azure-identity against `keyturn emulator`: list applications across pages, list owners,
addPassword, removePassword.

The emulator's ready line comes in KEYTURN_EMULATOR and the application's object id in KEYTURN_APP; one JSON object
of results goes to stdout for tests/it/sdk.rs. Properties the SDK's generated models do not know land in each
object's additional_data: they are reported, because an emulator property Microsoft's own model lacks is drift.
"""
import asyncio
import json
import os
import ssl

import httpx
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph_core import GraphClientFactory

PAGE = 15


def note(unknown, kind, obj):
    extra = sorted(k for k in (obj.additional_data or {}) if not k.startswith("@odata."))
    if extra:
        unknown.setdefault(kind, set()).update(extra)


async def main():
    info = json.loads(os.environ["KEYTURN_EMULATOR"])
    app = os.environ["KEYTURN_APP"]
    ca = info["caCert"]
    credential = ClientSecretCredential(
        info["tenantId"],
        info["clientId"],
        info["clientSecret"],
        authority=info["authorityHost"],
        # Loopback concession: no instance discovery against login.microsoftonline.com for a 127.0.0.1 authority.
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=["https://graph.microsoft.com/.default"],
        # Loopback concession: the provider attaches tokens only to Graph's cloud hosts unless told otherwise.
        allowed_hosts=["127.0.0.1"],
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca))
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{info['graphUrl']}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)

    unknown = {}
    pages, ids = [], []
    query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(top=PAGE)
    page = await client.applications.get(RequestConfiguration(query_parameters=query))
    while True:
        pages.append(len(page.value))
        for a in page.value:
            ids.append(a.id)
            note(unknown, "application", a)
            for p in a.password_credentials or []:
                note(unknown, "passwordCredential", p)
            for k in a.key_credentials or []:
                note(unknown, "keyCredential", k)
        if not page.odata_next_link:
            break
        page = await client.applications.with_url(page.odata_next_link).get()

    owners = await client.applications.by_application_id(app).owners.get()
    for o in owners.value:
        note(unknown, "owner", o)

    body = AddPasswordPostRequestBody(
        password_credential=PasswordCredential(display_name="msgraph-sdk conformance")
    )
    added = await client.applications.by_application_id(app).add_password.post(body)
    note(unknown, "addPassword", added)

    # A real tenant can refuse removePassword for a moment after addPassword (replication): retry with backoff.
    attempts = 0
    while True:
        attempts += 1
        try:
            await client.applications.by_application_id(app).remove_password.post(
                RemovePasswordPostRequestBody(key_id=added.key_id)
            )
            break
        except APIError as e:
            if e.response_status_code != 400 or attempts >= 10:
                raise
            await asyncio.sleep(0.2 * attempts)

    await credential.close()
    print(
        json.dumps(
            {
                "pages": pages,
                "ids": ids,
                "owners": [{"type": o.odata_type, "id": o.id} for o in owners.value],
                "added": {
                    "keyId": str(added.key_id),
                    "displayName": added.display_name,
                    "hint": added.hint,
                    "secretText": added.secret_text,
                    "startDateTime": added.start_date_time.isoformat() if added.start_date_time else None,
                    "endDateTime": added.end_date_time.isoformat() if added.end_date_time else None,
                },
                "removeAttempts": attempts,
                "unknownProperties": {k: sorted(v) for k, v in unknown.items()},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
