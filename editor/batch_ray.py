"""The batch on Ray: one task per clip stage (track, fill a span, render), resources declared, retried when a
worker dies.

With no address, a local Ray is started in this process (on 127.0.0.1, nothing to install beyond ``ray``);
``auto`` or ``ray://HOST:PORT`` joins an existing cluster. Every worker must have tam installed and read and
write the batch's ``--out`` folder at the same path (a shared filesystem, or object storage mounted there):
the project folders under it carry the frames, masks and fills from one stage to the next, Ray only carries
the small plans. A task whose worker dies (killed, out of memory, node lost) is run again by Ray up to
``max_retries`` times; each stage starts over cleanly (see ``editor.batch``), so a retry writes the same
frames. An error raised by tam itself (bad input) is not retried: the clip is reported failed, the others go on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from editor.batch import (
    BatchProgress,
    BatchSettings,
    ClipResult,
    NoProgress,
    error_text,
    fill,
    finish,
    invalid_results,
    prepare,
    stages_of,
)
from editor.errors import InputError
from editor.manifest import Manifest

INSTALL_HINT = "install Ray to run clips in parallel: pip install 'tam[ray]' (or pip install ray)"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: a local Ray in this process; "auto"; "ray://HOST:PORT" (needs ray[client])
    workers: int | None = None  # a local Ray's CPUs (default: every core); ignored with an address
    cpus_per_clip: float = 1.0  # per task: each stage of a clip asks for these
    gpus_per_clip: float = 0.0  # per task of the track and fill stages (rendering is CPU work)
    max_retries: int = 3  # runs of a task again after its worker died


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _connect(options: RayOptions) -> Path | None:
    """Start or join Ray; returns the local Ray's folder when this call started one (to shut down and remove),
    ``Path()`` when it joined a cluster (to disconnect from), None when the caller runs its own Ray."""
    import ray

    if ray.is_initialized():  # the caller runs its own Ray: use it as it is
        return None
    debug = bool(os.environ.get("TAM_DEBUG"))
    common = {"include_dashboard": False, "log_to_driver": debug, "logging_level": "INFO" if debug else "WARNING"}
    folder = Path()
    try:
        if options.address is None:
            folder = Path(tempfile.mkdtemp(prefix="tam-ray-"))  # short: Ray's socket paths stay under 107 bytes
            ray.init(
                address="local",  # never an existing cluster found on this machine by chance
                num_cpus=options.workers or os.cpu_count() or 1,
                _node_ip_address="127.0.0.1",
                object_store_memory=256 * 1024**2,  # only plans travel through it; the frames are on disk
                _temp_dir=str(folder),
                **common,
            )
        else:
            ray.init(address=options.address, **common)
    except ConnectionError as exc:
        raise InputError(f"cannot reach the Ray cluster at {options.address}: {exc}{_auth_hint()}") from exc
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"cannot start or join Ray ({options.address or 'local'}): {exc}") from exc
    return folder


def _auth_hint() -> str:
    """What to try when joining failed and this process did not ask for Ray's token authentication: a cluster
    started with ``ray start`` (Ray 2.52 and later) requires it, and a driver joining by address does not send
    its token unless ``RAY_AUTH_MODE=token`` is set (tested: ``tests/editor/test_batch_cluster.py``)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return ""
    return ("; if the cluster was started with `ray start` (token authentication by default), run tam batch with "
            "RAY_AUTH_MODE=token set (the token is read from RAY_AUTH_TOKEN or ~/.ray/auth_token)")


