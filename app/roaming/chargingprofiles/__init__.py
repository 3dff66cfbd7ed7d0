"""ChargingProfiles module, CPO receiver (OCPI 2.2.1 mod_charging_profiles): docs/ocpi/commands.md."""
