"""HubClientInfo module, receiver side (OCPI 2.2.1 mod_hub_client_info): docs/ocpi/commands.md."""
