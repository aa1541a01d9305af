"""parity.html: one self-contained page (inline SVG plots, no network) that a browser opens offline.

Verdict first; then model and bundle facts; per target, the metric table, the accuracy and the
changed predictions, the stage table and chart; per output, an error histogram and a
reference-vs-artifact scatter; for int8, the per-layer error curve.
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np

from edgekit.parity.advice import next_steps
from edgekit.parity.metrics import ParityRule
from edgekit.parity.report import ParityReport
from edgekit.parity.samples import ERROR_EDGES, PlotSamples
from edgekit.parity.user_rule import rule_in_words

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
.verdict{font-size:1.6em;font-weight:700;padding:.4em .8em;border-radius:6px;display:inline-block}
.pass{background:#e3f6e6;color:#146c2e}.fail{background:#fde7e7;color:#a11}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.warn{color:#a60;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0}
"""


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", dpi=90)
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    return plt


def _figure(width: float = 4.2, height: float = 3.0) -> tuple[Any, Any]:
    return _pyplot().subplots(figsize=(width, height))


def _panels(width: float, height: float, count: int) -> tuple[Any, list[Any]]:
    """A figure with ``count`` side-by-side axes, always as a list."""
    fig, axes = _pyplot().subplots(1, count, figsize=(width, height))
    return fig, list(axes) if count > 1 else [axes]


def _histogram(name: str, counts: np.ndarray) -> str:
    fig, ax = _figure()
    labels = ["0"] + [f"{e:.0e}" for e in ERROR_EDGES[2:]]
    ax.bar(range(len(counts)), counts, color="#4a7bd0")
    ticks = list(range(0, len(counts), 4))
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=45, fontsize=7)
    ax.set_yscale("log")
    ax.set_title(f"{name}: |artifact - reference| histogram", fontsize=9)
    ax.set_xlabel("absolute error (upper bin edge)", fontsize=8)
    return _svg(fig)


def _scatter(name: str, ref: np.ndarray, cand: np.ndarray) -> str:
    fig, ax = _figure(3.2, 3.0)
    # Points are rasterised inside the SVG: thousands of vector dots would weigh megabytes.
    ax.scatter(ref, cand, s=3, alpha=0.5, color="#d0621e", linewidths=0, rasterized=True)
    if ref.size:
        lo, hi = float(min(ref.min(), cand.min())), float(max(ref.max(), cand.max()))
        ax.plot([lo, hi], [lo, hi], color="#555", linewidth=0.8)
    ax.set_title(f"{name}: artifact vs reference", fontsize=9)
    ax.set_xlabel("reference", fontsize=8)
    ax.set_ylabel("artifact", fontsize=8)
    return _svg(fig)


def _stage_chart(stages: list[dict[str, Any]], rule: ParityRule | None = None) -> str:
    """Max abs error after each stage on a log axis, with the rule's threshold drawn as a line: the
    atol for an absolute rule, else the per-sample cosine floor on a second panel (1 - cosine)."""
    measured = [s for s in stages if isinstance(s.get("max_abs"), (int, float))]
    if not measured:
        return ""
    cosine_floor = None if rule is None or rule.atol is not None else (rule.min_p1_cosine or rule.min_cosine)
    fig, axes = _panels(8.4 if cosine_floor else 5.0, 2.8, 2 if cosine_floor else 1)
    names = [s["stage"] for s in measured]
    colors = ["#2b8a3e" if s.get("passed") else "#c92a2a" for s in measured]
    ax = axes[0]
    ax.bar(names, [max(float(s["max_abs"]), 1e-12) for s in measured], color=colors)
    ax.set_yscale("log")
    ax.set_ylabel("max abs error vs original", fontsize=8)
    ax.set_title("error after each stage (red: over the budget)", fontsize=9)
    if rule is not None and rule.atol is not None:
        ax.axhline(rule.atol, color="#c92a2a", linestyle="--", linewidth=1)
        ax.annotate(f"atol {rule.atol:g}", (0.99, rule.atol), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=7, color="#c92a2a")
    if cosine_floor:
        gaps = [max(1.0 - float(s["min_cosine"]), 1e-12) if isinstance(s.get("min_cosine"), (int, float))
                else 1e-12 for s in measured]
        axes[1].bar(names, gaps, color=colors)
        axes[1].set_yscale("log")
        axes[1].set_ylabel("1 - min cosine (worst sample)", fontsize=8)
        axes[1].axhline(1.0 - cosine_floor, color="#c92a2a", linestyle="--", linewidth=1)
        axes[1].annotate(f"cosine floor {cosine_floor:g}", (0.99, 1.0 - cosine_floor),
                         xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7, color="#c92a2a")
        axes[1].set_title("worst-sample cosine after each stage", fontsize=9)
    for a in axes:
        a.tick_params(axis="x", labelsize=7, rotation=20)
    return _svg(fig)


