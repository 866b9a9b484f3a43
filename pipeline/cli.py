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

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline import __version__
from pipeline.errors import PipelineError, ScriptError
from pipeline.timefmt import format_clock

if TYPE_CHECKING:
    from pipeline.check import CheckResult

EXIT_RENDER_FAILED = 1
EXIT_INVALID_INPUT = 2


def _role_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A role given on the command line follows the rule for ``voice:`` in a script."""
    from pipeline.parse import is_role_name

    if value is not None and not is_role_name(value):
        raise click.BadParameter("a role name is letters, digits, '-' and '_', like narrator")
    return value


@contextmanager
def reporting_errors(debug: bool = False, *, keep_going: bool = False) -> Iterator[None]:
    """Run a command, reporting pipeline errors on stderr and exiting with their status;
    with ``keep_going`` (a watch), report them and carry on."""
    try:
        yield
    except ScriptError as error:
        report_script_errors(error)
        if not keep_going:
            raise SystemExit(EXIT_INVALID_INPUT) from None
    except PipelineError as error:
        click.echo(f"Error: {error}", err=True)
        if error.hint:
            click.echo(f"Hint: {error.hint}", err=True)
        if not keep_going:
            raise SystemExit(error.exit_status) from None
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
        if not keep_going:
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


def _jobs_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-j/--jobs``, as build and publish both take it."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(1, 64),
        default=lambda: min(os.cpu_count() or 1, 4),
        show_default="one per CPU core, up to 4",
        help=help_text,
    )


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
    from pipeline.check import summary_lines

    results = check_scripts(_script_paths(paths), root=Path.cwd())
    for result in results:
        if result.summary is not None:
            click.echo("\n".join(summary_lines(result.summary)))
        else:
            report_script_errors(ScriptError(result.errors))
    invalid = [r for r in results if not r.ok]
    scripts = [r for r in results if r.kind == "script"]
    if invalid:
        errors = sum(len(r.errors) for r in invalid)
        bad_scripts = sum(r.kind == "script" for r in invalid)
        profiles = len(invalid) - bad_scripts
        click.echo(
            f"{errors} problem{'s' * (errors != 1)} in {bad_scripts} of {len(scripts)} "
            f"script{'s' * (len(scripts) != 1)}"
            + (f" and {profiles} voice profile{'s' * (profiles != 1)}" if profiles else ""),
            err=True,
        )
        raise SystemExit(EXIT_INVALID_INPUT)
    click.echo(f"{len(scripts)} script{'s' * (len(scripts) != 1)} OK")


def check_scripts(paths: list[Path], root: Path) -> list[CheckResult]:
    """:func:`pipeline.check.check_scripts`, imported on first use: the parser, the planner
    and the voice profiles it needs cost more than ``voicetrack --help`` takes in all."""
    from pipeline.check import check_scripts as check_each

    return check_each(paths, root=root)


# --------------------------------------------------------------------------- build and pdf


def _script_paths(paths: tuple[Path, ...]) -> list[Path]:
    from pipeline.check import DEFAULT_SCRIPTS, find_scripts

    if not paths and not DEFAULT_SCRIPTS.is_dir():
        raise click.UsageError(
            f"there is no {DEFAULT_SCRIPTS}/ folder here; run voicetrack "
            "in the project folder or name the scripts"
        )
    scripts = find_scripts(paths)
    if not scripts:
        raise click.UsageError(
            "no scripts (*.md files) found in "
            + ", ".join(str(p) for p in paths or (DEFAULT_SCRIPTS,))
        )
    return scripts


@contextmanager
def _console_logging(console: Any, quiet: bool, debug: bool) -> Iterator[None]:
    """Show the pipeline's log records on ``console`` (above any progress bars) while a
    command runs: warnings by default, errors only with --quiet, everything with --debug."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("pipeline")
    handler = RichHandler(console=console, show_time=False, show_path=debug, markup=False)
    handler.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)
    previous_level = logger.level
    logger.addHandler(handler)
    if debug:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


_paths_argument = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
_out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder the tracks are written to, one subfolder per script.",
)
_locale_option = click.option(
    "--locale",
    "locales",
    multiple=True,
    metavar="LOCALE",
    help="Only this locale (e.g. en-GB); repeat for several. Default: the script's locales.",
)


