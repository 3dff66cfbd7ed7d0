"""Configuration: the 1.6 configuration keys and 2.0.1 device-model variables a new charger has.

GetConfiguration / ChangeConfiguration (1.6) and GetVariables / SetVariables / GetBaseReport
(2.0.1) read and change these; some are also the charger's own knobs (heartbeat and meter
intervals, measurands, connection timeout, stack levels).
"""

from __future__ import annotations

from dataclasses import dataclass

from devtools.simulator.config import SimConfig
from devtools.simulator.model import MEASURANDS


@dataclass
class Setting:
    """A 1.6 configuration key or a 2.0.1 variable."""

    value: str
    mutability: str = "ReadWrite"  # ReadOnly / ReadWrite / WriteOnly
    data_type: str = "string"  # 2.0.1 DataEnumType
    #: A comma-separated list of these (1.6 CSL / 2.0.1 MemberList), when set.
    members: tuple[str, ...] | None = None

    @property
    def readonly(self) -> bool:
        return self.mutability == "ReadOnly"


def default_settings(config: SimConfig) -> dict[str, Setting]:
    """The 1.6 configuration keys, by name."""
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Temperature,SoC"
    ro, rw = "ReadOnly", "ReadWrite"
    return {
        "HeartbeatInterval": Setting("0", rw, "integer"),
        "MeterValueSampleInterval": Setting(f"{config.meter_interval_s:g}", rw, "integer"),
        "NumberOfConnectors": Setting(str(config.connectors), ro, "integer"),
        "AuthorizeRemoteTxRequests": Setting("false", rw, "boolean"),
        "LocalAuthorizeOffline": Setting("true", rw, "boolean"),
        "LocalPreAuthorize": Setting("false", rw, "boolean"),
        "StopTransactionOnInvalidId": Setting("true", rw, "boolean"),
        "StopTransactionOnEVSideDisconnect": Setting("true", rw, "boolean"),
        "ConnectionTimeOut": Setting("60", rw, "integer"),
        "ClockAlignedDataInterval": Setting("0", rw, "integer"),
        "MeterValuesSampledData": Setting(measurands, rw, members=MEASURANDS["1.6"]),
        "StopTxnSampledData": Setting("Energy.Active.Import.Register", rw, members=MEASURANDS["1.6"]),
        "TransactionMessageAttempts": Setting("3", rw, "integer"),
        "TransactionMessageRetryInterval": Setting("60", rw, "integer"),
        "WebSocketPingInterval": Setting("20", rw, "integer"),
        "SupportedFeatureProfiles": Setting(
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger", ro
        ),
        "LocalAuthListEnabled": Setting("true", rw, "boolean"),
        "LocalAuthListMaxLength": Setting("1000", ro, "integer"),
        "SendLocalListMaxLength": Setting("100", ro, "integer"),
        "ReserveConnectorZeroSupported": Setting("false", ro, "boolean"),
        "ChargeProfileMaxStackLevel": Setting("8", ro, "integer"),
        "ChargingScheduleAllowedChargingRateUnit": Setting("Current,Power", ro),
        "ChargingScheduleMaxPeriods": Setting("24", ro, "integer"),
        "MaxChargingProfilesInstalled": Setting("16", ro, "integer"),
        "AuthorizationKey": Setting("", "WriteOnly"),
    }


def default_variables(config: SimConfig) -> dict[tuple[str, str], Setting]:
    """The 2.0.1 variables, by (component, variable)."""
    ro, rw = "ReadOnly", "ReadWrite"
    profile = "2" if config.url.startswith("wss://") else "1"
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,Frequency"
    return {
        ("OCPPCommCtrlr", "HeartbeatInterval"): Setting("0", rw, "integer"),
        ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"): Setting("3", rw, "integer"),
        ("OCPPCommCtrlr", "OfflineThreshold"): Setting("60", rw, "integer"),
        ("SampledDataCtrlr", "TxUpdatedInterval"): Setting(f"{config.meter_interval_s:g}", rw, "integer"),
        ("SampledDataCtrlr", "TxUpdatedMeasurands"): Setting(measurands, rw, "MemberList", members=MEASURANDS["2.0.1"]),
        ("SampledDataCtrlr", "TxEndedMeasurands"): Setting(
            "Energy.Active.Import.Register", rw, "MemberList", members=MEASURANDS["2.0.1"]
        ),
        ("AuthCtrlr", "AuthorizeRemoteStart"): Setting("false", rw, "boolean"),
        ("AuthCtrlr", "LocalAuthorizeOffline"): Setting("true", rw, "boolean"),
        ("LocalAuthListCtrlr", "Enabled"): Setting("true", rw, "boolean"),
        ("LocalAuthListCtrlr", "ItemsPerMessage"): Setting("100", ro, "integer"),
        ("ReservationCtrlr", "Enabled"): Setting("true", ro, "boolean"),
        ("SmartChargingCtrlr", "Enabled"): Setting("true", ro, "boolean"),
        ("SmartChargingCtrlr", "RateUnit"): Setting("A,W", ro, "MemberList"),
        ("SmartChargingCtrlr", "ProfileStackLevel"): Setting("8", ro, "integer"),
        ("SmartChargingCtrlr", "PeriodsPerSchedule"): Setting("24", ro, "integer"),
        ("TxCtrlr", "EVConnectionTimeOut"): Setting("60", rw, "integer"),
        ("TxCtrlr", "StopTxOnInvalidId"): Setting("true", rw, "boolean"),
        ("SecurityCtrlr", "Identity"): Setting(config.identity, ro),
        ("SecurityCtrlr", "SecurityProfile"): Setting(profile, ro, "integer"),
        ("SecurityCtrlr", "BasicAuthPassword"): Setting("", "WriteOnly"),
        ("DeviceDataCtrlr", "ItemsPerMessage"): Setting("50", ro, "integer"),
        ("ChargingStation", "Model"): Setting(config.model, ro),
        ("ChargingStation", "VendorName"): Setting(config.vendor, ro),
        ("ChargingStation", "AvailabilityState"): Setting("Available", ro),
    }