LAYER_TICKS = 40  # at most this many layer names on the x axis; the worst few are always named


def _layer_curve(layers: list[dict[str, Any]]) -> str:
    """Each quantized layer's output error in graph order, named: ticks carry layer names (every k-th
    on long graphs) and the three worst are annotated, so the curve says *which* layer to keep in float."""
    if not layers:
        return ""
    errors = [max(float(entry["output_error"]), 1e-12) for entry in layers]
    names = [_short(str(entry.get("node", i))) for i, entry in enumerate(layers)]
    fig, ax = _figure(max(6.0, min(14.0, 0.22 * len(layers))), 3.4)
    ax.plot(range(len(layers)), errors, marker="o", markersize=3)
    ax.set_yscale("log")
    step = max(1, -(-len(layers) // LAYER_TICKS))
    ticks = list(range(0, len(layers), step))
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=70, ha="right", fontsize=6)
    for i in sorted(range(len(errors)), key=errors.__getitem__, reverse=True)[:3]:
        ax.annotate(names[i], (i, errors[i]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                    color="#c92a2a")
    ax.set_xlabel("quantized layer, in graph order", fontsize=8)
    ax.set_ylabel("relative error of output", fontsize=8)
    ax.set_title("per-layer error of the int8 graph vs its float twin", fontsize=9)
    return _svg(fig)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


def _metrics_table(report: ParityReport) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.name)}</td><td>{m.max_abs:.3g}</td><td>{m.mean_abs:.3g}</td>"
        f"<td>{m.max_rel:.3g}</td><td>{m.min_cosine:.6f}</td><td>{m.snr_db:.1f}</td>"
        f"<td>{'' if m.top1_agreement is None else f'{m.top1_agreement:.4f}'}</td>"
        f"<td>{'' if m.min_passing_atol is None else f'{m.min_passing_atol:.3g}'}</td>"
        f"<td>{'pass' if m.passed else '<b>FAIL</b>'}</td></tr>"
        for m in report.outputs
    )
    return ("<table><tr><th>output</th><th>max abs</th><th>mean abs</th><th>max rel</th><th>min cosine</th>"
            "<th>SNR dB</th><th>top-1 agreement</th><th>min passing atol</th><th>verdict</th></tr>"
            f"{rows}</table>")


def _stage_table(stages: list[dict[str, Any]]) -> str:
    if not stages:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(s.get('stage')))}</td><td>{_num(s.get('max_abs'))}</td>"
        f"<td>{_num(s.get('added_max_abs'))}</td><td>{_num(s.get('min_cosine'), 6)}</td>"
        f"<td>{'pass' if s.get('passed') else '<b>FAIL</b>'}</td>"
        f"<td style='text-align:left'>{html.escape(str(s.get('detail', '')))}</td></tr>"
        for s in stages
    )
    against = html.escape(str(stages[0].get("against", "the original model")))
    return (f"<p>each stage's graph against {against}, on the same inputs</p>"
            "<table><tr><th>stage</th><th>max abs</th><th>added</th><th>min cosine</th>"
            f"<th>verdict</th><th>detail</th></tr>{rows}</table>")


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if digits > 3 else f"{value:.{digits}g}"
    return html.escape(str(value if value is not None else ""))