@main.command()
@_paths_argument
@_out_option
@_locale_option
@click.option(
    "--voice",
    metavar="ROLE",
    callback=_role_name,
    help="Voice role for every script, instead of its own.",
)
@click.option(
    "--fill-missing",
    metavar="ROLE",
    callback=_role_name,
    help="With a takes voice: speak segments that have no usable take with this role.",
)
@_jobs_option("Tracks rendered at once, each in its own process.")
@click.option(
    "--force",
    is_flag=True,
    help="Start from scratch: ignore the cache and the last build; render everything.",
)
@click.option(
    "--stems",
    is_flag=True,
    help="Also write each track's voice and bed as FLAC stems beside its MP3 "
    "(<slug>.<locale>.voice.flac, .bed.flac), sample-aligned, for remixing.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="After building, rebuild whenever a script, lexicon or voice profile is saved "
    "(Ctrl-C stops).",
)
@click.option(
    "--listen",
    "listen_after",
    is_flag=True,
    help="Then transcribe each track and check it says its script (as voicetrack listen).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars; only errors and the summary.")
@click.option("--debug", is_flag=True, help="Show diagnostics and full tracebacks.")
@click.pass_context
def build(
    ctx: click.Context,
    paths: tuple[Path, ...],
    out_dir: Path,
    locales: tuple[str, ...],
    voice: str | None,
    fill_missing: str | None,
    jobs: int,
    force: bool,
    stems: bool,
    watch: bool,
    listen_after: bool,
    quiet: bool,
    debug: bool,
) -> None:
    """Render scripts into mastered MP3 tracks, captions, PDFs and manifests.

    PATHS are script files or folders of them (default: scripts_src/). Every script is
    checked first; if any is invalid, nothing is rendered (exit status 2). For each script
    and locale, out/<slug>/ gets <slug>.<locale>.mp3, .vtt, .pdf and .json. Sentences are
    cached: a rebuild speaks only what changed, and an unchanged track is left untouched.

    \b
    Examples:
      voicetrack build
      voicetrack build scripts_src/body-scan.md --locale en-GB
      voicetrack build --voice narrator-male --jobs 2
      voicetrack build scripts_src/body-scan.md --voice dr-lee --fill-missing narrator
      voicetrack build --watch --locale en-GB     rebuild on every save
      voicetrack build --listen                   check the voice said the scripts
      voicetrack build --stems                    voice and bed as FLAC stems too
    """
    import time
    from dataclasses import replace

    from pipeline.build import BuildOptions
    from pipeline.build import build as build_tracks

    debug = debug or bool(ctx.parent and ctx.parent.params.get("debug"))
    options = BuildOptions(
        root=Path.cwd(),
        out_dir=out_dir,
        locales=locales,
        voice=voice,
        fill_missing=fill_missing,
        force=force,
        jobs=jobs,
        stems=stems,
    )

    def run_build(options: BuildOptions) -> None:
        from pipeline.lifetime import signals_exit

        started = time.perf_counter()
        # SIGTERM and SIGHUP stop a build as Ctrl-C does: temporary files go, workers end.
        with (
            signals_exit(),
            BuildDisplay(quiet) as display,
            _console_logging(display.progress.console, quiet, debug),
        ):
            results = build_tracks(_script_paths(paths), options, display)
        print_summary(results, time.perf_counter() - started)
        if listen_after:
            _listen_and_report(paths, options.out_dir, options.locales, None, None)

    if watch:
        # --force applies to the first build; the rebuilds are incremental.
        _watch_builds(
            paths,
            lambda: run_build(options),
            lambda: run_build(replace(options, force=False)),
            debug,
        )
        return
    with reporting_errors(debug):
        run_build(options)


def _watch_builds(
    paths: tuple[Path, ...],
    first_build: Callable[[], None],
    run_build: Callable[[], None],
    debug: bool,
) -> None:
    """Build, then build again whenever the inputs change, reporting errors (an invalid
    script included) without stopping, until Ctrl-C."""
    from pipeline import watch
    from pipeline.check import DEFAULT_SCRIPTS
    from pipeline.paths import display_path

    root = Path.cwd()
    waiting = "watching scripts, lexicons and voices for changes; Ctrl-C stops"

    def rebuild(changed: list[Path]) -> None:
        names = [display_path(path, root) for path in changed]
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        click.echo(f"changed: {', '.join(names[:3])}{more}", err=True)
        with reporting_errors(debug, keep_going=True):
            run_build()
        click.echo(waiting, err=True)

    with reporting_errors(debug, keep_going=True):
        first_build()
    click.echo(waiting, err=True)
    try:
        watch.watch(list(paths) or [DEFAULT_SCRIPTS], root, rebuild)
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)


