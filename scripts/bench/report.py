"""The markdown tables of a scale.py JSON document."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value >= 100:
        value = round(value)
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def tables(document: dict[str, Any]) -> str:
    """Three tables: ingest and drafting, latencies, stats/RSS/audit; one row per size.
    A fourth, the backends' comparison, when the run made one."""
    sizes: dict[str, Any] = document["sizes"]
    if not sizes:
        return backend_table(document)
    return sizes_tables(document) + (
        "\n\n" + backend_table(document) if "backends" in document else ""
    )


def backend_table(document: dict[str, Any]) -> str:
    """One row per size and mode (SQLite, PostgreSQL with one and with two instances), and
    one row of ratios per size."""
    found: dict[str, Any] = document["backends"]
    lines = [
        _row(
            [
                "history",
                "load avg",
                "mode",
                "ingest texts/s",
                "ingest dup / lost / errors",
                "ingest p99",
                "send msgs/s",
                "send dup / lost",
            ]
        ),
        _row(["---"] * 8),
    ]
    for size, comparison in found.items():
        for name, mode in comparison["modes"].items():
            i, s = mode["ingest"], mode["send"]
            lines.append(
                _row(
                    [
                        size,
                        comparison["loadavg_at_start"][0],
                        name,
                        _fmt(i["per_s"]),
                        f"{i['duplicates']} / {i['lost']} / {i['errors']}",
                        _fmt(i["p99_ms"], " ms"),
                        _fmt(s["per_s"]),
                        f"{s['duplicates']} / {s['lost']}",
                    ]
                )
            )
    names = list(next(iter(found.values()))["ratios"])
    lines += ["", _row(["ratio", *found]), _row(["---"] * (len(found) + 1))]
    lines += [
        _row([name, *(_fmt(comparison["ratios"][name]) for comparison in found.values())])
        for name in names
    ]
    return "\n".join(lines)


def sizes_tables(document: dict[str, Any]) -> str:
    sizes: dict[str, Any] = document["sizes"]
    lines = [
        f"Run {document['generated_at']}, {document['machine_at_start']['cpus']} CPUs, load "
        f"average {document['machine_at_start']['loadavg']} at start, "
        f"{document.get('machine_at_end', {}).get('loadavg', '—')} at end.",
        "",
        _row(
            [
                "messages stored",
                "load avg",
                "webhooks/s",
                "÷ first size",
                "p50",
                "p99",
                "first → last 10% (/s)",
                "bare endpoint/s",
                "text → drafted/s",
                "drafted ÷ bare",
                "server CPU / text",
            ]
        ),
        _row(["---"] * 11),
    ]
    first = next(iter(sizes.values()))["ingest"]["webhooks_per_s"]
    for name, s in sizes.items():
        i, b, d = s["ingest"], s["baseline"], s["drafted"]
        lines.append(
            _row(
                [
                    name,
                    _fmt(s.get("loadavg_at_start", [None])[0]),
                    _fmt(i["webhooks_per_s"]),
                    _fmt(round(i["webhooks_per_s"] / first, 3) if first else None),
                    _fmt(i["p50_ms"], " ms"),
                    _fmt(i["p99_ms"], " ms"),
                    f"{_fmt(i['first_10pct_per_s'])} → {_fmt(i['last_10pct_per_s'])}",
                    _fmt(b["per_s"]),
                    _fmt(d["per_s"]),
                    _fmt(d["over_baseline"]),
                    _fmt(d.get("server_cpu_ms_per_text"), " ms"),
                ]
            )
        )
    knobs = document["knobs"]
    lines += [
        "",
        _row(
            [
                "messages stored",
                f"draft visible p50 / p95 / p99 at {knobs['rate']:g}/s",
                "unfinished",
                "approve → accepted p95, idle",
                "… while ingest is saturated",
            ]
        ),
        _row(["---"] * 5),
    ]
    for name, s in sizes.items():
        r = s["draft_ready"]["ready_ms"]
        lines.append(
            _row(
                [
                    name,
                    " / ".join(_fmt(r[p], " ms") for p in ("p50", "p95", "p99")),
                    f"{s['draft_ready']['unfinished']} of {s['draft_ready']['texts']}",
                    _fmt(s["approve_idle"]["p95"], " ms"),
                    _fmt(s["approve_loaded"]["p95"], " ms"),
                ]
            )
        )
    lines += [
        "",
        _row(
            [
                "messages stored",
                "/stats?days=90 p50 / p95",
                "server RSS max",
                "first /audit page, first start",
                "chain verified after",
                "first /audit page after a restart",
                "chain verified after",
            ]
        ),
        _row(["---"] * 7),
    ]
    for name, s in sizes.items():
        st, first, again = s["stats_90d_ms"], s["audit_first_start"], s["audit_after_restart"]
        lines.append(
            _row(
                [
                    name,
                    f"{_fmt(st['p50'], ' ms')} / {_fmt(st['p95'], ' ms')}",
                    _fmt(s["rss_max_mb"], " MB"),
                    _fmt(first["first_page_ms"], " ms"),
                    _fmt(first["verified_s"], " s"),
                    _fmt(again["first_page_ms"], " ms"),
                    _fmt(again["verified_s"], " s"),
                ]
            )
        )
    return "\n".join(lines)
