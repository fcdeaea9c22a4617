"""Shared bits of the CLI: settings and where the data lives, a hub for one-shot commands,
one-line errors, printing lists.

Where the data lives (docs/configuration.md, "Where the data lives"): ``RENKEI_DATA_DIR``
when set; else ``renkei serve`` and ``renkei migrate`` use the current directory (and,
without RENKEI_DATABASE_URL, record it in ``$XDG_CONFIG_HOME/renkei/data-dir``), and every other command uses the nearest
directory from the current one upward that holds ``renkei.db`` or ``renkei-secret.key``,
else the recorded one. The database defaults to ``renkei.db`` in the data directory. Only
``serve`` and ``migrate`` create a database or a secret key.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import orjson
import typer
import uvloop
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from typer import _click
from typer.core import TyperGroup

from renkei.errors import RenkeiError
from renkei.hub import Hub
from renkei.observability.logging import configure_logging
from renkei.settings import Settings
from renkei.store.errors import sqlstate
from renkei.store.urls import URL_HINT, database_file, unsupported_backend

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DATABASE_FILE = "renkei.db"
KEY_FILE = "renkei-secret.key"
MISSING_HINT = (
    "run `renkei serve` or `renkei migrate` in the data directory first, "
    "or set RENKEI_DATA_DIR (or RENKEI_DATABASE_URL)"
)


class CliError(Exception):
    """A user error: printed as one line (and a hint), exit status 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# -- where the data lives -------------------------------------------------------------------


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "renkei"


def recorded_data_dir_file() -> Path:
    return config_dir() / "data-dir"


def error_log_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "renkei" / "cli-errors.log"


@dataclass(frozen=True)
class DataDir:
    path: Path
    why: str


def locate_data_dir(*, creating: bool) -> DataDir:
    """The rule of the module docstring, for a process without ``RENKEI_DATA_DIR``."""
    here = Path.cwd().resolve()
    if creating:
        return DataDir(here, "the current directory")
    for folder in (here, *here.parents):
        if (folder / DATABASE_FILE).exists() or (folder / KEY_FILE).exists():
            why = "the current directory" if folder == here else f"found upward from {here}"
            return DataDir(folder, why)
    record = recorded_data_dir_file()
    try:
        # The directory, then the command that recorded it (absent in older records).
        lines = record.read_text().splitlines()
    except OSError:
        lines = []
    recorded = Path(lines[0].strip()) if lines and lines[0].strip() else None
    by = lines[1].strip() if len(lines) > 1 and lines[1].strip() else "serve"
    if recorded is not None and recorded.is_dir():
        return DataDir(recorded, f"recorded by `renkei {by}` in {record}")
    return DataDir(here, "the current directory")


def record_data_dir(path: Path, *, by: str = "serve") -> None:
    """Remember where ``serve``/``migrate`` keep their data, for commands run elsewhere."""
    record = recorded_data_dir_file()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{path.resolve()}\n{by}\n")
    except OSError as exc:
        err_console.print(f"note: could not record the data directory in {record}: {exc}")


def load_settings(*, creating: bool = False, quiet: bool = False) -> Settings:
    """Settings for this command, with the data directory located by the documented rule.

    ``creating`` (``serve``, ``migrate``) may create the database and the secret key; every
    other command stops with one line when they are missing.
    """
    overrides: dict[str, Any] = {}
    located: DataDir | None = None
    if not os.environ.get("RENKEI_DATA_DIR"):
        located = locate_data_dir(creating=creating)
        overrides["data_dir"] = located.path
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_setting_name(error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}") from None
    configure_logging(settings.log_level, settings.log_format)
    unsupported = unsupported_backend(settings.database_url)
    if unsupported is not None:
        raise CliError(f"RENKEI_DATABASE_URL: unsupported database {unsupported!r}", URL_HINT)
    stored_in = database_file(settings.database_url)
    explicit_url = bool(os.environ.get("RENKEI_DATABASE_URL"))
    if not explicit_url and not quiet:
        why = f" ({located.why})" if located is not None else " (RENKEI_DATA_DIR)"
        err_console.print(
            f"renkei: database {safe_url(settings.database_url)}{why}",
            highlight=False,
            markup=False,
        )
    if not creating:
        if stored_in is not None and not stored_in.exists():
            raise CliError(f"no Renkei database at {stored_in.resolve()}", MISSING_HINT)
        if not settings.secret_key and not settings.secret_key_file.exists():
            raise CliError(
                f"no secret key: RENKEI_SECRET_KEY is unset and "
                f"{settings.secret_key_file.resolve()} does not exist",
                MISSING_HINT.replace("(or RENKEI_DATABASE_URL)", "or RENKEI_SECRET_KEY"),
            )
    return settings


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """The variable a validation error is about: a field's ``RENKEI_`` name, or the alias
    (already ``RENKEI_...``) a renamed setting was read from."""
    name = str(loc[0]).upper() if loc else "RENKEI"
    name = name if name.startswith("RENKEI_") else f"RENKEI_{name}"
    return f"{name} ({'.'.join(str(part) for part in loc[1:])})" if loc[1:] else name


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def with_hub(
    action: Callable[[Hub], Awaitable[T]],
    *,
    migrate_first: bool = True,
    creating: bool = False,
    settings: Settings | None = None,
) -> T:
    """Run ``action`` against a hub for one command, then close it."""
    settings = settings or load_settings(creating=creating)

    async def run() -> T:
        hub = Hub(settings)
        try:
            if migrate_first:
                await hub.start(with_worker=False)
            return await action(hub)
        finally:
            await hub.stop()

    return uvloop.run(run())  # as `renkei serve` runs (uvicorn's loop="uvloop")


