"""Developer tasks: ``nox -s tests lint typecheck docs bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (contract tests run when the Prism URLs are set)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the tests and the bench."""
    session.install("-e", ".[test,cli]", "mypy>=1.10")
    session.run("mypy", "--strict", "twilio_media_async", "tests", "bench")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; warnings are errors."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """SDK against raw aiohttp and twilio-python 9.0.2; ratios from the same run.

    Pass ``-- --scenario NAME`` for a scenario under faults or rate limits (``faults``,
    ``cap``, ``share``, ``faults-default``, or ``all``), ``-- --archive`` for the archive
    benchmark (download and download_many against raw aiohttp), and ``-- --markdown
    docs/performance.md`` to record the tables (and the figures, drawn with matplotlib, a
    benchmark-only dependency).
    """
    session.install("-e", ".", "twilio==9.0.2", "matplotlib>=3.8")
    session.run("python", "-m", "bench.run", *session.posargs)