@main.command()
@_paths_argument
@_out_option
@_locale_option
def pdf(paths: tuple[Path, ...], out_dir: Path, locales: tuple[str, ...]) -> None:
    """Write the audio-script PDFs alone, without synthesis.

    Section times and the total duration are estimated from the text and the script's
    pauses, and marked as approximate; `voicetrack build` writes PDFs with measured times,
    and a PDF a build wrote is kept as it is.

    \b
    Examples:
      voicetrack pdf
      voicetrack pdf scripts_src/breathing-practice.md --locale en-US --out proofs
    """
    from pipeline.build import BuildOptions, write_pdfs

    options = BuildOptions(root=Path.cwd(), out_dir=out_dir, locales=locales)
    for outcome in write_pdfs(_script_paths(paths), options):
        if outcome.kept:
            click.echo(f"kept {outcome.path} (times measured by the last build)")
        else:
            click.echo(f"wrote {outcome.path}")


_model_option = click.option(
    "--model",
    metavar="NAME|PATH",
    help="Speech-recognition model: a name (default tiny.en) or a CTranslate2 model folder.",
)


@main.command()
@_paths_argument
@_out_option
@_locale_option
@_model_option
@click.option(
    "--fail-above",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit with status 1 when a track's word error rate is above PCT percent.",
)
@click.option(
    "--flag-above",
    type=click.FloatRange(0, 100),
    default=0.0,
    show_default=True,
    metavar="PCT",
    help="Flag a sentence (shown heard against meant) when its word error rate is above PCT.",
)
def listen(
    paths: tuple[Path, ...],
    out_dir: Path,
    locales: tuple[str, ...],
    model: str | None,
    fail_above: float | None,
    flag_above: float,
) -> None:
    """Transcribe built tracks and check that the voice said what the script says.

    Needs the listen extra: pip install 'voicetrack[listen]'. PATHS are script files or
    folders of them (default: scripts_src/); each built track of theirs is transcribed
    (an unchanged one only once), and its word error rate is reported per track and per
    sentence in a table and in out/<slug>/<slug>.<locale>.listen.json.

    \b
    Examples:
      voicetrack listen
      voicetrack listen scripts_src/body-scan.md --locale en-GB --fail-above 5
      voicetrack listen --model small.en
    """
    _listen_and_report(paths, out_dir, locales, model, fail_above, flag_above)


def _listen_and_report(
    paths: tuple[Path, ...],
    out_dir: Path,
    locales: tuple[str, ...],
    model: str | None,
    fail_above: float | None,
    flag_above: float = 0.0,
) -> None:
    from rich.console import Console

    from pipeline.build import load_scripts
    from pipeline.listen import ListenOptions
    from pipeline.listen import listen as listen_tracks

    options = ListenOptions(
        root=Path.cwd(),
        out_dir=out_dir,
        locales=locales,
        model=model,
        flag_above=flag_above / 100,
    )
    scripts = load_scripts(_script_paths(paths), options.root)
    with Console(stderr=True).status("listening") as status:
        checks = listen_tracks(
            scripts, options, progress=lambda label: status.update(f"listening to {label}")
        )
    failed = print_listen_table(checks, fail_above)
    if failed:
        click.echo(
            f"{len(failed)} track{'s' * (len(failed) != 1)} above {fail_above:g}% word "
            f"error rate: {', '.join(failed)}",
            err=True,
        )
        raise SystemExit(EXIT_RENDER_FAILED)


