"""The Locations module (sender): our locations, EVSEs and connectors as OCPI 2.2.1 objects,
served to partners and pushed to them as they change."""
