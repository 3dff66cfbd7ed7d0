"""Commands module, CPO receiver (OCPI 2.2.1 mod_commands): docs/ocpi/commands.md."""