def print_listen_table(checks: list[Any], fail_above: float | None) -> list[str]:
    """The listen table (a row per track), each track's flagged sentences and suggestions
    beneath; returns the labels of the tracks above ``fail_above`` percent."""
    from rich.console import Console

    from pipeline.listen import format_report

    rows: list[tuple[str, list[str]]] = []
    failed = []
    for check in checks:
        over = fail_above is not None and check.wer * 100 > fail_above
        if over:
            failed.append(f"{check.slug} {check.locale}")
        cells = [
            check.locale,
            check.model,
            str(check.words),
            f"{check.wer:.1%}",
            str(len(check.flagged)),
            ("FAIL" if over else "ok") + ("" if check.transcribed else " (cached)"),
        ]
        rows.append((check.slug, cells))
    console = Console(soft_wrap=True)
    headers = ["locale", "model", "words", "WER", "flagged", "result"]
    _print_grouped(console, headers, [False, False, True, True, True, False], rows)
    for check in checks:
        lines = format_report(check)
        if lines:
            console.print(f"{check.slug} {check.locale}", style="bold", markup=False)
            for line in lines:
                console.print(line, markup=False, highlight=False)
    return failed


class BuildDisplay:
    """A progress bar per track while a build runs (sentences done of total, how many came
    from the cache), on stderr so that stdout keeps only the summary."""

    def __init__(self, quiet: bool):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
        )
        self.tasks: dict[str, Any] = {}
        self.counts: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> BuildDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def __call__(self, label: str, event: str, count: int) -> None:
        if event == "start":
            self.tasks[label] = self.progress.add_task(label, total=count, detail="")
            self.counts[label] = (0, 0)
            return
        synthesised, cached = self.counts[label]
        if event == "cached":
            cached += count
        else:
            synthesised += count
        self.counts[label] = (synthesised, cached)
        detail = f"{synthesised} new, {cached} cached"
        self.progress.update(self.tasks[label], advance=count, detail=detail)


#: Columns of the build summary after the locale: (header, justified right).
_SUMMARY_COLUMNS = (
    ("voice", False),
    ("length", True),
    ("LUFS", True),
    ("dBTP", True),
    ("new/cached", True),
    ("time", True),
)


def print_summary(results: list[Any], seconds: float) -> None:
    """The table at the end of a build: each script's name, then a row per locale.

    Script names stand on lines of their own, so the rows fit an 80-column terminal; every
    script's rows share one set of column widths, so they line up as one table.
    """
    from rich.console import Console

    notes: list[str] = []
    rows: list[tuple[str, list[str]]] = []  # (script, cells)
    for r in results:
        voice = r.voice.spec.label
        if r.voice.fallback:
            voice += " *"
            hint = r.fallback_hint and f"* fallback voice; for the first choice: {r.fallback_hint}"
            if hint and hint not in notes:
                notes.append(hint)
        if r.filled:
            voice += " + fill"
            notes.append(
                f"{r.job.label}: no usable take for {', '.join(r.filled)}; "
                "spoken by the --fill-missing voice"
            )
        cells = [
            r.job.locale,
            voice,
            format_clock(r.duration, nearest=True),
            f"{r.loudness.integrated_lufs:.1f}",
            f"{r.loudness.true_peak_dbtp:.1f}",
            "up to date" if r.up_to_date else f"{r.synthesised}/{r.cached}",
            f"{r.seconds:.1f}s",
        ]
        rows.append((r.job.slug, cells))

    console = Console(soft_wrap=True)
    headers = ["locale", *(name for name, _ in _SUMMARY_COLUMNS)]
    right = [False, *(justify for _, justify in _SUMMARY_COLUMNS)]
    _print_grouped(console, headers, right, rows)
    audio = sum(r.duration for r in results)
    rendered = sum(not r.up_to_date for r in results)
    console.print(
        f"{len(results)} track{'s' * (len(results) != 1)} ({rendered} rendered, "
        f"{len(results) - rendered} up to date), {format_clock(audio, nearest=True)} of audio, "
        f"in {seconds:.1f} s"
    )
    for note in notes:
        console.print(note, highlight=False, markup=False)


def _print_grouped(
    console: Any, headers: list[str], right: list[bool], rows: list[tuple[str, list[str]]]
) -> None:
    """``rows`` of (group, cells) as one table whose group names (a script, a voice role)
    stand on lines of their own above their rows, so that the rows fit a narrow terminal.
    Cells are printed as written, never as console markup."""
    from itertools import groupby

    widths = [max([len(h), *(len(c[i]) for _, c in rows)]) for i, h in enumerate(headers)]
    console.print(_aligned(headers, widths, right, []), style="bold")
    for name, group in groupby(rows, key=lambda row: row[0]):
        console.print(name, highlight=False, markup=False, style="bold")
        console.print(_aligned(headers, widths, right, [cells for _, cells in group], header=False))


