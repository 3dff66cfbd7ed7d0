"""The OCPP bridge: WebSockets in, domain calls and bus events out. Nothing else sees OCPP."""
