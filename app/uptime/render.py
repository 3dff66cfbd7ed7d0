"""The uptime reports as files: CSV (through ``app.core.spreadsheet.to_csv``) and an SVG chart."""

from __future__ import annotations

from xml.sax.saxutils import escape

from app.core.spreadsheet import to_csv
from app.uptime.intervals import NEVI_THRESHOLD_PERCENT
from app.uptime.schemas import LocationAvailabilityOut, MonthFigureOut, PortAvailabilityOut, PortUptimeReportOut


def ports_csv(report: PortUptimeReportOut) -> str:
    header = [
        "month",
        "portId",
        "chargePointIdentity",
        "locationName",
        "evseId",
        "connectorNumber",
        "inServiceFrom",
        "windowStart",
        "windowEnd",
        "windowMinutes",
        "outageMinutes",
        "excludedMinutes",
        "uptimePercent",
        "meetsNevi",
    ]
    return to_csv(
        header,
        (
            [
                report.month,
                p.port_id,
                p.charge_point_identity,
                p.location_name,
                p.evse_id,
                p.connector_number,
                p.in_service_from,
                p.window_start,
                p.window_end,
                p.window_minutes,
                p.outage_minutes,
                p.excluded_minutes,
                p.uptime_percent,
                "" if p.meets_nevi is None else str(p.meets_nevi).lower(),
            ]
            for p in report.ports
        ),
    )


def availability_csv(report: LocationAvailabilityOut) -> str:
    """One row per month for the site, then one per port and month."""
    header = [
        "month",
        "scope",
        "portId",
        "chargePointIdentity",
        "evseId",
        "connectorNumber",
        "windowMinutes",
        "outageMinutes",
        "excludedMinutes",
        "availabilityPercent",
        "uptimePercent",
    ]

    def row(m: MonthFigureOut, scope: str, port: PortAvailabilityOut | None) -> list[object]:
        return [
            m.month,
            scope,
            port.port_id if port else "",
            port.charge_point_identity if port else "",
            port.evse_id if port else "",
            port.connector_number if port else "",
            m.window_minutes,
            m.outage_minutes,
            m.excluded_minutes,
            m.availability_percent,
            m.uptime_percent,
        ]

    rows = [row(m, "site", None) for m in report.site]
    rows += [row(m, "port", p) for p in report.ports for m in p.months]
    return to_csv(header, rows)


def availability_svg(report: LocationAvailabilityOut) -> str:
    """A bar chart of the site's uptime per month (exclusions applied, so comparable with
    the 97 % NEVI line), y from 0 to 100 %; a month with no port in service has no bar."""
    width, height = 760, 380
    left, right, top, bottom = 64, 24, 48, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    name = escape(report.location_name)

    def y(percent: float) -> float:
        return top + plot_h * (1 - percent / 100)

    months = report.site
    slot = plot_w / max(1, len(months))
    bar_w = slot * 0.7
    shown = [f"{m.month} {m.uptime_percent:.2f} %" for m in months if m.uptime_percent is not None]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        'font-family="sans-serif" font-size="12">',
        f'<title id="chart-title">Monthly uptime, {name}, {report.since} to {report.until}</title>',
        f'<desc id="chart-desc">Bar chart, one bar per month (UTC): the uptime of all ports at {name} '
        "together, operator-excluded outages not counted, against the NEVI minimum of 97 %. "
        f"{escape('; '.join(shown)) or 'No port was in service in these months.'}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
        f"Uptime per month: {name}</text>",
    ]
    for tick in range(0, 101, 20):
        ty = y(tick)
        lines.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#e0e0e0"/>'
        )
        lines.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, m in enumerate(months):
        x = left + i * slot + (slot - bar_w) / 2
        cx = left + i * slot + slot / 2
        if m.uptime_percent is not None:
            colour = "#2e7d32" if m.uptime_percent >= NEVI_THRESHOLD_PERCENT else "#c62828"
            top_y = y(m.uptime_percent)
            lines.append(
                f'<rect class="bar" data-month="{m.month}" data-percent="{m.uptime_percent}" x="{x:.1f}" '
                f'y="{top_y:.1f}" width="{bar_w:.1f}" height="{top + plot_h - top_y:.1f}" fill="{colour}">'
                f"<title>{m.month}: {m.uptime_percent:.2f} %</title></rect>"
            )
        else:
            lines.append(
                f'<text class="no-data" x="{cx:.1f}" y="{top + plot_h - 6}" text-anchor="middle" '
                f'font-size="10" fill="#757575">n/a</text>'
            )
        lines.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{m.month}</text>')
    ny = y(NEVI_THRESHOLD_PERCENT)
    lines += [
        f'<line class="nevi-threshold" x1="{left}" y1="{ny:.1f}" x2="{left + plot_w}" y2="{ny:.1f}" '
        'stroke="#1565c0" stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{left + plot_w - 4}" y="{ny - 6:.1f}" text-anchor="end" fill="#1565c0">NEVI 97 %</text>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#000000"/>',
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#000000"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 16}" text-anchor="middle">Month (UTC)</text>',
        f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">Uptime (%)</text>',
        "</svg>",
    ]
    return "\n".join(lines) + "\n"
