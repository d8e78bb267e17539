"""azure-keyvault-secrets and azure-identity against `keyturn emulator`: set, get, list versions.

The emulator's ready line comes in KEYTURN_EMULATOR; one JSON object of results goes to stdout for
tests/it/sdk.rs to check against the emulator's state. Only two loopback concessions are made, each marked.
"""
import json
import os
from datetime import datetime, timezone

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

NAME = "sdk-python-secret"
VERSIONS = 30  # more than one page of 25


def epoch(d):
    return int(d.timestamp()) if d else None


def main():
    info = json.loads(os.environ["KEYTURN_EMULATOR"])
    ca = info["caCert"]
    credential = ClientSecretCredential(
        info["tenantId"],
        info["clientId"],
        info["clientSecret"],
        authority=info["authorityHost"],
        # Loopback concession: instance discovery asks login.microsoftonline.com whether the authority is a known
        # Entra host, which a 127.0.0.1 authority never is.
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    client = SecretClient(
        info["vaultUrls"][0],
        credential,
        # Loopback concession: the challenge's resource (https://vault.azure.net) must be a parent domain of the
        # vault's host, which 127.0.0.1 cannot be. Real vaults keep the check.
        verify_challenge_resource=False,
        connection_verify=ca,
    )
    not_before = datetime(2030, 1, 1, tzinfo=timezone.utc)
    expires_on = datetime(2031, 1, 1, tzinfo=timezone.utc)
    first = client.set_secret(
        NAME,
        "first value",
        content_type="text/plain",
        tags={"CredentialId": "k1", "ProviderAddress": "app-object-id"},
        not_before=not_before,
        expires_on=expires_on,
    )
    for i in range(1, VERSIONS):
        client.set_secret(NAME, f"value {i}")
    latest = client.get_secret(NAME)
    by_version = client.get_secret(NAME, first.properties.version)
    versions = [p.version for p in client.list_properties_of_secret_versions(NAME)]
    names = [p.name for p in client.list_properties_of_secrets()]
    try:
        client.get_secret("sdk-python-missing")
        missing = None
    except ResourceNotFoundError as e:
        missing = e.error.code if e.error else type(e).__name__
    print(
        json.dumps(
            {
                "apiVersion": getattr(client, "api_version", None),
                "set": {
                    "id": first.id,
                    "version": first.properties.version,
                    "value": first.value,
                    "contentType": first.properties.content_type,
                    "tags": first.properties.tags,
                    "notBefore": epoch(first.properties.not_before),
                    "expiresOn": epoch(first.properties.expires_on),
                    "recoveryLevel": first.properties.recovery_level,
                },
                "latest": {"value": latest.value, "version": latest.properties.version},
                "byVersion": {"value": by_version.value, "tags": by_version.properties.tags},
                "versions": versions,
                "names": names,
                "missing": missing,
            }
        )
    )


if __name__ == "__main__":
    main()
