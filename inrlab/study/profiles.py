"""The study's notebooks and profiles: where the notebooks are, a profile's parameters, the
parameters a notebook declares, and the refusal of a profile entry or `--only` name that does
not fit them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InrlabError

RUNNER_PARAMETERS = ("out_dir",)  # what the runner injects itself


def notebooks_dir() -> Path:
    for cand in (Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks"):
        if cand.is_dir():
            return cand
    raise InrlabError("no notebooks/ folder found (run from the inrlab repository)")


def list_notebooks(folder: Path | None = None) -> list[Path]:
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def load_profile(profile: str, folder: Path | None = None) -> dict:
    """{notebook stem: {parameter: value}} for a profile name or a YAML path."""
    from ..checks import read_yaml

    folder = folder or notebooks_dir()
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else folder / "profiles" / f"{profile}.yaml"
    if not path.exists():
        names = sorted(p.stem for p in (folder / "profiles").glob("*.yaml"))
        raise InrlabError(f"unknown profile '{profile}' (choose from {', '.join(names)} or give a .yaml path)")
    data = read_yaml(path, "profile") or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InrlabError(f"profile '{path}' must map notebook names to parameter mappings")
    known = {p.stem for p in list_notebooks(folder)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InrlabError(f"profile '{path.name}' names unknown notebook '{unknown[0]}' "
                          f"(notebooks: {', '.join(sorted(known))})")
    return data


def notebook_parameters(nb: Path) -> list[str]:
    """The names the notebook's cell tagged 'parameters' assigns (what papermill can set)."""
    import ast

    import nbformat

    try:
        cells = nbformat.read(nb, as_version=4).cells
    except Exception as e:
        raise InrlabError(f"notebook '{nb.name}' cannot be read: {type(e).__name__}") from None
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return []
    try:
        tree = ast.parse(tagged[0].source)
    except SyntaxError as e:
        raise InrlabError(f"notebook '{nb.name}': its parameters cell does not parse ({e.msg})") from None
    names = []
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_profile(profile: dict, notebooks: list[Path], name: str) -> None:
    """Refuse a profile entry that sets a parameter its notebook does not declare."""
    by_stem = {nb.stem: nb for nb in notebooks}
    for stem, params in profile.items():
        if stem not in by_stem:
            continue
        declared = notebook_parameters(by_stem[stem])
        for key in params:
            if key in RUNNER_PARAMETERS:
                raise InrlabError(f"profile '{name}' sets '{key}' for notebook '{stem}'; the study "
                                  f"runner sets it (use --out)")
            if key not in declared:
                raise InrlabError(f"profile '{name}' sets unknown parameter '{key}' for notebook "
                                  f"'{stem}' (its parameters: {', '.join(declared) or 'none'})")


def _select(notebooks: list[Path], only) -> list[Path]:
    if only is None:
        return notebooks
    if isinstance(only, str):
        only = [only]
    only = list(only)
    if not only:
        raise InrlabError("--only needs at least one notebook name (or leave it out to run all)")
    chosen = []
    for name in only:
        if not isinstance(name, str) or not name.strip():
            raise InrlabError(f"--only got an empty notebook name {name!r} "
                              f"(notebooks: {', '.join(p.stem for p in notebooks)})")
        hits = [p for p in notebooks if p.stem == name or p.stem.startswith(name)]
        if not hits:
            raise InrlabError(f"--only '{name}' matches no notebook "
                              f"(notebooks: {', '.join(p.stem for p in notebooks)})")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen
