"""Command-line entry points: `flask --app booking <command>`."""

from __future__ import annotations

import click
from flask import Flask

from booking.extensions import db


def register(app: Flask) -> None:
    from booking.scheduler.cli import register as register_scheduler

    register_scheduler(app)

    @app.cli.command("seed-demo")
    @click.option(
        "--scale",
        type=click.IntRange(min=1, max=1_000_000),
        default=None,
        help="Generate this many instruments in all (for benchmarks) instead of 1,705.",
    )
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database has data.")
    def seed_demo(scale: int | None, if_empty: bool) -> None:
        """Load the Yangtze River Delta demo alliance. Safe to re-run: nothing
        is duplicated."""
        from booking import demo

        if if_empty and demo.has_data():
            click.echo("Database already has data; demo data not loaded.")
        else:
            summary = demo.seed(scale=scale, progress=click.echo)
            db.session.commit()
            click.echo(summary.describe())
        click.echo(demo.logins_text())
