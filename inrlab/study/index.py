"""A study run's pages: status.json read back, index.html (self-contained: what was run, the
claims ledger, each notebook's headline and section) and compare.html (one run beside an
earlier one).
"""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InrlabError
from .profiles import notebook_parameters


def read_statuses(path: Path, strict: bool) -> dict:
    """{notebook: status dict} from a run's status.json ({} if there is none). A damaged file
    is refused when `strict` (a resume must not guess which notebooks finished); otherwise this
    run starts a new one over it."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        problem = None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        data, problem = None, f"not readable JSON ({type(e).__name__})"
    if problem is None:
        entries = data.get("notebooks") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            problem = f"expected an object with a 'notebooks' mapping, found {type(data).__name__}"
        else:
            bad = [k for k, v in entries.items() if not isinstance(v, dict)
                   or not isinstance(v.get("ok", False), bool)]
            if bad:
                problem = f"the entry for '{bad[0]}' is {entries[bad[0]]!r:.60}, not a status"
            else:
                return entries
    if strict:
        raise InrlabError(f"'{path}' is damaged ({problem}); delete it to run every notebook again")
    print(f"[study] {path} is damaged ({problem}); this run writes a new one", flush=True)
    return {}


def _ledger_section(out_root: Path) -> list[str]:
    """The claims ledger of the run so far (also written as claims.json), for the top of index.html."""
    from .. import claims

    try:
        rows = claims.write_ledger(out_root)
    except InrlabError:
        return []
    counts = ", ".join(f"{sum(r.verdict == v for r in rows)} {v}" for v in claims.VERDICTS)
    return ["<h2>Claims ledger</h2>",
            f"<p>{html.escape(counts)}. Verdicts are computed from this run's metrics "
            f"(<a href='claims.json'>claims.json</a>; vocabulary in <code>inrlab.claims</code>).</p>",
            claims.ledger_html(rows)]


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
        "vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".fail{color:#b00}.failbox{border-left:4px solid #b00;background:#fdf0f0;padding:.4em .8em}"
        ".question{font-size:1.1em;font-style:italic}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}"
        "figcaption{color:#444;max-width:900px}small,.muted{color:#666}section{border-top:2px solid #ddd;margin-top:2em}"
        "details{margin:.5em 0}summary{cursor:pointer}")


def _figure_names(folder: Path) -> list[str]:
    """The notebook's figures in the order it drew them (metrics.json), else by name."""
    names = []
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError, TypeError):
        names = [Path(f).stem for f in json.loads((folder / "metrics.json").read_text()).get("figures", [])]
    names = [n for n in dict.fromkeys(names) if (folder / f"{n}.html").exists()]
    if not names and folder.is_dir():
        names = sorted(p.name[: -len(".plotly.json")] for p in folder.glob("*.plotly.json"))
    return names


def _parameters_of(folder: Path, stem: str) -> list[str]:
    with contextlib.suppress(InrlabError, OSError):
        if (folder / f"{stem}.ipynb").exists():
            return notebook_parameters(folder / f"{stem}.ipynb")
    return []


def _split_metrics(metrics: dict, params: list[str]) -> tuple[dict, dict, dict]:
    """(run parameters, scalar results, nested results) of a notebook's metrics."""
    ps, flat, nested = {}, {}, {}
    for k, v in (metrics or {}).items():
        if k in params or k == "profile":
            ps[k] = v
        elif isinstance(v, (dict, list)) and not (isinstance(v, list) and len(v) <= 12 and all(
                not isinstance(x, (dict, list)) for x in v)):
            nested[k] = v
        else:
            flat[k] = v
    return ps, flat, nested


def _cell(v, unit: str = "") -> str:
    from ..reportspec import fmt

    num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return f"<td{' class=num' if num else ''}>{html.escape(fmt(v, unit))}</td>"


def _nested_html(value, unit: str, limit: int = 40) -> str:
    """A nested result as a table: {row: scalar}, {row: {col: scalar}} or [{col: scalar}]."""
    from ..reportspec import label, words

    def scalar(x):
        return not isinstance(x, (dict, list))

    if isinstance(value, dict) and value and all(scalar(v) for v in value.values()) and len(value) <= limit:
        return ("<table>" + "".join(f"<tr><th>{html.escape(words(k))}</th>{_cell(v, unit)}</tr>"
                                    for k, v in value.items()) + "</table>")
    rows = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    if not rows or len(rows) > limit or not all(isinstance(r, dict) and all(scalar(x) for x in r.values())
                                                for _, r in rows):
        return ""
    cols = list(dict.fromkeys(c for _, r in rows for c in r))
    if len(cols) > 14:
        return ""
    units = {c: (label(c)[1] or unit) for c in cols}
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(words(c))}</th>" for c in cols) + "</tr>"
    body = "".join(f"<tr><th>{html.escape(words(k) if isinstance(k, str) else str(k + 1))}</th>"
                   + "".join(_cell(r.get(c), units[c]) if c in r else "<td></td>" for c in cols) + "</tr>"
                   for k, r in rows)
    return f"<table>{head}{body}</table>"