def _aligned(
    headers: list[str],
    widths: list[int],
    right: list[bool],
    rows: list[list[str]],
    *,
    header: bool = True,
) -> Any:
    """``rows`` (or the header alone) indented by two, in columns of the given widths."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, show_header=header)
    for name, width, justify in zip(headers, widths, right, strict=True):
        table.add_column(name, width=width, no_wrap=True, justify="right" if justify else "left")
    for cells in rows:
        table.add_row(*(Text(cell) for cell in cells))
    return Padding(table, (0, 0, 0, 2), expand=False)


# --------------------------------------------------------------------------- site


@main.command()
@_paths_argument
@_out_option
@click.option(
    "--base-url",
    metavar="URL",
    help="Where the site will live, e.g. https://example.org/audio/ (default: [site] "
    "base_url in voicetrack.toml). Needed for the podcast feeds.",
)
@click.option(
    "--preview",
    is_flag=True,
    help="Then serve out/site/ on 127.0.0.1 and print its URL (Ctrl-C stops).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port of the preview server (0: any free port).",
)
@_jobs_option("Tracks rendered at once, for those that need building.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars; only errors and summaries.")
@click.pass_context
def publish(
    ctx: click.Context,
    paths: tuple[Path, ...],
    out_dir: Path,
    base_url: str | None,
    preview: bool,
    port: int,
    jobs: int,
    quiet: bool,
) -> None:
    """Write the static site into out/site/: a page per exercise and an index.

    Builds whatever is missing or out of date first. Each resource page has the player
    with chapters, captions and transcript, a choice of language and the MP3 and PDF
    downloads; media are hard-linked (or copied) beside the pages, so out/site/ can be
    uploaded to any static host as it is. With a base URL there is a podcast feed per
    locale, out/site/feed.<locale>.xml. Unchanged files are not rewritten.

    \b
    Examples:
      voicetrack publish
      voicetrack publish --preview
      voicetrack publish --base-url https://example.org/audio/
    """
    import time

    from pipeline.build import BuildOptions
    from pipeline.build import build as build_tracks
    from pipeline.settings import base_url_problem, load_settings
    from pipeline.site.publish import publish_site

    if base_url and (problem := base_url_problem(base_url)):
        raise click.BadParameter(problem, param_hint="--base-url")
    load_settings(Path.cwd())  # invalid settings stop the command before anything is built
    debug = bool(ctx.parent and ctx.parent.params.get("debug"))
    scripts = _script_paths(paths)
    options = BuildOptions(root=Path.cwd(), out_dir=out_dir, jobs=jobs)
    started = time.perf_counter()
    with BuildDisplay(quiet) as display, _console_logging(display.progress.console, quiet, debug):
        results = build_tracks(scripts, options, display)
    print_summary(results, time.perf_counter() - started)
    result = publish_site(Path.cwd(), out_dir, base_url=base_url, paths=scripts)
    pages = len(result.site.resources)
    click.echo(
        f"site: {pages} exercise page{'s' * (pages != 1)} in {result.site_dir}/ "
        f"({len(result.written)} files written, {len(result.unchanged)} unchanged"
        + (f", {len(result.removed)} removed" if result.removed else "")
        + ")"
    )
    if result.feeds:
        click.echo("feeds: " + ", ".join(f"{result.site_dir}/{name}" for name in result.feeds))
    elif not result.site.base_url:
        click.echo("no podcast feeds: give --base-url or [site] base_url in voicetrack.toml")
    if preview:
        _preview(result.site_dir, port)


def _preview(site_dir: Path, port: int) -> None:
    from pipeline.site.preview import PreviewServer

    try:
        server = PreviewServer(site_dir, port=port)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}); try --port 0"
        ) from None
    click.echo(f"previewing {site_dir}/ at {server.url} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped the preview", err=True)
    finally:
        server.close()


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Start a project: an example script, its page text, voices/ and voicetrack.toml.

    DIRECTORY (default: here) gets scripts_src/ with a short example script that shows
    every kind of markup, an example page text, voices/, a voicetrack.toml with [site],
    and a .gitignore for out/. Existing files are never overwritten.

    \b
    Examples:
      voicetrack init
      voicetrack init my-exercises
    """
    from pipeline.init import init_project

    made, kept = init_project(directory)
    for path in made:
        click.echo(f"made {path}")
    for path in kept:
        click.echo(f"kept {path} (already there)")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    click.echo("next: " + where + "voicetrack build && voicetrack publish --preview")


