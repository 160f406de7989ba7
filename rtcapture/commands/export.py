"""``rtcapture export`` (Parquet datasets, JSONL cassettes) and ``rtcapture import``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..cli import AppContext, pass_app
from ..errors import UsageError, first_line
from ..protocol import redact_text
from ..store import SessionRecord, Store


class Since(click.ParamType):
    """``YYYY-MM-DD`` or an ISO 8601 time (UTC unless it says otherwise)."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"expected YYYY-MM-DD or an ISO 8601 time, got {value!r}", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _select(store: Store, selectors: tuple[str, ...], all_: bool, label: str | None,
            since: datetime | None) -> list[SessionRecord]:
    if selectors and (all_ or label or since):
        raise UsageError("give SESSION arguments or --all/--label/--since, not both")
    if not selectors and not (all_ or label or since):
        raise UsageError("nothing to export: give SESSION arguments or --all")
    if selectors:
        ids = list(dict.fromkeys(store.resolve(s) for s in selectors))
        return [store.session(i) for i in ids]
    return store.sessions(label=label, since=since)


def _nonempty(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


@contextmanager
def _progress(app: AppContext, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr, only on a terminal and without -q."""
    if app.quiet or not sys.stderr.isatty() or total <= 0:
        yield None
        return
    with click.progressbar(length=total, label="exporting", file=sys.stderr,
                           show_eta=True) as bar:
        yield bar.update


def _fail_on_os_error(out: Path, exc: OSError) -> UsageError:
    reason = exc.strerror or str(exc)
    return UsageError(redact_text(f"cannot write {out}: {reason}"))


@click.command(name="export")
@click.argument("sessions", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every session (or those --label/--since pick).")
@click.option("--label", help="Only sessions with this label.")
@click.option("--since", type=Since(), help="Only sessions started on or after DATE (UTC).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder (parquet; jsonl: one file per session), or FILE.jsonl for one "
                   "session.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet",
              show_default=True, help="Parquet dataset or JSONL cassettes.")
@click.option("--partition-by", type=click.Choice(["date", "session"]),
              help="Parquet: Hive-style folders by session start date (UTC) or session id.")
@click.option("--keep-audio", is_flag=True, help="Parquet: keep audio base64 in payload.")
@click.option("--no-redact", is_flag=True, help="Keep sk-/ek_ keys found in payloads.")
@click.option("--force", is_flag=True,
              help="Write into an existing --out: replace its tables / same-named files.")
@pass_app
def export_cmd(app: AppContext, sessions: tuple[str, ...], all_: bool, label: str | None,
               since: datetime | None, out: Path, fmt: str, partition_by: str | None,
               keep_audio: bool, no_redact: bool, force: bool) -> None:
    """Export sessions as a Parquet dataset or as JSONL cassettes.

    \b
    Example:
      rtcapture export --all --out ./dataset
      rtcapture export --all --since 2026-03-01 --partition-by date --out ./dataset
      rtcapture export last --format jsonl --out bug-1234.jsonl
    """
    if fmt == "jsonl" and (partition_by or keep_audio):
        raise UsageError("--partition-by and --keep-audio apply to --format parquet "
                         "(cassettes always keep every byte)")
    store = app.store(create=False)
    records = _select(store, sessions, all_, label, since)
    single = fmt == "jsonl" and out.suffix == ".jsonl"
    if single and len(records) != 1:
        raise UsageError(f"--out {out.name} is one file but {len(records)} sessions match: "
                         "give a folder")
    if fmt == "parquet" and out.is_file():
        raise UsageError(f"{out} is a file; a Parquet dataset needs a folder")
    if _nonempty(out) and not force:
        raise UsageError(f"{out} already exists and is not empty (--force to overwrite)")
    if not records:
        app.info("no sessions match")
    started = time.monotonic()
    try:
        if fmt == "parquet":
            paths, detail = _export_parquet(app, store, records, out, partition_by,
                                            keep_audio, not no_redact)
        else:
            paths, detail = _export_jsonl(store, records, out, single, not no_redact)
    except OSError as exc:
        raise _fail_on_os_error(out, exc) from exc
    for path in paths:
        click.echo(str(path))
    app.info(f"exported {len(records)} session(s), {detail}, to {out} "
             f"in {time.monotonic() - started:.2f} s")


def _export_parquet(app: AppContext, store: Store, records: list[SessionRecord], out: Path,
                    partition_by: str | None, keep_audio: bool, redact: bool
                    ) -> tuple[list[Path], str]:
    from ..export.parquet import ParquetOptions, write_dataset

    options = ParquetOptions(keep_audio=keep_audio, redact=redact, partition_by=partition_by)
    total = sum(r.client_events + r.server_events for r in records)
    with _progress(app, total) as progress:
        summary = write_dataset(store, records, out, options, progress)
    return summary.paths, f"{summary.events} events, {summary.responses} responses"


def _export_jsonl(store: Store, records: list[SessionRecord], out: Path, single: bool,
                  redact: bool) -> tuple[list[Path], str]:
    from ..export.cassette import write_cassette
    from ..paths import child

    if single:
        out.parent.mkdir(parents=True, exist_ok=True)
        targets = [(records[0], out)]
    else:
        targets = [(rec, child(out, f"{rec.id}.jsonl")) for rec in records]
        out.mkdir(parents=True, exist_ok=True)
    frames = 0
    for rec, path in targets:
        frames += write_cassette(store, rec, path, redact=redact)
    return [path for _, path in targets], f"{frames} frames"


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_app
def import_cmd(app: AppContext, files: tuple[Path, ...]) -> None:
    """Load JSONL cassettes into the database (a session already there is skipped).

    Each file is checked whole first; a malformed or truncated one is rejected with the
    line at fault and nothing from it is imported (exit 2, after the other files).

    \b
    Example:
      rtcapture import bug-1234.jsonl
      rtcapture --db postgresql://localhost/rtc import cassettes/*.jsonl
    """
    from ..export.cassette import CassetteError, import_cassette
    from ..store import DatabaseError

    store = app.store()
    paths = list(dict.fromkeys(files))
    errors: list[str] = []
    for path in paths:
        try:
            result = import_cassette(store, path)
        except (CassetteError, DatabaseError) as exc:
            message = str(exc) if isinstance(exc, CassetteError) \
                else f"{path}: cannot import: {first_line(exc)}"
            errors.append(redact_text(message))
            if len(paths) > 1:
                click.echo(f"error: {errors[-1]}", err=True)
            continue
        click.echo(result.session_id)
        if result.imported:
            app.info(f"imported {path}: session {result.session_id}, {result.frames} frames")
        else:
            app.info(f"skipped {path}: session {result.session_id} is already in the database")
    if errors:
        raise UsageError(errors[0] if len(errors) == 1 else
                         f"{len(errors)} of {len(paths)} cassettes rejected (see above)")


COMMANDS = [export_cmd, import_cmd]
