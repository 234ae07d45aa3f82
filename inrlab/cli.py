"""Command line: `python -m inrlab fit | study | sweep | models | claims ...`.

Every bad input ends with one line on stderr naming the problem and a non-zero exit code
(2 for bad input, 1 for anything unexpected), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from .errors import InrlabError, Terminated


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; we print one line
        raise InrlabError(f"{self.prog}: {message}")


def json_text(obj, indent=None) -> str:
    """`obj` as strict JSON (RFC 8259 has no NaN or Infinity, which jq and JavaScript refuse):
    a non-finite number becomes null, and a mapping at the top gains 'non_finite', the path of
    each such number with its value as text ("psnr": "inf" for an exact fit)."""
    found: dict[str, str] = {}

    def clean(v, path):
        if isinstance(v, float) and not math.isfinite(v):
            found[path] = str(v)
            return None
        if isinstance(v, dict):
            return {k: clean(x, f"{path}.{k}" if path else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x, f"{path}[{i}]") for i, x in enumerate(v)]
        return v

    out = clean(obj, "")
    if found and isinstance(out, dict):
        out["non_finite"] = found
    return json.dumps(out, indent=indent, allow_nan=False)


# `fit` keys that are the command's own flags (or build's and fit's own arguments), not model
# parameters: `--set seed=3` would reach build twice
FLAG_KEYS = {"seed": "--seed", "signal": "--signal", "name": "--model", "model": "--model",
             "steps": "--steps", "lr": "--lr", "batch_size": "--batch-size",
             "device": "--device", "size": "--size", "gray": "--gray", "heldout": "--heldout",
             "checkpoint": "--checkpoint", "amp": "--amp", "compile": "--compile"}


def _parse_sets(items: list[str], model: str) -> dict:
    from . import models

    out = {}
    for item in items:
        if "=" not in item:
            raise InrlabError(f"--set expects key=value, got '{item}'")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise InrlabError(f"--set expects key=value, got '{item}'")
        own = models.parameters(model) if model in models.available() else {}
        if key in FLAG_KEYS and (key not in own or key in ("seed", "signal", "name")):
            raise InrlabError(f"--set {key}=... is not a model parameter: use {FLAG_KEYS[key]} "
                              f"instead")
        if key in out:
            raise InrlabError(f"--set {key} given twice ({out[key]!r} and {value!r}); give it once")
        out[key] = value
    return out


def cmd_fit(args) -> int:
    from . import models, signals
    from .flops import count_params, forward_flops
    from .checks import check_output_file, check_seed
    from .allocator import enable
    from .train import fit, resolve_device

    enable()  # before any tensor (inrlab.allocator)
    if args.model not in models.available():
        raise InrlabError(f"unknown model '{args.model}' (choose from {', '.join(models.available())})")
    sets = _parse_sets(args.set, args.model)
    if args.size is not None and args.size < 2:
        raise InrlabError(f"--size must be at least 2, got {args.size}")
    check_seed(args.seed, "--seed")
    if args.checkpoint is not None:  # before any work that would end by writing it
        check_output_file(args.checkpoint, "--checkpoint")
    resolve_device(args.device)
    signal = signals.load_signal(args.signal, size=args.size, gray=args.gray, seed=args.seed)
    if args.heldout == "every_other":
        signal = signals.split_every_other(signal)
    model = models.build(args.model, signal=signal, seed=args.seed, **sets)
    if getattr(model, "stack", 1) > 1:  # stacked copies (seeds) train on the target repeated
        from .models.ensemble import stack_signal
        signal = stack_signal(signal, model.stack)
    history = fit(model, signal, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                  seed=args.seed, device=args.device, progress=not args.json and sys.stderr.isatty(),
                  checkpoint=args.checkpoint, amp=args.amp,
                  compile=args.compile if args.compile != "default" else True)
    result = {
        "model": args.model,
        "params": count_params(model),
        # a render is of the whole signal, held-out samples included (not the training lattice)
        "flops_forward": forward_flops(model, signal.meta.get("full_shape", signal.shape)).total,
        "psnr": history.final["psnr"],
        "psnr_heldout": history.final["psnr_heldout"],
        "ssim": history.final["ssim"],
        "ssim_heldout": history.final["ssim_heldout"],
        "ssim_note": history.final["ssim_note"],
        "seconds": round(history.final["seconds"], 3),
        "steps": history.final["steps"],
        "lr": history.config["lr"], "betas": history.config["betas"], "eps": history.config["eps"],
        "lr_from": history.config["lr_from"],
        "signal": signal.describe(),
        "config": model.config["kwargs"],
    }
    if args.json:
        print(json_text(result))
    else:
        held = f", held-out {result['psnr_heldout']:.2f} dB" if result["psnr_heldout"] is not None else ""
        if result["ssim"] is not None:
            held += f", SSIM {result['ssim']:.4f}"
        if result["ssim_heldout"] is not None:
            held += f" (held-out {result['ssim_heldout']:.4f})"
        print(f"{args.model} on {result['signal']}: {result['params']:,} params, "
              f"{result['flops_forward'] / 1e9:.3f} GFLOPs/render, fit PSNR {result['psnr']:.2f} dB"
              f"{held}, {result['steps']} steps in {result['seconds']:.1f} s at lr {result['lr']:g}"
              f"{' (the family default)' if result['lr_from'] == 'family' else ''}")
    return 0


def cmd_models(args) -> int:
    from . import models
    from .defaults import describe

    for name in models.available():
        params = models.parameters(name)
        desc = ", ".join(f"{k}={p.default!r}" for k, p in params.items())
        print(f"{name}: {desc}; Adam {describe(name)}")
    return 0


def cmd_study(args) -> int:
    from .study import run_study

    return run_study(profile=args.profile, only=args.only, out=args.out, jobs=args.jobs,
                     resume=args.resume, compare=args.compare, backend=args.backend,
                     address=args.address)


def cmd_sweep(args) -> int:
    from .sweep import format_failures, format_summary, run_sweep

    result = run_sweep(args.spec, args.out, backend=args.backend, address=args.address,
                       jobs=args.jobs, show_progress=None if not args.json else False)
    if args.json:
        from .sweep.engine import label

        failures = [{"hash": r["hash"], "trial": label(r["config"]), "seed": r["config"].get("seed"),
                     "error": r.get("error", "")} for r in result["failures"]]
        print(json_text({**{k: result[k] for k in ("summary", "run", "skipped", "failed", "out", "other")},
                         "failures": failures}))
    else:
        print(format_summary(result["summary"]))
        if result["failures"]:
            print(format_failures(result["failures"]))
        print(f"{result['run']} trials run ({result['failed']} failed), {result['skipped']} "
              f"already in {result['out']}")
        if result["other"]:
            print(f"note: {result['other']} finished trials in {result['out']} are not in this spec; "
                  f"they are kept, and the summary includes them")
    # failed trials are rows of the table (a rerun retries them); the exit code says some failed
    return 1 if result["failed"] else 0


def cmd_claims(args) -> int:
    from . import claims

    if args.list:
        items = [c.describe() for c in claims.registered()]
        if args.json:
            print(json_text(items, indent=1))
        else:
            for c in items:
                proto = "; ".join(f"{k} {claims._short(v)}" for k, v in c["protocol"].items()) or "none fixed"
                print(f"{c['id']}: {c['paper']}, {c['where']} ({c['notebook']})\n    {c['statement']}\n"
                      f"    paper: {'; '.join(f'{k} {v}' for k, v in c['paper_values'].items())}\n"
                      f"    protocol: {proto}")
        return 0
    rows = claims.write_ledger(args.run)
    if args.json:
        print(json_text(claims.rows_json(rows), indent=1))
    else:
        print(claims.format_rows(rows))
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="inrlab", description="Implicit neural representation lab.")
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)

    f = sub.add_parser("fit", help="fit one model to one signal")
    f.add_argument("--model", required=True, help="registered model name (see `inrlab models`)")
    f.add_argument("--signal", required=True,
                   help="image name or path, perlin or perlin:OCTAVES (noise cells per side, at most "
                        "size / 2), star or star:SPOKES (Siemens star), bandnoise or bandnoise:CUTOFF "
                        "(noise low-passed to CUTOFF x Nyquist), synth, or a .wav path")
    f.add_argument("--size", type=int, default=None, help="image side (longer side) in pixels")
    f.add_argument("--gray", action="store_true", help="convert an RGB image to gray")
    f.add_argument("--steps", type=int, default=1000)
    f.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default: the model family's own, see `inrlab models`)")
    f.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: full batch)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", default="auto")
    f.add_argument("--heldout", choices=["none", "every_other"], default="none",
                   help="every_other: train on even pixels, report PSNR on the rest")
    f.add_argument("--checkpoint", default=None, help="write a checkpoint here at the end")
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter, repeatable (e.g. --set width=128)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                   help="mixed precision for forward and loss (mostly useful on a GPU)")
    f.add_argument("--compile", nargs="?", const="default", default=False, metavar="MODE",
                   help="train through torch.compile (optionally a mode: reduce-overhead uses "
                        "CUDA graphs); compiling takes tens of seconds")
    f.set_defaults(func=cmd_fit)

    m = sub.add_parser("models", help="list models and their parameters")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("study", help="execute the study notebooks with papermill")
    s.add_argument("--profile", default="quick", help="quick (CPU, minutes) or paper (GPU)")
    s.add_argument("--only", nargs="*", default=None, help="notebook names (or prefixes) to run")
    s.add_argument("--out", default=None, help="output folder (default runs/<timestamp>)")
    s.add_argument("--jobs", type=int, default=1, help="notebooks to run at once")
    s.add_argument("--resume", default=None, help="a previous run folder: skip finished notebooks")
    s.add_argument("--compare", default=None, metavar="RUN_DIR",
                   help="an earlier run folder; writes compare.html beside this run's index.html")
    s.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="ray: each notebook runs as a Ray task; its notebook, metrics and figures come back")
    s.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto': the running one); none starts a local Ray")
    s.set_defaults(func=cmd_study)

    w = sub.add_parser("sweep", help="run a sweep spec (signals x trials x seeds), resumable")
    w.add_argument("spec", help="the sweep spec, a YAML file (see inrlab.sweep.spec)")
    w.add_argument("--out", required=True, help="results folder (results.jsonl, summary.json); "
                                                "a rerun into it runs only the missing trials")
    w.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: a process pool on this machine; ray: Ray tasks")
    w.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto': the running one); none starts a local Ray")
    w.add_argument("--jobs", type=int, default=None,
                   help="worker processes (local; default the cores) or CPUs of a local Ray")
    w.add_argument("--json", action="store_true", help="print the summary and counts as JSON")
    w.set_defaults(func=cmd_sweep)

    c = sub.add_parser("claims", help="the claims ledger: list the claims, or judge a study run")
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list the registered claims and their protocols")
    what.add_argument("--run", metavar="RUN_DIR", help="a study run folder: one verdict per claim (writes claims.json)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=cmd_claims)
    return p


def main(argv=None) -> int:
    parser = make_parser()

    def run():
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        if args.command == "fit" and args.steps < 1:
            raise InrlabError(f"--steps must be a positive integer, got {args.steps}")
        return args.func(args)

    return guarded(run)


def guarded(run) -> int:
    """run() with every exception turned into one line on stderr and an exit code: 2 for bad
    input (InrlabError), 130 for Ctrl-C, 1 for anything else."""
    restore = _term_as_interrupt()
    try:
        return run()
    except InrlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print("error: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; use a smaller --size or --batch-size", file=sys.stderr)
        return 1
    except Exception as e:  # one line, even for what we did not foresee
        msg = " ".join(str(e).split())[:300]
        print(f"error: unexpected {type(e).__name__}: {msg}", file=sys.stderr)
        return 1
    finally:
        restore()


def _term_as_interrupt():
    """Make SIGTERM raise `Terminated` (a KeyboardInterrupt) in the main thread while a command
    runs, where it has no handler of its own, and ignore the ones after it while the command
    winds up; returns what puts the old handler back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return lambda: None

    received = []

    def handler(signum, frame):
        # once: a second SIGTERM (coreutils timeout signals the process and then its group)
        # would otherwise land in the clean-up this one starts (rows, summary, the pool's stop),
        # or kill the process on its way out with 143
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        received.append(signum)
        raise Terminated()

    def restore():
        if not received:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, handler)
    return restore