def _check_fits(options: RayOptions) -> None:
    """Refuse resources no node has (Ray would keep such tasks pending forever)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for key, wanted, flag in (("CPU", options.cpus_per_clip, "--cpus-per-clip"),
                              ("GPU", options.gpus_per_clip, "--gpus-per-clip")):
        most = max((n.get(key, 0.0) for n in nodes), default=0.0)
        if wanted > most:
            raise InputError(f"{flag} {wanted:g}: no node of the Ray cluster has that many ({key} per node: at most "
                             f"{most:g}); ask for less or add such nodes")


def _failure(exc: BaseException, stage: str, options: RayOptions) -> str:
    from ray.exceptions import RayTaskError, TaskCancelledError

    if isinstance(exc, RayTaskError):
        cause = getattr(exc, "cause", None)
        return error_text(cause if isinstance(cause, BaseException) else exc)
    if isinstance(exc, TaskCancelledError):
        return f"the {stage} task was cancelled"
    return f"the {stage} task failed {options.max_retries + 1} times ({type(exc).__name__}): its worker died"


def run_on_ray(
    manifest: Manifest, settings: BatchSettings, options: RayOptions, progress: BatchProgress | None = None
) -> list[ClipResult]:
    """Every clip of ``manifest`` as Ray tasks; returns one result per manifest line (bad lines included)."""
    import ray

    progress = progress or NoProgress()
    if options.cpus_per_clip <= 0 or options.gpus_per_clip < 0:
        raise InputError("--cpus-per-clip must be > 0 and --gpus-per-clip >= 0")
    threads = settings.threads or max(1, int(options.cpus_per_clip))
    settings = BatchSettings(settings.out_dir, settings.span, threads)
    base = {"num_cpus": options.cpus_per_clip, "max_retries": options.max_retries, "retry_exceptions": False}
    model = {**base, "num_gpus": options.gpus_per_clip}
    track_task = ray.remote(prepare).options(name="tam-track", **model)
    fill_task = ray.remote(fill).options(name="tam-fill", **model)
    render_task = ray.remote(finish).options(name="tam-render", **base)

    results = {spec.name: ClipResult(spec.line, spec.name, "done", output=str(spec.output)) for spec in manifest.clips}
    specs = {spec.name: spec for spec in manifest.clips}
    plans: dict[str, object] = {}
    open_fills: dict[str, int] = {}
    pending: dict[object, tuple[str, str, int]] = {}  # ref -> (clip, stage, frames it covers)
    started = _connect(options)
    try:
        _check_fits(options)
        for spec in manifest.clips:
            pending[track_task.remote(spec, settings)] = (spec.name, "track", 0)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            name, stage, frames = pending.pop(ref)
            spec, result = specs[name], results[name]
            try:
                value = ray.get(ref)
            except Exception as exc:  # the clip fails; its other tasks are dropped, the batch goes on
                result.status, result.error = "failed", _failure(exc, stage, options)
                for other in [r for r, (n, _, _) in pending.items() if n == name]:
                    ray.cancel(other)
                    pending.pop(other)
                progress.clip_done(result)
                continue
            if result.status == "failed":
                continue
            if stage == "track":
                result.frames, result.stage_seconds["prepare"] = value.frames, value.seconds
                progress.frames_known(value.frames * stages_of(spec))
                if value.skipped:
                    result.status = "skipped"
                    progress.frames_done(value.frames * stages_of(spec))
                    progress.clip_done(result)
                    continue
                progress.frames_done(value.frames)
                plans[name] = value.plan
                todo = value.plan.todo if value.plan is not None else ()
                if value.plan is not None:
                    progress.frames_done(value.frames - sum(e - s for s, e in todo))
                open_fills[name] = len(todo)
                for span in todo:
                    pending[fill_task.remote(spec, settings, value.plan, span)] = (name, "fill", span[1] - span[0])
                if not todo:
                    pending[render_task.remote(spec, settings, value.plan)] = (name, "render", value.frames)
            elif stage == "fill":
                result.stage_seconds["fill"] = result.stage_seconds.get("fill", 0.0) + value
                progress.frames_done(frames)
                open_fills[name] -= 1
                if open_fills[name] == 0:
                    pending[render_task.remote(spec, settings, plans[name])] = (name, "render", result.frames)
            else:
                result.stage_seconds["finish"] = value
                progress.frames_done(frames)
                progress.clip_done(result)
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started is not None:
            ray.shutdown()
            if started != Path():
                shutil.rmtree(started, ignore_errors=True)
    for result in results.values():
        result.seconds = sum(result.stage_seconds.values())
    return sorted(invalid_results(manifest.problems) + list(results.values()), key=lambda r: r.line)


def describe(options: RayOptions) -> str:
    """The runner, for the report: which cluster and what each task asks for."""
    where = options.address or f"local Ray on 127.0.0.1, {options.workers or os.cpu_count()} CPUs"
    return f"ray ({where}; per task {options.cpus_per_clip:g} CPU, {options.gpus_per_clip:g} GPU)"


__all__ = ["INSTALL_HINT", "RayOptions", "describe", "ray_available", "run_on_ray"]