def render(reports: dict[str, ParityReport], manifest: dict[str, Any],
           samples: dict[str, PlotSamples] | None = None) -> str:
    """The whole page as one string."""
    passed = all(r.passed for r in reports.values())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>edgekit parity: "
             f"{'PASSED' if passed else 'FAILED'}</title><style>{CSS}</style></head><body>",
             f"<div class='verdict {'pass' if passed else 'fail'}'>parity {'PASSED' if passed else 'FAILED'}</div>"]
    source = manifest.get("source") or {}
    facts = {
        "bundle": manifest.get("name"), "source": source.get("description"), "exporter": source.get("exporter"),
        "precision": manifest.get("precision"), "targets": ", ".join(t["name"] for t in manifest.get("targets", [])),
        "built": manifest.get("created"), "edgekit": manifest.get("edgekit_version"),
        "build host": (manifest.get("build_host") or {}).get("cpu"),
    }
    parts.append("<table>" + "".join(f"<tr><th>{k}</th><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                                     for k, v in facts.items()) + "</table>")
    stages = list(next(iter(reports.values())).stages)
    if stages:
        parts.append("<h2>which stage lost the accuracy</h2>" + _stage_table(stages)
                     + _stage_chart(stages, next(iter(reports.values())).rule))
    for target, report in reports.items():
        parts.append(f"<h2>target {html.escape(target)}: {'passed' if report.passed else 'FAILED'}</h2>")
        parts.append(f"<p>{html.escape(report.summary())}<br>reference: {html.escape(report.reference)}<br>"
                     f"data: {html.escape(report.data)} ({report.samples} samples)<br>"
                     f"passes when: {html.escape(rule_in_words(report.rule))}</p>")
        parts += [f"<p class='warn'>{html.escape(n)}</p>" for n in report.notes if n.startswith("WARNING")]
        parts += [f"<p class='warn'>failure: {html.escape(f)}</p>" for f in report.failures]
        steps = next_steps(report, manifest)
        if steps:
            parts.append("<h3>what to try next</h3><ol>" + "".join(f"<li>{html.escape(s)}</li>" for s in steps)
                         + "</ol>")
        parts += [f"<p>note: {html.escape(n)}</p>" for n in report.notes if not n.startswith("WARNING")]
        parts.append(_metrics_table(report))
        if report.accuracy is not None:
            a = report.accuracy
            parts.append(f"<p>top-1 accuracy on <code>{html.escape(a.output)}</code> over {a.samples} labelled "
                         f"samples: reference {a.reference:.2f}%, artifact {a.candidate:.2f}%, "
                         f"drop {a.drop:.2f} points</p>")
            if a.changed:
                rows = "".join(f"<tr><td>{c['index']}</td><td>{c['reference']}</td><td>{c['candidate']}</td>"
                               f"<td>{'' if c.get('label') is None else c['label']}</td></tr>" for c in a.changed)
                parts.append("<details><summary>samples whose prediction changed</summary><table><tr><th>sample"
                             f"</th><th>reference</th><th>artifact</th><th>label</th></tr>{rows}</table></details>")
        plots = (samples or {}).get(target)
        if plots is not None:
            parts.append("<h3>outputs</h3><div class='plots'>")
            for m in report.outputs:
                if m.name in plots.hist:
                    parts.append(f"<figure class='plot'>{_histogram(m.name, plots.hist[m.name])}</figure>")
                    parts.append(f"<figure class='plot'>{_scatter(m.name, *plots.values(m.name))}</figure>")
            parts.append("</div>")
    layers = (manifest.get("quantization") or {}).get("layer_errors") or []
    if layers:
        parts.append("<h2>int8 per-layer error</h2><figure class='plot'>" + _layer_curve(layers) + "</figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