def read_text_file(file: Path) -> str:
    """A file's text, or one line saying why not (before any database is opened)."""
    try:
        return file.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise CliError(f"{file} is a directory, not a file") from None
    except FileNotFoundError:
        raise CliError(f"{file}: no such file") from None
    except UnicodeDecodeError:
        raise CliError(f"{file}: not a text file (expected YAML)") from None
    except OSError as exc:
        raise CliError(f"{file}: {exc.strerror or exc}") from None


def load_yaml(file: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(read_text_file(file))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CliError(f"{file}: not valid YAML{where}: {problem}") from None


# -- errors -----------------------------------------------------------------------------------


def _flatten(text: str) -> str:
    return " ".join(text.split())


def refusal(exc: RenkeiError) -> CliError:
    """The CLI's one line for anything Renkei refuses (``renkei.errors``)."""
    return CliError(_flatten(exc.message))


def user_error(exc: BaseException) -> CliError | None:
    """The one-line message of an error a user can fix, None for a bug."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from renkei.connectors.errors import ConnectorError
    from renkei.expr.errors import FlowError
    from renkei.flows.problems import FlowSpecError
    from renkei.security.keyring import KeyringError

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, FlowSpecError):
        details = "; ".join(
            f"{p['path']}: {p['message']}" if p.get("path") else str(p["message"])
            for p in exc.problems
        )
        return CliError(f"invalid flow: {details}")
    if isinstance(exc, ConnectorError):
        return CliError(_flatten(exc.message))
    if isinstance(exc, KeyringError):
        return CliError(
            f"secret key problem: {exc}",
            "set RENKEI_SECRET_KEY to the keys the server uses (new first, then the old ones)",
        )
    if isinstance(exc, RenkeiError):
        return refusal(exc)
    if isinstance(exc, DBAPIError) and (sqlstate(exc) or "")[:2] in ("08", "28", "3D"):
        # Connection refused by the server, authentication, no such database.
        first = str(getattr(exc.orig, "__cause__", None) or exc.orig).strip().splitlines()[0]
        return CliError(
            f"cannot use the database: {_flatten(first)}",
            "check RENKEI_DATABASE_URL (host, user, password, database name)",
        )
    if isinstance(exc, OperationalError | ConnectionError):
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return CliError(
            f"cannot use the database: {_flatten(first)}",
            "check RENKEI_DATABASE_URL and that the database server is running",
        )
    if isinstance(exc, FlowError):  # a filter, mapping or template the user wrote
        text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
        return CliError(_flatten(text))
    if isinstance(exc, OSError) and exc.filename is not None:
        return CliError(f"{exc.filename}: {exc.strerror or exc}")
    return None


def fail(error: CliError) -> NoReturn:
    err_console.print(f"error: {_flatten(error.message)}", highlight=False, markup=False)
    if error.hint:
        err_console.print(f"hint: {_flatten(error.hint)}", highlight=False, markup=False)
    raise typer.Exit(1)


def report_bug(exc: BaseException) -> NoReturn:
    """An unexpected error: a short message here, the traceback in the log file."""
    log = error_log_file()
    where = f"the traceback is in {log}"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"--- {datetime.now(UTC).isoformat()} renkei {' '.join(sys.argv[1:])}\n")
            handle.write("".join(traceback.format_exception(exc)))
    except OSError:
        where = "the traceback could not be written to " + str(log)
    summary = _flatten(str(exc))[:300]
    err_console.print(
        f"error: unexpected {type(exc).__name__}: {summary} (a bug in Renkei; {where})",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(1)


class RenkeiGroup(TyperGroup):
    """Every command runs inside this: user errors are one line, bugs a short message."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _click.exceptions.NoArgsIsHelpError:
            raise
        except _click.exceptions.UsageError as exc:
            # A missing option, an unknown command ...: one line and where to read more.
            path = exc.ctx.command_path if exc.ctx is not None else "renkei"
            fail(CliError(exc.format_message(), f"`{path} --help` lists what it takes"))
        except (typer.Exit, typer.Abort, _click.ClickException):
            raise
        except Exception as exc:
            error = user_error(exc)
            if error is not None:
                fail(error)
            report_bug(exc)


# -- printing lists ---------------------------------------------------------------------------


def print_json(payload: Any) -> None:
    console.print(
        orjson.dumps(
            payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode(),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def print_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    as_json: bool,
    objects: Sequence[Any],
    empty: str = "none",
) -> None:
    """A list: JSON with ``--json``; a table on a terminal; tab-separated lines otherwise
    (whole values, nothing truncated, for scripts and pipes)."""
    if as_json:
        print_json(list(objects))
        return
    if not console.is_terminal:
        out = sys.stdout
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(cell.replace("\t", " ") for cell in row) + "\n")
        out.flush()
        return
    if not rows:
        console.print(empty)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    console.print(table)