def _results_table(flat: dict) -> str:
    from ..reportspec import label, with_unit

    if not flat:
        return ""
    out = ["<table><tr><th>result</th><th>value</th></tr>"]
    for k, v in flat.items():
        lab, unit = label(k)
        num = isinstance(v, (int, float)) and not isinstance(v, bool)
        out.append(f"<tr><td title='{html.escape(k)}'>{html.escape(lab)}</td>"
                   f"<td{' class=num' if num else ''}>{html.escape(with_unit(v, unit))}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _img_tag(png: Path, alt: str, embed: bool) -> str:
    import base64

    if embed:
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    else:
        src = f"{png.parent.name}/{png.name}"
    return f"<img src='{src}' alt='{html.escape(alt)}'>"


def _notebook_section(out_root: Path, name: str, st: dict) -> list[str]:
    from .. import reportspec
    from ..reportspec import label, words

    folder = out_root / name
    q = html.escape(name)
    ok = st.get("ok")
    parts = [f"<section id='{q}'>",
             f"<h2>{q} — {'ok' if ok else '<span class=fail>failed</span>'} ({st.get('seconds', '?')} s)</h2>"]
    nb_link = f"<a href='{q}/{q}.ipynb'>{'saved notebook (with its error)' if not ok else 'executed notebook'}</a>"
    if st.get("error") or not ok:
        parts.append(f"<div class=failbox><p class=fail><b>Error:</b> {html.escape(st.get('error') or 'no error recorded')}"
                     f"</p><p>{nb_link}: open it to see the failing cell and its traceback. Results below are "
                     f"what the notebook recorded before it stopped.</p></div>")
    if reportspec.question(name):
        parts.append(f"<p class=question>{html.escape(reportspec.question(name))}</p>")
    figures = _figure_names(folder)
    links = [nb_link, f"<a href='{q}/metrics.json'>metrics.json</a>"] if (folder / "metrics.json").exists() else [nb_link]
    parts.append("<p class=muted>" + " · ".join(links) + "</p>")
    for fig, caption in reportspec.key_figures(name, figures):
        png = folder / f"{fig}.png"
        body = _img_tag(png, fig, embed=True) if png.exists() else f"(interactive only: {html.escape(fig)})"
        parts.append(f"<figure><a href='{q}/{html.escape(fig)}.html'>{body}</a>"
                     f"<figcaption><b>{html.escape(words(fig))}.</b> {html.escape(caption)}</figcaption></figure>")
    params, flat, nested = _split_metrics(st.get("metrics") or {}, _parameters_of(folder, name))
    if flat:
        parts.append("<h3>Results</h3>" + _results_table(flat))
    for k, v in nested.items():
        table = _nested_html(v, label(k)[1])
        if table:
            parts.append(f"<details><summary>{html.escape(label(k)[0])}</summary>{table}</details>")
    if params:
        from ..reportspec import fmt

        parts.append("<p class=muted><b>Run with</b> " + " · ".join(
            f"{html.escape(k)} = {html.escape(fmt(v))}" for k, v in params.items()) + "</p>")
    if figures:
        items = []
        for fig in figures:
            f = html.escape(fig)
            png = f" (<a href='{q}/{f}.png'>PNG</a>)" if (folder / f"{fig}.png").exists() else ""
            items.append(f"<li><a href='{q}/{f}.html'>{html.escape(words(fig))}</a>{png}</li>")
        parts.append(f"<details><summary>All {len(figures)} figures</summary><ul>{''.join(items)}</ul></details>")
    parts.append("</section>")
    return parts


def _what_was_run(out_root: Path, profile: str, statuses: dict) -> list[str]:
    from .. import reportspec

    info = {}
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
        info = json.loads((out_root / "status.json").read_text()).get("run") or {}
    wall = info.get("wall_seconds")
    rows = [("profile", profile), ("machine", info.get("machine")), ("device", info.get("device")),
            ("torch", info.get("torch")), ("git commit", info.get("commit")),
            ("started", " ".join(x for x in (info.get("started"), info.get("resumed") and f"({info['resumed']})") if x)),
            ("wall time", f"{wall / 60:.1f} min ({wall:.0f} s)" if isinstance(wall, (int, float)) else None),
            ("notebooks", f"{sum(1 for s in statuses.values() if s.get('ok'))} ok, "
                          f"{sum(1 for s in statuses.values() if not s.get('ok'))} failed")]
    out = ["<h2>What was run</h2><table>"]
    out += [f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows if v]
    out.append("</table>")
    heads = ["<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>headline</th></tr>"]
    for name in sorted(statuses):
        st = statuses[name]
        h = reportspec.headline(name, st.get("metrics") or {})
        heads.append(f"<tr><td><a href='#{html.escape(name)}'>{html.escape(name)}</a></td>"
                     f"<td>{'ok' if st.get('ok') else '<span class=fail>failed</span>'}</td>"
                     f"<td class=num>{st.get('seconds', '?')}</td>"
                     f"<td>{html.escape(f'{h[0]}: {reportspec.with_unit(h[1], h[2])}') if h else '—'}</td></tr>")
    heads.append("</table>")
    return out, heads


def write_index(out_root: Path, statuses: dict, profile: str) -> None:
    """index.html, self-contained (key figures embedded as PNG data, no external scripts): what
    was run, the claims ledger, each notebook's headline, then one section per notebook."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>inrlab study ({html.escape(profile)})</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>inrlab study — profile <code>{html.escape(profile)}</code></h1>"]
    run, heads = _what_was_run(out_root, profile, statuses)
    parts += run
    parts += _ledger_section(out_root)
    parts += ["<h2>Notebooks</h2>"] + heads
    for name in sorted(statuses):
        parts += _notebook_section(out_root, name, statuses[name])
    parts.append("</body></html>")
    atomic_write_text(out_root / "index.html", "\n".join(parts))


def _load_run(run: Path) -> tuple[dict, dict]:
    """(profile, {notebook: metrics}) of a study run folder; InrlabError if it is not one."""
    if not run.is_dir():
        raise InrlabError(f"run folder not found: '{run}'")
    statuses = read_statuses(run / "status.json", strict=True)
    stems = set(statuses) | {p.parent.name for p in run.glob("*/metrics.json")}
    if not stems:
        raise InrlabError(f"'{run}' is not a study run (no status.json, no <notebook>/metrics.json)")
    profile = "?"
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
        profile = json.loads((run / "status.json").read_text()).get("profile", "?")
    metrics = {}
    for stem in sorted(stems):
        m = None
        with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
            m = json.loads((run / stem / "metrics.json").read_text()).get("metrics")
        metrics[stem] = m if isinstance(m, dict) else (statuses.get(stem, {}).get("metrics") or {})
    return profile, metrics


def compare_runs(new, old) -> Path:
    """Write <new>/compare.html: every notebook's results in the earlier run `old` and in `new`,
    with the change, and the claims whose verdict differs. Returns the page's path."""
    from .. import claims
    from ..reportspec import fmt, label, with_unit

    new, old = Path(new), Path(old)
    new_profile, new_m = _load_run(new)
    old_profile, old_m = _load_run(old)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>inrlab: {html.escape(new.name)} "
             f"against {html.escape(old.name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(str(new))} against {html.escape(str(old))}</h1>",
             f"<p>New run: profile <code>{html.escape(str(new_profile))}</code>, "
             f"earlier run: profile <code>{html.escape(str(old_profile))}</code>. Change is new minus earlier.</p>"]
    try:
        rows_new = {r.id: r for r in claims.run_ledger(new)}
        rows_old = {r.id: r for r in claims.run_ledger(old)}
    except InrlabError:
        rows_new = rows_old = {}
    if rows_new:
        parts.append("<h2>Claims</h2><table><tr><th>claim</th><th>earlier</th><th>new</th></tr>")
        for cid, r in rows_new.items():
            before = rows_old[cid].verdict if cid in rows_old else "—"
            mark = " style='background:#fff3cd'" if before != r.verdict else ""
            parts.append(f"<tr{mark}><td>{html.escape(cid)}<br><small>{html.escape(r.statement)}</small></td>"
                         f"<td>{html.escape(before)}</td><td><b>{html.escape(r.verdict)}</b></td></tr>")
        parts.append("</table>")
    for stem in sorted(set(new_m) | set(old_m)):
        a, b = old_m.get(stem) or {}, new_m.get(stem) or {}
        params = set(_parameters_of(new / stem, stem)) | set(_parameters_of(old / stem, stem)) | {"profile"}
        keys = [k for k in dict.fromkeys([*b, *a]) if k not in params
                and not isinstance(b.get(k, a.get(k)), dict)
                and not (isinstance(b.get(k, a.get(k)), list) and len(b.get(k, a.get(k))) > 12)]
        parts.append(f"<section><h2>{html.escape(stem)}</h2>")
        if stem not in old_m or stem not in new_m:
            parts.append(f"<p class=muted>only in the {'new' if stem in new_m else 'earlier'} run</p>")
        if keys:
            parts.append("<table><tr><th>result</th><th>earlier</th><th>new</th><th>change</th></tr>")
            for k in keys:
                lab, unit = label(k)
                va, vb = a.get(k), b.get(k)
                change = ""
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb)):
                    d = vb - va
                    change = ("+" if d > 0 else "") + with_unit(d, unit) if d else "="
                parts.append(f"<tr><td title='{html.escape(k)}'>{html.escape(lab)}</td>"
                             f"<td class=num>{html.escape(with_unit(va, unit) if k in a else '—')}</td>"
                             f"<td class=num>{html.escape(with_unit(vb, unit) if k in b else '—')}</td>"
                             f"<td class=num>{html.escape(change)}</td></tr>")
            parts.append("</table>")
        differ = [k for k in sorted(params) if k in a and k in b and a[k] != b[k]]
        if differ:
            parts.append("<p class=muted><b>Parameters that differ:</b> " + " · ".join(
                f"{html.escape(k)} {html.escape(fmt(a[k]))} → {html.escape(fmt(b[k]))}" for k in differ) + "</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = new / "compare.html"
    atomic_write_text(path, "\n".join(parts))
    return path
