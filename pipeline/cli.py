"""The ``voicetrack`` command line: thin Click commands over the pipeline's functions.

Every command runs inside :func:`reporting_errors`, which turns the pipeline's exceptions
into what a person should see and the exit status scripts can rely on:

- :class:`ScriptError`: every ``path:line:col: message`` on stderr, exit status 2;
- any other :class:`PipelineError`: its message and hint on stderr, exit status 1;
- anything unexpected: one line and a hint to rerun with ``--debug``, exit status 1
  (``voicetrack --debug …`` lets the traceback through).

A new command is a function decorated with ``@main.command()``; it gets this handling for
free because the group wraps every subcommand it invokes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pipeline import __version__
from pipeline.check import DEFAULT_SCRIPTS, check_scripts, find_scripts, summary_lines
from pipeline.errors import PipelineError, ScriptError

EXIT_RENDER_FAILED = 1
EXIT_INVALID_INPUT = 2


@contextmanager
def reporting_errors(debug: bool = False) -> Iterator[None]:
    """Run a command, reporting pipeline errors on stderr and exiting with their status."""
    try:
        yield
    except ScriptError as error:
        report_script_errors(error)
        raise SystemExit(EXIT_INVALID_INPUT) from None
    except PipelineError as error:
        click.echo(f"Error: {error}", err=True)
        if error.hint:
            click.echo(f"Hint: {error.hint}", err=True)
        raise SystemExit(EXIT_RENDER_FAILED) from None
    except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as error:
        if debug:
            raise
        click.echo(
            f"Error: unexpected {type(error).__name__}: {error} "
            "(rerun with --debug to see the traceback)",
            err=True,
        )
        raise SystemExit(EXIT_RENDER_FAILED) from None


def report_script_errors(error: ScriptError) -> None:
    for problem in error.errors:
        click.echo(str(problem), err=True)


class _Group(click.Group):
    """A group that runs each subcommand inside :func:`reporting_errors`."""

    def invoke(self, ctx: click.Context) -> Any:
        with reporting_errors(debug=bool(ctx.params.get("debug"))):
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="voicetrack")
@click.option("--debug", is_flag=True, help="Show the full traceback of unexpected errors.")
def main(debug: bool) -> None:
    """Turn written exercise scripts into mastered British and American audio tracks.

    Run voicetrack in the project folder: the one holding scripts_src/, voices/ and out/.

    \b
    Examples:
      voicetrack check                 check every script in scripts_src/
      voicetrack check -h              help on one command
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Check scripts and summarise them, without rendering anything.

    PATHS are script files or folders of them (default: scripts_src/). Each valid script
    gets a short summary; each problem in an invalid one is printed as path:line:col and
    the exit status is 2.

    \b
    Examples:
      voicetrack check
      voicetrack check scripts_src/body-scan.md
      voicetrack check drafts/ scripts_src/
    """
    if not paths and not DEFAULT_SCRIPTS.is_dir():
        raise click.UsageError(
            f"there is no {DEFAULT_SCRIPTS}/ folder here; run voicetrack "
            "in the project folder or name the scripts to check"
        )
    scripts = find_scripts(paths)
    if not scripts:
        raise click.UsageError(
            "no scripts (*.md files) found in "
            + ", ".join(str(p) for p in paths or (DEFAULT_SCRIPTS,))
        )
    results = check_scripts(scripts, root=Path.cwd())
    for result in results:
        if result.summary is not None:
            click.echo("\n".join(summary_lines(result.summary)))
        else:
            report_script_errors(ScriptError(result.errors))
    invalid = [r for r in results if not r.ok]
    if invalid:
        errors = sum(len(r.errors) for r in invalid)
        click.echo(
            f"{errors} problem{'s' * (errors != 1)} in {len(invalid)} of {len(results)} "
            f"script{'s' * (len(results) != 1)}",
            err=True,
        )
        raise SystemExit(EXIT_INVALID_INPUT)
    click.echo(f"{len(results)} script{'s' * (len(results) != 1)} OK")