# --------------------------------------------------------------------------- voices


@main.group(invoke_without_command=True)
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List voice roles and what each locale resolves to on this machine.

    Roles come from the profiles shipped with voicetrack and from voices/*.toml in the
    project (which add roles or replace shipped ones).

    \b
    Examples:
      voicetrack voices
      voicetrack voices available
      voicetrack voices install emma
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from pipeline.engines.base import engine_classes
    from pipeline.voices import describe_voices

    statuses = describe_voices(Path.cwd())
    rows: list[tuple[str, list[str]]] = []
    missing: list[str] = []
    for row in statuses:
        chosen = next((c for c in row.choices if c.spec == row.resolved), None)
        speaks = "nothing available" if row.resolved is None else row.resolved.label
        if row.fallback or row.resolved is None:
            speaks += " *"
            first = row.choices[0]
            how = row.hint or first.reason or "not available here"
            missing.append(f"  {row.role} ({row.locale}) {first.spec.label}: {how}")
        rows.append((row.role, [row.locale, speaks, chosen.licence if chosen else ""]))
    console = Console(soft_wrap=True)
    _print_grouped(console, ["locale", "speaks with", "licence"], [False] * 3, rows)
    if missing:
        console.print("\n* not the first choice, which is missing here:", highlight=False)
        for line in missing:  # commands such as pip install 'voicetrack[coqui]': not markup
            console.print(line, markup=False, highlight=False)
    console.print("\n[bold]engines[/]")
    for name, engine in engine_classes().items():
        console.print(f"  {name:10} {engine.description}", markup=False)
    from pipeline.listen.recognise import describe_default_model

    model, licence, where = describe_default_model(Path.cwd())
    console.print("\n[bold]listening[/] (voicetrack listen)")
    console.print(f"  {model}  licence: {licence}\n  {where}", markup=False, highlight=False)


@voices.command("available")
def voices_available() -> None:
    """List the neural voices `voicetrack voices install` can fetch.

    \b
    Example:
      voicetrack voices available
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from pipeline.install import available_voices, is_installed

    table = Table(show_edge=False, pad_edge=False)
    for column in ("name", "engine", "locale", "size", "licence", "installed", "description"):
        table.add_column(column)
    for voice in available_voices():
        size = f"{voice.size / 1e6:.0f} MB" if voice.size else "?"
        installed = "yes" if is_installed(voice.name) else ""
        cells = (voice.name, voice.engine, voice.locale, size, voice.licence, installed)
        table.add_row(*(escape(cell) for cell in (*cells, voice.description)))
    Console(soft_wrap=True).print(table)


@voices.command("install")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even when installed.")
def voices_install(names: tuple[str, ...], force: bool) -> None:
    """Download and install neural voices (needs a network connection).

    Downloads are checked against the published checksums where there are any and moved
    into place only when complete. Offline, the error says what to fetch and where to put
    it by hand.

    \b
    Examples:
      voicetrack voices install emma
      voicetrack voices install en_GB-alba-medium en_US-lessac-medium
    """
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from pipeline.install import install_voice

    console = Console(stderr=True)
    with Progress(
        *Progress.get_default_columns(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, Any] = {}

        def report(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done, total=total)

        for name in names:
            path = install_voice(name, progress=report, force=force)
            progress.console.print(f"installed {name} -> {path}", markup=False)


# --------------------------------------------------------------------------- takes


@main.group()
def takes() -> None:
    """Record an exercise in a person's own voice.

    \b
    A therapist's workflow:
      voicetrack takes sheet scripts_src/body-scan.md --voice dr-lee --guide
      (record the script in one take, pausing roughly where the sheet says)
      voicetrack takes split session.wav scripts_src/body-scan.md --voice dr-lee
      voicetrack build scripts_src/body-scan.md --voice dr-lee
    """


def _takes_plan(script_path: Path, locale: str | None) -> Any:
    from pipeline.parse import load_script
    from pipeline.plan import plan_locale

    script = load_script(script_path, Path.cwd())
    chosen = locale or script.meta.locales[0]
    if chosen not in script.meta.locales:
        raise click.BadParameter(
            f"{chosen} is not one of the script's locales ({', '.join(script.meta.locales)})",
            param_hint="--locale",
        )
    return plan_locale(script, chosen)


_script_argument = click.argument(
    "script", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_role_option = click.option(
    "--voice",
    "role",
    required=True,
    metavar="ROLE",
    callback=_role_name,
    help="The voice role the takes belong to (e.g. the therapist's name).",
)
_takes_locale_option = click.option(
    "--locale", metavar="LOCALE", help="Locale of the reading (default: the script's first)."
)


@takes.command("split")
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_script_argument
@_role_option
@_takes_locale_option
@click.option("--segments", metavar="IDS", help="Only these segments, e.g. S1-03,S1-04 (re-takes).")
@click.option("--dry-run", is_flag=True, help="Show the cuts without writing anything.")
@click.option(
    "--listen",
    "by_words",
    is_flag=True,
    help="Hear the words (speech recognition) to find each segment's reading: retakes, "
    "skipped segments and misreads are reported.",
)
@_model_option
def takes_split(
    recording: Path,
    script: Path,
    role: str,
    locale: str | None,
    segments: str | None,
    dry_run: bool,
    by_words: bool,
    model: str | None,
) -> None:
    """Cut a recording of a script into one take per speech segment.

    Speech is found with a voice-activity detector and matched to the script's segments in
    order, using each segment's expected length and the script's pauses, so a hesitation
    is not taken for a pause. Writes takes/<role>/<slug>/<id>.flac and takes.json, creates
    voices/<role>.toml if missing, and prints every cut with a confidence; suspicious cuts
    are flagged.

    \b
    Examples:
      voicetrack takes split session.wav scripts_src/body-scan.md --voice dr-lee
      voicetrack takes split retake.wav scripts_src/body-scan.md --voice dr-lee --segments S2-03
      voicetrack takes split session.wav scripts_src/body-scan.md --voice dr-lee --listen
    """
    from pipeline.paths import require_inside
    from pipeline.takes import format_table, split_recording, takes_dir_for

    require_inside(Path.cwd(), recording)  # like every file it reads, inside the project
    plan = _takes_plan(script, locale)
    ids = tuple(s.strip() for s in segments.split(",")) if segments else None
    heard = None
    if by_words:
        from pipeline.listen.takes import hear_recording

        with _status(f"listening to {recording.name}"):
            heard = hear_recording(recording, model, Path.cwd(), plan.locale.split("-")[0])
    with _status(f"splitting {recording.name}"):
        result = split_recording(
            recording,
            plan,
            root=Path.cwd(),
            role=role,
            takes_dir=takes_dir_for(Path.cwd(), role, plan.locale),
            segments=ids,
            write=not dry_run,
            heard=heard,
        )
    click.echo(format_table(result))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@takes.command("status")
@_script_argument
@_role_option
@_takes_locale_option
@click.option("--adopt", is_flag=True, help="Record the current text for takes added by hand.")
def takes_status_command(script: Path, role: str, locale: str | None, adopt: bool) -> None:
    """Show which segments have takes, which are missing and which are stale.

    A take is stale when the script's text for its segment has changed since it was
    recorded. Exit status 2 when any take is missing or stale.

    \b
    Example:
      voicetrack takes status scripts_src/body-scan.md --voice dr-lee
    """
    from pipeline.takes import adopt_takes, takes_dir_for, takes_status

    plan = _takes_plan(script, locale)
    folder = takes_dir_for(Path.cwd(), role, plan.locale)
    if adopt:
        for segment_id in adopt_takes(plan, folder):
            click.echo(f"adopted {segment_id}")
    status = takes_status(plan, folder)
    for entry in status.entries:
        line = f"{entry.segment_id:8} {entry.condition:9}"
        if entry.reason:
            line += f" {entry.reason}"
        elif entry.condition == "missing":
            line += f" line {entry.line}: {entry.text[:60]}"
        click.echo(line)
    for orphan in status.orphans:
        click.echo(f"orphan take (no such segment any more): {orphan}", err=True)
    for warning in status.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{len(status.ok)} ok, {len(status.untracked)} untracked, "
        f"{len(status.missing)} missing, {len(status.stale)} stale"
    )
    if status.missing or status.stale:
        raise SystemExit(EXIT_INVALID_INPUT)


@takes.command("sheet")
@_script_argument
@_role_option
@_takes_locale_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the sheet (default: the role's takes folder).",
)
@click.option(
    "--guide",
    is_flag=True,
    help="Also write a guide track: a synthetic voice reading the script with its pauses.",
)
@click.option(
    "--guide-voice",
    metavar="ROLE",
    callback=_role_name,
    default="narrator",
    show_default=True,
    help="Voice role of the guide track.",
)
def takes_sheet(
    script: Path,
    role: str,
    locale: str | None,
    out_dir: Path | None,
    guide: bool,
    guide_voice: str,
) -> None:
    """Write the recording sheet: the audio script with segment IDs and spoken forms.

    \b
    Examples:
      voicetrack takes sheet scripts_src/body-scan.md --voice dr-lee
      voicetrack takes sheet scripts_src/body-scan.md --voice dr-lee --guide
    """
    from pipeline.build import write_recording_sheet

    plan = _takes_plan(script, locale)
    for path in write_recording_sheet(
        plan, role, root=Path.cwd(), out_dir=out_dir, guide_voice=guide_voice if guide else None
    ):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--trusted-proxy",
    metavar="ADDRESS",
    help="The reverse proxy's address: its X-Forwarded-For/-Proto are believed.",
)
def serve(host: str, port: int, trusted_proxy: str | None) -> None:
    """Serve the published site and the therapist area (needs the web extra).

    Run it in the project folder after voicetrack publish. Therapists sign in (accounts
    come from voicetrack users add) and send a track to a client as an expiring link by
    email. Data lives in instance/; see docs/serve.md for HTTPS behind a reverse proxy.

    \b
    Examples:
      voicetrack serve
      voicetrack serve --port 8080
      voicetrack serve --host 127.0.0.1 --trusted-proxy 127.0.0.1
    """
    from pipeline.web import require_web

    require_web()
    from pipeline.web.server import serve as run_server

    run_server(Path.cwd(), host=host, port=port, trusted_proxy=trusted_proxy, announce=click.echo)


@main.group()
def users() -> None:
    """Therapist accounts of voicetrack serve (needs the web extra).

    \b
    Examples:
      voicetrack users add therapist@example.org
      voicetrack users list
      voicetrack users remove therapist@example.org
    """


def _prepared_web() -> None:
    from pipeline.web import require_web

    require_web()
    from pipeline.web.server import prepare

    prepare(Path.cwd())


@users.command("add")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(email: str, password_stdin: bool) -> None:
    """Add a therapist's account; the password is asked for (or read from stdin).

    \b
    Examples:
      voicetrack users add therapist@example.org
      printf '%s\\n' "$PASSWORD" | voicetrack users add therapist@example.org --password-stdin
    """
    _prepared_web()
    from pipeline.web.accounts.users import add_user

    if password_stdin:
        import sys

        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(f"added {add_user(email, password)}")


@users.command("list")
def users_list() -> None:
    """List the therapists' accounts.

    \b
    Examples:
      voicetrack users list
    """
    _prepared_web()
    from pipeline.web.accounts.users import list_users

    accounts = list_users()
    if not accounts:
        click.echo("no accounts yet: add one with voicetrack users add EMAIL")
    for account in accounts:
        last = account.last_sign_in.strftime("%Y-%m-%d %H:%M") if account.last_sign_in else "never"
        click.echo(
            f"{account.email}  added {account.joined:%Y-%m-%d}  last signed in {last}  "
            f"{account.shares} share{'s' * (account.shares != 1)}"
        )


@users.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_remove(email: str, yes: bool) -> None:
    """Remove a therapist's account, with its shares (their links stop working).

    \b
    Examples:
      voicetrack users remove therapist@example.org
    """
    _prepared_web()
    from pipeline.web.accounts.users import remove_user

    if not yes:
        click.confirm(f"Remove {email} and every link it sent?", abort=True)
    click.echo(f"removed {remove_user(email)}")


@contextmanager
def _status(message: str) -> Iterator[None]:
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield
